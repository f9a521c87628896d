/* test_order.c: order objects (encode, decode, canonical runs, the check
 * against a manifest, the reject fixtures) and a version iterated through
 * an order and through the version builder, compared with the intended
 * record sequence. */
#include "scratch.h"
#include "../fuzz/sections.h"

#include <dirent.h>
#include <stdint.h>

static dsv_store *store;

static void test_runs_merge(void)
{
	dsv_order *o = NULL;
	CHECK_OK(dsv_order_new(&o, 3));
	CHECK_OK(dsv_order_push(o, 0, 0));
	CHECK_OK(dsv_order_push(o, 0, 1));
	CHECK_OK(dsv_order_push(o, 0, 2));
	CHECK_OK(dsv_order_push(o, 2, 7));
	CHECK_OK(dsv_order_push(o, 0, 3));
	CHECK_OK(dsv_order_push_run(o, 0, 4, 10));
	CHECK(o->nruns == 3 && o->positions == 15);
	CHECK(o->runs[0].count == 3 && o->runs[2].start == 3 &&
	      o->runs[2].count == 11);
	dsv_order_free(o);
}

static void test_roundtrip(void)
{
	unsigned long seed = test_seed();
	dsv_order *o = NULL, *back = NULL;
	dsv_oid id, id2;
	int is_new;
	srand((unsigned)seed);
	CHECK_OK(dsv_order_new(&o, 50));
	for (int i = 0; i < 5000; i++)
		CHECK_OK(dsv_order_push(o, (uint64_t)(rand() % 50),
					(uint64_t)(rand() % 1000)));
	CHECK_OK(dsv_order_write(o, store, &id, &is_new));
	CHECK(is_new);
	CHECK_OK(dsv_order_write(o, store, &id2, &is_new));
	CHECK(!is_new && dsv_oid_cmp(&id, &id2) == 0);
	CHECK_OK(dsv_order_open(&back, store, &id));
	CHECK(back && back->nruns == o->nruns && back->positions == o->positions &&
	      back->entries == 50);
	CHECK(back && memcmp(back->runs, o->runs,
			     o->nruns * sizeof *o->runs) == 0);
	dsv_obj_info info;
	CHECK_OK(dsv_obj_verify(store, &id, &info));
	CHECK(info.type == DSV_OBJ_ORDER);
	dsv_order_free(o);
	dsv_order_free(back);
}

static int fixture_failures;

static void replay(const char *dir, int want_ok)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		char path[4096];
		uint8_t buf[1 << 16];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
		if (f)
			fclose(f);
		void *secs[FUZZ_MAX_SECS] = {0};
		size_t lens[FUZZ_MAX_SECS] = {0};
		unsigned mode;
		dsv_order *o = NULL;
		int ns = fuzz_split(buf, len, &mode, secs, lens);
		int rc = dsv_order_decode(&o, secs, lens, ns);
		if ((rc == 0) != want_ok) {
			printf("  %s: %s\n", path, rc ? dsv_error_last()
						       : "accepted");
			fixture_failures++;
		}
		dsv_order_free(o);
		for (int i = 0; i < ns; i++)
			free(secs[i]);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n >= 3);
}

static void test_fixtures(void)
{
	fixture_failures = 0;
	replay("tests/fuzz/corpus/order", 1);
	replay("tests/fuzz/reject/order", 0);
	CHECK(fixture_failures == 0);
}

/* A shard of `rows` records "s<tag>-<row>". */
static void make_shard(int tag, uint64_t rows, dsv_oid *id)
{
	dsv_shard_builder *b = NULL;
	char text[64];
	int is_new;
	CHECK_OK(dsv_shard_builder_new(&b));
	for (uint64_t r = 0; r < rows; r++) {
		int n = snprintf(text, sizeof text, "s%d-%llu", tag,
				 (unsigned long long)r);
		CHECK_OK(dsv_shard_builder_add(b, text, (size_t)n, "", 0,
					       DSV_LAYOUT_PLAIN, NULL));
	}
	CHECK_OK(dsv_shard_builder_write(b, store, 1, id, &is_new));
	dsv_shard_builder_free(b);
}

