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

/* A generation run (cmd/cmd.h): what gen_start sets up once and gen_next
 * uses for every chunk of prompts. */
struct gen {
	struct model *md;
	struct gen_opts o;
	dsv_meter *meter;        /* may be NULL */
	dsv_bpe_encoder *enc;
	float *params;           /* the model's, to make g from */
	dsv_gen *g;              /* NULL until a chunk needs it */
	dsv_gen_params gp;
	int B, maxnew, keep;
	uint64_t nprompts, nsamples;
	uint64_t next;           /* the index of the next sample */
	size_t cut;              /* prompts kept to their last `keep` tokens */
	int warned;              /* of them */
	int *in, *plen, *out, *olen, *stop;
	uint64_t *ids;
	uint8_t *text;
	size_t tcap;
	dsv_buf clean;
	struct gpu_meter gpu;
};

void gen_free(struct gen *g)
{
	if (!g)
		return;
	if (g->meter)
		gpu_meter_add(&g->gpu, g->meter);
	gpu_meter_stop(&g->gpu);
	free(g->params);
	free(g->in), free(g->plen), free(g->out), free(g->olen), free(g->stop);
	free(g->ids);
	free(g->text);
	dsv_buf_free(&g->clean);
	dsv_bpe_encoder_free(g->enc);
	dsv_gen_free(g->g);
	free(g);
}

/* Refuses B sequences of T positions that do not fit in memory, before the
 * CPU generator is allocated, as train and eval do (the kernel's mallocs
 * succeed under overcommit and the OOM killer comes later): the key and
 * value caches, the parameters (the model's, their gradients' room, two
 * copies) and a row of logits per sequence. */
static int check_memory(const struct gen *g, int T)
{
	const dsv_gpt_config *cfg = &g->md->g->cfg;
	int B = g->B;
	double need = 4.0 * (2.0 * cfg->num_layers * B * T * cfg->channels +
			     4.0 * (double)g->md->g->num_params +
			     2.0 * B * cfg->vocab_size);
	double avail = mem_available();
	if (avail > 0 && need > avail)
		return dsv_error_set(DSV_ENOMEM, "generation does not fit: %d "
				     "%s of %d positions need %.0f bytes "
				     "(%.2f GiB) and %.0f bytes are available "
				     "(lower --batch)", B,
				     plural(B, "sequence", "sequences"), T,
				     need,
				     need / 1073741824.0, avail);
	return 0;
}

static int ensure_generator(struct gen *g, int T);

int gen_start(struct gen **out, struct model *md, const struct gen_opts *o,
	      uint64_t nprompts, uint64_t nsamples, dsv_meter *meter)
{
	const dsv_gpt_config *cfg = &md->g->cfg;
	struct gen *g = calloc(1, sizeof *g);
	int rc = 0;
	if (!g || !(g->params = malloc(md->g->num_params * sizeof *g->params))) {
		free(g);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	g->md = md;
	g->o = *o;
	g->meter = meter;
	g->nprompts = nprompts;
	g->nsamples = nsamples;
	if ((rc = dsv_gpt_get_params(md->g, g->params))) {
		rc = dsv_error_set(rc, "%s", dsv_gpt_error_last());
		goto fail;
	}
	if (dsv_bpe_encoder_new(&g->enc, md->bpe)) {
		rc = dsv_error_set(DSV_ENOMEM, "%s", dsv_kernel_error_last());
		goto fail;
	}
	/* Each prompt: <|endoftext|> (as every document starts in training)
	 * then its tokens, the last ones kept when it is too long. */
	g->maxnew = o->max_tokens;
	g->keep = cfg->max_seq_len - g->maxnew;
	if (cfg->max_seq_len < 2) {
		rc = dsv_error_set(DSV_EINVAL, "the model's context is one token "
				   "(seq_len = 1): no room to generate after "
				   "a prompt");
		goto fail;
	}
	if (g->keep < 1)
		g->keep = 1, g->maxnew = cfg->max_seq_len - 1;
	g->B = o->batch > 0 ? o->batch : 16;
	if ((uint64_t)g->B > nsamples)
		g->B = nsamples ? (int)nsamples : 1;
	/* Whether the generator fits is said now, not after earlier chunks
	 * spent their compute: for the most positions a chunk may need (a
	 * prompt cut to `keep` tokens, or <|endoftext|> alone, then maxnew).
	 * On the GPU the allocation is the check (cudaMalloc fails cleanly),
	 * so the generator is made for them now. */
	int T = nprompts ? cfg->max_seq_len : 1 + g->maxnew;
	if ((rc = o->where == DSV_DEVICE_CUDA ? ensure_generator(g, T)
					      : check_memory(g, T)))
		goto fail;
	size_t B = (size_t)g->B;
	g->plen = malloc(B * sizeof *g->plen);
	g->out = malloc(B * g->maxnew * sizeof *g->out);
	g->olen = malloc(B * sizeof *g->olen);
	g->stop = malloc(B * sizeof *g->stop);
	g->ids = malloc(B * sizeof *g->ids);
	if (!g->plen || !g->out || !g->olen || !g->stop || !g->ids) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto fail;
	}
	/* A top-p below the smallest float would round to 0, which the
	 * sampler reads as no nucleus at all: keep the likeliest token. */
	g->gp = (dsv_gen_params){.temperature = (float)o->temperature,
				 .top_k = o->top_k,
				 .top_p = fmaxf((float)o->top_p, FLT_MIN),
				 .seed = o->seed, .max_new = g->maxnew,
				 .eot = (int)dsv_bpe_eot(md->bpe)};
	*out = g;
	return 0;
fail:
	gen_free(g);
	return rc;
}

