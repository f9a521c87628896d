/* store.h: the public interface of dsv's content-addressed store.
 *
 * Objects (shards, selections, columns, orders, token arrays, weights) are
 * named by the SHA-256 of their canonical uncompressed encoding and kept under
 * .dsv/objects as a small header plus zstd frames; an LMDB environment under
 * .dsv/index caches what the objects say. The on-disk formats are specified in
 * docs/formats.md. This module depends on neither lineage/ nor kernels/.
 *
 * Conventions: fallible functions return 0 or a negative DSV_E* code and leave
 * a message in the thread-local error (dsv_error_last). `_open`/`_new` hand an
 * object out through the first parameter; `_free` releases it and accepts NULL.
 */
#ifndef DSV_STORE_H
#define DSV_STORE_H

#include <stddef.h>
#include <stdint.h>

/* ---- errors (store/error.c) -------------------------------------------- */

enum {
	DSV_OK = 0,
	DSV_ENOTFOUND = -1, /* no such object, ref, revision or file */
	DSV_ECORRUPT = -2,  /* stored bytes do not match their id or format */
	DSV_EEXISTS = -3,   /* already exists */
	DSV_EINVAL = -4,    /* bad argument or bad input (the message says where) */
	DSV_EIO = -5,       /* an operating-system call failed */
	DSV_ENOGPU = -6,    /* a CUDA path was asked for and no device exists */
	DSV_ENOMEM = -7,    /* an allocation failed */
	DSV_ECONFLICT = -8, /* a ref moved under us (compare-and-swap lost) */
};

/* Records `code` with a printf-style message as this thread's last error and
 * returns `code`, so callers can write `return dsv_error_set(DSV_EINVAL, ...)`. */
int dsv_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "what: " (context added on the way up). */
int dsv_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* This thread's last message; never NULL; valid until the next dsv_error_set. */
const char *dsv_error_last(void);
int dsv_error_code(void);
void dsv_error_clear(void);

/* ---- fault injection (store/fault.c) ----------------------------------- *
 * Tests set DSV_FAULT=<kind>:<n> (kind: write, fsync, rename, alloc, any) to
 * make the n-th such call fail; dsv_fault_hit() is called at each site and
 * returns nonzero when that call must fail. Off unless the variable is set;
 * kill:<kind>:<n> (a crash there) and count: see store/fault.c. */
enum { DSV_FAULT_WRITE, DSV_FAULT_FSYNC, DSV_FAULT_RENAME, DSV_FAULT_ALLOC };
int dsv_fault_hit(int kind);
/* Tests only: reconfigures as if DSV_FAULT were `spec` (NULL: off) and restarts
 * the count. Not safe while other threads call dsv_fault_hit. */
void dsv_fault_reset(const char *spec);
/* malloc/realloc that honour DSV_FAULT=alloc:n; set the error on failure. */
void *dsv_malloc(size_t n);
void *dsv_realloc(void *p, size_t n);

/* ---- growable arrays (store/buf.c) -------------------------------------- *
 * Makes room for `need` elements of `elem` bytes in the malloc'd array whose
 * address is `arrp` (a T **, possibly pointing at NULL) and whose capacity in
 * elements is *cap: when need > *cap the capacity doubles, starting from
 * `first` (0: 16) when it is 0, until it holds need, and the array is
 * reallocated through dsv_realloc (so DSV_FAULT=alloc reaches it). The array
 * stays the caller's; on failure it and *cap are unchanged. New elements are
 * not initialised. Returns 0, or DSV_ENOMEM with the error set (also when
 * the size would overflow). Use it through DSV_ARRAY_GROW. */
int dsv_array_grow(void *arrp, size_t *cap, size_t need, size_t elem,
		   size_t first);
/* DSV_ARRAY_GROW(arr, cap, need, first): arr is a T * lvalue and cap a
 * size_t lvalue; the element size comes from arr's type. The sizeof check
 * refuses anything but a pointer-sized arr at compile time. */
#define DSV_ARRAY_GROW(arr, cap, need, first)                                 \
	((void)sizeof(char[sizeof(arr) == sizeof(void *) ? 1 : -1]),           \
	 dsv_array_grow(&(arr), &(cap), (need), sizeof *(arr), (first)))

/* ---- object ids (store/oid.c) ------------------------------------------ */

typedef struct {
	uint8_t b[32];
} dsv_oid;

#define DSV_OID_HEXLEN 64

/* Parses exactly 64 lowercase or uppercase hex digits (len must be 64);
 * anything else is DSV_EINVAL. Ids are checked here before touching a path. */
int dsv_oid_parse(dsv_oid *out, const char *hex, size_t len);
/* Writes 64 lowercase hex digits and a NUL. */
void dsv_oid_fmt(char out[DSV_OID_HEXLEN + 1], const dsv_oid *id);
int dsv_oid_cmp(const dsv_oid *a, const dsv_oid *b);
/* Exactly 2*n hex digits (either case) to n bytes; DSV_EINVAL naming `what`
 * ("object id") and the bad digit otherwise. */
int dsv_hex_parse(uint8_t *out, size_t n, const char *hex, size_t len,
		  const char *what);
/* n bytes as 2*n lowercase hex digits and a NUL. */
void dsv_hex_fmt(char *out, const uint8_t *b, size_t n);
int dsv_oid_is_zero(const dsv_oid *id);

/* ---- the repository's store (store/repo.c) ----------------------------- */

typedef struct dsv_store dsv_store;

/* Creates .dsv/{objects,index,tmp} and .dsv/config under `dsv_dir` (the path of
 * the .dsv directory itself). DSV_EEXISTS if it is already a store. */
int dsv_store_init(const char *dsv_dir);
/* Removes the repository at `dsv_dir` (a path ending in ".dsv") and all
 * it holds: what a failed clone made. */
int dsv_store_destroy(const char *dsv_dir);
/* Opens the store at `dsv_dir` (objects and LMDB index). A directory this
 * process cannot write (a read-only mount, or permissions) opens read-only:
 * every read works and dsv_store_writable refuses writes. */
int dsv_store_open(dsv_store **out, const char *dsv_dir);
/* 0 if the store can be written; DSV_EIO saying "repository '...' is
 * read-only" and why otherwise. Writers ask before doing any work. */
int dsv_store_writable(const dsv_store *s);
void dsv_store_free(dsv_store *s);
/* Path of the .dsv directory; borrowed, lives as long as the store. */
const char *dsv_store_dir(const dsv_store *s);
/* Finds the .dsv directory: $DSV_DIR if set, else walks up from the current
 * directory. Returns a malloc'd path the caller frees, in *out. */
