/* kernel_minhash.c: tests of the MinHash kernel: the hash and normaliser
 * against known values, edge cases, near-duplicate recall, clustering, thread
 * independence, and the CUDA twin against the CPU reference (byte-identical)
 * where a device exists. Links only libdsvkernels.a.
 *
 * The recall check on ../shared/fixtures/neardup (gzip JSONL) needs zlib and
 * a JSON reader, so it belongs to the dedup integration test, not here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "kernels/device.h"
#include "kernels/minhash.h"
#include "kernels/minhash_impl.h"
/* test.h's CHECK_OK prints the last error; kernels keep their own. */
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"
#include "tests/unit/kernel_syms.h"

static const struct dsv_minhash_params P = DSV_MINHASH_DEFAULTS;
#define NPERM 112

/* A batch builder: documents appended to one buffer with offsets. */
struct batch {
	uint8_t *text;
	uint64_t *off;
	size_t n, len, cap, ncap;
};

static void batch_add(struct batch *b, const char *s, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->text = realloc(b->text, b->cap);
	}
	if (b->n + 2 > b->ncap) {
		b->ncap = b->ncap * 2 + 16;
		b->off = realloc(b->off, b->ncap * sizeof *b->off);
	}
	if (b->n == 0)
		b->off[0] = 0;
	if (len)
		memcpy(b->text + b->len, s, len);
	b->len += len;
	b->off[++b->n] = b->len;
}

static void batch_adds(struct batch *b, const char *s)
{
	batch_add(b, s, strlen(s));
}

