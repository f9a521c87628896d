/* kernel_gpt.c: tests of the GPT-2 training kernels (kernels/gpt.h): the CPU
 * reference against finite differences, AdamW training behaviour, bitwise
 * determinism, per-token losses, and the CUDA twin against the CPU reference
 * (skipped, saying so, where no CUDA device exists).
 */
#include "kernels/device.h"
#include "kernels/gpt.h"
/* test.h's CHECK_OK prints the last error; kernels keep their own. */
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"
#include "tests/unit/rnd.h"

#include <math.h>

static unsigned long seed;

/* The tiny grad-check config: V=61 padded to 64, C=16, L=2, NH=2. */
static const dsv_gpt_config tiny = {
	.max_seq_len = 8, .vocab_size = 61, .padded_vocab_size = 64,
	.num_layers = 2, .num_heads = 2, .channels = 16,
};

static void random_batch(int *inp, int *tgt, int n, int V)
{
	for (int i = 0; i < n; i++) {
		inp[i] = rnd() % V;
		tgt[i] = rnd() % V;
	}
}

/* A and B of a product in [-0.5, 0.5), C in [0, 1). */
static void random_operands(float *A, int na, float *B, int nb, float *C, int nc)
{
	for (int i = 0; i < na; i++)
		A[i] = urand() - 0.5f;
	for (int i = 0; i < nb; i++)
		B[i] = urand() - 0.5f;
	for (int i = 0; i < nc; i++)
		C[i] = urand();
}

/* The largest |a[i] - b[i]| over n, relative to |b[i]| with rel. */
static double max_diff(const float *a, const float *b, int n, int rel)
{
	double worst = 0;
	for (int i = 0; i < n; i++)
		worst = fmax(worst, fabs(a[i] - b[i]) / (rel ? fabs(b[i]) : 1.0));
	return worst;
}

static void test_sgemm(void)
{
	int M = 70, N = 300, K = 270;
	float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
	float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			random_operands(A, M * K, B, K * N, C1, M * N);
			memcpy(C2, C1, sizeof(float) * M * N);
			int lda = ta ? M : K, ldb = tb ? K : N;
			dsv_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, C1, N);
			dsv_sgemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, C2, N);
			CHECK(max_diff(C1, C2, M * N, 0) < 1e-4);
		}
	/* against a double-precision product from a zero start */
	for (int i = 0; i < M * N; i++)
		C2[i] = 7.0f;
	dsv_sgemm_ref(1, 1, M, N, K, 1.0f, A, M, B, K, 0.0f, C2, N);
	double worst = 0;
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int k = 0; k < K; k++)
				s += (double)A[k * M + i] * B[j * K + k];
			if (fabs(s - C2[i * N + j]) > worst)
				worst = fabs(s - C2[i * N + j]);
		}
	CHECK(worst < 1e-4);
	free(A); free(B); free(C1); free(C2);
}

/* dsv_sgemm splits C over the threads by rows (tall C) or columns (wide
 * C): both splits, every transpose, bitwise the same twice and close to
 * the reference. */
static void test_sgemm_split(void)
{
	int shapes[2][3] = {{301, 45, 200}, {45, 301, 200}};
	for (int s = 0; s < 2; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
		float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
		float *C3 = malloc(sizeof(float) * M * N);
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				random_operands(A, M * K, B, K * N, C1, M * N);
				memcpy(C2, C1, sizeof(float) * M * N);
				memcpy(C3, C1, sizeof(float) * M * N);
				int lda = ta ? M : K, ldb = tb ? K : N;
				dsv_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.5f, C1, N);
				dsv_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.5f, C3, N);
				dsv_sgemm_ref(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.5f, C2, N);
				CHECK(max_diff(C1, C2, M * N, 0) < 1e-4);
				CHECK(memcmp(C1, C3, sizeof(float) * M * N) == 0);
			}
		free(A); free(B); free(C1); free(C2); free(C3);
	}
}

/* A CPU model of cfg for B x T batches, initialised from the seed; NULL
 * (a failed check) if it cannot be made. */
static dsv_gpt *cpu_model(const dsv_gpt_config *cfg, int B, int T)
{
	dsv_gpt *m = NULL;
	CHECK_OK(dsv_gpt_new(&m, cfg, B, T, DSV_GPT_CPU));
	if (m)
		CHECK_OK(dsv_gpt_init(m, seed));
	return m;
}

