/* test_kasa_dev.c — kasa_dev against a real kasa-sim on loopback.
 *
 * Commands and their effect as the simulator's control port reports it,
 * both meter unit styles, every misbehaviour mode mapped to its errno within
 * about twice the timeout, reconnects, and UDP queries (unicast and the
 * loopback broadcast address). Timeouts are kept at TMO ms. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kasa.h"
#include "testutil.h"

#define TMO 300

static struct tu_sim strip;   /* hs300, alias "Test Strip" */
static struct tu_sim plug;    /* HS110-style, old meter units */

static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-6 * (fabs(a) + fabs(b)) + 1e-9;
}

static int suite_init(void)
{
	if (tu_sim_start(&strip, "hs300", "Test Strip", NULL) < 0)
		return -1;
	if (tu_sim_start(&plug, "plug", NULL, NULL) < 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	tu_sim_stop(&strip);
	tu_sim_stop(&plug);
	return 0;
}

/* Reset the strip to normal behaviour and an empty request log. */
static void strip_normal(void)
{
	tu_sim_expect(&strip, "mode normal", "ok");
	tu_sim_expect(&strip, "clear", "ok");
}

static void test_sysinfo(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	struct kasa_sysinfo si;

	strip_normal();
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_STRING_EQUAL(kasa_dev_host(d), "127.0.0.1");
	CU_ASSERT_EQUAL(kasa_dev_port(d), strip.port);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.model, "HS300(US)");
	CU_ASSERT_STRING_EQUAL(si.alias, "Test Strip");
	CU_ASSERT(si.has_emeter);
	CU_ASSERT_EQUAL(strlen(si.mac), 17);
	CU_ASSERT_EQUAL_FATAL(si.n_children, 6);
	for (size_t i = 0; i < si.n_children; i++) {
		char alias[32], *full = kasa_child_full_id(&si, i);

		snprintf(alias, sizeof(alias), "Plug %zu", i + 1);
		CU_ASSERT_STRING_EQUAL(si.children[i].alias, alias);
		/* the sim's ids are deviceId-prefixed like a real HS300's */
		CU_ASSERT_STRING_EQUAL(full, si.children[i].id);
		CU_ASSERT(strncmp(full, si.device_id, strlen(si.device_id)) == 0);
		free(full);
	}
	/* A second request reuses the connection. */
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "get_sysinfo"), 2);
	d = kasa_dev_free(d);
	CU_ASSERT_PTR_NULL(d);
	CU_ASSERT_PTR_NULL(kasa_dev_free(NULL));
	CU_ASSERT_PTR_NULL(kasa_dev_new("127.0.0.1", 0, TMO));
	CU_ASSERT_PTR_NULL(kasa_dev_new("127.0.0.1", 9999, 0));
}

/* The full child id of outlet n (1-based), from a fresh sysinfo. */
static char *outlet_id(struct kasa_dev *d, size_t n)
{
	struct kasa_sysinfo si;
	char *id;

	if (kasa_get_sysinfo(d, &si) < 0)
		return NULL;
	id = kasa_child_full_id(&si, n - 1);
	kasa_sysinfo_clear(&si);
	return id;
}

static void test_relay_child(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	char *id2 = outlet_id(d, 2);
	struct kasa_sysinfo si;

	strip_normal();
	CU_ASSERT_PTR_NOT_NULL_FATAL(id2);
	tu_sim_expect(&strip, "set 2 on", "ok");
	CU_ASSERT_EQUAL(kasa_set_relay(d, id2, false), 0);
	tu_sim_expect(&strip, "state 2", "ok off");
	tu_sim_expect(&strip, "state 1", "ok on");
	tu_sim_expect(&strip, "state 3", "ok on");
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "child_ids"), 1);
	CU_ASSERT_EQUAL(tu_sim_count(&strip, id2), 1);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT(!si.children[1].on && si.children[0].on);
	kasa_sysinfo_clear(&si);

	/* a button press shows in sysinfo */
	tu_sim_expect(&strip, "press 2", "ok on");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT(si.children[1].on);
	kasa_sysinfo_clear(&si);

	CU_ASSERT_EQUAL(kasa_set_relay(d, id2, false), 0);
	CU_ASSERT_EQUAL(kasa_set_relay(d, id2, true), 0);
	tu_sim_expect(&strip, "state 2", "ok on");
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "set_relay_state"), 3);

	/* an unknown child is a device error */
	CU_ASSERT_EQUAL(kasa_set_relay(d, "NOSUCHCHILD", false), -EIO);
	free(id2);
	kasa_dev_free(d);
}

