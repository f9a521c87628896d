/* test_jsonl.c: the JSONL record codec. Every record of the real fixtures
 * and of generated Python-style lines must come back byte for byte from
 * (text, meta, layout); bad lines fail with file:line:col messages.
 */
#include "store/store.h"
#include "tests/unit/test.h"

#include <dirent.h>
#include <stdint.h>
#include <zlib.h>

/* Reads a whole (possibly gzipped) file; NULL if absent. */
static char *slurp(const char *path, size_t *n)
{
	gzFile f = gzopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap);
	int k;
	while ((k = gzread(f, b + len, (unsigned)(cap - len))) > 0) {
		len += (size_t)k;
		if (len == cap)
			b = realloc(b, cap *= 2);
	}
	gzclose(f);
	*n = len;
	return b;
}

static const char *fixtures(void)
{
	const char *f = getenv("DSV_FIXTURES");
	return f ? f : "../shared/fixtures";
}

/* Reads `name` with the reader and checks every record rebuilds its line. */
static void roundtrip_file(const char *path, size_t *nrec)
{
	size_t n = 0;
	char *raw = slurp(path, &n);
	CHECK(raw != NULL);
	if (!raw)
		return;
	/* line starts, to compare with record line numbers */
	size_t nl = 1, cap = 1024;
	size_t *starts = malloc(cap * sizeof *starts);
	starts[0] = 0;
	for (size_t i = 0; i < n; i++)
		if (raw[i] == '\n') {
			if (nl == cap)
				starts = realloc(starts, (cap *= 2) * sizeof *starts);
			starts[nl++] = i + 1;
		}
	dsv_reader *r = NULL;
	dsv_reader_opts o = {0};
	dsv_record rec;
	dsv_buf out = {0};
	int rc, bad = 0;
	CHECK_OK(dsv_reader_open(&r, path, &o));
	while (r && (rc = dsv_reader_next(r, &rec)) == 1) {
		(*nrec)++;
		CHECK(rec.line >= 1 && rec.line <= nl);
		const char *line = raw + starts[rec.line - 1];
		const char *e = memchr(line, '\n', (size_t)(raw + n - line));
		size_t ll = e ? (size_t)(e - line) : (size_t)(raw + n - line);
		out.len = 0;
		CHECK_OK(dsv_jsonl_format(&out, rec.text, rec.text_len, rec.meta,
					  rec.meta_len, rec.layout));
		CHECK(!(rec.layout & DSV_LAYOUT_NONCANON));
		if ((out.len != ll + 1 || memcmp(out.buf, line, ll)) &&
		    bad++ < 3)
			printf("  %s:%llu: line not rebuilt byte for byte\n",
			       path, (unsigned long long)rec.line),
				test_failed_checks++;
	}
	CHECK(rc == 0);
	if (rc < 0)
		printf("  %s\n", dsv_error_last());
	dsv_reader_free(r);
	dsv_buf_free(&out);
	free(starts);
	free(raw);
}

static void test_fixture_roundtrip(void)
{
	static const char *files[] = {
		"web/c4_en_olmo_sample.1000.jsonl.gz",
		"web/c4_en_train00000_head.1000.jsonl.gz",
		"web/dolma_cc_CC-MAIN-20190717121559-00140.697.jsonl.gz",
		"web/dolma_ccnet_cc_en_head-0091.10.jsonl.gz",
		"web/dolma_ccnet_cc_en_head-0174.10.jsonl.gz",
		"web/openwebtext_first1000.jsonl.gz",
		"web/web_mixed.jsonl.gz",
		"clean/gutenberg_21books.jsonl.gz",
		"quality/dclm_human_quality_train.jsonl.gz",
		"neardup/minhash_articles_2500.jsonl.gz",
		"neardup/dolma_same_site_docs.10.jsonl.gz",
	};
	char path[4096];
	size_t nrec = 0;
	snprintf(path, sizeof path, "%s/web", fixtures());
	DIR *d = opendir(path);
	if (!d) {
		printf("SKIP test_fixture_roundtrip: no fixtures at %s (set "
		       "DSV_FIXTURES)\n", fixtures());
		return;
	}
	closedir(d);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", fixtures(), files[i]);
		roundtrip_file(path, &nrec);
	}
	printf("  %zu fixture records rebuilt\n", nrec);
	CHECK(nrec == 1000 + 1000 + 697 + 20 + 1000 + 3717 + 21 + 300 + 2510);
}

