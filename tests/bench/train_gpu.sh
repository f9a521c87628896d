#!/bin/sh
# train_gpu.sh: GPT-2 124M (12 layers, 768 wide, 12 heads, seq 1024) trained
# by `dsv train` on one GPU: tokens/s and MFU (6N + 6LCT FLOPs per token over
# the H100 SXM dense bf16 peak, 989.4 TFLOP/s; PEAK_TFLOPS overrides), beside
# PyTorch on the same model and batch (bf16 autocast, SDPA, fused AdamW, with
# and without torch.compile; tests/bench/train_gpu_torch.py). Skips, saying
# so, without a GPU. Targets: >= 1.0x torch.compile, MFU >= 40%.
#   sh tests/bench/train_gpu.sh [B] [steps]   (default 16 30)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-16} STEPS=${2:-30} PEAK=${PEAK_TFLOPS:-989.4}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "SKIP train_gpu: no GPU on this machine"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv-train-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
D="$top/dsv"
$D init >/dev/null
# enough text for the steps: the demo books and Shakespeare, repeated
for i in 1 2 3 4; do zcat "$top/fixtures/demo/books.jsonl.gz"; done >books.jsonl
$D commit books.jsonl -m books -b data >/dev/null
$D tokenizer train data --vocab 8192 -o tok >/dev/null
printf "n_layer = 12\nn_head = 12\nn_embd = 768\nseq_len = 1024\nbatch_size = %s\nmax_steps = %s\nlr = 6e-4\nwarmup_steps = 10\ndevice = cuda\n" \
	"$B" "$STEPS" >c.conf
out=$($D train data --tokenizer tok --config c.conf -o m --json)
tps=$(printf '%s\n' "$out" | sed 's/.*"tokens_per_s": \([0-9.]*\).*/\1/')
fpt=$($D show m | sed -n 's/.*"flops_per_token": \([0-9.e+]*\).*/\1/p')
awk -v t="$tps" -v f="$fpt" -v p="$PEAK" 'BEGIN {
	printf "dsv train cuda 124M-shape (V=8192): result dsv tokens/s %.0f  MFU %.1f%%\n", t, 100 * t * f / (p * 1e12) }'
PY=${PYTHON:-python3}
if "$PY" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
	"$PY" "$top/tests/bench/train_gpu_torch.py" $B $STEPS 8192 "$PEAK"
else
	echo "SKIP torch: no CUDA torch for $PY"
fi
