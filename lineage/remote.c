/* remote.c: remotes that are paths to other dsv repositories: their config
 * (kept as git keeps it, in the lineage repository's config), fetch
 * (lineage objects through libgit2's local transport, store objects through
 * dsv_store_transfer, then the refs), push (store objects, lineage objects
 * into the remote's odb, then the remote's refs by compare-and-swap) and the
 * fast-forward of a branch to its upstream (docs/remotes.md).
 */
#include "lineage/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- where a remote is --------------------------------------------------- */

static int is_dsv_dir(const char *dir)
{
	char path[PATH_MAX + 32];
	struct stat st;
	snprintf(path, sizeof path, "%s/lineage/HEAD", dir);
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	snprintf(path, sizeof path, "%s/objects", dir);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int dsv_remote_resolve(const char *path, char **dsv_dir, char **url)
{
	char abs[PATH_MAX], sub[PATH_MAX + 8];
	struct stat st;
	const char *p = path;

	*dsv_dir = NULL;
	if (url)
		*url = NULL;
	if (!p || !*p)
		return dsv_error_set(DSV_EINVAL, "empty remote path");
	if (!strncmp(p, "file://", 7))
		p += 7;
	else if (strstr(p, "://"))
		return dsv_error_set(DSV_EINVAL, "remote '%s': only paths are "
				     "supported (a local disk or a shared "
				     "filesystem)", path);
	if (!realpath(p, abs))
		return dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
				     "remote '%s': %s", path, strerror(errno));
	if (stat(abs, &st) || !S_ISDIR(st.st_mode))
		return dsv_error_set(DSV_EINVAL, "remote '%s' is not a "
				     "directory", path);
	snprintf(sub, sizeof sub, "%s/.dsv", abs);
	const char *dir = is_dsv_dir(sub) ? sub : is_dsv_dir(abs) ? abs : NULL;
	if (!dir)
		return dsv_error_set(DSV_ENOTFOUND, "remote '%s' is not a dsv "
				     "repository (no .dsv there)", path);
	if (!(*dsv_dir = strdup(dir)) || (url && !(*url = strdup(abs)))) {
		free(*dsv_dir);
		*dsv_dir = NULL;
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- the config ---------------------------------------------------------- */

static int remote_lookup(git_remote **out, dsv_lineage *l, const char *name)
{
	int valid = 0;
	*out = NULL;
	if (!name || git_remote_name_is_valid(&valid, name) < 0 || !valid) {
		git_error_clear();
		return dsv_error_set(DSV_EINVAL, "invalid remote name '%s'",
				     name ? name : "");
	}
	int rc = git_remote_lookup(out, l->repo, name);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		return dsv_error_set(DSV_ENOTFOUND, "no remote '%s' ('dsv "
				     "remote add %s PATH' adds one)", name,
				     name);
	}
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc), "cannot read remote "
				     "'%s'", name);
	return 0;
}

void dsv_remote_info_free(dsv_remote_info *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].url);
	}
	free(r);
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const dsv_remote_info *)a)->name,
		      ((const dsv_remote_info *)b)->name);
}

