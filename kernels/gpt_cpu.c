/* gpt_cpu.c: the CPU reference of the GPT-2 training kernels (fp32). Matmuls
 * go through dsv_sgemm; the rest is OpenMP over rows with fixed partitions,
 * so every sum runs in the same order on every run: same seed, same inputs,
 * same thread count give bit-identical weights.
 */
/* Value-safe (no reassociation, IEEE results unchanged): lets GCC if-convert
 * the clamps in vexpf and vectorise the softmax, GELU and loss loops. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

/* The loops outside the matmuls (LayerNorm, GELU, softmax, AdamW) are
 * written for `omp simd` and built twice, for x86-64-v3 (AVX2) and for the
 * baseline, the copy picked at load time by the CPU (GCC target_clones), so
 * the binary runs on any x86-64. -std=c11 keeps a*b+c unfused in both, so
 * only the lane count of a reduction can differ between the two copies: a
 * given machine always runs the same one, and its results are reproducible. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VEC __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VEC
#endif

#include "kernels/gpt.h"
#include "kernels/device.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Activations of one forward, kept for the backward. Each per-layer buffer
 * holds L blocks laid out for the current batch (cur_B x cur_T), which is at
 * most the allocated B x T. */
typedef struct {
	float *encoded;                     /* [B*T][C] */
	float *ln1, *ln1_mean, *ln1_rstd;   /* [L][B*T][C], [L][B*T] */
	float *qkv;                         /* [L][B*T][3C] */
	float *atty;                        /* [L][B*T][C] */
	float *att;                         /* [L][B][NH][T][T] */
	float *residual2;                   /* [L][B*T][C] */
	float *ln2, *ln2_mean, *ln2_rstd;
	float *fch, *fch_gelu;              /* [L][B*T][4C] */
	float *residual3;                   /* [L][B*T][C] */
	float *lnf, *lnf_mean, *lnf_rstd;   /* [B*T][C], [B*T] */
	float *logits;                      /* [B*T][Vp]; dlogits after backward */
	float *lse, *losses;                /* [B*T] */
	int *inputs, *targets;              /* [B*T], copies of the last forward */
	int n_valid;                        /* targets != -1 */
	/* backward scratch, one layer at a time */
	float *dres, *dtmp, *dtmp2, *dqkv, *dfch, *datt;
	float *bufs[32];
	int nbufs;
} cpu_acts;

#define P(m, i) ((m)->params + (m)->offsets[i])
#define G(m, i) ((m)->grads + (m)->offsets[i])

/* Zeroed by memset, not calloc: a fresh calloc is untouched pages, and the
 * first training step then paid a page fault per 4 KiB of activations
 * (with OpenBLAS's load, about one more step's time). */
static float *zalloc(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	if (p)
		memset(p, 0, (n ? n : 1) * sizeof(float));
	return p;
}

static float *take(cpu_acts *a, size_t n, int *fail)
{
	float *p = zalloc(n);
	if (!p)
		*fail = 1;
	a->bufs[a->nbufs++] = p;
	return p;
}

