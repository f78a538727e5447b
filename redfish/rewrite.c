/* rewrite.c — URI rewriting between a remote Redfish service and the local
 * tree, as OpenBMC's aggregator does it.
 *
 * A source named NAME aggregates a set of collections (Systems, Chassis,
 * Managers, PowerEquipment/RackPDUs, ...). Locally, the member segment of
 * every URI below one of them gets "NAME_" in front:
 *   remote /redfish/v1/Systems/437XR/Bios  <->  local /redfish/v1/Systems/rack1_437XR/Bios
 * Everything else (the collections themselves, SessionService, ...) keeps
 * its URI, and so does an absolute URL that names another origin (a BMC
 * links a PDU by its own https://pdu/... URL; that is not one of ours). The longest matching collection wins, so PowerEquipment/RackPDUs
 * members are prefixed below RackPDUs, not below PowerEquipment.
 *
 * Pure functions over a struct rf_rewrite that is built once (before the
 * source is shared between threads) and then only read: no locks. */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rf_rewrite_init(struct rf_rewrite *rw, const char *name)
{
	memset(rw, 0, sizeof(*rw));
	if (name && !(rw->name = strdup(name)))
		return -ENOMEM;
	return 0;
}

void rf_rewrite_done(struct rf_rewrite *rw)
{
	for (size_t i = 0; i < rw->n_colls; i++)
		free(rw->colls[i]);
	free(rw->colls);
	free(rw->name);
	free(rw->origin);
	memset(rw, 0, sizeof(*rw));
}

bool rf_rewrite_is_collection(const struct rf_rewrite *rw, const char *uri)
{
	for (size_t i = 0; i < rw->n_colls; i++)
		if (strcmp(rw->colls[i], uri) == 0)
			return true;
	return false;
}

