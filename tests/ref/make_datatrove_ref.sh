#!/bin/sh
# make_datatrove_ref.sh: installs datatrove and spaCy from PyPI in a
# virtualenv (tests/ref/work/venv, not committed) and writes datatrove's
# keep/drop decision and reason per rule set for every document of the web
# fixtures into tests/ref/datatrove_decisions.tsv, which is committed; the
# filter tests compare dsv's decisions with it. Run once, or after a
# datatrove upgrade:  sh tests/ref/make_datatrove_ref.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${DSV_FIXTURES:-$here/../../../shared/fixtures}
venv=$here/work/venv
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "datatrove==${DATATROVE_VERSION:-0.10.1}" spacy regex >/dev/null
version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("datatrove"), "spacy", m.version("spacy"))')
echo "datatrove $version"
"$venv/bin/python" "$here/datatrove_decisions.py" "$fixtures"/web/*.jsonl.gz \
	>"$here/datatrove_decisions.tsv.tmp"
mv "$here/datatrove_decisions.tsv.tmp" "$here/datatrove_decisions.tsv"
printf 'datatrove %s\n' "$version" >"$here/datatrove_version.txt"
wc -l "$here/datatrove_decisions.tsv"
