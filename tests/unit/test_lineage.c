/* test_lineage.c: the lineage repository: init, commits with parents,
 * revisions, refs moved by compare-and-swap, branches and tags, reading trees
 * back, walks, and git's own view of what dsv wrote.
 */
#include "lineage/lineage.h"
#include "tests/unit/test.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

static char *dir;      /* scratch directory */
static char *repo_path; /* dir/lineage */

static dsv_lineage *open_fresh(const char *name)
{
	dsv_lineage *l = NULL;
	free(repo_path);
	repo_path = malloc(4200);
	snprintf(repo_path, 4200, "%s/%s", dir, name);
	CHECK_OK(dsv_lineage_init(repo_path));
	CHECK_OK(dsv_lineage_open(&l, repo_path));
	return l;
}

/* Commits a dsv.json saying `op` on `ref` (expected = current value). */
static int commit_on(dsv_lineage *l, const char *ref, const dsv_aid *parents,
		     size_t np, const char *msg, dsv_aid *out)
{
	char json[256];
	dsv_aid cur;
	int have = dsv_lineage_ref_get(l, ref, &cur) == 0;
	snprintf(json, sizeof json,
		 "{\"dsv_version\":\"0.1.0\",\"kind\":\"dataset\",\"op\":"
		 "\"commit\",\"params\":{\"m\":\"%s\"}}\n", msg);
	dsv_tree_file files[2] = {
		{"dsv.json", json, strlen(json)},
		{"MANIFEST", "m\n", 2},
	};
	dsv_commit_opts o = {
		.files = files, .nfiles = 2, .parents = parents,
		.nparents = np, .message = msg, .author = "Test <t@example.com>",
		.time = 1700000000, .ref = ref, .expected = have ? &cur : NULL,
	};
	dsv_error_clear();
	return dsv_lineage_commit(l, &o, out);
}

static void test_aid(void)
{
	dsv_aid a, b;
	char hex[41], s[8];
	const char *h = "0123456789abcdef0123456789ABCDEF01234567";
	CHECK_OK(dsv_aid_parse(&a, h, 40));
	dsv_aid_fmt(hex, &a);
	CHECK(!strcmp(hex, "0123456789abcdef0123456789abcdef01234567"));
	dsv_aid_short(s, &a);
	CHECK(!strcmp(s, "0123456"));
	CHECK_OK(dsv_aid_parse(&b, hex, 40));
	CHECK(dsv_aid_cmp(&a, &b) == 0);
	CHECK(dsv_aid_parse(&b, h, 39) == DSV_EINVAL);
	CHECK(dsv_aid_parse(&b, "g123456789abcdef0123456789abcdef01234567",
			    40) == DSV_EINVAL);
	memset(&b, 0, sizeof b);
	CHECK(dsv_aid_is_zero(&b) && !dsv_aid_is_zero(&a));
}

static void test_init(void)
{
	dsv_lineage *l = open_fresh("init");
	char *br = NULL, path[4300];
	dsv_aid id;
	CHECK(dsv_lineage_init(repo_path) == DSV_EEXISTS);
	CHECK_OK(dsv_lineage_head_branch(l, &br));
	CHECK(br && !strcmp(br, "main"));
	CHECK(dsv_lineage_head(l, &id) == DSV_ENOTFOUND);
	CHECK(dsv_lineage_resolve(l, "HEAD", &id) == DSV_ENOTFOUND);
	snprintf(path, sizeof path, "%s/objects", repo_path);
	CHECK(access(path, F_OK) == 0); /* bare: no .git inside */
	free(br);
	dsv_lineage_free(l);
	CHECK(dsv_lineage_open(&l, "/nonexistent/dsv/lineage") < 0);
	CHECK(l == NULL);
}

