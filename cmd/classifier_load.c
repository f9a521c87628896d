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
	    (rc = dsv_classifier_parse(text, len, &w, cm->label)) ||
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
		rc = dsv_error_set(DSV_ECORRUPT, "classifier weights: classes "
				   "%u, where CLASSIFIER says 2",
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
