/* generate.c: `dsv generate MODEL`: samples text from a model artifact with
 * the KV-cache generator (kernels/generate.h) and prints JSONL; also the
 * sampling loop that `derive rephrase` and `derive synth` share (cmd/cmd.h,
 * "generation"): prompts encoded with the model's tokenizer, batches of
 * (prompt, sample) pairs, completions decoded to valid UTF-8.
 */
#include "cmd/cmd.h"
#include "kernels/generate.h"
#include "kernels/gpt.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shared loop ------------------------------------------------------- */

int gen_parse_device(const char *s, int *where)
{
	int dev = dsv_device_parse(s ? s : "auto");
	if (dev < 0)
		return dsv_error_set(DSV_EINVAL, "--device must be cpu, cuda or "
				     "auto, not '%s'", s);
	if ((*where = dsv_device_resolve(dev)) < 0)
		return dsv_error_set(DSV_ENOGPU, "%s", dsv_kernel_error_last());
	return 0;
}

/* Appends text to b with every invalid UTF-8 sequence replaced by U+FFFD
 * (a completion may end inside a character: tokens are bytes). */
static int utf8_clean(dsv_buf *b, const uint8_t *s, size_t n)
{
	static const char rep[] = "\xEF\xBF\xBD";
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
			     : (c >> 3) == 30 ? 4 : 0;
		int ok = len && i + len <= n && c != 0;
		for (size_t k = 1; ok && k < len; k++)
			ok = (s[i + k] & 0xC0) == 0x80;
		if (ok && len == 2)
			ok = c >= 0xC2;
		if (ok && len == 3)
			ok = !(c == 0xE0 && s[i + 1] < 0xA0) &&
			     !(c == 0xED && s[i + 1] >= 0xA0);
		if (ok && len == 4)
			ok = c <= 0xF4 && !(c == 0xF0 && s[i + 1] < 0x90) &&
			     !(c == 0xF4 && s[i + 1] >= 0x90);
		int rc = ok ? dsv_buf_append(b, s + i, len)
			    : dsv_buf_append(b, rep, 3);
		if (rc)
			return rc;
		i += ok ? len : 1;
	}
	return 0;
}

static const char *stop_name(int s)
{
	return s == DSV_GEN_STOP_EOT ? "eot" : s == DSV_GEN_STOP_CONTEXT
	       ? "context" : "length";
}

