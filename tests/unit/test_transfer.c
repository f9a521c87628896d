/* test_transfer.c: objects copied between stores: the same bytes and index
 * entry at the destination, a second copy skipped, a damaged source object
 * refused by name and never landed, a missing one named, and every write,
 * fsync, rename and allocation of a copy failing cleanly; several objects
 * copied by 1 and by 4 threads alike, the progress counted, the first
 * failure reported and what landed before it indexed, and what a killed
 * transfer left unindexed indexed by the next.
 */
#include "scratch.h"

#include <dirent.h>
#include <unistd.h>

/* A shard of `n` records at s; its id in *id. */
static void make_shard(dsv_store *s, int n, dsv_oid *id)
{
	dsv_shard_builder *b = NULL;
	char text[64];
	CHECK_OK(dsv_shard_builder_new(&b));
	for (int i = 0; i < n && b; i++) {
		int len = snprintf(text, sizeof text, "record %d of a shard", i);
		CHECK_OK(dsv_shard_builder_add(b, text, (size_t)len, "{}", 2, 0,
					       NULL));
	}
	if (b)
		CHECK_OK(dsv_shard_builder_write(b, s, 0, id, NULL));
	dsv_shard_builder_free(b);
}

/* Entries in <dsv>/tmp. */
static int tmp_files(const char *dsv)
{
	char path[4300];
	int n = 0;
	snprintf(path, sizeof path, "%s/tmp", dsv);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_copy(void)
{
	dsv_store *a = NULL, *b = NULL;
	char *da = test_store_new(&a), *db = test_store_new(&b);
	dsv_oid id;
	dsv_obj_info ia, ib;
	uint64_t bytes = 0;
	dsv_transfer_stats st;
	make_shard(a, 50, &id);
	CHECK(dsv_obj_copy(b, a, &id, &bytes) == 1);
	CHECK(dsv_obj_exists(b, &id));
	CHECK_OK(dsv_index_get_object(a, &id, &ia));
	CHECK_OK(dsv_index_get_object(b, &id, &ib));
	CHECK(ia.type == ib.type && ia.rows == ib.rows && ib.rows == 50 &&
	      ia.stored_size == ib.stored_size && bytes == ia.stored_size);
	CHECK_OK(dsv_obj_verify(b, &id, NULL));
	CHECK(dsv_obj_copy(b, a, &id, &bytes) == 0);
	CHECK_OK(dsv_store_transfer(b, a, &id, 1, NULL, &st));
	CHECK(st.objects == 1 && st.present == 1 && st.copied == 0);
	CHECK(tmp_files(db) == 0);
	test_store_drop(a, da);
	test_store_drop(b, db);
}

/* Flips a byte in the middle of object id's file at s. */
static void damage(dsv_store *s, const dsv_oid *id)
{
	char *path = NULL;
	CHECK_OK(dsv_obj_path(s, id, &path));
	FILE *f = path ? fopen(path, "r+b") : NULL;
	CHECK(f != NULL);
	if (f) {
		fseek(f, 0, SEEK_END);
		long mid = ftell(f) / 2;
		fseek(f, mid, SEEK_SET);
		int c = fgetc(f);
		fseek(f, mid, SEEK_SET);
		fputc(c ^ 0xff, f);
		fclose(f);
	}
	free(path);
}

static void test_corrupt_and_missing(void)
{
	dsv_store *a = NULL, *b = NULL;
	char *da = test_store_new(&a), *db = test_store_new(&b);
	char hex[DSV_OID_HEXLEN + 1];
	dsv_oid id, none;
	uint64_t bytes = 0;
	make_shard(a, 80, &id);
	dsv_oid_fmt(hex, &id);
	damage(a, &id);
	CHECK(dsv_obj_copy(b, a, &id, &bytes) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), hex) != NULL);
	CHECK(!dsv_obj_exists(b, &id));
	CHECK(tmp_files(db) == 0);
	memset(&none, 0x5a, sizeof none);
	CHECK(dsv_obj_copy(b, a, &none, &bytes) == DSV_ENOTFOUND);
	test_store_drop(a, da);
	test_store_drop(b, db);
}

