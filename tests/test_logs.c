/* test_logs.c — the LogService of the whole daemon (httpd/logs.c): a
 * simulated HS300, a real mount, the HTTP server with a login.
 *
 * - the strip going silent (kasa-sim "mode silent") and coming back gives
 *   entries with the cause ("is offline: ...", Severity Warning) and "is
 *   back online";
 * - a write through the mount names the path, the writer's uid and the
 *   result; an HTTP action names the URI, the user and the status;
 * - the entries survive a restart of the daemon (--state-dir), ClearLog
 *   empties the collection (and needs ConfigureManager: a ReadOnly user
 *   gets 403), and the documents validate against the DMTF schemas;
 * - the UpdateService's FirmwareInventory (kasa/provider_inventory.c): the
 *   strip's firmware and hardware version as SoftwareInventory items, the
 *   same over HTTP and in the mount as the PowerDistribution's
 *   FirmwareVersion and Version, Updateable false, linked to the strip's
 *   Manager and PowerDistribution, valid against the schemas;
 * - the CertificateService (httpd/certs.c) of an HTTPS daemon whose
 *   certificate openssl made here: Subject, Issuer, validity, KeyUsage and
 *   the PEM as served, linked from NetworkProtocol, valid.
 * Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define LOG_URI "/redfish/v1/Managers/redfishfs/LogServices/Log"
#define OUTLET "/redfish/v1/PowerEquipment/RackPDUs/PowerStrip/Outlets/"

static struct tu_sim strip;
static struct tu_mount mnt;
static char base_url[128];
static char state_dir[] = "/tmp/rfs-logs-XXXXXX";
static char pw_file[300];

static long http_as(const char *user, const char *method, const char *uri, const char *body,
		    struct tu_buf *ret)
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
	curl_easy_setopt(c, CURLOPT_USERPWD, user);
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

static long http(const char *method, const char *uri, const char *body, struct tu_buf *ret)
{
	return http_as("admin:test-password-1", method, uri, body, ret);
}

static int start_daemon(void)
{
	char strip_arg[64];
	const char *args[] = { "--kasa", strip_arg, "--poll", "1", "--timeout", "300",
			       "--max-age", "500", "--http", "127.0.0.1:0", "--http-user", "admin",
			       "--http-password-file", pw_file, "--state-dir", state_dir, NULL };

	snprintf(strip_arg, sizeof(strip_arg), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	if (tu_mount_start(&mnt, args) < 0)
		return -1;
	return tu_mount_http_base(&mnt, base_url, sizeof(base_url));
}

static int logs_init(void)
{
	int fd;

	if (!mkdtemp(state_dir) || tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	snprintf(pw_file, sizeof(pw_file), "%s/pw", state_dir);
	fd = open(pw_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "test-password-1\n", 16) != 16)
		return -1;
	close(fd);
	return start_daemon();
}

static int logs_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&strip);
	tu_rm_rf(state_dir);
	return 0;
}

/* Every entry's document, compact, one a line (malloc'd); *ret_n: how many
 * the collection said. */
static char *entries(long *ret_n)
{
	struct tu_buf b;
	struct json_object *o, *m, *n;
	char *all = strdup("");

	*ret_n = -1;
	if (http("GET", LOG_URI "/Entries", NULL, &b) != 200 || !(o = json_tokener_parse(b.data))) {
		free(b.data);
		return all;
	}
	free(b.data);
	if (json_object_object_get_ex(o, "Members@odata.count", &n))
		*ret_n = json_object_get_int64(n);
	if (json_object_object_get_ex(o, "Members", &m))
		for (size_t i = 0; i < json_object_array_length(m); i++) {
			const char *uri = json_object_get_string(
				json_object_object_get(json_object_array_get_idx(m, i), "@odata.id"));
			struct json_object *e;
			char *grown;

			if (!uri || http("GET", uri, NULL, &b) != 200 || !(e = json_tokener_parse(b.data))) {
				free(b.data);
				continue;
			}
			free(b.data);
			if (asprintf(&grown, "%s%s\n", all,
				     json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE)) >= 0) {
				free(all);
				all = grown;
			}
			json_object_put(e);
		}
	json_object_put(o);
	return all;
}

