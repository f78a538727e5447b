/* server.c — the Redfish HTTP server: libmicrohttpd in front of the tree.
 *
 * Who calls: fs/main.c through httpd.h (new before the fork, start after,
 * free at exit). libmicrohttpd calls on_request from its epoll thread pool
 * (cfg.threads threads sharing one listening socket).
 *
 * A request: the first call of the access handler only allocates the
 * per-request state (queueing a response there makes MHD close the
 * connection; we do it only to refuse an oversized body before reading it).
 * Upload calls collect the body up to max_body. The last call routes:
 *   /redfish, /redfish/v1, $metadata, odata    open, answered here
 *   everything else                             login first (Basic or
 *                                               X-Auth-Token), then
 *   GET/HEAD of a resource: the tree's rf_doc bytes, zero-copy (the response
 *     keeps a reference until MHD frees it), ETag/If-None-Match/304, aliases
 *     answer 308.
 *   PATCH/POST/DELETE: accounts.c for the service's own resources,
 *     rf_tree_patch/rf_tree_post_action for the rest. These may wait on a
 *     device or crypt(3), so they run on a short-lived worker thread while
 *     the connection is suspended; the MHD threads only serve reads and
 *     never wait for a device write.
 * Every error goes through httpd_fault_render (messages.c). A failure is
 * logged once here: 5xx as warnings, the rest at debug level.
 *
 * Slow clients: MHD limits connections in all and per client address; a
 * guard thread ends a connection whose request headers are not complete
 * header_timeout_s after it opened or after its last response (MHD's own
 * idle timeout restarts with every byte, so a header trickle would outlive
 * it). The guard only shutdown(2)s the socket; MHD closes it on its thread.
 *
 * Locks: h->lock guards the worker count and the Allow cache; h->conn_lock
 * the connection list (the MHD threads link and unlink, the guard walks it);
 * the tree and accounts.c have their own. */
#include "internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <malloc.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORKERS 32
#define LOGIN_FAIL_DELAY_MS 1000   /* a failed password check answers after this (default) */
#define CONN_MEMORY_LIMIT (64 * 1024)
#define JSON_CT "application/json; charset=utf-8"

struct httpd {
	struct rf_tree *tree;
	struct httpd_auth *auth;
	struct httpd_listen listen;
	int fd;
	bool tls;
	char *cert_pem;
	char *key_pem;
	char url[128];
	unsigned threads, max_connections, conn_timeout_s;
	size_t max_body;
	struct MHD_Daemon *mhd;
	struct httpd_front *front;  /* /, /metrics, events (front.c) */
	struct httpd_certs *certs;  /* CertificateService, with TLS (certs.c) */

	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned workers;

	/* The slow-client guard: every open connection, and a thread that
	 * shuts down those whose request headers are late. */
	unsigned max_per_ip, header_timeout_s, login_delay_ms;
	pthread_mutex_t conn_lock;
	pthread_cond_t conn_cond;
	struct conn *conns;
	bool guard_running, guard_stop;
	pthread_t guard;
	struct req *delayed;        /* suspended until resume_at_ms (conn_lock) */
	unsigned expanding;         /* $expand GETs running (atomic) */
};

/* One TCP connection (MHD's socket context). waiting: between requests or
 * inside a request's headers, since since_ms; both are written by the MHD
 * thread that owns the connection and read by the guard (atomics). */
struct conn {
	struct conn *prev, *next;
	int fd;
	bool waiting;
	bool shut;                  /* guard only, under conn_lock */
	int64_t since_ms;
	bool bad_uri;               /* the current request's raw path (MHD thread) */
};

enum method { M_GET, M_HEAD, M_PATCH, M_POST, M_DELETE, M_OTHER };

struct req {
	struct httpd *h;
	struct MHD_Connection *conn;
	enum method method;
	char *uri;                  /* normalized, no trailing slash */
	char *body;
	size_t len, cap;
	bool too_large;
	struct httpd_ident who;
	struct json_object *json;   /* parsed body, or NULL */
	char *if_match;
	bool expand;                /* GET with $expand (parsed: ex) */
	char expand_value[64];      /* as given, for messages */
	struct httpd_expand ex;
	/* set by a worker, queued when MHD calls us after resume */
	struct MHD_Response *resp;
	unsigned status;
	bool dispatched;            /* handed to a worker: never route again */
	bool auth_done;             /* a worker checked the password: auth_err */
	int auth_err;
	int64_t resume_at_ms;       /* on h->delayed */
	bool bad_uri;               /* %00, %2F or a control character in the path */
	struct req *delay_next;
};

/* ---- responses -------------------------------------------------------------- */

static void add_common(struct MHD_Response *r)
{
	MHD_add_response_header(r, "OData-Version", "4.0");
}

static struct MHD_Response *json_response(char *buf, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);

	if (!r) {
		free(buf);
		return NULL;
	}
	add_common(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT);
	return r;
}

static struct MHD_Response *json_obj_response(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = strdup(s);

	json_object_put(o);
	return copy ? json_response(copy, strlen(copy)) : NULL;
}

static const char *method_name(enum method m)
{
	static const char *const names[] = { "GET", "HEAD", "PATCH", "POST", "DELETE", "?" };

	return names[m];
}

/* "http /redfish/v1/A/B": the source a 5xx is about (two segments below
 * the root), for log_state_changed. */
static const char *uri_key(const struct req *rq, char *buf, size_t cap)
{
	const char *u = rq->uri ? rq->uri : "", *p = u;

	for (int seg = 0; *p && !(*p == '/' && seg == 4); p++)
		seg += *p == '/';
	snprintf(buf, cap, "http %.*s", (int)(p - u), u);
	return buf;
}