static void test_commit_and_revparse(void)
{
	dsv_lineage *l = open_fresh("revs");
	dsv_aid c1, c2, c3, side, merge, r, par[2];
	dsv_commit_info *ci = NULL;
	char *text = NULL, hex[41];
	size_t len;

	CHECK_OK(commit_on(l, "refs/heads/main", NULL, 0, "first", &c1));
	CHECK_OK(commit_on(l, "refs/heads/main", &c1, 1, "second", &c2));
	CHECK_OK(commit_on(l, "refs/heads/main", &c2, 1, "third", &c3));
	CHECK_OK(commit_on(l, "refs/heads/side", &c1, 1, "side", &side));
	par[0] = c3;
	par[1] = side;
	CHECK_OK(commit_on(l, "refs/heads/main", par, 2, "merge", &merge));

	CHECK_OK(dsv_lineage_resolve(l, "main", &r));
	CHECK(dsv_aid_cmp(&r, &merge) == 0);
	CHECK_OK(dsv_lineage_resolve(l, "HEAD", &r));
	CHECK(dsv_aid_cmp(&r, &merge) == 0);
	CHECK_OK(dsv_lineage_head(l, &r));
	CHECK(dsv_aid_cmp(&r, &merge) == 0);
	CHECK_OK(dsv_lineage_resolve(l, "main~1", &r));
	CHECK(dsv_aid_cmp(&r, &c3) == 0);
	CHECK_OK(dsv_lineage_resolve(l, "main~3", &r));
	CHECK(dsv_aid_cmp(&r, &c1) == 0);
	CHECK_OK(dsv_lineage_resolve(l, "main^2", &r));
	CHECK(dsv_aid_cmp(&r, &side) == 0);
	dsv_aid_fmt(hex, &c2);
	hex[10] = '\0';
	CHECK_OK(dsv_lineage_resolve(l, hex, &r));
	CHECK(dsv_aid_cmp(&r, &c2) == 0);

	CHECK_OK(dsv_lineage_tag_create(l, "v1", "main~1", 0));
	CHECK(dsv_lineage_tag_create(l, "v1", "main", 0) == DSV_EEXISTS);
	CHECK_OK(dsv_lineage_resolve(l, "v1", &r));
	CHECK(dsv_aid_cmp(&r, &c3) == 0);
	CHECK_OK(dsv_lineage_resolve(l, "v1~1", &r));
	CHECK(dsv_aid_cmp(&r, &c2) == 0);

	CHECK(dsv_lineage_resolve(l, "xyz", &r) == DSV_ENOTFOUND);
	CHECK(strstr(dsv_error_last(), "unknown revision 'xyz'") != NULL);
	CHECK(dsv_lineage_resolve(l, "main~9", &r) == DSV_ENOTFOUND);
	CHECK(dsv_lineage_resolve(l, "ma in", &r) == DSV_EINVAL);
	CHECK(dsv_lineage_resolve(l, "main\n", &r) == DSV_EINVAL);
	CHECK(dsv_lineage_resolve(l, "", &r) == DSV_EINVAL);

	CHECK_OK(dsv_lineage_read_file(l, &c2, "dsv.json", &text, &len));
	CHECK(text && strstr(text, "\"second\"") && len == strlen(text));
	free(text);
	CHECK(dsv_lineage_read_file(l, &c2, "MODEL", &text, &len) ==
	      DSV_ENOTFOUND);
	CHECK(text == NULL);

	CHECK_OK(dsv_commit_info_open(&ci, l, &merge));
	CHECK(ci && ci->nparents == 2);
	CHECK(ci && dsv_aid_cmp(&ci->parents[0], &c3) == 0 &&
	      dsv_aid_cmp(&ci->parents[1], &side) == 0);
	CHECK(ci && !strcmp(ci->message, "merge\n") &&
	      !strcmp(ci->summary, "merge"));
	CHECK(ci && !strcmp(ci->author_name, "Test") &&
	      !strcmp(ci->author_email, "t@example.com") &&
	      ci->time == 1700000000);
	dsv_commit_info_free(ci);
	dsv_commit_info_free(NULL);

	/* a bad parent is refused, nothing moves */
	{
		dsv_aid bogus;
		memset(&bogus, 0x42, sizeof bogus);
		CHECK(commit_on(l, "refs/heads/main", &bogus, 1, "bad", &r) ==
		      DSV_ENOTFOUND);
		CHECK_OK(dsv_lineage_resolve(l, "main", &r));
		CHECK(dsv_aid_cmp(&r, &merge) == 0);
	}

	/* git itself reads the history */
	if (system("git --version >/dev/null 2>&1") == 0) {
		char cmd[4400], line[256];
		int seen = 0;
		snprintf(cmd, sizeof cmd,
			 "git --git-dir '%s' log --oneline main 2>&1", repo_path);
		FILE *p = popen(cmd, "r");
		while (p && fgets(line, sizeof line, p))
			seen += !!strstr(line, " merge") +
				!!strstr(line, " third") +
				!!strstr(line, " side") +
				!!strstr(line, " first");
		CHECK(p && pclose(p) == 0);
		CHECK(seen == 4);
		snprintf(cmd, sizeof cmd,
			 "git --git-dir '%s' log --graph --oneline >/dev/null "
			 "2>&1 && git --git-dir '%s' fsck --strict >/dev/null 2>&1",
			 repo_path, repo_path);
		CHECK(system(cmd) == 0);
	} else {
		printf("  result: git not installed; git log check skipped\n");
	}
	dsv_lineage_free(l);
}

