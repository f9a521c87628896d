/* fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (kernels/safetensors.c): any input is parsed without reading out of
 * bounds; what it accepts has tensors inside the data section, and written
 * back out with the same tensors and metadata it parses to the same thing.
 */
#include "kernels/device.h"
#include "kernels/safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_st_file *f = NULL, *g = NULL;
	uint8_t *out = NULL;
	size_t len;
	const char **meta = NULL;
	if (dsv_st_parse(&f, data, size) != 0) {
		if (!dsv_kernel_error_last()[0])
			abort();
		return 0;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < f->ntensors; i++) {
		const dsv_st_tensor *t = &f->tensors[i];
		if (t->end > f->data_len || t->begin > t->end)
			abort();
		sum += t->end - t->begin;
		/* touch the bytes: the sanitizer catches a bad pointer */
		const volatile uint8_t *p = t->data;
		for (uint64_t j = 0; j < t->end - t->begin; j += 64)
			(void)p[j];
	}
	if (sum != f->data_len)
		abort();
	meta = malloc((2 * f->nmeta + 1) * sizeof *meta);
	for (size_t i = 0; meta && i < 2 * f->nmeta; i++)
		meta[i] = f->meta[i];
	if (meta && dsv_st_write(&out, &len, f->tensors, f->ntensors,
				 meta, f->nmeta) == 0) {
		if (dsv_st_parse(&g, out, len) != 0 || g->ntensors != f->ntensors ||
		    g->nmeta != f->nmeta)
			abort();
		for (size_t i = 0; i < f->ntensors; i++) {
			const dsv_st_tensor *a = &f->tensors[i];
			const dsv_st_tensor *b = dsv_st_find(g, a->name);
			if (!b || b->dtype != a->dtype || b->ndim != a->ndim ||
			    b->end - b->begin != a->end - a->begin ||
			    memcmp(b->data, a->data, a->end - a->begin))
				abort();
		}
	}
	dsv_st_free(g);
	dsv_st_free(f);
	free(out);
	free(meta);
	return 0;
}