/* The one error path: fault -> status + Redfish body + the headers it needs. */
static struct MHD_Response *fault_response(struct req *rq, const struct httpd_fault *f,
					   const char *allow, unsigned *ret_status)
{
	struct httpd_status st = { 0 };
	struct MHD_Response *r;
	char key[160];

	if (httpd_fault_render(f, &st) < 0) {
		*ret_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (r)
			add_common(r);
		return r;
	}
	*ret_status = st.status;
	/* A failing source is logged once per change of its state, not once
	 * per request (the client sees every failure). */
	if (st.status >= 500 && st.status != 501 &&
	    log_state_changed(uri_key(rq, key, sizeof(key)), -(int)st.status))
		log_warn("httpd: %s %s: %u %s (%s; more like it at debug level)",
			 method_name(rq->method), rq->uri ? rq->uri : "", st.status, st.id,
			 f->err ? strerror(-f->err) : "");
	else if (st.status >= 500 && st.status != 501)
		log_debug("httpd: %s %s: %u %s", method_name(rq->method), rq->uri ? rq->uri : "",
			  st.status, st.id);
	else
		log_debug("httpd: %s %s: %u", method_name(rq->method), rq->uri ? rq->uri : "",
			  st.status);
	r = json_response(st.body, st.len);
	if (!r)
		return NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (st.status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"redfishfs\", charset=\"UTF-8\"");
	if (st.retry_after) {
		char v[16];

		snprintf(v, sizeof(v), "%d", HTTPD_RETRY_AFTER_S);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return r;
}

static enum MHD_Result queue(struct req *rq, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	if (status < 400)       /* failures are logged by fault_response */
		log_debug("httpd: %s %s: %u", method_name(rq->method), rq->uri ? rq->uri : "", status);
	ret = MHD_queue_response(rq->conn, status, r);
	MHD_destroy_response(r);
	stats_http(status);
	return ret;
}

enum MHD_Result httpd_queue(struct MHD_Connection *c, const char *uri, unsigned status,
			    struct MHD_Response *r)
{
	struct req rq = { .conn = c, .method = M_GET, .uri = (char *)uri };

	if (r)
		add_common(r);
	return queue(&rq, status, r);
}

enum MHD_Result httpd_queue_fault(struct MHD_Connection *c, const char *uri,
				  const struct httpd_fault *f, const char *allow)
{
	struct req rq = { .conn = c, .method = M_GET, .uri = (char *)uri };
	unsigned status;
	struct MHD_Response *r = fault_response(&rq, f, allow, &status);

	return queue(&rq, status, r);
}

/* An error of the tree or a back end (-errno). */
static enum MHD_Result fail(struct req *rq, int err, const char *what, const char *allow)
{
	struct httpd_fault f = { .err = err, .what = what };
	unsigned status;
	struct MHD_Response *r = fault_response(rq, &f, allow, &status);

	return queue(rq, status, r);
}

/* httpd's own condition: a Base message, its usual status unless status. */
static enum MHD_Result fail_msg(struct req *rq, enum httpd_msg msg, unsigned status,
				const char *what, const char *allow)
{
	struct httpd_fault f = { .msg = msg, .status = status, .what = what };
	unsigned st;
	struct MHD_Response *r = fault_response(rq, &f, allow, &st);

	return queue(rq, st, r);
}

/* ---- the service documents that are not tree resources ---------------------- */

static char *schema_link(const char *odata_type)
{
	const char *t = odata_type[0] == '#' ? odata_type + 1 : odata_type;
	const char *dot = strrchr(t, '.');
	char *s = NULL;

	if (!*t || !dot)
		return NULL;
	if (asprintf(&s, "<http://redfish.dmtf.org/schemas/v1/%.*s.json>; rel=describedby",
		     (int)(dot - t), t) < 0)
		return NULL;
	return s;
}

/* $metadata: one edmx:Reference per schema the tree uses. */
static char *metadata_xml(struct httpd *h, size_t *ret_len)
{
	char *buf = NULL, *sr = NULL;
	size_t len = 0, n = 0;
	char **types = rf_tree_list_types(h->tree, &n);
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		rf_strv_free(types);
		return NULL;
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n"
	      "  <edmx:Reference Uri=\"http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/complete/vocabularies/Org.OData.Core.V1.xml\">\n"
	      "    <edmx:Include Namespace=\"Org.OData.Core.V1\" Alias=\"OData\"/>\n"
	      "  </edmx:Reference>\n"
	      "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/RedfishExtensions_v1.xml\">\n"
	      "    <edmx:Include Namespace=\"RedfishExtensions.v1_0_0\" Alias=\"Redfish\"/>\n"
	      "  </edmx:Reference>\n"
	      "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/Message_v1.xml\">\n"
	      "    <edmx:Include Namespace=\"Message\"/>\n"
	      "    <edmx:Include Namespace=\"Message.v1_3_0\"/>\n"
	      "  </edmx:Reference>\n", f);
	for (size_t i = 0; i < n;) {
		size_t base = strcspn(types[i], ".");
		size_t j;

		if (strncmp(types[i], "Message", base) == 0 && base == 7) {
			i++;
			continue;
		}
		fprintf(f, "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/%.*s_v1.xml\">\n"
			"    <edmx:Include Namespace=\"%.*s\"/>\n",
			(int)base, types[i], (int)base, types[i]);
		for (j = i; j < n && strncmp(types[j], types[i], base) == 0 &&
			    (types[j][base] == '.' || types[j][base] == '\0'); j++) {
			if (types[j][base] == '.')
				fprintf(f, "    <edmx:Include Namespace=\"%s\"/>\n", types[j]);
			if (base == 11 && strncmp(types[j], "ServiceRoot", 11) == 0 &&
			    types[j][base] == '.')
				sr = types[j];
		}
		fputs("  </edmx:Reference>\n", f);
		i = j;
	}
	fprintf(f, "  <edmx:DataServices>\n"
		"    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n"
		"      <EntityContainer Name=\"Service\" Extends=\"%s.ServiceContainer\"/>\n"
		"    </Schema>\n"
		"  </edmx:DataServices>\n"
		"</edmx:Edmx>\n", sr ? sr : "ServiceRoot.v1_0_0");
	if (fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
	rf_strv_free(types);
	*ret_len = len;
	return buf;
}

/* /redfish/v1/odata: the ServiceRoot's top-level links as the service document. */
static struct json_object *odata_doc(struct httpd *h)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array(), *e;
	struct json_object *root = NULL;
	struct rf_doc *d;
	int err;

	json_object_object_add(o, "@odata.context", json_object_new_string(RF_ROOT "/$metadata"));
	e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string("Service"));
	json_object_object_add(e, "kind", json_object_new_string("Singleton"));
	json_object_object_add(e, "url", json_object_new_string(RF_ROOT "/"));
	json_object_array_add(arr, e);
	d = rf_tree_get_doc(h->tree, RF_ROOT, &err);
	if (d)
		root = json_tokener_parse(d->json);
	rf_doc_unref(d);
	if (root) {
		json_object_object_foreach(root, key, val) {
			struct json_object *id;

			if (key[0] == '@' || strcmp(key, "Links") == 0 ||
			    !json_object_is_type(val, json_type_object) ||
			    !json_object_object_get_ex(val, "@odata.id", &id))
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "name", json_object_new_string(key));
			json_object_object_add(e, "kind", json_object_new_string("Singleton"));
			json_object_object_add(e, "url", json_object_get(id));
			json_object_array_add(arr, e);
		}
		json_object_put(root);
	}
	json_object_object_add(o, "value", arr);
	return o;
}

/* ---- Allow: which methods a URI takes --------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The id of uri if it is prefix + "/" + one segment, else NULL. */
static const char *member_id(const char *uri, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(uri, prefix, n) != 0 || uri[n] != '/' || !uri[n + 1] || strchr(uri + n + 1, '/'))
		return NULL;
	return uri + n + 1;
}

/* Whether the tree resource d has a property PATCH may change (the tree
 * knows it from the provider's writable list; the mount's PowerState
 * extension is not one). */
static bool doc_patchable(const struct rf_doc *d)
{
	return d->patchable;
}

/* Allow for a resource; d may be NULL for the service's own URIs. */
static const char *allow_for(struct httpd *h, const char *uri, const struct rf_doc *d)
{
	if (strcmp(uri, HTTPD_SESSIONS) == 0 || strcmp(uri, HTTPD_ACCOUNTS) == 0 ||
	    strcmp(uri, HTTPD_SUBSCRIPTIONS) == 0)
		return "GET, HEAD, POST";
	if (member_id(uri, HTTPD_SUBSCRIPTIONS))
		return "GET, HEAD, DELETE";
	if (strcmp(uri, HTTPD_SESSIONS "/Members") == 0)
		return "POST";
	if (member_id(uri, HTTPD_SESSIONS))
		return "GET, HEAD, DELETE";
	if (member_id(uri, HTTPD_ACCOUNTS))
		return "GET, HEAD, PATCH, DELETE";
	if (strcmp(uri, HTTPD_SESSION_SVC) == 0 || strcmp(uri, HTTPD_ACCOUNT_SVC) == 0)
		return "GET, HEAD, PATCH";
	if (starts_with(uri, HTTPD_ACCOUNT_SVC) || starts_with(uri, HTTPD_MANAGER) ||
	    strcmp(uri, RF_ROOT) == 0 || !d)
		return "GET, HEAD";
	return doc_patchable(d) ? "GET, HEAD, PATCH" : "GET, HEAD";
}

/* Whether uri is the target of an action of its resource. */
static bool is_action_target(struct httpd *h, const char *uri)
{
	const char *a = strstr(uri, "/Actions/");
	_cleanup_free_ char *parent = NULL;
	struct json_object *o = NULL, *actions;
	struct rf_doc *d;
	bool found = false;
	int err;

	if (!a || !(parent = strndup(uri, (size_t)(a - uri))))
		return false;
	d = rf_tree_get_doc(h->tree, parent, &err);
	if (d)
		o = json_tokener_parse(d->json);
	rf_doc_unref(d);
	if (o && json_object_object_get_ex(o, "Actions", &actions) &&
	    json_object_is_type(actions, json_type_object)) {
		json_object_object_foreach(actions, key, val) {
			struct json_object *t;

			if (key[0] == '#' && json_object_object_get_ex(val, "target", &t) &&
			    strcmp(json_object_get_string(t), uri) == 0)
				found = true;
		}
	}
	json_object_put(o);
	return found;
}