int dsv_store_find(char **out);
/* Repository settings from .dsv/config ("key = value" lines): a borrowed
 * string, or NULL when unset. */
const char *dsv_store_config(const dsv_store *s, const char *key);

/* The repository lock, flock on .dsv/lock. Writers share it from before
 * they store their first object until their ref names it, so that many
 * commits, derivations and trainings run side by side; gc takes it alone
 * (dsv_store_lock_exclusive), so that it never judges an object stored but
 * not yet committed unreachable; writers that come while gc waits wait for
 * gc (.dsv/lock.gate, docs/formats.md "Locks"). A process holds it once;
 * unlock releases it and the branch locks. */
int dsv_store_lock(dsv_store *s);
int dsv_store_lock_exclusive(dsv_store *s);
/* The lock shared, for a reader that follows refs to objects and must not
 * have gc delete them under it (an artifact whose ref is deleted meanwhile
 * turns unreachable); none where the store is read-only (this process
 * cannot open the lock file, and cannot be beside a gc it could run). */
int dsv_store_lock_read(dsv_store *s);
/* The store lock (shared), then branch `branch`'s own lock, alone
 * (flock on .dsv/locks/BRANCH): the writer of a branch holds it from before
 * it reads the branch until its commit moves it, so that two writers of one
 * branch take turns, the second building on the first's commit. Refs still
 * move by compare-and-swap, for writers that do not take it. A process
 * may hold a few (split writes two branches); taking one it holds is a
 * no-op. */
#define DSV_STORE_MAX_BRANCH_LOCKS 4
int dsv_store_lock_branch(dsv_store *s, const char *branch);
/* The file for branch `branch` in the flat directory .dsv/DIR (created if
 * need be), malloc'd in *out: the name's '/' becomes ':', which a ref name
 * cannot hold, so two names never share a file (locks/, runs/). */
int dsv_store_branch_path(const dsv_store *s, const char *dir,
			  const char *branch, char **out);
void dsv_store_unlock(dsv_store *s);
/* Called before dsv_store_lock waits for another process, with the lock
 * file's path and the holder's pid (which the holder writes into that file;
 * 0 when unknown), so the command can say why it stands still. */
void dsv_store_on_lock_wait(dsv_store *s,
			    void (*fn)(const char *path, long pid));

/* ---- objects (store/object.c) ------------------------------------------ *
 * An object is a type and an ordered list of sections. Its id is the SHA-256
 * of the concatenated raw sections (the canonical encoding; each type's first
 * section starts with that type's magic). Each section is stored as its own
 * zstd frame with a content checksum, so one section can be read alone. */

typedef enum {
	DSV_OBJ_SHARD = 1,
	DSV_OBJ_SELECTION = 2,
	DSV_OBJ_COLUMN = 3,
	DSV_OBJ_ORDER = 4,
	DSV_OBJ_TOKENS = 5,
	DSV_OBJ_WEIGHTS = 6,
	DSV_OBJ_BLOB = 7,
} dsv_obj_type;

const char *dsv_obj_type_name(dsv_obj_type t);

typedef struct {
	const void *data;
	size_t len;
} dsv_section;

typedef struct {
	dsv_obj_type type;
	uint64_t raw_size;    /* sum of raw section sizes */
	uint64_t stored_size; /* size of the file on disk */
	uint64_t rows;        /* rows for shards, selections, columns; else 0 */
} dsv_obj_info;

/* The level that asks for the store's default compression: config
 * `compression.level` (1 when unset) with long-distance matching over a
 * window of 2^`compression.window` bytes (26 when unset, so one 64 MiB shard
 * column is one window; 0 turns it off) for sections of 4 MiB or more, like
 * `zstd -1 --long=26`. Web corpora repeat documents and boilerplate far apart,
 * which a plain level-1 window never sees. Any other level is exactly zstd's
 * level, without long matching. */
#define DSV_DEFAULT_LEVEL 0

/* Writes an object: compresses each section (in parallel where it pays),
 * hashes, writes to .dsv/tmp, fsyncs, renames into objects/ab/cdef..., fsyncs
 * the directory and records it in the index. If the object already exists
 * nothing is written and *is_new is 0. `rows` goes into the index. */
int dsv_obj_write(dsv_store *s, dsv_obj_type type, const dsv_section *secs,
		  int nsecs, uint64_t rows, int level, dsv_oid *out, int *is_new);

/* How many threads zstd may use for the large sections of objects this
 * thread writes: 0 (the default) for every online core, 1 for none beside
 * it. A caller that writes several objects at once, one per thread, sets 1. */
void dsv_obj_set_threads(int n);

typedef struct dsv_obj dsv_obj;

/* Opens a stored object (reads and checks its header and section table). */
int dsv_obj_open(dsv_obj **out, dsv_store *s, const dsv_oid *id);
void dsv_obj_free(dsv_obj *o);
dsv_obj_type dsv_obj_get_type(const dsv_obj *o);
int dsv_obj_nsections(const dsv_obj *o);
uint64_t dsv_obj_section_size(const dsv_obj *o, int i);
/* Decompresses section i into a malloc'd buffer the caller frees. The frame's
 * checksum is verified; DSV_ECORRUPT names the object on mismatch. */
int dsv_obj_read_section(dsv_obj *o, int i, void **out, size_t *len);
/* Decompresses every section, recomputes the SHA-256 and compares it with the
 * id. `secs_out` (optional) receives the malloc'd sections (free each and the
 * array). DSV_ECORRUPT names the object on mismatch. */
int dsv_obj_read_all(dsv_obj *o, void ***secs_out, size_t **lens_out);
int dsv_obj_exists(dsv_store *s, const dsv_oid *id);
/* Path of an object's file; malloc'd. */
int dsv_obj_path(dsv_store *s, const dsv_oid *id, char **out);
/* Calls fn for every object file under objects/ (fsck, gc, rebuild-index). */
int dsv_obj_foreach(dsv_store *s, int (*fn)(const dsv_oid *id, void *ctx),
		    void *ctx);
/* Full check of one object: header, every frame, SHA-256 against the id, and
 * the type's own decoder. */
int dsv_obj_verify(dsv_store *s, const dsv_oid *id, dsv_obj_info *info);

/* ---- copying objects between stores (store/transfer.c) ------------------ *
 * What remotes (clone, fetch, push) move: each object's stored file as it
 * is (header and zstd frames, never recompressed), written to the
 * destination's tmp/, checked against its id there (every frame, the
 * SHA-256 and the type's decoder, as dsv_obj_verify), fsynced, renamed
 * into objects/ and recorded in the destination's index. A damaged source
 * object fails the copy with DSV_ECORRUPT naming it and never lands. */

