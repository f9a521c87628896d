/* derive.h: the framework every `dsv derive OP` shares (cmd/derive.c). An op
 * file (cmd/op_<name>.c) parses its options together with the common ones,
 * registers its drop reasons, lets the framework walk the input version shard
 * by shard, and commits: one lineage commit on a new branch whose first
 * parent is the input, with dsv.json (op, params, inputs, stats, compute) and
 * a MANIFEST that is a view (selections and columns) over the input's shards.
 *
 * An op's life:
 *
 *	struct derive *d;  derive_new(&d, "filter");
 *	const struct option opts[] = { DERIVE_OPTIONS(d), ...op's own..., OPT_END() };
 *	n = parse_options(argc, argv, opts, usage);     (PARSE_EXIT on n < 0)
 *	...check the op's options: return usage_error(...) on misuse...
 *	if ((rc = derive_start(d, n, argv, opts, usage))) goto out;  (rc is an exit code)
 *	json_object_set_new(derive_params(d), "rules", ...);
 *	code = derive_reason(d, "gopher_short_doc");    (all reasons, before select)
 *	if (derive_select(d, DSV_SHARD_TEXT, my_shard_fn, ctx)) rc = die_error();
 *	else rc = derive_commit(d);
 *	out: derive_free(d); return rc;
 *
 * Under mpirun every rank runs the same op code; derive_select gives each rank
 * a slice of the manifest entries, ranks write their objects into the shared
 * store, and derive_commit gathers the new entries, stats and compute records
 * on rank 0, which alone writes the lineage commit. Ops therefore must make
 * the same derive_reason calls in the same order on every rank, and must not
 * print results themselves (derive_commit prints on rank 0).
 *
 * Only cmd/ includes this file.
 */
#ifndef DSV_CMD_DERIVE_H
#define DSV_CMD_DERIVE_H

#include <stdint.h>

#include "cmd/cmd.h"

struct derive_args {
	const char *output;  /* -o: the new branch */
	const char *message; /* -m */
	const char *device;  /* --device cpu|cuda|auto */
	long threads;        /* --threads (0: all cores) */
	int force, quiet, json;
};

/* The options every op takes; put first in the op's table. */
#define DERIVE_OPTIONS(d)                                                      \
	OPT_STRING('o', "output", &derive_args_of(d)->output, "name",          \
		   "branch for the new version (must not exist)"),             \
	OPT_STRING('m', "message", &derive_args_of(d)->message, "msg",         \
		   "the new version's message"),                               \
	OPT_BOOL(0, "force", &derive_args_of(d)->force,                        \
		 "move the branch even if it exists"),                         \
	OPT_STRING(0, "device", &derive_args_of(d)->device, "dev",             \
		   "cpu, cuda or auto (default auto)"),                        \
	OPT_INT(0, "threads", &derive_args_of(d)->threads, "n",                \
		"CPU threads (default: all cores)"),                           \
	OPT_BOOL('q', "quiet", &derive_args_of(d)->quiet, "print nothing"),    \
	OPT_BOOL(0, "json", &derive_args_of(d)->json,                          \
		 "print the result as JSON")

struct derive;

/* A new, unstarted derivation of `op` (an op name dsv_mode_for_op knows). */
int derive_new(struct derive **out, const char *op);
/* Releases everything; accepts NULL. Leaves the repository as it is (a
 * derivation that did not commit leaves only unreferenced objects). */
void derive_free(struct derive *d);
struct derive_args *derive_args_of(struct derive *d);

/* Call after parse_options with the positional arguments (exactly one: REV).
 * Checks -o and -m (usage errors: exit 2), initialises MPI when run under
 * mpirun, resolves REV and reads its MANIFEST, checks that the branch does
 * not exist (unless --force), resolves --device, starts the meter. Returns 0
 * or the command's exit status (1 or 2; the message is printed). */
int derive_start(struct derive *d, int npos, char **pos,
		 const struct option *opts, const char *usage);

/* After derive_start: the input version, its artifact id, the store. */
const dsv_manifest *derive_input(const struct derive *d);
const dsv_aid *derive_input_id(const struct derive *d);
dsv_store *derive_store(const struct derive *d);
dsv_lineage *derive_lineage(const struct derive *d);
/* DSV_DEVICE_CPU or DSV_DEVICE_CUDA (kernels/device.h). */
int derive_device(const struct derive *d);
/* CPU threads to use (--threads, default 0 = OpenMP's default). */
int derive_threads(const struct derive *d);
/* The meter (one per derive): ops add FLOPs and GPU seconds to it; records
 * and bytes are added by the framework. */
dsv_meter *derive_meter(struct derive *d);
/* dsv.json's params object (borrowed; the op fills it with its full
 * parameters) and the artifact itself, for op-specific stats. */
json_t *derive_params(struct derive *d);
dsv_artifact *derive_artifact(struct derive *d);
/* Adds a further input artifact (a classifier, another version in a mix):
 * a further parent of the commit with `role` in dsv.json's inputs. */
int derive_add_input(struct derive *d, const char *role, const dsv_aid *id);
/* MPI rank and world size (0 and 1 outside mpirun). */
int derive_rank(const struct derive *d);
int derive_nranks(const struct derive *d);

/* Registers a drop reason (datatrove's strings: "gopher_short_doc") and
 * returns its code, 1..255; the same name gives the same code. Codes follow
 * registration order, so register every reason the op can give before
 * derive_select, in a fixed order: the reason column's values and the
 * selection ids then do not depend on the data. Negative on overflow. */
