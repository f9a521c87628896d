/* show.c: `dsv show [REV]`: one artifact: its commit, its dsv.json and a
 * summary of its MANIFEST. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MANIFEST_LINES = 20 };

static void print_manifest(const char *text)
{
	int lines = 0;
	const char *p = text;
	for (; *p && lines < MANIFEST_LINES; lines++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
		fwrite(p, 1, len, stdout);
		p += len;
	}
	size_t more = 0;
	for (; *p; p++)
		more += *p == '\n';
	if (more)
		printf("... (%zu more %s)\n", more,
		       plural(more, "line", "lines"));
}

int cmd_show(int argc, char **argv)
{
	static const char usage[] = "dsv show [--json] [REV]";
	int json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print dsv.json and the commit as JSON"),
		OPT_END(),
	};
	dsv_commit_info *ci = NULL;
	char *dj = NULL, *mf = NULL, hex[DSV_AID_HEXLEN + 1];
	size_t djlen = 0, mflen = 0;
	dsv_aid id;
	int rc = 1;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (resolve_rev(n ? argv[0] : NULL, &id) ||
	    dsv_commit_info_open(&ci, the_repo->lineage, &id) ||
	    dsv_lineage_read_file(the_repo->lineage, &id, "dsv.json", &dj,
				  &djlen))
		goto fail;
	if (dsv_lineage_read_file(the_repo->lineage, &id, "MANIFEST", &mf,
				  &mflen) &&
	    dsv_error_code() != DSV_ENOTFOUND)
		goto fail;
	dsv_aid_fmt(hex, &id);
	if (json) {
		json_error_t err;
		json_t *o = json_object(), *parents = json_array();
		json_t *d = json_loadb(dj, djlen, 0, &err);
		json_object_set_new(o, "artifact", json_string(hex));
		for (size_t i = 0; i < ci->nparents; i++) {
			char p[DSV_AID_HEXLEN + 1];
			dsv_aid_fmt(p, &ci->parents[i]);
			json_array_append_new(parents, json_string(p));
		}
		json_object_set_new(o, "parents", parents);
		json_object_set_new(o, "author", json_string(ci->author_name));
		json_object_set_new(o, "time", json_integer(ci->time));
		json_object_set_new(o, "message", json_string(ci->message));
		json_object_set_new(o, "dsv", d ? d : json_null());
		if (mf)
			json_object_set_new(o, "manifest", json_string(mf));
		print_json(o, JSON_INDENT(2));
		json_decref(o);
	} else {
		printf("artifact %s\n", hex);
		for (size_t i = 0; i < ci->nparents; i++) {
			char p[DSV_AID_HEXLEN + 1];
			dsv_aid_fmt(p, &ci->parents[i]);
			printf("input    %s\n", p);
		}
		printf("author   %s <%s>\n\n", ci->author_name,
		       ci->author_email);
		print_message(ci->message);
		printf("--- dsv.json\n%s", dj);
		if (mf) {
			printf("--- MANIFEST\n");
			print_manifest(mf);
		}
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	free(dj);
	free(mf);
	dsv_commit_info_free(ci);
	return rc;
}
