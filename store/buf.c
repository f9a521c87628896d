/* buf.c: a growable byte buffer, the one output type of the record writer and
 * of every encoder that builds bytes before they are hashed and compressed;
 * and the doubling growth of typed arrays that the modules and commands share.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int dsv_buf_grow(dsv_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < extra) {
		if (cap > SIZE_MAX / 2)
			return dsv_error_set(DSV_ENOMEM, "buffer too large");
		cap *= 2;
	}
	char *p = dsv_realloc(b->buf, cap);
	if (!p)
		return DSV_ENOMEM;
	b->buf = p;
	b->cap = cap;
	dsv_mem_huge(p, cap);
	return 0;
}

int dsv_buf_append(dsv_buf *b, const void *p, size_t n)
{
	int rc = dsv_buf_grow(b, n);
	if (rc)
		return rc;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

void dsv_buf_free(dsv_buf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

int dsv_array_grow(void *arrp, size_t *cap, size_t need, size_t elem,
		   size_t first)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : first ? first : 16;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return dsv_error_set(DSV_ENOMEM, "array too large");
		c *= 2;
	}
	if (elem && c > SIZE_MAX / elem)
		return dsv_error_set(DSV_ENOMEM, "array too large");
	/* arrp is a T **: read and write the pointer through memcpy, as
	 * converting it to void ** and storing through that would break
	 * strict aliasing (all object pointers share one representation on
	 * the platforms dsv builds for, which POSIX requires). */
	void *old, *p;
	memcpy(&old, arrp, sizeof old);
	if (!(p = dsv_realloc(old, c * elem)))
		return DSV_ENOMEM;
	memcpy(arrp, &p, sizeof p);
	*cap = c;
	return 0;
}
