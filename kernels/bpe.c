/* bpe.c: byte-level BPE: chunk counting, training with an incremental pair
 * index and a max-heap (as Hugging Face's word-level BPE trainer), the
 * TOKENIZER text format, and tiktoken-compatible encoding with a chunk cache.
 * Pure C and OpenMP; the pre-tokenizer is kernels/pretok.c.
 */
#include "kernels/bpe.h"
#include "kernels/device.h"
#include "kernels/pretok.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing and a byte-string map ------------------------------------- */

static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 32;
	return h;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 27;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, p, n);
	return mix64(h ^ w);
}

/* Open addressing over byte strings kept in an arena. Each slot carries a
 * 64-bit value (a count, or where cached ids start) and a 32-bit aux. */
typedef struct {
	uint64_t h;   /* 0: empty (hashes are forced nonzero) */
	uint64_t off; /* key bytes in the arena */
	uint32_t len;
	uint32_t aux;
	uint64_t val;
} smap_slot;

typedef struct {
	smap_slot *slots;
	size_t cap, n; /* cap: power of two */
	uint8_t *arena;
	size_t alen, acap;
} smap;

static int smap_init(smap *m, size_t cap)
{
	memset(m, 0, sizeof *m);
	m->cap = cap;
	m->slots = calloc(cap, sizeof *m->slots);
	return m->slots ? 0 : -1;
}

static void smap_free(smap *m)
{
	free(m->slots);
	free(m->arena);
	memset(m, 0, sizeof *m);
}

static void smap_clear(smap *m)
{
	memset(m->slots, 0, m->cap * sizeof *m->slots);
	m->n = 0;
	m->alen = 0;
}

