#!/bin/sh
# t0235-annotate-model.sh: derive annotate --model: each record's perplexity
# under a model is exp of the mean loss dsv eval --column gives it (records
# longer than the context, empty ones), the derivation counts as selection
# in audit with eval's FLOPs, filter --where reads the column, a re-run gives
# the same manifest, and bad input commits nothing.
. "$(dirname "$0")/lib.sh"

G="git --git-dir .dsv/lineage"

# A version with an empty record, one far longer than the 16-token
# context, and short ones, over two shards (the second appended).
setup() {
	dsv init -q . &&
	head -c 60000 "$DEMO/shakespeare.txt" >train.txt &&
	dsv commit train.txt --text-mode paragraph -m train -b data -q &&
	head -c 300000 "$DEMO/shakespeare.txt" | tail -c 3000 >long.txt &&
	python3 -c "
import json
print(json.dumps({\"text\": \"\"}))
print(json.dumps({\"text\": open(\"long.txt\").read()}))
print(json.dumps({\"text\": \"To be, or not to be\"}))" >a.jsonl &&
	tail -c 4000 "$DEMO/shakespeare.txt" >b.txt &&
	dsv commit a.jsonl -b v -m a -q &&
	dsv commit b.txt --text-mode paragraph --append -b v -m b -q &&
	dsv tokenizer train data --vocab 300 -o tok -q &&
	dsv tokenizer train data --vocab 320 -o tok2 -q &&
	printf "n_layer = 1\nn_head = 2\nn_embd = 16\nseq_len = 16\nbatch_size = 4\nmax_steps = 10\neval_every = 0\ncheckpoint_every = 0\nseed = 1\n" >c.conf &&
	dsv train data --tokenizer tok --config c.conf -o m -m m -q
}
test_expect_success 'setup: a version, a tokenizer, a tiny model' 'setup'

# cols.py REV NAME: the f32 column NAME of every entry of REV, one value a
# line (the object format of docs/formats.md, frames through zstd).
cat >cols.py <<'EOF'
import struct, subprocess, sys
def section(path, k):
    b = open(path, "rb").read()
    n = struct.unpack_from("<I", b, 16)[0]
    off = 24 + 16 * n
    for i in range(n):
        raw, st = struct.unpack_from("<QQ", b, 24 + 16 * i)
        if i == k:
            return subprocess.run(["zstd", "-qdc"], input=b[off:off + st],
                                  stdout=subprocess.PIPE, check=True).stdout
        off += st
rev, name = sys.argv[1], sys.argv[2]
m = subprocess.check_output(["git", "--git-dir", ".dsv/lineage", "show",
                             rev + ":MANIFEST"]).decode()
for line in m.splitlines():
    for f in line.split():
        if f.startswith("col." + name + "="):
            i = f.split("=")[1]
            v = section(".dsv/objects/%s/%s" % (i[:2], i[2:]), 1)
            for x in struct.unpack("<%df" % (len(v) // 4), v):
                print(repr(x))
EOF

test_expect_success 'annotate --model: perplexity is exp(eval mean loss) for every record' '
	dsv derive annotate v --model m -o pv -m "perplexity" >out &&
	grep -q "annotate: [0-9]* of [0-9]* records kept" out &&
	dsv eval m v --column loss -o ev -q &&
	python3 cols.py pv perplexity >pp && python3 cols.py ev loss >loss &&
	test $(wc -l <pp) -gt 10 && test $(wc -l <pp) = $(wc -l <loss) &&
	paste pp loss | python3 -c "
import math, sys
nan = 0
for line in sys.stdin:
    p, l = map(float, line.split())
    if math.isnan(l):
        assert math.isnan(p), line
        nan += 1
        continue
    e = math.exp(l)
    assert abs(p - e) <= 1e-5 * e, (p, e)
assert nan == 1, nan" &&
	$G show pv:MANIFEST >man && test $(grep -c " col\.perplexity=" man) = 2
'

test_expect_success 'the derivation: op annotate, the model a parent, eval.s FLOPs as selection' '
	$G show pv:dsv.json >pj && $G show ev:dsv.json >ej &&
	grep -q "\"op\": \"annotate\"" pj && grep -q "\"mode\": \"selection\"" pj &&
	grep -q "\"model\": \"$($G rev-parse m)\"" pj &&
	grep -q "\"column\": \"perplexity\"" pj && grep -q "\"batch\": 8" pj &&
	grep -q "\"role\": \"model\"" pj &&
	test "$($G rev-parse pv^2)" = "$($G rev-parse m)" &&
	f=$(grep "\"flops\"" pj) && test "$f" = "$(grep "\"flops\"" ej)" &&
	grep -q "\"flops\": [1-9]" pj &&
	t=$(grep "\"tokens_in\"" pj) && test "$t" = "$(grep "\"tokens_in\"" ej)"
'

test_expect_success 'audit counts annotate --model as selection, eval as evaluation' '
	dsv audit pv --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
m = d[\"by_mode\"]
assert m[\"selection\"][\"flops\"] > 0 and m[\"evaluation\"][\"flops\"] == 0, m
assert d[\"data_cost\"] >= m[\"selection\"][\"wall_s\"], d" &&
	dsv audit ev --json | python3 -c "
import json, sys
m = json.load(sys.stdin)[\"by_mode\"]
assert m[\"evaluation\"][\"flops\"] > 0 and m[\"selection\"][\"flops\"] == 0, m"
'

test_expect_success 'filter --where on perplexity; an empty record has none' '
	med=$(grep -v nan pp | sort -g | awk "{ v[NR] = \$1 } END { print v[int((NR + 1) / 2)] }") &&
	below=$(awk -v m="$med" "\$1 != \"nan\" && \$1 < m" pp | wc -l) &&
	all=$(wc -l <pp) &&
	dsv derive filter pv --where "perplexity < $med" -o low -m low >out &&
	grep -q "$below of $all records kept" out &&
	dsv derive filter pv --where "!(perplexity >= $med)" -o notlow -m notlow >out &&
	grep -q "$((below + 1)) of $all records kept" out &&
	dsv export notlow | grep -qx "{\"text\": \"\"}" &&
	! dsv export low | grep -qx "{\"text\": \"\"}"
'

test_expect_success 'the same annotate again: the same manifest; --batch is a parameter' '
	dsv derive annotate v --model m -o pv2 -m again -q &&
	test "$($G show pv:MANIFEST)" = "$($G show pv2:MANIFEST)" &&
	dsv derive annotate v --model m --batch 3 --column ppl --json -o pv3 -m b3 >out &&
	grep -q "\"branch\": \"pv3\"" out &&
	$G show pv3:dsv.json | grep -q "\"batch\": 3" &&
	python3 cols.py pv3 ppl >pp3 && paste pp pp3 | python3 -c "
import math, sys
for line in sys.stdin:
    a, b = map(float, line.split())
    assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-5 * a, line"
'

test_expect_success 'bad input: clear errors, no commit' '
	test_must_fail dsv derive annotate v --model data -o x1 -m x 2>err &&
	grep -q "is not a model" err &&
	t2=$($G rev-parse tok2) &&
	$G show m:MODEL | sed "s/^tokenizer .*/tokenizer $t2/" >MODEL.bad &&
	mb=$($G hash-object -w MODEL.bad) &&
	tree=$($G ls-tree m | sed "s/[0-9a-f]\{40\}	MODEL\$/$mb	MODEL/" | $G mktree) &&
	c=$(echo bad | $G commit-tree $tree -p $($G rev-parse m^1) -p $t2) &&
	$G update-ref refs/heads/mbad $c &&
	test_must_fail dsv derive annotate v --model mbad -o x2 -m x 2>err &&
	grep -q "the tokenizer (.*) does not match the model (vocab 300)" err &&
	test_must_fail dsv derive annotate pv --model m -o x3 -m x 2>err &&
	grep -q "^dsv: error: .pv. has a column .perplexity. already (name another with --column)" err &&
	dsv derive annotate v --model m --column "a b" -o x4 -m x 2>err; test $? -eq 2 &&
	grep -q "^dsv: error: --column: bad column name .a b." err &&
	dsv derive annotate v --model m --column reason -o x4 -m x 2>err; test $? -eq 2 &&
	dsv derive annotate v --model m --stats -o x5 -m x 2>err; test $? -eq 2 &&
	grep -q "give one of --stats, --classifier or --model" err &&
	dsv derive annotate v --model m --classifier m -o x5 -m x 2>err; test $? -eq 2 &&
	grep -q "give one of --stats, --classifier or --model" err &&
	dsv derive annotate v --stats --batch 2 -o x6 -m x 2>err; test $? -eq 2 &&
	grep -q "batch goes with --model" err &&
	dsv derive annotate v --model m --batch 0 -o x6 -m x 2>err; test $? -eq 2 &&
	grep -q "batch must be 1..4096" err &&
	test_must_fail dsv derive annotate v --model nosuch -o x7 -m x 2>err &&
	grep -q "nosuch" err &&
	for b in x1 x2 x3 x4 x5 x6 x7; do
		test_must_fail $G rev-parse --verify -q $b || exit 1
	done &&
	dsv fsck >/dev/null
'

test_done