/* Copies object `id` from `src` into `dst`: 1 when copied (*bytes: its
 * stored size), 0 when `dst` has it already (its file is freshened, as
 * dsv_obj_write does), or an error naming the object (DSV_ENOTFOUND when
 * `src` lacks it). The caller holds `dst`'s store lock. */
int dsv_obj_copy(dsv_store *dst, dsv_store *src, const dsv_oid *id,
		 uint64_t *bytes);

typedef struct {
	uint64_t objects;       /* asked for */
	uint64_t present;       /* the destination had them */
	uint64_t copied, bytes; /* copied, and their stored bytes */
} dsv_transfer_stats;

typedef struct {
	/* Objects copied at once, each by its own thread; 0: the online
	 * cores, at most 8; never more than 64 or n. 1 copies them in turn,
	 * in the caller's thread, in the order given (what DSV_FAULT sweeps
	 * need). */
	int jobs;
	/* May be NULL. Called after each object (present + copied of
	 * st->objects), from whichever thread finished it, one call at a
	 * time; st is valid during the call only. */
	void (*progress)(void *ctx, const dsv_transfer_stats *st);
	void *ctx;
} dsv_transfer_opts;

/* dsv_obj_copy for each of the n ids, o->jobs at a time (o may be NULL);
 * the index learns the copied objects in one transaction once all are
 * done. The first error stops the copy (the objects being copied finish)
 * and is the one returned, naming its object; what landed before it is
 * indexed and stays, unreferenced until a ref names it. A kill leaves
 * each landed object whole, indexed or not ('dsv fsck --rebuild-index'
 * adds it). The caller holds `dst`'s store lock. */
int dsv_store_transfer(dsv_store *dst, dsv_store *src, const dsv_oid *ids,
		       size_t n, const dsv_transfer_opts *o,
		       dsv_transfer_stats *st);

/* ---- shards (store/shard.c) --------------------------------------------- *
 * A shard holds records column by column: text bytes, text offsets (u64,
 * n+1), meta bytes, meta offsets (u64, n+1), a 16-byte XXH3-128 of each
 * record's text, and a u32 layout word per record (how the record's source
 * line is rebuilt on export; see store/jsonl.c and docs/formats.md). */

/* Writers (commit, repack, the new-text derivations) close a shard once its
 * text and meta reach this many bytes (dsv_shard_builder_bytes). */
#define DSV_SHARD_TARGET_BYTES (64u << 20)

typedef struct {
	uint8_t b[16];
} dsv_rhash;

/* XXH3-128 of the text bytes, stored big-endian (high 64 bits first) so the
 * hex form reads like xxhsum's. */
void dsv_rhash_text(dsv_rhash *out, const void *text, size_t len);
void dsv_rhash_fmt(char out[33], const dsv_rhash *h);
int dsv_rhash_parse(dsv_rhash *out, const char *hex, size_t len);

typedef struct dsv_shard_builder dsv_shard_builder;

int dsv_shard_builder_new(dsv_shard_builder **out);
void dsv_shard_builder_free(dsv_shard_builder *b);
void dsv_shard_builder_reset(dsv_shard_builder *b);
/* Appends one record; `hash` may be NULL (computed here). */
int dsv_shard_builder_add(dsv_shard_builder *b, const char *text, size_t tlen,
			  const char *meta, size_t mlen, uint32_t layout,
			  const dsv_rhash *hash);
/* Makes room for `text` bytes of text and `meta` bytes of meta before the
 * first add, so a builder filled to a known target grows no buffer (each
 * doubling of a large buffer copies it into freshly faulted pages). */
int dsv_shard_builder_reserve(dsv_shard_builder *b, uint64_t text,
			      uint64_t meta);
uint64_t dsv_shard_builder_rows(const dsv_shard_builder *b);
/* The text and meta bytes added so far: what writers cut shards on (a
 * record's meta may outweigh its text: a synth record keeps its prompt). */
uint64_t dsv_shard_builder_bytes(const dsv_shard_builder *b);
/* A shard object has this many sections: header, text, text offsets, meta,
 * meta offsets, hashes, layout words (docs/formats.md). */
#define DSV_SHARD_NSECS 7
/* Fills secs with the shard's canonical encoding; the sections are borrowed
 * from the builder until its next add, reset or free. */
void dsv_shard_builder_sections(dsv_shard_builder *b,
				dsv_section secs[DSV_SHARD_NSECS]);
/* Encodes and writes the shard as an object (dsv_obj_write). */
int dsv_shard_builder_write(dsv_shard_builder *b, dsv_store *s, int level,
			    dsv_oid *out, int *is_new);

typedef struct dsv_shard dsv_shard;

/* Which columns to decode. Reading every column verifies the SHA-256 against
 * the id and each record hash against its text; a partial read is checked
 * by the zstd frame checksums only. DSV_SHARD_NOVERIFY asks for a read of
 * every column to be checked like a partial one: for a reader that streams
 * records on (map, export-like paths) and trusts stored objects as export
 * does; `dsv fsck` still checks everything. */
enum {
	DSV_SHARD_TEXT = 1,
	DSV_SHARD_META = 2,
	DSV_SHARD_HASH = 4,
	DSV_SHARD_LAYOUT = 8,
	DSV_SHARD_ALL = 15,
	DSV_SHARD_NOVERIFY = 16,
};

int dsv_shard_open(dsv_shard **out, dsv_store *s, const dsv_oid *id,
		   unsigned cols);
/* Decodes a shard from its raw sections (used by dsv_shard_open, the fuzzer
 * and fsck); borrows nothing after return. secs[i] must be malloc'd; on
 * success the shard takes the sections it keeps and sets those secs[i] to
 * NULL, and the caller frees the rest (on failure, all of them). Sections
 * that `cols` does not need may be NULL, but lens[i] must still be their
 * size. DSV_ECORRUPT on any inconsistency. */
int dsv_shard_decode(dsv_shard **out, void **secs, const size_t *lens,
		     int nsecs, unsigned cols);
void dsv_shard_free(dsv_shard *sh);
uint64_t dsv_shard_rows(const dsv_shard *sh);
/* Borrowed pointers into the shard, valid until dsv_shard_free. Each column
 * must have been asked for at open. */
