/* transfer.c: copying objects from one store into another (fetch, push,
 * clone). A stored file is copied as it is, header and zstd frames, never
 * recompressed, through the destination's tmp/; the copy is checked against
 * its id there before it is renamed into objects/, so a damaged source
 * object never lands. A few threads copy objects side by side; the index
 * learns what landed in one transaction at the end.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK ((size_t)1 << 20)
/* Threads when the caller names no number: the online cores, at most this
 * many (each may hold a large shard's decoded sections while it checks
 * them: about 1.5x its raw size). */
#define DEFAULT_JOBS 8
/* and never more than this many: each may hold an LMDB read transaction at
 * the same time as the others, and LMDB has 126 reader slots by default */
#define MAX_JOBS 64

/* Copies the open file `in` to `out` (both named for messages). */
static int copy_fd(int in, const char *from, int out, const char *to,
		   char *buf, uint64_t *bytes)
{
	for (;;) {
		ssize_t r = read(in, buf, COPY_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dsv_error_set(DSV_EIO, "cannot read '%s': %s",
					     from, strerror(errno));
		if (r == 0)
			return 0;
		for (ssize_t off = 0; off < r;) {
			ssize_t w = dsv_fault_hit(DSV_FAULT_WRITE)
				    ? -1 : write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return dsv_error_set(DSV_EIO, "cannot write "
						     "'%s': %s", to,
						     w < 0 ? strerror(errno)
							   : "short write");
			off += w;
		}
		*bytes += (uint64_t)r;
	}
}

/* The rows the source's index gives an object whose encoding does not hold
 * them (orders, token arrays, weights, blobs): 0 when it has no entry. */
static uint64_t source_rows(dsv_store *src, const dsv_oid *id)
{
	dsv_obj_info info;
	if (dsv_index_get_object(src, id, &info) == 0)
		return info.rows;
	dsv_error_clear();
	return 0;
}

/* Sets the error of a failed copy of object `hex` from the cause in the
 * thread's error, naming the object once ("cannot copy object X: corrupt:
 * ...", not "cannot copy object X: object X: corrupt: ..."). */
static int copy_failed(int rc, const char *hex)
{
	char cause[1024];
	const char *m = dsv_error_last();
	size_t n = strlen(hex);
	if (!strncmp(m, "object ", 7) && !strncmp(m + 7, hex, n) &&
	    !strncmp(m + 7 + n, ": ", 2))
		m += 7 + n + 2;
	snprintf(cause, sizeof cause, "%s", m);
	return dsv_error_set(rc, "cannot copy object %s: %s", hex, cause);
}

/* The index entry of an object `dst` has but its index lacks (a transfer
 * killed before its index transaction), into *info: 1, or 0 when it has
 * one or the object does not check out (fsck's to report). */
static int unindexed(dsv_store *dst, dsv_store *src, const dsv_oid *id,
		     dsv_obj_info *info)
{
	int got = dsv_index_get_object(dst, id, NULL) == DSV_ENOTFOUND &&
		  dsv_obj_verify(dst, id, info) == 0;
	dsv_error_clear();
	if (got && info->type != DSV_OBJ_SHARD &&
	    info->type != DSV_OBJ_SELECTION && info->type != DSV_OBJ_COLUMN)
		info->rows = source_rows(src, id);
	return got;
}

/* Object `id` from `src` into `dst`, up to its rename and its directory's
 * sync; the index is the caller's. 1 when it landed (*info, *bytes: its
 * stored size), 0 when `dst` has it already (freshened), or an error
 * naming it. *index_it says whether the caller has an index entry to add
 * (*info): the object is in objects/, whole and checked, after an error
 * too when its directory's sync failed, or was there but not indexed.
 * `buf` holds COPY_CHUNK bytes. */
static int land(dsv_store *dst, dsv_store *src, const dsv_oid *id, char *buf,
		dsv_obj_info *info, uint64_t *bytes, int *index_it)
{
	char hex[DSV_OID_HEXLEN + 1];
	char *from = NULL, *path = NULL, *tmp = NULL, *dir = NULL;
	struct stat st;
	int in = -1, out = -1, rc = 0;
	uint64_t n = 0;

	*index_it = 0;
	dsv_oid_fmt(hex, id);
	if ((rc = dsv_obj_path(dst, id, &path)))
		goto cleanup;
	if (stat(path, &st) == 0) {
		/* already here: freshened as dsv_obj_write does, so that a gc
		 * that does not see the ref yet keeps it for the grace time */
		utimensat(AT_FDCWD, path, NULL, 0);
		*index_it = unindexed(dst, src, id, info);
		goto cleanup;
	}
	if ((rc = dsv_obj_path(src, id, &from)))
		goto cleanup;
	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
				   "cannot open '%s': %s", from,
				   strerror(errno));
		goto cleanup;
	}
	if ((rc = dsv_obj_stage(dst, hex, &dir, &tmp, &out)) ||
	    (rc = copy_fd(in, from, out, tmp, buf, &n)))
		goto cleanup;
	/* The check comes before the fsync: the pages go to the disk while
	 * it runs (started here; a hint, so its failure is no error), and
	 * the fsync then waits for little. Either way both come before the
	 * rename. The copy, not the source, is what is checked. */
	sync_file_range(out, 0, 0, SYNC_FILE_RANGE_WRITE);
	if ((rc = dsv_obj_verify_file(tmp, id, info)))
		goto cleanup;
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(out) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	close(out);
	out = -1;
	if (info->type != DSV_OBJ_SHARD && info->type != DSV_OBJ_SELECTION &&
	    info->type != DSV_OBJ_COLUMN)
		info->rows = source_rows(src, id);
	if ((rc = dsv_obj_mkdir(dir)))
		goto cleanup;
	if (dsv_fault_hit(DSV_FAULT_RENAME) || rename(tmp, path) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot rename '%s' to '%s': %s",
				   tmp, path, strerror(errno));
		goto cleanup;
	}
	*index_it = 1;
	if ((rc = dsv_fsync_dir(dir)))
		goto cleanup;
	*bytes = n;
	rc = 1;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp && tmp[0] && !*index_it)
		unlink(tmp);
	if (rc < 0)
		copy_failed(rc, hex);
	free(tmp);
	free(dir);
	free(from);
	free(path);
	return rc;
}

