#!/usr/bin/env python3
"""Test corpora from the project's own demo fixtures, so that the CLI tests
need nothing outside the repository (../shared/bench has the benchmarks'
larger generators).

  corpus.py make --mb N -o OUT.jsonl [--seed S]
      JSONL of about N MiB: the 600 web documents of
      fixtures/demo/web-a.jsonl.gz, shuffled, then again and again with 15%
      of their words dropped, replaced or added (no long exact repeats),
      and 5% of the records exact copies of an earlier one. Each record has
      an "id"; a copy names its original in "dup_of".
  corpus.py mutate IN.jsonl OUT.jsonl [--share F] [--seed S]
      The next version of IN: each line is changed with probability F
      (default 0.01): a few of its words become "EDITED" and it gains
      "rev": 2. Line count and order stay; prints the count on stderr.

Deterministic for a given seed.
"""
import argparse
import gzip
import json
import os
import random
import sys

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "fixtures", "demo", "web-a.jsonl.gz")


def edited(words, rng, vocab, rate):
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(rng.choice(vocab) if r < 2 * rate / 3 else w)
        if 2 * rate / 3 <= r < rate:
            out.append(rng.choice(vocab))
    return out


def make(args):
    rng = random.Random(args.seed)
    with gzip.open(DEMO, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    vocab = [w for t in texts[:200] for w in t.split()[:100]]
    target, size, n, earlier, rnd = int(args.mb * 1048576), 0, 0, [], 0
    with open(args.out, "w", encoding="utf-8") as out:
        while size < target:
            order = list(range(len(texts)))
            rng.shuffle(order)
            for i in order:
                if size >= target:
                    break
                rec = {"id": "doc-%07d" % n}
                if earlier and rng.random() < 0.05:
                    rec["dup_of"], rec["text"] = rng.choice(earlier)
                else:
                    words = texts[i].split(" ")
                    if rnd:
                        words = edited(words, rng, vocab, 0.15)
                    rec["text"] = " ".join(words)
                    earlier.append((rec["id"], rec["text"]))
                line = json.dumps(rec, ensure_ascii=False) + "\n"
                out.write(line)
                size += len(line.encode("utf-8"))
                n += 1
            rnd += 1
    print("%s: %d documents, %d bytes" % (args.out, n, size), file=sys.stderr)


def mutate(args):
    rng = random.Random(args.seed)
    n = changed = 0
    with open(args.inp, "rb") as f, open(args.out, "wb") as out:
        for line in f:
            n += 1
            if rng.random() >= args.share:
                out.write(line)
                continue
            rec = json.loads(line)
            words = rec["text"].split(" ")
            for _ in range(max(1, len(words) // 50)):
                words[rng.randrange(len(words))] = "EDITED"
            rec["text"] = " ".join(words)
            rec["rev"] = 2
            out.write(json.dumps(rec, ensure_ascii=False).encode("utf-8") + b"\n")
            changed += 1
    print("%s: %d of %d lines changed" % (args.out, changed, n), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--mb", type=float, required=True)
    m.add_argument("-o", "--out", required=True)
    m.add_argument("--seed", type=int, default=1)
    u = sub.add_parser("mutate")
    u.add_argument("inp")
    u.add_argument("out")
    u.add_argument("--share", type=float, default=0.01)
    u.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    (make if args.cmd == "make" else mutate)(args)


if __name__ == "__main__":
    main()
