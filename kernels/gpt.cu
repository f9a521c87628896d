/* gpt.cu: the CUDA twin of gpt_cpu.c. Same model and API on device buffers:
 * fp32 master weights, gradients and AdamW moments; a bf16 copy of the weights
 * for the matmuls, which run through cuBLASLt with fp32 accumulation and fp32
 * outputs, the bias and residual adds fused into the GEMM; elementwise
 * kernels; causal flash attention on bf16 tensor cores (attention.cuh) for
 * head sizes 16, 32, 64 and 128, and for others fp32 (TF32 tensor core)
 * strided-batched cuBLAS GEMMs around a causal softmax kernel. Gradient sums
 * that use atomics (embeddings, LayerNorm and bias gradients) are not
 * bitwise reproducible.
 */
#include "kernels/gpt.h"
#include "kernels/device.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.cuh"

typedef __nv_bfloat16 bf16;

struct cuda_acts {
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	void *ws;
	size_t ws_size;
	bf16 *params_bf16;                  /* num_params, refreshed after updates */
	bf16 *bfa;                          /* matmul operand scratch: the
					     * gradient a backward GEMM reads */
	int *inputs, *targets;              /* [B*T] */
	/* The activations only matmuls read (LayerNorm, GELU and attention
	 * outputs) are kept in bf16, the matmuls' operand type: no cast before
	 * the forward's or the backward's GEMM. Attention's backward reads
	 * its output too (the row terms dY . Y), as FlashAttention-2 does. */
	bf16 *ln1, *ln2, *fch_gelu, *lnf, *atty_bf;
	float *encoded, *ln1_mean, *ln1_rstd, *qkv, *att;
	float *residual2, *ln2_mean, *ln2_rstd, *fch, *residual3;
	float *lnf_mean, *lnf_rstd, *logits, *lse, *losses;
	float *q, *k, *v, *y;               /* [B][NH][T][hs] scratch (cuBLAS path) */
	float *dres, *dtmp, *dtmp2, *dqkv, *dfch, *datt, *dq, *dk, *dv;
	/* Floats per attention row in att and datt: T probabilities and their
	 * gradients on the cuBLAS path; with flash attention (flash = 1) att
	 * keeps each row's logsumexp and datt the backward's dy . y. */
	int flash;
	size_t att_len;
	float *partials;                    /* grad-norm partial sums */
	cudaEvent_t t0, t1;                 /* the open interval of device work */
	int timing;                         /* t0 recorded, t1 not yet */
	double gpu_s;                       /* closed intervals, summed */
	int n_valid;
	void *bufs[64];
	int nbufs;
	struct lt_plan *plans;              /* LT_PLANS, see lt_plan_get */
	int nplans, evict;
	struct profile *prof;               /* DSV_GPT_PROFILE=1, else NULL */
};

enum { NORM_BLOCKS = 512, LT_PLANS = 64 };

#define P(m, i) ((m)->params + (m)->offsets[i])
#define G(m, i) ((m)->grads + (m)->offsets[i])
#define PB(a, m, i) ((a)->params_bf16 + (m)->offsets[i])

#include "kernels/cuda_check.cuh"

/* ---- elementwise and row kernels ---- */

/* Block-wide reduction over blockDim.x (a multiple of 32, at most 1024) by
 * warp (warp_sum or warp_max), whose identity is id; sh holds 32 floats. */
template <float (*warp)(float)>
__device__ float block_reduce(float v, float *sh, float id)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp(v);
	__syncthreads();
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : id;
	return warp(v);
}

__global__ void cast_bf16_kernel(bf16 *out, const float *in, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = __float2bfloat16(in[i]);
}

__global__ void encoder_forward_kernel(float *out, const int *inp, const float *wte,
				       const float *wpe, int N, int T, int C)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)N * C)
		return;
	int bt = (int)(i / C), c = (int)(i % C);
	out[i] = wte[(size_t)inp[bt] * C + c] + wpe[(size_t)(bt % T) * C + c];
}

__global__ void encoder_backward_kernel(float *dwte, float *dwpe, const float *dout,
					const int *inp, int N, int T, int C)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)N * C)
		return;
	int bt = (int)(i / C), c = (int)(i % C);
	atomicAdd(dwte + (size_t)inp[bt] * C + c, dout[i]);
	atomicAdd(dwpe + (size_t)(bt % T) * C + c, dout[i]);
}

/* One warp per row. */
__global__ void layernorm_forward_kernel(bf16 *out, float *mean, float *rstd,
					 const float *inp, const float *w,
					 const float *b, int N, int C)
{
	int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
	if (r >= N)
		return;
	const float *x = inp + (size_t)r * C;
	float s = 0.0f;
	for (int i = lane; i < C; i += 32)
		s += x[i];
	float mu = warp_sum(s) / C;
	s = 0.0f;
	for (int i = lane; i < C; i += 32)
		s += (x[i] - mu) * (x[i] - mu);
	float rs = rsqrtf(warp_sum(s) / C + 1e-5f);
	bf16 *o = out + (size_t)r * C;
	for (int i = lane; i < C; i += 32)
		o[i] = __float2bfloat16((x[i] - mu) * rs * w[i] + b[i]);
	if (lane == 0) {
		mean[r] = mu;
		rstd[r] = rs;
	}
}

/* dinp += per row (one warp per row); the weight and bias gradients are done
 * by ln_param_grad_kernel. */
__global__ void layernorm_backward_kernel(float *dinp, const float *dout,
					  const float *inp, const float *w,
					  const float *mean, const float *rstd,
					  int N, int C)
{
	int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
	if (r >= N)
		return;
	const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
	float mu = mean[r], rs = rstd[r], dm = 0.0f, dnm = 0.0f;
	for (int i = lane; i < C; i += 32) {
		float dn = w[i] * d[i];
		dm += dn;
		dnm += dn * (x[i] - mu) * rs;
	}
	dm = warp_sum(dm) / C;
	dnm = warp_sum(dnm) / C;
	float *di = dinp + (size_t)r * C;
	for (int i = lane; i < C; i += 32)
		di[i] += (w[i] * d[i] - dm - (x[i] - mu) * rs * dnm) * rs;
}

#define GELU_S 0.7978845608028654f

__global__ void gelu_forward_kernel(bf16 *out, const float *inp, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		float x = inp[i];
		out[i] = __float2bfloat16(
			0.5f * x * (1.0f + tanhf(GELU_S * (x + 0.044715f * x * x * x))));
	}
}

/* d GELU(x) / dx, of the tanh form gelu_forward_kernel computes */
__device__ __forceinline__ float gelu_grad(float x)
{
	float th = tanhf(GELU_S * (x + 0.044715f * x * x * x));
	return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_S *
	       (1.0f + 3.0f * 0.044715f * x * x);
}

