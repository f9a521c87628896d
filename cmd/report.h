/* report.h: what the files of `dsv report` share; shall only be included by
 * cmd/report*.c. report.c gathers the figures into a struct report, the
 * others write the page from it (docs/report.md): report_page.c the HTML,
 * report_graph.c the lineage graph, report_chart.c the compute bar and the
 * loss curves, report_html.c the escaping and the number formats.
 */
#ifndef DSV_CMD_REPORT_H
#define DSV_CMD_REPORT_H

#include <stdio.h>

#include "cmd/cmd.h"

/* A model of the ancestry and its training curve. */
struct report_model {
	size_t node;            /* its index in the ancestry */
	dsv_metrics_row *rows;  /* METRICS.tsv, owned; NULL when unreadable */
	size_t nrows;
};

struct report {
	const char *rev;                /* as the user gave it (NULL: HEAD) */
	const dsv_ancestry *anc;        /* nodes[0] is the revision */
	const dsv_audit *audit;         /* rows in the ancestry's order */
	char **refs;                    /* per node: "main, tag: v1" or NULL */
	const struct audit_verdict *verdict; /* NULL without --baseline */
	struct report_model *models;    /* the ancestry's models, newest first */
	size_t nmodels;
	const dsv_artifact *head;       /* the revision's dsv.json, or NULL */
	const dsv_model *head_model;    /* its MODEL when it is a model */
};

/* The page, whole, to f; 0, or DSV_ENOMEM. */
int report_page(FILE *f, const struct report *r);

/* ---- report_graph.c ---------------------------------------------------- */

/* The lineage graph as an <svg> element: a layered drawing, oldest at the
 * top; 0, or DSV_ENOMEM (nothing written then). */
int report_graph(FILE *f, const struct report *r);

/* ---- report_chart.c ---------------------------------------------------- */

/* The stacked bar of compute by mode (data and training modes, in the
 * audit's share unit) with the break-even line when there is a verdict. */
void report_compute_bar(FILE *f, const struct report *r);
/* One chart of every model's train and validation loss against tokens. */
void report_loss_chart(FILE *f, const struct report *r);

/* ---- report_html.c ----------------------------------------------------- */

/* The fill colour of a compute mode (DSV_MODE_COUNT: no compute record). */
const char *report_mode_colour(int mode);
/* s escaped for HTML and XML text and attribute values (& < > " '), with
 * bytes that are not valid UTF-8 and control characters other than tab and
 * newline replaced by U+FFFD; at most `max` characters (0: all), the rest
 * cut to an ellipsis. len -1: up to the NUL. */
void html_text(FILE *f, const char *s, long len, size_t max);
/* The first line of s, escaped as html_text. */
void html_line(FILE *f, const char *s, size_t max);
/* A number as JSON and dsv audit --json print it (%.15g), for data-v
 * attributes: what the tests compare with audit's figures. */
void html_exact(FILE *f, double v);
/* Human numbers, locale-independent: 12,345 / 1.23e+15 / 0.42. */
const char *fmt_count(char buf[32], double v);
const char *fmt_sci(char buf[32], double v);
const char *fmt_secs(char buf[32], double v);
/* Tokens on an axis: 500, 20k, 1.5M, 3G. */
const char *fmt_si(char buf[32], double v);
/* The author date as git's ISO form: 2024-05-01 12:34:56 +0200. */
const char *fmt_date(char buf[40], int64_t t, int tz_minutes);

#endif
