/* bmc.c — a remote Redfish BMC as a provider of the tree (aggregation).
 *
 * rf_bmc_probe() reads the BMC's ServiceRoot, logs in, reads every top-level
 * link and aggregates those that are collections (and the collections of
 * PowerEquipment): their members are installed locally as
 * <collection>/NAME_<remoteId> (rewrite.c) and each member's URI is claimed,
 * so everything below loads lazily: the tree calls refresh(uri) when a
 * lookup meets a resource that is not installed, or one older than max-age.
 * Refreshes are conditional (If-None-Match): 304 only renews the freshness.
 *
 * Prefetch: resources load lazily, member by member. Once a reader needs
 * something below a member (a system, a chassis, a manager) that is not
 * loaded, that member's subtree loads in the background: every body that
 * arrives there queues the resources it links below itself that no fetch
 * knows yet, and (once started: rf_bmc_start, after the daemon forked)
 * `parallel` worker threads fetch them one request each, so the BMC's
 * latency overlaps. A `cat .../PowerState` of a member fetches nothing
 * more; a walk pays about one round trip, not one per level. A walk also
 * reads ahead across members: a reader listing what the prefetch brought
 * in (bmc_listed, the tree's listing hint) activates the members after
 * its own, in name order, until READAHEAD * parallel URIs are queued, so
 * the request slots stay busy when the walk crosses to the next member.
 * With a BMC that advertises $expand (ProtocolFeaturesSupported), a worker
 * loads all the unloaded children of a resource with one GET of it
 * (fetch_expanded), so a walk costs about one request per resource that
 * has children rather than one per resource; a BMC that refuses or
 * ignores $expand gets plain GETs after its first answer. The queue is
 * sorted by URI and drained from the URI a reader last had to wait for:
 * a walk (tar, find, cp) goes depth first in name order, which is URI
 * order, so what it needs next is fetched or under way when it gets there. A reader never waits for the queue: what it needs and no
 * fetch has started it fetches itself. MAX_PREFETCH_DEPTH bounds a BMC
 * whose links lead on forever.
 *
 * Coalescing: a resource being fetched is marked busy; other refreshes of it
 * wait for that fetch and share its result, and a prefetch never starts a
 * resource any fetch has started before, so a walk right after mounting
 * makes one request per resource. Installs carry the tree generation taken
 * before the request, so a slow fetch never overwrites a newer write.
 *
 * A reply is what its URI is: a body whose @odata.id names another
 * resource, or none, is installed at the URI it was fetched from with
 * @odata.id set to it, and the mistake goes to the tree's source reporter.
 * An expanded reply is only trusted for a child that exactly one embedded
 * object claims; a copy-pasted @odata.id leaves both to plain GETs.
 *
 * Writes: PATCH with If-Match (one retry after a 412 with the new ETag),
 * actions POSTed to the action's target; both reinstall the resource before
 * returning. Writable properties come from the CSDL table (writable.c) via
 * rf_writables_for() (source.c). A failed request's Redfish message goes to the
 * configured on_error callback (the caller logs it; this file never logs).
 *
 * Health: a transport failure (no connection, timeout) marks the BMC
 * offline: every installed resource is reinstalled with Status/State =
 * UnavailableOffline and its live values (Health, PowerState, Reading) null,
 * writes fail at once with -EHOSTUNREACH, prefetching pauses, and the
 * health thread re-probes every few seconds; once it answers, the original
 * bodies come back and the next access refreshes them. With requests in
 * flight on several threads, only an outcome of a request started since the
 * last change counts (health_gen).
 *
 * Locks: b->lock guards the resource map, the member list, the prefetch
 * queue and the state flags. It is never held across I/O or tree calls
 * (the tree's listeners may wait on the kernel, which may wait on a lookup
 * that needs b->lock). */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define HEALTH_RETRY_MS 3000
#define MAX_PAGES 64
#define MAX_PREFETCH_DEPTH 24       /* URI segments: a BMC's links cannot lead on forever */
#define DEFAULT_PARALLEL 8
#define PE_PREFIX RF_ROOT "/PowerEquipment/"
#define ANY_LOADS UINT64_MAX       /* fetch(): no load count to check */
#define READAHEAD 2                 /* a walk keeps READAHEAD * parallel URIs queued */

struct res {
	char *etag;                 /* remote ETag of body */
	int64_t fetched_ms;         /* when body was confirmed current; 0 = stale */
	struct json_object *body;   /* local (rewritten) body, as installed; owned */
	bool busy;                  /* a fetch is under way */
	bool tried;                 /* a fetch was started once (prefetch skips it) */
	bool requeued;              /* a prefetch lost to a transport error, queued again */
	bool prefetched;            /* body came by prefetch, before any reader needed it */
	bool wanted;                /* a reader waited for it */
	bool expand_missed;         /* an expanded reply lacked it: plain GETs only */
	uint64_t loads;             /* fetches that brought it (or confirmed it) */
	char *via;                  /* the resource whose body queued it for prefetch */
	int result;                 /* of the last fetch */
};

enum expand_state {
	EXPAND_UNTRIED,             /* the next candidate request tries it */
	EXPAND_TRYING,              /* that request is under way: others fetch plainly */
	EXPAND_ON,                  /* a reply carried children */
	EXPAND_OFF,                 /* configured off, refused, ignored or lost */
};

enum fetch_mode {
	FETCH_LOAD,                 /* load, or revalidate (If-None-Match); share a fetch under way */
	FETCH_FORCE,                /* after a write: unconditional, after any fetch under way */
	FETCH_PREFETCH,             /* only what no fetch ever started; skip what is busy */
};

struct rf_bmc {
	struct rf_tree *tree;
	struct rf_provider provider;
	char pname[64];
	char *name, *url, *user;
	char source_uri[160];
	struct rf_client *client;
	struct rf_rewrite rw;       /* built by probe before sharing, then read-only */
	void (*on_error)(void *userdata, const char *bmc, int err, const char *message);
	void (*on_state)(void *userdata, const char *bmc, bool online, int cause);
	int last_cause;            /* of the last failure report()ed (atomic) */
	bool told_offline;         /* on_state(false) said so, not yet back (under lock) */
	void *userdata;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct strmap *res;         /* local URI -> struct res */
	char **members;             /* local member URIs */
	size_t n_members;
	bool probed, online, probing;
	bool restoring;             /* go_online() is reinstalling the bodies */
	uint64_t health_gen;        /* counts the changes of online */
	bool thread_started, stop;
	pthread_t thread;

	/* Prefetch: the local URIs not yet fetched that loaded resources link
	 * below themselves, sorted, drained by n_workers threads
	 * (rf_bmc_start) from the cursor on: the URI a reader last had to
	 * wait for. Under lock. */
	char **pq;
	size_t pq_n, pq_cap;
	char *cursor;
	struct strmap *active;      /* members a reader went below (value unused) */
	/* "?$expand=." (or "*") when the BMC advertises it and it works: the
	 * prefetch then loads all the children of a resource in one request
	 * (fetch_expanded). Empty: one request per resource. Under lock. */
	char expand_q[16];
	enum expand_state expand;   /* whether to use expand_q */
	bool no_expand_cfg;         /* configured off: expand stays EXPAND_OFF */
	pthread_cond_t pq_cond;
	pthread_t *workers;
	int parallel, n_workers;
};

static const char *const live_values[] = { "PowerState", "Reading" };

/* ---- small helpers ------------------------------------------------------------ */

static void report(struct rf_bmc *b, int err, const struct rf_http *h, const char *what)
{
	_cleanup_free_ char *msg = NULL;
	char line[512];

	__atomic_store_n(&b->last_cause, h && h->cause ? h->cause : err, __ATOMIC_RELAXED);
	if (!b->on_error)
		return;
	msg = h ? rf_error_message(h->data, h->len) : NULL;
	if (h && h->status)
		snprintf(line, sizeof(line), "%s: HTTP %ld%s%s", what, h->status, msg ? ": " : "",
			 msg ? msg : "");
	else
		snprintf(line, sizeof(line), "%s: %s", what, h && h->error[0] ? h->error : strerror(-err));
	b->on_error(b->userdata, b->name, err, line);
}

static bool transport_error(const struct rf_http *h)
{
	return h->status == 0 && (h->err == -EHOSTUNREACH || h->err == -ETIMEDOUT ||
				  h->err == -EIO || h->err == -EPROTO);
}

static struct res *res_get(struct rf_bmc *b, const char *uri, bool create)
{
	struct res *r = strmap_get(b->res, uri);

	if (!r && create) {
		if (!(r = calloc(1, sizeof(*r))))
			return NULL;
		if (strmap_put(b->res, uri, r) < 0) {
			free(r);
			return NULL;
		}
	}
	return r;
}

