/* fuzz_metrics.c: libFuzzer target for a model's METRICS.tsv
 * (lineage/model.c): any input is parsed or rejected with a message naming
 * METRICS.tsv; what parses has whole non-negative steps and token counts
 * and finite numbers (a loss may be missing), formats to a text that
 * parses to the same rows (losses and seconds as rounded by the format),
 * and feeds the curve arithmetic of `dsv compare` without fault. Inputs
 * under tests/fuzz/reject/metrics must be rejected (replay.h).
 */
#include "lineage/lineage.h"
#include "tests/fuzz/replay.h"

#include <math.h>
#include <string.h>

static int ok_loss(double v)
{
	return isnan(v) || isfinite(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_metrics_row *r = NULL, *r2 = NULL;
	size_t n, n2, len;
	char *text = NULL;
	dsv_compare_result cr;
	double t;

	if (dsv_metrics_parse(&r, &n, (const char *)data, size) != 0) {
		if (r || strncmp(dsv_error_last(), "METRICS.tsv", 11))
			abort();
		return 0;
	}
	fuzz_accepted();
	for (size_t i = 0; i < n; i++)
		if (r[i].step < 0 || r[i].tokens < 0 || !ok_loss(r[i].train_loss) ||
		    !ok_loss(r[i].val_loss) || !isfinite(r[i].seconds))
			abort();
	if (dsv_metrics_format(r, n, &text, &len) ||
	    dsv_metrics_parse(&r2, &n2, text, len) || n2 != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (r2[i].step != r[i].step || r2[i].tokens != r[i].tokens ||
		    isnan(r2[i].val_loss) != isnan(r[i].val_loss))
			abort();
	(void)dsv_curve_tokens_to(r, n, 2.5, &t);
	(void)dsv_compare_curves(r, n, r2, n2, &cr);
	free(text);
	free(r);
	free(r2);
	return 0;
}