/* ---- request checks ------------------------------------------------------------ */

static const char *header(struct req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* Media type of a header value without parameters, compared case-insensitively. */
static bool media_is(const char *v, size_t n, const char *type)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == strlen(type) && strncasecmp(v, type, n) == 0;
}

static bool accept_ok(struct req *rq, bool xml)
{
	const char *a = header(rq, MHD_HTTP_HEADER_ACCEPT);

	if (!a || !*a)
		return true;
	for (const char *p = a; *p;) {
		size_t n = strcspn(p, ",");
		size_t t = strcspn(p, ",;");

		if (media_is(p, t, "*/*") || media_is(p, t, "application/*") ||
		    media_is(p, t, xml ? "application/xml" : "application/json") ||
		    (xml && media_is(p, t, "text/xml")) ||
		    (!xml && media_is(p, t, "application/json+odata")))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool content_type_ok(struct req *rq)
{
	const char *ct = header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t t;
	const char *cs;

	if (!ct)
		return false;
	t = strcspn(ct, ";");
	if (!media_is(ct, t, "application/json"))
		return false;
	cs = strcasestr(ct + t, "charset=");
	if (cs) {
		cs += 8;
		if (*cs == '"')
			cs++;
		if (strncasecmp(cs, "utf-8", 5) != 0 && strncasecmp(cs, "utf8", 4) != 0)
			return false;
	}
	return true;
}

struct query {
	const char *bad;            /* a query parameter not supported */
	const char *expand;         /* the value of $expand */
	bool twice;                 /* $expand given twice */
};

static enum MHD_Result check_query(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct query *q = cls;

	if (strcmp(key, "$expand") == 0) {
		q->twice = q->expand != NULL;
		q->expand = value ? value : "";
		return q->twice ? MHD_NO : MHD_YES;
	}
	if (key[0] == '$' || strcmp(key, "only") == 0 || strcmp(key, "excerpt") == 0) {
		q->bad = key;
		return MHD_NO;
	}
	return MHD_YES;
}

/* $expand, if given: parsed into rq->ex. 0, or a fault to answer. */
static int parse_expand(struct req *rq, const struct query *q, struct httpd_fault *f)
{
	int r;

	if (!q->expand)
		return 0;
	if (q->twice || (r = httpd_expand_parse(q->expand, &rq->ex)) == -EILSEQ) {
		*f = (struct httpd_fault){ .msg = HTTPD_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR,
					   .what = "$expand" };
		snprintf(f->e.value, sizeof(f->e.value), "%s", q->expand);
		return -EILSEQ;
	}
	if (r < 0) {
		*f = (struct httpd_fault){ .msg = HTTPD_MSG_QUERY_PARAMETER_OUT_OF_RANGE,
					   .what = "$expand" };
		snprintf(f->e.value, sizeof(f->e.value), "%s", q->expand);
		snprintf(f->e.property, sizeof(f->e.property), "1 to %d", HTTPD_EXPAND_MAX_LEVELS);
		return r;
	}
	rq->expand = true;
	snprintf(rq->expand_value, sizeof(rq->expand_value), "%s", q->expand);
	return 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode base64 into out (cap bytes, NUL-terminated). -EINVAL if bad or long. */
static int b64_decode(const char *in, char *out, size_t cap)
{
	unsigned acc = 0, bits = 0;
	size_t n = 0;

	for (; *in && *in != '='; in++) {
		int v = b64_value(*in);

		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= cap)
				return -EINVAL;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return memchr(out, '\0', n) ? -EINVAL : 0;
}

/* Who is asking: X-Auth-Token, else Basic. 0, -ENOKEY, or with cached_only
 * -EAGAIN when the password needs crypt(3) (a worker's job). */
static int authenticate_conn(struct httpd *h, struct MHD_Connection *conn,
			     struct httpd_ident *who, bool cached_only);

static int authenticate(struct req *rq, bool cached_only)
{
	return authenticate_conn(rq->h, rq->conn, &rq->who, cached_only);
}

/* For front.c: route() has had the password checked on a worker already
 * (front_login_first), so only the cached check runs here. */
int httpd_authenticate(struct httpd *h, struct MHD_Connection *conn, struct httpd_ident *who)
{
	return authenticate_conn(h, conn, who, true) < 0 ? -ENOKEY : 0;
}

static int authenticate_conn(struct httpd *h, struct MHD_Connection *conn,
			     struct httpd_ident *who, bool cached_only)
{
	struct req me = { .h = h, .conn = conn }, *rq = &me;
	const char *tok, *authz;
	char buf[256];
	char *colon;
	int r;

	if (httpd_auth_disabled(h->auth)) {
		memset(who, 0, sizeof(*who));
		snprintf(who->user, sizeof(who->user), "anonymous");
		who->privs = ~0u;
		return 0;
	}
	tok = header(rq, "X-Auth-Token");
	if (tok)
		return httpd_auth_token(h->auth, tok, who);
	authz = header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!authz || strncasecmp(authz, "Basic ", 6) != 0)
		return -ENOKEY;
	authz += 6;
	authz += strspn(authz, " ");
	if (b64_decode(authz, buf, sizeof(buf)) < 0 || !(colon = strchr(buf, ':'))) {
		explicit_bzero(buf, sizeof(buf));
		return -ENOKEY;
	}
	*colon = '\0';
	r = httpd_auth_basic(h->auth, buf, colon + 1, cached_only, who);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* ---- GET / HEAD ------------------------------------------------------------- */

static void doc_free(void *cls)
{
	rf_doc_unref(cls);
}

static void free_and_trim(void *p)
{
	free(p);
	malloc_trim(0);
}

/* The reply for a tree document: 304 or 200 with the doc's bytes. Takes d. */
/* 200 with d (taken), or 304 for a matching If-None-Match. With $expand,
 * d expanded as rq->ex says and no ETag: it would stand for the whole set
 * of documents, which If-Match cannot name. */
static struct MHD_Response *doc_response(struct req *rq, struct rf_doc *d, unsigned *ret_status)
{
	struct httpd *h = rq->h;
	const char *inm = header(rq, MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *allow = allow_for(h, d->uri, d);
	struct MHD_Response *r = NULL;
	char etag[32];
	char *link;

	snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)d->etag);
	link = schema_link(d->odata_type ? d->odata_type : "");
	*ret_status = MHD_HTTP_OK;
	if (rq->expand) {
		size_t len = 0;
		int xerr = 0;
		char *json = NULL;

		if (__atomic_add_fetch(&h->expanding, 1, __ATOMIC_ACQ_REL) <= HTTPD_EXPAND_CONCURRENT)
			json = httpd_expand_doc(h->tree, d, &rq->ex, &len, &xerr);
		else
			xerr = -EBUSY;
		__atomic_sub_fetch(&h->expanding, 1, __ATOMIC_ACQ_REL);
		rf_doc_unref(d);
		if (!json) {
			struct httpd_fault f = { .msg = HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE };

			if (xerr == -E2BIG) {
				f = (struct httpd_fault){ .msg = HTTPD_MSG_QUERY_PARAMETER_OUT_OF_RANGE,
							  .what = "$expand" };
				snprintf(f.e.value, sizeof(f.e.value), "%s", rq->expand_value);
				snprintf(f.e.property, sizeof(f.e.property),
					 "of responses up to %u MiB", HTTPD_EXPAND_MAX_BYTES >> 20);
			} else if (xerr == -ENOMEM) {
				f.msg = HTTPD_MSG_INTERNAL_ERROR;
			}
			free(link);
			return fault_response(rq, &f, NULL, ret_status);
		}
		/* A large body: the memory goes back to the system when sent. */
		r = len >= (256u << 10)
			? MHD_create_response_from_buffer_with_free_callback(len, json, free_and_trim)
			: MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(json);
	} else if (inm && rf_etag_matches(inm, d->etag)) {
		rf_doc_unref(d);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		*ret_status = MHD_HTTP_NOT_MODIFIED;
	} else {
		r = MHD_create_response_from_buffer_with_free_callback_cls(d->len, (void *)d->json,
									   doc_free, d);
		if (!r)
			rf_doc_unref(d);
	}
	if (r) {
		add_common(r);
		if (*ret_status == MHD_HTTP_OK)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT);
		if (!rq->expand)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
		if (link)
			MHD_add_response_header(r, MHD_HTTP_HEADER_LINK, link);
	}
	free(link);
	return r;
}

/* ResourceNotFound names the collection segment as type, the last as name. */
static void not_found_fault(const char *uri, struct httpd_fault *f, char *type, size_t cap)
{
	const char *last = strrchr(uri, '/');

	*f = (struct httpd_fault){ .msg = HTTPD_MSG_RESOURCE_NOT_FOUND, .what = type };
	snprintf(type, cap, "Resource");
	if (last && last != uri) {
		const char *prev = last - 1;

		while (prev > uri && *prev != '/')
			prev--;
		snprintf(type, cap, "%.*s", (int)(last - prev - 1), prev + 1);
	}
	snprintf(f->e.property, sizeof(f->e.property), "%s", last ? last + 1 : uri);
}

static enum MHD_Result fail_fault(struct req *rq, const struct httpd_fault *f, const char *allow)
{
	unsigned status;
	struct MHD_Response *r = fault_response(rq, f, allow, &status);

	return queue(rq, status, r);
}

static enum MHD_Result not_found(struct req *rq)
{
	struct httpd_fault f;
	char type[128];

	not_found_fault(rq->uri, &f, type, sizeof(type));
	return fail_fault(rq, &f, NULL);
}

static enum MHD_Result serve_open_static(struct req *rq, const char *json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json,
								 MHD_RESPMEM_PERSISTENT);

	if (!r)
		return MHD_NO;
	add_common(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	return queue(rq, MHD_HTTP_OK, r);
}

static enum MHD_Result redirect(struct req *rq, char *target)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
								 MHD_RESPMEM_PERSISTENT);

	if (!r) {
		free(target);
		return MHD_NO;
	}
	add_common(r);
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, target);
	free(target);
	return queue(rq, MHD_HTTP_PERMANENT_REDIRECT, r);
}

