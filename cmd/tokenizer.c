/* tokenizer.c: `dsv tokenizer train REV --vocab N -o NAME [-m MSG]`: learns
 * a byte-level BPE tokenizer from a dataset version and records it as an
 * artifact (kind tokenizer, op tokenizer-train, mode training) whose tree is
 * dsv.json and TOKENIZER, on a new branch NAME whose parent is REV.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (64u << 20)

struct batch {
	uint8_t *text;
	uint64_t *off;
	size_t n, cap, bytes, bcap;
};

static int batch_add(struct batch *b, const char *t, size_t len)
{
	int rc;
	if ((rc = DSV_ARRAY_GROW(b->off, b->cap, b->n + 2, 4096)) ||
	    (rc = DSV_ARRAY_GROW(b->text, b->bcap, b->bytes + len,
				 BATCH_BYTES)))
		return rc;
	memcpy(b->text + b->bytes, t, len);
	b->off[b->n] = b->bytes;
	b->bytes += len;
	b->n++;
	b->off[b->n] = b->bytes;
	return 0;
}

static int batch_flush(struct batch *b, dsv_bpe_counts *c, int threads)
{
	int rc = 0;
	if (b->n && (rc = dsv_bpe_counts_add(c, b->text, b->off, b->n,
					     threads)))
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
	b->n = 0;
	b->bytes = 0;
	return rc;
}

/* Counts the version's pre-token chunks, reading it in batches. */
static int count_version(const dsv_manifest *m, dsv_bpe_counts *c,
			 int threads, uint64_t *records, uint64_t *bytes)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	struct batch b = {0};
	struct progress *bar = progress_start("reading", dsv_manifest_records(m));
	int rc;
	*records = *bytes = 0;
	if ((rc = dsv_version_iter_new(&it, the_repo->store, m,
				       DSV_SHARD_TEXT)))
		goto cleanup;
	while ((rc = dsv_version_iter_next(it, &rec)) == 1) {
		if ((rc = batch_add(&b, rec.text, rec.text_len)))
			goto cleanup;
		++*records;
		*bytes += rec.text_len;
		if (b.bytes >= BATCH_BYTES && (rc = batch_flush(&b, c, threads)))
			goto cleanup;
		if ((*records & 1023) == 0)
			progress_update(bar, *records);
	}
	if (rc == 0)
		rc = batch_flush(&b, c, threads);
cleanup:
	progress_done(bar);
	dsv_version_iter_free(it);
	free(b.text);
	free(b.off);
	return rc;
}

