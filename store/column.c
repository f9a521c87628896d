/* column.c: typed per-row columns. Canonical encoding: a 64-byte header
 * ("DSVCOL01", u32 version, u32 element type, shard id, u64 rows, 8 zero
 * bytes), then rows values of the element type, little-endian.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "column values are stored in host order, which must be "
	       "little-endian");

#define COL_MAGIC "DSVCOL01"
#define COL_VERSION 1
#define COL_HEADER 64
#define COL_MAX_ROWS (1ull << 40)

struct dsv_column {
	dsv_col_type type;
	uint64_t rows;
	uint8_t *data;
};

const char *dsv_col_type_name(dsv_col_type t)
{
	switch (t) {
	case DSV_COL_U8: return "u8";
	case DSV_COL_I32: return "i32";
	case DSV_COL_F32: return "f32";
	case DSV_COL_U64: return "u64";
	}
	return NULL;
}

size_t dsv_col_type_size(dsv_col_type t)
{
	switch (t) {
	case DSV_COL_U8: return 1;
	case DSV_COL_I32: case DSV_COL_F32: return 4;
	case DSV_COL_U64: return 8;
	}
	return 0;
}

int dsv_column_new(dsv_column **out, dsv_col_type type, uint64_t rows)
{
	size_t size = dsv_col_type_size(type);
	dsv_column *c;
	*out = NULL;
	if (!size)
		return dsv_error_set(DSV_EINVAL, "unknown column type %d", type);
	if (rows >= COL_MAX_ROWS)
		return dsv_error_set(DSV_EINVAL, "too many rows for a column");
	if (!(c = dsv_malloc(sizeof *c)))
		return DSV_ENOMEM;
	c->type = type;
	c->rows = rows;
	c->data = calloc(rows ? rows : 1, size);
	if (!c->data) {
		free(c);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void dsv_column_free(dsv_column *c)
{
	if (c) {
		free(c->data);
		free(c);
	}
}

dsv_col_type dsv_column_type(const dsv_column *c) { return c->type; }
uint64_t dsv_column_rows(const dsv_column *c) { return c->rows; }
void *dsv_column_data(dsv_column *c) { return c->data; }
const void *dsv_column_cdata(const dsv_column *c) { return c->data; }

double dsv_column_get(const dsv_column *c, uint64_t row)
{
	const uint8_t *p = c->data + row * dsv_col_type_size(c->type);
	int32_t i;
	float f;
	uint64_t u;
	switch (c->type) {
	case DSV_COL_U8: return *p;
	case DSV_COL_I32: memcpy(&i, p, 4); return i;
	case DSV_COL_F32: memcpy(&f, p, 4); return f;
	case DSV_COL_U64: memcpy(&u, p, 8); return (double)u;
	}
	return 0;
}

int dsv_column_write(const dsv_column *c, dsv_store *s, const dsv_oid *shard,
		     dsv_oid *out, int *is_new)
{
	uint8_t hdr[COL_HEADER] = {0};
	memcpy(hdr, COL_MAGIC, 8);
	dsv_put32(hdr + 8, COL_VERSION);
	dsv_put32(hdr + 12, (uint32_t)c->type);
	memcpy(hdr + 16, shard->b, 32);
	dsv_put64(hdr + 48, c->rows);
	dsv_section secs[2] = {
		{hdr, sizeof hdr},
		{c->data, c->rows * dsv_col_type_size(c->type)},
	};
	return dsv_obj_write(s, DSV_OBJ_COLUMN, secs, 2, c->rows,
			     DSV_DEFAULT_LEVEL, out, is_new);
}

static int bad(const char *what)
{
	return dsv_error_set(DSV_ECORRUPT, "bad column: %s", what);
}

int dsv_column_decode(dsv_column **out, void **secs, const size_t *lens,
		      int nsecs, dsv_oid *shard_out)
{
	const uint8_t *h;
	dsv_column *c = NULL;
	int rc;

	*out = NULL;
	if (nsecs != 2 || !secs[0] || lens[0] != COL_HEADER)
		return bad("wrong sections");
	h = secs[0];
	if (memcmp(h, COL_MAGIC, 8) != 0)
		return bad("bad magic");
	if (dsv_le32(h + 8) != COL_VERSION)
		return bad("unsupported version");
	dsv_col_type type = (dsv_col_type)dsv_le32(h + 12);
	uint64_t rows = dsv_le64(h + 48);
	size_t size = dsv_col_type_size(type);
	if (!size)
		return bad("unknown element type");
	if (rows >= COL_MAX_ROWS || lens[1] != rows * size ||
	    (rows && !secs[1]))
		return bad("value bytes do not match the rows");
	for (int i = 56; i < COL_HEADER; i++)
		if (h[i])
			return bad("reserved header bytes are set");
	if ((rc = dsv_column_new(&c, type, rows)))
		return rc;
	if (rows)
		memcpy(c->data, secs[1], lens[1]);
	if (shard_out)
		memcpy(shard_out->b, h + 16, 32);
	*out = c;
	return 0;
}

int dsv_column_open(dsv_column **out, dsv_store *s, const dsv_oid *id,
		    dsv_oid *shard_out)
{
	void **secs = NULL;
	size_t *lens = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	int n = 0, rc;

	*out = NULL;
	if ((rc = dsv_obj_load(s, id, DSV_OBJ_COLUMN, &secs, &lens, &n)))
		return rc;
	if ((rc = dsv_column_decode(out, secs, lens, n, shard_out)) ==
	    DSV_ECORRUPT) {
		dsv_oid_fmt(hex, id);
		dsv_error_wrap(rc, "object %s: corrupt", hex);
	}
	dsv_obj_sections_free(secs, lens, n);
	return rc;
}
