/* blame.c: `dsv blame RECORD-HASH [REV]`: which version first stored a record
 * (the records index) and what every dataset version REV reaches (no REV:
 * every ref) did with it: brought it in, kept it, dropped it (a derivation's
 * `reason` column and its dsv.json code table say why), or did not keep what
 * an input held. A copy counts wherever it lies: the same text stored again
 * in another shard (committed again under other meta, rephrased back) is
 * the same record.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one version did with the record. */
enum { NONE, HOLDS, DROPPED, ADDED, NOT_KEPT };
static const struct {
	const char *text, *json;
} verdict_name[] = {
	[NONE] = {"-", "none"},
	[HOLDS] = {"holds it", "holds"},
	[DROPPED] = {"dropped", "dropped"},
	[ADDED] = {"added", "added"},
	[NOT_KEPT] = {"not kept", "not_kept"},
};

struct verdict {
	int v;
	unsigned code;        /* DROPPED: the reason code of its first copy */
	dsv_oid shard;        /* HOLDS, ADDED: the first copy it keeps */
	uint64_t row, copies; /* and how many it keeps, repeats counted */
};

/* A set of ids (shards: with the rows holding the record; versions: those
 * holding it), open addressing on the first 8 bytes of the id, a uniform
 * hash; doubled at half full. */
struct known {
	uint8_t id[32];
	size_t len; /* of id; 0: a free slot */
	uint64_t *rows;
	size_t nrows;
};

struct table {
	struct known *slot;
	size_t used, mask;
};

/* A dataset version to judge, with its dsv.json and manifest when they
 * were kept from the walk that listed the shards to read. */
struct version {
	dsv_aid id;
	dsv_artifact *a; /* both NULL: read again when judged */
	dsv_manifest *m;
};

/* Manifests (and dsv.json) kept between the walk and the judging, in
 * manifest entries (about 200 bytes each with a column or two): a long
 * history of many shards reads the rest twice rather than hold them all. */
#define KEEP_ENTRIES ((size_t)1 << 18)

struct blame {
	dsv_rhash hash;
	int json, all;
	struct table shards, versions;
	struct version *v; /* the dataset versions, oldest first */
	size_t nv, vcap, kept;
	dsv_oid *ids;      /* the distinct shards they name, as first named */
	size_t nids, idcap;
	json_t *rows;
	size_t held, added, dropped, not_kept;
};

/* The slot holding `id`, or the free one where it would go. */
static struct known *probe(const struct table *t, const void *id, size_t len)
{
	uint64_t k;
	memcpy(&k, id, sizeof k);
	size_t j = k & t->mask;
	while (t->slot[j].len &&
	       (t->slot[j].len != len || memcmp(t->slot[j].id, id, len)))
		j = (j + 1) & t->mask;
	return &t->slot[j];
}

static struct known *table_get(const struct table *t, const void *id,
			       size_t len)
{
	struct known *k = t->slot ? probe(t, id, len) : NULL;
	return k && k->len ? k : NULL;
}

/* Adds `id` (not in t yet) and hands out its zeroed slot, valid until the
 * next table_add. */
static int table_add(struct table *t, const void *id, size_t len,
		     struct known **out)
{
	if (2 * (t->used + 1) > (t->slot ? t->mask + 1 : 0)) {
		size_t n = t->slot ? t->mask + 1 : 0, cap = n ? 2 * n : 64;
		struct known *old = t->slot;
		if (!(t->slot = dsv_malloc(cap * sizeof *t->slot))) {
			t->slot = old;
			return DSV_ENOMEM;
		}
		memset(t->slot, 0, cap * sizeof *t->slot);
		t->mask = cap - 1;
		for (size_t i = 0; i < n; i++)
			if (old[i].len)
				*probe(t, old[i].id, old[i].len) = old[i];
		free(old);
	}
	struct known *k = probe(t, id, len);
	memcpy(k->id, id, len);
	k->len = len;
	t->used++;
	*out = k;
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; t->slot && i <= t->mask; i++)
		free(t->slot[i].rows);
	free(t->slot);
}

