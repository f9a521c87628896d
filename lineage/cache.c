/* cache.c: a per-repository cache of what log and audit read from every
 * commit (parents, times, author, message, and the dsv.json kind, op and
 * compute record), so that walking 10,000 artifacts does not inflate 20,000
 * git objects. A commit never changes, so an entry never goes stale; the
 * cache is only ever appended to.
 *
 * File <lineage>/dsv-cache: "DSVCACHE2\n", then records
 *   u32 length of the payload, u64 FNV-1a of the payload, payload
 * appended with O_APPEND in one write each batch. A torn or foreign record
 * ends the load and is cut off (its commits are read from git again and
 * appended anew).
 * The file is local scratch in native byte order; deleting it is harmless.
 */
#include "lineage/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "DSVCACHE2\n"
#define CACHE_MAX_PAYLOAD (1u << 20)

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static size_t slot_of(const dsv_aid *id, size_t mask)
{
	uint64_t h;
	memcpy(&h, id->b, sizeof h);
	return (size_t)h & mask;
}

/* ---- the table ----------------------------------------------------------- */

static int table_put(dsv_cache *c, dsv_centry *e)
{
	if ((c->n + 1) * 2 > c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		dsv_centry **nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->slots[i])
				continue;
			size_t s = slot_of(&c->slots[i]->id, ncap - 1);
			while (nt[s])
				s = (s + 1) & (ncap - 1);
			nt[s] = c->slots[i];
		}
		free(c->slots);
		c->slots = nt;
		c->cap = ncap;
	}
	size_t s = slot_of(&e->id, c->cap - 1);
	while (c->slots[s]) {
		if (!dsv_aid_cmp(&c->slots[s]->id, &e->id)) {
			free(e); /* already known (a duplicate append) */
			return 0;
		}
		s = (s + 1) & (c->cap - 1);
	}
	c->slots[s] = e;
	c->n++;
	return 0;
}

static dsv_centry *table_get(dsv_cache *c, const dsv_aid *id)
{
	if (!c->cap)
		return NULL;
	for (size_t s = slot_of(id, c->cap - 1); c->slots[s];
	     s = (s + 1) & (c->cap - 1))
		if (!dsv_aid_cmp(&c->slots[s]->id, id))
			return c->slots[s];
	return NULL;
}

void dsv_cache_free(dsv_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i]);
	free(c->slots);
	free(c->pending.buf);
	free(c->file);
	free(c);
}

/* ---- records ------------------------------------------------------------- *
 * payload: id[20] u32 nparents parents[20n] i64 time i64 author_time
 * i32 tz u32 name_len name u32 email_len email u32 msg_len msg
 * u8 has_artifact [u8 kind, op[64], u8 has_compute, dsv_compute,
 * i64 records, i64 text_bytes]
 * An entry is one malloc: the struct, then parents, then the strings. */

struct rd {
	const uint8_t *p, *end;
};

static int take(struct rd *r, void *dst, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	memcpy(dst, r->p, n);
	r->p += n;
	return 0;
}

static dsv_centry *decode(const uint8_t *p, size_t n)
{
	struct rd r = {p, p + n};
	dsv_aid id;
	uint32_t np, ln[3];
	const uint8_t *str[3];
	dsv_centry *e;
	uint8_t has;
	char *s;

	if (take(&r, &id, 20) || take(&r, &np, 4) || np > 4096 ||
	    (size_t)(r.end - r.p) < (size_t)np * 20)
		return NULL;
	const uint8_t *parents = r.p;
	r.p += (size_t)np * 20;
	int64_t t, at;
	int32_t tz;
	if (take(&r, &t, 8) || take(&r, &at, 8) || take(&r, &tz, 4))
		return NULL;
	for (int i = 0; i < 3; i++) {
		if (take(&r, &ln[i], 4) || (size_t)(r.end - r.p) < ln[i])
			return NULL;
		str[i] = r.p;
		r.p += ln[i];
	}
	if (take(&r, &has, 1))
		return NULL;
	e = calloc(1, sizeof *e + (size_t)np * sizeof(dsv_aid) + ln[0] +
			      ln[1] + ln[2] + 3);
	if (!e)
		return NULL;
	e->id = id;
	e->nparents = np;
	e->parents = (dsv_aid *)(e + 1);
	memcpy(e->parents, parents, (size_t)np * 20);
	e->time = t;
	e->author_time = at;
	e->tz = tz;
	s = (char *)(e->parents + np);
	for (int i = 0; i < 3; i++) {
		memcpy(s, str[i], ln[i]);
		s[ln[i]] = '\0';
		if (i == 0)
			e->author_name = s;
		else if (i == 1)
			e->author_email = s;
		else
			e->message = s;
		s += ln[i] + 1;
	}
	e->has_artifact = has;
	if (has) {
		uint8_t k, hc;
		if (take(&r, &k, 1) || k >= DSV_KIND_COUNT ||
		    take(&r, e->op, sizeof e->op) || take(&r, &hc, 1) ||
		    take(&r, &e->compute, sizeof e->compute) ||
		    take(&r, &e->records, 8) || take(&r, &e->text_bytes, 8) ||
		    (unsigned)e->compute.mode >= DSV_MODE_COUNT ||
		    e->compute.ndevices < 0 ||
		    e->compute.ndevices > DSV_COMPUTE_MAX_DEVICES) {
			free(e);
			return NULL;
		}
		e->kind = (dsv_kind)k;
		e->has_compute = hc;
		e->op[sizeof e->op - 1] = '\0';
		e->compute.cpu_model[DSV_DEVICE_NAME_MAX - 1] = '\0';
		for (int i = 0; i < DSV_COMPUTE_MAX_DEVICES; i++)
			e->compute.devices[i].name[DSV_DEVICE_NAME_MAX - 1] = '\0';
	}
	if (r.p != r.end) {
		free(e);
		return NULL;
	}
	return e;
}

