/* test_tokens.c: token array objects (type 5): encode/decode round trips in
 * both widths, rejections of damaged sections, the tokens index, and the
 * training loader over a selection of a shard's rows, and the llm.c export.
 */
#include "store/store.h"
#include "tests/unit/test.h"

#include <fcntl.h>
#include <unistd.h>

static dsv_store *s;
static char *root;
static dsv_oid shard_id, tok_a, tok_b;

static void setup(void)
{
	char path[4200];
	dsv_shard_builder *b = NULL;
	int is_new;
	root = test_tmpdir();
	snprintf(path, sizeof path, "%s/.dsv", root);
	CHECK_OK(dsv_store_init(path));
	CHECK_OK(dsv_store_open(&s, path));
	CHECK_OK(dsv_shard_builder_new(&b));
	for (int i = 0; i < 5; i++) {
		char t[32];
		snprintf(t, sizeof t, "row %d", i);
		CHECK_OK(dsv_shard_builder_add(b, t, strlen(t), "", 0,
					       DSV_LAYOUT_PLAIN, NULL));
	}
	CHECK_OK(dsv_shard_builder_write(b, s, 1, &shard_id, &is_new));
	dsv_shard_builder_free(b);
	CHECK_OK(dsv_tokenizer_id("A", 1, &tok_a));
	CHECK_OK(dsv_tokenizer_id("B", 1, &tok_b));
}

/* Rows: 0 -> {1,2}, 1 -> {3}, 2 -> {}, 3 -> {4,5,6}, 4 -> {top}. */
static const uint64_t off5[6] = {0, 2, 3, 3, 6, 7};

static void fill(uint32_t *ids, uint32_t top)
{
	for (int i = 0; i < 6; i++)
		ids[i] = (uint32_t)i + 1;
	ids[6] = top;
}

static void test_round_trip(void)
{
	uint32_t vocabs[2] = {1000, 70000}, ids[7];
	for (int k = 0; k < 2; k++) {
		dsv_oid id, id2;
		int is_new = 0;
		dsv_tokens *t = NULL;
		fill(ids, vocabs[k] - 1);
		CHECK_OK(dsv_tokens_write(s, &shard_id, &tok_a, vocabs[k], 5,
					  off5, ids, &id, &is_new));
		CHECK(is_new == 1);
		CHECK_OK(dsv_tokens_write(s, &shard_id, &tok_a, vocabs[k], 5,
					  off5, ids, &id2, &is_new));
		CHECK(is_new == 0 && dsv_oid_cmp(&id, &id2) == 0);
		CHECK_OK(dsv_tokens_open(&t, s, &id));
		if (!t)
			continue;
		CHECK(dsv_tokens_rows(t) == 5 && dsv_tokens_count(t) == 7);
		CHECK(dsv_tokens_vocab(t) == vocabs[k]);
		CHECK(dsv_tokens_width(t) == (k ? 4u : 2u));
		CHECK(dsv_oid_cmp(dsv_tokens_shard(t), &shard_id) == 0);
		CHECK(dsv_oid_cmp(dsv_tokens_tokenizer(t), &tok_a) == 0);
		uint32_t row[8];
		for (uint64_t r = 0; r < 5; r++) {
			CHECK(dsv_tokens_row_len(t, r) == off5[r + 1] - off5[r]);
			dsv_tokens_row(t, r, row);
			CHECK(memcmp(row, ids + off5[r],
				     (off5[r + 1] - off5[r]) * 4) == 0);
		}
		dsv_tokens_free(t);
	}
	/* A token not below the vocabulary, offsets that decrease. */
	dsv_oid id;
	int is_new;
	fill(ids, 1000);
	CHECK(dsv_tokens_write(s, &shard_id, &tok_a, 1000, 5, off5, ids, &id,
			       &is_new) == DSV_EINVAL);
	uint64_t boff[6] = {0, 2, 1, 3, 6, 7};
	fill(ids, 5);
	CHECK(dsv_tokens_write(s, &shard_id, &tok_a, 1000, 5, boff, ids, &id,
			       &is_new) == DSV_EINVAL);
}

/* Builds the raw sections of a valid array, then damages one thing. */
static int decode_damaged(int what)
{
	uint8_t hdr[DSV_TOKENS_HEADER] = {0}, offs[6 * 8], toks[7 * 2];
	memcpy(hdr, "DSVTOK01", 8);
	hdr[8] = 1;
	hdr[12] = 2;
	uint64_t rows = 5, n = 7;
	memcpy(hdr + 80, &rows, 8);
	memcpy(hdr + 88, &n, 8);
	uint32_t vocab = 1000;
	memcpy(hdr + 96, &vocab, 4);
	memcpy(offs, off5, sizeof offs);
	for (int i = 0; i < 7; i++) {
		toks[2 * i] = (uint8_t)(i + 1);
		toks[2 * i + 1] = 0;
	}
	size_t lens[3] = {sizeof hdr, sizeof offs, sizeof toks};
	switch (what) {
	case 1: hdr[0] = 'X'; break;                  /* magic */
	case 2: hdr[8] = 2; break;                    /* version */
	case 3: hdr[12] = 4; break;                   /* width for vocab */
	case 4: offs[16] = 9; break;                  /* offsets decrease */
	case 5: offs[40] = 6; break;                  /* do not span */
	case 6: toks[12] = 0xe8; toks[13] = 3; break; /* token == vocab */
	case 7: lens[2] = 12; break;                  /* short tokens */
	case 8: hdr[100] = 1; break;                  /* reserved */
	case 9: lens[0] = 100; break;                 /* header size */
	case 10: memset(hdr + 80, 0xff, 8); break;    /* huge rows */
	}
	void *secs[3] = {hdr, offs, toks};
	dsv_tokens *t = NULL;
	int rc = dsv_tokens_decode(&t, secs, lens, what == 11 ? 2 : 3);
	dsv_tokens_free(t);
	return rc;
}

