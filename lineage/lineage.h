/* lineage.h: the public interface of dsv's lineage: artifacts as commits in
 * the bare git repository .dsv/lineage (through libgit2), the dsv.json
 * artifact description, the compute meter and the compute audit.
 *
 * Conventions are store.h's: fallible functions return 0 or a negative DSV_E*
 * code with a message in the thread-local error (dsv_error_last); `_open` and
 * `_new` hand an object out through their first parameter; `_free` releases
 * it and accepts NULL. libgit2's errors are translated here, with its text.
 * This module depends on store/ (errors) and never on kernels/ or cmd/.
 */
#ifndef DSV_LINEAGE_H
#define DSV_LINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/store.h"

#ifndef DSV_VERSION
#define DSV_VERSION "0.1.0"
#endif

/* ---- artifact ids (lineage/repo.c) --------------------------------------- *
 * An artifact is named by its lineage commit's git id (SHA-1). */

typedef struct {
	uint8_t b[20];
} dsv_aid;

#define DSV_AID_HEXLEN 40
#define DSV_AID_SHORTLEN 7

/* Parses exactly 40 hex digits (len must be 40); else DSV_EINVAL. */
int dsv_aid_parse(dsv_aid *out, const char *hex, size_t len);
/* Writes 40 lowercase hex digits and a NUL. */
void dsv_aid_fmt(char out[DSV_AID_HEXLEN + 1], const dsv_aid *id);
/* Writes the first 7 hex digits and a NUL (for messages and log lines). */
void dsv_aid_short(char out[DSV_AID_SHORTLEN + 1], const dsv_aid *id);
int dsv_aid_cmp(const dsv_aid *a, const dsv_aid *b);
int dsv_aid_is_zero(const dsv_aid *id);

/* ---- the repository (lineage/repo.c) ------------------------------------- */

typedef struct dsv_lineage dsv_lineage;

/* Creates a bare git repository at `path` (normally ".dsv/lineage") whose HEAD
 * is the unborn branch refs/heads/main. DSV_EEXISTS if one is already there. */
int dsv_lineage_init(const char *path);
/* Opens the bare repository at `path`. Initialises libgit2 once per process
 * (thread-safe) and turns on fsync of the git directory so that a commit that
 * returned is durable. A handle is used by one thread at a time. */
int dsv_lineage_open(dsv_lineage **out, const char *path);
void dsv_lineage_free(dsv_lineage *l);
/* The path given to open; borrowed, valid until dsv_lineage_free. */
const char *dsv_lineage_path(const dsv_lineage *l);

/* The author dsv writes: $DSV_AUTHOR ("Name <email>"), else git config
 * user.name/user.email, else "dsv <dsv@localhost>". Writes a malloc'd
 * "Name <email>" string to *out. */
int dsv_lineage_author(char **out);

/* ---- commits (lineage/commit.c) ------------------------------------------ */

/* One file of an artifact's tree: "dsv.json", "MANIFEST", "MODEL",
 * "METRICS.tsv", "TOKENIZER". Names are plain (no '/'), unique. */
typedef struct {
	const char *name;
	const void *data;
	size_t len;
} dsv_tree_file;

typedef struct {
	const dsv_tree_file *files; /* the tree; at least one file */
	size_t nfiles;
	const dsv_aid *parents;     /* the inputs, primary input first */
	size_t nparents;
	const char *message;        /* the user's message (a '\n' is appended
				       when missing) */
	const char *author;         /* "Name <email>"; NULL: dsv_lineage_author */
	int64_t time;               /* seconds since the epoch; 0: now, or
				       $GIT_AUTHOR_DATE when that is an integer */
	const char *ref;            /* full ref to move ("refs/heads/main",
				       "refs/tags/v1"); NULL: move no ref */
	const dsv_aid *expected;    /* the value `ref` must have now; NULL: the
				       ref must not exist yet */
} dsv_commit_opts;

/* Writes the blobs, the tree and the commit, then moves `ref` from
 * `expected` to the new commit by compare-and-swap. If the ref moved in the
 * meantime it fails with DSV_ECONFLICT ("branch 'main' moved (expected
 * 1a2b3c4, found 9f8e7d6): another commit landed first; nothing was
 * recorded") and the ref keeps the other writer's commit. *out receives the
 * new commit's id. */
int dsv_lineage_commit(dsv_lineage *l, const dsv_commit_opts *o, dsv_aid *out);

/* ---- refs and revisions (lineage/rev.c) ---------------------------------- */

#define DSV_REV_MAX 256 /* longest revision string accepted */

/* Checks a revision string before libgit2 sees it: 1..DSV_REV_MAX bytes, no
 * NUL, no control characters, no spaces, no message search (":/x",
 * "^{/x}"). DSV_EINVAL with the reason. */
int dsv_rev_validate(const char *rev, size_t len);
/* Resolves git revision syntax (`main`, `main~2`, `v1`, `edu-3^2`, id
 * prefixes, `HEAD`) to a commit. DSV_ENOTFOUND "unknown revision 'xyz'";
 * DSV_EINVAL for an invalid string or an ambiguous prefix. */
