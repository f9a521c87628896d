/* drops.c: which derivation dropped a record on the way from one version to
 * a later one, and why: the derivations on the first-parent path, their
 * `reason` columns and the code tables in their dsv.json (what `dsv diff`
 * prints under the removed records).
 */
#include "lineage/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The removed records by hash: open addressing on the hash's first bytes
 * (record hashes are uniformly random), slot -> index into h[] + 1. */
struct table {
	const dsv_rhash *h;
	size_t *slot, mask;
};

static int table_new(struct table *t, const dsv_rhash *h, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	t->h = h;
	t->mask = cap - 1;
	if (!(t->slot = calloc(cap, sizeof *t->slot)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint64_t k;
		memcpy(&k, h[i].b, sizeof k);
		size_t j = k & t->mask;
		while (t->slot[j])
			j = (j + 1) & t->mask;
		t->slot[j] = i + 1;
	}
	return 0;
}

/* The index in h[] of `x`, or (size_t)-1. */
static size_t table_find(const struct table *t, const dsv_rhash *x)
{
	uint64_t k;
	memcpy(&k, x->b, sizeof k);
	for (size_t j = k & t->mask; t->slot[j]; j = (j + 1) & t->mask)
		if (!memcmp(&t->h[t->slot[j] - 1], x, sizeof *x))
			return t->slot[j] - 1;
	return (size_t)-1;
}

/* The first-parent path from `to` back to `from` (both included), newest
 * first; *n = 0 when `from` is not on it. */
static int first_parent_path(dsv_lineage *l, const dsv_aid *from,
			     const dsv_aid *to, dsv_aid **out, size_t *n)
{
	dsv_aid *path = NULL, id = *to;
	size_t len = 0, cap = 0;
	int rc = 0;
	*out = NULL;
	*n = 0;
	for (;;) {
		if ((rc = DSV_ARRAY_GROW(path, cap, len + 1, 16))) {
			free(path);
			return rc;
		}
		path[len++] = id;
		if (!dsv_aid_cmp(&id, from))
			break;
		dsv_commit_info *ci = NULL;
		if ((rc = dsv_commit_info_open(&ci, l, &id))) {
			free(path);
			return rc;
		}
		int root = ci->nparents == 0;
		if (!root)
			id = ci->parents[0];
		dsv_commit_info_free(ci);
		if (root) {
			free(path); /* `from` is no first-parent ancestor */
			return 0;
		}
	}
	*out = path;
	*n = len;
	return 0;
}

struct tally {
	struct table t;
	uint32_t *left;   /* per record: removed copies not yet attributed */
	dsv_drop *first;  /* per record, or NULL */
	dsv_drop *groups; /* copies dropped by (derivation, reason) */
	size_t ngroups, cap;
};

/* Counts `copies` copies of a record dropped by `v` for `why`. */
static int count(struct tally *t, const dsv_drop *why, uint64_t copies)
{
	size_t k = t->ngroups;
	while (k-- > 0)
		if (t->groups[k].step == why->step &&
		    !strcmp(t->groups[k].reason, why->reason))
			break;
	if (k == (size_t)-1) {
		int rc = DSV_ARRAY_GROW(t->groups, t->cap, t->ngroups + 1, 16);
		if (rc)
			return rc;
		k = t->ngroups++;
		t->groups[k] = *why;
		t->groups[k].copies = 0;
	}
	t->groups[k].copies += copies;
	return 0;
}

/* Attributes to version `v` (the step-th derivation after `from`) the
 * copies of removed records that its `reason` columns say it dropped,
 * as many as are left to attribute. */
static int mark_version(dsv_lineage *l, dsv_store *s, const dsv_aid *v,
			unsigned step, struct tally *t)
{
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	int rc = 0;
	if (dsv_artifact_read(&a, l, v) || a->kind != DSV_KIND_DATASET) {
		dsv_error_clear(); /* a foreign commit or no dataset: no drops */
		dsv_artifact_free(a);
		return 0;
	}
	/* Only a derivation that drops says why; the others (a mix, say)
	 * carry their inputs' reason columns, which are not theirs. */
	json_t *codes = json_object_get(a->stats, "reason_codes");
	if (!json_is_object(codes))
		goto out;
	if ((rc = dsv_dataset_manifest(&m, l, v)))
		goto out;
	dsv_drop d = {.found = 1, .step = step, .by = *v};
	snprintf(d.op, sizeof d.op, "%s", a->op);
	for (size_t e = 0; e < m->n && !rc; e++) {
		const dsv_manifest_entry *en = &m->e[e];
		const dsv_oid *col = NULL;
		dsv_column *c = NULL;
		dsv_shard *sh = NULL;
		for (size_t k = 0; k < en->ncols; k++)
			if (!strcmp(en->cols[k].name, "reason"))
				col = &en->cols[k].id;
		if (!col)
			continue; /* nothing dropped from this shard */
		if ((rc = dsv_column_open(&c, s, col, NULL)) ||
		    (rc = dsv_shard_open(&sh, s, &en->shard, DSV_SHARD_HASH))) {
			dsv_column_free(c);
			break;
		}
		uint64_t rows = dsv_shard_rows(sh);
		for (uint64_t r = 0; r < rows && !rc; r++) {
			unsigned code = (unsigned)dsv_column_get(c, r);
			size_t i;
			if (!code || (i = table_find(&t->t, dsv_shard_hash(sh, r))) ==
					     (size_t)-1 || !t->left[i])
				continue;
			char k[16];
			snprintf(k, sizeof k, "%u", code);
			const char *why = json_string_value(json_object_get(codes, k));
			snprintf(d.reason, sizeof d.reason, "%s",
				 why ? why : "unknown reason");
			uint32_t n = en->repeat < t->left[i] ? en->repeat
							     : t->left[i];
			t->left[i] -= n;
			if (t->first && !t->first[i].found)
				t->first[i] = d;
			rc = count(t, &d, n);
		}
		dsv_shard_free(sh);
		dsv_column_free(c);
	}
out:
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc;
}

/* Oldest derivation first, then the most copies. */
static int cmp_group(const void *a, const void *b)
{
	const dsv_drop *x = a, *y = b;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->copies > y->copies ? -1 : x->copies < y->copies;
}

int dsv_lineage_drops(dsv_lineage *l, dsv_store *s, const dsv_aid *from,
		      const dsv_aid *to, const dsv_rhash *h,
		      const uint32_t *copies, size_t n, dsv_drop *first,
		      dsv_drop **groups, size_t *ngroups)
{
	dsv_aid *path = NULL;
	struct tally t = {.first = first};
	size_t np = 0;
	int rc;
	if (first && n)
		memset(first, 0, n * sizeof *first);
	if (groups) {
		*groups = NULL;
		*ngroups = 0;
	}
	if ((rc = first_parent_path(l, from, to, &path, &np)) || np < 2 || !n) {
		free(path);
		return rc < 0 ? rc : np >= 2;
	}
	if ((rc = table_new(&t.t, h, n)))
		goto out;
	if (!(t.left = malloc(n * sizeof *t.left))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		t.left[i] = copies ? copies[i] : 1;
	/* oldest derivation first: a copy leaves the path where it is
	 * first dropped (`from` itself dropped nothing on the way) */
	for (size_t k = np - 1; k-- > 0 && !rc;)
		rc = mark_version(l, s, &path[k], (unsigned)(np - 2 - k), &t);
	if (rc)
		goto out;
	if (t.ngroups) /* t.groups is NULL when nothing was dropped */
		qsort(t.groups, t.ngroups, sizeof *t.groups, cmp_group);
	if (groups) {
		*groups = t.groups;
		*ngroups = t.ngroups;
		t.groups = NULL;
	}
	rc = 1;
out:
	free(t.groups);
	free(t.left);
	free(t.t.slot);
	free(path);
	return rc;
}