/* Wait up to ms for an entry containing want; its line, or NULL. */
static bool wait_entry(const char *want, int ms)
{
	int64_t until = tu_now_ms() + ms;

	do {
		long n;
		char *all = entries(&n);
		bool found = strstr(all, want) != NULL;

		free(all);
		if (found)
			return true;
		usleep(100000);
	} while (tu_now_ms() < until);
	{
		long n;
		char *all = entries(&n);

		fprintf(stderr, "no log entry with %s among:\n%s", want, all);
		free(all);
	}
	return false;
}

static void test_documents(void)
{
	struct tu_buf b;

	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Managers/redfishfs", NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "/redfish/v1/Managers/redfishfs/LogServices"));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Managers/redfishfs/LogServices", NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, LOG_URI "\""));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", LOG_URI, NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "\"target\":\"" LOG_URI "/Actions/LogService.ClearLog\""));
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "\"MaxNumberOfRecords\":1000"));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", LOG_URI "/Entries/999999", NULL, &b), 404);
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", LOG_URI "/Entries/x1", NULL, &b), 404);
	free(b.data);
	CU_ASSERT_EQUAL(http("PATCH", LOG_URI, "{}", &b), 405);
	free(b.data);
	CU_ASSERT_EQUAL(http_as("admin:wrong", "GET", LOG_URI, NULL, &b), 401);
	free(b.data);
}

static void test_outage(void)
{
	char *r = tu_sim_cmd(&strip, "mode silent");

	free(r);
	CU_ASSERT_TRUE(wait_entry("\"Severity\":\"Warning\",\"Created\"", 8000));
	CU_ASSERT_TRUE(wait_entry("\"Message\":\"strip PowerStrip at 127.0.0.1", 100));
	CU_ASSERT_TRUE(wait_entry(" is offline: ", 100));
	r = tu_sim_cmd(&strip, "mode normal");
	free(r);
	CU_ASSERT_TRUE(wait_entry(" is back online\"", 8000));
}