/* Parses one line from memory; 1 with *rec, or the error code. */
static int parse1(dsv_reader **r, const char *line, dsv_record *rec)
{
	dsv_reader_opts o = {0};
	dsv_reader_free(*r);
	*r = NULL;
	int rc = dsv_reader_open_mem(r, "t.jsonl", line, strlen(line), &o);
	if (rc)
		return rc;
	return dsv_reader_next(*r, rec);
}

/* line must rebuild exactly, decode to `text` and carry `flags`. */
static void expect_exact(const char *line, const char *text, size_t tlen,
			 uint32_t flags)
{
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_buf out = {0};
	int rc = parse1(&r, line, &rec);
	CHECK(rc == 1);
	if (rc != 1) {
		printf("  %s: %s\n", line, dsv_error_last());
		dsv_reader_free(r);
		return;
	}
	CHECK(rec.text_len == tlen && memcmp(rec.text, text, tlen) == 0);
	CHECK((rec.layout & ~DSV_LAYOUT_OFFSET_MASK) == flags);
	CHECK_OK(dsv_jsonl_format(&out, rec.text, rec.text_len, rec.meta,
				  rec.meta_len, rec.layout));
	size_t ll = strcspn(line, "\n");
	CHECK(out.len == ll + 1 && memcmp(out.buf, line, ll) == 0);
	if (out.len != ll + 1 || memcmp(out.buf, line, ll))
		printf("  want %.*s\n  got  %.*s", (int)ll, line, (int)out.len,
		       out.buf);
	dsv_buf_free(&out);
	dsv_reader_free(r);
}

/* The three lines Python 3 writes for the same text with json.dumps
 * (default; ensure_ascii=False; compact separators). */
static void test_python_styles(void)
{
	static const char t[] = "caf\xc3\xa9 \xf0\x9f\x98\x80 a/b \x00\x01\x1f\x7f"
				" \b\f\n\r\t \"q\" \\ \xe2\x80\xa8 end";
	size_t tl = sizeof t - 1;
	expect_exact("{\"id\": 1, \"text\": \"caf\\u00e9 \\ud83d\\ude00 a/b "
		     "\\u0000\\u0001\\u001f\\u007f \\b\\f\\n\\r\\t \\\"q\\\" "
		     "\\\\ \\u2028 end\", \"n\": [15000000000.0, null]}\n",
		     t, tl, DSV_LAYOUT_ASCII);
	expect_exact("{\"text\": \"caf\xc3\xa9 \xf0\x9f\x98\x80 a/b \\u0000"
		     "\\u0001\\u001f\x7f \\b\\f\\n\\r\\t \\\"q\\\" \\\\ "
		     "\xe2\x80\xa8 end\"}\n", t, tl, 0);
	expect_exact("{\"text\":\"caf\\u00e9 \\ud83d\\ude00 a/b \\u0000\\u0001"
		     "\\u001f\\u007f \\b\\f\\n\\r\\t \\\"q\\\" \\\\ \\u2028 "
		     "end\"}", t, tl, DSV_LAYOUT_ASCII);
	/* escaped slashes (PHP, some Java writers), CRLF line end kept */
	expect_exact("{\"url\":\"http:\\/\\/x\",\"text\":\"a\\/b\\/\"}\r\n",
		     "a/b/", 4, DSV_LAYOUT_SLASH);
	/* text key not first, nested meta, odd spacing, empty text */
	expect_exact("  { \"m\" : {\"a\":[1,{\"text\":2}]} ,\t\"text\" : \"\" }  ",
		     "", 0, 0);
	/* an escaped key still names the text field */
	expect_exact("{\"te\\u0078t\": \"x\"}", "x", 1, 0);
}

/* An independent, plain escaper in the style of Python's json.dumps. */
static size_t py_escape(char *o, const unsigned char *t, size_t n, int ascii,
			int slash)
{
	char *s = o;
	for (size_t i = 0; i < n; i++) {
		unsigned c = t[i];
		if (c == '"' || c == '\\' || (slash && c == '/')) {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			o += sprintf(o, "\\n");
		} else if (c == '\r') {
			o += sprintf(o, "\\r");
		} else if (c == '\t') {
			o += sprintf(o, "\\t");
		} else if (c == '\b') {
			o += sprintf(o, "\\b");
		} else if (c == '\f') {
			o += sprintf(o, "\\f");
		} else if (c < 0x20 || (ascii && c == 0x7f)) {
			o += sprintf(o, "\\u%04x", c);
		} else if (ascii && c >= 0x80) {
			unsigned cp;
			int k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			cp = c & (k == 4 ? 7 : k == 3 ? 15 : 31);
			for (int j = 1; j < k; j++)
				cp = cp << 6 | (t[i + j] & 63);
			i += (size_t)k - 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				o += sprintf(o, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
					     0xDC00 + (cp & 0x3FF));
			} else {
				o += sprintf(o, "\\u%04x", cp);
			}
		} else {
			*o++ = (char)c;
		}
	}
	return (size_t)(o - s);
}

