#!/bin/sh
# annotate_model.sh: `dsv derive annotate --model` (perplexity, mode
# selection) against `dsv eval --column` (the same per-record loss, mode
# evaluation) on the same version and model, runs alternated; they share
# cmd/doc_loss.c, so they should cost the same. Beside them PyTorch on the
# CPU computing the same per-document losses (tests/bench/doc_loss_torch.py),
# which also checks dsv's column against its own values.
#   sh tests/bench/annotate_model.sh [L C NH T B RECORDS RUNS]
#   (default 4 128 4 128 8 200 3: the first 200 records of the demo web-a)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
L=${1:-4} C=${2:-128} NH=${3:-4} T=${4:-128} B=${5:-8} N=${6:-200} RUNS=${7:-3} V=1024
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv-annotate-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
D=${DSV:-$top/dsv} # DSV=path compares another build
export DSV_AUTHOR=${DSV_AUTHOR:-"dsv bench <bench@dsv.invalid>"}
export OMP_WAIT_POLICY=PASSIVE # what eval and annotate --model re-execute with
$D init >/dev/null
$D commit "$top/fixtures/demo/shakespeare.txt" --text-mode paragraph -m data -b data >/dev/null
$D tokenizer train data --vocab $V -o tok >/dev/null
printf "n_layer = %s\nn_head = %s\nn_embd = %s\nseq_len = %s\nbatch_size = 8\nmax_steps = 20\nlr = 1e-3\n" \
	"$L" "$NH" "$C" "$T" >c.conf
$D train data --tokenizer tok --config c.conf -o m --device cpu -q
zcat "$top/fixtures/demo/web-a.jsonl.gz" | head -n "$N" >v.jsonl
$D commit v.jsonl -m v -b v >/dev/null
ntok=$($D eval m v --json | sed 's/.*"tokens": \([0-9]*\).*/\1/')
echo "model L=$L C=$C NH=$NH T=$T V=$V, batch $B; $N records, $ntok tokens; $(nproc) cores"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ev="" an=""
i=1
while [ $i -le "$RUNS" ]; do
	t0=$(now)
	$D eval m v --column loss -o ev$i --batch $B -q
	t1=$(now)
	$D derive annotate v --model m --batch $B -o pv$i -m pv -q
	t2=$(now)
	ev="$ev $(secs $t0 $t1)" an="$an $(secs $t1 $t2)"
	i=$((i + 1))
done
med() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
me=$(med "$ev") ma=$(med "$an")
echo "dsv eval --column:          seconds$ev  median $me  result eval tokens/s $(awk -v n=$ntok -v s=$me 'BEGIN { printf "%.0f", n / s }')"
echo "dsv derive annotate --model: seconds$an  median $ma  result annotate tokens/s $(awk -v n=$ntok -v s=$ma 'BEGIN { printf "%.0f", n / s }')"
awk -v a="$ma" -v b="$me" 'BEGIN { printf "ratio annotate/eval %.2fx (the same work: expect about 1)\n", a / b }'
G="git --git-dir .dsv/lineage"
echo "FLOPs recorded: eval $($G show ev1:dsv.json | sed -n 's/.*"flops": \(.*\),/\1/p') (evaluation)," \
	"annotate $($G show pv1:dsv.json | sed -n 's/.*"flops": \(.*\),/\1/p') (selection)"

PY=${PYTHON:-python3}
[ -x /tmp/gptbench-venv/bin/python ] && PY=${PYTHON:-/tmp/gptbench-venv/bin/python}
if "$PY" -c 'import torch' 2>/dev/null; then
	$D eval m v --save-weights w.safetensors -q
	$D export v --format tokens --tokenizer tok -o v.bin
	tline=$("$PY" "$top/tests/bench/doc_loss_torch.py" w.safetensors v.bin $B pv1)
	echo "$tline"
	tt=$(printf '%s\n' "$tline" | sed -n 's/.* \([0-9.]*\) s  result torch.*/\1/p')
	awk -v a="$ma" -v b="$tt" 'BEGIN { printf "ratio torch forward passes / dsv annotate command %.2fx\n", b / a }'
else
	echo "SKIP torch: not installed for $PY"
fi
