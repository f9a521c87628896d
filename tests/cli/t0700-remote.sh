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
	dsv push --force >out && grep -q "+ .*main -> main (forced update)$" out &&
	test "$(cd ../origin && G rev-parse main)" = "$mine" &&
	(cd ../origin && dsv fsck >/dev/null && dsv export main) | cmp -s - "$(dsv export main >../m2.jsonl && echo ../m2.jsonl)"
'

test_expect_success 'tags: push --tags, fetched tags, a local tag is not clobbered' '
	cd clone && dsv tag v2 half && dsv push --tags >out && grep -q "\* \[new tag\] *v2 -> v2" out &&
	(cd ../origin && test "$(G rev-parse v2)" = "$(cd ../clone && G rev-parse v2)" &&
		dsv tag v3 long && dsv tag -f v1 long) &&
	dsv fetch >out && grep -qx " \* \[new tag\]         v3         -> v3" out &&
	grep -qx " ! \[rejected\]        v1         -> v1  (would clobber existing tag)" out &&
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

# ---- prune, delete, clone --branch ------------------------------------------

# pr: main (HEAD), gone (a sample only it reaches), keep, tag t1; pc, pc2:
# its clones.
dsv init -q pr && (cd pr && dsv commit -q ../a.jsonl -m a &&
	dsv derive sample main --fraction 0.5 --seed 2 -o gone -m gone -q &&
	dsv commit -q ../b.jsonl -b keep -m keep && dsv tag t1 keep) &&
	dsv clone -q pr pc && dsv clone -q pr pc2 || exit 1

test_expect_success 'clone --branch: a branch tracked and checked out, a tag detached, unknown: no directory' '
	dsv clone -q -b keep pr cb && (cd cb && test "$(G symbolic-ref HEAD)" = refs/heads/keep &&
		test "$(G config branch.keep.merge)" = refs/heads/keep &&
		test "$(G rev-parse keep)" = "$(cd ../pr && G rev-parse keep)" && dsv fsck >/dev/null) &&
	dsv clone --branch=t1 pr ct >/dev/null 2>ct.err && grep -q "HEAD is detached at tag .t1." ct.err &&
	dsv clone --json -b t1 pr ct2 >ct.json && grep -q "\"branch\": \"t1\", \"detached\": true}" ct.json &&
	(cd ct && test "$(G rev-parse HEAD)" = "$(cd ../pr && G rev-parse t1)" &&
		test_must_fail G symbolic-ref -q HEAD && dsv status | grep -q "HEAD detached") &&
	test_must_fail dsv clone -b nope pr cn 2>err &&
	grep -qx "dsv: error: remote branch .nope. not found in upstream .origin." err && test ! -e cn &&
	test_must_fail dsv clone -b "a b" pr cn 2>err && grep -q "invalid name" err && test ! -e cn
'

# git fetch pads the source column to its longest name (at least 10), off
# a terminal leaving out one whose line would pass 80 columns
test_expect_success 'fetch lines are laid out as git lays them out' '
	(cd origin && dsv branch a-longer-name half && dsv branch b half &&
		dsv branch this-name-is-far-too-long-to-be-counted-in-git-s-widths half) &&
	cd clone && dsv fetch >out &&
	grep -qx " \* \[new branch\]      a-longer-name -> origin/a-longer-name" out &&
	grep -qx " \* \[new branch\]      b             -> origin/b" out &&
	grep -qx " \* \[new branch\]      this-name-is-far-too-long-to-be-counted-in-git-s-widths -> origin/this-name-is-far-too-long-to-be-counted-in-git-s-widths" out
'

test_expect_success 'fetch --prune removes only what the remote deleted; gc then frees only what it alone reached' '
	(cd pr && dsv branch -d gone >/dev/null && dsv gc --grace 0 >/dev/null &&
		find .dsv/objects -type f | sed "s|.*objects/||" | sort >../pr.objs) &&
	cd pc && dsv fetch >out && test ! -s out && G rev-parse -q --verify origin/gone >/dev/null &&
	G for-each-ref | grep -v origin/gone >../refs.want &&
	dsv fetch --prune >out && grep -qx " - \[deleted\] *(none) *-> origin/gone" out &&
	G for-each-ref >../refs.got && test_cmp ../refs.want ../refs.got &&
	find .dsv/objects -type f | sort >../pc.before && dsv gc --grace 0 >/dev/null &&
	find .dsv/objects -type f | sed "s|.*objects/||" | sort >../pc.objs &&
	test_cmp ../pr.objs ../pc.objs && test $(wc -l <../pc.before) -gt $(wc -l <../pc.objs) &&
	dsv fsck >/dev/null && dsv export origin/keep >/dev/null && dsv fetch -p >out && test ! -s out
