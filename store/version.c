/* version.c: reading a dataset version in order. A version is its manifest:
 * entries in order, each repeated `repeat` times, keeping the rows its
 * selection keeps, or, when it names an order object, that order's runs.
 * Decoded shards stay in a small LRU cache, and while the caller works a
 * loader thread decodes the next shard the walk needs, so export runs at the
 * speed of the slower of the two. A shard no later step reads leaves the
 * cache when the walk leaves it and lends its buffers to the next decode.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One stretch of the walk: rows start..start+count-1 of an entry, filtered
 * by the entry's selection (plain entry order) or not (an order's run). */
struct step {
	size_t entry;
	uint64_t start, count;
	int use_sel;
	int last; /* no later step reads this step's shard */
};

/* Decoded shards, least recently used first out. An order alternates
 * between a few shards (the old version's shard at this point of the file
 * and the shards holding what changed), so a small cache decodes each once;
 * it is bounded in entries and in decoded bytes. */
#define CACHE_MAX 16
#define CACHE_BYTES ((uint64_t)512 << 20)
/* How far the prefetcher looks for the next shard not yet decoded. */
#define LOOKAHEAD 4096

struct cslot {
	dsv_oid id;
	dsv_shard *sh;
	uint64_t bytes, used;
};

struct dsv_version_iter {
	dsv_store *s;
	const dsv_manifest *m;
	unsigned cols;
	struct step *steps;
	size_t nsteps, si;  /* the step being read */
	uint64_t row, end;  /* next row and end of the current step */
	dsv_shard *sh;      /* the current step's shard (in the cache) */
	dsv_selection *sel; /* the last selection opened, of entry sel_entry */
	size_t sel_entry;
	int filter;         /* the current step keeps only sel's rows */
	struct cslot cache[CACHE_MAX];
	size_t ncache;
	uint64_t tick, cached_bytes;
	/* The loader thread decodes load_id into load_sh; `done` is set when
	 * it has finished. */
	pthread_t loader;
	int loading;
	volatile int done;
	dsv_oid load_id;
	dsv_shard *load_sh;
	dsv_shard *load_spare; /* the loader decodes into its buffers */
	/* A shard the walk is done with, kept for its buffers: the next
	 * decode reuses them rather than fault in fresh pages. */
	dsv_shard *spare;
	uint64_t load_bytes;
	int load_rc;
	char load_err[1024];
	size_t ahead;       /* steps before this one have been looked at */
};

static void decode(dsv_version_iter *it, const dsv_oid *id, dsv_shard *spare,
		   dsv_shard **sh, uint64_t *bytes, int *rc, char *err,
		   size_t errlen)
{
	dsv_obj_info info;
	*rc = dsv_shard_open_reuse(sh, it->s, id, it->cols, spare);
	if (*rc) {
		snprintf(err, errlen, "%s", dsv_error_last());
		return;
	}
	uint64_t rows = dsv_shard_rows(*sh);
	if (!(it->cols & (DSV_SHARD_TEXT | DSV_SHARD_META)))
		*bytes = rows * 32;
	else if (dsv_index_get_object(it->s, id, &info) == 0)
		*bytes = info.raw_size;
	else
		*bytes = DSV_SHARD_TARGET_BYTES;
}