/* The rows of shard `id` that hold the record, found by find_copies before
 * any version is judged; *out is valid until the table grows, which it no
 * longer does then. */
static int shard_rows(struct blame *b, const dsv_oid *id,
		      const struct known **out)
{
	char hex[DSV_OID_HEXLEN + 1];
	if ((*out = table_get(&b->shards, id->b, sizeof id->b)))
		return 0;
	/* find_copies saw every manifest this walk judges */
	dsv_oid_fmt(hex, id);
	return dsv_error_set(DSV_EINVAL, "shard %s was not read", hex);
}

/* What the version with manifest m did with the record: HOLDS when it keeps
 * a copy, DROPPED when its `reason` column gives one a code, else NONE. */
static int judge(struct blame *b, const dsv_manifest *m, struct verdict *vd)
{
	dsv_store *s = the_repo->store;
	int rc = 0;
	for (size_t i = 0; i < m->n && !rc; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		const struct known *k;
		dsv_selection *sel = NULL;
		dsv_column *c = NULL;
		if ((rc = shard_rows(b, &e->shard, &k)) || !k->nrows)
			continue;
		if (e->has_sel)
			rc = dsv_selection_open(&sel, s, &e->sel, NULL);
		for (size_t j = 0; j < e->ncols && !rc; j++)
			if (!strcmp(e->cols[j].name, "reason"))
				rc = dsv_column_open(&c, s, &e->cols[j].id, NULL);
		for (size_t j = 0; j < k->nrows && !rc; j++) {
			uint64_t r = k->rows[j];
			if (r >= e->rows)
				continue;
			if (!sel || dsv_selection_get(sel, r)) {
				if (vd->v != HOLDS)
					*vd = (struct verdict){
						HOLDS, 0, e->shard, r, 0};
				vd->copies += e->repeat;
			} else if (vd->v == NONE && c &&
				   (vd->code = (unsigned)dsv_column_get(c, r))) {
				vd->v = DROPPED;
			}
		}
		dsv_selection_free(sel);
		dsv_column_free(c);
	}
	return rc;
}

/* The reason string for `code` in an artifact's stats.reason_codes. */
static const char *reason_name(const dsv_artifact *a, unsigned code)
{
	char k[8];
	snprintf(k, sizeof k, "%u", code);
	const char *s = json_string_value(
		json_object_get(json_object_get(a->stats, "reason_codes"), k));
	return s ? s : "unknown reason";
}

static void print_verdict(struct blame *b, const dsv_aid *id,
			  const dsv_artifact *a, const dsv_commit_info *ci,
			  const struct verdict *vd)
{
	char hex[DSV_AID_HEXLEN + 1], shard[DSV_OID_HEXLEN + 1];
	char detail[96] = "";
	int holds = vd->v == HOLDS || vd->v == ADDED;
	if (holds) {
		dsv_oid_fmt(shard, &vd->shard);
		int len = snprintf(detail, sizeof detail, "%.12s:%llu", shard,
				   (unsigned long long)vd->row);
		if (vd->copies > 1)
			snprintf(detail + len, sizeof detail - (size_t)len,
				 " (%llu copies)", (unsigned long long)vd->copies);
	}
	const char *why = vd->v == DROPPED ? reason_name(a, vd->code) : NULL;
	if (b->json) {
		dsv_aid_fmt(hex, id);
		json_t *o = json_pack("{sssssssssb}", "artifact", hex, "op",
				      a->op, "message", ci->summary, "verdict",
				      verdict_name[vd->v].json, "holds", holds);
		if (holds)
			json_object_update_new(o, json_pack("{sssIsI}", "shard",
				shard, "row", (json_int_t)vd->row, "copies",
				(json_int_t)vd->copies));
		if (why)
			json_object_set_new(o, "dropped", json_string(why));
		json_array_append_new(b->rows, o);
		return;
	}
	dsv_aid_short(hex, id);
	if (why)
		snprintf(detail, sizeof detail, "%s", why);
	printf("%s %-8s %-10s %s%s%s\n", hex, a->op, verdict_name[vd->v].text,
	       detail, *detail ? "  " : "", ci->summary);
}