static void test_plug(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", plug.port, TMO);
	struct kasa_sysinfo si;
	struct kasa_emeter e;

	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_EQUAL(si.n_children, 0);
	CU_ASSERT(si.on);
	CU_ASSERT(si.has_emeter);
	CU_ASSERT(strncmp(si.alias, "TP-LINK_Smart Plug_", 19) == 0);
	kasa_sysinfo_clear(&si);

	CU_ASSERT_EQUAL(kasa_set_relay(d, NULL, false), 0);
	tu_sim_expect(&plug, "state 1", "ok off");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT(!si.on);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&plug, "child_ids"), 0);

	/* old units: voltage/current/power/total */
	tu_sim_expect(&plug, "meter 1 60000 230000 261 1500", "ok");
	CU_ASSERT_EQUAL(kasa_set_relay(d, NULL, true), 0);
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, NULL, &e), 0);
	CU_ASSERT(close_to(e.power_w, 60.0));
	CU_ASSERT(close_to(e.voltage_v, 230.0));
	CU_ASSERT(close_to(e.current_a, 0.261));
	CU_ASSERT(close_to(e.total_kwh, 1.5));
	CU_ASSERT_EQUAL(tu_sim_count(&plug, "\"power\""), 0);  /* requests, not replies */

	/* a child id on a plug is an error */
	CU_ASSERT_EQUAL(kasa_get_emeter(d, "00", &e), -EIO);
	CU_ASSERT_EQUAL(kasa_set_led(d, true), 0);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT(si.led_off);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_led(d, false), 0);
	kasa_dev_free(d);
}

static void test_emeter_new_units(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	char *id3 = outlet_id(d, 3), *id5 = outlet_id(d, 5);
	struct kasa_emeter e, e2;

	strip_normal();
	CU_ASSERT_PTR_NOT_NULL_FATAL(id3);
	tu_sim_expect(&strip, "set 3 on", "ok");
	tu_sim_expect(&strip, "meter 3 12345 120000 103 4567", "ok");
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, id3, &e), 0);
	CU_ASSERT(close_to(e.power_w, 12.345));
	CU_ASSERT(close_to(e.voltage_v, 120.0));
	CU_ASSERT(close_to(e.current_a, 0.103));
	CU_ASSERT(close_to(e.total_kwh, 4.567));

	/* an outlet that is off draws nothing */
	tu_sim_expect(&strip, "set 3 off", "ok");
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, id3, &e), 0);
	CU_ASSERT(close_to(e.power_w, 0));
	CU_ASSERT(close_to(e.current_a, 0));
	CU_ASSERT(close_to(e.voltage_v, 120.0));
	tu_sim_expect(&strip, "set 3 on", "ok");

	/* erase: the total starts again */
	CU_ASSERT_EQUAL(kasa_erase_emeter(d, id3), 0);
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, id3, &e), 0);
	CU_ASSERT(close_to(e.total_kwh, 0));

	/* an unfixed outlet reads plausibly */
	tu_sim_expect(&strip, "set 5 on", "ok");
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, id5, &e2), 0);
	CU_ASSERT(e2.voltage_v > 100 && e2.voltage_v < 140);
	CU_ASSERT(e2.power_w > 0);
	CU_ASSERT(e2.total_kwh > 0);
	CU_ASSERT(fabs(e2.current_a - e2.power_w / e2.voltage_v) < 0.01);
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "get_realtime"), 4);
	free(id3);
	free(id5);
	kasa_dev_free(d);
}

