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

# Deleting a packed ref (after git pack-refs or git gc on the lineage)
# rewrites packed-refs under packed-refs.lock: two deletes at once take
# turns rather than one failing on the other's lock file.
test_expect_success 'two branch deletes at once with packed refs both land' '
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do dsv branch "p$i" main >/dev/null || exit 1; done &&
	git --git-dir .dsv/lineage pack-refs --all &&
	for i in 1 3 5 7 9 11; do
		dsv branch -d "p$i" >/dev/null 2>e1 & p1=$!
		dsv branch -d "p$((i + 1))" >/dev/null 2>e2 & p2=$!
		wait $p1; r1=$?; wait $p2; r2=$?
		test $r1 -eq 0 && test $r2 -eq 0 || { cat e1 e2; exit 1; }
	done &&
	! dsv branch | grep -q " p[0-9]"
'

# A delete that finds packed-refs.lock taken (git pack-refs at work) waits
# for it, then reads packed-refs afresh and deletes the ref.
dsv branch q1 main >/dev/null && git --git-dir .dsv/lineage pack-refs --all &&
	: >.dsv/lineage/packed-refs.lock
"$DSV" branch -d q1 >/dev/null 2>qerr &
qpid=$!
sleep 0.1
rm -f .dsv/lineage/packed-refs.lock
wait $qpid; qrc=$?
test_expect_success 'a delete waiting for packed-refs.lock deletes the ref' '
	test $qrc = 0 && ! dsv branch | grep -q " q1 "
'

# Deletes beside git pack-refs (git gc) and git branch -D on the lineage:
# each ref a delete keeps must stay, branches made meanwhile included. A
# delete through libgit2 wrote back packed-refs as it had read it before
# taking the lock, dropping what pack-refs had just packed from loose files.
n=1; names=
while [ $n -le 16 ]; do names="$names $n"; n=$((n + 1)); done
for i in $names; do
	dsv branch "d$i" main >/dev/null && dsv branch "g$i" main >/dev/null
done
git --git-dir .dsv/lineage pack-refs --all
rm -f stop-packing gfail
(while test ! -e stop-packing; do
	git --git-dir .dsv/lineage pack-refs --all 2>/dev/null
done) &
packer=$!
(for i in $names; do
	git --git-dir .dsv/lineage branch -D "g$i" >/dev/null 2>&1 ||
		echo "g$i" >>gfail
done) &
gitdel=$!
drc=0
for i in $names; do
	"$DSV" branch "n$i" main >/dev/null 2>>derr &&
		"$DSV" branch -d "d$i" >/dev/null 2>>derr || drc=1
done
wait $gitdel
: >stop-packing
wait $packer
test_expect_success 'deletes beside git pack-refs and git branch -D lose nothing' '
	test $drc = 0 && test ! -s derr && test ! -e gfail &&
	{ echo refs/heads/main && for i in $names; do echo "refs/heads/n$i"; done; } |
		sort >expect &&
	git --git-dir .dsv/lineage for-each-ref --format="%(refname)" refs/heads |
		sort >actual &&
	test_cmp expect actual &&
	git --git-dir .dsv/lineage fsck 2>&1 &&
	for i in $names; do dsv branch -d "n$i" >/dev/null || exit 1; done
'

# The same, made certain: strace holds the delete for a second just before
# it creates packed-refs.lock while a new branch is made and packed. A
# delete that had read packed-refs before that lock wrote back its copy,
# without the new branch (5 of 5 runs lost it).
if command -v strace >/dev/null 2>&1 &&
   strace -o /dev/null -e inject=openat:delay_enter=1 true 2>/dev/null; then
	dsv branch h1 main >/dev/null && git --git-dir .dsv/lineage pack-refs --all
	strace -f -o /dev/null -P "$SCRATCH/.dsv/lineage/packed-refs.lock" \
		-e trace=openat -e inject=openat:delay_enter=1000000 \
		"$DSV" branch -d h1 >/dev/null 2>herr &
	hpid=$!
	sleep 0.5
	"$DSV" branch fresh main >/dev/null && git --git-dir .dsv/lineage pack-refs --all
	wait $hpid; hrc=$?
	test_expect_success 'a delete held before packed-refs.lock keeps what pack-refs packed' '
		test $hrc = 0 && ! dsv branch | grep -q " h1 " &&
		dsv branch | grep -q " fresh " && dsv branch -d fresh >/dev/null
	'
else
	test_skip 'a delete held before packed-refs.lock' 'no strace with inject'
fi

