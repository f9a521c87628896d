/* gpt_weights.c: a model's weights as a Hugging Face GPT-2 safetensors file
 * (docs/train.md): the names GPT2LMHeadModel uses ("wte.weight",
 * "h.0.attn.c_attn.weight", ...), fp32, and the four Conv1D matrices stored
 * [in][out] as GPT-2 does, where dsv keeps them [out][in]. Python's
 * safetensors and PyTorch load the file as it is.
 */
#include "kernels/gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "kernels/safetensors.h"

/* The four Conv1D weights GPT-2 stores as [in][out]. */
static int conv1d(int i)
{
	return i == DSV_GPT_QKVW || i == DSV_GPT_ATTPROJW || i == DSV_GPT_FCW ||
	       i == DSV_GPT_FCPROJW;
}

static int per_layer(int i)
{
	return i != DSV_GPT_WTE && i != DSV_GPT_WPE && i != DSV_GPT_LNFW &&
	       i != DSV_GPT_LNFB;
}

/* Shape of one layer's slice of tensor i in dsv's memory ([rows][cols];
 * cols 0 for vectors). */
static void slice_shape(const dsv_gpt_config *c, int i, size_t *rows,
			size_t *cols)
{
	size_t C = c->channels;
	*cols = 0;
	switch (i) {
	case DSV_GPT_WTE: *rows = c->vocab_size; *cols = C; break;
	case DSV_GPT_WPE: *rows = c->max_seq_len; *cols = C; break;
	case DSV_GPT_QKVW: *rows = 3 * C; *cols = C; break;
	case DSV_GPT_QKVB: *rows = 3 * C; break;
	case DSV_GPT_ATTPROJW: *rows = C; *cols = C; break;
	case DSV_GPT_FCW: *rows = 4 * C; *cols = C; break;
	case DSV_GPT_FCB: *rows = 4 * C; break;
	case DSV_GPT_FCPROJW: *rows = C; *cols = 4 * C; break;
	default: *rows = C;
	}
}

int dsv_gpt_weights_encode(const dsv_gpt *g, const char *const *meta,
			   size_t nmeta, uint8_t **out, size_t *len)
{
	const dsv_gpt_config *c = &g->cfg;
	size_t nt = 0, k = 0, at = 0;
	for (int i = 0; i < DSV_GPT_NTENSORS; i++)
		nt += per_layer(i) ? (size_t)c->num_layers : 1;
	float *flat = malloc(g->num_params * sizeof *flat);
	float *xp = malloc(g->num_params * sizeof *xp);
	dsv_st_tensor *ts = calloc(nt, sizeof *ts);
	const char **m = malloc((12 + 2 * nmeta) * sizeof *m);
	int rc = 0;
	if (!flat || !xp || !ts || !m) {
		rc = dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = dsv_gpt_get_params(g, flat)))
		goto cleanup;
	for (int i = 0; i < DSV_GPT_NTENSORS; i++) {
		int nl = per_layer(i) ? c->num_layers : 1;
		size_t rows, cols;
		slice_shape(c, i, &rows, &cols);
		size_t per = g->sizes[i] / (size_t)nl;
		for (int l = 0; l < nl; l++) {
			const float *src = flat + g->offsets[i] + (size_t)l * per;
			dsv_st_tensor *t = &ts[k++];
			snprintf(t->name, sizeof t->name, dsv_gpt_tensor_name(i), l);
			t->dtype = DSV_ST_F32;
			float *dst = xp + at;
			size_t n = rows * (cols ? cols : 1);
			if (conv1d(i)) {
				for (size_t r = 0; r < rows; r++)
					for (size_t q = 0; q < cols; q++)
						dst[q * rows + r] = src[r * cols + q];
				t->ndim = 2;
				t->shape[0] = cols;
				t->shape[1] = rows;
			} else {
				memcpy(dst, src, n * sizeof *dst);
				t->ndim = cols ? 2 : 1;
				t->shape[0] = rows;
				t->shape[1] = cols;
			}
			t->data = dst;
			at += n;
		}
	}
	char v[5][32];
	snprintf(v[0], 32, "%d", c->num_layers);
	snprintf(v[1], 32, "%d", c->num_heads);
	snprintf(v[2], 32, "%d", c->channels);
	snprintf(v[3], 32, "%d", c->max_seq_len);
	snprintf(v[4], 32, "%d", c->vocab_size);
	const char *fixed[] = {"format", "pt", "dsv.n_layer", v[0],
			       "dsv.n_head", v[1], "dsv.n_embd", v[2],
			       "dsv.n_positions", v[3], "dsv.vocab_size", v[4]};
	memcpy(m, fixed, sizeof fixed);
	memcpy(m + 12, meta, 2 * nmeta * sizeof *m);
	rc = dsv_st_write(out, len, ts, nt, m, 6 + nmeta);
cleanup:
	free(flat);
	free(xp);
	free(ts);
	free(m);
	return rc;
}

int dsv_gpt_weights_decode(dsv_gpt *g, const void *buf, size_t len)
{
	const dsv_gpt_config *c = &g->cfg;
	dsv_st_file *f = NULL;
	float *flat = calloc(g->num_params, sizeof *flat);
	int rc = 0;
	if (!flat)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	if ((rc = dsv_st_parse(&f, buf, len)))
		goto cleanup;
	for (int i = 0; i < DSV_GPT_NTENSORS && !rc; i++) {
		int nl = per_layer(i) ? c->num_layers : 1;
		size_t rows, cols;
		slice_shape(c, i, &rows, &cols);
		size_t per = g->sizes[i] / (size_t)nl;
		for (int l = 0; l < nl; l++) {
			char name[DSV_ST_NAME_MAX];
			snprintf(name, sizeof name, dsv_gpt_tensor_name(i), l);
			const dsv_st_tensor *t = dsv_st_find(f, name);
			size_t n = rows * (cols ? cols : 1);
			size_t s0 = conv1d(i) ? cols : rows;
			size_t s1 = conv1d(i) ? rows : cols;
			if (!t || t->dtype != DSV_ST_F32 ||
			    t->ndim != (cols ? 2 : 1) || t->shape[0] != s0 ||
			    (cols && t->shape[1] != s1)) {
				rc = dsv_kernel_error(DSV_KERNEL_EINVAL,
						      "tensor '%s' is missing or "
						      "does not fit the model",
						      name);
				break;
			}
			float *dst = flat + g->offsets[i] + (size_t)l * per;
			const unsigned char *src = t->data;
			if (conv1d(i)) {
				for (size_t r = 0; r < rows; r++)
					for (size_t q = 0; q < cols; q++)
						memcpy(&dst[r * cols + q],
						       src + 4 * (q * rows + r), 4);
			} else {
				memcpy(dst, src, n * sizeof *dst);
			}
		}
	}
	if (!rc)
		rc = dsv_gpt_set_params(g, flat);
cleanup:
	dsv_st_free(f);
	free(flat);
	return rc;
}
