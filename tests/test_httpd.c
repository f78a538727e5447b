/* test_httpd.c — the Redfish HTTP server, in process, over real sockets.
 *
 * A tree with a kasa-sim HS300 behind the real kasa provider, plus a fake
 * provider ("/redfish/v1/Chassis/Fake") whose answers the tests control
 * (errors, a slow device). The server listens on 127.0.0.1 port 0; libcurl
 * is the client. Then redfishtool and python3-sushy run against it, over
 * HTTP and over HTTPS with a certificate made by openssl at test time.
 * The fault table (messages.c) is checked row by row: every back-end errno
 * and tree kind to its status and MessageId, in process and over HTTP
 * through the fake provider, and every message httpd sends against the
 * DMTF Base registry in ../shared (text, severity, resolution, arguments). */
#include "httpd.h"
#include "internal.h"     /* httpd's fault table, tested row by row */
#include "kasa.h"
#include "provider.h"
#include "redfish.h"
#include "testutil.h"

#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PDU "/redfish/v1/PowerEquipment/RackPDUs/PowerStrip"
#define OUTLET2 PDU "/Outlets/2"
#define ADMIN_PW "admin-secret-pw"
#define FAKE "/redfish/v1/Chassis/Fake"

static struct rf_tree *tree;
static struct kasa_provider *kp;
static struct tu_sim sim;
static struct httpd *srv;
static char dir[256];
static char base[128];
static struct httpd_config cfg;

/* ---- a provider the tests steer ------------------------------------------- */

/* Read by the server's worker threads: atomics (ThreadSanitizer). */
static atomic_int fake_err;          /* what the next patch/action returns */
static atomic_int fake_delay_ms;     /* how long it takes */
static atomic_int fake_actions;

static const char *const reset_values[] = { "On", "ForceOff", NULL };
static const struct rf_writable fake_writable[] = { { "AssetTag", NULL, 32 }, { NULL, NULL, 0 } };

static struct rf_provider fake_prov;

static int fake_install(const char *tag)
{
	struct json_object *o = json_object_new_object(), *act = json_object_new_object();
	struct json_object *reset = json_object_new_object(), *vals = json_object_new_array();

	json_object_object_add(o, "@odata.id", json_object_new_string(FAKE));
	json_object_object_add(o, "@odata.type", json_object_new_string("#Chassis.v1_25_0.Chassis"));
	json_object_object_add(o, "Id", json_object_new_string("Fake"));
	json_object_object_add(o, "Name", json_object_new_string("Fake chassis"));
	json_object_object_add(o, "ChassisType", json_object_new_string("Other"));
	json_object_object_add(o, "AssetTag", json_object_new_string(tag));
	json_object_object_add(reset, "target", json_object_new_string(FAKE "/Actions/Chassis.Reset"));
	for (const char *const *p = reset_values; *p; p++)
		json_object_array_add(vals, json_object_new_string(*p));
	json_object_object_add(reset, "ResetType@Redfish.AllowableValues", vals);
	json_object_object_add(act, "#Chassis.Reset", reset);
	json_object_object_add(o, "Actions", act);
	return rf_tree_install(tree, &fake_prov, FAKE, o, fake_writable, rf_tree_generation(tree));
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static int fake_patch(struct rf_provider *p, const char *uri, void *cookie, struct json_object *delta)
{
	struct json_object *v;

	sleep_ms(fake_delay_ms);
	if (fake_err)
		return fake_err;
	if (json_object_object_get_ex(delta, "AssetTag", &v))
		fake_install(json_object_get_string(v));
	return 0;
}

static int fake_action(struct rf_provider *p, const char *uri, void *cookie, const char *action,
		       struct json_object *params)
{
	sleep_ms(fake_delay_ms);
	if (fake_err)
		return fake_err;
	fake_actions++;
	return 0;
}

static const struct rf_provider_ops fake_ops = { .patch = fake_patch, .action = fake_action };
static struct rf_provider fake_prov = { .name = "fake", .ops = &fake_ops };

/* ---- a small libcurl client ------------------------------------------------ */

struct resp {
	long status;
	char *body;
	size_t len;
	char hdr[16384];
	size_t hlen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	char *b = realloc(r->body, r->len + sz * n + 1);

	if (!b)
		return 0;
	memcpy(b + r->len, p, sz * n);
	r->body = b;
	r->len += sz * n;
	b[r->len] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;

	if (r->hlen + sz * n < sizeof(r->hdr) - 1) {
		memcpy(r->hdr + r->hlen, p, sz * n);
		r->hlen += sz * n;
		r->hdr[r->hlen] = '\0';
	}
	return sz * n;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The value of header name (static buffer), or NULL. */
static const char *hval(const struct resp *r, const char *name)
{
	static char v[1024];
	size_t nl = strlen(name);

	for (const char *p = r->hdr; p && *p; p = strstr(p, "\n") ? strstr(p, "\n") + 1 : NULL) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *s = p + nl + 1;
			size_t n;

			s += strspn(s, " ");
			n = strcspn(s, "\r\n");
			snprintf(v, sizeof(v), "%.*s", (int)n, s);
			return v;
		}
	}
	return NULL;
}

/* method path [user:pass or NULL] [token] [body] [extra header lines, NULL-ended] */
static long http_to(const char *url_base, struct resp *r, const char *method, const char *path,
		    const char *userpw, const char *token, const char *body, const char *const *extra)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[1024], th[256];
	bool has_ct = false;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", url_base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (userpw) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, userpw);
	}
	if (token) {
		snprintf(th, sizeof(th), "X-Auth-Token: %s", token);
		h = curl_slist_append(h, th);
	}
	for (const char *const *e = extra; e && *e; e++) {
		h = curl_slist_append(h, *e);
		has_ct |= strncasecmp(*e, "Content-Type:", 13) == 0;
	}
	if (body) {
		if (!has_ct)
			h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) != CURLE_OK)
		r->status = -1;
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r->status;
}

static long http(struct resp *r, const char *method, const char *path, const char *userpw,
		 const char *token, const char *body, const char *const *extra)
{
	return http_to(base, r, method, path, userpw, token, body, extra);
}

#define ADMIN "admin:" ADMIN_PW

/* The error body names Base.<ver>.<id> in error.code and ExtendedInfo. */
static bool is_error(const struct resp *r, const char *id)
{
	struct json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *e, *info, *m, *mid;
	bool ok = false;
	char want[128];

	snprintf(want, sizeof(want), ".%s", id);
	if (o && json_object_object_get_ex(o, "error", &e) &&
	    json_object_object_get_ex(e, "code", NULL) && json_object_object_get_ex(e, "message", NULL) &&
	    json_object_object_get_ex(e, "@Message.ExtendedInfo", &info) &&
	    (m = json_object_array_get_idx(info, 0)) &&
	    json_object_object_get_ex(m, "MessageId", &mid)) {
		const char *s = json_object_get_string(mid);

		ok = strncmp(s, "Base.1.", 7) == 0 && strlen(s) > strlen(want) &&
		     strcmp(s + strlen(s) - strlen(want), want) == 0;
	}
	json_object_put(o);
	if (!ok)
		fprintf(stderr, "\nexpected %s, got %ld %s\n", id, r->status, r->body ? r->body : "");
	return ok;
}

/* body is a JSON object whose key has the value val (as compact JSON text),
 * or just has key when val is NULL. */
static bool json_has(const char *body, const char *key, const char *val)
{
	struct json_object *o = body ? json_tokener_parse(body) : NULL, *v;
	bool ok = o && json_object_object_get_ex(o, key, &v) &&
		  (!val || strcmp(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), val) == 0);

	json_object_put(o);
	return ok;
}