int dsv_lineage_resolve(dsv_lineage *l, const char *rev, dsv_aid *out);

/* Reads a full ref ("refs/heads/main"); DSV_ENOTFOUND if it does not exist. */
int dsv_lineage_ref_get(dsv_lineage *l, const char *ref, dsv_aid *out);
/* Compare-and-swap of a full ref: it must now point at `expected` (NULL: must
 * not exist) and is set to `target`. DSV_ECONFLICT when it moved.
 * `logmsg` goes into the reflog (may be NULL). */
int dsv_lineage_ref_update(dsv_lineage *l, const char *ref,
			   const dsv_aid *target, const dsv_aid *expected,
			   const char *logmsg);

/* Deletes a full ref ("refs/heads/x", "refs/tags/v1",
 * "refs/remotes/origin/x") as git's files backend does (its lock, then
 * packed-refs.lock; loose file, packed-refs entry and reflog go), when
 * `expected` is not NULL only if it names `expected`, checked under the
 * ref's lock: DSV_ECONFLICT "... moved (expected a, found b)". DSV_ENOTFOUND
 * when it does not exist; DSV_EINVAL for a symbolic ref. */
int dsv_lineage_ref_delete(dsv_lineage *l, const char *ref,
			   const dsv_aid *expected);

/* The current branch's short name ("main") in a malloc'd *out, even when the
 * branch is unborn (no commit yet). DSV_ENOTFOUND if HEAD is detached. */
int dsv_lineage_head_branch(dsv_lineage *l, char **out);
/* The commit HEAD points at; DSV_ENOTFOUND while the branch is unborn. */
int dsv_lineage_head(dsv_lineage *l, dsv_aid *out);
/* Makes HEAD the symbolic ref refs/heads/<branch> (the branch must exist
 * unless the repository has no commits; DSV_ENOTFOUND otherwise). */
int dsv_lineage_set_head(dsv_lineage *l, const char *branch);

/* Checks a branch or tag short name (git's rules); DSV_EINVAL with why. */
int dsv_lineage_name_validate(const char *name);
/* 1 if refs/heads/<name> exists, 0 if not, negative on error. */
int dsv_lineage_branch_exists(dsv_lineage *l, const char *name);
/* Creates refs/heads/<name> at `rev` (a revision string). DSV_EEXISTS if the
 * branch exists and `force` is 0. */
int dsv_lineage_branch_create(dsv_lineage *l, const char *name,
			      const char *rev, int force);
/* Deletes refs/heads/<name>; DSV_EINVAL for the current branch,
 * DSV_ENOTFOUND when it does not exist. The commits stay. */
int dsv_lineage_branch_delete(dsv_lineage *l, const char *name);

/* Tags are lightweight refs under refs/tags pointing at the commit. */
int dsv_lineage_tag_exists(dsv_lineage *l, const char *name);
int dsv_lineage_tag_create(dsv_lineage *l, const char *name, const char *rev,
			   int force);
int dsv_lineage_tag_delete(dsv_lineage *l, const char *name);

typedef struct {
	char *name;     /* short name: "main", "v1" */
	dsv_aid target; /* the commit it names */
} dsv_refinfo;

/* Lists branches or tags, sorted by name, into a malloc'd array the caller
 * releases with dsv_refinfo_free. */
int dsv_lineage_branch_list(dsv_lineage *l, dsv_refinfo **out, size_t *n);
int dsv_lineage_tag_list(dsv_lineage *l, dsv_refinfo **out, size_t *n);
/* The remote-tracking refs (refs/remotes/...) that fetch and push keep,
 * named "origin/main" (a symbolic one git made, origin/HEAD, is listed with
 * its target). */
int dsv_lineage_remote_ref_list(dsv_lineage *l, dsv_refinfo **out, size_t *n);
void dsv_refinfo_free(dsv_refinfo *r, size_t n);
/* 1 when commit `a` is `b` or one of its ancestors (a fast-forward from a
 * to b), 0 when not, or a negative code (DSV_ENOTFOUND: either is not in
 * the lineage). */
int dsv_lineage_is_ancestor(dsv_lineage *l, const dsv_aid *a,
			    const dsv_aid *b);

/* ---- reading commits (lineage/commit.c) ---------------------------------- */

/* Reads file `name` of the commit's tree into a malloc'd buffer with a NUL
 * after the last byte (not counted in *len). DSV_ENOTFOUND if the tree has
 * no such file. */
int dsv_lineage_read_file(dsv_lineage *l, const dsv_aid *commit,
			  const char *name, char **out, size_t *len);

typedef struct {
	dsv_aid id;
	size_t nparents;
	dsv_aid *parents;   /* primary input first */
	char *message;      /* full message */
	char *summary;      /* first line */
	char *author_name;
	char *author_email;
	int64_t time;       /* author time, seconds since the epoch */
	int tz_offset;      /* minutes east of UTC */
} dsv_commit_info;

/* Reads a commit's header; everything in *out is owned by it. */
int dsv_commit_info_open(dsv_commit_info **out, dsv_lineage *l,
			 const dsv_aid *id);
