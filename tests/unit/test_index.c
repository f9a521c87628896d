/* test_index.c: the LMDB index: objects put/get, record locations where the
 * first location wins (across and within batches), persistence, clear.
 */
#include "scratch.h"

static void test_objects(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	dsv_oid id;
	dsv_obj_info in = {DSV_OBJ_SHARD, 1ull << 40, 12345, 999}, out;

	memset(id.b, 0x5a, sizeof id.b);
	CHECK(dsv_index_get_object(s, &id, &out) == DSV_ENOTFOUND);
	CHECK_OK(dsv_index_put_object(s, &id, &in));
	CHECK_OK(dsv_index_get_object(s, &id, &out));
	CHECK(out.type == in.type && out.raw_size == in.raw_size);
	CHECK(out.stored_size == in.stored_size && out.rows == in.rows);
	/* Persists across reopening. */
	dsv_store_free(s);
	CHECK_OK(dsv_store_open(&s, dsv));
	CHECK_OK(dsv_index_get_object(s, &id, &out));
	CHECK(out.rows == 999);
	/* Two stores open on one index share its environment. */
	dsv_store *s2 = NULL;
	CHECK_OK(dsv_store_open(&s2, dsv));
	in.rows = 5;
	CHECK_OK(dsv_index_put_object(s2, &id, &in));
	dsv_store_free(s2);
	CHECK_OK(dsv_index_get_object(s, &id, &out));
	CHECK(out.rows == 5);
	CHECK_OK(dsv_index_clear(s, 0));
	CHECK(dsv_index_get_object(s, &id, &out) == DSV_ENOTFOUND);
	test_store_drop(s, dsv);
}

static void make_loc(dsv_record_loc *l, uint64_t row, uint8_t tag)
{
	memset(l, 0, sizeof *l);
	memset(l->commit, tag, sizeof l->commit);
	memset(l->shard.b, tag ^ 0xff, sizeof l->shard.b);
	l->row = row;
}

static void test_records(void)
{
	unsigned long seed = test_seed();
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	size_t n = 200000;
	dsv_rhash *h = malloc(n * sizeof *h);
	dsv_record_loc *l = malloc(n * sizeof *l), got;

	srand((unsigned)seed);
	for (size_t i = 0; i < n; i++) {
		char t[32];
		/* Every 10th text repeats an earlier one: first wins. */
		int len = snprintf(t, sizeof t, "doc %zu",
				   i % 10 == 9 ? (size_t)rand() % i : i);
		dsv_rhash_text(&h[i], t, (size_t)len);
		make_loc(&l[i], i, 1);
	}
	CHECK_OK(dsv_index_put_records(s, h, l, n));
	for (size_t i = 0; i < n; i += 97) {
		CHECK_OK(dsv_index_get_record(s, &h[i], &got));
		size_t first = 0;
		while (memcmp(h[first].b, h[i].b, 16) != 0)
			first++;
		CHECK(got.row == first);
		CHECK(got.commit[0] == 1 && got.shard.b[31] == 0xfe);
	}
	/* A second batch cannot move existing records. */
	for (size_t i = 0; i < 1000; i++)
		make_loc(&l[i], 7, 2);
	CHECK_OK(dsv_index_put_records(s, h, l, 1000));
	CHECK_OK(dsv_index_get_record(s, &h[0], &got));
	CHECK(got.row == 0 && got.commit[0] == 1);
	dsv_rhash fresh;
	dsv_rhash_text(&fresh, "never seen", 10);
	CHECK(dsv_index_get_record(s, &fresh, &got) == DSV_ENOTFOUND);
	CHECK_OK(dsv_index_put_records(s, &fresh, l, 1));
	CHECK_OK(dsv_index_get_record(s, &fresh, &got));
	CHECK(got.row == 7 && got.commit[0] == 2);
	CHECK_OK(dsv_index_put_records(s, NULL, NULL, 0));
	CHECK_OK(dsv_index_clear(s, 0));
	CHECK(dsv_index_get_record(s, &h[0], &got) == DSV_ENOTFOUND);
	free(h);
	free(l);
	test_store_drop(s, dsv);
}

int main(void)
{
	RUN(test_objects);
	RUN(test_records);
	TEST_EXIT();
}