/* Random records from three stored shards, some twice, through the version
 * builder; the version must iterate back in the same sequence, and its
 * order must pass the check. */
static void test_vbuild_iterate(void)
{
	unsigned long seed = test_seed();
	enum { N = 3000 };
	dsv_oid shards[3];
	uint64_t rows[3] = {400, 50, 1000};
	int tag[N];
	uint64_t row[N];
	dsv_vbuild *v = NULL;
	dsv_vbuild_stats st;
	dsv_manifest *m = NULL;
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	dsv_order *o = NULL;
	srand((unsigned)seed);
	for (int i = 0; i < 3; i++)
		make_shard(i, rows[i], &shards[i]);
	CHECK_OK(dsv_vbuild_new(&v, store));
	for (int i = 0; i < N; i++) {
		tag[i] = rand() % 3;
		row[i] = (uint64_t)rand() % rows[tag[i]];
		CHECK_OK(dsv_vbuild_ref(v, &shards[tag[i]], rows[tag[i]],
					row[i]));
	}
	CHECK_OK(dsv_manifest_new(&m));
	CHECK_OK(dsv_vbuild_finish(v, NULL, NULL, 0, m, &st));
	CHECK(m->has_order && dsv_manifest_records(m) == N);
	CHECK_OK(dsv_order_open(&o, store, &m->order));
	CHECK(o && dsv_order_check(o, store, m) == 0);
	CHECK_OK(dsv_version_iter_new(&it, store, m, DSV_SHARD_TEXT));
	int i = 0, bad = 0;
	char want[64];
	while (it && dsv_version_iter_next(it, &r) == 1 && i < N) {
		int n = snprintf(want, sizeof want, "s%d-%llu", tag[i],
				 (unsigned long long)row[i]);
		if (r.text_len != (size_t)n || memcmp(r.text, want, (size_t)n))
			bad++;
		i++;
	}
	CHECK(i == N && bad == 0);
	dsv_version_iter_free(it);
	/* A damaged order (a row used once too often) fails the check. */
	if (o && o->nruns) {
		o->runs[0].count++;
		o->positions++;
		CHECK(dsv_order_check(o, store, m) == DSV_ECORRUPT);
	}
	dsv_order_free(o);
	dsv_manifest_free(m);
	dsv_vbuild_free(v);
}

/* Rows in plain order need no order object; the same records from a new
 * shard give one entry and no selection. */
static void test_vbuild_plain(void)
{
	dsv_oid sh;
	dsv_vbuild *v = NULL;
	dsv_vbuild_stats st;
	dsv_manifest *m = NULL;
	make_shard(7, 10, &sh);
	CHECK_OK(dsv_vbuild_new(&v, store));
	for (uint64_t r = 0; r < 10; r += 2)
		CHECK_OK(dsv_vbuild_ref(v, &sh, 10, r));
	for (uint64_t r = 0; r < 4; r++)
		CHECK_OK(dsv_vbuild_add_new(v, 0, r));
	uint64_t nrows = 4;
	CHECK_OK(dsv_manifest_new(&m));
	CHECK_OK(dsv_vbuild_finish(v, &sh, &nrows, 1, m, &st));
	CHECK(!m->has_order && m->n == 2 && m->e[0].has_sel &&
	      m->e[0].kept == 5 && !m->e[1].has_sel);
	dsv_manifest_free(m);
	dsv_vbuild_free(v);
}

int main(void)
{
	char *dsv = test_store_new(&store);
	if (!store) {
		printf("FAIL setup: %s\n", dsv_error_last());
		return 1;
	}
	RUN(test_runs_merge);
	RUN(test_roundtrip);
	RUN(test_fixtures);
	RUN(test_vbuild_iterate);
	RUN(test_vbuild_plain);
	test_store_drop(store, dsv);
	TEST_EXIT();
}
