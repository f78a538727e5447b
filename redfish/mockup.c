/* mockup.c — a directory of index.json files as a provider (writable
 * properties and the AggregationSource of a named mockup from source.c).
 *
 * rf_mockup_load() walks DIR (without following symlinks, so the aliases of a
 * cp -a backup of the mount are skipped), parses every DIR/<rel>/index.json
 * as /redfish/v1/<rel> (whatever its "@odata.id" claims: a wrong or missing
 * one is set to that URI and reported through the tree; a file that is no
 * JSON object is left out and reported), drops "@Redfish.Copyright" and
 * installs it. Without a name the mockup is the service's own tree: the
 * ServiceRoot's links (and its UUID) become the tree's, and collections whose
 * members are their direct children become tree-maintained collections
 * (merging with the tree's own Chassis, Managers, ...); what another
 * provider installed first (the HTTP server's SessionService over a
 * backup's copy) is left to it, with everything below it, and the mockup's
 * PowerEquipment collections are linked from the tree's. With a name it is a
 * source like a BMC: only the members of its top-level collections are
 * installed, as NAME_<id>, with every URI rewritten (rewrite.c).
 *
 * The provider keeps its own copy of every body (local URIs) so PATCH and
 * actions can change it like a BMC would: the new body is installed before
 * the call returns. One mutex guards the copies; it is held across
 * rf_tree_install (the tree never calls providers from inside install). No
 * threads, no I/O after loading. */
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define MOCKUP_MAX_FILE (16u << 20)
#define MOCKUP_MAX_DEPTH 32        /* directories below the ServiceRoot */

/* ---- the mockup provider ------------------------------------------------- */

struct rf_mockup {
	struct rf_tree *tree;
	struct rf_provider provider;
	char provider_name[128];
	struct rf_rewrite rw;
	pthread_mutex_t lock;
	struct strmap *bodies;          /* local URI -> json_object (owned) */
	size_t installed;
};

struct loaded {
	char *uri;                      /* remote (as in the directory) */
	struct json_object *body;
	char *claim;                    /* a wrong @odata.id ("": none), or NULL */
};

struct load_ctx {
	struct loaded *v;
	size_t n, cap;
	struct rf_tree *tree;           /* for reports of the mockup's mistakes */
	const char *source;             /* the provider's name */
};

