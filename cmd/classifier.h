/* classifier.h: classifier artifacts as cmd/ uses them: `dsv classifier
 * train` (cmd/classifier.c) makes them, `derive annotate --classifier`
 * (cmd/op_annotate.c) loads them (cmd/classifier_load.c). A classifier
 * artifact is a lineage commit (kind classifier) whose tree holds dsv.json
 * and CLASSIFIER, a text file naming the weights object (the one object gc
 * must keep for it):
 *
 *	format qclass 1
 *	weights <64 hex digits>     DSV_OBJ_WEIGHTS: qclass header, floats
 *	label <meta field>
 *	classes 2
 *
 * Only cmd/ includes this file.
 */
#ifndef DSV_CMD_CLASSIFIER_H
#define DSV_CMD_CLASSIFIER_H

#include "cmd/cmd.h"
#include "kernels/qclass.h"

struct classifier_model {
	struct dsv_qclass *model; /* owned */
	/* the meta field it was trained on */
	char label[DSV_CLASSIFIER_LABEL_MAX + 1];
};

/* Resolves `rev`, checks that it is a classifier artifact, reads CLASSIFIER
 * and the weights object (verified against its id) into *cm; *id receives
 * the artifact. Errors name the revision. */
int classifier_load(struct classifier_model *cm, dsv_store *s,
		    dsv_lineage *l, const char *rev, dsv_aid *id);
void classifier_model_free(struct classifier_model *cm);

#endif
