/* generate.cu: the CUDA twin of generate.c's forward over a chunk of rows:
 * fp32 weights and KV cache in device memory, fp32 cuBLAS GEMMs (no TF32,
 * so greedy decoding agrees with the CPU reference), and kernels for the
 * embedding, LayerNorm, cache writes, cached attention, GELU and the argmax.
 * generate.c owns the rows, the sampler and the loop; only logits that are
 * asked for (or just the argmax) come back to the host.
 */
#include "kernels/device.h"
#include "kernels/generate.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cuda_gen {
	cublasHandle_t blas;
	int blas_ok;
	float *x, *ln, *qkv, *y, *fch, *sel, *lg; /* device scratch */
	int *meta, *am; /* device row metadata: tok, seq, pos, rows (4R) */
	float *h_lg;                              /* host staging, nsel*V */
	int nsel_max;
};

#define P(g, i) ((g)->params + (g)->offsets[i])

#include "kernels/cuda_check.cuh"

/* ---- kernels ---- */

__global__ void embed_k(float *x, const int *tok, const int *pos,
			const float *wte, const float *wpe, int N, int C)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i >= (size_t)N * C)
		return;
	int r = (int)(i / C), c = (int)(i % C);
	x[i] = wte[(size_t)tok[r] * C + c] + wpe[(size_t)pos[r] * C + c];
}

/* One warp per row. With xb, the bias of the GEMM that wrote x is added to
 * x first (in place): the GEMMs add none themselves, each bias rides on
 * the next kernel that reads its output. */
__global__ void layernorm_k(float *out, float *x, const float *xb, const float *w,
			    const float *b, int N, int C)
{
	int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
	if (r >= N)
		return;
	float *xr = x + (size_t)r * C;
	float mu = 0.0f, var = 0.0f;
	if (xb)
		for (int i = lane; i < C; i += 32)
			xr[i] += xb[i];
	for (int i = lane; i < C; i += 32)
		mu += xr[i];
	mu = warp_sum(mu) / C;
	for (int i = lane; i < C; i += 32)
		var += (xr[i] - mu) * (xr[i] - mu);
	/* 1/sqrtf as the CPU (both IEEE-rounded without fast math), not
	 * rsqrtf's 2-ulp approximation: greedy ties stay as close as the
	 * summation order allows. */
	float s = 1.0f / sqrtf(warp_sum(var) / C + 1e-5f);
	for (int i = lane; i < C; i += 32)
		out[(size_t)r * C + i] = (xr[i] - mu) * s * w[i] + b[i];
}

/* x = GELU(x + bias), x [n / OC][OC] */
__global__ void gelu_k(float *x, const float *bias, size_t n, int OC)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float v = x[i] + bias[i % OC];
	x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

__device__ inline size_t cache_at(int l, int b, int h, int p, int B, int NH,
				  int T, int HS)
{
	return ((((size_t)l * B + b) * NH + h) * T + p) * HS;
}

/* k and v of each row (qkv plus its bias bqkv) into the cache */
__global__ void store_kv_k(float *kc, float *vc, const float *qkv, const float *bqkv,
			   const int *seq, const int *pos, int N, int l, int B,
			   int NH, int T, int HS)
{
	int C = NH * HS;
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i >= (size_t)N * C)
		return;
	int r = (int)(i / C), c = (int)(i % C), h = c / HS, d = c % HS;
	size_t at = cache_at(l, seq[r], h, pos[r], B, NH, T, HS) + d;
	kc[at] = qkv[(size_t)r * 3 * C + C + c] + bqkv[C + c];
	vc[at] = qkv[(size_t)r * 3 * C + 2 * C + c] + bqkv[2 * C + c];
}

/* One block per (row, head): the query (qkv plus its bias) and the scores
 * over positions 0..p in shared memory, a block-wide max and sum, then
 * y = att . v with a thread per channel. */
