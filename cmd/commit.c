/* commit.c: `dsv commit FILES... -m MSG`: ingests files as a new dataset
 * version on a branch. The version is recorded only once every object is
 * stored: on any error the branch is where it was and nothing refers to the
 * objects already written (gc takes them).
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct commit_args {
	const char *message, *branch, *text_field, *text_mode;
	long level;
	int append, skip_bad, quiet, json;
};

static int parse_text_mode(const char *s, int *out)
{
	static const char *const names[] = {"file", "line", "paragraph"};
	static const int modes[] = {DSV_TEXT_FILE, DSV_TEXT_LINE,
				    DSV_TEXT_PARAGRAPH};
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = modes[i];
			return 0;
		}
	return -1;
}

static void on_progress(void *ctx, uint64_t bytes)
{
	progress_update(ctx, bytes);
}

/* The branch the commit moves and its current value (absent: unborn). */
/* The branch to commit on, locked, and where it stands. */
static int target_branch(const struct commit_args *a, char **name,
			 dsv_aid *old, int *has_old)
{
	dsv_lineage *l = the_repo->lineage;
	char ref[300];
	int rc;
	*has_old = 0;
	if (a->branch) {
		if ((rc = dsv_lineage_name_validate(a->branch)))
			return rc;
		if (!(*name = strdup(a->branch)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
	} else if ((rc = dsv_lineage_head_branch(l, name))) {
		return dsv_error_wrap(rc, "cannot commit on a detached HEAD");
	}
	if ((rc = dsv_store_lock_branch(the_repo->store, *name)))
		return rc;
	snprintf(ref, sizeof ref, "refs/heads/%s", *name);
	rc = dsv_lineage_ref_get(l, ref, old);
	if (rc == 0)
		*has_old = 1;
	return rc == DSV_ENOTFOUND ? 0 : rc;
}

static json_t *files_json(char **files, int n)
{
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_string(files[i]));
	return arr;
}

static int describe(dsv_artifact *a, const struct commit_args *args,
		    char **files, int nfiles, const dsv_ingest_stats *st,
		    uint64_t records_total, const dsv_compute *c)
{
	json_t *p = a->params, *bad;
	json_object_set_new(p, "files", files_json(files, nfiles));
	json_object_set_new(p, "append", json_boolean(args->append));
	json_object_set_new(p, "text_field", json_string(args->text_field));
	json_object_set_new(p, "text_mode", json_string(args->text_mode));
	json_object_set_new(p, "level", json_integer(args->level));
	json_object_set_new(p, "skip_bad", json_boolean(args->skip_bad));
	dsv_artifact_stat_int(a, "records", (int64_t)records_total);
	dsv_artifact_stat_int(a, "records_ingested", (int64_t)st->records);
	dsv_artifact_stat_int(a, "records_known", (int64_t)st->records_known);
	dsv_artifact_stat_int(a, "records_reused", (int64_t)st->records_reused);
	dsv_artifact_stat_int(a, "records_stored", (int64_t)st->records_stored);
	/* text_bytes is the version's, as `records` is: only known here
	 * when the commit made the whole version */
	if (!args->append)
		dsv_artifact_stat_int(a, "text_bytes", (int64_t)st->text_bytes);
	dsv_artifact_stat_int(a, "text_bytes_ingested", (int64_t)st->text_bytes);
	dsv_artifact_stat_int(a, "meta_bytes", (int64_t)st->meta_bytes);
	dsv_artifact_stat_int(a, "shards", (int64_t)st->shards);
	dsv_artifact_stat_int(a, "new_objects", (int64_t)st->shards_new);
	dsv_artifact_stat_int(a, "bytes_read", (int64_t)st->bytes_read);
	dsv_artifact_stat_int(a, "bytes_stored", (int64_t)st->bytes_written);
	if (args->skip_bad) {
		dsv_artifact_stat_int(a, "records_bad", (int64_t)st->records_bad);
		bad = json_array();
		for (size_t i = 0; i < st->nbad_msgs; i++)
			json_array_append_new(bad, json_string(st->bad_msgs[i]));
		json_object_set_new(a->stats, "bad_records", bad);
	}
	dsv_artifact_set_compute(a, c);
	return 0;
}

static void print_summary(const struct commit_args *a, const char *branch,
			  const dsv_aid *id, const dsv_ingest_stats *st,
			  uint64_t records_total, const dsv_compute *c)
{
	char hex[DSV_AID_HEXLEN + 1], b1[32], b2[32];
	if (a->json) {
		dsv_aid_fmt(hex, id);
		char *qb = json_quote(branch);
		printf("{\"artifact\": \"%s\", \"branch\": %s, "
		       "\"records\": %llu, \"records_ingested\": %llu, "
		       "\"records_known\": %llu, \"records_reused\": %llu, "
		       "\"records_stored\": %llu, \"records_bad\": %llu, "
		       "\"shards\": %llu, \"new_objects\": %llu, "
		       "\"bytes_read\": %llu, \"bytes_stored\": %llu, "
		       "\"wall_s\": %.3f}\n",
		       hex, qb ? qb : "null", (unsigned long long)records_total,
		       (unsigned long long)st->records,
		       (unsigned long long)st->records_known,
		       (unsigned long long)st->records_reused,
		       (unsigned long long)st->records_stored,
		       (unsigned long long)st->records_bad,
		       (unsigned long long)st->shards,
		       (unsigned long long)st->shards_new,
		       (unsigned long long)st->bytes_read,
		       (unsigned long long)st->bytes_written, c->wall_s);
		free(qb);
		return;
	}
	if (a->quiet)
		return;
	dsv_aid_short(hex, id);
	printf("[%s %s] %s\n", branch, hex, a->message);
	printf(" %llu %s (%s of text), %llu %s, %llu new %s (%s stored)\n",
	       (unsigned long long)st->records,
	       plural(st->records, "record", "records"),
	       human_bytes(b1, (double)st->text_bytes),
	       (unsigned long long)st->shards,
	       plural(st->shards, "shard", "shards"),
	       (unsigned long long)st->shards_new,
	       plural(st->shards_new, "object", "objects"),
	       human_bytes(b2, (double)st->bytes_written));
	printf(" %llu %s already in the repository, %llu reused where "
	       "they are stored, %llu stored",
	       (unsigned long long)st->records_known,
	       plural(st->records_known, "record", "records"),
	       (unsigned long long)st->records_reused,
	       (unsigned long long)st->records_stored);
	if (records_total != st->records)
		printf("; %llu %s in the version",
		       (unsigned long long)records_total,
		       plural(records_total, "record", "records"));
	if (a->skip_bad)
		printf("; %llu bad %s skipped",
		       (unsigned long long)st->records_bad,
		       plural(st->records_bad, "record", "records"));
	printf("; %.2f s\n", c->wall_s);
}

/* A directory is a common first argument (a corpus is often one): name
 * the way to commit its files rather than fail on its "format". */
static int check_not_dirs(char **files, int n)
{
	struct stat st;
	for (int i = 0; i < n; i++) {
		int len = (int)strlen(files[i]);
		if (stat(files[i], &st) || !S_ISDIR(st.st_mode))
			continue;
		while (len > 0 && files[i][len - 1] == '/')
			len--;
		return error_msg("'%s' is a directory: name its files "
				 "('%.*s/*.jsonl.gz')", files[i], len, files[i]);
	}
	return 0;
}

static uint64_t total_size(char **files, int n)
{
	uint64_t total = 0;
	struct stat st;
	for (int i = 0; i < n; i++)
		if (stat(files[i], &st) == 0)
			total += (uint64_t)st.st_size;
	return total;
}

int cmd_commit(int argc, char **argv)
{
	static const char usage[] = "dsv commit FILES... -m MSG [options]";
	struct commit_args a = {.text_field = "text"};
	const struct option opts[] = {
		OPT_STRING('m', "message", &a.message, "msg", "the version's message"),
		OPT_BOOL(0, "append", &a.append, "add to the branch's version instead of replacing it"),
		OPT_STRING('b', "branch", &a.branch, "name", "commit on this branch; a new one starts a dataset of its own (from HEAD with --append)"),
		OPT_BOOL(0, "skip-bad", &a.skip_bad, "skip bad records, counting them, instead of failing"),
		OPT_STRING(0, "text-field", &a.text_field, "name", "the JSON field that holds the text (default text)"),
		OPT_STRING(0, "text-mode", &a.text_mode, "mode", "plain text files (and stdin): file, line or paragraph"),
		OPT_INT(0, "level", &a.level, "n", "zstd level for new objects, -7..22"),
		OPT_BOOL('q', "quiet", &a.quiet, "print nothing"),
		OPT_BOOL(0, "json", &a.json, "print the result as JSON"),
		OPT_END(),
	};
	dsv_store *s;
	dsv_lineage *l;
	dsv_manifest *m = NULL, *base = NULL, *packed = NULL, *fresh = NULL;
	dsv_repack_stats rs = {0};
	dsv_meter *meter = NULL;
	dsv_artifact *art = NULL;
	dsv_ingest_stats st;
	dsv_compute c;
	dsv_aid old, id;
	char *branch = NULL, *manifest = NULL, *json = NULL, ref[300];
	size_t mlen, jlen;
	int has_old = 0, new_branch = 0, parent, rc = 1;
	struct progress *bar = NULL;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n == 0)
		return usage_error(opts, usage, "no files to commit");
	if (!a.message || !*a.message)
		return usage_error(opts, usage, "a message is required (-m MSG)");
	/* stdin is JSONL unless a --text-mode says it is text */
	dsv_ingest_opts io = {.reader = {.text_field = a.text_field,
					 .stdin_text = a.text_mode != NULL,
					 .skip_bad = a.skip_bad}};
	if (!a.text_mode)
		a.text_mode = "file";
	if (parse_text_mode(a.text_mode, &io.reader.text_mode))
		return usage_error(opts, usage, "unknown --text-mode '%s'",
				   a.text_mode);
	/* the range compression.level takes; 0 is that key's level */
	if (a.level < -7 || a.level > 22)
		return usage_error(opts, usage, "--level must be -7..22 (0: the "
				   "store's compression.level)");
	io.level = (int)a.level;
	if (check_not_dirs(argv, n))
		return 1;

	s = the_repo->store;
	l = the_repo->lineage;
	if (target_branch(&a, &branch, &old, &has_old))
		goto fail;
	if (!has_old && a.branch) {
		/* A new branch: with --append it continues HEAD's version, as
		 * after git checkout -b, and HEAD is its parent; without, the
		 * files are a dataset of their own, with no parent (HEAD's
		 * version was not its input, and audit would count its
		 * ancestry), but HEAD's version is still the first place
		 * to look for records it already holds. The ref itself is
		 * created only by the commit's swap. */
		has_old = dsv_lineage_head(l, &old) == 0;
		new_branch = 1;
	}
	parent = has_old && (a.append || !new_branch);
	if (dsv_meter_new(&meter, DSV_MODE_INGEST))
		goto fail;
	dsv_meter_start(meter);
	/* The previous version: the base of --append, and in any case the
	 * first place to look for records the new one already has. */
	if (has_old && dsv_dataset_manifest(&base, l, &old))
		goto fail;
	io.parent = base;
	if (dsv_manifest_new(&m))
		goto fail;
	for (size_t i = 0; a.append && base && i < base->n; i++)
		if (dsv_manifest_add(m, &base->e[i]))
			goto fail;
	if (a.append && base && base->has_order) {
		m->has_order = 1;
		m->order = base->order;
	}
	size_t first_new = m->n;

	bar = progress_start("committing", total_size(argv, n));
	io.progress = on_progress;
	io.progress_ctx = bar;
	if (dsv_ingest(s, (const char *const *)argv, (size_t)n, &io, m, &st))
		goto fail;
	progress_done(bar);
	bar = NULL;
	if (st.records == 0) {
		rc = error_msg("nothing to commit: no records in the input%s",
			       st.records_bad ? " (every record was bad)" : "");
		goto cleanup;
	}

	/* Past the fragmentation threshold the version is written with its
	 * sparse entries repacked, so export stays fast as history grows. */
	if (dsv_version_autorepack(s, m, io.level, &packed, &rs))
		goto fail;
	if (packed) {
		dsv_manifest_free(m);
		m = packed;
		packed = NULL;
		first_new = 0;
		st.shards_new += rs.objects_new;
		st.bytes_written += rs.bytes_written;
		st.shards = m->n;
	}
	dsv_meter_add(meter, DSV_METER_BYTES_READ, st.bytes_read);
	dsv_meter_add(meter, DSV_METER_BYTES_WRITTEN, st.bytes_written);
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, st.records + st.records_bad);
	dsv_meter_add(meter, DSV_METER_RECORDS_OUT, st.records);
	dsv_meter_stop(meter);
	dsv_meter_read(meter, &c);
	if (dsv_artifact_new(&art, DSV_KIND_DATASET, "commit") ||
	    (parent && dsv_artifact_add_input(art, "previous", &old)))
		goto fail;
	describe(art, &a, argv, n, &st, dsv_manifest_records(m), &c);
	if (rs.records_moved)
		dsv_artifact_stat_int(art, "records_repacked",
				      (int64_t)rs.records_moved);
	if (dsv_manifest_format(m, &manifest, &mlen) ||
	    dsv_artifact_format(art, &json, &jlen))
		goto fail;

	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"MANIFEST", manifest, mlen}};
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	dsv_commit_opts co = {.files = files, .nfiles = 2,
			      .parents = parent ? &old : NULL,
			      .nparents = parent ? 1 : 0,
			      .message = a.message, .ref = ref,
			      .expected = has_old && !new_branch ? &old : NULL};
	if (dsv_lineage_commit(l, &co, &id))
		goto fail;

	/* The index is a cache: if this fails the version stands and
	 * `dsv fsck --rebuild-index` repairs the index. */
	/* Entries with a selection are reused records, indexed when first
	 * stored; the others (new shards) are indexed here. */
	int irc = dsv_manifest_new(&fresh);
	for (size_t i = first_new; !irc && i < m->n; i++)
		if (!m->e[i].has_sel)
			irc = dsv_manifest_add(fresh, &m->e[i]);
	if (irc || dsv_version_index(s, fresh, id.b))
		fprintf(stderr, "dsv: warning: %s; run 'dsv fsck "
				"--rebuild-index'\n", dsv_error_last());
	print_summary(&a, branch, &id, &st, dsv_manifest_records(m), &c);
	if (rs.records_moved && !a.quiet && !a.json)
		printf(" repacked %llu %s of sparse shards (%llu %s live "
		       "at once)\n",
		       (unsigned long long)rs.records_moved,
		       plural(rs.records_moved, "record", "records"),
		       (unsigned long long)rs.max_live_before,
		       plural(rs.max_live_before, "shard was", "shards were"));
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	progress_done(bar);
	dsv_store_unlock(s);
	free(branch);
	free(manifest);
	free(json);
	dsv_artifact_free(art);
	dsv_meter_free(meter);
	dsv_manifest_free(base);
	dsv_manifest_free(m);
	dsv_manifest_free(packed);
	dsv_manifest_free(fresh);
	return rc;
}