static void batch_free(struct batch *b)
{
	free(b->text);
	free(b->off);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random "word" from a vocabulary of v words, deterministic per index. */
static void word_of(char *w, uint64_t idx)
{
	uint64_t s = idx * 0x9E3779B97F4A7C15ULL + 12345;
	int len = 2 + (int)(rng_next(&s) % 8);
	for (int i = 0; i < len; i++)
		w[i] = 'a' + (char)(rng_next(&s) % 26);
	w[len] = 0;
}

/* A random document of nw words; with a non-NULL base, a copy of base whose
 * words are each replaced with probability pct/100. */
static char *random_doc(uint64_t *rs, int nw, const uint64_t *base, int pct,
			uint64_t *ids)
{
	char *d = malloc((size_t)nw * 12 + 1), w[16];
	size_t o = 0;
	for (int i = 0; i < nw; i++) {
		uint64_t id = base ? base[i] : rng_next(rs) % 20000;
		if (base && (int)(rng_next(rs) % 100) < pct)
			id = rng_next(rs) % 20000;
		if (ids)
			ids[i] = id;
		word_of(w, id);
		o += (size_t)sprintf(d + o, i ? " %s" : "%s", w);
	}
	d[o] = 0;
	return d;
}

static int shares_band(const uint64_t *bands, size_t x, size_t y)
{
	for (uint32_t j = 0; j < P.nbands; j++)
		if (bands[x * P.nbands + j] &&
		    bands[x * P.nbands + j] == bands[y * P.nbands + j])
			return 1;
	return 0;
}

static void test_xxh64_vectors(void)
{
	CHECK(dsv_xxh64((const uint8_t *)"", 0, 0) == 0xEF46DB3751D8E999ULL);
	CHECK(dsv_xxh64((const uint8_t *)"a", 1, 0) == 0xD24EC4F1A98C6E5BULL);
	CHECK(dsv_xxh64((const uint8_t *)"abc", 3, 0) == 0x44BC2CF5AD770999ULL);
	const char *s = "Nobody inspects the spammish repetition";
	CHECK(dsv_xxh64((const uint8_t *)s, strlen(s), 0) ==
	      0xFBCEA83C8A378BF1ULL);
}

static void test_perm_exact(void)
{
	uint64_t s = 7;
	for (int i = 0; i < 100000; i++) {
		uint64_t a = (rng_next(&s) % (MH_PRIME - 1)) + 1;
		uint64_t b = rng_next(&s) % MH_PRIME;
		uint64_t x = mh_mod61(rng_next(&s));
		unsigned __int128 want = ((unsigned __int128)a * x + b) % MH_PRIME;
		CHECK(mh_perm(x, a, b) == (uint64_t)want);
	}
	CHECK(mh_mod61(MH_PRIME) == 0 && mh_mod61(UINT64_MAX) == 7);
}

/* The permutation family a*h+b mod 2^64 must estimate Jaccard as well as
 * ideal MinHash: over random shingle-hash sets with a planted Jaccard J, the
 * fraction of equal minima averages J with the binomial spread
 * sqrt(J(1-J)/112). Checked against the exact (a*x+b) mod 2^61-1 family
 * on the same sets, with random hashes and with sequential word hashes
 * through mh_shingle (linear families alone are biased on arithmetic
 * progressions; the shingle hash's avalanche is what removes that). */
static void test_family_quality(void)
{
	uint64_t rs = test_seed() | 1, a[NPERM], b[NPERM];
	CHECK_OK(dsv_minhash_coeffs(&P, a, b));
	for (int k = 0; k < NPERM; k++)
		CHECK(a[k] & 1);
	enum { NSET = 300, INTER = 200 };
	const double js[] = {0.2, 0.5, 0.8};
	for (int structured = 0; structured < 2; structured++)
		for (int t = 0; t < 3; t++) {
			/* |A and B| = INTER, each side adds d more: J = I/(I+2d) */
			int d = (int)(INTER * (1 / js[t] - 1) / 2 + 0.5);
			double J = (double)INTER / (INTER + 2 * d);
			double sum = 0, sq = 0, sum61 = 0;
			for (int r = 0; r < NSET; r++) {
				uint64_t base = rng_next(&rs);
				uint64_t ma[NPERM], mb[NPERM], m61a[NPERM], m61b[NPERM];
				for (int k = 0; k < NPERM; k++)
					ma[k] = mb[k] = m61a[k] = m61b[k] = UINT64_MAX;
				for (int e = 0; e < INTER + 2 * d; e++) {
					uint64_t x = base + (uint64_t)e;
					uint64_t h = structured
							     ? mh_shingle(&x, 1, 1, 0)
							     : rng_next(&rs);
					int inA = e < INTER || e < INTER + d;
					int inB = e < INTER || e >= INTER + d;
					for (int k = 0; k < NPERM; k++) {
						uint64_t v = mh_perm64(h, a[k], b[k]);
						uint64_t w = mh_perm(mh_mod61(h), (a[k] >> 3) | 1,
								     b[k] >> 3);
						if (inA && v < ma[k]) ma[k] = v;
						if (inB && v < mb[k]) mb[k] = v;
						if (inA && w < m61a[k]) m61a[k] = w;
						if (inB && w < m61b[k]) m61b[k] = w;
					}
				}
				int eq = 0, eq61 = 0;
				for (int k = 0; k < NPERM; k++) {
					eq += ma[k] == mb[k];
					eq61 += m61a[k] == m61b[k];
				}
				double est = (double)eq / NPERM;
				sum += est;
				sq += (est - J) * (est - J);
				sum61 += (double)eq61 / NPERM;
			}
			double mean = sum / NSET, rmse = sqrt(sq / NSET);
			double ideal = sqrt(J * (1 - J) / NPERM);
			printf("  result %s hashes J=%.3f: mean estimate %.3f "
			       "(mod 2^61-1 family %.3f), rmse %.4f (ideal %.4f)\n",
			       structured ? "shingled sequential" : "random", J, mean,
			       sum61 / NSET, rmse, ideal);
			CHECK(fabs(mean - J) < 0.02);
			CHECK(rmse < 1.25 * ideal);
		}
}

static void expect_norm(const char *in, const char *want, uint32_t want_nw)
{
	size_t n = strlen(in);
	uint8_t out[256];
	uint32_t ws[130], we[130];
	uint64_t wh[130];
	uint32_t nw = mh_normalize((const uint8_t *)in, n, out, ws, we, wh);
	size_t len = nw ? we[nw - 1] : 0;
	CHECK(nw == want_nw);
	CHECK(len == strlen(want) && !memcmp(out, want, len));
	if (len != strlen(want) || memcmp(out, want, len))
		printf("  normalise '%s' -> '%.*s', want '%s'\n", in, (int)len,
		       (const char *)out, want);
	/* each word's hash: its bytes in zero-padded 8-byte chunks */
	for (uint32_t w = 0; w < nw; w++) {
		uint64_t acc = XX_P5;
		for (uint32_t p = ws[w]; p < we[w]; p += 8) {
			uint8_t c[8] = {0};
			memcpy(c, out + p, we[w] - p < 8 ? we[w] - p : 8);
			acc = xx_round(acc, xx_read64(c));
		}
		CHECK(wh[w] == acc);
	}
}

/* Expected values follow datatrove's simplify_text: lowercase, digit runs
 * to 0, PUNCTUATION to space, whitespace runs to one space, NFD minus Mn. */
static void test_normalize(void)
{
	expect_norm("Hello, World!", "hello world", 2);
	expect_norm("  Café déjà-vu\t\nÉCOLE  ", "cafe deja vu ecole", 4);
	expect_norm("in 2024, 1,000.5 people", "in 0 0 0 0 people", 6);
	expect_norm("", "", 0);
	expect_norm("...!!!", "", 0);
	expect_norm("ÀÉÎÕÜ Ÿ ŁÓDŹ", "aeiou y łodz", 3);
	expect_norm("a\xcc\x81" "b", "ab", 1);       /* combining acute */
	expect_norm("\xe2\x80\x9cquoted\xe2\x80\x9d", "quoted", 1);
	expect_norm("\xe2\x80\x98single\xe2\x80\x99", "\xe2\x80\x98single", 1);
	expect_norm("日本語 テキスト", "日本語 テキスト", 2);
	expect_norm("bad\xff" "byte", "bad\xff" "byte", 1);
	expect_norm("ΑΒΓ Привет", "αβγ привет", 2);
}

static void test_edge_cases(void)
{
	struct batch b = {0};
	batch_adds(&b, "");
	batch_adds(&b, "word");
	batch_adds(&b, "Word!");
	batch_adds(&b, "one two three four");
	batch_adds(&b, "ONE two, three. four");
	batch_adds(&b, "\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96\xe7\x95\x8c");
	batch_adds(&b, " \n\t ");
	uint64_t sig[7 * NPERM], bands[7 * 14];
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, sig, bands, 1));
	for (int k = 0; k < NPERM; k++)
		CHECK(sig[k] == UINT64_MAX && sig[6 * NPERM + k] == UINT64_MAX);
	for (int j = 0; j < 14; j++) {
		CHECK(bands[j] == 0 && bands[6 * 14 + j] == 0);
		CHECK(bands[14 + j] != 0 && bands[5 * 14 + j] != 0);
	}
	/* short documents: one shingle of all words, equal after normalising */
	CHECK(!memcmp(sig + NPERM, sig + 2 * NPERM, NPERM * 8));
	CHECK(!memcmp(sig + 3 * NPERM, sig + 4 * NPERM, NPERM * 8));
	CHECK(memcmp(sig + NPERM, sig + 3 * NPERM, NPERM * 8) != 0);
	for (int k = 0; k < NPERM; k++)
		CHECK(sig[NPERM + k] != UINT64_MAX);

	/* bad arguments */
	struct dsv_minhash_params bad = P;
	bad.rows = 0;
	CHECK(minhash_cpu(&bad, b.text, b.off, b.n, sig, bands, 1) ==
	      DSV_KERNEL_EINVAL);
	uint64_t off[3] = {0, 5, 3};
	CHECK(minhash_cpu(&P, b.text, off, 2, sig, bands, 1) ==
	      DSV_KERNEL_EINVAL);
	CHECK(minhash_cpu(&P, NULL, NULL, 0, NULL, NULL, 1) == 0);
	batch_free(&b);
}

