/* ancestry.c: an artifact's whole ancestry as a graph: every ancestor once,
 * in the walk's order (audit's rows), each with its parents as indices into
 * the same array, so that a caller can lay the graph out without looking
 * ids up. Everything comes from the commit cache (lineage/cache.c).
 */
#include "lineage/internal.h"

#include <stdlib.h>
#include <string.h>

/* An id and its node index, sorted by id for the parents' look-up. */
typedef struct {
	dsv_aid id;
	size_t at;
} idx_entry;

static int idx_cmp(const void *a, const void *b)
{
	return dsv_aid_cmp(&((const idx_entry *)a)->id,
			   &((const idx_entry *)b)->id);
}

static void fill_node(dsv_ancestry_node *n, const dsv_centry *e)
{
	n->id = e->id;
	n->has_artifact = e->has_artifact;
	n->kind = e->kind;
	memcpy(n->op, e->op, sizeof n->op);
	n->has_compute = e->has_compute;
	if (e->has_compute)
		n->compute = e->compute;
	n->records = e->records;
	n->text_bytes = e->text_bytes;
	n->message = e->message;
	n->author_name = e->author_name;
	n->author_email = e->author_email;
	n->time = e->author_time;
	n->tz_offset = e->tz;
}

/* Points every node's parents at their indices. A parent outside the set
 * cannot happen (the walk follows every parent), so it is corruption. */
static int link_parents(dsv_ancestry *a, const dsv_centry **ents)
{
	idx_entry *idx = NULL;
	size_t nedges = 0, k = 0;
	int rc = 0;

	for (size_t i = 0; i < a->n; i++)
		nedges += ents[i]->nparents;
	if (!(idx = malloc((a->n ? a->n : 1) * sizeof *idx)) ||
	    !(a->edges = malloc((nedges ? nedges : 1) * sizeof *a->edges))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < a->n; i++)
		idx[i] = (idx_entry){.id = ents[i]->id, .at = i};
	qsort(idx, a->n, sizeof *idx, idx_cmp);
	for (size_t i = 0; i < a->n; i++) {
		dsv_ancestry_node *n = &a->nodes[i];
		n->parents = a->edges + k;
		n->nparents = ents[i]->nparents;
		for (uint32_t p = 0; p < ents[i]->nparents; p++) {
			idx_entry key = {.id = ents[i]->parents[p]};
			idx_entry *f = bsearch(&key, idx, a->n, sizeof *idx,
					       idx_cmp);
			if (!f) {
				char hex[DSV_AID_SHORTLEN + 1];
				dsv_aid_short(hex, &n->id);
				rc = dsv_error_set(DSV_ECORRUPT, "artifact %s: a "
						   "parent is missing from its "
						   "ancestry", hex);
				goto cleanup;
			}
			a->edges[k++] = f->at;
		}
	}
cleanup:
	free(idx);
	return rc;
}

int dsv_ancestry_open(dsv_ancestry **out, dsv_lineage *l, const dsv_aid *head)
{
	dsv_ancestry *a = NULL;
	const dsv_centry **ents = NULL;
	dsv_walk *w = NULL;
	size_t cap = 0, ecap = 0;
	dsv_aid id;
	int rc;

	*out = NULL;
	if (!(a = calloc(1, sizeof *a)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_walk_new(&w, l, head, 1, 0)) < 0)
		goto cleanup;
	while ((rc = dsv_walk_next(w, &id)) == 1) {
		const dsv_centry *e;
		if ((rc = dsv_cache_get(&e, l, &id)) < 0 ||
		    (rc = DSV_ARRAY_GROW(a->nodes, cap, a->n + 1, 64)) ||
		    (rc = DSV_ARRAY_GROW(ents, ecap, a->n + 1, 64)))
			goto cleanup;
		memset(&a->nodes[a->n], 0, sizeof a->nodes[a->n]);
		fill_node(&a->nodes[a->n], e);
		ents[a->n++] = e;
	}
	if (rc < 0 || (rc = link_parents(a, ents)) < 0)
		goto cleanup;
	*out = a;
	a = NULL;
	rc = 0;
cleanup:
	free(ents);
	dsv_walk_free(w);
	dsv_ancestry_free(a);
	return rc;
}

void dsv_ancestry_free(dsv_ancestry *a)
{
	if (!a)
		return;
	free(a->nodes);
	free(a->edges);
	free(a);
}
