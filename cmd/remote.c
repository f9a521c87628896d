/* remote.c: `dsv remote`, `dsv clone`, `dsv fetch`, `dsv pull` and `dsv
 * push`: other dsv repositories on a path, as git's commands of those names
 * treat theirs (docs/remotes.md). The work is lineage/remote.c's; this
 * file parses and prints.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- printing what moved ------------------------------------------------- */

static const char *status_name(int st)
{
	static const char *const names[] = {"up-to-date", "new",
					    "fast-forward", "forced",
					    "rejected", "deleted"};
	return st >= 0 && st <= DSV_REF_DELETED ? names[st] : "unknown";
}

/* The ref's name as git shows it on the receiving side. */
static const char *short_ref(const char *ref)
{
	static const char *const prefixes[] = {"refs/remotes/", "refs/heads/",
					       "refs/tags/"};
	for (size_t i = 0; i < 3; i++)
		if (!strncmp(ref, prefixes[i], strlen(prefixes[i])))
			return ref + strlen(prefixes[i]);
	return ref;
}

/* git's lines for a deletion: a ref pruned by a fetch (a remote-tracking
 * ref or a tag) " - [deleted]         (none)     -> origin/x" (the source
 * column `width` wide), a remote branch deleted by a push
 * " - [deleted]         x", one refused " ! [remote rejected] x (why)". */
static void print_delete(const dsv_ref_update *u, int fetch, int width)
{
	if (u->status == DSV_REF_REJECTED)
		printf(" ! %-17s %s (%s)\n", u->had_old ? "[remote rejected]"
							: "[rejected]",
		       u->src, u->why ? u->why : "rejected");
	else if (fetch)
		printf(" - %-17s %-*s -> %s\n", "[deleted]", width, "(none)",
		       short_ref(u->dst));
	else
		printf(" - %-17s %s\n", "[deleted]", u->src);
}

/* The width of a fetch's source column, as git's fetch.c reckons it off a
 * terminal (adjust_refcol_width): the longest source name of the lines
 * shown, at least 10, leaving out a name whose line would not fit in 80
 * columns. */
static int refcol_width(const dsv_remote_result *r, int verbose)
{
	int width = 10;
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		if (u->is_delete || (u->status == DSV_REF_UPTODATE && !verbose))
			continue;
		int rlen = (int)strlen(u->src);
		int len = 21 + rlen + 4 + (int)strlen(short_ref(u->dst));
		if (len < 80 && rlen > width)
			width = rlen;
	}
	return width;
}

/* git's fetch and push lines: " * [new branch]      main       ->
 * origin/main  (why)" for a fetch, whose source column is padded and the
 * reason two spaces off; "main -> main (why)" for a push. A fetch's prunes
 * come first, as git prunes (and prints) before it updates; a push's
 * deletions keep their place among the refs named. */
static void print_updates(const dsv_remote_result *r, int verbose, int fetch)
{
	int width = fetch ? refcol_width(r, verbose) : 0;
	if (fetch)
		for (size_t i = 0; i < r->nrefs; i++)
			if (r->refs[i].is_delete)
				print_delete(&r->refs[i], 1, width);
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		char a[DSV_AID_SHORTLEN + 1], b[DSV_AID_SHORTLEN + 1], what[40];
		dsv_aid_short(a, &u->old_id);
		dsv_aid_short(b, &u->new_id);
		char flag = ' ';
		if (u->is_delete) {
			if (!fetch)
				print_delete(u, 0, 0);
			continue;
		}
		switch (u->status) {
		case DSV_REF_UPTODATE:
			if (!verbose)
				continue;
			flag = '=';
			snprintf(what, sizeof what, "[up to date]");
			break;
		case DSV_REF_NEW:
			flag = '*';
			snprintf(what, sizeof what, "[new %s]",
				 u->is_tag ? "tag" : "branch");
			break;
		case DSV_REF_FASTFORWARD:
			snprintf(what, sizeof what, "%s..%s", a, b);
			break;
		case DSV_REF_FORCED:
			flag = '+';
			snprintf(what, sizeof what, "%s...%s", a, b);
			break;
		default:
			flag = '!';
			snprintf(what, sizeof what, "[rejected]");
		}
		printf(" %c %-17s %-*s -> %s", flag, what, width, u->src,
		       short_ref(u->dst));
		if (u->status == DSV_REF_FORCED || u->why)
			printf("%s(%s)", fetch ? "  " : " ",
			       u->status == DSV_REF_FORCED ? "forced update"
							   : u->why);
		putchar('\n');
	}
}

