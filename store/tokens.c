/* tokens.c: token arrays (object type 5): the tokens of every row of one
 * shard under one tokenizer, with per-row offsets; the `tokens` index
 * (shard, tokenizer) -> token array; the training loader that reads a
 * version's tokens in version order; and the llm.c .bin export.
 *
 * Canonical encoding (docs/formats.md, "Token array"): a 104-byte header
 * ("DSVTOK01", u32 version 1, u32 token width 2 or 4, shard id, tokenizer id,
 * u64 rows, u64 tokens, u32 vocabulary size, u32 zero), then rows+1 u64
 * token offsets, then the tokens, little-endian.
 */
#include "internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOK_MAGIC "DSVTOK01"
#define TOK_VERSION 1
#define TOK_MAX_ROWS (1ull << 40)
#define TOK_MAX_TOKENS (1ull << 40)

struct dsv_tokens {
	dsv_oid shard, tokenizer;
	uint64_t rows, ntokens;
	uint32_t vocab, width;
	uint64_t *off;  /* rows+1 */
	uint8_t *data;  /* ntokens * width */
};

static uint32_t width_for(uint32_t vocab)
{
	return vocab <= 65536 ? 2 : 4;
}

int dsv_tokens_write(dsv_store *s, const dsv_oid *shard,
		     const dsv_oid *tokenizer, uint32_t vocab, uint64_t rows,
		     const uint64_t *off, const uint32_t *ids, dsv_oid *out,
		     int *is_new)
{
	uint8_t hdr[DSV_TOKENS_HEADER] = {0};
	uint32_t w = width_for(vocab);
	uint64_t n = off[rows] - off[0];
	uint64_t *roff = NULL;
	uint8_t *data = NULL;
	int rc;

	if (vocab == 0 || rows >= TOK_MAX_ROWS || n >= TOK_MAX_TOKENS)
		return dsv_error_set(DSV_EINVAL, "token array: bad sizes");
	if (!(roff = dsv_malloc((rows + 1) * sizeof *roff)) ||
	    !(data = dsv_malloc(n ? n * w : 1))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	for (uint64_t r = 0; r <= rows; r++) {
		if (r && off[r] < off[r - 1]) {
			rc = dsv_error_set(DSV_EINVAL, "token array: offsets "
					   "decrease at row %llu",
					   (unsigned long long)r);
			goto cleanup;
		}
		dsv_put64(roff + r, off[r] - off[0]);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint32_t t = ids[off[0] + i];
		if (t >= vocab) {
			rc = dsv_error_set(DSV_EINVAL, "token array: token %u "
					   "is not below the vocabulary size %u",
					   t, vocab);
			goto cleanup;
		}
		if (w == 2) {
			data[2 * i] = (uint8_t)t;
			data[2 * i + 1] = (uint8_t)(t >> 8);
		} else {
			dsv_put32(data + 4 * i, t);
		}
	}
	memcpy(hdr, TOK_MAGIC, 8);
	dsv_put32(hdr + 8, TOK_VERSION);
	dsv_put32(hdr + 12, w);
	memcpy(hdr + 16, shard->b, 32);
	memcpy(hdr + 48, tokenizer->b, 32);
	dsv_put64(hdr + 80, rows);
	dsv_put64(hdr + 88, n);
	dsv_put32(hdr + 96, vocab);
	dsv_section secs[3] = {
		{hdr, sizeof hdr},
		{roff, (rows + 1) * sizeof *roff},
		{data, n * w},
	};
	rc = dsv_obj_write(s, DSV_OBJ_TOKENS, secs, 3, rows,
			   dsv_store_level(s), out, is_new);
cleanup:
	free(roff);
	free(data);
	return rc;
}

static int bad(const char *what)
{
	return dsv_error_set(DSV_ECORRUPT, "bad token array: %s", what);
}

int dsv_tokens_decode(dsv_tokens **out, void **secs, const size_t *lens,
		      int nsecs)
{
	const uint8_t *h;
	dsv_tokens *t = NULL;

	*out = NULL;
	if (nsecs != 3 || !secs[0] || lens[0] != DSV_TOKENS_HEADER)
		return bad("wrong sections");
	h = secs[0];
	if (memcmp(h, TOK_MAGIC, 8) != 0)
		return bad("bad magic");
	if (dsv_le32(h + 8) != TOK_VERSION)
		return bad("unsupported version");
	uint32_t w = dsv_le32(h + 12), vocab = dsv_le32(h + 96);
	uint64_t rows = dsv_le64(h + 80), n = dsv_le64(h + 88);
	if (vocab == 0 || w != width_for(vocab))
		return bad("token width does not fit the vocabulary");
	if (dsv_le32(h + 100))
		return bad("reserved header bytes are set");
	if (rows >= TOK_MAX_ROWS || n >= TOK_MAX_TOKENS)
		return bad("too many rows or tokens");
	if (lens[1] != (rows + 1) * 8 || !secs[1])
		return bad("offset bytes do not match the rows");
	if (lens[2] != n * w || (n && !secs[2]))
		return bad("token bytes do not match the count");
	const uint8_t *po = secs[1], *pd = secs[2];
	if (dsv_le64(po) != 0 || dsv_le64(po + rows * 8) != n)
		return bad("offsets do not span the tokens");
	for (uint64_t r = 0; r < rows; r++)
		if (dsv_le64(po + 8 * r + 8) < dsv_le64(po + 8 * r))
			return bad("offsets decrease");
	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = w == 2 ? (uint32_t)pd[2 * i] |
					      (uint32_t)pd[2 * i + 1] << 8
				    : dsv_le32(pd + 4 * i);
		if (v >= vocab)
			return bad("token outside the vocabulary");
	}
	if (!(t = dsv_malloc(sizeof *t)))
		return DSV_ENOMEM;
	memset(t, 0, sizeof *t);
	t->off = dsv_malloc((rows + 1) * 8);
	t->data = dsv_malloc(n ? n * w : 1);
	if (!t->off || !t->data) {
		dsv_tokens_free(t);
		return DSV_ENOMEM;
	}
	for (uint64_t r = 0; r <= rows; r++)
		t->off[r] = dsv_le64(po + 8 * r);
	if (n)
		memcpy(t->data, pd, n * w);
	memcpy(t->shard.b, h + 16, 32);
	memcpy(t->tokenizer.b, h + 48, 32);
	t->rows = rows;
	t->ntokens = n;
	t->vocab = vocab;
	t->width = w;
	*out = t;
	return 0;
}

