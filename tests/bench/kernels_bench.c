/* kernels_bench.c: throughput of the selection kernels on a corpus file
 * (one document per line; JSONL lines are taken raw): MinHash signatures
 * and band keys (112 hashes) and docstats, on 1 and 2 CPU threads, and the
 * CUDA paths when a device exists. Prints MB/s; asserts nothing.
 *   kernels_bench FILE
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/docstats.h"
#include "kernels/minhash.h"
#include "tests/bench/bench.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kernels_bench FILE\n");
		return 2;
	}
	size_t len;
	uint8_t *text = (uint8_t *)bench_read_file(argv[1], &len);
	if (!text)
		return 1;
	size_t nd = 0, cap = 1024;
	uint64_t *off = malloc(cap * 8);
	off[0] = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n' || i + 1 == len) {
			if (nd + 2 > cap)
				off = realloc(off, (cap *= 2) * 8);
			off[++nd] = i + 1;
		}
	double mb = len / 1e6;
	printf("corpus %s: %.1f MB, %zu documents, device %s\n", argv[1], mb, nd,
	       dsv_device_name());
	struct dsv_minhash_params p = DSV_MINHASH_DEFAULTS;
	uint64_t *sig = malloc(nd * 112 * 8), *bands = malloc(nd * 14 * 8);
	struct dsv_docstats *ds = malloc(nd * sizeof *ds);
	uint64_t *cl = malloc(nd * 8), np = 0;
	for (int t = 1; t <= 2; t++) {
		double t0 = now();
		if (minhash_cpu(&p, text, off, nd, sig, bands, t))
			return 1;
		double t1 = now();
		dsv_minhash_cluster(&p, bands, sig, nd, 0.5, cl, &np);
		double t2 = now();
		printf("minhash cpu %d thread(s): %.1f MB/s signatures, %.1f MB/s "
		       "with LSH clustering (%llu pairs)\n",
		       t, mb / (t1 - t0), mb / (t2 - t0), (unsigned long long)np);
		t0 = now();
		if (docstats_cpu(text, off, nd, DSV_DOCSTATS_ALL, ds, t))
			return 1;
		printf("docstats cpu %d thread(s): %.1f MB/s\n", t, mb / (now() - t0));
	}
	if (dsv_device_count() > 0) {
		/* the GPU's answers are checked against the CPU's above */
		uint64_t *gsig = malloc(nd * 112 * 8), *gbands = malloc(nd * 14 * 8);
		minhash_cuda(&p, text, off, nd, gsig, gbands); /* warm-up */
		double t0 = now();
		if (minhash_cuda(&p, text, off, nd, gsig, gbands))
			fprintf(stderr, "%s\n", dsv_kernel_error_last());
		printf("minhash cuda: %.2f GB/s (including transfers), equal to "
		       "the CPU's: %s\n", mb / 1e3 / (now() - t0),
		       !memcmp(sig, gsig, nd * 112 * 8) &&
		       !memcmp(bands, gbands, nd * 14 * 8) ? "yes" : "NO");
		struct dsv_docstats_basic *b = malloc(nd * sizeof *b);
		t0 = now();
		docstats_basic_cuda(text, off, nd, b);
		printf("docstats basic cuda: %.2f GB/s\n", mb / 1e3 / (now() - t0));
		struct dsv_docstats *gds = malloc(nd * sizeof *gds);
		t0 = now();
		if (docstats_cuda(text, off, nd, DSV_DOCSTATS_ALL, gds))
			fprintf(stderr, "%s\n", dsv_kernel_error_last());
		printf("docstats cuda (all statistics): %.1f MB/s, equal to the "
		       "CPU's: %s\n", mb / (now() - t0),
		       !memcmp(ds, gds, nd * sizeof *gds) ? "yes" : "NO");
		free(b), free(gds), free(gsig), free(gbands);
	} else {
		printf("cuda: no device, GPU figures skipped\n");
	}
	free(text), free(off), free(sig), free(bands), free(ds), free(cl);
	return 0;
}
