/* client.c — a Redfish HTTP client on libcurl's multi interface, and the one
 * table from HTTP status / curl error to errno.
 *
 * Who calls: bmc.c, from tree callbacks (any FUSE or HTTP thread) and from
 * its health thread. There is no client thread: the calling thread drives a
 * curl multi handle for its batch of requests (rf_client_run), so nothing
 * runs across fork() and a batch's requests run in parallel. Multi handles
 * are pooled per client and keep their connections between batches, so
 * keep-alive works across calls and threads.
 *
 * Bounds: every request has a deadline (timeout_ms from the start of
 * rf_client_run, 503/429 retries and queueing included) that becomes curl's
 * CURLOPT_TIMEOUT_MS; connects have their own timeout. Concurrency is
 * bounded per client and process-wide by counters under one global mutex:
 * a batch adds a request to its multi only when it gets a slot of both, and
 * blocks (until a slot frees or its deadline) only while it has nothing in
 * flight, so holding slots never waits on other batches. Reply bodies are
 * bounded by max_body (-EFBIG).
 *
 * Authentication: a Redfish session (POST to the ServiceRoot's
 * Links.Sessions, X-Auth-Token), HTTP Basic when the service has none. A
 * 401 triggers one re-login, shared by concurrent callers through a login
 * generation, and one resend. Credentials live only in this struct (the
 * password is wiped on free) and in request bodies built for the login;
 * nothing here logs. */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_PARALLEL 8
#define DEFAULT_MAX_BODY (16u << 20)
#define MAX_HEADER 8192

/* ---- errno tables --------------------------------------------------------- */

int rf_errno_from_http(long status)
{
	static const struct {
		long status;
		int err;
	} table[] = {
		{ 400, EINVAL },       /* bad request, bad property value */
		{ 401, EACCES },       /* not authenticated (after one re-login) */
		{ 403, EACCES },       /* not permitted */
		{ 404, ENOENT },
		{ 405, EACCES },       /* e.g. PATCH of a read-only resource */
		{ 406, EINVAL },
		{ 408, ETIMEDOUT },
		{ 409, EBUSY },        /* conflicting state */
		{ 410, ENOENT },
		{ 411, EINVAL },
		{ 412, ESTALE },       /* If-Match failed */
		{ 413, EFBIG },
		{ 414, ENAMETOOLONG },
		{ 415, EINVAL },
		{ 428, EINVAL },       /* If-Match required */
		{ 429, EAGAIN },       /* still too many requests after retries */
		{ 500, EIO },
		{ 501, EOPNOTSUPP },
		{ 502, EIO },
		{ 503, EAGAIN },       /* still unavailable after retries */
		{ 504, ETIMEDOUT },
		{ 507, ENOSPC },
	};

	if ((status >= 200 && status < 300) || status == 304)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].status == status)
			return -table[i].err;
	if (status >= 400 && status < 500)
		return -EINVAL;
	return -EIO;           /* 5xx, unexpected 1xx/3xx (redirects are not followed) */
}

int rf_errno_from_curl(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return -EPROTO;        /* TLS: the message says which */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		return -EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTONOSUPPORT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;           /* send/recv errors, empty replies, ... */
	}
}

