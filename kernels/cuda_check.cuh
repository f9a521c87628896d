/* cuda_check.cuh: the CUDA and cuBLAS error checks the .cu kernels share,
 * how a batch of documents goes to the device in chunks, and the launch
 * and warp helpers. Shall only be included by the .cu files in kernels/. Out of memory is
 * DSV_KERNEL_ENOMEM, every other failure DSV_KERNEL_ENOGPU, with CUDA's own
 * text kept.
 *   CU_RETURN(call, what), BLAS_RETURN(call, what): return the error code.
 *   CU(call, what): sets `rc` and jumps to `cleanup:`; defined where the
 *   including file first defines KERNEL_NAME ("minhash") for the message.
 */
#ifndef DSV_CUDA_CHECK_CUH
#define DSV_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/device.h"

static inline int dsv_cuda_fail(cudaError_t e, const char *who,
				const char *what)
{
	return dsv_kernel_error(e == cudaErrorMemoryAllocation
					? DSV_KERNEL_ENOMEM
					: DSV_KERNEL_ENOGPU,
				"%s: %s: %s", who, what, cudaGetErrorString(e));
}

#define CU_RETURN(call, what)                                                 \
	do {                                                                  \
		cudaError_t e_ = (call);                                      \
		if (e_ != cudaSuccess)                                        \
			return dsv_cuda_fail(e_, "cuda", what);               \
	} while (0)

#define BLAS_RETURN(call, what)                                               \
	do {                                                                  \
		cublasStatus_t s_ = (call);                                   \
		if (s_ != CUBLAS_STATUS_SUCCESS)                              \
			return dsv_kernel_error(DSV_KERNEL_ENOGPU,            \
						"cublas: %s: %s", what,       \
						cublasGetStatusString(s_));   \
	} while (0)

/* Blocks of `threads` threads that cover n elements. */
static inline unsigned nblocks(size_t n, int threads)
{
	return (unsigned)((n + threads - 1) / threads);
}

/* The sum and the maximum of v over the 32 lanes of a warp, in every lane. */
__device__ inline float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ inline float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* The end of the chunk of documents that starts at d0 (off[] as the
 * kernels' batches: ndocs+1 byte offsets): documents while their text stays
 * within max_bytes (at least one), at most max_docs of them. */
static inline size_t dsv_chunk_end(const uint64_t *off, size_t ndocs,
				   size_t d0, uint64_t max_bytes,
				   size_t max_docs)
{
	size_t d1 = d0 + 1;
	while (d1 < ndocs && d1 - d0 < max_docs &&
	       off[d1 + 1] - off[d0] <= max_bytes)
		d1++;
	return d1;
}

/* Copies documents [d0, d1) to the device: their text to dtext and their
 * d1-d0+1 offsets as they are to doff (a kernel subtracts doff[0]). */
static inline cudaError_t dsv_upload_docs(uint8_t *dtext, uint64_t *doff,
					  const uint8_t *text,
					  const uint64_t *off, size_t d0,
					  size_t d1)
{
	uint64_t bytes = off[d1] - off[d0];
	cudaError_t e = cudaSuccess;
	if (bytes)
		e = cudaMemcpy(dtext, text + off[d0], bytes,
			       cudaMemcpyHostToDevice);
	if (e == cudaSuccess)
		e = cudaMemcpy(doff, off + d0, (d1 - d0 + 1) * sizeof *off,
			       cudaMemcpyHostToDevice);
	return e;
}

#ifdef KERNEL_NAME
#define CU(call, what)                                                        \
	do {                                                                  \
		cudaError_t e_ = (call);                                      \
		if (e_ != cudaSuccess) {                                      \
			rc = dsv_cuda_fail(e_, KERNEL_NAME, what);            \
			goto cleanup;                                         \
		}                                                             \
	} while (0)
#endif

#endif
