/* commit.c: writing one artifact commit (blobs, tree, commit, then the ref by
 * compare-and-swap) and reading commits back (tree files, header fields).
 */
#include "lineage/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "Name <email>" into a signature at `when` (0: now). */
static int make_signature(git_signature **out, const char *author,
			  int64_t when)
{
	const char *lt = strchr(author, '<'), *gt = strrchr(author, '>');
	char *name = NULL, *email = NULL;
	size_t nlen;
	int rc = 0;

	if (!lt || !gt || gt < lt)
		return dsv_error_set(DSV_EINVAL,
				     "author must be 'Name <email>', not '%s'",
				     author);
	nlen = (size_t)(lt - author);
	while (nlen > 0 && author[nlen - 1] == ' ')
		nlen--;
	if (nlen == 0)
		return dsv_error_set(DSV_EINVAL, "author '%s' has no name",
				     author);
	name = strndup(author, nlen);
	email = strndup(lt + 1, (size_t)(gt - lt - 1));
	if (!name || !email) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (when)
		rc = git_signature_new(out, name, email, (git_time_t)when, 0);
	else
		rc = git_signature_now(out, name, email);
	if (rc < 0)
		rc = dsv_git_error(DSV_EINVAL, "bad author '%s'", author);
cleanup:
	free(name);
	free(email);
	return rc;
}

/* $GIT_AUTHOR_DATE when it is "<seconds>" or "@<seconds>" (with an optional
 * zone after a space), for reproducible histories; else 0. */
static int64_t env_time(void)
{
	const char *s = getenv("GIT_AUTHOR_DATE");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	if (*s == '@')
		s++;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || (*end && *end != ' ') || v <= 0)
		return 0;
	return v;
}

static int write_tree(git_oid *out, git_repository *repo,
		      const dsv_tree_file *files, size_t n)
{
	git_treebuilder *tb = NULL;
	int rc = 0;

	if (n == 0)
		return dsv_error_set(DSV_EINVAL, "an artifact needs a file");
	if (git_treebuilder_new(&tb, repo, NULL) < 0)
		return dsv_git_error(DSV_EIO, "cannot build tree");
	for (size_t i = 0; i < n; i++) {
		git_oid blob;
		const char *name = files[i].name;
		if (!name || !*name || strchr(name, '/') ||
		    !strcmp(name, ".") || !strcmp(name, "..")) {
			rc = dsv_error_set(DSV_EINVAL, "bad tree file name '%s'",
					   name ? name : "");
			goto cleanup;
		}
		if (git_treebuilder_get(tb, name)) {
			rc = dsv_error_set(DSV_EINVAL,
					   "tree file '%s' given twice", name);
			goto cleanup;
		}
		if (git_blob_create_from_buffer(&blob, repo, files[i].data,
						files[i].len) < 0 ||
		    git_treebuilder_insert(NULL, tb, name, &blob,
					   GIT_FILEMODE_BLOB) < 0) {
			rc = dsv_git_error(DSV_EIO, "cannot write '%s'", name);
			goto cleanup;
		}
	}
	if (git_treebuilder_write(out, tb) < 0)
		rc = dsv_git_error(DSV_EIO, "cannot write tree");
cleanup:
	git_treebuilder_free(tb);
	return rc;
}