static void test_alias_led_reboot(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	char *id4 = outlet_id(d, 4);
	struct kasa_sysinfo si;

	strip_normal();
	CU_ASSERT_PTR_NOT_NULL_FATAL(id4);
	CU_ASSERT_EQUAL(kasa_set_alias(d, id4, "Lamp \"quoted\" \\ é"), 0);
	tu_sim_expect(&strip, "alias 4", "ok Lamp \"quoted\" \\ é");
	tu_sim_expect(&strip, "alias 0", "ok Test Strip");
	CU_ASSERT_EQUAL(kasa_set_alias(d, NULL, "Rack A"), 0);
	tu_sim_expect(&strip, "alias 0", "ok Rack A");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.alias, "Rack A");
	CU_ASSERT_STRING_EQUAL(si.children[3].alias, "Lamp \"quoted\" \\ é");
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_alias(d, NULL, "Test Strip"), 0);
	CU_ASSERT_EQUAL(kasa_set_alias(d, NULL, NULL), -EINVAL);

	CU_ASSERT_EQUAL(kasa_set_led(d, true), 0);
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "\"set_led_off\":{\"off\":1}"), 1);
	CU_ASSERT_EQUAL(kasa_set_led(d, false), 0);
	CU_ASSERT_EQUAL(kasa_reboot(d, 1), 0);
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "\"reboot\":{\"delay\":1}"), 1);
	CU_ASSERT_EQUAL(kasa_reboot(d, -1), -EINVAL);

	/* raw request: an unknown method answers err_code -2 */
	{
		char *reply = NULL;

		CU_ASSERT_EQUAL(kasa_dev_request(d, "{\"system\":{\"frobnicate\":{}}}", &reply), 0);
		CU_ASSERT(reply && strstr(reply, "-2"));
		free(reply);
	}
	free(id4);
	kasa_dev_free(d);
}

/* One request in a given mode: checks errno and elapsed time bounds. */
static void expect_mode(const char *mode, int want, int64_t min_ms, int64_t max_ms)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	struct kasa_sysinfo si;
	int64_t t0, el;
	int r;

	strip_normal();
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);   /* a connection to reuse */
	kasa_sysinfo_clear(&si);
	tu_sim_expect(&strip, mode, "ok");
	t0 = tu_now_ms();
	r = kasa_get_sysinfo(d, &si);
	el = tu_now_ms() - t0;
	if (r != want || el < min_ms || el > max_ms)
		fprintf(stderr, "mode '%s': %d after %lld ms (want %d in %lld..%lld)\n", mode, r,
			(long long)el, want, (long long)min_ms, (long long)max_ms);
	CU_ASSERT_EQUAL(r, want);
	CU_ASSERT(el >= min_ms && el <= max_ms);
	if (r == 0)
		kasa_sysinfo_clear(&si);
	/* back to normal: the same kasa_dev recovers */
	tu_sim_expect(&strip, "mode normal", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	kasa_dev_free(d);
}

static void test_modes(void)
{
	expect_mode("mode silent", -ETIMEDOUT, TMO - 20, 2 * TMO + 100);
	expect_mode("mode garbage", -EIO, 0, TMO);
	expect_mode("mode oversize", -EIO, 0, TMO);
	expect_mode("mode slow 1000", -ETIMEDOUT, TMO - 20, 2 * TMO + 100);
	expect_mode("mode slow 50", 0, 40, TMO);
	expect_mode("mode close", -EIO, 0, 2 * TMO);   /* sent, unanswered: outcome unknown */
}

