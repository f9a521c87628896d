#!/bin/sh
# tiktoken_check.sh: runs tiktoken_check.py in a virtualenv kept under
# tests/ref/work/venv (made once, reused). Exits 77 with a message when the
# virtualenv or tiktoken cannot be had (no network, no python3 -m venv).
#   tiktoken_check.sh DSV FIXTURES [--vocab N]
set -u
here=$(cd "$(dirname "$0")" && pwd)
venv=${DSV_REF_VENV:-$here/work/venv}
dsv=$1 fixtures=$2
shift 2
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv" >/dev/null 2>&1 || { echo "cannot make a virtualenv in $venv"; exit 77; }
fi
if ! "$venv/bin/python" -c 'import tiktoken' 2>/dev/null; then
	"$venv/bin/python" -m pip install -q --disable-pip-version-check tiktoken >/dev/null 2>&1 ||
		{ echo "cannot install tiktoken from PyPI"; exit 77; }
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv-tiktoken.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$here/tiktoken_check.py" "$dsv" "$fixtures" "$work" "$@"
