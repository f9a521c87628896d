/* minhash.c: the CPU reference of the MinHash kernel (OpenMP over
 * documents), the run-time dispatcher, and the union-find clustering that
 * turns band keys into duplicate clusters. The per-document work is in
 * minhash_impl.h, shared with the CUDA twin.
 */
#include "kernels/minhash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "kernels/device.h"
#include "kernels/minhash_impl.h"

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Checks the parameters; shared with the CUDA path as
 * minhash_check_params_. */
int minhash_check_params_(const struct dsv_minhash_params *p)
{
	if (!p || p->ngram < 1 || p->nbands < 1 || p->rows < 1 || p->rows > 64 ||
	    p->nbands > 4096)
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"minhash: bad parameters (ngram >= 1, "
					"1 <= bands <= 4096, 1 <= rows <= 64)");
	return 0;
}

int dsv_minhash_coeffs(const struct dsv_minhash_params *p, uint64_t *a,
		       uint64_t *b)
{
	int rc = minhash_check_params_(p);
	if (rc)
		return rc;
	uint64_t s = p->seed, n = (uint64_t)p->nbands * p->rows;
	for (uint64_t k = 0; k < n; k++) {
		a[k] = splitmix64(&s) | 1; /* odd: a bijection mod 2^64 */
		b[k] = splitmix64(&s);
	}
	return 0;
}

/* Checks offsets: non-decreasing, each document under 4 GiB (word offsets
 * are u32). Shared with the CUDA path through minhash_check_batch_. */
int minhash_check_batch_(const uint8_t *text, const uint64_t *off,
			 size_t ndocs)
{
	return dsv_check_docs("minhash", text, off, ndocs, UINT32_MAX);
}

struct scratch {
	uint8_t *out;
	uint32_t *ws, *we;
	uint64_t *wh; /* word hashes, then shingle hashes in place */
	size_t cap;
};

static void scratch_free(struct scratch *s)
{
	free(s->out);
	free(s->ws);
	free(s->we);
	free(s->wh);
}

static int scratch_fit(struct scratch *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	size_t cap = n < 4096 ? 4096 : n + n / 2, nw = cap / 2 + 1;
	uint8_t *o = realloc(s->out, cap);
	if (o)
		s->out = o;
	uint32_t *a = realloc(s->ws, nw * sizeof *a);
	if (a)
		s->ws = a;
	uint32_t *b = realloc(s->we, nw * sizeof *b);
	if (b)
		s->we = b;
	uint64_t *h = realloc(s->wh, nw * sizeof *h);
	if (h)
		s->wh = h;
	if (!o || !a || !b || !h)
		return -1;
	s->cap = cap;
	return 0;
}

/* Lanes of permutations kept in registers while the shingles stream past;
 * the coefficient arrays are padded to a multiple of it. */
#define MH_LANES 16
#define MH_BIAS 0x8000000000000000ULL

/* m[k] = min over shingles of a[k]*h + b[k] (mod 2^64), for npad lanes.
 * bb holds b[k] ^ MH_BIAS, so the unsigned minimum is a signed one, which
 * AVX2 has; the caller takes the bias off. Portable version. */