static void res_free(struct res *r)
{
	if (!r)
		return;
	free(r->etag);
	free(r->via);
	json_object_put(r->body);
	free(r);
}

/* A resource body as kept: no @Redfish.Copyright (live services do not
 * carry it), @odata.id the normalised id. */
static void as_local_body(struct json_object *o, const char *id)
{
	json_object_object_del(o, "@Redfish.Copyright");
	json_object_object_add(o, "@odata.id", json_object_new_string(id));
}

/* Parse a reply to a GET of remote: a JSON object (nested at most
 * RF_MAX_JSON_DEPTH deep). It is what remote is, whatever its @odata.id
 * claims: a wrong or missing one is set to remote and told to the tree's
 * reporter (once per resource). Drops @Redfish.Copyright. New reference or
 * NULL (no JSON object: -EBADMSG). */
static struct json_object *parse_body(struct rf_bmc *b, const struct rf_http *h, const char *remote)
{
	struct json_object *o = NULL;
	char claim[256];

	/* JSON is UTF-8 text: a body with invalid bytes or control characters
	 * (other than TAB, LF, CR) in a string is refused whole. */
	if (!h->data || !(o = rf_parse_object(h->data, h->len)) ||
	    rf_json_text_check(o, true, NULL, 0, NULL, 0) < 0) {
		if (h->status == 200)
			rf_tree_report_source(b->tree, b->pname, remote,
					      "GET returned no JSON object (or one nested too deep, "
					      "or not UTF-8 text)");
		json_object_put(o);
		return NULL;
	}
	if (!rf_body_claim_id(o, remote, claim, sizeof(claim)))
		rf_tree_report_source(b->tree, b->pname, remote,
				      "GET returned %s%s; served at the URI it came from",
				      claim[0] ? "@odata.id " : "no @odata.id", claim);
	as_local_body(o, remote);
	return o;
}

/* A copy of body as an offline resource shows it. */
static struct json_object *offline_copy(struct json_object *body)
{
	struct json_object *c = NULL, *st;

	if (json_object_deep_copy(body, &c, NULL) < 0)
		return NULL;
	if (json_object_object_get_ex(c, "Status", &st) && json_object_is_type(st, json_type_object)) {
		json_object_object_add(st, "State", json_object_new_string("UnavailableOffline"));
		if (json_object_object_get_ex(st, "Health", NULL))
			json_object_object_add(st, "Health", NULL);
		if (json_object_object_get_ex(st, "HealthRollup", NULL))
			json_object_object_add(st, "HealthRollup", NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(live_values); i++)
		if (json_object_object_get_ex(c, live_values[i], NULL))
			json_object_object_add(c, live_values[i], NULL);
	return c;
}

/* Actions described by an ActionInfo resource (OpenBMC's Reset, say) carry
 * no allowable values of their own. Once that ActionInfo is loaded, the
 * writable list installed with body gets an entry for the action file
 * ("Actions/ComputerSystem.Reset") holding the values of its one parameter
 * that has any, so reading the file in the mount lists them; the document
 * stays the BMC's own (writes are checked against the ActionInfo either
 * way, redfish/write.c; both read it through source.c). w: the list from the CSDL table (may be NULL).
 * Returns a new list (w's entries first, shared; free it with
 * action_info_free(list, w)), or NULL when there is nothing to add;
 * *ret_hold keeps the added strings alive until the install is done.
 * Takes b->lock. */
static struct rf_writable *action_info_writables(struct rf_bmc *b, struct json_object *body,
						 const struct rf_writable *w, struct json_object **ret_hold)
{
	struct json_object *actions, *hold;
	struct rf_writable *out = NULL;
	size_t n_w = 0, n_out = 0, cap = 0;

	*ret_hold = NULL;
	if (!json_object_object_get_ex(body, "Actions", &actions) ||
	    !json_object_is_type(actions, json_type_object) || !(hold = json_object_new_array()))
		return NULL;
	while (w && w[n_w].path)
		n_w++;
	pthread_mutex_lock(&b->lock);
	json_object_object_foreach(actions, key, action) {
		const char *info_uri = key[0] == '#' ? rf_json_str(action, "@Redfish.ActionInfo") : NULL;
		struct res *r = info_uri ? res_get(b, info_uri, false) : NULL;
		struct json_object *allowed = r && r->body ? rf_action_info_values(r->body) : NULL;
		struct json_object *copy = NULL, *path;
		const char **vals;

		if (!allowed || json_object_deep_copy(allowed, &copy, NULL) < 0)
			continue;
		json_object_array_add(hold, copy);
		{
			_cleanup_free_ char *p = NULL;

			if (asprintf(&p, "Actions/%s", key + 1) < 0)
				continue;
			path = json_object_new_string(p);
			json_object_array_add(hold, path);
		}
		if (n_out + 2 > cap) {
			size_t ncap = (n_out ? n_out : n_w) + 8;
			struct rf_writable *no = realloc(out, ncap * sizeof(*no));

			if (!no)
				continue;
			if (!out) {
				for (size_t i = 0; i < n_w; i++)
					no[i] = w[i];
				n_out = n_w;
			}
			out = no;
			cap = ncap;
		}
		vals = calloc(json_object_array_length(copy) + 1, sizeof(*vals));
		if (!vals)
			continue;
		for (size_t i = 0, k = 0; i < json_object_array_length(copy); i++) {
			struct json_object *v = json_object_array_get_idx(copy, i);

			if (json_object_is_type(v, json_type_string))
				vals[k++] = json_object_get_string(v);
		}
		out[n_out++] = (struct rf_writable){ .path = json_object_get_string(path), .values = vals };
		out[n_out] = (struct rf_writable){ 0 };
	}
	pthread_mutex_unlock(&b->lock);
	if (!out) {
		json_object_put(hold);
		return NULL;
	}
	*ret_hold = hold;
	return out;
}

/* Free a list from action_info_writables: the value arrays it added. */
static void action_info_free(struct rf_writable *list, const struct rf_writable *w)
{
	size_t i = 0;

	while (w && w[i].path)
		i++;
	for (; list && list[i].path; i++)
		free((void *)list[i].values);
	free(list);
}

static int install(struct rf_bmc *b, const char *uri, struct json_object *body, uint64_t gen)
{
	struct json_object *copy = NULL, *hold = NULL;
	struct rf_writable *w, *wa;
	int r;

	if (json_object_deep_copy(body, &copy, NULL) < 0)
		return -ENOMEM;
	w = rf_writables_for(body);
	wa = action_info_writables(b, body, w, &hold);
	r = rf_tree_install(b->tree, &b->provider, uri, copy, wa ? wa : w, gen);
	action_info_free(wa, w);
	json_object_put(hold);
	rf_writables_free(w);
	/* 1 (changed) and 0 (identical) are both success; -ESTALE: a newer
	 * write is there already, which is fine too. */
	return r == -ESTALE || r > 0 ? 0 : r;
}

/* AggregationSources/NAME as Enabled (online) or UnavailableOffline. */
static int install_source_as(struct rf_bmc *b, bool online)
{
	char **m = NULL;
	size_t n;
	int r;

	pthread_mutex_lock(&b->lock);
	n = b->n_members;
	if (n && (m = calloc(n, sizeof(*m))))
		for (size_t i = 0; i < n; i++)
			m[i] = strdup(b->members[i]);
	pthread_mutex_unlock(&b->lock);
	if (n && !m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!m[i]) {
			r = -ENOMEM;
			goto out;
		}
	r = rf_aggregation_install_source(b->tree, &b->provider, b->name, b->url, b->user,
					  online ? "Enabled" : "UnavailableOffline", m, n);
out:
	for (size_t i = 0; m && i < n; i++)
		free(m[i]);
	free(m);
	return r;
}

static int install_source(struct rf_bmc *b)
{
	bool online;

	pthread_mutex_lock(&b->lock);
	online = b->online;
	pthread_mutex_unlock(&b->lock);
	return install_source_as(b, online);
}

/* Every resource body last fetched, as (uri, body) pairs, under b->lock:
 * offline copies (live values null, UnavailableOffline) and marked for
 * refetch, or the bodies as they are. */
struct snapshot {
	char **uris;
	struct json_object **bodies;
	size_t n;
};

static void snapshot_take(struct rf_bmc *b, bool offline, struct snapshot *sn)
{
	size_t it = 0, cap = strmap_size(b->res);
	const char *k;
	void *v;

	memset(sn, 0, sizeof(*sn));
	sn->uris = calloc(cap + 1, sizeof(*sn->uris));
	sn->bodies = calloc(cap + 1, sizeof(*sn->bodies));
	while (sn->uris && sn->bodies && strmap_next(b->res, &it, &k, &v)) {
		struct res *r = v;

		if (!r->body)
			continue;
		sn->uris[sn->n] = strdup(k);
		sn->bodies[sn->n] = offline ? offline_copy(r->body) : json_object_get(r->body);
		if (offline)
			r->fetched_ms = 0;
		sn->n++;
	}
	/* Members first: their Status is what a reader checks, and the
	 * prefetch workers may find the BMC gone while one reads. */
	for (size_t i = 0, m = 0; i < sn->n; i++) {
		for (size_t j = 0; j < b->n_members; j++) {
			if (strcmp(sn->uris[i], b->members[j]) != 0)
				continue;
			char *u = sn->uris[i];
			struct json_object *o = sn->bodies[i];

			sn->uris[i] = sn->uris[m];
			sn->bodies[i] = sn->bodies[m];
			sn->uris[m] = u;
			sn->bodies[m] = o;
			m++;
			break;
		}
	}
}

/* Install every body of the snapshot (without b->lock) and free it. The
 * writable sets stay, so writes to an offline BMC reach bmc_patch and fail
 * there at once with EHOSTUNREACH (not EACCES). */
static void snapshot_install(struct rf_bmc *b, struct snapshot *sn)
{
	for (size_t i = 0; i < sn->n; i++) {
		if (sn->uris[i] && sn->bodies[i])
			install(b, sn->uris[i], sn->bodies[i], rf_tree_generation(b->tree));
		json_object_put(sn->bodies[i]);
		free(sn->uris[i]);
	}
	free(sn->uris);
	free(sn->bodies);
	memset(sn, 0, sizeof(*sn));
}

/* ---- online / offline ------------------------------------------------------------ */

/* Requests tell the health of the BMC only as of when they started:
 * concurrent requests end in any order, and a success that started before
 * the BMC was found gone (or a failure that started before it came back)
 * says nothing about it now. A request takes health_seen() when it starts
 * and passes it to go_offline() / go_online(), which act only if nothing
 * changed since. */
static uint64_t health_seen(struct rf_bmc *b)
{
	uint64_t g;

	pthread_mutex_lock(&b->lock);
	g = b->health_gen;
	pthread_mutex_unlock(&b->lock);
	return g;
}

/* The BMC stopped answering: every resource shows UnavailableOffline with
 * its live values null, and is fetched again once the BMC is back. */
static void go_offline(struct rf_bmc *b, const struct rf_http *h, uint64_t seen)
{
	struct snapshot sn;
	bool tell;

	pthread_mutex_lock(&b->lock);
	if (!b->online || b->health_gen != seen) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	b->online = false;
	b->health_gen++;
	snapshot_take(b, true, &sn);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);

