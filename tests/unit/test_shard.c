/* test_shard.c: shards and selections: random round trips through the store,
 * partial reads, decoder rejections (the saved reject fixtures among them),
 * and a corrupted stored shard caught by its id.
 */
#include "tests/fuzz/sections.h"
#include "fixtures.h"
#include "scratch.h"

#include <unistd.h>

typedef struct {
	char *text, *meta;
	size_t tlen, mlen;
	uint32_t layout;
} rec;

static rec *random_records(size_t n, unsigned long seed)
{
	rec *r = calloc(n, sizeof *r);
	srand((unsigned)seed);
	for (size_t i = 0; i < n; i++) {
		r[i].tlen = (size_t)(rand() % 5 == 0 ? 0 : rand() % 3000);
		r[i].mlen = (size_t)(rand() % 40);
		r[i].text = malloc(r[i].tlen + 1);
		r[i].meta = malloc(r[i].mlen + 1);
		for (size_t k = 0; k < r[i].tlen; k++)
			r[i].text[k] = (char)(rand() % 256);
		for (size_t k = 0; k < r[i].mlen; k++)
			r[i].meta[k] = (char)('a' + rand() % 26);
		r[i].layout = (uint32_t)rand();
	}
	return r;
}

static void free_records(rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].text);
		free(r[i].meta);
	}
	free(r);
}

static void check_shard(const dsv_shard *sh, const rec *r, size_t n,
			unsigned cols)
{
	CHECK(dsv_shard_rows(sh) == n);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *t = dsv_shard_text(sh, i, &len);
		if (cols & DSV_SHARD_TEXT)
			CHECK(t && len == r[i].tlen &&
			      memcmp(t, r[i].text, len) == 0);
		else
			CHECK(t == NULL);
		const char *m = dsv_shard_meta(sh, i, &len);
		if (cols & DSV_SHARD_META)
			CHECK(m && len == r[i].mlen &&
			      memcmp(m, r[i].meta, len) == 0);
		else
			CHECK(m == NULL);
		const dsv_rhash *h = dsv_shard_hash(sh, i);
		if (cols & DSV_SHARD_HASH) {
			dsv_rhash want;
			dsv_rhash_text(&want, r[i].text, r[i].tlen);
			CHECK(h && memcmp(h->b, want.b, 16) == 0);
		} else {
			CHECK(h == NULL);
		}
		if (cols & (DSV_SHARD_TEXT | DSV_SHARD_HASH))
			CHECK(dsv_shard_text_len(sh, i) == r[i].tlen);
		else
			CHECK(dsv_shard_text_len(sh, i) == 0);
		if (cols & DSV_SHARD_LAYOUT)
			CHECK(dsv_shard_layout(sh, i) == r[i].layout);
	}
}

static void test_round_trip(void)
{
	unsigned long seed = test_seed();
	size_t n = 500;
	rec *r = random_records(n, seed);
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	dsv_shard_builder *b = NULL;
	dsv_oid id, id2;
	int is_new;

	CHECK_OK(dsv_shard_builder_new(&b));
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK_OK(dsv_shard_builder_add(b, r[i].text, r[i].tlen,
					       r[i].meta, r[i].mlen,
					       r[i].layout, NULL));
		bytes += r[i].tlen + r[i].mlen;
	}
	CHECK(dsv_shard_builder_rows(b) == n);
	CHECK(dsv_shard_builder_bytes(b) == bytes);
	CHECK_OK(dsv_shard_builder_write(b, s, DSV_DEFAULT_LEVEL, &id, &is_new));
	CHECK(is_new == 1);
	CHECK_OK(dsv_shard_builder_write(b, s, 1, &id2, &is_new));
	CHECK(is_new == 0 && dsv_oid_cmp(&id, &id2) == 0);

	unsigned modes[] = {DSV_SHARD_ALL, DSV_SHARD_HASH, DSV_SHARD_TEXT,
			    DSV_SHARD_META | DSV_SHARD_LAYOUT, 0};
	for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
		dsv_shard *sh = NULL;
		CHECK_OK(dsv_shard_open(&sh, s, &id, modes[k]));
		if (sh)
			check_shard(sh, r, n, modes[k]);
		dsv_shard_free(sh);
	}
	dsv_obj_info info;
	CHECK_OK(dsv_obj_verify(s, &id, &info));
	CHECK(info.type == DSV_OBJ_SHARD && info.rows == n);
	CHECK_OK(dsv_index_get_object(s, &id, &info));
	CHECK(info.rows == n);

	/* After reset the builder makes the empty shard. */
	dsv_shard_builder_reset(b);
	CHECK_OK(dsv_shard_builder_write(b, s, 3, &id2, &is_new));
	dsv_shard *sh = NULL;
	CHECK_OK(dsv_shard_open(&sh, s, &id2, DSV_SHARD_ALL));
	CHECK(sh && dsv_shard_rows(sh) == 0);
	dsv_shard_free(sh);

	/* A selection is not a shard. */
	dsv_selection *sel = NULL;
	CHECK_OK(dsv_selection_new(&sel, 3));
	CHECK_OK(dsv_selection_write(sel, s, &id, &id2, &is_new));
	sh = NULL;
	CHECK(dsv_shard_open(&sh, s, &id2, DSV_SHARD_ALL) == DSV_EINVAL);
	dsv_selection_free(sel);

	dsv_shard_builder_free(b);
	free_records(r, n);
	test_store_drop(s, dsv);
}