char *rf_error_message(const char *data, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o, *e, *v, *info;
	char *msg = NULL;

	if (!data || !len || !(tok = json_tokener_new()))
		return NULL;
	o = json_tokener_parse_ex(tok, data, (int)len);
	json_tokener_free(tok);
	if (!o)
		return NULL;
	if (json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_object)) {
		if (json_object_object_get_ex(e, "@Message.ExtendedInfo", &info) &&
		    json_object_is_type(info, json_type_array) && json_object_array_length(info) > 0 &&
		    json_object_object_get_ex(json_object_array_get_idx(info, 0), "Message", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = strdup(json_object_get_string(v));
		else if (json_object_object_get_ex(e, "message", &v) &&
			 json_object_is_type(v, json_type_string))
			msg = strdup(json_object_get_string(v));
	}
	json_object_put(o);
	return msg;
}

/* ---- process-wide bound ----------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_inflight;
static int g_max = 32;

void rf_client_set_global_parallel(int n)
{
	pthread_mutex_lock(&g_lock);
	g_max = n > 0 ? n : 1;
	pthread_mutex_unlock(&g_lock);
}

/* ---- the client ------------------------------------------------------------- */

struct rf_client {
	char *base_url, *user, *password, *ca_file;
	bool insecure;
	int timeout_ms, connect_timeout_ms, parallel;
	size_t max_body;

	/* Under g_lock: */
	int inflight;
	struct rf_client_stats stats;
	CURLM **pool;
	size_t n_pool;

	/* Authentication: login_lock serialises logins; the fields are read
	 * by request setup under g_lock (they change only with both held). */
	pthread_mutex_t login_lock;
	bool authed;               /* a login happened (session or Basic) */
	bool basic;
	char *token;
	char *session_uri;
	uint64_t auth_gen;
	bool sessions_known;       /* sessions_uri below is what the root says */
	char *sessions_uri;
	bool connected_once;       /* atomic; a later new connection is a reconnect */
};

struct xfer {
	struct rf_http *h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	int64_t deadline, not_before;
	bool active, done, too_big;
	size_t cap;
	long retry_after_s;        /* -1: none */
	uint64_t auth_gen;         /* the login generation the request used */
	char errbuf[CURL_ERROR_SIZE];
};

void rf_http_clear(struct rf_http *h)
{
	free(h->data);
	free(h->etag);
	free(h->location);
	free(h->token);
	h->data = h->etag = h->location = h->token = NULL;
	h->len = 0;
	h->status = 0;
	h->err = 0;
	h->error[0] = '\0';
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct rf_client *rf_client_new(const struct rf_client_config *cfg, int *ret_err)
{
	struct rf_client *c;

	if (!cfg->base_url || (strncmp(cfg->base_url, "http://", 7) != 0 &&
			       strncmp(cfg->base_url, "https://", 8) != 0) ||
	    (cfg->user && !cfg->password)) {
		*ret_err = -EINVAL;
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&c->login_lock, NULL);
	c->insecure = cfg->insecure;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : c->timeout_ms;
	c->parallel = cfg->parallel > 0 ? cfg->parallel : DEFAULT_PARALLEL;
	c->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	if (!(c->base_url = strdup(cfg->base_url)) ||
	    (cfg->user && !(c->user = strdup(cfg->user))) ||
	    (cfg->password && !(c->password = strdup(cfg->password))) ||
	    (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file)))) {
		rf_client_free(c);
		*ret_err = -ENOMEM;
		return NULL;
	}
	return c;
}

bool rf_client_uses_session(struct rf_client *c)
{
	bool r;

	pthread_mutex_lock(&g_lock);
	r = c->token != NULL;
	pthread_mutex_unlock(&g_lock);
	return r;
}

void rf_client_get_stats(struct rf_client *c, struct rf_client_stats *ret)
{
	pthread_mutex_lock(&g_lock);
	*ret = c->stats;
	pthread_mutex_unlock(&g_lock);
}

/* ---- one transfer ------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct rf_http *h = x->h;
	size_t n = size * nmemb;

	if (h->len + n > x->cap) {
		x->too_big = true;
		return 0;                   /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	char *d = realloc(h->data, h->len + n + 1);

	if (!d)
		return 0;
	memcpy(d + h->len, ptr, n);
	h->data = d;
	h->len += n;
	d[h->len] = '\0';
	return n;
}

/* A header value, trimmed, malloc'd, if line is "name: value". */
static char *header_value(const char *line, size_t n, const char *name)
{
	size_t l = strlen(name);
	const char *v, *end = line + n;

	if (n <= l + 1 || strncasecmp(line, name, l) != 0 || line[l] != ':')
		return NULL;
	for (v = line + l + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	return strndup(v, end - v);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct rf_http *h = x->h;
	size_t n = size * nmemb;
	char *v;

	if (n > MAX_HEADER)
		return n;
	/* A new status line (after a 100 Continue): forget earlier headers. */
	if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
		free(h->etag);
		free(h->location);
		free(h->token);
		h->etag = h->location = h->token = NULL;
		x->retry_after_s = -1;
		return n;
	}
	if ((v = header_value(line, n, "ETag"))) {
		free(h->etag);
		h->etag = v;
	} else if ((v = header_value(line, n, "Location"))) {
		free(h->location);
		h->location = v;
	} else if ((v = header_value(line, n, "X-Auth-Token"))) {
		wipe_free(h->token);
		h->token = v;
	} else if ((v = header_value(line, n, "Retry-After"))) {
		char *end;
		long s = strtol(v, &end, 10);

		if (end != v && !*end && s >= 0) {
			x->retry_after_s = s;
		} else {
			time_t t = curl_getdate(v, NULL);

			x->retry_after_s = t > 0 ? (long)(t - time(NULL)) : -1;
			if (t > 0 && x->retry_after_s < 0)
				x->retry_after_s = 0;
		}
		free(v);
	}
	return n;
}

