/* eval.c: `dsv eval MODEL REV [--column NAME -o BRANCH]`: a model's
 * per-token loss and perplexity on a version; with --column each record's
 * mean loss becomes an f32 column of a new version (kind dataset, op eval,
 * parents REV and MODEL) that `derive filter --where` can select on.
 */
#include "cmd/cmd.h"
#include "cmd/derive.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where each scored record sits in the version. */
struct doc {
	size_t entry;
	uint64_t row;
};

struct evalrun {
	struct model md;
	struct doc_loss *dl;
	struct doc *docs; /* doc i is the doc_loss's document i */
	size_t ndocs, capdocs;
	double sum;
	uint64_t ntok;
};

static int run_eval(struct evalrun *e, const dsv_manifest *m)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	int rc;
	if ((rc = dsv_version_iter_new(&it, the_repo->store, m, DSV_SHARD_TEXT)))
		goto cleanup;
	while ((rc = dsv_version_iter_next(it, &rec)) == 1) {
		if ((rc = DSV_ARRAY_GROW(e->docs, e->capdocs, e->ndocs + 1,
					 1024)))
			goto cleanup;
		e->docs[e->ndocs++] = (struct doc){rec.entry, rec.row};
		if ((rc = doc_loss_add(e->dl, rec.text, rec.text_len)))
			goto cleanup;
	}
	if (rc == 0)
		rc = doc_loss_flush(e->dl);
	doc_loss_totals(e->dl, &e->sum, &e->ntok);
cleanup:
	dsv_version_iter_free(it);
	return rc;
}

/* Each record's mean loss as an f32 column per shard (NaN for rows the
 * version does not hold and for empty records), added under `name` to a
 * copy of m. */
static int column_manifest(struct evalrun *e, const dsv_manifest *m,
			   const char *name, dsv_manifest **out)
{
	dsv_store *s = the_repo->store;
	dsv_column **cols = calloc(m->n ? m->n : 1, sizeof *cols);
	size_t *owner = calloc(m->n ? m->n : 1, sizeof *owner);
	dsv_manifest *nm = NULL;
	int rc = 0;
	if (!cols || !owner) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < m->n; i++) {
		owner[i] = i;
		for (size_t j = 0; j < i; j++)
			if (!dsv_oid_cmp(&m->e[j].shard, &m->e[i].shard)) {
				owner[i] = owner[j];
				break;
			}
		if (owner[i] != i)
			continue;
		if ((rc = dsv_column_new(&cols[i], DSV_COL_F32, m->e[i].rows)))
			goto cleanup;
		float *v = dsv_column_data(cols[i]);
		for (uint64_t r = 0; r < m->e[i].rows; r++)
			v[r] = NAN;
	}
	for (size_t d = 0; d < e->ndocs; d++) {
		const struct doc *doc = &e->docs[d];
		float *v = dsv_column_data(cols[owner[doc->entry]]);
		v[doc->row] = (float)doc_loss_mean(e->dl, d);
	}
	if ((rc = dsv_manifest_new(&nm)))
		goto cleanup;
	nm->has_order = m->has_order;
	nm->order = m->order;
	for (size_t i = 0; i < m->n; i++) {
		dsv_manifest_entry en = m->e[i];
		dsv_manifest_col *c = calloc(en.ncols + 1, sizeof *c);
		if (!c) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		size_t k = 0;
		for (size_t j = 0; j < en.ncols; j++)
			if (strcmp(en.cols[j].name, name))
				c[k++] = en.cols[j];
		snprintf(c[k].name, sizeof c[k].name, "%s", name);
		rc = dsv_column_write(cols[owner[i]], s, &en.shard, &c[k].id,
				      NULL);
		en.cols = c;
		en.ncols = k + 1;
		if (!rc)
			rc = dsv_manifest_add(nm, &en);
		free(c);
		if (rc)
			goto cleanup;
	}
	*out = nm;
	nm = NULL;
cleanup:
	for (size_t i = 0; cols && i < m->n; i++)
		dsv_column_free(cols[i]);
	free(cols);
	free(owner);
	dsv_manifest_free(nm);
	return rc;
}

