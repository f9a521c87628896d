/* test_audit.c: the compute audit: a diamond ancestry counts each commit
 * once, totals by mode, the data and training shares in FLOPs or seconds,
 * and a 10,000-commit chain walked and audited (times printed, not asserted).
 */
#include "lineage/lineage.h"
#include "tests/unit/test.h"

#include <git2.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

static char *dir;

static dsv_lineage *fresh(const char *name)
{
	char path[4300];
	dsv_lineage *l = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	CHECK_OK(dsv_lineage_init(path));
	CHECK_OK(dsv_lineage_open(&l, path));
	return l;
}

/* Commits an artifact whose compute record says `mode`, `wall` seconds and
 * `flops`; no ref moves (the caller keeps the ids). */
static dsv_aid art(dsv_lineage *l, const char *op, dsv_mode mode, double wall,
		   double flops, const dsv_aid *parents, size_t np)
{
	dsv_artifact *a = NULL;
	dsv_compute c;
	dsv_aid id;
	char *text = NULL;
	size_t len = 0;

	memset(&id, 0, sizeof id);
	CHECK_OK(dsv_artifact_new(&a, mode == DSV_MODE_TRAINING
					      ? DSV_KIND_MODEL
					      : DSV_KIND_DATASET, op));
	dsv_compute_init(&c, mode);
	c.wall_s = wall;
	c.cpu_s = wall * 2;
	c.flops = flops;
	c.bytes_read = 100;
	c.records_out = 10;
	dsv_artifact_set_compute(a, &c);
	for (size_t i = 0; i < np; i++)
		CHECK_OK(dsv_artifact_add_input(a, "input", &parents[i]));
	CHECK_OK(dsv_artifact_format(a, &text, &len));
	dsv_tree_file f = {"dsv.json", text, len};
	dsv_commit_opts o = {.files = &f, .nfiles = 1, .parents = parents,
			     .nparents = np, .message = op,
			     .author = "T <t@t>", .time = 1700000000};
	CHECK_OK(dsv_lineage_commit(l, &o, &id));
	free(text);
	dsv_artifact_free(a);
	return id;
}

/* base (ingest 10s) <- left (filter 2s), right (dedup 3s);
 * mix (2 parents, 1s) <- model (train 100s) <- synth (4s, from the
 * model and from base). ids: base, left, right, mix, model, synth. */
enum { BASE, LEFT, RIGHT, MIX, MODEL, SYNTH };
static void diamond(dsv_lineage *l, dsv_aid id[6])
{
	dsv_aid p[2];
	id[BASE] = art(l, "commit", DSV_MODE_INGEST, 10, 0, NULL, 0);
	id[LEFT] = art(l, "filter", DSV_MODE_SELECTION, 2, 0, &id[BASE], 1);
	id[RIGHT] = art(l, "dedup", DSV_MODE_SELECTION, 3, 0, &id[BASE], 1);
	p[0] = id[LEFT];
	p[1] = id[RIGHT];
	id[MIX] = art(l, "mix", DSV_MODE_SELECTION, 1, 0, p, 2);
	id[MODEL] = art(l, "train", DSV_MODE_TRAINING, 100, 0, &id[MIX], 1);
	p[0] = id[BASE];
	p[1] = id[MODEL];
	id[SYNTH] = art(l, "synth", DSV_MODE_GENERATION, 4, 0, p, 2);
}

