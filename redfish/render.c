/* render.c — turn one resource's JSON body into immutable bytes: the document
 * (index.json, the HTTP body) and the flat list of entries the mount shows.
 *
 * Called by tree.c without the tree lock, on the installing thread, with a
 * body nobody else touches; the result is never modified again and is shared
 * through its refcount (readers copy or serve bytes without any lock).
 *
 * The mapping is DESIGN.md's table: scalars are files holding the value and
 * "\n", null an empty file, objects directories, links symlinks (or the
 * sub-resource's directory when the link points at the same relative
 * position below the resource), arrays of scalars files with one element a
 * line, other arrays directories 0, 1, ...; annotations only in index.json;
 * Actions/#T.Name the file Actions/T.Name listing allowable values. A value
 * keeps its previous mtime when its bytes did not change. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RF_JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

const char *rf_uri_to_path(const char *uri)
{
	size_t n = strlen(RF_ROOT);

	if (strncmp(uri, RF_ROOT, n) != 0)
		return NULL;
	if (uri[n] == '\0')
		return uri + n;
	if (uri[n] != '/')
		return NULL;
	return uri + n + 1;
}

char *rf_relative_link(const char *link_path, const char *target_path)
{
	/* The link lives in dirname(link_path); walk up from there to the
	 * common prefix, then down to target. */
	const char *slash = strrchr(link_path, '/');
	size_t dirlen = slash ? (size_t)(slash - link_path) : 0;
	size_t common = 0, i = 0, ups = 0;
	char *out, *p;

	/* Longest common prefix of whole components of dir and target. */
	for (;;) {
		bool dir_end = i == dirlen;
		bool tgt_end = target_path[i] == '\0';

		if (dir_end || link_path[i] == '/') {
			if (tgt_end || target_path[i] == '/')
				common = i;
			if (dir_end)
				break;
		}
		if (tgt_end || link_path[i] != target_path[i])
			break;
		i++;
	}
	/* Components of dir below the common prefix. */
	if (dirlen > common) {
		ups = 1;
		for (size_t j = common + (common ? 1 : 0); j < dirlen; j++)
			if (link_path[j] == '/')
				ups++;
	}
	const char *rest = target_path + common;

	if (*rest == '/')
		rest++;
	out = malloc(ups * 3 + strlen(rest) + 2);
	if (!out)
		return NULL;
	p = out;
	for (size_t j = 0; j < ups; j++) {
		memcpy(p, "../", 3);
		p += 3;
	}
	strcpy(p, rest);
	if (*out == '\0')
		strcpy(out, ".");
	else if (p > out && *rest == '\0')
		p[-1] = '\0';     /* "../../" -> "../.." */
	return out;
}

static bool is_annotation(const char *key)
{
	return strchr(key, '@') != NULL;
}

static bool valid_name(const char *key)
{
	return *key && strcmp(key, ".") != 0 && strcmp(key, "..") != 0 && !strchr(key, '/') &&
	       strcmp(key, "index.json") != 0;
}

/* A link is an object whose keys are all @odata.* and which has a string
 * @odata.id. Returns the target or NULL. */
static const char *link_target(struct json_object *o)
{
	const char *target = NULL;

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_foreach(o, k, v) {
		if (strncmp(k, "@odata.", 7) != 0)
			return NULL;
		if (strcmp(k, "@odata.id") == 0) {
			if (!json_object_is_type(v, json_type_string))
				return NULL;
			target = json_object_get_string(v);
		}
	}
	return target;
}

static bool is_scalar(struct json_object *v)
{
	return !v || (!json_object_is_type(v, json_type_object) && !json_object_is_type(v, json_type_array));
}

/* ---- the builder ------------------------------------------------------------ */

struct builder {
	const char *uri;
	const char *res_path;                  /* mount path of the resource */
	const struct rf_writable_set *writable;
	struct json_object *body;
	const struct rf_render *prev;
	struct timespec now;
	struct rf_node *nodes;
	size_t n, cap;
	char **subs;        /* positions (rels) of sub-resources links point at */
	size_t n_subs;
	int err;
};

