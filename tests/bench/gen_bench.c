/* gen_bench.c: generation tokens/s with the KV cache (kernels/generate.h)
 * for GPT-2 124M (12 x 768, vocab 50257) with random weights (seed 1):
 * greedy, B prompts of P tokens, N new tokens each.
 *
 *   gen_bench B P N cpu|cuda [WEIGHTS TOKENS]
 *
 * With WEIGHTS and TOKENS it also writes the weights as the GPT-2
 * safetensors file dsv stores for a model (dsv_gpt_weights_encode) and the
 * prompts and generated ids as int32 [B][P] then [B][N], so that
 * tests/bench/gen_torch.py runs the same model on the same prompts. */
#include "kernels/device.h"
#include "kernels/generate.h"
#include "kernels/gpt.h"
#include "tests/bench/bench.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
	fprintf(stderr, "gen_bench: %s: %s\n", what, dsv_kernel_error_last());
	return 1;
}

static int write_file(const char *path, const void *a, size_t alen,
		      const void *b, size_t blen)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(a, 1, alen, f) == alen &&
		 (!blen || fwrite(b, 1, blen, f) == blen);
	if (f && fclose(f))
		ok = 0;
	if (!ok)
		perror(path);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 7) {
		fprintf(stderr, "usage: gen_bench B P N cpu|cuda [WEIGHTS TOKENS]\n");
		return 2;
	}
	int B = atoi(argv[1]), P = atoi(argv[2]), N = atoi(argv[3]);
	int where = argv[4][0] == 'c' && argv[4][1] == 'u' ? DSV_GPT_CUDA
							    : DSV_GPT_CPU;
	dsv_gpt_config c = {.max_seq_len = 1024, .vocab_size = 50257,
			    .padded_vocab_size = 50304, .num_layers = 12,
			    .num_heads = 12, .channels = 768};
	dsv_gpt *m;
	dsv_gen *g;
	if (B < 1 || P < 1 || N < 1 || P + N > c.max_seq_len) {
		fprintf(stderr, "gen_bench: need B, P, N >= 1, P + N <= %d\n",
			c.max_seq_len);
		return 2;
	}
	if (dsv_gpt_new(&m, &c, 1, 1, DSV_GPT_CPU) || dsv_gpt_init(m, 1))
		return fail("model");
	if (dsv_gen_new(&g, &c, m->params, B, P + N, where))
		return fail("generator");
	int *pr = malloc(sizeof(int) * B * P), *plen = malloc(sizeof(int) * B);
	int *out = malloc(sizeof(int) * B * N), *ol = malloc(sizeof(int) * B);
	if (!pr || !plen || !out || !ol)
		return fprintf(stderr, "gen_bench: out of memory\n"), 1;
	for (int i = 0; i < B * P; i++)
		pr[i] = (int)(((long)i * 7919 + 13) % c.vocab_size);
	for (int b = 0; b < B; b++)
		plen[b] = P;
	dsv_gen_params p = {.temperature = 0, .max_new = N, .eot = -1};
	/* one untimed run warms the caches, the allocator and cuBLAS */
	if (dsv_generate(g, pr, plen, B, &p, NULL, out, ol, NULL))
		return fail("generate");
	double t0 = now();
	if (dsv_generate(g, pr, plen, B, &p, NULL, out, ol, NULL))
		return fail("generate");
	double t = now() - t0;
	printf("dsv %s: batch %d prompt %d new %d: %.3f s, result %.1f "
	       "generated tokens/s\n", dsv_gen_on_gpu(g) ? dsv_device_name() : "cpu",
	       B, P, N, t, B * N / t);
	if (argc == 7) {
		uint8_t *st;
		size_t len;
		if (dsv_gpt_weights_encode(m, NULL, 0, &st, &len))
			return fail("weights");
		if (write_file(argv[5], st, len, NULL, 0) ||
		    write_file(argv[6], pr, sizeof(int) * B * P, out,
			       sizeof(int) * B * N))
			return 1;
		free(st);
	}
	dsv_gen_free(g);
	dsv_gpt_free(m);
	free(pr);
	free(plen);
	free(out);
	free(ol);
	return 0;
}