void dsv_commit_info_free(dsv_commit_info *ci);

/* ---- walking (lineage/walk.c) -------------------------------------------- */

enum {
	DSV_WALK_FIRST_PARENT = 1, /* follow only each commit's first parent */
	DSV_WALK_TOPO = 2,         /* no parent before all of its children
				      (always the case now; kept for callers) */
};

typedef struct dsv_walk dsv_walk;

/* A walk from `starts` over their ancestry, newest first: never a parent
 * before one of its children, commit time ordering the rest (git log
 * --topo-order), each commit exactly once however many paths reach it. The walk
 * borrows `l`, which must outlive it. */
int dsv_walk_new(dsv_walk **out, dsv_lineage *l, const dsv_aid *starts,
		 size_t nstarts, unsigned flags);
/* Next commit: 1 and *id, 0 at the end, or a negative code. */
int dsv_walk_next(dsv_walk *w, dsv_aid *id);
void dsv_walk_free(dsv_walk *w);

/* ---- the compute record and meter (lineage/compute.c) -------------------- */

typedef enum {
	DSV_MODE_INGEST = 0,     /* commit */
	DSV_MODE_SELECTION,      /* filter, dedup, annotate, score, classify */
	DSV_MODE_TRANSFORMATION, /* rephrase, map */
	DSV_MODE_GENERATION,     /* synth */
	DSV_MODE_TRAINING,       /* train, tokenizer training */
	DSV_MODE_EVALUATION,     /* eval */
	DSV_MODE_COUNT
} dsv_mode;

/* "ingest", "selection", ...; "unknown" out of range. */
const char *dsv_mode_name(dsv_mode m);
/* Parses a mode name; DSV_EINVAL if unknown. */
int dsv_mode_parse(dsv_mode *out, const char *name);
/* The mode DESIGN.md section 6 gives an op ("commit" -> ingest, "filter" ->
 * selection, "train" -> training, ...); DSV_EINVAL if the op is unknown. */
int dsv_mode_for_op(dsv_mode *out, const char *op);

#define DSV_COMPUTE_MAX_DEVICES 8
#define DSV_DEVICE_NAME_MAX 64

typedef struct {
	char name[DSV_DEVICE_NAME_MAX]; /* "NVIDIA H100 80GB HBM3" */
	double gpu_s;                   /* busy seconds on this device */
} dsv_device_use;

/* What one operation used. Units: seconds, FLOPs, joules, bytes, counts. */
typedef struct {
	dsv_mode mode;
	double wall_s;     /* elapsed (CLOCK_MONOTONIC) */
	double cpu_s;      /* user + system, self and waited-for children */
	double user_s, sys_s;
	double gpu_s;      /* sum over devices */
	double flops;      /* analytic count the kernels reported; 0: unknown */
	double energy_j;   /* NVML energy where the driver gives it; 0: unknown */
	uint64_t bytes_read, bytes_written;
	uint64_t records_in, records_out;
	uint64_t tokens_in, tokens_out;
	char cpu_model[DSV_DEVICE_NAME_MAX]; /* /proc/cpuinfo "model name" */
	int cpu_cores;     /* online cores */
	int ranks;         /* processes summed into this record (1, or MPI) */
	int ndevices;      /* accelerators used */
	dsv_device_use devices[DSV_COMPUTE_MAX_DEVICES];
} dsv_compute;

/* Zeroes `c` with mode `mode` and ranks 1. */
void dsv_compute_init(dsv_compute *c, dsv_mode mode);
/* Adds `b` into `acc` (MPI ranks, audit totals): times, counts, FLOPs and
 * energy add; devices merge by name (gpu_s added); the mode stays acc's; the
 * CPU model is kept when equal, else becomes "mixed". */
void dsv_compute_add(dsv_compute *acc, const dsv_compute *b);
/* The "compute" object of dsv.json (new reference, caller owns). */
int dsv_compute_to_json(json_t **out, const dsv_compute *c);
/* Reads a "compute" object; errors name the field ("dsv.json: field
 * 'compute.wall_s' must be a number"). */
int dsv_compute_from_json(dsv_compute *out, const json_t *obj);

/* The meter: one per artifact-making command. Counter adds are atomic, so
 * worker threads may add while the command runs. */
typedef struct dsv_meter dsv_meter;

typedef enum {
	DSV_METER_BYTES_READ,
	DSV_METER_BYTES_WRITTEN,
	DSV_METER_RECORDS_IN,
	DSV_METER_RECORDS_OUT,
	DSV_METER_TOKENS_IN,
	DSV_METER_TOKENS_OUT,
	DSV_METER_NCOUNTERS
} dsv_meter_counter;

/* A stopped meter for `mode`; records the CPU model and core count. */
int dsv_meter_new(dsv_meter **out, dsv_mode mode);
void dsv_meter_free(dsv_meter *m);
/* Starts (or restarts) the clocks: CLOCK_MONOTONIC and getrusage(SELF and
 * CHILDREN). Counters are not reset. */
void dsv_meter_start(dsv_meter *m);
/* Stops the clocks; the elapsed times are kept. Calls after the first stop
 * without a new start do nothing. */
