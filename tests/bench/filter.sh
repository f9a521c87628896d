#!/bin/sh
# filter.sh: the filter benchmark (issue 5). On one corpus from
# ../shared/bench/make_corpus.py: `dsv derive filter --rules
# gopher-quality,gopher-repetition,c4,fineweb` on one thread and on all
# cores, beside datatrove's four filters (PyPI, in a virtualenv) on one core
# over a prefix of the same JSONL (DT_MB, default 8: datatrove runs at well
# under 1 MB/s, and per-core throughput does not depend on the length).
# Prints MB/s of JSONL, by wall clock and per CPU second (the per-core figure
# that does not depend on how busy the machine is), and the per-core ratio
# against the 20x target. Then each rule set alone, the same way on one core
# for both, with its ratio per CPU second and, as a sanity check that the same
# rule is compared, the records each keeps of the first DT_MB MiB (the
# decision-by-decision check is tests/ref's agreement test).
#
#   sh tests/bench/filter.sh              256 MiB corpus (MB=256)
#   MB=64 DT_MB=4 sh tests/bench/filter.sh   a quick run
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-256}
DT_MB=${DT_MB:-8}
W=$BENCH_WORK
CORPUS=$W/corpus-${MB}mb.jsonl
DSV=$BENCH_DSV
RULES=gopher-quality,gopher-repetition,c4,fineweb
unset DSV_DIR

# dsv_cpu BRANCH: CPU seconds of the filter that made BRANCH, from its dsv.json.
dsv_cpu() {
	git --git-dir .dsv/lineage show "$1:dsv.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["compute"]["cpu_s"])'
}

# dt_run LOG RULES: datatrove's filters RULES chained over the first DT_MB MiB
# of the corpus, its JSON into $W/logs/LOG.json.
dt_run() {
	"$W/venv-datatrove/bin/python" "$BENCH_TOP/tests/bench/datatrove_filters.py" \
		"$CORPUS" $((DT_MB * 1048576)) "$2" >"$W/logs/$1.json"
}

# dt_mbps LOG KEY: MB/s of JSONL per "seconds" (wall) or "cpu_seconds" of LOG.
dt_mbps() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.4f" % (d["jsonl_bytes"] / 1e6 / d[sys.argv[2]]))' "$W/logs/$1.json" "$2"
}
bench_author

mkdir -p "$W"
bench_begin "filter-${MB}mb"
echo "== dsv derive filter benchmark, corpus of $MB MiB"
bench_env
bench_corpus "$MB" "$CORPUS"
SIZE=$(bench_size "$CORPUS")
echo "corpus: $CORPUS, $SIZE bytes, $(wc -l < "$CORPUS") records"

R=$W/filter-repo-${MB}mb
if [ ! -d "$R/.dsv" ]; then
	rm -rf "$R" && "$DSV" init -q "$R"
	(cd "$R" && "$DSV" commit -q "$CORPUS" -m "bench corpus")
fi
cd "$R"
echo
echo "-- dsv derive filter --rules $RULES"
bench_time "dsv filter, 1 thread" "$SIZE" /dev/null \
	"$DSV" derive filter main -o f1 --force -q -m bench --rules "$RULES" --threads 1
bench_time "dsv filter, $(nproc) threads" "$SIZE" /dev/null \
	"$DSV" derive filter main -o fn --force -q -m bench --rules "$RULES"
DSV_CPU=$(dsv_cpu f1)
kept=$("$DSV" show f1 | python3 -c 'import sys,json; t=sys.stdin.read(); j=json.loads(t[t.index("{"):t.index("\n---", t.index("{"))]); print(j["stats"]["records_out"], "of", j["stats"]["records_in"])')
echo "  dsv kept $kept records; 1 thread: $DSV_CPU CPU seconds, $(bench_mbps "$SIZE" "$DSV_CPU") MB/s per CPU second"

