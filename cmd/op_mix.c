/* op_mix.c: `dsv derive mix A:w B:w ... [--records N | --tokens N]`: one
 * version made of several versions' entries. Without a target the weights
 * are repeat counts (whole numbers); with one they are proportions: input i
 * contributes round(N * w_i / sum w) records, as whole repeats of the input
 * plus a seeded sample (cmd/op_sample.c) of the remainder. Every input is a
 * parent. A mix's record order is entry order: inputs' order objects are
 * not carried (a mix is a multiset of records).
 */
#include "cmd/derive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 64

struct input {
	char rev[DSV_REV_MAX + 1];
	double weight;
	dsv_aid id;
	dsv_manifest *m;
	uint64_t records, bytes, target, repeat, sampled;
};

static int parse_input(const char *arg, struct input *in)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	if (len == 0 || len > DSV_REV_MAX)
		return -1;
	memcpy(in->rev, arg, len);
	in->rev[len] = 0;
	in->weight = 1;
	if (colon) {
		char *end;
		in->weight = strtod(colon + 1, &end);
		if (*end || end == colon + 1 || !(in->weight > 0) ||
		    in->weight > 1e9)
			return -1;
	}
	return 0;
}

/* Text bytes an entry holds: its kept rows' lengths times its repeat. */
static int entry_bytes(dsv_store *s, const dsv_manifest_entry *e,
		       uint64_t *out)
{
	dsv_shard *sh = NULL;
	dsv_selection *sel = NULL;
	uint64_t b = 0;
	int rc = dsv_shard_open(&sh, s, &e->shard, DSV_SHARD_HASH);
	if (!rc && e->has_sel)
		rc = dsv_selection_open(&sel, s, &e->sel, NULL);
	for (uint64_t r = 0; !rc && r < e->rows && r < dsv_shard_rows(sh); r++)
		if (!sel || dsv_selection_get(sel, r))
			b += dsv_shard_text_len(sh, r);
	*out += b * e->repeat;
	dsv_selection_free(sel);
	dsv_shard_free(sh);
	return rc;
}

static int manifest_bytes(dsv_store *s, const dsv_manifest *m, uint64_t *out)
{
	int rc = 0;
	*out = 0;
	for (size_t i = 0; !rc && i < m->n; i++)
		rc = entry_bytes(s, &m->e[i], out);
	return rc;
}

static int add_entry(dsv_manifest *out, const dsv_manifest_entry *e,
		     uint32_t repeat)
{
	dsv_manifest_entry c = *e;
	c.repeat = repeat;
	return dsv_manifest_add(out, &c);
}

/* Appends `n` (< in->records) of the input's records: an entry the input
 * repeats r times gives floor(n r / records) whole copies, then a seeded
 * sample of the input's rows, entry by entry, gives the rest (fewer than
 * its rows). Without repeats in the input that is the sample alone. */
static int add_sample(struct derive *d, struct input *in, uint64_t seed,
		      uint64_t n, dsv_manifest *out)
{
	dsv_store *s = derive_store(d);
	uint64_t thr, live, whole = 0;
	dsv_selection *old = NULL, *sel = NULL;
	int rc = 0, is_new;
	for (size_t i = 0; !rc && i < in->m->n; i++) {
		const dsv_manifest_entry *e = &in->m->e[i];
		uint64_t k = (uint64_t)((unsigned __int128)n * e->repeat /
					in->records);
		if (k && e->kept)
			rc = add_entry(out, e, (uint32_t)k);
		whole += k * e->kept;
	}
	in->sampled += whole;
	if (rc || whole == n)
		return rc;
	n -= whole;
	rc = sample_threshold(s, in->m, seed, n, &thr, &live);
	for (size_t i = 0; !rc && i < in->m->n; i++) {
		const dsv_manifest_entry *e = &in->m->e[i];
		if ((e->has_sel && (rc = dsv_selection_open(&old, s, &e->sel,
							     NULL))) ||
		    (rc = dsv_selection_new(&sel, e->rows)))
			break;
		for (uint64_t r = 0; r < e->rows; r++)
			dsv_selection_set(sel, r, (!old || dsv_selection_get(old, r)) &&
					  sample_key(seed, i, &e->shard, r) <= thr);
		dsv_manifest_entry c = *e;
		c.kept = dsv_selection_count(sel);
		c.repeat = 1;
		c.has_sel = 1;
		if (c.kept && !(rc = dsv_selection_write(sel, s, &e->shard,
							 &c.sel, &is_new))) {
			derive_count_selection(d, &c.sel, is_new);
			rc = dsv_manifest_add(out, &c);
		}
		in->sampled += c.kept;
		dsv_selection_free(old);
		dsv_selection_free(sel);
		old = sel = NULL;
	}
	dsv_selection_free(old);
	dsv_selection_free(sel);
	return rc;
}

