/* test_index.c: the LMDB index: objects put/get, record locations where the
 * first location wins (across and within batches), persistence, clear, and
 * the reader slot of a killed process cleared by the next writer.
 */
#include "scratch.h"

#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The index at `idx` opened by LMDB alone, as another program would. */
static MDB_env *raw_env(const char *idx)
{
	MDB_env *e = NULL;
	if (mdb_env_create(&e) || mdb_env_open(e, idx, MDB_NOTLS, 0666))
		_exit(3);
	return e;
}

static int names_pid(const char *msg, void *ctx)
{
	long pid;
	if (sscanf(msg, "%ld", &pid) == 1 && pid == *(long *)ctx)
		*(long *)ctx = 0;
	return 0;
}

/* Whether lock.mdb lists a reader slot of `pid`, asked from a child: this
 * process may hold the environment, and LMDB allows one per process. */
static int lists_reader(const char *idx, pid_t pid)
{
	int st;
	pid_t c = fork();
	if (c == 0) {
		long want = pid;
		mdb_reader_list(raw_env(idx), names_pid, &want);
		_exit(want == 0);
	}
	return waitpid(c, &st, 0) == c && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A process killed inside a read transaction leaves its slot in lock.mdb,
 * pinning every page it could see, for as long as any other process keeps
 * the environment open (the first to open it alone resets the table). The
 * next store opened for writing must clear it. */
static void test_stale_reader(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), idx[4300], c;
	int ready[2], hold[2], st;

	dsv_store_free(s);
	s = NULL;
	snprintf(idx, sizeof idx, "%s/index", dsv);
	if (pipe(ready) || pipe(hold))
		abort();
	pid_t holder = fork();
	if (holder == 0) {
		raw_env(idx);
		close(hold[1]);
		if (write(ready[1], "r", 1) == 1 && read(hold[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(hold[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	pid_t reader = fork();
	if (reader == 0) {
		MDB_txn *txn;
		if (mdb_txn_begin(raw_env(idx), NULL, MDB_RDONLY, &txn))
			_exit(1);
		_exit(0); /* killed: no abort, no close */
	}
	CHECK(waitpid(reader, &st, 0) == reader && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(lists_reader(idx, reader) == 1);
	CHECK_OK(dsv_store_open(&s, dsv));
	CHECK(lists_reader(idx, reader) == 0);
	close(hold[1]);
	CHECK(waitpid(holder, &st, 0) == holder);
	close(ready[0]);
	close(ready[1]);
	test_store_drop(s, dsv);
}

int main(void)
{
	RUN(test_objects);
	RUN(test_records);
	RUN(test_stale_reader);
	TEST_EXIT();
}
