/* test_kasa_discovery_mount.c — Kasa discovery in the daemon, on real mounts,
 * against kasa-sim processes; and the provider's events in-process.
 *
 * Suite "discovery" (loopback): simulators on 127.0.0.2.. with one port
 * number P, found by `redfishfs --kasa-discover=127.255.255.255:P
 * --discover-interval 1`: all in one round (checked within 2 s of starting
 * the daemon), a clash of aliases (_2), a device also given with --kasa
 * shown once, a device started while mounted, a device restarted on another
 * address with the same deviceId followed (same name, readable, writable),
 * and a device refusing a command (err_code != 0: EIO, one log line).
 * Suite "fixtures": every fixture model as a discovered strip: outlet count,
 * meters present or absent, each outlet switched, meter readings and strip
 * totals exactly as the simulator reports them.
 * Suite "events" (in-process, no mount): the provider's events for a
 * KLAP-only device (one report however many rounds) and a refusing device.
 * Suite "netns": a client namespace with a bridge and one namespace per
 * device (veth), simulators on 0.0.0.0:9999 as real devices are, a
 * KLAP-only fake on UDP 20002; the daemon runs in the client namespace
 * (nsenter --net: the mount stays visible here) with the default ports and
 * the subnet's broadcast address. Run with the argument "netns" (a test of
 * its own in tests/meson.build); exits 77 (a meson SKIP) where namespaces
 * cannot be made. Namespaces are rfkm<pid>*, removed on
 * every exit path the process controls.
 *
 * Skips (exit 77) without /dev/fuse. Never broadcasts beyond 127/8 or the
 * namespaces it made. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kasa.h"
#include "provider.h"
#include "redfish.h"
#include "testutil.h"

#define RACKPDUS "PowerEquipment/RackPDUs"

static struct tu_mount mnt;
static bool mounted;

/* ---- helpers --------------------------------------------------------------- */

