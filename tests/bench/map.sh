#!/bin/sh
# map.sh: the overhead of `dsv derive map`: MB (default 1024) of JSONL piped
# through `cat` as the external program, against `cat` alone on the same
# exported JSONL, its output written to a file (as map's goes to the store)
# and, the stricter reference, to /dev/null. Prints the rates, the ratios
# and the CPU seconds each used (with children: on a shared machine a
# steadier figure than the wall time). `cat` answers every record
# unchanged, so its version is a view of the input's shards (the best
# case); a second run through a `sed` that edits every text (not the keys)
# stores every record anew (the worst case), against that `sed` alone. DSV
# names another binary.
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
python3 - "$bytes" "$DSV" "$SED" <<'PY'
import resource, subprocess, sys, time
b, dsv, sed = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def timed(argv, **kw):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    subprocess.run(argv, check=True, **kw)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.time() - t, (r.ru_utime + r.ru_stime
                             - r0.ru_utime - r0.ru_stime)
def alone(prog, out):
    return timed("cat in.jsonl | %s >%s" % (prog, out), shell=True)
def rate(t):
    return "%.0f MiB/s (%.2f s" % (b / t / 2**20, t)
for name, cmd in (("cat (unchanged: a view)", "cat"),
                  ("sed marking every text (every record new)", sed)):
    # the program alone, its output to a file (as map's goes to the
    # store) and to /dev/null (no output cost at all)
    f, fcpu = alone(cmd, "out.jsonl")
    n, ncpu = alone(cmd, "/dev/null")
    w, cpu = timed([dsv, "derive", "map", "main", "--cmd", cmd, "-o",
                    "m%d" % len(cmd), "-m", "m", "-q"])
    print("map bench: %.0f MiB of JSONL; --cmd %s: alone to a file %s, "
          "%.2f CPU s), to /dev/null %s, %.2f CPU s); derive map %s, "
          "%.2f CPU s); ratio %.2fx of the file case, %.2fx of /dev/null"
          % (b / 2**20, name, rate(f), fcpu, rate(n), ncpu, rate(w), cpu,
             f / w, n / w))
PY
