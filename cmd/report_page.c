/* report_page.c: the HTML page of `dsv report`: one file with its style and
 * its SVG inline, nothing fetched, no script: the header, the lineage graph,
 * compute by mode, the loss curves and a row per artifact (docs/report.md).
 */
#include "cmd/report.h"

#include <math.h>
#include <string.h>

static const char style[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"color:#222;background:#fff;max-width:72rem;margin:0 auto;padding:0 1rem 2rem}"
	"h1{font-size:1.5rem;margin:1.2rem 0 .4rem;overflow-wrap:anywhere}"
	"h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #ccc}"
	"code,.id,td.id{font-family:ui-monospace,'DejaVu Sans Mono',monospace}"
	"dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}"
	"dl.meta dt{color:#666}dl.meta dd{margin:0;overflow-wrap:anywhere}"
	".msg{white-space:pre-wrap;margin:0;font:inherit}"
	".scroll{overflow-x:auto;max-width:100%}"
	"table{border-collapse:collapse;margin:.4rem 0}"
	"th,td{padding:.15rem .5rem;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}"
	"th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	"tr.total td{font-weight:bold;border-top:2px solid #999}"
	".swatch{display:inline-block;width:.8em;height:.8em;border:1px solid rgba(0,0,0,.3);"
	"margin-right:.35em;vertical-align:-.05em}"
	".legend span{margin-right:1rem;white-space:nowrap}"
	"svg text.op{font-weight:bold}svg text.ref{font-style:italic;fill:#333}"
	"svg .id{font-weight:bold}svg a:hover rect{stroke-width:3}"
	"path.e1{stroke:#333;stroke-width:2;fill:none;marker-end:url(#arrow)}"
	"path.e2{stroke:#888;stroke-width:1.2;stroke-dasharray:5 3;fill:none;marker-end:url(#arrow)}"
	"svg.bar,svg.chart{max-width:100%;height:auto}"
	"p.note{color:#555}"
	"@media print{body{max-width:none;padding:0}.scroll{overflow:visible}"
	"svg.graph{max-width:100%;height:auto}a{color:inherit;text-decoration:none}"
	"section{break-before:auto}h2{break-after:avoid}tr{break-inside:avoid}}"
	"@media (max-width:40rem){body{font-size:13px;padding:0 .5rem}"
	"dl.meta{grid-template-columns:1fr}dl.meta dt{margin-top:.3rem}}";

static void dt(FILE *f, const char *name)
{
	fprintf(f, "<dt>%s</dt><dd>", name);
}

static const char *kind_of(const dsv_ancestry_node *n)
{
	return n->has_artifact ? dsv_kind_name(n->kind) : "commit";
}

/* The `key = value` lines of a config, "; " between them: those of `key`
 * only, or all (NULL). */
static void config_lines(FILE *f, const char *config, const char *key,
			 int first)
{
	size_t kl = key ? strlen(key) : 0;
	for (const char *p = config; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && (!key || (len > kl && !strncmp(p, key, kl) &&
				     p[kl] == ' '))) {
			if (!first)
				fputs("; ", f);
			first = 0;
			html_text(f, p, (long)len, 0);
		}
		p += len + (nl ? 1 : 0);
	}
}

/* What a model is: its data, tokenizer, validation set and config. */
static void model_config(FILE *f, const struct report *r)
{
	const dsv_model *m = r->head_model;
	char hex[DSV_AID_SHORTLEN + 1];
	dsv_aid_short(hex, &m->dataset);
	dt(f, "trained on");
	fprintf(f, "<code>%s</code></dd>", hex);
	dsv_aid_short(hex, &m->tokenizer);
	dt(f, "tokenizer");
	fprintf(f, "<code>%s</code>, vocabulary %d</dd>", hex, m->vocab);
	if (m->has_valid) {
		dsv_aid_short(hex, &m->valid);
		dt(f, "validated on");
		fprintf(f, "<code>%s</code></dd>", hex);
	}
	/* the shape and the schedule first, every key behind them */
	static const char *const keys[] = {"n_layer", "n_head", "n_embd",
					   "seq_len", "batch_size", "lr",
					   "max_steps", "max_tokens"};
	if (r->nmodels && r->models[0].node == 0) {
		const struct report_model *md = &r->models[0];
		for (size_t k = md->nrows; k-- > 0;) {
			char b[32];
			if (!isfinite(md->rows[k].val_loss))
				continue;
			dt(f, "final validation loss");
			fprintf(f, "%.4f after %s tokens</dd>\n", md->rows[k].val_loss,
				fmt_count(b, (double)md->rows[k].tokens));
			break;
		}
	}
	dt(f, "config");
	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
		config_lines(f, m->config, keys[k], k == 0);
	fputs("<details><summary>every key</summary><code>", f);
	config_lines(f, m->config, NULL, 1);
	fputs("</code></details></dd>\n", f);
}

/* The scalar stats of dsv.json (records, text_bytes, vocab, ...). */
static void stats(FILE *f, const dsv_artifact *a)
{
	const char *key;
	json_t *v;
	int any = 0;
	json_object_foreach(a->stats, key, v) {
		char b[32];
		if (!json_is_number(v) && !json_is_string(v))
			continue;
		if (!any++) {
			dt(f, "stats");
		} else {
			fputs(", ", f);
		}
		html_text(f, key, -1, 0);
		fputs(" ", f);
		if (json_is_integer(v))
			fputs(fmt_count(b, (double)json_integer_value(v)), f);
		else if (json_is_real(v))
			fprintf(f, "%.6g", json_real_value(v));
		else
			html_text(f, json_string_value(v), -1, 80);
	}
	if (any)
		fputs("</dd>\n", f);
}

static void header(FILE *f, const struct report *r)
{
	const dsv_ancestry_node *n = &r->anc->nodes[0];
	char hex[DSV_AID_HEXLEN + 1], b[40];
	dsv_aid_fmt(hex, &n->id);
	fputs("<header><h1>dsv report: ", f);
	html_text(f, r->rev ? r->rev : "HEAD", -1, 0);
	fputs("</h1>\n<dl class=\"meta\">\n", f);
	dt(f, "kind");
	fprintf(f, "%s ", kind_of(n));
	html_text(f, n->has_artifact ? n->op : "", -1, 0);
	fputs("</dd>", f);
	dt(f, "artifact");
	fprintf(f, "<code id=\"rev-id\">%s</code>", hex);
	if (r->refs[0]) {
		fputs(" (", f);
		html_text(f, r->refs[0], -1, 0);
		fputc(')', f);
	}
	fputs("</dd>\n", f);
	dt(f, "message");
	fputs("<pre class=\"msg\">", f);
	size_t ml = strlen(n->message);
	while (ml && n->message[ml - 1] == '\n')
		ml--;
	html_text(f, n->message, (long)ml, 0);
	fputs("</pre></dd>\n", f);
	dt(f, "date");
	fprintf(f, "%s</dd>", fmt_date(b, n->time, n->tz_offset));
	dt(f, "author");
	html_text(f, n->author_name, -1, 0);
	fputs(" &lt;", f);
	html_text(f, n->author_email, -1, 0);
	fputs("&gt;</dd>\n", f);
	if (n->has_artifact && n->kind == DSV_KIND_DATASET &&
	    (n->records >= 0 || n->text_bytes >= 0)) {
		dt(f, "size");
		if (n->records >= 0)
			fprintf(f, "%s %s", fmt_count(b, (double)n->records),
				plural(n->records, "record", "records"));
		if (n->text_bytes >= 0) {
			char hb[32];
			fprintf(f, "%s%s of text", n->records >= 0 ? ", " : "",
				human_bytes(hb, (double)n->text_bytes));
		}
		fputs("</dd>\n", f);
	}
	if (r->head_model)
		model_config(f, r);
	else if (r->head)
		stats(f, r->head);
	dt(f, "ancestry");
	fprintf(f, "%zu %s, %zu %s</dd>\n</dl></header>\n", r->anc->n,
		plural(r->anc->n, "artifact", "artifacts"), r->nmodels,
		plural(r->nmodels, "model", "models"));
}

static void mode_legend(FILE *f)
{
	fputs("<p class=\"legend\">", f);
	for (int m = 0; m <= DSV_MODE_COUNT; m++)
		fprintf(f, "<span><span class=\"swatch\" style=\"background:%s\">"
			"</span>%s</span>", report_mode_colour(m),
			m < DSV_MODE_COUNT ? dsv_mode_name((dsv_mode)m)
					   : "no compute record");
	fputs("</p>\n", f);
}

static void num_cell(FILE *f, const char *key, double v, const char *shown)
{
	fprintf(f, "<td class=\"n\" data-key=\"%s\" data-v=\"", key);
	html_exact(f, v);
	fprintf(f, "\">%s</td>", shown);
}

static void compute_row(FILE *f, const char *name, int mode, size_t count,
			const dsv_compute *c, const dsv_audit *a)
{
	char b[32];
	fprintf(f, "<tr data-mode=\"%s\"><td>", name);
	if (mode >= 0)
		fprintf(f, "<span class=\"swatch\" style=\"background:%s\"></span>",
			report_mode_colour(mode));
	fprintf(f, "%s</td><td class=\"n\" data-key=\"artifacts\" data-v=\"%zu\">"
		"%zu</td>", name, count, count);
	num_cell(f, "wall_s", c->wall_s, fmt_secs(b, c->wall_s));
	num_cell(f, "cpu_s", c->cpu_s, fmt_secs(b, c->cpu_s));
	num_cell(f, "gpu_s", c->gpu_s, fmt_secs(b, c->gpu_s));
	num_cell(f, "flops", c->flops, fmt_sci(b, c->flops));
	num_cell(f, "energy_joules", c->energy_j, fmt_sci(b, c->energy_j));
	double sum = a->data_cost + a->training_cost;
	double v = a->share_unit == DSV_SHARE_FLOPS ? c->flops : c->wall_s;
	int counted = mode < 0 || mode != DSV_MODE_EVALUATION;
	if (mode < 0)
		v = sum;
	if (sum > 0 && counted) {
		snprintf(b, sizeof b, "%.1f%%", 100 * v / sum);
		num_cell(f, "share", v / sum, b);
	} else {
		fputs("<td class=\"n\">-</td>", f);
	}
	fputs("</tr>\n", f);
}

static void compute(FILE *f, const struct report *r)
{
	const dsv_audit *a = r->audit;
	size_t count[DSV_MODE_COUNT] = {0};
	const char *unit = a->share_unit == DSV_SHARE_FLOPS ? "FLOPs" : "wall seconds";
	for (size_t i = 0; i < a->nrows; i++)
		if (a->rows[i].has_compute && a->rows[i].compute.mode < DSV_MODE_COUNT)
			count[a->rows[i].compute.mode]++;
	fputs("<section id=\"compute\"><h2>Compute by mode</h2>\n", f);
	fprintf(f, "<p>The same figures as <code>dsv audit</code>: every "
		"ancestor once. Shares are of data plus training compute, in "
		"%s%s.</p>\n", unit, a->share_unit == DSV_SHARE_FLOPS ? ""
		: " (not every data or training artifact reported its FLOPs)");
	report_compute_bar(f, r);
	fputs("<div class=\"scroll\"><table class=\"compute\"><thead><tr><th>mode"
	      "</th><th>artifacts</th><th>wall s</th><th>CPU s</th><th>GPU s</th>"
	      "<th>FLOPs</th><th>energy J</th><th>share</th></tr></thead><tbody>\n",
	      f);
	for (int m = 0; m < DSV_MODE_COUNT; m++)
		if (count[m])
			compute_row(f, dsv_mode_name((dsv_mode)m), m, count[m],
				    &a->by_mode[m], a);
	compute_row(f, "total", -1, a->nrows - a->nmissing, &a->total, a);
	fputs("</tbody></table></div>\n", f);
	fprintf(f, "<p>data share <b id=\"data-share\" data-v=\"");
	html_exact(f, a->data_share);
	fprintf(f, "\">%.1f%%</b>, training share <b id=\"training-share\" "
		"data-v=\"", 100 * a->data_share);
	html_exact(f, a->training_share);
	fprintf(f, "\">%.1f%%</b> of data plus training compute.", 100 *
		a->training_share);
	if (a->nmissing)
		fprintf(f, " %zu %s without a compute record %s not counted.",
			a->nmissing,
			plural(a->nmissing, "artifact", "artifacts"),
			plural(a->nmissing, "is", "are"));
	fputs("</p>\n", f);
	if (r->verdict) {
		const struct audit_verdict *v = r->verdict;
		fputs("<p id=\"verdict\">Against <code>", f);
		html_text(f, v->baseline, -1, 0);
		fprintf(f, "</code>: k = %.3f, break-even data share 1 - 1/k = "
			"<b id=\"break-even\" data-v=\"", v->k);
		html_exact(f, v->break_even);
		fprintf(f, "\">%.1f%%</b>. The data share spent, %.1f%%, is %s.</p>\n",
			100 * v->break_even, 100 * a->data_share,
			v->under ? "under the break-even line: the data work paid "
				   "for itself"
			: v->k > 1 ? "over the break-even line: the data work cost "
				     "more than the training it saved"
				   : "over the break-even line: the data work "
				     "saved no training");
	}
	fputs("</section>\n", f);
}

static void losses(FILE *f, const struct report *r)
{
	fputs("<section id=\"loss\"><h2>Loss curves</h2>\n", f);
	if (r->nmodels) {
		fputs("<p>Every model of the ancestry, from its METRICS.tsv: "
		      "training loss solid, validation loss dashed with "
		      "points, against the training tokens seen.</p>\n", f);
		for (size_t m = 0; m < r->nmodels; m++) {
			if (r->models[m].rows)
				continue;
			char hex[DSV_AID_SHORTLEN + 1];
			dsv_aid_short(hex, &r->anc->nodes[r->models[m].node].id);
			fprintf(f, "<p class=\"note\">Model <code>%s</code> has no "
				"readable METRICS.tsv.</p>\n", hex);
		}
		fputs("<div class=\"scroll\">", f);
		report_loss_chart(f, r);
		fputs("</div>\n", f);
	} else {
		fputs("<p>No model in the ancestry.</p>\n", f);
	}
	fputs("</section>\n", f);
}

static void device(FILE *f, const dsv_compute *c)
{
	char b[32];
	for (int d = 0; d < c->ndevices; d++) {
		if (d)
			fputs(", ", f);
		html_text(f, c->devices[d].name, -1, 40);
		fprintf(f, " %s s", fmt_secs(b, c->devices[d].gpu_s));
	}
	if (!c->ndevices)
		html_text(f, c->cpu_model[0] ? c->cpu_model : "cpu", -1, 40);
	if (c->ranks > 1)
		fprintf(f, " \u00d7 %d ranks", c->ranks);
}

static void artifacts(FILE *f, const struct report *r)
{
	fputs("<section id=\"artifacts\"><h2>Artifacts</h2>\n<p>Newest first, as "
	      "<code>dsv audit</code> lists them.</p>\n<div class=\"scroll\">"
	      "<table class=\"artifacts\"><thead><tr><th>artifact</th><th>kind"
	      "</th><th>op</th><th>refs</th><th>message</th><th>records in</th>"
	      "<th>records out</th><th>wall s</th><th>device</th><th>date</th>"
	      "</tr></thead><tbody>\n", f);
	for (size_t i = 0; i < r->anc->n; i++) {
		const dsv_ancestry_node *n = &r->anc->nodes[i];
		char hex[DSV_AID_HEXLEN + 1], b[40];
		int mode = n->has_compute ? (int)n->compute.mode : DSV_MODE_COUNT;
		dsv_aid_fmt(hex, &n->id);
		fprintf(f, "<tr id=\"a-%s\"><td class=\"id\" title=\"%s\"><span "
			"class=\"swatch\" style=\"background:%s\"></span>%.7s</td>"
			"<td>%s</td><td>", hex, hex, report_mode_colour(mode), hex,
			kind_of(n));
		html_text(f, n->has_artifact ? n->op : "", -1, 0);
		fputs("</td><td>", f);
		if (r->refs[i])
			html_text(f, r->refs[i], -1, 0);
		fputs("</td><td>", f);
		html_line(f, n->message, 120);
		fputs("</td>", f);
		if (n->has_compute) {
			const dsv_compute *c = &n->compute;
			fprintf(f, "<td class=\"n\">%s</td>",
				fmt_count(b, (double)c->records_in));
			fprintf(f, "<td class=\"n\">%s</td>",
				fmt_count(b, (double)c->records_out));
			fprintf(f, "<td class=\"n\">%s</td><td>", fmt_secs(b, c->wall_s));
			device(f, c);
			fputs("</td>", f);
		} else {
			fputs("<td class=\"n\">-</td><td class=\"n\">-</td>"
			      "<td class=\"n\">-</td><td>-</td>", f);
		}
		fprintf(f, "<td class=\"n\">%s</td></tr>\n",
			fmt_date(b, n->time, n->tz_offset));
	}
	fputs("</tbody></table></div></section>\n", f);
}

int report_page(FILE *f, const struct report *r)
{
	int rc;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, "
	      "initial-scale=1\">\n<meta name=\"generator\" content=\"dsv "
	      DSV_VERSION "\">\n<title>dsv report: ", f);
	html_text(f, r->rev ? r->rev : "HEAD", -1, 0);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
	header(f, r);
	fprintf(f, "<section id=\"lineage\"><h2>Lineage</h2>\n<p>%zu %s, "
		"oldest at the top; each box is one artifact (short id, kind, op "
		"and refs), coloured by its compute mode; an arrow runs from each "
		"input to what was made from it, solid from the primary input, "
		"dashed from the others. The report's revision has a black "
		"frame; a box links to its row below.</p>\n", r->anc->n,
		plural(r->anc->n, "artifact", "artifacts"));
	mode_legend(f);
	fputs("<div class=\"scroll\">\n", f);
	if ((rc = report_graph(f, r)))
		return rc;
	fputs("</div></section>\n", f);
	compute(f, r);
	losses(f, r);
	artifacts(f, r);
	fputs("<footer><p class=\"note\">Written by dsv " DSV_VERSION
	      " from the lineage alone: the same lineage gives the same "
	      "page.</p></footer>\n</body>\n</html>\n", f);
	return 0;
}