/* Column sums over rows: blocks of 32 columns x 8 row lanes, gridDim.y row
 * slices, partials added with atomics. With inp given, the sum is of
 * dout * normalized(inp) (LayerNorm gain) and db gets the plain sum. With
 * out given, dout is also written there in bf16 (a matmul's operand), so
 * the gradient is read once for both; with gelu_in given, dout is first
 * taken back through GELU at gelu_in. */
__global__ void colsum_kernel(float *dw, float *db, bf16 *out, const float *dout,
			      const float *gelu_in, const float *inp,
			      const float *mean, const float *rstd, int N, int C)
{
	__shared__ float sw[8][33], sb[8][33];
	int c = blockIdx.x * 32 + threadIdx.x;
	float aw = 0.0f, ab = 0.0f;
	if (c < C)
		for (int r = blockIdx.y * 8 + threadIdx.y; r < N; r += gridDim.y * 8) {
			float d = dout[(size_t)r * C + c];
			if (gelu_in)
				d *= gelu_grad(gelu_in[(size_t)r * C + c]);
			ab += d;
			if (out)
				out[(size_t)r * C + c] = __float2bfloat16(d);
			if (inp)
				aw += d * (inp[(size_t)r * C + c] - mean[r]) * rstd[r];
		}
	sw[threadIdx.y][threadIdx.x] = aw;
	sb[threadIdx.y][threadIdx.x] = ab;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		for (int j = 1; j < 8; j++) {
			aw += sw[j][threadIdx.x];
			ab += sb[j][threadIdx.x];
		}
		if (inp)
			atomicAdd(dw + c, aw);
		atomicAdd(db + c, ab);
	}
}

__global__ void bias_add_kernel(float *out, const float *bias, int N, int OC)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < (size_t)N * OC)
		out[i] += bias[i % OC];
}

/* Where element i of a [B][NH][T][hs] tensor goes in one laid out
 * [B][T][..] with rows `row` floats apart: h * hs + e into row b * T + t. */
__device__ __forceinline__ size_t bt_index(size_t i, int T, int NH, int hs,
					   size_t row)
{
	int e = (int)(i % hs), t = (int)((i / hs) % T);
	int h = (int)((i / ((size_t)hs * T)) % NH), b = (int)(i / ((size_t)hs * T * NH));
	return ((size_t)b * T + t) * row + h * hs + e;
}

/* qkv [B][T][3][NH][hs] <-> q, k, v [B][NH][T][hs]; back adds nothing, it
 * overwrites dqkv. */
__global__ void permute_kernel(float *q, float *k, float *v, const float *qkv,
			       int B, int T, int NH, int hs)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)B * NH * T * hs)
		return;
	int C = NH * hs;
	size_t src = bt_index(i, T, NH, hs, 3 * (size_t)C);
	q[i] = qkv[src];
	k[i] = qkv[src + C];
	v[i] = qkv[src + 2 * C];
}

__global__ void permute_back_kernel(float *dqkv, const float *dq, const float *dk,
				    const float *dv, int B, int T, int NH, int hs)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)B * NH * T * hs)
		return;
	int C = NH * hs;
	size_t dst = bt_index(i, T, NH, hs, 3 * (size_t)C);
	dqkv[dst] = dq[i];
	dqkv[dst + C] = dk[i];
	dqkv[dst + 2 * C] = dv[i];
}

__device__ __forceinline__ void put(float *p, float x) { *p = x; }
__device__ __forceinline__ void put(bf16 *p, float x) { *p = __float2bfloat16(x); }

/* y [B][NH][T][hs] <-> out [B][T][C] */
template <class O>
__global__ void unpermute_kernel(O *out, const float *y, int B, int T, int NH,
				 int hs, int back)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)B * NH * T * hs)
		return;
	size_t o = bt_index(i, T, NH, hs, (size_t)NH * hs);
	if (back)
		put(out + i, y[o]);
	else
		put(out + o, y[i]);
}

/* Causal softmax of scale*preatt, in place, one warp per row (b, h, t). */
__global__ void softmax_forward_kernel(float *att, float scale, int rows, int T)
{
	int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
	if (r >= rows)
		return;
	int t = r % T;
	float *a = att + (size_t)r * T;
	float mx = -INFINITY;
	for (int j = lane; j <= t; j += 32)
		mx = fmaxf(mx, a[j] * scale);
	mx = warp_max(mx);
	float s = 0.0f;
	for (int j = lane; j <= t; j += 32) {
		float e = expf(a[j] * scale - mx);
		a[j] = e;
		s += e;
	}
	float inv = 1.0f / warp_sum(s);
	for (int j = lane; j < T; j += 32)
		a[j] = j <= t ? a[j] * inv : 0.0f;
}

/* datt <- scale * att * (datt - sum(att*datt)), in place, zero above t. */
__global__ void softmax_backward_kernel(float *datt, const float *att, float scale,
					int rows, int T)
{
	int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
	if (r >= rows)
		return;
	int t = r % T;
	float *d = datt + (size_t)r * T;
	const float *a = att + (size_t)r * T;
	float s = 0.0f;
	for (int j = lane; j <= t; j += 32)
		s += a[j] * d[j];
	s = warp_sum(s);
	for (int j = lane; j < T; j += 32)
		d[j] = j <= t ? scale * a[j] * (d[j] - s) : 0.0f;
}

/* One block per row: logsumexp over the real V columns, the target's loss. */
__global__ void crossentropy_forward_kernel(float *losses, float *lse,
					    const float *logits, const int *targets,
					    int V, int Vp)
{
	__shared__ float sh[32];
	int r = blockIdx.x;
	const float *z = logits + (size_t)r * Vp;
	float mx = -INFINITY;
	for (int i = threadIdx.x; i < V; i += blockDim.x)
		mx = fmaxf(mx, z[i]);
	mx = block_reduce<warp_max>(mx, sh, -INFINITY);
	float s = 0.0f;
	for (int i = threadIdx.x; i < V; i += blockDim.x)
		s += expf(z[i] - mx);
	s = block_reduce<warp_sum>(s, sh, 0.0f);
	if (threadIdx.x == 0) {
		float l = mx + logf(s);
		lse[r] = l;
		losses[r] = targets[r] < 0 ? 0.0f : l - z[targets[r]];
	}
}

/* dlogits in bf16, the lm_head GEMM's operand, straight from the logits */
__global__ void crossentropy_backward_kernel(bf16 *dlogits, const float *logits,
					     const float *lse, const int *targets,
					     float dloss, int V, int Vp)
{
	int r = blockIdx.x, tg = targets[r];
	const float *z = logits + (size_t)r * Vp;
	bf16 *dz = dlogits + (size_t)r * Vp;
	for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
		float g = 0.0f;
		if (tg >= 0 && i < V)
			g = (expf(z[i] - lse[r]) - (i == tg ? 1.0f : 0.0f)) * dloss;
		dz[i] = __float2bfloat16(g);
	}
}

