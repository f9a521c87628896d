/* object.c: content-addressed object files. An object is a type and a list of
 * sections; its id is the SHA-256 of the raw sections, and its file is a small
 * header and one checksummed zstd frame per section (docs/formats.md).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/* for ZSTD_d_stableOutBuffer, a parameter of the stable ZSTD_DCtx_setParameter */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define OBJ_MAGIC "DSVOBJ\r\n"
#define OBJ_VERSION 1
#define OBJ_MAX_SECTIONS 64
#define OBJ_FIXED_HEADER 24
#define OBJ_HEADER_SIZE(n) (OBJ_FIXED_HEADER + 16 * (size_t)(n))
/* A zstd frame cannot expand by more than about 32768x (an RLE block is 4
 * bytes for 128 KiB); twice that bounds what a header may claim. */
#define OBJ_MAX_RATIO 65536
/* Sections this large are compressed with zstd's worker threads. */
#define OBJ_MT_THRESHOLD ((size_t)4 << 20)
#define ZSTD_MAGIC 0xFD2FB528u
/* frames of at least this many stored bytes are mapped, not read */
#define MAP_MIN ((size_t)256 << 10)

struct dsv_obj {
	int fd;
	dsv_oid id;
	char hex[DSV_OID_HEXLEN + 1];
	dsv_obj_type type;
	int nsecs;
	uint64_t file_size;
	uint64_t raw[OBJ_MAX_SECTIONS];
	uint64_t stored[OBJ_MAX_SECTIONS];
	uint64_t off[OBJ_MAX_SECTIONS]; /* file offset of each frame */
	/* Reused across the sections of one read: the compressed bytes of
	 * the frame being decoded and the decompression context. */
	void *src;
	size_t src_cap;
	ZSTD_DCtx *dctx;
};

const char *dsv_obj_type_name(dsv_obj_type t)
{
	static const char *const names[] = {"unknown", "shard",  "selection",
					    "column",  "order",  "tokens",
					    "weights", "blob"};
	return t >= 1 && t <= 7 ? names[t] : names[0];
}

static int corrupt(const char *hex, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int corrupt(const char *hex, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dsv_error_set(DSV_ECORRUPT, "object %s: corrupt: %s", hex, msg);
}

int dsv_obj_path(dsv_store *s, const dsv_oid *id, char **out)
{
	char hex[DSV_OID_HEXLEN + 1];
	size_t n = strlen(s->dir) + sizeof "/objects/ab/" + DSV_OID_HEXLEN;
	char *p = dsv_malloc(n);
	*out = NULL;
	if (!p)
		return DSV_ENOMEM;
	dsv_oid_fmt(hex, id);
	snprintf(p, n, "%s/objects/%.2s/%s", s->dir, hex, hex + 2);
	*out = p;
	return 0;
}

int dsv_obj_exists(dsv_store *s, const dsv_oid *id)
{
	char *path = NULL;
	struct stat st;
	int found;
	if (dsv_obj_path(s, id, &path))
		return 0;
	found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return found;
}

/* ---- writing ------------------------------------------------------------ */

/* One compression context and one frame buffer per thread, reused across
 * objects: concurrent writers never share them, small objects do not pay
 * for the context's setup, and a writer of many large objects does not
 * fault in a fresh output buffer for each (its pages stay mapped). */
struct wctx {
	ZSTD_CCtx *c;
	void *buf;
	size_t cap;
};

static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void cctx_free(void *p)
{
	struct wctx *w = p;
	ZSTD_freeCCtx(w->c);
	free(w->buf);
	free(w);
}

static void cctx_key_init(void)
{
	pthread_key_create(&cctx_key, cctx_free);
}

static struct wctx *wctx_get(void)
{
	pthread_once(&cctx_once, cctx_key_init);
	struct wctx *w = pthread_getspecific(cctx_key);
	if (!w && (w = calloc(1, sizeof *w))) {
		if (!(w->c = ZSTD_createCCtx())) {
			free(w);
			return NULL;
		}
		pthread_setspecific(cctx_key, w);
	}
	return w;
}

/* A frame buffer larger than this is freed after its object is written. */
#define FRAME_BUF_KEEP ((size_t)256 << 20)

/* Grows *buf (capacity *cap) to hold n bytes, keeping its contents: a
 * large buffer is moved by mremap, keeping the pages it has, with no copy.
 * 0 or DSV_ENOMEM. */
static int reserve(void **buf, size_t *cap, size_t n)
{
	if (*buf && n <= *cap)
		return 0;
	void *p = dsv_realloc(*buf, n ? n : 1);
	if (!p)
		return DSV_ENOMEM;
	*buf = p;
	*cap = n;
	dsv_mem_huge(p, n);
	return 0;
}

/* zstd threads for large sections written by this thread; 0: every core. */
static _Thread_local int obj_threads;

void dsv_obj_set_threads(int n)
{
	obj_threads = n < 0 ? 0 : n;
}

/* Compresses one section into one frame. Level DSV_DEFAULT_LEVEL means the
 * store's default (store.h); large sections use every core and, at the
 * default, long-distance matching. */
static int compress_section(dsv_store *s, ZSTD_CCtx *c,
			    const dsv_section *sec, int level, void *buf,
			    size_t bound, size_t *outlen)
{
	int window = 0;
	size_t r;
	int workers = 0;

	if (level == DSV_DEFAULT_LEVEL) {
		level = dsv_store_level(s);
		window = dsv_store_window(s);
	}
	if (sec->len >= OBJ_MT_THRESHOLD) {
		long n = obj_threads ? obj_threads
				     : sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 1 ? (int)(n > 200 ? 200 : n) : 0;
	} else {
		window = 0;
	}
	ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	if (window) {
		/* No wider than the section: a smaller window decodes with
		 * less memory and finds the same matches. */
		int log = 10;
		while (log < window && ((size_t)1 << log) < sec->len)
			log++;
		ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1);
		ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, log);
	}
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
	/* Fails harmlessly when libzstd was built without threads. */
	ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers);
	r = ZSTD_compress2(c, buf, bound, sec->data ? sec->data : "", sec->len);
	if (ZSTD_isError(r))
		return dsv_error_set(DSV_EIO, "zstd compression failed: %s",
				     ZSTD_getErrorName(r));
	*outlen = r;
	return 0;
}

