#!/bin/sh
# t0400-train.sh: dsv train / eval on the demo Shakespeare: the loss falls
# well below ln(V), the same seed gives the same weight object, a run
# stopped after N steps and resumed ends with the same weights (also with
# the data shuffled: mid-chunk, past an epoch), the
# weights load into PyTorch with the same loss, and bad input leaves no
# model.
. "$(dirname "$0")/lib.sh"

setup() {
	dsv init >/dev/null &&
	head -c 600000 "$DEMO/shakespeare.txt" >train.txt &&
	tail -c 60000 "$DEMO/shakespeare.txt" >valid.txt &&
	dsv commit train.txt --text-mode paragraph -m train -b data >/dev/null &&
	dsv commit valid.txt --text-mode paragraph -m valid -b valid >/dev/null &&
	dsv tokenizer train data --vocab 384 -o tok >/dev/null &&
	cat >c.conf <<-EOT
	# a tiny GPT-2
	n_layer = 2
	n_head = 2
	n_embd = 32
	seq_len = 32
	batch_size = 8
	lr = 1e-2
	min_lr = 1e-3
	warmup_steps = 5
	max_steps = 80
	eval_every = 20
	eval_tokens = 4096
	checkpoint_every = 30
	seed = 7
	EOT
}
test_expect_success 'setup: data, validation set, tokenizer' 'setup'

weights() { sed -n 's/.*"weights": "\([0-9a-f]*\)".*/\1/p' "$1"; }

test_expect_success 'train: loss falls well below ln(V)' '
	dsv train data --tokenizer tok --config c.conf --valid valid -o m1 \
		-m "tiny model" --json >m1.json &&
	git --git-dir .dsv/lineage show m1:METRICS.tsv >metrics &&
	head -1 metrics | grep -q "^step	tokens	train_loss	val_loss	seconds" &&
	awk -F"\t" "NR==2 { first = \$4 } END { v = \$4 + 0; lnv = log(384);
		if (first - lnv > 0.1 || lnv - first > 0.3) exit 1;
		if (v > lnv - 1.0) exit 1 }" metrics
'

test_expect_success 'the model artifact: MODEL, parents, compute record' '
	git --git-dir .dsv/lineage show m1:MODEL >model &&
	grep -q "^weights $(weights m1.json)\$" model &&
	grep -q "^config n_layer = 2\$" model &&
	test $(grep -c "^checkpoint " model) = 2 &&
	git --git-dir .dsv/lineage log --format=%P -1 m1 | wc -w | grep -q 3 &&
	git --git-dir .dsv/lineage show m1:dsv.json >dj &&
	grep -q "\"kind\": \"model\"" dj && grep -q "\"mode\": \"training\"" dj &&
	grep -q "\"flops\": [1-9]" dj && grep -q "\"tokens_in\": 20480" dj &&
	git --git-dir .dsv/lineage log --graph --oneline m1 | grep -q "tiny model"
'

# A pipe has size 0: its keys must still be read.
test_expect_success 'a config read from a pipe: the same model (and no note)' '
	dsv train data --tokenizer tok --config /dev/stdin --valid valid -o mp \
		--json <c.conf >mp.json 2>err &&
	test "$(weights m1.json)" = "$(weights mp.json)" && ! grep -q "note:" err
'

test_expect_success 'warmup longer than the run: a note says lr is never reached' '
	sed "s/max_steps = 80/max_steps = 3/" c.conf >short.conf &&
	dsv train data --tokenizer tok --config short.conf -o mw -q 2>err &&
	grep -q "note: warmup_steps = 5 is more than the run.s 3 steps" err
'

test_expect_success 'validation records that are training records too: a warning' '
	head -c 20000 train.txt >part.txt &&
	dsv commit part.txt --text-mode paragraph -m part -b part >/dev/null &&
	dsv train data --tokenizer tok --config short.conf --valid part -o mo -q 2>err &&
	n=$(dsv ls part --json | python3 -c "import json,sys; print(sum(e[\"kept\"] for e in json.load(sys.stdin)))") &&
	grep -q "^dsv: warning: [1-9][0-9]* of the $n validation records of .part. are in the training version too" err &&
	dsv train data --tokenizer tok --config short.conf --valid valid -o mv -q 2>err &&
	! grep -q "warning" err
'

# The weights are stored before the commit that names them, without the
# lock: an old copy found in the store is made young, or a gc in between
# could delete it as stale.
test_expect_success 'same seed twice: the same weight object, made young' '
	w=$(weights m1.json) && wf=.dsv/objects/$(echo $w | cut -c1-2)/$(echo $w | cut -c3-) &&
	touch -d "2 hours ago" $wf &&
	dsv train data --tokenizer tok --config c.conf --valid valid -o m2 --json >m2.json &&
	test "$w" = "$(weights m2.json)" &&
	test -n "$(find $wf -mmin -60)"
