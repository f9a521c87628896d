/* minhash.cu: the CUDA twin of minhash_cpu. One thread per document
 * normalises it, splits it into words and hashes them (sequential by
 * nature), then one block per document hashes its shingles and one thread
 * per permutation takes the minimum. The per-document code is minhash_impl.h, the same the
 * CPU path runs, so signatures and band keys are byte-identical.
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/device.h"
#include "kernels/minhash.h"
#include "kernels/minhash_impl.h"

extern "C" int minhash_check_batch_(const uint8_t *text, const uint64_t *off,
				    size_t ndocs);
extern "C" int minhash_check_params_(const struct dsv_minhash_params *p);

#define KERNEL_NAME "minhash"
#include "kernels/cuda_check.cuh"

/* Documents are processed in chunks of at most this much text, so device
 * scratch (about 25 bytes per text byte) stays bounded. */
#define CHUNK_BYTES ((uint64_t)128 << 20)

/* Word arrays (starts, ends, hashes) of document i start at
 * (off[i] - off[0]) + i: it has at most
 * len/2+1 words, so len+1 slots are always enough. */
__global__ void mh_words_kernel(const uint8_t *text, const uint64_t *off,
				uint32_t ndocs, uint8_t *out, uint32_t *ws,
				uint32_t *we, uint64_t *wh, uint32_t *nw)
{
	uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= ndocs)
		return;
	uint64_t base = off[i] - off[0];
	nw[i] = mh_normalize(text + base, off[i + 1] - off[i], out + base,
			     ws + base + i, we + base + i, wh + base + i);
}

__global__ void mh_sig_kernel(const uint64_t *off, uint32_t ndocs,
			      const uint64_t *wh, const uint32_t *nw,
			      uint64_t *sh, uint32_t ngram, uint32_t nbands,
			      uint32_t rows, const uint64_t *a, const uint64_t *b,
			      uint64_t *sig, uint64_t *bands)
{
	uint32_t i = blockIdx.x;
	uint64_t base = off[i] - off[0];
	uint64_t wbase = base + i;
	uint32_t n = nw[i], nsh = mh_nshingles(n, ngram);
	uint32_t nperm = nbands * rows;
	for (uint32_t j = threadIdx.x; j < nsh; j += blockDim.x)
		sh[wbase + j] = mh_shingle(wh + wbase, n, ngram, j);
	__syncthreads();
	uint64_t *s = sig + (uint64_t)i * nperm;
	for (uint32_t k = threadIdx.x; k < nperm; k += blockDim.x) {
		uint64_t ak = a[k], bk = b[k], m = UINT64_MAX;
		for (uint32_t j = 0; j < nsh; j++) {
			uint64_t v = mh_perm64(sh[wbase + j], ak, bk);
			m = v < m ? v : m;
		}
		s[k] = m;
	}
	__syncthreads();
	for (uint32_t j = threadIdx.x; j < nbands; j += blockDim.x)
		bands[(uint64_t)i * nbands + j] =
			nsh ? mh_band_key(s + (uint64_t)j * rows, rows, j) : 0;
}

