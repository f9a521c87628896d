#!/bin/sh
# t0520-rephrase-synth.sh: derive rephrase and derive synth driven by a tiny
# model trained here on the demo corpus: provenance columns, parents, the
# verifier, and an audit that counts the generator's training once.
. "$(dirname "$0")/lib.sh"

dsv init >/dev/null && dsv commit "$DEMO/web-a.jsonl.gz" -m web -q
dsv tokenizer train main --vocab 300 -o tok -q
printf 'n_layer = 2\nn_head = 2\nn_embd = 32\nseq_len = 64\nbatch_size = 4\nmax_steps = 20\nlr = 0.003\nwarmup_steps = 2\neval_every = 0\ncheckpoint_every = 0\nseed = 1\n' >tiny.conf
dsv train main --tokenizer tok --config tiny.conf -o tiny -m tiny -q
dsv derive sample main --n 12 --seed 3 -o src -m src -q
printf 'Say it plainly:\n{text}\nPlainly:' >t.txt
lg() { git --git-dir .dsv/lineage "$@"; }

test_expect_success 'rephrase writes one record per source with provenance' '
	dsv derive rephrase src --model tiny --template t.txt --max-tokens 8 \
		--temperature 0 -o reph -m reph -q &&
	test "$(dsv export reph | wc -l)" -eq 12 &&
	dsv show reph >show.txt &&
	grep -q "col.source=" show.txt && grep -q "col.template=" show.txt &&
	grep -q "\"mode\": \"transformation\"" show.txt &&
	grep -q "{text}" show.txt
'

test_expect_success 'rephrase keeps the source meta and has parents REV and M' '
	dsv export src | grep -o "\"url\":\"[^\"]*\"" >want &&
	dsv export reph | grep -o "\"url\":\"[^\"]*\"" >got && test_cmp want got &&
	test "$(lg log -1 --format=%P reph)" = "$(lg rev-parse src) $(lg rev-parse tiny)"
'

test_expect_success 'rephrase is deterministic under greedy decoding' '
	dsv derive rephrase src --model tiny --template t.txt --max-tokens 8 \
		--temperature 0 -o reph2 -m reph -q &&
	test "$(lg show reph:MANIFEST)" = "$(lg show reph2:MANIFEST)"
'

test_expect_success 'rephrase reads the version in chunks: the records are those of one chunk' '
	i=1 words= &&
	while [ $i -le 12 ]; do
		words="$words w$i w$i$i w$i$i$i" &&
		printf "{\"text\":\"%s\",\"i\":%d}\n" "$words" $i || return 1
		i=$((i + 1))
	done >grow.jsonl &&
	dsv commit grow.jsonl -m grow -q && dsv branch grow &&
	dsv derive rephrase grow --model tiny --template t.txt --max-tokens 30 \
		--seed 4 --batch 2 -o rch1 -m rch -q 2>err1 &&
	env DSV_GEN_CHUNK_SAMPLES=1 "$DSV" derive rephrase grow --model tiny \
		--template t.txt --max-tokens 30 --seed 4 --batch 2 -o rch2 \
		-m rch -q 2>err2 &&
	test "$(lg show rch1:MANIFEST)" = "$(lg show rch2:MANIFEST)" &&
	for f in rch1 rch2; do
		lg show $f:dsv.json | grep "records_" >$f.stats || return 1
	done &&
	test_cmp rch1.stats rch2.stats &&
	grep -q "\"records_in\": 12" rch2.stats &&
	test_cmp err1 err2 && grep -q "prompts keep only their last 34 tokens" err2
'

test_expect_success 'a template without {text} is refused' '
	echo "no placeholder" >bad.txt &&
	test_must_fail dsv derive rephrase src --model tiny --template bad.txt -o r3 -m r3
'

test_expect_success 'a template that cannot be read says why' '
	mkdir -p tdir &&
	test_must_fail dsv derive rephrase src --model tiny --template tdir -o r3 -m r3 2>err &&
	grep -q "cannot read .tdir.: Is a directory" err && test_must_fail dsv show r3
'

cat >even.sh <<'PROG'
#!/bin/sh
# accepts a candidate whose text has an even number of bytes
n=$(sed 's/.*"text":"//; s/","prompt".*//; s/","sample".*//; s/"}$//' | tr -d '\n' | wc -c)
[ $((n % 2)) -eq 0 ]
PROG
chmod +x even.sh

