/* docstats_full_impl.h: the per-document statistics of struct dsv_docstats
 * (word splitter, lines, Gopher repetition, FineWeb and C4 line rules),
 * written once and compiled twice: as C for docstats_cpu (kernels/docstats.c)
 * and as CUDA device code for docstats_cuda (kernels/docstats.cu), which is
 * what makes the two paths byte-identical. Internal: shall only be included
 * by kernels/docstats.c, kernels/docstats.cu and tests/unit/kernel_docstats.c
 * (which checks the device scratch bound on the CPU).
 *
 * Device code has no libc and no malloc: the ds_ string helpers below are
 * libc on the host and loops on the device, and struct ds_scratch grows by
 * realloc on the host but is carved out of a pool sized from the document's
 * length on the device (ds_scratch_bytes), where running short sets `oom`.
 */
#ifndef DSV_KERNELS_DOCSTATS_FULL_IMPL_H
#define DSV_KERNELS_DOCSTATS_FULL_IMPL_H

#include <stddef.h>
#include <stdint.h>
#ifndef __CUDACC__
#include <stdlib.h>
#include <string.h>
#endif

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/docstats_impl.h"

/* Unlike minhash_impl.h's DSV_HD, the functions here are device-only under
 * nvcc (docstats.cu has no host use for them, and the tables they read are
 * __device__ data that host code may not touch) and not forced inline (the
 * splitter is large and reached from two places). DS_CALL marks the
 * splitter's few big functions that are called from many places
 * (merge_push from every token, exc_find from every affix step): inlined
 * into each other, they made 12 MB of PTX and 8 minutes of cicc per
 * architecture; called, 0.7 MB and seconds. In C they stay plain static
 * functions, so the CPU path compiles as it did before the split. */
#ifdef __CUDACC__
#define DS_FN static __device__
#define DS_CONST static __device__ const
#define DS_CALL static __device__ __noinline__
#else
#define DS_FN static
#define DS_CONST static const
#define DS_CALL static
#endif

/* ---- libc stand-ins (libc on the host, where it is fastest) ---- */

DS_FN size_t ds_strlen(const char *t)
{
#ifdef __CUDACC__
	size_t n = 0;
	while (t[n])
		n++;
	return n;
#else
	return strlen(t);
#endif
}

DS_FN int ds_memcmp(const void *x, const void *y, size_t n)
{
#ifdef __CUDACC__
	const uint8_t *a = (const uint8_t *)x, *b = (const uint8_t *)y;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
#else
	return memcmp(x, y, n);
#endif
}

DS_FN const void *ds_memchr(const void *p, int c, size_t n)
{
#ifdef __CUDACC__
	const uint8_t *s = (const uint8_t *)p;
	for (size_t i = 0; i < n; i++)
		if (s[i] == (uint8_t)c)
			return s + i;
	return NULL;
#else
	return memchr(p, c, n);
#endif
}

/* Is the ASCII code point c (not NUL) one of `set`? */
DS_FN int ds_in(const char *set, uint32_t c)
{
	if (!c || c >= 0x80)
		return 0;
#ifdef __CUDACC__
	for (; *set; set++)
		if ((uint8_t)*set == c)
			return 1;
	return 0;
#else
	return strchr(set, (int)c) != NULL;
#endif
}

/* Gopher's stop words, in stop_mask bit order (dsv_docstats_stop_words
 * points into this table). */
DS_CONST struct ds_stop {
	char s[5];
	uint8_t len;
} ds_stop[8] = {{"the", 3}, {"be", 2},	 {"to", 2},   {"of", 2},
		{"and", 3}, {"that", 4}, {"have", 4}, {"with", 4}};

DS_CONST uint32_t terminal[] = {0x21, 0x2E, 0x3F, 0x589, 0x61D, 0x61E, 0x61F, 0x6D4, 0x700, 0x701, 0x702, 0x7F9, 0x837, 0x839, 0x83D, 0x83E, 0x964, 0x965, 0x104A, 0x104B, 0x1362, 0x1367, 0x1368, 0x166E, 0x1735, 0x1736, 0x17D4, 0x17D5, 0x17D6, 0x17D9, 0x17DA, 0x1803, 0x1809, 0x1944, 0x1945, 0x1AA8, 0x1AA9, 0x1AAA, 0x1AAB, 0x1B5A, 0x1B5B, 0x1B5E, 0x1B5F, 0x1B7D, 0x1B7E, 0x1C3B, 0x1C3C, 0x1C7E, 0x1C7F, 0x203C, 0x203D, 0x2047, 0x2048, 0x2049, 0x2E2E, 0x2E3C, 0x2E53, 0x2E54, 0x3002, 0xA4FF, 0xA60E, 0xA60F, 0xA6F3, 0xA6F7, 0xA876, 0xA877, 0xA8CE, 0xA8CF, 0xA92F, 0xA9C8, 0xA9C9, 0xAA5D, 0xAA5E, 0xAA5F, 0xAAF0, 0xAAF1, 0xABEB, 0xFE52, 0xFE56, 0xFE57, 0xFF01, 0xFF0E, 0xFF1F, 0xFF61, 0x10A56, 0x10A57, 0x10F55, 0x10F56, 0x10F57, 0x10F58, 0x10F59, 0x10F86, 0x10F87, 0x10F88, 0x10F89, 0x11047, 0x11048, 0x110BE, 0x110BF, 0x110C0, 0x110C1, 0x11141, 0x11142, 0x11143, 0x111C5, 0x111C6, 0x111CD, 0x111DE, 0x111DF, 0x11238, 0x11239, 0x1123B, 0x1123C, 0x112A9, 0x1144B, 0x1144C, 0x115C2, 0x115C3, 0x115C9, 0x115CA, 0x115CB, 0x115CC, 0x115CD, 0x115CE, 0x115CF, 0x115D0, 0x115D1, 0x115D2, 0x115D3, 0x115D4, 0x115D5, 0x115D6, 0x115D7, 0x11641, 0x11642, 0x1173C, 0x1173D, 0x1173E, 0x11944, 0x11946, 0x11A42, 0x11A43, 0x11A9B, 0x11A9C, 0x11C41, 0x11C42, 0x11EF7, 0x11EF8, 0x11F43, 0x11F44, 0x16A6E, 0x16A6F, 0x16AF5, 0x16B37, 0x16B38, 0x16B44, 0x16E98, 0x1BC9F, 0x1DA88};

DS_FN int bsearch_u32(const uint32_t *a, size_t n, uint32_t c)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (a[m] == c)
			return 1;
		if (a[m] < c)
			lo = m + 1;
		else
			hi = m;
	}
	return 0;
}

DS_FN int is_terminal(uint32_t c)
{
	return bsearch_u32(terminal, sizeof terminal / sizeof *terminal, c);
}

DS_FN int is_digit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

/* ---- spaCy's character classes (kernels/docstats_chars.h) ---- */

#include "kernels/docstats_chars.h"

