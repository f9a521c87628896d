/* qclass.h: a fastText-style linear text classifier: hashed word unigrams
 * and bigrams -> averaged embeddings -> linear -> softmax. Training is SGD
 * with a linearly decaying learning rate on the CPU (deterministic for a
 * seed); batched inference has a CPU reference and a CUDA twin (floats:
 * |ref - gpu| <= 1e-5 + 1e-4*|ref|).
 *
 * A model is a small header plus one flat float array (embeddings, then the
 * output matrix), so callers can store it as one object. Documents come as a
 * batch (text bytes + ndocs+1 u64 offsets).
 */
#ifndef DSV_KERNELS_QCLASS_H
#define DSV_KERNELS_QCLASS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSV_QCLASS_MAGIC 0x51565344u /* "DSVQ" little-endian */
#define DSV_QCLASS_MAXDIM 64

struct dsv_qclass_header {
	uint32_t magic, version; /* DSV_QCLASS_MAGIC, 1 */
	uint32_t nbuckets;	 /* hashed feature rows, e.g. 1 << 20 */
	uint32_t dim;		 /* embedding width, 1..DSV_QCLASS_MAXDIM */
	uint32_t nclasses;	 /* >= 2 */
	uint32_t reserved;
};

struct dsv_qclass {
	struct dsv_qclass_header h;
	float *w; /* nbuckets*dim embeddings, then nclasses*dim output rows */
};

struct dsv_qclass_train_opts {
	uint32_t epochs; /* 5 */
	float lr;	 /* 0.5, decayed linearly to 0 over all updates */
	uint64_t seed;	 /* initialisation and example order */
};

/* Allocates a model with embeddings uniform in [-1/dim, 1/dim] (from seed)
 * and a zero output matrix, as fastText does. *out is the caller's; free it
 * with dsv_qclass_free. Returns 0, DSV_KERNEL_EINVAL or DSV_KERNEL_ENOMEM. */
int dsv_qclass_new(struct dsv_qclass **out, uint32_t nbuckets, uint32_t dim,
		   uint32_t nclasses, uint64_t seed);
void dsv_qclass_free(struct dsv_qclass *m);

/* Number of floats in m->w. */
size_t dsv_qclass_nweights(const struct dsv_qclass_header *h);

/* Trains m in place on labelled documents (labels[i] < nclasses),
 * single-threaded so that a seed fixes the result. */
int dsv_qclass_train(struct dsv_qclass *m, const uint8_t *text,
		     const uint64_t *off, const uint32_t *labels, size_t ndocs,
		     const struct dsv_qclass_train_opts *opts);

/* Class probabilities, ndocs*nclasses floats (caller's). A document with no
 * words gets the softmax of a zero hidden vector (uniform). */
int qclass_predict_cpu(const struct dsv_qclass *m, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, float *probs,
		       int nthreads);
int qclass_predict_cuda(const struct dsv_qclass *m, const uint8_t *text,
			const uint64_t *off, size_t ndocs, float *probs);
int dsv_qclass_predict(const struct dsv_qclass *m, const uint8_t *text,
		       const uint64_t *off, size_t ndocs, float *probs,
		       int device, int nthreads);

#ifdef __cplusplus
}
#endif

#endif