static void print_json_result(const char *op, const char *remote,
			      const dsv_remote_result *r, const char *extra)
{
	char *qr = json_quote(remote), *qu = json_quote(r->url ? r->url : "");
	char hex[DSV_AID_HEXLEN + 1];
	printf("{\"op\": \"%s\", \"remote\": %s, \"url\": %s, \"refs\": [", op,
	       qr ? qr : "null", qu ? qu : "null");
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		char *qs = json_quote(u->src), *qd = json_quote(u->dst);
		printf("%s\n  {\"src\": %s, \"ref\": %s, \"status\": \"%s\"",
		       i ? "," : "", qs ? qs : "null", qd ? qd : "null",
		       status_name(u->status));
		if (u->had_old) {
			dsv_aid_fmt(hex, &u->old_id);
			printf(", \"old\": \"%s\"", hex);
		} else {
			printf(", \"old\": null");
		}
		dsv_aid_fmt(hex, &u->new_id);
		if (u->is_delete)
			printf(", \"new\": null");
		else
			printf(", \"new\": \"%s\"", hex);
		if (u->why)
			printf(", \"why\": \"%s\"", u->why);
		putchar('}');
		free(qs);
		free(qd);
	}
	printf("%s], \"commits\": %llu, \"objects\": %llu, \"objects_present\": "
	       "%llu, \"bytes\": %llu%s}\n", r->nrefs ? "\n" : "",
	       (unsigned long long)r->commits,
	       (unsigned long long)r->objects.copied,
	       (unsigned long long)r->objects.present,
	       (unsigned long long)r->objects.bytes, extra ? extra : "");
	free(qr);
	free(qu);
}

/* "3 lineage commits, 12 objects (4.1 MiB) copied, 2 already there";
 * nothing after deletions alone, as git prints nothing there. */
static void print_summary(const dsv_remote_result *r)
{
	char b[32];
	int other = 0;
	for (size_t i = 0; i < r->nrefs; i++)
		other |= !r->refs[i].is_delete &&
			 r->refs[i].status != DSV_REF_UPTODATE;
	if (!other && !r->commits && !r->objects.copied)
		return;
	printf("%llu lineage %s, %llu %s (%s) copied, %llu already there\n",
	       (unsigned long long)r->commits,
	       plural(r->commits, "commit", "commits"),
	       (unsigned long long)r->objects.copied,
	       plural(r->objects.copied, "object", "objects"),
	       human_bytes(b, (double)r->objects.bytes),
	       (unsigned long long)r->objects.present);
}

static void warn_index(const dsv_remote_result *r)
{
	if (r->index_error)
		fprintf(stderr, "dsv: warning: the refs moved but the index was "
			"not updated (%s): 'dsv fsck --rebuild-index' repairs "
			"it\n", r->index_error);
}

/* ---- dsv remote ---------------------------------------------------------- */

static int remote_list(int verbose, int json)
{
	dsv_remote_info *r = NULL;
	size_t n = 0;
	if (dsv_remote_list(the_repo->lineage, &r, &n))
		return die_error();
	if (json)
		putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (json) {
			char *qn = json_quote(r[i].name), *qu = json_quote(r[i].url);
			printf("%s\n  {\"name\": %s, \"url\": %s}", i ? "," : "",
			       qn ? qn : "null", qu ? qu : "null");
			free(qn);
			free(qu);
		} else if (verbose) {
			printf("%s\t%s (fetch)\n%s\t%s (push)\n", r[i].name,
			       r[i].url, r[i].name, r[i].url);
		} else {
			printf("%s\n", r[i].name);
		}
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	dsv_remote_info_free(r, n);
	return 0;
}

