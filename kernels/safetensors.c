/* safetensors.c: writer and bounds-checked reader of the safetensors format
 * with a minimal JSON header writer and parser of its own (kernels/ stays
 * libc-only). The parser accepts exactly the JSON a safetensors header can
 * hold: one object whose values are tensor objects or "__metadata__".
 */
#include "kernels/safetensors.h"
#include "kernels/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[DSV_ST_NDTYPES] = {
	{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8},
	{"I32", 4}, {"I16", 2}, {"I8", 1},   {"U8", 1},  {"BOOL", 1},
};

const char *dsv_st_dtype_name(dsv_st_dtype t)
{
	return (unsigned)t < DSV_ST_NDTYPES ? dtypes[t].name : NULL;
}

size_t dsv_st_dtype_size(dsv_st_dtype t)
{
	return (unsigned)t < DSV_ST_NDTYPES ? dtypes[t].size : 0;
}

uint64_t dsv_st_nbytes(const dsv_st_tensor *t)
{
	uint64_t n = dsv_st_dtype_size(t->dtype);
	for (int i = 0; i < t->ndim; i++) {
		if (t->shape[i] && n > UINT64_MAX / t->shape[i])
			return 0;
		n *= t->shape[i];
	}
	return n;
}

/* ---- writer ---- */

typedef struct {
	char *p;
	size_t len, cap;
	int fail;
} sbuf;

static void put(sbuf *b, const void *s, size_t n)
{
	if (b->fail)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->fail = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_json_string(sbuf *b, const char *s)
{
	char esc[8];
	put(b, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c;
			put(b, esc, 2);
		} else if (*c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *c);
			put(b, esc, 6);
		} else {
			put(b, c, 1);
		}
	}
	put(b, "\"", 1);
}

int dsv_st_write(uint8_t **out, size_t *len, const dsv_st_tensor *t, size_t n,
		 const char *const *meta, size_t nmeta)
{
	sbuf h = {0};
	char num[64];
	uint64_t off = 0;
	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		if (!dsv_st_dtype_name(t[i].dtype) || t[i].ndim < 0 ||
		    t[i].ndim > DSV_ST_MAX_DIMS ||
		    strcmp(t[i].name, "__metadata__") == 0)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "safetensors: "
						"bad tensor '%s'", t[i].name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t[i].name, t[j].name) == 0)
				return dsv_kernel_error(DSV_KERNEL_EINVAL,
							"safetensors: tensor "
							"'%s' twice", t[i].name);
	}
	puts_(&h, "{");
	if (nmeta) {
		puts_(&h, "\"__metadata__\":{");
		for (size_t i = 0; i < nmeta; i++) {
			if (i)
				puts_(&h, ",");
			put_json_string(&h, meta[2 * i]);
			puts_(&h, ":");
			put_json_string(&h, meta[2 * i + 1]);
		}
		puts_(&h, "}");
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t nb = dsv_st_nbytes(&t[i]);
		if (i || nmeta)
			puts_(&h, ",");
		put_json_string(&h, t[i].name);
		puts_(&h, ":{\"dtype\":\"");
		puts_(&h, dsv_st_dtype_name(t[i].dtype));
		puts_(&h, "\",\"shape\":[");
		for (int d = 0; d < t[i].ndim; d++) {
			snprintf(num, sizeof num, "%s%llu", d ? "," : "",
				 (unsigned long long)t[i].shape[d]);
			puts_(&h, num);
		}
		snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}",
			 (unsigned long long)off,
			 (unsigned long long)(off + nb));
		puts_(&h, num);
		off += nb;
	}
	puts_(&h, "}");
	while (!h.fail && h.len % 8)
		puts_(&h, " ");
	if (h.fail) {
		free(h.p);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "safetensors: out of "
					"memory");
	}
	size_t total = 8 + h.len + (size_t)off;
	uint8_t *buf = malloc(total ? total : 1);
	if (!buf) {
		free(h.p);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "safetensors: cannot "
					"allocate %zu bytes", total);
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
	memcpy(buf + 8, h.p, h.len);
	uint8_t *d = buf + 8 + h.len;
	for (size_t i = 0; i < n; i++) {
		uint64_t nb = dsv_st_nbytes(&t[i]);
		if (nb)
			memcpy(d, t[i].data, (size_t)nb);
		d += nb;
	}
	free(h.p);
	*out = buf;
	*len = total;
	return 0;
}

