/* jsonl.c: the JSONL record codec. dsv_jsonl_parse validates one line as a
 * JSON object and splits it into text, meta and a layout word; the writer
 * rebuilds the line byte for byte from those three (docs/records.md).
 *
 * This is the ingest and export hot path: string bodies are scanned 16 bytes
 * at a time for '"', '\\' and bytes outside printable ASCII, and the escaping
 * style of the text is verified while it is decoded, in the same pass.
 */
#include "jsonl_scan.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define OFF_MASK DSV_LAYOUT_OFFSET_MASK

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (s[0] >= 0x80), or 0 if invalid.
 * `n` is how many bytes are available. */
static inline size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c > 0xF4 || n < 4 || (s[1] & 0xC0) != 0x80 ||
	    (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
		return 0;
	if (c == 0xF0 && s[1] < 0x90)
		return 0; /* overlong */
	if (c == 0xF4 && s[1] >= 0x90)
		return 0; /* over U+10FFFF */
	return 4;
}

size_t dsv_utf8_check(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		/* ASCII fast path, 8 bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(s + i, n - i);
		if (!k)
			return i;
		i += k;
	}
	return n;
}

/* ---- the scanner ------------------------------------------------------------ */

/* What the text's raw escaping showed, gathered while decoding it. */
typedef struct {
	unsigned raw_nonascii; /* raw bytes >= 0x80 */
	unsigned esc_nonascii; /* \u escapes of U+007F and above */
	unsigned esc_slash;    /* \/ */
	unsigned esc_del;      /* \u007f */
	unsigned noncanon;     /* an escape no style writes */
} style;

typedef struct {
	const char *line, *end;
	dsv_jsonl_parser *p;
	const char *err;
	const char *errp;
} scan;

const char dsv_jsonl_no_field[] = "missing text field";

static inline int fail(scan *s, const char *at, const char *msg)
{
	if (!s->err) {
		s->err = msg;
		s->errp = at;
	}
	return DSV_EINVAL;
}

static inline int hexval(unsigned char c, unsigned *upper)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') {
		*upper = 1;
		return c - 'A' + 10;
	}
	return -1;
}

static inline int hex4(const char *q, unsigned *upper)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)q[i], upper);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static inline char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/* Decodes one escape at q (q[0] == '\\') into *op (when decoding); returns
 * the byte after it, or NULL on a bad escape. */
static inline const char *escape(scan *s, const char *q, char **op,
				 style *st)
{
	char *o = *op;
	unsigned cp, upper = 0;
	switch (q[1]) {
	case '"': cp = '"'; break;
	case '\\': cp = '\\'; break;
	case '/': cp = '/'; st->esc_slash++; break;
	case 'b': cp = '\b'; break;
	case 'f': cp = '\f'; break;
	case 'n': cp = '\n'; break;
	case 'r': cp = '\r'; break;
	case 't': cp = '\t'; break;
	case 'u': {
		int v = hex4(q + 2, &upper);
		if (v < 0) {
			fail(s, q, "invalid \\u escape");
			return NULL;
		}
		cp = (unsigned)v;
		if (cp >= 0xDC00 && cp <= 0xDFFF) {
			fail(s, q, "lone surrogate in \\u escape");
			return NULL;
		}
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			int lo = -1;
			if (q[6] == '\\' && q[7] == 'u')
				lo = hex4(q + 8, &upper);
			if (lo < 0xDC00 || lo > 0xDFFF) {
				fail(s, q, "lone surrogate in \\u escape");
				return NULL;
			}
			cp = 0x10000 + ((cp - 0xD800) << 10) +
			     ((unsigned)lo - 0xDC00);
			q += 6;
		}
		if (cp >= 0x7F) {
			st->esc_nonascii++;
			st->esc_del += cp == 0x7F;
		} else if (cp >= 0x20 || cp == '\b' || cp == '\f' ||
			   cp == '\n' || cp == '\r' || cp == '\t') {
			st->noncanon = 1; /* printable or short-escaped char */
		}
		st->noncanon |= upper;
		if (o)
			*op = put_utf8(o, cp);
		return q + 6;
	}
	default:
		fail(s, q, "invalid escape in string");
		return NULL;
	}
	if (o) {
		*o++ = (char)cp;
		*op = o;
	}
	return q + 2;
}

