/* fuzz_classifier.c: libFuzzer target for a classifier artifact's two
 * parsers: the CLASSIFIER text (lineage/model.c) and the weights object's
 * sections (cmd/classifier_load.c, compiled in: it is static). The input
 * is cut into sections as sections.h says; byte 0 even: the sections are a weights
 * object, which decodes to a model that predicts probabilities (in 0..1,
 * adding up to 1) on a few texts; odd: section 0 is a CLASSIFIER file,
 * which names a weights object and a label that fits. Inputs under
 * tests/fuzz/reject/classifier must be rejected (replay.h).
 */
#include "cmd/classifier_load.c"
#include "tests/fuzz/replay.h"
#include "tests/fuzz/sections.h"

#include <math.h>

static void predict(const struct dsv_qclass *m)
{
	static const char text[] = "the cat sat on the mat, hello world "
				   "a b c a b c";
	const uint64_t off[] = {0, 0, 11, sizeof text - 1};
	float *p = malloc(3 * m->h.nclasses * sizeof *p);
	if (!p || qclass_predict_cpu(m, (const uint8_t *)text, off, 3, p, 1))
		abort();
	for (int d = 0; d < 3; d++) {
		double sum = 0;
		for (uint32_t k = 0; k < m->h.nclasses; k++) {
			float v = p[d * m->h.nclasses + k];
			if (!(v >= 0 && v <= 1))
				abort();
			sum += v;
		}
		if (fabs(sum - 1) > 1e-3)
			abort();
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	int n = fuzz_split(data, size, &mode, secs, lens), rc;

	if (mode & 1) {
		/* CLASSIFIER as read from the lineage: NUL-terminated */
		char *text = malloc(n ? lens[0] + 1 : 1);
		char label[DSV_CLASSIFIER_LABEL_MAX + 1] = "";
		dsv_oid w;
		if (n)
			memcpy(text, secs[0], lens[0]);
		text[n ? lens[0] : 0] = 0;
		rc = dsv_classifier_parse(text, n ? lens[0] : 0, &w, label);
		if (rc == 0) {
			fuzz_accepted();
			if (strlen(label) >= sizeof label)
				abort();
		}
		free(text);
	} else {
		struct dsv_qclass *m = NULL;
		rc = model_from_sections(&m, secs, lens, n);
		if (rc == 0) {
			fuzz_accepted();
			predict(m);
		} else if (m) {
			abort();
		}
		dsv_qclass_free(m);
	}
	if (rc && (rc != DSV_ECORRUPT || !dsv_error_last()[0]))
		abort();
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return 0;
}
