/* test_array.c: DSV_ARRAY_GROW, the doubling growth the modules and commands
 * share: capacities it picks, overflow refused, and a failed allocation that
 * leaves the array and its capacity as they were.
 */
#include "store/store.h"
#include "tests/unit/test.h"

#include <stdint.h>

static void test_grow_doubles_from_first(void)
{
	uint64_t *a = NULL;
	size_t cap = 0;
	CHECK_OK(DSV_ARRAY_GROW(a, cap, 1, 4));
	CHECK(a && cap == 4);
	CHECK_OK(DSV_ARRAY_GROW(a, cap, 4, 4)); /* room already */
	CHECK(cap == 4);
	CHECK_OK(DSV_ARRAY_GROW(a, cap, 5, 4));
	CHECK(cap == 8);
	CHECK_OK(DSV_ARRAY_GROW(a, cap, 100, 4)); /* several doublings at once */
	CHECK(cap == 128);
	for (size_t i = 0; i < cap; i++)
		a[i] = i; /* the whole capacity is usable (ASan checks) */
	free(a);

	char *s = NULL;
	cap = 0;
	CHECK_OK(DSV_ARRAY_GROW(s, cap, 1, 0)); /* 0: the default first */
	CHECK(s && cap == 16);
	free(s);
}

static void test_grow_overflow(void)
{
	uint64_t *a = NULL;
	size_t cap = 0;
	CHECK(DSV_ARRAY_GROW(a, cap, SIZE_MAX / 4, 16) == DSV_ENOMEM);
	CHECK(!a && cap == 0);
	cap = SIZE_MAX / 2 + 1;
	CHECK(dsv_array_grow(&a, &cap, SIZE_MAX, 1, 16) == DSV_ENOMEM);
	CHECK(!a && cap == SIZE_MAX / 2 + 1);
}

static void test_grow_failure_keeps_array(void)
{
	int *a = NULL;
	size_t cap = 0;
	CHECK_OK(DSV_ARRAY_GROW(a, cap, 3, 2));
	a[0] = 7;
	int *before = a;
	dsv_fault_reset("alloc:1");
	CHECK(DSV_ARRAY_GROW(a, cap, 5, 2) == DSV_ENOMEM);
	dsv_fault_reset(NULL);
	CHECK(a == before && cap == 4 && a[0] == 7);
	free(a);
}

int main(void)
{
	RUN(test_grow_doubles_from_first);
	RUN(test_grow_overflow);
	RUN(test_grow_failure_keeps_array);
	TEST_EXIT();
}
