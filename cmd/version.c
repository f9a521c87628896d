/* version.c: the commands' one way to turn a revision argument into an
 * artifact and a dataset version, so every command names them alike, and
 * to name a field of a record's meta.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int resolve_rev(const char *rev, dsv_aid *out)
{
	if (!rev) {
		int rc = dsv_lineage_head(the_repo->lineage, out);
		if (rc == DSV_ENOTFOUND)
			return dsv_error_set(rc, "no versions yet: run 'dsv "
						 "commit FILES -m MSG' first");
		return rc;
	}
	return dsv_lineage_resolve(the_repo->lineage, rev, out);
}

int load_version(const char *rev, dsv_aid *id, dsv_manifest **m)
{
	int rc = resolve_rev(rev, id);
	return rc ? rc : dsv_dataset_manifest(m, the_repo->lineage, id);
}

json_t *meta_get(json_t *meta, const char *path)
{
	json_t *j = meta;
	for (const char *p = path; *p;) {
		if (!json_is_object(j))
			return NULL;
		json_t *whole = json_object_get(j, p);
		const char *dot = strchr(p, '.');
		if (whole || !dot)
			return whole;
		j = json_object_getn(j, p, (size_t)(dot - p));
		p = dot + 1;
	}
	return j; /* a path ending in '.' names the value it reached */
}
