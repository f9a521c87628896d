/* op_filter.c: `dsv derive filter REV --rules SETS | --where EXPR`: keeps the
 * records that pass datatrove's heuristic rule sets (kernels/filters.h over
 * kernels/docstats.h) and/or an expression over columns and meta fields
 * (cmd/expr.h). A view: selections and a reason column over REV's shards.
 */
#include "cmd/derive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/expr.h"
#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/filters.h"

#define MAX_SLOTS 64
#define MAX_SET_REASONS 32

struct slot {
	char name[128];
	int kind; /* SLOT_COLUMN, SLOT_META, SLOT_TEXT_BYTES */
};

enum { SLOT_COLUMN, SLOT_META, SLOT_TEXT_BYTES };

struct filter {
	int nsets;
	int sets[DSV_FILTER_NSETS];
	/* derive code of each set's reasons: a name two sets share ("empty")
	 * has one code, so a set's codes need not be consecutive */
	uint8_t codes[DSV_FILTER_NSETS][MAX_SET_REASONS];
	struct dsv_filter_params params;
	struct expr *where;
	int where_code;
	const dsv_manifest *in;
	int nslots, need_meta;
	struct slot slots[MAX_SLOTS];
	int threads;
	uint64_t docs_scored;
};

/* Names: a column some entry of the input has, `reason` (0 in an entry
 * without that column: every version has it), meta.FIELD[.FIELD...], or
 * the built-in text_bytes. */
static int resolve(const char *name, size_t len, int *type, void *ctx)
{
	struct filter *f = ctx;
	int kind = -1;
	if (len >= sizeof f->slots[0].name)
		return EXPR_TOO_LONG;
	if (len > 5 && !memcmp(name, "meta.", 5)) {
		kind = SLOT_META;
		*type = EXPR_ANY;
	} else if (len == 10 && !memcmp(name, "text_bytes", 10)) {
		kind = SLOT_TEXT_BYTES;
		*type = EXPR_NUM;
	} else {
		if (len == 6 && !memcmp(name, "reason", 6))
			kind = SLOT_COLUMN;
		for (size_t i = 0; i < f->in->n && kind < 0; i++)
			for (size_t k = 0; k < f->in->e[i].ncols; k++)
				if (strlen(f->in->e[i].cols[k].name) == len &&
				    !memcmp(f->in->e[i].cols[k].name, name, len)) {
					kind = SLOT_COLUMN;
					break;
				}
		*type = EXPR_NUM;
	}
	if (kind < 0)
		return EXPR_UNKNOWN;
	for (int i = 0; i < f->nslots; i++)
		if (strlen(f->slots[i].name) == len &&
		    !memcmp(f->slots[i].name, name, len))
			return i;
	if (f->nslots >= MAX_SLOTS)
		return EXPR_TOO_MANY;
	memcpy(f->slots[f->nslots].name, name, len);
	f->slots[f->nslots].name[len] = 0;
	f->slots[f->nslots].kind = kind;
	f->need_meta |= kind == SLOT_META;
	return f->nslots++;
}

/* ---- the rules --------------------------------------------------------- */

/* Statistics over the shard's live rows in one kernel call
 * (derive_live_texts), then each rule set in the given order: the first
 * that drops a row gives its reason. */
