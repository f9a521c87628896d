"""gen_torch.py: the PyTorch side of tests/bench/generate.sh: the same GPT-2
weights (the safetensors file gen_bench wrote), the same prompts, greedy
decoding with a KV cache, timed the same way (one warm-up run, then one
timed run); prints tokens/s and how many generated ids equal dsv's.

    python3 gen_torch.py WEIGHTS TOKENS B P N cpu|cuda [fp32|bf16]

The weights run in fp32 (dsv's CPU and CUDA generators are fp32) unless
bf16 is asked for (the usual PyTorch setting on a GPU).
"""
import os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from torch_check import load_safetensors  # noqa: E402


def generate(w, L, NH, prompts, N, dev, dtype):
    B, P = prompts.shape
    C = w["wte.weight"].shape[1]
    hs = C // NH
    kc = torch.empty(L, B, NH, P + N, hs, device=dev, dtype=dtype)
    vc = torch.empty_like(kc)
    out = torch.empty(B, N, dtype=torch.long, device=dev)
    idx, pos = prompts, 0
    for step in range(N):
        T = idx.shape[1]
        x = w["wte.weight"][idx] + w["wpe.weight"][pos:pos + T]
        for l in range(L):
            p = "h.%d." % l
            h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
            q, k, v = (h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]).split(C, dim=2)
            q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
            kc[l, :, :, pos:pos + T] = k
            vc[l, :, :, pos:pos + T] = v
            y = F.scaled_dot_product_attention(q, kc[l, :, :, :pos + T], vc[l, :, :, :pos + T],
                                               is_causal=T > 1)
            x = x + y.transpose(1, 2).reshape(B, T, C) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
            h = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
            x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = F.layer_norm(x[:, -1], (C,), w["ln_f.weight"], w["ln_f.bias"], 1e-5)
        logits = x @ w["wte.weight"].T
        out[:, step] = logits.float().argmax(-1)
        idx, pos = out[:, step:step + 1], pos + T
    return out


def main():
    wpath, tpath = sys.argv[1], sys.argv[2]
    B, P, N = map(int, sys.argv[3:6])
    dev = sys.argv[6]
    dtype = torch.bfloat16 if sys.argv[7:] == ["bf16"] else torch.float32
    w, meta = load_safetensors(wpath)
    L, NH = int(meta["dsv.n_layer"]), int(meta["dsv.n_head"])
    w = {k: v.to(dev, dtype) for k, v in w.items()}
    ids = torch.frombuffer(bytearray(open(tpath, "rb").read()), dtype=torch.int32)
    prompts = ids[:B * P].view(B, P).long().to(dev)
    dsv_out = ids[B * P:].view(B, N).long()
    with torch.inference_mode():
        generate(w, L, NH, prompts, N, dev, dtype)
        if dev != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = generate(w, L, NH, prompts, N, dev, dtype)
        if dev != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter() - t0
    same = int((out.cpu() == dsv_out).sum())
    name = "cpu, %d threads" % torch.get_num_threads() if dev == "cpu" else torch.cuda.get_device_name()
    print("torch %s %s %s: batch %d prompt %d new %d: %.3f s, result %.1f generated tokens/s; "
          "ids equal to dsv's: %d of %d" % (torch.__version__, name, str(dtype)[6:], B, P, N, t,
                                            B * N / t, same, B * N))


if __name__ == "__main__":
    main()
