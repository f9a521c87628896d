#!/bin/sh
# kernels.sh: builds tests/bench/kernels_bench against libdsvkernels.a and
# runs it on a 64 MB corpus from ../shared/bench/make_corpus.py (or $1).
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
B=${B:-build}
make --no-print-directory "$B/libdsvkernels.a" "$B/tests/bench/kernels_bench.o" >/dev/null
. /dev/null
cuda=$(make -s --no-print-directory -f Makefile -p 2>/dev/null | sed -n 's/^CUDA_LIBS := //p' | head -1)
cc -fopenmp -o "$B/tests/kernels_bench" "$B/tests/bench/kernels_bench.o" \
	"$B/libdsvkernels.a" $cuda -lm -pthread
corpus=${1:-${TMPDIR:-/tmp}/dsv-kernels-64mb.jsonl}
if [ ! -f "$corpus" ]; then
	python3 "$top/../shared/bench/make_corpus.py" --mb 64 -o "$corpus"
fi
"$B/tests/kernels_bench" "$corpus"
