/* vbuild.c: building a version's manifest from its records in order, each a
 * row of a stored shard or of a shard being written. Entries come in order of
 * first use, one per shard (a row used again opens another entry, a "layer",
 * on the same shard), so an unchanged re-commit gives the old manifest back;
 * an order object is written only when entry order would differ.
 */
#include "internal.h"

#include <stdlib.h>

#define NONE ((size_t)-1)

struct ventry {
	int is_new;
	size_t k;         /* new shard number, when is_new */
	dsv_oid shard;    /* stored shard, when not */
	uint64_t rows;    /* its rows (stored shards) */
	uint8_t *bits;    /* rows used (stored shards) */
	uint64_t kept;    /* rows used */
	size_t next;      /* next layer on the same shard, or NONE */
};

struct dsv_vbuild {
	dsv_store *s;
	struct ventry *e;
	size_t n, cap;
	size_t *tab;      /* stored shard -> first layer's entry + 1; 0: free */
	size_t tabcap;
	size_t *new_entry; /* new shard k -> its entry */
	size_t nnew, newcap;
	dsv_order *order; /* over this builder's entries, from 0 */
	int ordered;      /* the records so far are in plain entry order */
	size_t cur;
	uint64_t last_row;
};

int dsv_vbuild_new(dsv_vbuild **out, dsv_store *s)
{
	dsv_vbuild *v = NULL;
	*out = NULL;
	if (!(v = dsv_malloc(sizeof *v)))
		return DSV_ENOMEM;
	memset(v, 0, sizeof *v);
	v->s = s;
	v->ordered = 1;
	v->cur = NONE;
	v->tabcap = 256;
	if (!(v->tab = calloc(v->tabcap, sizeof *v->tab)) ||
	    dsv_order_new(&v->order, 0)) {
		dsv_vbuild_free(v);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	*out = v;
	return 0;
}

void dsv_vbuild_free(dsv_vbuild *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		free(v->e[i].bits);
	free(v->e);
	free(v->tab);
	free(v->new_entry);
	dsv_order_free(v->order);
	free(v);
}

uint64_t dsv_vbuild_records(const dsv_vbuild *v)
{
	return v->order->positions;
}

size_t dsv_vbuild_last_entry(const dsv_vbuild *v)
{
	return v->cur;
}

static size_t slot_of(const dsv_oid *id, size_t mask)
{
	uint64_t k;
	memcpy(&k, id->b, sizeof k); /* SHA-256 bytes are uniform */
	return (size_t)k & mask;
}

static int tab_grow(dsv_vbuild *v)
{
	size_t cap = v->tabcap * 2, *t = calloc(cap, sizeof *t);
	if (!t)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; i < v->tabcap; i++) {
		if (!v->tab[i])
			continue;
		size_t j = slot_of(&v->e[v->tab[i] - 1].shard, cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = v->tab[i];
	}
	free(v->tab);
	v->tab = t;
	v->tabcap = cap;
	return 0;
}

static int add_entry(dsv_vbuild *v, size_t *out)
{
	int rc = DSV_ARRAY_GROW(v->e, v->cap, v->n + 1, 64);
	if (rc)
		return rc;
	memset(&v->e[v->n], 0, sizeof v->e[v->n]);
	v->e[v->n].next = NONE;
	*out = v->n++;
	return 0;
}

/* Records position (e, row) and keeps track of whether plain entry order
 * still describes the records: each entry's rows ascending and contiguous in
 * the sequence, entries in the order they were opened. */
static int place(dsv_vbuild *v, size_t e, uint64_t row, int fresh)
{
	if (v->cur == NONE) {
		v->ordered = v->ordered && e == 0;
	} else if (e == v->cur) {
		v->ordered = v->ordered && row > v->last_row;
	} else if (!(fresh && e == v->cur + 1)) {
		v->ordered = 0;
	}
	v->cur = e;
	v->last_row = row;
	return dsv_order_push(v->order, e, row);
}

static int new_layer(dsv_vbuild *v, const dsv_oid *shard, uint64_t rows,
		     size_t *out)
{
	size_t e;
	int rc = add_entry(v, &e);
	if (rc)
		return rc;
	struct ventry *x = &v->e[e];
	x->shard = *shard;
	x->rows = rows;
	if (!(x->bits = calloc(rows / 8 + 1, 1)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	*out = e;
	return 0;
}

static size_t first_layer(const dsv_vbuild *v, const dsv_oid *shard,
			  size_t *slot)
{
	size_t j = slot_of(shard, v->tabcap - 1);
	while (v->tab[j] && dsv_oid_cmp(&v->e[v->tab[j] - 1].shard, shard))
		j = (j + 1) & (v->tabcap - 1);
	if (slot)
		*slot = j;
	return v->tab[j] ? v->tab[j] - 1 : NONE;
}

int dsv_vbuild_uses(const dsv_vbuild *v, const dsv_oid *shard, uint64_t row)
{
	size_t e = first_layer(v, shard, NULL);
	return e != NONE && row < v->e[e].rows &&
	       (v->e[e].bits[row / 8] >> (row % 8) & 1);
}

int dsv_vbuild_ref(dsv_vbuild *v, const dsv_oid *shard, uint64_t rows,
		   uint64_t row)
{
	size_t j, e, prev = NONE;
	int rc, fresh = 0;
	if (row >= rows)
		return dsv_error_set(DSV_EINVAL, "row %llu of a shard of %llu "
				     "rows", (unsigned long long)row,
				     (unsigned long long)rows);
	if (2 * v->n >= v->tabcap && (rc = tab_grow(v)))
		return rc;
	e = first_layer(v, shard, &j);
	/* The first layer that does not use the row yet. */
	while (e != NONE && (v->e[e].bits[row / 8] >> (row % 8) & 1)) {
		prev = e;
		e = v->e[e].next;
	}
	if (e == NONE) {
		if ((rc = new_layer(v, shard, rows, &e)))
			return rc;
		fresh = 1;
		if (prev == NONE)
			v->tab[j] = e + 1;
		else
			v->e[prev].next = e;
	}
	if (v->e[e].rows != rows)
		return dsv_error_set(DSV_EINVAL, "shard row counts disagree");
	v->e[e].bits[row / 8] |= (uint8_t)(1u << (row % 8));
	v->e[e].kept++;
	return place(v, e, row, fresh);
}

int dsv_vbuild_add_new(dsv_vbuild *v, size_t k, uint64_t row)
{
	int rc, fresh = 0;
	if (k == v->nnew) {
		size_t e;
		if ((rc = DSV_ARRAY_GROW(v->new_entry, v->newcap, v->nnew + 1,
					 16)) ||
		    (rc = add_entry(v, &e)))
			return rc;
		v->e[e].is_new = 1;
		v->e[e].k = k;
		v->new_entry[v->nnew++] = e;
		fresh = 1;
	} else if (k > v->nnew) {
		return dsv_error_set(DSV_EINVAL, "new shards out of sequence");
	}
	size_t e = v->new_entry[k];
	if (row != v->e[e].kept)
		return dsv_error_set(DSV_EINVAL, "new rows out of sequence");
	v->e[e].kept++;
	return place(v, e, row, fresh);
}

/* The manifest entry of local entry i; writes its selection if it keeps
 * fewer rows than its shard has. */
static int make_entry(dsv_vbuild *v, const struct ventry *x,
		      const dsv_oid *new_ids, const uint64_t *new_rows,
		      size_t nnew, dsv_manifest_entry *out,
		      dsv_vbuild_stats *st)
{
	dsv_selection *sel = NULL;
	dsv_obj_info info;
	int is_new = 0, rc;
	memset(out, 0, sizeof *out);
	out->repeat = 1;
	out->kept = x->kept;
	if (x->is_new) {
		if (x->k >= nnew || new_rows[x->k] != x->kept)
			return dsv_error_set(DSV_EINVAL, "new shard %zu: rows "
					     "do not match what was added",
					     x->k);
		out->shard = new_ids[x->k];
		out->rows = x->kept;
		return 0;
	}
	out->shard = x->shard;
	out->rows = x->rows;
	if (x->kept == x->rows)
		return 0;
	if ((rc = dsv_selection_new(&sel, x->rows)))
		return rc;
	for (uint64_t r = 0; r < x->rows; r++)
		if (x->bits[r / 8] >> (r % 8) & 1)
			dsv_selection_set(sel, r, 1);
	rc = dsv_selection_write(sel, v->s, &x->shard, &out->sel, &is_new);
	dsv_selection_free(sel);
	if (rc)
		return rc;
	out->has_sel = 1;
	if (is_new) {
		st->objects_new++;
		if (dsv_index_get_object(v->s, &out->sel, &info) == 0)
			st->bytes_written += info.stored_size;
	}
	return 0;
}

/* The order of the whole version: the base part's (its order object, or
 * its plain entry order), then this builder's, entries offset by nb. */
static int write_order(dsv_vbuild *v, dsv_manifest *m, size_t nb,
		       dsv_vbuild_stats *st)
{
	dsv_order *o = NULL;
	dsv_obj_info info;
	int is_new = 0, rc;
	if (m->has_order)
		rc = dsv_order_open(&o, v->s, &m->order);
	else
		rc = dsv_order_default(&o, v->s, m, 0, nb, 0);
	if (!rc && o->entries != nb)
		rc = dsv_error_set(DSV_ECORRUPT, "the base version's order is "
				   "for another manifest");
	if (!rc)
		o->entries = nb + v->n;
	for (size_t i = 0; !rc && i < v->order->nruns; i++) {
		const dsv_order_run *r = &v->order->runs[i];
		rc = dsv_order_push_run(o, r->entry + nb, r->start, r->count);
	}
	if (!rc)
		rc = dsv_order_write(o, v->s, &m->order, &is_new);
	if (!rc) {
		m->has_order = 1;
		st->has_order = 1;
		if (is_new) {
			st->objects_new++;
			if (dsv_index_get_object(v->s, &m->order, &info) == 0)
				st->bytes_written += info.stored_size;
		}
	}
	dsv_order_free(o);
	return rc;
}

int dsv_vbuild_finish(dsv_vbuild *v, const dsv_oid *new_ids,
		      const uint64_t *new_rows, size_t nnew, dsv_manifest *m,
		      dsv_vbuild_stats *st)
{
	dsv_manifest_entry me;
	size_t nb = m->n;
	int rc = 0;
	memset(st, 0, sizeof *st);
	if (m->has_order || !v->ordered)
		rc = write_order(v, m, nb, st);
	for (size_t i = 0; !rc && i < v->n; i++) {
		if (!(rc = make_entry(v, &v->e[i], new_ids, new_rows, nnew, &me,
				      st)))
			rc = dsv_manifest_add(m, &me);
		st->entries++;
	}
	return rc;
}
