/* generate.c: the CPU reference of generate.h: GPT-2 inference over gpt.h's
 * parameter layout with a per-layer KV cache, the host-side sampler (shared
 * by both paths) and the dispatch to the CUDA twin (generate.cu).
 *
 * One feed is a flat list of rows (sequence, position, token), processed in
 * chunks of at most R rows in list order. Each layer first writes the
 * chunk's keys and values into the cache, then attends: a row at position p
 * reads positions 0..p of its own sequence, which are all written (earlier
 * feeds, earlier chunks, or this chunk), so a prompt and a decode step are
 * the same computation.
 */
#include "kernels/generate.h"
#include "kernels/device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	float *x, *ln, *qkv, *y, *fch, *att, *sel, *lg;
	int nsel_max;
} cpu_scratch;

#define P(g, i) ((g)->params + (g)->offsets[i])

static size_t cache_floats(const dsv_gen *g)
{
	return (size_t)g->cfg.num_layers * g->B * g->T * g->cfg.channels;
}

static void cpu_free(dsv_gen *g)
{
	cpu_scratch *s = g->impl;
	if (s) {
		free(s->x), free(s->ln), free(s->qkv), free(s->y);
		free(s->fch), free(s->att), free(s->sel), free(s->lg);
		free(s);
	}
	free(g->params);
	free(g->kcache);
	free(g->vcache);
}

static int cpu_new(dsv_gen *g, const float *params)
{
	int C = g->cfg.channels, NH = g->cfg.num_heads, V = g->cfg.vocab_size;
	size_t R = (size_t)g->R, cache = cache_floats(g);
	cpu_scratch *s = calloc(1, sizeof *s);
	g->impl = s;
	if (!s)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	s->nsel_max = g->R < g->B ? g->R : g->B;
	g->params = malloc(g->num_params * sizeof(float));
	g->kcache = malloc(cache * sizeof(float));
	g->vcache = malloc(cache * sizeof(float));
	s->x = malloc(R * C * sizeof(float));
	s->ln = malloc(R * C * sizeof(float));
	s->qkv = malloc(R * 3 * C * sizeof(float));
	s->y = malloc(R * C * sizeof(float));
	s->fch = malloc(R * 4 * C * sizeof(float));
	s->att = malloc(R * NH * (size_t)g->T * sizeof(float));
	s->sel = malloc((size_t)s->nsel_max * C * sizeof(float));
	s->lg = malloc((size_t)s->nsel_max * V * sizeof(float));
	if (!g->params || !g->kcache || !g->vcache || !s->x || !s->ln ||
	    !s->qkv || !s->y || !s->fch || !s->att || !s->sel || !s->lg)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory: a "
					"generator for %d x %d positions needs "
					"%.0f MiB of cache", g->B, g->T,
					2.0 * cache * 4 / 1048576.0);
	memcpy(g->params, params, g->num_params * sizeof(float));
	return 0;
}

/* ---- the CPU forward over one chunk of rows ---- */

static void layernorm(float *out, const float *x, const float *w,
		      const float *b, int N, int C)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		const float *xr = x + (size_t)r * C;
		float *o = out + (size_t)r * C, mu = 0.0f, var = 0.0f;
		for (int i = 0; i < C; i++)
			mu += xr[i];
		mu /= C;
		for (int i = 0; i < C; i++)
			var += (xr[i] - mu) * (xr[i] - mu);
		float s = 1.0f / sqrtf(var / C + 1e-5f);
		for (int i = 0; i < C; i++)
			o[i] = (xr[i] - mu) * s * w[i] + b[i];
	}
}

/* Up to this many rows a product reads w once, row by row (matmul_few);
 * sgemm first copies w into its packed layout, which for a decode step of
 * one or a few sequences triples the memory traffic that bounds it. */
#define GEN_FEW_ROWS 4

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p)
{
	v4f v;
	memcpy(&v, p, sizeof v);
	return v;
}

