/* test_reader.c: the streaming record reader: formats and compression,
 * text modes, lines longer than a read block, bad records with skip_bad.
 */
#include "store/store.h"
#include "tests/unit/test.h"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static char *dir;

static char *path_of(const char *name)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const void *d, size_t n)
{
	FILE *f = fopen(path_of(name), "wb");
	fwrite(d, 1, n, f);
	fclose(f);
}

static void put_gz(const char *name, const void *d, size_t n, int members)
{
	gzFile f = gzopen(path_of(name), "wb");
	gzwrite(f, d, (unsigned)(n / 2));
	if (members > 1) { /* close and append a second gzip member */
		gzclose(f);
		f = gzopen(path_of(name), "ab");
	}
	gzwrite(f, (const char *)d + n / 2, (unsigned)(n - n / 2));
	gzclose(f);
}

/* Appends n bytes c to a file: what follows a compressed stream. */
static void append(const char *name, int c, size_t n)
{
	FILE *f = fopen(path_of(name), "ab");
	for (size_t i = 0; i < n; i++)
		fputc(c, f);
	fclose(f);
}

static void put_zst(const char *name, const void *d, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	char *c = malloc(cap * 2);
	/* two frames: the reader must read across frame boundaries */
	size_t a = ZSTD_compress(c, cap, d, n / 2, 3);
	size_t b = ZSTD_compress(c + a, cap, (const char *)d + n / 2, n - n / 2, 3);
	put(name, c, a + b);
	free(c);
}

/* One zstd frame of unknown size whose header asks for a 2^wlog window, as
 * `zstd --long=N` writes it for a stream. */
static void put_zst_window(const char *name, const void *d, size_t n, int wlog)
{
	size_t cap = ZSTD_compressBound(n) + 64;
	char *c = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_outBuffer out = {c, cap, 0};
	ZSTD_inBuffer in = {d, n, 0};
	ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, wlog);
	ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue);
	in = (ZSTD_inBuffer){NULL, 0, 0};
	while (ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end))
		;
	put(name, c, out.pos);
	ZSTD_freeCCtx(cc);
	free(c);
}

/* Reads every record; returns count, texts joined by '|' in *all. */
static int read_all(const char *name, int mode, int skip_bad, dsv_buf *all,
		    uint64_t *bad)
{
	dsv_reader *r = NULL;
	dsv_reader_opts o = {.text_mode = mode, .skip_bad = skip_bad};
	dsv_record rec;
	int n = 0, rc;
	all->len = 0;
	if ((rc = dsv_reader_open(&r, name[0] == '/' || !strcmp(name, "-") ? name
							 : path_of(name),
				  &o)))
		return rc;
	while ((rc = dsv_reader_next(r, &rec)) == 1) {
		if (n)
			dsv_buf_append(all, "|", 1);
		dsv_buf_append(all, rec.text, rec.text_len);
		n++;
	}
	if (bad)
		*bad = dsv_reader_bad(r);
	dsv_reader_free(r);
	return rc < 0 ? rc : n;
}

static const char jl[] = "{\"text\": \"one\"}\n\n  \n{\"id\":2,\"text\":\"two\"}\r\n"
			 "{\"text\":\"thr\\u00e9e\"}";

