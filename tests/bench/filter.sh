#!/bin/sh
# filter.sh: the filter benchmark (issue 5). On one corpus from
# ../shared/bench/make_corpus.py: `dsv derive filter --rules
# gopher-quality,gopher-repetition,c4,fineweb` on one thread and on all
# cores, beside datatrove's four filters (PyPI, in a virtualenv) on one core
# over a prefix of the same JSONL (DT_MB, default 8: datatrove runs at well
# under 1 MB/s, and per-core throughput does not depend on the length).
# Prints MB/s of JSONL, by wall clock and per CPU second (the per-core figure
# that does not depend on how busy the machine is), and the per-core ratio
# against the 20x target.
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
DSV_CPU=$(git --git-dir .dsv/lineage show f1:dsv.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["compute"]["cpu_s"])')
kept=$("$DSV" show f1 | python3 -c 'import sys,json; t=sys.stdin.read(); j=json.loads(t[t.index("{"):t.index("\n---", t.index("{"))]); print(j["stats"]["records_out"], "of", j["stats"]["records_in"])')
echo "  dsv kept $kept records; 1 thread: $DSV_CPU CPU seconds, $(bench_mbps "$SIZE" "$DSV_CPU") MB/s per CPU second"

echo
echo "-- datatrove $RULES (chained, one process) on the first $DT_MB MiB"
DT="" DT_CPU=""
if bench_venv "$W/venv-datatrove" datatrove spacy regex; then
	"$W/venv-datatrove/bin/python" "$BENCH_TOP/tests/bench/datatrove_filters.py" \
		"$CORPUS" $((DT_MB * 1048576)) >"$W/logs/datatrove-filter.json"
	DT=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f" % (d["jsonl_bytes"] / 1e6 / d["seconds"]))' "$W/logs/datatrove-filter.json")
	DT_CPU=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.4f" % (d["jsonl_bytes"] / 1e6 / d["cpu_seconds"]))' "$W/logs/datatrove-filter.json")
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
[ "$BENCH_FAILS" -eq 0 ]
