/* kernel_filters.c: the heuristic rules over hand-built statistics: each
 * rule fires on its side of its threshold and not on the other, in
 * datatrove's order, with datatrove's reason strings; and on real text
 * through docstats. Links only libdsvkernels.a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/filters.h"
#define dsv_error_last dsv_kernel_error_last
#include "tests/unit/test.h"

enum { ALL = DSV_DOCSTATS_ALL }; /* every statistic */

static struct dsv_filter_params P;

static const char *why(int set, const struct dsv_docstats *s)
{
	size_t n;
	const char *const *names = dsv_filter_reasons(set, &n);
	int k = dsv_filter_apply(set, s, &P);
	return k ? names[k - 1] : "keep";
}

/* A document every rule keeps: 100 words of 5 letters, 10 lines. */
static struct dsv_docstats good(void)
{
	struct dsv_docstats s;
	memset(&s, 0, sizeof s);
	s.bytes = s.chars = 600;
	s.newlines = 9;
	s.words = s.nonsym_words = s.alpha_words = s.ws_words = 100;
	s.nonsym_word_chars = 500;
	s.stop_mask = 0x3;
	s.lines = 10;
	s.paragraphs = 5;
	s.line_parts = 10;
	s.fw_lines = 10;
	s.fw_punct_lines = 5;
	s.fw_short_lines = 2;
	s.c4_lines = s.c4_kept_lines = 10;
	s.c4_sentences = 10;
	return s;
}

#define EXPECT(set, s, want)                                                 \
	do {                                                                 \
		const char *got_ = why(set, &(s));                           \
		if (strcmp(got_, want)) {                                    \
			printf("  %s:%d: %s gave %s, want %s\n", __FILE__,    \
			       __LINE__, dsv_filter_set_name(set), got_, want); \
			test_failed_checks++;                                \
		}                                                            \
	} while (0)

static void test_names(void)
{
	CHECK(dsv_filter_set_parse("gopher-quality", 14) == DSV_FILTER_GOPHER_QUALITY);
	CHECK(dsv_filter_set_parse("c4", 2) == DSV_FILTER_C4);
	CHECK(dsv_filter_set_parse("fineweb", 7) == DSV_FILTER_FINEWEB);
	CHECK(dsv_filter_set_parse("c5", 2) == -1);
	CHECK(dsv_filter_set_name(DSV_FILTER_NSETS) == NULL);
	size_t n;
	CHECK(dsv_filter_reasons(DSV_FILTER_GOPHER_REPETITION, &n) && n == 14);
}

static void test_gopher_quality(void)
{
	struct dsv_docstats s = good();
	int G = DSV_FILTER_GOPHER_QUALITY;
	EXPECT(G, s, "keep");
	s.nonsym_words = 49;
	s.nonsym_word_chars = 49 * 5;
	EXPECT(G, s, "gopher_short_doc");
	s.nonsym_words = 50; /* exactly the minimum is kept */
	s.nonsym_word_chars = 250;
	EXPECT(G, s, "keep");
	s = good();
	s.nonsym_words = 100001;
	EXPECT(G, s, "gopher_long_doc");
	s = good();
	s.nonsym_word_chars = 299; /* mean 2.99 */
	EXPECT(G, s, "gopher_below_avg_threshold");
	s.nonsym_word_chars = 300; /* mean 3.0: kept */
	EXPECT(G, s, "keep");
	s.nonsym_word_chars = 1001;
	EXPECT(G, s, "gopher_above_avg_threshold");
	s = good();
	s.hash_chars = 11;
	EXPECT(G, s, "gopher_too_many_hashes");
	s.hash_chars = 10; /* 0.1 is not above 0.1 */
	EXPECT(G, s, "keep");
	s.ellipsis = 11;
	EXPECT(G, s, "gopher_too_many_ellipsis");
	s = good();
	s.bullet_lines = 10;
	EXPECT(G, s, "gopher_too_many_bullets");
	s.bullet_lines = 9;
	EXPECT(G, s, "keep");
	s.ellipsis_lines = 4;
	EXPECT(G, s, "gopher_too_many_end_ellipsis");
	s = good();
	s.alpha_words = 79;
	EXPECT(G, s, "gopher_below_alpha_threshold");
	s.alpha_words = 80;
	EXPECT(G, s, "keep");
	s.stop_mask = 0x80;
	EXPECT(G, s, "gopher_enough_stop_words");
	/* rule order: short doc wins over everything after it */
	s.nonsym_words = 10;
	s.hash_chars = 100;
	EXPECT(G, s, "gopher_short_doc");
}

