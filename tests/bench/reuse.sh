#!/bin/sh
# reuse.sh: the issue 4 benchmark. A corpus from make_corpus.py as v1 and its
# 1%-changed copy from mutate_corpus.py as v2, committed with dsv, DVC and
# git-lfs: bytes v2 adds, v2's commit time against v1's, export of v2 against
# zstd -d; then a history of 100 successive 1% versions (HMB, smaller) whose
# last version is exported before and after repack; and 10 versions' stored
# bytes and commit time against DVC.
#
#   sh tests/bench/reuse.sh                 MB=1024, HMB=64
#   MB=64 HMB=16 sh tests/bench/reuse.sh    a quick run
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-1024}
HMB=${HMB:-64}
W=$BENCH_WORK
DSV=$BENCH_DSV
unset DSV_DIR
[ -n "$DSV_AUTHOR" ] || { DSV_AUTHOR="dsv bench <bench@dsv.invalid>"; export DSV_AUTHOR; }
export DVC_NO_ANALYTICS=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@dsv.invalid \
	GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@dsv.invalid

mkdir -p "$W"
bench_begin "reuse-${MB}mb"
echo "== reuse benchmark: v1 of $MB MiB and a 1%-changed v2; history of 100 versions at $HMB MiB"
bench_env
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

V1=$W/corpus-${MB}mb.jsonl
V2=$W/corpus-${MB}mb-v2.jsonl
bench_corpus "$MB" "$V1"
[ -f "$V2" ] || { python3 "$BENCH_SHARED/bench/mutate_corpus.py" "$V1" "$V2.tmp" && mv "$V2.tmp" "$V2"; }
SIZE=$(bench_size "$V1")
cat "$V1" "$V2" >/dev/null

