/* cat.c: `dsv cat [REV] [--limit N]`: a version's first records, as export
 * writes them (cmd/export.c). */
#include "cmd/cmd.h"

int cmd_cat(int argc, char **argv)
{
	static const char usage[] = "dsv cat [REV] [--limit N] [--format jsonl|text]";
	const char *fmt = "jsonl";
	long limit = 10;
	const struct option opts[] = {
		OPT_INT('n', "limit", &limit, "n", "records to print (default 10; 0 for all)"),
		OPT_STRING(0, "format", &fmt, "fmt", "jsonl or text"),
		OPT_END(),
	};
	dsv_manifest *m = NULL;
	dsv_aid id;
	int format, rc = 0;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (limit < 0)
		return usage_error(opts, usage, "--limit must not be negative");
	if (parse_export_format(fmt, &format))
		return usage_error(opts, usage, "unknown --format '%s'", fmt);
	if (load_version(n ? argv[0] : NULL, &id, &m) ||
	    export_version(m, format, (uint64_t)limit, NULL, NULL))
		rc = die_error();
	dsv_manifest_free(m);
	return rc;
}