/* Decodes the builder's sections after `mutate` changed a copy. */
static int decode_mutated(dsv_shard_builder *b, unsigned cols, int sec,
			  size_t off, uint8_t x)
{
	dsv_section secs[DSV_SHARD_NSECS];
	void *copy[DSV_SHARD_NSECS];
	size_t lens[DSV_SHARD_NSECS];
	dsv_shard *sh = NULL;
	dsv_shard_builder_sections(b, secs);
	for (int i = 0; i < DSV_SHARD_NSECS; i++) {
		copy[i] = malloc(secs[i].len + 1);
		memcpy(copy[i], secs[i].data, secs[i].len);
		lens[i] = secs[i].len;
	}
	if (sec >= 0 && off < lens[sec])
		((uint8_t *)copy[sec])[off] ^= x;
	int rc = dsv_shard_decode(&sh, copy, lens, DSV_SHARD_NSECS, cols);
	dsv_shard_free(sh);
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		free(copy[i]);
	return rc;
}

static void test_decode_rejects(void)
{
	dsv_shard_builder *b = NULL;
	CHECK_OK(dsv_shard_builder_new(&b));
	dsv_shard_builder_add(b, "abc", 3, "{}", 2, 0, NULL);
	dsv_shard_builder_add(b, "defgh", 5, "", 0, 1, NULL);
	CHECK_OK(decode_mutated(b, DSV_SHARD_ALL, -1, 0, 0));
	/* Every header byte matters. */
	for (size_t off = 0; off < 216; off++)
		CHECK(decode_mutated(b, DSV_SHARD_HASH, 0, off, 0x10) ==
		      DSV_ECORRUPT);
	/* Text offsets (a moved boundary shows in the hashes), meta offsets
	 * and the hash against the text. */
	for (size_t off = 0; off < 24; off++)
		CHECK(decode_mutated(b, DSV_SHARD_TEXT | DSV_SHARD_HASH, 2, off,
				     0x04) ==
		      DSV_ECORRUPT);
	for (size_t off = 0; off < 24; off += 8)
		CHECK(decode_mutated(b, DSV_SHARD_META, 4, off, 0x01) ==
		      DSV_ECORRUPT);
	CHECK(decode_mutated(b, DSV_SHARD_ALL, 1, 1, 0x01) == DSV_ECORRUPT);
	CHECK(decode_mutated(b, DSV_SHARD_ALL, 5, 17, 0x01) == DSV_ECORRUPT);
	/* Without the text the hash cannot be checked; that is the frame
	 * checksum's job. */
	CHECK_OK(decode_mutated(b, DSV_SHARD_HASH, 5, 17, 0x01));
	dsv_shard_builder_free(b);
}

static int fixture_failures;

static int decode_fixture(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	int n = fuzz_split(data, size, &mode, secs, lens), rc;
	if (mode & 1) {
		dsv_selection *sel = NULL;
		rc = dsv_selection_decode(&sel, secs, lens, n, NULL);
		dsv_selection_free(sel);
	} else {
		dsv_shard *sh = NULL;
		rc = dsv_shard_decode(&sh, secs, lens, n, (mode >> 1) & 15);
		dsv_shard_free(sh);
	}
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return rc;
}

