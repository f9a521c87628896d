/* classifier.c: `dsv classifier train REV --label FIELD -o NAME`: trains the
 * fastText-style quality classifier of kernels/qclass.h on a version's
 * records, labelled 0/1 by a meta field, reports held-out accuracy and ROC
 * AUC on a seeded split, and records the classifier as an artifact (kind
 * classifier, mode selection, parent REV) whose weights are one object
 * named in its CLASSIFIER file (cmd/classifier.h). cmd/classifier_load.c
 * reads it back.
 */
#include "cmd/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"

/* ---- training data ------------------------------------------------------------ */

struct examples {
	uint8_t *text;
	uint64_t *off;
	uint32_t *label;
	size_t n, offcap, labelcap, len, tcap;
};

static void examples_free(struct examples *x)
{
	free(x->text);
	free(x->off);
	free(x->label);
}

static int examples_add(struct examples *x, const char *t, size_t len,
			uint32_t label)
{
	int rc;
	if ((rc = DSV_ARRAY_GROW(x->off, x->offcap, x->n + 2, 1024)) ||
	    (rc = DSV_ARRAY_GROW(x->label, x->labelcap, x->n + 2, 1024)))
		return rc;
	if (x->len + len > x->tcap) {
		size_t cap = (x->len + len) * 2 + 4096;
		uint8_t *p = realloc(x->text, cap);
		if (!p)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		x->text = p;
		x->tcap = cap;
	}
	if (len) /* x->text is still NULL after empty texts alone */
		memcpy(x->text + x->len, t, len);
	x->off[0] = 0;
	x->label[x->n] = label;
	x->len += len;
	x->off[++x->n] = x->len;
	return 0;
}

/* The label of one record: its meta field `field` (meta_get) as 0/1,
 * true/false, or "0"/"1". Errors name the record by version position and
 * hash. */
static int record_label(const dsv_version_rec *r, uint64_t pos,
			const char *field, uint32_t *out)
{
	char hex[33];
	json_error_t je;
	/* commit keeps any JSON number and \u0000: a 64-bit id elsewhere in
	 * the meta must not hide the label */
	json_t *m = r->meta_len ? json_loadb(r->meta, r->meta_len,
					     JSON_DECODE_INT_AS_REAL |
					     JSON_ALLOW_NUL, &je) : NULL;
	json_t *v = m ? meta_get(m, field) : NULL;
	int ok = 1;
	if (json_is_integer(v) && (json_integer_value(v) == 0 ||
				   json_integer_value(v) == 1))
		*out = (uint32_t)json_integer_value(v);
	else if (json_is_real(v) && (json_real_value(v) == 0.0 ||
				     json_real_value(v) == 1.0))
		*out = json_real_value(v) == 1.0;
	else if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_string(v) && (!strcmp(json_string_value(v), "0") ||
				       !strcmp(json_string_value(v), "1")))
		*out = json_string_value(v)[0] == '1';
	else
		ok = 0;
	if (ok) {
		json_decref(m);
		return 0;
	}
	dsv_rhash_fmt(hex, r->hash);
	if (r->meta_len && !m)
		return dsv_error_set(DSV_EINVAL, "record %llu (hash %s): meta: %s",
				     (unsigned long long)pos, hex, je.text);
	char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc = v ? dsv_error_set(DSV_EINVAL, "record %llu (hash %s): label "
				   "field '%s' is %.40s, not 0 or 1",
				   (unsigned long long)pos, hex, field,
				   shown ? shown : "?")
		   : dsv_error_set(DSV_EINVAL, "record %llu (hash %s): no label "
				   "field '%s' in its meta",
				   (unsigned long long)pos, hex, field);
	free(shown);
	json_decref(m);
	return rc;
}

