/* test_bmc_client.c — the Redfish HTTP client (redfish/client.c) against the
 * fake BMC of test_bmc_fake.c on loopback: sessions, Basic fallback,
 * re-login, conditional GET, 401/503/slow/huge replies, refused connections,
 * bounded parallelism, logout, and the errno tables. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "test_bmc_fake.h"
#include "testutil.h"

static char mockup[1024];
static struct fake_bmc *fake;

static struct rf_client *client(int timeout_ms, int parallel, bool auth)
{
	char url[64];
	struct rf_client_config cfg = { .base_url = url, .timeout_ms = timeout_ms,
					.parallel = parallel };
	struct rf_client *c;
	int r = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_bmc_port(fake));
	if (auth) {
		cfg.user = "admin";
		cfg.password = "secret";
	}
	c = rf_client_new(&cfg, &r);
	CU_ASSERT_PTR_NOT_NULL(c);
	return c;
}

static int get(struct rf_client *c, const char *path, struct rf_http *h)
{
	memset(h, 0, sizeof(*h));
	h->path = path;
	rf_client_run(c, h, 1);
	return h->err;
}

static void test_errno_tables(void)
{
	CU_ASSERT_EQUAL(rf_errno_from_http(200), 0);
	CU_ASSERT_EQUAL(rf_errno_from_http(204), 0);
	CU_ASSERT_EQUAL(rf_errno_from_http(304), 0);
	CU_ASSERT_EQUAL(rf_errno_from_http(400), -EINVAL);
	CU_ASSERT_EQUAL(rf_errno_from_http(401), -EACCES);
	CU_ASSERT_EQUAL(rf_errno_from_http(403), -EACCES);
	CU_ASSERT_EQUAL(rf_errno_from_http(404), -ENOENT);
	CU_ASSERT_EQUAL(rf_errno_from_http(405), -EACCES);
	CU_ASSERT_EQUAL(rf_errno_from_http(412), -ESTALE);
	CU_ASSERT_EQUAL(rf_errno_from_http(418), -EINVAL);
	CU_ASSERT_EQUAL(rf_errno_from_http(500), -EIO);
	CU_ASSERT_EQUAL(rf_errno_from_http(501), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(rf_errno_from_http(503), -EAGAIN);
	CU_ASSERT_EQUAL(rf_errno_from_http(504), -ETIMEDOUT);
	CU_ASSERT_EQUAL(rf_errno_from_http(302), -EIO);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_OK), 0);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_COULDNT_CONNECT), -EHOSTUNREACH);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_COULDNT_RESOLVE_HOST), -EHOSTUNREACH);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_OPERATION_TIMEDOUT), -ETIMEDOUT);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_PEER_FAILED_VERIFICATION), -EPROTO);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_FILESIZE_EXCEEDED), -EFBIG);
	CU_ASSERT_EQUAL(rf_errno_from_curl(CURLE_RECV_ERROR), -EIO);

	const char *body = "{\"error\":{\"code\":\"Base.1.15.GeneralError\",\"message\":\"outer\","
			   "\"@Message.ExtendedInfo\":[{\"Message\":\"The value 'X' is not allowed.\"}]}}";
	char *m = rf_error_message(body, strlen(body));

	CU_ASSERT_STRING_EQUAL(m, "The value 'X' is not allowed.");
	free(m);
	body = "{\"error\":{\"message\":\"only\"}}";
	m = rf_error_message(body, strlen(body));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_STRING_EQUAL(m, "only");
	free(m);
	CU_ASSERT_PTR_NULL(rf_error_message("not json", 8));
}

static void test_session_and_etag(void)
{
	struct rf_client *c = client(2000, 4, true);
	struct rf_client_stats st;
	struct rf_http h;
	char *etag;

	fake_bmc_reset_counts(fake);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems/437XR1138R2", &h), 0);
	CU_ASSERT_EQUAL(h.status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(h.data ? h.data : "", "\"PowerState\""));
	CU_ASSERT_PTR_NOT_NULL_FATAL(h.etag);
	CU_ASSERT_TRUE(rf_client_uses_session(c));
	CU_ASSERT_EQUAL(fake_bmc_sessions(fake), 1);
	etag = strdup(h.etag);
	rf_http_clear(&h);

	/* Conditional GET: 304, no body. */
	memset(&h, 0, sizeof(h));
	h.path = RF_ROOT "/Systems/437XR1138R2";
	h.if_none_match = etag;
	rf_client_run(c, &h, 1);
	CU_ASSERT_EQUAL(h.err, 0);
	CU_ASSERT_EQUAL(h.status, 304);
	CU_ASSERT_EQUAL(h.len, 0);
	rf_http_clear(&h);
	free(etag);

	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems/nope", &h), -ENOENT);
	rf_http_clear(&h);
	rf_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.logins, 1);
	rf_client_free(c);
	/* Logout on free. */
	CU_ASSERT_EQUAL(fake_bmc_sessions(fake), 0);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "DELETE", NULL), 1);
}