static int commit_column(struct evalrun *e, const dsv_aid *rev,
			 const dsv_manifest *m, const char *name,
			 const char *branch, const char *msg,
			 dsv_meter *meter, dsv_aid *id)
{
	dsv_manifest *nm = NULL;
	dsv_artifact *art = NULL;
	char *manifest = NULL, *json = NULL, ref[300];
	size_t mlen, jlen;
	dsv_compute c;
	int rc, locked = 0;
	/* Locked from before the columns are stored until the commit names
	 * them, so that no gc deletes them in between. */
	if ((rc = dsv_store_lock(the_repo->store)))
		goto cleanup;
	locked = 1;
	if ((rc = column_manifest(e, m, name, &nm)))
		goto cleanup;
	dsv_meter_stop(meter);
	dsv_meter_read(meter, &c);
	if ((rc = dsv_artifact_new(&art, DSV_KIND_DATASET, "eval")) ||
	    (rc = dsv_artifact_add_input(art, "input", rev)) ||
	    (rc = dsv_artifact_add_input(art, "model", &e->md.aid)))
		goto cleanup;
	json_object_set_new(art->params, "column", json_string(name));
	dsv_artifact_stat_int(art, "records", (int64_t)e->ndocs);
	dsv_artifact_stat_int(art, "tokens", (int64_t)e->ntok);
	double mean = e->ntok ? e->sum / (double)e->ntok : NAN;
	if (e->ntok) {
		dsv_artifact_stat_num(art, "loss", mean);
		dsv_artifact_stat_num(art, "perplexity", exp(mean));
	}
	dsv_artifact_set_compute(art, &c);
	if ((rc = dsv_manifest_format(nm, &manifest, &mlen)) ||
	    (rc = dsv_artifact_format(art, &json, &jlen)))
		goto cleanup;
	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"MANIFEST", manifest, mlen}};
	dsv_aid parents[2] = {*rev, e->md.aid};
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = parents,
			      .nparents = 2, .message = msg,
			      .ref = ref, .expected = NULL};
	rc = dsv_lineage_commit(the_repo->lineage, &co, id);
cleanup:
	if (locked)
		dsv_store_unlock(the_repo->store);
	free(manifest);
	free(json);
	dsv_artifact_free(art);
	dsv_manifest_free(nm);
	return rc;
}

/* The weight object's bytes as a file (tests/ref/torch_check.py loads it). */
static int save_weights(const struct model *md, const char *path)
{
	dsv_obj *o = NULL;
	void *data = NULL;
	size_t len;
	int rc = dsv_obj_open(&o, the_repo->store, &md->info->weights);
	if (!rc)
		rc = dsv_obj_read_section(o, 0, &data, &len);
	dsv_obj_free(o);
	if (rc)
		return rc;
	FILE *f = fopen(path, "wb");
	if (!f) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", path,
				   strerror(errno));
	} else {
		/* fclose flushes the buffered tail: its errno is the reason */
		size_t n = fwrite(data, 1, len, f);
		if (fclose(f) || n != len)
			rc = dsv_error_set(DSV_EIO, "cannot write '%s': %s",
					   path, strerror(errno));
	}
	free(data);
	return rc;
}

/* The loss summary; with --column (id set), first what was written: the
 * new version, its column and the records it scores, as derive prints. */
