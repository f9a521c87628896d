/* qclass.cu: the CUDA twin of qclass_predict_cpu: one thread per document
 * runs the shared forward pass of qclass_impl.h over device copies of the
 * weights and text. Only expf and rounding may differ from the CPU (nvcc
 * also fuses the dot products' multiply-adds; the summation order is the
 * same).
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "kernels/device.h"
#include "kernels/qclass.h"
#include "kernels/qclass_impl.h"

__global__ void qc_predict_kernel(const float *w, uint32_t nb, uint32_t dim,
				  uint32_t k, const uint8_t *text,
				  const uint64_t *off, uint32_t ndocs,
				  float *probs)
{
	uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= ndocs)
		return;
	float hidden[DSV_QCLASS_MAXDIM];
	qc_forward(w, nb, dim, k, text + (off[i] - off[0]), off[i + 1] - off[i],
		   hidden, probs + (size_t)i * k, NULL, 0);
}

#define KERNEL_NAME "qclass"
#include "kernels/cuda_check.cuh"

extern "C" int qclass_check_batch_(const struct dsv_qclass *m,
				   const uint8_t *text, const uint64_t *off,
				   size_t ndocs);

/* Documents go up in chunks of at most this much text (at least one
 * document) and QC_CHUNK_DOCS documents, so device memory stays bounded
 * and a document index fits the kernel's u32; the weights go up once. */
#define QC_CHUNK_BYTES ((uint64_t)256 << 20)
#define QC_CHUNK_DOCS ((size_t)1 << 22)

extern "C" int qclass_predict_cuda(const struct dsv_qclass *m,
				   const uint8_t *text, const uint64_t *off,
				   size_t ndocs, float *probs)
{
	float *dw = NULL, *dp = NULL;
	uint8_t *dtext = NULL;
	uint64_t *doff = NULL;
	int rc = qclass_check_batch_(m, text, off, ndocs);
	if (rc)
		return rc;
	if (dsv_device_count() <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "qclass: no CUDA device");
	if (ndocs == 0)
		return 0;
	size_t nw = dsv_qclass_nweights(&m->h), k = m->h.nclasses;
	uint64_t max_bytes = 0;
	size_t max_docs = 0;
	for (size_t d0 = 0, d1; d0 < ndocs; d0 = d1) {
		d1 = dsv_chunk_end(off, ndocs, d0, QC_CHUNK_BYTES, QC_CHUNK_DOCS);
		if (off[d1] - off[d0] > max_bytes)
			max_bytes = off[d1] - off[d0];
		if (d1 - d0 > max_docs)
			max_docs = d1 - d0;
	}
	CU(cudaMalloc(&dw, nw * sizeof *dw), "cudaMalloc weights");
	CU(cudaMalloc(&dp, max_docs * k * sizeof *dp), "cudaMalloc probs");
	CU(cudaMalloc(&dtext, max_bytes + 1), "cudaMalloc text");
	CU(cudaMalloc(&doff, (max_docs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMemcpy(dw, m->w, nw * sizeof *dw, cudaMemcpyHostToDevice),
	   "cudaMemcpy weights");
	for (size_t d0 = 0, d1; d0 < ndocs; d0 = d1) {
		d1 = dsv_chunk_end(off, ndocs, d0, QC_CHUNK_BYTES, QC_CHUNK_DOCS);
		size_t nd = d1 - d0;
		CU(dsv_upload_docs(dtext, doff, text, off, d0, d1),
		   "cudaMemcpy documents");
		qc_predict_kernel<<<(unsigned)((nd + 127) / 128), 128>>>(
			dw, m->h.nbuckets, m->h.dim, (uint32_t)k, dtext, doff,
			(uint32_t)nd, dp);
		CU(cudaGetLastError(), "predict kernel");
		CU(cudaMemcpy(probs + d0 * k, dp, nd * k * sizeof *dp,
			      cudaMemcpyDeviceToHost),
		   "cudaMemcpy probs");
	}
cleanup:
	cudaFree(doff);
	cudaFree(dtext);
	cudaFree(dp);
	cudaFree(dw);
	return rc;
}
