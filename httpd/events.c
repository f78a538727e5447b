/* events.c — the Redfish EventService: server-sent events and push
 * subscriptions, fed by the tree's change listener.
 *
 * Who calls: front.c (routes, lifetime), the tree (ev_on_change, from any
 * installing thread), MHD threads (the SSE content reader and its free
 * callback), and the threads started here.
 *
 * The feed. The tree names every changed mount path; a resource whose
 * document changed names "DIR/index.json". The listener only adds the
 * resource's URI to a pending set (and, for a strip's or a BMC's
 * "Status/State" or "Status/Health", to a status set) and wakes the event
 * thread — so a mount write, an HTTP action, a poll that found a button
 * pressed at the strip and a BMC going away all arrive the same way, and
 * nothing polls the tree. The event thread turns the sets into records:
 * ResourceChanged (ResourceRemoved when the document is gone) for each
 * URI, and for a strip or BMC whose State changed, ResourceStateChanged
 * plus ResourceStatusChangedCritical (offline) or ResourceStatusChangedOK
 * (back). Documents are read with rf_tree_peek, which never waits for a
 * device. Each record goes to every SSE stream and every subscription whose
 * filter takes it.
 *
 * SSE. A stream is an MHD response from a content reader over a byte
 * queue. With nothing queued the reader suspends its connection (MHD's
 * rule: no busy loop), and whoever queues bytes resumes it. Every
 * SSE_KEEPALIVE_S an idle stream gets a comment line, which also finds
 * clients that went away (a suspended connection cannot notice). The
 * DSP0266 $filter forms for SSE are parsed into a small expression tree.
 *
 * Subscriptions. POST EventService/Subscriptions creates an
 * EventDestination (a tree resource, so it shows in the mount too) and a
 * delivery thread that POSTs queued records to Destination as one Event,
 * with a libcurl timeout of SUB_TIMEOUT_MS. A failed delivery is retried
 * with backoff (SUB_BACKOFF_MIN_MS doubling up to
 * DeliveryRetryIntervalSeconds); DeliveryRetryPolicy TerminateAfterRetries
 * ends the subscription after DeliveryRetryAttempts, the default
 * RetryForeverWithBackoff keeps trying, holding at most SUB_QUEUE_MAX
 * records (the oldest are dropped). DELETE ends it at once: the thread
 * starts no further delivery. Subscriptions persist in
 * STATE_DIR/subscriptions.json (0600, replaced atomically).
 *
 * Locks: ev->lock guards everything mutable here (pending sets, streams,
 * subscriptions and their queues); it is never held across curl or tree
 * calls, except rf_tree_install/remove of subscription resources, whose
 * listener calls take it again — so those run unlocked too. The reader
 * suspends its connection under ev->lock and queuers resume under it, so
 * a wakeup cannot fall between "nothing queued" and "suspended". */
#include "internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENT_SVC        RF_ROOT "/EventService"
#define SSE_URI          RF_ROOT "/EventService/SSE"
#define SUBS_URI         HTTPD_SUBSCRIPTIONS
#define REGISTRIES_URI   RF_ROOT "/Registries"
#define REG_FILE_URI     RF_ROOT "/Registries/ResourceEvent"
#define REG_URI          RF_ROOT "/Registries/ResourceEvent/ResourceEvent"
#define REG_ID           "ResourceEvent.1.4.2"

#define SSE_KEEPALIVE_S 15
#define SUB_MAX 32
#define SUB_QUEUE_MAX 1000
#define SUB_BATCH_MAX 64
#define SUB_TIMEOUT_MS 2000
#define SUB_BACKOFF_MIN_MS 200
#define RETRY_ATTEMPTS 3
#define RETRY_INTERVAL_S 5

/* ---- the messages (DMTF ResourceEvent 1.4.2, the ones we send) ------------------- */

struct ev_msg {
	const char *key, *severity, *text;   /* text with %1, %2 */
	int nargs;
};

static const struct ev_msg MSG_CHANGED = {
	"ResourceChanged", "OK", "One or more resource properties have changed.", 0 };
static const struct ev_msg MSG_REMOVED = {
	"ResourceRemoved", "OK", "The resource was removed successfully.", 0 };
static const struct ev_msg MSG_STATE = {
	"ResourceStateChanged", "OK", "The state of resource '%1' has changed to %2.", 2 };
static const struct ev_msg MSG_STATUS_OK = {
	"ResourceStatusChangedOK", "OK", "The health of resource '%1' has changed to %2.", 2 };
static const struct ev_msg MSG_STATUS_CRIT = {
	"ResourceStatusChangedCritical", "Critical",
	"The health of resource '%1' has changed to %2.", 2 };

/* The registry document served at REG_URI: DMTF's text for these messages. */
static const char registry_json[] =
	"{\"@odata.type\":\"#MessageRegistry.v1_7_0.MessageRegistry\","
	"\"Id\":\"" REG_ID "\",\"Name\":\"Resource Event Message Registry\",\"Language\":\"en\","
	"\"Description\":\"This registry defines the messages to use for resource events.  "
	"This copy holds the messages this service sends.\","
	"\"RegistryPrefix\":\"ResourceEvent\",\"RegistryVersion\":\"1.4.2\",\"OwningEntity\":\"DMTF\","
	"\"Messages\":{"
	"\"ResourceChanged\":{\"Description\":\"Indicates that one or more resource properties have changed.  "
	"This is not used whenever there is another event message for that specific change, such as when only the state has changed.\","
	"\"LongDescription\":\"This message shall indicate that one or more resource properties have changed.\","
	"\"Message\":\"One or more resource properties have changed.\",\"Severity\":\"OK\",\"MessageSeverity\":\"OK\","
	"\"NumberOfArgs\":0,\"Resolution\":\"None.\"},"
	"\"ResourceRemoved\":{\"Description\":\"Indicates that all conditions of a successful remove operation were met.\","
	"\"LongDescription\":\"This message shall indicate that all conditions of a successful remove operation were met.\","
	"\"Message\":\"The resource was removed successfully.\",\"Severity\":\"OK\",\"MessageSeverity\":\"OK\","
	"\"NumberOfArgs\":0,\"Resolution\":\"None.\"},"
	"\"ResourceStateChanged\":{\"Description\":\"Indicates that the state of a resource has changed.\","
	"\"LongDescription\":\"This message shall indicate that the value of the State property of a resource has changed.\","
	"\"Message\":\"The state of resource '%1' has changed to %2.\",\"VersionAdded\":\"1.1.0\","
	"\"Severity\":\"OK\",\"MessageSeverity\":\"OK\",\"NumberOfArgs\":2,\"ParamTypes\":[\"string\",\"string\"],"
	"\"ArgDescriptions\":[\"The relevant resource.\",\"The state of the resource.\"],"
	"\"ArgLongDescriptions\":[\"This argument shall contain the name of the relevant Redfish resource.\","
	"\"This argument shall contain the value of the `State` property for the relevant Redfish resource.  "
	"The values shall be used from the definition of the `State` enumeration in the `Resource` schema.\"],"
	"\"Resolution\":\"None.\"},"
	"\"ResourceStatusChangedOK\":{\"Description\":\"Indicates that the health of a resource has changed to OK.\","
	"\"LongDescription\":\"This message shall indicate that the health of a resource has changed to OK.\","
	"\"Message\":\"The health of resource '%1' has changed to %2.\",\"Severity\":\"OK\",\"MessageSeverity\":\"OK\","
	"\"NumberOfArgs\":2,\"ParamTypes\":[\"string\",\"string\"],"
	"\"ArgDescriptions\":[\"The relevant resource.\",\"The state of the resource.\"],"
	"\"ArgLongDescriptions\":[\"This argument shall contain the name of the relevant Redfish resource.\","
	"\"This argument shall contain the value of the `Health` property for the relevant Redfish resource.  "
	"The values shall be used from the definition of the `Health` enumeration in the `Resource` schema.\"],"
	"\"Resolution\":\"None.\",\"ClearingLogic\":{\"ClearsIf\":\"SameOriginOfCondition\","
	"\"ClearsMessage\":[\"ResourceStatusChangedCritical\",\"ResourceStatusChangedWarning\"]}},"
	"\"ResourceStatusChangedCritical\":{\"Description\":\"Indicates that the health of a resource has changed to Critical.\","
	"\"LongDescription\":\"This message shall indicate that the health of a resource has changed to Critical.\","
	"\"Message\":\"The health of resource '%1' has changed to %2.\",\"Severity\":\"Critical\","
	"\"MessageSeverity\":\"Critical\",\"NumberOfArgs\":2,\"ParamTypes\":[\"string\",\"string\"],"
	"\"ArgDescriptions\":[\"The relevant resource.\",\"The state of the resource.\"],"
	"\"ArgLongDescriptions\":[\"This argument shall contain the name of the relevant Redfish resource.\","
	"\"This argument shall contain the value of the `Health` property for the relevant Redfish resource.  "
	"The values shall be used from the definition of the `Health` enumeration in the `Resource` schema.\"],"
	"\"Resolution\":\"None.\"}"
	"}}";