static void test_gopher_repetition(void)
{
	struct dsv_docstats s = good();
	int R = DSV_FILTER_GOPHER_REPETITION;
	EXPECT(R, s, "keep");
	s.dup_paragraphs = 2; /* 2/5 > 0.3 */
	EXPECT(R, s, "dup_para_frac");
	s = good();
	s.dup_paragraph_chars = 121; /* > 0.2 * 600 */
	EXPECT(R, s, "dup_para_char_frac");
	s = good();
	s.dup_lines = 4;
	EXPECT(R, s, "dup_line_frac");
	s.dup_lines = 3;
	EXPECT(R, s, "keep");
	s.dup_line_chars = 121;
	EXPECT(R, s, "dup_line_char_frac");
	s = good();
	s.top_ngram_chars[0] = 121;
	EXPECT(R, s, "top_2_gram");
	s = good();
	s.top_ngram_chars[2] = 97; /* 97/600 > 0.16 */
	EXPECT(R, s, "top_4_gram");
	s = good();
	s.dup_ngram_chars[0] = 91; /* > 0.15 */
	EXPECT(R, s, "duplicated_5_n_grams");
	s = good();
	s.dup_ngram_chars[5] = 61;
	EXPECT(R, s, "duplicated_10_n_grams");
	s.dup_ngram_chars[5] = 60;
	EXPECT(R, s, "keep");
	s = good();
	s.words = 3; /* fewer words than the 4-gram: that rule is skipped */
	s.top_ngram_chars[2] = 500;
	EXPECT(R, s, "keep");
}

static void test_c4_fineweb(void)
{
	struct dsv_docstats s = good();
	int C = DSV_FILTER_C4, F = DSV_FILTER_FINEWEB;
	EXPECT(C, s, "keep");
	s.c4_sentences = 4;
	EXPECT(C, s, "too_few_sentences");
	s.c4_drop = 1;
	EXPECT(C, s, "lorem_ipsum");
	s.c4_drop = 2;
	EXPECT(C, s, "curly_bracket");
	s = good();
	EXPECT(F, s, "keep");
	s.fw_lines = 0;
	EXPECT(F, s, "empty");
	s = good();
	s.fw_punct_lines = 1; /* 0.1 < 0.12 */
	EXPECT(F, s, "line_punct_ratio");
	s = good();
	s.fw_short_lines = 7; /* 0.7 > 0.67 */
	EXPECT(F, s, "short_line_ratio");
	s = good();
	s.fw_dup_line_chars = 6; /* 6/591 > 0.01 */
	EXPECT(F, s, "char_dup_ratio");
	s.fw_dup_line_chars = 5;
	EXPECT(F, s, "keep");
	s.newlines = 31; /* 31/100 > 0.3 */
	s.chars = 700;
	EXPECT(F, s, "list_ratio");
}

static void test_real_text(void)
{
	static const char doc[] =
		"The quick brown fox jumps over the lazy dog and then it runs "
		"to the forest with the other animals. It is a fine day to be "
		"out in the sun, and the fox knows that. ";
	char buf[4096] = "";
	for (int i = 0; i < 3; i++)
		strcat(buf, doc);
	struct dsv_docstats s;
	uint64_t off[2] = {0, strlen(buf)};
	CHECK_OK(docstats_cpu((const uint8_t *)buf, off, 1, ALL, &s, 1));
	EXPECT(DSV_FILTER_GOPHER_QUALITY, s, "keep");
	/* the same paragraph three times is repetition */
	EXPECT(DSV_FILTER_GOPHER_REPETITION, s, "duplicated_5_n_grams");
	const char *shortdoc = "Too short.";
	off[1] = strlen(shortdoc);
	CHECK_OK(docstats_cpu((const uint8_t *)shortdoc, off, 1, ALL, &s, 1));
	EXPECT(DSV_FILTER_GOPHER_QUALITY, s, "gopher_short_doc");
	EXPECT(DSV_FILTER_C4, s, "too_few_sentences");
	const char *empty = "";
	off[1] = 0;
	CHECK_OK(docstats_cpu((const uint8_t *)empty, off, 1, ALL, &s, 1));
	EXPECT(DSV_FILTER_FINEWEB, s, "empty");
	EXPECT(DSV_FILTER_GOPHER_REPETITION, s, "empty");
}

int main(void)
{
	dsv_filter_params_default(&P);
	RUN(test_names);
	RUN(test_gopher_quality);
	RUN(test_gopher_repetition);
	RUN(test_c4_fineweb);
	RUN(test_real_text);
	TEST_EXIT();
}
