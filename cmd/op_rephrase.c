/* op_rephrase.c: `dsv derive rephrase REV --model M --template FILE`: each
 * record of REV, put into the template, prompts the model; the completion
 * becomes a new record (the source's meta kept, its text replaced) in new
 * shards with `source`, `source_row` and `template` columns. Parents: REV,
 * then M, so an audit counts the model's training and its data.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER "{text}"

struct rephrase {
	struct newtext *nt;
	struct gen_texts *src;  /* the chunk of the version at hand */
	uint64_t empty;
};

static int add_one(const struct gen_result *r, void *ctx)
{
	struct rephrase *rp = ctx;
	size_t i = r->prompt; /* in the chunk; r->sample: in the version */
	json_error_t je;
	if (!r->len) {
		rp->empty++;
		return 0;
	}
	/* the record's own line: its text may hold U+0000 */
	json_t *o = json_loads(rp->src->line[i], JSON_ALLOW_NUL, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return dsv_error_set(DSV_ECORRUPT, "record %llu: cannot read its "
				     "JSON line",
				     (unsigned long long)r->sample + 1);
	}
	json_object_set_new(o, "text", json_stringn(r->text, r->len));
	uint64_t cols[3] = {0, r->sample, 0};
	for (int b = 0; b < 8; b++)
		cols[0] = cols[0] << 8 | rp->src->hash[i].b[b];
	int rc = newtext_add_json(rp->nt, o, cols);
	json_decref(o);
	return rc;
}

static int read_template(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	dsv_buf b = {0};
	char buf[4096];
	size_t n;
	if (!f)
		return dsv_error_set(DSV_ENOTFOUND, "cannot open '%s': %s", path,
				     strerror(errno));
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		dsv_buf_append(&b, buf, n);
	int err = ferror(f) ? errno : 0; /* a directory opens, then EISDIR */
	fclose(f);
	if (err) {
		dsv_buf_free(&b);
		return dsv_error_set(DSV_EIO, "cannot read '%s': %s", path,
				     strerror(err));
	}
	if (dsv_buf_append(&b, "", 1))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	/* params.templates keeps its text for provenance: JSON, so UTF-8 */
	json_t *t = json_stringn(b.buf, b.len - 1);
	json_decref(t);
	if (!t || strlen(b.buf) != b.len - 1) {
		dsv_buf_free(&b);
		return dsv_error_set(DSV_EINVAL, "template '%s' is not UTF-8 "
				     "text (invalid UTF-8 or a NUL byte)", path);
	}
	if (!strstr(b.buf, PLACEHOLDER)) {
		dsv_buf_free(&b);
		return dsv_error_set(DSV_EINVAL, "template '%s' has no %s "
				     "placeholder", path, PLACEHOLDER);
	}
	*out = b.buf;
	return 0;
}

/* The template with every {text} replaced by the record's text. */
static char *fill(const char *tmpl, const char *text, size_t tlen, size_t *len)
{
	dsv_buf b = {0};
	const char *p = tmpl, *q;
	while ((q = strstr(p, PLACEHOLDER))) {
		dsv_buf_append(&b, p, (size_t)(q - p));
		dsv_buf_append(&b, text, tlen);
		p = q + strlen(PLACEHOLDER);
	}
	dsv_buf_append(&b, p, strlen(p));
	if (dsv_buf_append(&b, "", 1)) {
		dsv_buf_free(&b);
		return NULL;
	}
	*len = b.len - 1;
	return b.buf;
}

