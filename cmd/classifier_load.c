/* classifier_load.c: reads a classifier artifact (cmd/classifier.h): its
 * CLASSIFIER file and the weights object it names, decoded into the model
 * of kernels/qclass.h. `derive annotate --classifier` uses it.
 */
#include "cmd/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"

void classifier_model_free(struct classifier_model *cm)
{
	if (!cm)
		return;
	dsv_qclass_free(cm->model);
	cm->model = NULL;
}

/* CLASSIFIER holds the four lines of cmd/classifier.h, each once, in any
 * order; any other line but an empty one is an error, as in MODEL (a
 * `classes 3` or a misspelt key was ignored, and a NUL byte cut the file
 * short unseen). */
static int parse_classifier_file(const char *text, size_t len,
				 dsv_oid *weights, char *label, size_t lsize)
{
	static const char *const keys[] = {"format", "weights", "label",
					   "classes"};
	unsigned have = 0;
	int line = 0;
	for (size_t i = 0; i < len;) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		const char *sp = memchr(s, ' ', n), *v = sp ? sp + 1 : s + n;
		size_t klen = sp ? (size_t)(sp - s) : n, vlen = n - klen - !!sp;
		size_t k;
		i += n + 1;
		line++;
		if (memchr(s, 0, n))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: NUL "
					     "byte", line);
		if (!n)
			continue;
		for (k = 0; k < 4; k++)
			if (klen == strlen(keys[k]) && !memcmp(s, keys[k], klen))
				break;
		if (k == 4)
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: unknown "
					     "key", line);
		if (have & 1u << k)
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: '%s' "
					     "given twice", line, keys[k]);
		have |= 1u << k;
		if (k == 0 && (vlen != 8 || memcmp(v, "qclass 1", 8)))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: format "
					     "is not 'qclass 1'", line);
		/* one weights line of one id: gc keeps that object */
		if (k == 1 && (vlen != DSV_OID_HEXLEN ||
			       dsv_oid_parse(weights, v, vlen)))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: bad "
					     "weights object id", line);
		if (k == 2 && (!vlen || vlen >= lsize))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: label "
					     "empty or longer than %zu bytes",
					     line, lsize - 1);
		if (k == 2) {
			memcpy(label, v, vlen);
			label[vlen] = 0;
		}
		/* annotate scores class 1 of two (cmd/op_annotate.c) */
		if (k == 3 && (vlen != 1 || *v != '2'))
			return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER:%d: classes "
					     "must be 2", line);
	}
	if (have != 15)
		return dsv_error_set(DSV_ECORRUPT, "CLASSIFIER: format, weights, "
				     "label or classes missing");
	return 0;
}

static int model_from_sections(struct dsv_qclass **out, void **secs,
			       const size_t *lens, int nsecs)
{
	struct dsv_qclass_header h;
	if (nsecs != 2 || lens[0] != sizeof h)
		return dsv_error_set(DSV_ECORRUPT, "classifier weights: bad "
				     "sections");
	memcpy(&h, secs[0], sizeof h);
	if (h.magic != DSV_QCLASS_MAGIC || h.version != 1 || h.reserved ||
	    h.nclasses < 2 ||
	    h.nclasses > 1024 || h.dim < 1 || h.dim > DSV_QCLASS_MAXDIM ||
	    h.nbuckets < 1 || h.nbuckets > (1u << 26) ||
	    lens[1] != dsv_qclass_nweights(&h) * sizeof(float))
		return dsv_error_set(DSV_ECORRUPT, "classifier weights: bad "
				     "header");
	int rc = dsv_qclass_new(out, h.nbuckets, h.dim, h.nclasses, 0);
	if (rc)
		return dsv_error_set(rc, "%s", dsv_kernel_error_last());
	memcpy((*out)->w, secs[1], lens[1]);
	/* Trained weights are small: NaN, infinity or values near FLT_MAX
	 * overflow the float sums of a prediction into NaN scores. */
	for (size_t i = 0; i < lens[1] / sizeof(float); i++)
		if (!(fabsf((*out)->w[i]) <= 1e6f)) {
			rc = dsv_error_set(DSV_ECORRUPT, "classifier weights: "
					   "weight %zu is %g", i,
					   (double)(*out)->w[i]);
			dsv_qclass_free(*out);
			*out = NULL;
			return rc;
		}
	return 0;
}

int classifier_load(struct classifier_model *cm, dsv_store *s,
		    dsv_lineage *l, const char *rev, dsv_aid *id)
{
	dsv_artifact *a = NULL;
	dsv_obj *o = NULL;
	char *text = NULL;
	void **secs = NULL;
	size_t *lens = NULL, len;
	dsv_oid w;
	int rc, nsecs = 0;
	memset(cm, 0, sizeof *cm);
	if ((rc = dsv_lineage_resolve(l, rev, id)) ||
	    (rc = dsv_artifact_read(&a, l, id)))
		goto out;
	if (a->kind != DSV_KIND_CLASSIFIER) {
		rc = dsv_error_set(DSV_EINVAL, "'%s' is a %s, not a classifier",
				   rev, dsv_kind_name(a->kind));
		goto out;
	}
	if ((rc = dsv_lineage_read_file(l, id, "CLASSIFIER", &text, &len)) ||
	    (rc = parse_classifier_file(text, len, &w, cm->label,
					sizeof cm->label)) ||
	    (rc = dsv_obj_open(&o, s, &w)))
		goto out;
	if (dsv_obj_get_type(o) != DSV_OBJ_WEIGHTS) {
		rc = dsv_error_set(DSV_ECORRUPT, "classifier weights: not a "
				   "weights object");
		goto out;
	}
	nsecs = dsv_obj_nsections(o);
	if ((rc = dsv_obj_read_all(o, &secs, &lens)))
		goto out;
	if (!(rc = model_from_sections(&cm->model, secs, lens, nsecs)) &&
	    cm->model->h.nclasses != 2)
		rc = dsv_error_set(DSV_ECORRUPT, "classifier weights: %u "
				   "classes, CLASSIFIER says 2",
				   cm->model->h.nclasses);
out:
	if (rc)
		dsv_error_wrap(rc, "classifier '%s'", rev);
	for (int i = 0; secs && i < nsecs; i++)
		free(secs[i]);
	free(secs);
	free(lens);
	free(text);
	dsv_obj_free(o);
	dsv_artifact_free(a);
	return rc;
}
