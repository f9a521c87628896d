/* model.c: a model artifact's tree files, MODEL and METRICS.tsv, a
 * classifier's CLASSIFIER, and the arithmetic of `dsv compare` on two
 * validation curves (a pure function so it can be tested without training
 * anything).
 */
#include "lineage/lineage.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dsv_model_free(dsv_model *m)
{
	if (!m)
		return;
	free(m->checkpoints);
	free(m->config);
	free(m);
}

static int append(dsv_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int append(dsv_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return dsv_error_set(DSV_EINVAL, "line too long");
	return dsv_buf_append(b, tmp, (size_t)n);
}

int dsv_model_format(const dsv_model *m, char **out, size_t *len)
{
	dsv_buf b = {0};
	char oid[DSV_OID_HEXLEN + 1], aid[DSV_AID_HEXLEN + 1];
	int rc = 0;
	dsv_oid_fmt(oid, &m->weights);
	rc |= append(&b, "format 1\nweights %s\n", oid);
	dsv_aid_fmt(aid, &m->tokenizer);
	rc |= append(&b, "tokenizer %s\nvocab %d\n", aid, m->vocab);
	dsv_aid_fmt(aid, &m->dataset);
	rc |= append(&b, "dataset %s\n", aid);
	if (m->has_valid) {
		dsv_aid_fmt(aid, &m->valid);
		rc |= append(&b, "valid %s\n", aid);
	}
	for (size_t i = 0; i < m->ncheckpoints; i++) {
		dsv_oid_fmt(oid, &m->checkpoints[i]);
		rc |= append(&b, "checkpoint %s\n", oid);
	}
	/* The config, each line prefixed, so MODEL stays one `key value`
	 * line grammar. */
	const char *p = m->config ? m->config : "";
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			rc |= dsv_buf_append(&b, "config ", 7);
			rc |= dsv_buf_append(&b, p, n);
			rc |= dsv_buf_append(&b, "\n", 1);
		}
		p += n + (e ? 1 : 0);
	}
	rc |= dsv_buf_append(&b, "", 1);
	if (rc) {
		dsv_buf_free(&b);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	*out = b.buf;
	*len = b.len - 1;
	return 0;
}

/* The digits of a whole number as dsv writes one ("%lld"): no sign, no
 * leading zero. Returns how many start s; 0 when s starts otherwise. */
static size_t whole_digits(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n > 1 && *s == '0' ? 0 : n;
}

/* A step, token count or vocabulary size: whole digits, below 2^63 (a
 * double such as "1e30" or "2.5" converted to int64_t was undefined or
 * truncated; strtol took "+5" and " 5"). */