/* The DS_C_* classes of code point c (0 for a stray byte's 0x110000 | b). */
DS_FN unsigned ds_class(uint32_t c)
{
	if (c < 0x80)
		return ds_ascii_class[c];
	size_t lo = 0, hi = sizeof ds_class_rows / sizeof *ds_class_rows;
	while (hi - lo > 1) { /* the last row starting at or before c */
		size_t m = (lo + hi) / 2;
		if (ds_class_rows[m] >> DS_C_BITS <= c)
			lo = m;
		else
			hi = m;
	}
	return ds_class_rows[lo] & ((1u << DS_C_BITS) - 1);
}

DS_FN int is_class(uint32_t c, unsigned cls)
{
	return (ds_class(c) & cls) != 0;
}

/* Python's str.isalpha() of one code point (Gopher's alpha words). */
DS_FN int is_alpha(uint32_t c)
{
	if (c < 0x80)
		return (c | 32) >= 'a' && (c | 32) <= 'z';
	return is_class(c, DS_C_ISALPHA);
}

/* Punctuation spaCy's English prefixes and suffixes split off one
 * character at a time (LIST_PUNCT, LIST_QUOTES, currency for prefixes);
 * '.', '+', icons and units have their own rules (find_prefix,
 * find_suffix). */
DS_FN int is_affix(uint32_t c, int prefix)
{
	return is_class(c, prefix ? DS_C_PREFIX : DS_C_SUFFIX);
}

/* Code point ending at byte b (exclusive), and its start. */
DS_FN uint32_t cp_before(const uint8_t *s, size_t a, size_t b, size_t *start)
{
	size_t k = b - 1;
	while (k > a && (s[k] & 0xC0) == 0x80 && b - k < 4)
		k--;
	size_t i = k;
	uint32_t c = dsv_utf8_next(s, b, &i);
	if (i != b) { /* not a whole sequence: take the last byte alone */
		k = b - 1;
		c = 0x110000 | s[k];
	}
	*start = k;
	return c;
}

DS_FN int ends_with(const uint8_t *s, size_t a, size_t b, const char *t)
{
	size_t n = ds_strlen(t);
	return b - a >= n && !ds_memcmp(s + b - n, t, n);
}

/* ---- spaCy's special cases (tokenizer exceptions) ---- */

#include "kernels/docstats_exc.h"

enum { DS_NEXC = sizeof dsv_exc / sizeof dsv_exc[0] };

/* A cheap pre-check, as exc_find runs several times per word: bit n of
 * exc_first[c] (exc_last[c]) is set when some special case of n bytes
 * starts (ends) with byte c, and bit DS_RUN_BIT + n too when the
 * special-case matcher looks for it (m > 0; gen_spacy_exceptions.py
 * asserts the lengths these bits need). Filled by ds_exc_masks before the first
 * document: on the host inside pthread_once (docstats.c), on the device by
 * docstats.cu, which also uploads the table (docstats_exc.h is generated as
 * host data) and points DS_EXC at it. */
#ifdef __CUDACC__
static __device__ const struct dsv_exc *ds_exc_dev;
static __device__ uint64_t exc_first[256], exc_last[256];
#define DS_EXC ds_exc_dev
#else
static uint64_t exc_first[256], exc_last[256];
#define DS_EXC dsv_exc
#endif

enum { DS_EXC_MAXLEN = 32, DS_RUN_BIT = 32 }; /* bytes; bit */

/* Host code: computes exc_first and exc_last from dsv_exc. */
static inline void ds_exc_masks(uint64_t first[256], uint64_t last[256])
{
	for (size_t i = 0; i < DS_NEXC; i++) {
		size_t n = dsv_exc[i].len;
		uint64_t bits = 1ull << n;
		if (dsv_exc[i].m)
			bits |= 1ull << (DS_RUN_BIT + n);
		first[(uint8_t)dsv_exc[i].s[0]] |= bits;
		last[(uint8_t)dsv_exc[i].s[n - 1]] |= bits;
	}
}

/* Can a special case of n bytes (n > 0) start with byte f and end with l? */
DS_FN int exc_maybe(uint8_t f, uint8_t l, size_t n)
{
	return n <= DS_EXC_MAXLEN && ((exc_first[f] & exc_last[l]) >> n & 1);
}


DS_CALL const struct dsv_exc *exc_find(const uint8_t *s, size_t n)
{
	size_t lo = 0, hi = DS_NEXC;
	if (n == 0 || !exc_maybe(s[0], s[n - 1], n))
		return NULL;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		size_t l = DS_EXC[m].len;
		int c = ds_memcmp(DS_EXC[m].s, s, l < n ? l : n);
		if (!c)
			c = (l > n) - (l < n);
		if (!c)
			return &DS_EXC[m];
		if (c < 0)
			lo = m + 1;
		else
			hi = m;
	}
	return NULL;
}

/* ---- per-document scratch: words, segments, a small hash map ---- */

struct word {
	uint32_t start, len, chars;
};

struct hent {
	uint64_t key;
	uint32_t count, first;
};

struct segs {
	uint64_t (*v)[2];
	size_t n, cap;
	int oom;
};

/* One document's working memory. The CPU reuses one per thread and grows
 * it; the device gets one per document from ds_scratch_carve. */
struct scratch {
	struct word *w;
	size_t nw, wcap;
	struct hent *h;
	size_t hcap;
	uint64_t *pre, *pow; /* polynomial prefix hashes over word sequences */
	size_t pcap;
	struct segs g;	/* paragraphs, lines */
	uint8_t *tmp;	/* a C4 line without its citations */
	size_t tmpcap;
	int oom;
};

DS_FN size_t count_chars(const uint8_t *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (s[i] & 0xC0) != 0x80;
	return c;
}

DS_FN void on_word(size_t start, size_t len, struct scratch *sc)
{
	if (sc->nw == sc->wcap) {
#ifdef __CUDACC__
		sc->oom = 1; /* ds_scratch_bytes allows a word per byte */
		return;
#else
		size_t cap = sc->wcap ? 2 * sc->wcap : 1024;
		struct word *w = realloc(sc->w, cap * sizeof *w);
		if (!w) {
			sc->oom = 1;
			return;
		}
		sc->w = w;
		sc->wcap = cap;
#endif
	}
	sc->w[sc->nw].start = (uint32_t)start;
	sc->w[sc->nw].len = (uint32_t)len;
	sc->nw++;
}

struct sent_state {
	const uint8_t *s;
	uint64_t count;
	int seen, any;
};

DS_FN int token_is_punct(const uint8_t *s, size_t a, size_t len)
{
	size_t i = a, b = a + len;
	while (i < b) {
		uint32_t c = dsv_utf8_next(s, b, &i);
		if (!(dsv_is_dt_punct(c) || is_affix(c, 1) || is_affix(c, 0) ||
		      is_terminal(c)))
			return 0;
	}
	return 1;
}

/* spaCy's sentencizer: a sentence starts at the first token and at each
 * non-punctuation token that follows a sentence-final punctuation token. */
