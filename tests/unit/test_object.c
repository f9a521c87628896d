/* test_object.c: object files: round trip, dedup, ids independent of the
 * level, corruption and truncation caught and named, bad ids rejected, fault
 * injection on every write/fsync/rename/alloc, concurrent writers.
 */
#include "fixtures.h"
#include "scratch.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files in a directory tree, not counting directories. */
static int count_files(const char *dir)
{
	char cmd[4400];
	int n = -1;
	snprintf(cmd, sizeof cmd, "find '%s' -type f | wc -l", dir);
	FILE *p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)("the quick brown fox "[(seed >> 16) % 20]);
	}
}

static void test_init_open(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), *found = NULL;
	CHECK(dsv_store_init(dsv) == DSV_EEXISTS);
	CHECK(s && strcmp(dsv_store_config(s, "format"), "1") == 0);
	CHECK(dsv_store_config(s, "nope") == NULL);
	/* shared, then a branch's; alone only when not held shared */
	CHECK_OK(dsv_store_lock(s));
	CHECK(dsv_store_lock_exclusive(s) == DSV_EINVAL);
	CHECK_OK(dsv_store_lock_branch(s, "a/b"));
	CHECK_OK(dsv_store_lock_branch(s, "a/b"));
	CHECK_OK(dsv_store_lock_branch(s, "c"));
	dsv_store_unlock(s);
	CHECK_OK(dsv_store_lock_exclusive(s));
	CHECK_OK(dsv_store_lock(s));
	dsv_store_unlock(s);
	char path[4200];
	snprintf(path, sizeof path, "%s/locks/a:b", dsv);
	CHECK(access(path, F_OK) == 0);
	setenv("DSV_DIR", dsv, 1);
	CHECK_OK(dsv_store_find(&found));
	CHECK(found && strcmp(found, dsv) == 0);
	unsetenv("DSV_DIR");
	free(found);
	found = NULL;
	char cwd[4096], sub[4300];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	snprintf(sub, sizeof sub, "%s/../a", dsv);
	mkdir(sub, 0777);
	CHECK(chdir(sub) == 0);
	CHECK_OK(dsv_store_find(&found));
	CHECK(found && strstr(found, "/.dsv") != NULL);
	CHECK(chdir(cwd) == 0);
	free(found);
	test_store_drop(s, dsv);
}

static void test_round_trip(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	static uint8_t a[100000], b[3];
	fill(a, sizeof a, 1);
	memcpy(b, "xyz", 3);
	dsv_section secs[3] = {{a, sizeof a}, {b, 3}, {NULL, 0}};
	dsv_oid id, id2;
	int is_new = -1;
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, secs, 3, 7, 3, &id, &is_new));
	CHECK(is_new == 1);
	CHECK(dsv_obj_exists(s, &id));

	dsv_obj *o = NULL;
	CHECK_OK(dsv_obj_open(&o, s, &id));
	CHECK(o && dsv_obj_get_type(o) == DSV_OBJ_BLOB);
	CHECK(o && dsv_obj_nsections(o) == 3);
	CHECK(o && dsv_obj_section_size(o, 0) == sizeof a);
	void **all = NULL;
	size_t *lens = NULL;
	CHECK_OK(dsv_obj_read_all(o, &all, &lens));
	CHECK(all && lens[0] == sizeof a && memcmp(all[0], a, sizeof a) == 0);
	CHECK(all && lens[1] == 3 && memcmp(all[1], "xyz", 3) == 0);
	CHECK(all && lens[2] == 0);
	for (int i = 0; all && i < 3; i++)
		free(all[i]);
	free(all);
	free(lens);
	dsv_obj_free(o);

	dsv_obj_info info;
	CHECK_OK(dsv_index_get_object(s, &id, &info));
	CHECK(info.type == DSV_OBJ_BLOB && info.raw_size == sizeof a + 3);
	CHECK(info.rows == 7 && info.stored_size > 0);
	CHECK_OK(dsv_obj_verify(s, &id, &info));

	/* Dedup: same content, another level: same id, nothing written. */
	char objdir[4300];
	snprintf(objdir, sizeof objdir, "%s/objects", dsv);
	int before = count_files(objdir);
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, secs, 3, 7, 19, &id2, &is_new));
	CHECK(is_new == 0);
	CHECK(dsv_oid_cmp(&id, &id2) == 0);
	CHECK(count_files(objdir) == before);

	/* The id is the SHA-256 of the raw bytes, whatever the sections. */
	dsv_section one = {a, sizeof a};
	dsv_oid id3;
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, &one, 1, 0, 1, &id3, &is_new));
	CHECK(is_new == 1 && dsv_oid_cmp(&id, &id3) != 0);

	test_store_drop(s, dsv);
}

