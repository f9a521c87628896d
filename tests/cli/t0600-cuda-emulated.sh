#!/bin/sh
# t0600-cuda-emulated.sh: the commands' CUDA paths against their CPU paths,
# end to end, with libdsvcuda built for the CUDA emulation (tests/emu), which
# runs the kernels on the CPU: the filter rules, fuzzy dedup and classifier
# scores keep the same records, greedy generation writes the same text,
# training reaches the same loss, and two ranks (NCCL, emulated over MPI)
# train as one rank does with the same global batch. Skipped where the
# emulation is not built.
. "$(dirname "$0")/lib.sh"

EMU="$TOP/${B:-build}/libdsvcuda-emu.so"
if [ ! -f "$EMU" ]; then
	test_skip 'cuda paths under the emulation' "no $EMU (it needs the CUDA headers and python3)"
	exit 0
fi
gpu() { DSV_CUDA_LIB="$EMU" OMP_WAIT_POLICY=passive "$DSV" "$@"; }

dsv init >/dev/null && dsv commit "$DEMO/web-a.jsonl.gz" -m web -q
# near-duplicates: the first 80 records again with one word changed
zcat "$DEMO/web-a.jsonl.gz" | head -n 80 | sed 's/ the / a /' >near.jsonl
dsv commit near.jsonl --append -m near -q

test_expect_success 'filter rules: cuda keeps the records cpu keeps' '
	dsv derive filter main --rules gopher-quality,gopher-repetition,c4,fineweb \
		--device cpu -o fcpu -m f -q &&
	gpu derive filter main --rules gopher-quality,gopher-repetition,c4,fineweb \
		--device cuda -o fgpu -m f -q &&
	dsv export fcpu >fcpu.jsonl && dsv export fgpu >fgpu.jsonl &&
	test_cmp fcpu.jsonl fgpu.jsonl &&
	test "$(wc -l <fcpu.jsonl)" -lt 680
'

test_expect_success 'the compute record has the seconds the kernels kept the device busy' '
	dsv show fgpu >show.txt &&
	gs=$(sed -n "s/^    \"gpu_s\": \([0-9.e-]*\),$/\1/p" show.txt) &&
	wall=$(sed -n "s/^    \"wall_s\": \([0-9.e-]*\),$/\1/p" show.txt) &&
	awk -v g="$gs" -v w="$wall" "BEGIN { exit !(g > 0 && g <= w) }" &&
	grep -A 2 "\"name\": \"CUDA emulation on the CPU\"" show.txt | grep -q "\"gpu_s\": $gs" &&
	dsv show fcpu | grep -q "^    \"gpu_s\": 0.0,"
'

test_expect_success 'fuzzy dedup: cuda drops the near-duplicates cpu drops' '
	dsv derive dedup main --fuzzy --device cpu -o dcpu -m d -q &&
	gpu derive dedup main --fuzzy --device cuda -o dgpu -m d -q &&
	dsv export dcpu >dcpu.jsonl && dsv export dgpu >dgpu.jsonl &&
	test_cmp dcpu.jsonl dgpu.jsonl &&
	test "$(wc -l <dcpu.jsonl)" -le 620 &&
	dsv show dgpu | grep -q "CUDA emulation on the CPU"
'

test_expect_success 'classifier scores: cuda and cpu keep the same records' '
	dsv commit -b labels "$DEMO/quality.jsonl.gz" -m labels -q &&
	dsv classifier train labels --label label -o clf -q &&
	dsv derive annotate main --classifier clf --column q --device cpu -o acpu -m a -q &&
	gpu derive annotate main --classifier clf --column q --device cuda -o agpu -m a -q &&
	dsv derive filter acpu --where "q > 0.5" -o qcpu -m q -q &&
	dsv derive filter agpu --where "q > 0.5" -o qgpu -m q -q &&
	dsv export qcpu >qcpu.jsonl && dsv export qgpu >qgpu.jsonl &&
	test_cmp qcpu.jsonl qgpu.jsonl
'

dsv tokenizer train main --vocab 300 -o tok -q
printf 'n_layer = 2\nn_head = 2\nn_embd = 32\nseq_len = 80\nbatch_size = 2\nmax_steps = 3\nlr = 0.003\nwarmup_steps = 1\neval_every = 0\ncheckpoint_every = 0\nseed = 1\n' >tiny.conf

test_expect_success 'train: cuda (flash attention, two key tiles) reaches the cpu loss' '
	dsv train main --tokenizer tok --config tiny.conf --device cpu -o mcpu -m m >tcpu &&
	gpu train main --tokenizer tok --config tiny.conf --device cuda -o mgpu -m m >tgpu &&
	grep -q "on CUDA emulation" tgpu &&
	lc=$(sed -n "s/.*train loss \([0-9.]*\).*/\1/p" tcpu) &&
	lg=$(sed -n "s/.*train loss \([0-9.]*\).*/\1/p" tgpu) &&
	awk -v a="$lc" -v b="$lg" "BEGIN { exit !(a > 0 && (a - b) ^ 2 < 1e-4) }"
