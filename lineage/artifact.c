/* artifact.c: dsv.json, the description each artifact commit carries: what
 * kind of artifact, which op made it from which inputs with which params,
 * its stats and its compute record. Built and parsed with jansson; the parser
 * takes untrusted bytes (it is fuzzed) and names the bad field.
 */
#include "lineage/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSVJSON_MAX (16u << 20) /* larger than any dsv.json dsv writes */

static const char *const kind_names[DSV_KIND_COUNT] = {
	"dataset", "tokenizer", "model", "classifier",
};

const char *dsv_kind_name(dsv_kind k)
{
	return (unsigned)k < DSV_KIND_COUNT ? kind_names[k] : "unknown";
}

int dsv_kind_parse(dsv_kind *out, const char *name)
{
	for (int i = 0; i < DSV_KIND_COUNT; i++)
		if (name && !strcmp(name, kind_names[i])) {
			*out = (dsv_kind)i;
			return 0;
		}
	return dsv_error_set(DSV_EINVAL,
			     "unknown artifact kind '%s' (dataset, tokenizer, "
			     "model, classifier)", name ? name : "");
}

static dsv_artifact *alloc_artifact(void)
{
	dsv_artifact *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->params = json_object();
	a->stats = json_object();
	if (!a->params || !a->stats) {
		dsv_artifact_free(a);
		return NULL;
	}
	return a;
}

int dsv_artifact_new(dsv_artifact **out, dsv_kind kind, const char *op)
{
	dsv_artifact *a;

	*out = NULL;
	if ((unsigned)kind >= DSV_KIND_COUNT)
		return dsv_error_set(DSV_EINVAL, "bad artifact kind %d", kind);
	if (!op || !*op || strlen(op) >= sizeof a->op)
		return dsv_error_set(DSV_EINVAL, "bad op name '%s'",
				     op ? op : "");
	if (!(a = alloc_artifact()))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	snprintf(a->dsv_version, sizeof a->dsv_version, "%s", DSV_VERSION);
	a->kind = kind;
	snprintf(a->op, sizeof a->op, "%s", op);
	*out = a;
	return 0;
}

void dsv_artifact_free(dsv_artifact *a)
{
	if (!a)
		return;
	json_decref(a->params);
	json_decref(a->stats);
	free(a->inputs);
	free(a);
}

int dsv_artifact_add_input(dsv_artifact *a, const char *role,
			   const dsv_aid *id)
{
	dsv_artifact_input *v;

	if (!role || !*role || strlen(role) >= DSV_ARTIFACT_NAME_MAX)
		return dsv_error_set(DSV_EINVAL, "bad input role '%s'",
				     role ? role : "");
	if (!(v = realloc(a->inputs, (a->ninputs + 1) * sizeof *v)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	a->inputs = v;
	snprintf(v[a->ninputs].role, DSV_ARTIFACT_NAME_MAX, "%s", role);
	v[a->ninputs].artifact = *id;
	a->ninputs++;
	return 0;
}

int dsv_artifact_stat_int(dsv_artifact *a, const char *key, int64_t v)
{
	if (json_object_set_new(a->stats, key, json_integer(v)) < 0)
		return dsv_error_set(DSV_ENOMEM, "cannot set stat '%s'", key);
	return 0;
}

int dsv_artifact_stat_num(dsv_artifact *a, const char *key, double v)
{
	if (json_object_set_new(a->stats, key, json_real(v)) < 0)
		return dsv_error_set(DSV_EINVAL, "cannot set stat '%s'", key);
	return 0;
}

void dsv_artifact_set_compute(dsv_artifact *a, const dsv_compute *c)
{
	a->compute = *c;
	a->has_compute = 1;
}

/* ---- formatting ---------------------------------------------------------- */

int dsv_artifact_format(const dsv_artifact *a, char **out, size_t *len)
{
	json_t *o = json_object(), *inputs = json_array(), *compute = NULL;
	char *text = NULL;
	int bad = !o || !inputs, rc = 0;

	*out = NULL;
	*len = 0;
	if (!bad && a->has_compute &&
	    (rc = dsv_compute_to_json(&compute, &a->compute)) < 0)
		goto cleanup;
	for (size_t i = 0; i < a->ninputs && !bad; i++) {
		char hex[DSV_AID_HEXLEN + 1];
		json_t *in = json_object();
		dsv_aid_fmt(hex, &a->inputs[i].artifact);
		bad |= !in ||
		       json_object_set_new(in, "role",
					   json_string(a->inputs[i].role)) ||
		       json_object_set_new(in, "artifact", json_string(hex)) ||
		       json_array_append_new(inputs, in);
	}
	/* jansson keeps insertion order, so the keys come out as listed */
	bad |= bad ||
	       json_object_set_new(o, "dsv_version",
				   json_string(a->dsv_version)) ||
	       json_object_set_new(o, "kind",
				   json_string(dsv_kind_name(a->kind))) ||
	       json_object_set_new(o, "op", json_string(a->op)) ||
	       json_object_set_new(o, "params",
				   a->params ? json_incref(a->params)
					     : json_object()) ||
	       json_object_set(o, "inputs", inputs) ||
	       json_object_set_new(o, "stats",
				   a->stats ? json_incref(a->stats)
					    : json_object());
	if (!bad && compute)
		bad |= json_object_set(o, "compute", compute);
	if (bad || !(text = json_dumps(o, JSON_INDENT(2) |
					      JSON_REAL_PRECISION(15)))) {
		rc = dsv_error_set(DSV_EINVAL, "cannot format dsv.json");
		goto cleanup;
	}
	{
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);
		if (!t) {
			rc = dsv_error_set(DSV_ENOMEM, "out of memory");
			goto cleanup;
		}
		text = t;
		text[n] = '\n';
		text[n + 1] = '\0';
		*out = text;
		*len = n + 1;
		text = NULL;
	}
cleanup:
	free(text);
	json_decref(compute);
	json_decref(inputs);
	json_decref(o);
	return rc;
}

/* ---- parsing ------------------------------------------------------------- */

static int get_string(const json_t *o, const char *k, char *dst, size_t cap)
{
	json_t *x = json_object_get(o, k);
	if (!json_is_string(x))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s' must be a string", k);
	if (json_string_length(x) == 0 || json_string_length(x) >= cap ||
	    strlen(json_string_value(x)) != json_string_length(x))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s' must be 1 to %zu "
				     "characters without NUL", k, cap - 1);
	memcpy(dst, json_string_value(x), json_string_length(x) + 1);
	return 0;
}