static int put(dsv_buf *b, const void *p, size_t n)
{
	return dsv_buf_append(b, p, n);
}

/* Appends one framed record for `e` to c->pending. */
static int encode(dsv_cache *c, const dsv_centry *e)
{
	dsv_buf *b = &c->pending;
	size_t start = b->len;
	uint32_t len = 0, np = e->nparents;
	uint64_t sum = 0;
	const char *strs[3] = {e->author_name, e->author_email, e->message};
	uint8_t has = (uint8_t)e->has_artifact;

	if (put(b, &len, 4) || put(b, &sum, 8) || put(b, &e->id, 20) ||
	    put(b, &np, 4) || put(b, e->parents, (size_t)np * 20) ||
	    put(b, &e->time, 8) || put(b, &e->author_time, 8) ||
	    put(b, &e->tz, 4))
		return DSV_ENOMEM;
	for (int i = 0; i < 3; i++) {
		uint32_t l = (uint32_t)strlen(strs[i]);
		if (put(b, &l, 4) || put(b, strs[i], l))
			return DSV_ENOMEM;
	}
	if (put(b, &has, 1))
		return DSV_ENOMEM;
	if (has) {
		uint8_t k = (uint8_t)e->kind, hc = (uint8_t)e->has_compute;
		if (put(b, &k, 1) || put(b, e->op, sizeof e->op) ||
		    put(b, &hc, 1) || put(b, &e->compute, sizeof e->compute) ||
		    put(b, &e->records, 8) || put(b, &e->text_bytes, 8))
			return DSV_ENOMEM;
	}
	len = (uint32_t)(b->len - start - 12);
	if (len > CACHE_MAX_PAYLOAD) { /* never cache a giant message */
		b->len = start;
		return 0;
	}
	sum = fnv1a((uint8_t *)b->buf + start + 12, len);
	memcpy(b->buf + start, &len, 4);
	memcpy(b->buf + start + 4, &sum, 8);
	return 0;
}

/* ---- loading and flushing ------------------------------------------------ */

static int load(dsv_cache *c)
{
	int fd = open(c->file, O_RDWR | O_CLOEXEC);
	struct stat st;
	uint8_t *data = NULL;
	size_t off, n;
	int rc = 0;

	if (fd < 0)
		fd = open(c->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* no cache yet */
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)strlen(CACHE_MAGIC))
		goto cleanup;
	n = (size_t)st.st_size;
	if (!(data = malloc(n))) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (off = 0; off < n;) {
		ssize_t k = read(fd, data + off, n - off);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	n = off;
	if (n < strlen(CACHE_MAGIC) ||
	    memcmp(data, CACHE_MAGIC, strlen(CACHE_MAGIC))) {
		/* Another format: start over, or appends would never load. */
		if (ftruncate(fd, 0))
			(void)0;
		goto cleanup;
	}
	for (off = strlen(CACHE_MAGIC); n - off >= 12;) {
		uint32_t len;
		uint64_t sum;
		dsv_centry *e;
		memcpy(&len, data + off, 4);
		memcpy(&sum, data + off + 4, 8);
		if (len > CACHE_MAX_PAYLOAD || n - off - 12 < len ||
		    fnv1a(data + off + 12, len) != sum ||
		    !(e = decode(data + off + 12, len)))
			break; /* torn tail or damage: the rest is re-read */
		if ((rc = table_put(c, e)) < 0) {
			free(e);
			goto cleanup;
		}
		off += 12 + len;
	}
	/* Cut a damaged tail, or every later append would sit behind it and
	 * never be loaded. At worst this drops a record another process is
	 * appending right now: a cache miss, never a wrong entry. */
	if (off < n && off >= strlen(CACHE_MAGIC) && ftruncate(fd, (off_t)off))
		(void)0;
cleanup:
	free(data);
	close(fd);
	return rc;
}

