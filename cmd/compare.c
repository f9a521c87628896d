/* compare.c: `dsv compare A B`: two models trained with the same recipe on
 * different data, compared on their validation curves: the token-
 * efficiency multiplier k, the training compute each needed to reach the
 * common loss, and the break-even data share 1 - 1/k (docs/train.md).
 */
#include "cmd/cmd.h"
#include "kernels/gpt.h"
#include "kernels/trainconf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct side {
	const char *rev;
	dsv_aid id;
	dsv_model *info;
	dsv_metrics_row *rows;
	size_t nrows;
	double fpt; /* training FLOPs per token */
	int64_t eval_tokens; /* the part of the validation version measured */
	int seq_len;         /* the context each validation token had */
};

static int load_side(struct side *s)
{
	char *text = NULL;
	size_t len;
	dsv_trainconf cfg;
	int rc;
	if ((rc = resolve_rev(s->rev, &s->id)) ||
	    (rc = dsv_model_read(&s->info, the_repo->lineage, &s->id)))
		return dsv_error_wrap(rc, "'%s'", s->rev);
	if ((rc = dsv_lineage_read_file(the_repo->lineage, &s->id,
					"METRICS.tsv", &text, &len)))
		return dsv_error_wrap(rc, "'%s'", s->rev);
	rc = dsv_metrics_parse(&s->rows, &s->nrows, text, len);
	free(text);
	if (rc)
		return dsv_error_wrap(rc, "'%s'", s->rev);
	dsv_trainconf_defaults(&cfg);
	if (dsv_trainconf_parse(&cfg, s->info->config, strlen(s->info->config),
				"MODEL config"))
		return dsv_error_set(DSV_ECORRUPT, "'%s': %s", s->rev,
				     dsv_kernel_error_last());
	dsv_gpt_config gc = {.max_seq_len = cfg.seq_len,
			     .vocab_size = s->info->vocab,
			     .padded_vocab_size = (s->info->vocab + 127) / 128 * 128,
			     .num_layers = cfg.n_layer, .num_heads = cfg.n_head,
			     .channels = cfg.n_embd};
	s->fpt = dsv_gpt_flops_per_token(&gc, cfg.seq_len);
	s->eval_tokens = cfg.eval_tokens;
	s->seq_len = cfg.seq_len;
	return 0;
}

static void fmt_num(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "null");
	else if (isinf(v))
		snprintf(buf, n, "\"inf\"");
	else
		snprintf(buf, n, "%.6g", v);
}

/* The checks that make two curves comparable, then the arithmetic. */
static int compare_sides(struct side s[2], dsv_compare_result *r)
{
	for (int i = 0; i < 2; i++)
		if (load_side(&s[i]))
			return -1;
	if (dsv_aid_cmp(&s[0].info->tokenizer, &s[1].info->tokenizer))
		return dsv_error_set(DSV_EINVAL, "'%s' and '%s' use different "
				     "tokenizers: their losses are not "
				     "comparable", s[0].rev, s[1].rev);
	for (int i = 0; i < 2; i++)
		if (!s[i].info->has_valid)
			return dsv_error_set(DSV_EINVAL, "'%s' has no validation "
					     "curve (train it with --valid)",
					     s[i].rev);
	if (dsv_aid_cmp(&s[0].info->valid, &s[1].info->valid))
		return dsv_error_set(DSV_EINVAL, "'%s' and '%s' were validated "
				     "on different versions: their curves are "
				     "not comparable", s[0].rev, s[1].rev);
	/* The curves measure the first eval_tokens tokens of the validation
	 * version: other counts are other validation sets. */
	if (s[0].eval_tokens != s[1].eval_tokens)
		return dsv_error_set(DSV_EINVAL, "'%s' and '%s' were validated "
				     "on different parts of the validation "
				     "version (eval_tokens = %lld and %lld): "
				     "their curves are not comparable",
				     s[0].rev, s[1].rev,
				     (long long)s[0].eval_tokens,
				     (long long)s[1].eval_tokens);
	/* A token's loss depends on the context it was predicted from, which
	 * validation gives in windows of seq_len. */
	if (s[0].seq_len != s[1].seq_len)
		return dsv_error_set(DSV_EINVAL, "'%s' and '%s' were validated "
				     "with different contexts (seq_len = %d "
				     "and %d): their curves are not comparable",
				     s[0].rev, s[1].rev, s[0].seq_len,
				     s[1].seq_len);
	return dsv_compare_curves(s[0].rows, s[0].nrows, s[1].rows,
				  s[1].nrows, r);
}

