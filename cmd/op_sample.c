/* op_sample.c: `dsv derive sample REV (--fraction F | --n N) --seed S`: a
 * deterministic random subset, as a view (selections over REV's shards).
 * Also the seeded keys that sample, split and mix share (cmd/cmd.h).
 */
#include "cmd/derive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

uint64_t sample_key(uint64_t seed, uint64_t entry, const dsv_oid *shard,
		    uint64_t row)
{
	uint64_t s;
	memcpy(&s, shard->b, 8);
	return mix64(mix64(mix64(mix64(seed) ^ s) ^ entry) ^ row);
}

uint64_t sample_fraction_threshold(double f, int *all)
{
	*all = f >= 1.0;
	if (f <= 0)
		return 0;
	if (f >= 1.0)
		return UINT64_MAX;
	return (uint64_t)(f * 18446744073709551616.0);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int sample_threshold(dsv_store *s, const dsv_manifest *m, uint64_t seed,
		     uint64_t n, uint64_t *thr, uint64_t *live)
{
	uint64_t *keys = NULL, nk = 0, cap = 0;
	dsv_selection *sel = NULL;
	int rc = 0;
	for (size_t i = 0; i < m->n; i++)
		cap += m->e[i].kept;
	if (!(keys = malloc((cap ? cap : 1) * sizeof *keys)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < m->n; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		if (e->has_sel && (rc = dsv_selection_open(&sel, s, &e->sel, NULL)))
			break;
		for (uint64_t r = 0; r < e->rows && nk < cap; r++)
			if (!sel || dsv_selection_get(sel, r))
				keys[nk++] = sample_key(seed, i, &e->shard, r);
		dsv_selection_free(sel);
		sel = NULL;
	}
	if (!rc) {
		*live = nk;
		if (n >= nk) {
			*thr = UINT64_MAX;
		} else {
			qsort(keys, nk, sizeof *keys, u64_cmp);
			*thr = n ? keys[n - 1] : 0;
			if (!n)
				rc = dsv_error_set(DSV_EINVAL, "cannot keep 0 rows");
		}
	}
	free(keys);
	return rc;
}

struct sample {
	const char *fraction_s;
	long n, seed;
	double fraction;
	uint64_t thr, live;
	int inclusive, code;
};

static int sample_shard(struct derive_shard *sh, void *ctx)
{
	struct sample *x = ctx;
	for (uint64_t r = 0; r < sh->rows; r++) {
		if (!derive_row_live(sh, r))
			continue;
		uint64_t k = sample_key((uint64_t)x->seed, sh->entry,
					&sh->in->shard, r);
		if (x->inclusive ? k > x->thr : k >= x->thr)
			sh->reason[r] = (uint8_t)x->code;
	}
	return 0;
}

int derive_sample(int argc, char **argv)
{
	static const char usage[] = "dsv derive sample REV -o NAME -m MSG "
				    "(--fraction F | --n N) [--seed S]";
	struct derive *d = NULL;
	struct sample x = {.seed = 1, .n = -1};
	int rc = 1, all = 0;

	if (derive_new(&d, "sample"))
		return die_error();
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_STRING(0, "fraction", &x.fraction_s, "f", "keep each record with probability f (0..1)"),
		OPT_INT(0, "n", &x.n, "n", "keep exactly n records"),
		OPT_INT(0, "seed", &x.seed, "s", "the random choice (default 1)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	if (!x.fraction_s == (x.n < 0)) {
		rc = usage_error(opts, usage, "give one of --fraction or --n");
		goto out;
	}
	if (x.fraction_s) {
		char *end;
		x.fraction = strtod(x.fraction_s, &end);
		if (*end || end == x.fraction_s || !(x.fraction >= 0 &&
						     x.fraction <= 1)) {
			rc = usage_error(opts, usage, "--fraction must be a "
					 "number in [0, 1]");
			goto out;
		}
	}
	if (x.fraction_s == NULL && x.n < 1) {
		rc = usage_error(opts, usage, "--n must be at least 1");
		goto out;
	}
	if (x.seed < 0) {
		rc = usage_error(opts, usage, "--seed must be >= 0");
		goto out;
	}
	if ((rc = derive_start(d, n, argv, opts, usage)))
		goto out;
	rc = 1;
	json_t *p = derive_params(d);
	if (x.fraction_s) {
		x.thr = sample_fraction_threshold(x.fraction, &all);
		x.inclusive = all;
		json_object_set_new(p, "fraction", json_real(x.fraction));
	} else {
		/* A row's copies share its verdict, so --n would keep N rows
		 * times their repeats; mix takes an exact share of copies. */
		const dsv_manifest *in = derive_input(d);
		for (size_t i = 0; i < in->n; i++)
			if (in->e[i].repeat > 1 && in->e[i].kept) {
				rc = error_msg("--n: '%s' repeats records (a mix), "
					       "so N rows are more than N "
					       "records; 'dsv derive mix %s "
					       "--records %ld' takes exactly N",
					       argv[0], argv[0], x.n);
				goto out;
			}
		/* every rank computes the same threshold from the selections */
		if (sample_threshold(derive_store(d), derive_input(d),
				     (uint64_t)x.seed, (uint64_t)x.n, &x.thr,
				     &x.live))
			goto fail;
		x.inclusive = 1;
		json_object_set_new(p, "n", json_integer(x.n));
	}
	json_object_set_new(p, "seed", json_integer(x.seed));
	if ((x.code = derive_reason(d, "not_sampled")) < 0 ||
	    derive_select(d, 0, 0, sample_shard, &x))
		goto fail;
	rc = derive_commit(d);
	goto out;
fail:
	rc = die_error();
out:
	derive_free(d);
	return rc;
}