int gpt_new_cpu(dsv_gpt *m)
{
	cpu_acts *a = calloc(1, sizeof *a);
	if (!a)
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate activations");
	m->impl = a;
	size_t L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	size_t BT = (size_t)m->B * m->T, T = m->T, Vp = m->cfg.padded_vocab_size;
	int fail = 0;
	m->params = zalloc(m->num_params);
	m->grads = zalloc(m->num_params);
	dsv_sgemm_init();
	if (!m->params || !m->grads)
		fail = 1;
	a->encoded = take(a, BT * C, &fail);
	a->ln1 = take(a, L * BT * C, &fail);
	a->ln1_mean = take(a, L * BT, &fail);
	a->ln1_rstd = take(a, L * BT, &fail);
	a->qkv = take(a, L * BT * 3 * C, &fail);
	a->atty = take(a, L * BT * C, &fail);
	a->att = take(a, L * BT * NH * T, &fail);
	a->residual2 = take(a, L * BT * C, &fail);
	a->ln2 = take(a, L * BT * C, &fail);
	a->ln2_mean = take(a, L * BT, &fail);
	a->ln2_rstd = take(a, L * BT, &fail);
	a->fch = take(a, L * BT * 4 * C, &fail);
	a->fch_gelu = take(a, L * BT * 4 * C, &fail);
	a->residual3 = take(a, L * BT * C, &fail);
	a->lnf = take(a, BT * C, &fail);
	a->lnf_mean = take(a, BT, &fail);
	a->lnf_rstd = take(a, BT, &fail);
	a->logits = take(a, BT * Vp, &fail);
	a->lse = take(a, BT, &fail);
	a->losses = take(a, BT, &fail);
	a->dres = take(a, BT * C, &fail);
	a->dtmp = take(a, BT * C, &fail);
	a->dtmp2 = take(a, BT * C, &fail);
	a->dqkv = take(a, BT * 3 * C, &fail);
	a->dfch = take(a, BT * 4 * C, &fail);
	a->datt = take(a, BT * NH * T, &fail);
	a->inputs = calloc(BT, sizeof(int));
	a->targets = calloc(BT, sizeof(int));
	if (fail || !a->inputs || !a->targets) {
		size_t bytes = (2 * m->num_params + BT * (C * (16 + 14 * L) +
				NH * T * (L + 1) + Vp + 3 * L + 5)) * sizeof(float);
		gpt_free_cpu(m);
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate the model "
				     "(about %zu MiB)", bytes >> 20);
	}
	return 0;
}

void gpt_free_cpu(dsv_gpt *m)
{
	cpu_acts *a = m->impl;
	if (a) {
		for (int i = 0; i < a->nbufs; i++)
			free(a->bufs[i]);
		free(a->inputs);
		free(a->targets);
		free(a);
	}
	free(m->params);
	free(m->grads);
	free(m->m);
	free(m->v);
	m->impl = NULL;
	m->params = m->grads = m->m = m->v = NULL;
}

/* ---- layers, forward ---- */

/* expf that the compiler can vectorise (libm's is a call per element, which
 * made the softmax over V a fifth of a step): exp(x) = 2^n exp(r) with
 * n = round(x/ln2) and Cephes' degree-6 polynomial for exp(r); within 2 ulp
 * of expf for x in [-87, 88], inputs clamped there. */
static inline float vexpf(float x)
{
	x = x > 88.0f ? 88.0f : x;
	x = x < -87.0f ? -87.0f : x;
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693359375f + n * 2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	float y = p * r * r + r + 1.0f;
	/* NaN passes the clamps and has no integer exponent (y is NaN
	 * whatever the scale): its conversion and shift were undefined */
	int32_t ni = n == n ? (int32_t)n : 0;
	union { int32_t i; float f; } e = { .i = (ni + 127) << 23 };
	return y * e.f;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1), through vexpf. */
static inline float vtanhf(float u)
{
	return 1.0f - 2.0f / (vexpf(2.0f * u) + 1.0f);
}

VEC static void encoder_forward(float *out, const int *inp, const float *wte,
			    const float *wpe, int B, int T, int C)
{
	#pragma omp parallel for schedule(static)
	for (int bt = 0; bt < B * T; bt++) {
		const float *e = wte + (size_t)inp[bt] * C;
		const float *p = wpe + (size_t)(bt % T) * C;
		float *o = out + (size_t)bt * C;
		#pragma omp simd
		for (int i = 0; i < C; i++)
			o[i] = e[i] + p[i];
	}
}