static void test_faults(void)
{
	static const char *const kinds[] = {"write", "fsync", "rename", "alloc"};
	dsv_store *a = NULL;
	char *da = test_store_new(&a);
	dsv_oid id;
	make_shard(a, 30, &id);
	for (size_t k = 0; k < 4; k++) {
		int failed = 0;
		for (int n = 1; n < 50; n++) {
			dsv_store *b = NULL;
			char *db = test_store_new(&b), spec[32];
			uint64_t bytes = 0;
			snprintf(spec, sizeof spec, "%s:%d", kinds[k], n);
			dsv_fault_reset(spec);
			int rc = dsv_obj_copy(b, a, &id, &bytes);
			dsv_fault_reset(NULL);
			/* it landed whole or not at all (a failed directory
			 * sync after the rename leaves it whole), tmp/ clean */
			CHECK(rc == 1 || rc < 0);
			CHECK(!dsv_obj_exists(b, &id) ||
			      dsv_obj_verify(b, &id, NULL) == 0);
			CHECK(tmp_files(db) == 0);
			test_store_drop(b, db);
			if (rc == 1)
				break;
			failed++;
		}
		CHECK(failed > 0);
		printf("  %s: %d failure points\n", kinds[k], failed);
	}
	test_store_drop(a, da);
}

#define NOBJ 12

/* NOBJ shards of different sizes at s, their ids in ids. */
static void make_shards(dsv_store *s, dsv_oid *ids)
{
	for (int i = 0; i < NOBJ; i++)
		make_shard(s, 10 + 7 * i, &ids[i]);
}

struct count {
	uint64_t calls, last_done, last_bytes;
	int backwards;
};

static void count_step(void *ctx, const dsv_transfer_stats *st)
{
	struct count *c = ctx;
	uint64_t done = st->present + st->copied;
	c->backwards |= done != c->last_done + 1 || st->bytes < c->last_bytes;
	c->calls++;
	c->last_done = done;
	c->last_bytes = st->bytes;
}

/* Every object at b whole and indexed as at a; how many b holds. */
static int held(dsv_store *a, dsv_store *b, const dsv_oid *ids)
{
	int n = 0;
	for (int i = 0; i < NOBJ; i++) {
		dsv_obj_info ia, ib;
		if (!dsv_obj_exists(b, &ids[i]))
			continue;
		n++;
		CHECK_OK(dsv_obj_verify(b, &ids[i], NULL));
		CHECK_OK(dsv_index_get_object(a, &ids[i], &ia));
		CHECK_OK(dsv_index_get_object(b, &ids[i], &ib));
		CHECK(ia.type == ib.type && ia.rows == ib.rows &&
		      ia.raw_size == ib.raw_size &&
		      ia.stored_size == ib.stored_size);
	}
	return n;
}

static void test_pool(void)
{
	dsv_store *a = NULL;
	char *da = test_store_new(&a);
	dsv_oid ids[NOBJ];
	make_shards(a, ids);
	uint64_t total = 0;
	for (int i = 0; i < NOBJ; i++) {
		dsv_obj_info info;
		CHECK_OK(dsv_index_get_object(a, &ids[i], &info));
		total += info.stored_size;
	}
	static const int jobs[] = {0, 1, 4}; /* 0: the default */
	for (size_t j = 0; j < 3; j++) {
		for (int once = 0; once < 2; once++) {
			dsv_store *b = NULL;
			char *db = test_store_new(&b);
			struct count c = {0};
			dsv_transfer_opts o = {.jobs = jobs[j],
					       .progress = count_step,
					       .ctx = &c};
			dsv_transfer_stats st;
			/* the second time, half are there already */
			if (once)
				for (int i = 0; i < NOBJ; i += 2)
					CHECK(dsv_obj_copy(b, a, &ids[i],
							   &st.bytes) == 1);
			CHECK_OK(dsv_store_transfer(b, a, ids, NOBJ, &o, &st));
			CHECK(st.objects == NOBJ &&
			      st.copied + st.present == NOBJ &&
			      st.present == (once ? NOBJ / 2 : 0));
			CHECK(once || st.bytes == total);
			CHECK(c.calls == NOBJ && c.last_done == NOBJ &&
			      !c.backwards && c.last_bytes == st.bytes);
			CHECK(held(a, b, ids) == NOBJ);
			CHECK(tmp_files(db) == 0);
			test_store_drop(b, db);
		}
	}
	test_store_drop(a, da);
}

/* Objects a killed transfer landed but did not index: the next transfer
 * indexes them, and counts them present. */