static const char *shared_dir(void)
{
	const char *s = getenv("SHARED_DIR");

	return s && *s ? s : "../shared";
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A path under the mount. */
#define P(...) tu_path(mnt.mnt, __VA_ARGS__)

static bool value_is(const char *path, const char *want)
{
	char *v = tu_value(path);
	bool ok = v && !strcmp(v, want);

	free(v);
	return ok;
}

/* Wait up to ms for path to exist; elapsed ms or -1. */
static int64_t wait_exists(const char *path, int ms)
{
	int64_t t0 = tu_now_ms();
	struct stat st;

	for (;;) {
		if (stat(path, &st) == 0)
			return tu_now_ms() - t0;
		if (tu_now_ms() - t0 > ms)
			return -1;
		sleep_ms(20);
	}
}

/* Wait up to ms for path to hold want; elapsed ms or -1 (prints what it saw). */
static int64_t wait_value(const char *path, const char *want, int ms)
{
	int64_t t0 = tu_now_ms();

	for (;;) {
		char *v = tu_value(path);
		bool ok = v && !strcmp(v, want);

		if (ok) {
			free(v);
			return tu_now_ms() - t0;
		}
		if (tu_now_ms() - t0 > ms) {
			fprintf(stderr, "\n  %s: '%s', want '%s'\n", path, v ? v : "(unreadable)", want);
			free(v);
			return -1;
		}
		free(v);
		sleep_ms(20);
	}
}

/* How often text occurs in the daemon's log. */
static int log_count(const char *text)
{
	char *log = tu_read_file(mnt.log, NULL);
	int n = 0;

	for (const char *p = log; p && (p = strstr(p, text)); p += strlen(text))
		n++;
	free(log);
	return n;
}

/* Subdirectories of dir (resources of a collection, outlets). */
static int count_dirs(const char *dir)
{
	char *out = NULL;
	int n = -1;

	if (tu_sh_out(&out, "find -H '%s' -mindepth 1 -maxdepth 1 -type d | wc -l", dir) == 0 && out)
		n = atoi(out);
	free(out);
	return n;
}

/* echo VALUE > path in bash: the exit status; its stderr in *ret_err. */
static int shell_write(const char *path, const char *v, char **ret_err)
{
	char *out = NULL;
	int st = tu_sh_out(&out, "echo %s 2>&1 > '%s' || { echo FAILED; exit 1; }", v, path);

	if (ret_err)
		*ret_err = out;
	else
		free(out);
	return st;
}

static void sim_expect(struct tu_sim *s, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sim_expect(struct tu_sim *s, const char *want, const char *fmt, ...)
{
	char cmd[256], *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = tu_sim_cmd(s, "%s", cmd);
	if (!r || strcmp(r, want) != 0)
		fprintf(stderr, "\n  sim '%s': '%s', want '%s'\n", cmd, r ? r : "(null)", want);
	CU_ASSERT(r && !strcmp(r, want));
	free(r);
}

/* kasa-sim as device id on addr:port; model "hs300", "plug" or a fixture
 * file name (in shared/fixtures/kasa/iot). */
static int sim_at(struct tu_sim *sim, const char *model, const char *alias, const char *id,
		  const char *addr, uint16_t port)
{
	char m[512], listen[64];
	const char *extra[] = { "--listen", listen, "--device-id", id, NULL };

	if (strchr(model, '.'))
		snprintf(m, sizeof(m), "%s/fixtures/kasa/iot/%s", shared_dir(), model);
	else
		snprintf(m, sizeof(m), "%s", model);
	snprintf(listen, sizeof(listen), "%s:%u", addr, (unsigned)port);
	return tu_sim_start(sim, m, alias, extra);
}

/* Start the daemon; on failure print its log. */
static int mount_start(const char *const *args)
{
	int r = tu_mount_start(&mnt, args);

	mounted = r == 0;
	return r;
}

static void mount_stop(void)
{
	if (!mounted)
		return;
	if (getenv("KEEP_LOG")) {
		char *log = tu_read_file(mnt.log, NULL);

		fprintf(stderr, "--- daemon log ---\n%s------------------\n", log ? log : "");
		free(log);
	}
	tu_mount_stop(&mnt);
	mounted = false;
}

/* A reading as the tree writes it: rounded to 0.001, no trailing zeros. */
static void fmt_reading(char *buf, size_t size, double v)
{
	size_t n;

	snprintf(buf, size, "%.3f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

/* ---- suite "discovery" (loopback) ------------------------------------------- */

#define D_RACK1 "8006D10000000000000000000000000000000002"
#define D_RACK2 "8006D10000000000000000000000000000000003"
#define D_KETTLE "8006D10000000000000000000000000000000004"
#define D_DESK "8006D10000000000000000000000000000000005"
#define D_PORCH "8006D10000000000000000000000000000000006"

static uint16_t d_port;
static struct tu_sim d_rack1, d_rack2, d_kettle, d_desk, d_porch;
static int64_t d_started;   /* when the daemon was started */

static int disc_init(void)
{
	char kasa_arg[64], disc_arg[64];
	const char *args[] = { disc_arg, "--discover-interval", "1", "--poll", "1",
			       "--timeout", "300", "--max-age", "200", "--kasa", kasa_arg, NULL };

	d_port = tu_free_port(0);
	if (!d_port)
		return -1;
	if (sim_at(&d_rack1, "hs300", "Rack A", D_RACK1, "127.0.0.2", d_port) < 0 ||
	    sim_at(&d_rack2, "plug", "Rack A", D_RACK2, "127.0.0.3", d_port) < 0 ||
	    sim_at(&d_kettle, "plug", "Kettle", D_KETTLE, "127.0.0.4", d_port) < 0 ||
	    sim_at(&d_desk, "hs300", "Desk", D_DESK, "127.0.0.5", d_port) < 0)
		return -1;
	snprintf(disc_arg, sizeof(disc_arg), "--kasa-discover=127.255.255.255:%u", (unsigned)d_port);
	snprintf(kasa_arg, sizeof(kasa_arg), "Fixed=127.0.0.5:%u", (unsigned)d_port);
	d_started = tu_now_ms();
	return mount_start(args) == 0 ? 0 : -1;
}

static int disc_clean(void)
{
	mount_stop();
	tu_sim_stop(&d_rack1);
	tu_sim_stop(&d_rack2);
	tu_sim_stop(&d_kettle);
	tu_sim_stop(&d_desk);
	tu_sim_stop(&d_porch);
	return 0;
}

static void test_one_round(void)
{
	char *id1, *id2;

	/* Every device of the first round, within 2 s of starting the daemon. */
	/* (A strip's PowerDistribution is installed last: its Model file means
	 * the whole strip is there.) */
	CU_ASSERT(wait_exists(P(RACKPDUS "/Rack_A/Model"), 2000) >= 0);
	CU_ASSERT(wait_exists(P(RACKPDUS "/Rack_A_2/Model"), 2000) >= 0);
	CU_ASSERT(wait_exists(P(RACKPDUS "/Kettle/Model"), 2000) >= 0);
	CU_ASSERT(tu_now_ms() - d_started <= 2000);
	fprintf(stderr, "\n  all discovered %lld ms after the daemon started\n",
		(long long)(tu_now_ms() - d_started));

	/* The configured device, also discovered, is shown once, as configured. */
	CU_ASSERT(value_is(P(RACKPDUS "/Fixed/Model"), "HS300(US)"));
	CU_ASSERT(access(P(RACKPDUS "/Desk"), F_OK) != 0);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 4);
	CU_ASSERT_EQUAL(count_dirs(P("Chassis")), 4);
	CU_ASSERT_EQUAL(count_dirs(P("Managers")), 4);

	/* The alias clash: two devices, two names, two deviceIds. */
	id1 = tu_value(P("Managers/Rack_A/Oem/TPLink/DeviceId"));
	id2 = tu_value(P("Managers/Rack_A_2/Oem/TPLink/DeviceId"));
	CU_ASSERT(id1 && id2 && strcmp(id1, id2) != 0);
	CU_ASSERT(id1 && (!strcmp(id1, D_RACK1) || !strcmp(id1, D_RACK2)));
	CU_ASSERT(id2 && (!strcmp(id2, D_RACK1) || !strcmp(id2, D_RACK2)));
	free(id1);
	free(id2);
	CU_ASSERT(value_is(P(RACKPDUS "/Kettle/UserLabel"), "Kettle"));
	CU_ASSERT(value_is(P(RACKPDUS "/Kettle/Status/State"), "Enabled"));
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS "/Kettle/Outlets")), 1);
	/* Discovered meters are read right after: a reading, not null. */
	CU_ASSERT(wait_exists(P(RACKPDUS "/Kettle/Outlets/1/PowerWatts/Reading"), 1000) >= 0);
	CU_ASSERT(!value_is(P(RACKPDUS "/Kettle/Outlets/1/PowerWatts/Reading"), ""));
	/* The Chassis alias works for discovered strips too. */
	CU_ASSERT(value_is(P("Chassis/Kettle/Outlets/1/PowerState"), "On"));

	/* Several rounds later: still one strip per device, one log line each. */
	sleep_ms(1500);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 4);
	CU_ASSERT_EQUAL(log_count("found at"), 3);
	CU_ASSERT_EQUAL(log_count("found at 127.0.0.5"), 0);
}

