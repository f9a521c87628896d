/* audit.c: the compute audit of an artifact's whole ancestry: every ancestor
 * once (models and their training data included when they are parents), its
 * compute record read from dsv.json, totals by mode, and the data and
 * training shares (the rule is in docs/lineage.md).
 */
#include "lineage/internal.h"

#include <stdlib.h>
#include <string.h>

static int is_data_mode(dsv_mode m)
{
	return m == DSV_MODE_INGEST || m == DSV_MODE_SELECTION ||
	       m == DSV_MODE_TRANSFORMATION || m == DSV_MODE_GENERATION;
}

/* Fills `row` from the commit's cache entry. A commit without a readable
 * dsv.json (made by hand with git, or damaged) is counted as missing rather
 * than failing the audit: the totals say how many were not counted. */
static int read_row(dsv_lineage *l, dsv_audit_row *row)
{
	const dsv_centry *e;
	int rc = dsv_cache_get(&e, l, &row->id);
	if (rc < 0)
		return rc;
	if (!e->has_artifact)
		return 0;
	row->kind = e->kind;
	memcpy(row->op, e->op, sizeof row->op);
	row->has_compute = e->has_compute;
	if (e->has_compute)
		row->compute = e->compute;
	return 0;
}

/* FLOPs when every data or training ancestor reported them, else wall
 * seconds: a share is only meaningful in one unit across all its terms. */
static void shares(dsv_audit *au)
{
	int all_flops = 1, any = 0;
	double data = 0, train = 0;

	for (size_t i = 0; i < au->nrows; i++) {
		const dsv_audit_row *r = &au->rows[i];
		if (!r->has_compute || (!is_data_mode(r->compute.mode) &&
					r->compute.mode != DSV_MODE_TRAINING))
			continue;
		any = 1;
		if (!(r->compute.flops > 0))
			all_flops = 0;
	}
	au->share_unit = any && all_flops ? DSV_SHARE_FLOPS : DSV_SHARE_SECONDS;
	for (int m = 0; m < DSV_MODE_COUNT; m++) {
		const dsv_compute *c = &au->by_mode[m];
		double v = au->share_unit == DSV_SHARE_FLOPS ? c->flops
							     : c->wall_s;
		if (is_data_mode((dsv_mode)m))
			data += v;
		else if (m == DSV_MODE_TRAINING)
			train += v;
	}
	au->data_cost = data;
	au->training_cost = train;
	au->data_share = data + train > 0 ? data / (data + train) : 0;
	au->training_share = data + train > 0 ? train / (data + train) : 0;
	for (size_t i = 0; i < au->nrows; i++) {
		dsv_audit_row *r = &au->rows[i];
		r->share = 0;
		if (!r->has_compute || !(data + train > 0) ||
		    (!is_data_mode(r->compute.mode) &&
		     r->compute.mode != DSV_MODE_TRAINING))
			continue;
		r->share = (au->share_unit == DSV_SHARE_FLOPS ? r->compute.flops
							      : r->compute.wall_s) /
			   (data + train);
	}
}

int dsv_audit_run(dsv_audit **out, dsv_lineage *l, const dsv_aid *head)
{
	dsv_audit *au = NULL;
	dsv_walk *w = NULL;
	size_t cap = 0;
	dsv_aid id;
	int rc;

	*out = NULL;
	if (!(au = calloc(1, sizeof *au)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (int m = 0; m < DSV_MODE_COUNT; m++) {
		dsv_compute_init(&au->by_mode[m], (dsv_mode)m);
		au->by_mode[m].ranks = 0;
	}
	dsv_compute_init(&au->total, DSV_MODE_INGEST);
	au->total.ranks = 0;
	if ((rc = dsv_walk_new(&w, l, head, 1, 0)) < 0)
		goto cleanup;
	while ((rc = dsv_walk_next(w, &id)) == 1) {
		dsv_audit_row *r;
		if ((rc = DSV_ARRAY_GROW(au->rows, cap, au->nrows + 1, 64)))
			goto cleanup;
		r = &au->rows[au->nrows++];
		memset(r, 0, sizeof *r);
		r->id = id;
		if ((rc = read_row(l, r)) < 0)
			goto cleanup;
		if (!r->has_compute) {
			au->nmissing++;
			continue;
		}
		dsv_compute_add(&au->by_mode[r->compute.mode], &r->compute);
		dsv_compute_add(&au->total, &r->compute);
	}
	if (rc < 0)
		goto cleanup;
	shares(au);
	*out = au;
	au = NULL;
	rc = 0;
cleanup:
	dsv_walk_free(w);
	dsv_audit_free(au);
	return rc;
}

void dsv_audit_free(dsv_audit *a)
{
	if (!a)
		return;
	free(a->rows);
	free(a);
}
