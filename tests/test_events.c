/* test_events.c — the EventService of the whole daemon: a simulated HS300
 * (meters fixed, so only what the test changes changes), a real mount and
 * the HTTP server.
 *
 * - the service documents: EventService with ServerSentEventUri,
 *   Subscriptions, Registries with the ResourceEvent registry file whose
 *   Location serves the registry;
 * - SSE: `echo Off > .../Outlets/2/PowerState` in the mount produces a
 *   ResourceChanged event naming the outlet within a second; an HTTP action
 *   does too; a $filter on OriginResource passes only that outlet; a bad
 *   $filter is 400; the strip going silent and coming back gives
 *   ResourceStatusChangedCritical and ResourceStatusChangedOK, and so does
 *   an aggregated BMC (the project's daemon serving the DMTF mockup) that
 *   is killed and started again;
 * - push: a subscription delivers to a listener of the test on loopback
 *   (Context carried), retries while the listener is down and delivers
 *   once it is back, stops after DELETE, and survives a restart of the
 *   daemon (--state-dir).
 * Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define OUTLET "/redfish/v1/PowerEquipment/RackPDUs/PowerStrip/Outlets/"

static struct tu_sim strip;
static struct tu_mount mnt;
static char base_url[128];
static uint16_t http_port;
static char state_dir[] = "/tmp/rfs-events-XXXXXX";

static long http(const char *method, const char *uri, const char *body, struct tu_buf *ret)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[1024];
	long status = -1;

	memset(ret, 0, sizeof(*ret));
	snprintf(url, sizeof(url), "%s%s", base_url, uri);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* body re-serialized without whitespace (the tree serves it pretty). */
static char *compact(char *body)
{
	struct json_object *o = body ? json_tokener_parse(body) : NULL;
	char *s = strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE) : "");

	json_object_put(o);
	free(body);
	return s;
}

/* bmc: "NAME=URL" of a BMC to aggregate too, or NULL. */
static int start_daemon(const char *bmc)
{
	char strip_arg[64];
	const char *args[] = { "--kasa", strip_arg, "--poll", "1", "--timeout", "300",
			       "--max-age", "500", "--http", "127.0.0.1:0", "--http-no-auth",
			       "--state-dir", state_dir, bmc ? "--bmc" : NULL, bmc, NULL };

	snprintf(strip_arg, sizeof(strip_arg), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	if (tu_mount_start(&mnt, args) < 0)
		return -1;
	if (tu_mount_http_base(&mnt, base_url, sizeof(base_url)) < 0)
		return -1;
	http_port = (uint16_t)atoi(strrchr(base_url, ':') + 1);
	return 0;
}

static int events_init(void)
{
	if (!mkdtemp(state_dir) || tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&strip, "meter %d %d 121000 %d %d", i, 5000 * i, 40 * i, 100 * i);
		bool ok = r && strcmp(r, "ok") == 0;

		free(r);
		if (!ok)
			return -1;
	}
	return start_daemon(NULL);
}

static int events_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&strip);
	tu_rm_rf(state_dir);
	return 0;
}

