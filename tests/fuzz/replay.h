/* replay.h: lets a target check that what it accepted is not one of its
 * reject fixtures (tests/fuzz/reject/NAME). replay.c names the fixture it
 * is replaying; under libFuzzer there is no replay.c, the weak reference
 * is NULL and the check is off. (An in-band marker in the input would be
 * found by libFuzzer's comparison tracing and mutated into accepted
 * inputs.)
 */
#ifndef DSV_FUZZ_REPLAY_H
#define DSV_FUZZ_REPLAY_H

#include <stdio.h>
#include <stdlib.h>

extern const char *fuzz_reject_fixture __attribute__((weak));

/* Called by a target on an input its parser accepted: aborts when that
 * input is a reject fixture. */
static inline void fuzz_accepted(void)
{
	if (&fuzz_reject_fixture && fuzz_reject_fixture) {
		fprintf(stderr, "reject fixture '%s' was accepted\n",
			fuzz_reject_fixture);
		abort();
	}
}

#endif