int derive_rephrase(int argc, char **argv)
{
	static const char usage[] = "dsv derive rephrase REV --model M "
				    "--template FILE -o NAME -m MSG [options]";
	const char *model = NULL, *tpath = NULL, *output = NULL, *message = NULL;
	const char *device = NULL, *temp = NULL, *topp = NULL;
	long max_tokens = 64, top_k = 0, seed = 0, batch = 16;
	int force = 0, quiet = 0, json = 0;
	const struct option opts[] = {
		OPT_STRING(0, "model", &model, "rev", "the model that rephrases"),
		OPT_STRING(0, "template", &tpath, "file", "the prompt, with {text} where the record goes"),
		OPT_SAMPLING(&max_tokens, &temp, &top_k, &topp, &seed, &batch,
			     &device, "per record"),
		OPT_NEWTEXT_OUTPUT(&output, &message, &force, &quiet,
				   &json),
		OPT_END(),
	};
	struct gen_opts o = {.temperature = 1.0, .top_p = 1.0};
	struct model md = {0};
	struct gen_texts src = {0};
	struct gen_reader *rd = NULL;
	struct gen *gen = NULL;
	struct rephrase rp = {0};
	char *tmpl = NULL, **prompts = NULL, hex[DSV_AID_HEXLEN + 1];
	size_t *plens = NULL;
	uint64_t nrec = 0, k = 0;
	dsv_aid in_id, id;
	int rc = 1;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "exactly one input revision");
	if (!model || !tpath)
		return usage_error(opts, usage, "--model and --template are required");
	/* params.templates keeps the file name, and JSON holds UTF-8 only */
	json_t *tj = json_string(tpath);
	json_decref(tj);
	if (!tj)
		return usage_error(opts, usage, "--template: the file name is not "
				   "valid UTF-8");
	if (!output || !*output || !message || !*message)
		return usage_error(opts, usage, "-o NAME and -m MSG are required");
	if (gen_opts_check(&o, 1, max_tokens, temp, topp, top_k, seed, batch))
		return usage_error(opts, usage, "%s", dsv_error_last());
	const char *cols[] = {"source", "source_row", "template"};
	if (gen_parse_device(device, &o.where) || read_template(tpath, &tmpl) ||
	    gen_reader_open(&rd, argv[0], 1, &in_id, &nrec) ||
	    model_load(model, 1, 1, DSV_DEVICE_CPU, &md) ||
	    newtext_start(&rp.nt, "rephrase", DSV_MODE_TRANSFORMATION, output,
			  message, force, cols, 3) ||
	    newtext_add_parent(rp.nt, "input", &in_id) ||
	    newtext_add_parent(rp.nt, "model", &md.aid))
		goto fail;
	rp.src = &src;
	dsv_meter_add(newtext_meter(rp.nt), DSV_METER_RECORDS_IN, nrec);
	if (nrec && gen_start(&gen, &md, &o, nrec, nrec, newtext_meter(rp.nt)))
		goto fail;
	k = nrec ? gen_chunk_samples(gen) : 0;
	if (!(prompts = calloc(k + 1, sizeof *prompts)) ||
	    !(plens = calloc(k + 1, sizeof *plens))) {
		dsv_error_set(DSV_ENOMEM, "out of memory");
		goto fail;
	}
	/* A chunk of the version at a time (its records, their prompts),
	 * each one's memory taken over by the next */
	for (uint64_t done = 0; done < nrec; done += src.n) {
		if (gen_reader_next(rd, nrec - done < k ? nrec - done : k, &src))
			goto fail;
		for (size_t i = 0; i < src.n; i++) {
			free(prompts[i]);
			if (!(prompts[i] = fill(tmpl, src.text[i], src.len[i],
						&plens[i]))) {
				dsv_error_set(DSV_ENOMEM, "out of memory");
				goto fail;
			}
		}
		if (gen_next(gen, (const char *const *)prompts, plens, src.n,
			     src.n, add_one, &rp))
			goto fail;
	}
	if (!newtext_records(rp.nt)) {
		rc = error_msg("rephrase: no record got a completion; nothing "
			       "was committed");
		goto out;
	}
	dsv_artifact *a = newtext_artifact(rp.nt);
	dsv_aid_fmt(hex, &md.aid);
	json_object_set_new(a->params, "model", json_string(hex));
	json_t *tl = json_array();
	json_array_append_new(tl, json_pack("{ssss}", "file", tpath, "text", tmpl));
	json_object_set_new(a->params, "templates", tl);
	gen_opts_params(a->params, &o);
	dsv_artifact_stat_int(a, "records_in", (int64_t)nrec);
	dsv_artifact_stat_int(a, "records_out", (int64_t)newtext_records(rp.nt));
	dsv_artifact_stat_int(a, "records_empty", (int64_t)rp.empty);
	if (newtext_commit(rp.nt, quiet, json, &id))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	for (size_t i = 0; prompts && i < k; i++)
		free(prompts[i]);
	free(prompts);
	free(plens);
	free(tmpl);
	gen_free(gen);
	gen_reader_free(rd);
	newtext_free(rp.nt);
	model_free(&md);
	return rc;
}
