/* docstats.cu: the CUDA twin of docstats_basic_cpu. One block per
 * document; threads stride over its bytes and sum the per-byte terms of
 * docstats_impl.h in shared memory, so counts equal the CPU's exactly.
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/docstats_impl.h"

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
	if (ndocs == 0)
		return 0;
	for (size_t i = 0; i < ndocs; i++)
		if (off[i + 1] < off[i])
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"docstats: bad offsets at document %zu",
						i);
	uint64_t bytes = off[ndocs] - off[0];
	CU(cudaMalloc(&dtext, bytes + 1), "cudaMalloc text");
	CU(cudaMalloc(&doff, (ndocs + 1) * 8), "cudaMalloc offsets");
	CU(cudaMalloc(&dout, ndocs * sizeof *out), "cudaMalloc output");
	if (bytes)
		CU(cudaMemcpy(dtext, text + off[0], bytes, cudaMemcpyHostToDevice),
		   "cudaMemcpy text");
	CU(cudaMemcpy(doff, off, (ndocs + 1) * 8, cudaMemcpyHostToDevice),
	   "cudaMemcpy offsets");
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