static void test_new_device(void)
{
	int64_t dt;

	CU_ASSERT_EQUAL_FATAL(sim_at(&d_porch, "plug", "Porch light", D_PORCH, "127.0.0.6", d_port), 0);
	dt = wait_exists(P(RACKPDUS "/Porch_light/Model"), 2500);
	CU_ASSERT(dt >= 0);
	fprintf(stderr, "\n  new device in the mount after %lld ms\n", (long long)dt);
	CU_ASSERT(value_is(P(RACKPDUS "/Porch_light/Outlets/1/PowerState"), "On"));
	CU_ASSERT_EQUAL(shell_write(P(RACKPDUS "/Porch_light/Outlets/1/PowerState"), "Off", NULL), 0);
	sim_expect(&d_porch, "ok off", "state 1");
	CU_ASSERT(value_is(P(RACKPDUS "/Porch_light/Outlets/1/PowerState"), "Off"));
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 5);
}

static void test_moved(void)
{
	tu_sim_stop(&d_kettle);
	CU_ASSERT(wait_value(P(RACKPDUS "/Kettle/Status/State"), "UnavailableOffline", 3000) >= 0);
	CU_ASSERT(value_is(P(RACKPDUS "/Kettle/Outlets/1/PowerState"), ""));   /* null */

	/* The same device (deviceId) comes back on another address. */
	CU_ASSERT_EQUAL_FATAL(sim_at(&d_kettle, "plug", "Kettle", D_KETTLE, "127.0.0.7", d_port), 0);
	CU_ASSERT(wait_value(P(RACKPDUS "/Kettle/Status/State"), "Enabled", 3000) >= 0);
	CU_ASSERT(value_is(P(RACKPDUS "/Kettle/Outlets/1/PowerState"), "On"));
	CU_ASSERT(access(P(RACKPDUS "/Kettle_2"), F_OK) != 0);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 5);
	CU_ASSERT_EQUAL(shell_write(P(RACKPDUS "/Kettle/Outlets/1/PowerState"), "Off", NULL), 0);
	sim_expect(&d_kettle, "ok off", "state 1");
	CU_ASSERT(value_is(P(RACKPDUS "/Kettle/Outlets/1/PowerState"), "Off"));
	CU_ASSERT_EQUAL(log_count("strip Kettle moved from 127.0.0.4 to 127.0.0.7"), 1);
}

static void test_device_error(void)
{
	const char *ps = RACKPDUS "/Porch_light/Outlets/1/PowerState";
	char *err = NULL;

	sim_expect(&d_porch, "ok", "fail set_relay_state -13 device busy");
	CU_ASSERT_NOT_EQUAL(shell_write(P("%s", ps), "On", &err), 0);
	CU_ASSERT(err && strstr(err, "Input/output error"));
	free(err);
	CU_ASSERT_NOT_EQUAL(shell_write(P("%s", ps), "On", NULL), 0);
	/* The device is still there: it refused, it did not vanish. */
	CU_ASSERT(value_is(P(RACKPDUS "/Porch_light/Status/State"), "Enabled"));
	CU_ASSERT(value_is(P("%s", ps), "Off"));
	CU_ASSERT_EQUAL(log_count("set_relay_state: the device answered err_code -13: device busy"), 1);

	sim_expect(&d_porch, "ok", "fail off");
	CU_ASSERT_EQUAL(shell_write(P("%s", ps), "On", NULL), 0);
	sim_expect(&d_porch, "ok on", "state 1");
	/* Refused again after working: a new line. */
	sim_expect(&d_porch, "ok", "fail set_relay_state -13 device busy");
	CU_ASSERT_NOT_EQUAL(shell_write(P("%s", ps), "Off", NULL), 0);
	CU_ASSERT_EQUAL(log_count("set_relay_state: the device answered err_code -13: device busy"), 2);
	sim_expect(&d_porch, "ok", "fail off");
}

/* Option errors (before any broadcast). Listing devices is the Kasa tool's
 * (redfishfs-kasa list, tested in test_kasa_discover): the daemon has no
 * listing of its own. */
static void test_kasa_list(void)
{
	const char *exe = getenv("REDFISHFS");
	char *out = NULL;
	int st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(exe);
	st = tu_sh_out(&out, "'%s' --kasa-list=127.255.255.255:%u 2>&1", exe, (unsigned)d_port);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "unknown option '--kasa-list="));
	free(out);
	/* A bare --kasa-discover takes no argument: the next one is the mount point. */
	st = tu_sh_out(&out, "'%s' --kasa-discover --timeout 300 /nonexistent/x 2>&1", exe);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "/nonexistent"));
	free(out);
	st = tu_sh_out(&out, "'%s' --kasa-discover=lan.example.org /nonexistent 2>&1", exe);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "numeric IPv4"));
	free(out);
	st = tu_sh_out(&out, "'%s' --kasa-discover=127.255.255.255:1 --discover-interval 0 "
		       "/nonexistent 2>&1", exe);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "--discover-interval"));
	free(out);
}

/* ---- suite "fixtures" --------------------------------------------------------- */

struct fixture {
	const char *file;
	const char *name;      /* the strip name from the alias "Fx <name>" */
	const char *model;
	int outlets;
	bool meter;
};

