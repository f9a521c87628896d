/* fuzz_dsvjson.c: the dsv.json parser on arbitrary bytes. Whatever it
 * accepts must format and parse back to the same text (a fixed point); what
 * it rejects must come with a message. Inputs under reject/dsvjson start
 * with "!" by convention and must be rejected.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lineage/lineage.h"

/* libFuzzer's driver entry: linked only into libFuzzer builds. There a
 * mutated input may start with '!' and be valid, so the must-reject marker
 * is honoured only when replaying saved inputs (tests/fuzz/replay.c). */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
			       int (*cb)(const uint8_t *, size_t))
	__attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_artifact *a = NULL, *b = NULL;
	char *t1 = NULL, *t2 = NULL;
	size_t l1, l2;
	int must_reject = !LLVMFuzzerRunDriver && size > 0 && data[0] == '!';

	if (dsv_artifact_parse(&a, (const char *)data + must_reject,
			       size - must_reject) < 0) {
		if (a || !dsv_error_last()[0])
			abort();
		return 0;
	}
	if (must_reject)
		abort(); /* a saved must-reject input was accepted */
	if (dsv_artifact_format(a, &t1, &l1) < 0 ||
	    dsv_artifact_parse(&b, t1, l1) < 0 ||
	    dsv_artifact_format(b, &t2, &l2) < 0)
		abort();
	if (l1 != l2 || memcmp(t1, t2, l1))
		abort();
	free(t1);
	free(t2);
	dsv_artifact_free(a);
	dsv_artifact_free(b);
	return 0;
}