static void test_compression(void)
{
	dsv_buf all = {0};
	put("a.jsonl", jl, sizeof jl - 1);
	put_gz("a.jsonl.gz", jl, sizeof jl - 1, 1);
	put_gz("m.jsonl.gz", jl, sizeof jl - 1, 2);
	put_zst("a.jsonl.zst", jl, sizeof jl - 1);
	const char *names[] = {"a.jsonl", "a.jsonl.gz", "m.jsonl.gz",
			       "a.jsonl.zst"};
	for (int i = 0; i < 4; i++) {
		int n = read_all(names[i], 0, 0, &all, NULL);
		CHECK(n == 3);
		CHECK(all.len == 14 &&
		      memcmp(all.buf, "one|two|thr\xc3\xa9" "e", 14) == 0);
		if (n != 3)
			printf("  %s: %d %s\n", names[i], n, dsv_error_last());
	}
	/* bytes_in counts what was read from disk: the compressed size */
	dsv_reader *r = NULL;
	dsv_record rec;
	CHECK_OK(dsv_reader_open(&r, path_of("a.jsonl.gz"), NULL));
	while (r && dsv_reader_next(r, &rec) == 1)
		;
	FILE *f = fopen(path_of("a.jsonl.gz"), "rb");
	fseek(f, 0, SEEK_END);
	CHECK(r && dsv_reader_bytes_in(r) == (uint64_t)ftell(f));
	fclose(f);
	dsv_reader_free(r);
	/* zstd may start with a skippable frame, as pzstd writes it */
	{
		char sk[4096] = "\x50\x2a\x4d\x18\x02\x00\x00\x00" "ab";
		size_t z = ZSTD_compress(sk + 10, sizeof sk - 10, jl,
					 sizeof jl - 1, 3);
		put("s.jsonl.zst", sk, 10 + z);
		CHECK(read_all("s.jsonl.zst", 0, 0, &all, NULL) == 3);
	}
	/* a window over zstd's 128 MiB default is refused, saying what to do */
	put_zst_window("w.jsonl.zst", jl, sizeof jl - 1, 28);
	CHECK(read_all("w.jsonl.zst", 0, 0, &all, NULL) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "window over 128 MiB") != NULL);
	/* truncated and corrupt compressed input are errors */
	put("t.jsonl.zst", "\x28\xb5\x2f\xfd\x00", 5);
	CHECK(read_all("t.jsonl.zst", 0, 0, &all, NULL) == DSV_ECORRUPT);
	put("t.jsonl.gz", "\x1f\x8b\x08\x00\x00\x00", 6);
	CHECK(read_all("t.jsonl.gz", 0, 0, &all, NULL) == DSV_ECORRUPT);
	CHECK(read_all("missing.jsonl", 0, 0, &all, NULL) == DSV_ENOTFOUND);
	CHECK(read_all("a.csv", 0, 0, &all, NULL) == DSV_EINVAL);
	dsv_buf_free(&all);
}

/* Zero bytes after the last gzip member (tape or block padding; gzip says
 * "trailing zero bytes ignored") end the input, also past a read block;
 * anything else there, or after a member, is an error. */
static void test_gzip_padding(void)
{
	dsv_buf all = {0};
	put_gz("z.jsonl.gz", jl, sizeof jl - 1, 2);
	append("z.jsonl.gz", 0, 512);
	CHECK(read_all("z.jsonl.gz", 0, 0, &all, NULL) == 3);
	append("z.jsonl.gz", 0, 5u << 20);
	CHECK(read_all("z.jsonl.gz", 0, 0, &all, NULL) == 3);
	append("z.jsonl.gz", 'x', 1);
	CHECK(read_all("z.jsonl.gz", 0, 0, &all, NULL) == DSV_ECORRUPT);
	CHECK(strstr(dsv_error_last(), "a non-zero byte at offset") != NULL);
	put_gz("g.jsonl.gz", jl, sizeof jl - 1, 1);
	append("g.jsonl.gz", 'x', 1);
	CHECK(read_all("g.jsonl.gz", 0, 0, &all, NULL) == DSV_ECORRUPT);
	dsv_buf_free(&all);
}

static void test_text_modes(void)
{
	static const char txt[] = "first line\r\nsecond\n\n   \nthird\n";
	dsv_buf all = {0};
	put("a.txt", txt, sizeof txt - 1);
	put_zst("a.txt.zst", txt, sizeof txt - 1);
	put_gz("a.md.gz", txt, sizeof txt - 1, 1);
	CHECK(read_all("a.txt", DSV_TEXT_LINE, 0, &all, NULL) == 3);
	CHECK(all.len == 23 && !memcmp(all.buf, "first line|second|third", 23));
	CHECK(read_all("a.txt.zst", DSV_TEXT_PARAGRAPH, 0, &all, NULL) == 2);
	CHECK(all.len == 23 && !memcmp(all.buf, "first line\nsecond|third", 23));
	CHECK(read_all("a.md.gz", DSV_TEXT_FILE, 0, &all, NULL) == 1);
	CHECK(all.len == sizeof txt - 1 && !memcmp(all.buf, txt, all.len));
	/* a file of only whitespace, newlines included, is no record */
	put("ws.txt", " \n\n\t\r\n", 6);
	CHECK(read_all("ws.txt", DSV_TEXT_FILE, 0, &all, NULL) == 0);
	/* plain records carry the PLAIN layout and no meta */
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_reader_opts o = {.text_mode = DSV_TEXT_LINE};
	CHECK_OK(dsv_reader_open(&r, path_of("a.txt"), &o));
	CHECK(r && dsv_reader_next(r, &rec) == 1 && rec.layout == DSV_LAYOUT_PLAIN &&
	      rec.meta_len == 0 && rec.line == 1);
	CHECK(r && dsv_reader_next(r, &rec) == 1 && rec.line == 2);
	CHECK(r && dsv_reader_next(r, &rec) == 1 && rec.line == 5);
	dsv_reader_free(r);
	/* invalid UTF-8 in text names its line and column */
	put("bad.txt", "ok\nab\xff\n", 7);
	CHECK(read_all("bad.txt", DSV_TEXT_LINE, 0, &all, NULL) == DSV_EINVAL);
	CHECK(strcmp(dsv_error_last(), "'") > 0 &&
	      strstr(dsv_error_last(), "bad.txt':2:3: invalid UTF-8"));
	CHECK(read_all("bad.txt", DSV_TEXT_FILE, 0, &all, NULL) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "bad.txt':2:3: invalid UTF-8") != NULL);
	uint64_t nbad = 0;
	CHECK(read_all("bad.txt", DSV_TEXT_LINE, 1, &all, &nbad) == 1 && nbad == 1);
	dsv_buf_free(&all);
}

