/* pretok.c: GPT-2 pre-tokenization through PCRE2 (UTF, UCP, JIT).
 * kernels/ otherwise needs only libc, CUDA and NCCL; this file is the one
 * exception, because the issue asks for PCRE2 (libpcre2-8) for the regex.
 * Invalid UTF-8 never reaches PCRE2: it is cut out byte by byte first.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "kernels/pretok.h"
#include "kernels/device.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}" \
	   "\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

const char dsv_pretok_pattern[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
	"|[" WS "]+(?![^" WS "])|[" WS "]+";

static pthread_once_t compile_once = PTHREAD_ONCE_INIT;
static pcre2_code *pattern;
static int pattern_jit;
static char compile_err[256];

static void compile_pattern(void)
{
	int err;
	PCRE2_SIZE off;
	pattern = pcre2_compile((PCRE2_SPTR)dsv_pretok_pattern,
				PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
				&err, &off, NULL);
	if (!pattern) {
		pcre2_get_error_message(err, (PCRE2_UCHAR *)compile_err,
					sizeof compile_err);
		return;
	}
	/* Without JIT (a platform PCRE2 has no JIT for) pcre2_match is used,
	 * slower but the same chunks. */
	pattern_jit = pcre2_jit_compile(pattern, PCRE2_JIT_COMPLETE) == 0;
}

struct dsv_pretok {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *stack;
	const uint8_t *text;
	size_t len, pos;
	size_t run_end; /* end of the current valid UTF-8 run */
};

int dsv_pretok_new(dsv_pretok **out)
{
	dsv_pretok *p;
	*out = NULL;
	pthread_once(&compile_once, compile_pattern);
	if (!pattern)
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"pcre2 cannot compile the GPT-2 "
					"pattern: %s", compile_err);
	if (!(p = calloc(1, sizeof *p)))
		goto nomem;
	*out = p;
	if (!(p->md = pcre2_match_data_create_from_pattern(pattern, NULL)))
		goto nomem;
	if (pattern_jit) {
		/* Long whitespace runs backtrack through (?!\S); 1 MiB of
		 * JIT stack is ample for any chunk. */
		if (!(p->mctx = pcre2_match_context_create(NULL)) ||
		    !(p->stack = pcre2_jit_stack_create(32 << 10, 1 << 20, NULL)))
			goto nomem;
		pcre2_jit_stack_assign(p->mctx, NULL, p->stack);
	}
	return 0;
nomem:
	dsv_pretok_free(p);
	*out = NULL;
	return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
}

void dsv_pretok_free(dsv_pretok *p)
{
	if (!p)
		return;
	pcre2_match_data_free(p->md);
	pcre2_match_context_free(p->mctx);
	pcre2_jit_stack_free(p->stack);
	free(p);
}

/* Length of the UTF-8 sequence starting at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return len >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (len < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (len < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

size_t dsv_utf8_valid_prefix(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* ASCII fast path: eight bytes at a time. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		size_t n = utf8_seq(s + i, len - i);
		if (!n)
			return i;
		i += n;
	}
	return len;
}

void dsv_pretok_begin(dsv_pretok *p, const uint8_t *text, size_t len)
{
	p->text = text;
	p->len = len;
	p->pos = 0;
	p->run_end = dsv_utf8_valid_prefix(text, len);
}

int dsv_pretok_next(dsv_pretok *p, size_t *start, size_t *clen)
{
	if (p->pos >= p->len)
		return 0;
	if (p->pos >= p->run_end) {
		/* An invalid byte: a chunk of its own, then the next run. */
		*start = p->pos++;
		*clen = 1;
		if (p->pos < p->len && utf8_seq(p->text + p->pos,
						 p->len - p->pos))
			p->run_end = p->pos + dsv_utf8_valid_prefix(
				p->text + p->pos, p->len - p->pos);
		return 1;
	}
	/* The run is the subject, so that (?!\S) sees its end as the end. */
	int rc;
	if (p->stack)
		rc = pcre2_jit_match(pattern, p->text, p->run_end, p->pos,
				     PCRE2_NO_UTF_CHECK, p->md, p->mctx);
	else
		rc = pcre2_match(pattern, p->text, p->run_end, p->pos,
				 PCRE2_NO_UTF_CHECK, p->md, NULL);
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
	if (rc < 0 || ov[0] != p->pos || ov[1] <= ov[0]) {
		/* Cannot happen: the alternatives cover every code point (the
		 * last one any whitespace, the one before any other). Keep
		 * going with one code point rather than loop. */
		size_t n = utf8_seq(p->text + p->pos, p->run_end - p->pos);
		*start = p->pos;
		*clen = n ? n : 1;
		p->pos += *clen;
		return 1;
	}
	*start = ov[0];
	*clen = ov[1] - ov[0];
	p->pos = ov[1];
	return 1;
}
