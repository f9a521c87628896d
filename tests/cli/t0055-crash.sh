#!/bin/sh
# t0055-crash.sh: nothing half-written, whichever command fails or is
# killed. For each command that t0050 (commit), t0105 (reuse, gc), t0200
# (filter) and t0240 (split) do not sweep, make its n-th write, fsync, rename
# or allocation fail (store/fault.c), and SIGKILL it at a few of those points
# (DSV_FAULT=kill:...: no cleanup code runs); after each, the command either
# failed with a clear message and moved no ref, or succeeded with its whole
# result, fsck passes and the earlier versions export unchanged. After a
# kill, gc and the same command run again succeed, with the uninterrupted
# result.
# Two kills a command at random times besides. A sample of n by default;
# DSV_CRASH_FULL=1 sweeps every n and kills at 20 random times.
. "$(dirname "$0")/lib.sh"

git_() { git --git-dir .dsv/lineage "$@"; }

# The base: two web versions, a labelled one, a version that reuses main's
# shard through a selection (for repack), a tokenizer, a tiny model and a
# classifier; refs packed so that deleting one rewrites packed-refs.
zcat "$DEMO/web-a.jsonl.gz" | head -n 120 >a.jsonl
zstd -qdc "$DEMO/web-b.jsonl.zst" | head -n 120 >b.jsonl
zcat "$DEMO/quality.jsonl.gz" | head -n 120 >q.jsonl
{ head -n 80 a.jsonl && sed -n 1,5p b.jsonl; } >re.jsonl
printf 'n_layer = 1\nn_head = 2\nn_embd = 16\nseq_len = 32\nbatch_size = 4\nmax_steps = 6\nlr = 0.003\nwarmup_steps = 1\neval_every = 0\ncheckpoint_every = 2\nseed = 1\n' >tiny.conf
printf 'Say:\n{text}\nPlainly:' >t.txt
mkdir base && cd base && dsv init -q . &&
	dsv commit -q ../a.jsonl -m a && dsv commit -q ../b.jsonl -b b -m b &&
	dsv commit -q ../q.jsonl -b q -m q && dsv commit -q ../re.jsonl -b re -m re &&
	dsv tokenizer train main --vocab 300 -o tok -q &&
	dsv train main --tokenizer tok --config ../tiny.conf -o tiny -m tiny -q &&
	dsv classifier train q --label label --epochs 2 --buckets 10 -o clf -q &&
	dsv derive sample main --n 6 --seed 3 -o src -m src -q &&
	dsv branch old b >/dev/null && dsv tag t1 q >/dev/null &&
	git_ pack-refs --all && cd .. || exit 1
(cd base && git_ for-each-ref --format='%(refname) %(objectname)' >../refs.base &&
	for r in main b q re src; do echo "$r $(dsv export $r | cksum)"; done >../exports.base)

# Each case: its name, the ref it makes (or moves, or deletes), what result
# to compare (tree: the artifact's files less dsv.json and METRICS.tsv,
# whose timings differ; model: MODEL less the checkpoints, which hold
# timings too; ref: the commit it names; tokens: a second tokenize finds
# every shard cached) and the command.
cases='fuzzy	refs/heads/fz	tree	derive dedup main --fuzzy -o fz -m fz -q
annotate	refs/heads/ann	tree	derive annotate b --classifier clf --column qual -o ann -m ann -q
mix	refs/heads/mx	tree	derive mix main:1 b:2 --records 50 --seed 4 -o mx -m mx -q
map	refs/heads/mp	tree	derive map src --cmd "sed s/the/THE/" -o mp -m mp -q
rephrase	refs/heads/rp	tree	derive rephrase src --model tiny --template ../t.txt --max-tokens 4 --temperature 0 -o rp -m rp -q
synth	refs/heads/sy	tree	derive synth --model tiny --n 3 --max-tokens 4 --seed 2 -o sy -m sy -q
classifier	refs/heads/clf2	tree	classifier train q --label label --epochs 2 --buckets 10 -o clf2 -q
tokenizer	refs/heads/tok2	tree	tokenizer train b --vocab 280 -o tok2 -q
tokenize	-	tokens	tokenize b --tokenizer tok -q
train	refs/heads/m	model	train b --tokenizer tok --config ../tiny.conf -o m -m m -q
eval	refs/heads/ev	tree	eval tiny src --column loss -o ev -m ev -q
repack	refs/heads/re	tree	repack re -q
tag	refs/tags/v2	ref	tag v2 b
branch	refs/heads/nb	ref	branch nb q
tag-d	refs/tags/t1	ref	tag -d t1
branch-d	refs/heads/old	ref	branch -d old'