void dsv_meter_stop(dsv_meter *m);
void dsv_meter_add(dsv_meter *m, dsv_meter_counter c, uint64_t n);
void dsv_meter_add_flops(dsv_meter *m, double flops);
void dsv_meter_add_energy(dsv_meter *m, double joules);
/* Adds busy seconds on the named accelerator (registered on first use). */
int dsv_meter_add_gpu(dsv_meter *m, const char *device, double seconds);
/* Names an accelerator used (with no seconds yet). */
int dsv_meter_add_device(dsv_meter *m, const char *device);
/* The record so far (a running meter reports the time up to now). */
void dsv_meter_read(const dsv_meter *m, dsv_compute *out);

/* ---- dsv.json (lineage/artifact.c) --------------------------------------- */

typedef enum {
	DSV_KIND_DATASET = 0,
	DSV_KIND_TOKENIZER,
	DSV_KIND_MODEL,
	DSV_KIND_CLASSIFIER,
	DSV_KIND_COUNT
} dsv_kind;

const char *dsv_kind_name(dsv_kind k);
int dsv_kind_parse(dsv_kind *out, const char *name);

#define DSV_ARTIFACT_NAME_MAX 64

typedef struct {
	char role[DSV_ARTIFACT_NAME_MAX]; /* "input", "model", "prompts", ... */
	dsv_aid artifact;
} dsv_artifact_input;

/* The description every artifact commit carries as dsv.json. Fields may be
 * set directly; params and stats are owned JSON objects (never NULL after
 * _new/_parse) that callers fill with json_object_set_new. */
typedef struct {
	char dsv_version[32];
	dsv_kind kind;
	char op[DSV_ARTIFACT_NAME_MAX];   /* "commit", "filter", "train", ... */
	json_t *params;                   /* object, owned */
	size_t ninputs;
	dsv_artifact_input *inputs;       /* owned */
	json_t *stats;                    /* object, owned */
	int has_compute;
	dsv_compute compute;
} dsv_artifact;

/* A new description with dsv_version DSV_VERSION, empty params and stats,
 * no inputs and no compute. */
int dsv_artifact_new(dsv_artifact **out, dsv_kind kind, const char *op);
void dsv_artifact_free(dsv_artifact *a);
int dsv_artifact_add_input(dsv_artifact *a, const char *role,
			   const dsv_aid *id);
/* Sets stats[key] to an integer or a number. */
int dsv_artifact_stat_int(dsv_artifact *a, const char *key, int64_t v);
int dsv_artifact_stat_num(dsv_artifact *a, const char *key, double v);
/* Copies a compute record in (has_compute = 1). */
void dsv_artifact_set_compute(dsv_artifact *a, const dsv_compute *c);
/* Formats dsv.json: indented, keys in a fixed order, ending in '\n'.
 * *out is malloc'd and NUL-terminated; the caller frees it. */
int dsv_artifact_format(const dsv_artifact *a, char **out, size_t *len);
/* Parses and validates dsv.json. DSV_EINVAL with the field named
 * ("dsv.json: field 'kind' must be one of dataset, tokenizer, model,
 * classifier"); unknown top-level fields are ignored. */
int dsv_artifact_parse(dsv_artifact **out, const char *text, size_t len);
/* Reads and parses dsv.json of a commit. */
int dsv_artifact_read(dsv_artifact **out, dsv_lineage *l, const dsv_aid *id);

/* What log shows of an artifact, from the lineage cache: no dsv.json is
 * read once the commit has been seen. has_artifact is 0 for a commit
 * without a valid dsv.json; records and text_bytes are -1 when the stats
 * lack them. */
typedef struct {
	int has_artifact;
	dsv_kind kind;
	char op[DSV_ARTIFACT_NAME_MAX];
	int has_compute;
	dsv_compute compute;
	int64_t records, text_bytes;
} dsv_artifact_summary;

int dsv_artifact_summary_get(dsv_lineage *l, const dsv_aid *id,
			     dsv_artifact_summary *out);

/* ---- audit (lineage/audit.c) --------------------------------------------- */

typedef struct {
	dsv_aid id;
	dsv_kind kind;
	char op[DSV_ARTIFACT_NAME_MAX];
	int has_compute;     /* 0: no or unreadable dsv.json compute record */
	dsv_compute compute;
	double share;        /* its cost / (data + training) in share_unit;
				0 for evaluation and rows without compute, so
				the rows' shares sum to 1 (or all are 0) */
} dsv_audit_row;

enum { DSV_SHARE_FLOPS = 0, DSV_SHARE_SECONDS = 1 };

typedef struct {
	size_t nrows;
	dsv_audit_row *rows;            /* every ancestor once, newest first,
					   the revision itself included */
	size_t nmissing;                /* rows without a compute record */
	dsv_compute by_mode[DSV_MODE_COUNT];
	dsv_compute total;
	int share_unit;                 /* DSV_SHARE_FLOPS or _SECONDS */
	double data_cost;               /* ingest+selection+transformation+
					   generation, in share_unit */
	double training_cost;           /* training, in share_unit */
	double data_share;              /* data / (data + training); 0 if both
					   are 0 */
	double training_share;          /* training / (data + training) */
} dsv_audit;

