/* kernel_docstats.c: tests of the per-document statistics: the word
 * splitter, hand-checked values of datatrove's quantities, edge cases, thread
 * independence, and the CUDA basic counts and full statistics against the
 * CPU (byte-identical) on random bytes, random word soup and
 * fixtures/demo/shakespeare.txt, where a device exists. Links only
 * libdsvkernels.a.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/filters.h"
/* The shared per-document source, for the device scratch bound below. */
#include "kernels/docstats_full_impl.h"
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"

enum { ALL = DSV_DOCSTATS_ALL }; /* every statistic */
#include "tests/unit/kernel_syms.h"

static struct dsv_docstats one(const char *s)
{
	struct dsv_docstats d;
	uint64_t off[2] = {0, strlen(s)};
	memset(&d, 0xAB, sizeof d);
	CHECK_OK(docstats_cpu((const uint8_t *)s, off, 1, ALL, &d, 1));
	return d;
}

struct wl {
	char buf[512];
	const uint8_t *s;
};

static void on_w(size_t a, size_t n, void *arg)
{
	struct wl *w = arg;
	size_t l = strlen(w->buf);
	snprintf(w->buf + l, sizeof w->buf - l, "%s%.*s", l ? "|" : "", (int)n,
		 (const char *)w->s + a);
}

static void expect_words(const char *s, const char *want)
{
	struct wl w = {{0}, (const uint8_t *)s};
	dsv_docstats_words((const uint8_t *)s, strlen(s), on_w, &w);
	CHECK(!strcmp(w.buf, want));
	if (strcmp(w.buf, want))
		printf("  words('%s') = '%s', want '%s'\n", s, w.buf, want);
}

/* Splits as spaCy's blank English tokenizer does on these inputs. */
static void test_word_splitter(void)
{
	expect_words("Hello, world!", "Hello|,|world|!");
	expect_words("(see: the U.S. e.g. Mr. Smith's dog)",
		     "(|see|:|the|U.S.|e.g.|Mr.|Smith|'s|dog|)");
	expect_words("I don't know... well-known", "I|do|n't|know|...|well|-|known");
	expect_words("\"Quoted.\" 3.14 $5 50%", "\"|Quoted|.|\"|3.14|$|5|50|%");
	expect_words("visit https://example.com/a?b=1.", "visit|https://example.com/a?b=1|.");
	expect_words("  ", "");
	expect_words("日本語のテキスト。", "日本語のテキスト|。");
}

static void on_count(size_t a, size_t n, void *arg)
{
	(*(size_t *)arg)++;
}

/* Cases dsv once split otherwise than spaCy 3.8 (found on the web fixtures
 * and random strings by tests/ref/spacy_words.sh); the expected words are
 * spaCy's blank English tokenizer's. */
