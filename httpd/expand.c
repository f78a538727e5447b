/* expand.c — the $expand query (DSP0266, "Query parameters"): a GET of a
 * resource with its hyperlinks replaced by the resources they point at.
 *
 *   $expand=*  every hyperlink         $expand=.  those outside Links
 *   $expand=~  those inside Links      each optionally "($levels=N)",
 *                                      1 <= N <= HTTPD_EXPAND_MAX_LEVELS
 *
 * A hyperlink is an object whose one property is "@odata.id" with the URI
 * of a resource of the tree (no fragment); it is replaced by that
 * resource's document, as a GET of it would return it, expanded in turn
 * while levels remain (inside an expanded resource, "Links" counts afresh).
 * A link to nothing (an unknown or unreadable resource) stays a link.
 *
 * Bounds: levels, and HTTPD_EXPAND_MAX_RESOURCES documents per response;
 * past that, links stay links (a service may leave hyperlinks unexpanded),
 * so `$expand=*($levels=6)` over a graph full of Links cannot blow up. The
 * documents' bytes are bounded too (HTTPD_EXPAND_MAX_BYTES, which bounds
 * the json-c objects built): past that the request fails with -E2BIG, and
 * server.c answers QueryParameterOutOfRange; it also caps how many expanded
 * GETs run at once and gives freed memory back to the system after a large
 * one. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int httpd_expand_parse(const char *v, struct httpd_expand *ret)
{
	const char *p;
	char *end;
	long n;

	if (!v || (v[0] != '*' && v[0] != '.' && v[0] != '~'))
		return -EILSEQ;
	ret->kind = v[0];
	ret->levels = 1;
	if (!v[1])
		return 0;
	if (strncmp(v + 1, "($levels=", 9) != 0)
		return -EILSEQ;
	p = v + 10;
	if (*p < '0' || *p > '9')
		return -EILSEQ;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno || strcmp(end, ")") != 0)
		return -EILSEQ;
	if (n < 1 || n > HTTPD_EXPAND_MAX_LEVELS)
		return -ERANGE;
	ret->levels = (int)n;
	return 0;
}

struct expander {
	struct rf_tree *tree;
	char kind;
	size_t budget;           /* documents left to expand */
	size_t bytes;            /* their bytes left */
	bool over;               /* the bytes ran out */
};

static struct json_object *expand_obj(struct expander *x, struct json_object *o, int levels,
				      bool in_links);

/* The resource o links to, expanded (new reference), or NULL to keep o. */
static struct json_object *resolve(struct expander *x, struct json_object *o, int levels,
				   bool in_links)
{
	struct json_object *id, *doc;
	struct rf_doc *d;
	const char *uri;
	int err = 0;

	if (json_object_object_length(o) != 1 || !json_object_object_get_ex(o, "@odata.id", &id) ||
	    !json_object_is_type(id, json_type_string))
		return NULL;
	uri = json_object_get_string(id);
	if (strncmp(uri, RF_ROOT "/", strlen(RF_ROOT) + 1) != 0 || strchr(uri, '#') ||
	    (x->kind == '.' && in_links) || (x->kind == '~' && !in_links) || !x->budget)
		return NULL;
	if (!(d = rf_tree_get_doc(x->tree, uri, &err)))
		return NULL;
	if (d->len > x->bytes) {
		x->over = true;
		x->budget = 0;      /* stop here */
		rf_doc_unref(d);
		return NULL;
	}
	x->bytes -= d->len;
	doc = json_tokener_parse(d->json);
	rf_doc_unref(d);
	if (!doc || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		return NULL;
	}
	x->budget--;
	if (levels > 1)
		expand_obj(x, doc, levels - 1, false);
	return doc;
}

/* Expand the links inside o (an object or array) in place. Returns o. */
static struct json_object *expand_obj(struct expander *x, struct json_object *o, int levels,
				      bool in_links)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			struct json_object *e = json_object_array_get_idx(o, i);
			struct json_object *r;

			if (!json_object_is_type(e, json_type_object) &&
			    !json_object_is_type(e, json_type_array))
				continue;
			if ((r = json_object_is_type(e, json_type_object) ? resolve(x, e, levels, in_links)
									 : NULL))
				json_object_array_put_idx(o, i, r);
			else
				expand_obj(x, e, levels, in_links);
		}
		return o;
	}
	if (!json_object_is_type(o, json_type_object))
		return o;
	json_object_object_foreach(o, key, val) {
		bool links = in_links || strcmp(key, "Links") == 0;
		struct json_object *r;

		if (!json_object_is_type(val, json_type_object) &&
		    !json_object_is_type(val, json_type_array))
			continue;
		if ((r = json_object_is_type(val, json_type_object) ? resolve(x, val, levels, links)
								   : NULL))
			json_object_object_add(o, key, r);   /* replaces val in place */
		else
			expand_obj(x, val, levels, links);
	}
	return o;
}

char *httpd_expand_doc(struct rf_tree *t, const struct rf_doc *d, const struct httpd_expand *e,
		       size_t *ret_len, int *ret_err)
{
	struct expander x = { .tree = t, .kind = e->kind, .budget = HTTPD_EXPAND_MAX_RESOURCES,
			      .bytes = HTTPD_EXPAND_MAX_BYTES };
	struct json_object *doc = json_tokener_parse(d->json);
	const char *s;
	char *out = NULL;

	*ret_err = -ENOMEM;
	if (!doc)
		return NULL;
	expand_obj(&x, doc, e->levels, false);
	if (x.over) {
		*ret_err = -E2BIG;
	} else {
		s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
		out = s ? strdup(s) : NULL;
		if (out)
			*ret_len = strlen(out);
	}
	json_object_put(doc);
	return out;
}