static float loss_at(dsv_gpt *m, const int *inp, const int *tgt, int B, int T)
{
	dsv_gpt_forward(m, inp, tgt, B, T);
	return m->mean_loss;
}

/* Central differences, eps 1e-2 on fp32, for up to 24 sampled elements of
 * every tensor; the parameters are first spread by U(-0.3, 0.3) so that all
 * gradients are well above fp32 rounding. Per tensor, the relative error
 * |fd - an| / max(|fd|, |an|) in L2 over the samples must be < 1e-2. */
static void gradcheck(const dsv_gpt_config *cfg, int B, int T)
{
	dsv_gpt *m = cpu_model(cfg, B, T);
	if (!m)
		return;
	for (size_t i = 0; i < m->offsets[DSV_GPT_WTE] + (size_t)61 * 16; i++)
		m->params[i] += 0.6f * urand() - 0.3f;
	for (size_t i = m->offsets[DSV_GPT_WPE]; i < m->num_params; i++)
		m->params[i] += 0.6f * urand() - 0.3f;
	int *inp = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
	random_batch(inp, tgt, B * T, 61);
	tgt[5] = -1; /* an ignored target */
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, B, T));
	dsv_gpt_zero_grad(m);
	CHECK_OK(dsv_gpt_backward(m, 1.0f));
	float *g = malloc(m->num_params * sizeof(float));
	dsv_gpt_get_grads(m, g);
	const float eps = 1e-2f;
	double worst = 0;
	for (int t = 0; t < DSV_GPT_NTENSORS; t++) {
		size_t n = t == DSV_GPT_WTE ? (size_t)61 * 16 : m->sizes[t];
		double num = 0, den_fd = 0, den_an = 0;
		for (int s = 0; s < 24; s++) {
			size_t i = m->offsets[t] + (n <= 24 ? (size_t)s % n : rnd() % n);
			float keep = m->params[i];
			m->params[i] = keep + eps;
			double lp = loss_at(m, inp, tgt, B, T);
			m->params[i] = keep - eps;
			double lm = loss_at(m, inp, tgt, B, T);
			m->params[i] = keep;
			double fd = (lp - lm) / (2 * eps);
			num += (fd - g[i]) * (fd - g[i]);
			den_fd += fd * fd;
			den_an += (double)g[i] * g[i];
		}
		double den = sqrt(den_fd > den_an ? den_fd : den_an);
		double rel = den > 0 ? sqrt(num) / den : sqrt(num);
		if (rel > worst)
			worst = rel;
		printf("  result gradcheck %-24s rel err %.2e (|g| %.2e)\n",
		       dsv_gpt_tensor_name(t), rel, sqrt(den_an));
		CHECK(rel < 1e-2);
	}
	printf("  result gradcheck worst rel err %.2e (tolerance 1e-2)\n", worst);
	/* padding rows of wte get no gradient */
	for (size_t i = (size_t)61 * 16; i < m->sizes[DSV_GPT_WTE]; i++)
		CHECK(g[m->offsets[DSV_GPT_WTE] + i] == 0.0f);
	free(g);
	free(inp);
	free(tgt);
	dsv_gpt_free(m);
}

static void test_gradcheck(void)
{
	gradcheck(&tiny, 2, 8);
}

/* T = 80: attention in row blocks of 32, 32 and 16 (gpt_cpu.c ATT_ROWS). */
static const dsv_gpt_config tiny_long = {
	.max_seq_len = 80, .vocab_size = 61, .padded_vocab_size = 64,
	.num_layers = 1, .num_heads = 2, .channels = 16,
};

static void test_gradcheck_long(void)
{
	gradcheck(&tiny_long, 1, 80);
}

/* Causal: the per-token losses of a prefix are those of the full sequence
 * (a prefix of 20 tokens is one attention row block, 50 two, 80 three), and
 * changing the last token changes no earlier loss. */