/* ---- records ---------------------------------------------------------------------- */

struct ev_record {
	uint64_t id;
	const struct ev_msg *msg;
	char *origin;            /* URI */
	char *type;              /* schema name of the origin ("Outlet"), "" unknown */
	char *arg[2];
	struct timespec ts;
};

static void record_clear(struct ev_record *r)
{
	free(r->origin);
	free(r->type);
	free(r->arg[0]);
	free(r->arg[1]);
	memset(r, 0, sizeof(*r));
}

static int record_copy(const struct ev_record *src, struct ev_record *dst)
{
	*dst = (struct ev_record){ .id = src->id, .msg = src->msg, .ts = src->ts };
	dst->origin = strdup(src->origin);
	dst->type = strdup(src->type);
	dst->arg[0] = src->arg[0] ? strdup(src->arg[0]) : NULL;
	dst->arg[1] = src->arg[1] ? strdup(src->arg[1]) : NULL;
	if (!dst->origin || !dst->type || (src->arg[0] && !dst->arg[0]) ||
	    (src->arg[1] && !dst->arg[1])) {
		record_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* One EventRecord object (new reference). */
static struct json_object *record_json(const struct ev_record *r, int member)
{
	struct json_object *o = json_object_new_object(), *args = json_object_new_array();
	struct json_object *origin = json_object_new_object();
	char text[512], ts[40], id[24], mid[24];
	const char *p = r->msg->text;
	size_t n = 0;
	struct tm tm;

	for (; *p && n + 1 < sizeof(text); p++) {
		if (p[0] == '%' && (p[1] == '1' || p[1] == '2') && r->arg[p[1] - '1']) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", r->arg[p[1] - '1']);
			if (n >= sizeof(text))
				n = sizeof(text) - 1;
			p++;
			continue;
		}
		text[n++] = *p;
	}
	text[n] = '\0';
	gmtime_r(&r->ts.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)r->id);
	snprintf(mid, sizeof(mid), "%d", member);
	for (int i = 0; i < r->msg->nargs; i++)
		json_object_array_add(args, json_object_new_string(r->arg[i] ? r->arg[i] : ""));
	json_object_object_add(origin, "@odata.id", json_object_new_string(r->origin));
	json_object_object_add(o, "MemberId", json_object_new_string(mid));
	json_object_object_add(o, "EventType", json_object_new_string("Other"));
	json_object_object_add(o, "EventId", json_object_new_string(id));
	json_object_object_add(o, "EventTimestamp", json_object_new_string(ts));
	{
		char full[96];

		snprintf(full, sizeof(full), "%s.%s", REG_ID, r->msg->key);
		json_object_object_add(o, "MessageId", json_object_new_string(full));
	}
	json_object_object_add(o, "Message", json_object_new_string(text));
	json_object_object_add(o, "MessageArgs", args);
	json_object_object_add(o, "MessageSeverity", json_object_new_string(r->msg->severity));
	json_object_object_add(o, "OriginOfCondition", origin);
	return o;
}

/* An Event document of n records, with Context if given (malloc'd). */
static char *event_doc(const struct ev_record *r, size_t n, const char *context)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char id[24];
	char *s;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)(n ? r[0].id : 0));
	json_object_object_add(o, "@odata.type", json_object_new_string("#Event.v1_13_0.Event"));
	json_object_object_add(o, "Id", json_object_new_string(id));
	json_object_object_add(o, "Name", json_object_new_string("Redfish events"));
	if (context)
		json_object_object_add(o, "Context", json_object_new_string(context));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, record_json(&r[i], (int)i));
	json_object_object_add(o, "Events", arr);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* "ResourceEvent.1.0.ResourceChanged" names msg whatever the version. */
static bool message_id_is(const char *want, const struct ev_msg *msg)
{
	const char *dot = strchr(want, '.'), *last = strrchr(want, '.');

	if (!dot)   /* a bare key */
		return strcmp(want, msg->key) == 0;
	return (size_t)(dot - want) == strlen("ResourceEvent") &&
	       strncmp(want, "ResourceEvent", (size_t)(dot - want)) == 0 &&
	       strcmp(last + 1, msg->key) == 0;
}

static bool origin_is(const char *want, const char *origin, bool subordinate)
{
	size_t n = strlen(want);

	while (n > 1 && want[n - 1] == '/')
		n--;
	if (strncmp(origin, want, n) != 0)
		return false;
	return origin[n] == '\0' || (subordinate && origin[n] == '/');
}

/* ---- $filter (DSP0266 SSE filters) ------------------------------------------------- */

enum fprop { FP_EVENT_FORMAT, FP_MESSAGE_ID, FP_ORIGIN, FP_REGISTRY, FP_RESOURCE_TYPE,
	     FP_SUBORDINATE, FP_EVENT_TYPE, FP_METRIC_REPORT };

struct fnode {
	enum { FN_CMP, FN_AND, FN_OR, FN_NOT } kind;
	enum fprop prop;
	bool ne;
	char *value;
	struct fnode *a, *b;
};

static struct fnode *fnode_free(struct fnode *n)
{
	if (n) {
		fnode_free(n->a);
		fnode_free(n->b);
		free(n->value);
		free(n);
	}
	return NULL;
}

struct fparse {
	const char *p;
	bool subordinate;       /* SubordinateResources eq true anywhere */
};

static void fskip(struct fparse *fp)
{
	while (*fp->p == ' ')
		fp->p++;
}

/* A word (property, operator, unquoted value) or a quoted string. */
static char *fword(struct fparse *fp)
{
	const char *s;
	char *w;

	fskip(fp);
	if (*fp->p == '\'') {
		s = ++fp->p;
		while (*fp->p && *fp->p != '\'')
			fp->p++;
		if (!*fp->p)
			return NULL;
		w = strndup(s, (size_t)(fp->p - s));
		fp->p++;
		return w;
	}
	s = fp->p;
	while (*fp->p && *fp->p != ' ' && *fp->p != '(' && *fp->p != ')')
		fp->p++;
	return fp->p > s ? strndup(s, (size_t)(fp->p - s)) : NULL;
}

static bool fkeyword(struct fparse *fp, const char *kw)
{
	size_t n = strlen(kw);

	fskip(fp);
	if (strncmp(fp->p, kw, n) == 0 && (fp->p[n] == ' ' || fp->p[n] == '(')) {
		fp->p += n;
		return true;
	}
	return false;
}

static struct fnode *f_or(struct fparse *fp);

static struct fnode *f_term(struct fparse *fp)
{
	static const struct { const char *name; enum fprop p; } props[] = {
		{ "EventFormatType", FP_EVENT_FORMAT }, { "MessageId", FP_MESSAGE_ID },
		{ "OriginResource", FP_ORIGIN }, { "RegistryPrefix", FP_REGISTRY },
		{ "ResourceType", FP_RESOURCE_TYPE }, { "SubordinateResources", FP_SUBORDINATE },
		{ "EventType", FP_EVENT_TYPE }, { "MetricReportDefinition", FP_METRIC_REPORT },
	};
	struct fnode *n;
	char *w, *op;
	size_t i;

