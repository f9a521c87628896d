/* kernel_bpe.c: tests of the GPT-2 pre-tokenizer and byte-level BPE: a
 * training run checked by hand, tiktoken-style encoding of it, the TOKENIZER
 * format round trip, determinism over thread counts, and encode/decode round
 * trips on random UTF-8 (and invalid bytes).
 */
#include "kernels/bpe.h"
#include "kernels/device.h"
#include "kernels/pretok.h"
/* test.h's CHECK_OK prints the last error; kernels keep their own. */
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"
#include "tests/unit/rnd.h"

#include <stdint.h>

/* The n documents back to back (malloc'd), their n+1 offsets into off. */
static char *concat(const char *const *docs, size_t n, uint64_t *off)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(docs[i]);
	char *text = malloc(total + 1);
	off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(text + off[i], docs[i], strlen(docs[i]));
		off[i + 1] = off[i] + strlen(docs[i]);
	}
	return text;
}

static dsv_bpe *train_on(const char *const *docs, size_t n, uint32_t vocab,
			 int nthreads)
{
	dsv_bpe_counts *c = NULL;
	dsv_bpe *b = NULL;
	uint64_t *off = malloc((n + 1) * sizeof *off);
	char *text = concat(docs, n, off);
	CHECK_OK(dsv_bpe_counts_new(&c));
	CHECK_OK(dsv_bpe_counts_add(c, (const uint8_t *)text, off, n,
				    nthreads));
	CHECK_OK(dsv_bpe_train(&b, c, vocab));
	dsv_bpe_counts_free(c);
	free(text);
	free(off);
	return b;
}

static void test_pretok(void)
{
	const char *s = "Hello world's  123 !!\n\nI'll  go\t";
	const char *want[] = {"Hello", " world", "'s", " ", " 123", " !!",
			      "\n", "\n", "I", "'ll", " ", " go", "\t"};
	dsv_pretok *p = NULL;
	size_t st, len, k = 0;
	CHECK_OK(dsv_pretok_new(&p));
	if (!p)
		return;
	dsv_pretok_begin(p, (const uint8_t *)s, strlen(s));
	while (dsv_pretok_next(p, &st, &len)) {
		CHECK(k < sizeof want / sizeof *want);
		if (k < sizeof want / sizeof *want)
			CHECK(len == strlen(want[k]) &&
			      memcmp(s + st, want[k], len) == 0);
		k++;
	}
	CHECK(k == sizeof want / sizeof *want);
	/* An invalid byte is a chunk of its own. */
	const uint8_t bad[] = {'a', 'b', 0xff, 'c', 0xc3, 0xa9};
	dsv_pretok_begin(p, bad, sizeof bad);
	size_t lens[8], n = 0;
	while (n < 8 && dsv_pretok_next(p, &st, &len))
		lens[n++] = len;
	CHECK(n == 3 && lens[0] == 2 && lens[1] == 1 && lens[2] == 3);
	CHECK(dsv_utf8_valid_prefix((const uint8_t *)"\xed\xa0\x80", 3) == 0);
	CHECK(dsv_utf8_valid_prefix((const uint8_t *)"\xf0\x9f\x98\x80", 4) == 4);
	dsv_pretok_free(p);
}

/* "aaabdaaabac" by hand: aa (4), then ab beats (aa,a) on the tie (97 < 256),
 * then aa+ab, then all pairs tie at 1 and the smallest, (a,c), wins, then
 * (d, aaab). */
