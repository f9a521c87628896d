/* op_annotate.c: `dsv derive annotate REV (--stats | --classifier NAME
 * [--column COL] | --model MODEL [--column COL] [--batch N])`: keeps every
 * record and writes columns: the heuristic statistics of kernels/docstats.h
 * (names in docs/kernels.md), the score of a classifier artifact
 * (kernels/qclass.h, see cmd/classifier.c), or each record's perplexity
 * under a model (cmd/doc_loss.c, as dsv eval scores it). The columns are
 * what `filter --where` reads.
 */
#include "cmd/derive.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/classifier.h"
#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/qclass.h"

/* The --stats columns, in the order they are written. */
enum {
	S_WORDS, S_CHARS, S_LINES, S_MEAN_WORD_LEN, S_ALPHA, S_SYMBOL,
	S_BULLET, S_END_ELLIPSIS, S_STOP, S_DUP_LINE, S_DUP_LINE_CHAR,
	S_DUP_PARA, S_TOP2, S_DUP5, S_NSTATS
};

static const struct {
	const char *name;
	dsv_col_type type;
} stat_cols[S_NSTATS] = {
	{"words", DSV_COL_U64},
	{"chars", DSV_COL_U64},
	{"lines", DSV_COL_U64},
	{"mean_word_length", DSV_COL_F32},
	{"alpha_ratio", DSV_COL_F32},
	{"symbol_ratio", DSV_COL_F32},
	{"bullet_lines_ratio", DSV_COL_F32},
	{"end_ellipsis_ratio", DSV_COL_F32},
	{"stop_words", DSV_COL_U8},
	{"dup_line_frac", DSV_COL_F32},
	{"dup_line_char_frac", DSV_COL_F32},
	{"dup_para_frac", DSV_COL_F32},
	{"top_2gram_frac", DSV_COL_F32},
	{"dup_5gram_frac", DSV_COL_F32},
};

struct annotate {
	int stats;
	const char *classifier, *model, *column;
	long batch;
	struct classifier_model cm;
	struct model md;
	struct doc_loss *dl;
};

static float ratio(uint64_t a, uint64_t b)
{
	return b ? (float)((double)a / (double)b) : 0.0f;
}

/* Runs fn once on the shard's live rows (derive_live_texts). */
static int live_rows(struct derive_shard *sh,
		     int (*fn)(struct derive_shard *sh, const uint64_t *rows,
			       size_t n, const uint8_t *base, const uint64_t *off,
			       void *ctx),
		     void *ctx)
{
	uint64_t *rows, *off;
	const uint8_t *base;
	uint8_t *buf;
	size_t n;
	int rc = derive_live_texts(sh, &rows, &n, &base, &off, &buf);
	if (!rc && n)
		rc = fn(sh, rows, n, base, off, ctx);
	free(rows);
	free(off);
	free(buf);
	return rc;
}

struct stats_out {
	void *col[S_NSTATS];
};

static void put_stats(struct stats_out *o, uint64_t row,
		      const struct dsv_docstats *s)
{
	uint64_t **u = (uint64_t **)o->col;
	float **f = (float **)o->col;
	u[S_WORDS][row] = s->words;
	u[S_CHARS][row] = s->chars;
	u[S_LINES][row] = s->lines;
	f[S_MEAN_WORD_LEN][row] = ratio(s->nonsym_word_chars, s->nonsym_words);
	f[S_ALPHA][row] = ratio(s->alpha_words, s->words);
	f[S_SYMBOL][row] = ratio(s->hash_chars + s->ellipsis, s->words);
	f[S_BULLET][row] = ratio(s->bullet_lines, s->lines);
	f[S_END_ELLIPSIS][row] = ratio(s->ellipsis_lines, s->lines);
	((uint8_t *)o->col[S_STOP])[row] =
		(uint8_t)__builtin_popcountll(s->stop_mask);
	f[S_DUP_LINE][row] = ratio(s->dup_lines, s->line_parts);
	f[S_DUP_LINE_CHAR][row] = ratio(s->dup_line_chars, s->chars);
	f[S_DUP_PARA][row] = ratio(s->dup_paragraphs, s->paragraphs);
	f[S_TOP2][row] = ratio(s->top_ngram_chars[0], s->chars);
	f[S_DUP5][row] = ratio(s->dup_ngram_chars[0], s->chars);
}

