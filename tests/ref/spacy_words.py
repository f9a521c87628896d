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
import random
import subprocess
import sys

import spacy
from jsonl_docs import jsonl_docs


# Pieces of random documents: words of the scripts spaCy's classes name and
# of some they do not, and everything its rules look at.
SCRIPTS = ["abcxyzABCXYZ", "éàßĳŁſƀǅǎǫȡɐḀẞảĐ", "ωΣάΆβ", "жЖёЁїҐәӘўг",
           "ՎիքարանԱ", "აბგდ", "กขคเ", "שלוםא", "مرحبا۷۸", "हिन्दी", "বাংলা",
           "தமிழ்", "日本語のテキストカー", "한국어월", "ａＡｚ", "ⱡꜣꬰ",
           "\u0301\u0308\u200d\u200e"]
PUNCT = ("-–—~,.:;!?¿¡()[]{}<>_#*&'\"`‘’“”«»„‚´|" "…。？！，、；：～·।،۔؛٪"
         "「」『』（）〔〕【】《》〈〉⟦⟧" "/\\@=+^%§$£€¥฿₽₹﷼°²³µ")
ICONS = "©®°¦™℃№↑⌚■☀♥✂➔⠁⬛🎉😀👍🇺🇸🏻\ufe0f"
WORDS = ["don't", "U.S.", "Calif.", "a.m.", "e.g.", "Mr.", "i.e.", ":)", "'s",
         "n't", "im", "id", "m.", "''", "http://", "https://", "www.", ".com",
         ".org", "user@", "example", "km", "kg", "m²", "км", "г", "US$", "C$",
         "--", "---", "——", "...", "..", "……", "(╯°□°）╯︵┻━┻", ":-)))",
         "http://10.0.0.1/x", "192.168.1.20", "8.8.8.8:53/", "ftp.example.org",
         "user@example.com", "www.example.co.uk:8080/p?x=1#f", "a-b.c_d.de",
         "xn--bcher-kva.ch", "example.COM", "a" * 70 + ".com", "-x.com",
         "_" * 70, "!" * 140, "." * 40]
SPACES = [" ", " ", " ", "  ", "\n", "\t", " \n", "\u00a0", "\u3000"]


def random_atom(rng):
    r = rng.random()
    if r < 0.35:
        script = rng.choice(SCRIPTS)
        return "".join(rng.choice(script) for _ in range(rng.randint(1, 5)))
    if r < 0.6:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 2)))
    if r < 0.7:
        return str(rng.randint(0, 10 ** rng.randint(1, 4)))
    if r < 0.8:
        return rng.choice(ICONS)
    return rng.choice(WORDS)


def random_docs(n, seed):
    rng = random.Random(seed)
    for k in range(n):
        text = ""
        for _ in range(rng.randint(1, 6)):
            text += "".join(random_atom(rng) for _ in range(rng.randint(1, 5)))
            text += rng.choice(SPACES)
        yield f"random:{seed}:{k}", text


def spacy_words(tokenizer, text):
    """The words and their character offsets."""
    toks = [(t.text.strip(), t.idx) for t in tokenizer(text)]
    return [w for w, _ in toks if w], [i for w, i in toks if w]


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
    docs = [(f"{name}:{i}", text) for name, i, text in jsonl_docs(args.files)]
    if args.random:
        print(f"random documents: seed {args.seed}")
        docs += list(random_docs(args.random, args.seed))
    tokenizer = spacy.blank("en").tokenizer
    same = 0
    for (name, text), ours in zip(docs, dsv_words(args.dsv_words,
                                                  [t for _, t in docs])):
        theirs, at = spacy_words(tokenizer, text)
        if ours == theirs:
            same += 1
            continue
        i = first_diff(theirs, ours)
        c = at[i] if i < len(at) else len(text)
        print(f"{name}: word {i}: spacy {theirs[i:i + 3]!r} dsv "
              f"{ours[i:i + 3]!r} in {text[max(0, c - 30):c + 30]!r}")
    print(f"{same} of {len(docs)} documents split as spaCy splits them "
          f"({100.0 * same / max(len(docs), 1):.2f}%)")
    return 0 if same == len(docs) else 1


if __name__ == "__main__":
    sys.exit(main())
