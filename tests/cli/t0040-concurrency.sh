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

# Writers share the store lock; each branch has its own, and gc takes the
# store lock alone. A derivation held at a gate (a FIFO its program reads
# first) stands for one that runs for hours.
wait_held() {
	i=0
	while ! test -e "$1" || flock -n "$1" true; do
		i=$((i + 1)) && test $i -lt 400 || return 1
		sleep 0.05
	done
}
wait_note() {
	i=0
	while ! grep -qs "^dsv: note: waiting for .*$2" "$1"; do
		i=$((i + 1)) && test $i -lt 400 || return 1
		sleep 0.05
	done
}
open_gate() { timeout 10 sh -c 'echo go >gate'; }
# (the processes in the background start out here, not as the shell
# function dsv: a case runs in $(...), which would wait for their output,
# and $! would be a subshell's pid)
if command -v flock >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1 &&
   mkfifo gate; then
	"$DSV" derive map main --cmd "cat $SCRATCH/gate >/dev/null; sed s/the/THE/" \
		-j 1 -o gated -m gated -q >/dev/null 2>derr &
	dpid=$!
	test_expect_success 'a commit lands while a derivation runs' '
		wait_held .dsv/locks/gated &&
		timeout 60 "$DSV" commit b.jsonl -b beside -m beside -q 2>err &&
		test ! -s err && kill -0 $dpid
	'
	"$DSV" derive sample main --fraction 0.5 -o gated -m again >/dev/null \
		2>serr &
	spid=$!
	test_expect_success 'a second writer of the branch waits for the first' '
		wait_note serr "/\.dsv/locks/gated., held by process $dpid\$" &&
		kill -0 $spid && kill -0 $dpid
	'
	"$DSV" gc --grace 0 >/dev/null 2>gerr &
	gpid=$!
	test_expect_success 'gc waits for the writers' '
		wait_note gerr "/\.dsv/lock., held by another process\$" &&
		kill -0 $gpid && kill -0 $dpid
	'
	open_gate
	wait $dpid; drc=$?
	wait $spid; src=$?
	wait $gpid; grc=$?
	test_expect_success 'then each lands: the derivation, the refusal, gc' '
		test $drc = 0 && test ! -s derr &&
		test $src = 1 && grep -q "branch .gated. already exists" serr &&
		test $grc = 0 &&
		dsv export gated | grep -q THE &&
		dsv fsck | grep -q "^ok$"
	'
else
	test_skip 'writers beside each other, gc beside writers' \
		'no flock(1), timeout(1) or mkfifo'
fi

test_done