DS_FN void on_sent_token(size_t start, size_t len, struct sent_state *st)
{
	size_t i = start;
	uint32_t c = dsv_utf8_next(st->s, start + len, &i);
	int in_pc = i == start + len && is_terminal(c);
	if (!st->any) {
		st->any = 1;
		st->count++;
	}
	if (st->seen && !in_pc && !token_is_punct(st->s, start, len)) {
		st->count++;
		st->seen = 0;
	} else if (in_pc) {
		st->seen = 1;
	}
}

/* Where the splitter's words go. A switch rather than a function pointer,
 * so that device code has a call graph (and a stack size) known at compile
 * time; only the host's public dsv_docstats_words takes a callback. */
enum { DS_SINK_WORDS, DS_SINK_SENTENCES, DS_SINK_FN };

struct ds_sink {
	int kind;
	void *arg;
	void (*fn)(size_t start, size_t len, void *arg); /* DS_SINK_FN, host */
};

DS_FN void ds_emit(const struct ds_sink *k, size_t start, size_t len)
{
	switch (k->kind) {
	case DS_SINK_WORDS:
		on_word(start, len, (struct scratch *)k->arg);
		break;
	case DS_SINK_SENTENCES:
		on_sent_token(start, len, (struct sent_state *)k->arg);
		break;
#ifndef __CUDACC__
	default:
		k->fn(start, len, k->arg);
#endif
	}
}

/* spaCy's special-case matcher (Tokenizer._apply_special_cases): a run of
 * tokens that is the affix split of a special case (")" ":" of "):", "m"
 * "." of "m.": dsv_exc's m > 0) becomes that special case's tokens. The
 * matcher sees tokens, not text: a run may cross the single space between
 * two chunks, and then counts but stays as it is (its text, with the
 * space, names no special case). Of overlapping runs spaCy keeps the
 * longest, then the first; a run is dropped when a longer or an earlier
 * one as long covers its first or last token, whether that one was kept or
 * not (_filter_special_spans: five quotes keep only their first "''"). So
 * the verdict on the run at token i needs the runs starting up to ML-1
 * tokens before it and the tokens up to 2ML-2 after it, which the queue
 * holds (3ML-2 tokens; it is longer, so that it moves its tokens down only
 * now and then). */
enum { DS_ML = DSV_EXC_MAXMATCH, DS_MQ = 6 * DSV_EXC_MAXMATCH };

struct merger {
	const struct ds_sink *out;
	const uint8_t *s;
	uint32_t q[DS_MQ][2]; /* start, length of the tokens */
	int8_t run[DS_MQ];    /* tokens of the longest run at q[i], -1 unknown */
	uint8_t gap[DS_MQ];   /* q[i] follows a space, not q[i - 1] */
	int n, cur;	      /* q[0..cur) are out, kept as context */
	int space;	      /* the next token follows a space */
};

/* Tokens of the longest run starting at q[i] (0: none), from the n queued. */
DS_FN int merge_run(struct merger *m, int i)
{
	if (m->run[i] >= 0)
		return m->run[i];
	m->run[i] = 0;
	/* bit n: the matcher looks for a special case of n bytes starting
	 * with the run's first byte */
	uint64_t lens = exc_first[m->s[m->q[i][0]]] >> DS_RUN_BIT;
	size_t len = m->q[i][1];
	for (int k = 2; k <= DS_ML && i + k <= m->n; k++) {
		const uint32_t *t = m->q[i + k - 1];
		len += t[1];
		if (len >= 64 - DS_RUN_BIT || !(lens >> len))
			break;
		uint64_t ends = exc_last[m->s[t[0] + t[1] - 1]] >> DS_RUN_BIT;
		if (!((lens & ends) >> len & 1))
			continue;
		uint8_t buf[DS_EXC_MAXLEN]; /* the run's text without spaces */
		for (int j = i, at = 0; j < i + k; j++)
			for (uint32_t b = 0; b < m->q[j][1]; b++)
				buf[at++] = m->s[m->q[j][0] + b];
		const struct dsv_exc *e = exc_find(buf, len);
		if (e && e->m == k)
			m->run[i] = (int8_t)k;
	}
	return m->run[i];
}

/* Is the run of k tokens at q[i] kept? */
DS_FN int merge_kept(struct merger *m, int i, int k)
{
	int j0 = i - DS_ML + 1 > 0 ? i - DS_ML + 1 : 0;
	for (int j = j0; j < i + k; j++) {
		int r = j == i ? 0 : merge_run(m, j);
		if (r && (r > k || (r == k && j < i)) &&
		    ((j <= i && i < j + r) || (j <= i + k - 1 && i + k - 1 < j + r)))
			return 0;
	}
	return 1;
}

/* Sends out q[cur], or the run starting there split the special case's
 * way. */
DS_CALL void merge_one(struct merger *m)
{
	int i = m->cur, k = merge_run(m, i), gap = 0;
	for (int j = i + 1; j < i + k; j++)
		gap |= m->gap[j];
	if (k && !gap && merge_kept(m, i, k)) {
		size_t a = m->q[i][0];
		const struct dsv_exc *e = exc_find(
			m->s + a, m->q[i + k - 1][0] + m->q[i + k - 1][1] - a);
		for (int p = 0, at = 0; p < e->n; p++) {
			ds_emit(m->out, a + (size_t)at, e->piece[p]);
			at += e->piece[p];
		}
		m->cur += k;
	} else { /* a run across a space stays as it is */
		ds_emit(m->out, m->q[i][0], m->q[i][1]);
		m->cur++;
	}
}

/* Drops the tokens out before the ML-1 that merge_kept looks back at. */
DS_FN void merge_trim(struct merger *m)
{
	int drop = m->cur - (DS_ML - 1);
	for (int j = drop; j < m->n; j++) {
		m->q[j - drop][0] = m->q[j][0];
		m->q[j - drop][1] = m->q[j][1];
		m->run[j - drop] = m->run[j];
		m->gap[j - drop] = m->gap[j];
	}
	m->n -= drop;
	m->cur -= drop;
}

DS_CALL void merge_push(struct merger *m, size_t start, size_t len)
{
	if (m->n == DS_MQ) /* cur >= DS_MQ - (2ML-2) > ML-1: drops some */
		merge_trim(m);
	m->q[m->n][0] = (uint32_t)start;
	m->q[m->n][1] = (uint32_t)len;
	m->run[m->n] = -1;
	m->gap[m->n++] = (uint8_t)m->space;
	m->space = 0;
	while (m->n - m->cur > 2 * DS_ML - 2)
		merge_one(m);
}

/* Sends out what is queued: at the end, or before whitespace other than
 * one space (a token of spaCy's, which no run crosses). */
DS_FN void merge_flush(struct merger *m)
{
	while (m->cur < m->n)
		merge_one(m);
	m->n = m->cur = 0;
}

DS_CONST char *const hyphens[] = {"-", "\xe2\x80\x93", "\xe2\x80\x94", "--",
				  "---", "\xe2\x80\x94\xe2\x80\x94", "~", NULL};

/* Length of the first of spaCy's HYPHENS, in its order, at s[i..b) and
 * followed by an ALPHA; 0 if none. */
