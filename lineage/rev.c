/* rev.c: revisions (git syntax, checked before libgit2 parses them), refs
 * moved by compare-and-swap, HEAD, branches and tags.
 */
#include "lineage/internal.h"

#include <git2/sys/repository.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

int dsv_rev_validate(const char *rev, size_t len)
{
	if (!rev || len == 0)
		return dsv_error_set(DSV_EINVAL, "empty revision");
	if (len > DSV_REV_MAX)
		return dsv_error_set(DSV_EINVAL,
				     "revision longer than %d bytes",
				     DSV_REV_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rev[i];
		if (c == 0)
			return dsv_error_set(DSV_EINVAL,
					     "revision contains a NUL byte");
		if (c < 0x20 || c == 0x7f || c == ' ')
			return dsv_error_set(DSV_EINVAL,
					     "revision contains a control "
					     "character or space (byte %zu)",
					     i + 1);
	}
	/* Message searches (":/text", "rev^{/text}") run a regular expression
	 * over the whole history, and libgit2 1.5 leaks pcre2 match data on
	 * each; dsv's revisions name artifacts by ref, id and ancestry only. */
	for (size_t i = 0; i + 1 < len; i++)
		if ((rev[i] == ':' || rev[i] == '{') && rev[i + 1] == '/')
			return dsv_error_set(DSV_EINVAL,
					     "revision '%.*s': message search "
					     "is not supported",
					     (int)(len > 64 ? 64 : len), rev);
	return 0;
}

int dsv_rev_commit(git_commit **out, dsv_lineage *l, const char *rev)
{
	git_object *obj = NULL, *peeled = NULL;
	int rc;

	*out = NULL;
	if ((rc = dsv_rev_validate(rev, rev ? strlen(rev) : 0)) < 0)
		return rc;
	rc = git_revparse_single(&obj, l->repo, rev);
	if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH ||
	    rc == GIT_EINVALIDSPEC) {
		rc = dsv_error_set(rc == GIT_EINVALIDSPEC ? DSV_EINVAL
							   : DSV_ENOTFOUND,
				   "unknown revision '%s'", rev);
		goto cleanup;
	}
	/* libgit2 calls a hex string under 4 digits ambiguous even when no
	 * id starts with it; to the user it is an unknown name. */
	if (rc == GIT_EAMBIGUOUS && strlen(rev) < GIT_OID_MINPREFIXLEN &&
	    strspn(rev, "0123456789abcdefABCDEF") == strlen(rev)) {
		rc = dsv_error_set(DSV_ENOTFOUND, "unknown revision '%s' (an "
				   "id prefix needs 4 hex digits at least)",
				   rev);
		goto cleanup;
	}
	if (rc == GIT_EAMBIGUOUS) {
		rc = dsv_error_set(DSV_EINVAL,
				   "revision '%s' is ambiguous", rev);
		goto cleanup;
	}
	if (rc < 0) {
		/* Other failures are about the string (":path" needs an index
		 * a bare repository lacks, bad "@{...}" dates, ...). */
		rc = dsv_git_error(DSV_EINVAL, "invalid revision '%s'", rev);
		goto cleanup;
	}
	if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = dsv_error_set(DSV_EINVAL,
				   "revision '%s' is not an artifact", rev);
		goto cleanup;
	}
	*out = (git_commit *)peeled;
	peeled = NULL;
	rc = 0;
cleanup:
	git_error_clear();
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

int dsv_lineage_resolve(dsv_lineage *l, const char *rev, dsv_aid *out)
{
	git_commit *c = NULL;
	int rc = dsv_rev_commit(&c, l, rev);
	if (rc < 0)
		return rc;
	dsv_aid_from_git(out, git_commit_id(c));
	git_commit_free(c);
	return 0;
}

/* ---- refs ---------------------------------------------------------------- */

int dsv_lineage_ref_get(dsv_lineage *l, const char *ref, dsv_aid *out)
{
	git_oid oid;
	int rc = git_reference_name_to_id(&oid, l->repo, ref);
	if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) {
		git_error_clear();
		return dsv_error_set(DSV_ENOTFOUND, "no ref '%s'", ref);
	}
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc), "cannot read '%s'", ref);
	dsv_aid_from_git(out, &oid);
	return 0;
}

/* "branch 'main'", "tag 'v1'" or "ref 'refs/x'" for messages. */
static void ref_label(char *buf, size_t n, const char *ref)
{
	if (!strncmp(ref, "refs/heads/", 11))
		snprintf(buf, n, "branch '%s'", ref + 11);
	else if (!strncmp(ref, "refs/tags/", 10))
		snprintf(buf, n, "tag '%s'", ref + 10);
	else
		snprintf(buf, n, "ref '%s'", ref);
}