const char *dsv_shard_text(const dsv_shard *sh, uint64_t row, size_t *len);
const char *dsv_shard_meta(const dsv_shard *sh, uint64_t row, size_t *len);
const dsv_rhash *dsv_shard_hash(const dsv_shard *sh, uint64_t row);
uint32_t dsv_shard_layout(const dsv_shard *sh, uint64_t row);
/* Length of a row's text; works when DSV_SHARD_TEXT or DSV_SHARD_HASH was
 * asked for (the text offsets are decoded with either). */
uint64_t dsv_shard_text_len(const dsv_shard *sh, uint64_t row);
/* The rows of shard `id` whose record hash is `h`, in row order, from its
 * header and hash column alone (16 bytes a row: no text, no offsets),
 * checked by the zstd frame checksum like a partial dsv_shard_open. On
 * success *rows is malloc'd for the caller (NULL when *n is 0). Safe to
 * call from several threads at once. */
int dsv_shard_find(dsv_store *s, const dsv_oid *id, const dsv_rhash *h,
		   uint64_t **rows, size_t *n);

/* What dsv_shards_find found in one shard: the rows holding the hash. */
typedef struct {
	uint64_t *rows; /* malloc'd; NULL when n is 0 */
	size_t n;
} dsv_shard_hits;

/* dsv_shard_find over n shards, read by a few threads at once (store/find.c).
 * On success *hits is an array of n, hits[i] for ids[i], which the caller
 * frees with dsv_shard_hits_free. On failure nothing is handed out, and the
 * error is that of the first shard in ids that failed. */
int dsv_shards_find(dsv_store *s, const dsv_oid *ids, size_t n,
		    const dsv_rhash *h, dsv_shard_hits **hits);
void dsv_shard_hits_free(dsv_shard_hits *hits, size_t n); /* NULL is fine */

/* ---- selections (store/selection.c) ------------------------------------ *
 * A bitmap over one shard's rows: which rows a version keeps. */

typedef struct dsv_selection dsv_selection;

int dsv_selection_new(dsv_selection **out, uint64_t rows);
void dsv_selection_free(dsv_selection *sel);
void dsv_selection_set(dsv_selection *sel, uint64_t row, int keep);
int dsv_selection_get(const dsv_selection *sel, uint64_t row);
uint64_t dsv_selection_rows(const dsv_selection *sel);
uint64_t dsv_selection_count(const dsv_selection *sel); /* rows kept */
int dsv_selection_write(dsv_selection *sel, dsv_store *s, const dsv_oid *shard,
			dsv_oid *out, int *is_new);
int dsv_selection_open(dsv_selection **out, dsv_store *s, const dsv_oid *id,
		       dsv_oid *shard_out);
/* Decodes a selection from its two raw sections (header, bitmap); copies
 * what it keeps, so the caller still owns and frees secs. `shard_out` may be
 * NULL. DSV_ECORRUPT on any inconsistency. */
int dsv_selection_decode(dsv_selection **out, void **secs, const size_t *lens,
			 int nsecs, dsv_oid *shard_out);
/* Fills hdr (DSV_SELECTION_HEADER bytes, caller's) and secs with the
 * canonical encoding; secs[1] borrows sel's bitmap. */
#define DSV_SELECTION_HEADER 56
void dsv_selection_sections(const dsv_selection *sel, const dsv_oid *shard,
			    uint8_t hdr[DSV_SELECTION_HEADER],
			    dsv_section secs[2]);

/* ---- columns (store/column.c) ------------------------------------------ *
 * A typed array with one value per row of one shard: a score, a tier, a
 * token count, the reason a filter dropped a row. Values are little-endian;
 * dsv builds only on little-endian hosts (checked at compile time). */

typedef enum {
	DSV_COL_U8 = 1,
	DSV_COL_I32 = 2,
	DSV_COL_F32 = 3,
	DSV_COL_U64 = 4,
} dsv_col_type;

typedef struct dsv_column dsv_column;

/* "u8", "i32", "f32", "u64"; NULL for an unknown type. */
const char *dsv_col_type_name(dsv_col_type t);
size_t dsv_col_type_size(dsv_col_type t);
/* A zero-filled column of `rows` values. */
int dsv_column_new(dsv_column **out, dsv_col_type type, uint64_t rows);
void dsv_column_free(dsv_column *c);
dsv_col_type dsv_column_type(const dsv_column *c);
uint64_t dsv_column_rows(const dsv_column *c);
/* The values, rows * dsv_col_type_size(type) bytes; borrowed. */
void *dsv_column_data(dsv_column *c);
const void *dsv_column_cdata(const dsv_column *c);
/* One value as a double (u64 above 2^53 rounds). */
double dsv_column_get(const dsv_column *c, uint64_t row);
/* Stores the column for `shard`; the id depends on shard, type and values
 * only, not on the name a manifest gives it. */
int dsv_column_write(const dsv_column *c, dsv_store *s, const dsv_oid *shard,
		     dsv_oid *out, int *is_new);
int dsv_column_open(dsv_column **out, dsv_store *s, const dsv_oid *id,
		    dsv_oid *shard_out);
/* Decodes from the raw sections (header, values); copies; `shard_out` may
 * be NULL. DSV_ECORRUPT on any inconsistency. */
int dsv_column_decode(dsv_column **out, void **secs, const size_t *lens,
		      int nsecs, dsv_oid *shard_out);

/* ---- manifests (store/manifest.c) --------------------------------------- *
 * The ordered list of entries that makes a dataset version; a text file kept
 * in the lineage tree as MANIFEST, diffable with git. */

typedef struct {
	char name[64];
	dsv_oid id;
} dsv_manifest_col;

typedef struct {
	dsv_oid shard;
	uint64_t rows;    /* rows in the shard */
	int has_sel;
	dsv_oid sel;      /* selection, when has_sel */
	uint64_t kept;    /* rows the selection keeps (== rows without one) */
	uint32_t repeat;  /* repeat count in a mix; 1 otherwise */
	size_t ncols;
	dsv_manifest_col *cols;
} dsv_manifest_entry;

typedef struct {
	size_t n, cap;
	dsv_manifest_entry *e;
	int has_order;
	dsv_oid order;
} dsv_manifest;

int dsv_manifest_new(dsv_manifest **out);
void dsv_manifest_free(dsv_manifest *m);
/* Appends a copy of `e` (columns are copied too). */
int dsv_manifest_add(dsv_manifest *m, const dsv_manifest_entry *e);
/* Parses MANIFEST text; errors name the line ("MANIFEST:3: ..."). */
int dsv_manifest_parse(dsv_manifest **out, const char *text, size_t len);
/* Formats into a malloc'd NUL-terminated string. */
int dsv_manifest_format(const dsv_manifest *m, char **out, size_t *len);
uint64_t dsv_manifest_records(const dsv_manifest *m); /* sum kept*repeat */

