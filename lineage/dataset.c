/* dataset.c: where the lineage meets the store. A dataset artifact's MANIFEST
 * names store objects; this file reads it, checks that everything every ref
 * reaches is stored, and rebuilds the index (a cache) from the lineage.
 */
#include "lineage.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dsv_dataset_manifest(dsv_manifest **out, dsv_lineage *l,
			 const dsv_aid *id)
{
	char *text = NULL, hex[DSV_AID_SHORTLEN + 1];
	size_t len = 0;
	*out = NULL;
	int rc = dsv_lineage_read_file(l, id, "MANIFEST", &text, &len);
	if (rc == DSV_ENOTFOUND) {
		dsv_aid_short(hex, id);
		return dsv_error_set(DSV_EINVAL,
				     "artifact %s is not a dataset version "
				     "(it has no MANIFEST)", hex);
	}
	if (!rc)
		rc = dsv_manifest_parse(out, text, len);
	free(text);
	return rc;
}

/* All branch, tag and remote-tracking ref targets, as walk starting
 * points: what a fetch brought in is kept and checked like the rest. */
static int ref_targets(dsv_lineage *l, dsv_aid **out, size_t *n)
{
	dsv_refinfo *r[3] = {NULL, NULL, NULL};
	size_t nr[3] = {0, 0, 0}, total = 0;
	int rc = dsv_lineage_branch_list(l, &r[0], &nr[0]);
	if (!rc)
		rc = dsv_lineage_tag_list(l, &r[1], &nr[1]);
	if (!rc)
		rc = dsv_lineage_remote_ref_list(l, &r[2], &nr[2]);
	*out = NULL;
	*n = 0;
	for (int k = 0; k < 3; k++)
		total += nr[k];
	if (!rc && total) {
		*out = dsv_malloc(total * sizeof **out);
		if (!*out)
			rc = DSV_ENOMEM;
		for (int k = 0; !rc && k < 3; k++)
			for (size_t i = 0; i < nr[k]; i++)
				(*out)[(*n)++] = r[k][i].target;
	}
	for (int k = 0; k < 3; k++)
		dsv_refinfo_free(r[k], nr[k]);
	/* A detached HEAD keeps what it points at, as in git. */
	if (!rc) {
		dsv_aid head;
		if (dsv_lineage_head(l, &head) == 0) {
			dsv_aid *p = dsv_realloc(*out, (*n + 1) * sizeof *p);
			if (!p)
				return DSV_ENOMEM;
			*out = p;
			(*out)[(*n)++] = head;
		}
	}
	return rc;
}

int dsv_lineage_foreach_from(dsv_lineage *l, const dsv_aid *starts,
			     size_t nstarts,
			     int (*fn)(const dsv_aid *id, void *ctx), void *ctx)
{
	dsv_aid *all = NULL, id;
	size_t n = 0, cap = 0;
	dsv_walk *w = NULL;
	int rc = 0;
	if (!nstarts)
		return 0;
	if ((rc = dsv_walk_new(&w, l, starts, nstarts, DSV_WALK_TOPO)))
		goto cleanup;
	while ((rc = dsv_walk_next(w, &id)) == 1) {
		if ((rc = DSV_ARRAY_GROW(all, cap, n + 1, 256)))
			goto cleanup;
		all[n++] = id;
	}
	/* The walk gives children before parents; callers want oldest first. */
	for (size_t i = n; rc == 0 && i-- > 0;)
		rc = fn(&all[i], ctx);
cleanup:
	dsv_walk_free(w);
	free(all);
	return rc < 0 ? rc : 0;
}

int dsv_lineage_foreach(dsv_lineage *l,
			int (*fn)(const dsv_aid *id, void *ctx), void *ctx)
{
	dsv_aid *starts = NULL;
	size_t nstarts = 0;
	int rc = ref_targets(l, &starts, &nstarts);
	if (!rc)
		rc = dsv_lineage_foreach_from(l, starts, nstarts, fn, ctx);
	free(starts);
	return rc;
}

struct check_ctx {
	dsv_lineage *l;
	dsv_store *s;
	dsv_lineage_check *c;
	dsv_oid *stored; /* shards named without a selection: each version
			    that wrote a shard names it so, and indexed it */
	size_t nstored, cap;
};