	report(b, h->err, h, "offline");
	pthread_mutex_lock(&b->lock);
	tell = !b->told_offline;
	b->told_offline = true;
	pthread_mutex_unlock(&b->lock);
	if (tell && b->on_state)
		b->on_state(b->userdata, b->name, false, h->cause ? h->cause : h->err);
	snapshot_install(b, &sn);
	install_source(b);
}

/* Back online: reinstall the bodies as last fetched, marked stale. */
static void go_online(struct rf_bmc *b, uint64_t seen)
{
	struct snapshot sn;

	pthread_mutex_lock(&b->lock);
	if (b->online || b->restoring || b->health_gen != seen) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	b->restoring = true;
	snapshot_take(b, false, &sn);
	pthread_mutex_unlock(&b->lock);
	snapshot_install(b, &sn);
	install_source_as(b, true);
	/* Online only once the bodies (and the AggregationSource) are back:
	 * whoever sees it online (rf_bmc_online, a write) sees the resources
	 * as they were. */
	pthread_mutex_lock(&b->lock);
	b->online = true;
	b->health_gen++;
	b->restoring = false;
	if (!b->no_expand_cfg)
		b->expand = EXPAND_UNTRIED;  /* back: $expand gets one more try */
	pthread_cond_broadcast(&b->cond);
	pthread_cond_broadcast(&b->pq_cond);
	b->told_offline = false;
	pthread_mutex_unlock(&b->lock);
	if (b->on_state)
		b->on_state(b->userdata, b->name, true, 0);
}

/* ---- fetching ---------------------------------------------------------------------- */

/* Add x to v if it is a local URI strictly below uri, without a fragment. */
static void add_child(const char *x, const char *uri, char ***v, size_t *n)
{
	size_t l = strlen(uri);
	char **nv;

	if (!x || strncmp(x, uri, l) != 0 || x[l] != '/' || !x[l + 1] || strpbrk(x + l, "#?"))
		return;
	if (!(nv = realloc(*v, (*n + 1) * sizeof(**v))))
		return;
	*v = nv;
	if (((*v)[*n] = strdup(x)))
		(*n)++;
}

/* Child links of body (local URIs strictly below uri, no fragment): link
 * objects anywhere, array elements included (collection Members, expanded
 * ones too: an element with an "@odata.id" is that resource), and the
 * ActionInfo resources of actions (their targets are not resources). */
static void collect_children(struct json_object *o, const char *uri, bool in_actions,
			     char ***v, size_t *n)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			struct json_object *e = json_object_array_get_idx(o, i);

			add_child(rf_json_link(e), uri, v, n);
			collect_children(e, uri, in_actions, v, n);
		}
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, val) {
		if (in_actions) {
			if (strcmp(key, "@Redfish.ActionInfo") == 0)
				add_child(json_object_get_string(val), uri, v, n);
			else if (json_object_is_type(val, json_type_object))
				collect_children(val, uri, true, v, n);
			continue;
		}
		if (strcmp(key, "Actions") == 0) {
			collect_children(val, uri, true, v, n);
			continue;
		}
		if (strcmp(key, "@odata.id") == 0)
			continue;       /* the object itself: its parent adds it */
		if (!json_object_is_type(val, json_type_string))
			collect_children(val, uri, false, v, n);
		add_child(rf_json_link(val), uri, v, n);
	}
}

static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static size_t uri_depth(const char *uri)
{
	size_t n = 0;

	for (; *uri; uri++)
		n += *uri == '/';
	return n;
}