static void test_word_splitter_spacy(void)
{
	/* spaCy's ALPHA, not isalpha: no Armenian or Georgian, Persian digits */
	expect_words("\u054e\u056b\u0584\u056b\u0562\u0561\u057c\u0561\u0580\u0561\u0576-\u056b\u0581",
		     "\u054e\u056b\u0584\u056b\u0562\u0561\u057c\u0561\u0580\u0561\u0576-\u056b\u0581");
	expect_words("\u10d0\u10e8\u10e8-\u10e8\u10d8, ok",
		     "\u10d0\u10e8\u10e8-\u10e8\u10d8|,|ok");
	expect_words("\u06f7\u06f2\u06f8/sq", "\u06f7\u06f2\u06f8|/|sq");
	/* ALPHA_LOWER and ALPHA_UPPER before and after '.' */
	expect_words("\u0430\u045e. \u0417", "\u0430\u045e.|\u0417");
	expect_words("c\u1ea3. \u0110i", "c\u1ea3|.|\u0110i");
	expect_words("competen\u021b\u01ce. Osho", "competen\u021b\u01ce|.|Osho");
	expect_words("\uc774\ub974\ub800\ub2e4.\uc6d4", "\uc774\ub974\ub800\ub2e4|.|\uc6d4");
	expect_words("\u30ba\u3001S. H.", "\u30ba\u3001S|.|H.");
	expect_words("shayari|. next", "shayari||.|next");
	/* hyphens in spaCy's order, suffixes, units and currency */
	expect_words("\u4e16\u754c\u2014\u2014\u8bfa a\u2014\u2014b",
		     "\u4e16\u754c|\u2014\u2014|\u8bfa|a|\u2014\u2014|b");
	expect_words("bet\u2026\u2026\u2026!!", "bet|\u2026|\u2026\u2026|!|!");
	expect_words("2010\u0433. 7\u043c\u043c 5km\u00b2 3kmh",
		     "2010|\u0433|.|7|\u043c\u043c|5|km\u00b2|3|kmh");
	expect_words("5US$ 3C$", "5|US$|3|C$");
	/* the special-case matcher: only cases with an affix, the longest
	 * then the first run, runs across one space counted */
	expect_words("activity id. im. M.", "activity|i|d.|i|m.|M.");
	expect_words("'''''Galactica", "''|'|'|'|Galactica");
	expect_words("b:) :)x", "b|:)|:|)|x");
	expect_words("x :) )x", "x|:)|)|x");
	expect_words("'' ''x", "''|''|x");
	expect_words("(\u256f\u00b0\u25a1\u00b0\uff09\u256f\ufe35\u253b\u2501\u253b)",
		     "(\u256f\u00b0\u25a1\u00b0\uff09\u256f\ufe35\u253b\u2501\u253b|)");
	/* URLs: a label of 64 characters at most, public IPv4 hosts, a
	 * user part taking the scheme */
	expect_words("http://8.8.8.8:53/x 10.0.0.1/x",
		     "http://8.8.8.8:53/x|10.0.0.1|/|x");
	expect_words("ab://@example.com/a", "ab://@example.com/a");
	expect_words("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z-a-b-c-d-e-f-8.jpg.",
		     "a|-|b|-|c|-|d|-|e|-|f|-|g|-|h|-|i|-|j|-|k|-|l|-|m|-|n|-|o|-|"
		     "p|-|q|-|r|-|s|-|t|-|u|-|v|-|w|-|x|-|y|-|z|-|a|-|b|-|c|-|d|-|"
		     "e|-|f-8.jpg|.");
	/* any number of prefixes and suffixes: "Name:" and 70 '_' are 72
	 * words, "wow", 70 '!' and '?' too */
	char buf[80];
	size_t n = 0;
	memcpy(buf, "Name:", 5);
	memset(buf + 5, '_', 70);
	dsv_docstats_words((const uint8_t *)buf, 75, on_count, &n);
	CHECK(n == 72);
	memcpy(buf, "wow", 3);
	memset(buf + 3, '!', 70);
	buf[73] = '?';
	n = 0;
	dsv_docstats_words((const uint8_t *)buf, 74, on_count, &n);
	CHECK(n == 72);
	/* the alpha-word count is Python's isalpha's: Armenian and Thaana
	 * words are alphabetic though outside spaCy's ALPHA */
	CHECK(one("\u054e\u056b\u0584 \u078b\u07a8\u0788\u07ac\u0780\u07a8 7").alpha_words == 2);
}

static void test_gopher_quality_counts(void)
{
	struct dsv_docstats d = one("The cat and the dog. # tag...\n"
				    "- bullet one\n  • bullet two…\n");
	/* words: The cat and the dog . # tag ... - bullet one • bullet two … */
	CHECK(d.words == 16);
	CHECK(d.nonsym_words == 11); /* . # ... - … are symbols; • is not */
	CHECK(d.hash_chars == 1 && d.ellipsis == 2);
	CHECK(d.lines == 3 && d.bullet_lines == 2 && d.ellipsis_lines == 2);
	CHECK(d.stop_mask == ((1u << 0) | (1u << 4))); /* the, and */
	CHECK(d.alpha_words == 10);
	CHECK(d.newlines == 3 && d.chars == (uint64_t)(63 - 4));
}