static float dot(const float *a, const float *b, int n)
{
	v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
	int i = 0;
	for (; i + 16 <= n; i += 16) {
		s0 += load4(a + i) * load4(b + i);
		s1 += load4(a + i + 4) * load4(b + i + 4);
		s2 += load4(a + i + 8) * load4(b + i + 8);
		s3 += load4(a + i + 12) * load4(b + i + 12);
	}
	v4f s = (s0 + s1) + (s2 + s3);
	float r = (s[0] + s[1]) + (s[2] + s[3]);
	for (; i < n; i++)
		r += a[i] * b[i];
	return r;
}

/* out[N][OC] = beta*out + inp[N][IC] . w[OC][IC]^T for N <= GEN_FEW_ROWS,
 * threads over w's rows. */
static void matmul_few(float *out, const float *inp, const float *w, int N,
		       int IC, int OC, float beta)
{
	#pragma omp parallel for schedule(static)
	for (int j = 0; j < OC; j++) {
		const float *wj = w + (size_t)j * IC;
		for (int r = 0; r < N; r++) {
			float *o = out + (size_t)r * OC + j;
			float d = dot(inp + (size_t)r * IC, wj, IC);
			*o = beta != 0.0f ? beta * *o + d : d;
		}
	}
}

/* out[N][OC] = beta*out + inp[N][IC] . w[OC][IC]^T. */
static void matmul(float *out, const float *inp, const float *w, int N,
		   int IC, int OC, float beta)
{
	if (N <= GEN_FEW_ROWS)
		matmul_few(out, inp, w, N, IC, OC, beta);
	else
		dsv_sgemm(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, beta, out, OC);
}

/* out[N][OC] (+)= inp[N][IC] . w[OC][IC]^T + bias; accumulate adds into
 * out (the residual stream) instead of overwriting it. */
static void linear(float *out, const float *inp, const float *w,
		   const float *bias, int N, int IC, int OC, int accumulate)
{
	matmul(out, inp, w, N, IC, OC, accumulate ? 1.0f : 0.0f);
	if (!bias)
		return;
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++)
		for (int j = 0; j < OC; j++)
			out[(size_t)r * OC + j] += bias[j];
}

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */

static void gelu(float *x, size_t n)
{
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(GELU_S * (v + 0.044715f * v * v * v)));
	}
}

static inline size_t cache_at(const dsv_gen *g, int l, int b, int h, int p)
{
	int NH = g->cfg.num_heads, HS = g->cfg.channels / NH;
	return ((((size_t)l * g->B + b) * NH + h) * g->T + p) * HS;
}

static void attend(dsv_gen *g, cpu_scratch *s, int l, const int *rowseq,
		   const int *rowpos, int N)
{
	int C = g->cfg.channels, NH = g->cfg.num_heads, HS = C / NH, T = g->T;
	float scale = 1.0f / sqrtf((float)HS);
	for (int r = 0; r < N; r++)
		for (int h = 0; h < NH; h++) {
			size_t at = cache_at(g, l, rowseq[r], h, rowpos[r]);
			const float *src = s->qkv + (size_t)r * 3 * C + h * HS;
			memcpy(g->kcache + at, src + C, HS * sizeof(float));
			memcpy(g->vcache + at, src + 2 * C, HS * sizeof(float));
		}
	#pragma omp parallel for schedule(dynamic, 4)
	for (int rh = 0; rh < N * NH; rh++) {
		int r = rh / NH, h = rh % NH, p = rowpos[r];
		const float *q = s->qkv + (size_t)r * 3 * C + h * HS;
		const float *k = g->kcache + cache_at(g, l, rowseq[r], h, 0);
		const float *v = g->vcache + cache_at(g, l, rowseq[r], h, 0);
		float *a = s->att + (size_t)rh * T, mx = -INFINITY, sum = 0.0f;
		for (int t = 0; t <= p; t++) {
			float d = 0.0f;
			for (int i = 0; i < HS; i++)
				d += q[i] * k[(size_t)t * HS + i];
			a[t] = d * scale;
			mx = a[t] > mx ? a[t] : mx;
		}
		for (int t = 0; t <= p; t++) {
			a[t] = expf(a[t] - mx);
			sum += a[t];
		}
		float inv = 1.0f / sum, *y = s->y + (size_t)r * C + h * HS;
		for (int i = 0; i < HS; i++)
			y[i] = 0.0f;
		for (int t = 0; t <= p; t++) {
			float w = a[t] * inv;
			for (int i = 0; i < HS; i++)
				y[i] += w * v[(size_t)t * HS + i];
		}
	}
}