static void problem(struct check_ctx *x, uint64_t *counter, const dsv_aid *id,
		    const char *what)
{
	char hex[DSV_AID_SHORTLEN + 1], msg[1400];
	dsv_aid_short(hex, id);
	snprintf(msg, sizeof msg, "artifact %s: %s", hex, what);
	(*counter)++;
	if (x->c->report)
		x->c->report(x->c->ctx, msg);
}

/* Checks that `id` is stored, of type `type`, with `rows` rows. */
static void check_object(struct check_ctx *x, const dsv_aid *aid, size_t line,
			 const char *what, const dsv_oid *id,
			 dsv_obj_type type, uint64_t rows)
{
	char hex[DSV_OID_HEXLEN + 1], msg[512];
	dsv_obj_info info;
	dsv_oid_fmt(hex, id);
	if (!dsv_obj_exists(x->s, id)) {
		snprintf(msg, sizeof msg, "MANIFEST entry %zu: %s %s is missing",
			 line, what, hex);
		problem(x, &x->c->missing, aid, msg);
		return;
	}
	/* The index is a cache: where it lacks the object, the file is the
	 * truth and fsck's object pass has checked it. */
	if (dsv_index_get_object(x->s, id, &info))
		return;
	if (info.type != type || (rows != UINT64_MAX && info.rows != rows)) {
		snprintf(msg, sizeof msg,
			 "MANIFEST entry %zu: %s %s is a %s of %llu rows, "
			 "expected a %s of %llu rows", line, what, hex,
			 dsv_obj_type_name(info.type),
			 (unsigned long long)info.rows,
			 dsv_obj_type_name(type), (unsigned long long)rows);
		problem(x, &x->c->bad, aid, msg);
	}
}

/* A selection must exist, select from the entry's shard, cover its rows and
 * keep as many as the entry says. */
static void check_selection(struct check_ctx *x, const dsv_aid *aid,
			    size_t line, const dsv_manifest_entry *e)
{
	char hex[DSV_OID_HEXLEN + 1], msg[1200];
	dsv_selection *sel = NULL;
	dsv_oid shard;
	check_object(x, aid, line, "selection", &e->sel, DSV_OBJ_SELECTION,
		     e->rows);
	if (!dsv_obj_exists(x->s, &e->sel))
		return;
	dsv_oid_fmt(hex, &e->sel);
	if (dsv_selection_open(&sel, x->s, &e->sel, &shard)) {
		snprintf(msg, sizeof msg, "MANIFEST entry %zu: selection %s: "
			 "%s", line, hex, dsv_error_last());
		problem(x, &x->c->bad, aid, msg);
		return;
	}
	if (dsv_oid_cmp(&shard, &e->shard) ||
	    dsv_selection_rows(sel) != e->rows ||
	    dsv_selection_count(sel) != e->kept) {
		snprintf(msg, sizeof msg, "MANIFEST entry %zu: selection %s "
			 "does not select %llu of the %llu rows of its shard",
			 line, hex, (unsigned long long)e->kept,
			 (unsigned long long)e->rows);
		problem(x, &x->c->bad, aid, msg);
	}
	dsv_selection_free(sel);
}

/* An order must exist and map the version's positions onto rows its
 * entries keep, each exactly `repeat` times (dsv_order_check). */
static void check_order(struct check_ctx *x, const dsv_aid *aid,
			const dsv_manifest *m)
{
	char hex[DSV_OID_HEXLEN + 1], msg[1200];
	dsv_order *o = NULL;
	dsv_oid_fmt(hex, &m->order);
	if (!dsv_obj_exists(x->s, &m->order)) {
		snprintf(msg, sizeof msg, "MANIFEST: order %s is missing", hex);
		problem(x, &x->c->missing, aid, msg);
		return;
	}
	int rc = dsv_order_open(&o, x->s, &m->order);
	if (!rc)
		rc = dsv_order_check(o, x->s, m);
	if (rc) {
		snprintf(msg, sizeof msg, "MANIFEST: order %s: %s", hex,
			 dsv_error_last());
		problem(x, rc == DSV_ENOTFOUND ? &x->c->missing : &x->c->bad,
			aid, msg);
	}
	dsv_order_free(o);
}

static void check_named(struct check_ctx *x, const dsv_aid *id);

