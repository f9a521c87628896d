/* minhash_impl.h: the per-document core of the MinHash kernel, written once
 * and compiled twice: as C for kernels/minhash.c and as CUDA device code for
 * kernels/minhash.cu, which is what makes the two paths byte-identical.
 * Internal: shall only be included by kernels/minhash.c, kernels/minhash.cu
 * and kernels/docstats*, which reuse its UTF-8 decoder and XXH64.
 */
#ifndef DSV_KERNELS_MINHASH_IMPL_H
#define DSV_KERNELS_MINHASH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DSV_HD __host__ __device__ __forceinline__
#else
#define DSV_HD static inline
#endif

#define MH_PRIME ((uint64_t)0x1FFFFFFFFFFFFFFFULL) /* 2^61 - 1 */

/* ---- XXH64 (Collet's specification, seed given); the shingle hash ---- */

#define XX_P1 0x9E3779B185EBCA87ULL
#define XX_P2 0xC2B2AE3D27D4EB4FULL
#define XX_P3 0x165667B19E3779F9ULL
#define XX_P4 0x85EBCA77C2B2AE63ULL
#define XX_P5 0x27D4EB2F165667C5ULL

DSV_HD uint64_t xx_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Unaligned little-endian loads, byte by byte so device code never faults. */
DSV_HD uint64_t xx_read64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

DSV_HD uint32_t xx_read32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

DSV_HD uint64_t xx_round(uint64_t acc, uint64_t in)
{
	acc += in * XX_P2;
	acc = xx_rotl(acc, 31);
	return acc * XX_P1;
}

DSV_HD uint64_t xx_merge(uint64_t h, uint64_t v)
{
	h ^= xx_round(0, v);
	return h * XX_P1 + XX_P4;
}

/* The final mix, so that every input bit reaches every output bit. */
DSV_HD uint64_t xx_avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= XX_P2;
	h ^= h >> 29;
	h *= XX_P3;
	h ^= h >> 32;
	return h;
}

DSV_HD uint64_t dsv_xxh64(const uint8_t *p, size_t len, uint64_t seed)
{
	const uint8_t *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = seed + XX_P1 + XX_P2, v2 = seed + XX_P2;
		uint64_t v3 = seed, v4 = seed - XX_P1;
		const uint8_t *limit = end - 32;
		do {
			v1 = xx_round(v1, xx_read64(p));
			v2 = xx_round(v2, xx_read64(p + 8));
			v3 = xx_round(v3, xx_read64(p + 16));
			v4 = xx_round(v4, xx_read64(p + 24));
			p += 32;
		} while (p <= limit);
		h = xx_rotl(v1, 1) + xx_rotl(v2, 7) + xx_rotl(v3, 12) +
		    xx_rotl(v4, 18);
		h = xx_merge(h, v1);
		h = xx_merge(h, v2);
		h = xx_merge(h, v3);
		h = xx_merge(h, v4);
	} else {
		h = seed + XX_P5;
	}
	h += (uint64_t)len;
	while (p + 8 <= end) {
		h ^= xx_round(0, xx_read64(p));
		h = xx_rotl(h, 27) * XX_P1 + XX_P4;
		p += 8;
	}
	if (p + 4 <= end) {
		h ^= (uint64_t)xx_read32(p) * XX_P1;
		h = xx_rotl(h, 23) * XX_P2 + XX_P3;
		p += 4;
	}
	while (p < end) {
		h ^= (uint64_t)(*p) * XX_P5;
		h = xx_rotl(h, 11) * XX_P1;
		p++;
	}
	return xx_avalanche(h);
}

/* ---- (a*x + b) mod 2^61-1, exact: docstats' polynomial n-gram hashes ---- */

DSV_HD uint64_t mh_mod61(uint64_t x)
{
	x = (x & MH_PRIME) + (x >> 61);
	return x >= MH_PRIME ? x - MH_PRIME : x;
}

/* a in [1, p), b in [0, p), x in [0, p): the 122-bit product is reduced
 * with the Mersenne identity 2^61 == 1 (mod p). */
DSV_HD uint64_t mh_perm(uint64_t x, uint64_t a, uint64_t b)
{
	uint64_t lo, hi;
#ifdef __CUDA_ARCH__
	lo = a * x;
	hi = __umul64hi(a, x);
#else
	unsigned __int128 pr = (unsigned __int128)a * x;
	lo = (uint64_t)pr;
	hi = (uint64_t)(pr >> 64);
#endif
	lo += b;
	hi += lo < b;
	uint64_t r = (lo & MH_PRIME) + ((lo >> 61) | (hi << 3));
	return mh_mod61(r);
}

/* ---- UTF-8 ---- */

/* Decodes one code point at s[*i] (n bytes in all) and advances *i. A byte
 * that does not start a valid sequence comes back as 0x110000 | byte, so the
 * caller can copy it through unchanged. */
