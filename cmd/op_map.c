/* op_map.c: `dsv derive map REV --cmd CMD -o NAME -m MSG`: streams a
 * version's records as JSONL through an external program and commits what it
 * answers as new shards, with provenance columns. Also the new-text output
 * that map, rephrase and synth share (cmd/cmd.h, "new-text derivations"):
 * shards built from new records, their columns, the manifest and the one
 * lineage commit. docs/generate.md describes the protocol.
 *
 * The records are spooled to one input file per worker (-j N contiguous
 * slices), each worker's program reads its file on stdin and writes to its
 * own output file, and dsv reads the outputs back in slice order, so the
 * version keeps the input's order whatever the workers' speeds.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the new-text output --------------------------------------------------- */

#define NT_MAX_COLS 4

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
	dsv_shard_builder *sb;
	int ncols;
	char colname[NT_MAX_COLS][32];
	uint64_t *colv[NT_MAX_COLS];
	size_t colcap;
	dsv_manifest *m;
	uint64_t records, text_bytes, shards_new, bytes_written, shard_bytes;
};

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
	    (rc = dsv_shard_builder_new(&nt->sb)) ||
	    (rc = dsv_manifest_new(&nt->m)))
		return rc;
	dsv_meter_start(nt->meter);
	/* The lock keeps gc away from objects written before the commit
	 * names them. */
	if ((rc = dsv_store_lock(nt->s)))
		return rc;
	nt->locked = 1;
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	rc = dsv_lineage_ref_get(nt->l, ref, &nt->old);
	if (rc == DSV_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (!force)
		return dsv_error_set(DSV_EEXISTS, "branch '%s' already exists "
				     "(use --force to move it)", branch);
	nt->has_old = 1;
	return 0;
}

void newtext_free(struct newtext *nt)
{
	if (!nt)
		return;
	if (nt->locked)
		dsv_store_unlock(nt->s);
	dsv_meter_free(nt->meter);
	dsv_artifact_free(nt->art);
	dsv_shard_builder_free(nt->sb);
	for (int i = 0; i < nt->ncols; i++)
		free(nt->colv[i]);
	dsv_manifest_free(nt->m);
	free(nt);
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

/* Writes the shard being built, its columns, and its manifest entry. */
static int newtext_flush(struct newtext *nt)
{
	uint64_t rows = dsv_shard_builder_rows(nt->sb);
	dsv_manifest_entry e = {0};
	dsv_manifest_col cols[NT_MAX_COLS];
	dsv_obj_info info;
	int rc, is_new;
	if (!rows)
		return 0;
	if ((rc = dsv_shard_builder_write(nt->sb, nt->s, DSV_DEFAULT_LEVEL,
					  &e.shard, &is_new)))
		return rc;
	if (is_new && dsv_index_get_object(nt->s, &e.shard, &info) == 0)
		nt->bytes_written += info.stored_size;
	nt->shards_new += is_new;
	for (int i = 0; i < nt->ncols; i++) {
		dsv_column *c = NULL;
		if ((rc = dsv_column_new(&c, DSV_COL_U64, rows)))
			return rc;
		memcpy(dsv_column_data(c), nt->colv[i], rows * sizeof(uint64_t));
		rc = dsv_column_write(c, nt->s, &e.shard, &cols[i].id, &is_new);
		dsv_column_free(c);
		if (rc)
			return rc;
		snprintf(cols[i].name, sizeof cols[i].name, "%s", nt->colname[i]);
	}
	e.rows = e.kept = rows;
	e.repeat = 1;
	e.ncols = (size_t)nt->ncols;
	e.cols = nt->ncols ? cols : NULL;
	if ((rc = dsv_manifest_add(nt->m, &e)))
		return rc;
	dsv_shard_builder_reset(nt->sb);
	return 0;
}

int newtext_add(struct newtext *nt, const char *text, size_t tlen,
		const char *meta, size_t mlen, uint32_t layout,
		const uint64_t *colvals)
{
	uint64_t row = dsv_shard_builder_rows(nt->sb);
	int rc;
	if (row == nt->colcap) {
		size_t cap = nt->colcap ? 2 * nt->colcap : 1024;
		for (int i = 0; i < nt->ncols; i++) {
			uint64_t *v = realloc(nt->colv[i], cap * sizeof *v);
			if (!v)
				return dsv_error_set(DSV_ENOMEM, "out of memory");
			nt->colv[i] = v;
		}
		nt->colcap = cap;
	}
	if ((rc = dsv_shard_builder_add(nt->sb, text, tlen, meta, mlen, layout,
					NULL)))
		return rc;
	for (int i = 0; i < nt->ncols; i++)
		nt->colv[i][row] = colvals[i];
	nt->records++;
	nt->text_bytes += tlen;
	if (dsv_shard_builder_text_bytes(nt->sb) >= nt->shard_bytes)
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
					 rec.meta_len, rec.layout, colvals);
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
	if ((rc = newtext_flush(nt)))
		return rc;
	dsv_meter_add(nt->meter, DSV_METER_RECORDS_OUT, nt->records);
	dsv_meter_add(nt->meter, DSV_METER_BYTES_WRITTEN, nt->bytes_written);
	dsv_meter_stop(nt->meter);
	dsv_meter_read(nt->meter, &c);
	dsv_artifact_stat_int(nt->art, "records", (int64_t)nt->records);
	dsv_artifact_stat_int(nt->art, "text_bytes", (int64_t)nt->text_bytes);
	dsv_artifact_stat_int(nt->art, "shards", (int64_t)nt->m->n);
	dsv_artifact_stat_int(nt->art, "new_objects", (int64_t)nt->shards_new);
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
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else if (!quiet) {
		char b[32];
		dsv_aid_short(hex, out);
		printf("[%s %s] %s\n", nt->branch, hex, nt->message);
		printf(" %s: %llu new records (%s of text) in %zu shards; "
		       "%.2f s\n", nt->op, (unsigned long long)nt->records,
		       human_bytes(b, (double)nt->text_bytes), nt->m->n,
		       c.wall_s);
	}
out:
	free(manifest);
	free(js);
	return rc;
}

