/* compute.c: the compute record (what one operation used) and the meter every
 * artifact-making command measures itself with: clocks from clock_gettime and
 * getrusage, counters added atomically by worker threads, JSON in dsv.json.
 */
#include "lineage/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- modes --------------------------------------------------------------- */

static const char *const mode_names[DSV_MODE_COUNT] = {
	"ingest", "selection", "transformation",
	"generation", "training", "evaluation",
};

const char *dsv_mode_name(dsv_mode m)
{
	return (unsigned)m < DSV_MODE_COUNT ? mode_names[m] : "unknown";
}

int dsv_mode_parse(dsv_mode *out, const char *name)
{
	for (int i = 0; i < DSV_MODE_COUNT; i++)
		if (name && !strcmp(name, mode_names[i])) {
			*out = (dsv_mode)i;
			return 0;
		}
	return dsv_error_set(DSV_EINVAL,
			     "unknown compute mode '%s' (ingest, selection, "
			     "transformation, generation, training, evaluation)",
			     name ? name : "");
}

/* DESIGN.md section 6, plus the selection ops of section 7 (sample, mix,
 * split) and classifier training, which serves selection. */
static const struct {
	const char *op;
	dsv_mode mode;
} op_modes[] = {
	{"commit", DSV_MODE_INGEST},
	{"ingest", DSV_MODE_INGEST},
	{"filter", DSV_MODE_SELECTION},
	{"dedup", DSV_MODE_SELECTION},
	{"annotate", DSV_MODE_SELECTION},
	{"score", DSV_MODE_SELECTION},
	{"classify", DSV_MODE_SELECTION},
	{"classifier-train", DSV_MODE_SELECTION},
	{"sample", DSV_MODE_SELECTION},
	{"mix", DSV_MODE_SELECTION},
	{"split", DSV_MODE_SELECTION},
	{"rephrase", DSV_MODE_TRANSFORMATION},
	{"map", DSV_MODE_TRANSFORMATION},
	{"synth", DSV_MODE_GENERATION},
	{"train", DSV_MODE_TRAINING},
	{"tokenizer", DSV_MODE_TRAINING},
	{"tokenizer-train", DSV_MODE_TRAINING},
	{"eval", DSV_MODE_EVALUATION},
};

int dsv_mode_for_op(dsv_mode *out, const char *op)
{
	for (size_t i = 0; i < sizeof op_modes / sizeof op_modes[0]; i++)
		if (op && !strcmp(op, op_modes[i].op)) {
			*out = op_modes[i].mode;
			return 0;
		}
	return dsv_error_set(DSV_EINVAL, "no compute mode for op '%s'",
			     op ? op : "");
}

/* ---- the record ---------------------------------------------------------- */

void dsv_compute_init(dsv_compute *c, dsv_mode mode)
{
	memset(c, 0, sizeof *c);
	c->mode = mode;
	c->ranks = 1;
}

static void copy_name(char dst[DSV_DEVICE_NAME_MAX], const char *src)
{
	snprintf(dst, DSV_DEVICE_NAME_MAX, "%s", src);
}

/* Finds or adds a device slot; when all are taken the last one becomes
 * "other" and collects the rest, so seconds are never dropped. */
static dsv_device_use *device_slot(dsv_compute *c, const char *name)
{
	char key[DSV_DEVICE_NAME_MAX];
	copy_name(key, name);
	for (int i = 0; i < c->ndevices; i++)
		if (!strcmp(c->devices[i].name, key))
			return &c->devices[i];
	if (c->ndevices < DSV_COMPUTE_MAX_DEVICES) {
		dsv_device_use *d = &c->devices[c->ndevices++];
		copy_name(d->name, key);
		d->gpu_s = 0;
		return d;
	}
	copy_name(c->devices[DSV_COMPUTE_MAX_DEVICES - 1].name, "other");
	return &c->devices[DSV_COMPUTE_MAX_DEVICES - 1];
}

void dsv_compute_add(dsv_compute *acc, const dsv_compute *b)
{
	acc->wall_s += b->wall_s;
	acc->cpu_s += b->cpu_s;
	acc->user_s += b->user_s;
	acc->sys_s += b->sys_s;
	acc->gpu_s += b->gpu_s;
	acc->flops += b->flops;
	acc->energy_j += b->energy_j;
	acc->bytes_read += b->bytes_read;
	acc->bytes_written += b->bytes_written;
	acc->records_in += b->records_in;
	acc->records_out += b->records_out;
	acc->tokens_in += b->tokens_in;
	acc->tokens_out += b->tokens_out;
	acc->ranks += b->ranks;
	if (!acc->cpu_model[0])
		copy_name(acc->cpu_model, b->cpu_model);
	else if (b->cpu_model[0] && strcmp(acc->cpu_model, b->cpu_model))
		copy_name(acc->cpu_model, "mixed");
	if (b->cpu_cores > acc->cpu_cores)
		acc->cpu_cores = b->cpu_cores;
	for (int i = 0; i < b->ndevices && i < DSV_COMPUTE_MAX_DEVICES; i++)
		device_slot(acc, b->devices[i].name)->gpu_s +=
			b->devices[i].gpu_s;
}