/* Audits the whole ancestry of `head` (all parents, each commit once). The
 * rule for the shares is in docs/lineage.md. */
int dsv_audit_run(dsv_audit **out, dsv_lineage *l, const dsv_aid *head);
void dsv_audit_free(dsv_audit *a);

/* ---- the ancestry graph (lineage/ancestry.c) ----------------------------- */

typedef struct {
	dsv_aid id;
	size_t nparents;
	const size_t *parents;  /* indices into the nodes, primary input first */
	int has_artifact;       /* 0: no valid dsv.json (kind, op unset) */
	dsv_kind kind;
	char op[DSV_ARTIFACT_NAME_MAX];
	int has_compute;
	dsv_compute compute;
	int64_t records, text_bytes; /* stats; -1 when absent */
	/* The commit's full message and author, borrowed from the lineage
	 * handle: valid until dsv_lineage_free. */
	const char *message, *author_name, *author_email;
	int64_t time;           /* author time, seconds since the epoch */
	int tz_offset;          /* minutes east of UTC */
} dsv_ancestry_node;

typedef struct {
	size_t n;
	dsv_ancestry_node *nodes; /* every ancestor once, the revision itself
				     first, in dsv_audit_run's row order
				     (newest first, never a parent before a
				     child) */
	size_t *edges;            /* the storage of the nodes' parents */
} dsv_ancestry;

/* The whole ancestry of `head` as a graph (what dsv report draws).
 * DSV_ECORRUPT when a parent cannot be read. */
int dsv_ancestry_open(dsv_ancestry **out, dsv_lineage *l, const dsv_aid *head);
void dsv_ancestry_free(dsv_ancestry *a);

/* ---- dataset versions (lineage/dataset.c) -------------------------------- *
 * What joins the lineage to the store: a dataset artifact's MANIFEST, the
 * check that everything it names is stored, and the index rebuilt from the
 * lineage alone. */

/* Reads and parses the MANIFEST of a dataset artifact. */
int dsv_dataset_manifest(dsv_manifest **out, dsv_lineage *l,
			 const dsv_aid *id);

/* Calls `fn` once for every commit any branch, tag, remote-tracking ref
 * (refs/remotes/...) or a detached HEAD reaches (each once), oldest first, so
 * that "first holder" questions have git's answer. */
int dsv_lineage_foreach(dsv_lineage *l,
			int (*fn)(const dsv_aid *id, void *ctx), void *ctx);
/* The same over the commits `starts` reach (`dsv blame HASH REV`). */
int dsv_lineage_foreach_from(dsv_lineage *l, const dsv_aid *starts,
			     size_t nstarts,
			     int (*fn)(const dsv_aid *id, void *ctx), void *ctx);

typedef struct {
	uint64_t artifacts;      /* commits checked */
	uint64_t versions;       /* of them, dataset versions */
	uint64_t missing;        /* object references that do not resolve */
	uint64_t bad;            /* unreadable dsv.json or MANIFEST, bad refs */
	uint64_t unindexed;      /* rows of shards versions stored (entries
				    without a selection) whose record hash
				    the records index lacks: not damage, but
				    blame reads it (--rebuild-index) */
	/* Called with each problem found ("artifact 1a2b3c4: MANIFEST:2:
	 * shard 3fa2... is missing"); may be NULL. */
	void (*report)(void *ctx, const char *msg);
	void *ctx;
} dsv_lineage_check;

/* Checks every artifact a ref reaches: dsv.json parses; a dataset's MANIFEST
 * parses and every shard, selection, column and order object it names exists
 * with the row count the manifest says. Returns 0 even when problems were
 * found; they are counted in *c. */
int dsv_lineage_fsck(dsv_lineage *l, dsv_store *s, dsv_lineage_check *c);

/* Empties the index and rebuilds it from the objects and the lineage: the
 * objects database from every object file, the records database from every
 * dataset version, oldest first. */
int dsv_lineage_rebuild_index(dsv_lineage *l, dsv_store *s);

/* ---- models (lineage/model.c) -------------------------------------------- *
 * A model artifact's tree files: MODEL names what the model is made of (the
 * weight object, the checkpoints, the tokenizer, the data and its training
 * config) and METRICS.tsv its training curve. Every object a model needs is
 * named by a `weights` or `checkpoint` line of MODEL (gc's roots); the
 * format is in docs/train.md. The config text is kept as it is (kernels/
 * parses it; lineage/ never depends on kernels/). */

typedef struct {
	dsv_oid weights;        /* the safetensors weight object */
	dsv_aid tokenizer;      /* the tokenizer artifact */
	dsv_aid dataset;        /* the training version */
	int has_valid;
	dsv_aid valid;          /* the validation version, when has_valid */
	int vocab;              /* the tokenizer's vocabulary size */
	size_t ncheckpoints;
	dsv_oid *checkpoints;   /* owned; oldest first */
	char *config;           /* owned: canonical `key = value` lines */
} dsv_model;