/* ---- index (store/index.c): the LMDB cache ------------------------------ */

typedef struct {
	uint8_t commit[20]; /* lineage commit (artifact) that first held it */
	dsv_oid shard;
	uint64_t row;
} dsv_record_loc;

int dsv_index_get_object(dsv_store *s, const dsv_oid *id, dsv_obj_info *out);
int dsv_index_put_object(dsv_store *s, const dsv_oid *id,
			 const dsv_obj_info *info);
/* Records n objects in one write transaction (one sync, not n): all or
 * none of them. */
int dsv_index_put_objects(dsv_store *s, const dsv_oid *ids,
			  const dsv_obj_info *infos, size_t n);
/* Looks up where a record (by text hash) was first stored. */
int dsv_index_get_record(dsv_store *s, const dsv_rhash *h, dsv_record_loc *out);
/* The record hash that hex[0, len) (4 to 32 hex digits) starts, as git
 * takes a short id: DSV_ENOTFOUND when no record in the records index
 * starts so, DSV_EINVAL when hex is not such a prefix or is ambiguous (the
 * message names two records it fits). */
int dsv_index_find_record(dsv_store *s, const char *hex, size_t len,
			  dsv_rhash *out);
/* How many of n record hashes have no entry, in one read transaction. */
int dsv_index_records_missing(dsv_store *s, const dsv_rhash *hashes, size_t n,
			      uint64_t *missing);
/* Records first locations for a batch (existing keys are left as they are),
 * in one write transaction. */
int dsv_index_put_records(dsv_store *s, const dsv_rhash *hashes,
			  const dsv_record_loc *locs, size_t n);
/* Drops every database's contents (for --rebuild-index); with keep_tokens,
 * all but the `tokens` database's (gc: its entries name arrays that other
 * processes may be reading, and one whose array is gone is a miss). */
int dsv_index_clear(dsv_store *s, int keep_tokens);

/* ---- record readers (store/reader.c) ------------------------------------ *
 * Streams records out of .jsonl, .jsonl.gz, .jsonl.zst and text files.
 * Memory is bounded by the largest record, not by the file. */

enum { DSV_TEXT_FILE, DSV_TEXT_LINE, DSV_TEXT_PARAGRAPH };

typedef struct {
	const char *text_field; /* default "text" */
	int text_mode;          /* for plain text files */
	int skip_bad;           /* skip bad records instead of failing */
	int stdin_text;         /* "-" is plain text (text_mode), not JSONL */
} dsv_reader_opts;

typedef struct {
	const char *text; /* UTF-8, not NUL-terminated */
	size_t text_len;
	const char *meta; /* JSON object text, see the layout word */
	size_t meta_len;
	uint32_t layout;  /* how to rebuild the source line (store/jsonl.c) */
	uint64_t line;    /* 1-based line of the record in its file */
} dsv_record;

typedef struct dsv_reader dsv_reader;

int dsv_reader_open(dsv_reader **out, const char *path,
		    const dsv_reader_opts *opts);
void dsv_reader_free(dsv_reader *r);
/* Next record: 1 and *rec filled (borrowed until the next call), 0 at end of
 * input, or a negative code with a message "'file':line:col: what". With
 * skip_bad, bad records are counted and skipped instead. */
int dsv_reader_next(dsv_reader *r, dsv_record *rec);
uint64_t dsv_reader_bad(const dsv_reader *r);          /* records skipped */
/* The first skipped records' messages (up to 10), borrowed. */
size_t dsv_reader_bad_list(const dsv_reader *r, const char *const **msgs);
uint64_t dsv_reader_bytes_in(const dsv_reader *r);     /* bytes read from disk */
/* Reads records from memory (borrowed until dsv_reader_free) as if from a
 * file called `name`, whose extension picks the format (the fuzzer, tests). */
int dsv_reader_open_mem(dsv_reader **out, const char *name, const void *data,
			size_t len, const dsv_reader_opts *opts);

/* One JSONL line at a time, parsed where the caller holds it (no copy of
 * the line): for callers that already have lines in memory, such as map
 * reading a program's answers. Text, meta and layout are what dsv_reader
 * would make of the same line in a .jsonl file. */
typedef struct dsv_line_parser dsv_line_parser;

/* Bytes past a line's end that dsv_line_parse may read (never write). */
#define DSV_LINE_PAD 64

/* `text_field` NULL means "text"; copied. */
int dsv_line_parser_new(dsv_line_parser **out, const char *text_field);
void dsv_line_parser_free(dsv_line_parser *p);
/* Parses line[0..len), which holds no '\n'; line[len] must be a byte below
 * 0x20 (its '\n') and DSV_LINE_PAD bytes from line + len readable. 1 and
 * *rec (rec->line is 0; pointers borrowed until the next call), 0 for a
 * line of JSON whitespace only, DSV_EINVAL with a message "col N: what" for
 * anything but a JSON object with a string text field, or DSV_ENOMEM. */
int dsv_line_parse(dsv_line_parser *p, const char *line, size_t len,
		   dsv_record *rec);

/* ---- record writer (store/jsonl.c) --------------------------------------- *
 * Rebuilds a record's source line from text, meta and layout: byte for byte
 * the input line when the input used one of the escaping styles the layout
 * word can name (see docs/formats.md). */

typedef struct {
	char *buf;
	size_t len, cap;
} dsv_buf;

int dsv_buf_grow(dsv_buf *b, size_t extra);
int dsv_buf_append(dsv_buf *b, const void *p, size_t n);
void dsv_buf_free(dsv_buf *b);

/* The layout word (docs/records.md): bits 0..27 are the byte offset in meta
 * where the escaped text goes (just after the placeholder's opening quote);
 * the high bits name the text's escaping style. */
#define DSV_LAYOUT_OFFSET_MASK 0x0FFFFFFFu
#define DSV_LAYOUT_ASCII 0x10000000u    /* non-ASCII and DEL as \uxxxx */
#define DSV_LAYOUT_SLASH 0x20000000u    /* '/' as \/ */
#define DSV_LAYOUT_PLAIN 0x40000000u    /* from a text file; meta is empty */
#define DSV_LAYOUT_NONCANON 0x80000000u /* input escaping not reproducible */

/* Appends the record as one JSONL line (with its '\n'). A plain-text record
 * becomes {"text":"..."}. DSV_ECORRUPT when the layout does not fit meta. */
int dsv_jsonl_format(dsv_buf *out, const char *text, size_t tlen,
		     const char *meta, size_t mlen, uint32_t layout);