static int tokenizer_train(int argc, char **argv)
{
	static const char usage[] =
		"dsv tokenizer train REV --vocab N -o NAME [-m MSG] [options]";
	const char *name = NULL, *message = NULL;
	long vocab = 0, threads = 0;
	int json = 0, quiet = 0;
	const struct option opts[] = {
		OPT_INT(0, "vocab", &vocab, "n", "vocabulary size, <|endoftext|> included (257..16777216)"),
		OPT_STRING('o', "output", &name, "name", "the new branch that names the tokenizer"),
		OPT_STRING('m', "message", &message, "msg", "the artifact's message"),
		OPT_INT('j', "threads", &threads, "n", "pre-tokenization threads (default: all cores)"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_END(),
	};
	dsv_lineage *l = the_repo->lineage;
	dsv_manifest *m = NULL;
	dsv_meter *meter = NULL;
	dsv_artifact *art = NULL;
	dsv_bpe_counts *counts = NULL;
	dsv_bpe *b = NULL;
	dsv_compute c;
	dsv_aid vid, id;
	dsv_oid tok;
	char *tokfile = NULL, *djson = NULL, *msg = NULL, ref[300];
	char hex[DSV_OID_HEXLEN + 1], ahex[DSV_AID_HEXLEN + 1], b1[32];
	size_t tlen, jlen;
	uint64_t records, bytes;
	int rc = 1, locked = 0;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "one version is needed");
	if (vocab < 257 || vocab > (long)DSV_BPE_MAX_VOCAB)
		return usage_error(opts, usage, "--vocab must be 257..%u",
				   DSV_BPE_MAX_VOCAB);
	if (!name)
		return usage_error(opts, usage, "a name is required (-o NAME)");
	if (threads < 0 || threads > 4096)
		return usage_error(opts, usage, "--threads must be 0..4096");
	if (dsv_lineage_name_validate(name))
		goto fail;
	if (dsv_store_lock_branch(the_repo->store, name))
		goto fail;
	locked = 1;
	if ((rc = dsv_lineage_branch_exists(l, name)) != 0) {
		if (rc > 0)
			rc = error_msg("a branch named '%s' already exists", name);
		else
			rc = die_error();
		goto cleanup;
	}
	rc = 1;
	if (load_version(argv[0], &vid, &m) ||
	    dsv_meter_new(&meter, DSV_MODE_TRAINING))
		goto fail;
	dsv_meter_start(meter);
	if (dsv_bpe_counts_new(&counts))
		goto kfail;
	if (count_version(m, counts, (int)threads, &records, &bytes))
		goto fail;
	if (dsv_bpe_train(&b, counts, (uint32_t)vocab) ||
	    dsv_bpe_format(b, &tokfile, &tlen))
		goto kfail;
	if (dsv_tokenizer_id(tokfile, tlen, &tok))
		goto fail;
	dsv_meter_add(meter, DSV_METER_BYTES_READ, bytes);
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, records);
	dsv_meter_stop(meter);
	dsv_meter_read(meter, &c);

	dsv_oid_fmt(hex, &tok);
	if (dsv_artifact_new(&art, DSV_KIND_TOKENIZER, "tokenizer-train") ||
	    dsv_artifact_add_input(art, "input", &vid))
		goto fail;
	json_object_set_new(art->params, "vocab", json_integer(vocab));
	json_object_set_new(art->params, "algorithm", json_string("byte-level-bpe"));
	json_object_set_new(art->params, "pattern", json_string("gpt2"));
	json_object_set_new(art->params, "special", json_string(DSV_BPE_EOT_TEXT));
	dsv_artifact_stat_int(art, "vocab_size", dsv_bpe_vocab_size(b));
	dsv_artifact_stat_int(art, "merges", dsv_bpe_ntokens(b) - 256);
	dsv_artifact_stat_int(art, "eot", dsv_bpe_eot(b));
	dsv_artifact_stat_int(art, "records", (int64_t)records);
	dsv_artifact_stat_int(art, "text_bytes", (int64_t)bytes);
	dsv_artifact_stat_int(art, "chunks", (int64_t)dsv_bpe_counts_total(counts));
	dsv_artifact_stat_int(art, "unique_chunks", (int64_t)dsv_bpe_counts_unique(counts));
	json_object_set_new(art->stats, "tokenizer_id", json_string(hex));
	dsv_artifact_set_compute(art, &c);
	if (dsv_artifact_format(art, &djson, &jlen))
		goto fail;
	/* The text can run out of pairs before --vocab: the message gives
	 * the size the tokenizer has, and says so. */
	uint32_t got = dsv_bpe_vocab_size(b);
	if (got < (uint32_t)vocab && !quiet)
		fprintf(stderr, "dsv: note: the text has no more pairs to "
			"merge: vocab %u, not the %ld asked for\n", got, vocab);
	if (!message) {
		char req[64] = "";
		if (got < (uint32_t)vocab)
			snprintf(req, sizeof req, " (%ld asked for)", vocab);
		if (asprintf(&msg, "tokenizer: byte-level BPE, vocab %u%s, on %s",
			     got, req, argv[0]) < 0) {
			rc = error_msg("out of memory");
			goto cleanup;
		}
		message = msg;
	}
	dsv_tree_file files[] = {{"dsv.json", djson, jlen},
				 {"TOKENIZER", tokfile, tlen}};
	snprintf(ref, sizeof ref, "refs/heads/%s", name);
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = &vid,
			      .nparents = 1, .message = message, .ref = ref,
			      .expected = NULL};
	if (dsv_lineage_commit(l, &co, &id))
		goto fail;
	if (json) {
		dsv_aid_fmt(ahex, &id);
		char *qn = json_quote(name);
		printf("{\"artifact\": \"%s\", \"branch\": %s, "
		       "\"tokenizer_id\": \"%s\", \"vocab_size\": %u, "
		       "\"merges\": %u, \"records\": %llu, \"text_bytes\": %llu, "
		       "\"unique_chunks\": %llu, \"wall_s\": %.3f}\n", ahex,
		       qn ? qn : "null",
		       hex, dsv_bpe_vocab_size(b), dsv_bpe_ntokens(b) - 256,
		       (unsigned long long)records, (unsigned long long)bytes,
		       (unsigned long long)dsv_bpe_counts_unique(counts),
		       c.wall_s);
		free(qn);
	} else if (!quiet) {
		dsv_aid_short(ahex, &id);
		printf("[%s %s] %s\n", name, ahex, message);
		unsigned merges = dsv_bpe_ntokens(b) - 256;
		uint64_t chunks = dsv_bpe_counts_unique(counts);
		printf(" vocab %u (%u %s, <|endoftext|> = %u), tokenizer "
		       "id %.12s\n", dsv_bpe_vocab_size(b), merges,
		       plural(merges, "merge", "merges"), dsv_bpe_eot(b), hex);
		printf(" %llu %s, %s of text, %llu distinct %s; %.2f s\n",
		       (unsigned long long)records,
		       plural(records, "record", "records"),
		       human_bytes(b1, (double)bytes),
		       (unsigned long long)chunks,
		       plural(chunks, "chunk", "chunks"), c.wall_s);
	}
	rc = 0;
	goto cleanup;
kfail:
	rc = error_msg("%s", dsv_kernel_error_last());
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	if (locked)
		dsv_store_unlock(the_repo->store);
	free(msg);
	free(tokfile);
	free(djson);
	dsv_artifact_free(art);
	dsv_bpe_free(b);
	dsv_bpe_counts_free(counts);
	dsv_meter_free(meter);
	dsv_manifest_free(m);
	return rc;
}

int cmd_tokenizer(int argc, char **argv)
{
	static const char usage[] = "dsv tokenizer train REV --vocab N -o NAME [-m MSG]";
	static const struct option opts[] = {OPT_END()};
	if (argc >= 2 && strcmp(argv[1], "train") == 0)
		return tokenizer_train(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--help") == 0)) {
		printf("usage: %s\n\n'dsv tokenizer train -h' for the "
		       "options\n", usage);
		return 0;
	}
	if (argc < 2)
		return usage_error(opts, usage, "a subcommand is needed (train)");
	return usage_error(opts, usage, "unknown subcommand '%s'", argv[1]);
}
