#!/bin/sh
# blame.sh: the `dsv blame` benchmark on a long history. An MB MiB corpus
# from ../shared/bench/make_corpus.py committed on main, then N versions of
# it, each mutate_corpus.py --share 0.01 of the one before, committed on main
# too; from every 10th a filter, a dedup --exact of that filter and a sample
# of the dedup. Times blame of a record every main version holds, of one a
# commit replaced early on, and of a hash no version holds, beside what a
# user would do without blame (dsv export of one version piped to grep -c,
# and the estimate for all versions) and dsv fsck (every object read once).
#
#   sh tests/bench/blame.sh                   MB=256, N=60
#   MB=64 N=30 sh tests/bench/blame.sh        a quicker run
#   OLD_DSV=path/to/dsv sh tests/bench/blame.sh
#                                             also times that binary's blame
#                                             and checks that both print the
#                                             same bytes (text and --json)
#
# Work files (corpora, the repository) stay in tests/bench/work/ (ignored by
# git) and are reused by the next run with the same MB and N.
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-256}
N=${N:-60}
SHORT=${SHORT:-0}
W=$BENCH_WORK
DSV=$BENCH_DSV
OLD_DSV=${OLD_DSV:-}
unset DSV_DIR
bench_author

mkdir -p "$W"
bench_begin "blame-${MB}mb-$N-short$SHORT"
echo "== dsv blame benchmark: $N successive 1% versions of a $MB MiB corpus, with derivations"
bench_env
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# split_short IN OUT: each document cut at sentence ends into records of
# about 200 bytes of text (a sentence-level set, chat turns): a shard then
# holds about 17 times as many rows, and blame as many hashes to read.
split_short() {
	python3 -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, \
     open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        d, cur, k = json.loads(line), "", 0
        for s in d["text"].split(". "):
            cur = cur + ". " + s if cur else s
            if len(cur) >= 200:
                out.write(json.dumps({"id": "%s-%d" % (d["id"], k),
                                      "text": cur}) + "\n")
                cur, k = "", k + 1
        if cur:
            out.write(json.dumps({"id": "%s-%d" % (d["id"], k),
                                  "text": cur}) + "\n")
' "$1" "$2"
}

# The corpora are made one from the other and only the last two are kept:
# N copies of the corpus would not fit every disk.
C=$W/blame-${MB}mb-short$SHORT
R=$W/blame-repo-${MB}mb-$N-short$SHORT
if [ ! -f "$R/.dsv/built" ]; then
	echo "building the history in $R"
	mkdir -p "$C"
	bench_corpus "$MB" "$C/v0.jsonl"
	[ "$SHORT" = 0 ] || { split_short "$C/v0.jsonl" "$C/v0.tmp" &&
		mv "$C/v0.tmp" "$C/v0.jsonl"; }
	rm -rf "$R" && "$DSV" init -q "$R"
	(cd "$R" && "$DSV" commit -q "$C/v0.jsonl" -m v0)
	prev=$C/v0.jsonl
	i=1
	while [ $i -le "$N" ]; do
		python3 "$BENCH_SHARED/bench/mutate_corpus.py" "$prev" "$C/v$i.jsonl" \
			--seed $i 2>/dev/null
		[ "$prev" = "$C/v0.jsonl" ] || rm -f "$prev"
		prev=$C/v$i.jsonl
		(cd "$R" && "$DSV" commit -q "$prev" -m "v$i")
		if [ $((i % 10)) = 0 ]; then
			(cd "$R" &&
			 "$DSV" derive filter main -o "f$i" -m "filter v$i" \
				--rules gopher-quality -q &&
			 "$DSV" derive dedup "f$i" -o "d$i" -m "dedup v$i" --exact -q &&
			 "$DSV" derive sample "d$i" -o "s$i" -m "sample v$i" \
				--fraction 0.5 -q)
		fi
		i=$((i + 1))
	done
	rm -f "$prev"
	: > "$R/.dsv/built"
fi
cd "$R"
VERSIONS=$(git --git-dir .dsv/lineage rev-list --all | wc -l)
SHARDS=$(for c in $(git --git-dir .dsv/lineage rev-list --all); do
	git --git-dir .dsv/lineage show "$c:MANIFEST"; done |
	sed -n 's/^shard \([0-9a-f]\{64\}\).*/\1/p' | sort -u | wc -l)
SIZE=$(bench_size "$R/.dsv/objects")
echo "repository: $VERSIONS versions, $SHARDS distinct shards, $SIZE bytes of objects"

# A record of v0 that main's last version still holds and its last sample
# dropped (so it is in every main version); one that v0 held and a commit
# replaced (mutate_corpus.py edited its text); one no version holds.
LAST=s$((N / 10 * 10))
"$DSV" diff --records main~"$N" main | sed -n 's/^+ \([0-9a-f]\{32\}\).*/\1/p' |
	sort > "$W/blame-added"
