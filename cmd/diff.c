/* diff.c: `dsv diff A B [--records] [--json]` (or A..B): records added and
 * removed between two versions, by record hash, with counts and text bytes;
 * when B descends from A, which derivation on the way dropped the removed
 * ones, and why. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* git diff's A..B is A B, and a side left out is HEAD; *argc becomes 2.
 * A...B (from the merge base) is not taken: 0 or -1. */
static int split_range(char **argv, int *argc)
{
	char *dots = *argc == 1 ? strstr(argv[0], "..") : NULL;
	if (!dots)
		return 0;
	if (dots[2] == '.')
		return -1;
	*dots = '\0';
	argv[1] = dots[2] ? dots + 2 : "HEAD";
	if (!*argv[0])
		argv[0] = "HEAD";
	*argc = 2;
	return 0;
}

/* "    307 by 3675202 filter: gopher_short_doc 107, too_few_sentences 68",
 * a line per derivation, oldest first (groups come sorted so). */
static void print_groups(const dsv_drop *g, size_t ng, uint64_t unexplained)
{
	char hex[DSV_AID_SHORTLEN + 1];
	for (size_t i = 0, j; i < ng; i = j) {
		uint64_t total = 0;
		for (j = i; j < ng && g[j].step == g[i].step; j++)
			total += g[j].copies;
		dsv_aid_short(hex, &g[i].by);
		int col = printf("    %llu by %s %s:", (unsigned long long)total,
				 hex, g[i].op);
		for (size_t k = i; k < j; k++) {
			char item[160];
			int len = snprintf(item, sizeof item, "%s %llu%s",
					   g[k].reason,
					   (unsigned long long)g[k].copies,
					   k + 1 < j ? "," : "");
			if (col + 1 + len > 78 && k > i)
				col = printf("\n       ") - 1;
			col += printf(" %s", item);
		}
		putchar('\n');
	}
	if (unexplained && ng)
		printf("    %llu not dropped by a derivation on the way "
		       "(rewritten or replaced)\n",
		       (unsigned long long)unexplained);
}

static json_t *groups_json(const dsv_drop *g, size_t ng)
{
	json_t *arr = json_array();
	char hex[DSV_AID_HEXLEN + 1];
	for (size_t i = 0; i < ng; i++) {
		dsv_aid_fmt(hex, &g[i].by);
		json_array_append_new(arr, json_pack("{sssssssI}", "artifact",
			hex, "op", g[i].op, "reason", g[i].reason,
			"records", (json_int_t)g[i].copies));
	}
	return arr;
}

static void print_list(char sign, const dsv_rhash *h, size_t n,
		       const dsv_drop *why)
{
	char hex[33], aid[DSV_AID_SHORTLEN + 1];
	for (size_t i = 0; i < n; i++) {
		dsv_rhash_fmt(hex, &h[i]);
		if (why && why[i].found) {
			dsv_aid_short(aid, &why[i].by);
			printf("%c %s  %s %s %s\n", sign, hex, aid, why[i].op,
			       why[i].reason);
		} else {
			printf("%c %s\n", sign, hex);
		}
	}
}

/* The --records list as JSON: each hash, with the derivation that dropped
 * it and why where known. */
