/* fixtures.h: runs a check over every file of a tests/fuzz directory (the
 * saved corpora and reject fixtures), for the store's unit tests.
 */
#ifndef DSV_TEST_FIXTURES_H
#define DSV_TEST_FIXTURES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Calls fn(name, data, size) per file in dir; returns how many files. */
static inline int for_each_fixture(const char *dir,
				   void (*fn)(const char *, const uint8_t *,
					      size_t))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
		if (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)
			len = 0;
		fclose(f);
		fn(e->d_name, buf, len > 0 ? (size_t)len : 0);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

#endif