static char *tree_file(const char *path)
{
	char buf[65536];
	ssize_t n = rf_tree_read(tree, path, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* ---- setup ------------------------------------------------------------------ */

static int write_pw(const char *path, const char *pw, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "%s\n", pw);
	fclose(f);
	return chmod(path, mode);
}

/* A server on 127.0.0.1 port 0 whose Administrator "admin" has the password
 * in dir/pw_name, its state in dir/state_name. */
static void server_config(struct httpd_config *c, const char *pw_name, const char *state_name)
{
	char path[300];

	httpd_config_set(c, "http", "127.0.0.1:0");
	httpd_config_set(c, "http-user", "admin");
	snprintf(path, sizeof(path), "%s/%s", dir, pw_name);
	httpd_config_set(c, "http-password-file", path);
	snprintf(path, sizeof(path), "%s/%s", dir, state_name);
	httpd_config_set(c, "state-dir", path);
}

static struct httpd *start_server(struct httpd_config *c)
{
	int err = 0;
	struct httpd *h = httpd_new(tree, c, &err);

	if (!h) {
		fprintf(stderr, "httpd_new: %s\n", strerror(-err));
		return NULL;
	}
	if (httpd_start(h) < 0)
		return httpd_free(h);
	return h;
}

static int suite_init(void)
{
	char pwfile[300];
	int64_t deadline;

	curl_global_init(CURL_GLOBAL_ALL);
	snprintf(dir, sizeof(dir), "/tmp/test_httpd.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	tree = rf_tree_new(NULL);
	if (!tree || tu_sim_start(&sim, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	/* Fixed meters: documents read at different times agree (sushy). */
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&sim, "meter %d %d 120000 %d %d", i, 7000 * i, 60 * i, 100 * i);
		bool ok = r && strcmp(r, "ok") == 0;

		free(r);
		if (!ok)
			return -1;
	}
	kp = kasa_provider_new(tree, 1000, 1);
	if (!kp || kasa_provider_add(kp, "PowerStrip", "127.0.0.1", sim.port) < 0 ||
	    kasa_provider_start(kp) < 0)
		return -1;
	if (fake_install("tag0") < 0)
		return -1;
	snprintf(pwfile, sizeof(pwfile), "%s/pw", dir);
	if (write_pw(pwfile, ADMIN_PW, 0600) < 0)
		return -1;
	cfg = (struct httpd_config)HTTPD_CONFIG_INIT;
	server_config(&cfg, "pw", "state");
	srv = start_server(&cfg);
	if (!srv)
		return -1;
	snprintf(base, sizeof(base), "%s", httpd_url(srv));
	/* The strip's outlets are in the tree once the first poll is done. */
	for (deadline = tu_now_ms() + 5000; tu_now_ms() < deadline; sleep_ms(50)) {
		int err;
		struct rf_doc *d = rf_tree_get_doc(tree, OUTLET2, &err);

		if (d) {
			rf_doc_unref(d);
			return 0;
		}
	}
	return -1;
}

static int suite_clean(void)
{
	srv = httpd_free(srv);
	kp = kasa_provider_free(kp);
	tu_sim_stop(&sim);
	tree = rf_tree_free(tree);
	httpd_config_clear(&cfg);
	tu_sh("rm -rf '%s'", dir);
	curl_global_cleanup();
	return 0;
}

/* One request and what must come back: the status, the Base MessageId of
 * the error body, a header's value (or just its presence when resp_val is
 * NULL), a property of the body (key, with the value val as compact JSON,
 * or any value when val is NULL), and text the body must not hold (lacks).
 * fake_err is what the fake provider returns for the request; token, when
 * set, is sent as X-Auth-Token. Afterwards the mount's file (a path) must
 * read file_val. */
struct req_case {
	const char *method, *path, *userpw, *body, *hdr;
	int fake_err;
	long status;
	const char *id;
	const char *resp_hdr, *resp_val;
	const char *token, *key, *val, *lacks;
	const char *file, *file_val;
};

static void run_cases(const struct req_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++, c++) {
		const char *hdrs[] = { c->hdr, NULL };
		struct resp r;
		long st;

		fake_err = c->fake_err;
		st = http(&r, c->method, c->path, c->userpw, c->token, c->body, hdrs);
		fake_err = 0;
		if (st != c->status)
			fprintf(stderr, "\n%s %s: %ld, want %ld\n", c->method, c->path, st, c->status);
		CU_ASSERT_EQUAL(st, c->status);
		if (c->id)
			CU_ASSERT(is_error(&r, c->id));
		if (c->resp_hdr) {
			const char *v = hval(&r, c->resp_hdr);

			CU_ASSERT_PTR_NOT_NULL(v);
			if (v && c->resp_val)
				CU_ASSERT_STRING_EQUAL(v, c->resp_val);
		}
		if (c->key)
			CU_ASSERT(json_has(r.body, c->key, c->val));
		if (c->lacks)
			CU_ASSERT_PTR_NULL(r.body ? strstr(r.body, c->lacks) : NULL);
		if (c->file) {
			char *v = tree_file(c->file);

			if (!v || strcmp(v, c->file_val) != 0)
				fprintf(stderr, "\n%s: [%s], want [%s]\n", c->file, v ? v : "(none)",
					c->file_val);
			CU_ASSERT(v && strcmp(v, c->file_val) == 0);
			free(v);
		}
		resp_free(&r);
	}
}

/* ---- tests ------------------------------------------------------------------- */

static void test_open_uris(void)
{
	struct resp r;

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish", NULL, NULL, NULL, NULL), 200);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"v1\":\"/redfish/v1/\"}");
	CU_ASSERT_STRING_EQUAL(hval(&r, "OData-Version"), "4.0");
	resp_free(&r);

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/", NULL, NULL, NULL, NULL), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"SessionService\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"AccountService\""));
	CU_ASSERT_STRING_EQUAL(hval(&r, "Content-Type"), "application/json; charset=utf-8");
	CU_ASSERT_PTR_NOT_NULL(hval(&r, "ETag"));
	CU_ASSERT_PTR_NOT_NULL(hval(&r, "Cache-Control"));
	CU_ASSERT_STRING_EQUAL(hval(&r, "Allow"), "GET, HEAD");
	CU_ASSERT_PTR_NOT_NULL(strstr(hval(&r, "Link") ? hval(&r, "Link") : "", "rel=describedby"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, NULL), 200);
	resp_free(&r);

	static const char *const accepts[] = { "Accept: application/json", "Accept: */*",
					       "Accept: application/*",
					       "Accept: application/json;charset=utf-8",
					       "Accept: text/html, application/json;q=0.9" };
	for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
		const char *hdrs[] = { accepts[i], NULL };

		CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, hdrs), 200);
		resp_free(&r);
	}

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/$metadata", NULL, NULL, NULL, NULL), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(hval(&r, "Content-Type"), "application/xml"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "<edmx:Edmx"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "Outlet_v1.xml"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "Namespace=\"SessionService\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "ServiceContainer"));
	resp_free(&r);

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/odata", NULL, NULL, NULL, NULL), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"@odata.context\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"url\":\"/redfish/v1/Chassis\""));
	resp_free(&r);
}

#define CHASSIS "/redfish/v1/Chassis"

static void test_auth_required(void)
{
	static const struct req_case cases[] = {
		{ .method = "GET", CHASSIS, NULL, NULL, NULL, 0, 401, "NoValidSession",
		  "WWW-Authenticate", NULL },
		{ .method = "GET", CHASSIS, "admin:wrong-password", NULL, NULL, 0, 401, "NoValidSession",
		  .lacks = "wrong-password" },
		{ .method = "GET", CHASSIS, "nobody:x", NULL, NULL, 0, 401, NULL },
		{ .method = "GET", CHASSIS, NULL, NULL, NULL, 0, 401, NULL, .token = "00112233" },
		{ .method = "GET", CHASSIS, ADMIN, NULL, NULL, 0, 200, NULL },
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Every resource: GET is byte-equal to the mount's index.json; HEAD has no body. */
static void test_every_resource(void)
{
	size_t n = 0, checked = 0;
	char **uris = rf_tree_list_uris(tree, &n);
	struct resp r;

	CU_ASSERT(n > 10);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		char *want;

		snprintf(path, sizeof(path), "%s/index.json", uris[i] + strlen(RF_ROOT));
		if (http(&r, "GET", uris[i], ADMIN, NULL, NULL, NULL) != 200) {
			fprintf(stderr, "\nGET %s: %ld\n", uris[i], r.status);
			CU_FAIL("GET of a tree resource");
			resp_free(&r);
			continue;
		}
		want = tree_file(path);
		CU_ASSERT_PTR_NOT_NULL(want);
		if (want && (strlen(want) != r.len || memcmp(want, r.body, r.len) != 0)) {
			/* A poll may have changed a live value in between: once more. */
			free(want);
			resp_free(&r);
			http(&r, "GET", uris[i], ADMIN, NULL, NULL, NULL);
			want = tree_file(path);
		}
		CU_ASSERT(want && strlen(want) == r.len && memcmp(want, r.body, r.len) == 0);
		free(want);
		CU_ASSERT_PTR_NOT_NULL(hval(&r, "ETag"));
		CU_ASSERT_STRING_EQUAL(hval(&r, "OData-Version"), "4.0");
		resp_free(&r);
		CU_ASSERT_EQUAL(http(&r, "HEAD", uris[i], ADMIN, NULL, NULL, NULL), 200);
		CU_ASSERT_EQUAL(r.len, 0);
		resp_free(&r);
		checked++;
	}
	CU_ASSERT_EQUAL(checked, n);
	rf_strv_free(uris);
}

static void test_etag(void)
{
	struct resp r;
	char etag[64], inm[100];
	const char *hdrs[] = { inm, NULL };

	CU_ASSERT_EQUAL(http(&r, "GET", FAKE, ADMIN, NULL, NULL, NULL), 200);
	snprintf(etag, sizeof(etag), "%s", hval(&r, "ETag"));
	CU_ASSERT_STRING_EQUAL(hval(&r, "Allow"), "GET, HEAD, PATCH");
	resp_free(&r);
	snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
	CU_ASSERT_EQUAL(http(&r, "GET", FAKE, ADMIN, NULL, NULL, hdrs), 304);
	CU_ASSERT_EQUAL(r.len, 0);
	CU_ASSERT_STRING_EQUAL(hval(&r, "ETag"), etag);
	resp_free(&r);
	fake_install("tag-changed");
	CU_ASSERT_EQUAL(http(&r, "GET", FAKE, ADMIN, NULL, NULL, hdrs), 200);
	CU_ASSERT_STRING_NOT_EQUAL(hval(&r, "ETag"), etag);
	resp_free(&r);
}

#define RESET FAKE "/Actions/Chassis.Reset"
#define CONTROL OUTLET2 "/Actions/Outlet.PowerControl"
#define OFF "{\"PowerState\":\"Off\"}"
#define PON "{\"PowerState\":\"On\"}"
#define ON "{\"ResetType\":\"On\"}"

static const struct req_case error_cases[] = {
	{ .method = "GET", "/redfish/v1/Chassis/Nope", ADMIN, NULL, NULL, 0, 404, "ResourceNotFound", NULL, NULL },
	{ .method = "GET", "/nothing", NULL, NULL, NULL, 0, 404, NULL, NULL, NULL },
	{ .method = "PATCH", "/redfish/v1", ADMIN, "{}", NULL, 0, 405, "OperationNotAllowed", "Allow", "GET, HEAD" },
	{ .method = "POST", "/redfish/v1", ADMIN, "{}", NULL, 0, 405, NULL, NULL, NULL },
	{ .method = "DELETE", "/redfish/v1", ADMIN, NULL, NULL, 0, 405, NULL, NULL, NULL },
	{ .method = "DELETE", "/redfish/v1/Chassis", ADMIN, NULL, NULL, 0, 405, NULL, "Allow", NULL },
	{ .method = "PUT", FAKE, ADMIN, "{}", NULL, 0, 405, "OperationNotAllowed", NULL, NULL },
	{ .method = "BREW", FAKE, ADMIN, NULL, NULL, 0, 405, NULL, NULL, NULL },
	{ .method = "GET", RESET, ADMIN, NULL, NULL, 0, 405, NULL, "Allow", "POST" },
	{ .method = "GET", "/redfish/v1", NULL, NULL, "OData-Version: 3.0", 0, 412, "HeaderInvalid", NULL, NULL },
	{ .method = "GET", "/redfish/v1/Chassis?$top=1", ADMIN, NULL, NULL, 0, 501, "QueryParameterUnsupported",
	  NULL, NULL },
	{ .method = "GET", "/redfish/v1/Chassis?$select=Name", ADMIN, NULL, NULL, 0, 501, NULL, NULL, NULL },
	{ .method = "GET", "/redfish/v1", NULL, NULL, "Accept: text/plain", 0, 406, NULL, NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "{\"AssetTag\":\"x\"}", "Content-Type: text/plain", 0, 415,
	  "HeaderInvalid", NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "{\"AssetTag\":", NULL, 0, 400, "MalformedJSON", NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "[1]", NULL, 0, 400, "MalformedJSON", NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "{\"Nope\":1}", NULL, 0, 400, "PropertyUnknown", NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "{\"ChassisType\":\"Rack\"}", NULL, 0, 400, "PropertyNotWritable",
	  NULL, NULL },
	{ .method = "PATCH", FAKE, ADMIN, "{\"AssetTag\":\"y\"}", "If-Match: \"999999\"", 0, 412,
	  "PreconditionFailed", NULL, NULL },
	/* A device that is not answering: 503 with Retry-After. */
	{ .method = "POST", RESET, ADMIN, ON, NULL, -EHOSTUNREACH, 503, "ServiceTemporarilyUnavailable",
	  "Retry-After", NULL },
	{ .method = "POST", RESET, ADMIN, "{\"ResetType\":\"Bogus\"}", NULL, 0, 400,
	  "ActionParameterValueNotInList", NULL, NULL },
	{ .method = "POST", FAKE "/Actions/Chassis.Nope", ADMIN, "{}", NULL, 0, 404, NULL, NULL, NULL },
	/* The alias answers 308 to the canonical URI. */
	{ .method = "GET", "/redfish/v1/Chassis/PowerStrip/Outlets/2", ADMIN, NULL, NULL, 0, 308, NULL,
	  "Location", OUTLET2 },
};

static void test_errors(void)
{
	struct resp r;
	char *big;

	run_cases(error_cases, sizeof(error_cases) / sizeof(error_cases[0]));
	big = malloc(200 * 1024);
	memset(big, ' ', 200 * 1024 - 1);
	big[0] = '{';
	big[200 * 1024 - 2] = '}';
	big[200 * 1024 - 1] = '\0';
	CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL, big, NULL), 413);
	CU_ASSERT(is_error(&r, "PayloadTooLarge"));
	resp_free(&r);
	free(big);
}

