/* kernel_qclass.c: the fastText-style classifier: learns a synthetic
 * separable task (> 95% held-out accuracy), is deterministic for a seed,
 * handles empty and odd documents, and the CUDA inference matches the CPU
 * within atol 1e-5 + rtol 1e-4 where a device exists.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/qclass.h"
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"
#include "tests/unit/kernel_syms.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Class c documents draw 30% of their words from class-specific vocab. */
static void make_set(uint64_t *rs, size_t nd, uint8_t **text, uint64_t **off,
		     uint32_t **lab)
{
	size_t cap = nd * 400 + 16, len = 0;
	*text = malloc(cap);
	*off = malloc((nd + 1) * 8);
	*lab = malloc(nd * 4);
	(*off)[0] = 0;
	for (size_t i = 0; i < nd; i++) {
		uint32_t c = (uint32_t)(rnd(rs) % 2);
		int nw = 5 + (int)(rnd(rs) % 40);
		for (int k = 0; k < nw && len + 12 < cap; k++) {
			int topical = rnd(rs) % 10 < 3;
			len += (size_t)sprintf((char *)*text + len, "%s%c%u ",
					       topical ? (c ? "Sport" : "cook") : "w",
					       'a', (unsigned)(rnd(rs) % (topical ? 50 : 3000)));
		}
		(*off)[i + 1] = len;
		(*lab)[i] = c;
	}
}

static void test_train_and_predict(void)
{
	uint64_t seed = test_seed(), rs = seed | 1;
	uint8_t *tr, *te;
	uint64_t *otr, *ote;
	uint32_t *ltr, *lte;
	make_set(&rs, 4000, &tr, &otr, &ltr);
	make_set(&rs, 1000, &te, &ote, &lte);
	struct dsv_qclass *m = NULL, *m2 = NULL;
	struct dsv_qclass_train_opts o = {5, 0.5f, seed};
	CHECK_OK(dsv_qclass_new(&m, 1 << 18, 16, 2, seed));
	CHECK_OK(dsv_qclass_train(m, tr, otr, ltr, 4000, &o));
	float *p = malloc(1000 * 2 * sizeof *p);
	CHECK_OK(qclass_predict_cpu(m, te, ote, 1000, p, 2));
	int ok = 0;
	for (size_t i = 0; i < 1000; i++)
		ok += (p[2 * i + 1] > p[2 * i]) == (lte[i] == 1);
	printf("  result held-out accuracy %.3f\n", ok / 1000.0);
	CHECK(ok > 950);
	/* determinism */
	CHECK_OK(dsv_qclass_new(&m2, 1 << 18, 16, 2, seed));
	CHECK_OK(dsv_qclass_train(m2, tr, otr, ltr, 4000, &o));
	CHECK(!memcmp(m->w, m2->w, dsv_qclass_nweights(&m->h) * sizeof(float)));
	/* edge cases: empty, one word, non-ASCII, whitespace only */
	const char *odd = "one\xe6\x97\xa5\xe6\x9c\xac \t\n";
	uint64_t eo[5] = {0, 0, 3, 9, 12};
	float q[8];
	CHECK_OK(qclass_predict_cpu(m, (const uint8_t *)odd, eo, 4, q, 1));
	CHECK(fabsf(q[0] - 0.5f) < 1e-6f && fabsf(q[6] - 0.5f) < 1e-6f);
	for (int i = 0; i < 8; i++)
		CHECK(q[i] >= 0 && q[i] <= 1);
	uint32_t bad = 7;
	CHECK(dsv_qclass_train(m, (const uint8_t *)"x", eo, &bad, 1, &o) ==
	      DSV_KERNEL_EINVAL);

	if (dsv_device_count() > 0) {
		float *g = malloc(1000 * 2 * sizeof *g);
		CHECK_OK(qclass_predict_cuda(m, te, ote, 1000, g));
		int badn = 0;
		for (size_t i = 0; i < 2000; i++)
			if (fabsf(p[i] - g[i]) > 1e-5f + 1e-4f * fabsf(p[i]) &&
			    badn++ < 5)
				printf("  prob %zu: cpu %.8g cuda %.8g\n", i, p[i], g[i]);
		CHECK(badn == 0);
		free(g);
	} else {
		SKIP(test_qclass_cuda, "no CUDA device");
	}
	free(p);
	dsv_qclass_free(m);
	dsv_qclass_free(m2);
	free(tr), free(otr), free(ltr), free(te), free(ote), free(lte);
}

/* Both paths reject the same inputs, GPU or not: a model without buckets
 * (qc_forward would take a row modulo 0) and decreasing offsets. */
/* A build without CUDA has no entry point to check its inputs: its stub
 * answers that there is no GPU. */
#ifdef DSV_HAVE_CUDA
#define CUDA_REJECTS DSV_KERNEL_EINVAL
#else
#define CUDA_REJECTS DSV_KERNEL_ENOGPU
#endif

static void test_bad_inputs(void)
{
	struct dsv_qclass *m = NULL;
	uint64_t off[3] = {0, 3, 7}, back[3] = {0, 5, 3};
	float p[4];
	CHECK_OK(dsv_qclass_new(&m, 16, 4, 2, 1));
	if (!m)
		return;
	CHECK_OK(qclass_predict_cpu(m, (const uint8_t *)"abc defg", off, 2, p, 1));
	CHECK(qclass_predict_cpu(m, (const uint8_t *)"abc defg", back, 2, p, 1) ==
	      DSV_KERNEL_EINVAL);
	CHECK(qclass_predict_cuda(m, (const uint8_t *)"abc defg", back, 2, p) ==
	      CUDA_REJECTS);
	m->h.nbuckets = 0;
	CHECK(qclass_predict_cpu(m, (const uint8_t *)"abc defg", off, 2, p, 1) ==
	      DSV_KERNEL_EINVAL);
	CHECK(qclass_predict_cuda(m, (const uint8_t *)"abc defg", off, 2, p) ==
	      CUDA_REJECTS);
	dsv_qclass_free(m);
}

/* The entry points cuda_shim.c forwards are in libdsvcuda.so under their C
 * names (kernel_syms.h); runs without a GPU. */
static void test_qclass_cuda_symbols(void)
{
	CHECK_CUDA_SYMBOLS("qclass_predict_cuda");
}

int main(void)
{
	RUN(test_train_and_predict);
	RUN(test_bad_inputs);
	RUN(test_qclass_cuda_symbols);
	TEST_EXIT();
}
