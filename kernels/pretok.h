/* pretok.h: GPT-2 pre-tokenization: splits UTF-8 text into the chunks that
 * byte-level BPE encodes one at a time, with GPT-2's (and tiktoken's "gpt2")
 * pattern, through PCRE2 with UTF and UCP, JIT compiled.
 *
 * This is the one file pair in kernels/ that uses a library beyond libc,
 * CUDA and NCCL: the issue asks for PCRE2 (Debian's libpcre2-dev) for the
 * regex, so kernels' tests link -lpcre2-8.
 */
#ifndef DSV_KERNELS_PRETOK_H
#define DSV_KERNELS_PRETOK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The pattern, as GPT-2 wrote it:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with \s spelled out as Unicode White_Space (what Rust's regex, and so
 * tiktoken, mean by \s; PCRE2's UCP \s also takes U+180E). */
extern const char dsv_pretok_pattern[];

/* A splitter: one per thread (it owns PCRE2 match data and a JIT stack).
 * The compiled pattern itself is shared by all. */
typedef struct dsv_pretok dsv_pretok;

/* Returns 0, DSV_KERNEL_ENOMEM, or DSV_KERNEL_EINVAL when PCRE2 cannot
 * compile the pattern (the message has PCRE2's text). */
int dsv_pretok_new(dsv_pretok **out);
void dsv_pretok_free(dsv_pretok *p);

/* Starts splitting text[0..len) (borrowed until the last next call). Valid
 * UTF-8 is split by the pattern; each byte of an invalid UTF-8 sequence is a
 * chunk of its own, and the valid runs between are split as if they stood
 * alone (tiktoken never sees such bytes: Python strings are Unicode). */
void dsv_pretok_begin(dsv_pretok *p, const uint8_t *text, size_t len);
/* The next chunk: 1 with *start, *clen (an offset into text and a length,
 * never 0), 0 at the end. */
int dsv_pretok_next(dsv_pretok *p, size_t *start, size_t *clen);

/* Length of the longest valid UTF-8 prefix of s[0..len) (the whole of it
 * when valid): overlong forms, surrogates and code points above U+10FFFF
 * are invalid, as PCRE2 and Python say. */
size_t dsv_utf8_valid_prefix(const uint8_t *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
