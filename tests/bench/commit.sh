#!/bin/sh
# commit.sh: the Foundation speed benchmark (issue 3). In one run, on one
# corpus from ../shared/bench/make_corpus.py: dsv commit (default level and
# --level 3) beside dvc add, zstd and SHA-256, and dsv export beside zstd -d;
# stored bytes, peak memory, and each figure against its target.
#
#   sh tests/bench/commit.sh            1 GiB corpus (MB=1024)
#   MB=64 sh tests/bench/commit.sh      a quick run
#   HISTORY=10000 sh tests/bench/commit.sh   also build a 10,000-version history
#                                       through the CLI and time log and audit
#   EXPORT_ONLY=1 MB=256 sh tests/bench/commit.sh   the reads only: dsv export
#                                       beside zstd -d and dsv fsck (every object
#                                       decoded and hashed) beside zstd -d plus
#                                       openssl's SHA-256; no dvc, one commit
#
# Work files (corpus, repositories, the DVC virtualenv) stay in
# tests/bench/work/ (ignored by git) and are reused by the next run.
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-1024}
HISTORY=${HISTORY:-0}
EXPORT_ONLY=${EXPORT_ONLY:-0}
W=$BENCH_WORK
CORPUS=$W/corpus-${MB}mb.jsonl
DSV=$BENCH_DSV
unset DSV_DIR
bench_author
export DVC_NO_ANALYTICS=1

mkdir -p "$W"
bench_begin "commit-${MB}mb"
echo "== dsv commit benchmark, corpus of $MB MiB"
bench_env

bench_corpus "$MB" "$CORPUS"
SIZE=$(bench_size "$CORPUS")
echo "corpus: $CORPUS, $SIZE bytes, $(wc -l < "$CORPUS") records"
# Every tool below reads the corpus from the page cache: warm it once.
cat "$CORPUS" > /dev/null

have_dsv=1
"$DSV" commit -h >/dev/null 2>&1 || {
	have_dsv=0
	echo "bench: '$DSV commit' does not work yet (run 'make'); skipping the dsv rows"
}

echo
echo "-- baselines"
if [ "$EXPORT_ONLY" = 0 ]; then
bench_time "zstd -3 -T0" "$SIZE" /dev/null zstd -3 -T0 -q -c "$CORPUS"
bench_time "zstd -1 -T1" "$SIZE" /dev/null zstd -1 -T1 -q -c "$CORPUS"
fi
bench_time "openssl dgst -sha256" "$SIZE" /dev/null openssl dgst -sha256 "$CORPUS"
[ "$EXPORT_ONLY" = 1 ] || bench_time "sha256sum" "$SIZE" /dev/null sha256sum "$CORPUS"
[ -f "$CORPUS.zst" ] || zstd -3 -T0 -q -c "$CORPUS" > "$CORPUS.zst"
bench_time "zstd -d" "$SIZE" /dev/null zstd -d -q -c "$CORPUS.zst"

echo
echo "-- dvc add (DVC from PyPI; stores the file uncompressed in .dvc/cache)"
if [ "$EXPORT_ONLY" = 1 ]; then
	echo "  skipped: EXPORT_ONLY=1"
elif bench_venv "$W/venv" dvc; then
	D=$W/dvc
	rm -rf "$D" && mkdir -p "$D"
	cp "$CORPUS" "$D/corpus.jsonl"   # dvc add works on a file inside its workspace
	(cd "$D" && "$W/venv/bin/dvc" init --no-scm -q)
	(cd "$D" && bench_time "dvc add" "$SIZE" "$W/logs/dvc-add.out" \
		"$W/venv/bin/dvc" add -q corpus.jsonl) || true
	bench_stored "dvc add" "$(bench_size "$D/.dvc/cache")" "$SIZE"
	echo "  ($("$W/venv/bin/dvc" --version), cache type: copy)"
	rm -f "$D/corpus.jsonl"
else
	echo "  skipped: DVC could not be installed"
fi

