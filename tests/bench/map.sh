#!/bin/sh
# map.sh: the overhead of `dsv derive map`: MB (default 1024) of JSONL piped
# through `cat` as the external program, against `cat` alone on the same
# exported JSONL. Prints both rates and their ratio.
#   MB=256 sh tests/bench/map.sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DSV="$TOP/dsv"
MB=${MB:-1024}
W=$(mktemp -d "${TMPDIR:-/tmp}/dsv-mapbench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
# corpus: the demo web records repeated with a counter to MB MiB
python3 - "$MB" "$TOP/fixtures/demo/web-a.jsonl.gz" >corpus.jsonl <<'PY'
import gzip, json, sys
mb = int(sys.argv[1]); recs = [json.loads(l) for l in gzip.open(sys.argv[2], "rt")]
out, n, i = sys.stdout, 0, 0
while n < mb << 20:
    r = dict(recs[i % len(recs)]); r["text"] = "%d %s" % (i, r["text"]); i += 1
    l = json.dumps(r, ensure_ascii=False) + "\n"; out.write(l); n += len(l.encode())
PY
"$DSV" init >/dev/null
"$DSV" commit corpus.jsonl -m corpus -q
"$DSV" export main -o in.jsonl
bytes=$(wc -c <in.jsonl)
t0=$(date +%s.%N); cat in.jsonl | cat >out.jsonl; t1=$(date +%s.%N)
"$DSV" derive map main --cmd cat -o mapped -m mapped -q
t2=$(date +%s.%N)
python3 - "$bytes" "$t0" "$t1" "$t2" <<'PY'
import sys
b, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
cat, mp = b / (t1 - t0) / 2**20, b / (t2 - t1) / 2**20
print("map bench: %.0f MiB of JSONL; cat alone %.0f MiB/s (%.2f s); "
      "derive map --cmd cat %.0f MiB/s (%.2f s); ratio %.2fx"
      % (b / 2**20, cat, t1 - t0, mp, t2 - t1, mp / cat))
PY