static void hash_sections(const dsv_section *secs, int nsecs, dsv_oid *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	/* EVP only fails here when out of memory; the caller checks nothing
	 * else, so a failed context yields an all-zero id that write rejects. */
	memset(out, 0, sizeof *out);
	if (!md)
		return;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		int ok = 1;
		for (int i = 0; i < nsecs && ok; i++)
			if (secs[i].len)
				ok = EVP_DigestUpdate(md, secs[i].data,
						      secs[i].len) == 1;
		if (ok)
			EVP_DigestFinal_ex(md, out->b, &n);
	}
	EVP_MD_CTX_free(md);
}

static int write_all(int fd, const void *p, size_t n, const char *path)
{
	const char *c = p;
	while (n) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		ssize_t w;
		if (dsv_fault_hit(DSV_FAULT_WRITE)) {
			w = -1;
		} else {
			w = write(fd, c, chunk);
			if (w < 0 && errno == EINTR)
				continue;
		}
		if (w <= 0)
			return dsv_error_set(DSV_EIO, "cannot write '%s': %s",
					     path,
					     w < 0 ? strerror(errno)
						   : "short write");
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int dsv_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return dsv_error_set(DSV_EIO, "cannot open '%s': %s", path,
				     strerror(errno));
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(fd) != 0)
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", path,
				   strerror(errno));
	close(fd);
	return rc;
}

int dsv_obj_mkdir(char *dir)
{
	int rc = 0;
	if (mkdir(dir, 0777) == 0) {
		/* A new fan-out directory must survive a crash too: sync
		 * objects/, naming it by cutting "<objects>/ab" at its slash
		 * for a moment. */
		char *slash = dir + strlen(dir) - 3;
		*slash = '\0';
		rc = dsv_fsync_dir(dir);
		*slash = '/';
	} else if (errno != EEXIST) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", dir,
				   strerror(errno));
	}
	return rc;
}

int dsv_obj_stage(dsv_store *s, const char *hex, char **dir, char **tmp,
		  int *fd)
{
	size_t n = strlen(s->dir) + sizeof "/objects/ab";
	int rc = 0;

	*tmp = NULL;
	*fd = -1;
	if (!(*dir = dsv_malloc(n)) || !(*tmp = dsv_malloc(n + 32))) {
		rc = DSV_ENOMEM;
		goto fail;
	}
	snprintf(*dir, n, "%s/objects/%.2s", s->dir, hex);
	snprintf(*tmp, n + 32, "%s/tmp/obj-XXXXXX", s->dir);
	if ((*fd = mkostemp(*tmp, O_CLOEXEC)) < 0) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", *tmp,
				   strerror(errno));
		goto fail;
	}
	/* mkostemp makes it 0600: an object is for everyone the umask lets
	 * read the repository, like any file we create */
	if (fchmod(*fd, s->file_mode)) {
		rc = dsv_error_set(DSV_EIO, "cannot chmod '%s': %s", *tmp,
				   strerror(errno));
		close(*fd);
		unlink(*tmp);
		goto fail;
	}
	return 0;
fail:
	*fd = -1;
	free(*dir);
	free(*tmp);
	*dir = *tmp = NULL;
	return rc;
}