/* Formats MODEL into a malloc'd NUL-terminated text. */
int dsv_model_format(const dsv_model *m, char **out, size_t *len);
/* Parses MODEL; errors name the line ("MODEL:3: ..."). *out is the
 * caller's; free it with dsv_model_free. */
int dsv_model_parse(dsv_model **out, const char *text, size_t len);
/* Reads MODEL of a model artifact; DSV_EINVAL "artifact X is not a model"
 * when the commit has no MODEL. */
int dsv_model_read(dsv_model **out, dsv_lineage *l, const dsv_aid *id);
void dsv_model_free(dsv_model *m);

/* CLASSIFIER, a classifier artifact's file (cmd/classifier.h): its weights
 * object (the one gc keeps for it) and the meta field it was trained on,
 * NUL-terminated into label. Errors are DSV_ECORRUPT and name the line. */
#define DSV_CLASSIFIER_LABEL_MAX 127
int dsv_classifier_parse(const char *text, size_t len, dsv_oid *weights,
			 char label[DSV_CLASSIFIER_LABEL_MAX + 1]);

/* One METRICS.tsv row; NAN marks a loss not measured at that step. */
typedef struct {
	int64_t step;
	int64_t tokens;     /* training tokens seen after this step */
	double train_loss;
	double val_loss;
	double seconds;     /* training seconds since the run began */
} dsv_metrics_row;

/* METRICS.tsv: a header line "step\ttokens\ttrain_loss\tval_loss\tseconds"
 * and one row per line, "-" for a missing loss. */
int dsv_metrics_format(const dsv_metrics_row *rows, size_t n, char **out,
		       size_t *len);
int dsv_metrics_parse(dsv_metrics_row **out, size_t *n, const char *text,
		      size_t len);

/* Tokens a validation curve needs to reach `loss`: the first crossing,
 * interpolated linearly between the two evaluations around it (the curve
 * is the rows with a val_loss, in order). DSV_ENOTFOUND when the curve
 * never gets that low; the first point itself when it is already there. */
int dsv_curve_tokens_to(const dsv_metrics_row *rows, size_t n, double loss,
			double *tokens);

/* dsv compare's arithmetic (docs/train.md, "Compare"). The better model
 * (lower final validation loss) is W, the other O; both reach O's final
 * loss L_O: W after T_W(L_O) tokens, O after T_O(L_O), each the first
 * crossing on its own curve (interpolated). The efficient model E is the one of the two that needed
 * fewer (W, unless W trained longer than O and needed more), and
 * k = (the other's tokens) / (E's tokens) >= 1: E gets there with 1/k of
 * the data. The break-even data share is 1 - 1/k. */
typedef struct {
	double final_loss[2];   /* A, B: last validation loss */
	double final_tokens[2]; /* tokens at that evaluation */
	double reach[2];        /* reach[0]: tokens A needs to reach B's final
				   loss; reach[1]: B to reach A's; NAN when
				   the curve never gets there */
	int better;             /* W, lower final loss: 0: A, 1: B (ties: A) */
	double need[2];         /* tokens each needed for L_O: T_W(L_O), T_O */
	int efficient;          /* E: 0: A, 1: B (ties: W) */
	double k;               /* >= 1 */
	double break_even;      /* 1 - 1/k */
} dsv_compare_result;

/* DSV_EINVAL when a curve has no validation point. */
int dsv_compare_curves(const dsv_metrics_row *a, size_t na,
		       const dsv_metrics_row *b, size_t nb,
		       dsv_compare_result *out);

/* ---- why records left (lineage/drops.c) --------------------------------- */

typedef struct {
	int found;                          /* 0: no derivation dropped it */
	unsigned step;                      /* 0: the first after `from`, ... */
	dsv_aid by;                         /* the derivation that did */
	char op[DSV_ARTIFACT_NAME_MAX];     /* its op: "filter", "dedup", ... */
	char reason[DSV_ARTIFACT_NAME_MAX]; /* its reason: "gopher_short_doc" */
	uint64_t copies;                    /* in a group: copies it dropped */
} dsv_drop;

/* Which derivations on the first-parent path from version `to` back to its
 * ancestor `from` dropped the n records h[] (by text hash; copies[i] of
 * record i left, or 1 each when copies is NULL), and why: a derivation's
 * `reason` column and its stats.reason_codes. A copy counts against the
 * oldest derivation that dropped one. With `first`, first[i] is that
 * derivation for record i (found = 0 when none did: a map that rewrote
 * it, a commit that replaced the version). With `groups`, *groups (malloc'd)
 * counts the copies per derivation and reason, oldest derivation first,
 * then the most copies. Returns 1 when `from` is on the path (with n = 0
 * that is all it says), 0 when it is not (nothing is found then), or a
 * negative code. */
int dsv_lineage_drops(dsv_lineage *l, dsv_store *s, const dsv_aid *from,
		      const dsv_aid *to, const dsv_rhash *h,
		      const uint32_t *copies, size_t n, dsv_drop *first,
		      dsv_drop **groups, size_t *ngroups);