DS_FN size_t hyphen_at(const uint8_t *s, size_t i, size_t b)
{
	for (int h = 0; hyphens[h]; h++) {
		size_t n = ds_strlen(hyphens[h]), j = i + n;
		if (j < b && !ds_memcmp(s + i, hyphens[h], n) &&
		    is_class(dsv_utf8_next(s, b, &j), DS_C_ALPHA))
			return n;
	}
	return 0;
}

/* Splits the middle of a chunk at spaCy's English infixes: runs of 2+ dots
 * and '…'; icons; [+-*^] between a digit and a digit or '-'; hyphens
 * (- – — -- --- —— ~) between an ALPHA or digit and an ALPHA; ',' between
 * ALPHAs; [:<>=/] after an ALPHA or digit before an ALPHA; '.' between an
 * ALPHA_LOWER or quote and an ALPHA_UPPER or quote. ALPHA is spaCy's
 * class, not Python's isalpha (no Armenian, Georgian or Thai). */
DS_CALL void split_infix(const uint8_t *s, size_t a, size_t b,
			struct merger *m)
{
	size_t piece = a, i = a;
	uint32_t prev = 0;
	while (i < b) {
		size_t ci = i;
		uint32_t c = dsv_utf8_next(s, b, &i);
		size_t ilen = 0;
		if (c == '.' && i < b && s[i] == '.') {
			size_t k = i;
			while (k < b && s[k] == '.')
				k++;
			ilen = k - ci;
		} else if (c == 0x2026 || is_class(c, DS_C_ICON)) {
			ilen = i - ci;
		} else if (ci > a && i < b) {
			size_t j = i;
			uint32_t next = dsv_utf8_next(s, b, &j);
			if ((c == '+' || c == '-' || c == '*' || c == '^') &&
			    is_digit(prev) && (is_digit(next) || next == '-'))
				ilen = 1;
			else if (c == '.' && is_class(prev, DS_C_LOWER | DS_C_QUOTE) &&
				 is_class(next, DS_C_UPPER | DS_C_QUOTE))
				ilen = 1;
			else if (c == ',' && is_class(prev, DS_C_ALPHA) &&
				 is_class(next, DS_C_ALPHA))
				ilen = 1;
			else if ((c == '-' || c == '~' || c == 0x2013 || c == 0x2014) &&
				 (is_digit(prev) || is_class(prev, DS_C_ALPHA)))
				ilen = hyphen_at(s, ci, b);
			else if (ds_in(":<>=/", c) && is_class(next, DS_C_ALPHA) &&
				 (is_digit(prev) || is_class(prev, DS_C_ALPHA)))
				ilen = 1;
		}
		if (ilen) {
			if (ci > piece)
				merge_push(m, piece, ci - piece);
			merge_push(m, ci, ilen);
			i = ci + ilen;
			piece = i;
			size_t k;
			prev = cp_before(s, a, i, &k);
			continue;
		}
		prev = c;
	}
	if (b > piece)
		merge_push(m, piece, b - piece);
}

DS_FN int is_word_char(uint32_t c) /* Python's \w */
{
	return is_class(c, DS_C_WORD);
}

/* A URL host or label character: [A-Za-z0-9\u00a1-\uffff]. */
DS_FN int is_host_char(uint32_t c)
{
	return (c < 0x80 && (is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'z'))) ||
	       (c >= 0xA1 && c <= 0xFFFF);
}

/* End of the host name of spaCy's URL_MATCH at s[p..b), 0 if none: one or
 * more "label." (64 characters at most a label) then a lowercase top-level
 * label of 2+ letters. */
DS_FN size_t name_host(const uint8_t *s, size_t p, size_t b)
{
	size_t i = p, dot = 0, ndots = 0, label = 0; /* label: its characters */
	uint32_t prev = 0;
	while (i < b) {
		size_t ci = i;
		uint32_t c = dsv_utf8_next(s, b, &i);
		label++;
		if (c == '.') {
			if (!is_host_char(prev) || label > 65) /* 64 and the dot */
				return 0;
			dot = i;
			ndots++;
			label = 0;
		} else if (c == '_' || c == '-') {
			if (prev == '.' || ci == p)
				return 0;
		} else if (!is_host_char(c)) {
			i = ci;
			break;
		}
		prev = c;
	}
	if (!ndots)
		return 0;
	size_t tld_end = i, k = dot, n = 0;
	while (k < tld_end) {
		uint32_t c = dsv_utf8_next(s, tld_end, &k);
		if (!is_class(c, DS_C_LOWER))
			return 0;
		n++;
	}
	return n < 2 || n > 63 ? 0 : i;
}

/* End of the dotted IPv4 host of spaCy's URL_MATCH at s[p..b), 0 if none:
 * 1-223, 0-255 twice, 1-254, unless private (10., 127., 169.254.,
 * 192.168., 172.16-31.). Its \d is ASCII here. */
DS_FN size_t ip_host(const uint8_t *s, size_t p, size_t b)
{
	unsigned v[4];
	size_t i = p, nd[4];
	for (int o = 0; o < 4; o++) {
		if (o && (i >= b || s[i++] != '.'))
			return 0;
		size_t d = i;
		v[o] = 0;
		while (i < b && is_digit(s[i]) && i - d < 4)
			v[o] = v[o] * 10 + (unsigned)(s[i++] - '0');
		nd[o] = i - d;
		int ends = o == 0 || o == 3, zero = nd[o] > 1 && s[d] == '0';
		if (!nd[o] || nd[o] > 3 || (zero && (ends || nd[o] == 3)) ||
		    (ends && !v[o]) || v[o] > (o == 0 ? 223u : ends ? 254u : 255u))
			return 0;
	}
	if (v[0] == 10 || v[0] == 127 || (v[0] == 169 && v[1] == 254) ||
	    (v[0] == 192 && v[1] == 168) ||
	    (v[0] == 172 && nd[1] == 2 && v[1] >= 16 && v[1] <= 31))
		return 0;
	return i;
}

/* Whether s[i..b) is the rest of a URL after its host: an optional ":port"
 * (2-5 digits) and an optional [/?#] path. */
DS_FN int url_tail(const uint8_t *s, size_t i, size_t b)
{
	if (i < b && s[i] == ':') {
		size_t j = i + 1;
		while (j < b && is_digit(s[j]))
			j++;
		if (j - i - 1 < 2 || j - i - 1 > 5)
			return 0;
		i = j;
	}
	return i == b || s[i] == '/' || s[i] == '?' || s[i] == '#';
}

/* The host, port and path of spaCy's URL_MATCH: the whole of s[p..b). */
DS_FN int url_rest(const uint8_t *s, size_t p, size_t b)
{
	size_t i = ip_host(s, p, b);
	if (i && url_tail(s, i, b))
		return 1;
	i = name_host(s, p, b);
	return i && url_tail(s, i, b);
}