static int switch_outlet(int outlet, const char *state)
{
	return tu_sh("echo %s > '%s'", state,
		     tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/%d/PowerState", outlet));
}

/* ---- an SSE client on a plain socket ------------------------------------------ */

struct stream {
	int fd;
	char buf[256 * 1024];
	size_t len;
};

/* GET the SSE URI (query already URL-encoded); the status line's code. */
static int stream_open(struct stream *s, const char *query)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(http_port) };
	char req[1024];
	int64_t deadline = tu_now_ms() + 3000;

	s->len = 0;
	s->buf[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	snprintf(req, sizeof(req), "GET /redfish/v1/EventService/SSE%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Accept: text/event-stream\r\n\r\n", query ? query : "");
	if (write(s->fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	while (!strstr(s->buf, "\r\n\r\n") && tu_now_ms() < deadline) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		if (n <= 0)
			break;
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
	return strncmp(s->buf, "HTTP/1.1 ", 9) == 0 ? atoi(s->buf + 9) : -1;
}

/* Read until what appears (after from) or ms pass; where it is, or NULL. */
static const char *stream_wait(struct stream *s, size_t from, const char *what, int ms)
{
	int64_t deadline = tu_now_ms() + ms;

	for (;;) {
		const char *at = from <= s->len ? strstr(s->buf + from, what) : NULL;
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int64_t left = deadline - tu_now_ms();
		ssize_t n;

		if (at || left <= 0)
			return at;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		if (n <= 0)
			return NULL;
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
}

static void stream_close(struct stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* ---- the documents ---------------------------------------------------------------- */

static void test_documents(void)
{
	struct tu_buf b;

	CU_ASSERT_EQUAL(http("GET", "/redfish/v1", NULL, &b), 200);
	b.data = compact(b.data);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"EventService\":{\"@odata.id\":\"/redfish/v1/EventService\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"Registries\":{\"@odata.id\":\"/redfish/v1/Registries\"}"));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/EventService", NULL, &b), 200);
	b.data = compact(b.data);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"ServerSentEventUri\":\"/redfish/v1/EventService/SSE\""));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/EventService/Subscriptions", NULL, &b), 200);
	b.data = compact(b.data);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"Members\":[]"));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Registries/ResourceEvent", NULL, &b), 200);
	b.data = compact(b.data);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"Uri\":\"/redfish/v1/Registries/ResourceEvent/ResourceEvent\""));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Registries/ResourceEvent/ResourceEvent", NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"ResourceStatusChangedCritical\":{"));
	free(b.data);
	CU_ASSERT_EQUAL(tu_sh("curl -sI %s/redfish/v1/EventService/Subscriptions | "
			      "grep -qi '^Allow: GET, HEAD, POST'", base_url), 0);
	/* the mount shows them too */
	CU_ASSERT_EQUAL(tu_sh("grep -q ServerSentEventUri '%s'",
			      tu_path(mnt.mnt, "EventService/index.json")), 0);
}

/* ---- SSE ------------------------------------------------------------------------------ */

static void test_sse_mount_write(void)
{
	struct stream s;
	int64_t t0;
	size_t from;
	const char *at;

	CU_ASSERT_EQUAL_FATAL(stream_open(&s, NULL), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf, "Content-Type: text/event-stream"));
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, 0, ": redfishfs events", 2000));
	from = s.len;
	CU_ASSERT_EQUAL(switch_outlet(2, "Off"), 0);
	t0 = tu_now_ms();
	at = stream_wait(&s, from, "\"OriginOfCondition\":{\"@odata.id\":\"" OUTLET "2\"}", 1000);
	CU_ASSERT_PTR_NOT_NULL(at);
	fprintf(stderr, "  mount write -> SSE event: %lld ms\n", (long long)(tu_now_ms() - t0));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf + from, "\"MessageId\":\"ResourceEvent.1.4.2.ResourceChanged\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf + from, "\ndata: {\"@odata.type\":\"#Event.v1_13_0.Event\""));

	/* an HTTP action produces one as well */
	{
		struct tu_buf b;

		from = s.len;
		CU_ASSERT_EQUAL(http("POST", OUTLET "2/Actions/Outlet.PowerControl",
				     "{\"PowerState\":\"On\"}", &b), 200);
		free(b.data);
		CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "\"@odata.id\":\"" OUTLET "2\"}", 1000));
	}
	stream_close(&s);
}

static void test_sse_filter(void)
{
	struct stream s, bad;
	size_t from;

	CU_ASSERT_EQUAL(stream_open(&bad, "?$filter=Nonsense%20eq%201"), 400);
	stream_close(&bad);
	CU_ASSERT_EQUAL_FATAL(stream_open(&s, "?$filter=OriginResource%20eq%20%27"
					      "%2Fredfish%2Fv1%2FPowerEquipment%2FRackPDUs%2FPowerStrip%2FOutlets%2F3%27"
					      "%20and%20MessageId%20eq%20ResourceEvent.1.0.ResourceChanged"), 200);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, 0, ": redfishfs events", 2000));
	from = s.len;
	CU_ASSERT_EQUAL(switch_outlet(4, "Off"), 0);
	CU_ASSERT_EQUAL(switch_outlet(3, "Off"), 0);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "\"@odata.id\":\"" OUTLET "3\"}", 1000));
	/* nothing else passed: not outlet 4, not the strip's Metrics */
	usleep(300000);
	stream_wait(&s, s.len, "never", 1);
	CU_ASSERT_PTR_NULL(strstr(s.buf + from, OUTLET "4\""));
	CU_ASSERT_PTR_NULL(strstr(s.buf + from, "PowerStrip/Metrics"));
	stream_close(&s);
	switch_outlet(3, "On");
	switch_outlet(4, "On");
}