__global__ void sumsq_kernel(float *partials, const float *g, size_t n)
{
	__shared__ float sh[32];
	float s = 0.0f;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		s += g[i] * g[i];
	s = block_reduce<warp_sum>(s, sh, 0.0f);
	if (threadIdx.x == 0)
		partials[blockIdx.x] = s;
}

__global__ void adamw_kernel(float *p, bf16 *pb, const float *g, float *m, float *v,
			     size_t n, float lr, float b1, float b2, float eps,
			     float wd, float bc1, float bc2, float gscale)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float gi = g[i] * gscale;
	float mi = b1 * m[i] + (1.0f - b1) * gi;
	float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
	m[i] = mi;
	v[i] = vi;
	float pi = p[i];
	pi -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * pi);
	p[i] = pi;
	pb[i] = __float2bfloat16(pi);
}

/* ---- matmuls ---- */

static unsigned align_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	unsigned al = 256;
	while (al > 1 && a % al)
		al >>= 1;
	return al;
}

/* A GEMM's cuBLASLt descriptors, layouts and chosen algorithm, made once per
 * shape: a training step runs the same dozen shapes hundreds of times, and
 * the heuristic query alone costs tens of microseconds of host time. */
struct lt_key {
	int m, n, k, ta, tb, lda, ldb, ldd, bias;
	unsigned al_a, al_b, al_c, al_d, al_bias; /* al_bias 0: no bias */
};

struct lt_plan {
	struct lt_key key;
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t la, lb, ld;
	cublasLtMatmulAlgo_t algo;
	cublasLtEpilogue_t epi; /* DEFAULT with key.bias: bias_add_kernel after */
};

static void lt_plan_free(struct lt_plan *p)
{
	if (p->ld)
		cublasLtMatrixLayoutDestroy(p->ld);
	if (p->lb)
		cublasLtMatrixLayoutDestroy(p->lb);
	if (p->la)
		cublasLtMatrixLayoutDestroy(p->la);
	if (p->desc)
		cublasLtMatmulDescDestroy(p->desc);
	memset(p, 0, sizeof *p);
}

/* The plan for k, from the cache or made and cached; *out is borrowed until
 * the next call (a full cache reuses its slots). bias is the call's bias
 * vector (NULL: none): cuBLASLt's heuristic reads the alignment it may
 * assume for the bias from the pointer in the descriptor (cublasLt.h,
 * CUBLASLT_MATMUL_DESC_BIAS_POINTER), NULL reading as any, so the pointer
 * is set before the query and its alignment is part of the key. */
static int lt_plan_get(cuda_acts *a, const struct lt_key *k, const float *bias,
		       struct lt_plan **out)
{
	for (int i = 0; i < a->nplans; i++)
		if (!memcmp(&a->plans[i].key, k, sizeof *k)) {
			*out = &a->plans[i];
			return 0;
		}
	/* full (batches of many shapes): the slots are reused in turn */
	int slot = a->nplans < LT_PLANS ? a->nplans : a->evict++ % LT_PLANS;
	struct lt_plan *p = &a->plans[slot];
	if (slot < a->nplans)
		lt_plan_free(p);
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t heur;
	int nres = 0, rc = 0;
	cublasStatus_t st;
	cublasOperation_t opa = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t opb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	size_t wsz = a->ws_size;
	memset(p, 0, sizeof *p);
	p->key = *k;
	p->epi = k->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
	if ((st = cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
	    (st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa)) ||
	    (st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb)) ||
	    (st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &p->epi, sizeof p->epi)) ||
	    (k->bias && (st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias))) ||
	    (st = cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, k->ta ? k->k : k->m, k->ta ? k->m : k->k, k->lda)) ||
	    (st = cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, k->tb ? k->n : k->k, k->tb ? k->k : k->n, k->ldb)) ||
	    (st = cublasLtMatrixLayoutCreate(&p->ld, CUDA_R_32F, k->m, k->n, k->ldd)) ||
	    (st = cublasLtMatmulPreferenceCreate(&pref)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsz, sizeof wsz)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k->al_a, sizeof k->al_a)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k->al_b, sizeof k->al_b)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k->al_c, sizeof k->al_c)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k->al_d, sizeof k->al_d))) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "cublasLt setup (m=%d n=%d k=%d): %s",
				      k->m, k->n, k->k, cublasGetStatusString(st));
		goto cleanup;
	}
	st = cublasLtMatmulAlgoGetHeuristic(a->lt, p->desc, p->la, p->lb, p->ld, p->ld,
					    pref, 1, &heur, &nres);
	if (k->bias && (st || nres == 0)) {
		/* no fused bias for this shape or alignment: add it after */
		p->epi = CUBLASLT_EPILOGUE_DEFAULT;
		nres = 0;
		if (!(st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &p->epi, sizeof p->epi)))
			st = cublasLtMatmulAlgoGetHeuristic(a->lt, p->desc, p->la, p->lb,
							    p->ld, p->ld, pref, 1, &heur, &nres);
	}
	if (st) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "cublasLt heuristic (m=%d n=%d k=%d): %s",
				      k->m, k->n, k->k, cublasGetStatusString(st));
		goto cleanup;
	}
	if (nres == 0) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "cublasLt has no algorithm "
				      "for m=%d n=%d k=%d", k->m, k->n, k->k);
		goto cleanup;
	}
	p->algo = heur.algo;
	if (slot == a->nplans)
		a->nplans++;
	*out = p;
cleanup:
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	if (rc)
		lt_plan_free(p);
	return rc;
}

/* Column-major D[m][n] (ld ldd, fp32) = op(A) op(B) + beta*C + bias with
 * bf16 operands and fp32 accumulation (cuBLASLt). C (NULL: D itself, as
 * when beta accumulates into D) has D's layout, so a residual stream is added
 * in the GEMM instead of in a pass of its own. bias (NULL: none; m floats,
 * one per row of D) goes into the epilogue; where cuBLASLt offers no
 * algorithm with it, the GEMM runs without and bias_add_kernel follows. */
static int lt_matmul(cuda_acts *a, float *D, const float *C, const bf16 *A,
		     const bf16 *B, const float *bias, int m, int n, int k,
		     int ta, int tb, int lda, int ldb, int ldd, float beta)
{
	struct lt_plan *p = NULL;
	float alpha = 1.0f;
	cublasStatus_t st;
	int rc;
	if (!C)
		C = D;
	struct lt_key key = {m, n, k, ta, tb, lda, ldb, ldd, bias != NULL,
			     align_of(A), align_of(B), align_of(C), align_of(D),
			     bias ? align_of(bias) : 0};
	if ((rc = lt_plan_get(a, &key, bias, &p)))
		return rc;
	if (p->epi == CUBLASLT_EPILOGUE_BIAS &&
	    (st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
						 &bias, sizeof bias)))
		return dsv_kernel_error(DSV_GPT_ENOGPU, "cublasLt bias (m=%d n=%d k=%d): %s",
					m, n, k, cublasGetStatusString(st));
	st = cublasLtMatmul(a->lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, C, p->ld,
			    D, p->ld, &p->algo, a->ws, a->ws_size, 0);
	if (st)
		return dsv_kernel_error(DSV_GPT_ENOGPU, "cublasLtMatmul (m=%d n=%d k=%d): %s",
					m, n, k, cublasGetStatusString(st));
	/* ldd == m in every call here, so D is packed for the kernel */
	if (bias && p->epi == CUBLASLT_EPILOGUE_DEFAULT)
		bias_add_kernel<<<nblocks((size_t)m * n, 256), 256>>>(D, bias, n, m);
	return 0;
}