static void test_repetition_counts(void)
{
	struct dsv_docstats d = one("a b c\n\na b c\n\nx y\nx y\n");
	/* paragraphs of strip(): "a b c", "a b c", "x y\nx y" */
	CHECK(d.paragraphs == 3 && d.dup_paragraphs == 1 &&
	      d.dup_paragraph_chars == 5);
	/* re.split("\n+"): a b c, a b c, x y, x y, "" */
	CHECK(d.line_parts == 5 && d.dup_lines == 2 && d.dup_line_chars == 8);
	/* words a b c a b c x y x y: top 2-gram "a b" (first of the count-2
	 * grams "a b", "b c", "x y"), 3 chars * 2 */
	CHECK(d.top_ngram_chars[0] == 6);
	CHECK(d.top_ngram_chars[1] == 10); /* "a b c" x2 */
	d = one("one two three four five one two three four five six");
	CHECK(d.dup_ngram_chars[0] == 19); /* "onetwothreefourfive" */
	CHECK(d.dup_ngram_chars[1] == 0);
}

static void test_fineweb_c4_counts(void)
{
	struct dsv_docstats d =
		one("This is a sentence. Another one here!\nshort\n\n"
		    "Please enable JavaScript in your browser.\n"
		    "No terminal punctuation here\nWe use cookies on this site.\n");
	CHECK(d.fw_lines == 5 && d.fw_punct_lines == 3 && d.fw_short_lines == 3);
	CHECK(d.c4_lines == 6 && d.c4_kept_lines == 1 && d.c4_sentences == 2);
	CHECK(d.c4_javascript_lines == 1 && d.c4_policy_lines == 1);
	CHECK(d.c4_few_words_lines == 0 && d.c4_no_punct_lines == 3);
	CHECK(d.c4_drop == 0);
	d = one("Some code here is fine.\nvar x = {a: 1}; is bad.\n");
	CHECK(d.c4_drop == 2);
	d = one("Lorem ipsum dolor sit amet.");
	CHECK(d.c4_drop == 1);
	d = one("a\na\nb\n");
	CHECK(d.fw_dup_line_chars == 1);
}