int dsv_lineage_commit(dsv_lineage *l, const dsv_commit_opts *o, dsv_aid *out)
{
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	const git_commit **parents = NULL;
	char *author = NULL, *msg = NULL;
	git_oid tree_id, commit_id;
	size_t np = 0;
	int rc;

	if (!o->message)
		return dsv_error_set(DSV_EINVAL, "a commit needs a message");
	if ((rc = write_tree(&tree_id, l->repo, o->files, o->nfiles)) < 0)
		goto cleanup;
	if (git_tree_lookup(&tree, l->repo, &tree_id) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot read the new tree");
		goto cleanup;
	}
	if (o->nparents &&
	    !(parents = calloc(o->nparents, sizeof *parents))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (; np < o->nparents; np++) {
		git_oid pid;
		dsv_aid_to_git(&pid, &o->parents[np]);
		if ((rc = git_commit_lookup((git_commit **)&parents[np], l->repo,
					    &pid)) < 0) {
			char hex[DSV_AID_HEXLEN + 1];
			dsv_aid_fmt(hex, &o->parents[np]);
			rc = dsv_git_error(dsv_git_code(rc),
					   "parent %s is not a commit", hex);
			goto cleanup;
		}
	}
	if (o->author) {
		if (!(author = strdup(o->author))) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
	} else if ((rc = dsv_lineage_author(&author)) < 0) {
		goto cleanup;
	}
	if ((rc = make_signature(&sig, author, o->time ? o->time : env_time())) < 0)
		goto cleanup;
	{
		size_t ml = strlen(o->message);
		int nl = ml == 0 || o->message[ml - 1] != '\n';
		if (!(msg = malloc(ml + 2))) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(msg, o->message, ml);
		if (nl)
			msg[ml++] = '\n';
		msg[ml] = '\0';
	}
	/* The commit object goes in before the ref moves: if the swap is lost
	 * the object is unreferenced garbage, never a half-recorded version. */
	if (git_commit_create(&commit_id, l->repo, NULL, sig, sig, NULL, msg,
			      tree, np, parents) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot write commit");
		goto cleanup;
	}
	dsv_aid_from_git(out, &commit_id);
	{
		/* warm the log/audit cache while the objects are at hand */
		const dsv_centry *e;
		if (dsv_cache_get(&e, l, out) < 0)
			dsv_error_clear();
	}
	if (o->ref) {
		char log[256];
		snprintf(log, sizeof log, "dsv: %.*s", 200,
			 o->message);
		char *eol = strchr(log, '\n');
		if (eol)
			*eol = '\0';
		rc = dsv_lineage_ref_update(l, o->ref, out, o->expected, log);
	}
cleanup:
	for (size_t i = 0; i < np; i++)
		git_commit_free((git_commit *)parents[i]);
	free(parents);
	git_tree_free(tree);
	git_signature_free(sig);
	free(author);
	free(msg);
	return rc;
}

/* ---- reading ------------------------------------------------------------- */

static int lookup_commit(git_commit **out, dsv_lineage *l, const dsv_aid *id)
{
	git_oid oid;
	int rc;
	dsv_aid_to_git(&oid, id);
	if ((rc = git_commit_lookup(out, l->repo, &oid)) < 0) {
		char hex[DSV_AID_HEXLEN + 1];
		dsv_aid_fmt(hex, id);
		return dsv_git_error(dsv_git_code(rc), "no artifact %s", hex);
	}
	return 0;
}

int dsv_lineage_read_file(dsv_lineage *l, const dsv_aid *commit,
			  const char *name, char **out, size_t *len)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *e;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = lookup_commit(&c, l, commit)) < 0)
		goto cleanup;
	if (git_commit_tree(&tree, c) < 0) {
		rc = dsv_git_error(DSV_ECORRUPT, "cannot read tree");
		goto cleanup;
	}
	if (!(e = git_tree_entry_byname(tree, name)) ||
	    git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		char hex[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(hex, commit);
		rc = dsv_error_set(DSV_ENOTFOUND, "artifact %s has no '%s'",
				   hex, name);
		goto cleanup;
	}
	if (git_blob_lookup(&blob, l->repo, git_tree_entry_id(e)) < 0) {
		rc = dsv_git_error(DSV_ECORRUPT, "cannot read '%s'", name);
		goto cleanup;
	}
	{
		size_t n = (size_t)git_blob_rawsize(blob);
		if (!(*out = malloc(n + 1))) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(*out, git_blob_rawcontent(blob), n);
		(*out)[n] = '\0';
		*len = n;
	}
cleanup:
	git_blob_free(blob);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int dsv_commit_info_open(dsv_commit_info **out, dsv_lineage *l,
			 const dsv_aid *id)
{
	const dsv_centry *e;
	dsv_commit_info *ci = NULL;
	size_t sl;
	int rc;

	*out = NULL;
	if ((rc = dsv_cache_get(&e, l, id)) < 0)
		return rc;
	if (!(ci = calloc(1, sizeof *ci)))
		goto nomem;
	ci->id = *id;
	ci->nparents = e->nparents;
	if (ci->nparents &&
	    !(ci->parents = malloc(ci->nparents * sizeof *ci->parents)))
		goto nomem;
	if (ci->nparents)
		memcpy(ci->parents, e->parents,
		       ci->nparents * sizeof *ci->parents);
	/* the summary is the message's first line */
	sl = strcspn(e->message, "\n");
	if (!(ci->message = strdup(e->message)) ||
	    !(ci->summary = strndup(e->message, sl)) ||
	    !(ci->author_name = strdup(e->author_name)) ||
	    !(ci->author_email = strdup(e->author_email)))
		goto nomem;
	ci->time = e->author_time;
	ci->tz_offset = e->tz;
	*out = ci;
	return 0;
nomem:
	dsv_commit_info_free(ci);
	return dsv_error_set(DSV_ENOMEM, "out of memory");
}

void dsv_commit_info_free(dsv_commit_info *ci)
{
	if (!ci)
		return;
	free(ci->parents);
	free(ci->message);
	free(ci->summary);
	free(ci->author_name);
	free(ci->author_email);
	free(ci);
}