/* ---- phase profile ----
 * With DSV_GPT_PROFILE=1 in the environment, an event is recorded where
 * each phase of a step begins; after each update the intervals between
 * them are added to their phases, and freeing the model prints the device
 * time per step of each phase (stderr, lines starting "result profile").
 * Off by default: the events cost a launch each. */
enum phase {
	PH_EMBED, PH_LAYERNORM, PH_MATMUL, PH_ATTENTION, PH_GELU, PH_LOSS,
	PH_MATMUL_BACK, PH_ATTENTION_BACK, PH_LAYERNORM_BACK, PH_ADAMW, PH_HOST,
	PH_N
};
static const char *const phase_names[PH_N] = {
	"embedding", "layernorm", "matmul", "attention", "gelu",
	"cross-entropy", "matmul backward (and gelu's)", "attention backward",
	"layernorm backward", "grad norm + adamw",
	"host, copies, memsets"
};

enum { PROF_EVENTS = 512 };
struct profile {
	cudaEvent_t ev[PROF_EVENTS];
	unsigned char ph[PROF_EVENTS];
	int n;
	long steps;
	double ms[PH_N];
};

/* Adds the closed intervals to their phases; the last event stays as the
 * start of the next. */
static void prof_flush(struct profile *p)
{
	if (p->n < 2 || cudaEventSynchronize(p->ev[p->n - 1]) != cudaSuccess)
		return;
	for (int i = 0; i + 1 < p->n; i++) {
		float ms;
		if (cudaEventElapsedTime(&ms, p->ev[i], p->ev[i + 1]) == cudaSuccess)
			p->ms[p->ph[i]] += ms;
	}
	cudaEvent_t e = p->ev[0];
	p->ev[0] = p->ev[p->n - 1];
	p->ev[p->n - 1] = e;
	p->ph[0] = p->ph[p->n - 1];
	p->n = 1;
}

/* Phase `ph` begins here. */
static void prof(cuda_acts *a, int ph)
{
	struct profile *p = a->prof;
	if (!p)
		return;
	if (p->n == PROF_EVENTS)
		prof_flush(p);
	if (cudaEventRecord(p->ev[p->n]) == cudaSuccess)
		p->ph[p->n++] = (unsigned char)ph;
}

static struct profile *prof_new(void)
{
	const char *v = getenv("DSV_GPT_PROFILE");
	struct profile *p;
	if (!v || atoi(v) <= 0 || !(p = (struct profile *)calloc(1, sizeof *p)))
		return NULL;
	for (int i = 0; i < PROF_EVENTS; i++)
		if (cudaEventCreate(&p->ev[i]) != cudaSuccess) {
			while (i--)
				cudaEventDestroy(p->ev[i]);
			free(p);
			return NULL;
		}
	return p;
}

static void prof_free(struct profile *p)
{
	if (!p)
		return;
	prof_flush(p);
	double total = 0.0;
	for (int i = 0; i < PH_N; i++)
		total += p->ms[i];
	if (p->steps && total > 0) {
		fprintf(stderr, "result profile: device time per step by phase, "
			"%ld steps, %.2f ms a step\n", p->steps, total / p->steps);
		for (int i = 0; i < PH_N; i++)
			fprintf(stderr, "result profile   %-20s %8.3f ms  %5.1f%%\n",
				phase_names[i], p->ms[i] / p->steps,
				100.0 * p->ms[i] / total);
	}
	for (int i = 0; i < PROF_EVENTS; i++)
		cudaEventDestroy(p->ev[i]);
	free(p);
}

static void cast(bf16 *out, const float *in, size_t n)
{
	cast_bf16_kernel<<<nblocks(n, 256), 256>>>(out, in, n);
}

/* out[N][OC] = resid + inp[N][IC] . w[OC][IC]^T + bias (row-major), resid
 * (a residual stream [N][OC]) and bias optional; both are added by the GEMM. */
static int matmul_forward(cuda_acts *a, float *out, const bf16 *inp, const bf16 *w,
			  const float *bias, const float *resid, int N, int IC, int OC)
{
	return lt_matmul(a, out, resid, w, inp, bias, OC, N, IC, 1, 0, IC, IC,
			 OC, resid ? 1.0f : 0.0f);
}

static void colsum(float *dw, float *db, bf16 *out, const float *dout,
		   const float *gelu_in, const float *inp, const float *mean,
		   const float *rstd, int N, int C)
{
	int slices = N / 256 < 1 ? 1 : (N / 256 > 64 ? 64 : N / 256);
	dim3 grid((C + 31) / 32, slices), block(32, 8);
	colsum_kernel<<<grid, block>>>(dw, db, out, dout, gelu_in, inp, mean, rstd,
				       N, C);
}

/* dinp = dout . w (overwritten), dw += dout^T . inp, dbias += sum(dout).
 * Every layer with a bias gives dout (fp32) and dbias; the lm_head, which
 * has none, gives neither: a->bfa already holds its gradient in bf16.
 * gelu_in: dout is the gradient at GELU's output, and the layer's is
 * dout * GELU'(gelu_in), made in the pass that casts it. */
static int matmul_backward(cuda_acts *a, float *dinp, float *dw, float *dbias,
			   const float *dout, const float *gelu_in, const bf16 *inp,
			   const bf16 *w, int N, int IC, int OC)
{
	int rc;
	/* dout in bf16 for the GEMMs, and the bias gradient, in one pass */
	if (dbias)
		colsum(NULL, dbias, a->bfa, dout, gelu_in, NULL, NULL, NULL, N, OC);
	if (dinp && (rc = lt_matmul(a, dinp, NULL, w, a->bfa, NULL, IC, N, OC,
				    0, 0, IC, OC, IC, 0.0f)))
		return rc;
	if ((rc = lt_matmul(a, dw, NULL, inp, a->bfa, NULL, IC, OC, N, 0, 1,
			    IC, OC, IC, 1.0f)))
		return rc;
	return 0;
}

/* ---- attention ---- */

/* Flash attention: the launches of attention.cuh for one head size. The
 * kernels want more than the default 48 KiB of shared memory. */
