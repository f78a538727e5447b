/* test_web.c — the web page at / in headless Chromium
 * (tests/web_chromium.py, with Debian's chromium, chromium-driver and
 * python3-selenium) against the whole daemon: a simulated HS300, the DMTF
 * mockup aggregated as "rack1" (its system has a power switch), login
 * required.
 *
 * Also, without a browser: the page's files are served without login with
 * their types and a Content-Security-Policy, and nothing else below / is.
 * With RFS_SCREENSHOT=FILE set, the browser run saves a phone-sized
 * screenshot there (how the README's picture is made). */
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static struct tu_sim strip;
static struct tu_daemon daemon_;
static char base_url[64];
static char state_dir[] = "/tmp/rfs-web-XXXXXX";

static long get(const char *uri, struct tu_buf *ret, char *ctype, size_t cap)
{
	CURL *c = curl_easy_init();
	char url[256];
	long status = -1;
	char *ct = NULL;

	memset(ret, 0, sizeof(*ret));
	snprintf(url, sizeof(url), "%s%s", base_url, uri);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		if (ctype)
			snprintf(ctype, cap, "%s", ct ? ct : "");
	}
	curl_easy_cleanup(c);
	return status;
}

static int web_init(void)
{
	char kasa[64], pw[320], log[320], mock[512];
	FILE *f;

	if (!mkdtemp(state_dir) || tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&strip, "meter %d %d 120000 %d %d", i, 7300 * i, 61 * i, 210 * i);

		free(r);
	}
	snprintf(kasa, sizeof(kasa), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	snprintf(pw, sizeof(pw), "%s/pass", state_dir);
	snprintf(log, sizeof(log), "%s/log", state_dir);
	snprintf(mock, sizeof(mock), "rack1=%s/mockups/public-rackmount1",
		 getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared");
	if (!(f = fopen(pw, "w")))
		return -1;
	fputs("web-secret-1\n", f);
	fclose(f);
	chmod(pw, 0600);
	{
		const char *args[] = { "--kasa", kasa, "--mockup", mock, "--poll", "1",
				       "--timeout", "500", "--http-user", "admin",
				       "--http-password-file", pw, "--state-dir", state_dir, NULL };

		if (tu_daemon_start(&daemon_, log, 0, args) < 0)
			return -1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", (unsigned)daemon_.port);
	return 0;
}

static int web_clean(void)
{
	tu_daemon_stop(&daemon_, SIGTERM);
	tu_sim_stop(&strip);
	tu_rm_rf(state_dir);
	return 0;
}

static void test_files(void)
{
	static const struct { const char *uri, *type, *has; } files[] = {
		{ "/", "text/html; charset=utf-8", "<input name=\"password\" type=\"password\"" },
		{ "/index.html", "text/html; charset=utf-8", "<form id=\"login\"" },
		{ "/app.js", "text/javascript; charset=utf-8", "EventService/SSE" },
		{ "/style.css", "text/css; charset=utf-8", "[role=\"switch\"]" },
	};
	struct tu_buf b;
	char ct[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		CU_ASSERT_EQUAL(get(files[i].uri, &b, ct, sizeof(ct)), 200);
		CU_ASSERT_STRING_EQUAL(ct, files[i].type);
		CU_ASSERT_PTR_NOT_NULL(b.data && strstr(b.data, files[i].has));
		free(b.data);
	}
	CU_ASSERT_EQUAL(get("/nothing.js", &b, NULL, 0), 404);
	free(b.data);
	/* the page holds no password and loads nothing from elsewhere */
	CU_ASSERT_EQUAL(get("/index.html", &b, NULL, 0), 200);
	CU_ASSERT_PTR_NULL(b.data && strstr(b.data, "http"));
	free(b.data);
}

static void test_chromium(void)
{
	const char *shot = getenv("RFS_SCREENSHOT");
	int rc = tu_sh("/usr/bin/python3 '%s/tests/web_chromium.py' '%s' admin web-secret-1 %u "
		       "rack1_437XR1138R2 %s%s%s >&2",
		       getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".", base_url,
		       (unsigned)strip.control, shot ? "'" : "", shot ? shot : "", shot ? "'" : "");

	CU_ASSERT_EQUAL(rc, 0);
}

/* A daemon that takes no logins (--http-no-auth): the page finds out and
 * needs none. */
static void test_chromium_no_login(void)
{
	char kasa[64], log[340], sd[340], url[64];
	struct tu_daemon d;
	int rc;

	snprintf(kasa, sizeof(kasa), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	snprintf(sd, sizeof(sd), "%s/open", state_dir);
	snprintf(log, sizeof(log), "%s/open.log", state_dir);
	{
		const char *args[] = { "--kasa", kasa, "--poll", "1", "--timeout", "500",
				       "--http-no-auth", "--state-dir", sd, NULL };

		CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, args), 0);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)d.port);
	rc = tu_sh("/usr/bin/python3 '%s/tests/web_chromium.py' --open '%s' %u >&2",
		   getenv("SOURCE_DIR") ? getenv("SOURCE_DIR") : ".", url, (unsigned)strip.control);
	CU_ASSERT_EQUAL(rc, 0);
	tu_daemon_stop(&d, SIGTERM);
}

int main(void)
{
	CU_pSuite s;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("web", web_init, web_clean);
	CU_add_test(s, "the page's files, no login", test_files);
	CU_add_test(s, "the page in headless Chromium", test_chromium);
	CU_add_test(s, "the page against a server without logins", test_chromium_no_login);
	return tu_run_cunit();
}
