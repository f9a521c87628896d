/* dataset.c: where the lineage meets the store. A dataset artifact's MANIFEST
 * names store objects; this file reads it, checks that everything every ref
 * reaches is stored, and rebuilds the index (a cache) from the lineage.
 */
#include "lineage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dsv_dataset_manifest(dsv_manifest **out, dsv_lineage *l,
			 const dsv_aid *id)
{
	char *text = NULL, hex[DSV_AID_SHORTLEN + 1];
	size_t len = 0;
	*out = NULL;
	int rc = dsv_lineage_read_file(l, id, "MANIFEST", &text, &len);
	if (rc == DSV_ENOTFOUND) {
		dsv_aid_short(hex, id);
		return dsv_error_set(DSV_EINVAL,
				     "artifact %s is not a dataset version "
				     "(it has no MANIFEST)", hex);
	}
	if (!rc)
		rc = dsv_manifest_parse(out, text, len);
	free(text);
	return rc;
}

/* All branch and tag targets, as walk starting points. */
static int ref_targets(dsv_lineage *l, dsv_aid **out, size_t *n)
{
	dsv_refinfo *br = NULL, *tg = NULL;
	size_t nb = 0, nt = 0;
	int rc = dsv_lineage_branch_list(l, &br, &nb);
	if (!rc)
		rc = dsv_lineage_tag_list(l, &tg, &nt);
	*out = NULL;
	*n = 0;
	if (!rc && nb + nt) {
		*out = dsv_malloc((nb + nt) * sizeof **out);
		if (!*out)
			rc = DSV_ENOMEM;
		for (size_t i = 0; !rc && i < nb; i++)
			(*out)[(*n)++] = br[i].target;
		for (size_t i = 0; !rc && i < nt; i++)
			(*out)[(*n)++] = tg[i].target;
	}
	dsv_refinfo_free(br, nb);
	dsv_refinfo_free(tg, nt);
	return rc;
}

int dsv_lineage_foreach(dsv_lineage *l,
			int (*fn)(const dsv_aid *id, void *ctx), void *ctx)
{
	dsv_aid *starts = NULL, *all = NULL, id;
	size_t nstarts = 0, n = 0, cap = 0;
	dsv_walk *w = NULL;
	int rc = ref_targets(l, &starts, &nstarts);
	if (rc || !nstarts)
		goto cleanup;
	if ((rc = dsv_walk_new(&w, l, starts, nstarts, DSV_WALK_TOPO)))
		goto cleanup;
	while ((rc = dsv_walk_next(w, &id)) == 1) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			dsv_aid *p = dsv_realloc(all, cap * sizeof *p);
			if (!p) {
				rc = DSV_ENOMEM;
				goto cleanup;
			}
			all = p;
		}
		all[n++] = id;
	}
	/* The walk gives children before parents; callers want oldest first. */
	for (size_t i = n; rc == 0 && i-- > 0;)
		rc = fn(&all[i], ctx);
cleanup:
	dsv_walk_free(w);
	free(starts);
	free(all);
	return rc < 0 ? rc : 0;
}

struct check_ctx {
	dsv_lineage *l;
	dsv_store *s;
	dsv_lineage_check *c;
};

static void problem(struct check_ctx *x, uint64_t *counter, const dsv_aid *id,
		    const char *what)
{
	char hex[DSV_AID_SHORTLEN + 1], msg[1400];
	dsv_aid_short(hex, id);
	snprintf(msg, sizeof msg, "artifact %s: %s", hex, what);
	(*counter)++;
	if (x->c->report)
		x->c->report(x->c->ctx, msg);
}

/* Checks that `id` is stored, of type `type`, with `rows` rows. */
static void check_object(struct check_ctx *x, const dsv_aid *aid, size_t line,
			 const char *what, const dsv_oid *id,
			 dsv_obj_type type, uint64_t rows)
{
	char hex[DSV_OID_HEXLEN + 1], msg[512];
	dsv_obj_info info;
	dsv_oid_fmt(hex, id);
	if (!dsv_obj_exists(x->s, id)) {
		snprintf(msg, sizeof msg, "MANIFEST entry %zu: %s %s is missing",
			 line, what, hex);
		problem(x, &x->c->missing, aid, msg);
		return;
	}
	/* The index is a cache: where it lacks the object, the file is the
	 * truth and fsck's object pass has checked it. */
	if (dsv_index_get_object(x->s, id, &info))
		return;
	if (info.type != type || (rows != UINT64_MAX && info.rows != rows)) {
		snprintf(msg, sizeof msg,
			 "MANIFEST entry %zu: %s %s is a %s of %llu rows, "
			 "expected a %s of %llu rows", line, what, hex,
			 dsv_obj_type_name(info.type),
			 (unsigned long long)info.rows,
			 dsv_obj_type_name(type), (unsigned long long)rows);
		problem(x, &x->c->bad, aid, msg);
	}
}

static int check_one(const dsv_aid *id, void *ctx)
{
	struct check_ctx *x = ctx;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	x->c->artifacts++;
	if (dsv_artifact_read(&a, x->l, id)) {
		problem(x, &x->c->bad, id, dsv_error_last());
		return 0;
	}
	if (a->kind == DSV_KIND_DATASET) {
		x->c->versions++;
		if (dsv_dataset_manifest(&m, x->l, id)) {
			problem(x, &x->c->bad, id, dsv_error_last());
		} else {
			for (size_t i = 0; i < m->n; i++) {
				const dsv_manifest_entry *e = &m->e[i];
				check_object(x, id, i + 1, "shard", &e->shard,
					     DSV_OBJ_SHARD, e->rows);
				if (e->has_sel)
					check_object(x, id, i + 1, "selection",
						     &e->sel, DSV_OBJ_SELECTION,
						     e->rows);
				for (size_t k = 0; k < e->ncols; k++)
					check_object(x, id, i + 1, "column",
						     &e->cols[k].id,
						     DSV_OBJ_COLUMN, e->rows);
			}
			if (m->has_order)
				check_object(x, id, 0, "order", &m->order,
					     DSV_OBJ_ORDER, UINT64_MAX);
		}
	}
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return 0;
}

int dsv_lineage_fsck(dsv_lineage *l, dsv_store *s, dsv_lineage_check *c)
{
	struct check_ctx x = {l, s, c};
	return dsv_lineage_foreach(l, check_one, &x);
}

static int index_object(const dsv_oid *id, void *ctx)
{
	dsv_obj_info info;
	int rc = dsv_obj_verify(ctx, id, &info);
	/* A damaged object is fsck's to report; the index just leaves it out. */
	return rc == DSV_ECORRUPT ? 0 : rc ? rc : dsv_index_put_object(ctx, id,
								       &info);
}

static int index_version(const dsv_aid *id, void *ctx)
{
	struct check_ctx *x = ctx;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	int rc = dsv_artifact_read(&a, x->l, id);
	if (!rc && a->kind == DSV_KIND_DATASET &&
	    !(rc = dsv_dataset_manifest(&m, x->l, id)))
		rc = dsv_version_index(x->s, m, id->b);
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc;
}

int dsv_lineage_rebuild_index(dsv_lineage *l, dsv_store *s)
{
	struct check_ctx x = {l, s, NULL};
	int rc = dsv_index_clear(s);
	if (!rc)
		rc = dsv_obj_foreach(s, index_object, s);
	if (!rc)
		rc = dsv_lineage_foreach(l, index_version, &x);
	return rc;
}