# What a successful run of the case left at its ref (run in its copy).
result() {
	case $sig in
	tree) git_ ls-tree "$ref" | grep -v "	dsv.json$\|	METRICS.tsv$" ;;
	model) git_ show "$ref":MODEL | grep -v "^checkpoint " ;;
	ref) git_ rev-parse -q --verify "$ref" || echo none ;;
	tokens) dsv tokenize b --tokenizer tok --json | sed 's/, "wall_s".*//' ;;
	esac
}

# Runs the case's command in the current directory with DSV_FAULT=$1, or
# with $1 = after:SECONDS SIGKILLs it then (wherever it is: in libgit2,
# LMDB or the kernels); prints its exit status.
attempt() {
	case $1 in
	after:*)
		eval "exec \"\$DSV\" $cmd" >/dev/null 2>err </dev/null &
		pid=$!
		sleep ${1#after:} && kill -9 $pid 2>/dev/null
		wait $pid; echo $? ;;
	*)
		(eval "DSV_FAULT=\$1 \"\$DSV\" $cmd" >/dev/null 2>err); echo $? ;;
	esac
}

# Checks the copy after an attempt that ended with status $1: a failure
# says so and moves no ref, a success (or a kill after the ref moved) made
# the whole result; every other ref is as in the base, fsck passes (it
# reads every object) and $versions export as in the base (main, the input
# of most, and re, which repack rewrites; all five after a kill). Prints
# "moved" when the case's ref moved.
check() {
	case $1 in
	0) ;;
	1) grep -q "^dsv: error: " err || { echo "no error message:"; cat err; return 1; }
	   [ -z "$(ls .dsv/tmp)" ] || { echo "a failure left .dsv/tmp/$(ls .dsv/tmp)"; return 1; } ;;
	137) ;;
	*) echo "died with status $1:"; cat err; return 1 ;;
	esac
	git_ for-each-ref --format='%(refname) %(objectname)' >refs.now
	grep -v "^$ref " ../refs.base >refs.want
	grep -v "^$ref " refs.now >refs.got
	test_cmp refs.want refs.got || { echo "another ref moved"; return 1; }
	was=$(grep "^$ref " ../refs.base) now=$(grep "^$ref " refs.now)
	if [ "$1" = 1 ] || { [ "$1" = 137 ] && [ "$was" = "$now" ]; }; then
		[ "$was" = "$now" ] || { echo "$ref moved by a failed command"; return 1; }
	else
		[ "$ref" = - ] || [ "$was" != "$now" ] || { echo "succeeded, $ref unmoved"; return 1; }
		result >got && test_cmp ../expect.$name got || { echo "a different result"; return 1; }
		echo moved
	fi
	dsv fsck >fsck.out 2>&1 || { echo "fsck failed:"; cat fsck.out; return 1; }
	# an interrupted run keeps its checkpoints (train --resume reads them)
	for id in $(sed -n "s/^checkpoint //p" .dsv/runs/* 2>/dev/null); do
		d=${id%${id#??}}
		test -f .dsv/objects/$d/${id#??} || { echo "checkpoint $id is gone"; return 1; }
	done
	for r in $versions; do
		echo "$r $(dsv export $r | cksum)" || return 1
	done >exports.now
	for r in $versions; do grep "^$r " ../exports.base; done >exports.want
	test_cmp exports.want exports.now || { echo "an earlier version changed"; return 1; }
}

# After a kill that left its ref where it was, gc clears what the kill left
# in .dsv/tmp and keeps what a re-run needs; the command run again (train
# continues its run) succeeds with the uninterrupted result. Each ref lock
# the kill left is removed first, as the error message says (git's way: a
# stale lock is never taken for a free one).
rerun() {
	dsv gc --grace 0 >gc.out 2>&1 || { echo "gc failed:"; cat gc.out; return 1; }
	[ -z "$(ls .dsv/tmp)" ] || { echo "gc left .dsv/tmp/$(ls .dsv/tmp)"; return 1; }
	c=$cmd
	[ $name = train ] && [ -e .dsv/runs/m ] && cmd="$cmd --resume"
	rc=$(attempt "")
	while lock=$(sed -n "s/^dsv: error: .* is locked: '\(.*\)' exists (if no other.*/\1/p" err) &&
	      [ "$rc" = 1 ] && [ -n "$lock" ] && rm "$lock"; do
		rc=$(attempt "")
	done
	cmd=$c
	[ "$rc" = 0 ] || { echo "the re-run failed ($rc):"; cat err; return 1; }
	versions="main b q re src" && check 0 >/dev/null
}

