/* fsck.c: `dsv fsck [--rebuild-index]`: verifies every object against its id
 * and its format, and every artifact any ref reaches against the store. */
#include "cmd/cmd.h"

#include <stdio.h>

struct objcheck {
	uint64_t objects, bytes, corrupt, unindexed;
	struct progress *bar;
};

static int check_object(const dsv_oid *id, void *ctx)
{
	struct objcheck *c = ctx;
	dsv_obj_info info;
	char hex[DSV_OID_HEXLEN + 1];
	int rc = dsv_obj_verify(the_repo->store, id, &info);
	/* Listed, then gone: a gc running meanwhile deleted it. Whether an
	 * artifact needed it is the lineage check's to say. */
	if (rc == DSV_ENOTFOUND) {
		dsv_error_clear();
		return 0;
	}
	c->objects++;
	progress_update(c->bar, c->objects);
	if (rc == 0) {
		c->bytes += info.stored_size;
		c->unindexed += dsv_index_get_object(the_repo->store, id, &info) ==
				DSV_ENOTFOUND;
		return 0;
	}
	if (rc != DSV_ECORRUPT && rc != DSV_EINVAL)
		return rc;
	dsv_oid_fmt(hex, id);
	printf("corrupt object %s: %s\n", hex, dsv_error_last());
	c->corrupt++;
	return 0;
}

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	printf("%s\n", msg);
}

int cmd_fsck(int argc, char **argv)
{
	static const char usage[] = "dsv fsck [--rebuild-index]";
	int rebuild = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "rebuild-index", &rebuild, "rebuild the LMDB index from the objects and the lineage"),
		OPT_END(),
	};
	struct objcheck oc = {0};
	dsv_lineage_check lc = {.report = report};
	char b[32];
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n)
		return usage_error(opts, usage, "no arguments expected");
	if (rebuild && require_writable())
		return 1;
	oc.bar = progress_start("checking objects", 0);
	int rc = dsv_obj_foreach(the_repo->store, check_object, &oc);
	progress_done(oc.bar);
	/* The objects above are checked as listed (gone meanwhile: skipped);
	 * the artifacts are followed from refs under the store lock, shared,
	 * so that a gc cannot delete what a ref deleted meanwhile named. */
	if (rc || dsv_store_lock_read(the_repo->store) ||
	    dsv_lineage_fsck(the_repo->lineage, the_repo->store, &lc))
		return die_error();
	dsv_store_unlock(the_repo->store);
	printf("%llu %s (%s), %llu %s (%llu dataset %s) checked\n",
	       (unsigned long long)oc.objects,
	       plural(oc.objects, "object", "objects"),
	       human_bytes(b, (double)oc.bytes),
	       (unsigned long long)lc.artifacts,
	       plural(lc.artifacts, "artifact", "artifacts"),
	       (unsigned long long)lc.versions,
	       plural(lc.versions, "version", "versions"));
	if (rebuild) {
		if (dsv_store_lock_exclusive(the_repo->store) ||
		    dsv_lineage_rebuild_index(the_repo->lineage,
					      the_repo->store))
			return die_error();
		dsv_store_unlock(the_repo->store);
		printf("index rebuilt\n");
	} else {
		/* a cache short of entries is no damage, but sizes and reuse
		 * go by the objects', blame by the records' */
		if (oc.unindexed)
			printf("%llu %s not in the index: 'dsv fsck "
			       "--rebuild-index' adds %s\n",
			       (unsigned long long)oc.unindexed,
			       plural(oc.unindexed, "object is", "objects are"),
			       plural(oc.unindexed, "it", "them"));
		if (lc.unindexed)
			printf("%llu %s not in the records index: "
			       "'dsv fsck --rebuild-index' adds %s\n",
			       (unsigned long long)lc.unindexed,
			       plural(lc.unindexed, "record is", "records are"),
			       plural(lc.unindexed, "it", "them"));
	}
	if (oc.corrupt || lc.missing || lc.bad) {
		printf("%llu corrupt %s, %llu missing %s, %llu bad %s\n",
		       (unsigned long long)oc.corrupt,
		       plural(oc.corrupt, "object", "objects"),
		       (unsigned long long)lc.missing,
		       plural(lc.missing, "object", "objects"),
		       (unsigned long long)lc.bad,
		       plural(lc.bad, "artifact", "artifacts"));
		return error_msg("fsck found problems");
	}
	printf("ok\n");
	return 0;
}
