/* docstats.cu: the CUDA twins of docstats_basic_cpu and docstats_cpu.
 * Basic counts: one block per document; threads stride over its bytes and
 * sum the per-byte terms of docstats_impl.h in shared memory. Full
 * statistics: one thread per document running docstats_full_impl.h, the
 * source the CPU runs, so every field equals the CPU's exactly.
 */
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/docstats_full_impl.h"

__global__ void ds_basic_kernel(const uint8_t *text, const uint64_t *off,
				struct dsv_docstats_basic *out)
{
	__shared__ unsigned long long acc[7];
	uint32_t d = blockIdx.x;
	if (threadIdx.x < 7)
		acc[threadIdx.x] = 0;
	__syncthreads();
	const uint8_t *s = text + (off[d] - off[0]);
	size_t n = off[d + 1] - off[d];
	uint64_t c[7] = {0, 0, 0, 0, 0, 0, 0};
	for (size_t i = threadIdx.x; i < n; i += blockDim.x)
		ds_basic_byte(s, n, i, c);
	for (int k = 1; k < 7; k++)
		if (c[k])
			atomicAdd(&acc[k], (unsigned long long)c[k]);
	__syncthreads();
	if (threadIdx.x == 0) {
		out[d].bytes = n;
		out[d].chars = acc[1];
		out[d].newlines = acc[2];
		out[d].hash_chars = acc[3];
		out[d].ellipsis = acc[4];
		out[d].curly = acc[5];
		out[d].ws_words = acc[6];
	}
}

#define KERNEL_NAME "docstats"
#include "kernels/cuda_check.cuh"