static int check_one(const dsv_aid *id, void *ctx)
{
	struct check_ctx *x = ctx;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	int rc = 0;
	x->c->artifacts++;
	if (dsv_artifact_read(&a, x->l, id)) {
		problem(x, &x->c->bad, id, dsv_error_last());
		return 0;
	}
	if (a->kind == DSV_KIND_DATASET) {
		x->c->versions++;
		if (dsv_dataset_manifest(&m, x->l, id)) {
			problem(x, &x->c->bad, id, dsv_error_last());
		} else {
			for (size_t i = 0; i < m->n && !rc; i++) {
				const dsv_manifest_entry *e = &m->e[i];
				check_object(x, id, i + 1, "shard", &e->shard,
					     DSV_OBJ_SHARD, e->rows);
				if (e->has_sel)
					check_selection(x, id, i + 1, e);
				else if (!(rc = DSV_ARRAY_GROW(x->stored, x->cap,
							       x->nstored + 1, 256)))
					x->stored[x->nstored++] = e->shard;
				for (size_t k = 0; k < e->ncols; k++)
					check_object(x, id, i + 1, "column",
						     &e->cols[k].id,
						     DSV_OBJ_COLUMN, e->rows);
			}
			if (m->has_order)
				check_order(x, id, m);
		}
	} else {
		check_named(x, id);
	}
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc; /* out of memory: the count would be short */
}

static size_t sort_unique(dsv_oid *ids, size_t n);

/* The rows of the shards versions stored whose record the records index
 * lacks: a command killed or failed between its lineage commit and its
 * index update leaves them (a cache entry short, said, not damage). A
 * shard that does not open was reported missing or corrupt already. */
static int count_unindexed(struct check_ctx *x)
{
	size_t n = sort_unique(x->stored, x->nstored);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		dsv_shard *sh = NULL;
		if (dsv_shard_open(&sh, x->s, &x->stored[i], DSV_SHARD_HASH)) {
			dsv_error_clear();
			continue;
		}
		rc = dsv_index_records_missing(x->s, dsv_shard_hash(sh, 0),
					       dsv_shard_rows(sh),
					       &x->c->unindexed);
		dsv_shard_free(sh);
	}
	return rc;
}

int dsv_lineage_fsck(dsv_lineage *l, dsv_store *s, dsv_lineage_check *c)
{
	struct check_ctx x = {.l = l, .s = s, .c = c};
	int rc = dsv_lineage_foreach(l, check_one, &x);
	if (!rc)
		rc = count_unindexed(&x);
	free(x.stored);
	return rc;
}

static int index_object(const dsv_oid *id, void *ctx)
{
	dsv_obj_info info;
	int rc = dsv_obj_verify(ctx, id, &info);
	/* A damaged object is fsck's to report; the index just leaves it out. */
	return rc == DSV_ECORRUPT ? 0 : rc ? rc : dsv_index_put_object(ctx, id,
								       &info);
}

static int index_version(const dsv_aid *id, void *ctx)
{
	struct check_ctx *x = ctx;
	dsv_artifact *a = NULL;
	dsv_manifest *m = NULL;
	int rc = dsv_artifact_read(&a, x->l, id);
	if (!rc && a->kind == DSV_KIND_DATASET &&
	    !(rc = dsv_dataset_manifest(&m, x->l, id)))
		rc = dsv_version_index(x->s, m, id->b);
	dsv_manifest_free(m);
	dsv_artifact_free(a);
	return rc;
}

int dsv_lineage_rebuild_index(dsv_lineage *l, dsv_store *s)
{
	struct check_ctx x = {.l = l, .s = s};
	int rc = dsv_index_clear(s, 0);
	if (!rc)
		rc = dsv_obj_foreach(s, index_object, s);
	if (!rc)
		rc = dsv_lineage_foreach(l, index_version, &x);
	return rc;
}

/* ---- reachability and gc ------------------------------------------------ */

struct reach {
	dsv_lineage *l;
	dsv_oid *ids, *toks; /* objects; tokenizer ids */
	size_t n, cap, ntoks, tcap;
	dsv_aid *runs;       /* the artifacts unfinished runs read */
	size_t nruns, rcap;
};

static int reach_add(struct reach *r, const dsv_oid *id)
{
	int rc = DSV_ARRAY_GROW(r->ids, r->cap, r->n + 1, 1024);
	if (rc)
		return rc;
	r->ids[r->n++] = *id;
	return 0;
}

/* OBJECTS: one object id at the start of each line; the rest of a line
 * (a type, a name) is for people. */
