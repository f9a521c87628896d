/* cuda_check.cuh: the CUDA and cuBLAS error checks the .cu kernels share.
 * Shall only be included by the .cu files in kernels/. Out of memory is
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
