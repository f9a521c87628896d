#!/bin/sh
# The derive framework through `derive filter`: one lineage commit whose
# first parent is the input, a view (selections and columns, no text
# copied), deterministic ids, the reason column, compute records, clean
# failures (no commit, branch untouched), fault injection, and MPI ranks.
. "$(dirname "$0")/lib.sh"

zcat "$DEMO/web-a.jsonl.gz" >web-a.jsonl
dsv init -q repo && cd repo && dsv commit ../web-a.jsonl -m base >/dev/null
git_() { git --git-dir .dsv/lineage "$@"; }
objects() { find .dsv/objects -type f | wc -l; }

test_expect_success 'derive filter makes one commit on a new branch, first parent the input' '
	n0=$(objects) &&
	dsv derive filter main -o short -m "short docs" --where "text_bytes < 2000" >out &&
	grep -q "^\[short [0-9a-f]\{7\}\] short docs" out &&
	test "$(git_ rev-parse short^1)" = "$(git_ rev-parse main)" &&
	test "$(git_ rev-list --count short)" = 2 &&
	git_ show short:dsv.json >j && grep -q "\"op\": \"filter\"" j &&
	grep -q "\"mode\": \"selection\"" j && grep -q "\"role\": \"input\"" j &&
	grep -q "\"where\": \"text_bytes < 2000\"" j &&
	test $(( $(objects) - n0 )) -eq 2
'

test_expect_success 'the derived version is a view: a selection and a reason column per shard' '
	git_ show short:MANIFEST >m && grep -q " sel=[0-9a-f]\{64\} kept=" m &&
	grep -q " col.reason=[0-9a-f]\{64\}" m &&
	test "$(git_ show main:MANIFEST | cut -d" " -f1-3)" = "$(cut -d" " -f1-3 m)"
'

test_expect_success 'the view holds exactly the records the expression keeps, in order' '
	python3 -c "
