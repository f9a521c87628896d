/* diff.c: what changed between two versions, by record hash. A version is a
 * multiset of records; the diff counts records of B not matched in A (added)
 * and of A not matched in B (removed), with their text bytes, from the hash
 * and offset columns alone, so a 1 GiB version diffs without reading text.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* An open-addressing table from record hash to how many copies A holds that
 * B has not matched yet. Record hashes are uniformly random, so their first
 * bytes index the table directly. */
struct slot {
	dsv_rhash h;
	uint32_t used;  /* 0: free; a used slot stays used, so probe chains
			   stay intact when its count drops to 0 */
	uint32_t count; /* copies in A not yet matched by B */
};

struct table {
	struct slot *s;
	size_t mask;
};

static uint64_t key(const dsv_rhash *h)
{
	uint64_t k;
	memcpy(&k, h->b, sizeof k);
	return k;
}

static struct slot *find(struct table *t, const dsv_rhash *h, int insert)
{
	for (size_t i = key(h) & t->mask;; i = (i + 1) & t->mask) {
		struct slot *sl = &t->s[i];
		if (!sl->used)
			return insert ? sl : NULL;
		if (memcmp(&sl->h, h, sizeof *h) == 0)
			return sl;
	}
}

/* Walks a version's hashes and lengths (no text) through `fn`. */
static int each_record(dsv_store *s, const dsv_manifest *m,
		       int (*fn)(void *ctx, const dsv_rhash *h, uint64_t len),
		       void *ctx)
{
	dsv_version_iter *it = NULL;
	dsv_version_rec r;
	int rc = dsv_version_iter_new(&it, s, m, DSV_SHARD_HASH);
	while (!rc && (rc = dsv_version_iter_next(it, &r)) == 1)
		rc = fn(ctx, r.hash, r.text_len);
	dsv_version_iter_free(it);
	return rc < 0 ? rc : 0;
}

struct pass {
	struct table *t;
	dsv_diff *d;
	int list;
	size_t list_cap, copies_cap;
};

static int add_a(void *ctx, const dsv_rhash *h, uint64_t len)
{
	struct pass *p = ctx;
	struct slot *sl = find(p->t, h, 1);
	(void)len;
	if (!sl->used) {
		sl->h = *h;
		sl->used = 1;
	}
	sl->count++;
	p->d->a_records++;
	return 0;
}

static int push(dsv_rhash **list, size_t *n, size_t *cap, const dsv_rhash *h)
{
	int rc = DSV_ARRAY_GROW(*list, *cap, *n + 1, 1024);
	if (rc)
		return rc;
	(*list)[(*n)++] = *h;
	return 0;
}

static int match_b(void *ctx, const dsv_rhash *h, uint64_t len)
{
	struct pass *p = ctx;
	struct slot *sl = find(p->t, h, 0);
	p->d->b_records++;
	if (sl && sl->count) {
		sl->count--;
		p->d->common++;
		return 0;
	}
	p->d->added++;
	p->d->added_bytes += len;
	return p->list ? push(&p->d->added_list, &p->d->nadded_list,
			      &p->list_cap, h)
		       : 0;
}

static int count_removed(void *ctx, const dsv_rhash *h, uint64_t len)
{
	struct pass *p = ctx;
	struct slot *sl = find(p->t, h, 0);
	if (!sl || sl->count == 0)
		return 0;
	/* Each unmatched copy is removed; list the hash once. */
	uint32_t copies = sl->count;
	p->d->removed += copies;
	p->d->removed_bytes += (uint64_t)copies * len;
	sl->count = 0;
	if (!p->list)
		return 0;
	dsv_diff *d = p->d;
	int rc = DSV_ARRAY_GROW(d->removed_copies, p->copies_cap,
				d->nremoved_list + 1, 1024);
	if (rc)
		return rc;
	d->removed_copies[d->nremoved_list] = copies;
	return push(&d->removed_list, &d->nremoved_list, &p->list_cap, h);
}

int dsv_version_diff(dsv_store *s, const dsv_manifest *a,
		     const dsv_manifest *b, int list, dsv_diff *out)
{
	struct table t = {0};
	uint64_t n = dsv_manifest_records(a);
	size_t cap = 1024;
	while (cap < 2 * n)
		cap *= 2;
	memset(out, 0, sizeof *out);
	t.s = calloc(cap, sizeof *t.s);
	if (!t.s)
		return dsv_error_set(DSV_ENOMEM, "out of memory for the diff");
	t.mask = cap - 1;
	struct pass p = {&t, out, list, 0, 0};
	int rc = each_record(s, a, add_a, &p);
	if (!rc)
		rc = each_record(s, b, match_b, &p);
	p.list_cap = 0;
	if (!rc)
		rc = each_record(s, a, count_removed, &p);
	free(t.s);
	if (rc)
		dsv_diff_free(out);
	return rc;
}

void dsv_diff_free(dsv_diff *d)
{
	free(d->added_list);
	free(d->removed_list);
	free(d->removed_copies);
	d->added_list = d->removed_list = NULL;
	d->removed_copies = NULL;
	d->nadded_list = d->nremoved_list = 0;
}