/* Appends the record's meta as a JSON object without the text member. */
int dsv_jsonl_meta(dsv_buf *out, const char *meta, size_t mlen,
		   uint32_t layout);

/* ---- ingest (store/ingest.c) -------------------------------------------- *
 * Turns input files into shards: parses, hashes and fills shards of about
 * DSV_SHARD_TARGET_BYTES of text and meta on the calling thread while a
 * writer thread encodes, compresses and stores the previous shard. */

typedef struct {
	dsv_reader_opts reader;
	int level;            /* zstd level; 0: the store's default */
	uint64_t shard_bytes; /* text and meta per shard; 0: the target */
	/* The version this one replaces or extends (may be NULL): each of its
	 * rows is a reuse candidate besides the `records` index's first
	 * location, so records whose text repeats with other meta are found
	 * too. Borrowed for the call. */
	const dsv_manifest *parent;
	/* Called now and then from the parsing thread with bytes read so far
	 * over all files; may be NULL. */
	void (*progress)(void *ctx, uint64_t bytes_read);
	void *progress_ctx;
} dsv_ingest_opts;

typedef struct {
	uint64_t files;
	uint64_t records;        /* records stored in the version */
	uint64_t text_bytes, meta_bytes;
	uint64_t bytes_read;     /* from disk (compressed input counts as is) */
	uint64_t bytes_written;  /* object bytes newly written */
	uint64_t shards, shards_new;
	uint64_t records_known;  /* records whose text the repository held */
	uint64_t records_reused; /* of them, referred to where they are stored
				    (text, meta and layout equal) */
	uint64_t records_stored; /* records written into new shards */
	int has_order;           /* the version needed an order object */
	uint64_t records_bad;    /* skipped with skip_bad */
	size_t nbad_msgs;
	char bad_msgs[10][256];  /* the first skipped records' messages */
} dsv_ingest_stats;

/* Reads every file in order and appends the version's entries to `m`, whose
 * entries (and order, if any) already there are the version's first records
 * (--append). A record the `records` index knows, whose stored copy has the
 * same meta and layout, is referred to through a selection over its shard;
 * only other records go into new shards; an order object keeps the input's
 * record order where plain entry order would not (docs/formats.md, "Reuse").
 * On error nothing is referenced: objects already written stay unreferenced
 * (gc collects them) and `m` may hold a partial list the caller drops. */
int dsv_ingest(dsv_store *s, const char *const *paths, size_t npaths,
	       const dsv_ingest_opts *o, dsv_manifest *m, dsv_ingest_stats *st);

/* ---- versions (store/version.c) ----------------------------------------- *
 * Reads a dataset version (a manifest) record by record, in order: entries in
 * manifest order, repeated `repeat` times, rows a selection keeps. The next
 * shard is decoded on a second thread while the caller works. */

typedef struct dsv_version_iter dsv_version_iter;

typedef struct {
	const char *text;
	size_t text_len;
	const char *meta;
	size_t meta_len;
	uint32_t layout;
	const dsv_rhash *hash;
	size_t entry;  /* manifest entry */
	uint64_t row;  /* row in that entry's shard */
} dsv_version_rec;

/* `cols` as for dsv_shard_open: DSV_SHARD_HASH alone reads no text. The
 * iterator borrows `s` and `m`, which must outlive it. */
int dsv_version_iter_new(dsv_version_iter **out, dsv_store *s,
			 const dsv_manifest *m, unsigned cols);
/* 1 and *rec (borrowed until the next call), 0 at the end, or an error. */
int dsv_version_iter_next(dsv_version_iter *it, dsv_version_rec *rec);
void dsv_version_iter_free(dsv_version_iter *it);

enum { DSV_EXPORT_JSONL, DSV_EXPORT_TEXT };

/* Writes the version to `fd`: JSONL lines rebuilt byte for byte, or each
 * text followed by a newline unless it ends in one ("text"). `limit` 0 means
 * all records. Adds the bytes written to *bytes_out when not NULL. */
int dsv_version_export(dsv_store *s, const dsv_manifest *m, int format,
		       uint64_t limit, int fd, uint64_t *bytes_out);

/* Records in the `records` index where each of the version's records first
 * appeared (existing entries are kept), reading only the hash columns. */
int dsv_version_index(dsv_store *s, const dsv_manifest *m,
		      const uint8_t commit[20]);

/* ---- diff (store/diff.c) ------------------------------------------------- *
 * Two versions compared as multisets of record hashes: reads hash columns
 * and offsets only, never text. */

typedef struct {
	uint64_t a_records, b_records;
	uint64_t common;                 /* records in both (with multiplicity) */
	uint64_t added, added_bytes;     /* in B, not in A: count, text bytes */
	uint64_t removed, removed_bytes; /* in A, not in B */
	dsv_rhash *added_list;           /* with `list`: each hash once, in B's
					    order; malloc'd */
	size_t nadded_list;
	dsv_rhash *removed_list;         /* in A's order */
	uint32_t *removed_copies;        /* per removed_list hash: how many of
					    its copies left */
	size_t nremoved_list;
} dsv_diff;

int dsv_version_diff(dsv_store *s, const dsv_manifest *a,
		     const dsv_manifest *b, int list, dsv_diff *out);
void dsv_diff_free(dsv_diff *d);

/* ---- orders (store/order.c) --------------------------------------------- *
 * The permutation mapping a version's record positions to (manifest entry,
 * shard row), as runs of consecutive rows of one entry (docs/formats.md). */

typedef struct {
	uint64_t entry; /* manifest entry, 0-based */
	uint64_t start; /* first shard row */
	uint64_t count; /* rows start .. start+count-1, >= 1 */
} dsv_order_run;

typedef struct {
	uint64_t entries;   /* entries of the manifest it was made for */
	uint64_t positions; /* records: the sum of the counts */
	size_t nruns, cap;
	dsv_order_run *runs; /* owned */
} dsv_order;

int dsv_order_new(dsv_order **out, uint64_t entries);
void dsv_order_free(dsv_order *o);
/* Appends one position / a run, merged into the last run when it continues
 * it (so the encoding stays canonical). */
int dsv_order_push(dsv_order *o, uint64_t entry, uint64_t row);
int dsv_order_push_run(dsv_order *o, uint64_t entry, uint64_t start,
		       uint64_t count);
int dsv_order_write(const dsv_order *o, dsv_store *s, dsv_oid *out,
		    int *is_new);
int dsv_order_open(dsv_order **out, dsv_store *s, const dsv_oid *id);
/* Decodes from the raw sections (header, runs); copies. DSV_ECORRUPT on any
 * inconsistency: entries out of range, empty or non-canonical runs, counts
 * that do not add up. Rows are checked against shards by dsv_order_check. */
