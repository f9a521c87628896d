#!/bin/sh
# gpt_cpu.sh: CPU training-step tokens/s of the GPT-2 kernels beside PyTorch
# on the CPU of the same machine (same model, batch and AdamW; fp32), and the
# CUDA figures with MFU where a device exists. PyTorch is taken from $PYTHON
# (default python3) and skipped, saying so, where it is not installed.
#   sh tests/bench/gpt_cpu.sh [L C NH T B V steps]   (default 4 256 4 256 8 50304 5)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
B=${B:-build}
make -s "$B/libdsvkernels.a"
NVCC=$(command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; } || true)
cuda=""
if [ -n "$NVCC" ]; then
	home=${NVCC%/bin/nvcc}
	cuda="-L$home/lib64 -Wl,-rpath,$home/lib64 -lcublasLt -lcublas -lcudart_static -ldl -lrt -lstdc++"
fi
blas=""
if [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ]; then blas=-lopenblas; fi
cc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -I. -o "$B/gpt_bench" tests/bench/gpt_bench.c \
	"$B/libdsvkernels.a" $cuda $blas -lm -pthread
# OpenMP threads that spin after a parallel region starve OpenBLAS's own
# pthreads; passive waiting is worth ~30% here (both sides get it).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
args=${*:-4 256 4 256 8 50304 5}
"$B/gpt_bench" cpu $args
PY=${PYTHON:-python3}
if "$PY" -c 'import torch' 2>/dev/null; then
	"$PY" tests/bench/gpt_torch.py $args
else
	echo "SKIP torch cpu: no PyTorch for $PY (set PYTHON to an interpreter that has it)"
fi
"$B/gpt_bench" gpu