static size_t rnd_text(unsigned char *t, size_t max, unsigned *seed)
{
	static const char *const pieces[] = {
		"a", "b", " ", "/", "\"", "\\", "\n", "\t", "\r", "\b", "\f",
		"\x01", "\x1f", "\x7f", "\x00", "\xc3\xa9", "\xe2\x80\xa8",
		"\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
		"\xee\x80\x80", "hello world ", "<&>"};
	static const size_t lens[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
				      1, 1, 2, 3, 3, 4, 4, 3, 12, 3};
	size_t n = 0, k = (size_t)(rand_r(seed) % 40);
	for (size_t i = 0; i < k; i++) {
		size_t p = (size_t)rand_r(seed) % (sizeof lens / sizeof lens[0]);
		if (n + lens[p] > max)
			break;
		memcpy(t + n, pieces[p], lens[p]);
		n += lens[p];
	}
	return n;
}

static void test_generated(void)
{
	unsigned seed = (unsigned)test_seed();
	unsigned char t[256];
	char esc[256 * 12], line[256 * 12 + 128];
	for (int i = 0; i < 20000; i++) {
		size_t n = rnd_text(t, sizeof t, &seed);
		int ascii = rand_r(&seed) & 1, slash = rand_r(&seed) & 1;
		size_t el = py_escape(esc, t, n, ascii, slash);
		int ll = snprintf(line, sizeof line,
				  "{\"id\": %d, \"text\": \"%.*s\", \"u\": \"%s\"}\n",
				  i, (int)el, esc, slash ? "a\\/b" : "a/b");
		(void)ll;
		uint32_t f = 0;
		int has_na = 0, has_sl = 0;
		for (size_t j = 0; j < n; j++) {
			has_na |= t[j] >= 0x7f;
			has_sl |= t[j] == '/';
		}
		if (ascii && has_na)
			f |= DSV_LAYOUT_ASCII;
		if (slash && has_sl)
			f |= DSV_LAYOUT_SLASH;
		int before = test_failed_checks;
		expect_exact(line, (char *)t, n, f);
		if (test_failed_checks != before) {
			printf("  case %d: %s", i, line);
			break;
		}
	}
}

/* Escapes no style writes: the record is kept, flagged non-canonical, and
 * export writes the canonical form, which then reads back as canonical. */
static void test_noncanonical(void)
{
	static const struct {
		const char *line, *text, *canon;
	} cases[] = {
		{"{\"text\":\"\\u00E9\"}", "\xc3\xa9", "{\"text\":\"\\u00e9\"}\n"},
		{"{\"text\":\"\\u0041\"}", "A", "{\"text\":\"A\"}\n"},
		{"{\"text\":\"\\u000a\"}", "\n", "{\"text\":\"\\n\"}\n"},
		{"{\"text\":\"\\u00e9\xc3\xa9\"}", "\xc3\xa9\xc3\xa9",
		 "{\"text\":\"\\u00e9\\u00e9\"}\n"},
		{"{\"text\":\"\\u00e9\x7f\"}", "\xc3\xa9\x7f",
		 "{\"text\":\"\\u00e9\\u007f\"}\n"},
		{"{\"text\":\"\\/ /\"}", "/ /", "{\"text\":\"\\/ \\/\"}\n"},
		{"{\"text\":\"\\u007f\"}", "\x7f", "{\"text\":\"\\u007f\"}\n"},
		{"{\"text\":\"\\u003c\"}", "<", "{\"text\":\"<\"}\n"},
	};
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_buf out = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = parse1(&r, cases[i].line, &rec);
		CHECK(rc == 1);
		if (rc != 1)
			continue;
		CHECK(rec.text_len == strlen(cases[i].text) &&
		      memcmp(rec.text, cases[i].text, rec.text_len) == 0);
		int want_nc = i != 6; /* \u007f alone is the ASCII style */
		CHECK(!!(rec.layout & DSV_LAYOUT_NONCANON) == want_nc);
		out.len = 0;
		CHECK_OK(dsv_jsonl_format(&out, rec.text, rec.text_len,
					  rec.meta, rec.meta_len, rec.layout));
		CHECK(out.len == strlen(cases[i].canon) &&
		      memcmp(out.buf, cases[i].canon, out.len) == 0);
		if (out.len != strlen(cases[i].canon) ||
		    memcmp(out.buf, cases[i].canon, out.len))
			printf("  case %zu: got %.*s", i, (int)out.len, out.buf);
	}
	dsv_buf_free(&out);
	dsv_reader_free(r);
}

