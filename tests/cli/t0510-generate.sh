#!/bin/sh
# t0510-generate.sh: dsv generate: a tiny model trained here on the demo
# corpus; seeded and greedy determinism, prompts from a version, bad options.
. "$(dirname "$0")/lib.sh"

dsv init >/dev/null && dsv commit "$DEMO/web-a.jsonl.gz" -m web -q
dsv tokenizer train main --vocab 300 -o tok -q
printf 'n_layer = 2\nn_head = 2\nn_embd = 32\nseq_len = 64\nbatch_size = 4\nmax_steps = 20\nlr = 0.003\nwarmup_steps = 2\neval_every = 0\ncheckpoint_every = 0\nseed = 1\n' >tiny.conf
dsv train main --tokenizer tok --config tiny.conf -o tiny -m tiny -q

test_expect_success 'generate prints one JSON line per sample' '
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 1 >g1.jsonl &&
	test "$(wc -l <g1.jsonl)" -eq 3 &&
	grep -q "\"prompt\":\"The \"" g1.jsonl && grep -q "\"stop\":\"length\"" g1.jsonl
'

test_expect_success 'the same seed gives the same text, another seed other text' '
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 1 >g2.jsonl &&
	test_cmp g1.jsonl g2.jsonl &&
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 2 >g3.jsonl &&
	! cmp -s g1.jsonl g3.jsonl
'

test_expect_success 'a sample does not depend on the batch it ran in' '
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 1 --batch 1 >g4.jsonl &&
	test_cmp g1.jsonl g4.jsonl
'

test_expect_success 'greedy decoding is deterministic; top-k 1 is greedy' '
	dsv generate tiny --prompt "a" -n 2 --max-tokens 12 --temperature 0 >gr1.jsonl &&
	dsv generate tiny --prompt "a" -n 2 --max-tokens 12 --top-k 1 --seed 9 >gr2.jsonl &&
	test_cmp gr1.jsonl gr2.jsonl &&
	test "$(sed -n 1p gr1.jsonl | sed "s/\"sample\":0,//")" = \
	     "$(sed -n 2p gr1.jsonl | sed "s/\"sample\":1,//")"
'

test_expect_success 'a top-k past the vocabulary keeps every token, however large' '
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 1 --top-k 100000 >gk1.jsonl &&
	dsv generate tiny --prompt "The " -n 3 --max-tokens 10 --seed 1 --top-k 4294967297 >gk2.jsonl &&
	test_cmp gk1.jsonl gk2.jsonl
'

test_expect_success 'a temperature too small for floats is greedy, not garbage' '
	dsv generate tiny --prompt "a" -n 2 --max-tokens 12 --temperature 1e-39 --seed 3 >gr3.jsonl &&
	test_cmp gr1.jsonl gr3.jsonl
'

test_expect_success 'a top-p too small for floats keeps the likeliest token' '
	dsv generate tiny --prompt "a" -n 2 --max-tokens 12 --top-p 1e-50 --seed 3 >gr4.jsonl &&
	test_cmp gr1.jsonl gr4.jsonl
'

test_expect_success 'a prompt cut to the context is said; --max-tokens past it stops at context' '
	long=$(printf "word %.0s" $(seq 200)) &&
	dsv generate tiny --prompt "$long" --max-tokens 10 --seed 1 >l1.jsonl 2>err &&
	grep -q "warning: 1 of 1 prompt keeps only its last 54 tokens (context 64, --max-tokens 10)" err &&
	dsv generate tiny --prompt "a" --max-tokens 200 --temperature 0 >l2.jsonl 2>err &&
	grep -q "last 1 token (context 64, --max-tokens 200)" err &&
	! grep -q "\"stop\":\"length\"" l2.jsonl &&
	dsv generate tiny --prompt "a" --max-tokens 10 --temperature 0 >l3.jsonl 2>err &&
	test ! -s err
'

test_expect_success '--prompts REV prompts with every record' '
	dsv derive sample main --n 5 --seed 1 -o five -m five -q &&
	dsv generate tiny --prompts five --max-tokens 4 --top-p 0.9 >p.jsonl &&
	test "$(wc -l <p.jsonl)" -eq 5
'