static enum MHD_Result serve_get(struct req *rq)
{
	struct httpd *h = rq->h;
	char *alias = rf_tree_alias_target(h->tree, rq->uri);
	struct rf_doc *d;
	unsigned status;
	int err = 0;

	if (alias)
		return redirect(rq, alias);
	d = rf_tree_get_doc(h->tree, rq->uri, &err);
	if (!d) {
		if (err == -ENOENT || err == 0) {
			if (strcmp(rq->uri, HTTPD_SESSIONS "/Members") == 0 ||
			    is_action_target(h, rq->uri))
				return fail_msg(rq, HTTPD_MSG_OPERATION_NOT_ALLOWED, 0, NULL, "POST");
			return not_found(rq);
		}
		return fail(rq, err, NULL, NULL);
	}
	{
		struct MHD_Response *r = doc_response(rq, d, &status);

		return queue(rq, status, r);
	}
}

/* ---- PATCH / POST / DELETE ---------------------------------------------------- */

enum write_kind {
	W_NONE,
	W_LOGIN,
	W_LOGOUT,
	W_ACCOUNT_CREATE,
	W_ACCOUNT_PATCH,
	W_ACCOUNT_DELETE,
	W_SESSION_SVC_PATCH,
	W_TREE_PATCH,
	W_ACTION,
	W_ACCOUNT_SVC_PATCH,
	W_AUTH,                     /* only the password check, then route again */
};

struct write_job {
	struct req *rq;
	enum write_kind kind;
};

/* 200/201 with the current document of uri (after a change). */
static struct MHD_Response *changed_doc(struct req *rq, const char *uri, unsigned status,
					unsigned *ret_status)
{
	struct rf_doc *d;
	struct MHD_Response *r;
	int err = 0;

	d = rf_tree_get_doc(rq->h->tree, uri, &err);
	if (!d) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (r)
			add_common(r);
		*ret_status = MHD_HTTP_NO_CONTENT;
		return r;
	}
	r = MHD_create_response_from_buffer_with_free_callback_cls(d->len, (void *)d->json,
								   doc_free, d);
	if (!r) {
		rf_doc_unref(d);
		return NULL;
	}
	{
		char etag[32];

		snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)d->etag);
		add_common(r);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	*ret_status = status;
	return r;
}

static struct MHD_Response *no_content(unsigned *ret_status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
								 MHD_RESPMEM_PERSISTENT);

	if (r)
		add_common(r);
	*ret_status = MHD_HTTP_NO_CONTENT;
	return r;
}

/* 200 with one Base message ("Success", "NoOperation"). */
static struct MHD_Response *message_response(enum httpd_msg id, unsigned *ret_status)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_array_add(arr, httpd_message_object(id, NULL, 0));
	json_object_object_add(o, "@Message.ExtendedInfo", arr);
	*ret_status = MHD_HTTP_OK;
	return json_obj_response(o);
}

/* The length of uri before its "/Actions/" (all of it if none). */
static size_t strcspn_actions(const char *uri)
{
	const char *a = strstr(uri, "/Actions/");

	return a ? (size_t)(a - uri) : strlen(uri);
}

