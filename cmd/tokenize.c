/* tokenize.c: `dsv tokenize REV --tokenizer T`: fills the token cache for a
 * version: one token array object per (shard, tokenizer), covering every
 * row of the shard, indexed in LMDB. Shards already cached are skipped, so
 * tokenizing a version twice tokenizes once. Also the helpers that other
 * commands (export, train) use to load a tokenizer and fill the cache.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int load_tokenizer(const char *rev, dsv_aid *aid, dsv_oid *id, dsv_bpe **out)
{
	dsv_artifact *art = NULL;
	char *text = NULL, hex[DSV_AID_SHORTLEN + 1];
	size_t len;
	int rc;
	*out = NULL;
	if ((rc = resolve_rev(rev, aid)) ||
	    (rc = dsv_artifact_read(&art, the_repo->lineage, aid)))
		return rc;
	dsv_kind kind = art->kind;
	dsv_artifact_free(art);
	dsv_aid_short(hex, aid);
	if (kind != DSV_KIND_TOKENIZER)
		return dsv_error_set(DSV_EINVAL, "'%s' (%s) is a %s, not a "
				     "tokenizer", rev, hex, dsv_kind_name(kind));
	if ((rc = dsv_lineage_read_file(the_repo->lineage, aid, "TOKENIZER",
					&text, &len)))
		return dsv_error_wrap(rc, "tokenizer %s", hex);
	if ((rc = dsv_tokenizer_id(text, len, id)) == 0 &&
	    (rc = dsv_bpe_parse(out, text, len)))
		dsv_error_set(rc, "tokenizer %s: %s", hex,
			      dsv_kernel_error_last());
	free(text);
	return rc;
}

/* The rows' texts of a shard as one buffer and offsets: borrowed from the
 * shard when its text column is contiguous (it always is today), copied
 * otherwise. */
static int shard_texts(const dsv_shard *sh, const uint8_t **text,
		       uint64_t **off, uint8_t **copy)
{
	uint64_t rows = dsv_shard_rows(sh);
	const char *base = NULL, *t;
	size_t len;
	int contiguous = 1;
	*copy = NULL;
	if (!(*off = dsv_malloc((rows + 1) * sizeof **off)))
		return DSV_ENOMEM;
	(*off)[0] = 0;
	for (uint64_t r = 0; r < rows; r++) {
		t = dsv_shard_text(sh, r, &len);
		if (r == 0)
			base = t;
		if (t != base + (*off)[r])
			contiguous = 0;
		(*off)[r + 1] = (*off)[r] + len;
	}
	if (contiguous) {
		*text = (const uint8_t *)base;
		return 0;
	}
	if (!(*copy = dsv_malloc((*off)[rows] ? (*off)[rows] : 1)))
		return DSV_ENOMEM;
	for (uint64_t r = 0; r < rows; r++) {
		t = dsv_shard_text(sh, r, &len);
		memcpy(*copy + (*off)[r], t, len);
	}
	*text = *copy;
	return 0;
}

static int tokenize_shard(const dsv_oid *shard, const dsv_bpe *b,
			  const dsv_oid *tok, int nthreads,
			  struct tokenize_stats *st)
{
	dsv_store *s = the_repo->store;
	dsv_shard *sh = NULL;
	const uint8_t *text;
	uint64_t *off = NULL, *toff = NULL;
	uint8_t *copy = NULL;
	uint32_t *ids = NULL;
	dsv_oid id;
	int rc, is_new = 0;