static void *loader_main(void *arg)
{
	dsv_version_iter *it = arg;
	dsv_shard *spare = it->load_spare;
	it->load_spare = NULL;
	decode(it, &it->load_id, spare, &it->load_sh, &it->load_bytes,
	       &it->load_rc, it->load_err, sizeof it->load_err);
	__atomic_store_n(&it->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static struct cslot *cache_find(dsv_version_iter *it, const dsv_oid *id)
{
	for (size_t i = 0; i < it->ncache; i++)
		if (dsv_oid_cmp(&it->cache[i].id, id) == 0)
			return &it->cache[i];
	return NULL;
}

/* Adds a decoded shard, evicting the least recently used ones (never the
 * shard being read) to stay within the bounds. */
static struct cslot *cache_put(dsv_version_iter *it, const dsv_oid *id,
			       dsv_shard *sh, uint64_t bytes)
{
	while (it->ncache == CACHE_MAX ||
	       (it->ncache >= 2 && it->cached_bytes + bytes > CACHE_BYTES)) {
		size_t lru = (size_t)-1;
		for (size_t i = 0; i < it->ncache; i++)
			if (it->cache[i].sh != it->sh &&
			    (lru == (size_t)-1 ||
			     it->cache[i].used < it->cache[lru].used))
				lru = i;
		if (lru == (size_t)-1)
			break;
		dsv_shard_free(it->cache[lru].sh);
		it->cached_bytes -= it->cache[lru].bytes;
		it->cache[lru] = it->cache[--it->ncache];
	}
	struct cslot *c = &it->cache[it->ncache++];
	c->id = *id;
	c->sh = sh;
	c->bytes = bytes;
	c->used = ++it->tick;
	it->cached_bytes += bytes;
	return c;
}

/* Waits for the loader and files what it decoded. */
static int join_loader(dsv_version_iter *it)
{
	if (!it->loading)
		return 0;
	pthread_join(it->loader, NULL);
	it->loading = 0;
	if (it->load_rc)
		return dsv_error_set(it->load_rc, "%s", it->load_err);
	if (!cache_find(it, &it->load_id))
		cache_put(it, &it->load_id, it->load_sh, it->load_bytes);
	else
		dsv_shard_free(it->load_sh);
	it->load_sh = NULL;
	return 0;
}

/* Starts decoding the next shard the walk will need that is not cached. */
static void prefetch(dsv_version_iter *it, const dsv_oid *skip)
{
	if (it->loading) {
		if (!__atomic_load_n(&it->done, __ATOMIC_ACQUIRE))
			return;
		/* An error is reported when the walk reaches that shard. */
		if (join_loader(it))
			dsv_error_clear();
	}
	if (it->ahead <= it->si)
		it->ahead = it->si + 1;
	for (; it->ahead < it->nsteps && it->ahead < it->si + LOOKAHEAD;
	     it->ahead++) {
		const dsv_oid *id = &it->m->e[it->steps[it->ahead].entry].shard;
		if (cache_find(it, id) || (skip && dsv_oid_cmp(id, skip) == 0))
			continue;
		it->load_id = *id;
		it->load_spare = it->spare;
		it->spare = NULL;
		it->done = 0;
		if (pthread_create(&it->loader, NULL, loader_main, it) == 0) {
			it->loading = 1;
		} else {
			it->spare = it->load_spare;
			it->load_spare = NULL;
		}
		return;
	}
}

/* The walk leaves step it->si: when no later step reads its shard, the
 * shard leaves the cache and becomes the spare, so a long walk holds only
 * the shards it still needs and decodes into memory already mapped. */
static void leave_step(dsv_version_iter *it)
{
	const dsv_oid *id = &it->m->e[it->steps[it->si].entry].shard;
	struct cslot *c;
	if (!it->steps[it->si].last || !(c = cache_find(it, id)))
		return;
	if (c->sh == it->sh)
		it->sh = NULL;
	dsv_shard_free(it->spare);
	it->spare = c->sh;
	it->cached_bytes -= c->bytes;
	*c = it->cache[--it->ncache];
}

/* Makes it->sh the shard of step it->si, from the cache, the loader or a
 * decode here, and checks the step against it. */
static int enter_step(dsv_version_iter *it)
{
	const struct step *st = &it->steps[it->si];
	const dsv_manifest_entry *e = &it->m->e[st->entry];
	struct cslot *c = cache_find(it, &e->shard);
	dsv_oid sel_shard;
	int rc = 0;
	if (!c && it->loading && dsv_oid_cmp(&it->load_id, &e->shard) == 0) {
		if ((rc = join_loader(it)))
			return rc;
		c = cache_find(it, &e->shard);
	}
	if (!c) {
		dsv_shard *sh = NULL;
		uint64_t bytes = 0;
		char err[1024];
		dsv_shard *spare = it->spare;
		it->spare = NULL;
		/* the loader starts on the next shard while this one decodes
		 * here (the first shard of a walk: both cores decode) */
		prefetch(it, &e->shard);
		decode(it, &e->shard, spare, &sh, &bytes, &rc, err, sizeof err);
		if (rc)
			return dsv_error_set(rc, "%s", err);
		c = cache_put(it, &e->shard, sh, bytes);
	}
	c->used = ++it->tick;
	it->sh = c->sh;
	if (dsv_shard_rows(it->sh) != e->rows)
		return dsv_error_set(DSV_ECORRUPT,
				     "manifest entry %zu says %llu rows, shard "
				     "has %llu", st->entry,
				     (unsigned long long)e->rows,
				     (unsigned long long)dsv_shard_rows(it->sh));
	if (st->start > e->rows || st->count > e->rows - st->start)
		return dsv_error_set(DSV_ECORRUPT,
				     "order run past the end of entry %zu",
				     st->entry + 1);
	if (st->use_sel && e->has_sel && it->sel_entry != st->entry) {
		dsv_selection_free(it->sel);
		it->sel = NULL;
		it->sel_entry = (size_t)-1;
		if ((rc = dsv_selection_open(&it->sel, it->s, &e->sel,
					     &sel_shard)))
			return rc;
		if (dsv_oid_cmp(&sel_shard, &e->shard) ||
		    dsv_selection_rows(it->sel) != e->rows)
			return dsv_error_set(DSV_ECORRUPT,
					     "manifest entry %zu: selection "
					     "does not belong to its shard",
					     st->entry);
		it->sel_entry = st->entry;
	}
	it->filter = st->use_sel && e->has_sel;
	it->row = st->start;
	it->end = st->start + st->count;
	prefetch(it, NULL);
	return 0;
}

static int add_step(dsv_version_iter *it, size_t *cap, size_t entry,
		    uint64_t start, uint64_t count, int use_sel)
{
	if (it->nsteps == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		struct step *p = dsv_realloc(it->steps, c * sizeof *p);
		if (!p)
			return DSV_ENOMEM;
		it->steps = p;
		*cap = c;
	}
	it->steps[it->nsteps++] = (struct step){entry, start, count, use_sel,
						0};
	return 0;
}

struct use {
	const dsv_oid *id;
	size_t step;
};

static int cmp_use(const void *a, const void *b)
{
	const struct use *x = a, *y = b;
	int c = dsv_oid_cmp(x->id, y->id);
	return c ? c : x->step < y->step ? -1 : x->step > y->step;
}

/* Marks each step after which the walk never reads its shard again. */
static int mark_last(dsv_version_iter *it)
{
	struct use *u = NULL;
	if (!it->nsteps)
		return 0;
	if (!(u = dsv_malloc(it->nsteps * sizeof *u)))
		return DSV_ENOMEM;
	for (size_t i = 0; i < it->nsteps; i++)
		u[i] = (struct use){&it->m->e[it->steps[i].entry].shard, i};
	qsort(u, it->nsteps, sizeof *u, cmp_use);
	for (size_t i = 0; i < it->nsteps; i++)
		if (i + 1 == it->nsteps || dsv_oid_cmp(u[i].id, u[i + 1].id))
			it->steps[u[i].step].last = 1;
	free(u);
	return 0;
}

/* The walk: an order's runs, or every entry `repeat` times. */
static int plan(dsv_version_iter *it)
{
	const dsv_manifest *m = it->m;
	dsv_order *o = NULL;
	size_t cap = 0;
	int rc = 0;
	if (!m->has_order) {
		for (size_t i = 0; i < m->n && !rc; i++)
			for (uint32_t r = 0; r < m->e[i].repeat && !rc; r++)
				rc = add_step(it, &cap, i, 0, m->e[i].rows, 1);
		return rc;
	}
	if ((rc = dsv_order_open(&o, it->s, &m->order)))
		return rc;
	if (o->entries != m->n)
		rc = dsv_error_set(DSV_ECORRUPT, "order is for %llu entries, "
				   "the manifest has %zu",
				   (unsigned long long)o->entries, m->n);
	for (size_t i = 0; i < o->nruns && !rc; i++)
		rc = add_step(it, &cap, (size_t)o->runs[i].entry,
			      o->runs[i].start, o->runs[i].count, 0);
	dsv_order_free(o);
	return rc;
}

int dsv_version_iter_new(dsv_version_iter **out, dsv_store *s,
			 const dsv_manifest *m, unsigned cols)
{
	dsv_version_iter *it = NULL;
	int rc;
	*out = NULL;
	if (!(it = calloc(1, sizeof *it)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	it->s = s;
	it->m = m;
	it->cols = cols;
	it->sel_entry = (size_t)-1;
	if ((rc = plan(it)) || (rc = mark_last(it)) ||
	    (it->nsteps && (rc = enter_step(it)))) {
		dsv_version_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

int dsv_version_iter_next(dsv_version_iter *it, dsv_version_rec *rec)
{
	const struct step *st;
	for (;;) {
		if (it->si >= it->nsteps)
			return 0;
		st = &it->steps[it->si];
		if (it->filter)
			while (it->row < it->end &&
			       !dsv_selection_get(it->sel, it->row))
				it->row++;
		if (it->row < it->end)
			break;
		leave_step(it);
		if (++it->si >= it->nsteps)
			return 0;
		int rc = enter_step(it);
		if (rc)
			return rc;
	}
	uint64_t row = it->row++;
	memset(rec, 0, sizeof *rec);
	rec->entry = st->entry;
	rec->row = row;
	if (it->cols & DSV_SHARD_TEXT)
		rec->text = dsv_shard_text(it->sh, row, &rec->text_len);
	if (it->cols & DSV_SHARD_META)
		rec->meta = dsv_shard_meta(it->sh, row, &rec->meta_len);
	if (it->cols & DSV_SHARD_LAYOUT)
		rec->layout = dsv_shard_layout(it->sh, row);
	if (it->cols & DSV_SHARD_HASH) {
		rec->hash = dsv_shard_hash(it->sh, row);
		rec->text_len = dsv_shard_text_len(it->sh, row);
	}
	return 1;
}

void dsv_version_iter_free(dsv_version_iter *it)
{
	if (!it)
		return;
	if (it->loading) {
		pthread_join(it->loader, NULL);
		dsv_shard_free(it->load_sh);
		dsv_shard_free(it->load_spare);
	}
	dsv_shard_free(it->spare);
	for (size_t i = 0; i < it->ncache; i++)
		dsv_shard_free(it->cache[i].sh);
	dsv_selection_free(it->sel);
	free(it->steps);
	free(it);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return dsv_error_set(DSV_EIO, "write failed: %s",
					     strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Plain text: each text, then a newline unless it already ends in one. */
static int format_text(dsv_buf *b, const dsv_version_rec *r)
{
	int rc = dsv_buf_append(b, r->text, r->text_len);
	if (!rc && (r->text_len == 0 || r->text[r->text_len - 1] != '\n'))
		rc = dsv_buf_append(b, "\n", 1);
	return rc;
}

int dsv_version_export(dsv_store *s, const dsv_manifest *m, int format,
		       uint64_t limit, int fd, uint64_t *bytes_out)
{
	enum { FLUSH_AT = 4 << 20 };
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	dsv_buf b = {0};
	uint64_t n = 0, written = 0;
	int rc = dsv_version_iter_new(&it, s, m,
				      DSV_SHARD_TEXT | DSV_SHARD_META |
					      DSV_SHARD_LAYOUT);
	while (!rc && (!limit || n < limit) &&
	       (rc = dsv_version_iter_next(it, &r)) == 1) {
		rc = format == DSV_EXPORT_TEXT
			     ? format_text(&b, &r)
			     : dsv_jsonl_format(&b, r.text, r.text_len, r.meta,
						r.meta_len, r.layout);
		n++;
		if (!rc && b.len >= FLUSH_AT) {
			rc = write_all(fd, b.buf, b.len);
			written += b.len;
			b.len = 0;
		}
	}
	if (rc >= 0 && b.len) {
		rc = write_all(fd, b.buf, b.len);
		written += b.len;
	}
	if (bytes_out)
		*bytes_out += written;
	dsv_buf_free(&b);
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* Records per index transaction: each commit of one syncs the index, so
 * fewer, larger batches are faster; the cap bounds memory (76 bytes a row). */
#define INDEX_BATCH ((size_t)4 << 20)

int dsv_version_index(dsv_store *s, const dsv_manifest *m,
		      const uint8_t commit[20])
{
	dsv_rhash *hashes = NULL;
	dsv_record_loc *locs = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < m->n && !rc; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		dsv_shard *sh = NULL;
		dsv_selection *sel = NULL;
		if ((rc = dsv_shard_open(&sh, s, &e->shard, DSV_SHARD_HASH)))
			break;
		if (e->has_sel)
			rc = dsv_selection_open(&sel, s, &e->sel, NULL);
		uint64_t rows = dsv_shard_rows(sh);
		if (!rc && n + rows > cap) {
			size_t want = n + rows > 2 * cap ? n + rows : 2 * cap;
			dsv_rhash *h = dsv_realloc(hashes, want * sizeof *h);
			if (h)
				hashes = h;
			dsv_record_loc *l = h ? dsv_realloc(locs, want * sizeof *l)
					      : NULL;
			if (l)
				locs = l;
			if (!h || !l)
				rc = DSV_ENOMEM;
			else
				cap = want;
		}
		for (uint64_t row = 0; !rc && row < rows; row++) {
			if (sel && !dsv_selection_get(sel, row))
				continue;
			hashes[n] = *dsv_shard_hash(sh, row);
			memcpy(locs[n].commit, commit, 20);
			locs[n].shard = e->shard;
			locs[n].row = row;
			n++;
		}
		if (!rc && (n >= INDEX_BATCH || i + 1 == m->n)) {
			rc = dsv_index_put_records(s, hashes, locs, n);
			n = 0;
		}
		dsv_selection_free(sel);
		dsv_shard_free(sh);
	}
	free(hashes);
	free(locs);
	return rc;
}