static const struct fixture fixtures[] = {
	{ "HS300(US)_2.0_1.0.12.json", "HS300", "HS300(US)", 6, true },
	{ "KP303(US)_2.0_1.0.9.json", "KP303", "KP303(US)", 3, false },
	{ "KP400(US)_3.0_1.0.4.json", "KP400", "KP400(US)", 2, false },
	{ "EP40(US)_1.0_1.0.2.json", "EP40", "EP40(US)", 2, false },
	{ "HS110(US)_1.0_1.2.6.json", "HS110", "HS110(US)", 1, true },
	{ "KP115(US)_1.0_1.0.21.json", "KP115", "KP115(US)", 1, true },
	{ "HS100(US)_2.0_1.5.6.json", "HS100", "HS100(US)", 1, false },
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static struct tu_sim fx_sims[N_FIXTURES];

static int fx_init(void)
{
	uint16_t port = tu_free_port(d_port);
	char disc_arg[64];
	const char *args[] = { disc_arg, "--discover-interval", "1", "--poll", "1",
			       "--timeout", "500", "--max-age", "200", NULL };

	if (!port)
		return -1;
	for (size_t i = 0; i < N_FIXTURES; i++) {
		char alias[32], id[48], addr[32];

		snprintf(alias, sizeof(alias), "Fx %s", fixtures[i].name);
		snprintf(id, sizeof(id), "8006F1%034zu", i);
		snprintf(addr, sizeof(addr), "127.0.0.%zu", 20 + i);
		if (sim_at(&fx_sims[i], fixtures[i].file, alias, id, addr, port) < 0) {
			fprintf(stderr, "cannot start kasa-sim --model %s\n", fixtures[i].file);
			return -1;
		}
	}
	snprintf(disc_arg, sizeof(disc_arg), "--kasa-discover=127.255.255.255:%u", (unsigned)port);
	return mount_start(args) == 0 ? 0 : -1;
}

static int fx_clean(void)
{
	mount_stop();
	for (size_t i = 0; i < N_FIXTURES; i++)
		tu_sim_stop(&fx_sims[i]);
	return 0;
}

static void test_fixture_shapes(void)
{
	for (size_t i = 0; i < N_FIXTURES; i++) {
		const struct fixture *f = &fixtures[i];
		char pdu[64];

		snprintf(pdu, sizeof(pdu), RACKPDUS "/Fx_%s", f->name);
		if (wait_exists(P("%s/Model", pdu), 2000) < 0) {
			fprintf(stderr, "\n  %s not discovered\n", f->file);
			CU_FAIL("fixture not discovered");
			continue;
		}
		CU_ASSERT(value_is(P("%s/Model", pdu), f->model));
		CU_ASSERT_EQUAL(count_dirs(P("%s/Outlets", pdu)), f->outlets);
		CU_ASSERT(access(P("%s/Outlets/%d", pdu, f->outlets + 1), F_OK) != 0);
		/* Meters where the device has them; absent, not null, elsewhere. */
		for (int o = 1; o <= f->outlets; o++) {
			CU_ASSERT_EQUAL(access(P("%s/Outlets/%d/PowerWatts/Reading", pdu, o), F_OK) == 0,
					f->meter);
			CU_ASSERT_EQUAL(access(P("%s/Outlets/%d/EnergykWh", pdu, o), F_OK) == 0, f->meter);
			CU_ASSERT_EQUAL(access(P("%s/Outlets/%d/Actions/Outlet.ResetMetrics", pdu, o),
					       F_OK) == 0, f->meter);
		}
		CU_ASSERT_EQUAL(access(P("%s/Metrics", pdu), F_OK) == 0, f->meter);
		CU_ASSERT_EQUAL(count_dirs(P("Chassis/Fx_%s/Outlets", f->name)), f->outlets);
	}
}

static void test_fixture_switching(void)
{
	for (size_t i = 0; i < N_FIXTURES; i++) {
		const struct fixture *f = &fixtures[i];

		for (int o = 1; o <= f->outlets; o++) {
			char *ps = P(RACKPDUS "/Fx_%s/Outlets/%d/PowerState", f->name, o);

			CU_ASSERT_EQUAL(shell_write(ps, "Off", NULL), 0);
			sim_expect(&fx_sims[i], "ok off", "state %d", o);
			CU_ASSERT(value_is(ps, "Off"));
			CU_ASSERT_EQUAL(shell_write(ps, "on", NULL), 0);
			sim_expect(&fx_sims[i], "ok on", "state %d", o);
			CU_ASSERT(value_is(ps, "On"));
		}
	}
}

/* Readings in the mount are exactly what the simulator reports; the strip
 * totals are their sums. */
static void test_fixture_meters(void)
{
	for (size_t i = 0; i < N_FIXTURES; i++) {
		const struct fixture *f = &fixtures[i];
		double sum_w = 0, sum_kwh = 0;
		char want[32];

		if (!f->meter)
			continue;
		for (int o = 1; o <= f->outlets; o++) {
			double mw = 1111.0 * o + 7, mv = 120000.0 + 123 * o, ma = 10.0 * o + 3,
			       wh = 100.0 * o + 21;
			char *r = tu_sim_cmd(&fx_sims[i], "meter %d %.0f %.0f %.0f %.0f", o, mw, mv, ma, wh);

			CU_ASSERT(r && !strcmp(r, "ok"));
			free(r);
			sum_w += mw / 1000;
			sum_kwh += wh / 1000;
		}
		for (int o = 1; o <= f->outlets; o++) {
			fmt_reading(want, sizeof(want), (1111.0 * o + 7) / 1000);
			CU_ASSERT(wait_value(P(RACKPDUS "/Fx_%s/Outlets/%d/PowerWatts/Reading", f->name, o),
					     want, 1500) >= 0);
			fmt_reading(want, sizeof(want), (120000.0 + 123 * o) / 1000);
			CU_ASSERT(value_is(P(RACKPDUS "/Fx_%s/Outlets/%d/Voltage/Reading", f->name, o), want));
			fmt_reading(want, sizeof(want), (10.0 * o + 3) / 1000);
			CU_ASSERT(value_is(P(RACKPDUS "/Fx_%s/Outlets/%d/CurrentAmps/Reading", f->name, o),
					   want));
			fmt_reading(want, sizeof(want), (100.0 * o + 21) / 1000);
			CU_ASSERT(value_is(P(RACKPDUS "/Fx_%s/Outlets/%d/EnergykWh/Reading", f->name, o), want));
		}
		fmt_reading(want, sizeof(want), sum_w);
		CU_ASSERT(wait_value(P(RACKPDUS "/Fx_%s/Metrics/PowerWatts/Reading", f->name), want, 1500) >= 0);
		fmt_reading(want, sizeof(want), sum_kwh);
		CU_ASSERT(value_is(P(RACKPDUS "/Fx_%s/Metrics/EnergykWh/Reading", f->name), want));
	}
}

/* ---- suite "events" (in-process) ----------------------------------------------- */

struct ev {
	enum kasa_event ev;
	char addr[48];
	char strip[80];
	char msg[400];
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev evs[64];
static size_t n_evs;

static void on_event(void *userdata, enum kasa_event ev, const char *strip, const char *addr,
		     int err, const char *message)
{
	(void)userdata;
	(void)err;
	pthread_mutex_lock(&ev_lock);
	if (n_evs < sizeof(evs) / sizeof(evs[0])) {
		evs[n_evs].ev = ev;
		snprintf(evs[n_evs].addr, sizeof(evs[0].addr), "%s", addr ? addr : "");
		snprintf(evs[n_evs].strip, sizeof(evs[0].strip), "%s", strip ? strip : "");
		snprintf(evs[n_evs].msg, sizeof(evs[0].msg), "%s", message ? message : "(null)");
		n_evs++;
	}
	pthread_mutex_unlock(&ev_lock);
}

static size_t ev_count(enum kasa_event ev, const char *text)
{
	size_t n = 0;

	pthread_mutex_lock(&ev_lock);
	for (size_t i = 0; i < n_evs; i++)
		if (evs[i].ev == ev && (!text || strstr(evs[i].msg, text) || strstr(evs[i].addr, text)))
			n++;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

/* A KLAP-only device: answers the newer probe on reply_fd's port. */
struct klap_fake {
	int bcast, reply, stop[2];
	uint8_t msg[4096];
	size_t len;
	pthread_t thread;
};

/* The 16-byte header and the HS100(UK) fixture's discovery_result. */
static int klap_reply(uint8_t *buf, size_t size, size_t *ret_len)
{
	char path[512];
	json_object *root, *dr;
	const char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/fixtures/kasa/iot/HS100(UK)_4.1_1.1.0.json", shared_dir());
	root = json_object_from_file(path);
	if (!root || !json_object_object_get_ex(root, "discovery_result", &dr)) {
		json_object_put(root);
		return -ENOENT;
	}
	text = json_object_to_json_string_ext(dr, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	if (len + 16 > size) {
		json_object_put(root);
		return -E2BIG;
	}
	memset(buf, 0, 16);
	buf[0] = 0x02;
	buf[3] = 0x01;
	buf[4] = (uint8_t)(len >> 8);
	buf[5] = (uint8_t)len;
	buf[6] = 0x11;
	memcpy(buf + 16, text, len);
	*ret_len = len + 16;
	json_object_put(root);
	return 0;
}

/* Answer every 16-byte probe on the fds until stop_fd is readable. */
static void klap_serve(int bcast, int reply, int stop_fd, const uint8_t *msg, size_t len)
{
	for (;;) {
		struct pollfd p[3] = { { .fd = stop_fd, .events = POLLIN },
				       { .fd = bcast, .events = POLLIN },
				       { .fd = reply, .events = POLLIN } };
		uint8_t buf[256];

		if (poll(p, stop_fd >= 0 ? 3 : 2, 5000) < 0 && errno != EINTR)
			return;
		if (stop_fd >= 0 && p[0].revents)
			return;
		for (int i = 1; i <= 2; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & POLLIN))
				continue;
			n = recvfrom(p[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n == 16 && buf[0] == 0x02)
				sendto(reply, msg, len, 0, (struct sockaddr *)&from, fl);
		}
	}
}

static void *klap_thread(void *arg)
{
	struct klap_fake *k = arg;

	klap_serve(k->bcast, k->reply, k->stop[0], k->msg, k->len);
	return NULL;
}

static void test_events(void)
{
	uint16_t port = tu_free_port(0), new_port = tu_free_port(port);
	struct klap_fake k = { .bcast = -1, .reply = -1, .stop = { -1, -1 } };
	struct tu_sim sim;
	struct rf_tree *t;
	struct kasa_provider *kp;
	int r;

	CU_ASSERT_FATAL(port && new_port);
	CU_ASSERT_EQUAL_FATAL(klap_reply(k.msg, sizeof(k.msg), &k.len), 0);
	k.bcast = tu_udp_bound("127.255.255.255", new_port);
	k.reply = tu_udp_bound("127.0.0.31", new_port);
	CU_ASSERT_FATAL(k.bcast >= 0 && k.reply >= 0 && pipe2(k.stop, O_CLOEXEC) == 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&k.thread, NULL, klap_thread, &k), 0);
	CU_ASSERT_EQUAL_FATAL(sim_at(&sim, "plug", "Lamp", "8006E70000000000000000000000000000000032",
				     "127.0.0.32", port), 0);

	t = rf_tree_new(NULL);
	kp = kasa_provider_new(t, 300, 60);
	CU_ASSERT_FATAL(t && kp);
	n_evs = 0;
	kasa_provider_set_events(kp, on_event, NULL);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.255", port, new_port, 1), 0);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.255", port, new_port, 1), -EEXIST);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "not-an-address", port, new_port, 1), -EINVAL);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.255", port, port, 1), -EINVAL);
	CU_ASSERT_EQUAL(kasa_provider_start(kp), 0);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.254", port, 0, 1), -EBUSY);
	sleep_ms(2600);   /* three rounds */

	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_UNSUPPORTED, NULL), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_UNSUPPORTED, "127.0.0.31"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_UNSUPPORTED, "KLAP"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_UNSUPPORTED, "HS100(UK)"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, "127.0.0.32"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, NULL), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DISCOVERY_FAILED, NULL), 0);

	/* A refusal: -EIO, one event for a run of the same refusal. */
	sim_expect(&sim, "ok", "fail set_relay_state -7 not today");
	r = rf_tree_write(t, RACKPDUS "/Lamp/Outlets/1/PowerState", "Off", 3);
	CU_ASSERT_EQUAL(r, -EIO);
	r = rf_tree_write(t, RACKPDUS "/Lamp/Outlets/1/PowerState", "Off", 3);
	CU_ASSERT_EQUAL(r, -EIO);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DEVICE_ERROR, NULL), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DEVICE_ERROR,
				 "set_relay_state: the device answered err_code -7: not today"), 1);
	sim_expect(&sim, "ok", "fail off");
	CU_ASSERT_EQUAL(rf_tree_write(t, RACKPDUS "/Lamp/Outlets/1/PowerState", "Off", 3), 0);
	sim_expect(&sim, "ok off", "state 1");

	kp = kasa_provider_free(kp);
	rf_tree_free(t);
	tu_sim_stop(&sim);
	if (write(k.stop[1], "x", 1) == 1)
		pthread_join(k.thread, NULL);
	close(k.bcast);
	close(k.reply);
	close(k.stop[0]);
	close(k.stop[1]);
}

