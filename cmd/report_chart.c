/* report_chart.c: the charts of `dsv report` as inline SVG: the stacked bar
 * of compute by mode (with the break-even line of a baseline), and the
 * training and validation loss of every model against tokens, on a log
 * axis when the tokens span more than two decades.
 */
#include "cmd/report.h"

#include <math.h>
#include <string.h>

/* ---- compute by mode ---------------------------------------------------- */

enum { BAR_W = 640, BAR_H = 26, BAR_TOP = 18 };

static int is_data_mode(int m)
{
	return m == DSV_MODE_INGEST || m == DSV_MODE_SELECTION ||
	       m == DSV_MODE_TRANSFORMATION || m == DSV_MODE_GENERATION;
}

void report_compute_bar(FILE *f, const struct report *r)
{
	const dsv_audit *a = r->audit;
	double sum = a->data_cost + a->training_cost, x = 0;
	if (!(sum > 0)) {
		fputs("<p>No data or training compute is recorded in this "
		      "ancestry.</p>\n", f);
		return;
	}
	fprintf(f, "<svg class=\"bar\" width=\"%d\" height=\"%d\" viewBox=\"0 0 "
		"%d %d\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\" "
		"aria-label=\"compute by mode\">\n", BAR_W + 2, BAR_TOP + BAR_H + 18,
		BAR_W + 2, BAR_TOP + BAR_H + 18);
	/* data modes first, then training: the data share is where they meet */
	for (int m = 0; m < DSV_MODE_COUNT; m++) {
		if (!is_data_mode(m) && m != DSV_MODE_TRAINING)
			continue;
		const dsv_compute *c = &a->by_mode[m];
		double v = a->share_unit == DSV_SHARE_FLOPS ? c->flops : c->wall_s;
		double w = BAR_W * v / sum;
		if (!(w > 0))
			continue;
		fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			"fill=\"%s\"><title>%s %.1f%%</title></rect>\n", 1 + x,
			BAR_TOP, w, BAR_H, report_mode_colour(m),
			dsv_mode_name((dsv_mode)m), 100 * v / sum);
		if (w >= 70)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\">%s %.0f%%</text>\n",
				1 + x + 4, BAR_TOP + 17, dsv_mode_name((dsv_mode)m),
				100 * v / sum);
		x += w;
	}
	fprintf(f, "<text x=\"1\" y=\"%d\">data %.1f%%</text>\n", BAR_TOP - 6,
		100 * a->data_share);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">training %.1f%%"
		"</text>\n", BAR_W + 1, BAR_TOP - 6, 100 * a->training_share);
	fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		"stroke=\"#000\" stroke-width=\"2\"/>\n", 1 + BAR_W * a->data_share,
		BAR_TOP - 2, 1 + BAR_W * a->data_share, BAR_TOP + BAR_H + 2);
	if (r->verdict && r->verdict->break_even > 0 &&
	    r->verdict->break_even < 1) {
		double bx = 1 + BAR_W * r->verdict->break_even;
		fprintf(f, "<line class=\"break-even\" x1=\"%.1f\" y1=\"%d\" "
			"x2=\"%.1f\" y2=\"%d\" stroke=\"#000\" stroke-width=\"1.5\" "
			"stroke-dasharray=\"4 3\"/>\n<text x=\"%.1f\" y=\"%d\" "
			"text-anchor=\"%s\">break-even 1 - 1/k = %.1f%%</text>\n",
			bx, BAR_TOP - 2, bx, BAR_TOP + BAR_H + 6,
			bx, BAR_TOP + BAR_H + 16,
			bx < BAR_W / 2 ? "start" : "end", 100 * r->verdict->break_even);
	}
	fputs("</svg>\n", f);
}

/* ---- loss curves -------------------------------------------------------- */

enum {
	CH_W = 720, CH_H = 340, PAD_L = 56, PAD_R = 16, PAD_T = 12, PAD_B = 42,
	LEGEND_COL = 236, LEGEND_ROW = 18,
};

static const char *const series_colour[] = {
	"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
	"#000000", "#999999",
};
#define NSERIES_COLOURS (sizeof series_colour / sizeof *series_colour)

struct axis {
	double lo, hi; /* the range drawn */
	int log;
	double px0, px1; /* pixels of lo and hi */
};