static int parse_inputs(dsv_artifact *a, const json_t *arr)
{
	size_t i;
	json_t *in;

	if (!json_is_array(arr))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field 'inputs' must be an array");
	json_array_foreach(arr, i, in) {
		char role[DSV_ARTIFACT_NAME_MAX], key[64];
		json_t *h;
		dsv_aid id;
		if (!json_is_object(in))
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field 'inputs[%zu]' must "
					     "be an object", i);
		snprintf(key, sizeof key, "inputs[%zu].role", i);
		if (get_string(in, "role", role, sizeof role) < 0)
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field '%s' must be a "
					     "string of 1 to %d characters",
					     key, DSV_ARTIFACT_NAME_MAX - 1);
		h = json_object_get(in, "artifact");
		if (!json_is_string(h) ||
		    dsv_aid_parse(&id, json_string_value(h),
				  json_string_length(h)) < 0)
			return dsv_error_set(DSV_EINVAL,
					     "dsv.json: field 'inputs[%zu]."
					     "artifact' must be %d hex digits",
					     i, DSV_AID_HEXLEN);
		if (dsv_artifact_add_input(a, role, &id) < 0)
			return dsv_error_code();
	}
	return 0;
}

static int take_object(json_t **slot, json_t *root, const char *k)
{
	json_t *x = json_object_get(root, k);
	if (!x)
		return 0; /* keeps the empty object from alloc_artifact */
	if (!json_is_object(x))
		return dsv_error_set(DSV_EINVAL,
				     "dsv.json: field '%s' must be an object", k);
	json_decref(*slot);
	*slot = json_incref(x);
	return 0;
}

int dsv_artifact_parse(dsv_artifact **out, const char *text, size_t len)
{
	json_t *root = NULL, *x;
	json_error_t jerr;
	dsv_artifact *a = NULL;
	char kind[32];
	int rc;

	*out = NULL;
	if (len > DSVJSON_MAX)
		return dsv_error_set(DSV_EINVAL, "dsv.json: larger than %u bytes",
				     DSVJSON_MAX);
	if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
		return dsv_error_set(DSV_EINVAL, "dsv.json:%d:%d: %s", jerr.line,
				     jerr.column, jerr.text);
	if (!json_is_object(root)) {
		rc = dsv_error_set(DSV_EINVAL, "dsv.json: must be an object");
		goto cleanup;
	}
	if (!(a = alloc_artifact())) {
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = get_string(root, "dsv_version", a->dsv_version,
			     sizeof a->dsv_version)) < 0 ||
	    (rc = get_string(root, "kind", kind, sizeof kind)) < 0 ||
	    (rc = get_string(root, "op", a->op, sizeof a->op)) < 0)
		goto cleanup;
	if (dsv_kind_parse(&a->kind, kind) < 0) {
		rc = dsv_error_set(DSV_EINVAL,
				   "dsv.json: field 'kind' must be one of "
				   "dataset, tokenizer, model, classifier");
		goto cleanup;
	}
	if ((rc = take_object(&a->params, root, "params")) < 0 ||
	    (rc = take_object(&a->stats, root, "stats")) < 0)
		goto cleanup;
	if ((x = json_object_get(root, "inputs")) &&
	    (rc = parse_inputs(a, x)) < 0)
		goto cleanup;
	if ((x = json_object_get(root, "compute"))) {
		if ((rc = dsv_compute_from_json(&a->compute, x)) < 0)
			goto cleanup;
		a->has_compute = 1;
	}
	*out = a;
	a = NULL;
	rc = 0;
cleanup:
	dsv_artifact_free(a);
	json_decref(root);
	return rc;
}

int dsv_artifact_read(dsv_artifact **out, dsv_lineage *l, const dsv_aid *id)
{
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = dsv_lineage_read_file(l, id, "dsv.json", &text, &len)) < 0)
		return rc;
	if ((rc = dsv_artifact_parse(out, text, len)) < 0) {
		char hex[DSV_AID_SHORTLEN + 1];
		dsv_aid_short(hex, id);
		rc = dsv_error_wrap(rc, "artifact %s", hex);
	}
	free(text);
	return rc;
}
