/* train.c: `dsv train REV --tokenizer T --config FILE -o NAME`: trains a
 * GPT-2 model (kernels/gpt.h) on a pinned version and records it as a model
 * artifact (MODEL, METRICS.tsv, one safetensors weight object), with
 * resumable checkpoints and the compute it used. docs/train.md describes
 * the config, the checkpoints and the record. Also the weight encoding
 * and model loading that `dsv eval` shares (cmd/cmd.h).
 */
#include "cmd/cmd.h"
#include "cmd/ranks.h"
#include "kernels/gpt.h"
#include "kernels/nccl_dp.h"
#include "kernels/safetensors.h"
#include "kernels/trainconf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef DSV_HAVE_NCCL
#include <mpi.h>
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the token stream: batches of B*T+1 tokens, epochs, resumable ---- */

/* In order (shuffle = 0), each micro-step takes the next window of
 * world*B*T+1 tokens. Shuffled, the epoch's stream is cut into rows of T+1
 * tokens (row j starts at token j*T), read a chunk of `chunk_rows` rows at
 * a time; each chunk's rows are taken in a permutation drawn from (seed,
 * epoch, chunk), and a micro-step takes the next world*B of them, so the
 * position (epoch, rows taken) is the whole state. */
struct stream {
	const dsv_manifest *m;
	dsv_oid tok;
	dsv_tokens_loader *ld;
	uint32_t *buf;
	size_t have, need; /* tokens in buf; world*B*T + 1 */
	uint64_t epoch, pos; /* pos: tokens taken this epoch (rows taken * T) */
	/* shuffled */
	int shuffle;
	uint64_t seed;
	size_t T, chunk_rows;
	uint32_t *chunk;   /* the chunk's tokens, nrows*T + 1 */
	uint32_t *perm;    /* its row order */
	size_t nrows, next; /* rows in the chunk, rows of it taken */
	uint64_t ichunk;   /* index of the chunk in the epoch */
	int loaded, last;  /* a chunk is in; the loader ended inside it */
};

static int stream_restart(struct stream *st)
{
	dsv_tokens_loader_free(st->ld);
	st->ld = NULL;
	st->have = 0;
	st->pos = 0;
	st->loaded = st->last = 0;
	st->ichunk = 0;
	return dsv_tokens_loader_new(&st->ld, the_repo->store, st->m, &st->tok);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Reads up to `want` tokens into dst; *got short only at the version's end. */
static int stream_read(struct stream *st, uint32_t *dst, size_t want,
		       size_t *got)
{
	*got = 0;
	while (*got < want) {
		size_t n = 0;
		int rc = dsv_tokens_loader_read(st->ld, dst + *got, want - *got, &n);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		*got += n;
	}
	return 0;
}

/* Loads chunk `ichunk` (rows ichunk*chunk_rows ..): its tokens continue the
 * previous chunk's, whose last token is the first of this one (fresh: read
 * from the loader's position), then draws its row order: Fisher-Yates from
 * splitmix64 seeded by (seed, epoch, chunk). A tail shorter than a row is
 * left out, as in order. */
static int chunk_load(struct stream *st, int fresh)
{
	size_t have = 0, got;
	if (!fresh && st->loaded) {
		st->chunk[0] = st->chunk[st->nrows * st->T];
		have = 1;
	}
	int rc = stream_read(st, st->chunk + have,
			     st->chunk_rows * st->T + 1 - have, &got);
	if (rc)
		return rc;
	have += got;
	st->last = have < st->chunk_rows * st->T + 1;
	st->nrows = have ? (have - 1) / st->T : 0;
	st->next = 0;
	st->loaded = 1;
	uint64_t x = st->seed ^ 0x53485546464c45ull; /* "SHUFFLE" */
	x = splitmix64(&x) ^ st->epoch;
	x = splitmix64(&x) ^ st->ichunk;
	for (size_t i = 0; i < st->nrows; i++)
		st->perm[i] = (uint32_t)i;
	for (size_t i = st->nrows; i > 1; i--) {
		size_t j = (size_t)(splitmix64(&x) % i);
		uint32_t tmp = st->perm[i - 1];
		st->perm[i - 1] = st->perm[j];
		st->perm[j] = tmp;
	}
	return 0;
}

/* The next world*B rows of the shuffled epoch; rank r's are rows r*B ..
 * r*B+B-1 of them. 1 when taken, 0 when the epoch has fewer left (the
 * rows looked at are then dropped, as the in-order tail is). */
static int shuffled_rows(struct stream *st, int *inputs, int *targets,
			 size_t B, size_t world, int rank)
{
	for (size_t i = 0; i < world * B; i++) {
		if (!st->loaded || st->next == st->nrows) {
			if (st->loaded && st->last)
				return 0;
			if (st->loaded)
				st->ichunk++;
			int rc = chunk_load(st, 0);
			if (rc)
				return rc;
			if (st->nrows == 0)
				return 0;
		}
		size_t row = st->perm[st->next++];
		if (i / B != (size_t)rank)
			continue;
		const uint32_t *w = st->chunk + row * st->T;
		size_t o = (i % B) * st->T;
		for (size_t k = 0; k < st->T; k++) {
			inputs[o + k] = (int)w[k];
			targets[o + k] = (int)w[k + 1];
		}
	}
	return 1;
}

/* Fills buf to `need` tokens; 1 when full, 0 at the end of the version. */
static int stream_fill(struct stream *st)
{
	while (st->have < st->need) {
		size_t got = 0;
		int rc = dsv_tokens_loader_read(st->ld, st->buf + st->have,
						st->need - st->have, &got);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return 0;
		st->have += got;
	}
	return 1;
}

/* The error of an epoch that ends before its first window. The loader has
 * read the whole version by then: its stream is an <|endoftext|> before
 * each document, then the document's tokens. */
static int stream_too_short(const struct stream *st)
{
	uint64_t docs, tokens;
	dsv_tokens_loader_stats(st->ld, &docs, &tokens);
	return dsv_error_set(DSV_EINVAL, "the version has %llu %s, fewer "
			     "than one batch (%zu = batch_size * seq_len + 1)",
			     (unsigned long long)(docs + tokens),
			     plural(docs + tokens, "token", "tokens"),
			     st->need);
}

/* The next window of world*BT+1 tokens; rank r takes tokens
 * [r*BT, (r+1)*BT] of it. A new epoch starts at the version's first token
 * when the rest of this one is shorter than a window. */
static int stream_next(struct stream *st, int *inputs, int *targets,
		       size_t BT, int rank)
{
	int rc;
	while (st->shuffle) {
		size_t world = (st->need - 1) / BT;
		if ((rc = shuffled_rows(st, inputs, targets, BT / st->T, world,
					rank)) < 0)
			return rc;
		if (rc == 1) {
			st->pos += st->need - 1;
			return 0;
		}
		if (st->pos == 0)
			return stream_too_short(st);
		st->epoch++;
		if ((rc = stream_restart(st)))
			return rc;
	}
	for (;;) {
		if ((rc = stream_fill(st)) < 0)
			return rc;
		if (rc == 1)
			break;
		if (st->pos == 0)
			return stream_too_short(st);
		st->epoch++;
		if ((rc = stream_restart(st)))
			return rc;
	}
	const uint32_t *w = st->buf + (size_t)rank * BT;
	for (size_t i = 0; i < BT; i++) {
		inputs[i] = (int)w[i];
		targets[i] = (int)w[i + 1];
	}
	size_t adv = st->need - 1;
	memmove(st->buf, st->buf + adv, (st->have - adv) * sizeof *st->buf);
	st->have -= adv;
	st->pos += adv;
	return 0;
}

/* Positions a fresh stream at (epoch, pos), as a checkpoint recorded it. */
static int stream_seek(struct stream *st, uint64_t epoch, uint64_t pos)
{
	int rc = stream_restart(st);
	if (!rc && st->shuffle) {
		/* skip the chunks before the one holding row pos/T, then load
		 * it and step over its rows already taken */
		uint64_t rows = pos / st->T, c = rows / st->chunk_rows;
		uint64_t skip = c * st->chunk_rows * st->T;
		st->epoch = epoch;
		while (!rc && skip) {
			size_t want = skip < st->need ? (size_t)skip : st->need, got;
			if ((rc = stream_read(st, st->buf, want, &got)))
				return rc;
			if (got < want)
				return dsv_error_set(DSV_ECORRUPT, "checkpoint "
						     "position %llu is past the "
						     "version's end",
						     (unsigned long long)pos);
			skip -= got;
		}
		st->ichunk = c;
		if ((rc = chunk_load(st, 1)))
			return rc;
		st->next = (size_t)(rows - c * st->chunk_rows);
		if (st->next > st->nrows)
			return dsv_error_set(DSV_ECORRUPT, "checkpoint position "
					     "%llu is past the version's end",
					     (unsigned long long)pos);
		st->pos = pos;
		return 0;
	}
	uint64_t left = pos;
	while (!rc && left) {
		size_t want = left < st->need ? (size_t)left : st->need, got = 0;
		rc = dsv_tokens_loader_read(st->ld, st->buf, want, &got);
		if (rc == 0)
			return dsv_error_set(DSV_ECORRUPT, "checkpoint position "
					     "%llu is past the version's end",
					     (unsigned long long)pos);
		if (rc < 0)
			return rc;
		left -= got;
		rc = 0;
	}
	st->pos = pos;
	st->epoch = epoch;
	st->have = 0;
	return rc;
}

static void stream_free(struct stream *st)
{
	dsv_tokens_loader_free(st->ld);
	free(st->buf);
	free(st->chunk);
	free(st->perm);
}

/* cmd/cmd.h */
double mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	double kb = 0;
	if (getenv("DSV_TRAIN_MEMORY")) /* tests */
		return strtod(getenv("DSV_TRAIN_MEMORY"), NULL);
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024.0;
}

