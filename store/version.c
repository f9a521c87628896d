/* version.c: reading a dataset version in order. A version is its manifest:
 * entries in order, each repeated `repeat` times, keeping the rows its
 * selection keeps. While the caller works through one shard, a loader thread
 * decodes the next, so export runs at the speed of the slower of the two.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One decoded position of the walk: entry `entry`, its shard and selection. */
struct loaded {
	size_t entry;
	dsv_shard *sh;
	dsv_selection *sel;
	int rc;
	char err[1024];
};

struct dsv_version_iter {
	dsv_store *s;
	const dsv_manifest *m;
	unsigned cols;
	size_t npos;     /* positions: sum of repeats over entries */
	size_t pos;      /* the position being read */
	size_t *entry_of; /* position -> entry */
	struct loaded cur, next;
	pthread_t loader;
	int loading;     /* `next` is being filled by the loader thread */
	uint64_t row;    /* next row to look at in cur */
};

static void loaded_clear(struct loaded *l)
{
	dsv_shard_free(l->sh);
	dsv_selection_free(l->sel);
	memset(l, 0, sizeof *l);
}

static void load(dsv_version_iter *it, struct loaded *l, size_t entry)
{
	const dsv_manifest_entry *e = &it->m->e[entry];
	dsv_oid sel_shard;
	l->entry = entry;
	l->rc = dsv_shard_open(&l->sh, it->s, &e->shard, it->cols);
	if (!l->rc && dsv_shard_rows(l->sh) != e->rows)
		l->rc = dsv_error_set(DSV_ECORRUPT,
				      "manifest entry %zu says %llu rows, shard "
				      "has %llu", entry,
				      (unsigned long long)e->rows,
				      (unsigned long long)dsv_shard_rows(l->sh));
	if (!l->rc && e->has_sel) {
		l->rc = dsv_selection_open(&l->sel, it->s, &e->sel, &sel_shard);
		if (!l->rc && (dsv_oid_cmp(&sel_shard, &e->shard) ||
			       dsv_selection_rows(l->sel) != e->rows))
			l->rc = dsv_error_set(DSV_ECORRUPT,
					      "manifest entry %zu: selection "
					      "does not belong to its shard",
					      entry);
	}
	if (l->rc)
		snprintf(l->err, sizeof l->err, "%s", dsv_error_last());
}

static void *loader_main(void *arg)
{
	dsv_version_iter *it = arg;
	load(it, &it->next, it->next.entry);
	return NULL;
}

/* Starts decoding the position after the current one, if there is one and
 * it is not the same entry again (a repeat reuses the decoded shard). */
static void prefetch(dsv_version_iter *it)
{
	if (it->pos + 1 >= it->npos ||
	    it->entry_of[it->pos + 1] == it->cur.entry)
		return;
	/* The loader reads only this, never it->pos, which moves meanwhile. */
	it->next.entry = it->entry_of[it->pos + 1];
	if (pthread_create(&it->loader, NULL, loader_main, it) == 0)
		it->loading = 1;
}

/* Moves to position it->pos: takes the prefetched shard or decodes here. */
static int enter_position(dsv_version_iter *it)
{
	size_t entry = it->entry_of[it->pos];
	it->row = 0;
	if (it->cur.sh && it->cur.entry == entry && !it->loading)
		goto ready;
	if (it->loading) {
		pthread_join(it->loader, NULL);
		it->loading = 0;
		loaded_clear(&it->cur);
		it->cur = it->next;
		memset(&it->next, 0, sizeof it->next);
	} else {
		loaded_clear(&it->cur);
		load(it, &it->cur, entry);
	}
	if (it->cur.rc)
		return dsv_error_set(it->cur.rc, "%s", it->cur.err);
ready:
	prefetch(it);
	return 0;
}

