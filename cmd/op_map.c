/* op_map.c: `dsv derive map REV --cmd CMD -o NAME -m MSG`: streams a
 * version's records as JSONL through an external program and commits what it
 * answers, with provenance columns: an answer equal to the record sent is
 * that record's stored row (a view, built by store/vbuild.c), the others go
 * to new shards. Also the new-text output
 * that map, rephrase and synth share (cmd/cmd.h, "new-text derivations"):
 * shards built from new records, their columns, the manifest and the one
 * lineage commit. docs/generate.md describes the protocol.
 *
 * With -j 1 the stages overlap on their own threads: the version
 * iterator's loader decodes the next input shard (into the buffers of the
 * last one, checked by frame checksums, not re-hashed), a feeder thread
 * writes the records as JSONL into the program's stdin pipe, this thread
 * reads the answers, parses each line where it lies and fills a shard
 * builder, and a writer thread hashes, compresses and stores each full
 * shard while the next one fills. With -j N each program reads a spooled
 * contiguous slice; the first unfinished slice's answers go to shards as
 * they come, the others' wait in spill files, so the version keeps the
 * input's order whatever the workers' speeds.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the new-text output --------------------------------------------------- */

#define NT_MAX_COLS 4

/* Shards written at once, and slots: one more, filled meanwhile. */
#define NT_WRITERS 2
#define NT_SLOTS (NT_WRITERS + 1)

enum { NT_FREE, NT_FILLING, NT_QUEUED, NT_WRITING };

/* A shard being filled or written, with its provenance columns. */
struct nt_slot {
	dsv_shard_builder *sb;
	uint64_t *colv[NT_MAX_COLS];
	size_t colcap;
	int state;              /* NT_*, under the mutex */
	size_t seq;             /* hand-over order: its manifest position */
};

/* What a writer made of the seq-th shard; entries go into the manifest in
 * seq order at commit. */
struct nt_done {
	dsv_oid shard;
	uint64_t rows;
	dsv_manifest_col cols[NT_MAX_COLS];
};

/* A vbuild entry (newtext_reuse): the k-th new shard, or a stored shard
 * with the provenance values of the rows the version uses. */
struct nt_ent {
	int is_ref;
	size_t k;
	uint64_t rows;
	uint64_t *colv[NT_MAX_COLS];
};

/* Full shards are written (hashed, compressed, stored, fsynced, indexed)
 * by writer threads while the caller fills another slot, so the answers
 * keep flowing during the writes. Two writers: one shard's fsyncs (the
 * shard and its columns, each with its directory) wait on the disk while
 * the other hashes; memory stays at NT_SLOTS shards. */
struct newtext {
	char op[DSV_ARTIFACT_NAME_MAX];
	const char *branch, *message;
	int locked, has_old;
	dsv_aid old;
	dsv_store *s;
	dsv_lineage *l;
	dsv_meter *meter;
	dsv_artifact *art;
	dsv_aid parents[8];
	size_t nparents;
	struct nt_slot slot[NT_SLOTS];
	int cur;                /* the slot being filled */
	int ncols;
	char colname[NT_MAX_COLS][32];
	uint64_t records, text_bytes, shard_bytes;
	dsv_manifest *m;
	/* newtext_reuse: records may be stored rows; the caller's thread only */
	dsv_vbuild *vb;
	struct nt_ent *ent;     /* by vbuild entry */
	size_t nent, capent;
	uint64_t reused, objects_view;
	/* Under the mutex while writers run. */
	struct nt_done *done;
	size_t ndone, capdone, handed;
	uint64_t shards_new, bytes_written;
	pthread_t writer[NT_WRITERS];
	int nwriters, has_sync;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int closing, err;
	char errmsg[1024];
};

static int newtext_write(struct newtext *nt, struct nt_slot *sl,
			 struct nt_done *d, int *is_new, uint64_t *stored);

/* The queued slot handed over first, or NULL. Under the mutex. */
static struct nt_slot *nt_next_queued(struct newtext *nt)
{
	struct nt_slot *best = NULL;
	for (int i = 0; i < NT_SLOTS; i++)
		if (nt->slot[i].state == NT_QUEUED &&
		    (!best || nt->slot[i].seq < best->seq))
			best = &nt->slot[i];
	return best;
}

/* Files a written shard under its seq. Under the mutex. */
static int nt_note(struct newtext *nt, size_t seq, const struct nt_done *d)
{
	if (seq >= nt->capdone) {
		size_t cap = nt->capdone ? 2 * nt->capdone : 16;
		while (cap <= seq)
			cap *= 2;
		struct nt_done *p = realloc(nt->done, cap * sizeof *p);
		if (!p)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		nt->done = p;
		nt->capdone = cap;
	}
	nt->done[seq] = *d;
	if (seq >= nt->ndone)
		nt->ndone = seq + 1;
	return 0;
}

static void *newtext_writer(void *arg)
{
	struct newtext *nt = arg;
	/* Each writer owns a core: no zstd threads on top. */
	dsv_obj_set_threads(1);
	pthread_mutex_lock(&nt->mu);
	for (;;) {
		struct nt_slot *sl;
		while (!(sl = nt_next_queued(nt)) && !nt->closing)
			pthread_cond_wait(&nt->cv, &nt->mu);
		if (!sl)
			break;
		int failed = nt->err;
		sl->state = NT_WRITING;
		pthread_mutex_unlock(&nt->mu);
		struct nt_done d;
		int is_new = 0, rc = 0;
		uint64_t stored = 0;
		if (!failed)
			rc = newtext_write(nt, sl, &d, &is_new, &stored);
		dsv_shard_builder_reset(sl->sb);
		pthread_mutex_lock(&nt->mu);
		if (!failed && !rc && !(rc = nt_note(nt, sl->seq, &d))) {
			nt->shards_new += is_new;
			nt->bytes_written += stored;
		}
		if (rc && !nt->err) {
			nt->err = rc;
			snprintf(nt->errmsg, sizeof nt->errmsg, "%s",
				 dsv_error_last());
		}
		sl->state = NT_FREE;
		pthread_cond_broadcast(&nt->cv);
	}
	pthread_mutex_unlock(&nt->mu);
	return NULL;
}

/* Waits until no slot is queued or being written (all: every shard handed
 * over is stored) or until one is free to fill; a writer's error, if one
 * had one, becomes this thread's. Sets *freed to the free slot. */
static int newtext_wait(struct newtext *nt, int all, int *freed)
{
	pthread_mutex_lock(&nt->mu);
	for (;;) {
		int busy = 0, fr = -1;
		for (int i = 0; i < NT_SLOTS; i++) {
			if (nt->slot[i].state == NT_QUEUED ||
			    nt->slot[i].state == NT_WRITING)
				busy++;
			else if (nt->slot[i].state == NT_FREE && fr < 0)
				fr = i;
		}
		if (nt->err || (all ? !busy : fr >= 0)) {
			if (freed)
				*freed = fr;
			break;
		}
		pthread_cond_wait(&nt->cv, &nt->mu);
	}
	int err = nt->err;
	pthread_mutex_unlock(&nt->mu);
	return err ? dsv_error_set(err, "%s", nt->errmsg) : 0;
}

/* Stops the writers; what is still queued is dropped (a failure). */
static void newtext_stop(struct newtext *nt)
{
	if (!nt->nwriters)
		return;
	pthread_mutex_lock(&nt->mu);
	nt->closing = 1;
	for (int i = 0; i < NT_SLOTS; i++)
		if (nt->slot[i].state == NT_QUEUED)
			nt->slot[i].state = NT_FREE;
	pthread_cond_broadcast(&nt->cv);
	pthread_mutex_unlock(&nt->mu);
	for (int i = 0; i < nt->nwriters; i++)
		pthread_join(nt->writer[i], NULL);
	nt->nwriters = 0;
}