/* Scans a string body from q (just after its opening quote) to its closing
 * quote, which it returns (NULL on error). When *op is not NULL the decoded
 * bytes are written there (room for the raw length plus 16 is needed) and *op
 * is advanced. Inlined into its two callers, so the copy disappears from the
 * validate-only one. */
static inline __attribute__((always_inline)) const char *
string_body(scan *s, const char *q, char **op, style *st)
{
	char *o = *op;
	for (;;) {
#ifdef __SSE2__
		const __m128i dq = _mm_set1_epi8('"');
		const __m128i bs = _mm_set1_epi8('\\');
		const __m128i sp = _mm_set1_epi8(0x20);
		for (;;) {
			__m128i x = _mm_loadu_si128((const __m128i *)q);
			if (o)
				_mm_storeu_si128((__m128i *)o, x);
			/* signed compare: bytes < 0x20 and >= 0x80 both hit */
			__m128i m = _mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(x, dq),
					     _mm_cmpeq_epi8(x, bs)),
				_mm_cmplt_epi8(x, sp));
			int bits = _mm_movemask_epi8(m);
			if (bits) {
				int k = __builtin_ctz((unsigned)bits);
				q += k;
				if (o)
					o += k;
				break;
			}
			q += 16;
			if (o)
				o += 16;
		}
#else
		while ((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 &&
		       *q != '"' && *q != '\\') {
			if (o)
				*o++ = *q;
			q++;
		}
#endif
		unsigned char c = (unsigned char)*q;
		if (c == '"') {
			*op = o;
			return q;
		}
		if (c == '\\') {
			q = escape(s, q, &o, st);
			if (!q)
				return NULL;
			continue;
		}
		if (c < 0x80) {
			fail(s, q, q >= s->end ? "unterminated string" :
				   "control character in string");
			return NULL;
		}
		/* a run of non-ASCII characters */
		st->raw_nonascii = 1;
		do {
			size_t k = utf8_seq((const unsigned char *)q, 4);
			if (!k) {
				fail(s, q, "invalid UTF-8");
				return NULL;
			}
			if (o) {
				memcpy(o, q, 4); /* the pad makes 4 safe */
				o += k;
			}
			q += k;
		} while ((unsigned char)*q >= 0x80);
	}
}

static inline const char *ws(const char *q)
{
	while (*q == ' ' || *q == '\t' || *q == '\r')
		q++;
	return q;
}

static int value(scan *s, const char **qp, int depth);

static int string_skip(scan *s, const char **qp)
{
	char *o = NULL;
	style st;
	const char *q = string_body(s, *qp + 1, &o, &st);
	if (!q)
		return DSV_EINVAL;
	*qp = q + 1;
	return 0;
}

static int number(scan *s, const char **qp)
{
	const char *q = *qp;
	if (*q == '-')
		q++;
	if (*q == '0') {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		while (*q >= '0' && *q <= '9')
			q++;
	} else {
		return fail(s, q, "invalid number");
	}
	if (*q == '.') {
		q++;
		if (!(*q >= '0' && *q <= '9'))
			return fail(s, q, "invalid number");
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!(*q >= '0' && *q <= '9'))
			return fail(s, q, "invalid number");
		while (*q >= '0' && *q <= '9')
			q++;
	}
	*qp = q;
	return 0;
}

static int literal(scan *s, const char **qp, const char *word, size_t n)
{
	if (memcmp(*qp, word, n) != 0)
		return fail(s, *qp, "invalid literal");
	*qp += n;
	return 0;
}

/* A member's key at *qp and the ':' after it: *qp moves to the value, and
 * *kend (unless NULL) to the key's closing quote. */
static inline int key(scan *s, const char **qp, const char **kend)
{
	const char *q = *qp;
	if (*q != '"')
		return fail(s, q, "expected '\"' (a key)");
	if (string_skip(s, &q))
		return DSV_EINVAL;
	if (kend)
		*kend = q - 1;
	q = ws(q);
	if (*q != ':')
		return fail(s, q, "expected ':'");
	*qp = ws(q + 1);
	return 0;
}