	fskip(fp);
	if (*fp->p == '(') {
		fp->p++;
		n = f_or(fp);
		fskip(fp);
		if (!n || *fp->p != ')')
			return fnode_free(n);
		fp->p++;
		return n;
	}
	if (fkeyword(fp, "not")) {
		struct fnode *a = f_term(fp);

		if (!a || !(n = calloc(1, sizeof(*n))))
			return fnode_free(a);
		n->kind = FN_NOT;
		n->a = a;
		return n;
	}
	if (!(w = fword(fp)))
		return NULL;
	for (i = 0; i < ARRAY_SIZE(props) && strcmp(w, props[i].name) != 0; i++)
		;
	free(w);
	if (i == ARRAY_SIZE(props) || !(op = fword(fp)))
		return NULL;
	if ((strcmp(op, "eq") != 0 && strcmp(op, "ne") != 0) || !(n = calloc(1, sizeof(*n)))) {
		free(op);
		return NULL;
	}
	n->kind = FN_CMP;
	n->prop = props[i].p;
	n->ne = op[0] == 'n';
	free(op);
	if (!(n->value = fword(fp)))
		return fnode_free(n);
	if (n->prop == FP_SUBORDINATE) {
		if (strcmp(n->value, "true") != 0 && strcmp(n->value, "false") != 0)
			return fnode_free(n);
		if ((strcmp(n->value, "true") == 0) != n->ne)
			fp->subordinate = true;
	}
	return n;
}

static struct fnode *f_bin(struct fparse *fp, bool or)
{
	struct fnode *l = or ? f_bin(fp, false) : f_term(fp);

	while (l && fkeyword(fp, or ? "or" : "and")) {
		struct fnode *r = or ? f_bin(fp, false) : f_term(fp), *n;

		if (!r || !(n = calloc(1, sizeof(*n)))) {
			fnode_free(r);
			return fnode_free(l);
		}
		n->kind = or ? FN_OR : FN_AND;
		n->a = l;
		n->b = r;
		l = n;
	}
	return l;
}

static struct fnode *f_or(struct fparse *fp)
{
	return f_bin(fp, true);
}

struct ev_filter {
	struct fnode *root;     /* NULL: everything */
	bool subordinate;
};

/* Parse a $filter value. 0 or -EILSEQ. */
static int filter_parse(const char *s, struct ev_filter *ret)
{
	struct fparse fp = { .p = s };

	*ret = (struct ev_filter){ 0 };
	if (!s)
		return 0;
	ret->root = f_or(&fp);
	fskip(&fp);
	if (!ret->root || *fp.p) {
		ret->root = fnode_free(ret->root);
		return -EILSEQ;
	}
	ret->subordinate = fp.subordinate;
	return 0;
}

static bool f_eval(const struct fnode *n, const struct ev_record *r, bool sub)
{
	bool m = false;

	switch (n->kind) {
	case FN_AND:
		return f_eval(n->a, r, sub) && f_eval(n->b, r, sub);
	case FN_OR:
		return f_eval(n->a, r, sub) || f_eval(n->b, r, sub);
	case FN_NOT:
		return !f_eval(n->a, r, sub);
	case FN_CMP:
		break;
	}
	switch (n->prop) {
	case FP_EVENT_FORMAT:
		m = strcmp(n->value, "Event") == 0;
		break;
	case FP_MESSAGE_ID:
		m = message_id_is(n->value, r->msg);
		break;
	case FP_ORIGIN:
		m = origin_is(n->value, r->origin, sub);
		break;
	case FP_REGISTRY:
		m = strcmp(n->value, "ResourceEvent") == 0;
		break;
	case FP_RESOURCE_TYPE:
		m = strcmp(n->value, r->type) == 0;
		break;
	case FP_SUBORDINATE:
		return true;   /* modifies OriginResource; not a condition of its own */
	case FP_EVENT_TYPE:
		m = strcmp(n->value, "Other") == 0;
		break;
	case FP_METRIC_REPORT:
		m = false;     /* no metric reports here */
		break;
	}
	return m != n->ne;
}

static bool filter_match(const struct ev_filter *f, const struct ev_record *r)
{
	return !f->root || f_eval(f->root, r, f->subordinate);
}

/* ---- state ---------------------------------------------------------------------- */

struct sse {
	struct sse *next;
	struct httpd_events *ev;
	struct MHD_Connection *conn;
	struct ev_filter filter;
	char *buf;
	size_t len, off, cap;
	bool suspended, closing;
	int64_t last_ms;          /* last bytes queued */
};

struct sub {
	struct sub *next;
	struct httpd_events *ev;
	char id[16];
	char *dest, *context;
	char **prefixes, **message_ids, **types, **origins;   /* NULL-terminated or NULL */
	bool subordinate;
	bool terminate;           /* DeliveryRetryPolicy TerminateAfterRetries */
	struct ev_record *q;
	size_t n, cap;
	uint64_t dropped;
	bool stop;
	bool started;             /* has a thread, which frees it */
	pthread_cond_t cond;
};

struct httpd_events {
	struct rf_tree *tree;
	struct rf_provider prov;
	char *state_path;

	pthread_mutex_t lock;
	pthread_cond_t cond;      /* the event thread waits here */
	pthread_cond_t idle;      /* sub threads gone */
	struct strmap *pending;   /* URIs whose document changed */
	struct strmap *status;    /* strip/BMC URIs whose Status changed */
	struct strmap *states;    /* strip/BMC URI -> malloc'd last State */
	bool lost;
	bool running, stopping, listening;
	pthread_t thread;
	uint64_t next_id;
	unsigned next_sub;
	struct sse *streams;
	struct sub *subs;
	unsigned sub_threads;
};

static char **strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

/* ---- the listener ------------------------------------------------------------------ */

/* path = "PowerEquipment/RackPDUs/X/Status/State" (or Health) or the same
 * under AggregationService/AggregationSources: the source's URI (malloc'd). */
static char *status_source(const char *path)
{
	static const char *const roots[] = { "PowerEquipment/RackPDUs/",
					     "AggregationService/AggregationSources/" };

	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		size_t n = strlen(roots[i]);
		const char *seg = path + n, *slash;
		char *uri;

		if (strncmp(path, roots[i], n) != 0 || !(slash = strchr(seg, '/')) || slash == seg)
			continue;
		if (strcmp(slash, "/Status/State") != 0 && strcmp(slash, "/Status/Health") != 0)
			continue;
		if (asprintf(&uri, RF_ROOT "/%.*s", (int)(slash - path), path) < 0)
			return NULL;
		return uri;
	}
	return NULL;
}

static void ev_on_change(void *userdata, const char *path)
{
	struct httpd_events *ev = userdata;
	size_t n;
	char *uri = NULL, *src;

	while (*path == '/')
		path++;
	n = strlen(path);
	if (strcmp(path, "index.json") == 0)
		uri = strdup(RF_ROOT);
	else if (n > 11 && strcmp(path + n - 11, "/index.json") == 0 &&
		 asprintf(&uri, RF_ROOT "/%.*s", (int)(n - 11), path) < 0)
		uri = NULL;
	src = status_source(path);
	if (!uri && !src)
		return;
	pthread_mutex_lock(&ev->lock);
	if ((uri && strmap_put(ev->pending, uri, ev) < 0) ||
	    (src && strmap_put(ev->status, src, ev) < 0))
		ev->lost = true;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	free(uri);
	free(src);
}

/* ---- reading what changed (never waits for a device) ------------------------------ */

/* The mount path of uri + "/" + rel, for rf_tree_peek. */
static void path_of(const char *uri, const char *rel, char *buf, size_t cap)
{
	const char *p = uri + strlen(RF_ROOT);

	while (*p == '/')
		p++;
	snprintf(buf, cap, "%s%s%s", p, *p ? "/" : "", rel);
}

/* A small file of uri (a Status value) without its newline; "" when
 * null or unknown. */