int gen_run(struct model *md, const struct gen_opts *o, const char *const *prompts,
	    const size_t *plens, size_t nprompts, uint64_t nsamples,
	    gen_result_fn fn, void *ctx, dsv_meter *meter)
{
	const dsv_gpt_config *cfg = &md->g->cfg;
	int eot = (int)dsv_bpe_eot(md->bpe);
	int B = o->batch > 0 ? o->batch : 16, maxp = 0, rc = 0;
	size_t np = nprompts ? nprompts : 1;
	dsv_bpe_encoder *enc = NULL;
	uint32_t **ptok = calloc(np, sizeof *ptok);
	size_t *pn = calloc(np, sizeof *pn);
	float *params = malloc(md->g->num_params * sizeof *params);
	int *in = NULL, *plen = NULL, *out = NULL, *olen = NULL, *stop = NULL;
	uint64_t *ids = NULL;
	uint8_t *text = NULL;
	size_t tlen = 0, tcap = 0;
	struct gpu_meter gpu = {0};
	dsv_buf clean = {0};
	dsv_gen *g = NULL;
	int maxnew = o->max_tokens;
	if (!ptok || !pn || !params)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_gpt_get_params(md->g, params))) {
		rc = dsv_error_set(rc, "%s", dsv_gpt_error_last());
		goto out;
	}
	if (dsv_bpe_encoder_new(&enc, md->bpe)) {
		rc = dsv_error_set(DSV_ENOMEM, "%s", dsv_kernel_error_last());
		goto out;
	}
	/* Each prompt: <|endoftext|> (as every document starts in training)
	 * then its tokens, the last ones kept when it is too long. */
	int keep = cfg->max_seq_len - maxnew;
	size_t cut = 0;
	if (cfg->max_seq_len < 2) {
		rc = dsv_error_set(DSV_EINVAL, "the model's context is one token "
				   "(seq_len = 1): no room to generate after "
				   "a prompt");
		goto out;
	}
	if (keep < 1)
		keep = 1, maxnew = cfg->max_seq_len - 1;
	for (size_t i = 0; i < np; i++) {
		size_t cap = 0;
		uint32_t first = (uint32_t)eot;
		size_t n = 0;
		uint32_t *ids0 = NULL;
		if (nprompts && plens[i] &&
		    dsv_bpe_encode(enc, (const uint8_t *)prompts[i], plens[i],
				   &ids0, &n, &cap)) {
			rc = dsv_error_set(DSV_EINVAL, "%s", dsv_kernel_error_last());
			goto out;
		}
		if (!(ptok[i] = malloc((n + 1) * sizeof(uint32_t)))) {
			free(ids0);
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto out;
		}
		ptok[i][0] = first;
		if (n)
			memcpy(ptok[i] + 1, ids0, n * sizeof(uint32_t));
		free(ids0);
		pn[i] = n + 1;
		if (pn[i] > (size_t)keep) {
			memmove(ptok[i], ptok[i] + pn[i] - keep, keep * sizeof(uint32_t));
			pn[i] = (size_t)keep;
			cut++;
		}
		if ((int)pn[i] > maxp)
			maxp = (int)pn[i];
	}
	/* Said, not silent: with --max-tokens near the context a rephrase
	 * template and its record shrink to their last few tokens. */
	if (cut)
		fprintf(stderr, "dsv: warning: %zu of %zu prompts keep only their "
			"last %d token%s (context %d, --max-tokens %d)\n", cut,
			np, keep, keep == 1 ? "" : "s", cfg->max_seq_len,
			o->max_tokens);
	if ((uint64_t)B > nsamples)
		B = nsamples ? (int)nsamples : 1;
	int T = maxp + maxnew;
	if (T > cfg->max_seq_len)
		T = cfg->max_seq_len;
	/* Before allocating on the CPU, as train and eval do (the kernel's
	 * mallocs succeed under overcommit and the OOM killer comes later;
	 * cudaMalloc fails cleanly): the key and value caches, the
	 * parameters (the model's, their gradients' room, two copies) and a
	 * row of logits per sequence. */
	double need = 4.0 * (2.0 * cfg->num_layers * B * T * cfg->channels +
			     4.0 * (double)md->g->num_params +
			     2.0 * B * cfg->vocab_size);
	double avail = mem_available();
	if (o->where != DSV_DEVICE_CUDA && avail > 0 && need > avail) {
		rc = dsv_error_set(DSV_ENOMEM, "generation does not fit: %d "
				   "sequences of %d positions need %.0f bytes "
				   "(%.2f GiB) and %.0f bytes are available "
				   "(lower --batch)", B, T, need,
				   need / 1073741824.0, avail);
		goto out;
	}
	if ((rc = dsv_gen_new(&g, cfg, params, B, T, o->where == DSV_DEVICE_CUDA
			      ? DSV_GPT_CUDA : DSV_GPT_CPU))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto out;
	}
	if (g->on_gpu && meter) {
		dsv_meter_add_device(meter, dsv_device_name());
		gpu_meter_start(&gpu);
	}
	in = malloc((size_t)B * T * sizeof *in);
	plen = malloc((size_t)B * sizeof *plen);
	out = malloc((size_t)B * (maxnew ? maxnew : 1) * sizeof *out);
	olen = malloc((size_t)B * sizeof *olen);
	stop = malloc((size_t)B * sizeof *stop);
	ids = malloc((size_t)B * sizeof *ids);
	if (!in || !plen || !out || !olen || !stop || !ids) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	/* A top-p below the smallest float would round to 0, which the
	 * sampler reads as no nucleus at all: keep the likeliest token. */
	dsv_gen_params gp = {.temperature = (float)o->temperature,
			     .top_k = o->top_k,
			     .top_p = fmaxf((float)o->top_p, FLT_MIN),
			     .seed = o->seed, .max_new = maxnew, .eot = eot};
	for (uint64_t s0 = 0; s0 < nsamples && !rc; s0 += (uint64_t)B) {
		int nb = (int)(nsamples - s0 < (uint64_t)B ? nsamples - s0 : (uint64_t)B);
		size_t k = 0;
		double flops = 0;
		uint64_t tin = 0, tout = 0;
		for (int b = 0; b < nb; b++) {
			size_t p = (size_t)((s0 + b) % np);
			for (size_t i = 0; i < pn[p]; i++)
				in[k++] = (int)ptok[p][i];
			plen[b] = (int)pn[p];
			ids[b] = s0 + (uint64_t)b;
		}
		if ((rc = dsv_generate(g, in, plen, nb, &gp, ids, out, olen, stop))) {
			rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
			break;
		}
		for (int b = 0; b < nb && !rc; b++) {
			uint32_t *u = (uint32_t *)(out + (size_t)b * maxnew);
			for (int i = 0; i < olen[b]; i++)
				u[i] = (uint32_t)out[(size_t)b * maxnew + i];
			tlen = 0;
			clean.len = 0;
			if (dsv_bpe_decode(md->bpe, u, (size_t)olen[b], &text,
					   &tlen, &tcap) ||
			    utf8_clean(&clean, text, tlen) ||
			    dsv_buf_append(&clean, "", 1)) {
				rc = dsv_error_set(DSV_ENOMEM, "cannot decode a sample");
				break;
			}
			for (int i = 0; i < plen[b] + olen[b]; i++)
				flops += dsv_gen_flops_per_token(cfg, i + 1);
			tin += (uint64_t)plen[b];
			tout += (uint64_t)olen[b];
			/* --max-tokens past the context was cut to fit it */
			if (stop[b] == DSV_GEN_STOP_LENGTH && maxnew < o->max_tokens)
				stop[b] = DSV_GEN_STOP_CONTEXT;
			struct gen_result r = {.sample = s0 + (uint64_t)b,
					       .prompt = (size_t)((s0 + b) % np),
					       .text = clean.buf,
					       .len = clean.len - 1,
					       .tokens = olen[b],
					       .stop = stop_name(stop[b])};
			rc = fn(&r, ctx);
		}
		if (meter) {
			dsv_meter_add_flops(meter, flops);
			dsv_meter_add(meter, DSV_METER_TOKENS_IN, tin);
			dsv_meter_add(meter, DSV_METER_TOKENS_OUT, tout);
		}
	}