static const char *method_of(const struct rf_http *h)
{
	return h->method ? h->method : "GET";
}

/* Build the easy handle for x. Called with g_lock held (reads the token). */
static int xfer_setup(struct rf_client *c, struct xfer *x, int64_t now)
{
	struct rf_http *h = x->h;
	const char *m = method_of(h);
	char buf[600];
	long left = (long)(x->deadline - now);
	CURL *e;

	if (!x->url) {
		if (strstr(h->path, "://")) {
			/* An absolute URL (a Location) must name this service. */
			size_t bl = strlen(c->base_url);

			if (strncmp(h->path, c->base_url, bl) != 0 || h->path[bl] != '/')
				return -EINVAL;
			x->url = strdup(h->path);
		} else if (h->path[0] == '/') {
			if (asprintf(&x->url, "%s%s", c->base_url, h->path) < 0)
				x->url = NULL;
		} else {
			return -EINVAL;
		}
		if (!x->url)
			return -ENOMEM;
	}
	if (!(e = x->easy = curl_easy_init()))
		return -ENOMEM;
	x->errbuf[0] = '\0';
	x->cap = c->max_body;
	x->too_big = false;
	x->retry_after_s = -1;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left > 1 ? left : 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(c->connect_timeout_ms < left ? c->connect_timeout_ms : (left > 1 ? left : 1)));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (strcmp(m, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	if (h->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(h->body));
	} else if (strcmp(m, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
	}

	struct curl_slist *l = NULL;
#define ADD(s) do { struct curl_slist *n_ = curl_slist_append(l, (s)); if (!n_) goto nomem; l = n_; } while (0)
	ADD("Accept: application/json");
	ADD("OData-Version: 4.0");
	ADD("Expect:");
	if (h->body || strcmp(m, "POST") == 0)
		ADD("Content-Type: application/json");
	if (h->if_match) {
		snprintf(buf, sizeof(buf), "If-Match: %s", h->if_match);
		ADD(buf);
	}
	if (h->if_none_match) {
		snprintf(buf, sizeof(buf), "If-None-Match: %s", h->if_none_match);
		ADD(buf);
	}
	x->auth_gen = c->auth_gen;
	if (!h->no_auth && c->token) {
		char *tok;

		if (asprintf(&tok, "X-Auth-Token: %s", c->token) < 0)
			goto nomem;
		struct curl_slist *n2 = curl_slist_append(l, tok);

		wipe_free(tok);
		if (!n2)
			goto nomem;
		l = n2;
	} else if (!h->no_auth && c->basic && c->user) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->password);
	}
#undef ADD
	x->hdrs = l;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	return 0;
nomem:
	curl_slist_free_all(l);
	curl_easy_cleanup(e);
	x->easy = NULL;
	return -ENOMEM;
}

static void xfer_release(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	x->easy = NULL;
	x->hdrs = NULL;
}

static void xfer_finish(struct xfer *x, int err)
{
	xfer_release(x);
	x->h->err = err;
	x->done = true;
}

/* ---- running a batch ----------------------------------------------------------- */

static CURLM *pool_get(struct rf_client *c)
{
	CURLM *m = NULL;

	pthread_mutex_lock(&g_lock);
	if (c->n_pool)
		m = c->pool[--c->n_pool];
	pthread_mutex_unlock(&g_lock);
	if (!m && (m = curl_multi_init()))
		curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)c->parallel);
	return m;
}