static void peek_value(struct rf_tree *t, const char *uri, const char *rel, char *buf, size_t cap)
{
	char path[1024];
	struct rf_stat st;
	ssize_t n;

	path_of(uri, rel, path, sizeof(path));
	n = rf_tree_peek(t, path, buf, cap - 1, &st);
	if (n == -ESTALE)
		n = rf_tree_read(t, path, buf, cap - 1, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Whether uri still exists, and its schema name ("Outlet") into type
 * ("" when unknown). The document is taken only when the tree holds it
 * fresh (rf_tree_peek says so), so this never waits for a device. */
static bool doc_type(struct rf_tree *t, const char *uri, char *type, size_t cap)
{
	char path[1024], one[1];
	struct rf_stat st;
	struct rf_doc *d;
	ssize_t n;
	int err;

	type[0] = '\0';
	path_of(uri, "index.json", path, sizeof(path));
	n = rf_tree_peek(t, path, one, sizeof(one), &st);
	if (n == -ENOENT || n == -ENOTDIR)
		return false;
	if (n < 0 || !(d = rf_tree_get_doc(t, uri, &err)))
		return true;
	if (d->odata_type && d->odata_type[0] == '#') {
		const char *s = d->odata_type + 1;

		snprintf(type, cap, "%.*s", (int)strcspn(s, "."), s);
	}
	rf_doc_unref(d);
	return true;
}

/* ---- delivery to streams and subscriptions ------------------------------------------ */

static void sse_queue_locked(struct sse *s, const char *text, size_t len)
{
	if (s->closing)
		return;
	if (s->len + len > s->cap) {
		size_t cap = (s->len + len) * 2;
		char *b = realloc(s->buf, cap);

		if (!b)
			return;   /* this record is lost for this stream */
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, text, len);
	s->len += len;
	s->last_ms = now_ms();
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

static bool strv_has(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool sub_match(const struct sub *sb, const struct ev_record *r)
{
	bool ok;

	if (sb->prefixes && !strv_has(sb->prefixes, "ResourceEvent"))
		return false;
	if (sb->types && !strv_has(sb->types, r->type))
		return false;
	if (sb->message_ids) {
		ok = false;
		for (size_t i = 0; sb->message_ids[i] && !ok; i++)
			ok = message_id_is(sb->message_ids[i], r->msg);
		if (!ok)
			return false;
	}
	if (sb->origins) {
		ok = false;
		for (size_t i = 0; sb->origins[i] && !ok; i++)
			ok = origin_is(sb->origins[i], r->origin, sb->subordinate);
		if (!ok)
			return false;
	}
	return true;
}

static void sub_queue_locked(struct sub *sb, const struct ev_record *r)
{
	if (sb->stop || !sub_match(sb, r))
		return;
	if (sb->n == SUB_QUEUE_MAX) {
		record_clear(&sb->q[0]);
		memmove(sb->q, sb->q + 1, (sb->n - 1) * sizeof(*sb->q));
		sb->n--;
		sb->dropped++;
	}
	if (sb->n == sb->cap) {
		size_t cap = sb->cap ? sb->cap * 2 : 16;
		struct ev_record *q = realloc(sb->q, cap * sizeof(*q));

		if (!q)
			return;
		sb->q = q;
		sb->cap = cap;
	}
	if (record_copy(r, &sb->q[sb->n]) == 0) {
		sb->n++;
		pthread_cond_signal(&sb->cond);
	}
}

static void publish(struct httpd_events *ev, struct ev_record *recs, size_t n)
{
	char **texts = calloc(n ? n : 1, sizeof(char *));

	/* One Event per record on the streams: a filter takes or drops each. */
	for (size_t i = 0; texts && i < n; i++) {
		char *doc = event_doc(&recs[i], 1, NULL);

		if (doc && asprintf(&texts[i], "id: %llu\ndata: %s\n\n",
				    (unsigned long long)recs[i].id, doc) < 0)
			texts[i] = NULL;
		free(doc);
	}
	pthread_mutex_lock(&ev->lock);
	for (struct sse *s = ev->streams; texts && s; s = s->next)
		for (size_t i = 0; i < n; i++)
			if (texts[i] && filter_match(&s->filter, &recs[i]))
				sse_queue_locked(s, texts[i], strlen(texts[i]));
	for (struct sub *sb = ev->subs; sb; sb = sb->next)
		for (size_t i = 0; i < n; i++)
			sub_queue_locked(sb, &recs[i]);
	pthread_mutex_unlock(&ev->lock);
	for (size_t i = 0; texts && i < n; i++)
		free(texts[i]);
	free(texts);
}

/* ---- the event thread ----------------------------------------------------------------- */

static int add_record(struct ev_record **v, size_t *n, size_t *cap, struct httpd_events *ev,
		      const struct ev_msg *msg, const char *origin, const char *type,
		      const char *a0, const char *a1)
{
	struct ev_record *r;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct ev_record *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	r = &(*v)[*n];
	*r = (struct ev_record){ .msg = msg, .ts = now_realtime() };
	pthread_mutex_lock(&ev->lock);
	r->id = ++ev->next_id;
	pthread_mutex_unlock(&ev->lock);
	r->origin = strdup(origin);
	r->type = strdup(type);
	r->arg[0] = a0 ? strdup(a0) : NULL;
	r->arg[1] = a1 ? strdup(a1) : NULL;
	if (!r->origin || !r->type) {
		record_clear(r);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* A strip or BMC whose Status changed: State events when State moved. */
static void status_records(struct httpd_events *ev, const char *uri, struct ev_record **v,
			   size_t *n, size_t *cap)
{
	char state[64], health[64], type[64];
	char *old, *copy;
	bool known;

	if (!doc_type(ev->tree, uri, type, sizeof(type))) {
		pthread_mutex_lock(&ev->lock);
		free(strmap_remove(ev->states, uri));
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	peek_value(ev->tree, uri, "Status/State", state, sizeof(state));
	peek_value(ev->tree, uri, "Status/Health", health, sizeof(health));
	if (!(copy = strdup(state)))
		return;
	pthread_mutex_lock(&ev->lock);
	old = strmap_get(ev->states, uri);
	known = old != NULL;
	if (known && strcmp(old, state) == 0) {
		pthread_mutex_unlock(&ev->lock);
		free(copy);
		return;
	}
	if (strmap_put(ev->states, uri, copy) < 0) {
		free(copy);
		copy = NULL;
	} else {
		free(old);
	}
	pthread_mutex_unlock(&ev->lock);
	if (!*state)
		return;
	/* A newly seen source is news only when it is offline. */
	if (!known && strcmp(state, "UnavailableOffline") != 0)
		return;
	add_record(v, n, cap, ev, &MSG_STATE, uri, type, uri, state);
	if (strcmp(state, "UnavailableOffline") == 0)
		add_record(v, n, cap, ev, &MSG_STATUS_CRIT, uri, type, uri, "Critical");
	else if (strcmp(state, "Enabled") == 0)
		add_record(v, n, cap, ev, &MSG_STATUS_OK, uri, type, uri, *health ? health : "OK");
}

/* Remember the State of every strip and BMC there is now, so the first
 * change of one is told as a change. */
static void seed_states(struct httpd_events *ev)
{
	size_t n = 0;
	char **uris = rf_tree_list_uris(ev->tree, &n);

	for (size_t i = 0; i < n; i++) {
		char path[1024], state[64], *src, *copy;

		path_of(uris[i], "Status/State", path, sizeof(path));
		if (!(src = status_source(path)) || strcmp(src, uris[i]) != 0) {
			free(src);
			continue;
		}
		free(src);
		peek_value(ev->tree, uris[i], "Status/State", state, sizeof(state));
		if (!(copy = strdup(state)))
			continue;
		pthread_mutex_lock(&ev->lock);
		free(strmap_remove(ev->states, uris[i]));
		if (strmap_put(ev->states, uris[i], copy) < 0)
			free(copy);
		pthread_mutex_unlock(&ev->lock);
	}
	rf_strv_free(uris);
}

static void keepalive_locked(struct httpd_events *ev)
{
	int64_t now = now_ms();

	for (struct sse *s = ev->streams; s; s = s->next)
		if (now - s->last_ms >= SSE_KEEPALIVE_S * 1000)
			sse_queue_locked(s, ":\n\n", 3);
}

static void *event_thread(void *arg)
{
	struct httpd_events *ev = arg;
	bool warned = false;

	seed_states(ev);
	pthread_mutex_lock(&ev->lock);
	while (!ev->stopping) {
		struct strmap *changed, *status, *fresh1 = NULL, *fresh2 = NULL;
		struct ev_record *recs = NULL;
		size_t n = 0, cap = 0, it;
		const char *key;
		struct timespec until;
		bool lost;

		/* Every round, busy or not: a stream whose filter takes none of
		 * a busy tree's events still gets its keepalive. */
		keepalive_locked(ev);
		if (!strmap_size(ev->pending) && !strmap_size(ev->status) && !ev->lost) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += SSE_KEEPALIVE_S / 3;
			pthread_cond_timedwait(&ev->cond, &ev->lock, &until);
			continue;
		}
		if (!(fresh1 = strmap_new()) || !(fresh2 = strmap_new())) {
			strmap_free(fresh1);
			pthread_mutex_unlock(&ev->lock);
			usleep(10000);
			pthread_mutex_lock(&ev->lock);
			continue;
		}
		changed = ev->pending;
		status = ev->status;
		ev->pending = fresh1;
		ev->status = fresh2;
		lost = ev->lost;
		ev->lost = false;
		pthread_mutex_unlock(&ev->lock);

		if (lost && !warned) {
			log_warn("httpd: out of memory queueing events; some changes were not told");
			warned = true;
		}
		it = 0;
		while (strmap_next(changed, &it, &key, NULL)) {
			char type[64];
			bool exists = doc_type(ev->tree, key, type, sizeof(type));

			add_record(&recs, &n, &cap, ev, exists ? &MSG_CHANGED : &MSG_REMOVED, key,
				   type, NULL, NULL);
		}
		it = 0;
		while (strmap_next(status, &it, &key, NULL))
			status_records(ev, key, &recs, &n, &cap);
		strmap_free(changed);
		strmap_free(status);
		if (n)
			publish(ev, recs, n);
		for (size_t i = 0; i < n; i++)
			record_clear(&recs[i]);
		free(recs);
		pthread_mutex_lock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* ---- SSE streams ------------------------------------------------------------------------ */

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	ssize_t n = 0;

	pthread_mutex_lock(&s->ev->lock);
	if (s->off < s->len) {
		n = (ssize_t)(s->len - s->off < max ? s->len - s->off : max);
		memcpy(buf, s->buf + s->off, (size_t)n);
		s->off += (size_t)n;
		if (s->off == s->len)
			s->off = s->len = 0;
	} else if (s->closing) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		s->suspended = true;
		MHD_suspend_connection(s->conn);
	}
	pthread_mutex_unlock(&s->ev->lock);
	return n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	struct httpd_events *ev = s->ev;

	pthread_mutex_lock(&ev->lock);
	for (struct sse **pp = &ev->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&ev->lock);
	fnode_free(s->filter.root);
	free(s->buf);
	free(s);
}

static enum MHD_Result fault_at(struct MHD_Connection *c, const char *uri, enum httpd_msg msg,
				const char *what, const char *value)
{
	struct httpd_fault f = { .msg = msg, .what = what };

	if (value)
		snprintf(f.e.value, sizeof(f.e.value), "%s", value);
	return httpd_queue_fault(c, uri, &f, NULL);
}

static enum MHD_Result httpd_events_sse(struct httpd_events *ev, struct MHD_Connection *c, const char *uri)
{
	const char *filter = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "$filter");
	static const char hello[] = ": redfishfs events\n\n";
	struct MHD_Response *r;
	struct sse *s = calloc(1, sizeof(*s));

	if (!s)
		return MHD_NO;
	s->ev = ev;
	s->conn = c;
	if (filter_parse(filter, &s->filter) < 0) {
		free(s);
		return fault_at(c, uri, HTTPD_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR, "$filter", filter);
	}
	if (!(s->buf = malloc(sizeof(hello)))) {
		fnode_free(s->filter.root);
		free(s);
		return MHD_NO;
	}
	memcpy(s->buf, hello, sizeof(hello) - 1);
	s->len = sizeof(hello) - 1;
	s->cap = sizeof(hello);
	s->last_ms = now_ms();
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (!r) {
		fnode_free(s->filter.root);
		free(s->buf);
		free(s);
		return MHD_NO;
	}
	pthread_mutex_lock(&ev->lock);
	s->closing = ev->stopping || !ev->running;
	s->next = ev->streams;
	ev->streams = s;
	pthread_mutex_unlock(&ev->lock);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return httpd_queue(c, uri, MHD_HTTP_OK, r);
}

/* ---- subscriptions ------------------------------------------------------------------------ */

static struct json_object *strv_json(char **v)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* The EventDestination body (new reference); with_links: OriginResources
 * as links (the resource) or as plain URIs (the state file). */
static struct json_object *sub_json(const struct sub *sb, bool resource)
{
	struct json_object *o = json_object_new_object();
	char uri[128];

	snprintf(uri, sizeof(uri), SUBS_URI "/%s", sb->id);
	if (resource) {
		json_object_object_add(o, "@odata.id", json_object_new_string(uri));
		json_object_object_add(o, "@odata.type",
				       json_object_new_string("#EventDestination.v1_16_0.EventDestination"));
		json_object_object_add(o, "Name", json_object_new_string("Event subscription"));
		json_object_object_add(o, "Protocol", json_object_new_string("Redfish"));
		json_object_object_add(o, "SubscriptionType", json_object_new_string("RedfishEvent"));
		json_object_object_add(o, "EventFormatType", json_object_new_string("Event"));
	}
	json_object_object_add(o, "Id", json_object_new_string(sb->id));
	json_object_object_add(o, "Destination", json_object_new_string(sb->dest));
	json_object_object_add(o, "Context", sb->context ? json_object_new_string(sb->context) : NULL);
	json_object_object_add(o, "DeliveryRetryPolicy",
			       json_object_new_string(sb->terminate ? "TerminateAfterRetries"
								    : "RetryForeverWithBackoff"));
	if (sb->prefixes)
		json_object_object_add(o, "RegistryPrefixes", strv_json(sb->prefixes));
	if (sb->message_ids)
		json_object_object_add(o, "MessageIds", strv_json(sb->message_ids));
	if (sb->types)
		json_object_object_add(o, "ResourceTypes", strv_json(sb->types));
	if (sb->origins) {
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; sb->origins[i]; i++) {
			struct json_object *l = json_object_new_object();

			json_object_object_add(l, "@odata.id", json_object_new_string(sb->origins[i]));
			json_object_array_add(a, resource ? l : json_object_new_string(sb->origins[i]));
			if (!resource)
				json_object_put(l);
		}
		json_object_object_add(o, "OriginResources", a);
	}
	json_object_object_add(o, "SubordinateResources", json_object_new_boolean(sb->subordinate));
	if (resource) {
		struct json_object *st = json_object_new_object();

		json_object_object_add(st, "State", json_object_new_string("Enabled"));
		json_object_object_add(st, "Health", json_object_new_string("OK"));
		json_object_object_add(o, "Status", st);
	}
	return o;
}

/* Write the state file (caller holds ev->lock). */
static int save_locked(struct httpd_events *ev)
{
	struct json_object *arr = json_object_new_array();
	char tmp[4200];
	const char *s;
	int fd, r = 0;
	size_t len;

	if (!ev->state_path)
		return 0;
	for (struct sub *sb = ev->subs; sb; sb = sb->next)
		json_object_array_add(arr, sub_json(sb, false));
	s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	snprintf(tmp, sizeof(tmp), "%s.tmp", ev->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, s, len) != (ssize_t)len || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r == 0 && rename(tmp, ev->state_path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		log_warn("httpd: saving %s: %s", ev->state_path, strerror(-r));
	}
	json_object_put(arr);
	return r;
}

static struct sub *sub_free(struct sub *sb)
{
	if (!sb)
		return NULL;
	for (size_t i = 0; i < sb->n; i++)
		record_clear(&sb->q[i]);
	free(sb->q);
	free(sb->dest);
	free(sb->context);
	strv_free(sb->prefixes);
	strv_free(sb->message_ids);
	strv_free(sb->types);
	strv_free(sb->origins);
	pthread_cond_destroy(&sb->cond);
	free(sb);
	return NULL;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	return size * n;
}

/* POST one Event to the destination. 0 on a 2xx. */
static int deliver(CURL *c, const struct sub *sb, const char *doc)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;   /* no 100-continue wait */
	long status = 0;
	CURLcode cr;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, sb->dest);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)SUB_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2 ? h2 : h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, doc);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	cr = curl_easy_perform(c);
	if (cr == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h2 ? h2 : h);
	return cr == CURLE_OK && status >= 200 && status < 300 ? 0 : -EIO;
}