static void test_long_doc(void)
{
	uint64_t rs = 99;
	struct batch b = {0};
	char *d = random_doc(&rs, 1000000, NULL, 0, NULL);
	batch_adds(&b, d);
	batch_add(&b, d, strlen(d) / 2);
	uint64_t sig[2 * NPERM], bands[2 * 14];
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, sig, bands, 2));
	/* half of a document: Jaccard ~0.5, most values agree or not at random */
	int eq = 0;
	for (int k = 0; k < NPERM; k++) {
		CHECK(sig[k] != UINT64_MAX);
		eq += sig[k] == sig[NPERM + k];
	}
	CHECK(eq > 30 && eq < 90);
	free(d);
	batch_free(&b);
}

/* Copies with 2% of the words changed (Jaccard of 5-grams ~0.82) must share
 * a band with high probability (0.92+ per pair by the S-curve); unrelated
 * documents never do. Then clustering must join exactly the planted pairs. */
static void test_near_duplicates(void)
{
	uint64_t rs = test_seed() | 1;
	enum { NPAIR = 100, NW = 400 };
	struct batch b = {0};
	uint64_t ids[NW];
	for (int i = 0; i < NPAIR; i++) {
		char *d = random_doc(&rs, NW, NULL, 0, ids);
		char *c = random_doc(&rs, NW, ids, 2, NULL);
		batch_adds(&b, d);
		batch_adds(&b, c);
		free(d);
		free(c);
	}
	uint64_t *sig = malloc(b.n * NPERM * 8), *bands = malloc(b.n * 14 * 8);
	uint64_t *cl = malloc(b.n * 8), npairs = 0;
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, sig, bands, 2));
	int hit = 0, false_hit = 0;
	for (int i = 0; i < NPAIR; i++)
		hit += shares_band(bands, 2 * i, 2 * i + 1);
	for (int i = 0; i < NPAIR; i++)
		for (int j = i + 1; j < NPAIR; j++)
			false_hit += shares_band(bands, 2 * i, 2 * j);
	printf("  result near-dup pairs sharing a band: %d/%d, unrelated: %d\n",
	       hit, NPAIR, false_hit);
	CHECK(hit >= 80); /* expected ~92: 0.95 per pair at J=0.82 */
	CHECK(false_hit == 0);

	CHECK_OK(dsv_minhash_cluster(&P, bands, sig, b.n, 0.5, cl, &npairs));
	int joined = 0, wrong = 0;
	for (int i = 0; i < NPAIR; i++) {
		CHECK(cl[2 * i] == (uint64_t)(2 * i));
		joined += cl[2 * i + 1] == (uint64_t)(2 * i);
		wrong += cl[2 * i + 1] != (uint64_t)(2 * i) &&
			 cl[2 * i + 1] != (uint64_t)(2 * i + 1);
	}
	CHECK(joined == hit && wrong == 0 && npairs == (uint64_t)hit);
	free(sig);
	free(bands);
	free(cl);
	batch_free(&b);
}