static void test_relogin_on_expiry(void)
{
	struct rf_client *c = client(2000, 4, true);
	struct rf_client_stats st;
	struct rf_http h[8];

	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Chassis", &h[0]), 0);
	rf_http_clear(&h[0]);
	fake_bmc_expire_sessions(fake);
	/* A batch that meets 401 everywhere: one re-login, all resent. */
	memset(h, 0, sizeof(h));
	for (int i = 0; i < 8; i++)
		h[i].path = i % 2 ? RF_ROOT "/Chassis/1U" : RF_ROOT "/Managers/BMC";
	CU_ASSERT_EQUAL(rf_client_run(c, h, 8), 0);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(h[i].err, 0);
		CU_ASSERT_EQUAL(h[i].status, 200);
		rf_http_clear(&h[i]);
	}
	rf_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.logins, 2);
	rf_client_free(c);
}

static void test_basic_fallback(void)
{
	struct fake_bmc *saved = fake;
	struct rf_client *c;
	struct rf_http h;

	fake = fake_bmc_start(mockup, false);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	c = client(2000, 2, true);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), 0);
	CU_ASSERT_FALSE(rf_client_uses_session(c));
	CU_ASSERT_EQUAL(fake_bmc_logins(fake), 0);
	rf_http_clear(&h);
	rf_client_free(c);

	/* Without credentials: 401 -> EACCES. */
	c = client(2000, 2, false);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EACCES);
	CU_ASSERT_EQUAL(h.status, 401);
	rf_http_clear(&h);
	rf_client_free(c);
	fake_bmc_stop(fake);
	fake = saved;
}

static void test_401_forever(void)
{
	struct rf_client *c = client(1000, 2, true);
	struct rf_http h;
	int64_t t0;

	fake_bmc_set_mode(fake, FAKE_401, 0, -1);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EACCES);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 1000);
	rf_http_clear(&h);
	/* Logged in earlier? Then a 401 re-login that fails: still EACCES. */
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), 0);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_401, 0, -1);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EACCES);
	CU_ASSERT_TRUE(h.attempts <= 2);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	rf_client_free(c);
}

static void test_503_retry_after(void)
{
	struct rf_client *c = client(4000, 2, true);
	struct rf_http h;
	int64_t t0, dt;

	CU_ASSERT_EQUAL(get(c, RF_ROOT, &h), 0);     /* log in first */
	rf_http_clear(&h);
	/* Two 503s with Retry-After: 1, then success within the timeout. */
	fake_bmc_set_mode(fake, FAKE_503, 1, 2);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), 0);
	dt = tu_now_ms() - t0;
	CU_ASSERT_EQUAL(h.attempts, 3);
	CU_ASSERT_TRUE(dt >= 2000 && dt < 4000);
	rf_http_clear(&h);
	/* Retry-After beyond the deadline: EAGAIN at once, not after it. */
	fake_bmc_set_mode(fake, FAKE_503, 10, -1);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EAGAIN);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 500);
	CU_ASSERT_EQUAL(h.status, 503);
	rf_http_clear(&h);
	/* No Retry-After: backoff, until the deadline. */
	fake_bmc_set_mode(fake, FAKE_503, -1, -1);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EAGAIN);
	dt = tu_now_ms() - t0;
	CU_ASSERT_TRUE(dt < 4500);
	CU_ASSERT_TRUE(h.attempts >= 3);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	rf_client_free(c);
}