static double axis_px(const struct axis *a, double v)
{
	double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
			  : (v - a->lo) / (a->hi - a->lo);
	return a->px0 + t * (a->px1 - a->px0);
}

/* A tick step of 1, 2 or 5 times a power of ten giving about n ticks. */
static double nice_step(double range, int n)
{
	double raw = range / n, p = pow(10, floor(log10(raw))), m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* The loss range of every point, and the tokens range (only positive
 * tokens when `positive`). 0 when there is no point. */
static int ranges(const struct report *r, int positive, double *x0, double *x1,
		  double *y0, double *y1)
{
	int any = 0;
	*x0 = *y0 = INFINITY;
	*x1 = *y1 = -INFINITY;
	for (size_t m = 0; m < r->nmodels; m++)
		for (size_t k = 0; k < r->models[m].nrows; k++) {
			const dsv_metrics_row *row = &r->models[m].rows[k];
			double t = (double)row->tokens;
			for (int s = 0; s < 2; s++) {
				double v = s ? row->val_loss : row->train_loss;
				if (!isfinite(v) || (positive && !(t > 0)))
					continue;
				any = 1;
				*x0 = fmin(*x0, t);
				*x1 = fmax(*x1, t);
				*y0 = fmin(*y0, v);
				*y1 = fmax(*y1, v);
			}
		}
	return any;
}

static void axis_ticks(FILE *f, const struct axis *x, const struct axis *y)
{
	char b[32];
	double yb = y->px0, xl = x->px0;
	fprintf(f, "<g class=\"axis\" stroke=\"#888\" stroke-width=\"1\">"
		"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
		"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
		xl, yb, x->px1, yb, xl, yb, xl, y->px1);
	if (x->log) {
		for (double d = floor(log10(x->lo)); d <= ceil(log10(x->hi)); d++) {
			double v = pow(10, d);
			if (v < x->lo * 0.999 || v > x->hi * 1.001)
				continue;
			double px = axis_px(x, v);
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
				"stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.0f\" "
				"text-anchor=\"middle\">%s</text>\n", px, y->px1, px,
				yb + 4, px, yb + 16, fmt_si(b, v));
		}
	} else {
		double st = nice_step(x->hi - x->lo, 6);
		for (double v = ceil(x->lo / st) * st; v <= x->hi * 1.0001; v += st) {
			double px = axis_px(x, v);
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
				"stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.0f\" "
				"text-anchor=\"middle\">%s</text>\n", px, y->px1, px,
				yb + 4, px, yb + 16, fmt_si(b, v));
		}
	}
	double st = nice_step(y->hi - y->lo, 5);
	for (double v = ceil(y->lo / st) * st; v <= y->hi + st * 1e-6; v += st) {
		double py = axis_px(y, v);
		fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
			"stroke=\"#eee\"/><text x=\"%.0f\" y=\"%.1f\" "
			"text-anchor=\"end\">%.4g</text>\n", xl - 4, py, x->px1, py,
			xl - 6, py + 4, fabs(v) < st * 1e-6 ? 0 : v);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">tokens%s"
		"</text>\n<text x=\"14\" y=\"%.0f\" text-anchor=\"middle\" "
		"transform=\"rotate(-90 14 %.0f)\">loss</text>\n",
		(x->px0 + x->px1) / 2, yb + 34, x->log ? " (log scale)" : "",
		(y->px0 + y->px1) / 2, (y->px0 + y->px1) / 2);
}

/* One curve: the points as data-x/data-y (tokens and loss as METRICS.tsv
 * has them) and as a polyline; validation points get markers too. */
