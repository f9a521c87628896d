/* internal.h: what the files of lineage/ share; included only by them.
 * The repository handle's layout and the libgit2 error translation live here
 * so that no git_* type leaks through lineage.h.
 */
#ifndef DSV_LINEAGE_INTERNAL_H
#define DSV_LINEAGE_INTERNAL_H

#include <string.h>

#include <git2.h>

#include "lineage/lineage.h"

struct dsv_lineage {
	git_repository *repo;
	char *path;
};

/* Records libgit2's last error as `code` with "what: <libgit2 text>". */
int dsv_git_error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Maps a libgit2 return code to a DSV_E* code (GIT_ENOTFOUND ->
 * DSV_ENOTFOUND, GIT_EMODIFIED/GIT_ELOCKED -> DSV_ECONFLICT, ...). */
int dsv_git_code(int gitrc);

static inline void dsv_aid_to_git(git_oid *o, const dsv_aid *a)
{
	git_oid_fromraw(o, a->b);
}

static inline void dsv_aid_from_git(dsv_aid *a, const git_oid *o)
{
	memcpy(a->b, o->id, 20);
}

/* Peels a revision string to a commit (validated first). */
int dsv_rev_commit(git_commit **out, dsv_lineage *l, const char *rev);

#endif
