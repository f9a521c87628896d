/* status.c: `dsv status`: the current branch, its version and the store. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>

struct tally {
	uint64_t objects, stored;
};

static int count_object(const dsv_oid *id, void *ctx)
{
	struct tally *t = ctx;
	dsv_obj_info info;
	t->objects++;
	if (dsv_index_get_object(the_repo->store, id, &info) == 0)
		t->stored += info.stored_size;
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const char usage[] = "dsv status";
	const struct option opts[] = {OPT_END()};
	dsv_commit_info *ci = NULL;
	dsv_manifest *m = NULL;
	struct tally t = {0};
	char *branch = NULL, hex[DSV_AID_SHORTLEN + 1], b[32];
	dsv_aid id;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n)
		return usage_error(opts, usage, "no arguments expected");
	if (dsv_lineage_head_branch(the_repo->lineage, &branch) == 0)
		printf("On branch %s\n", branch);
	else
		printf("HEAD detached\n");
	if (dsv_lineage_head(the_repo->lineage, &id) == 0 &&
	    dsv_commit_info_open(&ci, the_repo->lineage, &id) == 0) {
		dsv_aid_short(hex, &id);
		printf("version %s: %s", hex, ci->summary);
		if (dsv_dataset_manifest(&m, the_repo->lineage, &id) == 0)
			printf(" (%llu records in %zu shards)",
			       (unsigned long long)dsv_manifest_records(m), m->n);
		putchar('\n');
	} else {
		printf("no versions yet\n");
	}
	if (dsv_obj_foreach(the_repo->store, count_object, &t) == 0)
		printf("store: %llu objects, %s\n",
		       (unsigned long long)t.objects,
		       human_bytes(b, (double)t.stored));
	dsv_manifest_free(m);
	dsv_commit_info_free(ci);
	free(branch);
	return 0;
}