static void remove_sub_resource(struct httpd_events *ev, const char *id)
{
	char uri[128];

	snprintf(uri, sizeof(uri), SUBS_URI "/%s", id);
	rf_tree_remove(ev->tree, uri);
}

static void *sub_thread(void *arg)
{
	struct sub *sb = arg;
	struct httpd_events *ev = sb->ev;
	CURL *c = curl_easy_init();
	unsigned failures = 0;
	bool terminated = false;

	pthread_mutex_lock(&ev->lock);
	while (!sb->stop && c) {
		uint64_t last;
		size_t n;
		char *doc;
		int r;

		if (!sb->n) {
			pthread_cond_wait(&sb->cond, &ev->lock);
			continue;
		}
		n = sb->n < SUB_BATCH_MAX ? sb->n : SUB_BATCH_MAX;
		doc = event_doc(sb->q, n, sb->context);
		last = sb->q[n - 1].id;
		pthread_mutex_unlock(&ev->lock);
		r = doc ? deliver(c, sb, doc) : -ENOMEM;
		free(doc);
		pthread_mutex_lock(&ev->lock);
		if (r == 0) {
			/* The queue is in id order (records are appended in
			 * order, dropped at the head): what was delivered is
			 * the head up to the last id sent. */
			size_t k = 0;

			while (k < sb->n && sb->q[k].id <= last)
				k++;
			for (size_t i = 0; i < k; i++)
				record_clear(&sb->q[i]);
			memmove(sb->q, sb->q + k, (sb->n - k) * sizeof(*sb->q));
			sb->n -= k;
			failures = 0;
			continue;
		}
		failures++;
		if (sb->terminate && failures > RETRY_ATTEMPTS) {
			terminated = true;
			break;
		}
		{
			int64_t ms = (int64_t)SUB_BACKOFF_MIN_MS << (failures < 10 ? failures - 1 : 9);
			struct timespec until;

			if (ms > RETRY_INTERVAL_S * 1000)
				ms = RETRY_INTERVAL_S * 1000;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ms / 1000;
			until.tv_nsec += (ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!sb->stop && pthread_cond_timedwait(&sb->cond, &ev->lock, &until) == 0)
				;
		}
	}
	if (terminated) {
		/* TerminateAfterRetries: the subscription ends itself. */
		for (struct sub **pp = &ev->subs; *pp; pp = &(*pp)->next)
			if (*pp == sb) {
				*pp = sb->next;
				break;
			}
		save_locked(ev);
		log_info("httpd: subscription %s to %s ended after %d failed deliveries", sb->id,
			 sb->dest, RETRY_ATTEMPTS + 1);
	}
	pthread_mutex_unlock(&ev->lock);
	if (terminated)
		remove_sub_resource(ev, sb->id);
	if (c)
		curl_easy_cleanup(c);
	pthread_mutex_lock(&ev->lock);
	sub_free(sb);
	if (--ev->sub_threads == 0)
		pthread_cond_broadcast(&ev->idle);
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* Start sb's thread (ev->lock held). */
static int sub_start_locked(struct httpd_events *ev, struct sub *sb)
{
	pthread_attr_t attr;
	pthread_t tid;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&tid, &attr, sub_thread, sb);
	pthread_attr_destroy(&attr);
	if (r)
		return -r;
	sb->started = true;
	ev->sub_threads++;
	return 0;
}

