# lib.sh: helpers shared by the benchmark scripts in tests/bench (sourced, not
# run). Timing with peak RSS, MB/s, ratios against targets, a result table,
# virtualenvs for peers installed from PyPI. POSIX sh; arithmetic through awk.

BENCH_TOP=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_WORK=${BENCH_WORK:-$BENCH_TOP/tests/bench/work}
BENCH_SHARED=${BENCH_SHARED:-$BENCH_TOP/../shared}
BENCH_DSV=${BENCH_DSV:-$BENCH_TOP/dsv}
BENCH_ROWS=""          # file of result rows, set by bench_begin
BENCH_FAILS=0

# bench_begin NAME: start a result table in $BENCH_WORK/NAME.rows.
bench_begin() {
	mkdir -p "$BENCH_WORK/logs"
	BENCH_ROWS="$BENCH_WORK/$1.rows"
	: > "$BENCH_ROWS"
}

# bench_size PATH: bytes in a file, or in everything under a directory.
bench_size() {
	if [ -d "$1" ]; then du -sb "$1" | cut -f1; else stat -c %s "$1"; fi
}

# bench_mbps BYTES SECONDS: MB/s, where MB is 10^6 bytes (as zstd and dvc say).
bench_mbps() {
	awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "inf" }'
}

# bench_ratio A B: A / B with two decimals; empty when either is missing.
bench_ratio() {
	[ -n "$1" ] && [ -n "$2" ] || return 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}

# bench_time NAME BYTES OUT CMD...: runs CMD with stdout to OUT (a file, or
# /dev/null), stderr to $BENCH_WORK/logs/NAME.err. Sets BENCH_SECS (wall
# seconds, measured around the child only) and BENCH_RSS_MB (peak resident
# memory of the largest process in the child's tree, from wait4's rusage: the
# figure /usr/bin/time -f %M reports). Appends a row "NAME secs MB/s rss" to
# the table (tab-separated). Returns CMD's exit status, after printing its stderr tail.
bench_time() {
	_name=$1 _bytes=$2 _out=$3
	shift 3
	_err="$BENCH_WORK/logs/$_name.err"
	_res=$(python3 - "$_out" "$_err" "$@" <<'EOF'
import resource, subprocess, sys, time
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "wb") as o, open(err, "wb") as e:
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, stdout=o, stderr=e)
    t = time.perf_counter() - t0
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("%d %.4f %.1f" % (rc, t, rss_kb / 1024.0))
EOF
)
	set -- $_res
	_rc=$1 BENCH_SECS=$2 BENCH_RSS_MB=$3
	if [ "$_rc" != 0 ]; then
		echo "bench: '$_name' failed with exit $_rc; its stderr:" >&2
		tail -n 5 "$_err" >&2
		return "$_rc"
	fi
	printf '%s\t%s\t%s\t%s\n' "$_name" "$BENCH_SECS" "$(bench_mbps "$_bytes" "$BENCH_SECS")" \
		"$BENCH_RSS_MB" >> "$BENCH_ROWS"
	printf '  %-34s %8.3f s %9s MB/s %8s MiB peak\n' "$_name" "$BENCH_SECS" \
		"$(bench_mbps "$_bytes" "$BENCH_SECS")" "$BENCH_RSS_MB"
}

# bench_stored NAME BYTES CORPUS_BYTES: adds "stored" figures to the row NAME.
bench_stored() {
	_r=$(bench_ratio "$2" "$3")
	awk -F'\t' -v n="$1" -v b="$2" -v r="$_r" '$1 == n { $0 = $0 "\t" b "\t" r } { print }' \
		"$BENCH_ROWS" > "$BENCH_ROWS.tmp" && mv "$BENCH_ROWS.tmp" "$BENCH_ROWS"
	printf '  %-34s %14s bytes stored = %sx of the corpus\n' "$1" "$2" "$_r"
}

# bench_field NAME COLUMN: one figure of a row (2 secs, 3 MB/s, 4 rss MiB,
# 5 stored bytes, 6 stored ratio); empty when the row is missing.
bench_field() {
	awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$BENCH_ROWS"
}

# bench_table: prints the result table.
bench_table() {
	printf '%-34s %9s %9s %10s %14s %8s\n' step seconds MB/s "peak MiB" "stored B" stored/x
	awk -F'\t' '{ printf "%-34s %9.3f %9s %10s %14s %8s\n", $1, $2, $3, $4, ($5 == "" ? "-" : $5), ($6 == "" ? "-" : $6) }' \
		"$BENCH_ROWS"
}

# bench_check WHAT VALUE OP TARGET: prints one target line, counts misses.
# OP is <= or >= or <. A missing VALUE (a step that could not run) is "n/a".
bench_check() {
	if [ -z "$2" ] || [ "$2" = nan ]; then
		printf '  %-58s %8s  (target %s %s)  n/a\n' "$1" - "$3" "$4"
		return 0
	fi
	_ok=$(awk -v v="$2" -v op="$3" -v t="$4" 'BEGIN {
		ok = (op == "<=") ? v <= t : (op == ">=") ? v >= t : v < t; print ok ? "ok" : "MISSED" }')
	[ "$_ok" = ok ] || BENCH_FAILS=$((BENCH_FAILS + 1))
	printf '  %-58s %8s  (target %s %s)  %s\n' "$1" "$2" "$3" "$4" "$_ok"
}

# bench_author: gives the benchmark's dsv commits an author where neither
# DSV_AUTHOR nor git config names one (dsv commit needs one).
bench_author() {
	[ -n "$DSV_AUTHOR" ] || git config user.email >/dev/null 2>&1 ||
		{ DSV_AUTHOR="dsv bench <bench@dsv.invalid>"; export DSV_AUTHOR; }
}

# bench_corpus MB PATH: makes a corpus of MB MiB at PATH with
# ../shared/bench/make_corpus.py, unless an earlier run left it there. It is
# written beside PATH and renamed, so an interrupted run leaves no half corpus.
bench_corpus() {
	[ -f "$2" ] && return 0
	echo "making $2"
	python3 "$BENCH_SHARED/bench/make_corpus.py" --mb "$1" -o "$2.tmp" && mv "$2.tmp" "$2"
}

# bench_venv DIR PACKAGE...: makes a virtualenv in DIR (once) and installs the
# packages from PyPI into it. Returns non-zero, saying why, when it cannot.
bench_venv() {
	_venv=$1
	shift
	if [ ! -x "$_venv/bin/python" ]; then
		python3 -m venv "$_venv" || { echo "bench: cannot make a virtualenv in '$_venv'" >&2; return 1; }
	fi
	for _p in "$@"; do
		"$_venv/bin/python" -m pip show -q "$_p" >/dev/null 2>&1 && continue
		echo "bench: installing $_p from PyPI into $_venv"
		"$_venv/bin/python" -m pip install -q "$_p" ||
			{ echo "bench: cannot install '$_p' from PyPI" >&2; return 1; }
	done
}

# bench_env: one line about the machine and tool versions, for the record.
bench_env() {
	echo "machine: $(nproc) cores, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "tools: $(zstd --version 2>&1 | head -1 | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by.*//')," \
		"$(openssl version | cut -d' ' -f1-2), $(sha256sum --version | head -1)"
}