static void test_branches(void)
{
	dsv_lineage *l = open_fresh("branches");
	dsv_aid c1, c2, r;
	dsv_refinfo *refs = NULL;
	size_t n = 0;
	char *br = NULL;

	CHECK(dsv_lineage_set_head(l, "other") == 0); /* empty repo: allowed */
	CHECK_OK(dsv_lineage_set_head(l, "main"));
	CHECK_OK(commit_on(l, "refs/heads/main", NULL, 0, "one", &c1));
	CHECK_OK(commit_on(l, "refs/heads/main", &c1, 1, "two", &c2));
	CHECK(dsv_lineage_branch_exists(l, "main") == 1);
	CHECK(dsv_lineage_branch_exists(l, "edu") == 0);
	CHECK_OK(dsv_lineage_branch_create(l, "edu", "main~1", 0));
	CHECK(dsv_lineage_branch_create(l, "edu", "main", 0) == DSV_EEXISTS);
	CHECK(dsv_lineage_branch_create(l, "x", "nope", 0) == DSV_ENOTFOUND);
	CHECK(dsv_lineage_branch_create(l, "bad..name", "main", 0) ==
	      DSV_EINVAL);
	CHECK(dsv_lineage_branch_create(l, "-x", "main", 0) == DSV_EINVAL);
	CHECK_OK(dsv_lineage_branch_create(l, "edu", "main", 1));
	CHECK_OK(dsv_lineage_branch_create(l, "edu-3", "main~1", 0));
	CHECK_OK(dsv_lineage_branch_list(l, &refs, &n));
	CHECK(n == 3);
	CHECK(n == 3 && !strcmp(refs[0].name, "edu") &&
	      !strcmp(refs[1].name, "edu-3") && !strcmp(refs[2].name, "main"));
	CHECK(n == 3 && dsv_aid_cmp(&refs[0].target, &c2) == 0 &&
	      dsv_aid_cmp(&refs[1].target, &c1) == 0);
	dsv_refinfo_free(refs, n);

	CHECK(dsv_lineage_set_head(l, "nope") == DSV_ENOTFOUND);
	CHECK_OK(dsv_lineage_set_head(l, "edu-3"));
	CHECK_OK(dsv_lineage_head_branch(l, &br));
	CHECK(br && !strcmp(br, "edu-3"));
	free(br);
	CHECK_OK(dsv_lineage_head(l, &r));
	CHECK(dsv_aid_cmp(&r, &c1) == 0);
	CHECK(dsv_lineage_branch_delete(l, "edu-3") == DSV_EINVAL);
	CHECK_OK(dsv_lineage_set_head(l, "main"));
	CHECK_OK(dsv_lineage_branch_delete(l, "edu-3"));
	CHECK(dsv_lineage_branch_delete(l, "edu-3") == DSV_ENOTFOUND);
	CHECK(dsv_lineage_branch_exists(l, "edu-3") == 0);

	CHECK_OK(dsv_lineage_tag_create(l, "v2", "main", 0));
	CHECK_OK(dsv_lineage_tag_create(l, "v1", "main~1", 0));
	CHECK(dsv_lineage_tag_exists(l, "v1") == 1);
	CHECK_OK(dsv_lineage_tag_list(l, &refs, &n));
	CHECK(n == 2 && !strcmp(refs[0].name, "v1") &&
	      dsv_aid_cmp(&refs[0].target, &c1) == 0);
	dsv_refinfo_free(refs, n);
	CHECK_OK(dsv_lineage_tag_delete(l, "v1"));
	CHECK(dsv_lineage_tag_exists(l, "v1") == 0);
	CHECK_OK(dsv_lineage_resolve(l, "v2", &r));
	CHECK(dsv_aid_cmp(&r, &c2) == 0);
	dsv_lineage_free(l);
}

