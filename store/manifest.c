/* manifest.c: the MANIFEST text of a dataset version, one line per entry so
 * that git diffs it line by line; a strict parser whose errors name the line
 * (docs/formats.md), and the formatter it round-trips with.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define MANIFEST_HEADER "dsv-manifest 1"

int dsv_manifest_new(dsv_manifest **out)
{
	dsv_manifest *m = dsv_malloc(sizeof *m);
	*out = NULL;
	if (!m)
		return DSV_ENOMEM;
	memset(m, 0, sizeof *m);
	*out = m;
	return 0;
}

void dsv_manifest_free(dsv_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].cols);
	free(m->e);
	free(m);
}

int dsv_manifest_add(dsv_manifest *m, const dsv_manifest_entry *e)
{
	dsv_manifest_col *cols = NULL;
	int rc = DSV_ARRAY_GROW(m->e, m->cap, m->n + 1, 16);
	if (rc)
		return rc;
	if (e->ncols) {
		if (e->ncols > SIZE_MAX / sizeof *cols)
			return dsv_error_set(DSV_ENOMEM, "too many columns");
		if (!(cols = dsv_malloc(e->ncols * sizeof *cols)))
			return DSV_ENOMEM;
		memcpy(cols, e->cols, e->ncols * sizeof *cols);
	}
	m->e[m->n] = *e;
	m->e[m->n].cols = cols;
	m->n++;
	return 0;
}

uint64_t dsv_manifest_records(const dsv_manifest *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += m->e[i].kept * m->e[i].repeat;
	return n;
}

/* Column names: [A-Za-z0-9_.-]{1,63}. */
static int name_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct {
	const char *p; /* the rest of the line */
	size_t n;
	size_t line;
} cursor;