int dsv_order_decode(dsv_order **out, void **secs, const size_t *lens,
		     int nsecs);
/* The plain entry order of m's entries [first, last) as runs, numbered from
 * `entry_base` (reads their selections). */
int dsv_order_default(dsv_order **out, dsv_store *s, const dsv_manifest *m,
		      size_t first, size_t last, uint64_t entry_base);
/* Checks an order against its manifest: entry count, positions equal to the
 * manifest's records, rows in range, and every row an entry keeps used
 * exactly `repeat` times (others never). DSV_ECORRUPT saying what. */
int dsv_order_check(const dsv_order *o, dsv_store *s, const dsv_manifest *m);

/* ---- building a version (store/vbuild.c) --------------------------------- *
 * Collects a version record by record, each either a row of a stored shard
 * (reuse) or the next row of a shard being written, and turns that into
 * manifest entries (one per shard, first use first; a second use of a row
 * opens another entry on the same shard), selections and, where plain entry
 * order differs from the record order, an order object. */

typedef struct dsv_vbuild dsv_vbuild;

int dsv_vbuild_new(dsv_vbuild **out, dsv_store *s);
void dsv_vbuild_free(dsv_vbuild *v);
/* The next record is row `row` of stored shard `shard` of `rows` rows. */
int dsv_vbuild_ref(dsv_vbuild *v, const dsv_oid *shard, uint64_t rows,
		   uint64_t row);
/* The next record is row `row` of the k-th new shard (k from 0, rows from 0,
 * both in sequence). */
int dsv_vbuild_add_new(dsv_vbuild *v, size_t k, uint64_t row);
uint64_t dsv_vbuild_records(const dsv_vbuild *v);
/* The entry the last record went to, numbered from 0 in the order
 * dsv_vbuild_finish appends them (after the entries already in its `m`);
 * (size_t)-1 before the first record. Lets a caller attach columns. */
size_t dsv_vbuild_last_entry(const dsv_vbuild *v);
/* 1 when row `row` of stored shard `shard` is already one of the records. */
int dsv_vbuild_uses(const dsv_vbuild *v, const dsv_oid *shard, uint64_t row);

typedef struct {
	uint64_t entries;       /* entries added */
	uint64_t objects_new;   /* selections and orders newly written */
	uint64_t bytes_written; /* their stored bytes */
	int has_order;
} dsv_vbuild_stats;

/* Writes selections and the order object and appends the entries to `m`.
 * Entries already in `m` (and its order, if it has one) are the version's
 * first records (--append); the order then covers them too. new_ids[k],
 * new_rows[k]: the k-th new shard's id and rows. */
int dsv_vbuild_finish(dsv_vbuild *v, const dsv_oid *new_ids,
		      const uint64_t *new_rows, size_t nnew, dsv_manifest *m,
		      dsv_vbuild_stats *st);

/* ---- token arrays (store/tokens.c) ------------------------------------- *
 * The tokens of every row of one shard under one tokenizer, with per-row
 * offsets (docs/formats.md, "Token array"): stored for the WHOLE shard so
 * that any selection or order over it reuses them. A tokenizer is named by
 * the SHA-256 of its TOKENIZER file (docs/tokenizer.md). Tokens are u16
 * when the vocabulary has at most 65536 tokens, else u32. No special token
 * is stored; readers add <|endoftext|> (id vocab - 1) between documents. */

#define DSV_TOKENS_HEADER 104

/* A tokenizer's id: the SHA-256 of its TOKENIZER file's bytes, so equal
 * tokenizers share cached tokens whichever artifact holds them. */
int dsv_tokenizer_id(const void *text, size_t len, dsv_oid *out);

typedef struct dsv_tokens dsv_tokens;

/* Writes the token array of `shard`: `rows` rows whose tokens are
 * ids[off[r] .. off[r+1]) (off has rows+1 entries); every id must be below
 * `vocab`. DSV_EINVAL otherwise. The index is not touched (see
 * dsv_index_put_tokens). */
int dsv_tokens_write(dsv_store *s, const dsv_oid *shard,
		     const dsv_oid *tokenizer, uint32_t vocab, uint64_t rows,
		     const uint64_t *off, const uint32_t *ids, dsv_oid *out,
		     int *is_new);
/* Reads and verifies a token array object. */
int dsv_tokens_open(dsv_tokens **out, dsv_store *s, const dsv_oid *id);
/* The shard and tokenizer of a token array, from its header alone (gc).
 * DSV_EINVAL when the object is of another type. */
int dsv_tokens_peek(dsv_store *s, const dsv_oid *id, dsv_oid *shard,
		    dsv_oid *tokenizer);
/* Decodes from the three raw sections (header, offsets, tokens); copies,
 * so the caller still owns secs. DSV_ECORRUPT on any inconsistency (bad
 * header, offsets that decrease or do not span the tokens, a token not
 * below the vocabulary size). */
int dsv_tokens_decode(dsv_tokens **out, void **secs, const size_t *lens,
		      int nsecs);
void dsv_tokens_free(dsv_tokens *t);
uint64_t dsv_tokens_rows(const dsv_tokens *t);
uint64_t dsv_tokens_count(const dsv_tokens *t);  /* all rows' tokens */
uint32_t dsv_tokens_vocab(const dsv_tokens *t);  /* eot is vocab - 1 */
uint32_t dsv_tokens_width(const dsv_tokens *t);  /* 2 or 4 bytes */
/* Borrowed, valid until dsv_tokens_free. */
const dsv_oid *dsv_tokens_shard(const dsv_tokens *t);
const dsv_oid *dsv_tokens_tokenizer(const dsv_tokens *t);
/* Tokens in a row (0 past the end); copies them as u32 into out, which
 * has room for dsv_tokens_row_len. */
uint64_t dsv_tokens_row_len(const dsv_tokens *t, uint64_t row);
void dsv_tokens_row(const dsv_tokens *t, uint64_t row, uint32_t *out);

/* The `tokens` index: (shard, tokenizer) -> token array id. get returns
 * DSV_ENOTFOUND when absent. dsv_tokens_find is get plus a check that the
 * object is stored (a cache entry whose object is gone is a miss). */
int dsv_index_get_tokens(dsv_store *s, const dsv_oid *shard,
			 const dsv_oid *tokenizer, dsv_oid *out);
int dsv_index_put_tokens(dsv_store *s, const dsv_oid *shard,
			 const dsv_oid *tokenizer, const dsv_oid *tokens);
