/* op_split.c: `dsv derive split REV --valid F --seed S -o NAME`: two
 * disjoint views of REV that together hold all of it, committed as two
 * versions, NAME-train and NAME-valid, each with REV as its parent. A
 * record goes to valid when its seeded key (cmd/op_sample.c) is below F.
 * Both sides are computed before either is recorded, and the two commits
 * run with the stop signals held back, so an interrupted split records
 * both versions or neither.
 */
#include "cmd/derive.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct split {
	int valid_side, code;
	uint64_t thr, seed;
	int all;
};

static int split_shard(struct derive_shard *sh, void *ctx)
{
	struct split *x = ctx;
	for (uint64_t r = 0; r < sh->rows; r++) {
		if (!derive_row_live(sh, r))
			continue;
		uint64_t k = sample_key(x->seed, sh->entry, &sh->in->shard, r);
		int valid = x->all || k < x->thr;
		if (valid != x->valid_side)
			sh->reason[r] = (uint8_t)x->code;
	}
	return 0;
}

/* One side: a derivation of its own with the shared options, computed;
 * recorded later by derive_commit. Its compute ends here. */
static int one_side(struct derive *d, const struct derive_args *args,
		    const char *branch, int n, char **argv,
		    const struct option *opts, const char *usage,
		    struct split *x, double f, long seed)
{
	struct derive_args *a = derive_args_of(d);
	*a = *args;
	a->output = branch;
	int rc = derive_start(d, n, argv, opts, usage);
	if (rc)
		return rc;
	json_t *p = derive_params(d);
	json_object_set_new(p, "valid", json_real(f));
	json_object_set_new(p, "seed", json_integer(seed));
	json_object_set_new(p, "side", json_string(x->valid_side ? "valid"
								  : "train"));
	if ((x->code = derive_reason(d, x->valid_side ? "in_train"
						      : "in_valid")) < 0 ||
	    derive_select(d, 0, 0, split_shard, x))
		return die_error();
	dsv_meter_stop(derive_meter(d));
	return 0;
}

/* The train side failed after valid was recorded: valid's branch goes back
 * to where it was (`old`, or nowhere), so a failed split records nothing. */
static void undo_valid(const char *valid_b, const char *valid_ref,
		       const dsv_aid *old, const char *train_b)
{
	dsv_lineage *l = the_repo->lineage;
	dsv_aid now;
	int rc = dsv_lineage_ref_get(l, valid_ref, &now);
	if (!rc)
		rc = old ? dsv_lineage_ref_update(l, valid_ref, old, &now,
						  "dsv: split undone")
			 : dsv_lineage_branch_delete(l, valid_b);
	if (rc)
		fprintf(stderr, "dsv: error: '%s' was recorded, '%s' was not "
			"(%s)\n", valid_b, train_b, dsv_error_last());
}

int derive_split(int argc, char **argv)
{
	static const char usage[] = "dsv derive split REV -o NAME -m MSG "
				    "--valid F [--seed S]  (makes NAME-train and "
				    "NAME-valid)";
	struct derive *d = NULL, *d2 = NULL;
	const char *valid_s = NULL;
	long seed = 1;
	char train_b[300], valid_b[300];
	int rc = 1;

	if (derive_new(&d, "split") || derive_new(&d2, "split")) {
		derive_free(d);
		return die_error();
	}
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_STRING(0, "valid", &valid_s, "f", "fraction of records for NAME-valid (0..1)"),
		OPT_INT(0, "seed", &seed, "s", "the random split (default 1)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	double f = -1;
	if (valid_s) {
		char *end;
		f = strtod(valid_s, &end);
		if (*end || end == valid_s)
			f = -1;
	}
	if (!(f > 0 && f < 1)) {
		rc = usage_error(opts, usage, "--valid F with 0 < F < 1 is required");
		goto out;
	}
	if (seed < 0) {
		rc = usage_error(opts, usage, "--seed must be >= 0");
		goto out;
	}
	struct derive_args args = *derive_args_of(d);
	if (!args.output || !*args.output || strlen(args.output) > 200) {
		rc = usage_error(opts, usage, "a base name for the two branches "
				 "is required (-o NAME)");
		goto out;
	}
	snprintf(train_b, sizeof train_b, "%s-train", args.output);
	snprintf(valid_b, sizeof valid_b, "%s-valid", args.output);
	/* both names are checked before either side is recorded */
	const char *names[2] = {train_b, valid_b};
	for (int i = 0; i < 2 && !args.force; i++) {
		int ex = dsv_lineage_name_validate(names[i]) ? -1 :
			 dsv_lineage_branch_exists(the_repo->lineage, names[i]);
		if (ex != 0) {
			rc = ex < 0 ? die_error()
				    : error_msg("branch '%s' already exists (use "
						"--force to move it)", names[i]);
			goto out;
		}
	}
	struct split xv = {.valid_side = 1, .seed = (uint64_t)seed}, xt;
	xv.thr = sample_fraction_threshold(f, &xv.all);
	xt = xv;
	xt.valid_side = 0;
	char valid_ref[320];
	snprintf(valid_ref, sizeof valid_ref, "refs/heads/%s", valid_b);
	dsv_aid old_valid;
	int had_valid = dsv_lineage_ref_get(the_repo->lineage, valid_ref,
					    &old_valid) == 0;
	dsv_error_clear();
	if ((rc = one_side(d2, &args, valid_b, n, argv, opts, usage, &xv, f, seed)) ||
	    (rc = one_side(d, &args, train_b, n, argv, opts, usage, &xt, f, seed)))
		goto out;
	/* valid first: if it fails, train is never recorded either; a stop
	 * signal waits until both are recorded or valid is undone */
	sigset_t stop, old_mask;
	sigemptyset(&stop);
	for (int i = 0; i < NSTOP_SIGNALS; i++)
		sigaddset(&stop, stop_signals[i]);
	sigprocmask(SIG_BLOCK, &stop, &old_mask);
	if (!(rc = derive_commit(d2))) {
		rc = derive_commit(d);
		if (rc && derive_rank(d) == 0)
			undo_valid(valid_b, valid_ref, had_valid ? &old_valid : NULL,
				   train_b);
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
out:
	derive_free(d2);
	derive_free(d);
	return rc;
}