/* Lists a dataset version to judge (models, tokenizers: nothing to say)
 * and the shards its manifest names that no earlier one did. */
static int collect(const dsv_aid *id, void *ctx)
{
	struct blame *b = ctx;
	dsv_lineage *l = the_repo->lineage;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	struct known *k;
	int rc = 0;

	/* A commit without dsv.json or of another kind has nothing to say;
	 * a version that cannot be read (out of memory, a damaged object)
	 * must fail the command, not be passed over as if it said nothing. */
	rc = dsv_artifact_read(&a, l, id);
	if (rc == DSV_ENOTFOUND || (!rc && a->kind != DSV_KIND_DATASET)) {
		dsv_error_clear();
		rc = 0;
		goto out;
	}
	if (rc || (rc = dsv_dataset_manifest(&m, l, id)))
		goto out;
	for (size_t i = 0; i < m->n && !rc; i++) {
		const dsv_oid *sh = &m->e[i].shard;
		if (table_get(&b->shards, sh->b, sizeof sh->b))
			continue;
		if (!(rc = DSV_ARRAY_GROW(b->ids, b->idcap, b->nids + 1, 64)) &&
		    !(rc = table_add(&b->shards, sh->b, sizeof sh->b, &k)))
			b->ids[b->nids++] = *sh;
	}
	if (rc || (rc = DSV_ARRAY_GROW(b->v, b->vcap, b->nv + 1, 64)))
		goto out;
	b->v[b->nv] = (struct version){*id, NULL, NULL};
	if (b->kept + m->n <= KEEP_ENTRIES) {
		b->kept += m->n;
		b->v[b->nv].a = a;
		b->v[b->nv].m = m;
		a = NULL;
		m = NULL;
	}
	b->nv++;
out:
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc;
}

/* Reads the hash column of every shard collect listed, side by side, once
 * each however many versions name it, and notes the rows holding the
 * record: the records index knows only the first copy. */
static int find_copies(struct blame *b)
{
	dsv_shard_hits *hits = NULL;
	int rc = dsv_shards_find(the_repo->store, b->ids, b->nids, &b->hash,
				 &hits);
	for (size_t i = 0; !rc && i < b->nids; i++) {
		struct known *k = table_get(&b->shards, b->ids[i].b,
					    sizeof b->ids[i].b);
		k->rows = hits[i].rows;
		k->nrows = hits[i].n;
		hits[i].rows = NULL;
	}
	dsv_shard_hits_free(hits, b->nids);
	return rc;
}

/* Versions come oldest first, so a version's inputs were judged before it:
 * one that holds the record while none of its inputs did brought it in. */
static int blame_one(struct blame *b, struct version *ver)
{
	const dsv_aid *id = &ver->id;
	dsv_lineage *l = the_repo->lineage;
	dsv_commit_info *ci = NULL;
	struct verdict vd = {0};
	struct known *k;
	int rc = 0, in_input = 0;

	if ((!ver->a && (rc = dsv_artifact_read(&ver->a, l, id))) ||
	    (!ver->m && (rc = dsv_dataset_manifest(&ver->m, l, id))) ||
	    (rc = judge(b, ver->m, &vd)) ||
	    (rc = dsv_commit_info_open(&ci, l, id)))
		goto out;
	for (size_t i = 0; i < ci->nparents; i++)
		in_input |= !!table_get(&b->versions, ci->parents[i].b,
					sizeof ci->parents[i].b);
	if (vd.v == HOLDS &&
	    (rc = table_add(&b->versions, id->b, sizeof id->b, &k)))
		goto out;
	/* A version that drops nothing itself (a mix) carries its inputs'
	 * reason columns: what they dropped is not its doing. */
	if (vd.v == DROPPED &&
	    !json_is_object(json_object_get(ver->a->stats, "reason_codes")))
		vd.v = NONE;
	if (vd.v == HOLDS && !in_input)
		vd.v = ADDED;
	if (vd.v == NONE && in_input)
		vd.v = NOT_KEPT;
	b->held += vd.v == HOLDS || vd.v == ADDED;
	b->added += vd.v == ADDED;
	b->dropped += vd.v == DROPPED;
	b->not_kept += vd.v == NOT_KEPT;
	if (vd.v != NONE || b->all)
		print_verdict(b, id, ver->a, ci, &vd);
out:
	dsv_commit_info_free(ci);
	dsv_manifest_free(ver->m);
	dsv_artifact_free(ver->a);
	ver->m = NULL;
	ver->a = NULL;
	return rc;
}