int dsv_tokens_find(dsv_store *s, const dsv_oid *shard,
		    const dsv_oid *tokenizer, dsv_oid *out);

/* The training data loader: a version's tokens in version order (manifest
 * entries, repeats, selections and the order object, as dsv_version_iter
 * reads them), taken from the token cache. Every shard of the version must
 * have been tokenized (`dsv tokenize`); otherwise next/read fail with
 * DSV_ENOTFOUND naming the shard. The loader borrows s and m, which must
 * outlive it. Typical trainer use:
 *
 *     dsv_tokens_loader *l;
 *     dsv_tokens_loader_new(&l, store, manifest, &tokenizer_id);
 *     while ((rc = dsv_tokens_loader_read(l, buf, B * T + 1, &got)) == 1)
 *             ... got tokens in buf ...
 *     dsv_tokens_loader_free(l);
 */
typedef struct dsv_tokens_loader dsv_tokens_loader;

int dsv_tokens_loader_new(dsv_tokens_loader **out, dsv_store *s,
			  const dsv_manifest *m, const dsv_oid *tokenizer);
void dsv_tokens_loader_free(dsv_tokens_loader *l);
/* One document at a time: 1 with its tokens (u32, no special token;
 * borrowed until the next call), 0 at the end, or an error. */
int dsv_tokens_loader_next(dsv_tokens_loader *l, const uint32_t **ids,
			   size_t *n);
/* The stream llm.c trains on: <|endoftext|> before every document, then
 * its tokens ("eot d0 eot d1 ..."). Fills buf with up to cap tokens and
 * returns 1 with *got > 0, or 0 at the end; documents run on across calls.
 * Do not mix with _next on one loader. */
int dsv_tokens_loader_read(dsv_tokens_loader *l, uint32_t *buf, size_t cap,
			   size_t *got);
/* The <|endoftext|> id (vocab - 1), known once a document was read;
 * UINT32_MAX before. */
uint32_t dsv_tokens_loader_eot(const dsv_tokens_loader *l);
/* Documents and tokens (without specials) read so far. */
void dsv_tokens_loader_stats(const dsv_tokens_loader *l, uint64_t *docs,
			     uint64_t *tokens);

/* Writes the version's token stream (as dsv_tokens_loader_read gives it) to
 * fd in llm.c's .bin layout: 256 int32 header (20240520, version 1 for
 * uint16 tokens when vocab <= 65536 else 2 for uint32, token count), then
 * the tokens, little-endian. DSV_EINVAL when the count exceeds INT32_MAX.
 * *ntokens and *bytes (optional) receive what was written. */
int dsv_tokens_export(dsv_store *s, const dsv_manifest *m,
		      const dsv_oid *tokenizer, uint32_t vocab, int fd,
		      uint64_t *ntokens, uint64_t *bytes);

/* ---- garbage collection (store/gc.c) ------------------------------------ *
 * Deletes object files outside a given set of reachable ids, keeping every
 * file younger than a grace period, so objects a concurrent writer has
 * stored but not yet recorded in the lineage survive (docs/formats.md). */

#define DSV_GC_GRACE 3600 /* seconds; config `gc.grace` overrides */

/* Parses "3600", "90s", "30m", "1h", "2d" into seconds; DSV_EINVAL. */
int dsv_gc_parse_grace(const char *s, int64_t *out);
/* The store's grace period: config `gc.grace`, else DSV_GC_GRACE. */
int dsv_gc_grace(const dsv_store *s, int64_t *out);

typedef struct {
	const dsv_oid *keep; /* reachable ids, sorted by dsv_oid_cmp */
	size_t nkeep;
	/* Tokenizer ids, sorted: a token array of a kept shard under one of
	 * them is kept too, so a train or export reading it is not cut off. */
	const dsv_oid *tokenizers;
	size_t ntokenizers;
	int64_t grace_s;     /* files younger than this are kept */
	int dry_run;         /* delete nothing; count and report only */
	/* Called for each object that goes (or would go); may be NULL. */
	void (*report)(void *ctx, const dsv_oid *id, uint64_t bytes);
	void *ctx;
} dsv_gc_opts;

typedef struct {
	uint64_t kept;           /* reachable objects */
	uint64_t young;          /* unreachable, kept for the grace period */
	uint64_t deleted, deleted_bytes; /* (would be) deleted */
	/* stale temporary files: tmp/, runs/NAME.tmp, libgit2's in lineage/ */
	uint64_t tmp_files, tmp_bytes;
} dsv_gc_stats;

/* The store lock gc holds: alone, so that no writer is between storing
 * objects and recording them; for a dry run, which deletes nothing,
 * dsv_store_lock_read's (it waits for a gc under way, then runs beside
 * writers, so its report is a snapshot). Released by dsv_store_unlock. */
int dsv_store_gc_lock(dsv_store *s, int dry_run);
/* Sweeps objects/ and the temporary files of interrupted writes. The caller
 * holds dsv_store_gc_lock and computed `keep` under it. */
int dsv_store_gc(dsv_store *s, const dsv_gc_opts *o, dsv_gc_stats *st);

/* ---- repacking (store/repack.c) ----------------------------------------- *
 * Rewrites a version's records into new dense shards, in the version's
 * order; text, meta, layout and hashes stay as they are, so the version
 * exports the same bytes (docs/formats.md, "Repacking"). */

typedef struct {
	int full;             /* rewrite every record; else only the records of
				 sparse entries (drawn for fewer than half of
				 the positions between their first and last
				 use) */
	int level;            /* zstd level; 0: the store's */
	uint64_t shard_bytes; /* 0: DSV_SHARD_TARGET_BYTES */
} dsv_repack_opts;

typedef struct {
	uint64_t records, records_moved;
	uint64_t objects_new, bytes_written;
	uint64_t entries_before, entries_after;
	uint64_t max_live_before; /* most entries live at one position */
} dsv_repack_stats;

/* Writes the repacked version's objects and hands out its manifest (the
 * caller frees it). DSV_EINVAL for versions with columns (not yet). */
int dsv_version_repack(dsv_store *s, const dsv_manifest *m,
		       const dsv_repack_opts *o, dsv_manifest **out,
		       dsv_repack_stats *st);
/* The commit-time threshold: when m's order keeps more than
 * `repack.max_live` entries (config; default 12; 0: never) live at one
 * position, repacks m's sparse entries into *out; else *out is NULL. */
int dsv_version_autorepack(dsv_store *s, const dsv_manifest *m, int level,
			   dsv_manifest **out, dsv_repack_stats *st);

#endif
