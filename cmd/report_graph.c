/* report_graph.c: the lineage graph of `dsv report` as inline SVG: a
 * layered drawing (Sugiyama's scheme), oldest at the top: longest-path
 * layers, a point in every layer an edge passes through, a few barycentre
 * sweeps for the order within each layer, then positions pulled towards the
 * neighbours above and below. Everything depends on the ancestry alone, so
 * the same lineage gives the same bytes (docs/report.md).
 */
#include "cmd/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
	BOX_W = 176, BOX_H = 50, PASS_W = 12, /* a passing edge's slot */
	GAP_X = 14, GAP_Y = 38, MARGIN = 12,
};

/* An item of a layer: a node of the ancestry (the first n items) or a point
 * an edge passes through on its way down more than one layer. */
struct item {
	size_t layer, pos; /* pos: its place in the layer's order */
	double x;          /* its centre */
	double key;        /* the sort key of a sweep */
	size_t up0, nup, down0, ndown; /* neighbours in the CSR arrays */
};

/* One edge: from parent (above) down to child, through `npass` items
 * pass[0..) (in chain[] from `at`). */
struct edge {
	size_t parent, child, at, npass;
	int first; /* the child's primary input */
};

struct layout {
	size_t n, nitems, nlayers, nedges;
	struct item *it;
	struct edge *e;
	size_t *chain;          /* the passing items of every edge */
	size_t *up, *down;      /* neighbours (CSR) */
	size_t *order;          /* items by layer, then pos */
	size_t *layer0;         /* where each layer starts in order (+1 end) */
};

static void layout_free(struct layout *g)
{
	free(g->it);
	free(g->e);
	free(g->chain);
	free(g->up);
	free(g->down);
	free(g->order);
	free(g->layer0);
}

static double width_of(const struct layout *g, size_t i)
{
	return i < g->n ? BOX_W : PASS_W;
}

/* Layers by longest path from the roots: a node sits one below its lowest
 * parent. The ancestry lists children before parents, so backwards every
 * parent is done first. */
static void assign_layers(struct layout *g, const dsv_ancestry *a)
{
	g->nlayers = 0;
	for (size_t k = a->n; k-- > 0;) {
		size_t l = 0;
		for (size_t p = 0; p < a->nodes[k].nparents; p++) {
			size_t pl = g->it[a->nodes[k].parents[p]].layer + 1;
			if (pl > l)
				l = pl;
		}
		g->it[k].layer = l;
		if (l + 1 > g->nlayers)
			g->nlayers = l + 1;
	}
}

/* The edges and their passing items; then each item's neighbours. */
static int build_edges(struct layout *g, const dsv_ancestry *a)
{
	size_t npass = 0, nseg = 0, k = 0;
	g->nedges = 0;
	for (size_t i = 0; i < a->n; i++)
		for (size_t p = 0; p < a->nodes[i].nparents; p++) {
			size_t span = g->it[i].layer -
				      g->it[a->nodes[i].parents[p]].layer;
			g->nedges++;
			npass += span - 1;
			nseg += span;
		}
	g->nitems = g->n + npass;
	struct item *it = realloc(g->it, (g->nitems ? g->nitems : 1) * sizeof *it);
	if (!it)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	g->it = it;
	g->e = calloc(g->nedges ? g->nedges : 1, sizeof *g->e);
	g->chain = malloc((npass ? npass : 1) * sizeof *g->chain);
	g->up = malloc((nseg ? nseg : 1) * sizeof *g->up);
	g->down = malloc((nseg ? nseg : 1) * sizeof *g->down);
	if (!g->e || !g->chain || !g->up || !g->down)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	memset(g->it + g->n, 0, npass * sizeof *g->it);
	/* Edges oldest child first, so that passing items are numbered in
	 * a stable, top-down order. */
	size_t next = g->n, ne = 0;
	for (size_t i = a->n; i-- > 0;)
		for (size_t p = 0; p < a->nodes[i].nparents; p++) {
			size_t par = a->nodes[i].parents[p];
			struct edge *e = &g->e[ne++];
			*e = (struct edge){.parent = par, .child = i, .at = k,
					   .first = p == 0};
			for (size_t l = g->it[par].layer + 1; l < g->it[i].layer;
			     l++) {
				g->it[next].layer = l;
				g->chain[k++] = next++;
				e->npass++;
			}
		}
	/* neighbours: count, place, fill */
	for (size_t i = 0; i < g->nitems; i++)
		g->it[i].nup = g->it[i].ndown = 0;
#define SEGMENTS(DO)                                                          \
	for (size_t j = 0; j < g->nedges; j++) {                              \
		const struct edge *e = &g->e[j];                              \
		size_t prev = e->parent;                                      \
		for (size_t q = 0; q <= e->npass; q++) {                      \
			size_t cur = q < e->npass ? g->chain[e->at + q]       \
						  : e->child;                 \
			DO;                                                   \
			prev = cur;                                           \
		}                                                             \
	}
	SEGMENTS((g->it[prev].ndown++, g->it[cur].nup++))
	size_t u = 0, d = 0;
	for (size_t i = 0; i < g->nitems; i++) {
		g->it[i].up0 = u;
		g->it[i].down0 = d;
		u += g->it[i].nup;
		d += g->it[i].ndown;
		g->it[i].nup = g->it[i].ndown = 0;
	}
	SEGMENTS((g->down[g->it[prev].down0 + g->it[prev].ndown++] = cur,
		  g->up[g->it[cur].up0 + g->it[cur].nup++] = prev))
#undef SEGMENTS
	return 0;
}