/* ---- the fault table, row by row ------------------------------------------ */

/* Every errno row of messages.c, and what must come out. */
static const struct {
	int err;
	unsigned status;
	const char *id;
} errno_rows[] = {
	{ -ENOENT, 404, "ResourceNotFound" },
	{ -EACCES, 405, "OperationNotAllowed" },
	{ -EOPNOTSUPP, 405, "OperationNotAllowed" },
	{ -EPERM, 403, "InsufficientPrivilege" },
	{ -EINVAL, 400, "GeneralError" },
	{ -ESTALE, 412, "PreconditionFailed" },
	{ -EBUSY, 409, "ResourceInUse" },
	{ -EHOSTUNREACH, 503, "ServiceTemporarilyUnavailable" },
	{ -EHOSTDOWN, 503, "ServiceTemporarilyUnavailable" },
	{ -ENETUNREACH, 503, "ServiceTemporarilyUnavailable" },
	{ -ECONNREFUSED, 503, "ServiceTemporarilyUnavailable" },
	{ -EAGAIN, 503, "ServiceTemporarilyUnavailable" },
	{ -ECANCELED, 503, "ServiceTemporarilyUnavailable" },
	{ -ETIMEDOUT, 504, "OperationTimeout" },
	{ -EIO, 502, "OperationFailed" },
	{ -EBADMSG, 502, "OperationFailed" },
	{ -EPROTO, 502, "OperationFailed" },          /* a BMC's TLS failure: not 412 */
	{ -EPROTONOSUPPORT, 502, "OperationFailed" }, /* not 406 */
	{ -ECONNRESET, 502, "OperationFailed" },
	{ -EPIPE, 502, "OperationFailed" },
	{ -EFBIG, 502, "OperationFailed" },
	{ -ENAMETOOLONG, 502, "OperationFailed" },
	{ -ENOSPC, 502, "OperationFailed" },
	{ -ENOMEM, 500, "InternalError" },            /* not in the table: this service's fault */
	{ -EDOM, 500, "InternalError" },
};

static const struct {
	enum rf_err_kind kind;
	unsigned status;
	const char *id;
} kind_rows[] = {
	{ RF_ERR_NOT_FOUND, 404, "ResourceNotFound" },
	{ RF_ERR_PROP_UNKNOWN, 400, "PropertyUnknown" },
	{ RF_ERR_PROP_NOT_WRITABLE, 400, "PropertyNotWritable" },
	{ RF_ERR_PROP_VALUE, 400, "PropertyValueNotInList" },
	{ RF_ERR_PROP_TYPE, 400, "PropertyValueTypeError" },
	{ RF_ERR_PARAM_MISSING, 400, "ActionParameterMissing" },
	{ RF_ERR_PARAM_VALUE, 400, "ActionParameterValueNotInList" },
	{ RF_ERR_PARAM_TYPE, 400, "ActionParameterValueTypeError" },
	{ RF_ERR_PARAM_UNKNOWN, 400, "ActionParameterUnknown" },
	{ RF_ERR_MALFORMED, 400, "MalformedJSON" },
	{ RF_ERR_STALE, 412, "PreconditionFailed" },
};

/* The MessageId of a rendered fault body ("Base.1.22.1.X" -> "X"). */
static bool rendered_is(const struct httpd_fault *f, unsigned status, const char *id)
{
	struct httpd_status st = { 0 };
	struct json_object *o, *e, *code;
	const char *c, *dot;
	bool ok;

	if (httpd_fault_render(f, &st) < 0)
		return false;
	o = json_tokener_parse(st.body);
	ok = o && json_object_object_get_ex(o, "error", &e) &&
	     json_object_object_get_ex(e, "code", &code);
	c = ok ? json_object_get_string(code) : "";
	dot = strrchr(c, '.');
	ok = ok && st.status == status && dot && strcmp(dot + 1, id) == 0 &&
	     strcmp(st.id, id) == 0 && st.retry_after == (status == 503 &&
							 strstr(id, "Unavailable") != NULL);
	if (!ok)
		fprintf(stderr, "\nfault err=%d kind=%d msg=%d: %u %s, want %u %s\n", f->err,
			(int)f->e.kind, (int)f->msg, st.status, c, status, id);
	json_object_put(o);
	free(st.body);
	return ok;
}

static void test_fault_rows(void)
{
	for (size_t i = 0; i < sizeof(errno_rows) / sizeof(errno_rows[0]); i++) {
		struct httpd_fault f = { .err = errno_rows[i].err };

		CU_ASSERT(rendered_is(&f, errno_rows[i].status, errno_rows[i].id));
	}
	for (size_t i = 0; i < sizeof(kind_rows) / sizeof(kind_rows[0]); i++) {
		struct httpd_fault f = { .err = -EINVAL, .e.kind = kind_rows[i].kind };

		CU_ASSERT(rendered_is(&f, kind_rows[i].status, kind_rows[i].id));
	}
	/* httpd's own conditions: the message decides, whatever the errno says. */
	{
		struct httpd_fault f = { .msg = HTTPD_MSG_HEADER_INVALID, .status = 412,
					 .err = -EPROTO, .what = "OData-Version" };
		struct httpd_fault g = { .msg = HTTPD_MSG_PROPERTY_MISSING, .err = -EINVAL };
		struct httpd_fault h = { .err = -EACCES };

		CU_ASSERT(rendered_is(&f, 412, "HeaderInvalid"));
		CU_ASSERT(rendered_is(&g, 400, "PropertyMissing"));
		snprintf(h.e.property, sizeof(h.e.property), "PowerState");
		CU_ASSERT(rendered_is(&h, 400, "PropertyNotWritable"));
	}
}

/* The same back-end errnos through the fake provider, over HTTP. */
static void test_fault_rows_http(void)
{
	for (size_t i = 0; i < sizeof(errno_rows) / sizeof(errno_rows[0]); i++) {
		const struct req_case c = { .method = "POST", RESET, ADMIN, ON, NULL, errno_rows[i].err,
					    errno_rows[i].status, errno_rows[i].id,
					    errno_rows[i].status == 503 ? "Retry-After" : NULL, NULL };

		if (errno_rows[i].err == -ENOENT)
			continue;   /* an action the provider does not know: 404 naming it */
		run_cases(&c, 1);
	}
}

/* Every message httpd sends, against the DMTF Base registry: the text (with
 * %N left in place), severity, resolution and the number of arguments. */
static void test_messages_registry(void)
{
	const char *shared = getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared";
	char path[512];
	struct json_object *reg, *msgs = NULL;
	static const char *const pct[] = { "%1", "%2", "%3" };

	snprintf(path, sizeof(path), "%s/redfish-schemas/registries/Base.1.22.1.json", shared);
	reg = json_object_from_file(path);
	CU_ASSERT_FATAL(reg && json_object_object_get_ex(reg, "Messages", &msgs));
	for (int m = HTTPD_MSG_NONE + 1; m < HTTPD_MSG_COUNT; m++) {
		const char *id = httpd_msg_id((enum httpd_msg)m);
		struct json_object *o = httpd_message_object((enum httpd_msg)m, pct, 3);
		struct json_object *want, *v, *args;
		bool ok;

		CU_ASSERT_PTR_NOT_NULL_FATAL(id);
		ok = o && json_object_object_get_ex(msgs, id, &want) &&
		     json_object_object_get_ex(o, "MessageArgs", &args) &&
		     json_object_object_get_ex(want, "NumberOfArgs", &v) &&
		     json_object_get_int(v) == (int)json_object_array_length(args);
		for (size_t k = 0; ok && k < 3; k++) {
			static const char *const keys[] = { "Message", "MessageSeverity", "Resolution" };
			struct json_object *mine;

			ok = json_object_object_get_ex(want, keys[k], &v) &&
			     json_object_object_get_ex(o, keys[k], &mine) &&
			     strcmp(json_object_get_string(v), json_object_get_string(mine)) == 0;
		}
		if (!ok)
			fprintf(stderr, "\n%s differs from the Base registry\n", id);
		CU_ASSERT(ok);
		json_object_put(o);
	}
	CU_ASSERT_PTR_NULL(httpd_msg_id(HTTPD_MSG_NONE));
	CU_ASSERT_PTR_NULL(httpd_msg_id(HTTPD_MSG_COUNT));
	json_object_put(reg);
}

/* One level of $expand (kind '*', '.' or '~'): exp is plain with every
 * link in scope replaced by the document a GET of it returns, and nothing
 * else changed. */
