/* reader.c: streams records out of JSONL and plain-text inputs, plain or
 * compressed (gzip, also multi-member and zero-padded, and zstd, chosen by
 * the first bytes).
 *
 * Input is read in DSV_READ_BLOCK blocks into one buffer that holds at least
 * the current line; lines are cut at '\n' only and handed to the JSONL
 * scanner (store/jsonl.c) in place, so memory is bounded by the longest line.
 */
#include "jsonl_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define DSV_READ_BLOCK (4u << 20)
#define MAX_BAD_MSGS 10

enum { COMP_NONE, COMP_GZIP, COMP_ZSTD };

struct dsv_reader {
	char *name;               /* for messages */
	int fd;                   /* -1 for memory input */
	int own_fd;
	const unsigned char *mem; /* memory input */
	size_t mem_len, mem_pos;
	uint64_t bytes_in;
	size_t block;             /* read size: DSV_READ_BLOCK, less for memory */

	int comp;
	z_stream zs;
	int zs_live, gz_member_done;
	ZSTD_DStream *zd;
	size_t zd_hint;           /* last ZSTD_decompressStream result */
	unsigned char *in;        /* compressed input: [in_pos, in_len) */
	size_t in_pos, in_len;
	int raw_eof;

	char *buf;                /* decompressed: [pos, len) unread */
	size_t cap, pos, len, scanned;
	int eof;
	uint64_t lineno;          /* lines handed out so far */

	int text, text_mode, skip_bad;
	char *field;
	size_t flen;
	dsv_jsonl_parser jp;
	dsv_buf para;             /* a paragraph being joined */

	uint64_t nbad;
	size_t nmsgs;
	char *msgs[MAX_BAD_MSGS];
};

/* ---- raw input ------------------------------------------------------------- */

static int raw_read(dsv_reader *r, void *dst, size_t n, size_t *got)
{
	if (r->fd < 0) {
		size_t k = r->mem_len - r->mem_pos;
		if (k > n)
			k = n;
		memcpy(dst, r->mem + r->mem_pos, k);
		r->mem_pos += k;
		*got = k;
	} else {
		ssize_t k;
		do
			k = read(r->fd, dst, n);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			return dsv_error_set(DSV_EIO, "cannot read '%s': %s",
					     r->name, strerror(errno));
		*got = (size_t)k;
	}
	r->bytes_in += *got;
	if (*got == 0)
		r->raw_eof = 1;
	return 0;
}

/* Refills the compressed-input buffer when it is empty. */
static int in_fill(dsv_reader *r)
{
	if (r->in_pos < r->in_len || r->raw_eof)
		return 0;
	r->in_pos = 0;
	r->in_len = 0;
	return raw_read(r, r->in, r->block, &r->in_len);
}

/* ---- decompression ----------------------------------------------------------- */

/* Skips the zero bytes that pad the last gzip member to a tape or disk
 * block, up to the end of input (gzip: "trailing zero bytes ignored");
 * another byte among them is an error: gzip would not read a member after
 * them either. */
static int gz_skip_padding(dsv_reader *r)
{
	for (;;) {
		int rc = in_fill(r);
		if (rc)
			return rc;
		if (r->in_pos == r->in_len)
			return 0;
		while (r->in_pos < r->in_len && !r->in[r->in_pos])
			r->in_pos++;
		if (r->in_pos < r->in_len) {
			uint64_t at = r->bytes_in - (r->in_len - r->in_pos);
			return dsv_error_set(DSV_ECORRUPT, "'%s': corrupt gzip "
					     "data: a non-zero byte at offset "
					     "%llu in the zero padding after "
					     "the last member", r->name,
					     (unsigned long long)at);
		}
	}
}

/* Appends up to n decompressed bytes at dst; *got 0 means end of input. */
static int gz_read(dsv_reader *r, char *dst, size_t n, size_t *got)
{
	*got = 0;
	while (*got == 0) {
		int rc = in_fill(r);
		if (rc)
			return rc;
		if (r->in_pos == r->in_len) {
			if (r->gz_member_done)
				return 0;
			return dsv_error_set(DSV_ECORRUPT,
					     "'%s': truncated gzip data", r->name);
		}
		if (r->gz_member_done && r->in[r->in_pos] == 0)
			return gz_skip_padding(r);
		if (r->gz_member_done) {
			/* another member follows (multi-member gzip) */
			if (inflateReset(&r->zs) != Z_OK)
				return dsv_error_set(DSV_ECORRUPT,
						     "'%s': gzip reset failed",
						     r->name);
			r->gz_member_done = 0;
		}
		r->zs.next_in = r->in + r->in_pos;
		r->zs.avail_in = (uInt)(r->in_len - r->in_pos);
		r->zs.next_out = (unsigned char *)dst;
		r->zs.avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
		int zr = inflate(&r->zs, Z_NO_FLUSH);
		r->in_pos = r->in_len - r->zs.avail_in;
		*got = (size_t)((char *)r->zs.next_out - dst);
		if (zr == Z_STREAM_END)
			r->gz_member_done = 1;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return dsv_error_set(DSV_ECORRUPT, "'%s': corrupt gzip "
					     "data: %s", r->name,
					     r->zs.msg ? r->zs.msg : zError(zr));
	}
	return 0;
}

