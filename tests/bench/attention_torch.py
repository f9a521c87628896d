"""attention_torch.py: the PyTorch side of attention_bench (tests/gpu/run.sh):
causal scaled_dot_product_attention in bf16 on the same shape, forward,
backward and both, in TFLOP/s counted the same way (causal forward
2 B NH T^2 HS, the backward 2.5 times that).

    python3 attention_torch.py [B T NH iters]
"""
import sys


def main():
    a = [int(x) for x in sys.argv[1:]]
    B, T, NH, iters = (a + [16, 1024, 12, 20][len(a):])[:4]
    HS = 64
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("SKIP attention_torch: no torch for %s" % sys.executable)
        return
    if not torch.cuda.is_available():
        print("SKIP attention_torch: no CUDA torch")
        return
    q, k, v = (torch.randn(B, NH, T, HS, device="cuda", dtype=torch.bfloat16,
                           requires_grad=True) for _ in range(3))
    dy = torch.randn(B, NH, T, HS, device="cuda", dtype=torch.bfloat16)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
    fwd = bwd = 0.0
    for it in range(-3, iters):
        q.grad = k.grad = v.grad = None  # written, not accumulated
        ev[0].record()
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        ev[1].record()
        y.backward(dy)
        ev[2].record()
        torch.cuda.synchronize()
        if it >= 0:
            fwd += ev[0].elapsed_time(ev[1])
            bwd += ev[1].elapsed_time(ev[2])
    fwd /= iters
    bwd /= iters
    flops = 2.0 * B * NH * T * T * HS
    print("  result torch SDPA forward %.3f ms %.1f TFLOP/s, backward %.3f ms "
          "%.1f TFLOP/s, both %.3f ms %.1f TFLOP/s" %
          (fwd, flops / fwd / 1e9, bwd, 2.5 * flops / bwd / 1e9, fwd + bwd,
           3.5 * flops / (fwd + bwd) / 1e9))


if __name__ == "__main__":
    main()