static int argmax_row(const float *z, int V)
{
	int best = 0;
	for (int i = 1; i < V; i++)
		if (z[i] > z[best])
			best = i;
	return best;
}

static int rows_cpu(dsv_gen *g, const int *tok, const int *rowseq,
		    const int *rowpos, int N, const int *want, float *logits,
		    int *argmax)
{
	cpu_scratch *s = g->impl;
	int L = g->cfg.num_layers, C = g->cfg.channels, V = g->cfg.vocab_size;
	size_t c = (size_t)C;
	for (int r = 0; r < N; r++) {
		const float *e = P(g, DSV_GPT_WTE) + (size_t)tok[r] * C;
		const float *pe = P(g, DSV_GPT_WPE) + (size_t)rowpos[r] * C;
		for (int i = 0; i < C; i++)
			s->x[(size_t)r * C + i] = e[i] + pe[i];
	}
	for (int l = 0; l < L; l++) {
		layernorm(s->ln, s->x, P(g, DSV_GPT_LN1W) + l * c,
			  P(g, DSV_GPT_LN1B) + l * c, N, C);
		linear(s->qkv, s->ln, P(g, DSV_GPT_QKVW) + l * 3 * c * c,
		       P(g, DSV_GPT_QKVB) + l * 3 * c, N, C, 3 * C, 0);
		attend(g, s, l, rowseq, rowpos, N);
		linear(s->x, s->y, P(g, DSV_GPT_ATTPROJW) + l * c * c,
		       P(g, DSV_GPT_ATTPROJB) + l * c, N, C, C, 1);
		layernorm(s->ln, s->x, P(g, DSV_GPT_LN2W) + l * c,
			  P(g, DSV_GPT_LN2B) + l * c, N, C);
		linear(s->fch, s->ln, P(g, DSV_GPT_FCW) + l * 4 * c * c,
		       P(g, DSV_GPT_FCB) + l * 4 * c, N, C, 4 * C, 0);
		gelu(s->fch, (size_t)N * 4 * C);
		linear(s->x, s->fch, P(g, DSV_GPT_FCPROJW) + l * 4 * c * c,
		       P(g, DSV_GPT_FCPROJB) + l * c, N, 4 * C, C, 1);
	}
	/* The final LayerNorm and the tied lm_head only for the rows whose
	 * logits are wanted (each sequence's last new token). */
	int nsel = 0, sel_rows[DSV_GEN_CHUNK];
	for (int r = 0; r < N; r++)
		if (want[r]) {
			memmove(s->x + (size_t)nsel * C, s->x + (size_t)r * C,
				C * sizeof(float));
			sel_rows[nsel++] = r;
		}
	if (!nsel)
		return 0;
	layernorm(s->sel, s->x, P(g, DSV_GPT_LNFW), P(g, DSV_GPT_LNFB), nsel, C);
	matmul(s->lg, s->sel, P(g, DSV_GPT_WTE), nsel, C, V, 0.0f);
	for (int i = 0; i < nsel; i++) {
		int b = rowseq[sel_rows[i]];
		const float *z = s->lg + (size_t)i * V;
		if (logits)
			memcpy(logits + (size_t)b * V, z, V * sizeof(float));
		if (argmax)
			argmax[b] = argmax_row(z, V);
	}
	return 0;
}

/* ---- the generator ---- */

