/* filters.c: datatrove's heuristic rules over docstats counts. Each rule
 * computes its ratio in double exactly as the Python does (count / count),
 * so a document on a threshold falls the same way; where datatrove would
 * divide by zero (an empty text) the rule keeps the document.
 */
#include "kernels/filters.h"

#include <string.h>

static const char *const gq_reasons[] = {
	"gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold",
	"gopher_above_avg_threshold", "gopher_too_many_hashes",
	"gopher_too_many_ellipsis", "gopher_too_many_bullets",
	"gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold",
	"gopher_enough_stop_words"};
static const char *const gr_reasons[] = {
	"empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac",
	"dup_line_char_frac", "top_2_gram", "top_3_gram", "top_4_gram",
	"duplicated_5_n_grams", "duplicated_6_n_grams", "duplicated_7_n_grams",
	"duplicated_8_n_grams", "duplicated_9_n_grams", "duplicated_10_n_grams"};
static const char *const c4_reasons[] = {"lorem_ipsum", "curly_bracket",
					 "too_few_sentences"};
static const char *const fw_reasons[] = {"empty", "line_punct_ratio",
					 "short_line_ratio", "char_dup_ratio",
					 "list_ratio"};

static const struct {
	const char *name, *alt;
	const char *const *reasons;
	size_t n;
} sets[DSV_FILTER_NSETS] = {
	{"gopher-quality", "gopher_quality", gq_reasons, 10},
	{"gopher-repetition", "gopher_repetition", gr_reasons, 14},
	{"c4", "c4-quality", c4_reasons, 3},
	{"fineweb", "fineweb-quality", fw_reasons, 5},
};

void dsv_filter_params_default(struct dsv_filter_params *p)
{
	static const double top[3] = {0.2, 0.18, 0.16};
	static const double dup[6] = {0.15, 0.14, 0.13, 0.12, 0.11, 0.10};
	memset(p, 0, sizeof *p);
	p->min_doc_words = 50;
	p->max_doc_words = 100000;
	p->min_avg_word_length = 3;
	p->max_avg_word_length = 10;
	p->max_symbol_word_ratio = 0.1;
	p->max_bullet_lines_ratio = 0.9;
	p->max_ellipsis_lines_ratio = 0.3;
	p->max_non_alpha_words_ratio = 0.8;
	p->min_stop_words = 2;
	p->dup_line_frac = 0.3;
	p->dup_para_frac = 0.3;
	p->dup_line_char_frac = 0.2;
	p->dup_para_char_frac = 0.2;
	memcpy(p->top_n_grams, top, sizeof top);
	memcpy(p->dup_n_grams, dup, sizeof dup);
	p->min_num_sentences = 5;
	p->line_punct_thr = 0.12;
	p->short_line_thr = 0.67;
	p->char_duplicates_ratio = 0.01;
	p->new_line_ratio = 0.3;
}

const char *dsv_filter_set_name(int set)
{
	return set >= 0 && set < DSV_FILTER_NSETS ? sets[set].name : NULL;
}

int dsv_filter_set_parse(const char *name, size_t len)
{
	for (int i = 0; i < DSV_FILTER_NSETS; i++)
		if ((strlen(sets[i].name) == len && !memcmp(name, sets[i].name, len)) ||
		    (strlen(sets[i].alt) == len && !memcmp(name, sets[i].alt, len)))
			return i;
	return -1;
}

const char *const *dsv_filter_reasons(int set, size_t *n)
{
	if (set < 0 || set >= DSV_FILTER_NSETS) {
		*n = 0;
		return NULL;
	}
	*n = sets[set].n;
	return sets[set].reasons;
}

static double ratio(uint64_t a, uint64_t b)
{
	return (double)a / (double)b;
}

static int popcount8(uint64_t m)
{
	int c = 0;
	for (; m; m &= m - 1)
		c++;
	return c;
}

