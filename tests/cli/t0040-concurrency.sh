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

# A commit killed while libgit2 held a ref's lock file leaves the file:
# the next commit says which file stops it, as git does for index.lock.
test_expect_success 'a stale ref lock file: the error names it' '
	: >.dsv/lineage/refs/heads/main.lock &&
	test_must_fail dsv commit b.jsonl -m locked 2>err &&
	grep -q "branch .main. is locked: .*/\.dsv/lineage/refs/heads/main\.lock. exists" err &&
	rm .dsv/lineage/refs/heads/main.lock &&
	dsv commit b.jsonl -m unlocked -q
'

# A writer that has to wait for another's lock says so, naming the holder
# (the pid the holder wrote into .dsv/lock), instead of standing still.
hold_lock() {
	sh -c 'echo $$ >.dsv/lock; exec flock .dsv/lock sleep 2' &
	holder=$!
	i=0
	while flock -n .dsv/lock true; do
		i=$((i + 1)) && test $i -lt 200 || return 1
		sleep 0.05
	done
}
if command -v flock >/dev/null 2>&1; then
	test_expect_success 'a writer waiting for the lock says who holds it, then lands' '
		hold_lock &&
		dsv commit b.jsonl -b waited -m waited -q 2>err &&
		grep -q "^dsv: note: waiting for .*/\.dsv/lock., held by process $holder\$" err &&
		wait $holder && dsv log waited >/dev/null &&
		dsv commit b.jsonl -b unwaited -m unwaited -q 2>err && test ! -s err
	'
else
	test_skip 'a writer waiting for the lock says who holds it' 'no flock(1)'
fi

test_done