static int read_file(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > MOCKUP_MAX_FILE) {
		close(fd);
		return -EFBIG;
	}
	if (!(buf = malloc(st.st_size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

/* Parse DIR/<rel>/index.json into ctx as uri (the file's place, whatever
 * its @odata.id claims). A body that claims another @odata.id, or none, is
 * kept with @odata.id set to uri (reported when it is installed); one that
 * is no JSON object is left out and reported. */
static int load_one(struct load_ctx *ctx, int dirfd, const char *uri)
{
	_cleanup_free_ char *data = NULL;
	struct json_object *body;
	char claim[256], *bad_claim = NULL;
	size_t len = 0;
	char *copy;
	bool bad;
	int r;

	r = read_file(dirfd, "index.json", &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !(body = rf_parse_object(data, len))) {
		rf_tree_report_source(ctx->tree, ctx->source, uri,
				      "index.json %s; left out",
				      r == -EFBIG ? "larger than 16 MiB" :
				      r < 0 ? "unreadable" : "is no JSON object (or nested too deep)");
		return 0;
	}
	bad = !rf_body_claim_id(body, uri, claim, sizeof(claim)) &&
	      strcmp(uri, RF_ROOT "/odata") != 0;   /* the OData service document has none */
	if (!(copy = strdup(uri)) || (bad && !(bad_claim = strdup(claim)))) {
		free(copy);
		json_object_put(body);
		return -ENOMEM;
	}
	/* Live services do not carry the copyright; @odata.id is where it is. */
	json_object_object_del(body, "@Redfish.Copyright");
	json_object_object_add(body, "@odata.id", json_object_new_string(copy));
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 256;
		struct loaded *v = realloc(ctx->v, cap * sizeof(*v));

		if (!v) {
			free(copy);
			free(bad_claim);
			json_object_put(body);
			return -ENOMEM;
		}
		ctx->v = v;
		ctx->cap = cap;
	}
	ctx->v[ctx->n++] = (struct loaded){ .uri = copy, .body = body, .claim = bad_claim };
	return 0;
}

static int walk(struct load_ctx *ctx, int dirfd, const char *uri, int depth)
{
	DIR *d;
	struct dirent *de;
	int r;

	if ((r = load_one(ctx, dirfd, uri)) < 0)
		return r;
	if (!(d = fdopendir(dup(dirfd))))
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *child = NULL;
		int fd;

		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;                  /* a symlink (alias) or not a directory */
		if (asprintf(&child, "%s/%s", uri, de->d_name) < 0) {
			close(fd);
			r = -ENOMEM;
			break;
		}
		if (depth + 1 > MOCKUP_MAX_DEPTH) {
			/* Deeper than any Redfish tree: not walked (no loop
			 * can make a directory tree deep, only a long one). */
			rf_tree_report_source(ctx->tree, ctx->source, child,
					      "nested deeper than %d directories; left out",
					      MOCKUP_MAX_DEPTH);
			close(fd);
			continue;
		}
		r = walk(ctx, fd, child, depth + 1);
		close(fd);
		if (r < 0)
			break;
	}
	closedir(d);
	return r < 0 ? r : 0;
}

static struct json_object *find_loaded(struct load_ctx *ctx, const char *uri)
{
	for (size_t i = 0; i < ctx->n; i++)
		if (strcmp(ctx->v[i].uri, uri) == 0)
			return ctx->v[i].body;
	return NULL;
}

static bool is_collection(struct json_object *body)
{
	struct json_object *m;

	return json_object_object_get_ex(body, "Members", &m) &&
	       json_object_is_type(m, json_type_array);
}

/* Whether every member of a collection body is a direct child of uri. */
static bool members_are_children(struct json_object *body, const char *uri)
{
	struct json_object *m;
	size_t l = strlen(uri);

	if (!json_object_object_get_ex(body, "Members", &m))
		return false;
	for (size_t i = 0; i < json_object_array_length(m); i++) {
		const char *x = rf_json_link(json_object_array_get_idx(m, i));

		if (!x || strncmp(x, uri, l) != 0 || x[l] != '/' || !x[l + 1] ||
		    strchr(x + l + 1, '/') || strchr(x + l + 1, '#'))
			return false;
	}
	return true;
}

static int install_copy(struct rf_mockup *m, const char *uri, struct json_object *body)
{
	struct json_object *copy = NULL;
	struct rf_writable *w;
	int r;

	if (json_object_deep_copy(body, &copy, NULL) < 0)
		return -ENOMEM;
	w = rf_writables_for(body);
	r = rf_tree_install(m->tree, &m->provider, uri, copy, w, rf_tree_generation(m->tree));
	rf_writables_free(w);
	return r;
}

/* Tell the tree's reporter that l was filed under its place, not where its
 * @odata.id pointed (local: its local URI). */
static void report_claim(struct rf_mockup *m, const struct loaded *l, const char *local)
{
	if (l->claim)
		rf_tree_report_source(m->tree, m->provider_name, local,
				      "%s/index.json has %s%s; served at its place",
				      l->uri + strlen(RF_ROOT), l->claim[0] ? "@odata.id " : "no @odata.id",
				      l->claim);
}

/* Keep body (stolen) as uri's current state and install it. */
static int keep_and_install(struct rf_mockup *m, const char *uri, struct json_object *body)
{
	struct json_object *old = strmap_get(m->bodies, uri);
	int r;

	if ((r = strmap_put(m->bodies, uri, body)) < 0) {
		json_object_put(body);
		return r;
	}
	json_object_put(old);
	return install_copy(m, uri, body);
}

static bool linked_from(struct json_object *root, const char *uri)
{
	json_object_object_foreach(root, key, val) {
		const char *x = rf_json_link(val);

		(void)key;
		if (x && strcmp(x, uri) == 0)
			return true;
	}
	return false;
}

static bool tree_has(struct rf_tree *t, const char *uri)
{
	int err = 0;
	struct rf_doc *d = rf_tree_get_doc(t, uri, &err);

	rf_doc_unref(d);
	return d != NULL;
}

/* Whether uri lies strictly below one of v. */
static bool below_any(char *const *v, size_t n, const char *uri)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);

		if (strncmp(uri, v[i], l) == 0 && uri[l] == '/')
			return true;
	}
	return false;
}

/* Link every collection a PowerEquipment body (local URIs) links from
 * the tree's own PowerEquipment. */
static int link_power_equipment(struct rf_mockup *m, struct json_object *pe)
{
	json_object_object_foreach(pe, key, val) {
		const char *x = rf_json_link(val);
		int r;

		if (!x || key[0] == '@' || strcmp(key, "Links") == 0)
			continue;
		if ((r = rf_tree_add_power_equipment_link(m->tree, key, x)) < 0)
			return r;
	}
	return 0;
}