static void test_train_by_hand(void)
{
	const char *docs[] = {"aaabdaaabac"};
	dsv_bpe *b = train_on(docs, 1, 262, 1);
	if (!b)
		return;
	static const uint32_t want[][2] = {{97, 97}, {97, 98}, {256, 257},
					   {97, 99}, {100, 258}};
	CHECK(dsv_bpe_ntokens(b) == 261 && dsv_bpe_eot(b) == 261);
	for (uint32_t i = 0; i < 5 && dsv_bpe_ntokens(b) == 261; i++) {
		uint32_t l, r;
		dsv_bpe_merge(b, 256 + i, &l, &r);
		CHECK(l == want[i][0] && r == want[i][1]);
	}
	size_t len;
	const uint8_t *t = dsv_bpe_token(b, 260, &len);
	CHECK(t && len == 5 && memcmp(t, "daaab", 5) == 0);

	dsv_bpe_encoder *e = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, cap = 0;
	CHECK_OK(dsv_bpe_encoder_new(&e, b));
	CHECK_OK(dsv_bpe_encode(e, (const uint8_t *)"aaabdaaabac", 11, &ids,
				&n, &cap));
	CHECK(n == 3 && ids[0] == 258 && ids[1] == 260 && ids[2] == 259);
	/* A chunk that is a token is that token. */
	n = 0;
	CHECK_OK(dsv_bpe_encode(e, (const uint8_t *)"daaab", 5, &ids, &n,
				&cap));
	CHECK(n == 1 && ids[0] == 260);
	free(ids);
	dsv_bpe_encoder_free(e);

	/* The TOKENIZER text parses back to the same tokenizer. */
	char *txt = NULL, *txt2 = NULL;
	size_t tl, tl2;
	dsv_bpe *b2 = NULL;
	CHECK_OK(dsv_bpe_format(b, &txt, &tl));
	CHECK_OK(dsv_bpe_parse(&b2, txt, tl));
	if (b2) {
		CHECK_OK(dsv_bpe_format(b2, &txt2, &tl2));
		CHECK(tl == tl2 && memcmp(txt, txt2, tl) == 0);
	}
	CHECK(strstr(txt, "260 100 258 \"daaab\"\n") != NULL);
	CHECK(strstr(txt, "special 261 <|endoftext|>\n") != NULL);
	free(txt2);
	dsv_bpe_free(b2);
	/* Damage is refused, naming the line. */
	char *bad = strdup(txt);
	char *p = strstr(bad, "\"daaab\"");
	p[1] = 'x';
	CHECK(dsv_bpe_parse(&b2, bad, tl) == DSV_KERNEL_EINVAL && !b2);
	CHECK(strstr(dsv_kernel_error_last(), "TOKENIZER:") != NULL);
	CHECK(dsv_bpe_parse(&b2, txt, tl - 10) == DSV_KERNEL_EINVAL);
	CHECK(dsv_bpe_parse(&b2, "dsv-tokenizer 2\n", 16) == DSV_KERNEL_EINVAL);
	free(bad);
	free(txt);
	dsv_bpe_free(b);
}

/* Random text mixing words, digits, punctuation, whitespace and multi-byte
 * code points; `invalid` adds stray bytes. */
static size_t random_text(char *out, size_t len, int invalid)
{
	static const char *const pieces[] = {
		"the", " cat", "'s", " 42", "!!", "  ", "\n", "\t ", "é", "日本",
		"😀", " ü", "'ll", "'RE", "x", ",", "...", "\u00a0", "\u2028",
		"\xc2\x85", "Zz", "١٢٣"};
	size_t n = 0;
	while (n + 8 < len) {
		if (invalid && rnd() % 20 == 0) {
			out[n++] = (char)(0x80 | rnd() % 128);
			continue;
		}
		const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
		size_t pl = strlen(p);
		if (n + pl >= len)
			break;
		memcpy(out + n, p, pl);
		n += pl;
	}
	return n;
}