/* Deleting packed refs (after git pack-refs): the same handle, whose
 * libgit2 has read packed-refs already, sees them gone and the rest kept. */
static void test_delete_packed(void)
{
	dsv_lineage *l = open_fresh("packed");
	char cmd[4400], *nested = NULL;
	dsv_aid c1, r;

	if (system("git --version >/dev/null 2>&1") != 0) {
		printf("  result: git not installed; packed refs skipped\n");
		dsv_lineage_free(l);
		return;
	}
	CHECK_OK(dsv_lineage_set_head(l, "main"));
	CHECK_OK(commit_on(l, "refs/heads/main", NULL, 0, "one", &c1));
	CHECK_OK(dsv_lineage_branch_create(l, "p", "main", 0));
	CHECK_OK(dsv_lineage_branch_create(l, "n/s", "main", 0));
	CHECK_OK(dsv_lineage_tag_create(l, "v1", "main", 0));
	snprintf(cmd, sizeof cmd, "git --git-dir '%s' pack-refs --all",
		 repo_path);
	CHECK(system(cmd) == 0);
	CHECK(dsv_lineage_branch_exists(l, "p") == 1);
	CHECK_OK(dsv_lineage_branch_delete(l, "p"));
	CHECK(dsv_lineage_branch_exists(l, "p") == 0);
	CHECK(dsv_lineage_branch_delete(l, "p") == DSV_ENOTFOUND);
	CHECK_OK(dsv_lineage_branch_delete(l, "n/s"));
	CHECK(dsv_lineage_branch_exists(l, "n/s") == 0);
	CHECK(asprintf(&nested, "%s/refs/heads/n", repo_path) > 0 &&
	      access(nested, F_OK) != 0); /* the lock's directory is gone */
	CHECK_OK(dsv_lineage_tag_delete(l, "v1"));
	CHECK(dsv_lineage_tag_exists(l, "v1") == 0);
	CHECK_OK(dsv_lineage_resolve(l, "main", &r));
	CHECK(dsv_aid_cmp(&r, &c1) == 0);
	snprintf(cmd, sizeof cmd, "git --git-dir '%s' fsck --strict >/dev/null "
		 "2>&1 && test \"$(git --git-dir '%s' for-each-ref "
		 "--format='%%(refname)')\" = refs/heads/main", repo_path,
		 repo_path);
	CHECK(system(cmd) == 0);
	free(nested);
	dsv_lineage_free(l);
}

/* dsv_lineage_ref_delete: a compare-and-swap, for a loose ref and a
 * packed one, and for refs outside refs/heads and refs/tags. */