/* spaCy's URL_MATCH over the whole of s[a..b). */
DS_FN int is_url(const uint8_t *s, size_t a, size_t b)
{
	size_t p = a;
	for (size_t i = a; i + 3 <= b; i++)
		if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
			size_t k = a, n = 0;
			int ok = 1;
			while (k < i) {
				uint32_t c = dsv_utf8_next(s, i, &k);
				ok &= is_word_char(c) || c == '+' || c == '-' || c == '.';
				n++;
			}
			if (ok && n >= 2)
				p = i + 3;
			break;
		}
	if (url_rest(s, p, b))
		return 1;
	/* user@host: the user part is any non-space, the scheme too when
	 * the regex leaves out its optional scheme */
	for (size_t i = b; i > a + 1; i--)
		if (s[i - 1] == '@' && url_rest(s, i, b))
			return 1;
	return 0;
}

/* Length of spaCy's prefix at s[a..b), 0 if none. */
DS_FN size_t find_prefix(const uint8_t *s, size_t a, size_t b)
{
	if (b - a >= 2 && s[a] == '.' && s[a + 1] == '.') {
		size_t k = a;
		while (k < b && s[k] == '.')
			k++;
		return k - a;
	}
	if (b - a >= 2 && (s[a] == 'U' || s[a] == 'C' || s[a] == 'A') &&
	    s[a + 1] == '$' && !(s[a] == 'U'))
		return 2;
	if (b - a >= 3 && s[a] == 'U' && s[a + 1] == 'S' && s[a + 2] == '$')
		return 3;
	size_t i = a;
	uint32_t c = dsv_utf8_next(s, b, &i);
	if (c == '+')
		return i < b && is_digit(s[i]) ? 0 : 1;
	if (is_class(c, DS_C_PREFIX | DS_C_ICON)) /* currency among them */
		return i - a;
	return 0;
}

/* Length of the currency sign ending s[a..b) after a digit (spaCy's
 * CURRENCY: one character, or US$, C$, A$), 0 if none. */
DS_FN size_t currency_suffix(const uint8_t *s, size_t a, size_t b, uint32_t c,
			     uint32_t p, size_t clen)
{
	if (c == '$' && (ends_with(s, a, b, "US$") || ends_with(s, a, b, "C$") ||
			 ends_with(s, a, b, "A$"))) {
		size_t n = s[b - 2] == 'S' ? 3 : 2;
		if (b - a > n && is_digit(s[b - n - 1]))
			return n;
	}
	return is_class(c, DS_C_CURRENCY) && is_digit(p) ? clen : 0;
}

/* Length of the longest of spaCy's UNITS ending s[a..b) after a digit, 0 if
 * none. */
DS_FN size_t unit_suffix(const uint8_t *s, size_t a, size_t b)
{
	int digit_near = 0; /* cheap test first: a digit close enough */
	for (size_t j = 1; j <= DS_UNIT_MAX && j < b - a && !digit_near; j++)
		digit_near = is_digit(s[b - j - 1]);
	for (int u = 0; digit_near && units[u]; u++) {
		size_t n = ds_strlen(units[u]);
		if (b - a > n && ends_with(s, a, b, units[u]) &&
		    is_digit(s[b - n - 1]))
			return n;
	}
	return 0;
}

/* Length of spaCy's suffix at the end of s[a..b), 0 if none. Of the
 * suffix rules that match, the one starting first wins (re.search). */
DS_FN size_t find_suffix(const uint8_t *s, size_t a, size_t b)
{
	size_t best = 0, k, k2, k3;
	if (b <= a)
		return 0;
	uint32_t c = cp_before(s, a, b, &k);
	uint32_t p = k > a ? cp_before(s, a, k, &k2) : 0;
	uint32_t pp = k > a && k2 > a ? cp_before(s, a, k2, &k3) : 0;
	if (c == '.' && p == '.') { /* "..+" */
		size_t j = b;
		while (j > a && s[j - 1] == '.')
			j--;
		best = b - j;
	}
	if (is_class(c, DS_C_SUFFIX | DS_C_ICON))
		best = best > b - k ? best : b - k;
	if (c == 0x2026 && p == 0x2026) /* "……" is one suffix, "…" another */
		best = best > b - k2 ? best : b - k2;
	if ((c == 's' || c == 'S') && b - a >= 2 && s[b - 2] == '\'')
		best = best > 2 ? best : 2;
	if ((c == 's' || c == 'S') && b - a >= 4 && s[b - 4] == 0xe2 &&
	    s[b - 3] == 0x80 && s[b - 2] == 0x99)
		best = best > 4 ? best : 4;
	if (c == '+' && is_digit(p))
		best = best > 1 ? best : 1;
	if (c == '.' && pp == 0xB0 && ds_in("FfCcKk", p))
		best = best > 1 ? best : 1;
	if (c == '.' && (is_class(p, DS_C_DOTSUF) ||
			 (is_class(p, DS_C_UPPER) && is_class(pp, DS_C_UPPER))))
		best = best > 1 ? best : 1;
	size_t n = currency_suffix(s, a, b, c, p, b - k);
	best = best > n ? best : n;
	n = unit_suffix(s, a, b);
	best = best > n ? best : n;
	return best > b - a ? b - a : best;
}

/* One whitespace-free chunk, as spaCy's Tokenizer._split_affixes and
 * _attach_tokens do it: special cases first, then prefixes and suffixes one
 * at a time (a special case left over stops the loop), then infixes.
 * Prefixes go out as they are found; suffixes wait, in runs of one length
 * (any number of "!" is one run), up to DS_MAXSUF runs (the rest of the
 * chunk then stays in the middle). */
enum { DS_MAXSUF = 64 };

struct sufs {
	uint32_t len[DS_MAXSUF], count[DS_MAXSUF]; /* innermost last */
	int n;
};

DS_FN void suf_add(struct sufs *f, size_t len)
{
	if (f->n && f->len[f->n - 1] == len) {
		f->count[f->n - 1]++;
	} else {
		f->len[f->n] = (uint32_t)len;
		f->count[f->n++] = 1;
	}
}

DS_CALL void split_chunk(const uint8_t *s, size_t a, size_t b,
			struct merger *m)
{
	struct sufs suf;
	size_t last = (size_t)-1;
	const struct dsv_exc *special = NULL;
	suf.n = 0;
	while (b > a && b - a != last && suf.n < DS_MAXSUF) {
		if ((special = exc_find(s + a, b - a)))
			break;
		last = b - a;
		size_t pl = find_prefix(s, a, b);
		if (pl && b - a > pl && (special = exc_find(s + a + pl, b - a - pl))) {
			merge_push(m, a, pl);
			a += pl;
			break;
		}
		size_t sl = find_suffix(s, a + pl, b);
		if (sl && b - sl > a && (special = exc_find(s + a, b - a - sl))) {
			suf_add(&suf, sl);
			b -= sl;
			break;
		}
		int both = pl && sl && pl + sl <= b - a;
		if (pl) {
			merge_push(m, a, pl);
			a += pl;
		}
		if (sl && (both || !pl)) {
			suf_add(&suf, sl);
			b -= sl;
		}
		if (b > a && (special = exc_find(s + a, b - a)))
			break;
	}
	if (b > a) {
		if (special) {
			size_t at = a;
			for (int i = 0; i < special->n; i++) {
				merge_push(m, at, special->piece[i]);
				at += special->piece[i];
			}
		} else if (is_url(s, a, b)) {
			merge_push(m, a, b - a);
		} else {
			split_infix(s, a, b, m);
		}
	}
	while (suf.n-- > 0)
		for (uint32_t r = 0; r < suf.count[suf.n]; r++) {
			merge_push(m, b, suf.len[suf.n]);
			b += suf.len[suf.n];
		}
}

