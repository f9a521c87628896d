/* order.c: the order object, the permutation that maps a version's record
 * positions to (manifest entry, shard row) as runs of consecutive rows; its
 * canonical encoding, its bounds-checked decoder and the check against the
 * manifest it belongs to (docs/formats.md, "Order").
 */
#include "internal.h"

#include <stdlib.h>

#define ORD_MAGIC "DSVORD01"
#define ORD_VERSION 1
#define ORD_HEADER 48
#define ORD_RUN 24
/* Caps what a damaged header can make a decoder allocate (2^40 runs). */
#define ORD_MAX_RUNS ((uint64_t)1 << 40)

int dsv_order_new(dsv_order **out, uint64_t entries)
{
	*out = NULL;
	dsv_order *o = dsv_malloc(sizeof *o);
	if (!o)
		return DSV_ENOMEM;
	memset(o, 0, sizeof *o);
	o->entries = entries;
	*out = o;
	return 0;
}

void dsv_order_free(dsv_order *o)
{
	if (!o)
		return;
	free(o->runs);
	free(o);
}

int dsv_order_push_run(dsv_order *o, uint64_t entry, uint64_t start,
		       uint64_t count)
{
	if (!count)
		return 0;
	if (o->nruns) {
		dsv_order_run *r = &o->runs[o->nruns - 1];
		if (r->entry == entry && r->start + r->count == start) {
			r->count += count;
			o->positions += count;
			return 0;
		}
	}
	int rc = DSV_ARRAY_GROW(o->runs, o->cap, o->nruns + 1, 256);
	if (rc)
		return rc;
	o->runs[o->nruns++] = (dsv_order_run){entry, start, count};
	o->positions += count;
	return 0;
}

int dsv_order_push(dsv_order *o, uint64_t entry, uint64_t row)
{
	return dsv_order_push_run(o, entry, row, 1);
}

int dsv_order_write(const dsv_order *o, dsv_store *s, dsv_oid *out,
		    int *is_new)
{
	uint8_t hdr[ORD_HEADER] = {0}, *runs = NULL;
	size_t n = o->nruns * (size_t)ORD_RUN;
	int rc;
	memcpy(hdr, ORD_MAGIC, 8);
	dsv_put32(hdr + 8, ORD_VERSION);
	dsv_put64(hdr + 16, o->entries);
	dsv_put64(hdr + 24, o->nruns);
	dsv_put64(hdr + 32, o->positions);
	if (!(runs = dsv_malloc(n ? n : 1)))
		return DSV_ENOMEM;
	for (size_t i = 0; i < o->nruns; i++) {
		dsv_put64(runs + i * ORD_RUN, o->runs[i].entry);
		dsv_put64(runs + i * ORD_RUN + 8, o->runs[i].start);
		dsv_put64(runs + i * ORD_RUN + 16, o->runs[i].count);
	}
	dsv_section secs[2] = {{hdr, sizeof hdr}, {runs, n}};
	rc = dsv_obj_write(s, DSV_OBJ_ORDER, secs, 2, 0, dsv_store_level(s),
			   out, is_new);
	free(runs);
	return rc;
}

static int bad(const char *what)
{
	return dsv_error_set(DSV_ECORRUPT, "bad order: %s", what);
}

int dsv_order_decode(dsv_order **out, void **secs, const size_t *lens,
		     int nsecs)
{
	const uint8_t *h, *p;
	dsv_order *o = NULL;
	uint64_t entries, nruns, positions, total = 0;
	int rc;

	*out = NULL;
	if (nsecs != 2 || !secs[0] || lens[0] != ORD_HEADER)
		return bad("wrong sections");
	h = secs[0];
	p = secs[1];
	if (memcmp(h, ORD_MAGIC, 8) != 0)
		return bad("bad magic");
	if (dsv_le32(h + 8) != ORD_VERSION || dsv_le32(h + 12) != 0)
		return bad("unsupported version");
	if (dsv_le64(h + 40) != 0)
		return bad("reserved header bytes are set");
	entries = dsv_le64(h + 16);
	nruns = dsv_le64(h + 24);
	positions = dsv_le64(h + 32);
	if (nruns >= ORD_MAX_RUNS || lens[1] != nruns * ORD_RUN ||
	    (nruns && !p))
		return bad("run bytes do not match the run count");
	if ((rc = dsv_order_new(&o, entries)))
		return rc;
	if (nruns && !(o->runs = dsv_malloc(nruns * sizeof *o->runs))) {
		dsv_order_free(o);
		return DSV_ENOMEM;
	}
	o->cap = o->nruns = nruns;
	for (uint64_t i = 0; i < nruns; i++) {
		dsv_order_run *r = &o->runs[i];
		r->entry = dsv_le64(p + i * ORD_RUN);
		r->start = dsv_le64(p + i * ORD_RUN + 8);
		r->count = dsv_le64(p + i * ORD_RUN + 16);
		const char *why = NULL;
		if (r->entry >= entries)
			why = "run names an entry past the last";
		else if (r->count == 0)
			why = "empty run";
		else if (r->start + r->count < r->start)
			why = "run overflows";
		else if (total + r->count < total)
			why = "position count overflows";
		else if (i && r[-1].entry == r->entry &&
			 r[-1].start + r[-1].count == r->start)
			why = "run continues the previous one (not canonical)";
		if (why) {
			dsv_order_free(o);
			return bad(why);
		}
		total += r->count;
	}
	if (total != positions) {
		dsv_order_free(o);
		return bad("runs do not add up to the position count");
	}
	o->positions = positions;
	*out = o;
	return 0;
}

