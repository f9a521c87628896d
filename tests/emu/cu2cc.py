#!/usr/bin/env python3
"""cu2cc.py: turns a kernels/*.cu file into C++ for the CUDA emulation
(tests/emu/README.md): tests/emu/emu.hh goes first, every launch
`kernel<<<grid, block[, smem]>>>(args)` becomes a call of emu::launch that
runs `kernel(args)` as each thread, and `extern __shared__ T name[]` becomes
a pointer to the launch's dynamic shared memory. #line keeps the compiler's
messages on the .cu file's own lines.

    cu2cc.py IN.cu OUT.cc
"""
import re
import sys

KERNEL = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)\s*$")
DYN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w ]+?)\s*(\w+)\s*\[\s*\]\s*;")


def split_top(s):
    """s split at the commas outside parentheses, brackets and braces"""
    out, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(s[start:i].strip())
            start = i + 1
    out.append(s[start:].strip())
    return out


def close_paren(s, i):
    """the index of the ')' that closes the '(' at s[i]"""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses after a launch")


def translate(src, path):
    src = DYN_SHARED.sub(lambda m: "%s *%s = (%s *)emu::dyn_smem();" %
                         (m.group(1), m.group(2), m.group(1)), src)
    out, pos = [], 0
    while True:
        at = src.find("<<<", pos)
        if at < 0:
            break
        m = KERNEL.search(src, pos, at)
        if not m:
            line = src.count("\n", 0, at) + 1
            raise ValueError("%s:%d: no kernel name before <<<" % (path, line))
        end_cfg = src.index(">>>", at)
        cfg = split_top(src[at + 3:end_cfg])
        if len(cfg) < 2 or len(cfg) > 4:
            raise ValueError("%s: a launch needs 2 to 4 settings" % path)
        open_args = end_cfg + 3
        while src[open_args].isspace():
            open_args += 1
        close = close_paren(src, open_args)
        kernel, args = m.group(1), src[open_args + 1:close]
        smem = cfg[2] if len(cfg) > 2 else "0"
        out.append(src[pos:m.start(1)])
        # the arguments keep their newlines, so later lines keep their numbers
        out.append("emu::launch(emu::fn(%s), dim3(%s), dim3(%s), (size_t)(%s), "
                   "[&] { %s(%s); })" % (kernel, cfg[0], cfg[1], smem, kernel, args))
        pos = close + 1
    out.append(src[pos:])
    return '#include "tests/emu/emu.hh"\n#line 1 "%s"\n' % path + "".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cu2cc.py IN.cu OUT.cc")
    with open(sys.argv[1]) as f:
        src = f.read()
    try:
        text = translate(src, sys.argv[1])
    except ValueError as e:
        sys.exit("cu2cc: %s" % e)
    with open(sys.argv[2], "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