__global__ void attend_k(float *y, const float *qkv, const float *bqkv,
			 const float *kc, const float *vc, const int *seq,
			 const int *pos, int l, int B, int NH, int T, int HS)
{
	extern __shared__ float sh[]; /* T scores, 32 partials, HS of query */
	float *a = sh, *red = sh + T, *q = sh + T + 32;
	int r = blockIdx.x, h = blockIdx.y, p = pos[r], C = NH * HS;
	int tid = threadIdx.x, nt = blockDim.x;
	for (int i = tid; i < HS; i += nt)
		q[i] = qkv[(size_t)r * 3 * C + h * HS + i] + bqkv[h * HS + i];
	__syncthreads();
	const float *k = kc + cache_at(l, seq[r], h, 0, B, NH, T, HS);
	const float *v = vc + cache_at(l, seq[r], h, 0, B, NH, T, HS);
	float scale = 1.0f / sqrtf((float)HS), mx = -INFINITY; /* as the CPU */
	for (int t = tid; t <= p; t += nt) {
		float d = 0.0f;
		for (int i = 0; i < HS; i++)
			d += q[i] * k[(size_t)t * HS + i];
		a[t] = d * scale;
		mx = fmaxf(mx, a[t]);
	}
	mx = warp_max(mx);
	if (tid % 32 == 0)
		red[tid / 32] = mx;
	__syncthreads();
	mx = -INFINITY;
	for (int i = 0; i < nt / 32; i++)
		mx = fmaxf(mx, red[i]);
	__syncthreads();
	float sum = 0.0f;
	for (int t = tid; t <= p; t += nt) {
		a[t] = expf(a[t] - mx);
		sum += a[t];
	}
	sum = warp_sum(sum);
	if (tid % 32 == 0)
		red[tid / 32] = sum;
	__syncthreads();
	sum = 0.0f;
	for (int i = 0; i < nt / 32; i++)
		sum += red[i];
	float inv = 1.0f / sum;
	for (int d = tid; d < HS; d += nt) {
		float acc = 0.0f;
		for (int t = 0; t <= p; t++)
			acc += a[t] * v[(size_t)t * HS + d];
		y[(size_t)r * C + h * HS + d] = acc * inv;
	}
}

/* dst = the rows of src plus the bias of the GEMM that wrote src */
__global__ void gather_k(float *dst, const float *src, const float *bias,
			 const int *rows, int n, int C)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i >= (size_t)n * C)
		return;
	dst[i] = src[(size_t)rows[i / C] * C + i % C] + bias[i % C];
}

/* One block per row: the first maximum (lowest id on ties), as the CPU;
 * 0 when every logit is -inf or NaN. */
__global__ void argmax_k(int *out, const float *lg, int V)
{
	__shared__ float bv[256];
	__shared__ int bi[256];
	const float *z = lg + (size_t)blockIdx.x * V;
	float best = -INFINITY;
	int id = V;
	for (int i = threadIdx.x; i < V; i += blockDim.x)
		if (z[i] > best) {
			best = z[i];
			id = i;
		}
	bv[threadIdx.x] = best;
	bi[threadIdx.x] = id;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s) {
			float ov = bv[threadIdx.x + s];
			int oi = bi[threadIdx.x + s];
			if (ov > bv[threadIdx.x] ||
			    (ov == bv[threadIdx.x] && oi < bi[threadIdx.x])) {
				bv[threadIdx.x] = ov;
				bi[threadIdx.x] = oi;
			}
		}
		__syncthreads();
	}
	/* The CPU's argmax_row starts from id 0 and never replaces a NaN
	 * there; elsewhere a NaN is never chosen, nor here. */
	if (threadIdx.x == 0)
		out[blockIdx.x] = bi[0] < V && !isnan(z[0]) ? bi[0] : 0;
}

/* ---- the path ---- */

/* Row-major out[N][OC] = inp[N][IC] . w[OC][IC]^T (+ out when accumulate):
 * column-major out^T = w^T(op T) . inp^T. The layer's bias is added by
 * the kernel that reads out next. */
static int linear(struct cuda_gen *c, float *out, const float *inp,
		  const float *w, int N, int IC, int OC, int accumulate)
{
	float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
	BLAS_RETURN(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, IC, &one, w,
			 IC, inp, IC, &beta, out, OC), "sgemm");
	return 0;
}