# A failed rewrite of packed-refs leaves it as it was, and no lock file.
test_expect_success 'a delete that cannot rewrite packed-refs changes nothing' '
	dsv branch f1 main >/dev/null &&
	git --git-dir .dsv/lineage pack-refs --all &&
	cp .dsv/lineage/packed-refs packed.before &&
	for f in write:1 fsync:1 rename:1; do
		test_must_fail env DSV_FAULT=$f "$DSV" branch -d f1 2>err &&
		grep -q "packed-refs.new" err &&
		test_cmp packed.before .dsv/lineage/packed-refs &&
		! ls .dsv/lineage .dsv/lineage/refs/heads | grep -q "\.lock\|\.new" ||
		exit 1
	done &&
	dsv branch -d f1 >/dev/null && ! dsv branch | grep -q " f1 "
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
	# flock would let this writer in beside the derivation, and the
	# next, and so on: gc would never run
	"$DSV" commit b.jsonl -b after-gc -m after-gc -q 2>cerr &
	cpid=$!
	test_expect_success 'a writer that comes after gc waits for gc' '
		wait_note cerr "/\.dsv/lock\.gate., held by process $gpid\$" &&
		kill -0 $cpid && kill -0 $gpid
	'
	open_gate
	wait $dpid; drc=$?
	wait $spid; src=$?
	wait $gpid; grc=$?
	wait $cpid; crc=$?
	test_expect_success 'then each lands: the derivation, the refusal, gc' '
		test $drc = 0 && test ! -s derr &&
		test $src = 1 && grep -q "branch .gated. already exists" serr &&
		test $grc = 0 && test $crc = 0 &&
		dsv export gated | grep -q THE &&
		dsv export after-gc >/dev/null &&
		dsv fsck | grep -q "^ok$"
	'
else
	test_skip 'writers beside each other, gc beside writers' \
		'no flock(1), timeout(1) or mkfifo'
fi

# train and eval store objects (weights, checkpoints, columns) outside a
# derivation's lock: each holds the store lock from before it stores one
# until its commit or run file names it. Held up waiting for the lock and
# stopped there, it leaves a gc that runs meanwhile nothing to delete.
stopped() {
	i=0
	until ps -o stat= -p "$1" | grep -q '^T'; do
		i=$((i + 1)) && test $i -lt 200 || return 1
		sleep 0.05
	done
}
# gc_beside PID ERR: gc --grace 0 while PID, waiting for the lock that
# hold_gate holds (the note in ERR), is stopped; then PID goes on
gc_beside() {
	grc=1
	wait_note "$2" "/\.dsv/lock., held by another process\$" &&
		kill -STOP "$1" && stopped "$1" && release_gate &&
		"$DSV" gc --grace 0 >/dev/null && grc=0
	release_gate
	kill -CONT "$1"
	wait "$1"
	prc=$?
}
release_gate() {
	test -z "$hpid" && return 0
	timeout 10 sh -c 'echo go >gate2'
	wait $hpid
	hpid=
}
hold_gate() {
	flock .dsv/lock sh -c 'cat gate2 >/dev/null' &
	hpid=$!
	wait_held .dsv/lock
}
if command -v flock >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1 &&
   mkfifo gate2; then
	head -c 20000 "$DEMO/shakespeare.txt" >small.txt &&
	dsv commit small.txt --text-mode paragraph -b small -m small -q &&
	dsv tokenizer train small --vocab 300 -o tok -q &&
	printf 'n_layer = 1\nn_head = 2\nn_embd = 16\nseq_len = 32\nbatch_size = 4\nmax_steps = 6\ncheckpoint_every = 100\nseed = 7\n' >t.conf &&
	sed "s/^seed = 7/seed = 8/" t.conf >m0.conf &&
	dsv train small --tokenizer tok --config m0.conf -o m0 -q
	hold_gate
	"$DSV" train small --tokenizer tok --config t.conf -o m -q 2>terr &
	gc_beside $! terr
	test_expect_success 'gc while train waits to store: its model is whole' '
		test $grc = 0 && test $prc = 0 &&
		dsv eval m small >/dev/null && dsv fsck | grep -q "^ok$"
	'
	sed "s/^checkpoint_every = 100/checkpoint_every = 3/" t.conf >c.conf
	hold_gate
	"$DSV" train small --tokenizer tok --config c.conf -o mc --stop-after 3 \
		-q 2>cerr &
	gc_beside $! cerr
	test_expect_success 'gc while train waits to checkpoint: it resumes' '
		test $grc = 0 && test $prc = 1 && grep -q "stopped after step 3" cerr &&
		dsv train small --tokenizer tok --config c.conf -o mc --resume -q &&
		dsv eval mc small >/dev/null && dsv fsck | grep -q "^ok$"
	'
	hold_gate
	"$DSV" eval m0 small --column loss -o ev -m ev >/dev/null 2>eerr &
	gc_beside $! eerr
	test_expect_success 'gc while eval waits to store: its columns are kept' '
		test $grc = 0 && test $prc = 0 &&
		dsv export ev >/dev/null && dsv fsck | grep -q "^ok$"
	'
else
	test_skip 'gc beside train and eval' 'no flock(1), timeout(1) or mkfifo'
fi

test_done
