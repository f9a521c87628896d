/* generate.h: autoregressive sampling from a GPT-2 model (kernels/gpt.h's
 * parameter layout) with a KV cache: a plain C reference (generate.c, fp32,
 * sgemm + OpenMP) and a CUDA twin (generate.cu, fp32 cuBLAS GEMMs and fused
 * kernels, the cache in device memory), chosen at run time.
 *
 * Use: dsv_gen_new (copies the weights), then either the low level
 * dsv_gen_feed (append tokens to each sequence, get the next-token logits)
 * or dsv_generate (prompts in, sampled tokens out); dsv_gen_free at the end.
 * Sampling (temperature, top-k, top-p, a seeded RNG per sequence) runs on
 * the host for both paths, so one seed gives one text per path; greedy
 * decoding takes the first maximum of the logits (the lowest id on ties).
 *
 * Errors: 0 or DSV_KERNEL_EINVAL / _ENOGPU / _ENOMEM (kernels/device.h),
 * with the message in dsv_kernel_error_last().
 */
#ifndef DSV_KERNELS_GENERATE_H
#define DSV_KERNELS_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/gpt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model ready to decode with a KV cache for B sequences of up to T
 * positions each (T <= cfg->max_seq_len). Fields are read-only for callers;
 * the float pointers are host memory on the CPU path and device memory on
 * the CUDA path. */
typedef struct dsv_gen {
	dsv_gpt_config cfg;
	int B, T;
	int on_gpu;
	size_t offsets[DSV_GPT_NTENSORS];
	size_t num_params;
	float *params;     /* num_params */
	float *kcache;     /* [L][B][NH][T][HS] */
	float *vcache;     /* [L][B][NH][T][HS] */
	int *len;          /* host: [B] positions filled */
	int R;             /* rows per chunk of one feed */
	void *impl;        /* path-private scratch */
} dsv_gen;

/* Copies the num_params floats of `params` (host memory, the layout of
 * gpt.h; dsv_gpt_param_sizes gives the count) into the generator, on the
 * CPU or on the calling thread's current CUDA device, 0 unless the caller
 * chose another (`where`: DSV_GPT_AUTO, _CPU or _CUDA as for
 * dsv_gpt_new; AUTO honours $DSV_DEVICE). The cache takes
 * 2*L*B*T*C floats. The caller frees *out with dsv_gen_free. */
int dsv_gen_new(dsv_gen **out, const dsv_gpt_config *cfg, const float *params,
		int B, int T, int where);
void dsv_gen_free(dsv_gen *g);
int dsv_gen_on_gpu(const dsv_gen *g);
const dsv_gpt_config *dsv_gen_config(const dsv_gen *g);
/* Empties every sequence (the cache is reused from position 0). */
void dsv_gen_reset(dsv_gen *g);
/* Tokens sequence b holds so far. */
int dsv_gen_len(const dsv_gen *g, int b);

/* Appends n[b] tokens to sequence b, for b = 0..B-1 (n[b] may be 0), the
 * tokens of all sequences back to back in `tokens` (sequence 0 first).
 * Runs them through the model, writing their keys and values into the
 * cache: a prompt (prefill) and one sampled token per step (decode) are the
 * same call. For every b with n[b] > 0, logits + b*V (host, may be NULL)
 * receives the logits of the real vocabulary after its last new token and
 * argmax[b] (may be NULL) the greedy choice; other rows are left alone.
 * DSV_KERNEL_EINVAL when a sequence would pass T, or a token is not < V. */
int dsv_gen_feed(dsv_gen *g, const int *tokens, const int *n, float *logits,
		 int *argmax);

/* How to choose each token. temperature <= 0 is greedy (argmax); else the
 * logits are divided by it, cut to the top_k largest (0: no cut), then to
 * the smallest set of highest-probability tokens whose mass reaches top_p
 * (>= 1: no cut), renormalised and sampled. */
typedef struct {
	float temperature;
	int top_k;
	float top_p;
	uint64_t seed;
	int max_new;   /* tokens to generate per sequence, at most */
	int eot;       /* a token that ends a sequence (not output); -1: none */
} dsv_gen_params;

/* A sequence's random stream: seeded from (seed, stream id), so a sample
 * depends on its own id, not on the batch it ran in. */
typedef struct {
	uint64_t s;
} dsv_gen_rng;

void dsv_gen_rng_seed(dsv_gen_rng *r, uint64_t seed, uint64_t stream);
/* Uniform in [0, 1), 53 bits. */
double dsv_gen_rng_uniform(dsv_gen_rng *r);

/* Picks the next token from one row of V logits under p (greedy, or a draw
 * from r). `scratch` holds 2*V floats' worth of the caller's memory (NULL:
 * allocated per call). Returns the id, or a negative code. */
int dsv_gen_sample(const float *logits, int V, const dsv_gen_params *p,
		   dsv_gen_rng *r, void *scratch);

/* Why a sequence stopped. */
enum { DSV_GEN_STOP_LENGTH = 0, DSV_GEN_STOP_EOT = 1, DSV_GEN_STOP_CONTEXT = 2 };

/* Generates up to p->max_new tokens after each of B prompts (B <= the
 * generator's B): prompts back to back in `prompts`, plen[b] tokens each
 * (1 .. T-1; the caller truncates longer ones). Resets the generator first.
 * Sequence b draws from stream ids[b] (NULL: b). out[b*max_new ..] receives
 * its tokens, out_len[b] their count, stop[b] (may be NULL) why it stopped:
 * max_new reached, the eot token sampled (not written), or the cache full
 * (T positions). Sequences that stopped are not computed any further. */
int dsv_generate(dsv_gen *g, const int *prompts, const int *plen, int B,
		 const dsv_gen_params *p, const uint64_t *ids, int *out,
		 int *out_len, int *stop);

/* Forward FLOPs of one token at context length ctx (analytic, as
 * dsv_gpt_flops_per_token counts): 2*N + 4*L*C*ctx. */
double dsv_gen_flops_per_token(const dsv_gpt_config *cfg, int ctx);

/* The CUDA path, for generate.c's dispatch only. A feed runs in chunks of
 * at most DSV_GEN_CHUNK rows (dsv_gen.R); both paths keep per-chunk row
 * arrays of this size on the stack. */
#define DSV_GEN_CHUNK 256
int gen_new_cuda(dsv_gen *g, const float *params);
void gen_free_cuda(dsv_gen *g);
int gen_feed_cuda(dsv_gen *g, const int *tokens, const int *rowseq,
		  const int *rowpos, int nrows, const int *lastrow,
		  float *logits, int *argmax);

#ifdef __cplusplus
}
#endif
#endif