/* The word splitter: each word of s[0..n) to `out`, in order. */
DS_FN void ds_words(const uint8_t *s, size_t n, const struct ds_sink *out)
{
	struct merger m = {out, s, {{0}}, {0}, {0}, 0, 0, 0};
	size_t i = 0, start = 0, end = 0; /* end: of the last chunk */
	int in = 0;
	while (i < n) {
		size_t ci = i;
		uint32_t c = s[i] < 0x80 ? s[i++] : dsv_utf8_next(s, n, &i);
		int sp = c < 0x110000 && dsv_is_space(c);
		if (sp && in) {
			split_chunk(s, start, ci, &m);
			end = ci;
			in = 0;
		} else if (!sp && !in) {
			if (ci != end + 1 || s[end] != ' ')
				merge_flush(&m);
			m.space = 1;
			start = ci;
			in = 1;
		}
	}
	if (in)
		split_chunk(s, start, n, &m);
	merge_flush(&m);
}

/* Clears the map to hold n keys at most; returns its mask or 0 on OOM. */
DS_FN size_t map_reset(struct scratch *sc, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 2)
		cap *= 2;
	if (cap > sc->hcap) {
#ifdef __CUDACC__
		sc->oom = 1; /* ds_scratch_bytes sized it for n + 1 keys */
		return 0;
#else
		free(sc->h);
		sc->h = malloc(cap * sizeof *sc->h);
		if (!sc->h) {
			sc->hcap = 0;
			sc->oom = 1;
			return 0;
		}
		sc->hcap = cap;
#endif
	}
#ifdef __CUDACC__
	for (size_t i = 0; i < cap; i++) {
		sc->h[i].key = 0;
		sc->h[i].count = sc->h[i].first = 0;
	}
#else
	memset(sc->h, 0, cap * sizeof *sc->h);
#endif
	return cap - 1;
}

/* Finds or inserts key (0 is remapped, as 0 marks an empty slot). */
DS_FN struct hent *map_get(struct scratch *sc, size_t mask, uint64_t key,
			    uint32_t idx)
{
	key = key ? key : 1;
	size_t i = (size_t)(key ^ (key >> 29)) & mask;
	while (sc->h[i].key && sc->h[i].key != key)
		i = (i + 1) & mask;
	if (!sc->h[i].key) {
		sc->h[i].key = key;
		sc->h[i].first = idx;
	}
	sc->h[i].count++;
	return &sc->h[i];
}

/* find_duplicates over segments given as (start, len) byte pairs: the
 * duplicate count and their total length in code points. Segments are keyed
 * by XXH64 and length: a false duplicate needs a 64-bit collision. */
DS_FN void find_dups(struct scratch *sc, const uint8_t *s,
		      const uint64_t (*seg)[2], size_t n, uint64_t *dups,
		      uint64_t *dup_chars)
{
	size_t mask = map_reset(sc, n);
	*dups = *dup_chars = 0;
	if (!mask)
		return;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = dsv_xxh64(s + seg[i][0], seg[i][1], seg[i][1]);
		struct hent *e = map_get(sc, mask, k, (uint32_t)i);
		if (e->count > 1) {
			(*dups)++;
			*dup_chars += count_chars(s + seg[i][0], seg[i][1]);
		}
	}
}

/* ---- segments ---- */

DS_FN void seg_add(struct segs *g, size_t start, size_t len)
{
	if (g->n == g->cap) {
#ifdef __CUDACC__
		g->oom = 1; /* ds_scratch_bytes allows n + 1 segments */
		return;
#else
		size_t cap = g->cap ? 2 * g->cap : 256;
		void *v = realloc(g->v, cap * sizeof *g->v);
		if (!v) {
			g->oom = 1;
			return;
		}
		g->v = v;
		g->cap = cap;
#endif
	}
	g->v[g->n][0] = start;
	g->v[g->n][1] = len;
	g->n++;
}

/* Python's str.splitlines() terminators; returns the terminator's length
 * at s[i] (2 for "\r\n"), 0 if none. */
DS_FN size_t line_break(const uint8_t *s, size_t n, size_t i)
{
	uint8_t c = s[i];
	if (c == '\n' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E))
		return 1;
	if (c == '\r')
		return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
	if (c == 0xC2 && i + 1 < n && s[i + 1] == 0x85)
		return 2;
	if (c == 0xE2 && i + 2 < n && s[i + 1] == 0x80 &&
	    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
		return 3;
	return 0;
}

/* Trims str.strip() whitespace off [*a, *b). */
DS_FN void strip(const uint8_t *s, size_t *a, size_t *b)
{
	while (*a < *b) {
		size_t i = *a;
		uint32_t c = dsv_utf8_next(s, *b, &i);
		if (c >= 0x110000 || !dsv_is_space(c))
			break;
		*a = i;
	}
	while (*b > *a) {
		size_t k;
		uint32_t c = cp_before(s, *a, *b, &k);
		if (c >= 0x110000 || !dsv_is_space(c))
			break;
		*b = k;
	}
}

/* Splits s[a..b) on runs of at least `min` newlines (re.split(r"\n{2,}")
 * with min 2, re.split("\n+") with min 1). */
DS_FN void split_newlines(const uint8_t *s, size_t a, size_t b, size_t min,
			   struct segs *g)
{
	size_t start = a, i = a;
	g->n = 0;
	while (i < b) {
		if (s[i] != '\n') {
			i++;
			continue;
		}
		size_t j = i;
		while (j < b && s[j] == '\n')
			j++;
		if (j - i >= min) {
			seg_add(g, start, i - start);
			start = j;
		}
		i = j;
	}
	seg_add(g, start, b - start);
}

DS_FN int has_ci(const uint8_t *s, size_t n, const char *t)
{
	size_t m = ds_strlen(t);
	for (size_t i = 0; i + m <= n; i++) {
		size_t k = 0;
		while (k < m && (s[i + k] | (s[i + k] >= 'A' && s[i + k] <= 'Z'
						     ? 32 : 0)) == (uint8_t)t[k])
			k++;
		if (k == m)
			return 1;
	}
	return 0;
}

/* ---- n-gram statistics over the word list ---- */

#define NG_BASE 0x5DEECE66DULL