'

test_expect_success 'remote.origin.prune and fetch.prune; --no-prune; pull --prune' '
	(cd pr && dsv branch x1 main && dsv branch x2 main && dsv branch x3 main) && cd pc &&
	dsv fetch -q && (cd ../pr && dsv branch -d x1 >/dev/null) &&
	G config remote.origin.prune true && dsv fetch --no-prune -q &&
	G rev-parse -q --verify origin/x1 >/dev/null && dsv fetch >out && grep -q "(none) *-> origin/x1" out &&
	G config --unset remote.origin.prune && G config fetch.prune true &&
	(cd ../pr && dsv branch -d x2 >/dev/null) && dsv fetch --json >f.json &&
	grep -q "\"ref\": \"refs/remotes/origin/x2\", \"status\": \"deleted\", \"old\": \"[0-9a-f]*\", \"new\": null" f.json &&
	G config --unset fetch.prune && (cd ../pr && dsv branch -d x3 >/dev/null) &&
	dsv pull -q && G rev-parse -q --verify origin/x3 >/dev/null &&
	dsv pull --prune >out && grep -q "(none) *-> origin/x3" out && grep -qx "Already up to date." out &&
	! G rev-parse -q --verify origin/x3 >/dev/null &&
	{ dsv fetch -p --no-prune 2>err; test $? = 2; }
'

test_expect_success 'push --delete and push :B: the remote branch and origin/B go; elsewhere fetch --prune' '
	cd pc && dsv branch dl main && dsv branch dl2 main && dsv push -q origin dl dl2 &&
	(cd ../pc2 && dsv fetch -q) && dsv push --delete origin dl >out &&
	grep -qx "To $top/pr" out && grep -qx " - \[deleted\] *dl" out && test $(wc -l <out) = 2 &&
	! G rev-parse -q --verify origin/dl >/dev/null && G rev-parse -q --verify dl >/dev/null &&
	dsv push origin :dl2 >out && grep -qx " - \[deleted\] *dl2" out &&
	(cd ../pr && test -z "$(G for-each-ref refs/heads/dl refs/heads/dl2)" && dsv fsck >/dev/null) &&
	cd ../pc2 && dsv fetch --prune >out && grep -q "(none) *-> origin/dl$" out &&
	grep -q "(none) *-> origin/dl2$" out && test -z "$(G for-each-ref refs/remotes/origin/dl)"
'

test_expect_success 'push --delete refuses the remote HEAD branch (unless receive.denyDeleteCurrent), a missing ref, an ambiguous one' '
	cd pc && main=$(cd ../pr && G rev-parse main) &&
	test_must_fail dsv push origin :main >out 2>err &&
	grep -qx " ! \[remote rejected\] main (deletion of the current branch prohibited)" out &&
	grep -q "refusing to delete the current branch: refs/heads/main" err &&
	grep -q "failed to push some refs" err && test "$(cd ../pr && G rev-parse main)" = "$main" &&
	G rev-parse -q --verify origin/main >/dev/null &&
	test_must_fail dsv push -d origin nope >out 2>err &&
	grep -q "unable to delete .nope.: remote ref does not exist" err &&
	(cd ../pr && dsv tag keep main) &&
	test_must_fail dsv push -d origin keep 2>err && grep -q "matches both a branch and a tag" err &&
	(cd ../pr && G rev-parse -q --verify refs/heads/keep && G rev-parse -q --verify refs/tags/keep) >/dev/null &&
	dsv push -d origin refs/tags/keep >/dev/null && dsv push -d origin t1 >out && grep -q "\[deleted\] *t1" out &&
	G rev-parse -q --verify t1 >/dev/null &&
	(cd ../pr && test -z "$(G tag)" && G rev-parse -q --verify refs/heads/keep >/dev/null) &&
	cp -a ../pr ../prx && (cd ../prx && G config receive.denyDeleteCurrent ignore) &&
	dsv remote add x ../prx && dsv push -q x :main && test -z "$(cd ../prx && G for-each-ref refs/heads/main)"
