/* gc.c: `dsv gc [--dry-run] [--grace T]`: deletes objects that no artifact
 * any branch, tag or HEAD reaches, and the temporary files of interrupted
 * writes, once older than the grace period. A dry run also works on a
 * read-only repository. */
#include "cmd/cmd.h"

#include <stdio.h>

static void report(void *ctx, const dsv_oid *id, uint64_t bytes)
{
	char hex[DSV_OID_HEXLEN + 1];
	if (!*(int *)ctx)
		return;
	dsv_oid_fmt(hex, id);
	printf("%s %llu\n", hex, (unsigned long long)bytes);
}

int cmd_gc(int argc, char **argv)
{
	static const char usage[] = "dsv gc [--dry-run] [--grace T] [--json]";
	int dry = 0, json = 0, list = 0;
	const char *grace = NULL;
	const struct option opts[] = {
		OPT_BOOL('n', "dry-run", &dry, "list what would be deleted and delete nothing"),
		OPT_STRING(0, "grace", &grace, "T", "keep unreachable objects and temporary files younger than T (seconds, or 30m, 1h, 2d; default: config gc.grace, else 1h)"),
		OPT_BOOL(0, "json", &json, "print the counts as JSON"),
		OPT_END(),
	};
	dsv_gc_opts o = {.report = report, .ctx = &list};
	dsv_gc_stats st;
	char b1[32], b2[32];
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n)
		return usage_error(opts, usage, "no arguments expected");
	if (!dry && require_writable())
		return 1;
	if (grace ? dsv_gc_parse_grace(grace, &o.grace_s)
		  : dsv_gc_grace(the_repo->store, &o.grace_s))
		return die_error();
	o.dry_run = dry;
	list = dry && !json;
	if (dsv_lineage_gc(the_repo->lineage, the_repo->store, &o, &st))
		return die_error();
	if (json) {
		printf("{\"dry_run\": %s, \"deleted\": %llu, \"deleted_bytes\": "
		       "%llu, \"kept\": %llu, \"young\": %llu, \"tmp_files\": "
		       "%llu, \"tmp_bytes\": %llu, \"grace_s\": %lld}\n",
		       dry ? "true" : "false",
		       (unsigned long long)st.deleted,
		       (unsigned long long)st.deleted_bytes,
		       (unsigned long long)st.kept,
		       (unsigned long long)st.young,
		       (unsigned long long)st.tmp_files,
		       (unsigned long long)st.tmp_bytes, (long long)o.grace_s);
		return 0;
	}
	printf("%s %llu unreachable %s (%s), %llu stale temporary %s (%s)\n",
	       dry ? "would delete" : "deleted",
	       (unsigned long long)st.deleted,
	       plural(st.deleted, "object", "objects"),
	       human_bytes(b1, (double)st.deleted_bytes),
	       (unsigned long long)st.tmp_files,
	       plural(st.tmp_files, "file", "files"),
	       human_bytes(b2, (double)st.tmp_bytes));
	printf("kept %llu reachable %s and %llu unreachable %s younger "
	       "than %llds\n", (unsigned long long)st.kept,
	       plural(st.kept, "object", "objects"),
	       (unsigned long long)st.young, plural(st.young, "one", "ones"),
	       (long long)o.grace_s);
	return 0;
}