/* Makes sure the index knows an object that is already on disk. */
static int index_existing(dsv_store *s, const dsv_oid *id, dsv_obj_type type,
			  const dsv_section *secs, int nsecs, uint64_t rows,
			  const char *path)
{
	dsv_obj_info info = {type, 0, 0, rows};
	struct stat st;
	int rc = dsv_index_get_object(s, id, NULL);
	if (rc != DSV_ENOTFOUND)
		return rc;
	for (int i = 0; i < nsecs; i++)
		info.raw_size += secs[i].len;
	if (stat(path, &st) == 0)
		info.stored_size = (uint64_t)st.st_size;
	return dsv_index_put_object(s, id, &info);
}

int dsv_obj_write(dsv_store *s, dsv_obj_type type, const dsv_section *secs,
		  int nsecs, uint64_t rows, int level, dsv_oid *out,
		  int *is_new)
{
	char hex[DSV_OID_HEXLEN + 1];
	char *path = NULL, *tmp = NULL, *dir = NULL;
	size_t foff[OBJ_MAX_SECTIONS], flen[OBJ_MAX_SECTIONS];
	struct wctx *w = NULL;
	char *frames = NULL;
	uint8_t hdr[OBJ_HEADER_SIZE(OBJ_MAX_SECTIONS)];
	dsv_obj_info info = {type, 0, 0, rows};
	struct stat st;
	int fd = -1, rc = 0, renamed = 0;

	if (is_new)
		*is_new = 0;
	if (type < DSV_OBJ_SHARD || type > DSV_OBJ_BLOB)
		return dsv_error_set(DSV_EINVAL, "bad object type %d", type);
	if (nsecs < 1 || nsecs > OBJ_MAX_SECTIONS)
		return dsv_error_set(DSV_EINVAL,
				     "an object has 1 to %d sections, not %d",
				     OBJ_MAX_SECTIONS, nsecs);
	hash_sections(secs, nsecs, out);
	if (dsv_oid_is_zero(out))
		return dsv_error_set(DSV_ENOMEM, "cannot compute SHA-256");
	dsv_oid_fmt(hex, out);
	if ((rc = dsv_obj_path(s, out, &path)))
		goto cleanup;
	if (stat(path, &st) == 0) {
		/* Stored again is stored now: an old unreachable object that
		 * this writer is about to refer to must not look stale to a
		 * gc before the writer records it (git freshens likewise). A
		 * failure leaves the object as it was: the grace period
		 * covers only what was written. */
		utimensat(AT_FDCWD, path, NULL, 0);
		rc = index_existing(s, out, type, secs, nsecs, rows, path);
		goto cleanup;
	}

	memcpy(hdr, OBJ_MAGIC, 8);
	dsv_put32(hdr + 8, OBJ_VERSION);
	dsv_put32(hdr + 12, (uint32_t)type);
	dsv_put32(hdr + 16, (uint32_t)nsecs);
	dsv_put32(hdr + 20, 0);
	info.stored_size = OBJ_HEADER_SIZE(nsecs);
	/* The frames go one after another into this thread's frame buffer,
	 * sized for the worst case of all of them. */
	size_t room = 0, used = 0;
	for (int i = 0; i < nsecs; i++) {
		size_t b = ZSTD_compressBound(secs[i].len);
		if (ZSTD_isError(b) || room + b < room) {
			rc = dsv_error_set(DSV_EINVAL, "section too large (%zu "
					   "bytes)", secs[i].len);
			goto cleanup;
		}
		room += b;
	}
	if (!(w = wctx_get())) {
		rc = dsv_error_set(DSV_ENOMEM, "cannot create zstd context");
		goto cleanup;
	}
	if ((rc = reserve(&w->buf, &w->cap, room)))
		goto cleanup;
	frames = w->buf;
	for (int i = 0; i < nsecs; i++) {
		size_t b = ZSTD_compressBound(secs[i].len);
		foff[i] = used;
		if ((rc = compress_section(s, w->c, &secs[i], level,
					   frames + used, b, &flen[i])))
			goto cleanup;
		used += flen[i];
		dsv_put64(hdr + OBJ_FIXED_HEADER + 16 * i, secs[i].len);
		dsv_put64(hdr + OBJ_FIXED_HEADER + 16 * i + 8, flen[i]);
		info.raw_size += secs[i].len;
		info.stored_size += flen[i];
	}

	if ((rc = dsv_obj_stage(s, hex, &dir, &tmp, &fd)) ||
	    (rc = dsv_obj_mkdir(dir)))
		goto cleanup;
	if ((rc = write_all(fd, hdr, OBJ_HEADER_SIZE(nsecs), tmp)))
		goto cleanup;
	for (int i = 0; i < nsecs; i++)
		if ((rc = write_all(fd, frames + foff[i], flen[i], tmp)))
			goto cleanup;
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(fd) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	close(fd);
	fd = -1;
	/* Two writers of the same object rename identical bytes: either wins. */
	if (dsv_fault_hit(DSV_FAULT_RENAME) || rename(tmp, path) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot rename '%s' to '%s': %s",
				   tmp, path, strerror(errno));
		goto cleanup;
	}
	renamed = 1;
	/* The object is complete from here on: a failed directory sync leaves
	 * a valid file that may not survive a crash, never a partial one. */
	if ((rc = dsv_fsync_dir(dir)))
		goto cleanup;
	if ((rc = dsv_index_put_object(s, out, &info)))
		goto cleanup;
	if (is_new)
		*is_new = 1;
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp && tmp[0] && !renamed)
		unlink(tmp);
	if (rc)
		dsv_error_wrap(rc, "cannot write object %s", hex);
	if (w && w->cap > FRAME_BUF_KEEP) {
		/* a rare huge object (weights): not worth keeping mapped */
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
	}
	free(tmp);
	free(dir);
	free(path);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

