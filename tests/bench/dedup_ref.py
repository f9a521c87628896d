#!/usr/bin/env python3
"""dedup_ref.py: the Python dedup pipelines that dsv's dedup is timed
against (tests/bench/dedup.sh), and the recall scorer.

  dedup_ref.py datasketch CORPUS KEPT      MinHash (112 perms) + MinHashLSH 14x8
  dedup_ref.py datatrove CORPUS WORK KEPT  datatrove's 4-stage MinHash dedup
  dedup_ref.py exact CORPUS KEPT           a set of XXH3-128 digests
  dedup_ref.py recall CORPUS KEPT          recall on the planted dup_of records
  dedup_ref.py ids JSONL KEPT              the ids of a JSONL file (dsv's output)

Each pipeline reads the JSONL corpus, decides which records to keep (the
first of each duplicate group) and writes the kept ids, one per line, to
KEPT. Shingles are word 5-grams; for datasketch the words are re's \w+ over
the lowercased text (the usual datasketch recipe and a fast one: datatrove's
simplify_text would make it about 8x slower), update_batch per document.
"""
import json
import os
import re
import sys

WORD = re.compile(r"\w+")


def read(corpus):
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield r["id"], r["text"]


def shingles(text, simplify):
    words = simplify(text).split()
    if len(words) < 5:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + 5]).encode() for i in range(len(words) - 4)}


def simple_words(text):
    return " ".join(WORD.findall(text.lower()))


def run_datasketch(corpus, kept_path):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    with open(kept_path, "w") as out:
        for i, (rid, text) in enumerate(read(corpus)):
            sh = shingles(text, simple_words)
            m = MinHash(num_perm=112, seed=1)
            if sh:
                m.update_batch(list(sh))
            if sh and lsh.query(m):
                continue
            lsh.insert(str(i), m)
            out.write(rid + "\n")


def run_datatrove(corpus, work, kept_path, workers=2):
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
        MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    # the corpus split in `workers` files so that every task has input
    inp = os.path.join(work, "input")
    os.makedirs(inp, exist_ok=True)
    # contiguous parts, so that datatrove's (file, row) order, which picks
    # the record a cluster keeps, is the corpus order
    with open(corpus, encoding="utf-8") as f:
        total = sum(1 for _ in f)
    outs = [open(os.path.join(inp, "part%d.jsonl" % k), "w") for k in range(workers)]
    with open(corpus, encoding="utf-8") as f:
        for n, line in enumerate(f):
            outs[min(workers - 1, n * workers // max(1, total))].write(line)
    for o in outs:
        o.close()
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), n_grams=5,
                        num_buckets=14, hashes_per_bucket=8)
    logs = os.path.join(work, "logs")
    reader = lambda: JsonlReader(inp, id_key="id")
    s1 = LocalPipelineExecutor(pipeline=[reader(), MinhashDedupSignature(
        output_folder=os.path.join(work, "sigs"), config=cfg)],
        tasks=workers, workers=workers, logging_dir=logs + "/1")
    s2 = LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(
        input_folder=os.path.join(work, "sigs"),
        output_folder=os.path.join(work, "buckets"), config=cfg)],
        tasks=cfg.num_buckets, workers=workers, logging_dir=logs + "/2",
        depends=s1)
    s3 = LocalPipelineExecutor(pipeline=[MinhashDedupCluster(
        input_folder=os.path.join(work, "buckets"),
        output_folder=os.path.join(work, "remove_ids"), config=cfg)],
        tasks=1, logging_dir=logs + "/3", depends=s2)
    s4 = LocalPipelineExecutor(pipeline=[reader(), MinhashDedupFilter(
        input_folder=os.path.join(work, "remove_ids")),
        JsonlWriter(os.path.join(work, "out"), compression=None)],
        tasks=workers, workers=workers, logging_dir=logs + "/4", depends=s3)
    s4.run()
    with open(kept_path, "w") as out:
        d = os.path.join(work, "out")
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                for line in f:
                    out.write(json.loads(line)["id"] + "\n")


def run_exact(corpus, kept_path):
    import xxhash
    seen = set()
    with open(kept_path, "w") as out:
        for rid, text in read(corpus):
            h = xxhash.xxh3_128_digest(text.encode("utf-8"))
            if h in seen:
                continue
            seen.add(h)
            out.write(rid + "\n")


def recall(corpus, kept_path):
    """Record recall: planted dup_of records dropped; pair recall: planted
    pairs of which either record was dropped (a tool that keeps the later
    copy still found the pair)."""
    kept = set(l.strip() for l in open(kept_path))
    planted = dropped = pairs = records = 0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            records += 1
            if r.get("dup_of"):
                planted += 1
                dropped += r["id"] not in kept
                pairs += r["id"] not in kept or r["dup_of"] not in kept
    p = planted or 1
    print("%.4f %d %d %d %d %.4f" % (dropped / p, dropped, planted,
                                     records - len(kept), records, pairs / p))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "datasketch":
        run_datasketch(sys.argv[2], sys.argv[3])
    elif mode == "datatrove":
        run_datatrove(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "exact":
        run_exact(sys.argv[2], sys.argv[3])
    elif mode == "ids":
        with open(sys.argv[3], "w") as out:
            for line in open(sys.argv[2], encoding="utf-8"):
                out.write(json.loads(line)["id"] + "\n")
    elif mode == "recall":
        recall(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown mode " + mode)
