/* doc_loss.c: each document's mean token loss under a model, in batched
 * forward passes: what `dsv eval` (a version's loss, --column) and `dsv
 * derive annotate --model` (perplexity) share, so both give a record the
 * same value and count the same compute.
 */
#include "cmd/cmd.h"
#include "kernels/gpt.h"

#include <math.h>
#include <stdlib.h>

struct doc_sum {
	double sum;
	uint64_t n;
};

struct doc_loss {
	struct model *md; /* borrowed */
	int B, T;
	int *inputs, *targets;
	float *losses;
	size_t *row_doc; /* batch row -> document */
	int rows;
	dsv_bpe_encoder *enc;
	uint32_t *ids;
	size_t idcap;
	struct doc_sum *docs; /* since the last doc_loss_clear */
	size_t ndocs, capdocs;
	double total;
	uint64_t ntok;
	/* what doc_loss_meter has counted already */
	uint64_t ntok_metered;
	double gpu_metered, joules_metered;
	struct nvml nvml;
};

int doc_loss_new(struct doc_loss **out, struct model *md, int batch)
{
	struct doc_loss *dl = calloc(1, sizeof *dl);
	int rc = 0;
	*out = NULL;
	if (!dl)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	dl->md = md;
	dl->B = batch;
	dl->T = md->seq_len;
	size_t BT = (size_t)dl->B * dl->T;
	dl->inputs = malloc(BT * sizeof *dl->inputs);
	dl->targets = malloc(BT * sizeof *dl->targets);
	dl->losses = malloc(BT * sizeof *dl->losses);
	dl->row_doc = malloc((size_t)dl->B * sizeof *dl->row_doc);
	if (!dl->inputs || !dl->targets || !dl->losses || !dl->row_doc) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = dsv_bpe_encoder_new(&dl->enc, md->bpe))) {
		rc = dsv_error_set(rc, "%s", dsv_kernel_error_last());
		goto fail;
	}
	if (md->g->on_gpu)
		nvml_start(&dl->nvml);
	*out = dl;
	return 0;
fail:
	doc_loss_free(dl);
	return rc;
}

void doc_loss_free(struct doc_loss *dl)
{
	if (!dl)
		return;
	free(dl->inputs);
	free(dl->targets);
	free(dl->losses);
	free(dl->row_doc);
	free(dl->ids);
	free(dl->docs);
	dsv_bpe_encoder_free(dl->enc);
	nvml_stop(&dl->nvml);
	free(dl);
}

int doc_loss_flush(struct doc_loss *dl)
{
	int rc;
	if (!dl->rows)
		return 0;
	if ((rc = dsv_gpt_forward(dl->md->g, dl->inputs, dl->targets, dl->rows,
				  dl->T)) ||
	    (rc = dsv_gpt_get_losses(dl->md->g, dl->losses)))
		return dsv_error_set(rc, "%s", dsv_gpt_error_last());
	for (int r = 0; r < dl->rows; r++) {
		struct doc_sum *d = &dl->docs[dl->row_doc[r]];
		for (int i = 0; i < dl->T; i++) {
			size_t k = (size_t)r * dl->T + i;
			if (dl->targets[k] >= 0) {
				d->sum += dl->losses[k];
				d->n++;
				dl->total += dl->losses[k];
				dl->ntok++;
			}
		}
	}
	dl->rows = 0;
	return 0;
}

/* One document: "eot d0 d1 ..." cut into windows of up to T+1 tokens, each
 * a batch row: a token is predicted from the tokens before it in its own
 * window only (docs/train.md, dsv eval). */
static int add_windows(struct doc_loss *dl, const uint32_t *ids, size_t n)
{
	size_t d = dl->ndocs - 1, len = n + 1;
	uint32_t eot = dsv_bpe_eot(dl->md->bpe);
	for (size_t off = 0; off + 1 < len; off += (size_t)dl->T) {
		int rc;
		if (dl->rows == dl->B && (rc = doc_loss_flush(dl)))
			return rc;
		int *in = dl->inputs + (size_t)dl->rows * dl->T;
		int *tg = dl->targets + (size_t)dl->rows * dl->T;
		for (int i = 0; i < dl->T; i++) {
			size_t p = off + (size_t)i;
			in[i] = p < len ? (int)(p ? ids[p - 1] : eot) : 0;
			tg[i] = p + 1 < len ? (int)ids[p] : -1;
		}
		dl->row_doc[dl->rows++] = d;
	}
	return 0;
}

int doc_loss_add(struct doc_loss *dl, const char *text, size_t len)
{
	size_t n = 0;
	int rc = dsv_bpe_encode(dl->enc, (const uint8_t *)text, len, &dl->ids,
				&n, &dl->idcap);
	if (rc)
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	if ((rc = DSV_ARRAY_GROW(dl->docs, dl->capdocs, dl->ndocs + 1, 1024)))
		return rc;
	dl->docs[dl->ndocs++] = (struct doc_sum){0, 0};
	return add_windows(dl, dl->ids, n);
}

size_t doc_loss_docs(const struct doc_loss *dl)
{
	return dl->ndocs;
}

double doc_loss_mean(const struct doc_loss *dl, size_t i)
{
	const struct doc_sum *d = &dl->docs[i];
	return d->n ? d->sum / (double)d->n : NAN;
}

void doc_loss_clear(struct doc_loss *dl)
{
	dl->ndocs = 0;
}

void doc_loss_totals(const struct doc_loss *dl, double *sum, uint64_t *ntok)
{
	*sum = dl->total;
	*ntok = dl->ntok;
}

/* The forward pass's share of training's 6N + 6 L C T FLOPs per token
 * (dsv_gpt_flops_per_token): a third, as eval has always counted it. */
void doc_loss_meter(struct doc_loss *dl, dsv_meter *m)
{
	const dsv_gpt *g = dl->md->g;
	uint64_t tok = dl->ntok - dl->ntok_metered;
	dl->ntok_metered = dl->ntok;
	dsv_meter_add(m, DSV_METER_TOKENS_IN, tok);
	dsv_meter_add_flops(m, dsv_gpt_flops_per_token(&g->cfg, dl->T) / 3.0 *
				       (double)tok);
	if (!g->on_gpu)
		return;
	double s = dsv_gpt_gpu_seconds(g), j = nvml_joules(&dl->nvml);
	dsv_meter_add_gpu(m, dsv_device_name(), s - dl->gpu_metered);
	dsv_meter_add_energy(m, j - dl->joules_metered);
	dl->gpu_metered = s;
	dl->joules_metered = j;
}
