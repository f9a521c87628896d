/* derive.c: `dsv derive OP REV -o NAME -m MSG`: the op table and the
 * framework the ops share (cmd/derive.h): input resolution, the per-shard
 * selection helper that turns an op's verdicts into selection and column
 * objects, stats and compute, MPI slicing, and the one lineage commit.
 * Objects are written first and the branch moves last, by compare-and-swap,
 * so an interrupted derive records nothing.
 */
#include "cmd/derive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ranks.h"
#include "kernels/device.h"

/* ---- the op table --------------------------------------------------------- */

#define DERIVE_OP(name, summary) int derive_##name(int argc, char **argv);
#include "cmd/derive_ops.h"
#undef DERIVE_OP

static const struct derive_op {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} ops[] = {
#define DERIVE_OP(name, summary) {#name, derive_##name, summary},
#include "cmd/derive_ops.h"
#undef DERIVE_OP
};

#define NOPS (sizeof ops / sizeof ops[0])

static void list_ops(FILE *f)
{
	fprintf(f, "usage: dsv derive OP REV -o NAME -m MSG [options]\n\nops:\n");
	for (size_t i = 0; i < NOPS; i++)
		fprintf(f, "    %-10s %s\n", ops[i].name, ops[i].summary);
	fprintf(f, "\n'dsv derive OP -h' for an op's options\n");
}

