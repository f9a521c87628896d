/* kernel_safetensors.c: the safetensors writer and reader: round trips of
 * random tensors and metadata, the exact header bytes for a known file,
 * every reject fixture rejected, and truncations of a valid file refused;
 * a GPT-2 model's weights through the Hugging Face layout and back.
 */
#include "kernels/device.h"
#include "kernels/gpt.h"
#include "kernels/safetensors.h"
#include "tests/unit/test.h"
#include "tests/unit/fixtures.h"

#include <stdint.h>

#define dsv_error_last dsv_kernel_error_last

static void test_known_bytes(void)
{
	float v[2] = {1.0f, -2.0f};
	dsv_st_tensor t = {.name = "w", .dtype = DSV_ST_F32, .ndim = 1,
			   .shape = {2}, .data = v};
	const char *meta[] = {"format", "pt"};
	uint8_t *buf;
	size_t len;
	CHECK_OK(dsv_st_write(&buf, &len, &t, 1, meta, 1));
	const char *h = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":"
			"\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
	size_t hl = strlen(h), padded = (hl + 7) / 8 * 8;
	CHECK(len == 8 + padded + 8);
	CHECK(buf[0] == (uint8_t)padded && buf[1] == 0);
	CHECK(memcmp(buf + 8, h, hl) == 0);
	CHECK(memcmp(buf + 8 + padded, v, 8) == 0);
	free(buf);
}