static int count_cb(const dsv_oid *id, void *ctx)
{
	(void)id;
	(*(int *)ctx)++;
	return 0;
}

static void test_foreach_and_level(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	uint8_t *big = malloc(5 << 20);
	fill(big, 5 << 20, 7);
	dsv_section sec = {big, 5 << 20};
	dsv_oid a, b;
	int is_new, n = 0;
	/* Large enough for zstd's worker threads. */
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, &sec, 1, 0, 1, &a, &is_new));
	char cmd[4400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/objects'/* '%s/index'/*", dsv,
		 dsv);
	dsv_store_free(s);
	CHECK(system(cmd) == 0);
	CHECK_OK(dsv_store_open(&s, dsv));
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, &sec, 1, 0, 9, &b, &is_new));
	CHECK(is_new == 1 && dsv_oid_cmp(&a, &b) == 0);
	CHECK_OK(dsv_obj_verify(s, &a, NULL));
	char junk[4400];
	snprintf(junk, sizeof junk, "%s/objects/zz", dsv);
	mkdir(junk, 0777);
	CHECK_OK(dsv_obj_foreach(s, count_cb, &n));
	CHECK(n == 1);
	free(big);
	test_store_drop(s, dsv);
}

static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	if (off < 0)
		off += len;
	fseek(f, off, SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x40, f);
	fclose(f);
}

static void test_corruption(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), *path = NULL, hex[65];
	static uint8_t a[50000];
	fill(a, sizeof a, 3);
	dsv_section sec = {a, sizeof a};
	dsv_oid id;
	int is_new;
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, &sec, 1, 0, 3, &id, &is_new));
	CHECK_OK(dsv_obj_path(s, &id, &path));
	dsv_oid_fmt(hex, &id);
	chmod(path, 0644);

	/* Every byte after the header, flipped: caught by read_all/verify. */
	for (long off = 40; off < 200; off += 7) {
		flip_byte(path, off);
		int rc = dsv_obj_verify(s, &id, NULL);
		CHECK(rc == DSV_ECORRUPT);
		CHECK(strstr(dsv_error_last(), hex) != NULL);
		flip_byte(path, off);
	}
	flip_byte(path, -2); /* in the frame checksum */
	CHECK(dsv_obj_verify(s, &id, NULL) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), "corrupt") != NULL);
	flip_byte(path, -2);
	flip_byte(path, 2); /* magic */
	dsv_obj *o = NULL;
	CHECK(dsv_obj_open(&o, s, &id) == DSV_ECORRUPT);
	flip_byte(path, 2);
	CHECK_OK(dsv_obj_verify(s, &id, NULL));

	/* Truncated anywhere: rejected at open, naming the object. */
	struct stat st;
	stat(path, &st);
	for (off_t len = 0; len < st.st_size; len += st.st_size / 13 + 1) {
		CHECK(truncate(path, len) == 0);
		int rc = dsv_obj_open(&o, s, &id);
		CHECK(rc == DSV_ECORRUPT);
		CHECK(strstr(dsv_error_last(), hex) != NULL);
		dsv_obj_free(o);
		o = NULL;
	}
	/* A missing object is ENOTFOUND. */
	unlink(path);
	CHECK(dsv_obj_open(&o, s, &id) == DSV_ENOTFOUND);

	/* Ids are checked before they become paths. */
	dsv_oid bad;
	CHECK(dsv_oid_parse(&bad, "zz", 2) == DSV_EINVAL);
	CHECK(dsv_oid_parse(&bad, "0123456789abcdef0123456789abcdef0123456789"
				  "abcdef0123456789abcdeg", 64) == DSV_EINVAL);
	CHECK(dsv_oid_parse(&bad, "../../etc/passwd", 16) == DSV_EINVAL);
	free(path);
	test_store_drop(s, dsv);
}

/* A frame large enough to be mapped rather than read (store/object.c,
 * MAP_MIN), starting off a page boundary, after a small one: the same
 * bytes back, and a flipped byte in it still caught. */
static void test_large_frame(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), *path = NULL;
	static uint8_t a[1 << 20];
	fill(a, sizeof a, 5);
	dsv_section secs[2] = {{"small", 5}, {a, sizeof a}};
	dsv_oid id;
	int is_new;
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, secs, 2, 0, 3, &id, &is_new));
	CHECK_OK(dsv_obj_path(s, &id, &path));
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size > (300 << 10));
	dsv_obj *o = NULL;
	void *buf = NULL;
	size_t len = 0;
	CHECK_OK(dsv_obj_open(&o, s, &id));
	CHECK_OK(dsv_obj_read_section(o, 1, &buf, &len));
	CHECK(buf && len == sizeof a && memcmp(buf, a, sizeof a) == 0);
	free(buf);
	dsv_obj_free(o);
	chmod(path, 0644);
	flip_byte(path, (long)st.st_size / 2);
	CHECK_OK(dsv_obj_open(&o, s, &id));
	CHECK(dsv_obj_read_section(o, 1, &buf, &len) == DSV_ECORRUPT);
	dsv_obj_free(o);
	free(path);
	test_store_drop(s, dsv);
}