'

test_expect_success 'stopped after 45 steps, resumed: the same weights' '
	test_must_fail dsv train data --tokenizer tok --config c.conf --valid valid \
		-o m3 --stop-after 45 2>err &&
	grep -q "stopped after step 45" err &&
	test_must_fail dsv log m3 >/dev/null 2>&1 &&
	test $(grep -c "^checkpoint " .dsv/runs/m3) = 2 &&
	test_must_fail dsv train data --tokenizer tok --config c.conf --valid valid -o m3 2>err &&
	grep -q "use.*--resume\|--resume" err &&
	dsv train data --tokenizer tok --config c.conf --valid valid -o m3 \
		--resume --json >m3.json &&
	test "$(weights m1.json)" = "$(weights m3.json)" &&
	test ! -e .dsv/runs/m3
'

# Shuffled rows on a small version (~440 rows of 33 tokens): 80 steps of 8
# rows run into the second epoch, and chunks of 31 rows (shuffle_buffer =
# 1000) end inside micro-batches.
shuffle_setup() {
	head -c 20000 "$DEMO/shakespeare.txt" >small.txt &&
	dsv commit small.txt --text-mode paragraph -m small -b small >/dev/null &&
	cat >s.conf <<-EOT
	n_layer = 1
	n_head = 2
	n_embd = 16
	seq_len = 32
	batch_size = 8
	lr = 1e-2
	max_steps = 80
	checkpoint_every = 30
	seed = 7
	shuffle_buffer = 1000
	EOT
}
test_expect_success 'shuffle: same seed, the same weights; in order differs' '
	shuffle_setup &&
	dsv train small --tokenizer tok --config s.conf -o s1 --json >s1.json &&
	dsv train small --tokenizer tok --config s.conf -o s2 --json >s2.json &&
	test "$(weights s1.json)" = "$(weights s2.json)" &&
	sed "s/^shuffle_buffer = 1000/shuffle = 0/" s.conf >o.conf &&
	dsv train small --tokenizer tok --config o.conf -o s3 --json >s3.json &&
	test "$(weights s1.json)" != "$(weights s3.json)" &&
	git --git-dir .dsv/lineage show s1:MODEL | grep -q "^config shuffle = 1\$" &&
	git --git-dir .dsv/lineage show s3:MODEL | grep -q "^config shuffle = 0\$"
'

test_expect_success 'shuffle: resumed mid-chunk and in the second epoch: the same weights' '
	test_must_fail dsv train small --tokenizer tok --config s.conf -o s4 \
		--stop-after 45 2>/dev/null &&
	test_must_fail dsv train small --tokenizer tok --config s.conf -o s4 \
		--resume --stop-after 40 2>err &&
	grep -q "resumes after step 45" err &&
	dsv train small --tokenizer tok --config s.conf -o s4 --resume --json >s4.json &&
	test "$(weights s1.json)" = "$(weights s4.json)" &&
	test_must_fail dsv train small --tokenizer tok --config s.conf -o s5 \
		--stop-after 70 2>/dev/null &&
	dsv train small --tokenizer tok --config s.conf -o s5 --resume --json >s5.json &&
	test "$(weights s1.json)" = "$(weights s5.json)"
'

# A branch name with a slash keeps its run file flat (runs/exp:s6: gc
# reads runs/ without descending); without --valid, --json says null.
test_expect_success 'a branch name with a slash: checkpoints and --resume' '
	test_must_fail dsv train small --tokenizer tok --config s.conf -o exp/s6 \
		--stop-after 45 2>err &&
	grep -q "stopped after step 45" err &&
	test $(grep -c "^checkpoint " ".dsv/runs/exp:s6") = 2 &&
	dsv train small --tokenizer tok --config s.conf -o exp/s6 --resume --json >s6.json &&
	test "$(weights s1.json)" = "$(weights s6.json)" &&
	test ! -e ".dsv/runs/exp:s6" &&
	grep -q "\"val_loss\": null," s6.json
'

test_expect_success 'eval: loss and perplexity; --column writes a version' '
	dsv eval m1 valid --json >ev.json &&
	grep -q "\"perplexity\": [0-9]" ev.json &&
	dsv eval m1 valid --column loss -o scored >out &&
	n=$(sed -n "s/.*\"records\": \([0-9]*\),.*/\1/p" ev.json) && test "$n" -gt 0 &&
	head -1 out | grep -qx "\[scored $(git --git-dir .dsv/lineage rev-parse --short=7 scored)\] eval: column loss" &&
	grep -qx " eval: column .loss. (each record.s mean loss under .m1.) on $n records of .valid." out &&
	grep -qx " [0-9]* tokens: loss [0-9.]*, perplexity [0-9.]*" out &&
	git --git-dir .dsv/lineage show scored:MANIFEST | grep -q "loss" &&
	dsv eval m1 valid --column loss -o scored2 -m again --json | python3 -c "
