/* output.c: how commands talk to the user: errors on stderr in git's form,
 * human-readable sizes and counts, and a progress bar drawn only on a
 * terminal.
 */
#include "cmd/cmd.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int die_error(void)
{
	fprintf(stderr, "dsv: error: %s\n", dsv_error_last());
	return 1;
}

int error_msg(const char *fmt, ...)
{
	va_list ap;
	fputs("dsv: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

const char *human_bytes(char buf[32], double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}

const char *plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void print_message(const char *message)
{
	for (const char *p = message; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		printf("    %.*s\n", (int)len, p);
		p += len + (nl ? 1 : 0);
	}
}

void print_json(const json_t *o, size_t flags)
{
	json_dumpf(o, stdout, flags | JSON_REAL_PRECISION(15));
	putchar('\n');
}

struct progress {
	const char *what;
	uint64_t total;
	double start, last;
};

char *json_quote(const char *s)
{
	/* nocheck: git allows names that are not UTF-8; they pass as bytes */
	json_t *j = json_string_nocheck(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct progress *progress_start(const char *what, uint64_t total)
{
	if (!isatty(STDERR_FILENO))
		return NULL;
	struct progress *p = calloc(1, sizeof *p);
	if (p) {
		p->what = what;
		p->total = total;
		p->start = p->last = now();
	}
	return p;
}

/* Whether to draw now (at most ten times a second), and the time. */
static int progress_due(struct progress *p, double *t)
{
	if (!p)
		return 0;
	*t = now();
	if (*t - p->last < 0.1)
		return 0;
	p->last = *t;
	return 1;
}

void progress_update(struct progress *p, uint64_t done)
{
	double t;
	if (!progress_due(p, &t))
		return;
	char b[32];
	double rate = done / (t - p->start + 1e-9);
	if (p->total) {
		int pct = (int)(100.0 * done / p->total);
		int fill = pct * 30 / 100;
		fprintf(stderr, "\r%s [%-30.*s] %3d%% %s/s", p->what, fill,
			"##############################", pct,
			human_bytes(b, rate));
	} else {
		fprintf(stderr, "\r%s %s/s", p->what, human_bytes(b, rate));
	}
}

void progress_count(struct progress *p, uint64_t done, uint64_t bytes)
{
	double t;
	if (!progress_due(p, &t))
		return;
	char b[32], r[32];
	fprintf(stderr, "\r%s: %3d%% (%llu/%llu), %s | %s/s\033[K", p->what,
		p->total ? (int)(100.0 * done / p->total) : 100,
		(unsigned long long)done, (unsigned long long)p->total,
		human_bytes(b, (double)bytes),
		human_bytes(r, bytes / (t - p->start + 1e-9)));
}

void progress_done(struct progress *p)
{
	if (!p)
		return;
	fprintf(stderr, "\r\033[K");
	free(p);
}