static int install_sub(struct httpd_events *ev, const struct sub *sb)
{
	char uri[128];

	snprintf(uri, sizeof(uri), SUBS_URI "/%s", sb->id);
	return rf_tree_install(ev->tree, &ev->prov, uri, sub_json(sb, true), NULL,
			       rf_tree_generation(ev->tree)) < 0 ? -EIO : 0;
}

/* An array of strings (v) into *ret; "key" names it for errors. */
static int parse_strv(struct json_object *v, const char *key, char ***ret, struct httpd_fault *f)
{
	size_t n;
	char **out;

	if (!json_object_is_type(v, json_type_array))
		goto bad;
	n = json_object_array_length(v);
	if (n > 64 || !(out = calloc(n + 1, sizeof(char *))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i), *id;

		if (json_object_is_type(e, json_type_object) &&
		    json_object_object_get_ex(e, "@odata.id", &id))
			e = id;
		if (!json_object_is_type(e, json_type_string) ||
		    json_object_get_string_len(e) > 512 ||
		    !(out[i] = strdup(json_object_get_string(e)))) {
			strv_free(out);
			goto bad;
		}
	}
	*ret = out;
	return 0;
bad:
	f->err = -EINVAL;
	f->e.kind = RF_ERR_PROP_TYPE;
	snprintf(f->e.property, sizeof(f->e.property), "%s", key);
	return -EINVAL;
}

/* A subscription from a POST body or a state file entry. 0 or a fault. */
static int sub_parse(struct json_object *body, bool from_state, struct sub **ret,
		     struct httpd_fault *f)
{
	struct sub *sb = calloc(1, sizeof(*sb));

	if (!sb) {
		f->err = -ENOMEM;
		return -ENOMEM;
	}
	pthread_cond_init(&sb->cond, NULL);
	json_object_object_foreach(body, key, val) {
		bool isstr = json_object_is_type(val, json_type_string);
		const char *s = isstr ? json_object_get_string(val) : NULL;

		if (key[0] == '@')
			continue;
		if (strcmp(key, "Destination") == 0) {
			/* http(s) only, and no user:password@ (it would be
			 * logged and shown in the resource). */
			if (!isstr || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) ||
			    strlen(s) > 1024 || strlen(s) < 9 || strpbrk(s, " \r\n\t") ||
			    memchr(s, '@', strcspn(s + 8, "/?#") + 8))
				goto bad_value;
			if (!(sb->dest = strdup(s)))
				goto nomem;
		} else if (strcmp(key, "Context") == 0) {
			if (json_object_is_type(val, json_type_null))
				continue;
			if (!isstr || strlen(s) > 256)
				goto bad_type;
			if (!(sb->context = strdup(s)))
				goto nomem;
		} else if (strcmp(key, "Protocol") == 0) {
			if (!isstr || strcmp(s, "Redfish") != 0)
				goto bad_value;
		} else if (strcmp(key, "SubscriptionType") == 0) {
			if (!isstr || strcmp(s, "RedfishEvent") != 0)
				goto bad_value;
		} else if (strcmp(key, "EventFormatType") == 0) {
			if (!isstr || strcmp(s, "Event") != 0)
				goto bad_value;
		} else if (strcmp(key, "DeliveryRetryPolicy") == 0) {
			if (!isstr || (strcmp(s, "RetryForeverWithBackoff") != 0 &&
				       strcmp(s, "TerminateAfterRetries") != 0))
				goto bad_value;
			sb->terminate = s[0] == 'T';
		} else if (strcmp(key, "SubordinateResources") == 0) {
			if (!json_object_is_type(val, json_type_boolean))
				goto bad_type;
			sb->subordinate = json_object_get_boolean(val);
		} else if (strcmp(key, "RegistryPrefixes") == 0) {
			if (parse_strv(val, key, &sb->prefixes, f) < 0)
				goto fail;
		} else if (strcmp(key, "MessageIds") == 0) {
			if (parse_strv(val, key, &sb->message_ids, f) < 0)
				goto fail;
		} else if (strcmp(key, "ResourceTypes") == 0) {
			if (parse_strv(val, key, &sb->types, f) < 0)
				goto fail;
		} else if (strcmp(key, "OriginResources") == 0) {
			if (parse_strv(val, key, &sb->origins, f) < 0)
				goto fail;
		} else if (from_state && strcmp(key, "Id") == 0 && isstr && strlen(s) < sizeof(sb->id) &&
			   strspn(s, "0123456789") == strlen(s) && *s) {
			snprintf(sb->id, sizeof(sb->id), "%s", s);
		} else {
			f->err = -EINVAL;
			f->e.kind = RF_ERR_PROP_UNKNOWN;
			snprintf(f->e.property, sizeof(f->e.property), "%s", key);
			goto fail;
		}
		continue;
bad_value:
		f->err = -EINVAL;
		f->e.kind = RF_ERR_PROP_VALUE;
		snprintf(f->e.property, sizeof(f->e.property), "%s", key);
		/* A value with '@' may hold a password: not echoed. */
		snprintf(f->e.value, sizeof(f->e.value), "%s",
			 s && strchr(s, '@') ? "(not shown)" : s ? s : json_object_to_json_string(val));
		goto fail;
bad_type:
		f->err = -EINVAL;
		f->e.kind = RF_ERR_PROP_TYPE;
		snprintf(f->e.property, sizeof(f->e.property), "%s", key);
		snprintf(f->e.value, sizeof(f->e.value), "%s", json_object_to_json_string(val));
		goto fail;
	}
	if (!sb->dest || (from_state && !sb->id[0])) {
		f->msg = HTTPD_MSG_PROPERTY_MISSING;
		f->err = -EINVAL;
		snprintf(f->e.property, sizeof(f->e.property), "Destination");
		goto fail;
	}
	*ret = sb;
	return 0;