echo
echo "-- dsv: v1, then v2"
R=$W/reuse-dsv
rm -rf "$R" && "$DSV" init -q "$R"
cd "$R" && bench_time "dsv commit v1" "$SIZE" /dev/null "$DSV" commit -q "$V1" -m v1 && cd "$W"
T1=$BENCH_SECS
B1=$(bench_size "$R/.dsv/objects")
cd "$R" && bench_time "dsv commit v2" "$SIZE" /dev/null "$DSV" commit -q "$V2" -m v2 && cd "$W"
T2=$BENCH_SECS
B2=$(bench_size "$R/.dsv/objects")
echo "  dsv stored: v1 $B1 bytes, v2 added $((B2 - B1)) bytes"
cd "$R" && bench_time "dsv diff v1 v2" "$SIZE" /dev/null "$DSV" diff main~1 main && cd "$W"
TD=$BENCH_SECS
[ -f "$V2.zst" ] || { zstd -3 -T0 -q -c "$V2" >"$V2.zst.tmp" && mv "$V2.zst.tmp" "$V2.zst"; }
bench_time "zstd -d (v2)" "$SIZE" /dev/null zstd -d -q -c "$V2.zst"
TZ=$BENCH_SECS
cd "$R" && bench_time "dsv export v2" "$SIZE" "$W/reuse-v2.out" "$DSV" export main && cd "$W"
TE=$BENCH_SECS
cmp -s "$W/reuse-v2.out" "$V2" && echo "  export of v2 is byte-identical to the input" ||
	{ echo "  EXPORT DIFFERS"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
rm -f "$W/reuse-v2.out"

echo
echo "-- DVC (PyPI) and git-lfs (Debian): v1, then v2"
DVC_ADDED="" LFS_ADDED=""
if bench_venv "$W/venv" dvc; then
	D=$W/reuse-dvc
	rm -rf "$D" && mkdir -p "$D" && (cd "$D" && "$W/venv/bin/dvc" init --no-scm -q)
	cp "$V1" "$D/corpus.jsonl"
	cd "$D" && bench_time "dvc add v1" "$SIZE" /dev/null "$W/venv/bin/dvc" add -q corpus.jsonl && cd "$W"
	DV1=$(bench_size "$D/.dvc/cache")
	cp "$V2" "$D/corpus.jsonl"
	cd "$D" && bench_time "dvc add v2" "$SIZE" /dev/null "$W/venv/bin/dvc" add -q corpus.jsonl && cd "$W"
	DVC_ADDED=$(( $(bench_size "$D/.dvc/cache") - DV1 ))
	echo "  dvc: v1 $DV1 bytes, v2 added $DVC_ADDED bytes"
	rm -rf "$D"
fi
if ! command -v git-lfs >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	apt-get install -y -q git-lfs >/dev/null 2>&1 || echo "  git-lfs could not be installed"
fi
if command -v git-lfs >/dev/null 2>&1; then
	G=$W/reuse-lfs
	rm -rf "$G" && mkdir -p "$G" && (cd "$G" && git init -q && git lfs install --local >/dev/null && git lfs track "*.jsonl" >/dev/null && git add .gitattributes && git commit -qm attrs)
	cp "$V1" "$G/corpus.jsonl"
	cd "$G" && bench_time "git-lfs add+commit v1" "$SIZE" /dev/null sh -c 'git add corpus.jsonl && git commit -qm v1' && cd "$W"
	L1=$(bench_size "$G/.git/lfs/objects")
	cp "$V2" "$G/corpus.jsonl"
	cd "$G" && bench_time "git-lfs add+commit v2" "$SIZE" /dev/null sh -c 'git add corpus.jsonl && git commit -qm v2' && cd "$W"
	LFS_ADDED=$(( $(bench_size "$G/.git/lfs/objects") - L1 ))
	echo "  git-lfs ($(git lfs version | cut -d' ' -f1)): v1 $L1 bytes, v2 added $LFS_ADDED bytes"
	rm -rf "$G"
fi

echo
echo "-- history: 100 successive 1% versions of a $HMB MiB corpus"
H=$W/reuse-hist-${HMB}mb
HR=$W/reuse-hist-repo
mkdir -p "$H"
bench_corpus "$HMB" "$H/v0.jsonl"
i=1
while [ $i -le 100 ]; do
	[ -f "$H/v$i.jsonl" ] || python3 "$BENCH_SHARED/bench/mutate_corpus.py" "$H/v$((i - 1)).jsonl" "$H/v$i.jsonl" --seed $i 2>/dev/null
	i=$((i + 1))
done
HSIZE=$(bench_size "$H/v100.jsonl")
rm -rf "$HR" && "$DSV" init -q "$HR"
t0=$(date +%s.%N)
i=0
while [ $i -le 100 ]; do
	(cd "$HR" && "$DSV" commit -q "$H/v$i.jsonl" -m "v$i")
	[ $i = 10 ] && { B10=$(bench_size "$HR/.dsv/objects"); T10=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'); }
	i=$((i + 1))
done
BH=$(bench_size "$HR/.dsv/objects")
echo "  100 versions stored in $BH bytes ($(bench_ratio "$BH" "$HSIZE")x one version)"
zstd -3 -T0 -q -f -o "$H/v100.jsonl.zst" "$H/v100.jsonl"
bench_time "zstd -d (v100)" "$HSIZE" /dev/null zstd -d -q -c "$H/v100.jsonl.zst"
THZ=$BENCH_SECS
cd "$HR" && bench_time "dsv export v100" "$HSIZE" "$W/hist.out" "$DSV" export main && cd "$W"
THE=$BENCH_SECS
cmp -s "$W/hist.out" "$H/v100.jsonl" || { echo "  EXPORT DIFFERS"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
cd "$HR" && bench_time "dsv repack v100" "$HSIZE" /dev/null "$DSV" repack -q main && cd "$W"
cd "$HR" && bench_time "dsv export v100 repacked" "$HSIZE" "$W/hist.out" "$DSV" export main && cd "$W"
THR=$BENCH_SECS
cmp -s "$W/hist.out" "$H/v100.jsonl" || { echo "  EXPORT DIFFERS"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
rm -f "$W/hist.out"

echo
echo "-- 10 versions (v0..v10 of the history): dsv against DVC"
if [ -x "$W/venv/bin/dvc" ]; then
	D=$W/reuse-dvc10
	rm -rf "$D" && mkdir -p "$D" && (cd "$D" && "$W/venv/bin/dvc" init --no-scm -q)
	t0=$(date +%s.%N)
	i=0
	while [ $i -le 10 ]; do
		cp "$H/v$i.jsonl" "$D/corpus.jsonl"
		(cd "$D" && "$W/venv/bin/dvc" add -q corpus.jsonl)
		i=$((i + 1))
	done
	DT10=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	DB10=$(bench_size "$D/.dvc/cache")
	rm -rf "$D"
fi
printf '  %-10s %14s bytes %8.1f s (includes copying each version in)\n' dvc "${DB10:--}" "${DT10:-0}"
printf '  %-10s %14s bytes %8.1f s\n' dsv "$B10" "$T10"

echo
echo "== results (MB=$MB, HMB=$HMB; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
bench_table
echo
echo "targets:"
bench_check "v2 bytes added / v1 stored bytes (dsv)" "$(bench_ratio $((B2 - B1)) "$B1")" "<=" 0.02
bench_check "v2 bytes added / v1 size (dvc)" "$(bench_ratio "$DVC_ADDED" "$SIZE")" ">=" 0
bench_check "v2 bytes added / v1 size (git-lfs)" "$(bench_ratio "$LFS_ADDED" "$SIZE")" ">=" 0
bench_check "v2 commit time / v1 commit time" "$(bench_ratio "$T2" "$T1")" "<=" 1
bench_check "dsv diff v1 v2 seconds" "$TD" "<" 1
bench_check "export v2 speed / zstd -d" "$(bench_ratio "$TZ" "$TE")" ">=" 0.5
bench_check "export v100 speed / zstd -d (before repack)" "$(bench_ratio "$THZ" "$THE")" ">=" 0.5
bench_check "export v100 speed / zstd -d (after repack)" "$(bench_ratio "$THZ" "$THR")" ">=" 0.5
bench_check "10 versions stored bytes, dsv / dvc" "$(bench_ratio "$B10" "$DB10")" "<=" 1
[ "$BENCH_FAILS" = 0 ] || echo "$BENCH_FAILS targets missed"
