#!/usr/bin/env python3
"""torch_check.py: loads a dsv model's safetensors weights into a small
PyTorch GPT-2 (written here, Hugging Face's layout and names) and computes
the validation loss on the same tokens dsv used: the first N tokens of an
llm.c .bin file, windows of seq_len+1 tokens stepping seq_len, then one
shorter last window. Prints the loss; exits 1 when it differs from the
expected value by more than the tolerance.

usage: torch_check.py WEIGHTS.safetensors TOKENS.bin N EXPECTED_LOSS
Uses the `safetensors` package where installed, else reads the format
itself (8-byte header length, JSON header, raw little-endian tensors).
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F


def load_safetensors(path):
    try:
        from safetensors.torch import load_file
        st = load_file(path)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        return st, meta
    except ImportError:
        pass
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    data = raw[8 + n:]
    dt = {"F32": torch.float32, "I32": torch.int32, "BF16": torch.bfloat16}
    out = {}
    for name, t in hdr.items():
        b, e = t["data_offsets"]
        buf = bytearray(data[b:e])
        out[name] = torch.frombuffer(buf, dtype=dt[t["dtype"]]).reshape(t["shape"]) if e > b \
            else torch.zeros(t["shape"], dtype=dt[t["dtype"]])
    return out, meta


class GPT2(torch.nn.Module):
    """GPT-2 with Conv1D-layout weights ([in][out]), tied embeddings."""

    def __init__(self, w, L, NH):
        super().__init__()
        self.w, self.L, self.NH = w, L, NH

    def forward(self, idx):
        w = self.w
        B, T = idx.shape
        x = w["wte.weight"][idx] + w["wpe.weight"][:T]
        C = x.shape[-1]
        for l in range(self.L):
            p = "h.%d." % l
            h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = qkv.split(C, dim=2)
            hs = C // self.NH
            q = q.view(B, T, self.NH, hs).transpose(1, 2)
            k = k.view(B, T, self.NH, hs).transpose(1, 2)
            v = v.view(B, T, self.NH, hs).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
            h = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
            x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"], 1e-5)
        return x @ w["wte.weight"].T


def main():
    path, tokpath, n, expect = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    w, meta = load_safetensors(path)
    L, NH, T = int(meta["dsv.n_layer"]), int(meta["dsv.n_head"]), int(meta["dsv.n_positions"])
    assert w["wte.weight"].shape[0] == int(meta["dsv.vocab_size"])
    with open(tokpath, "rb") as f:
        head = struct.unpack("<256i", f.read(1024))
        width = 2 if head[1] == 1 else 4
        raw = f.read()
    fmt = "<%d%s" % (len(raw) // width, "H" if width == 2 else "I")
    toks = torch.tensor(struct.unpack(fmt, raw)[:n], dtype=torch.long)
    model = GPT2(w, L, NH)
    total, count, pos = 0.0, 0, 0
    with torch.no_grad():
        while pos + 1 < len(toks):
            t = min(T, len(toks) - 1 - pos)
            x, y = toks[pos:pos + t][None], toks[pos + 1:pos + t + 1][None]
            loss = F.cross_entropy(model(x)[0], y[0], reduction="sum")
            total += loss.item()
            count += t
            pos += t
    got = total / count
    print("torch loss %.6f, dsv %.6f over %d tokens" % (got, expect, count))
    sys.exit(0 if abs(got - expect) <= 1e-4 * max(1.0, abs(expect)) else 1)


if __name__ == "__main__":
    main()
