/* transfer.c: copying objects from one store into another (fetch, push,
 * clone). A stored file is copied as it is, header and zstd frames, never
 * recompressed, through the destination's tmp/; the copy is checked against
 * its id there before it is renamed into objects/, so a damaged source
 * object never lands.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK ((size_t)1 << 20)

/* Copies the open file `in` to `out` (both named for messages). */
static int copy_fd(int in, const char *from, int out, const char *to,
		   char *buf, uint64_t *bytes)
{
	for (;;) {
		ssize_t r = read(in, buf, COPY_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dsv_error_set(DSV_EIO, "cannot read '%s': %s",
					     from, strerror(errno));
		if (r == 0)
			return 0;
		for (ssize_t off = 0; off < r;) {
			ssize_t w = dsv_fault_hit(DSV_FAULT_WRITE)
				    ? -1 : write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return dsv_error_set(DSV_EIO, "cannot write "
						     "'%s': %s", to,
						     w < 0 ? strerror(errno)
							   : "short write");
			off += w;
		}
		*bytes += (uint64_t)r;
	}
}

/* The rows the source's index gives an object whose encoding does not hold
 * them (orders, token arrays, weights, blobs): 0 when it has no entry. */
static uint64_t source_rows(dsv_store *src, const dsv_oid *id)
{
	dsv_obj_info info;
	if (dsv_index_get_object(src, id, &info) == 0)
		return info.rows;
	dsv_error_clear();
	return 0;
}

int dsv_obj_copy(dsv_store *dst, dsv_store *src, const dsv_oid *id,
		 uint64_t *bytes)
{
	char hex[DSV_OID_HEXLEN + 1];
	char *from = NULL, *path = NULL, *tmp = NULL, *dir = NULL, *buf = NULL;
	dsv_obj_info info;
	struct stat st;
	int in = -1, out = -1, rc = 0, renamed = 0;
	uint64_t n = 0;

	dsv_oid_fmt(hex, id);
	if ((rc = dsv_obj_path(dst, id, &path)))
		goto cleanup;
	if (stat(path, &st) == 0) {
		/* already here: freshened as dsv_obj_write does, so that a gc
		 * that does not see the ref yet keeps it for the grace time */
		utimensat(AT_FDCWD, path, NULL, 0);
		goto cleanup;
	}
	if ((rc = dsv_obj_path(src, id, &from)))
		goto cleanup;
	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
				   "object %s: cannot open '%s': %s", hex, from,
				   strerror(errno));
		goto cleanup;
	}
	size_t len = strlen(dst->dir) + sizeof "/objects/ab";
	if (!(dir = dsv_malloc(len)) || !(tmp = dsv_malloc(len + 32)) ||
	    !(buf = dsv_malloc(COPY_CHUNK))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	snprintf(dir, len, "%s/objects/%.2s", dst->dir, hex);
	snprintf(tmp, len + 32, "%s/tmp/obj-XXXXXX", dst->dir);
	if ((out = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", tmp,
				   strerror(errno));
		tmp[0] = '\0';
		goto cleanup;
	}
	if (fchmod(out, dst->file_mode)) {
		rc = dsv_error_set(DSV_EIO, "cannot chmod '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	if ((rc = copy_fd(in, from, out, tmp, buf, &n)))
		goto cleanup;
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(out) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", tmp,
				   strerror(errno));
		goto cleanup;
	}
	close(out);
	out = -1;
	/* The copy, not the source, is what lands: checked where it lies. */
	if ((rc = dsv_obj_verify_file(tmp, id, &info)))
		goto cleanup;
	if (info.type != DSV_OBJ_SHARD && info.type != DSV_OBJ_SELECTION &&
	    info.type != DSV_OBJ_COLUMN)
		info.rows = source_rows(src, id);
	if ((rc = dsv_obj_mkdir(dir)))
		goto cleanup;
	if (dsv_fault_hit(DSV_FAULT_RENAME) || rename(tmp, path) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot rename '%s' to '%s': %s",
				   tmp, path, strerror(errno));
		goto cleanup;
	}
	renamed = 1;
	if ((rc = dsv_fsync_dir(dir)) ||
	    (rc = dsv_index_put_object(dst, id, &info)))
		goto cleanup;
	*bytes = n;
	rc = 1;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp && tmp[0] && !renamed)
		unlink(tmp);
	if (rc < 0)
		dsv_error_wrap(rc, "cannot copy object %s", hex);
	free(buf);
	free(tmp);
	free(dir);
	free(from);
	free(path);
	return rc;
}

int dsv_store_transfer(dsv_store *dst, dsv_store *src, const dsv_oid *ids,
		       size_t n, void (*progress)(void *ctx, uint64_t done),
		       void *ctx, dsv_transfer_stats *st)
{
	int rc = 0;
	memset(st, 0, sizeof *st);
	if ((rc = dsv_store_writable(dst)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint64_t bytes = 0;
		st->objects++;
		if ((rc = dsv_obj_copy(dst, src, &ids[i], &bytes)) < 0)
			return rc;
		if (rc == 1) {
			st->copied++;
			st->bytes += bytes;
		} else {
			st->present++;
		}
		if (progress)
			progress(ctx, i + 1);
	}
	return 0;
}
