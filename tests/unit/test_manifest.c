/* test_manifest.c: MANIFEST text: round trips, canonical formatting, errors
 * that name the line, and the saved reject fixtures.
 */
#include "store/store.h"
#include "fixtures.h"
#include "test.h"

#define H1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void random_oid(dsv_oid *id)
{
	for (size_t i = 0; i < sizeof id->b; i++)
		id->b[i] = (uint8_t)rand();
}

static void test_round_trip(void)
{
	unsigned long seed = test_seed();
	dsv_manifest *m = NULL, *back = NULL;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;

	srand((unsigned)seed);
	CHECK_OK(dsv_manifest_new(&m));
	uint64_t want = 0;
	for (int i = 0; i < 50; i++) {
		dsv_manifest_col cols[3];
		dsv_manifest_entry e = {0};
		random_oid(&e.shard);
		e.rows = (uint64_t)rand() * (i == 3 ? 4294967296u : 1);
		e.has_sel = rand() % 2;
		e.kept = e.has_sel ? e.rows / 2 : e.rows;
		if (e.has_sel)
			random_oid(&e.sel);
		e.repeat = i % 5 ? 1 : (uint32_t)(1 + rand() % 9);
		e.ncols = (size_t)(rand() % 4);
		for (size_t k = 0; k < e.ncols; k++) {
			snprintf(cols[k].name, sizeof cols[k].name, "c%zu.x-%d",
				 k, rand() % 100);
			random_oid(&cols[k].id);
		}
		e.cols = cols;
		CHECK_OK(dsv_manifest_add(m, &e));
		want += e.kept * e.repeat;
	}
	m->has_order = 1;
	random_oid(&m->order);
	CHECK(dsv_manifest_records(m) == want);
	CHECK_OK(dsv_manifest_format(m, &text, &len));
	CHECK(text && strlen(text) == len);
	CHECK(text && strncmp(text, "dsv-manifest 1\nshard ", 21) == 0);
	CHECK_OK(dsv_manifest_parse(&back, text, len));
	CHECK(back && back->n == m->n && back->has_order);
	for (size_t i = 0; back && i < m->n; i++) {
		const dsv_manifest_entry *a = &m->e[i], *b = &back->e[i];
		CHECK(dsv_oid_cmp(&a->shard, &b->shard) == 0);
		CHECK(a->rows == b->rows && a->kept == b->kept);
		CHECK(a->has_sel == b->has_sel && a->repeat == b->repeat);
		CHECK(!a->has_sel || dsv_oid_cmp(&a->sel, &b->sel) == 0);
		CHECK(a->ncols == b->ncols);
		for (size_t k = 0; k < a->ncols && k < b->ncols; k++)
			CHECK(strcmp(a->cols[k].name, b->cols[k].name) == 0 &&
			      dsv_oid_cmp(&a->cols[k].id, &b->cols[k].id) == 0);
	}
	CHECK(back && dsv_oid_cmp(&back->order, &m->order) == 0);
	CHECK_OK(dsv_manifest_format(back, &text2, &len2));
	CHECK(text2 && len == len2 && memcmp(text, text2, len) == 0);
	free(text);
	free(text2);
	dsv_manifest_free(m);
	dsv_manifest_free(back);
}

static void test_exact_text(void)
{
	const char *in = "dsv-manifest 1\n"
			 "shard " H1 " rows=10 sel=" H2 " kept=4 repeat=2 "
			 "col.score=" H2 "\n"
			 "shard " H2 " rows=0\n"
			 "order " H1 "\n";
	dsv_manifest *m = NULL;
	char *out = NULL;
	size_t len;
	CHECK_OK(dsv_manifest_parse(&m, in, strlen(in)));
	CHECK(m && m->n == 2 && m->e[0].kept == 4 && m->e[0].repeat == 2);
	CHECK(m && m->e[1].repeat == 1 && m->e[1].kept == 0);
	CHECK(m && strcmp(m->e[0].cols[0].name, "score") == 0);
	CHECK(m && dsv_manifest_records(m) == 8);
	CHECK_OK(dsv_manifest_format(m, &out, &len));
	CHECK(out && strcmp(out, in) == 0);
	free(out);
	dsv_manifest_free(m);

	/* No final newline is accepted; an empty manifest is just a header. */
	const char *nonl = "dsv-manifest 1\nshard " H1 " rows=1";
	CHECK_OK(dsv_manifest_parse(&m, nonl, strlen(nonl)));
	dsv_manifest_free(m);
	CHECK_OK(dsv_manifest_parse(&m, "dsv-manifest 1\n", 15));
	CHECK(m && m->n == 0 && !m->has_order);
	dsv_manifest_free(m);
}