/* ---- reader ---- */

typedef struct {
	const char *p, *end;
	const char *err;
} lex;

static void ws(lex *x)
{
	while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' ||
				 *x->p == '\n' || *x->p == '\r'))
		x->p++;
}

static int expect(lex *x, char c)
{
	ws(x);
	if (x->p >= x->end || *x->p != c) {
		x->err = "unexpected character";
		return -1;
	}
	x->p++;
	return 0;
}

static int peek(lex *x, char c)
{
	ws(x);
	return x->p < x->end && *x->p == c;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void utf8(sbuf *b, unsigned cp)
{
	char u[4];
	if (cp < 0x80) {
		u[0] = (char)cp;
		put(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		put(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		put(b, u, 4);
	}
}

/* A JSON string into a malloc'd NUL-terminated one; embedded NULs are
 * refused (names and metadata are C strings here). */
static char *jstring(lex *x)
{
	sbuf b = {0};
	if (expect(x, '"'))
		return NULL;
	put(&b, "", 0);
	while (x->p < x->end && *x->p != '"') {
		unsigned char c = (unsigned char)*x->p;
		if (c < 0x20) {
			x->err = "control character in a string";
			goto fail;
		}
		if (c != '\\') {
			put(&b, x->p++, 1);
			continue;
		}
		if (x->end - x->p < 2) {
			x->err = "string ends early";
			goto fail;
		}
		char e = x->p[1];
		x->p += 2;
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			put(&b, &map[simple - "\"\\/bfnrt"], 1);
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || x->end - x->p < 4 || hex4(x->p, &cp)) {
			x->err = "bad escape in a string";
			goto fail;
		}
		x->p += 4;
		if (cp >= 0xD800 && cp < 0xDC00) {
			if (x->end - x->p < 6 || x->p[0] != '\\' ||
			    x->p[1] != 'u' || hex4(x->p + 2, &lo) ||
			    lo < 0xDC00 || lo > 0xDFFF) {
				x->err = "unpaired surrogate in a string";
				goto fail;
			}
			x->p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			x->err = "unpaired surrogate in a string";
			goto fail;
		}
		if (cp == 0) {
			x->err = "NUL in a string";
			goto fail;
		}
		utf8(&b, cp);
	}
	if (x->p >= x->end) {
		x->err = "string ends early";
		goto fail;
	}
	x->p++;
	if (b.fail) {
		x->err = "out of memory";
		goto fail;
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

/* A non-negative integer without sign, fraction or exponent. */
static int juint(lex *x, uint64_t *out)
{
	uint64_t v = 0;
	ws(x);
	const char *s = x->p;
	while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
		unsigned d = (unsigned)(*x->p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			x->err = "integer too large";
			return -1;
		}
		v = v * 10 + d;
		x->p++;
	}
	if (x->p == s || (x->p - s > 1 && *s == '0')) {
		x->err = "expected a non-negative integer";
		return -1;
	}
	*out = v;
	return 0;
}

static int juint_array(lex *x, uint64_t *v, int max, int *n)
{
	*n = 0;
	if (expect(x, '['))
		return -1;
	if (peek(x, ']'))
		return expect(x, ']');
	for (;;) {
		if (*n >= max) {
			x->err = "array too long";
			return -1;
		}
		if (juint(x, &v[(*n)++]))
			return -1;
		if (peek(x, ']'))
			return expect(x, ']');
		if (expect(x, ','))
			return -1;
	}
}

static int parse_tensor(lex *x, dsv_st_tensor *t)
{
	int have = 0, n;
	uint64_t off[2];
	if (expect(x, '{'))
		return -1;
	for (;;) {
		char *key = jstring(x);
		if (!key || expect(x, ':')) {
			free(key);
			return -1;
		}
		int bit = strcmp(key, "dtype") == 0 ? 1
			  : strcmp(key, "shape") == 0 ? 2
			  : strcmp(key, "data_offsets") == 0 ? 4 : 0;
		free(key);
		if (!bit || (have & bit)) {
			x->err = bit ? "repeated tensor field"
				     : "unknown tensor field";
			return -1;
		}
		have |= bit;
		if (bit == 1) {
			char *d = jstring(x);
			if (!d)
				return -1;
			t->dtype = DSV_ST_NDTYPES;
			for (int i = 0; i < DSV_ST_NDTYPES; i++)
				if (strcmp(d, dtypes[i].name) == 0)
					t->dtype = (dsv_st_dtype)i;
			free(d);
			if (t->dtype == DSV_ST_NDTYPES) {
				x->err = "unknown dtype";
				return -1;
			}
		} else if (bit == 2) {
			if (juint_array(x, t->shape, DSV_ST_MAX_DIMS, &t->ndim))
				return -1;
		} else {
			if (juint_array(x, off, 2, &n))
				return -1;
			if (n != 2) {
				x->err = "data_offsets needs two numbers";
				return -1;
			}
			t->begin = off[0];
			t->end = off[1];
		}
		if (peek(x, '}'))
			break;
		if (expect(x, ','))
			return -1;
	}
	if (have != 7) {
		x->err = "tensor lacks dtype, shape or data_offsets";
		return -1;
	}
	return expect(x, '}');
}

static int parse_meta(lex *x, dsv_st_file *f)
{
	size_t cap = 0;
	if (expect(x, '{'))
		return -1;
	if (peek(x, '}'))
		return expect(x, '}');
	for (;;) {
		if (2 * f->nmeta + 2 > cap) {
			cap = cap ? 2 * cap : 16;
			char **m = realloc(f->meta, cap * sizeof *m);
			if (!m) {
				x->err = "out of memory";
				return -1;
			}
			f->meta = m;
		}
		char *k = jstring(x);
		if (!k)
			return -1;
		f->meta[2 * f->nmeta] = k;
		f->meta[2 * f->nmeta + 1] = NULL;
		f->nmeta++;
		char *v = NULL;
		if (expect(x, ':') || !(v = jstring(x)))
			return -1;
		f->meta[2 * f->nmeta - 1] = v;
		if (peek(x, '}'))
			return expect(x, '}');
		if (expect(x, ','))
			return -1;
	}
}

static int cmp_begin(const void *a, const void *b)
{
	const dsv_st_tensor *x = *(const dsv_st_tensor *const *)a;
	const dsv_st_tensor *y = *(const dsv_st_tensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end; /* empty ones first */
}

static int cmp_name(const void *a, const void *b)
{
	const dsv_st_tensor *x = *(const dsv_st_tensor *const *)a;
	const dsv_st_tensor *y = *(const dsv_st_tensor *const *)b;
	return strcmp(x->name, y->name);
}

/* Every tensor's size matches its shape; sorted by begin they tile the data
 * section exactly; names are unique. */
static const char *check_layout(dsv_st_file *f)
{
	const char *err = NULL;
	dsv_st_tensor **v = malloc((f->ntensors ? f->ntensors : 1) * sizeof *v);
	if (!v)
		return "out of memory";
	for (size_t i = 0; i < f->ntensors; i++) {
		dsv_st_tensor *t = &f->tensors[i];
		v[i] = t;
		uint64_t nb = dsv_st_dtype_size(t->dtype);
		for (int d = 0; d < t->ndim; d++) {
			if (t->shape[d] && nb > UINT64_MAX / t->shape[d]) {
				err = "tensor too large";
				goto done;
			}
			nb *= t->shape[d];
		}
		if (t->end < t->begin || t->end > f->data_len ||
		    t->end - t->begin != nb) {
			err = "tensor size does not match its shape and offsets";
			goto done;
		}
		t->data = f->data + t->begin;
	}
	qsort(v, f->ntensors, sizeof *v, cmp_name);
	for (size_t i = 1; i < f->ntensors; i++)
		if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
			err = "tensor name repeated";
			goto done;
		}
	qsort(v, f->ntensors, sizeof *v, cmp_begin);
	uint64_t at = 0;
	for (size_t i = 0; i < f->ntensors; i++) {
		if (v[i]->begin != at) {
			err = "tensors overlap or leave a hole in the data";
			goto done;
		}
		at = v[i]->end;
	}
	if (at != f->data_len)
		err = "data section longer than its tensors";
done:
	free(v);
	return err;
}

int dsv_st_parse(dsv_st_file **out, const uint8_t *buf, size_t len)
{
	dsv_st_file *f = NULL;
	size_t cap = 0;
	int meta_seen = 0;
	*out = NULL;
	if (len < 8)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "safetensors: %zu "
					"bytes, too short for a header", len);
	uint64_t hlen = 0;
	for (int i = 0; i < 8; i++)
		hlen |= (uint64_t)buf[i] << (8 * i);
	if (hlen > len - 8 || hlen > DSV_ST_MAX_HEADER || hlen < 2)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "safetensors: header "
					"length %llu does not fit the %zu bytes",
					(unsigned long long)hlen, len);
	f = calloc(1, sizeof *f);
	if (!f)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	f->data = buf + 8 + hlen;
	f->data_len = len - 8 - hlen;
	lex x = {(const char *)buf + 8, (const char *)buf + 8 + hlen, NULL};
	if (expect(&x, '{'))
		goto fail;
	if (peek(&x, '}')) {
		expect(&x, '}');
	} else {
		for (;;) {
			char *name = jstring(&x);
			if (!name || expect(&x, ':')) {
				free(name);
				goto fail;
			}
			if (strcmp(name, "__metadata__") == 0) {
				free(name);
				if (meta_seen++) {
					x.err = "__metadata__ twice";
					goto fail;
				}
				if (parse_meta(&x, f))
					goto fail;
			} else {
				if (strlen(name) >= DSV_ST_NAME_MAX) {
					free(name);
					x.err = "tensor name too long";
					goto fail;
				}
				if (f->ntensors == cap) {
					cap = cap ? 2 * cap : 64;
					dsv_st_tensor *t = realloc(
						f->tensors, cap * sizeof *t);
					if (!t) {
						free(name);
						x.err = "out of memory";
						goto fail;
					}
					f->tensors = t;
				}
				dsv_st_tensor *t = &f->tensors[f->ntensors++];
				memset(t, 0, sizeof *t);
				strcpy(t->name, name);
				free(name);
				if (parse_tensor(&x, t))
					goto fail;
			}
			if (peek(&x, '}')) {
				expect(&x, '}');
				break;
			}
			if (expect(&x, ','))
				goto fail;
		}
	}
	ws(&x);
	if (x.p != x.end) {
		x.err = "bytes after the header object";
		goto fail;
	}
	if ((x.err = check_layout(f)))
		goto fail;
	*out = f;
	return 0;
fail:;
	size_t at = (size_t)(x.p - (const char *)buf - 8);
	int rc = dsv_kernel_error(DSV_KERNEL_EINVAL, "safetensors: header byte "
				  "%zu: %s", at, x.err ? x.err : "malformed");
	dsv_st_free(f);
	return rc;
}

void dsv_st_free(dsv_st_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < 2 * f->nmeta; i++)
		free(f->meta[i]);
	free(f->meta);
	free(f->tensors);
	free(f);
}

const dsv_st_tensor *dsv_st_find(const dsv_st_file *f, const char *name)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

const char *dsv_st_meta(const dsv_st_file *f, const char *key)
{
	for (size_t i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[2 * i], key) == 0)
			return f->meta[2 * i + 1];
	return NULL;
}