static void must_reject(const char *name, const uint8_t *data, size_t size)
{
	if (decode_fixture(data, size) != DSV_ECORRUPT) {
		printf("  reject fixture '%s' was accepted\n", name);
		fixture_failures++;
	}
}

static void must_accept(const char *name, const uint8_t *data, size_t size)
{
	if (decode_fixture(data, size) != 0) {
		printf("  corpus input '%s' rejected: %s\n", name,
		       dsv_error_last());
		fixture_failures++;
	}
}

static void test_fixtures(void)
{
	fixture_failures = 0;
	CHECK(for_each_fixture("tests/fuzz/reject/shard", must_reject) >= 10);
	CHECK(for_each_fixture("tests/fuzz/corpus/shard", must_accept) >= 5);
	CHECK(fixture_failures == 0);
}

static void test_selection(void)
{
	unsigned long seed = test_seed();
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s);
	dsv_selection *sel = NULL, *back = NULL;
	dsv_oid shard, id, got;
	int is_new;
	uint64_t rows = 1000 + seed % 77, kept = 0;

	memset(shard.b, 7, sizeof shard.b);
	srand((unsigned)seed);
	CHECK_OK(dsv_selection_new(&sel, rows));
	for (uint64_t r = 0; r < rows; r++)
		if (rand() % 3 == 0) {
			dsv_selection_set(sel, r, 1);
			kept++;
		}
	dsv_selection_set(sel, 5, 1);
	dsv_selection_set(sel, 5, 0);
	if (dsv_selection_get(sel, 5))
		kept--;
	kept = 0;
	for (uint64_t r = 0; r < rows; r++)
		kept += (uint64_t)dsv_selection_get(sel, r);
	CHECK(dsv_selection_count(sel) == kept);
	CHECK(dsv_selection_get(sel, rows) == 0);
	CHECK_OK(dsv_selection_write(sel, s, &shard, &id, &is_new));
	CHECK(is_new == 1);
	CHECK_OK(dsv_selection_open(&back, s, &id, &got));
	CHECK(back && dsv_selection_rows(back) == rows);
	CHECK(back && dsv_selection_count(back) == kept);
	CHECK(dsv_oid_cmp(&got, &shard) == 0);
	for (uint64_t r = 0; back && r < rows; r++)
		CHECK(dsv_selection_get(back, r) == dsv_selection_get(sel, r));
	dsv_obj_info info;
	CHECK_OK(dsv_obj_verify(s, &id, &info));
	CHECK(info.type == DSV_OBJ_SELECTION && info.rows == rows);
	dsv_selection_free(sel);
	dsv_selection_free(back);
	test_store_drop(s, dsv);
}

/* A stored shard with a flipped byte: a full open and verify fail naming
 * the id. */
static void test_stored_corruption(void)
{
	dsv_store *s = NULL;
	char *dsv = test_store_new(&s), *path = NULL, hex[65];
	dsv_shard_builder *b = NULL;
	dsv_shard *sh = NULL;
	dsv_oid id;
	int is_new;

	CHECK_OK(dsv_shard_builder_new(&b));
	for (int i = 0; i < 200; i++) {
		char t[64];
		int n = snprintf(t, sizeof t, "document number %d", i);
		dsv_shard_builder_add(b, t, (size_t)n, "{}", 2, 0, NULL);
	}
	CHECK_OK(dsv_shard_builder_write(b, s, 3, &id, &is_new));
	CHECK_OK(dsv_obj_path(s, &id, &path));
	dsv_oid_fmt(hex, &id);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (f) {
		/* A byte just past the 136-byte file header: inside the
		 * first frames, whose checksum or the id must catch it. */
		fseek(f, 136 + 60, SEEK_SET);
		int c = fgetc(f);
		fseek(f, 136 + 60, SEEK_SET);
		fputc(c ^ 0xff, f);
		fclose(f);
	}
	CHECK(dsv_shard_open(&sh, s, &id, DSV_SHARD_ALL) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), hex) != NULL);
	CHECK(dsv_obj_verify(s, &id, NULL) == DSV_ECORRUPT);
	free(path);
	dsv_shard_builder_free(b);
	test_store_drop(s, dsv);
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_decode_rejects);
	RUN(test_fixtures);
	RUN(test_selection);
	RUN(test_stored_corruption);
	TEST_EXIT();
}