int newtext_start(struct newtext **out, const char *op, dsv_mode mode,
		  const char *branch, const char *message, int force,
		  const char *const *cols, int ncols)
{
	struct newtext *nt = calloc(1, sizeof *nt);
	char ref[300];
	int rc;
	*out = nt;
	if (!nt)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	snprintf(nt->op, sizeof nt->op, "%s", op);
	nt->branch = branch;
	nt->message = message;
	nt->s = the_repo->store;
	nt->l = the_repo->lineage;
	nt->shard_bytes = DSV_SHARD_TARGET_BYTES;
	if (getenv("DSV_SHARD_BYTES"))
		nt->shard_bytes = strtoull(getenv("DSV_SHARD_BYTES"), NULL, 10);
	if (ncols > NT_MAX_COLS)
		return dsv_error_set(DSV_EINVAL, "too many columns");
	nt->ncols = ncols;
	for (int i = 0; i < ncols; i++)
		snprintf(nt->colname[i], sizeof nt->colname[i], "%s", cols[i]);
	if ((rc = dsv_lineage_name_validate(branch)))
		return dsv_error_wrap(rc, "-o '%s'", branch);
	if ((rc = dsv_artifact_new(&nt->art, DSV_KIND_DATASET, op)) ||
	    (rc = dsv_meter_new(&nt->meter, mode)) ||
	    (rc = dsv_manifest_new(&nt->m)))
		return rc;
	for (int k = 0; k < NT_SLOTS; k++)
		if ((rc = dsv_shard_builder_new(&nt->slot[k].sb)))
			return rc;
	/* Room for a full shard (a record may run past the target; the
	 * buffers then grow in place), so filling one copies nothing. */
	for (int k = 0; k < NT_SLOTS; k++)
		if ((rc = dsv_shard_builder_reserve(nt->slot[k].sb,
						    nt->shard_bytes + (1 << 20),
						    nt->shard_bytes / 4)))
			return rc;
	dsv_meter_start(nt->meter);
	/* The lock keeps gc away from objects written before the commit
	 * names them, and other writers off the branch. */
	if ((rc = dsv_store_lock_branch(nt->s, branch)))
		return rc;
	nt->locked = 1;
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	rc = dsv_lineage_ref_get(nt->l, ref, &nt->old);
	if (rc == DSV_ENOTFOUND)
		rc = 0;
	else if (rc)
		return rc;
	else if (!force)
		return dsv_error_set(DSV_EEXISTS, "branch '%s' already exists "
				     "(use --force to move it)", branch);
	else
		nt->has_old = 1;
	nt->slot[0].state = NT_FILLING;
	pthread_mutex_init(&nt->mu, NULL);
	pthread_cond_init(&nt->cv, NULL);
	nt->has_sync = 1;
	for (; nt->nwriters < NT_WRITERS; nt->nwriters++)
		if (pthread_create(&nt->writer[nt->nwriters], NULL,
				   newtext_writer, nt))
			return dsv_error_set(DSV_EIO, "cannot start a writer "
					     "thread");
	return 0;
}

void newtext_free(struct newtext *nt)
{
	if (!nt)
		return;
	newtext_stop(nt);
	if (nt->has_sync) {
		pthread_mutex_destroy(&nt->mu);
		pthread_cond_destroy(&nt->cv);
	}
	if (nt->locked)
		dsv_store_unlock(nt->s);
	dsv_meter_free(nt->meter);
	dsv_artifact_free(nt->art);
	free(nt->done);
	for (int k = 0; k < NT_SLOTS; k++) {
		dsv_shard_builder_free(nt->slot[k].sb);
		for (int i = 0; i < nt->ncols; i++)
			free(nt->slot[k].colv[i]);
	}
	dsv_manifest_free(nt->m);
	for (size_t e = 0; e < nt->nent; e++)
		for (int i = 0; i < nt->ncols; i++)
			free(nt->ent[e].colv[i]);
	free(nt->ent);
	dsv_vbuild_free(nt->vb);
	free(nt);
}

int newtext_reuse(struct newtext *nt)
{
	return dsv_vbuild_new(&nt->vb, nt->s);
}

/* The vbuild entry the last record went to, noted when it is a fresh one
 * (entries open in sequence). */
static int nt_entry(struct newtext *nt, int is_ref, size_t k, uint64_t rows,
		    struct nt_ent **out)
{
	size_t e = dsv_vbuild_last_entry(nt->vb);
	if (e < nt->nent) {
		*out = &nt->ent[e];
		return 0;
	}
	if (e != nt->nent)
		return dsv_error_set(DSV_EINVAL, "vbuild entries out of "
				     "sequence");
	if (nt->nent == nt->capent) {
		size_t cap = nt->capent ? 2 * nt->capent : 64;
		struct nt_ent *p = realloc(nt->ent, cap * sizeof *p);
		if (!p)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		nt->ent = p;
		nt->capent = cap;
	}
	struct nt_ent *x = &nt->ent[nt->nent++];
	memset(x, 0, sizeof *x);
	x->is_ref = is_ref;
	x->k = k;
	x->rows = rows;
	for (int i = 0; is_ref && i < nt->ncols; i++)
		if (!(x->colv[i] = calloc(rows ? rows : 1, sizeof(uint64_t))))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
	*out = x;
	return 0;
}

int newtext_ref(struct newtext *nt, const dsv_oid *shard, uint64_t rows,
		uint64_t row, size_t tlen, const uint64_t *colvals)
{
	struct nt_ent *x;
	int rc;
	if ((rc = dsv_vbuild_ref(nt->vb, shard, rows, row)) ||
	    (rc = nt_entry(nt, 1, 0, rows, &x)))
		return rc;
	for (int i = 0; i < nt->ncols; i++)
		x->colv[i][row] = colvals[i];
	nt->records++;
	nt->reused++;
	nt->text_bytes += tlen;
	return 0;
}

dsv_artifact *newtext_artifact(struct newtext *nt) { return nt->art; }
dsv_meter *newtext_meter(struct newtext *nt) { return nt->meter; }
uint64_t newtext_records(const struct newtext *nt) { return nt->records; }

int newtext_add_parent(struct newtext *nt, const char *role, const dsv_aid *id)
{
	for (size_t i = 0; i < nt->nparents; i++)
		if (!dsv_aid_cmp(&nt->parents[i], id))
			return 0;
	if (nt->nparents == 8)
		return dsv_error_set(DSV_EINVAL, "too many inputs");
	nt->parents[nt->nparents++] = *id;
	return dsv_artifact_add_input(nt->art, role, id);
}

/* A writer: stores a full slot's shard and its columns. */
static int newtext_write(struct newtext *nt, struct nt_slot *sl,
			 struct nt_done *d, int *is_new, uint64_t *stored)
{
	uint64_t rows = dsv_shard_builder_rows(sl->sb);
	dsv_obj_info info;
	int rc, col_new;
	memset(d, 0, sizeof *d);
	d->rows = rows;
	if ((rc = dsv_shard_builder_write(sl->sb, nt->s, DSV_DEFAULT_LEVEL,
					  &d->shard, is_new)))
		return rc;
	if (*is_new && dsv_index_get_object(nt->s, &d->shard, &info) == 0)
		*stored = info.stored_size;
	for (int i = 0; i < nt->ncols; i++) {
		dsv_column *c = NULL;
		if ((rc = dsv_column_new(&c, DSV_COL_U64, rows)))
			return rc;
		memcpy(dsv_column_data(c), sl->colv[i], rows * sizeof(uint64_t));
		rc = dsv_column_write(c, nt->s, &d->shard, &d->cols[i].id,
				      &col_new);
		dsv_column_free(c);
		if (rc)
			return rc;
		snprintf(d->cols[i].name, sizeof d->cols[i].name, "%s",
			 nt->colname[i]);
	}
	return 0;
}

/* Hands the slot being filled to the writers and goes on with a free one
 * (waiting for one when every other slot is being written). */
static int newtext_flush(struct newtext *nt)
{
	int rc, fr;
	if (!dsv_shard_builder_rows(nt->slot[nt->cur].sb))
		return 0;
	pthread_mutex_lock(&nt->mu);
	nt->slot[nt->cur].seq = nt->handed++;
	nt->slot[nt->cur].state = NT_QUEUED;
	pthread_cond_broadcast(&nt->cv);
	pthread_mutex_unlock(&nt->mu);
	if ((rc = newtext_wait(nt, 0, &fr)))
		return rc;
	pthread_mutex_lock(&nt->mu);
	nt->slot[fr].state = NT_FILLING;
	pthread_mutex_unlock(&nt->mu);
	nt->cur = fr;
	return 0;
}

/* Columns over a stored shard for a reused entry. */
static int nt_ref_cols(struct newtext *nt, const struct nt_ent *x,
		       const dsv_oid *shard, dsv_manifest_col *cols)
{
	int rc = 0, is_new;
	for (int i = 0; !rc && i < nt->ncols; i++) {
		dsv_column *c = NULL;
		if ((rc = dsv_column_new(&c, DSV_COL_U64, x->rows)))
			break;
		memcpy(dsv_column_data(c), x->colv[i], x->rows * sizeof(uint64_t));
		rc = dsv_column_write(c, nt->s, shard, &cols[i].id, &is_new);
		dsv_column_free(c);
		snprintf(cols[i].name, sizeof cols[i].name, "%s", nt->colname[i]);
	}
	return rc;
}