static int load_examples(dsv_store *s, const dsv_manifest *m,
			 const char *field, struct examples *x)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	uint64_t pos = 0;
	uint32_t label = 0;
	int rc = dsv_version_iter_new(&it, s, m,
				      DSV_SHARD_TEXT | DSV_SHARD_META |
					      DSV_SHARD_HASH);
	while (!rc && (rc = dsv_version_iter_next(it, &r)) == 1) {
		rc = record_label(&r, ++pos, field, &label);
		if (!rc)
			rc = examples_add(x, r.text, r.text_len, label);
	}
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* ---- the split and the metrics -------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A seeded permutation of 0..n-1 (Fisher-Yates). */
static void permute(size_t *idx, size_t n, uint64_t seed)
{
	uint64_t s = seed ^ 0x5EEDC1A55F1E7ULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(splitmix64(&s) % i);
		size_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* Copies the examples idx[0..n) into a new batch. */
static int subset(const struct examples *x, const size_t *idx, size_t n,
		  struct examples *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		size_t k = idx[i];
		int rc = examples_add(out, (const char *)x->text + x->off[k],
				      x->off[k + 1] - x->off[k], x->label[k]);
		if (rc)
			return rc;
	}
	if (!out->off && !(out->off = calloc(1, sizeof *out->off)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}

struct score {
	float p;
	uint32_t y;
};

static int score_cmp(const void *a, const void *b)
{
	float x = ((const struct score *)a)->p, y = ((const struct score *)b)->p;
	return x < y ? -1 : x > y;
}

/* ROC AUC by the rank-sum (Mann-Whitney) formula, ties given their mean
 * rank; NAN when one class is absent. */
static double roc_auc(struct score *sc, size_t n)
{
	double pos = 0, neg = 0, rank_sum = 0;
	qsort(sc, n, sizeof *sc, score_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && sc[j].p == sc[i].p)
			j++;
		double r = (double)(i + 1 + j) / 2; /* mean of ranks i+1..j */
		for (size_t k = i; k < j; k++)
			if (sc[k].y)
				rank_sum += r;
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		sc[i].y ? pos++ : neg++;
	if (!pos || !neg)
		return NAN;
	return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

/* ---- the command ------------------------------------------------------------ */

struct train_args {
	const char *label, *output, *message, *seed_s, *valid_s, *lr_s,
		*device;
	long epochs, dim, buckets_log2;
	int force, quiet, json;
	double valid, lr;
	uint64_t seed;
};

struct result {
	size_t ntrain, nvalid, positives;
	double accuracy, auc;
	dsv_oid weights;
};

static int write_weights(dsv_store *s, const struct dsv_qclass *m,
			 dsv_oid *out, uint64_t *bytes)
{
	dsv_section secs[2] = {
		{&m->h, sizeof m->h},
		{m->w, dsv_qclass_nweights(&m->h) * sizeof(float)}};
	dsv_obj_info info;
	int is_new;
	int rc = dsv_obj_write(s, DSV_OBJ_WEIGHTS, secs, 2, 0,
			       DSV_DEFAULT_LEVEL, out, &is_new);
	if (!rc && is_new && dsv_index_get_object(s, out, &info) == 0)
		*bytes += info.stored_size;
	return rc;
}

static int evaluate(const struct dsv_qclass *m, const struct examples *v,
		    int device, struct result *res)
{
	float *probs = malloc(v->n * 2 * sizeof *probs + 1);
	struct score *sc = malloc(v->n * sizeof *sc + 1);
	size_t right = 0;
	int rc = 0;
	if (!probs || !sc) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dsv_qclass_predict(m, v->text, v->off, v->n, probs, device, 0))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto out;
	}
	for (size_t i = 0; i < v->n; i++) {
		sc[i].p = probs[2 * i + 1];
		sc[i].y = v->label[i];
		right += (sc[i].p > 0.5f) == (v->label[i] == 1);
	}
	res->accuracy = v->n ? (double)right / (double)v->n : NAN;
	res->auc = roc_auc(sc, v->n);
out:
	free(probs);
	free(sc);
	return rc;
}

static int train(const struct train_args *a, dsv_store *s,
		 const struct examples *all, int device, dsv_meter *meter,
		 struct result *res)
{
	struct dsv_qclass *m = NULL;
	struct examples tr = {0}, va = {0};
	size_t *idx = malloc((all->n ? all->n : 1) * sizeof *idx);
	uint64_t bytes = 0;
	int rc;
	if (!idx)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	permute(idx, all->n, a->seed);
	res->nvalid = (size_t)floor(a->valid * (double)all->n + 0.5);
	if (a->valid > 0 && res->nvalid == 0)
		res->nvalid = 1;
	res->ntrain = all->n - res->nvalid;
	for (size_t i = 0; i < all->n; i++)
		res->positives += all->label[i];
	if (res->ntrain == 0) {
		rc = dsv_error_set(DSV_EINVAL, "no records left to train on "
				   "(%zu %s, --valid %g)", all->n,
				   plural(all->n, "record", "records"),
				   a->valid);
		goto out;
	}
	if ((rc = subset(all, idx, res->nvalid, &va)) ||
	    (rc = subset(all, idx + res->nvalid, res->ntrain, &tr)))
		goto out;
	if ((rc = dsv_qclass_new(&m, 1u << a->buckets_log2, (uint32_t)a->dim, 2,
				 a->seed))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto out;
	}
	struct dsv_qclass_train_opts o = {(uint32_t)a->epochs, (float)a->lr,
					  a->seed};
	if ((rc = dsv_qclass_train(m, tr.text, tr.off, tr.label, tr.n, &o))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto out;
	}
	/* fastText's cost per update: the hidden mean, the output layer and
	 * its gradient, about 6*dim FLOPs per feature and class */
	dsv_meter_add_flops(meter, 6.0 * a->dim * 2 * (double)tr.len / 6 *
					   (double)a->epochs);
	res->accuracy = res->auc = NAN;
	if (va.n && (rc = evaluate(m, &va, device, res)))
		goto out;
	if ((rc = write_weights(s, m, &res->weights, &bytes)))
		goto out;
	dsv_meter_add(meter, DSV_METER_BYTES_WRITTEN, bytes);
out:
	free(idx);
	examples_free(&tr);
	examples_free(&va);
	dsv_qclass_free(m);
	return rc;
}

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static int describe(dsv_artifact *art, const struct train_args *a,
		    const char *rev, const struct result *r, size_t n,
		    const dsv_compute *c)
{
	json_t *p = art->params;
	json_object_set_new(p, "revision", json_string(rev));
	json_object_set_new(p, "label", json_string(a->label));
	json_object_set_new(p, "seed", json_integer((json_int_t)a->seed));
	json_object_set_new(p, "valid", json_real(a->valid));
	json_object_set_new(p, "epochs", json_integer(a->epochs));
	json_object_set_new(p, "lr", json_real(a->lr));
	json_object_set_new(p, "dim", json_integer(a->dim));
	json_object_set_new(p, "buckets", json_integer(1L << a->buckets_log2));
	json_object_set_new(p, "features", json_string("hashed word unigrams "
		"and bigrams (kernels/qclass.h)"));
	dsv_artifact_stat_int(art, "records", (int64_t)n);
	dsv_artifact_stat_int(art, "positives", (int64_t)r->positives);
	dsv_artifact_stat_int(art, "train_records", (int64_t)r->ntrain);
	dsv_artifact_stat_int(art, "valid_records", (int64_t)r->nvalid);
	json_object_set_new(art->stats, "valid_accuracy", num_or_null(r->accuracy));
	json_object_set_new(art->stats, "valid_roc_auc", num_or_null(r->auc));
	dsv_artifact_set_compute(art, c);
	return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	if (!s)
		return 0;
	*out = strtod(s, &end);
	return *end || end == s || !(*out >= lo && *out <= hi);
}

static int classifier_train(int argc, char **argv)
{
	static const char usage[] = "dsv classifier train REV --label FIELD -o NAME "
				    "[-m MSG] [options]";
	struct train_args a = {.epochs = 25, .dim = 16, .buckets_log2 = 18,
			       .valid = 0.2, .lr = 0.5, .seed = 1};
	long seed = 1;
	const struct option opts[] = {
		OPT_STRING(0, "label", &a.label, "field", "meta field holding each record's 0/1 label (a.b for nested)"),
		OPT_STRING('o', "output", &a.output, "name", "branch for the classifier (must not exist)"),
		OPT_STRING('m', "message", &a.message, "msg", "the classifier's message"),
		OPT_INT(0, "seed", &seed, "n", "initialisation, example order and split (default 1)"),
		OPT_STRING(0, "valid", &a.valid_s, "f", "held-out fraction for accuracy and AUC (default 0.2)"),
		OPT_INT(0, "epochs", &a.epochs, "n", "passes over the data (default 25)"),
		OPT_STRING(0, "lr", &a.lr_s, "x", "initial learning rate (default 0.5)"),
		OPT_INT(0, "dim", &a.dim, "n", "embedding width (default 16)"),
		OPT_INT(0, "buckets", &a.buckets_log2, "k", "2^k hashed feature rows (default 18)"),
		OPT_STRING(0, "device", &a.device, "dev", "cpu, cuda or auto for the evaluation"),
		OPT_BOOL(0, "force", &a.force, "move the branch even if it exists"),
		OPT_BOOL('q', "quiet", &a.quiet, "print nothing"),
		OPT_BOOL(0, "json", &a.json, "print the result as JSON"),
		OPT_END(),
	};
	dsv_store *s = NULL;
	dsv_lineage *l = the_repo ? the_repo->lineage : NULL;
	dsv_manifest *m = NULL;
	dsv_meter *meter = NULL;
	dsv_artifact *art = NULL;
	struct examples ex = {0};
	struct result res = {0};
	char *json = NULL, ref[300], hexw[DSV_OID_HEXLEN + 1], ctext[512];
	char hex[DSV_AID_HEXLEN + 1];
	dsv_aid in, old, id;
	dsv_compute c;
	size_t jlen;
	int rc = 1, has_old = 0, device, locked = 0;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, n ? "one revision only" :
				   "no revision given");
	if (!a.label || !*a.label || strlen(a.label) > 100)
		return usage_error(opts, usage, "--label FIELD is required");
	if (!a.output || !*a.output)
		return usage_error(opts, usage, "-o NAME is required");
	if (parse_num(a.valid_s, 0, 0.9, &a.valid) ||
	    parse_num(a.lr_s, 1e-6, 10, &a.lr) || seed < 0 || a.epochs < 1 ||
	    a.epochs > 1000 || a.dim < 1 || a.dim > DSV_QCLASS_MAXDIM ||
	    a.buckets_log2 < 4 || a.buckets_log2 > 24)
		return usage_error(opts, usage, "need 0 <= --valid <= 0.9, --lr > 0, "
				   "--seed >= 0, 1 <= --epochs <= 1000, 1 <= --dim "
				   "<= %d, 4 <= --buckets <= 24", DSV_QCLASS_MAXDIM);
	if ((device = dsv_device_parse(a.device ? a.device : "auto")) < 0)
		return usage_error(opts, usage, "unknown --device '%s'", a.device);
	a.seed = (uint64_t)seed;
	s = the_repo->store;
	if ((device = dsv_device_resolve(device)) < 0) {
		rc = error_msg("--device: %s", dsv_kernel_error_last());
		goto cleanup;
	}
	if (dsv_lineage_name_validate(a.output) ||
	    dsv_store_lock_branch(s, a.output))
		goto fail;
	locked = 1;
	snprintf(ref, sizeof ref, "refs/heads/%s", a.output);
	rc = dsv_lineage_ref_get(l, ref, &old);
	if (rc == 0 && !a.force) {
		rc = error_msg("branch '%s' already exists (use --force to move it)",
			       a.output);
		goto cleanup;
	}
	if (rc && rc != DSV_ENOTFOUND)
		goto fail;
	has_old = rc == 0;
	if (load_version(argv[0], &in, &m) ||
	    dsv_meter_new(&meter, DSV_MODE_SELECTION))
		goto fail;
	dsv_meter_start(meter);
	if (device == DSV_DEVICE_CUDA)
		dsv_meter_add_device(meter, dsv_device_name());
	if (load_examples(s, m, a.label, &ex))
		goto fail;
	if (ex.n == 0) {
		rc = error_msg("'%s' has no records to train on", argv[0]);
		goto cleanup;
	}
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, ex.n);
	dsv_meter_add(meter, DSV_METER_BYTES_READ, ex.len);
	if (train(&a, s, &ex, device, meter, &res))
		goto fail;
	dsv_meter_stop(meter);
	dsv_meter_read(meter, &c);

	dsv_oid_fmt(hexw, &res.weights);
	snprintf(ctext, sizeof ctext, "format qclass 1\nweights %s\nlabel %s\n"
		 "classes 2\n", hexw, a.label);
	if (dsv_artifact_new(&art, DSV_KIND_CLASSIFIER, "classifier-train") ||
	    dsv_artifact_add_input(art, "input", &in))
		goto fail;
	describe(art, &a, argv[0], &res, ex.n, &c);
	if (dsv_artifact_format(art, &json, &jlen))
		goto fail;
	char defmsg[300];
	snprintf(defmsg, sizeof defmsg, "classifier on %s, label %s", argv[0],
		 a.label);
	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"CLASSIFIER", ctext, strlen(ctext)}};
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = &in,
			      .nparents = 1,
			      .message = a.message ? a.message : defmsg,
			      .ref = ref, .expected = has_old ? &old : NULL};
	if (dsv_lineage_commit(l, &co, &id))
		goto fail;
	if (a.json) {
		dsv_aid_fmt(hex, &id);
		json_t *o = json_pack("{ssssss}", "artifact", hex, "branch",
				      a.output, "weights", hexw);
		json_object_set(o, "stats", art->stats);
		print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
	} else if (!a.quiet) {
		dsv_aid_short(hex, &id);
		printf("[%s %s] %s\n", a.output, hex, co.message);
		printf(" classifier on %zu %s (%zu positive): %zu train, "
		       "%zu held out (seed %llu)\n", ex.n,
		       plural(ex.n, "record", "records"), res.positives,
		       res.ntrain, res.nvalid, (unsigned long long)a.seed);
		if (res.nvalid)
			printf(" held-out accuracy %.3f, ROC AUC %.3f; %.2f s\n",
			       res.accuracy, res.auc, c.wall_s);
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	if (locked)
		dsv_store_unlock(s);
	free(json);
	dsv_artifact_free(art);
	dsv_meter_free(meter);
	examples_free(&ex);
	dsv_manifest_free(m);
	return rc;
}

int cmd_classifier(int argc, char **argv)
{
	static const char usage[] = "dsv classifier train REV --label FIELD -o NAME";
	if (argc >= 2 && !strcmp(argv[1], "train"))
		return classifier_train(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: %s\n\n'dsv classifier train -h' for the options\n",
		       usage);
		return 0;
	}
	static const struct option none[] = {OPT_END()};
	if (argc < 2)
		return usage_error(none, usage, "a subcommand is needed (train)");
	return usage_error(none, usage, "unknown subcommand '%s'", argv[1]);
}