static int conflict(dsv_lineage *l, const char *ref, const dsv_aid *expected)
{
	char label[300], exp[DSV_AID_SHORTLEN + 1] = "nothing",
			 found[DSV_AID_SHORTLEN + 1] = "nothing";
	dsv_aid cur;

	git_error_clear();
	if (dsv_lineage_ref_get(l, ref, &cur) == 0)
		dsv_aid_short(found, &cur);
	if (expected)
		dsv_aid_short(exp, expected);
	ref_label(label, sizeof label, ref);
	if (!expected)
		return dsv_error_set(DSV_ECONFLICT,
				     "%s already exists (found %s): another "
				     "commit landed first; nothing was recorded",
				     label, found);
	return dsv_error_set(DSV_ECONFLICT,
			     "%s moved (expected %s, found %s): another commit "
			     "landed first; nothing was recorded",
			     label, exp, found);
}

int dsv_lineage_ref_update(dsv_lineage *l, const char *ref,
			   const dsv_aid *target, const dsv_aid *expected,
			   const char *logmsg)
{
	git_reference *r = NULL;
	git_oid new_id, old_id;
	int rc;

	if (git_reference_name_is_valid(&rc, ref) < 0 || !rc)
		return dsv_error_set(DSV_EINVAL, "invalid ref name '%s'", ref);
	dsv_aid_to_git(&new_id, target);
	/* libgit2 takes the ref's lock file, then checks the current value
	 * against old_id (or absence when force is 0) under that lock: a true
	 * compare-and-swap against other processes. A lock file another
	 * process holds for a moment (git pack-refs, git gc) is waited for up
	 * to 100 ms, as git does (core.filesRefLockTimeout). */
	if (expected)
		dsv_aid_to_git(&old_id, expected);
	struct timespec pause = {0, 5 * 1000 * 1000};
	for (int i = 0;; i++) {
		rc = expected ? git_reference_create_matching(&r, l->repo, ref,
							      &new_id, 1,
							      &old_id, logmsg)
			      : git_reference_create(&r, l->repo, ref, &new_id,
						     0, logmsg);
		git_reference_free(r);
		r = NULL;
		if (rc != GIT_ELOCKED || i == 20)
			break;
		nanosleep(&pause, NULL);
	}
	if (rc == GIT_ELOCKED) {
		/* Its lock file exists: another process is moving the ref,
		 * or one was killed while it did and left the file (git's
		 * "index.lock exists"). */
		char label[300];
		git_error_clear();
		ref_label(label, sizeof label, ref);
		return dsv_error_set(DSV_ECONFLICT, "%s is locked: '%s/%s.lock' "
				     "exists (if no other process is moving "
				     "it, one was killed while it did: remove "
				     "the file); nothing was recorded", label,
				     dsv_lineage_path(l), ref);
	}
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS ||
	    (rc == GIT_ENOTFOUND && expected))
		return conflict(l, ref, expected);
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc), "cannot update '%s'",
				     ref);
	return 0;
}

/* ---- HEAD ---------------------------------------------------------------- */

int dsv_lineage_head_branch(dsv_lineage *l, char **out)
{
	git_reference *head = NULL;
	const char *target;
	int rc = 0;

	*out = NULL;
	if (git_reference_lookup(&head, l->repo, "HEAD") < 0)
		return dsv_git_error(DSV_ECORRUPT, "cannot read HEAD");
	if (git_reference_type(head) != GIT_REFERENCE_SYMBOLIC ||
	    !(target = git_reference_symbolic_target(head)) ||
	    strncmp(target, "refs/heads/", 11)) {
		rc = dsv_error_set(DSV_ENOTFOUND, "HEAD is not on a branch");
		goto cleanup;
	}
	if (!(*out = strdup(target + 11)))
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
cleanup:
	git_reference_free(head);
	return rc;
}

int dsv_lineage_head(dsv_lineage *l, dsv_aid *out)
{
	git_oid oid;
	int rc = git_reference_name_to_id(&oid, l->repo, "HEAD");
	if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) {
		git_error_clear();
		return dsv_error_set(DSV_ENOTFOUND,
				     "the current branch has no artifacts yet");
	}
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc), "cannot read HEAD");
	dsv_aid_from_git(out, &oid);
	return 0;
}

int dsv_lineage_name_validate(const char *name)
{
	char full[512];
	int valid = 0;

	if (!name || !*name || strlen(name) > 200)
		return dsv_error_set(DSV_EINVAL, "invalid name '%s'",
				     name ? name : "");
	/* "@" is HEAD as a revision: a branch of that name could not be named */
	if (name[0] == '-' || !strcmp(name, "HEAD") || !strcmp(name, "@"))
		return dsv_error_set(DSV_EINVAL, "invalid name '%s'", name);
	snprintf(full, sizeof full, "refs/heads/%s", name);
	if (git_reference_name_is_valid(&valid, full) < 0 || !valid) {
		git_error_clear();
		return dsv_error_set(DSV_EINVAL,
				     "invalid name '%s' (git ref name rules)",
				     name);
	}
	return 0;
}

