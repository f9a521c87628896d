/* rev.c: revisions (git syntax, checked before libgit2 parses them), refs
 * moved by compare-and-swap, HEAD, branches and tags.
 */
#include "lineage/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Refs are deleted as git's files backend deletes them
 * (refs/files-backend.c), not through libgit2: libgit2 1.5 reads
 * packed-refs before it takes packed-refs.lock and then writes back that
 * copy, undoing a git pack-refs or another delete that landed in between.
 * git's order: the loose ref's lock, then packed-refs.lock, then
 * packed-refs read and rewritten, the reflog and the loose file unlinked,
 * both locks released. packed-refs.lock is taken even for a loose ref, so
 * that a git pack-refs at work cannot pack it behind the delete's back. */

/* Makes the missing directories of `path` after its first `keep` bytes;
 * errors show when the file is then created. */
static void mkdir_parents(const char *path, size_t keep)
{
	char *dir = strdup(path);

	for (char *s = dir ? dir + keep : NULL; s && (s = strchr(s, '/'));
	     *s++ = '/') {
		*s = 0;
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			break;
	}
	free(dir);
}

/* Creates the lock file `path`, as git's lockfile.c does: O_EXCL, waiting
 * up to `ms` for another process to remove it. Directories missing from
 * the lock's path below the first `keep` bytes are made (a loose ref a/b
 * may exist only in packed-refs). DSV_ENOTFOUND when a file stands where a
 * directory must (a ref "a" rules out "a/b"). */
static int lock_take(const char *path, size_t keep, int ms, const char *label)
{
	struct timespec pause = {0, 5 * 1000 * 1000};
	int fd;

	for (int waited = 0;; waited += 5) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			       0666)) >= 0) {
			close(fd);
			return 0;
		}
		if (errno == ENOTDIR)
			return DSV_ENOTFOUND;
		if (errno == ENOENT && keep && waited < ms) {
			mkdir_parents(path, keep);
			continue;
		}
		if (errno != EEXIST)
			return dsv_error_set(DSV_EIO, "cannot create '%s': %s",
					     path, strerror(errno));
		if (waited >= ms)
			return dsv_error_set(DSV_ECONFLICT, "%s is locked: '%s' "
					     "exists (if no other process is "
					     "changing it, one was killed while "
					     "it did: remove the file); nothing "
					     "was deleted", label, path);
		nanosleep(&pause, NULL);
	}
}

/* Reads all of `path` into *out (malloc'd, the caller's). 0, or
 * DSV_ENOTFOUND when it does not exist or is a directory. */
static int file_read(const char *path, dsv_buf *out)
{
	char chunk[8192];
	ssize_t n;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? DSV_ENOTFOUND
				       : dsv_error_set(DSV_EIO, "cannot open "
						       "'%s': %s", path,
						       strerror(errno));
	while ((n = read(fd, chunk, sizeof chunk)) != 0)
		if (n < 0 && errno == EISDIR) {
			rc = DSV_ENOTFOUND;
			break;
		} else if (n < 0 && errno != EINTR) {
			rc = dsv_error_set(DSV_EIO, "cannot read '%s': %s",
					   path, strerror(errno));
			break;
		} else if (n > 0 && (rc = dsv_buf_append(out, chunk, n)) < 0) {
			break;
		}
	close(fd);
	return rc;
}

/* Finds `ref` in packed-refs text s[0, n): [*at, *end) spans its line and
 * the peeled lines ("^<id>") after it. 1 when found, 0 when not,
 * DSV_ECORRUPT naming the line of `path` that is neither a comment, a
 * peeled line nor "<id> <name>" ended by a newline. */
static int packed_find(const char *path, const char *s, size_t n,
		       const char *ref, size_t *at, size_t *end)
{
	size_t rlen = strlen(ref), line = 1;

	for (size_t i = 0, next; i < n; i = next, line++) {
		const char *eol = memchr(s + i, '\n', n - i), *sp;
		next = eol ? (size_t)(eol - s) + 1 : n;
		if (s[i] == '#' || s[i] == '^')
			continue;
		if (!eol || !(sp = memchr(s + i, ' ', next - i)))
			return dsv_error_set(DSV_ECORRUPT, "'%s' line %zu: not "
					     "\"<id> <ref>\" and a newline",
					     path, line);
		if ((size_t)(eol - sp - 1) != rlen || memcmp(sp + 1, ref, rlen))
			continue;
		*at = i;
		while (next < n && s[next] == '^')
			next = (eol = memchr(s + next, '\n', n - next))
				       ? (size_t)(eol - s) + 1 : n;
		*end = next;
		return 1;
	}
	return 0;
}

/* Replaces packed-refs (`path`) with s[0, n) less [at, end), as git does:
 * written to packed-refs.new, fsynced, renamed over it. On an error the new
 * file is removed and packed-refs is as it was. */