DS_FN int ngram_prep(struct scratch *sc, const uint8_t *s)
{
	size_t n = sc->nw;
	if (n + 1 > sc->pcap) {
#ifdef __CUDACC__
		return -1;
#else
		free(sc->pre);
		free(sc->pow);
		sc->pre = malloc((n + 1) * sizeof *sc->pre);
		sc->pow = malloc((n + 1) * sizeof *sc->pow);
		if (!sc->pre || !sc->pow) {
			sc->pcap = 0;
			return -1;
		}
		sc->pcap = n + 1;
#endif
	}
	sc->pre[0] = 0;
	sc->pow[0] = 1;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = mh_mod61(dsv_xxh64(s + sc->w[i].start, sc->w[i].len,
						0)) + 1;
		sc->pre[i + 1] = mh_perm(sc->pre[i], NG_BASE, mh_mod61(h));
		sc->pow[i + 1] = mh_perm(sc->pow[i], NG_BASE, 0);
	}
	return 0;
}

/* The key of words i..i+n-1: a polynomial over their XXH64s mod 2^61-1. */
DS_FN uint64_t gram_key(const struct scratch *sc, size_t i, size_t n)
{
	uint64_t hi = sc->pre[i + n];
	uint64_t lo = mh_perm(sc->pre[i], sc->pow[n], 0);
	return (hi >= lo ? hi - lo : hi + MH_PRIME - lo) ^ ((uint64_t)n << 61);
}

DS_FN uint64_t gram_chars(const struct scratch *sc, size_t i, size_t n)
{
	uint64_t c = 0;
	for (size_t k = 0; k < n; k++)
		c += sc->w[i + k].chars;
	return c;
}

/* find_top_duplicate(get_n_grams(words, n)): Counter.most_common(1) keeps
 * the first-inserted gram among equal counts; its " ".join length times its
 * count. 0 when there are fewer than n words. */
DS_FN uint64_t top_ngram(struct scratch *sc, size_t n)
{
	if (sc->nw < n)
		return 0;
	size_t ng = sc->nw - n + 1;
	size_t mask = map_reset(sc, ng);
	if (!mask)
		return 0;
	for (size_t i = 0; i < ng; i++)
		map_get(sc, mask, gram_key(sc, i, n), (uint32_t)i);
	uint32_t best = 0, first = 0;
	for (size_t i = 0; i <= mask; i++) {
		const struct hent *e = &sc->h[i];
		if (e->key && (e->count > best ||
			       (e->count == best && e->first < first))) {
			best = e->count;
			first = e->first;
		}
	}
	return (gram_chars(sc, first, n) + n - 1) * best;
}

/* find_all_duplicate(words, n): after a repeated gram, skip past it. */
DS_FN uint64_t all_dup_ngrams(struct scratch *sc, size_t n)
{
	if (sc->nw < n)
		return 0;
	size_t mask = map_reset(sc, sc->nw - n + 1);
	uint64_t rep = 0;
	if (!mask)
		return 0;
	for (size_t i = 0; i + n <= sc->nw;) {
		struct hent *e = map_get(sc, mask, gram_key(sc, i, n), (uint32_t)i);
		if (e->count > 1) {
			e->count--; /* a set, not a counter */
			rep += gram_chars(sc, i, n);
			i += n;
		} else {
			i++;
		}
	}
	return rep;
}

/* ---- C4 ---- */

/* Copies line minus C4's citation pattern \[\d*]|\[edit]|\[citation needed]. */
DS_FN size_t remove_citations(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] == '[') {
			size_t j = i + 1;
			while (j < n && s[j] >= '0' && s[j] <= '9')
				j++;
			if (j < n && s[j] == ']') {
				i = j + 1;
				continue;
			}
			if (n - i >= 6 && !ds_memcmp(s + i, "[edit]", 6)) {
				i += 6;
				continue;
			}
			if (n - i >= 17 && !ds_memcmp(s + i, "[citation needed]", 17)) {
				i += 17;
				continue;
			}
		}
		out[o++] = s[i++];
	}
	return o;
}

DS_CONST char *const policy[] = {"terms of use", "privacy policy",
				     "cookie policy", "uses cookies",
				     "use of cookies", "use cookies", NULL};

DS_FN int c4_line(struct dsv_docstats *d, const uint8_t *s, size_t a,
		   size_t b, uint8_t *tmp)
{
	strip(s, &a, &b);
	d->c4_lines++;
	/* line.split(): whitespace words, the longest in code points */
	size_t nws = 0, longest = 0, wchars = 0;
	int inw = 0;
	for (size_t i = a; i < b;) {
		uint32_t c = dsv_utf8_next(s, b, &i);
		int sp = c < 0x110000 && dsv_is_space(c);
		if (!sp) {
			nws += !inw;
			wchars = inw ? wchars + 1 : 1;
			longest = wchars > longest ? wchars : longest;
		}
		inw = !sp;
	}
	if (longest > 1000) {
		d->c4_long_word_lines++;
		return 0;
	}
	size_t n = remove_citations(s + a, b - a, tmp);
	uint8_t last = n ? tmp[n - 1] : 0;
	if (!(last == '.' || last == '?' || last == '!' || last == '"' ||
	      last == '\'') ||
	    (n >= 3 && !ds_memcmp(tmp + n - 3, "...", 3))) {
		d->c4_no_punct_lines++;
		return 0;
	}
	if (nws < 3) {
		d->c4_few_words_lines++;
		return 0;
	}
	if (has_ci(tmp, n, "lorem ipsum")) {
		d->c4_drop = 1;
		return 1;
	}
	if (has_ci(tmp, n, "javascript")) {
		d->c4_javascript_lines++;
		return 0;
	}
	if (ds_memchr(tmp, '{', n)) {
		d->c4_drop = 2;
		return 1;
	}
	for (int i = 0; policy[i]; i++)
		if (has_ci(tmp, n, policy[i])) {
			d->c4_policy_lines++;
			return 0;
		}
	struct sent_state st = {tmp, 0, 0, 0};
	struct ds_sink out = {DS_SINK_SENTENCES, &st, NULL};
	ds_words(tmp, n, &out);
	d->c4_sentences += st.count;
	d->c4_kept_lines++;
	return 0;
}

/* ---- one document ---- */

DS_FN void word_stats(struct dsv_docstats *d, struct scratch *sc,
		       const uint8_t *s)
{
	for (size_t k = 0; k < sc->nw; k++) {
		struct word *w = &sc->w[k];
		size_t i = w->start, e = w->start + w->len;
		int nonsym = 0, alpha = 0;
		uint32_t chars = 0;
		while (i < e) {
			uint32_t c = dsv_utf8_next(s, e, &i);
			chars++;
			nonsym |= !dsv_is_dt_punct(c);
			alpha |= is_alpha(c);
		}
		w->chars = chars;
		d->nonsym_words += nonsym;
		d->nonsym_word_chars += nonsym ? chars : 0;
		d->alpha_words += alpha;
		for (int j = 0; j < 8; j++)
			if (w->len == ds_stop[j].len &&
			    !ds_memcmp(s + w->start, ds_stop[j].s, w->len))
				d->stop_mask |= 1ull << j;
	}
	d->words = sc->nw;
}

