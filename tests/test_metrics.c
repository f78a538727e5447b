/* test_metrics.c — GET /metrics of the whole daemon: a simulated HS300
 * whose meters are fixed, a real mount and the HTTP server.
 *
 * - every outlet's watts, amperes, volts, joules and on/off are the
 *   simulator's, the strip's total and up/last-seen are there, the DMTF
 *   mockup aggregated as rack1 gives bmc up/last-seen and its system's
 *   power and health, and the text passes `promtool check metrics`;
 * - the daemon's counters move: a mount read and write count FUSE
 *   operations, responses count by status, Kasa round trips fill the
 *   histogram;
 * - an outlet switched off in the mount shows as 0 on the next scrape, a
 *   silent strip as redfishfs_strip_up 0 with its live values gone;
 * - login: open by default on loopback, 401 without credentials with
 *   --http-metrics login, 404 with off.
 * Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static struct tu_sim strip;
static struct tu_mount mnt;
static char base_url[128];
static char state_dir[] = "/tmp/rfs-metrics-XXXXXX";

static long get(const char *base, const char *uri, const char *userpwd, struct tu_buf *ret)
{
	CURL *c = curl_easy_init();
	char url[512];
	long status = -1;

	memset(ret, 0, sizeof(*ret));
	snprintf(url, sizeof(url), "%s%s", base, uri);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (userpwd)
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/* The value of the sample whose line starts with "name{labels} ", or NAN. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static char *scrape(void)
{
	struct tu_buf b;

	if (get(base_url, "/metrics", NULL, &b) != 200) {
		free(b.data);
		return NULL;
	}
	return b.data;
}

static int metrics_init(void)
{
	char strip_arg[64], mock[512];

	if (!mkdtemp(state_dir))
		return -1;
	if (tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	/* outlet i: 5i W, 121 V, 0.04i A, 0.1i kWh */
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&strip, "meter %d %d 121000 %d %d", i, 5000 * i, 40 * i, 100 * i);
		bool ok = r && strcmp(r, "ok") == 0;

		free(r);
		if (!ok)
			return -1;
	}
	snprintf(strip_arg, sizeof(strip_arg), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	snprintf(mock, sizeof(mock), "rack1=%s/mockups/public-rackmount1",
		 getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared");
	{
		const char *args[] = { "--kasa", strip_arg, "--mockup", mock, "--poll", "1", "--timeout", "300",
				       "--max-age", "500", "--http", "127.0.0.1:0", "--http-no-auth",
				       "--state-dir", state_dir, NULL };

		if (tu_mount_start(&mnt, args) < 0)
			return -1;
	}
	if (tu_mount_http_base(&mnt, base_url, sizeof(base_url)) < 0)
		return -1;
	return 0;
}

static int metrics_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&strip);
	tu_rm_rf(state_dir);
	return 0;
}

#define OUTLET(name, i) name "{strip=\"PowerStrip\",outlet=\"" #i "\"}"

static void test_values(void)
{
	char *t = scrape();

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_power_watts", 1)), 5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_power_watts", 6)), 30, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_current_amperes", 3)), 0.12, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_voltage_volts", 2)), 121, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_energy_joules_total", 4)),
			       0.4 * 3.6e6, 1e-3);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_on", 5)), 1, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_strip_power_watts{strip=\"PowerStrip\"}"),
			       5 * 21, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_strip_up{strip=\"PowerStrip\"}"), 1, 1e-9);
	{
		double seen = value_of(t, "redfishfs_strip_last_seen_timestamp_seconds{strip=\"PowerStrip\"}");

		CU_ASSERT_TRUE(fabs(seen - (double)time(NULL)) < 5);
	}
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_bmc_up{bmc=\"rack1\"}"), 1, 1e-9);
	CU_ASSERT_TRUE(fabs(value_of(t, "redfishfs_bmc_last_seen_timestamp_seconds{bmc=\"rack1\"}") -
			    (double)time(NULL)) < 60);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_system_power_on{system=\"rack1_437XR1138R2\"}"), 1, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_system_health{system=\"rack1_437XR1138R2\",health=\"OK\"}"),
			       1, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_system_health{system=\"rack1_437XR1138R2\",health=\"Critical\"}"),
			       0, 1e-9);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE redfishfs_outlet_energy_joules_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE redfishfs_device_round_trip_seconds histogram\n"));
	CU_ASSERT_TRUE(value_of(t, "redfishfs_device_round_trip_seconds_count{backend=\"kasa\"}") > 0);
	CU_ASSERT_TRUE(value_of(t, "redfishfs_device_requests_total{backend=\"kasa\",result=\"ok\"}") > 0);
	free(t);
}

