/* bench.h: what the C benchmarks share: a monotonic clock and reading an
 * input file whole. Shall only be included by the C files in tests/bench/.
 */
#ifndef DSV_BENCH_H
#define DSV_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The bytes of path, NUL-terminated (malloc'd), their count in *len; NULL,
 * said on stderr, when it cannot be read. */
static inline char *bench_read_file(const char *path, size_t *len)
{
	errno = 0;
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (f && fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		    (buf = malloc((size_t)n + 1)) &&
		    fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = 0;
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	if (!buf)
		fprintf(stderr, "cannot read '%s': %s\n", path,
			errno ? strerror(errno) : "short read");
	if (f)
		fclose(f);
	return buf;
}

#endif
