/* tree.c — the resource tree: the index of resources by URI, installs with
 * generation checks, tree-maintained collections and ServiceRoot, aliases,
 * freshness (refresh on access after max-age, coalesced), and the read side
 * for the mount (stat/read/readlink/list) and HTTP (documents).
 *
 * A resource belongs to the provider that installed it: no other replaces
 * it (-EPERM), except that tree-maintained collections may be joined.
 * Directories no resource stands for (the segments on the way to one) take
 * the mtime of their nearest installed ancestor, so a walk sees them
 * unchanged. Links of a resource to URIs below it at no position of its
 * rendering (a chassis linking Drives/D1 where Drives is no resource) are
 * kept as pending: a lookup of their path, or a listing above them, loads
 * them first, so what a lazy source links is reachable by its path and a
 * listing shows only what is there. Providers report a source's mistakes
 * through rf_tree_report_source; the reporter hears each once.
 *
 * Threads and locks: one rwlock guards the index (resources, directory
 * lists, aliases, claims, the generation counter). Readers take it shared,
 * take a reference to an immutable render and copy or serve bytes after
 * releasing it. Installs render outside the lock (render.c) and take it
 * exclusively only to swap the render in. Provider calls (refresh, patch,
 * action) and listener calls are made without the lock. Concurrent refreshes
 * of one URI share one provider call (inflight list under refresh_mu).
 *
 * Ownership: the tree owns resources, renders (refcounted), copies of
 * writable lists; providers are borrowed and must outlive the tree's use. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct rf_resource {
	char *uri;
	struct rf_provider *owner;
	struct rf_render *render;
	struct rf_writable_set *writable;
	void *cookie;            /* the owner's, for its patch/action (borrowed) */
	uint64_t written_gen;    /* generation of the install that last changed it */
	int64_t fresh_ms;        /* monotonic time of the last install or touch */
	bool collection;         /* Members maintained by the tree */
	char *coll_type;
	char *coll_name;
};

/* The resources and aliases directly below one URI (installed or not). */
struct rf_dir {
	char **names;
	size_t n, cap;
};

struct rf_claim {
	char *prefix;
	struct rf_provider *p;
};

struct rf_inflight {
	struct rf_inflight *next;
	char *uri;
	int waiters;
	bool done;
	int result;
};

struct rf_tree {
	pthread_rwlock_t lock;
	struct strmap *res;       /* uri -> struct rf_resource */
	struct strmap *dirs;      /* uri -> struct rf_dir */
	struct strmap *aliases;   /* alias uri -> malloc'd target uri */
	struct rf_claim *claims;
	size_t n_claims;
	struct json_object *root_props; /* extra ServiceRoot properties, in order */
	struct json_object *pe_links;   /* PowerEquipment's collections: name -> link */
	uint64_t gen;
	int64_t max_age;
	char uuid[40];
	struct rf_provider self;

	/* Listeners: listeners_lock (read: a flush calls them; write: add or
	 * remove), so no call is in flight once remove returns. */
	pthread_rwlock_t listeners_lock;
	struct { rf_change_fn fn; void *ud; } listeners[RF_TREE_MAX_LISTENERS];
	size_t n_listeners;

	/* Source mistakes (rf_tree_report_source): told once per URI. */
	pthread_mutex_t report_mu;
	rf_source_report_fn reporter;
	void *reporter_ud;
	struct strmap *reported;  /* "source\nuri" -> (void *)1 */

	/* Link targets below the resource that links them, at no position of
	 * its rendering and not loaded (Chassis/X links Chassis/X/Drives/D1,
	 * and Chassis/X/Drives is no resource): loaded by a lookup of their
	 * path or before a listing above them, so every resource a source
	 * links is reachable by its path. uri -> (void *)1, under the lock. */
	struct strmap *pending;

	pthread_mutex_t refresh_mu;
	pthread_cond_t refresh_cv;
	struct rf_inflight *inflight;
};

static const struct rf_provider_ops self_ops = { 0 };

/* ---- small helpers ------------------------------------------------------------ */

static char *path_to_uri(const char *path)
{
	char *uri;
	size_t n;

	while (*path == '/')
		path++;
	if (asprintf(&uri, "%s%s%s", RF_ROOT, *path ? "/" : "", path) < 0)
		return NULL;
	n = strlen(uri);
	while (n > strlen(RF_ROOT) && uri[n - 1] == '/')
		uri[--n] = '\0';
	return uri;
}

static char *normalize_uri(const char *uri)
{
	char *u = strdup(uri);
	size_t n;

	if (!u)
		return NULL;
	u[strcspn(u, "?#")] = '\0';
	n = strlen(u);
	while (n > 1 && u[n - 1] == '/')
		u[--n] = '\0';
	return u;
}

/* Split uri into its parent (malloc'd) and last segment (into uri). */
static char *uri_parent(const char *uri, const char **ret_seg)
{
	const char *slash = strrchr(uri, '/');

	if (!slash || slash == uri)
		return NULL;
	if (ret_seg)
		*ret_seg = slash + 1;
	return strndup(uri, (size_t)(slash - uri));
}

static uint64_t path_ino(const char *path)
{
	uint64_t h = hash_fnv1a64(path, strlen(path));

	return h < 2 ? h + 2 : h;
}

/* Natural order: digit runs compare by value, so 2 < 10. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			const char *ea = a, *eb = b;

			while (*a == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (*b == '0' && isdigit((unsigned char)b[1]))
				b++;
			for (ea = a; isdigit((unsigned char)*ea); ea++)
				;
			for (eb = b; isdigit((unsigned char)*eb); eb++)
				;
			if (ea - a != eb - b)
				return ea - a < eb - b ? -1 : 1;
			int c = strncmp(a, b, (size_t)(ea - a));

			if (c)
				return c;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

static int cmp_natural_p(const void *a, const void *b)
{
	return natural_cmp(*(char *const *)a, *(char *const *)b);
}

/* ---- directory lists (under the write lock) ---------------------------------- */

static int dir_add(struct rf_tree *t, const char *parent, const char *name)
{
	struct rf_dir *d = strmap_get(t->dirs, parent);

	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || strmap_put(t->dirs, parent, d) < 0) {
			free(d);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->names[i], name) == 0)
			return 0;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		char **nn = realloc(d->names, ncap * sizeof(char *));

		if (!nn)
			return -ENOMEM;
		d->names = nn;
		d->cap = ncap;
	}
	if (!(d->names[d->n] = strdup(name)))
		return -ENOMEM;
	d->n++;
	qsort(d->names, d->n, sizeof(char *), cmp_natural_p);
	return 1;
}

static void dir_free(struct rf_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d);
}

static void dir_del(struct rf_tree *t, const char *parent, const char *name)
{
	struct rf_dir *d = strmap_get(t->dirs, parent);

	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->names[i], name) == 0) {
			free(d->names[i]);
			memmove(&d->names[i], &d->names[i + 1], (d->n - i - 1) * sizeof(char *));
			d->n--;
			break;
		}
	}
	if (d->n == 0)
		dir_free(strmap_remove(t->dirs, parent));
}

/* Register uri in its parent's directory list, and the parent in its own,
 * up to an installed resource, so intermediate directories exist. */
static int dir_link(struct rf_tree *t, const char *uri)
{
	_cleanup_free_ char *cur = strdup(uri);

	if (!cur)
		return -ENOMEM;
	while (strlen(cur) > strlen(RF_ROOT)) {
		const char *seg;
		_cleanup_free_ char *parent = uri_parent(cur, &seg);
		int r;

		if (!parent)
			return -EINVAL;
		r = dir_add(t, parent, seg);
		if (r < 0)
			return r;
		if (r == 0 || strmap_get(t->res, parent))
			return 0;
		free(cur);
		cur = parent;
		parent = NULL;
	}
	return 0;
}

static void dir_unlink(struct rf_tree *t, const char *uri)
{
	_cleanup_free_ char *cur = strdup(uri);

	while (cur && strlen(cur) > strlen(RF_ROOT)) {
		const char *seg;
		char *parent = uri_parent(cur, &seg);

		if (!parent)
			return;
		dir_del(t, parent, seg);
		/* Climb while the parent is an empty, synthesised directory. */
		if (strmap_get(t->res, parent) || strmap_get(t->dirs, parent) ||
		    strmap_get(t->aliases, parent)) {
			free(parent);
			return;
		}
		free(cur);
		cur = parent;
	}
}

/* ---- changes for the listener ------------------------------------------------ */

struct changes {
	char **paths;
	size_t n, cap;
	const char *base;   /* mount path of the resource being diffed */
};