int cmd_derive(int argc, char **argv)
{
	if (argc < 2) {
		list_ops(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		list_ops(stdout);
		return 0;
	}
	for (size_t i = 0; i < NOPS; i++)
		if (!strcmp(argv[1], ops[i].name))
			return ops[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "dsv: error: unknown derive op '%s'\n", argv[1]);
	list_ops(stderr);
	return 2;
}

/* ---- the derivation ------------------------------------------------------- */

#define NREASONS 256

struct reason_count {
	uint64_t records, bytes;
};

struct derive {
	char op[DSV_ARTIFACT_NAME_MAX];
	struct derive_args args;
	dsv_mode mode;
	int rank, nranks, device, started, locked;
	dsv_store *s;
	dsv_lineage *l;
	dsv_aid input_id;
	dsv_manifest *in, *out;
	int has_old; /* the branch exists (--force) */
	dsv_aid old;
	dsv_meter *meter;
	dsv_artifact *art;
	size_t nextra;
	dsv_aid *extra; /* further parents */
	/* reasons: names[code], code 1..255 */
	int nreasons;
	char *reasons[NREASONS];
	/* stats (this rank's until gathered) */
	uint64_t records_in, bytes_in, records_out, bytes_out;
	uint64_t shards, selections_new, columns_new;
	struct reason_count dropped[NREASONS];
	int selected;       /* derive_select ran and gathered */
	dsv_compute others; /* other ranks' compute, summed */
	int have_others;
	struct gpu_meter gpu; /* on CUDA: the kernels' device time, energy */
};

int derive_new(struct derive **out, const char *op)
{
	struct derive *d = calloc(1, sizeof *d);
	*out = NULL;
	if (!d)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	snprintf(d->op, sizeof d->op, "%s", op);
	d->nranks = 1;
	d->nreasons = 1;
	if (dsv_mode_for_op(&d->mode, op) ||
	    dsv_artifact_new(&d->art, DSV_KIND_DATASET, op)) {
		derive_free(d);
		return dsv_error_code();
	}
	*out = d;
	return 0;
}

void derive_free(struct derive *d)
{
	if (!d)
		return;
	if (d->locked)
		dsv_store_unlock(d->s);
	dsv_manifest_free(d->in);
	dsv_manifest_free(d->out);
	dsv_meter_free(d->meter);
	gpu_meter_stop(&d->gpu);
	dsv_artifact_free(d->art);
	free(d->extra);
	for (int i = 0; i < NREASONS; i++)
		free(d->reasons[i]);
	free(d);
}

struct derive_args *derive_args_of(struct derive *d)
{
	return &d->args;
}

const dsv_manifest *derive_input(const struct derive *d) { return d->in; }
const dsv_aid *derive_input_id(const struct derive *d) { return &d->input_id; }
dsv_store *derive_store(const struct derive *d) { return d->s; }
dsv_lineage *derive_lineage(const struct derive *d) { return d->l; }
int derive_device(const struct derive *d) { return d->device; }
int derive_threads(const struct derive *d) { return (int)d->args.threads; }
dsv_meter *derive_meter(struct derive *d) { return d->meter; }
json_t *derive_params(struct derive *d) { return d->art->params; }
dsv_artifact *derive_artifact(struct derive *d) { return d->art; }
int derive_rank(const struct derive *d) { return d->rank; }
int derive_nranks(const struct derive *d) { return d->nranks; }

int derive_add_input(struct derive *d, const char *role, const dsv_aid *id)
{
	dsv_aid *x = realloc(d->extra, (d->nextra + 1) * sizeof *x);
	if (!x)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	d->extra = x;
	d->extra[d->nextra++] = *id;
	return dsv_artifact_add_input(d->art, role, id);
}

int derive_reason(struct derive *d, const char *name)
{
	for (int i = 1; i < d->nreasons; i++)
		if (!strcmp(d->reasons[i], name))
			return i;
	if (d->nreasons >= NREASONS)
		return dsv_error_set(DSV_EINVAL, "more than 255 drop reasons");
	if (!(d->reasons[d->nreasons] = strdup(name)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return d->nreasons++;
}

/* Rank 0's checks of the target branch, under its lock; the store lock
 * keeps gc away from the objects this derivation writes before its commit
 * refers to them. */
static int check_branch(struct derive *d)
{
	char ref[300];
	int rc = dsv_lineage_name_validate(d->args.output);
	if (rc)
		return dsv_error_wrap(rc, "-o '%s'", d->args.output);
	if ((rc = dsv_store_lock_branch(d->s, d->args.output)))
		return rc;
	d->locked = 1;
	snprintf(ref, sizeof ref, "refs/heads/%s", d->args.output);
	rc = dsv_lineage_ref_get(d->l, ref, &d->old);
	if (rc == DSV_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (!d->args.force)
		return dsv_error_set(DSV_EEXISTS, "branch '%s' already exists "
					"(use --force to move it)", d->args.output);
	d->has_old = 1;
	return 0;
}

static int start_checks(struct derive *d, const char *rev)
{
	int rc, dev;
	if ((rc = load_version(rev, &d->input_id, &d->in)))
		return rc;
	dev = dsv_device_parse(d->args.device ? d->args.device : "auto");
	if ((d->device = dsv_device_resolve(dev)) < 0)
		return dsv_error_set(DSV_ENOGPU, "--device %s: %s",
				     d->args.device ? d->args.device : "auto",
				     dsv_kernel_error_last());
	if (d->rank == 0 && (rc = check_branch(d)))
		return rc;
	if ((rc = dsv_artifact_add_input(d->art, "input", &d->input_id)))
		return rc;
	if ((rc = dsv_meter_new(&d->meter, d->mode)))
		return rc;
	if (d->device == DSV_DEVICE_CUDA) {
		if ((rc = dsv_meter_add_device(d->meter, dsv_device_name())))
			return rc;
		gpu_meter_start(&d->gpu);
	}
	dsv_meter_start(d->meter);
	return 0;
}

int derive_start(struct derive *d, int npos, char **pos,
		 const struct option *opts, const char *usage)
{
	if (npos < 1)
		return usage_error(opts, usage, "no input revision given");
	if (npos > 1)
		return usage_error(opts, usage, "unexpected argument '%s'", pos[1]);
	if (!d->args.output || !*d->args.output)
		return usage_error(opts, usage, "a branch for the new version is "
				   "required (-o NAME)");
	if (!d->args.message || !*d->args.message)
		return usage_error(opts, usage, "a message is required (-m MSG)");
	if (d->args.device && dsv_device_parse(d->args.device) < 0)
		return usage_error(opts, usage, "unknown --device '%s' (cpu, "
				   "cuda or auto)", d->args.device);
	if (d->args.threads < 0 || d->args.threads > 4096)
		return usage_error(opts, usage, "--threads must be 0..4096");
	if (ranks_init(&d->rank, &d->nranks))
		return error_msg("started by mpirun, but this dsv was built "
				 "without MPI");
	ranks_own_device(); /* before anything starts CUDA */
	d->s = the_repo->store;
	d->l = the_repo->lineage;
	int rc = start_checks(d, pos[0]);
	if (rc)
		die_error();
	/* Every rank must agree to go on, or a rank would wait forever in the
	 * gather of a derivation the others abandoned. */
	if (ranks_max(rc ? 1 : 0)) {
		if (!rc)
			fprintf(stderr, "dsv: error: another rank failed\n");
		return 1;
	}
	d->started = 1;
	return 0;
}

/* ---- the per-shard helper -------------------------------------------------- */

int derive_column_name_check(const char *name)
{
	size_t n = strlen(name);
	/* a name filter --where can read: it starts as a name there does */
	if (!n || n > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == 0 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return dsv_error_set(DSV_EINVAL, "bad column name '%s' (a letter "
				     "or '_', then letters, digits, '_', '.' "
				     "and '-', up to 63)", name);
	if (!strcmp(name, "text_bytes") || !strncmp(name, "meta.", 5) ||
	    !strcmp(name, "true") || !strcmp(name, "false"))
		return dsv_error_set(DSV_EINVAL, "column name '%s' means something "
				     "else to filter --where (text_bytes, "
				     "meta.FIELD, true, false)", name);
	if (!strcmp(name, "reason"))
		return dsv_error_set(DSV_EINVAL, "the 'reason' column is the "
				     "framework's (why filter and dedup dropped "
				     "each record)");
	return 0;
}

int derive_shard_column(struct derive_shard *sh, const char *name,
			dsv_col_type type, dsv_column **out)
{
	int rc = derive_column_name_check(name);
	if (rc)
		return rc;
	for (size_t i = 0; i < sh->nnew; i++)
		if (!strcmp(sh->new_names[i], name))
			return dsv_error_set(DSV_EEXISTS, "column '%s' made twice",
					     name);
	if (sh->nnew >= DERIVE_MAX_NEW_COLS)
		return dsv_error_set(DSV_EINVAL, "too many new columns");
	if ((rc = dsv_column_new(&sh->new_cols[sh->nnew], type, sh->rows)))
		return rc;
	snprintf(sh->new_names[sh->nnew], 64, "%s", name);
	*out = sh->new_cols[sh->nnew++];
	return 0;
}

int derive_shard_input_column(struct derive_shard *sh, const char *name,
			      dsv_column **out)
{
	for (size_t i = 0; i < sh->in->ncols; i++)
		if (!strcmp(sh->in->cols[i].name, name))
			return dsv_column_open(out, sh->d->s, &sh->in->cols[i].id,
					       NULL);
	return dsv_error_set(DSV_ENOTFOUND, "no column '%s'", name);
}

/* Adds a named column to the entry being built (replacing one so named). */
static int entry_set_col(dsv_manifest_entry *e, size_t *cap, const char *name,
			 const dsv_oid *id)
{
	for (size_t i = 0; i < e->ncols; i++)
		if (!strcmp(e->cols[i].name, name)) {
			e->cols[i].id = *id;
			return 0;
		}
	int rc = DSV_ARRAY_GROW(e->cols, *cap, e->ncols + 1, 8);
	if (rc)
		return rc;
	snprintf(e->cols[e->ncols].name, sizeof e->cols[e->ncols].name, "%s",
		 name);
	e->cols[e->ncols++].id = *id;
	return 0;
}

/* An object the derivation stored anew counts in *counter (when not NULL)
 * and its stored bytes as written (one the store held already costs
 * nothing). */
static void count_written(struct derive *d, uint64_t *counter,
			  const dsv_oid *id, int is_new)
{
	dsv_obj_info info;
	if (!is_new)
		return;
	if (counter)
		(*counter)++;
	if (dsv_index_get_object(d->s, id, &info) == 0)
		dsv_meter_add(d->meter, DSV_METER_BYTES_WRITTEN, info.stored_size);
}

/* Turns the op's verdicts on one shard into objects and the output entry. */
static int finish_shard(struct derive *d, struct derive_shard *sh,
			dsv_column *reason_col, dsv_manifest_entry *oe,
			size_t *cap)
{
	const dsv_manifest_entry *e = sh->in;
	uint64_t rep = e->repeat, dropped = 0;
	dsv_selection *nsel = NULL;
	dsv_oid id;
	int rc = 0, is_new;

	for (uint64_t r = 0; r < sh->rows; r++) {
		if (!derive_row_live(sh, r)) {
			sh->reason[r] = 0;
			continue;
		}
		uint64_t len = dsv_shard_text_len(sh->shard, r);
		d->records_in += rep;
		d->bytes_in += len * rep;
		if (sh->reason[r]) {
			dropped++;
			d->dropped[sh->reason[r]].records += rep;
			d->dropped[sh->reason[r]].bytes += len * rep;
		} else {
			d->records_out += rep;
			d->bytes_out += len * rep;
		}
	}
	*oe = *e;
	oe->cols = NULL;
	oe->ncols = 0;
	for (size_t i = 0; i < e->ncols; i++)
		if (strcmp(e->cols[i].name, "reason") &&
		    (rc = entry_set_col(oe, cap, e->cols[i].name, &e->cols[i].id)))
			return rc;
	if (dropped) {
		if ((rc = dsv_selection_new(&nsel, sh->rows)))
			return rc;
		for (uint64_t r = 0; r < sh->rows; r++)
			dsv_selection_set(nsel, r, derive_row_live(sh, r) &&
					  !sh->reason[r]);
		if ((rc = dsv_selection_write(nsel, d->s, &e->shard, &oe->sel,
					      &is_new)))
			goto out;
		count_written(d, &d->selections_new, &oe->sel, is_new);
		oe->has_sel = 1;
		oe->kept = dsv_selection_count(nsel);
		if ((rc = dsv_column_write(reason_col, d->s, &e->shard, &id,
					   &is_new)) ||
		    (rc = entry_set_col(oe, cap, "reason", &id)))
			goto out;
		count_written(d, &d->columns_new, &id, is_new);
	}
	for (size_t i = 0; i < sh->nnew; i++) {
		if ((rc = dsv_column_write(sh->new_cols[i], d->s, &e->shard, &id,
					   &is_new)) ||
		    (rc = entry_set_col(oe, cap, sh->new_names[i], &id)))
			goto out;
		count_written(d, &d->columns_new, &id, is_new);
	}
out:
	dsv_selection_free(nsel);
	return rc;
}

static int select_entry(struct derive *d, size_t i, unsigned cols,
			derive_shard_fn fn, void *ctx, dsv_manifest *out)
{
	const dsv_manifest_entry *e = &d->in->e[i];
	struct derive_shard sh = {.d = d, .entry = i, .in = e};
	dsv_selection *sel = NULL;
	dsv_column *reason = NULL;
	dsv_manifest_entry oe = {0};
	dsv_obj_info info;
	size_t cap = 0;
	int rc;

	if ((rc = dsv_shard_open(&sh.shard, d->s, &e->shard,
				 cols | DSV_SHARD_HASH)))
		goto out;
	sh.rows = dsv_shard_rows(sh.shard);
	if (sh.rows != e->rows) {
		rc = dsv_error_set(DSV_ECORRUPT, "shard has %llu %s, the "
				   "manifest says %llu",
				   (unsigned long long)sh.rows,
				   plural(sh.rows, "row", "rows"),
				   (unsigned long long)e->rows);
		goto out;
	}
	if (dsv_index_get_object(d->s, &e->shard, &info) == 0)
		dsv_meter_add(d->meter, DSV_METER_BYTES_READ, info.stored_size);
	if (e->has_sel && (rc = dsv_selection_open(&sel, d->s, &e->sel, NULL)))
		goto out;
	sh.sel = sel;
	if ((rc = dsv_column_new(&reason, DSV_COL_U8, sh.rows)))
		goto out;
	sh.reason = dsv_column_data(reason);
	if ((rc = fn(&sh, ctx)))
		goto out;
	/* An order object counts on the input's entries, so a version with
	 * one keeps its repeats whole. */
	dsv_manifest_entry first = *e, rest = *e;
	if (sh.repeat_reason && e->repeat > 1 && !d->in->has_order) {
		/* the first copy keeps the op's verdicts; the others, an
		 * entry of their own, are all dropped, for the first copy's
		 * reason where it was dropped */
		first.repeat = 1;
		rest.repeat = e->repeat - 1;
		sh.in = &first;
		if ((rc = finish_shard(d, &sh, reason, &oe, &cap)) ||
		    (rc = dsv_manifest_add(out, &oe)))
			goto out;
		free(oe.cols);
		oe = (dsv_manifest_entry){0};
		cap = 0;
		for (uint64_t r = 0; r < sh.rows; r++)
			if (!sh.reason[r]) /* kept once: the rest duplicate it */
				sh.reason[r] = sh.repeat_reason;
		sh.in = &rest;
	}
	if ((rc = finish_shard(d, &sh, reason, &oe, &cap)))
		goto out;
	rc = dsv_manifest_add(out, &oe);
	d->shards++;
out:
	if (rc)
		dsv_error_wrap(rc, "shard %zu", i);
	free(oe.cols);
	for (size_t k = 0; k < sh.nnew; k++)
		dsv_column_free(sh.new_cols[k]);
	dsv_column_free(reason);
	dsv_selection_free(sel);
	dsv_shard_free(sh.shard);
	return rc;
}

/* ---- gathering the ranks' work --------------------------------------------- *
 * Each rank sends one JSON object: {ok, error, manifest (its slice as
 * MANIFEST text), counts, dropped, compute}. Rank 0 concatenates the slices
 * in rank order, which is manifest order. */

static json_t *counts_json(const struct derive *d)
{
	json_t *o = json_object(), *dr = json_array();
	json_object_set_new(o, "records_in", json_integer((json_int_t)d->records_in));
	json_object_set_new(o, "bytes_in", json_integer((json_int_t)d->bytes_in));
	json_object_set_new(o, "records_out", json_integer((json_int_t)d->records_out));
	json_object_set_new(o, "bytes_out", json_integer((json_int_t)d->bytes_out));
	json_object_set_new(o, "shards", json_integer((json_int_t)d->shards));
	json_object_set_new(o, "selections_new", json_integer((json_int_t)d->selections_new));
	json_object_set_new(o, "columns_new", json_integer((json_int_t)d->columns_new));
	for (int i = 0; i < d->nreasons; i++)
		json_array_append_new(dr, json_pack("[II]",
			(json_int_t)d->dropped[i].records, (json_int_t)d->dropped[i].bytes));
	json_object_set_new(o, "dropped", dr);
	return o;
}

static uint64_t jget(const json_t *o, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(o, k));
}

static void counts_add(struct derive *d, const json_t *o)
{
	d->records_in += jget(o, "records_in");
	d->bytes_in += jget(o, "bytes_in");
	d->records_out += jget(o, "records_out");
	d->bytes_out += jget(o, "bytes_out");
	d->shards += jget(o, "shards");
	d->selections_new += jget(o, "selections_new");
	d->columns_new += jget(o, "columns_new");
	json_t *dr = json_object_get(o, "dropped");
	for (int i = 0; i < d->nreasons && i < (int)json_array_size(dr); i++) {
		json_t *p = json_array_get(dr, (size_t)i);
		d->dropped[i].records += (uint64_t)json_integer_value(json_array_get(p, 0));
		d->dropped[i].bytes += (uint64_t)json_integer_value(json_array_get(p, 1));
	}
}

/* Entries counted with their repeats: what the output must have as many of
 * as the input (an op may split a repeated entry, never lose one). */
static uint64_t copies(const dsv_manifest *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += m->e[i].repeat;
	return n;
}

/* Rank 0 merges the other ranks' payloads into d (its own is in d). */
static int merge_rank(struct derive *d, const char *buf, size_t len,
		      dsv_manifest *out)
{
	json_error_t je;
	dsv_manifest *part = NULL;
	dsv_compute c;
	int rc;
	json_t *o = json_loadb(buf, len, 0, &je);
	if (!o)
		return dsv_error_set(DSV_ECORRUPT, "bad rank payload: %s", je.text);
	if (!json_is_true(json_object_get(o, "ok"))) {
		rc = dsv_error_set(DSV_EIO, "%s",
				   json_string_value(json_object_get(o, "error"))
				   ? json_string_value(json_object_get(o, "error"))
				   : "a rank failed");
		goto out;
	}
	const char *mt = json_string_value(json_object_get(o, "manifest"));
	if ((rc = dsv_manifest_parse(&part, mt ? mt : "", mt ? strlen(mt) : 0)))
		goto out;
	for (size_t i = 0; i < part->n; i++)
		if ((rc = dsv_manifest_add(out, &part->e[i])))
			goto out;
	counts_add(d, json_object_get(o, "counts"));
	if ((rc = dsv_compute_from_json(&c, json_object_get(o, "compute"))))
		goto out;
	if (!d->have_others)
		d->others = c;
	else
		dsv_compute_add(&d->others, &c);
	d->have_others = 1;
out:
	dsv_manifest_free(part);
	json_decref(o);
	return rc;
}

/* 1 when `row` of output entry i is in the output version. */
static int out_keeps(struct derive *d, dsv_selection **sels, size_t i,
		     uint64_t row, int *rc)
{
	const dsv_manifest_entry *e = &d->out->e[i];
	if (!e->has_sel)
		return 1;
	if (!sels[i] && (*rc = dsv_selection_open(&sels[i], d->s, &e->sel, NULL)))
		return 0;
	return dsv_selection_get(sels[i], row);
}

/* The input's order object, if any, for the output: the same object when
 * no selection changed, else the input's positions whose rows the output
 * keeps, in the same order (an order lists exactly the version's records:
 * dsv_order_check). Written before the commit refers to it. */
static int carry_order(struct derive *d)
{
	dsv_order *o = NULL, *n = NULL;
	dsv_selection **sels = NULL;
	int rc = 0, changed = 0, is_new;

	d->out->has_order = 0;
	if (!d->in->has_order)
		return 0;
	for (size_t i = 0; i < d->in->n; i++) {
		const dsv_manifest_entry *a = &d->in->e[i], *b = &d->out->e[i];
		changed |= a->has_sel != b->has_sel ||
			   (a->has_sel && dsv_oid_cmp(&a->sel, &b->sel));
	}
	if (!changed) {
		d->out->has_order = 1;
		d->out->order = d->in->order;
		return 0;
	}
	if (!(sels = calloc(d->out->n ? d->out->n : 1, sizeof *sels)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_order_open(&o, d->s, &d->in->order)) ||
	    (rc = dsv_order_new(&n, d->out->n)))
		goto out;
	for (size_t k = 0; k < o->nruns && !rc; k++) {
		const dsv_order_run *r = &o->runs[k];
		if (r->entry >= d->out->n) {
			rc = dsv_error_set(DSV_ECORRUPT, "order run past the "
					   "manifest's entries");
			break;
		}
		for (uint64_t row = r->start; row < r->start + r->count && !rc; row++)
			if (out_keeps(d, sels, (size_t)r->entry, row, &rc) && !rc)
				rc = dsv_order_push(n, r->entry, row);
	}
	if (!rc && n->positions) {
		rc = dsv_order_write(n, d->s, &d->out->order, &is_new);
		d->out->has_order = rc == 0;
		if (!rc)
			count_written(d, NULL, &d->out->order, is_new);
	}
out:
	for (size_t i = 0; sels && i < d->out->n; i++)
		dsv_selection_free(sels[i]);
	free(sels);
	dsv_order_free(o);
	dsv_order_free(n);
	return rc;
}

static int gather(struct derive *d, int ok, dsv_manifest *mine)
{
	char *mt = NULL, *payload = NULL;
	size_t mlen;
	void **all = NULL;
	size_t *lens = NULL;
	json_t *o = json_object(), *cj = NULL;
	dsv_compute c;
	int rc = 0;

	if (ok && dsv_manifest_format(mine, &mt, &mlen))
		ok = 0;
	gpu_meter_add(&d->gpu, d->meter);
	dsv_meter_read(d->meter, &c);
	if (dsv_compute_to_json(&cj, &c))
		ok = 0;
	json_object_set_new(o, "ok", json_boolean(ok));
	json_object_set_new(o, "error", json_string(ok ? "" : dsv_error_last()));
	json_object_set_new(o, "manifest", json_string(mt ? mt : ""));
	json_object_set_new(o, "counts", counts_json(d));
	json_object_set_new(o, "compute", cj ? cj : json_object());
	payload = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!payload) {
		free(mt);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	if (ranks_gather(payload, strlen(payload), &all, &lens)) {
		rc = dsv_error_set(DSV_EIO, "cannot gather the ranks' results");
		goto out;
	}
	if (d->rank != 0) {
		rc = ok ? 0 : dsv_error_code();
		goto out;
	}
	/* rank 0: its own slice is already in d and `mine` */
	if (!ok) {
		rc = dsv_error_code() ? dsv_error_code() : DSV_EIO;
		goto out;
	}
	if ((rc = dsv_manifest_new(&d->out)))
		goto out;
	for (size_t i = 0; i < mine->n; i++)
		if ((rc = dsv_manifest_add(d->out, &mine->e[i])))
			goto out;
	for (int r = 1; r < d->nranks; r++)
		if ((rc = merge_rank(d, all[r], lens[r], d->out)))
			goto out;
	if (copies(d->out) != copies(d->in))
		rc = dsv_error_set(DSV_EIO, "the ranks returned %llu %s of "
				   "%llu", (unsigned long long)copies(d->out),
				   plural(copies(d->out), "entry copy",
					  "entry copies"),
				   (unsigned long long)copies(d->in));
	else
		rc = carry_order(d);
out:
	for (int r = 0; all && r < d->nranks; r++)
		free(all[r]);
	free(all);
	free(lens);
	free(payload);
	free(mt);
	return rc;
}

int derive_select(struct derive *d, unsigned cols, unsigned flags,
		  derive_shard_fn fn, void *ctx)
{
	dsv_manifest *mine = NULL;
	size_t n = d->in->n, lo = 0, hi = n;
	int rc;

	if (!(flags & DERIVE_SERIAL)) {
		lo = n * (size_t)d->rank / (size_t)d->nranks;
		hi = n * (size_t)(d->rank + 1) / (size_t)d->nranks;
	} else if (d->rank != 0) {
		hi = 0;
	}
	struct progress *bar = d->rank == 0 && !d->args.quiet
		? progress_start(d->op, hi - lo) : NULL;
	rc = dsv_manifest_new(&mine);
	for (size_t i = lo; !rc && i < hi; i++) {
		rc = select_entry(d, i, cols, fn, ctx, mine);
		progress_update(bar, i + 1 - lo);
	}
	progress_done(bar);
	dsv_meter_add(d->meter, DSV_METER_RECORDS_IN, d->records_in);
	dsv_meter_add(d->meter, DSV_METER_RECORDS_OUT, d->records_out);
	/* a collective call: every rank reaches it, failed or not */
	int grc = gather(d, rc == 0, mine);
	dsv_manifest_free(mine);
	if (!rc)
		rc = grc;
	d->selected = rc == 0;
	return rc;
}

int derive_set_output(struct derive *d, dsv_manifest *m)
{
	dsv_manifest_free(d->out);
	d->out = m;
	d->records_out = dsv_manifest_records(m);
	return 0;
}

void derive_set_totals(struct derive *d, uint64_t records_in,
		       uint64_t bytes_in, uint64_t bytes_out)
{
	d->records_in = records_in;
	d->bytes_in = bytes_in;
	d->bytes_out = bytes_out;
	dsv_meter_add(d->meter, DSV_METER_RECORDS_IN, records_in);
	dsv_meter_add(d->meter, DSV_METER_RECORDS_OUT, d->records_out);
}

void derive_count_selection(struct derive *d, const dsv_oid *id, int is_new)
{
	count_written(d, &d->selections_new, id, is_new);
}

/* ---- the commit ------------------------------------------------------------ */

static void describe(struct derive *d, const dsv_compute *c)
{
	dsv_artifact *a = d->art;
	json_t *dropped = json_object(), *codes = json_object();
	dsv_artifact_stat_int(a, "records_in", (int64_t)d->records_in);
	dsv_artifact_stat_int(a, "records_out", (int64_t)d->records_out);
	dsv_artifact_stat_int(a, "bytes_in", (int64_t)d->bytes_in);
	dsv_artifact_stat_int(a, "bytes_out", (int64_t)d->bytes_out);
	dsv_artifact_stat_int(a, "records", (int64_t)dsv_manifest_records(d->out));
	dsv_artifact_stat_int(a, "shards", (int64_t)d->out->n);
	dsv_artifact_stat_int(a, "new_selections", (int64_t)d->selections_new);
	dsv_artifact_stat_int(a, "new_columns", (int64_t)d->columns_new);
	for (int i = 1; i < d->nreasons; i++) {
		char k[8];
		snprintf(k, sizeof k, "%d", i);
		json_object_set_new(codes, k, json_string(d->reasons[i]));
		json_object_set_new(dropped, d->reasons[i], json_pack("{sIsIsi}",
			"records", (json_int_t)d->dropped[i].records,
			"bytes", (json_int_t)d->dropped[i].bytes, "code", i));
	}
	if (d->nreasons > 1) {
		json_object_set_new(a->stats, "dropped", dropped);
		json_object_set_new(a->stats, "reason_codes", codes);
	} else {
		json_decref(dropped);
		json_decref(codes);
	}
	json_object_set_new(a->params, "device",
			    json_string(d->device == DSV_DEVICE_CUDA ? "cuda" : "cpu"));
	if (d->nranks > 1)
		json_object_set_new(a->params, "ranks", json_integer(d->nranks));
	dsv_artifact_set_compute(a, c);
}

static void print_summary(struct derive *d, const dsv_aid *id,
			  const dsv_compute *c)
{
	char hex[DSV_AID_HEXLEN + 1], b1[32], b2[32];
	double pct = d->records_in ? 100.0 * (double)d->records_out /
					     (double)d->records_in : 100.0;
	if (d->args.json) {
		json_t *o = json_object();
		dsv_aid_fmt(hex, id);
		json_object_set_new(o, "artifact", json_string(hex));
		json_object_set_new(o, "branch", json_string(d->args.output));
		json_object_set_new(o, "op", json_string(d->op));
		json_object_set_new(o, "stats", json_incref(d->art->stats));
		json_object_set_new(o, "wall_s", json_real(c->wall_s));
		print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		return;
	}
	if (d->args.quiet)
		return;
	dsv_aid_short(hex, id);
	printf("[%s %s] %s\n", d->args.output, hex, d->args.message);
	/* a mix may repeat its inputs: more out than in is no "kept" */
	if (d->records_out > d->records_in)
		printf(" %s: %llu %s from %llu (%.2fx), %s of text from %s\n",
		       d->op, (unsigned long long)d->records_out,
		       plural(d->records_out, "record", "records"),
		       (unsigned long long)d->records_in, pct / 100,
		       human_bytes(b1, (double)d->bytes_out),
		       human_bytes(b2, (double)d->bytes_in));
	else
		printf(" %s: %llu of %llu %s kept (%.1f%%), %s of %s of "
		       "text\n", d->op, (unsigned long long)d->records_out,
		       (unsigned long long)d->records_in,
		       plural(d->records_in, "record", "records"), pct,
		       human_bytes(b1, (double)d->bytes_out),
		       human_bytes(b2, (double)d->bytes_in));
	for (int i = 1; i < d->nreasons; i++)
		if (d->dropped[i].records)
			printf("   %-32s %llu dropped\n", d->reasons[i],
			       (unsigned long long)d->dropped[i].records);
	printf(" %llu new %s, %llu new %s; %.2f s",
	       (unsigned long long)d->selections_new,
	       plural(d->selections_new, "selection", "selections"),
	       (unsigned long long)d->columns_new,
	       plural(d->columns_new, "column", "columns"), c->wall_s);
	if (d->nranks > 1)
		printf(" on %d ranks", d->nranks);
	printf("\n");
}

int derive_commit(struct derive *d)
{
	char *manifest = NULL, *json = NULL, ref[300];
	size_t mlen, jlen, np = 0;
	dsv_aid *parents = NULL, id;
	dsv_compute c;
	int rc = 1;

	if (d->rank != 0)
		return 0;
	if (!d->started || !d->out)
		return error_msg("derive %s: no output version", d->op);
	dsv_meter_stop(d->meter);
	gpu_meter_add(&d->gpu, d->meter);
	dsv_meter_read(d->meter, &c);
	if (d->have_others)
		dsv_compute_add(&c, &d->others);
	describe(d, &c);
	if (!(parents = calloc(1 + d->nextra, sizeof *parents))) {
		rc = error_msg("out of memory");
		goto out;
	}
	parents[np++] = d->input_id;
	/* an input given twice (dedup --against its own input) is one parent,
	 * as git drops a duplicate parent; dsv.json keeps every role */
	for (size_t i = 0; i < d->nextra; i++) {
		size_t k = 0;
		while (k < np && dsv_aid_cmp(&parents[k], &d->extra[i]))
			k++;
		if (k == np)
			parents[np++] = d->extra[i];
	}
	if (dsv_manifest_format(d->out, &manifest, &mlen) ||
	    dsv_artifact_format(d->art, &json, &jlen)) {
		rc = die_error();
		goto out;
	}
	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"MANIFEST", manifest, mlen}};
	snprintf(ref, sizeof ref, "refs/heads/%s", d->args.output);
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = parents,
			      .nparents = np, .message = d->args.message,
			      .ref = ref, .expected = d->has_old ? &d->old : NULL};
	if (dsv_lineage_commit(d->l, &co, &id)) {
		rc = die_error();
		goto out;
	}
	print_summary(d, &id, &c);
	rc = 0;
out:
	free(parents);
	free(manifest);
	free(json);
	return rc;
}

int derive_live_texts(struct derive_shard *sh, uint64_t **rows, size_t *n,
		      const uint8_t **base, uint64_t **off, uint8_t **buf)
{
	uint64_t *rw = malloc(sh->rows * sizeof *rw + 1);
	uint64_t *of = malloc((sh->rows + 1) * sizeof *of);
	const uint8_t *b = NULL;
	uint8_t *copy = NULL;
	size_t m = 0, len;
	int together = 1;
	*rows = *off = NULL;
	*buf = NULL;
	*n = 0;
	*base = NULL;
	if (!rw || !of)
		goto oom;
	of[0] = 0;
	for (uint64_t r = 0; r < sh->rows; r++) {
		if (!derive_row_live(sh, r))
			continue;
		const uint8_t *t = (const uint8_t *)dsv_shard_text(sh->shard, r, &len);
		if (!m)
			b = t;
		together &= t == b + of[m];
		rw[m] = r;
		of[m + 1] = of[m] + len;
		m++;
	}
	if (!together) {
		if (!(copy = malloc(of[m] + 1)))
			goto oom;
		for (size_t i = 0; i < m; i++)
			memcpy(copy + of[i], dsv_shard_text(sh->shard, rw[i], &len),
			       of[i + 1] - of[i]);
		b = copy;
	}
	*rows = rw;
	*off = of;
	*buf = copy;
	*base = b;
	*n = m;
	return 0;
oom:
	free(rw);
	free(of);
	return dsv_error_set(DSV_ENOMEM, "out of memory");
}
