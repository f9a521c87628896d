/* index.c: the LMDB cache under .dsv/index (objects, records, tokens, runs).
 * Everything here can be rebuilt from the objects and the lineage; MDB error
 * codes are translated at this boundary and never leave store/.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Sparse: the map only reserves address space, so it can be large. */
#define MAP_SIZE ((size_t)1 << 40)
#define OBJ_VAL_LEN 32 /* u32 type, u32 zero, u64 raw, u64 stored, u64 rows */
#define REC_VAL_LEN 60 /* commit[20], shard oid[32], u64 row */

static int mdb_fail(int mrc, const char *what)
{
	int code = mrc == MDB_MAP_FULL || mrc == ENOMEM ? DSV_ENOMEM
		 : mrc == MDB_CORRUPTED || mrc == MDB_INVALID ? DSV_ECORRUPT
		 : DSV_EIO;
	return dsv_error_set(code, "index: %s: %s", what, mdb_strerror(mrc));
}

/* LMDB forbids opening one environment twice in a process (closing either
 * drops the other's locks), so stores opened on the same index share it. */
typedef struct shared_env {
	dev_t dev;
	ino_t ino;
	MDB_env *env;
	MDB_dbi dbis[3];
	int refs;
	struct shared_env *next;
} shared_env;

static shared_env *envs;
static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;

/* A read-only store whose index is gone cannot make an empty one, and
 * rebuilding it for this process alone would read every object and the
 * whole lineage (lineage/dataset.c) on every command: it names who can. */
static int no_index(const char *path)
{
	return dsv_error_set(DSV_EIO, "index: '%s' is missing and the "
			     "repository is read-only: a user who can write "
			     "it rebuilds it with 'dsv fsck --rebuild-index'",
			     path);
}

/* Opens the environment, read-only when ro_errno says why the store cannot
 * be written. */
static int env_open(shared_env *e, const char *path, int ro_errno)
{
	static const char *const names[] = {"objects", "records", "tokens"};
	MDB_txn *txn = NULL;
	int mrc, rc = 0;

	if ((mrc = mdb_env_create(&e->env))) {
		rc = mdb_fail(mrc, "cannot create environment");
		goto cleanup;
	}
	if ((mrc = mdb_env_set_mapsize(e->env, MAP_SIZE)) ||
	    (mrc = mdb_env_set_maxdbs(e->env, 8))) {
		rc = mdb_fail(mrc, "cannot configure environment");
		goto cleanup;
	}
	/* NOTLS: read transactions are not tied to threads, so the commit
	 * pipeline's workers can share the environment. A reader still writes
	 * its slot into lock.mdb; NOLOCK drops that only on a read-only
	 * filesystem, where no writer can exist to reuse the pages it reads. */
	unsigned flags = MDB_NOTLS;
	if (ro_errno)
		flags |= MDB_RDONLY | (ro_errno == EROFS ? MDB_NOLOCK : 0);
	if ((mrc = mdb_env_open(e->env, path, flags, 0666))) {
		if (mrc == ENOENT && ro_errno) {
			rc = no_index(path);
			goto cleanup;
		}
		int lock = mrc == EACCES && ro_errno && ro_errno != EROFS;
		rc = dsv_error_set(DSV_EIO, "index: cannot open '%s': %s%s", path,
				   mdb_strerror(mrc), lock ? " (a reader needs "
				   "to write its lock.mdb)" : "");
		goto cleanup;
	}
	/* LMDB opens its data file without O_CLOEXEC: the programs that map
	 * and synth --verify run would otherwise hold the index open */
	mdb_filehandle_t fd;
	if (!mdb_env_get_fd(e->env, &fd))
		fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	/* A writer clears the reader slots of killed processes: each pins
	 * the pages it could see, and the index would grow without bound. */
	int dead;
	if (!ro_errno && (mrc = mdb_reader_check(e->env, &dead))) {
		rc = mdb_fail(mrc, "cannot check for stale readers");
		goto cleanup;
	}
	if ((mrc = mdb_txn_begin(e->env, NULL, flags & MDB_RDONLY, &txn))) {
		rc = mdb_fail(mrc, "cannot begin transaction");
		goto cleanup;
	}
	for (size_t i = 0; i < 3; i++)
		if ((mrc = mdb_dbi_open(txn, names[i],
					ro_errno ? 0 : MDB_CREATE,
					&e->dbis[i]))) {
			rc = dsv_error_set(DSV_EIO,
					   "index: cannot open database '%s': %s",
					   names[i], mdb_strerror(mrc));
			goto cleanup;
		}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc)
		rc = mdb_fail(mrc, "cannot commit");
