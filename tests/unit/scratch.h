/* scratch.h: a fresh store in a scratch directory, for the unit tests of
 * store/ and lineage/ (the kernel tests build without the store and do not
 * include this).
 */
#ifndef DSV_TEST_SCRATCH_H
#define DSV_TEST_SCRATCH_H

#include "store/store.h"
#include "test.h"

/* Makes and opens a store at <new scratch dir>/.dsv into *s (a failure is a
 * failed CHECK of the running test). Returns that path, which the caller
 * hands to test_store_drop. */
static inline char *test_store_new(dsv_store **s)
{
	char *dir = test_tmpdir(), *dsv = malloc(4200);
	snprintf(dsv, 4200, "%s/.dsv", dir);
	free(dir);
	CHECK_OK(dsv_store_init(dsv));
	CHECK_OK(dsv_store_open(s, dsv));
	return dsv;
}

/* Closes s (may be NULL) and removes the scratch directory of the store at
 * dsv, a path from test_store_new that this frees. */
static inline void test_store_drop(dsv_store *s, char *dsv)
{
	dsv_store_free(s);
	*strrchr(dsv, '/') = '\0';
	test_rmdir(dsv);
	free(dsv);
}

#endif