/* Runs on a worker thread (or inline when too many are busy): sets rq->resp. */
static void run_write(struct req *rq, enum write_kind kind)
{
	struct httpd *h = rq->h;
	struct httpd_fault f = { 0 };
	char type[128];
	char *uri = NULL;
	char token[65];
	const char *id;
	int r = 0;
	/* A PATCH that carried only annotations (stripped by handle_write). */
	bool noop = rq->method == M_PATCH && rq->json && json_object_object_length(rq->json) == 0;

	switch (kind) {
	case W_LOGIN:
		r = httpd_session_create(h->auth, rq->json, token, &uri, &f);
		if (r == 0) {
			rq->resp = changed_doc(rq, uri, MHD_HTTP_CREATED, &rq->status);
			if (rq->resp) {
				MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_LOCATION, uri);
				MHD_add_response_header(rq->resp, "X-Auth-Token", token);
			}
			explicit_bzero(token, sizeof(token));
		}
		break;
	case W_LOGOUT:
		r = httpd_session_delete(h->auth, member_id(rq->uri, HTTPD_SESSIONS), &rq->who, &f);
		if (r == 0)
			rq->resp = no_content(&rq->status);
		break;
	case W_ACCOUNT_CREATE:
		r = httpd_account_create(h->auth, rq->json, &rq->who, &uri, &f);
		if (r == 0) {
			rq->resp = changed_doc(rq, uri, MHD_HTTP_CREATED, &rq->status);
			if (rq->resp)
				MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_LOCATION, uri);
		}
		break;
	case W_ACCOUNT_PATCH:
		id = member_id(rq->uri, HTTPD_ACCOUNTS);
		r = httpd_account_patch(h->auth, id, rq->json, rq->if_match, &rq->who, &f);
		if (r == 0)
			rq->resp = noop ? message_response(HTTPD_MSG_NO_OPERATION, &rq->status)
					: changed_doc(rq, rq->uri, MHD_HTTP_OK, &rq->status);
		break;
	case W_ACCOUNT_DELETE:
		id = member_id(rq->uri, HTTPD_ACCOUNTS);
		r = httpd_account_delete(h->auth, id, rq->if_match, &rq->who, &f);
		if (r == 0)
			rq->resp = no_content(&rq->status);
		break;
	case W_ACCOUNT_SVC_PATCH:
		r = httpd_account_service_patch(h->auth, rq->json, rq->if_match, &rq->who, &f);
		if (r == 0)
			rq->resp = noop ? message_response(HTTPD_MSG_NO_OPERATION, &rq->status)
					: changed_doc(rq, rq->uri, MHD_HTTP_OK, &rq->status);
		break;
	case W_AUTH:
		break;
	case W_SESSION_SVC_PATCH:
		r = httpd_session_service_patch(h->auth, rq->json, rq->if_match, &rq->who, &f);
		if (r == 0)
			rq->resp = noop ? message_response(HTTPD_MSG_NO_OPERATION, &rq->status)
					: changed_doc(rq, rq->uri, MHD_HTTP_OK, &rq->status);
		break;
	case W_TREE_PATCH:
		if (noop) {   /* the privilege was checked before dispatch */
			rq->resp = message_response(HTTPD_MSG_NO_OPERATION, &rq->status);
			break;
		}
		r = rf_tree_patch(h->tree, rq->uri, rq->json, rq->if_match, &f.e);
		f.err = r;
		if (r == 0)
			rq->resp = changed_doc(rq, rq->uri, MHD_HTTP_OK, &rq->status);
		break;
	case W_ACTION:
		r = rf_tree_post_action(h->tree, rq->uri, rq->json, rq->if_match, &f.e);
		f.err = r;
		f.what = strrchr(rq->uri, '/') + 1;
		if (r == 0)
			rq->resp = message_response(HTTPD_MSG_SUCCESS, &rq->status);
		break;
	case W_NONE:
		r = -EINVAL;
		f.err = r;
		break;
	}
	if (r < 0) {
		if (f.err == 0)
			f.err = r;
		if (f.err == -ENOENT && (kind == W_TREE_PATCH || kind == W_ACTION)) {
			struct rf_error e = f.e;

			not_found_fault(rq->uri, &f, type, sizeof(type));
			f.e.kind = e.kind;
		}
		rq->resp = fault_response(rq, &f, NULL, &rq->status);
	}
	/* Every change, who made it and how it ended (never a body: it may
	 * hold a password), to the journal and the LogService (logs.c). */
	if (kind == W_TREE_PATCH || kind == W_ACTION || kind == W_ACCOUNT_CREATE ||
	    kind == W_ACCOUNT_PATCH || kind == W_ACCOUNT_DELETE || kind == W_SESSION_SVC_PATCH ||
	    kind == W_ACCOUNT_SVC_PATCH)
		/* the resource it is about: an action's is the URI before /Actions/ */
		log_event(rq->status < 400 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
			  strndupa(rq->uri, kind == W_ACTION ? strcspn_actions(rq->uri) : strlen(rq->uri)),
			  "HTTP user %s: %s %s: %u%s%s", rq->who.user[0] ? rq->who.user : "(no login)",
			  method_name(rq->method), rq->uri, rq->status, r < 0 ? " " : "",
			  r < 0 ? strerror(-r) : "");
	free(uri);
}