uint64_t gen_chunk_samples(const struct gen *g)
{
	const char *env = getenv("DSV_GEN_CHUNK_SAMPLES"); /* tests */
	uint64_t n = env ? strtoull(env, NULL, 10) : 1024;
	n = n ? n : 1;
	return (n + (uint64_t)g->B - 1) / (uint64_t)g->B * (uint64_t)g->B;
}

/* A generator whose cache holds T positions: the one at hand unless a
 * chunk's longest prompt needs more. A chunk may so decode with a smaller
 * T than one run over all the prompts would take, and gets the same
 * tokens: T is only the cache's stride, no sequence reaches it before
 * max_new (T >= its prompt + max_new, or the context), and a batch's
 * prefill rows (fewer than B*T) fit in one feed of min(B*T, 256) rows
 * under either T (kernels/generate.c). */
static int ensure_generator(struct gen *g, int T)
{
	const dsv_gpt_config *cfg = &g->md->g->cfg;
	int B = g->B, rc;
	if (g->g && g->g->T >= T)
		return 0;
	dsv_gen_free(g->g);
	g->g = NULL;
	free(g->in);
	g->in = NULL;
	if ((rc = dsv_gen_new(&g->g, cfg, g->params, B, T, g->o.where ==
			      DSV_DEVICE_CUDA ? DSV_GPT_CUDA : DSV_GPT_CPU)))
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	if (!(g->in = malloc((size_t)B * T * sizeof *g->in)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (g->g->on_gpu && g->meter && !g->gpu.on) {
		dsv_meter_add_device(g->meter, dsv_device_name());
		gpu_meter_start(&g->gpu);
	}
	return 0;
}

/* The tokens of prompt p into *tok (malloc'd), <|endoftext|> first, cut
 * to its last g->keep; 1 if it was cut, 0 if not, or an error. */
static int encode_prompt(struct gen *g, const char *p, size_t len,
			 uint32_t **tok, size_t *ntok)
{
	size_t n = 0, cap = 0;
	uint32_t *ids0 = NULL;
	if (len && dsv_bpe_encode(g->enc, (const uint8_t *)p, len, &ids0, &n,
				  &cap))
		return dsv_error_set(DSV_EINVAL, "%s", dsv_kernel_error_last());
	if (!(*tok = malloc((n + 1) * sizeof(uint32_t)))) {
		free(ids0);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	(*tok)[0] = dsv_bpe_eot(g->md->bpe);
	if (n)
		memcpy(*tok + 1, ids0, n * sizeof(uint32_t));
	free(ids0);
	*ntok = n + 1;
	if (*ntok <= (size_t)g->keep)
		return 0;
	memmove(*tok, *tok + *ntok - g->keep, g->keep * sizeof(uint32_t));
	*ntok = (size_t)g->keep;
	return 1;
}

/* One batch: samples s0 .. s0+nb-1 of the chunk, whose first is sample
 * `first` of the run. */
static int run_batch(struct gen *g, uint32_t *const *ptok, const size_t *pn,
		     size_t np, uint64_t first, uint64_t s0, int nb,
		     gen_result_fn fn, void *ctx)
{
	const dsv_gpt_config *cfg = &g->md->g->cfg;
	int maxnew = g->maxnew, rc = 0;
	size_t k = 0;
	double flops = 0;
	uint64_t tin = 0, tout = 0;
	for (int b = 0; b < nb; b++) {
		size_t p = (size_t)((s0 + b) % np);
		for (size_t i = 0; i < pn[p]; i++)
			g->in[k++] = (int)ptok[p][i];
		g->plen[b] = (int)pn[p];
		g->ids[b] = first + s0 + (uint64_t)b;
	}
	if ((rc = dsv_generate(g->g, g->in, g->plen, nb, &g->gp, g->ids,
			       g->out, g->olen, g->stop)))
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	for (int b = 0; b < nb && !rc; b++) {
		uint32_t *u = (uint32_t *)(g->out + (size_t)b * maxnew);
		size_t tlen = 0;
		for (int i = 0; i < g->olen[b]; i++)
			u[i] = (uint32_t)g->out[(size_t)b * maxnew + i];
		g->clean.len = 0;
		if (dsv_bpe_decode(g->md->bpe, u, (size_t)g->olen[b], &g->text,
				   &tlen, &g->tcap) ||
		    utf8_clean(&g->clean, g->text, tlen) ||
		    dsv_buf_append(&g->clean, "", 1))
			return dsv_error_set(DSV_ENOMEM, "cannot decode a sample");
		for (int i = 0; i < g->plen[b] + g->olen[b]; i++)
			flops += dsv_gen_flops_per_token(cfg, i + 1);
		tin += (uint64_t)g->plen[b];
		tout += (uint64_t)g->olen[b];
		/* --max-tokens past the context was cut to fit it */
		if (g->stop[b] == DSV_GEN_STOP_LENGTH && maxnew < g->o.max_tokens)
			g->stop[b] = DSV_GEN_STOP_CONTEXT;
		struct gen_result r = {.sample = first + s0 + (uint64_t)b,
				       .prompt = (size_t)((s0 + b) % np),
				       .text = g->clean.buf,
				       .len = g->clean.len - 1,
				       .tokens = g->olen[b],
				       .stop = stop_name(g->stop[b])};
		rc = fn(&r, ctx);
	}
	if (g->meter) {
		dsv_meter_add_flops(g->meter, flops);
		dsv_meter_add(g->meter, DSV_METER_TOKENS_IN, tin);
		dsv_meter_add(g->meter, DSV_METER_TOKENS_OUT, tout);
	}
	return rc;
}

int gen_next(struct gen *g, const char *const *prompts, const size_t *plens,
	     size_t nprompts, uint64_t nsamples, gen_result_fn fn, void *ctx)
{
	const dsv_gpt_config *cfg = &g->md->g->cfg;
	size_t np = nprompts ? nprompts : 1;
	uint64_t first = g->next;
	int last = first + nsamples == g->nsamples, maxp = 0, rc = 0;
	if (first + nsamples > g->nsamples || (!last && nsamples % g->B))
		return dsv_error_set(DSV_EINVAL, "generation: a chunk of %llu "
				     "%s after %llu of %llu is not whole "
				     "batches of %d",
				     (unsigned long long)nsamples,
				     plural(nsamples, "sample", "samples"),
				     (unsigned long long)first,
				     (unsigned long long)g->nsamples, g->B);
	uint32_t **ptok = calloc(np, sizeof *ptok);
	size_t *pn = calloc(np, sizeof *pn);
	if (!ptok || !pn) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		int c = encode_prompt(g, nprompts ? prompts[i] : NULL,
				      nprompts ? plens[i] : 0, &ptok[i], &pn[i]);
		if (c < 0) {
			rc = c;
			goto out;
		}
		/* a prompt counts once, at its first sample */
		if (c && first + i < g->nprompts)
			g->cut++;
		if ((int)pn[i] > maxp)
			maxp = (int)pn[i];
	}
	/* Said, not silent: with --max-tokens near the context a rephrase
	 * template and its record shrink to their last few tokens. Once
	 * every prompt has had its first sample: with all of them in one
	 * chunk, before it runs. */
	if ((last || first + np >= g->nprompts) && g->cut && !g->warned) {
		uint64_t n = g->nprompts ? g->nprompts : 1;
		fprintf(stderr, "dsv: warning: %zu of %llu %s %s last %d %s "
			"(context %d, --max-tokens %d)\n", g->cut,
			(unsigned long long)n, plural(n, "prompt", "prompts"),
			plural(g->cut, "keeps only its", "keep only their"),
			g->keep, plural(g->keep, "token", "tokens"),
			cfg->max_seq_len, g->o.max_tokens);
		g->warned = 1;
	}
	int T = maxp + g->maxnew;
	if (T > cfg->max_seq_len)
		T = cfg->max_seq_len;
	if ((rc = ensure_generator(g, T)))
		goto out;
	for (uint64_t s0 = 0; s0 < nsamples && !rc; s0 += (uint64_t)g->B) {
		int nb = (int)(nsamples - s0 < (uint64_t)g->B ? nsamples - s0
							     : (uint64_t)g->B);
		rc = run_batch(g, ptok, pn, np, first, s0, nb, fn, ctx);
	}
	g->next += nsamples;
	if (!rc && last && g->meter)
		gpu_meter_add(&g->gpu, g->meter);
out:
	for (size_t i = 0; ptok && i < np; i++)
		free(ptok[i]);
	free(ptok);
	free(pn);
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

struct gen_reader {
	dsv_manifest *m;
	dsv_version_iter *it;   /* NULL: (re)start at the first record */
	uint64_t pass;          /* records read since it started */
	int lines;              /* build each record's JSONL line */
	int started, kept;      /* kept: every record read once, into own */
	uint64_t next;          /* kept: the next sample's record */
	struct gen_texts own;   /* the records read last (owned) */
	struct gen_texts view;  /* kept: own from the chunk's first record on */
};

/* Frees t's records (with `owned`) and arrays, and zeroes it. */
static void texts_free(struct gen_texts *t, int owned)
{
	for (size_t i = 0; owned && i < t->n; i++) {
		free(t->text[i]);
		if (t->line)
			free(t->line[i]);
	}
	free(t->text);
	free(t->len);
	free(t->line);
	free(t->hash);
	memset(t, 0, sizeof *t);
}

/* Room for n records in t (zeroed); lines only when asked. */
static int texts_alloc(struct gen_texts *t, uint64_t n, int lines)
{
	t->text = calloc(n ? n : 1, sizeof *t->text);
	t->len = calloc(n ? n : 1, sizeof *t->len);
	t->line = lines ? calloc(n ? n : 1, sizeof *t->line) : NULL;
	t->hash = calloc(n ? n : 1, sizeof *t->hash);
	if (!t->text || !t->len || (lines && !t->line) || !t->hash)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}

int gen_reader_open(struct gen_reader **out, const char *rev, int lines,
		    dsv_aid *id, uint64_t *nrecords)
{
	struct gen_reader *r = calloc(1, sizeof *r);
	int rc;
	if (!r)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = load_version(rev, id, &r->m))) {
		free(r);
		return rc;
	}
	r->lines = lines;
	*nrecords = dsv_manifest_records(r->m);
	*out = r;
	return 0;
}

void gen_reader_free(struct gen_reader *r)
{
	if (!r)
		return;
	dsv_version_iter_free(r->it);
	dsv_manifest_free(r->m);
	texts_free(&r->own, 1);
	texts_free(&r->view, 0);
	free(r);
}

/* The version's next n records into r->own, starting over after the last. */
static int read_records(struct gen_reader *r, uint64_t n)
{
	struct gen_texts *t = &r->own;
	dsv_version_rec rec;
	int rc;
	texts_free(t, 1);
	if ((rc = texts_alloc(t, n, r->lines)))
		goto out;
	while (t->n < n) {
		if (!r->it) {
			if ((rc = dsv_version_iter_new(&r->it, the_repo->store,
						       r->m, DSV_SHARD_ALL)))
				goto out;
			r->pass = 0;
		}
		if ((rc = dsv_version_iter_next(r->it, &rec)) < 0)
			goto out;
		if (!rc) { /* the end: start over, unless it held nothing */
			dsv_version_iter_free(r->it);
			r->it = NULL;
			if (!r->pass) {
				rc = dsv_error_set(DSV_ECORRUPT, "the version "
						   "holds no record, and its "
						   "manifest counts %llu",
						   (unsigned long long)
						   dsv_manifest_records(r->m));
				goto out;
			}
			continue;
		}
		dsv_buf b = {0};
		if (!(t->text[t->n] = malloc(rec.text_len + 1)) ||
		    (r->lines &&
		     ((rc = dsv_jsonl_format(&b, rec.text, rec.text_len,
					     rec.meta, rec.meta_len,
					     rec.layout)) ||
		      (rc = dsv_buf_append(&b, "", 1))))) {
			free(t->text[t->n]);
			dsv_buf_free(&b);
			rc = rc ? rc : dsv_error_set(DSV_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(t->text[t->n], rec.text, rec.text_len);
		t->text[t->n][rec.text_len] = 0;
		t->len[t->n] = rec.text_len;
		if (r->lines)
			t->line[t->n] = b.buf;
		t->hash[t->n] = *rec.hash;
		t->n++;
		r->pass++;
	}
	rc = 0;
out:
	if (rc)
		texts_free(t, 1);
	return rc;
}

int gen_reader_next(struct gen_reader *r, uint64_t n, struct gen_texts *t)
{
	uint64_t P = dsv_manifest_records(r->m);
	int rc;
	memset(t, 0, sizeof *t);
	if (!P)
		return 0;
	if (!r->started) {
		r->started = 1;
		r->kept = n >= P;
		if (r->kept && ((rc = read_records(r, P)) ||
				(rc = texts_alloc(&r->view, P, r->lines))))
			return rc;
	}
	if (!r->kept) {
		if ((rc = read_records(r, n)))
			return rc;
		*t = r->own;
		return 0;
	}
	/* the same records, from the chunk's first sample's on */
	for (uint64_t j = 0; j < P; j++) {
		uint64_t i = (r->next + j) % P;
		r->view.text[j] = r->own.text[i];
		r->view.len[j] = r->own.len[i];
		if (r->lines)
			r->view.line[j] = r->own.line[i];
		r->view.hash[j] = r->own.hash[i];
	}
	r->view.n = (size_t)P;
	r->next = (r->next + n) % P;
	*t = r->view;
	return 0;
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
	struct gen_reader *rd = NULL;
	struct gen *gen = NULL;
	struct gen_print gp = {0};
	char *one[1];
	size_t onelen[1];
	uint64_t np = 0;
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
	if (prompts_rev && gen_reader_open(&rd, prompts_rev, 0, &pid, &np))
		goto fail;
	if (prompts_rev && !np) {
		rc = error_msg("'%s' has no records to prompt with", prompts_rev);
		goto out;
	}
	if (prompt) {
		one[0] = (char *)prompt;
		onelen[0] = strlen(prompt);
		gp.prompts = one;
		gp.plens = onelen;
		np = 1;
	}
	uint64_t total = (uint64_t)n * (np ? np : 1);
	if (gen_start(&gen, &md, &o, np, total, NULL) ||
	    (!rd && gen_next(gen, (const char *const *)one, onelen, np, total,
			     print_one, &gp)))
		goto fail;
	/* A chunk of samples at a time, their prompts read with them (over
	 * again for -n), or once when the version fits in a chunk */
	for (uint64_t done = 0, k = gen_chunk_samples(gen), c; rd && done < total;
	     done += c) {
		c = total - done < k ? total - done : k;
		if (gen_reader_next(rd, c, &pt))
			goto fail;
		gp.prompts = pt.text;
		gp.plens = pt.len;
		if (gen_next(gen, (const char *const *)pt.text, pt.len, pt.n, c,
			     print_one, &gp))
			goto fail;
	}
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	gen_free(gen);
	gen_reader_free(rd);
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