static void test_edge_cases(void)
{
	struct dsv_docstats d = one("");
	CHECK(d.words == 0 && d.lines == 0 && d.chars == 0 && d.paragraphs == 1);
	CHECK(d.line_parts == 1 && d.fw_lines == 0 && d.top_ngram_chars[0] == 0);
	d = one("word");
	CHECK(d.words == 1 && d.nonsym_word_chars == 4 && d.lines == 1);
	d = one("Ünïcödé wörds ½ \xff\xfe");
	CHECK(d.words == 4 && d.chars == 18 && d.alpha_words == 2);
	/* a very long document: 2 MB of one repeated line */
	size_t n = 2 << 20;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = "the same line.\n"[i % 15];
	big[n] = 0;
	d = one(big);
	CHECK(d.lines == (n + 14) / 15 && d.dup_lines == d.line_parts - 2);
	free(big);
	uint64_t off[3] = {0, 4, 2};
	struct dsv_docstats o[2];
	CHECK(docstats_cpu((const uint8_t *)"abcd", off, 2, ALL, o,
			   1) == DSV_KERNEL_EINVAL);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A filter computes only the groups its rule sets read: each set decides
 * every document as on all the statistics, and no group asked for leaves
 * the whole-text counts alone. `all` holds every group of the batch. */
static void check_groups(const uint8_t *text, const uint64_t *off, size_t nd,
			 const struct dsv_docstats *all)
{
	struct dsv_filter_params p;
	struct dsv_docstats *part = calloc(nd, sizeof *part), base;
	dsv_filter_params_default(&p);
	for (int set = 0; set < DSV_FILTER_NSETS; set++) {
		CHECK_OK(docstats_cpu(text, off, nd, dsv_filter_groups(set),
				      part, 2));
		size_t differ = 0;
		for (size_t i = 0; i < nd; i++)
			differ += dsv_filter_apply(set, &part[i], &p) !=
				  dsv_filter_apply(set, &all[i], &p);
		CHECK(differ == 0);
	}
	CHECK_OK(docstats_cpu(text, off, nd, 0, part, 2));
	for (size_t i = 0; i < nd; i++) {
		memset(&base, 0, sizeof base);
		memcpy(&base, &all[i], offsetof(struct dsv_docstats, words));
		CHECK(!memcmp(&part[i], &base, sizeof base));
	}
	free(part);
}

static void test_threads_and_cuda(void)
{
	uint64_t rs = test_seed() | 1;
	const char *alphabet[] = {"the ", "cat ", ". ", "\n", "...", "#", "é",
				  "\xe2\x80\xa6", "{", "  ", "word", "\n\n", "-",
				  "\xff", "Ж", "!"};
	size_t nd = 500, cap = 1 << 22, len = 0;
	uint8_t *text = malloc(cap);
	uint64_t *off = malloc((nd + 1) * 8);
	off[0] = 0;
	for (size_t i = 0; i < nd; i++) {
		size_t parts = rnd(&rs) % 800;
		for (size_t k = 0; k < parts; k++) {
			const char *p = alphabet[rnd(&rs) % 16];
			memcpy(text + len, p, strlen(p));
			len += strlen(p);
		}
		off[i + 1] = len;
	}
	struct dsv_docstats *a = calloc(nd, sizeof *a), *b = calloc(nd, sizeof *b);
	CHECK_OK(docstats_cpu(text, off, nd, ALL, a, 1));
	CHECK_OK(docstats_cpu(text, off, nd, ALL, b, 2));
	CHECK(!memcmp(a, b, nd * sizeof *a));
	check_groups(text, off, nd, a);
	struct dsv_docstats_basic *c = calloc(nd, sizeof *c),
				  *g = calloc(nd, sizeof *g);
	CHECK_OK(docstats_basic_cpu(text, off, nd, c, 2));
	for (size_t i = 0; i < nd; i++)
		CHECK(c[i].chars == a[i].chars && c[i].ellipsis == a[i].ellipsis &&
		      c[i].ws_words == a[i].ws_words);
	if (dsv_device_count() > 0) {
		CHECK_OK(docstats_basic_cuda(text, off, nd, g));
		int bad = 0;
		for (size_t i = 0; i < nd; i++)
			if (memcmp(&c[i], &g[i], sizeof *c) && bad++ < 5)
				printf("  doc %zu: cpu chars %llu, cuda %llu\n", i,
				       (unsigned long long)c[i].chars,
				       (unsigned long long)g[i].chars);
		CHECK(bad == 0);
		printf("  result basic counts byte-identical on %s\n",
		       dsv_device_name());
	} else {
		SKIP(test_docstats_basic_cuda, "no CUDA device");
	}
	free(a);
	free(b);
	free(c);
	free(g);
	free(text);
	free(off);
}

/* A batch of documents built by the caller, for the CUDA comparison. */
struct batch {
	uint8_t *text;
	uint64_t *off;
	size_t nd, len, cap;
};

static void batch_add(struct batch *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = 2 * (b->len + n);
		b->text = realloc(b->text, b->cap);
	}
	memcpy(b->text + b->len, p, n);
	b->len += n;
}

static void batch_end_doc(struct batch *b)
{
	b->off = realloc(b->off, (b->nd + 2) * sizeof *b->off);
	b->off[0] = 0;
	b->off[++b->nd] = b->len;
}