static int perr(const cursor *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int perr(const cursor *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dsv_error_set(DSV_EINVAL, "MANIFEST:%zu: %s", c->line, msg);
}

/* Quoted fields are cut at 80 bytes in messages. */
#define SHOW(n) (int)((n) > 80 ? 80 : (n))

/* The next space-separated field; 0 at the end of the line. */
static int next_field(cursor *c, const char **f, size_t *n)
{
	const char *sp;
	if (c->n == 0)
		return 0;
	sp = memchr(c->p, ' ', c->n);
	*f = c->p;
	*n = sp ? (size_t)(sp - c->p) : c->n;
	c->p += *n + (sp != NULL);
	c->n -= *n + (sp != NULL);
	if (*n == 0 || (sp && c->n == 0))
		return perr(c, "empty field (doubled or trailing space)");
	return 1;
}

static int has_prefix(const char *f, size_t n, const char *pre)
{
	size_t k = strlen(pre);
	return n >= k && memcmp(f, pre, k) == 0;
}

/* Decimal, no sign, no leading zeros, at most `max`. */
static int parse_num(const cursor *c, const char *f, size_t n, uint64_t max,
		     uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20 || (n > 1 && f[0] == '0'))
		return perr(c, "bad number '%.*s'", SHOW(n), f);
	for (size_t i = 0; i < n; i++) {
		if (f[i] < '0' || f[i] > '9')
			return perr(c, "bad number '%.*s'", SHOW(n), f);
		unsigned d = (unsigned)(f[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return perr(c, "number '%.*s' is too large", SHOW(n), f);
		v = v * 10 + d;
	}
	if (v > max)
		return perr(c, "number '%.*s' is too large", SHOW(n), f);
	*out = v;
	return 0;
}

static int parse_oid(const cursor *c, const char *f, size_t n, dsv_oid *out)
{
	int rc = dsv_oid_parse(out, f, n);
	if (rc)
		return dsv_error_wrap(rc, "MANIFEST:%zu", c->line);
	return 0;
}

static int add_col(const cursor *c, dsv_manifest_entry *e, size_t *cap,
		   const char *f, size_t n)
{
	const char *eq = memchr(f, '=', n);
	size_t nl;
	if (!eq)
		return perr(c, "bad column field '%.*s'", SHOW(n), f);
	nl = (size_t)(eq - f) - 4;
	if (!name_ok(f + 4, nl))
		return perr(c, "bad column name '%.*s'", SHOW(nl), f + 4);
	for (size_t i = 0; i < e->ncols; i++)
		if (strlen(e->cols[i].name) == nl &&
		    memcmp(e->cols[i].name, f + 4, nl) == 0)
			return perr(c, "column '%.*s' given twice", SHOW(nl), f + 4);
	int rc = DSV_ARRAY_GROW(e->cols, *cap, e->ncols + 1, 4);
	if (rc)
		return rc;
	dsv_manifest_col *col = &e->cols[e->ncols];
	memset(col, 0, sizeof *col);
	memcpy(col->name, f + 4, nl);
	rc = parse_oid(c, eq + 1, n - (size_t)(eq + 1 - f), &col->id);
	if (rc)
		return rc;
	e->ncols++;
	return 0;
}

/* shard <oid> rows=<n> [sel=<oid> kept=<k>] [repeat=<r>] [col.<name>=<oid>]... */
static int parse_entry(cursor *c, dsv_manifest *m)
{
	dsv_manifest_entry e = {0};
	size_t ncap = 0, n;
	const char *f;
	int rc, more;

	e.repeat = 1;
	if ((rc = next_field(c, &f, &n)) <= 0) {
		rc = rc ? rc : perr(c, "missing shard id");
		goto cleanup;
	}
	if ((rc = parse_oid(c, f, n, &e.shard)))
		goto cleanup;
	if ((rc = next_field(c, &f, &n)) < 0)
		goto cleanup;
	if (rc == 0 || !has_prefix(f, n, "rows=")) {
		rc = perr(c, "expected 'rows=N' after the shard id");
		goto cleanup;
	}
	if ((rc = parse_num(c, f + 5, n - 5, UINT64_MAX, &e.rows)))
		goto cleanup;
	e.kept = e.rows;
	more = next_field(c, &f, &n);
	if (more > 0 && has_prefix(f, n, "sel=")) {
		e.has_sel = 1;
		if ((rc = parse_oid(c, f + 4, n - 4, &e.sel)))
			goto cleanup;
		if ((rc = next_field(c, &f, &n)) < 0)
			goto cleanup;
		if (rc == 0 || !has_prefix(f, n, "kept=")) {
			rc = perr(c, "expected 'kept=N' after 'sel='");
			goto cleanup;
		}
		if ((rc = parse_num(c, f + 5, n - 5, e.rows, &e.kept)))
			goto cleanup;
		more = next_field(c, &f, &n);
	}
	if (more > 0 && has_prefix(f, n, "repeat=")) {
		uint64_t r;
		if ((rc = parse_num(c, f + 7, n - 7, UINT32_MAX, &r)))
			goto cleanup;
		if (r == 0) {
			rc = perr(c, "repeat must be at least 1");
			goto cleanup;
		}
		e.repeat = (uint32_t)r;
		more = next_field(c, &f, &n);
	}
	while (more > 0) {
		if (!has_prefix(f, n, "col.")) {
			rc = perr(c, "unexpected field '%.*s'", SHOW(n), f);
			goto cleanup;
		}
		if ((rc = add_col(c, &e, &ncap, f, n)))
			goto cleanup;
		more = next_field(c, &f, &n);
	}
	if ((rc = more) < 0)
		goto cleanup;
	rc = dsv_manifest_add(m, &e);
cleanup:
	free(e.cols);
	return rc;
}

int dsv_manifest_parse(dsv_manifest **out, const char *text, size_t len)
{
	dsv_manifest *m = NULL;
	cursor c = {0};
	size_t pos = 0;
	int rc;

	*out = NULL;
	if ((rc = dsv_manifest_new(&m)))
		return rc;
	while (pos < len) {
		const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
		const char *f;
		size_t n = nl ? (size_t)(nl - p) : len - pos, fl;
		pos += n + 1;
		c = (cursor){p, n, c.line + 1};
		if (memchr(p, '\0', n) || memchr(p, '\r', n)) {
			rc = perr(&c, "control character in line");
			goto cleanup;
		}
		if (c.line == 1) {
			if (n != strlen(MANIFEST_HEADER) ||
			    memcmp(p, MANIFEST_HEADER, n) != 0) {
				rc = perr(&c, "expected '%s'", MANIFEST_HEADER);
				goto cleanup;
			}
			continue;
		}
		if (m->has_order) {
			rc = perr(&c, "nothing may follow the 'order' line");
			goto cleanup;
		}
		if ((rc = next_field(&c, &f, &fl)) < 0)
			goto cleanup;
		if (rc == 0) {
			rc = perr(&c, "empty line");
			goto cleanup;
		}
		if (fl == 5 && memcmp(f, "shard", 5) == 0) {
			rc = parse_entry(&c, m);
		} else if (fl == 5 && memcmp(f, "order", 5) == 0) {
			if ((rc = next_field(&c, &f, &fl)) <= 0) {
				rc = rc ? rc : perr(&c, "missing order id");
				goto cleanup;
			}
			rc = parse_oid(&c, f, fl, &m->order);
			m->has_order = 1;
			if (!rc && c.n)
				rc = perr(&c, "unexpected '%.*s' after the "
					      "order id", SHOW(c.n), c.p);
		} else {
			rc = perr(&c, "expected 'shard' or 'order', not '%.*s'", SHOW(fl), f);
		}
		if (rc)
			goto cleanup;
	}
	if (c.line == 0) {
		c.line = 1;
		rc = perr(&c, "expected '%s'", MANIFEST_HEADER);
		goto cleanup;
	}
	*out = m;
	m = NULL;
	rc = 0;
cleanup:
	dsv_manifest_free(m);
	return rc;
}

/* ---- formatting --------------------------------------------------------- */

static int put_oid(dsv_buf *b, const char *pre, const dsv_oid *id)
{
	char hex[DSV_OID_HEXLEN + 1];
	dsv_oid_fmt(hex, id);
	int rc = dsv_buf_append(b, pre, strlen(pre));
	return rc ? rc : dsv_buf_append(b, hex, DSV_OID_HEXLEN);
}

static int put_num(dsv_buf *b, const char *pre, uint64_t v)
{
	char s[48];
	int n = snprintf(s, sizeof s, "%s%" PRIu64, pre, v);
	return dsv_buf_append(b, s, (size_t)n);
}

static int format_entry(dsv_buf *b, const dsv_manifest_entry *e, size_t i)
{
	int rc;
	if (e->repeat < 1 || e->kept > e->rows || (!e->has_sel && e->kept != e->rows))
		return dsv_error_set(DSV_EINVAL,
				     "manifest entry %zu: inconsistent counts",
				     i + 1);
	if ((rc = put_oid(b, "shard ", &e->shard)) ||
	    (rc = put_num(b, " rows=", e->rows)))
		return rc;
	if (e->has_sel && ((rc = put_oid(b, " sel=", &e->sel)) ||
			   (rc = put_num(b, " kept=", e->kept))))
		return rc;
	if (e->repeat != 1 && (rc = put_num(b, " repeat=", e->repeat)))
		return rc;
	for (size_t k = 0; k < e->ncols; k++) {
		const char *name = e->cols[k].name;
		size_t nl = strnlen(name, sizeof e->cols[k].name);
		if (!name_ok(name, nl))
			return dsv_error_set(DSV_EINVAL,
					     "manifest entry %zu: bad column "
					     "name '%.*s'", i + 1, (int)nl, name);
		if ((rc = dsv_buf_append(b, " col.", 5)) ||
		    (rc = dsv_buf_append(b, name, nl)) ||
		    (rc = put_oid(b, "=", &e->cols[k].id)))
			return rc;
	}
	return dsv_buf_append(b, "\n", 1);
}

int dsv_manifest_format(const dsv_manifest *m, char **out, size_t *len)
{
	dsv_buf b = {0};
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = dsv_buf_append(&b, MANIFEST_HEADER "\n",
				 sizeof MANIFEST_HEADER)))
		goto cleanup;
	for (size_t i = 0; i < m->n; i++)
		if ((rc = format_entry(&b, &m->e[i], i)))
			goto cleanup;
	if (m->has_order && ((rc = put_oid(&b, "order ", &m->order)) ||
			     (rc = dsv_buf_append(&b, "\n", 1))))
		goto cleanup;
	if ((rc = dsv_buf_append(&b, "", 1)))
		goto cleanup;
	*len = b.len - 1;
	*out = b.buf;
	b.buf = NULL;
cleanup:
	dsv_buf_free(&b);
	return rc;
}
