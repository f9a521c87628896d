/* minhash.h: MinHash signatures and LSH band keys over word n-gram shingles
 * (fuzzy dedup), with a CPU reference, a CUDA twin and a run-time dispatcher,
 * plus the CPU clustering step (candidate pairs per band, union-find).
 *
 * Documents come as one batch: text bytes of all documents back to back and
 * ndocs+1 offsets (document i is text[off[i] .. off[i+1])), as in a shard's
 * text column. The kernels read but never keep the caller's buffers; every
 * output array is the caller's. See docs/kernels.md for the algorithm.
 */
#ifndef DSV_KERNELS_MINHASH_H
#define DSV_KERNELS_MINHASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FineWeb's defaults: 5-gram word shingles, 14 bands of 8 rows, seed 1. */
struct dsv_minhash_params {
	uint32_t ngram;	   /* words per shingle, >= 1 */
	uint32_t nbands;   /* LSH bands ("buckets" in datatrove), >= 1 */
	uint32_t rows;	   /* hashes per band, 1..64 */
	uint64_t seed;	   /* chooses the permutation family */
};
#define DSV_MINHASH_DEFAULTS {5, 14, 8, 1}

/* The permutation family of a seed: nbands*rows pairs (a in [1,p), b in
 * [0,p), p = 2^61-1) drawn from splitmix64(seed). a and b are the caller's,
 * each nbands*rows long. Returns 0 or DSV_KERNEL_EINVAL. */
int dsv_minhash_coeffs(const struct dsv_minhash_params *p, uint64_t *a,
		       uint64_t *b);

/* Signatures and band keys of ndocs documents.
 *   sig:   ndocs * nbands*rows u64, row-major per document, or NULL; each
 *          value is min over shingles of (a_k*h + b_k) mod 2^61-1 where h is
 *          the shingle's XXH64 reduced mod 2^61-1
 *   bands: ndocs * nbands u64, or NULL; band j of a document is XXH64 of its
 *          rows j*rows .. j*rows+rows-1 as little-endian bytes, seed j
 * A document with no words has sig all UINT64_MAX and band keys 0 (0 is
 * never a real key, so dsv_minhash_cluster leaves such documents alone); one
 * with fewer than ngram words has a single shingle made of all its words.
 * nthreads: OpenMP threads over documents for the CPU path (0 = OpenMP's
 * default). Returns 0, DSV_KERNEL_EINVAL, DSV_KERNEL_ENOMEM, or for the CUDA
 * path DSV_KERNEL_ENOGPU / DSV_KERNEL_ENOMEM with the CUDA error's text. */
int minhash_cpu(const struct dsv_minhash_params *p, const uint8_t *text,
		const uint64_t *off, size_t ndocs, uint64_t *sig, uint64_t *bands,
		int nthreads);
int minhash_cuda(const struct dsv_minhash_params *p, const uint8_t *text,
		 const uint64_t *off, size_t ndocs, uint64_t *sig,
		 uint64_t *bands);

/* Runs minhash_cuda or minhash_cpu as dsv_device_resolve(device) says
 * (device is a dsv_device_kind). Same outputs either way. */
int dsv_minhash(const struct dsv_minhash_params *p, const uint8_t *text,
		const uint64_t *off, size_t ndocs, uint64_t *sig, uint64_t *bands,
		int device, int nthreads);

/* Clusters documents whose band keys agree in at least one band.
 *   bands:  ndocs * nbands keys from minhash_* (key 0 = no signature)
 *   sig:    the signatures, or NULL; when given, a candidate pair joins only
 *           if the fraction of equal signature values (the Jaccard estimate)
 *           is >= min_sim, which removes most LSH false positives
 *   cluster: out, ndocs u64: the smallest document index of each document's
 *           cluster (cluster[i] == i for a document that is kept)
 *   npairs: out or NULL: how many candidate pairs merged two clusters
 * Within a band, documents with equal keys join the first document holding
 * that key; with sig, each is verified against the bucket's documents that
 * joined none before it (up to 64), so a false candidate at the head does not
 * keep two true duplicates after it apart. Deterministic; independent of
 * thread count.
 * Returns 0, DSV_KERNEL_EINVAL or DSV_KERNEL_ENOMEM. */
int dsv_minhash_cluster(const struct dsv_minhash_params *p,
			const uint64_t *bands, const uint64_t *sig, size_t ndocs,
			double min_sim, uint64_t *cluster, uint64_t *npairs);

#ifdef __cplusplus
}
#endif

#endif
