/* test.h: the unit-test harness. Each test file defines static test
 * functions and a main that RUNs them; every RUN prints "PASS name" or
 * "FAIL name" (and the first failed checks), which tests/run.sh counts.
 */
#ifndef DSV_TEST_H
#define DSV_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int test_failed_checks;
static int test_failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			if (test_failed_checks++ < 5)                        \
				printf("  %s:%d: check failed: %s\n",        \
				       __FILE__, __LINE__, #cond);           \
		}                                                            \
	} while (0)

/* CHECK that a dsv call returned 0, printing dsv_error_last() if not. */
#define CHECK_OK(call)                                                       \
	do {                                                                 \
		int rc_ = (call);                                            \
		if (rc_ != 0 && test_failed_checks++ < 5)                    \
			printf("  %s:%d: %s returned %d: %s\n", __FILE__,    \
			       __LINE__, #call, rc_, dsv_error_last());      \
	} while (0)

#define RUN(fn)                                                              \
	do {                                                                 \
		test_failed_checks = 0;                                      \
		fn();                                                        \
		printf("%s %s\n", test_failed_checks ? "FAIL" : "PASS", #fn); \
		if (test_failed_checks)                                      \
			test_failures++;                                     \
		fflush(stdout);                                              \
	} while (0)

#define SKIP(fn, why) printf("SKIP %s: %s\n", #fn, why)

#define TEST_EXIT() return test_failures ? 1 : 0

/* A fresh scratch directory under $TMPDIR; the caller frees the string. */
static inline char *test_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/dsvtest.XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		exit(2);
	}
	return p;
}

/* Removes a scratch directory (test_tmpdir's) and all below it; nonzero,
 * said on stdout, when it cannot. */
static inline int test_rmdir(const char *dir)
{
	char cmd[4400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) == 0)
		return 0;
	printf("  cannot remove %s\n", dir);
	return 1;
}

/* The seed for a randomised test: $DSV_SEED or the time; always printed. */
static inline unsigned long test_seed(void)
{
	const char *s = getenv("DSV_SEED");
	unsigned long seed = s ? strtoul(s, NULL, 10) : (unsigned long)time(NULL);
	printf("  seed %lu (DSV_SEED=%lu reproduces)\n", seed, seed);
	return seed;
}

#endif