static void changes_add(struct changes *c, const char *base, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s%s%s", base, *base && *rel ? "/" : "", rel) < 0)
		return;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		char **np = realloc(c->paths, ncap * sizeof(char *));

		if (!np) {
			free(p);
			return;
		}
		c->paths = np;
		c->cap = ncap;
	}
	c->paths[c->n++] = p;
}

static void changes_add_rel(void *ud, const char *rel)
{
	struct changes *c = ud;

	changes_add(c, c->base, rel);
}

static void changes_add_uri(struct changes *c, const char *uri)
{
	const char *p = rf_uri_to_path(uri);

	if (p)
		changes_add(c, p, "");
}

static void changes_flush(struct rf_tree *t, struct changes *c)
{
	pthread_rwlock_rdlock(&t->listeners_lock);
	for (size_t i = 0; i < c->n; i++) {
		for (size_t k = 0; k < t->n_listeners; k++)
			t->listeners[k].fn(t->listeners[k].ud, c->paths[i]);
		free(c->paths[i]);
	}
	pthread_rwlock_unlock(&t->listeners_lock);
	free(c->paths);
	memset(c, 0, sizeof(*c));
}

/* ---- lifetime ----------------------------------------------------------------- */

static int install_root(struct rf_tree *t);
static int install_power_equipment(struct rf_tree *t);

static struct rf_resource *resource_free(struct rf_resource *r)
{
	if (!r)
		return NULL;
	rf_render_unref(r->render);
	rf_writable_set_free(r->writable);
	free(r->uri);
	free(r->coll_type);
	free(r->coll_name);
	free(r);
	return NULL;
}

static struct json_object *link_obj(const char *uri)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	return o;
}

struct rf_tree *rf_tree_new(const char *uuid)
{
	struct rf_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_rwlock_init(&t->lock, NULL);
	pthread_rwlock_init(&t->listeners_lock, NULL);
	pthread_mutex_init(&t->refresh_mu, NULL);
	pthread_cond_init(&t->refresh_cv, NULL);
	pthread_mutex_init(&t->report_mu, NULL);
	t->reported = strmap_new();
	t->pending = strmap_new();
	t->res = strmap_new();
	t->dirs = strmap_new();
	t->aliases = strmap_new();
	t->root_props = json_object_new_object();
	t->pe_links = json_object_new_object();
	t->max_age = 1000;
	t->self.name = "service";
	t->self.ops = &self_ops;
	if (!t->res || !t->dirs || !t->aliases || !t->root_props || !t->reported || !t->pe_links ||
	    !t->pending)
		return rf_tree_free(t);
	/* Values in documents and property files print as JSON writes them,
	 * without the binary noise of %.17g (0.1, not 0.10000000000000001). */
	json_c_set_serialization_double_format("%.15g", JSON_C_OPTION_GLOBAL);
	if (uuid) {
		snprintf(t->uuid, sizeof(t->uuid), "%s", uuid);
	} else {
		unsigned char b[16];
		FILE *f = fopen("/dev/urandom", "re");

		if (!f || fread(b, 1, sizeof(b), f) != sizeof(b)) {
			if (f)
				fclose(f);
			return rf_tree_free(t);
		}
		fclose(f);
		b[6] = (b[6] & 0x0f) | 0x40;
		b[8] = (b[8] & 0x3f) | 0x80;
		snprintf(t->uuid, sizeof(t->uuid),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
			 b[12], b[13], b[14], b[15]);
	}
	json_object_object_add(t->root_props, "Chassis", link_obj(RF_ROOT "/Chassis"));
	json_object_object_add(t->root_props, "Managers", link_obj(RF_ROOT "/Managers"));
	json_object_object_add(t->root_props, "PowerEquipment", link_obj(RF_ROOT "/PowerEquipment"));
	if (install_root(t) < 0 ||
	    rf_tree_add_collection(t, &t->self, RF_ROOT "/Chassis", "#ChassisCollection.ChassisCollection",
				   "Chassis Collection") < 0 ||
	    rf_tree_add_collection(t, &t->self, RF_ROOT "/Managers", "#ManagerCollection.ManagerCollection",
				   "Manager Collection") < 0)
		return rf_tree_free(t);
	json_object_object_add(t->pe_links, "RackPDUs", link_obj(RF_ROOT "/PowerEquipment/RackPDUs"));
	if (install_power_equipment(t) < 0 ||
	    rf_tree_add_collection(t, &t->self, RF_ROOT "/PowerEquipment/RackPDUs",
				   "#PowerDistributionCollection.PowerDistributionCollection",
				   "Rack PDU Collection") < 0)
		return rf_tree_free(t);
	return t;
}

struct rf_tree *rf_tree_free(struct rf_tree *t)
{
	const char *k;
	void *v;
	size_t it = 0;

	if (!t)
		return NULL;
	while (t->res && strmap_next(t->res, &it, &k, &v))
		resource_free(v);
	it = 0;
	while (t->dirs && strmap_next(t->dirs, &it, &k, &v))
		dir_free(v);
	it = 0;
	while (t->aliases && strmap_next(t->aliases, &it, &k, &v))
		free(v);
	strmap_free(t->res);
	strmap_free(t->dirs);
	strmap_free(t->aliases);
	strmap_free(t->reported);
	strmap_free(t->pending);
	pthread_mutex_destroy(&t->report_mu);
	for (size_t i = 0; i < t->n_claims; i++)
		free(t->claims[i].prefix);
	free(t->claims);
	json_object_put(t->root_props);
	json_object_put(t->pe_links);
	pthread_rwlock_destroy(&t->lock);
	pthread_rwlock_destroy(&t->listeners_lock);
	pthread_mutex_destroy(&t->refresh_mu);
	pthread_cond_destroy(&t->refresh_cv);
	free(t);
	return NULL;
}

void rf_tree_set_max_age(struct rf_tree *t, int64_t max_age_ms)
{
	pthread_rwlock_wrlock(&t->lock);
	t->max_age = max_age_ms < 0 ? 0 : max_age_ms;
	pthread_rwlock_unlock(&t->lock);
}

int64_t rf_tree_max_age(struct rf_tree *t)
{
	int64_t v;

	pthread_rwlock_rdlock(&t->lock);
	v = t->max_age;
	pthread_rwlock_unlock(&t->lock);
	return v;
}

int rf_tree_add_listener(struct rf_tree *t, rf_change_fn fn, void *userdata)
{
	int r = -ENOSPC;

	pthread_rwlock_wrlock(&t->listeners_lock);
	if (t->n_listeners < RF_TREE_MAX_LISTENERS) {
		t->listeners[t->n_listeners].fn = fn;
		t->listeners[t->n_listeners].ud = userdata;
		t->n_listeners++;
		r = 0;
	}
	pthread_rwlock_unlock(&t->listeners_lock);
	return r;
}

void rf_tree_remove_listener(struct rf_tree *t, rf_change_fn fn, void *userdata)
{
	pthread_rwlock_wrlock(&t->listeners_lock);
	for (size_t k = 0; k < t->n_listeners; k++) {
		if (t->listeners[k].fn == fn && t->listeners[k].ud == userdata) {
			memmove(&t->listeners[k], &t->listeners[k + 1],
				(t->n_listeners - k - 1) * sizeof(t->listeners[0]));
			t->n_listeners--;
			break;
		}
	}
	pthread_rwlock_unlock(&t->listeners_lock);
}

void rf_tree_set_source_reporter(struct rf_tree *t, rf_source_report_fn fn, void *userdata)
{
	pthread_mutex_lock(&t->report_mu);
	t->reporter = fn;
	t->reporter_ud = userdata;
	pthread_mutex_unlock(&t->report_mu);
}

void rf_tree_report_source(struct rf_tree *t, const char *source, const char *uri,
			   const char *fmt, ...)
{
	_cleanup_free_ char *key = NULL;
	char msg[512];
	va_list ap;

	if (asprintf(&key, "%s\n%s", source, uri) < 0)
		return;
	pthread_mutex_lock(&t->report_mu);
	if (t->reporter && !strmap_get(t->reported, key) &&
	    strmap_put(t->reported, key, (void *)1) == 0) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/* Under report_mu, so a cleared reporter is never called;
		 * reporters only log. */
		t->reporter(t->reporter_ud, source, uri, msg);
	}
	pthread_mutex_unlock(&t->report_mu);
}

uint64_t rf_tree_generation(struct rf_tree *t)
{
	uint64_t g;

	pthread_rwlock_rdlock(&t->lock);
	g = t->gen;
	pthread_rwlock_unlock(&t->lock);
	return g;
}

