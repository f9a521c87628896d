#!/bin/sh
# t0060-readonly.sh: a repository the user cannot write (a read-only mount,
# or a directory another user owns): every read command answers as it does
# on the writable repository, every write stops at once with one error, and
# nothing in the repository changes. As root the script runs itself again in
# a private mount namespace to make the read-only bind mount; where that is
# not permitted the mount cases are skipped.
if [ -z "${DSV_T0060_NS:-}" ] && [ "$(id -u)" = 0 ] &&
   unshare -m true 2>/dev/null; then
	DSV_T0060_NS=1 exec unshare -m sh "$0"
fi
. "$(dirname "$0")/lib.sh"
umask 022

REPO=$SCRATCH/repo
mkdir "$REPO" && cd "$REPO" || exit 1
printf 'n_layer = 1\nn_head = 2\nn_embd = 32\nseq_len = 32\nbatch_size = 4\nmax_steps = 20\nlr = 0.003\nwarmup_steps = 2\neval_every = 10\neval_tokens = 1024\ncheckpoint_every = 0\nseed = 1\n' >../tiny.conf
{ dsv init -q . && dsv commit "$DEMO/web-a.jsonl.gz" -m web -q &&
  dsv derive sample main --n 100 --seed 1 -o s -m s -q && dsv tag v1 s &&
  dsv tokenizer train main --vocab 300 -o tok -q &&
  dsv train main --tokenizer tok --config ../tiny.conf --valid s -o tiny -m tiny -q
} || exit 1
H=$(dsv diff --records main s | sed -n 's/^- \([0-9a-f]\{32\}\)  .*/\1/p' | head -1)

# AS: how to run dsv as the user who cannot write the repository
AS=
# The read commands, their outputs one after another. eval is only run:
# its loss is a floating sum.
reads() {
	cd "$REPO" || return 1
	for c in "log" "log --graph" "show v1" "ls s" "cat main --limit 3" \
		 "export s" "export s --format text" "diff main s" "audit tiny" \
		 "compare tiny tiny" "blame $H" "status" "fsck" "branch" "tag" \
		 "generate tiny --prompt a --max-tokens 8 --seed 1" \
		 "gc --dry-run --grace 0"; do
		echo "== dsv $c" && $AS "$DSV" $c ||
			{ echo "dsv $c failed" >&2; return 1; }
	done
	$AS "$DSV" eval tiny s >/dev/null
}

# Each write command exits 1 with the one line "repository ... is
# read-only: $1" before it does anything.
writes() {
	cd "$REPO" || return 1
	for c in "commit ../tiny.conf -m x" "derive sample main --n 5 -o x -m x" \
		 "branch b" "branch -d s" "tag t" "tag -d v1" \
		 "fsck --rebuild-index" "gc" "repack main" \
		 "tokenize main --tokenizer tok" \
		 "tokenizer train main --vocab 300 -o t2" \
		 "train main --tokenizer tok --config ../tiny.conf -o m2" \
		 "classifier train main --label q -o c" \
		 "eval tiny s --column loss -o e" \
		 "export main --format tokens --tokenizer tok -o ../t.bin"; do
		$AS "$DSV" $c >/dev/null 2>../err
		rc=$?
		test $rc -eq 1 && test "$(wc -l <../err)" -eq 1 &&
		grep -q "^dsv: error: repository '$REPO/.dsv' is read-only: $1\$" ../err ||
			{ echo "dsv $c: exit $rc"; cat ../err; return 1; }
	done
}

# Without index/ (a cache, which a user may delete) a read-only repository
# cannot make an empty one: every command stops, naming the fix.
no_index() {
	cd "$REPO" || return 1
	$AS "$DSV" log >/dev/null 2>../err
	rc=$?
	test $rc -eq 1 && test "$(wc -l <../err)" -eq 1 &&
	grep -q "^dsv: error: index: '$REPO/.dsv/index' is missing and the repository is read-only: a user who can write it rebuilds it with 'dsv fsck --rebuild-index'\$" ../err ||
		{ echo "dsv log: exit $rc"; cat ../err; return 1; }
}

# Every path under .dsv and every file's bytes, but lock.mdb: LMDB readers
# write their slot into it wherever they can.
snapshot() {
	(cd "$REPO" && find .dsv | sort &&
	 find .dsv -type f ! -name lock.mdb -exec sha256sum {} + | sort -k 2)
}

reads >../expect 2>../err || { cat ../err; exit 1; }
# without its cache file the lineage is read from git and nothing appended
rm .dsv/lineage/dsv-cache
snapshot >../before

ro_mount() {
	mount --bind "$1" "$1" 2>/dev/null || return 1
	mount -o remount,ro,bind "$1" 2>/dev/null || { umount "$1"; return 1; }
}
if [ -n "${DSV_T0060_NS:-}" ] && ro_mount "$REPO"; then
	test_expect_success 'read-only mount: every read answers as on the writable repository' '
		reads >../actual && test_cmp ../expect ../actual
	'
	test_expect_success 'read-only mount: every write stops at once, saying so' '
		writes "Read-only file system"
	'
	umount "$REPO"
	cd "$REPO" || exit 1
	test_expect_success 'read-only mount: nothing changed' '
		snapshot >../after && test_cmp ../before ../after
	'
	mv .dsv/index ../index.away && ro_mount "$REPO"
	test_expect_success 'read-only mount without index/: the error names the fix' '
		no_index
	'
	umount "$REPO"
	cd "$REPO" && mv ../index.away .dsv/index || exit 1
else
	test_skip 'read-only mount' 'needs root, unshare -m and mount --bind (not permitted here)'
fi

# Another user's repository: as root, run dsv as nobody; else take our own
# write permission away. LMDB readers still need lock.mdb writable.
perm=
if [ "$(id -u)" != 0 ]; then
	chmod -R a-w .dsv && perm=1
elif command -v setpriv >/dev/null 2>&1 &&
     setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
	# the scratch directory is mktemp's 0700; the repository is as dsv
	# made it
	chmod 755 "$SCRATCH" && perm=1
fi
if [ -n "$perm" ]; then
	chmod a-w .dsv/index/lock.mdb
	test_expect_success 'permissions: a read-only lock.mdb is named in the error' '
		test_must_fail $AS "$DSV" log 2>../err >/dev/null &&
		grep -q "Permission denied (a reader needs to write its lock.mdb)" ../err
	'
	chmod a+w .dsv/index/lock.mdb
	test_expect_success 'permissions: every read answers as on the writable repository' '
		reads >../actual && test_cmp ../expect ../actual
	'
	test_expect_success 'permissions: every write stops at once, saying so' '
		writes "Permission denied"
	'
	test_expect_success 'permissions: nothing changed' '
		snapshot >../after && test_cmp ../before ../after
	'
	chmod u+w .dsv && mv .dsv/index ../index.away && chmod u-w .dsv
	test_expect_success 'permissions without index/: the error names the fix, which works' '
		no_index && chmod u+w .dsv && dsv fsck --rebuild-index >/dev/null &&
		chmod -R a-w .dsv && chmod a+w .dsv/index/lock.mdb &&
		$AS "$DSV" blame $H >../actual && sed -n "/^== dsv blame/,/^== /p" ../expect |
		sed "1d;\$d" | test_cmp - ../actual
	'
	chmod -R u+w .dsv
else
	test_skip 'permissions' 'root without setpriv(1) to run as nobody'
fi

test_done