static void print_result(const struct evalrun *e, char **argv,
			 const dsv_aid *id, const char *column,
			 const char *branch, const char *msg, int json,
			 int quiet)
{
	double mean = e->sum / (double)e->ntok;
	if (json) {
		printf("{");
		if (id) {
			char hex[DSV_AID_HEXLEN + 1];
			dsv_aid_fmt(hex, id);
			char *qb = json_quote(branch), *qc = json_quote(column);
			printf("\"artifact\": \"%s\", \"branch\": %s, "
			       "\"column\": %s, ", hex, qb ? qb : "null",
			       qc ? qc : "null");
			free(qb);
			free(qc);
		}
		printf("\"records\": %zu, \"tokens\": %llu, \"loss\": %.6f, "
		       "\"perplexity\": %.6f}\n", e->ndocs,
		       (unsigned long long)e->ntok, mean, exp(mean));
		return;
	}
	if (quiet)
		return;
	if (id) {
		char hex[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(hex, id);
		printf("[%s %s] %s\n", branch, hex, msg);
		printf(" eval: column '%s' (each record's mean loss under "
		       "'%s') on %zu %s of '%s'\n ", column, argv[0],
		       e->ndocs, plural(e->ndocs, "record", "records"),
		       argv[1]);
	} else {
		printf("%zu %s, ", e->ndocs,
		       plural(e->ndocs, "record", "records"));
	}
	printf("%llu %s: loss %.4f, perplexity %.3f\n",
	       (unsigned long long)e->ntok, plural(e->ntok, "token", "tokens"),
	       mean, exp(mean));
}

int cmd_eval(int argc, char **argv)
{
	static const char usage[] =
		"dsv eval MODEL REV [--column NAME -o BRANCH] [options]";
	const char *column = NULL, *branch = NULL, *msg = NULL, *device = NULL;
	const char *save = NULL;
	char defmsg[256];
	long batch = 8;
	int json = 0, quiet = 0;
	const struct option opts[] = {
		OPT_STRING(0, "column", &column, "name", "write each record's mean loss as this f32 column"),
		OPT_STRING('o', "output", &branch, "name", "the branch of the new version (with --column)"),
		OPT_STRING('m', "message", &msg, "msg", "the new version's message"),
		OPT_STRING(0, "device", &device, "dev", "cpu, cuda or auto"),
		OPT_INT(0, "batch", &batch, "n", "sequences per forward pass (default 8)"),
		OPT_STRING(0, "save-weights", &save, "file", "also write the model's safetensors file there"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};
	struct evalrun e = {0};
	dsv_manifest *m = NULL;
	dsv_meter *meter = NULL;
	dsv_aid rev, id;
	int rc = 1;

	train_passive_omp(argc, argv);
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 2)
		return usage_error(opts, usage, "a model and a version are needed");
	if (column && !branch)
		return usage_error(opts, usage, "--column needs -o BRANCH");
	if (branch && !column)
		return usage_error(opts, usage, "-o goes with --column NAME");
	if (batch < 1 || batch > 4096)
		return usage_error(opts, usage, "--batch must be 1..4096");
	/* checked before the model runs rather than when the new manifest is
	 * written */
	if (column && derive_column_name_check(column))
		return usage_error(opts, usage, "--column: %s", dsv_error_last());
	if (column && require_writable())
		return 1;
	if (column && !msg) {
		snprintf(defmsg, sizeof defmsg, "eval: column %s", column);
		msg = defmsg;
	}
	int dev = dsv_device_parse(device ? device : "auto");
	if (dev < 0)
		return usage_error(opts, usage, "--device must be cpu, cuda or auto");
	if ((dev = dsv_device_resolve(dev)) < 0)
		return error_msg("%s", dsv_kernel_error_last());
	if (branch) {
		char ref[300];
		dsv_aid old;
		if (dsv_lineage_name_validate(branch))
			goto fail;
		snprintf(ref, sizeof ref, "refs/heads/%s", branch);
		if (dsv_lineage_ref_get(the_repo->lineage, ref, &old) == 0) {
			rc = error_msg("branch '%s' already exists", branch);
			goto cleanup;
		}
	}
	if (dsv_meter_new(&meter, DSV_MODE_EVALUATION))
		goto fail;
	dsv_meter_start(meter);
	if (model_load(argv[0], (int)batch, 0, dev, &e.md) ||
	    load_version(argv[1], &rev, &m))
		goto fail;
	if (save && save_weights(&e.md, save))
		goto fail;
	if (doc_loss_new(&e.dl, &e.md, (int)batch))
		goto fail;
	if (run_eval(&e, m))
		goto fail;
	if (e.ntok == 0) {
		rc = error_msg("the version '%s' has no tokens to evaluate", argv[1]);
		goto cleanup;
	}
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, e.ndocs);
	doc_loss_meter(e.dl, meter);
	if (column && commit_column(&e, &rev, m, column, branch, msg, meter, &id))
		goto fail;
	print_result(&e, argv, column ? &id : NULL, column, branch, msg, json,
		     quiet);
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	doc_loss_free(e.dl);
	model_free(&e.md);
	free(e.docs);
	dsv_manifest_free(m);
	dsv_meter_free(meter);
	return rc;
}