/* After a member or an element: 1 at the closing bracket (*qp on it), 0
 * past a ',' and the white space after it (*qp on the next one), or the
 * error. */
static inline int separator(scan *s, const char **qp, char close)
{
	const char *q = ws(*qp);
	if (*q == close) {
		*qp = q;
		return 1;
	}
	if (*q != ',')
		return fail(s, q, close == ']' ? "expected ',' or ']'"
					       : "expected ',' or '}'");
	*qp = ws(q + 1);
	return 0;
}

/* An array or an object, by its opening bracket at *qp. */
static int container(scan *s, const char **qp, int depth)
{
	char close = **qp == '[' ? ']' : '}';
	const char *q = ws(*qp + 1);
	int rc = *q == close;
	while (!rc) {
		if ((close == '}' && key(s, &q, NULL)) || value(s, &q, depth + 1))
			return DSV_EINVAL;
		rc = separator(s, &q, close);
	}
	if (rc < 0)
		return rc;
	*qp = q + 1;
	return 0;
}

static int value(scan *s, const char **qp, int depth)
{
	if (depth > DSV_JSONL_MAX_DEPTH)
		return fail(s, *qp, "nested too deep");
	switch (**qp) {
	case '{': case '[': return container(s, qp, depth);
	case '"': return string_skip(s, qp);
	case 't': return literal(s, qp, "true", 4);
	case 'f': return literal(s, qp, "false", 5);
	case 'n': return literal(s, qp, "null", 4);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return number(s, qp);
	default:
		return fail(s, *qp, "expected a value");
	}
}

/* Does the key whose body is [k, kend) name the text field? */
static int key_is(scan *s, const char *k, const char *kend, const char *field,
		  size_t flen)
{
	if (!memchr(k, '\\', (size_t)(kend - k)))
		return (size_t)(kend - k) == flen && memcmp(k, field, flen) == 0;
	dsv_buf *b = &s->p->key;
	b->len = 0;
	if (dsv_buf_grow(b, (size_t)(kend - k) + 16))
		return -1;
	char *o = b->buf;
	style st;
	string_body(s, k, &o, &st); /* already validated */
	return (size_t)(o - b->buf) == flen && memcmp(b->buf, field, flen) == 0;
}

/* Decides the layout flags from what the text's escapes showed; `t` and `tn`
 * are the decoded text. */
static uint32_t style_flags(const style *st, const char *t, size_t tn)
{
	uint32_t f = 0;
	int nc = st->noncanon;
	if (st->esc_nonascii) {
		f |= DSV_LAYOUT_ASCII;
		if (st->raw_nonascii)
			nc = 1;
		else if (st->esc_del) {
			size_t dels = 0;
			for (const char *c = t; (c = memchr(c, 0x7F,
				(size_t)(t + tn - c))); c++)
				dels++;
			nc |= dels != st->esc_del;
		} else if (memchr(t, 0x7F, tn)) {
			nc = 1; /* a raw DEL where this style escapes it */
		}
	}
	if (st->esc_slash) {
		f |= DSV_LAYOUT_SLASH;
		size_t n = 0;
		for (const char *c = t; (c = memchr(c, '/',
			(size_t)(t + tn - c))); c++)
			n++;
		nc |= n != st->esc_slash;
	}
	return nc ? f | DSV_LAYOUT_NONCANON : f;
}

/* The top-level object: like object(), also finds and decodes the text. */
static int top(scan *s, const char *line, const char *q, const char *field,
	       size_t flen, const char **endp, const char **tendp)
{
	dsv_jsonl_parser *p = s->p;
	const char *tstart = NULL, *tend = NULL;
	style st = {0};
	q = ws(q + 1);
	int rc = *q == '}';
	while (!rc) {
		const char *k = q + 1, *kend;
		if (key(s, &q, &kend))
			return DSV_EINVAL;
		int is = key_is(s, k, kend, field, flen);
		if (is < 0)
			return DSV_ENOMEM;
		if (is) {
			if (tstart)
				return fail(s, k - 1, "duplicate text field");
			if (*q != '"')
				return fail(s, q, "text field is not a string");
			char *o = p->text.buf;
			tstart = q + 1;
			tend = string_body(s, tstart, &o, &st);
			if (!tend)
				return DSV_EINVAL;
			p->text.len = (size_t)(o - p->text.buf);
			q = tend + 1;
		} else if (value(s, &q, 2)) {
			return DSV_EINVAL;
		}
		rc = separator(s, &q, '}');
	}
	if (rc < 0)
		return rc;
	*endp = ws(q + 1);
	if (!tstart)
		return fail(s, line, dsv_jsonl_no_field);
	size_t off = (size_t)(tstart - line);
	if (off > OFF_MASK)
		return fail(s, tstart, "text field starts over 256 MiB into the line");
	p->layout = (uint32_t)off |
		    style_flags(&st, p->text.buf, p->text.len);
	*tendp = tend;
	return 0;
}