test_expect_success 'a template that is not UTF-8 text is refused, not recorded as none' '
	printf "X {text} \377 Y" >bad8.txt && printf "X {text}\000 Y" >nul.txt &&
	test_must_fail dsv derive rephrase src --model tiny --template bad8.txt \
		--max-tokens 2 -o r8 -m r8 2>err &&
	grep -q "template .bad8.txt. is not UTF-8 text" err &&
	test_must_fail dsv derive rephrase src --model tiny --template nul.txt \
		--max-tokens 2 -o r8 -m r8 2>err &&
	grep -q "template .nul.txt. is not UTF-8 text" err &&
	n8=$(printf "t\351.txt") && cp t.txt "$n8" &&
	dsv derive rephrase src --model tiny --template "$n8" --max-tokens 2 \
		-o r8 -m r8 2>err; test $? -eq 2 &&
	grep -q "file name is not valid UTF-8" err && test_must_fail dsv show r8
'

test_expect_success 'synth --verify keeps only what the verifier accepts' '
	dsv derive synth --model tiny --n 24 --max-tokens 10 --seed 5 \
		--verify ./even.sh -j 3 -o syn -m syn -q &&
	dsv show syn >show.txt &&
	grep -q "\"acceptance_rate\"" show.txt &&
	grep -q "\"mode\": \"generation\"" show.txt &&
	acc=$(sed -n "s/.*\"accepted\": \([0-9]*\).*/\1/p" show.txt) &&
	test "$(dsv export syn | wc -l)" -eq "$acc" && test "$acc" -lt 24 &&
	dsv export syn >syn.jsonl &&
	while IFS= read -r l; do printf "%s\n" "$l" | ./even.sh || exit 1; done <syn.jsonl
'

test_expect_success 'synth in chunks: the records, stats and warning of one chunk' '
	# chunks of 10 read the 12 prompts with them; of 15, once
	for c in 1024 7 15; do
		env DSV_GEN_CHUNK_SAMPLES=$c "$DSV" derive synth --model tiny \
			--prompts src --n 30 --max-tokens 6 --seed 6 --batch 5 \
			--verify ./even.sh -j 3 -o sch$c -m sch -q 2>err$c &&
		lg show sch$c:MANIFEST >sch$c.m && dsv export sch$c >sch$c.jsonl &&
		lg show sch$c:dsv.json | python3 -c "
