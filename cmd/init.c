/* init.c: `dsv init [DIR]`: creates DIR/.dsv with its store and lineage. */
#include "cmd/cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates dir and the parents it lacks, as git init does; 0, or -1 with
 * errno set. */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	int rc = p ? 0 : -1;
	for (char *s = p ? p + 1 : NULL; !rc && *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
		*s = '/';
	}
	if (!rc)
		rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
	int err = errno;
	free(p);
	errno = err;
	return rc;
}

int cmd_init(int argc, char **argv)
{
	static const char usage[] = "dsv init [-q] [DIR]";
	int quiet = 0;
	const struct option opts[] = {
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};
	char *dir = NULL, *lineage = NULL, abs[PATH_MAX];
	int n = parse_options(argc, argv, opts, usage), rc = 1;
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many arguments");
	const char *top = n ? argv[0] : ".";
	if (make_dirs(top))
		return error_msg("cannot create '%s': %s", top, strerror(errno));
	if (asprintf(&dir, "%s/.dsv", top) < 0 ||
	    asprintf(&lineage, "%s/lineage", dir) < 0) {
		rc = error_msg("out of memory");
		goto cleanup;
	}
	if (dsv_store_init(dir) || dsv_lineage_init(lineage)) {
		rc = die_error();
		goto cleanup;
	}
	if (!quiet)
		printf("Initialized empty dsv repository in %s\n",
		       realpath(dir, abs) ? abs : dir);
	rc = 0;
cleanup:
	free(dir);
	free(lineage);
	return rc;
}