static int stats_run(struct derive_shard *sh, const uint64_t *rows, size_t n,
		     const uint8_t *base, const uint64_t *off, void *ctx)
{
	struct stats_out *o = ctx;
	struct dsv_docstats *st = malloc(n * sizeof *st + 1);
	if (!st)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	int rc = dsv_docstats(base, off, n, DSV_DOCSTATS_ALL, st,
			      derive_device(sh->d), derive_threads(sh->d));
	if (rc) {
		free(st);
		return dsv_error_set(rc, "docstats: %s", dsv_kernel_error_last());
	}
	for (size_t i = 0; i < n; i++)
		put_stats(o, rows[i], &st[i]);
	free(st);
	return 0;
}

struct score_out {
	float *col;
	struct annotate *an;
};

/* The column gets the probability of class 1 ("label is 1"). */
static int score_run(struct derive_shard *sh, const uint64_t *rows, size_t n,
		     const uint8_t *base, const uint64_t *off, void *ctx)
{
	struct score_out *o = ctx;
	const struct dsv_qclass *m = o->an->cm.model;
	uint32_t nc = m->h.nclasses;
	float *probs = malloc(n * nc * sizeof *probs + 1);
	if (!probs)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	int rc = dsv_qclass_predict(m, base, off, n, probs,
				    derive_device(sh->d), derive_threads(sh->d));
	if (rc) {
		free(probs);
		return dsv_error_set(rc, "classifier: %s", dsv_kernel_error_last());
	}
	for (size_t i = 0; i < n; i++)
		o->col[rows[i]] = probs[i * nc + 1];
	/* fastText's inference: dim adds per hashed feature (about two a
	 * word and a word about 6 bytes, as classifier train counts them),
	 * then 2 dim FLOPs per class */
	double dim = m->h.dim;
	dsv_meter_add_flops(derive_meter(sh->d),
			    dim * 2 * (double)(off[n] - off[0]) / 6 +
				    2 * dim * nc * (double)n);
	free(probs);
	return 0;
}

/* Perplexity: exp of the record's mean token loss, NaN for a record with
 * no tokens and for rows the version does not hold (as eval's column).
 * A shard's records are batched together and flushed at its end, so a
 * record's value does not depend on the other shards (nor, under mpirun,
 * on which rank scores it). */
static int perplexity_run(struct derive_shard *sh, const uint64_t *rows,
			  size_t n, const uint8_t *base, const uint64_t *off,
			  void *ctx)
{
	struct score_out *o = ctx;
	struct doc_loss *dl = o->an->dl;
	int rc = 0;
	doc_loss_clear(dl);
	for (size_t i = 0; i < n && !rc; i++)
		rc = doc_loss_add(dl, (const char *)base + off[i],
				  off[i + 1] - off[i]);
	if (!rc)
		rc = doc_loss_flush(dl);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		o->col[rows[i]] = (float)exp(doc_loss_mean(dl, i));
	doc_loss_meter(dl, derive_meter(sh->d));
	return 0;
}

static int annotate_shard(struct derive_shard *sh, void *ctx)
{
	struct annotate *an = ctx;
	dsv_column *col;
	int rc;
	if (an->stats) {
		struct stats_out o;
		for (int i = 0; i < S_NSTATS; i++) {
			if ((rc = derive_shard_column(sh, stat_cols[i].name,
						      stat_cols[i].type, &col)))
				return rc;
			o.col[i] = dsv_column_data(col);
		}
		return live_rows(sh, stats_run, &o);
	}
	if ((rc = derive_shard_column(sh, an->column, DSV_COL_F32, &col)))
		return rc;
	struct score_out o = {dsv_column_data(col), an};
	if (!an->model)
		return live_rows(sh, score_run, &o);
	for (uint64_t r = 0; r < sh->rows; r++)
		o.col[r] = NAN;
	return live_rows(sh, perplexity_run, &o);
}

/* The forward passes want OpenMP's passive wait, which train_passive_omp
 * sets by re-executing the process; it is looked for before
 * parse_options moves the arguments (a "--model" that is the value of
 * another option only costs that exec). */
static void passive_omp_for_model(int argc, char **argv)
{
	char *args[256];
	int model = 0;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		model |= !strncmp(argv[i], "--model", 7);
	if (!model || argc > 250)
		return;
	args[0] = "derive";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	train_passive_omp(argc + 1, args);
}

/* The input's entries must not hold a column named `name` already: the
 * new one would replace it (a score under another model, say) without a
 * word. --stats is not asked: its columns are the text's, the same again. */
