#!/bin/sh
# bundle.sh: prepares the GPU checks for the lent device machine, which has
# the CUDA toolkit, PyTorch and NCCL (in Python's nvidia packages) but none
# of dsv's Debian libraries and no -dev packages. Builds here ./dsv,
# libdsvcuda.so, the kernel tests and the bench programs, and copies the
# shared libraries they need that the device lacks into build/gpu/lib
# (OpenBLAS is left out: the CPU side then uses the built-in sgemm). Then,
# with the device tool, one call runs everything (tests/gpu/run.sh):
#   command: sh tests/gpu/run.sh
#   carry:   dsv, libdsvcuda.so, build/tests, build/gpu
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
kt=$(for f in tests/unit/kernel_*.c; do n=${f##*/}; echo "build/tests/${n%.c}"; done)
make -s -j"$(nproc)" dsv $kt build/tests/gen_bench build/tests/kernels_bench \
	build/tests/gpt_bench build/tests/attention_bench
[ -f libdsvcuda.so ] || { echo "bundle: no libdsvcuda.so: nvcc is needed here" >&2; exit 1; }
rm -rf build/gpu
mkdir -p build/gpu/lib
for bin in dsv libdsvcuda.so $kt build/tests/*_bench; do ldd "$bin"; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
	while read -r lib; do
		case ${lib##*/} in
		# the C runtime and CUDA's own libraries are on the device
		libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|\
		libgcc_s.so*|libstdc++.so*|libresolv.so*|libcuda.so*|libcublas*|\
		libcudart*|libnccl*) ;;
		*) cp -L "$lib" build/gpu/lib/ ;;
		esac
	done
echo "bundle: $(ls build/gpu/lib | wc -l) libraries; carry dsv libdsvcuda.so build/tests build/gpu"
du -shc dsv libdsvcuda.so build/tests build/gpu | tail -n 1