static void test_promtool(void)
{
	char *t = scrape(), path[300];
	char *out = NULL;
	FILE *f;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	snprintf(path, sizeof(path), "%s/scrape.txt", state_dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(t, f);
	fclose(f);
	free(t);
	rc = tu_sh_out(&out, "promtool check metrics < '%s' 2>&1", path);
	if (rc != 0)
		fprintf(stderr, "promtool (%d): %s\n", rc, out ? out : "");
	CU_ASSERT_EQUAL(rc, 0);
	free(out);
}

static void test_counters_move(void)
{
	char *t = scrape(), *v;
	double reads, writes, ok200;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reads = value_of(t, "redfishfs_fuse_operations_total{operation=\"lookup\"}");
	writes = value_of(t, "redfishfs_fuse_operations_total{operation=\"write\"}");
	ok200 = value_of(t, "redfishfs_http_requests_total{code=\"200\"}");
	free(t);
	v = tu_value(tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/Voltage/Reading"));
	free(v);
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s'",
			      tu_path(mnt.mnt, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerState")), 0);
	t = scrape();
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_TRUE(value_of(t, "redfishfs_fuse_operations_total{operation=\"lookup\"}") > reads);
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, "redfishfs_fuse_operations_total{operation=\"write\"}"),
			       writes + 1, 1e-9);
	CU_ASSERT_TRUE(value_of(t, "redfishfs_http_requests_total{code=\"200\"}") >= ok200 + 1);
	/* the write is confirmed: the next scrape has the outlet off */
	CU_ASSERT_DOUBLE_EQUAL(value_of(t, OUTLET("redfishfs_outlet_on", 3)), 0, 1e-9);
	free(t);
}

static void test_offline(void)
{
	char *r = tu_sim_cmd(&strip, "mode silent"), *t = NULL;
	int64_t deadline = tu_now_ms() + 8000;
	double up = 1;

	free(r);
	while (tu_now_ms() < deadline) {
		free(t);
		t = scrape();
		if (t && (up = value_of(t, "redfishfs_strip_up{strip=\"PowerStrip\"}")) == 0)
			break;
		usleep(200000);
	}
	CU_ASSERT_DOUBLE_EQUAL(up, 0, 1e-9);
	if (t) {
		/* null readings are left out; last-seen stays from when it answered */
		CU_ASSERT_TRUE(isnan(value_of(t, OUTLET("redfishfs_outlet_power_watts", 1))));
		CU_ASSERT_FALSE(isnan(value_of(t, "redfishfs_strip_last_seen_timestamp_seconds{strip=\"PowerStrip\"}")));
	}
	free(t);
	r = tu_sim_cmd(&strip, "mode normal");
	free(r);
}

/* A second daemon with an account: /metrics open by default on loopback,
 * login or off when asked. */
static void run_auth_case(const char *mode, long want_anon, long want_login)
{
	char pw[340], log[340], sd[320];
	struct tu_daemon d;
	struct tu_buf b;
	char base[64], kasa[64];
	FILE *f;

	snprintf(sd, sizeof(sd), "%s/auth-%s", state_dir, mode ? mode : "default");
	snprintf(pw, sizeof(pw), "%s.pass", sd);
	snprintf(log, sizeof(log), "%s.log", sd);
	f = fopen(pw, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("secret-pass\n", f);
	fclose(f);
	chmod(pw, 0600);
	snprintf(kasa, sizeof(kasa), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	{
		const char *args[] = { "--kasa", kasa, "--http-user", "admin", "--http-password-file", pw,
				       "--state-dir", sd, mode ? "--http-metrics" : NULL, mode, NULL };

		CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, args), 0);
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)d.port);
	CU_ASSERT_EQUAL(get(base, "/metrics", NULL, &b), want_anon);
	free(b.data);
	CU_ASSERT_EQUAL(get(base, "/metrics", "admin:secret-pass", &b), want_login);
	free(b.data);
	tu_daemon_stop(&d, SIGTERM);
}

static void test_auth_modes(void)
{
	run_auth_case(NULL, 200, 200);
	run_auth_case("login", 401, 200);
	run_auth_case("off", 404, 404);
}

int main(void)
{
	CU_pSuite s;
	int r = tu_cunit_begin_mount();

	if (r)
		return r;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = CU_add_suite("metrics", metrics_init, metrics_clean);
	CU_add_test(s, "outlet and strip values are the simulator's", test_values);
	CU_add_test(s, "promtool check metrics is clean", test_promtool);
	CU_add_test(s, "FUSE, HTTP and device counters move", test_counters_move);
	CU_add_test(s, "a silent strip: up 0, its values gone", test_offline);
	CU_add_test(s, "open on loopback by default, login and off when asked", test_auth_modes);
	return tu_run_cunit();
}