int dsv_obj_copy(dsv_store *dst, dsv_store *src, const dsv_oid *id,
		 uint64_t *bytes)
{
	char hex[DSV_OID_HEXLEN + 1], *buf = NULL;
	dsv_obj_info info;
	int rc, index_it;

	dsv_oid_fmt(hex, id);
	if (!(buf = dsv_malloc(COPY_CHUNK)))
		return copy_failed(DSV_ENOMEM, hex);
	rc = land(dst, src, id, buf, &info, bytes, &index_it);
	if (rc >= 0 && index_it) {
		int irc = dsv_index_put_object(dst, id, &info);
		if (irc)
			rc = copy_failed(irc, hex);
	}
	free(buf);
	return rc;
}

/* ---- the pool ------------------------------------------------------------ */

struct pool {
	dsv_store *dst, *src;
	const dsv_oid *ids;
	size_t n;
	const dsv_transfer_opts *o;
	dsv_obj_info *infos; /* of each object that landed */
	uint8_t *landed;     /* 1: object i is to be indexed (landed here,
				or was here unindexed) */
	pthread_mutex_t lock; /* guards what follows */
	size_t next;          /* the next object to take */
	dsv_transfer_stats *st;
	int rc;               /* the first failure, its message in msg */
	char msg[1024];
};

/* Records the first failure (under the lock); the workers take no new
 * object after it. */
static void pool_fail(struct pool *p, int rc)
{
	if (p->rc)
		return;
	p->rc = rc;
	snprintf(p->msg, sizeof p->msg, "%s", dsv_error_last());
}

/* Takes objects in turn until none is left or one failed. The progress
 * callback runs under the lock: calls are serialized, whichever thread
 * makes them. */
