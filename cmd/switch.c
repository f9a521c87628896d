/* switch.c: `dsv switch [-c] NAME [REV]`: makes NAME the current branch,
 * the one HEAD names: the revision commands take when given none and the
 * branch `commit` writes to. With -c the branch is made first, at REV (HEAD
 * by default), as `git switch -c`. A NAME that only a remote has
 * (origin/NAME) is made from it and tracks it, as `git switch NAME` does.
 * There is no working tree to update.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>

/* Makes NAME from the one remote that has a branch of that name, tracking
 * it, and sets *made (left 0 when no remote has one): 0, or 1 after
 * printing an error. */
static int from_remote(dsv_lineage *l, const char *name, int *made)
{
	char *remote = NULL, ref[600];
	size_t count = 0;
	*made = 0;
	if (dsv_remote_tracking_find(l, name, &remote, &count))
		return die_error();
	if (count > 1) {
		error_msg("'%s' is a branch of %zu remotes: 'dsv switch -c %s "
			  "%s/%s' picks one", name, count, name, remote, name);
		free(remote);
		return 1;
	}
	if (count == 1) {
		snprintf(ref, sizeof ref, "refs/remotes/%s/%s", remote, name);
		if (dsv_lineage_branch_create(l, name, ref, 0) ||
		    dsv_branch_set_upstream(l, name, remote, name)) {
			free(remote);
			return die_error();
		}
		printf("branch '%s' set up to track '%s/%s'.\n", name, remote,
		       name);
		*made = 1;
	}
	free(remote);
	return 0;
}

int cmd_switch(int argc, char **argv)
{
	static const char usage[] = "dsv switch NAME | -c NAME [REV]";
	int create = 0;
	const struct option opts[] = {
		OPT_BOOL('c', "create", &create, "make the branch first, at REV (default HEAD)"),
		OPT_END(),
	};
	dsv_lineage *l = the_repo->lineage;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n < 1 || n > 1 + create)
		return usage_error(opts, usage, n ? "too many arguments"
						  : "a branch name is needed");
	const char *name = argv[0];
	if (require_writable())
		return 1;
	if (create) {
		if (dsv_lineage_branch_create(l, name, n > 1 ? argv[1] : "HEAD", 0))
			return die_error();
	} else if (dsv_lineage_branch_exists(l, name) == 0) {
		dsv_aid id;
		if (from_remote(l, name, &create))
			return 1;
		/* a tag or a revision: no branch to be on (git switch says
		 * the same), but -c makes one there */
		if (!create && dsv_lineage_resolve(l, name, &id) == 0)
			return error_msg("'%s' is not a branch ('dsv switch -c "
					 "NEW %s' makes one there)", name, name);
		dsv_error_clear();
	}
	if (dsv_lineage_set_head(l, name))
		return die_error();
	printf("Switched to %sbranch '%s'\n", create ? "a new " : "", name);
	return 0;
}