/* ---- JSON ---------------------------------------------------------------- */

static int set_num(json_t *o, const char *k, double v)
{
	return json_object_set_new(o, k, json_real(v));
}

static int set_int(json_t *o, const char *k, uint64_t v)
{
	/* jansson integers are signed 64-bit; counts never get near 2^63 */
	return json_object_set_new(o, k, json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
}

int dsv_compute_to_json(json_t **out, const dsv_compute *c)
{
	json_t *o = json_object(), *cpu = json_object(), *devs = json_array();
	int bad = !o || !cpu || !devs;

	*out = NULL;
	if (!bad)
		bad |= json_object_set_new(o, "mode",
					   json_string(dsv_mode_name(c->mode)));
	bad |= !o || set_num(o, "wall_s", c->wall_s) ||
	       set_num(o, "cpu_s", c->cpu_s) ||
	       set_num(o, "user_s", c->user_s) ||
	       set_num(o, "sys_s", c->sys_s) ||
	       set_num(o, "gpu_s", c->gpu_s) ||
	       set_num(o, "flops", c->flops) ||
	       set_num(o, "energy_joules", c->energy_j) ||
	       set_int(o, "bytes_read", c->bytes_read) ||
	       set_int(o, "bytes_written", c->bytes_written) ||
	       set_int(o, "records_in", c->records_in) ||
	       set_int(o, "records_out", c->records_out) ||
	       set_int(o, "tokens_in", c->tokens_in) ||
	       set_int(o, "tokens_out", c->tokens_out) ||
	       set_int(o, "ranks", c->ranks > 0 ? (uint64_t)c->ranks : 1);
	if (!bad) {
		bad |= json_object_set_new(cpu, "model",
					   json_string(c->cpu_model));
		bad |= set_int(cpu, "cores",
			       c->cpu_cores > 0 ? (uint64_t)c->cpu_cores : 0);
		for (int i = 0; i < c->ndevices && !bad; i++) {
			json_t *d = json_object();
			bad |= !d ||
			       json_object_set_new(d, "name",
						   json_string(c->devices[i].name)) ||
			       set_num(d, "gpu_s", c->devices[i].gpu_s) ||
			       json_array_append_new(devs, d);
		}
		bad |= json_object_set(o, "cpu", cpu) ||
		       json_object_set(o, "devices", devs);
	}
	json_decref(cpu);
	json_decref(devs);
	if (bad) {
		json_decref(o);
		return dsv_error_set(DSV_ENOMEM, "cannot build compute record");
	}
	*out = o;
	return 0;
}

static int get_num(const json_t *o, const char *k, double *v, int required)
{
	json_t *x = json_object_get(o, k);
	if (!x) {
		if (required)
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field 'compute.%s' is "
					     "missing", k);
		*v = 0;
		return 0;
	}
	if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
	    json_number_value(x) < 0)
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field 'compute.%s' must be a "
				     "number >= 0", k);
	*v = json_number_value(x);
	return 0;
}

static int get_count(const json_t *o, const char *prefix, const char *k,
		     uint64_t *v)
{
	json_t *x = json_object_get(o, k);
	*v = 0;
	if (!x)
		return 0;
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s%s' must be an "
				     "integer >= 0", prefix, k);
	*v = (uint64_t)json_integer_value(x);
	return 0;
}

static int get_small(const json_t *o, const char *prefix, const char *k,
		     int *v)
{
	uint64_t u;
	int rc = get_count(o, prefix, k, &u);
	if (rc < 0)
		return rc;
	if (u > 1000000)
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s%s' is too large",
				     prefix, k);
	*v = (int)u;
	return 0;
}

static int get_name(const json_t *o, const char *where, const char *k,
		    char dst[DSV_DEVICE_NAME_MAX], int required)
{
	json_t *x = json_object_get(o, k);
	dst[0] = '\0';
	if (!x && !required)
		return 0;
	if (!json_is_string(x))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s%s' must be a string",
				     where, k);
	copy_name(dst, json_string_value(x));
	return 0;
}