'

test_expect_success 'generate: greedy text is the same on cuda and cpu' '
	dsv generate mcpu --prompt "The " -n 2 --max-tokens 16 --temperature 0 \
		--device cpu >gcpu.jsonl &&
	gpu generate mcpu --prompt "The " -n 2 --max-tokens 16 --temperature 0 \
		--device cuda >ggpu.jsonl &&
	test_cmp gcpu.jsonl ggpu.jsonl
'

test_expect_success 'rephrase: the same records on cuda and cpu; the GPU seconds recorded' '
	dsv derive sample main --n 6 --seed 3 -o src -m src -q &&
	printf "Say it plainly:\n{text}\nPlainly:" >t.txt &&
	dsv derive rephrase src --model mcpu --template t.txt --max-tokens 8 \
		--temperature 0 --device cpu -o rcpu -m r -q &&
	gpu derive rephrase src --model mcpu --template t.txt --max-tokens 8 \
		--temperature 0 --device cuda -o rgpu -m r -q &&
	dsv export rcpu >rcpu.jsonl && dsv export rgpu >rgpu.jsonl &&
	test_cmp rcpu.jsonl rgpu.jsonl &&
	dsv show rgpu | grep -A 1 "\"name\": \"CUDA emulation on the CPU\"" |
		grep -q "\"gpu_s\": [0-9.]*[1-9]"
'

# 13 short records: the emulated forward passes are slow (24 web records
# took 220 s here, these about 10 s)
test_expect_success 'annotate --model: cuda and cpu perplexities keep the same records' '
	head -c 1200 "$DEMO/shakespeare.txt" >p.txt &&
	dsv commit p.txt --text-mode paragraph -b psrc -m psrc -q &&
	p=$(dsv eval mcpu psrc --json --device cpu | sed -n "s/.*\"perplexity\": \([0-9.]*\)}/\1/p") &&
	dsv derive annotate psrc --model mcpu --device cpu -o pcpu -m p -q &&
	gpu derive annotate psrc --model mcpu --device cuda -o pgpu -m p -q &&
	dsv derive filter pcpu --where "perplexity < $p" -o plcpu -m p >out &&
	grep -q "kept" out && ! grep -q " 0 of \| 13 of 13 " out &&
	dsv derive filter pgpu --where "perplexity < $p" -o plgpu -m p -q &&
	dsv export plcpu >plcpu.jsonl && dsv export plgpu >plgpu.jsonl &&
	test_cmp plcpu.jsonl plgpu.jsonl &&
	dsv show pgpu | grep -A 1 "\"name\": \"CUDA emulation on the CPU\"" |
		grep -q "\"gpu_s\": [0-9.]*[1-9]"
'

G="git --git-dir .dsv/lineage"
if command -v mpirun >/dev/null 2>&1 && mpirun --version >/dev/null 2>&1; then
	test_expect_success 'two ranks, a GPU each (NCCL), train as one rank with the global batch' '
		sed "s/batch_size = 2/batch_size = 1/" tiny.conf >dp2.conf &&
		CUDA_VISIBLE_DEVICES=0,1 DSV_CUDA_LIB="$EMU" OMP_WAIT_POLICY=passive \
			timeout 600 mpirun --allow-run-as-root --oversubscribe -n 2 \
			-x DSV_CUDA_LIB -x OMP_WAIT_POLICY -x CUDA_VISIBLE_DEVICES \
			"$DSV" train main --tokenizer tok --config dp2.conf --device cuda \
			-o dp2 -m dp2 -q &&
		$G show mgpu:METRICS.tsv >one.tsv && $G show dp2:METRICS.tsv >two.tsv &&
		test "$(cut -f1,2 one.tsv)" = "$(cut -f1,2 two.tsv)" &&
		paste one.tsv two.tsv | awk -F "\t" "NR > 2 { d = \$3 - \$8; if (d * d > 1e-8) exit 1 }" &&
		$G show dp2:dsv.json | grep -q "\"ranks\": 2"
	'
	test_expect_success 'mpirun -n 2 derive dedup --fuzzy on a GPU each keeps what one rank keeps' '
		CUDA_VISIBLE_DEVICES=0,1 DSV_CUDA_LIB="$EMU" OMP_WAIT_POLICY=passive \
			timeout 300 mpirun --allow-run-as-root --oversubscribe -n 2 \
			-x DSV_CUDA_LIB -x OMP_WAIT_POLICY -x CUDA_VISIBLE_DEVICES \
			"$DSV" derive dedup main --fuzzy --device cuda -o d2 -m d -q &&
		dsv export d2 >d2.jsonl && test_cmp dgpu.jsonl d2.jsonl
	'
else
	test_skip 'two ranks, a GPU each (NCCL)' 'no mpirun'
fi

test_done