static bool expanded_ok(struct json_object *plain, struct json_object *exp, char kind,
			bool in_links)
{
	struct json_object *id;

	if (json_object_get_type(plain) != json_object_get_type(exp))
		return false;
	if (json_object_is_type(plain, json_type_array)) {
		if (json_object_array_length(plain) != json_object_array_length(exp))
			return false;
		for (size_t i = 0; i < json_object_array_length(plain); i++)
			if (!expanded_ok(json_object_array_get_idx(plain, i),
					 json_object_array_get_idx(exp, i), kind, in_links))
				return false;
		return true;
	}
	if (!json_object_is_type(plain, json_type_object))
		return json_object_equal(plain, exp);
	if (json_object_object_length(plain) == 1 &&
	    json_object_object_get_ex(plain, "@odata.id", &id) &&
	    (kind == '*' || (kind == '.') != in_links)) {
		struct resp r;
		struct json_object *want;
		bool ok;

		if (http(&r, "GET", json_object_get_string(id), ADMIN, NULL, NULL, NULL) != 200) {
			resp_free(&r);
			return false;
		}
		want = json_tokener_parse(r.body);
		ok = want && json_object_equal(want, exp);
		if (!ok)
			fprintf(stderr, "\n$expand: %s differs\n", json_object_get_string(id));
		json_object_put(want);
		resp_free(&r);
		return ok;
	}
	if (json_object_object_length(plain) != json_object_object_length(exp))
		return false;
	json_object_object_foreach(plain, k, v) {
		struct json_object *e;

		if (!json_object_object_get_ex(exp, k, &e) ||
		    !expanded_ok(v, e, kind, in_links || strcmp(k, "Links") == 0))
			return false;
	}
	return true;
}

static bool expand_matches(const char *uri, const char *query, char kind)
{
	struct resp r, x;
	char url[256];
	struct json_object *plain = NULL, *exp = NULL;
	bool ok;

	snprintf(url, sizeof(url), "%s?%s", uri, query);
	CU_ASSERT_EQUAL(http(&r, "GET", uri, ADMIN, NULL, NULL, NULL), 200);
	CU_ASSERT_EQUAL(http(&x, "GET", url, ADMIN, NULL, NULL, NULL), 200);
	CU_ASSERT_PTR_NULL(hval(&x, "ETag"));
	if (r.body)
		plain = json_tokener_parse(r.body);
	if (x.body)
		exp = json_tokener_parse(x.body);
	ok = plain && exp && expanded_ok(plain, exp, kind, false) && !json_object_equal(plain, exp);
	json_object_put(plain);
	json_object_put(exp);
	resp_free(&r);
	resp_free(&x);
	return ok;
}

/* $expand: advertised in the ServiceRoot, each kind replaces exactly the
 * links it names by the documents a GET returns, levels go deeper, bad
 * values are refused with the Base messages. */
static void test_expand(void)
{
	struct resp r;
	struct json_object *o = NULL, *pf, *eq, *v, *members, *m, *links;

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, NULL), 200);
	CU_ASSERT_TRUE_FATAL(r.body && (o = json_tokener_parse(r.body)) &&
			     json_object_object_get_ex(o, "ProtocolFeaturesSupported", &pf) &&
			     json_object_object_get_ex(pf, "ExpandQuery", &eq));
	CU_ASSERT_TRUE(json_object_object_get_ex(eq, "ExpandAll", &v) && json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(eq, "Levels", &v) && json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(eq, "Links", &v) && json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(eq, "NoLinks", &v) && json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(eq, "MaxLevels", &v) && json_object_get_int(v) == 6);
	CU_ASSERT_TRUE(json_object_object_get_ex(pf, "SelectQuery", &v) && !json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(pf, "FilterQuery", &v) && !json_object_get_boolean(v));
	json_object_put(o);
	resp_free(&r);

	CU_ASSERT_TRUE(expand_matches("/redfish/v1", "$expand=.", '.'));
	CU_ASSERT_TRUE(expand_matches("/redfish/v1", "$expand=~", '~'));
	CU_ASSERT_TRUE(expand_matches("/redfish/v1", "$expand=*", '*'));
	CU_ASSERT_TRUE(expand_matches("/redfish/v1/Chassis", "$expand=.($levels=1)", '.'));

	/* Two levels: the collections' members too, their Links left alone. */
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1?$expand=.($levels=2)", ADMIN, NULL, NULL, NULL), 200);
	o = r.body ? json_tokener_parse(r.body) : NULL;
	CU_ASSERT_TRUE(o && json_object_object_get_ex(o, "PowerEquipment", &v) &&
		       json_object_object_get_ex(v, "RackPDUs", &v) &&
		       json_object_object_get_ex(v, "@odata.type", NULL));
	CU_ASSERT_TRUE(o && json_object_object_get_ex(o, "Chassis", &v) &&
		       json_object_object_get_ex(v, "Members", &members) &&
		       json_object_array_length(members) >= 2);
	for (size_t i = 0; o && members && i < json_object_array_length(members); i++) {
		m = json_object_array_get_idx(members, i);
		CU_ASSERT_TRUE(json_object_object_get_ex(m, "@odata.type", NULL));
		if (!json_object_object_get_ex(m, "Links", &links))
			continue;
		json_object_object_foreach(links, k, lv) {
			if (json_object_is_type(lv, json_type_array) && json_object_array_length(lv))
				lv = json_object_array_get_idx(lv, 0);
			if (json_object_is_type(lv, json_type_object))
				CU_ASSERT_EQUAL(json_object_object_length(lv), 1);
			(void)k;
		}
	}
	json_object_put(o);
	resp_free(&r);

	/* Bad values; reading with $expand needs a login like any GET. */
	static const struct req_case bad[] = {
		{ .method = "GET", CHASSIS "?$expand=x", ADMIN, NULL, NULL, 0, 400,
		  "QueryParameterValueFormatError" },
		{ .method = "GET", CHASSIS "?$expand=.($levels=)", ADMIN, NULL, NULL, 0, 400,
		  "QueryParameterValueFormatError" },
		{ .method = "GET", CHASSIS "?$expand=.($levels=7)", ADMIN, NULL, NULL, 0, 400,
		  "QueryParameterOutOfRange" },
		{ .method = "GET", CHASSIS "?$expand=.&$expand=*", ADMIN, NULL, NULL, 0, 400, NULL },
		{ .method = "GET", CHASSIS "?$expand=.", NULL, NULL, NULL, 0, 401, NULL },
	};

	run_cases(bad, sizeof(bad) / sizeof(bad[0]));
}

#define OUTLET2_FILE "PowerEquipment/RackPDUs/PowerStrip/Outlets/2"

static void test_outlet_changes(void)
{
	int actions = fake_actions;
	char *s;

	/* Off reaches the device; then the mount shows each change. */
	static const struct req_case off = { .method = "POST", CONTROL, ADMIN, OFF, NULL, 0, 200 };

	run_cases(&off, 1);
	s = tu_sim_cmd(&sim, "state %d", 2);
	CU_ASSERT(s && strstr(s, "off"));
	free(s);
	static const struct req_case cases[] = {
		{ .method = "GET", OUTLET2, ADMIN, NULL, NULL, 0, 200, NULL,
		  .file = OUTLET2_FILE "/PowerState", .file_val = "Off\n" },
		{ .method = "POST", CONTROL, ADMIN, PON, NULL, 0, 200, NULL,
		  .file = OUTLET2_FILE "/PowerState", .file_val = "On\n" },
		{ .method = "POST", CONTROL, ADMIN, "{\"PowerState\":\"Sideways\"}", NULL, 0, 400,
		  "ActionParameterValueNotInList" },
		{ .method = "PATCH", OUTLET2, ADMIN, OFF, NULL, 0, 400, "PropertyNotWritable" },
		{ .method = "PATCH", OUTLET2, ADMIN, "{\"UserLabel\":\"Fan\"}", NULL, 0, 200, NULL,
		  .key = "UserLabel", .val = "\"Fan\"",
		  .file = OUTLET2_FILE "/UserLabel", .file_val = "Fan\n" },
		/* PATCH through the fake provider, and a good action. */
		{ .method = "PATCH", FAKE, ADMIN, "{\"AssetTag\":\"t1\"}", NULL, 0, 200, NULL,
		  .file = "Chassis/Fake/AssetTag", .file_val = "t1\n" },
		{ .method = "POST", RESET, ADMIN, "{\"ResetType\":\"ForceOff\"}", NULL, 0, 200, NULL },
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
	CU_ASSERT_EQUAL(fake_actions, actions + 1);
}

struct slow_arg {
	long status;
};

static void *slow_post(void *arg)
{
	struct slow_arg *a = arg;
	struct resp r;

	a->status = http(&r, "POST", FAKE "/Actions/Chassis.Reset", ADMIN, NULL,
			 "{\"ResetType\":\"On\"}", NULL);
	resp_free(&r);
	return NULL;
}

/* A slow device delays only the requests that need it. */
static void test_slow_device(void)
{
	struct slow_arg a[4] = { { 0 } };
	pthread_t th[4];
	struct resp r;
	int64_t t0;

	fake_delay_ms = 1500;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, slow_post, &a[i]);
	sleep_ms(200);
	t0 = tu_now_ms();
	for (int i = 0; i < 20; i++) {
		CU_ASSERT_EQUAL(http(&r, "GET", OUTLET2, ADMIN, NULL, NULL, NULL), 200);
		resp_free(&r);
	}
	CU_ASSERT(tu_now_ms() - t0 < 1000);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(a[i].status, 200);
	fake_delay_ms = 0;
}

static bool login(const char *user, const char *pw, char *token, char *loc)
{
	struct resp r;
	char body[256];
	bool ok;

	snprintf(body, sizeof(body), "{\"UserName\":\"%s\",\"Password\":\"%s\"}", user, pw);
	ok = http(&r, "POST", "/redfish/v1/SessionService/Sessions", NULL, NULL, body, NULL) == 201 &&
	     hval(&r, "X-Auth-Token") && hval(&r, "Location");
	if (ok) {
		snprintf(token, 80, "%s", hval(&r, "X-Auth-Token"));
		snprintf(loc, 200, "%s", hval(&r, "Location"));
		ok = json_has(r.body, "UserName", NULL) && json_has(r.body, "@odata.id", NULL) &&
		     !strstr(r.body, token) && !strstr(r.body, pw);
	}
	if (!ok)
		fprintf(stderr, "\nlogin %s: %ld %s\n%s\n", user, r.status, r.hdr, r.body ? r.body : "");
	resp_free(&r);
	return ok;
}

#define SESSIONS "/redfish/v1/SessionService/Sessions"