out:
	if (meter)
		gpu_meter_add(&gpu, meter);
	gpu_meter_stop(&gpu);
	for (size_t i = 0; i < np; i++)
		free(ptok[i]);
	free(ptok);
	free(pn);
	free(params);
	free(in), free(plen), free(out), free(olen), free(stop), free(ids);
	free(text);
	dsv_buf_free(&clean);
	dsv_bpe_encoder_free(enc);
	dsv_gen_free(g);
	return rc;
}

/* ---- dsv generate ---------------------------------------------------------- */

struct gen_print {
	char **prompts;
	size_t *plens;          /* a record's text may hold U+0000 */
	int json_prompt;
};

static int print_one(const struct gen_result *r, void *ctx)
{
	struct gen_print *gp = ctx;
	json_t *o = json_object();
	json_object_set_new(o, "sample", json_integer((json_int_t)r->sample));
	if (gp->prompts)
		json_object_set_new(o, "prompt", json_stringn(gp->prompts[r->prompt],
							    gp->plens[r->prompt]));
	json_object_set_new(o, "text", json_stringn(r->text, r->len));
	json_object_set_new(o, "tokens", json_integer(r->tokens));
	json_object_set_new(o, "stop", json_string(r->stop));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	printf("%s\n", s);
	free(s);
	return 0;
}