static int read_at(dsv_obj *o, void *buf, size_t n, uint64_t off)
{
	char *p = buf;
	while (n) {
		ssize_t r = pread(o->fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dsv_error_set(DSV_EIO, "object %s: cannot read: %s",
					     o->hex, strerror(errno));
		if (r == 0)
			return corrupt(o->hex, "file ends early");
		p += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

static int parse_header(dsv_obj *o)
{
	uint8_t hdr[OBJ_HEADER_SIZE(OBJ_MAX_SECTIONS)];
	uint64_t off, type;
	int rc;

	if (o->file_size < OBJ_FIXED_HEADER)
		return corrupt(o->hex, "file has %llu bytes, too short for a "
				       "header", (unsigned long long)o->file_size);
	if ((rc = read_at(o, hdr, OBJ_FIXED_HEADER, 0)))
		return rc;
	if (memcmp(hdr, OBJ_MAGIC, 8) != 0)
		return corrupt(o->hex, "bad magic");
	if (dsv_le32(hdr + 8) != OBJ_VERSION)
		return corrupt(o->hex, "unsupported format version %u",
			       dsv_le32(hdr + 8));
	type = dsv_le32(hdr + 12);
	if (type < DSV_OBJ_SHARD || type > DSV_OBJ_BLOB)
		return corrupt(o->hex, "bad type %llu",
			       (unsigned long long)type);
	o->type = (dsv_obj_type)type;
	uint32_t n = dsv_le32(hdr + 16);
	if (n < 1 || n > OBJ_MAX_SECTIONS || dsv_le32(hdr + 20) != 0)
		return corrupt(o->hex, "bad section count %u", n);
	o->nsecs = (int)n;
	off = OBJ_HEADER_SIZE(n);
	if (o->file_size < off)
		return corrupt(o->hex, "file ends inside the section table");
	if ((rc = read_at(o, hdr + OBJ_FIXED_HEADER, 16 * (size_t)n,
			  OBJ_FIXED_HEADER)))
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = hdr + OBJ_FIXED_HEADER + 16 * i;
		o->raw[i] = dsv_le64(e);
		o->stored[i] = dsv_le64(e + 8);
		o->off[i] = off;
		if (o->stored[i] > o->file_size - off)
			return corrupt(o->hex, "section %u runs past the end "
					       "of the file", i);
		if (o->stored[i] == 0 ||
		    o->raw[i] / OBJ_MAX_RATIO > o->stored[i] ||
		    o->raw[i] > SIZE_MAX / 2)
			return corrupt(o->hex, "section %u has impossible "
					       "sizes", i);
		off += o->stored[i];
	}
	if (off != o->file_size)
		return corrupt(o->hex, "%llu bytes after the last section",
			       (unsigned long long)(o->file_size - off));
	return 0;
}

/* Opens the object file at `path` as object `id` and reads its header. */
static int obj_open_path(dsv_obj **out, const char *path, const dsv_oid *id)
{
	dsv_obj *o = NULL;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!(o = dsv_malloc(sizeof *o)))
		return DSV_ENOMEM;
	memset(o, 0, sizeof *o);
	o->fd = -1;
	o->id = *id;
	dsv_oid_fmt(o->hex, id);
	if ((o->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
				   "object %s: cannot open: %s", o->hex,
				   strerror(errno));
		goto cleanup;
	}
	if (fstat(o->fd, &st) != 0) {
		rc = dsv_error_set(DSV_EIO, "object %s: cannot stat: %s",
				   o->hex, strerror(errno));
		goto cleanup;
	}
	o->file_size = (uint64_t)st.st_size;
	if ((rc = parse_header(o)))
		goto cleanup;
	*out = o;
	o = NULL;
cleanup:
	dsv_obj_free(o);
	return rc;
}

int dsv_obj_open(dsv_obj **out, dsv_store *s, const dsv_oid *id)
{
	char *path = NULL;
	int rc;

	*out = NULL;
	if ((rc = dsv_obj_path(s, id, &path)))
		return rc;
	rc = obj_open_path(out, path, id);
	free(path);
	return rc;
}

void dsv_obj_free(dsv_obj *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	free(o->src);
	ZSTD_freeDCtx(o->dctx);
	free(o);
}

dsv_obj_type dsv_obj_get_type(const dsv_obj *o)
{
	return o->type;
}

int dsv_obj_nsections(const dsv_obj *o)
{
	return o->nsecs;
}

uint64_t dsv_obj_section_size(const dsv_obj *o, int i)
{
	return i >= 0 && i < o->nsecs ? o->raw[i] : 0;
}

/* The stored bytes of frame `i`: a large frame is mapped from the file
 * (*map, *maplen to unmap; no copy, no fresh pages to zero), a small one
 * or one on a file system that cannot map is read into o->src. */
static int frame_bytes(dsv_obj *o, int i, void **src, void **map,
		       size_t *maplen)
{
	size_t stored = (size_t)o->stored[i];
	*map = NULL;
	if (stored >= MAP_MIN) {
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t base = o->off[i] & ~(page - 1);
		size_t len = (size_t)(o->off[i] - base) + stored;
		void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
			       o->fd, (off_t)base);
		if (p != MAP_FAILED) {
			*map = p;
			*maplen = len;
			*src = (char *)p + (o->off[i] - base);
			return 0;
		}
	}
	if (stored > o->src_cap) {
		free(o->src);
		o->src_cap = 0;
		if (!(o->src = dsv_malloc(stored)))
			return DSV_ENOMEM;
		o->src_cap = stored;
	}
	*src = o->src;
	return read_at(o, o->src, stored, o->off[i]);
}