static void test_writes(void)
{
	struct tu_buf b;

	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s'",
			      tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState")), 0);
	CU_ASSERT_TRUE(wait_entry("mount uid 0: write /PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState = 'Off': ok\"", 2000));
	/* a refused write is there too, with its errno */
	CU_ASSERT_NOT_EQUAL(tu_sh("echo Sideways > '%s' 2>/dev/null",
				  tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState")), 0);
	CU_ASSERT_TRUE(wait_entry("Outlets/2/PowerState = 'Sideways': Invalid argument", 2000));
	CU_ASSERT_EQUAL(http("POST", OUTLET "3/Actions/Outlet.PowerControl", "{\"PowerState\":\"Off\"}", &b), 200);
	free(b.data);
	CU_ASSERT_TRUE(wait_entry("HTTP user admin: POST " OUTLET "3/Actions/Outlet.PowerControl: 200", 2000));
	CU_ASSERT_TRUE(wait_entry("\"Links\":{\"OriginOfCondition\":{\"@odata.id\":\"" OUTLET "3\"}}", 100));
	CU_ASSERT_EQUAL(http("POST", OUTLET "3/Actions/Outlet.PowerControl", "{\"PowerState\":\"Up\"}", &b), 400);
	free(b.data);
	CU_ASSERT_TRUE(wait_entry("HTTP user admin: POST " OUTLET "3/Actions/Outlet.PowerControl: 400", 2000));
	CU_ASSERT_EQUAL(http("PATCH", OUTLET "3", "{\"UserLabel\":\"lamp\"}", &b), 200);
	free(b.data);
	CU_ASSERT_TRUE(wait_entry("HTTP user admin: PATCH " OUTLET "3: 200", 2000));
}

static void test_restart(void)
{
	long n0, n1;
	char *before = entries(&n0), *after;

	CU_ASSERT_TRUE(n0 > 0);
	tu_mount_stop(&mnt);
	CU_ASSERT_EQUAL_FATAL(start_daemon(), 0);
	after = entries(&n1);
	/* the same entries, in order, with the same ids (the new start may add) */
	CU_ASSERT_TRUE(n1 >= n0);
	CU_ASSERT_EQUAL(strncmp(before, after, strlen(before)), 0);
	free(before);
	free(after);
}

static void test_clear(void)
{
	struct tu_buf b;
	long n;
	char *all;

	CU_ASSERT_EQUAL(http("POST", LOG_URI "/Actions/LogService.ClearLog", "{\"Bogus\":1}", &b), 400);
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", LOG_URI "/Actions/LogService.ClearLog", NULL, &b), 405);
	free(b.data);
	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/AccountService/Accounts",
			     "{\"UserName\":\"viewer\",\"Password\":\"viewer-password-1\",\"RoleId\":\"ReadOnly\"}",
			     &b), 201);
	free(b.data);
	CU_ASSERT_EQUAL(http_as("viewer:viewer-password-1", "POST", LOG_URI "/Actions/LogService.ClearLog",
				"{}", &b), 403);
	free(b.data);
	all = entries(&n);
	CU_ASSERT_TRUE(n > 0);
	free(all);
	CU_ASSERT_EQUAL(http("POST", LOG_URI "/Actions/LogService.ClearLog", "{}", &b), 200);
	free(b.data);
	all = entries(&n);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_STRING_EQUAL(all, "");
	free(all);
	/* still cleared after a restart (the start may add its own entries,
	 * such as the strip answering); new entries get ids past the old ones */
	tu_mount_stop(&mnt);
	CU_ASSERT_EQUAL_FATAL(start_daemon(), 0);
	CU_ASSERT_EQUAL(tu_sh("echo On > '%s'",
			      tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState")), 0);
	CU_ASSERT_TRUE(wait_entry("Outlets/2/PowerState = 'On': ok", 2000));
	all = entries(&n);
	CU_ASSERT_PTR_NULL(strstr(all, "HTTP user admin: PATCH"));
	CU_ASSERT_PTR_NULL(strstr(all, "Invalid argument"));
	CU_ASSERT_PTR_NULL(strstr(all, "\"Id\":\"1\""));
	free(all);
}

/* More than LOG_MAX (1000) entries: the oldest go, the file stays bounded. */
static void test_bound(void)
{
	struct tu_buf b;
	struct json_object *o, *m;
	const char *first = NULL;
	char *lines = NULL;
	long n;
	int64_t t0 = tu_now_ms();

	/* refused values: an entry each, without waiting for the device */
	CU_ASSERT_EQUAL(tu_sh("for i in $(seq 1100); do echo Bad$i > '%s' 2>/dev/null; done; true",
			      tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState")), 0);
	fprintf(stderr, "  1100 refused mount writes: %lld ms\n", (long long)(tu_now_ms() - t0));
	CU_ASSERT_EQUAL(http("GET", LOG_URI "/Entries", NULL, &b), 200);
	o = b.data ? json_tokener_parse(b.data) : NULL;
	free(b.data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	n = json_object_get_int64(json_object_object_get(o, "Members@odata.count"));
	CU_ASSERT_EQUAL(n, 1000);
	if (json_object_object_get_ex(o, "Members", &m) && json_object_array_length(m) > 0)
		first = json_object_get_string(json_object_object_get(json_object_array_get_idx(m, 0),
								      "@odata.id"));
	CU_ASSERT_PTR_NOT_NULL(first);
	if (first) {
		CU_ASSERT_EQUAL(http("GET", first, NULL, &b), 200);
		/* the oldest left is one of the refused writes: those before it went */
		CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "= 'Bad"));
		CU_ASSERT_PTR_NULL(b.data && strstr(b.data, "= 'Bad1'"));
		free(b.data);
	}
	json_object_put(o);
	CU_ASSERT_EQUAL(tu_sh_out(&lines, "wc -l < '%s/log.jsonl'", state_dir), 0);
	CU_ASSERT_TRUE(lines && atol(lines) > 1000 && atol(lines) <= 2001);
	free(lines);
}

static void save_doc(const char *dir, const char *uri)
{
	struct tu_buf b;
	char path[600];
	FILE *f;

	CU_ASSERT_EQUAL(http("GET", uri, NULL, &b), 200);
	snprintf(path, sizeof(path), "%s%s", dir, uri);
	tu_sh("mkdir -p '%s'", path);
	strncat(path, "/index.json", sizeof(path) - strlen(path) - 1);
	if ((f = fopen(path, "w"))) {
		fwrite(b.data ? b.data : "", 1, b.len, f);
		fclose(f);
	}
	free(b.data);
}

static void test_schemas(void)
{
	char dir[320];
	struct tu_buf b;
	const char *m;

	snprintf(dir, sizeof(dir), "%s/validate", state_dir);
	save_doc(dir, "/redfish/v1/Managers/redfishfs/LogServices");
	save_doc(dir, LOG_URI);
	save_doc(dir, LOG_URI "/Entries");
	CU_ASSERT_EQUAL(http("GET", LOG_URI "/Entries", NULL, &b), 200);
	m = b.data ? strstr(b.data, LOG_URI "/Entries/") : NULL;
	CU_ASSERT_PTR_NOT_NULL(m);
	if (m) {
		char uri[200];

		snprintf(uri, sizeof(uri), "%.*s", (int)strcspn(m, "\""), m);
		save_doc(dir, uri);
	}
	free(b.data);
	CU_ASSERT_EQUAL(tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s' '%s/redfish-schemas' >&2",
			      getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".", dir,
			      getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared"), 0);
	CU_ASSERT_EQUAL(tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s' '%s/redfish-schemas' >&2",
			      getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".",
			      tu_path(mnt.mnt, "Managers/redfishfs"),
			      getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared"), 0);
}

#define INV "UpdateService/FirmwareInventory/PowerStrip-"

static void test_inventory(void)
{
	char *fw = tu_value(tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/FirmwareVersion"));
	char *hw = tu_value(tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Version"));
	char *v, want[256];
	struct tu_buf b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fw);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hw);
	CU_ASSERT_TRUE(*fw && *hw);
	/* the mount */
	v = tu_value(tu_path(mnt.mnt, INV "firmware/Version"));
	CU_ASSERT_STRING_EQUAL(v ? v : "(none)", fw);
	free(v);
	v = tu_value(tu_path(mnt.mnt, INV "hardware/Version"));
	CU_ASSERT_STRING_EQUAL(v ? v : "(none)", hw);
	free(v);
	v = tu_value(tu_path(mnt.mnt, INV "firmware/Updateable"));
	CU_ASSERT_STRING_EQUAL(v ? v : "(none)", "false");
	free(v);
	v = tu_value(tu_path(mnt.mnt, INV "firmware/Status/State"));
	CU_ASSERT_STRING_EQUAL(v ? v : "(none)", "Enabled");
	free(v);
	/* HTTP: linked from the ServiceRoot, listed, related to the strip */
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1", NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "/redfish/v1/UpdateService\""));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/UpdateService/FirmwareInventory", NULL, &b), 200);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "/redfish/v1/" INV "firmware\""));
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "/redfish/v1/" INV "hardware\""));
	free(b.data);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/" INV "firmware", NULL, &b), 200);
	snprintf(want, sizeof(want), "\"Version\": \"%s\"", fw);
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, want));
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "\"/redfish/v1/Managers/PowerStrip\""));
	CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, "\"/redfish/v1/PowerEquipment/RackPDUs/PowerStrip\""));
	if (b.data && !strstr(b.data, want))
		fprintf(stderr, "%s\n", b.data);
	free(b.data);
	/* read-only */
	CU_ASSERT_EQUAL(http("PATCH", "/redfish/v1/" INV "firmware", "{\"Version\":\"9\"}", &b), 405);
	free(b.data);
	CU_ASSERT_NOT_EQUAL(tu_sh("echo 9 > '%s' 2>/dev/null", tu_path(mnt.mnt, INV "firmware/Version")), 0);
	CU_ASSERT_EQUAL(tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s' '%s/redfish-schemas' >&2",
			      getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".",
			      tu_path(mnt.mnt, "UpdateService"),
			      getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared"), 0);
	free(fw);
	free(hw);
}

