/* reader_bench.c: throughput of the JSONL reader (ingest) and writer
 * (export) against jansson's json_loads on the same lines.
 *
 *   reader_bench FILE.jsonl      (e.g. from shared/bench/make_corpus.py)
 *
 * Prints MB/s of input JSONL bytes for each; the file is read once first so
 * the page cache holds it.
 */
#include "store/store.h"
#include "tests/bench/bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reader_bench FILE.jsonl\n");
		return 2;
	}
	size_t n;
	char *raw = bench_read_file(argv[1], &n);
	if (!raw)
		return 1;
	double mb = (double)n / 1e6;

	/* 1. the reader, from the file (page cache) */
	dsv_reader *r = NULL;
	dsv_reader_opts o = {0};
	dsv_record rec;
	dsv_buf out = {0};
	uint64_t recs = 0, tb = 0;
	int rc;
	double t0 = now();
	if (dsv_reader_open(&r, argv[1], &o))
		goto err;
	while ((rc = dsv_reader_next(r, &rec)) == 1) {
		recs++;
		tb += rec.text_len;
	}
	if (rc < 0)
		goto err;
	dsv_reader_free(r);
	double t1 = now();
	printf("reader:  %.0f MB in %.3f s: %.0f MB/s (%llu records, %.0f MB "
	       "text)\n", mb, t1 - t0, mb / (t1 - t0), (unsigned long long)recs,
	       (double)tb / 1e6);

	/* 2. the reader plus the writer: parse and rebuild every line */
	r = NULL;
	size_t outb = 0;
	double fmt_s = 0;
	if (dsv_reader_open(&r, argv[1], &o))
		goto err;
	while ((rc = dsv_reader_next(r, &rec)) == 1) {
		double a = now();
		out.len = 0;
		if (dsv_jsonl_format(&out, rec.text, rec.text_len, rec.meta,
				     rec.meta_len, rec.layout))
			goto err;
		fmt_s += now() - a;
		outb += out.len;
	}
	dsv_reader_free(r);
	r = NULL;
	/* timing each call above adds clock overhead; time a batch too */
	{
		dsv_buf all = {0};
		char *text = NULL;
		/* keep text+meta of the first 64 MB of records in memory */
		size_t cap = 0, used = 0, k = 0, nrec = 0;
		struct item { size_t t, tl, m, ml; uint32_t lay; } *it = NULL;
		size_t icap = 0;
		if (dsv_reader_open(&r, argv[1], &o))
			goto err;
		while ((rc = dsv_reader_next(r, &rec)) == 1 && used < (64u << 20)) {
			if (used + rec.text_len + rec.meta_len > cap) {
				cap = (cap + rec.text_len + rec.meta_len) * 2;
				text = realloc(text, cap);
			}
			if (nrec == icap)
				it = realloc(it, (icap = icap * 2 + 1024) * sizeof *it);
			it[nrec] = (struct item){used, rec.text_len,
						 used + rec.text_len,
						 rec.meta_len, rec.layout};
			memcpy(text + used, rec.text, rec.text_len);
			memcpy(text + used + rec.text_len, rec.meta, rec.meta_len);
			used += rec.text_len + rec.meta_len;
			nrec++;
		}
		dsv_reader_free(r);
		r = NULL;
		double a = now();
		size_t bytes = 0;
		for (int rep = 0; rep < 3; rep++)
			for (k = 0; k < nrec; k++) {
				all.len = 0;
				if (dsv_jsonl_format(&all, text + it[k].t, it[k].tl,
						     text + it[k].m, it[k].ml,
						     it[k].lay))
					goto err;
				bytes += all.len;
			}
		double b = now();
		printf("format:  %.0f MB of JSONL in %.3f s: %.0f MB/s\n",
		       (double)bytes / 1e6, b - a, (double)bytes / 1e6 / (b - a));
		free(text);
		free(it);
		dsv_buf_free(&all);
	}
	(void)fmt_s;
	(void)outb;

	/* 3. jansson on the same lines */
	t0 = now();
	size_t lines = 0;
	for (char *p = raw; p < raw + n;) {
		char *e = memchr(p, '\n', (size_t)(raw + n - p));
		if (!e)
			e = raw + n;
		json_error_t je;
		json_t *j = json_loadb(p, (size_t)(e - p), JSON_ALLOW_NUL, &je);
		if (j) {
			json_t *t = json_object_get(j, "text");
			tb += t ? json_string_length(t) : 0;
			json_decref(j);
		}
		lines++;
		p = e + 1;
	}
	t1 = now();
	printf("jansson: %.0f MB in %.3f s: %.0f MB/s (json_loadb per line)\n",
	       mb, t1 - t0, mb / (t1 - t0));
	dsv_buf_free(&out);
	free(raw);
	return 0;
err:
	fprintf(stderr, "reader_bench: %s\n", dsv_error_last());
	return 1;
}