cleanup:
	if (txn)
		mdb_txn_abort(txn);
	if (rc && e->env) {
		mdb_env_close(e->env);
		e->env = NULL;
	}
	return rc;
}

int dsv_index_open(dsv_store *s)
{
	shared_env *e = NULL;
	char *path = NULL;
	struct stat st;
	int rc = 0;
	size_t n = strlen(s->dir) + sizeof "/index";

	if (!(path = dsv_malloc(n)))
		return DSV_ENOMEM;
	snprintf(path, n, "%s/index", s->dir);
	/* The index is a cache of the objects and the lineage: a deleted one
	 * starts empty, and fsck --rebuild-index fills it again. */
	if (!s->ro_errno && mkdir(path, 0777) && errno != EEXIST) {
		rc = dsv_error_set(DSV_EIO, "index: cannot create '%s': %s",
				   path, strerror(errno));
		goto cleanup;
	}
	int src = stat(path, &st);
	if (src != 0 && errno == ENOENT && s->ro_errno) {
		rc = no_index(path);
		goto cleanup;
	}
	if (src != 0 || !S_ISDIR(st.st_mode)) {
		int err = src != 0 ? errno : ENOTDIR;
		rc = dsv_error_set(DSV_EIO, "index: cannot open '%s': %s", path,
				   strerror(err));
		goto cleanup;
	}
	pthread_mutex_lock(&envs_lock);
	for (e = envs; e; e = e->next)
		if (e->dev == st.st_dev && e->ino == st.st_ino)
			break;
	if (!e) {
		if (!(e = dsv_malloc(sizeof *e))) {
			rc = DSV_ENOMEM;
		} else {
			memset(e, 0, sizeof *e);
			e->dev = st.st_dev;
			e->ino = st.st_ino;
			if ((rc = env_open(e, path, s->ro_errno))) {
				free(e);
				e = NULL;
			} else {
				e->next = envs;
				envs = e;
			}
		}
	}
	if (e) {
		e->refs++;
		s->env = e->env;
		s->db_objects = e->dbis[0];
		s->db_records = e->dbis[1];
		s->db_tokens = e->dbis[2];
	}
	pthread_mutex_unlock(&envs_lock);
cleanup:
	free(path);
	return rc;
}

void dsv_index_close(dsv_store *s)
{
	if (!s || !s->env)
		return;
	pthread_mutex_lock(&envs_lock);
	for (shared_env **p = &envs; *p; p = &(*p)->next) {
		shared_env *e = *p;
		if (e->env != s->env)
			continue;
		if (--e->refs == 0) {
			*p = e->next;
			mdb_env_close(e->env);
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&envs_lock);
	s->env = NULL;
}

int dsv_index_get_object(dsv_store *s, const dsv_oid *id, dsv_obj_info *out)
{
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof id->b, (void *)id->b}, v;
	int mrc, rc = 0;

	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	mrc = mdb_get(txn, s->db_objects, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, id);
		rc = dsv_error_set(DSV_ENOTFOUND, "index: no object %s", hex);
	} else if (mrc) {
		rc = mdb_fail(mrc, "cannot read object");
	} else if (v.mv_size != OBJ_VAL_LEN) {
		rc = dsv_error_set(DSV_ECORRUPT,
				   "index: object entry has %zu bytes, not %d",
				   v.mv_size, OBJ_VAL_LEN);
	} else if (out) {
		const uint8_t *p = v.mv_data;
		out->type = (dsv_obj_type)dsv_le32(p);
		out->raw_size = dsv_le64(p + 8);
		out->stored_size = dsv_le64(p + 16);
		out->rows = dsv_le64(p + 24);
	}
	mdb_txn_abort(txn);
	return rc;
}

int dsv_index_put_object(dsv_store *s, const dsv_oid *id,
			 const dsv_obj_info *info)
{
	return dsv_index_put_objects(s, id, info, 1);
}

