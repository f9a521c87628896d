/* ingest.c: input files to a version, pipelined. The calling thread parses
 * and hashes records; a record the repository already stores (same text,
 * meta and layout) is referred to where it is, the others go into a shard
 * builder. Full builders go to writer threads, one per core (up to
 * MAX_WRITERS), each encoding, compressing and storing its own shard on its
 * own core: whole shards in parallel scale better than one shard split by
 * zstd's threads, most of all with long-distance matching, whose match
 * finding zstd runs serially. Memory stays at writers + 1 shards whatever
 * the corpus size.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WRITERS 4

enum { SLOT_FREE, SLOT_QUEUED, SLOT_WRITING };

struct slot {
	dsv_shard_builder *b;
	size_t seq; /* hand-over order, which is its new-shard index */
	int state;  /* SLOT_*, under the pipeline's mutex */
};

/* Stored shards whose meta and layout a reuse candidate is compared with.
 * Candidates come in the order of the version that stored them, so a few
 * decoded shards serve a whole re-commit. */
#define CAND_CACHE 4
struct cand {
	dsv_oid id;
	dsv_shard *sh; /* META | LAYOUT; NULL: unusable (missing, damaged) */
	uint64_t used;
	int valid;
};

/* The parent version's rows by text hash: open addressing, where rows with
 * equal text sit in the same probe chain, so a lookup sees them all. */
struct pslot {
	dsv_rhash h;
	uint64_t row;
	uint32_t entry; /* parent manifest entry + 1; 0: free */
};

struct ptab {
	struct pslot *s;
	size_t mask;
	const dsv_manifest *m;
};

struct pipeline {
	dsv_store *s;
	int level;
	dsv_ingest_stats *st;
	dsv_vbuild *vb;
	struct ptab parent;
	size_t handed;        /* slots handed to the writers so far */
	struct cand cands[CAND_CACHE];
	uint64_t tick;
	/* By hand-over order; written under the mutex, read after the join. */
	dsv_oid *new_ids;
	uint64_t *new_rows;
	size_t nnew, idscap, rowscap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *slots;
	int nslots, nwriters;
	int closing;          /* no more slots will come */
	int err;              /* a writer's first error, with its message */
	char errmsg[1024];
};

/* Notes where the shard handed over `seq`-th went. Under the mutex. */
static int note_shard(struct pipeline *p, size_t seq, const dsv_oid *id,
		      uint64_t rows, int is_new)
{
	dsv_obj_info info;
	int rc;
	if ((rc = DSV_ARRAY_GROW(p->new_ids, p->idscap, seq + 1, 16)) ||
	    (rc = DSV_ARRAY_GROW(p->new_rows, p->rowscap, seq + 1, 16)))
		return rc;
	p->new_ids[seq] = *id;
	p->new_rows[seq] = rows;
	if (seq >= p->nnew)
		p->nnew = seq + 1;
	if (is_new) {
		p->st->shards_new++;
		if (dsv_index_get_object(p->s, id, &info) == 0)
			p->st->bytes_written += info.stored_size;
	}
	return 0;
}

/* The stored shard `id` with its meta and layout decoded, from the cache;
 * NULL when it cannot be read (then the record is stored anew). */
static dsv_shard *candidate_shard(struct pipeline *p, const dsv_oid *id)
{
	struct cand *c = NULL, *lru = &p->cands[0];
	for (int i = 0; i < CAND_CACHE; i++) {
		struct cand *x = &p->cands[i];
		if (x->valid && dsv_oid_cmp(&x->id, id) == 0) {
			c = x;
			break;
		}
		if (!x->valid || (lru->valid && x->used < lru->used))
			lru = x;
	}
	if (!c) {
		c = lru;
		dsv_shard_free(c->sh);
		c->sh = NULL;
		c->id = *id;
		c->valid = 1;
		/* A shard the index names may be gone (gc) or damaged: such a
		 * record is simply stored again. */
		if (dsv_shard_open(&c->sh, p->s, id,
				   DSV_SHARD_META | DSV_SHARD_LAYOUT))
			c->sh = NULL;
	}
	c->used = ++p->tick;
	return c->sh;
}