test_expect_success '--prompts REV is read in chunks, over again for -n: the same samples' '
	dsv generate tiny --prompts five -n 3 --max-tokens 4 --seed 2 --batch 2 >c1.jsonl &&
	env DSV_GEN_CHUNK_SAMPLES=3 "$DSV" generate tiny --prompts five -n 3 \
		--max-tokens 4 --seed 2 --batch 2 >c2.jsonl &&
	test_cmp c1.jsonl c2.jsonl && test "$(wc -l <c1.jsonl)" -eq 15 &&
	test "$(sed -n "s/.*\"prompt\":\([^,]*\).*/\1/p" c1.jsonl | sed -n 6p)" = \
	     "$(sed -n "s/.*\"prompt\":\([^,]*\).*/\1/p" c1.jsonl | sed -n 1p)"
'

test_expect_success 'a batch whose cache does not fit in memory is refused before allocating' '
	test_must_fail env DSV_TRAIN_MEMORY=2e6 "$DSV" generate tiny -n 64 --batch 64 \
		--max-tokens 60 2>err &&
	grep -q "generation does not fit: 64 sequences of 61 positions need [0-9]* bytes" err &&
	DSV_TRAIN_MEMORY=2e6 dsv generate tiny -n 64 --batch 2 --max-tokens 60 >b.jsonl &&
	test "$(wc -l <b.jsonl)" -eq 64
'

test_expect_success 'memory is checked before the first chunk, for the longest prompt any may bring' '
	long=$(printf "word %.0s" $(seq 200)) &&
	printf "{\"text\":\"a\"}\n{\"text\":\"%s\"}\n" "$long" >sl.jsonl &&
	dsv commit sl.jsonl -b sl -m sl -q &&
	# the model loads within what it needs, then the generator is refused
	test_must_fail env DSV_TRAIN_MEMORY=1 "$DSV" generate tiny --prompts sl \
		--batch 1 --max-tokens 4 2>err &&
	load=$(sed -n "s/.*it needs \([0-9]*\) bytes.*/\1/p" err) &&
	test_must_fail env DSV_TRAIN_MEMORY=$load "$DSV" generate tiny \
		--prompts sl --batch 1 --max-tokens 4 2>err &&
	need=$(sed -n "s/.*1 sequence of 64 positions need \([0-9]*\) bytes.*/\1/p" err) &&
	test -n "$need" &&
	# the first chunk (prompt "a") would fit, the second not: no sample
	test_must_fail env DSV_TRAIN_MEMORY=$((need - 1)) DSV_GEN_CHUNK_SAMPLES=1 \
		"$DSV" generate tiny --prompts sl --batch 1 --max-tokens 4 >out 2>err &&
	test ! -s out && grep -q "generation does not fit" err &&
	DSV_TRAIN_MEMORY=$need DSV_GEN_CHUNK_SAMPLES=1 dsv generate tiny \
		--prompts sl --batch 1 --max-tokens 4 >out 2>err &&
	test "$(wc -l <out)" -eq 2 && grep -q "1 of 2 prompts keeps only its" err
'

test_expect_success 'a model with a context of one token: a clear error' '
	sed "s/seq_len = 64/seq_len = 1/; s/max_steps = 20/max_steps = 1/" tiny.conf >one.conf &&
	dsv train main --tokenizer tok --config one.conf -o one -q &&
	test_must_fail dsv generate one --max-tokens 1 2>err &&
	grep -q "context is one token (seq_len = 1)" err
'

test_expect_success 'bad options and a non-model are errors' '
	dsv generate tiny --top-p 2; test $? -eq 2 &&
	dsv generate tiny --temperature x; test $? -eq 2 &&
	dsv generate tiny --temperature nan; test $? -eq 2 &&
	dsv generate tiny --temperature inf; test $? -eq 2 &&
	dsv generate tiny --top-p nan; test $? -eq 2 &&
	dsv generate tiny --prompt "$(printf "ab\377")" 2>err; test $? -eq 2 &&
	grep -q "prompt is not valid UTF-8" err &&
	dsv generate tiny --prompt a --prompts main; test $? -eq 2 &&
	test_must_fail dsv generate main --prompt a &&
	test_must_fail dsv generate tiny --device cuda --prompt a --max-tokens 2 ||
	test "$(dsv generate tiny --device cuda --prompt a --max-tokens 2 | wc -l)" -eq 1
'

test_done
