/* source.c — what every aggregated source (bmc.c, mockup.c) needs from
 * one place, so the arrows run bmc -> source <- mockup:
 *   - the resource type of a body, and its writable properties from the
 *     CSDL-derived table (writable.c), enums narrowed to the body's
 *     "X@Redfish.AllowableValues";
 *   - ActionInfo resources read once: their Parameters as (name, required,
 *     allowable values), used by bmc.c for the values an action file lists
 *     and by write.c to check an action's parameters;
 *   - the AggregationService and one AggregationSource per source.
 * Pure functions over borrowed json-c objects, except the last, which
 * installs into the tree (never reading it: a read may refresh, which may
 * call back into the source). No locks, no I/O. */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- bodies and their writable properties --------------------------------- */

bool rf_body_type(struct json_object *body, char *buf, size_t size)
{
	struct json_object *v;
	const char *s, *dot;

	if (!json_object_object_get_ex(body, "@odata.type", &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (*s == '#')
		s++;
	dot = strchr(s, '.');
	if (!dot || dot == s || (size_t)(dot - s) >= size)
		return false;
	memcpy(buf, s, dot - s);
	buf[dot - s] = '\0';
	return true;
}

/* The value at a '/'-separated path of body, or NULL (borrowed). Also gives
 * the object holding it and the last component. */
static struct json_object *get_path(struct json_object *body, const char *path,
				    struct json_object **ret_parent, const char **ret_last)
{
	struct json_object *cur = body, *next = NULL;
	char key[256];

	for (;;) {
		size_t n = strcspn(path, "/");

		if (n >= sizeof(key) || !json_object_is_type(cur, json_type_object))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(cur, key, &next))
			return NULL;
		if (!path[n]) {
			if (ret_parent)
				*ret_parent = cur;
			if (ret_last)
				*ret_last = path;
			return next;
		}
		cur = next;
		path += n + 1;
	}
}

struct rf_writable *rf_writables_free(struct rf_writable *w)
{
	if (!w)
		return NULL;
	for (struct rf_writable *e = w; e->path; e++) {
		free((char *)e->path);
		free((void *)e->values);   /* the strings are the table's or the body's copies */
	}
	free(w);
	return NULL;
}

/* Narrow values to those in the body's "<last>@Redfish.AllowableValues".
 * The result array points into the table (static strings). */
static const char **narrow(const char *const *values, struct json_object *parent, const char *last)
{
	char key[300];
	struct json_object *allow;
	size_t n = 0, k = 0;
	const char **out;

	for (const char *const *v = values; *v; v++)
		n++;
	if (!(out = calloc(n + 1, sizeof(*out))))
		return NULL;
	snprintf(key, sizeof(key), "%s@Redfish.AllowableValues", last);
	if (!json_object_object_get_ex(parent, key, &allow) ||
	    !json_object_is_type(allow, json_type_array)) {
		memcpy(out, values, n * sizeof(*out));
		return out;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < json_object_array_length(allow); j++) {
			const char *a = json_object_get_string(json_object_array_get_idx(allow, j));

			if (a && strcmp(a, values[i]) == 0) {
				out[k++] = values[i];
				break;
			}
		}
	return out;
}

struct rf_writable *rf_writables_for(struct json_object *body)
{
	char type[128];
	size_t lo = 0, hi = rf_schema_writables_count, n = 0;
	struct rf_writable *w = NULL;

	if (!rf_body_type(body, type, sizeof(type)))
		return NULL;
	/* Lower bound of type in the sorted table. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(rf_schema_writables[mid].type, type) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < rf_schema_writables_count &&
			    strcmp(rf_schema_writables[i].type, type) == 0; i++) {
		const struct rf_schema_writable *e = &rf_schema_writables[i];
		struct json_object *parent = NULL, *v;
		const char *last = NULL;
		struct rf_writable *nw;

		v = get_path(body, e->path, &parent, &last);
		if (!parent)
			continue;                      /* not in this body */
		(void)v;
		if (!(nw = realloc(w, (n + 2) * sizeof(*w))))
			goto fail;
		w = nw;
		memset(&w[n], 0, 2 * sizeof(*w));
		if (!(w[n].path = strdup(e->path)))
			goto fail;
		if (e->kind == RF_WT_ENUM &&
		    !(w[n].values = (const char *const *)narrow(e->values, parent, last))) {
			free((char *)w[n].path);
			w[n].path = NULL;
			goto fail;
		}
		n++;
	}
	return w;
fail:
	return rf_writables_free(w);
}

/* ---- ActionInfo ------------------------------------------------------------ */