static void test_cluster_transitive(void)
{
	struct dsv_minhash_params p = {5, 2, 1, 1};
	/* docs 0-1 share band 0, 1-3 share band 1, 2 alone, 4 no signature */
	uint64_t bands[] = {10, 20, 10, 30, 11, 21, 12, 30, 0, 0};
	uint64_t cl[5], np = 0;
	CHECK_OK(dsv_minhash_cluster(&p, bands, NULL, 5, 0, cl, &np));
	CHECK(cl[0] == 0 && cl[1] == 0 && cl[2] == 2 && cl[3] == 0 && cl[4] == 4);
	CHECK(np == 2);
}

/* With verification, a bucket whose first document is a false candidate
 * still joins the true duplicates after it: 0 shares band 0 with 1 and 2
 * but no signature value, 1 and 2 are equal. */
static void test_cluster_false_head(void)
{
	struct dsv_minhash_params p = {5, 2, 2, 1};
	uint64_t bands[] = {10, 20, 10, 21, 10, 22};
	uint64_t sig[] = {1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9};
	uint64_t cl[3], np = 0;
	CHECK_OK(dsv_minhash_cluster(&p, bands, sig, 3, 0.5, cl, &np));
	CHECK(cl[0] == 0 && cl[1] == 1 && cl[2] == 1);
	CHECK(np == 1);
}

static void test_threads_and_dispatch(void)
{
	uint64_t rs = test_seed() | 1;
	struct batch b = {0};
	for (int i = 0; i < 200; i++) {
		char *d = random_doc(&rs, 1 + (int)(rng_next(&rs) % 300), NULL, 0,
				     NULL);
		batch_adds(&b, d);
		free(d);
	}
	uint64_t *s1 = malloc(b.n * NPERM * 8), *s2 = malloc(b.n * NPERM * 8);
	uint64_t *b1 = malloc(b.n * 14 * 8), *b2 = malloc(b.n * 14 * 8);
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, s1, b1, 1));
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, s2, b2, 2));
	CHECK(!memcmp(s1, s2, b.n * NPERM * 8) && !memcmp(b1, b2, b.n * 14 * 8));
	CHECK_OK(dsv_minhash(&P, b.text, b.off, b.n, s2, b2, DSV_DEVICE_CPU, 0));
	CHECK(!memcmp(s1, s2, b.n * NPERM * 8));
	if (dsv_device_count() == 0)
		CHECK(dsv_minhash(&P, b.text, b.off, b.n, s2, b2, DSV_DEVICE_CUDA,
				  0) == DSV_KERNEL_ENOGPU);
	free(s1);
	free(s2);
	free(b1);
	free(b2);
	batch_free(&b);
}

/* Random bytes (any UTF-8 or none), random words, and real-ish text with
 * punctuation, digits and accents: CUDA must equal the CPU bit for bit. */