/* newtext_reuse: vbuild makes the entries (stored shards with selections,
 * the new shards, an order where needed); each gets its columns. */
static int newtext_finish_view(struct newtext *nt)
{
	dsv_manifest *tmp = NULL;
	dsv_oid *ids = calloc(nt->ndone + 1, sizeof *ids);
	uint64_t *rows = calloc(nt->ndone + 1, sizeof *rows);
	dsv_vbuild_stats vs;
	int rc;
	if (!ids || !rows) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nt->ndone; i++) {
		ids[i] = nt->done[i].shard;
		rows[i] = nt->done[i].rows;
	}
	if ((rc = dsv_manifest_new(&tmp)) ||
	    (rc = dsv_vbuild_finish(nt->vb, ids, rows, nt->ndone, tmp, &vs)))
		goto out;
	if (tmp->n != nt->nent) {
		rc = dsv_error_set(DSV_EINVAL, "vbuild made %zu %s for %zu",
				   tmp->n, plural(tmp->n, "entry", "entries"),
				   nt->nent);
		goto out;
	}
	nt->objects_view = vs.objects_new;
	nt->bytes_written += vs.bytes_written;
	for (size_t i = 0; i < tmp->n && !rc; i++) {
		dsv_manifest_entry e = tmp->e[i];
		dsv_manifest_col cols[NT_MAX_COLS];
		e.ncols = (size_t)nt->ncols;
		if (nt->ent[i].is_ref) {
			rc = nt_ref_cols(nt, &nt->ent[i], &e.shard, cols);
			e.cols = nt->ncols ? cols : NULL;
		} else {
			e.cols = nt->ncols ? nt->done[nt->ent[i].k].cols : NULL;
		}
		if (!rc)
			rc = dsv_manifest_add(nt->m, &e);
	}
	nt->m->has_order = tmp->has_order;
	nt->m->order = tmp->order;
out:
	dsv_manifest_free(tmp);
	free(ids);
	free(rows);
	return rc;
}

/* Every shard stored: their entries go into the manifest in order. */
static int newtext_finish(struct newtext *nt)
{
	int rc;
	if ((rc = newtext_flush(nt)) || (rc = newtext_wait(nt, 1, NULL)))
		return rc;
	if (nt->vb)
		return newtext_finish_view(nt);
	for (size_t i = 0; i < nt->ndone; i++) {
		dsv_manifest_entry e = {0};
		e.shard = nt->done[i].shard;
		e.rows = e.kept = nt->done[i].rows;
		e.repeat = 1;
		e.ncols = (size_t)nt->ncols;
		e.cols = nt->ncols ? nt->done[i].cols : NULL;
		if ((rc = dsv_manifest_add(nt->m, &e)))
			return rc;
	}
	return 0;
}

int newtext_add(struct newtext *nt, const char *text, size_t tlen,
		const char *meta, size_t mlen, uint32_t layout,
		const dsv_rhash *hash, const uint64_t *colvals)
{
	struct nt_slot *sl = &nt->slot[nt->cur];
	uint64_t row = dsv_shard_builder_rows(sl->sb);
	int rc;
	if (row == sl->colcap) {
		size_t cap = sl->colcap ? 2 * sl->colcap : 1024;
		for (int i = 0; i < nt->ncols; i++) {
			uint64_t *v = realloc(sl->colv[i], cap * sizeof *v);
			if (!v)
				return dsv_error_set(DSV_ENOMEM, "out of memory");
			sl->colv[i] = v;
		}
		sl->colcap = cap;
	}
	if ((rc = dsv_shard_builder_add(sl->sb, text, tlen, meta, mlen, layout,
					hash)))
		return rc;
	if (nt->vb) {
		/* the slot filling is the handed-th new shard */
		struct nt_ent *x;
		if ((rc = dsv_vbuild_add_new(nt->vb, nt->handed, row)) ||
		    (rc = nt_entry(nt, 0, nt->handed, 0, &x)))
			return rc;
	}
	for (int i = 0; i < nt->ncols; i++)
		sl->colv[i][row] = colvals[i];
	nt->records++;
	nt->text_bytes += tlen;
	if (dsv_shard_builder_bytes(sl->sb) >= nt->shard_bytes)
		return newtext_flush(nt);
	return 0;
}

/* A record made from a JSON object (it must hold a string "text"): the
 * object is written as one JSONL line and read back by the store's reader,
 * so text, meta and layout are what `dsv commit` would have made of it. */
int newtext_add_json(struct newtext *nt, json_t *obj, const uint64_t *colvals)
{
	char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	dsv_reader *r = NULL;
	dsv_reader_opts ro = {.text_field = "text"};
	dsv_record rec;
	int rc;
	if (!line)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (!(rc = dsv_reader_open_mem(&r, "record.jsonl", line, strlen(line), &ro))) {
		rc = dsv_reader_next(r, &rec);
		if (rc == 1)
			rc = newtext_add(nt, rec.text, rec.text_len, rec.meta,
					 rec.meta_len, rec.layout, NULL, colvals);
		else if (rc == 0)
			rc = dsv_error_set(DSV_EINVAL, "no record");
	}
	dsv_reader_free(r);
	free(line);
	return rc;
}

int newtext_commit(struct newtext *nt, int quiet, int json, dsv_aid *out)
{
	char *manifest = NULL, *js = NULL, ref[300], hex[DSV_AID_HEXLEN + 1];
	size_t mlen, jlen;
	dsv_compute c;
	int rc;
	if ((rc = newtext_finish(nt)))
		return rc;
	dsv_meter_add(nt->meter, DSV_METER_RECORDS_OUT, nt->records);
	dsv_meter_add(nt->meter, DSV_METER_BYTES_WRITTEN, nt->bytes_written);
	dsv_meter_stop(nt->meter);
	dsv_meter_read(nt->meter, &c);
	dsv_artifact_stat_int(nt->art, "records", (int64_t)nt->records);
	dsv_artifact_stat_int(nt->art, "text_bytes", (int64_t)nt->text_bytes);
	dsv_artifact_stat_int(nt->art, "shards", (int64_t)nt->m->n);
	dsv_artifact_stat_int(nt->art, "new_objects",
			      (int64_t)(nt->shards_new + nt->objects_view));
	if (nt->vb) {
		dsv_artifact_stat_int(nt->art, "records_reused",
				      (int64_t)nt->reused);
		dsv_artifact_stat_int(nt->art, "records_new",
				      (int64_t)(nt->records - nt->reused));
		dsv_artifact_stat_int(nt->art, "new_shards",
				      (int64_t)nt->shards_new);
	}
	dsv_artifact_set_compute(nt->art, &c);
	if ((rc = dsv_manifest_format(nt->m, &manifest, &mlen)) ||
	    (rc = dsv_artifact_format(nt->art, &js, &jlen)))
		goto out;
	dsv_tree_file files[] = {{"dsv.json", js, jlen},
				 {"MANIFEST", manifest, mlen}};
	snprintf(ref, sizeof ref, "refs/heads/%s", nt->branch);
	dsv_commit_opts co = {.files = files, .nfiles = 2, .parents = nt->parents,
			      .nparents = nt->nparents, .message = nt->message,
			      .ref = ref, .expected = nt->has_old ? &nt->old : NULL};
	if ((rc = dsv_lineage_commit(nt->l, &co, out)))
		goto out;
	if (dsv_version_index(nt->s, nt->m, out->b))
		fprintf(stderr, "dsv: warning: %s; run 'dsv fsck "
				"--rebuild-index'\n", dsv_error_last());
	if (json) {
		json_t *o = json_object();
		dsv_aid_fmt(hex, out);
		json_object_set_new(o, "artifact", json_string(hex));
		json_object_set_new(o, "branch", json_string(nt->branch));
		json_object_set_new(o, "op", json_string(nt->op));
		json_object_set_new(o, "stats", json_incref(nt->art->stats));
		json_object_set_new(o, "wall_s", json_real(c.wall_s));
		print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
	} else if (!quiet && nt->vb) {
		dsv_aid_short(hex, out);
		printf("[%s %s] %s\n", nt->branch, hex, nt->message);
		printf(" %s: %llu %s: %llu unchanged (stored rows reused), "
		       "%llu new in %llu new %s; %.2f s\n", nt->op,
		       (unsigned long long)nt->records,
		       plural(nt->records, "record", "records"),
		       (unsigned long long)nt->reused,
		       (unsigned long long)(nt->records - nt->reused),
		       (unsigned long long)nt->ndone,
		       plural(nt->ndone, "shard", "shards"), c.wall_s);
	} else if (!quiet) {
		char b[32];
		dsv_aid_short(hex, out);
		printf("[%s %s] %s\n", nt->branch, hex, nt->message);
		printf(" %s: %llu new %s (%s of text) in %zu %s; %.2f s\n",
		       nt->op, (unsigned long long)nt->records,
		       plural(nt->records, "record", "records"),
		       human_bytes(b, (double)nt->text_bytes), nt->m->n,
		       plural(nt->m->n, "shard", "shards"), c.wall_s);
	}
out:
	free(manifest);
	free(js);
	return rc;
}