import json, sys
d = json.load(sys.stdin)
del d[\"stats\"][\"new_objects\"]  # the second run finds its shard stored
c = d[\"compute\"]
print(d[\"params\"], d[\"stats\"], c[\"flops\"], c[\"tokens_in\"], c[\"tokens_out\"])
" >sch$c.stats || return 1
	done &&
	for c in 7 15; do
		test_cmp sch1024.m sch$c.m && test_cmp sch1024.jsonl sch$c.jsonl &&
		test_cmp sch1024.stats sch$c.stats && test_cmp err1024 err$c ||
		return 1
	done &&
	grep -q "12 of 12 prompts keep only" err7 &&
	acc=$(wc -l <sch7.jsonl) && test "$acc" -gt 0 && test "$acc" -lt 30 &&
	test -z "$(ls .dsv/tmp)" &&
	test_must_fail env DSV_GEN_CHUNK_SAMPLES=4 "$DSV" derive synth --model tiny \
		--n 12 --max-tokens 4 --batch 2 -o sch9 -m sch9 \
		--verify "grep -q \"\\\"sample\\\":9}\" && kill -SEGV \$\$; exit 0" 2>err &&
	grep -q "killed by signal 11 on sample 9; nothing was committed" err &&
	test_must_fail dsv show sch9 && test -z "$(ls .dsv/tmp)"
'

test_expect_success 'a verifier that cannot run or crashes is an error, not a rejection' '
	printf "#!/bin/sh\nexit 0\n" >noexec.sh && chmod -x noexec.sh &&
	test_must_fail dsv derive synth --model tiny --n 4 --max-tokens 4 \
		--verify ./noexec.sh -o sv -m sv 2>err &&
	grep -q "could not be run (exit 126)" err &&
	test_must_fail dsv derive synth --model tiny --n 4 --max-tokens 4 -j 2 \
		--verify "grep -q \"\\\"sample\\\":2\" && kill -SEGV \$\$; exit 0" \
		-o sv -m sv 2>err &&
	grep -q "killed by signal 11 on sample 2; nothing was committed" err &&
	test_must_fail dsv show sv && test -z "$(ls .dsv/tmp)"
'

test_expect_success '--verify-timeout: a verifier that hangs is killed and rejects its candidate' '
	rm -f vt.pids &&
	dsv derive synth --model tiny --n 4 --max-tokens 4 -j 2 --verify-timeout 1 \
		--verify "echo \$\$ >>$PWD/vt.pids; grep -q \"\\\"sample\\\":[13]\" && exec sleep 60; exit 0" \
		-o vt -m vt -q &&
	test "$(dsv export vt | wc -l)" -eq 2 &&
	dsv show vt | grep -q "\"verify_timeouts\": 2" &&
	for p in $(cat vt.pids); do ! kill -0 $p 2>/dev/null || return 1; done &&
	dsv derive synth --model tiny --n 1 --verify-timeout 5 -o x -m x 2>err; test $? -eq 2 &&
	grep -q "verify-timeout needs --verify" err
'

cat >slowrep.sh <<'PROG'
#!/bin/sh
# reports 2 GPU seconds in two writes; the verifier of sample 1 reports one
# second, then hangs in the middle of its second report
if grep -q '"sample":1}$'; then
	printf '{"gpu_s": 1}\n{"gpu_s": 1' >>"$DSV_COMPUTE_FILE"
	exec sleep 30
fi
printf '{"gpu_s":' >>"$DSV_COMPUTE_FILE"
sleep 0.2
printf ' 2}\n' >>"$DSV_COMPUTE_FILE"
PROG
printf '#!/bin/sh\ngrep -q "\\"sample\\":2}$" && echo "{bad" >>"$DSV_COMPUTE_FILE"\nexit 0\n' >badrep.sh
chmod +x slowrep.sh badrep.sh

test_expect_success 'verifiers report compute in files of their own; a timed-out one keeps its complete lines' '
	dsv derive synth --model tiny --n 4 --max-tokens 4 -j 3 --verify-timeout 2 \
		--verify ./slowrep.sh -o vrep -m vrep -q 2>err &&
	grep -q "dropped a partial line the verifier of sample 1" err &&
	test "$(dsv export vrep | wc -l)" -eq 3 && test -z "$(ls .dsv/tmp)" &&
	lg show vrep:dsv.json >vrep.json &&
	python3 -c "
import json
d = json.load(open(\"vrep.json\"))[\"stats\"]
assert d[\"verify_timeouts\"] == 1, d
r = d[\"compute_sources\"][\"program_reported\"]
assert r == {\"gpu_s\": 7.0, \"lines\": 4, \"partial_lines_dropped\": 1}, r
" &&
	test_must_fail dsv derive synth --model tiny --n 4 --max-tokens 4 -j 2 \
		--verify ./badrep.sh -o vbad -m vbad 2>err &&
	grep -q "sample 2: .DSV_COMPUTE_FILE line 1: not a JSON object" err &&
	test_must_fail dsv show vbad && test -z "$(ls .dsv/tmp)"
'

test_expect_success 'synth drops empty completions unverified and counts them, as rephrase does' '
	dsv generate tiny -n 40 --max-tokens 1 --seed 2 >gen.jsonl &&
	e=$(grep -c "\"text\":\"\"" gen.jsonl) && test "$e" -gt 0 &&
	rm -f seen.jsonl &&
	dsv derive synth --model tiny --n 40 --max-tokens 1 --seed 2 -j 3 \
		--verify "cat >>$PWD/seen.jsonl" -o syne -m syne -q &&
	test "$(wc -l <seen.jsonl)" -eq $((40 - e)) &&
	! grep -q "\"text\":\"\"" seen.jsonl &&
	dsv export syne >syne.jsonl &&
	test "$(wc -l <syne.jsonl)" -eq $((40 - e)) &&
	! grep -q "\"text\":\"\"" syne.jsonl &&
	dsv show syne | grep -q "\"records_empty\": $e," &&
	dsv derive synth --model tiny --n 40 --max-tokens 1 --seed 2 -o syne2 \
		-m syne2 -q && lg show syne2:MANIFEST >m2 && lg show syne:MANIFEST >m1 &&
	test_cmp m1 m2
'

test_expect_success 'SIGTERM during synth --verify kills the verifiers, commits nothing' '
	rm -f vpids &&
	exec "$DSV" derive synth --model tiny --n 6 --max-tokens 2 -j 3 -o vsig -m vsig \
		--verify "echo \$\$ >>$PWD/vpids; sleep 60; exit 0" 2>err &
	dsvpid=$! && i=0 &&
	while [ "$(cat vpids 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1)); done &&
	kill -TERM $dsvpid; wait $dsvpid; test $? -eq 143 &&
	grep -q "interrupted by signal 15" err &&
	for p in $(cat vpids); do
		i=0; while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1)); done
		! kill -0 $p 2>/dev/null || return 1
	done &&
	test -z "$(ls .dsv/tmp)" && test_must_fail dsv show vsig
'

test_expect_success 'synth with prompts has parents M then REV' '
	dsv derive synth --model tiny --prompts src --n 6 --max-tokens 6 -o syn2 -m syn2 -q &&
	test "$(lg log -1 --format=%P syn2)" = "$(lg rev-parse tiny) $(lg rev-parse src)" &&
	dsv show syn2 | grep -q "col.source_row="
'

test_expect_success 'shards are cut on text and meta: the prompts synth keeps count' '
	# each record: a few bytes of text, its prompt (about 2 KB) as meta
	env DSV_SHARD_BYTES=8000 "$DSV" derive synth --model tiny --prompts src \
		--n 24 --max-tokens 6 --seed 1 -o scut -m scut -q &&
	dsv derive synth --model tiny --prompts src --n 24 --max-tokens 6 \
		--seed 1 -o sone -m sone -q &&
	test "$(lg show sone:MANIFEST | grep -c "^shard ")" -eq 1 &&
	dsv export scut >scut.jsonl && dsv export sone >sone.jsonl &&
	test_cmp sone.jsonl scut.jsonl &&
	lg show scut:MANIFEST | sed -n "s/^shard [0-9a-f]* rows=\([0-9]*\).*/\1/p" >rows &&
	python3 -c "
# a line is about its record stored bytes: JSON adds a few per record
lines = [len(l) for l in open(\"scut.jsonl\", \"rb\")]
rows = [int(r) for r in open(\"rows\")]
assert len(rows) >= 4 and sum(rows) == len(lines), (rows, len(lines))
i = 0
for k, n in enumerate(rows):
    b = lines[i:i + n]
    i += n
    assert sum(b[:-1]) - 20 * n < 8000, (k, b)  # cut once it reached 8000
    assert k == len(rows) - 1 or sum(b) + 20 * n >= 8000, (k, b)
"
'

test_expect_success 'synth reads only the prompts its candidates use' '
	dsv derive synth --model tiny --prompts src --n 2 --max-tokens 60 -o syn3 \
		-m syn3 -q 2>err &&
	grep -q "warning: 2 of 2 prompts keep only their last 4 tokens" err
'

test_expect_success 'audit of synthetic data counts the generator training once' '
	dsv audit syn --json >a.json &&
	test "$(grep -c "\"op\": \"train\"" a.json)" -eq 1 &&
	test "$(grep -c "\"op\": \"tokenizer" a.json)" -eq 1 &&
	test "$(grep -c "\"op\": \"commit\"" a.json)" -eq 1 &&
	dsv audit reph --json >b.json &&
	test "$(grep -c "\"op\": \"train\"" b.json)" -eq 1 &&
	dsv log --graph syn >log.txt && grep -q "synth" log.txt && grep -q tiny log.txt &&
	dsv log --graph reph | grep -q rephrase
'

test_expect_success 'audit of a mix of two synths and a rephrase of it: each ancestor once, shares sum to 1' '
	dsv derive mix syn:1 syn2:1 -o both -m both -q &&
	dsv derive rephrase both --model tiny --template t.txt --max-tokens 4 \
		-o reboth -m reboth -q &&
	dsv audit reboth --json >c.json &&
	test "$(grep -c "\"op\": \"train\"" c.json)" -eq 1 &&
	test "$(grep -c "\"op\": \"synth\"" c.json)" -eq 2 &&
	test "$(grep -c "\"op\": \"commit\"" c.json)" -eq 1 &&
	python3 -c "
import json, sys
d = json.load(open(\"c.json\"))
ids = [a[\"artifact\"] for a in d[\"ancestors\"]]
assert len(ids) == len(set(ids)), ids
s = sum(a[\"share\"] for a in d[\"ancestors\"])
assert abs(s - 1) < 1e-9, s
t = sum(a[\"share\"] for a in d[\"ancestors\"] if a[\"compute\"][\"mode\"] == \"training\")
assert abs(t - d[\"training_share\"]) < 1e-9, (t, d[\"training_share\"])
"
'

test_expect_success 'a record whose text holds U+0000 is rephrased and prompts in full' '
	printf "{\"text\":\"hello\\\\u0000world\",\"k\":1}\n{\"text\":\"plain\"}\n" >nul.jsonl &&
	grep -q "hello.u0000world" nul.jsonl &&
	dsv commit nul.jsonl -m nul -q && dsv branch nulv &&
	dsv derive rephrase nulv --model tiny --template t.txt --max-tokens 2 \
		-o rnul -m rnul -q &&
	test "$(dsv export rnul | wc -l)" -eq 2 &&
	dsv export rnul | head -1 | grep -q "\"k\":1" &&
	dsv generate tiny --prompts nulv --max-tokens 2 | head -1 |
		grep -q "\"prompt\":\"hello.u0000world\"" &&
	dsv derive synth --model tiny --prompts nulv --n 2 --max-tokens 2 \
		--verify "grep -q hello.u0000world" -o snul -m snul -q &&
	test "$(dsv export snul | wc -l)" -eq 1
'

test_expect_success 'synth needs --model and --n' '
	dsv derive synth --n 3 -o x -m x; test $? -eq 2 &&
	dsv derive synth --model tiny -o x -m x; test $? -eq 2 &&
	dsv derive synth --model tiny --n 1 --verify "true #$(printf "\351")" -o x -m x 2>err
	test $? -eq 2 && grep -q "verify is not valid UTF-8" err
'

test_done