static int reach_objects_file(struct reach *r, const char *text, size_t len)
{
	dsv_oid id;
	int rc = 0;
	for (size_t i = 0; i < len && !rc;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		if (end - i >= DSV_OID_HEXLEN &&
		    dsv_oid_parse(&id, text + i, DSV_OID_HEXLEN) == 0)
			rc = reach_add(r, &id);
		else if (end > i)
			rc = dsv_error_set(DSV_ECORRUPT, "OBJECTS: a line does "
					   "not start with an object id");
		i = end + 1;
	}
	return rc;
}

/* The unfinished-run files under .dsv/runs: every word of exactly 64 hex
 * digits is taken as an object to keep. Keeping a word that only looks like
 * an id costs nothing; missing one would delete a model. Every word of 40
 * hex digits is an artifact the run reads (its version, tokenizer,
 * validation version), walked as a branch would be: the run needs them
 * whether or not a branch still names them. */
static int reach_words(struct reach *r, const char *text, size_t len)
{
	dsv_oid id;
	dsv_aid aid;
	int rc = 0;
	for (size_t i = 0; i < len && !rc;) {
		size_t j = i;
		while (j < len && text[j] != ' ' && text[j] != '\n' &&
		       text[j] != '\t')
			j++;
		if (j - i == DSV_OID_HEXLEN &&
		    dsv_oid_parse(&id, text + i, DSV_OID_HEXLEN) == 0)
			rc = reach_add(r, &id);
		else if (j - i == DSV_AID_HEXLEN &&
			 dsv_aid_parse(&aid, text + i, DSV_AID_HEXLEN) == 0 &&
			 !(rc = DSV_ARRAY_GROW(r->runs, r->rcap, r->nruns + 1,
					       16)))
			r->runs[r->nruns++] = aid;
		i = j + 1;
	}
	dsv_error_clear();
	return rc;
}

/* A tokenizer's id (the SHA-256 of its TOKENIZER file) keeps the token
 * arrays of kept shards under it (store/gc.c). */
static int reach_tokenizer(struct reach *r, const char *text, size_t len)
{
	dsv_oid id;
	int rc = dsv_tokenizer_id(text, len, &id);
	if (!rc && !(rc = DSV_ARRAY_GROW(r->toks, r->tcap, r->ntoks + 1, 16)))
		r->toks[r->ntoks++] = id;
	return rc;
}

/* MODEL and CLASSIFIER are read with the parsers the commands use: a file
 * they refuse stops gc and is a bad artifact to fsck (each word of 64 hex
 * digits was kept, and a MODEL that train and compare refuse passed). */
static int reach_model(struct reach *r, const char *text, size_t len)
{
	dsv_model *m = NULL;
	int rc = dsv_model_parse(&m, text, len);
	if (!rc)
		rc = reach_add(r, &m->weights);
	for (size_t i = 0; !rc && i < m->ncheckpoints; i++)
		rc = reach_add(r, &m->checkpoints[i]);
	dsv_model_free(m);
	return rc;
}

static int reach_classifier(struct reach *r, const char *text, size_t len)
{
	dsv_oid w;
	char label[DSV_CLASSIFIER_LABEL_MAX + 1];
	int rc = dsv_classifier_parse(text, len, &w, label);
	return rc ? rc : reach_add(r, &w);
}