VEC static void layernorm_forward(float *out, float *mean, float *rstd,
			      const float *inp, const float *w, const float *b,
			      int N, int C)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		const float *x = inp + (size_t)r * C;
		float *o = out + (size_t)r * C;
		float mu = 0.0f, var = 0.0f;
		#pragma omp simd reduction(+:mu)
		for (int i = 0; i < C; i++)
			mu += x[i];
		mu /= C;
		#pragma omp simd reduction(+:var)
		for (int i = 0; i < C; i++)
			var += (x[i] - mu) * (x[i] - mu);
		float s = 1.0f / sqrtf(var / C + 1e-5f);
		#pragma omp simd
		for (int i = 0; i < C; i++)
			o[i] = (x[i] - mu) * s * w[i] + b[i];
		mean[r] = mu;
		rstd[r] = s;
	}
}

/* out[N][OC] = resid + bias + inp[N][IC] . w[OC][IC]^T, resid (a residual
 * stream [N][OC]) and bias optional. resid + bias is written first and the
 * product added to it (beta = 1): one pass over out where zeroing it for
 * the product, adding the bias and adding the residual took three. */
VEC static void matmul_forward(float *out, const float *inp, const float *w,
			       const float *bias, const float *resid, int N,
			       int IC, int OC)
{
	if (bias || resid) {
		#pragma omp parallel for schedule(static)
		for (int r = 0; r < N; r++) {
			float *o = out + (size_t)r * OC;
			const float *x = resid ? resid + (size_t)r * OC : NULL;
			if (x && bias) {
				#pragma omp simd
				for (int j = 0; j < OC; j++)
					o[j] = x[j] + bias[j];
			} else
				memcpy(o, x ? x : bias, (size_t)OC * sizeof(float));
		}
	}
	dsv_sgemm(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC,
		  bias || resid ? 1.0f : 0.0f, out, OC);
}

/* Causal multi-head attention, per (b, h): scores = q k^T, a causal softmax
 * of scale*scores over rows, y = att v. Rows go in blocks of ATT_ROWS, each
 * block's GEMMs reaching only the columns up to its last row, so the
 * masked triangle is mostly skipped (about (n+1)/2n of the full T x T work
 * for n blocks); inside a block the GEMMs still cover the diagonal block
 * whole. att keeps the probabilities for the backward, zero above the
 * diagonal; right of a block's columns it is never read. The (b, h) pairs
 * are spread over the threads, each doing its head's steps while its T x T
 * block is in cache; every sum stays on one thread. */
#define ATT_ROWS 32

VEC static void attention_forward(float *out, float *att, const float *qkv,
			      int B, int T, int C, int NH)
{
	int hs = C / NH;
	float scale = 1.0f / sqrtf((float)hs);
	#pragma omp parallel for schedule(static)
	for (int bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		const float *q = qkv + (size_t)b * T * 3 * C + h * hs;
		float *a = att + (size_t)bh * T * T;
		for (int i0 = 0; i0 < T; i0 += ATT_ROWS) {
			int mi = T - i0 < ATT_ROWS ? T - i0 : ATT_ROWS;
			dsv_sgemm(0, 1, mi, i0 + mi, hs, scale, q + (size_t)i0 * 3 * C,
				  3 * C, q + C, 3 * C, 0.0f, a + (size_t)i0 * T, T);
		}
		for (int t = 0; t < T; t++) {
			float *r = a + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
			#pragma omp simd reduction(max:mx)
			for (int t2 = 0; t2 <= t; t2++)
				mx = r[t2] > mx ? r[t2] : mx;
			#pragma omp simd reduction(+:sum)
			for (int t2 = 0; t2 <= t; t2++) {
				r[t2] = vexpf(r[t2] - mx);
				sum += r[t2];
			}
			float inv = 1.0f / sum;
			#pragma omp simd
			for (int t2 = 0; t2 <= t; t2++)
				r[t2] *= inv;
			for (int t2 = t + 1; t2 < T; t2++)
				r[t2] = 0.0f;
		}
		for (int i0 = 0; i0 < T; i0 += ATT_ROWS) {
			int mi = T - i0 < ATT_ROWS ? T - i0 : ATT_ROWS;
			dsv_sgemm(0, 0, mi, hs, i0 + mi, 1.0f, a + (size_t)i0 * T, T,
				  q + 2 * C, 3 * C, 0.0f,
				  out + ((size_t)b * T + i0) * C + h * hs, C);
		}
	}
}

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */

