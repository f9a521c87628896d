/* gpt.h: GPT-2 training kernels — forward, backward, AdamW and per-token loss —
 * with a plain C reference (gpt_cpu.c, fp32, sgemm + OpenMP) and a CUDA twin
 * (gpt.cu, bf16 matmuls through cuBLASLt, fp32 master weights). The one public
 * header of the training kernels; docs/train.md describes the model.
 *
 * Use: dsv_gpt_new (picks CUDA when a device exists), dsv_gpt_init or
 * dsv_gpt_set_params, then per step dsv_gpt_forward, dsv_gpt_zero_grad,
 * dsv_gpt_backward, dsv_gpt_update; dsv_gpt_free at the end.
 *
 * Errors: 0, or DSV_GPT_EINVAL (-4), DSV_GPT_ENOGPU (-6), DSV_GPT_ENOMEM (-7),
 * the same numbers as store.h's DSV_E* and kernels/device.h's DSV_KERNEL_E*;
 * the message is in dsv_gpt_error_last() (= dsv_kernel_error_last()).
 */
#ifndef DSV_KERNELS_GPT_H
#define DSV_KERNELS_GPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	DSV_GPT_EINVAL = -4,
	DSV_GPT_ENOGPU = -6,
	DSV_GPT_ENOMEM = -7,
};

/* The model's shape. vocab_size is the tokenizer's V; padded_vocab_size (Vp)
 * >= V is the row count of wte (a multiple of 64 or 128 keeps the matmuls
 * aligned; 0 asks dsv_gpt_new to round V up to a multiple of 128). The extra
 * rows are zero, never indexed, and excluded from the softmax. */
typedef struct {
	int max_seq_len;       /* rows of wpe: the longest T */
	int vocab_size;        /* V */
	int padded_vocab_size; /* Vp */
	int num_layers;        /* L */
	int num_heads;         /* NH; channels % num_heads == 0 */
	int channels;          /* C */
} dsv_gpt_config;

/* Parameter tensors, in memory order: one flat fp32 array holds them back to
 * back, each tensor grouped over layers (layer l of qkvw is the l-th block of
 * 3C*C floats). Matrices are row-major [out][in] like nn.Linear (GPT-2's
 * Conv1D checkpoints store the transpose). Shapes and GPT-2 names:
 * docs/train.md. */
enum {
	DSV_GPT_WTE,      /* [Vp][C]        wte.weight (also lm_head, tied) */
	DSV_GPT_WPE,      /* [maxT][C]      wpe.weight */
	DSV_GPT_LN1W,     /* [L][C]         h.N.ln_1.weight */
	DSV_GPT_LN1B,     /* [L][C]         h.N.ln_1.bias */
	DSV_GPT_QKVW,     /* [L][3C][C]     h.N.attn.c_attn.weight^T */
	DSV_GPT_QKVB,     /* [L][3C]        h.N.attn.c_attn.bias */
	DSV_GPT_ATTPROJW, /* [L][C][C]      h.N.attn.c_proj.weight^T */
	DSV_GPT_ATTPROJB, /* [L][C]         h.N.attn.c_proj.bias */
	DSV_GPT_LN2W,     /* [L][C]         h.N.ln_2.weight */
	DSV_GPT_LN2B,     /* [L][C]         h.N.ln_2.bias */
	DSV_GPT_FCW,      /* [L][4C][C]     h.N.mlp.c_fc.weight^T */
	DSV_GPT_FCB,      /* [L][4C]        h.N.mlp.c_fc.bias */
	DSV_GPT_FCPROJW,  /* [L][C][4C]     h.N.mlp.c_proj.weight^T */
	DSV_GPT_FCPROJB,  /* [L][C]         h.N.mlp.c_proj.bias */
	DSV_GPT_LNFW,     /* [C]            ln_f.weight */
	DSV_GPT_LNFB,     /* [C]            ln_f.bias */
	DSV_GPT_NTENSORS
};

/* AdamW hyper-parameters. Weight decay is decoupled (p -= lr*wd*p, as
 * torch.optim.AdamW) and applies to the 2-D tensors only: wte, wpe, qkvw,
 * attprojw, fcw, fcprojw; never to biases or LayerNorm gains (nanoGPT's
 * grouping). grad_clip > 0 scales all gradients so their global L2 norm is
 * at most grad_clip; 0 disables clipping. */
typedef struct {
	float lr, beta1, beta2, eps, weight_decay, grad_clip;
} dsv_gpt_adamw;

