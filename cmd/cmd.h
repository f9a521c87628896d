/* cmd.h: what the commands in cmd/ share: the option parser, the repository
 * main opens for commands that need one, output helpers. Only cmd/ includes
 * this; only cmd/ prints to the user or decides exit codes.
 */
#ifndef DSV_CMD_H
#define DSV_CMD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/bpe.h"
#include "kernels/device.h"
#include "lineage/lineage.h"
#include "store/store.h"

/* ---- options (cmd/opts.c), after git's parse_options ------------------- */

enum opt_type { OPT_END_, OPT_BOOL_, OPT_STRING_, OPT_INT_, OPT_LIST_ };

struct option {
	enum opt_type type;
	char short_name;
	const char *long_name;
	void *value;      /* int*, const char**, long*, struct str_list* */
	const char *argh; /* placeholder for the value in usage */
	const char *help;
};

struct str_list {
	const char **v;
	size_t n;
};

#define OPT_BOOL(s, l, v, h) {OPT_BOOL_, (s), (l), (v), NULL, (h)}
#define OPT_STRING(s, l, v, a, h) {OPT_STRING_, (s), (l), (v), (a), (h)}
#define OPT_INT(s, l, v, a, h) {OPT_INT_, (s), (l), (v), (a), (h)}
#define OPT_LIST(s, l, v, a, h) {OPT_LIST_, (s), (l), (v), (a), (h)}
#define OPT_END() {OPT_END_, 0, NULL, NULL, NULL, NULL}

/* Parses argv[1..] against `opts`; positional arguments are moved to
 * argv[0..n) and their count n is returned. On -h/--help prints the usage
 * to stdout and returns PARSE_HELP; on a usage error prints the message and
 * the usage to stderr and returns PARSE_USAGE. `usage` is one line without
 * "usage: ". Positional counts are checked by the caller (usage_error). */
enum { PARSE_HELP = -1, PARSE_USAGE = -2 };
int parse_options(int argc, char **argv, const struct option *opts,
		  const char *usage);