/* ---- the program's reported compute --------------------------------------- */

void program_compute_init(struct program_compute *pc)
{
	memset(pc, 0, sizeof *pc);
}

/* Reads the JSON lines a program appended to its $DSV_COMPUTE_FILE and
 * adds them up; a line that is not such an object is an error naming it. */
int program_compute_read(struct program_compute *pc, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	if (!f)
		return 0; /* the program reported nothing */
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		json_t *o = json_loadb(line, (size_t)n, 0, &je), *v;
		if (!json_is_object(o)) {
			json_decref(o);
			rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE line %d: "
					   "not a JSON object", lineno);
			break;
		}
		pc->lines++;
#define NUM(key, field)                                                       \
	if ((v = json_object_get(o, key))) {                                  \
		if (!json_is_number(v) || json_number_value(v) < 0) {         \
			json_decref(o);                                       \
			rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE "   \
					   "line %d: '%s' must be a number "  \
					   ">= 0", lineno, key);              \
			break;                                                \
		}                                                             \
		pc->field += json_number_value(v);                            \
		pc->has_##field = 1;                                          \
	}
		NUM("gpu_s", gpu_s)
		NUM("flops", flops)
		NUM("energy_j", energy_j)
		NUM("tokens_in", tokens_in)
		NUM("tokens_out", tokens_out)
#undef NUM
		json_t *d = json_object_get(o, "devices"), *x;
		size_t i;
		json_array_foreach(d, i, x) {
			const char *name = json_is_string(x) ? json_string_value(x)
					   : json_string_value(json_object_get(x, "name"));
			double s = json_number_value(json_object_get(x, "gpu_s"));
			if (!name)
				continue;
			int k;
			for (k = 0; k < pc->ndev && strcmp(pc->dev[k], name); k++)
				;
			if (k == pc->ndev && k < 8)
				snprintf(pc->dev[pc->ndev++], 64, "%s", name);
			if (k < 8)
				pc->dev_s[k] += s;
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return rc;
}

/* Adds what the program reported to the meter and says in stats which
 * figures were reported (by the program) and which measured (by dsv). */
void program_compute_record(const struct program_compute *pc, dsv_meter *m,
			    dsv_artifact *a)
{
	json_t *rep = json_array(), *meas = json_array(), *raw = json_object();
	const char *measured[] = {"wall_s", "cpu_s", "user_s", "sys_s",
				  "bytes_read", "bytes_written", "records_in",
				  "records_out"};
	for (size_t i = 0; i < sizeof measured / sizeof *measured; i++)
		json_array_append_new(meas, json_string(measured[i]));
	if (pc->has_gpu_s || pc->ndev) {
		double named = 0;
		for (int k = 0; k < pc->ndev; k++) {
			dsv_meter_add_gpu(m, pc->dev[k], pc->dev_s[k]);
			named += pc->dev_s[k];
		}
		if (pc->gpu_s > named)
			dsv_meter_add_gpu(m, pc->ndev ? pc->dev[0] : "reported",
					  pc->gpu_s - named);
		json_array_append_new(rep, json_string("gpu_s"));
		json_array_append_new(rep, json_string("devices"));
		json_object_set_new(raw, "gpu_s", json_real(pc->gpu_s));
	}
	if (pc->has_flops) {
		dsv_meter_add_flops(m, pc->flops);
		json_array_append_new(rep, json_string("flops"));
		json_object_set_new(raw, "flops", json_real(pc->flops));
	}
	if (pc->has_energy_j) {
		dsv_meter_add_energy(m, pc->energy_j);
		json_array_append_new(rep, json_string("energy_j"));
		json_object_set_new(raw, "energy_j", json_real(pc->energy_j));
	}
	if (pc->has_tokens_in) {
		dsv_meter_add(m, DSV_METER_TOKENS_IN, (uint64_t)pc->tokens_in);
		json_array_append_new(rep, json_string("tokens_in"));
		json_object_set_new(raw, "tokens_in", json_integer((json_int_t)pc->tokens_in));
	}
	if (pc->has_tokens_out) {
		dsv_meter_add(m, DSV_METER_TOKENS_OUT, (uint64_t)pc->tokens_out);
		json_array_append_new(rep, json_string("tokens_out"));
		json_object_set_new(raw, "tokens_out", json_integer((json_int_t)pc->tokens_out));
	}
	json_object_set_new(raw, "lines", json_integer(pc->lines));
	json_t *o = json_object();
	json_object_set_new(o, "measured", meas);
	json_object_set_new(o, "reported", rep);
	json_object_set_new(o, "program_reported", raw);
	json_object_set_new(a->stats, "compute_sources", o);
}

/* ---- the workers ----------------------------------------------------------- */

struct failure {
	uint64_t pos;   /* position in the input version, from 0 */
	char reason[160];
};

struct worker {
	uint64_t first, count;  /* the slice: positions [first, first+count) */
	char *in_path, *out_path, *comp_path;
	uint64_t *off;          /* count+1 line offsets in the input file */
	uint8_t *failed;        /* per record of the slice */
	uint64_t next;          /* the next record the program must answer */
	uint64_t seg_start;     /* the record the running segment started at */
	off_t seg_out;          /* output size when the segment started */
	pid_t pid;
	int running, done;
	off_t out_size;
	double last_progress;
};

struct map {
	const char *cmd, *mode;
	long jobs, timeout;
	int skip_bad, force, quiet, json;
	const char *output, *message;
	struct worker *w;
	int nw;
	dsv_rhash *hashes;      /* per input position */
	uint64_t n, bytes_in;
	struct failure *fail;
	size_t nfail, capfail;
	uint64_t dropped, bytes_out;
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

/* Spools the version into one input file per worker, contiguous slices,
 * keeping each record's hash (to name it) and line offsets (to restart a
 * program after a failed record). */
static int spool(struct map *mp, const dsv_manifest *m, const char *tmpdir,
		 dsv_meter *meter)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec rec;
	dsv_buf line = {0};
	FILE *f = NULL;
	int rc, k = -1;
	uint64_t pos = 0;
	mp->n = dsv_manifest_records(m);
	mp->nw = (int)(mp->jobs < 1 ? 1 : mp->jobs);
	if ((uint64_t)mp->nw > mp->n)
		mp->nw = mp->n ? (int)mp->n : 1;
	mp->w = calloc((size_t)mp->nw, sizeof *mp->w);
	mp->hashes = malloc((mp->n ? mp->n : 1) * sizeof *mp->hashes);
	if (!mp->w || !mp->hashes)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	for (int i = 0; i < mp->nw; i++) {
		struct worker *w = &mp->w[i];
		w->first = mp->n * (uint64_t)i / (uint64_t)mp->nw;
		w->count = mp->n * (uint64_t)(i + 1) / (uint64_t)mp->nw - w->first;
		if (asprintf(&w->in_path, "%s/in-%d.jsonl", tmpdir, i) < 0 ||
		    asprintf(&w->out_path, "%s/out-%d.jsonl", tmpdir, i) < 0 ||
		    asprintf(&w->comp_path, "%s/compute-%d.jsonl", tmpdir, i) < 0 ||
		    !(w->off = calloc(w->count + 1, sizeof *w->off)) ||
		    !(w->failed = calloc(w->count + 1, 1)))
			return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	if ((rc = dsv_version_iter_new(&it, the_repo->store, m, DSV_SHARD_ALL)))
		return rc;
	uint64_t written = 0;
	while ((rc = dsv_version_iter_next(it, &rec)) == 1) {
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
		mp->bytes_in += rec.text_len;
		written += line.len;
		mp->w[k].off[pos - mp->w[k].first + 1] = written;
		pos++;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	dsv_meter_add(meter, DSV_METER_RECORDS_IN, pos);
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

/* Starts the program on the worker's records from w->next on. */
static int start_segment(struct map *mp, struct worker *w, int idx)
{
	struct stat st;
	int in = open(w->in_path, O_RDONLY);
	int out = open(w->out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (in < 0 || out < 0 || fstat(out, &st)) {
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		return dsv_error_set(DSV_EIO, "map: cannot open the spool "
				     "files: %s", strerror(errno));
	}
	lseek(in, (off_t)w->off[w->next], SEEK_SET);
	w->seg_start = w->next;
	w->seg_out = st.st_size;
	w->out_size = st.st_size;
	w->last_progress = now_s();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		close(in);
		close(out);
		return dsv_error_set(DSV_EIO, "map: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		char nbuf[32], wbuf[32];
		setpgid(0, 0); /* its own group, so a timeout kills it all */
		dup2(in, 0);
		dup2(out, 1);
		close(in);
		close(out);
		snprintf(nbuf, sizeof nbuf, "%d", mp->nw);
		snprintf(wbuf, sizeof wbuf, "%d", idx);
		setenv("DSV_COMPUTE_FILE", w->comp_path, 1);
		setenv("DSV_WORKER", wbuf, 1);
		setenv("DSV_WORKERS", nbuf, 1);
		execl("/bin/sh", "sh", "-c", mp->cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(in);
	close(out);
	w->pid = pid;
	w->running = 1;
	return 0;
}

/* Complete lines the program wrote in this segment; a partial last line is
 * cut off so a restart starts on a line of its own. */
static int segment_lines(struct worker *w, uint64_t *lines, int *partial)
{
	int fd = open(w->out_path, O_RDWR);
	struct stat st;
	char buf[1 << 16];
	off_t pos, last_nl;
	*lines = 0;
	*partial = 0;
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return dsv_error_set(DSV_EIO, "cannot read '%s'", w->out_path);
	}
	pos = w->seg_out;
	last_nl = w->seg_out;
	while (pos < st.st_size) {
		ssize_t n = pread(fd, buf, sizeof buf, pos);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n') {
				(*lines)++;
				last_nl = pos + i + 1;
			}
		pos += n;
	}
	if (last_nl < st.st_size) {
		*partial = 1;
	}
	close(fd);
	return 0;
}

static int truncate_partial(struct worker *w, uint64_t lines)
{
	/* keep exactly `lines` complete lines of the segment */
	int fd = open(w->out_path, O_RDWR);
	char buf[1 << 16];
	off_t pos = w->seg_out, cut = w->seg_out;
	uint64_t seen = 0;
	int rc = 0;
	if (fd < 0)
		return dsv_error_set(DSV_EIO, "cannot open '%s'", w->out_path);
	while (seen < lines) {
		ssize_t n = pread(fd, buf, sizeof buf, pos);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && seen < lines; i++)
			if (buf[i] == '\n') {
				seen++;
				cut = pos + i + 1;
			}
		pos += n;
	}
	if (ftruncate(fd, cut))
		rc = dsv_error_set(DSV_EIO, "cannot truncate '%s'", w->out_path);
	close(fd);
	return rc;
}

/* The segment ended (exit status `status`, or timed out): which records
 * were answered, which one failed, and whether to go on. */
static int segment_done(struct map *mp, struct worker *w, int status,
			int timed_out)
{
	uint64_t lines, want = w->count - w->seg_start;
	int partial, rc;
	char why[160];
	if ((rc = segment_lines(w, &lines, &partial)))
		return rc;
	int ok_exit = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok_exit && partial && lines + 1 == want) {
		/* a last line without its newline: accept it */
		int fd = open(w->out_path, O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, "\n", 1) != 1) {
			if (fd >= 0)
				close(fd);
			return dsv_error_set(DSV_EIO, "cannot write '%s'",
					     w->out_path);
		}
		close(fd);
		lines++;
		partial = 0;
	}
	if (lines > want)
		return dsv_error_set(DSV_EINVAL, "map: the program wrote %llu "
				     "lines for %llu records (worker %d): one "
				     "line per record is the protocol",
				     (unsigned long long)lines,
				     (unsigned long long)want, (int)(w - mp->w));
	if (ok_exit && lines == want) {
		w->next = w->count;
		w->done = 1;
		return 0;
	}
	if (partial && (rc = truncate_partial(w, lines)))
		return rc;
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
			 "lines, without answering it",
			 (unsigned long long)lines, (unsigned long long)want);
	uint64_t bad = w->seg_start + lines;
	if ((rc = add_failure(mp, w->first + bad, why)))
		return rc;
	w->failed[bad] = 1;
	w->next = bad + 1;
	if (w->next >= w->count)
		w->done = 1;
	return 0;
}

static void kill_all(struct map *mp)
{
	for (int i = 0; i < mp->nw; i++)
		if (mp->w[i].running) {
			kill(-mp->w[i].pid, SIGKILL);
			waitpid(mp->w[i].pid, NULL, 0);
			mp->w[i].running = 0;
		}
}

/* Runs every worker's program to the end of its slice, restarting after a
 * failed record under --skip-bad, killing a program that makes no progress
 * for --timeout seconds. */
static int run_workers(struct map *mp)
{
	int rc = 0;
	for (int i = 0; i < mp->nw; i++)
		if (!mp->w[i].count)
			mp->w[i].done = 1;
	for (;;) {
		int busy = 0;
		for (int i = 0; i < mp->nw && !rc; i++) {
			struct worker *w = &mp->w[i];
			if (w->done)
				continue;
			busy = 1;
			if (!w->running) {
				rc = start_segment(mp, w, i);
				continue;
			}
			int status;
			pid_t p = waitpid(w->pid, &status, WNOHANG);
			if (p == w->pid) {
				w->running = 0;
				rc = segment_done(mp, w, status, 0);
				continue;
			}
			struct stat st;
			if (stat(w->out_path, &st) == 0 && st.st_size != w->out_size) {
				w->out_size = st.st_size;
				w->last_progress = now_s();
			} else if (mp->timeout > 0 &&
				   now_s() - w->last_progress > (double)mp->timeout) {
				kill(-w->pid, SIGKILL);
				waitpid(w->pid, &status, 0);
				w->running = 0;
				rc = segment_done(mp, w, status, 1);
			}
		}
		if (rc || !busy)
			break;
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (rc)
		kill_all(mp);
	return rc;
}

/* Reads the workers' answers back in slice order into new shards: line k
 * of a worker's output answers its k-th record that did not fail; a blank
 * line drops the record; anything but a JSON object with a string "text"
 * is malformed. */
static int collect(struct map *mp, struct newtext *nt)
{
	int rc = 0;
	for (int i = 0; i < mp->nw && !rc; i++) {
		struct worker *w = &mp->w[i];
		int fd = open(w->out_path, O_RDONLY);
		struct stat st;
		char *data = NULL;
		dsv_reader *r = NULL;
		dsv_reader_opts ro = {.text_field = "text", .skip_bad = 1};
		dsv_record rec;
		int have = 0;
		if (fd < 0 || fstat(fd, &st)) {
			if (fd >= 0)
				close(fd);
			if (!w->count)
				continue;
			return dsv_error_set(DSV_EIO, "cannot read '%s'", w->out_path);
		}
		if (st.st_size > 0) {
			data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (data == MAP_FAILED) {
				close(fd);
				return dsv_error_set(DSV_EIO, "cannot map '%s'", w->out_path);
			}
		}
		close(fd);
		if (data && (rc = dsv_reader_open_mem(&r, w->out_path, data,
						      (size_t)st.st_size, &ro)))
			goto next;
		const char *p = data, *end = data + st.st_size;
		uint64_t line = 0, k = 0;
		for (; k < w->count && !rc; k++) {
			if (w->failed[k])
				continue;
			const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			line++;
			int blank = strspn(p, " \t\r") >= len;
			const char *lp = p;
			p = nl ? nl + 1 : end;
			if (p > end || lp >= end) {
				rc = dsv_error_set(DSV_EIO, "map: output of worker %d "
						   "ends early", i);
				break;
			}
			if (blank) {
				mp->dropped++;
				continue;
			}
			if (!have) {
				int n = dsv_reader_next(r, &rec);
				if (n < 0) {
					rc = n;
					break;
				}
				have = n == 1;
			}
			if (!have || rec.line != line) {
				if ((rc = add_failure(mp, w->first + k, "the program's "
						      "answer is not a JSON object with "
						      "a string \"text\"")))
					break;
				continue;
			}
			have = 0;
			uint64_t cols[2] = {0, w->first + k};
			const dsv_rhash *h = &mp->hashes[w->first + k];
			for (int b = 0; b < 8; b++)
				cols[0] = cols[0] << 8 | h->b[b];
			mp->bytes_out += rec.text_len;
			rc = newtext_add(nt, rec.text, rec.text_len, rec.meta,
					 rec.meta_len, rec.layout, cols);
		}
	next:
		dsv_reader_free(r);
		if (data)
			munmap(data, (size_t)st.st_size);
	}
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

static void cleanup_spool(struct map *mp, const char *tmpdir)
{
	for (int i = 0; mp->w && i < mp->nw; i++) {
		struct worker *w = &mp->w[i];
		if (w->in_path)
			unlink(w->in_path);
		if (w->out_path)
			unlink(w->out_path);
		if (w->comp_path)
			unlink(w->comp_path);
		free(w->in_path), free(w->out_path), free(w->comp_path);
		free(w->off), free(w->failed);
	}
	if (tmpdir)
		rmdir(tmpdir);
	free(mp->w);
	free(mp->hashes);
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
		OPT_STRING('o', "output", &mp.output, "name", "branch for the new version (must not exist)"),
		OPT_STRING('m', "message", &mp.message, "msg", "the new version's message"),
		OPT_BOOL(0, "force", &mp.force, "move the branch even if it exists"),
		OPT_BOOL('q', "quiet", &mp.quiet, "print nothing"),
		OPT_BOOL(0, "json", &mp.json, "print the result as JSON"),
		OPT_END(),
	};
	struct newtext *nt = NULL;
	struct program_compute pc;
	dsv_manifest *m = NULL;
	dsv_aid in_id, id;
	char *tmpdir = NULL;
	int rc = 1;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n != 1)
		return usage_error(opts, usage, "exactly one input revision");
	if (!mp.cmd || !*mp.cmd)
		return usage_error(opts, usage, "--cmd is required");
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
	if (asprintf(&tmpdir, "%s/tmp/map.XXXXXX", the_repo->dir) < 0 ||
	    !mkdtemp(tmpdir)) {
		dsv_error_set(DSV_EIO, "cannot create a spool directory: %s",
			      strerror(errno));
		goto fail;
	}
	if (spool(&mp, m, tmpdir, newtext_meter(nt)) || run_workers(&mp))
		goto fail;
	for (int i = 0; i < mp.nw; i++)
		if (program_compute_read(&pc, mp.w[i].comp_path))
			goto fail;
	if (collect(&mp, nt))
		goto fail;
	dsv_meter_add(newtext_meter(nt), DSV_METER_BYTES_READ, mp.bytes_in);
	describe(&mp, nt);
	program_compute_record(&pc, newtext_meter(nt), newtext_artifact(nt));
	if (newtext_commit(nt, mp.quiet, mp.json, &id))
		goto fail;
	if (!mp.quiet && !mp.json && (mp.dropped || mp.nfail))
		printf(" %llu records dropped (blank answers), %zu failed\n",
		       (unsigned long long)mp.dropped, mp.nfail);
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	cleanup_spool(&mp, tmpdir);
	free(tmpdir);
	newtext_free(nt);
	dsv_manifest_free(m);
	return rc;
}
