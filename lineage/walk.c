/* walk.c: walking the lineage newest first (dsv log) and over every ancestor
 * once (dsv audit). The graph comes from the commit cache (lineage/cache.c),
 * so a warm walk of 10,000 commits reads no git object.
 *
 * Order: Kahn's algorithm over the reachable set, taking among the commits
 * whose children have all been listed the one with the newest committer time
 * (ties: first reached). No parent comes before one of its children even when
 * several commits share a second, which a time sort alone cannot promise.
 */
#include "lineage/internal.h"

#include <stdlib.h>

struct dsv_walk {
	size_t n, next;
	const dsv_centry **order;
};

typedef struct {
	const dsv_centry *e;
	size_t seq;     /* order of discovery, for ties */
	uint32_t indeg; /* children within the set not yet listed */
} node;

typedef struct {
	size_t cap, n;
	size_t *idx;    /* open addressing: node index + 1, 0 = empty */
	node *nodes;
} nodeset;

static size_t h_slot(const dsv_aid *id, size_t mask)
{
	uint64_t h;
	memcpy(&h, id->b + 8, sizeof h);
	return (size_t)h & mask;
}

static node *ns_find(nodeset *s, const dsv_aid *id)
{
	for (size_t i = h_slot(id, s->cap - 1); s->idx[i];
	     i = (i + 1) & (s->cap - 1))
		if (!dsv_aid_cmp(&s->nodes[s->idx[i] - 1].e->id, id))
			return &s->nodes[s->idx[i] - 1];
	return NULL;
}

static int ns_grow(nodeset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	size_t *ni = calloc(ncap, sizeof *ni);
	node *nn = realloc(s->nodes, ncap / 2 * sizeof *nn);
	if (!ni || !nn) {
		free(ni);
		if (nn)
			s->nodes = nn;
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	s->nodes = nn;
	for (size_t k = 0; k < s->n; k++) {
		size_t i = h_slot(&nn[k].e->id, ncap - 1);
		while (ni[i])
			i = (i + 1) & (ncap - 1);
		ni[i] = k + 1;
	}
	free(s->idx);
	s->idx = ni;
	s->cap = ncap;
	return 0;
}

/* Adds the commit if new; *added says whether it was. */
static int ns_add(nodeset *s, const dsv_centry *e, int *added)
{
	int rc;
	*added = 0;
	if (s->cap && ns_find(s, &e->id))
		return 0;
	if ((s->n + 1) * 2 > s->cap && (rc = ns_grow(s)) < 0)
		return rc;
	size_t i = h_slot(&e->id, s->cap - 1);
	while (s->idx[i])
		i = (i + 1) & (s->cap - 1);
	s->nodes[s->n] = (node){e, s->n, 0};
	s->idx[i] = ++s->n;
	*added = 1;
	return 0;
}

/* ---- a max-heap of node indices by (time, -seq) -------------------------- */

static int before(const node *a, const node *b)
{
	if (a->e->time != b->e->time)
		return a->e->time > b->e->time;
	return a->seq < b->seq;
}

static void heap_push(size_t *h, size_t *n, const node *nodes, size_t v)
{
	size_t i = (*n)++;
	h[i] = v;
	while (i && before(&nodes[h[i]], &nodes[h[(i - 1) / 2]])) {
		size_t p = (i - 1) / 2, t = h[p];
		h[p] = h[i];
		h[i] = t;
		i = p;
	}
}

static size_t heap_pop(size_t *h, size_t *n, const node *nodes)
{
	size_t top = h[0], i = 0;
	h[0] = h[--(*n)];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < *n && before(&nodes[h[l]], &nodes[h[m]]))
			m = l;
		if (r < *n && before(&nodes[h[r]], &nodes[h[m]]))
			m = r;
		if (m == i)
			break;
		size_t t = h[m];
		h[m] = h[i];
		h[i] = t;
		i = m;
	}
	return top;
}

static uint32_t followed(const dsv_centry *e, unsigned flags)
{
	if (flags & DSV_WALK_FIRST_PARENT)
		return e->nparents ? 1 : 0;
	return e->nparents;
}

int dsv_walk_new(dsv_walk **out, dsv_lineage *l, const dsv_aid *starts,
		 size_t nstarts, unsigned flags)
{
	nodeset s = {0};
	dsv_walk *w = NULL;
	size_t *stack = NULL, *heap = NULL, sp = 0, hn = 0;
	int rc = 0, added;

	*out = NULL;
	/* 1. the reachable set, depth first */
	for (size_t i = 0; i < nstarts; i++) {
		const dsv_centry *e;
		if ((rc = dsv_cache_get(&e, l, &starts[i])) < 0 ||
		    (rc = ns_add(&s, e, &added)) < 0)
			goto cleanup;
	}
	if (!(stack = malloc((s.cap ? s.cap : 1) * sizeof *stack))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < s.n; i++)
		stack[sp++] = i;
	while (sp) {
		const dsv_centry *e = s.nodes[stack[--sp]].e;
		for (uint32_t p = 0; p < followed(e, flags); p++) {
			const dsv_centry *pe;
			if ((rc = dsv_cache_get(&pe, l, &e->parents[p])) < 0) {
				rc = dsv_error_wrap(rc == DSV_ENOTFOUND
							    ? DSV_ECORRUPT
							    : rc,
						    "walking the lineage");
				goto cleanup;
			}
			size_t oldcap = s.cap;
			if ((rc = ns_add(&s, pe, &added)) < 0)
				goto cleanup;
			if (s.cap != oldcap) {
				size_t *ns2 = realloc(stack, s.cap * sizeof *ns2);
				if (!ns2) {
					rc = dsv_error_set(DSV_ENOMEM,
							   "out of memory");
					goto cleanup;
				}
				stack = ns2;
			}
			if (added)
				stack[sp++] = s.n - 1;
		}
	}
	dsv_cache_flush(l->cache);
	/* 2. children counts, then Kahn's algorithm newest first */
	for (size_t i = 0; i < s.n; i++) {
		const dsv_centry *e = s.nodes[i].e;
		for (uint32_t p = 0; p < followed(e, flags); p++)
			ns_find(&s, &e->parents[p])->indeg++;
	}
	if (!(w = calloc(1, sizeof *w)) ||
	    !(w->order = malloc((s.n ? s.n : 1) * sizeof *w->order)) ||
	    !(heap = malloc((s.n ? s.n : 1) * sizeof *heap))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < s.n; i++)
		if (!s.nodes[i].indeg)
			heap_push(heap, &hn, s.nodes, i);
	while (hn) {
		const dsv_centry *e = s.nodes[heap_pop(heap, &hn, s.nodes)].e;
		w->order[w->n++] = e;
		for (uint32_t p = 0; p < followed(e, flags); p++) {
			node *pn = ns_find(&s, &e->parents[p]);
			if (--pn->indeg == 0)
				heap_push(heap, &hn, s.nodes,
					  (size_t)(pn - s.nodes));
		}
	}
	/* a cycle cannot exist in git (ids are hashes of the parents) */
	*out = w;
	w = NULL;
cleanup:
	dsv_walk_free(w);
	free(heap);
	free(stack);
	free(s.idx);
	free(s.nodes);
	return rc;
}

int dsv_walk_next(dsv_walk *w, dsv_aid *id)
{
	if (w->next >= w->n)
		return 0;
	*id = w->order[w->next++]->id;
	return 1;
}

void dsv_walk_free(dsv_walk *w)
{
	if (!w)
		return;
	free(w->order);
	free(w);
}