static char *join_rel(const char *parent, const char *name)
{
	char *s;

	if (asprintf(&s, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		return NULL;
	return s;
}

/* Append a node; returns its index or -1 (b->err set). Takes rel and data. */
static ssize_t add_node(struct builder *b, char *rel, enum rf_kind kind, char *data, size_t size)
{
	struct rf_node *nd;

	if (!rel || (kind != RF_KIND_DIR && !data)) {
		free(rel);
		free(data);
		b->err = -ENOMEM;
		return -1;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 32;
		struct rf_node *nn = realloc(b->nodes, ncap * sizeof(*nn));

		if (!nn) {
			free(rel);
			free(data);
			b->err = -ENOMEM;
			return -1;
		}
		b->nodes = nn;
		b->cap = ncap;
	}
	nd = &b->nodes[b->n];
	memset(nd, 0, sizeof(*nd));
	nd->rel = rel;
	nd->name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	nd->kind = kind;
	nd->data = data;
	nd->size = size;
	nd->mtime = b->now;
	return (ssize_t)b->n++;
}

static char *scalar_text(struct json_object *v, size_t *ret_len)
{
	const char *s;
	char *out;

	if (!v) {
		*ret_len = 0;
		return strdup("");
	}
	if (json_object_is_type(v, json_type_string))
		s = json_object_get_string(v);
	else
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (asprintf(&out, "%s\n", s) < 0)
		return NULL;
	*ret_len = strlen(out);
	return out;
}

static void add_file(struct builder *b, char *rel, struct json_object *v)
{
	size_t len = 0;
	char *text = scalar_text(v, &len);

	add_node(b, rel, RF_KIND_FILE, text, len);
}

static void add_array_file(struct builder *b, char *rel, struct json_object *arr)
{
	size_t n = json_object_array_length(arr), len = 0;
	char *text = strdup("");

	for (size_t i = 0; text && i < n; i++) {
		size_t l;
		char *line = scalar_text(json_object_array_get_idx(arr, i), &l);
		char *nt;

		if (!line || l == 0) {   /* null element: an empty line */
			free(line);
			line = strdup("\n");
			l = 1;
			if (!line)
				break;
		}
		nt = realloc(text, len + l + 1);
		if (!nt) {
			free(line);
			break;
		}
		text = nt;
		memcpy(text + len, line, l + 1);
		len += l;
		free(line);
	}
	add_node(b, rel, RF_KIND_FILE, text, len);
}

/* Where a link to target sits in the mount, relative to this resource: the
 * path below the resource if target lies under it, else NULL. */
static const char *below_resource(const struct builder *b, const char *target)
{
	size_t n = strlen(b->uri);

	if (strncmp(target, b->uri, n) == 0 && target[n] == '/' && target[n + 1])
		return target + n + 1;
	return NULL;
}

static void add_link(struct builder *b, char *rel, const char *target)
{
	char uri[1024];
	const char *tpath, *below;
	char *link_path, *rtarget;
	size_t n = strcspn(target, "#");

	if (n >= sizeof(uri) || n == 0) {
		free(rel);
		return;
	}
	memcpy(uri, target, n);
	uri[n] = '\0';
	while (n > 1 && uri[n - 1] == '/')
		uri[--n] = '\0';
	below = below_resource(b, uri);
	if (below && strcmp(below, rel) != 0) {
		/* A sub-resource elsewhere below: its own position becomes its
		 * directory (resolve_subs), this link points there. */
		char **ns = realloc(b->subs, (b->n_subs + 1) * sizeof(char *));

		if (!ns || !(ns[b->n_subs] = strdup(below))) {
			if (ns)
				b->subs = ns;
			b->err = -ENOMEM;
			free(rel);
			return;
		}
		b->subs = ns;
		b->n_subs++;
	}
	if (below && strcmp(below, rel) == 0) {
		ssize_t i = add_node(b, rel, RF_KIND_DIR, NULL, 0);

		if (i >= 0) {
			b->nodes[i].child_uri = strdup(uri);
			if (!b->nodes[i].child_uri)
				b->err = -ENOMEM;
		}
		return;
	}
	tpath = rf_uri_to_path(uri);
	if (!tpath) {   /* not in this service: nothing to point at */
		free(rel);
		return;
	}
	link_path = join_rel(b->res_path, rel);
	rtarget = link_path ? rf_relative_link(link_path, tpath) : NULL;
	free(link_path);
	add_node(b, rel, RF_KIND_LINK, rtarget, rtarget ? strlen(rtarget) : 0);
}

static void walk_value(struct builder *b, char *rel, struct json_object *v);

static void walk_object(struct builder *b, const char *rel, struct json_object *obj, bool in_actions)
{
	json_object_object_foreach(obj, key, val) {
		const char *name = key;

		if (b->err)
			return;
		if (in_actions && key[0] == '#') {
			name = key + 1;
			if (!valid_name(name) || !json_object_is_type(val, json_type_object))
				continue;
			/* The action file: its allowable values, one a line;
			 * several parameters as Param=Value. */
			size_t nparams = 0, len = 0;
			char *text = strdup("");

			json_object_object_foreach(val, pk, pv) {
				if (strstr(pk, "@Redfish.AllowableValues") && json_object_is_type(pv, json_type_array))
					nparams++;
			}
			json_object_object_foreach(val, ak, av) {
				const char *at = strstr(ak, "@Redfish.AllowableValues");

				if (!at || !json_object_is_type(av, json_type_array))
					continue;
				for (size_t i = 0; text && i < json_object_array_length(av); i++) {
					struct json_object *e = json_object_array_get_idx(av, i);
					char *line, *nt;
					int l;

					if (!json_object_is_type(e, json_type_string))
						continue;
					l = nparams > 1 ? asprintf(&line, "%.*s=%s\n", (int)(at - ak), ak,
								   json_object_get_string(e))
							: asprintf(&line, "%s\n", json_object_get_string(e));
					if (l < 0)
						break;
					nt = realloc(text, len + (size_t)l + 1);
					if (!nt) {
						free(line);
						break;
					}
					text = nt;
					memcpy(text + len, line, (size_t)l + 1);
					len += (size_t)l;
					free(line);
				}
			}
			char *arel = join_rel(rel, name);
			const struct rf_writable *aw = nparams == 0 && arel ?
				rf_writable_find(b->writable, arel) : NULL;

			/* Values the provider knows from elsewhere (an
			 * ActionInfo resource) when the action has none. */
			for (size_t v = 0; aw && aw->values && aw->values[v] && text; v++) {
				size_t l = strlen(aw->values[v]);
				char *nt = realloc(text, len + l + 2);

				if (!nt)
					break;
				text = nt;
				memcpy(text + len, aw->values[v], l);
				text[len + l] = '\n';
				text[len + l + 1] = '\0';
				len += l + 1;
			}
			ssize_t i = add_node(b, arel, RF_KIND_FILE, text, len);

			if (i >= 0)
				b->nodes[i].writable = true;
			continue;
		}
		if (is_annotation(key) || !valid_name(key))
			continue;
		/* Collection members below the collection are its subdirectories. */
		if (!*rel && strcmp(key, "Members") == 0 && json_object_is_type(val, json_type_array)) {
			bool all_children = true;

			for (size_t i = 0; i < json_object_array_length(val); i++) {
				/* An expanded member ($expand, or a mockup's inline
				 * LogEntries) is still the resource its @odata.id names. */
				struct json_object *e = json_object_array_get_idx(val, i), *id;
				const char *t = link_target(e);

				if (!t && json_object_is_type(e, json_type_object) &&
				    json_object_object_get_ex(e, "@odata.id", &id) &&
				    json_object_is_type(id, json_type_string))
					t = json_object_get_string(id);
				const char *below = t ? below_resource(b, t) : NULL;

				if (below && !strchr(below, '/') && valid_name(below)) {
					char *crel = strdup(below);

					add_link(b, crel, t);
				} else {
					all_children = false;
				}
			}
			if (all_children)
				continue;
		}
		walk_value(b, join_rel(rel, name), val);
	}
}

static void walk_value(struct builder *b, char *rel, struct json_object *v)
{
	const char *target;

	if (!rel) {
		b->err = -ENOMEM;
		return;
	}
	if (is_scalar(v)) {
		add_file(b, rel, v);
	} else if ((target = link_target(v))) {
		add_link(b, rel, target);
	} else if (json_object_is_type(v, json_type_object)) {
		bool in_actions = strcmp(rel, "Actions") == 0;
		ssize_t i = add_node(b, rel, RF_KIND_DIR, NULL, 0);

		if (i >= 0)
			walk_object(b, b->nodes[i].rel, v, in_actions);
	} else {
		size_t n = json_object_array_length(v);
		bool scalars = true;

		for (size_t i = 0; i < n; i++)
			if (!is_scalar(json_object_array_get_idx(v, i)))
				scalars = false;
		if (scalars) {
			add_array_file(b, rel, v);
			return;
		}
		ssize_t d = add_node(b, rel, RF_KIND_DIR, NULL, 0);

		for (size_t i = 0; d >= 0 && i < n && !b->err; i++) {
			char idx[24];

			snprintf(idx, sizeof(idx), "%zu", i);
			walk_value(b, join_rel(b->nodes[d].rel, idx), json_object_array_get_idx(v, i));
		}
	}
}

/* Every position below the resource that a link points at is that
 * sub-resource's directory: a node already there (a link, as in crossed
 * links) becomes the directory; a free position whose parent directory
 * exists gets one. */
static void resolve_subs(struct builder *b)
{
	for (size_t s = 0; s < b->n_subs && !b->err; s++) {
		const char *rel = b->subs[s];
		const char *slash = strrchr(rel, '/');
		struct rf_node *nd = NULL;
		bool parent_dir = !slash;
		char *uri;

		for (size_t i = 0; i < b->n; i++) {
			if (strcmp(b->nodes[i].rel, rel) == 0)
				nd = &b->nodes[i];
			else if (slash && b->nodes[i].kind == RF_KIND_DIR && !b->nodes[i].child_uri &&
				 (size_t)(slash - rel) == strlen(b->nodes[i].rel) &&
				 strncmp(b->nodes[i].rel, rel, (size_t)(slash - rel)) == 0)
				parent_dir = true;
		}
		if (nd && (nd->kind == RF_KIND_DIR))
			continue;
		if (asprintf(&uri, "%s/%s", b->uri, rel) < 0) {
			b->err = -ENOMEM;
			return;
		}
		if (nd) {
			free(nd->data);
			nd->data = NULL;
			nd->size = 0;
			nd->kind = RF_KIND_DIR;
			nd->child_uri = uri;
		} else if (parent_dir && valid_name(slash ? slash + 1 : rel)) {
			ssize_t i = add_node(b, strdup(rel), RF_KIND_DIR, NULL, 0);

			if (i >= 0)
				b->nodes[i].child_uri = uri;
			else
				free(uri);
		} else {
			free(uri);
		}
	}
}

/* ---- finishing: index, children, mtimes ------------------------------------ */

static const char *parent_rel(const char *rel, char *buf, size_t size)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(buf, rel, n);
	buf[n] = '\0';
	return buf;
}

static int cmp_child(const void *a, const void *b, void *nodes)
{
	const struct rf_node *n = nodes;

	return strcmp(n[*(const size_t *)a].name, n[*(const size_t *)b].name);
}

static bool node_same(const struct rf_node *a, const struct rf_node *b)
{
	if (a->kind != b->kind || a->size != b->size || a->writable != b->writable)
		return false;
	if (a->kind == RF_KIND_DIR)
		return (!a->child_uri) == (!b->child_uri) &&
		       (!a->child_uri || strcmp(a->child_uri, b->child_uri) == 0);
	return memcmp(a->data, b->data, a->size) == 0;
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

static int finish(struct builder *b, struct rf_render *r)
{
	char pbuf[1024];

	r->index = strmap_new();
	if (!r->index)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		/* A name rendered twice (a property and a member) keeps the first. */
		if (strmap_get(r->index, b->nodes[i].rel))
			continue;
		if (strmap_put(r->index, b->nodes[i].rel, (void *)(uintptr_t)(i + 1)) < 0)
			return -ENOMEM;
	}
	/* Children lists. Count first, then fill. */
	for (size_t i = 1; i < b->n; i++) {
		size_t p = (size_t)(uintptr_t)strmap_get(r->index, parent_rel(b->nodes[i].rel, pbuf, sizeof(pbuf)));

		if (p && (size_t)(uintptr_t)strmap_get(r->index, b->nodes[i].rel) == i + 1)
			b->nodes[p - 1].n_children++;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (b->nodes[i].n_children) {
			b->nodes[i].children = calloc(b->nodes[i].n_children, sizeof(size_t));
			if (!b->nodes[i].children)
				return -ENOMEM;
			b->nodes[i].n_children = 0;
		}
	}
	for (size_t i = 1; i < b->n; i++) {
		size_t p = (size_t)(uintptr_t)strmap_get(r->index, parent_rel(b->nodes[i].rel, pbuf, sizeof(pbuf)));

		if (p && (size_t)(uintptr_t)strmap_get(r->index, b->nodes[i].rel) == i + 1) {
			struct rf_node *pn = &b->nodes[p - 1];

			pn->children[pn->n_children++] = i;
		}
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->nodes[i].n_children > 1)
			qsort_r(b->nodes[i].children, b->nodes[i].n_children, sizeof(size_t), cmp_child, b->nodes);
	/* mtimes: unchanged values keep theirs; directories take the newest of
	 * their children (children come after parents, so walk backwards). */
	for (size_t i = 0; i < b->n; i++) {
		struct rf_node *nd = &b->nodes[i];
		const struct rf_node *old = b->prev ? rf_render_find(b->prev, nd->rel) : NULL;

		if (old && node_same(nd, old))
			nd->mtime = old->mtime;
	}
	for (size_t i = b->n; i-- > 0;) {
		struct rf_node *nd = &b->nodes[i];

		if (nd->kind != RF_KIND_DIR || !nd->n_children)
			continue;
		struct timespec newest = b->nodes[nd->children[0]].mtime;

		for (size_t c = 1; c < nd->n_children; c++)
			if (ts_cmp(b->nodes[nd->children[c]].mtime, newest) > 0)
				newest = b->nodes[nd->children[c]].mtime;
		nd->mtime = newest;
	}
	return 0;
}

bool rf_power_state_writable(struct json_object *body, const char *rel)
{
	struct json_object *actions;

	if (strcmp(rel, "PowerState") != 0 || !json_object_object_get_ex(body, "Actions", &actions))
		return false;
	return json_object_object_get_ex(actions, "#Outlet.PowerControl", NULL) ||
	       json_object_object_get_ex(actions, "#ComputerSystem.Reset", NULL);
}

const char *rf_render_json(struct json_object *body)
{
	return json_object_to_json_string_ext(body, RF_JSON_FLAGS);
}

bool rf_render_same_json(const struct rf_render *prev, const char *json)
{
	size_t n = strlen(json);

	return prev && prev->doc.len == n + 1 && memcmp(prev->json, json, n) == 0;
}

struct rf_render *rf_render_new(const char *uri, struct json_object *body, const char *json,
				const struct rf_writable_set *writable,
				const struct rf_render *prev, int *ret_err)
{
	struct builder b = {
		.uri = uri, .writable = writable, .body = body, .prev = prev,
		.now = now_realtime(),
	};
	struct rf_render *r;
	struct json_object *type;
	size_t jlen;
	int err = -ENOMEM;

	if (!json_object_is_type(body, json_type_object) || !(b.res_path = rf_uri_to_path(uri))) {
		*ret_err = -EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto fail;
	atomic_init(&r->refs, 1);
	jlen = strlen(json);
	r->json = malloc(jlen + 2);
	r->uri = strdup(uri);
	r->odata_type = strdup(json_object_object_get_ex(body, "@odata.type", &type) &&
			       json_object_is_type(type, json_type_string) ? json_object_get_string(type) : "");
	if (!r->json || !r->uri || !r->odata_type)
		goto fail;
	memcpy(r->json, json, jlen);
	r->json[jlen] = '\n';
	r->json[jlen + 1] = '\0';

	add_node(&b, strdup(""), RF_KIND_DIR, NULL, 0);
	add_node(&b, strdup("index.json"), RF_KIND_FILE, strndup(r->json, jlen + 1), jlen + 1);
	walk_object(&b, "", body, false);
	resolve_subs(&b);
	for (size_t i = 0; i < b.n_subs; i++)
		free(b.subs[i]);
	free(b.subs);
	if (b.err) {
		err = b.err;
		goto fail;
	}
	for (size_t i = 0; i < b.n; i++) {
		struct rf_node *nd = &b.nodes[i];

		if (nd->kind == RF_KIND_FILE && (rf_writable_find(writable, nd->rel) ||
						 rf_power_state_writable(body, nd->rel)))
			nd->writable = true;
	}
	err = finish(&b, r);
	if (err < 0)
		goto fail;
	r->nodes = b.nodes;
	r->n_nodes = b.n;
	/* The document takes the newest mtime of its values. */
	r->doc.mtime = b.nodes[0].mtime;
	if (prev && strcmp(prev->json, r->json) == 0)
		r->doc.mtime = prev->doc.mtime;
	b.nodes[1].mtime = r->doc.mtime;
	r->doc.json = r->json;
	r->doc.len = jlen + 1;
	r->doc.uri = r->uri;
	r->doc.odata_type = r->odata_type;
	for (size_t i = 0; writable && i < writable->n; i++)
		if (!rf_writable_is_action(&writable->v[i]))
			r->doc.patchable = true;
	return r;
fail:
	if (r) {
		r->nodes = b.nodes;
		r->n_nodes = b.n;
		rf_render_unref(r);
	} else {
		for (size_t i = 0; i < b.n; i++) {
			free(b.nodes[i].rel);
			free(b.nodes[i].data);
			free(b.nodes[i].child_uri);
			free(b.nodes[i].children);
		}
		free(b.nodes);
	}
	*ret_err = err;
	return NULL;
}

struct rf_render *rf_render_ref(struct rf_render *r)
{
	if (r)
		atomic_fetch_add(&r->refs, 1);
	return r;
}

struct rf_render *rf_render_unref(struct rf_render *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return NULL;
	for (size_t i = 0; i < r->n_nodes; i++) {
		free(r->nodes[i].rel);
		free(r->nodes[i].data);
		free(r->nodes[i].child_uri);
		free(r->nodes[i].children);
	}
	free(r->nodes);
	strmap_free(r->index);
	free(r->json);
	free(r->uri);
	free(r->odata_type);
	free(r);
	return NULL;
}

const struct rf_node *rf_render_find(const struct rf_render *r, const char *rel)
{
	size_t i = (size_t)(uintptr_t)strmap_get(r->index, rel);

	return i ? &r->nodes[i - 1] : NULL;
}

void rf_render_diff(const struct rf_render *a, const struct rf_render *b,
		    void (*fn)(void *ud, const char *rel), void *ud)
{
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct rf_node *o = b ? rf_render_find(b, a->nodes[i].rel) : NULL;

		if (!o || !node_same(&a->nodes[i], o) || ts_cmp(a->nodes[i].mtime, o->mtime) != 0)
			fn(ud, a->nodes[i].rel);
	}
	for (size_t i = 0; b && i < b->n_nodes; i++)
		if (!rf_render_find(a, b->nodes[i].rel))
			fn(ud, b->nodes[i].rel);
}

/* ---- writable sets ------------------------------------------------------------ */

struct rf_writable_set *rf_writable_set_new(const struct rf_writable *w)
{
	struct rf_writable_set *s = calloc(1, sizeof(*s));
	size_t n = 0;

	if (!s)
		return NULL;
	while (w && w[n].path)
		n++;
	s->v = calloc(n + 1, sizeof(*s->v));
	if (!s->v)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t nv = 0;
		char **vals = NULL;

		s->v[i].path = strdup(w[i].path);
		if (!s->v[i].path)
			goto fail;
		s->n = i + 1;
		s->v[i].max_len = w[i].max_len ? w[i].max_len : 255;
		if (!w[i].values)
			continue;
		while (w[i].values[nv])
			nv++;
		vals = calloc(nv + 1, sizeof(char *));
		if (!vals)
			goto fail;
		s->v[i].values = (const char *const *)vals;
		for (size_t j = 0; j < nv; j++)
			if (!(vals[j] = strdup(w[i].values[j])))
				goto fail;
	}
	return s;
fail:
	return rf_writable_set_free(s);
}

struct rf_writable_set *rf_writable_set_free(struct rf_writable_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; s->v && i < s->n; i++) {
		free((char *)s->v[i].path);
		if (s->v[i].values) {
			for (size_t j = 0; s->v[i].values[j]; j++)
				free((char *)s->v[i].values[j]);
			free((char **)s->v[i].values);
		}
	}
	free(s->v);
	free(s);
	return NULL;
}

bool rf_writable_is_action(const struct rf_writable *w)
{
	return strncmp(w->path, "Actions/", 8) == 0;
}

const struct rf_writable *rf_writable_find(const struct rf_writable_set *s, const char *rel)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->v[i].path, rel) == 0)
			return &s->v[i];
	return NULL;
}
