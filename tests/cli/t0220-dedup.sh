#!/bin/sh
# derive dedup: exact (stored hashes, --against) and fuzzy (MinHash + LSH)
# on the planted near-duplicate fixture, checked against the true word
# 5-gram Jaccard computed here in Python.
. "$(dirname "$0")/lib.sh"

ND="$FIXTURES/neardup"
cat >check.py <<'PY'
import gzip, json, re, sys
src, kept_path, truth_path = sys.argv[1:4]
docs = {}
for line in gzip.open(src, 'rt'):
    r = json.loads(line)
    docs[r['id']] = r['text']
kept = set(json.loads(l)['id'] for l in open(kept_path))
dropped = [i for i in docs if i not in kept]
def grams(t):
    w = re.findall(r'\w+', t.lower())
    return set(tuple(w[i:i + 5]) for i in range(max(1, len(w) - 4)))
G = {i: grams(t) for i, t in docs.items()}
def jac(a, b):
    return len(G[a] & G[b]) / max(1, len(G[a] | G[b]))
truth = set()
for l in open(truth_path):
    a, b = l.split()[:2]
    truth.add(frozenset((a, b)))
found = sum(1 for p in truth if len(p & kept) == 1)
false = 0
for d in dropped:
    if any(d in p and len(p & kept) == 1 for p in truth):
        continue
    # the dropped record's cluster holds a kept record; the best Jaccard
    # with any kept record bounds the pair's from above
    best = max(jac(d, k) for k in kept)
    if best < 0.5:
        false += 1
        print('false pair: %s (best Jaccard %.2f)' % (d, best))
print('  result fuzzy dedup: planted pairs found %d of %d, false pairs %d, '
      'records dropped %d' % (found, len(truth), false, len(dropped)))
sys.exit(0 if found >= 19 and false <= 2 else 1)
PY

printf '{"text":"a"}\n{"text":"b"}\n{"text":"a"}\n{"text":"c"}\n{"text":"b"}\n' >dups.jsonl
printf '{"text":"c"}\n{"text":"zz"}\n' >other.jsonl
printf '{"text":"a"}\n{"text":"b"}\n{"text":"c"}\n' >expect-exact
printf '{"text":"a"}\n{"text":"b"}\n' >expect-against

dsv init -q repo >/dev/null && cd repo || exit 1

test_expect_success 'dedup --exact keeps the first of each text' '
	dsv commit -b dups ../dups.jsonl -m dups -q &&
	dsv derive dedup dups --exact -o d1 -m "exact" >out &&
	grep -q "exact_duplicate  *2 dropped" out &&
	dsv export d1 >../got && test_cmp ../expect-exact ../got
'

test_expect_success 'dedup --exact --against drops what REV holds; REV is a parent' '
	dsv commit -b other ../other.jsonl -m other -q &&
	dsv derive dedup dups --exact --against other -o d2 -m "against" >out &&
	grep -q "in_against  *1 dropped" out &&
	dsv export d2 >../got && test_cmp ../expect-against ../got &&
	test "$(git --git-dir .dsv/lineage rev-parse d2^2)" = \
	     "$(git --git-dir .dsv/lineage rev-parse other)" &&
	git --git-dir .dsv/lineage show d2:dsv.json | grep -q "\"against\""
'

test_expect_success 'dedup --against its own input: every record goes, one parent' '
	dsv derive dedup other --exact --against other -o d-self -m "self" >out &&
	grep -q "0 of 2 records kept" out &&
	test "$(git --git-dir .dsv/lineage rev-list --parents -n1 d-self | wc -w)" = 2 &&
	git --git-dir .dsv/lineage show d-self:dsv.json | grep -q "\"against\"" &&
	dsv fsck >/dev/null
'

test_expect_success 'dedup is a view and is reproducible' '
	dsv derive dedup dups --exact -o d3 -m "again" -q &&
	test "$(git --git-dir .dsv/lineage show d1:MANIFEST)" = \
	     "$(git --git-dir .dsv/lineage show d3:MANIFEST)" &&
	git --git-dir .dsv/lineage show d1:MANIFEST | grep -q "reason"
'

test_expect_success 'bad dedup options are usage errors, nothing committed' '
	dsv derive dedup dups -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --exact --fuzzy -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --fuzzy --against other -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --exact --threshold 0.9 -o x -m x 2>err; test $? -eq 2 &&
	grep -q "go with --fuzzy" err &&
	dsv derive dedup dups --exact --bands 4 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --fuzzy --rows 0 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --fuzzy --threshold 2 -o x -m x 2>err; test $? -eq 2 &&
	dsv derive dedup dups --fuzzy --threshold nan -o x -m x 2>err; test $? -eq 2 &&
	grep -q "threshold must be a number in \[0, 1\]" err &&
	test_must_fail dsv derive dedup nosuchrev --exact -o x -m x 2>err &&
	grep -q "nosuchrev" err &&
	test_must_fail dsv derive dedup dups --exact --against nosuch -o x -m x &&
	test_must_fail git --git-dir .dsv/lineage rev-parse --verify -q x
'

test_expect_success 'dedup --fuzzy records the shingle size it used' '
	dsv derive dedup dups --fuzzy --ngram 3 -o f3 -m f3 -q &&
	git --git-dir .dsv/lineage show f3:dsv.json >f3.json &&
	grep -q "\"ngram\": 3," f3.json && grep -q "\"hash\": \"word 3-gram shingles" f3.json
'

test_expect_success 'dedup --fuzzy of a version that starts with empty texts' '
	printf "{\"text\":\"%s\"}\n" "" "" "one two three four five six" "one two three four five six" >../empty-first.jsonl &&
	dsv commit -b ef ../empty-first.jsonl -m ef -q &&
	dsv derive dedup ef --fuzzy -o ef1 -m ef1 >out &&
	grep -q "3 of 4 records kept" out
'

if [ -f "$ND/minhash_articles_2500.jsonl.gz" ] && command -v python3 >/dev/null; then
	test_expect_success 'dedup --fuzzy finds the planted near-duplicate pairs' '
		dsv commit -b art "$ND/minhash_articles_2500.jsonl.gz" -m articles -q &&
		dsv derive dedup art --fuzzy -o fz -m "fuzzy" >out &&
		grep -q "fuzzy_duplicate" out &&
		dsv export fz -o ../kept.jsonl &&
		python3 ../check.py "$ND/minhash_articles_2500.jsonl.gz" ../kept.jsonl \
			"$ND/minhash_articles_2500.truth.txt" >../result &&
		git --git-dir .dsv/lineage show fz:MANIFEST | grep -q " col\.cluster=" &&
		git --git-dir .dsv/lineage show fz:dsv.json | grep -q "\"selection\""
	'
	cat ../result 2>/dev/null | grep "result"
	test_expect_success 'dedup --fuzzy is deterministic (same manifest twice)' '
		dsv derive dedup art --fuzzy -o fz2 -m "fuzzy again" -q &&
		test "$(git --git-dir .dsv/lineage show fz:MANIFEST)" = \
		     "$(git --git-dir .dsv/lineage show fz2:MANIFEST)"
	'
	test_expect_success 'fuzzy dedup of a deduplicated version drops nothing' '
		dsv derive dedup fz --fuzzy -o fz3 -m "twice" >out &&
		grep -q "2480 of 2480 records kept" out
	'
else
	test_skip 'dedup --fuzzy on the neardup fixture' 'no fixture or python3'
fi

test_done