/* Checks that frame `i`, its `stored` bytes at src, is one checksummed zstd
 * frame of the size the header says, and makes the decompression context. */
static int check_frame(dsv_obj *o, int i, const void *src)
{
	size_t stored = (size_t)o->stored[i], r;
	unsigned long long content;
	/* Frame header: magic, then the descriptor whose bit 2 says a content
	 * checksum follows the frame (RFC 8878 3.1.1.1.1). */
	if (stored < 5 || dsv_le32(src) != ZSTD_MAGIC ||
	    !(((const uint8_t *)src)[4] & 4))
		return corrupt(o->hex, "section %d is not a checksummed zstd "
				       "frame", i);
	content = ZSTD_getFrameContentSize(src, stored);
	if (content == ZSTD_CONTENTSIZE_ERROR ||
	    content == ZSTD_CONTENTSIZE_UNKNOWN || content != o->raw[i])
		return corrupt(o->hex, "section %d: frame size does not match "
				       "the header", i);
	r = ZSTD_findFrameCompressedSize(src, stored);
	if (ZSTD_isError(r) || r != stored)
		return corrupt(o->hex, "section %d is not exactly one frame", i);
	if (!o->dctx && !(o->dctx = ZSTD_createDCtx()))
		return dsv_error_set(DSV_ENOMEM, "cannot create zstd context");
	return 0;
}

/* Decodes frame `i` (checked by check_frame) into dst (raw bytes) in one
 * call. Its result and messages are what a read of the frame reports. */
static int decode_frame(dsv_obj *o, int i, const void *src, void *dst,
			size_t *len)
{
	size_t stored = (size_t)o->stored[i], raw = (size_t)o->raw[i], r;
	r = ZSTD_decompressDCtx(o->dctx, dst, raw ? raw : 1, src, stored);
	if (ZSTD_isError(r))
		return corrupt(o->hex, "section %d: %s", i, ZSTD_getErrorName(r));
	if (r != raw)
		return corrupt(o->hex, "section %d: %zu bytes, header says %zu", i,
			       r, raw);
	*len = raw;
	return 0;
}

/* ---- hashing beside decompression --------------------------------------- */

/* A verified read of a section of at least this many raw bytes hashes it on
 * a second thread while it is decompressed: SHA-256 (SHA-NI, about 1.8 GB/s)
 * costs half as much as zstd's decoding and comes off the critical path.
 * Below it the thread's start and hand-offs cost more than they save. */
#define PIPE_MIN ((size_t)4 << 20)
/* Compressed bytes fed to the decoder per step; what each step writes goes
 * to the hasher (some MiB: a few dozen hand-offs per 64 MiB section). */
#define PIPE_STEP ((size_t)1 << 20)

/* The hasher pays only on a core that would sit idle: threads decoding a
 * verified section now (clone's workers verify several objects at once)
 * each count two, and while they would outnumber the cores, a section is
 * hashed after its decoding as before. */
static int verifying;
static long ncores;
static pthread_once_t ncores_once = PTHREAD_ONCE_INIT;

static void ncores_init(void)
{
	ncores = sysconf(_SC_NPROCESSORS_ONLN);
}

static int core_to_spare(int busy)
{
	pthread_once(&ncores_once, ncores_init);
	return 2 * (long)busy <= ncores;
}

