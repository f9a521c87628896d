/* gen_corpus.c: writes the saved fuzz corpora (valid inputs) and the reject
 * fixtures (inputs that must fail) for fuzz_shard, fuzz_manifest, fuzz_oid,
 * fuzz_column and fuzz_classifier. Run tests/fuzz/gen_corpus.sh from the
 * top of the tree.
 */
#include "store/internal.h"
#include "kernels/qclass.h"
#include "tests/fuzz/sections.h"

#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *root = "tests/fuzz";

static void put_file(const char *kind, const char *sub, const char *name,
		     const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/%s/%s", root, kind, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

/* Serialises sections as sections.h reads them, into kind/sub/name. */
static void put_sections_in(const char *kind, const char *sub,
			    const char *name, unsigned mode,
			    const dsv_section *secs, int n)
{
	dsv_buf b = {0};
	uint8_t m = (uint8_t)mode;
	dsv_buf_append(&b, &m, 1);
	for (int i = 0; i < n; i++) {
		uint8_t len[4] = {(uint8_t)secs[i].len, (uint8_t)(secs[i].len >> 8),
				  (uint8_t)(secs[i].len >> 16),
				  (uint8_t)(secs[i].len >> 24)};
		dsv_buf_append(&b, len, 4);
		dsv_buf_append(&b, secs[i].data, secs[i].len);
	}
	put_file(kind, sub, name, b.buf, b.len);
	dsv_buf_free(&b);
}

static void put_sections(const char *kind, const char *name, unsigned mode,
			 const dsv_section *secs, int n)
{
	put_sections_in(kind, "shard", name, mode, secs, n);
}

/* A copy of the builder's sections whose bytes we may change. */
typedef struct {
	dsv_section s[DSV_SHARD_NSECS];
	uint8_t *p[DSV_SHARD_NSECS];
} copy;

static void copy_of(copy *c, const dsv_section *secs)
{
	for (int i = 0; i < DSV_SHARD_NSECS; i++) {
		c->p[i] = malloc(secs[i].len + 1);
		memcpy(c->p[i], secs[i].data, secs[i].len);
		c->s[i] = (dsv_section){c->p[i], secs[i].len};
	}
}

static void copy_free(copy *c)
{
	for (int i = 0; i < DSV_SHARD_NSECS; i++)
		free(c->p[i]);
}

#define MODE_SHARD(cols) ((unsigned)(cols) << 1)

static void shards(void)
{
	dsv_shard_builder *b = NULL;
	dsv_section secs[DSV_SHARD_NSECS];
	copy c;

	dsv_shard_builder_new(&b);
	dsv_shard_builder_sections(b, secs);
	put_sections("corpus", "shard_empty", MODE_SHARD(DSV_SHARD_ALL), secs,
		     DSV_SHARD_NSECS);
	dsv_shard_builder_add(b, "hello world", 11, "{\"id\":1,\"text\":\"\"}",
			      18, 15, NULL);
	dsv_shard_builder_add(b, "", 0, "", 0, 0, NULL);
	dsv_shard_builder_add(b, "second document\nwith two lines", 30,
			      "{\"url\":\"x\"}", 11, 0x40000000u, NULL);
	dsv_shard_builder_sections(b, secs);
	put_sections("corpus", "shard_all", MODE_SHARD(DSV_SHARD_ALL), secs,
		     DSV_SHARD_NSECS);
	put_sections("corpus", "shard_hash", MODE_SHARD(DSV_SHARD_HASH), secs,
		     DSV_SHARD_NSECS);
	put_sections("corpus", "shard_text", MODE_SHARD(DSV_SHARD_TEXT), secs,
		     DSV_SHARD_NSECS);
	put_sections("corpus", "shard_meta_layout",
		     MODE_SHARD(DSV_SHARD_META | DSV_SHARD_LAYOUT), secs,
		     DSV_SHARD_NSECS);

	/* Rejects: each breaks one rule of docs/formats.md. */
	copy_of(&c, secs);
	c.p[0][0] = 'X';
	put_sections("reject", "shard_bad_magic", MODE_SHARD(DSV_SHARD_ALL),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[2][8] = 20; /* row 0 ends after row 1 */
	put_sections("reject", "shard_offsets_decrease",
		     MODE_SHARD(DSV_SHARD_TEXT), c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[2][24] = 29; /* last text offset short of the text */
	put_sections("reject", "shard_last_offset", MODE_SHARD(DSV_SHARD_TEXT),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[4][0] = 1; /* meta offsets must start at 0 */
	put_sections("reject", "shard_meta_first_offset",
		     MODE_SHARD(DSV_SHARD_META), c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[1][0] = 'H'; /* text no longer matches its hash */
	put_sections("reject", "shard_hash_mismatch", MODE_SHARD(DSV_SHARD_ALL),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[0][16] = 4; /* rows says 4, columns hold 3 */
	put_sections("reject", "shard_rows_mismatch", MODE_SHARD(DSV_SHARD_HASH),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.p[0][0xFF & (24 + 32 * 1 + 16)] = 2; /* text.offsets typed u32 */
	put_sections("reject", "shard_column_type", MODE_SHARD(DSV_SHARD_HASH),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.s[5].len -= 1; /* hash column one byte short */
	put_sections("reject", "shard_hash_short", MODE_SHARD(DSV_SHARD_HASH),
		     c.s, DSV_SHARD_NSECS);
	copy_free(&c);

	copy_of(&c, secs);
	c.s[0].len = 100; /* header cut short */
	put_sections("reject", "shard_short_header", MODE_SHARD(DSV_SHARD_ALL),
		     c.s, DSV_SHARD_NSECS);
	put_sections("reject", "shard_six_sections", MODE_SHARD(DSV_SHARD_ALL),
		     secs, DSV_SHARD_NSECS - 1);
	copy_free(&c);
	dsv_shard_builder_free(b);
}

static void selections(void)
{
	dsv_selection *sel = NULL;
	dsv_oid shard;
	uint8_t hdr[DSV_SELECTION_HEADER];
	dsv_section secs[2];

	memset(shard.b, 0xab, sizeof shard.b);
	dsv_selection_new(&sel, 0);
	dsv_selection_sections(sel, &shard, hdr, secs);
	put_sections("corpus", "sel_empty", 1, secs, 2);
	dsv_selection_free(sel);

	dsv_selection_new(&sel, 13);
	for (int r = 0; r < 13; r += 3)
		dsv_selection_set(sel, (uint64_t)r, 1);
	dsv_selection_sections(sel, &shard, hdr, secs);
	put_sections("corpus", "sel_13", 1, secs, 2);

	uint8_t bits[2];
	memcpy(bits, secs[1].data, 2);
	bits[1] |= 0x80; /* a padding bit */
	dsv_section bad[2] = {secs[0], {bits, 2}};
	put_sections("reject", "sel_padding_bit", 1, bad, 2);
	bad[1].len = 1;
	put_sections("reject", "sel_short_bitmap", 1, bad, 2);
	uint8_t h2[DSV_SELECTION_HEADER];
	memcpy(h2, hdr, sizeof h2);
	h2[3] = 'x';
	dsv_section bad2[2] = {{h2, sizeof h2}, secs[1]};
	put_sections("reject", "sel_bad_magic", 1, bad2, 2);
	put_sections("reject", "sel_one_section", 1, secs, 1);
	dsv_selection_free(sel);
}

#define H1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void text(const char *kind, const char *sub, const char *name,
		 const char *s)
{
	put_file(kind, sub, name, s, strlen(s));
}

static void manifests(void)
{
	text("corpus", "manifest", "header_only", "dsv-manifest 1\n");
	text("corpus", "manifest", "one_shard",
	     "dsv-manifest 1\nshard " H1 " rows=3\n");
	text("corpus", "manifest", "full",
	     "dsv-manifest 1\n"
	     "shard " H1 " rows=100 sel=" H2 " kept=42 repeat=3 col.score=" H2
	     " col.lang.id=" H1 "\n"
	     "shard " H2 " rows=0\n"
	     "order " H1 "\n");
	text("reject", "manifest", "no_header", "shard " H1 " rows=3\n");
	text("reject", "manifest", "empty", "");
	text("reject", "manifest", "bad_id", "dsv-manifest 1\nshard 0123 rows=3\n");
	text("reject", "manifest", "kept_over_rows",
	     "dsv-manifest 1\nshard " H1 " rows=3 sel=" H2 " kept=4\n");
	text("reject", "manifest", "repeat_zero",
	     "dsv-manifest 1\nshard " H1 " rows=3 repeat=0\n");
	text("reject", "manifest", "leading_zero",
	     "dsv-manifest 1\nshard " H1 " rows=03\n");
	text("reject", "manifest", "rows_overflow",
	     "dsv-manifest 1\nshard " H1 " rows=18446744073709551616\n");
	text("reject", "manifest", "dup_column",
	     "dsv-manifest 1\nshard " H1 " rows=3 col.a=" H1 " col.a=" H2 "\n");
	text("reject", "manifest", "bad_column_name",
	     "dsv-manifest 1\nshard " H1 " rows=3 col.a/b=" H1 "\n");
	text("reject", "manifest", "trailing_space",
	     "dsv-manifest 1\nshard " H1 " rows=3 \n");
	text("reject", "manifest", "order_not_last",
	     "dsv-manifest 1\norder " H1 "\nshard " H1 " rows=3\n");
	text("reject", "manifest", "unknown_field",
	     "dsv-manifest 1\nshard " H1 " rows=3 weight=2\n");
	text("reject", "manifest", "fields_out_of_order",
	     "dsv-manifest 1\nshard " H1 " rows=3 repeat=2 sel=" H2 " kept=1\n");
	text("reject", "manifest", "blank_line",
	     "dsv-manifest 1\n\nshard " H1 " rows=3\n");
	text("reject", "manifest", "crlf",
	     "dsv-manifest 1\r\nshard " H1 " rows=3\r\n");
}

static void oids(void)
{
	text("corpus", "oid", "lower", H1);
	text("corpus", "oid", "upper",
	     "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
	text("corpus", "oid", "rhash", "0123456789abcdef0123456789abcdef");
	text("reject", "oid", "short", H1 + 1);
	text("reject", "oid", "long", H1 "0");
	text("reject", "oid", "not_hex",
	     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg");
	text("reject", "oid", "path", "../../../../etc/passwd");
	text("reject", "oid", "empty", "");
	text("reject", "oid", "space",
	     " 123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

/* A column as dsv_column_write stores it, read back as its sections. */
static void column(dsv_store *s, const char *name, dsv_col_type t,
		   uint64_t rows)
{
	dsv_column *c = NULL;
	dsv_oid shard, id;
	void **secs = NULL;
	size_t *lens = NULL;
	int n = 0, is_new;
	memset(shard.b, 0xcd, sizeof shard.b);
	if (dsv_column_new(&c, t, rows))
		exit(1);
	uint8_t *v = dsv_column_data(c);
	for (size_t i = 0; i < rows * dsv_col_type_size(t); i++)
		v[i] = (uint8_t)(i * 37 + 1);
	if (dsv_column_write(c, s, &shard, &id, &is_new) ||
	    dsv_obj_load(s, &id, DSV_OBJ_COLUMN, &secs, &lens, &n)) {
		fprintf(stderr, "column: %s\n", dsv_error_last());
		exit(1);
	}
	dsv_section sec[2] = {{secs[0], lens[0]}, {secs[1], lens[1]}};
	put_sections_in("corpus", "column", name, 0, sec, 2);

	/* Rejects: each breaks one rule of the format (store/column.c). */
	if (strcmp(name, "f32_5"))
		goto out;
	static const struct { int at; uint8_t to; const char *name; } breaks[] = {
		{0, 'X', "bad_magic"},     {8, 2, "version_2"},
		{12, 9, "unknown_type"},   {60, 1, "reserved_set"},
		{48, 6, "rows_over_values"},
	};
	uint8_t h[64];
	dsv_section bad[2] = {{h, 64}, sec[1]};
	for (size_t i = 0; i < sizeof breaks / sizeof *breaks; i++) {
		memcpy(h, secs[0], 64);
		h[breaks[i].at] = breaks[i].to;
		put_sections_in("reject", "column", breaks[i].name, 0, bad, 2);
	}
	bad[0].len = 63;
	put_sections_in("reject", "column", "short_header", 0, bad, 2);
	put_sections_in("reject", "column", "one_section", 0, sec, 1);
out:
	dsv_obj_sections_free(secs, lens, n);
	dsv_column_free(c);
}

static void columns(void)
{
	char dir[] = "/tmp/gen_corpus.XXXXXX", path[64];
	dsv_store *s = NULL;
	if (!mkdtemp(dir))
		exit(1);
	snprintf(path, sizeof path, "%s/.dsv", dir);
	if (dsv_store_init(path) || dsv_store_open(&s, path)) {
		fprintf(stderr, "store: %s\n", dsv_error_last());
		exit(1);
	}
	column(s, "u8_0", DSV_COL_U8, 0);
	column(s, "u8_7", DSV_COL_U8, 7);
	column(s, "i32_3", DSV_COL_I32, 3);
	column(s, "f32_5", DSV_COL_F32, 5);
	column(s, "u64_4", DSV_COL_U64, 4);
	dsv_store_free(s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd))
		exit(1);
}

/* Classifier weights as `dsv classifier train` stores them (the qclass
 * header, then the floats), trained on a few documents; mode 0. */
static void classifier_weights(void)
{
	static const char text[] = "clear useful words about topics"
				   "spam click buy now";
	const uint64_t off[] = {0, 31, sizeof text - 1};
	const uint32_t labels[] = {1, 0};
	struct dsv_qclass_train_opts o = {5, 0.5f, 1};
	struct dsv_qclass *m = NULL;
	if (dsv_qclass_new(&m, 16, 4, 2, 1) ||
	    dsv_qclass_train(m, (const uint8_t *)text, off, labels, 2, &o))
		exit(1);
	size_t wlen = dsv_qclass_nweights(&m->h) * sizeof(float);
	dsv_section secs[2] = {{&m->h, sizeof m->h}, {m->w, wlen}};
	put_sections_in("corpus", "classifier", "weights", 0, secs, 2);

	struct dsv_qclass_header h = m->h;
	dsv_section bad[2] = {{&h, sizeof h}, secs[1]};
	h.nclasses = 1;
	put_sections_in("reject", "classifier", "one_class", 0, bad, 2);
	h = m->h;
	h.magic ^= 1;
	put_sections_in("reject", "classifier", "bad_magic", 0, bad, 2);
	h = m->h;
	h.reserved = 1;
	put_sections_in("reject", "classifier", "reserved_set", 0, bad, 2);
	h = m->h;
	m->w[3] = 1e30f; /* finite, but overflows a prediction (fuzzer) */
	put_sections_in("reject", "classifier", "weight_huge", 0, bad, 2);
	m->w[3] = NAN;
	put_sections_in("reject", "classifier", "weight_nan", 0, bad, 2);
	bad[1].len -= 4;
	put_sections_in("reject", "classifier", "short_weights", 0, bad, 2);
	dsv_qclass_free(m);
}

/* CLASSIFIER files as `dsv classifier train` writes them; mode 1. */
static void classifier_file_n(const char *kind, const char *name,
			      const char *s, size_t n)
{
	dsv_section sec = {s, n};
	put_sections_in(kind, "classifier", name, 1, &sec, 1);
}

static void classifier_file(const char *kind, const char *name,
			    const char *s)
{
	classifier_file_n(kind, name, s, strlen(s));
}

static void classifier_files(void)
{
	classifier_file("corpus", "file", "format qclass 1\nweights " H1
			"\nlabel labels.q\nclasses 2\n");
	classifier_file("reject", "file_no_weights",
			"format qclass 1\nlabel labels.q\nclasses 2\n");
	classifier_file("reject", "file_no_format",
			"weights " H1 "\nlabel labels.q\nclasses 2\n");
	classifier_file("reject", "file_bad_weights",
			"format qclass 1\nweights " H1 "0\n");
	classifier_file("reject", "file_weights_twice",
			"format qclass 1\nweights " H1 "\nweights " H2 "\n");
	char longlabel[256];
	snprintf(longlabel, sizeof longlabel, "format qclass 1\nweights %s\n"
		 "label %0128d\n", H1, 0);
	classifier_file("reject", "file_label_long", longlabel);
#define CF "format qclass 1\nweights " H1 "\n"
	classifier_file("reject", "file_format_suffix", "format qclass 1 extra\n"
			"weights " H1 "\nlabel labels.q\nclasses 2\n");
	classifier_file("reject", "file_no_label", CF "classes 2\n");
	classifier_file("reject", "file_no_classes", CF "label labels.q\n");
	classifier_file("reject", "file_classes_3",
			CF "label labels.q\nclasses 3\n");
	classifier_file("reject", "file_label_twice",
			CF "label labels.q\nlabel other\nclasses 2\n");
	classifier_file("reject", "file_unknown_key",
			CF "label labels.q\nclasses 2\nthreshold 0.5\n");
	static const char nul[] = CF "label labels.q\nclasses 2\n\0weights x\n";
	classifier_file_n("reject", "file_nul", nul, sizeof nul - 1);
#undef CF
}

int main(void)
{
	shards();
	selections();
	manifests();
	oids();
	columns();
	classifier_weights();
	classifier_files();
	return 0;
}