static void test_causal(void)
{
	enum { T = 80 };
	dsv_gpt *m = cpu_model(&tiny_long, 1, T);
	if (!m)
		return;
	for (size_t i = m->offsets[DSV_GPT_WPE]; i < m->num_params; i++)
		m->params[i] += 0.6f * urand() - 0.3f;
	int inp[T], tgt[T];
	float full[T], part[T];
	random_batch(inp, tgt, T, 61);
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, 1, T));
	CHECK_OK(dsv_gpt_get_losses(m, full));
	int lens[] = {20, 50};
	for (int k = 0; k < 2; k++) {
		CHECK_OK(dsv_gpt_forward(m, inp, tgt, 1, lens[k]));
		CHECK_OK(dsv_gpt_get_losses(m, part));
		CHECK(max_diff(part, full, lens[k], 1) < 1e-5);
	}
	inp[T - 1] = (inp[T - 1] + 1) % 61;
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, 1, T));
	CHECK_OK(dsv_gpt_get_losses(m, part));
	CHECK(max_diff(part, full, T - 1, 1) < 1e-5);
	CHECK(part[T - 1] != full[T - 1]);
	dsv_gpt_free(m);
}

static const dsv_gpt_adamw adam = {
	.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
	.weight_decay = 0.0f, .grad_clip = 1.0f,
};

static float train(dsv_gpt *m, const int *inp, const int *tgt, int B, int T,
		   int steps, const dsv_gpt_adamw *o, float *first)
{
	for (int s = 1; s <= steps; s++) {
		CHECK_OK(dsv_gpt_forward(m, inp, tgt, B, T));
		if (s == 1 && first)
			*first = m->mean_loss;
		dsv_gpt_zero_grad(m);
		CHECK_OK(dsv_gpt_backward(m, 1.0f));
		CHECK_OK(dsv_gpt_update(m, o, s, NULL));
	}
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, B, T));
	return m->mean_loss;
}

/* 10 AdamW steps lower the loss from about ln(61); 150 steps on one fixed
 * batch overfit it below 0.1. */
static void test_adamw_overfit(void)
{
	enum { B = 2, T = 8 };
	dsv_gpt_config c = tiny;
	c.channels = 32;
	dsv_gpt *m = cpu_model(&c, B, T);
	if (!m)
		return;
	int inp[B * T], tgt[B * T];
	random_batch(inp, tgt, B * T, 61);
	float first = 0, l10 = train(m, inp, tgt, B, T, 10, &adam, &first);
	CHECK(fabsf(first - logf(61.0f)) < 0.3f);
	CHECK(l10 < first - 0.5f);
	int steps = 10;
	float l = l10;
	while (l >= 0.1f && steps < 300) {
		dsv_gpt_adamw o = adam;
		for (int s = 0; s < 10; s++, steps++) {
			dsv_gpt_forward(m, inp, tgt, B, T);
			dsv_gpt_zero_grad(m);
			dsv_gpt_backward(m, 1.0f);
			dsv_gpt_update(m, &o, steps + 1, NULL);
		}
		dsv_gpt_forward(m, inp, tgt, B, T);
		l = m->mean_loss;
	}
	printf("  result overfit: loss %.3f -> %.3f (10 steps) -> %.4f (%d steps)\n",
	       first, l10, l, steps);
	CHECK(l < 0.1f);
	dsv_gpt_free(m);
}

/* Decoupled weight decay with zero gradients: 2-D weights shrink by exactly
 * the factor (1 - lr*wd), biases and LayerNorm gains stay. */
static void test_weight_decay(void)
{
	dsv_gpt *m = cpu_model(&tiny, 1, 8);
	if (!m)
		return;
	for (size_t i = 0; i < m->num_params; i++)
		m->params[i] = 1.0f;
	dsv_gpt_zero_grad(m);
	dsv_gpt_adamw o = adam;
	o.weight_decay = 0.5f;
	CHECK_OK(dsv_gpt_update(m, &o, 1, NULL));
	for (int t = 0; t < DSV_GPT_NTENSORS; t++) {
		float want = dsv_gpt_tensor_decayed(t) ? 1.0f - o.lr * o.weight_decay : 1.0f;
		CHECK(fabsf(m->params[m->offsets[t]] - want) < 1e-7f);
		CHECK(fabsf(m->params[m->offsets[t] + m->sizes[t] - 1] - want) < 1e-7f);
	}
	dsv_gpt_free(m);
}

/* Same seed and batches, twice: bit-identical parameters after 8 steps with
 * weight decay and clipping on (OpenMP with its default thread count). */
