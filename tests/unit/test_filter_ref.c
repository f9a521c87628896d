/* test_filter_ref.c: dsv's heuristic rules (kernels/docstats + kernels/
 * filters) against datatrove's own decisions on the web fixtures, stored in
 * tests/ref/datatrove_decisions.tsv by tests/ref/make_datatrove_ref.sh. Per
 * rule set, dsv must agree (same keep/drop and same reason) on at least 99%
 * of the documents; the agreement and the first 20 disagreements are
 * printed. Skips when the fixtures are missing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/docstats.h"
#include "kernels/filters.h"
#include "store/store.h"
#include "tests/unit/test.h"

#ifndef REF_DIR
#define REF_DIR "tests/ref"
#endif

struct ref_row {
	char file[96];
	uint64_t line;
	char v[DSV_FILTER_NSETS][48];
};

static struct ref_row *rows;
static size_t nrows;

static int load_ref(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;
	if (!f)
		return -1;
	if (!fgets(line, sizeof line, f)) { /* header */
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		if (nrows == cap) {
			cap = cap ? 2 * cap : 4096;
			rows = realloc(rows, cap * sizeof *rows);
		}
		struct ref_row *r = &rows[nrows];
		char *save, *tok = strtok_r(line, "\t\n", &save);
		if (!tok)
			continue;
		snprintf(r->file, sizeof r->file, "%s", tok);
		tok = strtok_r(NULL, "\t\n", &save);
		r->line = tok ? strtoull(tok, NULL, 10) : 0;
		for (int k = 0; k < DSV_FILTER_NSETS; k++) {
			tok = strtok_r(NULL, "\t\n", &save);
			snprintf(r->v[k], sizeof r->v[k], "%s", tok ? tok : "?");
		}
		nrows++;
	}
	fclose(f);
	return 0;
}

static const struct ref_row *find_ref(const char *file, uint64_t line)
{
	/* rows are in file order, so a moving cursor finds each one at once */
	static size_t cursor;
	for (size_t k = 0; k < nrows; k++) {
		size_t i = (cursor + k) % nrows;
		if (rows[i].line == line && !strcmp(rows[i].file, file)) {
			cursor = i + 1;
			return &rows[i];
		}
	}
	return NULL;
}

struct tally {
	uint64_t total, agree;
	int shown;
	uint64_t dt_drop, dsv_drop;
};

static void test_agreement(void)
{
	const char *fx = getenv("DSV_FIXTURES");
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/web", fx ? fx : "../shared/fixtures");
	static const char *const files[] = {
		"c4_en_olmo_sample.1000.jsonl.gz",
		"c4_en_train00000_head.1000.jsonl.gz",
		"dolma_cc_CC-MAIN-20190717121559-00140.697.jsonl.gz",
		"dolma_ccnet_cc_en_head-0091.10.jsonl.gz",
		"dolma_ccnet_cc_en_head-0174.10.jsonl.gz",
		"openwebtext_first1000.jsonl.gz",
		"web_mixed.jsonl.gz"};
	struct tally t[DSV_FILTER_NSETS] = {{0}};
	struct dsv_filter_params p;
	uint64_t missing = 0;

	dsv_filter_params_default(&p);
	CHECK(load_ref(REF_DIR "/datatrove_decisions.tsv") == 0);
	CHECK(nrows > 4000);
	for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
		dsv_reader *r = NULL;
		dsv_record rec;
		dsv_reader_opts o = {.text_field = "text"};
		snprintf(path, sizeof path, "%s/%s", dir, files[fi]);
		CHECK_OK(dsv_reader_open(&r, path, &o));
		while (r && dsv_reader_next(r, &rec) == 1) {
			struct dsv_docstats st;
			uint64_t off[2] = {0, rec.text_len};
			const struct ref_row *ref = find_ref(files[fi], rec.line);
			if (!ref) {
				missing++;
				continue;
			}
			CHECK(docstats_cpu((const uint8_t *)rec.text, off, 1,
					   DSV_DOCSTATS_ALL, &st, 1) == 0);
			for (int k = 0; k < DSV_FILTER_NSETS; k++) {
				size_t nr;
				const char *const *names = dsv_filter_reasons(k, &nr);
				int why = dsv_filter_apply(k, &st, &p);
				const char *mine = why ? names[why - 1] : "keep";
				t[k].total++;
				t[k].dt_drop += strcmp(ref->v[k], "keep") != 0;
				t[k].dsv_drop += why != 0;
				if (!strcmp(mine, ref->v[k])) {
					t[k].agree++;
				} else if (t[k].shown++ < 20) {
					printf("  %s: %s:%llu datatrove %s, dsv %s\n",
					       dsv_filter_set_name(k), files[fi],
					       (unsigned long long)rec.line,
					       ref->v[k], mine);
				}
			}
		}
		dsv_reader_free(r);
	}
	CHECK(missing == 0);
	for (int k = 0; k < DSV_FILTER_NSETS; k++) {
		double a = t[k].total ? (double)t[k].agree / (double)t[k].total : 0;
		printf("  result %-18s agreement %.2f%% (%llu of %llu documents; "
		       "datatrove drops %llu, dsv %llu)\n",
		       dsv_filter_set_name(k), 100 * a,
		       (unsigned long long)t[k].agree,
		       (unsigned long long)t[k].total,
		       (unsigned long long)t[k].dt_drop,
		       (unsigned long long)t[k].dsv_drop);
		CHECK(a >= 0.99);
	}
}

int main(void)
{
	const char *fx = getenv("DSV_FIXTURES");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/web", fx ? fx : "../shared/fixtures");
	FILE *f = fopen(REF_DIR "/datatrove_decisions.tsv", "r");
	if (!f) {
		SKIP(test_agreement, "no tests/ref/datatrove_decisions.tsv");
		return 0;
	}
	fclose(f);
	char probe[4200];
	snprintf(probe, sizeof probe, "%s/web_mixed.jsonl.gz", dir);
	if (!(f = fopen(probe, "r"))) {
		SKIP(test_agreement, "no web fixtures (../shared/fixtures/web)");
		return 0;
	}
	fclose(f);
	RUN(test_agreement);
	free(rows);
	TEST_EXIT();
}
