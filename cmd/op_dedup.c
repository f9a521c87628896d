/* op_dedup.c: `dsv derive dedup REV --exact [--against REV2]` and
 * `dsv derive dedup REV --fuzzy`: drops records whose text another record
 * holds (exact: the stored XXH3-128 hash columns, no text read) or nearly
 * holds (fuzzy: MinHash signatures and LSH bands, kernels/minhash.h, joined
 * by union-find). The first record in version order is kept. A view:
 * selections, a reason column and, for --fuzzy, a `cluster` column.
 */
#include "cmd/derive.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/minhash.h"

#define NOT_IN_VERSION UINT64_MAX

/* Per input entry and shard row: the record's position in version order
 * (fuzzy) or its verdict (exact), NOT_IN_VERSION for rows the version does
 * not hold. A row used twice (a mix's repeats) takes its first position. */
struct rowmap {
	size_t n;
	uint64_t **v;
};

static int rowmap_new(struct rowmap *rm, const dsv_manifest *m)
{
	rm->n = m->n;
	if (!(rm->v = calloc(m->n ? m->n : 1, sizeof *rm->v)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		if (!(rm->v[i] = malloc((m->e[i].rows ? m->e[i].rows : 1) * 8)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		memset(rm->v[i], 0xFF, m->e[i].rows * 8);
	}
	return 0;
}

static void rowmap_free(struct rowmap *rm)
{
	for (size_t i = 0; rm->v && i < rm->n; i++)
		free(rm->v[i]);
	free(rm->v);
}

struct dedup {
	int exact, fuzzy;
	const char *against;
	long ngram, bands, rows, seed;
	const char *threshold_s;
	double threshold;
	struct rowmap map;
	/* exact: the verdict per row, as a reason code (0 keep) */
	int code_dup, code_against, code_fuzzy;
	/* fuzzy: cluster[g] = version position of the kept record of g's
	 * cluster */
	uint64_t *cluster;
	uint64_t ndocs, npairs, nclusters;
	uint64_t sig_bytes;
};

/* ---- exact: a set of 16-byte record hashes -------------------------------- */

struct hset {
	size_t cap, n; /* cap a power of two */
	dsv_rhash *keys;
	uint8_t *used; /* 0 empty, 1 from the input version, 2 from --against */
};

static int hset_init(struct hset *h, uint64_t expect)
{
	h->cap = 1024;
	while (h->cap < 2 * expect + 16)
		h->cap *= 2;
	h->n = 0;
	h->keys = malloc(h->cap * sizeof *h->keys);
	h->used = calloc(h->cap, 1);
	if (!h->keys || !h->used)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}

static void hset_free(struct hset *h)
{
	free(h->keys);
	free(h->used);
}

static int hset_grow(struct hset *h);

/* Inserts `k` with tag `tag` unless present; returns the tag it already had
 * (0 if it was new) or a negative error. XXH3-128 bits are uniform, so the
 * first 8 bytes index the table directly. */
static int hset_put(struct hset *h, const dsv_rhash *k, uint8_t tag)
{
	if (2 * (h->n + 1) > h->cap) {
		int rc = hset_grow(h);
		if (rc)
			return rc;
	}
	uint64_t x;
	memcpy(&x, k->b + 8, 8);
	size_t mask = h->cap - 1, i = (size_t)x & mask;
	while (h->used[i]) {
		if (!memcmp(h->keys[i].b, k->b, 16))
			return h->used[i];
		i = (i + 1) & mask;
	}
	h->keys[i] = *k;
	h->used[i] = tag;
	h->n++;
	return 0;
}

static int hset_grow(struct hset *h)
{
	struct hset g;
	int rc = hset_init(&g, h->cap);
	if (rc)
		return rc;
	for (size_t i = 0; i < h->cap; i++)
		if (h->used[i])
			hset_put(&g, &h->keys[i], h->used[i]);
	hset_free(h);
	*h = g;
	return 0;
}

/* Puts every record of version `m` into the set with `tag`; with `map`,
 * also records each row's verdict: 0 for a first occurrence, else the
 * reason code for a hash seen before (tagged 1: code_dup, 2: code_against). */
static int hash_version(struct dedup *x, dsv_store *s, const dsv_manifest *m,
			struct hset *h, uint8_t tag, struct rowmap *map)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	int rc = dsv_version_iter_new(&it, s, m, DSV_SHARD_HASH);
	while (!rc && (rc = dsv_version_iter_next(it, &r)) == 1) {
		rc = 0;
		if (map && map->v[r.entry][r.row] != NOT_IN_VERSION)
			continue; /* a repeat of a row already judged */
		int had = hset_put(h, r.hash, tag);
		if (had < 0) {
			rc = had;
			break;
		}
		if (map)
			map->v[r.entry][r.row] = had == 0   ? 0
						 : had == 2 ? (uint64_t)x->code_against
							    : (uint64_t)x->code_dup;
	}
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

static int exact_pass(struct dedup *x, struct derive *d)
{
	dsv_store *s = derive_store(d);
	const dsv_manifest *in = derive_input(d);
	dsv_manifest *am = NULL;
	struct hset h = {0};
	dsv_aid aid;
	int rc;
	uint64_t expect = dsv_manifest_records(in);
	if (x->against) {
		if ((rc = load_version(x->against, &aid, &am)))
			goto out;
		expect += dsv_manifest_records(am);
	}
	if ((rc = hset_init(&h, expect)))
		goto out;
	if (am && (rc = hash_version(x, s, am, &h, 2, NULL)))
		goto out;
	rc = hash_version(x, s, in, &h, 1, &x->map);
out:
	hset_free(&h);
	dsv_manifest_free(am);
	return rc;
}

/* ---- fuzzy: signatures in batches, then clustering ----------------------- */

#define BATCH_BYTES ((size_t)64 << 20)

struct batch {
	uint8_t *text;
	uint64_t *off;
	size_t len, cap, n, ncap;
};

static int batch_add(struct batch *b, const char *t, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2;
		uint8_t *p = realloc(b->text, cap);
		if (!p)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		b->text = p;
		b->cap = cap;
	}
	int rc = DSV_ARRAY_GROW(b->off, b->ncap, b->n + 2, 4096);
	if (rc)
		return rc;
	b->off[0] = 0;
	if (len) /* b->text is still NULL after empty texts alone */
		memcpy(b->text + b->len, t, len);
	b->len += len;
	b->off[++b->n] = b->len;
	return 0;
}

struct sigs {
	uint64_t *sig, *bands; /* nperm and nbands values a document */
	size_t n, sigcap, bandcap; /* in documents */
};

static int sign_batch(struct dedup *x, struct derive *d,
		      const struct dsv_minhash_params *p, struct batch *b,
		      struct sigs *g)
{
	size_t nperm = (size_t)p->nbands * p->rows;
	int rc;
	if ((rc = dsv_array_grow(&g->sig, &g->sigcap, g->n + b->n,
				 nperm * sizeof *g->sig, 4096)) ||
	    (rc = dsv_array_grow(&g->bands, &g->bandcap, g->n + b->n,
				 p->nbands * sizeof *g->bands, 4096)))
		return rc;
	rc = dsv_minhash(p, b->text, b->off, b->n, g->sig + g->n * nperm,
			     g->bands + g->n * p->nbands, derive_device(d),
			     derive_threads(d));
	if (rc)
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	g->n += b->n;
	x->sig_bytes += b->len;
	b->len = b->n = 0;
	return 0;
}

static int fuzzy_pass(struct dedup *x, struct derive *d)
{
	struct dsv_minhash_params p = {(uint32_t)x->ngram, (uint32_t)x->bands,
				       (uint32_t)x->rows, (uint64_t)x->seed};
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	struct batch b = {0};
	struct sigs g = {0};
	int rc = dsv_version_iter_new(&it, derive_store(d), derive_input(d),
				      DSV_SHARD_TEXT);
	while (!rc && (rc = dsv_version_iter_next(it, &r)) == 1) {
		rc = 0;
		if (x->map.v[r.entry][r.row] != NOT_IN_VERSION)
			continue; /* a repeat: same record, same signature */
		x->map.v[r.entry][r.row] = x->ndocs++;
		if ((rc = batch_add(&b, r.text, r.text_len)))
			break;
		if (b.len >= BATCH_BYTES)
			rc = sign_batch(x, d, &p, &b, &g);
	}
	if (rc < 0)
		goto out;
	if (b.n && (rc = sign_batch(x, d, &p, &b, &g)))
		goto out;
	if (!(x->cluster = malloc((g.n ? g.n : 1) * 8))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dsv_minhash_cluster(&p, g.bands, g.sig, g.n, x->threshold,
				      x->cluster, &x->npairs))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto out;
	}
	/* clusters with more than one member */
	uint8_t *seen = calloc(g.n ? g.n : 1, 1);
	if (!seen) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < g.n; i++)
		if (x->cluster[i] != i && !seen[x->cluster[i]]) {
			seen[x->cluster[i]] = 1;
			x->nclusters++;
		}
	free(seen);
	rc = 0;
out:
	dsv_version_iter_free(it);
	free(b.text);
	free(b.off);
	free(g.sig);
	free(g.bands);
	return rc;
}

