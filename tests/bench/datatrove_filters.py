"""datatrove_filters.py: the Python reference for tests/bench/filter.sh:
datatrove's heuristic filters chained as in a datatrove pipeline (by default
all four, GopherQuality -> GopherRepetition -> C4Quality -> FineWebQuality),
one process, over a JSONL file; prints documents in, kept, and wall and CPU
seconds spent in the filters (reading and JSON parsing excluded).
Usage: datatrove_filters.py FILE.jsonl [MAX_BYTES [RULES]]
RULES: dsv's names of the rule sets, comma-separated, in pipeline order.
"""
import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                        GopherQualityFilter,
                                        GopherRepetitionFilter)

SETS = {"gopher-quality": GopherQualityFilter,
        "gopher-repetition": GopherRepetitionFilter,
        "c4": C4QualityFilter,
        "fineweb": FineWebQualityFilter}
rules = sys.argv[3].split(",") if len(sys.argv) > 3 else list(SETS)
for r in rules:
    if r not in SETS:
        sys.exit("datatrove_filters.py: unknown rule set '%s'" % r)
filters = [SETS[r]() for r in rules]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 62
docs, nbytes = [], 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        if nbytes >= limit:
            break
        nbytes += len(line)
        docs.append(json.loads(line)["text"])
text_bytes = sum(len(t.encode()) for t in docs)
# load spaCy before the clock starts
for f in filters:
    f.filter(Document(text="warm up the tokenizer " * 20, id="w"))
kept = 0
t0 = time.perf_counter()
c0 = time.process_time()
for i, t in enumerate(docs):
    doc = Document(text=t, id=str(i))
    ok = True
    for f in filters:
        r = f.filter(doc)
        if r is not True:
            ok = False
            break
    kept += ok
secs = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({"rules": rules, "docs": len(docs), "kept": kept, "jsonl_bytes": nbytes,
                  "text_bytes": text_bytes, "seconds": secs,
                  "cpu_seconds": cpu}))
