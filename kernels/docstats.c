/* docstats.c: the CPU reference of the per-document statistics (OpenMP over
 * documents; the per-document code is docstats_full_impl.h, shared with the
 * CUDA twin), the public word splitter, and the dispatchers.
 */
#include "kernels/docstats.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/docstats_full_impl.h"

const char *const dsv_docstats_stop_words[8] = {
	ds_stop[0].s, ds_stop[1].s, ds_stop[2].s, ds_stop[3].s,
	ds_stop[4].s, ds_stop[5].s, ds_stop[6].s, ds_stop[7].s};

/* exc_first and exc_last are written only here, inside pthread_once. */
static pthread_once_t exc_once = PTHREAD_ONCE_INIT;

static void exc_init(void)
{
	ds_exc_masks(exc_first, exc_last);
}

void dsv_docstats_words(const uint8_t *s, size_t n,
			void (*fn)(size_t start, size_t len, void *arg),
			void *arg)
{
	pthread_once(&exc_once, exc_init);
	struct ds_sink out = {DS_SINK_FN, arg, fn};
	ds_words(s, n, &out);
}

int docstats_cpu(const uint8_t *text, const uint64_t *off, size_t ndocs,
		 unsigned groups, struct dsv_docstats *out, int nthreads)
{
	int rc = ds_check_batch(text, off, ndocs, out), failed = 0;
	if (rc)
		return rc;
	pthread_once(&exc_once, exc_init);
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : omp_get_max_threads())
	{
		struct scratch sc = {0};
#pragma omp for schedule(dynamic, 16)
		for (size_t i = 0; i < ndocs; i++)
			if (docstats_doc(text + off[i], off[i + 1] - off[i],
					 groups, &sc, &out[i]))
				failed = 1;
		free(sc.w);
		free(sc.h);
		free(sc.pre);
		free(sc.pow);
		free(sc.g.v);
		free(sc.tmp);
	}
	if (failed)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "docstats: out of memory");
	return 0;
}

int dsv_docstats(const uint8_t *text, const uint64_t *off, size_t ndocs,
		 unsigned groups, struct dsv_docstats *out, int device,
		 int nthreads)
{
	int d = dsv_device_resolve(device);
	if (d < 0)
		return d;
	if (d == DSV_DEVICE_CUDA)
		return docstats_cuda(text, off, ndocs, groups, out);
	return docstats_cpu(text, off, ndocs, groups, out, nthreads);
}

int docstats_basic_cpu(const uint8_t *text, const uint64_t *off, size_t ndocs,
		       struct dsv_docstats_basic *out, int nthreads)
{
	int rc = ds_check_batch(text, off, ndocs, out);
	if (rc)
		return rc;
#pragma omp parallel for num_threads(nthreads > 0 ? nthreads : omp_get_max_threads()) schedule(dynamic, 64)
	for (size_t i = 0; i < ndocs; i++) {
		const uint8_t *s = text + off[i];
		size_t n = off[i + 1] - off[i];
		uint64_t c[7] = {0};
		for (size_t k = 0; k < n; k++)
			ds_basic_byte(s, n, k, c);
		struct dsv_docstats_basic *o = &out[i];
		o->bytes = n;
		o->chars = c[1];
		o->newlines = c[2];
		o->hash_chars = c[3];
		o->ellipsis = c[4];
		o->curly = c[5];
		o->ws_words = c[6];
	}
	return 0;
}

#ifndef DSV_HAVE_CUDA
int docstats_cuda(const uint8_t *text, const uint64_t *off, size_t ndocs,
		  unsigned groups, struct dsv_docstats *out)
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU,
				"docstats: this build has no CUDA support");
}

int docstats_basic_cuda(const uint8_t *text, const uint64_t *off,
			size_t ndocs, struct dsv_docstats_basic *out)
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU,
				"docstats: this build has no CUDA support");
}
#endif

int dsv_docstats_basic(const uint8_t *text, const uint64_t *off, size_t ndocs,
		       struct dsv_docstats_basic *out, int device, int nthreads)
{
	int d = dsv_device_resolve(device);
	if (d < 0)
		return d;
	if (d == DSV_DEVICE_CUDA)
		return docstats_basic_cuda(text, off, ndocs, out);
	return docstats_basic_cpu(text, off, ndocs, out, nthreads);
}
