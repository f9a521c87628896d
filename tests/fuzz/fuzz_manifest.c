/* fuzz_manifest.c: libFuzzer target for the MANIFEST parser: any input is
 * parsed or rejected with a message naming the line, and whatever parses
 * formats to text that parses to the same manifest.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static int same_entry(const dsv_manifest_entry *a, const dsv_manifest_entry *b)
{
	if (dsv_oid_cmp(&a->shard, &b->shard) || a->rows != b->rows ||
	    a->has_sel != b->has_sel || a->kept != b->kept ||
	    a->repeat != b->repeat || a->ncols != b->ncols)
		return 0;
	if (a->has_sel && dsv_oid_cmp(&a->sel, &b->sel))
		return 0;
	for (size_t i = 0; i < a->ncols; i++)
		if (strcmp(a->cols[i].name, b->cols[i].name) ||
		    dsv_oid_cmp(&a->cols[i].id, &b->cols[i].id))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_manifest *m = NULL, *m2 = NULL;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;

	if (dsv_manifest_parse(&m, (const char *)data, size) != 0) {
		if (strncmp(dsv_error_last(), "MANIFEST:", 9) != 0)
			abort();
		return 0;
	}
	if (dsv_manifest_format(m, &text, &len) != 0 ||
	    dsv_manifest_parse(&m2, text, len) != 0)
		abort();
	if (m->n != m2->n || m->has_order != m2->has_order ||
	    (m->has_order && dsv_oid_cmp(&m->order, &m2->order)))
		abort();
	for (size_t i = 0; i < m->n; i++)
		if (!same_entry(&m->e[i], &m2->e[i]))
			abort();
	/* Formatting is canonical: a second pass gives the same bytes. */
	if (dsv_manifest_format(m2, &text2, &len2) != 0 || len != len2 ||
	    memcmp(text, text2, len) != 0)
		abort();
	free(text);
	free(text2);
	dsv_manifest_free(m);
	dsv_manifest_free(m2);
	return 0;
}
