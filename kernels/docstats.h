/* docstats.h: per-document heuristic statistics, the inputs of datatrove's
 * Gopher quality, Gopher repetition, C4 quality and FineWeb quality rules
 * (the rules and thresholds themselves live with the filter op). Every
 * statistic is an integer count, so the ratios a rule needs are computed by
 * the caller and every path gives the same bits. docs/kernels.md maps each
 * datatrove rule to these fields.
 *
 * Documents come as one batch (text bytes + ndocs+1 u64 offsets). Outputs
 * are caller-owned arrays of ndocs structs; nothing is kept.
 */
#ifndef DSV_KERNELS_DOCSTATS_H
#define DSV_KERNELS_DOCSTATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lengths are in code points (Python's len), not bytes, unless named so. */
struct dsv_docstats {
	/* whole text */
	uint64_t bytes, chars;
	uint64_t newlines;	   /* text.count("\n") */
	uint64_t hash_chars;	   /* text.count("#") */
	uint64_t ellipsis;	   /* text.count("...") + text.count("…") */
	uint64_t curly;		   /* text.count("{") */
	uint64_t ws_words;	   /* len(text.split()) */
	/* words: the spaCy-like splitter (docs/kernels.md) */
	uint64_t words;		   /* n_words */
	uint64_t nonsym_words;	   /* words with a char outside PUNCTUATION */
	uint64_t nonsym_word_chars; /* their total length (mean word length) */
	uint64_t alpha_words;	   /* words with an alphabetic char */
	uint64_t stop_mask;	   /* bit i: dsv_docstats_stop_words[i] occurs */
	/* text.splitlines() (Gopher quality) */
	uint64_t lines, bullet_lines, ellipsis_lines;
	/* Gopher repetition */
	uint64_t paragraphs, dup_paragraphs, dup_paragraph_chars; /* \n{2,} */
	uint64_t line_parts, dup_lines, dup_line_chars;	  /* \n+ */
	uint64_t top_ngram_chars[3]; /* n = 2, 3, 4: len(top gram) * count */
	uint64_t dup_ngram_chars[6]; /* n = 5..10: find_all_duplicate */
	/* FineWeb quality: non-blank lines of text.split("\n") */
	uint64_t fw_lines, fw_punct_lines, fw_short_lines, fw_dup_line_chars;
	/* C4 quality (split_paragraph=True, all line rules on) */
	uint64_t c4_lines, c4_kept_lines, c4_sentences;
	uint64_t c4_drop; /* 0 kept, 1 "lorem_ipsum", 2 "curly_bracket" */
	uint64_t c4_long_word_lines, c4_no_punct_lines, c4_few_words_lines;
	uint64_t c4_javascript_lines, c4_policy_lines;
};

/* Groups of statistics, for a caller that needs only some (a filter of
 * one rule set): fields outside the groups asked for are 0. The whole-text
 * counts (bytes .. ws_words) are always computed; they cost a byte pass.
 * REPETITION's n-grams are of words, so it runs the word splitter too. */
enum {
	DSV_DOCSTATS_WORDS = 1,      /* words .. stop_mask: the word splitter */
	DSV_DOCSTATS_LINES = 2,      /* lines, bullet_lines, ellipsis_lines */
	DSV_DOCSTATS_REPETITION = 4, /* paragraphs .. dup_ngram_chars */
	DSV_DOCSTATS_FINEWEB = 8,    /* fw_* */
	DSV_DOCSTATS_C4 = 16,        /* c4_* */
	DSV_DOCSTATS_ALL = 31
};

/* Gopher's stop words, in stop_mask bit order. */
extern const char *const dsv_docstats_stop_words[8];

/* The statistics of `groups` (DSV_DOCSTATS_*) on the CPU (OpenMP over
 * documents, nthreads 0 = default). Returns 0, DSV_KERNEL_EINVAL (bad
 * offsets) or DSV_KERNEL_ENOMEM. */
int docstats_cpu(const uint8_t *text, const uint64_t *off, size_t ndocs,
		 unsigned groups, struct dsv_docstats *out, int nthreads);

/* The CUDA twin of docstats_cpu, byte-identical to it (both run
 * docstats_full_impl.h): one GPU thread per document, so a long document
 * is serial work. Returns 0, DSV_KERNEL_EINVAL, DSV_KERNEL_ENOMEM (a
 * document's scratch, 77 to 109 bytes per text byte, does not fit in half
 * the free device memory) or DSV_KERNEL_ENOGPU (no device, or a CUDA
 * error, whose text the message keeps). */
int docstats_cuda(const uint8_t *text, const uint64_t *off, size_t ndocs,
		  unsigned groups, struct dsv_docstats *out);

/* docstats_cuda or docstats_cpu, as dsv_device_resolve(device) says; a
 * CUDA request without a device fails with DSV_KERNEL_ENOGPU. */
int dsv_docstats(const uint8_t *text, const uint64_t *off, size_t ndocs,
		 unsigned groups, struct dsv_docstats *out, int device,
		 int nthreads);

/* The byte-parallel subset, which has a CUDA twin. Field meanings as in
 * struct dsv_docstats. */
struct dsv_docstats_basic {
	uint64_t bytes, chars, newlines, hash_chars, ellipsis, curly, ws_words;
};

int docstats_basic_cpu(const uint8_t *text, const uint64_t *off, size_t ndocs,
		       struct dsv_docstats_basic *out, int nthreads);
int docstats_basic_cuda(const uint8_t *text, const uint64_t *off,
			size_t ndocs, struct dsv_docstats_basic *out);
int dsv_docstats_basic(const uint8_t *text, const uint64_t *off, size_t ndocs,
		       struct dsv_docstats_basic *out, int device,
		       int nthreads);

/* The word splitter, for the filter op and tests: calls fn(start, len, arg)
 * for each word of s[0..n) in order (byte offsets into s). */
void dsv_docstats_words(const uint8_t *s, size_t n,
			void (*fn)(size_t start, size_t len, void *arg),
			void *arg);

#ifdef __cplusplus
}
#endif

#endif
