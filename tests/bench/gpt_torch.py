"""gpt_torch.py: the PyTorch reference for tests/bench/gpt_bench.c: the same
GPT-2 model (pre-LN, GELU tanh, tied embeddings, padded vocab), batch and
AdamW, fp32 on the CPU; prints tokens/s for a training step. Its model is
also train_gpu_torch.py's (imported from here).

    python3 gpt_torch.py L C NH T B V steps
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
    # gpt2_init: GPT-2's initialisation, as dsv_gpt_init (the CPU comparison
    # reports the loss too); train_gpu_torch.py times steps only and keeps
    # torch's defaults.
    def __init__(s, L, C, NH, T, Vp, gpt2_init=True):
        super().__init__()
        s.wte, s.wpe = nn.Embedding(Vp, C), nn.Embedding(T, C)
        s.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        s.ln_f = nn.LayerNorm(C)
        for n, p in s.named_parameters() if gpt2_init else ():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if n.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif n.endswith("bias"):
                nn.init.zeros_(p)

    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in s.h:
            x = b(x)
        logits = s.ln_f(x) @ s.wte.weight.t()
        # .float(): the loss in fp32 under bf16 autocast (a no-op in fp32)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), tgt.view(-1))


def main():
    L, C, NH, T, B, V, steps = (int(a) for a in sys.argv[1:8])
    torch.manual_seed(1337)
    Vp = (V + 127) // 128 * 128
    model = GPT(L, C, NH, T, Vp)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95),
                            eps=1e-8, weight_decay=0.1)
    tok = torch.randint(0, V, (B * T + 1,))
    x, y = tok[:-1].view(B, T), tok[1:].view(B, T)
    for step in range(steps + 1):
        if step == 1:
            t0 = time.perf_counter()
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    dt = time.perf_counter() - t0
    print("torch %s cpu: threads=%d  result torch tokens/s %.0f  (%.1f ms/step, loss %.3f)"
          % (torch.__version__, torch.get_num_threads(), B * T * steps / dt,
             1e3 * dt / steps, loss.item()))


if __name__ == "__main__":
    main()