/* The first index of the sorted queue whose URI is >= uri. Under lock. */
static size_t pq_find(struct rf_bmc *b, const char *uri)
{
	size_t lo = 0, hi = b->pq_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(b->pq[mid], uri) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Queue uri (malloc'd; taken on success) for the prefetch workers. Under
 * b->lock. 0 or -ENOMEM. */
static int pq_push(struct rf_bmc *b, char *uri)
{
	size_t at;

	if (b->pq_n == b->pq_cap) {
		size_t cap = b->pq_cap ? 2 * b->pq_cap : 64;
		char **nv = realloc(b->pq, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		b->pq = nv;
		b->pq_cap = cap;
	}
	at = pq_find(b, uri);
	memmove(b->pq + at + 1, b->pq + at, (b->pq_n - at) * sizeof(*b->pq));
	b->pq[at] = uri;
	b->pq_n++;
	pthread_cond_signal(&b->pq_cond);
	return 0;
}

/* Queue the children of body (the resource uri, just loaded) that no fetch
 * knows yet for the prefetch workers: each gets its (empty) entry, so it is
 * queued once. Under b->lock. */
static void prefetch_children(struct rf_bmc *b, const char *uri, struct json_object *body)
{
	char **kids = NULL;
	size_t n_kids = 0;

	collect_children(body, uri, false, &kids, &n_kids);
	for (size_t i = 0; i < n_kids; i++) {
		struct res *r;

		if (strmap_get(b->res, kids[i]) || uri_depth(kids[i]) > MAX_PREFETCH_DEPTH ||
		    !(r = res_get(b, kids[i], true)))
			continue;
		r->via = strdup(uri);
		if (pq_push(b, kids[i]) == 0)
			kids[i] = NULL;      /* the queue owns it */
	}
	strv_free_n(kids, n_kids);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The index in b->members (sorted, so walk order) of the member uri lies
 * in, or n_members. Under b->lock. */
static size_t member_index(struct rf_bmc *b, const char *uri)
{
	for (size_t i = 0; i < b->n_members; i++) {
		size_t n = strlen(b->members[i]);

		if (strncmp(uri, b->members[i], n) == 0 && (uri[n] == '\0' || uri[n] == '/'))
			return i;
	}
	return b->n_members;
}

/* The member uri lies in (itself or below it), or NULL. Under b->lock. */
static const char *member_of(struct rf_bmc *b, const char *uri)
{
	size_t i = member_index(b, uri);

	return i < b->n_members ? b->members[i] : NULL;
}

/* Whether the subtree uri lies in is being prefetched. Under b->lock. */
static bool prefetching(struct rf_bmc *b, const char *uri)
{
	const char *m = member_of(b, uri);

	return m && strmap_get(b->active, m);
}

/* A reader needs uri, not loaded yet: from now on the subtree of its member
 * (a system, a chassis, a manager) loads in the background, starting with
 * the children of what is loaded there already. Until a reader goes below a
 * member nothing of it but the member itself is fetched: the BMC's resources
 * load lazily, and a walk pays one round trip, not one per level.
 * Under b->lock. */
static void activate_member(struct rf_bmc *b, const char *m)
{
	size_t it = 0, n;
	const char *k;
	void *v;

	if (strmap_get(b->active, m) || strmap_put(b->active, m, b) < 0)
		return;
	n = strlen(m);
	while (strmap_next(b->res, &it, &k, &v)) {
		struct res *r = v;

		if (r->body && strncmp(k, m, n) == 0 && (k[n] == '\0' || k[n] == '/'))
			prefetch_children(b, k, r->body);
	}
}

static void prefetch_activate(struct rf_bmc *b, const char *uri)
{
	const char *m = member_of(b, uri);

	if (m)
		activate_member(b, m);
}

/* A reader waits for uri: the workers go on from there. A walk (tar, find,
 * cp -r) goes depth first in name order, which is URI order ('/' sorts
 * before any name character), so the URIs it needs next are the queued
 * ones that follow. Under b->lock. */
static void prefetch_follow(struct rf_bmc *b, const char *uri)
{
	char *c;

	if (b->cursor && strcmp(b->cursor, uri) == 0)
		return;
	if ((c = strdup(uri))) {
		free(b->cursor);
		b->cursor = c;
	}
}

/* Whether an action of body refers to the ActionInfo info_uri. */
static bool refers_to_info(struct json_object *body, const char *info_uri)
{
	struct json_object *actions;

	if (!json_object_object_get_ex(body, "Actions", &actions) ||
	    !json_object_is_type(actions, json_type_object))
		return false;
	json_object_object_foreach(actions, key, action) {
		const char *u = key[0] == '#' ? rf_json_str(action, "@Redfish.ActionInfo") : NULL;

		if (u && strcmp(u, info_uri) == 0)
			return true;
	}
	return false;
}

/* An ActionInfo (info_uri) arrived: the resources above it, within its
 * member, whose actions refer to it are installed again, now with its
 * allowable values (action_info_writables). */
static void reinstall_referrers(struct rf_bmc *b, const char *info_uri, uint64_t gen)
{
	_cleanup_free_ char *cur = strdup(info_uri);
	char *slash;

	while (cur && (slash = strrchr(cur, '/')) && slash > cur) {
		struct json_object *copy = NULL;
		struct res *r;
		bool inside;

		*slash = '\0';
		pthread_mutex_lock(&b->lock);
		inside = member_of(b, cur) != NULL;
		r = inside ? res_get(b, cur, false) : NULL;
		if (r && r->body && refers_to_info(r->body, info_uri) &&
		    json_object_deep_copy(r->body, &copy, NULL) < 0)
			copy = NULL;
		pthread_mutex_unlock(&b->lock);
		if (copy) {
			install(b, cur, copy, gen);
			json_object_put(copy);
		}
		if (!inside)
			break;
	}
}

/* A fetch claimed r and let it go without loading it (fetch_expanded):
 * whoever waited for it fetches it itself. Under b->lock. */
static bool released(const struct res *r)
{
	return !r->body && r->result == -ECANCELED;
}

/* Fetch the local URIs uris in one batch (curl multi, bounded parallelism)
 * and install them. uris[0] being fetched already is waited for (nothing
 * else is claimed then): FETCH_LOAD shares that fetch's result,
 * FETCH_FORCE fetches again after it; any other URI under way is left to
 * its fetch, and FETCH_PREFETCH leaves every URI a fetch ever started.
 * Every body that arrives queues its unknown children for the prefetch
 * workers. seen_loads (FETCH_LOAD; ANY_LOADS: none) is uris[0]'s load
 * count when the caller found it missing or stale: if another fetch has
 * brought it since, that is shared rather than asked for again. Returns
 * the result for uris[0]. */
static int fetch(struct rf_bmc *b, char **uris, size_t n, enum fetch_mode mode, uint64_t seen_loads)
{
	struct rf_http *h = calloc(n, sizeof(*h));
	char **remote = calloc(n, sizeof(*remote));
	char **mine = calloc(n, sizeof(*mine));
	char **etags = calloc(n, sizeof(*etags));
	const struct rf_http *off_h = NULL;
	int result0 = 0;
	size_t k = 0;
	uint64_t gen, seen;

	if (!h || !remote || !mine || !etags) {
		free(h);
		free(remote);
		free(mine);
		free(etags);
		return -ENOMEM;
	}
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		char *rem = rf_rewrite_uri_out(&b->rw, uris[i]);
		struct res *r = rem ? res_get(b, uris[i], true) : NULL;

		if (!r) {
			if (i == 0)
				result0 = rem ? -ENOMEM : -ENOENT;
			free(rem);
			continue;
		}
		if (mode == FETCH_PREFETCH && (r->tried || r->busy)) {
			free(rem);
			continue;
		}
		if (i == 0 && mode == FETCH_LOAD && seen_loads != ANY_LOADS && !r->busy &&
		    r->loads != seen_loads && r->result == 0) {
			free(rem);          /* loaded since the caller looked */
			continue;
		}
		if (i == 0 && r->busy) {
			while (r->busy)
				pthread_cond_wait(&b->cond, &b->lock);
			if (mode == FETCH_LOAD && !released(r)) {
				result0 = r->result;
				free(rem);
				continue;
			}
		}
		if (r->busy) {
			free(rem);
			continue;
		}
		r->busy = r->tried = true;
		mine[k] = uris[i];
		remote[k] = rem;
		etags[k] = (mode == FETCH_LOAD && r->body && r->etag) ? strdup(r->etag) : NULL;
		h[k] = (struct rf_http){ .path = rem, .if_none_match = etags[k] };
		k++;
	}
	seen = b->health_gen;
	pthread_mutex_unlock(&b->lock);

	gen = rf_tree_generation(b->tree);
	rf_client_run(b->client, h, k);

	for (size_t i = 0; i < k; i++) {
		struct json_object *body = NULL;
		int err = h[i].err;

		if (err == 0 && h[i].status == 304) {
			rf_tree_touch(b->tree, mine[i]);
		} else if (err == 0) {
			body = parse_body(b, &h[i], remote[i]);
			if (!body || rf_rewrite_body(&b->rw, body, true) < 0)
				err = -EBADMSG;
			else
				err = install(b, mine[i], body, gen);
		} else if (transport_error(&h[i])) {
			off_h = &h[i];
		}
		if (err == 0 && !off_h)
			go_online(b, seen);
		pthread_mutex_lock(&b->lock);
		struct res *r = res_get(b, mine[i], false);

		if (r) {
			r->busy = false;
			r->result = err;
			if (mode == FETCH_PREFETCH && off_h == &h[i] && !r->requeued) {
				char *u = strdup(mine[i]);

				/* Not an answer: once more when the BMC is back (only
				 * once: a resource that always times out must not
				 * take the BMC offline again and again). */
				if (u && pq_push(b, u) == 0) {
					r->tried = false;
					r->requeued = true;
				} else {
					free(u);
				}
			}
			if (err == -ENOENT && !r->body)
				r->fetched_ms = now_ms();   /* known absent, for max-age */
			if (err == 0) {
				r->loads++;
				r->fetched_ms = now_ms();
				if (body) {
					json_object_put(r->body);
					r->body = body;
					body = NULL;
					r->prefetched = mode == FETCH_PREFETCH && !r->wanted;
					free(r->etag);
					r->etag = h[i].etag ? strdup(h[i].etag) : NULL;
					if (prefetching(b, mine[i]))
						prefetch_children(b, mine[i], r->body);
				}
			}
		}
		const char *type = err == 0 && r && r->body ? rf_json_str(r->body, "@odata.type") : NULL;
		bool info = type && strncmp(type, "#ActionInfo.", 12) == 0;

		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		json_object_put(body);
		if (info)
			reinstall_referrers(b, mine[i], gen);
		if (mine[i] == uris[0])
			result0 = err;
	}
	if (off_h)
		go_offline(b, off_h, seen);
	for (size_t i = 0; i < k; i++) {
		rf_http_clear(&h[i]);
		free(remote[i]);
		free(etags[i]);
	}
	free(h);
	free(remote);
	free(mine);
	free(etags);
	return result0;
}

/* The children of o (a resource body, local URIs) linked by plain
 * references: objects whose one property is "@odata.id" with a local URI
 * strictly below uri. Inline resources (objects with more) are not
 * entered: a BMC that embeds its log entries serves them both ways, and
 * only a plain GET says how each one reads on its own. */
static void collect_refs(struct json_object *o, const char *uri, bool top, char ***v, size_t *n)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			collect_refs(json_object_array_get_idx(o, i), uri, false, v, n);
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	if (!top && json_object_object_get_ex(o, "@odata.id", NULL)) {
		if (json_object_object_length(o) == 1)
			add_child(rf_json_link(o), uri, v, n);
		return;
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "Actions") != 0)
			collect_refs(val, uri, false, v, n);
	}
}

