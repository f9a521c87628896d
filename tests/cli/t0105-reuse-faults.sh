#!/bin/sh
# Fault injection along a reusing commit and along gc (the pattern of
# t0050): the Nth write, fsync, rename or allocation fails, for every N;
# after each, fsck passes and every ref exports what it exported before.
. "$(dirname "$0")/lib.sh"

zcat "$DEMO/web-a.jsonl.gz" | head -n 60 >v1.jsonl
python3 "$TOP/tests/corpus.py" mutate v1.jsonl v2.jsonl --share 0.1 --seed 5 2>/dev/null
zstd -qdc "$DEMO/web-b.jsonl.zst" | head -n 30 >side.jsonl
mkdir base && cd base && dsv init -q . &&
	dsv commit -q ../v1.jsonl -m v1 && dsv commit -q ../side.jsonl --branch side -m side &&
	cd ..
before=$(git --git-dir base/.dsv/lineage rev-parse main)

# one_fault KIND N OP: OP is "commit" (a reusing commit of v2 on main) or
# "gc" (after deleting branch side). Prints ok / failed, or what is wrong.
one_fault() {
	rm -rf work && cp -a base work && cd work || return 1
	if [ "$3" = gc ]; then
		dsv branch -d side >/dev/null
		if DSV_FAULT="$1:$2" "$DSV" gc --grace 0 >/dev/null 2>err; then state=ok; else state=failed; fi
		cp ../v1.jsonl ../expect
	elif DSV_FAULT="$1:$2" "$DSV" commit ../v2.jsonl -m v2 >/dev/null 2>err; then
		state=ok; cp ../v2.jsonl ../expect
	else
		state=failed; cp ../v1.jsonl ../expect
		test "$(git --git-dir .dsv/lineage rev-parse main)" = "$before" ||
			{ echo "$1:$2: branch moved after a failed commit"; return 1; }
	fi
	if [ $state = failed ]; then
		grep -q "^dsv: error: " err || { echo "no error message for $1:$2"; cat err; return 1; }
	fi
	dsv fsck >fsck.out 2>&1 || { echo "$1:$2 $3: fsck failed"; cat fsck.out; return 1; }
	dsv export main -o ../got.jsonl || { echo "$1:$2 $3: export failed"; return 1; }
	cmp -s ../expect ../got.jsonl || { echo "$1:$2 $3: export differs ($state)"; return 1; }
	if [ "$3" = commit ]; then
		dsv export side | cmp -s - ../side.jsonl || { echo "$1:$2: side changed"; return 1; }
	fi
	cd .. && echo "$state"
}

for op in commit gc; do
	for kind in write fsync rename alloc; do
		test_expect_success "every $kind along a reusing $op can fail and nothing is lost" '
			n=1 ok_run=0 failures=0
			while [ $ok_run -lt 3 ] && [ $n -le 400 ]; do
				r=$(one_fault '$kind' $n '$op') || { echo "$r"; exit 1; }
				case "$r" in
				*ok) ok_run=$((ok_run + 1)) ;;
				*failed) ok_run=0; failures=$((failures + 1)) ;;
				*) echo "$r"; exit 1 ;;
				esac
				n=$((n + 1))
			done
			echo "  result: '$op' '$kind': $failures injected failures, all clean"
			true
		'
	done
done

test_done
