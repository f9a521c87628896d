/* shard.c: the shard object: records stored column by column (text, offsets,
 * meta, record hashes, layout words), its builder, and its bounds-checked
 * decoder, which must be safe on arbitrary bytes (tests/fuzz/fuzz_shard.c).
 */
#include "internal.h"

#include <stdlib.h>

#define SHARD_MAGIC "DSVSHRD1"
#define SHARD_VERSION 1
#define SHARD_NCOLS 6
#define SHARD_COL_SIZE 32
#define SHARD_HEADER_SIZE (24 + SHARD_NCOLS * SHARD_COL_SIZE)
/* Keeps every byte-length computation below 2^64. */
#define SHARD_MAX_ROWS ((uint64_t)1 << 56)

enum { ELEM_U8 = 1, ELEM_U32 = 2, ELEM_U64 = 3, ELEM_H128 = 4 };
enum { SEC_TEXT = 1, SEC_TOFF, SEC_META, SEC_MOFF, SEC_HASH, SEC_LAYOUT };

static const struct {
	const char *name;
	uint32_t elem;
} columns[SHARD_NCOLS] = {
	{"text", ELEM_U8},  {"text.offsets", ELEM_U64}, {"meta", ELEM_U8},
	{"meta.offsets", ELEM_U64}, {"hash", ELEM_H128}, {"layout", ELEM_U32},
};

struct dsv_shard_builder {
	dsv_buf text, meta, toff, moff, hash, layout;
	uint64_t rows;
	uint8_t hdr[SHARD_HEADER_SIZE];
};

struct dsv_shard {
	uint64_t rows;
	unsigned cols;
	uint8_t *sec[DSV_SHARD_NSECS]; /* owned; NULL when not decoded */
	size_t len[DSV_SHARD_NSECS];
	size_t cap[DSV_SHARD_NSECS];   /* allocated bytes of sec[i] */
};

/* ---- builder ------------------------------------------------------------ */

int dsv_shard_builder_new(dsv_shard_builder **out)
{
	dsv_shard_builder *b = dsv_malloc(sizeof *b);
	*out = NULL;
	if (!b)
		return DSV_ENOMEM;
	memset(b, 0, sizeof *b);
	/* The offset columns always hold their leading 0, so reset never
	 * needs to allocate. */
	if (dsv_buf_grow(&b->toff, 4096) || dsv_buf_grow(&b->moff, 4096)) {
		dsv_shard_builder_free(b);
		return DSV_ENOMEM;
	}
	dsv_shard_builder_reset(b);
	*out = b;
	return 0;
}

void dsv_shard_builder_free(dsv_shard_builder *b)
{
	if (!b)
		return;
	dsv_buf_free(&b->text);
	dsv_buf_free(&b->meta);
	dsv_buf_free(&b->toff);
	dsv_buf_free(&b->moff);
	dsv_buf_free(&b->hash);
	dsv_buf_free(&b->layout);
	free(b);
}

void dsv_shard_builder_reset(dsv_shard_builder *b)
{
	b->text.len = b->meta.len = b->hash.len = b->layout.len = 0;
	memset(b->toff.buf, 0, 8);
	memset(b->moff.buf, 0, 8);
	b->toff.len = b->moff.len = 8;
	b->rows = 0;
}