/* ---- the per-shard verdicts ------------------------------------------------ */

static int dedup_shard(struct derive_shard *sh, void *ctx)
{
	struct dedup *x = ctx;
	const uint64_t *v = x->map.v[sh->entry];
	dsv_column *col = NULL;
	uint64_t *cl = NULL;
	int rc;
	/* a mix's repeated copies of a record duplicate its first copy */
	sh->repeat_reason = (uint8_t)(x->fuzzy ? x->code_fuzzy : x->code_dup);
	if (x->fuzzy) {
		if ((rc = derive_shard_column(sh, "cluster", DSV_COL_U64, &col)))
			return rc;
		cl = dsv_column_data(col);
	}
	for (uint64_t r = 0; r < sh->rows; r++) {
		if (!derive_row_live(sh, r) || v[r] == NOT_IN_VERSION) {
			if (cl)
				cl[r] = NOT_IN_VERSION;
			continue;
		}
		if (!x->fuzzy) {
			sh->reason[r] = (uint8_t)v[r];
			continue;
		}
		cl[r] = x->cluster[v[r]];
		if (cl[r] != v[r])
			sh->reason[r] = (uint8_t)x->code_fuzzy;
	}
	return 0;
}

static int parse_threshold(struct dedup *x)
{
	char *end;
	if (!x->threshold_s) {
		x->threshold = 0.5;
		return 0;
	}
	x->threshold = strtod(x->threshold_s, &end);
	/* written so that NaN fails too */
	return *end || end == x->threshold_s ||
	       !(x->threshold >= 0 && x->threshold <= 1);
}