/* ---- reachability and gc (lineage/dataset.c) ----------------------------- *
 * An object is reachable when a tree file of an artifact that a branch, a
 * tag, a remote-tracking ref or HEAD reaches names it: every shard, selection, column and order of
 * a MANIFEST, and every id listed in an OBJECTS file (one 64-hex id at the
 * start of each line), which is how models, tokenizers and other artifact
 * kinds declare their objects (docs/formats.md, "Garbage collection"). */

/* Collects the reachable object ids, and the ids of the reachable
 * tokenizers (SHA-256 of TOKENIZER, whose token arrays gc keeps for the
 * shards it keeps), each sorted and unique, into malloc'd arrays the caller
 * frees. */
int dsv_lineage_reachable(dsv_lineage *l, dsv_oid **out, size_t *n,
			  dsv_oid **toks, size_t *ntoks);

/* The store objects that the tree files of the n commits name (as for
 * reachability, token arrays aside: they are a cache), sorted and unique,
 * into a malloc'd array the caller frees: what a remote transfer copies. */
int dsv_lineage_objects_of(dsv_lineage *l, const dsv_aid *commits, size_t n,
			   dsv_oid **out, size_t *nout);

/* Adds the records of the dataset versions among the n commits to the
 * `records` index (dsv_version_index), in the order given: oldest first
 * keeps the first holder right. Other kinds are skipped. */
int dsv_lineage_index_versions(dsv_lineage *l, dsv_store *s,
			       const dsv_aid *commits, size_t n);

/* Garbage collection: takes the store lock, computes what is reachable,
 * sweeps the store (dsv_store_gc; o->keep is filled here) and, when objects
 * went, rebuilds the index so it names none of them. */
int dsv_lineage_gc(dsv_lineage *l, dsv_store *s, dsv_gc_opts *o,
		   dsv_gc_stats *st);

/* ---- remotes (lineage/remote.c) ------------------------------------------ *
 * A remote is another dsv repository on a path (a local disk or a shared
 * filesystem). It is kept in the lineage repository's own git config as
 * git keeps one (remote.NAME.url, remote.NAME.fetch
 * "+refs/heads/...:refs/remotes/NAME/..."), so git sees it too; the lineage
 * moves through libgit2 (fetch) or straight into the remote's odb (push),
 * the store objects through dsv_store_transfer (docs/remotes.md). */

/* The .dsv directory of the repository at `path` (a directory holding .dsv,
 * or a .dsv directory itself), made absolute, in a malloc'd *dsv_dir, and
 * the path a remote's url names (the repository's top directory, or the
 * .dsv directory when given that) in *url (may be NULL). DSV_ENOTFOUND
 * saying so when `path` is not a dsv repository. */
int dsv_remote_resolve(const char *path, char **dsv_dir, char **url);

typedef struct {
	char *name;
	char *url;
} dsv_remote_info;

/* The remotes, sorted by name, into a malloc'd array released with
 * dsv_remote_info_free. */
int dsv_remote_list(dsv_lineage *l, dsv_remote_info **out, size_t *n);
void dsv_remote_info_free(dsv_remote_info *r, size_t n);
/* Adds remote `name` at `url` (checked and made absolute by
 * dsv_remote_resolve). DSV_EINVAL for a bad name, DSV_EEXISTS. */
int dsv_remote_add(dsv_lineage *l, const char *name, const char *url);
/* Removes remote `name`, its remote-tracking refs and the upstream settings
 * of branches that track it, as git remote remove does. */
int dsv_remote_remove(dsv_lineage *l, const char *name);
/* The url of remote `name`, malloc'd; DSV_ENOTFOUND "no remote 'x'". */
int dsv_remote_url(dsv_lineage *l, const char *name, char **url);

/* The upstream of local branch `branch` (branch.B.remote and
 * branch.B.merge): the remote's name and the remote branch's short name,
 * malloc'd; DSV_ENOTFOUND when it has none. */
int dsv_branch_upstream(dsv_lineage *l, const char *branch, char **remote,
			char **rbranch);
int dsv_branch_set_upstream(dsv_lineage *l, const char *branch,
			    const char *remote, const char *rbranch);
/* Makes `name` what a clone has checked out: where remote `remote` has a
 * branch `name` (refs/remotes/REMOTE/NAME), a local branch there that
 * tracks it, HEAD on it (*detached = 0); else where a tag `name` exists,
 * HEAD detached at its commit (*detached = 1), as git clone --branch does.
 * DSV_ENOTFOUND "remote branch 'x' not found in upstream 'origin'". */
int dsv_remote_checkout(dsv_lineage *l, const char *remote, const char *name,
			int *detached);
/* The remotes that have a remote-tracking ref for branch `name`
 * (refs/remotes/R/NAME): how many, and the first one's name (malloc'd, NULL
 * when none) in *remote. */
int dsv_remote_tracking_find(dsv_lineage *l, const char *name, char **remote,
			     size_t *count);

enum {
	DSV_REF_UPTODATE = 0, /* nothing to do */
	DSV_REF_NEW,          /* created */
	DSV_REF_FASTFORWARD,  /* moved forward */
	DSV_REF_FORCED,       /* moved elsewhere (forced) */
	DSV_REF_REJECTED,     /* left: not a fast-forward, or a tag there */
	DSV_REF_DELETED,      /* deleted (push --delete, fetch --prune) */
};