int dsv_index_put_objects(dsv_store *s, const dsv_oid *ids,
			  const dsv_obj_info *infos, size_t n)
{
	MDB_txn *txn = NULL;
	int mrc;

	if (!n)
		return 0;
	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	for (size_t i = 0; i < n; i++) {
		uint8_t val[OBJ_VAL_LEN] = {0};
		MDB_val k = {sizeof ids[i].b, (void *)ids[i].b},
			v = {sizeof val, val};
		dsv_put32(val, (uint32_t)infos[i].type);
		dsv_put64(val + 8, infos[i].raw_size);
		dsv_put64(val + 16, infos[i].stored_size);
		dsv_put64(val + 24, infos[i].rows);
		if ((mrc = mdb_put(txn, s->db_objects, &k, &v, 0))) {
			mdb_txn_abort(txn);
			return mdb_fail(mrc, "cannot record object");
		}
	}
	if ((mrc = mdb_txn_commit(txn)))
		return mdb_fail(mrc, "cannot commit");
	return 0;
}

int dsv_index_get_record(dsv_store *s, const dsv_rhash *h, dsv_record_loc *out)
{
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof h->b, (void *)h->b}, v;
	int mrc, rc = 0;

	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	mrc = mdb_get(txn, s->db_records, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		char hex[33];
		dsv_rhash_fmt(hex, h);
		rc = dsv_error_set(DSV_ENOTFOUND, "index: no record %s", hex);
	} else if (mrc) {
		rc = mdb_fail(mrc, "cannot read record");
	} else if (v.mv_size != REC_VAL_LEN) {
		rc = dsv_error_set(DSV_ECORRUPT,
				   "index: record entry has %zu bytes, not %d",
				   v.mv_size, REC_VAL_LEN);
	} else if (out) {
		const uint8_t *p = v.mv_data;
		memcpy(out->commit, p, 20);
		memcpy(out->shard.b, p + 20, 32);
		out->row = dsv_le64(p + 52);
	}
	mdb_txn_abort(txn);
	return rc;
}

/* 1 when the first `nibbles` hex digits of key k are those of prefix p. */
static int nibbles_match(const uint8_t *k, const uint8_t *p, size_t nibbles)
{
	size_t whole = nibbles / 2;
	return !memcmp(k, p, whole) &&
	       (nibbles % 2 == 0 || (k[whole] & 0xf0) == p[whole]);
}

int dsv_index_find_record(dsv_store *s, const char *hex, size_t len,
			  dsv_rhash *out)
{
	uint8_t key[sizeof out->b] = {0};
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {sizeof key, key}, v;
	dsv_rhash found[2];
	int mrc, rc = 0, n = 0;

	if (len < 4 || len > 2 * sizeof key)
		return dsv_error_set(DSV_EINVAL, "'%.*s' is not a record hash "
				     "(4 to 32 hex digits)",
				     (int)(len > 80 ? 80 : len), hex);
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)hex[i], d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return dsv_error_set(DSV_EINVAL, "'%.*s' is not a record "
					     "hash: not a hex digit at %zu",
					     (int)len, hex, i);
		key[i / 2] |= (uint8_t)(i % 2 ? d : d << 4);
	}
	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	if ((mrc = mdb_cursor_open(txn, s->db_records, &cur))) {
		rc = mdb_fail(mrc, "cannot open cursor");
		goto cleanup;
	}
	/* keys sort as their hex does: the first at or after the prefix
	 * padded with zeros is the first that may start with it */
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     !mrc && n < 2 && k.mv_size == sizeof key &&
	     nibbles_match(k.mv_data, key, len);
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		memcpy(found[n++].b, k.mv_data, sizeof key);
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = mdb_fail(mrc, "cannot read the records index");
	} else if (n == 0) {
		rc = dsv_error_set(DSV_ENOTFOUND, "index: no record %.*s",
				   (int)len, hex);
	} else if (n == 2) {
		char a[33], b[33];
		dsv_rhash_fmt(a, &found[0]);
		dsv_rhash_fmt(b, &found[1]);
		rc = dsv_error_set(DSV_EINVAL, "record hash %.*s is ambiguous: "
				   "%s and %s (at least) start so; give more "
				   "digits", (int)len, hex, a, b);
	} else {
		*out = found[0];
	}
cleanup:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

