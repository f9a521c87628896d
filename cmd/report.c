/* report.c: `dsv report [REV] -o FILE.html [--baseline MODEL] [-q]`: one
 * self-contained HTML page on an artifact: its lineage graph, the compute
 * of its ancestry by mode (dsv audit's figures), its models' loss curves
 * and a row per artifact. This file gathers the figures and writes the
 * file whole or not at all; report_page.c and its neighbours write the page.
 */
#include "cmd/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Appends ", name" (or "name") to *s. */
static int ref_append(char **s, const char *prefix, const char *name)
{
	char *n = NULL;
	if (asprintf(&n, "%s%s%s%s", *s ? *s : "", *s ? ", " : "", prefix,
		     name) < 0)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	free(*s);
	*s = n;
	return 0;
}

/* The ref names of every node, as dsv log decorates: "HEAD -> main, v2,
 * tag: v1". */
static int load_refs(struct report *r)
{
	dsv_refinfo *br = NULL, *tg = NULL;
	size_t nb = 0, nt = 0;
	char *head = NULL;
	int rc;
	if (!(r->refs = calloc(r->anc->n, sizeof *r->refs)))
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	if ((rc = dsv_lineage_branch_list(the_repo->lineage, &br, &nb)) ||
	    (rc = dsv_lineage_tag_list(the_repo->lineage, &tg, &nt)))
		goto cleanup;
	if (dsv_lineage_head_branch(the_repo->lineage, &head))
		head = NULL; /* detached: no "HEAD ->" */
	for (size_t i = 0; i < r->anc->n && !rc; i++) {
		const dsv_aid *id = &r->anc->nodes[i].id;
		for (size_t k = 0; k < nb && !rc; k++)
			if (!dsv_aid_cmp(&br[k].target, id))
				rc = ref_append(&r->refs[i],
						head && !strcmp(head, br[k].name)
							? "HEAD -> " : "",
						br[k].name);
		for (size_t k = 0; k < nt && !rc; k++)
			if (!dsv_aid_cmp(&tg[k].target, id))
				rc = ref_append(&r->refs[i], "tag: ", tg[k].name);
	}
cleanup:
	free(head);
	dsv_refinfo_free(br, nb);
	dsv_refinfo_free(tg, nt);
	return rc;
}

/* Every model of the ancestry with its METRICS.tsv; a model whose curve
 * cannot be read is drawn without one (the page says so). */
static int load_models(struct report *r)
{
	size_t cap = 0;
	for (size_t i = 0; i < r->anc->n; i++) {
		const dsv_ancestry_node *n = &r->anc->nodes[i];
		struct report_model *m;
		char *text = NULL;
		size_t len;
		int rc;
		if (!n->has_artifact || n->kind != DSV_KIND_MODEL)
			continue;
		if ((rc = DSV_ARRAY_GROW(r->models, cap, r->nmodels + 1, 4)))
			return rc;
		m = &r->models[r->nmodels++];
		*m = (struct report_model){.node = i};
		rc = dsv_lineage_read_file(the_repo->lineage, &n->id,
					   "METRICS.tsv", &text, &len);
		if (!rc && dsv_metrics_parse(&m->rows, &m->nrows, text, len)) {
			m->rows = NULL;
			m->nrows = 0;
		}
		free(text);
		dsv_error_clear();
	}
	return 0;
}

/* The revision's dsv.json, and its MODEL when it is a model. A commit
 * without a readable dsv.json gets a page all the same. */
static int load_head(struct report *r, dsv_artifact **art, dsv_model **model)
{
	const dsv_ancestry_node *n = &r->anc->nodes[0];
	if (dsv_artifact_read(art, the_repo->lineage, &n->id))
		*art = NULL;
	dsv_error_clear();
	if (n->has_artifact && n->kind == DSV_KIND_MODEL &&
	    dsv_model_read(model, the_repo->lineage, &n->id))
		return -1;
	r->head = *art;
	r->head_model = *model;
	return 0;
}

/* The page into memory: nothing reaches the file until it is whole. */
static int build_page(const struct report *r, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	int rc;
	if (!f)
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	rc = report_page(f, r);
	if (ferror(f) && !rc)
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	if (fclose(f) && !rc)
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	return rc;
}

static int write_page(const char *path, const char *buf, size_t len)
{
	char *tmp;
	int fd, rc;
	if ((rc = out_open(path, &tmp, &fd)))
		return rc;
	for (size_t off = 0; off < len && !rc;) {
		ssize_t w = write(fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = dsv_error_set(DSV_EIO, "cannot write '%s': %s",
					   tmp ? path : "standard output",
					   strerror(w < 0 ? errno : ENOSPC));
		else
			off += (size_t)w;
	}
	return out_finish(path, tmp, fd, rc);
}

int cmd_report(int argc, char **argv)
{
	static const char usage[] = "dsv report [REV] -o FILE.html [--baseline MODEL] [-q]";
	const char *out = NULL, *baseline = NULL;
	int quiet = 0;
	const struct option opts[] = {
		OPT_STRING('o', "output", &out, "file", "write the page here ('-': standard output); an existing file is replaced"),
		OPT_STRING(0, "baseline", &baseline, "model", "a model of the same recipe on other data: the break-even line, as dsv audit --baseline"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};
	struct report r = {0};
	struct audit_verdict v;
	dsv_ancestry *anc = NULL;
	dsv_audit *a = NULL;
	dsv_artifact *art = NULL;
	dsv_model *model = NULL;
	char *page = NULL, hex[DSV_AID_HEXLEN + 1];
	size_t len = 0;
	dsv_aid id;
	int rc = 1;

	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (!out)
		return usage_error(opts, usage, "-o FILE is needed ('-' for "
				   "standard output)");
	if (!*out)
		return usage_error(opts, usage, "-o: the file name is empty");
	r.rev = n ? argv[0] : NULL;
	if (resolve_rev(r.rev, &id) ||
	    dsv_ancestry_open(&anc, the_repo->lineage, &id) ||
	    dsv_audit_run(&a, the_repo->lineage, &id))
		goto fail;
	r.anc = anc;
	r.audit = a;
	dsv_aid_fmt(hex, &id);
	if (baseline) {
		if (audit_judge(r.rev ? r.rev : hex, baseline, a, &v))
			goto fail;
		r.verdict = &v;
	}
	if (load_refs(&r) || load_models(&r) || load_head(&r, &art, &model) ||
	    build_page(&r, &page, &len) || write_page(out, page, len))
		goto fail;
	if (!quiet && strcmp(out, "-")) {
		printf("report of %.7s (%zu %s, %zu %s) written to ", hex,
		       anc->n, plural(anc->n, "artifact", "artifacts"),
		       r.nmodels, plural(r.nmodels, "model", "models"));
		fputs(out, stdout);
		putchar('\n');
	}
	rc = 0;
	goto cleanup;
fail:
	rc = die_error();
cleanup:
	free(page);
	for (size_t i = 0; r.refs && i < anc->n; i++)
		free(r.refs[i]);
	free(r.refs);
	for (size_t i = 0; i < r.nmodels; i++)
		free(r.models[i].rows);
	free(r.models);
	dsv_artifact_free(art);
	dsv_model_free(model);
	dsv_audit_free(a);
	dsv_ancestry_free(anc);
	return rc;
}