if [ "$have_dsv" = 1 ]; then
	echo
	echo "-- dsv ($("$DSV" --version 2>/dev/null || echo "version unknown"))"
	levels="default 3"
	[ "$EXPORT_ONLY" = 0 ] || levels=default
	for lv in $levels; do
		R=$W/dsv-$lv
		rm -rf "$R" && "$DSV" init "$R" >/dev/null
		set -- "$DSV" commit "$CORPUS" -m "bench corpus"
		[ "$lv" = default ] || set -- "$@" --level "$lv"
		name="dsv commit"
		[ "$lv" = default ] || name="dsv commit --level $lv"
		(cd "$R" && bench_time "$name" "$SIZE" "$W/logs/commit-$lv.out" "$@") || continue
		bench_stored "$name" "$(bench_size "$R/.dsv/objects")" "$SIZE"
		sed 's/^/    | /' "$W/logs/commit-$lv.out" | head -n 8
	done
	R=$W/dsv-default
	(cd "$R" && bench_time "dsv export" "$SIZE" /dev/null "$DSV" export main) || true
	# A verified read of every object: zstd -d and SHA-256 of the same bytes.
	[ "$EXPORT_ONLY" = 0 ] ||
		(cd "$R" && bench_time "dsv fsck" "$SIZE" /dev/null "$DSV" fsck) || true
	# Correctness beside speed: the export should give the corpus back.
	if (cd "$R" && "$DSV" export main) | cmp -s - "$CORPUS"; then
		echo "  export round trip: byte-identical to the corpus"
	else
		echo "  export round trip: DIFFERS from the corpus (lines: $( (cd "$R" && "$DSV" export main) | wc -l))"
		BENCH_FAILS=$((BENCH_FAILS + 1))
	fi
fi

echo
echo "-- dsv log and dsv audit on a 10,000-version history"
if [ "$have_dsv" = 1 ] && [ "$HISTORY" -gt 0 ]; then
	# Through the CLI: one tiny version per commit, reused across runs.
	H=$W/history-$HISTORY
	if [ ! -f "$H/.done" ]; then
		rm -rf "$H" && "$DSV" init "$H" >/dev/null
		printf '{"text":"one tiny record"}\n' > "$W/tiny.jsonl"
		i=0
		while [ "$i" -lt "$HISTORY" ]; do
			(cd "$H" && "$DSV" commit "$W/tiny.jsonl" -m "v$i" >/dev/null)
			i=$((i + 1))
		done
		touch "$H/.done"
	fi
	(cd "$H" && bench_time "dsv log ($HISTORY versions)" 0 /dev/null "$DSV" log) || true
	(cd "$H" && bench_time "dsv audit ($HISTORY versions)" 0 /dev/null "$DSV" audit main) || true
elif [ -x "$BENCH_TOP/build/tests/test_audit" ]; then
	# TODO: the lineage unit test builds a 10,000-version history in-process and
	# prints its log and audit timings; quote them here until HISTORY=10000 is
	# the default (a CLI-built history takes minutes).
	echo "  from build/tests/test_audit (HISTORY=10000 builds one through the CLI):"
	"$BENCH_TOP/build/tests/test_audit" 2>&1 | grep -iE '10.?000|ms' | sed 's/^/    /' ||
		echo "    (test_audit printed no figures)"
else
	echo "  skipped: set HISTORY=10000 to build the history through the CLI," \
		"or build build/tests/test_audit"
fi

echo
echo "== results ($MB MiB corpus, $SIZE bytes; MB/s = 10^6 bytes per second of wall time)"
bench_table
echo
echo "== targets"
bench_check "dsv commit wall / dvc add wall" \
	"$(bench_ratio "$(bench_field "dsv commit" 2)" "$(bench_field "dvc add" 2)")" "<=" 1.00
bench_check "dsv commit stored / corpus" "$(bench_field "dsv commit" 6)" "<=" 0.45
bench_check "dsv commit --level 3 MB/s / zstd -3 -T0 MB/s" \
	"$(bench_ratio "$(bench_field "dsv commit --level 3" 3)" "$(bench_field "zstd -3 -T0" 3)")" ">=" 0.80
bench_check "dsv export MB/s / zstd -d MB/s" \
	"$(bench_ratio "$(bench_field "dsv export" 3)" "$(bench_field "zstd -d" 3)")" ">=" 0.50
bench_check "dsv commit peak RSS (MiB)" "$(bench_field "dsv commit" 4)" "<" 1024
bench_check "dsv commit --level 3 peak RSS (MiB)" "$(bench_field "dsv commit --level 3" 4)" "<" 1024
bench_check "dsv export peak RSS (MiB)" "$(bench_field "dsv export" 4)" "<" 1024
[ "$HISTORY" -gt 0 ] && {
	bench_check "dsv log, $HISTORY versions (ms)" \
		"$(awk -v s="$(bench_field "dsv log ($HISTORY versions)" 2)" 'BEGIN { if (s != "") printf "%.0f", s * 1000 }')" "<" 100
	bench_check "dsv audit, $HISTORY versions (ms)" \
		"$(awk -v s="$(bench_field "dsv audit ($HISTORY versions)" 2)" 'BEGIN { if (s != "") printf "%.0f", s * 1000 }')" "<" 100
}
echo "$BENCH_FAILS target(s) missed"
echo "rows kept in $BENCH_ROWS"