static json_t *list_json(const dsv_rhash *h, size_t n, const dsv_drop *why)
{
	json_t *arr = json_array();
	char hex[33], aid[DSV_AID_HEXLEN + 1];
	for (size_t i = 0; i < n; i++) {
		dsv_rhash_fmt(hex, &h[i]);
		json_t *o = json_pack("{ss}", "hash", hex);
		if (why && why[i].found) {
			dsv_aid_fmt(aid, &why[i].by);
			json_object_set_new(o, "artifact", json_string(aid));
			json_object_set_new(o, "op", json_string(why[i].op));
			json_object_set_new(o, "reason", json_string(why[i].reason));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

int cmd_diff(int argc, char **argv)
{
	static const char usage[] = "dsv diff [--records] [--json] A B | A..B";
	int records = 0, json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "records", &records, "list the added (+) and removed (-) record hashes"),
		OPT_BOOL(0, "json", &json, "print the counts (and the lists) as JSON"),
		OPT_END(),
	};
	dsv_manifest *ma = NULL, *mb = NULL;
	dsv_diff d = {0};
	dsv_drop *drops = NULL, *g = NULL;
	size_t ng = 0;
	uint64_t unexplained = 0;
	dsv_aid a, b;
	char ha[DSV_AID_SHORTLEN + 1], hb[DSV_AID_SHORTLEN + 1], b1[32];
	int rc = 1, descends;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (split_range(argv, &n))
		return usage_error(opts, usage, "A...B is not taken: give A B");
	if (n != 2)
		return usage_error(opts, usage, "two versions are needed");
	/* the removed hashes are listed to say why when B descends from A */
	if (load_version(argv[0], &a, &ma) || load_version(argv[1], &b, &mb) ||
	    (descends = dsv_lineage_drops(the_repo->lineage, the_repo->store,
					  &a, &b, NULL, NULL, 0, NULL, NULL,
					  NULL)) < 0 ||
	    dsv_version_diff(the_repo->store, ma, mb, records || descends, &d)) {
		rc = die_error();
		goto cleanup;
	}
	if (descends && d.nremoved_list) {
		if (records && !(drops = calloc(d.nremoved_list, sizeof *drops))) {
			rc = error_msg("out of memory");
			goto cleanup;
		}
		if (dsv_lineage_drops(the_repo->lineage, the_repo->store, &a, &b,
				      d.removed_list, d.removed_copies,
				      d.nremoved_list, drops, &g, &ng) < 0) {
			rc = die_error();
			goto cleanup;
		}
		unexplained = d.removed;
		for (size_t i = 0; i < ng; i++)
			unexplained -= g[i].copies;
	}
	dsv_aid_short(ha, &a);
	dsv_aid_short(hb, &b);
	if (json) {
		json_t *o = json_pack("{sssssIsIsIsIsIsIsI}", "a", ha, "b", hb,
			"a_records", (json_int_t)d.a_records,
			"b_records", (json_int_t)d.b_records,
			"common", (json_int_t)d.common,
			"added", (json_int_t)d.added,
			"added_bytes", (json_int_t)d.added_bytes,
			"removed", (json_int_t)d.removed,
			"removed_bytes", (json_int_t)d.removed_bytes);
		if (descends)
			json_object_set_new(o, "removed_by", groups_json(g, ng));
		if (records) {
			json_object_set_new(o, "removed_records",
					    list_json(d.removed_list,
						      d.nremoved_list, drops));
			json_object_set_new(o, "added_records",
					    list_json(d.added_list,
						      d.nadded_list, NULL));
		}
		print_json(o, JSON_PRESERVE_ORDER);
		json_decref(o);
	} else {
		printf("%s (%llu %s) -> %s (%llu %s)\n", ha,
		       (unsigned long long)d.a_records,
		       plural(d.a_records, "record", "records"), hb,
		       (unsigned long long)d.b_records,
		       plural(d.b_records, "record", "records"));
		printf("+ %llu %s added (%s of text)\n",
		       (unsigned long long)d.added,
		       plural(d.added, "record", "records"),
		       human_bytes(b1, (double)d.added_bytes));
		printf("- %llu %s removed (%s of text)\n",
		       (unsigned long long)d.removed,
		       plural(d.removed, "record", "records"),
		       human_bytes(b1, (double)d.removed_bytes));
		print_groups(g, ng, unexplained);
		printf("  %llu %s in both\n", (unsigned long long)d.common,
		       plural(d.common, "record", "records"));
		if (records) {
			print_list('-', d.removed_list, d.nremoved_list, drops);
			print_list('+', d.added_list, d.nadded_list, NULL);
		}
	}
	rc = 0;
cleanup:
	free(g);
	free(drops);
	dsv_diff_free(&d);
	dsv_manifest_free(ma);
	dsv_manifest_free(mb);
	return rc;
}