nomem:
	f->err = -ENOMEM;
fail:
	sub_free(sb);
	return f->err ? f->err : -EINVAL;
}

static enum MHD_Result httpd_events_subscribe(struct httpd_events *ev, struct MHD_Connection *c,
				       const char *uri, const char *body, size_t len)
{
	struct httpd_fault f = { 0 };
	struct json_object *o = NULL;
	struct json_tokener *tok;
	struct MHD_Response *r;
	struct sub *sb = NULL;
	char loc[128];
	size_t count = 0;
	int err;

	if (len && (tok = json_tokener_new())) {
		o = json_tokener_parse_ex(tok, body, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) != len) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fault_at(c, uri, HTTPD_MSG_MALFORMED_JSON, NULL, NULL);
	}
	err = sub_parse(o, false, &sb, &f);
	json_object_put(o);
	if (err < 0)
		return httpd_queue_fault(c, uri, &f, NULL);
	sb->ev = ev;
	pthread_mutex_lock(&ev->lock);
	for (struct sub *x = ev->subs; x; x = x->next)
		count++;
	if (count >= SUB_MAX || ev->stopping) {
		pthread_mutex_unlock(&ev->lock);
		sub_free(sb);
		return fault_at(c, uri, HTTPD_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE, NULL, NULL);
	}
	snprintf(sb->id, sizeof(sb->id), "%u", ++ev->next_sub);
	pthread_mutex_unlock(&ev->lock);
	if (install_sub(ev, sb) < 0) {
		sub_free(sb);
		return fault_at(c, uri, HTTPD_MSG_INTERNAL_ERROR, NULL, NULL);
	}
	pthread_mutex_lock(&ev->lock);
	if ((err = sub_start_locked(ev, sb)) < 0) {
		pthread_mutex_unlock(&ev->lock);
		remove_sub_resource(ev, sb->id);
		sub_free(sb);
		return fault_at(c, uri, HTTPD_MSG_INTERNAL_ERROR, NULL, NULL);
	}
	sb->next = ev->subs;
	ev->subs = sb;
	save_locked(ev);
	snprintf(loc, sizeof(loc), SUBS_URI "/%s", sb->id);
	o = sub_json(sb, true);
	pthread_mutex_unlock(&ev->lock);
	log_info("httpd: subscription %s to %s", loc + strlen(SUBS_URI "/"),
		 json_object_get_string(json_object_object_get(o, "Destination")));
	{
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
		char *copy = strdup(s);

		json_object_put(o);
		if (!copy)
			return MHD_NO;
		r = MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
		if (!r) {
			free(copy);
			return MHD_NO;
		}
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	return httpd_queue(c, uri, MHD_HTTP_CREATED, r);
}

static enum MHD_Result httpd_events_unsubscribe(struct httpd_events *ev, struct MHD_Connection *c,
					 const char *uri, const char *id)
{
	struct sub *sb = NULL;
	struct MHD_Response *r;
	bool found;

	pthread_mutex_lock(&ev->lock);
	for (struct sub **pp = &ev->subs; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			sb = *pp;
			*pp = sb->next;
			break;
		}
	found = sb != NULL;
	if (sb) {
		sb->stop = true;           /* its thread frees it */
		pthread_cond_signal(&sb->cond);
		save_locked(ev);
		if (!sb->started)          /* (no thread: its start failed) */
			sub_free(sb);
	}
	pthread_mutex_unlock(&ev->lock);
	if (!found) {
		struct httpd_fault f = { .msg = HTTPD_MSG_RESOURCE_NOT_FOUND, .what = "EventDestination" };

		snprintf(f.e.property, sizeof(f.e.property), "%s", id);
		return httpd_queue_fault(c, uri, &f, NULL);
	}
	remove_sub_resource(ev, id);
	log_info("httpd: subscription %s deleted", id);
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	return httpd_queue(c, uri, MHD_HTTP_NO_CONTENT, r);
}

/* Load the subscriptions of the state file (no threads yet). */
static void load_subs(struct httpd_events *ev)
{
	struct json_object *arr = json_object_from_file(ev->state_path);

	if (!arr) {
		if (access(ev->state_path, F_OK) == 0)
			log_warn("httpd: %s is not valid JSON; no subscriptions loaded", ev->state_path);
		return;
	}
	for (size_t i = 0; json_object_is_type(arr, json_type_array) &&
			   i < json_object_array_length(arr); i++) {
		struct httpd_fault f = { 0 };
		struct sub *sb = NULL;
		unsigned id;

		if (sub_parse(json_object_array_get_idx(arr, i), true, &sb, &f) < 0) {
			log_warn("httpd: %s: subscription %zu skipped (%s)", ev->state_path, i,
				 f.e.property[0] ? f.e.property : "invalid");
			continue;
		}
		sb->ev = ev;
		id = (unsigned)strtoul(sb->id, NULL, 10);
		if (id > ev->next_sub)
			ev->next_sub = id;
		if (install_sub(ev, sb) < 0) {
			sub_free(sb);
			continue;
		}
		sb->next = ev->subs;
		ev->subs = sb;
	}
	json_object_put(arr);
}

/* ---- lifetime and the service's resources -------------------------------------------------- */