static int parse_count(const char *s, int64_t *v)
{
	size_t n = whole_digits(s);
	uint64_t x = 0;
	if (!n || s[n])
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (x > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = (int64_t)x;
	return 0;
}

static int bad(int line, const char *what)
{
	return dsv_error_set(DSV_EINVAL, "MODEL:%d: %s", line, what);
}

int dsv_model_parse(dsv_model **out, const char *text, size_t len)
{
	dsv_model *m = calloc(1, sizeof *m);
	dsv_buf cfg = {0};
	int line = 0, rc = 0, have = 0;
	size_t cap = 0;
	*out = NULL;
	if (!m)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		line++;
		const char *s = text + i, *sp = memchr(s, ' ', j - i);
		size_t klen = sp ? (size_t)(sp - s) : j - i;
		const char *v = sp ? sp + 1 : s + (j - i);
		size_t vlen = (size_t)(text + j - v), llen = j - i;
		i = j + 1;
		if (memchr(s, 0, llen)) {
			rc = bad(line, "NUL byte");
			goto fail;
		}
#define KEY(k) (klen == strlen(k) && memcmp(s, k, klen) == 0)
		/* Each key but checkpoint and config is given once: a second
		 * weights line silently replaced the first. */
		int bit = KEY("format") ? 1 : KEY("weights") ? 2
			  : KEY("tokenizer") ? 4 : KEY("dataset") ? 8
			  : KEY("valid") ? 16 : KEY("vocab") ? 32 : 0;
		if (have & bit) {
			rc = bad(line, "key given twice");
			goto fail;
		}
		have |= bit;
		if (KEY("format")) {
			if (vlen != 1 || *v != '1') {
				rc = bad(line, "unsupported format");
				goto fail;
			}
		} else if (KEY("weights")) {
			if (dsv_oid_parse(&m->weights, v, vlen)) {
				rc = bad(line, "bad weight object id");
				goto fail;
			}
		} else if (KEY("tokenizer") || KEY("dataset") || KEY("valid")) {
			dsv_aid *a = KEY("tokenizer") ? &m->tokenizer
				     : KEY("dataset") ? &m->dataset : &m->valid;
			if (dsv_aid_parse(a, v, vlen)) {
				rc = bad(line, "bad artifact id");
				goto fail;
			}
			if (KEY("valid"))
				m->has_valid = 1;
		} else if (KEY("vocab")) {
			char num[16];
			int64_t n = 0;
			if (vlen < sizeof num) {
				memcpy(num, v, vlen);
				num[vlen] = 0;
			}
			if (vlen >= sizeof num || parse_count(num, &n) ||
			    n < 1 || n > (1 << 24)) {
				rc = bad(line, "vocab is not a whole number in "
					 "1..16777216");
				goto fail;
			}
			m->vocab = (int)n;
		} else if (KEY("checkpoint")) {
			if ((rc = DSV_ARRAY_GROW(m->checkpoints, cap,
						 m->ncheckpoints + 1, 8)))
				goto fail;
			if (dsv_oid_parse(&m->checkpoints[m->ncheckpoints++],
					  v, vlen)) {
				rc = bad(line, "bad checkpoint object id");
				goto fail;
			}
		} else if (KEY("config")) {
			if (dsv_buf_append(&cfg, v, vlen) ||
			    dsv_buf_append(&cfg, "\n", 1)) {
				rc = dsv_error_set(DSV_ENOMEM, "out of memory");
				goto fail;
			}
		} else if (llen) {
			/* only an empty line is skipped: " x" has no key */
			rc = bad(line, "unknown key");
			goto fail;
		}
#undef KEY
	}
	if ((have & 15) != 15 || !m->vocab) {
		rc = dsv_error_set(DSV_EINVAL, "MODEL: format, weights, "
				   "tokenizer, vocab or dataset missing");
		goto fail;
	}
	if (dsv_buf_append(&cfg, "", 1)) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto fail;
	}
	m->config = cfg.buf;
	*out = m;
	return 0;
fail:
	dsv_buf_free(&cfg);
	dsv_model_free(m);
	return rc;
}

int dsv_model_read(dsv_model **out, dsv_lineage *l, const dsv_aid *id)
{
	char *text = NULL, hex[DSV_AID_SHORTLEN + 1];
	size_t len;
	int rc = dsv_lineage_read_file(l, id, "MODEL", &text, &len);
	if (rc == DSV_ENOTFOUND) {
		dsv_aid_short(hex, id);
		return dsv_error_set(DSV_EINVAL, "artifact %s is not a model "
				     "(no MODEL file)", hex);
	}
	if (rc)
		return rc;
	rc = dsv_model_parse(out, text, len);
	free(text);
	return rc;
}

/* ---- METRICS.tsv ---- */

static const char metrics_header[] =
	"step\ttokens\ttrain_loss\tval_loss\tseconds\n";
static const char *const metrics_fields[] = {"step", "tokens", "train_loss",
					     "val_loss", "seconds"};

static void fmt_loss(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.6f", v);
}

