#!/usr/bin/env python3
"""tiktoken_check.py: checks dsv's BPE encoding against tiktoken, an outside
oracle. Trains a dsv tokenizer on the fixtures, exports its merges in
tiktoken's format (mergeable_ranks: token bytes -> id), builds a
tiktoken.Encoding with GPT-2's pattern, and compares its ids, document by
document, with the token stream `dsv export --format tokens` writes.

Usage: tiktoken_check.py DSV FIXTURES WORKDIR [--vocab N]
Prints "PASS ..." lines; exits 0 when every document matches, 1 otherwise.
"""
import argparse
import array
import gzip
import json
import os
import struct
import subprocess
import sys

import tiktoken

GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == 0x5C:  # backslash
            if s[i + 1] in (0x22, 0x5C):
                out.append(s[i + 1]); i += 2
            else:  # \xHH
                out.append(int(s[i + 2:i + 4], 16)); i += 4
        else:
            out.append(s[i]); i += 1
    return bytes(out)


def mergeable_ranks(tokenizer_text):
    """The TOKENIZER file (docs/tokenizer.md) as tiktoken's ranks."""
    ranks = {bytes([i]): i for i in range(256)}
    lines = tokenizer_text.split(b"\n")
    k = next(i for i, l in enumerate(lines) if l.startswith(b"merges "))
    for l in lines[k + 1:]:
        if not l:
            continue
        tid, left, right, q = l.split(b" ", 3)
        b = unescape(q[1:-1])
        assert b not in ranks, "duplicate token %r" % b
        ranks[b] = int(tid)
    return ranks


def run(*args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, **kw).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsv"); ap.add_argument("fixtures"); ap.add_argument("work")
    ap.add_argument("--vocab", type=int, default=3000)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    os.chdir(a.work)
    env = dict(os.environ, DSV_DIR=os.path.join(a.work, ".dsv"))
    if not os.path.isdir(".dsv"):
        run(a.dsv, "init", ".")
    web = "web.jsonl"
    with gzip.open(os.path.join(a.fixtures, "web", "web_mixed.jsonl.gz"), "rt") as f, \
            open(web, "w") as o:
        for i, line in enumerate(f):
            if i >= 400:
                break
            o.write(line)
    files = [os.path.join(a.fixtures, "clean", "botchan.txt.gz"),
             os.path.join(a.fixtures, "clean", "tinyshakespeare.txt.gz"), web]
    run(a.dsv, "commit", *files, "--text-mode", "paragraph", "-m", "oracle fixtures", "-q", env=env)
    run(a.dsv, "tokenizer", "train", "HEAD", "--vocab", str(a.vocab), "-o", "oracle-tok", "-q", env=env)
    run(a.dsv, "export", "HEAD", "--format", "tokens", "--tokenizer", "oracle-tok", "-o", "out.bin", env=env)
    tok_text = run("git", "--git-dir", ".dsv/lineage", "show", "oracle-tok:TOKENIZER")
    ranks = mergeable_ranks(tok_text)
    eot = len(ranks)
    enc = tiktoken.Encoding("dsv-oracle", pat_str=GPT2_PAT, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": eot})
    docs = [json.loads(l)["text"] for l in
            run(a.dsv, "export", "HEAD", "--format", "jsonl", env=env).splitlines()]
    data = open("out.bin", "rb").read()
    hdr = struct.unpack("<256i", data[:1024])
    # llm.c's data_common.py headers: "gpt-2" uint16, "llama-3" uint32
    want = (20240520, 1) if eot < 65536 else (20240801, 7)
    assert hdr[:2] == want, hdr[:3]
    got = array.array("H" if hdr[1] == 1 else "I")
    got.frombytes(data[1024:])
    assert len(got) == hdr[2], (len(got), hdr[2])
    pos, bad, ntok = 0, 0, 0
    for i, d in enumerate(docs):
        want = [eot] + enc.encode_ordinary(d)
        have = list(got[pos:pos + len(want)])
        if have != want:
            bad += 1
            if bad <= 3:
                j = next((k for k in range(min(len(have), len(want))) if have[k] != want[k]),
                         min(len(have), len(want)))
                print("  document %d differs at token %d: dsv %s, tiktoken %s"
                      % (i, j, have[j:j + 8], want[j:j + 8]))
            break
        pos += len(want)
        ntok += len(want)
    if not bad and pos != len(got):
        print("  dsv wrote %d tokens, tiktoken %d" % (len(got), pos))
        bad = 1
    # The tokenizer round trip: tiktoken decodes dsv's ids to the text.
    if not bad:
        text = "".join(docs[:50])
        ids = enc.encode_ordinary(text)
        if enc.decode(ids) != text:
            bad = 1
            print("  tiktoken does not round-trip the text")
    print("%s tiktoken gives dsv's token ids: %d documents, %d tokens, vocab %d (%s)"
          % ("FAIL" if bad else "PASS", len(docs), ntok, eot + 1, tiktoken.__version__))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