int dsv_shard_builder_add(dsv_shard_builder *b, const char *text, size_t tlen,
			  const char *meta, size_t mlen, uint32_t layout,
			  const dsv_rhash *hash)
{
	dsv_rhash h;
	int rc;

	if (b->rows + 1 >= SHARD_MAX_ROWS)
		return dsv_error_set(DSV_EINVAL, "shard has too many rows");
	/* Grow everything first, so a failed allocation leaves the builder
	 * as it was. dsv_buf_grow doubles, so appends are amortised O(1). */
	if ((rc = dsv_buf_grow(&b->text, tlen)) ||
	    (rc = dsv_buf_grow(&b->meta, mlen)) ||
	    (rc = dsv_buf_grow(&b->toff, 8)) ||
	    (rc = dsv_buf_grow(&b->moff, 8)) ||
	    (rc = dsv_buf_grow(&b->hash, 16)) ||
	    (rc = dsv_buf_grow(&b->layout, 4)))
		return rc;
	if (!hash) {
		dsv_rhash_text(&h, text, tlen);
		hash = &h;
	}
	if (tlen)
		memcpy(b->text.buf + b->text.len, text, tlen);
	if (mlen)
		memcpy(b->meta.buf + b->meta.len, meta, mlen);
	b->text.len += tlen;
	b->meta.len += mlen;
	dsv_put64(b->toff.buf + b->toff.len, b->text.len);
	dsv_put64(b->moff.buf + b->moff.len, b->meta.len);
	b->toff.len += 8;
	b->moff.len += 8;
	memcpy(b->hash.buf + b->hash.len, hash->b, 16);
	b->hash.len += 16;
	dsv_put32(b->layout.buf + b->layout.len, layout);
	b->layout.len += 4;
	b->rows++;
	return 0;
}

int dsv_shard_builder_reserve(dsv_shard_builder *b, uint64_t text,
			      uint64_t meta)
{
	if (text > SIZE_MAX / 2 || meta > SIZE_MAX / 2)
		return dsv_error_set(DSV_EINVAL, "reservation too large");
	int rc = dsv_buf_grow(&b->text, (size_t)text);
	return rc ? rc : dsv_buf_grow(&b->meta, (size_t)meta);
}

uint64_t dsv_shard_builder_rows(const dsv_shard_builder *b)
{
	return b->rows;
}

uint64_t dsv_shard_builder_bytes(const dsv_shard_builder *b)
{
	return b->text.len + b->meta.len;
}

void dsv_shard_builder_sections(dsv_shard_builder *b,
				dsv_section secs[DSV_SHARD_NSECS])
{
	const dsv_buf *cols[SHARD_NCOLS] = {&b->text, &b->toff, &b->meta,
					    &b->moff, &b->hash, &b->layout};
	uint8_t *h = b->hdr;

	memset(h, 0, sizeof b->hdr);
	memcpy(h, SHARD_MAGIC, 8);
	dsv_put32(h + 8, SHARD_VERSION);
	dsv_put32(h + 12, SHARD_NCOLS);
	dsv_put64(h + 16, b->rows);
	secs[0] = (dsv_section){h, sizeof b->hdr};
	for (int i = 0; i < SHARD_NCOLS; i++) {
		uint8_t *c = h + 24 + SHARD_COL_SIZE * i;
		memcpy(c, columns[i].name, strlen(columns[i].name));
		dsv_put32(c + 16, columns[i].elem);
		dsv_put64(c + 24, cols[i]->len);
		secs[i + 1] = (dsv_section){cols[i]->buf, cols[i]->len};
	}
}

int dsv_shard_builder_write(dsv_shard_builder *b, dsv_store *s, int level,
			    dsv_oid *out, int *is_new)
{
	dsv_section secs[DSV_SHARD_NSECS];
	dsv_shard_builder_sections(b, secs);
	return dsv_obj_write(s, DSV_OBJ_SHARD, secs, DSV_SHARD_NSECS, b->rows,
			     level, out, is_new);
}

/* ---- decoder ------------------------------------------------------------ */

static int bad(const char *what)
{
	return dsv_error_set(DSV_ECORRUPT, "bad shard: %s", what);
}

/* Which sections a column selection needs. */
static unsigned needed_sections(unsigned cols)
{
	unsigned m = 1;
	if (cols & DSV_SHARD_TEXT)
		m |= 1u << SEC_TEXT | 1u << SEC_TOFF;
	if (cols & DSV_SHARD_META)
		m |= 1u << SEC_META | 1u << SEC_MOFF;
	/* The text offsets come with the hashes too: text lengths are cheap
	 * and diff and stats want them without the text. */
	if (cols & DSV_SHARD_HASH)
		m |= 1u << SEC_HASH | 1u << SEC_TOFF;
	if (cols & DSV_SHARD_LAYOUT)
		m |= 1u << SEC_LAYOUT;
	return m;
}