/* The first `cap` tokens (0: all) of a version's stream, for validation. */
static int read_all_tokens(const dsv_manifest *m, const dsv_oid *tok,
			   uint64_t cap, uint32_t **out, size_t *n)
{
	dsv_tokens_loader *ld = NULL;
	size_t len = 0, alloc = 1 << 16;
	uint32_t *v = malloc(alloc * sizeof *v);
	int rc;
	*out = NULL;
	*n = 0;
	if (!v)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_tokens_loader_new(&ld, the_repo->store, m, tok)))
		goto fail;
	for (;;) {
		if (cap && len >= cap)
			break;
		/* a growth past what is free says so, instead of the OOM
		 * killer ending the run later */
		double avail = len + 1 > alloc ? mem_available() : 0;
		if (avail > 0 && 2.0 * alloc * sizeof *v > avail) {
			rc = dsv_error_set(DSV_ENOMEM, "the validation tokens do "
					   "not fit in memory: %zu read so far and "
					   "%.0f bytes available (eval_tokens = N "
					   "reads only the first N)", len, avail);
			goto fail;
		}
		if ((rc = DSV_ARRAY_GROW(v, alloc, len + 1, 0)))
			goto fail;
		size_t want = alloc - len, got = 0;
		if (cap && want > cap - len)
			want = cap - len;
		rc = dsv_tokens_loader_read(ld, v + len, want, &got);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			break;
		len += got;
	}
	dsv_tokens_loader_free(ld);
	*out = v;
	*n = len;
	return 0;
fail:
	dsv_tokens_loader_free(ld);
	free(v);
	return rc;
}

/* ---- validation: mean per-token loss over windows of T+1 tokens ---- */

static int val_loss(dsv_gpt *g, const uint32_t *tok, size_t n, int B, int T,
		    int *inputs, int *targets, float *losses, double *out,
		    uint64_t *ntok)
{
	double sum = 0;
	uint64_t cnt = 0;
	size_t pos = 0;
	int rc;
	while (pos + 1 < n) {
		/* Full windows, B at a time; then one shorter last window. */
		int rows = 0, t = T;
		while (rows < B && pos + (size_t)T + 1 <= n) {
			for (int i = 0; i < T; i++) {
				inputs[rows * T + i] = (int)tok[pos + i];
				targets[rows * T + i] = (int)tok[pos + i + 1];
			}
			rows++;
			pos += (size_t)T;
		}
		if (rows == 0) {
			t = (int)(n - 1 - pos);
			for (int i = 0; i < t; i++) {
				inputs[i] = (int)tok[pos + i];
				targets[i] = (int)tok[pos + i + 1];
			}
			rows = 1;
			pos = n;
		}
		if ((rc = dsv_gpt_forward(g, inputs, targets, rows, t)) ||
		    (rc = dsv_gpt_get_losses(g, losses)))
			return dsv_error_set(rc, "%s", dsv_gpt_error_last());
		for (int i = 0; i < rows * t; i++)
			sum += losses[i];
		cnt += (uint64_t)rows * t;
	}
	*out = cnt ? sum / (double)cnt : NAN;
	*ntok = cnt;
	return 0;
}

/* ---- memory estimate ---- */

/* Bytes the CPU path allocates for a model and batch (gpt_cpu.c's
 * buffers), plus the AdamW moments and the host copies a checkpoint
 * needs: params, grads, m, v, three checkpoint arrays and activations. */
static double model_bytes(const dsv_gpt_config *c, int B, int T,
			  size_t nparams)
{
	double L = c->num_layers, C = c->channels, NH = c->num_heads;
	double BT = (double)B * T, Vp = c->padded_vocab_size;
	double act = BT * (C * (16 + 14 * L) + NH * T * (L + 1) + Vp + 3 * L + 5);
	return 4.0 * (7.0 * (double)nparams + act);
}

/* ---- the run file: .dsv/runs/NAME names an unfinished run's inputs and
 * checkpoints (gc's roots while the run is not yet a model) ---- */

struct run {
	char *path;
	int lock_fd; /* holds .NAME.lock beside the run file while we train */
	dsv_aid rev, tok, valid;
	int has_valid;
	char *config;
	size_t nckpt;
	dsv_oid *ckpt;
};

static void run_free(struct run *r)
{
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->path);
	free(r->config);
	free(r->ckpt);
	memset(r, 0, sizeof *r);
	r->lock_fd = -1;
}

/* Takes .dsv/runs/.NAME.lock for as long as this process trains NAME, so
 * that a second `train -o NAME`, with or without --resume, finds the run in
 * progress rather than interrupted; the lock goes with the process however
 * it ends. The file stays: removing it would let a third process lock a
 * fresh one while a second still holds the old. */
