/* compute_report.c: the compute an external program reports through
 * $DSV_COMPUTE_FILE (docs/generate.md): JSON lines that `derive map` and
 * `derive synth` read, sum up and record beside what dsv measured.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
/* Token counts are recorded as 64-bit integers: a sum from 2^63 up
 * would be recorded as garbage. */
#define NUM(key, field, max, what)                                            \
	if ((v = json_object_get(o, key))) {                                  \
		if (!json_is_number(v) || json_number_value(v) < 0 ||        \
		    !(pc->field + json_number_value(v) < (max))) {            \
			json_decref(o);                                       \
			rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE "   \
					   "line %d: '%s' must be a number "  \
					   ">= 0 (and the lines' sum %s)",    \
					   lineno, key, what);                \
			break;                                                \
		}                                                             \
		pc->field += json_number_value(v);                            \
		pc->has_##field = 1;                                          \
	}
		NUM("gpu_s", gpu_s, INFINITY, "finite")
		NUM("flops", flops, INFINITY, "finite")
		NUM("energy_j", energy_j, INFINITY, "finite")
		NUM("tokens_in", tokens_in, 0x1p63, "below 2^63")
		NUM("tokens_out", tokens_out, 0x1p63, "below 2^63")
#undef NUM
		json_t *d = json_object_get(o, "devices"), *x;
		size_t i;
		if (d && !json_is_array(d))
			rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE line %d: "
					   "'devices' must be an array", lineno);
		json_array_foreach(d, i, x) {
			const char *name = json_is_string(x) ? json_string_value(x)
					   : json_string_value(json_object_get(x, "name"));
			json_t *gs = json_object_get(x, "gpu_s");
			if (!name || (gs && (!json_is_number(gs) ||
					     json_number_value(gs) < 0 ||
					     !isfinite(json_number_value(gs))))) {
				rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE "
						   "line %d: 'devices[%zu]' must be "
						   "a name or {\"name\": string, "
						   "\"gpu_s\": number >= 0}",
						   lineno, i);
				break;
			}
			double s = json_number_value(gs);
			int k;
			/* a slot keeps 63 bytes of the name: compare those */
			for (k = 0; k < pc->ndev &&
				    strncmp(pc->dev[k], name, sizeof pc->dev[k] - 1); k++)
				;
			if (k == pc->ndev && k < 8)
				snprintf(pc->dev[pc->ndev++], 64, "%s", name);
			else if (k == pc->ndev) /* more names than slots: */
				snprintf(pc->dev[k = 7], 64, "other"); /* as the meter */
			if (!(pc->dev_s[k] + s < INFINITY)) {
				rc = dsv_error_set(DSV_EINVAL, "$DSV_COMPUTE_FILE "
						   "line %d: 'devices[%zu]': the "
						   "lines' gpu_s sum is not finite",
						   lineno, i);
				break;
			}
			pc->dev_s[k] += s;
		}
		json_decref(o);
		if (rc)
			break;
	}
	free(line);
	fclose(f);
	return rc;
}

int program_compute_cut_partial(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDWR | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	off_t end = lseek(fd, 0, SEEK_END), at = end;
	while (at > 0) {
		size_t n = at < (off_t)sizeof buf ? (size_t)at : sizeof buf;
		if (pread(fd, buf, n, at - (off_t)n) != (ssize_t)n) {
			at = end; /* unreadable: leave it to the reader */
			break;
		}
		const char *nl = memrchr(buf, '\n', n);
		if (nl) {
			at = at - (off_t)n + (nl - buf) + 1;
			break;
		}
		at -= (off_t)n;
	}
	if (at < end)
		rc = ftruncate(fd, at) == 0 ? 1 : -1;
	close(fd);
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
		/* what went into the record: the total, or the devices' sum */
		json_object_set_new(raw, "gpu_s", json_real(pc->gpu_s > named
							   ? pc->gpu_s : named));
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
	if (pc->partial) /* cut off by a failure: not in the sums */
		json_object_set_new(raw, "partial_lines_dropped",
				    json_integer(pc->partial));
	json_t *o = json_object();
	json_object_set_new(o, "measured", meas);
	json_object_set_new(o, "reported", rep);
	json_object_set_new(o, "program_reported", raw);
	json_object_set_new(a->stats, "compute_sources", o);
}
