/* gen_bench.c: generation tokens/s with the KV cache (kernels/generate.h)
 * for GPT-2 124M with random weights: greedy, prompt P tokens, N new tokens,
 * batch B. Usage: gen_bench B P N [cpu|cuda] */
#include "kernels/generate.h"
#include "kernels/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int B = argc > 1 ? atoi(argv[1]) : 1, P = argc > 2 ? atoi(argv[2]) : 16;
	int N = argc > 3 ? atoi(argv[3]) : 32;
	int where = argc > 4 && argv[4][0] == 'c' && argv[4][1] == 'u' ? DSV_GPT_CUDA : DSV_GPT_CPU;
	dsv_gpt_config c = {.max_seq_len = 1024, .vocab_size = 50257,
			    .padded_vocab_size = 50304, .num_layers = 12,
			    .num_heads = 12, .channels = 768};
	dsv_gpt *m;
	dsv_gen *g;
	if (dsv_gpt_new(&m, &c, 1, 1, DSV_GPT_CPU) || dsv_gpt_init(m, 1))
		return fprintf(stderr, "%s\n", dsv_kernel_error_last()), 1;
	if (dsv_gen_new(&g, &c, m->params, B, P + N, where))
		return fprintf(stderr, "%s\n", dsv_kernel_error_last()), 1;
	int *pr = malloc(sizeof(int) * B * P), *plen = malloc(sizeof(int) * B);
	int *out = malloc(sizeof(int) * B * N), *ol = malloc(sizeof(int) * B);
	for (int i = 0; i < B * P; i++)
		pr[i] = (i * 7919) % 50257;
	for (int b = 0; b < B; b++)
		plen[b] = P;
	dsv_gen_params p = {.temperature = 0, .max_new = N, .eot = -1};
	double t0 = now();
	if (dsv_generate(g, pr, plen, B, &p, NULL, out, ol, NULL))
		return fprintf(stderr, "%s\n", dsv_kernel_error_last()), 1;
	double t = now() - t0;
	printf("generate bench: %s batch %d prompt %d new %d: %.2f s, %.1f "
	       "generated tokens/s\n", dsv_gen_on_gpu(g) ? dsv_device_name() : "cpu",
	       B, P, N, t, B * N / t);
	return 0;
}