/* A section large enough to be hashed beside its decompression
 * (store/object.c, PIPE_MIN) between two small ones: verified reads give
 * the bytes back and check the id; a byte flipped anywhere in its frame
 * fails read_all with the very message of a plain one-shot read of that
 * section; the same file taken as another id names what it hashes to; an
 * allocation failing anywhere along a verify leaves nothing behind. */
static void test_piped_verify(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), *path = NULL, hex[65];
	static uint8_t a[6 << 20];
	fill(a, sizeof a, 11);
	dsv_section secs[3] = {{"head", 4}, {a, sizeof a}, {"tail", 4}};
	dsv_oid id, other;
	int is_new;
	CHECK_OK(dsv_obj_write(s, DSV_OBJ_BLOB, secs, 3, 0, 1, &id, &is_new));
	CHECK_OK(dsv_obj_path(s, &id, &path));
	dsv_oid_fmt(hex, &id);

	dsv_obj *o = NULL;
	void **all = NULL;
	size_t *lens = NULL;
	CHECK_OK(dsv_obj_open(&o, s, &id));
	CHECK_OK(dsv_obj_read_all(o, &all, &lens));
	CHECK(all && lens[1] == sizeof a && memcmp(all[1], a, sizeof a) == 0);
	CHECK(all && lens[2] == 4 && memcmp(all[2], "tail", 4) == 0);
	for (int i = 0; all && i < 3; i++)
		free(all[i]);
	free(all);
	free(lens);
	dsv_obj_free(o);
	o = NULL;
	CHECK_OK(dsv_obj_verify(s, &id, NULL));

	/* The file under another id: decoded fine, hashes to its own. */
	char *path2 = NULL, cmd[9000];
	memset(&other, 0x5a, sizeof other);
	CHECK_OK(dsv_obj_path(s, &other, &path2));
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'",
		 path2, path, path2);
	CHECK(system(cmd) == 0);
	CHECK(dsv_obj_verify(s, &other, NULL) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), hex) != NULL);
	CHECK(strstr(dsv_error_last(), "content hashes to") != NULL);
	if (path2)
		unlink(path2);
	free(path2);

	struct stat st;
	CHECK(stat(path, &st) == 0);
	chmod(path, 0644);
	/* Frame 1 starts after the header (24 + 3 * 16) and frame 0. */
	long first = 24 + 3 * 16 + 20, last = (long)st.st_size - 20;
	unsigned seed = 11;
	printf("  seed %u\n", seed);
	for (int k = 0; k < 40; k++) {
		char serial[1024];
		void *buf = NULL;
		size_t len = 0;
		seed = seed * 1103515245u + 12345u;
		long off = k < 4 ? last - 2 * k
				 : first + (long)(seed % (unsigned)(last - first));
		flip_byte(path, off);
		CHECK_OK(dsv_obj_open(&o, s, &id));
		int rc1 = dsv_obj_read_section(o, 1, &buf, &len);
		snprintf(serial, sizeof serial, "%s", dsv_error_last());
		dsv_obj_free(o);
		o = NULL;
		free(buf);
		int rc2 = dsv_obj_verify(s, &id, NULL);
		CHECK(rc2 == DSV_ECORRUPT);
		if (rc1 != 0) {
			CHECK(rc1 == rc2);
			CHECK(strcmp(serial, dsv_error_last()) == 0);
			if (strcmp(serial, dsv_error_last()) != 0)
				printf("  offset %ld: '%s' vs '%s'\n", off,
				       serial, dsv_error_last());
		}
		flip_byte(path, off);
	}
	CHECK_OK(dsv_obj_verify(s, &id, NULL));

	int failures = 0, n;
	for (n = 1; n < 100; n++) {
		char spec[32];
		snprintf(spec, sizeof spec, "alloc:%d", n);
		dsv_fault_reset(spec);
		int rc = dsv_obj_verify(s, &id, NULL);
		dsv_fault_reset(NULL);
		if (rc == 0)
			break;
		CHECK(rc == DSV_ENOMEM);
		failures++;
	}
	CHECK(failures > 0 && n < 100);
	free(path);
	test_store_drop(s, dsv);
}