/* ---- installs ------------------------------------------------------------------ */

static int rebuild_collection(struct rf_tree *t, const char *uri);

static bool writable_equal(const struct rf_writable_set *a, const struct rf_writable_set *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct rf_writable *x = &a->v[i], *y = &b->v[i];

		if (strcmp(x->path, y->path) != 0 || x->max_len != y->max_len || !x->values != !y->values)
			return false;
		for (size_t j = 0; x->values && (x->values[j] || y->values[j]); j++)
			if (!x->values[j] || !y->values[j] || strcmp(x->values[j], y->values[j]) != 0)
				return false;
	}
	return true;
}

/* The nearest installed resource strictly above uri, or NULL. Under the lock. */
static struct rf_resource *installed_ancestor(struct rf_tree *t, const char *uri)
{
	_cleanup_free_ char *cur = strdup(uri);

	while (cur) {
		char *parent = uri_parent(cur, NULL);
		struct rf_resource *a = parent ? strmap_get(t->res, parent) : NULL;

		free(cur);
		cur = parent;
		if (a)
			return a;
	}
	return NULL;
}

/* The mtime the mount shows for uri's position while it is not installed:
 * a node of the nearest installed ancestor's rendering. Under the lock. */
static bool shown_mtime(struct rf_tree *t, const char *uri, struct timespec *ret)
{
	struct rf_resource *a = installed_ancestor(t, uri);
	const struct rf_node *nd = a && a->render ?
		rf_render_find(a->render, uri + strlen(a->uri) + 1) : NULL;

	if (nd)
		*ret = nd->mtime;
	return nd != NULL;
}

/* The targets of the links in o (objects of only @odata.* with a string
 * @odata.id, no fragment) strictly below uri, normalised, appended to *v. */
static void links_below(struct json_object *o, const char *uri, int depth, char ***v, size_t *n)
{
	size_t ul = strlen(uri);

	if (depth > 64)
		return;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			links_below(json_object_array_get_idx(o, i), uri, depth + 1, v, n);
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	const char *target = NULL;
	bool only_odata = true;

	json_object_object_foreach(o, k, val) {
		if (strncmp(k, "@odata.", 7) != 0)
			only_odata = false;
		else if (strcmp(k, "@odata.id") == 0 && json_object_is_type(val, json_type_string))
			target = json_object_get_string(val);
	}
	if (depth > 0 && only_odata && target) {
		char *u, **nv;

		if (strncmp(target, uri, ul) != 0 || target[ul] != '/' || strchr(target, '#') ||
		    strchr(target, '?') || !(u = normalize_uri(target)))
			return;
		if (strlen(u) <= ul + 1 || !(nv = realloc(*v, (*n + 1) * sizeof(*nv)))) {
			free(u);
			return;
		}
		*v = nv;
		nv[(*n)++] = u;
		return;
	}
	json_object_object_foreach(o, k2, val2) {
		(void)k2;
		links_below(val2, uri, depth + 1, v, n);
	}
}

static struct rf_provider *loader_for(struct rf_tree *t, const char *uri);
static struct timespec synth_mtime(struct rf_tree *t, const char *uri);
static int refresh_shared(struct rf_tree *t, struct rf_provider *p, const char *uri, int64_t max_age);

/* Under the write lock: remember links (stolen) of res that no lookup
 * finds (see struct rf_tree, pending); whoever claims them loads them. */
static void pending_add(struct rf_tree *t, const struct rf_resource *res, char **links, size_t n)
{
	size_t ul = strlen(res->uri);

	for (size_t i = 0; i < n; i++) {
		if (!res->collection && !strmap_get(t->res, links[i]) &&
		    !strmap_get(t->aliases, links[i]) && !rf_render_find(res->render, links[i] + ul + 1))
			strmap_put(t->pending, links[i], (void *)1);
		free(links[i]);
	}
	free(links);
}

/* A pending link target at, above or below uri (malloc'd), or NULL.
 * Under the lock. */
static char *pending_at(struct rf_tree *t, const char *uri)
{
	size_t it = 0, ul = strlen(uri);
	const char *k;

	while (strmap_next(t->pending, &it, &k, NULL)) {
		size_t kl = strlen(k);

		if ((strncmp(k, uri, ul) == 0 && (k[ul] == '\0' || k[ul] == '/')) ||
		    (kl < ul && strncmp(uri, k, kl) == 0 && uri[kl] == '/'))
			return strdup(k);
	}
	return NULL;
}

/* A pending link target was tried: installed, or not there. */
static void pending_done(struct rf_tree *t, const char *uri)
{
	pthread_rwlock_wrlock(&t->lock);
	strmap_remove(t->pending, uri);
	pthread_rwlock_unlock(&t->lock);
}

/* Before a listing of uri: load the pending link targets below it, so the
 * listing shows those that are there (and only those). */
static void pending_load_below(struct rf_tree *t, const char *uri)
{
	for (;;) {
		_cleanup_free_ char *pu = NULL;
		struct rf_provider *p;
		int64_t max_age;

		pthread_rwlock_rdlock(&t->lock);
		pu = pending_at(t, uri);
		p = pu && strcmp(pu, uri) != 0 ? loader_for(t, pu) : NULL;
		max_age = t->max_age;
		pthread_rwlock_unlock(&t->lock);
		if (!pu)
			return;
		if (p && p->ops && p->ops->refresh)
			refresh_shared(t, p, pu, max_age);
		pending_done(t, pu);
	}
}

/* Whether p may install over res: its owner may, and anyone may join a
 * tree-maintained collection (a mockup's Chassis merges with the tree's);
 * nobody replaces another provider's resource. */
static bool may_replace(const struct rf_resource *res, const struct rf_provider *p,
			bool collection)
{
	return res->owner == p || !res->owner || (collection && res->collection);
}

