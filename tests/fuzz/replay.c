/* replay.c: runs a libFuzzer target over saved inputs without libFuzzer, so
 * `make test` replays every corpus with the ordinary compiler. Arguments are
 * directories of inputs (the saved corpus, then the reject fixtures); any
 * return is fine, a crash or a sanitizer report is the failure. The unit
 * tests check that the reject fixtures are rejected, or the target does
 * (replay.h).
 */
#include <stdint.h>
#include <stdio.h>

#include "tests/unit/fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *fuzz_reject_fixture; /* replay.h */
static int rejects;              /* replaying the reject fixtures */

static void replay_one(const char *name, const uint8_t *data, size_t size)
{
	fuzz_reject_fixture = rejects ? name : NULL;
	LLVMFuzzerTestOneInput(data, size);
}

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		rejects = i > 1;
		n += for_each_fixture(argv[i], replay_one);
	}
	printf("PASS replay %s (%d inputs)\n", argc > 1 ? argv[1] : "", n);
	return 0;
}