int dsv_index_records_missing(dsv_store *s, const dsv_rhash *hashes, size_t n,
			      uint64_t *missing)
{
	MDB_txn *txn = NULL;
	int mrc = 0;
	if (n && (mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	for (size_t i = 0; i < n && !mrc; i++) {
		MDB_val k = {sizeof hashes[i].b, (void *)hashes[i].b}, v;
		mrc = mdb_get(txn, s->db_records, &k, &v);
		if (mrc == MDB_NOTFOUND)
			++*missing, mrc = 0;
	}
	if (txn)
		mdb_txn_abort(txn);
	return mrc ? mdb_fail(mrc, "cannot read record") : 0;
}

typedef struct {
	uint64_t prefix; /* the hash's first 8 bytes, big-endian: sorts as memcmp */
	size_t i;        /* position in the batch */
} rec_ref;

/* Stable LSD radix sort on the 64-bit prefix, 16 bits a pass: about 4n
 * moves, where qsort's comparisons dominated a million-record batch. Keys
 * equal in their prefix keep batch order, so the first of equal keys is
 * inserted first and wins under MDB_NOOVERWRITE. */
static int sort_refs(rec_ref *refs, size_t n)
{
	rec_ref *tmp = dsv_malloc(n * sizeof *tmp), *a = refs, *b = tmp;
	size_t *count = dsv_malloc(65536 * sizeof *count);
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return DSV_ENOMEM;
	}
	for (int shift = 0; shift < 64; shift += 16) {
		memset(count, 0, 65536 * sizeof *count);
		for (size_t j = 0; j < n; j++)
			count[a[j].prefix >> shift & 0xffff]++;
		size_t sum = 0;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t j = 0; j < n; j++)
			b[count[a[j].prefix >> shift & 0xffff]++] = a[j];
		rec_ref *t = a;
		a = b;
		b = t;
	}
	/* Four passes: the sorted data is back in refs. */
	free(tmp);
	free(count);
	return 0;
}

int dsv_index_put_records(dsv_store *s, const dsv_rhash *hashes,
			  const dsv_record_loc *locs, size_t n)
{
	rec_ref *refs = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	uint8_t val[REC_VAL_LEN];
	int mrc, rc = 0;

	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof *refs)
		return dsv_error_set(DSV_ENOMEM, "index: batch too large");
	if (!(refs = dsv_malloc(n * sizeof *refs)))
		return DSV_ENOMEM;
	/* Sorted keys make the B-tree inserts sequential: each leaf page is
	 * touched once per batch instead of once per record. */
	for (size_t i = 0; i < n; i++) {
		uint64_t p = 0;
		for (int k = 0; k < 8; k++)
			p = p << 8 | hashes[i].b[k];
		refs[i] = (rec_ref){p, i};
	}
	if ((rc = sort_refs(refs, n)))
		goto cleanup;
	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
		rc = mdb_fail(mrc, "cannot begin transaction");
		goto cleanup;
	}
	if ((mrc = mdb_cursor_open(txn, s->db_records, &cur))) {
		rc = mdb_fail(mrc, "cannot open cursor");
		goto cleanup;
	}
	for (size_t j = 0; j < n; j++) {
		/* The batch is read in key order, at random places: fetch
		 * ahead, or the cache misses cost more than the inserts. */
		if (j + 16 < n) {
			__builtin_prefetch(&locs[refs[j + 16].i]);
			__builtin_prefetch(&hashes[refs[j + 16].i]);
		}
		const dsv_record_loc *l = &locs[refs[j].i];
		MDB_val k = {16, (void *)hashes[refs[j].i].b};
		MDB_val v = {sizeof val, val};
		memcpy(val, l->commit, 20);
		memcpy(val + 20, l->shard.b, 32);
		dsv_put64(val + 52, l->row);
		mrc = mdb_cursor_put(cur, &k, &v, MDB_NOOVERWRITE);
		if (mrc && mrc != MDB_KEYEXIST) {
			rc = mdb_fail(mrc, "cannot record record locations");
			goto cleanup;
		}
	}
	mdb_cursor_close(cur);
	cur = NULL;
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc)
		rc = mdb_fail(mrc, "cannot commit");
cleanup:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	free(refs);
	return rc;
}

int dsv_index_clear(dsv_store *s, int keep_tokens)
{
	MDB_dbi dbis[] = {s->db_objects, s->db_records, s->db_tokens};
	MDB_txn *txn = NULL;
	int mrc;

	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		return mdb_fail(mrc, "cannot begin transaction");
	for (size_t i = 0; i < (keep_tokens ? 2 : 3); i++)
		if ((mrc = mdb_drop(txn, dbis[i], 0))) {
			mdb_txn_abort(txn);
			return mdb_fail(mrc, "cannot clear");
		}
	if ((mrc = mdb_txn_commit(txn)))
		return mdb_fail(mrc, "cannot commit");
	return 0;
}