static void test_deterministic(void)
{
	enum { B = 4, T = 16 };
	dsv_gpt_config c = { .max_seq_len = 16, .vocab_size = 100,
		.padded_vocab_size = 128, .num_layers = 2, .num_heads = 4,
		.channels = 64 };
	int inp[B * T], tgt[B * T];
	random_batch(inp, tgt, B * T, 100);
	float *p[2] = { NULL, NULL };
	dsv_gpt_adamw o = adam;
	o.weight_decay = 0.1f;
	o.grad_clip = 0.5f;
	for (int run = 0; run < 2; run++) {
		dsv_gpt *m = cpu_model(&c, B, T);
		if (!m)
			return;
		train(m, inp, tgt, B, T, 8, &o, NULL);
		p[run] = malloc(m->num_params * sizeof(float));
		dsv_gpt_get_params(m, p[run]);
		if (run)
			CHECK(memcmp(p[0], p[1], m->num_params * sizeof(float)) == 0);
		dsv_gpt_free(m);
	}
	free(p[0]);
	free(p[1]);
}

/* The per-token losses average to mean_loss over the counted targets, are 0
 * for ignored ones, and equal -log softmax(logits)[target] computed here in
 * double from the returned logits. */
static void test_per_token_loss(void)
{
	enum { B = 2, T = 8, V = 61 };
	dsv_gpt *m = cpu_model(&tiny, B, T);
	if (!m)
		return;
	int inp[B * T], tgt[B * T];
	random_batch(inp, tgt, B * T, V);
	tgt[0] = tgt[9] = tgt[15] = -1;
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, B, T));
	float losses[B * T], *logits = malloc(sizeof(float) * B * T * V);
	dsv_gpt_get_losses(m, losses);
	dsv_gpt_get_logits(m, logits);
	double sum = 0;
	int n = 0;
	for (int r = 0; r < B * T; r++) {
		if (tgt[r] < 0) {
			CHECK(losses[r] == 0.0f);
			continue;
		}
		double mx = -1e30, s = 0;
		for (int i = 0; i < V; i++)
			mx = fmax(mx, logits[r * V + i]);
		for (int i = 0; i < V; i++)
			s += exp(logits[r * V + i] - mx);
		double want = mx + log(s) - logits[r * V + tgt[r]];
		CHECK(fabs(want - losses[r]) < 1e-5 * (1 + want));
		sum += losses[r];
		n++;
	}
	CHECK(fabs(sum / n - m->mean_loss) < 1e-6);
	/* without targets: logits only, no loss, and no backward */
	CHECK_OK(dsv_gpt_forward(m, inp, NULL, B, T));
	CHECK(m->mean_loss < 0);
	CHECK(dsv_gpt_backward(m, 1.0f) == DSV_GPT_EINVAL);
	free(logits);
	dsv_gpt_free(m);
}

/* A diverged model (NaN weights) gives a NaN loss, which train's
 * divergence check reads, through defined arithmetic (vexpf of NaN). */
static void test_nan_weights(void)
{
	dsv_gpt *m = NULL;
	CHECK_OK(dsv_gpt_new(&m, &tiny, 1, 8, DSV_GPT_CPU));
	if (!m)
		return;
	float *p = malloc(m->num_params * sizeof *p);
	for (size_t i = 0; i < m->num_params; i++)
		p[i] = NAN;
	CHECK_OK(dsv_gpt_set_params(m, p));
	int inp[8] = {0, 1, 2, 3, 4, 5, 6, 7}, tgt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	CHECK_OK(dsv_gpt_forward(m, inp, tgt, 1, 8));
	CHECK(isnan(m->mean_loss));
	free(p);
	dsv_gpt_free(m);
}

static void test_bad_input(void)
{
	dsv_gpt *m = NULL;
	dsv_gpt_config c = tiny;
	c.channels = 15; /* not a multiple of the heads */
	CHECK(dsv_gpt_new(&m, &c, 1, 8, DSV_GPT_CPU) == DSV_GPT_EINVAL && !m);
	CHECK(dsv_gpt_new(&m, &tiny, 1, 9, DSV_GPT_CPU) == DSV_GPT_EINVAL && !m);
	CHECK_OK(dsv_gpt_new(&m, &tiny, 1, 8, DSV_GPT_CPU));
	if (!m)
		return;
	int inp[8] = {0, 1, 2, 3, 4, 5, 6, 61}, tgt[8] = {0};
	CHECK(dsv_gpt_forward(m, inp, tgt, 1, 8) == DSV_GPT_EINVAL);
	inp[7] = 0;
	tgt[3] = -2;
	CHECK(dsv_gpt_forward(m, inp, tgt, 1, 8) == DSV_GPT_EINVAL);
	CHECK(dsv_gpt_forward(m, inp, NULL, 2, 8) == DSV_GPT_EINVAL);
	dsv_gpt_free(m);
}