DS_FN void gopher_lines(struct dsv_docstats *d, const uint8_t *s, size_t n)
{
	for (size_t a = 0; a < n;) {
		size_t b = a, br = 0;
		while (b < n && !(br = line_break(s, n, b)))
			b++;
		size_t la = a, lb = b;
		strip(s, &la, &lb);
		d->lines++;
		if (lb > la && (s[la] == '-' || (lb - la >= 3 && s[la] == 0xE2 &&
						 s[la + 1] == 0x80 &&
						 s[la + 2] == 0xA2)))
			d->bullet_lines++;
		if (ends_with(s, la, lb, "...") || ends_with(s, la, lb, "\xe2\x80\xa6"))
			d->ellipsis_lines++;
		a = b + br;
	}
}

DS_FN void fineweb_lines(struct dsv_docstats *d, struct scratch *sc,
			  struct segs *g, const uint8_t *s, size_t n)
{
	g->n = 0;
	for (size_t a = 0;;) {
		size_t b = a;
		while (b < n && s[b] != '\n')
			b++;
		size_t la = a, lb = b;
		strip(s, &la, &lb);
		if (lb > la) {
			size_t k;
			uint32_t c = cp_before(s, a, b, &k);
			d->fw_lines++;
			d->fw_punct_lines += is_terminal(c);
			d->fw_short_lines += count_chars(s + a, b - a) <= 30;
			seg_add(g, a, b - a);
		}
		if (b >= n)
			break;
		a = b + 1;
	}
	uint64_t dups;
	find_dups(sc, s, (const uint64_t(*)[2])g->v, g->n, &dups,
		  &d->fw_dup_line_chars);
}

/* The statistics of `groups` (DSV_DOCSTATS_*) of s[0..n) into *d, the
 * others 0; 0, or -1 when scratch ran short. */
DS_FN int docstats_doc(const uint8_t *s, size_t n, unsigned groups,
			struct scratch *sc, struct dsv_docstats *d)
{
	struct segs *g = &sc->g;
#ifdef __CUDACC__
	for (size_t i = 0; i < sizeof *d / sizeof(uint64_t); i++)
		((uint64_t *)d)[i] = 0; /* every field is a uint64_t */
#else
	memset(d, 0, sizeof *d);
#endif
	uint64_t c[7] = {0};
	for (size_t i = 0; i < n; i++)
		ds_basic_byte(s, n, i, c);
	d->bytes = n;
	d->chars = c[1];
	d->newlines = c[2];
	d->hash_chars = c[3];
	d->ellipsis = c[4];
	d->curly = c[5];
	d->ws_words = c[6];

	sc->nw = 0;
	if (groups & (DSV_DOCSTATS_WORDS | DSV_DOCSTATS_REPETITION)) {
		struct ds_sink words = {DS_SINK_WORDS, sc, NULL};
		ds_words(s, n, &words);
		word_stats(d, sc, s);
	}
	if (groups & DSV_DOCSTATS_LINES)
		gopher_lines(d, s, n);
	if (groups & DSV_DOCSTATS_REPETITION) {
		size_t a = 0, b = n;
		strip(s, &a, &b);
		split_newlines(s, a, b, 2, g);
		d->paragraphs = g->n;
		find_dups(sc, s, (const uint64_t(*)[2])g->v, g->n,
			  &d->dup_paragraphs, &d->dup_paragraph_chars);
		split_newlines(s, 0, n, 1, g);
		d->line_parts = g->n;
		find_dups(sc, s, (const uint64_t(*)[2])g->v, g->n,
			  &d->dup_lines, &d->dup_line_chars);
		if (ngram_prep(sc, s))
			return -1;
		for (size_t k = 0; k < 3; k++)
			d->top_ngram_chars[k] = top_ngram(sc, k + 2);
		for (size_t k = 0; k < 6; k++)
			d->dup_ngram_chars[k] = all_dup_ngrams(sc, k + 5);
	}
	if (groups & DSV_DOCSTATS_FINEWEB)
		fineweb_lines(d, sc, g, s, n);
	if (!(groups & DSV_DOCSTATS_C4))
		return sc->oom || g->oom ? -1 : 0;

	if (n + 1 > sc->tmpcap) {
#ifdef __CUDACC__
		return -1;
#else
		free(sc->tmp);
		sc->tmp = malloc(n + 1);
		sc->tmpcap = sc->tmp ? n + 1 : 0;
		if (!sc->tmp)
			return -1;
#endif
	}
	for (size_t la = 0; la < n;) {
		size_t lb = la, br = 0;
		while (lb < n && !(br = line_break(s, n, lb)))
			lb++;
		if (c4_line(d, s, la, lb, sc->tmp))
			break;
		la = lb + br;
	}
	return sc->oom || g->oom ? -1 : 0;
}

/* ---- device scratch: one pool, a slice per document ---- */

#define DS_ALIGN(x) (((x) + 15) & ~(uint64_t)15)

/* The hash map's capacity for n keys, as map_reset computes it. */
DSV_HD uint64_t ds_map_cap(uint64_t n)
{
	uint64_t cap = 16;
	while (cap < 2 * n + 2)
		cap *= 2;
	return cap;
}

/* Scratch bytes a document of n bytes can need: a word per byte at most
 * (words are disjoint and non-empty), n + 1 segments, a map for n + 1 keys,
 * n + 1 prefix hashes and powers, and n + 1 bytes of C4 line. */
DSV_HD uint64_t ds_scratch_bytes(uint64_t n)
{
	return DS_ALIGN((n + 1) * sizeof(struct word)) +
	       DS_ALIGN((n + 1) * 2 * sizeof(uint64_t)) +
	       DS_ALIGN(ds_map_cap(n + 1) * sizeof(struct hent)) +
	       2 * DS_ALIGN((n + 1) * sizeof(uint64_t)) + DS_ALIGN(n + 1);
}

/* Points sc at the ds_scratch_bytes(n) bytes at p (16-byte aligned). */
DSV_HD void ds_scratch_carve(struct scratch *sc, uint8_t *p, uint64_t n)
{
	sc->w = (struct word *)p;
	sc->nw = 0;
	sc->wcap = n + 1;
	p += DS_ALIGN((n + 1) * sizeof(struct word));
	sc->g.v = (uint64_t(*)[2])p;
	sc->g.n = 0;
	sc->g.cap = n + 1;
	sc->g.oom = 0;
	p += DS_ALIGN((n + 1) * 2 * sizeof(uint64_t));
	sc->h = (struct hent *)p;
	sc->hcap = ds_map_cap(n + 1);
	p += DS_ALIGN(sc->hcap * sizeof(struct hent));
	sc->pre = (uint64_t *)p;
	p += DS_ALIGN((n + 1) * sizeof(uint64_t));
	sc->pow = (uint64_t *)p;
	p += DS_ALIGN((n + 1) * sizeof(uint64_t));
	sc->pcap = n + 1;
	sc->tmp = p;
	sc->tmpcap = n + 1;
	sc->oom = 0;
}

/* The batch checks both paths make before any work (host code). */
static inline int ds_check_batch(const uint8_t *text, const uint64_t *off,
				 size_t ndocs, const void *out)
{
	if (ndocs && !out)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "docstats: null output");
	return dsv_check_docs("docstats", text, off, ndocs, UINT32_MAX);
}

#endif