template <int HS>
static int flash_forward(bf16 *out, float *lse, const float *qkv, int B, int T, int NH)
{
	size_t smem = fa::forward_smem<HS>();
	dim3 grid((T + fa::TILE - 1) / fa::TILE, B * NH);
	CU_RETURN(cudaFuncSetAttribute(fa::forward_kernel<HS>,
				       cudaFuncAttributeMaxDynamicSharedMemorySize,
				       (int)smem), "flash attention shared memory");
	fa::forward_kernel<HS><<<grid, fa::THREADS, smem>>>(out, lse, qkv, T, NH,
							  1.0f / sqrtf((float)HS));
	return 0;
}

/* dqkv is overwritten; dsum is B*NH*T floats of scratch. */
template <int HS>
static int flash_backward(float *dqkv, float *dsum, const float *dout,
			  const float *qkv, const bf16 *y, const float *lse, int B,
			  int T, int NH)
{
	size_t smem = fa::backward_smem<HS>();
	dim3 grid((T + fa::TILE - 1) / fa::TILE, B * NH);
	float scale = 1.0f / sqrtf((float)HS);
	CU_RETURN(cudaFuncSetAttribute(fa::backward_q_kernel<HS>,
				       cudaFuncAttributeMaxDynamicSharedMemorySize,
				       (int)smem), "flash attention shared memory");
	CU_RETURN(cudaFuncSetAttribute(fa::backward_kv_kernel<HS>,
				       cudaFuncAttributeMaxDynamicSharedMemorySize,
				       (int)smem), "flash attention shared memory");
	/* the dQ kernel leaves the row terms the dK, dV kernel reads */
	fa::backward_q_kernel<HS><<<grid, fa::THREADS, smem>>>(dqkv, dsum, qkv, y, dout,
							       lse, T, NH, scale);
	fa::backward_kv_kernel<HS><<<grid, fa::THREADS, smem>>>(dqkv, qkv, dout, lse,
								dsum, T, NH, scale);
	return 0;
}

static int flash_head(int hs)
{
	return hs == 16 || hs == 32 || hs == 64 || hs == 128;
}

/* out [B][T][C], in bf16 for the projection's GEMM, from qkv [B][T][3C];
 * att keeps what the backward needs (a->att_len floats a row). */
static int attention_forward(cuda_acts *a, bf16 *out, float *att, const float *qkv,
			     int B, int T, int C, int NH)
{
	int hs = C / NH, bh = B * NH;
	size_t n = (size_t)B * T * C;
	float one = 1.0f, zero = 0.0f;
	if (a->flash)
		switch (hs) {
		case 16: return flash_forward<16>(out, att, qkv, B, T, NH);
		case 32: return flash_forward<32>(out, att, qkv, B, T, NH);
		case 64: return flash_forward<64>(out, att, qkv, B, T, NH);
		case 128: return flash_forward<128>(out, att, qkv, B, T, NH);
		}
	permute_kernel<<<nblocks(n, 256), 256>>>(a->q, a->k, a->v, qkv, B, T, NH, hs);
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs,
				       &one, a->k, hs, (long long)T * hs, a->q, hs,
				       (long long)T * hs, &zero, att, T,
				       (long long)T * T, bh), "attention scores");
	softmax_forward_kernel<<<nblocks((size_t)bh * T * 32, 256), 256>>>(
		att, 1.0f / sqrtf((float)hs), bh * T, T);
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T,
				       &one, a->v, hs, (long long)T * hs, att, T,
				       (long long)T * T, &zero, a->y, hs,
				       (long long)T * hs, bh), "attention values");
	unpermute_kernel<bf16><<<nblocks(n, 256), 256>>>(out, a->y, B, T, NH, hs, 0);
	return 0;
}

/* dqkv is overwritten; y is the forward's output; a->datt is scratch. */
static int attention_backward(cuda_acts *a, float *dqkv, const float *dout,
			      const float *qkv, const bf16 *y, const float *att,
			      int B, int T, int C, int NH)
{
	int hs = C / NH, bh = B * NH;
	size_t n = (size_t)B * T * C;
	long long sT = (long long)T * hs, sA = (long long)T * T;
	float one = 1.0f, zero = 0.0f;
	if (a->flash)
		switch (hs) {
		case 16: return flash_backward<16>(dqkv, a->datt, dout, qkv, y, att, B, T, NH);
		case 32: return flash_backward<32>(dqkv, a->datt, dout, qkv, y, att, B, T, NH);
		case 64: return flash_backward<64>(dqkv, a->datt, dout, qkv, y, att, B, T, NH);
		case 128: return flash_backward<128>(dqkv, a->datt, dout, qkv, y, att, B, T, NH);
		}
	permute_kernel<<<nblocks(n, 256), 256>>>(a->q, a->k, a->v, qkv, B, T, NH, hs);
	unpermute_kernel<float><<<nblocks(n, 256), 256>>>(a->y, dout, B, T, NH, hs, 1);
	/* datt = dy v^T */
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs,
				       &one, a->v, hs, sT, a->y, hs, sT, &zero,
				       a->datt, T, sA, bh), "attention datt");
	/* dv = att^T dy */
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T,
				       &one, a->y, hs, sT, att, T, sA, &zero,
				       a->dv, hs, sT, bh), "attention dv");
	softmax_backward_kernel<<<nblocks((size_t)bh * T * 32, 256), 256>>>(
		a->datt, att, 1.0f / sqrtf((float)hs), bh * T, T);
	/* dq = dpre k, dk = dpre^T q */
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T,
				       &one, a->k, hs, sT, a->datt, T, sA, &zero,
				       a->dq, hs, sT, bh), "attention dq");
	BLAS_RETURN(cublasSgemmStridedBatched(a->blas, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T,
				       &one, a->q, hs, sT, a->datt, T, sA, &zero,
				       a->dk, hs, sT, bh), "attention dk");
	permute_back_kernel<<<nblocks(n, 256), 256>>>(dqkv, a->dq, a->dk, a->dv, B, T, NH, hs);
	return 0;
}

/* ---- lifecycle ---- */

static int dalloc(cuda_acts *a, void **p, size_t bytes)
{
	cudaError_t e = cudaMalloc(p, bytes ? bytes : 16);
	if (e != cudaSuccess) {
		*p = NULL;
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate %zu MiB on "
					"the device: %s", bytes >> 20,
					cudaGetErrorString(e));
	}
	a->bufs[a->nbufs++] = *p;
	return 0;
}

/* GPU seconds are measured with CUDA events: an interval opens at a
 * forward and closes at the update or at a read of the losses or logits
 * (each of which waits for the device anyway). */
static void time_open(cuda_acts *a)
{
	if (!a->timing && cudaEventRecord(a->t0) == cudaSuccess)
		a->timing = 1;
}

