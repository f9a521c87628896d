#!/bin/sh
# Fault injection (STYLE.md): make the Nth write, fsync, rename or allocation
# of a commit fail, for every N along it, and show after each that fsck
# passes and the previous version exports unchanged.
. "$(dirname "$0")/lib.sh"

mkdir base && cd base && dsv init -q . &&
	zcat "$DEMO/web-a.jsonl.gz" | head -n 40 >../v1.jsonl &&
	zstd -qdc "$DEMO/web-b.jsonl.zst" | head -n 40 >../v2.jsonl &&
	dsv commit ../v1.jsonl -m v1 >/dev/null && cd ..
before=$(git --git-dir base/.dsv/lineage rev-parse main)

# Runs the commit with the Nth call of one kind failing, in a fresh copy of
# the base repository; prints "ok" when the commit succeeded, "failed" when it
# failed cleanly, and anything else when the repository is damaged.
one_fault() {
	rm -rf work && cp -a base work && cd work || return 1
	if DSV_FAULT="$1:$2" "$DSV" commit --append ../v2.jsonl -m v2 >/dev/null 2>err; then
		state=ok; cat ../v1.jsonl ../v2.jsonl >../expect
	else
		grep -q "^dsv: error: " err || { echo "no error message for $1:$2"; cat err; return 1; }
		state=failed; cp ../v1.jsonl ../expect
		test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before" ||
			{ echo "$1:$2: branch moved after a failed commit"; return 1; }
	fi
	dsv fsck >fsck.out 2>&1 || { echo "$1:$2: fsck failed"; cat fsck.out; return 1; }
	# a commit whose index update failed says so, and fsck finds the gap
	if grep -q "warning: .*rebuild-index" err; then
		grep -q "records are not in the records index" fsck.out ||
			{ echo "$1:$2: fsck missed the index gap"; cat err fsck.out; return 1; }
		dsv fsck --rebuild-index >/dev/null && dsv fsck >fsck.out &&
			! grep -q "not in the records index" fsck.out ||
			{ echo "$1:$2: the rebuilt index is short"; return 1; }
		state=unindexed
	fi
	dsv export main -o ../got.jsonl || { echo "$1:$2: export failed"; return 1; }
	cmp -s ../expect ../got.jsonl || { echo "$1:$2: export differs ($state)"; return 1; }
	cd .. && echo "$state"
}

for kind in write fsync rename alloc; do
	test_expect_success "every $kind along a commit can fail and nothing is lost" '
		n=1 ok_run=0 failures=0 gaps=0
		while [ $ok_run -lt 3 ] && [ $n -le 400 ]; do
			r=$(one_fault '$kind' $n) || { echo "$r"; exit 1; }
			case "$r" in
			*ok) ok_run=$((ok_run + 1)) ;;
			*unindexed) ok_run=$((ok_run + 1)); gaps=$((gaps + 1)) ;;
			*failed) ok_run=0; failures=$((failures + 1)) ;;
			*) echo "$r"; exit 1 ;;
			esac
			n=$((n + 1))
		done
		echo "  result: '$kind': $failures injected failures, all clean; $gaps left the records index short, found by fsck"
		test $failures -gt 0
	'
done

test_done