void gen_free_cuda(dsv_gen *g)
{
	struct cuda_gen *c = (struct cuda_gen *)g->impl;
	cudaFree(g->params);
	cudaFree(g->kcache);
	cudaFree(g->vcache);
	g->params = g->kcache = g->vcache = NULL;
	if (!c)
		return;
	if (c->blas_ok)
		cublasDestroy(c->blas);
	cudaFree(c->x), cudaFree(c->ln), cudaFree(c->qkv), cudaFree(c->y);
	cudaFree(c->fch), cudaFree(c->sel), cudaFree(c->lg);
	cudaFree(c->meta), cudaFree(c->am);
	free(c->h_lg);
	free(c);
	g->impl = NULL;
}

int gen_new_cuda(dsv_gen *g, const float *params)
{
	int C = g->cfg.channels, V = g->cfg.vocab_size;
	size_t R = (size_t)g->R;
	size_t cache = (size_t)g->cfg.num_layers * g->B * g->T * C;
	struct cuda_gen *c = (struct cuda_gen *)calloc(1, sizeof *c);
	g->impl = c;
	if (!c)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	c->nsel_max = g->R < g->B ? g->R : g->B;
	if (g->R > DSV_GEN_CHUNK) /* gen_feed_cuda's row arrays */
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "the CUDA generator "
					"takes at most %d rows per chunk",
					DSV_GEN_CHUNK);
	/* attend_k's shared memory: T scores, 32 partials, a head's query */
	size_t head = (size_t)(g->cfg.channels / g->cfg.num_heads);
	if (((size_t)g->T + 32 + head) * sizeof(float) > 48 * 1024)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "the CUDA generator "
					"holds at most %d positions",
					(int)(48 * 1024 / 4 - 32 - head));
	/* The current device, as the other kernels use: setting device 0 here
	 * would move the calling thread of a training rank that nccl_dp put
	 * on device rank % ndev. */
	BLAS_RETURN(cublasCreate(&c->blas), "create");
	c->blas_ok = 1;
	BLAS_RETURN(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH), "math mode");
	CU_RETURN(cudaMalloc((void **)&g->params, g->num_params * sizeof(float)), "weights");
	CU_RETURN(cudaMalloc((void **)&g->kcache, cache * sizeof(float)), "key cache");
	CU_RETURN(cudaMalloc((void **)&g->vcache, cache * sizeof(float)), "value cache");
	CU_RETURN(cudaMalloc((void **)&c->x, R * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->ln, R * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->qkv, R * 3 * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->y, R * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->fch, R * 4 * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->sel, (size_t)c->nsel_max * C * sizeof(float)), "scratch");
	CU_RETURN(cudaMalloc((void **)&c->lg, (size_t)c->nsel_max * V * sizeof(float)), "logits");
	CU_RETURN(cudaMalloc((void **)&c->meta, 4 * R * sizeof(int)), "rows");
	CU_RETURN(cudaMalloc((void **)&c->am, R * sizeof(int)), "rows");
	if (!(c->h_lg = (float *)malloc((size_t)c->nsel_max * V * sizeof(float))))
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	CU_RETURN(cudaMemcpy(g->params, params, g->num_params * sizeof(float),
		      cudaMemcpyHostToDevice), "copy weights");
	return 0;
}

