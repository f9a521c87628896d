/* fuzz_order.c: libFuzzer target for the order object decoder. The input is
 * cut into sections as in sections.h (byte 0 unused); whatever decodes must
 * re-encode canonically: its runs, pushed again, give the same runs. Inputs
 * under tests/fuzz/reject/order must be rejected.
 */
#include "store/store.h"
#include "sections.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	dsv_order *o = NULL, *again = NULL;
	int n = fuzz_split(data, size, &mode, secs, lens);
	if (dsv_order_decode(&o, secs, lens, n) == 0) {
		if (dsv_order_new(&again, o->entries) != 0)
			abort();
		for (size_t i = 0; i < o->nruns; i++)
			if (o->runs[i].entry >= o->entries ||
			    dsv_order_push_run(again, o->runs[i].entry,
					       o->runs[i].start,
					       o->runs[i].count) != 0)
				abort();
		/* Canonical: no run continued the one before it. */
		if (again->nruns != o->nruns || again->positions != o->positions)
			abort();
		dsv_order_free(again);
		dsv_order_free(o);
	} else if (strncmp(dsv_error_last(), "bad order: ", 11) != 0 &&
		   dsv_error_code() != DSV_ENOMEM) {
		abort();
	}
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return 0;
}