VEC static void gelu_forward(float *out, const float *inp, size_t n)
{
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		out[i] = 0.5f * x * (1.0f + vtanhf(GELU_S * (x + 0.044715f * x * x * x)));
	}
}

/* Softmax over the real V columns; loss = logsumexp - logit[target]. The
 * row's logsumexp is kept so the backward can rebuild the probabilities. */
VEC static void crossentropy_forward(float *losses, float *lse, const float *logits,
				 const int *targets, int N, int V, int Vp)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		const float *z = logits + (size_t)r * Vp;
		float mx = -INFINITY, sum = 0.0f;
		#pragma omp simd reduction(max:mx)
		for (int i = 0; i < V; i++)
			mx = z[i] > mx ? z[i] : mx;
		/* a fixed vector-lane order: deterministic for a given build */
		#pragma omp simd reduction(+:sum)
		for (int i = 0; i < V; i++)
			sum += vexpf(z[i] - mx);
		lse[r] = mx + logf(sum);
		losses[r] = targets[r] < 0 ? 0.0f : lse[r] - z[targets[r]];
	}
}

int gpt_forward_cpu(dsv_gpt *m, const int *inputs, const int *targets, int B, int T)
{
	cpu_acts *a = m->impl;
	int L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size, N = B * T;
	size_t BTC = (size_t)N * C;
	m->cur_B = B;
	m->cur_T = T;
	memcpy(a->inputs, inputs, (size_t)N * sizeof(int));

	encoder_forward(a->encoded, inputs, P(m, DSV_GPT_WTE), P(m, DSV_GPT_WPE), B, T, C);
	for (int l = 0; l < L; l++) {
		const float *res = l ? a->residual3 + (l - 1) * BTC : a->encoded;
		float *ln1 = a->ln1 + l * BTC, *qkv = a->qkv + l * 3 * BTC;
		float *atty = a->atty + l * BTC, *res2 = a->residual2 + l * BTC;
		float *ln2 = a->ln2 + l * BTC, *fch = a->fch + l * 4 * BTC;
		float *fchg = a->fch_gelu + l * 4 * BTC, *res3 = a->residual3 + l * BTC;
		float *att = a->att + (size_t)l * N * NH * T;
		size_t c = C;
		layernorm_forward(ln1, a->ln1_mean + l * N, a->ln1_rstd + l * N, res,
				  P(m, DSV_GPT_LN1W) + l * c, P(m, DSV_GPT_LN1B) + l * c, N, C);
		matmul_forward(qkv, ln1, P(m, DSV_GPT_QKVW) + l * 3 * c * c,
			       P(m, DSV_GPT_QKVB) + l * 3 * c, NULL, N, C, 3 * C);
		attention_forward(atty, att, qkv, B, T, C, NH);
		matmul_forward(res2, atty, P(m, DSV_GPT_ATTPROJW) + l * c * c,
			       P(m, DSV_GPT_ATTPROJB) + l * c, res, N, C, C);
		layernorm_forward(ln2, a->ln2_mean + l * N, a->ln2_rstd + l * N, res2,
				  P(m, DSV_GPT_LN2W) + l * c, P(m, DSV_GPT_LN2B) + l * c, N, C);
		matmul_forward(fch, ln2, P(m, DSV_GPT_FCW) + l * 4 * c * c,
			       P(m, DSV_GPT_FCB) + l * 4 * c, NULL, N, C, 4 * C);
		gelu_forward(fchg, fch, 4 * BTC);
		matmul_forward(res3, fchg, P(m, DSV_GPT_FCPROJW) + l * 4 * c * c,
			       P(m, DSV_GPT_FCPROJB) + l * c, res2, N, 4 * C, C);
	}
	layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (L - 1) * BTC,
			  P(m, DSV_GPT_LNFW), P(m, DSV_GPT_LNFB), N, C);
	matmul_forward(a->logits, a->lnf, P(m, DSV_GPT_WTE), NULL, NULL, N, C, Vp);

	if (!targets) {
		m->mean_loss = -1.0f;
		return 0;
	}
	memcpy(a->targets, targets, (size_t)N * sizeof(int));
	crossentropy_forward(a->losses, a->lse, a->logits, targets, N, V, Vp);
	double sum = 0.0;
	int n = 0;
	for (int r = 0; r < N; r++)
		if (targets[r] >= 0) {
			sum += a->losses[r];
			n++;
		}
	a->n_valid = n;
	m->mean_loss = n ? (float)(sum / n) : 0.0f;
	return 0;
}

