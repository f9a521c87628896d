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

say "verify every object against its id, and the index against the objects"
step dsv fsck

printf '\ndemo repository left in %s\n' "$DEMO"
