#!/bin/sh
# Remotes: clone, fetch, pull, push and remote on paths, as git's commands
# of those names behave; a corrupt object at the source never lands; a push
# that fails or is killed at any write, fsync, rename or allocation leaves
# the remote's refs old or new and its store passing fsck.
. "$(dirname "$0")/lib.sh"

G() { git --git-dir .dsv/lineage "$@"; }
zcat "$DEMO/web-a.jsonl.gz" | head -n 150 >a.jsonl
zcat "$DEMO/web-a.jsonl.gz" | sed -n 151,220p >b.jsonl
zcat "$DEMO/web-a.jsonl.gz" | sed -n 221,280p >c.jsonl
zstd -qdc "$DEMO/web-b.jsonl.zst" | head -n 60 >d.jsonl
zstd -qdc "$DEMO/web-b.jsonl.zst" | sed -n 61,120p >e.jsonl
dsv init -q origin && cd origin && dsv commit -q ../a.jsonl -m a &&
	dsv tag v1 main && dsv derive filter main --where "text_bytes >= 1000" \
		-o long -m long -q && cd .. || exit 1
top=$(pwd)

# Every version a repository's refs name, exported, one checksum each.
exports() { for r in "$@"; do echo "$r $(dsv export "$r" | cksum)"; done; }

test_expect_success 'clone: the same lineage and exports, fsck ok, main tracks origin/main' '
	dsv clone origin clone >out && grep -q "^Cloning into .clone.\.\.\.$" out &&
	(cd origin && dsv log --json --all >../log.a && exports main long v1 >../exp.a) &&
	cd clone && dsv log --json --all >../log.b &&
	exports main origin/long v1 | sed "s|^origin/||" >../exp.b &&
	test_cmp ../log.a ../log.b && test_cmp ../exp.a ../exp.b &&
	dsv fsck >fsck.out && tail -n 1 fsck.out | grep -qx ok &&
	! grep -q "not in the" fsck.out &&
	test "$(G config branch.main.remote)" = origin &&
	test "$(G config branch.main.merge)" = refs/heads/main &&
	dsv remote -v | grep -qx "origin	$top/origin (fetch)" &&
	G remote -v | grep -q "^origin	$top/origin (fetch)$" &&
	test "$(dsv branch | cut -c3- | cut -d" " -f1)" = main
'

test_expect_success 'origin/NAME resolves: log, export; log shows the remote refs' '
	cd clone && dsv log --oneline origin/long >out && test $(wc -l <out) = 2 &&
	dsv log --oneline -n 1 main | grep -q "(HEAD -> main, origin/main, tag: v1)" &&
	dsv export origin/long | cmp -s - "$(cd ../origin && dsv export long >../l.jsonl && echo ../l.jsonl)" &&
	dsv log --oneline --all | grep -q "(origin/long)" && ! dsv log 2>&1 | grep -q warning
'

test_expect_success 'switch NAME makes a branch from origin/NAME that tracks it' '
	cd clone && dsv switch long >out && grep -q "set up to track .origin/long." out &&
	test "$(G config branch.long.remote)" = origin &&
	test "$(G rev-parse long)" = "$(G rev-parse origin/long)" && dsv switch main >/dev/null
'

test_expect_success 'derive in the clone, push: the origin has the branch, the same records, fsck ok' '
	cd clone && dsv derive sample main --fraction 0.5 --seed 3 -o half -m half -q &&
	dsv push origin half >out && grep -q "\* \[new branch\] *half -> half" out &&
	test "$(G rev-parse origin/half)" = "$(G rev-parse half)" &&
	dsv export half >../h.clone && cd ../origin &&
	dsv export half | test_cmp ../h.clone - && dsv fsck >fsck.out &&
	tail -n 1 fsck.out | grep -qx ok && ! grep -q "not in the" fsck.out &&
	test -z "$(ls .dsv/tmp)"
'

test_expect_success 'push with nothing to do' '
	cd clone && dsv push origin half >out && grep -qx "Everything up-to-date" out &&
	dsv push --json origin half | grep -q "\"status\": \"up-to-date\""
'

test_expect_success 'pull fast-forwards; fetch --json says what moved' '
	(cd origin && dsv commit -q ../b.jsonl -m b --append) &&
	cd clone && dsv fetch --json >f.json && python3 -c "