static void test_delete_cas(void)
{
	dsv_lineage *l = open_fresh("delcas");
	char cmd[4400];
	dsv_aid c1, c2, r;

	CHECK_OK(dsv_lineage_set_head(l, "main"));
	CHECK_OK(commit_on(l, "refs/heads/main", NULL, 0, "one", &c1));
	CHECK_OK(commit_on(l, "refs/heads/main", &c1, 1, "two", &c2));
	CHECK_OK(dsv_lineage_ref_update(l, "refs/remotes/o/x", &c1, NULL, NULL));
	CHECK_OK(dsv_lineage_ref_update(l, "refs/heads/y", &c1, NULL, NULL));
	CHECK(dsv_lineage_ref_delete(l, "refs/remotes/o/x", &c2) ==
	      DSV_ECONFLICT);
	CHECK(strstr(dsv_error_last(), "moved (expected") != NULL);
	CHECK_OK(dsv_lineage_ref_get(l, "refs/remotes/o/x", &r));
	CHECK_OK(dsv_lineage_ref_delete(l, "refs/remotes/o/x", &c1));
	CHECK(dsv_lineage_ref_get(l, "refs/remotes/o/x", &r) == DSV_ENOTFOUND);
	CHECK(dsv_lineage_ref_delete(l, "refs/remotes/o/x", NULL) ==
	      DSV_ENOTFOUND);
	CHECK(dsv_lineage_ref_delete(l, "refs", NULL) == DSV_EINVAL);
	CHECK(dsv_lineage_ref_delete(l, "heads/y", NULL) == DSV_EINVAL);
	snprintf(cmd, sizeof cmd, "git --git-dir '%s' pack-refs --all "
		 ">/dev/null 2>&1", repo_path);
	if (system(cmd) == 0) { /* y now only in packed-refs */
		CHECK(dsv_lineage_ref_delete(l, "refs/heads/y", &c2) ==
		      DSV_ECONFLICT);
		CHECK_OK(dsv_lineage_ref_get(l, "refs/heads/y", &r));
		CHECK_OK(dsv_lineage_ref_delete(l, "refs/heads/y", &c1));
		CHECK(dsv_lineage_ref_get(l, "refs/heads/y", &r) ==
		      DSV_ENOTFOUND);
	}
	CHECK_OK(dsv_lineage_ref_get(l, "refs/heads/main", &r));
	CHECK(dsv_aid_cmp(&r, &c2) == 0);
	dsv_lineage_free(l);
}

static void test_cas_sequential(void)
{
	dsv_lineage *l = open_fresh("cas1");
	dsv_aid base, a, b, r;
	dsv_tree_file f = {"dsv.json", "{}", 2};
	dsv_commit_opts o = {.files = &f, .nfiles = 1, .message = "x",
			     .author = "T <t@t>", .ref = "refs/heads/main"};

	CHECK_OK(dsv_lineage_commit(l, &o, &base));
	/* expected NULL but the branch exists: conflict */
	o.parents = &base;
	o.nparents = 1;
	o.message = "a";
	o.expected = &base;
	CHECK_OK(dsv_lineage_commit(l, &o, &a));
	o.message = "b"; /* the same stale expectation */
	CHECK(dsv_lineage_commit(l, &o, &b) == DSV_ECONFLICT);
	CHECK(strstr(dsv_error_last(), "branch 'main' moved (expected ") != NULL);
	CHECK(strstr(dsv_error_last(), "nothing was recorded") != NULL);
	CHECK_OK(dsv_lineage_resolve(l, "main", &r));
	CHECK(dsv_aid_cmp(&r, &a) == 0);
	o.expected = NULL;
	CHECK(dsv_lineage_commit(l, &o, &b) == DSV_ECONFLICT);
	CHECK(strstr(dsv_error_last(), "already exists") != NULL);
	/* expected set but the ref does not exist */
	o.ref = "refs/heads/none";
	o.expected = &base;
	CHECK(dsv_lineage_commit(l, &o, &b) == DSV_ECONFLICT);
	CHECK(dsv_lineage_branch_exists(l, "none") == 0);
	CHECK_OK(dsv_lineage_ref_update(l, "refs/heads/main", &base, &a, NULL));
	CHECK(dsv_lineage_ref_update(l, "refs/heads/main", &a, &a, NULL) ==
	      DSV_ECONFLICT);
	CHECK(dsv_lineage_ref_update(l, "refs/heads/../x", &a, NULL, NULL) ==
	      DSV_EINVAL);
	dsv_lineage_free(l);
}