	if ((rc = dsv_shard_open(&sh, s, shard, DSV_SHARD_TEXT)) ||
	    (rc = shard_texts(sh, &text, &off, &copy)))
		goto cleanup;
	uint64_t rows = dsv_shard_rows(sh);
	if (!(toff = dsv_malloc((rows + 1) * sizeof *toff))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	if ((rc = dsv_bpe_encode_batch(b, text, off, rows, &ids, toff,
				       nthreads))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto cleanup;
	}
	if ((rc = dsv_tokens_write(s, shard, tok, dsv_bpe_vocab_size(b), rows,
				   toff, ids, &id, &is_new)) ||
	    (rc = dsv_index_put_tokens(s, shard, tok, &id)))
		goto cleanup;
	st->rows += rows;
	st->tokens += toff[rows];
	st->text_bytes += off[rows];
	st->shards_new += (uint64_t)is_new;
	st->shards_encoded++;
cleanup:
	free(ids);
	free(toff);
	free(off);
	free(copy);
	dsv_shard_free(sh);
	return rc;
}

int tokenize_version(const dsv_manifest *m, const dsv_bpe *b,
		     const dsv_oid *tok, int nthreads,
		     struct tokenize_stats *st, struct progress *bar)
{
	dsv_store *s = the_repo->store;
	int rc = 0;
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < m->n; i++) {
		const dsv_oid *shard = &m->e[i].shard;
		dsv_oid id;
		size_t j;
		for (j = 0; j < i; j++) /* each shard once */
			if (dsv_oid_cmp(&m->e[j].shard, shard) == 0)
				break;
		if (j < i)
			continue;
		st->shards++;
		if (dsv_tokens_find(s, shard, tok, &id) == 0) {
			st->shards_cached++;
		} else if ((rc = tokenize_shard(shard, b, tok, nthreads, st))) {
			return rc;
		}
		progress_update(bar, i + 1);
	}
	dsv_error_clear();
	return 0;
}

int cmd_tokenize(int argc, char **argv)
{
	static const char usage[] = "dsv tokenize REV --tokenizer T [options]";
	const char *tokrev = NULL;
	long threads = 0;
	int json = 0, quiet = 0;
	const struct option opts[] = {
		OPT_STRING(0, "tokenizer", &tokrev, "rev", "the tokenizer artifact to encode with"),
		OPT_INT('j', "threads", &threads, "n", "encoding threads (default: all cores)"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_END(),
	};
	dsv_manifest *m = NULL;
	dsv_bpe *b = NULL;
	dsv_aid vid, tid;
	dsv_oid tok;
	struct tokenize_stats st;
	struct progress *bar = NULL;
	char hex[DSV_OID_HEXLEN + 1], b1[32];
	int rc = 1, locked = 0;
	double t0 = now_seconds();

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "one version is needed");
	if (!tokrev)
		return usage_error(opts, usage, "--tokenizer is required");
	if (threads < 0 || threads > 4096)
		return usage_error(opts, usage, "--threads must be 0..4096");
	if (load_tokenizer(tokrev, &tid, &tok, &b) ||
	    load_version(argv[0], &vid, &m) || dsv_store_lock(the_repo->store))
		goto fail;
	locked = 1;
	bar = quiet || json ? NULL : progress_start("tokenizing", m->n);
	if (tokenize_version(m, b, &tok, (int)threads, &st, bar))
		goto fail;
	progress_done(bar);
	bar = NULL;
	double secs = now_seconds() - t0;
	dsv_oid_fmt(hex, &tok);
	if (json) {
		printf("{\"tokenizer\": \"%s\", \"shards\": %llu, "
		       "\"shards_cached\": %llu, \"new_objects\": %llu, "
		       "\"rows\": %llu, \"tokens\": %llu, \"text_bytes\": %llu, "
		       "\"wall_s\": %.3f}\n", hex,
		       (unsigned long long)st.shards,
		       (unsigned long long)st.shards_cached,
		       (unsigned long long)st.shards_new,
		       (unsigned long long)st.rows,
		       (unsigned long long)st.tokens,
		       (unsigned long long)st.text_bytes, secs);
	} else if (!quiet) {
		printf("tokenizer %.12s: %llu %s, %llu from the cache, "
		       "%llu new %s\n", hex,
		       (unsigned long long)st.shards,
		       plural(st.shards, "shard", "shards"),
		       (unsigned long long)st.shards_cached,
		       (unsigned long long)st.shards_new,
		       plural(st.shards_new, "object", "objects"));
		if (st.shards_encoded)
			printf(" encoded %llu %s, %s of text, into %llu %s in "
			       "%.2f s (%.1f MB/s)\n",
			       (unsigned long long)st.rows,
			       plural(st.rows, "record", "records"),
			       human_bytes(b1, (double)st.text_bytes),
			       (unsigned long long)st.tokens,
			       plural(st.tokens, "token", "tokens"), secs,
			       secs > 0 ? st.text_bytes / 1e6 / secs : 0.0);
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	progress_done(bar);
	if (locked)
		dsv_store_unlock(the_repo->store);
	dsv_bpe_free(b);
	dsv_manifest_free(m);
	return rc;
}