static int check_header(const uint8_t *h, size_t len, const size_t *lens,
			uint64_t *rows_out)
{
	uint64_t rows;
	if (len != SHARD_HEADER_SIZE)
		return bad("header has the wrong size");
	if (memcmp(h, SHARD_MAGIC, 8) != 0)
		return bad("bad magic");
	if (dsv_le32(h + 8) != SHARD_VERSION)
		return bad("unsupported version");
	if (dsv_le32(h + 12) != SHARD_NCOLS)
		return bad("wrong column count");
	rows = dsv_le64(h + 16);
	if (rows >= SHARD_MAX_ROWS)
		return bad("too many rows");
	const uint64_t want[SHARD_NCOLS] = {
		0, 8 * (rows + 1), 0, 8 * (rows + 1), 16 * rows, 4 * rows};
	for (int i = 0; i < SHARD_NCOLS; i++) {
		const uint8_t *c = h + 24 + SHARD_COL_SIZE * i;
		size_t nl = strlen(columns[i].name);
		uint64_t bytes = dsv_le64(c + 24);
		if (memcmp(c, columns[i].name, nl) != 0)
			return bad("unexpected column name");
		for (size_t k = nl; k < 16; k++)
			if (c[k])
				return bad("column name not NUL-padded");
		if (dsv_le32(c + 16) != columns[i].elem || dsv_le32(c + 20))
			return bad("unexpected column type");
		if ((want[i] && bytes != want[i]) || bytes != lens[i + 1])
			return bad("column length does not match");
	}
	*rows_out = rows;
	return 0;
}

/* Offsets: n+1 little-endian u64 starting at 0, nondecreasing, ending at the
 * length of the bytes they index. */
static int check_offsets(const uint8_t *off, uint64_t rows, size_t bytes)
{
	uint64_t prev = dsv_le64(off);
	if (prev != 0)
		return bad("first offset is not 0");
	for (uint64_t i = 1; i <= rows; i++) {
		uint64_t o = dsv_le64(off + 8 * i);
		if (o < prev)
			return bad("offsets decrease");
		prev = o;
	}
	if (prev != bytes)
		return bad("last offset is not the column length");
	return 0;
}

static int check_hashes(const dsv_shard *sh)
{
	for (uint64_t r = 0; r < sh->rows; r++) {
		size_t len;
		const char *t = dsv_shard_text(sh, r, &len);
		dsv_rhash h;
		dsv_rhash_text(&h, t, len);
		if (memcmp(h.b, sh->sec[SEC_HASH] + 16 * r, 16) != 0)
			return bad("record hash does not match its text");
	}
	return 0;
}

int dsv_shard_decode(dsv_shard **out, void **secs, const size_t *lens,
		     int nsecs, unsigned cols)
{
	dsv_shard *sh = NULL;
	unsigned need;
	int rc = 0;

	*out = NULL;
	int check = !(cols & DSV_SHARD_NOVERIFY);
	cols &= DSV_SHARD_ALL;
	if (nsecs != DSV_SHARD_NSECS)
		return bad("wrong section count");
	need = needed_sections(cols);
	for (int i = 0; i < nsecs; i++)
		if ((need >> i & 1) && !secs[i] && lens[i])
			return dsv_error_set(DSV_EINVAL,
					     "shard section %d not given", i);
	if (!secs[0])
		return bad("no header");
	if (!(sh = dsv_malloc(sizeof *sh)))
		return DSV_ENOMEM;
	memset(sh, 0, sizeof *sh);
	sh->cols = cols;
	if ((rc = check_header(secs[0], lens[0], lens, &sh->rows)))
		goto fail;
	/* Borrow while checking; ownership moves only on success. */
	for (int i = 1; i < nsecs; i++)
		if (need >> i & 1) {
			sh->sec[i] = secs[i];
			sh->len[i] = sh->cap[i] = lens[i];
		}
	if ((cols & (DSV_SHARD_TEXT | DSV_SHARD_HASH)) &&
	    (rc = check_offsets(sh->sec[SEC_TOFF], sh->rows, lens[SEC_TEXT])))
		goto fail;
	if ((cols & DSV_SHARD_META) &&
	    (rc = check_offsets(sh->sec[SEC_MOFF], sh->rows, lens[SEC_META])))
		goto fail;
	if (check && (cols & DSV_SHARD_TEXT) && (cols & DSV_SHARD_HASH) &&
	    (rc = check_hashes(sh)))
		goto fail;
	/* An empty section may come as NULL: own a real buffer so the
	 * accessors never see NULL. Allocate all before taking any. */
	for (int i = 1; i < nsecs; i++)
		if ((need >> i & 1) && !sh->sec[i] &&
		    !(sh->sec[i] = dsv_malloc(1))) {
			rc = DSV_ENOMEM;
			goto fail;
		}
	for (int i = 1; i < nsecs; i++)
		if ((need >> i & 1) && sh->sec[i] == secs[i])
			secs[i] = NULL;
	*out = sh;
	return 0;
fail:
	for (int i = 1; i < nsecs; i++)
		if (sh->sec[i] && sh->sec[i] != secs[i])
			free(sh->sec[i]);
	free(sh);
	return rc;
}

