/* export.c: `dsv export REV [--format jsonl|text|tokens] [-o PATH]`: a
 * version written out, JSONL lines rebuilt byte for byte, or its tokens in
 * llm.c's .bin layout (--format tokens --tokenizer T).
 * A file is written beside its destination and renamed when complete, so a
 * failed or interrupted export never leaves a truncated file behind.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int parse_export_format(const char *s, int *out)
{
	if (strcmp(s, "jsonl") == 0)
		*out = DSV_EXPORT_JSONL;
	else if (strcmp(s, "text") == 0)
		*out = DSV_EXPORT_TEXT;
	else
		return -1;
	return 0;
}

/* The file beside the destination while it is written, and the signal
 * actions it replaced: a signal that stops the export removes the file, then
 * stops the process as it would have. */
static const char *volatile out_tmp;
static struct sigaction out_old[NSTOP_SIGNALS];

static void out_on_signal(int sig)
{
	if (out_tmp)
		unlink(out_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Opens where an export goes: standard output for no path or "-", `path`
 * itself when it exists and is not a regular file (-o /dev/null, a FIFO, a
 * symlink: a rename would replace the node or the link with a file), else a
 * file beside `path` whose name goes into *tmp (the caller hands both to
 * out_finish; *tmp stays NULL but for the file beside). */
int out_open(const char *path, char **tmp, int *fd)
{
	struct stat st;
	*tmp = NULL;
	*fd = STDOUT_FILENO;
	if (!path || !strcmp(path, "-"))
		return 0;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		*fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		return *fd < 0 ? dsv_error_set(DSV_EIO, "cannot open '%s': %s",
					       path, strerror(errno))
			       : 0;
	}
	if (asprintf(tmp, "%s.dsv-tmp.%d", path, (int)getpid()) < 0) {
		*tmp = NULL; /* asprintf leaves it undefined */
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	out_tmp = *tmp;
	stop_signals_catch(out_on_signal, out_old);
	*fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (*fd < 0) {
		int rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", path,
				       strerror(errno));
		stop_signals_restore(out_old);
		out_tmp = NULL;
		free(*tmp);
		*tmp = NULL;
		return rc;
	}
	return 0;
}

/* Ends what out_open began, given the export's result rc: the file is closed
 * and renamed onto `path` when all went well, removed otherwise; tmp is
 * freed. Returns rc, or the error closing or renaming. */
int out_finish(const char *path, char *tmp, int fd, int rc)
{
	if (fd != STDOUT_FILENO && close(fd) && !rc)
		rc = dsv_error_set(DSV_EIO, "cannot write '%s'", path);
	if (!tmp)
		return rc;
	if (!rc && rename(tmp, path))
		rc = dsv_error_set(DSV_EIO, "cannot rename to '%s'", path);
	if (rc)
		unlink(tmp);
	stop_signals_restore(out_old);
	out_tmp = NULL;
	free(tmp);
	return rc;
}

int export_version(const dsv_manifest *m, int format, uint64_t limit,
		     const char *path, uint64_t *bytes)
{
	char *tmp;
	int fd, rc;
	if ((rc = out_open(path, &tmp, &fd)))
		return rc;
	rc = dsv_version_export(the_repo->store, m, format, limit, fd, bytes);
	return out_finish(path, tmp, fd, rc);
}

/* --format tokens: the version's token stream in llm.c's .bin layout,
 * tokenizing the shards the cache lacks first. */
static int export_tokens(const dsv_manifest *m, const char *tokrev,
			 const char *path)
{
	dsv_bpe *b = NULL;
	dsv_aid tid;
	dsv_oid tok;
	struct tokenize_stats st;
	char *tmp;
	int fd, rc;
	/* zstd's rule: binary never goes to a terminal */
	if ((!path || !strcmp(path, "-")) && isatty(STDOUT_FILENO))
		return dsv_error_set(DSV_EINVAL, "standard output is a "
				     "terminal: give -o FILE for the binary "
				     "tokens");
	if ((rc = load_tokenizer(tokrev, &tid, &tok, &b)))
		return rc;
	/* the shards the token cache lacks are tokenized into it */
	if ((rc = dsv_store_writable(the_repo->store)))
		goto cleanup;
	if ((rc = dsv_store_lock(the_repo->store)))
		goto cleanup;
	rc = tokenize_version(m, b, &tok, 0, &st, NULL);
	dsv_store_unlock(the_repo->store);
	if (rc)
		goto cleanup;
	if ((rc = out_open(path, &tmp, &fd)))
		goto cleanup;
	rc = dsv_tokens_export(the_repo->store, m, &tok,
			       dsv_bpe_vocab_size(b), fd, NULL, NULL);
	rc = out_finish(path, tmp, fd, rc);
cleanup:
	dsv_bpe_free(b);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	static const char usage[] = "dsv export REV [--format jsonl|text|tokens] [--tokenizer T] [-o PATH]";
	const char *fmt = "jsonl", *out = NULL, *tokrev = NULL;
	const struct option opts[] = {
		OPT_STRING(0, "format", &fmt, "fmt", "jsonl (the records as committed), text, or tokens (llm.c .bin)"),
		OPT_STRING(0, "tokenizer", &tokrev, "rev", "the tokenizer for --format tokens"),
		OPT_STRING('o', "output", &out, "path", "write here instead of standard output"),
		OPT_END(),
	};
	dsv_manifest *m = NULL;
	dsv_aid id;
	int format, rc = 0;
	uint64_t bytes = 0;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "one version is needed");
	if (strcmp(fmt, "tokens") == 0) {
		if (!tokrev)
			return usage_error(opts, usage, "--format tokens needs "
					   "--tokenizer T");
		if (load_version(argv[0], &id, &m) ||
		    export_tokens(m, tokrev, out))
			rc = die_error();
		dsv_manifest_free(m);
		return rc;
	}
	if (tokrev)
		return usage_error(opts, usage, "--tokenizer goes with "
				   "--format tokens");
	if (parse_export_format(fmt, &format))
		return usage_error(opts, usage, "unknown --format '%s'", fmt);
	if (load_version(argv[0], &id, &m) ||
	    export_version(m, format, 0, out, &bytes))
		rc = die_error();
	dsv_manifest_free(m);
	return rc;
}