/* What the decoder (this thread) and the hasher share: the decoder writes
 * buf[0, ready) before it publishes `ready` under mu, and never touches md
 * until it has joined the hasher. */
struct hasher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	EVP_MD_CTX *md;
	const uint8_t *buf;
	size_t ready;
	int closed; /* nothing more will come */
	int failed; /* EVP_DigestUpdate failed (hasher's; read after join) */
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	size_t done = 0, ready;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (h->ready == done && !h->closed)
			pthread_cond_wait(&h->cv, &h->mu);
		if ((ready = h->ready) == done)
			break;
		pthread_mutex_unlock(&h->mu);
		if (!h->failed &&
		    EVP_DigestUpdate(h->md, h->buf + done, ready - done) != 1)
			h->failed = 1;
		done = ready;
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void hasher_publish(struct hasher *h, size_t ready, int closed)
{
	pthread_mutex_lock(&h->mu);
	h->ready = ready;
	h->closed = closed;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Streams frame `i` (checked by check_frame) from src into dst a step at a
 * time while a second thread adds what each step wrote to md, in order.
 * 0: dst holds the section and md has taken it. 1: the pipeline could not
 * start or the stream stopped short; md is as it was, and the caller
 * decodes the frame with decode_frame, whose result and messages stand.
 * Nothing here goes through dsv_malloc: DSV_FAULT=alloc counts the same
 * allocations as a serial read. */
static int decode_frame_piped(dsv_obj *o, int i, const void *src, void *dst,
			      EVP_MD_CTX *md)
{
	size_t stored = (size_t)o->stored[i], raw = (size_t)o->raw[i], r = 1;
	struct hasher h = {.md = md, .buf = dst};
	ZSTD_inBuffer in = {.src = src, .size = 0, .pos = 0};
	ZSTD_outBuffer out = {.dst = dst, .size = raw, .pos = 0};
	EVP_MD_CTX *saved = NULL;
	pthread_t t;
	int ok = 0, sync = 0;

	/* The state before this section, put back if the stream fails. */
	if (!(saved = EVP_MD_CTX_new()) || EVP_MD_CTX_copy_ex(saved, md) != 1)
		goto cleanup;
	/* Decoded straight into dst, no window buffer; one-shot decoding
	 * takes any window, so the stream must too. */
	if (ZSTD_isError(ZSTD_DCtx_reset(o->dctx, ZSTD_reset_session_only)) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(o->dctx,
						ZSTD_d_stableOutBuffer, 1)) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(o->dctx, ZSTD_d_windowLogMax,
						ZSTD_WINDOWLOG_MAX)))
		goto cleanup;
	if (pthread_mutex_init(&h.mu, NULL))
		goto cleanup;
	if (pthread_cond_init(&h.cv, NULL)) {
		pthread_mutex_destroy(&h.mu);
		goto cleanup;
	}
	sync = 1;
	if (pthread_create(&t, NULL, hasher_main, &h))
		goto cleanup;
	while (in.pos < stored) {
		size_t pos = in.pos, wrote = out.pos;
		in.size = pos + (stored - pos < PIPE_STEP ? stored - pos
							  : PIPE_STEP);
		r = ZSTD_decompressStream(o->dctx, &out, &in);
		if (ZSTD_isError(r) || r == 0 ||
		    (in.pos == pos && out.pos == wrote))
			break;
		hasher_publish(&h, out.pos, 0);
	}
	hasher_publish(&h, out.pos, 1);
	pthread_join(t, NULL);
	ok = r == 0 && in.pos == stored && out.pos == raw && !h.failed;
	if (!ok)
		EVP_MD_CTX_copy_ex(md, saved);
cleanup:
	if (sync) {
		pthread_cond_destroy(&h.cv);
		pthread_mutex_destroy(&h.mu);
	}
	ZSTD_DCtx_reset(o->dctx, ZSTD_reset_session_and_parameters);
	EVP_MD_CTX_free(saved);
	return ok ? 0 : 1;
}

/* dsv_obj_read_section_into that also adds the section to md (NULL: no
 * hashing), beside the decoding when the section is large. */
static int read_section(dsv_obj *o, int i, void **buf, size_t *cap,
			size_t *len, EVP_MD_CTX *md)
{
	void *src, *map;
	size_t raw, maplen = 0;
	int busy = 0;

	*len = 0;
	if (i < 0 || i >= o->nsecs)
		return dsv_error_set(DSV_EINVAL, "object %s has no section %d",
				     o->hex, i);
	raw = (size_t)o->raw[i];
	int rc = reserve(buf, cap, raw);
	if (rc || (rc = frame_bytes(o, i, &src, &map, &maplen)))
		return rc;
	if ((rc = check_frame(o, i, src)))
		goto cleanup;
	if (md && raw >= PIPE_MIN) {
		busy = __atomic_add_fetch(&verifying, 1, __ATOMIC_RELAXED);
		if (core_to_spare(busy) &&
		    decode_frame_piped(o, i, src, *buf, md) == 0) {
			*len = raw;
			goto cleanup;
		}
	}
	if ((rc = decode_frame(o, i, src, *buf, len)))
		goto cleanup;
	if (md && raw && EVP_DigestUpdate(md, *buf, raw) != 1)
		rc = dsv_error_set(DSV_ENOMEM, "SHA-256 failed");
cleanup:
	if (busy)
		__atomic_sub_fetch(&verifying, 1, __ATOMIC_RELAXED);
	if (map)
		munmap(map, maplen);
	return rc;
}

