/* test_column.c: typed column objects: round trip for every type, ids that
 * depend on values and shard only, and the decoder's rejections. */
#include "scratch.h"

#include <stdint.h>

static dsv_store *store;

static void test_roundtrip(void)
{
	static const dsv_col_type types[] = {DSV_COL_U8, DSV_COL_I32,
					     DSV_COL_F32, DSV_COL_U64};
	dsv_oid shard = {{1, 2, 3}}, id, back;
	unsigned long seed = test_seed();
	srand((unsigned)seed);
	for (size_t t = 0; t < 4; t++) {
		dsv_column *c = NULL, *d = NULL;
		int is_new = 0;
		uint64_t rows = 1 + (uint64_t)(rand() % 5000);
		CHECK_OK(dsv_column_new(&c, types[t], rows));
		uint8_t *p = dsv_column_data(c);
		for (uint64_t i = 0; i < rows * dsv_col_type_size(types[t]); i++)
			p[i] = (uint8_t)rand();
		if (types[t] == DSV_COL_F32)
			((float *)p)[0] = 0.25f;
		CHECK_OK(dsv_column_write(c, store, &shard, &id, &is_new));
		CHECK(is_new == 1);
		CHECK_OK(dsv_column_write(c, store, &shard, &id, &is_new));
		CHECK(is_new == 0);
		CHECK_OK(dsv_column_open(&d, store, &id, &back));
		CHECK(d && dsv_column_rows(d) == rows);
		CHECK(d && dsv_column_type(d) == types[t]);
		CHECK(d && memcmp(dsv_column_cdata(d), p,
				  rows * dsv_col_type_size(types[t])) == 0);
		CHECK(dsv_oid_cmp(&back, &shard) == 0);
		if (types[t] == DSV_COL_F32)
			CHECK(d && dsv_column_get(d, 0) == 0.25);
		dsv_obj_info info;
		CHECK_OK(dsv_obj_verify(store, &id, &info));
		CHECK(info.type == DSV_OBJ_COLUMN && info.rows == rows);
		dsv_column_free(c);
		dsv_column_free(d);
	}
}

static void test_rejects(void)
{
	dsv_column *c = NULL;
	uint8_t hdr[64] = "DSVCOL01";
	uint8_t vals[12] = {0};
	void *secs[2] = {hdr, vals};
	size_t lens[2] = {64, 12};
	hdr[8] = 1;   /* version */
	hdr[12] = 3;  /* f32 */
	hdr[48] = 3;  /* rows */
	CHECK_OK(dsv_column_decode(&c, secs, lens, 2, NULL));
	dsv_column_free(c);
	hdr[12] = 9;
	CHECK(dsv_column_decode(&c, secs, lens, 2, NULL) == DSV_ECORRUPT);
	hdr[12] = 3;
	lens[1] = 11;
	CHECK(dsv_column_decode(&c, secs, lens, 2, NULL) == DSV_ECORRUPT);
	lens[1] = 12;
	hdr[60] = 1;
	CHECK(dsv_column_decode(&c, secs, lens, 2, NULL) == DSV_ECORRUPT);
	hdr[60] = 0;
	hdr[0] = 'X';
	CHECK(dsv_column_decode(&c, secs, lens, 2, NULL) == DSV_ECORRUPT);
	CHECK(dsv_column_decode(&c, secs, lens, 1, NULL) == DSV_ECORRUPT);
}

int main(void)
{
	char *dsv = test_store_new(&store);
	if (!store) {
		printf("FAIL setup: %s\n", dsv_error_last());
		return 1;
	}
	RUN(test_roundtrip);
	RUN(test_rejects);
	test_store_drop(store, dsv);
	TEST_EXIT();
}