/* Items by layer; within a layer in item order, the oldest nodes first
 * (the ancestry is newest first), then the passing points. */
static int initial_order(struct layout *g)
{
	g->order = malloc((g->nitems ? g->nitems : 1) * sizeof *g->order);
	g->layer0 = calloc(g->nlayers + 1, sizeof *g->layer0);
	if (!g->order || !g->layer0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nitems; i++)
		g->layer0[g->it[i].layer + 1]++;
	for (size_t l = 0; l < g->nlayers; l++)
		g->layer0[l + 1] += g->layer0[l];
	size_t *fill = calloc(g->nlayers ? g->nlayers : 1, sizeof *fill);
	if (!fill)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t k = 0; k < g->nitems; k++) {
		/* nodes backwards (oldest first), then the passing points */
		size_t i = k < g->n ? g->n - 1 - k : k;
		size_t l = g->it[i].layer;
		g->it[i].pos = fill[l];
		g->order[g->layer0[l] + fill[l]++] = i;
	}
	free(fill);
	return 0;
}

static const struct layout *sort_g;

static int by_key(const void *a, const void *b)
{
	const struct item *x = &sort_g->it[*(const size_t *)a];
	const struct item *y = &sort_g->it[*(const size_t *)b];
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One barycentre sweep over layer l: each item's key is the mean place of
 * its neighbours in the layer above (down) or below (up); one without such
 * neighbours keeps its place. */
static void sweep_layer(struct layout *g, size_t l, int down)
{
	size_t *o = g->order + g->layer0[l], m = g->layer0[l + 1] - g->layer0[l];
	for (size_t j = 0; j < m; j++) {
		struct item *t = &g->it[o[j]];
		size_t nn = down ? t->nup : t->ndown;
		const size_t *nb = down ? g->up + t->up0 : g->down + t->down0;
		double s = 0;
		for (size_t q = 0; q < nn; q++)
			s += (double)g->it[nb[q]].pos;
		/* scaled to this layer's width, so that the keys of items with
		 * and without neighbours compare */
		size_t ol = down ? l - 1 : l + 1;
		double other = (double)(g->layer0[ol + 1] - g->layer0[ol]);
		t->key = nn ? (s / (double)nn + 0.5) / other * (double)m
			    : (double)t->pos + 0.5;
	}
	sort_g = g;
	qsort(o, m, sizeof *o, by_key);
	for (size_t j = 0; j < m; j++)
		g->it[o[j]].pos = j;
}

/* Places layer l's items as near their wished-for centres (key) as their
 * order and widths allow: the mean of a placement packed from the left
 * and one packed from the right, each as near the wishes as it can be. */
static void place_layer(struct layout *g, size_t l, double *a, double *b)
{
	size_t *o = g->order + g->layer0[l], m = g->layer0[l + 1] - g->layer0[l];
	for (size_t j = 0; j < m; j++) {
		double want = g->it[o[j]].key;
		a[j] = want;
		if (j) {
			double sep = (width_of(g, o[j - 1]) + width_of(g, o[j])) / 2 +
				     GAP_X;
			if (a[j] < a[j - 1] + sep)
				a[j] = a[j - 1] + sep;
		}
	}
	for (size_t j = m; j-- > 0;) {
		double want = g->it[o[j]].key;
		b[j] = want;
		if (j + 1 < m) {
			double sep = (width_of(g, o[j]) + width_of(g, o[j + 1])) / 2 +
				     GAP_X;
			if (b[j] > b[j + 1] - sep)
				b[j] = b[j + 1] - sep;
		}
	}
	for (size_t j = 0; j < m; j++)
		g->it[o[j]].x = (a[j] + b[j]) / 2;
}

/* Wishes: the mean centre of the neighbours above (down) or below. */
static void wish(struct layout *g, size_t l, int down)
{
	for (size_t j = g->layer0[l]; j < g->layer0[l + 1]; j++) {
		struct item *t = &g->it[g->order[j]];
		size_t nn = down ? t->nup : t->ndown;
		const size_t *nb = down ? g->up + t->up0 : g->down + t->down0;
		double s = 0;
		for (size_t q = 0; q < nn; q++)
			s += g->it[nb[q]].x;
		t->key = nn ? s / (double)nn : t->x;
	}
}

static int assign_x(struct layout *g)
{
	size_t widest = 1;
	for (size_t l = 0; l < g->nlayers; l++)
		if (g->layer0[l + 1] - g->layer0[l] > widest)
			widest = g->layer0[l + 1] - g->layer0[l];
	double *a = malloc(widest * sizeof *a), *b = malloc(widest * sizeof *b);
	if (!a || !b) {
		free(a);
		free(b);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	/* packed from the left to begin with */
	for (size_t l = 0; l < g->nlayers; l++) {
		double x = 0;
		for (size_t j = g->layer0[l]; j < g->layer0[l + 1]; j++) {
			size_t i = g->order[j];
			if (j > g->layer0[l])
				x += (width_of(g, g->order[j - 1]) + width_of(g, i)) / 2 +
				     GAP_X;
			g->it[i].x = x;
		}
	}
	for (int round = 0; round < 2; round++) {
		for (size_t l = 1; l < g->nlayers; l++) {
			wish(g, l, 1);
			place_layer(g, l, a, b);
		}
		for (size_t l = g->nlayers - 1; l-- > 0;) {
			wish(g, l, 0);
			place_layer(g, l, a, b);
		}
	}
	for (size_t l = 1; l < g->nlayers; l++) {
		wish(g, l, 1);
		place_layer(g, l, a, b);
	}
	free(a);
	free(b);
	double left = INFINITY;
	for (size_t i = 0; i < g->nitems; i++)
		if (g->it[i].x - width_of(g, i) / 2 < left)
			left = g->it[i].x - width_of(g, i) / 2;
	for (size_t i = 0; i < g->nitems; i++)
		g->it[i].x = round(g->it[i].x - left + MARGIN);
	return 0;
}

static int layout(struct layout *g, const dsv_ancestry *a)
{
	int rc;
	g->n = a->n;
	if (!(g->it = calloc(a->n ? a->n : 1, sizeof *g->it)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	assign_layers(g, a);
	if ((rc = build_edges(g, a)) || (rc = initial_order(g)))
		return rc;
	for (int round = 0; round < 2; round++) {
		for (size_t l = 1; l < g->nlayers; l++)
			sweep_layer(g, l, 1);
		for (size_t l = g->nlayers - 1; l-- > 0;)
			sweep_layer(g, l, 0);
	}
	for (size_t l = 1; l < g->nlayers; l++)
		sweep_layer(g, l, 1);
	return assign_x(g);
}

/* ---- drawing ------------------------------------------------------------ */

static double top_of(size_t layer)
{
	return MARGIN + (double)layer * (BOX_H + GAP_Y);
}

/* An edge: a smooth curve from the parent's bottom to the child's top,
 * straight down through each layer it passes. */
static void draw_edge(FILE *f, const struct layout *g, const struct edge *e)
{
	const struct item *p = &g->it[e->parent], *c = &g->it[e->child];
	double x0 = p->x, y0 = top_of(p->layer) + BOX_H;
	fprintf(f, "<path class=\"%s\" d=\"M%.0f %.0f", e->first ? "e1" : "e2",
		x0, y0);
	for (size_t q = 0; q <= e->npass; q++) {
		const struct item *t = q < e->npass ? &g->it[g->chain[e->at + q]] : c;
		double x1 = t->x, y1 = top_of(t->layer), ym = (y0 + y1) / 2;
		fprintf(f, " C%.0f %.1f %.0f %.1f %.0f %.0f", x0, ym, x1, ym, x1, y1);
		if (q < e->npass)
			fprintf(f, " L%.0f %.0f", x1, y1 + BOX_H);
		x0 = x1;
		y0 = y1 + BOX_H;
	}
	fputs("\"/>\n", f);
}

static void draw_node(FILE *f, const struct report *r, const struct layout *g,
		      size_t i)
{
	const dsv_ancestry_node *n = &r->anc->nodes[i];
	char hex[DSV_AID_HEXLEN + 1];
	double x = g->it[i].x - BOX_W / 2.0, y = top_of(g->it[i].layer);
	int mode = n->has_compute ? (int)n->compute.mode : DSV_MODE_COUNT;
	const char *col = report_mode_colour(mode);

	dsv_aid_fmt(hex, &n->id);
	fprintf(f, "<a href=\"#a-%s\"><g class=\"node%s\"><title>%.7s %s ", hex,
		i == 0 ? " rev" : "", hex,
		n->has_artifact ? dsv_kind_name(n->kind) : "commit");
	html_text(f, n->has_artifact ? n->op : "", -1, 0);
	if (r->refs[i]) {
		fputs(" (", f);
		html_text(f, r->refs[i], -1, 0);
		fputc(')', f);
	}
	fputs(": ", f);
	html_line(f, n->message, 200);
	fprintf(f, "</title><rect x=\"%.0f\" y=\"%.0f\" width=\"%d\" height=\"%d\" "
		"rx=\"6\" fill=\"%s\" fill-opacity=\"0.3\" stroke=\"%s\" "
		"stroke-width=\"%d\"/>", x, y, BOX_W, BOX_H, col,
		i == 0 ? "#000" : col, i == 0 ? 3 : 1);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\"><tspan class=\"id\">%.7s</tspan> %s"
		"</text>", x + 8, y + 15, hex,
		n->has_artifact ? dsv_kind_name(n->kind) : "commit");
	fprintf(f, "<text class=\"op\" x=\"%.0f\" y=\"%.0f\">", x + 8, y + 30);
	html_text(f, n->has_artifact ? n->op : "(no dsv.json)", -1, 24);
	fputs("</text>", f);
	if (r->refs[i]) {
		fprintf(f, "<text class=\"ref\" x=\"%.0f\" y=\"%.0f\">", x + 8,
			y + 44);
		html_text(f, r->refs[i], -1, 26);
		fputs("</text>", f);
	}
	fputs("</g></a>\n", f);
}

int report_graph(FILE *f, const struct report *r)
{
	struct layout g = {0};
	int rc = layout(&g, r->anc);
	if (rc) {
		layout_free(&g);
		return rc;
	}
	double w = 0, h = top_of(g.nlayers) - GAP_Y + MARGIN;
	for (size_t i = 0; i < g.nitems; i++)
		if (g.it[i].x + width_of(&g, i) / 2 > w)
			w = g.it[i].x + width_of(&g, i) / 2;
	w += MARGIN;
	fprintf(f, "<svg class=\"graph\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
		"font-size=\"12\" role=\"img\" aria-label=\"lineage graph, "
		"oldest at the top\">\n", w, h, w, h);
	fputs("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" "
	      "refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
	      "orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#555\"/>"
	      "</marker></defs>\n", f);
	/* secondary edges under the primary ones, all under the boxes */
	for (int first = 0; first < 2; first++)
		for (size_t j = 0; j < g.nedges; j++)
			if (g.e[j].first == first)
				draw_edge(f, &g, &g.e[j]);
	for (size_t i = r->anc->n; i-- > 0;)
		draw_node(f, r, &g, i);
	fputs("</svg>\n", f);
	layout_free(&g);
	return 0;
}