/* Two writers, each with its own handle, race from the same expected value;
 * exactly one wins each round and the winner's commit is what the ref holds. */
struct racer {
	const char *path;
	dsv_aid expected, made;
	int rc;
	pthread_barrier_t *bar;
	int who;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	dsv_lineage *l = NULL;
	char msg[32];
	snprintf(msg, sizeof msg, "racer %d", r->who);
	dsv_tree_file f = {"dsv.json", msg, strlen(msg)};
	dsv_commit_opts o = {.files = &f, .nfiles = 1, .message = msg,
			     .author = "T <t@t>", .parents = &r->expected,
			     .nparents = 1, .ref = "refs/heads/main",
			     .expected = &r->expected};
	r->rc = dsv_lineage_open(&l, r->path);
	pthread_barrier_wait(r->bar);
	if (r->rc == 0)
		r->rc = dsv_lineage_commit(l, &o, &r->made);
	dsv_lineage_free(l);
	return NULL;
}

static void test_cas_race(void)
{
	dsv_lineage *l = open_fresh("cas2");
	dsv_aid base, head;
	dsv_tree_file f = {"dsv.json", "{}", 2};
	dsv_commit_opts o = {.files = &f, .nfiles = 1, .message = "base",
			     .author = "T <t@t>", .ref = "refs/heads/main"};
	int rounds = 20, bad = 0;

	CHECK_OK(dsv_lineage_commit(l, &o, &base));
	for (int i = 0; i < rounds; i++) {
		pthread_barrier_t bar;
		pthread_t t[2];
		struct racer r[2];
		int wins = 0;
		pthread_barrier_init(&bar, NULL, 2);
		for (int k = 0; k < 2; k++) {
			memset(&r[k], 0, sizeof r[k]);
			r[k].path = repo_path;
			r[k].expected = base;
			r[k].bar = &bar;
			r[k].who = 2 * i + k;
			pthread_create(&t[k], NULL, race, &r[k]);
		}
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		pthread_barrier_destroy(&bar);
		CHECK_OK(dsv_lineage_resolve(l, "main", &head));
		for (int k = 0; k < 2; k++) {
			if (r[k].rc == 0) {
				wins++;
				if (dsv_aid_cmp(&head, &r[k].made))
					bad++;
			} else if (r[k].rc != DSV_ECONFLICT) {
				bad++;
			}
		}
		if (wins != 1)
			bad++;
		base = head;
	}
	CHECK(bad == 0);
	/* the chain holds base + one commit per round, nothing lost */
	{
		dsv_walk *w = NULL;
		dsv_aid id;
		int n = 0;
		CHECK_OK(dsv_walk_new(&w, l, &head, 1, 0));
		while (w && dsv_walk_next(w, &id) == 1)
			n++;
		dsv_walk_free(w);
		CHECK(n == rounds + 1);
	}
	dsv_lineage_free(l);
}

static void test_walk(void)
{
	dsv_lineage *l = open_fresh("walk");
	dsv_aid a, b, c, d, par[2], id, seen[8];
	dsv_walk *w = NULL;
	int n = 0;

	/* diamond: a <- b, a <- c, d merges b and c */
	CHECK_OK(commit_on(l, "refs/heads/main", NULL, 0, "a", &a));
	CHECK_OK(commit_on(l, "refs/heads/main", &a, 1, "b", &b));
	CHECK_OK(commit_on(l, "refs/heads/c", &a, 1, "c", &c));
	par[0] = b;
	par[1] = c;
	CHECK_OK(commit_on(l, "refs/heads/main", par, 2, "d", &d));
	CHECK_OK(dsv_walk_new(&w, l, &d, 1, DSV_WALK_TOPO));
	while (w && n < 8 && dsv_walk_next(w, &id) == 1)
		seen[n++] = id;
	dsv_walk_free(w);
	CHECK(n == 4);
	CHECK(n == 4 && dsv_aid_cmp(&seen[0], &d) == 0 &&
	      dsv_aid_cmp(&seen[3], &a) == 0);
	n = 0;
	CHECK_OK(dsv_walk_new(&w, l, &d, 1, DSV_WALK_FIRST_PARENT));
	while (w && n < 8 && dsv_walk_next(w, &id) == 1)
		seen[n++] = id;
	dsv_walk_free(w);
	CHECK(n == 3);
	CHECK(n == 3 && dsv_aid_cmp(&seen[1], &b) == 0);
	dsv_walk_free(NULL);
	dsv_lineage_free(NULL);
	dsv_lineage_free(l);
}