# The n to try for a kind called $1 times: each when FULL or $1 <= 4, else
# the first, the middle and the last two (about to record).
points() {
	if [ -n "$DSV_CRASH_FULL" ] || [ "$1" -le 4 ]; then
		seq 1 "$1"
	else
		printf '%s\n' 1 $(($1 / 2)) $(($1 - 1)) $1
	fi
}

# sweep PREFIX COUNTS: PREFIX<kind>:<n> for each point of each kind of
# COUNTS ("write W fsync F rename R alloc A", as DSV_FAULT=count prints).
sweep() {
	p=$1 && shift
	while [ $# -ge 2 ]; do
		for n in $(points $2); do echo $p$1:$n; done
		shift 2
	done
}

# The kills for COUNTS: before the first write, at the last rename (about
# to record) and amid the allocations; when FULL, at every point.
kills() {
	if [ -n "$DSV_CRASH_FULL" ]; then
		sweep kill: "$@"
	else
		[ $2 = 0 ] || echo kill:write:1
		[ $6 = 0 ] || echo kill:rename:$6
		[ $8 = 0 ] || echo kill:alloc:$(($8 / 2 + 1))
	fi
}

# after:SECONDS for $nkills kills at random times within the run from time
# $1 to $2 (seconds), the same for a seed and a case number $3.
timed() {
	awk -v a="$1" -v b="$2" -v k="$nkills" -v s="$(($seed + $3))" 'BEGIN {
		srand(s); for (i = 0; i < k; i++) printf "after:%.3f\n", rand() * (b - a) }'
}

# one SPEC: the case with DSV_FAULT=SPEC in a fresh copy of the base;
# prints "ok", "failed", "killed" or what went wrong.
one() {
	rm -rf work && cp -a base work && cd work || return 1
	rc=$(attempt "$1") versions="main re"
	moved=$(check "$rc" 2>&1) || { echo "$name $1: $moved"; return 1; }
	if [ "$rc" = 137 ] && [ -z "$moved" ]; then
		r=$(rerun 2>&1) || { echo "$name $1, re-run: $r"; return 1; }
	fi
	cd .. && case $rc in 0) echo ok ;; 1) echo failed ;; *) echo killed ;; esac
}

seed=${DSV_CRASH_SEED:-$$} nkills=${DSV_CRASH_KILLS:-2}
[ -n "$DSV_CRASH_FULL" ] && nkills=${DSV_CRASH_KILLS:-20}
echo "  seed: $seed (DSV_CRASH_SEED), $nkills timed kills a command (DSV_CRASH_KILLS)"
printf '%s\n' "$cases" >cases.txt
ncase=0
while IFS='	' read -r name ref sig cmd; do
	ncase=$((ncase + 1))
	test_expect_success "$name: a fault or a kill at any point loses nothing" '
		rm -rf work && cp -a base work && cd work &&
		t0=$(date +%s.%N) && rc=$(attempt count) && t1=$(date +%s.%N) &&
		test "$rc" = 0 || { cat err; exit 1; }
		result >../expect.$name &&
		counts=$(sed -n "s/^dsv: fault counts: //p" err) && cd .. &&
		specs=$(sweep "" $counts; kills $counts
			timed $t0 $t1 $ncase) &&
		failed=0 killed=0 &&
		for spec in $specs; do
			r=$(one $spec) || { echo "$r"; exit 1; }
			[ "$r" = failed ] && failed=$((failed + 1))
			[ "$r" = killed ] && killed=$((killed + 1))
		done
		echo "$name ($counts): $failed failed cleanly, $killed killed and re-ran" >summary &&
		test $failed -gt 0
	'
	sed "s/^/  result: /" summary 2>/dev/null && rm -f summary
done <cases.txt

test_done