/* A meter failing on every poll gives one event, and the poll still works. */
static void test_events_meter(void)
{
	uint16_t port = tu_free_port(0);
	struct tu_sim sim;
	struct rf_tree *t;
	struct kasa_provider *kp;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_EQUAL_FATAL(sim_at(&sim, "plug", "Meter", "8006E70000000000000000000000000000000033",
				     "127.0.0.33", port), 0);
	t = rf_tree_new(NULL);
	kp = kasa_provider_new(t, 300, 1);
	CU_ASSERT_FATAL(t && kp);
	n_evs = 0;
	kasa_provider_set_events(kp, on_event, NULL);
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.255", port, 0, 60), 0);
	sim_expect(&sim, "ok", "fail get_realtime -9 meter broken");
	CU_ASSERT_EQUAL(kasa_provider_start(kp), 0);
	sleep_ms(3300);   /* the first poll and three more */
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, NULL), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DEVICE_ERROR,
				 "emeter.get_realtime: the device answered err_code -9: meter broken"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DEVICE_ERROR, NULL), 1);
	{
		struct rf_doc *d = rf_tree_get_doc(t, RF_ROOT "/" RACKPDUS "/Meter/Outlets/1", NULL);

		json_object *o = d ? json_tokener_parse(d->json) : NULL, *v, *w;

		CU_ASSERT_PTR_NOT_NULL(o);
		CU_ASSERT(json_object_object_get_ex(o, "PowerState", &v) &&
			  !strcmp(json_object_get_string(v), "On"));
		CU_ASSERT(json_object_object_get_ex(o, "PowerWatts", &v) &&
			  json_object_object_get_ex(v, "Reading", &w) && w == NULL);
		json_object_put(o);
		rf_doc_unref(d);
	}
	kp = kasa_provider_free(kp);
	rf_tree_free(t);
	tu_sim_stop(&sim);
}