static void test_close_retries_once(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	struct kasa_sysinfo si;

	strip_normal();
	tu_sim_expect(&strip, "mode close", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), -EIO);
	/* the request was sent, the device dropped it: a read is sent once more */
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "get_sysinfo"), 2);
	tu_sim_expect(&strip, "mode normal", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	kasa_dev_free(d);
}

/* A reply that comes after the timeout must not answer the next request. */
static void test_late_reply_discarded(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, TMO);
	struct kasa_sysinfo si;
	struct kasa_emeter e;
	char *id1 = outlet_id(d, 1);

	strip_normal();
	CU_ASSERT_PTR_NOT_NULL_FATAL(id1);
	/* wait 0: the late reply arrives while the next request is in flight;
	 * wait 200 ms: it arrived before the next request went out. */
	for (int wait = 0; wait <= 200; wait += 200) {
		tu_sim_expect(&strip, "mode slow 400", "ok");
		CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), -ETIMEDOUT);
		tu_sim_expect(&strip, "mode normal", "ok");
		usleep((useconds_t)wait * 1000);
		memset(&e, 0, sizeof(e));
		CU_ASSERT_EQUAL(kasa_get_emeter(d, id1, &e), 0);
		CU_ASSERT(e.voltage_v > 100);
	}
	free(id1);
	kasa_dev_free(d);
}

/* The device restarts: the idle connection is dead; the next request
 * reconnects transparently. */
static void test_reconnect_after_restart(void)
{
	struct tu_sim s2;
	struct kasa_dev *d;
	struct kasa_sysinfo si;
	char listen[64];
	const char *extra[] = { "--listen", listen, NULL };
	int64_t t0;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&s2, "plug", NULL, NULL), 0);
	d = kasa_dev_new("127.0.0.1", s2.port, TMO);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)s2.port);
	tu_sim_stop(&s2);

	/* nobody listening: refused -> EHOSTUNREACH, at once */
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), -EHOSTUNREACH);
	CU_ASSERT(tu_now_ms() - t0 < TMO);

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&s2, "plug", NULL, extra), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	/* and once more with an idle connection the new device then drops */
	tu_sim_stop(&s2);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&s2, "plug", NULL, extra), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&s2, "get_sysinfo"), 1);
	kasa_dev_free(d);
	tu_sim_stop(&s2);
}

struct slow_arg {
	int port;
	int r;
	int64_t elapsed;
};

static void *slow_request(void *p)
{
	struct slow_arg *a = p;
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", (uint16_t)a->port, 3000);
	struct kasa_sysinfo si;
	int64_t t0 = tu_now_ms();

	a->r = kasa_get_sysinfo(d, &si);
	a->elapsed = tu_now_ms() - t0;
	if (a->r == 0)
		kasa_sysinfo_clear(&si);
	kasa_dev_free(d);
	return NULL;
}

/* "slow" delays each connection on its own deadline: two overlapping
 * requests both take about the delay, not the sum. */