static void time_close(cuda_acts *a)
{
	float ms;
	if (!a->timing)
		return;
	a->timing = 0;
	if (cudaEventRecord(a->t1) == cudaSuccess &&
	    cudaEventSynchronize(a->t1) == cudaSuccess &&
	    cudaEventElapsedTime(&ms, a->t0, a->t1) == cudaSuccess)
		a->gpu_s += ms / 1e3;
}

extern "C" double gpt_gpu_seconds_cuda(const dsv_gpt *m)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	if (!a)
		return 0.0;
	time_close(a);
	return a->gpu_s;
}

/* One device buffer gpt_new_cuda will allocate. */
struct dreq {
	void **p;
	size_t bytes;
};

extern "C" int gpt_new_cuda(dsv_gpt *m)
{
	cuda_acts *a = (cuda_acts *)calloc(1, sizeof *a);
	int rc = 0;
	if (!a)
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate activations");
	m->impl = a;
	if (!(a->plans = (struct lt_plan *)calloc(LT_PLANS, sizeof *a->plans))) {
		rc = dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate GEMM plans");
		gpt_free_cuda(m);
		return rc;
	}
	size_t L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	size_t BT = (size_t)m->B * m->T, T = m->T, Vp = m->cfg.padded_vocab_size;
	size_t np = m->num_params, big = BT * (Vp > 4 * C ? Vp : 4 * C);
	cublasStatus_t bst;
	cudaError_t ce;
	if ((bst = cublasCreate(&a->blas)) != CUBLAS_STATUS_SUCCESS ||
	    (bst = cublasLtCreate(&a->lt)) != CUBLAS_STATUS_SUCCESS) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "cannot create cuBLAS "
				      "handles: %s", cublasGetStatusString(bst));
		goto fail;
	}
	/* The attention GEMMs on TF32 tensor cores (10-bit mantissa, finer
	 * than the bf16 of every other matmul); plain fp32 runs them at
	 * about a seventh of the rate on an H100 (67 against 495 TFLOP/s). */
	if ((bst = cublasSetMathMode(a->blas, CUBLAS_TF32_TENSOR_OP_MATH)) !=
	    CUBLAS_STATUS_SUCCESS) {
		rc = dsv_kernel_error(DSV_GPT_ENOGPU, "cublasSetMathMode: %s",
				      cublasGetStatusString(bst));
		goto fail;
	}
	if ((ce = cudaEventCreate(&a->t0)) != cudaSuccess ||
	    (ce = cudaEventCreate(&a->t1)) != cudaSuccess) {
		rc = dsv_cuda_fail(ce, "cuda", "cannot create events");
		goto fail;
	}
	a->ws_size = 32u << 20;
	a->prof = prof_new();
	a->flash = flash_head((int)(C / NH));
	a->att_len = a->flash ? 1 : T;
	{
		/* the cuBLAS attention's per-head copies of q, k, v, y */
		size_t scratch = a->flash ? 0 : BT * C;
		/* Every buffer is listed first, so that a model that does not
		 * fit is refused, saying so, before anything is allocated. */
		struct dreq req[64];
		int nreq = 0;
		size_t need = 0, free_b = 0, total_b = 0;
#define REQ(p, n) (req[nreq++] = (struct dreq){(void **)&(p), (size_t)(n) * sizeof(*(p))})
		req[nreq++] = (struct dreq){&a->ws, a->ws_size};
		REQ(m->params, np); REQ(m->grads, np); REQ(m->m, np); REQ(m->v, np);
		REQ(a->params_bf16, np); REQ(a->bfa, big); REQ(a->atty_bf, L * BT * C);
		REQ(a->inputs, BT); REQ(a->targets, BT); REQ(a->encoded, BT * C);
		REQ(a->ln1, L * BT * C); REQ(a->ln1_mean, L * BT); REQ(a->ln1_rstd, L * BT);
		REQ(a->qkv, L * BT * 3 * C);
		REQ(a->att, L * BT * NH * a->att_len); REQ(a->residual2, L * BT * C);
		REQ(a->ln2, L * BT * C); REQ(a->ln2_mean, L * BT); REQ(a->ln2_rstd, L * BT);
		REQ(a->fch, L * BT * 4 * C); REQ(a->fch_gelu, L * BT * 4 * C);
		REQ(a->residual3, L * BT * C); REQ(a->lnf, BT * C);
		REQ(a->lnf_mean, BT); REQ(a->lnf_rstd, BT); REQ(a->logits, BT * Vp);
		REQ(a->lse, BT); REQ(a->losses, BT); REQ(a->q, scratch);
		REQ(a->k, scratch); REQ(a->v, scratch); REQ(a->y, scratch);
		REQ(a->dres, BT * C); REQ(a->dtmp, BT * C); REQ(a->dtmp2, BT * C);
		REQ(a->dqkv, BT * 3 * C); REQ(a->dfch, BT * 4 * C);
		REQ(a->datt, BT * NH * a->att_len); REQ(a->dq, scratch);
		REQ(a->dk, scratch); REQ(a->dv, scratch); REQ(a->partials, NORM_BLOCKS);
#undef REQ
		for (int i = 0; i < nreq; i++)
			need += (req[i].bytes + 255) / 256 * 256;
		if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess &&
		    need > free_b) {
			rc = dsv_kernel_error(DSV_GPT_ENOMEM, "the model does not "
				"fit on the device: it needs %.2f GiB (%zu "
				"parameters with gradients, AdamW moments, a bf16 "
				"copy and activations for batch %d x %d) and "
				"%.2f GiB of %.2f are free",
				need / 1073741824.0, np, m->B, m->T,
				free_b / 1073741824.0, total_b / 1073741824.0);
			goto fail;
		}
		for (int i = 0; i < nreq; i++)
			if ((rc = dalloc(a, req[i].p, req[i].bytes)))
				goto fail;
	}
	if ((ce = cudaMemset(m->params, 0, np * 4)) ||
	    (ce = cudaMemset(m->grads, 0, np * 4)) ||
	    (ce = cudaMemset(m->m, 0, np * 4)) || (ce = cudaMemset(m->v, 0, np * 4)) ||
	    (ce = cudaMemset(a->params_bf16, 0, np * 2))) {
		rc = dsv_cuda_fail(ce, "cuda", "zero the parameters");
		goto fail;
	}
	return 0;
fail:
	gpt_free_cuda(m);
	return rc;
}

extern "C" void gpt_free_cuda(dsv_gpt *m)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	if (a) {
		for (int i = 0; i < a->nbufs; i++)
			cudaFree(a->bufs[i]);
		for (int i = 0; i < a->nplans; i++)
			lt_plan_free(&a->plans[i]);
		free(a->plans);
		if (a->lt)
			cublasLtDestroy(a->lt);
		if (a->blas)
			cublasDestroy(a->blas);
		if (a->t0)
			cudaEventDestroy(a->t0);
		if (a->t1)
			cudaEventDestroy(a->t1);
		prof_free(a->prof);
		free(a);
	}
	m->impl = NULL;
	m->params = m->grads = m->m = m->v = NULL;
}