int gpt_get_logits_cpu(const dsv_gpt *m, float *host)
{
	const cpu_acts *a = m->impl;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
	for (size_t r = 0; r < (size_t)m->cur_B * m->cur_T; r++)
		memcpy(host + r * V, a->logits + r * Vp, V * sizeof(float));
	return 0;
}

int gpt_get_losses_cpu(const dsv_gpt *m, float *host)
{
	const cpu_acts *a = m->impl;
	memcpy(host, a->losses, (size_t)m->cur_B * m->cur_T * sizeof(float));
	return 0;
}

/* ---- layers, backward ---- */

VEC static void crossentropy_backward(float *logits, const float *lse,
				  const int *targets, float dloss, int N, int V, int Vp)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		float *z = logits + (size_t)r * Vp;
		if (targets[r] < 0) {
			memset(z, 0, (size_t)Vp * sizeof(float));
			continue;
		}
		float l = lse[r];
		#pragma omp simd
		for (int i = 0; i < V; i++)
			z[i] = vexpf(z[i] - l) * dloss;
		for (int i = V; i < Vp; i++)
			z[i] = 0.0f;
		z[targets[r]] -= dloss;
	}
}

/* Column sums for the bias gradient: chunks of 64 columns per task, rows in
 * order, so the result does not depend on the thread count. */
VEC static void bias_backward(float *dbias, const float *dout, int N, int OC)
{
	#pragma omp parallel for schedule(static)
	for (int j0 = 0; j0 < OC; j0 += 64) {
		int w = OC - j0 < 64 ? OC - j0 : 64;
		float acc[64] = {0};
		for (int r = 0; r < N; r++) {
			const float *d = dout + (size_t)r * OC + j0;
			#pragma omp simd
			for (int j = 0; j < w; j++)
				acc[j] += d[j];
		}
		for (int j = 0; j < w; j++)
			dbias[j0 + j] += acc[j];
	}
}

/* dinp = dout . w (overwritten), dw += dout^T . inp, dbias += sum(dout) */
static void matmul_backward(float *dinp, float *dw, float *dbias,
			    const float *dout, const float *inp, const float *w,
			    int N, int IC, int OC)
{
	if (dinp)
		dsv_sgemm(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp, IC);
	dsv_sgemm(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
	if (dbias)
		bias_backward(dbias, dout, N, OC);
}

VEC static void layernorm_backward(float *dinp, float *dw, float *db,
			       const float *dout, const float *inp,
			       const float *w, const float *mean,
			       const float *rstd, int N, int C)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
		float *di = dinp + (size_t)r * C;
		float mu = mean[r], s = rstd[r], dmean = 0.0f, dnmean = 0.0f;
		#pragma omp simd reduction(+:dmean, dnmean)
		for (int i = 0; i < C; i++) {
			float dn = w[i] * d[i];
			dmean += dn;
			dnmean += dn * (x[i] - mu) * s;
		}
		dmean /= C;
		dnmean /= C;
		#pragma omp simd
		for (int i = 0; i < C; i++) {
			float n = (x[i] - mu) * s;
			di[i] += (w[i] * d[i] - dmean - n * dnmean) * s;
		}
	}
	#pragma omp parallel for schedule(static)
	for (int i0 = 0; i0 < C; i0 += 16) {
		int wd = C - i0 < 16 ? C - i0 : 16;
		float aw[16] = {0}, ab[16] = {0};
		for (int r = 0; r < N; r++) {
			const float *x = inp + (size_t)r * C + i0;
			const float *d = dout + (size_t)r * C + i0;
			float mr = mean[r], sr = rstd[r];
			#pragma omp simd
			for (int i = 0; i < wd; i++) {
				aw[i] += d[i] * (x[i] - mr) * sr;
				ab[i] += d[i];
			}
		}
		for (int i = 0; i < wd; i++) {
			dw[i0 + i] += aw[i];
			db[i0 + i] += ab[i];
		}
	}
}

