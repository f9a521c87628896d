#!/bin/sh
# run.sh: every GPU check and benchmark in one call on the device machine,
# after tests/gpu/bundle.sh here (see there for the carry list). Runs the
# kernel tests (CUDA against the CPU reference), the MinHash and docstats
# kernel figures, generation beside PyTorch, and GPT-2 124M training beside
# PyTorch, then its device time by phase; logs go to $OUT, a summary is printed last. Nothing is built
# there: the device machine has no -dev packages. CORPUS_MB (default 256)
# sizes the kernels' corpus.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
OUT=${OUT:-${TMPDIR:-/tmp}/dsv-gpu}
mkdir -p "$OUT"
# Only the bundled libraries the device lacks are put on the path, so that
# PyTorch keeps the device's own.
rm -rf build/gpu/use
mkdir -p build/gpu/use
for lib in build/gpu/lib/*; do
	ldconfig -p | grep -q " ${lib##*/} " || ln -s "$top/$lib" build/gpu/use/
done
nccl=$(python3 -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "lib"))' 2>/dev/null || true)
LD_LIBRARY_PATH="$top/build/gpu/use${nccl:+:$nccl}:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH DSV_CUDA_LIB="$top/libdsvcuda.so"
summary="$OUT/summary.txt"
: >"$summary"
step() { # NAME COMMAND...: runs it, log in $OUT/NAME.log, result lines kept
	name=$1
	shift
	echo "== $name" | tee -a "$summary"
	"$@" >"$OUT/$name.log" 2>&1
	echo "   exit $?" >>"$summary"
	grep -E 'result|GB/s|MB/s|tokens/s|MFU|passed|FAIL|SKIP|error' "$OUT/$name.log" |
		head -n 40 >>"$summary"
}
nvidia-smi -L >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" >>"$summary"
ldd libdsvcuda.so | grep -i "not found" >>"$summary"

step kernel-tests env B=build sh tests/run.sh kernels
corpus=$OUT/corpus.jsonl
python3 - "$corpus" "${CORPUS_MB:-256}" <<'PY'
import gzip, sys
# CORPUS_MB MiB of web text: the demo's C4 records, numbered so none repeats
recs = gzip.open("fixtures/demo/web-a.jsonl.gz", "rb").read().splitlines()
with open(sys.argv[1], "wb") as f:
    n = i = 0
    while n < int(sys.argv[2]) << 20:
        l = recs[i % len(recs)].replace(b'{"text":"', b'{"text":"%d ' % i, 1) + b"\n"
        f.write(l); n += len(l); i += 1
PY
step kernels-bench build/tests/kernels_bench "$corpus"
rm -f "$corpus"
step generate sh -ec '
	for b in 1 64; do
		build/tests/gen_bench $b 16 128 cuda "$0/w.st" "$0/ids.bin" &&
		python3 tests/bench/gen_torch.py "$0/w.st" "$0/ids.bin" $b 16 128 cuda fp32 &&
		python3 tests/bench/gen_torch.py "$0/w.st" "$0/ids.bin" $b 16 128 cuda bf16
	done; rm -f "$0/w.st" "$0/ids.bin"' "$OUT"
step attention sh -c 'build/tests/attention_bench && python3 tests/bench/attention_torch.py'
step train-gpu sh tests/bench/train_gpu.sh 16 30
# where the step's device time goes, by phase (kernels/gpt.cu, profile)
step train-profile env DSV_GPT_PROFILE=1 build/tests/gpt_bench gpu 12 768 12 1024 16 8192 10
echo
cat "$summary"
