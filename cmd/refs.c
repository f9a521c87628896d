/* refs.c: what `dsv branch` and `dsv tag` share: a branch and a tag are both
 * names for versions, listed, created and deleted alike; only the namespace
 * (refs/heads, refs/tags) and the words differ.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_refs(int tags, int json)
{
	dsv_refinfo *r = NULL;
	size_t n = 0;
	char *head = NULL, hex[DSV_AID_HEXLEN + 1];
	int rc = tags ? dsv_lineage_tag_list(the_repo->lineage, &r, &n)
		      : dsv_lineage_branch_list(the_repo->lineage, &r, &n);
	if (rc)
		return die_error();
	if (!tags && dsv_lineage_head_branch(the_repo->lineage, &head))
		head = NULL;
	if (json)
		putchar('[');
	for (size_t i = 0; i < n; i++) {
		int cur = head && strcmp(head, r[i].name) == 0;
		dsv_aid_fmt(hex, &r[i].target);
		if (json)
		{
			char *qn = json_quote(r[i].name);
			printf("%s\n  {\"name\": %s, \"artifact\": \"%s\"%s}",
			       i ? "," : "", qn ? qn : "null", hex,
			       tags ? "" : cur ? ", \"current\": true"
					       : ", \"current\": false");
			free(qn);
		}
		else if (tags)
			printf("%s\n", r[i].name);
		else
			printf("%c %s %.7s\n", cur ? '*' : ' ', r[i].name, hex);
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	dsv_refinfo_free(r, n);
	free(head);
	return 0;
}

int ref_command(int argc, char **argv, int tags)
{
	const char *usage = tags ? "dsv tag [--json] | NAME [REV] [-f] | -d NAME"
				 : "dsv branch [--json] | NAME [REV] [-f] | -d NAME";
	const char *what = tags ? "tag" : "branch";
	const char *del = NULL;
	int force = 0, json = 0;
	const struct option opts[] = {
		OPT_STRING('d', "delete", &del, "name", "delete it (the versions stay)"),
		OPT_BOOL('f', "force", &force, "move an existing one"),
		OPT_BOOL(0, "json", &json, "list as JSON"),
		OPT_END(),
	};
	dsv_lineage *l;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	l = the_repo->lineage;
	if (del) {
		if (n)
			return usage_error(opts, usage, "-d takes one name");
		if (require_writable())
			return 1;
		if (tags ? dsv_lineage_tag_delete(l, del)
			 : dsv_lineage_branch_delete(l, del))
			return die_error();
		printf("Deleted %s %s\n", what, del);
		return 0;
	}
	if (n == 0)
		return print_refs(tags, json);
	if (n > 2)
		return usage_error(opts, usage, "too many arguments");
	const char *rev = n > 1 ? argv[1] : "HEAD";
	if (require_writable())
		return 1;
	if (tags ? dsv_lineage_tag_create(l, argv[0], rev, force)
		 : dsv_lineage_branch_create(l, argv[0], rev, force))
		return die_error();
	return 0;
}