int dsv_tokens_open(dsv_tokens **out, dsv_store *s, const dsv_oid *id)
{
	void **secs = NULL;
	size_t *lens = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	int n = 0, rc;

	*out = NULL;
	if ((rc = dsv_obj_load(s, id, DSV_OBJ_TOKENS, &secs, &lens, &n)))
		return rc;
	if ((rc = dsv_tokens_decode(out, secs, lens, n)) == DSV_ECORRUPT) {
		dsv_oid_fmt(hex, id);
		dsv_error_wrap(rc, "object %s: corrupt", hex);
	}
	dsv_obj_sections_free(secs, lens, n);
	return rc;
}

int dsv_tokens_peek(dsv_store *s, const dsv_oid *id, dsv_oid *shard,
		    dsv_oid *tokenizer)
{
	dsv_obj *o = NULL;
	void *h = NULL;
	size_t len = 0;
	int rc = dsv_obj_open(&o, s, id);
	if (!rc && dsv_obj_get_type(o) != DSV_OBJ_TOKENS)
		rc = DSV_EINVAL;
	if (!rc && !(rc = dsv_obj_read_section(o, 0, &h, &len))) {
		if (len != DSV_TOKENS_HEADER || memcmp(h, TOK_MAGIC, 8))
			rc = bad("bad header");
		else {
			memcpy(shard->b, (uint8_t *)h + 16, 32);
			memcpy(tokenizer->b, (uint8_t *)h + 48, 32);
		}
	}
	free(h);
	dsv_obj_free(o);
	return rc;
}

void dsv_tokens_free(dsv_tokens *t)
{
	if (t) {
		free(t->off);
		free(t->data);
		free(t);
	}
}

uint64_t dsv_tokens_rows(const dsv_tokens *t) { return t->rows; }
uint64_t dsv_tokens_count(const dsv_tokens *t) { return t->ntokens; }
uint32_t dsv_tokens_vocab(const dsv_tokens *t) { return t->vocab; }
uint32_t dsv_tokens_width(const dsv_tokens *t) { return t->width; }
const dsv_oid *dsv_tokens_shard(const dsv_tokens *t) { return &t->shard; }
const dsv_oid *dsv_tokens_tokenizer(const dsv_tokens *t)
{
	return &t->tokenizer;
}

