#!/bin/sh
# Two commits on one branch at once both land, one after the other: never a
# lost commit or a damaged index.
. "$(dirname "$0")/lib.sh"

dsv init -q . && zcat "$DEMO/web-a.jsonl.gz" >a.jsonl && zstd -qdc "$DEMO/web-b.jsonl.zst" >b.jsonl
dsv commit a.jsonl -m base >/dev/null

test_expect_success 'two concurrent commits on main both land' '
	for i in 1 2 3 4; do
		dsv commit --append b.jsonl -m "w$i-a" >o1 2>e1 & p1=$!
		dsv commit a.jsonl -m "w$i-b" >o2 2>e2 & p2=$!
		wait $p1; r1=$?; wait $p2; r2=$?
		test $r1 -eq 0 && test $r2 -eq 0 || { cat e1 e2; exit 1; }
	done &&
	test "$(git --git-dir .dsv/lineage rev-list --count main)" = 9 &&
	dsv fsck | grep -q "^ok$"
'

test_expect_success 'the index survived: known records are still found' '
	dsv commit b.jsonl -m again | grep -q "400 records already"
'

test_done
