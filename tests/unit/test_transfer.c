/* test_transfer.c: objects copied between stores: the same bytes and index
 * entry at the destination, a second copy skipped, a damaged source object
 * refused by name and never landed, a missing one named, and every write,
 * fsync, rename and allocation of a copy failing cleanly.
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
	CHECK_OK(dsv_store_transfer(b, a, &id, 1, NULL, NULL, &st));
	CHECK(st.objects == 1 && st.present == 1 && st.copied == 0);
	CHECK(tmp_files(db) == 0);
	test_store_drop(a, da);
	test_store_drop(b, db);
}

static void test_corrupt_and_missing(void)
{
	dsv_store *a = NULL, *b = NULL;
	char *da = test_store_new(&a), *db = test_store_new(&b), *path = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	dsv_oid id, none;
	uint64_t bytes = 0;
	make_shard(a, 80, &id);
	dsv_oid_fmt(hex, &id);
	CHECK_OK(dsv_obj_path(a, &id, &path));
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
	CHECK(dsv_obj_copy(b, a, &id, &bytes) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), hex) != NULL);
	CHECK(!dsv_obj_exists(b, &id));
	CHECK(tmp_files(db) == 0);
	memset(&none, 0x5a, sizeof none);
	CHECK(dsv_obj_copy(b, a, &none, &bytes) == DSV_ENOTFOUND);
	free(path);
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

int main(void)
{
	RUN(test_copy);
	RUN(test_corrupt_and_missing);
	RUN(test_faults);
	TEST_EXIT();
}