static void test_sse_status(void)
{
	struct stream s;
	size_t from;
	char *r;

	CU_ASSERT_EQUAL_FATAL(stream_open(&s, "?$filter=RegistryPrefix%20eq%20ResourceEvent%20and%20"
					      "not%20(MessageId%20eq%20ResourceEvent.1.4.ResourceChanged)"), 200);
	from = s.len;
	r = tu_sim_cmd(&strip, "mode silent");
	free(r);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "ResourceStatusChangedCritical", 8000));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf + from,
				      "\"OriginOfCondition\":{\"@odata.id\":\"/redfish/v1/PowerEquipment/RackPDUs/PowerStrip\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf + from, "has changed to UnavailableOffline."));
	CU_ASSERT_PTR_NULL(strstr(s.buf + from, "ResourceEvent.1.4.2.ResourceChanged"));
	from = s.len;
	r = tu_sim_cmd(&strip, "mode normal");
	free(r);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "ResourceStatusChangedOK", 8000));
	stream_close(&s);
}

/* ---- push subscriptions: a listener on loopback ------------------------------------- */

struct listener {
	int fd;
	uint16_t port;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	char bodies[64 * 1024];
	size_t len;
	int posts;
};

static struct listener lis = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void *listener_thread(void *arg)
{
	struct listener *l = arg;

	for (;;) {
		char req[16384];
		size_t len = 0;
		const char *end, *cl;
		int c = accept(l->fd, NULL, NULL);

		if (c < 0)
			return NULL;
		for (;;) {
			struct pollfd p = { .fd = c, .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, 2000) <= 0)
				break;
			n = read(c, req + len, sizeof(req) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			req[len] = '\0';
			if ((end = strstr(req, "\r\n\r\n")) && (cl = strcasestr(req, "Content-Length:")) &&
			    len >= (size_t)(end + 4 - req) + strtoul(cl + 15, NULL, 10))
				break;
		}
		if ((end = strstr(req, "\r\n\r\n"))) {
			pthread_mutex_lock(&l->lock);
			if (l->len + strlen(end + 4) + 2 < sizeof(l->bodies)) {
				memcpy(l->bodies + l->len, end + 4, strlen(end + 4));
				l->len += strlen(end + 4);
				l->bodies[l->len++] = '\n';
				l->bodies[l->len] = '\0';
			}
			l->posts++;
			pthread_mutex_unlock(&l->lock);
		}
		{
			static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

			if (write(c, ok, sizeof(ok) - 1) < 0)
				break;
		}
		close(c);
	}
	return NULL;
}

static int listener_up(struct listener *l)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(l->port) };
	socklen_t sl = sizeof(sa);
	int one = 1;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l->fd, 16) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	l->port = ntohs(sa.sin_port);
	l->running = pthread_create(&l->thread, NULL, listener_thread, l) == 0;
	return l->running ? 0 : -1;
}

static void listener_down(struct listener *l)
{
	if (!l->running)
		return;
	shutdown(l->fd, SHUT_RDWR);
	pthread_join(l->thread, NULL);
	close(l->fd);
	l->fd = -1;
	l->running = false;
}

/* Wait until the listener's bodies (after from) contain what. */
static bool listener_wait(struct listener *l, size_t from, const char *what, int ms)
{
	int64_t deadline = tu_now_ms() + ms;
	bool found = false;

	while (!found && tu_now_ms() < deadline) {
		pthread_mutex_lock(&l->lock);
		found = from <= l->len && strstr(l->bodies + from, what);
		pthread_mutex_unlock(&l->lock);
		if (!found)
			usleep(10000);
	}
	return found;
}

static size_t listener_len(struct listener *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->len;
	pthread_mutex_unlock(&l->lock);
	return n;
}

static char sub_uri[128];

static int validate(const char *dir)
{
	return tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s' '%s/redfish-schemas' >&2",
		     getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".", dir,
		     getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared");
}

/* Save text as DIR/NAME/index.json under the state directory. */
static void save_doc(const char *name, const char *text, size_t len)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/validate/%s", state_dir, name);
	tu_sh("mkdir -p '%s'", path);
	strncat(path, "/index.json", sizeof(path) - strlen(path) - 1);
	if ((f = fopen(path, "w"))) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
}