static int zstd_read(dsv_reader *r, char *dst, size_t n, size_t *got)
{
	*got = 0;
	while (*got == 0) {
		int rc = in_fill(r);
		if (rc)
			return rc;
		if (r->in_pos == r->in_len) {
			if (r->zd_hint == 0)
				return 0;
			return dsv_error_set(DSV_ECORRUPT,
					     "'%s': truncated zstd data", r->name);
		}
		ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
		ZSTD_outBuffer ob = {dst, n, 0};
		size_t zr = ZSTD_decompressStream(r->zd, &ob, &ib);
		/* zstd's default window limit is kept: it bounds the memory a
		 * frame header can ask for */
		if (ZSTD_getErrorCode(zr) ==
		    ZSTD_error_frameParameter_windowTooLarge)
			return dsv_error_set(DSV_EINVAL, "'%s': zstd window over "
					     "128 MiB (compressed with --long=28 "
					     "or more): pipe 'zstd -dc --long=31' "
					     "into 'dsv commit -'", r->name);
		if (ZSTD_isError(zr))
			return dsv_error_set(DSV_ECORRUPT, "'%s': corrupt zstd "
					     "data: %s", r->name,
					     ZSTD_getErrorName(zr));
		r->zd_hint = zr;
		r->in_pos = ib.pos;
		*got = ob.pos;
	}
	return 0;
}

/* Reads up to n decompressed bytes into dst. */
static int src_read(dsv_reader *r, char *dst, size_t n, size_t *got)
{
	if (r->comp == COMP_GZIP)
		return gz_read(r, dst, n, got);
	if (r->comp == COMP_ZSTD)
		return zstd_read(r, dst, n, got);
	/* bytes sniffed into r->in first, then straight into the buffer */
	if (r->in_pos < r->in_len) {
		size_t k = r->in_len - r->in_pos;
		if (k > n)
			k = n;
		memcpy(dst, r->in + r->in_pos, k);
		r->in_pos += k;
		*got = k;
		return 0;
	}
	if (r->raw_eof) {
		*got = 0;
		return 0;
	}
	return raw_read(r, dst, n, got);
}

/* Picks the decompressor from the input's first bytes. */
static int sniff(dsv_reader *r)
{
	int rc;
	while (r->in_len < 4 && !r->raw_eof) {
		size_t got;
		if ((rc = raw_read(r, r->in + r->in_len, r->block - r->in_len,
				   &got)))
			return rc;
		r->in_len += got;
	}
	const unsigned char *b = r->in;
	uint32_t magic = r->in_len < 4 ? 0 : (uint32_t)b[0] | (uint32_t)b[1] << 8 |
					     (uint32_t)b[2] << 16 |
					     (uint32_t)b[3] << 24;
	if (r->in_len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		r->comp = COMP_GZIP;
		if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
			return dsv_error_set(DSV_ENOMEM, "cannot start inflate");
		r->zs_live = 1;
	} else if (magic == ZSTD_MAGICNUMBER ||
		   /* pzstd starts its files with a skippable frame */
		   (magic & ZSTD_MAGIC_SKIPPABLE_MASK) ==
			   ZSTD_MAGIC_SKIPPABLE_START) {
		r->comp = COMP_ZSTD;
		if (!(r->zd = ZSTD_createDStream()))
			return dsv_error_set(DSV_ENOMEM, "cannot start zstd");
		r->zd_hint = 1;
	}
	return 0;
}

/* ---- lines ------------------------------------------------------------------- */

/* Next line [*line, *line + *n) without its '\n'; the byte after it is '\n'
 * and DSV_JSONL_PAD bytes after that are readable. 0 at end of input. */
