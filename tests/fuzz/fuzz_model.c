/* fuzz_model.c: libFuzzer target for a model artifact's MODEL file
 * (lineage/model.c): any input is parsed or rejected with a message naming
 * MODEL; what parses formats to a text that parses to the same model, and
 * formatting that again gives the same bytes. Inputs under
 * tests/fuzz/reject/model must be rejected (replay.h).
 */
#include "lineage/lineage.h"
#include "tests/fuzz/replay.h"

#include <string.h>

static int same(const dsv_model *a, const dsv_model *b)
{
	if (dsv_oid_cmp(&a->weights, &b->weights) ||
	    memcmp(&a->tokenizer, &b->tokenizer, sizeof a->tokenizer) ||
	    memcmp(&a->dataset, &b->dataset, sizeof a->dataset) ||
	    a->has_valid != b->has_valid ||
	    (a->has_valid && memcmp(&a->valid, &b->valid, sizeof a->valid)) ||
	    a->vocab != b->vocab || a->ncheckpoints != b->ncheckpoints ||
	    strcmp(a->config, b->config))
		return 0;
	for (size_t i = 0; i < a->ncheckpoints; i++)
		if (dsv_oid_cmp(&a->checkpoints[i], &b->checkpoints[i]))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_model *m = NULL, *m2 = NULL, *m3 = NULL;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;

	if (dsv_model_parse(&m, (const char *)data, size) != 0) {
		if (m || strncmp(dsv_error_last(), "MODEL:", 6))
			abort();
		return 0;
	}
	fuzz_accepted();
	/* The config's empty lines are not kept: compare from the first
	 * formatted text on. */
	if (dsv_model_format(m, &text, &len) ||
	    dsv_model_parse(&m2, text, len) ||
	    dsv_model_format(m2, &text2, &len2) || len != len2 ||
	    memcmp(text, text2, len) || dsv_model_parse(&m3, text2, len2) ||
	    !same(m2, m3))
		abort();
	if (m->vocab != m2->vocab || m->ncheckpoints != m2->ncheckpoints ||
	    dsv_oid_cmp(&m->weights, &m2->weights))
		abort();
	free(text);
	free(text2);
	dsv_model_free(m);
	dsv_model_free(m2);
	dsv_model_free(m3);
	return 0;
}