#ifdef DSV_HAVE_CUDA
/* |ref - x| <= atol + rtol*|ref| elementwise; prints the first mismatches. */
static int close_enough(const char *what, const float *ref, const float *x,
			size_t n, float atol, float rtol)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		if (!(fabsf(ref[i] - x[i]) <= atol + rtol * fabsf(ref[i]))) {
			if (bad < 5)
				printf("  %s[%zu]: cpu %.6g gpu %.6g\n", what, i, ref[i], x[i]);
			bad++;
		}
	if (bad)
		printf("  %s: %d of %zu outside atol %.1e rtol %.1e\n", what, bad, n, atol, rtol);
	return bad;
}

/* Every gradient tensor of the two models: L2 relative error < 3e-2 and
 * elementwise atol 2e-2*max|g|, rtol 5e-2. */
static void compare_grads(dsv_gpt *cm, dsv_gpt *gm)
{
	size_t np = cm->num_params;
	float *g1 = malloc(np * 4), *g2 = malloc(np * 4);
	CHECK_OK(dsv_gpt_get_grads(cm, g1));
	CHECK_OK(dsv_gpt_get_grads(gm, g2));
	for (int t = 0; t < DSV_GPT_NTENSORS; t++) {
		const float *a = g1 + cm->offsets[t], *b = g2 + cm->offsets[t];
		double num = 0, den = 0, mx = 0;
		for (size_t i = 0; i < cm->sizes[t]; i++) {
			num += (double)(a[i] - b[i]) * (a[i] - b[i]);
			den += (double)a[i] * a[i];
			mx = fmax(mx, fabsf(a[i]));
		}
		double rel = den > 0 ? sqrt(num / den) : sqrt(num);
		printf("  result grad %-24s gpu/cpu rel err %.2e\n", dsv_gpt_tensor_name(t), rel);
		CHECK(rel < 3e-2);
		CHECK(close_enough(dsv_gpt_tensor_name(t), a, b, cm->sizes[t],
				   (float)(2e-2 * mx), 5e-2f) == 0);
	}
	free(g1);
	free(g2);
}

/* The parameters after an AdamW step of rate lr. bf16 matmuls leave the
 * gradients, and so the first moments m, about 0.5% apart over each tensor,
 * but an element's m near zero can be far apart in relative terms, and the
 * step lr * m/sqrt(v) moves with m's relative error e. So each parameter
 * must be within 1e-5 + 1e-3*|p| + lr * min(2, 0.02 + 3e): at step 1
 * (m/sqrt(v) = sign(g)) that lets 0.3-2% of the elements in this test's
 * models move the other way, as measured under the CUDA emulation
 * (tests/emu). */
static void compare_params(dsv_gpt *cm, dsv_gpt *gm, float lr)
{
	size_t np = cm->num_params, loose = 0, bad = 0;
	float *p1 = malloc(np * 4), *p2 = malloc(np * 4);
	float *m1 = malloc(np * 4), *m2 = malloc(np * 4), *v = malloc(np * 4);
	if (!p1 || !p2 || !m1 || !m2 || !v) {
		CHECK(!"out of memory");
		goto done;
	}
	CHECK_OK(dsv_gpt_get_params(cm, p1));
	CHECK_OK(dsv_gpt_get_params(gm, p2));
	CHECK_OK(dsv_gpt_get_moments(cm, m1, v));
	CHECK_OK(dsv_gpt_get_moments(gm, m2, v));
	for (size_t i = 0; i < np; i++) {
		float d = fabsf(p1[i] - p2[i]), mm = fmaxf(fabsf(m1[i]), fabsf(m2[i]));
		float e = mm > 0 ? fabsf(m1[i] - m2[i]) / mm : 0.0f;
		if (d <= 1e-5f + 1e-3f * fabsf(p1[i]) + 0.02f * lr)
			continue;
		if (d <= 1e-5f + 1e-3f * fabsf(p1[i]) + lr * fminf(2.0f, 0.02f + 3.0f * e))
			loose++;
		else if (bad++ < 5)
			printf("  param[%zu]: cpu %.6g gpu %.6g (moments %.3g %.3g)\n",
			       i, p1[i], p2[i], m1[i], m2[i]);
	}
	printf("  result adamw: %zu of %zu params (%.2f%%) apart by their moments' "
	       "relative error\n", loose, np, 100.0 * loose / np);
	CHECK(bad == 0);
done:
	free(p1);
	free(p2);
	free(m1);
	free(m2);
	free(v);
}