static int packed_write(const char *path, const char *s, size_t n, size_t at,
			size_t end)
{
	char *tmp = NULL;
	int rc = 0, fd = -1;

	if (asprintf(&tmp, "%s.new", path) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		       0666)) < 0) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	const struct { const char *p; size_t len; } part[2] = {
		{s, at}, {s + end, n - end}};
	for (int k = 0; k < 2; k++)
		for (size_t off = 0; off < part[k].len;) {
			ssize_t w = dsv_fault_hit(DSV_FAULT_WRITE)
				    ? -1 : write(fd, part[k].p + off,
						 part[k].len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = dsv_error_set(DSV_EIO, "cannot write "
						   "'%s': %s", tmp,
						   strerror(errno));
				goto cleanup;
			}
			off += (size_t)w;
		}
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(fd) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	if (dsv_fault_hit(DSV_FAULT_RENAME) || rename(tmp, path) != 0)
		rc = dsv_error_set(DSV_EIO, "cannot rename '%s' to '%s': %s",
				   tmp, path, strerror(errno));
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* DSV_ECONFLICT unless the ref's value, hex[0, len) as its file holds it,
 * is `expected` (NULL: any value will do). */
static int value_check(const char *label, const char *hex, size_t len,
		       const dsv_aid *expected)
{
	char want[DSV_AID_HEXLEN + 1], found[DSV_AID_SHORTLEN + 1] = "?",
	     exp[DSV_AID_SHORTLEN + 1];
	dsv_aid cur;

	if (!expected)
		return 0;
	dsv_aid_fmt(want, expected);
	if (len >= DSV_AID_HEXLEN && !memcmp(hex, want, DSV_AID_HEXLEN))
		return 0;
	if (len >= DSV_AID_HEXLEN && dsv_aid_parse(&cur, hex,
						   DSV_AID_HEXLEN) == 0)
		dsv_aid_short(found, &cur);
	dsv_error_clear();
	dsv_aid_short(exp, expected);
	return dsv_error_set(DSV_ECONFLICT, "%s moved (expected %s, found %s): "
			     "nothing was deleted", label, exp, found);
}

/* Takes `full` out of packed-refs (`path`), whose lock is held: 1 when it
 * was there, 0 when not (packed-refs left alone); DSV_ECONFLICT when its
 * value there is not `expected` (NULL: not checked). */
static int packed_remove(const char *path, const char *full,
			 const char *label, const dsv_aid *expected)
{
	dsv_buf b = {0};
	size_t at = 0, end = 0;
	int rc = file_read(path, &b);

	if (rc == DSV_ENOTFOUND)
		rc = 0;
	else if (rc == 0)
		rc = packed_find(path, b.buf, b.len, full, &at, &end);
	if (rc == 1 && value_check(label, b.buf + at, end - at, expected) < 0)
		rc = dsv_error_code();
	else if (rc == 1 && packed_write(path, b.buf, b.len, at, end) < 0)
		rc = dsv_error_code();
	dsv_buf_free(&b);
	return rc;
}

/* Removes the directories under `dir` that held `full` (refs/heads/a/b/c:
 * a/b, then a) while they are empty, sparing refs/heads and refs/tags, as
 * git does after a delete. */
static void remove_empty_parents(const char *dir, const char *full)
{
	char *path = NULL, *s;
	size_t keep = strlen(dir) + 1 + (size_t)(strchr(full + 5, '/') - full);

	if (asprintf(&path, "%s/%s", dir, full) < 0)
		return;
	while ((s = strrchr(path, '/')) && (size_t)(s - path) > keep) {
		*s = 0;
		if (rmdir(path) < 0)
			break;
	}
	free(path);
}

/* The files one delete touches, all under the lineage. */
struct ref_files {
	char *ref, *lock, *logs, *log, *packed, *plock;
};

