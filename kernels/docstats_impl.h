/* docstats_impl.h: the byte-parallel per-document counts, written once for
 * the C reference and the CUDA twin. Internal: shall only be included by
 * kernels/docstats.c and kernels/docstats.cu.
 */
#ifndef DSV_KERNELS_DOCSTATS_IMPL_H
#define DSV_KERNELS_DOCSTATS_IMPL_H

#include "kernels/minhash_impl.h"

/* ASCII whitespace as str.split() sees it in practice (Unicode spaces are
 * counted by the CPU word splitter, not here). */
DSV_HD int ds_ascii_space(uint8_t c)
{
	return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F);
}

/* What byte i of s[0..n) contributes to each basic count. Each count is a
 * sum of independent per-byte terms, so threads may split the bytes freely:
 *   chars: bytes that do not continue a UTF-8 sequence
 *   ellipsis: "…" ends at i, or a run of dots ends at i (run length / 3,
 *     which is what str.count("...") gives for a run)
 *   ws_words: a non-space byte after a space or at the start */
DSV_HD void ds_basic_byte(const uint8_t *s, size_t n, size_t i, uint64_t *c)
{
	uint8_t b = s[i];
	c[1] += (b & 0xC0) != 0x80;
	c[2] += b == '\n';
	c[3] += b == '#';
	c[5] += b == '{';
	c[6] += !ds_ascii_space(b) && (i == 0 || ds_ascii_space(s[i - 1]));
	if (b == 0xA6 && i >= 2 && s[i - 2] == 0xE2 && s[i - 1] == 0x80)
		c[4]++;
	if (b == '.' && (i + 1 == n || s[i + 1] != '.')) {
		size_t k = i;
		while (k > 0 && s[k - 1] == '.')
			k--;
		c[4] += (i - k + 1) / 3;
	}
}

#endif