int dsv_gen_new(dsv_gen **out, const dsv_gpt_config *cfg, const float *params,
		int B, int T, int where)
{
	size_t sizes[DSV_GPT_NTENSORS];
	dsv_gen *g;
	int rc;
	*out = NULL;
	dsv_gpt_config c = *cfg;
	if (c.padded_vocab_size == 0)
		c.padded_vocab_size = (c.vocab_size + 127) / 128 * 128;
	size_t np = dsv_gpt_param_sizes(&c, sizes);
	if (!np)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "invalid model shape");
	if (B < 1 || T < 1 || T > c.max_seq_len)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "generator: batch %d "
					"and %d positions (at most %d)", B, T,
					c.max_seq_len);
	if (where == DSV_GPT_AUTO)
		where = dsv_device_resolve(DSV_DEVICE_AUTO) == DSV_DEVICE_CUDA
			? DSV_GPT_CUDA : DSV_GPT_CPU;
	if (where != DSV_GPT_CPU && where != DSV_GPT_CUDA)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "unknown device %d",
					where);
	if (where == DSV_GPT_CUDA && dsv_device_count() == 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "the CUDA path was "
					"asked for and no device exists");
	if (!(g = calloc(1, sizeof *g)))
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	g->cfg = c;
	g->B = B;
	g->T = T;
	g->num_params = np;
	/* rows per chunk: big enough for sgemm to pay */
	g->R = (size_t)B * T < DSV_GEN_CHUNK ? B * T : DSV_GEN_CHUNK;
	size_t off = 0;
	for (int i = 0; i < DSV_GPT_NTENSORS; i++) {
		g->offsets[i] = off;
		off += sizes[i];
	}
	if (!(g->len = calloc((size_t)B, sizeof *g->len))) {
		free(g);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	}
	g->on_gpu = where == DSV_GPT_CUDA;
#ifdef DSV_HAVE_CUDA
	rc = g->on_gpu ? gen_new_cuda(g, params) : cpu_new(g, params);
#else
	rc = cpu_new(g, params);
#endif
	if (rc) {
		dsv_gen_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void dsv_gen_free(dsv_gen *g)
{
	if (!g)
		return;
#ifdef DSV_HAVE_CUDA
	if (g->on_gpu)
		gen_free_cuda(g);
	else
#endif
		cpu_free(g);
	free(g->len);
	free(g);
}

int dsv_gen_on_gpu(const dsv_gen *g) { return g->on_gpu; }
const dsv_gpt_config *dsv_gen_config(const dsv_gen *g) { return &g->cfg; }
int dsv_gen_len(const dsv_gen *g, int b) { return g->len[b]; }

void dsv_gen_reset(dsv_gen *g)
{
	memset(g->len, 0, (size_t)g->B * sizeof *g->len);
}

int dsv_gen_feed(dsv_gen *g, const int *tokens, const int *n, float *logits,
		 int *argmax)
{
	size_t total = 0;
	int V = g->cfg.vocab_size, rc = 0;
	for (int b = 0; b < g->B; b++) {
		if (n[b] < 0 || g->len[b] + n[b] > g->T)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "sequence %d: "
						"%d + %d tokens exceed the "
						"cache's %d positions", b,
						g->len[b], n[b], g->T);
		total += (size_t)n[b];
	}
	for (size_t i = 0; i < total; i++)
		if (tokens[i] < 0 || tokens[i] >= V)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "token %d is "
						"not below the vocabulary "
						"size %d", tokens[i], V);
	int R = g->R, rowseq[DSV_GEN_CHUNK], rowpos[DSV_GEN_CHUNK];
	int want[DSV_GEN_CHUNK];
	int b = 0, k = 0, done = 0;
	/* Chunks of R rows, in list order (sequence by sequence). */
	while (done < (int)total) {
		int nr = 0;
		while (nr < R && done + nr < (int)total) {
			while (k >= n[b]) {
				b++;
				k = 0;
			}
			rowseq[nr] = b;
			rowpos[nr] = g->len[b] + k;
			want[nr] = k == n[b] - 1;
			k++;
			nr++;
		}
#ifdef DSV_HAVE_CUDA
		if (g->on_gpu)
			rc = gen_feed_cuda(g, tokens + done, rowseq, rowpos, nr,
					   want, logits, argmax);
		else
#endif
			rc = rows_cpu(g, tokens + done, rowseq, rowpos, nr, want,
				      logits, argmax);
		if (rc)
			return rc;
		done += nr;
	}
	for (b = 0; b < g->B; b++)
		g->len[b] += n[b];
	return 0;
}