/* The EventDestination, an Event as delivered and the registry against
 * the DMTF schemas (tests/redfish_validate.py). */
static void test_schemas(void)
{
	struct tu_buf b;
	char dir[320];

	pthread_mutex_lock(&lis.lock);
	{
		const char *first = lis.bodies, *nl = strchr(first, '\n');

		save_doc("event", first, nl ? (size_t)(nl - first) : strlen(first));
	}
	pthread_mutex_unlock(&lis.lock);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Registries/ResourceEvent/ResourceEvent", NULL, &b), 200);
	save_doc("registry", b.data ? b.data : "", b.len);
	free(b.data);
	snprintf(dir, sizeof(dir), "%s/validate", state_dir);
	CU_ASSERT_EQUAL(validate(dir), 0);
	CU_ASSERT_EQUAL(validate(tu_path(mnt.mnt, "EventService")), 0);
	CU_ASSERT_EQUAL(validate(tu_path(mnt.mnt, "Registries")), 0);
}

static void test_push(void)
{
	struct tu_buf b;
	char body[512];
	const char *loc;
	size_t from;
	int64_t t0;

	CU_ASSERT_EQUAL_FATAL(listener_up(&lis), 0);
	snprintf(body, sizeof(body), "{\"Destination\":\"http://127.0.0.1:%u/events\",\"Protocol\":\"Redfish\","
		 "\"Context\":\"test-ctx\",\"ResourceTypes\":[\"Outlet\"]}", (unsigned)lis.port);
	CU_ASSERT_EQUAL_FATAL(http("POST", "/redfish/v1/EventService/Subscriptions", body, &b), 201);
	loc = strstr(b.data, "\"@odata.id\":\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(loc);
	snprintf(sub_uri, sizeof(sub_uri), "%.*s", (int)strcspn(loc + 13, "\""), loc + 13);
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", sub_uri, NULL, &b), 200);
	b.data = compact(b.data);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"Context\":\"test-ctx\""));
	free(b.data);
	/* bad bodies */
	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/EventService/Subscriptions",
			     "{\"Destination\":\"ftp://127.0.0.1/x\"}", &b), 400);
	free(b.data);
	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/EventService/Subscriptions",
			     "{\"Destination\":\"http://u:secret@127.0.0.1/x\"}", &b), 400);
	CU_ASSERT_PTR_NULL(b.data && strstr(b.data, "secret"));
	free(b.data);
	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/EventService/Subscriptions", "{\"Context\":\"x\"}", &b), 400);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "PropertyMissing"));
	free(b.data);
	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/EventService/Subscriptions",
			     "{\"Destination\":\"http://127.0.0.1:1/\",\"Bogus\":1}", &b), 400);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "PropertyUnknown"));
	free(b.data);

	from = listener_len(&lis);
	CU_ASSERT_EQUAL(switch_outlet(5, "Off"), 0);
	t0 = tu_now_ms();
	CU_ASSERT_TRUE(listener_wait(&lis, from, "\"@odata.id\":\"" OUTLET "5\"}", 1000));
	fprintf(stderr, "  mount write -> push delivery: %lld ms\n", (long long)(tu_now_ms() - t0));
	CU_ASSERT_TRUE(listener_wait(&lis, from, "\"Context\":\"test-ctx\"", 10));
	/* ResourceTypes Outlet: the strip's Metrics (it changed too) never came */
	usleep(200000);
	CU_ASSERT_FALSE(listener_wait(&lis, from, "PowerStrip/Metrics", 10));

	/* listener down: the change waits, retried, and arrives once it is back */
	listener_down(&lis);
	from = listener_len(&lis);
	CU_ASSERT_EQUAL(switch_outlet(5, "On"), 0);
	usleep(1200000);
	CU_ASSERT_EQUAL_FATAL(listener_up(&lis), 0);
	CU_ASSERT_TRUE(listener_wait(&lis, from, "\"@odata.id\":\"" OUTLET "5\"}", 7000));

	/* it persists: the state file names it */
	CU_ASSERT_EQUAL(tu_sh("grep -q '127.0.0.1:%u/events' '%s/subscriptions.json'", (unsigned)lis.port,
			      state_dir), 0);
}