VEC static void gelu_backward(float *dinp, const float *inp, size_t n)
{
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		float u = GELU_S * (x + 0.044715f * x * x * x);
		float th = vtanhf(u);
		float g = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) *
			  GELU_S * (1.0f + 3.0f * 0.044715f * x * x);
		dinp[i] *= g;
	}
}

/* dqkv is overwritten; datt is scratch of att's size. Per (b, h), one
 * pair per thread at a time as in the forward: datt = dy v^T, dv = att^T dy,
 * dpre = scale * att * (datt - rowsum(att * datt)), dq = dpre k,
 * dk = dpre^T q, in the forward's row blocks: row block i of datt, dpre
 * and dq reaches the columns up to its last row; column block j of dv and
 * dk sums over the rows from the block's first row on (att and dpre are
 * zero above the diagonal). */
VEC static void attention_backward(float *dqkv, float *datt, const float *dout,
			       const float *qkv, const float *att,
			       int B, int T, int C, int NH)
{
	int hs = C / NH;
	float scale = 1.0f / sqrtf((float)hs);
	#pragma omp parallel for schedule(static)
	for (int bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		size_t o = (size_t)b * T * 3 * C + h * hs;
		const float *dy = dout + (size_t)b * T * C + h * hs;
		const float *a = att + (size_t)bh * T * T;
		float *da = datt + (size_t)bh * T * T;
		for (int i0 = 0; i0 < T; i0 += ATT_ROWS) {
			int mi = T - i0 < ATT_ROWS ? T - i0 : ATT_ROWS;
			size_t r = (size_t)i0 * T, c3 = (size_t)i0 * 3 * C;
			dsv_sgemm(0, 1, mi, i0 + mi, hs, 1.0f, dy + (size_t)i0 * C,
				  C, qkv + o + 2 * C, 3 * C, 0.0f, da + r, T);
			dsv_sgemm(1, 0, mi, hs, T - i0, 1.0f, a + r + i0, T,
				  dy + (size_t)i0 * C, C, 0.0f,
				  dqkv + o + c3 + 2 * C, 3 * C);
		}
		for (int t = 0; t < T; t++) {
			const float *ar = a + (size_t)t * T;
			float *dr = da + (size_t)t * T, dot = 0.0f;
			#pragma omp simd reduction(+:dot)
			for (int t2 = 0; t2 <= t; t2++)
				dot += ar[t2] * dr[t2];
			#pragma omp simd
			for (int t2 = 0; t2 <= t; t2++)
				dr[t2] = scale * ar[t2] * (dr[t2] - dot);
			for (int t2 = t + 1; t2 < T; t2++)
				dr[t2] = 0.0f;
		}
		for (int i0 = 0; i0 < T; i0 += ATT_ROWS) {
			int mi = T - i0 < ATT_ROWS ? T - i0 : ATT_ROWS;
			size_t r = (size_t)i0 * T, c3 = (size_t)i0 * 3 * C;
			dsv_sgemm(0, 0, mi, hs, i0 + mi, 1.0f, da + r, T,
				  qkv + o + C, 3 * C, 0.0f, dqkv + o + c3, 3 * C);
			dsv_sgemm(1, 0, mi, hs, T - i0, 1.0f, da + r + i0, T,
				  qkv + o + c3, 3 * C, 0.0f, dqkv + o + c3 + C, 3 * C);
		}
	}
}

