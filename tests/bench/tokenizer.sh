#!/bin/sh
# tokenizer.sh: BPE training time against Hugging Face `tokenizers` at the
# same vocabulary on the same text, and encoding MB/s against tiktoken with
# the same merges on the same text (all threads and one thread each).
# Targets: >= 1x both. Env: TOK_MB (corpus size, default 30), TOK_VOCAB
# (default 16384). Peers come from PyPI into tests/bench/work/venv-tok.
. "$(dirname "$0")/lib.sh"
set -u
MB=${TOK_MB:-30}
VOCAB=${TOK_VOCAB:-16384}
W=$BENCH_WORK/tokenizer
mkdir -p "$W"
bench_env
bench_venv "$BENCH_WORK/venv-tok" tokenizers tiktoken || { echo "SKIP tokenizer bench: no peers"; exit 0; }
PY=$BENCH_WORK/venv-tok/bin/python
corpus=$W/corpus-${MB}mb.jsonl
[ -s "$corpus" ] || python3 "$BENCH_SHARED/bench/make_corpus.py" --mb "$MB" -o "$corpus" >/dev/null
bytes=$(python3 -c "
import json,sys
print(sum(len(json.loads(l)['text'].encode()) for l in open(sys.argv[1])))" "$corpus")
echo "corpus: $corpus ($bytes bytes of text, vocab $VOCAB)"

rm -rf "$W/repo" && mkdir "$W/repo" && cd "$W/repo" || exit 1
export DSV_DIR=$W/repo/.dsv
"$BENCH_DSV" init . >/dev/null && "$BENCH_DSV" commit "$corpus" -m bench -q || exit 1
bench_begin tokenizer
bench_time "dsv tokenizer train" "$bytes" /dev/null "$BENCH_DSV" tokenizer train main --vocab "$VOCAB" -o tok -q
t_dsv_train=$BENCH_SECS
git --git-dir "$DSV_DIR/lineage" show tok:TOKENIZER > "$W/TOKENIZER"
bench_time "dsv tokenize (all threads)" "$bytes" /dev/null "$BENCH_DSV" tokenize main --tokenizer tok -q
t_dsv_enc=$BENCH_SECS
# One thread: a fresh cache (a second tokenizer with the same merges would
# share it, so the cached array is dropped from the index by a new repo).
rm -rf "$W/repo1" && mkdir "$W/repo1" && cd "$W/repo1" && export DSV_DIR=$W/repo1/.dsv &&
	"$BENCH_DSV" init . >/dev/null && "$BENCH_DSV" commit "$corpus" -m bench -q &&
	"$BENCH_DSV" tokenizer train main --vocab "$VOCAB" -o tok -q || exit 1
bench_time "dsv tokenize (1 thread)" "$bytes" /dev/null "$BENCH_DSV" tokenize main --tokenizer tok -q -j 1
t_dsv_enc1=$BENCH_SECS

cat > "$W/peers.py" <<'PYEOF'
import json, sys, time
corpus, vocab, tokfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
docs = [json.loads(l)["text"] for l in open(corpus)]
nbytes = sum(len(d.encode()) for d in docs)
from tokenizers import Tokenizer, models, trainers, pre_tokenizers
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
t0 = time.perf_counter(); tok.train_from_iterator(docs, trainer=tr); t1 = time.perf_counter()
print("hf_train %.4f" % (t1 - t0))
import tiktoken
sys.path.insert(0, sys.argv[4])
from tiktoken_check import mergeable_ranks, GPT2_PAT
ranks = mergeable_ranks(open(tokfile, "rb").read())
enc = tiktoken.Encoding("dsv", pat_str=GPT2_PAT, mergeable_ranks=ranks,
                        special_tokens={"<|endoftext|>": len(ranks)})
import os
t0 = time.perf_counter(); enc.encode_ordinary_batch(docs, num_threads=os.cpu_count()); t1 = time.perf_counter()
print("tt_enc %.4f" % (t1 - t0))
t0 = time.perf_counter()
for d in docs: enc.encode_ordinary(d)
t1 = time.perf_counter()
print("tt_enc1 %.4f" % (t1 - t0))
PYEOF
out=$("$PY" "$W/peers.py" "$corpus" "$VOCAB" "$W/TOKENIZER" "$BENCH_TOP/tests/ref") || exit 1
t_hf=$(echo "$out" | awk '$1 == "hf_train" { print $2 }')
t_tt=$(echo "$out" | awk '$1 == "tt_enc" { print $2 }')
t_tt1=$(echo "$out" | awk '$1 == "tt_enc1" { print $2 }')
printf '  %-34s %8.3f s\n' "HF tokenizers train" "$t_hf"
printf '  %-34s %8.3f s %9s MB/s\n' "tiktoken encode (all threads)" "$t_tt" "$(bench_mbps "$bytes" "$t_tt")"
printf '  %-34s %8.3f s %9s MB/s\n' "tiktoken encode (1 thread)" "$t_tt1" "$(bench_mbps "$bytes" "$t_tt1")"
echo "targets:"
bench_check "training speed vs HF tokenizers (x)" "$(bench_ratio "$t_hf" "$t_dsv_train")" ">=" 1
bench_check "encoding MB/s vs tiktoken, all threads (x)" "$(bench_ratio "$t_tt" "$t_dsv_enc")" ">=" 1
bench_check "encoding MB/s vs tiktoken, 1 thread (x)" "$(bench_ratio "$t_tt1" "$t_dsv_enc1")" ">=" 1
echo "(dsv timings are whole commands: reading the version, writing objects and the index included)"
[ "$BENCH_FAILS" -eq 0 ]