/* Count the objects of the expanded reply o that embed uri: whose
 * "@odata.id" (normalised) is uri, with more than that; *hit the first. */
static size_t count_expanded(struct json_object *o, const char *uri, int depth,
			     struct json_object **hit)
{
	struct json_object *id;
	size_t n = 0;

	if (depth > MAX_PREFETCH_DEPTH)
		return 0;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; n < 2 && i < json_object_array_length(o); i++)
			n += count_expanded(json_object_array_get_idx(o, i), uri, depth + 1, hit);
		return n;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	if (depth && json_object_object_get_ex(o, "@odata.id", &id) &&
	    json_object_is_type(id, json_type_string) && json_object_object_length(o) > 1) {
		_cleanup_free_ char *norm = strdup(json_object_get_string(id));

		if (!norm || strcmp(rf_uri_normalize(norm), uri) != 0)
			return 0;
		if (!*hit)
			*hit = o;
		return 1;
	}
	json_object_object_foreach(o, key, val) {
		if (n >= 2)
			break;
		n += count_expanded(val, uri, depth + 1, hit);
		(void)key;
	}
	return n;
}

/* The resource uri as embedded in the expanded reply o, borrowed, or NULL
 * when none or more than one object claims it (a BMC that copy-pastes
 * @odata.id: which body is uri's only a plain GET of it says). */
static struct json_object *find_expanded(struct json_object *o, const char *uri)
{
	struct json_object *hit = NULL;

	return count_expanded(o, uri, 0, &hit) == 1 ? hit : NULL;
}

/* Load the children that parent's body links by plain reference, first
 * among them, in one request: GET parent?$expand=. (one level: each child
 * comes exactly as a GET of it reads, which is what makes it safe to keep).
 * The children are claimed (busy) for the request, so readers wait for it
 * rather than fetch them again; any the reply does not carry are let go
 * and queued again, and readers waiting on them fetch them themselves.
 * A BMC that fails at $expand (an error, no answer in time: some compute
 * expansions slowly), or ignores it, is not asked again until it comes
 * back from offline; a lost request does not take it offline, the plain
 * GETs that follow tell. Until a reply shows the BMC expands, one request
 * tries.
 * Returns false (nothing done) when this does not apply: no $expand, first
 * is not such a child, or fewer than two children are left to load. */
static bool fetch_expanded(struct rf_bmc *b, const char *parent, const char *first)
{
	char **kids = NULL, **mine = NULL;
	size_t n_kids = 0, k = 0, loaded = 0;
	bool has_first = false;
	struct json_object *reply = NULL;
	_cleanup_free_ char *remote = NULL, *path = NULL;
	struct rf_http h = { 0 };
	struct res *pr;
	uint64_t gen, seen;

	pthread_mutex_lock(&b->lock);
	pr = res_get(b, parent, false);
	/* Until one reply shows the BMC expands, one request tries it and
	 * the other workers fetch plainly meanwhile. */
	if ((b->expand != EXPAND_UNTRIED && b->expand != EXPAND_ON) || !b->expand_q[0] || !pr ||
	    !pr->body) {
		pthread_mutex_unlock(&b->lock);
		return false;
	}
	collect_refs(pr->body, parent, true, &kids, &n_kids);
	for (size_t i = 0; i < n_kids; i++) {
		struct res *r = res_get(b, kids[i], false);

		if (r && !r->busy && !r->tried && !r->body && !r->expand_missed)
			has_first |= strcmp(kids[i], first) == 0;
	}
	if (!has_first || !(mine = calloc(n_kids, sizeof(*mine))) ||
	    asprintf(&path, "%s%s", (remote = rf_rewrite_uri_out(&b->rw, parent)) ? remote : "",
		     b->expand_q) < 0 || !remote) {
		pthread_mutex_unlock(&b->lock);
		path = NULL;
		free(mine);
		strv_free_n(kids, n_kids);
		return false;
	}
	for (size_t i = 0; i < n_kids; i++) {
		struct res *r = res_get(b, kids[i], false);

		if (r && !r->busy && !r->tried && !r->body && !r->expand_missed) {
			r->busy = r->tried = true;
			mine[k++] = kids[i];
		}
	}
	if (k < 2) {
		for (size_t i = 0; i < k; i++) {
			struct res *r = res_get(b, mine[i], false);

			r->busy = r->tried = false;
		}
		pthread_mutex_unlock(&b->lock);
		free(mine);
		strv_free_n(kids, n_kids);
		return false;
	}
	seen = b->health_gen;
	if (b->expand == EXPAND_UNTRIED)
		b->expand = EXPAND_TRYING;   /* the one trial */
	pthread_mutex_unlock(&b->lock);

	gen = rf_tree_generation(b->tree);
	h.path = path;
	rf_client_run(b->client, &h, 1);
	if (h.err == 0 && h.status == 200 && (reply = parse_body(b, &h, remote)) &&
	    rf_rewrite_body(&b->rw, reply, true) < 0) {
		json_object_put(reply);
		reply = NULL;
	}
	if (h.err < 0 && !transport_error(&h))
		report(b, h.err, &h, path);
	for (size_t i = 0; reply && i < k && !loaded; i++)
		loaded = find_expanded(reply, mine[i]) != NULL;
	/* Refused, ignored or lost: plain GETs from now on (until the BMC
	 * comes back from offline, when $expand gets another try), decided
	 * before the children are let go, so no other worker asks again. A
	 * lost request is not an outage yet: the plain GETs will tell. */
	pthread_mutex_lock(&b->lock);
	b->expand = loaded ? EXPAND_ON : EXPAND_OFF;
	pthread_mutex_unlock(&b->lock);
	loaded = 0;

	for (size_t i = 0; i < k; i++) {
		struct json_object *body = reply ? find_expanded(reply, mine[i]) : NULL;
		int err = -ECANCELED;
		struct res *r;

		if (body && (body = json_object_get(body))) {
			as_local_body(body, mine[i]);
			err = install(b, mine[i], body, gen);
		}
		pthread_mutex_lock(&b->lock);
		r = res_get(b, mine[i], false);
		r->busy = false;
		if (err == 0) {
			loaded++;
			r->loads++;
			r->result = 0;
			r->fetched_ms = now_ms();
			json_object_put(r->body);
			r->body = body;
			body = NULL;
			free(r->etag);
			r->etag = NULL;
			r->prefetched = !r->wanted;
			if (prefetching(b, mine[i]))
				prefetch_children(b, mine[i], r->body);
		} else {
			char *u = strdup(mine[i]);

			r->result = -ECANCELED;      /* let go: released() */
			r->tried = false;
			/* Not in the reply (the parent changed since, or two
			 * bodies claim it): one plain GET, never another
			 * expansion that may lack it again. */
			r->expand_missed = reply != NULL;
			if (!u || pq_push(b, u) < 0)
				free(u);
		}
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		json_object_put(body);
	}
	if (loaded)
		go_online(b, seen);
	json_object_put(reply);
	rf_http_clear(&h);
	free(mine);
	strv_free_n(kids, n_kids);
	return true;
}

/* A prefetch worker: fetch the queued URIs, one at a time, while online.
 * parallel workers keep the BMC's request slots busy; a reader that needs
 * a URI before its turn fetches it itself (the worker then skips it), one
 * that needs it while it is under way waits for it (fetch()). */
