/* ranks.c: MPI for data-parallel derivations (DESIGN.md section 9): each rank
 * takes a slice of the shards and rank 0 commits. Compiled with MPI only when
 * the Makefile found mpicc (DSV_HAVE_MPI); the binary still runs alone, and
 * calls MPI_Init only when a launcher says it started us.
 */
#include "cmd/ranks.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DSV_HAVE_MPI
#include <mpi.h>
#endif

static int active, my_rank, my_local, world = 1;

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
	MPI_Comm node;
	my_local = my_rank;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, my_rank,
				MPI_INFO_NULL, &node) == MPI_SUCCESS) {
		MPI_Comm_rank(node, &my_local);
		MPI_Comm_free(&node);
	}
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

int ranks_local(void)
{
	return my_local;
}

/* The NVIDIA GPUs the driver lists, without starting CUDA. */
static int driver_gpus(void)
{
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	struct dirent *e;
	int n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

void ranks_own_device(void)
{
	const char *v = getenv("CUDA_VISIBLE_DEVICES");
	char pick[256] = "";
	int n = 0;
	if (!active || world < 2)
		return;
	if (v) {
		/* narrow the list given to its (local % n)-th entry */
		for (const char *p = v; *p; p++)
			n += *p == ',';
		n += *v != 0;
		if (n < 2)
			return;
		const char *p = v;
		for (int k = my_local % n; k > 0; k--)
			p = strchr(p, ',') + 1;
		snprintf(pick, sizeof pick, "%.*s", (int)strcspn(p, ","), p);
		if (!*pick)
			return; /* "0,,1": not ours to guess */
	} else {
		if ((n = driver_gpus()) < 2)
			return;
		snprintf(pick, sizeof pick, "%d", my_local % n);
	}
	setenv("CUDA_VISIBLE_DEVICES", pick, 1);
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