static void test_sessions(void)
{
	struct resp r;
	char token[80], loc[200];

	CU_ASSERT_FATAL(login("admin", ADMIN_PW, token, loc));
	CU_ASSERT_EQUAL(strlen(token), 64);
	/* The session answers without showing the token; the mount shows it too. */
	CU_ASSERT_EQUAL(http(&r, "GET", SESSIONS, NULL, token, NULL, NULL), 200);
	CU_ASSERT_PTR_NOT_NULL(r.body ? strstr(r.body, loc) : NULL);
	resp_free(&r);
	/* Logout; then a wrong password, a missing property, the Members alias,
	 * SessionTimeout bounds. */
	const struct req_case cases[] = {
		{ .method = "GET", OUTLET2, NULL, NULL, NULL, 0, 200, NULL, .token = token },
		{ .method = "GET", loc, NULL, NULL, NULL, 0, 200, NULL, .token = token, .lacks = token },
		{ .method = "DELETE", loc, NULL, NULL, NULL, 0, 204, NULL, .token = token },
		{ .method = "GET", OUTLET2, NULL, NULL, NULL, 0, 401, NULL, .token = token },
		{ .method = "GET", loc, ADMIN, NULL, NULL, 0, 404, NULL },
		{ .method = "POST", SESSIONS, NULL, "{\"UserName\":\"admin\",\"Password\":\"nope-nope\"}",
		  NULL, 0, 401, NULL, .lacks = "nope-nope" },
		{ .method = "POST", SESSIONS, NULL, "{\"UserName\":\"admin\"}", NULL, 0, 400,
		  "PropertyMissing" },
		{ .method = "POST", SESSIONS "/Members", NULL,
		  "{\"UserName\":\"admin\",\"Password\":\"" ADMIN_PW "\"}", NULL, 0, 201, NULL,
		  "Location" },
		{ .method = "PATCH", "/redfish/v1/SessionService", ADMIN, "{\"SessionTimeout\":5}", NULL, 0,
		  400, NULL },
		{ .method = "PATCH", "/redfish/v1/SessionService", ADMIN, "{\"SessionTimeout\":600}", NULL,
		  0, 200, NULL, .key = "SessionTimeout", .val = "600" },
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_session_expiry(void)
{
	struct rf_tree *own = rf_tree_new(NULL);
	struct rf_tree *saved = tree;
	struct httpd_config c = HTTPD_CONFIG_INIT;
	char url[128], body[128], token[80];
	struct httpd *h;
	struct resp r;

	server_config(&c, "pw", "state-expiry");
	c.session_timeout_s = 1;
	tree = own;            /* a second server gets a tree of its own */
	h = start_server(&c);
	tree = saved;
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	snprintf(url, sizeof(url), "%s", httpd_url(h));
	snprintf(body, sizeof(body), "{\"UserName\":\"admin\",\"Password\":\"%s\"}", ADMIN_PW);
	CU_ASSERT_EQUAL(http_to(url, &r, "POST", "/redfish/v1/SessionService/Sessions", NULL, NULL,
				body, NULL), 201);
	snprintf(token, sizeof(token), "%s", hval(&r, "X-Auth-Token") ? hval(&r, "X-Auth-Token") : "");
	resp_free(&r);
	CU_ASSERT_EQUAL(http_to(url, &r, "GET", "/redfish/v1/Chassis", NULL, token, NULL, NULL), 200);
	resp_free(&r);
	sleep_ms(2300);
	CU_ASSERT_EQUAL(http_to(url, &r, "GET", "/redfish/v1/Chassis", NULL, token, NULL, NULL), 401);
	resp_free(&r);
	httpd_free(h);
	rf_tree_free(own);
	httpd_config_clear(&c);
}

#define ACCOUNTS "/redfish/v1/AccountService/Accounts"
#define RO "ro:readonly-pw"
#define NEW_OP "{\"UserName\":\"op\",\"Password\":\"operator-pw\",\"RoleId\":\"Operator\"}"

static void test_accounts_roles(void)
{
	struct resp r;
	char token[80], loc[200], ifm[100], path[300];
	struct stat st;
	char *state;

	/* Accounts made, and the ways a create fails (no password echoed). */
	static const struct req_case create[] = {
		{ .method = "POST", ACCOUNTS, ADMIN,
		  "{\"UserName\":\"ro\",\"Password\":\"readonly-pw\",\"RoleId\":\"ReadOnly\"}",
		  NULL, 0, 201, NULL, "Location", NULL, NULL, "Password", "null", NULL },
		{ .method = "POST", ACCOUNTS, ADMIN, NEW_OP, NULL, 0, 409, "ResourceAlreadyExists", NULL, NULL },
		{ .method = "POST", ACCOUNTS, ADMIN,
		  "{\"UserName\":\"x\",\"Password\":\"short\",\"RoleId\":\"Operator\"}", NULL, 0,
		  400, "PasswordIncorrectLength", NULL, NULL, NULL, NULL, NULL, "short" },
		{ .method = "POST", ACCOUNTS, ADMIN,
		  "{\"UserName\":\"x\",\"Password\":\"long-enough\",\"RoleId\":\"God\"}", NULL, 0,
		  400, "PropertyValueNotInList", NULL, NULL },
		/* ReadOnly may read, not switch. */
		{ .method = "GET", OUTLET2, RO, NULL, NULL, 0, 200, NULL, NULL, NULL },
		{ .method = "POST", CONTROL, RO, OFF, NULL, 0, 403, "InsufficientPrivilege", NULL, NULL },
		{ .method = "PATCH", OUTLET2, RO, "{\"UserLabel\":\"x\"}", NULL, 0, 403, NULL, NULL, NULL },
	};

	CU_ASSERT_EQUAL(http(&r, "POST", ACCOUNTS, ADMIN, NULL, NEW_OP, NULL), 201);
	snprintf(loc, sizeof(loc), "%s", hval(&r, "Location") ? hval(&r, "Location") : "");
	resp_free(&r);
	run_cases(create, sizeof(create) / sizeof(create[0]));
	CU_ASSERT_FATAL(login("op", "operator-pw", token, path));

	/* An Operator may switch, not manage accounts; ConfigureSelf: its own
	 * password, not its role. Predefined roles are read-only. */
	const struct req_case op[] = {
		{ .method = "POST", CONTROL, NULL, OFF, NULL, 0, 200, NULL, NULL, NULL, token },
		{ .method = "POST", CONTROL, NULL, PON, NULL, 0, 200, NULL, NULL, NULL, token },
		{ .method = "POST", ACCOUNTS, NULL,
		  "{\"UserName\":\"y\",\"Password\":\"long-enough\",\"RoleId\":\"Operator\"}", NULL, 0,
		  403, NULL, NULL, NULL, token },
		{ .method = "PATCH", loc, NULL, "{\"RoleId\":\"Administrator\"}", NULL, 0, 403, NULL, NULL, NULL,
		  token },
		{ .method = "PATCH", loc, NULL, "{\"Password\":\"operator-pw2\"}", NULL, 0, 200, NULL, NULL, NULL,
		  token },
		{ .method = "GET", OUTLET2, "op:operator-pw2", NULL, NULL, 0, 200, NULL, NULL, NULL },
		{ .method = "GET", OUTLET2, "op:operator-pw", NULL, NULL, 0, 401, NULL, NULL, NULL },
		{ .method = "PATCH", "/redfish/v1/AccountService/Roles/ReadOnly", ADMIN,
		  "{\"AssignedPrivileges\":[]}", NULL, 0, 405, NULL, NULL, NULL },
		{ .method = "GET", loc, ADMIN, NULL, NULL, 0, 200, NULL, "Allow", "GET, HEAD, PATCH, DELETE" },
	};

	run_cases(op, sizeof(op) / sizeof(op[0]));
	/* Admin PATCH with ETags; the last Administrator stays. */
	CU_ASSERT_EQUAL(http(&r, "GET", loc, ADMIN, NULL, NULL, NULL), 200);
	snprintf(ifm, sizeof(ifm), "If-Match: %s", hval(&r, "ETag") ? hval(&r, "ETag") : "");
	resp_free(&r);
	const struct req_case admin[] = {
		{ .method = "PATCH", loc, ADMIN, "{\"Enabled\":true}", "If-Match: \"1\"", 0, 412, NULL, NULL, NULL },
		{ .method = "PATCH", loc, ADMIN, "{\"RoleId\":\"ReadOnly\"}", ifm, 0, 200, NULL, NULL, NULL, NULL,
		  "RoleId", "\"ReadOnly\"" },
		{ .method = "POST", CONTROL, NULL, PON, NULL, 0, 403, NULL, NULL, NULL, token },
		{ .method = "PATCH", loc, ADMIN, "{\"Locked\":true}", NULL, 0, 400, "PropertyNotWritable", NULL,
		  NULL },
		{ .method = "DELETE", ACCOUNTS "/1", ADMIN, NULL, NULL, 0, 409, NULL, NULL, NULL },
	};

	run_cases(admin, sizeof(admin) / sizeof(admin[0]));

	/* The state file: 0600, hashes only. */
	snprintf(path, sizeof(path), "%s/state/accounts.json", dir);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	state = tu_read_file(path, NULL);
	CU_ASSERT_PTR_NOT_NULL(state);
	CU_ASSERT(state && !strstr(state, "readonly-pw") && !strstr(state, ADMIN_PW) &&
		  strstr(state, "\"ro\""));
	free(state);

	/* Accounts survive a restart; then delete: gone, and no login. */
	srv = httpd_free(srv);
	srv = start_server(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	snprintf(base, sizeof(base), "%s", httpd_url(srv));
	const struct req_case after[] = {
		{ .method = "GET", OUTLET2, RO, NULL, NULL, 0, 200, NULL, NULL, NULL },
		{ .method = "GET", OUTLET2, "op:operator-pw2", NULL, NULL, 0, 200, NULL, NULL, NULL },
		{ .method = "POST", CONTROL, "op:operator-pw2", PON, NULL, 0, 403, NULL, NULL, NULL },
		{ .method = "DELETE", loc, ADMIN, NULL, NULL, 0, 204, NULL, NULL, NULL },
		{ .method = "GET", loc, ADMIN, NULL, NULL, 0, 404, NULL, NULL, NULL },
		{ .method = "GET", OUTLET2, "op:operator-pw2", NULL, NULL, 0, 401, NULL, NULL, NULL },
	};

	run_cases(after, sizeof(after) / sizeof(after[0]));
}

static void test_config(void)
{
	struct httpd_config c = HTTPD_CONFIG_INIT;
	char msg[256], pw[300];

	snprintf(pw, sizeof(pw), "%s/pw-open", dir);
	CU_ASSERT_EQUAL(write_pw(pw, "secret-pw", 0644), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "kasa", "x"), -ENOENT);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-no-auth", "maybe"), -EINVAL);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http", "8000"), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-no-auth", "yes"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http", "192.0.2.1:8000"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), -EINVAL);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-force-plain", "true"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), -EINVAL);  /* no-auth off loopback */
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-no-auth", "false"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http", "[::1]:80"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http", "127.0.0.1:99999"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), -EINVAL);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http", "127.0.0.1:8000"), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-user", "admin"), 0);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), -EINVAL);  /* no password file */
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-password-file", pw), 0);
	CU_ASSERT(httpd_config_check(&c, msg, sizeof(msg)) < 0);             /* readable by others */
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "group or others"));
	chmod(pw, 0600);
	CU_ASSERT_EQUAL(httpd_config_check(&c, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(httpd_config_set(&c, "http-cert", "/nonexistent.pem"), 0);
	CU_ASSERT(httpd_config_check(&c, msg, sizeof(msg)) < 0);             /* key missing */
	httpd_config_clear(&c);
	CU_ASSERT_PTR_NULL(c.listen);
}

/* ---- real clients ---------------------------------------------------------------- */

static int run_clients(const char *url, const char *hostport, const char *ca)
{
	const char *src = getenv("SOURCE_DIR");
	int r;

	r = tu_sh("redfishtool -r %s -u admin -p %s -S %s -A Session Chassis list > %s/rt.out 2>&1 && "
		  "grep -q PowerStrip %s/rt.out && "
		  "redfishtool -r %s -u admin -p %s -S %s -A Session raw GET %s > %s/rt2.out 2>&1 && "
		  "grep -q '\"PowerState\"' %s/rt2.out || { cat %s/rt.out %s/rt2.out; exit 1; }",
		  hostport, ADMIN_PW, ca ? "Always" : "Never", dir, dir, hostport, ADMIN_PW,
		  ca ? "Always" : "Never", OUTLET2, dir, dir, dir, dir);
	CU_ASSERT_EQUAL(r, 0);
	/* redfishtool finds the strip's watts where older clients look */
	r = tu_sh("redfishtool -r %s -u admin -p %s -S %s -A Session Chassis -I PowerStrip Power "
		  "> %s/rt3.out 2>&1 && grep -q '\"PowerConsumedWatts\": 7' %s/rt3.out || "
		  "{ cat %s/rt3.out; exit 1; }",
		  hostport, ADMIN_PW, ca ? "Always" : "Never", dir, dir, dir);
	CU_ASSERT_EQUAL(r, 0);
	r = tu_sh("/usr/bin/python3 %s/tests/httpd_sushy.py %s admin %s %s", src ? src : ".", url,
		  ADMIN_PW, ca ? ca : "");
	CU_ASSERT_EQUAL(r, 0);
	return 0;
}

static void test_clients_http(void)
{
	char hp[64];

	if (tu_sh("command -v redfishtool >/dev/null && /usr/bin/python3 -c 'import sushy'") != 0) {
		CU_FAIL("redfishtool and python3-sushy are required (apt-get install redfishtool python3-sushy)");
		return;
	}
	snprintf(hp, sizeof(hp), "127.0.0.1:%u", httpd_port(srv));
	run_clients(base, hp, NULL);
}

static void test_https(void)
{
	struct httpd_config c = HTTPD_CONFIG_INIT;
	char cert[300], key[300], hp[64];
	struct httpd *h;
	struct resp r;

	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
				    "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
				    key, cert), 0);
	server_config(&c, "pw", "state-tls");
	httpd_config_set(&c, "http-cert", cert);
	httpd_config_set(&c, "http-key", key);
	srv = httpd_free(srv);     /* one server per tree: the TLS one replaces it */
	h = start_server(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(strncmp(httpd_url(h), "https://", 8), 0);
	CU_ASSERT_EQUAL(http_to(httpd_url(h), &r, "GET", OUTLET2, ADMIN, NULL, NULL, NULL), 200);
	resp_free(&r);
	/* curl verifying against the test certificate. */
	CU_ASSERT_EQUAL(tu_sh("curl -sf --cacert %s -u admin:%s %s/redfish/v1/Managers/redfishfs/NetworkProtocol "
			      "| /usr/bin/python3 -c 'import json,sys; "
			      "sys.exit(0 if json.load(sys.stdin)[\"HTTPS\"][\"ProtocolEnabled\"] else 1)'",
			      cert, ADMIN_PW,
			      httpd_url(h)), 0);
	snprintf(hp, sizeof(hp), "127.0.0.1:%u", httpd_port(h));
	if (tu_sh("command -v redfishtool >/dev/null && /usr/bin/python3 -c 'import sushy'") == 0)
		run_clients(httpd_url(h), hp, cert);
	else
		CU_FAIL("redfishtool and python3-sushy are required");
	httpd_free(h);
	httpd_config_clear(&c);
}