static int ref_exists(dsv_lineage *l, const char *prefix, const char *name)
{
	char full[512];
	dsv_aid id;
	int rc;

	if ((rc = dsv_lineage_name_validate(name)) < 0)
		return rc;
	snprintf(full, sizeof full, "%s%s", prefix, name);
	rc = dsv_lineage_ref_get(l, full, &id);
	if (rc == DSV_ENOTFOUND) {
		dsv_error_clear();
		return 0;
	}
	return rc < 0 ? rc : 1;
}

int dsv_lineage_branch_exists(dsv_lineage *l, const char *name)
{
	return ref_exists(l, "refs/heads/", name);
}

int dsv_lineage_tag_exists(dsv_lineage *l, const char *name)
{
	return ref_exists(l, "refs/tags/", name);
}

int dsv_lineage_set_head(dsv_lineage *l, const char *branch)
{
	char full[512];
	git_reference *r = NULL;
	dsv_aid any;
	int rc;

	if ((rc = dsv_lineage_name_validate(branch)) < 0)
		return rc;
	if ((rc = dsv_lineage_branch_exists(l, branch)) < 0)
		return rc;
	/* An unborn branch may be chosen only while nothing is recorded:
	 * otherwise a typo would silently start an empty history. */
	if (rc == 0 && dsv_lineage_head(l, &any) == 0)
		return dsv_error_set(DSV_ENOTFOUND, "no branch '%s'", branch);
	dsv_error_clear();
	snprintf(full, sizeof full, "refs/heads/%s", branch);
	if (git_reference_symbolic_create(&r, l->repo, "HEAD", full, 1,
					  "dsv: switch") < 0)
		return dsv_git_error(DSV_EIO, "cannot set HEAD to '%s'",
				     branch);
	git_reference_free(r);
	return 0;
}

static int ref_create(dsv_lineage *l, const char *prefix, const char *name,
		      const char *rev, int force)
{
	char full[512];
	dsv_aid id, cur;
	int rc;

	if ((rc = dsv_lineage_name_validate(name)) < 0)
		return rc;
	if ((rc = dsv_lineage_resolve(l, rev, &id)) < 0)
		return rc;
	snprintf(full, sizeof full, "%s%s", prefix, name);
	rc = dsv_lineage_ref_get(l, full, &cur);
	if (rc == 0 && !force)
		return dsv_error_set(DSV_EEXISTS, "%s '%s' already exists",
				     prefix[5] == 'h' ? "branch" : "tag", name);
	if (rc < 0 && rc != DSV_ENOTFOUND)
		return rc;
	return dsv_lineage_ref_update(l, full, &id, rc == 0 ? &cur : NULL,
				      "dsv: create");
}

/* Deletes take turns on an flock of lineage/dsv-refs-lock: libgit2 1.5
 * reads packed-refs before it takes packed-refs.lock to rewrite it
 * (refdb_fs.c: packed_delete, then packed_write), so two deletes at once
 * could each write back the ref the other had removed. git pack-refs and
 * git gc are outside this lock (docs/formats.md, Locks). */
static int refs_lock(dsv_lineage *l, int *out)
{
	char *path = NULL;
	int fd, rc = 0;

	if (asprintf(&path, "%s/dsv-refs-lock", l->path) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
		rc = dsv_error_set(DSV_EIO, "cannot open '%s': %s", path,
				   strerror(errno));
		goto cleanup;
	}
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = dsv_error_set(DSV_EIO, "cannot lock '%s': %s",
					   path, strerror(errno));
			close(fd);
			goto cleanup;
		}
	*out = fd;
cleanup:
	free(path);
	return rc;
}

/* One try at deleting `full`, through a fresh refdb: libgit2 keeps
 * packed-refs in memory (read again only when its mtime, size or inode
 * change), and a delete that failed on packed-refs.lock has already dropped
 * the ref from that copy, so a second try on it would write nothing and
 * report success. */
static int delete_once(dsv_lineage *l, const char *full)
{
	git_refdb *db = NULL;
	git_reference *r = NULL;
	int rc;

	if ((rc = git_refdb_open(&db, l->repo)) < 0 ||
	    (rc = git_repository_set_refdb(l->repo, db)) < 0 ||
	    (rc = git_reference_lookup(&r, l->repo, full)) < 0)
		goto cleanup;
	rc = git_reference_delete(r);
cleanup:
	git_reference_free(r);
	git_refdb_free(db);
	return rc;
}