int dsv_compute_from_json(dsv_compute *out, const json_t *o)
{
	const json_t *x, *cpu, *devs;
	dsv_compute c;
	int rc;

	if (!json_is_object(o))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field 'compute' must be an object");
	dsv_compute_init(&c, DSV_MODE_INGEST);
	x = json_object_get(o, "mode");
	if (!json_is_string(x))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field 'compute.mode' must be a "
				     "string");
	if (dsv_mode_parse(&c.mode, json_string_value(x)) < 0)
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field 'compute.mode' must be one "
				     "of ingest, selection, transformation, "
				     "generation, training, evaluation");
	if ((rc = get_num(o, "wall_s", &c.wall_s, 1)) < 0 ||
	    (rc = get_num(o, "cpu_s", &c.cpu_s, 1)) < 0 ||
	    (rc = get_num(o, "user_s", &c.user_s, 0)) < 0 ||
	    (rc = get_num(o, "sys_s", &c.sys_s, 0)) < 0 ||
	    (rc = get_num(o, "gpu_s", &c.gpu_s, 0)) < 0 ||
	    (rc = get_num(o, "flops", &c.flops, 0)) < 0 ||
	    (rc = get_num(o, "energy_joules", &c.energy_j, 0)) < 0 ||
	    (rc = get_count(o, "compute.", "bytes_read", &c.bytes_read)) < 0 ||
	    (rc = get_count(o, "compute.", "bytes_written", &c.bytes_written)) < 0 ||
	    (rc = get_count(o, "compute.", "records_in", &c.records_in)) < 0 ||
	    (rc = get_count(o, "compute.", "records_out", &c.records_out)) < 0 ||
	    (rc = get_count(o, "compute.", "tokens_in", &c.tokens_in)) < 0 ||
	    (rc = get_count(o, "compute.", "tokens_out", &c.tokens_out)) < 0 ||
	    (rc = get_small(o, "compute.", "ranks", &c.ranks)) < 0)
		return rc;
	if (!json_object_get(o, "ranks"))
		c.ranks = 1;
	if ((cpu = json_object_get(o, "cpu"))) {
		if (!json_is_object(cpu))
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field 'compute.cpu' must "
					     "be an object");
		if ((rc = get_name(cpu, "compute.cpu.", "model", c.cpu_model,
				   0)) < 0 ||
		    (rc = get_small(cpu, "compute.cpu.", "cores",
				    &c.cpu_cores)) < 0)
			return rc;
	}
	if ((devs = json_object_get(o, "devices"))) {
		size_t i;
		json_t *d;
		if (!json_is_array(devs))
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field 'compute.devices' "
					     "must be an array");
		json_array_foreach(devs, i, d) {
			char where[64], name[DSV_DEVICE_NAME_MAX];
			json_t *s;
			snprintf(where, sizeof where, "compute.devices[%zu].", i);
			if (!json_is_object(d))
				return dsv_error_set(DSV_EINVAL,
						     "dsv.json: field "
						     "'compute.devices[%zu]' "
						     "must be an object", i);
			if ((rc = get_name(d, where, "name", name, 1)) < 0)
				return rc;
			s = json_object_get(d, "gpu_s");
			if (s && (!json_is_number(s) ||
				  !isfinite(json_number_value(s)) ||
				  json_number_value(s) < 0))
				return dsv_error_set(DSV_EINVAL,
						     "dsv.json: field "
						     "'%sgpu_s' must be a number "
						     ">= 0", where);
			device_slot(&c, name)->gpu_s +=
				s ? json_number_value(s) : 0;
		}
	}
	*out = c;
	return 0;
}

/* ---- the meter ----------------------------------------------------------- */

struct dsv_meter {
	dsv_mode mode;
	_Atomic uint64_t counters[DSV_METER_NCOUNTERS];
	_Atomic double flops, energy_j;
	pthread_mutex_t lock; /* guards devices */
	dsv_compute devices;  /* only ndevices/devices are used */
	int running;
	struct timespec t0;
	struct rusage ru0_self, ru0_kids;
	double wall_s, user_s, sys_s; /* accumulated over start/stop spans */
	char cpu_model[DSV_DEVICE_NAME_MAX];
	int cpu_cores;
};

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static char cpu_model[DSV_DEVICE_NAME_MAX];
static int cpu_cores;