static void test_diamond(void)
{
	dsv_lineage *l = fresh("diamond");
	dsv_audit *au = NULL;
	dsv_aid id[6], synth, mix;

	diamond(l, id);
	synth = id[SYNTH];
	mix = id[MIX];

	CHECK_OK(dsv_audit_run(&au, l, &synth));
	CHECK(au && au->nrows == 6);
	CHECK(au && au->nmissing == 0);
	CHECK(au && dsv_aid_cmp(&au->rows[0].id, &synth) == 0);
	CHECK(au && au->by_mode[DSV_MODE_INGEST].wall_s == 10);
	CHECK(au && au->by_mode[DSV_MODE_SELECTION].wall_s == 6);
	CHECK(au && au->by_mode[DSV_MODE_SELECTION].ranks == 3);
	CHECK(au && au->by_mode[DSV_MODE_TRAINING].wall_s == 100);
	CHECK(au && au->by_mode[DSV_MODE_GENERATION].wall_s == 4);
	CHECK(au && au->total.wall_s == 120 && au->total.cpu_s == 240);
	CHECK(au && au->total.bytes_read == 600);
	CHECK(au && au->share_unit == DSV_SHARE_SECONDS);
	CHECK(au && fabs(au->data_share - 20.0 / 120) < 1e-12);
	CHECK(au && fabs(au->training_share - 100.0 / 120) < 1e-12);
	/* each ancestor's share: its seconds over the 120; they sum to 1 */
	{
		double sum = 0;
		for (size_t i = 0; au && i < au->nrows; i++) {
			const dsv_audit_row *r = &au->rows[i];
			CHECK(fabs(r->share - r->compute.wall_s / 120) < 1e-12);
			sum += r->share;
		}
		CHECK(fabs(sum - 1) < 1e-12);
	}
	dsv_audit_free(au);
	au = NULL;

	/* auditing the mix alone: 4 ancestors, no training */
	CHECK_OK(dsv_audit_run(&au, l, &mix));
	CHECK(au && au->nrows == 4 && au->total.wall_s == 16);
	CHECK(au && au->data_share == 1.0 && au->training_share == 0);
	dsv_audit_free(au);
	dsv_audit_free(NULL);
	dsv_lineage_free(l);

	/* a damaged cache only costs speed: truncate it mid-record, append
	 * garbage, and the audit still sees all six ancestors */
	{
		char path[4300];
		FILE *f;
		long size;
		snprintf(path, sizeof path, "%s/diamond/dsv-cache", dir);
		f = fopen(path, "r+b");
		CHECK(f != NULL);
		if (f) {
			fseek(f, 0, SEEK_END);
			size = ftell(f);
			CHECK(size > 100);
			CHECK(ftruncate(fileno(f), size / 2) == 0);
			fseek(f, 0, SEEK_END);
			fwrite("garbage\x01\x02\x03", 1, 10, f);
			fclose(f);
		}
		snprintf(path, sizeof path, "%s/diamond", dir);
		l = NULL;
		CHECK_OK(dsv_lineage_open(&l, path));
		au = NULL;
		CHECK_OK(dsv_audit_run(&au, l, &synth));
		CHECK(au && au->nrows == 6 && au->nmissing == 0 &&
		      au->total.wall_s == 120);
		dsv_audit_free(au);
		dsv_lineage_free(l);
		/* the damaged tail was cut and the entries appended again */
		l = NULL;
		CHECK_OK(dsv_lineage_open(&l, path));
		snprintf(path, sizeof path, "%s/diamond/dsv-cache", dir);
		{
			FILE *g = fopen(path, "rb");
			static char buf[1 << 16];
			int found = 0;
			size_t k;
			while (g && (k = fread(buf, 1, sizeof buf, g)) > 0)
				found |= memmem(buf, k, "garbage", 7) != NULL;
			if (g)
				fclose(g);
			CHECK(!found);
		}
		dsv_lineage_free(l);
	}
}