/* The texts of a version's records (at most `limit`, 0: all), malloc'd. */
int gen_version_texts(const char *rev, uint64_t limit, dsv_aid *id,
		      struct gen_texts *t)
{
	dsv_manifest *m = NULL;
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	int rc;
	memset(t, 0, sizeof *t);
	if ((rc = load_version(rev, id, &m)))
		return rc;
	uint64_t n = dsv_manifest_records(m);
	if (limit && n > limit)
		n = limit;
	t->text = calloc(n ? n : 1, sizeof *t->text);
	t->len = calloc(n ? n : 1, sizeof *t->len);
	t->line = calloc(n ? n : 1, sizeof *t->line);
	t->hash = calloc(n ? n : 1, sizeof *t->hash);
	if (!t->text || !t->len || !t->line || !t->hash) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dsv_version_iter_new(&it, the_repo->store, m, DSV_SHARD_ALL)))
		goto out;
	while (t->n < n && (rc = dsv_version_iter_next(it, &rec)) == 1) {
		dsv_buf b = {0};
		if (!(t->text[t->n] = malloc(rec.text_len + 1)) ||
		    (rc = dsv_jsonl_format(&b, rec.text, rec.text_len, rec.meta,
					   rec.meta_len, rec.layout))) {
			dsv_buf_free(&b);
			rc = rc ? rc : dsv_error_set(DSV_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(t->text[t->n], rec.text, rec.text_len);
		t->text[t->n][rec.text_len] = 0;
		t->len[t->n] = rec.text_len;
		dsv_buf_append(&b, "", 1);
		t->line[t->n] = b.buf;
		t->hash[t->n] = *rec.hash;
		t->n++;
	}
	rc = rc < 0 ? rc : 0;
out:
	dsv_version_iter_free(it);
	dsv_manifest_free(m);
	if (rc)
		gen_texts_free(t);
	return rc;
}

void gen_texts_free(struct gen_texts *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->text[i]);
		free(t->line[i]);
	}
	free(t->text);
	free(t->len);
	free(t->line);
	free(t->hash);
	memset(t, 0, sizeof *t);
}