/* ---- hardening (issue 10) ---------------------------------------------------- */

/* What DMTF's Protocol and Service Validators check: a URI the service does
 * not have is a 404 whatever Accept says (openapi.yaml included, without a
 * login); a PATCH ignores annotations and answers NoOperation when nothing
 * else was asked; OEM objects carry @odata.type. */
static void test_validator_rules(void)
{
	static const char *const yaml[] = { "Accept: application/yaml", NULL };
	struct resp r;
	struct json_object *o, *v;
	char *tag, *tag0 = tree_file("Chassis/Fake/AssetTag");

	CU_ASSERT_PTR_NOT_NULL_FATAL(tag0);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/openapi.yaml", NULL, NULL, NULL, yaml), 404);
	CU_ASSERT(is_error(&r, "ResourceNotFound"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/openapi.yaml", ADMIN, NULL, NULL, yaml), 404);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis/NoSuchThing", ADMIN, NULL, NULL, yaml), 404);
	CU_ASSERT(is_error(&r, "ResourceNotFound"));
	resp_free(&r);
	/* A document that exists is still not served as YAML. */
	CU_ASSERT_EQUAL(http(&r, "GET", OUTLET2, ADMIN, NULL, NULL, yaml), 406);
	CU_ASSERT(is_error(&r, "HeaderInvalid"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/$metadata", NULL, NULL, NULL, yaml), 406);
	resp_free(&r);

	/* Only annotations: success with NoOperation, nothing changed. */
	CU_ASSERT_EQUAL(http(&r, "PATCH", "/redfish/v1/AccountService/Accounts/1", ADMIN, NULL,
			     "{\"@odata.id\":\"/redfish/v1/AccountService/Accounts/1\","
			     "\"@odata.type\":\"#ManagerAccount.v1_0_0.ManagerAccount\"}", NULL), 200);
	CU_ASSERT(r.body && strstr(r.body, ".NoOperation\""));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL,
			     "{\"@odata.etag\":\"x\",\"AssetTag@Redfish.AllowableValues\":[\"a\"],"
			     "\"Status\":{\"@odata.type\":\"#Resource.Status\"}}", NULL), 200);
	CU_ASSERT(r.body && strstr(r.body, ".NoOperation\""));
	resp_free(&r);
	tag = tree_file("Chassis/Fake/AssetTag");
	CU_ASSERT_STRING_EQUAL(tag ? tag : "", tag0);
	free(tag);
	free(tag0);
	/* Mixed with a real property, annotations are ignored too. */
	CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL,
			     "{\"@odata.id\":\"" FAKE "\",\"AssetTag\":\"tag9\"}", NULL), 200);
	CU_ASSERT(json_has(r.body, "AssetTag", "\"tag9\""));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL, "{\"AssetTag\":\"tag0\"}", NULL), 200);
	resp_free(&r);

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Managers/PowerStrip", ADMIN, NULL, NULL, NULL), 200);
	o = r.body ? json_tokener_parse(r.body) : NULL;
	CU_ASSERT(o && json_object_object_get_ex(o, "Oem", &v) &&
		  json_object_object_get_ex(v, "TPLink", &v) &&
		  json_object_object_get_ex(v, "@odata.type", &v) &&
		  json_object_get_string(v)[0] == '#');
	json_object_put(o);
	resp_free(&r);
}

/* The suite's server replaced by one with c (a test's own tuning); base
 * follows. */
static void serve_with(struct httpd_config *c)
{
	srv = httpd_free(srv);
	srv = start_server(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	snprintf(base, sizeof(base), "%s", httpd_url(srv));
}

/* A TCP connection from src (a 127.x address) to the server that sent the
 * start of a request and no end of its headers; -1 on error. */
static int half_open(const char *src, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	struct timeval tv = { 2, 0 };
	static const char start[] = "GET /redfish/v1 HTTP/1.1\r\nHost: x\r\n";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, src, &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	to.sin_port = htons(port);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    send(fd, start, sizeof(start) - 1, MSG_NOSIGNAL) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Whether the server ended fd's connection (end of stream or reset). */
static bool server_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Slowloris: 40 connections from 127.0.0.2 trickling header lines. With a
 * per-address limit (8 here) and a header deadline (2 s here) a client from
 * 127.0.0.1 is answered at once throughout, and the slow connections end at
 * the deadline although they keep sending; connections closed by their
 * client in the middle of the headers do not linger in CLOSE_WAIT. */
static void test_slow_clients(void)
{
	struct httpd_config c = cfg;
	int fds[40], n = 0;
	unsigned closed = 0;
	uint16_t port;
	char *out = NULL;
	struct resp r;
	int64_t t0;

	c.max_connections = 32;
	c.max_per_ip = 8;
	c.header_timeout_s = 2;
	serve_with(&c);
	port = httpd_port(srv);

	for (int i = 0; i < 40; i++)
		if ((fds[n] = half_open("127.0.0.2", port)) >= 0)
			n++;
	CU_ASSERT(n >= 32);
	for (int round = 0; round < 8; round++) {
		t0 = tu_now_ms();
		CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, NULL), 200);
		CU_ASSERT(tu_now_ms() - t0 < 1000);
		resp_free(&r);
		for (int i = 0; i < n; i++)
			send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT);
		sleep_ms(500);
	}
	/* 4 s of trickling, past the 2 s deadline: every one was ended. */
	for (int i = 0; i < n; i++) {
		closed += server_closed(fds[i]);
		close(fds[i]);
	}
	CU_ASSERT_EQUAL(closed, (unsigned)n);

	/* Closed by the client mid-headers: gone from the server side at once. */
	n = 0;
	for (int i = 0; i < 20; i++)
		if ((fds[n] = half_open("127.0.0.3", port)) >= 0)
			n++;
	sleep_ms(200);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	sleep_ms(1000);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "ss -Htn state close-wait '( sport = :%u )' | wc -l", port), 0);
	CU_ASSERT_STRING_EQUAL(out ? out : "", "0\n");
	free(out);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, NULL), 200);
	resp_free(&r);

	serve_with(&cfg);
}