/* The tmp/ and objects/ directories after a write that failed: tmp/ is empty
 * and the object is absent, or (directory sync failed after the rename)
 * present and valid. */
static void test_faults(void)
{
	static const char *const kinds[] = {"write", "fsync", "rename",
					    "alloc"};
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), tmpdir[4300], objdir[4300];
	static uint8_t a[30000];
	fill(a, sizeof a, 9);
	dsv_section secs[2] = {{a, sizeof a}, {a, 100}};
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dsv);
	snprintf(objdir, sizeof objdir, "%s/objects", dsv);
	for (size_t k = 0; k < 4; k++) {
		int failures = 0;
		for (int n = 1; n < 50; n++) {
			char spec[32];
			dsv_oid id;
			int is_new = 0, rc;
			snprintf(spec, sizeof spec, "%s:%d", kinds[k], n);
			a[0] = (uint8_t)(k * 50 + n); /* a new object each time */
			dsv_fault_reset(spec);
			rc = dsv_obj_write(s, DSV_OBJ_BLOB, secs, 2, 0, 1, &id,
					   &is_new);
			dsv_fault_reset(NULL);
			CHECK(count_files(tmpdir) == 0);
			if (rc == 0) {
				CHECK(is_new == 1);
				CHECK_OK(dsv_obj_verify(s, &id, NULL));
				break;
			}
			failures++;
			CHECK(rc == DSV_EIO || rc == DSV_ENOMEM);
			if (dsv_obj_exists(s, &id)) {
				/* Only the directory sync comes after the
				 * rename. */
				CHECK(k == 1);
				CHECK_OK(dsv_obj_verify(s, &id, NULL));
			}
		}
		CHECK(failures > 0);
		printf("  %s: %d failure points\n", kinds[k], failures);
	}
	test_store_drop(s, dsv);
}

typedef struct {
	dsv_store *s;
	int t;
	int rc;
	dsv_oid ids[20];
} thread_arg;

static void *writer(void *p)
{
	thread_arg *a = p;
	static uint8_t shared[20000];
	uint8_t own[9000];
	for (int i = 0; i < 20; i++) {
		fill(own, sizeof own, (unsigned)(a->t * 100 + i));
		/* Half the objects are the same in every thread. */
		dsv_section sec = {i % 2 ? own : shared,
				   i % 2 ? sizeof own : (size_t)(1000 + i)};
		int is_new;
		if (dsv_obj_write(a->s, DSV_OBJ_BLOB, &sec, 1, 0, 3, &a->ids[i],
				  &is_new))
			a->rc = -1;
	}
	return NULL;
}

static void test_concurrent(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	pthread_t th[4];
	thread_arg args[4];
	for (int t = 0; t < 4; t++) {
		args[t] = (thread_arg){s, t, 0, {{{0}}}};
		pthread_create(&th[t], NULL, writer, &args[t]);
	}
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < 4; t++) {
		CHECK(args[t].rc == 0);
		for (int i = 0; i < 20; i++)
			CHECK(dsv_obj_verify(s, &args[t].ids[i], NULL) == 0);
		CHECK(dsv_oid_cmp(&args[t].ids[0], &args[0].ids[0]) == 0);
	}
	int n = 0;
	CHECK_OK(dsv_obj_foreach(s, count_cb, &n));
	CHECK(n == 10 + 40);
	test_store_drop(s, dsv);
}

static int fixture_failures;

static void oid_must_reject(const char *name, const uint8_t *data, size_t n)
{
	dsv_oid id;
	if (dsv_oid_parse(&id, (const char *)data, n) != DSV_EINVAL) {
		printf("  reject fixture '%s' was accepted\n", name);
		fixture_failures++;
	}
}

static void oid_must_accept(const char *name, const uint8_t *data, size_t n)
{
	dsv_oid id;
	dsv_rhash h;
	if (dsv_oid_parse(&id, (const char *)data, n) != 0 &&
	    dsv_rhash_parse(&h, (const char *)data, n) != 0) {
		printf("  corpus input '%s' rejected\n", name);
		fixture_failures++;
	}
}

static void test_oid_fixtures(void)
{
	fixture_failures = 0;
	CHECK(for_each_fixture("tests/fuzz/reject/oid", oid_must_reject) >= 5);
	CHECK(for_each_fixture("tests/fuzz/corpus/oid", oid_must_accept) >= 3);
	CHECK(fixture_failures == 0);
}

int main(void)
{
	RUN(test_oid_fixtures);
	RUN(test_init_open);
	RUN(test_round_trip);
	RUN(test_foreach_and_level);
	RUN(test_corruption);
	RUN(test_large_frame);
	RUN(test_piped_verify);
	RUN(test_faults);
	RUN(test_concurrent);
	TEST_EXIT();
}