static int install_locked_checked(struct rf_tree *t, struct rf_provider *p, const char *uri,
				  struct json_object *body, const struct rf_writable *writable,
				  void *cookie, uint64_t based_on, bool collection)
{
	struct rf_resource *res;
	struct rf_render *prev = NULL, *nr = NULL;
	struct rf_writable_set *ws = NULL;
	struct changes ch = { 0 };
	struct json_object *id;
	_cleanup_free_ char *parent = NULL;
	bool created = false, parent_is_coll = false, shown = false;
	bool same_ws = false, same, stale;
	char **links = NULL;
	size_t n_links = 0;
	const char *json;
	struct timespec shown_at = { 0 };
	int r;

	if (!json_object_is_type(body, json_type_object) ||
	    !json_object_object_get_ex(body, "@odata.id", &id) || !json_object_is_type(id, json_type_string) ||
	    strcmp(json_object_get_string(id), uri) != 0 || !rf_uri_to_path(uri)) {
		json_object_put(body);
		return -EINVAL;
	}
	ws = rf_writable_set_new(writable);
	if (!ws) {
		json_object_put(body);
		return -ENOMEM;
	}
	pthread_rwlock_rdlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (res && !may_replace(res, p, collection)) {
		pthread_rwlock_unlock(&t->lock);
		json_object_put(body);
		rf_writable_set_free(ws);
		return -EPERM;
	}
	if (res && res->written_gen > based_on) {
		pthread_rwlock_unlock(&t->lock);
		json_object_put(body);
		rf_writable_set_free(ws);
		return -ESTALE;
	}
	if (res) {
		prev = rf_render_ref(res->render);
		same_ws = writable_equal(res->writable, ws);
	} else {
		shown = shown_mtime(t, uri, &shown_at);
		if (!shown && strmap_get(t->pending, uri)) {
			shown = true;        /* listed as a plain directory so far */
			shown_at = synth_mtime(t, uri);
		}
	}
	pthread_rwlock_unlock(&t->lock);

	json = rf_render_json(body);
	if (same_ws && rf_render_same_json(prev, json)) {
		/* Unchanged (most installs of a poll): no rendering at all,
		 * only renewed freshness, if nothing replaced it meanwhile. */
		pthread_rwlock_wrlock(&t->lock);
		res = strmap_get(t->res, uri);
		same = res && res->render == prev;
		if (same) {
			res->fresh_ms = now_ms();
			res->cookie = cookie;   /* not content: no new rendering */
			res->collection = collection || res->collection;
		}
		stale = res && res->written_gen > based_on;
		pthread_rwlock_unlock(&t->lock);
		if (same || stale) {
			json_object_put(body);
			r = same ? 0 : -ESTALE;
			goto out;
		}
	}
	nr = rf_render_new(uri, body, json, ws, prev, &r);
	if (nr)
		links_below(body, uri, 0, &links, &n_links);
	json_object_put(body);
	if (!nr)
		goto out;
	if (shown) {
		/* First load of a position the mount already listed (lazy
		 * loading): keep the mtime it showed, or `tar` sees every
		 * directory "change as we read it". Not yet shared. */
		for (size_t i = 0; i < nr->n_nodes; i++)
			nr->nodes[i].mtime = shown_at;
		nr->doc.mtime = shown_at;
	}

	pthread_rwlock_wrlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (res && !may_replace(res, p, collection)) {
		pthread_rwlock_unlock(&t->lock);
		r = -EPERM;
		goto out;
	}
	if (res && res->written_gen > based_on) {
		pthread_rwlock_unlock(&t->lock);
		r = -ESTALE;
		goto out;
	}
	if (res && res->render == prev && prev && strcmp(prev->json, nr->json) == 0 &&
	    writable_equal(res->writable, ws)) {
		res->fresh_ms = now_ms();
		res->cookie = cookie;
		res->collection = collection || res->collection;
		pthread_rwlock_unlock(&t->lock);
		r = 0;
		goto out;
	}
	if (!res) {
		res = calloc(1, sizeof(*res));
		if (!res || !(res->uri = strdup(uri)) || strmap_put(t->res, uri, res) < 0 ||
		    dir_link(t, uri) < 0) {
			if (res && strmap_get(t->res, uri) == res)
				strmap_remove(t->res, uri);
			resource_free(res);
			pthread_rwlock_unlock(&t->lock);
			r = -ENOMEM;
			goto out;
		}
		created = true;
		parent = uri_parent(uri, NULL);
		if (parent) {
			struct rf_resource *pr = strmap_get(t->res, parent);

			parent_is_coll = pr && pr->collection;
		}
	}
	/* A different render than the one diffed against may have landed
	 * between the two locks: diff against what is really replaced. */
	rf_render_unref(prev);
	prev = res->render;
	res->render = nr;
	rf_writable_set_free(res->writable);
	res->writable = ws;
	ws = NULL;
	res->owner = p;
	res->cookie = cookie;
	res->collection = collection || res->collection;
	res->written_gen = ++t->gen;
	res->fresh_ms = now_ms();
	nr->doc.etag = res->written_gen;
	nr = NULL;
	strmap_remove(t->pending, uri);
	pending_add(t, res, links, n_links);
	links = NULL;
	n_links = 0;
	ch.base = rf_uri_to_path(uri);
	rf_render_diff(res->render, prev, changes_add_rel, &ch);
	if (created && parent)
		changes_add_uri(&ch, parent);
	pthread_rwlock_unlock(&t->lock);
	r = 1;
	if (parent_is_coll)
		rebuild_collection(t, parent);
	changes_flush(t, &ch);
out:
	for (size_t i = 0; i < n_links; i++)
		free(links[i]);
	free(links);
	rf_render_unref(prev);
	rf_render_unref(nr);
	rf_writable_set_free(ws);
	return r;
}

int rf_tree_install(struct rf_tree *t, struct rf_provider *p, const char *uri,
		    struct json_object *body, const struct rf_writable *writable,
		    uint64_t based_on)
{
	return install_locked_checked(t, p, uri, body, writable, NULL, based_on, false);
}

int rf_tree_install_cookie(struct rf_tree *t, struct rf_provider *p, const char *uri,
			   struct json_object *body, const struct rf_writable *writable,
			   void *cookie, uint64_t based_on)
{
	return install_locked_checked(t, p, uri, body, writable, cookie, based_on, false);
}

