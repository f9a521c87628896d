#!/bin/sh
# demo.sh: a guided tour of dsv on the demo corpus in fixtures/demo. Run from
# the repository root after `make` (or through `make demo`). It makes a scratch
# repository in build/demo and echoes each command before running it.
set -e

TOP=$(cd "$(dirname "$0")/.." && pwd)
DSV="$TOP/dsv"
DEMO="$TOP/build/demo"

if [ ! -x "$DSV" ]; then
	echo "dsv: error: '$DSV' not found; run 'make' first" >&2
	exit 1
fi

# A repository of its own: never the user's DSV_DIR.
unset DSV_DIR
# Lineage commits need an author; use the user's git identity when there is one.
if [ -z "$DSV_AUTHOR" ] && ! git config user.email >/dev/null 2>&1; then
	DSV_AUTHOR="dsv demo <demo@dsv.invalid>"
	export DSV_AUTHOR
fi

rm -rf "$DEMO"
mkdir -p "$DEMO"
cd "$DEMO"
# The inputs, reachable by the short paths the tour prints.
ln -s "$TOP/fixtures" fixtures

dsv() { "$DSV" "$@"; }
B= N=
if [ -t 1 ]; then B=$(printf '\033[1m') N=$(printf '\033[0m'); fi
step() {
	printf '\n%s$ %s%s\n' "$B" "$*" "$N"
	"$@"
}
# step_to FILE CMD...: as step, with CMD's output going to FILE.
step_to() {
	_f=$1
	shift
	printf '\n%s$ %s > %s%s\n' "$B" "$*" "$_f" "$N"
	"$@" > "$_f"
}
say() { printf '\n# %s\n' "$*"; }

say "a new repository: objects, LMDB index and a bare git repository for the lineage"
step dsv init

say "commit 600 C4 documents (gzipped JSONL)"
step dsv commit fixtures/demo/web-a.jsonl.gz -m "web: first crawl"

say "append 400 more (zstd); 100 of them are already in the repository"
step dsv commit --append fixtures/demo/web-b.jsonl.zst -m "web: second crawl"
step dsv tag v1

say "four public-domain books on a branch of their own"
step dsv commit fixtures/demo/books.jsonl.gz --branch books -m "books"

say "committing a file the repository already holds stores nothing new"
step dsv commit fixtures/demo/web-a.jsonl.gz --branch again -m "web: first crawl, again"

say "history, as dsv sees it and as plain git sees it"
step dsv log --graph
step git --git-dir .dsv/lineage log --graph --oneline --all

say "one version: its record (dsv.json: op, stats, compute) and its shards"
step dsv show main
step dsv ls main
step dsv status

say "what the append added, by record hash"
step dsv diff main~1 main

step dsv cat main --limit 2

say "compute spent on main and everything it came from"
step dsv audit main

say "export the first version and compare it byte for byte with the input"
step dsv export main~1 -o web-a.export.jsonl
step_to web-a.input.jsonl gzip -dc fixtures/demo/web-a.jsonl.gz
step cmp web-a.input.jsonl web-a.export.jsonl
echo "identical: $(wc -c < web-a.export.jsonl) bytes"

say "selection derivatives are views: selections and columns over main's shards"
step dsv derive filter main --rules gopher-quality,gopher-repetition,c4,fineweb -o edu-1 -m "heuristic quality rules"
step dsv derive dedup --fuzzy edu-1 -o edu-2 -m "near-duplicates out"
step dsv derive sample edu-2 --fraction 0.5 --seed 1 -o edu-3 -m "half, seeded"
step dsv log --graph --oneline edu-3
step dsv diff main edu-2

say "the audit walks the whole ancestry: ingest and selection compute"
step dsv audit edu-3

say "statistics and a quality classifier become columns; --where filters on them"
step dsv derive annotate edu-2 --stats -o edu-2s -m "heuristic statistics"
step dsv derive filter edu-2s --where "words >= 100 && alpha_ratio > 0.8" -o edu-3w -m "long, mostly words"
step dsv commit fixtures/demo/quality.jsonl.gz --branch labels -m "DCLM human quality labels"
step dsv classifier train labels --label label -o clf -m "quality classifier"
step dsv derive annotate edu-3w --classifier clf --column quality -o edu-4 -m "quality scores"
step dsv derive filter edu-4 --where "quality > 0.5" -o edu-5 -m "the classifier says good"

say "a mix that repeats a version, and exact dedup taking the repeats out again"
step dsv derive mix main:1 edu-5:2 -o mixed -m "web, the good part three times"
step dsv derive dedup --exact mixed -o mixed-once -m "exact duplicates out"

say "training on pinned versions: a tokenizer, then one recipe on raw and on filtered data"
step dsv derive split main --valid 0.1 --seed 1 -o web -m "train and validation"
step dsv derive filter web-train --rules gopher-quality,gopher-repetition,c4,fineweb -o web-train-edu -m "heuristic quality rules"
step dsv tokenizer train web-train --vocab 512 -o tok -m "BPE, 512 tokens"
cat >tiny.conf <<'CONF'
# a tiny GPT-2 for the tour (docs/train.md lists every key)
n_layer = 2
n_head = 2
n_embd = 64
seq_len = 64
batch_size = 8
max_steps = 150
lr = 3e-3
warmup_steps = 10
eval_every = 25
eval_tokens = 8192
seed = 1
CONF
step cat tiny.conf
step dsv train web-train --tokenizer tok --config tiny.conf --valid web-valid -o model-raw -m "tiny model, raw web"
step dsv train web-train-edu --tokenizer tok --config tiny.conf --valid web-valid -o model-edu -m "tiny model, filtered web"
step dsv compare model-raw model-edu
say "was the compute spent on model-edu's data under the break-even line?"
step dsv audit model-edu --baseline model-raw
step dsv eval model-edu web-valid

say "transformation and generation: rephrase and synth with the model, map through a program"
step dsv derive sample web-valid --n 8 --seed 2 -o sources -m "eight sources"
printf 'Rewrite this clearly:\n{text}\nRewritten:' >plain.txt
step cat plain.txt
step dsv derive rephrase sources --model model-edu --template plain.txt --max-tokens 32 --seed 1 -o rephrased -m "rephrased by model-edu"
step dsv derive map sources --cmd "sed 's/ the / THE /g'" -o shouted -m "every ' the ' upper-cased by sed"
cat >verify.sh <<'PROG'
#!/bin/sh
# a verifier: JSON on stdin; accept a candidate with at least five words
[ "$(sed 's/.*"text":"//; s/".*//' | wc -w)" -ge 5 ]
PROG
chmod +x verify.sh
step dsv derive synth --model model-edu --n 16 --max-tokens 32 --seed 1 --verify ./verify.sh -o synthetic -m "synthetic, verified"
step dsv derive mix edu-5:1 rephrased:1 synthetic:1 -o final -m "the training mix"
step dsv log --graph --oneline final

say "the audit counts the generator's training and its data once each"
step dsv audit final

say "verify every object against its id, and the index against the objects"
step dsv fsck

say "one HTML page on the final mix: its lineage graph, compute by mode, model-edu's loss curves"
step dsv report final -o report.html

printf '\ndemo repository left in %s\n' "$DEMO"
printf 'the report: %s/report.html (open it in a browser)\n' "$DEMO"