static int next_line(dsv_reader *r, char **line, size_t *n)
{
	for (;;) {
		char *nl = memchr(r->buf + r->scanned, '\n', r->len - r->scanned);
		if (nl) {
			*line = r->buf + r->pos;
			*n = (size_t)(nl - *line);
			r->pos = r->scanned = (size_t)(nl - r->buf) + 1;
			r->lineno++;
			return 1;
		}
		if (r->eof) {
			if (r->pos == r->len)
				return 0;
			*line = r->buf + r->pos;
			*n = r->len - r->pos;
			r->buf[r->len] = '\n'; /* in the pad */
			r->pos = r->scanned = r->len;
			r->lineno++;
			return 1;
		}
		/* keep the partial line, make room, read another block */
		if (r->pos) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->len -= r->pos;
			r->pos = 0;
		}
		r->scanned = r->len;
		if (r->cap - r->len < r->block / 2) {
			size_t cap = r->cap * 2;
			char *b = dsv_realloc(r->buf, cap + DSV_JSONL_PAD);
			if (!b)
				return DSV_ENOMEM;
			r->buf = b;
			r->cap = cap;
		}
		size_t got;
		int rc = src_read(r, r->buf + r->len, r->cap - r->len, &got);
		if (rc)
			return rc;
		if (!got)
			r->eof = 1;
		r->len += got;
		memset(r->buf + r->len, 0, DSV_JSONL_PAD);
	}
}

/* ---- errors -------------------------------------------------------------------- */

/* Reports a bad record: an error, or with skip_bad a count and a kept message
 * (returns 0 then). */
static int bad(dsv_reader *r, uint64_t line, size_t col, const char *what)
{
	int rc = dsv_error_set(DSV_EINVAL, "'%s':%llu:%zu: %s", r->name,
			       (unsigned long long)line, col + 1, what);
	if (!r->skip_bad)
		return rc;
	r->nbad++;
	if (r->nmsgs < MAX_BAD_MSGS) {
		const char *m = dsv_error_last();
		char *c = dsv_malloc(strlen(m) + 1);
		if (!c)
			return DSV_ENOMEM;
		strcpy(c, m);
		r->msgs[r->nmsgs++] = c;
	}
	dsv_error_clear();
	return 0;
}

/* '\n' counts for the file mode, whose one "line" is the whole file. */
static int all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' &&
		    s[i] != '\v' && s[i] != '\n')
			return 0;
	return 1;
}

/* Checks UTF-8 of text lines; 0 when valid (or skipped), else the error. */
static int text_utf8(dsv_reader *r, const char *s, size_t n, uint64_t line,
		     int *ok)
{
	size_t at = dsv_utf8_check(s, n);
	*ok = at == n;
	return *ok ? 0 : bad(r, line, at, "invalid UTF-8");
}

static void plain(dsv_record *rec, const char *t, size_t n, uint64_t line)
{
	rec->text = t;
	rec->text_len = n;
	rec->meta = "";
	rec->meta_len = 0;
	rec->layout = DSV_LAYOUT_PLAIN;
	rec->line = line;
}

/* ---- records ---------------------------------------------------------------- */

static int next_json(dsv_reader *r, dsv_record *rec)
{
	char *line;
	size_t n;
	int rc;
	while ((rc = next_line(r, &line, &n)) == 1) {
		rc = dsv_jsonl_parse(&r->jp, line, n, r->field, r->flen);
		if (rc == 1) {
			rec->text = r->jp.text.buf;
			rec->text_len = r->jp.text.len;
			rec->meta = r->jp.meta.buf;
			rec->meta_len = r->jp.meta.len;
			rec->layout = r->jp.layout;
			rec->line = r->lineno;
			return 1;
		}
		if (rc == 0)
			continue; /* blank line */
		if (rc != DSV_EINVAL)
			return rc;
		const char *what = r->jp.err;
		char msg[160];
		if (what == dsv_jsonl_no_field) {
			snprintf(msg, sizeof msg, "no \"%.64s\" field "
				 "(--text-field names the field that holds "
				 "the text)", r->field);
			what = msg;
		} else if (r->lineno == 1 && r->jp.err_col == 0 &&
			   line[0] == '[') {
			what = "a JSON array: records are read as JSON Lines, "
			       "one object a line (jq -c '.[]' turns the one "
			       "into the other)";
		}
		if ((rc = bad(r, r->lineno, r->jp.err_col, what)))
			return rc;
	}
	return rc;
}

static int next_text_line(dsv_reader *r, dsv_record *rec)
{
	char *line;
	size_t n;
	int rc, ok;
	while ((rc = next_line(r, &line, &n)) == 1) {
		if (n && line[n - 1] == '\r')
			n--;
		if (all_space(line, n))
			continue;
		if ((rc = text_utf8(r, line, n, r->lineno, &ok)))
			return rc;
		if (ok) {
			plain(rec, line, n, r->lineno);
			return 1;
		}
	}
	return rc;
}