echo
echo "-- datatrove $RULES (chained, one process) on the first $DT_MB MiB"
DT="" DT_CPU=""
if bench_venv "$W/venv-datatrove" datatrove spacy regex; then
	dt_run datatrove-filter "$RULES"
	DT=$(dt_mbps datatrove-filter seconds)
	DT_CPU=$(dt_mbps datatrove-filter cpu_seconds)
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  datatrove: %d docs, %d kept, %.1f s wall, %.1f CPU s; %.3f MB/s of JSONL, %.3f MB/s per CPU second" % (d["docs"], d["kept"], d["seconds"], d["cpu_seconds"], d["jsonl_bytes"] / 1e6 / d["seconds"], d["jsonl_bytes"] / 1e6 / d["cpu_seconds"]))' "$W/logs/datatrove-filter.json"
fi

echo
bench_table
ONE=$(bench_field "dsv filter, 1 thread" 3)
echo
ONE_CPU=$(bench_mbps "$SIZE" "$DSV_CPU")
echo "per-core ratio dsv / datatrove: $(bench_ratio "$ONE" "$DT")x by wall clock (1 thread vs 1 process)," \
	"$(bench_ratio "$ONE_CPU" "$DT_CPU")x per CPU second"
bench_check "dsv filter vs datatrove, per CPU second (x)" "$(bench_ratio "$ONE_CPU" "$DT_CPU")" ">=" 20
bench_check "dsv filter vs datatrove, wall clock, one core each (x)" "$(bench_ratio "$ONE" "$DT")" ">=" 20

echo
echo "-- each rule set alone: dsv on 1 thread over the corpus, datatrove over the first $DT_MB MiB;"
echo "   records kept of the first $DT_MB MiB by each"
# The same lines datatrove reads: up to and including the one that reaches DT_MB MiB.
PREFIX=$W/corpus-${MB}mb-first-${DT_MB}mb.jsonl
P=$W/filter-prefix-repo-${MB}mb-${DT_MB}mb
if [ ! -d "$P/.dsv" ]; then
	LC_ALL=C awk -v n=$((DT_MB * 1048576)) 'b >= n { exit } { b += length($0) + 1; print }' \
		"$CORPUS" >"$PREFIX"
	rm -rf "$P" && "$DSV" init -q "$P"
	(cd "$P" && "$DSV" commit -q "$PREFIX" -m "bench corpus, first $DT_MB MiB")
fi
ROWS=$W/filter-rules-${MB}mb.rows
: >"$ROWS"
for r in $(echo "$RULES" | tr , ' '); do
	bench_time "dsv $r, 1 thread" "$SIZE" /dev/null \
		"$DSV" derive filter main -o "f-$r" --force -q -m bench --rules "$r" --threads 1
	cpu=$(bench_mbps "$SIZE" "$(dsv_cpu "f-$r")")
	kept=$(cd "$P" && "$DSV" derive filter main -o "$r" --force -m bench --rules "$r" --threads 1 --json |
		python3 -c 'import json,sys; s=json.load(sys.stdin)["stats"]; print(s["records_out"], s["records_in"])')
	dt="" dk=-
	if [ -n "$DT_CPU" ]; then
		dt_run "datatrove-filter-$r" "$r"
		dt=$(dt_mbps "datatrove-filter-$r" cpu_seconds)
		dk=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kept"])' "$W/logs/datatrove-filter-$r.json")
	fi
	ratio=$(bench_ratio "$cpu" "$dt")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$cpu" "${dt:--}" "${ratio:-nan}" \
		"${kept% *}" "$dk" "${kept#* }" >>"$ROWS"
done
echo
printf '%-18s %14s %14s %8s %9s %9s %6s\n' "rule set" "dsv MB/CPU s" "dt MB/CPU s" ratio "dsv kept" "dt kept" of
awk -F'\t' '{ printf "%-18s %14s %14s %8s %9s %9s %6s\n", $1, $2, $3, ($4 == "nan" ? "-" : $4), $5, $6, $7 }' "$ROWS"
echo
while IFS="$(printf '\t')" read -r r cpu dt ratio rest; do
	bench_check "dsv $r alone vs datatrove, per CPU second (x)" "$ratio" ">=" 20
done <"$ROWS"
[ "$BENCH_FAILS" -eq 0 ]