static void mh_mins_c(const uint64_t *sh, uint32_t nsh, const uint64_t *a,
		      const uint64_t *bb, uint32_t npad, int64_t *m)
{
	for (uint32_t k0 = 0; k0 < npad; k0 += MH_LANES) {
		int64_t acc[MH_LANES];
		const uint64_t *ak = a + k0, *bk = bb + k0;
		for (int l = 0; l < MH_LANES; l++)
			acc[l] = INT64_MAX;
		for (uint32_t j = 0; j < nsh; j++) {
			uint64_t h = sh[j];
			for (int l = 0; l < MH_LANES; l++) {
				int64_t v = (int64_t)(ak[l] * h + bk[l]);
				acc[l] = v < acc[l] ? v : acc[l];
			}
		}
		memcpy(m + k0, acc, sizeof acc);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MH_HAVE_AVX2_PATH 1

/* a*h mod 2^64 per lane from 32x32->64 products: a_lo*h_lo +
 * ((a_hi*h_lo + a_lo*h_hi) << 32); AVX2 has no 64-bit low multiply. */
__attribute__((target("avx2"))) static inline __m256i
mh_mul64(__m256i a, __m256i ahi, __m256i hlo, __m256i hhi)
{
	__m256i lo = _mm256_mul_epu32(a, hlo);
	__m256i cross = _mm256_add_epi64(_mm256_mul_epu32(ahi, hlo),
					 _mm256_mul_epu32(a, hhi));
	return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

/* Same result as mh_mins_c, four 4-lane vectors held in registers while
 * the shingles stream past. */
__attribute__((target("avx2"))) static void
mh_mins_avx2(const uint64_t *sh, uint32_t nsh, const uint64_t *a,
	     const uint64_t *bb, uint32_t npad, int64_t *m)
{
	for (uint32_t k0 = 0; k0 < npad; k0 += MH_LANES) {
		__m256i A[4], AH[4], Bv[4], acc[4];
		for (int v = 0; v < 4; v++) {
			A[v] = _mm256_loadu_si256((const __m256i *)(a + k0 + 4 * v));
			AH[v] = _mm256_srli_epi64(A[v], 32);
			Bv[v] = _mm256_loadu_si256((const __m256i *)(bb + k0 + 4 * v));
			acc[v] = _mm256_set1_epi64x(INT64_MAX);
		}
		for (uint32_t j = 0; j < nsh; j++) {
			__m256i hlo = _mm256_set1_epi64x((int64_t)sh[j]);
			__m256i hhi = _mm256_srli_epi64(hlo, 32);
			for (int v = 0; v < 4; v++) {
				__m256i x = _mm256_add_epi64(
					mh_mul64(A[v], AH[v], hlo, hhi), Bv[v]);
				__m256i gt = _mm256_cmpgt_epi64(acc[v], x);
				acc[v] = _mm256_blendv_epi8(acc[v], x, gt);
			}
		}
		for (int v = 0; v < 4; v++)
			_mm256_storeu_si256((__m256i *)(m + k0 + 4 * v), acc[v]);
	}
}
#endif

static void mh_mins(const uint64_t *sh, uint32_t nsh, const uint64_t *a,
		    const uint64_t *bb, uint32_t npad, int64_t *m)
{
#ifdef MH_HAVE_AVX2_PATH
	if (__builtin_cpu_supports("avx2")) {
		mh_mins_avx2(sh, nsh, a, bb, npad, m);
		return;
	}
#endif
	mh_mins_c(sh, nsh, a, bb, npad, m);
}

/* One document: signature into sig (npad values, nperm used) and band
 * keys. The result equals mh_perm64's minimum as the CUDA path takes it. */
static void minhash_doc(const struct dsv_minhash_params *p, const uint64_t *a,
			const uint64_t *bb, uint32_t npad, const uint8_t *s,
			size_t n, struct scratch *sc, uint64_t *sig,
			uint64_t *bands)
{
	uint32_t nperm = p->nbands * p->rows;
	uint32_t nw = mh_normalize(s, n, sc->out, sc->ws, sc->we, sc->wh);
	uint32_t nsh = mh_nshingles(nw, p->ngram);
	/* Shingle j reads word hashes j.. only, so it can overwrite slot j. */
	for (uint32_t j = 0; j < nsh; j++)
		sc->wh[j] = mh_shingle(sc->wh, nw, p->ngram, j);
	mh_mins(sc->wh, nsh, a, bb, npad, (int64_t *)sig);
	for (uint32_t k = 0; k < nperm; k++)
		sig[k] ^= MH_BIAS;
	if (!bands)
		return;
	for (uint32_t j = 0; j < p->nbands; j++)
		bands[j] = nsh ? mh_band_key(sig + (size_t)j * p->rows, p->rows, j)
			       : 0;
}

int minhash_cpu(const struct dsv_minhash_params *p, const uint8_t *text,
		const uint64_t *off, size_t ndocs, uint64_t *sig, uint64_t *bands,
		int nthreads)
{
	uint64_t *a = NULL, *b = NULL;
	int rc = minhash_check_params_(p);
	if (rc)
		return rc;
	if ((rc = minhash_check_batch_(text, off, ndocs)))
		return rc;
	size_t nperm = (size_t)p->nbands * p->rows;
	uint32_t npad = (uint32_t)((nperm + MH_LANES - 1) / MH_LANES * MH_LANES);
	a = calloc(npad, sizeof *a);
	b = calloc(npad, sizeof *b);
	if (!a || !b) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "minhash: out of memory");
		goto cleanup;
	}
	dsv_minhash_coeffs(p, a, b);
	for (uint32_t k = 0; k < npad; k++)
		b[k] ^= MH_BIAS;
	int failed = 0;
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : omp_get_max_threads())
	{
		struct scratch sc = {0};
		uint64_t *tsig = malloc(npad * sizeof *tsig);
		if (!tsig)
			failed = 1;
#pragma omp for schedule(dynamic, 16)
		for (size_t i = 0; i < ndocs; i++) {
			size_t n = off[i + 1] - off[i];
			if (!tsig || scratch_fit(&sc, n + 1)) {
				failed = 1;
				continue;
			}
			minhash_doc(p, a, b, npad, text + off[i], n, &sc, tsig,
				    bands ? bands + i * p->nbands : NULL);
			if (sig)
				memcpy(sig + i * nperm, tsig, nperm * sizeof *tsig);
		}
		free(tsig);
		scratch_free(&sc);
	}
	if (failed)
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "minhash: out of memory");
cleanup:
	free(a);
	free(b);
	return rc;
}