KEPT=$("$DSV" diff --records "$LAST~2" "$LAST" | sed -n 's/^- \([0-9a-f]\{32\}\).*/\1/p' |
	sort | comm -23 - "$W/blame-added" | head -1)
GONE=$("$DSV" diff --records main~"$N" main~$((N - 1)) |
	sed -n 's/^- \([0-9a-f]\{32\}\).*/\1/p' | head -1)
NONE=0123456789abcdef0123456789abcdef
rm -f "$W/blame-added"
echo "records: in every main version $KEPT, replaced by v1 $GONE, nowhere $NONE"

echo
# blame NAME BINARY ARGS...: runs `BINARY blame ARGS` REPS times, stdout to
# $W/NAME.out, and keeps the fastest run as the row NAME (blame takes tens
# of milliseconds: one run on a busy machine says little). Sets BENCH_SECS.
REPS=${REPS:-7}
blame() {
	_n=$1
	shift
	_res=$(python3 - "$REPS" "$W/$_n.out" "$@" <<'EOF'
import resource, subprocess, sys, time
reps, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
cmd.insert(1, "blame")
best = None
for _ in range(reps):
    with open(out, "wb") as o:
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, stdout=o, stderr=subprocess.DEVNULL)
        t = time.perf_counter() - t0
    if rc not in (0, 1):
        sys.exit("exit %d" % rc)
    best = t if best is None else min(best, t)
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("%.4f %.1f" % (best, rss_kb / 1024.0))
EOF
)
	set -- $_res
	BENCH_SECS=$1
	printf '%s\t%s\t-\t%s\n' "$_n" "$1" "$2" >> "$BENCH_ROWS"
	printf '  %-38s %8.3f s (fastest of %s) %7s MiB peak\n' "$_n" "$1" "$REPS" "$2"
}
blame "blame (in every version)" "$DSV" "$KEPT"
TK=$BENCH_SECS
blame "blame --json (in every version)" "$DSV" --json "$KEPT"
blame "blame (replaced by v1)" "$DSV" "$GONE"
TG=$BENCH_SECS
blame "blame (nowhere)" "$DSV" "$NONE"
grep -c . "$W/blame (in every version).out" | sed 's/^/  lines of blame (in every version): /'

if [ -n "$OLD_DSV" ]; then
	echo
	echo "-- the same with $OLD_DSV"
	for what in "in every version:$KEPT" "replaced by v1:$GONE"; do
		name=${what%:*} hash=${what#*:}
		blame "old blame ($name)" "$OLD_DSV" "$hash"
		eval "TO_$(echo "$name" | tr -c 'a-z0-9\n' _)=\$BENCH_SECS"
		cmp -s "$W/blame ($name).out" "$W/old blame ($name).out" &&
			echo "  same output as the new blame" ||
			{ echo "  OUTPUT DIFFERS"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
	done
	blame "old blame --json (in every version)" "$OLD_DSV" --json "$KEPT"
	cmp -s "$W/blame --json (in every version).out" \
		"$W/old blame --json (in every version).out" &&
		echo "  same --json output as the new blame" ||
		{ echo "  JSON OUTPUT DIFFERS"; BENCH_FAILS=$((BENCH_FAILS + 1)); }
fi

echo
echo "-- without blame: export and grep (one version), fsck (every object)"
TEXT=$("$DSV" cat main --limit 1 --format text | head -c 40 | head -1)
bench_time "export main | grep -c (1 version)" 0 /dev/null sh -c \
	"'$DSV' export main | grep -cF '$TEXT'"
TE=$BENCH_SECS
TALL=$(awk -v t="$TE" -v n="$VERSIONS" 'BEGIN { printf "%.1f", t * n }')
echo "  the same for all $VERSIONS versions: about $TALL s"
bench_time "fsck" "$SIZE" /dev/null "$DSV" fsck
TF=$BENCH_SECS
rm -f "$W"/*blame*.out

echo
echo "== results (MB=$MB, N=$N; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
bench_table
echo
echo "figures:"
printf '  %-58s %8s\n' "blame (in every version) / export+grep of one version" "$(bench_ratio "$TK" "$TE")"
printf '  %-58s %8s\n' "blame (in every version) / fsck" "$(bench_ratio "$TK" "$TF")"
printf '  %-58s %8s\n' "blame (replaced by v1) / fsck" "$(bench_ratio "$TG" "$TF")"
[ -z "$OLD_DSV" ] || {
	printf '  %-58s %8s\n' "old blame / new blame (in every version)" "$(bench_ratio "$TO_in_every_version" "$TK")"
	printf '  %-58s %8s\n' "old blame / new blame (replaced by v1)" "$(bench_ratio "$TO_replaced_by_v1" "$TG")"
}
[ "$BENCH_FAILS" = 0 ] || { echo "$BENCH_FAILS checks failed"; exit 1; }
