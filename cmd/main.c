/* main.c: dsv's entry point: the command table, the global options, and the
 * repository that commands flagged NEEDS_REPO find already open.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSV_VERSION "0.1.0"

/* WRITES: the command always writes, so a read-only repository is refused
 * before it starts; commands that write only on some options call
 * require_writable themselves. */
enum { NEEDS_REPO = 1, WRITES = 2 };

int cmd_init(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_branch(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_switch(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_repack(int argc, char **argv);
int cmd_derive(int argc, char **argv);
int cmd_blame(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_classifier(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_clone(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	int flags;
	const char *summary;
} commands[] = {
	{"init", cmd_init, 0, "create an empty repository"},
	{"commit", cmd_commit, NEEDS_REPO | WRITES, "record files as a new dataset version"},
	{"log", cmd_log, NEEDS_REPO, "show the lineage"},
	{"show", cmd_show, NEEDS_REPO, "show one artifact: message, dsv.json, manifest"},
	{"ls", cmd_ls, NEEDS_REPO, "list a version's shards, records and bytes"},
	{"status", cmd_status, NEEDS_REPO, "show the current branch and repository size"},
	{"branch", cmd_branch, NEEDS_REPO, "list, create or delete branches"},
	{"switch", cmd_switch, NEEDS_REPO, "make a branch the current one"},
	{"tag", cmd_tag, NEEDS_REPO, "list or create tags"},
	{"diff", cmd_diff, NEEDS_REPO, "records added and removed between two versions"},
	{"cat", cmd_cat, NEEDS_REPO, "print a version's first records"},
	{"export", cmd_export, NEEDS_REPO, "write a version out as JSONL or text"},
	{"fsck", cmd_fsck, NEEDS_REPO, "verify every object and the lineage"},
	{"derive", cmd_derive, NEEDS_REPO | WRITES, "make a derived version: filter, dedup, annotate, ..."},
	{"blame", cmd_blame, NEEDS_REPO, "which version brought a record in, which derivations dropped it and why"},
	{"audit", cmd_audit, NEEDS_REPO, "compute spent on a version and its ancestry"},
	{"report", cmd_report, NEEDS_REPO, "an HTML page: lineage graph, compute by mode, loss curves"},
	{"gc", cmd_gc, NEEDS_REPO, "delete objects no branch or tag reaches"},
	{"repack", cmd_repack, NEEDS_REPO | WRITES, "rewrite a version into dense shards"},
	{"tokenizer", cmd_tokenizer, NEEDS_REPO | WRITES, "train a byte-level BPE tokenizer on a version"},
	{"tokenize", cmd_tokenize, NEEDS_REPO | WRITES, "fill the token cache for a version"},
	{"train", cmd_train, NEEDS_REPO | WRITES, "train a GPT-2 model on a version"},
	{"eval", cmd_eval, NEEDS_REPO, "a model's loss and perplexity on a version"},
	{"compare", cmd_compare, NEEDS_REPO, "token-efficiency multiplier k of two models"},
	{"classifier", cmd_classifier, NEEDS_REPO | WRITES, "train a quality classifier on a version's labels"},
	{"generate", cmd_generate, NEEDS_REPO, "sample text from a model (KV cache; JSONL out)"},
	{"clone", cmd_clone, 0, "copy a repository at a path into a new directory"},
	{"remote", cmd_remote, NEEDS_REPO, "list, add or remove remotes (other repositories)"},
	{"fetch", cmd_fetch, NEEDS_REPO | WRITES, "copy a remote's versions and objects here"},
	{"pull", cmd_pull, NEEDS_REPO | WRITES, "fetch, then fast-forward the current branch"},
	{"push", cmd_push, NEEDS_REPO, "copy versions and objects to a remote and move its branches"},
	{"help", cmd_help, 0, "show help for a command"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

struct repo *the_repo;
/* What the_repo points at while a command only prints its usage: commands may
 * read its fields before parsing their options, so it is never NULL then. */
static struct repo no_repo;

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void list_commands(FILE *f)
{
	fprintf(f, "usage: dsv <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "    %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "\n'dsv help <command>' or 'dsv <command> -h' for a "
		   "command's options\n");
}

int cmd_help(int argc, char **argv)
{
	static const struct option opts[] = {OPT_END()};
	const char *usage = "dsv help [COMMAND]";
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n == 0) {
		list_commands(stdout);
		return 0;
	}
	if (n > 1)
		return usage_error(opts, usage, "one command at a time");
	const struct command *c = find_command(argv[0]);
	if (!c)
		return usage_error(opts, usage, "'%s' is not a dsv command",
				   argv[0]);
	char *hargv[] = {(char *)c->name, "-h", NULL};
	the_repo = &no_repo;
	return c->fn(2, hargv);
}

static void close_repo(void)
{
	if (!the_repo)
		return;
	dsv_lineage_free(the_repo->lineage);
	dsv_store_free(the_repo->store);
	free(the_repo->dir);
	free(the_repo);
	the_repo = NULL;
}

static void lock_wait_note(const char *path, long pid)
{
	if (pid)
		fprintf(stderr, "dsv: note: waiting for '%s', held by process "
			"%ld\n", path, pid);
	else
		fprintf(stderr, "dsv: note: waiting for '%s', held by another "
			"process\n", path);
}

int require_writable(void)
{
	return dsv_store_writable(the_repo->store) ? die_error() : 0;
}

static int open_repo(int writes)
{
	char *lpath = NULL;
	int rc = 0;
	the_repo = calloc(1, sizeof *the_repo);
	if (!the_repo)
		return error_msg("out of memory");
	if (dsv_store_find(&the_repo->dir) ||
	    dsv_store_open(&the_repo->store, the_repo->dir) ||
	    (writes && dsv_store_writable(the_repo->store))) {
		rc = die_error();
		goto cleanup;
	}
	dsv_store_on_lock_wait(the_repo->store, lock_wait_note);
	if (asprintf(&lpath, "%s/lineage", the_repo->dir) < 0) {
		rc = error_msg("out of memory");
		goto cleanup;
	}
	if (dsv_lineage_open(&the_repo->lineage, lpath))
		rc = die_error();
cleanup:
	free(lpath);
	if (rc)
		close_repo();
	return rc;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		list_commands(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("dsv %s\n", DSV_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		list_commands(stdout);
		return 0;
	}
	const struct command *c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "dsv: error: '%s' is not a dsv command; see "
				"'dsv help'\n", argv[1]);
		return 2;
	}
	/* -h needs no repository: usage is answered anywhere. */
	if (c->flags & NEEDS_REPO) {
		if (wants_help(argc - 1, argv + 1))
			the_repo = &no_repo;
		else if (open_repo(c->flags & WRITES))
			return 1;
	}
	int rc = c->fn(argc - 1, argv + 1);
	if (the_repo != &no_repo)
		close_repo();
	fflush(stdout);
	if (ferror(stdout)) {
		fprintf(stderr, "dsv: error: cannot write to standard output\n");
		return 1;
	}
	return rc;
}
