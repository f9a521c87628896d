"""train_gpu_torch.py: the PyTorch reference for tests/bench/train_gpu.sh:
GPT-2 124M shape (L=12, C=768, NH=12, T=1024) at vocab V (padded to 128)
on one GPU with bf16 autocast, SDPA attention and fused AdamW, eager and
with torch.compile; prints tokens/s and MFU (6N + 6LCT per token).

    python3 train_gpu_torch.py B steps V peak_tflops
"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(s, C, NH):
        super().__init__()
        s.nh = NH
        s.ln_1, s.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        s.c_attn, s.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        s.c_fc, s.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(s, x):
        B, T, C = x.shape
        q, k, v = s.c_attn(s.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, s.nh, C // s.nh).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + s.mlp_proj(F.gelu(s.c_fc(s.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(s, L, C, NH, T, Vp):
        super().__init__()
        s.wte, s.wpe = nn.Embedding(Vp, C), nn.Embedding(T, C)
        s.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        s.ln_f = nn.LayerNorm(C)

    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in s.h:
            x = b(x)
        logits = s.ln_f(x) @ s.wte.weight.T
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.view(-1))


def run(compile_, B, steps, V, peak):
    L, C, NH, T = 12, 768, 12, 1024
    Vp = (V + 127) // 128 * 128
    m = GPT(L, C, NH, T, Vp).cuda()
    n = sum(p.numel() for p in m.parameters())
    opt = torch.optim.AdamW(m.parameters(), lr=6e-4, fused=True)
    f = torch.compile(m) if compile_ else m
    x = torch.randint(0, V, (B, T), device="cuda")
    y = torch.randint(0, V, (B, T), device="cuda")
    for i in range(steps + 5):
        if i == 5:
            torch.cuda.synchronize()
            t0 = time.time()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = f(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    tps = B * T * steps / (time.time() - t0)
    fpt = 6 * n + 6 * L * C * T
    print("torch %s: result torch tokens/s %.0f  MFU %.1f%%" %
          ("compile" if compile_ else "eager", tps, 100 * tps * fpt / (peak * 1e12)))


if __name__ == "__main__":
    B, steps, V, peak = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    run(False, B, steps, V, peak)
    run(True, B, steps, V, peak)
