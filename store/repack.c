/* repack.c: rewriting a version's records into dense new shards, in order,
 * so reading it no longer hops between many partly used shards. The records
 * (text, meta, layout, hence hashes and export bytes) do not change; only
 * where they are stored does. Also the threshold at which a commit repacks
 * on its own (docs/formats.md, "Repacking").
 */
#include "internal.h"

#include <stdlib.h>

/* Entries live at once (between their first and last use in the order)
 * beyond which a commit repacks its sparse entries. */
#define DSV_REPACK_MAX_LIVE 12

struct span {
	uint64_t first, last; /* positions of first and last use */
	uint64_t used;        /* positions drawn from the entry */
	int seen;
};

/* First use, last use and count of each entry along the order's runs, and
 * the largest number of entries live at one position. */
static int spans_of(dsv_store *s, const dsv_manifest *m, struct span **out,
		    uint64_t *max_live)
{
	dsv_order *o = NULL;
	struct span *sp = NULL;
	int64_t *delta = NULL;
	int rc;
	*out = NULL;
	*max_live = m->n ? 1 : 0;
	if (!(sp = calloc(m->n ? m->n : 1, sizeof *sp)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (!m->has_order) {
		uint64_t pos = 0;
		for (size_t i = 0; i < m->n; i++) {
			uint64_t c = m->e[i].kept * m->e[i].repeat;
			sp[i] = (struct span){pos, pos + (c ? c - 1 : 0), c, 1};
			pos += c;
		}
		*out = sp;
		return 0;
	}
	if ((rc = dsv_order_open(&o, s, &m->order)))
		goto cleanup;
	if (o->entries != m->n) {
		rc = dsv_error_set(DSV_ECORRUPT, "order does not fit its manifest");
		goto cleanup;
	}
	uint64_t pos = 0;
	for (size_t i = 0; i < o->nruns; i++) {
		struct span *x = &sp[o->runs[i].entry];
		if (!x->seen)
			x->first = pos, x->seen = 1;
		x->last = pos + o->runs[i].count - 1;
		x->used += o->runs[i].count;
		pos += o->runs[i].count;
	}
	/* Live entries over runs: +1 at an entry's first run, -1 after its
	 * last; indexes are run numbers, found again by position. */
	if (!(delta = calloc(o->nruns + 1, sizeof *delta))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	pos = 0;
	for (size_t i = 0; i < o->nruns; i++) {
		const struct span *x = &sp[o->runs[i].entry];
		uint64_t end = pos + o->runs[i].count - 1;
		if (x->first == pos)
			delta[i]++;
		if (x->last == end)
			delta[i + 1]--;
		pos = end + 1;
	}
	int64_t live = 0;
	for (size_t i = 0; i < o->nruns; i++) {
		live += delta[i];
		if (live > 0 && (uint64_t)live > *max_live)
			*max_live = (uint64_t)live;
	}
	*out = sp;
	sp = NULL;
	rc = 0;
cleanup:
	free(sp);
	free(delta);
	dsv_order_free(o);
	return rc;
}

/* Writes the builder as the k-th new shard. */
static int flush(dsv_store *s, dsv_shard_builder *b, int level, dsv_oid **ids,
		 uint64_t **rows, size_t *n, dsv_repack_stats *st)
{
	dsv_obj_info info;
	dsv_oid id;
	int is_new = 0, rc;
	dsv_oid *pi = dsv_realloc(*ids, (*n + 1) * sizeof *pi);
	if (!pi)
		return DSV_ENOMEM;
	*ids = pi;
	uint64_t *pr = dsv_realloc(*rows, (*n + 1) * sizeof *pr);
	if (!pr)
		return DSV_ENOMEM;
	*rows = pr;
	if ((rc = dsv_shard_builder_write(b, s, level, &id, &is_new)))
		return rc;
	(*ids)[*n] = id;
	(*rows)[(*n)++] = dsv_shard_builder_rows(b);
	if (is_new) {
		st->objects_new++;
		if (dsv_index_get_object(s, &id, &info) == 0)
			st->bytes_written += info.stored_size;
	}
	dsv_shard_builder_reset(b);
	return 0;
}

static int repack_entries(dsv_store *s, const dsv_manifest *m,
			  const uint8_t *rewrite, const dsv_repack_opts *o,
			  dsv_manifest **out, dsv_repack_stats *st)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	dsv_shard_builder *b = NULL;
	dsv_vbuild *v = NULL;
	dsv_vbuild_stats vs;
	dsv_oid *ids = NULL;
	uint64_t *rows = NULL, shard_bytes = o->shard_bytes ? o->shard_bytes
						       : DSV_SHARD_TARGET_BYTES;
	size_t nnew = 0;
	int level = o->level ? o->level : dsv_store_level(s);
	int rc;

	*out = NULL;
	if ((rc = dsv_shard_builder_new(&b)) || (rc = dsv_vbuild_new(&v, s)) ||
	    (rc = dsv_version_iter_new(&it, s, m, DSV_SHARD_ALL)))
		goto cleanup;
	while ((rc = dsv_version_iter_next(it, &r)) == 1) {
		const dsv_manifest_entry *e = &m->e[r.entry];
		st->records++;
		if (!rewrite[r.entry]) {
			if ((rc = dsv_vbuild_ref(v, &e->shard, e->rows, r.row)))
				goto cleanup;
			continue;
		}
		if ((rc = dsv_vbuild_add_new(v, nnew,
					     dsv_shard_builder_rows(b))) ||
		    (rc = dsv_shard_builder_add(b, r.text, r.text_len, r.meta,
						r.meta_len, r.layout, r.hash)))
			goto cleanup;
		st->records_moved++;
		if (dsv_shard_builder_bytes(b) >= shard_bytes &&
		    (rc = flush(s, b, level, &ids, &rows, &nnew, st)))
			goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	if (dsv_shard_builder_rows(b) &&
	    (rc = flush(s, b, level, &ids, &rows, &nnew, st)))
		goto cleanup;
	if ((rc = dsv_manifest_new(out)) ||
	    (rc = dsv_vbuild_finish(v, ids, rows, nnew, *out, &vs)))
		goto cleanup;
	st->objects_new += vs.objects_new;
	st->bytes_written += vs.bytes_written;
	st->entries_after = (*out)->n;
cleanup:
	if (rc) {
		dsv_manifest_free(*out);
		*out = NULL;
	}
	dsv_version_iter_free(it);
	dsv_shard_builder_free(b);
	dsv_vbuild_free(v);
	free(ids);
	free(rows);
	return rc;
}

static int no_columns(const dsv_manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].ncols)
			return 0;
	return 1;
}

int dsv_version_repack(dsv_store *s, const dsv_manifest *m,
		       const dsv_repack_opts *o, dsv_manifest **out,
		       dsv_repack_stats *st)
{
	struct span *sp = NULL;
	uint8_t *rewrite = NULL;
	int rc;
	memset(st, 0, sizeof *st);
	*out = NULL;
	st->entries_before = m->n;
	if (!no_columns(m))
		return dsv_error_set(DSV_EINVAL, "the version has columns; "
				     "repacking annotated versions is not "
				     "supported yet");
	if ((rc = spans_of(s, m, &sp, &st->max_live_before)))
		return rc;
	if (!(rewrite = calloc(m->n ? m->n : 1, 1))) {
		free(sp);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n; i++) {
		uint64_t span = sp[i].seen ? sp[i].last - sp[i].first + 1 : 0;
		/* Sparse: fewer than half of the positions it spans. */
		rewrite[i] = o->full || (span && 2 * sp[i].used < span);
	}
	rc = repack_entries(s, m, rewrite, o, out, st);
	free(sp);
	free(rewrite);
	return rc;
}

int dsv_version_autorepack(dsv_store *s, const dsv_manifest *m, int level,
			   dsv_manifest **out, dsv_repack_stats *st)
{
	struct span *sp = NULL;
	uint64_t live = 0, max_live = DSV_REPACK_MAX_LIVE;
	const char *cfg = dsv_store_config(s, "repack.max_live");
	int rc;
	memset(st, 0, sizeof *st);
	*out = NULL;
	if (cfg) {
		char *end;
		unsigned long long v = strtoull(cfg, &end, 10);
		if (*cfg == '-' || end == cfg || *end)
			return dsv_error_set(DSV_EINVAL, "config "
					     "'repack.max_live': expected a "
					     "number, not '%s'", cfg);
		max_live = v;
	}
	if (!m->has_order || !max_live || !no_columns(m))
		return 0;
	if ((rc = spans_of(s, m, &sp, &live)))
		return rc;
	free(sp);
	st->max_live_before = live;
	if (live <= max_live)
		return 0;
	dsv_repack_opts o = {.level = level};
	return dsv_version_repack(s, m, &o, out, st);
}