int dsv_obj_read_section_into(dsv_obj *o, int i, void **buf, size_t *cap,
			      size_t *len)
{
	return read_section(o, i, buf, cap, len, NULL);
}

int dsv_obj_read_section(dsv_obj *o, int i, void **out, size_t *len)
{
	size_t cap = 0;
	*out = NULL;
	int rc = dsv_obj_read_section_into(o, i, out, &cap, len);
	if (rc) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return rc;
}

int dsv_obj_read_sections_into(dsv_obj *o, uint64_t want, int verify,
			       void **bufs, size_t *caps, size_t *lens)
{
	EVP_MD_CTX *md = NULL;
	dsv_oid got;
	unsigned int mdlen = 0;
	int rc = 0;

	if (verify && (!(md = EVP_MD_CTX_new()) ||
		       EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
		rc = dsv_error_set(DSV_ENOMEM, "cannot start SHA-256");
		goto cleanup;
	}
	for (int i = 0; i < o->nsecs; i++) {
		lens[i] = (size_t)o->raw[i];
		if (!verify && !(want >> i & 1))
			continue;
		if ((rc = read_section(o, i, &bufs[i], &caps[i], &lens[i],
				       md)))
			goto cleanup;
	}
	if (verify && EVP_DigestFinal_ex(md, got.b, &mdlen) != 1) {
		rc = dsv_error_set(DSV_ENOMEM, "SHA-256 failed");
		goto cleanup;
	}
	if (verify && dsv_oid_cmp(&got, &o->id) != 0) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, &got);
		rc = corrupt(o->hex, "content hashes to %s", hex);
	}
cleanup:
	EVP_MD_CTX_free(md);
	return rc;
}

