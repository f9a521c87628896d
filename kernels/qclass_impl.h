/* qclass_impl.h: feature hashing and the forward pass of one document,
 * shared by the C reference and the CUDA twin. Internal: shall only be
 * included by kernels/qclass.c and kernels/qclass.cu.
 */
#ifndef DSV_KERNELS_QCLASS_IMPL_H
#define DSV_KERNELS_QCLASS_IMPL_H

#include <math.h>

#include "kernels/minhash_impl.h"

/* Tokens are ASCII-whitespace-separated runs, ASCII-lowercased, hashed with
 * FNV-1a 64; a bigram's feature is (prev * 116049371 + cur) as in fastText.
 * Calls back with each feature's row. Returns the number of features. */
DSV_HD int ds_space(uint8_t c)
{
	return c == ' ' || (c >= 9 && c <= 13);
}

DSV_HD uint64_t qc_fnv_step(uint64_t h, uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		c += 32;
	return (h ^ c) * 0x100000001B3ULL;
}

/* Forward pass: hidden = mean of feature rows, probs = softmax(O hidden).
 * hidden has room for dim floats, probs for nclasses. Returns the number of
 * features. The loop is written once so both paths sum in the same order. */
DSV_HD uint32_t qc_forward(const float *w, uint32_t nb, uint32_t dim,
			   uint32_t k, const uint8_t *s, size_t n, float *hidden,
			   float *probs, uint32_t *feat, uint32_t maxfeat)
{
	const float *O = w + (size_t)nb * dim;
	uint32_t nf = 0;
	uint64_t prev = 0;
	int have_prev = 0;
	for (uint32_t j = 0; j < dim; j++)
		hidden[j] = 0.0f;
	for (size_t i = 0; i < n;) {
		while (i < n && ds_space(s[i]))
			i++;
		if (i >= n)
			break;
		uint64_t h = 0xCBF29CE484222325ULL;
		while (i < n && !ds_space(s[i]))
			h = qc_fnv_step(h, s[i++]);
		for (int g = 0; g < 1 + have_prev; g++) {
			uint64_t f = g ? prev * 116049371ULL + h : h;
			uint32_t row = (uint32_t)(f % nb);
			if (feat && nf < maxfeat)
				feat[nf] = row;
			const float *e = w + (size_t)row * dim;
			for (uint32_t j = 0; j < dim; j++)
				hidden[j] += e[j];
			nf++;
		}
		prev = h;
		have_prev = 1;
	}
	if (nf)
		for (uint32_t j = 0; j < dim; j++)
			hidden[j] /= (float)nf;
	float mx = -INFINITY, sum = 0.0f;
	for (uint32_t c = 0; c < k; c++) {
		float z = 0.0f;
		for (uint32_t j = 0; j < dim; j++)
			z += O[(size_t)c * dim + j] * hidden[j];
		probs[c] = z;
		mx = z > mx ? z : mx;
	}
	for (uint32_t c = 0; c < k; c++) {
		probs[c] = expf(probs[c] - mx);
		sum += probs[c];
	}
	for (uint32_t c = 0; c < k; c++)
		probs[c] /= sum;
	return nf;
}

#endif