/* A value of a resource in the tree (malloc'd JSON text of key), or NULL. */
static char *tree_value(struct rf_tree *t, const char *uri, const char *key)
{
	struct rf_doc *d = rf_tree_get_doc(t, uri, NULL);
	json_object *o = d ? json_tokener_parse(d->json) : NULL, *v;
	char *r = NULL;

	if (o && json_object_object_get_ex(o, key, &v))
		r = strdup(v ? json_object_get_string(v) : "null");
	json_object_put(o);
	rf_doc_unref(d);
	return r;
}

/* KLAP and AES devices that answer discovery (UDP "20002") become strips
 * asked over HTTP with the provider's account; one with another account
 * is shown offline and refuses writes with EACCES. */
static void test_klap_aes_found(void)
{
	uint16_t port = tu_free_port(0), new_port = tu_free_port(port);
	struct tu_sim klap, aes, other;
	struct rf_tree *t;
	struct kasa_provider *kp;
	char dp[8], lk[32], la[32], lo[32], fk[512], fa[512];
	char *v;

	CU_ASSERT_FATAL(port && new_port);
	snprintf(dp, sizeof(dp), "%u", (unsigned)new_port);
	snprintf(lk, sizeof(lk), "127.0.0.36:%u", (unsigned)port);
	snprintf(la, sizeof(la), "127.0.0.37:%u", (unsigned)port);
	snprintf(lo, sizeof(lo), "127.0.0.38:%u", (unsigned)port);
	snprintf(fk, sizeof(fk), "%s/fixtures/kasa/smart/P304M(UK)_1.0_1.0.3.json", shared_dir());
	snprintf(fa, sizeof(fa), "%s/fixtures/kasa/smart/KP125M(US)_1.0_1.1.3.json", shared_dir());
	{
		const char *ek[] = { "--listen", lk, "--discovery-port", dp, "--device-id", "8006E700036",
				     "--username", "me@example.com", "--password", "pw1", NULL };
		const char *ea[] = { "--listen", la, "--discovery-port", dp, "--device-id", "8006E700037",
				     "--username", "me@example.com", "--password", "pw1", NULL };
		const char *eo[] = { "--listen", lo, "--discovery-port", dp, "--device-id", "8006E700038",
				     "--username", "someone@else", "--password", "pw2", NULL };

		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&klap, fk, "Rack K", ek), 0);
		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&aes, fa, "Kettle A", ea), 0);
		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&other, fk, "Not Ours", eo), 0);
	}
	t = rf_tree_new(NULL);
	kp = kasa_provider_new(t, 500, 1);
	CU_ASSERT_FATAL(t && kp);
	n_evs = 0;
	kasa_provider_set_events(kp, on_event, NULL);
	kasa_provider_set_creds(kp, kasa_creds_new("me@example.com", "pw1"));
	CU_ASSERT_EQUAL(kasa_provider_add_discovery(kp, "127.255.255.255", port, new_port, 2), 0);
	CU_ASSERT_EQUAL(kasa_provider_start(kp), 0);
	sleep_ms(2500);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, "127.0.0.36"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, "127.0.0.37"), 1);
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_UNSUPPORTED, NULL), 0);
	v = tree_value(t, RF_ROOT "/" RACKPDUS "/Rack_K/Outlets", "Members@odata.count");
	CU_ASSERT(v && strcmp(v, "4") == 0);
	free(v);
	v = tree_value(t, RF_ROOT "/" RACKPDUS "/Rack_K/Outlets/2", "UserLabel");
	CU_ASSERT(v && strcmp(v, "Plug 2") == 0);
	free(v);
	CU_ASSERT_EQUAL(rf_tree_write(t, RACKPDUS "/Rack_K/Outlets/2/PowerState", "On", 2), 0);
	sim_expect(&klap, "ok on", "state 2");
	v = tree_value(t, RF_ROOT "/" RACKPDUS "/Kettle_A/Outlets/1", "PowerState");
	CU_ASSERT(v && strcmp(v, "On") == 0);
	free(v);
	/* found by a later round too: not added twice */
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_FOUND, NULL), 2);
	/* the device with another account: offline, EACCES, said once */
	CU_ASSERT_EQUAL(ev_count(KASA_EVENT_DEVICE_ERROR, "credentials refused"), 1);
	CU_ASSERT_EQUAL(rf_tree_write(t, RACKPDUS "/127.0.0.38/Outlets/1/PowerState", "On", 2) < 0, 1);
	v = tree_value(t, RF_ROOT "/" RACKPDUS "/127.0.0.38", "Status");
	CU_ASSERT(v && strstr(v, "UnavailableOffline"));
	free(v);
	kp = kasa_provider_free(kp);
	rf_tree_free(t);
	tu_sim_stop(&klap);
	tu_sim_stop(&aes);
	tu_sim_stop(&other);
}

