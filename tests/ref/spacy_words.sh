#!/bin/sh
# spacy_words.sh: builds tests/ref/dsv_words.c against build/libdsvkernels.a
# and runs spacy_words.py in the venv of make_datatrove_ref.sh over the web
# fixtures (the 7,434 documents of tests/ref/datatrove_decisions.tsv), or
# over random strings:  sh tests/ref/spacy_words.sh [--random N --seed S]
# Prints each document split otherwise than spaCy splits it, then the count.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
fixtures=${DSV_FIXTURES:-$root/../shared/fixtures}
python=${SPACY_PYTHON:-$here/work/venv/bin/python}
prog=$root/build/tests/ref/dsv_words
make -C "$root" -s build/libdsvkernels.a
mkdir -p "$(dirname "$prog")"
${CC:-cc} -O2 -I"$root" -o "$prog" "$here/dsv_words.c" \
	"$root/build/libdsvkernels.a" -lpcre2-8 -lm -ldl -pthread -fopenmp
if [ $# -gt 0 ]; then
	exec "$python" "$here/spacy_words.py" "$prog" "$@"
fi
exec "$python" "$here/spacy_words.py" "$prog" "$fixtures"/web/*.jsonl.gz
