#!/bin/sh
# generate.sh: GPT-2 124M (random weights) generation tokens/s with the KV
# cache, greedy, batch 1 and batch 64, on the CPU (and CUDA where present).
#   P=16 N=32 sh tests/bench/generate.sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
P=${P:-16}; N=${N:-32}
cd "$TOP"
make -s "$B/libdsvkernels.a"
bin="$B/tests/gen_bench"
cc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -I. -o "$bin" tests/bench/gen_bench.c \
   "$B/libdsvkernels.a" $(grep -q DSV_HAVE_CUDA "$B/kernels/generate.o" 2>/dev/null && echo) \
   ${CUDA_LIBS:-} -lopenblas -lm -pthread 2>/dev/null ||
cc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -I. -o "$bin" tests/bench/gen_bench.c \
   "$B/libdsvkernels.a" -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 \
   -lcublasLt -lcublas -lcudart_static -ldl -lrt -lstdc++ -lopenblas -lm -pthread
for b in 1 64; do "$bin" "$b" "$P" "$N" cpu; done
if [ "$(DSV_DEVICE=auto "$bin" 1 1 1 cuda 2>/dev/null | grep -c cpu)" = 0 ] &&
   "$bin" 1 1 1 cuda >/dev/null 2>&1; then
	for b in 1 64; do "$bin" "$b" "$P" "$N" cuda; done
else
	echo "SKIP generate bench on CUDA: no device"
fi