/* Text that is not UTF-8, or holds control characters, is refused whole
 * over HTTP (400 PropertyValueFormatError naming the property) and in the
 * mount (EINVAL); valid non-ASCII text passes. */
static void test_utf8_input(void)
{
	static const char *const bad[] = {
		"{\"AssetTag\":\"\xff\xfe\xc0\xaf\"}",       /* invalid bytes */
		"{\"AssetTag\":\"\xc0\xaf\"}",               /* overlong '/' */
		"{\"AssetTag\":\"\xed\xa0\x80\"}",           /* a surrogate */
		"{\"AssetTag\":\"a\\u0000b\"}",              /* NUL: not cut to "a" */
		"{\"AssetTag\":\"\\u001b[2Jx\"}",            /* a terminal escape */
		"{\"AssetTag\":\"bell\\u0007\"}",
		"{\"AssetTag\":\"c1\xc2\x9b\"}",             /* C1 control */
	};
	static const char *const bad_mount[] = {
		"\xff\xfe\xc0\xaf\n", "a\x1b[31mb\n", "bell\a", "c1\xc2\x9b",
	};
	struct resp r;
	char *tag0 = tree_file("Chassis/Fake/AssetTag"), *tag;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tag0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL, bad[i], NULL), 400);
		CU_ASSERT(is_error(&r, "PropertyValueFormatError"));
		CU_ASSERT(r.body && strstr(r.body, "AssetTag"));
		resp_free(&r);
	}
	for (size_t i = 0; i < sizeof(bad_mount) / sizeof(bad_mount[0]); i++)
		CU_ASSERT_EQUAL(rf_tree_write(tree, "Chassis/Fake/AssetTag", bad_mount[i],
					      strlen(bad_mount[i])), -EINVAL);
	tag = tree_file("Chassis/Fake/AssetTag");
	CU_ASSERT_STRING_EQUAL(tag ? tag : "", tag0);
	free(tag);
	/* A login with such a name: refused, the password never echoed. */
	CU_ASSERT_EQUAL(http(&r, "POST", "/redfish/v1/SessionService/Sessions", NULL, NULL,
			     "{\"UserName\":\"admin\",\"Password\":\"pw\xff secret\"}", NULL), 400);
	CU_ASSERT(is_error(&r, "PropertyValueFormatError"));
	CU_ASSERT(r.body && !strstr(r.body, "secret"));
	resp_free(&r);

	CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL, "{\"AssetTag\":\"K\u00fcche \u00e9\"}",
			     NULL), 200);
	CU_ASSERT(json_has(r.body, "AssetTag", "\"K\u00fcche \u00e9\""));
	resp_free(&r);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Chassis/Fake/AssetTag", "Stra\u00dfe\n",
				      strlen("Stra\u00dfe\n")), 0);
	tag0[strcspn(tag0, "\n")] = '\0';
	{
		char body[300];

		snprintf(body, sizeof(body), "{\"AssetTag\":\"%s\"}", tag0);
		CU_ASSERT_EQUAL(http(&r, "PATCH", FAKE, ADMIN, NULL, body, NULL), 200);
		resp_free(&r);
	}
	free(tag0);
}

/* An account made for a test (ReadOnly); its URI into loc (200 bytes). */
static bool make_account(const char *user, const char *pw, char *loc)
{
	struct resp r;
	char body[256];
	bool ok;

	snprintf(body, sizeof(body), "{\"UserName\":\"%s\",\"Password\":\"%s\",\"RoleId\":\"ReadOnly\"}",
		 user, pw);
	ok = http(&r, "POST", "/redfish/v1/AccountService/Accounts", ADMIN, NULL, body, NULL) == 201 &&
	     hval(&r, "Location");
	if (ok)
		snprintf(loc, 200, "%s", hval(&r, "Location"));
	resp_free(&r);
	return ok;
}

static void drop_account(const char *loc)
{
	struct resp r;

	CU_ASSERT_EQUAL(http(&r, "DELETE", loc, ADMIN, NULL, NULL, NULL), 204);
	resp_free(&r);
}

/* A password change ends the account's other sessions; one account cannot
 * take every session and the last ones are kept for Administrators. */
static void test_session_limits(void)
{
	char loc[4][200], tok[3][80], sloc[200], user[16];
	struct resp r;
	int n;

	CU_ASSERT_FATAL(make_account("sa", "sa-password-1", loc[0]));
	CU_ASSERT_FATAL(login("sa", "sa-password-1", tok[0], sloc));
	CU_ASSERT_FATAL(login("sa", "sa-password-1", tok[1], sloc));
	CU_ASSERT_FATAL(login("sa", "sa-password-1", tok[2], sloc));
	/* Its own change keeps the session that made it, ends the others. */
	CU_ASSERT_EQUAL(http(&r, "PATCH", loc[0], NULL, tok[0], "{\"Password\":\"sa-password-2\"}",
			     NULL), 200);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", NULL, tok[0], NULL, NULL), 200);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", NULL, tok[1], NULL, NULL), 401);
	resp_free(&r);
	/* An administrator's change ends them all. */
	CU_ASSERT_EQUAL(http(&r, "PATCH", loc[0], ADMIN, NULL, "{\"Password\":\"sa-password-3\"}",
			     NULL), 200);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", NULL, tok[0], NULL, NULL), 401);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", NULL, tok[2], NULL, NULL), 401);
	resp_free(&r);

	/* 16 per account; non-administrators together up to 56 of 64. */
	for (n = 0; n < 20 && login("sa", "sa-password-3", tok[0], sloc); n++)
		;
	CU_ASSERT_EQUAL(n, 16);
	for (int i = 1; i < 4; i++) {
		snprintf(user, sizeof(user), "sb%d", i);
		CU_ASSERT_FATAL(make_account(user, "sb-password-1", loc[i]));
		for (int k = 0; k < 16 && login(user, "sb-password-1", tok[0], sloc); k++)
			n++;
	}
	CU_ASSERT(n <= 56);
	CU_ASSERT(n >= 50);
	CU_ASSERT_EQUAL(http(&r, "POST", "/redfish/v1/SessionService/Sessions", NULL, NULL,
			     "{\"UserName\":\"sa\",\"Password\":\"sa-password-3\"}", NULL), 503);
	CU_ASSERT(is_error(&r, "SessionLimitExceeded"));
	resp_free(&r);
	CU_ASSERT(login("admin", ADMIN_PW, tok[1], sloc));
	CU_ASSERT_EQUAL(http(&r, "DELETE", sloc, NULL, tok[1], NULL, NULL), 204);
	resp_free(&r);
	for (int i = 0; i < 4; i++)
		drop_account(loc[i]);
}

struct wrong_logins {
	int n;
	long last;
};

static void *wrong_logins(void *arg)
{
	struct wrong_logins *w = arg;
	struct resp r;

	for (int i = 0; i < w->n; i++) {
		w->last = http(&r, "GET", "/redfish/v1/Chassis", "nobody:wrong-password", NULL, NULL, NULL);
		resp_free(&r);
	}
	return NULL;
}

/* AccountLockoutThreshold/Duration/CounterResetAfter as the schema says; a
 * failed password answers after a delay that holds no server thread, so a
 * flood of wrong passwords does not slow anyone else. */
static void test_lockout(void)
{
	char loc[200];
	struct resp r;
	struct wrong_logins w[6];
	pthread_t th[6];
	int64_t t0, worst = 0;

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/AccountService", ADMIN, NULL, NULL, NULL), 200);
	CU_ASSERT(json_has(r.body, "AccountLockoutThreshold", NULL));
	CU_ASSERT_STRING_EQUAL(hval(&r, "Allow"), "GET, HEAD, PATCH");
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", "/redfish/v1/AccountService", ADMIN, NULL,
			     "{\"AccountLockoutThreshold\":3,\"AccountLockoutDuration\":4,"
			     "\"AccountLockoutCounterResetAfter\":4}", NULL), 200);
	CU_ASSERT(json_has(r.body, "AccountLockoutThreshold", "3"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", "/redfish/v1/AccountService", ADMIN, NULL,
			     "{\"AccountLockoutDuration\":3}", NULL), 400);   /* < ResetAfter */
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", "/redfish/v1/AccountService", "ro:readonly-pw", NULL,
			     "{\"AccountLockoutThreshold\":0}", NULL), 403);
	resp_free(&r);

	CU_ASSERT_FATAL(make_account("lk", "lk-password-1", loc));
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:lk-password-1", NULL, NULL, NULL), 200);
	resp_free(&r);
	for (int i = 0; i < 3; i++) {
		t0 = tu_now_ms();
		CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:wrong-password", NULL, NULL,
				     NULL), 401);
		CU_ASSERT(tu_now_ms() - t0 >= 900);
		resp_free(&r);
	}
	/* Locked: even the right password fails, at once, until the duration. */
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:lk-password-1", NULL, NULL, NULL), 401);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", loc, ADMIN, NULL, NULL, NULL), 200);
	CU_ASSERT(json_has(r.body, "Locked", "true"));
	resp_free(&r);
	sleep_ms(3300);   /* locked 4 s from the third failure, answered 1 s after it */
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:lk-password-1", NULL, NULL, NULL), 200);
	resp_free(&r);
	/* An administrator unlocks before the time. */
	for (int i = 0; i < 3; i++) {
		http(&r, "GET", "/redfish/v1/Chassis", "lk:wrong-password", NULL, NULL, NULL);
		resp_free(&r);
	}
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:lk-password-1", NULL, NULL, NULL), 401);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "PATCH", loc, ADMIN, NULL, "{\"Locked\":false}", NULL), 200);
	CU_ASSERT(json_has(r.body, "Locked", "false"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis", "lk:lk-password-1", NULL, NULL, NULL), 200);
	resp_free(&r);
	/* The same for what front.c answers (the LogService here): the password
	 * is checked on a worker, a wrong one answers late and counts once. */
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Managers/redfishfs/LogServices/Log",
			     "lk:wrong-password", NULL, NULL, NULL), 401);
	CU_ASSERT(tu_now_ms() - t0 >= 900);
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Managers/redfishfs/LogServices/Log",
			     "lk:lk-password-1", NULL, NULL, NULL), 200);
	resp_free(&r);

	/* A flood of wrong passwords (6 clients) while an administrator reads. */
	for (int i = 0; i < 6; i++) {
		w[i] = (struct wrong_logins){ .n = 4 };
		pthread_create(&th[i], NULL, wrong_logins, &w[i]);
	}
	sleep_ms(100);
	for (int i = 0; i < 20; i++) {
		t0 = tu_now_ms();
		CU_ASSERT_EQUAL(http(&r, "GET", OUTLET2, ADMIN, NULL, NULL, NULL), 200);
		resp_free(&r);
		if (tu_now_ms() - t0 > worst)
			worst = tu_now_ms() - t0;
		sleep_ms(50);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(w[i].last, 401);
	}
	CU_ASSERT(worst < 300);
	drop_account(loc);
	CU_ASSERT_EQUAL(http(&r, "PATCH", "/redfish/v1/AccountService", ADMIN, NULL,
			     "{\"AccountLockoutThreshold\":10,\"AccountLockoutDuration\":60,"
			     "\"AccountLockoutCounterResetAfter\":60}", NULL), 200);
	resp_free(&r);
}