extern "C" int minhash_cuda(const struct dsv_minhash_params *p,
			    const uint8_t *text, const uint64_t *off,
			    size_t ndocs, uint64_t *sig, uint64_t *bands)
{
	uint64_t *ha = NULL, *hb = NULL;
	uint8_t *dtext = NULL, *dout = NULL;
	uint64_t *doff = NULL, *dsh = NULL, *da = NULL, *db = NULL;
	uint64_t *dsig = NULL, *dbands = NULL, *dwh = NULL;
	uint32_t *dws = NULL, *dwe = NULL, *dnw = NULL;
	uint64_t max_bytes = 0, max_slots = 0;
	size_t nperm, max_nd, max_docs = 0;
	int rc = minhash_check_params_(p);
	if (rc)
		return rc;
	if ((rc = minhash_check_batch_(text, off, ndocs)))
		return rc;
	if (dsv_device_count() <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU,
					"minhash: no CUDA device");
	if (ndocs == 0)
		return 0;
	nperm = (size_t)p->nbands * p->rows;
	/* Documents per chunk: at most 2^20, and signatures of at most
	 * 1 GiB (nperm can reach 4096 * 64). */
	max_nd = ((size_t)1 << 30) / (nperm * 8);
	max_nd = max_nd < 1 ? 1 : max_nd > (1u << 20) ? (1u << 20) : max_nd;
	for (size_t d0 = 0, d1; d0 < ndocs; d0 = d1) {
		d1 = dsv_chunk_end(off, ndocs, d0, CHUNK_BYTES, max_nd);
		uint64_t bytes = off[d1] - off[d0];
		max_bytes = bytes > max_bytes ? bytes : max_bytes;
		max_slots = bytes + (d1 - d0) > max_slots ? bytes + (d1 - d0)
							  : max_slots;
		max_docs = d1 - d0 > max_docs ? d1 - d0 : max_docs;
	}
	ha = (uint64_t *)malloc(nperm * sizeof *ha);
	hb = (uint64_t *)malloc(nperm * sizeof *hb);
	if (!ha || !hb) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "minhash: out of memory");
		goto cleanup;
	}
	if ((rc = dsv_minhash_coeffs(p, ha, hb)))
		goto cleanup;
	CU(cudaMalloc(&da, nperm * 8), "cudaMalloc");
	CU(cudaMalloc(&db, nperm * 8), "cudaMalloc");
	CU(cudaMemcpy(da, ha, nperm * 8, cudaMemcpyHostToDevice), "cudaMemcpy");
	CU(cudaMemcpy(db, hb, nperm * 8, cudaMemcpyHostToDevice), "cudaMemcpy");
	/* Scratch for the largest chunk, allocated once. */
	CU(cudaMalloc(&dtext, max_bytes + 1), "cudaMalloc text");
	CU(cudaMalloc(&dout, max_bytes + 1), "cudaMalloc scratch");
	CU(cudaMalloc(&doff, (max_docs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMalloc(&dws, max_slots * 4), "cudaMalloc words");
	CU(cudaMalloc(&dwe, max_slots * 4), "cudaMalloc words");
	CU(cudaMalloc(&dnw, max_docs * 4), "cudaMalloc words");
	CU(cudaMalloc(&dwh, max_slots * 8), "cudaMalloc word hashes");
	CU(cudaMalloc(&dsh, max_slots * 8), "cudaMalloc shingles");
	CU(cudaMalloc(&dsig, max_docs * nperm * 8), "cudaMalloc signatures");
	CU(cudaMalloc(&dbands, max_docs * p->nbands * 8), "cudaMalloc bands");
	for (size_t d0 = 0, d1; d0 < ndocs; d0 = d1) {
		d1 = dsv_chunk_end(off, ndocs, d0, CHUNK_BYTES, max_nd);
		size_t nd = d1 - d0;
		CU(dsv_upload_docs(dtext, doff, text, off, d0, d1),
		   "cudaMemcpy documents");
		mh_words_kernel<<<(unsigned)((nd + 127) / 128), 128>>>(
			dtext, doff, (uint32_t)nd, dout, dws, dwe, dwh, dnw);
		CU(cudaGetLastError(), "words kernel");
		mh_sig_kernel<<<(unsigned)nd, 128>>>(
			doff, (uint32_t)nd, dwh, dnw, dsh, p->ngram,
			p->nbands, p->rows, da, db, dsig, dbands);
		CU(cudaGetLastError(), "signature kernel");
		if (sig)
			CU(cudaMemcpy(sig + d0 * nperm, dsig, nd * nperm * 8,
				      cudaMemcpyDeviceToHost),
			   "cudaMemcpy signatures");
		if (bands)
			CU(cudaMemcpy(bands + d0 * p->nbands, dbands,
				      nd * p->nbands * 8, cudaMemcpyDeviceToHost),
			   "cudaMemcpy bands");
	}
cleanup:
	cudaFree(dbands);
	cudaFree(dsig);
	cudaFree(dsh);
	cudaFree(dnw);
	cudaFree(dwh);
	cudaFree(dwe);
	cudaFree(dws);
	cudaFree(doff);
	cudaFree(dout);
	cudaFree(dtext);
	cudaFree(db);
	cudaFree(da);
	free(hb);
	free(ha);
	return rc;
}