int dsv_obj_read_all(dsv_obj *o, void ***secs_out, size_t **lens_out)
{
	void **secs = NULL;
	size_t *lens = NULL;
	EVP_MD_CTX *md = NULL;
	dsv_oid got;
	unsigned int mdlen = 0;
	int rc = 0;

	if (secs_out)
		*secs_out = NULL;
	if (lens_out)
		*lens_out = NULL;
	/* Zeroed before anything can fail: cleanup frees every secs[i]. */
	if (!(secs = dsv_malloc(o->nsecs * sizeof *secs))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	memset(secs, 0, o->nsecs * sizeof *secs);
	if (!(lens = dsv_malloc(o->nsecs * sizeof *lens))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	if (!(md = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = dsv_error_set(DSV_ENOMEM, "cannot start SHA-256");
		goto cleanup;
	}
	for (int i = 0; i < o->nsecs; i++) {
		size_t cap = 0;
		if ((rc = read_section(o, i, &secs[i], &cap, &lens[i], md)))
			goto cleanup;
		if (!secs_out) {
			free(secs[i]);
			secs[i] = NULL;
		}
	}
	if (EVP_DigestFinal_ex(md, got.b, &mdlen) != 1) {
		rc = dsv_error_set(DSV_ENOMEM, "SHA-256 failed");
		goto cleanup;
	}
	if (dsv_oid_cmp(&got, &o->id) != 0) {
		char hex[DSV_OID_HEXLEN + 1];
		dsv_oid_fmt(hex, &got);
		rc = corrupt(o->hex, "content hashes to %s", hex);
		goto cleanup;
	}
	if (secs_out) {
		*secs_out = secs;
		*lens_out = lens;
		secs = NULL;
		lens = NULL;
	}
cleanup:
	EVP_MD_CTX_free(md);
	if (secs)
		for (int i = 0; i < o->nsecs; i++)
			free(secs[i]);
	free(secs);
	free(lens);
	return rc;
}

static int hex_name(const char *name, size_t len)
{
	if (strlen(name) != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

int dsv_obj_foreach(dsv_store *s, int (*fn)(const dsv_oid *id, void *ctx),
		    void *ctx)
{
	DIR *top = NULL, *sub = NULL;
	struct dirent *e, *f;
	char *path = NULL;
	int rc = 0;
	size_t n = strlen(s->dir) + sizeof "/objects/ab";

	if (!(path = dsv_malloc(n)))
		return DSV_ENOMEM;
	snprintf(path, n, "%s/objects", s->dir);
	if (!(top = opendir(path))) {
		rc = dsv_error_set(DSV_EIO, "cannot open '%s': %s", path,
				   strerror(errno));
		goto cleanup;
	}
	while ((e = readdir(top))) {
		if (!hex_name(e->d_name, 2))
			continue;
		snprintf(path, n, "%s/objects/%s", s->dir, e->d_name);
		if (!(sub = opendir(path)))
			continue;
		while ((f = readdir(sub))) {
			char hex[DSV_OID_HEXLEN + 1];
			dsv_oid id;
			if (!hex_name(f->d_name, DSV_OID_HEXLEN - 2))
				continue;
			memcpy(hex, e->d_name, 2);
			memcpy(hex + 2, f->d_name, DSV_OID_HEXLEN - 2);
			if (dsv_oid_parse(&id, hex, DSV_OID_HEXLEN))
				continue;
			if ((rc = fn(&id, ctx)))
				goto cleanup;
		}
		closedir(sub);
		sub = NULL;
	}
cleanup:
	if (sub)
		closedir(sub);
	if (top)
		closedir(top);
	free(path);
	return rc;
}

/* The full check of an open object (taken and freed here); `s` (may be
 * NULL) gives the rows of types whose encoding does not hold them. */
static int verify_open(dsv_store *s, dsv_obj *o, dsv_obj_info *info)
{
	void **secs = NULL;
	size_t *lens = NULL;
	dsv_shard *sh = NULL;
	dsv_selection *sel = NULL;
	dsv_column *col = NULL;
	dsv_obj_info got = {0};
	int rc, n = o->nsecs;

	if ((rc = dsv_obj_read_all(o, &secs, &lens)))
		goto cleanup;
	got.type = o->type;
	got.stored_size = o->file_size;
	for (int i = 0; i < n; i++)
		got.raw_size += lens[i];
	if (o->type == DSV_OBJ_SHARD) {
		rc = dsv_shard_decode(&sh, secs, lens, n, DSV_SHARD_ALL);
		if (sh)
			got.rows = dsv_shard_rows(sh);
	} else if (o->type == DSV_OBJ_SELECTION) {
		rc = dsv_selection_decode(&sel, secs, lens, n, NULL);
		if (sel)
			got.rows = dsv_selection_rows(sel);
	} else if (o->type == DSV_OBJ_COLUMN) {
		rc = dsv_column_decode(&col, secs, lens, n, NULL);
		if (col)
			got.rows = dsv_column_rows(col);
	} else {
		dsv_obj_info idx;
		if (s && dsv_index_get_object(s, &o->id, &idx) == 0)
			got.rows = idx.rows;
		dsv_error_clear();
	}
	if (rc == DSV_ECORRUPT)
		dsv_error_wrap(rc, "object %s: corrupt", o->hex);
	if (rc == 0 && info)
		*info = got;
cleanup:
	if (secs)
		for (int i = 0; i < n; i++)
			free(secs[i]);
	free(secs);
	free(lens);
	dsv_shard_free(sh);
	dsv_selection_free(sel);
	dsv_column_free(col);
	dsv_obj_free(o);
	return rc;
}

int dsv_obj_verify(dsv_store *s, const dsv_oid *id, dsv_obj_info *info)
{
	dsv_obj *o = NULL;
	int rc = dsv_obj_open(&o, s, id);
	return rc ? rc : verify_open(s, o, info);
}

int dsv_obj_verify_file(const char *path, const dsv_oid *id,
			dsv_obj_info *info)
{
	dsv_obj *o = NULL;
	int rc = obj_open_path(&o, path, id);
	return rc ? rc : verify_open(NULL, o, info);
}

int dsv_obj_load(dsv_store *s, const dsv_oid *id, dsv_obj_type type,
		 void ***secs, size_t **lens, int *nsecs)
{
	dsv_obj *o = NULL;
	char hex[DSV_OID_HEXLEN + 1];
	int rc;

	*secs = NULL;
	*lens = NULL;
	*nsecs = 0;
	if ((rc = dsv_obj_open(&o, s, id)))
		return rc;
	if (dsv_obj_get_type(o) != type) {
		dsv_oid_fmt(hex, id);
		rc = dsv_error_set(DSV_EINVAL, "object %s is a %s, not a %s",
				   hex, dsv_obj_type_name(dsv_obj_get_type(o)),
				   dsv_obj_type_name(type));
	} else if (!(rc = dsv_obj_read_all(o, secs, lens))) {
		*nsecs = dsv_obj_nsections(o);
	}
	dsv_obj_free(o);
	return rc;
}

void dsv_obj_sections_free(void **secs, size_t *lens, int nsecs)
{
	if (secs)
		for (int i = 0; i < nsecs; i++)
			free(secs[i]);
	free(secs);
	free(lens);
}