static void read_cpuinfo(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	cpu_cores = n > 0 ? (int)n : 1;
	copy_name(cpu_model, "unknown cpu");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *colon;
		if (strncmp(line, "model name", 10) || !(colon = strchr(line, ':')))
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		if (*colon)
			copy_name(cpu_model, colon);
		break;
	}
	fclose(f);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double ts_diff(struct timespec a, struct timespec b)
{
	return (double)(b.tv_sec - a.tv_sec) +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

int dsv_meter_new(dsv_meter **out, dsv_mode mode)
{
	dsv_meter *m;

	*out = NULL;
	if (!(m = calloc(1, sizeof *m)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	pthread_once(&cpu_once, read_cpuinfo);
	m->mode = mode;
	for (int i = 0; i < DSV_METER_NCOUNTERS; i++)
		atomic_init(&m->counters[i], 0);
	atomic_init(&m->flops, 0.0);
	atomic_init(&m->energy_j, 0.0);
	pthread_mutex_init(&m->lock, NULL);
	copy_name(m->cpu_model, cpu_model);
	m->cpu_cores = cpu_cores;
	*out = m;
	return 0;
}

void dsv_meter_free(dsv_meter *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void dsv_meter_start(dsv_meter *m)
{
	clock_gettime(CLOCK_MONOTONIC, &m->t0);
	getrusage(RUSAGE_SELF, &m->ru0_self);
	getrusage(RUSAGE_CHILDREN, &m->ru0_kids);
	m->running = 1;
}

/* The time spent since start, without stopping. */
static void span(const dsv_meter *m, double *wall, double *user, double *sys)
{
	struct timespec t1;
	struct rusage s, k;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &s);
	getrusage(RUSAGE_CHILDREN, &k);
	*wall = ts_diff(m->t0, t1);
	*user = tv_s(s.ru_utime) - tv_s(m->ru0_self.ru_utime) +
		tv_s(k.ru_utime) - tv_s(m->ru0_kids.ru_utime);
	*sys = tv_s(s.ru_stime) - tv_s(m->ru0_self.ru_stime) +
	       tv_s(k.ru_stime) - tv_s(m->ru0_kids.ru_stime);
}

void dsv_meter_stop(dsv_meter *m)
{
	double w, u, s;
	if (!m->running)
		return;
	span(m, &w, &u, &s);
	m->wall_s += w;
	m->user_s += u;
	m->sys_s += s;
	m->running = 0;
}

void dsv_meter_add(dsv_meter *m, dsv_meter_counter c, uint64_t n)
{
	if ((unsigned)c < DSV_METER_NCOUNTERS)
		atomic_fetch_add_explicit(&m->counters[c], n,
					  memory_order_relaxed);
}

static void atomic_add_double(_Atomic double *p, double v)
{
	double old = atomic_load_explicit(p, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(p, &old, old + v,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void dsv_meter_add_flops(dsv_meter *m, double flops)
{
	atomic_add_double(&m->flops, flops);
}

void dsv_meter_add_energy(dsv_meter *m, double joules)
{
	atomic_add_double(&m->energy_j, joules);
}

int dsv_meter_add_gpu(dsv_meter *m, const char *device, double seconds)
{
	if (!device || !*device)
		return dsv_error_set(DSV_EINVAL, "device name is empty");
	if (!isfinite(seconds) || seconds < 0)
		return dsv_error_set(DSV_EINVAL, "bad gpu seconds for '%s'",
				     device);
	pthread_mutex_lock(&m->lock);
	device_slot(&m->devices, device)->gpu_s += seconds;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int dsv_meter_add_device(dsv_meter *m, const char *device)
{
	return dsv_meter_add_gpu(m, device, 0);
}

/* Rounds to microseconds so that records print short and compare equal
 * after a JSON round trip. */
static double usec(double s)
{
	return s > 0 ? round(s * 1e6) / 1e6 : 0;
}

void dsv_meter_read(const dsv_meter *m, dsv_compute *out)
{
	double w = m->wall_s, u = m->user_s, s = m->sys_s;

	if (m->running) {
		double dw, du, ds;
		span(m, &dw, &du, &ds);
		w += dw;
		u += du;
		s += ds;
	}
	dsv_compute_init(out, m->mode);
	out->wall_s = usec(w);
	out->user_s = usec(u);
	out->sys_s = usec(s);
	out->cpu_s = usec(u + s);
	out->flops = atomic_load(&((dsv_meter *)m)->flops);
	out->energy_j = atomic_load(&((dsv_meter *)m)->energy_j);
	out->bytes_read = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_BYTES_READ]);
	out->bytes_written = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_BYTES_WRITTEN]);
	out->records_in = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_RECORDS_IN]);
	out->records_out = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_RECORDS_OUT]);
	out->tokens_in = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_TOKENS_IN]);
	out->tokens_out = atomic_load(&((dsv_meter *)m)->counters[DSV_METER_TOKENS_OUT]);
	copy_name(out->cpu_model, m->cpu_model);
	out->cpu_cores = m->cpu_cores;
	pthread_mutex_lock((pthread_mutex_t *)&m->lock);
	out->ndevices = m->devices.ndevices;
	memcpy(out->devices, m->devices.devices, sizeof out->devices);
	pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
	for (int i = 0; i < out->ndevices; i++) {
		out->devices[i].gpu_s = usec(out->devices[i].gpu_s);
		out->gpu_s += out->devices[i].gpu_s;
	}
}
