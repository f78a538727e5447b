/* front.c — what the HTTP server answers besides tree documents: the web
 * page at / (web.c), GET /metrics (metrics.c), the EventService's
 * event stream and subscriptions (events.c), and the LogService (logs.c).
 *
 * Who calls: server.c's router hands every request here first
 * (httpd_front_route) and routes it itself when this says "not mine"; the
 * lifetime calls come from httpd_new/_start/_free. Each handler answers on
 * the MHD thread that called; none waits for a device except a scrape,
 * which reads the tree like any GET.
 *
 * Login: the page's files and the open /metrics need none (the page logs
 * in through SessionService itself); everything under /redfish/v1 is
 * checked with server.c's httpd_authenticate, as server.c would. A password
 * check that needs crypt(3) ran on server.c's worker before the request
 * came here, so no handler here costs an MHD thread a hash. */
#include "internal.h"

#include <errno.h>
#include <string.h>

struct httpd_front {
	struct rf_tree *tree;
	int metrics_mode;
	struct httpd_metrics *metrics;
	struct httpd_events *events;
	struct httpd_logs *logs;
};

int httpd_metrics_mode(const char *s, bool loopback)
{
	if (!s)
		return loopback ? HTTPD_METRICS_OPEN : HTTPD_METRICS_LOGIN;
	if (strcmp(s, "open") == 0)
		return HTTPD_METRICS_OPEN;
	if (strcmp(s, "login") == 0)
		return HTTPD_METRICS_LOGIN;
	if (strcmp(s, "off") == 0)
		return HTTPD_METRICS_OFF;
	return -EINVAL;
}

struct httpd_front *httpd_front_new(struct rf_tree *t, const char *state_dir,
				    int metrics_mode, int *ret_err)
{
	struct httpd_front *f = calloc(1, sizeof(*f));

	if (!f || !(f->metrics = httpd_metrics_new(t))) {
		free(f);
		*ret_err = -ENOMEM;
		return NULL;
	}
	if (!(f->events = httpd_events_new(t, state_dir, ret_err)) ||
	    !(f->logs = httpd_logs_new(state_dir, ret_err)))
		return httpd_front_free(f);
	f->tree = t;
	f->metrics_mode = metrics_mode < 0 ? HTTPD_METRICS_LOGIN : metrics_mode;
	return f;
}

int httpd_front_start(struct httpd_front *f)
{
	return httpd_events_start(f->events);
}

void httpd_front_stop(struct httpd_front *f)
{
	httpd_events_stop(f->events);
}

struct httpd_front *httpd_front_free(struct httpd_front *f)
{
	if (!f)
		return NULL;
	httpd_logs_free(f->logs);
	httpd_events_free(f->events);
	httpd_metrics_free(f->metrics);
	free(f);
	return NULL;
}

bool httpd_front_metrics_login(const struct httpd_front *f)
{
	return f->metrics_mode == HTTPD_METRICS_LOGIN;
}

static enum MHD_Result fault(struct MHD_Connection *c, const char *uri, enum httpd_msg msg)
{
	struct httpd_fault fa = { .msg = msg };

	return httpd_queue_fault(c, uri, &fa, NULL);
}

static enum MHD_Result serve_metrics(struct httpd_front *f, struct httpd *h,
				     struct MHD_Connection *c, const char *uri)
{
	struct httpd_ident who;
	struct MHD_Response *r;
	size_t len = 0;
	char *text;

	if (f->metrics_mode == HTTPD_METRICS_LOGIN) {
		if (httpd_authenticate(h, c, &who) < 0)
			return fault(c, uri, HTTPD_MSG_NO_VALID_SESSION);
		if (!(who.privs & HTTPD_PRIV_LOGIN))
			return fault(c, uri, HTTPD_MSG_INSUFFICIENT_PRIVILEGE);
	}
	if (!(text = httpd_metrics_render(f->metrics, &len)))
		return fault(c, uri, HTTPD_MSG_INTERNAL_ERROR);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return httpd_queue(c, uri, MHD_HTTP_OK, r);
}

bool httpd_front_route(struct httpd_front *f, struct httpd *h, struct MHD_Connection *c,
		       const char *method, const char *uri, const char *body, size_t len,
		       enum MHD_Result *ret)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (strcmp(uri, "/metrics") == 0 && f->metrics_mode != HTTPD_METRICS_OFF) {
		if (!get) {
			struct httpd_fault fa = { .msg = HTTPD_MSG_OPERATION_NOT_ALLOWED };

			*ret = httpd_queue_fault(c, uri, &fa, "GET, HEAD");
		} else {
			*ret = serve_metrics(f, h, c, uri);
		}
		return true;
	}
	if (httpd_web_route(c, method, uri, ret))
		return true;
	if (httpd_logs_route(f->logs, h, c, method, uri, body, len, ret))
		return true;
	return httpd_events_route(f->events, h, c, method, uri, body, len, ret);
}