/* 1 when the record is stored at (shard, row) with the same meta and
 * layout: the text hash found the candidate, the bytes decide. */
static int reusable(struct pipeline *p, const dsv_oid *shard, uint64_t row,
		    const dsv_record *rec, uint64_t *rows)
{
	dsv_shard *sh = candidate_shard(p, shard);
	size_t mlen;
	if (!sh || row >= dsv_shard_rows(sh))
		return 0;
	const char *meta = dsv_shard_meta(sh, row, &mlen);
	if (mlen != rec->meta_len || dsv_shard_layout(sh, row) != rec->layout ||
	    (mlen && memcmp(meta, rec->meta, mlen) != 0))
		return 0;
	*rows = dsv_shard_rows(sh);
	return 1;
}

static uint64_t hkey(const dsv_rhash *h)
{
	uint64_t k;
	memcpy(&k, h->b, sizeof k);
	return k;
}

static int ptab_build(struct ptab *t, dsv_store *s, const dsv_manifest *m)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	uint64_t n = dsv_manifest_records(m);
	size_t cap = 1024;
	int rc;
	while (cap < 2 * n)
		cap *= 2;
	t->m = m;
	if (!(t->s = calloc(cap, sizeof *t->s)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	t->mask = cap - 1;
	rc = dsv_version_iter_new(&it, s, m, DSV_SHARD_HASH);
	while (!rc && (rc = dsv_version_iter_next(it, &r)) == 1) {
		size_t j = hkey(r.hash) & t->mask;
		while (t->s[j].entry)
			j = (j + 1) & t->mask;
		t->s[j] = (struct pslot){*r.hash, r.row,
					 (uint32_t)r.entry + 1};
		rc = 0;
	}
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

static int is_cached(const struct pipeline *p, const dsv_oid *id)
{
	for (int i = 0; i < CAND_CACHE; i++)
		if (p->cands[i].valid && dsv_oid_cmp(&p->cands[i].id, id) == 0)
			return 1;
	return 0;
}

/* Finds a stored copy of the record: among the parent's rows with its text
 * (an unused one first, so repeated records map to distinct rows), then at
 * the `records` index's first location. Rows in shards already decoded are
 * tried before the others: a text the corpus holds several times (mirrors
 * of one page) must not make each lookup decode a far-away shard, and the
 * row that matches is nearly always the one at the same place in the
 * parent, whose shard is at hand. 1 with *shard, *row, *rows set. */
#define MAX_SAME 64
static int find_stored(struct pipeline *p, const dsv_rhash *h,
		       const dsv_record *rec, dsv_oid *shard, uint64_t *row,
		       uint64_t *rows)
{
	const struct pslot *same[MAX_SAME];
	dsv_record_loc loc;
	int nsame = 0, found = 0;
	for (size_t j = p->parent.s ? hkey(h) & p->parent.mask : 0;
	     p->parent.s && p->parent.s[j].entry && nsame < MAX_SAME;
	     j = (j + 1) & p->parent.mask)
		if (memcmp(&p->parent.s[j].h, h, sizeof *h) == 0)
			same[nsame++] = &p->parent.s[j];
	for (int pass = 0; pass < 2 && !(found && pass); pass++) {
		for (int i = 0; i < nsame; i++) {
			const dsv_oid *id = &p->parent.m->e[same[i]->entry - 1]
						     .shard;
			uint64_t n, r = same[i]->row;
			if (is_cached(p, id) != !pass || !reusable(p, id, r, rec,
								   &n))
				continue;
			int used = dsv_vbuild_uses(p->vb, id, r);
			if (!found || !used) {
				*shard = *id;
				*row = r;
				*rows = n;
			}
			found = 1;
			if (!used)
				goto done;
		}
	}
	if (!found && dsv_index_get_record(p->s, h, &loc) == 0) {
		nsame++;
		if (reusable(p, &loc.shard, loc.row, rec, rows)) {
			*shard = loc.shard;
			*row = loc.row;
			found = 1;
		}
	}
done:
	p->st->records_known += nsame > 0;
	return found;
}

/* The queued slot handed over first, or NULL. Under the mutex. */
static struct slot *next_queued(struct pipeline *p)
{
	struct slot *best = NULL;
	for (int i = 0; i < p->nslots; i++)
		if (p->slots[i].state == SLOT_QUEUED &&
		    (!best || p->slots[i].seq < best->seq))
			best = &p->slots[i];
	return best;
}

static void *writer_main(void *arg)
{
	struct pipeline *p = arg;
	/* Each writer owns a core: no zstd threads on top. */
	if (p->nwriters > 1)
		dsv_obj_set_threads(1);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct slot *sl;
		while (!(sl = next_queued(p)) && !p->closing)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!sl)
			break;
		sl->state = SLOT_WRITING;
		int failed = p->err;
		pthread_mutex_unlock(&p->mu);
		dsv_oid id;
		int is_new = 0, rc = 0;
		uint64_t rows = dsv_shard_builder_rows(sl->b);
		if (!failed)
			rc = dsv_shard_builder_write(sl->b, p->s, p->level, &id,
						     &is_new);
		dsv_shard_builder_reset(sl->b);
		pthread_mutex_lock(&p->mu);
		if (!failed && !rc)
			rc = note_shard(p, sl->seq, &id, rows, is_new);
		if (rc && !p->err) {
			p->err = rc;
			snprintf(p->errmsg, sizeof p->errmsg, "%s",
				 dsv_error_last());
		}
		sl->state = SLOT_FREE;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Queues a full slot for the writers as the next shard. With `next`, waits
 * for a free slot to parse into and sets *next to it. Returns a writer's
 * error, if one had one, so parsing stops early. */
static int hand_over(struct pipeline *p, struct slot *sl, struct slot **next)
{
	pthread_mutex_lock(&p->mu);
	int err = p->err;
	if (!err) {
		sl->seq = p->handed++;
		sl->state = SLOT_QUEUED;
		pthread_cond_broadcast(&p->cv);
	}
	while (next && !err) {
		for (int i = 0; i < p->nslots && !*next; i++)
			if (p->slots[i].state == SLOT_FREE)
				*next = &p->slots[i];
		if (*next)
			break;
		pthread_cond_wait(&p->cv, &p->mu);
		err = p->err;
	}
	pthread_mutex_unlock(&p->mu);
	return err;
}

static void note_bad(dsv_ingest_stats *st, const dsv_reader *r)
{
	const char *const *msgs;
	size_t n = dsv_reader_bad_list(r, &msgs);
	st->records_bad += dsv_reader_bad(r);
	for (size_t i = 0; i < n && st->nbad_msgs < 10; i++)
		snprintf(st->bad_msgs[st->nbad_msgs++],
			 sizeof st->bad_msgs[0], "%s", msgs[i]);
}

/* Parses one file into slots, handing each full one to the writers; *cur
 * is the slot being filled. */
static int ingest_file(struct pipeline *p, const char *path,
		       const dsv_ingest_opts *o, struct slot **cur,
		       uint64_t shard_bytes, uint64_t *read_before)
{
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_oid shard;
	dsv_rhash h;
	int rc = dsv_reader_open(&r, path, &o->reader);
	uint64_t n = 0, row, rows;
	if (rc)
		return rc;
	while ((rc = dsv_reader_next(r, &rec)) == 1) {
		struct slot *sl = *cur;
		dsv_rhash_text(&h, rec.text, rec.text_len);
		p->st->records++;
		p->st->text_bytes += rec.text_len;
		p->st->meta_bytes += rec.meta_len;
		if (find_stored(p, &h, &rec, &shard, &row, &rows)) {
			p->st->records_reused++;
			if ((rc = dsv_vbuild_ref(p->vb, &shard, rows, row)))
				goto cleanup;
			goto next;
		}
		if ((rc = dsv_vbuild_add_new(p->vb, p->handed,
					     dsv_shard_builder_rows(sl->b))) ||
		    (rc = dsv_shard_builder_add(sl->b, rec.text, rec.text_len,
						rec.meta, rec.meta_len,
						rec.layout, &h)))
			goto cleanup;
		p->st->records_stored++;
		if (dsv_shard_builder_bytes(sl->b) >= shard_bytes) {
			*cur = NULL;
			if ((rc = hand_over(p, sl, cur)))
				goto cleanup;
		}
	next:
		if (o->progress && (++n & 1023) == 0)
			o->progress(o->progress_ctx,
				    *read_before + dsv_reader_bytes_in(r));
	}
cleanup:
	if (r) {
		*read_before += dsv_reader_bytes_in(r);
		note_bad(p->st, r);
	}
	dsv_reader_free(r);
	return rc < 0 ? rc : 0;
}

int dsv_ingest(dsv_store *s, const char *const *paths, size_t npaths,
	       const dsv_ingest_opts *o, dsv_manifest *m, dsv_ingest_stats *st)
{
	struct pipeline p = {.s = s, .st = st};
	struct slot slots[MAX_WRITERS + 1] = {{0}}, *cur = &slots[0];
	pthread_t writers[MAX_WRITERS];
	dsv_vbuild_stats vs;
	uint64_t shard_bytes = o->shard_bytes ? o->shard_bytes
					      : DSV_SHARD_TARGET_BYTES;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = 0, started = 0, parsed = 0;

	memset(st, 0, sizeof *st);
	p.level = o->level ? o->level : DSV_DEFAULT_LEVEL;
	p.nwriters = ncpu < 1 ? 1 : ncpu > MAX_WRITERS ? MAX_WRITERS : (int)ncpu;
	p.nslots = p.nwriters + 1;
	p.slots = slots;
	if ((o->parent && (rc = ptab_build(&p.parent, s, o->parent))) ||
	    (rc = dsv_vbuild_new(&p.vb, s)))
		goto cleanup;
	for (int i = 0; i < p.nslots; i++)
		if ((rc = dsv_shard_builder_new(&slots[i].b)))
			goto cleanup;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (; started < p.nwriters; started++)
		if (pthread_create(&writers[started], NULL, writer_main, &p)) {
			rc = dsv_error_set(DSV_EIO,
					   "cannot start a writer thread");
			goto cleanup;
		}

	for (size_t i = 0; i < npaths && !rc; i++) {
		rc = ingest_file(&p, paths[i], o, &cur, shard_bytes,
				 &st->bytes_read);
		st->files++;
	}
	if (!rc && cur && dsv_shard_builder_rows(cur->b))
		rc = hand_over(&p, cur, NULL);
	parsed = 1;

cleanup:
	if (started) {
		pthread_mutex_lock(&p.mu);
		p.closing = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		for (int i = 0; i < started; i++)
			pthread_join(writers[i], NULL);
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.cv);
		/* hand_over returns a writer's code; its message is here. */
		if (p.err && (!rc || rc == p.err))
			rc = dsv_error_set(p.err, "%s", p.errmsg);
	}
	if (!rc && parsed && st->records) {
		rc = dsv_vbuild_finish(p.vb, p.new_ids, p.new_rows, p.nnew, m,
				       &vs);
		st->shards = vs.entries;
		st->shards_new += vs.objects_new;
		st->bytes_written += vs.bytes_written;
		st->has_order = vs.has_order;
	}
	for (int i = 0; i < MAX_WRITERS + 1; i++)
		dsv_shard_builder_free(slots[i].b);
	for (int i = 0; i < CAND_CACHE; i++)
		dsv_shard_free(p.cands[i].sh);
	dsv_vbuild_free(p.vb);
	free(p.new_ids);
	free(p.new_rows);
	free(p.parent.s);
	return rc;
}