VEC static void encoder_backward(float *dwte, float *dwpe, const float *dout,
			     const int *inp, int B, int T, int C)
{
	/* wte rows can repeat within a batch: serial, in token order. */
	for (int bt = 0; bt < B * T; bt++) {
		float *d = dwte + (size_t)inp[bt] * C;
		const float *g = dout + (size_t)bt * C;
		#pragma omp simd
		for (int i = 0; i < C; i++)
			d[i] += g[i];
	}
	#pragma omp parallel for schedule(static)
	for (int t = 0; t < T; t++)
		for (int b = 0; b < B; b++) {
			float *d = dwpe + (size_t)t * C;
			const float *g = dout + ((size_t)b * T + t) * C;
			#pragma omp simd
			for (int i = 0; i < C; i++)
				d[i] += g[i];
		}
}

int gpt_backward_cpu(dsv_gpt *m, float scale)
{
	cpu_acts *a = m->impl;
	int B = m->cur_B, T = m->cur_T, N = B * T;
	int L = m->cfg.num_layers, C = m->cfg.channels, NH = m->cfg.num_heads;
	int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab_size;
	size_t BTC = (size_t)N * C, c = C;
	float dloss = a->n_valid ? scale / a->n_valid : 0.0f;

	crossentropy_backward(a->logits, a->lse, a->targets, dloss, N, V, Vp);
	matmul_backward(a->dtmp, G(m, DSV_GPT_WTE), NULL, a->logits, a->lnf,
			P(m, DSV_GPT_WTE), N, C, Vp);
	memset(a->dres, 0, BTC * sizeof(float));
	layernorm_backward(a->dres, G(m, DSV_GPT_LNFW), G(m, DSV_GPT_LNFB), a->dtmp,
			   a->residual3 + (L - 1) * BTC, P(m, DSV_GPT_LNFW),
			   a->lnf_mean, a->lnf_rstd, N, C);
	for (int l = L - 1; l >= 0; l--) {
		const float *res = l ? a->residual3 + (l - 1) * BTC : a->encoded;
		float *ln1 = a->ln1 + l * BTC, *qkv = a->qkv + l * 3 * BTC;
		float *atty = a->atty + l * BTC, *res2 = a->residual2 + l * BTC;
		float *ln2 = a->ln2 + l * BTC, *fch = a->fch + l * 4 * BTC;
		float *fchg = a->fch_gelu + l * 4 * BTC;
		float *att = a->att + (size_t)l * N * NH * T;

		/* MLP: dres is d(residual3) and flows on unchanged to residual2 */
		matmul_backward(a->dfch, G(m, DSV_GPT_FCPROJW) + l * 4 * c * c,
				G(m, DSV_GPT_FCPROJB) + l * c, a->dres, fchg,
				P(m, DSV_GPT_FCPROJW) + l * 4 * c * c, N, 4 * C, C);
		gelu_backward(a->dfch, fch, 4 * BTC);
		matmul_backward(a->dtmp, G(m, DSV_GPT_FCW) + l * 4 * c * c,
				G(m, DSV_GPT_FCB) + l * 4 * c, a->dfch, ln2,
				P(m, DSV_GPT_FCW) + l * 4 * c * c, N, C, 4 * C);
		layernorm_backward(a->dres, G(m, DSV_GPT_LN2W) + l * c,
				   G(m, DSV_GPT_LN2B) + l * c, a->dtmp, res2,
				   P(m, DSV_GPT_LN2W) + l * c, a->ln2_mean + l * N,
				   a->ln2_rstd + l * N, N, C);
		/* attention: dres is now d(residual2) */
		matmul_backward(a->dtmp, G(m, DSV_GPT_ATTPROJW) + l * c * c,
				G(m, DSV_GPT_ATTPROJB) + l * c, a->dres, atty,
				P(m, DSV_GPT_ATTPROJW) + l * c * c, N, C, C);
		attention_backward(a->dqkv, a->datt, a->dtmp, qkv, att, B, T, C, NH);
		matmul_backward(a->dtmp2, G(m, DSV_GPT_QKVW) + l * 3 * c * c,
				G(m, DSV_GPT_QKVB) + l * 3 * c, a->dqkv, ln1,
				P(m, DSV_GPT_QKVW) + l * 3 * c * c, N, C, 3 * C);
		layernorm_backward(a->dres, G(m, DSV_GPT_LN1W) + l * c,
				   G(m, DSV_GPT_LN1B) + l * c, a->dtmp2, res,
				   P(m, DSV_GPT_LN1W) + l * c, a->ln1_mean + l * N,
				   a->ln1_rstd + l * N, N, C);
	}
	encoder_backward(G(m, DSV_GPT_WTE), G(m, DSV_GPT_WPE), a->dres, a->inputs, B, T, C);
	m->mean_loss = -1.0f; /* the logits now hold dlogits */
	return 0;
}