int derive_reason(struct derive *d, const char *name);

/* ---- the per-shard helper ------------------------------------------------ */

#define DERIVE_MAX_NEW_COLS 16

/* What the op's callback sees for one manifest entry. */
struct derive_shard {
	struct derive *d;
	size_t entry;                   /* index in the input manifest */
	const dsv_manifest_entry *in;   /* the input entry */
	dsv_shard *shard;               /* opened with the op's columns (and
					   DSV_SHARD_HASH, for text lengths) */
	uint64_t rows;
	const dsv_selection *sel;       /* the input selection, or NULL: a row
					   it drops is not in the version and
					   the op may skip it */
	/* The op's verdict per row: 0 keeps the row, a derive_reason code
	 * drops it. Zeroed before the call; rows = `rows`. Rows the input
	 * already dropped are ignored whatever is written there. */
	uint8_t *reason;
	/* When the op sets it, the copies after the first of a repeated entry
	 * (a mix's repeats) are all dropped: for the first copy's reason, or
	 * with this code where the first copy is kept (they duplicate it:
	 * dedup). Otherwise every copy shares the row's verdict. */
	uint8_t repeat_reason;
	/* new columns (derive_shard_column) */
	size_t nnew;
	char new_names[DERIVE_MAX_NEW_COLS][64];
	dsv_column *new_cols[DERIVE_MAX_NEW_COLS];
};

/* 1 when `row` is in the input version (its selection keeps it). */
static inline int derive_row_live(const struct derive_shard *sh, uint64_t row)
{
	return !sh->sel || dsv_selection_get(sh->sel, row);
}

/* The live rows of sh with their texts side by side, for one kernel call a
 * shard: rows[0..*n) are the row indices, doc i is base[off[i] ..
 * off[i+1]). The texts are the shard's own when the live rows lie together,
 * else copied into one buffer (a call per run of consecutive live rows
 * cost a kernel's setup per run: a version with every other row dropped
 * took as long as the whole). free(*rows), free(*off) and free(*buf) when
 * done; *buf is NULL when nothing was copied. */
int derive_live_texts(struct derive_shard *sh, uint64_t **rows, size_t *n,
		      const uint8_t **base, uint64_t **off, uint8_t **buf);

/* 0 when `name` may name a column a command writes (a letter or '_', then
 * letters, digits, '_', '.' and '-', up to 63; not 'reason', the
 * framework's own, nor a name filter --where reads otherwise: text_bytes,
 * meta.*, true, false), else DSV_EINVAL with a message saying why. */
int derive_column_name_check(const char *name);

/* A new zero-filled column of sh->rows values that the framework stores
 * with the shard's entry under `name` (replacing an input column of that
 * name). The column is owned by the framework; *out is borrowed until the
 * callback returns. */
int derive_shard_column(struct derive_shard *sh, const char *name,
			dsv_col_type type, dsv_column **out);
/* Opens the input entry's column `name` (caller frees); DSV_ENOTFOUND when
 * the entry has none. */
int derive_shard_input_column(struct derive_shard *sh, const char *name,
			      dsv_column **out);

typedef int (*derive_shard_fn)(struct derive_shard *sh, void *ctx);

enum {
	DERIVE_SERIAL = 1, /* the op needs every entry in order on one process
			      (a global state such as exact dedup): under
			      mpirun rank 0 does all the work */
};

/* For each input entry of this rank's slice, in manifest order: opens the
 * shard with `cols` (DSV_SHARD_TEXT, _META, ...; 0 for none beyond hashes),
 * calls fn, then writes the result: the new selection (input selection AND
 * reason == 0; written only when a row is dropped), a `reason` u8 column
 * (only when this derivation dropped a row of the shard; an input `reason`
 * column is not carried, as its codes belong to another derivation) and the
 * new columns, and records the output entry (input columns kept). Counts
 * records and text bytes in and out, per reason, into the stats and the
 * meter. Objects are written before anything refers to them; nothing is
 * committed here. `flags`: DERIVE_SERIAL or 0. */
int derive_select(struct derive *d, unsigned cols, unsigned flags,
		  derive_shard_fn fn, void *ctx);

/* For ops that build the output manifest themselves (mix, split, sample):
 * the manifest to commit instead of derive_select's (ownership passes to
 * the framework, also on error). Records out are counted from it. */
int derive_set_output(struct derive *d, dsv_manifest *m);
/* With derive_set_output: the records and text bytes that went in (all
 * inputs) and the text bytes that came out, for the stats and summary. */
void derive_set_totals(struct derive *d, uint64_t records_in,
		       uint64_t bytes_in, uint64_t bytes_out);
/* With derive_set_output: counts a selection object `id` the op wrote, for
 * the stats' new_selections and the compute's bytes_written when the store
 * did not hold it yet (is_new). */
void derive_count_selection(struct derive *d, const dsv_oid *id, int is_new);

/* Gathers the ranks' work on rank 0, which writes dsv.json (kind dataset,
 * op, params, inputs, stats, compute with the op's mode, summed over ranks)
 * and MANIFEST (the input's order object, restricted to the kept rows when
 * a selection changed) as one lineage commit on
 * refs/heads/<output>, moved by compare-and-swap, then indexes it; prints
 * the summary. Returns the exit status (0, or 1 with the error printed). */
int derive_commit(struct derive *d);

#endif