static int gopher_quality(const struct dsv_docstats *s,
			  const struct dsv_filter_params *p)
{
	uint64_t nw = s->nonsym_words;
	if (p->min_doc_words && (double)nw < p->min_doc_words)
		return 1;
	if (p->max_doc_words && (double)nw > p->max_doc_words)
		return 2;
	if (nw) { /* numpy's mean of nothing is nan: no comparison holds */
		double avg = ratio(s->nonsym_word_chars, nw);
		if (p->min_avg_word_length && avg < p->min_avg_word_length)
			return 3;
		if (p->max_avg_word_length && avg > p->max_avg_word_length)
			return 4;
	}
	if (!s->words)
		return 0;
	if (p->max_symbol_word_ratio &&
	    ratio(s->hash_chars, s->words) > p->max_symbol_word_ratio)
		return 5;
	if (p->max_symbol_word_ratio &&
	    ratio(s->ellipsis, s->words) > p->max_symbol_word_ratio)
		return 6;
	if (s->lines) {
		if (p->max_bullet_lines_ratio &&
		    ratio(s->bullet_lines, s->lines) > p->max_bullet_lines_ratio)
			return 7;
		if (p->max_ellipsis_lines_ratio &&
		    ratio(s->ellipsis_lines, s->lines) > p->max_ellipsis_lines_ratio)
			return 8;
	}
	if (p->max_non_alpha_words_ratio &&
	    ratio(s->alpha_words, s->words) < p->max_non_alpha_words_ratio)
		return 9;
	if (p->min_stop_words && popcount8(s->stop_mask) < p->min_stop_words)
		return 10;
	return 0;
}

static int gopher_repetition(const struct dsv_docstats *s,
			     const struct dsv_filter_params *p)
{
	if (!s->chars) /* datatrove 0.10: `if not text` */
		return 1;
	if (p->dup_para_frac && s->paragraphs &&
	    ratio(s->dup_paragraphs, s->paragraphs) > p->dup_para_frac)
		return 2;
	if (p->dup_para_char_frac &&
	    ratio(s->dup_paragraph_chars, s->chars) > p->dup_para_char_frac)
		return 3;
	if (p->dup_line_frac && s->line_parts &&
	    ratio(s->dup_lines, s->line_parts) > p->dup_line_frac)
		return 4;
	if (p->dup_line_char_frac &&
	    ratio(s->dup_line_chars, s->chars) > p->dup_line_char_frac)
		return 5;
	for (int k = 0; k < 3; k++)
		if (s->words >= (uint64_t)k + 2 &&
		    ratio(s->top_ngram_chars[k], s->chars) > p->top_n_grams[k])
			return 6 + k;
	for (int k = 0; k < 6; k++)
		if (ratio(s->dup_ngram_chars[k], s->chars) > p->dup_n_grams[k])
			return 9 + k;
	return 0;
}

static int c4(const struct dsv_docstats *s, const struct dsv_filter_params *p)
{
	if (s->c4_drop == 1)
		return 1;
	if (s->c4_drop == 2)
		return 2;
	if ((double)s->c4_sentences < p->min_num_sentences)
		return 3;
	return 0;
}

static int fineweb(const struct dsv_docstats *s,
		   const struct dsv_filter_params *p)
{
	if (!s->fw_lines)
		return 1;
	if (ratio(s->fw_punct_lines, s->fw_lines) < p->line_punct_thr)
		return 2;
	if (ratio(s->fw_short_lines, s->fw_lines) > p->short_line_thr)
		return 3;
	if (s->chars > s->newlines &&
	    ratio(s->fw_dup_line_chars, s->chars - s->newlines) >
		    p->char_duplicates_ratio)
		return 4;
	if (s->words ? ratio(s->newlines, s->words) > p->new_line_ratio
		     : s->newlines > 0)
		return 5;
	return 0;
}

unsigned dsv_filter_groups(int set)
{
	switch (set) {
	case DSV_FILTER_GOPHER_QUALITY:
		return DSV_DOCSTATS_WORDS | DSV_DOCSTATS_LINES;
	case DSV_FILTER_GOPHER_REPETITION:
		return DSV_DOCSTATS_WORDS | DSV_DOCSTATS_REPETITION;
	case DSV_FILTER_C4: return DSV_DOCSTATS_C4;
	case DSV_FILTER_FINEWEB:
		return DSV_DOCSTATS_WORDS | DSV_DOCSTATS_FINEWEB;
	}
	return DSV_DOCSTATS_ALL;
}

int dsv_filter_apply(int set, const struct dsv_docstats *s,
		     const struct dsv_filter_params *p)
{
	switch (set) {
	case DSV_FILTER_GOPHER_QUALITY: return gopher_quality(s, p);
	case DSV_FILTER_GOPHER_REPETITION: return gopher_repetition(s, p);
	case DSV_FILTER_C4: return c4(s, p);
	case DSV_FILTER_FINEWEB: return fineweb(s, p);
	}
	return 0;
}
