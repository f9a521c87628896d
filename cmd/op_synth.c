/* op_synth.c: `dsv derive synth --model M [--prompts REV] --n N [--verify
 * CMD]`: generation. N samples from the model (sample i from prompt
 * i mod P, or from <|endoftext|> alone), each optionally checked by an
 * external verifier (the candidate as JSON on stdin; exit 0 accepts) run in
 * -j parallel workers; the accepted ones become new records with `sample`
 * (and `source`, `source_row`) columns. Parents: M, then REV. A chunk of
 * candidates at a time is generated, verified and written, so memory
 * holds one chunk, not N.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cand {
	char *json;     /* the candidate record, one JSON object; NULL: empty */
	size_t prompt;  /* in pt */
	int accepted;
};

struct synth {
	struct cand *c;    /* the chunk's: samples first .. first + n - 1 */
	uint64_t first, n;
	long timeout;      /* --verify-timeout seconds, 0: none */
	uint64_t timeouts; /* verifiers killed at it (rejections) */
	uint64_t empty;    /* empty completions, dropped unverified */
	int has_prompts;
	struct gen_texts *pt; /* the chunk's prompts (gen_reader_next) */
};

static int keep_cand(const struct gen_result *r, void *ctx)
{
	struct synth *sy = ctx;
	/* as rephrase: an empty completion (<|endoftext|> first) is no
	 * record; the verifier never sees it */
	if (!r->len) {
		sy->empty++;
		return 0;
	}
	size_t p = sy->has_prompts ? r->prompt : 0;
	json_t *o = json_object();
	json_object_set_new(o, "text", json_stringn(r->text, r->len));
	if (sy->has_prompts)
		json_object_set_new(o, "prompt", json_stringn(sy->pt->text[p],
							    sy->pt->len[p]));
	json_object_set_new(o, "sample", json_integer((json_int_t)r->sample));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	struct cand *c = &sy->c[r->sample - sy->first];
	c->json = s;
	c->prompt = p;
	c->accepted = 1;
	return 0;
}

/* ^C, SIGTERM or SIGHUP while the verifiers run: the handler kills their
 * process groups (each has its own, which neither a terminal's ^C nor a
 * signal sent to dsv alone reaches), verify() stops, the spool is removed,
 * nothing is committed and dsv dies of the signal. */
static volatile sig_atomic_t synth_signal;
static pid_t *volatile synth_pids;
static long synth_jobs;

static void on_signal(int sig)
{
	pid_t *p = synth_pids;
	synth_signal = sig;
	for (long i = 0; p && i < synth_jobs; i++)
		if (p[i] > 0)
			kill(-p[i], SIGKILL);
}


static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The spool file dir/NAME-K.EXT of candidate k: cand-K.json, the
 * verifier's stdin, and compute-K.jsonl, its $DSV_COMPUTE_FILE. */
static void spool_path(char path[4096], const char *dir, const char *name,
		       uint64_t k, const char *ext)
{
	snprintf(path, 4096, "%s/%s-%llu.%s", dir, name, (unsigned long long)k,
		 ext);
}

/* Takes what the verifier of candidate k reported in its own compute file
 * (dir/compute-K.jsonl) into pc and removes the file. A verifier killed at
 * --verify-timeout may have been cut off mid-line: its complete lines are
 * kept (that compute was spent), the partial last one is dropped with a
 * warning and counted. Any other bad line is an error naming the sample.
 * With pc NULL (after an error: nothing will be committed) the file is only
 * removed, and the error already set stays the one reported. */
static int take_report(struct program_compute *pc, const char *dir,
		       uint64_t k, int killed)
{
	char path[4096];
	int rc = 0;
	spool_path(path, dir, "compute", k, "jsonl");
	if (pc && killed && program_compute_cut_partial(path) > 0) {
		pc->partial++;
		fprintf(stderr, "dsv: warning: synth: dropped a partial line the "
			"verifier of sample %llu, killed at --verify-timeout, "
			"left in $DSV_COMPUTE_FILE\n", (unsigned long long)k);
	}
	if (pc && program_compute_read(pc, path))
		rc = dsv_error_wrap(DSV_EINVAL, "--verify: sample %llu",
				    (unsigned long long)k);
	unlink(path);
	return rc;
}