typedef struct {
	char *src;     /* the sending side's short name: "main", "v1" */
	char *dst;     /* the full ref moved: "refs/remotes/origin/main" */
	int is_tag;
	int is_delete; /* push: delete the remote ref dst (new_id unused) */
	int status;    /* DSV_REF_* */
	int had_old;
	dsv_aid old_id, new_id;
	const char *why; /* why rejected: "non-fast-forward", ... (static) */
} dsv_ref_update;

typedef struct {
	size_t nrefs;
	dsv_ref_update *refs;   /* owned */
	uint64_t commits;       /* lineage commits new to the receiving side */
	dsv_transfer_stats objects;
	char *head;             /* fetch: the remote's current branch, or NULL */
	char *url;              /* the remote's url */
	char *index_error;      /* the refs moved but indexing failed: why
				   ('dsv fsck --rebuild-index' repairs it) */
	size_t rejected;        /* refs of status DSV_REF_REJECTED */
} dsv_remote_result;

void dsv_remote_result_free(dsv_remote_result *r);

/* How far a fetch's lineage download is (dsv_fetch_opts.lineage_progress). */
typedef struct {
	uint64_t objects;  /* lineage objects the remote sends (0: not known
			      yet) */
	uint64_t received; /* of them, here so far */
	uint64_t bytes;    /* bytes received so far */
} dsv_fetch_progress;

/* Fetches from remote `name` into the lineage `l` and store `s`: the
 * remote's branches become refs/remotes/NAME/..., forced, and its tags
 * refs/tags/... (a local tag naming another commit is kept and reported
 * rejected). Order: the lineage objects are downloaded (git_remote_download),
 * every store object the new commits reach is copied and verified, and
 * only then the refs move (compare-and-swap), so a failure leaves no ref
 * naming what did not arrive; the new versions' records are indexed last.
 * Holds `s`'s store lock from the first object to the last ref. `t` (may
 * be NULL) says how the objects are copied (threads, progress). */
typedef struct {
	dsv_transfer_opts transfer; /* how the objects are copied */
	int prune; /* 1: prune, -1: not, 0: as remote.NAME.prune or
		      fetch.prune say (git's default: not) */
	int prune_tags; /* 1: prune tags too, -1: not, 0: as
			   remote.NAME.pruneTags or fetch.pruneTags say */
	/* May be NULL. Called as the lineage objects arrive (libgit2's
	 * transfer_progress), before any store object is copied, in the
	 * caller's thread; p is valid during the call only. */
	void (*lineage_progress)(void *ctx, const dsv_fetch_progress *p);
	void *lineage_ctx;
} dsv_fetch_opts;

/* With pruning, each refs/remotes/NAME/X whose branch X the remote no
 * longer has is deleted (compare-and-swap against the value read), before
 * the other refs move, and reported DSV_REF_DELETED. With pruning and
 * prune_tags, so is each local tag the remote does not have, made here or
 * not, as git's --prune --prune-tags deletes it; prune_tags alone prunes
 * nothing (git's -P without -p). A bad boolean in either config key is
 * DSV_EINVAL naming it. `o` may be NULL (defaults). */
int dsv_remote_fetch(dsv_lineage *l, dsv_store *s, const char *name,
		     const dsv_fetch_opts *o, dsv_remote_result *out);

typedef struct {
	const char *const *branches; /* local branch names (may be NULL) */
	size_t nbranches;
	int tags;                    /* every local tag too */
	int force;                   /* move non-fast-forward too */
	int del;                     /* delete each remote ref named in
					branches (push --delete); a name
					":B" deletes B in any case */
	dsv_transfer_opts transfer;  /* how the objects are copied */
} dsv_push_opts;

/* Pushes to remote `name`: each branch to the remote branch of the same
 * name, fast-forward only unless o->force (a ref that is not one is
 * rejected and left; the others go on, as git does). Order: the remote
 * store's lock, the store objects the new commits reach copied and
 * verified, the lineage objects written into the remote's odb, then each
 * remote ref moved by compare-and-swap, then the remote's index: a push
 * stopped anywhere leaves the remote's refs old or new and its store
 * passing fsck. The local refs/remotes/NAME/... follow. */
/* A deletion ("B", "refs/heads/B", "refs/tags/T") names the remote's
 * branch B, or its tag B where no branch B exists (DSV_EINVAL when both
 * do); it is rejected when the remote has no such ref ("remote ref does not
 * exist") and, as git's receive.denyDeleteCurrent does unless the remote's
 * lineage config sets it to warn or ignore, when B is the remote's HEAD
 * ("deletion of the current branch prohibited"). Accepted deletions go
 * first, each by compare-and-swap against the value read under the lock
 * (dsv_lineage_ref_delete), and a deleted branch's refs/remotes/NAME/B
 * goes too. */
int dsv_remote_push(dsv_lineage *l, dsv_store *s, const char *name,
		    const dsv_push_opts *o, dsv_remote_result *out);

#endif