import json,sys
for l in open(\"../web-a.jsonl\"):
    if len(json.loads(l)[\"text\"].encode()) < 2000: sys.stdout.write(l)
" >../expect && dsv export short -o ../got.jsonl && test_cmp ../expect ../got.jsonl &&
	test "$(wc -l <../got.jsonl)" -gt 0 &&
	python3 -c "
import json; d=json.load(open(\"j\"))
s=d[\"stats\"]; n=$(wc -l <../expect)
assert s[\"records_in\"]==600 and s[\"records_out\"]==n, s
assert s[\"dropped\"][\"where\"][\"records\"]==600-n and s[\"reason_codes\"][\"1\"]==\"where\"
assert d[\"compute\"][\"records_in\"]==600 and d[\"compute\"][\"records_out\"]==n
"
'

test_expect_success 'the same derive again gives the same manifest and object ids' '
	dsv derive filter main -o short2 -m again --where "text_bytes < 2000" >/dev/null &&
	git_ show short2:MANIFEST >m2 && test_cmp m m2 &&
	dsv derive filter main -o short --force -m forced --where "text_bytes < 2000" >/dev/null &&
	git_ show short:MANIFEST >m3 && test_cmp m m3 &&
	test "$(git_ rev-parse short^1)" = "$(git_ rev-parse main)"
'

test_expect_success 'the compute record counts the bytes of the objects a derive stored anew' '
	git_ show short2:dsv.json | grep -q "\"bytes_written\": 0," &&
	sz=0 && for id in $(grep -o "[0-9a-f]\{64\}" m | tail -n 2); do
		sz=$((sz + $(wc -c <.dsv/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-))))
	done &&
	test $sz -gt 0 && grep -q "\"bytes_written\": $sz," j
'

test_expect_success 'derive on a derived version intersects the selections' '
	dsv derive filter short -o shorter -m "under 1000" --where "text_bytes < 1000" >/dev/null &&
	dsv export shorter >got &&
	python3 -c "
import json,sys
for l in open(\"../web-a.jsonl\"):
    if len(json.loads(l)[\"text\"].encode()) < 1000: sys.stdout.write(l)
" >expect && test_cmp expect got &&
	test "$(git_ rev-parse shorter^1)" = "$(git_ rev-parse short)"
'

test_expect_success 'a derive that drops nothing refers to the parent shards as they are' '
	dsv derive filter main -o all -m all --where "text_bytes >= 0" >out &&
	grep -q "0 new selections" out &&
	test "$(git_ show all:MANIFEST)" = "$(git_ show main:MANIFEST)"
'

test_expect_success 'an existing branch is refused without --force; nothing is recorded' '
	before=$(git_ rev-parse short) &&
	test_must_fail dsv derive filter main -o short -m x --where "text_bytes < 5" 2>err &&
	grep -q "already exists" err && test "$(git_ rev-parse short)" = "$before"
'

test_expect_success 'bad input: missing REV, unknown op, missing -o or -m' '
	test_must_fail dsv derive filter nosuch -o x -m x --where "text_bytes > 1" 2>err &&
	grep -q "unknown revision .nosuch." err &&
	dsv derive frobnicate main -o x -m x 2>err; test $? -eq 2 && grep -q "unknown derive op" err &&
	dsv derive filter main -m x --where "text_bytes > 1" 2>err; test $? -eq 2 && grep -q "(-o NAME)" err &&
	dsv derive filter main -o x --where "text_bytes > 1" 2>err; test $? -eq 2 && grep -q "(-m MSG)" err &&
	dsv derive filter -o x -m x --where "text_bytes > 1" 2>err; test $? -eq 2 && grep -q "no input revision" err &&
	dsv derive filter main -o x -m x --device tpu --where "text_bytes > 1" 2>err; test $? -eq 2 &&
	test_must_fail git_ rev-parse --verify -q refs/heads/x
'

test_expect_success 'derive -h and derive OP -h print usage without a repository' '
	(cd / && "$DSV" derive -h | grep -q "^    filter ") &&
	(cd / && "$DSV" derive filter -h | grep -q "^usage: dsv derive filter")
'

test_expect_success 'log, audit and fsck see the derivation' '
	dsv log shorter | grep -q "under 1000" &&
	dsv audit short >out && grep -q "^selection " out &&
	dsv fsck | grep -q "^ok$"
'

test_expect_success 'the reason column says why each dropped record went' '
	dsv derive filter main -o rules -m rules --rules gopher-quality >/dev/null &&
	dsv derive filter rules -o back -m back --where "text_bytes >= 0" >/dev/null &&
	git_ show rules:dsv.json | python3 -c "
import json,sys; d=json.load(sys.stdin); s=d[\"stats\"]
assert s[\"records_in\"]==600 and s[\"records_out\"]<600
assert sum(v[\"records\"] for v in s[\"dropped\"].values())==600-s[\"records_out\"]
assert s[\"reason_codes\"][\"1\"]==\"gopher_short_doc\"
"
'

test_expect_success 'blame says which version brought a record in and which derivation dropped it, why' '
	h=$(dsv diff --records main rules | sed -n "s/^- \([0-9a-f]\{32\}\)  .*/\1/p" | head -1) &&
	test -n "$h" &&
	dsv blame $h >out &&
	grep -q "^record $h: first stored by $(git_ rev-parse --short=7 main)" out &&
	grep -q "^$(git_ rev-parse --short=7 rules) filter   dropped    gopher_" out &&
	dsv blame --json $h | python3 -c "
import json,sys; d=json.load(sys.stdin)
assert any(v.get(\"dropped\",\"\").startswith(\"gopher_\") for v in d[\"versions\"])
" &&
	test_must_fail dsv blame 0123456789abcdef0123456789abcdef 2>err && grep -q "in no version" err &&
	test_must_fail dsv blame nothex 2>err && grep -q "not a record hash" err
'

# A version with an order object (a re-commit that reuses stored records in
# a new order): the derived view writes the parent's order restricted to the
# rows it keeps (an order lists exactly the version's records), and a derive
# that drops nothing carries the parent's order object as it is.
python3 -c "
import random
l = open(\"../web-a.jsonl\").readlines(); random.seed(3); random.shuffle(l)
open(\"../shuffled.jsonl\", \"w\").writelines(l[:500])"
dsv commit -q ../shuffled.jsonl --branch ordered -m shuffled
test_expect_success 'a derive over an ordered version keeps the parent order' '
	git_ show ordered:MANIFEST | grep -q "^order " &&
	dsv derive filter ordered -o ordered-short -m short --where "text_bytes < 2000" >/dev/null &&
	git_ show ordered-short:MANIFEST | grep -q "^order " &&
	python3 -c "
import json, sys
for l in open(\"../shuffled.jsonl\"):
    if len(json.loads(l)[\"text\"].encode()) < 2000: sys.stdout.write(l)" >../ordered-expect.jsonl &&
	dsv export ordered-short -o ../ordered-got.jsonl &&
	test_cmp ../ordered-expect.jsonl ../ordered-got.jsonl &&
	dsv derive filter ordered -o ordered-all -m all --where "text_bytes >= 0" >/dev/null &&
	test "$(git_ show ordered:MANIFEST)" = "$(git_ show ordered-all:MANIFEST)" &&
	dsv derive filter ordered-short -o ordered-shorter -m shorter --where "text_bytes < 1000" >/dev/null &&
	dsv export ordered-shorter -o ../o2.jsonl &&
	python3 -c "
import json, sys
for l in open(\"../shuffled.jsonl\"):
    if len(json.loads(l)[\"text\"].encode()) < 1000: sys.stdout.write(l)" >../o2-expect.jsonl &&
	test_cmp ../o2-expect.jsonl ../o2.jsonl &&
	dsv fsck >out 2>&1 || { cat out; false; }
'

# A derive that fails at any write, fsync, rename or allocation leaves no
# branch and a repository fsck passes.
test_expect_success 'every fault along a derive fails cleanly' '
	n=1 ok_run=0 failures=0
	while [ $ok_run -lt 3 ] && [ $n -le 300 ]; do
		for kind in write rename alloc; do
			if DSV_FAULT=$kind:$n "$DSV" derive filter main -o faulty -m f --rules c4 >/dev/null 2>err; then
				ok_run=$((ok_run + 1)); git_ update-ref -d refs/heads/faulty
			else
				grep -q "^dsv: error: " err || { echo "$kind:$n: no message"; cat err; exit 1; }
				ok_run=0; failures=$((failures + 1))
				git_ rev-parse -q --verify refs/heads/faulty && { echo "$kind:$n: branch made"; exit 1; }
			fi
		done
		n=$((n + 1))
	done
	dsv fsck >out 2>&1 || { cat out; exit 1; }
	echo "  result: $failures injected failures, all clean"
	test $failures -gt 0
'

if command -v mpirun >/dev/null 2>&1 && mpirun --version >/dev/null 2>&1; then
	test_expect_success 'mpirun -n 1 and -n 2 give the same manifest; rank 0 commits once' '
		mkdir -p ../parts && split -l 100 --additional-suffix=.jsonl ../web-a.jsonl ../parts/p &&
		for f in ../parts/p*; do dsv commit --append $f --branch many -m $f >/dev/null || exit 1; done &&
		test "$(git_ show many:MANIFEST | grep -c "^shard ")" -ge 6 &&
		mpirun --allow-run-as-root --oversubscribe -n 1 "$DSV" derive filter many -o mpi1 -m one --rules gopher-quality,c4 >out1 2>&1 &&
		mpirun --allow-run-as-root --oversubscribe -n 2 "$DSV" derive filter many -o mpi2 -m two --rules gopher-quality,c4 >out2 2>&1 &&
		git_ show mpi1:MANIFEST >a && git_ show mpi2:MANIFEST >b && test_cmp a b &&
		test "$(git_ rev-list mpi2 ^many | wc -l)" = 1 &&
		git_ show mpi2:dsv.json | python3 -c "
import json,sys; d=json.load(sys.stdin)
assert d[\"compute\"][\"ranks\"]==2, d[\"compute\"]
assert d[\"params\"][\"ranks\"]==2
" && cat out2 | grep -q "on 2 ranks"
	'
else
	test_skip 'mpirun -n 1 and -n 2 give the same manifest' 'mpirun is not installed'
fi

test_done
