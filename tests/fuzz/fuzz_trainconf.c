/* fuzz_trainconf.c: libFuzzer target for the training config parser
 * (kernels/trainconf.c): any input is parsed or rejected with a message
 * naming the file; what parses passes the consistency checks, formats to
 * the canonical text that parses to the same config, and gives a finite
 * learning rate along its schedule. Inputs under tests/fuzz/reject/trainconf
 * must be rejected (replay.h).
 */
#include "kernels/device.h"
#include "kernels/trainconf.h"
#include "tests/fuzz/replay.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_trainconf c, c2;
	char *text = NULL, *text2 = NULL;

	dsv_trainconf_defaults(&c);
	if (dsv_trainconf_parse(&c, (const char *)data, size, "c.conf")) {
		if (strncmp(dsv_kernel_error_last(), "c.conf", 6))
			abort();
		return 0;
	}
	fuzz_accepted();
	dsv_trainconf_defaults(&c2);
	if (dsv_trainconf_check(&c) || dsv_trainconf_format(&c, &text) ||
	    dsv_trainconf_parse(&c2, text, strlen(text), "canonical") ||
	    dsv_trainconf_format(&c2, &text2) || strcmp(text, text2))
		abort();
	int64_t total = dsv_trainconf_steps(&c);
	if (total < 1 || dsv_trainconf_step_tokens(&c) < 1)
		abort();
	int64_t steps[] = {1, c.warmup_steps, c.warmup_steps + 1, total / 2,
			   total};
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		double lr = dsv_trainconf_lr(&c, steps[i], total);
		if (steps[i] >= 1 && !(isfinite(lr) && lr >= 0))
			abort();
	}
	free(text);
	free(text2);
	return 0;
}
