/* trainconf.h: the training configuration of `dsv train`: a small text file
 * of `key = value` lines (docs/train.md lists every key), its parser, its
 * canonical form (kept in a model's MODEL file) and the learning-rate
 * schedule it describes. libc only.
 *
 * Errors: 0 or DSV_KERNEL_EINVAL with "NAME:LINE: what" in
 * dsv_kernel_error_last() (kernels/device.h).
 */
#ifndef DSV_KERNELS_TRAINCONF_H
#define DSV_KERNELS_TRAINCONF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { DSV_SCHED_COSINE = 0, DSV_SCHED_LINEAR, DSV_SCHED_CONSTANT };

typedef struct {
	/* model */
	int n_layer, n_head, n_embd;
	int seq_len;          /* block size T (and rows of wpe) */
	int vocab;            /* 0: the tokenizer's; else must equal it */
	/* batch */
	int batch_size;       /* sequences per micro-batch */
	int grad_accum;       /* micro-batches per optimiser step */
	/* optimiser and schedule */
	double lr, min_lr;
	int warmup_steps;
	int schedule;         /* DSV_SCHED_* */
	double weight_decay, beta1, beta2, eps, grad_clip;
	uint64_t seed;        /* weight initialisation and the data order */
	int shuffle;          /* 1: rows of seq_len+1 tokens in a seeded order */
	int64_t shuffle_buffer; /* tokens read and shuffled at a time */
	/* budget: max_steps, or max_tokens when max_steps is 0 */
	int64_t max_steps, max_tokens;
	/* evaluation and checkpoints (0: only at the end / never) */
	int eval_every;
	int64_t eval_tokens;  /* validation tokens per evaluation; 0: all */
	int checkpoint_every;
	int device;           /* dsv_device_kind: auto, cpu, cuda */
} dsv_trainconf;

/* The defaults (docs/train.md): a 2-layer, 64-wide toy with GPT-2's AdamW
 * settings, cosine schedule, 100 steps. */
void dsv_trainconf_defaults(dsv_trainconf *c);

/* Parses a config text over the values already in *c (so call
 * dsv_trainconf_defaults first). `name` is used in messages ("c.conf:3:
 * unknown key 'lrr'"). Comments start with '#'; blank lines are skipped; a
 * key may appear once. Values are checked for range, and the whole config
 * for consistency (n_embd % n_head == 0, a budget). */
int dsv_trainconf_parse(dsv_trainconf *c, const char *text, size_t len,
			const char *name);

/* Checks the consistency rules above on a filled config. */
int dsv_trainconf_check(const dsv_trainconf *c);

/* The canonical text of every key (one `key = value` per line, in the
 * documented order, numbers printed to round-trip): a malloc'd string the
 * caller frees. Parsing it gives back the same config. */
int dsv_trainconf_format(const dsv_trainconf *c, char **out);

/* Optimiser steps of the budget: max_steps, else
 * ceil(max_tokens / (batch_size * grad_accum * seq_len)). */
int64_t dsv_trainconf_steps(const dsv_trainconf *c);

/* Tokens per optimiser step: batch_size * grad_accum * seq_len. */
int64_t dsv_trainconf_step_tokens(const dsv_trainconf *c);

/* The learning rate at `step` (1-based) of `total`: linear warmup from
 * lr/warmup to lr over warmup_steps, then cosine or linear decay to min_lr
 * at step `total`, or constant lr. */
double dsv_trainconf_lr(const dsv_trainconf *c, int64_t step, int64_t total);

/* "cosine", "linear", "constant". */
const char *dsv_trainconf_schedule_name(int s);

#ifdef __cplusplus
}
#endif
#endif