extern "C" int gpt_copy_cuda(dsv_gpt *m, float *host, int which, int to_device)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	size_t bytes = m->num_params * sizeof(float);
	/* which: 0 params, 1 grads, 2 and 3 the AdamW moments m and v */
	float *dev = which == 0 ? m->params : which == 1 ? m->grads
		     : which == 2 ? m->m : m->v;
	if (!to_device) {
		CU_RETURN(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost), "copy to host");
		return 0;
	}
	CU_RETURN(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice), "copy to device");
	if (!which) {
		cast(a->params_bf16, m->params, m->num_params);
		CU_RETURN(cudaMemset(m->m, 0, bytes), "reset moments");
		CU_RETURN(cudaMemset(m->v, 0, bytes), "reset moments");
		CU_RETURN(cudaGetLastError(), "cast parameters");
	}
	return 0;
}

extern "C" void gpt_zero_grad_cuda(dsv_gpt *m)
{
	cudaMemset(m->grads, 0, m->num_params * sizeof(float));
}

/* ---- forward, backward, update ---- */

#define TRY(call) do { if ((rc = (call))) return rc; } while (0)

extern "C" int gpt_forward_cuda(dsv_gpt *m, const int *inputs, const int *targets,
				int B, int T)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	int L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size, N = B * T, rc;
	size_t BTC = (size_t)N * C, c = C;
	m->cur_B = B;
	m->cur_T = T;
	time_open(a);
	CU_RETURN(cudaMemcpy(a->inputs, inputs, (size_t)N * sizeof(int), cudaMemcpyHostToDevice), "inputs");
	prof(a, PH_EMBED);
	encoder_forward_kernel<<<nblocks(BTC, 256), 256>>>(a->encoded, a->inputs,
		P(m, DSV_GPT_WTE), P(m, DSV_GPT_WPE), N, T, C);
	unsigned rows = nblocks((size_t)N * 32, 256);
	for (int l = 0; l < L; l++) {
		const float *res = l ? a->residual3 + (l - 1) * BTC : a->encoded;
		bf16 *ln1 = a->ln1 + l * BTC, *ln2 = a->ln2 + l * BTC;
		bf16 *fchg = a->fch_gelu + l * 4 * BTC, *attyb = a->atty_bf + l * BTC;
		float *qkv = a->qkv + l * 3 * BTC;
		float *res2 = a->residual2 + l * BTC, *fch = a->fch + l * 4 * BTC;
		float *res3 = a->residual3 + l * BTC;
		float *att = a->att + (size_t)l * N * NH * a->att_len;
		prof(a, PH_LAYERNORM);
		layernorm_forward_kernel<<<rows, 256>>>(ln1, a->ln1_mean + l * N,
			a->ln1_rstd + l * N, res, P(m, DSV_GPT_LN1W) + l * c,
			P(m, DSV_GPT_LN1B) + l * c, N, C);
		prof(a, PH_MATMUL);
		TRY(matmul_forward(a, qkv, ln1, PB(a, m, DSV_GPT_QKVW) + l * 3 * c * c,
				   P(m, DSV_GPT_QKVB) + l * 3 * c, NULL, N, C, 3 * C));
		prof(a, PH_ATTENTION);
		TRY(attention_forward(a, attyb, att, qkv, B, T, C, NH));
		prof(a, PH_MATMUL);
		TRY(matmul_forward(a, res2, attyb, PB(a, m, DSV_GPT_ATTPROJW) + l * c * c,
				   P(m, DSV_GPT_ATTPROJB) + l * c, res, N, C, C));
		prof(a, PH_LAYERNORM);
		layernorm_forward_kernel<<<rows, 256>>>(ln2, a->ln2_mean + l * N,
			a->ln2_rstd + l * N, res2, P(m, DSV_GPT_LN2W) + l * c,
			P(m, DSV_GPT_LN2B) + l * c, N, C);
		prof(a, PH_MATMUL);
		TRY(matmul_forward(a, fch, ln2, PB(a, m, DSV_GPT_FCW) + l * 4 * c * c,
				   P(m, DSV_GPT_FCB) + l * 4 * c, NULL, N, C, 4 * C));
		prof(a, PH_GELU);
		gelu_forward_kernel<<<nblocks(4 * BTC, 256), 256>>>(fchg, fch, 4 * BTC);
		prof(a, PH_MATMUL);
		TRY(matmul_forward(a, res3, fchg, PB(a, m, DSV_GPT_FCPROJW) + l * 4 * c * c,
				   P(m, DSV_GPT_FCPROJB) + l * c, res2, N, 4 * C, C));
	}
	prof(a, PH_LAYERNORM);
	layernorm_forward_kernel<<<rows, 256>>>(a->lnf, a->lnf_mean, a->lnf_rstd,
		a->residual3 + (L - 1) * BTC, P(m, DSV_GPT_LNFW), P(m, DSV_GPT_LNFB), N, C);
	prof(a, PH_MATMUL);
	TRY(matmul_forward(a, a->logits, a->lnf, PB(a, m, DSV_GPT_WTE), NULL, NULL, N, C, Vp));
	CU_RETURN(cudaGetLastError(), "forward");
	if (!targets) {
		m->mean_loss = -1.0f;
		return 0;
	}
	CU_RETURN(cudaMemcpy(a->targets, targets, (size_t)N * sizeof(int), cudaMemcpyHostToDevice), "targets");
	prof(a, PH_LOSS);
	crossentropy_forward_kernel<<<N, 512>>>(a->losses, a->lse, a->logits, a->targets, V, Vp);
	prof(a, PH_HOST);
	float *l = (float *)malloc((size_t)N * sizeof(float));
	if (!l)
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate losses");
	cudaError_t e = cudaMemcpy(l, a->losses, (size_t)N * sizeof(float), cudaMemcpyDeviceToHost);
	double sum = 0.0;
	int n = 0;
	for (int r = 0; r < N; r++)
		if (targets[r] >= 0) {
			sum += l[r];
			n++;
		}
	free(l);
	if (e != cudaSuccess)
		return dsv_cuda_fail(e, "cuda", "forward losses");
	a->n_valid = n;
	m->mean_loss = n ? (float)(sum / n) : 0.0f;
	return 0;
}

extern "C" int gpt_get_logits_cuda(const dsv_gpt *m, float *host)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
	CU_RETURN(cudaMemcpy2D(host, V * sizeof(float), a->logits, Vp * sizeof(float),
			V * sizeof(float), (size_t)m->cur_B * m->cur_T,
			cudaMemcpyDeviceToHost), "copy logits");
	time_close(a);
	return 0;
}

extern "C" int gpt_get_losses_cuda(const dsv_gpt *m, float *host)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	CU_RETURN(cudaMemcpy(host, a->losses, (size_t)m->cur_B * m->cur_T * sizeof(float),
		      cudaMemcpyDeviceToHost), "copy losses");
	time_close(a);
	return 0;
}