static void test_errors(void)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{"{\"text\":\"a\"}\n{\"text\":\"b\" \"x\":1}\n",
		 "'t.jsonl':2:13: expected ',' or '}'"},
		{"{\"id\":1}", "'t.jsonl':1:1: no \"text\" field (--text-field names the "
		 "field that holds the text)"},
		{"{\"text\":12}", "'t.jsonl':1:9: text field is not a string"},
		{"{\"text\":\"a\xff\"}", "'t.jsonl':1:11: invalid UTF-8"},
		{"{\"text\":\"a\xed\xa0\x80\"}", "'t.jsonl':1:11: invalid UTF-8"},
		{"{\"text\":\"\\ud800x\"}",
		 "'t.jsonl':1:10: lone surrogate in \\u escape"},
		{"{\"text\":\"\\udc00\\ud800\"}",
		 "'t.jsonl':1:10: lone surrogate in \\u escape"},
		{"{\"text\":\"a\",\"text\":\"b\"}",
		 "'t.jsonl':1:13: duplicate text field"},
		{"{\"text\":\"a\"} x", "'t.jsonl':1:14: expected end of line "
				     "after the object"},
		{"{\"text\":\"a\"}\n[1]", "'t.jsonl':2:1: expected '{'"},
		{"[{\"text\":\"a\"}]", "'t.jsonl':1:1: a JSON array: records "
		 "are read as JSON Lines, one object a line (jq -c '.[]' "
		 "turns the one into the other)"},
		{"\xef\xbb\xbf{\"text\":\"a\"}",
		 "'t.jsonl':1:1: byte order mark (U+FEFF): JSONL has none"},
		{"{\"text\":\"a", "'t.jsonl':1:11: unterminated string"},
		{"{\"text\":\"a\tb\"}",
		 "'t.jsonl':1:11: control character in string"},
		{"{\"text\":\"a\",\"n\":01}", "'t.jsonl':1:18: expected ',' or '}'"},
		{"{\"text\":\"a\",\"n\":1.}", "'t.jsonl':1:19: invalid number"},
		{"{\"text\":\"a\",\"n\":-}", "'t.jsonl':1:18: invalid number"},
		{"{\"text\":\"a\",\"n\":tru}", "'t.jsonl':1:17: invalid literal"},
		{"{\"text\":\"a\",}", "'t.jsonl':1:13: expected '\"' (a key)"},
		{"{\"text\":\"a\\x\"}", "'t.jsonl':1:11: invalid escape in string"},
		{"{\"text\":\"\\u12g4\"}", "'t.jsonl':1:10: invalid \\u escape"},
		{"{\"text\":\"a\",\"m\":[1 2]}", "'t.jsonl':1:20: expected ',' or ']'"},
		{"{\"text\"  \"a\"}", "'t.jsonl':1:10: expected ':'"},
		{"{\"k\":\"\xc0\xaf\",\"text\":\"a\"}", "'t.jsonl':1:7: invalid UTF-8"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dsv_reader *r = NULL;
		dsv_record rec;
		dsv_reader_opts o = {0};
		int rc;
		CHECK_OK(dsv_reader_open_mem(&r, "t.jsonl", cases[i].in,
					     strlen(cases[i].in), &o));
		while ((rc = dsv_reader_next(r, &rec)) == 1)
			;
		CHECK(rc == DSV_EINVAL);
		CHECK(strcmp(dsv_error_last(), cases[i].msg) == 0);
		if (strcmp(dsv_error_last(), cases[i].msg))
			printf("  case %zu: want %s\n           got  %s\n", i,
			       cases[i].msg, dsv_error_last());
		dsv_reader_free(r);
	}
}

