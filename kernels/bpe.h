/* bpe.h: byte-level BPE (GPT-2 style): training from text, encoding and
 * decoding, in plain C with OpenMP. Text is split into chunks by the GPT-2
 * pattern (kernels/pretok.h); each chunk is encoded on its own.
 *
 * Token ids: 0..255 are the bytes; 256.. are merged tokens in the order
 * training made them (an id is its tiktoken "rank"); the special
 * <|endoftext|> comes last, id dsv_bpe_eot() == number of other tokens, so
 * with a full vocabulary it is vocab_size - 1. Encoding follows tiktoken:
 * a chunk that is itself a token is that token; otherwise its bytes are
 * merged, repeatedly, at the adjacent pair whose concatenation is the token
 * of lowest id (leftmost on ties). See docs/tokenizer.md.
 *
 * Documents come as in minhash.h: text bytes back to back and ndocs+1
 * offsets. Returned objects are the caller's; kernels never keep the
 * caller's buffers.
 */
#ifndef DSV_KERNELS_BPE_H
#define DSV_KERNELS_BPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSV_BPE_EOT_TEXT "<|endoftext|>"
#define DSV_BPE_MAX_VOCAB (1u << 24)

/* ---- training ------------------------------------------------------------ */

/* Unique pre-token chunks with their counts over all text added so far. */
typedef struct dsv_bpe_counts dsv_bpe_counts;

int dsv_bpe_counts_new(dsv_bpe_counts **out);
void dsv_bpe_counts_free(dsv_bpe_counts *c);
/* Pre-tokenizes ndocs documents and counts their chunks, on nthreads
 * OpenMP threads (0: OpenMP's default). The result does not depend on the
 * thread count. Returns 0, DSV_KERNEL_EINVAL or DSV_KERNEL_ENOMEM. */
int dsv_bpe_counts_add(dsv_bpe_counts *c, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, int nthreads);
uint64_t dsv_bpe_counts_unique(const dsv_bpe_counts *c); /* distinct chunks */
uint64_t dsv_bpe_counts_total(const dsv_bpe_counts *c);  /* all chunks */

/* A tokenizer: its tokens (bytes and merges) and encoding tables. Read-only
 * after it is made, so threads may share one. */
typedef struct dsv_bpe dsv_bpe;

/* Learns merges until the vocabulary (special token included) has
 * vocab_size tokens or no adjacent pair is left (a pair seen once is still
 * merged, as Hugging Face's trainer does with min_frequency 0). Each step merges the pair of adjacent tokens with the highest count over
 * all chunks, ties to the smallest (left id, right id). A merge whose bytes
 * are already a token adds no token (its occurrences take that token's id).
 * vocab_size must be 257..DSV_BPE_MAX_VOCAB. */
int dsv_bpe_train(dsv_bpe **out, const dsv_bpe_counts *c, uint32_t vocab_size);
void dsv_bpe_free(dsv_bpe *b);

/* Tokens other than the special one (256 + merges); the special's id. */
uint32_t dsv_bpe_ntokens(const dsv_bpe *b);
uint32_t dsv_bpe_eot(const dsv_bpe *b);
/* ntokens + 1. */
uint32_t dsv_bpe_vocab_size(const dsv_bpe *b);
/* Bytes of token id (< ntokens; the special's text for eot), borrowed from
 * b; NULL for an id out of range. */
const uint8_t *dsv_bpe_token(const dsv_bpe *b, uint32_t id, size_t *len);
/* The merge that made token id >= 256. */
void dsv_bpe_merge(const dsv_bpe *b, uint32_t id, uint32_t *left,
		   uint32_t *right);

/* The TOKENIZER file (docs/tokenizer.md): a malloc'd NUL-terminated text. */
int dsv_bpe_format(const dsv_bpe *b, char **out, size_t *len);
/* Parses and checks a TOKENIZER file. DSV_KERNEL_EINVAL names the line
 * ("TOKENIZER:7: ..."). */
int dsv_bpe_parse(dsv_bpe **out, const char *text, size_t len);

/* ---- encoding ------------------------------------------------------------ */

/* One thread's encoder: the pre-tokenizer, scratch space, and a cache of
 * chunk -> ids (bounded; cleared when full). */
typedef struct dsv_bpe_encoder dsv_bpe_encoder;

int dsv_bpe_encoder_new(dsv_bpe_encoder **out, const dsv_bpe *b);
void dsv_bpe_encoder_free(dsv_bpe_encoder *e);
/* Encodes one text (no special tokens are recognised in it), appending ids
 * to *ids (malloc'd, grown with realloc; *n and *cap updated). */
int dsv_bpe_encode(dsv_bpe_encoder *e, const uint8_t *text, size_t len,
		   uint32_t **ids, size_t *n, size_t *cap);

/* Encodes ndocs documents on nthreads OpenMP threads (0: default). *ids
 * (malloc'd) receives all tokens back to back and tok_off (the caller's,
 * ndocs+1) where each document's tokens start; no special tokens are
 * added. Returns 0, DSV_KERNEL_EINVAL or DSV_KERNEL_ENOMEM. */
int dsv_bpe_encode_batch(const dsv_bpe *b, const uint8_t *text,
			 const uint64_t *off, size_t ndocs, uint32_t **ids,
			 uint64_t *tok_off, int nthreads);

/* Appends the bytes of ids[0..n) to *out (malloc'd, grown; *len, *cap
 * updated); eot becomes "<|endoftext|>". DSV_KERNEL_EINVAL for an id out
 * of range. */
int dsv_bpe_decode(const dsv_bpe *b, const uint32_t *ids, size_t n,
		   uint8_t **out, size_t *len, size_t *cap);

#ifdef __cplusplus
}
#endif

#endif