static void *write_worker(void *arg)
{
	struct write_job *job = arg;
	struct req *rq = job->rq;
	struct httpd *h = rq->h;

	bool failed_login = false;

	if (job->kind == W_AUTH) {
		rq->auth_err = authenticate(rq, false);
		rq->auth_done = true;
		rq->dispatched = false;    /* route once more, on the MHD thread */
		failed_login = rq->auth_err < 0;
	} else {
		run_write(rq, job->kind);
		failed_login = job->kind == W_LOGIN && rq->status == MHD_HTTP_UNAUTHORIZED;
	}
	free(job);
	if (failed_login && h->guard_running) {
		/* A wrong password answers late, without holding a thread: the
		 * guard resumes the connection when the delay is over. */
		pthread_mutex_lock(&h->conn_lock);
		rq->resume_at_ms = now_ms() + h->login_delay_ms;
		rq->delay_next = h->delayed;
		h->delayed = rq;
		pthread_cond_signal(&h->conn_cond);
		pthread_mutex_unlock(&h->conn_lock);
	} else {
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_lock(&h->lock);
	if (--h->workers == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Run kind on a worker thread while the connection waits suspended. 0, or
 * -EBUSY when MAX_WORKERS are busy (or no thread could start). */
static int dispatch(struct req *rq, enum write_kind kind)
{
	struct httpd *h = rq->h;
	struct write_job *job;
	pthread_attr_t attr;
	pthread_t tid;
	int r = -EBUSY;

	pthread_mutex_lock(&h->lock);
	if (h->workers < MAX_WORKERS && (job = malloc(sizeof(*job)))) {
		*job = (struct write_job){ .rq = rq, .kind = kind };
		h->workers++;
		rq->dispatched = true;
		MHD_suspend_connection(rq->conn);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&tid, &attr, write_worker, job) == 0 ? 0 : -EBUSY;
		pthread_attr_destroy(&attr);
		if (r < 0) {
			h->workers--;
			rq->dispatched = false;
			free(job);
			MHD_resume_connection(rq->conn);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int parse_body(struct req *rq)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	if (rq->len == 0)
		return -EBADMSG;
	tok = json_tokener_new_ex(32);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, rq->body, (int)rq->len);
	end = json_tokener_get_parse_end(tok);
	if (o && json_tokener_get_error(tok) == json_tokener_success)
		while (end < rq->len && strchr(" \t\r\n", rq->body[end]))
			end++;
	if (!o || json_tokener_get_error(tok) != json_tokener_success || end != rq->len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	rq->json = o;
	return 0;
}

/* Every string of the body is UTF-8 text without control characters
 * (never truncated: "a\u0000b" is refused whole). 0, or -EINVAL/-EILSEQ with the
 * property and its escaped value in f (no value for a password). */
static int check_body_text(struct req *rq, struct httpd_fault *f)
{
	int r = rf_json_text_check(rq->json, false, f->e.property, sizeof(f->e.property),
				   f->e.value, sizeof(f->e.value));

	if (r == 0)
		return 0;
	httpd_fault_set(f, HTTPD_MSG_PROPERTY_VALUE_FORMAT_ERROR, r);
	if (strcasestr(f->e.property, "password") || strcasestr(f->e.property, "token"))
		f->e.value[0] = '\0';
	return f->err;
}

/* A PATCH ignores OData and Redfish annotations ("@odata.etag",
 * "Prop@Redfish.AllowableValues") wherever they are: clients echo them
 * from a GET. An object left empty by that is dropped too. */
static void strip_annotations(struct json_object *o)
{
	struct json_object_iter it;
	char *drop[64];
	size_t n;

	do {
		n = 0;
		json_object_object_foreachC(o, it) {
			bool obj = json_object_is_type(it.val, json_type_object);
			bool had = obj && json_object_object_length(it.val) > 0;

			if (obj)
				strip_annotations(it.val);
			if (n < ARRAY_SIZE(drop) &&
			    (strchr(it.key, '@') || (had && json_object_object_length(it.val) == 0)))
				drop[n++] = it.key;
		}
		for (size_t i = 0; i < n; i++)
			json_object_object_del(o, drop[i]);
	} while (n == ARRAY_SIZE(drop));
}

/* 405 (with Allow) when uri exists, else 404. */
static enum MHD_Result not_allowed(struct req *rq)
{
	struct httpd *h = rq->h;
	struct rf_doc *d;
	const char *allow;
	int err = 0;

	if (strcmp(rq->uri, HTTPD_SESSIONS "/Members") == 0)
		return fail_msg(rq, HTTPD_MSG_OPERATION_NOT_ALLOWED, 0, NULL, "POST");
	d = rf_tree_get_doc(h->tree, rq->uri, &err);
	if (!d) {
		if (is_action_target(h, rq->uri))
			return fail_msg(rq, HTTPD_MSG_OPERATION_NOT_ALLOWED, 0, NULL, "POST");
		if (err && err != -ENOENT)
			return fail(rq, err, NULL, NULL);
		return not_found(rq);
	}
	allow = allow_for(h, rq->uri, d);
	rf_doc_unref(d);
	return fail_msg(rq, HTTPD_MSG_OPERATION_NOT_ALLOWED, 0, NULL, allow);
}

static enum MHD_Result handle_write(struct req *rq, bool login)
{
	struct httpd *h = rq->h;
	const char *uri = rq->uri;
	char *alias = rf_tree_alias_target(h->tree, uri);
	enum write_kind k = W_NONE;
	enum method m = rq->method;
	unsigned need = 0;
	const char *im;
	int r;

	if (alias)
		return redirect(rq, alias);
	if (login)
		k = W_LOGIN;
	else if (member_id(uri, HTTPD_SESSIONS) && strcmp(uri, HTTPD_SESSIONS "/Members") != 0)
		k = m == M_DELETE ? W_LOGOUT : W_NONE;
	else if (strcmp(uri, HTTPD_ACCOUNTS) == 0)
		k = m == M_POST ? W_ACCOUNT_CREATE : W_NONE;
	else if (member_id(uri, HTTPD_ACCOUNTS))
		k = m == M_PATCH ? W_ACCOUNT_PATCH : m == M_DELETE ? W_ACCOUNT_DELETE : W_NONE;
	else if (strcmp(uri, HTTPD_SESSION_SVC) == 0)
		k = m == M_PATCH ? W_SESSION_SVC_PATCH : W_NONE;
	else if (strcmp(uri, HTTPD_ACCOUNT_SVC) == 0)
		k = m == M_PATCH ? W_ACCOUNT_SVC_PATCH : W_NONE;
	else if (starts_with(uri, HTTPD_SESSION_SVC) || starts_with(uri, HTTPD_ACCOUNT_SVC) ||
		 starts_with(uri, HTTPD_MANAGER))
		k = W_NONE;
	else if (m == M_POST && strstr(uri, "/Actions/"))
		k = W_ACTION, need = HTTPD_PRIV_CONFIGURE_COMPONENTS;
	else if (m == M_PATCH)
		k = W_TREE_PATCH, need = HTTPD_PRIV_CONFIGURE_COMPONENTS;

	if (k == W_NONE)
		return not_allowed(rq);
	if (k == W_TREE_PATCH) {
		int err = 0;
		struct rf_doc *d = rf_tree_get_doc(h->tree, uri, &err);
		bool patch;

		if (!d)
			return err && err != -ENOENT ? fail(rq, err, NULL, NULL) : not_found(rq);
		patch = doc_patchable(d);
		rf_doc_unref(d);
		if (!patch)
			return not_allowed(rq);
	}
	if (need && !(rq->who.privs & need))
		return fail_msg(rq, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, 0, NULL, NULL);
	if (rq->too_large)
		return fail_msg(rq, HTTPD_MSG_PAYLOAD_TOO_LARGE, 0, NULL, NULL);
	if (m != M_DELETE && (rq->len > 0 || k != W_ACTION)) {
		struct httpd_fault tf = { 0 };

		if (!content_type_ok(rq))
			return fail_msg(rq, HTTPD_MSG_HEADER_INVALID, 415, "Content-Type", NULL);
		if ((r = parse_body(rq)) == -EBADMSG)
			return fail_msg(rq, HTTPD_MSG_MALFORMED_JSON, 0, NULL, NULL);
		if (r < 0)
			return fail(rq, r, NULL, NULL);
		if (check_body_text(rq, &tf) < 0)
			return fail_fault(rq, &tf, NULL);
		if (m == M_PATCH)
			strip_annotations(rq->json);
	}
	im = header(rq, MHD_HTTP_HEADER_IF_MATCH);
	if (im && !(rq->if_match = strdup(im)))
		return MHD_NO;

	/* Hand the change to a worker; the connection waits suspended. */
	if (dispatch(rq, k) == 0)
		return MHD_YES;
	run_write(rq, k);
	{
		struct MHD_Response *resp = rq->resp;

		rq->resp = NULL;
		return queue(rq, rq->status, resp);
	}
}

/* ---- routing ------------------------------------------------------------------ */

static enum MHD_Result open_only_get(struct req *rq)
{
	return fail_msg(rq, HTTPD_MSG_OPERATION_NOT_ALLOWED, 0, NULL, "GET, HEAD");
}

/* The URIs served without a login. */
static bool open_uri(const char *uri)
{
	return strcmp(uri, "/redfish") == 0 || strcmp(uri, RF_ROOT) == 0 ||
	       strcmp(uri, RF_ROOT "/$metadata") == 0 || strcmp(uri, RF_ROOT "/odata") == 0;
}

/* Whether a request for uri needs a login whoever answers it (front.c or
 * the tree): not the open URIs, not the web page's files. */
static bool front_login_first(struct httpd *h, const char *uri)
{
	if (strcmp(uri, "/metrics") == 0)
		return httpd_front_metrics_login(h->front);
	return starts_with(uri, RF_ROOT "/") && !open_uri(uri);
}

/* Whether GET of uri would find something (a document, an alias, an action
 * target or the Members of Sessions). */
static bool known_uri(struct httpd *h, const char *uri)
{
	_cleanup_free_ char *alias = rf_tree_alias_target(h->tree, uri);
	struct rf_doc *d;
	int err = 0;
	bool found;

	if (alias || strcmp(uri, HTTPD_SESSIONS "/Members") == 0)
		return true;

	d = rf_tree_get_doc(h->tree, uri, &err);
	found = d != NULL;
	rf_doc_unref(d);
	return found || (err && err != -ENOENT) || is_action_target(h, uri);
}

static enum MHD_Result route(struct req *rq)
{
	struct httpd *h = rq->h;
	const char *v;
	struct query q = { 0 };
	struct httpd_fault qf;
	const char *uri = rq->uri;
	bool get = rq->method == M_GET || rq->method == M_HEAD;
	bool meta = strcmp(uri, RF_ROOT "/$metadata") == 0;
	bool login, accept_bad;
	enum MHD_Result front;

	if (rq->bad_uri)
		return not_found(rq);
	login = rq->method == M_POST && (strcmp(uri, HTTPD_SESSIONS) == 0 ||
					 strcmp(uri, HTTPD_SESSIONS "/Members") == 0);
	/* crypt(3) never runs on an MHD thread, for front.c's URIs either: a
	 * password that is not the one last verified goes to a worker first;
	 * front.c then sees the cached result (httpd_authenticate). */
	if (!rq->auth_done && !login && front_login_first(h, uri) && authenticate(rq, true) == -EAGAIN)
		return dispatch(rq, W_AUTH) == 0 ? MHD_YES
			: fail_msg(rq, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, 0, NULL, NULL);
	if (httpd_front_route(h->front, h, rq->conn, method_name(rq->method), uri, rq->body,
			      rq->len, &front))
		return front;
	v = header(rq, "OData-Version");
	if (v && strcmp(v, "4.0") != 0)
		return fail_msg(rq, HTTPD_MSG_HEADER_INVALID, 412, "OData-Version", NULL);
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, check_query, &q);
	if (q.bad)
		return fail_msg(rq, HTTPD_MSG_QUERY_PARAMETER_UNSUPPORTED, 0, q.bad, NULL);
	if (parse_expand(rq, &q, &qf) < 0) {
		unsigned status;
		struct MHD_Response *r = fault_response(rq, &qf, NULL, &status);

		return queue(rq, status, r);
	}
	/* Accept is checked where a document exists: a URI the service does
	 * not have is a 404 whatever the client accepts. */
	accept_bad = !accept_ok(rq, meta);
	if (accept_bad && (open_uri(uri) || !get))
		return fail_msg(rq, HTTPD_MSG_HEADER_INVALID, 406, "Accept", NULL);
	/* An open URI (DSP0266) this service does not implement. */
	if (strcmp(uri, RF_ROOT "/openapi.yaml") == 0)
		return not_found(rq);

	if (strcmp(uri, "/redfish") == 0)
		return get ? serve_open_static(rq, "{\"v1\":\"/redfish/v1/\"}") : open_only_get(rq);
	if (meta) {
		struct MHD_Response *r;
		size_t len;
		char *xml;

		if (!get)
			return open_only_get(rq);
		if (!(xml = metadata_xml(h, &len)))
			return fail(rq, -ENOMEM, NULL, NULL);
		r = MHD_create_response_from_buffer(len, xml, MHD_RESPMEM_MUST_FREE);
		if (!r) {
			free(xml);
			return MHD_NO;
		}
		add_common(r);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml; charset=utf-8");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return queue(rq, MHD_HTTP_OK, r);
	}
	if (strcmp(uri, RF_ROOT "/odata") == 0) {
		struct MHD_Response *r;

		if (!get)
			return open_only_get(rq);
		r = json_obj_response(odata_doc(h));
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return queue(rq, MHD_HTTP_OK, r);
	}
	if (strcmp(uri, RF_ROOT) == 0)
		return get ? serve_get(rq) : open_only_get(rq);
	if (!starts_with(uri, RF_ROOT "/"))
		return not_found(rq);

	if (!login) {
		int ar = rq->auth_done ? rq->auth_err : authenticate(rq, true);

		/* crypt(3) never runs on an MHD thread: a password that is not the
		 * one last verified goes to a worker, then comes back here. */
		if (ar == -EAGAIN)
			return dispatch(rq, W_AUTH) == 0 ? MHD_YES
				: fail_msg(rq, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, 0, NULL, NULL);
		if (ar < 0)
			return fail_msg(rq, HTTPD_MSG_NO_VALID_SESSION, 0, NULL, NULL);
	}
	if (get) {
		if (!(rq->who.privs & HTTPD_PRIV_LOGIN))
			return fail_msg(rq, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, 0, NULL, NULL);
		if (accept_bad)
			return known_uri(h, uri) ? fail_msg(rq, HTTPD_MSG_HEADER_INVALID, 406, "Accept", NULL)
						 : not_found(rq);
		return serve_get(rq);
	}
	return handle_write(rq, login);
}

static enum method parse_method(const char *m)
{
	static const struct {
		const char *name;
		enum method m;
	} tab[] = {
		{ MHD_HTTP_METHOD_GET, M_GET }, { MHD_HTTP_METHOD_HEAD, M_HEAD },
		{ MHD_HTTP_METHOD_PATCH, M_PATCH }, { MHD_HTTP_METHOD_POST, M_POST },
		{ MHD_HTTP_METHOD_DELETE, M_DELETE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].m;
	return M_OTHER;
}

/* "/redfish/v1/Chassis/" -> "/redfish/v1/Chassis"; "" -> "/". */
static char *normalize(const char *url)
{
	size_t n = strlen(url);

	while (n > 1 && url[n - 1] == '/')
		n--;
	return n ? strndup(url, n) : strdup("/");
}

/* ---- slow clients -------------------------------------------------------------- */

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void conn_mark(struct MHD_Connection *mc, bool waiting)
{
	struct conn *c = conn_of(mc);

	if (!c)
		return;
	__atomic_store_n(&c->since_ms, now_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&c->waiting, waiting, __ATOMIC_RELEASE);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	struct conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!ci || !(c = calloc(1, sizeof(*c))))
			return;   /* unguarded; the idle timeout still ends it */
		c->fd = ci->connect_fd;
		c->waiting = true;
		c->since_ms = now_ms();
		pthread_mutex_lock(&h->conn_lock);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->conn_lock);
		*socket_context = c;
	} else if (c) {
		/* MHD closes the socket after this call, so the guard never
		 * shuts down a descriptor that was reused. */
		pthread_mutex_lock(&h->conn_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			h->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&h->conn_lock);
		free(c);
		*socket_context = NULL;
	}
}

/* Once a second: a connection that has been waiting for request headers
 * longer than header_timeout_s is shut down; MHD then sees the end of the
 * stream on its own thread and closes it. A trickle of header bytes does not
 * reset this deadline (it does reset MHD's idle timeout). */
static void *guard_thread(void *arg)
{
	struct httpd *h = arg;
	int64_t limit = (int64_t)h->header_timeout_s * 1000;

	pthread_mutex_lock(&h->conn_lock);
	while (!h->guard_stop) {
		struct timespec ts;
		int64_t now = now_ms(), wake = now + 1000;
		unsigned n = 0;

		for (struct req **p = &h->delayed; *p;) {
			struct req *rq = *p;

			if (rq->resume_at_ms <= now) {
				*p = rq->delay_next;
				MHD_resume_connection(rq->conn);
			} else {
				if (rq->resume_at_ms < wake)
					wake = rq->resume_at_ms;
				p = &rq->delay_next;
			}
		}
		for (struct conn *c = h->conns; c; c = c->next) {
			if (c->shut || !__atomic_load_n(&c->waiting, __ATOMIC_ACQUIRE) ||
			    now - __atomic_load_n(&c->since_ms, __ATOMIC_RELAXED) <= limit)
				continue;
			shutdown(c->fd, SHUT_RDWR);
			c->shut = true;
			n++;
		}
		if (n)
			log_debug("httpd: closed %u connection%s without request headers after %u s", n,
				  n == 1 ? "" : "s", h->header_timeout_s);
		clock_gettime(CLOCK_REALTIME, &ts);
		wake -= now;
		ts.tv_sec += wake / 1000;
		ts.tv_nsec += (wake % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h->conn_cond, &h->conn_lock, &ts);
	}
	/* Stopping: whatever waits out its delay is answered now. */
	while (h->delayed) {
		struct req *rq = h->delayed;

		h->delayed = rq->delay_next;
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_unlock(&h->conn_lock);
	return NULL;
}

/* MHD passes handlers the percent-decoded path, in which "%00" ends the
 * string and "%2F" became a separator: "/redfish/v1/Chassis%00" would be
 * served as Chassis. The raw request target, seen here first, decides: an
 * encoded NUL, control character or slash names no resource. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);
	size_t n = strcspn(uri, "?");
	bool bad = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)uri[i];

		if (ch == '%' && i + 2 < n && isxdigit((unsigned char)uri[i + 1]) &&
		    isxdigit((unsigned char)uri[i + 2])) {
			char hex[3] = { uri[i + 1], uri[i + 2], '\0' };

			ch = (unsigned char)strtoul(hex, NULL, 16);
			bad |= ch == '/' || ch == '\\';
			i += 2;
		}
		bad |= ch < 0x20 || ch == 0x7f;
	}
	if (c)
		c->bad_uri = bad;
	return NULL;
}

/* Transfer-Encoding other than chunked: the body's length is unknown. */
static bool coding_unknown(struct MHD_Connection *conn)
{
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);

	if (!te)
		return false;
	te += strspn(te, " \t");
	return strncasecmp(te, "chunked", 7) != 0 || te[7 + strspn(te + 7, " \t")] != '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct httpd *h = cls;
	struct req *rq = *con_cls;

	if (!rq) {
		const char *cl;

		conn_mark(conn, false);   /* the headers are in */
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->h = h;
		rq->conn = conn;
		rq->method = parse_method(method);
		rq->uri = normalize(url);
		rq->bad_uri = conn_of(conn) && conn_of(conn)->bad_uri;
		*con_cls = rq;
		if (!rq->uri)
			return MHD_NO;
		/* A body coded as MHD cannot read (gzip, ...): answer now, not
		 * after the idle timeout; the connection closes. */
		if (coding_unknown(conn))
			return fail_msg(rq, HTTPD_MSG_HEADER_INVALID, 415, "Transfer-Encoding", NULL);
		/* Refuse an announced oversized body before reading it (this
		 * closes the connection, which is what we want then). */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > h->max_body)
			return fail_msg(rq, HTTPD_MSG_PAYLOAD_TOO_LARGE, 0, NULL, NULL);
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		if (!rq->too_large && rq->len + n > h->max_body) {
			rq->too_large = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = rq->cap = 0;
		}
		if (!rq->too_large) {
			if (rq->len + n + 1 > rq->cap) {
				size_t cap = (rq->len + n + 1) * 2;
				char *b = realloc(rq->body, cap);

				if (!b)
					return MHD_NO;
				rq->body = b;
				rq->cap = cap;
			}
			memcpy(rq->body + rq->len, upload_data, n);
			rq->len += n;
			rq->body[rq->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->resp) {
		struct MHD_Response *r = rq->resp;

		rq->resp = NULL;
		return queue(rq, rq->status, r);
	}
	if (rq->dispatched)
		return MHD_NO;    /* the worker could not build a response */
	return route(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	conn_mark(conn, true);   /* keep-alive: the next request's headers are due */
	if (!rq)
		return;
	if (rq->resp)
		MHD_destroy_response(rq->resp);
	json_object_put(rq->json);
	if (rq->body)
		explicit_bzero(rq->body, rq->len);
	free(rq->body);
	free(rq->uri);
	free(rq->if_match);
	free(rq);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("httpd: libmicrohttpd: %s", buf);
}

/* ---- lifetime ------------------------------------------------------------------- */

static int read_all(const char *path, char **ret)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int c;

	if (!f)
		return -errno;
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	while ((c = getc(f)) != EOF && len < 1024 * 1024)
		fputc(c, m);
	fclose(f);
	if (fclose(m) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

/* Load the PEM pair once with GnuTLS so a bad file fails before the fork. */
static int check_tls(const char *cert, const char *key)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = { (unsigned char *)cert, (unsigned)strlen(cert) };
	gnutls_datum_t k = { (unsigned char *)key, (unsigned)strlen(key) };
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (r < 0) {
		log_error("httpd: TLS certificate/key: %s", gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}

static int bind_listen(struct httpd *h)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;
	int fd = socket(h->listen.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (h->listen.addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&h->listen.addr, h->listen.addr_len) < 0 ||
	    listen(fd, 256) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	h->listen.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	h->fd = fd;
	return 0;
}

struct httpd *httpd_new(struct rf_tree *t, const struct httpd_config *c, int *ret_err)
{
	struct httpd *h = NULL;
	_cleanup_free_ char *state_dir = NULL;
	char *password = NULL;
	char msg[512];
	int r;

	if ((r = httpd_config_check(c, msg, sizeof(msg))) < 0) {
		log_error("httpd: %s", msg);
		goto fail;
	}
	r = -ENOMEM;
	if (!(h = calloc(1, sizeof(*h))))
		goto fail;
	h->fd = -1;
	h->tree = t;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->idle, NULL);
	pthread_mutex_init(&h->conn_lock, NULL);
	pthread_cond_init(&h->conn_cond, NULL);
	h->max_per_ip = c->max_per_ip ? c->max_per_ip : HTTPD_DEFAULT_PER_IP;
	h->header_timeout_s = c->header_timeout_s ? c->header_timeout_s : HTTPD_DEFAULT_HEADER_TIMEOUT;
	h->login_delay_ms = c->login_delay_ms ? c->login_delay_ms : LOGIN_FAIL_DELAY_MS;
	h->threads = c->threads ? c->threads : HTTPD_DEFAULT_THREADS;
	h->max_connections = c->max_connections ? c->max_connections : HTTPD_DEFAULT_MAX_CONN;
	h->conn_timeout_s = c->conn_timeout_s ? c->conn_timeout_s : HTTPD_DEFAULT_CONN_TIMEOUT;
	h->max_body = c->max_body ? c->max_body : HTTPD_DEFAULT_MAX_BODY;
	httpd_parse_listen(c->listen, &h->listen);
	h->tls = c->cert_file != NULL;
	if (h->tls) {
		if ((r = read_all(c->cert_file, &h->cert_pem)) < 0 ||
		    (r = read_all(c->key_file, &h->key_pem)) < 0) {
			log_error("httpd: reading the TLS files: %s", strerror(-r));
			goto fail;
		}
		if ((r = check_tls(h->cert_pem, h->key_pem)) < 0)
			goto fail;
	}
	if (c->password_file &&
	    (r = httpd_read_password_file(c->password_file, &password, msg, sizeof(msg))) < 0) {
		log_error("httpd: %s", msg);
		goto fail;
	}
	if (!(state_dir = httpd_state_dir(c))) {
		log_error("httpd: no state directory (set --state-dir)");
		r = -EINVAL;
		goto fail;
	}
	if ((r = bind_listen(h)) < 0) {
		log_error("httpd: listening on %s: %s", c->listen, strerror(-r));
		goto fail;
	}
	/* The address as bound ("0.0.0.0" for every one), so logs tell the truth. */
	snprintf(h->url, sizeof(h->url), "%s://%s:%u", h->tls ? "https" : "http", h->listen.host,
		 h->listen.port);
	{
		struct httpd_auth_opts o = {
			.state_dir = state_dir,
			.user = c->user,
			.password = password,
			.no_auth = c->no_auth,
			.session_timeout_s = c->session_timeout_s,
			.url = h->url,
			.port = h->listen.port,
			.tls = h->tls,
		};

		if (!(h->auth = httpd_auth_new(t, &o, &r)))
			goto fail;
	}
	if (!(h->front = httpd_front_new(t, state_dir, httpd_metrics_mode(c->metrics,
									   h->listen.loopback), &r)))
		goto fail;
	if (h->tls && !(h->certs = httpd_certs_new(t, h->cert_pem, &r)))
		goto fail;
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	return h;
fail:
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	httpd_free(h);
	*ret_err = r;
	return NULL;
}

int httpd_start(struct httpd *h)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	struct MHD_OptionItem opts[16];
	size_t n = 0;

	if (h->mhd)
		return -EALREADY;
	if (h->tls)
		flags |= MHD_USE_TLS;
	if (h->listen.addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, h->fd, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, h->conn_timeout_s, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->max_per_ip, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL };
	if (h->threads > 1)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, h->threads, NULL };
	if (h->tls) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->key_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert_pem };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	if (httpd_front_start(h->front) < 0) {
		log_error("httpd: starting the event thread failed");
		return -EIO;
	}
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				  MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!h->mhd) {
		log_error("httpd: starting libmicrohttpd on %s failed", h->url);
		return -EIO;
	}
	h->fd = -1;   /* MHD owns and closes it now */
	if (pthread_create(&h->guard, NULL, guard_thread, h) == 0)
		h->guard_running = true;
	else
		log_warn("httpd: no header deadline (thread: %s)", strerror(errno));
	log_info("httpd: serving %s", h->url);
	return 0;
}