/* Gives the GPU model the CPU model's parameters and moments, so that the
 * next step of the two starts from one state. */
static void sync_state(dsv_gpt *cm, dsv_gpt *gm)
{
	size_t np = cm->num_params;
	float *p = malloc(np * 4), *m = malloc(np * 4), *v = malloc(np * 4);
	if (p && m && v) {
		CHECK_OK(dsv_gpt_get_params(cm, p));
		CHECK_OK(dsv_gpt_get_moments(cm, m, v));
		CHECK_OK(dsv_gpt_set_params(gm, p));
		CHECK_OK(dsv_gpt_set_moments(gm, m, v));
	} else
		CHECK(!"out of memory");
	free(p);
	free(m);
	free(v);
}

static const dsv_gpt_config gpu_cfg = {
	.max_seq_len = 32, .vocab_size = 200, .padded_vocab_size = 256,
	.num_layers = 2, .num_heads = 4, .channels = 64,
};

/* The CUDA twin against the CPU reference on one random B x T batch: logits
 * (atol 2e-2, rtol 2e-2: bf16 matmuls), loss (1e-2), every gradient tensor
 * (compare_grads), and the parameters after one AdamW step
 * (compare_params). */
static void gpu_vs_cpu(const dsv_gpt_config *cfg, int B, int T)
{
	dsv_gpt *cm = NULL, *gm = NULL;
	size_t nl = (size_t)B * T * 200;
	int *inp = malloc((size_t)B * T * sizeof *inp);
	int *tgt = malloc((size_t)B * T * sizeof *tgt);
	float *l1 = malloc(nl * 4), *l2 = malloc(nl * 4);
	CHECK_OK(dsv_gpt_new(&cm, cfg, B, T, DSV_GPT_CPU));
	CHECK_OK(dsv_gpt_new(&gm, cfg, B, T, DSV_GPT_CUDA));
	if (!cm || !gm || !inp || !tgt || !l1 || !l2)
		goto done;
	CHECK_OK(dsv_gpt_init(cm, seed));
	CHECK_OK(dsv_gpt_init(gm, seed));
	random_batch(inp, tgt, B * T, 200);
	tgt[7] = -1;
	CHECK_OK(dsv_gpt_forward(cm, inp, tgt, B, T));
	CHECK_OK(dsv_gpt_forward(gm, inp, tgt, B, T));
	dsv_gpt_get_logits(cm, l1);
	dsv_gpt_get_logits(gm, l2);
	CHECK(close_enough("logits", l1, l2, nl, 2e-2f, 2e-2f) == 0);
	printf("  result loss cpu %.6f gpu %.6f\n", cm->mean_loss, gm->mean_loss);
	CHECK(fabsf(cm->mean_loss - gm->mean_loss) < 1e-2f);
	dsv_gpt_get_losses(cm, l1);
	dsv_gpt_get_losses(gm, l2);
	CHECK(close_enough("losses", l1, l2, (size_t)B * T, 2e-2f, 1e-2f) == 0);
	dsv_gpt_zero_grad(cm);
	dsv_gpt_zero_grad(gm);
	CHECK_OK(dsv_gpt_backward(cm, 1.0f));
	CHECK_OK(dsv_gpt_backward(gm, 1.0f));
	compare_grads(cm, gm);
	CHECK_OK(dsv_gpt_update(cm, &adam, 1, NULL));
	CHECK_OK(dsv_gpt_update(gm, &adam, 1, NULL));
	compare_params(cm, gm, adam.lr);
done:
	free(l1);
	free(l2);
	free(inp);
	free(tgt);
	dsv_gpt_free(cm);
	dsv_gpt_free(gm);
}

/* head size 16: flash attention, one tile */
static void test_gpu_vs_cpu(void)
{
	gpu_vs_cpu(&gpu_cfg, 4, 32);
}