static void test_round_trip(void)
{
	rng_state = test_seed();
	enum { NDOCS = 200 };
	char *docs[NDOCS];
	for (int i = 0; i < NDOCS; i++) {
		docs[i] = malloc(2048);
		size_t n = random_text(docs[i], 1 + rnd() % 2000, 0);
		docs[i][n] = 0;
	}
	dsv_bpe *b = train_on((const char *const *)docs, NDOCS, 600, 0);
	if (!b)
		return;
	CHECK(dsv_bpe_ntokens(b) > 256);
	dsv_bpe_encoder *e = NULL;
	CHECK_OK(dsv_bpe_encoder_new(&e, b));
	char buf[4096];
	for (int it = 0; it < 300 && e; it++) {
		size_t n = random_text(buf, 1 + rnd() % 4000, it % 2);
		uint32_t *ids = NULL;
		uint8_t *dec = NULL;
		size_t ni = 0, ci = 0, nd = 0, cd = 0;
		CHECK_OK(dsv_bpe_encode(e, (const uint8_t *)buf, n, &ids, &ni,
					&ci));
		for (size_t i = 0; i < ni; i++)
			CHECK(ids[i] < dsv_bpe_eot(b));
		CHECK_OK(dsv_bpe_decode(b, ids, ni, &dec, &nd, &cd));
		CHECK(nd == n && (n == 0 || memcmp(dec, buf, n) == 0));
		free(ids);
		free(dec);
	}
	dsv_bpe_encoder_free(e);

	/* The batch encoder on several threads gives the same ids. */
	uint64_t off[NDOCS + 1], toff[NDOCS + 1];
	char *all = concat((const char *const *)docs, NDOCS, off);
	uint32_t *ids1 = NULL, *ids4 = NULL;
	uint64_t toff4[NDOCS + 1];
	CHECK_OK(dsv_bpe_encode_batch(b, (const uint8_t *)all, off, NDOCS,
				      &ids1, toff, 1));
	CHECK_OK(dsv_bpe_encode_batch(b, (const uint8_t *)all, off, NDOCS,
				      &ids4, toff4, 4));
	CHECK(ids1 && ids4 && toff[NDOCS] == toff4[NDOCS] &&
	      memcmp(toff, toff4, sizeof toff) == 0 &&
	      memcmp(ids1, ids4, toff[NDOCS] * sizeof *ids1) == 0);
	free(ids1);
	free(ids4);
	free(all);

	/* Training is deterministic and does not depend on threads. */
	dsv_bpe *b1 = train_on((const char *const *)docs, NDOCS, 600, 1);
	char *t0 = NULL, *t1 = NULL;
	size_t l0 = 0, l1 = 0;
	CHECK_OK(dsv_bpe_format(b, &t0, &l0));
	if (b1)
		CHECK_OK(dsv_bpe_format(b1, &t1, &l1));
	CHECK(t0 && t1 && l0 == l1 && memcmp(t0, t1, l0) == 0);
	free(t0);
	free(t1);
	dsv_bpe_free(b1);
	dsv_bpe_free(b);
	for (int i = 0; i < NDOCS; i++)
		free(docs[i]);
}

/* tab[x * V + y]: the token merging x and y (UINT32_MAX: none), read from
 * the tokenizer's text form; NULL (failed checks said so) on error. The
 * caller frees it. */
static uint32_t *pair_table(const dsv_bpe *b, int V)
{
	char *tok = NULL;
	size_t tl = 0;
	uint32_t *tab = malloc((size_t)V * V * sizeof *tab);
	CHECK_OK(dsv_bpe_format(b, &tok, &tl));
	CHECK(tok && tab);
	if (!tok || !tab) {
		free(tok);
		free(tab);
		return NULL;
	}
	for (size_t i = 0; i < (size_t)V * V; i++)
		tab[i] = UINT32_MAX;
	for (char *l = tok; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		unsigned id, x, y;
		if (sscanf(l, "%u %u %u", &id, &x, &y) == 3 && x < (unsigned)V &&
		    y < (unsigned)V)
			tab[(size_t)x * V + y] = id;
	}
	free(tok);
	return tab;
}

/* Long chunks (a run of letters with no space) take the heap merge: the
 * same ids as tiktoken's scan, written out here from the TOKENIZER file's
 * merges, on runs shorter and longer than where the heap takes over. */
static size_t naive_merge(const uint32_t *tab, uint32_t V, uint32_t *part,
			  size_t n)
{
	for (;;) {
		uint32_t best = UINT32_MAX;
		size_t bi = 0;
		for (size_t i = 0; i + 1 < n; i++) {
			uint32_t r = part[i] < V && part[i + 1] < V
				     ? tab[(size_t)part[i] * V + part[i + 1]]
				     : UINT32_MAX;
			if (r < best) {
				best = r;
				bi = i;
			}
		}
		if (best == UINT32_MAX)
			return n;
		part[bi] = best;
		memmove(part + bi + 1, part + bi + 2, (n - bi - 2) * sizeof *part);
		n--;
	}
}

/* Encodes text[0..n) and checks the ids against naive_merge's on the same
 * bytes; want has room for n ids. */
