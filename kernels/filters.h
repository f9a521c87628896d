/* filters.h: the published heuristic filter rules (Gopher quality, Gopher
 * repetition, C4 quality, FineWeb quality) with datatrove's thresholds, rule
 * order and drop-reason strings, as pure functions over the integer
 * statistics of kernels/docstats.h. docs/filters.md lists every rule.
 * Nothing here allocates or keeps state.
 */
#ifndef DSV_KERNELS_FILTERS_H
#define DSV_KERNELS_FILTERS_H

#include <stddef.h>

#include "kernels/docstats.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dsv_filter_set {
	DSV_FILTER_GOPHER_QUALITY = 0,
	DSV_FILTER_GOPHER_REPETITION,
	DSV_FILTER_C4,
	DSV_FILTER_FINEWEB,
	DSV_FILTER_NSETS
};

/* datatrove's defaults (dsv_filter_params_default). */
struct dsv_filter_params {
	/* GopherQualityFilter */
	double min_doc_words, max_doc_words;
	double min_avg_word_length, max_avg_word_length;
	double max_symbol_word_ratio, max_bullet_lines_ratio;
	double max_ellipsis_lines_ratio, max_non_alpha_words_ratio;
	double min_stop_words;
	/* GopherRepetitionFilter */
	double dup_line_frac, dup_para_frac, dup_line_char_frac,
		dup_para_char_frac;
	double top_n_grams[3]; /* n = 2, 3, 4 */
	double dup_n_grams[6]; /* n = 5..10 */
	/* C4QualityFilter */
	double min_num_sentences;
	/* FineWebQualityFilter */
	double line_punct_thr, short_line_thr, char_duplicates_ratio,
		new_line_ratio;
};

void dsv_filter_params_default(struct dsv_filter_params *p);

/* "gopher-quality", "gopher-repetition", "c4", "fineweb"; NULL if out of
 * range. */
const char *dsv_filter_set_name(int set);
/* The set named `name` (also accepted: "gopher_quality", ...), or -1. */
int dsv_filter_set_parse(const char *name, size_t len);
/* The set's drop reasons, in its rule order: names[0..*n) are reasons 1..n
 * ("gopher_short_doc", ...). Static strings. */
const char *const *dsv_filter_reasons(int set, size_t *n);

/* The docstats groups (DSV_DOCSTATS_*) the rule set reads. */
unsigned dsv_filter_groups(int set);
/* Applies one rule set to one document's statistics: 0 keeps it, k drops it
 * for reason names[k-1] (the first rule that fails, in datatrove's order). */
int dsv_filter_apply(int set, const struct dsv_docstats *s,
		     const struct dsv_filter_params *p);

#ifdef __cplusplus
}
#endif

#endif
