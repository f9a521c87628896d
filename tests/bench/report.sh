#!/bin/sh
# report.sh: dsv report on a lineage of about N artifacts (default 300): a
# loop of cheap derivations (sample and filter --where, a mix of the newest
# and an older version every 25) over a tiny corpus, then `dsv report` timed
# against `dsv audit` and `git log --graph` of the same lineage (whole
# processes, the median of 5 after a warm-up). The lineage is kept in
# $BENCH_WORK/report-N for another run.
#
#   sh tests/bench/report.sh          N=300
#   N=1000 sh tests/bench/report.sh
set -e
. "$(dirname "$0")/lib.sh"

N=${N:-300}
DSV=$BENCH_DSV
R=$BENCH_WORK/report-$N
unset DSV_DIR
bench_author
bench_begin "report-$N"
echo "== report benchmark: a lineage of about $N artifacts"
bench_env
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ ! -f "$R/.done" ]; then
	rm -rf "$R" && mkdir -p "$R" && cd "$R"
	"$DSV" init -q
	gzip -dc "$BENCH_TOP/fixtures/demo/web-a.jsonl.gz" | head -n 200 >tiny.jsonl
	"$DSV" commit -q tiny.jsonl -m "tiny corpus"
	i=1
	while [ "$i" -lt "$N" ]; do
		case $((i % 25)) in
		0) "$DSV" derive mix "v$((i - 1)):1" "v$((i - 20)):1" -o "v$i" -m "mix $i" -q 2>/dev/null ||
			"$DSV" derive mix "main:1" "v$((i - 1)):1" -o "v$i" -m "mix $i" -q ;;
		1) prev=$([ "$i" = 1 ] && echo main || echo "v$((i - 1))")
		   "$DSV" derive filter "$prev" --where "text_bytes >= $((i % 7 * 10))" -o "v$i" -m "filter $i" -q ;;
		*) if [ $((i % 2)) = 0 ]; then
			"$DSV" derive sample "v$((i - 1))" --fraction 0.995 --seed "$i" -o "v$i" -m "sample $i" -q
		   else
			"$DSV" derive filter "v$((i - 1))" --where "text_bytes >= $((i % 7 * 10))" -o "v$i" -m "filter $i" -q
		   fi ;;
		esac
		i=$((i + 1))
	done
	touch .done
fi
cd "$R"
TIP=v$((N - 1))
ARTS=$("$DSV" audit "$TIP" --json | python3 -c "import json, sys; print(len(json.load(sys.stdin)['ancestors']))")
echo "lineage: $ARTS artifacts in the ancestry of $TIP"

# median NAME CMD...: the median and the least of 5 whole-process runs
# after one warm-up, stdout to /dev/null; appends a row to the table.
median() {
	_n=$1
	shift
	python3 - "$BENCH_ROWS" "$_n" "$@" <<'EOF'
import statistics, subprocess, sys, time
rows, name, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
t = []
for _ in range(5):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    t.append(time.perf_counter() - t0)
m = statistics.median(t)
print("  %-44s median %7.1f ms  (least %.1f ms)" % (name, m * 1e3, min(t) * 1e3))
with open(rows, "a") as f:
    f.write("%s\t%.4f\t-\t-\n" % (name, m))
EOF
}

median "dsv report $TIP -o report.html" "$DSV" report "$TIP" -o report.html -q
median "dsv audit $TIP" "$DSV" audit "$TIP"
median "dsv audit $TIP --json" "$DSV" audit "$TIP" --json
median "dsv log --graph --oneline $TIP" "$DSV" log --graph --oneline "$TIP"
median "git --git-dir .dsv/lineage log --graph" git --git-dir .dsv/lineage log --graph "$TIP"
"$DSV" report "$TIP" -o report.html -q
echo "  report.html: $(bench_size report.html) bytes, graph $(sed -n 's/^<svg class="graph" width="\([0-9]*\)" height="\([0-9]*\)".*/\1 x \2 px/p' report.html)"
R1=$(bench_field "dsv report $TIP -o report.html" 2)
A1=$(bench_field "dsv audit $TIP" 2)
G1=$(bench_field "git --git-dir .dsv/lineage log --graph" 2)
echo "  report / audit: $(bench_ratio "$R1" "$A1")x, report / git log --graph: $(bench_ratio "$R1" "$G1")x"