static int ref_delete(dsv_lineage *l, const char *prefix, const char *name)
{
	char full[512];
	const char *what = prefix[5] == 'h' ? "branch" : "tag";
	int rc, fd = -1;

	if ((rc = dsv_lineage_name_validate(name)) < 0)
		return rc;
	snprintf(full, sizeof full, "%s%s", prefix, name);
	if ((rc = refs_lock(l, &fd)) < 0)
		return rc;
	/* Another process (git pack-refs, git gc) may hold packed-refs.lock
	 * for a moment: retry for up to a second, as git does
	 * (core.packedRefsTimeout), rather than fail. */
	struct timespec pause = {0, 10 * 1000 * 1000};
	for (int i = 0; (rc = delete_once(l, full)) == GIT_ELOCKED && i < 100;
	     i++)
		nanosleep(&pause, NULL);
	close(fd);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		return dsv_error_set(DSV_ENOTFOUND, "no %s '%s'", what, name);
	}
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc), "cannot delete '%s'",
				     name);
	return 0;
}

int dsv_lineage_branch_create(dsv_lineage *l, const char *name,
			      const char *rev, int force)
{
	return ref_create(l, "refs/heads/", name, rev, force);
}

int dsv_lineage_branch_delete(dsv_lineage *l, const char *name)
{
	char *cur = NULL;
	int rc = dsv_lineage_head_branch(l, &cur);
	if (rc == 0 && !strcmp(cur, name)) {
		free(cur);
		return dsv_error_set(DSV_EINVAL,
				     "cannot delete the current branch '%s'",
				     name);
	}
	free(cur);
	dsv_error_clear();
	return ref_delete(l, "refs/heads/", name);
}

int dsv_lineage_tag_create(dsv_lineage *l, const char *name, const char *rev,
			   int force)
{
	return ref_create(l, "refs/tags/", name, rev, force);
}

int dsv_lineage_tag_delete(dsv_lineage *l, const char *name)
{
	return ref_delete(l, "refs/tags/", name);
}

/* ---- listing ------------------------------------------------------------- */

static int cmp_refinfo(const void *a, const void *b)
{
	return strcmp(((const dsv_refinfo *)a)->name,
		      ((const dsv_refinfo *)b)->name);
}

static int ref_list(dsv_lineage *l, const char *prefix, dsv_refinfo **out,
		    size_t *n)
{
	git_reference_iterator *it = NULL;
	git_reference *r = NULL, *resolved = NULL;
	git_object *peeled = NULL;
	dsv_refinfo *v = NULL;
	size_t cnt = 0, cap = 0, plen = strlen(prefix);
	char glob[64];
	int rc = 0, grc;

	*out = NULL;
	*n = 0;
	snprintf(glob, sizeof glob, "%s*", prefix);
	if (git_reference_iterator_glob_new(&it, l->repo, glob) < 0)
		return dsv_git_error(DSV_EIO, "cannot list refs");
	while ((grc = git_reference_next(&r, it)) == 0) {
		const git_oid *oid;
		if (git_reference_resolve(&resolved, r) < 0) {
			git_error_clear();
			goto next; /* a dangling symbolic ref names nothing */
		}
		/* annotated tags made by git itself peel to their commit; a
		 * ref git made to a blob or a tree names no artifact */
		if (git_reference_peel(&peeled, resolved, GIT_OBJECT_COMMIT) < 0) {
			git_error_clear();
			goto next;
		}
		oid = git_object_id(peeled);
		if ((rc = DSV_ARRAY_GROW(v, cap, cnt + 1, 16)))
			goto cleanup;
		if (!(v[cnt].name = strdup(git_reference_name(r) + plen))) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		dsv_aid_from_git(&v[cnt].target, oid);
		cnt++;
next:
		git_object_free(peeled);
		peeled = NULL;
		git_reference_free(resolved);
		resolved = NULL;
		git_reference_free(r);
		r = NULL;
	}
	if (grc != GIT_ITEROVER) {
		rc = dsv_git_error(DSV_EIO, "cannot list refs");
		goto cleanup;
	}
	git_error_clear();
	if (cnt) /* qsort(NULL, 0) is undefined */
		qsort(v, cnt, sizeof *v, cmp_refinfo);
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
cleanup:
	git_object_free(peeled);
	git_reference_free(resolved);
	git_reference_free(r);
	git_reference_iterator_free(it);
	dsv_refinfo_free(v, cnt);
	return rc;
}

int dsv_lineage_branch_list(dsv_lineage *l, dsv_refinfo **out, size_t *n)
{
	return ref_list(l, "refs/heads/", out, n);
}

int dsv_lineage_tag_list(dsv_lineage *l, dsv_refinfo **out, size_t *n)
{
	return ref_list(l, "refs/tags/", out, n);
}

void dsv_refinfo_free(dsv_refinfo *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		free(r[i].name);
	free(r);
}
