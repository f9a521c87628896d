#!/bin/sh
# dedup.sh: the dedup speed benchmark (issue 5). On one corpus from
# ../shared/bench/make_corpus.py: `dsv derive dedup --fuzzy` end to end
# beside datasketch MinHash + MinHashLSH (14 bands x 8 rows) and datatrove's
# four-stage MinHash dedup (2 workers), and `dsv derive dedup --exact`
# beside a Python set of XXH3-128 digests; MB/s, ratios, and recall on the
# planted dup_of records. The Python tools come from PyPI in a virtualenv
# under tests/bench/work/ (ignored by git).
#
#   sh tests/bench/dedup.sh              256 MiB corpus (MB=256)
#   MB=64 sh tests/bench/dedup.sh        a quicker run
#   DATATROVE=0 sh tests/bench/dedup.sh  skip datatrove (minutes at 256 MiB)
set -e
. "$(dirname "$0")/lib.sh"

MB=${MB:-256}
W=$BENCH_WORK
CORPUS=$W/corpus-${MB}mb.jsonl
DSV=$BENCH_DSV
REF="$BENCH_TOP/tests/bench/dedup_ref.py"
VENV=$W/venv-dedup
unset DSV_DIR
bench_author

mkdir -p "$W"
bench_begin "dedup-${MB}mb"
echo "== dsv dedup benchmark, corpus of $MB MiB"
bench_env
bench_corpus "$MB" "$CORPUS"
SIZE=$(bench_size "$CORPUS")
echo "corpus: $CORPUS, $SIZE bytes, $(wc -l < "$CORPUS") records"
cat "$CORPUS" > /dev/null

have_py=1
bench_venv "$VENV" datasketch datatrove regex tokenizers orjson spacy || have_py=0
PY=$VENV/bin/python
# datatrove 0.10.1 hashes str shingles, which xxhash 4 refuses
if [ "$have_py" = 1 ] && ! "$PY" -c 'import xxhash, sys; sys.exit(xxhash.VERSION >= "4")' 2>/dev/null; then
	"$PY" -m pip install -q "xxhash<4" || have_py=0
fi

recall() { # NAME KEPT: prints the recalls and remembers the pair recall
	set -- "$1" "$2" $("$PY" "$REF" recall "$CORPUS" "$2" 2>/dev/null ||
			   python3 "$REF" recall "$CORPUS" "$2")
	printf '  %-34s recall %s (%s of %s planted dup_of records dropped; %s dropped in all); pair recall %s\n' \
		"$1" "$3" "$4" "$5" "$6" "$8"
	eval "RECALL_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)=$8"
}

# dsv: the corpus committed once (not timed here: see commit.sh)
R=$W/dedup-repo-${MB}mb
if [ ! -d "$R/.dsv" ]; then
	rm -rf "$R" && mkdir -p "$R"
	(cd "$R" && "$DSV" init -q . >/dev/null && "$DSV" commit "$CORPUS" -m corpus -q)
fi
cd "$R"
bench_time "dsv dedup --fuzzy" "$SIZE" /dev/null \
	"$DSV" derive dedup main --fuzzy -o fuzzy --force -m fuzzy -q
"$DSV" export fuzzy -o "$W/dsv-fuzzy.jsonl"
python3 "$REF" ids "$W/dsv-fuzzy.jsonl" "$W/kept-dsv-fuzzy"
recall dsv_fuzzy "$W/kept-dsv-fuzzy"
bench_time "dsv dedup --exact" "$SIZE" /dev/null \
	"$DSV" derive dedup main --exact -o exact --force -m exact -q
"$DSV" export exact -o "$W/dsv-exact.jsonl"
python3 "$REF" ids "$W/dsv-exact.jsonl" "$W/kept-dsv-exact"
recall dsv_exact "$W/kept-dsv-exact"
rm -f "$W/dsv-fuzzy.jsonl" "$W/dsv-exact.jsonl"
cd "$BENCH_TOP"

if [ "$have_py" = 1 ]; then
	bench_time "python set of xxh3-128 (exact)" "$SIZE" /dev/null \
		"$PY" "$REF" exact "$CORPUS" "$W/kept-py-exact"
	recall py_exact "$W/kept-py-exact"
	bench_time "datasketch minhash+lsh 14x8" "$SIZE" /dev/null \
		"$PY" "$REF" datasketch "$CORPUS" "$W/kept-datasketch"
	recall datasketch "$W/kept-datasketch"
	if [ "${DATATROVE:-1}" != 0 ]; then
		rm -rf "$W/datatrove-minhash"
		bench_time "datatrove minhash (2 workers)" "$SIZE" /dev/null \
			"$PY" "$REF" datatrove "$CORPUS" "$W/datatrove-minhash" "$W/kept-datatrove"
		recall datatrove "$W/kept-datatrove"
		rm -rf "$W/datatrove-minhash"
	fi
fi

echo
bench_table
echo
fz=$(bench_field "dsv dedup --fuzzy" 3)
ex=$(bench_field "dsv dedup --exact" 3)
ds=$(bench_field "datasketch minhash+lsh 14x8" 3)
dt=$(bench_field "datatrove minhash (2 workers)" 3)
pe=$(bench_field "python set of xxh3-128 (exact)" 3)
echo "targets:"
bench_check "fuzzy dedup vs datasketch (x)" "$(bench_ratio "$fz" "$ds")" ">=" 10
bench_check "fuzzy dedup vs datatrove (x)" "$(bench_ratio "$fz" "$dt")" ">=" 50
bench_check "exact dedup vs a Python set (x)" "$(bench_ratio "$ex" "$pe")" ">=" 10
bench_check "fuzzy pair recall minus datasketch's" \
	"$(awk -v a="${RECALL_dsv_fuzzy:-}" -v b="${RECALL_datasketch:-}" 'BEGIN { if (a != "" && b != "") printf "%.4f", a - b }')" ">=" 0
bench_check "fuzzy pair recall minus datatrove's" \
	"$(awk -v a="${RECALL_dsv_fuzzy:-}" -v b="${RECALL_datatrove:-}" 'BEGIN { if (a != "" && b != "") printf "%.4f", a - b }')" ">=" 0
