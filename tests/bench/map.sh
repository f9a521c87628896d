#!/bin/sh
# map.sh: the overhead of `dsv derive map`: MB (default 1024) of JSONL piped
# through `cat` as the external program, against `cat` alone on the same
# exported JSONL. Prints both rates, their ratio and the CPU seconds map
# used (its own and its children's: on a shared machine a steadier figure
# than the wall time). DSV names another binary to compare.
#   MB=256 sh tests/bench/map.sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DSV=${DSV:-"$TOP/dsv"}
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
python3 - "$bytes" "$t0" "$t1" "$DSV" <<'PY'
import resource, subprocess, sys, time
b, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
t = time.time()
subprocess.run([sys.argv[4], "derive", "map", "main", "--cmd", "cat", "-o",
                "mapped", "-m", "mapped", "-q"], check=True)
t2 = time.time()
r = resource.getrusage(resource.RUSAGE_CHILDREN)
cat, mp = b / (t1 - t0) / 2**20, b / (t2 - t) / 2**20
print("map bench: %.0f MiB of JSONL; cat alone %.0f MiB/s (%.2f s); "
      "derive map --cmd cat %.0f MiB/s (%.2f s, %.2f CPU s); ratio %.2fx"
      % (b / 2**20, cat, t1 - t0, mp, t2 - t, r.ru_utime + r.ru_stime,
         mp / cat))
PY