static int run_claim(struct run *r, const char *name)
{
	const char *base = strrchr(r->path, '/') + 1;
	char *lock = NULL;
	int rc = 0;
	if (asprintf(&lock, "%.*s.%s.lock", (int)(base - r->path), r->path,
		     base) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		rc = dsv_error_set(DSV_EIO, "cannot open '%s': %s", lock,
				   strerror(errno));
	else if (flock(fd, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK
		     ? dsv_error_set(DSV_EEXISTS, "a run '%s' is in progress "
				     "in another process (it holds '%s')",
				     name, lock)
		     : dsv_error_set(DSV_EIO, "cannot lock '%s': %s", lock,
				     strerror(errno));
		close(fd);
	} else {
		r->lock_fd = fd;
	}
	free(lock);
	return rc;
}

static int run_write(const struct run *r)
{
	dsv_buf b = {0};
	char hex[DSV_OID_HEXLEN + 1], *tmp = NULL;
	int rc = 0, fd = -1;
	dsv_aid_fmt(hex, &r->rev);
	rc |= dsv_buf_append(&b, "rev ", 4) | dsv_buf_append(&b, hex, 40);
	dsv_aid_fmt(hex, &r->tok);
	rc |= dsv_buf_append(&b, "\ntokenizer ", 11) | dsv_buf_append(&b, hex, 40);
	if (r->has_valid) {
		dsv_aid_fmt(hex, &r->valid);
		rc |= dsv_buf_append(&b, "\nvalid ", 7) |
		      dsv_buf_append(&b, hex, 40);
	}
	for (size_t i = 0; i < r->nckpt; i++) {
		dsv_oid_fmt(hex, &r->ckpt[i]);
		rc |= dsv_buf_append(&b, "\ncheckpoint ", 12) |
		      dsv_buf_append(&b, hex, 64);
	}
	rc |= dsv_buf_append(&b, "\n", 1);
	for (const char *p = r->config; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		rc |= dsv_buf_append(&b, "config ", 7) | dsv_buf_append(&b, p, n) |
		      dsv_buf_append(&b, "\n", 1);
		p += n + (e != NULL);
	}
	if (rc) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (asprintf(&tmp, "%s.tmp", r->path) < 0) {
		tmp = NULL;
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b.buf, b.len) != (ssize_t)b.len || fsync(fd) ||
	    close(fd) || rename(tmp, r->path)) {
		rc = dsv_error_set(DSV_EIO, "cannot write '%s': %s", r->path,
				   strerror(errno));
		fd = -1;
		goto cleanup;
	}
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	free(tmp);
	dsv_buf_free(&b);
	return rc;
}

/* The first write of the run file, under the store lock as every later one
 * (checkpoint_now): gc, which holds it alone, deletes a NAME.tmp older than
 * its grace period, and --grace 0 is any. */
static int run_start(const struct run *r)
{
	int rc = dsv_store_lock(the_repo->store);
	if (!rc)
		rc = run_write(r);
	dsv_store_unlock(the_repo->store);
	return rc;
}

static int run_read(struct run *r)
{
	FILE *f = fopen(r->path, "r");
	char line[1024];
	dsv_buf cfg = {0};
	int rc = 0;
	if (!f)
		return dsv_error_set(DSV_ENOTFOUND, "no interrupted run '%s'",
				     r->path);
	while (fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\n");
		line[n] = 0;
		char *sp = strchr(line, ' ');
		if (!sp) {
			rc = dsv_error_set(DSV_ECORRUPT, "'%s': bad line", r->path);
			break;
		}
		*sp++ = 0;
		size_t vl = strlen(sp);
		if (!strcmp(line, "rev"))
			rc = dsv_aid_parse(&r->rev, sp, vl);
		else if (!strcmp(line, "tokenizer"))
			rc = dsv_aid_parse(&r->tok, sp, vl);
		else if (!strcmp(line, "valid"))
			rc = dsv_aid_parse(&r->valid, sp, vl), r->has_valid = 1;
		else if (!strcmp(line, "checkpoint")) {
			dsv_oid *c = realloc(r->ckpt, (r->nckpt + 1) * sizeof *c);
			if (!c) {
				rc = dsv_error_set(DSV_ENOMEM, "out of memory");
				break;
			}
			r->ckpt = c;
			rc = dsv_oid_parse(&r->ckpt[r->nckpt++], sp, vl);
		} else if (!strcmp(line, "config"))
			rc = dsv_buf_append(&cfg, sp, vl) ||
			     dsv_buf_append(&cfg, "\n", 1);
		if (rc) {
			rc = dsv_error_set(DSV_ECORRUPT, "'%s': bad line",
					   r->path);
			break;
		}
	}
	fclose(f);
	if (!rc && dsv_buf_append(&cfg, "", 1))
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	if (rc) {
		dsv_buf_free(&cfg);
		return rc;
	}
	r->config = cfg.buf;
	return 0;
}

static int read_object(const dsv_oid *id, void **data, size_t *len);

/* ---- the command ---- */

struct train {
	const char *tokrev, *config_path, *output, *message, *validrev;
	const char *device;
	long stop_after;
	int resume, json, quiet;
	/* inputs */
	dsv_aid rev, tok_aid, valid_aid;
	dsv_oid tok_id;
	dsv_manifest *m, *vm;
	dsv_bpe *bpe;
	dsv_trainconf cfg;
	char *cfg_text;
	dsv_gpt_config gc;
	int V;
	/* state */
	dsv_gpt *g;
	struct stream st;
	uint32_t *val;
	size_t nval;
	int *inputs, *targets;
	float *losses;
	dsv_metrics_row *rows;
	size_t nrows, caprows;
	int64_t step;
	uint64_t tokens;
	double train_s;       /* training seconds, earlier sessions included */
	dsv_compute before;   /* compute of earlier sessions (resume) */
	int has_before;
	struct run run;
	dsv_meter *meter;
	struct nvml nvml;
	int rank, world;
	dsv_dp *dp;
	uint64_t val_tokens_seen;
};

static int add_row(struct train *t, dsv_metrics_row r)
{
	int rc = DSV_ARRAY_GROW(t->rows, t->caprows, t->nrows + 1, 256);
	if (rc)
		return rc;
	t->rows[t->nrows++] = r;
	return 0;
}

static int load_config(struct train *t)
{
	/* Read to the end, not st_size bytes: a pipe (--config <(...),
	 * /dev/stdin) has size 0 and its keys were silently lost. A config
	 * is a few dozen lines; 1 MiB is far more than any needs. */
	enum { MAX_CONFIG = 1 << 20 };
	int fd = open(t->config_path, O_RDONLY);
	char *text = NULL;
	size_t len = 0;
	ssize_t got = 0;
	int rc = 0;
	if (fd < 0)
		return dsv_error_set(DSV_ENOTFOUND, "cannot open '%s': %s",
				     t->config_path, strerror(errno));
	if (!(text = malloc(MAX_CONFIG + 1))) {
		close(fd);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	while (len <= MAX_CONFIG &&
	       ((got = read(fd, text + len, MAX_CONFIG + 1 - len)) > 0 ||
		(got < 0 && errno == EINTR)))
		if (got > 0)
			len += (size_t)got;
	close(fd);
	if (got < 0)
		rc = dsv_error_set(DSV_EIO, "cannot read '%s': %s",
				   t->config_path, strerror(errno));
	else if (len > MAX_CONFIG)
		rc = dsv_error_set(DSV_EINVAL, "'%s' is longer than a config "
				   "(1 MiB)", t->config_path);
	if (rc) {
		free(text);
		return rc;
	}
	dsv_trainconf_defaults(&t->cfg);
	if (dsv_trainconf_parse(&t->cfg, text, len, t->config_path))
		rc = dsv_error_set(DSV_EINVAL, "%s", dsv_kernel_error_last());
	free(text);
	return rc;
}

static int setup_model(struct train *t)
{
	const dsv_trainconf *c = &t->cfg;
	t->V = (int)dsv_bpe_vocab_size(t->bpe);
	if (c->vocab && c->vocab != t->V)
		return dsv_error_set(DSV_EINVAL, "config vocab = %d does not "
				     "match the tokenizer '%s' (%d tokens)",
				     c->vocab, t->tokrev, t->V);
	t->gc = (dsv_gpt_config){.max_seq_len = c->seq_len, .vocab_size = t->V,
				 .padded_vocab_size = (t->V + 127) / 128 * 128,
				 .num_layers = c->n_layer, .num_heads = c->n_head,
				 .channels = c->n_embd};
	size_t sizes[DSV_GPT_NTENSORS];
	size_t np = dsv_gpt_param_sizes(&t->gc, sizes);
	if (!np)
		return dsv_error_set(DSV_EINVAL, "invalid model shape");
	double need = model_bytes(&t->gc, c->batch_size, c->seq_len, np);
	if (c->shuffle) /* the shuffle buffer's tokens and row order */
		need += 4.0 * ((double)c->shuffle_buffer +
			       (double)c->shuffle_buffer / c->seq_len + 1);
	double avail = mem_available();
	if (avail > 0 && need > avail)
		return dsv_error_set(DSV_ENOMEM, "the model does not fit: it "
				     "needs %.0f bytes (%.2f GiB: %zu parameters "
				     "with gradients, AdamW moments, "
				     "activations for batch %d x %d and the "
				     "shuffle buffer) and %.0f "
				     "bytes are available", need, need / 1073741824.0,
				     np, c->batch_size, c->seq_len, avail);
	int dev = dsv_device_parse(t->device ? t->device : "auto");
	if (dev < 0)
		return dsv_error_set(DSV_EINVAL, "--device must be cpu, cuda or "
				     "auto, not '%s'", t->device);
	if (!t->device)
		dev = c->device;
	int where = dsv_device_resolve(dev);
	if (where < 0)
		return dsv_error_set(DSV_ENOGPU, "%s", dsv_kernel_error_last());
	int rc = dsv_gpt_new(&t->g, &t->gc, c->batch_size, c->seq_len,
			     where == DSV_DEVICE_CUDA ? DSV_GPT_CUDA : DSV_GPT_CPU);
	if (rc)
		return dsv_error_set(rc, "%s", dsv_gpt_error_last());
	size_t BT = (size_t)c->batch_size * c->seq_len;
	t->inputs = malloc(BT * sizeof *t->inputs);
	t->targets = malloc(BT * sizeof *t->targets);
	t->losses = malloc(BT * sizeof *t->losses);
	if (!t->inputs || !t->targets || !t->losses)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	return 0;
}

/* A checkpoint: the flat parameters and AdamW moments, with the step, the
 * data position and everything measured so far as metadata. */
static int write_checkpoint(struct train *t, dsv_oid *out)
{
	size_t np = t->g->num_params;
	float *buf = malloc(3 * np * sizeof *buf);
	char *metrics = NULL, hex[DSV_OID_HEXLEN + 1];
	uint8_t *st = NULL;
	size_t stlen, mlen;
	int rc;
	if (!buf)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_gpt_get_params(t->g, buf)) ||
	    (rc = dsv_gpt_get_moments(t->g, buf + np, buf + 2 * np))) {
		rc = dsv_error_set(rc, "%s", dsv_gpt_error_last());
		goto cleanup;
	}
	if ((rc = dsv_metrics_format(t->rows, t->nrows, &metrics, &mlen)))
		goto cleanup;
	dsv_compute c;
	dsv_meter_read(t->meter, &c);
	if (t->has_before)
		dsv_compute_add(&c, &t->before);
	char v[8][64];
	snprintf(v[0], 64, "%lld", (long long)t->step);
	snprintf(v[1], 64, "%llu", (unsigned long long)t->tokens);
	snprintf(v[2], 64, "%llu", (unsigned long long)t->st.epoch);
	snprintf(v[3], 64, "%llu", (unsigned long long)t->st.pos);
	snprintf(v[4], 64, "%.17g", t->train_s);
	snprintf(v[5], 64, "%llu", (unsigned long long)t->cfg.seed);
	json_t *cj = NULL;
	char *cjs = NULL;
	if (dsv_compute_to_json(&cj, &c) == 0)
		cjs = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cj);
	dsv_oid_fmt(hex, &t->tok_id);
	const char *meta[] = {
		"format", "dsv-checkpoint-1", "step", v[0], "tokens", v[1],
		"data_epoch", v[2], "data_pos", v[3], "train_seconds", v[4],
		"seed", v[5], "tokenizer", hex, "config", t->cfg_text,
		"metrics", metrics, "compute", cjs ? cjs : "{}",
	};
	dsv_st_tensor ts[3];
	memset(ts, 0, sizeof ts);
	strcpy(ts[0].name, "params");
	strcpy(ts[1].name, "adam_m");
	strcpy(ts[2].name, "adam_v");
	for (int i = 0; i < 3; i++) {
		ts[i].dtype = DSV_ST_F32;
		ts[i].ndim = 1;
		ts[i].shape[0] = np;
		ts[i].data = buf + (size_t)i * np;
	}
	rc = dsv_st_write(&st, &stlen, ts, 3, meta, sizeof meta / sizeof *meta / 2);
	free(cjs);
	if (rc) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto cleanup;
	}
	dsv_section sec = {st, stlen};
	rc = dsv_obj_write(the_repo->store, DSV_OBJ_WEIGHTS, &sec, 1, 0,
			   DSV_DEFAULT_LEVEL, out, NULL);