/* A model with its buffers, on the CPU or on one CUDA device. Fields are
 * read-only for callers; the float pointers are host memory for the CPU path
 * and device memory for the CUDA path (use dsv_gpt_get_* to read them). */
typedef struct dsv_gpt {
	dsv_gpt_config cfg;
	int B, T;               /* the largest batch the buffers hold */
	int on_gpu;             /* 1: the CUDA path owns this model */
	size_t sizes[DSV_GPT_NTENSORS];
	size_t offsets[DSV_GPT_NTENSORS];
	size_t num_params;
	float *params, *grads;  /* num_params each */
	float *m, *v;           /* AdamW moments, allocated by the first update */
	float mean_loss;        /* of the last forward with targets, else -1 */
	int cur_B, cur_T;       /* shape of the last forward */
	void *impl;             /* path-private activations */
} dsv_gpt;

/* Fills sizes[] (floats per tensor) and returns the total parameter count,
 * or 0 for an invalid config. Pure; no allocation. */
size_t dsv_gpt_param_sizes(const dsv_gpt_config *cfg, size_t sizes[DSV_GPT_NTENSORS]);

/* The GPT-2 name of tensor i ("wte", "h.%d.ln_1.weight", ...): a static
 * string with %d standing for the layer where the tensor is per-layer. */
const char *dsv_gpt_tensor_name(int i);

/* 1 if tensor i is weight-decayed by dsv_gpt_update. */
int dsv_gpt_tensor_decayed(int i);

/* FLOPs of one training step (forward + backward) per token at sequence
 * length T: 6*N + 6*L*C*T, N = every parameter (llm.c's and PaLM's count). */
double dsv_gpt_flops_per_token(const dsv_gpt_config *cfg, int T);

/* The last error message of this thread (dsv_kernel_error_last()). */
const char *dsv_gpt_error_last(void);

/* Where dsv_gpt_new puts the model. */
enum { DSV_GPT_AUTO = 0, DSV_GPT_CPU = 1, DSV_GPT_CUDA = 2 };

/* Allocates a model for batches of up to B sequences of up to T tokens
 * (T <= max_seq_len). DSV_GPT_AUTO picks CUDA when DSV_HAVE_CUDA and a device
 * exists (dsv_device_count(), so $DSV_DEVICE=cpu forces the CPU), else the CPU; DSV_GPT_CUDA without a device is DSV_GPT_ENOGPU.
 * Parameters start at zero: call dsv_gpt_init or dsv_gpt_set_params. The
 * caller frees *out with dsv_gpt_free. ENOMEM names the bytes asked for. */
int dsv_gpt_new(dsv_gpt **out, const dsv_gpt_config *cfg, int B, int T, int where);
void dsv_gpt_free(dsv_gpt *m);

/* GPT-2 initialisation from seed: N(0, 0.02) for wte, wpe and the matrices,
 * N(0, 0.02/sqrt(2L)) for the residual projections (attprojw, fcprojw),
 * LayerNorm gains 1, biases 0, wte's padding rows 0. The draws are made on the
 * host with splitmix64 + Box-Muller in parameter order, so CPU and CUDA
 * models from one seed start identical. Also resets the AdamW moments. */
int dsv_gpt_init(dsv_gpt *m, uint64_t seed);

/* Copies num_params floats in (set) or out (get) in the layout above.
 * Setting the parameters also resets the AdamW moments (a fresh start; the
 * moments are not yet exposed for checkpoints). */
int dsv_gpt_set_params(dsv_gpt *m, const float *host);
int dsv_gpt_get_params(const dsv_gpt *m, float *host);
int dsv_gpt_get_grads(const dsv_gpt *m, float *host);

/* The weights as a Hugging Face GPT-2 safetensors file (kernels/
 * gpt_weights.c, docs/train.md) in a malloc'd buffer, with the shape in
 * "__metadata__" and nmeta more key/value pairs from meta (2*nmeta
 * strings). decode checks every tensor's name, dtype and shape against m's
 * config and sets m's parameters. */
int dsv_gpt_weights_encode(const dsv_gpt *m, const char *const *meta,
			   size_t nmeta, uint8_t **out, size_t *len);
int dsv_gpt_weights_decode(dsv_gpt *m, const void *buf, size_t len);

/* The AdamW moments m and v (num_params floats each) for checkpoints: get
 * copies them out (zeros before the first update); set copies them in,
 * after dsv_gpt_set_params (which resets them), so a resumed run continues
 * exactly. */
int dsv_gpt_get_moments(const dsv_gpt *m, float *mh, float *vh);
int dsv_gpt_set_moments(dsv_gpt *m, const float *mh, const float *vh);