static void sides_free(struct side s[2])
{
	for (int i = 0; i < 2; i++) {
		dsv_model_free(s[i].info);
		free(s[i].rows);
	}
}

int compare_models(const char *a, const char *b, dsv_compare_result *r)
{
	struct side s[2] = {{.rev = a}, {.rev = b}};
	int rc = compare_sides(s, r);
	sides_free(s);
	return rc;
}

int cmd_compare(int argc, char **argv)
{
	static const char usage[] = "dsv compare A B [--json]";
	int json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the result as JSON"),
		OPT_END(),
	};
	struct side s[2] = {{0}};
	dsv_compare_result r;
	int rc = 1;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 2)
		return usage_error(opts, usage, "two models are needed");
	s[0].rev = argv[0];
	s[1].rev = argv[1];
	if (compare_sides(s, &r))
		goto fail;

	int w = r.better, o = 1 - w, e = r.efficient;
	/* Compute each needed to reach the common loss (O's final loss). */
	double flops_w = s[w].fpt * r.need[w];
	double flops_o = s[o].fpt * r.need[o];
	if (json) {
		char a[7][40];
		fmt_num(a[0], 40, r.k);
		fmt_num(a[1], 40, r.break_even);
		fmt_num(a[2], 40, r.reach[0]);
		fmt_num(a[3], 40, r.reach[1]);
		fmt_num(a[4], 40, flops_w);
		fmt_num(a[5], 40, flops_o);
		char *q0 = json_quote(s[0].rev), *q1 = json_quote(s[1].rev);
		printf("{\"a\": {\"rev\": %s, \"final_val_loss\": %.6f, "
		       "\"tokens\": %.0f, \"tokens_to_other_final\": %s}, "
		       "\"b\": {\"rev\": %s, \"final_val_loss\": %.6f, "
		       "\"tokens\": %.0f, \"tokens_to_other_final\": %s}, "
		       "\"better\": \"%s\", \"efficient\": \"%s\", "
		       "\"target_loss\": %.6f, \"k\": %s, "
		       "\"flops_better\": %s, \"flops_other\": %s, "
		       "\"break_even_data_share\": %s}\n",
		       q0 ? q0 : "null", r.final_loss[0], r.final_tokens[0], a[2],
		       q1 ? q1 : "null", r.final_loss[1], r.final_tokens[1], a[3],
		       w ? "b" : "a", e ? "b" : "a", r.final_loss[o], a[0], a[4],
		       a[5], a[1]);
		free(q0);
		free(q1);
	} else {
		printf("A %s: final val loss %.4f after %.0f tokens\n", s[0].rev,
		       r.final_loss[0], r.final_tokens[0]);
		printf("B %s: final val loss %.4f after %.0f tokens\n", s[1].rev,
		       r.final_loss[1], r.final_tokens[1]);
		printf("%s reaches %s's final loss %.4f after %.0f tokens "
		       "(%.3g FLOPs); %s needed %.0f (%.3g FLOPs)\n",
		       w ? "B" : "A", o ? "B" : "A", r.final_loss[o], r.need[w],
		       flops_w, o ? "B" : "A", r.need[o], flops_o);
		if (isnan(r.reach[o]))
			printf("%s never reaches %s's final loss %.4f on its curve\n",
			       o ? "B" : "A", w ? "B" : "A", r.final_loss[w]);
		if (e != w)
			printf("%s needed fewer tokens for that loss: %s's lower "
			       "final loss comes from training longer\n",
			       e ? "B" : "A", w ? "B" : "A");
		printf("k = %.3f (tokens %s needed / tokens %s needed for the "
		       "same loss)\n", r.k, e ? "A" : "B", e ? "B" : "A");
		printf("break-even data share 1 - 1/k = %.1f%%\n",
		       100 * r.break_even);
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	sides_free(s);
	return rc;
}