/* Runs the verifier on every candidate of the chunk, at most `jobs` at
 * once, each with its candidate in a spool file as stdin and its own
 * $DSV_COMPUTE_FILE, so that concurrent verifiers never write into one file
 * (one killed mid-line would glue its partial line to the next one's). */
static int verify(struct synth *sy, const char *cmd, long jobs,
		  const char *dir, struct program_compute *pc)
{
	pid_t *pids = calloc((size_t)jobs, sizeof *pids);
	uint64_t *which = calloc((size_t)jobs, sizeof *which);
	double *started = calloc((size_t)jobs, sizeof *started);
	char *timed_out = calloc((size_t)jobs, 1);
	uint64_t next = 0, done = 0;
	int rc = 0, running = 0;
	if (!pids || !which || !started || !timed_out) {
		free(pids), free(which), free(started), free(timed_out);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	synth_jobs = jobs;
	synth_pids = pids;
	while (done < sy->n) {
		if (synth_signal && !rc)
			rc = dsv_error_set(DSV_EIO, "synth: interrupted by signal "
					   "%d; the verifiers were killed and "
					   "nothing was committed",
					   (int)synth_signal);
		while (!rc && running < jobs && next < sy->n) {
			if (!sy->c[next].json) { /* empty: nothing to verify */
				next++;
				done++;
				continue;
			}
			char path[4096], comp[4096];
			spool_path(path, dir, "cand", sy->first + next, "json");
			spool_path(comp, dir, "compute", sy->first + next, "jsonl");
			FILE *f = fopen(path, "w");
			if (!f || fprintf(f, "%s\n", sy->c[next].json) < 0 ||
			    fclose(f)) {
				rc = dsv_error_set(DSV_EIO, "cannot write '%s'", path);
				break;
			}
			int slot = 0;
			while (pids[slot])
				slot++;
			fflush(stdout);
			pid_t p = fork();
			if (p < 0) {
				rc = dsv_error_set(DSV_EIO, "fork: %s", strerror(errno));
				break;
			}
			if (p == 0) {
				/* its own group, so that the handler kills all
				 * of a verifier (sh and what it started) */
				setpgid(0, 0);
				int fd = open(path, O_RDONLY), nul = open("/dev/null", O_WRONLY);
				dup2(fd, 0);
				dup2(nul, 1); /* stdout is ours (JSON results) */
				setenv("DSV_COMPUTE_FILE", comp, 1);
				execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
				_exit(127);
			}
			setpgid(p, p);
			pids[slot] = p;
			which[slot] = next++;
			started[slot] = mono_s();
			timed_out[slot] = 0;
			running++;
			if (synth_signal) /* the handler may have missed it */
				kill(-p, SIGKILL);
		}
		if (!running)
			break;
		int status;
		pid_t p = sy->timeout ? waitpid(-1, &status, WNOHANG)
				      : wait(&status);
		if (p == 0) {
			/* --verify-timeout: kill (the group of) whoever is
			 * past it, then look again in a moment */
			double now = mono_s();
			for (int s = 0; s < jobs; s++)
				if (pids[s] && !timed_out[s] &&
				    now - started[s] > (double)sy->timeout) {
					kill(-pids[s], SIGKILL);
					timed_out[s] = 1;
				}
			nanosleep(&(struct timespec){0, 10000000}, NULL);
			continue;
		}
		if (p < 0) {
			rc = dsv_error_set(DSV_EIO, "wait: %s", strerror(errno));
			break;
		}
		for (int s = 0; s < jobs; s++)
			if (pids[s] == p) {
				char path[4096];
				struct cand *c = &sy->c[which[s]];
				uint64_t k = sy->first + which[s];
				c->accepted = WIFEXITED(status) &&
					      WEXITSTATUS(status) == 0;
				/* past --verify-timeout: a rejection (a
				 * candidate that makes its check hang fails it) */
				if (timed_out[s]) {
					c->accepted = 0;
					sy->timeouts++;
				}
				/* a rejection is a non-zero exit; a verifier
				 * that cannot run or crashes has judged
				 * nothing, and would reject every candidate */
				if (!rc && WIFEXITED(status) &&
				    (WEXITSTATUS(status) == 126 ||
				     WEXITSTATUS(status) == 127))
					rc = dsv_error_set(DSV_EINVAL, "--verify: "
							   "'%s' could not be run "
							   "(exit %d)", cmd,
							   WEXITSTATUS(status));
				else if (!rc && WIFSIGNALED(status) && !synth_signal &&
					 !timed_out[s])
					rc = dsv_error_set(DSV_EINVAL, "--verify: "
							   "the verifier was killed "
							   "by signal %d on sample "
							   "%llu; nothing was "
							   "committed",
							   WTERMSIG(status),
							   (unsigned long long)k);
				spool_path(path, dir, "cand", k, "json");
				unlink(path);
				int trc = take_report(rc || synth_signal ? NULL : pc,
						      dir, k, timed_out[s]);
				if (!rc)
					rc = trc;
				pids[s] = 0;
				running--;
				done++;
			}
	}
	synth_pids = NULL;
	free(pids);
	free(which);
	free(started);
	free(timed_out);
	if (!rc && synth_signal)
		rc = dsv_error_set(DSV_EIO, "synth: interrupted by signal %d; "
				   "nothing was committed", (int)synth_signal);
	return rc;
}

/* verify() in a spool directory of its own, .dsv/tmp/synth.XXXXXX (removed
 * after), with the stop signals caught while the verifiers run. */
static int verify_chunk(struct synth *sy, const char *cmd, long jobs,
			struct program_compute *pc)
{
	struct sigaction old_sig[NSTOP_SIGNALS];
	char *dir;
	if (asprintf(&dir, "%s/tmp/synth.XXXXXX", the_repo->dir) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if (!mkdtemp(dir)) {
		free(dir);
		return dsv_error_set(DSV_EIO, "cannot create a spool directory");
	}
	stop_signals_catch(on_signal, old_sig);
	int rc = verify(sy, cmd, jobs, dir, pc);
	stop_signals_restore(old_sig);
	rmdir(dir);
	free(dir);
	return rc;
}

/* Adds the chunk's accepted candidates to nt in sample order, without
 * their `sample` member (a column); with prompts (P records), `source` is
 * the hash prefix of the candidate's prompt and `source_row` its row,
 * sample mod P. Frees every candidate of the chunk. */
static int add_accepted(struct synth *sy, struct newtext *nt, uint64_t nprompts,
			uint64_t *accepted)
{
	int rc = 0;
	for (uint64_t j = 0; j < sy->n; j++) {
		struct cand *c = &sy->c[j];
		if (!rc && c->accepted) {
			json_t *obj = json_loads(c->json, JSON_ALLOW_NUL, NULL);
			json_object_del(obj, "sample");
			uint64_t i = sy->first + j;
			uint64_t cv[3] = {i, 0, nprompts ? i % nprompts : 0};
			if (nprompts)
				for (int b = 0; b < 8; b++)
					cv[1] = cv[1] << 8 |
						sy->pt->hash[c->prompt].b[b];
			rc = newtext_add_json(nt, obj, cv);
			json_decref(obj);
			*accepted += !rc;
		}
		free(c->json);
		*c = (struct cand){0};
	}
	return rc;
}

int derive_synth(int argc, char **argv)
{
	static const char usage[] = "dsv derive synth --model M [--prompts REV] "
				    "--n N [--verify CMD] -o NAME -m MSG [options]";
	const char *model = NULL, *prompts_rev = NULL, *vcmd = NULL;
	const char *output = NULL, *message = NULL, *device = NULL;
	const char *temp = NULL, *topp = NULL;
	long n = 0, jobs = 4, max_tokens = 64, top_k = 0, seed = 0, batch = 16;
	long vtimeout = 0;
	int force = 0, quiet = 0, json = 0;
	const struct option opts[] = {
		OPT_STRING(0, "model", &model, "rev", "the generator"),
		OPT_STRING(0, "prompts", &prompts_rev, "rev", "a version whose records are the prompts (in turn)"),
		OPT_INT(0, "n", &n, "n", "candidates to generate"),
		OPT_STRING(0, "verify", &vcmd, "cmd", "keep a candidate only when CMD (JSON on stdin) exits 0"),
		OPT_INT('j', "jobs", &jobs, "n", "verifiers run in parallel (default 4)"),
		OPT_INT(0, "verify-timeout", &vtimeout, "s", "a verifier running longer is killed and rejects its candidate"),
		OPT_SAMPLING(&max_tokens, &temp, &top_k, &topp, &seed, &batch,
			     &device, "per candidate"),
		OPT_NEWTEXT_OUTPUT(&output, &message, &force, &quiet,
				   &json),
		OPT_END(),
	};
	struct gen_opts o = {.temperature = 1.0, .top_p = 1.0};
	struct model md = {0};
	struct gen_texts pt = {0};
	struct gen_reader *rd = NULL;
	struct gen *gen = NULL;
	struct synth sy = {0};
	struct newtext *nt = NULL;
	struct program_compute pc;
	char hex[DSV_AID_HEXLEN + 1];
	dsv_aid pid, id;
	uint64_t accepted = 0, nrec = 0;
	int rc = 1;

	int npos = parse_options(argc, argv, opts, usage);
	if (npos < 0)
		return PARSE_EXIT(npos);
	if (npos != 0)
		return usage_error(opts, usage, "unexpected argument '%s' (the "
				   "prompts go in --prompts)", argv[0]);
	if (!model || n < 1)
		return usage_error(opts, usage, "--model and --n N (>= 1) are required");
	if (!output || !*output || !message || !*message)
		return usage_error(opts, usage, "-o NAME and -m MSG are required");
	if (jobs < 1 || jobs > 1024)
		return usage_error(opts, usage, "-j must be 1..1024");
	if (vtimeout < 0 || (vtimeout && !vcmd))
		return usage_error(opts, usage, "--verify-timeout needs --verify "
				   "and a number of seconds >= 1");
	/* the provenance keeps it in dsv.json, which holds UTF-8 only */
	json_t *vj = vcmd ? json_string(vcmd) : NULL;
	json_decref(vj);
	if (vcmd && !vj)
		return usage_error(opts, usage, "--verify is not valid UTF-8");
	if (gen_opts_check(&o, 1, max_tokens, temp, topp, top_k, seed, batch))
		return usage_error(opts, usage, "%s", dsv_error_last());
	program_compute_init(&pc);
	sy.timeout = vtimeout;
	sy.pt = &pt;
	sy.has_prompts = prompts_rev != NULL;
	const char *cols[] = {"sample", "source", "source_row"};
	if (gen_parse_device(device, &o.where) ||
	    (prompts_rev && gen_reader_open(&rd, prompts_rev, 0, &pid, &nrec)) ||
	    model_load(model, 1, 1, DSV_DEVICE_CPU, &md) ||
	    newtext_start(&nt, "synth", DSV_MODE_GENERATION, output, message,
			  force, cols, prompts_rev ? 3 : 1) ||
	    newtext_add_parent(nt, "model", &md.aid) ||
	    (prompts_rev && newtext_add_parent(nt, "prompts", &pid)))
		goto fail;
	if (prompts_rev && !nrec) {
		rc = error_msg("'%s' has no records to prompt with", prompts_rev);
		goto out;
	}
	/* candidate i takes prompt i mod P: with n < P, the first n */
	uint64_t np = nrec < (uint64_t)n ? nrec : (uint64_t)n;
	if (gen_start(&gen, &md, &o, np, (uint64_t)n, newtext_meter(nt)))
		goto fail;
	uint64_t k = gen_chunk_samples(gen);
	size_t kc = k < (uint64_t)n ? k : (uint64_t)n;
	if (!(sy.c = calloc(kc, sizeof *sy.c))) {
		dsv_error_set(DSV_ENOMEM, "out of memory");
		goto fail;
	}
	/* A chunk of candidates at a time: generated, verified, written,
	 * freed; the prompts read with them, a chunk at a time (over again
	 * for n > P), or once when they fit in one (a few seeds for many
	 * candidates), not the version re-read for every chunk */
	for (; sy.first < (uint64_t)n; sy.first += sy.n) {
		sy.n = (uint64_t)n - sy.first < k ? (uint64_t)n - sy.first : k;
		if (rd && gen_reader_next(rd, sy.n, &pt))
			goto fail;
		if (gen_next(gen, (const char *const *)pt.text, pt.len, pt.n,
			     sy.n, keep_cand, &sy) ||
		    (vcmd && verify_chunk(&sy, vcmd, jobs, &pc)) ||
		    add_accepted(&sy, nt, nrec, &accepted))
			goto fail;
	}
	gen_free(gen);
	gen = NULL;
	if (!accepted && sy.empty == (uint64_t)n) {
		rc = error_msg("synth: all %ld %s; nothing was committed", n,
			       plural(n, "candidate was an empty completion",
				      "candidates were empty completions"));
		goto out;
	}
	if (!accepted) {
		rc = error_msg("synth: the verifier accepted none of %ld %s "
			       "(%llu empty, not verified); nothing was "
			       "committed", n,
			       plural(n, "candidate", "candidates"),
			       (unsigned long long)sy.empty);
		goto out;
	}
	dsv_artifact *a = newtext_artifact(nt);
	dsv_aid_fmt(hex, &md.aid);
	json_object_set_new(a->params, "model", json_string(hex));
	json_object_set_new(a->params, "n", json_integer(n));
	if (vcmd) {
		json_object_set_new(a->params, "verify", json_string(vcmd));
		json_object_set_new(a->params, "jobs", json_integer(jobs));
		if (vtimeout)
			json_object_set_new(a->params, "verify_timeout",
					    json_integer(vtimeout));
	}
	gen_opts_params(a->params, &o);
	dsv_artifact_stat_int(a, "candidates", n);
	dsv_artifact_stat_int(a, "accepted", (int64_t)accepted);
	dsv_artifact_stat_int(a, "records_empty", (int64_t)sy.empty);
	dsv_artifact_stat_num(a, "acceptance_rate", (double)accepted / (double)n);
	if (vtimeout)
		dsv_artifact_stat_int(a, "verify_timeouts", (int64_t)sy.timeouts);
	if (vcmd)
		program_compute_record(&pc, newtext_meter(nt), a);
	if (newtext_commit(nt, quiet, json, &id))
		goto fail;
	if (!quiet && !json) {
		printf(" %llu of %ld %s accepted (%.1f%%)",
		       (unsigned long long)accepted, n,
		       plural(n, "candidate", "candidates"),
		       100.0 * accepted / n);
		if (sy.empty)
			printf("; %llu empty %s dropped",
			       (unsigned long long)sy.empty,
			       plural(sy.empty, "completion", "completions"));
		putchar('\n');
	}
	rc = 0;
	goto out;
fail:
	rc = die_error();
out:
	for (uint64_t j = 0; sy.c && j < sy.n; j++)
		free(sy.c[j].json);
	free(sy.c);
	gen_free(gen);
	gen_reader_free(rd);
	newtext_free(nt);
	model_free(&md);
	if (synth_signal) /* cleaned up: now die of it, as the caller expects */
		raise((int)synth_signal);
	return rc;
}