/* --records: each input's share of N by the largest remainder method, so
 * the shares add up to exactly N (rounding each one alone gives 9 of 10
 * for three equal weights); ties go to the earlier input. */
static void apportion(struct input *ins, int nin, uint64_t target,
		      double wsum)
{
	double frac[MAX_INPUTS];
	uint64_t given = 0;
	for (int i = 0; i < nin; i++) {
		double q = (double)target * ins[i].weight / wsum;
		ins[i].target = (uint64_t)floor(q);
		frac[i] = q - floor(q);
		given += ins[i].target;
	}
	while (given < target) {
		int best = 0;
		for (int i = 1; i < nin; i++)
			if (frac[i] > frac[best])
				best = i;
		ins[best].target++;
		frac[best] = -1;
		given++;
	}
}

static int build(struct input *ins, int nin, const char *records_s,
		 const char *tokens_s, uint64_t target, uint64_t seed,
		 struct derive *d, dsv_manifest *out)
{
	double wsum = 0;
	int rc = 0;
	for (int i = 0; i < nin; i++)
		wsum += ins[i].weight;
	if (records_s)
		apportion(ins, nin, target, wsum);
	for (int i = 0; !rc && i < nin; i++) {
		struct input *in = &ins[i];
		if (!records_s && !tokens_s) {
			in->repeat = (uint64_t)in->weight;
			in->target = in->records * in->repeat;
		} else if (records_s) {
			/* apportioned above */
		} else {
			/* tokens estimated as text bytes / 4 (docs/kernels.md, "Ops") */
			double tok = (double)in->bytes / 4;
			double want = (double)target * in->weight / wsum;
			in->target = tok > 0 ? (uint64_t)llround(want / tok *
							 (double)in->records)
					     : 0;
		}
		if ((records_s || tokens_s) && !in->records && in->target)
			return dsv_error_set(DSV_EINVAL, "'%s' has no records to "
					     "give its share of the mix",
					     in->rev);
		if (records_s || tokens_s)
			in->repeat = in->records ? in->target / in->records : 0;
		for (size_t k = 0; in->repeat && k < in->m->n; k++)
			if (in->m->e[k].repeat * in->repeat > UINT32_MAX)
				return dsv_error_set(DSV_EINVAL, "repeat count too "
						     "large for '%s'", in->rev);
		for (size_t k = 0; !rc && in->repeat && k < in->m->n; k++)
			rc = add_entry(out, &in->m->e[k],
				       (uint32_t)(in->m->e[k].repeat * in->repeat));
		uint64_t rem = in->records ? in->target - in->repeat * in->records
					   : 0;
		if (!rc && rem)
			rc = add_sample(d, in, seed + (uint64_t)i, rem, out);
	}
	return rc;
}

static void describe(struct derive *d, struct input *ins, int nin,
		     const char *records_s, const char *tokens_s, long seed)
{
	json_t *p = derive_params(d), *arr = json_array(), *st = json_array();
	for (int i = 0; i < nin; i++) {
		char hex[DSV_AID_HEXLEN + 1];
		dsv_aid_fmt(hex, &ins[i].id);
		json_array_append_new(arr, json_pack("{sssssf}", "revision",
			ins[i].rev, "artifact", hex, "weight", ins[i].weight));
		json_array_append_new(st, json_pack("{sssIsIsIsI}", "revision",
			ins[i].rev, "records_in", (json_int_t)ins[i].records,
			"target", (json_int_t)ins[i].target,
			"repeat", (json_int_t)ins[i].repeat,
			"sampled", (json_int_t)ins[i].sampled));
	}
	json_object_set_new(p, "inputs", arr);
	if (records_s)
		json_object_set_new(p, "records", json_string(records_s));
	if (tokens_s) {
		json_object_set_new(p, "tokens", json_string(tokens_s));
		json_object_set_new(p, "tokens_per_byte", json_real(0.25));
	}
	json_object_set_new(p, "seed", json_integer(seed));
	json_object_set_new(derive_artifact(d)->stats, "mix", st);
}