'

test_expect_success 'push --delete killed at its write, fsync and rename (packed-refs): the branch stays, fsck ok, a lock names itself' '
	cd pc && for k in write fsync rename; do
		rm -rf ../pk && cp -a ../pr ../pk && (cd ../pk && G pack-refs --all) &&
		{ dsv remote remove k 2>/dev/null; dsv remote add k ../pk; } &&
		{ DSV_FAULT=kill:$k:1 "$DSV" push -d k keep >/dev/null 2>&1; test $? = 137; } &&
		(cd ../pk && G rev-parse -q --verify refs/heads/keep >/dev/null && dsv fsck >/dev/null) &&
		test_must_fail dsv push -d k keep 2>err && grep -q "branch .keep. is locked: .*keep.lock. exists" err &&
		rm -f ../pk/.dsv/lineage/refs/heads/keep.lock ../pk/.dsv/lineage/packed-refs.lock &&
		dsv push -q -d k keep && (cd ../pk && test -z "$(G for-each-ref refs/heads/keep)" && dsv fsck >/dev/null) ||
		{ echo "kill:$k:1"; exit 1; }
	done
'

test_expect_success 'push --delete: bad input' '
	cd pc && { dsv push --delete 2>err; test $? = 2; } && grep -q "without any refs" err &&
	{ dsv push -d --tags origin x 2>err; test $? = 2; } && grep -q "incompatible with --tags" err &&
	test_must_fail dsv push -d origin main:main 2>err && grep -q "plain target ref names" err &&
	test_must_fail dsv push origin ":a b" 2>err && grep -q "invalid name" err &&
	test_must_fail dsv push -d origin refs/remotes/x 2>err && grep -q "only branches and tags" err &&
	test_must_fail dsv push -d nope x 2>err && grep -q "no remote .nope." err
'

# ---- fetch --prune-tags ---------------------------------------------------

# pt: main, tags k1 (kept) and d1..d4 (deleted there, one by one); ptc: its
# clone, with a tag of its own.
dsv init -q pt && (cd pt && dsv commit -q ../a.jsonl -m a &&
	for t in k1 d1 d2 d3 d4; do dsv tag $t main || exit 1; done) &&
	dsv clone -q pt ptc && (cd ptc && dsv tag mine main) || exit 1

test_expect_success 'fetch -p -P deletes the tags the remote lacks (ours too), as git prints it; -P or -p alone do not' '
	(cd pt && dsv tag -d d1 >/dev/null) && cd ptc &&
	dsv fetch >out && test ! -s out && dsv fetch -P >out && test ! -s out &&
	dsv fetch --prune >out && test ! -s out && dsv fetch --prune-tags -q &&
	G rev-parse -q --verify d1 >/dev/null && G rev-parse -q --verify mine >/dev/null &&
	G for-each-ref | grep -v "refs/tags/d1$\|refs/tags/mine$" >../refs.want &&
	dsv fetch -p -P >out && printf "From %s\n%s\n%s\n" "$top/pt" \
		" - [deleted]         (none)     -> d1" \
		" - [deleted]         (none)     -> mine" >expect &&
	test_cmp expect out && G for-each-ref >../refs.got && test_cmp ../refs.want ../refs.got &&
	test "$(G rev-parse k1)" = "$(cd ../pt && G rev-parse k1)" &&
	dsv fetch -p -P >out && test ! -s out && dsv fsck >/dev/null
'

