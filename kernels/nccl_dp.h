/* nccl_dp.h: data-parallel training helpers over NCCL: one process per
 * GPU (launched by mpirun), the gradients summed across ranks with an
 * all-reduce before each AdamW step. The ncclUniqueId is made on rank 0 and
 * handed to the others by the caller (cmd/train.c broadcasts it over MPI),
 * so kernels/ needs no MPI. Built with NCCL only where nvcc and nccl.h
 * exist (Makefile, DSV_HAVE_NCCL); elsewhere every call is
 * DSV_KERNEL_ENOGPU.
 */
#ifndef DSV_KERNELS_NCCL_DP_H
#define DSV_KERNELS_NCCL_DP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSV_DP_ID_BYTES 128 /* sizeof(ncclUniqueId) */

typedef struct dsv_dp dsv_dp;

/* 1 when this build has NCCL. */
int dsv_dp_available(void);
/* Rank 0: a new ncclUniqueId into id. */
int dsv_dp_unique_id(unsigned char id[DSV_DP_ID_BYTES]);
/* Selects CUDA device local_rank % devices (local_rank: this rank's index
 * among the ranks on its machine, so that ranks spread over the machines
 * round-robin still take one device each) and joins the communicator of
 * `world` ranks as `rank`. Call before allocating the model. */
int dsv_dp_new(dsv_dp **out, const unsigned char id[DSV_DP_ID_BYTES],
	       int rank, int world, int local_rank);
/* Sums n floats of device memory across ranks, in place; returns when the
 * sum is complete. */
int dsv_dp_allreduce(dsv_dp *dp, float *dev, size_t n);
void dsv_dp_free(dsv_dp *dp);

#ifdef __cplusplus
}
#endif
#endif
