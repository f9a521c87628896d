#!/bin/sh
# Reuse on commit (issue 4): a re-committed corpus with 1% of its records
# changed stores about the changed records, and every version exports byte
# for byte; orders and selections pass fsck; a damaged order is caught.
. "$(dirname "$0")/lib.sh"

python3 "$TOP/tests/corpus.py" make --mb 2 -o c1.jsonl 2>/dev/null
python3 "$TOP/tests/corpus.py" mutate c1.jsonl c2.jsonl --seed 7 2>/dev/null
# v3: v2 with its records in reverse order, a new record in front, and the
# first record twice (a record used twice opens a second entry).
{ echo '{"text": "a brand new record", "id": "new"}'; tac c2.jsonl; head -n 1 c2.jsonl; } >c3.jsonl
dsv init -q repo && cd repo

stored() { dsv commit "$@" --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"bytes_stored\"])"; }

test_expect_success 'v1 then a 1%-changed v2 stores about the changed records' '
	s1=$(stored ../c1.jsonl -m v1) && s2=$(stored ../c2.jsonl -m v2) &&
	echo "v1 stored $s1 bytes, v2 $s2" &&
	test $((s2 * 100)) -le $((s1 * 3)) &&
	git --git-dir .dsv/lineage show main:MANIFEST | grep -q "^order " &&
	git --git-dir .dsv/lineage show main:MANIFEST | grep -q " sel="
'

test_expect_success 'every version exports byte for byte' '
	dsv export main -o ../o2.jsonl && test_cmp ../c2.jsonl ../o2.jsonl &&
	dsv export main~1 -o ../o1.jsonl && test_cmp ../c1.jsonl ../o1.jsonl
'

test_expect_success 'commit reports reused and stored records' '
	dsv show main >out && grep -q "\"records_reused\"" out &&
	n=$(git --git-dir .dsv/lineage show main:dsv.json | python3 -c "import json,sys; s=json.load(sys.stdin)[\"stats\"]; print(s[\"records_stored\"])") &&
	test "$n" -ge 1 && test "$n" -le 20
'

test_expect_success 'diff names the changed records from hashes' '
	dsv diff main~1 main --json >out &&
	python3 -c "import json; d=json.load(open(\"out\")); assert d[\"added\"] == d[\"removed\"] and 1 <= d[\"added\"] <= 20, d" &&
	dsv diff --records main~1 main | grep -c "^+ " | grep -qv "^0$"
'

test_expect_success 'a reordered version with a repeated record exports exactly' '
	s3=$(stored ../c3.jsonl -m v3) && test "$s3" -lt 20000 &&
	dsv export main -o ../o3.jsonl && test_cmp ../c3.jsonl ../o3.jsonl
'

test_expect_success 'committing the same file again adds no object' '
	dsv commit ../c3.jsonl -m again >out && grep -q " 0 new objects" out &&
	dsv export main | cmp - ../c3.jsonl
'

test_expect_success '--append over a version with an order' '
	dsv commit --append ../c1.jsonl -m app >/dev/null &&
	cat ../c3.jsonl ../c1.jsonl >../app.jsonl &&
	dsv export main -o ../oa.jsonl && test_cmp ../app.jsonl ../oa.jsonl
'

test_expect_success 'reuse on another branch' '
	dsv commit ../c2.jsonl --branch other -m other >out &&
	grep -q " 0 stored" out && dsv export other | cmp - ../c2.jsonl
'

test_expect_success 'fsck checks orders and selections' '
	dsv fsck >out && grep -q "^ok$" out
'

test_expect_success 'fsck names a missing order object' '
	cp -a . ../damaged && cd ../damaged &&
	ord=$(git --git-dir .dsv/lineage show main~2:MANIFEST | sed -n "s/^order //p") &&
	rm -f .dsv/objects/$(echo $ord | cut -c1-2)/$(echo $ord | cut -c3-) &&
	test_must_fail dsv fsck >out 2>&1 && grep -q "order $ord is missing" out &&
	test_must_fail dsv export main~2 -o /dev/null
'

test_done