/* head size 64 (GPT-2's) over three query tiles, the last one partial */
static void test_gpu_vs_cpu_flash_tiles(void)
{
	dsv_gpt_config c = gpu_cfg;
	c.num_heads = 1;
	c.max_seq_len = 160;
	gpu_vs_cpu(&c, 2, 150);
}

/* head size 12, which flash attention is not built for: the cuBLAS path */
static void test_gpu_vs_cpu_cublas_attention(void)
{
	dsv_gpt_config c = gpu_cfg;
	c.channels = 48;
	gpu_vs_cpu(&c, 4, 32);
}

/* What train does and test_gpu_vs_cpu does not: batches smaller than the
 * buffers (3 x 20 in a 4 x 32 model), gradients accumulated over two
 * micro-steps at scale 1/2, weight decay, and an update whose global norm
 * clipping is active (grad_clip far below the norm) and whose norm the
 * caller reads; then a second step on top of the first, with the moments
 * of the first (both models start it from the CPU's state, so that the
 * first step's sign flips do not compound). */
static void test_gpu_accum_vs_cpu(void)
{
	enum { B = 4, T = 32, b = 3, t = 20 };
	const dsv_gpt_adamw o = { .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f,
		.eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 0.05f };
	dsv_gpt *cm = NULL, *gm = NULL;
	CHECK_OK(dsv_gpt_new(&cm, &gpu_cfg, B, T, DSV_GPT_CPU));
	CHECK_OK(dsv_gpt_new(&gm, &gpu_cfg, B, T, DSV_GPT_CUDA));
	if (!cm || !gm)
		goto done;
	CHECK_OK(dsv_gpt_init(cm, seed + 1));
	CHECK_OK(dsv_gpt_init(gm, seed + 1));
	int inp[2][b * t], tgt[2][b * t];
	for (int step = 1; step <= 2; step++) {
		dsv_gpt_zero_grad(cm);
		dsv_gpt_zero_grad(gm);
		for (int k = 0; k < 2; k++) {
			random_batch(inp[k], tgt[k], b * t, 200);
			tgt[k][5 + k] = -1;
			CHECK_OK(dsv_gpt_forward(cm, inp[k], tgt[k], b, t));
			CHECK_OK(dsv_gpt_forward(gm, inp[k], tgt[k], b, t));
			CHECK(fabsf(cm->mean_loss - gm->mean_loss) < 1e-2f);
			CHECK_OK(dsv_gpt_backward(cm, 0.5f));
			CHECK_OK(dsv_gpt_backward(gm, 0.5f));
		}
		compare_grads(cm, gm);
		float n1 = 0, n2 = 0;
		CHECK_OK(dsv_gpt_update(cm, &o, step, &n1));
		CHECK_OK(dsv_gpt_update(gm, &o, step, &n2));
		printf("  result step %d grad norm cpu %.6f gpu %.6f\n", step, n1, n2);
		CHECK(n1 > o.grad_clip && fabsf(n1 - n2) <= 2e-2f * n1);
		compare_params(cm, gm, o.lr);
		sync_state(cm, gm);
	}
done:
	dsv_gpt_free(cm);
	dsv_gpt_free(gm);
}
#endif

int main(void)
{
	seed = test_seed();
	rng_state = seed;
	RUN(test_sgemm);
	RUN(test_sgemm_split);
	RUN(test_gradcheck_long);
	RUN(test_causal);
	RUN(test_gradcheck);
	RUN(test_adamw_overfit);
	RUN(test_weight_decay);
	RUN(test_deterministic);
	RUN(test_per_token_loss);
	RUN(test_nan_weights);
	RUN(test_bad_input);
#ifdef DSV_HAVE_CUDA
	if (dsv_device_count() > 0) {
		RUN(test_gpu_vs_cpu);
		RUN(test_gpu_vs_cpu_flash_tiles);
		RUN(test_gpu_vs_cpu_cublas_attention);
		RUN(test_gpu_accum_vs_cpu);
	} else
#endif
	{
		SKIP(test_gpu_vs_cpu, "no CUDA device");
		SKIP(test_gpu_vs_cpu_flash_tiles, "no CUDA device");
		SKIP(test_gpu_vs_cpu_cublas_attention, "no CUDA device");
		SKIP(test_gpu_accum_vs_cpu, "no CUDA device");
	}
	TEST_EXIT();
}