static void test_cuda_matches_cpu(void)
{
	uint64_t rs = test_seed() | 1;
	struct batch b = {0};
	const char *realish =
		"The Café opened in 1998; it's “famous” for crêpes... Prices: "
		"$4.50-$6.00! Ελληνικά, русский, 日本語 — all welcome.\n";
	batch_adds(&b, "");
	batch_adds(&b, "one");
	for (int i = 0; i < 600; i++) {
		int kind = i % 3;
		size_t n = rng_next(&rs) % (i % 50 == 0 ? 200000 : 3000);
		if (kind == 0) {
			char *d = malloc(n + 1);
			for (size_t k = 0; k < n; k++)
				d[k] = (char)(rng_next(&rs) % 6 == 0
						      ? ' '
						      : rng_next(&rs) & 0xFF);
			batch_add(&b, d, n);
			free(d);
		} else if (kind == 1) {
			char *d = random_doc(&rs, (int)(n / 8) + 1, NULL, 0, NULL);
			batch_adds(&b, d);
			free(d);
		} else {
			for (size_t k = 0; k < n / 100 + 1; k++)
				batch_adds(&b, realish);
			b.n--; /* merge the repeats into one document */
			b.off[b.n] = b.len;
		}
	}
	uint64_t *s1 = malloc(b.n * NPERM * 8), *s2 = malloc(b.n * NPERM * 8);
	uint64_t *b1 = malloc(b.n * 14 * 8), *b2 = malloc(b.n * 14 * 8);
	CHECK_OK(minhash_cpu(&P, b.text, b.off, b.n, s1, b1, 0));
	CHECK_OK(minhash_cuda(&P, b.text, b.off, b.n, s2, b2));
	int bad = 0;
	for (size_t i = 0; i < b.n; i++)
		if (memcmp(s1 + i * NPERM, s2 + i * NPERM, NPERM * 8) ||
		    memcmp(b1 + i * 14, b2 + i * 14, 14 * 8)) {
			if (bad++ < 5)
				printf("  doc %zu: cpu sig[0] %llx band[0] %llx, "
				       "cuda sig[0] %llx band[0] %llx\n",
				       i, (unsigned long long)s1[i * NPERM],
				       (unsigned long long)b1[i * 14],
				       (unsigned long long)s2[i * NPERM],
				       (unsigned long long)b2[i * 14]);
		}
	CHECK(bad == 0);
	printf("  result %zu documents byte-identical on %s\n", b.n,
	       dsv_device_name());
	free(s1);
	free(s2);
	free(b1);
	free(b2);
	batch_free(&b);
}

/* A build without CUDA has no entry point to check its inputs: its stub
 * answers that there is no GPU. */
#ifdef DSV_HAVE_CUDA
#define CUDA_REJECTS DSV_KERNEL_EINVAL
#else
#define CUDA_REJECTS DSV_KERNEL_ENOGPU
#endif

/* The CUDA entry point rejects what the CPU rejects, GPU or not (in a
 * build with CUDA). */
static void test_cuda_bad_inputs(void)
{
	struct dsv_minhash_params bad = P;
	uint64_t off[3] = {0, 5, 3}, sig[2 * NPERM], bands[2 * 14];
	const uint8_t *t = (const uint8_t *)"abcde";
	bad.rows = 65;
	CHECK(minhash_cuda(NULL, t, off, 1, sig, bands) == CUDA_REJECTS);
	CHECK(minhash_cuda(&bad, t, off, 1, sig, bands) == CUDA_REJECTS);
	CHECK(minhash_cpu(&P, t, off, 2, sig, bands, 1) == DSV_KERNEL_EINVAL);
	CHECK(minhash_cuda(&P, t, off, 2, sig, bands) == CUDA_REJECTS);
}

/* The entry points cuda_shim.c forwards are in libdsvcuda.so under their C
 * names (kernel_syms.h); runs without a GPU. */
static void test_minhash_cuda_symbols(void)
{
	CHECK_CUDA_SYMBOLS("minhash_cuda");
}

int main(void)
{
	RUN(test_xxh64_vectors);
	RUN(test_perm_exact);
	RUN(test_family_quality);
	RUN(test_normalize);
	RUN(test_edge_cases);
	RUN(test_long_doc);
	RUN(test_near_duplicates);
	RUN(test_cluster_transitive);
	RUN(test_cluster_false_head);
	RUN(test_threads_and_dispatch);
	RUN(test_cuda_bad_inputs);
	RUN(test_minhash_cuda_symbols);
	if (dsv_device_count() > 0)
		RUN(test_cuda_matches_cpu);
	else
		SKIP(test_cuda_matches_cpu, "no CUDA device");
	TEST_EXIT();
}
