/* repack.c: `dsv repack [REV] [--branch B]`: records the version REV again,
 * its records rewritten into dense shards, as a new commit (op "repack") on
 * the branch; it exports the same bytes as REV. A REV dense already is not
 * recorded again (a new branch B is made at REV itself). */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int describe(dsv_artifact *a, const char *rev, int full,
		    const dsv_repack_stats *rs, const dsv_compute *c)
{
	json_object_set_new(a->params, "rev", json_string(rev));
	json_object_set_new(a->params, "full", json_boolean(full));
	dsv_artifact_stat_int(a, "records", (int64_t)rs->records);
	dsv_artifact_stat_int(a, "records_moved", (int64_t)rs->records_moved);
	dsv_artifact_stat_int(a, "new_objects", (int64_t)rs->objects_new);
	dsv_artifact_stat_int(a, "bytes_stored", (int64_t)rs->bytes_written);
	dsv_artifact_stat_int(a, "entries_before", (int64_t)rs->entries_before);
	dsv_artifact_stat_int(a, "entries_after", (int64_t)rs->entries_after);
	dsv_artifact_set_compute(a, c);
	return 0;
}

/* 1 when m formats to text[0..len), 0 when not, or a negative code. */
static int same_manifest(const dsv_manifest *m, const char *text, size_t len)
{
	char *t = NULL;
	size_t n;
	int rc = dsv_manifest_format(m, &t, &n);
	if (!rc)
		rc = n == len && !memcmp(t, text, len);
	free(t);
	return rc;
}

int cmd_repack(int argc, char **argv)
{
	static const char usage[] = "dsv repack [REV] [--branch B] [--sparse] [-q]";
	const char *branch = NULL;
	int sparse = 0, quiet = 0;
	const struct option opts[] = {
		OPT_STRING('b', "branch", &branch, "name", "commit on this branch (default: REV's branch, or the current one)"),
		OPT_BOOL(0, "sparse", &sparse, "rewrite only sparse shards' records, as a commit past the threshold does"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};
	dsv_store *s;
	dsv_lineage *l;
	dsv_manifest *m = NULL, *packed = NULL;
	dsv_meter *meter = NULL;
	dsv_artifact *art = NULL;
	dsv_repack_stats rs;
	dsv_compute c;
	dsv_aid rev_id, old, id;
	char *head = NULL, *manifest = NULL, *json = NULL, ref[300], msg[400];
	char hex[DSV_AID_SHORTLEN + 1], b1[32];
	size_t mlen, jlen;
	int rc = 1, locked = 0, has_old = 0;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "one revision at most");
	const char *rev = n ? argv[0] : "HEAD";
	s = the_repo->store;
	l = the_repo->lineage;
	/* The branch that moves: --branch, REV when it names a branch, else
	 * (no REV) the current branch. */
	if (!branch && n && dsv_lineage_branch_exists(l, rev) == 1)
		branch = rev;
	/* Moving the current branch to an older version would be a reset,
	 * not a repack: a revision that is not a branch needs --branch. */
	if (!branch && n && resolve_rev(rev, &rev_id))
		return die_error(); /* "unknown revision 'x'" */
	if (!branch && n)
		return usage_error(opts, usage, "'%s' is not a branch: name the "
				   "branch for the repacked version with "
				   "--branch", rev);
	if (!branch) {
		if (dsv_lineage_head_branch(l, &head))
			goto fail;
		branch = head;
	}
	if (dsv_lineage_name_validate(branch))
		goto fail;
	if (dsv_store_lock_branch(s, branch))
		goto fail;
	locked = 1;
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	if (dsv_lineage_ref_get(l, ref, &old) == 0)
		has_old = 1;
	if (load_version(rev, &rev_id, &m) || dsv_meter_new(&meter,
							    DSV_MODE_INGEST))
		goto fail;
	if (has_old && dsv_aid_cmp(&old, &rev_id)) {
		char at[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(at, &old);
		rc = error_msg("branch '%s' is at %s, not at '%s': repack "
			       "records the same version again on its branch",
			       branch, at, rev);
		goto cleanup;
	}
	dsv_meter_start(meter);
	dsv_repack_opts ro = {.full = !sparse};
	if (dsv_version_repack(s, m, &ro, &packed, &rs))
		goto fail;
	dsv_meter_add(meter, DSV_METER_BYTES_WRITTEN, rs.bytes_written);
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, rs.records);
	dsv_meter_add(meter, DSV_METER_RECORDS_OUT, rs.records);
	dsv_meter_stop(meter);
	dsv_meter_read(meter, &c);
	if (dsv_artifact_new(&art, DSV_KIND_DATASET, "repack") ||
	    dsv_artifact_add_input(art, "input", &rev_id))
		goto fail;
	describe(art, rev, !sparse, &rs, &c);
	if (dsv_manifest_format(packed, &manifest, &mlen) ||
	    dsv_artifact_format(art, &json, &jlen))
		goto fail;
	/* A version with these very entries already is not recorded again
	 * (run twice, repack records nothing the second time); a new branch
	 * is still made, at REV, as `git branch B REV` would. */
	if ((rc = same_manifest(m, manifest, mlen)) != 0) {
		if (rc < 0)
			goto fail;
		dsv_aid_short(hex, &rev_id);
		if (!has_old && dsv_lineage_ref_update(l, ref, &rev_id, NULL,
						       "repack: nothing to repack"))
			goto fail;
		if (!quiet)
			printf("nothing to repack: '%s' is dense already\n", rev);
		if (!quiet && !has_old)
			printf("branch '%s' created at %s\n", branch, hex);
		rc = 0;
		goto cleanup;
	}
	dsv_aid_short(hex, &rev_id);
	snprintf(msg, sizeof msg, "repack %s (%s)", rev, hex);
	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"MANIFEST", manifest, mlen}};
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = &rev_id,
			      .nparents = 1, .message = msg, .ref = ref,
			      .expected = has_old ? &old : NULL};
	if (dsv_lineage_commit(l, &co, &id))
		goto fail;
	if (!quiet) {
		dsv_aid_short(hex, &id);
		printf("[%s %s] %s\n", branch, hex, msg);
		printf(" %llu %s, %llu rewritten into dense shards; %llu %s "
		       "-> %llu; %llu new %s (%s stored); %.2f s\n",
		       (unsigned long long)rs.records,
		       plural(rs.records, "record", "records"),
		       (unsigned long long)rs.records_moved,
		       (unsigned long long)rs.entries_before,
		       plural(rs.entries_before, "entry", "entries"),
		       (unsigned long long)rs.entries_after,
		       (unsigned long long)rs.objects_new,
		       plural(rs.objects_new, "object", "objects"),
		       human_bytes(b1, (double)rs.bytes_written), c.wall_s);
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	if (locked)
		dsv_store_unlock(s);
	free(head);
	free(manifest);
	free(json);
	dsv_artifact_free(art);
	dsv_meter_free(meter);
	dsv_manifest_free(m);
	dsv_manifest_free(packed);
	return rc;
}