static void test_rejects(void)
{
	CHECK(decode_damaged(0) == 0);
	for (int w = 1; w <= 11; w++) {
		int rc = decode_damaged(w);
		if (rc != DSV_ECORRUPT)
			printf("  damage %d: rc %d\n", w, rc);
		CHECK(rc == DSV_ECORRUPT);
	}
}

static void test_index_and_loader(void)
{
	uint32_t ids[7];
	dsv_oid id, got;
	int is_new;
	fill(ids, 999);
	CHECK(dsv_index_get_tokens(s, &shard_id, &tok_b, &got) ==
	      DSV_ENOTFOUND);
	CHECK_OK(dsv_tokens_write(s, &shard_id, &tok_a, 1000, 5, off5, ids,
				  &id, &is_new));
	CHECK_OK(dsv_index_put_tokens(s, &shard_id, &tok_a, &id));
	CHECK_OK(dsv_tokens_find(s, &shard_id, &tok_a, &got));
	CHECK(dsv_oid_cmp(&id, &got) == 0);

	/* A version keeping rows 3 and 0 of the shard... in shard order:
	 * rows 0 and 3, then the whole shard again (a second entry). */
	dsv_selection *sel = NULL;
	dsv_oid sel_id;
	CHECK_OK(dsv_selection_new(&sel, 5));
	if (!sel)
		return;
	dsv_selection_set(sel, 0, 1);
	dsv_selection_set(sel, 3, 1);
	CHECK_OK(dsv_selection_write(sel, s, &shard_id, &sel_id, &is_new));
	dsv_selection_free(sel);
	dsv_manifest *m = NULL;
	CHECK_OK(dsv_manifest_new(&m));
	dsv_manifest_entry e = {.shard = shard_id, .rows = 5, .has_sel = 1,
				.sel = sel_id, .kept = 2, .repeat = 1};
	CHECK_OK(dsv_manifest_add(m, &e));
	e.has_sel = 0;
	e.kept = 5;
	CHECK_OK(dsv_manifest_add(m, &e));

	dsv_tokens_loader *l = NULL;
	CHECK_OK(dsv_tokens_loader_new(&l, s, m, &tok_a));
	uint32_t buf[64], want[] = {999, 1, 2, 999, 4, 5, 6,
				    999, 1, 2, 999, 3, 999, 999, 4, 5, 6,
				    999, 999};
	size_t got_n = 0, k;
	/* Small reads, so documents run across calls. */
	while (l && got_n < 64 &&
	       dsv_tokens_loader_read(l, buf + got_n, 3, &k) == 1)
		got_n += k;
	CHECK(got_n == sizeof want / sizeof *want &&
	      memcmp(buf, want, sizeof want) == 0);
	uint64_t docs, toks;
	if (l) {
		dsv_tokens_loader_stats(l, &docs, &toks);
		CHECK(docs == 7 && toks == 12);
		CHECK(dsv_tokens_loader_eot(l) == 999);
	}
	dsv_tokens_loader_free(l);

	/* Without tokens for tokenizer B: a clear error. */
	CHECK_OK(dsv_tokens_loader_new(&l, s, m, &tok_b));
	const uint32_t *p;
	size_t n;
	CHECK(l && dsv_tokens_loader_next(l, &p, &n) == DSV_ENOTFOUND);
	CHECK(strstr(dsv_error_last(), "dsv tokenize") != NULL);
	dsv_tokens_loader_free(l);

	/* The llm.c export of the same stream. */
	char path[4200];
	snprintf(path, sizeof path, "%s/out.bin", root);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	uint64_t nt = 0, nb = 0;
	CHECK_OK(dsv_tokens_export(s, m, &tok_a, 1000, fd, &nt, &nb));
	close(fd);
	CHECK(nt == sizeof want / sizeof *want && nb == 1024 + 2 * nt);
	FILE *f = fopen(path, "rb");
	int32_t hdr[256];
	uint16_t t16[64];
	CHECK(f && fread(hdr, 4, 256, f) == 256 &&
	      fread(t16, 2, 64, f) == nt);
	CHECK(hdr[0] == 20240520 && hdr[1] == 1 && hdr[2] == (int32_t)nt);
	for (size_t i = 0; i < nt && i < 64; i++)
		CHECK(t16[i] == want[i]);
	if (f)
		fclose(f);

	/* A vocabulary above 65536 ids: uint32 tokens under llm.c's
	 * "llama-3" header (magic 20240801, version 7), which its readers
	 * take for 4-byte tokens. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	CHECK_OK(dsv_tokens_export(s, m, &tok_a, 70000, fd, &nt, &nb));
	close(fd);
	CHECK(nt == sizeof want / sizeof *want && nb == 1024 + 4 * nt);
	uint32_t t32[64];
	f = fopen(path, "rb");
	CHECK(f && fread(hdr, 4, 256, f) == 256 &&
	      fread(t32, 4, 64, f) == nt);
	CHECK(hdr[0] == 20240801 && hdr[1] == 7 && hdr[2] == (int32_t)nt);
	for (size_t i = 0; i < nt && i < 64; i++)
		CHECK(t32[i] == want[i]);
	if (f)
		fclose(f);
	dsv_manifest_free(m);
}

int main(void)
{
	setup();
	RUN(test_round_trip);
	RUN(test_rejects);
	RUN(test_index_and_loader);
	dsv_store_free(s);
	if (test_rmdir(root))
		return 1;
	free(root);
	TEST_EXIT();
}