int dsv_jsonl_parse(dsv_jsonl_parser *p, const char *line, size_t len,
		    const char *field, size_t flen)
{
	scan s = {line, line + len, p, NULL, NULL};
	const char *q = ws(line), *end = NULL, *tend = NULL;
	p->err = NULL;
	p->err_col = 0;
	if (q == line + len)
		return 0;
	/* decoded text and meta are never longer than the line */
	p->text.len = p->meta.len = 0;
	if (dsv_buf_grow(&p->text, len + 16) || dsv_buf_grow(&p->meta, len + 16))
		return DSV_ENOMEM;
	if (*q != '{') {
		/* an editor shows no BOM: say what stands before the '{' */
		fail(&s, q, line + len - q >= 3 && !memcmp(q, "\xef\xbb\xbf", 3)
				    ? "byte order mark (U+FEFF): JSONL has none"
				    : "expected '{'");
		goto bad;
	}
	int rc = top(&s, line, q, field, flen, &end, &tend);
	if (rc == DSV_ENOMEM)
		return rc;
	if (rc)
		goto bad;
	if (end != line + len) {
		fail(&s, end, "expected end of line after the object");
		goto bad;
	}
	/* meta: the line with the text's value emptied */
	size_t off = p->layout & OFF_MASK;
	memcpy(p->meta.buf, line, off);
	memcpy(p->meta.buf + off, tend, (size_t)(line + len - tend));
	p->meta.len = off + (size_t)(line + len - tend);
	return 1;
bad:
	p->err = s.err;
	p->err_col = (size_t)(s.errp - line);
	return DSV_EINVAL;
}

void dsv_jsonl_parser_free(dsv_jsonl_parser *p)
{
	dsv_buf_free(&p->text);
	dsv_buf_free(&p->meta);
	dsv_buf_free(&p->key);
}

/* ---- the writer --------------------------------------------------------------- */

static const char hexd[] = "0123456789abcdef";

static inline char *put_u(char *o, unsigned v)
{
	o[0] = '\\';
	o[1] = 'u';
	o[2] = hexd[v >> 12 & 15];
	o[3] = hexd[v >> 8 & 15];
	o[4] = hexd[v >> 4 & 15];
	o[5] = hexd[v & 15];
	return o + 6;
}

/* Where fewer than 32 bytes are left at *o (a 16-byte block or the longest
 * escape, 12 bytes): grows out by `left` bytes of text more and those 32,
 * *o and *oend following its buffer. */
static inline int grow(dsv_buf *out, char **o, char **oend, size_t left)
{
	out->len = (size_t)(*o - out->buf);
	if (dsv_buf_grow(out, left + 32))
		return DSV_ENOMEM;
	*o = out->buf + out->len;
	*oend = out->buf + out->cap;
	return 0;
}