static int rules_shard(struct derive_shard *sh, struct filter *f)
{
	struct dsv_docstats *st = NULL;
	uint64_t *rows = NULL, *off = NULL;
	const uint8_t *base;
	uint8_t *buf = NULL;
	size_t n;
	int rc = derive_live_texts(sh, &rows, &n, &base, &off, &buf);
	if (rc || !n)
		goto out;
	if (!(st = malloc(n * sizeof *st))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	unsigned groups = 0;
	for (int i = 0; i < f->nsets; i++)
		groups |= dsv_filter_groups(f->sets[i]);
	if ((rc = dsv_docstats(base, off, n, groups, st, derive_device(sh->d),
			       f->threads))) {
		rc = dsv_error_set(rc, "docstats: %s", dsv_kernel_error_last());
		goto out;
	}
	f->docs_scored += n;
	for (size_t k = 0; k < n; k++)
		for (int i = 0; i < f->nsets; i++) {
			int why = dsv_filter_apply(f->sets[i], &st[k], &f->params);
			if (why) {
				sh->reason[rows[k]] = f->codes[f->sets[i]][why - 1];
				break;
			}
		}
out:
	free(st);
	free(rows);
	free(off);
	free(buf);
	return rc;
}

/* ---- --where ------------------------------------------------------------ */

static void meta_value(const char *path, json_t *root, struct expr_value *v)
{
	json_t *j = meta_get(root, path);
	v->type = EXPR_MISSING;
	if (json_is_string(j)) {
		v->type = EXPR_STR;
		v->str = json_string_value(j);
		v->len = json_string_length(j);
	} else if (json_is_number(j)) {
		v->type = EXPR_NUM;
		v->num = json_number_value(j);
	} else if (json_is_boolean(j)) {
		v->type = EXPR_NUM;
		v->num = json_is_true(j);
	}
}

static int where_shard(struct derive_shard *sh, struct filter *f)
{
	dsv_column *cols[MAX_SLOTS] = {0};
	struct expr_value v[MAX_SLOTS];
	dsv_buf obj = {0};
	int rc = 0;
	for (int i = 0; i < f->nslots; i++)
		if (f->slots[i].kind == SLOT_COLUMN) {
			rc = derive_shard_input_column(sh, f->slots[i].name, &cols[i]);
			if (rc == DSV_ENOTFOUND) {
				dsv_error_clear();
				rc = 0;
			} else if (rc) {
				goto out;
			}
		}
	for (uint64_t r = 0; r < sh->rows; r++) {
		json_t *meta = NULL;
		if (!derive_row_live(sh, r) || sh->reason[r])
			continue;
		if (f->need_meta) {
			size_t mlen;
			json_error_t je;
			const char *m = dsv_shard_meta(sh->shard, r, &mlen);
			/* without the text member, whose value in meta is a
			 * placeholder "" */
			obj.len = 0;
			if ((rc = dsv_jsonl_meta(&obj, m, mlen,
						 dsv_shard_layout(sh->shard, r))))
				goto out;
			/* commit keeps any JSON number and \u0000: read them
			 * rather than lose the record's every field */
			meta = json_loadb(obj.buf, obj.len, JSON_DECODE_INT_AS_REAL |
					  JSON_ALLOW_NUL, &je);
			if (!meta) {
				rc = dsv_error_set(DSV_EINVAL, "--where: row %llu: "
						   "meta: %s", (unsigned long long)r,
						   je.text);
				goto out;
			}
		}
		for (int i = 0; i < f->nslots; i++) {
			memset(&v[i], 0, sizeof v[i]);
			switch (f->slots[i].kind) {
			case SLOT_COLUMN:
				/* an entry without a reason column lost no row
				 * to its derivation: its reason is 0, not
				 * missing */
				if (cols[i] || !strcmp(f->slots[i].name, "reason")) {
					v[i].type = EXPR_NUM;
					v[i].num = cols[i] ? dsv_column_get(cols[i], r) : 0;
				}
				break;
			case SLOT_TEXT_BYTES:
				v[i].type = EXPR_NUM;
				v[i].num = (double)dsv_shard_text_len(sh->shard, r);
				break;
			default:
				meta_value(f->slots[i].name + 5, meta, &v[i]);
			}
		}
		if (!expr_eval(f->where, v))
			sh->reason[r] = (uint8_t)f->where_code;
		json_decref(meta);
	}
out:
	for (int i = 0; i < f->nslots; i++)
		dsv_column_free(cols[i]);
	dsv_buf_free(&obj);
	return rc;
}

static int filter_shard(struct derive_shard *sh, void *ctx)
{
	struct filter *f = ctx;
	int rc = 0;
	if (f->nsets && (rc = rules_shard(sh, f)))
		return rc;
	if (f->where)
		rc = where_shard(sh, f);
	return rc;
}

/* ---- options ------------------------------------------------------------ */

static int parse_rules(struct filter *f, const char *s)
{
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, ",");
		int set = dsv_filter_set_parse(p, n);
		if (set < 0)
			return error_msg("--rules: unknown rule set '%.*s' (known: "
					 "gopher-quality, gopher-repetition, c4, "
					 "fineweb)", (int)n, p);
		for (int i = 0; i < f->nsets; i++)
			if (f->sets[i] == set)
				return error_msg("--rules: '%.*s' given twice",
						 (int)n, p);
		f->sets[f->nsets++] = set;
		p += n;
		if (*p == ',' && !*++p)
			return error_msg("--rules: empty rule set name");
	}
	if (!f->nsets)
		return error_msg("--rules: no rule set given");
	return 0;
}

static int parse_where(struct filter *f, const char *src)
{
	char err[256], where[EXPR_MAX_LEN + 512];
	size_t pos = 0;
	if (expr_parse(&f->where, src, resolve, f, err, sizeof err, &pos)) {
		expr_locate(src, pos, where, sizeof where);
		return error_msg("--where: %s %s", err, where);
	}
	return 0;
}

