#!/usr/bin/env python3
"""gen_tokens_corpus.py: writes the saved corpus (valid token arrays) and
the must-reject inputs (mode byte '!') for fuzz_tokens, in the sections.h
layout. Run from the top of the tree."""
import os
import struct


def header(width, rows, ntok, vocab, version=1, magic=b"DSVTOK01", reserved=0):
    return (magic + struct.pack("<II", version, width) + bytes(range(32)) +
            bytes(range(32, 64)) + struct.pack("<QQII", rows, ntok, vocab, reserved))


def arr(offs, toks, width, vocab, **kw):
    h = header(width, len(offs) - 1, offs[-1] if offs else 0, vocab, **kw)
    o = b"".join(struct.pack("<Q", x) for x in offs)
    t = b"".join(struct.pack("<H" if width == 2 else "<I", x) for x in toks)
    return [h, o, t]


def cut(mode, secs):
    return bytes([mode]) + b"".join(struct.pack("<I", len(s)) + s for s in secs)


def put(kind, name, data):
    d = os.path.join("tests/fuzz", kind, "tokens")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)


offs = [0, 2, 3, 3, 6, 7]
toks = [1, 2, 3, 4, 5, 6, 999]
put("corpus", "u16", cut(0, arr(offs, toks, 2, 1000)))
put("corpus", "u32", cut(0, arr(offs, [1, 2, 3, 4, 5, 6, 69999], 4, 70000)))
put("corpus", "empty", cut(0, arr([0], [], 2, 257)))
put("corpus", "empty_rows", cut(0, arr([0, 0, 0], [], 2, 50257)))
bad = {
    "magic": arr(offs, toks, 2, 1000, magic=b"DSVTOK02"),
    "version": arr(offs, toks, 2, 1000, version=2),
    "width": arr(offs, toks, 4, 1000),
    "width_small": arr(offs, toks, 2, 70000)[:2] + [b"\0" * 14],
    "reserved": arr(offs, toks, 2, 1000, reserved=1),
    "decreasing": arr([0, 2, 1, 3, 6, 7], toks, 2, 1000),
    "not_spanning": arr([0, 2, 3, 3, 6, 6], toks, 2, 1000),
    "first_not_zero": arr([1, 2, 3, 3, 6, 7], toks, 2, 1000),
    "token_eq_vocab": arr(offs, [1, 2, 3, 4, 5, 6, 1000], 2, 1000),
    "vocab_zero": arr(offs, toks, 2, 0),
    "two_sections": arr(offs, toks, 2, 1000)[:2],
}
s = arr(offs, toks, 2, 1000)
bad["short_tokens"] = [s[0], s[1], s[2][:-2]]
bad["short_header"] = [s[0][:-4], s[1], s[2]]
bad["huge_rows"] = [s[0][:80] + struct.pack("<Q", 1 << 62) + s[0][88:], s[1], s[2]]
for name, secs in bad.items():
    put("reject", name, cut(ord("!"), secs))
