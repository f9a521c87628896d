/* version.c: the commands' one way to turn a revision argument into an
 * artifact and a dataset version, so every command names them alike, and
 * to name a field of a record's meta.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A name that is both a tag and a branch means the tag (git's order), so a
 * version written with -o NAME hides behind an older tag: say so, as git
 * does, and how to name the branch. */
static void warn_ambiguous(const char *rev)
{
	int n = (int)strcspn(rev, "~^:@");
	char ref[DSV_REV_MAX + 16];
	dsv_aid id;
	snprintf(ref, sizeof ref, "refs/heads/%.*s", n, rev);
	if (n == 0 || dsv_lineage_ref_get(the_repo->lineage, ref, &id))
		return;
	snprintf(ref, sizeof ref, "refs/tags/%.*s", n, rev);
	if (dsv_lineage_ref_get(the_repo->lineage, ref, &id) == 0)
		fprintf(stderr, "dsv: warning: '%.*s' is both a tag and a "
			"branch: it names the tag ('heads/%.*s' names the "
			"branch)\n", n, rev, n, rev);
}

int resolve_rev(const char *rev, dsv_aid *out)
{
	if (!rev) {
		int rc = dsv_lineage_head(the_repo->lineage, out);
		if (rc == DSV_ENOTFOUND)
			return dsv_error_set(rc, "no versions yet: run 'dsv "
						 "commit FILES -m MSG' first");
		return rc;
	}
	int rc = dsv_lineage_resolve(the_repo->lineage, rev, out);
	if (rc == 0)
		warn_ambiguous(rev);
	else if (strstr(rev, ".."))
		rc = dsv_error_set(rc, "'%s' is a range: this command takes "
				   "versions, not ranges ('dsv diff A B' "
				   "compares two)", rev);
	return rc;
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