int rf_tree_age(struct rf_tree *t, const char *uri, int64_t *ret_ms)
{
	struct rf_resource *res;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (res && !res->collection) {
		*ret_ms = now_ms() - res->fresh_ms;
		r = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

void rf_tree_touch(struct rf_tree *t, const char *uri)
{
	struct rf_resource *res;

	pthread_rwlock_wrlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (res)
		res->fresh_ms = now_ms();
	pthread_rwlock_unlock(&t->lock);
}

static int rebuild_collection(struct rf_tree *t, const char *uri)
{
	struct json_object *body, *members;
	struct rf_resource *res;
	struct rf_provider *owner;
	void *cookie;
	struct rf_dir *d;
	size_t n = 0;

	body = json_object_new_object();
	members = json_object_new_array();
	pthread_rwlock_rdlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (!res || !res->collection) {
		pthread_rwlock_unlock(&t->lock);
		json_object_put(body);
		json_object_put(members);
		return -ENOENT;
	}
	owner = res->owner;
	cookie = res->cookie;
	json_object_object_add(body, "@odata.id", json_object_new_string(uri));
	json_object_object_add(body, "@odata.type", json_object_new_string(res->coll_type));
	json_object_object_add(body, "Name", json_object_new_string(res->coll_name));
	d = strmap_get(t->dirs, uri);
	for (size_t i = 0; d && i < d->n; i++) {
		char *m;

		if (asprintf(&m, "%s/%s", uri, d->names[i]) < 0)
			continue;
		if (strmap_get(t->res, m)) {
			json_object_array_add(members, link_obj(m));
			n++;
		}
		free(m);
	}
	pthread_rwlock_unlock(&t->lock);
	json_object_object_add(body, "Members@odata.count", json_object_new_int64((int64_t)n));
	json_object_object_add(body, "Members", members);
	return install_locked_checked(t, owner, uri, body, NULL, cookie, UINT64_MAX, true);
}

int rf_tree_add_collection(struct rf_tree *t, struct rf_provider *p, const char *uri,
			   const char *odata_type, const char *name)
{
	struct rf_resource *res;
	struct json_object *body = json_object_new_object();
	int r;

	json_object_object_add(body, "@odata.id", json_object_new_string(uri));
	json_object_object_add(body, "@odata.type", json_object_new_string(odata_type));
	json_object_object_add(body, "Name", json_object_new_string(name));
	json_object_object_add(body, "Members@odata.count", json_object_new_int(0));
	json_object_object_add(body, "Members", json_object_new_array());
	r = install_locked_checked(t, p, uri, body, NULL, NULL, UINT64_MAX, true);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&t->lock);
	res = strmap_get(t->res, uri);
	if (res) {
		free(res->coll_type);
		free(res->coll_name);
		res->coll_type = strdup(odata_type);
		res->coll_name = strdup(name);
		if (!res->coll_type || !res->coll_name)
			r = -ENOMEM;
	}
	pthread_rwlock_unlock(&t->lock);
	if (r < 0)
		return r;
	/* Members may already be installed below it. */
	r = rebuild_collection(t, uri);
	return r < 0 ? r : 0;
}

static int install_root(struct rf_tree *t)
{
	struct json_object *body = json_object_new_object(), *links = json_object_new_object();

	json_object_object_add(body, "@odata.id", json_object_new_string(RF_ROOT));
	json_object_object_add(body, "@odata.type", json_object_new_string("#ServiceRoot.v1_20_0.ServiceRoot"));
	json_object_object_add(body, "Id", json_object_new_string("RootService"));
	json_object_object_add(body, "Name", json_object_new_string("redfishfs"));
	json_object_object_add(body, "RedfishVersion", json_object_new_string("1.20.0"));
	json_object_object_add(body, "UUID", json_object_new_string(t->uuid));
	json_object_object_add(body, "Product", json_object_new_string("redfishfs"));
	pthread_rwlock_rdlock(&t->lock);
	json_object_object_foreach(t->root_props, k, v) {
		struct json_object *copy = NULL;

		if (json_object_deep_copy(v, &copy, NULL) == 0)
			json_object_object_add(body, k, copy);
	}
	pthread_rwlock_unlock(&t->lock);
	json_object_object_add(links, "Sessions", link_obj(RF_ROOT "/SessionService/Sessions"));
	json_object_object_add(body, "Links", links);
	return install_locked_checked(t, &t->self, RF_ROOT, body, NULL, NULL, UINT64_MAX, false);
}

static int install_power_equipment(struct rf_tree *t)
{
	struct json_object *pe = json_object_new_object();

	json_object_object_add(pe, "@odata.id", json_object_new_string(RF_ROOT "/PowerEquipment"));
	json_object_object_add(pe, "@odata.type", json_object_new_string("#PowerEquipment.v1_2_3.PowerEquipment"));
	json_object_object_add(pe, "Id", json_object_new_string("PowerEquipment"));
	json_object_object_add(pe, "Name", json_object_new_string("Power Equipment"));
	pthread_rwlock_rdlock(&t->lock);
	json_object_object_foreach(t->pe_links, k, v)
		json_object_object_add(pe, k, json_object_get(v));
	pthread_rwlock_unlock(&t->lock);
	return rf_tree_install(t, &t->self, RF_ROOT "/PowerEquipment", pe, NULL, UINT64_MAX);
}

int rf_tree_add_power_equipment_link(struct rf_tree *t, const char *name, const char *uri)
{
	if (!name || !*name || name[0] == '@' || strcmp(name, "Links") == 0 || !rf_uri_to_path(uri))
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	json_object_object_add(t->pe_links, name, link_obj(uri));
	pthread_rwlock_unlock(&t->lock);
	return install_power_equipment(t) < 0 ? -ENOMEM : 0;
}

int rf_tree_set_root_property(struct rf_tree *t, const char *name, struct json_object *value)
{
	if (!name || !*name || strcmp(name, "Links") == 0 || name[0] == '@') {
		json_object_put(value);
		return -EINVAL;
	}
	pthread_rwlock_wrlock(&t->lock);
	json_object_object_add(t->root_props, name, value);
	pthread_rwlock_unlock(&t->lock);
	return install_root(t) < 0 ? -ENOMEM : 0;
}

int rf_tree_add_root_link(struct rf_tree *t, const char *name, const char *uri)
{
	return rf_tree_set_root_property(t, name, link_obj(uri));
}

void rf_tree_forget_provider(struct rf_tree *t, struct rf_provider *p)
{
	size_t it = 0, w = 0;
	const char *k;
	void *v;

	pthread_rwlock_wrlock(&t->lock);
	while (strmap_next(t->res, &it, &k, &v)) {
		struct rf_resource *res = v;

		if (res->owner == p)
			res->owner = NULL;
	}
	for (size_t i = 0; i < t->n_claims; i++) {
		if (t->claims[i].p == p)
			free(t->claims[i].prefix);
		else
			t->claims[w++] = t->claims[i];
	}
	t->n_claims = w;
	pthread_rwlock_unlock(&t->lock);
}

int rf_tree_claim_prefix(struct rf_tree *t, struct rf_provider *p, const char *prefix)
{
	struct rf_claim *nc;
	int r = 0;

	pthread_rwlock_wrlock(&t->lock);
	nc = realloc(t->claims, (t->n_claims + 1) * sizeof(*nc));
	if (!nc) {
		r = -ENOMEM;
	} else {
		t->claims = nc;
		nc[t->n_claims].prefix = normalize_uri(prefix);
		nc[t->n_claims].p = p;
		if (nc[t->n_claims].prefix)
			t->n_claims++;
		else
			r = -ENOMEM;
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int rf_tree_add_alias(struct rf_tree *t, const char *alias_uri, const char *target_uri)
{
	struct changes ch = { 0 };
	_cleanup_free_ char *parent = NULL;
	char *a = normalize_uri(alias_uri), *tg = normalize_uri(target_uri);
	int r = 0;

	if (!a || !tg || !rf_uri_to_path(a) || !rf_uri_to_path(tg) || strcmp(a, RF_ROOT) == 0) {
		free(a);
		free(tg);
		return -EINVAL;
	}
	parent = uri_parent(a, NULL);
	pthread_rwlock_wrlock(&t->lock);
	if (strmap_get(t->res, a)) {
		r = -EEXIST;
	} else {
		free(strmap_remove(t->aliases, a));
		if (strmap_put(t->aliases, a, tg) < 0 || dir_link(t, a) < 0)
			r = -ENOMEM;
		else
			tg = NULL;
	}
	pthread_rwlock_unlock(&t->lock);
	if (r == 0) {
		changes_add_uri(&ch, a);
		if (parent)
			changes_add_uri(&ch, parent);
		changes_flush(t, &ch);
	}
	free(a);
	free(tg);
	return r;
}

int rf_tree_remove(struct rf_tree *t, const char *uri)
{
	struct changes ch = { 0 };
	_cleanup_free_ char *u = normalize_uri(uri), *parent = NULL;
	size_t n, it = 0, nvictims = 0;
	const char *k;
	void *v;
	char **victims = NULL;
	bool parent_is_coll = false;
	int r = -ENOENT;

	if (!u || strcmp(u, RF_ROOT) == 0)
		return -EINVAL;
	n = strlen(u);
	parent = uri_parent(u, NULL);
	pthread_rwlock_wrlock(&t->lock);
	victims = calloc(strmap_size(t->res) + strmap_size(t->aliases) + 1, sizeof(char *));
	if (!victims) {
		pthread_rwlock_unlock(&t->lock);
		return -ENOMEM;
	}
	while (strmap_next(t->res, &it, &k, &v))
		if (strncmp(k, u, n) == 0 && (k[n] == '\0' || k[n] == '/'))
			victims[nvictims++] = strdup(k);
	for (size_t i = 0; i < nvictims; i++) {
		struct rf_resource *res;

		if (!victims[i])
			continue;
		res = strmap_remove(t->res, victims[i]);
		ch.base = rf_uri_to_path(victims[i]);
		if (res && res->render)
			rf_render_diff(res->render, NULL, changes_add_rel, &ch);
		dir_unlink(t, victims[i]);
		resource_free(res);
		free(victims[i]);
		r = 0;
	}
	nvictims = 0;
	it = 0;
	while (strmap_next(t->aliases, &it, &k, &v))
		if (strncmp(k, u, n) == 0 && (k[n] == '\0' || k[n] == '/'))
			victims[nvictims++] = strdup(k);
	for (size_t i = 0; i < nvictims; i++) {
		if (!victims[i])
			continue;
		free(strmap_remove(t->aliases, victims[i]));
		dir_unlink(t, victims[i]);
		changes_add_uri(&ch, victims[i]);
		free(victims[i]);
		r = 0;
	}
	free(victims);
	if (parent) {
		struct rf_resource *pr = strmap_get(t->res, parent);

		parent_is_coll = pr && pr->collection;
		changes_add_uri(&ch, parent);
	}
	pthread_rwlock_unlock(&t->lock);
	if (r == 0 && parent_is_coll)
		rebuild_collection(t, parent);
	changes_flush(t, &ch);
	return r;
}

/* ---- freshness -------------------------------------------------------------- */

/* Call p->refresh(uri) unless a call for uri is already in flight, in which
 * case wait for it and share its result. */
static int refresh_shared(struct rf_tree *t, struct rf_provider *p, const char *uri, int64_t max_age)
{
	struct rf_inflight *f;
	int r;

	if (!p || !p->ops || !p->ops->refresh)
		return 0;
	pthread_mutex_lock(&t->refresh_mu);
	for (f = t->inflight; f; f = f->next)
		if (strcmp(f->uri, uri) == 0)
			break;
	if (f) {
		f->waiters++;
		while (!f->done)
			pthread_cond_wait(&t->refresh_cv, &t->refresh_mu);
		r = f->result;
		if (--f->waiters == 0) {
			free(f->uri);
			free(f);
		}
		pthread_mutex_unlock(&t->refresh_mu);
		return r;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->uri = strdup(uri))) {
		free(f);
		pthread_mutex_unlock(&t->refresh_mu);
		return -ENOMEM;
	}
	f->next = t->inflight;
	t->inflight = f;
	pthread_mutex_unlock(&t->refresh_mu);

	r = p->ops->refresh(p, uri, max_age);

	pthread_mutex_lock(&t->refresh_mu);
	for (struct rf_inflight **pp = &t->inflight; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->done = true;
	f->result = r;
	pthread_cond_broadcast(&t->refresh_cv);
	if (f->waiters == 0) {
		free(f->uri);
		free(f);
	}
	pthread_mutex_unlock(&t->refresh_mu);
	return r;
}

/* The provider to ask for a URI that is not installed: a claim covering it,
 * else the owner of its nearest installed ancestor. Under the lock. */
static struct rf_provider *loader_for(struct rf_tree *t, const char *uri)
{
	size_t best = 0;
	struct rf_provider *p = NULL;

	for (size_t i = 0; i < t->n_claims; i++) {
		size_t n = strlen(t->claims[i].prefix);

		if (n > best && strncmp(uri, t->claims[i].prefix, n) == 0 && (uri[n] == '/' || uri[n] == '\0')) {
			best = n;
			p = t->claims[i].p;
		}
	}
	if (p)
		return p;
	struct rf_resource *res = installed_ancestor(t, uri);

	return res ? res->owner : NULL;
}

/* ---- resolving mount paths --------------------------------------------------- */

enum hit_kind { HIT_NONE, HIT_RESOURCE, HIT_NODE, HIT_ALIAS, HIT_SYNTH };

struct hit {
	enum hit_kind kind;
	struct rf_resource *res;       /* RESOURCE, NODE: the owning resource */
	const struct rf_node *node;    /* NODE */
	const char *alias_target;      /* ALIAS */
	char *uri;                     /* the path's URI (malloc'd) */
	char *lazy_uri;                /* an unloaded sub-resource on the way (malloc'd) */
};

static void hit_clear(struct hit *h)
{
	free(h->uri);
	free(h->lazy_uri);
	memset(h, 0, sizeof(*h));
}

/* Under the lock (shared). */
static int resolve(struct rf_tree *t, const char *path, struct hit *h)
{
	_cleanup_free_ char *cur = NULL;
	size_t ulen;

	memset(h, 0, sizeof(*h));
	h->uri = path_to_uri(path);
	if (!h->uri)
		return -ENOMEM;
	if ((h->res = strmap_get(t->res, h->uri))) {
		h->kind = HIT_RESOURCE;
		return 0;
	}
	if ((h->alias_target = strmap_get(t->aliases, h->uri))) {
		h->kind = HIT_ALIAS;
		return 0;
	}
	ulen = strlen(h->uri);
	cur = strdup(h->uri);
	if (!cur)
		return -ENOMEM;
	/* The nearest installed ancestor holds the path as one of its nodes;
	 * an alias on the way means the path does not exist here (the kernel
	 * follows the symlink itself). */
	for (;;) {
		char *parent = uri_parent(cur, NULL);

		free(cur);
		cur = parent;
		if (!cur)
			break;
		if (strmap_get(t->aliases, cur))
			return -ENOENT;
		struct rf_resource *res = strmap_get(t->res, cur);

		if (!res)
			continue;
		const char *rel = h->uri + strlen(cur) + 1;
		const struct rf_node *nd = res->render ? rf_render_find(res->render, rel) : NULL;

		if (nd) {
			h->kind = HIT_NODE;
			h->res = res;
			h->node = nd;
			return 0;
		}
		/* An unloaded sub-resource on the way to rel? */
		for (size_t i = strlen(rel); i > 0 && res->render; i--) {
			if (rel[i] != '/' && rel[i] != '\0')
				continue;
			_cleanup_free_ char *pre = strndup(rel, i);
			const struct rf_node *pn = pre ? rf_render_find(res->render, pre) : NULL;

			if (pn && pn->child_uri && !strmap_get(t->res, pn->child_uri)) {
				h->lazy_uri = strdup(pn->child_uri);
				h->res = res;
				break;
			}
		}
		break;
	}
	if (strmap_get(t->dirs, h->uri)) {
		h->kind = HIT_SYNTH;
		return 0;
	}
	(void)ulen;
	return -ENOENT;
}

/* An unknown URI below an installed resource, inside a claimed prefix:
 * the URI one segment below that resource (when that segment is no node of
 * its rendering), and the claiming provider, to load it. So a resource no
 * listing shows (linked only from elsewhere, or only by an ActionInfo) is
 * reachable by its path in the mount, as it is over HTTP. Under the lock;
 * malloc'd or NULL. */
static char *claimed_candidate(struct rf_tree *t, const char *uri, struct rf_provider **ret_p)
{
	char *child = strdup(uri), *parent;
	struct rf_resource *res = NULL;
	struct rf_provider *p;
	const char *seg;

	while (child && (parent = uri_parent(child, NULL))) {
		if ((res = strmap_get(t->res, parent))) {
			free(parent);
			break;
		}
		free(child);
		child = parent;
	}
	if (!child || !res)
		goto none;
	seg = child + strlen(res->uri) + 1;
	if (seg[0] == '.' || strmap_get(t->res, child) || strmap_get(t->aliases, child) ||
	    (res->render && rf_render_find(res->render, seg)))
		goto none;
	p = NULL;
	for (size_t i = 0, best = 0; i < t->n_claims; i++) {
		size_t n = strlen(t->claims[i].prefix);

		if (n > best && strncmp(child, t->claims[i].prefix, n) == 0 && child[n] == '/') {
			best = n;
			p = t->claims[i].p;
		}
	}
	if (!p)
		goto none;
	*ret_p = p;
	return child;
none:
	free(child);
	return NULL;
}

/* What a front end looks up: the mount a path, one component at a time
 * (the kernel looks each up, so what lies on the way is loaded first); HTTP
 * a URI that must be a resource, which a client may name at any depth. */
enum fresh_want { WANT_PATH, WANT_RESOURCE };

/* The one freshness decision of both front ends. Under the lock, after
 * resolve() gave r and h: the URI to load (malloc'd, and its provider in
 * *ret_p) before h can be shown, or NULL when h is fresh or nobody can
 * load more. In the first round, a resource (or the resource holding a
 * node) older than max-age goes back to its owner (collections are the
 * tree's own). What is not there: for a path, an unloaded sub-resource on
 * the way, else a name a claim covers one segment below an installed
 * resource (claimed_candidate); for a URI, the URI itself from whoever can
 * load it (loader_for), once. */
static char *to_load(struct rf_tree *t, int r, const struct hit *h, enum fresh_want want,
		     int round, struct rf_provider **ret_p)
{
	*ret_p = NULL;
	if (r == 0 && h->res && (want == WANT_PATH || h->kind == HIT_RESOURCE)) {
		if (round > 0 || h->res->collection || !h->res->owner ||
		    now_ms() - h->res->fresh_ms <= t->max_age)
			return NULL;
		*ret_p = h->res->owner;
		return strdup(h->res->uri);
	}
	if (r != -ENOENT || !h->uri)
		return NULL;
	if (want == WANT_RESOURCE) {
		if (round > 0 || strmap_get(t->aliases, h->uri))
			return NULL;
		*ret_p = loader_for(t, h->uri);
		return strdup(h->uri);
	}
	if (h->lazy_uri) {
		*ret_p = h->res ? h->res->owner : loader_for(t, h->lazy_uri);
		return strdup(h->lazy_uri);
	}
	char *pending = pending_at(t, h->uri);

	if (pending) {
		*ret_p = loader_for(t, pending);
		return pending;
	}
	return claimed_candidate(t, h->uri, ret_p);
}

/* Resolve path, bringing what to_load() names up to date first: one
 * provider call per resource (shared with a call for it in flight), then
 * resolve again. On success the lock is held (shared) and h is filled. A
 * failed refresh still shows the tree as it is (an offline device's values
 * are null); only a resource that could not be loaded at all fails with
 * the provider's error. For WANT_RESOURCE only a resource is a success. */
static int resolve_fresh(struct rf_tree *t, const char *path, enum fresh_want want, struct hit *h)
{
	_cleanup_free_ char *last = NULL;
	int r, rr = 0;

	for (int round = 0; round < 8; round++) {
		struct rf_provider *p;
		char *uri;
		int64_t max_age;

		pthread_rwlock_rdlock(&t->lock);
		r = resolve(t, path, h);
		if (want == WANT_RESOURCE && r == 0 && h->kind != HIT_RESOURCE)
			r = -ENOENT;
		max_age = t->max_age;
		uri = to_load(t, r, h, want, round, &p);
		/* Nothing (more) to load, or the same resource again: done. */
		if (!p || !p->ops || !p->ops->refresh || !uri || (last && strcmp(uri, last) == 0)) {
			free(uri);
			if (r < 0) {
				pthread_rwlock_unlock(&t->lock);
				hit_clear(h);
				return round > 0 && rr < 0 ? rr : r;
			}
			return 0;
		}
		pthread_rwlock_unlock(&t->lock);
		hit_clear(h);
		rr = refresh_shared(t, p, uri, max_age);
		pending_done(t, uri);
		free(last);
		last = uri;
	}
	pthread_rwlock_rdlock(&t->lock);
	r = resolve(t, path, h);
	if (want == WANT_RESOURCE && r == 0 && h->kind != HIT_RESOURCE)
		r = -ENOENT;
	if (r < 0) {
		pthread_rwlock_unlock(&t->lock);
		hit_clear(h);
	}
	return r;
}

/* The mtime of a directory no resource stands for (a segment on the way to
 * one, like Chassis/X/Drives when only Drives/Disk0 is a resource) and of
 * an alias: its nearest installed ancestor's, so it stays the same from
 * one stat to the next (a walk that reads it sees no change) and moves
 * only when that resource changes. Under the lock. */
static struct timespec synth_mtime(struct rf_tree *t, const char *uri)
{
	struct rf_resource *a = installed_ancestor(t, uri);

	return a && a->render ? a->render->doc.mtime : (struct timespec){ 0 };
}

static void stat_of_res(const struct rf_resource *res, const char *path, struct rf_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->kind = RF_KIND_DIR;
	st->mtime = res->render ? res->render->doc.mtime : now_realtime();
	st->ino = path_ino(path);
}

static void stat_of_node(const struct rf_node *nd, const char *path, struct rf_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->kind = nd->kind;
	st->writable = nd->writable;
	st->size = nd->kind == RF_KIND_DIR ? 0 : nd->size;
	st->mtime = nd->mtime;
	st->ino = path_ino(path);
}

static char *alias_link(const char *path, const char *target_uri)
{
	const char *tp = rf_uri_to_path(target_uri);

	return tp ? rf_relative_link(path, tp) : NULL;
}

static const char *clean_path(const char *path)
{
	while (*path == '/')
		path++;
	return path;
}

int rf_tree_stat(struct rf_tree *t, const char *path, struct rf_stat *ret)
{
	struct hit h;
	struct rf_stat st;
	int r;

	path = clean_path(path);
	r = resolve_fresh(t, path, WANT_PATH, &h);
	if (r < 0)
		return r;
	switch (h.kind) {
	case HIT_RESOURCE:
		stat_of_res(h.res, path, &st);
		break;
	case HIT_NODE: {
		struct rf_resource *child = h.node->child_uri ? strmap_get(t->res, h.node->child_uri) : NULL;

		if (child)
			stat_of_res(child, path, &st);
		else
			stat_of_node(h.node, path, &st);
		break;
	}
	case HIT_ALIAS: {
		_cleanup_free_ char *l = alias_link(path, h.alias_target);

		memset(&st, 0, sizeof(st));
		st.kind = RF_KIND_LINK;
		st.size = l ? strlen(l) : 0;
		st.mtime = synth_mtime(t, h.uri);
		st.ino = path_ino(path);
		break;
	}
	default:
		memset(&st, 0, sizeof(st));
		st.kind = RF_KIND_DIR;
		st.ino = path_ino(path);
		st.mtime = synth_mtime(t, h.uri);
		break;
	}
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	*ret = st;
	return 0;
}

ssize_t rf_tree_read(struct rf_tree *t, const char *path, char *buf, size_t size, off_t off)
{
	struct hit h;
	struct rf_render *rd;
	const struct rf_node *nd;
	ssize_t n;
	int r;

	path = clean_path(path);
	r = resolve_fresh(t, path, WANT_PATH, &h);
	if (r < 0)
		return r;
	if (h.kind != HIT_NODE || h.node->kind != RF_KIND_FILE) {
		pthread_rwlock_unlock(&t->lock);
		hit_clear(&h);
		return h.kind == HIT_ALIAS ? -EINVAL : -EISDIR;
	}
	rd = rf_render_ref(h.res->render);
	nd = h.node;
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	if (off < 0 || (size_t)off >= nd->size) {
		n = 0;
	} else {
		n = (ssize_t)(nd->size - (size_t)off < size ? nd->size - (size_t)off : size);
		memcpy(buf, nd->data + off, (size_t)n);
	}
	rf_render_unref(rd);
	return n;
}

ssize_t rf_tree_peek(struct rf_tree *t, const char *path, char *buf, size_t size,
		     struct rf_stat *ret)
{
	struct hit h;
	ssize_t n = 0;
	int r;

	path = clean_path(path);
	pthread_rwlock_rdlock(&t->lock);
	r = resolve(t, path, &h);
	if (r == 0 && (h.kind != HIT_NODE || h.node->kind != RF_KIND_FILE))
		r = -EISDIR;
	if (r == 0 && h.res->owner && h.res->owner->ops && h.res->owner->ops->refresh &&
	    !h.res->collection && now_ms() - h.res->fresh_ms > t->max_age)
		r = -ESTALE;
	if (r == 0) {
		stat_of_node(h.node, path, ret);
		n = (ssize_t)(h.node->size < size ? h.node->size : size);
		memcpy(buf, h.node->data, (size_t)n);
	}
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	return r < 0 ? r : n;
}

int rf_tree_readlink(struct rf_tree *t, const char *path, char *buf, size_t size)
{
	struct hit h;
	_cleanup_free_ char *target = NULL;
	int r;

	path = clean_path(path);
	if (size == 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&t->lock);
	r = resolve(t, path, &h);
	if (r == 0 && h.kind == HIT_ALIAS)
		target = alias_link(path, h.alias_target);
	else if (r == 0 && h.kind == HIT_NODE && h.node->kind == RF_KIND_LINK)
		target = strdup(h.node->data);
	else if (r == 0)
		r = -EINVAL;
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	if (r < 0)
		return r;
	if (!target)
		return -ENOMEM;
	snprintf(buf, size, "%s", target);
	return 0;
}

/* ---- listing ------------------------------------------------------------------ */

struct dirents {
	struct rf_dirent *v;
	size_t n, cap;
};

static int dirents_add(struct dirents *d, const char *name, const struct rf_stat *st)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return 0;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		struct rf_dirent *nv = realloc(d->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = ncap;
	}
	d->v[d->n].name = strdup(name);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].st = *st;
	d->n++;
	return 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	return natural_cmp(((const struct rf_dirent *)a)->name, ((const struct rf_dirent *)b)->name);
}

/* Entries from the resource/alias directory list of uri. Under the lock. */
static int list_dir_children(struct rf_tree *t, const char *uri, const char *path, struct dirents *out)
{
	struct rf_dir *d = strmap_get(t->dirs, uri);

	for (size_t i = 0; d && i < d->n; i++) {
		_cleanup_free_ char *cu = NULL, *cp = NULL;
		struct rf_resource *res;
		const char *target;
		struct rf_stat st;

		if (asprintf(&cu, "%s/%s", uri, d->names[i]) < 0 ||
		    asprintf(&cp, "%s%s%s", path, *path ? "/" : "", d->names[i]) < 0)
			return -ENOMEM;
		if ((res = strmap_get(t->res, cu))) {
			stat_of_res(res, cp, &st);
		} else if ((target = strmap_get(t->aliases, cu))) {
			_cleanup_free_ char *l = alias_link(cp, target);

			memset(&st, 0, sizeof(st));
			st.kind = RF_KIND_LINK;
			st.size = l ? strlen(l) : 0;
			st.mtime = synth_mtime(t, cu);
			st.ino = path_ino(cp);
		} else {
			memset(&st, 0, sizeof(st));
			st.kind = RF_KIND_DIR;
			st.mtime = synth_mtime(t, cu);
			st.ino = path_ino(cp);
		}
		if (dirents_add(out, d->names[i], &st) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int list_node_children(struct rf_tree *t, const struct rf_render *rd, const struct rf_node *nd,
			      const char *path, struct dirents *out)
{
	for (size_t i = 0; i < nd->n_children; i++) {
		const struct rf_node *c = &rd->nodes[nd->children[i]];
		struct rf_resource *child = c->child_uri ? strmap_get(t->res, c->child_uri) : NULL;
		_cleanup_free_ char *cp = NULL, *cu = NULL;
		struct rf_stat st;

		if (asprintf(&cp, "%s%s%s", path, *path ? "/" : "", c->name) < 0)
			return -ENOMEM;
		/* A resource installed at this very position is what is there. */
		if (!child && c->kind != RF_KIND_FILE && (cu = path_to_uri(cp)))
			child = strmap_get(t->res, cu);
		if (child)
			stat_of_res(child, cp, &st);
		else
			stat_of_node(c, cp, &st);
		if (dirents_add(out, c->name, &st) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Take the read lock again after a load and resolve path anew; on failure
 * the lock is released and h cleared. */
static int relock_resolve(struct rf_tree *t, const char *path, struct hit *h)
{
	int r;

	pthread_rwlock_rdlock(&t->lock);
	r = resolve(t, path, h);
	if (r < 0) {
		pthread_rwlock_unlock(&t->lock);
		hit_clear(h);
	}
	return r;
}

int rf_tree_list(struct rf_tree *t, const char *path, struct rf_dirent **ret, size_t *ret_n)
{
	struct dirents out = { 0 };
	struct rf_resource *listed = NULL;   /* whose content is listed */
	struct rf_provider *lp = NULL;
	_cleanup_free_ char *luri = NULL;
	struct hit h;
	int r;

	path = clean_path(path);
	r = resolve_fresh(t, path, WANT_PATH, &h);
	if (r < 0)
		return r;
	/* A directory standing for an unloaded sub-resource: load it now. */
	if (h.kind == HIT_NODE && h.node->child_uri && !strmap_get(t->res, h.node->child_uri) &&
	    h.res->owner && h.res->owner->ops && h.res->owner->ops->refresh) {
		struct rf_provider *p = h.res->owner;
		_cleanup_free_ char *cu = strdup(h.node->child_uri);
		int64_t max_age = t->max_age;

		pthread_rwlock_unlock(&t->lock);
		hit_clear(&h);
		if (cu)
			refresh_shared(t, p, cu, max_age);
		if ((r = relock_resolve(t, path, &h)) < 0)
			return r;
	}
	/* Link targets below the directory that no lookup loaded yet: loaded
	 * now, so the listing shows those that are there, and only them. */
	const char *du = h.kind == HIT_RESOURCE || h.kind == HIT_SYNTH ? h.uri :
			 h.kind == HIT_NODE && h.node->child_uri &&
			 strmap_get(t->res, h.node->child_uri) ? h.node->child_uri : NULL;
	_cleanup_free_ char *pend = du ? pending_at(t, du) : NULL;

	if (pend) {
		_cleanup_free_ char *u = strdup(du);

		pthread_rwlock_unlock(&t->lock);
		hit_clear(&h);
		if (u)
			pending_load_below(t, u);
		if ((r = relock_resolve(t, path, &h)) < 0)
			return r;
	}
	switch (h.kind) {
	case HIT_RESOURCE:
		listed = h.res;
		r = list_node_children(t, h.res->render, &h.res->render->nodes[0], path, &out);
		if (r == 0)
			r = list_dir_children(t, h.uri, path, &out);
		break;
	case HIT_NODE: {
		struct rf_resource *child = h.node->child_uri ? strmap_get(t->res, h.node->child_uri) : NULL;

		if (child) {
			listed = child;
			r = list_node_children(t, child->render, &child->render->nodes[0], path, &out);
			if (r == 0)
				r = list_dir_children(t, child->uri, path, &out);
		} else if (h.node->kind == RF_KIND_DIR) {
			listed = h.res;
			r = list_node_children(t, h.res->render, h.node, path, &out);
		} else {
			r = -ENOTDIR;
		}
		break;
	}
	case HIT_SYNTH:
		r = list_dir_children(t, h.uri, path, &out);
		break;
	default:
		r = -ENOTDIR;
		break;
	}
	if (r == 0 && listed && listed->owner && listed->owner->ops && listed->owner->ops->listed) {
		lp = listed->owner;
		luri = strdup(listed->uri);
	}
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	if (r < 0) {
		rf_dirents_free(out.v, out.n);
		return r;
	}
	if (lp && luri)
		lp->ops->listed(lp, luri);
	if (out.n > 1)
		qsort(out.v, out.n, sizeof(*out.v), cmp_dirent);
	*ret = out.v;
	*ret_n = out.n;
	return 0;
}

void rf_dirents_free(struct rf_dirent *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		free(d[i].name);
	free(d);
}

/* ---- documents ------------------------------------------------------------------ */

struct rf_doc *rf_tree_get_doc(struct rf_tree *t, const char *uri, int *ret_err)
{
	_cleanup_free_ char *u = normalize_uri(uri);
	const char *path = u ? rf_uri_to_path(u) : NULL;
	struct rf_render *rd;
	struct hit h;
	int r;

	if (!path) {
		*ret_err = u ? -ENOENT : -ENOMEM;   /* every resource is below /redfish/v1 */
		return NULL;
	}
	r = resolve_fresh(t, path, WANT_RESOURCE, &h);
	if (r < 0) {
		*ret_err = r;
		return NULL;
	}
	rd = rf_render_ref(h.res->render);
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	return &rd->doc;
}

struct rf_doc *rf_doc_ref(struct rf_doc *d)
{
	if (d)
		rf_render_ref((struct rf_render *)((char *)d - offsetof(struct rf_render, doc)));
	return d;
}

struct rf_doc *rf_doc_unref(struct rf_doc *d)
{
	if (d)
		rf_render_unref((struct rf_render *)((char *)d - offsetof(struct rf_render, doc)));
	return NULL;
}

char *rf_tree_alias_target(struct rf_tree *t, const char *uri)
{
	_cleanup_free_ char *u = normalize_uri(uri);
	char *out = NULL;

	if (!u)
		return NULL;
	pthread_rwlock_rdlock(&t->lock);
	for (char *end = u + strlen(u); end > u; end--) {
		if (*end != '/' && *end != '\0')
			continue;
		char save = *end;
		const char *target;

		*end = '\0';
		target = strmap_get(t->aliases, u);
		*end = save;
		if (target) {
			if (asprintf(&out, "%s%s", target, end) < 0)
				out = NULL;
			break;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return out;
}

static int cmp_str_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **rf_tree_list_uris(struct rf_tree *t, size_t *ret_n)
{
	char **v;
	size_t n = 0, it = 0;
	const char *k;

	pthread_rwlock_rdlock(&t->lock);
	v = calloc(strmap_size(t->res) + 1, sizeof(char *));
	while (v && strmap_next(t->res, &it, &k, NULL))
		if (!(v[n++] = strdup(k)))
			n--;
	pthread_rwlock_unlock(&t->lock);
	if (!v)
		return NULL;
	qsort(v, n, sizeof(char *), cmp_str_p);
	*ret_n = n;
	return v;
}

char **rf_tree_list_types(struct rf_tree *t, size_t *ret_n)
{
	char **v;
	size_t n = 0, it = 0;
	void *val;

	pthread_rwlock_rdlock(&t->lock);
	v = calloc(strmap_size(t->res) + 1, sizeof(char *));
	while (v && strmap_next(t->res, &it, NULL, &val)) {
		struct rf_resource *res = val;
		const char *type = res->render ? res->render->odata_type : "";
		const char *dot;
		bool seen = false;

		/* "#Outlet.v1_4_4.Outlet" -> "Outlet.v1_4_4" */
		if (*type != '#' || !(dot = strrchr(type, '.')) || dot == type + 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strlen(v[i]) == (size_t)(dot - type - 1) && strncmp(v[i], type + 1, (size_t)(dot - type - 1)) == 0)
				seen = true;
		if (!seen && (v[n] = strndup(type + 1, (size_t)(dot - type - 1))))
			n++;
	}
	pthread_rwlock_unlock(&t->lock);
	if (!v)
		return NULL;
	qsort(v, n, sizeof(char *), cmp_str_p);
	*ret_n = n;
	return v;
}

char **rf_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

/* ---- what writes need ---------------------------------------------------------- */

void rf_target_clear(struct rf_target *tg)
{
	free(tg->uri);
	rf_render_unref(tg->render);
	rf_writable_set_free(tg->writable);
	memset(tg, 0, sizeof(*tg));
}

static int target_of(struct rf_resource *res, struct rf_target *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->uri = strdup(res->uri);
	ret->owner = res->owner;
	ret->cookie = res->cookie;
	ret->render = rf_render_ref(res->render);
	if (res->writable) {
		/* A copy, so the caller needs no lock. */
		struct rf_writable *w = res->writable->v;

		ret->writable = rf_writable_set_new(w);
	} else {
		ret->writable = rf_writable_set_new(NULL);
	}
	if (!ret->uri || !ret->writable) {
		rf_target_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

int rf_tree_target_for_path(struct rf_tree *t, const char *path, struct rf_target *ret, char **ret_rel)
{
	struct hit h;
	struct rf_target tg = { 0 };
	char *rel = NULL;
	int r;

	path = clean_path(path);
	pthread_rwlock_rdlock(&t->lock);
	r = resolve(t, path, &h);
	if (r == 0 && h.kind == HIT_NODE) {
		rel = strdup(h.node->rel);
		r = rel ? target_of(h.res, &tg) : -ENOMEM;
		if (r < 0)
			free(rel);
	} else if (r == 0) {
		r = h.kind == HIT_ALIAS ? -EACCES : -EISDIR;
	}
	pthread_rwlock_unlock(&t->lock);
	hit_clear(&h);
	if (r < 0)
		return r;
	*ret = tg;
	*ret_rel = rel;
	return 0;
}

int rf_tree_target_for_uri(struct rf_tree *t, const char *uri, struct rf_target *ret)
{
	_cleanup_free_ char *u = normalize_uri(uri);
	struct rf_resource *res;
	int r = -ENOENT;

	if (!u)
		return -ENOMEM;
	pthread_rwlock_rdlock(&t->lock);
	res = strmap_get(t->res, u);
	if (res)
		r = target_of(res, ret);
	pthread_rwlock_unlock(&t->lock);
	return r;
}