/* ---- the workers ----------------------------------------------------------- */

/* Answers are read in chunks of this size; inputs are written in chunks of
 * about IN_CHUNK; both pipes are widened to PIPE_SIZE where the kernel lets
 * us, so a fast program such as `cat` costs few context switches. */
#define OUT_CHUNK (4u << 20)
#define IN_CHUNK (1u << 20)
#define PIPE_SIZE (1 << 20)

/* What the feeders read of the input: every column, checked by the zstd
 * frame checksums as `dsv export` checks what it writes, not re-hashed
 * against the ids (the objects were verified when written and `dsv fsck`
 * checks them; the record hashes only name records and fill `source`). */
#define MAP_COLS (DSV_SHARD_ALL | DSV_SHARD_NOVERIFY)

struct failure {
	uint64_t pos;   /* position in the input version, from 0 */
	char reason[160];
};

struct map;

/* An input record: where it is stored (manifest entry and row), its
 * text's length and the XXH3-128 of the line the program was sent (no
 * newline). An answer line with that hash is the record unchanged. */
struct srcloc {
	size_t entry;
	uint64_t row, tlen;
	dsv_rhash line;
};

/* Input shards decoded for their meta and layout, to compare answers
 * with: answers come in input order, so two serve a whole run. */
#define SRC_CACHE 2
struct srcshard {
	size_t entry;
	dsv_shard *sh;
	uint64_t used;
};

struct map;

/* The thread that feeds one program its records (-j 1): it reads the
 * version, formats each record with dsv_jsonl_format and writes large
 * chunks into the program's stdin pipe. It stops at the end, when the
 * pipe breaks (the program died) or when `stop` is set. */
struct feeder {
	struct map *mp;
	uint64_t from;          /* first position to write */
	int fd;                 /* the pipe's write end, owned, non-blocking */
	atomic_int quit;        /* the program's output ended: stop writing */
	int rc;
	char err[256];
};

struct worker {
	uint64_t first, count;  /* the slice: positions [first, first+count) */
	char *in_path, *spill_path, *comp_path;
	uint64_t *off;          /* -j > 1: count+1 line offsets in the input */
	uint8_t *failed;        /* per record of the slice */
	uint64_t next;          /* the next record the program must answer */
	uint64_t seg_start;     /* the record the running segment started at */
	uint64_t seg_lines;     /* complete lines the segment answered */
	uint64_t pk;            /* the record the next parsed line answers */
	pid_t pid;
	int running, done, out_fd, spill_fd;
	int has_feeder;
	pthread_t feeder_th;
	struct feeder feed;
	dsv_buf pend;           /* answers read, not yet taken (partial line) */
	double last_progress;
};