/* Random bytes, biased towards the ones the rules look at, so that invalid
 * and truncated UTF-8 sits next to line breaks and punctuation. */
static void random_bytes(struct batch *b, uint64_t *rs, size_t nd)
{
	static const uint8_t hot[] = {'\n', '\r', ' ', '.', '-', '#', '{', '[',
				      ']', '\'', '"', 0xE2, 0x80, 0xA6, 0xC2,
				      0x85, 0xFF, 0x0B, 0x1E, 'a', 'A', '1'};
	for (size_t d = 0; d < nd; d++) {
		size_t n = rnd(rs) % (d % 10 ? 300 : 5000);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd(rs);
			uint8_t c = r % 3 ? hot[(r >> 8) % sizeof hot]
					  : (uint8_t)(r >> 16);
			batch_add(b, &c, 1);
		}
		batch_end_doc(b);
	}
}

/* Word soup: tokens that exercise special cases, prefixes, suffixes,
 * infixes, URLs, repetition and every C4 and FineWeb line rule. */
static void random_words(struct batch *b, uint64_t *rs, size_t nd)
{
	static const char *const tok[] = {
		"the ", "cat ", "and ", "with ", ". ", "\n", "\n\n", "...",
		"\xe2\x80\xa6", "#", "{", "}", "  ", "word", "-", "- ", "\xe2\x80\xa2 ",
		"\xff", "\xd0\x96", "!", "?", "don't ", "U.S. ", "Calif. ",
		"e.g. ", "Smith's ", "https://example.com/a?b=1 ", "me@mail.org ",
		"[1]", "[edit]", "[citation needed]", "lorem ipsum ",
		"javascript ", "privacy policy ", "3.14 ", "$5 ", "50% ", "10km ",
		"well-known ", "a--b ", "x+y ", "(see) ", "\"q\" ", ":) ", "\r\n",
		"\xe2\x80\xa8", "\xc2\x85", "\t", "\xe3\x80\x82", "日本語 ", "Ünï ",
		"\xe2\x80\x99s ", "A.B ", "a.B ", "°C. ", "\xf0\x9f\x98\x80 "};
	size_t ntok = sizeof tok / sizeof *tok;
	for (size_t d = 0; d < nd; d++) {
		size_t parts = rnd(rs) % (d % 16 ? 200 : 3000);
		for (size_t k = 0; k < parts; k++) {
			const char *t = tok[rnd(rs) % ntok];
			batch_add(b, t, strlen(t));
		}
		batch_end_doc(b);
	}
}

/* shakespeare.txt cut into documents of 1 to 40 paragraphs. */
static int real_text(struct batch *b, uint64_t *rs)
{
	FILE *f = fopen("fixtures/demo/shakespeare.txt", "rb");
	if (!f)
		return 0;
	char line[4096];
	size_t paras = 0, want = 1 + rnd(rs) % 40;
	int blank = 0;
	while (fgets(line, sizeof line, f)) {
		int is_blank = line[0] == '\n' || (line[0] == '\r' && line[1] == '\n');
		if (is_blank && !blank && ++paras == want) {
			batch_end_doc(b);
			paras = 0;
			want = 1 + rnd(rs) % 40;
			blank = 1;
			continue;
		}
		blank = is_blank;
		batch_add(b, line, strlen(line));
	}
	fclose(f);
	batch_end_doc(b);
	return 1;
}

/* docstats_cuda against docstats_cpu on one batch: every field, every
 * document; the first mismatches are printed. */