/* Judges the listed versions in turn, printing as it goes. */
static int judge_all(struct blame *b)
{
	int rc = find_copies(b);
	for (size_t i = 0; !rc && i < b->nv; i++)
		rc = blame_one(b, &b->v[i]);
	return rc;
}

int cmd_blame(int argc, char **argv)
{
	static const char usage[] =
		"dsv blame [--all] [--json] RECORD-HASH [REV]";
	struct blame b = {0};
	const struct option opts[] = {
		OPT_BOOL(0, "all", &b.all, "also list versions without the record"),
		OPT_BOOL(0, "json", &b.json, "print the result as JSON"),
		OPT_END(),
	};
	char shard[DSV_OID_HEXLEN + 1], first[DSV_AID_HEXLEN + 1], record[33];
	dsv_record_loc loc;
	dsv_aid rev;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1 && n != 2)
		return usage_error(opts, usage, "give one record hash and at "
				   "most one revision");
	/* a prefix, as git takes a short id: the records index says whose */
	int rc = dsv_index_find_record(the_repo->store, argv[0],
				       strlen(argv[0]), &b.hash);
	if (!rc)
		rc = dsv_index_get_record(the_repo->store, &b.hash, &loc);
	if (rc == DSV_ENOTFOUND)
		return error_msg("record %s is in no version of this "
				 "repository", argv[0]);
	if (rc || (n == 2 && resolve_rev(argv[1], &rev)))
		return die_error();
	dsv_rhash_fmt(record, &b.hash);
	dsv_oid_fmt(shard, &loc.shard);
	dsv_aid first_id;
	memcpy(first_id.b, loc.commit, sizeof first_id.b);
	dsv_aid_fmt(first, &first_id);
	if (b.json)
		b.rows = json_array();
	else
		printf("record %s: first stored by %.7s (shard %.12s, row %llu)\n",
		       record, first, shard, (unsigned long long)loc.row);
	rc = n == 2 ? dsv_lineage_foreach_from(the_repo->lineage, &rev, 1,
					       collect, &b)
		    : dsv_lineage_foreach(the_repo->lineage, collect, &b);
	if (!rc)
		rc = judge_all(&b);
	for (size_t i = 0; i < b.nv; i++) {
		dsv_manifest_free(b.v[i].m);
		dsv_artifact_free(b.v[i].a);
	}
	free(b.v);
	free(b.ids);
	table_free(&b.shards);
	table_free(&b.versions);
	if (rc) {
		json_decref(b.rows);
		return die_error();
	}
	if (b.json) {
		json_t *o = json_pack("{sssssIso}", "record", record,
				      "first_artifact", first, "row",
				      (json_int_t)loc.row, "versions", b.rows);
		json_object_set_new(o, "shard", json_string(shard));
		print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
	} else {
		printf("%zu %s it (%zu added it), %zu dropped it, %zu did "
		       "not keep it\n", b.held,
		       plural(b.held, "version holds", "versions hold"),
		       b.added, b.dropped, b.not_kept);
	}
	return 0;
}