static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
			       const float *inp, const float *w, const float *mean,
			       const float *rstd, int N, int C)
{
	layernorm_backward_kernel<<<nblocks((size_t)N * 32, 256), 256>>>(
		dinp, dout, inp, w, mean, rstd, N, C);
	colsum(dw, db, NULL, dout, NULL, inp, mean, rstd, N, C);
}

extern "C" int gpt_backward_cuda(dsv_gpt *m, float scale)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	int B = m->cur_B, T = m->cur_T, N = B * T, rc;
	int L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
	size_t BTC = (size_t)N * C, c = C;
	float dloss = a->n_valid ? scale / a->n_valid : 0.0f;

	prof(a, PH_LOSS);
	crossentropy_backward_kernel<<<N, 512>>>(a->bfa, a->logits, a->lse, a->targets,
						 dloss, V, Vp);
	prof(a, PH_MATMUL_BACK);
	TRY(matmul_backward(a, a->dtmp, G(m, DSV_GPT_WTE), NULL, NULL, NULL, a->lnf,
			    PB(a, m, DSV_GPT_WTE), N, C, Vp));
	prof(a, PH_LAYERNORM_BACK);
	CU_RETURN(cudaMemset(a->dres, 0, BTC * sizeof(float)), "backward");
	layernorm_backward(a->dres, G(m, DSV_GPT_LNFW), G(m, DSV_GPT_LNFB), a->dtmp,
			   a->residual3 + (L - 1) * BTC, P(m, DSV_GPT_LNFW),
			   a->lnf_mean, a->lnf_rstd, N, C);
	for (int l = L - 1; l >= 0; l--) {
		const float *res = l ? a->residual3 + (l - 1) * BTC : a->encoded;
		bf16 *ln1 = a->ln1 + l * BTC, *ln2 = a->ln2 + l * BTC;
		bf16 *fchg = a->fch_gelu + l * 4 * BTC, *attyb = a->atty_bf + l * BTC;
		float *qkv = a->qkv + l * 3 * BTC;
		float *res2 = a->residual2 + l * BTC, *fch = a->fch + l * 4 * BTC;
		float *att = a->att + (size_t)l * N * NH * a->att_len;
		prof(a, PH_MATMUL_BACK);
		TRY(matmul_backward(a, a->dfch, G(m, DSV_GPT_FCPROJW) + l * 4 * c * c,
				    G(m, DSV_GPT_FCPROJB) + l * c, a->dres, NULL, fchg,
				    PB(a, m, DSV_GPT_FCPROJW) + l * 4 * c * c, N, 4 * C, C));
		/* GELU's backward is in the pass that casts dfch */
		TRY(matmul_backward(a, a->dtmp, G(m, DSV_GPT_FCW) + l * 4 * c * c,
				    G(m, DSV_GPT_FCB) + l * 4 * c, a->dfch, fch, ln2,
				    PB(a, m, DSV_GPT_FCW) + l * 4 * c * c, N, C, 4 * C));
		prof(a, PH_LAYERNORM_BACK);
		layernorm_backward(a->dres, G(m, DSV_GPT_LN2W) + l * c, G(m, DSV_GPT_LN2B) + l * c,
				   a->dtmp, res2, P(m, DSV_GPT_LN2W) + l * c,
				   a->ln2_mean + l * N, a->ln2_rstd + l * N, N, C);
		prof(a, PH_MATMUL_BACK);
		TRY(matmul_backward(a, a->dtmp, G(m, DSV_GPT_ATTPROJW) + l * c * c,
				    G(m, DSV_GPT_ATTPROJB) + l * c, a->dres, NULL, attyb,
				    PB(a, m, DSV_GPT_ATTPROJW) + l * c * c, N, C, C));
		prof(a, PH_ATTENTION_BACK);
		TRY(attention_backward(a, a->dqkv, a->dtmp, qkv, attyb, att, B, T, C, NH));
		prof(a, PH_MATMUL_BACK);
		TRY(matmul_backward(a, a->dtmp2, G(m, DSV_GPT_QKVW) + l * 3 * c * c,
				    G(m, DSV_GPT_QKVB) + l * 3 * c, a->dqkv, NULL, ln1,
				    PB(a, m, DSV_GPT_QKVW) + l * 3 * c * c, N, C, 3 * C));
		prof(a, PH_LAYERNORM_BACK);
		layernorm_backward(a->dres, G(m, DSV_GPT_LN1W) + l * c, G(m, DSV_GPT_LN1B) + l * c,
				   a->dtmp2, res, P(m, DSV_GPT_LN1W) + l * c,
				   a->ln1_mean + l * N, a->ln1_rstd + l * N, N, C);
	}
	prof(a, PH_EMBED);
	encoder_backward_kernel<<<nblocks(BTC, 256), 256>>>(G(m, DSV_GPT_WTE),
		G(m, DSV_GPT_WPE), a->dres, a->inputs, N, T, C);
	CU_RETURN(cudaGetLastError(), "backward");
	m->mean_loss = -1.0f; /* as after gpt_cpu.c's backward, whose logits hold dlogits */
	return 0;
}

extern "C" int gpt_update_cuda(dsv_gpt *m, const dsv_gpt_adamw *o, int step, float *norm_out)
{
	cuda_acts *a = (cuda_acts *)m->impl;
	float part[NORM_BLOCKS];
	prof(a, PH_ADAMW);
	sumsq_kernel<<<NORM_BLOCKS, 256>>>(a->partials, m->grads, m->num_params);
	CU_RETURN(cudaMemcpy(part, a->partials, sizeof part, cudaMemcpyDeviceToHost), "grad norm");
	double s = 0.0;
	for (int i = 0; i < NORM_BLOCKS; i++)
		s += part[i];
	double norm = sqrt(s);
	if (norm_out)
		*norm_out = (float)norm;
	float gscale = o->grad_clip > 0 && norm > o->grad_clip ? (float)(o->grad_clip / norm) : 1.0f;
	float bc1 = 1.0f - powf(o->beta1, (float)step);
	float bc2 = 1.0f - powf(o->beta2, (float)step);
	for (int t = 0; t < DSV_GPT_NTENSORS; t++) {
		size_t off = m->offsets[t], n = m->sizes[t];
		float wd = dsv_gpt_tensor_decayed(t) ? o->weight_decay : 0.0f;
		adamw_kernel<<<nblocks(n, 256), 256>>>(m->params + off, a->params_bf16 + off,
			m->grads + off, m->m + off, m->v + off, n, o->lr, o->beta1,
			o->beta2, o->eps, wd, bc1, bc2, gscale);
	}
	CU_RETURN(cudaGetLastError(), "adamw");
	prof(a, PH_HOST);
	if (a->prof) {
		prof_flush(a->prof);
		a->prof->steps++;
	}
	time_close(a);
	return 0;
}
