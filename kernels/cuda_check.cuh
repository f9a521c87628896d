/* cuda_check.cuh: the CUDA error check the batch kernels share. Shall only
 * be included by kernels/*.cu. CU(call, what) needs an `int rc` and a
 * `cleanup:` label in the calling function, and the including file defines
 * KERNEL_NAME ("minhash") for the message.
 */
#ifndef DSV_CUDA_CHECK_CUH
#define DSV_CUDA_CHECK_CUH

#include <cuda_runtime.h>

#include "kernels/device.h"

/* Out of device memory is DSV_KERNEL_ENOMEM, every other failure
 * DSV_KERNEL_ENOGPU, with CUDA's own text kept. */
#define CU(call, what)                                                        \
	do {                                                                  \
		cudaError_t e_ = (call);                                      \
		if (e_ != cudaSuccess) {                                      \
			rc = dsv_kernel_error(e_ == cudaErrorMemoryAllocation \
						      ? DSV_KERNEL_ENOMEM     \
						      : DSV_KERNEL_ENOGPU,    \
					      "%s: %s: %s", KERNEL_NAME,      \
					      what, cudaGetErrorString(e_));  \
			goto cleanup;                                         \
		}                                                             \
	} while (0)

#endif
