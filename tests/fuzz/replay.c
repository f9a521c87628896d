/* replay.c: runs a libFuzzer target over saved inputs without libFuzzer, so
 * `make test` replays every corpus with the ordinary compiler. Arguments are
 * directories of inputs (the saved corpus, then the reject fixtures); any
 * return is fine, a crash or a sanitizer report is the failure. The unit
 * tests check that the reject fixtures are rejected.
 */
#include <stdint.h>
#include <stdio.h>

#include "tests/unit/fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replay_one(const char *name, const uint8_t *data, size_t size)
{
	(void)name;
	LLVMFuzzerTestOneInput(data, size);
}

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++)
		n += for_each_fixture(argv[i], replay_one);
	printf("PASS replay %s (%d inputs)\n", argc > 1 ? argv[1] : "", n);
	return 0;
}