static int next_paragraph(dsv_reader *r, dsv_record *rec)
{
	char *line;
	size_t n;
	int rc, ok = 1;
	uint64_t first = 0;
	r->para.len = 0;
	while ((rc = next_line(r, &line, &n)) == 1) {
		if (n && line[n - 1] == '\r')
			n--;
		if (all_space(line, n)) {
			if (first && ok)
				break;
			first = 0;
			ok = 1;
			r->para.len = 0;
			continue;
		}
		if (!first)
			first = r->lineno;
		else if ((rc = dsv_buf_append(&r->para, "\n", 1)))
			return rc;
		int lok;
		if ((rc = text_utf8(r, line, n, r->lineno, &lok)))
			return rc;
		ok &= lok; /* a bad line drops its whole paragraph */
		if ((rc = dsv_buf_append(&r->para, line, n)))
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!first || !ok)
		return 0;
	plain(rec, r->para.buf, r->para.len, first);
	return 1;
}

static int next_file(dsv_reader *r, dsv_record *rec)
{
	char *line;
	size_t n;
	int rc;
	if (r->lineno)
		return 0;
	/* one "line" that is the whole file: read it all first */
	while (!r->eof) {
		if (r->cap - r->len < r->block / 2) {
			char *b = dsv_realloc(r->buf, r->cap * 2 + DSV_JSONL_PAD);
			if (!b)
				return DSV_ENOMEM;
			r->buf = b;
			r->cap *= 2;
		}
		size_t got;
		if ((rc = src_read(r, r->buf + r->len, r->cap - r->len, &got)))
			return rc;
		if (!got)
			r->eof = 1;
		r->len += got;
	}
	line = r->buf;
	n = r->len;
	r->lineno = 1;
	r->pos = r->scanned = r->len;
	if (all_space(line, n) || !n)
		return 0;
	size_t at = dsv_utf8_check(line, n);
	if (at != n) {
		uint64_t ln = 1;
		size_t ls = 0;
		for (size_t i = 0; i < at; i++)
			if (line[i] == '\n') {
				ln++;
				ls = i + 1;
			}
		return bad(r, ln, at - ls, "invalid UTF-8");
	}
	plain(rec, line, n, 1);
	return 1;
}

int dsv_reader_next(dsv_reader *r, dsv_record *rec)
{
	if (!r->text)
		return next_json(r, rec);
	switch (r->text_mode) {
	case DSV_TEXT_LINE: return next_text_line(r, rec);
	case DSV_TEXT_PARAGRAPH: return next_paragraph(r, rec);
	default: return next_file(r, rec);
	}
}

/* ---- open and free ------------------------------------------------------------ */

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && strcmp(s + n - k, suf) == 0;
}

/* 1 for plain text, 0 for JSONL, -1 when the name says neither. */
static int kind_of(const char *name)
{
	size_t n = strlen(name);
	if (ends_with(name, n, ".gz"))
		n -= 3;
	else if (ends_with(name, n, ".zst"))
		n -= 4;
	else if (ends_with(name, n, ".zstd"))
		n -= 5;
	char base[16] = "";
	const char *dot = NULL;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '.')
			dot = name + i;
		else if (name[i] == '/')
			dot = NULL;
	if (dot && (size_t)(name + n - dot) < sizeof base) {
		memcpy(base, dot, (size_t)(name + n - dot));
		base[name + n - dot] = '\0';
	}
	if (!strcmp(base, ".jsonl") || !strcmp(base, ".json") ||
	    !strcmp(base, ".ndjson"))
		return 0;
	if (!strcmp(base, ".txt") || !strcmp(base, ".md") ||
	    !strcmp(base, ".text"))
		return 1;
	return -1;
}

static int reader_new(dsv_reader **out, const char *name, size_t block,
		      const dsv_reader_opts *opts)
{
	dsv_reader *r = NULL;
	const char *field = opts && opts->text_field ? opts->text_field : "text";
	int kind = strcmp(name, "-") ? kind_of(name)
				     : opts && opts->stdin_text;
	*out = NULL;
	if (kind < 0)
		return dsv_error_set(DSV_EINVAL, "cannot tell the format of '%s' "
				     "(expected .jsonl, .json, .ndjson, .txt or "
				     ".md, optionally .gz or .zst)", name);
	if (!(r = dsv_malloc(sizeof *r)))
		return DSV_ENOMEM;
	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->text = kind;
	r->text_mode = opts ? opts->text_mode : DSV_TEXT_FILE;
	r->skip_bad = opts ? opts->skip_bad : 0;
	r->flen = strlen(field);
	r->block = block;
	r->cap = block;
	if (strcmp(name, "-") == 0)
		name = "stdin";
	if (!(r->name = dsv_malloc(strlen(name) + 1)) ||
	    !(r->field = dsv_malloc(r->flen + 1)) ||
	    !(r->in = dsv_malloc(block)) ||
	    !(r->buf = dsv_malloc(r->cap + DSV_JSONL_PAD))) {
		dsv_reader_free(r);
		return DSV_ENOMEM;
	}
	strcpy(r->name, name);
	memcpy(r->field, field, r->flen + 1);
	memset(r->buf, 0, DSV_JSONL_PAD);
	*out = r;
	return 0;
}

