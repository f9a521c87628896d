#!/bin/sh
# t0410-compare.sh: dsv compare on two models trained with one recipe on
# different data (same tokenizer and validation version): a finite k and
# the break-even share; different validation versions or tokenizers are
# refused.
. "$(dirname "$0")/lib.sh"

setup() {
	dsv init >/dev/null &&
	head -c 300000 "$DEMO/shakespeare.txt" >a.txt &&
	head -c 600000 "$DEMO/shakespeare.txt" | tail -c 300000 >b.txt &&
	tail -c 60000 "$DEMO/shakespeare.txt" >valid.txt &&
	dsv commit a.txt --text-mode paragraph -m a -b da >/dev/null &&
	dsv commit b.txt --text-mode paragraph -m b -b db >/dev/null &&
	dsv commit valid.txt --text-mode paragraph -m valid -b valid >/dev/null &&
	head -c 30000 valid.txt >valid2.txt &&
	dsv commit valid2.txt --text-mode paragraph -m valid2 -b valid2 >/dev/null &&
	dsv tokenizer train da --vocab 320 -o tok >/dev/null &&
	dsv tokenizer train db --vocab 320 -o tok2 >/dev/null &&
	printf "n_layer = 1\nn_head = 2\nn_embd = 32\nseq_len = 32\nbatch_size = 8\nlr = 1e-2\nmin_lr = 1e-3\nmax_steps = 40\neval_every = 10\neval_tokens = 2048\nseed = 3\n" >c.conf &&
	dsv train da --tokenizer tok --config c.conf --valid valid -o ma -q &&
	dsv train db --tokenizer tok --config c.conf --valid valid -o mb -q
}
test_expect_success 'setup: two models, one recipe, different data' 'setup'

test_expect_success 'compare: finite k and the break-even share' '
	dsv compare ma mb >out &&
	grep -q "^k = [0-9.]* (tokens" out &&
	grep -q "break-even data share" out &&
	dsv compare ma mb --json >out.json &&
	grep -q "\"k\": [0-9]" out.json &&
	grep -q "\"break_even_data_share\": [0-9]" out.json &&
	grep -q "\"flops_better\": [0-9]" out.json
'

test_expect_success 'compare: a model with itself gives k = 1' '
	dsv compare ma ma --json | grep -q "\"k\": 1,"
'

# mb's data share (ingest of its data over ingest plus training) is set
# against the break-even line of its k over ma, and the reverse.
test_expect_success 'audit --baseline: the data share against 1 - 1/k' '
	dsv compare ma mb --json >c.json &&
	dsv audit mb --baseline ma --json >a.json &&
	python3 - <<PY &&
import json
c, a = json.load(open("c.json")), json.load(open("a.json"))
b = a["baseline"]
k = c["k"] if c["efficient"] == "b" else 1 / c["k"]
assert abs(b["k"] - k) < 1e-5 * k, (b, c)
assert abs(b["break_even_data_share"] - (1 - 1 / k)) < 1e-5, b
assert b["under_break_even"] == (a["data_share"] < 1 - 1 / k), (a, b)
PY
	dsv audit ma --baseline mb >out &&
	grep -q "^against mb: k = [0-9.]*" out &&
	grep -q "^data share spent [0-9.]*%: \(under\|over\) the break-even line" out &&
	dsv audit ma --baseline ma >out &&
	grep -q "k = 1.000, break-even data share 1 - 1/k = 0.0%" out &&
	grep -q "over the break-even line, the data work saved no training" out &&
	test_must_fail dsv audit da --baseline ma 2>err && grep -q "not a model" err
'

test_expect_success 'compare refuses other validation sets and tokenizers' '
	dsv train da --tokenizer tok --config c.conf --valid valid2 -o mv -q &&
	test_must_fail dsv compare ma mv 2>err &&
	grep -q "different versions" err &&
	dsv train da --tokenizer tok2 --config c.conf --valid valid -o mt -q &&
	test_must_fail dsv compare ma mt 2>err &&
	grep -q "different tokenizers" err &&
	dsv train da --tokenizer tok --config c.conf -o mn -q &&
	test_must_fail dsv compare ma mn 2>err &&
	grep -q "no validation curve" err &&
	sed "s/eval_tokens = 2048/eval_tokens = 4096/" c.conf >c2.conf &&
	dsv train da --tokenizer tok --config c2.conf --valid valid -o me -q &&
	test_must_fail dsv compare ma me 2>err &&
	grep -q "different parts of the validation version (eval_tokens = 2048 and 4096)" err &&
	sed "s/seq_len = 32/seq_len = 16/" c.conf >c3.conf &&
	dsv train da --tokenizer tok --config c3.conf --valid valid -o ms -q &&
	test_must_fail dsv compare ma ms 2>err &&
	grep -q "different contexts (seq_len = 32 and 16)" err &&
	test_must_fail dsv compare ma da 2>err &&
	grep -q "not a model" err
'

test_done