DSV_HD uint32_t dsv_utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	uint32_t c = s[*i];
	if (c < 0x80) {
		*i += 1;
		return c;
	}
	int len = c >= 0xF0 ? (c < 0xF5 ? 4 : 0)
		  : c >= 0xE0 ? 3
		  : c >= 0xC2 ? 2
			      : 0;
	if (len == 0 || *i + len > n)
		goto bad;
	{
		uint32_t cp = c & (0x7F >> len);
		for (int k = 1; k < len; k++) {
			uint8_t b = s[*i + k];
			if ((b & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (b & 0x3F);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
			goto bad;
		*i += len;
		return cp;
	}
bad:
	*i += 1;
	return 0x110000 | c;
}

DSV_HD int dsv_utf8_put(uint8_t *o, uint32_t cp)
{
	if (cp >= 0x110000) {
		o[0] = (uint8_t)(cp & 0xFF);
		return 1;
	}
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xE0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | (cp >> 18));
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* Python's str.isspace() / re's \s for the code points that occur in text. */
DSV_HD int dsv_is_space(uint32_t c)
{
	return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F) ||
	       c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ---- datatrove's simplify_text, one code point at a time ---- */

/* str.lower() for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other
 * scripts pass unchanged. Never changes the UTF-8 length. */
DSV_HD uint32_t mh_lower(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17F) {
		if (c == 0x130)
			return 'i'; /* "İ".lower() is "i" + U+0307, which NFD drops */
		if (c == 0x178)
			return 0xFF;
		if ((c <= 0x137) || (c >= 0x14A && c <= 0x177))
			return (c & 1) ? c : c + 1;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

/* NFD then "drop category Mn", for precomposed Latin-1 and Latin Extended-A
 * lowercase letters: the base letter, or 0 when NFD leaves it whole. */
DSV_HD uint32_t mh_fold(uint32_t c)
{
	/* '.' = no canonical decomposition */
	const char *l1 = "aaaaaa.ceeeeiiii.nooooo..uuuuy.y";		 /* E0-FF */
	const char *xa = "aaaaaaccccccccdd..eeeeeeeeeegggggggghh..iiiiiiii"
			 "i...jjkk.llllll....nnnnnn...oooooo..rrrrrrssssss"
			 "sstttt..uuuuuuuuuuuuwwyyyzzzzzz."; /* 100-17F */
	char r = '.';
	if (c >= 0xE0 && c <= 0xFF)
		r = l1[c - 0xE0];
	else if (c >= 0x100 && c <= 0x17F)
		r = xa[c - 0x100];
	return r == '.' ? 0 : (uint32_t)r;
}

/* Unicode category Mn in the blocks Western web text uses (combining
 * diacritics, Cyrillic, Hebrew and Arabic marks, their extensions). */
DSV_HD int mh_is_mark(uint32_t c)
{
	return (c >= 0x300 && c <= 0x36F) || (c >= 0x483 && c <= 0x489) ||
	       (c >= 0x591 && c <= 0x5BD) || c == 0x5BF || c == 0x5C1 ||
	       c == 0x5C2 || c == 0x5C4 || c == 0x5C5 || c == 0x5C7 ||
	       (c >= 0x610 && c <= 0x61A) || (c >= 0x64B && c <= 0x65F) ||
	       c == 0x670 || (c >= 0x6D6 && c <= 0x6DC) ||
	       (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
	       (c >= 0x20D0 && c <= 0x20F0) || (c >= 0xFE20 && c <= 0xFE2F);
}

/* datatrove's PUNCTUATION string (utils/text.py), which it maps to spaces:
 * all ASCII punctuation, these CJK / typographic marks, and the C0/C1
 * control characters other than tab and newline. */
DSV_HD int dsv_is_dt_punct(uint32_t c)
{
	if (c < 0x80)
		return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
		       (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E) ||
		       c < 9 || (c > 10 && c < 32) || c == 127;
	if (c < 0xA0)
		return 1;
	switch (c) {
	case 0x2014: case 0x201D: case 0xFF05: case 0xFF11: case 0x3008:
	case 0x3001: case 0x2501: case 0x3010: case 0x300C: case 0x300D:
	case 0xFF0C: case 0x3011: case 0xFF1B: case 0x201C: case 0x300A:
	case 0x201E: case 0x2019: case 0x2236: case 0x00B4: case 0xFF0E:
	case 0xFF08: case 0x2013: case 0xFF1F: case 0xFF01: case 0xFF1A:
	case 0xFF5E: case 0x00AB: case 0x3009: case 0x300B: case 0xFF09:
	case 0x3002: case 0x2026: case 0x25BA: case 0x00BB:
		return 1;
	}
	return 0;
}

/* The running hash of the word being written (mh_normalize): the word's
 * bytes in little-endian 8-byte chunks, the last one zero-padded (words
 * never hold a NUL byte, so the padding is unambiguous), each folded in with
 * XXH64's round from the state XX_P5. */
struct mh_wordhash {
	uint64_t acc, chunk;
	uint32_t pos;
};

DSV_HD void mh_wh_byte(struct mh_wordhash *w, uint8_t b)
{
	w->chunk |= (uint64_t)b << (8 * w->pos);
	if (++w->pos == 8) {
		w->acc = xx_round(w->acc, w->chunk);
		w->chunk = 0;
		w->pos = 0;
	}
}

DSV_HD uint64_t mh_wh_end(const struct mh_wordhash *w)
{
	return w->pos ? xx_round(w->acc, w->chunk) : w->acc;
}

/* Normalises one document the way datatrove's simplify_text does by default
 * (lowercase, each run of digits to "0", punctuation to space, whitespace
 * runs to one space, diacritics dropped, trimmed) and splits it into words on
 * the spaces. Writes the words into out[] separated by exactly one space
 * (so words i..j are the contiguous bytes out[ws[i] .. we[j]) and their
 * " ".join), the hash of each word into wh[] when wh is not NULL, and
 * returns the number of words. out holds at least n bytes and ws/we/wh at
 * least n/2+1 entries: the output is never longer than the input.
 * ASCII, almost all of web text, takes a short path: letters and digits are
 * word characters and every other ASCII byte is punctuation or space. */
DSV_HD uint32_t mh_normalize(const uint8_t *s, size_t n, uint8_t *out,
			     uint32_t *ws, uint32_t *we, uint64_t *wh)
{
	size_t i = 0;
	uint32_t o = 0, nw = 0;
	int in_word = 0, prev_digit = 0;
	struct mh_wordhash w = {0, 0, 0};
	while (i < n) {
		uint32_t c = s[i];
		if (c < 0x80) {
			uint32_t lc = c | 0x20;
			i++;
			if (lc - 'a' < 26u) {
				c = lc;
				prev_digit = 0;
			} else if (c - '0' < 10u) {
				if (prev_digit)
					continue;
				prev_digit = 1;
				c = '0';
			} else {
				prev_digit = 0;
				goto separator;
			}
		} else {
			c = mh_lower(dsv_utf8_next(s, n, &i));
			prev_digit = 0;
			if (c < 0x110000) {
				if (dsv_is_space(c) || dsv_is_dt_punct(c))
					goto separator;
				if (c >= 0x300 && mh_is_mark(c))
					continue;
				if (c >= 0xE0) {
					uint32_t f = mh_fold(c);
					if (f)
						c = f;
				}
			}
		}
		if (!in_word) {
			if (nw)
				out[o++] = ' ';
			ws[nw] = o;
			in_word = 1;
			w.acc = XX_P5;
			w.chunk = 0;
			w.pos = 0;
		}
		if (c < 0x80) {
			out[o++] = (uint8_t)c;
			mh_wh_byte(&w, (uint8_t)c);
		} else {
			int len = dsv_utf8_put(out + o, c);
			for (int k = 0; k < len; k++)
				mh_wh_byte(&w, out[o + k]);
			o += (uint32_t)len;
		}
		continue;
separator:
		if (in_word) {
			if (wh)
				wh[nw] = mh_wh_end(&w);
			we[nw++] = o;
			in_word = 0;
		}
	}
	if (in_word) {
		if (wh)
			wh[nw] = mh_wh_end(&w);
		we[nw++] = o;
	}
	return nw;
}

/* The 64-bit hash of shingle k (words k .. k+ngram-1, given their word
 * hashes wh); a document with fewer than ngram words has one shingle, all
 * its words. The word hashes go through XXH64's 8-byte step and final
 * avalanche, so the shingle hash depends on the words and their order. */
DSV_HD uint64_t mh_shingle(const uint64_t *wh, uint32_t nw, uint32_t ngram,
			   uint32_t k)
{
	uint32_t end = k + ngram;
	if (end > nw)
		end = nw;
	uint64_t h = XX_P5 + 8 * (uint64_t)(end - k);
	for (uint32_t i = k; i < end; i++) {
		h ^= xx_round(0, wh[i]);
		h = xx_rotl(h, 27) * XX_P1 + XX_P4;
	}
	return xx_avalanche(h);
}

/* Permutation k of a shingle hash: a_k*h + b_k mod 2^64 with a_k odd
 * (multiply-add, a bijection of the 64-bit values; the high bits, which
 * decide the minimum, depend on every bit of h). The signature value is
 * the minimum over the document's shingles. */
DSV_HD uint64_t mh_perm64(uint64_t h, uint64_t a, uint64_t b)
{
	return a * h + b;
}

DSV_HD uint32_t mh_nshingles(uint32_t nw, uint32_t ngram)
{
	return nw == 0 ? 0 : nw < ngram ? 1 : nw - ngram + 1;
}

/* Band key: XXH64 of the band's rows as little-endian u64, seeded with the
 * band number; 0 is kept for "no signature", so a computed 0 becomes 1. */
DSV_HD uint64_t mh_band_key(const uint64_t *rows, uint32_t r, uint32_t band)
{
	uint8_t buf[8 * 64];
	for (uint32_t j = 0; j < r; j++)
		for (int b = 0; b < 8; b++)
			buf[8 * j + b] = (uint8_t)(rows[j] >> (8 * b));
	uint64_t k = dsv_xxh64(buf, 8 * (size_t)r, band);
	return k ? k : 1;
}

#endif