static void params_json(struct dedup *x, struct derive *d)
{
	json_t *p = derive_params(d);
	json_object_set_new(p, "mode", json_string(x->exact ? "exact" : "fuzzy"));
	if (x->exact) {
		json_object_set_new(p, "against", x->against
						  ? json_string(x->against)
						  : json_null());
		return;
	}
	json_object_set_new(p, "ngram", json_integer(x->ngram));
	json_object_set_new(p, "bands", json_integer(x->bands));
	json_object_set_new(p, "rows", json_integer(x->rows));
	json_object_set_new(p, "seed", json_integer(x->seed));
	json_object_set_new(p, "threshold", json_real(x->threshold));
	json_object_set_new(p, "hash", json_sprintf("word %ld-gram shingles, "
		"a*h+b mod 2^64 (docs/kernels.md)", x->ngram));
}

int derive_dedup(int argc, char **argv)
{
	static const char usage[] = "dsv derive dedup REV -o NAME -m MSG "
				    "(--exact [--against REV] | --fuzzy) [options]";
	struct derive *d = NULL;
	/* LONG_MIN: not given, so --exact can refuse the --fuzzy options */
	struct dedup x = {.ngram = LONG_MIN, .bands = LONG_MIN,
			  .rows = LONG_MIN, .seed = LONG_MIN};
	dsv_aid aid;
	int rc = 1;

	if (derive_new(&d, "dedup"))
		return die_error();
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_BOOL(0, "exact", &x.exact, "drop records whose text occurs earlier (stored hashes)"),
		OPT_STRING(0, "against", &x.against, "rev", "with --exact: also drop records found in REV"),
		OPT_BOOL(0, "fuzzy", &x.fuzzy, "drop near-duplicates (MinHash + LSH)"),
		OPT_INT(0, "ngram", &x.ngram, "n", "words per shingle (default 5)"),
		OPT_INT(0, "bands", &x.bands, "n", "LSH bands (default 14)"),
		OPT_INT(0, "rows", &x.rows, "n", "hashes per band (default 8)"),
		OPT_INT(0, "seed", &x.seed, "n", "chooses the hash family (default 1)"),
		OPT_STRING(0, "threshold", &x.threshold_s, "j",
			   "join a candidate pair only if its estimated Jaccard "
			   "is >= j (default 0.5; 0: LSH alone)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	if (x.exact == x.fuzzy) {
		rc = usage_error(opts, usage, "give one of --exact or --fuzzy");
		goto out;
	}
	if (x.against && !x.exact) {
		rc = usage_error(opts, usage, "--against goes with --exact");
		goto out;
	}
	if (x.exact && (x.ngram != LONG_MIN || x.bands != LONG_MIN ||
			x.rows != LONG_MIN || x.seed != LONG_MIN || x.threshold_s)) {
		rc = usage_error(opts, usage, "--ngram, --bands, --rows, --seed "
				 "and --threshold go with --fuzzy");
		goto out;
	}
	x.ngram = x.ngram == LONG_MIN ? 5 : x.ngram;
	x.bands = x.bands == LONG_MIN ? 14 : x.bands;
	x.rows = x.rows == LONG_MIN ? 8 : x.rows;
	x.seed = x.seed == LONG_MIN ? 1 : x.seed;
	if (x.ngram < 1 || x.ngram > 1000 || x.bands < 1 || x.bands > 4096 ||
	    x.rows < 1 || x.rows > 64 || x.seed < 0) {
		rc = usage_error(opts, usage, "need 1 <= --ngram <= 1000, "
				 "1 <= --bands <= 4096, 1 <= --rows <= 64, "
				 "--seed >= 0");
		goto out;
	}
	if (parse_threshold(&x)) {
		rc = usage_error(opts, usage, "--threshold must be a number in "
				 "[0, 1]");
		goto out;
	}
	if ((rc = derive_start(d, n, argv, opts, usage)))
		goto out;
	rc = 1;
	if (x.against) {
		if (resolve_rev(x.against, &aid) ||
		    derive_add_input(d, "against", &aid))
			goto fail;
	}
	params_json(&x, d);
	if (x.exact) {
		if ((x.code_dup = derive_reason(d, "exact_duplicate")) < 0 ||
		    (x.code_against = derive_reason(d, "in_against")) < 0)
			goto fail;
	} else if ((x.code_fuzzy = derive_reason(d, "fuzzy_duplicate")) < 0) {
		goto fail;
	}
	/* The whole version is one problem: rank 0 does it (DERIVE_SERIAL). */
	if (derive_rank(d) == 0) {
		if (rowmap_new(&x.map, derive_input(d)))
			goto fail;
		if (x.exact ? exact_pass(&x, d) : fuzzy_pass(&x, d))
			goto fail;
	}
	if (derive_select(d, 0, DERIVE_SERIAL, dedup_shard, &x))
		goto fail;
	if (x.fuzzy) {
		dsv_artifact *a = derive_artifact(d);
		dsv_artifact_stat_int(a, "documents_signed", (int64_t)x.ndocs);
		dsv_artifact_stat_int(a, "bytes_signed", (int64_t)x.sig_bytes);
		dsv_artifact_stat_int(a, "pairs_joined", (int64_t)x.npairs);
		dsv_artifact_stat_int(a, "clusters", (int64_t)x.nclusters);
	}
	rc = derive_commit(d);
	goto out;
fail:
	rc = die_error();
out:
	rowmap_free(&x.map);
	free(x.cluster);
	derive_free(d);
	return rc;
}