/* The configured account's password file is held to MinPasswordLength. */
static void test_first_password_length(void)
{
	struct httpd_config c = HTTPD_CONFIG_INIT;
	char pwfile[300];
	int err = 0;

	snprintf(pwfile, sizeof(pwfile), "%s/short-pw", dir);
	CU_ASSERT_EQUAL_FATAL(write_pw(pwfile, "short", 0600), 0);
	server_config(&c, "short-pw", "state-short");
	CU_ASSERT_PTR_NULL(httpd_new(tree, &c, &err));
	CU_ASSERT_EQUAL(err, -EINVAL);
	httpd_config_clear(&c);
}

/* One raw request on a fresh connection; the reply's first line into line
 * (cap bytes) within 3 s. Returns the milliseconds it took, -1 on error. */
static long raw_request(const char *req, char *line, size_t cap)
{
	int fd = half_open("127.0.0.1", httpd_port(srv));
	struct timeval tv = { 3, 0 };
	int64_t t0 = tu_now_ms();
	ssize_t n;

	line[0] = '\0';
	if (fd < 0)
		return -1;
	/* half_open sent "GET /redfish/v1 HTTP/1.1\r\nHost: x\r\n": end it
	 * and send ours on the same keep-alive connection. */
	send(fd, "\r\n", 2, MSG_NOSIGNAL);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	{
		char buf[8192];
		size_t got = 0;

		/* the first reply, whole (its Content-Length is small) */
		while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") && strstr(buf, "}"))
				break;
		}
	}
	t0 = tu_now_ms();
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	n = recv(fd, line, cap - 1, 0);
	close(fd);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	return (long)(tu_now_ms() - t0);
}

/* The smaller findings: an encoded NUL or slash is no way to a resource; a
 * body coded as the server cannot read is answered at once; the log and
 * URL name the address really bound. */
static void test_request_edges(void)
{
	static const char *const paths[] = {
		"/redfish/v1/Chassis%00", "/redfish/v1/Chassis%00/Fake", "/redfish/v1%2fChassis",
		"/redfish/v1/Chassis%2FFake", "/redfish/v1/Chassis%5cFake", "/redfish/v1/Chassis%0a",
	};
	struct httpd_config c = cfg;
	struct resp r;
	char line[256];
	long ms;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		CU_ASSERT_EQUAL(http(&r, "GET", paths[i], ADMIN, NULL, NULL, NULL), 404);
		resp_free(&r);
	}
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis/Fake", ADMIN, NULL, NULL, NULL), 200);
	resp_free(&r);

	ms = raw_request("POST /redfish/v1/SessionService/Sessions HTTP/1.1\r\nHost: x\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
			 line, sizeof(line));
	CU_ASSERT(ms >= 0 && ms < 1000);
	CU_ASSERT_STRING_EQUAL(line, "HTTP/1.1 415 Unsupported Media Type");

	c.listen = "0.0.0.0:0";
	c.force_plain = 1;
	srv = httpd_free(srv);
	srv = start_server(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	CU_ASSERT_EQUAL(strncmp(httpd_url(srv), "http://0.0.0.0:", 15), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", httpd_port(srv));
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1", NULL, NULL, NULL, NULL), 200);
	resp_free(&r);
	serve_with(&cfg);
}

/* A Chassis whose Links.Contains names n others of about 100 KB each. */
static void big_set(const char *name, int first, int n)
{
	static char blob[100 * 1024];
	struct json_object *set = json_object_new_object(), *links = json_object_new_object();
	struct json_object *contains = json_object_new_array();
	char uri[128];

	memset(blob, 'x', sizeof(blob) - 1);
	for (int i = first; i < first + n; i++) {
		struct json_object *o = json_object_new_object(), *l = json_object_new_object();

		snprintf(uri, sizeof(uri), "/redfish/v1/Chassis/Big%d", i);
		json_object_object_add(o, "@odata.id", json_object_new_string(uri));
		json_object_object_add(o, "@odata.type", json_object_new_string("#Chassis.v1_25_0.Chassis"));
		json_object_object_add(o, "Id", json_object_new_string(uri + 20));
		json_object_object_add(o, "Name", json_object_new_string("big"));
		json_object_object_add(o, "ChassisType", json_object_new_string("Other"));
		json_object_object_add(o, "AssetTag", json_object_new_string(blob));
		rf_tree_install(tree, &fake_prov, uri, o, NULL, rf_tree_generation(tree));
		json_object_object_add(l, "@odata.id", json_object_new_string(uri));
		json_object_array_add(contains, l);
	}
	snprintf(uri, sizeof(uri), "/redfish/v1/Chassis/%s", name);
	json_object_object_add(set, "@odata.id", json_object_new_string(uri));
	json_object_object_add(set, "@odata.type", json_object_new_string("#Chassis.v1_25_0.Chassis"));
	json_object_object_add(set, "Id", json_object_new_string(name));
	json_object_object_add(set, "Name", json_object_new_string(name));
	json_object_object_add(set, "ChassisType", json_object_new_string("Rack"));
	json_object_object_add(links, "Contains", contains);
	json_object_object_add(set, "Links", links);
	rf_tree_install(tree, &fake_prov, uri, set, NULL, rf_tree_generation(tree));
}

static long rss_kb(void)
{
	char *s = tu_read_file("/proc/self/statm", NULL);
	long pages = 0, rss = 0;

	if (s && sscanf(s, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	free(s);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

struct expander_client {
	int ok, busy, other;
};

static void *expand_client(void *arg)
{
	struct expander_client *c = arg;
	struct resp r;

	for (int i = 0; i < 3; i++) {
		long st = http(&r, "GET", "/redfish/v1/Chassis/BigHalf?$expand=*", ADMIN, NULL, NULL, NULL);

		if (st == 200 && r.len > 1000 * 1000)
			c->ok++;
		else if (st == 503)
			c->busy++;
		else
			c->other++;
		resp_free(&r);
	}
	return NULL;
}

/* $expand work is bounded: past 2 MiB of documents a Redfish error, at most
 * two expansions at once (503 beyond), and the memory given back after. */
static void test_expand_bounds(void)
{
	struct expander_client c[8] = { 0 };
	pthread_t th[8];
	struct resp r;
	long before, after;
	int ok = 0, other = 0;
	char uri[64];

	big_set("BigAll", 0, 30);     /* 3 MB */
	big_set("BigHalf", 0, 15);    /* 1.5 MB */
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis/BigAll?$expand=*", ADMIN, NULL, NULL, NULL),
			400);
	CU_ASSERT(is_error(&r, "QueryParameterOutOfRange"));
	resp_free(&r);
	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis/BigAll", ADMIN, NULL, NULL, NULL), 200);
	resp_free(&r);

	CU_ASSERT_EQUAL(http(&r, "GET", "/redfish/v1/Chassis/BigHalf?$expand=*", ADMIN, NULL, NULL, NULL),
			200);
	resp_free(&r);
	before = rss_kb();
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, expand_client, &c[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += c[i].ok;
		other += c[i].other;
	}
	after = rss_kb();
	CU_ASSERT(ok >= 2);
	CU_ASSERT_EQUAL(other, 0);
	fprintf(stderr, "\nexpand: %d of 24 served, RSS %ld -> %ld kB\n", ok, before, after);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer keeps freed memory in quarantine by design (256 MB
	 * by default), so RSS says nothing about what the server returned. */
	CU_ASSERT(after - before < 40 * 1024);
#endif

	for (int i = 0; i < 30; i++) {
		snprintf(uri, sizeof(uri), "/redfish/v1/Chassis/Big%d", i);
		rf_tree_remove(tree, uri);
	}
	rf_tree_remove(tree, "/redfish/v1/Chassis/BigAll");
	rf_tree_remove(tree, "/redfish/v1/Chassis/BigHalf");
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("httpd", suite_init, suite_clean);
	CU_add_test(s, "open URIs", test_open_uris);
	CU_add_test(s, "auth required", test_auth_required);
	CU_add_test(s, "every resource == index.json", test_every_resource);
	CU_add_test(s, "ETag and 304", test_etag);
	CU_add_test(s, "error statuses", test_errors);
	CU_add_test(s, "fault table, every row", test_fault_rows);
	CU_add_test(s, "back-end errnos over HTTP", test_fault_rows_http);
	CU_add_test(s, "messages match the Base registry", test_messages_registry);
	CU_add_test(s, "$expand", test_expand);
	CU_add_test(s, "outlet action and patch", test_outlet_changes);
	CU_add_test(s, "slow device", test_slow_device);
	CU_add_test(s, "sessions", test_sessions);
	CU_add_test(s, "session expiry", test_session_expiry);
	CU_add_test(s, "accounts and roles", test_accounts_roles);
	CU_add_test(s, "config", test_config);
	CU_add_test(s, "validator rules", test_validator_rules);
	CU_add_test(s, "slow clients", test_slow_clients);
	CU_add_test(s, "UTF-8 input", test_utf8_input);
	CU_add_test(s, "session limits", test_session_limits);
	CU_add_test(s, "lockout", test_lockout);
	CU_add_test(s, "first password length", test_first_password_length);
	CU_add_test(s, "request edges", test_request_edges);
	CU_add_test(s, "$expand bounds", test_expand_bounds);
	CU_add_test(s, "redfishtool and sushy over HTTP", test_clients_http);
	CU_add_test(s, "HTTPS", test_https);
	return tu_run_cunit();
}
