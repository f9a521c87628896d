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

static int check_params(const struct dsv_minhash_params *p)
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
	int rc = check_params(p);
	if (rc)
		return rc;
	uint64_t s = p->seed, n = (uint64_t)p->nbands * p->rows;
	/* Rejection keeps a and b uniform over their ranges. */
	for (uint64_t k = 0; k < n; k++) {
		uint64_t x;
		do
			x = splitmix64(&s) >> 3;
		while (x == 0 || x >= MH_PRIME);
		a[k] = x;
		do
			x = splitmix64(&s) >> 3;
		while (x >= MH_PRIME);
		b[k] = x;
	}
	return 0;
}

/* Checks offsets: non-decreasing, each document under 4 GiB (word offsets
 * are u32). Shared with the CUDA path through minhash_check_batch_. */
int minhash_check_batch_(const uint8_t *text, const uint64_t *off,
			 size_t ndocs)
{
	if (ndocs && (!off || (!text && off[ndocs] > off[0])))
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"minhash: null text or offsets");
	for (size_t i = 0; i < ndocs; i++)
		if (off[i + 1] < off[i] || off[i + 1] - off[i] > UINT32_MAX)
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"minhash: bad offsets at document %zu",
						i);
	return 0;
}

struct scratch {
	uint8_t *out;
	uint32_t *ws, *we;
	size_t cap;
};

static int scratch_fit(struct scratch *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	size_t cap = n < 4096 ? 4096 : n + n / 2;
	uint8_t *o = realloc(s->out, cap);
	if (o)
		s->out = o;
	uint32_t *a = realloc(s->ws, (cap / 2 + 1) * sizeof *a);
	if (a)
		s->ws = a;
	uint32_t *b = realloc(s->we, (cap / 2 + 1) * sizeof *b);
	if (b)
		s->we = b;
	if (!o || !a || !b)
		return -1;
	s->cap = cap;
	return 0;
}

/* One document: signature into sig (nperm values) and band keys. */
static void minhash_doc(const struct dsv_minhash_params *p, const uint64_t *a,
			const uint64_t *b, const uint8_t *s, size_t n,
			struct scratch *sc, uint64_t *sig, uint64_t *bands)
{
	uint32_t nperm = p->nbands * p->rows;
	uint32_t nw = mh_normalize(s, n, sc->out, sc->ws, sc->we);
	uint32_t nsh = mh_nshingles(nw, p->ngram);
	for (uint32_t k = 0; k < nperm; k++)
		sig[k] = UINT64_MAX;
	for (uint32_t j = 0; j < nsh; j++) {
		uint64_t h = mh_mod61(mh_shingle(sc->out, sc->ws, sc->we, nw,
						 p->ngram, j));
		for (uint32_t k = 0; k < nperm; k++) {
			uint64_t v = mh_perm(h, a[k], b[k]);
			sig[k] = v < sig[k] ? v : sig[k];
		}
	}
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
	int rc = check_params(p);
	if (rc)
		return rc;
	if ((rc = minhash_check_batch_(text, off, ndocs)))
		return rc;
	size_t nperm = (size_t)p->nbands * p->rows;
	a = malloc(nperm * sizeof *a);
	b = malloc(nperm * sizeof *b);
	if (!a || !b) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "minhash: out of memory");
		goto cleanup;
	}
	dsv_minhash_coeffs(p, a, b);
	int failed = 0;
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : omp_get_max_threads())
	{
		struct scratch sc = {0};
		uint64_t *tsig = malloc(nperm * sizeof *tsig);
		if (!tsig)
			failed = 1;
#pragma omp for schedule(dynamic, 16)
		for (size_t i = 0; i < ndocs; i++) {
			size_t n = off[i + 1] - off[i];
			if (!tsig || scratch_fit(&sc, n + 1)) {
				failed = 1;
				continue;
			}
			minhash_doc(p, a, b, text + off[i], n, &sc, tsig,
				    bands ? bands + i * p->nbands : NULL);
			if (sig)
				memcpy(sig + i * nperm, tsig, nperm * sizeof *tsig);
		}
		free(tsig);
		free(sc.out);
		free(sc.ws);
		free(sc.we);
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

int dsv_minhash_cluster(const struct dsv_minhash_params *p,
			const uint64_t *bands, const uint64_t *sig, size_t ndocs,
			double min_sim, uint64_t *cluster, uint64_t *npairs)
{
	struct keydoc *kd = NULL;
	uint64_t joined = 0;
	int rc = check_params(p);
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
			for (size_t t = s + 1; t < e; t++) {
				if (sig && !similar(sig, nperm, kd[s].doc,
						    kd[t].doc, min_sim))
					continue;
				joined += uf_union(cluster, kd[s].doc, kd[t].doc);
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