static void test_push_survives_restart(void)
{
	struct tu_buf b;
	size_t from;

	tu_mount_stop(&mnt);
	CU_ASSERT_EQUAL_FATAL(start_daemon(NULL), 0);
	CU_ASSERT_EQUAL(http("GET", sub_uri, NULL, &b), 200);
	free(b.data);
	from = listener_len(&lis);
	CU_ASSERT_EQUAL(switch_outlet(6, "Off"), 0);
	CU_ASSERT_TRUE(listener_wait(&lis, from, "\"@odata.id\":\"" OUTLET "6\"}", 2000));
}

static void test_push_delete(void)
{
	struct tu_buf b;
	size_t from;

	CU_ASSERT_EQUAL(http("DELETE", sub_uri, NULL, &b), 204);
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", sub_uri, NULL, &b), 404);
	free(b.data);
	CU_ASSERT_EQUAL(http("DELETE", sub_uri, NULL, &b), 404);
	free(b.data);
	from = listener_len(&lis);
	CU_ASSERT_EQUAL(switch_outlet(6, "On"), 0);
	usleep(1500000);
	CU_ASSERT_EQUAL(listener_len(&lis), from);
	CU_ASSERT_NOT_EQUAL(tu_sh("grep -q events '%s/subscriptions.json'", state_dir), 0);
	listener_down(&lis);
}

/* A BMC (the project's daemon serving the DMTF mockup) killed and back:
 * its AggregationSource's status events. */
static void test_sse_bmc(void)
{
	char mock[512], log[340], sd[340], bmc[64], sys[400];
	const char *args[] = { "--mockup", mock, "--http-no-auth", "--state-dir", sd, NULL };
	struct tu_daemon fake;
	struct stream s;
	int64_t t0;
	size_t from;
	uint16_t port;
	char *v;

	snprintf(mock, sizeof(mock), "%s/mockups/public-rackmount1",
		 getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared");
	snprintf(sd, sizeof(sd), "%s/fake-bmc", state_dir);
	snprintf(log, sizeof(log), "%s/fake-bmc.log", state_dir);
	CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&fake, log, 0, args), 0);
	port = fake.port;
	snprintf(bmc, sizeof(bmc), "rack1=http://127.0.0.1:%u", (unsigned)port);
	tu_mount_stop(&mnt);
	CU_ASSERT_EQUAL_FATAL(start_daemon(bmc), 0);
	snprintf(sys, sizeof(sys), "%s", tu_path(mnt.mnt, "Systems/rack1_437XR1138R2/PowerState"));
	CU_ASSERT_EQUAL_FATAL(stream_open(&s, "?$filter=OriginResource%20eq%20"
					      "%27%2Fredfish%2Fv1%2FAggregationService%2FAggregationSources%2Frack1%27"), 200);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, 0, ": redfishfs events", 2000));
	from = s.len;
	tu_daemon_stop(&fake, SIGKILL);
	/* A BMC is found gone when something asks it: read its system. */
	for (t0 = tu_now_ms(); tu_now_ms() - t0 < 10000 &&
			       !stream_wait(&s, from, "ResourceStatusChangedCritical", 200);) {
		v = tu_value(sys);
		free(v);
	}
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "ResourceStatusChangedCritical", 1));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.buf + from, "has changed to UnavailableOffline."));
	from = s.len;
	CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&fake, log, port, args), 0);
	CU_ASSERT_PTR_NOT_NULL(stream_wait(&s, from, "ResourceStatusChangedOK", 10000));
	stream_close(&s);
	tu_daemon_stop(&fake, SIGTERM);
}

int main(void)
{
	CU_pSuite s;
	int r = tu_cunit_begin_mount();

	if (r)
		return r;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = CU_add_suite("events", events_init, events_clean);
	CU_add_test(s, "EventService, Subscriptions, Registries", test_documents);
	CU_add_test(s, "SSE: a mount write names the outlet within 1 s", test_sse_mount_write);
	CU_add_test(s, "SSE: $filter", test_sse_filter);
	CU_add_test(s, "SSE: strip offline and back", test_sse_status);
	CU_add_test(s, "push: delivered, retried while the listener is down", test_push);
	CU_add_test(s, "EventDestination, Event, registry are valid", test_schemas);
	CU_add_test(s, "push: the subscription survives a restart", test_push_survives_restart);
	CU_add_test(s, "push: none after DELETE", test_push_delete);
	CU_add_test(s, "SSE: a BMC offline and back", test_sse_bmc);
	return tu_run_cunit();
}
