/* fault.c: fault injection for the crash-consistency tests (SQLite's I/O and
 * OOM error loops). DSV_FAULT=<kind>:<n> makes the n-th call of that kind fail;
 * kind is write, fsync, rename, alloc or any. kill:<kind>:<n> raises SIGKILL
 * there instead (a crash: no cleanup runs), and DSV_FAULT=count prints each
 * kind's count on stderr at exit, so a test knows the range to sweep. Off, and
 * nearly free, when unset.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"write", "fsync", "rename", "alloc"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

static atomic_int configured; /* 0 unread, 1 off, 2 on, 3 counting */
static int fault_kind = -1;   /* -1: any kind */
static int fault_kill;
static long fault_at;
static atomic_long counter;
static atomic_long counts[NKINDS];

static void print_counts(void)
{
	fprintf(stderr, "dsv: fault counts: write %ld fsync %ld rename %ld "
		"alloc %ld\n", atomic_load(&counts[0]), atomic_load(&counts[1]),
		atomic_load(&counts[2]), atomic_load(&counts[3]));
}

static void configure_from(const char *v)
{
	if (v && strcmp(v, "count") == 0) {
		atexit(print_counts);
		atomic_store(&configured, 3);
		return;
	}
	fault_kill = v && strncmp(v, "kill:", 5) == 0;
	if (fault_kill)
		v += 5;
	const char *colon = v ? strchr(v, ':') : NULL;
	if (!colon) {
		atomic_store(&configured, 1);
		return;
	}
	fault_kind = -2;
	for (size_t k = 0; k < NKINDS; k++)
		if (strncmp(v, kind_names[k], (size_t)(colon - v)) == 0 &&
		    strlen(kind_names[k]) == (size_t)(colon - v))
			fault_kind = (int)k;
	if (strncmp(v, "any:", 4) == 0)
		fault_kind = -1;
	fault_at = strtol(colon + 1, NULL, 10);
	atomic_store(&configured, fault_kind == -2 || fault_at <= 0 ? 1 : 2);
}

static void configure(void)
{
	configure_from(getenv("DSV_FAULT"));
}

/* Once, whichever thread comes first (a transfer's workers may): the
 * others wait until the setting is read. */
static pthread_once_t configure_once = PTHREAD_ONCE_INIT;

void dsv_fault_reset(const char *spec)
{
	fault_kind = -1;
	fault_kill = 0;
	fault_at = 0;
	atomic_store(&counter, 0);
	configure_from(spec);
}

int dsv_fault_hit(int kind)
{
	int c = atomic_load(&configured);
	if (c == 0) {
		pthread_once(&configure_once, configure);
		c = atomic_load(&configured);
	}
	if (c == 3)
		atomic_fetch_add(&counts[kind], 1);
	if (c != 2 || (fault_kind >= 0 && fault_kind != kind))
		return 0;
	if (atomic_fetch_add(&counter, 1) + 1 != fault_at)
		return 0;
	if (fault_kill)
		raise(SIGKILL);
	errno = kind == DSV_FAULT_ALLOC ? ENOMEM : EIO;
	return 1;
}

void *dsv_malloc(size_t n)
{
	void *p = dsv_fault_hit(DSV_FAULT_ALLOC) ? NULL : malloc(n ? n : 1);
	if (!p)
		dsv_error_set(DSV_ENOMEM, "out of memory (%zu bytes)", n);
	return p;
}

void *dsv_realloc(void *p, size_t n)
{
	void *q = dsv_fault_hit(DSV_FAULT_ALLOC) ? NULL : realloc(p, n ? n : 1);
	if (!q)
		dsv_error_set(DSV_ENOMEM, "out of memory (%zu bytes)", n);
	return q;
}