static void *prefetch_main(void *arg)
{
	struct rf_bmc *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		size_t at;
		char *uri;

		if (!b->pq_n || !b->online || b->restoring) {
			pthread_cond_wait(&b->pq_cond, &b->lock);
			continue;
		}
		at = b->cursor ? pq_find(b, b->cursor) : 0;
		if (at == b->pq_n)
			at = 0;          /* past the last: wrap around */
		uri = b->pq[at];
		memmove(b->pq + at, b->pq + at + 1, (b->pq_n - at - 1) * sizeof(*b->pq));
		b->pq_n--;
		struct res *r = res_get(b, uri, false);
		bool want = r && !r->tried && !r->busy;
		char *via = want && r->via ? strdup(r->via) : NULL;

		pthread_mutex_unlock(&b->lock);
		if (want && !(via && fetch_expanded(b, via, uri)))
			fetch(b, &uri, 1, FETCH_PREFETCH, ANY_LOADS);
		free(via);
		free(uri);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- probing: ServiceRoot, collections, members ------------------------------------ */

static struct json_object *get_json(struct rf_bmc *b, const char *path, bool no_auth, int *ret)
{
	struct rf_http h = { .path = path, .no_auth = no_auth };
	struct json_object *o = NULL;
	uint64_t seen = health_seen(b);

	rf_client_run(b->client, &h, 1);
	*ret = h.err;
	if (h.err == 0 && !(o = parse_body(b, &h, path)))
		*ret = -EBADMSG;
	if (h.err < 0) {
		if (transport_error(&h))
			go_offline(b, &h, seen);
		else
			report(b, h.err, &h, path);
	}
	rf_http_clear(&h);
	return o;
}

static bool is_collection(struct json_object *body)
{
	struct json_object *m;

	return json_object_object_get_ex(body, "Members", &m) &&
	       json_object_is_type(m, json_type_array);
}

static bool skip_service(const char *key)
{
	/* Registries and schemas describe the BMC's software, not the rack. */
	return strcmp(key, "Links") == 0 || strcmp(key, "Registries") == 0 ||
	       strcmp(key, "JsonSchemas") == 0 || key[0] == '@';
}

struct coll {
	char *uri, *key;
	struct json_object *body;
};

/* Fetch the targets of the links of o (one batch); collections go to v. */
static int gather_collections(struct rf_bmc *b, struct json_object *o, bool top,
			      struct coll **v, size_t *n, struct json_object **ret_pe)
{
	struct rf_http h[64];
	char *keys[64];
	size_t k = 0;
	uint64_t seen;

	memset(h, 0, sizeof(h));
	json_object_object_foreach(o, key, val) {
		const char *x = rf_json_link(val);

		if (!x || skip_service(key) || k == ARRAY_SIZE(h) ||
		    strncmp(x, RF_ROOT "/", strlen(RF_ROOT) + 1) != 0)
			continue;
		h[k].path = x;
		keys[k] = key;
		k++;
	}
	seen = health_seen(b);
	rf_client_run(b->client, h, k);
	for (size_t i = 0; i < k; i++) {
		struct json_object *body;

		if (h[i].err < 0) {
			if (transport_error(&h[i])) {
				go_offline(b, &h[i], seen);
				for (size_t j = 0; j < k; j++)
					rf_http_clear(&h[j]);
				return h[i].err;
			}
			continue;          /* a dangling service link: not aggregated */
		}
		body = parse_body(b, &h[i], h[i].path);
		if (!body)
			continue;
		if (is_collection(body)) {
			struct coll *nv = realloc(*v, (*n + 1) * sizeof(**v));

			if (!nv) {
				json_object_put(body);
				continue;
			}
			*v = nv;
			(*v)[*n] = (struct coll){ .uri = strdup(h[i].path), .key = strdup(keys[i]),
						  .body = body };
			(*n)++;
		} else if (top && strcmp(keys[i], "PowerEquipment") == 0 && ret_pe) {
			*ret_pe = body;
		} else {
			json_object_put(body);
		}
	}
	for (size_t i = 0; i < k; i++)
		rf_http_clear(&h[i]);
	return 0;
}

/* Member URIs (remote) of a collection, following Members@odata.nextLink. */
static int members_of(struct rf_bmc *b, struct coll *c, char ***ret, size_t *ret_n)
{
	struct json_object *page = json_object_get(c->body);
	char **v = NULL;
	size_t n = 0, l = strlen(c->uri);
	int r = 0;

	for (int pages = 0; page && pages < MAX_PAGES; pages++) {
		struct json_object *m;
		const char *next;

		json_object_object_get_ex(page, "Members", &m);
		for (size_t i = 0; i < json_object_array_length(m); i++) {
			const char *x = rf_json_link(json_object_array_get_idx(m, i));
			char **nv;

			/* Only direct children can be renamed NAME_<id>. */
			if (!x || strncmp(x, c->uri, l) != 0 || x[l] != '/' || !x[l + 1] ||
			    strpbrk(x + l + 1, "/#?"))
				continue;
			if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			if ((v[n] = strdup(x)))
				n++;
		}
		next = rf_json_str(page, "Members@odata.nextLink");
		if (r < 0 || !next) {
			json_object_put(page);
			page = NULL;
			break;
		}
		/* A next page's @odata.id is the collection's; fetch by hand. */
		struct rf_http h = { .path = next };

		rf_client_run(b->client, &h, 1);
		json_object_put(page);
		page = NULL;
		if (h.err == 0) {
			page = json_tokener_parse(h.data ? h.data : "");
			if (!json_object_is_type(page, json_type_object) ||
			    !json_object_object_get_ex(page, "Members", &m) ||
			    !json_object_is_type(m, json_type_array)) {
				json_object_put(page);
				page = NULL;
				r = -EBADMSG;
			}
		} else {
			r = h.err;
		}
		rf_http_clear(&h);
	}
	json_object_put(page);
	*ret = v;
	*ret_n = n;
	return r;
}

static int add_local_collection(struct rf_bmc *b, const struct coll *c, bool root_link)
{
	const char *type = rf_json_str(c->body, "@odata.type");
	const char *name = rf_json_str(c->body, "Name");
	int r;

	r = rf_tree_add_collection(b->tree, &b->provider, c->uri, type ? type : "",
				   name ? name : c->key);
	if (r < 0 && r != -EEXIST)
		return r;
	if (root_link) {
		r = rf_tree_add_root_link(b->tree, c->key, c->uri);
		if (r < 0 && r != -EEXIST)
			return r;
	} else if (strncmp(c->uri, PE_PREFIX, strlen(PE_PREFIX)) == 0 &&
		   !strchr(c->uri + strlen(PE_PREFIX), '/')) {
		/* FloorPDUs, TransferSwitches, ...: linked like RackPDUs. */
		if ((r = rf_tree_add_power_equipment_link(b->tree, c->key, c->uri)) < 0)
			return r;
	}
	return 0;
}

/* How to ask for a resource's children in one request, from the
 * ServiceRoot's ProtocolFeaturesSupported.ExpandQuery: "$expand=." (links
 * outside Links) or else "$expand=*", one level; none if neither. */
static void expand_from_root(struct rf_bmc *b, struct json_object *root)
{
	struct json_object *pf, *eq, *v;
	const char *q = "";

	if (json_object_object_get_ex(root, "ProtocolFeaturesSupported", &pf) &&
	    json_object_object_get_ex(pf, "ExpandQuery", &eq)) {
		if (json_object_object_get_ex(eq, "NoLinks", &v) && json_object_get_boolean(v))
			q = "?$expand=.";
		else if (json_object_object_get_ex(eq, "ExpandAll", &v) && json_object_get_boolean(v))
			q = "?$expand=*";
	}
	pthread_mutex_lock(&b->lock);
	snprintf(b->expand_q, sizeof(b->expand_q), "%s", q);
	pthread_mutex_unlock(&b->lock);
}

static int do_probe(struct rf_bmc *b)
{
	struct json_object *root, *pe = NULL;
	struct coll *colls = NULL;
	size_t n_colls = 0, n_local = 0;
	char **local = NULL;
	int r;

	root = get_json(b, RF_ROOT, true, &r);
	if (!root)
		return r;
	expand_from_root(b, root);
	{
		struct json_object *links, *s;
		const char *x = json_object_object_get_ex(root, "Links", &links) &&
				json_object_object_get_ex(links, "Sessions", &s) ? rf_json_link(s) : NULL;

		rf_client_set_sessions_uri(b->client, x);
	}
	if ((r = rf_client_login(b->client)) < 0) {
		struct rf_http h = { .err = r };

		snprintf(h.error, sizeof(h.error), "login as %s: %s", b->user ? b->user : "",
			 strerror(-r));
		report(b, r, &h, "login");
		json_object_put(root);
		return r;
	}
	r = gather_collections(b, root, true, &colls, &n_colls, &pe);
	json_object_put(root);
	if (r == 0 && pe) {
		size_t first = n_colls;

		r = gather_collections(b, pe, false, &colls, &n_colls, NULL);
		for (size_t i = first; i < n_colls; i++) {
			/* Only if the local service has it (the tree's RackPDUs). */
			free(colls[i].key);
			colls[i].key = NULL;
		}
	}
	json_object_put(pe);
	if (r < 0)
		goto out;

	/* Rewriting rules first (fetch() needs them), then the members. */
	for (size_t i = 0; i < n_colls; i++) {
		if (!colls[i].uri || (r = rf_rewrite_add_collection(&b->rw, colls[i].uri)) < 0)
			goto out;
	}
	for (size_t i = 0; i < n_colls; i++) {
		char **rem = NULL;
		size_t n_rem = 0;

		if (colls[i].key) {
			if ((r = add_local_collection(b, &colls[i], true)) < 0)
				goto out;
		} else {
			colls[i].key = strdup(strrchr(colls[i].uri, '/') + 1);
			if (add_local_collection(b, &colls[i], false) < 0)
				continue;
		}
		if ((r = members_of(b, &colls[i], &rem, &n_rem)) < 0) {
			strv_free_n(rem, n_rem);
			goto out;
		}
		for (size_t j = 0; j < n_rem; j++) {
			char **nv = realloc(local, (n_local + 1) * sizeof(*local));

			if (!nv) {
				r = -ENOMEM;
				strv_free_n(rem, n_rem);
				goto out;
			}
			local = nv;
			if ((local[n_local] = rf_rewrite_uri_in(&b->rw, rem[j])))
				n_local++;
		}
		strv_free_n(rem, n_rem);
	}
	for (size_t i = 0; i < n_local; i++)
		rf_tree_claim_prefix(b->tree, &b->provider, local[i]);

	/* Drop members that went away since the last probe. */
	pthread_mutex_lock(&b->lock);
	char **old = b->members;
	size_t n_old = b->n_members;

	b->members = NULL;
	b->n_members = 0;
	pthread_mutex_unlock(&b->lock);
	for (size_t i = 0; i < n_old; i++) {
		bool kept = false;

		for (size_t j = 0; j < n_local && !kept; j++)
			kept = strcmp(old[i], local[j]) == 0;
		if (!kept)
			rf_tree_remove(b->tree, old[i]);
	}
	strv_free_n(old, n_old);

	/* Fetch the members (one batch); an existing one is revalidated. */
	if (n_local) {
		char **copy = calloc(n_local, sizeof(*copy));

		for (size_t i = 0; copy && i < n_local; i++)
			copy[i] = local[i];
		if (copy) {
			/* fetch() borrows uris; the members' children are
			 * queued for the prefetch workers. */
			fetch(b, copy, n_local, FETCH_LOAD, ANY_LOADS);
			free(copy);
		}
	}
	qsort(local, n_local, sizeof(*local), cmp_strp);   /* walk order */
	pthread_mutex_lock(&b->lock);
	b->members = local;
	b->n_members = n_local;
	local = NULL;
	n_local = 0;
	b->probed = true;
	bool online = b->online;

	pthread_mutex_unlock(&b->lock);
	r = online ? install_source(b) : -EHOSTUNREACH;
out:
	for (size_t i = 0; i < n_colls; i++) {
		free(colls[i].uri);
		free(colls[i].key);
		json_object_put(colls[i].body);
	}
	free(colls);
	strv_free_n(local, n_local);
	return r;
}

int rf_bmc_probe(struct rf_bmc *b)
{
	uint64_t seen;
	int r;

	pthread_mutex_lock(&b->lock);
	while (b->probing)
		pthread_cond_wait(&b->cond, &b->lock);
	b->probing = true;
	seen = b->health_gen;
	pthread_mutex_unlock(&b->lock);
	r = do_probe(b);
	pthread_mutex_lock(&b->lock);
	b->probing = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (r == 0) {
		go_online(b, seen);     /* no-op unless it was offline */
	} else {
		install_source(b);
		int cause = __atomic_load_n(&b->last_cause, __ATOMIC_RELAXED);
		bool tell;

		pthread_mutex_lock(&b->lock);
		tell = !b->told_offline;   /* the first probe: it starts offline */
		b->told_offline = true;
		pthread_mutex_unlock(&b->lock);
		if (tell && b->on_state)
			b->on_state(b->userdata, b->name, false, cause ? cause : r);
	}
	return r;
}

/* ---- provider operations ------------------------------------------------------------ */

static int bmc_refresh(struct rf_provider *p, const char *uri, int64_t max_age_ms)
{
	struct rf_bmc *b = p->userdata;
	struct res *r;
	uint64_t seen;

	if (strncmp(uri, RF_AGG_SERVICE, strlen(RF_AGG_SERVICE)) == 0 ||
	    rf_rewrite_is_collection(&b->rw, uri)) {
		/* Ours to maintain; nothing to fetch for them. */
		rf_tree_touch(b->tree, uri);
		return 0;
	}
	pthread_mutex_lock(&b->lock);
	r = res_get(b, uri, false);
	if (!r || !r->body)
		prefetch_activate(b, uri);
	if (!r || !r->body || r->busy) {
		prefetch_follow(b, uri);     /* a reader has to wait here */
		if ((r = res_get(b, uri, false)))   /* activating may have queued it */
			r->wanted = true;
	}
	if (r && r->busy) {
		while (r->busy)
			pthread_cond_wait(&b->cond, &b->lock);
		if (!released(r)) {
			int res = r->result;

			pthread_mutex_unlock(&b->lock);
			return res;
		}
		/* let go unloaded: fetched below */
	}
	if (r && !r->body && r->result == -ENOENT && r->fetched_ms &&
	    now_ms() - r->fetched_ms < max_age_ms) {
		pthread_mutex_unlock(&b->lock);
		return -ENOENT;     /* asked for lately and not there */
	}
	if (r && r->body && r->fetched_ms && now_ms() - r->fetched_ms < max_age_ms) {
		pthread_mutex_unlock(&b->lock);
		rf_tree_touch(b->tree, uri);
		return 0;
	}
	seen = r ? r->loads : 0;
	pthread_mutex_unlock(&b->lock);

	char *v[1] = { (char *)uri };

	return fetch(b, v, 1, FETCH_LOAD, seen);
}

/* The remote ETag and remote URI of uri; -ENOENT when not ours. */
static int remote_of(struct rf_bmc *b, const char *uri, char **ret_remote, char **ret_etag)
{
	struct res *r;

	if (!(*ret_remote = rf_rewrite_uri_out(&b->rw, uri)))
		return -ENOENT;
	pthread_mutex_lock(&b->lock);
	r = res_get(b, uri, false);
	while (r && r->busy)            /* as in action_target */
		pthread_cond_wait(&b->cond, &b->lock);
	*ret_etag = r && r->etag ? strdup(r->etag) : NULL;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static bool is_online(struct rf_bmc *b)
{
	bool on;

	pthread_mutex_lock(&b->lock);
	on = b->online;
	pthread_mutex_unlock(&b->lock);
	return on;
}

/* After a write: load uri afresh (no If-None-Match) or from the reply. */
static int reload(struct rf_bmc *b, const char *uri, const char *remote, struct rf_http *h,
		  uint64_t gen)
{
	struct json_object *body;
	char *v[1] = { (char *)uri };
	int r;

	if (h && h->status == 200 && (body = parse_body(b, h, remote))) {
		if (rf_rewrite_body(&b->rw, body, true) == 0 &&
		    (r = install(b, uri, body, gen)) == 0) {
			pthread_mutex_lock(&b->lock);
			struct res *rs = res_get(b, uri, true);

			if (rs && !rs->busy) {
				json_object_put(rs->body);
				rs->body = body;
				body = NULL;
				free(rs->etag);
				rs->etag = h->etag ? strdup(h->etag) : NULL;
				rs->fetched_ms = now_ms();
			}
			pthread_mutex_unlock(&b->lock);
			json_object_put(body);
			return 0;
		}
		json_object_put(body);
	}
	return fetch(b, v, 1, FETCH_FORCE, ANY_LOADS);
}

static int bmc_patch(struct rf_provider *p, const char *uri, void *cookie, struct json_object *delta)
{
	struct rf_bmc *b = p->userdata;
	_cleanup_free_ char *remote = NULL, *etag = NULL;
	struct json_object *d = NULL;
	struct rf_http h = { 0 };
	uint64_t seen = 0;
	int r;

	if (!is_online(b))
		return -EHOSTUNREACH;
	if ((r = remote_of(b, uri, &remote, &etag)) < 0)
		return r;
	if (json_object_deep_copy(delta, &d, NULL) < 0)
		return -ENOMEM;
	if ((r = rf_rewrite_body(&b->rw, d, false)) < 0) {
		json_object_put(d);
		return r;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		uint64_t gen = rf_tree_generation(b->tree);

		seen = health_seen(b);
		h = (struct rf_http){ .method = "PATCH", .path = remote, .if_match = etag,
				      .body = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN) };
		rf_client_run(b->client, &h, 1);
		if (h.err == 0) {
			r = reload(b, uri, remote, &h, gen);
			rf_http_clear(&h);
			json_object_put(d);
			return r == -ESTALE ? 0 : (r < 0 ? r : 0);
		}
		if (h.status != 412 || attempt)
			break;
		/* Our ETag was old (a reading changed): reload, retry once. */
		rf_http_clear(&h);
		char *v[1] = { (char *)uri };

		fetch(b, v, 1, FETCH_FORCE, ANY_LOADS);
		char *again = NULL;

		free(etag);
		etag = NULL;
		if (remote_of(b, uri, &again, &etag) == 0)
			free(again);
	}
	r = h.err;
	if (transport_error(&h))
		go_offline(b, &h, seen);
	else
		report(b, r, &h, uri);
	rf_http_clear(&h);
	json_object_put(d);
	return r;
}

/* The target of action "#name" in uri's body (local URI), malloc'd. */
static char *action_target(struct rf_bmc *b, const char *uri, const char *name)
{
	struct json_object *acts, *a, *oem;
	char key[256];
	char *t = NULL;
	struct res *r;

	snprintf(key, sizeof(key), "#%s", name);
	pthread_mutex_lock(&b->lock);
	r = res_get(b, uri, false);
	/* A fetch installs in the tree before it keeps the body here: a
	 * write that saw the tree's copy waits for ours. */
	while (r && r->busy)
		pthread_cond_wait(&b->cond, &b->lock);
	if (r && r->body && json_object_object_get_ex(r->body, "Actions", &acts) &&
	    (json_object_object_get_ex(acts, key, &a) ||
	     (json_object_object_get_ex(acts, "Oem", &oem) &&
	      json_object_object_get_ex(oem, key, &a)))) {
		const char *s = rf_json_str(a, "target");

		t = s ? strdup(s) : NULL;
	}
	pthread_mutex_unlock(&b->lock);
	return t;
}

static int bmc_action(struct rf_provider *p, const char *uri, void *cookie, const char *action,
		      struct json_object *params)
{
	struct rf_bmc *b = p->userdata;
	_cleanup_free_ char *target = NULL, *remote = NULL;
	struct json_object *d = NULL;
	struct rf_http h = { 0 };
	uint64_t seen;
	int r;

	if (!is_online(b))
		return -EHOSTUNREACH;
	if (!(target = action_target(b, uri, action)) ||
	    !(remote = rf_rewrite_uri_out(&b->rw, target)))
		return -ENOENT;
	if (params && json_object_deep_copy(params, &d, NULL) < 0)
		return -ENOMEM;
	if (d && (r = rf_rewrite_body(&b->rw, d, false)) < 0) {
		json_object_put(d);
		return r;
	}
	h = (struct rf_http){ .method = "POST", .path = remote,
			      .body = d ? json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN) : "{}" };
	seen = health_seen(b);
	rf_client_run(b->client, &h, 1);
	r = h.err;
	if (r == 0) {
		char *v[1] = { (char *)uri };

		/* Accepted (2xx): show what the BMC now says; the state itself
		 * may change later. A failed reload does not fail the action;
		 * a fetch under way may predate the action: fetch after it. */
		fetch(b, v, 1, FETCH_FORCE, ANY_LOADS);
	} else if (transport_error(&h)) {
		go_offline(b, &h, seen);
	} else {
		report(b, r, &h, target);
	}
	rf_http_clear(&h);
	json_object_put(d);
	return r;
}

