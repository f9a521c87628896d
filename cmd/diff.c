/* diff.c: `dsv diff A B [--records] [--json]`: records added and removed
 * between two versions, by record hash, with counts and text bytes. */
#include "cmd/cmd.h"

#include <stdio.h>

static void print_list(char sign, const dsv_rhash *h, size_t n)
{
	char hex[33];
	for (size_t i = 0; i < n; i++) {
		dsv_rhash_fmt(hex, &h[i]);
		printf("%c %s\n", sign, hex);
	}
}

int cmd_diff(int argc, char **argv)
{
	static const char usage[] = "dsv diff [--records] [--json] A B";
	int records = 0, json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "records", &records, "list the added (+) and removed (-) record hashes"),
		OPT_BOOL(0, "json", &json, "print the counts as JSON"),
		OPT_END(),
	};
	dsv_manifest *ma = NULL, *mb = NULL;
	dsv_diff d = {0};
	dsv_aid a, b;
	char ha[DSV_AID_SHORTLEN + 1], hb[DSV_AID_SHORTLEN + 1], b1[32];
	int rc = 1;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 2)
		return usage_error(opts, usage, "two versions are needed");
	if (load_version(argv[0], &a, &ma) || load_version(argv[1], &b, &mb) ||
	    dsv_version_diff(the_repo->store, ma, mb, records, &d)) {
		rc = die_error();
		goto cleanup;
	}
	dsv_aid_short(ha, &a);
	dsv_aid_short(hb, &b);
	if (json) {
		printf("{\"a\": \"%s\", \"b\": \"%s\", \"a_records\": %llu, "
		       "\"b_records\": %llu, \"common\": %llu, \"added\": %llu, "
		       "\"added_bytes\": %llu, \"removed\": %llu, "
		       "\"removed_bytes\": %llu}\n", ha, hb,
		       (unsigned long long)d.a_records,
		       (unsigned long long)d.b_records,
		       (unsigned long long)d.common,
		       (unsigned long long)d.added,
		       (unsigned long long)d.added_bytes,
		       (unsigned long long)d.removed,
		       (unsigned long long)d.removed_bytes);
	} else {
		printf("%s (%llu records) -> %s (%llu records)\n", ha,
		       (unsigned long long)d.a_records, hb,
		       (unsigned long long)d.b_records);
		printf("+ %llu records added (%s of text)\n",
		       (unsigned long long)d.added,
		       human_bytes(b1, (double)d.added_bytes));
		printf("- %llu records removed (%s of text)\n",
		       (unsigned long long)d.removed,
		       human_bytes(b1, (double)d.removed_bytes));
		printf("  %llu records in both\n", (unsigned long long)d.common);
		print_list('-', d.removed_list, d.nremoved_list);
		print_list('+', d.added_list, d.nadded_list);
	}
	rc = 0;
cleanup:
	dsv_diff_free(&d);
	dsv_manifest_free(ma);
	dsv_manifest_free(mb);
	return rc;
}