uint64_t dsv_tokens_row_len(const dsv_tokens *t, uint64_t row)
{
	return row < t->rows ? t->off[row + 1] - t->off[row] : 0;
}

void dsv_tokens_row(const dsv_tokens *t, uint64_t row, uint32_t *out)
{
	if (row >= t->rows)
		return;
	uint64_t a = t->off[row], n = t->off[row + 1] - a;
	if (t->width == 2) {
		const uint16_t *p = (const uint16_t *)(t->data + 2 * a);
		for (uint64_t i = 0; i < n; i++)
			out[i] = p[i];
	} else {
		memcpy(out, t->data + 4 * a, n * 4);
	}
}

/* ---- the tokens index --------------------------------------------------- */

static int mdb_err(int mrc, const char *what)
{
	int code = mrc == MDB_MAP_FULL || mrc == ENOMEM ? DSV_ENOMEM
		 : mrc == MDB_CORRUPTED || mrc == MDB_INVALID ? DSV_ECORRUPT
		 : DSV_EIO;
	return dsv_error_set(code, "index: %s: %s", what, mdb_strerror(mrc));
}

static void tokens_key(uint8_t k[64], const dsv_oid *shard,
		       const dsv_oid *tokenizer)
{
	memcpy(k, shard->b, 32);
	memcpy(k + 32, tokenizer->b, 32);
}

int dsv_index_get_tokens(dsv_store *s, const dsv_oid *shard,
			 const dsv_oid *tokenizer, dsv_oid *out)
{
	uint8_t key[64];
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof key, key}, v;
	int mrc, rc = 0;

	tokens_key(key, shard, tokenizer);
	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		return mdb_err(mrc, "cannot begin transaction");
	mrc = mdb_get(txn, s->db_tokens, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, shard);
		rc = dsv_error_set(DSV_ENOTFOUND, "index: no token array for "
				   "shard %s", hex);
	} else if (mrc) {
		rc = mdb_err(mrc, "cannot read token array entry");
	} else if (v.mv_size != 32) {
		rc = dsv_error_set(DSV_ECORRUPT, "index: token array entry "
				   "has %zu bytes, not 32", v.mv_size);
	} else {
		memcpy(out->b, v.mv_data, 32);
	}
	mdb_txn_abort(txn);
	return rc;
}

int dsv_index_put_tokens(dsv_store *s, const dsv_oid *shard,
			 const dsv_oid *tokenizer, const dsv_oid *tokens)
{
	uint8_t key[64];
	MDB_val k = {sizeof key, key}, v = {32, (void *)tokens->b};
	MDB_txn *txn = NULL;
	int mrc;

	tokens_key(key, shard, tokenizer);
	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		return mdb_err(mrc, "cannot begin transaction");
	if ((mrc = mdb_put(txn, s->db_tokens, &k, &v, 0))) {
		mdb_txn_abort(txn);
		return mdb_err(mrc, "cannot record token array");
	}
	if ((mrc = mdb_txn_commit(txn)))
		return mdb_err(mrc, "cannot commit");
	return 0;
}

int dsv_tokens_find(dsv_store *s, const dsv_oid *shard,
		    const dsv_oid *tokenizer, dsv_oid *out)
{
	int rc = dsv_index_get_tokens(s, shard, tokenizer, out);
	if (rc)
		return rc;
	/* The index is a cache: an entry whose object went away (gc, a
	 * copied index) is a miss, not an error. */
	if (!dsv_obj_exists(s, out)) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, out);
		return dsv_error_set(DSV_ENOTFOUND, "token array %s is not "
				     "stored", hex);
	}
	return 0;
}

/* ---- the loader --------------------------------------------------------- */

#define LOADER_CACHE 4

struct dsv_tokens_loader {
	dsv_store *s;
	const dsv_manifest *m;
	dsv_oid tokenizer;
	dsv_version_iter *it;
	dsv_tokens *cache[LOADER_CACHE]; /* most recently used first */
	uint32_t eot;
	int have_eot;
	uint32_t *doc;      /* the current document's tokens */
	size_t ndoc, dcap;
	size_t pos;         /* in the stream: 0 = the eot before doc */
	int started, done;
	uint64_t docs, tokens;
};

