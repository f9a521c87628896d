/* repo.c: opening and creating the bare lineage repository, artifact ids,
 * the author dsv writes, and the translation of libgit2's errors into dsv's.
 */
#include <string.h>

#include "lineage/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---- ids ----------------------------------------------------------------- */

int dsv_aid_parse(dsv_aid *out, const char *hex, size_t len)
{
	return dsv_hex_parse(out->b, sizeof out->b, hex, len, "artifact id");
}

void dsv_aid_fmt(char out[DSV_AID_HEXLEN + 1], const dsv_aid *id)
{
	dsv_hex_fmt(out, id->b, sizeof id->b);
}

void dsv_aid_short(char out[DSV_AID_SHORTLEN + 1], const dsv_aid *id)
{
	char full[DSV_AID_HEXLEN + 1];
	dsv_aid_fmt(full, id);
	memcpy(out, full, DSV_AID_SHORTLEN);
	out[DSV_AID_SHORTLEN] = '\0';
}

int dsv_aid_cmp(const dsv_aid *a, const dsv_aid *b)
{
	return memcmp(a->b, b->b, sizeof a->b);
}

int dsv_aid_is_zero(const dsv_aid *id)
{
	for (size_t i = 0; i < sizeof id->b; i++)
		if (id->b[i])
			return 0;
	return 1;
}

/* ---- errors -------------------------------------------------------------- */

int dsv_git_code(int gitrc)
{
	switch (gitrc) {
	case GIT_ENOTFOUND:
	case GIT_EUNBORNBRANCH:
		return DSV_ENOTFOUND;
	case GIT_EEXISTS:
		return DSV_EEXISTS;
	case GIT_EMODIFIED:
	case GIT_ELOCKED:
		return DSV_ECONFLICT;
	case GIT_EAMBIGUOUS:
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID:
		return DSV_EINVAL;
	default:
		return DSV_EIO;
	}
}

int dsv_git_error(int code, const char *fmt, ...)
{
	char what[512];
	const git_error *e = git_error_last();
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return dsv_error_set(code, "%s: %s", what,
			     e && e->message ? e->message : "libgit2 error");
}

/* ---- the library --------------------------------------------------------- */

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static int git_init_rc;

static void git_init(void)
{
	git_init_rc = git_libgit2_init();
	if (git_init_rc >= 0)
		git_init_rc = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

static int ensure_git(void)
{
	pthread_once(&git_once, git_init);
	if (git_init_rc < 0)
		return dsv_git_error(DSV_EIO, "cannot initialise libgit2");
	return 0;
}

/* ---- the repository ------------------------------------------------------ */

int dsv_lineage_init(const char *path)
{
	git_repository *repo = NULL;
	git_repository_init_options o;
	struct stat st;
	char head[4096];
	int rc;

	if ((rc = ensure_git()) < 0)
		return rc;
	git_repository_init_options_init(&o,
					 GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	snprintf(head, sizeof head, "%s/HEAD", path);
	if (stat(head, &st) == 0)
		return dsv_error_set(DSV_EEXISTS,
				     "'%s' is already a lineage repository",
				     path);
	o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
		  GIT_REPOSITORY_INIT_NO_REINIT;
	o.initial_head = "main";
	o.description = "dsv lineage: one commit per artifact\n";
	if (git_repository_init_ext(&repo, path, &o) < 0)
		return dsv_git_error(DSV_EIO, "cannot create lineage at '%s'",
				     path);
	git_repository_free(repo);
	return 0;
}

int dsv_lineage_open(dsv_lineage **out, const char *path)
{
	dsv_lineage *l = NULL;
	int rc;

	*out = NULL;
	if ((rc = ensure_git()) < 0)
		return rc;
	if (!(l = calloc(1, sizeof *l)) || !(l->path = strdup(path))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = git_repository_open_bare(&l->repo, path)) < 0) {
		rc = dsv_git_error(rc == GIT_ENOTFOUND ? DSV_ENOTFOUND : DSV_EIO,
				   "cannot open lineage '%s'", path);
		goto cleanup;
	}
	*out = l;
	return 0;
cleanup:
	dsv_lineage_free(l);
	return rc;
}

void dsv_lineage_free(dsv_lineage *l)
{
	if (!l)
		return;
	dsv_cache_flush(l->cache);
	dsv_cache_free(l->cache);
	git_repository_free(l->repo);
	free(l->path);
	free(l);
}

const char *dsv_lineage_path(const dsv_lineage *l)
{
	return l->path;
}

/* ---- the author ---------------------------------------------------------- */

static int author_from_config(char **out)
{
	git_config *cfg = NULL;
	git_buf name = GIT_BUF_INIT, email = GIT_BUF_INIT;
	int rc = DSV_ENOTFOUND;

	if (git_config_open_default(&cfg) < 0)
		goto cleanup;
	if (git_config_get_string_buf(&name, cfg, "user.name") < 0 ||
	    git_config_get_string_buf(&email, cfg, "user.email") < 0)
		goto cleanup;
	if (asprintf(out, "%s <%s>", name.ptr, email.ptr) < 0) {
		*out = NULL;
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = 0;
cleanup:
	git_error_clear();
	git_buf_dispose(&name);
	git_buf_dispose(&email);
	git_config_free(cfg);
	return rc;
}

int dsv_lineage_author(char **out)
{
	const char *env = getenv("DSV_AUTHOR");
	int rc;

	*out = NULL;
	if ((rc = ensure_git()) < 0)
		return rc;
	if (env && *env) {
		const char *lt = strchr(env, '<'), *gt = strrchr(env, '>');
		if (!lt || !gt || gt < lt || lt == env)
			return dsv_error_set(DSV_EINVAL,
					     "DSV_AUTHOR must be 'Name <email>', "
					     "not '%s'", env);
		if (!(*out = strdup(env)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		return 0;
	}
	if (author_from_config(out) == 0)
		return 0;
	if (*out == NULL && !(*out = strdup("dsv <dsv@localhost>")))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}