/* Escapes t[0..n) onto out in the style `flags` names (docs/records.md). */
static int escape_text(dsv_buf *out, const char *t, size_t n, uint32_t flags)
{
	const int ascii = !!(flags & DSV_LAYOUT_ASCII);
	const int slash = !!(flags & DSV_LAYOUT_SLASH);
	size_t i = 0;
	/* room for a 16-byte block or the longest escape (12 bytes) */
	if (dsv_buf_grow(out, n + 32))
		return DSV_ENOMEM;
	char *o = out->buf + out->len;
	char *oend = out->buf + out->cap;
	for (;;) {
#ifdef __SSE2__
		const __m128i dq = _mm_set1_epi8('"');
		const __m128i bs = _mm_set1_epi8('\\');
		const __m128i sl = _mm_set1_epi8(slash ? '/' : '"');
		const __m128i sp = _mm_set1_epi8(0x20);
		const __m128i c1f = _mm_set1_epi8(0x1F);
		const __m128i del = _mm_set1_epi8(0x7F);
		while (i + 16 <= n) {
			if (oend - o < 32 && grow(out, &o, &oend, n - i))
				return DSV_ENOMEM;
			__m128i x = _mm_loadu_si128((const __m128i *)(t + i));
			_mm_storeu_si128((__m128i *)o, x);
			__m128i m = _mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(x, dq),
					     _mm_cmpeq_epi8(x, bs)),
				_mm_cmpeq_epi8(x, sl));
			if (ascii)
				m = _mm_or_si128(
					m, _mm_or_si128(_mm_cmplt_epi8(x, sp),
							_mm_cmpeq_epi8(x, del)));
			else
				m = _mm_or_si128(
					m, _mm_cmpeq_epi8(_mm_min_epu8(x, c1f),
							  x));
			int bits = _mm_movemask_epi8(m);
			if (bits) {
				int k = __builtin_ctz((unsigned)bits);
				i += (size_t)k;
				o += k;
				break;
			}
			i += 16;
			o += 16;
		}
#endif
		/* scalar: up to the next byte to escape */
		for (; i < n; i++) {
			unsigned char c = (unsigned char)t[i];
			if (c < 0x20 || c == '"' || c == '\\' ||
			    (slash && c == '/') || (ascii && c >= 0x7F))
				break;
			if (o == oend)
				break;
			*o++ = (char)c;
		}
		if (i >= n)
			break;
		if (oend - o < 32 && grow(out, &o, &oend, n - i))
			return DSV_ENOMEM;
		unsigned char c = (unsigned char)t[i];
		if (c < 0x20 || c == '"' || c == '\\' || (slash && c == '/') ||
		    (ascii && c >= 0x7F)) {
			switch (c) {
			case '"': o[0] = '\\'; o[1] = '"'; o += 2; break;
			case '\\': o[0] = '\\'; o[1] = '\\'; o += 2; break;
			case '/': o[0] = '\\'; o[1] = '/'; o += 2; break;
			case '\b': o[0] = '\\'; o[1] = 'b'; o += 2; break;
			case '\f': o[0] = '\\'; o[1] = 'f'; o += 2; break;
			case '\n': o[0] = '\\'; o[1] = 'n'; o += 2; break;
			case '\r': o[0] = '\\'; o[1] = 'r'; o += 2; break;
			case '\t': o[0] = '\\'; o[1] = 't'; o += 2; break;
			default:
				if (c < 0x80) {
					o = put_u(o, c);
					break;
				}
				size_t k = utf8_seq((const unsigned char *)t + i,
						    n - i);
				if (!k)
					return dsv_error_set(DSV_ECORRUPT,
						"record text is not valid UTF-8");
				unsigned cp;
				if (k == 2)
					cp = (c & 0x1Fu) << 6 | (t[i + 1] & 0x3Fu);
				else if (k == 3)
					cp = (c & 0x0Fu) << 12 |
					     (t[i + 1] & 0x3Fu) << 6 |
					     (t[i + 2] & 0x3Fu);
				else
					cp = (c & 0x07u) << 18 |
					     (t[i + 1] & 0x3Fu) << 12 |
					     (t[i + 2] & 0x3Fu) << 6 |
					     (t[i + 3] & 0x3Fu);
				if (cp >= 0x10000) {
					cp -= 0x10000;
					o = put_u(o, 0xD800 + (cp >> 10));
					o = put_u(o, 0xDC00 + (cp & 0x3FF));
				} else {
					o = put_u(o, cp);
				}
				i += k - 1;
			}
			i++;
		}
	}
	out->len = (size_t)(o - out->buf);
	return 0;
}

