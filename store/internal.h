/* internal.h: the store's private structure and helpers shared by repo.c,
 * object.c and index.c. Shall only be included by files within store/.
 */
#ifndef DSV_STORE_INTERNAL_H
#define DSV_STORE_INTERNAL_H

#include "store.h"

#include <lmdb.h>
#include <string.h>
#include <sys/mman.h>

struct dsv_store {
	char *dir;       /* the .dsv directory */
	char **cfg_keys; /* config settings, ncfg of each */
	char **cfg_vals;
	size_t ncfg;
	int lock_fd;     /* .dsv/lock, -1 unless held */
	int lock_op;     /* LOCK_SH (writers) or LOCK_EX (gc) */
	struct branch_lock {
		char *name;
		int fd;
	} branch[DSV_STORE_MAX_BRANCH_LOCKS]; /* .dsv/locks/BRANCH held */
	int nbranch;
	mode_t file_mode; /* 0666 less the umask: objects' mode */
	int ro_errno;    /* why dir cannot be written (EROFS, EACCES), or 0 */
	void (*lock_wait)(const char *path, long pid);
	MDB_env *env;    /* index.c */
	MDB_dbi db_objects, db_records, db_tokens;
};

/* index.c: opens (creating) the LMDB environment under <dir>/index and its
 * named databases, read-only when s->ro_errno is set; closes it. */
int dsv_index_open(dsv_store *s);
void dsv_index_close(dsv_store *s);

/* repo.c: adds the settings of a config text ("key = value" lines, '#'
 * starts a comment line) to s; DSV_EINVAL names the line. Exposed for
 * tests/fuzz/fuzz_config.c. */
int dsv_store_config_parse(dsv_store *s, const char *text, size_t len);

/* repo.c: what DSV_DEFAULT_LEVEL stands for: the zstd level (config
 * `compression.level`, else 1) and the long-matching window log (config
 * `compression.window`, else 26; 0 is off). */
int dsv_store_level(const dsv_store *s);
int dsv_store_window(const dsv_store *s);

/* object.c: reads every section of object `id`, verified against the id,
 * after checking that it is of `type` (DSV_EINVAL naming both otherwise).
 * The caller releases the sections with dsv_obj_sections_free. */
int dsv_obj_load(dsv_store *s, const dsv_oid *id, dsv_obj_type type,
		 void ***secs, size_t **lens, int *nsecs);
void dsv_obj_sections_free(void **secs, size_t *lens, int nsecs);

/* object.c: fsyncs the directory `path` (DSV_FAULT=fsync reaches it). */
int dsv_fsync_dir(const char *path);
/* object.c: creates the fan-out directory `dir` (".../objects/ab") if it
 * is missing, and then syncs objects/ so that it survives a crash; `dir`
 * is changed for a moment and restored. */
int dsv_obj_mkdir(char *dir);

/* object.c: an object's staging file, .dsv/tmp/obj-XXXXXX with the
 * store's file mode, open in *fd, and the fan-out directory `hex` lands in
 * (*dir, not created here): both paths malloc'd, the caller's, who renames
 * the file into place or unlinks it. On an error nothing is left and all
 * three are NULL and -1. */
int dsv_obj_stage(dsv_store *s, const char *hex, char **dir, char **tmp,
		  int *fd);

/* object.c: dsv_obj_verify of the file at `path` (not yet in objects/)
 * taken as object `id`; rows of the types whose encoding does not hold
 * them are 0. store/transfer.c checks a copy before it lands. */
int dsv_obj_verify_file(const char *path, const dsv_oid *id,
			dsv_obj_info *info);

/* object.c: dsv_obj_read_section into *buf of *cap bytes, which is replaced
 * by a large enough malloc'd buffer (old contents dropped) when NULL or too
 * small; the caller owns *buf in every case. Lets a reader of many objects
 * reuse its memory instead of faulting in fresh pages for each. */
int dsv_obj_read_section_into(dsv_obj *o, int i, void **buf, size_t *cap,
			      size_t *len);
/* Reads the sections whose bit is set in `want` (every section when
 * `verify`, which also checks the SHA-256 against the id) with
 * dsv_obj_read_section_into; lens[i] is set for every section, read or not.
 * bufs, caps and lens have dsv_obj_nsections(o) entries. */
int dsv_obj_read_sections_into(dsv_obj *o, uint64_t want, int verify,
			       void **bufs, size_t *caps, size_t *lens);

/* shard.c: dsv_shard_open that decodes into the buffers of `spare` (a
 * shard the caller no longer needs; taken and freed here, may be NULL). */
int dsv_shard_open_reuse(dsv_shard **out, dsv_store *s, const dsv_oid *id,
			 unsigned cols, dsv_shard *spare);

/* Asks for transparent huge pages over a large buffer (a no-op for small
 * ones, or where the kernel says no): a section or builder column of tens
 * of MiB filled once otherwise costs a page fault every 4 KiB, which is
 * most of the kernel time of a streaming pass such as map. */
#define DSV_HUGE_MIN ((size_t)8 << 20)
static inline void dsv_mem_huge(void *p, size_t n)
{
	if (n < DSV_HUGE_MIN)
		return;
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
	if (e > a)
		madvise((void *)a, e - a, MADV_HUGEPAGE);
}

/* Little-endian loads and stores for the on-disk formats. */
static inline uint64_t dsv_le64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static inline uint32_t dsv_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline void dsv_put64(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> 8 * i);
}

static inline void dsv_put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> 8 * i);
}

#endif