static void check_encode_naive(dsv_bpe_encoder *e, const uint32_t *tab, uint32_t V,
			       const char *text, size_t n, uint32_t *want)
{
	uint32_t *ids = NULL;
	size_t ni = 0, ci = 0;
	CHECK_OK(dsv_bpe_encode(e, (const uint8_t *)text, n, &ids, &ni, &ci));
	for (size_t j = 0; j < n; j++)
		want[j] = (uint8_t)text[j];
	size_t nw = naive_merge(tab, V, want, n);
	CHECK(ids && ni == nw && memcmp(ids, want, nw * sizeof *ids) == 0);
	free(ids);
}

/* b's pair table and an encoder of it for check_encode_naive; 0 (a
 * failed check) when either is missing, b included. */
static int naive_setup(const dsv_bpe *b, uint32_t V, uint32_t **tab,
		       dsv_bpe_encoder **e)
{
	if (b) {
		*tab = pair_table(b, V);
		CHECK_OK(dsv_bpe_encoder_new(e, b));
	}
	CHECK(*tab && *e);
	return *tab && *e;
}

static void test_long_chunks(void)
{
	rng_state = test_seed();
	enum { NDOCS = 40, V = 400 };
	char *docs[NDOCS];
	for (int i = 0; i < NDOCS; i++) {
		size_t n = 1 + rnd() % 3000;
		docs[i] = malloc(n + 1);
		for (size_t j = 0; j < n; j++)
			docs[i][j] = "abcd"[rnd() % (i % 4 + 1)];
		docs[i][n] = 0;
	}
	dsv_bpe *b = train_on((const char *const *)docs, NDOCS, V, 0);
	uint32_t *tab = NULL;
	dsv_bpe_encoder *e = NULL;
	if (!naive_setup(b, V, &tab, &e))
		goto done;
	char buf[6000];
	uint32_t want[6000];
	for (int it = 0; it < 40; it++) {
		size_t n = it < 4 ? 250 + (size_t)it * 3 : 1 + rnd() % 5999;
		for (size_t j = 0; j < n; j++)
			buf[j] = it % 5 == 0 ? 'a' : "abcd"[rnd() % (it % 4 + 1)];
		check_encode_naive(e, tab, V, buf, n, want);
	}
done:
	dsv_bpe_encoder_free(e);
	free(tab);
	dsv_bpe_free(b);
	for (int i = 0; i < NDOCS; i++)
		free(docs[i]);
}

/* One long run of one character makes tokens of 2^k bytes (10^5 and
 * more); building their pair table hashed every prefix, O(len^2) a token
 * (minutes). Encoding with them matches the scan written out here. */
static void test_long_tokens(void)
{
	enum { RUN_LEN = 300000, V = 300 };
	char *run = malloc(RUN_LEN + 1);
	memset(run, '1', RUN_LEN);
	run[RUN_LEN] = 0;
	const char *docs[] = {run, "1111 22 1111"};
	dsv_bpe *b = train_on(docs, 2, V, 0);
	uint32_t *tab = NULL;
	dsv_bpe_encoder *e = NULL;
	if (!naive_setup(b, V, &tab, &e))
		goto done;
	CHECK(dsv_bpe_ntokens(b) > 256 + 15); /* tokens up to 2^15 bytes */
	static uint32_t want[25000];
	for (size_t n = 3; n < 25000; n = n * 3 + 1)
		check_encode_naive(e, tab, V, run, n, want);
done:
	dsv_bpe_encoder_free(e);
	free(tab);
	dsv_bpe_free(b);
	free(run);
}

static void test_bad_args(void)
{
	dsv_bpe_counts *c = NULL;
	dsv_bpe *b = NULL;
	CHECK_OK(dsv_bpe_counts_new(&c));
	CHECK(dsv_bpe_train(&b, c, 256) == DSV_KERNEL_EINVAL && !b);
	/* No text: only the byte tokens and the special. */
	CHECK_OK(dsv_bpe_train(&b, c, 1000));
	CHECK(b && dsv_bpe_vocab_size(b) == 257);
	uint64_t off[2] = {5, 2};
	CHECK(dsv_bpe_counts_add(c, (const uint8_t *)"abcdef", off, 1, 1) ==
	      DSV_KERNEL_EINVAL);
	dsv_bpe_free(b);
	dsv_bpe_counts_free(c);
}

int main(void)
{
	RUN(test_pretok);
	RUN(test_train_by_hand);
	RUN(test_round_trip);
	RUN(test_long_chunks);
	RUN(test_long_tokens);
	RUN(test_bad_args);
	TEST_EXIT();
}