int derive_mix(int argc, char **argv)
{
	static const char usage[] = "dsv derive mix A[:w] B[:w] ... -o NAME -m MSG "
				    "[--records N | --tokens N] [--seed S]";
	struct derive *d = NULL;
	struct input ins[MAX_INPUTS];
	const char *records_s = NULL, *tokens_s = NULL;
	long seed = 1;
	uint64_t target = 0;
	dsv_manifest *out = NULL;
	int rc = 1, nin = 0;

	memset(ins, 0, sizeof ins);
	if (derive_new(&d, "mix"))
		return die_error();
	const struct option opts[] = {
		DERIVE_OPTIONS(d),
		OPT_STRING(0, "records", &records_s, "n", "total records; weights are proportions"),
		OPT_STRING(0, "tokens", &tokens_s, "n", "total tokens (text bytes / 4); weights are proportions"),
		OPT_INT(0, "seed", &seed, "s", "the sample of partial repeats (default 1)"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0) {
		rc = PARSE_EXIT(n);
		goto out;
	}
	if (n < 1 || n > MAX_INPUTS) {
		rc = usage_error(opts, usage, "give 1 to %d inputs", MAX_INPUTS);
		goto out;
	}
	if (records_s && tokens_s) {
		rc = usage_error(opts, usage, "give --records or --tokens, not both");
		goto out;
	}
	if (records_s || tokens_s) {
		const char *t = records_s ? records_s : tokens_s;
		char *end;
		unsigned long long v = strtoull(t, &end, 10);
		if (*end || end == t || v == 0 || *t == '-') {
			rc = usage_error(opts, usage, "--%s must be a positive "
					 "integer", records_s ? "records" : "tokens");
			goto out;
		}
		target = v;
	}
	for (int i = 0; i < n; i++) {
		if (parse_input(argv[i], &ins[i])) {
			rc = usage_error(opts, usage, "bad input '%s' (REV or "
					 "REV:WEIGHT with WEIGHT > 0)", argv[i]);
			goto out;
		}
		if (!records_s && !tokens_s &&
		    ins[i].weight != floor(ins[i].weight)) {
			rc = usage_error(opts, usage, "'%s': without --records or "
					 "--tokens a weight is a whole repeat "
					 "count", argv[i]);
			goto out;
		}
	}
	nin = n;
	if (seed < 0) {
		rc = usage_error(opts, usage, "--seed must be >= 0");
		goto out;
	}
	/* the first input is the primary parent; the others follow */
	char *first = ins[0].rev;
	if ((rc = derive_start(d, 1, &first, opts, usage)))
		goto out;
	rc = 1;
	dsv_store *s = derive_store(d);
	for (int i = 0; i < nin; i++) {
		if (load_version(ins[i].rev, &ins[i].id, &ins[i].m))
			goto fail;
		for (int k = 0; k < i; k++)
			if (!dsv_aid_cmp(&ins[k].id, &ins[i].id)) {
				rc = error_msg("'%s' and '%s' are the same version; "
					       "give it once with a larger weight",
					       ins[k].rev, ins[i].rev);
				goto out;
			}
		ins[i].records = dsv_manifest_records(ins[i].m);
		if (manifest_bytes(s, ins[i].m, &ins[i].bytes))
			goto fail;
		if (i && derive_add_input(d, "mix", &ins[i].id))
			goto fail;
	}
	if (derive_rank(d) == 0) {
		if (dsv_manifest_new(&out) ||
		    build(ins, nin, records_s, tokens_s, target, (uint64_t)seed,
			  d, out))
			goto fail;
		uint64_t rin = 0, bin = 0, bout = 0;
		for (int i = 0; i < nin; i++) {
			rin += ins[i].records;
			bin += ins[i].bytes;
		}
		if (manifest_bytes(s, out, &bout))
			goto fail;
		describe(d, ins, nin, records_s, tokens_s, seed);
		derive_set_output(d, out);
		out = NULL;
		derive_set_totals(d, rin, bin, bout);
	}
	rc = derive_commit(d);
	goto out;
fail:
	rc = die_error();
out:
	dsv_manifest_free(out);
	for (int i = 0; i < nin; i++)
		dsv_manifest_free(ins[i].m);
	derive_free(d);
	return rc;
}