static int ref_files_make(struct ref_files *f, const char *lineage,
			  const char *full)
{
	if (asprintf(&f->ref, "%s/%s", lineage, full) < 0 ||
	    asprintf(&f->lock, "%s.lock", f->ref) < 0 ||
	    asprintf(&f->logs, "%s/logs", lineage) < 0 ||
	    asprintf(&f->log, "%s/%s", f->logs, full) < 0 ||
	    asprintf(&f->packed, "%s/packed-refs", lineage) < 0 ||
	    asprintf(&f->plock, "%s.lock", f->packed) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}

static void ref_files_free(struct ref_files *f)
{
	free(f->ref);
	free(f->lock);
	free(f->logs);
	free(f->log);
	free(f->packed);
	free(f->plock);
}

/* Deletes prefix+name, when `expected` is not NULL only if it names
 * `expected` (checked under the ref's lock). */
static int ref_delete(dsv_lineage *l, const char *prefix, const char *name,
		      const dsv_aid *expected)
{
	char full[512], label[300];
	struct ref_files f = {0};
	dsv_buf loose = {0};
	int rc, is_loose, locked = 0, plocked = 0;

	if ((rc = dsv_lineage_name_validate(name)) < 0)
		return rc;
	snprintf(full, sizeof full, "%s%s", prefix, name);
	ref_label(label, sizeof label, full);
	if ((rc = ref_files_make(&f, l->path, full)) < 0)
		goto cleanup;
	/* 100 ms for the ref's lock (core.filesRefLockTimeout), a second for
	 * packed-refs.lock (core.packedRefsTimeout), as git waits */
	if ((rc = lock_take(f.lock, strlen(f.ref) - strlen(name), 100,
			    label)) < 0)
		goto cleanup;
	locked = 1;
	if ((rc = file_read(f.ref, &loose)) < 0 && rc != DSV_ENOTFOUND)
		goto cleanup;
	if (rc == 0 && loose.len >= 4 && !memcmp(loose.buf, "ref:", 4)) {
		rc = dsv_error_set(DSV_EINVAL, "%s is a symbolic ref ('%s'), "
				   "which dsv does not make: not deleted",
				   label, f.ref);
		goto cleanup;
	}
	is_loose = rc == 0;
	if (is_loose && (rc = value_check(label, loose.buf, loose.len,
					  expected)) < 0)
		goto cleanup;
	if ((rc = lock_take(f.plock, 0, 1000, "packed-refs")) < 0)
		goto cleanup;
	plocked = 1;
	/* a loose ref's value is its file's; a packed copy is stale */
	if ((rc = packed_remove(f.packed, full, label,
				is_loose ? NULL : expected)) < 0)
		goto cleanup;
	if (!is_loose && !rc) {
		rc = DSV_ENOTFOUND;
		goto cleanup;
	}
	rc = 0;
	/* A reflog that cannot be removed is left, as git leaves it (with a
	 * warning): the ref is what matters. */
	if (unlink(f.log) == 0)
		remove_empty_parents(f.logs, full);
	if (is_loose && unlink(f.ref) < 0)
		rc = dsv_error_set(DSV_EIO, "cannot remove '%s': %s", f.ref,
				   strerror(errno));
cleanup:
	if (plocked)
		unlink(f.plock);
	if (locked) {
		unlink(f.lock);
		remove_empty_parents(l->path, full);
	}
	ref_files_free(&f);
	dsv_buf_free(&loose);
	if (rc == DSV_ENOTFOUND)
		return dsv_error_set(DSV_ENOTFOUND, "no %s", label);
	return rc;
}

int dsv_lineage_ref_delete(dsv_lineage *l, const char *ref,
			   const dsv_aid *expected)
{
	/* "refs/<kind>/" is the part that always stays */
	const char *kind = strncmp(ref, "refs/", 5) ? NULL : strchr(ref + 5, '/');
	char prefix[64];

	if (!kind || kind == ref + 5 || (size_t)(kind - ref) + 1 >= sizeof prefix)
		return dsv_error_set(DSV_EINVAL, "invalid ref name '%s'", ref);
	snprintf(prefix, sizeof prefix, "%.*s", (int)(kind - ref) + 1, ref);
	return ref_delete(l, prefix, kind + 1, expected);
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
	return ref_delete(l, "refs/heads/", name, NULL);
}

int dsv_lineage_tag_create(dsv_lineage *l, const char *name, const char *rev,
			   int force)
{
	return ref_create(l, "refs/tags/", name, rev, force);
}

int dsv_lineage_tag_delete(dsv_lineage *l, const char *name)
{
	return ref_delete(l, "refs/tags/", name, NULL);
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

int dsv_lineage_remote_ref_list(dsv_lineage *l, dsv_refinfo **out, size_t *n)
{
	return ref_list(l, "refs/remotes/", out, n);
}

int dsv_lineage_is_ancestor(dsv_lineage *l, const dsv_aid *a,
			    const dsv_aid *b)
{
	git_oid ga, gb;
	int rc;
	if (!dsv_aid_cmp(a, b))
		return 1;
	dsv_aid_to_git(&ga, a);
	dsv_aid_to_git(&gb, b);
	rc = git_graph_descendant_of(l->repo, &gb, &ga);
	if (rc < 0) {
		char ha[DSV_AID_SHORTLEN + 1], hb[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(ha, a);
		dsv_aid_short(hb, b);
		return dsv_git_error(dsv_git_code(rc), "cannot compare %s and "
				     "%s", ha, hb);
	}
	return rc;
}

void dsv_refinfo_free(dsv_refinfo *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		free(r[i].name);
	free(r);
}
