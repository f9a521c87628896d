#!/bin/sh
# train_cpu.sh: tokens/s of `dsv train` on the CPU (the whole command's
# training loop: data loading, steps, evaluation off) beside PyTorch on the
# CPU with the same model, batch and AdamW (tests/bench/gpt_torch.py).
# Target: dsv >= 0.7x PyTorch.
#   sh tests/bench/train_cpu.sh [L C NH T B steps]   (default 4 128 4 128 8 20)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
L=${1:-4} C=${2:-128} NH=${3:-4} T=${4:-128} B=${5:-8} STEPS=${6:-20} V=1024
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv-train-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
D=${DSV:-$top/dsv} # DSV=path compares another build
$D init >/dev/null
$D commit "$top/fixtures/demo/shakespeare.txt" --text-mode paragraph -m data -b data >/dev/null
$D tokenizer train data --vocab $V -o tok >/dev/null
printf "n_layer = %s\nn_head = %s\nn_embd = %s\nseq_len = %s\nbatch_size = %s\nmax_steps = %s\nlr = 1e-3\n" \
	"$L" "$NH" "$C" "$T" "$B" "$STEPS" >c.conf
$D tokenize data --tokenizer tok >/dev/null 2>&1 || true
out=$($D train data --tokenizer tok --config c.conf -o m --device cpu --json)
dsv_tps=$(printf '%s\n' "$out" | sed 's/.*"tokens_per_s": \([0-9.]*\).*/\1/')
echo "dsv train cpu: L=$L C=$C NH=$NH T=$T B=$B V=$V steps=$STEPS  result dsv tokens/s $dsv_tps"
PY=${PYTHON:-python3}
[ -x /tmp/gptbench-venv/bin/python ] && PY=${PYTHON:-/tmp/gptbench-venv/bin/python}
if "$PY" -c 'import torch' 2>/dev/null; then
	tline=$(OMP_WAIT_POLICY=PASSIVE "$PY" "$top/tests/bench/gpt_torch.py" $L $C $NH $T $B $V $STEPS 2>/dev/null | tail -1)
	echo "$tline"
	torch_tps=$(printf '%s\n' "$tline" | sed 's/.*tokens\/s \([0-9.]*\).*/\1/')
	awk -v a="$dsv_tps" -v b="$torch_tps" 'BEGIN { printf "ratio dsv/torch %.2fx (target >= 0.7x)\n", a / b }'
else
	echo "SKIP torch: not installed for $PY"
fi
