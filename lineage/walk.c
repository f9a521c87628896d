/* walk.c: walking the lineage newest first (dsv log) and over every ancestor
 * once (dsv audit), on libgit2's revision walker, which marks each commit it
 * has queued so a commit reached by two paths comes out once.
 */
#include "lineage/internal.h"

#include <stdlib.h>

struct dsv_walk {
	git_revwalk *rw;
};

int dsv_walk_new(dsv_walk **out, dsv_lineage *l, const dsv_aid *starts,
		 size_t nstarts, unsigned flags)
{
	dsv_walk *w = NULL;
	/* Always topological: dsv often records several commits within one
	 * second, and a time sort alone could then list a parent before its
	 * child. Time orders the commits the topology leaves free. */
	unsigned sort = GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME;
	int rc = 0;

	*out = NULL;
	if (!(w = calloc(1, sizeof *w)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (git_revwalk_new(&w->rw, l->repo) < 0) {
		rc = dsv_git_error(DSV_EIO, "cannot start a walk");
		goto cleanup;
	}
	git_revwalk_sorting(w->rw, sort);
	if (flags & DSV_WALK_FIRST_PARENT)
		git_revwalk_simplify_first_parent(w->rw);
	for (size_t i = 0; i < nstarts; i++) {
		git_oid oid;
		int grc;
		dsv_aid_to_git(&oid, &starts[i]);
		if ((grc = git_revwalk_push(w->rw, &oid)) < 0) {
			char hex[DSV_AID_HEXLEN + 1];
			dsv_aid_fmt(hex, &starts[i]);
			rc = dsv_git_error(dsv_git_code(grc),
					   "cannot walk from %s", hex);
			goto cleanup;
		}
	}
	*out = w;
	return 0;
cleanup:
	dsv_walk_free(w);
	return rc;
}

int dsv_walk_next(dsv_walk *w, dsv_aid *id)
{
	git_oid oid;
	int rc = git_revwalk_next(&oid, w->rw);
	if (rc == GIT_ITEROVER) {
		git_error_clear();
		return 0;
	}
	if (rc < 0)
		return dsv_git_error(dsv_git_code(rc) == DSV_ENOTFOUND
					     ? DSV_ECORRUPT
					     : dsv_git_code(rc),
				     "walking the lineage");
	dsv_aid_from_git(id, &oid);
	return 1;
}

void dsv_walk_free(dsv_walk *w)
{
	if (!w)
		return;
	git_revwalk_free(w->rw);
	free(w);
}