extern "C" int docstats_basic_cuda(const uint8_t *text, const uint64_t *off,
				   size_t ndocs, struct dsv_docstats_basic *out)
{
	uint8_t *dtext = NULL;
	uint64_t *doff = NULL;
	struct dsv_docstats_basic *dout = NULL;
	int rc = 0;
	if (dsv_device_count() <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "docstats: no CUDA device");
	if ((rc = ds_check_batch(text, off, ndocs, out)) || ndocs == 0)
		return rc;
	uint64_t bytes = off[ndocs] - off[0];
	CU(cudaMalloc(&dtext, bytes + 1), "cudaMalloc text");
	CU(cudaMalloc(&doff, (ndocs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMalloc(&dout, ndocs * sizeof *out), "cudaMalloc output");
	CU(dsv_upload_docs(dtext, doff, text, off, 0, ndocs),
	   "cudaMemcpy documents");
	for (size_t d0 = 0; d0 < ndocs; d0 += 65535 * 16) {
		size_t nd = ndocs - d0 < 65535 * 16 ? ndocs - d0 : 65535 * 16;
		ds_basic_kernel<<<(unsigned)nd, 256>>>(dtext + (off[d0] - off[0]),
						       doff + d0, dout + d0);
		CU(cudaGetLastError(), "docstats kernel");
	}
	CU(cudaMemcpy(out, dout, ndocs * sizeof *out, cudaMemcpyDeviceToHost),
	   "cudaMemcpy output");
cleanup:
	cudaFree(dout);
	cudaFree(doff);
	cudaFree(dtext);
	return rc;
}

/* ---- full statistics ---- */

/* Thread t takes document idx[t] of the chunk (longest first, so a warp's
 * documents are of similar length), with its scratch at pool + poff[t].
 * ptxas counts about 2.6 KiB of stack per thread (split_chunk's affix
 * stacks); the call graph has no recursion or indirect call, so the size is
 * static and the driver raises the stack limit at launch as needed. */
__global__ void ds_full_kernel(const uint8_t *text, const uint64_t *off,
			       const uint32_t *idx, const uint64_t *poff,
			       uint8_t *pool, uint32_t nd, unsigned groups,
			       struct dsv_docstats *out, int *failed)
{
	uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
	if (t >= nd)
		return;
	uint32_t d = idx[t];
	uint64_t n = off[d + 1] - off[d];
	struct scratch sc;
	struct dsv_docstats st;
	ds_scratch_carve(&sc, pool + poff[t], n);
	if (docstats_doc(text + (off[d] - off[0]), n, groups, &sc, &st))
		*failed = 1;
	out[d] = st;
}

/* Each chunk of documents needs its text, offsets, order, pool slices and
 * outputs on the device at once. */
static uint64_t doc_cost(uint64_t n)
{
	return n + 8 + 4 + 8 + sizeof(struct dsv_docstats) + ds_scratch_bytes(n);
}

/* docstats_exc.h is host data: its table goes up once per process (to the
 * current device, which dsv never changes; it is never freed, like a
 * library's static data) with the string pointers rewritten, and
 * exc_first/exc_last with it. */
static pthread_mutex_t exc_lock = PTHREAD_MUTEX_INITIALIZER;
static int exc_uploaded;

static int exc_upload(void)
{
	struct dsv_exc *tab = NULL, *dtab = NULL;
	char *blob = NULL, *dblob = NULL;
	uint64_t first[256] = {0}, last[256] = {0};
	size_t bytes = 0;
	int rc = 0;
	pthread_mutex_lock(&exc_lock);
	if (exc_uploaded)
		goto cleanup;
	for (size_t i = 0; i < DS_NEXC; i++)
		bytes += dsv_exc[i].len;
	tab = (struct dsv_exc *)malloc(sizeof dsv_exc);
	blob = (char *)malloc(bytes);
	if (!tab || !blob) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "docstats: out of memory");
		goto cleanup;
	}
	CU(cudaMalloc(&dblob, bytes), "cudaMalloc exceptions");
	CU(cudaMalloc(&dtab, sizeof dsv_exc), "cudaMalloc exceptions");
	for (size_t i = 0, at = 0; i < DS_NEXC; i++) {
		memcpy(blob + at, dsv_exc[i].s, dsv_exc[i].len);
		tab[i] = dsv_exc[i];
		tab[i].s = dblob + at;
		at += dsv_exc[i].len;
	}
	ds_exc_masks(first, last);
	CU(cudaMemcpy(dblob, blob, bytes, cudaMemcpyHostToDevice),
	   "cudaMemcpy exceptions");
	CU(cudaMemcpy(dtab, tab, sizeof dsv_exc, cudaMemcpyHostToDevice),
	   "cudaMemcpy exceptions");
	CU(cudaMemcpyToSymbol(ds_exc_dev, &dtab, sizeof dtab),
	   "cudaMemcpyToSymbol exceptions");
	CU(cudaMemcpyToSymbol(exc_first, first, sizeof first),
	   "cudaMemcpyToSymbol exceptions");
	CU(cudaMemcpyToSymbol(exc_last, last, sizeof last),
	   "cudaMemcpyToSymbol exceptions");
	exc_uploaded = 1;
	dtab = NULL;
	dblob = NULL;
cleanup:
	pthread_mutex_unlock(&exc_lock);
	cudaFree(dtab);
	cudaFree(dblob);
	free(blob);
	free(tab);
	return rc;
}

struct ds_len {
	uint64_t n;
	uint32_t i;
};

static int by_len_desc(const void *x, const void *y)
{
	const struct ds_len *a = (const struct ds_len *)x,
			    *b = (const struct ds_len *)y;
	if (a->n != b->n)
		return a->n < b->n ? 1 : -1;
	return (a->i > b->i) - (a->i < b->i);
}

