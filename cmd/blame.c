/* blame.c: `dsv blame RECORD-HASH`: which version first brought a record in
 * (the records index) and what every dataset version a ref reaches did with
 * it: holds it, dropped it (a derivation's `reason` column and its dsv.json
 * code table say why), or does not have it.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct blame {
	dsv_rhash hash;
	dsv_record_loc loc;
	/* the rows of loc.shard holding the record: one text can be stored
	 * again under other meta, and a version may keep any copy */
	uint64_t *copies;
	size_t ncopies;
	int json, all;
	json_t *rows;
	size_t held, dropped;
};

/* The reason string for `code` in an artifact's stats.reason_codes. */
static const char *reason_name(const dsv_artifact *a, unsigned code)
{
	char k[8];
	snprintf(k, sizeof k, "%u", code);
	const char *s = json_string_value(
		json_object_get(json_object_get(a->stats, "reason_codes"), k));
	return s ? s : "unknown reason";
}

/* What version `id` did with the record: 1 holds it (a row of b->copies),
 * 2 dropped it (*code set from the first dropped copy), 0 neither. Only
 * entries over the record's first shard can hold it: a commit that meets a
 * known record refers to it where it is stored. */
static int verdict(const dsv_manifest *m, dsv_store *s, const struct blame *b,
		   unsigned *code)
{
	int v = 0, rc = 0;
	for (size_t i = 0; i < m->n && v != 1 && !rc; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		dsv_selection *sel = NULL;
		dsv_column *c = NULL;
		if (dsv_oid_cmp(&e->shard, &b->loc.shard))
			continue;
		if (e->has_sel)
			rc = dsv_selection_open(&sel, s, &e->sel, NULL);
		for (size_t k = 0; k < e->ncols && !rc; k++)
			if (!strcmp(e->cols[k].name, "reason"))
				rc = dsv_column_open(&c, s, &e->cols[k].id, NULL);
		for (size_t j = 0; j < b->ncopies && v != 1 && !rc; j++) {
			uint64_t r = b->copies[j];
			if (r >= e->rows)
				continue;
			if (!sel || dsv_selection_get(sel, r))
				v = 1;
			else if (!v && c && (*code = (unsigned)dsv_column_get(c, r)))
				v = 2;
		}
		dsv_selection_free(sel);
		dsv_column_free(c);
	}
	return rc ? -1 : v;
}

/* Fills b->copies with the rows of the record's first shard that hold it. */
static int find_copies(struct blame *b, dsv_store *s)
{
	dsv_shard *sh = NULL;
	size_t cap = 0;
	int rc = dsv_shard_open(&sh, s, &b->loc.shard, DSV_SHARD_HASH);
	for (uint64_t r = 0; !rc && r < dsv_shard_rows(sh); r++)
		if (!memcmp(dsv_shard_hash(sh, r), &b->hash, sizeof b->hash) &&
		    !(rc = DSV_ARRAY_GROW(b->copies, cap, b->ncopies + 1, 4)))
			b->copies[b->ncopies++] = r;
	dsv_shard_free(sh);
	return rc;
}

static int blame_one(const dsv_aid *id, void *ctx)
{
	struct blame *b = ctx;
	dsv_lineage *l = the_repo->lineage;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	dsv_commit_info *ci = NULL;
	char hex[DSV_AID_HEXLEN + 1];
	unsigned code = 0;
	int rc = 0, v;

	if (dsv_artifact_read(&a, l, id) || a->kind != DSV_KIND_DATASET ||
	    dsv_dataset_manifest(&m, l, id)) {
		dsv_error_clear(); /* models, tokenizers: nothing to say */
		goto out;
	}
	if ((v = verdict(m, the_repo->store, b, &code)) < 0) {
		rc = dsv_error_code();
		goto out;
	}
	/* A version that drops nothing itself (a mix) carries its inputs'
	 * reason columns: what they dropped is not its doing. */
	if (v == 2 && !json_is_object(json_object_get(a->stats, "reason_codes")))
		v = 0;
	if (v == 0 && !b->all)
		goto out;
	if ((rc = dsv_commit_info_open(&ci, l, id)))
		goto out;
	const char *what = v == 1 ? "holds it" : v == 2 ? "dropped" : "-";
	const char *why = v == 2 ? reason_name(a, code) : NULL;
	b->held += v == 1;
	b->dropped += v == 2;
	if (b->json) {
		dsv_aid_fmt(hex, id);
		json_t *o = json_pack("{sssssssb}", "artifact", hex, "op", a->op,
				      "message", ci->summary, "holds", v == 1);
		if (why)
			json_object_set_new(o, "dropped", json_string(why));
		json_array_append_new(b->rows, o);
	} else {
		dsv_aid_short(hex, id);
		printf("%s %-8s %-10s %s%s%s\n", hex, a->op, what,
		       why ? why : "", why ? "  " : "", ci->summary);
	}
out:
	dsv_commit_info_free(ci);
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc;
}

int cmd_blame(int argc, char **argv)
{
	static const char usage[] = "dsv blame [--all] [--json] RECORD-HASH";
	struct blame b = {0};
	const struct option opts[] = {
		OPT_BOOL(0, "all", &b.all, "also list versions without the record"),
		OPT_BOOL(0, "json", &b.json, "print the result as JSON"),
		OPT_END(),
	};
	char shard[DSV_OID_HEXLEN + 1], first[DSV_AID_HEXLEN + 1];
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "give one record hash");
	if (dsv_rhash_parse(&b.hash, argv[0], strlen(argv[0])))
		return error_msg("'%s' is not a record hash (32 hex digits)",
				 argv[0]);
	int rc = dsv_index_get_record(the_repo->store, &b.hash, &b.loc);
	if (rc == DSV_ENOTFOUND)
		return error_msg("record %s is in no version of this "
				 "repository", argv[0]);
	if (rc || (rc = find_copies(&b, the_repo->store))) {
		free(b.copies);
		return die_error();
	}
	dsv_oid_fmt(shard, &b.loc.shard);
	dsv_aid first_id;
	memcpy(first_id.b, b.loc.commit, sizeof first_id.b);
	dsv_aid_fmt(first, &first_id);
	if (b.json)
		b.rows = json_array();
	else
		printf("record %s: first stored by %.7s (shard %.12s, row %llu)\n",
		       argv[0], first, shard, (unsigned long long)b.loc.row);
	rc = dsv_lineage_foreach(the_repo->lineage, blame_one, &b);
	free(b.copies);
	if (rc) {
		json_decref(b.rows);
		return die_error();
	}
	if (b.json) {
		json_t *o = json_pack("{sssssIso}", "record", argv[0],
				      "first_artifact", first, "row",
				      (json_int_t)b.loc.row, "versions", b.rows);
		json_object_set_new(o, "shard", json_string(shard));
		print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
	} else {
		printf("%zu versions hold it, %zu derivations dropped it\n",
		       b.held, b.dropped);
	}
	return 0;
}