static void test_flops_share(void)
{
	dsv_lineage *l = fresh("flops");
	dsv_audit *au = NULL;
	dsv_aid a, b, c;

	a = art(l, "commit", DSV_MODE_INGEST, 5, 1e12, NULL, 0);
	b = art(l, "annotate", DSV_MODE_SELECTION, 5, 3e12, &a, 1);
	c = art(l, "train", DSV_MODE_TRAINING, 50, 12e12, &b, 1);
	CHECK_OK(dsv_audit_run(&au, l, &c));
	CHECK(au && au->share_unit == DSV_SHARE_FLOPS);
	CHECK(au && fabs(au->data_share - 0.25) < 1e-12);
	CHECK(au && fabs(au->data_cost - 4e12) < 1 &&
	      fabs(au->training_cost - 12e12) < 1);
	CHECK(au && au->nrows == 3 && fabs(au->rows[0].share - 0.75) < 1e-12 &&
	      fabs(au->rows[1].share - 3.0 / 16) < 1e-12 &&
	      fabs(au->rows[2].share - 1.0 / 16) < 1e-12);
	dsv_audit_free(au);

	/* one data ancestor without FLOPs: everything falls back to seconds */
	{
		dsv_aid d = art(l, "filter", DSV_MODE_SELECTION, 10, 0, &c, 1);
		CHECK_OK(dsv_audit_run(&au, l, &d));
		CHECK(au && au->share_unit == DSV_SHARE_SECONDS);
		CHECK(au && fabs(au->data_share - 20.0 / 70) < 1e-12);
		dsv_audit_free(au);
	}

	/* a commit without dsv.json is counted as missing, not an error */
	{
		dsv_tree_file f = {"README", "hand made\n", 10};
		dsv_commit_opts o = {.files = &f, .nfiles = 1, .parents = &c,
				     .nparents = 1, .message = "by hand",
				     .author = "T <t@t>"};
		dsv_aid e;
		CHECK_OK(dsv_lineage_commit(l, &o, &e));
		CHECK_OK(dsv_audit_run(&au, l, &e));
		CHECK(au && au->nrows == 4 && au->nmissing == 1);
		dsv_audit_free(au);
	}
	dsv_lineage_free(l);
}

/* dsv_ancestry_open (dsv report's graph) on the diamond of test_diamond:
 * the audit's rows in the audit's order, each node's parents the indices
 * of its commit's parents, primary input first, and the artifact fields. */
static void test_ancestry(void)
{
	dsv_lineage *l = fresh("ancestry");
	dsv_ancestry *an = NULL;
	dsv_audit *au = NULL;
	dsv_aid id[6], base, model, synth;

	diamond(l, id);
	base = id[BASE];
	model = id[MODEL];
	synth = id[SYNTH];

	char path[4300];
	git_repository *repo = NULL;
	snprintf(path, sizeof path, "%s/ancestry", dir);
	CHECK(git_repository_open(&repo, path) == 0);
	CHECK_OK(dsv_ancestry_open(&an, l, &synth));
	CHECK_OK(dsv_audit_run(&au, l, &synth));
	CHECK(an && au && an->n == au->nrows && an->n == 6);
	for (size_t i = 0; an && au && i < an->n && i < au->nrows; i++) {
		const dsv_ancestry_node *nd = &an->nodes[i];
		CHECK(dsv_aid_cmp(&nd->id, &au->rows[i].id) == 0);
		CHECK(nd->has_artifact && nd->has_compute);
		CHECK(nd->compute.wall_s == au->rows[i].compute.wall_s);
		/* art's message is its op (git adds the final newline) */
		size_t oplen = strlen(nd->op);
		CHECK(!strncmp(nd->message, nd->op, oplen) &&
		      !strcmp(nd->message + oplen, "\n"));
		CHECK(nd->time == 1700000000 && !strcmp(nd->author_name, "T"));
		/* parents: git's, in order, as indices of nodes */
		git_commit *c = NULL;
		git_oid oid;
		memcpy(oid.id, nd->id.b, sizeof oid.id);
		CHECK(git_commit_lookup(&c, repo, &oid) == 0);
		CHECK(c && nd->nparents == git_commit_parentcount(c));
		for (size_t k = 0; c && k < nd->nparents; k++) {
			CHECK(nd->parents[k] < an->n && nd->parents[k] != i);
			CHECK(!memcmp(an->nodes[nd->parents[k]].id.b,
				      git_commit_parent_id(c, (unsigned)k)->id,
				      sizeof oid.id));
		}
		git_commit_free(c);
	}
	CHECK(an && an->nodes[0].nparents == 2 &&
	      dsv_aid_cmp(&an->nodes[an->nodes[0].parents[0]].id, &base) == 0 &&
	      dsv_aid_cmp(&an->nodes[an->nodes[0].parents[1]].id, &model) == 0);
	CHECK(an && an->nodes[0].kind == DSV_KIND_DATASET &&
	      !strcmp(an->nodes[0].op, "synth"));
	dsv_ancestry_free(an);
	dsv_audit_free(au);
	an = NULL;
	/* a root alone */
	CHECK_OK(dsv_ancestry_open(&an, l, &base));
	CHECK(an && an->n == 1 && an->nodes[0].nparents == 0);
	dsv_ancestry_free(an);
	dsv_ancestry_free(NULL);
	git_repository_free(repo);
	dsv_lineage_free(l);
}