/* ---- AdamW ---- */

/* Global L2 norm over a fixed 64-way split, partials combined in order. */
VEC static double grad_norm(const float *g, size_t n)
{
	enum { PARTS = 64 };
	double part[PARTS];
	#pragma omp parallel for schedule(static)
	for (int p = 0; p < PARTS; p++) {
		size_t lo = n * p / PARTS, hi = n * (p + 1) / PARTS;
		double s = 0.0;
		#pragma omp simd reduction(+:s)
		for (size_t i = lo; i < hi; i++)
			s += (double)g[i] * g[i];
		part[p] = s;
	}
	double s = 0.0;
	for (int p = 0; p < PARTS; p++)
		s += part[p];
	return sqrt(s);
}

/* AdamW on one tensor. */
VEC static void adamw(float *p, const float *g, float *mm, float *vv, size_t n,
		      const dsv_gpt_adamw *o, float gscale, float bc1, float bc2,
		      float wd)
{
	float b1 = o->beta1, b2 = o->beta2, lr = o->lr, eps = o->eps;
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * gscale;
		mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
		vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
		float mh = mm[i] / bc1, vh = vv[i] / bc2;
		p[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * p[i]);
	}
}

int gpt_moments_cpu(dsv_gpt *m)
{
	if (m->m)
		return 0;
	m->m = calloc(m->num_params, sizeof(float));
	m->v = calloc(m->num_params, sizeof(float));
	if (!m->m || !m->v) {
		free(m->m);
		free(m->v);
		m->m = m->v = NULL;
		return dsv_kernel_error(DSV_GPT_ENOMEM, "cannot allocate the "
				     "AdamW state (%zu MiB)",
				     (2 * m->num_params * sizeof(float)) >> 20);
	}
	return 0;
}

int gpt_update_cpu(dsv_gpt *m, const dsv_gpt_adamw *o, int step, float *norm_out)
{
	int rc = gpt_moments_cpu(m);
	if (rc)
		return rc;
	double norm = grad_norm(m->grads, m->num_params);
	if (norm_out)
		*norm_out = (float)norm;
	float gscale = o->grad_clip > 0 && norm > o->grad_clip ? (float)(o->grad_clip / norm) : 1.0f;
	float bc1 = 1.0f - powf(o->beta1, (float)step);
	float bc2 = 1.0f - powf(o->beta2, (float)step);
	for (int t = 0; t < DSV_GPT_NTENSORS; t++) {
		float wd = dsv_gpt_tensor_decayed(t) ? o->weight_decay : 0.0f;
		float *p = m->params + m->offsets[t], *g = m->grads + m->offsets[t];
		float *mm = m->m + m->offsets[t], *vv = m->v + m->offsets[t];
		adamw(p, g, mm, vv, m->sizes[t], o, gscale, bc1, bc2, wd);
	}
	return 0;
}
