/* audit.c: `dsv audit [REV] [--json] [--baseline MODEL]`: the compute spent
 * on a version and on everything it came from (each ancestor once), by mode,
 * with the share that went to data and the share that went to training; with
 * a baseline model, whether that data share is under the break-even line
 * 1 - 1/k of the model's token efficiency over the baseline. */
#include "cmd/cmd.h"

#include <stdio.h>

static json_t *compute_json(const dsv_compute *c)
{
	json_t *o = NULL;
	return dsv_compute_to_json(&o, c) ? json_null() : o;
}

int audit_judge(const char *rev, const char *baseline, const dsv_audit *a,
		struct audit_verdict *v)
{
	dsv_compare_result r;
	if (compare_models(rev, baseline, &r))
		return -1;
	v->baseline = baseline;
	v->k = r.efficient == 0 ? r.k : 1 / r.k;
	v->break_even = 1 - 1 / v->k;
	v->under = a->data_share < v->break_even;
	return 0;
}

static void print_verdict(const struct audit_verdict *v, const dsv_audit *a)
{
	printf("against %s: k = %.3f", v->baseline, v->k);
	if (v->k < 1)
		printf(" (below 1: the baseline reached the same loss on "
		       "fewer tokens)");
	printf(", break-even data share 1 - 1/k = %.1f%%\n",
	       100 * v->break_even);
	printf("data share spent %.1f%%: %s\n", 100 * a->data_share,
	       v->under   ? "under the break-even line, the data work paid "
			    "for itself"
	       : v->k > 1 ? "over the break-even line, the data work cost "
			    "more than the training it saved"
			  : "over the break-even line, the data work saved "
			    "no training");
}

static int print_audit_json(const dsv_audit *a, const dsv_aid *head,
			    const struct audit_verdict *v)
{
	char hex[DSV_AID_HEXLEN + 1];
	json_t *o = json_object(), *rows = json_array(), *modes = json_object();
	dsv_aid_fmt(hex, head);
	json_object_set_new(o, "artifact", json_string(hex));
	for (size_t i = 0; i < a->nrows; i++) {
		const dsv_audit_row *r = &a->rows[i];
		json_t *row = json_object();
		dsv_aid_fmt(hex, &r->id);
		json_object_set_new(row, "artifact", json_string(hex));
		json_object_set_new(row, "kind", json_string(dsv_kind_name(r->kind)));
		json_object_set_new(row, "op", json_string(r->op));
		json_object_set_new(row, "compute", r->has_compute
				    ? compute_json(&r->compute) : json_null());
		json_object_set_new(row, "share", json_real(r->share));
		json_array_append_new(rows, row);
	}
	for (int m = 0; m < DSV_MODE_COUNT; m++)
		json_object_set_new(modes, dsv_mode_name(m),
				    compute_json(&a->by_mode[m]));
	json_object_set_new(o, "ancestors", rows);
	json_object_set_new(o, "missing_compute", json_integer((json_int_t)a->nmissing));
	json_object_set_new(o, "by_mode", modes);
	json_object_set_new(o, "total", compute_json(&a->total));
	json_object_set_new(o, "share_unit", json_string(
		a->share_unit == DSV_SHARE_FLOPS ? "flops" : "seconds"));
	json_object_set_new(o, "data_cost", json_real(a->data_cost));
	json_object_set_new(o, "training_cost", json_real(a->training_cost));
	json_object_set_new(o, "data_share", json_real(a->data_share));
	json_object_set_new(o, "training_share", json_real(a->training_share));
	if (v)
		json_object_set_new(o, "baseline", json_pack("{sssfsfsb}",
			"rev", v->baseline, "k", v->k, "break_even_data_share",
			v->break_even, "under_break_even", v->under));
	print_json(o, JSON_INDENT(2));
	json_decref(o);
	return 0;
}

static void print_row(const char *name, size_t count, const dsv_compute *c)
{
	char b[32], f[32];
	if (c->flops > 0)
		snprintf(f, sizeof f, "%.3g", c->flops);
	else
		snprintf(f, sizeof f, "-");
	printf("%-15s %9zu %10.2f %10.2f %9.2f %11s %12s %12llu\n", name, count,
	       c->wall_s, c->cpu_s, c->gpu_s, f,
	       human_bytes(b, (double)c->bytes_read),
	       (unsigned long long)c->records_out);
}

static void print_table(const dsv_audit *a, const dsv_aid *head)
{
	char hex[DSV_AID_SHORTLEN + 1];
	size_t count[DSV_MODE_COUNT] = {0};
	for (size_t i = 0; i < a->nrows; i++)
		if (a->rows[i].has_compute && a->rows[i].compute.mode < DSV_MODE_COUNT)
			count[a->rows[i].compute.mode]++;
	dsv_aid_short(hex, head);
	printf("audit of %s: %zu %s in its ancestry", hex, a->nrows,
	       plural(a->nrows, "artifact", "artifacts"));
	if (a->nmissing)
		printf(", %zu without a compute record", a->nmissing);
	printf("\n\n%-15s %9s %10s %10s %9s %11s %12s %12s\n", "mode",
	       "artifacts", "wall s", "cpu s", "gpu s", "FLOPs", "read",
	       "records out");
	for (int m = 0; m < DSV_MODE_COUNT; m++)
		if (count[m])
			print_row(dsv_mode_name(m), count[m], &a->by_mode[m]);
	print_row("total", a->nrows - a->nmissing, &a->total);
	printf("\ndata %.1f%%, training %.1f%% of data+training compute "
	       "(by %s)\n", 100 * a->data_share, 100 * a->training_share,
	       a->share_unit == DSV_SHARE_FLOPS ? "FLOPs" : "seconds");
}

int cmd_audit(int argc, char **argv)
{
	static const char usage[] = "dsv audit [--json] [--baseline MODEL] [REV]";
	int json = 0;
	const char *baseline = NULL;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "every ancestor's compute record as JSON"),
		OPT_STRING(0, "baseline", &baseline, "model", "a model of the same recipe on other data: is the data share under 1 - 1/k?"),
		OPT_END(),
	};
	dsv_audit *a = NULL;
	struct audit_verdict v;
	dsv_aid id;
	char hex[DSV_AID_HEXLEN + 1];
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (resolve_rev(n ? argv[0] : NULL, &id) ||
	    dsv_audit_run(&a, the_repo->lineage, &id))
		return die_error();
	dsv_aid_fmt(hex, &id);
	if (baseline && audit_judge(n ? argv[0] : hex, baseline, a, &v)) {
		dsv_audit_free(a);
		return die_error();
	}
	if (json) {
		print_audit_json(a, &id, baseline ? &v : NULL);
	} else {
		print_table(a, &id);
		if (baseline)
			print_verdict(&v, a);
	}
	dsv_audit_free(a);
	return 0;
}
