/* ingest.c: input files to shards, pipelined. The calling thread parses and
 * hashes records into one shard builder while a writer thread encodes,
 * compresses (zstd on every core) and stores the previous one, so parsing
 * hides behind compression. Two builders alternate; memory stays at about
 * two shards whatever the corpus size.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One builder and the hashes of its rows (kept here so the writer can ask
 * the index which records the repository already holds without rehashing). */
struct slot {
	dsv_shard_builder *b;
	dsv_rhash *hashes;
	size_t nhashes, cap;
};

struct pipeline {
	dsv_store *s;
	int level;
	dsv_manifest *m;
	dsv_ingest_stats *st;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *pending; /* handed to the writer; NULL when it is idle */
	int closing;          /* no more slots will come */
	int err;              /* the writer's first error, with its message */
	char errmsg[1024];
};

static int slot_add_hash(struct slot *sl, const dsv_rhash *h)
{
	if (sl->nhashes == sl->cap) {
		size_t cap = sl->cap ? 2 * sl->cap : 4096;
		dsv_rhash *p = dsv_realloc(sl->hashes, cap * sizeof *p);
		if (!p)
			return DSV_ENOMEM;
		sl->hashes = p;
		sl->cap = cap;
	}
	sl->hashes[sl->nhashes++] = *h;
	return 0;
}

static uint64_t count_known(dsv_store *s, const struct slot *sl)
{
	uint64_t known = 0;
	dsv_record_loc loc;
	for (size_t i = 0; i < sl->nhashes; i++)
		if (dsv_index_get_record(s, &sl->hashes[i], &loc) == 0)
			known++;
	return known;
}

/* Stores one full builder and appends its manifest entry. Runs on the writer
 * thread; manifest and stats are only touched here until the join. */
static int store_slot(struct pipeline *p, struct slot *sl)
{
	dsv_manifest_entry e = {0};
	int is_new = 0, rc;
	dsv_obj_info info;

	p->st->records_known += count_known(p->s, sl);
	rc = dsv_shard_builder_write(sl->b, p->s, p->level, &e.shard, &is_new);
	if (rc)
		return rc;
	e.rows = e.kept = dsv_shard_builder_rows(sl->b);
	e.repeat = 1;
	rc = dsv_manifest_add(p->m, &e);
	if (rc)
		return rc;
	p->st->shards++;
	if (is_new) {
		p->st->shards_new++;
		if (dsv_index_get_object(p->s, &e.shard, &info) == 0)
			p->st->bytes_written += info.stored_size;
	}
	dsv_shard_builder_reset(sl->b);
	sl->nhashes = 0;
	return 0;
}

static void *writer_main(void *arg)
{
	struct pipeline *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->pending && !p->closing)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->pending)
			break;
		struct slot *sl = p->pending;
		pthread_mutex_unlock(&p->mu);
		int rc = p->err ? 0 : store_slot(p, sl);
		pthread_mutex_lock(&p->mu);
		if (rc && !p->err) {
			p->err = rc;
			snprintf(p->errmsg, sizeof p->errmsg, "%s",
				 dsv_error_last());
		}
		p->pending = NULL;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Hands a full slot to the writer once it is idle; returns the writer's
 * error, if it had one, so parsing stops early. */
static int hand_over(struct pipeline *p, struct slot *sl)
{
	pthread_mutex_lock(&p->mu);
	while (p->pending)
		pthread_cond_wait(&p->cv, &p->mu);
	int err = p->err;
	if (!err) {
		p->pending = sl;
		pthread_cond_broadcast(&p->cv);
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

/* Parses one file into the slots, handing each full one to the writer. */
static int ingest_file(struct pipeline *p, const char *path,
		       const dsv_ingest_opts *o, struct slot slots[2],
		       int *cur, uint64_t shard_bytes, uint64_t *read_before)
{
	dsv_reader *r = NULL;
	dsv_record rec;
	dsv_rhash h;
	int rc = dsv_reader_open(&r, path, &o->reader);
	uint64_t n = 0;
	if (rc)
		return rc;
	while ((rc = dsv_reader_next(r, &rec)) == 1) {
		struct slot *sl = &slots[*cur];
		dsv_rhash_text(&h, rec.text, rec.text_len);
		if ((rc = slot_add_hash(sl, &h)) ||
		    (rc = dsv_shard_builder_add(sl->b, rec.text, rec.text_len,
						rec.meta, rec.meta_len,
						rec.layout, &h)))
			goto cleanup;
		p->st->records++;
		p->st->text_bytes += rec.text_len;
		p->st->meta_bytes += rec.meta_len;
		if (dsv_shard_builder_text_bytes(sl->b) >= shard_bytes) {
			if ((rc = hand_over(p, sl)))
				goto cleanup;
			*cur ^= 1;
		}
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
	struct pipeline p = {.s = s, .m = m, .st = st};
	struct slot slots[2] = {{0}};
	uint64_t shard_bytes = o->shard_bytes ? o->shard_bytes
					      : DSV_SHARD_TARGET_BYTES;
	int cur = 0, rc = 0, started = 0;
	pthread_t writer;

	memset(st, 0, sizeof *st);
	p.level = o->level ? o->level : DSV_DEFAULT_LEVEL;
	if ((rc = dsv_shard_builder_new(&slots[0].b)) ||
	    (rc = dsv_shard_builder_new(&slots[1].b)))
		goto cleanup;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pthread_create(&writer, NULL, writer_main, &p)) {
		rc = dsv_error_set(DSV_EIO, "cannot start the writer thread");
		goto cleanup;
	}
	started = 1;

	for (size_t i = 0; i < npaths && !rc; i++) {
		rc = ingest_file(&p, paths[i], o, slots, &cur, shard_bytes,
				 &st->bytes_read);
		st->files++;
	}
	if (!rc && dsv_shard_builder_rows(slots[cur].b))
		rc = hand_over(&p, &slots[cur]);

cleanup:
	if (started) {
		pthread_mutex_lock(&p.mu);
		p.closing = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(writer, NULL);
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.cv);
		/* hand_over returns the writer's code; its message is here. */
		if (p.err && (!rc || rc == p.err))
			rc = dsv_error_set(p.err, "%s", p.errmsg);
	}
	for (int i = 0; i < 2; i++) {
		dsv_shard_builder_free(slots[i].b);
		free(slots[i].hashes);
	}
	return rc;
}