static void pool_put(struct rf_client *c, CURLM *m)
{
	CURLM **v;

	pthread_mutex_lock(&g_lock);
	v = realloc(c->pool, (c->n_pool + 1) * sizeof(*v));
	if (v) {
		c->pool = v;
		c->pool[c->n_pool++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&g_lock);
	if (m)
		curl_multi_cleanup(m);
}

static void slot_release(struct rf_client *c)
{
	pthread_mutex_lock(&g_lock);
	c->inflight--;
	g_inflight--;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
}

static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_ms)
{
	int64_t now = now_ms();
	struct timespec ts;

	if (deadline_ms <= now)
		return;
	/* Condition variables use CLOCK_REALTIME by default: convert. */
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + (deadline_ms - now) % 1000 * 1000000;

	ts.tv_sec += (deadline_ms - now) / 1000 + ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(cond, lock, &ts);
}

/* A finished exchange: retry 503/429 while the deadline allows. */
/* For /metrics: the request's time, and whether it opened a connection
 * after this client had one (a reconnect). */
static void count_round_trip(struct rf_client *c, CURL *easy, CURLcode res)
{
	curl_off_t usec = 0;
	long connects = 0;

	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &usec);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
	stats_round_trip(STATS_BMC, (int64_t)usec, res == CURLE_OK);
	if (connects > 0 && __atomic_exchange_n(&c->connected_once, true, __ATOMIC_RELAXED))
		stats_reconnect(STATS_BMC);
}

static void on_done(struct rf_client *c, CURLM *multi, struct xfer *x, CURLcode res)
{
	struct rf_http *h = x->h;
	int64_t now = now_ms();

	curl_multi_remove_handle(multi, x->easy);
	x->active = false;
	slot_release(c);
	h->attempts++;
	h->cause = 0;
	count_round_trip(c, x->easy, res);
	if (res != CURLE_OK) {
		h->status = 0;
		long os = 0;

		if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os) != CURLE_OK)
			os = 0;
		snprintf(h->error, sizeof(h->error), "%s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
		xfer_finish(x, x->too_big ? -EFBIG : rf_errno_from_curl(res));
		h->cause = os > 0 && res != CURLE_OPERATION_TIMEDOUT ? -(int)os : h->err;
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &h->status);
	if (h->status == 503 || h->status == 429) {
		int64_t delay = x->retry_after_s >= 0 ? x->retry_after_s * 1000 :
			(int64_t)100 << (h->attempts < 6 ? h->attempts : 6);

		if (now + delay < x->deadline) {
			xfer_release(x);
			free(h->data);
			h->data = NULL;
			h->len = 0;
			x->not_before = now + delay;
			return;
		}
	}
	xfer_finish(x, rf_errno_from_http(h->status));
}

/* Run xs to completion on one pooled multi handle. */
static void run_batch(struct rf_client *c, struct xfer *xs, size_t n)
{
	CURLM *multi;
	size_t left = 0;
	int active = 0;

	for (size_t i = 0; i < n; i++)
		left += !xs[i].done;
	if (!left)
		return;
	if (!(multi = pool_get(c))) {
		for (size_t i = 0; i < n; i++)
			if (!xs[i].done)
				xfer_finish(&xs[i], -ENOMEM);
		return;
	}
	while (left) {
		int64_t now = now_ms(), next = now + 100;
		bool waiting_slot = false;

		for (size_t i = 0; i < n; i++) {
			struct xfer *x = &xs[i];
			int r;

			if (x->done || x->active)
				continue;
			if (now >= x->deadline) {
				snprintf(x->h->error, sizeof(x->h->error), "no reply within %d ms",
					 c->timeout_ms);
				xfer_finish(x, x->h->status == 503 || x->h->status == 429 ?
					    -EAGAIN : -ETIMEDOUT);
				left--;
				continue;
			}
			if (x->not_before > now) {
				if (x->not_before < next)
					next = x->not_before;
				continue;
			}
			pthread_mutex_lock(&g_lock);
			if (c->inflight >= c->parallel || g_inflight >= g_max) {
				pthread_mutex_unlock(&g_lock);
				waiting_slot = true;
				if (x->deadline < next)
					next = x->deadline;
				continue;
			}
			r = xfer_setup(c, x, now);
			if (r == 0) {
				c->inflight++;
				g_inflight++;
				c->stats.requests++;
				if (c->inflight > c->stats.max_inflight)
					c->stats.max_inflight = c->inflight;
			}
			pthread_mutex_unlock(&g_lock);
			if (r < 0) {
				xfer_finish(x, r);
				left--;
				continue;
			}
			if (curl_multi_add_handle(multi, x->easy) != CURLM_OK) {
				slot_release(c);
				xfer_finish(x, -ENOMEM);
				left--;
				continue;
			}
			x->active = true;
			active++;
		}
		if (!left)
			break;
		if (!active) {
			/* Nothing of ours in flight: wait for a slot or a retry time. */
			pthread_mutex_lock(&g_lock);
			if (!waiting_slot || c->inflight >= c->parallel || g_inflight >= g_max)
				wait_until(&g_cond, &g_lock, next);
			pthread_mutex_unlock(&g_lock);
			continue;
		}
		int running = 0;
		CURLMsg *msg;
		int q;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &q))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			active--;
			on_done(c, multi, x, msg->data.result);
			if (x->done)
				left--;
		}
		if (!left)
			break;
		now = now_ms();
		long wait = (long)(next - now);

		if (waiting_slot || wait > 100)
			wait = waiting_slot ? 10 : 100;
		if (wait < 0)
			wait = 0;
		if (running || active)
			curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
	}
	pool_put(c, multi);
}

