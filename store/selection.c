/* selection.c: the selection object, a bitmap over one shard's rows saying
 * which rows a version keeps; its encoding and bounds-checked decoder.
 */
#include "internal.h"

#include <stdlib.h>

#define SEL_MAGIC "DSVSEL01"
#define SEL_VERSION 1
/* Bitmap bytes must fit a size_t with room to spare. */
#define SEL_MAX_ROWS ((uint64_t)1 << 60)

struct dsv_selection {
	uint64_t rows;
	uint8_t *bits; /* ceil(rows/8) bytes, LSB first, padding bits zero */
};

static size_t bitmap_len(uint64_t rows)
{
	return (size_t)(rows / 8 + (rows % 8 != 0));
}

int dsv_selection_new(dsv_selection **out, uint64_t rows)
{
	dsv_selection *sel = NULL;
	size_t n = bitmap_len(rows);

	*out = NULL;
	if (rows >= SEL_MAX_ROWS)
		return dsv_error_set(DSV_EINVAL, "selection of %llu rows is too "
				     "large", (unsigned long long)rows);
	if (!(sel = dsv_malloc(sizeof *sel)))
		return DSV_ENOMEM;
	if (!(sel->bits = dsv_malloc(n))) {
		free(sel);
		return DSV_ENOMEM;
	}
	memset(sel->bits, 0, n);
	sel->rows = rows;
	*out = sel;
	return 0;
}

void dsv_selection_free(dsv_selection *sel)
{
	if (!sel)
		return;
	free(sel->bits);
	free(sel);
}

void dsv_selection_set(dsv_selection *sel, uint64_t row, int keep)
{
	if (row >= sel->rows)
		return;
	if (keep)
		sel->bits[row / 8] |= (uint8_t)(1u << (row % 8));
	else
		sel->bits[row / 8] &= (uint8_t)~(1u << (row % 8));
}

int dsv_selection_get(const dsv_selection *sel, uint64_t row)
{
	return row < sel->rows && (sel->bits[row / 8] >> (row % 8) & 1);
}

uint64_t dsv_selection_rows(const dsv_selection *sel)
{
	return sel->rows;
}

uint64_t dsv_selection_count(const dsv_selection *sel)
{
	uint64_t n = 0;
	size_t len = bitmap_len(sel->rows), i = 0;
	for (; i + 8 <= len; i += 8)
		n += (uint64_t)__builtin_popcountll(dsv_le64(sel->bits + i));
	for (; i < len; i++)
		n += (uint64_t)__builtin_popcount(sel->bits[i]);
	return n;
}

void dsv_selection_sections(const dsv_selection *sel, const dsv_oid *shard,
			    uint8_t hdr[DSV_SELECTION_HEADER],
			    dsv_section secs[2])
{
	memset(hdr, 0, DSV_SELECTION_HEADER);
	memcpy(hdr, SEL_MAGIC, 8);
	dsv_put32(hdr + 8, SEL_VERSION);
	memcpy(hdr + 16, shard->b, 32);
	dsv_put64(hdr + 48, sel->rows);
	secs[0] = (dsv_section){hdr, DSV_SELECTION_HEADER};
	secs[1] = (dsv_section){sel->bits, bitmap_len(sel->rows)};
}

int dsv_selection_write(dsv_selection *sel, dsv_store *s, const dsv_oid *shard,
			dsv_oid *out, int *is_new)
{
	uint8_t hdr[DSV_SELECTION_HEADER];
	dsv_section secs[2];
	dsv_selection_sections(sel, shard, hdr, secs);
	return dsv_obj_write(s, DSV_OBJ_SELECTION, secs, 2, sel->rows,
			     DSV_DEFAULT_LEVEL, out, is_new);
}

static int bad(const char *what)
{
	return dsv_error_set(DSV_ECORRUPT, "bad selection: %s", what);
}

int dsv_selection_decode(dsv_selection **out, void **secs, const size_t *lens,
			 int nsecs, dsv_oid *shard_out)
{
	const uint8_t *h, *bits;
	dsv_selection *sel = NULL;
	uint64_t rows;
	size_t n;
	int rc;

	*out = NULL;
	if (nsecs != 2)
		return bad("wrong section count");
	h = secs[0];
	bits = secs[1];
	if (!h || lens[0] != DSV_SELECTION_HEADER)
		return bad("header has the wrong size");
	if (memcmp(h, SEL_MAGIC, 8) != 0)
		return bad("bad magic");
	if (dsv_le32(h + 8) != SEL_VERSION || dsv_le32(h + 12) != 0)
		return bad("unsupported version");
	rows = dsv_le64(h + 48);
	if (rows >= SEL_MAX_ROWS)
		return bad("too many rows");
	n = bitmap_len(rows);
	if (lens[1] != n || (n && !bits))
		return bad("bitmap length does not match the rows");
	if (rows % 8 && (bits[n - 1] >> (rows % 8)) != 0)
		return bad("padding bits are set");
	if ((rc = dsv_selection_new(&sel, rows)))
		return rc;
	if (n)
		memcpy(sel->bits, bits, n);
	if (shard_out)
		memcpy(shard_out->b, h + 16, 32);
	*out = sel;
	return 0;
}

int dsv_selection_open(dsv_selection **out, dsv_store *s, const dsv_oid *id,
		       dsv_oid *shard_out)
{
	void **secs = NULL;
	size_t *lens = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	int n = 0, rc;

	*out = NULL;
	if ((rc = dsv_obj_load(s, id, DSV_OBJ_SELECTION, &secs, &lens, &n)))
		return rc;
	if ((rc = dsv_selection_decode(out, secs, lens, n, shard_out)) ==
	    DSV_ECORRUPT) {
		dsv_oid_fmt(hex, id);
		dsv_error_wrap(rc, "object %s: corrupt", hex);
	}
	dsv_obj_sections_free(secs, lens, n);
	return rc;
}
