"""spacy_words.py: compares dsv's word splitter with datatrove's, spaCy's
blank English tokenizer (whitespace tokens dropped, the others stripped),
and lists every document they split differently, with the first token that
differs. Documents: the `text` of each line of the JSONL(.gz) files given,
or with --random N, N random strings made to be hard (mixed scripts,
hyphens, punctuation, digits, URLs, emoji, special cases). Run by
spacy_words.sh inside the venv of make_datatrove_ref.sh:
    python spacy_words.py DSV_WORDS [--random N] [--seed S] [FILES...]
where DSV_WORDS is the tests/ref/dsv_words.c program. Exit 1 when a
document differs.
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys

import spacy


def fixture_docs(paths):
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    yield f"{os.path.basename(path)}:{i}", text


# Pieces of random documents: letters of the scripts spaCy's classes name
# and of some they do not, and everything its rules look at.
LETTERS = ("aZéÀßĳŁſƀǅȡɐḀẞ" "ωΣάΆ" "жЖёЁїҐәӘ" "ՎիքարանԱ" "აბგ" "กขคเ"
           "שלום" "مرحبا" "हिन्दी" "বাংলা" "தமிழ்" "日本語のテキストカー" "한국어"
           "ａＡ" "ⱡꜣꬰ" "\u0301\u0308")
PUNCT = ("-–—~,.:;!?¿¡()[]{}<>_#*&'\"`‘’“”«»„‚´" "…。？！，、；：～·।،۔؛٪"
         "「」『』（）〔〕【】《》〈〉⟦⟧" "/\\|@=+^%§$£€¥฿₽₹°²³µ")
ICONS = "©®°¦™℃№↑⌚■☀♥✂➔⠁⬛🎉😀👍🇺🇸🏻\u200d\ufe0f"
DIGITS = "0123456789"
WORDS = ["don't", "U.S.", "Calif.", "a.m.", "e.g.", "Mr.", "i.e.", ":)", "'s",
         "n't", "http://", "https://", "www.", ".com", ".org", "user@",
         "example", "km", "kg", "m²", "US$", "C$", "--", "---", "...", ".."]


def random_docs(n, seed):
    rng = random.Random(seed)
    pools = [LETTERS, PUNCT, ICONS, DIGITS]
    for k in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.15:
                parts.append(rng.choice(WORDS))
            elif r < 0.3:
                parts.append(rng.choice(" \n\t\u00a0"))
            else:
                pool = rng.choice(pools)
                parts.append("".join(rng.choice(pool)
                                     for _ in range(rng.randint(1, 4))))
        yield f"random:{seed}:{k}", "".join(parts)


def spacy_words(tokenizer, text):
    return [t for t in (tok.text.strip() for tok in tokenizer(text)) if t]


def dsv_words(prog, texts):
    data = bytearray()
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    for b in encoded:
        data += b"%d\n" % len(b) + b
    out = subprocess.run([prog], input=bytes(data), stdout=subprocess.PIPE,
                         check=True).stdout.decode().split("\n")
    for b, line in zip(encoded, out):
        spans = (w.split(":") for w in line.split())
        yield [b[int(a):int(a) + int(n)].decode("utf-8", "surrogatepass")
               for a, n in spans]


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsv_words")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    docs = list(fixture_docs(args.files))
    if args.random:
        print(f"random documents: seed {args.seed}")
        docs += list(random_docs(args.random, args.seed))
    tokenizer = spacy.blank("en").tokenizer
    same = 0
    for (name, text), ours in zip(docs, dsv_words(args.dsv_words,
                                                  [t for _, t in docs])):
        theirs = spacy_words(tokenizer, text)
        if ours == theirs:
            same += 1
            continue
        i = first_diff(theirs, ours)
        ctx = " ".join(theirs[max(0, i - 3):i])
        print(f"{name}: word {i}: spacy {theirs[i:i + 3]!r} dsv "
              f"{ours[i:i + 3]!r} after {ctx!r}")
        if args.random and name.startswith("random:"):
            print(f"    text {text!r}")
    print(f"{same} of {len(docs)} documents split as spaCy splits them "
          f"({100.0 * same / max(len(docs), 1):.2f}%)")
    return 0 if same == len(docs) else 1


if __name__ == "__main__":
    sys.exit(main())
