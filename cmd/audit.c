/* audit.c: `dsv audit [REV] [--json]`: the compute spent on a version and on
 * everything it came from (each ancestor once), by mode, with the share that
 * went to data and the share that went to training. */
#include "cmd/cmd.h"

#include <stdio.h>

static json_t *compute_json(const dsv_compute *c)
{
	json_t *o = NULL;
	return dsv_compute_to_json(&o, c) ? json_null() : o;
}

static int print_audit_json(const dsv_audit *a, const dsv_aid *head)
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
	printf("audit of %s: %zu artifacts in its ancestry", hex, a->nrows);
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
	static const char usage[] = "dsv audit [--json] [REV]";
	int json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "every ancestor's compute record as JSON"),
		OPT_END(),
	};
	dsv_audit *a = NULL;
	dsv_aid id;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (resolve_rev(n ? argv[0] : NULL, &id) ||
	    dsv_audit_run(&a, the_repo->lineage, &id))
		return die_error();
	if (json)
		print_audit_json(a, &id);
	else
		print_table(a, &id);
	dsv_audit_free(a);
	return 0;
}