test_expect_success 'remote.NAME.pruneTags and fetch.pruneTags, with pruning only; --no-prune and --no-prune-tags win; --json; pull' '
	(cd pt && dsv tag -d d2 >/dev/null) && cd ptc &&
	G config remote.origin.pruneTags true && dsv fetch -q &&
	G rev-parse -q --verify d2 >/dev/null && G config remote.origin.prune true &&
	dsv fetch --no-prune -q && G rev-parse -q --verify d2 >/dev/null &&
	dsv fetch --no-prune-tags -q && G rev-parse -q --verify d2 >/dev/null &&
	dsv fetch -P --no-prune -q && G rev-parse -q --verify d2 >/dev/null &&
	dsv fetch >out && grep -qx " - \[deleted\] *(none) *-> d2" out &&
	! G rev-parse -q --verify d2 >/dev/null &&
	G config --unset remote.origin.pruneTags && G config --unset remote.origin.prune &&
	G config fetch.pruneTags true && G config fetch.prune true &&
	(cd ../pt && dsv tag -d d3 >/dev/null) && G config remote.origin.pruneTags false &&
	dsv fetch -q && G rev-parse -q --verify d3 >/dev/null &&
	G config --unset remote.origin.pruneTags && dsv fetch --json >f.json &&
	grep -q "\"src\": \"d3\", \"ref\": \"refs/tags/d3\", \"status\": \"deleted\", \"old\": \"[0-9a-f]*\", \"new\": null" f.json &&
	python3 -c "import json; json.load(open(\"f.json\"))" &&
	(cd ../pt && dsv tag -d d4 >/dev/null) && dsv pull -q &&
	! G rev-parse -q --verify d4 >/dev/null && G rev-parse -q --verify k1 >/dev/null &&
	G config fetch.pruneTags maybe && dsv tag d5 main && G for-each-ref >../refs.before &&
	test_must_fail dsv fetch 2>err &&
	grep -q "bad value for .fetch.pruneTags. in the lineage config: .*maybe" err &&
	G for-each-ref >../refs.after && test_cmp ../refs.before ../refs.after &&
	G config --unset fetch.pruneTags && G config --unset fetch.prune &&
	{ dsv fetch -P --no-prune-tags 2>err; test $? = 2; } && grep -q "contradict" err
'

test_expect_success 'fetch -p -P: an annotated tag goes by its own id; a tag the remote moved is not clobbered' '
	cd ptc && GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t G tag -a ann -m ann main &&
	(cd ../pt && dsv commit -q ../b.jsonl -m b --append && dsv tag -f k1 main) &&
	dsv fetch -p -P >out && grep -qx " - \[deleted\] *(none) *-> ann" out &&
	grep -qx " - \[deleted\] *(none) *-> d5" out &&
	grep -qx " ! \[rejected\]        k1         -> k1  (would clobber existing tag)" out &&
	test -z "$(G for-each-ref refs/tags/ann refs/tags/d5)" &&
	test "$(G rev-parse k1)" != "$(cd ../pt && G rev-parse k1)" && dsv fsck >/dev/null
'

# The bars' lines: each bar started on a terminal ends erasing its line
# ("\r\033[K"), whether or not it drew (it draws at most every 0.1 s), so
# counting those counts the bars, with no timing involved.
if command -v script >/dev/null 2>&1; then
	test_expect_success 'a terminal gets a bar for the lineage and one for the objects; -q and --json none' '
		script -qec "\"$DSV\" clone pt tty1" /dev/null >tty.out 2>&1 &&
		bars() { python3 -c "import sys; print(open(sys.argv[1], \"rb\").read().count(b\"\\r\\x1b[K\"))" "$1"; } &&
		test "$(bars tty.out)" = 2 &&
		script -qec "\"$DSV\" clone -q pt tty2" /dev/null >tty.out 2>&1 && test ! -s tty.out &&
		script -qec "\"$DSV\" clone --json pt tty3" /dev/null >tty.out 2>&1 &&
		test "$(bars tty.out)" = 0 && tr -d "\r" <tty.out | python3 -c "import json, sys; json.load(sys.stdin)" &&
		(cd pt && dsv commit -q ../c.jsonl -m c --append) && cd tty1 &&
		script -qec "\"$DSV\" fetch" /dev/null >../tty.out 2>&1 && test "$(bars ../tty.out)" = 2 &&
		(cd ../pt && dsv commit -q ../d.jsonl -m d --append) &&
		script -qec "\"$DSV\" fetch -q" /dev/null >../tty.out 2>&1 && test ! -s ../tty.out &&
		(cd ../pt && dsv commit -q ../e.jsonl -m e --append) &&
		dsv fetch >out 2>err && test ! -s err && grep -q "^1 lineage commit, " out
	'
else
	test_skip 'a terminal gets a bar for the lineage and one for the objects; -q and --json none' 'no script(1)'
fi

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