/* A reader listed uri. Listing what the prefetch brought in before anyone
 * asked for it is what a walk does (tar, find, grep -r, rsync): the walk
 * reads ahead into the member after this one (in name order), so that when
 * it gets there that member is loaded or under way, and the workers drain
 * the queue from where the walk is. A reader who only goes down one path
 * lists only what it had to wait for, and nothing more loads. */
static void bmc_listed(struct rf_provider *p, const char *uri)
{
	struct rf_bmc *b = p->userdata;
	size_t m, n;
	struct res *r;

	pthread_mutex_lock(&b->lock);
	r = res_get(b, uri, false);
	m = member_index(b, uri);
	n = b->n_members;
	if (r && r->prefetched && m < n && strmap_get(b->active, b->members[m])) {
		prefetch_follow(b, uri);
		/* The members after m, wrapping round; none once all are active. */
		for (size_t i = 1; i < n && strmap_size(b->active) < n &&
				   b->pq_n < (size_t)READAHEAD * b->parallel; i++)
			activate_member(b, b->members[(m + i) % n]);
	}
	pthread_mutex_unlock(&b->lock);
}

static const struct rf_provider_ops bmc_ops = {
	.refresh = bmc_refresh,
	.listed = bmc_listed,
	.patch = bmc_patch,
	.action = bmc_action,
};

