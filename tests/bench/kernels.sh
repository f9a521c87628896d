#!/bin/sh
# kernels.sh: builds tests/bench/kernels_bench against libdsvkernels.a and
# runs it on a 64 MB corpus from ../shared/bench/make_corpus.py (or $1).
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
B=${B:-build}
make -s --no-print-directory "$B/tests/kernels_bench"
corpus=${1:-${TMPDIR:-/tmp}/dsv-kernels-64mb.jsonl}
if [ ! -f "$corpus" ]; then
	python3 "$top/../shared/bench/make_corpus.py" --mb 64 -o "$corpus"
fi
"$B/tests/kernels_bench" "$corpus"