static void test_slow_does_not_serialise(void)
{
	struct slow_arg a = { .port = strip.port }, b = { .port = strip.port };
	pthread_t ta, tb;

	strip_normal();
	tu_sim_expect(&strip, "mode slow 500", "ok");
	pthread_create(&ta, NULL, slow_request, &a);
	usleep(50 * 1000);
	pthread_create(&tb, NULL, slow_request, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	tu_sim_expect(&strip, "mode normal", "ok");
	CU_ASSERT_EQUAL(a.r, 0);
	CU_ASSERT_EQUAL(b.r, 0);
	CU_ASSERT(a.elapsed >= 480 && a.elapsed < 900);
	CU_ASSERT(b.elapsed >= 480 && b.elapsed < 900);
}

struct hammer_arg {
	struct kasa_dev *d;
	int failures;
};

static void *hammer(void *p)
{
	struct hammer_arg *a = p;

	for (int i = 0; i < 25; i++) {
		struct kasa_sysinfo si;

		if (kasa_get_sysinfo(a->d, &si) < 0 || si.n_children != 6)
			a->failures++;
		else
			kasa_sysinfo_clear(&si);
	}
	return NULL;
}

static void test_threads_share_dev(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", strip.port, 2000);
	struct hammer_arg args[4];
	pthread_t t[4];

	strip_normal();
	for (int i = 0; i < 4; i++) {
		args[i] = (struct hammer_arg){ .d = d };
		pthread_create(&t[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(args[i].failures, 0);
	}
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "get_sysinfo"), 100);
	kasa_dev_free(d);
}

struct udp_seen {
	int n;
	uint16_t port;
	char addr[64];
	char model[32];
};

static void udp_cb(void *userdata, const char *addr, uint16_t port, const char *reply)
{
	struct udp_seen *s = userdata;
	struct kasa_sysinfo si;

	s->n++;
	s->port = port;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	if (kasa_parse_sysinfo(reply, &si) == 0) {
		snprintf(s->model, sizeof(s->model), "%s", si.model);
		kasa_sysinfo_clear(&si);
	}
}

static void test_udp(void)
{
	const char *q = "{\"system\":{\"get_sysinfo\":{}}}";
	struct udp_seen seen = { 0 };
	int64_t t0;
	int r;

	strip_normal();
	t0 = tu_now_ms();
	r = kasa_udp_query("127.0.0.1", strip.port, q, TMO, udp_cb, &seen);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT(tu_now_ms() - t0 >= TMO - 20 && tu_now_ms() - t0 < 2 * TMO);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.addr, "127.0.0.1");
	CU_ASSERT_EQUAL(seen.port, strip.port);
	CU_ASSERT_STRING_EQUAL(seen.model, "HS300(US)");
	CU_ASSERT_EQUAL(tu_sim_count(&strip, "get_sysinfo"), 1);

	/* the loopback broadcast address reaches the simulator too */
	memset(&seen, 0, sizeof(seen));
	r = kasa_udp_query("127.255.255.255", strip.port, q, TMO, udp_cb, &seen);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT_STRING_EQUAL(seen.model, "HS300(US)");

	/* a silent device: no replies, still bounded */
	tu_sim_expect(&strip, "mode silent", "ok");
	memset(&seen, 0, sizeof(seen));
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(kasa_udp_query("127.0.0.1", strip.port, q, TMO, udp_cb, &seen), 0);
	CU_ASSERT(tu_now_ms() - t0 < 2 * TMO);
	CU_ASSERT_EQUAL(seen.n, 0);
	/* garbage is ignored, not counted */
	tu_sim_expect(&strip, "mode garbage", "ok");
	CU_ASSERT_EQUAL(kasa_udp_query("127.0.0.1", strip.port, q, TMO, udp_cb, &seen), 0);
	tu_sim_expect(&strip, "mode normal", "ok");
	CU_ASSERT_EQUAL(kasa_udp_query("127.0.0.1", strip.port, q, 0, udp_cb, &seen), -EINVAL);
}