static void compare_cuda(const char *what, const struct batch *b,
			 unsigned groups)
{
	size_t nd = b->nd, nf = sizeof(struct dsv_docstats) / 8;
	struct dsv_docstats *c = calloc(nd ? nd : 1, sizeof *c);
	struct dsv_docstats *g = calloc(nd ? nd : 1, sizeof *g);
	CHECK_OK(docstats_cpu(b->text, b->off, nd, groups, c, 2));
	memset(g, 0xAB, nd * sizeof *g);
	CHECK_OK(docstats_cuda(b->text, b->off, nd, groups, g));
	size_t bad = 0;
	for (size_t i = 0; i < nd; i++) {
		const uint64_t *x = (const uint64_t *)&c[i],
			       *y = (const uint64_t *)&g[i];
		for (size_t k = 0; k < nf; k++)
			if (x[k] != y[k] && bad++ < 8)
				printf("  %s: doc %zu (%llu bytes) field %zu: cpu %llu, "
				       "cuda %llu\n",
				       what, i, (unsigned long long)c[i].bytes, k,
				       (unsigned long long)x[k],
				       (unsigned long long)y[k]);
	}
	CHECK(bad == 0);
	if (!bad)
		printf("  result %s: %zu documents, %llu bytes, all %zu fields "
		       "byte-identical\n",
		       what, nd, (unsigned long long)b->len, nf);
	free(c);
	free(g);
}

static void test_cuda_full(void)
{
	uint64_t off[2] = {0, 4};
	struct dsv_docstats d;
	if (dsv_device_count() <= 0) {
		CHECK(docstats_cuda((const uint8_t *)"word", off, 1, ALL,
				    &d) == DSV_KERNEL_ENOGPU);
		CHECK(dsv_docstats((const uint8_t *)"word", off, 1, ALL, &d,
				   DSV_DEVICE_CUDA, 1) == DSV_KERNEL_ENOGPU);
		CHECK_OK(dsv_docstats((const uint8_t *)"word", off, 1, ALL,
				      &d, DSV_DEVICE_AUTO, 1));
		CHECK(d.words == 1);
		SKIP(test_docstats_cuda, "no CUDA device");
		return;
	}
	uint64_t rs = test_seed() | 1;
	struct batch b = {0};
	random_bytes(&b, &rs, 400);
	compare_cuda("random bytes", &b, ALL);
	b.nd = b.len = 0;
	random_words(&b, &rs, 400);
	compare_cuda("random words", &b, ALL);
	compare_cuda("random words, fineweb's groups", &b,
		     DSV_DOCSTATS_WORDS | DSV_DOCSTATS_FINEWEB);
	b.nd = b.len = 0;
	if (real_text(&b, &rs))
		compare_cuda("shakespeare.txt", &b, ALL);
	else
		printf("  fixtures/demo/shakespeare.txt not found (run from the "
		       "repository root): real text not compared\n");
	/* an empty batch, an empty document, and one long document */
	b.nd = b.len = 0;
	compare_cuda("no documents", &b, ALL);
	batch_end_doc(&b);
	for (int i = 0; i < 20000; i++)
		batch_add(&b, "the same line, again.\n", 22);
	batch_end_doc(&b);
	compare_cuda("empty and long", &b, ALL);
	struct dsv_docstats a;
	CHECK_OK(dsv_docstats((const uint8_t *)"word", off, 1, ALL,
			      &a, DSV_DEVICE_CUDA, 1));
	CHECK_OK(docstats_cpu((const uint8_t *)"word", off, 1, ALL, &d, 1));
	CHECK(!memcmp(&a, &d, sizeof a));
	free(b.text);
	free(b.off);
}

/* The device path cannot grow its scratch: ds_scratch_carve gives each
 * document a fixed slice sized by ds_scratch_bytes (a word per byte, n + 1
 * segments, a map for n + 1 keys, ...), and running past it fails the
 * whole batch with "device scratch ran short". Here the shared per-document
 * code runs on the CPU with exactly the capacities the carve sets, each in
 * its own allocation: if any part had to grow, its capacity changes. */