/* Forward pass over inputs[B*T] (token ids < V, host memory). With targets
 * (host, B*T ids, -1 = ignored) it also computes the per-token loss and
 * m->mean_loss, the mean over the non-ignored targets (0 when all are
 * ignored). B <= m->B, T <= m->T. */
int dsv_gpt_forward(dsv_gpt *m, const int *inputs, const int *targets, int B, int T);

/* After a forward: logits of the real vocabulary, [B*T][V] floats, and the
 * per-token losses [B*T] (0 where the target was -1), copied to host.
 * Logits are only valid until the next backward (it reuses their memory). */
int dsv_gpt_get_logits(const dsv_gpt *m, float *host);
int dsv_gpt_get_losses(const dsv_gpt *m, float *host);

void dsv_gpt_zero_grad(dsv_gpt *m);

/* Adds to m->grads the gradient of scale * mean_loss for the last forward
 * (which must have had targets). scale = 1/k for k accumulation micro-steps. */
int dsv_gpt_backward(dsv_gpt *m, float scale);

/* One AdamW step (step counts from 1 for bias correction) after global-norm
 * clipping; *grad_norm (may be NULL) receives the norm before clipping. */
int dsv_gpt_update(dsv_gpt *m, const dsv_gpt_adamw *opt, int step, float *grad_norm);

/* Device seconds of all work so far, measured with CUDA events (intervals
 * from a forward to the update or to a read of its losses or logits);
 * 0 on the CPU. Waits for the device. */
double dsv_gpt_gpu_seconds(const dsv_gpt *m);

/* The paths themselves; dsv_gpt_* above dispatches to them. The _cpu ones
 * take a model made with DSV_GPT_CPU, the _cuda ones one made with
 * DSV_GPT_CUDA. */
int gpt_new_cpu(dsv_gpt *m);
void gpt_free_cpu(dsv_gpt *m);
int gpt_forward_cpu(dsv_gpt *m, const int *inputs, const int *targets, int B, int T);
int gpt_backward_cpu(dsv_gpt *m, float scale);
int gpt_update_cpu(dsv_gpt *m, const dsv_gpt_adamw *opt, int step, float *grad_norm);
/* Allocates the CPU path's AdamW moments m->m and m->v, zeroed, where they
 * do not exist yet: at the first update or dsv_gpt_set_moments.
 * gpt_free_cpu frees them. 0 or DSV_GPT_ENOMEM. */
int gpt_moments_cpu(dsv_gpt *m);
int gpt_get_logits_cpu(const dsv_gpt *m, float *host);
int gpt_get_losses_cpu(const dsv_gpt *m, float *host);

int gpt_new_cuda(dsv_gpt *m);
void gpt_free_cuda(dsv_gpt *m);
int gpt_copy_cuda(dsv_gpt *m, float *host, int which, int to_device);
void gpt_zero_grad_cuda(dsv_gpt *m);
int gpt_forward_cuda(dsv_gpt *m, const int *inputs, const int *targets, int B, int T);
int gpt_backward_cuda(dsv_gpt *m, float scale);
int gpt_update_cuda(dsv_gpt *m, const dsv_gpt_adamw *opt, int step, float *grad_norm);
int gpt_get_logits_cuda(const dsv_gpt *m, float *host);
int gpt_get_losses_cuda(const dsv_gpt *m, float *host);
double gpt_gpu_seconds_cuda(const dsv_gpt *m);

/* Row-major single-precision GEMM, C = alpha*op(A)*op(B) + beta*C with op(A)
 * M x K and op(B) K x N (matmul_cpu.c). dsv_sgemm calls OpenBLAS's
 * cblas_sgemm (single-threaded, on one block of C per OpenMP thread) when
 * built with DSV_HAVE_OPENBLAS, else dsv_sgemm_ref, a cache-blocked OpenMP
 * version whose sums run in a fixed order. Either way the result is
 * bit-reproducible for a given OpenMP thread count. Called inside a
 * parallel region it runs on the calling thread. */
void dsv_sgemm(int transA, int transB, int M, int N, int K, float alpha,
	       const float *A, int lda, const float *B, int ldb, float beta,
	       float *C, int ldc);
/* Loads OpenBLAS now (once; dsv_sgemm does it on first use), so that a
 * timed loop does not pay for the load. */
void dsv_sgemm_init(void);
void dsv_sgemm_ref(int transA, int transB, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb, float beta,
		   float *C, int ldc);

#ifdef __cplusplus
}
#endif
#endif
