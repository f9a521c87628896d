/* log.c: `dsv log [--graph] [--oneline] [--first-parent] [--all] [--json]
 * [-n N] [REV...]`: the lineage, newest first, as git log shows it, with each
 * artifact's kind, op, records and compute on a line of its own.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Ref names pointing at each commit, for "(HEAD -> main, tag: v1)". */
struct decorations {
	dsv_refinfo *br, *tg, *rm; /* branches, tags, remote-tracking refs */
	size_t nb, nt, nr;
	char *head; /* current branch, or NULL */
};

/* 0, or the error of listing the branches or the tags (what is listed
 * still decorates) */
static int decorations_load(struct decorations *d)
{
	memset(d, 0, sizeof *d);
	int rc = dsv_lineage_branch_list(the_repo->lineage, &d->br, &d->nb);
	int rt = dsv_lineage_tag_list(the_repo->lineage, &d->tg, &d->nt);
	int rr = dsv_lineage_remote_ref_list(the_repo->lineage, &d->rm, &d->nr);
	if (dsv_lineage_head_branch(the_repo->lineage, &d->head))
		d->head = NULL;
	return rc ? rc : rt ? rt : rr;
}

static void decorations_free(struct decorations *d)
{
	dsv_refinfo_free(d->br, d->nb);
	dsv_refinfo_free(d->tg, d->nt);
	dsv_refinfo_free(d->rm, d->nr);
	free(d->head);
}

static void decorate(FILE *f, const struct decorations *d, const dsv_aid *id)
{
	int n = 0;
	for (size_t i = 0; i < d->nb; i++) {
		if (dsv_aid_cmp(&d->br[i].target, id))
			continue;
		int is_head = d->head && strcmp(d->head, d->br[i].name) == 0;
		fprintf(f, "%s%s%s", n++ ? ", " : " (",
			is_head ? "HEAD -> " : "", d->br[i].name);
	}
	for (size_t i = 0; i < d->nr; i++)
		if (!dsv_aid_cmp(&d->rm[i].target, id))
			fprintf(f, "%s%s", n++ ? ", " : " (", d->rm[i].name);
	for (size_t i = 0; i < d->nt; i++)
		if (!dsv_aid_cmp(&d->tg[i].target, id))
			fprintf(f, "%stag: %s", n++ ? ", " : " (", d->tg[i].name);
	if (n)
		fputc(')', f);
}

/* Where the walk starts: each of the n revisions, every branch, tag and
 * remote-tracking ref with --all, HEAD when there are neither (an empty
 * repository with --all has no start: it shows nothing, as git log --all does). */
static int log_starts(char **revs, int n, int all, const struct decorations *d,
		      dsv_aid **out, size_t *nout)
{
	size_t k = 0, cap = (size_t)n + 1 + (all ? d->nb + d->nt + d->nr : 0);
	dsv_aid *s = malloc(cap * sizeof *s);
	int rc = s ? 0 : dsv_error_set(DSV_ENOMEM, "out of memory");
	for (int i = 0; !rc && i < n; i++)
		rc = resolve_rev(revs[i], &s[k++]);
	for (size_t i = 0; !rc && all && i < d->nb; i++)
		s[k++] = d->br[i].target;
	for (size_t i = 0; !rc && all && i < d->nt; i++)
		s[k++] = d->tg[i].target;
	for (size_t i = 0; !rc && all && i < d->nr; i++)
		s[k++] = d->rm[i].target;
	if (!rc && !n && !all)
		rc = resolve_rev(NULL, &s[k++]);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	*nout = k;
	return 0;
}

/* git log's -N: each "-N" before "--" is read as "-nN" (the first `nbuf`
 * of them; what is longer than a count is left to fail as an option). */
static void count_option(int argc, char **argv, char (*buf)[24], int nbuf)
{
	for (int i = 1; i < argc && nbuf && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		size_t d = strspn(a + 1, "0123456789");
		if (a[0] != '-' || !d || a[1 + d] || d > 20)
			continue;
		snprintf(*buf, sizeof *buf, "-n%s", a + 1);
		argv[i] = *buf++;
		nbuf--;
	}
}

/* "dataset commit: 3717 records, 12.3 MiB of text; ingest 0.42 s" */
static void describe(FILE *f, const dsv_artifact_summary *a)
{
	char b[32];
	fprintf(f, "%s %s", dsv_kind_name(a->kind), a->op);
	if (a->records >= 0)
		fprintf(f, ": %lld %s", (long long)a->records,
			plural(a->records, "record", "records"));
	if (a->text_bytes >= 0)
		fprintf(f, ", %s of text", human_bytes(b, (double)a->text_bytes));
	if (a->has_compute)
		fprintf(f, "; %s %.2f s", dsv_mode_name(a->compute.mode),
			a->compute.wall_s);
}

/* The lanes of --graph, as git draws them: each column waits for one
 * commit, and no two columns wait for the same one. A commit row puts `*`
 * in its column; the rows under it carry the edges from that column to
 * the parents, and every other column to its new place, one column a row
 * (`\` to the right, `/` to the left, `|` straight down). */