static void test_author(void)
{
	char *a = NULL;
	setenv("DSV_AUTHOR", "Ada Lovelace <ada@example.org>", 1);
	CHECK_OK(dsv_lineage_author(&a));
	CHECK(a && !strcmp(a, "Ada Lovelace <ada@example.org>"));
	free(a);
	setenv("DSV_AUTHOR", "no email", 1);
	CHECK(dsv_lineage_author(&a) == DSV_EINVAL);
	unsetenv("DSV_AUTHOR");
	CHECK_OK(dsv_lineage_author(&a));
	CHECK(a && strchr(a, '<') && strchr(a, '>'));
	free(a);
}

/* dsv compare's arithmetic on made-up curves: k >= 1 always, from the
 * model that needed fewer tokens for the common loss, also when the one
 * with the lower final loss got it by training longer. */
static void test_compare_curves(void)
{
	const dsv_metrics_row a[] = {{0, 0, NAN, 6.0, 0}, {10, 1000, 5.0, 5.0, 1},
				     {40, 4000, 4.0, 4.0, 4}};
	const dsv_metrics_row b[] = {{0, 0, NAN, 6.0, 0}, {5, 500, 5.0, 5.0, 1}};
	const dsv_metrics_row c[] = {{0, 0, NAN, 6.0, 0}, {40, 4000, 5.0, 5.0, 4}};
	dsv_compare_result r;
	/* A (4.0 at 4000) reaches B's 5.0 after 1000 tokens; B after 500 */
	CHECK_OK(dsv_compare_curves(a, 3, b, 2, &r));
	CHECK(r.better == 0 && r.efficient == 1);
	CHECK(fabs(r.k - 2.0) < 1e-12 && fabs(r.break_even - 0.5) < 1e-12);
	CHECK(r.need[0] == 1000 && r.need[1] == 500);
	/* same budgets: A reaches C's final 5.0 after 1000, C after 4000 */
	CHECK_OK(dsv_compare_curves(c, 2, a, 3, &r));
	CHECK(r.better == 1 && r.efficient == 1 && fabs(r.k - 4.0) < 1e-12);
	/* a noisy curve (below its final loss before the end) against
	 * itself: k = 1, not 2000 / 909 */
	const dsv_metrics_row d[] = {{0, 0, NAN, 6.0, 0}, {10, 1000, 4.9, 4.9, 1},
				     {20, 2000, 5.0, 5.0, 2}};
	CHECK_OK(dsv_compare_curves(d, 3, d, 3, &r));
	CHECK(r.k == 1 && r.break_even == 0);
	CHECK(fabs(r.need[0] - 1000.0 / 1.1) < 1e-9 && r.need[0] == r.need[1]);
}

int main(void)
{
	dir = test_tmpdir();
	RUN(test_aid);
	RUN(test_init);
	RUN(test_commit_and_revparse);
	RUN(test_branches);
	RUN(test_delete_packed);
	RUN(test_delete_cas);
	RUN(test_cas_sequential);
	RUN(test_cas_race);
	RUN(test_walk);
	RUN(test_author);
	RUN(test_compare_curves);
	test_rmdir(dir);
	free(dir);
	free(repo_path);
	TEST_EXIT();
}