static uint64_t rng(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void test_round_trip(void)
{
	uint64_t s = test_seed();
	for (int iter = 0; iter < 50; iter++) {
		dsv_st_tensor t[6];
		uint8_t *data[6];
		char key[3][16], val[3][16];
		const char *meta[6];
		size_t n = rng(&s) % 6, nmeta = rng(&s) % 3;
		for (size_t i = 0; i < n; i++) {
			memset(&t[i], 0, sizeof t[i]);
			snprintf(t[i].name, sizeof t[i].name, "h.%zu.\"x\\y", i);
			t[i].dtype = (dsv_st_dtype)(rng(&s) % DSV_ST_NDTYPES);
			t[i].ndim = (int)(rng(&s) % 4);
			for (int d = 0; d < t[i].ndim; d++)
				t[i].shape[d] = rng(&s) % 5;
			uint64_t nb = dsv_st_nbytes(&t[i]);
			data[i] = malloc(nb + 1);
			for (uint64_t j = 0; j < nb; j++)
				data[i][j] = (uint8_t)rng(&s);
			t[i].data = data[i];
		}
		for (size_t i = 0; i < nmeta; i++) {
			snprintf(key[i], 16, "k%zu\n\x01", i);
			snprintf(val[i], 16, "v\t%llu", (unsigned long long)rng(&s));
			meta[2 * i] = key[i];
			meta[2 * i + 1] = val[i];
		}
		uint8_t *buf;
		size_t len;
		dsv_st_file *f = NULL;
		CHECK_OK(dsv_st_write(&buf, &len, t, n, meta, nmeta));
		CHECK(len % 8 == 0 || n > 0);
		CHECK_OK(dsv_st_parse(&f, buf, len));
		if (f) {
			CHECK(f->ntensors == n && f->nmeta == nmeta);
			for (size_t i = 0; i < n; i++) {
				const dsv_st_tensor *g = dsv_st_find(f, t[i].name);
				CHECK(g && g->dtype == t[i].dtype &&
				      g->ndim == t[i].ndim);
				if (g)
					CHECK(memcmp(g->data, t[i].data,
						     dsv_st_nbytes(&t[i])) == 0);
			}
			for (size_t i = 0; i < nmeta; i++) {
				const char *v = dsv_st_meta(f, key[i]);
				CHECK(v && strcmp(v, val[i]) == 0);
			}
		}
		/* every truncation is refused, never read past the end */
		for (size_t cut = 0; cut < len; cut += 1 + len / 40) {
			dsv_st_file *g = NULL;
			uint8_t *copy = malloc(cut + 1);
			memcpy(copy, buf, cut);
			if (dsv_st_parse(&g, copy, cut) == 0) {
				/* only possible when nothing but padding or
				 * empty tensors were cut: never */
				CHECK(0);
			}
			dsv_st_free(g);
			free(copy);
		}
		dsv_st_free(f);
		free(buf);
		for (size_t i = 0; i < n; i++)
			free(data[i]);
	}
}

static void test_write_refuses(void)
{
	dsv_st_tensor t[2] = {{.name = "a", .dtype = DSV_ST_U8, .ndim = 0},
			      {.name = "a", .dtype = DSV_ST_U8, .ndim = 0}};
	uint8_t *buf;
	size_t len;
	uint8_t b = 0;
	t[0].data = t[1].data = &b;
	CHECK(dsv_st_write(&buf, &len, t, 2, NULL, 0) == DSV_KERNEL_EINVAL);
	strcpy(t[0].name, "__metadata__");
	CHECK(dsv_st_write(&buf, &len, t, 1, NULL, 0) == DSV_KERNEL_EINVAL);
}

static int rejected, accepted_bad;
static void must_reject(const char *name, const uint8_t *d, size_t n)
{
	dsv_st_file *f = NULL;
	if (dsv_st_parse(&f, d, n) == 0) {
		printf("  reject fixture '%s' was accepted\n", name);
		accepted_bad++;
	}
	rejected++;
	dsv_st_free(f);
}

static int corpus_ok, corpus_n;
static void must_accept(const char *name, const uint8_t *d, size_t n)
{
	dsv_st_file *f = NULL;
	corpus_n++;
	if (dsv_st_parse(&f, d, n) == 0)
		corpus_ok++;
	else
		printf("  corpus '%s': %s\n", name, dsv_kernel_error_last());
	dsv_st_free(f);
}

static void test_fixtures(void)
{
	for_each_fixture("tests/fuzz/reject/safetensors", must_reject);
	CHECK(rejected >= 10);
	CHECK(accepted_bad == 0);
	for_each_fixture("tests/fuzz/corpus/safetensors", must_accept);
	CHECK(corpus_n >= 5 && corpus_ok == corpus_n);
}

/* dsv_gpt_weights_encode / _decode: every parameter comes back bit for
 * bit, a Conv1D matrix is stored transposed ([in][out]), the shape is in
 * the metadata, and a model of another shape is refused. */
static void test_gpt_weights(void)
{
	dsv_gpt_config c = {.max_seq_len = 16, .vocab_size = 50,
			    .padded_vocab_size = 64, .num_layers = 2,
			    .num_heads = 2, .channels = 8};
	dsv_gpt *a = NULL, *b = NULL, *other = NULL;
	const char *meta[] = {"dsv.tokenizer", "abc"};
	uint8_t *buf = NULL;
	size_t len;
	dsv_st_file *f = NULL;
	CHECK_OK(dsv_gpt_new(&a, &c, 1, 4, DSV_GPT_CPU));
	CHECK_OK(dsv_gpt_new(&b, &c, 1, 4, DSV_GPT_CPU));
	if (!a || !b)
		goto out;
	CHECK_OK(dsv_gpt_init(a, 7));
	CHECK_OK(dsv_gpt_weights_encode(a, meta, 1, &buf, &len));
	CHECK_OK(dsv_st_parse(&f, buf, len));
	if (f) {
		const dsv_st_tensor *t = dsv_st_find(f, "h.1.attn.c_attn.weight");
		CHECK(t && t->ndim == 2 && t->shape[0] == 8 && t->shape[1] == 24);
		if (t) { /* [in][out]: element (i, o) is dsv's w[o][i] */
			const float *w = a->params + a->offsets[DSV_GPT_QKVW] +
					 24 * 8;
			float v;
			memcpy(&v, (const uint8_t *)t->data + 4 * (3 * 24 + 5), 4);
			CHECK(v == w[5 * 8 + 3]);
		}
		CHECK(dsv_st_find(f, "wte.weight") != NULL);
		CHECK(dsv_st_meta(f, "dsv.n_layer") &&
		      !strcmp(dsv_st_meta(f, "dsv.n_layer"), "2"));
		CHECK(dsv_st_meta(f, "dsv.tokenizer") &&
		      !strcmp(dsv_st_meta(f, "dsv.tokenizer"), "abc"));
	}
	CHECK_OK(dsv_gpt_weights_decode(b, buf, len));
	CHECK(!memcmp(a->params, b->params, a->num_params * sizeof(float)));
	c.channels = 16;
	CHECK_OK(dsv_gpt_new(&other, &c, 1, 4, DSV_GPT_CPU));
	if (other)
		CHECK(dsv_gpt_weights_decode(other, buf, len) == DSV_KERNEL_EINVAL);
out:
	dsv_st_free(f);
	free(buf);
	dsv_gpt_free(a);
	dsv_gpt_free(b);
	dsv_gpt_free(other);
}

int main(void)
{
	RUN(test_known_bytes);
	RUN(test_round_trip);
	RUN(test_write_refuses);
	RUN(test_fixtures);
	RUN(test_gpt_weights);
	TEST_EXIT();
}