int dsv_cache_flush(dsv_cache *c)
{
	int fd;
	struct stat st;

	if (!c || !c->pending.len)
		return 0;
	/* A cache that cannot be written only costs speed: never an error. */
	fd = open(c->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_size == 0 &&
		    write(fd, CACHE_MAGIC, strlen(CACHE_MAGIC)) < 0)
			st.st_size = -1;
		if (st.st_size >= 0 &&
		    write(fd, c->pending.buf, c->pending.len) < 0)
			(void)0;
		close(fd);
	}
	c->pending.len = 0;
	return 0;
}

static int get_cache(dsv_cache **out, dsv_lineage *l)
{
	dsv_cache *c;
	int rc;

	if (l->cache) {
		*out = l->cache;
		return 0;
	}
	if (!(c = calloc(1, sizeof *c)) ||
	    asprintf(&c->file, "%s/dsv-cache", l->path) < 0) {
		if (c)
			c->file = NULL;
		dsv_cache_free(c);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	c->enabled = !getenv("DSV_NO_LINEAGE_CACHE");
	/* A lineage on a read-only mount is read from its cache as it is. */
	c->append = c->enabled && access(l->path, W_OK) == 0;
	if (c->enabled && (rc = load(c)) < 0) {
		dsv_cache_free(c);
		return rc;
	}
	*out = l->cache = c;
	return 0;
}

/* ---- filling from git ---------------------------------------------------- */

static dsv_centry *from_git(dsv_lineage *l, git_commit *gc)
{
	const git_signature *a = git_commit_author(gc);
	const char *msg = git_commit_message(gc);
	const char *nm = a && a->name ? a->name : "",
		   *em = a && a->email ? a->email : "";
	unsigned np = git_commit_parentcount(gc);
	size_t ln = strlen(nm), le = strlen(em), lm = strlen(msg ? msg : "");
	dsv_centry *e;
	dsv_artifact *art = NULL;
	char *s;

	e = calloc(1, sizeof *e + np * sizeof(dsv_aid) + ln + le + lm + 3);
	if (!e)
		return NULL;
	dsv_aid_from_git(&e->id, git_commit_id(gc));
	e->nparents = np;
	e->parents = (dsv_aid *)(e + 1);
	for (unsigned i = 0; i < np; i++)
		dsv_aid_from_git(&e->parents[i], git_commit_parent_id(gc, i));
	e->time = git_commit_time(gc);
	e->author_time = a ? a->when.time : e->time;
	e->tz = a ? a->when.offset : 0;
	s = (char *)(e->parents + np);
	e->author_name = memcpy(s, nm, ln + 1);
	s += ln + 1;
	e->author_email = memcpy(s, em, le + 1);
	s += le + 1;
	e->message = memcpy(s, msg ? msg : "", lm + 1);
	/* An unreadable dsv.json makes a row without a record, not an error:
	 * audit reports such commits as missing. */
	e->records = e->text_bytes = -1;
	if (dsv_artifact_read(&art, l, &e->id) == 0) {
		json_t *rec = json_object_get(art->stats, "records");
		json_t *tb = json_object_get(art->stats, "text_bytes");
		if (json_is_integer(rec))
			e->records = json_integer_value(rec);
		if (json_is_integer(tb))
			e->text_bytes = json_integer_value(tb);
		e->has_artifact = 1;
		e->kind = art->kind;
		memcpy(e->op, art->op, sizeof e->op);
		e->has_compute = art->has_compute;
		if (art->has_compute)
			e->compute = art->compute;
	}
	dsv_artifact_free(art);
	dsv_error_clear();
	return e;
}

int dsv_cache_get(const dsv_centry **out, dsv_lineage *l, const dsv_aid *id)
{
	dsv_cache *c = NULL;
	dsv_centry *e;
	git_commit *gc = NULL;
	git_oid oid;
	int rc;

	*out = NULL;
	if ((rc = get_cache(&c, l)) < 0)
		return rc;
	if ((e = table_get(c, id))) {
		*out = e;
		return 0;
	}
	dsv_aid_to_git(&oid, id);
	if ((rc = git_commit_lookup(&gc, l->repo, &oid)) < 0) {
		char hex[DSV_AID_HEXLEN + 1];
		dsv_aid_fmt(hex, id);
		return dsv_git_error(dsv_git_code(rc), "no artifact %s", hex);
	}
	e = from_git(l, gc);
	git_commit_free(gc);
	if (!e)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (c->append && encode(c, e) < 0) {
		free(e);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	if ((rc = table_put(c, e)) < 0) {
		free(e);
		return rc;
	}
	if (c->pending.len > (4u << 20))
		dsv_cache_flush(c);
	*out = e;
	return 0;
}

int dsv_artifact_summary_get(dsv_lineage *l, const dsv_aid *id,
			     dsv_artifact_summary *out)
{
	const dsv_centry *e;
	int rc = dsv_cache_get(&e, l, id);
	memset(out, 0, sizeof *out);
	if (rc < 0)
		return rc;
	out->has_artifact = e->has_artifact;
	out->kind = e->kind;
	memcpy(out->op, e->op, sizeof out->op);
	out->has_compute = e->has_compute;
	out->compute = e->compute;
	out->records = e->records;
	out->text_bytes = e->text_bytes;
	return 0;
}