int dsv_metrics_format(const dsv_metrics_row *rows, size_t n, char **out,
		       size_t *len)
{
	dsv_buf b = {0};
	int rc = dsv_buf_append(&b, metrics_header, sizeof metrics_header - 1);
	for (size_t i = 0; i < n && !rc; i++) {
		char tl[32], vl[32];
		fmt_loss(tl, sizeof tl, rows[i].train_loss);
		fmt_loss(vl, sizeof vl, rows[i].val_loss);
		rc = append(&b, "%lld\t%lld\t%s\t%s\t%.3f\n",
			    (long long)rows[i].step, (long long)rows[i].tokens,
			    tl, vl, rows[i].seconds);
	}
	if (rc || dsv_buf_append(&b, "", 1)) {
		dsv_buf_free(&b);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	*out = b.buf;
	*len = b.len - 1;
	return 0;
}

/* A loss or seconds as dsv writes them ("%.6f", "%.3f"): whole digits and
 * optionally '.' and digits; a loss may be '-' (not measured) or have a
 * '-' ("%.6f" writes a loss rounded a hair below 0 as -0.000000). strtod
 * alone took " 1", "0x1p3", "1e3" and negative seconds. Below 10^39 (a
 * float model's loss is below 3.4e38): the rows formatted again then stay
 * within the line limit. */
static int parse_decimal(const char *s, double *v, int loss)
{
	if (loss && strcmp(s, "-") == 0) {
		*v = NAN;
		return 0;
	}
	const char *p = s + (loss && *s == '-');
	size_t n = whole_digits(p);
	if (!n)
		return -1;
	p += n;
	if (*p == '.') {
		size_t f = strspn(p + 1, "0123456789");
		if (!f)
			return -1;
		p += 1 + f;
	}
	if (*p)
		return -1;
	*v = strtod(s, NULL);
	return fabs(*v) < 1e39 ? 0 : -1;
}

int dsv_metrics_parse(dsv_metrics_row **out, size_t *n, const char *text,
		      size_t len)
{
	dsv_metrics_row *rows = NULL;
	size_t cap = 0, nr = 0, i = 0;
	int line = 0;
	*out = NULL;
	*n = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		line++;
		char buf[256];
		if (j - i >= sizeof buf) {
			free(rows);
			return dsv_error_set(DSV_EINVAL, "METRICS.tsv:%d: line "
					     "too long", line);
		}
		if (memchr(text + i, 0, j - i)) {
			free(rows);
			return dsv_error_set(DSV_EINVAL, "METRICS.tsv:%d: NUL "
					     "byte", line);
		}
		memcpy(buf, text + i, j - i);
		buf[j - i] = 0;
		size_t blen = j - i;
		i = j + 1;
		if (line == 1) {
			if (blen + 1 != sizeof metrics_header - 1 ||
			    memcmp(buf, metrics_header, blen)) {
				free(rows);
				return dsv_error_set(DSV_EINVAL, "METRICS.tsv:1: "
						     "unexpected header");
			}
			continue;
		}
		char *f[6], *p = buf;
		int nf = 0;
		for (char *t; nf < 6 && (t = strsep(&p, "\t"));)
			f[nf++] = t;
		if (nf != 5) {
			free(rows);
			return dsv_error_set(DSV_EINVAL, "METRICS.tsv:%d: expected "
					     "5 tab-separated fields", line);
		}
		int64_t c[2];
		double v[3];
		for (int k = 0; k < 5; k++)
			if (k < 2 ? parse_count(f[k], &c[k])
				  : parse_decimal(f[k], &v[k - 2], k < 4)) {
				free(rows);
				return dsv_error_set(DSV_EINVAL, "METRICS.tsv:%d: "
						     "%s is not %s: '%s'", line,
						     metrics_fields[k],
						     k < 2 ? "a whole number below "
						     "2^63" : k < 4 ? "'-' or a decimal "
						     "number below 1e39" : "a "
						     "decimal number in 0..1e39",
						     f[k]);
			}
		int rc = DSV_ARRAY_GROW(rows, cap, nr + 1, 64);
		if (rc) {
			free(rows);
			return rc;
		}
		rows[nr++] = (dsv_metrics_row){c[0], c[1], v[0], v[1], v[2]};
	}
	if (line == 0)
		return dsv_error_set(DSV_EINVAL, "METRICS.tsv: empty");
	*out = rows;
	*n = nr;
	return 0;
}

/* ---- CLASSIFIER ---- */

/* Each line once, in any order; any other line but an empty one is an
 * error, as in MODEL (a `classes 3` or a misspelt key was ignored, and a
 * NUL byte cut the file short unseen). */
