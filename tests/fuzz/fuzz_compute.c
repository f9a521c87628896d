/* fuzz_compute.c: libFuzzer target for the $DSV_COMPUTE_FILE reader
 * (cmd/compute_report.c, compiled in) that `derive map` and `derive synth`
 * use: the input is written to a file and read as a program's report. Any
 * input is summed or rejected naming a line; what is summed is finite and
 * non-negative, token counts below 2^63, at most 8 device slots, and it
 * records into a meter and an artifact without fault. Inputs under
 * tests/fuzz/reject/compute must be rejected (replay.h).
 */
#include "cmd/compute_report.c"
#include "tests/fuzz/replay.h"

static int ok(double v, double max)
{
	return v >= 0 && v < max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct program_compute pc;
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz_compute.%d",
			 (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
	program_compute_init(&pc);
	int rc = program_compute_read(&pc, path);
	unlink(path);
	if (rc) {
		if (rc != DSV_EINVAL || strncmp(dsv_error_last(),
						"$DSV_COMPUTE_FILE line ", 23))
			abort();
		return 0;
	}
	fuzz_accepted();
	if (!ok(pc.gpu_s, INFINITY) || !ok(pc.flops, INFINITY) ||
	    !ok(pc.energy_j, INFINITY) || !ok(pc.tokens_in, 0x1p63) ||
	    !ok(pc.tokens_out, 0x1p63) || pc.ndev < 0 || pc.ndev > 8)
		abort();
	for (int k = 0; k < pc.ndev; k++)
		if (!ok(pc.dev_s[k], INFINITY) || !memchr(pc.dev[k], 0, 64))
			abort();
	dsv_meter *m = NULL;
	dsv_artifact *a = NULL;
	if (dsv_meter_new(&m, DSV_MODE_TRANSFORMATION) ||
	    dsv_artifact_new(&a, DSV_KIND_DATASET, "map"))
		abort();
	program_compute_record(&pc, m, a);
	dsv_artifact_free(a);
	dsv_meter_free(m);
	return 0;
}