/* ---- authentication -------------------------------------------------------------- */

static void set_auth(struct rf_client *c, char *token, char *session_uri, bool basic)
{
	pthread_mutex_lock(&g_lock);
	wipe_free(c->token);
	free(c->session_uri);
	c->token = token;
	c->session_uri = session_uri;
	c->basic = basic;
	c->authed = true;
	c->auth_gen++;
	c->stats.logins++;
	pthread_mutex_unlock(&g_lock);
}

static void run_one(struct rf_client *c, struct rf_http *h)
{
	struct xfer x = { .h = h, .deadline = now_ms() + c->timeout_ms };

	run_batch(c, &x, 1);
	free(x.url);
}

/* The sessions collection URI from the ServiceRoot, or NULL. */
static char *sessions_uri(struct rf_client *c, int *ret_err)
{
	struct rf_http h = { .path = RF_ROOT, .no_auth = true };
	struct json_object *root = NULL, *links, *s, *id;
	char *uri = NULL;

	run_one(c, &h);
	*ret_err = h.err;
	if (h.err == 0) {
		root = json_tokener_parse(h.data ? h.data : "");
		if (!json_object_is_type(root, json_type_object))
			*ret_err = -EBADMSG;
		else if (json_object_object_get_ex(root, "Links", &links) &&
			 json_object_object_get_ex(links, "Sessions", &s) &&
			 json_object_object_get_ex(s, "@odata.id", &id) &&
			 json_object_is_type(id, json_type_string) &&
			 strncmp(json_object_get_string(id), RF_ROOT "/", strlen(RF_ROOT) + 1) == 0)
			uri = strdup(json_object_get_string(id));
	}
	json_object_put(root);
	rf_http_clear(&h);
	return uri;
}

/* Log in unless someone else did since generation seen. */
static int login(struct rf_client *c, uint64_t seen)
{
	_cleanup_free_ char *suri = NULL;
	struct json_object *req;
	struct rf_http h = { 0 };
	char *body;
	int r = 0;

	pthread_mutex_lock(&c->login_lock);
	pthread_mutex_lock(&g_lock);
	bool done = c->authed && c->auth_gen != seen;
	pthread_mutex_unlock(&g_lock);
	if (done)
		goto out;
	if (c->sessions_known) {
		suri = c->sessions_uri ? strdup(c->sessions_uri) : NULL;
		c->sessions_known = false;        /* once: a re-login reads it anew */
		if (c->sessions_uri && !suri) {
			r = -ENOMEM;
			goto out;
		}
	} else {
		suri = sessions_uri(c, &r);
		if (r < 0)
			goto out;
	}
	if (!suri) {
		set_auth(c, NULL, NULL, true);
		goto out;
	}
	if (!(req = json_object_new_object())) {
		r = -ENOMEM;
		goto out;
	}
	json_object_object_add(req, "UserName", json_object_new_string(c->user));
	json_object_object_add(req, "Password", json_object_new_string(c->password));
	body = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	/* json-c keeps the serialisation inside req: wipe it too. */
	{
		const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

		explicit_bzero((char *)s, strlen(s));
	}
	json_object_put(req);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}
	h = (struct rf_http){ .method = "POST", .path = suri, .body = body, .no_auth = true };
	run_one(c, &h);
	wipe_free(body);
	if (h.err == 0 && h.token && *h.token) {
		char *tok = h.token, *loc = h.location;

		h.token = h.location = NULL;
		set_auth(c, tok, loc, false);
	} else if (h.status == 404 || h.status == 405 || h.status == 501 ||
		   (h.err == 0 && !h.token)) {
		set_auth(c, NULL, NULL, true);    /* no sessions here: Basic */
	} else {
		r = h.err < 0 ? h.err : -EPROTO;
	}
	rf_http_clear(&h);
