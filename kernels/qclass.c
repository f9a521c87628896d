/* qclass.c: the fastText-style classifier's model lifecycle, its
 * deterministic SGD trainer and the CPU reference of batched inference.
 */
#include "kernels/qclass.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/qclass_impl.h"

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

size_t dsv_qclass_nweights(const struct dsv_qclass_header *h)
{
	return ((size_t)h->nbuckets + h->nclasses) * h->dim;
}

int dsv_qclass_new(struct dsv_qclass **out, uint32_t nbuckets, uint32_t dim,
		   uint32_t nclasses, uint64_t seed)
{
	struct dsv_qclass *m = NULL;
	*out = NULL;
	if (!nbuckets || !dim || dim > DSV_QCLASS_MAXDIM || nclasses < 2 ||
	    nclasses > 1024)
		return dsv_kernel_error(DSV_KERNEL_EINVAL,
					"qclass: bad shape (buckets %u, dim %u, "
					"classes %u)", nbuckets, dim, nclasses);
	m = calloc(1, sizeof *m);
	if (!m)
		goto oom;
	m->h.magic = DSV_QCLASS_MAGIC;
	m->h.version = 1;
	m->h.nbuckets = nbuckets;
	m->h.dim = dim;
	m->h.nclasses = nclasses;
	m->w = calloc(dsv_qclass_nweights(&m->h), sizeof *m->w);
	if (!m->w)
		goto oom;
	for (size_t i = 0; i < (size_t)nbuckets * dim; i++) {
		double u = (double)(splitmix64(&seed) >> 11) / 9007199254740992.0;
		m->w[i] = (float)((2.0 * u - 1.0) / dim);
	}
	*out = m;
	return 0;
oom:
	dsv_qclass_free(m);
	return dsv_kernel_error(DSV_KERNEL_ENOMEM, "qclass: out of memory");
}

void dsv_qclass_free(struct dsv_qclass *m)
{
	if (!m)
		return;
	free(m->w);
	free(m);
}

/* Checks the model and the batch; shared with the CUDA path (qclass.cu)
 * through qclass_check_batch_, so both reject the same inputs (a model
 * with no buckets would divide by zero in qc_forward). */
int qclass_check_batch_(const struct dsv_qclass *m, const uint8_t *text,
			const uint64_t *off, size_t ndocs)
{
	if (!m || !m->w || m->h.magic != DSV_QCLASS_MAGIC || !m->h.dim ||
	    m->h.dim > DSV_QCLASS_MAXDIM || m->h.nclasses < 2 || !m->h.nbuckets)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "qclass: bad model");
	return dsv_check_docs("qclass", text, off, ndocs, 0);
}

int dsv_qclass_train(struct dsv_qclass *m, const uint8_t *text,
		     const uint64_t *off, const uint32_t *labels, size_t ndocs,
		     const struct dsv_qclass_train_opts *opts)
{
	size_t *order = NULL;
	uint32_t *feat = NULL;
	float *probs = NULL;
	size_t fcap = 0;
	int rc = qclass_check_batch_(m, text, off, ndocs);
	if (rc)
		return rc;
	uint32_t dim = m->h.dim, k = m->h.nclasses, nb = m->h.nbuckets;
	uint32_t epochs = opts && opts->epochs ? opts->epochs : 5;
	float lr0 = opts && opts->lr > 0 ? opts->lr : 0.5f;
	uint64_t seed = opts ? opts->seed : 1;
	for (size_t i = 0; i < ndocs; i++)
		if (labels[i] >= k)
			return dsv_kernel_error(DSV_KERNEL_EINVAL,
						"qclass: label %u of document %zu "
						"is not below %u", labels[i], i, k);
	order = malloc((ndocs ? ndocs : 1) * sizeof *order);
	probs = malloc(k * sizeof *probs);
	if (!order || !probs)
		goto oom;
	float hidden[DSV_QCLASS_MAXDIM], grad[DSV_QCLASS_MAXDIM];
	float *O = m->w + (size_t)nb * dim;
	double total = (double)epochs * ndocs, done = 0;
	for (size_t i = 0; i < ndocs; i++)
		order[i] = i;
	for (uint32_t ep = 0; ep < epochs; ep++) {
		for (size_t i = ndocs; i > 1; i--) { /* Fisher-Yates */
			size_t j = splitmix64(&seed) % i, t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (size_t t = 0; t < ndocs; t++, done++) {
			size_t d = order[t], n = off[d + 1] - off[d];
			if (n + 2 > fcap) {
				free(feat);
				fcap = n + 2;
				feat = malloc(fcap * sizeof *feat);
				if (!feat)
					goto oom;
			}
			uint32_t nf = qc_forward(m->w, nb, dim, k, text + off[d], n,
						 hidden, probs, feat,
						 (uint32_t)fcap);
			if (!nf)
				continue;
			float lr = (float)(lr0 * (1.0 - done / total));
			for (uint32_t j = 0; j < dim; j++)
				grad[j] = 0.0f;
			for (uint32_t c = 0; c < k; c++) {
				float g = lr * ((c == labels[d] ? 1.0f : 0.0f) - probs[c]);
				float *o = O + (size_t)c * dim;
				for (uint32_t j = 0; j < dim; j++) {
					grad[j] += g * o[j];
					o[j] += g * hidden[j];
				}
			}
			for (uint32_t j = 0; j < dim; j++)
				grad[j] /= (float)nf;
			for (uint32_t f = 0; f < nf; f++) {
				float *e = m->w + (size_t)feat[f] * dim;
				for (uint32_t j = 0; j < dim; j++)
					e[j] += grad[j];
			}
		}
	}
	goto cleanup;
oom:
	rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "qclass: out of memory");
cleanup:
	free(order);
	free(feat);
	free(probs);
	return rc;
}

int qclass_predict_cpu(const struct dsv_qclass *m, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, float *probs,
		       int nthreads)
{
	int rc = qclass_check_batch_(m, text, off, ndocs);
	if (rc)
		return rc;
	uint32_t k = m->h.nclasses;
#pragma omp parallel for num_threads(nthreads > 0 ? nthreads : omp_get_max_threads()) schedule(dynamic, 64)
	for (size_t i = 0; i < ndocs; i++) {
		float hidden[DSV_QCLASS_MAXDIM];
		qc_forward(m->w, m->h.nbuckets, m->h.dim, k, text + off[i],
			   off[i + 1] - off[i], hidden, probs + i * k, NULL, 0);
	}
	return 0;
}

#ifndef DSV_HAVE_CUDA
int qclass_predict_cuda(const struct dsv_qclass *m, const uint8_t *text,
			const uint64_t *off, size_t ndocs, float *probs)
{
	return dsv_kernel_error(DSV_KERNEL_ENOGPU,
				"qclass: this build has no CUDA support");
}
#endif

int dsv_qclass_predict(const struct dsv_qclass *m, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, float *probs,
		       int device, int nthreads)
{
	int d = dsv_device_resolve(device);
	if (d < 0)
		return d;
	if (d == DSV_DEVICE_CUDA)
		return qclass_predict_cuda(m, text, off, ndocs, probs);
	return qclass_predict_cpu(m, text, off, ndocs, probs, nthreads);
}