static void series(FILE *f, const struct report *r, size_t m, int val,
		   const struct axis *x, const struct axis *y)
{
	const struct report_model *md = &r->models[m];
	const char *col = series_colour[m % NSERIES_COLOURS];
	char hex[DSV_AID_SHORTLEN + 1];
	size_t npts = 0;
	dsv_aid_short(hex, &r->anc->nodes[md->node].id);
	for (size_t k = 0; k < md->nrows; k++) {
		double v = val ? md->rows[k].val_loss : md->rows[k].train_loss;
		npts += isfinite(v) && (!x->log || md->rows[k].tokens > 0);
	}
	if (!npts)
		return;
#define POINTS(DO)                                                            \
	for (size_t k = 0; k < md->nrows; k++) {                              \
		const dsv_metrics_row *row = &md->rows[k];                    \
		double v = val ? row->val_loss : row->train_loss;             \
		if (!isfinite(v) || (x->log && !(row->tokens > 0)))           \
			continue;                                             \
		DO;                                                           \
	}
	fprintf(f, "<polyline class=\"%s\" data-model=\"%s\" fill=\"none\" "
		"stroke=\"%s\" stroke-width=\"%s\"%s data-x=\"", val ? "val" : "train",
		hex, col, val ? "2" : "1.2", val ? " stroke-dasharray=\"6 3\"" : "");
	const char *sep = "";
	POINTS((fprintf(f, "%s%lld", sep, (long long)row->tokens), sep = " "))
	fputs("\" data-y=\"", f);
	sep = "";
	POINTS((fputs(sep, f), html_exact(f, v), sep = " "))
	fputs("\" points=\"", f);
	sep = "";
	POINTS((fprintf(f, "%s%.1f,%.1f", sep, axis_px(x, (double)row->tokens),
			axis_px(y, v)), sep = " "))
	fputs("\"/>\n", f);
	if (val || npts == 1) {
		char b[32];
		POINTS((fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
				"fill=\"%s\"><title>%s %s loss %.4f at %s tokens"
				"</title></circle>\n",
				axis_px(x, (double)row->tokens), axis_px(y, v), col,
				hex, val ? "validation" : "train", v,
				fmt_count(b, (double)row->tokens))))
	}
#undef POINTS
}

static void legend(FILE *f, const struct report *r, double top)
{
	for (size_t m = 0; m < r->nmodels; m++) {
		const dsv_ancestry_node *n = &r->anc->nodes[r->models[m].node];
		const char *col = series_colour[m % NSERIES_COLOURS];
		double x = PAD_L + (double)(m % 3) * LEGEND_COL;
		double y = top + (double)(m / 3) * LEGEND_ROW;
		char hex[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(hex, &n->id);
		fprintf(f, "<g class=\"legend\"><line x1=\"%.0f\" y1=\"%.0f\" "
			"x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"1.2\"/>"
			"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
			"stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>"
			"<text x=\"%.0f\" y=\"%.0f\">%s", x, y, x + 14, y, col,
			x + 18, y, x + 36, y, col, x + 42, y + 4, hex);
		if (r->refs[r->models[m].node]) {
			fputc(' ', f);
			html_text(f, r->refs[r->models[m].node], -1, 20);
		}
		fputs("</text></g>\n", f);
	}
}

void report_loss_chart(FILE *f, const struct report *r)
{
	double x0, x1, y0, y1;
	if (!ranges(r, 0, &x0, &x1, &y0, &y1)) {
		fputs("<p>No training curve in this ancestry.</p>\n", f);
		return;
	}
	struct axis x = {.px0 = PAD_L, .px1 = CH_W - PAD_R};
	struct axis y = {.px0 = CH_H - PAD_B, .px1 = PAD_T};
	double px0, px1, py0, py1;
	/* more than two decades of tokens: a log axis over the positive ones */
	if (ranges(r, 1, &px0, &px1, &py0, &py1) && px1 / px0 > 100) {
		x.log = 1;
		x.lo = px0;
		x.hi = px1;
		y0 = py0;
		y1 = py1;
	} else {
		x.lo = 0;
		x.hi = x1 > 0 ? x1 : 1;
	}
	double pad = (y1 - y0) * 0.05 + 1e-3;
	y.lo = y0 - pad;
	y.hi = y1 + pad;
	size_t rows = (r->nmodels + 2) / 3;
	double h = CH_H + (double)rows * LEGEND_ROW + 4;
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 "
		"%d %.0f\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\" "
		"aria-label=\"loss against training tokens\">\n", CH_W, h, CH_W, h);
	axis_ticks(f, &x, &y);
	for (size_t m = 0; m < r->nmodels; m++)
		for (int val = 0; val < 2; val++)
			series(f, r, m, val, &x, &y);
	legend(f, r, CH_H + 6);
	fputs("</svg>\n", f);
}