out:
	pthread_mutex_unlock(&c->login_lock);
	return r;
}

int rf_client_set_sessions_uri(struct rf_client *c, const char *uri)
{
	char *u = NULL;

	if (uri && (strncmp(uri, RF_ROOT "/", strlen(RF_ROOT) + 1) != 0 || !(u = strdup(uri))))
		return uri && strncmp(uri, RF_ROOT "/", strlen(RF_ROOT) + 1) != 0 ? -EINVAL : -ENOMEM;
	pthread_mutex_lock(&c->login_lock);
	free(c->sessions_uri);
	c->sessions_uri = u;
	c->sessions_known = true;
	pthread_mutex_unlock(&c->login_lock);
	return 0;
}

int rf_client_login(struct rf_client *c)
{
	uint64_t gen;

	if (!c->user)
		return 0;
	pthread_mutex_lock(&g_lock);
	gen = c->auth_gen;
	bool authed = c->authed;
	pthread_mutex_unlock(&g_lock);
	/* A session that expired meanwhile is renewed on its first 401. */
	return authed ? 0 : login(c, gen);
}

int rf_client_run(struct rf_client *c, struct rf_http *h, size_t n)
{
	struct xfer *xs;
	int64_t deadline = now_ms() + c->timeout_ms;
	int failed = 0, r = 0;
	bool authed;
	uint64_t gen;

	if (!n)
		return 0;
	if (!(xs = calloc(n, sizeof(*xs)))) {
		for (size_t i = 0; i < n; i++)
			h[i].err = -ENOMEM;
		return (int)n;
	}
	pthread_mutex_lock(&g_lock);
	authed = c->authed;
	gen = c->auth_gen;
	pthread_mutex_unlock(&g_lock);
	bool need = false;

	for (size_t i = 0; i < n; i++)
		need |= !h[i].no_auth;
	if (c->user && !authed && need)
		r = login(c, gen);
	for (size_t i = 0; i < n; i++) {
		xs[i] = (struct xfer){ .h = &h[i], .deadline = deadline };
		if (r < 0 && !h[i].no_auth)
			xfer_finish(&xs[i], r);
	}
	run_batch(c, xs, n);

	/* 401: log in again once (shared with concurrent callers), resend. */
	if (c->user) {
		size_t k = 0;
		uint64_t used = 0;

		for (size_t i = 0; i < n; i++)
			if (h[i].status == 401 && !h[i].no_auth) {
				used = xs[i].auth_gen;
				k++;
			}
		if (k && (r = login(c, used)) == 0) {
			for (size_t i = 0; i < n; i++) {
				if (h[i].status != 401 || h[i].no_auth)
					continue;
				int attempts = h[i].attempts;

				rf_http_clear(&h[i]);
				h[i].attempts = attempts;
				xs[i].done = false;
				xs[i].not_before = 0;
				xs[i].deadline = now_ms() + c->timeout_ms;
			}
			run_batch(c, xs, n);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(xs[i].url);
		if (h[i].err < 0)
			failed++;
	}
	free(xs);
	return failed;
}

struct rf_client *rf_client_free(struct rf_client *c)
{
	if (!c)
		return NULL;
	if (c->token && c->session_uri) {
		struct rf_http h = { .method = "DELETE", .path = c->session_uri };

		run_one(c, &h);
		rf_http_clear(&h);
	}
	for (size_t i = 0; i < c->n_pool; i++)
		curl_multi_cleanup(c->pool[i]);
	free(c->pool);
	wipe_free(c->token);
	wipe_free(c->password);
	free(c->session_uri);
	free(c->sessions_uri);
	free(c->user);
	free(c->ca_file);
	free(c->base_url);
	pthread_mutex_destroy(&c->login_lock);
	free(c);
	return NULL;
}