static void expect_error(const char *text, const char *prefix)
{
	dsv_manifest *m = NULL;
	int rc = dsv_manifest_parse(&m, text, strlen(text));
	CHECK(rc == DSV_EINVAL && m == NULL);
	if (strncmp(dsv_error_last(), prefix, strlen(prefix)) != 0)
		printf("  got '%s', want '%s...'\n", dsv_error_last(), prefix);
	CHECK(strncmp(dsv_error_last(), prefix, strlen(prefix)) == 0);
}

static void test_errors(void)
{
	expect_error("", "MANIFEST:1: expected 'dsv-manifest 1'");
	expect_error("dsv-manifest 2\n", "MANIFEST:1: expected");
	expect_error("dsv-manifest 1\nshard " H1 " rows=1\nshard 12 rows=1\n",
		     "MANIFEST:3: bad object id '12'");
	expect_error("dsv-manifest 1\nshard " H1 "\n", "MANIFEST:2: expected "
		     "'rows=N'");
	expect_error("dsv-manifest 1\nshard " H1 " rows=x\n",
		     "MANIFEST:2: bad number 'x'");
	expect_error("dsv-manifest 1\nshard " H1 " rows=2 sel=" H2 " kept=3\n",
		     "MANIFEST:2: number '3' is too large");
	expect_error("dsv-manifest 1\nshard " H1 " rows=2 sel=" H2 "\n",
		     "MANIFEST:2: expected 'kept=N'");
	expect_error("dsv-manifest 1\nshard " H1 " rows=2 repeat=0\n",
		     "MANIFEST:2: repeat must be at least 1");
	expect_error("dsv-manifest 1\nshard " H1 " rows=2 col.=" H1 "\n",
		     "MANIFEST:2: bad column name ''");
	expect_error("dsv-manifest 1\nshard " H1 " rows=2  col.a=" H1 "\n",
		     "MANIFEST:2: empty field");
	expect_error("dsv-manifest 1\nfoo\n",
		     "MANIFEST:2: expected 'shard' or 'order', not 'foo'");
	expect_error("dsv-manifest 1\norder " H1 "\norder " H1 "\n",
		     "MANIFEST:3: nothing may follow");
	expect_error("dsv-manifest 1\nshard " H1 " rows=1\n\n",
		     "MANIFEST:3: empty line");
	char name[80];
	memset(name, 'a', sizeof name);
	char line[300];
	snprintf(line, sizeof line, "dsv-manifest 1\nshard " H1
		 " rows=1 col.%.64s=" H1 "\n", name);
	expect_error(line, "MANIFEST:2: bad column name");
}

static int fixture_failures;

static void must_reject(const char *name, const uint8_t *data, size_t size)
{
	dsv_manifest *m = NULL;
	if (dsv_manifest_parse(&m, (const char *)data, size) != DSV_EINVAL ||
	    strncmp(dsv_error_last(), "MANIFEST:", 9) != 0) {
		printf("  reject fixture '%s' was accepted\n", name);
		fixture_failures++;
	}
	dsv_manifest_free(m);
}

static void must_accept(const char *name, const uint8_t *data, size_t size)
{
	dsv_manifest *m = NULL;
	if (dsv_manifest_parse(&m, (const char *)data, size) != 0) {
		printf("  corpus input '%s' rejected: %s\n", name,
		       dsv_error_last());
		fixture_failures++;
	}
	dsv_manifest_free(m);
}

static void test_fixtures(void)
{
	fixture_failures = 0;
	CHECK(for_each_fixture("tests/fuzz/reject/manifest", must_reject) >= 10);
	CHECK(for_each_fixture("tests/fuzz/corpus/manifest", must_accept) >= 3);
	CHECK(fixture_failures == 0);
}

static void test_format_rejects_bad_entries(void)
{
	dsv_manifest *m = NULL;
	dsv_manifest_entry e = {0};
	char *out = NULL;
	size_t len;
	CHECK_OK(dsv_manifest_new(&m));
	e.rows = 5;
	e.kept = 3; /* without a selection kept must equal rows */
	e.repeat = 1;
	CHECK_OK(dsv_manifest_add(m, &e));
	CHECK(dsv_manifest_format(m, &out, &len) == DSV_EINVAL);
	CHECK(out == NULL);
	dsv_manifest_free(m);
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_exact_text);
	RUN(test_errors);
	RUN(test_fixtures);
	RUN(test_format_rejects_bad_entries);
	TEST_EXIT();
}