int httpd_add_connection(struct httpd *h, int fd, const void *addr, size_t addr_len)
{
	if (!h->mhd)
		return -EIO;
	return MHD_add_connection(h->mhd, fd, addr, (socklen_t)addr_len) == MHD_YES ? 0 : -EIO;
}

uint16_t httpd_port(const struct httpd *h)
{
	return h->listen.port;
}

const char *httpd_url(const struct httpd *h)
{
	return h->url;
}

struct httpd *httpd_free(struct httpd *h)
{
	if (!h)
		return NULL;
	if (h->mhd) {
		/* Workers resume their connections when done; wait for them,
		 * then for the guard, which resumes the delayed ones. */
		pthread_mutex_lock(&h->lock);
		while (h->workers)
			pthread_cond_wait(&h->idle, &h->lock);
		pthread_mutex_unlock(&h->lock);
	}
	if (h->guard_running) {
		pthread_mutex_lock(&h->conn_lock);
		h->guard_stop = true;
		pthread_cond_signal(&h->conn_cond);
		pthread_mutex_unlock(&h->conn_lock);
		pthread_join(h->guard, NULL);
	}
	if (h->mhd) {
		httpd_front_stop(h->front);   /* event streams end: none stays suspended */
		MHD_stop_daemon(h->mhd);
	}
	h->front = httpd_front_free(h->front);
	h->certs = httpd_certs_free(h->certs);
	if (h->fd >= 0)
		close(h->fd);
	h->auth = httpd_auth_free(h->auth);
	if (h->key_pem) {
		explicit_bzero(h->key_pem, strlen(h->key_pem));
		free(h->key_pem);
	}
	free(h->cert_pem);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->conn_cond);
	pthread_mutex_destroy(&h->conn_lock);
	free(h);
	return NULL;
}