/* ---- sampling ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void dsv_gen_rng_seed(dsv_gen_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t a = seed, b = stream ^ 0x5851f42d4c957f2dull;
	r->s = splitmix64(&a) ^ splitmix64(&b);
}

double dsv_gen_rng_uniform(dsv_gen_rng *r)
{
	return (double)(splitmix64(&r->s) >> 11) * 0x1.0p-53;
}

typedef struct {
	float v;
	int id;
} cand;

/* Higher value first, the lower id on ties: a total order, so the cut and
 * the walk below do not depend on how qsort breaks ties. */
static int cand_before(const cand *a, const cand *b)
{
	return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int cand_cmp(const void *x, const void *y)
{
	const cand *a = x, *b = y;
	return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

/* Moves the k first candidates (in cand_before order) to c[0..k), in no
 * particular order: quickselect with a median-of-three pivot. */
static void select_top(cand *c, int n, int k)
{
	int lo = 0, hi = n - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		cand a = c[lo], b = c[mid], d = c[hi], piv;
		if (cand_before(&a, &b))
			piv = cand_before(&b, &d) ? b : cand_before(&a, &d) ? d : a;
		else
			piv = cand_before(&a, &d) ? a : cand_before(&b, &d) ? d : b;
		int i = lo, j = hi;
		while (i <= j) {
			while (cand_before(&c[i], &piv))
				i++;
			while (cand_before(&piv, &c[j]))
				j--;
			if (i <= j) {
				cand t = c[i];
				c[i++] = c[j];
				c[j--] = t;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

int dsv_gen_sample(const float *logits, int V, const dsv_gen_params *p,
		   dsv_gen_rng *r, void *scratch)
{
	if (V < 1)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "no logits");
	if (p->temperature <= 0.0f)
		return argmax_row(logits, V);
	cand *c = scratch;
	int own = !c;
	if (own && !(c = malloc((size_t)V * sizeof *c)))
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	float inv_t = 1.0f / p->temperature;
	int n = V, finite = isfinite(inv_t);
	for (int i = 0; i < V; i++) {
		c[i].v = logits[i] * inv_t;
		c[i].id = i;
		finite &= isfinite(c[i].v) != 0;
	}
	if (!finite) {
		/* A tiny temperature overflowed (inf - inf below is NaN):
		 * scaled from the largest logit instead, the best get 0 and
		 * the others -large or -inf. */
		float top = -INFINITY;
		for (int i = 0; i < V; i++)
			top = logits[i] > top ? logits[i] : top;
		for (int i = 0; i < V; i++) {
			float d = logits[i] - top;
			c[i].v = d < 0 ? d * inv_t : 0.0f;
		}
	}
	if (p->top_k > 0 && p->top_k < n) {
		select_top(c, n, p->top_k);
		n = p->top_k;
	}
	float mx = -INFINITY;
	for (int i = 0; i < n; i++)
		mx = c[i].v > mx ? c[i].v : mx;
	double sum = 0.0;
	for (int i = 0; i < n; i++)
		sum += exp((double)c[i].v - mx);
	if (p->top_p > 0.0f && p->top_p < 1.0f) {
		/* the nucleus: the fewest best tokens whose mass reaches top_p */
		qsort(c, (size_t)n, sizeof *c, cand_cmp);
		double acc = 0.0, need = p->top_p * sum;
		int keep = 0;
		while (keep < n && acc < need)
			acc += exp((double)c[keep++].v - mx);
		n = keep ? keep : 1;
		sum = acc > 0 ? acc : exp((double)c[0].v - mx);
	} else if (p->top_k > 0) {
		/* a fixed walk order for the draw below */
		qsort(c, (size_t)n, sizeof *c, cand_cmp);
	}
	double u = dsv_gen_rng_uniform(r) * sum, acc = 0.0;
	int id = c[n - 1].id;
	for (int i = 0; i < n; i++) {
		acc += exp((double)c[i].v - mx);
		if (u < acc) {
			id = c[i].id;
			break;
		}
	}
	if (own)
		free(c);
	return id;
}

/* ---- the loop ---- */

int dsv_generate(dsv_gen *g, const int *prompts, const int *plen, int B,
		 const dsv_gen_params *p, const uint64_t *ids, int *out,
		 int *out_len, int *stop)
{
	int V = g->cfg.vocab_size, rc = 0, greedy = p->temperature <= 0.0f;
	int *n = NULL, *am = NULL, *next = NULL, *active = NULL;
	float *logits = NULL;
	void *scratch = NULL;
	dsv_gen_rng *rng = NULL;
	if (B < 1 || B > g->B || p->max_new < 0)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "generate: batch %d "
					"of at most %d, max_new %d", B, g->B,
					p->max_new);
	for (int b = 0; b < B; b++)
		if (plen[b] < 1 || plen[b] > g->T - 1)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "prompt %d has "
						"%d tokens (1..%d)", b, plen[b],
						g->T - 1);
	n = calloc((size_t)g->B, sizeof *n);
	am = calloc((size_t)g->B, sizeof *am);
	next = calloc((size_t)g->B, sizeof *next);
	active = calloc((size_t)g->B, sizeof *active);
	rng = calloc((size_t)B, sizeof *rng);
	if (!greedy) {
		logits = malloc((size_t)g->B * V * sizeof *logits);
		scratch = malloc((size_t)V * sizeof(cand));
	}
	if (!n || !am || !next || !active || !rng ||
	    (!greedy && (!logits || !scratch))) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
		goto out;
	}
	dsv_gen_reset(g);
	for (int b = 0; b < B; b++) {
		n[b] = plen[b];
		active[b] = p->max_new > 0;
		out_len[b] = 0;
		if (stop)
			stop[b] = DSV_GEN_STOP_LENGTH;
		dsv_gen_rng_seed(&rng[b], p->seed, ids ? ids[b] : (uint64_t)b);
	}
	/* Greedy needs only the argmax, sampling only the logits: asking for
	 * both costs the CUDA path a kernel and a copy per step. */
	if ((rc = dsv_gen_feed(g, prompts, n, logits, greedy ? am : NULL)))
		goto out;
	for (;;) {
		int nact = 0, k = 0;
		for (int b = 0; b < B; b++) {
			n[b] = 0;
			if (!active[b])
				continue;
			int t = greedy ? am[b]
				: dsv_gen_sample(logits + (size_t)b * V, V, p,
						 &rng[b], scratch);
			if (t < 0) {
				rc = t;
				goto out;
			}
			if (t == p->eot) {
				active[b] = 0;
				if (stop)
					stop[b] = DSV_GEN_STOP_EOT;
				continue;
			}
			out[(size_t)b * p->max_new + out_len[b]++] = t;
			if (out_len[b] == p->max_new) {
				active[b] = 0;
				continue;
			}
			if (g->len[b] >= g->T) {
				active[b] = 0;
				if (stop)
					stop[b] = DSV_GEN_STOP_CONTEXT;
				continue;
			}
			n[b] = 1;
			next[k++] = t;
			nact++;
		}
		if (!nact)
			break;
		if ((rc = dsv_gen_feed(g, next, n, logits, greedy ? am : NULL)))
			goto out;
	}
out:
	free(n);
	free(am);
	free(next);
	free(active);
	free(rng);
	free(logits);
	free(scratch);
	return rc;
}

double dsv_gen_flops_per_token(const dsv_gpt_config *cfg, int ctx)
{
	size_t sizes[DSV_GPT_NTENSORS];
	size_t np = dsv_gpt_param_sizes(cfg, sizes);
	return 2.0 * (double)np +
	       4.0 * cfg->num_layers * (double)cfg->channels * ctx;
}