int dsv_classifier_parse(const char *text, size_t len, dsv_oid *weights,
			 char label[DSV_CLASSIFIER_LABEL_MAX + 1])
{
	static const char *const keys[] = {"format", "weights", "label",
					   "classes"};
	unsigned have = 0;
	int line = 0;
	for (size_t i = 0; i < len;) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		const char *sp = memchr(s, ' ', n), *v = sp ? sp + 1 : s + n;
		size_t klen = sp ? (size_t)(sp - s) : n, vlen = n - klen - !!sp;
		size_t k;
		i += n + 1;
		line++;
		if (memchr(s, 0, n))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: NUL "
					     "byte", line);
		if (!n)
			continue;
		for (k = 0; k < 4; k++)
			if (klen == strlen(keys[k]) && !memcmp(s, keys[k], klen))
				break;
		if (k == 4)
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: unknown "
					     "key", line);
		if (have & 1u << k)
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: '%s' "
					     "given twice", line, keys[k]);
		have |= 1u << k;
		if (k == 0 && (vlen != 8 || memcmp(v, "qclass 1", 8)))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: format "
					     "is not 'qclass 1'", line);
		/* one weights line of one id: gc keeps that object */
		if (k == 1 && (vlen != DSV_OID_HEXLEN ||
			       dsv_oid_parse(weights, v, vlen)))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: bad "
					     "weights object id", line);
		if (k == 2 && (!vlen || vlen > DSV_CLASSIFIER_LABEL_MAX))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: label "
					     "empty or longer than %d bytes",
					     line, DSV_CLASSIFIER_LABEL_MAX);
		if (k == 2) {
			memcpy(label, v, vlen);
			label[vlen] = 0;
		}
		/* annotate scores class 1 of two (cmd/op_annotate.c) */
		if (k == 3 && (vlen != 1 || *v != '2'))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: classes "
					     "must be 2", line);
	}
	if (have != 15)
		return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER: format, weights, "
				     "label or classes missing");
	return 0;
}

/* ---- compare ---- */

int dsv_curve_tokens_to(const dsv_metrics_row *rows, size_t n, double loss,
			double *tokens)
{
	const dsv_metrics_row *prev = NULL;
	for (size_t i = 0; i < n; i++) {
		const dsv_metrics_row *r = &rows[i];
		if (isnan(r->val_loss))
			continue;
		if (r->val_loss <= loss) {
			if (!prev) {
				*tokens = (double)r->tokens;
				return 0;
			}
			double t0 = (double)prev->tokens, t1 = (double)r->tokens;
			double v0 = prev->val_loss, v1 = r->val_loss;
			*tokens = t0 + (t1 - t0) * (v0 - loss) / (v0 - v1);
			return 0;
		}
		prev = r;
	}
	return DSV_ENOTFOUND;
}

static int final_point(const dsv_metrics_row *r, size_t n, double *loss,
		       double *tokens)
{
	for (size_t i = n; i-- > 0;)
		if (!isnan(r[i].val_loss)) {
			*loss = r[i].val_loss;
			*tokens = (double)r[i].tokens;
			return 0;
		}
	return DSV_EINVAL;
}

int dsv_compare_curves(const dsv_metrics_row *a, size_t na,
		       const dsv_metrics_row *b, size_t nb,
		       dsv_compare_result *out)
{
	const dsv_metrics_row *rows[2] = {a, b};
	size_t n[2] = {na, nb};
	memset(out, 0, sizeof *out);
	for (int i = 0; i < 2; i++)
		if (final_point(rows[i], n[i], &out->final_loss[i],
				&out->final_tokens[i]))
			return dsv_error_set(DSV_EINVAL, "model %c has no "
					     "validation loss in METRICS.tsv",
					     "AB"[i]);
	for (int i = 0; i < 2; i++)
		if (dsv_curve_tokens_to(rows[i], n[i], out->final_loss[1 - i],
					&out->reach[i]))
			out->reach[i] = NAN;
	int w = out->final_loss[1] < out->final_loss[0];
	out->better = w;
	/* Both reach O's final loss: W on its way (its own final is no
	 * higher), O at the latest at its end. Both are measured the same
	 * way, the first crossing on their own curve: with O's final tokens
	 * instead, a noisy curve that dipped below its final loss earlier
	 * gave a model k = 2.2 against itself. Whichever needed fewer
	 * tokens is the more efficient; with unequal budgets that can be O
	 * (W trained longer). */
	out->need[w] = out->reach[w];
	if (dsv_curve_tokens_to(rows[1 - w], n[1 - w], out->final_loss[1 - w],
				&out->need[1 - w]))
		out->need[1 - w] = out->final_tokens[1 - w];
	int e = out->need[1 - w] < out->need[w] ? 1 - w : w;
	out->efficient = e;
	if (out->need[e] <= 0)
		out->k = INFINITY;
	else
		out->k = out->need[1 - e] / out->need[e];
	out->break_even = isinf(out->k) ? 1 : 1 - 1 / out->k;
	return 0;
}
