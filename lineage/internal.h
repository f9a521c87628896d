/* internal.h: what the files of lineage/ share; included only by them.
 * The repository handle's layout and the libgit2 error translation live here
 * so that no git_* type leaks through lineage.h.
 */
#ifndef DSV_LINEAGE_INTERNAL_H
#define DSV_LINEAGE_INTERNAL_H

#include <string.h>

#include <git2.h>

#include "lineage/lineage.h"

/* One commit as log and audit see it (lineage/cache.c). Entries are owned
 * by the handle's cache and live until dsv_lineage_free. */
typedef struct {
	dsv_aid id;
	uint32_t nparents;
	dsv_aid *parents;
	int64_t time;        /* committer time: orders the walk */
	int64_t author_time;
	int32_t tz;          /* author's offset, minutes east of UTC */
	const char *author_name, *author_email, *message;
	int has_artifact;    /* dsv.json was read and valid */
	dsv_kind kind;
	char op[DSV_ARTIFACT_NAME_MAX];
	int has_compute;
	dsv_compute compute;
	int64_t records;     /* stats.records, -1 when absent */
	int64_t text_bytes;  /* stats.text_bytes, -1 when absent */
} dsv_centry;

typedef struct {
	char *file;
	int enabled;          /* 0 with $DSV_NO_LINEAGE_CACHE: no file use */
	int append;           /* enabled, and the lineage can be written */
	size_t n, cap;        /* open addressing, cap a power of two */
	dsv_centry **slots;
	dsv_buf pending;      /* framed records not yet appended */
} dsv_cache;

struct dsv_lineage {
	git_repository *repo;
	char *path;
	dsv_cache *cache;     /* loaded on first use */
};

/* The entry for a commit, from the cache or read from git (then queued for
 * appending). Borrowed, valid until dsv_lineage_free. */
int dsv_cache_get(const dsv_centry **out, dsv_lineage *l, const dsv_aid *id);
/* Appends queued entries to the cache file; failures are ignored. */
int dsv_cache_flush(dsv_cache *c);
void dsv_cache_free(dsv_cache *c);

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