static int reach_one(const dsv_aid *id, void *ctx)
{
	static const struct {
		const char *file;
		int (*reach)(struct reach *, const char *, size_t);
	} named[] = {{"MODEL", reach_model}, {"CLASSIFIER", reach_classifier}};
	struct reach *r = ctx;
	dsv_manifest *m = NULL;
	char *text = NULL;
	size_t len;
	int rc = dsv_lineage_read_file(r->l, id, "MANIFEST", &text, &len);
	if (rc == 0) {
		if (!(rc = dsv_manifest_parse(&m, text, len))) {
			for (size_t i = 0; i < m->n && !rc; i++) {
				const dsv_manifest_entry *e = &m->e[i];
				rc = reach_add(r, &e->shard);
				if (!rc && e->has_sel)
					rc = reach_add(r, &e->sel);
				for (size_t k = 0; !rc && k < e->ncols; k++)
					rc = reach_add(r, &e->cols[k].id);
			}
			if (!rc && m->has_order)
				rc = reach_add(r, &m->order);
		}
	}
	free(text);
	text = NULL;
	if (rc == DSV_ENOTFOUND)
		rc = 0;
	if (!rc && (rc = dsv_lineage_read_file(r->l, id, "OBJECTS", &text,
					       &len)) == 0)
		rc = reach_objects_file(r, text, len);
	if (rc == DSV_ENOTFOUND)
		rc = 0;
	for (size_t k = 0; !rc && k < sizeof named / sizeof *named; k++) {
		free(text);
		text = NULL;
		if ((rc = dsv_lineage_read_file(r->l, id, named[k].file, &text,
						&len)) == 0)
			rc = named[k].reach(r, text, len);
		if (rc == DSV_ENOTFOUND)
			rc = 0;
	}
	free(text);
	text = NULL;
	if (!rc && (rc = dsv_lineage_read_file(r->l, id, "TOKENIZER", &text,
					       &len)) == 0)
		rc = reach_tokenizer(r, text, len);
	if (rc == DSV_ENOTFOUND)
		rc = 0;
	free(text);
	dsv_manifest_free(m);
	if (rc) {
		char hex[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(hex, id);
		/* An artifact gc cannot read stops it: better keep too much. */
		return dsv_error_wrap(rc, "artifact %s", hex);
	}
	return 0;
}

static int cmp_oid(const void *a, const void *b)
{
	return dsv_oid_cmp(a, b);
}

/* Unfinished training runs (.dsv/runs/NAME) keep their checkpoints and
 * their inputs. */
static int reach_runs(struct reach *r, const char *dsv_dir)
{
	char path[4096];
	struct dirent *e;
	int rc = 0;
	snprintf(path, sizeof path, "%s/runs", dsv_dir);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	while (!rc && (e = readdir(d))) {
		char file[4400], *text = NULL;
		size_t len = 0;
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		FILE *f = fopen(file, "r");
		if (!f)
			continue;
		/* A run file is small: a few ids and a config. */
		if (!(text = dsv_malloc(1 << 20))) {
			fclose(f);
			rc = DSV_ENOMEM;
			break;
		}
		len = fread(text, 1, 1 << 20, f);
		fclose(f);
		rc = reach_words(r, text, len);
		free(text);
	}
	closedir(d);
	return rc;
}

/* Sorts ids and drops repeats; the count left. */
static size_t sort_unique(dsv_oid *ids, size_t n)
{
	size_t k = 0;
	if (n)
		qsort(ids, n, sizeof *ids, cmp_oid);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || dsv_oid_cmp(&ids[k - 1], &ids[i]))
			ids[k++] = ids[i];
	return k;
}

int dsv_lineage_reachable(dsv_lineage *l, dsv_oid **out, size_t *n,
			  dsv_oid **toks, size_t *ntoks)
{
	struct reach r = {.l = l};
	int rc = dsv_lineage_foreach(l, reach_one, &r);
	/* lineage/ lives inside the .dsv directory: its parent holds runs/. */
	if (!rc) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/..", dsv_lineage_path(l));
		rc = reach_runs(&r, dir);
	}
	if (!rc)
		rc = dsv_lineage_foreach_from(l, r.runs, r.nruns, reach_one, &r);
	free(r.runs);
	*out = *toks = NULL;
	*n = *ntoks = 0;
	if (rc) {
		free(r.ids);
		free(r.toks);
		return rc;
	}
	*n = sort_unique(r.ids, r.n);
	*out = r.ids;
	*ntoks = sort_unique(r.toks, r.ntoks);
	*toks = r.toks;
	return 0;
}

int dsv_lineage_objects_of(dsv_lineage *l, const dsv_aid *commits, size_t n,
			   dsv_oid **out, size_t *nout)
{
	struct reach r = {.l = l};
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = reach_one(&commits[i], &r);
	free(r.toks);
	free(r.runs);
	*out = NULL;
	*nout = 0;
	if (rc) {
		free(r.ids);
		return rc;
	}
	*nout = sort_unique(r.ids, r.n);
	*out = r.ids;
	return 0;
}

int dsv_lineage_index_versions(dsv_lineage *l, dsv_store *s,
			       const dsv_aid *commits, size_t n)
{
	struct check_ctx x = {.l = l, .s = s};
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = index_version(&commits[i], &x);
	return rc;
}

/* The index entry of one object from its header alone: gc refreshes the
 * index after deleting without decompressing every object again (fsck
 * --rebuild-index verifies them). Rows sit in the first section of shards,
 * selections and columns. */