int dsv_tokens_loader_new(dsv_tokens_loader **out, dsv_store *s,
			  const dsv_manifest *m, const dsv_oid *tokenizer)
{
	dsv_tokens_loader *l;
	int rc;
	*out = NULL;
	if (!(l = dsv_malloc(sizeof *l)))
		return DSV_ENOMEM;
	memset(l, 0, sizeof *l);
	l->s = s;
	l->m = m;
	l->tokenizer = *tokenizer;
	/* Hashes only: the loader needs each record's (entry, row) in
	 * version order, never its text. */
	if ((rc = dsv_version_iter_new(&l->it, s, m, DSV_SHARD_HASH))) {
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void dsv_tokens_loader_free(dsv_tokens_loader *l)
{
	if (!l)
		return;
	dsv_version_iter_free(l->it);
	for (int i = 0; i < LOADER_CACHE; i++)
		dsv_tokens_free(l->cache[i]);
	free(l->doc);
	free(l);
}

/* The token array of shard `sh`, from the small cache or the store. */
static int loader_array(dsv_tokens_loader *l, const dsv_oid *sh,
			dsv_tokens **out)
{
	dsv_tokens *t = NULL;
	dsv_oid id;
	int i, rc;
	for (i = 0; i < LOADER_CACHE && l->cache[i]; i++)
		if (dsv_oid_cmp(&l->cache[i]->shard, sh) == 0)
			break;
	if (i < LOADER_CACHE && l->cache[i]) {
		t = l->cache[i];
	} else {
		char hex[DSV_OID_HEXLEN + 1];
		if ((rc = dsv_tokens_find(l->s, sh, &l->tokenizer, &id))) {
			dsv_oid_fmt(hex, sh);
			if (rc == DSV_ENOTFOUND)
				return dsv_error_set(rc, "shard %s has no "
						     "tokens under this "
						     "tokenizer; run 'dsv "
						     "tokenize' first", hex);
			return rc;
		}
		if ((rc = dsv_tokens_open(&t, l->s, &id)))
			return rc;
		if (dsv_oid_cmp(&t->shard, sh) ||
		    dsv_oid_cmp(&t->tokenizer, &l->tokenizer)) {
			dsv_tokens_free(t);
			dsv_oid_fmt(hex, &id);
			return dsv_error_set(DSV_ECORRUPT, "token array %s is "
					     "not for the shard and tokenizer "
					     "the index says", hex);
		}
		if (l->have_eot && t->vocab - 1 != l->eot) {
			dsv_tokens_free(t);
			return dsv_error_set(DSV_ECORRUPT, "token arrays of "
					     "one tokenizer disagree on the "
					     "vocabulary size");
		}
		i = LOADER_CACHE - 1;
		dsv_tokens_free(l->cache[i]);
		l->cache[i] = t;
	}
	/* Move to the front. */
	for (; i > 0; i--)
		l->cache[i] = l->cache[i - 1];
	l->cache[0] = t;
	if (!l->have_eot) {
		l->eot = t->vocab - 1;
		l->have_eot = 1;
	}
	*out = t;
	return 0;
}

int dsv_tokens_loader_next(dsv_tokens_loader *l, const uint32_t **ids,
			   size_t *n)
{
	dsv_version_rec rec;
	dsv_tokens *t = NULL;
	int rc = dsv_version_iter_next(l->it, &rec);
	if (rc <= 0)
		return rc;
	const dsv_manifest_entry *e = &l->m->e[rec.entry];
	if ((rc = loader_array(l, &e->shard, &t)))
		return rc;
	if (rec.row >= t->rows)
		return dsv_error_set(DSV_ECORRUPT, "token array has %llu "
				     "rows, the version asks for row %llu",
				     (unsigned long long)t->rows,
				     (unsigned long long)rec.row);
	size_t len = (size_t)dsv_tokens_row_len(t, rec.row);
	if (len > l->dcap) {
		size_t ncap = len < 1024 ? 1024 : len;
		uint32_t *nd = dsv_realloc(l->doc, ncap * sizeof *nd);
		if (!nd)
			return DSV_ENOMEM;
		l->doc = nd;
		l->dcap = ncap;
	}
	dsv_tokens_row(t, rec.row, l->doc);
	l->ndoc = len;
	l->docs++;
	l->tokens += len;
	*ids = l->doc;
	*n = len;
	return 1;
}

uint32_t dsv_tokens_loader_eot(const dsv_tokens_loader *l)
{
	return l->have_eot ? l->eot : UINT32_MAX;
}

int dsv_tokens_loader_read(dsv_tokens_loader *l, uint32_t *buf, size_t cap,
			   size_t *got)
{
	size_t k = 0;
	*got = 0;
	while (k < cap && !l->done) {
		if (!l->started || l->pos > l->ndoc) {
			const uint32_t *ids;
			size_t n;
			int rc = dsv_tokens_loader_next(l, &ids, &n);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				l->done = 1;
				break;
			}
			l->started = 1;
			l->pos = 0;
		}
		if (l->pos == 0) {
			buf[k++] = l->eot;
			l->pos = 1;
			continue;
		}
		size_t take = l->ndoc - (l->pos - 1);
		if (take > cap - k)
			take = cap - k;
		memcpy(buf + k, l->doc + l->pos - 1, take * sizeof *buf);
		k += take;
		l->pos += take;
		if (l->pos == l->ndoc + 1)
			l->pos = l->ndoc + 2; /* the document is used up */
	}
	*got = k;
	return k ? 1 : 0;
}

void dsv_tokens_loader_stats(const dsv_tokens_loader *l, uint64_t *docs,
			     uint64_t *tokens)
{
	*docs = l->docs;
	*tokens = l->tokens;
}

/* ---- llm.c .bin export -------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return dsv_error_set(DSV_EIO, "cannot write tokens: %s",
					     strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int dsv_tokens_export(dsv_store *s, const dsv_manifest *m,
		      const dsv_oid *tokenizer, uint32_t vocab, int fd,
		      uint64_t *ntokens, uint64_t *bytes)
{
	dsv_tokens_loader *l = NULL;
	int32_t hdr[256] = {0};
	uint32_t *buf = NULL;
	uint8_t *out = NULL;
	uint64_t total = 0;
	size_t got;
	int rc, w16 = vocab <= 65536;
	enum { CHUNK = 1 << 20 };

	/* The header's count is an int32 (llm.c's format), so the first
	 * pass counts: a version too large for one file fails before a
	 * byte is written. */
	if ((rc = dsv_tokens_loader_new(&l, s, m, tokenizer)))
		return rc;
	const uint32_t *ids;
	size_t n;
	while ((rc = dsv_tokens_loader_next(l, &ids, &n)) == 1)
		total += n + 1;
	dsv_tokens_loader_free(l);
	l = NULL;
	if (rc < 0)
		return rc;
	if (total > INT32_MAX)
		return dsv_error_set(DSV_EINVAL, "%llu tokens do not fit the "
				     "llm.c header's int32 count",
				     (unsigned long long)total);
	/* llm.c's dev/data/data_common.py: uint16 tokens are "gpt-2" (magic
	 * 20240520, version 1), uint32 tokens "llama-3" (20240801, 7); a
	 * reader knows the width from these two. */
	hdr[0] = w16 ? 20240520 : 20240801;
	hdr[1] = w16 ? 1 : 7;
	hdr[2] = (int32_t)total;
	if ((rc = write_all(fd, hdr, sizeof hdr)))
		return rc;
	if ((rc = dsv_tokens_loader_new(&l, s, m, tokenizer)))
		return rc;
	if (!(buf = dsv_malloc(CHUNK * sizeof *buf)) ||
	    !(out = dsv_malloc(CHUNK * 4))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	uint64_t written = 0;
	while ((rc = dsv_tokens_loader_read(l, buf, CHUNK, &got)) == 1) {
		size_t nb;
		if (w16) {
			for (size_t i = 0; i < got; i++) {
				out[2 * i] = (uint8_t)buf[i];
				out[2 * i + 1] = (uint8_t)(buf[i] >> 8);
			}
			nb = got * 2;
		} else {
			for (size_t i = 0; i < got; i++)
				dsv_put32(out + 4 * i, buf[i]);
			nb = got * 4;
		}
		if ((rc = write_all(fd, out, nb)))
			goto cleanup;
		written += got;
	}
	if (rc == 0 && written != total)
		rc = dsv_error_set(DSV_EIO, "the version changed while it "
				   "was exported");
	if (rc == 0) {
		if (ntokens)
			*ntokens = total;
		if (bytes)
			*bytes = sizeof hdr + total * (w16 ? 2 : 4);
	}
cleanup:
	free(buf);
	free(out);
	dsv_tokens_loader_free(l);
	return rc;
}

/* ---- tokenizer ids ------------------------------------------------------ */

int dsv_tokenizer_id(const void *text, size_t len, dsv_oid *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, text, len) == 1 &&
		 EVP_DigestFinal_ex(md, out->b, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : dsv_error_set(DSV_ENOMEM, "cannot hash the tokenizer");
}