int rf_rewrite_add_collection(struct rf_rewrite *rw, const char *uri)
{
	char **v;
	size_t i;

	if (strncmp(uri, RF_ROOT "/", strlen(RF_ROOT) + 1) != 0 || strchr(uri, '#') ||
	    strchr(uri, '?') || uri[strlen(uri) - 1] == '/')
		return -EINVAL;
	if (rf_rewrite_is_collection(rw, uri))
		return 0;
	v = realloc(rw->colls, (rw->n_colls + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rw->colls = v;
	/* Keep longest first so the deepest collection matches first. */
	for (i = 0; i < rw->n_colls && strlen(rw->colls[i]) >= strlen(uri); i++)
		;
	memmove(v + i + 1, v + i, (rw->n_colls - i) * sizeof(*v));
	if (!(v[i] = strdup(uri))) {
		memmove(v + i, v + i + 1, (rw->n_colls - i) * sizeof(*v));
		return -ENOMEM;
	}
	rw->n_colls++;
	return 0;
}

char *rf_uri_normalize(char *s)
{
	size_t n = strlen(s);

	/* Every trailing '/', so normalising twice changes nothing ("a//"). */
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* The path part of uri: past "scheme://host[:port]" if there is one. */
static const char *skip_origin(const char *uri)
{
	const char *p = strstr(uri, "://");

	if (!p || p != uri + strcspn(uri, ":/?#"))
		return uri;
	p = p + 3 + strcspn(p + 3, "/?#");
	return p;
}

/* "scheme://host[:port]" (n bytes) in canonical form: lower case, without
 * the scheme's default port. false if it does not fit or is not one. */
static bool canonical_origin(const char *o, size_t n, char *buf, size_t size)
{
	const char *host = memmem(o, n, "://", 3);
	size_t sl, hl;

	if (!host || n >= size)
		return false;
	sl = host - o;
	host += 3;
	hl = o + n - host;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)o[i]);
	buf[n] = '\0';
	if ((sl == 5 && strncmp(buf, "https", 5) == 0 && hl > 4 && strcmp(buf + n - 4, ":443") == 0) ||
	    (sl == 4 && strncmp(buf, "http", 4) == 0 && hl > 3 && strcmp(buf + n - 3, ":80") == 0))
		*strrchr(buf, ':') = '\0';
	return true;
}

int rf_rewrite_set_origin(struct rf_rewrite *rw, const char *origin)
{
	char buf[300];
	const char *path;

	if (!origin)
		return -EINVAL;
	path = skip_origin(origin);
	if (path == origin || *path || !canonical_origin(origin, path - origin, buf, sizeof(buf)))
		return -EINVAL;
	free(rw->origin);
	return (rw->origin = strdup(buf)) ? 0 : -ENOMEM;
}

/* Whether the origin part of uri (n bytes) is the source's own. */
static bool own_origin(const struct rf_rewrite *rw, const char *uri, size_t n)
{
	char buf[300];

	return rw->origin && canonical_origin(uri, n, buf, sizeof(buf)) &&
	       strcmp(buf, rw->origin) == 0;
}

/* Split path into the part before the first '#' or '?' and the rest. */
static size_t path_len(const char *path)
{
	return strcspn(path, "#?");
}

/* The collection of rw that uri (path part of length n) lies below with at
 * least one more segment, or NULL. */
static const char *match_coll(const struct rf_rewrite *rw, const char *uri, size_t n)
{
	for (size_t i = 0; i < rw->n_colls; i++) {
		size_t l = strlen(rw->colls[i]);

		if (n > l + 1 && strncmp(uri, rw->colls[i], l) == 0 && uri[l] == '/')
			return rw->colls[i];
	}
	return NULL;
}

char *rf_rewrite_uri_in(const struct rf_rewrite *rw, const char *uri)
{
	const char *path = skip_origin(uri);
	size_t n = path_len(path), l;
	const char *coll;
	char *out;

	if (path != uri && !own_origin(rw, uri, path - uri))
		return strdup(uri);     /* another service's URL: not ours */
	/* Drop the trailing '/'s of the path part ("/redfish/v1/" -> "/redfish/v1"),
	 * all of them, so that rewriting what came out changes nothing. */
	size_t pn = n;

	while (pn > 1 && path[pn - 1] == '/')
		pn--;

	coll = rw->name ? match_coll(rw, path, pn) : NULL;
	if (!coll) {
		if (asprintf(&out, "%.*s%s", (int)pn, path, path + n) < 0)
			return NULL;
		return out;
	}
	l = strlen(coll);
	if (asprintf(&out, "%.*s/%s_%.*s%s", (int)l, path, rw->name, (int)(pn - l - 1),
		     path + l + 1, path + n) < 0)
		return NULL;
	return out;
}

char *rf_rewrite_uri_out(const struct rf_rewrite *rw, const char *uri)
{
	size_t n = path_len(uri), l, nl;
	const char *coll;
	char *out;

	if (!rw->name)
		return strdup(uri);
	coll = match_coll(rw, uri, n);
	if (!coll)
		return NULL;
	l = strlen(coll);
	nl = strlen(rw->name);
	/* The member segment must be "NAME_" followed by a non-empty remote id. */
	if (n < l + 1 + nl + 2 || strncmp(uri + l + 1, rw->name, nl) != 0 || uri[l + 1 + nl] != '_' ||
	    uri[l + 2 + nl] == '/' || uri[l + 2 + nl] == '#' || uri[l + 2 + nl] == '?')
		return NULL;
	if (asprintf(&out, "%.*s/%s", (int)l, uri, uri + l + 2 + nl) < 0)
		return NULL;
	return out;
}

static bool is_uri_key(const char *key)
{
	size_t n = strlen(key);

	if (strcmp(key, "@odata.id") == 0 || strcmp(key, "target") == 0 ||
	    strcmp(key, "@Redfish.ActionInfo") == 0 || strcmp(key, "Members@odata.nextLink") == 0)
		return true;
	return n > 3 && (strcmp(key + n - 3, "Uri") == 0 || strcmp(key + n - 3, "URI") == 0);
}

static bool is_redfish_path(const char *s, bool in)
{
	const char *p = in ? skip_origin(s) : s;

	return strncmp(p, RF_ROOT, strlen(RF_ROOT)) == 0 &&
	       strchr("/#?", p[strlen(RF_ROOT)]) != NULL;
}

static int rewrite_value(const struct rf_rewrite *rw, struct json_object *obj, const char *key,
			 struct json_object *val, bool in)
{
	const char *s = json_object_get_string(val);
	char *out;

	if (!is_redfish_path(s, in))
		return 0;
	out = in ? rf_rewrite_uri_in(rw, s) : rf_rewrite_uri_out(rw, s);
	if (!out)
		return in ? -ENOMEM : 0;
	if (strcmp(out, s) != 0) {
		/* Replacing the value of an existing key keeps the key's position. */
		json_object_object_add(obj, key, json_object_new_string(out));
	}
	free(out);
	return 0;
}

int rf_rewrite_body(const struct rf_rewrite *rw, struct json_object *body, bool in)
{
	int r;

	switch (json_object_get_type(body)) {
	case json_type_object: {
		json_object_object_foreach(body, key, val) {
			if (json_object_is_type(val, json_type_string)) {
				if (is_uri_key(key) && (r = rewrite_value(rw, body, key, val, in)) < 0)
					return r;
			} else if ((r = rf_rewrite_body(rw, val, in)) < 0) {
				return r;
			}
		}
		return 0;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(body); i++)
			if ((r = rf_rewrite_body(rw, json_object_array_get_idx(body, i), in)) < 0)
				return r;
		return 0;
	default:
		return 0;
	}
}
