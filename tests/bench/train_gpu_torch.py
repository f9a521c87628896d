"""train_gpu_torch.py: the PyTorch reference for tests/bench/train_gpu.sh:
GPT-2 124M shape (L=12, C=768, NH=12, T=1024) at vocab V (padded to 128)
on one GPU with bf16 autocast, SDPA attention and fused AdamW, eager and
with torch.compile; prints tokens/s and MFU (6N + 6LCT per token).

    python3 train_gpu_torch.py B steps V peak_tflops
"""
import sys, time
import torch

from gpt_torch import GPT  # the same model as the CPU comparison's


def run(compile_, B, steps, V, peak):
    L, C, NH, T = 12, 768, 12, 1024
    Vp = (V + 127) // 128 * 128
    m = GPT(L, C, NH, T, Vp, gpt2_init=False).cuda()
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