int cmd_generate(int argc, char **argv)
{
	static const char usage[] =
		"dsv generate MODEL [--prompt TEXT | --prompts REV] [options]";
	struct gen_opts o = {.max_tokens = 64, .temperature = 1.0, .top_p = 1.0,
			     .batch = 16};
	const char *prompt = NULL, *prompts_rev = NULL, *device = NULL;
	const char *temp = NULL, *topp = NULL;
	long n = 1, max_tokens = 64, top_k = 0, seed = 0, batch = 16;
	const struct option opts[] = {
		OPT_STRING(0, "prompt", &prompt, "text", "one prompt"),
		OPT_STRING(0, "prompts", &prompts_rev, "rev", "every record of a version is a prompt"),
		OPT_INT('n', "n", &n, "n", "samples per prompt (default 1)"),
		OPT_SAMPLING(&max_tokens, &temp, &top_k, &topp, &seed, &batch,
			     &device, "per sample"),
		OPT_END(),
	};
	struct model md = {0};
	struct gen_texts pt = {0};
	struct gen_print gp = {0};
	char *one[1];
	size_t onelen[1];
	dsv_aid pid;
	int rc = 1;

	int npos = parse_options(argc, argv, opts, usage);
	if (npos < 0)
		return PARSE_EXIT(npos);
	if (npos != 1)
		return usage_error(opts, usage, "exactly one model");
	if (prompt && prompts_rev)
		return usage_error(opts, usage, "--prompt and --prompts exclude "
				   "each other");
	if (gen_opts_check(&o, n, max_tokens, temp, topp, top_k, seed, batch))
		return usage_error(opts, usage, "%s", dsv_error_last());
	/* it is echoed in every JSON line, which holds UTF-8 only */
	json_t *pj = prompt ? json_string(prompt) : NULL;
	if (prompt && !pj)
		return usage_error(opts, usage, "--prompt is not valid UTF-8");
	json_decref(pj);
	if (gen_parse_device(device, &o.where) ||
	    model_load(argv[0], 1, 1, DSV_DEVICE_CPU, &md))
		goto fail;
	if (prompts_rev && gen_version_texts(prompts_rev, 0, &pid, &pt))
		goto fail;
	if (prompt) {
		one[0] = (char *)prompt;
		onelen[0] = strlen(prompt);
		gp.prompts = one;
		gp.plens = onelen;
	} else if (prompts_rev) {
		gp.prompts = pt.text;
		gp.plens = pt.len;
	}
	size_t np = prompt ? 1 : prompts_rev ? pt.n : 0;
	if (prompts_rev && !pt.n) {
		rc = error_msg("'%s' has no records to prompt with", prompts_rev);
		goto out;
	}
	if (gen_run(&md, &o, (const char *const *)(prompt ? one : pt.text),
		    prompt ? onelen : pt.len, np, (uint64_t)n * (np ? np : 1),
		    print_one, &gp, NULL))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	gen_texts_free(&pt);
	model_free(&md);
	return rc;
}

void gen_opts_params(json_t *params, const struct gen_opts *o)
{
	json_object_set_new(params, "max_tokens", json_integer(o->max_tokens));
	json_object_set_new(params, "temperature", json_real(o->temperature));
	json_object_set_new(params, "top_k", json_integer(o->top_k));
	json_object_set_new(params, "top_p", json_real(o->top_p));
	json_object_set_new(params, "seed", json_integer((json_int_t)o->seed));
	json_object_set_new(params, "device", json_string(
		o->where == DSV_DEVICE_CUDA ? "cuda" : "cpu"));
}

int gen_opts_check(struct gen_opts *o, long n, long max_tokens,
		   const char *temp, const char *topp, long top_k, long seed,
		   long batch)
{
	char *end;
	if (n < 1)
		return dsv_error_set(DSV_EINVAL, "-n must be at least 1");
	if (max_tokens < 1 || max_tokens > 1 << 20)
		return dsv_error_set(DSV_EINVAL, "--max-tokens must be 1..1048576");
	if (top_k < 0)
		return dsv_error_set(DSV_EINVAL, "--top-k must be >= 0");
	if (batch < 1 || batch > 4096)
		return dsv_error_set(DSV_EINVAL, "--batch must be 1..4096");
	if (seed < 0)
		return dsv_error_set(DSV_EINVAL, "--seed must be >= 0");
	if (temp) {
		o->temperature = strtod(temp, &end);
		if (*end || end == temp || !(o->temperature >= 0) ||
		    isinf(o->temperature))
			return dsv_error_set(DSV_EINVAL, "--temperature must be a "
					     "number >= 0");
	}
	if (topp) {
		o->top_p = strtod(topp, &end);
		if (*end || end == topp || !(o->top_p > 0 && o->top_p <= 1))
			return dsv_error_set(DSV_EINVAL, "--top-p must be in (0, 1]");
	}
	o->n = (uint64_t)n;
	o->max_tokens = (int)max_tokens;
	/* k past the vocabulary keeps every token: so does INT_MAX, where
	 * the cast wrapped 2^32 + 1 to 1 */
	o->top_k = top_k > INT_MAX ? INT_MAX : (int)top_k;
	o->seed = (uint64_t)seed;
	o->batch = (int)batch;
	return 0;
}