/* The service's own tree: root links, collections, resources. */
static int load_own(struct rf_mockup *m, struct load_ctx *ctx, struct json_object *root)
{
	char **refused = NULL, **nr;     /* borrowed from ctx */
	size_t n_refused = 0;
	int r;

	json_object_object_foreach(root, key, val) {
		const char *x = rf_json_link(val);

		if (!x || strcmp(key, "Links") == 0 || key[0] == '@')
			continue;
		r = rf_tree_add_root_link(m->tree, key, x);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	/* The service is the one the mockup (or the backup) shows: clients
	 * tell services apart by the ServiceRoot's UUID, so keep it. */
	const char *uuid = rf_json_str(root, "UUID");

	if (uuid && (r = rf_tree_set_root_property(m->tree, "UUID", json_object_new_string(uuid))) < 0)
		return r;
	for (size_t i = 0; i < ctx->n; i++) {
		struct loaded *l = &ctx->v[i];

		if (strcmp(l->uri, RF_ROOT) == 0)
			continue;
		if (below_any(refused, n_refused, l->uri))
			continue;            /* another source's subtree */
		if (strcmp(l->uri, RF_ROOT "/PowerEquipment") == 0) {
			/* The tree's own: it links the mockup's collections. */
			if ((r = link_power_equipment(m, l->body)) < 0)
				goto out;
			continue;
		}
		if ((r = rf_rewrite_body(&m->rw, l->body, true)) < 0)   /* trailing '/' */
			goto out;
		/* Top-level collections, and those the tree already keeps,
		 * merge with the tree's own; nested ones keep their body. */
		if (is_collection(l->body) && members_are_children(l->body, l->uri) &&
		    (linked_from(root, l->uri) || tree_has(m->tree, l->uri))) {
			const char *type = rf_json_str(l->body, "@odata.type");
			const char *name = rf_json_str(l->body, "Name");

			r = rf_tree_add_collection(m->tree, &m->provider, l->uri, type ? type : "",
						   name ? name : "");
			if (r == -EPERM)
				goto refuse;
			if (r < 0 && r != -EEXIST)
				goto out;
			continue;
		}
		r = keep_and_install(m, l->uri, json_object_get(l->body));
		if (r >= 0) {
			m->installed++;
			report_claim(m, l, l->uri);
			continue;
		}
		json_object_put(strmap_remove(m->bodies, l->uri));
		if (r != -EPERM)
			goto out;
refuse:
		/* Another source provides it (the HTTP server's SessionService
		 * and AccountService over a backup's copies of them): it and
		 * everything below it are that source's. */
		if (!(nr = realloc(refused, (n_refused + 1) * sizeof(*nr)))) {
			r = -ENOMEM;
			goto out;
		}
		refused = nr;
		refused[n_refused++] = l->uri;
	}
	r = 0;
out:
	free(refused);
	return r;
}

/* Collection uri (its loaded body b) of a NAME-aggregated mockup: rewritten
 * as a collection and added to the tree under its Name (else fallback).
 * 0 (also when the tree has it already) or -errno. */
static int add_named_collection(struct rf_mockup *m, const char *uri, struct json_object *b,
				const char *fallback)
{
	const char *type = rf_json_str(b, "@odata.type");
	const char *name = rf_json_str(b, "Name");
	int r;

	if ((r = rf_rewrite_add_collection(&m->rw, uri)) < 0)
		return r;
	r = rf_tree_add_collection(m->tree, &m->provider, uri, type ? type : "",
				   name ? name : fallback);
	return r == -EEXIST ? 0 : r;
}

/* Aggregated as NAME: the members of the top-level collections (and of
 * collections one level below a top-level service, like
 * PowerEquipment/RackPDUs) with everything below them. */
static int load_named(struct rf_mockup *m, struct load_ctx *ctx, struct json_object *root,
		      const char *dir)
{
	char **members = NULL;
	size_t n_members = 0;
	int r = 0;

	json_object_object_foreach(root, key, val) {
		const char *x = rf_json_link(val);
		struct json_object *b;

		if (!x || strcmp(key, "Links") == 0 || !(b = find_loaded(ctx, x)))
			continue;
		if (is_collection(b)) {
			if ((r = add_named_collection(m, x, b, key)) < 0)
				return r;
			r = rf_tree_add_root_link(m->tree, key, x);
			if (r < 0 && r != -EEXIST)
				return r;
			continue;
		}
		if (strcmp(key, "PowerEquipment") != 0)
			continue;
		json_object_object_foreach(b, k2, v2) {
			const char *y = rf_json_link(v2);
			struct json_object *c;

			if (!y || !(c = find_loaded(ctx, y)) || !is_collection(c))
				continue;
			if ((r = add_named_collection(m, y, c, k2)) < 0 ||
			    (r = rf_tree_add_power_equipment_link(m->tree, k2, y)) < 0)
				return r;
		}
	}
	/* Parents before children: the directory walk already gives that. */
	for (size_t i = 0; i < ctx->n; i++) {
		struct loaded *l = &ctx->v[i];
		_cleanup_free_ char *local = rf_rewrite_uri_in(&m->rw, l->uri);
		_cleanup_free_ char *back = NULL;

		if (!local)
			return -ENOMEM;
		back = rf_rewrite_uri_out(&m->rw, local);
		if (!back)
			continue;                  /* not below a member: not aggregated */
		if ((r = rf_rewrite_body(&m->rw, l->body, true)) < 0)
			return r;
		{
			/* A member itself: record it for the AggregationSource. */
			const char *slash = strrchr(local, '/');
			char parent[512];

			snprintf(parent, sizeof(parent), "%.*s", (int)(slash - local), local);
			if (rf_rewrite_is_collection(&m->rw, parent)) {
				char **v = realloc(members, (n_members + 1) * sizeof(*v));

				if (!v || !(v[n_members] = strdup(local))) {
					members = v ? v : members;
					r = -ENOMEM;
					goto out;
				}
				members = v;
				n_members++;
			}
		}
		r = keep_and_install(m, local, json_object_get(l->body));
		if (r < 0)
			goto out;
		m->installed++;
		report_claim(m, l, local);
	}
	r = rf_aggregation_install_source(m->tree, &m->provider, m->rw.name, dir, NULL, "Enabled",
					  members, n_members);
out:
	for (size_t i = 0; i < n_members; i++)
		free(members[i]);
	free(members);
	return r;
}

/* ---- provider operations -------------------------------------------------- */

static void merge(struct json_object *dst, struct json_object *delta)
{
	json_object_object_foreach(delta, key, val) {
		struct json_object *cur;

		if (json_object_is_type(val, json_type_object) &&
		    json_object_object_get_ex(dst, key, &cur) &&
		    json_object_is_type(cur, json_type_object)) {
			merge(cur, val);
			continue;
		}
		json_object_object_add(dst, key, json_object_get(val));
	}
}

static int mockup_patch(struct rf_provider *p, const char *uri, void *cookie,
			struct json_object *delta)
{
	struct rf_mockup *m = p->userdata;
	struct json_object *body, *copy = NULL;
	int r;

	if (!json_object_is_type(delta, json_type_object))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	body = strmap_get(m->bodies, uri);
	if (!body) {
		r = -ENOENT;
		goto out;
	}
	if (json_object_deep_copy(body, &copy, NULL) < 0) {
		r = -ENOMEM;
		goto out;
	}
	merge(copy, delta);
	r = keep_and_install(m, uri, copy);
	if (r == -ESTALE)
		r = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return r < 0 ? r : 0;
}

/* The action object "#name" in body's Actions (or Actions/Oem), borrowed. */
static struct json_object *find_action(struct json_object *body, const char *name)
{
	struct json_object *actions, *a, *oem;
	char key[256];

	snprintf(key, sizeof(key), "#%s", name);
	if (!json_object_object_get_ex(body, "Actions", &actions))
		return NULL;
	if (json_object_object_get_ex(actions, key, &a))
		return a;
	if (json_object_object_get_ex(actions, "Oem", &oem) &&
	    json_object_object_get_ex(oem, key, &a))
		return a;
	return NULL;
}

/* The PowerState a reset of type leaves behind, or NULL (no change). */
static const char *power_after(const char *type, const char *cur)
{
	static const char *const on[] = { "On", "ForceOn", "GracefulRestart", "ForceRestart",
					  "PowerCycle", "FullPowerCycle" };
	static const char *const off[] = { "Off", "ForceOff", "GracefulShutdown", "Suspend",
					   "Pause" };

	if (!type)
		return "On";
	for (size_t i = 0; i < ARRAY_SIZE(on); i++)
		if (strcasecmp(type, on[i]) == 0)
			return "On";
	for (size_t i = 0; i < ARRAY_SIZE(off); i++)
		if (strcasecmp(type, off[i]) == 0)
			return "Off";
	if (strcasecmp(type, "PushPowerButton") == 0)
		return cur && strcmp(cur, "On") == 0 ? "Off" : "On";
	return NULL;
}

static int mockup_action(struct rf_provider *p, const char *uri, void *cookie, const char *action,
			 struct json_object *params)
{
	struct rf_mockup *m = p->userdata;
	struct json_object *body, *copy = NULL, *v;
	const char *param = NULL, *state;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	body = strmap_get(m->bodies, uri);
	if (!body || !find_action(body, action)) {
		r = -ENOENT;
		goto out;
	}
	if (strcmp(action, "ComputerSystem.Reset") == 0 || strcmp(action, "Chassis.Reset") == 0 ||
	    strcmp(action, "PowerDistribution.Reset") == 0)
		param = "ResetType";
	else if (strcmp(action, "Outlet.PowerControl") == 0 ||
		 strcmp(action, "OutletGroup.PowerControl") == 0)
		param = "PowerState";
	if (!param)
		goto out;               /* accepted; nothing in the mockup changes */
	if (params && json_object_object_get_ex(params, param, &v) &&
	    !json_object_is_type(v, json_type_string)) {
		r = -EINVAL;
		goto out;
	}
	state = power_after(params && json_object_object_get_ex(params, param, &v) ?
			    json_object_get_string(v) : NULL, rf_json_str(body, "PowerState"));
	if (!state || !json_object_object_get_ex(body, "PowerState", &v))
		goto out;
	if (json_object_deep_copy(body, &copy, NULL) < 0) {
		r = -ENOMEM;
		goto out;
	}
	json_object_object_add(copy, "PowerState", json_object_new_string(state));
	r = keep_and_install(m, uri, copy);
	if (r == -ESTALE)
		r = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return r < 0 ? r : 0;
}

static const struct rf_provider_ops mockup_ops = {
	.refresh = NULL,            /* static: every change is installed at once */
	.patch = mockup_patch,
	.action = mockup_action,
};

/* ---- lifetime ------------------------------------------------------------- */

struct rf_mockup *rf_mockup_free(struct rf_mockup *m)
{
	size_t it = 0;
	const char *k;
	void *v;

	if (!m)
		return NULL;
	/* Leave no resource behind that names a freed provider. */
	while (m->bodies && strmap_next(m->bodies, &it, &k, &v)) {
		rf_tree_remove(m->tree, k);
		json_object_put(v);
	}
	strmap_free(m->bodies);
	rf_tree_forget_provider(m->tree, &m->provider);
	rf_rewrite_done(&m->rw);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

size_t rf_mockup_count(struct rf_mockup *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->installed;
	pthread_mutex_unlock(&m->lock);
	return n;
}

struct rf_mockup *rf_mockup_load(struct rf_tree *t, const char *name, const char *dir,
				 int *ret_err)
{
	struct load_ctx ctx = { .tree = t };
	struct rf_mockup *m;
	struct json_object *root;
	int fd, r;

	if (name && (!*name || strchr(name, '_') || strchr(name, '/'))) {
		*ret_err = -EINVAL;
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->tree = t;
	snprintf(m->provider_name, sizeof(m->provider_name), "mockup %s", name ? name : dir);
	m->provider = (struct rf_provider){ .name = m->provider_name, .ops = &mockup_ops,
					    .userdata = m };
	if (!(m->bodies = strmap_new()) || rf_rewrite_init(&m->rw, name) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	ctx.source = m->provider_name;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = walk(&ctx, fd, RF_ROOT, 0);
	close(fd);
	if (r < 0)
		goto fail;
	if (!(root = find_loaded(&ctx, RF_ROOT))) {
		r = -ENOENT;
		goto fail;
	}
	pthread_mutex_lock(&m->lock);
	r = name ? load_named(m, &ctx, root, dir) : load_own(m, &ctx, root);
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < ctx.n; i++) {
		free(ctx.v[i].uri);
		free(ctx.v[i].claim);
		json_object_put(ctx.v[i].body);
	}
	free(ctx.v);
	return m;
fail:
	for (size_t i = 0; i < ctx.n; i++) {
		free(ctx.v[i].uri);
		free(ctx.v[i].claim);
		json_object_put(ctx.v[i].body);
	}
	free(ctx.v);
	rf_mockup_free(m);
	*ret_err = r;
	return NULL;
}