int rf_action_info_params(struct json_object *info, struct rf_action_param **ret, size_t *ret_n)
{
	struct json_object *params;
	struct rf_action_param *v;
	size_t n = 0;

	if (!json_object_object_get_ex(info, "Parameters", &params) ||
	    !json_object_is_type(params, json_type_array))
		return -ENOENT;
	v = calloc(json_object_array_length(params) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(params); i++) {
		struct json_object *p = json_object_array_get_idx(params, i), *name, *req, *allowed;

		if (!json_object_object_get_ex(p, "Name", &name) ||
		    !json_object_is_type(name, json_type_string))
			continue;
		v[n].name = json_object_get_string(name);
		v[n].required = json_object_object_get_ex(p, "Required", &req) &&
				json_object_get_boolean(req);
		if (json_object_object_get_ex(p, "AllowableValues", &allowed) &&
		    json_object_is_type(allowed, json_type_array))
			v[n].allowable = allowed;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

struct json_object *rf_action_info_values(struct json_object *info)
{
	_cleanup_free_ struct rf_action_param *v = NULL;
	struct json_object *found = NULL;
	size_t n = 0;

	if (rf_action_info_params(info, &v, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].allowable)
			continue;
		if (found)
			return NULL;           /* two parameters with values: which one? */
		found = v[i].allowable;
	}
	return found;
}

/* ---- the AggregationService ---------------------------------------------- */

int rf_aggregation_install_source(struct rf_tree *t, struct rf_provider *p, const char *name,
				  const char *host, const char *user, const char *state,
				  char *const *members, size_t n_members)
{
	struct json_object *o, *st, *links, *arr;
	char uri[192];
	int r;

	/* (Re)install the service: identical bodies only renew freshness.
	 * Never read the tree here (a read may refresh, which may call us). */
	if (!(o = json_object_new_object()))
		return -ENOMEM;
	json_object_object_add(o, "@odata.id", json_object_new_string(RF_AGG_SERVICE));
	json_object_object_add(o, "@odata.type",
			       json_object_new_string("#AggregationService.v1_0_3.AggregationService"));
	json_object_object_add(o, "Id", json_object_new_string("AggregationService"));
	json_object_object_add(o, "Name", json_object_new_string("Aggregation Service"));
	json_object_object_add(o, "ServiceEnabled", json_object_new_boolean(1));
	st = json_object_new_object();
	json_object_object_add(st, "State", json_object_new_string("Enabled"));
	json_object_object_add(st, "Health", json_object_new_string("OK"));
	json_object_object_add(o, "Status", st);
	links = json_object_new_object();
	json_object_object_add(links, "@odata.id", json_object_new_string(RF_AGG_SOURCES));
	json_object_object_add(o, "AggregationSources", links);
	r = rf_tree_install(t, p, RF_AGG_SERVICE, o, NULL, rf_tree_generation(t));
	if (r < 0 && r != -ESTALE && r != -EPERM)   /* EPERM: another source's, the same */
		return r;
	r = rf_tree_add_root_link(t, "AggregationService", RF_AGG_SERVICE);
	if (r < 0 && r != -EEXIST)
		return r;
	r = rf_tree_add_collection(t, p, RF_AGG_SOURCES,
				   "#AggregationSourceCollection.AggregationSourceCollection",
				   "Aggregation Source Collection");
	if (r < 0 && r != -EEXIST)
		return r;

	snprintf(uri, sizeof(uri), RF_AGG_SOURCES "/%s", name);
	if (!(o = json_object_new_object()))
		return -ENOMEM;
	json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	json_object_object_add(o, "@odata.type",
			       json_object_new_string("#AggregationSource.v1_5_0.AggregationSource"));
	json_object_object_add(o, "Id", json_object_new_string(name));
	json_object_object_add(o, "Name", json_object_new_string(name));
	json_object_object_add(o, "HostName", json_object_new_string(host));
	json_object_object_add(o, "UserName", user ? json_object_new_string(user) : NULL);
	json_object_object_add(o, "Password", NULL);
	st = json_object_new_object();
	json_object_object_add(st, "State", json_object_new_string(state));
	/* A source without a login that shows nothing (a BMC that wants one)
	 * is not healthy: it serves, but nothing useful. */
	json_object_object_add(st, "Health", json_object_new_string(
		strcmp(state, "Enabled") != 0 ? "Critical" : user || n_members ? "OK" : "Warning"));
	json_object_object_add(o, "Status", st);
	links = json_object_new_object();
	arr = json_object_new_array();
	for (size_t i = 0; i < n_members; i++) {
		struct json_object *l = json_object_new_object();

		json_object_object_add(l, "@odata.id", json_object_new_string(members[i]));
		json_object_array_add(arr, l);
	}
	json_object_object_add(links, "ResourcesAccessed", arr);
	json_object_object_add(o, "Links", links);
	r = rf_tree_install(t, p, uri, o, NULL, rf_tree_generation(t));
	return r < 0 && r != -ESTALE ? r : 0;
}

/* ---- bodies as sources send them ------------------------------------------ */

/* Parse text as a resource body: a JSON object nested at most
 * RF_MAX_JSON_DEPTH deep. New reference or NULL. */
struct json_object *rf_parse_object(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(RF_MAX_JSON_DEPTH);
	struct json_object *o;

	if (!tok || len > INT_MAX) {
		json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

bool rf_body_claim_id(struct json_object *body, const char *uri, char *ret_claim, size_t size)
{
	struct json_object *id;
	_cleanup_free_ char *norm = NULL;
	bool ok;

	if (!json_object_object_get_ex(body, "@odata.id", &id) ||
	    !json_object_is_type(id, json_type_string)) {
		snprintf(ret_claim, size, "%s", "");
		return false;
	}
	if (!(norm = strdup(json_object_get_string(id))))
		return false;
	ok = strcmp(rf_uri_normalize(norm), uri) == 0;
	snprintf(ret_claim, size, "%s", json_object_get_string(id));
	return ok;
}