cleanup:
	free(buf);
	free(metrics);
	free(st);
	return rc;
}

static int read_object(const dsv_oid *id, void **data, size_t *len)
{
	dsv_obj *o = NULL;
	void **secs = NULL;
	size_t *lens = NULL;
	int rc = dsv_obj_open(&o, the_repo->store, id);
	if (!rc && dsv_obj_get_type(o) != DSV_OBJ_WEIGHTS)
		rc = dsv_error_set(DSV_ECORRUPT, "object is not weights");
	if (!rc && dsv_obj_nsections(o) != 1)
		rc = dsv_error_set(DSV_ECORRUPT, "weights object has %d sections",
				   dsv_obj_nsections(o));
	if (!rc)
		rc = dsv_obj_read_all(o, &secs, &lens);
	if (!rc) {
		*data = secs[0];
		*len = lens[0];
		free(secs);
		free(lens);
	}
	dsv_obj_free(o);
	return rc;
}

static const char *meta_req(const dsv_st_file *f, const char *k, int *rc)
{
	const char *v = dsv_st_meta(f, k);
	if (!v && !*rc)
		*rc = dsv_error_set(DSV_ECORRUPT, "checkpoint lacks '%s'", k);
	return v ? v : "0";
}

static int load_checkpoint(struct train *t, const dsv_oid *id)
{
	void *data = NULL;
	size_t len;
	dsv_st_file *f = NULL;
	int rc = read_object(id, &data, &len);
	if (rc)
		return rc;
	if (dsv_st_parse(&f, data, len)) {
		rc = dsv_error_set(DSV_ECORRUPT, "checkpoint: %s",
				   dsv_kernel_error_last());
		goto cleanup;
	}
	const dsv_st_tensor *p = dsv_st_find(f, "params"),
			    *mm = dsv_st_find(f, "adam_m"),
			    *vv = dsv_st_find(f, "adam_v");
	size_t nb = t->g->num_params * sizeof(float);
	if (!p || !mm || !vv || p->dtype != DSV_ST_F32 || p->end - p->begin != nb ||
	    mm->end - mm->begin != nb || vv->end - vv->begin != nb ||
	    mm->dtype != DSV_ST_F32 || vv->dtype != DSV_ST_F32) {
		rc = dsv_error_set(DSV_ECORRUPT, "checkpoint does not fit the "
				   "model");
		goto cleanup;
	}
	const char *cfg = meta_req(f, "config", &rc);
	if (!rc && strcmp(cfg, t->cfg_text) != 0) {
		rc = dsv_error_set(DSV_EINVAL, "the config differs from the "
				   "interrupted run's");
		goto cleanup;
	}
	/* Copies: the tensors are not float-aligned inside the buffer. */
	float *a = malloc(nb), *b = malloc(nb), *c = malloc(nb);
	if (!a || !b || !c) {
		free(a), free(b), free(c);
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(a, p->data, nb);
	memcpy(b, mm->data, nb);
	memcpy(c, vv->data, nb);
	if (dsv_gpt_set_params(t->g, a) || dsv_gpt_set_moments(t->g, b, c))
		rc = dsv_error_set(DSV_ENOMEM, "%s", dsv_gpt_error_last());
	free(a), free(b), free(c);
	if (rc)
		goto cleanup;
	t->step = strtoll(meta_req(f, "step", &rc), NULL, 10);
	t->tokens = strtoull(meta_req(f, "tokens", &rc), NULL, 10);
	uint64_t epoch = strtoull(meta_req(f, "data_epoch", &rc), NULL, 10);
	uint64_t pos = strtoull(meta_req(f, "data_pos", &rc), NULL, 10);
	t->train_s = strtod(meta_req(f, "train_seconds", &rc), NULL);
	const char *metrics = meta_req(f, "metrics", &rc);
	const char *comp = meta_req(f, "compute", &rc);
	if (rc)
		goto cleanup;
	free(t->rows);
	t->rows = NULL;
	if ((rc = dsv_metrics_parse(&t->rows, &t->nrows, metrics,
				    strlen(metrics))))
		goto cleanup;
	t->caprows = t->nrows;
	json_t *cj = json_loads(comp, 0, NULL);
	if (cj && dsv_compute_from_json(&t->before, cj) == 0)
		t->has_before = 1;
	json_decref(cj);
	rc = stream_seek(&t->st, epoch, pos);
cleanup:
	dsv_st_free(f);
	free(data);
	return rc;
}

static int evaluate(struct train *t, double *out)
{
	uint64_t n = 0;
	if (!t->vm) {
		*out = NAN;
		return 0;
	}
	int rc = val_loss(t->g, t->val, t->nval, t->cfg.batch_size,
			  t->cfg.seq_len, t->inputs, t->targets, t->losses,
			  out, &n);
	t->val_tokens_seen += n;
	return rc;
}

static int checkpoint_now(struct train *t)
{
	dsv_oid id;
	if (t->rank != 0)
		return 0; /* every rank holds the same weights */
	/* The store lock keeps gc away until the run file names the new
	 * checkpoint (the grace period alone does not: --grace 0) */
	int rc = dsv_store_lock(the_repo->store);
	if (rc)
		return rc;
	if ((rc = write_checkpoint(t, &id)))
		goto cleanup;
	dsv_oid *c = realloc(t->run.ckpt, (t->run.nckpt + 1) * sizeof *c);
	if (!c) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	t->run.ckpt = c;
	t->run.ckpt[t->run.nckpt++] = id;
	rc = run_write(&t->run);
cleanup:
	dsv_store_unlock(the_repo->store);
	return rc;
}

/* ---- data parallel: NCCL all-reduce of the gradients, the ncclUniqueId
 * broadcast over MPI (kernels/nccl_dp.h) ---- */

#ifdef DSV_HAVE_NCCL
static int dp_start(struct train *t)
{
	unsigned char id[DSV_DP_ID_BYTES];
	/* A rank without a GPU of its own would make NCCL fail on it while
	 * the others wait in ncclCommInitRank: all ranks agree first. */
	int ndev = dsv_device_count(), local = ranks_local();
	if (ranks_max(local >= ndev)) {
		if (!ndev)
			return dsv_error_set(DSV_ENOGPU, "rank %d: no CUDA "
					     "device (several ranks train on "
					     "one GPU each)", t->rank);
		if (local >= ndev)
			return dsv_error_set(DSV_ENOGPU, "rank %d is rank %d on "
					     "its machine, which has %d CUDA "
					     "%s: one rank per GPU",
					     t->rank, local, ndev,
					     plural(ndev, "device", "devices"));
		return dsv_error_set(DSV_ENOGPU, "another rank has no GPU of "
				     "its own");
	}
	int rc = t->rank == 0 ? dsv_dp_unique_id(id) : 0;
	if (ranks_max(rc ? 1 : 0))
		return dsv_error_set(DSV_ENOGPU, "ncclGetUniqueId failed on rank "
				     "0");
	MPI_Bcast(id, DSV_DP_ID_BYTES, MPI_BYTE, 0, MPI_COMM_WORLD);
	/* The device follows the rank among this machine's ranks: with ranks
	 * placed round-robin over machines, rank % devices would give two
	 * ranks of one machine the same GPU. */
	if ((rc = dsv_dp_new(&t->dp, id, t->rank, t->world, local)))
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	return 0;
}

static int dp_reduce(struct train *t, double *loss)
{
	if (!t->g->on_gpu)
		return dsv_error_set(DSV_EINVAL, "data parallel training needs "
				     "the CUDA path");
	int rc = dsv_dp_allreduce(t->dp, t->g->grads, t->g->num_params);
	if (rc)
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	MPI_Allreduce(MPI_IN_PLACE, loss, 1, MPI_DOUBLE, MPI_SUM,
		      MPI_COMM_WORLD);
	*loss /= t->world;
	return 0;
}
#else
static int dp_start(struct train *t)
{
	return dsv_error_set(DSV_ENOGPU, "%d ranks: this dsv was built "
			     "without NCCL, so it trains in one process",
			     t->world);
}

static int dp_reduce(struct train *t, double *loss)
{
	return dsv_error_set(DSV_ENOGPU, "built without NCCL");
}
#endif

static int train_loop(struct train *t)
{
	const dsv_trainconf *c = &t->cfg;
	int64_t total = dsv_trainconf_steps(c);
	size_t BT = (size_t)c->batch_size * c->seq_len;
	double fpt = dsv_gpt_flops_per_token(&t->gc, c->seq_len);
	dsv_gpt_adamw opt = {.beta1 = (float)c->beta1, .beta2 = (float)c->beta2,
			     .eps = (float)c->eps,
			     .weight_decay = (float)c->weight_decay,
			     .grad_clip = (float)c->grad_clip};
	int rc;
	double vl;
	if (t->step == 0 && t->nrows == 0) {
		if ((rc = evaluate(t, &vl)))
			return rc;
		if ((rc = add_row(t, (dsv_metrics_row){0, 0, NAN, vl, 0})))
			return rc;
	}
	while (t->step < total) {
		double t0 = now_s();
		int64_t step = t->step + 1;
		opt.lr = (float)dsv_trainconf_lr(c, step, total);
		dsv_gpt_zero_grad(t->g);
		double loss = 0;
		for (int a = 0; a < c->grad_accum; a++) {
			if ((rc = stream_next(&t->st, t->inputs, t->targets, BT,
					      t->rank)))
				return rc;
			if ((rc = dsv_gpt_forward(t->g, t->inputs, t->targets,
						  c->batch_size, c->seq_len)))
				return dsv_error_set(rc, "%s", dsv_gpt_error_last());
			/* read before the backward, which resets it */
			loss += t->g->mean_loss / c->grad_accum;
			if ((rc = dsv_gpt_backward(t->g, 1.0f / (c->grad_accum *
								  t->world))))
				return dsv_error_set(rc, "%s", dsv_gpt_error_last());
		}
		if (t->dp && (rc = dp_reduce(t, &loss)))
			return rc;
		/* A diverged run would commit NaN weights, its losses written
		 * as "-" (not measured); every rank sees the reduced loss, so
		 * all stop here together. */
		if (!isfinite(loss))
			return dsv_error_set(DSV_EINVAL, "training diverged at "
					     "step %lld: the loss is %s (lower "
					     "lr, or set grad_clip)",
					     (long long)step,
					     isnan(loss) ? "nan" : "inf");
		float norm;
		if ((rc = dsv_gpt_update(t->g, &opt, (int)step, &norm)))
			return dsv_error_set(rc, "%s", dsv_gpt_error_last());
		t->step = step;
		uint64_t stoks = (uint64_t)BT * c->grad_accum * t->world;
		t->tokens += stoks;
		dsv_meter_add_flops(t->meter, fpt * (double)BT * c->grad_accum);
		dsv_meter_add(t->meter, DSV_METER_TOKENS_IN, BT * c->grad_accum);
		t->train_s += now_s() - t0;
		vl = NAN;
		if ((c->eval_every && step % c->eval_every == 0) || step == total) {
			if ((rc = evaluate(t, &vl)))
				return rc;
		}
		if ((rc = add_row(t, (dsv_metrics_row){step, (int64_t)t->tokens,
						       loss, vl, t->train_s})))
			return rc;
		if (!t->quiet && t->rank == 0 && isatty(2))
			fprintf(stderr, "\rstep %lld/%lld loss %.4f", (long long)step,
				(long long)total, loss);
		if (c->checkpoint_every && step % c->checkpoint_every == 0 &&
		    step < total && (rc = checkpoint_now(t)))
			return rc;
		if (t->stop_after && step == t->stop_after && step < total) {
			if (!c->checkpoint_every || step % c->checkpoint_every)
				if ((rc = checkpoint_now(t)))
					return rc;
			return dsv_error_set(DSV_EINVAL, "stopped after step %lld "
					     "(--stop-after); continue with "
					     "--resume", (long long)step);
		}
	}
	if (!t->quiet && t->rank == 0 && isatty(2))
		fprintf(stderr, "\n");
	return 0;
}

/* The weights as a Hugging Face GPT-2 safetensors file (cmd/train.h). */
static int commit_model(struct train *t, dsv_aid *out_id, dsv_oid *wid,
			dsv_compute *comp)
{
	dsv_lineage *l = the_repo->lineage;
	dsv_store *s = the_repo->store;
	uint8_t *st = NULL;
	size_t stlen, mlen, jlen, klen;
	char *model_text = NULL, *metrics = NULL, *json = NULL, ref[300];
	char hex[DSV_OID_HEXLEN + 1];
	dsv_artifact *art = NULL;
	int rc, locked = 0;

	dsv_oid_fmt(hex, &t->tok_id);
	const char *meta[] = {"dsv.tokenizer", hex, "dsv.config", t->cfg_text};
	if ((rc = dsv_gpt_weights_encode(t->g, meta, 2, &st, &stlen))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto cleanup;
	}
	/* Locked from before the weights are stored until the commit names
	 * them, so that no gc deletes them in between. */
	if ((rc = dsv_store_lock(s)))
		goto cleanup;
	locked = 1;
	dsv_section sec = {st, stlen};
	if ((rc = dsv_obj_write(s, DSV_OBJ_WEIGHTS, &sec, 1, 0,
				DSV_DEFAULT_LEVEL, wid, NULL)))
		goto cleanup;
	dsv_model mi = {.weights = *wid, .tokenizer = t->tok_aid,
			.dataset = t->rev, .has_valid = t->vm != NULL,
			.valid = t->valid_aid, .vocab = t->V,
			.ncheckpoints = t->run.nckpt, .checkpoints = t->run.ckpt,
			.config = t->cfg_text};
	if ((rc = dsv_model_format(&mi, &model_text, &klen)) ||
	    (rc = dsv_metrics_format(t->rows, t->nrows, &metrics, &mlen)))
		goto cleanup;

	dsv_meter_stop(t->meter);
	if (t->g->on_gpu)
		dsv_meter_add_gpu(t->meter, dsv_device_name(),
				  dsv_gpt_gpu_seconds(t->g));
	dsv_meter_add_energy(t->meter, nvml_joules(&t->nvml));
	dsv_meter_read(t->meter, comp);
	if (t->has_before)
		dsv_compute_add(comp, &t->before);
	comp->mode = DSV_MODE_TRAINING;
#ifdef DSV_HAVE_NCCL
	if (t->dp) {
		/* Every rank's record summed (DESIGN.md section 6). */
		double v[6] = {comp->wall_s, comp->cpu_s, comp->gpu_s,
			       comp->flops, comp->energy_j,
			       (double)comp->tokens_in};
		MPI_Allreduce(MPI_IN_PLACE, v, 6, MPI_DOUBLE, MPI_SUM,
			      MPI_COMM_WORLD);
		comp->wall_s = v[0], comp->cpu_s = v[1], comp->gpu_s = v[2];
		comp->flops = v[3], comp->energy_j = v[4];
		comp->tokens_in = (uint64_t)v[5];
		comp->ranks = t->world;
		if (comp->ndevices == 1)
			comp->devices[0].gpu_s = comp->gpu_s;
	}
#endif
	if (t->rank != 0)
		goto cleanup;

	if ((rc = dsv_artifact_new(&art, DSV_KIND_MODEL, "train")) ||
	    (rc = dsv_artifact_add_input(art, "input", &t->rev)) ||
	    (rc = dsv_artifact_add_input(art, "tokenizer", &t->tok_aid)) ||
	    (t->vm && (rc = dsv_artifact_add_input(art, "valid", &t->valid_aid))))
		goto cleanup;
	json_t *p = art->params;
	json_t *cfg = json_object();
	dsv_trainconf *c = &t->cfg;
	json_object_set_new(cfg, "n_layer", json_integer(c->n_layer));
	json_object_set_new(cfg, "n_head", json_integer(c->n_head));
	json_object_set_new(cfg, "n_embd", json_integer(c->n_embd));
	json_object_set_new(cfg, "seq_len", json_integer(c->seq_len));
	json_object_set_new(cfg, "vocab", json_integer(t->V));
	json_object_set_new(cfg, "batch_size", json_integer(c->batch_size));
	json_object_set_new(cfg, "grad_accum", json_integer(c->grad_accum));
	json_object_set_new(cfg, "lr", json_real(c->lr));
	json_object_set_new(cfg, "weight_decay", json_real(c->weight_decay));
	json_object_set_new(cfg, "schedule",
			    json_string(dsv_trainconf_schedule_name(c->schedule)));
	json_object_set_new(cfg, "seed", json_integer((json_int_t)c->seed));
	json_object_set_new(cfg, "shuffle", json_integer(c->shuffle));
	json_object_set_new(cfg, "steps",
			    json_integer(dsv_trainconf_steps(c)));
	json_object_set_new(p, "config", cfg);
	json_object_set_new(p, "config_file", json_string(t->config_path));
	json_object_set_new(p, "device", json_string(t->g->on_gpu ? "cuda" : "cpu"));
	json_object_set_new(p, "ranks", json_integer(t->world));
	json_object_set_new(p, "resumed", json_boolean(t->has_before));
	dsv_artifact_stat_int(art, "params", (int64_t)t->g->num_params);
	dsv_artifact_stat_int(art, "steps", t->step);
	dsv_artifact_stat_int(art, "tokens", (int64_t)t->tokens);
	dsv_artifact_stat_num(art, "flops_per_token",
			      dsv_gpt_flops_per_token(&t->gc, c->seq_len));
	dsv_artifact_stat_num(art, "train_seconds", t->train_s);
	if (t->nrows) {
		dsv_metrics_row *last = &t->rows[t->nrows - 1];
		dsv_artifact_stat_num(art, "train_loss", last->train_loss);
		if (!isnan(last->val_loss))
			dsv_artifact_stat_num(art, "val_loss", last->val_loss);
	}
	dsv_oid_fmt(hex, wid);
	json_object_set_new(art->stats, "weights", json_string(hex));
	dsv_artifact_set_compute(art, comp);
	if ((rc = dsv_artifact_format(art, &json, &jlen)))
		goto cleanup;

	dsv_aid parents[3] = {t->rev, t->tok_aid, t->valid_aid};
	dsv_tree_file files[] = {{"dsv.json", json, jlen},
				 {"MODEL", model_text, klen},
				 {"METRICS.tsv", metrics, mlen}};
	snprintf(ref, sizeof ref, "refs/heads/%s", t->output);
	char msg[512];
	if (!t->message)
		snprintf(msg, sizeof msg, "train %s", t->output);
	dsv_commit_opts co = {.files = files, .nfiles = 3, .parents = parents,
			      .nparents = t->vm ? 3 : 2,
			      .message = t->message ? t->message : msg,
			      .ref = ref, .expected = NULL};
	if ((rc = dsv_lineage_commit(l, &co, out_id)))
		goto cleanup;
	unlink(t->run.path);
cleanup:
	if (locked)
		dsv_store_unlock(s);
	free(st);
	free(model_text);
	free(metrics);
	free(json);
	dsv_artifact_free(art);
	return rc;
}

static int check_output(struct train *t)
{
	char ref[300];
	dsv_aid old;
	int rc = dsv_lineage_name_validate(t->output);
	if (rc)
		return dsv_error_wrap(rc, "-o '%s'", t->output);
	snprintf(ref, sizeof ref, "refs/heads/%s", t->output);
	rc = dsv_lineage_ref_get(the_repo->lineage, ref, &old);
	if (rc == 0)
		return dsv_error_set(DSV_EEXISTS, "branch '%s' already exists",
				     t->output);
	return rc == DSV_ENOTFOUND ? 0 : rc;
}

/* The run file for -o NAME, and with --resume its checkpoint. */
static int setup_run(struct train *t)
{
	/* runs/ is flat: gc reads its files, not subdirectories */
	int rc = dsv_store_branch_path(the_repo->store, "runs", t->output,
				       &t->run.path);
	if (rc || (t->rank == 0 && (rc = run_claim(&t->run, t->output))))
		return rc;
	if (!t->resume) {
		if (access(t->run.path, F_OK) == 0)
			return dsv_error_set(DSV_EEXISTS, "an interrupted run "
					     "'%s' exists: continue it with "
					     "--resume, or remove '%s'",
					     t->output, t->run.path);
		t->run.rev = t->rev;
		t->run.tok = t->tok_aid;
		t->run.has_valid = t->vm != NULL;
		t->run.valid = t->valid_aid;
		return (t->run.config = strdup(t->cfg_text)) ? 0
		       : dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	if ((rc = run_read(&t->run)))
		return dsv_error_wrap(rc, "--resume");
	if (dsv_aid_cmp(&t->run.rev, &t->rev) ||
	    dsv_aid_cmp(&t->run.tok, &t->tok_aid) ||
	    t->run.has_valid != (t->vm != NULL) ||
	    (t->vm && dsv_aid_cmp(&t->run.valid, &t->valid_aid)))
		return dsv_error_set(DSV_EINVAL, "--resume: the version, "
				     "tokenizer or validation version differs "
				     "from the interrupted run's");
	if (strcmp(t->run.config, t->cfg_text))
		return dsv_error_set(DSV_EINVAL, "--resume: the config differs "
				     "from the interrupted run's");
	if (t->run.nckpt == 0)
		return 0; /* interrupted before its first checkpoint */
	if ((rc = load_checkpoint(t, &t->run.ckpt[t->run.nckpt - 1])))
		return rc;
	/* the loop would never meet the step and run to the end */
	if (t->stop_after && t->stop_after <= t->step)
		return dsv_error_set(DSV_EINVAL, "--stop-after %ld: the run "
				     "resumes after step %lld", t->stop_after,
				     (long long)t->step);
	return 0;
}

/* Validation records that are training records too are not held out: their
 * loss flatters the model, and `compare` reads it. Said, not refused (a run
 * may mean it); a diff reads hash columns only. */
static int warn_overlap(const struct train *t)
{
	dsv_diff d;
	int rc = dsv_version_diff(the_repo->store, t->vm, t->m, 0, &d);
	if (rc)
		return rc;
	if (d.common)
		fprintf(stderr, "dsv: warning: %llu of the %llu validation "
			"%s of '%s' %s in the training version too: %s loss "
			"is not held out (split first: 'dsv derive split')\n",
			(unsigned long long)d.common,
			(unsigned long long)d.a_records,
			plural(d.a_records, "record", "records"), t->validrev,
			plural(d.common, "is", "are"),
			plural(d.common, "its", "their"));
	dsv_diff_free(&d);
	return 0;
}

static int prepare_data(struct train *t)
{
	struct tokenize_stats ts;
	int rc;
	if ((rc = tokenize_version(t->m, t->bpe, &t->tok_id, 0, &ts, NULL)))
		return rc;
	if (t->vm) {
		if ((rc = tokenize_version(t->vm, t->bpe, &t->tok_id, 0, &ts,
					   NULL)) ||
		    (rc = read_all_tokens(t->vm, &t->tok_id,
					  (uint64_t)t->cfg.eval_tokens, &t->val,
					  &t->nval)))
			return rc;
		if (t->nval < 2)
			return dsv_error_set(DSV_EINVAL, "the validation version "
					     "'%s' is empty (%zu %s)",
					     t->validrev, t->nval,
					     plural(t->nval, "token",
						    "tokens"));
	}
	t->st.m = t->m;
	t->st.tok = t->tok_id;
	t->st.need = (size_t)t->cfg.batch_size * t->cfg.seq_len * t->world + 1;
	if (!(t->st.buf = malloc(t->st.need * sizeof *t->st.buf)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (t->cfg.shuffle) {
		struct stream *st = &t->st;
		st->shuffle = 1;
		st->seed = t->cfg.seed;
		st->T = (size_t)t->cfg.seq_len;
		st->chunk_rows = (size_t)t->cfg.shuffle_buffer / st->T;
		if (st->chunk_rows == 0)
			st->chunk_rows = 1;
		/* pages are touched only as far as the version fills them */
		st->chunk = malloc((st->chunk_rows * st->T + 1) * sizeof *st->chunk);
		st->perm = malloc(st->chunk_rows * sizeof *st->perm);
		if (!st->chunk || !st->perm)
			return dsv_error_set(DSV_ENOMEM, "cannot allocate the "
					     "shuffle buffer (%zu tokens)",
					     st->chunk_rows * st->T + 1);
	}
	return stream_restart(&t->st);
}

static void print_result(const struct train *t, const dsv_aid *id,
			 const dsv_oid *wid, const dsv_compute *c)
{
	char hex[DSV_AID_HEXLEN + 1], whex[DSV_OID_HEXLEN + 1];
	const dsv_metrics_row *last = t->nrows ? &t->rows[t->nrows - 1] : NULL;
	double tl = last ? last->train_loss : NAN, vl = last ? last->val_loss : NAN;
	double tps = t->train_s > 0 ? (double)t->tokens / t->train_s : 0;
	dsv_oid_fmt(whex, wid);
	if (t->json) {
		char vls[32] = "null"; /* no validation version */
		if (!isnan(vl))
			snprintf(vls, sizeof vls, "%.6f", vl);
		dsv_aid_fmt(hex, id);
		char *qo = json_quote(t->output);
		printf("{\"artifact\": \"%s\", \"branch\": %s, \"weights\": "
		       "\"%s\", \"steps\": %lld, \"tokens\": %llu, "
		       "\"train_loss\": %.6f, \"val_loss\": %s, "
		       "\"tokens_per_s\": %.1f, \"flops\": %.6g, "
		       "\"wall_s\": %.3f}\n", hex, qo ? qo : "null", whex,
		       (long long)t->step, (unsigned long long)t->tokens, tl,
		       vls, tps, c->flops, c->wall_s);
		free(qo);
		return;
	}
	if (t->quiet)
		return;
	dsv_aid_short(hex, id);
	printf("[%s %s] model: %lld %s, %llu %s, %zu parameters\n",
	       t->output, hex, (long long)t->step,
	       plural(t->step, "step", "steps"), (unsigned long long)t->tokens,
	       plural(t->tokens, "token", "tokens"), t->g->num_params);
	printf(" train loss %.4f", tl);
	if (!isnan(vl))
		printf(", val loss %.4f", vl);
	printf("; %.0f tokens/s on %s; %.3g FLOPs\n weights %s\n", tps,
	       t->g->on_gpu ? dsv_device_name() : "cpu", c->flops, whex);
}

/* OpenMP threads that spin after a parallel region take the core from the
 * thread that has work when the machine is busy (docs/train.md: several
 * times slower on 2 cores; docs/benchmarks.md). libgomp reads
 * OMP_WAIT_POLICY once, when it is loaded, so a process started without it
 * re-executes itself with PASSIVE before doing anything. */
void train_passive_omp(int argc, char **argv)
{
	if (getenv("OMP_WAIT_POLICY") || argc > 250)
		return;
	char *args[256];
	args[0] = "dsv";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	args[argc + 1] = NULL;
	setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
	execv("/proc/self/exe", args);
	/* exec failed: go on, only slower */
}

static void train_free(struct train *t)
{
	dsv_gpt_free(t->g);
	stream_free(&t->st);
	dsv_manifest_free(t->m);
	dsv_manifest_free(t->vm);
	dsv_bpe_free(t->bpe);
	free(t->cfg_text);
	free(t->val);
	free(t->inputs);
	free(t->targets);
	free(t->losses);
	free(t->rows);
	run_free(&t->run);
	dsv_meter_free(t->meter);
	nvml_stop(&t->nvml);
	dsv_dp_free(t->dp);
}

int cmd_train(int argc, char **argv)
{
	static const char usage[] =
		"dsv train REV --tokenizer T --config FILE -o NAME [options]";
	struct train t = {.world = 1, .run.lock_fd = -1};
	const struct option opts[] = {
		OPT_STRING(0, "tokenizer", &t.tokrev, "rev", "the tokenizer artifact"),
		OPT_STRING(0, "config", &t.config_path, "file", "the training config (docs/train.md)"),
		OPT_STRING('o', "output", &t.output, "name", "the branch that names the model"),
		OPT_STRING('m', "message", &t.message, "msg", "the model's message"),
		OPT_STRING(0, "valid", &t.validrev, "rev", "the validation version"),
		OPT_BOOL(0, "resume", &t.resume, "continue the interrupted run of -o NAME"),
		OPT_STRING(0, "device", &t.device, "dev", "cpu, cuda or auto (overrides the config)"),
		OPT_INT(0, "stop-after", &t.stop_after, "n", "(testing) stop after step N as if interrupted"),
		OPT_BOOL('q', "quiet", &t.quiet, "print nothing"),
		OPT_BOOL(0, "json", &t.json, "print the result as JSON"),
		OPT_END(),
	};
	dsv_aid id;
	dsv_oid wid;
	dsv_compute comp;
	int rc = 1;

	train_passive_omp(argc, argv);
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "exactly one version to train on");
	if (!t.tokrev || !t.config_path || !t.output)
		return usage_error(opts, usage, "--tokenizer, --config and -o "
				   "are required");
	if (t.stop_after < 0)
		return usage_error(opts, usage, "--stop-after must be positive");
	if (ranks_init(&t.rank, &t.world))
		return error_msg("launched by mpirun, but this dsv was built "
				 "without MPI");
	if (t.world > 1 && dp_start(&t))
		goto fail;

	if (dsv_meter_new(&t.meter, DSV_MODE_TRAINING))
		goto fail;
	dsv_meter_start(t.meter);
	nvml_start(&t.nvml);
	if (load_config(&t) || dsv_trainconf_format(&t.cfg, &t.cfg_text))
		goto fail;
	if (t.rank == 0 && check_output(&t))
		goto fail;
	if (t.rank == 0 && t.cfg.warmup_steps > dsv_trainconf_steps(&t.cfg))
		fprintf(stderr, "dsv: note: warmup_steps = %d is more than the "
			"run's %lld %s: the learning rate never reaches lr\n",
			t.cfg.warmup_steps,
			(long long)dsv_trainconf_steps(&t.cfg),
			plural(dsv_trainconf_steps(&t.cfg), "step", "steps"));
	if (load_version(argv[0], &t.rev, &t.m) ||
	    (t.validrev && load_version(t.validrev, &t.valid_aid, &t.vm)) ||
	    load_tokenizer(t.tokrev, &t.tok_aid, &t.tok_id, &t.bpe))
		goto fail;
	if (t.rank == 0 && t.vm && warn_overlap(&t))
		goto fail;
	if (setup_model(&t))
		goto fail;
	if (t.g->on_gpu)
		dsv_meter_add_device(t.meter, dsv_device_name());
	if (prepare_data(&t) || setup_run(&t))
		goto fail;
	if (t.step == 0 && dsv_gpt_init(t.g, t.cfg.seed)) {
		dsv_error_set(DSV_EINVAL, "%s", dsv_gpt_error_last());
		goto fail;
	}
	if (t.rank == 0 && !t.resume && run_start(&t.run))
		goto fail;
	if (train_loop(&t) || commit_model(&t, &id, &wid, &comp)) {
		/* A run that failed before its first checkpoint (a version
		 * with fewer tokens than one batch) has nothing to resume:
		 * its run file would only make the next try ask for
		 * --resume. */
		if (t.rank == 0 && t.run.path && t.run.nckpt == 0)
			unlink(t.run.path);
		goto fail;
	}
	if (t.rank == 0)
		print_result(&t, &id, &wid, &comp);
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	train_free(&t);
	return rc;
}

static int decode_weights(dsv_gpt *g, const void *buf, size_t len)
{
	int rc = dsv_gpt_weights_decode(g, buf, len);
	if (rc)
		return dsv_error_set(rc == DSV_ENOMEM ? rc : DSV_ECORRUPT,
				     "weights: %s", dsv_kernel_error_last());
	return 0;
}

int model_load(const char *rev, int B, int T, int where, struct model *out)
{
	void *data = NULL;
	size_t len;
	dsv_trainconf cfg;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = resolve_rev(rev, &out->aid)) ||
	    (rc = dsv_model_read(&out->info, the_repo->lineage, &out->aid)))
		goto fail;
	dsv_trainconf_defaults(&cfg);
	if (dsv_trainconf_parse(&cfg, out->info->config,
				strlen(out->info->config), "MODEL config")) {
		rc = dsv_error_set(DSV_ECORRUPT, "%s", dsv_kernel_error_last());
		goto fail;
	}
	char hex[DSV_AID_HEXLEN + 1];
	dsv_aid_fmt(hex, &out->info->tokenizer);
	if ((rc = load_tokenizer(hex, &out->tok_aid, &out->tok_id, &out->bpe)))
		goto fail;
	if ((int)dsv_bpe_vocab_size(out->bpe) != out->info->vocab) {
		rc = dsv_error_set(DSV_EINVAL, "the tokenizer (%u tokens) does "
				   "not match the model (vocab %d)",
				   dsv_bpe_vocab_size(out->bpe), out->info->vocab);
		goto fail;
	}
	out->seq_len = cfg.seq_len;
	dsv_gpt_config gc = {.max_seq_len = cfg.seq_len,
			     .vocab_size = out->info->vocab,
			     .padded_vocab_size = (out->info->vocab + 127) / 128 * 128,
			     .num_layers = cfg.n_layer, .num_heads = cfg.n_head,
			     .channels = cfg.n_embd};
	/* Before allocating, as train does: parameters and gradients (the
	 * model allocates both), the weight object and its decoded copy,
	 * and the activations; no AdamW moments or checkpoint copies. */
	size_t sizes[DSV_GPT_NTENSORS];
	size_t np = dsv_gpt_param_sizes(&gc, sizes);
	double need = model_bytes(&gc, B, T ? T : cfg.seq_len, np) - 12.0 * np;
	double avail = mem_available();
	if (avail > 0 && need > avail) {
		rc = dsv_error_set(DSV_ENOMEM, "the model does not fit: it needs "
				   "%.0f bytes (%.2f GiB: %zu parameters and "
				   "activations for batch %d x %d) and %.0f "
				   "bytes are available", need,
				   need / 1073741824.0, np, B,
				   T ? T : cfg.seq_len, avail);
		goto fail;
	}
	if ((rc = dsv_gpt_new(&out->g, &gc, B, T ? T : cfg.seq_len,
			      where == DSV_DEVICE_CUDA ? DSV_GPT_CUDA
						       : DSV_GPT_CPU))) {
		rc = dsv_error_set(rc, "%s", dsv_gpt_error_last());
		goto fail;
	}
	if ((rc = read_object(&out->info->weights, &data, &len)) ||
	    (rc = decode_weights(out->g, data, len)))
		goto fail;
	free(data);
	return 0;
fail:
	free(data);
	model_free(out);
	return rc;
}

void model_free(struct model *m)
{
	dsv_gpt_free(m->g);
	dsv_bpe_free(m->bpe);
	dsv_model_free(m->info);
	memset(m, 0, sizeof *m);
}
