/* find.c: which rows of many shards hold one record hash (`dsv blame`). The
 * records index keeps only where a record was first stored, so a copy
 * stored again elsewhere is found by reading hash columns; a few threads
 * read the shards side by side, each shard's hash column alone.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Reading a hash column is a pread, a zstd frame that is mostly stored
 * (hashes do not compress) and one pass over it: a few threads keep the
 * disk and the cores busy; more only queue on the same disk. */
#define FIND_JOBS 8

struct pool {
	dsv_store *s;
	const dsv_oid *ids;
	const dsv_rhash *h;
	dsv_shard_hits *hits;
	size_t n;
	pthread_mutex_t lock; /* guards what follows */
	size_t next;          /* the next shard to take */
	int rc;               /* the failure of the lowest shard index */
	size_t fail_at;
	char msg[1024];
};

/* Takes shards in index order until none is left or one failed. A shard
 * taken before the failing one still finishes, and its failure replaces a
 * later shard's: the error reported is the first shard's that fails, as a
 * reader taking them one by one would report, however the threads ran. */
static void *worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->rc && p->next < p->n) {
		size_t i = p->next++;
		pthread_mutex_unlock(&p->lock);
		int rc = dsv_shard_find(p->s, &p->ids[i], p->h,
					&p->hits[i].rows, &p->hits[i].n);
		pthread_mutex_lock(&p->lock);
		if (rc && (!p->rc || i < p->fail_at)) {
			p->rc = rc;
			p->fail_at = i;
			snprintf(p->msg, sizeof p->msg, "%s", dsv_error_last());
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int dsv_shards_find(dsv_store *s, const dsv_oid *ids, size_t n,
		    const dsv_rhash *h, dsv_shard_hits **out)
{
	struct pool p = {.s = s, .ids = ids, .h = h, .n = n};
	pthread_t threads[FIND_JOBS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t jobs = ncpu < 1 ? 1 : ncpu > FIND_JOBS ? FIND_JOBS : (size_t)ncpu;
	size_t started = 0;
	int rc = 0;

	*out = NULL;
	if (jobs > n)
		jobs = n;
	/* Taken before any thread starts: the first dsv_malloc reads
	 * DSV_FAULT, which no worker may race to do. */
	if (!(p.hits = dsv_malloc((n ? n : 1) * sizeof *p.hits)))
		return DSV_ENOMEM;
	memset(p.hits, 0, (n ? n : 1) * sizeof *p.hits);
	if (pthread_mutex_init(&p.lock, NULL)) {
		free(p.hits);
		return dsv_error_set(DSV_EIO, "cannot make a lock");
	}
	for (; started < jobs; started++)
		if (pthread_create(&threads[started], NULL, worker, &p))
			break;
	/* No thread at all (a process at its limit): read them here. */
	if (!started)
		worker(&p);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	pthread_mutex_destroy(&p.lock);
	if (p.rc) {
		rc = dsv_error_set(p.rc, "%s", p.msg);
		dsv_shard_hits_free(p.hits, n);
		return rc;
	}
	*out = p.hits;
	return 0;
}

void dsv_shard_hits_free(dsv_shard_hits *hits, size_t n)
{
	for (size_t i = 0; hits && i < n; i++)
		free(hits[i].rows);
	free(hits);
}
