/* gpt_bench.c: training-step throughput of the GPT-2 kernels (kernels/gpt.h):
 * tokens/s of forward + backward + AdamW on random tokens, on the CPU path
 * and, where a CUDA device exists, on the CUDA path with MFU.
 *
 *   gpt_bench cpu [L C NH T B V steps]   default 4 256 4 256 8 50304 5
 *   gpt_bench gpu [L C NH T B V steps]   default GPT-2 124M: 12 768 12 1024 16 50304 20
 */
#include "kernels/device.h"
#include "kernels/gpt.h"
#include "tests/bench/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* H100 SXM dense bf16 peak, the figure llm.c's MFU divides by. */
#define PEAK_FLOPS 989.4e12

int main(int argc, char **argv)
{
	int gpu = argc > 1 && !strcmp(argv[1], "gpu");
	int d[7] = {4, 256, 4, 256, 8, 50304, 5};
	if (gpu) {
		int g[7] = {12, 768, 12, 1024, 16, 50304, 20};
		memcpy(d, g, sizeof d);
	}
	for (int i = 0; i < 7 && i + 2 < argc; i++)
		d[i] = atoi(argv[i + 2]);
	int L = d[0], C = d[1], NH = d[2], T = d[3], B = d[4], V = d[5], steps = d[6];
	if (gpu && dsv_device_count() == 0) {
		printf("SKIP gpt_bench gpu: no CUDA device\n");
		return 0;
	}
	dsv_gpt_config cfg = { .max_seq_len = T, .vocab_size = V,
		.padded_vocab_size = (V + 127) / 128 * 128, .num_layers = L,
		.num_heads = NH, .channels = C };
	dsv_gpt *m = NULL;
	if (dsv_gpt_new(&m, &cfg, B, T, gpu ? DSV_GPT_CUDA : DSV_GPT_CPU) ||
	    dsv_gpt_init(m, 1337)) {
		fprintf(stderr, "gpt_bench: %s\n", dsv_gpt_error_last());
		return 1;
	}
	int *inp = malloc(sizeof(int) * (B * T + 1));
	uint64_t s = 42;
	for (int i = 0; i <= B * T; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		inp[i] = (int)((s >> 33) % V);
	}
	dsv_gpt_adamw opt = { .lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f,
		.eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f };
	float loss = 0, *losses = malloc(sizeof(float) * B * T);
	double t0 = 0;
	for (int step = 0; step <= steps; step++) {
		if (step == 1)
			t0 = now(); /* step 0 is warm-up */
		if (dsv_gpt_forward(m, inp, inp + 1, B, T)) {
			fprintf(stderr, "gpt_bench: %s\n", dsv_gpt_error_last());
			return 1;
		}
		loss = m->mean_loss;
		dsv_gpt_zero_grad(m);
		dsv_gpt_backward(m, 1.0f);
		dsv_gpt_update(m, &opt, step + 1, NULL);
	}
	dsv_gpt_get_losses(m, losses); /* waits for the device */
	double dt = now() - t0, tps = (double)B * T * steps / dt;
	double flops = dsv_gpt_flops_per_token(&cfg, T);
	printf("gpt %s (%s): L=%d C=%d NH=%d T=%d B=%d V=%d (Vp=%d) params=%zu\n",
	       gpu ? "cuda" : "cpu", gpu ? dsv_device_name() : "fp32 sgemm+OpenMP",
	       L, C, NH, T, B, V, cfg.padded_vocab_size, m->num_params);
	printf("  result %s tokens/s %.0f  (%.1f ms/step, %d steps, loss %.3f, "
	       "%.1f GFLOP/s)\n", gpu ? "gpu" : "cpu", tps, 1e3 * dt / steps,
	       steps, loss, tps * flops / 1e9);
	if (gpu)
		printf("  result gpu MFU %.1f%% (of %.0f TFLOP/s bf16)\n",
		       100.0 * tps * flops / PEAK_FLOPS, PEAK_FLOPS / 1e12);
	dsv_gpt_free(m);
	free(inp);
	free(losses);
	return 0;
}