int dsv_version_iter_new(dsv_version_iter **out, dsv_store *s,
			 const dsv_manifest *m, unsigned cols)
{
	dsv_version_iter *it = NULL;
	size_t npos = 0, k = 0;
	*out = NULL;
	for (size_t i = 0; i < m->n; i++)
		npos += m->e[i].repeat;
	it = calloc(1, sizeof *it);
	if (!it || !(it->entry_of = dsv_malloc((npos ? npos : 1) *
					       sizeof *it->entry_of))) {
		free(it);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n; i++)
		for (uint32_t r = 0; r < m->e[i].repeat; r++)
			it->entry_of[k++] = i;
	it->s = s;
	it->m = m;
	it->cols = cols;
	it->npos = npos;
	it->cur.entry = (size_t)-1;
	if (npos) {
		int rc = enter_position(it);
		if (rc) {
			dsv_version_iter_free(it);
			return rc;
		}
	}
	*out = it;
	return 0;
}

int dsv_version_iter_next(dsv_version_iter *it, dsv_version_rec *rec)
{
	for (;;) {
		if (it->pos >= it->npos)
			return 0;
		uint64_t rows = dsv_shard_rows(it->cur.sh);
		while (it->row < rows && it->cur.sel &&
		       !dsv_selection_get(it->cur.sel, it->row))
			it->row++;
		if (it->row < rows)
			break;
		if (++it->pos >= it->npos)
			return 0;
		int rc = enter_position(it);
		if (rc)
			return rc;
	}
	uint64_t row = it->row++;
	memset(rec, 0, sizeof *rec);
	rec->entry = it->cur.entry;
	rec->row = row;
	if (it->cols & DSV_SHARD_TEXT)
		rec->text = dsv_shard_text(it->cur.sh, row, &rec->text_len);
	if (it->cols & DSV_SHARD_META)
		rec->meta = dsv_shard_meta(it->cur.sh, row, &rec->meta_len);
	if (it->cols & DSV_SHARD_LAYOUT)
		rec->layout = dsv_shard_layout(it->cur.sh, row);
	if (it->cols & DSV_SHARD_HASH) {
		rec->hash = dsv_shard_hash(it->cur.sh, row);
		rec->text_len = dsv_shard_text_len(it->cur.sh, row);
	}
	return 1;
}

void dsv_version_iter_free(dsv_version_iter *it)
{
	if (!it)
		return;
	if (it->loading)
		pthread_join(it->loader, NULL);
	loaded_clear(&it->cur);
	loaded_clear(&it->next);
	free(it->entry_of);
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

int dsv_version_index(dsv_store *s, const dsv_manifest *m,
		      const uint8_t commit[20])
{
	dsv_rhash *hashes = NULL;
	dsv_record_loc *locs = NULL;
	int rc = 0;

	for (size_t i = 0; i < m->n && !rc; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		dsv_shard *sh = NULL;
		dsv_selection *sel = NULL;
		size_t n = 0;
		if ((rc = dsv_shard_open(&sh, s, &e->shard, DSV_SHARD_HASH)))
			break;
		if (e->has_sel)
			rc = dsv_selection_open(&sel, s, &e->sel, NULL);
		uint64_t rows = dsv_shard_rows(sh);
		if (!rc && (!(hashes = dsv_realloc(hashes, (rows ? rows : 1) *
							   sizeof *hashes)) ||
			    !(locs = dsv_realloc(locs, (rows ? rows : 1) *
							   sizeof *locs))))
			rc = DSV_ENOMEM;
		for (uint64_t row = 0; !rc && row < rows; row++) {
			if (sel && !dsv_selection_get(sel, row))
				continue;
			hashes[n] = *dsv_shard_hash(sh, row);
			memcpy(locs[n].commit, commit, 20);
			locs[n].shard = e->shard;
			locs[n].row = row;
			n++;
		}
		if (!rc)
			rc = dsv_index_put_records(s, hashes, locs, n);
		dsv_selection_free(sel);
		dsv_shard_free(sh);
	}
	free(hashes);
	free(locs);
	return rc;
}