static void test_certificate(void)
{
	char dir[320], cert[400], key[400], log[400], mockup[400], url[1024], *pem, *out = NULL;
	const char *shared = getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared";
	struct tu_daemon d;
	CURL *c;
	struct tu_buf b = { 0 };
	long status = -1;

	snprintf(dir, sizeof(dir), "%s/tls", state_dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(mockup, sizeof(mockup), "rack=%s/mockups/public-rackmount1", shared);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
				    "-subj '/C=DE/O=redfishfs test/CN=127.0.0.1' "
				    "-addext keyUsage=digitalSignature,keyEncipherment "
				    "-addext extendedKeyUsage=serverAuth "
				    "-keyout '%s' -out '%s' >/dev/null 2>&1", dir, key, cert), 0);
	pem = tu_read_file(cert, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
	{
		const char *args[] = { "--mockup", mockup, "--http-cert", cert, "--http-key", key,
				       "--http-user", "admin", "--http-password-file", pw_file,
				       "--state-dir", dir, NULL };

		CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, args), 0);
	}
	c = curl_easy_init();
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/redfish/v1/Managers/redfishfs/NetworkProtocol/"
		 "HTTPS/Certificates/1", (unsigned)d.port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cert);
	curl_easy_setopt(c, CURLOPT_USERPWD, "admin:test-password-1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	CU_ASSERT_EQUAL(status, 200);
	if (b.data) {
		struct json_object *o = json_tokener_parse(b.data), *v;
		const char *sub = NULL, *iss = NULL, *str = NULL;

		CU_ASSERT_PTR_NOT_NULL_FATAL(o);
		if (json_object_object_get_ex(o, "Subject", &v))
			sub = json_object_get_string(json_object_object_get(v, "CommonName"));
		if (json_object_object_get_ex(o, "Issuer", &v))
			iss = json_object_get_string(json_object_object_get(v, "Organization"));
		str = json_object_get_string(json_object_object_get(o, "CertificateString"));
		CU_ASSERT_STRING_EQUAL(sub ? sub : "(none)", "127.0.0.1");
		CU_ASSERT_STRING_EQUAL(iss ? iss : "(none)", "redfishfs test");
		CU_ASSERT_STRING_EQUAL(str ? str : "(none)", pem);
		{
			char ku[256] = "";

			if (json_object_object_get_ex(o, "KeyUsage", &v))
				for (size_t i = 0; i < json_object_array_length(v); i++)
					snprintf(ku + strlen(ku), sizeof(ku) - strlen(ku), "%s%s", i ? "," : "",
						 json_object_get_string(json_object_array_get_idx(v, i)));
			CU_ASSERT_STRING_EQUAL(ku, "DigitalSignature,KeyEncipherment,ServerAuthentication");
		}
		CU_ASSERT_TRUE(json_object_object_get_ex(o, "ValidNotBefore", &v) &&
			       strlen(json_object_get_string(v)) == 20);
		CU_ASSERT_TRUE(json_object_object_get_ex(o, "ValidNotAfter", &v) &&
			       strlen(json_object_get_string(v)) == 20);
		json_object_put(o);
	}
	free(b.data);
	/* the documents against the schemas: copied out of the daemon with curl */
	CU_ASSERT_EQUAL(tu_sh_out(&out, "cd '%s' && for u in CertificateService CertificateService/CertificateLocations "
				  "Managers/redfishfs/NetworkProtocol Managers/redfishfs/NetworkProtocol/HTTPS/Certificates "
				  "Managers/redfishfs/NetworkProtocol/HTTPS/Certificates/1; do mkdir -p v/$u && "
				  "curl -sf --cacert '%s' -u admin:test-password-1 https://127.0.0.1:%u/redfish/v1/$u "
				  "> v/$u/index.json || exit 1; done", dir, cert, (unsigned)d.port), 0);
	free(out);
	CU_ASSERT_EQUAL(tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s/v' '%s/redfish-schemas' >&2",
			      getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".", dir, shared), 0);
	tu_daemon_stop(&d, SIGTERM);
	free(pem);
}

int main(void)
{
	CU_pSuite s;
	int r = tu_cunit_begin_mount();

	if (r)
		return r;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = CU_add_suite("logs", logs_init, logs_clean);
	CU_add_test(s, "LogService documents, errors", test_documents);
	CU_add_test(s, "a strip offline and back: cause and state", test_outage);
	CU_add_test(s, "writes through the mount and HTTP: who and result", test_writes);
	CU_add_test(s, "entries survive a restart", test_restart);
	CU_add_test(s, "ClearLog empties the log", test_clear);
	CU_add_test(s, "at most 1000 entries: the oldest go", test_bound);
	CU_add_test(s, "the documents are valid", test_schemas);
	CU_add_test(s, "FirmwareInventory: firmware and hardware versions", test_inventory);
	CU_add_test(s, "CertificateService: the HTTPS certificate", test_certificate);
	return tu_run_cunit();
}