import json; d = json.load(open(\"f.json\"))
r = [x for x in d[\"refs\"] if x[\"ref\"] == \"refs/remotes/origin/main\"][0]
assert r[\"status\"] == \"fast-forward\" and d[\"commits\"] == 1 and d[\"objects\"] >= 1, d" &&
	dsv pull >out && grep -q "^Fast-forward$" out &&
	test "$(G rev-parse main)" = "$(cd ../origin && G rev-parse main)" &&
	dsv export main | cmp -s - "$(cd ../origin && dsv export main >../m.jsonl && echo ../m.jsonl)" &&
	dsv pull >out && grep -qx "Already up to date." out && dsv fsck >/dev/null
'

test_expect_success 'diverged: pull and push refused, nothing changed; push --force' '
	(cd origin && dsv commit -q ../c.jsonl -m "origin c" --append) &&
	cd clone && dsv commit -q ../d.jsonl -m "clone d" --append &&
	mine=$(G rev-parse main) theirs=$(cd ../origin && G rev-parse main) &&
	test_must_fail dsv pull 2>err && grep -q "have diverged" err && grep -q "derive mix" err &&
	test "$(G rev-parse main)" = "$mine" &&
	test_must_fail dsv push 2>err >out && grep -q "! \[rejected\] *main -> main (non-fast-forward)" out &&
	grep -q "failed to push some refs" err &&
	test "$(cd ../origin && G rev-parse main)" = "$theirs" &&
	dsv push --force >out && grep -q "+ .*main -> main  (forced update)" out &&
	test "$(cd ../origin && G rev-parse main)" = "$mine" &&
	(cd ../origin && dsv fsck >/dev/null && dsv export main) | cmp -s - "$(dsv export main >../m2.jsonl && echo ../m2.jsonl)"
'

test_expect_success 'tags: push --tags, fetched tags, a local tag is not clobbered' '
	cd clone && dsv tag v2 half && dsv push --tags >out && grep -q "\* \[new tag\] *v2 -> v2" out &&
	(cd ../origin && test "$(G rev-parse v2)" = "$(cd ../clone && G rev-parse v2)" &&
		dsv tag v3 long && dsv tag -f v1 long) &&
	dsv fetch >out && grep -q "\* \[new tag\] *v3 -> v3" out &&
	grep -q "! \[rejected\] *v1 -> v1 (would clobber existing tag)" out &&
	test "$(G rev-parse v1)" != "$(G rev-parse long)" &&
	test_must_fail dsv push --tags 2>err >out && grep -q "v1 -> v1 (already exists)" out
'

test_expect_success 'gc in the clone keeps what origin/* reaches' '
	cd clone && dsv switch main >/dev/null && dsv branch -d long >/dev/null &&
	dsv gc --grace 0 >/dev/null && dsv fsck >/dev/null &&
	dsv export origin/long | cmp -s - ../l.jsonl
'

test_expect_success 'a corrupt object at the source fails the fetch, naming it; nothing is referenced' '
	cd origin && ls .dsv/objects/*/* | sort >../objs.before &&
	dsv commit -q ../e.jsonl -b fresh -m fresh && ls .dsv/objects/*/* | sort >../objs.after &&
	f=$(comm -13 ../objs.before ../objs.after | xargs ls -S | head -n 1) &&
	id=$(echo "$f" | sed "s|.*objects/\(..\)/|\1|") && cp "$f" ../saved &&
	python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, \"rb\").read()); b[len(b) // 2] ^= 0xff
open(p, \"wb\").write(b)" "$f" && cd ../clone &&
	G for-each-ref >refs.before &&
	test_must_fail dsv fetch 2>err && grep -q "cannot copy object $id: corrupt: " err &&
	test $(grep -o "$id" err | wc -l) = 1 &&
	test_must_fail dsv fetch -j 4 2>err4 && test_cmp err err4 &&
	G for-each-ref >refs.after && test_cmp refs.before refs.after &&
	test ! -e .dsv/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-) &&
	test -z "$(ls .dsv/tmp)" && dsv fsck >/dev/null
'

test_expect_success 'the fetch works once the object is repaired' '
	cd origin && f=$(comm -13 ../objs.before ../objs.after | xargs ls -S | head -n 1) &&
	cp ../saved "$f" && cd ../clone && dsv fetch >/dev/null &&
	test "$(G rev-parse origin/fresh)" = "$(cd ../origin && G rev-parse fresh)" && dsv fsck >/dev/null
'

test_expect_success 'bad remote paths and names get clear errors' '
	cd clone && mkdir -p ../plain &&
	test_must_fail dsv remote add o2 ../nowhere 2>err && grep -q "remote .\.\./nowhere.: No such file" err &&
	test_must_fail dsv remote add o2 ../plain 2>err && grep -q "is not a dsv repository" err &&
	test_must_fail dsv remote add o2 ssh://host/x 2>err && grep -q "only paths are supported" err &&
	test_must_fail dsv remote add "a b" ../origin 2>err && grep -q "invalid remote name .a b." err &&
	test_must_fail dsv remote add origin ../origin 2>err && grep -q "remote .origin. already exists" err &&
	test_must_fail dsv fetch nope 2>err && grep -q "no remote .nope." err &&
	test_must_fail dsv push nope 2>err && grep -q "no remote .nope." err &&
	test_must_fail dsv remote remove nope 2>err && grep -q "no remote .nope." err &&
	test_must_fail dsv push origin nobranch 2>err && grep -q "no branch .nobranch. to push" err &&
	cd .. && test_must_fail dsv clone nowhere 2>err && grep -q "No such file" err &&
	test_must_fail dsv clone plain 2>err && grep -q "not a dsv repository" err &&
	test_must_fail dsv clone origin clone 2>err && grep -q "already exists and is not an empty directory" err &&
	test ! -e nowhere
'

test_expect_success 'remote add, fetch, remove: its refs go with it; a clone of the .dsv directory' '
	cd clone && dsv remote add o2 ../origin/.dsv && dsv fetch -q o2 &&
	test -n "$(G for-each-ref refs/remotes/o2)" && dsv remote | grep -qx o2 &&
	dsv remote remove o2 && test -z "$(G for-each-ref refs/remotes/o2)" &&
	! dsv remote | grep -q o2 && cd .. && dsv clone -q origin/.dsv dotclone &&
	(cd dotclone && dsv fsck >/dev/null && dsv remote -v | grep -q "origin/.dsv (fetch)")
'

test_expect_success 'a clone whose fetch fails leaves no directory' '
	cd origin && f=$(comm -13 ../objs.before ../objs.after | xargs ls -S | head -n 1) &&
	python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, \"rb\").read()); b[len(b) // 2] ^= 0xff
open(p, \"wb\").write(b)" "$f" && cd .. &&
	test_must_fail dsv clone origin broken 2>err && grep -q corrupt err && test ! -e broken &&
	cp saved "origin/$f"
'

test_expect_success '-j N: a bad N is refused; -j 1 and --jobs=4 clone the same, no bar off a terminal' '
	{ dsv clone -j -1 origin jbad 2>err; test $? = 2; } && grep -q "\-j must be 0\.\.64" err &&
	test ! -e jbad && { dsv clone -j x origin jbad 2>err; test $? = 2; } && test ! -e jbad &&
	(cd clone && { dsv fetch -j 65 2>../err; test $? = 2; } && { dsv push -j 65 2>../err; test $? = 2; }) &&
	dsv clone -j 1 origin j1 >/dev/null 2>err1 && dsv clone --jobs=4 origin j4 >/dev/null 2>err4 &&
	test ! -s err1 && test ! -s err4 &&
	(cd j1 && find .dsv/objects -type f | sort && G for-each-ref && dsv export main | cksum) >j1.out &&
	(cd j4 && find .dsv/objects -type f | sort && G for-each-ref && dsv export main | cksum) >j4.out &&
	test_cmp j1.out j4.out && (cd j4 && dsv fsck >fsck.out && ! grep -q "not in the" fsck.out)
'

# ---- a push or a fetch failed or killed anywhere ----------------------------

# r: the remote, c: its clone with a new version on main (new shard, order),
# f: a clone of r from before c pushes, rn: r after c pushed.
rm -rf r c f rn && dsv init -q r && (cd r && dsv commit -q ../a.jsonl -m a) &&
	dsv clone -q r c && dsv clone -q r f &&
	(cd c && dsv commit -q ../d.jsonl -m d --append &&
	dsv derive sample main --fraction 0.5 --seed 1 -o s -m s -q) &&
	cp -a r r0 && cp -a c c0 && cp -a f f0 &&
	(cd c && dsv push -q origin main s) && cp -a r rn || exit 1
old=$(cd r0 && G rev-parse main) new=$(cd c && G rev-parse main)
(cd r0 && dsv export main | cksum) >exp.old
(cd c && dsv export main | cksum) >exp.new

# transfer_fault OP SPEC: from fresh copies, c pushes main and s to r (OP
# push), or f fetches from r after that push (OP fetch), with DSV_FAULT=SPEC
# and -j $J (default 1: the objects in turn, so that the n-th fault is the
# same one in every run); prints "ok", "failed" or "killed", or what is
# wrong. The receiving side holds the old or the new main, passes fsck,
# exports what it holds, and takes the same transfer again after a kill.
transfer_fault() {
	rm -rf r c f
	if [ $1 = push ]; then
		cp -a r0 r && cp -a c0 c && from=c to=r ref=main &&
			set -- "$2" push -j ${J:-1} origin main s
	else
		cp -a rn r && cp -a f0 f && from=f to=f ref=origin/main &&
			set -- "$2" fetch -j ${J:-1} origin
	fi || return 1
	spec=$1 && shift
	(cd $from && DSV_FAULT=$spec "$DSV" "$@" >/dev/null 2>../err)
	rc=$?
	cd $to || return 1
	now=$(G rev-parse $ref)
	case $rc in
	0) state=ok; [ "$now" = "$new" ] || { echo "$spec: done, $ref not moved"; return 1; } ;;
	1) state=failed; grep -q "^dsv: error: " ../err || { echo "$spec: no error message"; return 1; }
	   [ "$now" = "$old" ] || { echo "$spec: $ref moved by a failure"; return 1; }
	   [ -z "$(ls .dsv/tmp)" ] || { echo "$spec: a failure left .dsv/tmp/$(ls .dsv/tmp)"; return 1; } ;;
	137) state=killed
	   [ "$now" = "$old" ] || [ "$now" = "$new" ] || { echo "$spec: $ref is $now"; return 1; } ;;
	*) echo "$spec: died with $rc"; cat ../err; return 1 ;;
	esac
	dsv fsck >fsck.out 2>&1 || { echo "$spec: fsck failed"; cat fsck.out; return 1; }
	if [ "$now" = "$new" ]; then want=../exp.new; else want=../exp.old; fi
	dsv export $ref | cksum | cmp -s - $want || { echo "$spec: $ref exports otherwise"; return 1; }
	if [ $state = killed ]; then
		dsv gc --grace 0 >/dev/null 2>&1 && (cd ../$from && "$DSV" "$@" -q) &&
			[ "$(G rev-parse $ref)" = "$new" ] && dsv fsck >/dev/null &&
			dsv export $ref | cksum | cmp -s - ../exp.new ||
			{ echo "$spec: the transfer after a kill failed"; return 1; }
	fi
	cd .. && echo $state
}

# what the receiving side of the last transfer_fault holds
held() {
	(cd $1 && find .dsv/objects -type f | sort && G for-each-ref &&
		dsv export $2 | cksum && dsv fsck)
}

for op in push fetch; do
	test_expect_success "a plain $op of the sweep base works, the same with -j 4 as with -j 1" '
		r=$(transfer_fault $op "") && test "$r" = ok &&
		if [ $op = push ]; then held r main; else held f origin/main; fi >held.1 &&
		r=$(J=4 transfer_fault $op "") && test "$r" = ok &&
		if [ $op = push ]; then held r main; else held f origin/main; fi >held.4 &&
		test_cmp held.1 held.4
	'
	for kind in write fsync rename alloc; do
		# every allocation with DSV_CRASH_FULL=1, else every 5th
		step=1 && [ $kind = alloc ] && [ -z "$DSV_CRASH_FULL" ] && step=5
		test_expect_success "every $kind along a $op can fail: old or new, fsck ok" '
			n=1 ok_run=0 failures=0
			while [ $ok_run -lt 2 ] && [ $n -le 200 ]; do
				r=$(transfer_fault $op $kind:$n) || { echo "$r"; exit 1; }
				case "$r" in
				ok) ok_run=$((ok_run + 1)) ;;
				failed) ok_run=0; failures=$((failures + 1)) ;;
				*) echo "$r"; exit 1 ;;
				esac
				n=$((n + step))
			done
			echo "  result: $op, $kind: $failures injected failures, all clean"
			test $failures -gt 0
		'
	done
	rm -rf r c f
	if [ $op = push ]; then
		cp -a r0 r && cp -a c0 c &&
		total=$(cd c && DSV_FAULT=count "$DSV" push -j 1 origin main s 2>&1 >/dev/null)
	else
		cp -a rn r && cp -a f0 f &&
		total=$(cd f && DSV_FAULT=count "$DSV" fetch -j 1 origin 2>&1 >/dev/null)
	fi
	total=$(echo "$total" | sed -n "s/^dsv: fault counts: write \([0-9]*\) fsync \([0-9]*\) rename \([0-9]*\) alloc \([0-9]*\)$/\1 \2 \3 \4/p")
	test_expect_success "a $op killed at each write, fsync and rename: old or new, fsck ok, again works" '
		set -- $total && test -n "$1" && kills=0 &&
		for kind in write:$1 fsync:$2 rename:$3; do
			k=${kind%:*} m=${kind#*:} n=1
			while [ $n -le $m ]; do
				r=$(transfer_fault $op kill:$k:$n) || { echo "$r"; exit 1; }
				[ "$r" = killed ] || { echo "kill:$k:$n: $r"; exit 1; }
				kills=$((kills + 1)) n=$((n + 1))
			done
		done
		echo "  result: $op: $kills kills, all clean"
	'
done

test_done