int dsv_order_open(dsv_order **out, dsv_store *s, const dsv_oid *id)
{
	void **secs = NULL;
	size_t *lens = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	int n = 0, rc;

	*out = NULL;
	if ((rc = dsv_obj_load(s, id, DSV_OBJ_ORDER, &secs, &lens, &n)))
		return rc;
	if ((rc = dsv_order_decode(out, secs, lens, n)) == DSV_ECORRUPT) {
		dsv_oid_fmt(hex, id);
		dsv_error_wrap(rc, "object %s: corrupt", hex);
	}
	dsv_obj_sections_free(secs, lens, n);
	return rc;
}

int dsv_order_default(dsv_order **out, dsv_store *s, const dsv_manifest *m,
		      size_t first, size_t last, uint64_t entry_base)
{
	dsv_order *o = NULL;
	dsv_selection *sel = NULL;
	int rc = dsv_order_new(&o, entry_base + (last - first));
	for (size_t i = first; !rc && i < last; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		uint64_t ent = entry_base + (i - first);
		if (e->has_sel && (rc = dsv_selection_open(&sel, s, &e->sel,
							   NULL)))
			break;
		for (uint32_t k = 0; !rc && k < e->repeat; k++) {
			if (!sel) {
				rc = dsv_order_push_run(o, ent, 0, e->rows);
				continue;
			}
			for (uint64_t r = 0; !rc && r < e->rows; r++)
				if (dsv_selection_get(sel, r))
					rc = dsv_order_push(o, ent, r);
		}
		dsv_selection_free(sel);
		sel = NULL;
	}
	if (rc) {
		dsv_order_free(o);
		o = NULL;
	}
	*out = o;
	return rc;
}

int dsv_order_check(const dsv_order *o, dsv_store *s, const dsv_manifest *m)
{
	uint32_t **seen = NULL;
	dsv_selection *sel = NULL;
	int rc = 0;

	if (o->entries != m->n)
		return dsv_error_set(DSV_ECORRUPT, "order is for %llu entries, "
				     "the manifest has %zu",
				     (unsigned long long)o->entries, m->n);
	if (o->positions != dsv_manifest_records(m))
		return dsv_error_set(DSV_ECORRUPT, "order has %llu positions, "
				     "the manifest %llu records",
				     (unsigned long long)o->positions,
				     (unsigned long long)dsv_manifest_records(m));
	if (!(seen = calloc(m->n ? m->n : 1, sizeof *seen)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; i < o->nruns && !rc; i++) {
		const dsv_order_run *r = &o->runs[i];
		const dsv_manifest_entry *e = &m->e[r->entry];
		if (r->start + r->count > e->rows) {
			rc = dsv_error_set(DSV_ECORRUPT, "order run %zu: rows "
					   "%llu..%llu of entry %llu, whose "
					   "shard has %llu rows", i,
					   (unsigned long long)r->start,
					   (unsigned long long)(r->start +
								r->count - 1),
					   (unsigned long long)r->entry + 1,
					   (unsigned long long)e->rows);
			break;
		}
		if (!seen[r->entry] &&
		    !(seen[r->entry] = calloc(e->rows ? e->rows : 1,
					      sizeof **seen))) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			break;
		}
		for (uint64_t k = 0; k < r->count; k++)
			seen[r->entry][r->start + k]++;
	}
	/* Every kept row exactly `repeat` times, every other row never. */
	for (size_t i = 0; i < m->n && !rc; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		if (e->has_sel && (rc = dsv_selection_open(&sel, s, &e->sel,
							   NULL)))
			break;
		for (uint64_t r = 0; r < e->rows; r++) {
			uint32_t want = !sel || dsv_selection_get(sel, r)
						? e->repeat : 0;
			uint32_t got = seen[i] ? seen[i][r] : 0;
			if (got != want) {
				rc = dsv_error_set(DSV_ECORRUPT, "order uses row "
						   "%llu of entry %zu %u times, "
						   "its selection says %u",
						   (unsigned long long)r, i + 1,
						   got, want);
				break;
			}
		}
		dsv_selection_free(sel);
		sel = NULL;
	}
	for (size_t i = 0; i < m->n; i++)
		free(seen[i]);
	free(seen);
	return rc;
}