import json, sys, subprocess
d = json.load(sys.stdin)
at = subprocess.check_output([\"git\", \"--git-dir\", \".dsv/lineage\", \"rev-parse\", \"scored2\"]).decode().strip()
assert (d[\"artifact\"], d[\"branch\"], d[\"column\"], d[\"records\"]) == (at, \"scored2\", \"loss\", $n), d
assert d[\"perplexity\"] > 1" &&
	dsv eval m1 valid --column loss -o scored3 -q >out && test ! -s out &&
	dsv log -n 1 scored3 | grep -q "eval: column loss" &&
	git --git-dir .dsv/lineage show scored:dsv.json | grep -q "\"mode\": \"evaluation\"" &&
	git --git-dir .dsv/lineage log --format=%P -1 scored | wc -w | grep -q 2 &&
	test_must_fail dsv eval m1 valid -o noc 2>err &&
	grep -q "goes with --column" err &&
	test_must_fail dsv eval m1 valid --column "a b" -o sp 2>err &&
	grep -q "bad column name .a b." err &&
	test_must_fail dsv eval m1 valid --column reason -o re 2>err &&
	grep -q "the .reason. column is the framework" err &&
	test_must_fail dsv log re >/dev/null 2>&1 &&
	test_must_fail dsv eval m1 valid --save-weights nodir/w.safetensors 2>err &&
	grep -q "cannot create .nodir/w.safetensors.: No such file or directory" err &&
	test_must_fail env DSV_TRAIN_MEMORY=1e5 "$DSV" eval m1 valid --column l -o lc 2>err &&
	grep -q "the model does not fit: it needs [0-9]* bytes" err &&
	test_must_fail dsv log lc >/dev/null 2>&1 &&
	test_must_fail dsv log noc >/dev/null 2>&1 &&
	test_must_fail dsv log sp >/dev/null 2>&1
'

PY=/tmp/gptbench-venv/bin/python
[ -x "$PY" ] || PY=python3
if "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec(\"torch\") is None)" >/dev/null 2>&1; then
	test_expect_success 'PyTorch: the same loss on the same tokens' '
		dsv eval m1 valid --save-weights w.safetensors >/dev/null &&
		dsv export valid --format tokens --tokenizer tok -o v.bin &&
		v=$(tail -1 metrics | cut -f4) &&
		"$PY" "$TOP/tests/ref/torch_check.py" w.safetensors v.bin 4096 "$v"
	'
else
	test_skip 'PyTorch: the same loss on the same tokens' 'no torch here'
fi

test_expect_success 'bad input: clear errors, no model' '
	sed "s/^seed = 7/lrr = 1/" c.conf >bad.conf &&
	test_must_fail dsv train data --tokenizer tok --config bad.conf -o x1 2>err &&
	grep -q "bad.conf:14: unknown key .lrr." err &&
	sed "s/^n_embd = 32/n_embd = 65536/" c.conf >big.conf &&
	test_must_fail dsv train data --tokenizer tok --config big.conf -o x2 2>err &&
	grep -q "does not fit: it needs [0-9]* bytes" err &&
	cp c.conf shuf.conf && echo "shuffle_buffer = 4000000000" >>shuf.conf &&
	test_must_fail env DSV_TRAIN_MEMORY=8e9 "$DSV" train data --tokenizer tok \
		--config shuf.conf -o x6 2>err &&
	grep -q "does not fit: it needs 16[0-9]\{9\} bytes" err &&
	printf "n_layer = 2\nn_head = 2\nn_embd = 32\nseq_len = 32\nbatch_size = 1\nshuffle = 0\neval_tokens = 0\n" >val.conf &&
	test_must_fail env DSV_TRAIN_MEMORY=1.5e6 "$DSV" train data --tokenizer tok \
		--config val.conf --valid data -o x8 2>err &&
	grep -q "the validation tokens do not fit in memory: [0-9]* read so far" err &&
	echo "vocab = 1000" >>big.conf && sed "s/^n_embd = 65536/n_embd = 32/" big.conf >voc.conf &&
	test_must_fail dsv train data --tokenizer tok --config voc.conf -o x3 2>err &&
	grep -q "config vocab = 1000 does not match the tokenizer" err &&
	printf "{\"text\": \"to be\"}\n" >tiny.jsonl &&
	dsv commit tiny.jsonl -m tiny -b tiny >/dev/null &&
	test_must_fail dsv train tiny --tokenizer tok --config c.conf -o x4 2>err &&
	grep -q "the version has [1-9][0-9]* tokens, fewer than one batch (257 = " err &&
	test ! -e .dsv/runs/x4 &&
	cp c.conf ord.conf && echo "shuffle = 0" >>ord.conf &&
	test_must_fail dsv train tiny --tokenizer tok --config ord.conf -o x4 2>err2 &&
	test_cmp err err2 &&
	printf "{\"text\": \"\"}\n" >empty.jsonl &&
	dsv commit empty.jsonl -m empty -b empty >/dev/null &&
	test_must_fail dsv train data --tokenizer tok --config c.conf --valid empty -o x5 2>err &&
	grep -q "validation version .empty. is empty" err &&
	test_must_fail dsv train data --tokenizer data --config c.conf -o x6 2>err &&
	grep -q "not a tokenizer" err &&
	sed "s/^lr = 1e-2/lr = 1000/; s/^min_lr = 1e-3/min_lr = 1000/" c.conf >nan.conf &&
	echo "grad_clip = 0" >>nan.conf &&
	test_must_fail dsv train data --tokenizer tok --config nan.conf -o x7 2>err &&
	grep -q "training diverged at step [0-9]*: the loss is nan" err &&
	for b in x1 x2 x3 x4 x5 x6 x7 x8; do test_must_fail dsv log $b >/dev/null 2>&1 || return 1; done
'

# A run without checkpoints names its inputs in a run file too, so a gc
# while it trains keeps the version it reads even when its branch goes.
# The run is long and is killed once gc is done: it never gets to commit.
long_run_setup() {
	sed "s/e/E/g" valid.txt >other.txt &&
	dsv commit other.txt --text-mode paragraph -m other -b other >/dev/null &&
	grep -v "^checkpoint_every\|^max_steps" c.conf >long.conf &&
	echo "max_steps = 100000000" >>long.conf
}
start_long_run() {
	"$DSV" train other --tokenizer tok --config long.conf -o long -q >/dev/null 2>&1 &
	long_pid=$!
	i=0
	while test ! -e .dsv/runs/long; do
		i=$((i + 1)) && test $i -lt 600 || { kill -9 $long_pid; return 1; }
		sleep 0.05
	done
}
test_expect_success 'a run without checkpoints: gc keeps the version it reads' '
	long_run_setup && start_long_run &&
	aid=$(git --git-dir .dsv/lineage rev-parse other) &&
	grep -q "^rev $aid\$" .dsv/runs/long && ! grep -q "^checkpoint" .dsv/runs/long &&
	dsv branch -d other >/dev/null && dsv gc --grace 0 >/dev/null; ok=$?
	kill -9 $long_pid; wait $long_pid; rm -f .dsv/runs/long
	test $ok = 0 && dsv branch other $aid >/dev/null && dsv fsck | grep -q "^ok$"
'

# A second train -o NAME while the first trains: in progress, not
# "interrupted", and --resume must not start a second copy of it.
test_expect_success 'a run in progress is not taken for an interrupted one' '
	start_long_run || return 1
	dsv train other --tokenizer tok --config long.conf -o long 2>err1; r1=$?
	dsv train other --tokenizer tok --config long.conf -o long --resume 2>err2; r2=$?
	kill -9 $long_pid; wait $long_pid; rm -f .dsv/runs/long
	test $r1 = 1 && test $r2 = 1 &&
	grep -q "a run .long. is in progress in another process" err1 &&
	grep -q "a run .long. is in progress in another process" err2
'

# Ranks without a GPU each (here: none at all) fail together with a clear
# message, before NCCL, rather than leaving the others waiting in it.
if command -v mpirun >/dev/null 2>&1 && mpirun --version >/dev/null 2>&1 &&
   ! command -v nvidia-smi >/dev/null 2>&1; then
	test_expect_success 'mpirun -n 2 without a GPU per rank: every rank says so, no model' '
		timeout 120 mpirun --allow-run-as-root --oversubscribe -n 2 "$DSV" train data \
			--tokenizer tok --config c.conf -o dp -q >out 2>&1; test $? -ne 0 &&
		test "$(grep -c "dsv: error: rank [01]: no CUDA device\|without NCCL" out)" -ge 1 &&
		test_must_fail dsv log dp >/dev/null 2>&1
	'
else
	test_skip 'mpirun -n 2 without a GPU per rank' 'no mpirun, or a GPU is present'
fi

test_done
