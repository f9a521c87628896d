#!/bin/sh
# remote.sh: the remotes benchmark. A corpus from make_corpus.py committed in
# one repository; `dsv clone` of it beside `cp -a` and `rsync -a` of the same
# .dsv directory (same machine, same run), and with one copying thread (-j 1)
# where the binary has --jobs; then its 1%-changed copy from
# mutate_corpus.py committed in the clone and pushed back: the push's time
# and bytes moved beside `rsync -a` of the whole .dsv onto a mirror of the
# clone as it was before (made by rsync -a, so that rsync's size-and-mtime
# check skips every file that did not change: its best case).
#
#   sh tests/bench/remote.sh          MB=64 (one 64 MiB shard and 3 small objects)
#   MB=256 sh tests/bench/remote.sh   4 shards: what the threads share
#   MB=1024 sh tests/bench/remote.sh  a larger corpus
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-64}
W=$BENCH_WORK
DSV=$BENCH_DSV
# the steps below run in other directories: BENCH_DSV=build/dsv works too
case $DSV in /*) ;; *) DSV=$(pwd)/$DSV ;; esac
unset DSV_DIR
bench_author

mkdir -p "$W"
bench_begin "remote-${MB}mb"
echo "== remotes benchmark: a corpus of $MB MiB cloned, and a 1% change pushed"
bench_env
echo "tools: $(rsync --version | head -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

V1=$W/corpus-${MB}mb.jsonl
V2=$W/corpus-${MB}mb-v2.jsonl
bench_corpus "$MB" "$V1"
[ -f "$V2" ] || { python3 "$BENCH_SHARED/bench/mutate_corpus.py" "$V1" "$V2.tmp" \
	--share 0.01 && mv "$V2.tmp" "$V2"; }

O=$W/remote-origin
rm -rf "$O" "$W/remote-clone" "$W/remote-cp" "$W/remote-rsync" "$W/remote-before" \
	"$W/remote-j1"
"$DSV" init -q "$O" && (cd "$O" && "$DSV" commit -q "$V1" -m v1)
STORED=$(bench_size "$O/.dsv")
echo "origin: $STORED bytes under .dsv"
# every copy below reads the origin from the page cache
cat "$O"/.dsv/objects/*/* >/dev/null

echo
echo "-- a clone of the whole repository"
bench_time "dsv clone" "$STORED" /dev/null "$DSV" clone -q "$O" "$W/remote-clone"
TC=$BENCH_SECS
TJ1=
if "$DSV" clone -h 2>&1 | grep -q -- --jobs; then
	bench_time "dsv clone -j 1" "$STORED" /dev/null "$DSV" clone -q -j 1 "$O" "$W/remote-j1"
	TJ1=$BENCH_SECS
fi
mkdir -p "$W/remote-cp" "$W/remote-rsync"
bench_time "cp -a .dsv" "$STORED" /dev/null cp -a "$O/.dsv" "$W/remote-cp/.dsv"
TCP=$BENCH_SECS
bench_time "rsync -a .dsv" "$STORED" /dev/null rsync -a "$O/.dsv" "$W/remote-rsync/"
TRS=$BENCH_SECS
(cd "$W/remote-clone" && "$DSV" export main | cmp -s - "$V1") &&
	echo "  the clone exports the corpus byte for byte" ||
	{ echo "  THE CLONE EXPORTS OTHERWISE"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
(cd "$W/remote-clone" && "$DSV" fsck >/dev/null) || { echo "  FSCK FAILED"; BENCH_FAILS=$((BENCH_FAILS + 1)); }

echo
echo "-- a 1% change committed in the clone and pushed"
mkdir -p "$W/remote-before" && rsync -a "$W/remote-clone/.dsv" "$W/remote-before/"
(cd "$W/remote-clone" && "$DSV" commit -q "$V2" -m v2)
cd "$W/remote-clone"
bench_time "dsv push (1% changed)" "$STORED" "$W/logs/push.json" "$DSV" push --json
TP=$BENCH_SECS
cd "$W"
PB=$(python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(d['bytes'], d['objects'], d['commits'])" "$W/logs/push.json")
set -- $PB
PUSHED=$1 POBJ=$2 PCOMMITS=$3
bench_time "rsync -a .dsv (after v2)" "$STORED" "$W/logs/rsync-push.out" \
	rsync -a --stats "$W/remote-clone/.dsv" "$W/remote-before/"
TRP=$BENCH_SECS
RB=$(sed -n 's/^Total transferred file size: \([0-9,]*\) bytes.*/\1/p' "$W/logs/rsync-push.out" | tr -d ,)
(cd "$O" && "$DSV" export main | cmp -s - "$V2") &&
	echo "  the origin exports v2 byte for byte" ||
	{ echo "  THE ORIGIN EXPORTS OTHERWISE"; BENCH_FAILS=$((BENCH_FAILS + 1)); }

echo
bench_table
echo
printf '  %-40s %8.3f s  (%sx cp -a, %sx rsync -a)\n' "dsv clone" "$TC" \
	"$(bench_ratio "$TC" "$TCP")" "$(bench_ratio "$TC" "$TRS")"
[ -z "$TJ1" ] || printf '  %-40s %8.3f s  (%sx rsync -a; the default takes %sx its time)\n' \
	"dsv clone -j 1" "$TJ1" "$(bench_ratio "$TJ1" "$TRS")" "$(bench_ratio "$TC" "$TJ1")"
printf '  %-40s %8.3f s  %s bytes in %s objects, %s commit\n' "dsv push (1%)" "$TP" \
	"$PUSHED" "$POBJ" "$PCOMMITS"
printf '  %-40s %8.3f s  %s bytes\n' "rsync -a of the whole .dsv" "$TRP" "$RB"
printf '  push moved %sx the bytes rsync moved, in %sx its time\n' \
	"$(bench_ratio "$PUSHED" "$RB")" "$(bench_ratio "$TP" "$TRP")"
rm -rf "$W/remote-cp" "$W/remote-rsync" "$W/remote-before" "$W/remote-j1"
[ "$BENCH_FAILS" = 0 ]
