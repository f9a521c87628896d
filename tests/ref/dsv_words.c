/* dsv_words.c: dsv's word splitter (dsv_docstats_words) as a filter for
 * tests/ref/spacy_words.py, which compares it with spaCy. Reads documents
 * from stdin, each as its byte length in decimal, a newline and the bytes;
 * writes one line per document: "start:len" of each word, in bytes,
 * separated by spaces. Built and run by tests/ref/spacy_words.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/docstats.h"

static void on_word(size_t start, size_t len, void *arg)
{
	fprintf(arg, " %zu:%zu", start, len);
}

int main(void)
{
	uint8_t *buf = NULL;
	size_t cap = 0, n;
	unsigned long long doc = 0;
	while (scanf("%zu", &n) == 1 && getchar() == '\n') {
		if (n > cap) {
			uint8_t *b = realloc(buf, n);
			if (!b) {
				fprintf(stderr, "dsv_words: out of memory\n");
				return 1;
			}
			buf = b;
			cap = n;
		}
		if (fread(buf, 1, n, stdin) != n) {
			fprintf(stderr, "dsv_words: document %llu: short read\n", doc);
			return 1;
		}
		dsv_docstats_words(buf, n, on_word, stdout);
		putchar('\n');
		doc++;
	}
	if (!feof(stdin)) {
		fprintf(stderr, "dsv_words: document %llu: bad length line\n", doc);
		return 1;
	}
	free(buf);
	return 0;
}