static void test_pool_reindex(void)
{
	dsv_store *a = NULL, *b = NULL;
	char *da = test_store_new(&a), *db = test_store_new(&b);
	dsv_oid ids[NOBJ];
	dsv_transfer_stats st;
	dsv_transfer_opts o = {.jobs = 2};
	make_shards(a, ids);
	CHECK_OK(dsv_store_transfer(b, a, ids, NOBJ, &o, &st));
	CHECK_OK(dsv_index_clear(b, 0));
	CHECK(dsv_index_get_object(b, &ids[0], NULL) == DSV_ENOTFOUND);
	CHECK_OK(dsv_store_transfer(b, a, ids, NOBJ, &o, &st));
	CHECK(st.present == NOBJ && st.copied == 0);
	CHECK(held(a, b, ids) == NOBJ);
	test_store_drop(a, da);
	test_store_drop(b, db);
}

/* A damaged object among good ones: the error names it (once), it never
 * lands, and what landed is whole and indexed, by 1 thread and by 4. */
static void test_pool_failure(void)
{
	dsv_store *a = NULL;
	char *da = test_store_new(&a);
	char hex[DSV_OID_HEXLEN + 1];
	dsv_oid ids[NOBJ];
	make_shards(a, ids);
	damage(a, &ids[5]);
	dsv_oid_fmt(hex, &ids[5]);
	for (int jobs = 1; jobs <= 4; jobs += 3) {
		dsv_store *b = NULL;
		char *db = test_store_new(&b);
		dsv_transfer_opts o = {.jobs = jobs};
		dsv_transfer_stats st;
		CHECK(dsv_store_transfer(b, a, ids, NOBJ, &o, &st) ==
		      DSV_ECORRUPT);
		const char *m = dsv_error_last(), *at = strstr(m, hex);
		CHECK(!strncmp(m, "cannot copy object ", 19) && at &&
		      !strstr(at + 1, hex) && strstr(m, ": corrupt: "));
		CHECK(!dsv_obj_exists(b, &ids[5]));
		int n = held(a, b, ids);
		/* in turn: the five before it, and nothing after it */
		CHECK(jobs > 1 || n == 5);
		CHECK(tmp_files(db) == 0);
		test_store_drop(b, db);
	}
	test_store_drop(a, da);
}

/* Every write, fsync, rename and allocation of a transfer of several
 * objects fails in turn (one thread: the n-th is the same each run): the
 * failure is reported, what landed is whole and indexed, tmp/ is clean. */
static void test_pool_faults(void)
{
	static const char *const kinds[] = {"write", "fsync", "rename", "alloc"};
	dsv_store *a = NULL;
	char *da = test_store_new(&a);
	dsv_oid ids[4];
	for (int i = 0; i < 4; i++)
		make_shard(a, 20 + i, &ids[i]);
	for (size_t k = 0; k < 4; k++) {
		int failed = 0;
		for (int n = 1; n < 200; n++) {
			dsv_store *b = NULL;
			char *db = test_store_new(&b), spec[32];
			dsv_transfer_opts o = {.jobs = 1};
			dsv_transfer_stats st;
			snprintf(spec, sizeof spec, "%s:%d", kinds[k], n);
			dsv_fault_reset(spec);
			int rc = dsv_store_transfer(b, a, ids, 4, &o, &st);
			dsv_fault_reset(NULL);
			CHECK(rc <= 0);
			for (int i = 0; i < 4; i++) {
				dsv_obj_info info;
				if (!dsv_obj_exists(b, &ids[i]))
					continue;
				CHECK_OK(dsv_obj_verify(b, &ids[i], NULL));
				CHECK_OK(dsv_index_get_object(b, &ids[i],
							      &info));
			}
			CHECK(tmp_files(db) == 0);
			test_store_drop(b, db);
			if (rc == 0)
				break;
			failed++;
		}
		CHECK(failed > 0);
		printf("  %s: %d failure points\n", kinds[k], failed);
	}
	test_store_drop(a, da);
}

int main(void)
{
	RUN(test_copy);
	RUN(test_corrupt_and_missing);
	RUN(test_faults);
	RUN(test_pool);
	RUN(test_pool_reindex);
	RUN(test_pool_failure);
	RUN(test_pool_faults);
	TEST_EXIT();
}