/* ---- suite "netns" ------------------------------------------------------------ */

#define NS_DEVS 5          /* 0..2 simulators, 3 a KLAP-only fake, 4 started later */
#define NS_NET "10.78.1"
#define NS_KLAP 3
#define NS_LATE 4

static struct tu_netns ns;
static char ns_wrapper[256];
static char *ns_saved_redfishfs;

static void ns_teardown(void)
{
	tu_netns_teardown(&ns);
	if (ns_wrapper[0])
		unlink(ns_wrapper);
	ns_wrapper[0] = '\0';
}

/* The KLAP fake, in the forked child of tu_netns_run: answers the newer
 * probe on 0.0.0.0:20002 until killed. */
struct ns_klap {
	uint8_t msg[4096];
	size_t len;
};

static int ns_klap_child(void *arg)
{
	const struct ns_klap *k = arg;
	int u = tu_udp_bound("0.0.0.0", KASA_DISCOVERY_PORT_NEW);

	if (u < 0)
		return 1;
	if (write(STDOUT_FILENO, "ready port=20002\n", 17) != 17)
		return 1;
	klap_serve(u, u, -1, k->msg, k->len);
	return 0;
}

/* Start a child in device namespace i: kasa-sim on 0.0.0.0:9999 (hs300 for
 * even i, plug for odd), or the KLAP fake on 0.0.0.0:20002. */
static int ns_start(int i)
{
	const char *sim = getenv("KASA_SIM");
	char alias[32], id[48];
	const char *argv[] = { sim, "--model", i % 2 ? "plug" : "hs300", "--listen", "0.0.0.0:9999",
			       "--device-id", id, "--alias", alias, NULL };

	if (!sim)
		return -ENOENT;
	if (i == NS_KLAP) {
		struct ns_klap k;

		if (klap_reply(k.msg, sizeof(k.msg), &k.len) < 0)
			return -ENOENT;
		return tu_netns_run(&ns, (size_t)i, ns_klap_child, &k, "ready port=");
	}
	snprintf(alias, sizeof(alias), "NS %d", i);
	snprintf(id, sizeof(id), "8006EF%034d", i);
	return tu_netns_exec(&ns, (size_t)i, argv, "ready port=");
}

static int ns_setup(void)
{
	if (tu_sh("command -v nsenter >/dev/null") != 0) {
		snprintf(ns.skip_reason, sizeof(ns.skip_reason), "nsenter not found");
		return -1;
	}
	return tu_netns_setup(&ns, "rfkm", NS_NET, NS_DEVS);
}

static int64_t ns_started;

static int ns_init(void)
{
	const char *real = getenv("REDFISHFS");
	const char *args[] = { "--kasa-discover=" NS_NET ".255", "--discover-interval", "1",
			       "--poll", "1", "--timeout", "300", "--max-age", "200", NULL };
	FILE *f;
	int r;

	for (int i = 0; i < NS_DEVS; i++)
		if (i != NS_LATE && ns_start(i) < 0) {
			fprintf(stderr, "cannot start device %d in namespace %s\n", i, ns.dev[i]);
			return -1;
		}
	/* The daemon in the client's network namespace only: nsenter --net
	 * keeps our mount namespace, so the mount is visible here. */
	if (!real)
		return -1;
	snprintf(ns_wrapper, sizeof(ns_wrapper), "/tmp/rfkm%d-redfishfs.sh", (int)getpid());
	f = fopen(ns_wrapper, "w");
	if (!f)
		return -1;
	fprintf(f, "#!/bin/sh\nexec nsenter --net=/run/netns/%s '%s' \"$@\"\n", ns.client, real);
	fclose(f);
	chmod(ns_wrapper, 0700);
	ns_saved_redfishfs = strdup(real);
	setenv("REDFISHFS", ns_wrapper, 1);
	ns_started = tu_now_ms();
	r = mount_start(args);
	setenv("REDFISHFS", ns_saved_redfishfs, 1);
	return r == 0 ? 0 : -1;
}