struct edge {
	size_t at, to; /* its column now, and at the end */
};

struct graph {
	dsv_aid *lane, *next; /* the columns, and scratch for the next ones */
	struct edge *edge;
	size_t n, nedges, lane_cap, next_cap, edge_cap;
};

static int graph_reserve(struct graph *g, size_t n)
{
	int rc = DSV_ARRAY_GROW(g->lane, g->lane_cap, n, 16);
	if (!rc)
		rc = DSV_ARRAY_GROW(g->next, g->next_cap, n, 16);
	if (!rc)
		rc = DSV_ARRAY_GROW(g->edge, g->edge_cap, n, 16);
	return rc;
}

static void graph_free(struct graph *g)
{
	free(g->lane);
	free(g->next);
	free(g->edge);
}

static size_t find_lane(const dsv_aid *lane, size_t n, const dsv_aid *id)
{
	for (size_t i = 0; i < n; i++)
		if (!dsv_aid_cmp(&lane[i], id))
			return i;
	return n;
}

static void graph_edge(struct graph *g, size_t from, const dsv_aid *to,
		       size_t m)
{
	g->edge[g->nedges++] = (struct edge){from, find_lane(g->next, m, to)};
}

/* Prints the commit row's prefix and moves the lanes on to the commit's
 * first `nparents` parents (fewer than it has under --first-parent): its
 * column gives way to the parents no other column waits for; the other
 * columns keep their order. */
static int graph_commit(struct graph *g, const dsv_commit_info *ci,
			size_t nparents, FILE *f)
{
	size_t col = find_lane(g->lane, g->n, &ci->id), n = g->n, m = 0;
	int rc = graph_reserve(g, n + 1 + nparents);
	if (rc)
		return rc;
	if (col == n)
		g->lane[n++] = ci->id; /* a tip no column waited for */
	for (size_t i = 0; i < n; i++)
		fputs(i == col ? "* " : "| ", f);
	for (size_t i = 0; i < n; i++) {
		if (i != col) {
			g->next[m++] = g->lane[i];
			continue;
		}
		for (size_t k = 0; k < nparents; k++) {
			const dsv_aid *p = &ci->parents[k];
			if (find_lane(g->lane, n, p) == n &&
			    find_lane(g->next, m, p) == m)
				g->next[m++] = *p;
		}
	}
	g->nedges = 0;
	for (size_t i = 0; i < n; i++)
		if (i != col)
			graph_edge(g, i, &g->lane[i], m);
		else
			for (size_t k = 0; k < nparents; k++)
				graph_edge(g, i, &ci->parents[k], m);
	memcpy(g->lane, g->next, m * sizeof *g->lane);
	g->n = m;
	return 0;
}

/* The rows under a commit row until every edge has reached its column:
 * none when all go straight down. */
static void graph_bends(struct graph *g, FILE *f)
{
	for (;;) {
		size_t width = 0;
		int bent = 0;
		for (size_t e = 0; e < g->nedges; e++) {
			bent |= g->edge[e].at != g->edge[e].to;
			if (g->edge[e].at + 1 > width)
				width = g->edge[e].at + 1;
		}
		if (!bent)
			return;
		char row[2 * width + 1];
		size_t len = 0;
		memset(row, ' ', sizeof row);
		for (size_t e = 0; e < g->nedges; e++) {
			size_t c = g->edge[e].at, p = 2 * c;
			char ch = '|';
			if (g->edge[e].to > c) {
				p++, ch = '\\';
				g->edge[e].at++;
			} else if (g->edge[e].to < c) {
				p--, ch = '/';
				g->edge[e].at--;
			}
			row[p] = ch;
			if (p + 1 > len)
				len = p + 1;
		}
		fprintf(f, "%.*s\n", (int)len, row);
	}
}

/* The start of a line under the commit: one `|` per column. */
static void graph_padding(const struct graph *g, FILE *f)
{
	for (size_t i = 0; i < g->n; i++)
		fputs("| ", f);
	if (!g->n)
		fputs("  ", f);
}

static void print_oneline(const dsv_commit_info *ci,
			  const struct decorations *d)
{
	char hex[DSV_AID_SHORTLEN + 1];
	dsv_aid_short(hex, &ci->id);
	printf("%s", hex);
	decorate(stdout, d, &ci->id);
	printf(" %s\n", ci->summary);
}

static void print_full(const dsv_commit_info *ci,
		       const dsv_artifact_summary *a,
		       const struct decorations *d)
{
	char hex[DSV_AID_HEXLEN + 1], date[64];
	time_t t = (time_t)ci->time + ci->tz_offset * 60;
	struct tm tm;
	dsv_aid_fmt(hex, &ci->id);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	printf("commit %s", hex);
	decorate(stdout, d, &ci->id);
	printf("\nAuthor: %s <%s>\nDate:   %s %+03d%02d\n\n", ci->author_name,
	       ci->author_email, date, ci->tz_offset / 60,
	       abs(ci->tz_offset) % 60);
	print_message(ci->message);
	if (a->has_artifact) {
		printf("\n    ");
		describe(stdout, a);
		putchar('\n');
	}
	putchar('\n');
}