static int install_service(struct httpd_events *ev)
{
	static const char svc[] =
		"{\"@odata.id\":\"" EVENT_SVC "\",\"@odata.type\":\"#EventService.v1_12_0.EventService\","
		"\"Id\":\"EventService\",\"Name\":\"Event Service\",\"ServiceEnabled\":true,"
		"\"Status\":{\"State\":\"Enabled\",\"Health\":\"OK\"},"
		"\"DeliveryRetryAttempts\":3,\"DeliveryRetryIntervalSeconds\":5,"
		"\"EventFormatTypes\":[\"Event\"],\"RegistryPrefixes\":[\"ResourceEvent\"],"
		"\"ServerSentEventUri\":\"" SSE_URI "\",\"SubordinateResourcesSupported\":true,"
		"\"SSEFilterPropertiesSupported\":{\"EventFormatType\":true,\"MessageId\":true,"
		"\"MetricReportDefinition\":false,\"OriginResource\":true,\"RegistryPrefix\":true,"
		"\"ResourceType\":true,\"SubordinateResources\":true},"
		"\"Subscriptions\":{\"@odata.id\":\"" SUBS_URI "\"}}";
	static const char regfile[] =
		"{\"@odata.id\":\"" REG_FILE_URI "\",\"@odata.type\":\"#MessageRegistryFile.v1_1_5.MessageRegistryFile\","
		"\"Id\":\"ResourceEvent\",\"Name\":\"Resource Event Message Registry File\","
		"\"Description\":\"The messages of the events this service sends\","
		"\"Languages\":[\"en\"],\"Registry\":\"" REG_ID "\","
		"\"Location\":[{\"Language\":\"en\",\"Uri\":\"" REG_URI "\","
		"\"PublicationUri\":\"https://redfish.dmtf.org/registries/" REG_ID ".json\"}]}";
	uint64_t g = rf_tree_generation(ev->tree);
	int r;

	if ((r = rf_tree_install(ev->tree, &ev->prov, EVENT_SVC, json_tokener_parse(svc), NULL, g)) < 0 ||
	    (r = rf_tree_add_collection(ev->tree, &ev->prov, SUBS_URI,
					"#EventDestinationCollection.EventDestinationCollection",
					"Event Subscriptions")) < 0 ||
	    (r = rf_tree_add_collection(ev->tree, &ev->prov, REGISTRIES_URI,
					"#MessageRegistryFileCollection.MessageRegistryFileCollection",
					"Message Registries")) < 0 ||
	    (r = rf_tree_install(ev->tree, &ev->prov, REG_FILE_URI, json_tokener_parse(regfile),
				 NULL, g)) < 0 ||
	    (r = rf_tree_add_root_link(ev->tree, "EventService", EVENT_SVC)) < 0 ||
	    (r = rf_tree_add_root_link(ev->tree, "Registries", REGISTRIES_URI)) < 0)
		return r;
	return 0;
}

static const struct rf_provider_ops prov_ops = { 0 };

struct httpd_events *httpd_events_new(struct rf_tree *t, const char *state_dir, int *ret_err)
{
	struct httpd_events *ev = calloc(1, sizeof(*ev));
	int r = -ENOMEM;

	if (!ev)
		goto fail;
	ev->tree = t;
	ev->prov = (struct rf_provider){ .name = "httpd events", .ops = &prov_ops, .userdata = ev };
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	pthread_cond_init(&ev->idle, NULL);
	if (!(ev->pending = strmap_new()) || !(ev->status = strmap_new()) ||
	    !(ev->states = strmap_new()))
		goto fail;
	if (state_dir && asprintf(&ev->state_path, "%s/subscriptions.json", state_dir) < 0) {
		ev->state_path = NULL;
		goto fail;
	}
	if ((r = install_service(ev)) < 0) {
		log_error("httpd: installing the EventService: %s", strerror(-r));
		goto fail;
	}
	if (ev->state_path)
		load_subs(ev);
	return ev;
fail:
	httpd_events_free(ev);
	*ret_err = r;
	return NULL;
}

int httpd_events_start(struct httpd_events *ev)
{
	int r;

	if (ev->running)
		return -EALREADY;
	if ((r = rf_tree_add_listener(ev->tree, ev_on_change, ev)) < 0)
		return r;
	ev->listening = true;
	if ((r = pthread_create(&ev->thread, NULL, event_thread, ev)) != 0) {
		rf_tree_remove_listener(ev->tree, ev_on_change, ev);
		ev->listening = false;
		return -r;
	}
	pthread_mutex_lock(&ev->lock);
	ev->running = true;
	for (struct sub *sb = ev->subs; sb; sb = sb->next)
		if (sub_start_locked(ev, sb) < 0)
			log_warn("httpd: subscription %s: no delivery thread", sb->id);
	pthread_mutex_unlock(&ev->lock);
	return 0;
}

void httpd_events_stop(struct httpd_events *ev)
{
	if (!ev)
		return;
	if (ev->listening) {
		rf_tree_remove_listener(ev->tree, ev_on_change, ev);
		ev->listening = false;
	}
	pthread_mutex_lock(&ev->lock);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->cond);
	for (struct sse *s = ev->streams; s; s = s->next) {
		s->closing = true;
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->conn);
		}
	}
	for (struct sub *sb = ev->subs, *next; sb; sb = next) {
		next = sb->next;
		sb->stop = true;
		pthread_cond_signal(&sb->cond);
		if (!sb->started)
			sub_free(sb);
	}
	ev->subs = NULL;
	pthread_mutex_unlock(&ev->lock);
	if (ev->running) {
		pthread_join(ev->thread, NULL);
		ev->running = false;
	}
	/* The threads free their subscriptions; wait for them (each ends
	 * within one delivery's timeout). */
	pthread_mutex_lock(&ev->lock);
	while (ev->sub_threads)
		pthread_cond_wait(&ev->idle, &ev->lock);
	pthread_mutex_unlock(&ev->lock);
}

struct httpd_events *httpd_events_free(struct httpd_events *ev)
{
	size_t it = 0;
	void *v;

	if (!ev)
		return NULL;
	httpd_events_stop(ev);
	/* The tree keeps a pointer to ev->prov: leave nothing that names it
	 * (a restarted server installs the service again). */
	rf_tree_remove(ev->tree, EVENT_SVC);
	rf_tree_remove(ev->tree, REG_FILE_URI);
	while (ev->states && strmap_next(ev->states, &it, NULL, &v))
		free(v);
	strmap_free(ev->states);
	strmap_free(ev->pending);
	strmap_free(ev->status);
	free(ev->state_path);
	pthread_cond_destroy(&ev->idle);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
	return NULL;
}

static enum MHD_Result httpd_events_registry(struct MHD_Connection *c, const char *uri)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(sizeof(registry_json) - 1, (void *)registry_json,
					    MHD_RESPMEM_PERSISTENT);
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	}
	return httpd_queue(c, uri, MHD_HTTP_OK, r);
}

/* ---- routes ----------------------------------------------------------------------------- */

static enum MHD_Result need(struct httpd *h, struct MHD_Connection *c, const char *uri,
			    unsigned priv, bool *ok)
{
	struct httpd_ident who;

	*ok = false;
	if (httpd_authenticate(h, c, &who) < 0)
		return fault_at(c, uri, HTTPD_MSG_NO_VALID_SESSION, NULL, NULL);
	if (!(who.privs & priv))
		return fault_at(c, uri, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, NULL, NULL);
	*ok = true;
	return MHD_YES;
}

bool httpd_events_route(struct httpd_events *ev, struct httpd *h, struct MHD_Connection *c,
			const char *method, const char *uri, const char *body, size_t len,
			enum MHD_Result *ret)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
	const char *id = NULL;
	bool ok;

	if (strncmp(uri, SUBS_URI "/", strlen(SUBS_URI "/")) == 0 &&
	    !strchr(uri + strlen(SUBS_URI "/"), '/'))
		id = uri + strlen(SUBS_URI "/");
	if (strcmp(uri, SSE_URI) == 0 || strcmp(uri, REG_URI) == 0) {
		if (!get) {
			struct httpd_fault f = { .msg = HTTPD_MSG_OPERATION_NOT_ALLOWED };

			*ret = httpd_queue_fault(c, uri, &f, "GET, HEAD");
			return true;
		}
		*ret = need(h, c, uri, HTTPD_PRIV_LOGIN, &ok);
		if (ok)
			*ret = strcmp(uri, SSE_URI) == 0 ? httpd_events_sse(ev, c, uri)
							 : httpd_events_registry(c, uri);
		return true;
	}
	if ((post && strcmp(uri, SUBS_URI) == 0) || (del && id && *id)) {
		*ret = need(h, c, uri, HTTPD_PRIV_CONFIGURE_COMPONENTS, &ok);
		if (ok)
			*ret = post ? httpd_events_subscribe(ev, c, uri, body, len)
				    : httpd_events_unsubscribe(ev, c, uri, id);
		return true;
	}
	return false;
}