extern "C" int docstats_cuda(const uint8_t *text, const uint64_t *off,
			     size_t ndocs, unsigned groups,
			     struct dsv_docstats *out)
{
	size_t *cut = NULL, ncut = 0, free_b = 0, total_b = 0;
	struct ds_len *ord = NULL;
	uint32_t *hidx = NULL, *didx = NULL;
	uint64_t *hpoff = NULL, *dpoff = NULL, *doff = NULL;
	uint8_t *dtext = NULL, *dpool = NULL;
	struct dsv_docstats *dout = NULL;
	int *dfailed = NULL, failed = 0, rc = 0;
	uint64_t max_text = 0, max_pool = 0, max_docs = 0;
	if (dsv_device_count() <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "docstats: no CUDA device");
	if ((rc = ds_check_batch(text, off, ndocs, out)) || ndocs == 0)
		return rc;
	if ((rc = exc_upload()))
		return rc;
	/* Chunks fill half the free memory (the rest is left to the threads'
	 * stacks and other users); cut[k]..cut[k+1] is chunk k. */
	CU(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
	cut = (size_t *)malloc((ndocs + 1) * sizeof *cut);
	ord = (struct ds_len *)malloc(ndocs * sizeof *ord);
	if (!cut || !ord) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "docstats: out of memory");
		goto cleanup;
	}
	cut[ncut++] = 0;
	for (size_t d0 = 0; d0 < ndocs;) {
		uint64_t cost = 0, pool = 0;
		size_t d1 = d0;
		while (d1 < ndocs && d1 - d0 < (1u << 20)) {
			uint64_t n = off[d1 + 1] - off[d1];
			if (cost + doc_cost(n) > free_b / 2)
				break;
			cost += doc_cost(n);
			pool += ds_scratch_bytes(n);
			d1++;
		}
		if (d1 == d0) {
			rc = dsv_kernel_error(DSV_KERNEL_ENOMEM,
					      "docstats: document %zu (%llu bytes) "
					      "does not fit in device memory",
					      d0,
					      (unsigned long long)(off[d0 + 1] - off[d0]));
			goto cleanup;
		}
		max_text = off[d1] - off[d0] > max_text ? off[d1] - off[d0] : max_text;
		max_pool = pool > max_pool ? pool : max_pool;
		max_docs = d1 - d0 > max_docs ? d1 - d0 : max_docs;
		cut[ncut++] = d0 = d1;
	}
	hidx = (uint32_t *)malloc(max_docs * sizeof *hidx);
	hpoff = (uint64_t *)malloc(max_docs * sizeof *hpoff);
	if (!hidx || !hpoff) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "docstats: out of memory");
		goto cleanup;
	}
	CU(cudaMalloc(&dtext, max_text + 1), "cudaMalloc text");
	CU(cudaMalloc(&doff, (max_docs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMalloc(&didx, max_docs * sizeof *didx), "cudaMalloc order");
	CU(cudaMalloc(&dpoff, max_docs * 8), "cudaMalloc pool offsets");
	CU(cudaMalloc(&dpool, max_pool + 1), "cudaMalloc scratch pool");
	CU(cudaMalloc(&dout, max_docs * sizeof *out), "cudaMalloc output");
	CU(cudaMalloc(&dfailed, sizeof *dfailed), "cudaMalloc flag");
	CU(cudaMemset(dfailed, 0, sizeof *dfailed), "cudaMemset flag");
	for (size_t k = 0; k + 1 < ncut; k++) {
		size_t d0 = cut[k], nd = cut[k + 1] - d0;
		uint64_t at = 0;
		for (size_t i = 0; i < nd; i++) {
			ord[i].n = off[d0 + i + 1] - off[d0 + i];
			ord[i].i = (uint32_t)i;
		}
		qsort(ord, nd, sizeof *ord, by_len_desc);
		for (size_t i = 0; i < nd; i++) {
			hidx[i] = ord[i].i;
			hpoff[i] = at;
			at += ds_scratch_bytes(ord[i].n);
		}
		CU(dsv_upload_docs(dtext, doff, text, off, d0, d0 + nd),
		   "cudaMemcpy documents");
		CU(cudaMemcpy(didx, hidx, nd * sizeof *hidx, cudaMemcpyHostToDevice),
		   "cudaMemcpy order");
		CU(cudaMemcpy(dpoff, hpoff, nd * 8, cudaMemcpyHostToDevice),
		   "cudaMemcpy pool offsets");
		ds_full_kernel<<<(unsigned)((nd + 63) / 64), 64>>>(
			dtext, doff, didx, dpoff, dpool, (uint32_t)nd, groups,
			dout, dfailed);
		CU(cudaGetLastError(), "docstats kernel");
		CU(cudaMemcpy(out + d0, dout, nd * sizeof *out,
			      cudaMemcpyDeviceToHost), "cudaMemcpy output");
	}
	CU(cudaMemcpy(&failed, dfailed, sizeof failed, cudaMemcpyDeviceToHost),
	   "cudaMemcpy flag");
	if (failed)
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM,
				      "docstats: device scratch ran short");
cleanup:
	cudaFree(dfailed);
	cudaFree(dout);
	cudaFree(dpool);
	cudaFree(dpoff);
	cudaFree(didx);
	cudaFree(doff);
	cudaFree(dtext);
	free(hpoff);
	free(hidx);
	free(ord);
	free(cut);
	return rc;
}