int cmd_remote(int argc, char **argv)
{
	static const char usage[] = "dsv remote [-v] [--json] | add NAME PATH | "
				    "remove NAME";
	int verbose = 0, json = 0;
	const struct option opts[] = {
		OPT_BOOL('v', "verbose", &verbose, "show each remote's path"),
		OPT_BOOL(0, "json", &json, "list as JSON"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n == 0)
		return remote_list(verbose, json);
	const char *sub = argv[0];
	if (!strcmp(sub, "add")) {
		if (n != 3)
			return usage_error(opts, usage, "'remote add' takes a "
					   "name and a path");
		if (require_writable())
			return 1;
		if (dsv_remote_add(the_repo->lineage, argv[1], argv[2]))
			return die_error();
		return 0;
	}
	if (!strcmp(sub, "remove") || !strcmp(sub, "rm")) {
		if (n != 2)
			return usage_error(opts, usage, "'remote remove' takes a "
					   "name");
		if (require_writable())
			return 1;
		if (dsv_remote_remove(the_repo->lineage, argv[1]))
			return die_error();
		return 0;
	}
	return usage_error(opts, usage, "unknown subcommand '%s'", sub);
}

/* ---- the object copy: threads and a progress bar ------------------------- */

#define JOBS_HELP "objects copied at once (default 0: the cores, at most 8)"
#define JOBS_MAX 64 /* dsv_transfer_opts.jobs */

/* A bar on a terminal, unless -q or --json; started by the first object
 * done. */
struct bar {
	const char *what; /* "Receiving objects" */
	int quiet;
	int over; /* the lineage's bar: its download is done */
	struct progress *p;
};

static void bar_step(void *ctx, const dsv_transfer_stats *st)
{
	struct bar *b = ctx;
	if (!b->p && !b->quiet)
		b->p = progress_start(b->what, st->objects);
	progress_count(b->p, st->present + st->copied, st->bytes);
}

static dsv_transfer_opts transfer_opts(long jobs, struct bar *b)
{
	return (dsv_transfer_opts){.jobs = (int)jobs, .progress = bar_step,
				   .ctx = b};
}

/* The bar's line erased, before anything else is printed. */
static void bar_done(struct bar *b)
{
	progress_done(b->p);
	b->p = NULL;
}

/* A fetch's first phase, the lineage objects through libgit2: its own
 * bar, "Receiving lineage: 40% (2000/5000), 1.2 MiB | 3.4 MiB/s", erased
 * once the last one is here (the store objects' bar comes next; libgit2
 * goes on reporting while it resolves deltas, which is not drawn). */
static void lineage_step(void *ctx, const dsv_fetch_progress *st)
{
	struct bar *b = ctx;
	if (b->over || !st->objects)
		return;
	if (!b->p && !b->quiet)
		b->p = progress_start(b->what, st->objects);
	progress_count(b->p, st->received, st->bytes);
	if (st->received >= st->objects) {
		bar_done(b);
		b->over = 1;
	}
}

/* A fetch's options: both bars, pruning as asked (1, -1, 0: the config). */
static dsv_fetch_opts fetch_opts(long jobs, struct bar *objects,
				 struct bar *lineage, int prune,
				 int prune_tags)
{
	return (dsv_fetch_opts){.transfer = transfer_opts(jobs, objects),
				.prune = prune, .prune_tags = prune_tags,
				.lineage_progress = lineage_step,
				.lineage_ctx = lineage};
}

/* ---- dsv fetch ----------------------------------------------------------- */

/* Fetches `remote` and prints what moved; 0 or 1. */
static int fetch_print(const char *remote, int quiet, int json, long jobs,
		       int prune, int prune_tags, dsv_remote_result *r)
{
	struct bar b = {.what = "Receiving objects", .quiet = quiet || json},
		   lb = {.what = "Receiving lineage", .quiet = quiet || json};
	dsv_fetch_opts o = fetch_opts(jobs, &b, &lb, prune, prune_tags);
	int rc = dsv_remote_fetch(the_repo->lineage, the_repo->store, remote,
				  &o, r);
	bar_done(&lb);
	bar_done(&b);
	if (rc)
		return die_error();
	if (json) {
		print_json_result("fetch", remote, r, NULL);
	} else if (!quiet) {
		int moved = r->commits || r->objects.copied;
		for (size_t i = 0; i < r->nrefs; i++)
			moved |= r->refs[i].status != DSV_REF_UPTODATE;
		if (moved) {
			printf("From %s\n", r->url);
			print_updates(r, 0, 1);
			print_summary(r);
		}
	}
	warn_index(r);
	return 0;
}

int cmd_fetch(int argc, char **argv)
{
	static const char usage[] = "dsv fetch [-p | --no-prune] [-P | "
				    "--no-prune-tags] [-q] [--json] [-j N] "
				    "[REMOTE]";
	int quiet = 0, json = 0, prune = 0, no_prune = 0, prune_tags = 0,
	    no_prune_tags = 0;
	long jobs = 0;
	const struct option opts[] = {
		OPT_BOOL('p', "prune", &prune, "delete remote-tracking refs of "
			 "branches the remote no longer has"),
		OPT_BOOL(0, "no-prune", &no_prune, "do not, whatever "
			 "remote.NAME.prune or fetch.prune say"),
		OPT_BOOL('P', "prune-tags", &prune_tags, "with pruning, delete "
			 "local tags the remote does not have too (those made "
			 "here included)"),
		OPT_BOOL(0, "no-prune-tags", &no_prune_tags, "do not, whatever "
			 "remote.NAME.pruneTags or fetch.pruneTags say"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print what moved as JSON"),
		OPT_INT('j', "jobs", &jobs, "n", JOBS_HELP),
		OPT_END(),
	};
	dsv_remote_result r = {0};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "one remote at a time");
	if (jobs < 0 || jobs > JOBS_MAX)
		return usage_error(opts, usage, "-j must be 0..%d", JOBS_MAX);
	if (prune && no_prune)
		return usage_error(opts, usage, "--prune and --no-prune "
				   "contradict each other");
	if (prune_tags && no_prune_tags)
		return usage_error(opts, usage, "--prune-tags and "
				   "--no-prune-tags contradict each other");
	int rc = fetch_print(n ? argv[0] : "origin", quiet, json, jobs,
			     prune ? 1 : no_prune ? -1 : 0,
			     prune_tags ? 1 : no_prune_tags ? -1 : 0, &r);
	dsv_remote_result_free(&r);
	return rc;
}

/* ---- dsv pull ------------------------------------------------------------ */

static int pull_merge(const char *branch, const char *remote,
		      const char *rbranch, int quiet, int json)
{
	dsv_lineage *l = the_repo->lineage;
	char ref[600], tracking[600], a[DSV_AID_SHORTLEN + 1],
		b[DSV_AID_SHORTLEN + 1];
	dsv_aid cur, target;
	snprintf(tracking, sizeof tracking, "refs/remotes/%s/%s", remote,
		 rbranch);
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	if (dsv_lineage_ref_get(l, tracking, &target))
		return error_msg("remote '%s' has no branch '%s'", remote,
				 rbranch);
	/* the branch's writers take turns on its lock (cmd/commit.c) */
	if (dsv_store_lock_branch(the_repo->store, branch))
		return die_error();
	int had = dsv_lineage_ref_get(l, ref, &cur) == 0;
	dsv_error_clear();
	int anc = had ? dsv_lineage_is_ancestor(l, &cur, &target) : 1;
	if (anc < 0)
		return die_error();
	dsv_aid_short(b, &target);
	if (had && !dsv_aid_cmp(&cur, &target)) {
		if (!quiet && !json)
			printf("Already up to date.\n");
		return 0;
	}
	if (!anc) {
		int behind = dsv_lineage_is_ancestor(l, &target, &cur);
		if (behind < 0)
			return die_error();
		if (behind) { /* ours is ahead: nothing to take */
			if (!quiet && !json)
				printf("Already up to date.\n");
			return 0;
		}
		error_msg("branch '%s' and '%s/%s' have diverged: datasets "
			  "are not merged by text, so nothing was changed",
			  branch, remote, rbranch);
		fprintf(stderr, "hint: combine them into a new version with "
			"'dsv derive mix %s %s/%s -o NAME', or keep theirs on a "
			"branch of its own ('dsv branch NAME %s/%s', 'dsv switch "
			"NAME')\n", branch, remote, rbranch, remote, rbranch);
		return 1;
	}
	if (dsv_lineage_ref_update(l, ref, &target, had ? &cur : NULL,
				   "dsv: pull (fast-forward)"))
		return die_error();
	if (!quiet && !json) {
		if (had) {
			dsv_aid_short(a, &cur);
			printf("Updating %s..%s\nFast-forward\n", a, b);
		} else {
			printf("Branch '%s' created at %s\n", branch, b);
		}
	}
	return 0;
}

int cmd_pull(int argc, char **argv)
{
	static const char usage[] = "dsv pull [-p | --no-prune] [-q] [--json] "
				    "[-j N] [REMOTE [BRANCH]]";
	int quiet = 0, json = 0, prune = 0, no_prune = 0;
	long jobs = 0;
	const struct option opts[] = {
		OPT_BOOL('p', "prune", &prune, "the fetch deletes remote-tracking "
			 "refs of branches the remote no longer has"),
		OPT_BOOL(0, "no-prune", &no_prune, "it does not, whatever "
			 "remote.NAME.prune or fetch.prune say"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print what the fetch moved as JSON"),
		OPT_INT('j', "jobs", &jobs, "n", JOBS_HELP),
		OPT_END(),
	};
	dsv_remote_result r = {0};
	char *branch = NULL, *up_remote = NULL, *up_branch = NULL;
	int n = parse_options(argc, argv, opts, usage), rc = 1;
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 2)
		return usage_error(opts, usage, "too many arguments");
	if (prune && no_prune)
		return usage_error(opts, usage, "--prune and --no-prune "
				   "contradict each other");
	if (jobs < 0 || jobs > JOBS_MAX)
		return usage_error(opts, usage, "-j must be 0..%d", JOBS_MAX);
	if (dsv_lineage_head_branch(the_repo->lineage, &branch))
		return error_msg("HEAD is not on a branch: 'dsv switch NAME' "
				 "first");
	/* the branch's upstream when it has one, else REMOTE/<same name> */
	if (dsv_branch_upstream(the_repo->lineage, branch, &up_remote,
				&up_branch))
		dsv_error_clear();
	const char *remote = n > 0 ? argv[0] : up_remote ? up_remote : "origin";
	const char *rbranch = n > 1 ? argv[1]
			    : up_branch && (!n || !strcmp(remote, up_remote))
				      ? up_branch : branch;
	if (fetch_print(remote, quiet, json, jobs,
			prune ? 1 : no_prune ? -1 : 0, 0, &r))
		goto cleanup;
	rc = pull_merge(branch, remote, rbranch, quiet, json);
cleanup:
	dsv_remote_result_free(&r);
	free(branch);
	free(up_remote);
	free(up_branch);
	return rc;
}

/* ---- dsv push ------------------------------------------------------------ */

/* git's errors for the refs a push left; returns 1. */
static int push_rejected(const dsv_remote_result *r)
{
	int behind = 0;
	for (size_t i = 0; i < r->nrefs; i++) {
		const dsv_ref_update *u = &r->refs[i];
		if (u->status != DSV_REF_REJECTED)
			continue;
		if (!u->is_delete)
			behind = 1;
		else if (!u->had_old)
			error_msg("unable to delete '%s': remote ref does not "
				  "exist", u->src);
		else
			error_msg("refusing to delete the current branch: %s "
				  "(by default, deleting the remote's current "
				  "branch is denied: set receive.denyDeleteCurrent "
				  "to 'warn' or 'ignore' in the remote's lineage "
				  "config to allow it)", u->dst);
	}
	error_msg("failed to push some refs to '%s'", r->url);
	if (behind)
		fprintf(stderr, "hint: the remote holds versions you do not "
			"have: 'dsv pull' takes them (a fast-forward), or "
			"'dsv push --force' replaces them\n");
	return 1;
}

int cmd_push(int argc, char **argv)
{
	static const char usage[] = "dsv push [-f] [--tags] [-d] [-q] [--json] "
				    "[-j N] [REMOTE [BRANCH[:DEST] | :DEST]...]";
	int force = 0, tags = 0, quiet = 0, json = 0, del = 0;
	long jobs = 0;
	const struct option opts[] = {
		OPT_BOOL('f', "force", &force, "move remote branches that would not fast-forward"),
		OPT_BOOL('d', "delete", &del, "delete the remote branches (or "
			 "tags) named"),
		OPT_BOOL(0, "tags", &tags, "push every tag too"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print what moved as JSON"),
		OPT_INT('j', "jobs", &jobs, "n", JOBS_HELP),
		OPT_END(),
	};
	dsv_remote_result r = {0};
	struct bar b = {.what = "Writing objects"};
	char *cur = NULL;
	int n = parse_options(argc, argv, opts, usage), rc = 1;
	if (n < 0)
		return PARSE_EXIT(n);
	if (jobs < 0 || jobs > JOBS_MAX)
		return usage_error(opts, usage, "-j must be 0..%d", JOBS_MAX);
	if (del && tags)
		return usage_error(opts, usage, "--delete is incompatible with "
				   "--tags");
	if (del && n < 2)
		return usage_error(opts, usage, "--delete doesn't make sense "
				   "without any refs");
	b.quiet = quiet || json;
	const char *remote = n ? argv[0] : "origin";
	dsv_push_opts o = {.tags = tags, .force = force, .del = del,
			   .transfer = transfer_opts(jobs, &b)};
	if (n > 1) {
		o.branches = (const char *const *)argv + 1;
		o.nbranches = (size_t)n - 1;
	} else if (!tags) {
		/* the current branch, to the branch of the same name */
		if (dsv_lineage_head_branch(the_repo->lineage, &cur))
			return error_msg("HEAD is not on a branch: name the "
					 "branch to push");
		o.branches = (const char *const *)&cur;
		o.nbranches = 1;
	}
	rc = dsv_remote_push(the_repo->lineage, the_repo->store, remote, &o,
			     &r);
	bar_done(&b);
	if (rc) {
		rc = die_error();
		goto cleanup;
	}
	if (json) {
		print_json_result("push", remote, &r, NULL);
	} else if (!quiet) {
		int moved = 0;
		for (size_t i = 0; i < r.nrefs; i++)
			moved |= r.refs[i].status != DSV_REF_UPTODATE;
		if (moved) {
			printf("To %s\n", r.url);
			print_updates(&r, 0, 0);
			print_summary(&r);
		} else {
			printf("Everything up-to-date\n");
		}
	}
	warn_index(&r);
	rc = 0;
	if (r.rejected)
		rc = push_rejected(&r);
cleanup:
	dsv_remote_result_free(&r);
	free(cur);
	return rc;
}

/* ---- dsv clone ----------------------------------------------------------- */

/* 1 when `dir` is missing or an empty directory. */
static int empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;
	if (!d)
		return errno == ENOENT;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* The directory git would make for a clone of `url`: its last part (of
 * the parent for a url naming the .dsv directory itself). */
static char *default_dir(const char *url)
{
	char *u = strdup(url), *slash;
	if (!u)
		return NULL;
	size_t n = strlen(u);
	while (n > 1 && u[n - 1] == '/')
		u[--n] = '\0';
	if (n > 5 && !strcmp(u + n - 5, "/.dsv"))
		u[n - 5] = '\0';
	slash = strrchr(u, '/');
	char *d = strdup(slash && slash[1] ? slash + 1 : u);
	free(u);
	return d;
}

/* Into the new repository at top/.dsv: the remote origin, its fetch, and
 * `branch` (NULL: the remote's current branch) made a local one that tracks
 * it, or HEAD detached at the tag `branch`. */
static int clone_into(const char *top, const char *url, const char *branch,
		      int quiet, int json, long jobs)
{
	struct repo r = {0};
	dsv_remote_result res = {0};
	struct bar b = {.what = "Receiving objects", .quiet = quiet || json},
		   lb = {.what = "Receiving lineage", .quiet = quiet || json};
	dsv_fetch_opts t = fetch_opts(jobs, &b, &lb, 0, 0);
	char *lpath = NULL;
	int rc = 1, detached = 0;
	if (asprintf(&r.dir, "%s/.dsv", top) < 0 ||
	    asprintf(&lpath, "%s/lineage", r.dir) < 0) {
		r.dir = lpath = NULL;
		error_msg("out of memory");
		goto cleanup;
	}
	if (dsv_store_init(r.dir) || dsv_lineage_init(lpath) ||
	    dsv_store_open(&r.store, r.dir) ||
	    dsv_lineage_open(&r.lineage, lpath) ||
	    dsv_remote_add(r.lineage, "origin", url) ||
	    dsv_remote_fetch(r.lineage, r.store, "origin", &t, &res)) {
		bar_done(&lb);
		bar_done(&b);
		die_error();
		goto cleanup;
	}
	bar_done(&lb);
	bar_done(&b);
	if (!branch)
		branch = res.head;
	if (branch && dsv_remote_checkout(r.lineage, "origin", branch,
					  &detached)) {
		die_error();
		goto cleanup;
	}
	if (json) {
		char *qh = branch ? json_quote(branch) : NULL, extra[600];
		snprintf(extra, sizeof extra, ", \"branch\": %s, "
			 "\"detached\": %s", qh ? qh : "null",
			 detached ? "true" : "false");
		print_json_result("clone", "origin", &res, extra);
		free(qh);
	} else if (!quiet) {
		print_summary(&res);
		if (!branch)
			fprintf(stderr, "dsv: warning: you appear to have cloned "
				"an empty repository\n");
		if (detached)
			fprintf(stderr, "note: HEAD is detached at tag '%s' "
				"('dsv branch NAME' and 'dsv switch NAME' make a "
				"branch there)\n", branch);
	}
	warn_index(&res);
	rc = 0;
cleanup:
	dsv_remote_result_free(&res);
	dsv_lineage_free(r.lineage);
	dsv_store_free(r.store);
	if (rc && r.dir && dsv_store_destroy(r.dir))
		die_error();
	free(r.dir);
	free(lpath);
	return rc;
}

/* 0 when the dsv repository at `dsv_dir` has a branch or a tag `name`
 * (what clone --branch takes), else 1 with git's error printed: checked
 * before anything is made or copied. */
static int remote_has(const char *dsv_dir, const char *name)
{
	dsv_lineage *rl = NULL;
	char *lpath = NULL, ref[600];
	dsv_aid id;
	int rc = 1;
	if (asprintf(&lpath, "%s/lineage", dsv_dir) < 0) {
		lpath = NULL;
		error_msg("out of memory");
		goto cleanup;
	}
	/* the open starts libgit2, which the name's check uses */
	if (dsv_lineage_open(&rl, lpath) || dsv_lineage_name_validate(name)) {
		die_error();
		goto cleanup;
	}
	snprintf(ref, sizeof ref, "refs/heads/%s", name);
	rc = dsv_lineage_ref_get(rl, ref, &id) != 0;
	snprintf(ref, sizeof ref, "refs/tags/%s", name);
	rc = rc && dsv_lineage_ref_get(rl, ref, &id) != 0;
	dsv_error_clear();
	if (rc)
		error_msg("remote branch '%s' not found in upstream 'origin'",
			  name);
cleanup:
	dsv_lineage_free(rl);
	free(lpath);
	return rc;
}

int cmd_clone(int argc, char **argv)
{
	static const char usage[] = "dsv clone [-b BRANCH] [-q] [--json] "
				    "[-j N] PATH [DIR]";
	const char *branch = NULL;
	int quiet = 0, json = 0;
	long jobs = 0;
	const struct option opts[] = {
		OPT_STRING('b', "branch", &branch, "name", "check out this "
			   "branch of the remote (or detach at this tag) "
			   "instead of its current branch"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_BOOL(0, "json", &json, "print what was copied as JSON"),
		OPT_INT('j', "jobs", &jobs, "n", JOBS_HELP),
		OPT_END(),
	};
	char *src = NULL, *url = NULL, *dir = NULL;
	int n = parse_options(argc, argv, opts, usage), rc = 1, made = 0;
	if (n < 0)
		return PARSE_EXIT(n);
	if (n < 1 || n > 2)
		return usage_error(opts, usage, n ? "too many arguments"
						  : "a repository path is needed");
	if (jobs < 0 || jobs > JOBS_MAX)
		return usage_error(opts, usage, "-j must be 0..%d", JOBS_MAX);
	if (dsv_remote_resolve(argv[0], &src, &url))
		return die_error();
	if (branch && remote_has(src, branch))
		goto cleanup;
	if (!(dir = n > 1 ? strdup(argv[1]) : default_dir(url))) {
		error_msg("out of memory");
		goto cleanup;
	}
	if (!empty_dir(dir)) {
		error_msg("destination path '%s' already exists and is not an "
			  "empty directory", dir);
		goto cleanup;
	}
	if (mkdir(dir, 0777) == 0) {
		made = 1;
	} else if (errno != EEXIST) {
		error_msg("cannot create '%s': %s", dir, strerror(errno));
		goto cleanup;
	}
	if (!quiet && !json) {
		printf("Cloning into '%s'...\n", dir);
		fflush(stdout);
	}
	rc = clone_into(dir, url, branch, quiet, json, jobs);
	if (rc && made)
		rmdir(dir);
cleanup:
	free(src);
	free(url);
	free(dir);
	return rc;
}