int dsv_remote_list(dsv_lineage *l, dsv_remote_info **out, size_t *n)
{
	git_strarray names = {0};
	dsv_remote_info *v = NULL;
	size_t k = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (git_remote_list(&names, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot list remotes");
	if (names.count && !(v = dsv_malloc(names.count * sizeof *v))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < names.count; i++) {
		git_remote *r = NULL;
		if (git_remote_lookup(&r, l->repo, names.strings[i]) < 0) {
			git_error_clear();
			continue;
		}
		const char *url = git_remote_url(r);
		v[k].name = strdup(names.strings[i]);
		v[k].url = strdup(url ? url : "");
		git_remote_free(r);
		if (!v[k].name || !v[k].url) {
			k++;
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		k++;
	}
	if (k)
		qsort(v, k, sizeof *v, cmp_info);
	*out = v;
	*n = k;
	v = NULL;
	k = 0;
cleanup:
	dsv_remote_info_free(v, k);
	git_strarray_dispose(&names);
	return rc;
}

int dsv_remote_add(dsv_lineage *l, const char *name, const char *url)
{
	git_remote *r = NULL;
	char *dir = NULL, *abs = NULL;
	int valid = 0, rc;

	if (!name || git_remote_name_is_valid(&valid, name) < 0 || !valid) {
		git_error_clear();
		return dsv_error_set(DSV_EINVAL, "invalid remote name '%s'",
				     name ? name : "");
	}
	if (git_remote_lookup(&r, l->repo, name) == 0) {
		git_remote_free(r);
		return dsv_error_set(DSV_EEXISTS, "remote '%s' already exists",
				     name);
	}
	git_error_clear();
	if ((rc = dsv_remote_resolve(url, &dir, &abs)))
		return rc;
	/* git_remote_create writes remote.NAME.url and the default fetch
	 * refspec +refs/heads/...:refs/remotes/NAME/... */
	if (git_remote_create(&r, l->repo, name, abs) < 0)
		rc = dsv_git_error(DSV_EIO, "cannot add remote '%s'", name);
	git_remote_free(r);
	free(dir);
	free(abs);
	return rc;
}

int dsv_remote_remove(dsv_lineage *l, const char *name)
{
	git_remote *r = NULL;
	int rc = remote_lookup(&r, l, name);
	git_remote_free(r);
	if (rc)
		return rc;
	/* its refs/remotes/NAME/..., remote.NAME.* and the branch.*.remote
	 * settings naming it go, as with git remote remove */
	if (git_remote_delete(l->repo, name) < 0)
		return dsv_git_error(DSV_EIO, "cannot remove remote '%s'", name);
	return 0;
}

int dsv_remote_url(dsv_lineage *l, const char *name, char **url)
{
	git_remote *r = NULL;
	int rc = remote_lookup(&r, l, name);
	*url = NULL;
	if (!rc && !(*url = strdup(git_remote_url(r) ? git_remote_url(r) : "")))
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	git_remote_free(r);
	return rc;
}

static int config_get(git_config *cfg, const char *key, char **out)
{
	git_buf b = GIT_BUF_INIT;
	int rc = git_config_get_string_buf(&b, cfg, key);
	*out = NULL;
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		return DSV_ENOTFOUND;
	}
	if (rc < 0)
		return dsv_git_error(DSV_EIO, "cannot read '%s'", key);
	*out = strdup(b.ptr);
	git_buf_dispose(&b);
	return *out ? 0 : dsv_error_set(DSV_ENOMEM, "out of memory");
}

int dsv_branch_upstream(dsv_lineage *l, const char *branch, char **remote,
			char **rbranch)
{
	git_config *cfg = NULL;
	char key[512], *merge = NULL;
	int rc;

	*remote = *rbranch = NULL;
	if (git_repository_config_snapshot(&cfg, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot read the lineage config");
	snprintf(key, sizeof key, "branch.%s.remote", branch);
	if ((rc = config_get(cfg, key, remote)))
		goto cleanup;
	snprintf(key, sizeof key, "branch.%s.merge", branch);
	if ((rc = config_get(cfg, key, &merge)))
		goto cleanup;
	const char *m = strncmp(merge, "refs/heads/", 11) ? merge : merge + 11;
	if (!(*rbranch = strdup(m)))
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
cleanup:
	if (rc == DSV_ENOTFOUND)
		rc = dsv_error_set(rc, "branch '%s' has no upstream", branch);
	if (rc) {
		free(*remote);
		*remote = NULL;
	}
	free(merge);
	git_config_free(cfg);
	return rc;
}

int dsv_branch_set_upstream(dsv_lineage *l, const char *branch,
			    const char *remote, const char *rbranch)
{
	git_config *cfg = NULL;
	char key[512], merge[512];
	int rc = 0;

	if (git_repository_config(&cfg, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot open the lineage config");
	snprintf(key, sizeof key, "branch.%s.remote", branch);
	snprintf(merge, sizeof merge, "refs/heads/%s", rbranch);
	if (git_config_set_string(cfg, key, remote) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot set '%s'", key);
		goto cleanup;
	}
	snprintf(key, sizeof key, "branch.%s.merge", branch);
	if (git_config_set_string(cfg, key, merge) < 0)
		rc = dsv_git_error(DSV_EIO, "cannot set '%s'", key);
cleanup:
	git_config_free(cfg);
	return rc;
}

int dsv_remote_checkout(dsv_lineage *l, const char *remote, const char *name,
			int *detached)
{
	char ref[600];
	dsv_aid id;
	git_oid gid;
	int rc;

	*detached = 0;
	if ((rc = dsv_lineage_name_validate(name)))
		return rc;
	snprintf(ref, sizeof ref, "refs/remotes/%s/%s", remote, name);
	if (dsv_lineage_ref_get(l, ref, &id) == 0)
		return dsv_lineage_branch_create(l, name, ref, 0) ||
		       dsv_branch_set_upstream(l, name, remote, name) ||
		       dsv_lineage_set_head(l, name) ? dsv_error_code() : 0;
	/* a tag: HEAD detached at its commit, as git clone --branch TAG */
	snprintf(ref, sizeof ref, "refs/tags/%s", name);
	if (dsv_lineage_ref_get(l, ref, &id) ||
	    dsv_lineage_resolve(l, ref, &id)) {
		dsv_error_clear();
		return dsv_error_set(DSV_ENOTFOUND, "remote branch '%s' not "
				     "found in upstream '%s'", name, remote);
	}
	dsv_aid_to_git(&gid, &id);
	if (git_repository_set_head_detached(l->repo, &gid) < 0)
		return dsv_git_error(DSV_EIO, "cannot detach HEAD at tag '%s'",
				     name);
	*detached = 1;
	return 0;
}

int dsv_remote_tracking_find(dsv_lineage *l, const char *name, char **remote,
			     size_t *count)
{
	dsv_remote_info *r = NULL;
	size_t nr = 0;
	int rc = dsv_remote_list(l, &r, &nr);

	*remote = NULL;
	*count = 0;
	for (size_t i = 0; !rc && i < nr; i++) {
		char ref[600];
		dsv_aid id;
		snprintf(ref, sizeof ref, "refs/remotes/%s/%s", r[i].name, name);
		if (dsv_lineage_ref_get(l, ref, &id)) {
			dsv_error_clear();
			continue;
		}
		if (!(*count)++ && !(*remote = strdup(r[i].name)))
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	dsv_remote_info_free(r, nr);
	return rc;
}

/* ---- results ------------------------------------------------------------- */

void dsv_remote_result_free(dsv_remote_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nrefs; i++) {
		free(r->refs[i].src);
		free(r->refs[i].dst);
	}
	free(r->refs);
	free(r->head);
	free(r->url);
	free(r->index_error);
	memset(r, 0, sizeof *r);
}

static int result_add(dsv_remote_result *r, size_t *cap, const char *src,
		      const char *dst, int is_tag, const git_oid *target)
{
	int rc = DSV_ARRAY_GROW(r->refs, *cap, r->nrefs + 1, 8);
	if (rc)
		return rc;
	dsv_ref_update *u = &r->refs[r->nrefs];
	memset(u, 0, sizeof *u);
	u->is_tag = is_tag;
	dsv_aid_from_git(&u->new_id, target);
	if (!(u->src = strdup(src)) || !(u->dst = strdup(dst))) {
		free(u->src);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	r->nrefs++;
	return 0;
}

/* 1 when u sets its ref to u->new_id (a deletion does not). */
static int moves(const dsv_ref_update *u)
{
	return u->status == DSV_REF_NEW || u->status == DSV_REF_FASTFORWARD ||
	       u->status == DSV_REF_FORCED;
}

/* A deletion of `dst` (a full ref) that held `old`, added to r. */
static int result_add_delete(dsv_remote_result *r, size_t *cap,
			     const char *src, const char *dst, int is_tag,
			     const dsv_aid *old)
{
	git_oid zero = {{0}};
	int rc = result_add(r, cap, src, dst, is_tag, &zero);
	if (rc)
		return rc;
	dsv_ref_update *u = &r->refs[r->nrefs - 1];
	u->is_delete = 1;
	u->status = DSV_REF_DELETED;
	u->had_old = 1;
	u->old_id = *old;
	return 0;
}

/* Sets u's old value from ref u->dst of `l` and its status: a tag that
 * exists elsewhere is rejected unless `force`, a branch is new, up to
 * date, a fast-forward, or (when `ff_only`, unless `force`) rejected. */
static int classify(dsv_lineage *l, dsv_ref_update *u, int ff_only,
		    int force)
{
	int rc = dsv_lineage_ref_get(l, u->dst, &u->old_id);
	if (rc == DSV_ENOTFOUND) {
		dsv_error_clear();
		u->status = DSV_REF_NEW;
		return 0;
	}
	if (rc)
		return rc;
	u->had_old = 1;
	if (!dsv_aid_cmp(&u->old_id, &u->new_id)) {
		u->status = DSV_REF_UPTODATE;
		return 0;
	}
	if (u->is_tag && !force) {
		u->status = DSV_REF_REJECTED;
		u->why = "already exists";
		return 0;
	}
	rc = dsv_lineage_is_ancestor(l, &u->old_id, &u->new_id);
	if (rc == DSV_ENOTFOUND) {
		/* the old commit is not here: it cannot be an ancestor */
		dsv_error_clear();
		rc = 0;
	}
	if (rc < 0)
		return rc;
	u->status = rc ? DSV_REF_FASTFORWARD : DSV_REF_FORCED;
	if (!rc && ff_only && !force) {
		u->status = DSV_REF_REJECTED;
		u->why = "non-fast-forward";
	}
	return 0;
}

/* ---- the commits to send ------------------------------------------------- */

/* The commits that the moving refs' new targets reach and that `hide`
 * (each commit it lists, or every ref of the repository with hide_refs)
 * does not, oldest first. Targets that are not commits are skipped. */
static int new_commits(dsv_lineage *l, const dsv_remote_result *r,
		       const git_oid *hide, size_t nhide, int hide_refs,
		       dsv_aid **out, size_t *n)
{
	git_revwalk *w = NULL;
	git_oid id;
	size_t cap = 0, pushed = 0;
	int rc = 0, grc;

	*out = NULL;
	*n = 0;
	if (git_revwalk_new(&w, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot walk the lineage");
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		git_object *o = NULL, *c = NULL;
		if (!moves(u))
			continue;
		dsv_aid_to_git(&id, &u->new_id);
		if (git_object_lookup(&o, l->repo, &id, GIT_OBJECT_ANY) < 0 ||
		    git_object_peel(&c, o, GIT_OBJECT_COMMIT) < 0) {
			git_error_clear();
			git_object_free(o);
			continue;
		}
		grc = git_revwalk_push(w, git_object_id(c));
		git_object_free(c);
		git_object_free(o);
		if (grc < 0) {
			rc = dsv_git_error(DSV_EIO, "cannot walk from '%s'",
					   u->src);
			goto cleanup;
		}
		pushed++;
	}
	if (!pushed)
		goto cleanup;
	if (hide_refs && git_revwalk_hide_glob(w, "refs/*") < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot walk the lineage");
		goto cleanup;
	}
	if (hide_refs && git_revwalk_hide_head(w) < 0)
		git_error_clear(); /* unborn: nothing to hide */
	for (size_t i = 0; i < nhide; i++)
		if (git_revwalk_hide(w, &hide[i]) < 0) {
			rc = dsv_git_error(DSV_EIO, "cannot walk the lineage");
			goto cleanup;
		}
	while ((grc = git_revwalk_next(&id, w)) == 0) {
		if ((rc = DSV_ARRAY_GROW(*out, cap, *n + 1, 64)))
			goto cleanup;
		dsv_aid_from_git(&(*out)[(*n)++], &id);
	}
	if (grc != GIT_ITEROVER)
		rc = dsv_git_error(DSV_EIO, "cannot walk the lineage");
cleanup:
	git_error_clear();
	git_revwalk_free(w);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Deletes each accepted deletion of r in `l`, then moves each accepted
 * ref, all by compare-and-swap; deletions first, as git prunes before it
 * updates (a deleted "a" makes room for a new "a/b"). */
static int move_refs(dsv_lineage *l, dsv_remote_result *r, const char *log)
{
	for (size_t i = 0; i < r->nrefs; i++) {
		dsv_ref_update *u = &r->refs[i];
		int rc = u->status == DSV_REF_DELETED
				 ? dsv_lineage_ref_delete(l, u->dst, &u->old_id)
				 : 0;
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < r->nrefs; i++) {
		dsv_ref_update *u = &r->refs[i];
		if (!moves(u))
			continue;
		int rc = dsv_lineage_ref_update(l, u->dst, &u->new_id,
						u->had_old ? &u->old_id : NULL,
						log);
		if (rc)
			return rc;
	}
	return 0;
}

/* Indexes the new commits' versions in s; a failure is kept in r (the
 * refs have moved: a cache short of entries is no damage). */
static void index_new(dsv_lineage *l, dsv_store *s, const dsv_aid *news,
		      size_t n, dsv_remote_result *r)
{
	if (dsv_lineage_index_versions(l, s, news, n) && !r->index_error)
		r->index_error = strdup(dsv_error_last());
	dsv_error_clear();
}

/* ---- fetch --------------------------------------------------------------- */

/* The remote `name`: its handle, made to fetch from the lineage inside the
 * dsv repository its url names, that repository's .dsv, and the url. */
static int remote_open(git_remote **out, dsv_lineage *l, const char *name,
		       char **dsv_dir, char **url)
{
	char *lpath = NULL;
	int rc = remote_lookup(out, l, name);

	*dsv_dir = *url = NULL;
	if (rc)
		return rc;
	if (!(*url = strdup(git_remote_url(*out) ? git_remote_url(*out) : ""))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = dsv_remote_resolve(*url, dsv_dir, NULL))) {
		dsv_error_wrap(rc, "remote '%s'", name);
		goto cleanup;
	}
	if (asprintf(&lpath, "%s/lineage", *dsv_dir) < 0) {
		lpath = NULL;
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (git_remote_set_instance_url(*out, lpath) < 0)
		rc = dsv_git_error(DSV_EIO, "remote '%s'", name);
cleanup:
	free(lpath);
	if (rc) {
		git_remote_free(*out);
		*out = NULL;
		free(*dsv_dir);
		*dsv_dir = NULL;
	}
	return rc;
}

/* The refs the remote advertises that fetch takes: branches to
 * refs/remotes/NAME/..., tags to refs/tags/... (the peeled "^{}" entries
 * of annotated tags are not refs). */
static int fetch_plan(git_remote *rem, const char *name, dsv_remote_result *r,
		      size_t *cap)
{
	const git_remote_head **heads = NULL;
	size_t nheads = 0;
	char dst[1024];
	int rc = 0;

	if (git_remote_ls(&heads, &nheads, rem) < 0)
		return dsv_git_error(DSV_EIO, "cannot list the remote's refs");
	for (size_t i = 0; i < nheads && !rc; i++) {
		const char *ref = heads[i]->name;
		size_t len = strlen(ref);
		if (len > 3 && !strcmp(ref + len - 3, "^{}"))
			continue;
		if (!strncmp(ref, "refs/heads/", 11)) {
			snprintf(dst, sizeof dst, "refs/remotes/%s/%s", name,
				 ref + 11);
			rc = result_add(r, cap, ref + 11, dst, 0,
					&heads[i]->oid);
		} else if (!strncmp(ref, "refs/tags/", 10)) {
			rc = result_add(r, cap, ref + 10, ref, 1,
					&heads[i]->oid);
		}
	}
	return rc;
}

/* The deletions a prune makes: each refs/remotes/NAME/X (but the
 * symbolic NAME/HEAD git may have made) that no branch the remote
 * advertises (r's plan so far) maps to. */
static int prune_plan(dsv_lineage *l, const char *name, dsv_remote_result *r,
		      size_t *cap)
{
	dsv_refinfo *refs = NULL;
	size_t nrefs = 0, len = strlen(name), nplan = r->nrefs;
	char dst[1200];
	int rc = dsv_lineage_remote_ref_list(l, &refs, &nrefs);

	for (size_t i = 0; i < nrefs && !rc; i++) {
		const char *n = refs[i].name;
		int kept = 0;
		if (strncmp(n, name, len) || n[len] != '/' ||
		    !strcmp(n + len, "/HEAD"))
			continue;
		snprintf(dst, sizeof dst, "refs/remotes/%s", n);
		for (size_t k = 0; k < nplan && !kept; k++)
			kept = !r->refs[k].is_tag && !strcmp(r->refs[k].dst, dst);
		if (!kept)
			rc = result_add_delete(r, cap, n + len + 1, dst, 0,
					       &refs[i].target);
	}
	dsv_refinfo_free(refs, nrefs);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The deletions a prune of tags makes: each local tag, by name, that the
 * remote does not advertise (the first nplan entries of r, its plan), made
 * here or fetched, as git's refs/tags/...:refs/tags/... refspec with
 * --prune deletes it. Each deletion expects the ref's own value (an
 * annotated tag's object, not its commit): dsv_lineage_ref_delete's
 * compare-and-swap then refuses a tag moved meanwhile. */
static int prune_tags_plan(dsv_lineage *l, dsv_remote_result *r,
			   size_t nplan, size_t *cap)
{
	git_strarray names = {0};
	int rc = 0;

	if (git_reference_list(&names, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot list the tags");
	/* in name order, as git prints its prunes */
	if (names.count)
		qsort(names.strings, names.count, sizeof *names.strings,
		      cmp_str);
	for (size_t i = 0; i < names.count && !rc; i++) {
		const char *n = names.strings[i];
		git_reference *ref = NULL;
		int kept = 0;
		if (strncmp(n, "refs/tags/", 10))
			continue;
		for (size_t k = 0; k < nplan && !kept; k++)
			kept = r->refs[k].is_tag && !strcmp(r->refs[k].dst, n);
		if (kept)
			continue;
		if (git_reference_lookup(&ref, l->repo, n) < 0) {
			/* deleted since it was listed: nothing to prune */
			git_error_clear();
			continue;
		}
		/* a symbolic tag names another ref, which is not this one's
		 * to delete; dsv makes none */
		if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
			dsv_aid old;
			dsv_aid_from_git(&old, git_reference_target(ref));
			rc = result_add_delete(r, cap, n + 10, n, 1, &old);
		}
		git_reference_free(ref);
	}
	git_strarray_dispose(&names);
	return rc;
}

/* remote.NAME.pruneTags, else fetch.pruneTags: 1 or -1 (-1 too when
 * neither is set, git's default); DSV_EINVAL when the one read is not a
 * boolean, as git refuses it. */
static int prune_tags_config(dsv_lineage *l, const char *name, int *out)
{
	git_config *cfg = NULL;
	char key[512];
	const char *keys[] = {key, "fetch.pruneTags"};
	int rc = 0, v = 0, grc = GIT_ENOTFOUND;

	*out = -1;
	if (git_repository_config_snapshot(&cfg, l->repo) < 0)
		return dsv_git_error(DSV_EIO, "cannot read the lineage config");
	snprintf(key, sizeof key, "remote.%s.pruneTags", name);
	for (size_t i = 0; i < 2 && grc == GIT_ENOTFOUND; i++) {
		grc = git_config_get_bool(&v, cfg, keys[i]);
		if (grc == GIT_ENOTFOUND)
			git_error_clear();
		else if (grc < 0)
			rc = dsv_git_error(DSV_EINVAL, "bad value for '%s' in the "
					   "lineage config", keys[i]);
		else
			*out = v ? 1 : -1;
	}
	git_config_free(cfg);
	return rc;
}

/* libgit2's transfer_progress, handed on to the caller's callback. */
struct lineage_bar {
	void (*fn)(void *ctx, const dsv_fetch_progress *p);
	void *ctx;
};

static int lineage_step(const git_indexer_progress *st, void *payload)
{
	const struct lineage_bar *b = payload;
	dsv_fetch_progress p = {.objects = st->total_objects,
				.received = st->received_objects,
				.bytes = st->received_bytes};
	b->fn(b->ctx, &p);
	return 0;
}

int dsv_remote_fetch(dsv_lineage *l, dsv_store *s, const char *name,
		     const dsv_fetch_opts *o, dsv_remote_result *out)
{
	static char tags_spec[] = "refs/tags/*:refs/tags/*";
	char heads_spec[600], *specv[] = {heads_spec, tags_spec};
	git_strarray specs = {specv, 2};
	git_fetch_options fo;
	git_remote *rem = NULL;
	git_buf head = GIT_BUF_INIT;
	dsv_store *src = NULL;
	dsv_aid *news = NULL;
	dsv_oid *ids = NULL;
	size_t nnew = 0, nids = 0, cap = 0, nplan = 0;
	const dsv_transfer_opts *t = o ? &o->transfer : NULL;
	struct lineage_bar bar = {o ? o->lineage_progress : NULL,
				  o ? o->lineage_ctx : NULL};
	char *dir = NULL;
	int rc, locked = 0, prune = o ? o->prune : 0,
		prune_tags = o ? o->prune_tags : 0;

	memset(out, 0, sizeof *out);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	if (bar.fn) {
		fo.callbacks.transfer_progress = lineage_step;
		fo.callbacks.payload = &bar;
	}
	snprintf(heads_spec, sizeof heads_spec,
		 "+refs/heads/*:refs/remotes/%s/*", name);
	if ((rc = remote_open(&rem, l, name, &dir, &out->url)))
		goto cleanup;
	if (!prune_tags && (rc = prune_tags_config(l, name, &prune_tags)))
		goto cleanup;
	if ((rc = dsv_store_open(&src, dir)) || (rc = dsv_store_writable(s)))
		goto cleanup;
	if ((rc = dsv_store_lock(s)))
		goto cleanup;
	locked = 1;
	/* the callbacks given to the connect too: libgit2 versions differ
	 * in which of the two the local transport's download reports to */
	if (git_remote_connect(rem, GIT_DIRECTION_FETCH, &fo.callbacks, NULL,
			       NULL) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot read remote '%s'", name);
		goto cleanup;
	}
	if ((rc = fetch_plan(rem, name, out, &cap)))
		goto cleanup;
	nplan = out->nrefs;
	/* remote.NAME.prune, else fetch.prune, read when rem was looked up */
	if (!prune)
		prune = git_remote_prune_refs(rem) ? 1 : -1;
	if (git_remote_default_branch(&head, rem) == 0 &&
	    !strncmp(head.ptr, "refs/heads/", 11) &&
	    !(out->head = strdup(head.ptr + 11))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	git_error_clear();
	/* lineage objects first: nothing names them yet */
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if (out->nrefs && git_remote_download(rem, &specs, &fo) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot fetch from '%s'", name);
		goto cleanup;
	}
	git_remote_disconnect(rem);
	for (size_t i = 0; i < out->nrefs && !rc; i++) {
		rc = classify(l, &out->refs[i], 0, 0);
		if (out->refs[i].is_tag && out->refs[i].status ==
		    DSV_REF_REJECTED)
			out->refs[i].why = "would clobber existing tag";
		out->rejected += out->refs[i].status == DSV_REF_REJECTED;
	}
	if (!rc && prune > 0)
		rc = prune_plan(l, name, out, &cap);
	/* git's --prune-tags adds the tags' refspec to what --prune prunes:
	 * without pruning it prunes nothing */
	if (!rc && prune > 0 && prune_tags > 0)
		rc = prune_tags_plan(l, out, nplan, &cap);
	if (rc || (rc = new_commits(l, out, NULL, 0, 1, &news, &nnew)))
		goto cleanup;
	out->commits = nnew;
	/* then the store objects, each checked on arrival; only when all are
	 * here may a ref name them */
	if ((rc = dsv_lineage_objects_of(l, news, nnew, &ids, &nids)) ||
	    (rc = dsv_store_transfer(s, src, ids, nids, t, &out->objects)) ||
	    (rc = move_refs(l, out, "dsv: fetch")))
		goto cleanup;
	index_new(l, s, news, nnew, out);
cleanup:
	if (locked)
		dsv_store_unlock(s);
	git_buf_dispose(&head);
	git_remote_free(rem);
	dsv_store_free(src);
	free(news);
	free(ids);
	free(dir);
	return rc;
}

/* ---- push ---------------------------------------------------------------- */

/* Every ref target of `repo` that `local` holds: the walk's stops (the
 * remote has them and all they reach). */
static int remote_tips(git_repository *repo, git_repository *local,
		       git_oid **out, size_t *n)
{
	git_reference_iterator *it = NULL;
	git_reference *r = NULL;
	git_odb *odb = NULL;
	size_t cap = 0;
	int rc = 0, grc;

	*out = NULL;
	*n = 0;
	if (git_repository_odb(&odb, local) < 0 ||
	    git_reference_iterator_new(&it, repo) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot list the remote's refs");
		goto cleanup;
	}
	while ((grc = git_reference_next(&r, it)) == 0) {
		const git_oid *id = git_reference_target(r);
		if (id && git_odb_exists(odb, id)) {
			git_object *o = NULL;
			/* only commits stop a walk */
			if (git_object_lookup(&o, local, id, GIT_OBJECT_COMMIT) == 0 &&
			    !(rc = DSV_ARRAY_GROW(*out, cap, *n + 1, 16)))
				(*out)[(*n)++] = *id;
			git_object_free(o);
		}
		git_reference_free(r);
		r = NULL;
		if (rc)
			goto cleanup;
	}
	if (grc != GIT_ITEROVER)
		rc = dsv_git_error(DSV_EIO, "cannot list the remote's refs");
cleanup:
	git_error_clear();
	git_reference_iterator_free(it);
	git_odb_free(odb);
	return rc;
}

static int odb_copy(git_odb *from, git_odb *to, const git_oid *id)
{
	git_odb_object *o = NULL;
	git_oid got;
	int rc = 0;
	if (git_odb_exists(to, id))
		return 0;
	if (git_odb_read(&o, from, id) < 0)
		return dsv_git_error(DSV_ECORRUPT, "cannot read lineage object "
				     "%.7s", git_oid_tostr_s(id));
	if (git_odb_write(&got, to, git_odb_object_data(o),
			  git_odb_object_size(o), git_odb_object_type(o)) < 0)
		rc = dsv_git_error(DSV_EIO, "cannot write lineage object %.7s",
				   git_oid_tostr_s(id));
	git_odb_object_free(o);
	return rc;
}

/* A tree after everything in it: a tree there has all it names. */
static int tree_copy(git_repository *repo, git_odb *from, git_odb *to,
		     const git_oid *id, int depth)
{
	git_tree *t = NULL;
	int rc = 0;
	if (git_odb_exists(to, id))
		return 0;
	if (depth > 64)
		return dsv_error_set(DSV_ECORRUPT, "lineage tree %.7s nests too "
				     "deep", git_oid_tostr_s(id));
	if (git_tree_lookup(&t, repo, id) < 0)
		return dsv_git_error(DSV_ECORRUPT, "cannot read lineage tree "
				     "%.7s", git_oid_tostr_s(id));
	for (size_t i = 0; i < git_tree_entrycount(t) && !rc; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = tree_copy(repo, from, to, git_tree_entry_id(e),
				       depth + 1);
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			rc = odb_copy(from, to, git_tree_entry_id(e));
	}
	git_tree_free(t);
	return rc ? rc : odb_copy(from, to, id);
}

/* Writes the commits (oldest first, so a commit is never there before its
 * parents), their trees and blobs into the remote's odb; annotated tags
 * that refs name too. */
static int lineage_copy(dsv_lineage *l, dsv_lineage *rl, const dsv_aid *news,
			size_t n, const dsv_remote_result *r)
{
	git_odb *from = NULL, *to = NULL;
	int rc = 0;
	if (git_repository_odb(&from, l->repo) < 0 ||
	    git_repository_odb(&to, rl->repo) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot open the lineage objects");
		goto cleanup;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		git_commit *c = NULL;
		git_oid id;
		dsv_aid_to_git(&id, &news[i]);
		if (git_odb_exists(to, &id))
			continue;
		if (git_commit_lookup(&c, l->repo, &id) < 0) {
			rc = dsv_git_error(DSV_ECORRUPT, "cannot read commit "
					   "%.7s", git_oid_tostr_s(&id));
			break;
		}
		rc = tree_copy(l->repo, from, to, git_commit_tree_id(c), 0);
		git_commit_free(c);
		if (!rc)
			rc = odb_copy(from, to, &id);
	}
	for (size_t i = 0; i < r->nrefs && !rc; i++) {
		git_oid id;
		dsv_aid_to_git(&id, &r->refs[i].new_id);
		if (moves(&r->refs[i]))
			rc = odb_copy(from, to, &id);
	}
cleanup:
	git_odb_free(from);
	git_odb_free(to);
	return rc;
}

/* A deletion of remote ref `b` ("B", "refs/heads/B" or "refs/tags/T"),
 * its ref found under the remote's lock (push_judge_delete). */
static int plan_delete(dsv_remote_result *r, size_t *cap, const char *b)
{
	int full = !strncmp(b, "refs/heads/", 11) ||
		   !strncmp(b, "refs/tags/", 10);
	const char *shortname = !full ? b : b + (b[5] == 'h' ? 11 : 10);
	char dst[600];
	git_oid zero = {{0}};
	int rc;

	if ((rc = dsv_lineage_name_validate(shortname)))
		return dsv_error_wrap(rc, "cannot delete '%s'", b);
	if (!full && strlen(b) > 5 && !strncmp(b, "refs/", 5))
		return dsv_error_set(DSV_EINVAL, "cannot delete '%s': only "
				     "branches and tags", b);
	snprintf(dst, sizeof dst, "%s%s", full ? "" : "refs/heads/", b);
	if ((rc = result_add(r, cap, shortname, dst, full && b[5] == 't',
			     &zero)))
		return rc;
	r->refs[r->nrefs - 1].is_delete = 1;
	/* "B" alone may still turn out to be a tag */
	r->refs[r->nrefs - 1].had_old = full ? 1 : 0;
	return 0;
}

/* The refs a push moves: each branch ("B", or "LOCAL:REMOTE"), each
 * deletion (":B", or every name with o->del) and, with tags, every tag. */
static int push_plan(dsv_lineage *l, const dsv_push_opts *o,
		     dsv_remote_result *r)
{
	dsv_refinfo *tags = NULL;
	size_t ntags = 0, cap = 0;
	char src[512], dst[600];
	int rc = 0;

	for (size_t i = 0; i < o->nbranches && !rc; i++) {
		const char *b = o->branches[i], *colon = strchr(b, ':');
		dsv_aid id;
		if (o->del && colon)
			return dsv_error_set(DSV_EINVAL, "--delete only accepts "
					     "plain target ref names ('%s')",
					     b);
		if (o->del || colon == b) {
			if ((rc = plan_delete(r, &cap, o->del ? b : b + 1)))
				return rc;
			continue;
		}
		snprintf(src, sizeof src, "%.*s",
			 (int)(colon ? (size_t)(colon - b) : strlen(b)), b);
		const char *to = colon ? colon + 1 : src;
		if ((rc = dsv_lineage_name_validate(src)) ||
		    (rc = dsv_lineage_name_validate(to)))
			return rc;
		snprintf(dst, sizeof dst, "refs/heads/%s", src);
		if (dsv_lineage_ref_get(l, dst, &id))
			return dsv_error_set(DSV_ENOTFOUND, "no branch '%s' to "
					     "push", src);
		git_oid gid;
		dsv_aid_to_git(&gid, &id);
		snprintf(dst, sizeof dst, "refs/heads/%s", to);
		rc = result_add(r, &cap, src, dst, 0, &gid);
	}
	if (!rc && o->tags)
		rc = dsv_lineage_tag_list(l, &tags, &ntags);
	for (size_t i = 0; i < ntags && !rc; i++) {
		git_oid gid;
		dsv_aid_to_git(&gid, &tags[i].target);
		snprintf(dst, sizeof dst, "refs/tags/%s", tags[i].name);
		rc = result_add(r, &cap, tags[i].name, dst, 1, &gid);
	}
	dsv_refinfo_free(tags, ntags);
	return rc;
}

/* After a push, refs/remotes/NAME/B names what the remote's B now names,
 * as git's push updates it, or is gone with a deleted B; a failure here is
 * not the push's. */
static void track_pushed(dsv_lineage *l, const char *name,
			 const dsv_remote_result *r)
{
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		char ref[1200];
		dsv_aid cur;
		if (u->is_tag || u->status == DSV_REF_REJECTED)
			continue;
		snprintf(ref, sizeof ref, "refs/remotes/%s/%s", name,
			 u->dst + 11);
		int had = dsv_lineage_ref_get(l, ref, &cur) == 0;
		if (u->status == DSV_REF_DELETED) {
			if (had)
				dsv_lineage_ref_delete(l, ref, &cur);
			continue;
		}
		if (!had || dsv_aid_cmp(&cur, &u->new_id))
			dsv_lineage_ref_update(l, ref, &u->new_id,
					       had ? &cur : NULL, "dsv: push");
	}
	dsv_error_clear();
}

/* 1 when the remote's lineage config lets its current branch be
 * deleted: receive.denyDeleteCurrent is warn, ignore or false (git's
 * default, unset, refuses). */
static int delete_current_allowed(dsv_lineage *rl)
{
	git_config *cfg = NULL;
	char *v = NULL;
	int yes = 0;
	if (git_repository_config_snapshot(&cfg, rl->repo) < 0) {
		git_error_clear();
		return 0;
	}
	if (config_get(cfg, "receive.denyDeleteCurrent", &v) == 0)
		yes = !strcasecmp(v, "warn") || !strcasecmp(v, "ignore") ||
		      !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		      !strcasecmp(v, "off") || !strcmp(v, "0");
	dsv_error_clear();
	free(v);
	git_config_free(cfg);
	return yes;
}

/* Judges deletion u against the remote `rl`, under its lock: which ref
 * "B" names (its branch, else its tag; both: DSV_EINVAL), its value now
 * (the compare-and-swap's expected value), and whether it may go. */
static int judge_delete(dsv_lineage *rl, dsv_ref_update *u)
{
	char tag[600], *head = NULL;
	dsv_aid tid;
	int rc = dsv_lineage_ref_get(rl, u->dst, &u->old_id);

	if (rc && rc != DSV_ENOTFOUND)
		return rc;
	if (!u->had_old) { /* a short name: a branch, or a tag */
		snprintf(tag, sizeof tag, "refs/tags/%s", u->src);
		int trc = dsv_lineage_ref_get(rl, tag, &tid);
		if (trc && trc != DSV_ENOTFOUND)
			return trc;
		dsv_error_clear();
		if (!rc && !trc)
			return dsv_error_set(DSV_EINVAL, "'%s' matches both a "
					     "branch and a tag on the remote: "
					     "name 'refs/heads/%s' or "
					     "'refs/tags/%s'", u->src, u->src,
					     u->src);
		if (rc && !trc) {
			char *d = strdup(tag);
			if (!d)
				return dsv_error_set(DSV_ENOMEM, "out of memory");
			free(u->dst);
			u->dst = d;
			u->is_tag = 1;
			u->old_id = tid;
			rc = 0;
		}
	}
	dsv_error_clear();
	u->had_old = rc == 0;
	u->status = DSV_REF_REJECTED;
	if (rc) {
		u->why = "remote ref does not exist";
		return 0;
	}
	if (!u->is_tag && dsv_lineage_head_branch(rl, &head) == 0 &&
	    !strcmp(head, u->src) && !delete_current_allowed(rl))
		u->why = "deletion of the current branch prohibited";
	else
		u->status = DSV_REF_DELETED;
	dsv_error_clear();
	free(head);
	return 0;
}

int dsv_remote_push(dsv_lineage *l, dsv_store *s, const char *name,
		    const dsv_push_opts *o, dsv_remote_result *out)
{
	git_remote *rem = NULL;
	dsv_store *dst = NULL;
	dsv_lineage *rl = NULL;
	git_oid *tips = NULL;
	dsv_aid *news = NULL;
	dsv_oid *ids = NULL;
	size_t ntips = 0, nnew = 0, nids = 0;
	char *dir = NULL, *lpath = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = remote_open(&rem, l, name, &dir, &out->url)) ||
	    (rc = push_plan(l, o, out)))
		goto cleanup;
	if ((rc = dsv_store_open(&dst, dir)))
		goto cleanup;
	if ((rc = dsv_store_writable(dst))) {
		dsv_error_wrap(rc, "remote '%s'", name);
		goto cleanup;
	}
	if (asprintf(&lpath, "%s/lineage", dir) < 0) {
		lpath = NULL;
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = dsv_lineage_open(&rl, lpath)))
		goto cleanup;
	/* From before the first object lands until the last ref moves: the
	 * remote's gc (which takes it alone) never sees an object stored
	 * and not yet named. */
	if ((rc = dsv_store_lock(dst)))
		goto cleanup;
	for (size_t i = 0; i < out->nrefs && !rc; i++) {
		dsv_ref_update *u = &out->refs[i];
		if (u->is_delete) {
			rc = judge_delete(rl, u);
			continue;
		}
		/* the remote's old value is judged here, where it may be
		 * unknown (then it is no ancestor: fetch first) */
		if ((rc = dsv_lineage_ref_get(rl, u->dst, &u->old_id)) ==
		    DSV_ENOTFOUND) {
			dsv_error_clear();
			rc = 0;
			u->status = DSV_REF_NEW;
			continue;
		}
		if (rc)
			break;
		u->had_old = 1;
		if (!dsv_aid_cmp(&u->old_id, &u->new_id)) {
			u->status = DSV_REF_UPTODATE;
			continue;
		}
		if (u->is_tag && !o->force) {
			u->status = DSV_REF_REJECTED;
			u->why = "already exists";
			continue;
		}
		int anc = dsv_lineage_is_ancestor(l, &u->old_id, &u->new_id);
		if (anc < 0 && anc != DSV_ENOTFOUND) {
			rc = anc;
			break;
		}
		dsv_error_clear();
		u->status = anc == 1 ? DSV_REF_FASTFORWARD : DSV_REF_FORCED;
		if (anc != 1 && !o->force) {
			u->status = DSV_REF_REJECTED;
			u->why = anc == DSV_ENOTFOUND ? "fetch first"
						      : "non-fast-forward";
		}
	}
	for (size_t i = 0; i < out->nrefs; i++)
		out->rejected += out->refs[i].status == DSV_REF_REJECTED;
	if (rc || (rc = remote_tips(rl->repo, l->repo, &tips, &ntips)) ||
	    (rc = new_commits(l, out, tips, ntips, 0, &news, &nnew)))
		goto cleanup;
	out->commits = nnew;
	if ((rc = dsv_lineage_objects_of(l, news, nnew, &ids, &nids)) ||
	    (rc = dsv_store_transfer(dst, s, ids, nids, &o->transfer,
				     &out->objects)) ||
	    (rc = lineage_copy(l, rl, news, nnew, out)) ||
	    (rc = move_refs(rl, out, "dsv: push")))
		goto cleanup;
	index_new(rl, dst, news, nnew, out);
	track_pushed(l, name, out);
cleanup:
	dsv_store_unlock(dst);
	dsv_lineage_free(rl);
	dsv_store_free(dst);
	git_remote_free(rem);
	free(tips);
	free(news);
	free(ids);
	free(lpath);
	free(dir);
	return rc;
}
