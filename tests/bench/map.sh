#!/bin/sh
# map.sh: the overhead of `dsv derive map`: MB (default 1024) of JSONL piped
# through `cat` as the external program, against `cat` alone on the same
# exported JSONL. Prints both rates, their ratio and the CPU seconds map
# used (its own and its children's: on a shared machine a steadier figure
# than the wall time). `cat` answers every record unchanged, so its version
# is a view of the input's shards (the best case); a second run through a
# `sed` that edits every text (not the keys) stores every record anew (the
# worst case), against that `sed` alone. DSV names another binary.
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
# every text starts with its counter: mark it, keys untouched
printf '%s\n' "exec sed 's/\"text\": \"/&~/'" >edit.sh
SED="sh $W/edit.sh"
t0=$(date +%s.%N); cat in.jsonl | cat >out.jsonl; t1=$(date +%s.%N)
t2=$(date +%s.%N); cat in.jsonl | $SED >out.jsonl; t3=$(date +%s.%N)
python3 - "$bytes" "$t0" "$t1" "$t2" "$t3" "$DSV" "$SED" <<'PY'
import resource, subprocess, sys, time
b, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:6])
dsv, sed = sys.argv[6], sys.argv[7]
def run(cmd, out):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    subprocess.run([dsv, "derive", "map", "main", "--cmd", cmd, "-o", out,
                    "-m", out, "-q"], check=True)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.time() - t, (r.ru_utime + r.ru_stime
                             - r0.ru_utime - r0.ru_stime)
for name, cmd, alone in (("cat (unchanged: a view)", "cat", t1 - t0),
                         ("sed marking every text (every record new)", sed, t3 - t2)):
    w, cpu = run(cmd, "mapped-%d" % len(cmd))
    print("map bench: %.0f MiB of JSONL; --cmd %s: alone %.0f MiB/s "
          "(%.2f s); derive map %.0f MiB/s (%.2f s, %.2f CPU s); "
          "ratio %.2fx" % (b / 2**20, name, b / alone / 2**20, alone,
                           b / w / 2**20, w, cpu, alone / w))
PY