static int doc_fits_device_scratch(const uint8_t *s, size_t n)
{
	struct scratch sc = {0};
	struct dsv_docstats d, ref;
	uint64_t one_off[2] = {0, n};
	int ok;
	sc.wcap = n + 1;
	sc.w = malloc(sc.wcap * sizeof *sc.w);
	sc.g.cap = n + 1;
	sc.g.v = malloc(sc.g.cap * sizeof *sc.g.v);
	sc.hcap = ds_map_cap(n + 1);
	sc.h = malloc(sc.hcap * sizeof *sc.h);
	sc.pcap = n + 1;
	sc.pre = malloc(sc.pcap * sizeof *sc.pre);
	sc.pow = malloc(sc.pcap * sizeof *sc.pow);
	sc.tmpcap = n + 1;
	sc.tmp = malloc(sc.tmpcap);
	ok = docstats_doc(s, n, ALL, &sc, &d) == 0 && sc.wcap == n + 1 &&
	     sc.g.cap == n + 1 && sc.hcap == ds_map_cap(n + 1) &&
	     sc.pcap == n + 1 && sc.tmpcap == n + 1;
	CHECK_OK(docstats_cpu(s, one_off, 1, ALL, &ref, 1));
	ok = ok && !memcmp(&d, &ref, sizeof d);
	free(sc.w);
	free(sc.g.v);
	free(sc.h);
	free(sc.pre);
	free(sc.pow);
	free(sc.tmp);
	return ok;
}

static void check_batch_fits(const char *what, const struct batch *b)
{
	size_t bad = 0;
	for (size_t i = 0; i < b->nd; i++)
		if (!doc_fits_device_scratch(b->text + b->off[i],
					     b->off[i + 1] - b->off[i]) &&
		    bad++ < 3)
			printf("  %s: document %zu (%llu bytes) outgrows its "
			       "device scratch\n",
			       what, i,
			       (unsigned long long)(b->off[i + 1] - b->off[i]));
	CHECK(bad == 0);
}

static void test_device_scratch_bound(void)
{
	static const char *const worst[] = {
		"a", "", "\n", "\n\n\n\n", "a a a a a a a a a a a a",
		"a\na\na\na\na\n", "..........", ".a.b.c.d", "(((((((((",
		"))))))))", "a-b-c-d-e", "don't can't won't", "1+2-3*4^5",
		"\xe2\x80\xa6\xe2\x80\xa6", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
		"\xff\xfe\xc2", "U.S.U.S.U.S.", "[1][2][3]", "a,b,c,d",
		"\r\n\r\n", "\xe2\x80\xa8\xe2\x80\xa8", "x:y:z", "$1$2$3",
		"\"'\"'\"'", "10km5kg3m"};
	uint64_t rs = test_seed() | 1;
	struct batch b = {0};
	ds_exc_masks(exc_first, exc_last); /* this file's copy of the masks */
	for (size_t i = 0; i < sizeof worst / sizeof *worst; i++) {
		batch_add(&b, worst[i], strlen(worst[i]));
		batch_end_doc(&b);
	}
	check_batch_fits("worst cases", &b);
	b.nd = b.len = 0;
	random_bytes(&b, &rs, 200);
	check_batch_fits("random bytes", &b);
	b.nd = b.len = 0;
	random_words(&b, &rs, 200);
	check_batch_fits("random words", &b);
	free(b.text);
	free(b.off);
}

/* The entry points cuda_shim.c forwards are in libdsvcuda.so under their C
 * names (kernel_syms.h); runs without a GPU. */
static void test_docstats_cuda_symbols(void)
{
	CHECK_CUDA_SYMBOLS("docstats_cuda", "docstats_basic_cuda");
}

int main(void)
{
	RUN(test_word_splitter);
	RUN(test_word_splitter_spacy);
	RUN(test_gopher_quality_counts);
	RUN(test_repetition_counts);
	RUN(test_fineweb_c4_counts);
	RUN(test_edge_cases);
	RUN(test_threads_and_cuda);
	RUN(test_cuda_full);
	RUN(test_device_scratch_bound);
	RUN(test_docstats_cuda_symbols);
	TEST_EXIT();
}