#ifndef DSV_HAVE_CUDA
int minhash_cuda(const struct dsv_minhash_params *p, const uint8_t *text,
		 const uint64_t *off, size_t ndocs, uint64_t *sig,
		 uint64_t *bands)
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU,
				"minhash: this build has no CUDA support");
}
#endif

int dsv_minhash(const struct dsv_minhash_params *p, const uint8_t *text,
		const uint64_t *off, size_t ndocs, uint64_t *sig, uint64_t *bands,
		int device, int nthreads)
{
	int d = dsv_device_resolve(device);
	if (d < 0)
		return d;
	if (d == DSV_DEVICE_CUDA)
		return minhash_cuda(p, text, off, ndocs, sig, bands);
	return minhash_cpu(p, text, off, ndocs, sig, bands, nthreads);
}

/* ---- clustering ---- */

struct keydoc {
	uint64_t key;
	uint64_t doc;
};

static int keydoc_cmp(const void *x, const void *y)
{
	const struct keydoc *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->doc < b->doc ? -1 : a->doc > b->doc;
}

static uint64_t uf_find(uint64_t *parent, uint64_t x)
{
	uint64_t r = x;
	while (parent[r] != r)
		r = parent[r];
	while (parent[x] != r) { /* path compression */
		uint64_t n = parent[x];
		parent[x] = r;
		x = n;
	}
	return r;
}

/* The smaller root becomes the parent, so every root is its cluster's
 * smallest index and the result does not depend on the order of unions. */
static int uf_union(uint64_t *parent, uint64_t x, uint64_t y)
{
	x = uf_find(parent, x);
	y = uf_find(parent, y);
	if (x == y)
		return 0;
	if (x < y)
		parent[y] = x;
	else
		parent[x] = y;
	return 1;
}

static int similar(const uint64_t *sig, size_t nperm, uint64_t x, uint64_t y,
		   double min_sim)
{
	const uint64_t *s = sig + x * nperm, *t = sig + y * nperm;
	size_t eq = 0;
	for (size_t k = 0; k < nperm; k++)
		eq += s[k] == t[k];
	return (double)eq >= min_sim * (double)nperm;
}

/* Representatives a bucket keeps for verified joins: a bucket with more
 * mutually dissimilar documents than this compares the rest with these. */
#define MAX_REPS 64

int dsv_minhash_cluster(const struct dsv_minhash_params *p,
			const uint64_t *bands, const uint64_t *sig, size_t ndocs,
			double min_sim, uint64_t *cluster, uint64_t *npairs)
{
	struct keydoc *kd = NULL;
	size_t reps[MAX_REPS];
	uint64_t joined = 0;
	int rc = minhash_check_params_(p);
	if (rc)
		return rc;
	if (ndocs && (!bands || !cluster))
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"minhash cluster: null bands or cluster");
	size_t nperm = (size_t)p->nbands * p->rows;
	for (size_t i = 0; i < ndocs; i++)
		cluster[i] = i;
	kd = malloc((ndocs ? ndocs : 1) * sizeof *kd);
	if (!kd) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM,
				      "minhash cluster: out of memory");
		goto cleanup;
	}
	for (uint32_t j = 0; j < p->nbands; j++) {
		size_t m = 0;
		for (size_t i = 0; i < ndocs; i++) {
			uint64_t k = bands[i * p->nbands + j];
			if (k) {
				kd[m].key = k;
				kd[m].doc = i;
				m++;
			}
		}
		qsort(kd, m, sizeof *kd, keydoc_cmp);
		for (size_t s = 0; s < m;) {
			size_t e = s + 1;
			while (e < m && kd[e].key == kd[s].key)
				e++;
			if (!sig) {
				for (size_t t = s + 1; t < e; t++)
					joined += uf_union(cluster, kd[s].doc, kd[t].doc);
				s = e;
				continue;
			}
			/* With verification, a document is compared with the
			 * bucket's representatives (those that joined none
			 * before them, at most MAX_REPS) whose cluster is not
			 * already its own: a head that is a false candidate
			 * must not keep two true duplicates after it apart. */
			size_t nreps = 0;
			for (size_t t = s; t < e; t++) {
				int alone = 1;
				for (size_t r = 0; r < nreps; r++) {
					uint64_t a = kd[reps[r]].doc, b = kd[t].doc;
					if (uf_find(cluster, a) == uf_find(cluster, b)) {
						alone = 0;
						continue;
					}
					if (similar(sig, nperm, a, b, min_sim)) {
						joined += uf_union(cluster, a, b);
						alone = 0;
					}
				}
				if (alone && nreps < MAX_REPS)
					reps[nreps++] = t;
			}
			s = e;
		}
	}
	for (size_t i = 0; i < ndocs; i++)
		cluster[i] = uf_find(cluster, i);
	if (npairs)
		*npairs = joined;
cleanup:
	free(kd);
	return rc;
}