struct map {
	const char *cmd, *mode;
	long jobs, timeout;
	int skip_bad, force, quiet, json;
	const char *output, *message;
	const dsv_manifest *m;
	struct worker *w;
	int nw, head;           /* head: the worker whose answers go to shards */
	dsv_rhash *hashes;      /* per input position, all set before the
				   programs start (spool or prehash) */
	struct srcloc *loc;     /* per input position, as records are sent */
	struct srcshard src[SRC_CACHE];
	uint64_t tick;
	_Atomic uint64_t hashed; /* loc[0..hashed) are set */
	atomic_int stop;
	uint64_t n, bytes_in;
	struct failure *fail;
	size_t nfail, capfail;
	uint64_t dropped, bytes_out;
	int partial;            /* partial compute lines cut off */
	dsv_line_parser *lp;    /* parses the answers */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void record_name(const struct map *mp, uint64_t pos, char *buf,
			size_t len)
{
	char h[33];
	dsv_rhash_fmt(h, &mp->hashes[pos]);
	snprintf(buf, len, "record %llu (hash %s)", (unsigned long long)pos + 1, h);
}

static int add_failure(struct map *mp, uint64_t pos, const char *why)
{
	char name[80];
	record_name(mp, pos, name, sizeof name);
	if (!mp->skip_bad)
		return dsv_error_set(DSV_EINVAL, "map: %s: %s; nothing was "
				     "committed (--skip-bad skips such records)",
				     name, why);
	if (mp->nfail == mp->capfail) {
		size_t cap = mp->capfail ? 2 * mp->capfail : 16;
		struct failure *f = realloc(mp->fail, cap * sizeof *f);
		if (!f)
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		mp->fail = f;
		mp->capfail = cap;
	}
	mp->fail[mp->nfail].pos = pos;
	snprintf(mp->fail[mp->nfail++].reason, 160, "%s", why);
	return 0;
}

static int alloc_workers(struct map *mp, const char *tmpdir)
{
	mp->n = dsv_manifest_records(mp->m);
	mp->nw = (int)(mp->jobs < 1 ? 1 : mp->jobs);
	if ((uint64_t)mp->nw > mp->n)
		mp->nw = mp->n ? (int)mp->n : 1;
	mp->w = calloc((size_t)mp->nw, sizeof *mp->w);
	mp->hashes = calloc(mp->n ? mp->n : 1, sizeof *mp->hashes);
	mp->loc = calloc(mp->n ? mp->n : 1, sizeof *mp->loc);
	if (!mp->w || !mp->hashes || !mp->loc)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (int i = 0; i < mp->nw; i++) {
		struct worker *w = &mp->w[i];
		w->out_fd = w->spill_fd = -1;
		w->first = mp->n * (uint64_t)i / (uint64_t)mp->nw;
		w->count = mp->n * (uint64_t)(i + 1) / (uint64_t)mp->nw - w->first;
		if (asprintf(&w->in_path, "%s/in-%d.jsonl", tmpdir, i) < 0 ||
		    asprintf(&w->spill_path, "%s/out-%d.jsonl", tmpdir, i) < 0 ||
		    asprintf(&w->comp_path, "%s/compute-%d.jsonl", tmpdir, i) < 0 ||
		    !(w->failed = calloc(w->count + 1, 1)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
		if (mp->nw > 1 && !(w->off = calloc(w->count + 1, sizeof *w->off)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	return 0;
}

/* Notes input record `pos` (its JSONL line is line[0..len), newline
 * included) before a program's answer to it is read. */
static void note_input(struct map *mp, uint64_t pos, const dsv_version_rec *rec,
		       const char *line, size_t len)
{
	mp->loc[pos] = (struct srcloc){rec->entry, rec->row, rec->text_len, {{0}}};
	dsv_rhash_text(&mp->loc[pos].line, line, len - 1);
	mp->bytes_in += rec->text_len;
}

/* ^C, SIGTERM or SIGHUP while the version is spooled or the programs run.
 * Each program has its own process group (so --timeout kills all of it),
 * which a terminal's ^C does not reach: the handler kills them (their
 * output ends, so the loop wakes whichever thread took the signal) and the
 * spool or the loop stops with nothing committed; derive_map removes the
 * spool and then dies of the signal. */
static volatile sig_atomic_t map_signal;
static struct map *map_running;

static void on_signal(int sig)
{
	struct map *mp = map_running;
	map_signal = sig;
	for (int i = 0; mp && mp->w && i < mp->nw; i++)
		if (mp->w[i].running)
			kill(-mp->w[i].pid, SIGKILL);
}

static void catch_signals(struct map *mp, struct sigaction *old)
{
	map_running = mp;
	stop_signals_catch(on_signal, old);
}

static void restore_signals(const struct sigaction *old)
{
	stop_signals_restore(old);
	map_running = NULL;
}

static int interrupted(void)
{
	return dsv_error_set(DSV_EIO, "map: interrupted by signal %d; the "
			     "programs were killed and nothing was committed",
			     (int)map_signal);
}

/* -j > 1: spools the version into one input file per worker, contiguous
 * slices, keeping each record's hash (to name it) and line offsets (to
 * restart a program after a failed record). Each program reads its file;
 * their answers still stream back through pipes. */
static int spool(struct map *mp, dsv_meter *meter)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	dsv_buf line = {0};
	FILE *f = NULL;
	int rc, k = -1;
	uint64_t pos = 0, written = 0;
	if ((rc = dsv_version_iter_new(&it, the_repo->store, mp->m, MAP_COLS)))
		return rc;
	while ((rc = dsv_version_iter_next(it, &rec)) == 1) {
		if (map_signal) {
			rc = interrupted();
			goto out;
		}
		while (k < 0 || pos >= mp->w[k].first + mp->w[k].count) {
			if (f && fclose(f)) {
				f = NULL;
				rc = dsv_error_set(DSV_EIO, "cannot write '%s'",
						   mp->w[k].in_path);
				goto out;
			}
			k++;
			written = 0;
			if (!(f = fopen(mp->w[k].in_path, "w"))) {
				rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s",
						   mp->w[k].in_path, strerror(errno));
				goto out;
			}
		}
		line.len = 0;
		if ((rc = dsv_jsonl_format(&line, rec.text, rec.text_len, rec.meta,
					   rec.meta_len, rec.layout)))
			goto out;
		if (fwrite(line.buf, 1, line.len, f) != line.len) {
			rc = dsv_error_set(DSV_EIO, "cannot write '%s'",
					   mp->w[k].in_path);
			goto out;
		}
		mp->hashes[pos] = *rec.hash;
		note_input(mp, pos, &rec, line.buf, line.len);
		written += line.len;
		mp->w[k].off[pos - mp->w[k].first + 1] = written;
		pos++;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	atomic_store(&mp->hashed, pos);
	/* workers with no records still get an (empty) input */
	for (int i = k + 1; i < mp->nw; i++) {
		FILE *e = fopen(mp->w[i].in_path, "w");
		if (e)
			fclose(e);
	}
out:
	if (f && fclose(f) && !rc)
		rc = dsv_error_set(DSV_EIO, "cannot write '%s'", mp->w[k].in_path);
	dsv_buf_free(&line);
	dsv_version_iter_free(it);
	return rc;
}

/* -j 1: every input record's hash, read before the program starts (the
 * hash column alone, no text). The feeder notes the rest of what an answer
 * is compared with as it writes; a program may answer a record before it
 * has been written (one that closes its stdin, or generates without
 * reading), and its answer still needs the source's hash for `source` and
 * for naming a failure. */
static int prehash(struct map *mp)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	uint64_t pos = 0;
	int rc = dsv_version_iter_new(&it, the_repo->store, mp->m,
				      DSV_SHARD_HASH | DSV_SHARD_NOVERIFY);
	while (!rc && (rc = dsv_version_iter_next(it, &rec)) == 1 && pos < mp->n) {
		mp->hashes[pos++] = *rec.hash;
		rc = 0;
	}
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* Writes all of b; 0, or -1 when the pipe broke or `stop` or `quit` was
 * set. The pipe is non-blocking, so a full one held open by a process that
 * left the program's group (setsid) and reads nothing cannot keep the
 * feeder, and the join after the program ended, waiting for ever. */
static int write_all(struct map *mp, struct feeder *f, const char *p,
		     size_t len)
{
	while (len) {
		if (atomic_load(&mp->stop) || atomic_load(&f->quit))
			return -1;
		ssize_t n = write(f->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = {.fd = f->fd, .events = POLLOUT};
			poll(&pf, 1, 100);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* -j 1: the feeder thread. Positions before `from` (a restart) are read
 * but not written; hashes and bytes_in are taken the first time a
 * position goes by. */
static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	struct map *mp = f->mp;
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	dsv_buf b = {0};
	uint64_t pos = 0, hashed = atomic_load(&mp->hashed);
	int rc;
	if ((rc = dsv_version_iter_new(&it, the_repo->store, mp->m,
				       MAP_COLS)))
		goto out;
	if ((rc = dsv_buf_grow(&b, IN_CHUNK + 4096)))
		goto out;
	while ((rc = dsv_version_iter_next(it, &rec)) == 1) {
		size_t start = b.len;
		if (pos < hashed && pos < f->from) {
			pos++;
			continue;
		}
		if ((rc = dsv_jsonl_format(&b, rec.text, rec.text_len, rec.meta,
					   rec.meta_len, rec.layout)))
			goto out;
		if (pos >= hashed) {
			note_input(mp, pos, &rec, b.buf + start, b.len - start);
			atomic_store_explicit(&mp->hashed, pos + 1,
					      memory_order_release);
		}
		if (pos++ < f->from)
			b.len = start; /* sent before the restart */
		if (b.len >= IN_CHUNK) {
			if (write_all(mp, f, b.buf, b.len))
				break; /* the program is gone: its reader says why */
			b.len = 0;
		}
	}
	if (rc == 0 && b.len)
		write_all(mp, f, b.buf, b.len);
	if (rc > 0)
		rc = 0;
out:
	if (rc < 0) {
		f->rc = rc;
		snprintf(f->err, sizeof f->err, "%s", dsv_error_last());
	}
	close(f->fd);
	f->fd = -1;
	dsv_buf_free(&b);
	dsv_version_iter_free(it);
	return NULL;
}

static int join_feeder(struct worker *w)
{
	if (!w->has_feeder)
		return 0;
	pthread_join(w->feeder_th, NULL);
	w->has_feeder = 0;
	if (w->feed.rc)
		return dsv_error_set(w->feed.rc, "%s", w->feed.err);
	return 0;
}

/* The environment of a program: ours with the map's variables set. */
static char **program_env(const struct map *mp, const struct worker *w, int idx)
{
	extern char **environ;
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DSV_COMPUTE_FILE=", 17) &&
		    strncmp(environ[i], "DSV_WORKER=", 11) &&
		    strncmp(environ[i], "DSV_WORKERS=", 12))
			env[k++] = environ[i];
	if (asprintf(&env[k++], "DSV_COMPUTE_FILE=%s", w->comp_path) < 0 ||
	    asprintf(&env[k++], "DSV_WORKER=%d", idx) < 0 ||
	    asprintf(&env[k++], "DSV_WORKERS=%d", mp->nw) < 0) {
		free(env);
		return NULL;
	}
	return env;
}

static void free_env(char **env)
{
	size_t k = 0;
	if (!env)
		return;
	while (env[k])
		k++;
	/* the last three are ours */
	for (size_t i = k >= 3 ? k - 3 : 0; i < k; i++)
		free(env[i]);
	free(env);
}

/* Starts the program on the worker's records from w->next on: stdin is a
 * pipe fed by a feeder thread (-j 1) or the worker's spool file, stdout a
 * pipe read by run_workers. The child only calls async-signal-safe
 * functions between fork and exec (other threads may hold malloc's lock). */
static int start_segment(struct map *mp, struct worker *w, int idx)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, rc = 0;
	char **env = program_env(mp, w, idx);
	char *const argv[] = {"sh", "-c", (char *)mp->cmd, NULL};
	if (!env)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (pipe2(out, O_CLOEXEC)) {
		rc = dsv_error_set(DSV_EIO, "map: pipe: %s", strerror(errno));
		goto fail;
	}
	fcntl(out[0], F_SETPIPE_SZ, PIPE_SIZE);
	if (mp->nw == 1) {
		if (pipe2(in, O_CLOEXEC)) {
			rc = dsv_error_set(DSV_EIO, "map: pipe: %s", strerror(errno));
			goto fail;
		}
		fcntl(in[1], F_SETPIPE_SZ, PIPE_SIZE);
	} else {
		if ((in[0] = open(w->in_path, O_RDONLY | O_CLOEXEC)) < 0) {
			rc = dsv_error_set(DSV_EIO, "map: cannot open '%s': %s",
					   w->in_path, strerror(errno));
			goto fail;
		}
		lseek(in[0], (off_t)w->off[w->next], SEEK_SET);
	}
	w->seg_start = w->next;
	w->seg_lines = 0;
	w->pend.len = 0;
	w->last_progress = now_s();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		rc = dsv_error_set(DSV_EIO, "map: fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		setpgid(0, 0); /* its own group, so a timeout kills it all */
		dup2(in[0], 0);
		dup2(out[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execve("/bin/sh", argv, env);
		_exit(127);
	}
	setpgid(pid, pid);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	w->out_fd = out[0];
	w->pid = pid;
	w->running = 1;
	if (in[1] >= 0) {
		fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
		w->feed = (struct feeder){.mp = mp, .from = w->first + w->next,
					  .fd = in[1]};
		in[1] = -1;
		if (pthread_create(&w->feeder_th, NULL, feeder_main, &w->feed)) {
			close(w->feed.fd);
			rc = dsv_error_set(DSV_EIO, "map: cannot start a thread");
			goto fail;
		}
		w->has_feeder = 1;
	}
	free_env(env);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0 && out[i] != w->out_fd)
			close(out[i]);
	}
	free_env(env);
	return rc;
}

/* The meta and layout of input record `pos`, from a cached decode of its
 * shard (meta and layout columns only, checked by frame checksums). */
static int source_shard(struct map *mp, size_t entry, dsv_shard **out)
{
	int victim = 0;
	for (int i = 0; i < SRC_CACHE; i++) {
		if (mp->src[i].sh && mp->src[i].entry == entry) {
			mp->src[i].used = ++mp->tick;
			*out = mp->src[i].sh;
			return 0;
		}
		if (!mp->src[i].sh || mp->src[i].used < mp->src[victim].used)
			victim = i;
	}
	struct srcshard *c = &mp->src[victim];
	dsv_shard_free(c->sh);
	c->sh = NULL;
	int rc = dsv_shard_open(&c->sh, the_repo->store, &mp->m->e[entry].shard,
				DSV_SHARD_META | DSV_SHARD_LAYOUT);
	if (rc)
		return rc;
	c->entry = entry;
	c->used = ++mp->tick;
	*out = c->sh;
	return 0;
}

/* 1 when an answer whose text hash equals input record `pos`'s is that
 * record: same meta and layout, so `dsv export` prints the same line. The
 * text is compared by its record hash (XXH3-128), as `dsv commit` does
 * when it reuses a stored row. */
static int same_as_source(struct map *mp, uint64_t pos, const dsv_record *rec)
{
	dsv_shard *sh;
	size_t mlen;
	int rc = source_shard(mp, mp->loc[pos].entry, &sh);
	if (rc)
		return rc;
	uint64_t row = mp->loc[pos].row;
	const char *meta = dsv_shard_meta(sh, row, &mlen);
	return dsv_shard_layout(sh, row) == rec->layout &&
	       mlen == rec->meta_len &&
	       (!mlen || memcmp(meta, rec->meta, mlen) == 0);
}

/* Lines in buf[0..len) (each ends with '\n', DSV_LINE_PAD readable bytes
 * after the last) answer the records from w->pk on, skipping failed ones:
 * a blank line drops its record; anything but a JSON object with a string
 * "text" is malformed. Each line is parsed where it lies, not copied. */
static int parse_answers(struct map *mp, struct worker *w, struct newtext *nt,
			 const char *buf, size_t len)
{
	dsv_record rec;
	const char *p = buf, *end = buf + len;
	int rc = 0;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		int blank = strspn(p, " \t\r") >= ll;
		p = nl ? nl + 1 : end;
		while (w->failed[w->pk])
			w->pk++;
		uint64_t k = w->pk++;
		if (blank) {
			mp->dropped++;
			continue;
		}
		uint64_t pos = w->first + k, cols[2] = {0, pos};
		const dsv_rhash *h = &mp->hashes[pos];
		for (int b = 0; b < 8; b++)
			cols[0] = cols[0] << 8 | h->b[b];
		/* A program may answer before it has read a record (its
		 * hash is then not known yet): such an answer is new. */
		int known = pos < atomic_load_explicit(&mp->hashed,
						       memory_order_acquire);
		const struct srcloc *src = &mp->loc[pos];
		dsv_rhash ah;
		if (known) {
			/* the line sent back as it came: the record itself */
			dsv_rhash_text(&ah, line, ll);
			if (!memcmp(&ah, &src->line, sizeof ah)) {
				const dsv_manifest_entry *e = &mp->m->e[src->entry];
				mp->bytes_out += src->tlen;
				rc = newtext_ref(nt, &e->shard, e->rows, src->row,
						 src->tlen, cols);
				continue;
			}
		}
		int n = dsv_line_parse(mp->lp, line, ll, &rec);
		if (n == DSV_EINVAL || n == 0) {
			char why[160];
			/* the parser's reason: invalid UTF-8 looks fine in a
			 * terminal, so say where the line went wrong */
			snprintf(why, sizeof why, "the program's answer is not "
				 "a JSON object with a string \"text\"%s%.100s%s",
				 n ? " (" : "", n ? dsv_error_last() : "",
				 n ? ")" : "");
			dsv_error_clear();
			rc = add_failure(mp, w->first + k, why);
			continue;
		}
		if (n < 0)
			return n;
		mp->bytes_out += rec.text_len;
		if (!known) {
			rc = newtext_add(nt, rec.text, rec.text_len, rec.meta,
					 rec.meta_len, rec.layout, NULL, cols);
			continue;
		}
		dsv_rhash_text(&ah, rec.text, rec.text_len);
		int same = memcmp(&ah, h, sizeof ah) == 0;
		if (same && (same = same_as_source(mp, pos, &rec)) < 0)
			return same;
		if (same) {
			const dsv_manifest_entry *e = &mp->m->e[src->entry];
			rc = newtext_ref(nt, &e->shard, e->rows, src->row,
					 rec.text_len, cols);
		} else {
			rc = newtext_add(nt, rec.text, rec.text_len, rec.meta,
					 rec.meta_len, rec.layout, &ah, cols);
		}
	}
	return rc;
}

/* Takes complete lines: counts them against the segment, then parses them
 * (the head worker) or keeps them in the worker's spill file until the
 * workers before it are done (-j > 1 keeps the input order). */
static int take_lines(struct map *mp, struct worker *w, struct newtext *nt,
		      const char *buf, size_t len)
{
	uint64_t n = 0, want = w->count - w->seg_start;
	for (const char *p = buf, *e = buf + len;
	     (p = memchr(p, '\n', (size_t)(e - p))); p++)
		n++;
	if (w->seg_lines + n > want)
		return dsv_error_set(DSV_EINVAL, "map: the program wrote %llu "
				     "%s for %llu %s (records %llu..%llu): "
				     "one line per record is the protocol; "
				     "nothing was committed",
				     (unsigned long long)(w->seg_lines + n),
				     plural(w->seg_lines + n, "line", "lines"),
				     (unsigned long long)want,
				     plural(want, "record", "records"),
				     (unsigned long long)(w->first + w->seg_start + 1),
				     (unsigned long long)(w->first + w->count));
	w->seg_lines += n;
	if (w - mp->w == mp->head)
		return parse_answers(mp, w, nt, buf, len);
	if (w->spill_fd < 0 &&
	    (w->spill_fd = open(w->spill_path, O_RDWR | O_CREAT | O_TRUNC |
				O_CLOEXEC, 0644)) < 0)
		return dsv_error_set(DSV_EIO, "cannot create '%s': %s",
				     w->spill_path, strerror(errno));
	while (len) {
		ssize_t k = write(w->spill_fd, buf, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return dsv_error_set(DSV_EIO, "cannot write '%s': %s",
					     w->spill_path, strerror(errno));
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Reads what the program wrote; 1 at the end of its output, 0 when there
 * is nothing more for now, or an error. */
static int drain(struct map *mp, struct worker *w, struct newtext *nt)
{
	for (;;) {
		int rc;
		if (w->pend.cap - w->pend.len < OUT_CHUNK / 2 &&
		    (rc = dsv_buf_grow(&w->pend, OUT_CHUNK)))
			return rc;
		/* the parser may read DSV_LINE_PAD bytes past a line */
		ssize_t n = read(w->out_fd, w->pend.buf + w->pend.len,
				 w->pend.cap - w->pend.len - DSV_LINE_PAD);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return dsv_error_set(DSV_EIO, "map: read: %s", strerror(errno));
		if (n == 0)
			return 1;
		w->last_progress = now_s();
		size_t old = w->pend.len, end = old + (size_t)n;
		w->pend.len = end;
		while (end > old && w->pend.buf[end - 1] != '\n')
			end--;
		if (end == old)
			continue;
		if ((rc = take_lines(mp, w, nt, w->pend.buf, end)))
			return rc;
		memmove(w->pend.buf, w->pend.buf + end, w->pend.len - end);
		w->pend.len -= end;
	}
}

/* A program that failed (killed, timed out, crashed) may have been cut
 * off in the middle of a compute report: the partial last line is dropped
 * (program_compute_cut_partial), so that it neither fails the whole map at
 * the end nor runs into what the restarted program reports. */
static void cut_partial_report(struct map *mp, const struct worker *w)
{
	if (program_compute_cut_partial(w->comp_path) > 0) {
		mp->partial++;
		fprintf(stderr, "dsv: warning: map: dropped a partial line the "
			"failed program left in $DSV_COMPUTE_FILE\n");
	}
}

/* The segment ended (exit status `status`, or timed out): which records
 * were answered, which one failed, and whether to go on. */
static int segment_done(struct map *mp, struct worker *w, struct newtext *nt,
			int status, int timed_out)
{
	uint64_t want = w->count - w->seg_start;
	int rc;
	char why[160];
	if ((rc = join_feeder(w)))
		return rc;
	int ok_exit = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok_exit && mp->skip_bad) /* otherwise the map fails here */
		cut_partial_report(mp, w);
	if (ok_exit && w->pend.len && w->seg_lines + 1 == want) {
		/* a last line without its newline: accept it */
		if ((rc = dsv_buf_append(&w->pend, "\n", 1)) ||
		    (rc = dsv_buf_grow(&w->pend, DSV_LINE_PAD)) ||
		    (rc = take_lines(mp, w, nt, w->pend.buf, w->pend.len)))
			return rc;
	}
	w->pend.len = 0; /* a partial line is cut off */
	uint64_t lines = w->seg_lines;
	if (ok_exit && lines == want) {
		w->next = w->count;
		w->done = 1;
		return 0;
	}
	if (lines == want) {
		/* Every record answered, then a failure: there is no record
		 * to name or to skip, and the answers may be wrong. */
		if (timed_out)
			snprintf(why, sizeof why, "did not exit within --timeout "
				 "%ld s", mp->timeout);
		else if (WIFSIGNALED(status))
			snprintf(why, sizeof why, "was killed by signal %d",
				 WTERMSIG(status));
		else
			snprintf(why, sizeof why, "exited with status %d",
				 WEXITSTATUS(status));
		return dsv_error_set(DSV_EINVAL, "map: the program %s after "
				     "answering records %llu..%llu; nothing was "
				     "committed", why,
				     (unsigned long long)(w->first + w->seg_start + 1),
				     (unsigned long long)(w->first + w->count));
	}
	if (timed_out)
		snprintf(why, sizeof why, "the program gave no answer within "
			 "--timeout %ld s", mp->timeout);
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof why, "the program was killed by signal %d "
			 "before answering it", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, sizeof why, "the program exited with status %d "
			 "before answering it", WEXITSTATUS(status));
	else
		snprintf(why, sizeof why, "the program ended after %llu of %llu "
			 "%s, without answering it", (unsigned long long)lines,
			 (unsigned long long)want,
			 plural(want, "line", "lines"));
	uint64_t bad = w->seg_start + lines;
	if ((rc = add_failure(mp, w->first + bad, why)))
		return rc;
	w->failed[bad] = 1;
	w->next = bad + 1;
	if (w->next >= w->count)
		w->done = 1;
	return 0;
}

/* The program's output ended or it timed out: reap it and settle. */
static int end_segment(struct map *mp, struct worker *w, struct newtext *nt,
		       int timed_out)
{
	int status = 0, rc = 0, reaped = 0;
	atomic_store(&w->feed.quit, 1);
	if (timed_out) {
		kill(-w->pid, SIGKILL);
		/* What it wrote before it was killed still counts. A process
		 * that left its group (setsid) may hold the pipe open: the
		 * end is waited for a second at most. */
		double until = now_s() + 1.0;
		struct pollfd pf = {.fd = w->out_fd, .events = POLLIN};
		while ((rc = drain(mp, w, nt)) == 0 && now_s() < until)
			poll(&pf, 1, 100);
		rc = rc < 0 ? rc : 0;
	} else if (mp->timeout > 0) {
		/* Its output ended; it must also exit within --timeout (one
		 * that closes its stdout and runs on would hold dsv). */
		const struct timespec ms = {0, 1000000};
		pid_t r;
		while ((r = waitpid(w->pid, &status, WNOHANG)) == 0 &&
		       now_s() - w->last_progress <= (double)mp->timeout)
			nanosleep(&ms, NULL);
		if (r == 0) {
			kill(-w->pid, SIGKILL);
			timed_out = 1;
		} else if (r > 0) {
			reaped = 1;
			w->running = 0; /* the handler must not kill its pid */
		}
	}
	close(w->out_fd);
	w->out_fd = -1;
	while (!reaped && waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	w->running = 0;
	if (rc)
		return rc;
	if (map_signal)
		return interrupted();
	return segment_done(mp, w, nt, status, timed_out);
}

static void kill_all(struct map *mp)
{
	atomic_store(&mp->stop, 1);
	for (int i = 0; i < mp->nw; i++) {
		struct worker *w = &mp->w[i];
		if (w->running) {
			kill(-w->pid, SIGKILL);
			waitpid(w->pid, NULL, 0);
			w->running = 0;
		}
		if (w->out_fd >= 0)
			close(w->out_fd);
		w->out_fd = -1;
		join_feeder(w);
	}
}

/* The head worker is done: its answers are all in shards. The next one
 * becomes head; what it answered so far is read back from its spill file. */
static int advance_head(struct map *mp, struct newtext *nt)
{
	while (mp->head < mp->nw && mp->w[mp->head].done &&
	       !mp->w[mp->head].running) {
		if (++mp->head == mp->nw)
			return 0;
		struct worker *w = &mp->w[mp->head];
		dsv_buf b = {0};
		off_t pos = 0;
		int rc = 0;
		if (w->spill_fd < 0)
			continue;
		while (!rc) {
			if ((rc = dsv_buf_grow(&b, OUT_CHUNK)))
				break;
			ssize_t n = pread(w->spill_fd, b.buf + b.len,
					  b.cap - b.len - DSV_LINE_PAD, pos);
			if (n < 0) {
				rc = dsv_error_set(DSV_EIO, "cannot read '%s'",
						   w->spill_path);
				break;
			}
			if (n == 0)
				break;
			pos += n;
			size_t end = b.len + (size_t)n;
			b.len = end;
			while (end > 0 && b.buf[end - 1] != '\n')
				end--;
			rc = parse_answers(mp, w, nt, b.buf, end);
			memmove(b.buf, b.buf + end, b.len - end);
			b.len -= end;
		}
		dsv_buf_free(&b);
		close(w->spill_fd);
		w->spill_fd = -1;
		unlink(w->spill_path);
		if (rc)
			return rc;
	}
	return 0;
}

/* Runs every worker's program to the end of its slice, restarting after a
 * failed record under --skip-bad, killing a program that makes no progress
 * for --timeout seconds; answers become shards as they arrive. */
static int run_workers(struct map *mp, struct newtext *nt)
{
	struct pollfd *pfd = calloc((size_t)mp->nw, sizeof *pfd);
	int *who = calloc((size_t)mp->nw, sizeof *who);
	int rc = 0;
	if (!pfd || !who) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < mp->nw; i++)
		if (!mp->w[i].count)
			mp->w[i].done = 1;
	while (!rc) {
		int np = 0;
		if (map_signal) {
			rc = interrupted();
			break;
		}
		for (int i = 0; i < mp->nw && !rc; i++) {
			struct worker *w = &mp->w[i];
			if (!w->done && !w->running)
				rc = start_segment(mp, w, i);
			if (w->running) {
				pfd[np] = (struct pollfd){.fd = w->out_fd,
							  .events = POLLIN};
				who[np++] = i;
			}
		}
		if (rc || (rc = advance_head(mp, nt)) || !np)
			break;
		int ms = mp->timeout > 0 ? 100 : -1;
		int k = poll(pfd, (nfds_t)np, ms);
		if (k < 0 && errno != EINTR) {
			rc = dsv_error_set(DSV_EIO, "map: poll: %s", strerror(errno));
			break;
		}
		for (int j = 0; j < np && !rc; j++) {
			struct worker *w = &mp->w[who[j]];
			if (k > 0 && pfd[j].revents) {
				int e = drain(mp, w, nt);
				if (e < 0)
					rc = e;
				else if (e == 1)
					rc = end_segment(mp, w, nt, 0);
			} else if (mp->timeout > 0 &&
				   now_s() - w->last_progress > (double)mp->timeout) {
				rc = end_segment(mp, w, nt, 1);
			}
		}
	}
	if (!rc)
		rc = advance_head(mp, nt);
out:
	if (rc)
		kill_all(mp);
	free(pfd);
	free(who);
	return rc;
}

static int cmp_fail(const void *a, const void *b)
{
	const struct failure *x = a, *y = b;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void describe(struct map *mp, struct newtext *nt)
{
	dsv_artifact *a = newtext_artifact(nt);
	json_t *p = a->params;
	json_object_set_new(p, "cmd", json_string(mp->cmd));
	json_object_set_new(p, "jobs", json_integer(mp->nw));
	json_object_set_new(p, "timeout", json_integer(mp->timeout));
	json_object_set_new(p, "mode", json_string(mp->mode));
	json_object_set_new(p, "skip_bad", json_boolean(mp->skip_bad));
	dsv_artifact_stat_int(a, "records_in", (int64_t)mp->n);
	dsv_artifact_stat_int(a, "records_out", (int64_t)newtext_records(nt));
	dsv_artifact_stat_int(a, "records_dropped", (int64_t)mp->dropped);
	dsv_artifact_stat_int(a, "bytes_in", (int64_t)mp->bytes_in);
	dsv_artifact_stat_int(a, "bytes_out", (int64_t)mp->bytes_out);
	if (mp->skip_bad) {
		json_t *l = json_array();
		qsort(mp->fail, mp->nfail, sizeof *mp->fail, cmp_fail);
		dsv_artifact_stat_int(a, "records_failed", (int64_t)mp->nfail);
		for (size_t i = 0; i < mp->nfail; i++) {
			char h[33];
			dsv_rhash_fmt(h, &mp->hashes[mp->fail[i].pos]);
			json_array_append_new(l, json_pack("{sIssss}", "record",
				(json_int_t)mp->fail[i].pos + 1, "hash", h,
				"reason", mp->fail[i].reason));
		}
		json_object_set_new(a->stats, "failed", l);
	}
}


static void cleanup_workers(struct map *mp, const char *tmpdir)
{
	for (int i = 0; mp->w && i < mp->nw; i++) {
		struct worker *w = &mp->w[i];
		if (w->spill_fd >= 0)
			close(w->spill_fd);
		if (w->in_path)
			unlink(w->in_path);
		if (w->spill_path)
			unlink(w->spill_path);
		if (w->comp_path)
			unlink(w->comp_path);
		free(w->in_path), free(w->spill_path), free(w->comp_path);
		free(w->off), free(w->failed);
		dsv_buf_free(&w->pend);
	}
	if (tmpdir)
		rmdir(tmpdir);
	free(mp->w);
	dsv_line_parser_free(mp->lp);
	free(mp->hashes);
	free(mp->loc);
	for (int i = 0; i < SRC_CACHE; i++)
		dsv_shard_free(mp->src[i].sh);
	free(mp->fail);
}

int derive_map(int argc, char **argv)
{
	static const char usage[] =
		"dsv derive map REV --cmd CMD -o NAME -m MSG [options]";
	struct map mp = {.mode = "transformation", .jobs = 1};
	const struct option opts[] = {
		OPT_STRING(0, "cmd", &mp.cmd, "cmd", "the program (run by /bin/sh -c): JSONL records in, one JSON line per record out"),
		OPT_INT('j', "jobs", &mp.jobs, "n", "programs run in parallel, each on a contiguous slice (default 1)"),
		OPT_INT(0, "timeout", &mp.timeout, "s", "fail a record the program does not answer within S seconds"),
		OPT_STRING(0, "mode", &mp.mode, "mode", "transformation (default) or generation"),
		OPT_BOOL(0, "skip-bad", &mp.skip_bad, "count and list failed records instead of failing"),
		OPT_NEWTEXT_OUTPUT(&mp.output, &mp.message, &mp.force, &mp.quiet,
				   &mp.json),
		OPT_END(),
	};
	struct newtext *nt = NULL;
	struct program_compute pc;
	dsv_manifest *m = NULL;
	dsv_aid in_id, id;
	char *tmpdir = NULL;
	void (*old_pipe)(int) = SIG_ERR;
	struct sigaction old_sig[NSTOP_SIGNALS];
	int rc = 1, caught = 0;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "exactly one input revision");
	if (!mp.cmd || !*mp.cmd)
		return usage_error(opts, usage, "--cmd is required");
	/* the provenance keeps it in dsv.json, which holds UTF-8 only */
	json_t *cj = json_string(mp.cmd);
	json_decref(cj);
	if (!cj)
		return usage_error(opts, usage, "--cmd is not valid UTF-8");
	if (!mp.output || !*mp.output)
		return usage_error(opts, usage, "a branch for the new version is "
				   "required (-o NAME)");
	if (!mp.message || !*mp.message)
		return usage_error(opts, usage, "a message is required (-m MSG)");
	if (mp.jobs < 1 || mp.jobs > 1024)
		return usage_error(opts, usage, "-j must be 1..1024");
	if (mp.timeout < 0)
		return usage_error(opts, usage, "--timeout must be >= 0");
	if (strcmp(mp.mode, "transformation") && strcmp(mp.mode, "generation"))
		return usage_error(opts, usage, "--mode must be transformation "
				   "or generation");
	program_compute_init(&pc);
	const char *cols[] = {"source", "source_row"};
	if (load_version(argv[0], &in_id, &m) ||
	    newtext_start(&nt, "map", !strcmp(mp.mode, "generation")
			  ? DSV_MODE_GENERATION : DSV_MODE_TRANSFORMATION,
			  mp.output, mp.message, mp.force, cols, 2) ||
	    newtext_add_parent(nt, "input", &in_id))
		goto fail;
	mp.m = m;
	if (newtext_reuse(nt) || dsv_line_parser_new(&mp.lp, "text"))
		goto fail;
	/* from the spool to the last program: ^C cleans up */
	catch_signals(&mp, old_sig);
	caught = 1;
	if (asprintf(&tmpdir, "%s/tmp/map.XXXXXX", the_repo->dir) < 0 ||
	    !mkdtemp(tmpdir)) {
		dsv_error_set(DSV_EIO, "cannot create a spool directory: %s",
			      strerror(errno));
		goto fail;
	}
	/* a program that dies makes writes to its stdin fail with EPIPE,
	 * which the feeder handles, rather than killing dsv */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	if (alloc_workers(&mp, tmpdir) ||
	    (mp.nw > 1 ? spool(&mp, newtext_meter(nt)) : prehash(&mp)))
		goto fail;
	int wrc = run_workers(&mp, nt);
	if (!wrc && map_signal) /* came after the last program ended */
		wrc = interrupted();
	restore_signals(old_sig);
	caught = 0;
	if (wrc)
		goto fail;
	dsv_meter_add(newtext_meter(nt), DSV_METER_RECORDS_IN, mp.n);
	for (int i = 0; i < mp.nw; i++)
		if (program_compute_read(&pc, mp.w[i].comp_path)) {
			if (mp.nw > 1)
				dsv_error_wrap(DSV_EINVAL, "map: the program for "
					       "records %llu..%llu",
					       (unsigned long long)mp.w[i].first + 1,
					       (unsigned long long)(mp.w[i].first +
								    mp.w[i].count));
			goto fail;
		}
	/* --skip-bad is for a few bad records, not a program that never works */
	if (mp.n && mp.nfail == mp.n) {
		dsv_error_set(DSV_EINVAL, "map: the program failed on all %llu "
			      "%s (record %llu: %s); nothing committed",
			      (unsigned long long)mp.n,
			      plural(mp.n, "record", "records"),
			      (unsigned long long)mp.fail[0].pos + 1,
			      mp.fail[0].reason);
		goto fail;
	}
	dsv_meter_add(newtext_meter(nt), DSV_METER_BYTES_READ, mp.bytes_in);
	pc.partial += mp.partial;
	describe(&mp, nt);
	program_compute_record(&pc, newtext_meter(nt), newtext_artifact(nt));
	if (newtext_commit(nt, mp.quiet, mp.json, &id))
		goto fail;
	if (!mp.quiet && !mp.json && (mp.dropped || mp.nfail))
		printf(" %llu %s dropped (blank answers), %zu failed\n",
		       (unsigned long long)mp.dropped,
		       plural(mp.dropped, "record", "records"), mp.nfail);
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	if (old_pipe != SIG_ERR)
		signal(SIGPIPE, old_pipe);
	if (caught)
		restore_signals(old_sig);
	cleanup_workers(&mp, tmpdir);
	free(tmpdir);
	newtext_free(nt);
	dsv_manifest_free(m);
	if (map_signal) /* cleaned up: now die of it, as the caller expects */
		raise((int)map_signal);
	return rc;
}