static json_t *params_json(const struct filter *f, const char *where)
{
	json_t *o = json_object(), *rules = json_array();
	const struct dsv_filter_params *p = &f->params;
	for (int i = 0; i < f->nsets; i++)
		json_array_append_new(rules, json_string(dsv_filter_set_name(f->sets[i])));
	json_object_set_new(o, "rules", rules);
	if (f->nsets) {
		json_t *t = json_pack(
			"{s:{sfsfsfsfsfsfsfsfsf},s:{sfsfsfsfs[fff]s[ffffff]},"
			"s:{sf},s:{sfsfsfsf}}",
			"gopher-quality", "min_doc_words", p->min_doc_words,
			"max_doc_words", p->max_doc_words, "min_avg_word_length",
			p->min_avg_word_length, "max_avg_word_length",
			p->max_avg_word_length, "max_symbol_word_ratio",
			p->max_symbol_word_ratio, "max_bullet_lines_ratio",
			p->max_bullet_lines_ratio, "max_ellipsis_lines_ratio",
			p->max_ellipsis_lines_ratio, "max_non_alpha_words_ratio",
			p->max_non_alpha_words_ratio, "min_stop_words",
			p->min_stop_words,
			"gopher-repetition", "dup_line_frac", p->dup_line_frac,
			"dup_para_frac", p->dup_para_frac, "dup_line_char_frac",
			p->dup_line_char_frac, "dup_para_char_frac",
			p->dup_para_char_frac, "top_n_grams", p->top_n_grams[0],
			p->top_n_grams[1], p->top_n_grams[2], "dup_n_grams",
			p->dup_n_grams[0], p->dup_n_grams[1], p->dup_n_grams[2],
			p->dup_n_grams[3], p->dup_n_grams[4], p->dup_n_grams[5],
			"c4", "min_num_sentences", p->min_num_sentences,
			"fineweb", "line_punct_thr", p->line_punct_thr,
			"short_line_thr", p->short_line_thr,
			"char_duplicates_ratio", p->char_duplicates_ratio,
			"new_line_ratio", p->new_line_ratio);
		json_object_set_new(o, "thresholds", t ? t : json_object());
		json_object_set_new(o, "word_splitter",
				    json_string("dsv spaCy-like (docs/kernels.md)"));
	}
	if (where)
		json_object_set_new(o, "where", json_string(where));
	return o;
}

int derive_filter(int argc, char **argv)
{
	static const char usage[] = "dsv derive filter REV -o NAME -m MSG "
				    "(--rules SETS | --where EXPR) [options]";
	struct derive *d = NULL;
	struct filter f = {0};
	const char *rules = NULL, *where = NULL;
	int rc = 1;

	if (derive_new(&d, "filter"))
		return die_error();
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_STRING(0, "rules", &rules, "sets",
			   "rule sets, comma-separated: gopher-quality, "
			   "gopher-repetition, c4, fineweb"),
		OPT_STRING(0, "where", &where, "expr",
			   "keep records for which EXPR holds (docs/filters.md)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	if (!rules && !where) {
		rc = usage_error(opts, usage, "give --rules or --where");
		goto out;
	}
	dsv_filter_params_default(&f.params);
	if (rules && parse_rules(&f, rules))
		goto out;
	if ((rc = derive_start(d, n, argv, opts, usage)))
		goto out;
	rc = 1;
	f.in = derive_input(d);
	f.threads = derive_threads(d);
	if (where && parse_where(&f, where))
		goto out;
	json_t *pj = params_json(&f, where);
	json_object_update(derive_params(d), pj);
	json_decref(pj);
	/* Reason codes in a fixed order: the sets as given, then --where. */
	for (int i = 0; i < f.nsets; i++) {
		size_t nr;
		const char *const *names = dsv_filter_reasons(f.sets[i], &nr);
		for (size_t k = 0; k < nr && k < MAX_SET_REASONS; k++) {
			int code = derive_reason(d, names[k]);
			if (code < 0)
				goto fail;
			f.codes[f.sets[i]][k] = (uint8_t)code;
		}
	}
	if (where && (f.where_code = derive_reason(d, "where")) < 0)
		goto fail;
	unsigned cols = (f.nsets ? DSV_SHARD_TEXT : 0) |
			(f.need_meta ? DSV_SHARD_META | DSV_SHARD_LAYOUT : 0);
	if (derive_select(d, cols, 0, filter_shard, &f))
		goto fail;
	rc = derive_commit(d);
	goto out;
fail:
	rc = die_error();
out:
	expr_free(f.where);
	derive_free(d);
	return rc;
}