static int smap_grow(smap *m)
{
	size_t ncap = m->cap * 2;
	smap_slot *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		smap_slot *s = &m->slots[i];
		if (!s->h)
			continue;
		size_t j = s->h & (ncap - 1);
		while (ns[j].h)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

static smap_slot *smap_find(const smap *m, const uint8_t *k, size_t len,
			    uint64_t h)
{
	size_t i = h & (m->cap - 1);
	for (;;) {
		smap_slot *s = &m->slots[i];
		if (!s->h)
			return NULL;
		if (s->h == h && s->len == len &&
		    memcmp(m->arena + s->off, k, len) == 0)
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

/* Finds or inserts key k; *added says which. NULL when out of memory. */
static smap_slot *smap_upsert(smap *m, const uint8_t *k, size_t len,
			      uint64_t h, int *added)
{
	if ((m->n + 1) * 4 > m->cap * 3 && smap_grow(m))
		return NULL;
	size_t i = h & (m->cap - 1);
	for (;;) {
		smap_slot *s = &m->slots[i];
		if (!s->h)
			break;
		if (s->h == h && s->len == len &&
		    memcmp(m->arena + s->off, k, len) == 0) {
			*added = 0;
			return s;
		}
		i = (i + 1) & (m->cap - 1);
	}
	if (m->alen + len > m->acap) {
		size_t ncap = m->acap ? m->acap * 2 : 1 << 16;
		while (ncap < m->alen + len)
			ncap *= 2;
		uint8_t *na = realloc(m->arena, ncap);
		if (!na)
			return NULL;
		m->arena = na;
		m->acap = ncap;
	}
	memcpy(m->arena + m->alen, k, len);
	smap_slot *s = &m->slots[i];
	s->h = h;
	s->off = m->alen;
	s->len = (uint32_t)len;
	s->aux = 0;
	s->val = 0;
	m->alen += len;
	m->n++;
	*added = 1;
	return s;
}

static inline uint64_t key_hash(const uint8_t *k, size_t len)
{
	uint64_t h = hash_bytes(k, len);
	return h ? h : 1;
}

/* ---- chunk counts ------------------------------------------------------- */

struct dsv_bpe_counts {
	smap map;
	uint64_t total;
};

int dsv_bpe_counts_new(dsv_bpe_counts **out)
{
	dsv_bpe_counts *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c || smap_init(&c->map, 1 << 16)) {
		free(c);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void dsv_bpe_counts_free(dsv_bpe_counts *c)
{
	if (c) {
		smap_free(&c->map);
		free(c);
	}
}

uint64_t dsv_bpe_counts_unique(const dsv_bpe_counts *c) { return c->map.n; }
uint64_t dsv_bpe_counts_total(const dsv_bpe_counts *c) { return c->total; }

static int count_docs(smap *m, uint64_t *total, const uint8_t *text,
		      const uint64_t *off, size_t lo, size_t hi)
{
	dsv_pretok *p = NULL;
	size_t st, len;
	int added;
	if (dsv_pretok_new(&p))
		return -1;
	for (size_t d = lo; d < hi; d++) {
		const uint8_t *t = text + off[d];
		dsv_pretok_begin(p, t, off[d + 1] - off[d]);
		while (dsv_pretok_next(p, &st, &len)) {
			smap_slot *s = smap_upsert(m, t + st, len,
						   key_hash(t + st, len),
						   &added);
			if (!s) {
				dsv_pretok_free(p);
				return -1;
			}
			s->val++;
			(*total)++;
		}
	}
	dsv_pretok_free(p);
	return 0;
}

int dsv_bpe_counts_add(dsv_bpe_counts *c, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, int nthreads)
{
	int rc = dsv_check_docs("bpe", text, off, ndocs, 0);
	if (rc)
		return rc;
	int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
	if ((size_t)nt > ndocs)
		nt = ndocs ? (int)ndocs : 1;
	smap *local = calloc((size_t)nt, sizeof *local);
	uint64_t *totals = calloc((size_t)nt, sizeof *totals);
	int fail = !local || !totals;
	if (!fail) {
#pragma omp parallel num_threads(nt) reduction(| : fail)
		{
			int t = omp_get_thread_num();
			/* Contiguous slices by bytes, so threads get equal
			 * work whatever the document sizes. */
			uint64_t bytes = off[ndocs] - off[0];
			size_t lo = 0, hi = 0;
			uint64_t a = off[0] + bytes * (uint64_t)t / (uint64_t)nt;
			uint64_t b = off[0] + bytes * (uint64_t)(t + 1) /
						      (uint64_t)nt;
			while (lo < ndocs && off[lo] < a)
				lo++;
			hi = lo;
			while (hi < ndocs && off[hi] < b)
				hi++;
			if (t == nt - 1)
				hi = ndocs;
			if (smap_init(&local[t], 1 << 14) ||
			    count_docs(&local[t], &totals[t], text, off, lo, hi))
				fail = 1;
		}
	}
	/* Merged in thread order; the sums do not depend on it. */
	for (int t = 0; !fail && t < nt; t++) {
		smap *m = &local[t];
		for (size_t i = 0; i < m->cap && !fail; i++) {
			smap_slot *s = &m->slots[i];
			int added;
			if (!s->h)
				continue;
			smap_slot *g = smap_upsert(&c->map, m->arena + s->off,
						   s->len, s->h, &added);
			if (!g)
				fail = 1;
			else
				g->val += s->val;
		}
		c->total += totals[t];
	}
	for (int t = 0; local && t < nt; t++)
		smap_free(&local[t]);
	free(local);
	free(totals);
	if (fail)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM,
					"out of memory counting chunks");
	return 0;
}

/* ---- the tokenizer ------------------------------------------------------ */

struct dsv_bpe {
	uint32_t ntokens;
	uint32_t *left, *right; /* the merge of token id >= 256 */
	uint64_t *off;          /* ntokens+1: token bytes in `bytes` */
	uint8_t *bytes;
	size_t blen, bcap;
	smap ids;               /* token bytes -> id (in val) */
	/* Encoding: (left, right) -> id of the token spelled by their
	 * concatenation, for every split of every token into two tokens. */
	uint64_t *pkeys;        /* (left << 32 | right) + 1; 0: empty */
	uint32_t *pvals;
	size_t pcap;
};

uint32_t dsv_bpe_ntokens(const dsv_bpe *b) { return b->ntokens; }
uint32_t dsv_bpe_eot(const dsv_bpe *b) { return b->ntokens; }
uint32_t dsv_bpe_vocab_size(const dsv_bpe *b) { return b->ntokens + 1; }

const uint8_t *dsv_bpe_token(const dsv_bpe *b, uint32_t id, size_t *len)
{
	if (id == b->ntokens) {
		*len = sizeof DSV_BPE_EOT_TEXT - 1;
		return (const uint8_t *)DSV_BPE_EOT_TEXT;
	}
	if (id > b->ntokens)
		return NULL;
	*len = b->off[id + 1] - b->off[id];
	return b->bytes + b->off[id];
}

void dsv_bpe_merge(const dsv_bpe *b, uint32_t id, uint32_t *left,
		   uint32_t *right)
{
	*left = id >= 256 && id < b->ntokens ? b->left[id] : id;
	*right = id >= 256 && id < b->ntokens ? b->right[id] : id;
}

void dsv_bpe_free(dsv_bpe *b)
{
	if (!b)
		return;
	free(b->left);
	free(b->right);
	free(b->off);
	free(b->bytes);
	smap_free(&b->ids);
	free(b->pkeys);
	free(b->pvals);
	free(b);
}

/* An empty tokenizer with room for `cap` tokens and the 256 byte tokens. */
static dsv_bpe *bpe_alloc(uint32_t cap)
{
	dsv_bpe *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->left = malloc(cap * sizeof *b->left);
	b->right = malloc(cap * sizeof *b->right);
	b->off = malloc((cap + 1) * sizeof *b->off);
	b->bcap = 4096;
	b->bytes = malloc(b->bcap);
	if (!b->left || !b->right || !b->off || !b->bytes ||
	    smap_init(&b->ids, 1024)) {
		dsv_bpe_free(b);
		return NULL;
	}
	b->off[0] = 0;
	for (uint32_t i = 0; i < 256; i++) {
		int added;
		uint8_t c = (uint8_t)i;
		b->bytes[i] = c;
		b->off[i + 1] = i + 1;
		b->left[i] = b->right[i] = i;
		smap_slot *s = smap_upsert(&b->ids, &c, 1, key_hash(&c, 1),
					   &added);
		if (!s) {
			dsv_bpe_free(b);
			return NULL;
		}
		s->val = i;
	}
	b->blen = 256;
	b->ntokens = 256;
	return b;
}

/* Looks a byte string up among the tokens; -1 when it is none. */
static int64_t bpe_lookup(const dsv_bpe *b, const uint8_t *k, size_t len)
{
	smap_slot *s = smap_find(&b->ids, k, len, key_hash(k, len));
	return s ? (int64_t)s->val : -1;
}

/* Adds token ntokens = left ++ right (bytes not yet a token). */
static int bpe_add(dsv_bpe *b, uint32_t left, uint32_t right)
{
	size_t l1 = b->off[left + 1] - b->off[left];
	size_t l2 = b->off[right + 1] - b->off[right];
	uint32_t id = b->ntokens;
	int added;
	if (b->blen + l1 + l2 > b->bcap) {
		size_t ncap = b->bcap * 2 + l1 + l2;
		uint8_t *nb = realloc(b->bytes, ncap);
		if (!nb)
			return -1;
		b->bytes = nb;
		b->bcap = ncap;
	}
	memcpy(b->bytes + b->blen, b->bytes + b->off[left], l1);
	memcpy(b->bytes + b->blen + l1, b->bytes + b->off[right], l2);
	smap_slot *s = smap_upsert(&b->ids, b->bytes + b->blen, l1 + l2,
				   key_hash(b->bytes + b->blen, l1 + l2),
				   &added);
	if (!s)
		return -1;
	s->val = id;
	b->blen += l1 + l2;
	b->off[id + 1] = b->blen;
	b->left[id] = left;
	b->right[id] = right;
	b->ntokens++;
	return 0;
}

static inline uint64_t pair_key(uint32_t a, uint32_t b)
{
	return ((uint64_t)a << 32 | b) + 1;
}

static int pairs_put(dsv_bpe *b, uint32_t l, uint32_t r, uint32_t id)
{
	uint64_t k = pair_key(l, r);
	size_t i = mix64(k) & (b->pcap - 1);
	while (b->pkeys[i] && b->pkeys[i] != k)
		i = (i + 1) & (b->pcap - 1);
	b->pkeys[i] = k;
	b->pvals[i] = id;
	return 0;
}

static inline uint32_t pairs_get(const dsv_bpe *b, uint32_t l, uint32_t r)
{
	uint64_t k = pair_key(l, r);
	size_t i = mix64(k) & (b->pcap - 1);
	for (;;) {
		uint64_t x = b->pkeys[i];
		if (x == k)
			return b->pvals[i];
		if (!x)
			return UINT32_MAX;
		i = (i + 1) & (b->pcap - 1);
	}
}

/* Builds the pair table: every split of a token into two tokens. Only
 * split points whose prefix length is some token's length are looked up:
 * hashing every prefix of every token is O(len^2) a token, and text with
 * long runs of one character (a million '1's) makes tokens of 10^5 bytes
 * and more, whose table took many minutes. */
static int bpe_build_pairs(dsv_bpe *b)
{
	size_t n = 0, maxlen = 0;
	for (uint32_t t = 256; t < b->ntokens; t++) {
		size_t len = b->off[t + 1] - b->off[t];
		n += len - 1;
		if (len > maxlen)
			maxlen = len;
	}
	b->pcap = 1024;
	while (b->pcap < n * 2)
		b->pcap *= 2;
	b->pkeys = calloc(b->pcap, sizeof *b->pkeys);
	b->pvals = malloc(b->pcap * sizeof *b->pvals);
	uint8_t *is_len = calloc(maxlen + 2, 1);
	if (!b->pkeys || !b->pvals || !is_len) {
		free(is_len);
		return -1;
	}
	is_len[1] = 1; /* the byte tokens */
	for (uint32_t t = 256; t < b->ntokens; t++)
		is_len[b->off[t + 1] - b->off[t]] = 1;
	for (uint32_t t = 256; t < b->ntokens; t++) {
		const uint8_t *p = b->bytes + b->off[t];
		size_t len = b->off[t + 1] - b->off[t];
		for (size_t k = 1; k < len; k++) {
			if (!is_len[k] || !is_len[len - k])
				continue;
			int64_t l = bpe_lookup(b, p, k);
			int64_t r = l < 0 ? -1 : bpe_lookup(b, p + k, len - k);
			if (l >= 0 && r >= 0)
				pairs_put(b, (uint32_t)l, (uint32_t)r, t);
		}
	}
	free(is_len);
	return 0;
}

/* ---- training ----------------------------------------------------------- *
 * Words are the distinct chunks, each a run of symbol ids with a count. A
 * pair index maps each adjacent pair to its total count and the words where
 * it occurred; a max-heap orders pairs by count. A merge rewrites only the
 * words listed for its pair and updates the counts of the pairs around each
 * occurrence. Heap entries are not updated in place: counts of old pairs
 * only fall, so an entry whose count is stale is re-pushed with the current
 * count when it reaches the top (Hugging Face's trainer does the same). */

typedef struct {
	int64_t count;
	uint32_t *words; /* words where the pair occurred (may be stale) */
	uint32_t nwords, cap;
	uint32_t a, b;
	uint32_t step;   /* last step it was queued to be pushed */
	int dead;        /* merged: it can never occur again */
} pair_rec;

typedef struct {
	int64_t count;
	uint32_t a, b;
} heap_ent;

typedef struct {
	/* pair index */
	uint64_t *keys; /* pair_key or 0 */
	uint32_t *idx;  /* into recs */
	size_t cap, n;
	pair_rec *recs;
	size_t nrecs, rcap;
	/* heap */
	heap_ent *heap;
	size_t hn, hcap;
	/* words */
	uint32_t *sym;
	uint64_t *woff;
	uint32_t *wlen;
	uint64_t *wcount;
	uint32_t *wstamp;
	size_t nwords;
	/* pairs touched upward during one step */
	uint32_t *touched;
	size_t ntouched, tcap;
} trainer;

static inline int heap_less(const heap_ent *x, const heap_ent *y)
{
	/* "x below y": lower count, or equal count and larger pair. */
	if (x->count != y->count)
		return x->count < y->count;
	if (x->a != y->a)
		return x->a > y->a;
	return x->b > y->b;
}

static int heap_push(trainer *t, int64_t count, uint32_t a, uint32_t b)
{
	if (t->hn == t->hcap) {
		size_t ncap = t->hcap ? t->hcap * 2 : 1 << 16;
		heap_ent *nh = realloc(t->heap, ncap * sizeof *nh);
		if (!nh)
			return -1;
		t->heap = nh;
		t->hcap = ncap;
	}
	size_t i = t->hn++;
	heap_ent e = {count, a, b};
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(&t->heap[p], &e))
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = e;
	return 0;
}

static heap_ent heap_pop(trainer *t)
{
	heap_ent top = t->heap[0], last = t->heap[--t->hn];
	size_t i = 0, n = t->hn;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(&t->heap[c], &t->heap[c + 1]))
			c++;
		if (!heap_less(&last, &t->heap[c]))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (n)
		t->heap[i] = last;
	return top;
}

static int pidx_grow(trainer *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1 << 16;
	uint64_t *nk = calloc(ncap, sizeof *nk);
	uint32_t *ni = malloc(ncap * sizeof *ni);
	if (!nk || !ni) {
		free(nk);
		free(ni);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->keys[i])
			continue;
		size_t j = mix64(t->keys[i]) & (ncap - 1);
		while (nk[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = t->keys[i];
		ni[j] = t->idx[i];
	}
	free(t->keys);
	free(t->idx);
	t->keys = nk;
	t->idx = ni;
	t->cap = ncap;
	return 0;
}

/* The record of pair (a, b), created when absent; NULL on out of memory. */
static pair_rec *pidx_get(trainer *t, uint32_t a, uint32_t b)
{
	if ((t->n + 1) * 2 > t->cap && pidx_grow(t))
		return NULL;
	uint64_t k = pair_key(a, b);
	size_t i = mix64(k) & (t->cap - 1);
	while (t->keys[i]) {
		if (t->keys[i] == k)
			return &t->recs[t->idx[i]];
		i = (i + 1) & (t->cap - 1);
	}
	if (t->nrecs == t->rcap) {
		size_t ncap = t->rcap ? t->rcap * 2 : 1 << 16;
		pair_rec *nr = realloc(t->recs, ncap * sizeof *nr);
		if (!nr)
			return NULL;
		t->recs = nr;
		t->rcap = ncap;
	}
	t->keys[i] = k;
	t->idx[i] = (uint32_t)t->nrecs;
	t->n++;
	pair_rec *r = &t->recs[t->nrecs++];
	memset(r, 0, sizeof *r);
	r->a = a;
	r->b = b;
	r->step = UINT32_MAX;
	return r;
}

static int rec_add_word(pair_rec *r, uint32_t w)
{
	if (r->nwords && r->words[r->nwords - 1] == w)
		return 0;
	if (r->nwords == r->cap) {
		uint32_t ncap = r->cap ? r->cap * 2 : 2;
		uint32_t *nw = realloc(r->words, ncap * sizeof *nw);
		if (!nw)
			return -1;
		r->words = nw;
		r->cap = ncap;
	}
	r->words[r->nwords++] = w;
	return 0;
}

/* Adds d occurrences (weighted by word count) of (a, b) in word w. */
static int pair_delta(trainer *t, uint32_t a, uint32_t b, int64_t d,
		      uint32_t w, uint32_t step)
{
	pair_rec *r = pidx_get(t, a, b);
	if (!r)
		return -1;
	if (r->dead)
		return 0;
	r->count += d;
	if (d > 0) {
		if (rec_add_word(r, w))
			return -1;
		if (r->step != step) {
			r->step = step;
			if (t->ntouched == t->tcap) {
				size_t ncap = t->tcap ? t->tcap * 2 : 1024;
				uint32_t *nt = realloc(t->touched,
						       ncap * sizeof *nt);
				if (!nt)
					return -1;
				t->touched = nt;
				t->tcap = ncap;
			}
			t->touched[t->ntouched++] = (uint32_t)(r - t->recs);
		}
	}
	return 0;
}

static void trainer_free(trainer *t)
{
	for (size_t i = 0; i < t->nrecs; i++)
		free(t->recs[i].words);
	free(t->recs);
	free(t->keys);
	free(t->idx);
	free(t->heap);
	free(t->sym);
	free(t->woff);
	free(t->wlen);
	free(t->wcount);
	free(t->wstamp);
	free(t->touched);
}

static int trainer_load(trainer *t, const dsv_bpe_counts *c)
{
	const smap *m = &c->map;
	uint64_t nsym = m->alen;
	t->nwords = m->n;
	t->sym = malloc((nsym ? nsym : 1) * sizeof *t->sym);
	t->woff = malloc((m->n + 1) * sizeof *t->woff);
	t->wlen = malloc((m->n + 1) * sizeof *t->wlen);
	t->wcount = malloc((m->n + 1) * sizeof *t->wcount);
	t->wstamp = calloc(m->n + 1, sizeof *t->wstamp);
	if (!t->sym || !t->woff || !t->wlen || !t->wcount || !t->wstamp)
		return -1;
	/* Words in hash-slot order; the merges do not depend on it (ties
	 * break on ids), only the memory order of the work does. */
	size_t w = 0;
	for (size_t i = 0; i < m->cap; i++) {
		const smap_slot *s = &m->slots[i];
		if (!s->h)
			continue;
		t->woff[w] = s->off;
		t->wlen[w] = s->len;
		t->wcount[w] = s->val;
		for (uint32_t k = 0; k < s->len; k++)
			t->sym[s->off + k] = m->arena[s->off + k];
		w++;
	}
	for (w = 0; w < t->nwords; w++) {
		const uint32_t *s = t->sym + t->woff[w];
		for (uint32_t k = 0; k + 1 < t->wlen[w]; k++)
			if (pair_delta(t, s[k], s[k + 1],
				       (int64_t)t->wcount[w], (uint32_t)w, 0))
				return -1;
	}
	for (size_t i = 0; i < t->nrecs; i++)
		if (heap_push(t, t->recs[i].count, t->recs[i].a, t->recs[i].b))
			return -1;
	return 0;
}

/* Rewrites word w with (a, b) -> nid, updating the pair counts. */
static int merge_word(trainer *t, uint32_t w, uint32_t a, uint32_t b,
		      uint32_t nid, uint32_t step)
{
	uint32_t *s = t->sym + t->woff[w];
	uint32_t len = t->wlen[w], r = 0, o = 0;
	int64_t c = (int64_t)t->wcount[w];
	while (r < len) {
		if (r + 1 < len && s[r] == a && s[r + 1] == b) {
			if (o > 0 && (pair_delta(t, s[o - 1], a, -c, w, step) ||
				      pair_delta(t, s[o - 1], nid, c, w, step)))
				return -1;
			if (r + 2 < len &&
			    (pair_delta(t, b, s[r + 2], -c, w, step) ||
			     pair_delta(t, nid, s[r + 2], c, w, step)))
				return -1;
			s[o++] = nid;
			r += 2;
		} else {
			s[o++] = s[r++];
		}
	}
	t->wlen[w] = o;
	return 0;
}

int dsv_bpe_train(dsv_bpe **out, const dsv_bpe_counts *c, uint32_t vocab_size)
{
	trainer t = {0};
	dsv_bpe *b = NULL;
	int rc = DSV_KERNEL_ENOMEM;
	*out = NULL;
	if (vocab_size < 257 || vocab_size > DSV_BPE_MAX_VOCAB)
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"bpe: vocabulary size %u is not in "
					"257..%u", vocab_size,
					DSV_BPE_MAX_VOCAB);
	if (!(b = bpe_alloc(vocab_size)) || trainer_load(&t, c))
		goto cleanup;
	uint32_t step = 0;
	while (b->ntokens < vocab_size - 1 && t.hn) {
		heap_ent top = heap_pop(&t);
		pair_rec *p = pidx_get(&t, top.a, top.b);
		if (!p)
			goto cleanup;
		if (p->dead || p->count <= 0)
			continue;
		if (p->count != top.count) {
			if (heap_push(&t, p->count, top.a, top.b))
				goto cleanup;
			continue;
		}
		step++;
		uint32_t a = p->a, bb = p->b;
		size_t l1 = b->off[a + 1] - b->off[a];
		size_t l2 = b->off[bb + 1] - b->off[bb];
		uint8_t *cat = malloc(l1 + l2);
		if (!cat)
			goto cleanup;
		memcpy(cat, b->bytes + b->off[a], l1);
		memcpy(cat + l1, b->bytes + b->off[bb], l2);
		int64_t existing = bpe_lookup(b, cat, l1 + l2);
		free(cat);
		uint32_t nid = existing >= 0 ? (uint32_t)existing : b->ntokens;
		if (existing < 0 && bpe_add(b, a, bb))
			goto cleanup;
		p->dead = 1;
		/* The word list may move while merging (pidx_get grows
		 * recs), so take it out of the record first. */
		uint32_t *words = p->words, nw = p->nwords;
		p->words = NULL;
		p->nwords = p->cap = 0;
		t.ntouched = 0;
		for (uint32_t i = 0; i < nw; i++) {
			uint32_t w = words[i];
			if (t.wstamp[w] == step)
				continue;
			t.wstamp[w] = step;
			if (merge_word(&t, w, a, bb, nid, step)) {
				free(words);
				goto cleanup;
			}
		}
		free(words);
		for (size_t i = 0; i < t.ntouched; i++) {
			pair_rec *r = &t.recs[t.touched[i]];
			if (r->count > 0 &&
			    heap_push(&t, r->count, r->a, r->b))
				goto cleanup;
		}
	}
	if (bpe_build_pairs(b))
		goto cleanup;
	*out = b;
	b = NULL;
	rc = 0;
cleanup:
	trainer_free(&t);
	dsv_bpe_free(b);
	if (rc)
		return dsv_kernel_error(rc, "out of memory training bpe");
	return 0;
}

/* ---- the TOKENIZER file ------------------------------------------------- */

static int buf_reserve(char **p, size_t *len, size_t *cap, size_t extra)
{
	if (*len + extra + 1 <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 1 << 16;
	while (ncap < *len + extra + 1)
		ncap *= 2;
	char *np = realloc(*p, ncap);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

int dsv_bpe_format(const dsv_bpe *b, char **out, size_t *outlen)
{
	char *p = NULL;
	size_t len = 0, cap = 0;
	*out = NULL;
	if (buf_reserve(&p, &len, &cap, 512))
		goto nomem;
	len += (size_t)sprintf(p + len,
		"# dsv tokenizer: byte-level BPE over GPT-2 pre-tokenization "
		"(docs/tokenizer.md)\n"
		"# merges: id left right \"bytes\" (ids 0..255 are the bytes)\n"
		"dsv-tokenizer 1\n"
		"pattern gpt2\n"
		"tokens %u\n"
		"special %u %s\n"
		"merges %u\n",
		b->ntokens, b->ntokens, DSV_BPE_EOT_TEXT, b->ntokens - 256);
	for (uint32_t id = 256; id < b->ntokens; id++) {
		const uint8_t *t = b->bytes + b->off[id];
		size_t tl = b->off[id + 1] - b->off[id];
		if (buf_reserve(&p, &len, &cap, 40 + 4 * tl))
			goto nomem;
		len += (size_t)sprintf(p + len, "%u %u %u \"", id, b->left[id],
				       b->right[id]);
		for (size_t i = 0; i < tl; i++) {
			uint8_t ch = t[i];
			if (ch == '"' || ch == '\\') {
				p[len++] = '\\';
				p[len++] = (char)ch;
			} else if (ch < 0x20 || ch >= 0x7f) {
				len += (size_t)sprintf(p + len, "\\x%02x", ch);
			} else {
				p[len++] = (char)ch;
			}
		}
		p[len++] = '"';
		p[len++] = '\n';
	}
	p[len] = 0;
	*out = p;
	*outlen = len;
	return 0;
nomem:
	free(p);
	return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads one line of [s, end) into line/llen; advances *s. */
static int next_line(const char **s, const char *end, const char **line,
		     size_t *llen)
{
	if (*s >= end)
		return 0;
	const char *nl = memchr(*s, '\n', (size_t)(end - *s));
	if (!nl)
		nl = end;
	*line = *s;
	*llen = (size_t)(nl - *s);
	*s = nl < end ? nl + 1 : end;
	return 1;
}

static int parse_u32(const char **p, const char *end, uint32_t *out)
{
	uint64_t v = 0;
	const char *q = *p;
	if (q >= end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < end &&
						  q[1] >= '0' && q[1] <= '9'))
		return -1;
	while (q < end && *q >= '0' && *q <= '9') {
		v = v * 10 + (uint64_t)(*q++ - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*p = q;
	return 0;
}

/* A merge line has three ids, three spaces, two quotes and at least two
 * bytes: it is never shorter than `1 2 3 "ab"`. */
#define MERGE_LINE_MIN 10

#define PERR(...) do { rc = dsv_kernel_error(DSV_KERNEL_EINVAL, __VA_ARGS__); \
		       goto cleanup; } while (0)

int dsv_bpe_parse(dsv_bpe **out, const char *text, size_t len)
{
	const char *s = text, *end = text + len, *line;
	size_t ll;
	unsigned lineno = 0;
	uint32_t ntok = 0, special = 0, nmerges = 0;
	int stage = 0, rc = 0;
	dsv_bpe *b = NULL;
	uint8_t *tmp = NULL;
	*out = NULL;
	/* Header lines in a fixed order: the file is written by
	 * dsv_bpe_format only, so anything else is damage. */
	static const char *const heads[] = {"dsv-tokenizer 1", "pattern gpt2"};
	while (next_line(&s, end, &line, &ll)) {
		lineno++;
		if (ll && line[0] == '#' && stage < 5)
			continue;
		if (stage < 2) {
			if (ll != strlen(heads[stage]) ||
			    memcmp(line, heads[stage], ll))
				PERR("TOKENIZER:%u: expected '%s'", lineno,
				     heads[stage]);
			stage++;
			continue;
		}
		const char *p = line, *le = line + ll;
		if (stage == 2) {
			if (ll < 7 || memcmp(p, "tokens ", 7) ||
			    (p += 7, parse_u32(&p, le, &ntok)) || p != le ||
			    ntok < 256 || ntok >= DSV_BPE_MAX_VOCAB)
				PERR("TOKENIZER:%u: expected 'tokens N' with "
				     "N in 256..%u", lineno,
				     DSV_BPE_MAX_VOCAB - 1);
			/* The tables are sized by the header: first check
			 * that the rest of the text can hold its merges (a
			 * 20-byte header had 2^24 tokens' tables, 200 MB,
			 * allocated). */
			if ((uint64_t)(ntok - 256) * MERGE_LINE_MIN >
			    (uint64_t)(end - s))
				PERR("TOKENIZER:%u: %u tokens need %u merge "
				     "lines, more than the file holds", lineno,
				     ntok, ntok - 256);
			/* A token's bytes are never more than its quoted
			 * form, so the text's length bounds them all (a
			 * long run of one letter makes tokens of 10^5 bytes
			 * and more). */
			if (!(b = bpe_alloc(ntok + 1)) ||
			    !(tmp = malloc(len))) {
				rc = dsv_kernel_error(DSV_KERNEL_ENOMEM,
						      "out of memory");
				goto cleanup;
			}
			stage++;
			continue;
		}
		if (stage == 3) {
			static const char eot[] = " " DSV_BPE_EOT_TEXT;
			if (ll < 8 || memcmp(p, "special ", 8) ||
			    (p += 8, parse_u32(&p, le, &special)) ||
			    special != ntok || (size_t)(le - p) != strlen(eot) ||
			    memcmp(p, eot, strlen(eot)))
				PERR("TOKENIZER:%u: expected 'special %u %s'",
				     lineno, ntok, DSV_BPE_EOT_TEXT);
			stage++;
			continue;
		}
		if (stage == 4) {
			if (ll < 7 || memcmp(p, "merges ", 7) ||
			    (p += 7, parse_u32(&p, le, &nmerges)) || p != le ||
			    nmerges != ntok - 256)
				PERR("TOKENIZER:%u: expected 'merges %u'",
				     lineno, ntok - 256);
			stage++;
			continue;
		}
		/* id left right "bytes" */
		uint32_t id, l, r;
		size_t tl = 0;
		if (parse_u32(&p, le, &id) || p >= le || *p++ != ' ' ||
		    parse_u32(&p, le, &l) || p >= le || *p++ != ' ' ||
		    parse_u32(&p, le, &r) || p >= le || *p++ != ' ' ||
		    p >= le || *p++ != '"')
			PERR("TOKENIZER:%u: expected 'id left right \"bytes\"'",
			     lineno);
		if (id != b->ntokens || id >= ntok)
			PERR("TOKENIZER:%u: expected merge %u", lineno,
			     b->ntokens);
		if (l >= id || r >= id)
			PERR("TOKENIZER:%u: merge %u names a later token",
			     lineno, id);
		while (p < le && *p != '"') {
			if (*p == '\\') {
				int h1, h2;
				if (p + 1 < le && (p[1] == '"' || p[1] == '\\')) {
					tmp[tl++] = (uint8_t)p[1];
					p += 2;
				} else if (p + 3 < le && p[1] == 'x' &&
					   (h1 = hexval(p[2])) >= 0 &&
					   (h2 = hexval(p[3])) >= 0) {
					tmp[tl++] = (uint8_t)(h1 << 4 | h2);
					p += 4;
				} else {
					PERR("TOKENIZER:%u: bad escape",
					     lineno);
				}
			} else {
				tmp[tl++] = (uint8_t)*p++;
			}
		}
		if (p + 1 != le || *p != '"')
			PERR("TOKENIZER:%u: unterminated bytes", lineno);
		size_t l1 = b->off[l + 1] - b->off[l];
		size_t l2 = b->off[r + 1] - b->off[r];
		if (tl != l1 + l2 || memcmp(tmp, b->bytes + b->off[l], l1) ||
		    memcmp(tmp + l1, b->bytes + b->off[r], l2))
			PERR("TOKENIZER:%u: bytes are not those of %u and %u",
			     lineno, l, r);
		if (bpe_lookup(b, tmp, tl) >= 0)
			PERR("TOKENIZER:%u: token %u repeats an earlier token",
			     lineno, id);
		if (bpe_add(b, l, r)) {
			rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (stage < 5)
		PERR("TOKENIZER: truncated header");
	if (b->ntokens != ntok)
		PERR("TOKENIZER: %u merges listed, header says %u",
		     b->ntokens - 256, nmerges);
	if (bpe_build_pairs(b)) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = b;
	b = NULL;
cleanup:
	free(tmp);
	dsv_bpe_free(b);
	return rc;
}

/* ---- encoding ----------------------------------------------------------- */

#define CACHE_MAX_ENTRIES (1u << 20)
#define CACHE_MAX_CHUNK 256 /* longer chunks are encoded every time */

struct dsv_bpe_encoder {
	const dsv_bpe *b;
	dsv_pretok *pt;
	smap cache;     /* chunk -> ids[val .. val+aux) in cids */
	uint32_t *cids;
	size_t ncids, ccap;
	/* scratch for one chunk */
	uint32_t *part, *rank;
	size_t scap;
};

int dsv_bpe_encoder_new(dsv_bpe_encoder **out, const dsv_bpe *b)
{
	dsv_bpe_encoder *e = calloc(1, sizeof *e);
	int rc;
	*out = NULL;
	if (!e)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	e->b = b;
	if ((rc = dsv_pretok_new(&e->pt))) {
		free(e);
		return rc;
	}
	if (smap_init(&e->cache, 1 << 12)) {
		dsv_bpe_encoder_free(e);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	}
	*out = e;
	return 0;
}

void dsv_bpe_encoder_free(dsv_bpe_encoder *e)
{
	if (!e)
		return;
	dsv_pretok_free(e->pt);
	smap_free(&e->cache);
	free(e->cids);
	free(e->part);
	free(e->rank);
	free(e);
}

static int push_ids(uint32_t **ids, size_t *n, size_t *cap, size_t extra)
{
	if (*n + extra <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 1024;
	while (ncap < *n + extra)
		ncap *= 2;
	uint32_t *ni = realloc(*ids, ncap * sizeof *ni);
	if (!ni)
		return -1;
	*ids = ni;
	*cap = ncap;
	return 0;
}

/* tiktoken's byte_pair_merge over token ids: part[0..n) are the current
 * tokens, rank[i] the token made by part[i] ++ part[i+1] (UINT32_MAX: none).
 * Returns the number of tokens left in part. */
static size_t merge_chunk(const dsv_bpe *b, uint32_t *part, uint32_t *rank,
			  size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		rank[i] = pairs_get(b, part[i], part[i + 1]);
	while (n > 1) {
		uint32_t best = UINT32_MAX;
		size_t bi = 0;
		for (size_t i = 0; i + 1 < n; i++)
			if (rank[i] < best) {
				best = rank[i];
				bi = i;
			}
		if (best == UINT32_MAX)
			break;
		part[bi] = best;
		memmove(part + bi + 1, part + bi + 2,
			(n - bi - 2) * sizeof *part);
		if (n >= bi + 3)
			memmove(rank + bi + 1, rank + bi + 2,
				(n - bi - 3) * sizeof *rank);
		n--;
		if (bi + 1 < n)
			rank[bi] = pairs_get(b, part[bi], part[bi + 1]);
		if (bi > 0)
			rank[bi - 1] = pairs_get(b, part[bi - 1], part[bi]);
	}
	return n;
}

/* merge_chunk rescans the chunk for every merge: O(n^2), and a long chunk
 * (a run of letters or digits with no space: base64, minified code, a
 * long URL) is common in web text; one of 1 MB took more than ten minutes.
 * Longer chunks take the same merges in the same order, the lowest rank
 * first and on a tie the leftmost, from a min-heap of (rank, position)
 * over a linked list of the tokens: O(n log n). A heap entry whose
 * position no longer starts a pair of that rank is stale and skipped. */
#define HEAP_MERGE_FROM 256

static void mheap_push(uint64_t *h, size_t *n, uint64_t v)
{
	size_t i = (*n)++;
	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static uint64_t mheap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], v = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = v;
	return top;
}

/* Returns the number of tokens left in part, or SIZE_MAX when out of
 * memory. n < UINT32_MAX. */
static size_t merge_chunk_heap(const dsv_bpe *b, uint32_t *part, size_t n)
{
	const uint32_t NONE = UINT32_MAX;
	uint32_t *nx = malloc(n * sizeof *nx), *pv = malloc(n * sizeof *pv);
	uint32_t *cr = malloc(n * sizeof *cr); /* rank of the pair at i */
	uint64_t *h = malloc(3 * n * sizeof *h); /* n - 1, then 2 a merge */
	size_t hn = 0, k = 0;
	if (!nx || !pv || !cr || !h) {
		k = SIZE_MAX;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		nx[i] = i + 1 < n ? (uint32_t)(i + 1) : NONE;
		pv[i] = i ? (uint32_t)(i - 1) : NONE;
		cr[i] = i + 1 < n ? pairs_get(b, part[i], part[i + 1]) : NONE;
		if (cr[i] != NONE)
			mheap_push(h, &hn, (uint64_t)cr[i] << 32 | i);
	}
	while (hn) {
		uint64_t top = mheap_pop(h, &hn);
		uint32_t r = (uint32_t)(top >> 32), i = (uint32_t)top;
		if (cr[i] != r)
			continue;
		uint32_t j = nx[i];
		part[i] = r;
		nx[i] = nx[j];
		if (nx[j] != NONE)
			pv[nx[j]] = i;
		cr[j] = NONE;
		cr[i] = nx[i] != NONE ? pairs_get(b, part[i], part[nx[i]]) : NONE;
		if (cr[i] != NONE)
			mheap_push(h, &hn, (uint64_t)cr[i] << 32 | i);
		uint32_t p = pv[i];
		if (p != NONE) {
			cr[p] = pairs_get(b, part[p], part[i]);
			if (cr[p] != NONE)
				mheap_push(h, &hn, (uint64_t)cr[p] << 32 | p);
		}
	}
	for (uint32_t i = 0; i != NONE; i = nx[i])
		part[k++] = part[i]; /* k <= i: in place */
done:
	free(nx);
	free(pv);
	free(cr);
	free(h);
	return k;
}

/* Encodes one chunk into ids (appended). */
static int encode_chunk(dsv_bpe_encoder *e, const uint8_t *c, size_t len,
			uint32_t **ids, size_t *n, size_t *cap)
{
	const dsv_bpe *b = e->b;
	uint64_t h = key_hash(c, len);
	smap_slot *s = NULL;
	if (len <= CACHE_MAX_CHUNK &&
	    (s = smap_find(&e->cache, c, len, h))) {
		if (push_ids(ids, n, cap, s->aux))
			return -1;
		memcpy(*ids + *n, e->cids + s->val, s->aux * sizeof **ids);
		*n += s->aux;
		return 0;
	}
	if (len > e->scap) {
		size_t ncap = len < 64 ? 64 : len;
		free(e->part);
		free(e->rank);
		e->part = malloc(ncap * sizeof *e->part);
		e->rank = malloc(ncap * sizeof *e->rank);
		if (!e->part || !e->rank)
			return -1;
		e->scap = ncap;
	}
	size_t m;
	smap_slot *whole = smap_find(&b->ids, c, len, h);
	if (whole) {
		e->part[0] = (uint32_t)whole->val;
		m = 1;
	} else {
		for (size_t i = 0; i < len; i++)
			e->part[i] = c[i];
		if (len >= HEAP_MERGE_FROM && len < UINT32_MAX)
			m = merge_chunk_heap(b, e->part, len);
		else
			m = merge_chunk(b, e->part, e->rank, len);
		if (m == SIZE_MAX)
			return -1;
	}
	if (push_ids(ids, n, cap, m))
		return -1;
	memcpy(*ids + *n, e->part, m * sizeof **ids);
	*n += m;
	if (len > CACHE_MAX_CHUNK)
		return 0;
	if (e->cache.n >= CACHE_MAX_ENTRIES) {
		smap_clear(&e->cache);
		e->ncids = 0;
	}
	if (push_ids(&e->cids, &e->ncids, &e->ccap, m))
		return -1;
	int added;
	if (!(s = smap_upsert(&e->cache, c, len, h, &added)))
		return -1;
	s->val = e->ncids;
	s->aux = (uint32_t)m;
	memcpy(e->cids + e->ncids, e->part, m * sizeof *e->cids);
	e->ncids += m;
	return 0;
}

int dsv_bpe_encode(dsv_bpe_encoder *e, const uint8_t *text, size_t len,
		   uint32_t **ids, size_t *n, size_t *cap)
{
	size_t st, cl;
	dsv_pretok_begin(e->pt, text, len);
	while (dsv_pretok_next(e->pt, &st, &cl))
		if (encode_chunk(e, text + st, cl, ids, n, cap))
			return dsv_kernel_error(DSV_KERNEL_ENOMEM,
						"out of memory encoding");
	return 0;
}

int dsv_bpe_encode_batch(const dsv_bpe *b, const uint8_t *text,
			 const uint64_t *off, size_t ndocs, uint32_t **ids,
			 uint64_t *tok_off, int nthreads)
{
	*ids = NULL;
	int rc = dsv_check_docs("bpe", text, off, ndocs, 0);
	if (rc)
		return rc;
	int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
	/* Blocks of documents of about equal bytes, several per thread so a
	 * slow block does not hold the others up; each block's tokens go to
	 * its own buffer, copied into place at the end (in order). */
	size_t nblocks = (size_t)nt * 8;
	if (nblocks > ndocs)
		nblocks = ndocs ? ndocs : 1;
	size_t *bstart = calloc(nblocks + 1, sizeof *bstart);
	uint32_t **bids = calloc(nblocks, sizeof *bids);
	size_t *bn = calloc(nblocks, sizeof *bn);
	int fail = !bstart || !bids || !bn;
	if (!fail) {
		uint64_t bytes = off[ndocs] - off[0];
		size_t d = 0;
		for (size_t k = 0; k < nblocks; k++) {
			uint64_t lim = off[0] + bytes * (k + 1) / nblocks;
			bstart[k] = d;
			while (d < ndocs && (off[d] < lim || d == bstart[k]))
				d++;
		}
		bstart[nblocks] = ndocs;
#pragma omp parallel num_threads(nt) reduction(| : fail)
		{
			dsv_bpe_encoder *e = NULL;
			if (dsv_bpe_encoder_new(&e, b))
				fail = 1;
#pragma omp for schedule(dynamic, 1)
			for (size_t k = 0; k < nblocks; k++) {
				size_t cap = 0;
				for (size_t i = bstart[k];
				     !fail && i < bstart[k + 1]; i++) {
					tok_off[i] = bn[k]; /* relative */
					if (dsv_bpe_encode(e, text + off[i],
							   off[i + 1] - off[i],
							   &bids[k], &bn[k],
							   &cap))
						fail = 1;
				}
			}
			dsv_bpe_encoder_free(e);
		}
	}
	uint64_t total = 0;
	for (size_t k = 0; !fail && k < nblocks; k++)
		total += bn[k];
	uint32_t *all = fail ? NULL : malloc((total ? total : 1) * sizeof *all);
	if (!all)
		fail = 1;
	uint64_t base = 0;
	for (size_t k = 0; !fail && k < nblocks; k++) {
		for (size_t i = bstart[k]; i < bstart[k + 1]; i++)
			tok_off[i] += base;
		if (bn[k])
			memcpy(all + base, bids[k], bn[k] * sizeof *all);
		base += bn[k];
	}
	if (!fail)
		tok_off[ndocs] = total;
	for (size_t k = 0; bids && k < nblocks; k++)
		free(bids[k]);
	free(bids);
	free(bn);
	free(bstart);
	if (fail) {
		free(all);
		return dsv_kernel_error(DSV_KERNEL_ENOMEM,
					"out of memory encoding");
	}
	*ids = all;
	return 0;
}

int dsv_bpe_decode(const dsv_bpe *b, const uint32_t *ids, size_t n,
		   uint8_t **out, size_t *len, size_t *cap)
{
	for (size_t i = 0; i < n; i++) {
		size_t tl;
		const uint8_t *t = dsv_bpe_token(b, ids[i], &tl);
		if (!t)
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"bpe: token id %u is not in the "
						"vocabulary of %u", ids[i],
						b->ntokens + 1);
		if (buf_reserve((char **)out, len, cap, tl))
			return dsv_kernel_error(DSV_KERNEL_ENOMEM,
						"out of memory");
		memcpy(*out + *len, t, tl);
		*len += tl;
	}
	return 0;
}