void dsv_shard_free(dsv_shard *sh)
{
	if (!sh)
		return;
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		free(sh->sec[i]);
	free(sh);
}

uint64_t dsv_shard_rows(const dsv_shard *sh)
{
	return sh->rows;
}

static const char *span(const uint8_t *bytes, const uint8_t *off, uint64_t row,
			size_t *len)
{
	uint64_t a = dsv_le64(off + 8 * row), b = dsv_le64(off + 8 * row + 8);
	*len = (size_t)(b - a);
	return (const char *)bytes + a;
}

const char *dsv_shard_text(const dsv_shard *sh, uint64_t row, size_t *len)
{
	*len = 0;
	if (!(sh->cols & DSV_SHARD_TEXT) || row >= sh->rows)
		return NULL;
	return span(sh->sec[SEC_TEXT], sh->sec[SEC_TOFF], row, len);
}

uint64_t dsv_shard_text_len(const dsv_shard *sh, uint64_t row)
{
	if (!(sh->cols & (DSV_SHARD_TEXT | DSV_SHARD_HASH)) || row >= sh->rows)
		return 0;
	return dsv_le64(sh->sec[SEC_TOFF] + 8 * row + 8) -
	       dsv_le64(sh->sec[SEC_TOFF] + 8 * row);
}

const char *dsv_shard_meta(const dsv_shard *sh, uint64_t row, size_t *len)
{
	*len = 0;
	if (!(sh->cols & DSV_SHARD_META) || row >= sh->rows)
		return NULL;
	return span(sh->sec[SEC_META], sh->sec[SEC_MOFF], row, len);
}

const dsv_rhash *dsv_shard_hash(const dsv_shard *sh, uint64_t row)
{
	if (!(sh->cols & DSV_SHARD_HASH) || row >= sh->rows)
		return NULL;
	return (const dsv_rhash *)(sh->sec[SEC_HASH] + 16 * row);
}

uint32_t dsv_shard_layout(const dsv_shard *sh, uint64_t row)
{
	if (!(sh->cols & DSV_SHARD_LAYOUT) || row >= sh->rows)
		return 0;
	return dsv_le32(sh->sec[SEC_LAYOUT] + 4 * row);
}

/* ---- opening a stored shard --------------------------------------------- */

/* Opens object `id`, checking that it is a shard with the right sections. */
static int shard_obj_open(dsv_obj **out, dsv_store *s, const dsv_oid *id)
{
	int rc = dsv_obj_open(out, s, id);
	if (rc)
		return rc;
	if (dsv_obj_get_type(*out) != DSV_OBJ_SHARD) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, id);
		rc = dsv_error_set(DSV_EINVAL, "object %s is a %s, not a shard",
				   hex, dsv_obj_type_name(dsv_obj_get_type(*out)));
	} else if (dsv_obj_nsections(*out) != DSV_SHARD_NSECS) {
		rc = bad("wrong section count");
	}
	if (rc) {
		dsv_obj_free(*out);
		*out = NULL;
	}
	return rc;
}