static void *worker(void *arg)
{
	struct pool *p = arg;
	char *buf = dsv_malloc(COPY_CHUNK);

	pthread_mutex_lock(&p->lock);
	if (!buf)
		pool_fail(p, DSV_ENOMEM);
	while (!p->rc && p->next < p->n) {
		size_t i = p->next++;
		uint64_t bytes = 0;
		int index_it;
		pthread_mutex_unlock(&p->lock);
		int rc = land(p->dst, p->src, &p->ids[i], buf, &p->infos[i],
			      &bytes, &index_it);
		pthread_mutex_lock(&p->lock);
		p->landed[i] = (uint8_t)index_it;
		if (rc < 0) {
			pool_fail(p, rc);
			break;
		}
		if (rc == 1) {
			p->st->copied++;
			p->st->bytes += bytes;
		} else {
			p->st->present++;
		}
		if (p->o && p->o->progress)
			p->o->progress(p->o->ctx, p->st);
	}
	pthread_mutex_unlock(&p->lock);
	free(buf);
	return NULL;
}

static size_t pool_jobs(const dsv_transfer_opts *o, size_t n)
{
	long j = o && o->jobs > 0 ? o->jobs : sysconf(_SC_NPROCESSORS_ONLN);
	if (!(o && o->jobs > 0) && j > DEFAULT_JOBS)
		j = DEFAULT_JOBS;
	if (j > MAX_JOBS)
		j = MAX_JOBS;
	if (j < 1)
		j = 1;
	return (size_t)j < n ? (size_t)j : n;
}

/* Records what landed in one write transaction, after every worker is
 * done, so the workers never wait on LMDB's one writer; a kill before it
 * leaves objects on disk the index lacks (fsck names them,
 * --rebuild-index adds them), never an entry without its object. */
static int pool_index(struct pool *p, dsv_oid *ids, dsv_obj_info *infos)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->landed[i]) {
			ids[k] = p->ids[i];
			infos[k++] = p->infos[i];
		}
	int rc = dsv_index_put_objects(p->dst, ids, infos, k);
	if (rc)
		dsv_error_wrap(rc, "cannot record %zu copied objects", k);
	return rc;
}

int dsv_store_transfer(dsv_store *dst, dsv_store *src, const dsv_oid *ids,
		       size_t n, const dsv_transfer_opts *o,
		       dsv_transfer_stats *st)
{
	struct pool p = {.dst = dst, .src = src, .ids = ids, .n = n, .o = o,
			 .st = st};
	pthread_t *threads = NULL;
	dsv_oid *lids = NULL;
	dsv_obj_info *linfos = NULL;
	size_t nthreads = 0, jobs = pool_jobs(o, n);
	int rc = 0, locked = 0;

	memset(st, 0, sizeof *st);
	st->objects = n;
	if ((rc = dsv_store_writable(dst)) || !n)
		return rc;
	/* everything the end needs is taken before the first object lands
	 * (and the first dsv_malloc reads DSV_FAULT before a worker can) */
	if (!(p.infos = dsv_malloc(n * sizeof *p.infos)) ||
	    !(p.landed = dsv_malloc(n)) ||
	    !(lids = dsv_malloc(n * sizeof *lids)) ||
	    !(linfos = dsv_malloc(n * sizeof *linfos)) ||
	    (jobs > 1 && !(threads = dsv_malloc((jobs - 1) *
						sizeof *threads)))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	memset(p.landed, 0, n);
	if (pthread_mutex_init(&p.lock, NULL)) {
		rc = dsv_error_set(DSV_ENOMEM, "cannot create a mutex");
		goto cleanup;
	}
	locked = 1;
	/* a thread that cannot start leaves its share to the others: the
	 * caller's own thread is one of them */
	for (size_t t = 0; t + 1 < jobs; t++)
		if (pthread_create(&threads[nthreads], NULL, worker, &p) == 0)
			nthreads++;
	worker(&p);
	for (size_t t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	/* after a failure too: what landed is indexed */
	rc = pool_index(&p, lids, linfos);
	if (p.rc)
		rc = dsv_error_set(p.rc, "%s", p.msg);
cleanup:
	if (locked)
		pthread_mutex_destroy(&p.lock);
	free(threads);
	free(linfos);
	free(lids);
	free(p.landed);
	free(p.infos);
	return rc;
}