void print_usage(FILE *f, const struct option *opts, const char *usage);
/* Prints "dsv: error: <msg>" and the usage; returns 2 (the usage exit). */
int usage_error(const struct option *opts, const char *usage, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
/* The exit status for a parse_options result < 0. */
#define PARSE_EXIT(rc) ((rc) == PARSE_HELP ? 0 : 2)

/* ---- the repository main prepares for NEEDS_REPO commands -------------- */

struct repo {
	char *dir; /* the .dsv directory */
	dsv_store *store;
	dsv_lineage *lineage;
};

extern struct repo *the_repo;

/* 0, or prints that the repository is read-only and returns 1: for commands
 * that write only on some options (main refuses the others up front). */
int require_writable(void);

/* ---- comparing models (cmd/compare.c) ---------------------------------- */

/* Compares the validation curves of models A and B as dsv compare does
 * (docs/train.md): DSV_EINVAL, saying why, when the curves are not
 * comparable (tokenizers, validation versions or their parts, contexts). */
int compare_models(const char *a, const char *b, dsv_compare_result *r);

/* ---- the compute audit (cmd/audit.c) ------------------------------------ */

/* The audited model against a baseline trained with the same recipe on
 * other data: k, tokens the baseline needed over tokens the model needed for
 * the same loss (below 1 when the baseline is the more efficient), and
 * the data share under which the data work paid for itself. */
struct audit_verdict {
	const char *baseline;
	double k, break_even;
	int under;
};

/* Compares model `rev` with `baseline` (compare_models) and sets a's data
 * share against the break-even line; -1 with the error set. */
int audit_judge(const char *rev, const char *baseline, const dsv_audit *a,
		struct audit_verdict *v);

/* ---- versions (cmd/version.c) ------------------------------------------- */

/* Resolves REV (NULL: HEAD; "" is an error, as in git) to an artifact id. */
int resolve_rev(const char *rev, dsv_aid *out);
/* Resolves REV and reads its MANIFEST (the caller frees *m). */
int load_version(const char *rev, dsv_aid *id, dsv_manifest **m);
/* The field at dotted `path` of a record's meta (filter --where meta.PATH,
 * classifier train --label PATH): at each level a key holding the whole
 * rest of the path ("warc.lang") first, else the part before the first dot
 * leads into a nested object. Borrowed from meta; NULL when missing. */
json_t *meta_get(json_t *meta, const char *path);
/* `dsv branch` (tags 0) and `dsv tag` (tags 1): list, create, delete. */
int ref_command(int argc, char **argv, int tags);

/* ---- export (cmd/export.c) ---------------------------------------------- */

/* "jsonl" or "text" to DSV_EXPORT_*; -1 if neither. */
int parse_export_format(const char *s, int *out);
/* Writes up to `limit` records (0: all) of `m` to `path` (NULL or "-":
 * standard output), through a temporary file renamed when complete. */
int export_version(const dsv_manifest *m, int format, uint64_t limit,
		   const char *path, uint64_t *bytes);
/* A file written whole or not at all (export, report): out_open gives the
 * fd to write: standard output for no path or "-", `path` itself when it
 * exists and is not a regular file (/dev/null, a FIFO), else a temporary
 * file beside `path` (its name in *tmp; removed if a signal stops the
 * process). out_finish, given the writer's result rc, closes it and renames
 * it onto `path`, or removes it when rc is not 0; returns rc or the error
 * closing or renaming. */
int out_open(const char *path, char **tmp, int *fd);
int out_finish(const char *path, char *tmp, int fd, int rc);

/* ---- tokenizers and the token cache (cmd/tokenize.c) ------------------- */

/* Resolves REV to a tokenizer artifact and parses its TOKENIZER; *id gets
 * the tokenizer id (SHA-256 of TOKENIZER) that keys the token cache. The
 * caller frees *out with dsv_bpe_free. */
int load_tokenizer(const char *rev, dsv_aid *aid, dsv_oid *id, dsv_bpe **out);

struct tokenize_stats {
	uint64_t shards;         /* distinct shards in the version */
	uint64_t shards_cached;  /* already in the token cache */
	uint64_t shards_encoded; /* encoded now */
	uint64_t shards_new;     /* token array objects newly written */
	uint64_t rows, tokens, text_bytes; /* of the shards encoded now */
};

struct progress;
/* Makes sure every shard of `m` has a token array under `tok`, encoding
 * the missing ones (every row of the shard) on nthreads (0: all). `bar`
 * may be NULL. */
int tokenize_version(const dsv_manifest *m, const dsv_bpe *b,
		     const dsv_oid *tok, int nthreads,
		     struct tokenize_stats *st, struct progress *bar);

/* ---- models (cmd/train.c) ------------------------------------------------ */

struct dsv_gpt;

/* A model artifact loaded for inference (dsv eval). */
struct model {
	dsv_aid aid;        /* the model artifact */
	dsv_model *info;    /* its MODEL */
	dsv_aid tok_aid;
	dsv_oid tok_id;
	dsv_bpe *bpe;       /* its tokenizer */
	struct dsv_gpt *g;  /* weights loaded, batches up to B x T */
	int seq_len;        /* the config's block size */
};

/* Resolves REV to a model, checks its tokenizer's vocabulary against the
 * model's and loads the weights into a model for batches of B x T (T 0:
 * the block size) on `where` (DSV_DEVICE_CPU or _CUDA). model_free
 * releases everything, also after a failure. */
int model_load(const char *rev, int B, int T, int where, struct model *out);
void model_free(struct model *m);
/* Each document's mean token loss under a model (cmd/doc_loss.c), for
 * dsv eval and derive annotate --model. A document is encoded with the
 * model's tokenizer as eot + its tokens and cut into windows of up to T+1
 * tokens (T the model's context), one batch row each, so a token is
 * predicted from the earlier tokens of its window only; rows are run
 * `batch` at a time. doc_loss_new borrows md for the life of *out. */
struct doc_loss;
int doc_loss_new(struct doc_loss **out, struct model *md, int batch);
void doc_loss_free(struct doc_loss *dl);
/* Encodes and queues a document, the next index (0 after doc_loss_new or
 * doc_loss_clear); runs the batches it fills. */
int doc_loss_add(struct doc_loss *dl, const char *text, size_t len);
/* Runs the last, partial batch: every document queued has its loss. */
int doc_loss_flush(struct doc_loss *dl);
/* After doc_loss_flush: the documents queued since the last clear, and
 * document i's mean loss (NaN when it has no tokens: an empty text). */
size_t doc_loss_docs(const struct doc_loss *dl);
double doc_loss_mean(const struct doc_loss *dl, size_t i);
/* Forgets the documents (after a flush); the totals stay. */
void doc_loss_clear(struct doc_loss *dl);
/* The sum of every token loss and the tokens, over all documents. */
void doc_loss_totals(const struct doc_loss *dl, double *sum, uint64_t *ntok);
/* Adds to m what the forward passes since the last call used: tokens in,
 * FLOPs (a third of training's per token), and on a GPU its seconds and
 * the energy NVML saw. */
void doc_loss_meter(struct doc_loss *dl, dsv_meter *m);
/* Bytes of memory available (MemAvailable; $DSV_TRAIN_MEMORY in the
 * tests), 0 when unknown: what train, eval and generation check their
 * allocations against before making them. */
double mem_available(void);
/* Re-executes the process with OMP_WAIT_POLICY=PASSIVE when it is unset
 * (train and eval call it first; see cmd/train.c). Returns only when it
 * is set already or exec failed. argv as the command got it. */
void train_passive_omp(int argc, char **argv);

/* ---- seeded record sampling (cmd/op_sample.c; sample, split, mix) ------- */

/* The sampling key of row `row` of manifest entry `entry` (on `shard`):
 * splitmix64-mixed from the seed, so a seed fixes every choice and the key
 * does not depend on the data's content. */
uint64_t sample_key(uint64_t seed, uint64_t entry, const dsv_oid *shard,
		    uint64_t row);
/* The key threshold that keeps exactly `n` of the rows version `m` holds
 * (the n smallest keys: keep a row iff its key <= *thr); *live receives the
 * rows counted (each row once, whatever its entry's repeat). n >= live
 * keeps everything (*thr = UINT64_MAX). Reads selections only. */
int sample_threshold(dsv_store *s, const dsv_manifest *m, uint64_t seed,
		     uint64_t n, uint64_t *thr, uint64_t *live);
/* The fraction f in [0, 1] as a key threshold: keep iff key < it (f = 1:
 * every key, f = 0: none); *all is set when f is 1. */
uint64_t sample_fraction_threshold(double f, int *all);

/* ---- new-text derivations (cmd/op_map.c): map, rephrase, synth ------- *
 * A derived version made of NEW records (map may also reuse stored rows,
 * newtext_reuse): records are added one
 * by one into shards of about DSV_SHARD_TARGET_BYTES of text and meta, each
 * with `ncols` u64 provenance columns; newtext_commit writes the MANIFEST and
 * dsv.json (op, params, inputs, stats, compute) as one lineage commit on
 * refs/heads/BRANCH, moved by compare-and-swap. Parents are added in order
 * (primary input first). Objects written before a failure stay unreferenced
 * (gc takes them). */
struct newtext;
int newtext_start(struct newtext **out, const char *op, dsv_mode mode,
		  const char *branch, const char *message, int force,
		  const char *const *cols, int ncols);
void newtext_free(struct newtext *nt);
int newtext_add_parent(struct newtext *nt, const char *role, const dsv_aid *id);
dsv_artifact *newtext_artifact(struct newtext *nt);
dsv_meter *newtext_meter(struct newtext *nt);
uint64_t newtext_records(const struct newtext *nt);
/* `hash`: the text's record hash when the caller has it, else NULL. */
int newtext_add(struct newtext *nt, const char *text, size_t tlen,
		const char *meta, size_t mlen, uint32_t layout,
		const dsv_rhash *hash, const uint64_t *colvals);
/* Lets records be rows of stored shards too (newtext_ref): the version is
 * then built by the store's vbuild (entries over those shards, selections,
 * an order object where needed) around the new shards. Call before the
 * first record. */
int newtext_reuse(struct newtext *nt);
/* The next record is row `row` of stored shard `shard` (`rows` rows), whose
 * text is `tlen` bytes; `colvals` are its provenance column values, written
 * in columns over that shard (0 for the rows the version does not use). */
int newtext_ref(struct newtext *nt, const dsv_oid *shard, uint64_t rows,
		uint64_t row, size_t tlen, const uint64_t *colvals);
/* A record from a JSON object holding a string "text" (other members are
 * its meta), read through the store's JSONL reader. */
int newtext_add_json(struct newtext *nt, json_t *obj, const uint64_t *colvals);
int newtext_commit(struct newtext *nt, int quiet, int json, dsv_aid *out);

/* What an external program reported through $DSV_COMPUTE_FILE
 * (docs/generate.md): JSON lines summed up. */
struct program_compute {
	double gpu_s, flops, energy_j, tokens_in, tokens_out;
	int has_gpu_s, has_flops, has_energy_j, has_tokens_in, has_tokens_out;
	int lines, ndev;
	int partial; /* partial lines a failed program left, dropped (the
		      * caller counts them; recorded when not 0) */
	char dev[8][64];
	double dev_s[8];
};
void program_compute_init(struct program_compute *pc);
/* Adds up the lines of the file at `path` (none: nothing reported); 0, or
 * DSV_EINVAL naming the first bad line. */
int program_compute_read(struct program_compute *pc, const char *path);
/* Truncates the file at `path` after its last newline, dropping the partial
 * line a program killed mid-write left: 1 if it cut one, 0 if there was
 * none (or no file), -1 if the file could not be read or truncated. */
int program_compute_cut_partial(const char *path);
void program_compute_record(const struct program_compute *pc, dsv_meter *m,
			    dsv_artifact *a);

/* ---- generation (cmd/generate.c): dsv generate, rephrase, synth ------- */

struct gen_opts {
	uint64_t n;          /* samples per prompt */
	int max_tokens;      /* per sample */
	double temperature;  /* 0: greedy */
	int top_k;           /* 0: all */
	double top_p;        /* 1: all */
	uint64_t seed;
	int batch;           /* sequences decoded together */
	int where;           /* DSV_DEVICE_CPU or _CUDA */
};

/* The sampling options generate, rephrase and synth share, as entries of an
 * option table; `per` says what --max-tokens counts ("per sample"). */
#define OPT_SAMPLING(max_tokens, temp, top_k, topp, seed, batch, device, per) \
	OPT_INT(0, "max-tokens", max_tokens, "n",                             \
		"tokens " per ", at most (default 64)"),                       \
	OPT_STRING(0, "temperature", temp, "t", "0: greedy (default 1)"),     \
	OPT_INT(0, "top-k", top_k, "k",                                       \
		"sample from the k likeliest tokens (0: all)"),               \
	OPT_STRING(0, "top-p", topp, "p",                                     \
		"nucleus: the likeliest tokens holding mass p (default 1)"),  \
	OPT_INT(0, "seed", seed, "s", "the random seed (default 0)"),         \
	OPT_INT(0, "batch", batch, "b",                                       \
		"sequences decoded together (default 16)"),                   \
	OPT_STRING(0, "device", device, "dev", "cpu, cuda or auto (default auto)")

/* The output options of the new-text derivations (map, rephrase, synth). */
#define OPT_NEWTEXT_OUTPUT(output, message, force, quiet, json)              \
	OPT_STRING('o', "output", output, "name",                             \
		   "branch for the new version (must not exist)"),            \
	OPT_STRING('m', "message", message, "msg",                            \
		   "the new version's message"),                              \
	OPT_BOOL(0, "force", force, "move the branch even if it exists"),      \
	OPT_BOOL('q', "quiet", quiet, "print nothing"),                       \
	OPT_BOOL(0, "json", json, "print the result as JSON")

/* Checks the sampling options (DSV_EINVAL saying which) and fills o. */
int gen_opts_check(struct gen_opts *o, long n, long max_tokens,
		   const char *temp, const char *topp, long top_k, long seed,
		   long batch);
/* Records the sampling options in an artifact's params. */
void gen_opts_params(json_t *params, const struct gen_opts *o);
/* --device cpu|cuda|auto to DSV_DEVICE_CPU or _CUDA. */
int gen_parse_device(const char *s, int *where);

struct gen_result {
	uint64_t sample;     /* its index in the run: also its random stream */
	size_t prompt;       /* which prompt of those given with it */
	const char *text;    /* the completion, valid UTF-8, NUL-terminated;
				borrowed for the callback */
	size_t len;
	int tokens;          /* tokens generated */
	const char *stop;    /* "length", "eot" or "context" */
};
typedef int (*gen_result_fn)(const struct gen_result *r, void *ctx);

/* Samples completions, sample i from prompt i % nprompts (nprompts 0:
 * every sample starts from <|endoftext|> alone), in sample order, with the
 * prompts given a chunk at a time, so that a version's records need not
 * all be in memory; FLOPs and tokens go to `meter` (may be NULL).
 * gen_start sets up a run of `nsamples` samples over `nprompts` prompts in all (for the warning that
 * counts the prompts cut to fit the context, said before the chunk that
 * holds the last prompt's first sample; 0: no prompt); each gen_next
 * samples the run's next `nsamples`, the j-th of them from
 * prompts[j % nprompts], and calls fn for each (r->prompt is that index,
 * r->sample the index in the run). A chunk other than the last must hold
 * whole batches (gen_chunk_samples gives such a size, about 1024 samples,
 * or $DSV_GEN_CHUNK_SAMPLES for tests): a sample's random stream is its
 * index in the run, so the results do not depend on the chunks.
 * gen_next fails with DSV_EINVAL on a chunk that breaks a batch.
 * gen_free releases g (NULL ok); the GPU time is added to the meter when
 * the last sample is done. */
struct gen;
int gen_start(struct gen **out, struct model *md, const struct gen_opts *o,
	      uint64_t nprompts, uint64_t nsamples, dsv_meter *meter);
uint64_t gen_chunk_samples(const struct gen *g);
int gen_next(struct gen *g, const char *const *prompts, const size_t *plens,
	     size_t nprompts, uint64_t nsamples, gen_result_fn fn, void *ctx);
void gen_free(struct gen *g);

/* Records of a version: texts (NUL-terminated), their JSONL lines (NULL
 * unless asked for) and hashes. */
struct gen_texts {
	size_t n;
	char **text;
	size_t *len;
	char **line;
	dsv_rhash *hash;
};

/* A version read a chunk at a time for a run whose samples take its
 * records in turn: gen_reader_open gives its id and record count, and has
 * each record's JSONL line built when `lines` asks (rephrase). Each
 * gen_reader_next puts into t the prompts of the run's next n samples, the
 * j-th sample's being record j mod t->n of t: the next n records, starting
 * over after the last, or, when the version's records all fit in the first
 * call's n, all of them, read once and kept, from the chunk's first
 * sample's record on. t is zeroed when the version has no record, and
 * borrowed from r until its next call or gen_reader_free (r NULL ok). */
struct gen_reader;
int gen_reader_open(struct gen_reader **out, const char *rev, int lines,
		    dsv_aid *id, uint64_t *nrecords);
int gen_reader_next(struct gen_reader *r, uint64_t n, struct gen_texts *t);
void gen_reader_free(struct gen_reader *r);

/* ---- GPU work (cmd/gpumeter.c) ------------------------------------------- */

/* NVML's energy counter of the GPU this process uses: nvml_joules gives the
 * joules since nvml_start, 0 where the driver does not say. */
struct nvml {
	void *lib;
	int ok;
	void *dev;
	int (*energy)(void *, unsigned long long *);
	unsigned long long start_mj;
};
void nvml_start(struct nvml *n);
double nvml_joules(const struct nvml *n);
void nvml_stop(struct nvml *n);

/* The GPU work of a command that runs the data kernels (derive's, the
 * generation of rephrase and synth): from gpu_meter_start, which a command
 * calls once it knows it runs on CUDA, gpu_meter_add adds to m, once, the
 * seconds those kernels kept the device busy under its name, and the
 * energy the device drew meanwhile (nothing when no kernel ran). */
struct gpu_meter {
	int on, added;
	double busy0;
	struct nvml nvml;
};
void gpu_meter_start(struct gpu_meter *g);
void gpu_meter_add(struct gpu_meter *g, dsv_meter *m);
void gpu_meter_stop(struct gpu_meter *g);

/* ---- signals (cmd/signals.c) -------------------------------------------- */

/* ^C, SIGTERM and SIGHUP, which map and synth catch to kill their programs
 * and clean up before dying of them. catch installs handler for each one
 * not ignored (nohup stays nohup), keeping the old actions in old;
 * restore puts them back. */
#define NSTOP_SIGNALS 3
extern const int stop_signals[NSTOP_SIGNALS];
void stop_signals_catch(void (*handler)(int), struct sigaction old[NSTOP_SIGNALS]);
void stop_signals_restore(const struct sigaction old[NSTOP_SIGNALS]);

/* ---- output (cmd/output.c) ---------------------------------------------- */

/* Prints "dsv: error: <dsv_error_last()>" and returns 1. */
int die_error(void);
/* Prints "dsv: error: <fmt...>" and returns 1. */
int error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Human sizes: "1.5 MiB"; buf of 32 bytes. */
const char *human_bytes(char buf[32], double bytes);
/* `one` when n is 1, else `many`: the noun after a count in human-readable
 * output ("1 shard", "0 shards", "2 entries"), as git says "1 file
 * changed". Never for --json or other machine-read output, whose words stay
 * fixed. Returns one of its arguments. */
const char *plural(unsigned long long n, const char *one, const char *many);
/* A commit message on stdout as git log prints it: every line indented by
 * four spaces. */
void print_message(const char *message);
/* Prints o and a newline on stdout with the json_dumpf flags, reals with the
 * 15 significant digits dsv.json stores them with (jansson's default 17
 * shows 0.022736 as 0.022735999999999999). */
void print_json(const json_t *o, size_t flags);
/* s as a JSON string literal, quotes included, for the hand-written --json
 * lines (a branch may be named a"b); the caller frees it. NULL only when
 * out of memory. */
char *json_quote(const char *s);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
struct progress;
struct progress *progress_start(const char *what, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
/* For a bar whose total counts items: git's "Receiving objects:  45%
 * (123/271), 12.3 MiB | 40.1 MiB/s", `bytes` being what the done items
 * hold. */
void progress_count(struct progress *p, uint64_t done, uint64_t bytes);
void progress_done(struct progress *p);

#endif