int dsv_shard_open_reuse(dsv_shard **out, dsv_store *s, const dsv_oid *id,
			 unsigned cols, dsv_shard *spare)
{
	dsv_obj *o = NULL;
	void *secs[DSV_SHARD_NSECS] = {0};
	size_t lens[DSV_SHARD_NSECS] = {0}, caps[DSV_SHARD_NSECS] = {0};
	int rc = 0;

	*out = NULL;
	/* Reading every column anyway: check it against the id too, unless
	 * the caller trusts the store (frame checksums only). */
	int verify = (cols & DSV_SHARD_ALL) == DSV_SHARD_ALL &&
		     !(cols & DSV_SHARD_NOVERIFY);
	cols &= DSV_SHARD_ALL | DSV_SHARD_NOVERIFY;
	if ((rc = shard_obj_open(&o, s, id)))
		goto cleanup;
	if (spare)
		for (int i = 0; i < DSV_SHARD_NSECS; i++) {
			secs[i] = spare->sec[i];
			caps[i] = spare->cap[i];
			spare->sec[i] = NULL;
		}
	if ((rc = dsv_obj_read_sections_into(o, needed_sections(cols), verify,
					     secs, caps, lens)))
		goto cleanup;
	/* Sections not read hand their buffers nowhere: decode must not
	 * mistake a spare's old bytes for them. */
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		if (!verify && !(needed_sections(cols) >> i & 1)) {
			free(secs[i]);
			secs[i] = NULL;
			caps[i] = 0;
		}
	if ((rc = dsv_shard_decode(out, secs, lens, DSV_SHARD_NSECS, cols))) {
		if (rc == DSV_ECORRUPT) {
			char hex[DSV_OID_HEXLEN + 1];
			dsv_oid_fmt(hex, id);
			dsv_error_wrap(rc, "object %s: corrupt", hex);
		}
		goto cleanup;
	}
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		if (!secs[i] && (*out)->sec[i] && caps[i])
			(*out)->cap[i] = caps[i];
cleanup:
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		free(secs[i]);
	dsv_shard_free(spare);
	dsv_obj_free(o);
	return rc;
}

int dsv_shard_open(dsv_shard **out, dsv_store *s, const dsv_oid *id,
		   unsigned cols)
{
	return dsv_shard_open_reuse(out, s, id, cols, NULL);
}

int dsv_shard_find(dsv_store *s, const dsv_oid *id, const dsv_rhash *h,
		   uint64_t **rows_out, size_t *n_out)
{
	dsv_obj *o = NULL;
	void *secs[DSV_SHARD_NSECS] = {0};
	size_t lens[DSV_SHARD_NSECS] = {0}, caps[DSV_SHARD_NSECS] = {0};
	uint64_t nrows, *rows = NULL, want[2];
	size_t n = 0, cap = 0;
	int rc;

	*rows_out = NULL;
	*n_out = 0;
	/* The header and the hashes only: the text offsets that
	 * DSV_SHARD_HASH decodes too would half again the bytes to read. */
	if ((rc = shard_obj_open(&o, s, id)) ||
	    (rc = dsv_obj_read_sections_into(o, 1u | 1u << SEC_HASH, 0, secs,
					     caps, lens)))
		goto cleanup;
	if ((rc = check_header(secs[0], lens[0], lens, &nrows))) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, id);
		dsv_error_wrap(rc, "object %s: corrupt", hex);
		goto cleanup;
	}
	/* check_header held the hash column to 16 bytes a row. Two words
	 * compared in place of a memcmp a row: this loop is the whole scan. */
	const uint8_t *p = secs[SEC_HASH];
	memcpy(want, h->b, sizeof want);
	for (uint64_t r = 0; r < nrows; r++, p += 16) {
		uint64_t w[2];
		memcpy(w, p, sizeof w);
		if (w[0] != want[0] || w[1] != want[1])
			continue;
		if ((rc = DSV_ARRAY_GROW(rows, cap, n + 1, 4)))
			goto cleanup;
		rows[n++] = r;
	}
	*rows_out = rows;
	*n_out = n;
	rows = NULL;
cleanup:
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		free(secs[i]);
	free(rows);
	dsv_obj_free(o);
	return rc;
}
