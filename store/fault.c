/* fault.c: fault injection for the crash-consistency tests (SQLite's I/O and
 * OOM error loops). DSV_FAULT=<kind>:<n> makes the n-th call of that kind fail;
 * kind is write, fsync, rename, alloc or any. Off, and nearly free, when unset.
 */
#include "store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"write", "fsync", "rename", "alloc"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

static atomic_int configured; /* 0 unread, 1 off, 2 on */
static int fault_kind = -1;   /* -1: any kind */
static long fault_at;
static atomic_long counter;

static void configure_from(const char *v)
{
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

void dsv_fault_reset(const char *spec)
{
	fault_kind = -1;
	fault_at = 0;
	atomic_store(&counter, 0);
	configure_from(spec);
}

int dsv_fault_hit(int kind)
{
	int c = atomic_load(&configured);
	if (c == 0) {
		configure();
		c = atomic_load(&configured);
	}
	if (c != 2 || (fault_kind >= 0 && fault_kind != kind))
		return 0;
	if (atomic_fetch_add(&counter, 1) + 1 != fault_at)
		return 0;
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