int gen_feed_cuda(dsv_gen *g, const int *tokens, const int *rowseq,
		  const int *rowpos, int N, const int *want, float *logits,
		  int *argmax)
{
	struct cuda_gen *c = (struct cuda_gen *)g->impl;
	int L = g->cfg.num_layers, C = g->cfg.channels, NH = g->cfg.num_heads;
	int V = g->cfg.vocab_size, HS = C / NH, T = g->T, rc;
	size_t cc = (size_t)C, NC = (size_t)N * C;
	int meta[4 * DSV_GEN_CHUNK], *sel = meta + 3 * N, nsel = 0;
	int am[DSV_GEN_CHUNK];
	/* One copy for the rows' tokens, sequences, positions and the rows
	 * whose logits are wanted: a decode step waits on each copy. */
	memcpy(meta, tokens, N * sizeof(int));
	memcpy(meta + N, rowseq, N * sizeof(int));
	memcpy(meta + 2 * N, rowpos, N * sizeof(int));
	for (int r = 0; r < N; r++)
		if (want[r])
			sel[nsel++] = r;
	CU_RETURN(cudaMemcpy(c->meta, meta, (3 * (size_t)N + nsel) * sizeof(int),
			     cudaMemcpyHostToDevice), "rows");
	const int *dtok = c->meta, *dseq = c->meta + N, *dpos = c->meta + 2 * N;
	const int *drows = c->meta + 3 * N;
	embed_k<<<nblocks(NC, 256), 256>>>(c->x, dtok, dpos, P(g, DSV_GPT_WTE),
					  P(g, DSV_GPT_WPE), N, C);
	unsigned lnb = nblocks((size_t)N, 8);
	size_t smem = ((size_t)T + 32 + HS) * sizeof(float);
	/* Each GEMM's bias is added by the kernel that reads its output next:
	 * the residual's by the LayerNorm after it (the last layer's by the
	 * gather of the rows that want logits), qkv's by store_kv_k and
	 * attend_k, the MLP's first by gelu_k. */
	for (int l = 0; l < L; l++) {
		const float *bqkv = P(g, DSV_GPT_QKVB) + l * 3 * cc;
		layernorm_k<<<lnb, 256>>>(c->ln, c->x,
					  l ? P(g, DSV_GPT_FCPROJB) + (l - 1) * cc : NULL,
					  P(g, DSV_GPT_LN1W) + l * cc,
					  P(g, DSV_GPT_LN1B) + l * cc, N, C);
		if ((rc = linear(c, c->qkv, c->ln, P(g, DSV_GPT_QKVW) + l * 3 * cc * cc,
				 N, C, 3 * C, 0)))
			return rc;
		store_kv_k<<<nblocks(NC, 256), 256>>>(g->kcache, g->vcache, c->qkv,
						      bqkv, dseq, dpos, N, l, g->B,
						      NH, T, HS);
		attend_k<<<dim3(N, NH), 128, smem>>>(c->y, c->qkv, bqkv, g->kcache,
						      g->vcache, dseq, dpos, l,
						      g->B, NH, T, HS);
		if ((rc = linear(c, c->x, c->y, P(g, DSV_GPT_ATTPROJW) + l * cc * cc,
				 N, C, C, 1)))
			return rc;
		layernorm_k<<<lnb, 256>>>(c->ln, c->x, P(g, DSV_GPT_ATTPROJB) + l * cc,
					  P(g, DSV_GPT_LN2W) + l * cc,
					  P(g, DSV_GPT_LN2B) + l * cc, N, C);
		if ((rc = linear(c, c->fch, c->ln, P(g, DSV_GPT_FCW) + l * 4 * cc * cc,
				 N, C, 4 * C, 0)))
			return rc;
		gelu_k<<<nblocks(4 * NC, 256), 256>>>(c->fch, P(g, DSV_GPT_FCB) + l * 4 * cc,
						     4 * NC, 4 * C);
		if ((rc = linear(c, c->x, c->fch, P(g, DSV_GPT_FCPROJW) + l * 4 * cc * cc,
				 N, 4 * C, C, 1)))
			return rc;
	}
	CU_RETURN(cudaGetLastError(), "forward");
	if (!nsel)
		return 0;
	gather_k<<<nblocks((size_t)nsel * C, 256), 256>>>(
		c->ln, c->x, P(g, DSV_GPT_FCPROJB) + (L - 1) * cc, drows, nsel, C);
	layernorm_k<<<nblocks((size_t)nsel, 8), 256>>>(c->sel, c->ln, NULL,
						       P(g, DSV_GPT_LNFW),
						       P(g, DSV_GPT_LNFB), nsel, C);
	if ((rc = linear(c, c->lg, c->sel, P(g, DSV_GPT_WTE), nsel, C, V, 0)))
		return rc;
	if (argmax) {
		argmax_k<<<nsel, 256>>>(c->am, c->lg, V);
		CU_RETURN(cudaMemcpy(am, c->am, nsel * sizeof(int), cudaMemcpyDeviceToHost),
		   "argmax");
		for (int i = 0; i < nsel; i++)
			argmax[rowseq[sel[i]]] = am[i];
	}
	if (logits) {
		CU_RETURN(cudaMemcpy(c->h_lg, c->lg, (size_t)nsel * V * sizeof(float),
			      cudaMemcpyDeviceToHost), "logits");
		for (int i = 0; i < nsel; i++)
			memcpy(logits + (size_t)rowseq[sel[i]] * V,
			       c->h_lg + (size_t)i * V, V * sizeof(float));
	}
	CU_RETURN(cudaGetLastError(), "logits");
	return 0;
}