static int ns_clean(void)
{
	mount_stop();
	ns_teardown();
	free(ns_saved_redfishfs);
	ns_saved_redfishfs = NULL;
	return 0;
}

static void test_ns_round(void)
{
	CU_ASSERT(wait_exists(P(RACKPDUS "/NS_0/Model"), 2000) >= 0);
	CU_ASSERT(wait_exists(P(RACKPDUS "/NS_1/Model"), 2000) >= 0);
	CU_ASSERT(wait_exists(P(RACKPDUS "/NS_2/Model"), 2000) >= 0);
	CU_ASSERT(access(P(RACKPDUS "/NS_0/Outlets/6/PowerState"), F_OK) == 0);
	CU_ASSERT(tu_now_ms() - ns_started <= 2000);
	fprintf(stderr, "\n  netns: all discovered %lld ms after the daemon started\n",
		(long long)(tu_now_ms() - ns_started));
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 3);
	/* Several rounds: the KLAP-only device is reported exactly once. */
	sleep_ms(2200);
	CU_ASSERT_EQUAL(log_count("Kasa device at"), 1);
	CU_ASSERT_EQUAL(log_count("Kasa device at " NS_NET ".13 not supported: HS100(UK)"), 1);
	CU_ASSERT_EQUAL(log_count("KLAP"), 1);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 3);
	CU_ASSERT_EQUAL(shell_write(P(RACKPDUS "/NS_0/Outlets/3/PowerState"), "Off", NULL), 0);
	CU_ASSERT(value_is(P(RACKPDUS "/NS_0/Outlets/3/PowerState"), "Off"));
}

static void test_ns_new(void)
{
	CU_ASSERT_EQUAL_FATAL(ns_start(NS_LATE), 0);
	CU_ASSERT(wait_exists(P(RACKPDUS "/NS_4/Model"), 2500) >= 0);
	CU_ASSERT(access(P(RACKPDUS "/NS_4/Outlets/6/PowerState"), F_OK) == 0);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 4);
}

static void test_ns_moved(void)
{
	tu_netns_stop(&ns, 2);
	CU_ASSERT(wait_value(P(RACKPDUS "/NS_2/Status/State"), "UnavailableOffline", 3000) >= 0);
	CU_ASSERT_EQUAL_FATAL(tu_ip("-n %s addr flush dev eth0", ns.dev[2]), 0);
	CU_ASSERT_EQUAL_FATAL(tu_ip("-n %s addr add " NS_NET ".42/24 brd + dev eth0", ns.dev[2]), 0);
	CU_ASSERT_EQUAL_FATAL(ns_start(2), 0);
	CU_ASSERT(wait_value(P(RACKPDUS "/NS_2/Status/State"), "Enabled", 3000) >= 0);
	CU_ASSERT(access(P(RACKPDUS "/NS_2_2"), F_OK) != 0);
	CU_ASSERT_EQUAL(count_dirs(P(RACKPDUS)), 4);
	CU_ASSERT(value_is(P(RACKPDUS "/NS_2/Outlets/1/PowerState"), "On"));
	CU_ASSERT_EQUAL(shell_write(P(RACKPDUS "/NS_2/Outlets/1/PowerState"), "Off", NULL), 0);
	CU_ASSERT(value_is(P(RACKPDUS "/NS_2/Outlets/1/PowerState"), "Off"));
	CU_ASSERT_EQUAL(log_count("strip NS_2 moved from " NS_NET ".12 to " NS_NET ".42"), 1);
}

int main(int argc, char **argv)
{
	bool netns = tu_netns_wanted(argc, argv);
	CU_pSuite s;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no /dev/fuse: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (netns && tu_netns_or_skip(&ns, ns_setup, ns_teardown) != 0)
		return 77;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if (netns) {
		s = CU_add_suite("netns", ns_init, ns_clean);
		CU_add_test(s, "all devices in one round, KLAP reported once (netns)", test_ns_round);
		CU_add_test(s, "a device started while mounted (netns)", test_ns_new);
		CU_add_test(s, "a device on a new address is followed (netns)", test_ns_moved);
		return tu_run_cunit();
	}
	s = CU_add_suite("discovery", disc_init, disc_clean);
	CU_add_test(s, "every device in one round, a clash, a configured device once", test_one_round);
	CU_add_test(s, "a device started while mounted", test_new_device);
	CU_add_test(s, "a device on a new address is followed", test_moved);
	CU_add_test(s, "err_code != 0: EIO and one log line", test_device_error);
	CU_add_test(s, "option errors", test_kasa_list);
	s = CU_add_suite("fixtures", fx_init, fx_clean);
	CU_add_test(s, "outlet counts and meters of every fixture", test_fixture_shapes);
	CU_add_test(s, "each outlet of every fixture switches", test_fixture_switching);
	CU_add_test(s, "readings and totals match the simulator", test_fixture_meters);
	s = CU_add_suite("events", NULL, NULL);
	CU_add_test(s, "KLAP-only device reported once; a refusal once", test_events);
	CU_add_test(s, "a meter refusing every poll reported once", test_events_meter);
	CU_add_test(s, "KLAP and AES devices found by discovery", test_klap_aes_found);
	return tu_run_cunit();
}