static json_t *entry_json(const dsv_commit_info *ci, const dsv_artifact *a)
{
	char hex[DSV_AID_HEXLEN + 1];
	json_t *o = json_object(), *parents = json_array();
	dsv_aid_fmt(hex, &ci->id);
	json_object_set_new(o, "artifact", json_string(hex));
	for (size_t i = 0; i < ci->nparents; i++) {
		dsv_aid_fmt(hex, &ci->parents[i]);
		json_array_append_new(parents, json_string(hex));
	}
	json_object_set_new(o, "parents", parents);
	json_object_set_new(o, "author", json_string(ci->author_name));
	json_object_set_new(o, "email", json_string(ci->author_email));
	json_object_set_new(o, "time", json_integer(ci->time));
	json_object_set_new(o, "message", json_string(ci->message));
	if (a) {
		json_object_set_new(o, "kind", json_string(dsv_kind_name(a->kind)));
		json_object_set_new(o, "op", json_string(a->op));
		json_object_set_new(o, "stats", json_incref(a->stats));
		if (a->has_compute) {
			json_t *c = NULL;
			if (dsv_compute_to_json(&c, &a->compute) == 0)
				json_object_set_new(o, "compute", c);
		}
	}
	return o;
}

int cmd_log(int argc, char **argv)
{
	static const char usage[] = "dsv log [--graph] [--oneline] "
				    "[--first-parent] [--all] [--json] [-n N | -N] "
				    "[REV...]";
	int graph = 0, oneline = 0, json = 0, first_parent = 0, all = 0;
	long limit = -1; /* as in git: negative for no limit */
	const struct option opts[] = {
		OPT_BOOL(0, "graph", &graph, "draw the lineage as a graph"),
		OPT_BOOL(0, "oneline", &oneline, "one line per artifact"),
		OPT_BOOL(0, "first-parent", &first_parent, "follow only primary inputs"),
		OPT_BOOL(0, "all", &all, "from every branch, tag and remote-tracking ref, not only HEAD or REV"),
		OPT_INT('n', "max-count", &limit, "n", "show at most n artifacts"),
		OPT_BOOL(0, "json", &json, "print a JSON array"),
		OPT_END(),
	};
	struct decorations d;
	struct graph g = {0};
	dsv_walk *w = NULL;
	dsv_aid *starts = NULL, id;
	size_t nstarts = 0;
	json_t *arr = NULL;
	long shown = 0;
	int rc, walked = 0;

	char counts[4][24];
	count_option(argc, argv, counts, 4);
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	unsigned flags = (graph ? DSV_WALK_TOPO : 0) |
			 (first_parent ? DSV_WALK_FIRST_PARENT : 0);
	if ((decorations_load(&d) && all) ||
	    log_starts(argv, n, all, &d, &starts, &nstarts) ||
	    dsv_walk_new(&w, the_repo->lineage, starts, nstarts, flags)) {
		free(starts);
		decorations_free(&d);
		return die_error();
	}
	if (json)
		arr = json_array();
	rc = 0;
	while ((limit < 0 || shown < limit) &&
	       (walked = dsv_walk_next(w, &id)) == 1) {
		dsv_commit_info *ci = NULL;
		dsv_artifact_summary sum;
		if (dsv_commit_info_open(&ci, the_repo->lineage, &id) ||
		    dsv_artifact_summary_get(the_repo->lineage, &id, &sum)) {
			dsv_commit_info_free(ci);
			rc = die_error();
			break;
		}
		if (json) {
			/* JSON carries the whole dsv.json: read it. */
			dsv_artifact *a = NULL;
			if (dsv_artifact_read(&a, the_repo->lineage, &id))
				a = NULL; /* a foreign commit: no dsv.json */
			json_array_append_new(arr, entry_json(ci, a));
			dsv_artifact_free(a);
		} else if (graph) {
			size_t np = first_parent && ci->nparents ? 1
								 : ci->nparents;
			if (graph_commit(&g, ci, np, stdout)) {
				dsv_commit_info_free(ci);
				rc = die_error();
				break;
			}
			print_oneline(ci, &d);
			graph_bends(&g, stdout);
			if (!oneline && sum.has_artifact) {
				graph_padding(&g, stdout);
				fputs("  ", stdout);
				describe(stdout, &sum);
				putchar('\n');
			}
		} else if (oneline) {
			print_oneline(ci, &d);
		} else {
			print_full(ci, &sum, &d);
		}
		dsv_commit_info_free(ci);
		shown++;
	}
	if (!rc && walked < 0)
		rc = die_error();
	if (arr) {
		if (!rc)
			print_json(arr, JSON_INDENT(2));
		json_decref(arr);
	}
	decorations_free(&d);
	graph_free(&g);
	dsv_walk_free(w);
	free(starts);
	return rc;
}
