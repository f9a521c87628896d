#!/bin/sh
# generate.sh: GPT-2 124M (12 x 768, vocab 50257, random weights) generation
# tokens/s with the KV cache, greedy, batch 1 and batch 64, prompts of P
# tokens and N new tokens each: dsv's kernels (tests/bench/gen_bench.c)
# beside PyTorch with the same weights, prompts and lengths
# (tests/bench/gen_torch.py: fp32, and bf16 too on the GPU), on the CPU
# and, where a device exists, on CUDA. Also says how many generated ids
# agree. PyTorch comes from $PYTHON (default python3); skipped, saying so,
# where it is missing. Target on the GPU: dsv >= 1.0x PyTorch.
#   P=16 N=32 sh tests/bench/generate.sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
P=${P:-16}; N=${N:-32}
PY=${PYTHON:-python3}
cd "$TOP"
make -s "$B/tests/gen_bench"
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv-gen-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
have_torch=1
"$PY" -c 'import torch' 2>/dev/null || { have_torch=0; echo "SKIP torch: not installed for $PY"; }
devs=cpu
if "$B/tests/gen_bench" 1 1 1 cuda >/dev/null 2>&1; then
	devs="cpu cuda"
else
	echo "SKIP generate bench on CUDA: no device"
fi
for dev in $devs; do
	for b in 1 64; do
		"$B/tests/gen_bench" "$b" "$P" "$N" "$dev" "$work/w.safetensors" "$work/ids.bin"
		if [ "$have_torch" = 1 ]; then
			"$PY" tests/bench/gen_torch.py "$work/w.safetensors" "$work/ids.bin" "$b" "$P" "$N" "$dev" fp32
			[ "$dev" = cpu ] ||
				"$PY" tests/bench/gen_torch.py "$work/w.safetensors" "$work/ids.bin" "$b" "$P" "$N" "$dev" bf16
		fi
	done
done