/* ---- health thread and lifetime ------------------------------------------------------- */

static void *health_main(void *arg)
{
	struct rf_bmc *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		if (b->online && b->probed) {
			pthread_cond_wait(&b->cond, &b->lock);
			continue;
		}
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += HEALTH_RETRY_MS / 1000;
		pthread_cond_timedwait(&b->cond, &b->lock, &ts);
		if (b->stop || (b->online && b->probed))
			continue;
		pthread_mutex_unlock(&b->lock);
		rf_bmc_probe(b);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct rf_bmc *rf_bmc_new(struct rf_tree *t, const struct rf_bmc_config *cfg, int *ret_err)
{
	struct rf_client_config cc = { 0 };
	struct rf_bmc *b;
	char *url = NULL;
	int r;

	if (!cfg->name || !rf_source_name_valid(cfg->name, strlen(cfg->name)) || !cfg->url ||
	    (cfg->user && !cfg->password)) {
		*ret_err = -EINVAL;
		return NULL;
	}
	if ((r = rf_bmc_url_normalize(cfg->url, &url)) < 0) {
		*ret_err = r;
		return NULL;
	}
	if (cfg->ca_file && access(cfg->ca_file, R_OK) < 0) {
		*ret_err = -errno;
		free(url);
		return NULL;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		free(url);
		*ret_err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	pthread_cond_init(&b->pq_cond, NULL);
	b->parallel = cfg->parallel > 0 ? cfg->parallel : DEFAULT_PARALLEL;
	b->tree = t;
	b->url = url;
	b->online = true;
	b->no_expand_cfg = cfg->no_expand;
	b->expand = cfg->no_expand ? EXPAND_OFF : EXPAND_UNTRIED;
	b->on_error = cfg->on_error;
	b->on_state = cfg->on_state;
	b->userdata = cfg->userdata;
	snprintf(b->pname, sizeof(b->pname), "bmc %s", cfg->name);
	snprintf(b->source_uri, sizeof(b->source_uri), RF_AGG_SOURCES "/%s", cfg->name);
	b->provider = (struct rf_provider){ .name = b->pname, .ops = &bmc_ops, .userdata = b };
	cc = (struct rf_client_config){ .base_url = url, .user = cfg->user, .password = cfg->password,
					.ca_file = cfg->ca_file, .insecure = cfg->insecure,
					.timeout_ms = cfg->timeout_ms, .parallel = cfg->parallel };
	if (!(b->name = strdup(cfg->name)) || (cfg->user && !(b->user = strdup(cfg->user))) ||
	    !(b->res = strmap_new()) || !(b->active = strmap_new()) ||
	    rf_rewrite_init(&b->rw, cfg->name) < 0 ||
	    rf_rewrite_set_origin(&b->rw, url) < 0) {
		rf_bmc_free(b);
		*ret_err = -ENOMEM;
		return NULL;
	}
	if (!(b->client = rf_client_new(&cc, &r))) {
		rf_bmc_free(b);
		*ret_err = r;
		return NULL;
	}
	return b;
}

/* The health thread, and the prefetch workers (one per request slot of
 * the BMC). */
int rf_bmc_start(struct rf_bmc *b)
{
	int r;

	if (b->thread_started)
		return -EALREADY;
	if (!(b->workers = calloc(b->parallel, sizeof(*b->workers))))
		return -ENOMEM;
	if ((r = -pthread_create(&b->thread, NULL, health_main, b)) < 0)
		return r;
	b->thread_started = true;
	for (int i = 0; i < b->parallel; i++) {
		if ((r = -pthread_create(&b->workers[i], NULL, prefetch_main, b)) < 0)
			break;      /* fewer workers: prefetch is slower, nothing else */
		b->n_workers++;
	}
	return 0;
}

bool rf_bmc_online(struct rf_bmc *b)
{
	return is_online(b);
}

struct rf_bmc *rf_bmc_free(struct rf_bmc *b)
{
	size_t it = 0;
	const char *k;
	void *v;

	if (!b)
		return NULL;
	if (b->thread_started) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_broadcast(&b->cond);
		pthread_cond_broadcast(&b->pq_cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
		for (int i = 0; i < b->n_workers; i++)
			pthread_join(b->workers[i], NULL);
	}
	free(b->workers);
	strv_free_n(b->pq, b->pq_n);
	free(b->cursor);
	/* Leave nothing in the tree that names this provider. */
	for (size_t i = 0; i < b->n_members; i++)
		rf_tree_remove(b->tree, b->members[i]);
	if (b->source_uri[0])
		rf_tree_remove(b->tree, b->source_uri);   /* a failed probe may have shown it */
	rf_tree_forget_provider(b->tree, &b->provider);
	while (b->res && strmap_next(b->res, &it, &k, &v))
		res_free(v);
	strmap_free(b->res);
	strmap_free(b->active);
	strv_free_n(b->members, b->n_members);
	rf_client_free(b->client);
	rf_rewrite_done(&b->rw);
	free(b->name);
	free(b->url);
	free(b->user);
	pthread_cond_destroy(&b->pq_cond);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return NULL;
}