static double ms_since(struct timespec t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static void test_10k_chain(void)
{
	enum { N = 10000 };
	dsv_lineage *l = fresh("chain");
	dsv_audit *au = NULL;
	dsv_walk *w = NULL;
	dsv_aid prev, id;
	struct timespec t0;
	int n = 0;

	/* Building is not what is measured: skip the per-object fsync. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		dsv_mode m = i % 100 == 99 ? DSV_MODE_TRAINING
					   : DSV_MODE_SELECTION;
		prev = art(l, m == DSV_MODE_TRAINING ? "train" : "filter", m,
			   1.0 + i % 7, 0, i ? &prev : NULL, i ? 1 : 0);
		if (test_failed_checks)
			break;
	}
	printf("  result: built %d commits in %.0f ms\n", N, ms_since(t0));
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	CHECK_OK(dsv_lineage_ref_update(l, "refs/heads/main", &prev, NULL,
					NULL));

	for (int pass = 0; pass < 4; pass++) {
		const char *what = pass == 0 ? "cache warmed by the commits"
				   : pass == 1 ? "reopened, cache from file"
				   : pass == 2 ? "same handle again"
					       : "reopened, cache off: from git";
		if (pass == 3)
			setenv("DSV_NO_LINEAGE_CACHE", "1", 1);
		if (pass == 1 || pass == 3) {
			char path[4300];
			snprintf(path, sizeof path, "%s/chain", dir);
			dsv_lineage_free(l);
			l = NULL;
			CHECK_OK(dsv_lineage_open(&l, path));
			if (!l)
				return;
		}
		n = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_OK(dsv_lineage_resolve(l, "main", &id));
		CHECK_OK(dsv_walk_new(&w, l, &id, 1, DSV_WALK_FIRST_PARENT));
		while (w && dsv_walk_next(w, &id) == 1) {
			dsv_commit_info *ci = NULL;
			if (dsv_commit_info_open(&ci, l, &id) == 0)
				n++;
			dsv_commit_info_free(ci);
		}
		dsv_walk_free(w);
		w = NULL;
		printf("  result: log of %d commits (walk + header of each, "
		       "%s): %.0f ms\n", n, what, ms_since(t0));
		CHECK(n == N);

		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_OK(dsv_audit_run(&au, l, &prev));
		printf("  result: audit of %zu commits (%s): %.0f ms\n",
		       au ? au->nrows : 0, what, ms_since(t0));
		CHECK(au && au->nrows == N && au->nmissing == 0);
		CHECK(au && au->by_mode[DSV_MODE_TRAINING].ranks == N / 100);
		CHECK(au && au->total.wall_s == au->by_mode[DSV_MODE_SELECTION].wall_s +
				au->by_mode[DSV_MODE_TRAINING].wall_s);
		dsv_audit_free(au);
		au = NULL;
	}
	unsetenv("DSV_NO_LINEAGE_CACHE");
	dsv_lineage_free(l);
}

int main(void)
{
	dir = test_tmpdir();
	RUN(test_diamond);
	RUN(test_ancestry);
	RUN(test_flops_share);
	RUN(test_10k_chain);
	if (getenv("DSV_KEEP")) {
		printf("  kept %s\n", dir);
	} else {
		test_rmdir(dir);
	}
	free(dir);
	TEST_EXIT();
}
