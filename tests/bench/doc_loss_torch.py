"""doc_loss_torch.py: the PyTorch reference for tests/bench/annotate_model.sh:
each document's perplexity under a dsv model (its safetensors weights, read
by tests/ref/torch_check.py's loader and GPT-2), on the CPU in fp32, cut
and batched as dsv eval and derive annotate --model cut them (cmd/doc_loss.c:
"eot d0 d1 ..." in windows of T+1 tokens stepping T, B windows a forward
pass, padding ignored). Prints the time and tokens/s; with REV, run in the
repository, also the largest relative difference from dsv's f32 column
`perplexity` of REV (rows in the order of the export).

    python3 doc_loss_torch.py WEIGHTS.safetensors TOKENS.bin B [REV]
"""
import math, os, struct, subprocess, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ref"))
from torch_check import GPT2, load_safetensors  # noqa: E402


def documents(path, eot):
    with open(path, "rb") as f:
        head = struct.unpack("<256i", f.read(1024))
        width = 2 if head[1] == 1 else 4
        raw = f.read()
    toks = struct.unpack("<%d%s" % (len(raw) // width, "H" if width == 2 else "I"), raw)
    docs, cur = [], None
    for t in toks:
        if t == eot:
            if cur is not None:
                docs.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur is not None:
        docs.append(cur)
    return docs


def windows(docs, eot, T):
    """(doc, inputs, targets) rows as cmd/doc_loss.c makes them."""
    for d, doc in enumerate(docs):
        seq = [eot] + doc
        for off in range(0, len(seq) - 1, T):
            x = seq[off:off + T]
            y = seq[off + 1:off + T + 1]
            yield d, x + [0] * (T - len(x)), y + [-1] * (T - len(y))


def dsv_column(rev, name):
    """The f32 column `name` of every entry of REV (docs/formats.md)."""
    man = subprocess.check_output(["git", "--git-dir", ".dsv/lineage", "show",
                                   rev + ":MANIFEST"]).decode()
    out = []
    for line in man.splitlines():
        for f in line.split():
            if not f.startswith("col." + name + "="):
                continue
            i = f.split("=")[1]
            b = open(".dsv/objects/%s/%s" % (i[:2], i[2:]), "rb").read()
            n = struct.unpack_from("<I", b, 16)[0]
            off = 24 + 16 * n
            for k in range(n):
                raw, st = struct.unpack_from("<QQ", b, 24 + 16 * k)
                if k == 1:
                    v = subprocess.run(["zstd", "-qdc"], input=b[off:off + st],
                                       stdout=subprocess.PIPE, check=True).stdout
                    out += struct.unpack("<%df" % (len(v) // 4), v)
                off += st
    return out


def main():
    path, tokpath, B = sys.argv[1], sys.argv[2], int(sys.argv[3])
    w, meta = load_safetensors(path)
    L, NH, T = int(meta["dsv.n_layer"]), int(meta["dsv.n_head"]), int(meta["dsv.n_positions"])
    eot = int(meta["dsv.vocab_size"]) - 1
    docs = documents(tokpath, eot)
    model = GPT2(w, L, NH)
    sums, counts = [0.0] * len(docs), [0] * len(docs)
    rows = list(windows(docs, eot, T))
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(rows), B):
            chunk = rows[i:i + B]
            x = torch.tensor([r[1] for r in chunk], dtype=torch.long)
            y = torch.tensor([r[2] for r in chunk], dtype=torch.long)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1),
                                   ignore_index=-1, reduction="none").view(len(chunk), T)
            for r, (d, _, tg) in enumerate(chunk):
                n = sum(1 for t in tg if t >= 0)
                sums[d] += loss[r, :n].double().sum().item()
                counts[d] += n
    dt = time.perf_counter() - t0
    ntok = sum(counts)
    print("torch %s cpu: threads=%d  %d documents, %d tokens, %.3f s  result torch tokens/s %.0f"
          % (torch.__version__, torch.get_num_threads(), len(docs), ntok, dt, ntok / dt))
    if len(sys.argv) > 4:
        col = dsv_column(sys.argv[4], "perplexity")
        assert len(col) == len(docs), (len(col), len(docs))
        worst = 0.0
        for s, n, p in zip(sums, counts, col):
            if n == 0:
                assert math.isnan(p)
                continue
            e = math.exp(s / n)
            worst = max(worst, abs(p - e) / e)
        print("largest relative difference from dsv's perplexity column: %.2e" % worst)


if __name__ == "__main__":
    main()
