/* ranks.h: the little of MPI that `dsv derive` needs (cmd/ranks.c): start
 * when launched by mpirun, agree on failure, gather each rank's bytes on rank
 * 0. Built without MPI (no mpicc) every call is the one-process answer. Only
 * cmd/ includes this file.
 */
#ifndef DSV_CMD_RANKS_H
#define DSV_CMD_RANKS_H

#include <stddef.h>

/* Initialises MPI when the process was started by mpirun (OMPI_COMM_WORLD_SIZE
 * or PMI_SIZE set) and this build has MPI; otherwise rank 0 of 1. Idempotent.
 * MPI_Finalize runs at exit. Returns 0, or -1 when mpirun launched us but
 * this build has no MPI and the world has more than one rank. */
int ranks_init(int *rank, int *size);
/* 1 when MPI is running in this process. */
int ranks_active(void);
/* This rank's index among the ranks on its machine (MPI_COMM_TYPE_SHARED);
 * 0 without MPI. Ranks spread over machines round-robin still count from 0
 * on each machine, so local % devices gives each a device of its own. */
int ranks_local(void);
/* Under mpirun with several ranks, gives this rank a GPU of its own before
 * anything starts CUDA: CUDA_VISIBLE_DEVICES becomes the (local % n)-th of
 * the n devices it lists, or of the n GPUs the driver lists when unset.
 * Nothing changes with one rank or one device. For processes that use one
 * device from many threads (derive); training selects its device itself. */
void ranks_own_device(void);
/* The largest of every rank's `v` (an agreement on failure); v as is
 * without MPI. */
int ranks_max(int v);
/* Every rank sends buf[0..len); rank 0 receives a malloc'd array of `size`
 * malloc'd buffers with their lengths (rank 0's own copied in), which it
 * frees; other ranks get NULL. Returns 0 or -1 (out of memory, MPI error). */
int ranks_gather(const void *buf, size_t len, void ***all, size_t **lens);

#endif