/* Lines far longer than a read block, and many short ones around them. */
static void test_long_lines(void)
{
	size_t big = (9u << 20) + 123;
	dsv_buf in = {0}, all = {0};
	for (int k = 0; k < 3; k++) {
		dsv_buf_append(&in, "{\"text\":\"", 9);
		dsv_buf_grow(&in, big);
		for (size_t i = 0; i < big; i++)
			in.buf[in.len + i] = (char)('a' + (i + (size_t)k) % 26);
		in.len += big;
		dsv_buf_append(&in, "\"}\n", 3);
		for (int j = 0; j < 1000; j++)
			dsv_buf_append(&in, "{\"text\":\"x\"}\n", 13);
	}
	put("big.jsonl", in.buf, in.len);
	put_zst("big.jsonl.zst", in.buf, in.len);
	CHECK(read_all("big.jsonl", 0, 0, &all, NULL) == 3003);
	CHECK(all.len == 3 * big + 3000 + 3002);
	CHECK(read_all("big.jsonl.zst", 0, 0, &all, NULL) == 3003);
	CHECK(all.len == 3 * big + 3000 + 3002);
	dsv_buf_free(&in);
	dsv_buf_free(&all);
}

static void test_skip_bad(void)
{
	dsv_buf in = {0}, all = {0};
	char line[64];
	for (int i = 1; i <= 30; i++) {
		int n = i % 2 ? snprintf(line, sizeof line, "{\"text\":\"%d\"}\n", i)
			      : snprintf(line, sizeof line, "{\"text\":%d}\n", i);
		dsv_buf_append(&in, line, (size_t)n);
	}
	put("s.jsonl", in.buf, in.len);
	CHECK(read_all("s.jsonl", 0, 0, &all, NULL) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "s.jsonl':2:9: text field is not a "
				      "string") != NULL);
	dsv_reader *r = NULL;
	dsv_reader_opts o = {.text_field = "text", .skip_bad = 1};
	dsv_record rec;
	int n = 0;
	CHECK_OK(dsv_reader_open(&r, path_of("s.jsonl"), &o));
	while (r && dsv_reader_next(r, &rec) == 1) {
		CHECK(rec.line % 2 == 1);
		n++;
	}
	CHECK(n == 15 && dsv_reader_bad(r) == 15);
	const char *const *msgs;
	CHECK(dsv_reader_bad_list(r, &msgs) == 10);
	CHECK(strstr(msgs[0], "s.jsonl':2:9:") && strstr(msgs[9], "s.jsonl':20:9:"));
	dsv_reader_free(r);
	/* another text field name */
	put("f.jsonl", "{\"text\":1,\"content\":\"c\"}\n", 26);
	o.text_field = "content";
	o.skip_bad = 0;
	CHECK_OK(dsv_reader_open(&r, path_of("f.jsonl"), &o));
	CHECK(r && dsv_reader_next(r, &rec) == 1 && rec.text_len == 1 &&
	      rec.text[0] == 'c');
	dsv_reader_free(r);
	dsv_buf_free(&in);
	dsv_buf_free(&all);
}

static void test_stdin(void)
{
	int fds[2];
	if (pipe(fds)) {
		printf("SKIP test_stdin: no pipe\n");
		return;
	}
	int saved = dup(0);
	CHECK(write(fds[1], jl, sizeof jl - 1) == (ssize_t)(sizeof jl - 1));
	close(fds[1]);
	dup2(fds[0], 0);
	close(fds[0]);
	dsv_buf all = {0};
	CHECK(read_all("-", 0, 0, &all, NULL) == 3);
	dup2(saved, 0);
	close(saved);
	dsv_buf_free(&all);
}

int main(void)
{
	dir = test_tmpdir();
	RUN(test_compression);
	RUN(test_gzip_padding);
	RUN(test_text_modes);
	RUN(test_long_lines);
	RUN(test_skip_bad);
	RUN(test_stdin);
	if (test_rmdir(dir))
		return 1;
	free(dir);
	TEST_EXIT();
}