int dsv_reader_open(dsv_reader **out, const char *path,
		    const dsv_reader_opts *opts)
{
	dsv_reader *r = NULL;
	int rc = reader_new(&r, path, DSV_READ_BLOCK, opts);
	if (rc)
		return rc;
	if (strcmp(path, "-") == 0) {
		r->fd = 0;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			rc = dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
					   "cannot open '%s': %s", path,
					   strerror(errno));
			goto cleanup;
		}
		r->own_fd = 1;
#ifdef POSIX_FADV_SEQUENTIAL
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	}
	if ((rc = sniff(r)))
		goto cleanup;
	*out = r;
	return 0;
cleanup:
	dsv_reader_free(r);
	return rc;
}

int dsv_reader_open_mem(dsv_reader **out, const char *name, const void *data,
			size_t len, const dsv_reader_opts *opts)
{
	dsv_reader *r = NULL;
	/* small inputs (tests, the fuzzer) get small buffers */
	size_t block = len < DSV_READ_BLOCK / 2 ? 2 * len + 4096 : DSV_READ_BLOCK;
	int rc = reader_new(&r, name, block, opts);
	if (rc)
		return rc;
	r->mem = data;
	r->mem_len = len;
	if ((rc = sniff(r))) {
		dsv_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void dsv_reader_free(dsv_reader *r)
{
	if (!r)
		return;
	if (r->own_fd)
		close(r->fd);
	if (r->zs_live)
		inflateEnd(&r->zs);
	ZSTD_freeDStream(r->zd);
	for (size_t i = 0; i < r->nmsgs; i++)
		free(r->msgs[i]);
	dsv_jsonl_parser_free(&r->jp);
	dsv_buf_free(&r->para);
	free(r->in);
	free(r->buf);
	free(r->field);
	free(r->name);
	free(r);
}

uint64_t dsv_reader_bad(const dsv_reader *r)
{
	return r->nbad;
}

size_t dsv_reader_bad_list(const dsv_reader *r, const char *const **msgs)
{
	*msgs = (const char *const *)r->msgs;
	return r->nmsgs;
}

uint64_t dsv_reader_bytes_in(const dsv_reader *r)
{
	return r->bytes_in;
}

/* ---- single lines -------------------------------------------------------------- */

struct dsv_line_parser {
	dsv_jsonl_parser jp;
	char *field;
	size_t flen;
};

_Static_assert(DSV_LINE_PAD >= DSV_JSONL_PAD, "the scanner reads further");

int dsv_line_parser_new(dsv_line_parser **out, const char *text_field)
{
	const char *field = text_field ? text_field : "text";
	dsv_line_parser *p = dsv_malloc(sizeof *p);
	*out = NULL;
	if (!p)
		return DSV_ENOMEM;
	memset(p, 0, sizeof *p);
	p->flen = strlen(field);
	if (!(p->field = dsv_malloc(p->flen + 1))) {
		free(p);
		return DSV_ENOMEM;
	}
	memcpy(p->field, field, p->flen + 1);
	*out = p;
	return 0;
}

void dsv_line_parser_free(dsv_line_parser *p)
{
	if (!p)
		return;
	dsv_jsonl_parser_free(&p->jp);
	free(p->field);
	free(p);
}

int dsv_line_parse(dsv_line_parser *p, const char *line, size_t len,
		   dsv_record *rec)
{
	int rc = dsv_jsonl_parse(&p->jp, line, len, p->field, p->flen);
	if (rc == DSV_EINVAL)
		return dsv_error_set(DSV_EINVAL, "col %zu: %s", p->jp.err_col + 1,
				     p->jp.err);
	if (rc != 1)
		return rc;
	rec->text = p->jp.text.buf;
	rec->text_len = p->jp.text.len;
	rec->meta = p->jp.meta.buf;
	rec->meta_len = p->jp.meta.len;
	rec->layout = p->jp.layout;
	rec->line = 0;
	return 1;
}
