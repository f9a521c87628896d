/* ranks.c: MPI for data-parallel derivations (DESIGN.md section 9): each rank
 * takes a slice of the shards and rank 0 commits. Compiled with MPI only when
 * the Makefile found mpicc (DSV_HAVE_MPI); the binary still runs alone, and
 * calls MPI_Init only when a launcher says it started us.
 */
#include "cmd/ranks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef DSV_HAVE_MPI
#include <mpi.h>
#endif

static int active, my_rank, world = 1;

static int launched(int *n)
{
	const char *s = getenv("OMPI_COMM_WORLD_SIZE");
	if (!s)
		s = getenv("PMI_SIZE");
	*n = s ? atoi(s) : 1;
	return s != NULL;
}

#ifdef DSV_HAVE_MPI
static void finish(void)
{
	int done = 0;
	MPI_Finalized(&done);
	if (!done)
		MPI_Finalize();
}
#endif

int ranks_init(int *rank, int *size)
{
	int n;
	if (active || !launched(&n)) {
		*rank = my_rank;
		*size = world;
		return 0;
	}
#ifdef DSV_HAVE_MPI
	int ok = 0;
	MPI_Initialized(&ok);
	if (!ok && MPI_Init(NULL, NULL) != MPI_SUCCESS)
		return -1;
	MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &world);
	active = 1;
	atexit(finish);
	*rank = my_rank;
	*size = world;
	return 0;
#else
	*rank = 0;
	*size = 1;
	return n > 1 ? -1 : 0;
#endif
}

int ranks_active(void)
{
	return active;
}

int ranks_max(int v)
{
#ifdef DSV_HAVE_MPI
	if (active) {
		int out = v;
		MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
		return out;
	}
#endif
	return v;
}

int ranks_gather(const void *buf, size_t len, void ***all, size_t **lens)
{
	*all = NULL;
	*lens = NULL;
	if (!active) {
		void **a = calloc(1, sizeof *a);
		size_t *l = calloc(1, sizeof *l);
		void *copy = malloc(len ? len : 1);
		if (!a || !l || !copy) {
			free(a);
			free(l);
			free(copy);
			return -1;
		}
		memcpy(copy, buf, len);
		a[0] = copy;
		l[0] = len;
		*all = a;
		*lens = l;
		return 0;
	}
#ifdef DSV_HAVE_MPI
	/* Lengths first, then the bytes one rank at a time: payloads are
	 * manifests and stats, far below MPI's int count limit per rank. */
	uint64_t mine = len, *each = NULL;
	int rc = 0;
	if (my_rank == 0 && !(each = calloc((size_t)world, sizeof *each)))
		rc = -1;
	if (MPI_Gather(&mine, 1, MPI_UINT64_T, each, 1, MPI_UINT64_T, 0,
		       MPI_COMM_WORLD) != MPI_SUCCESS)
		rc = -1;
	if (my_rank != 0) {
		if (MPI_Send(buf, (int)len, MPI_BYTE, 0, 7, MPI_COMM_WORLD) !=
		    MPI_SUCCESS)
			rc = -1;
		return rc;
	}
	void **a = calloc((size_t)world, sizeof *a);
	size_t *l = calloc((size_t)world, sizeof *l);
	if (!a || !l)
		rc = -1;
	if (rc) /* out of memory on rank 0: the others are already sending */
		MPI_Abort(MPI_COMM_WORLD, 1);
	for (int r = 0; r < world; r++) {
		size_t n = (size_t)each[r];
		void *p = malloc(n ? n : 1);
		if (!p)
			MPI_Abort(MPI_COMM_WORLD, 1);
		if (r == 0)
			memcpy(p, buf, len);
		else if (MPI_Recv(p, (int)n, MPI_BYTE, r, 7, MPI_COMM_WORLD,
				  MPI_STATUS_IGNORE) != MPI_SUCCESS)
			rc = -1;
		a[r] = p;
		l[r] = n;
	}
	free(each);
	if (rc) {
		for (int r = 0; a && r < world; r++)
			free(a[r]);
		free(a);
		free(l);
		return -1;
	}
	*all = a;
	*lens = l;
	return 0;
#else
	return -1;
#endif
}
