/* nccl_dp.c: NCCL communicator and gradient all-reduce for data-parallel
 * training (kernels/nccl_dp.h). Compiled with NCCL only when the Makefile
 * finds nvcc and nccl.h (DSV_HAVE_NCCL); otherwise stubs that say so.
 */
#include "kernels/nccl_dp.h"
#include "kernels/device.h"

#include <stdlib.h>
#include <string.h>

#ifdef DSV_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

struct dsv_dp {
	ncclComm_t comm;
	cudaStream_t stream;
	int rank, world;
};

_Static_assert(sizeof(ncclUniqueId) == DSV_DP_ID_BYTES,
	       "ncclUniqueId size changed");

int dsv_dp_available(void)
{
	return 1;
}

int dsv_dp_unique_id(unsigned char id[DSV_DP_ID_BYTES])
{
	ncclUniqueId u;
	ncclResult_t r = ncclGetUniqueId(&u);
	if (r != ncclSuccess)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "ncclGetUniqueId: %s",
					ncclGetErrorString(r));
	memcpy(id, &u, sizeof u);
	return 0;
}

int dsv_dp_new(dsv_dp **out, const unsigned char id[DSV_DP_ID_BYTES],
	       int rank, int world, int local_rank)
{
	int ndev = 0;
	ncclUniqueId u;
	*out = NULL;
	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "rank %d: no CUDA "
					"device", rank);
	cudaError_t ce = cudaSetDevice(local_rank % ndev);
	if (ce != cudaSuccess)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "cudaSetDevice: %s",
					cudaGetErrorString(ce));
	dsv_dp *dp = calloc(1, sizeof *dp);
	if (!dp)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	memcpy(&u, id, sizeof u);
	ncclResult_t r = ncclCommInitRank(&dp->comm, world, u, rank);
	if (r != ncclSuccess) {
		free(dp);
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "ncclCommInitRank: %s",
					ncclGetErrorString(r));
	}
	ce = cudaStreamCreate(&dp->stream);
	if (ce != cudaSuccess) {
		ncclCommDestroy(dp->comm);
		free(dp);
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "cudaStreamCreate: %s",
					cudaGetErrorString(ce));
	}
	dp->rank = rank;
	dp->world = world;
	*out = dp;
	return 0;
}

int dsv_dp_allreduce(dsv_dp *dp, float *dev, size_t n)
{
	/* The default stream holds the backward's kernels; finish them first,
	 * and report a failure of theirs as what it is, not as the sum's. */
	cudaError_t ce = cudaDeviceSynchronize();
	if (ce != cudaSuccess)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "before the all-reduce: %s",
					cudaGetErrorString(ce));
	ncclResult_t r = ncclAllReduce(dev, dev, n, ncclFloat, ncclSum,
				       dp->comm, dp->stream);
	if (r != ncclSuccess)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "ncclAllReduce: %s",
					ncclGetErrorString(r));
	ce = cudaStreamSynchronize(dp->stream);
	if (ce != cudaSuccess)
		return dsv_kernel_error(DSV_KERNEL_ENOGPU, "all-reduce: %s",
					cudaGetErrorString(ce));
	return 0;
}

void dsv_dp_free(dsv_dp *dp)
{
	if (!dp)
		return;
	ncclCommDestroy(dp->comm);
	cudaStreamDestroy(dp->stream);
	free(dp);
}

#else /* !DSV_HAVE_NCCL */

int dsv_dp_available(void)
{
	return 0;
}

int dsv_dp_unique_id(unsigned char id[DSV_DP_ID_BYTES])
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU, "built without NCCL");
}

int dsv_dp_new(dsv_dp **out, const unsigned char id[DSV_DP_ID_BYTES],
	       int rank, int world, int local_rank)
{
	*out = NULL;
	return dsv_kernel_error(DSV_KERNEL_ENOGPU, "built without NCCL");
}

int dsv_dp_allreduce(dsv_dp *dp, float *dev, size_t n)
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU, "built without NCCL");
}

void dsv_dp_free(dsv_dp *dp)
{
	(void)dp;
}
#endif
