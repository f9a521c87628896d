/* qclass.cu: the CUDA twin of qclass_predict_cpu: one thread per document
 * runs the shared forward pass of qclass_impl.h over device copies of the
 * weights and text. Only expf and rounding may differ from the CPU.
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

extern "C" int qclass_predict_cuda(const struct dsv_qclass *m,
				   const uint8_t *text, const uint64_t *off,
				   size_t ndocs, float *probs)
{
	float *dw = NULL, *dp = NULL;
	uint8_t *dtext = NULL;
	uint64_t *doff = NULL;
	int rc = 0;
	if (dsv_device_count() <= 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "qclass: no CUDA device");
	if (!m || !m->w || m->h.dim > DSV_QCLASS_MAXDIM || m->h.nclasses < 2)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "qclass: bad model");
	if (ndocs == 0)
		return 0;
	size_t nw = dsv_qclass_nweights(&m->h), k = m->h.nclasses;
	uint64_t bytes = off[ndocs] - off[0];
	CU(cudaMalloc(&dw, nw * sizeof *dw), "cudaMalloc weights");
	CU(cudaMalloc(&dp, ndocs * k * sizeof *dp), "cudaMalloc probs");
	CU(cudaMalloc(&dtext, bytes + 1), "cudaMalloc text");
	CU(cudaMalloc(&doff, (ndocs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMemcpy(dw, m->w, nw * sizeof *dw, cudaMemcpyHostToDevice),
	   "cudaMemcpy weights");
	if (bytes)
		CU(cudaMemcpy(dtext, text + off[0], bytes, cudaMemcpyHostToDevice),
		   "cudaMemcpy text");
	CU(cudaMemcpy(doff, off, (ndocs + 1) * 8, cudaMemcpyHostToDevice),
	   "cudaMemcpy offsets");
	qc_predict_kernel<<<(unsigned)((ndocs + 127) / 128), 128>>>(
		dw, m->h.nbuckets, m->h.dim, (uint32_t)k, dtext, doff,
		(uint32_t)ndocs, dp);
	CU(cudaGetLastError(), "predict kernel");
	CU(cudaMemcpy(probs, dp, ndocs * k * sizeof *dp, cudaMemcpyDeviceToHost),
	   "cudaMemcpy probs");
cleanup:
	cudaFree(doff);
	cudaFree(dtext);
	cudaFree(dp);
	cudaFree(dw);
	return rc;
}