static void test_slow_timeout(void)
{
	struct rf_client *c = client(1000, 2, true);
	struct rf_http h;
	int64_t t0, dt;

	CU_ASSERT_EQUAL(get(c, RF_ROOT, &h), 0);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_SLOW, 3000, 1);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -ETIMEDOUT);
	dt = tu_now_ms() - t0;
	CU_ASSERT_TRUE(dt >= 950 && dt < 2000);     /* within the timeout, not the reply */
	CU_ASSERT_STRING_NOT_EQUAL(h.error, "");
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	rf_client_free(c);
}

static void test_huge_reply(void)
{
	char url[64];
	struct rf_client_config cfg = { .base_url = url, .user = "admin", .password = "secret",
					.timeout_ms = 5000, .max_body = 1 << 20 };
	struct rf_client *c;
	struct rf_http h;
	int r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_bmc_port(fake));
	c = rf_client_new(&cfg, &r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(get(c, RF_ROOT, &h), 0);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_HUGE, 4, 1);
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), -EFBIG);
	CU_ASSERT_PTR_NULL(h.data);
	rf_http_clear(&h);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	/* The client still works after an aborted transfer. */
	CU_ASSERT_EQUAL(get(c, RF_ROOT "/Systems", &h), 0);
	rf_http_clear(&h);
	rf_client_free(c);
}

static void test_refused(void)
{
	struct rf_client_config cfg = { .base_url = "http://127.0.0.1:1", .timeout_ms = 1000 };
	struct rf_client *c;
	struct rf_http h;
	int r;
	int64_t t0;

	c = rf_client_new(&cfg, &r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(get(c, RF_ROOT, &h), -EHOSTUNREACH);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 500);
	CU_ASSERT_EQUAL(h.status, 0);
	rf_http_clear(&h);
	rf_client_free(c);

	CU_ASSERT_PTR_NULL(rf_client_new(&(struct rf_client_config){ .base_url = "ftp://x" }, &r));
	CU_ASSERT_EQUAL(r, -EINVAL);
	/* An absolute URL to another host is never sent (credentials). */
	c = client(1000, 1, true);
	CU_ASSERT_EQUAL(get(c, "http://127.0.0.2:1/redfish/v1", &h), -EINVAL);
	rf_http_clear(&h);
	rf_client_free(c);
}

static void test_parallel_bound(void)
{
	struct rf_client *c = client(5000, 4, true);
	struct rf_client_stats st;
	struct rf_http h[40];
	char **uris = fake_bmc_uris(fake);
	int n = 0;
	int64_t t0;

	memset(h, 0, sizeof(h));
	for (int i = 0; uris[i] && n < 40; i++)
		h[n++].path = uris[i];
	/* Slow answers make the overlap visible: 40 x 100 ms at 4 at a time. */
	fake_bmc_set_mode(fake, FAKE_SLOW, 100, -1);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(rf_client_run(c, h, n), 0);
	int64_t dt = tu_now_ms() - t0;

	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	rf_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.max_inflight, 4);
	CU_ASSERT_TRUE(dt >= 900 && dt < 2500);
	for (int i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(h[i].err, 0);
		rf_http_clear(&h[i]);
	}
	for (int i = 0; uris[i]; i++)
		free(uris[i]);
	free(uris);
	rf_client_free(c);
}

static int init(void)
{
	const char *shared = getenv("SHARED_DIR");

	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fake = fake_bmc_start(mockup, true);
	return fake ? 0 : 1;
}

static int fini(void)
{
	fake_bmc_stop(fake);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("bmc_client", init, fini);
	CU_add_test(s, "errno_tables", test_errno_tables);
	CU_add_test(s, "session_and_etag", test_session_and_etag);
	CU_add_test(s, "relogin_on_expiry", test_relogin_on_expiry);
	CU_add_test(s, "basic_fallback", test_basic_fallback);
	CU_add_test(s, "401_forever", test_401_forever);
	CU_add_test(s, "503_retry_after", test_503_retry_after);
	CU_add_test(s, "slow_timeout", test_slow_timeout);
	CU_add_test(s, "huge_reply", test_huge_reply);
	CU_add_test(s, "refused", test_refused);
	CU_add_test(s, "parallel_bound", test_parallel_bound);
	return tu_run_cunit();
}