int dsv_jsonl_format(dsv_buf *out, const char *text, size_t tlen,
		     const char *meta, size_t mlen, uint32_t layout)
{
	int rc;
	if (layout & DSV_LAYOUT_PLAIN) {
		if ((rc = dsv_buf_append(out, "{\"text\":\"", 9)) ||
		    (rc = escape_text(out, text, tlen, 0)) ||
		    (rc = dsv_buf_append(out, "\"}\n", 3)))
			return rc;
		return 0;
	}
	size_t off = layout & OFF_MASK;
	if (off > mlen || off == 0 || meta[off - 1] != '"' ||
	    off >= mlen || meta[off] != '"')
		return dsv_error_set(DSV_ECORRUPT,
				     "layout offset %zu does not point into "
				     "the meta's text placeholder", off);
	if ((rc = dsv_buf_grow(out, mlen + tlen + 1)))
		return rc;
	memcpy(out->buf + out->len, meta, off);
	out->len += off;
	if ((rc = escape_text(out, text, tlen, layout)) ||
	    (rc = dsv_buf_append(out, meta + off, mlen - off)) ||
	    (rc = dsv_buf_append(out, "\n", 1)))
		return rc;
	return 0;
}

/* ---- meta without the text member ------------------------------------------- */

static size_t skip_ws(const char *m, size_t i, size_t n)
{
	while (i < n && (m[i] == ' ' || m[i] == '\t' || m[i] == '\r' ||
			 m[i] == '\n'))
		i++;
	return i;
}

/* End of the JSON value at m[i] (a light skip: meta was validated at ingest;
 * on damaged meta it stops at the end instead of overrunning). */
static size_t skip_value(const char *m, size_t i, size_t n)
{
	int depth = 0, in_str = 0;
	for (; i < n; i++) {
		char c = m[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = 0;
				if (!depth)
					return i + 1;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (!depth)
				return i;
			if (!--depth)
				return i + 1;
		} else if (!depth && (c == ',' || c == ' ' || c == '\t' ||
				      c == '\r' || c == '\n')) {
			return i;
		}
	}
	return n;
}

int dsv_jsonl_meta(dsv_buf *out, const char *meta, size_t mlen,
		   uint32_t layout)
{
	if (layout & DSV_LAYOUT_PLAIN || mlen == 0)
		return dsv_buf_append(out, "{}", 2);
	size_t off = layout & OFF_MASK;
	size_t i = skip_ws(meta, 0, mlen), end = mlen;
	while (end > i && (meta[end - 1] == ' ' || meta[end - 1] == '\t' ||
			   meta[end - 1] == '\r' || meta[end - 1] == '\n'))
		end--;
	if (i >= end || meta[i] != '{' || off <= i || off >= end)
		return dsv_error_set(DSV_ECORRUPT, "meta is not a JSON object "
				     "with a text placeholder");
	/* walk the top-level members to the one whose value starts at off-1 */
	size_t prev_end = i + 1; /* end of the previous member (or the '{') */
	size_t j = skip_ws(meta, i + 1, end);
	int first = 1;
	while (j < end && meta[j] == '"') {
		size_t kstart = j;
		j = skip_value(meta, j, end);            /* the key */
		j = skip_ws(meta, j, end);
		if (j < end && meta[j] == ':')
			j = skip_ws(meta, j + 1, end);
		size_t vstart = j;
		j = skip_value(meta, j, end);
		size_t vend = j;
		j = skip_ws(meta, j, end);
		if (vstart + 1 == off) {
			size_t cut0, cut1;
			if (!first) {
				cut0 = prev_end;  /* drop ", key: """ */
				cut1 = vend;
			} else if (j < end && meta[j] == ',') {
				cut0 = kstart;    /* drop "key: "", " */
				cut1 = skip_ws(meta, j + 1, end);
			} else {
				cut0 = i + 1;     /* the only member: "{}" */
				cut1 = end - 1;
			}
			int rc;
			if ((rc = dsv_buf_append(out, meta + i, cut0 - i)) ||
			    (rc = dsv_buf_append(out, meta + cut1, end - cut1)))
				return rc;
			return 0;
		}
		first = 0;
		prev_end = vend;
		if (j < end && meta[j] == ',')
			j = skip_ws(meta, j + 1, end);
		else
			break;
	}
	return dsv_error_set(DSV_ECORRUPT, "meta has no text placeholder at "
			     "offset %zu", off);
}