/* A fixture dump as personality: its model, outlets and meter. */
static void test_fixture_personality(void)
{
	const char *shared = getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared";
	const char *extra[] = { "--device-id", "8006ABCDEF", NULL };
	char path[512];
	struct tu_sim s2;
	struct kasa_dev *d;
	struct kasa_sysinfo si;
	struct kasa_emeter e;
	char *id;

	snprintf(path, sizeof(path), "%s/fixtures/kasa/iot/KP303(US)_2.0_1.0.9.json", shared);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&s2, path, "Fixture Strip", extra), 0);
	d = kasa_dev_new("127.0.0.1", s2.port, TMO);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.model, "KP303(US)");
	CU_ASSERT_STRING_EQUAL(si.device_id, "8006ABCDEF");
	CU_ASSERT_STRING_EQUAL(si.alias, "Fixture Strip");
	CU_ASSERT(!si.has_emeter);
	CU_ASSERT(si.led_off);
	CU_ASSERT_EQUAL_FATAL(si.n_children, 3);
	CU_ASSERT_STRING_EQUAL(si.children[2].id, "8006ABCDEF02");
	id = kasa_child_full_id(&si, 2);
	CU_ASSERT_EQUAL(kasa_get_emeter(d, id, &e), -EIO);   /* module not support */
	CU_ASSERT_EQUAL(kasa_set_relay(d, id, !si.children[2].on), 0);
	tu_sim_expect(&s2, "state 3", si.children[2].on ? "ok off" : "ok on");
	free(id);
	kasa_sysinfo_clear(&si);
	kasa_dev_free(d);
	tu_sim_stop(&s2);

	snprintf(path, sizeof(path), "%s/fixtures/kasa/iot/HS110(US)_1.0_1.2.6.json", shared);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&s2, path, NULL, NULL), 0);
	d = kasa_dev_new("127.0.0.1", s2.port, TMO);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.model, "HS110(US)");
	CU_ASSERT(si.has_emeter && si.on && si.n_children == 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL_FATAL(kasa_get_emeter(d, NULL, &e), 0);
	CU_ASSERT(fabs(e.voltage_v - 118.9) < 1.0);           /* the dump's 118.917 V */
	CU_ASSERT(e.total_kwh >= 30.404);
	CU_ASSERT(e.power_w > 7 && e.power_w < 8.5);
	kasa_dev_free(d);
	tu_sim_stop(&s2);
}

/* Host names are looked up within the timeout. */
static void test_names(void)
{
	struct kasa_dev *d = kasa_dev_new("localhost", strip.port, TMO);
	struct kasa_sysinfo si;
	int64_t t0;
	int r;

	strip_normal();
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	kasa_dev_free(d);

	d = kasa_dev_new("no-such-host.invalid", strip.port, TMO);
	t0 = tu_now_ms();
	r = kasa_get_sysinfo(d, &si);
	CU_ASSERT(r == -EHOSTUNREACH || r == -ETIMEDOUT);
	CU_ASSERT(tu_now_ms() - t0 <= 2 * TMO + 100);
	kasa_dev_free(d);
}

static void test_control_errors(void)
{
	tu_sim_expect(&strip, "press 7", "error bad outlet");
	tu_sim_expect(&strip, "set 1 maybe", "error expected on or off");
	tu_sim_expect(&strip, "mode sideways", "error unknown mode");
	tu_sim_expect(&strip, "frobnicate", "error unknown command");
	tu_sim_expect(&strip, "meter 1 x 1 1 1", "error usage: meter N POWER_MW VOLTAGE_MV CURRENT_MA TOTAL_WH");
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_dev", suite_init, suite_clean);
	CU_add_test(s, "sysinfo", test_sysinfo);
	CU_add_test(s, "relay by child id", test_relay_child);
	CU_add_test(s, "plug without child id, old meter units", test_plug);
	CU_add_test(s, "emeter new units", test_emeter_new_units);
	CU_add_test(s, "alias, led, reboot", test_alias_led_reboot);
	CU_add_test(s, "misbehaviour modes", test_modes);
	CU_add_test(s, "close retries once", test_close_retries_once);
	CU_add_test(s, "late reply discarded", test_late_reply_discarded);
	CU_add_test(s, "reconnect after restart", test_reconnect_after_restart);
	CU_add_test(s, "slow does not serialise", test_slow_does_not_serialise);
	CU_add_test(s, "threads share a dev", test_threads_share_dev);
	CU_add_test(s, "udp", test_udp);
	CU_add_test(s, "fixture personality", test_fixture_personality);
	CU_add_test(s, "host names", test_names);
	CU_add_test(s, "control errors", test_control_errors);
	return tu_run_cunit();
}