static int reindex_object(const dsv_oid *id, void *ctx)
{
	dsv_store *s = ctx;
	dsv_obj *o = NULL;
	dsv_obj_info info = {0};
	struct stat sb;
	char *path = NULL;
	void *hdr = NULL;
	size_t len = 0;
	int rc = dsv_obj_open(&o, s, id);
	if (rc == DSV_ECORRUPT || rc == DSV_ENOTFOUND)
		return 0; /* fsck's to report */
	if (rc)
		return rc;
	info.type = dsv_obj_get_type(o);
	for (int i = 0; i < dsv_obj_nsections(o); i++)
		info.raw_size += dsv_obj_section_size(o, i);
	size_t at = info.type == DSV_OBJ_SHARD ? 16
		  : info.type == DSV_OBJ_SELECTION || info.type == DSV_OBJ_COLUMN
			  ? 48 : 0;
	if (at && (rc = dsv_obj_read_section(o, 0, &hdr, &len)) == 0 &&
	    len >= at + 8) {
		const uint8_t *h = hdr;
		for (int i = 7; i >= 0; i--)
			info.rows = info.rows << 8 | h[at + i];
	}
	if (rc == DSV_ECORRUPT)
		rc = 0;
	if (!rc && !(rc = dsv_obj_path(s, id, &path)) && stat(path, &sb) == 0)
		info.stored_size = (uint64_t)sb.st_size;
	if (!rc)
		rc = dsv_index_put_object(s, id, &info);
	free(path);
	free(hdr);
	dsv_obj_free(o);
	return rc;
}

/* Empties the index and fills it again from object headers and the
 * lineage. The token cache stays: a running train or export looks its
 * arrays up as it goes, and an entry whose array was deleted is a miss. */
static int refresh_index(dsv_lineage *l, dsv_store *s)
{
	struct check_ctx x = {.l = l, .s = s};
	int rc = dsv_index_clear(s, 1);
	if (!rc)
		rc = dsv_obj_foreach(s, reindex_object, s);
	if (!rc)
		rc = dsv_lineage_foreach(l, index_version, &x);
	return rc;
}

/* The objects a model, classifier or other artifact names in its MODEL,
 * CLASSIFIER or OBJECTS file: each is one gc keeps, so each must exist. */
static void check_named(struct check_ctx *x, const dsv_aid *id)
{
	char hex[DSV_OID_HEXLEN + 1], msg[512];
	struct reach r = {.l = x->l};
	if (reach_one(id, &r)) {
		problem(x, &x->c->bad, id, dsv_error_last());
	} else {
		for (size_t i = 0; i < r.n; i++) {
			if (dsv_obj_exists(x->s, &r.ids[i]))
				continue;
			dsv_oid_fmt(hex, &r.ids[i]);
			snprintf(msg, sizeof msg, "object %s is missing", hex);
			problem(x, &x->c->missing, id, msg);
		}
	}
	free(r.ids);
	free(r.toks);
	free(r.runs);
}

int dsv_lineage_gc(dsv_lineage *l, dsv_store *s, dsv_gc_opts *o,
		   dsv_gc_stats *st)
{
	dsv_oid *keep = NULL, *toks = NULL;
	size_t nkeep = 0, ntoks = 0;
	memset(st, 0, sizeof *st);
	/* Under the lock alone no writer is between storing objects and
	 * moving its ref, so what the lineage reaches now is all that is in
	 * use; writers that do not lock are covered by the grace period. A
	 * dry run shares it (dsv_store_gc_lock). */
	int rc = dsv_store_gc_lock(s, o->dry_run);
	if (rc)
		return rc;
	if (!(rc = dsv_lineage_reachable(l, &keep, &nkeep, &toks, &ntoks))) {
		o->keep = keep;
		o->nkeep = nkeep;
		o->tokenizers = toks;
		o->ntokenizers = ntoks;
		rc = dsv_store_gc(s, o, st);
		o->keep = o->tokenizers = NULL;
		o->nkeep = o->ntokenizers = 0;
	}
	if (!o->dry_run && st->deleted) {
		/* The index is a cache: rebuilt, it names no deleted object.
		 * If this fails, the objects are still right and fsck
		 * --rebuild-index repairs the cache. */
		int rc2 = refresh_index(l, s);
		if (!rc)
			rc = rc2;
	}
	dsv_store_unlock(s);
	free(keep);
	free(toks);
	return rc;
}