static int column_free(const struct derive *d, const char *rev,
		       const char *name)
{
	const dsv_manifest *m = derive_input(d);
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->e[i].ncols; j++)
			if (!strcmp(m->e[i].cols[j].name, name))
				return dsv_error_set(DSV_EEXISTS, "'%s' has a "
						     "column '%s' already "
						     "(name another with "
						     "--column)", rev, name);
	return 0;
}

static int model_start(struct derive *d, struct annotate *an,
		       const char *rev)
{
	char hex[DSV_AID_HEXLEN + 1];
	int rc;
	if ((rc = column_free(d, rev, an->column)))
		return rc;
	if ((rc = model_load(an->model, (int)an->batch, 0, derive_device(d),
			     &an->md)))
		return dsv_error_wrap(rc, "--model '%s'", an->model);
	if ((rc = doc_loss_new(&an->dl, &an->md, (int)an->batch)) ||
	    (rc = derive_add_input(d, "model", &an->md.aid)))
		return rc;
	json_t *p = derive_params(d);
	dsv_aid_fmt(hex, &an->md.aid);
	json_object_set_new(p, "model", json_string(hex));
	json_object_set_new(p, "column", json_string(an->column));
	json_object_set_new(p, "batch", json_integer(an->batch));
	return 0;
}

int derive_annotate(int argc, char **argv)
{
	static const char usage[] = "dsv derive annotate REV -o NAME -m MSG "
				    "(--stats | --classifier NAME [--column COL] "
				    "| --model MODEL [--column COL] [--batch N])";
	struct derive *d = NULL;
	struct annotate an = {.batch = LONG_MIN}; /* LONG_MIN: no --batch */
	int rc = 1;

	passive_omp_for_model(argc, argv);
	if (derive_new(&d, "annotate"))
		return die_error();
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_BOOL(0, "stats", &an.stats, "heuristic statistics columns (docs/kernels.md)"),
		OPT_STRING(0, "classifier", &an.classifier, "rev", "score with this classifier artifact"),
		OPT_STRING(0, "model", &an.model, "rev", "each record's perplexity under this model"),
		OPT_STRING(0, "column", &an.column, "name", "the column (default quality, perplexity with --model)"),
		OPT_INT(0, "batch", &an.batch, "n", "with --model: sequences per forward pass (default 8)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	if (!!an.stats + !!an.classifier + !!an.model != 1) {
		rc = usage_error(opts, usage, "give one of --stats, --classifier "
				 "or --model");
		goto out;
	}
	if (an.column && an.stats) {
		rc = usage_error(opts, usage, "--column goes with --classifier "
				 "or --model");
		goto out;
	}
	if (an.batch != LONG_MIN && !an.model) {
		rc = usage_error(opts, usage, "--batch goes with --model");
		goto out;
	}
	if (an.batch == LONG_MIN)
		an.batch = 8;
	if (an.batch < 1 || an.batch > 4096) {
		rc = usage_error(opts, usage, "--batch must be 1..4096");
		goto out;
	}
	if (!an.column)
		an.column = an.model ? "perplexity" : "quality";
	if (derive_column_name_check(an.column)) {
		rc = usage_error(opts, usage, "--column: %s", dsv_error_last());
		goto out;
	}
	if ((rc = derive_start(d, n, argv, opts, usage)))
		goto out;
	rc = 1;
	json_t *p = derive_params(d);
	if (an.stats) {
		json_t *names = json_array();
		for (int i = 0; i < S_NSTATS; i++)
			json_array_append_new(names, json_string(stat_cols[i].name));
		json_object_set_new(p, "stats", names);
	} else if (an.model) {
		if (model_start(d, &an, argv[0]))
			goto fail;
	} else {
		dsv_aid cid;
		char hex[DSV_AID_HEXLEN + 1];
		if (column_free(d, argv[0], an.column) ||
		    classifier_load(&an.cm, derive_store(d), derive_lineage(d),
				    an.classifier, &cid) ||
		    derive_add_input(d, "classifier", &cid))
			goto fail;
		dsv_aid_fmt(hex, &cid);
		json_object_set_new(p, "classifier", json_string(hex));
		json_object_set_new(p, "column", json_string(an.column));
		json_object_set_new(p, "label", json_string(an.cm.label));
	}
	if (derive_select(d, DSV_SHARD_TEXT, 0, annotate_shard, &an))
		goto fail;
	rc = derive_commit(d);
	goto out;
fail:
	rc = die_error();
out:
	doc_loss_free(an.dl);
	model_free(&an.md);
	classifier_model_free(&an.cm);
	derive_free(d);
	return rc;
}