/* Deep nesting: accepted up to jansson's limit, rejected past it. */
static void test_depth(void)
{
	for (int extra = 0; extra < 2; extra++) {
		int n = 2046 + extra; /* arrays inside {"m": ...} plus a scalar */
		size_t len = (size_t)n * 2 + 64;
		char *s = malloc(len), *p = s;
		p += sprintf(p, "{\"text\":\"\",\"m\":");
		for (int i = 0; i < n; i++)
			*p++ = '[';
		*p++ = '1';
		for (int i = 0; i < n; i++)
			*p++ = ']';
		*p++ = '}';
		dsv_reader *r = NULL;
		dsv_record rec;
		dsv_reader_opts o = {0};
		CHECK_OK(dsv_reader_open_mem(&r, "d.jsonl", s, (size_t)(p - s),
					     &o));
		int rc = dsv_reader_next(r, &rec);
		CHECK(rc == (extra ? DSV_EINVAL : 1));
		dsv_reader_free(r);
		free(s);
	}
}

static void meta_is(const char *line, const char *want)
{
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_buf out = {0};
	if (parse1(&r, line, &rec) == 1)
		CHECK_OK(dsv_jsonl_meta(&out, rec.meta, rec.meta_len, rec.layout));
	CHECK(out.len == strlen(want) && memcmp(out.buf, want, out.len) == 0);
	if (out.len != strlen(want) || memcmp(out.buf, want, out.len))
		printf("  %s: got %.*s\n", line, (int)out.len, out.buf);
	dsv_buf_free(&out);
	dsv_reader_free(r);
}

static void test_meta(void)
{
	meta_is("{\"id\": \"x\", \"text\": \"abc\", \"url\": \"y\"}",
		"{\"id\": \"x\", \"url\": \"y\"}");
	meta_is("{\"text\": \"abc\", \"url\": \"y\"}", "{\"url\": \"y\"}");
	meta_is("{\"id\": [1, {\"text\": \"\"}], \"text\":\"abc\"}\r",
		"{\"id\": [1, {\"text\": \"\"}]}");
	meta_is("{\"text\":\"abc\"}", "{}");
	meta_is(" { \"text\" : \"a\" } ", "{}");
	meta_is("{\"a\":\"}\\\"\",\"text\":\"abc\",\"b\":{}}",
		"{\"a\":\"}\\\"\",\"b\":{}}");
	dsv_buf out = {0};
	CHECK_OK(dsv_jsonl_meta(&out, "", 0, DSV_LAYOUT_PLAIN));
	CHECK(out.len == 2 && memcmp(out.buf, "{}", 2) == 0);
	out.len = 0;
	CHECK_OK(dsv_jsonl_format(&out, "a\"\n\xc3\xa9", 5, "", 0,
				  DSV_LAYOUT_PLAIN));
	CHECK(out.len == 19 && memcmp(out.buf, "{\"text\":\"a\\\"\\n\xc3\xa9\"}\n",
				      19) == 0);
	/* a layout that does not fit its meta is refused, not overrun */
	out.len = 0;
	CHECK(dsv_jsonl_format(&out, "a", 1, "{}", 2, 40) == DSV_ECORRUPT);
	dsv_buf_free(&out);
}

/* Every input kept in tests/fuzz/reject/jsonl must fail. */
static void test_rejects(void)
{
	const char *dir = "tests/fuzz/reject/jsonl";
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d) {
		printf("SKIP test_rejects: no %s (run from the repo root)\n", dir);
		return;
	}
	while ((e = readdir(d))) {
		char path[4096];
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		char *b = malloc(1 << 20);
		len = f ? fread(b, 1, 1 << 20, f) : 0;
		if (f)
			fclose(f);
		dsv_reader *r = NULL;
		dsv_record rec;
		dsv_reader_opts o = {0};
		int rc = dsv_reader_open_mem(&r, "r.jsonl", b, len, &o);
		while (rc >= 0 && (rc = dsv_reader_next(r, &rec)) == 1)
			;
		CHECK(rc < 0);
		if (rc >= 0)
			printf("  %s was accepted\n", path);
		dsv_reader_free(r);
		free(b);
		n++;
	}
	closedir(d);
	CHECK(n > 0);
}

int main(void)
{
	RUN(test_fixture_roundtrip);
	RUN(test_python_styles);
	RUN(test_generated);
	RUN(test_noncanonical);
	RUN(test_errors);
	RUN(test_depth);
	RUN(test_meta);
	RUN(test_rejects);
	TEST_EXIT();
}
