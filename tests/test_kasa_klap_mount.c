/* test_kasa_klap_mount.c — devices on current firmware through a real
 * mount: every SMART fixture of ../shared/fixtures/kasa/smart/ (EP40M and
 * P304M on KLAP v2, KP125M on AES) and the KLAP v1 IOT HS100, each served
 * by its own kasa-sim on loopback with a TP-Link account, mounted by one
 * redfishfs given that account (--kasa-user, --kasa-password-file).
 *
 * Checked in the mount: a SMART strip maps exactly like an IOT strip
 * (outlets by position, UserLabel from base64 nicknames, PowerState
 * writable, meters where the device has them, null where it lacks a
 * value), switching reaches the device, a press at the device shows,
 * renaming writes the nickname, sessions the device ended (control
 * "expire") are renewed without a failed read or write. A second mount
 * with a wrong password: the strip is UnavailableOffline, writes fail with
 * EACCES, the log says the credentials were refused once and never shows
 * the password. Skips (77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define USER "owner@example.com"
#define PASS "Pa55-for-tests-only"
#define PDUS "PowerEquipment/RackPDUs"

struct dev {
	const char *fixture, *name;
	size_t outlets;
	bool meter;
	struct tu_sim sim;
};

static struct dev devs[] = {
	{ "smart/EP40M(US)_1.0_1.1.0.json", "Porch", 2, false, { 0 } },
	{ "smart/P304M(UK)_1.0_1.0.3.json", "Rack", 4, true, { 0 } },
	{ "smart/KP125M(US)_1.0_1.1.3.json", "Coffee", 1, true, { 0 } },
	{ "iot/HS100(UK)_4.1_1.1.0.json", "Lamp", 1, false, { 0 } },
};
#define N_DEVS (sizeof(devs) / sizeof(devs[0]))

static struct tu_mount mnt;
static char pwfile[300], badfile[300];

static bool write_private(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* Wait until path reads want (2 s at most). */
static bool wait_value(const char *path, const char *want)
{
	int64_t end = tu_now_ms() + 3000;

	do {
		char *v = tu_value(path);
		bool ok = v && strcmp(v, want) == 0;

		free(v);
		if (ok)
			return true;
		usleep(50 * 1000);
	} while (tu_now_ms() < end);
	return false;
}

static void expect_value(const char *path, const char *want)
{
	char *v = tu_value(path);

	if (!v || strcmp(v, want) != 0)
		fprintf(stderr, "\n  %s: got '%s', want '%s'\n", path, v ? v : "(unreadable)", want);
	CU_ASSERT(v && strcmp(v, want) == 0);
	free(v);
}

static int write_value(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int suite_init(void)
{
	const char *dir = getenv("SHARED_DIR");
	const char *args[4 * N_DEVS + 16];
	char specs[N_DEVS][96], path[N_DEVS][512];
	size_t n = 0;

	snprintf(pwfile, sizeof(pwfile), "/tmp/rffs-klap-pw.%d", (int)getpid());
	if (!write_private(pwfile, PASS "\n"))
		return -1;
	for (size_t i = 0; i < N_DEVS; i++) {
		/* the HS100 is unbound: blank account, which is always tried */
		const char *const creds[] = { "--username", USER, "--password", PASS,
					      "--discovery-port", "0", NULL };
		const char *const blank[] = { "--discovery-port", "0", NULL };

		snprintf(path[i], sizeof(path[i]), "%s/fixtures/kasa/%s", dir ? dir : "../shared",
			 devs[i].fixture);
		if (tu_sim_start(&devs[i].sim, path[i], devs[i].name, i == 3 ? blank : creds) < 0)
			return -1;
		snprintf(specs[i], sizeof(specs[i]), "%s=127.0.0.1:%u", devs[i].name,
			 (unsigned)devs[i].sim.port);
		args[n++] = "--kasa";
		args[n++] = specs[i];
	}
	args[n++] = "--kasa-user";
	args[n++] = USER;
	args[n++] = "--kasa-password-file";
	args[n++] = pwfile;
	args[n++] = "--poll";
	args[n++] = "1";
	args[n++] = "--max-age";
	args[n++] = "200";
	args[n++] = "--timeout";
	args[n++] = "1000";
	args[n] = NULL;
	return tu_mount_start(&mnt, args) < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	tu_mount_stop(&mnt);
	for (size_t i = 0; i < N_DEVS; i++)
		tu_sim_stop(&devs[i].sim);
	unlink(pwfile);
	unlink(badfile);
	return 0;
}

/* Every device as a strip, outlets by position, names from nicknames. */
static void test_shape(void)
{
	for (size_t i = 0; i < N_DEVS; i++) {
		struct dev *d = &devs[i];
		char *count;

		expect_value(tu_path(mnt.mnt, PDUS "/%s/Status/State", d->name), "Enabled");
		expect_value(tu_path(mnt.mnt, "Chassis/%s/ChassisType", d->name), "PowerStrip");
		count = tu_value(tu_path(mnt.mnt, PDUS "/%s/Outlets/Members@odata.count", d->name));
		if (count) {
			char want[8];

			snprintf(want, sizeof(want), "%zu", d->outlets);
			CU_ASSERT_STRING_EQUAL(count, want);
		}
		free(count);
		for (size_t o = 1; o <= d->outlets; o++) {
			char label[32];

			snprintf(label, sizeof(label), "%s", d->outlets == 1 ? d->name : "");
			if (d->outlets > 1)
				snprintf(label, sizeof(label), "Plug %zu", o);
			expect_value(tu_path(mnt.mnt, PDUS "/%s/Outlets/%zu/UserLabel", d->name, o), label);
			expect_value(tu_path(mnt.mnt, PDUS "/%s/Outlets/%zu/Status/State", d->name, o),
				     "Enabled");
		}
	}
	/* the log says which account each session was made with */
	{
		char *log = tu_read_file(mnt.log, NULL);

		CU_ASSERT(log && strstr(log, "strip Rack at 127.0.0.1: signed in over KLAP with the configured account"));
		CU_ASSERT(log && strstr(log, "strip Coffee at 127.0.0.1: signed in over AES with the configured account"));
		CU_ASSERT(log && strstr(log, "strip Lamp at 127.0.0.1: signed in over KLAP with the blank account"));
		CU_ASSERT(log && !strstr(log, PASS));
		free(log);
	}
}

static void test_switch_and_press(void)
{
	for (size_t i = 0; i < N_DEVS; i++) {
		struct dev *d = &devs[i];
		size_t o = d->outlets;   /* the last outlet: position matters */
		const char *ps = tu_path(mnt.mnt, PDUS "/%s/Outlets/%zu/PowerState", d->name, o);
		char cmd[32], path[600];

		snprintf(path, sizeof(path), "%s", ps);
		CU_ASSERT_EQUAL(write_value(path, "On\n"), 0);
		snprintf(cmd, sizeof(cmd), "state %zu", o);
		tu_sim_expect(&d->sim, cmd, "ok on");
		expect_value(path, "On");
		CU_ASSERT_EQUAL(write_value(path, "off"), 0);
		tu_sim_expect(&d->sim, cmd, "ok off");
		/* a press at the device shows in the mount */
		snprintf(cmd, sizeof(cmd), "press %zu", o);
		tu_sim_expect(&d->sim, cmd, "ok on");
		CU_ASSERT(wait_value(path, "On"));
		CU_ASSERT_EQUAL(write_value(path, "Bogus"), -EINVAL);
	}
}

static void test_meters(void)
{
	/* P304M outlet 2 and the KP125M: power from the device; voltage,
	 * current and energy the SMART methods do not give are null */
	tu_sim_expect(&devs[1].sim, "set 2 on", "ok");
	tu_sim_expect(&devs[1].sim, "meter 2 45678 230000 200 100", "ok");
	CU_ASSERT(wait_value(tu_path(mnt.mnt, PDUS "/Rack/Outlets/2/PowerWatts/Reading"), "45.678"));
	expect_value(tu_path(mnt.mnt, PDUS "/Rack/Outlets/2/Voltage/Reading"), "");
	expect_value(tu_path(mnt.mnt, PDUS "/Rack/Outlets/2/EnergykWh/Reading"), "");
	tu_sim_expect(&devs[2].sim, "set 1 on", "ok");
	tu_sim_expect(&devs[2].sim, "meter 1 17654 120000 150 5", "ok");
	CU_ASSERT(wait_value(tu_path(mnt.mnt, PDUS "/Coffee/Outlets/1/PowerWatts/Reading"), "17.654"));
	/* the EP40M has no meter: no reading, as for an IOT strip without one */
	CU_ASSERT(access(tu_path(mnt.mnt, PDUS "/Porch/Outlets/1/PowerWatts"), F_OK) < 0 &&
		  errno == ENOENT);
}

static void test_rename(void)
{
	const char *p = tu_path(mnt.mnt, PDUS "/Rack/Outlets/3/UserLabel");
	char path[600];

	snprintf(path, sizeof(path), "%s", p);
	CU_ASSERT_EQUAL(write_value(path, "Server 3\n"), 0);
	tu_sim_expect(&devs[1].sim, "alias 3", "ok Server 3");
	expect_value(path, "Server 3");
	CU_ASSERT_EQUAL(write_value(path, "Plug 3"), 0);
}

/* Sessions the devices forget mid-use are renewed unseen. */
static void test_session_expiry(void)
{
	for (size_t i = 0; i < N_DEVS; i++) {
		struct dev *d = &devs[i];
		char path[600], cmd[32];

		snprintf(path, sizeof(path), "%s",
			 tu_path(mnt.mnt, PDUS "/%s/Outlets/1/PowerState", d->name));
		tu_sim_expect(&d->sim, "expire", "ok");
		CU_ASSERT_EQUAL(write_value(path, "On"), 0);
		snprintf(cmd, sizeof(cmd), "state 1");
		tu_sim_expect(&d->sim, cmd, "ok on");
		expect_value(tu_path(mnt.mnt, PDUS "/%s/Status/State", d->name), "Enabled");
	}
}

/* A second daemon with a wrong password for the P304M. */
static void test_wrong_credentials(void)
{
	struct tu_mount m;
	char spec[96], path[600], *log;
	int64_t end;

	snprintf(badfile, sizeof(badfile), "/tmp/rffs-klap-bad.%d", (int)getpid());
	CU_ASSERT_FATAL(write_private(badfile, "not-the-password\n"));
	snprintf(spec, sizeof(spec), "Rack=127.0.0.1:%u", (unsigned)devs[1].sim.port);
	{
		const char *args[] = { "--kasa", spec, "--kasa-user", USER, "--kasa-password-file",
				       badfile, "--poll", "1", "--timeout", "1000", NULL };

		CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	}
	/* never seen: offline, no outlets known */
	expect_value(tu_path(m.mnt, PDUS "/Rack/Status/State"), "UnavailableOffline");
	expect_value(tu_path(m.mnt, "Chassis/Rack/Status/State"), "UnavailableOffline");
	usleep(2500 * 1000);   /* more polls: still one log line */
	end = tu_now_ms() + 2000;
	log = NULL;
	do {
		free(log);
		log = tu_read_file(m.log, NULL);
		if (log && strstr(log, "credentials refused"))
			break;
		usleep(100 * 1000);
	} while (tu_now_ms() < end);
	CU_ASSERT(log && strstr(log, "strip Rack at 127.0.0.1: credentials refused"));
	if (log) {
		const char *first = strstr(log, "credentials refused");

		CU_ASSERT(first && !strstr(first + 1, "credentials refused"));
		CU_ASSERT(!strstr(log, "not-the-password"));
	}
	free(log);
	tu_mount_stop(&m);

	/* the owner changes the account's password while we are mounted:
	 * offline, writes EACCES; back with the old password, all is well */
	tu_sim_expect(&devs[0].sim, "account " USER " changed-elsewhere", "ok");
	snprintf(path, sizeof(path), "%s", tu_path(mnt.mnt, PDUS "/Porch/Outlets/1/PowerState"));
	CU_ASSERT(wait_value(tu_path(mnt.mnt, PDUS "/Porch/Status/State"), "UnavailableOffline"));
	expect_value(tu_path(mnt.mnt, PDUS "/Porch/Outlets/1/Status/State"), "UnavailableOffline");
	CU_ASSERT_EQUAL(write_value(path, "On"), -EACCES);
	CU_ASSERT_EQUAL(write_value(path, "Off"), -EACCES);
	tu_sim_expect(&devs[0].sim, "account " USER " " PASS, "ok");
	CU_ASSERT(wait_value(tu_path(mnt.mnt, PDUS "/Porch/Status/State"), "Enabled"));
	CU_ASSERT_EQUAL(write_value(path, "On"), 0);
	log = tu_read_file(mnt.log, NULL);
	CU_ASSERT(log && strstr(log, "strip Porch at 127.0.0.1: credentials refused"));
	CU_ASSERT(log && !strstr(log, PASS) && !strstr(log, "changed-elsewhere"));
	free(log);
}

/* A firmware update moves a plug from XOR (TCP 9999) to KLAP (HTTP on 80),
 * same deviceId, same address: the strip keeps its name and comes back
 * online over KLAP. The real ports, on a loopback address of this run's
 * own (other checkouts may run this test at the same time). */
static void test_firmware_update(void)
{
	const char *dir = getenv("SHARED_DIR");
	char fx_old[512], fx_new[512], path[600], addr[32], xor_at[48], spec[64];
	unsigned pid = (unsigned)getpid();
	struct tu_sim sim;
	struct tu_mount m;

	snprintf(addr, sizeof(addr), "127.61.%u.%u", (pid >> 8) & 0xff, (pid & 0xff) | 1);
	snprintf(xor_at, sizeof(xor_at), "%s:9999", addr);
	snprintf(spec, sizeof(spec), "Hall=%s", addr);
	snprintf(fx_old, sizeof(fx_old), "%s/fixtures/kasa/iot/HS100(US)_2.0_1.5.6.json",
		 dir ? dir : "../shared");
	snprintf(fx_new, sizeof(fx_new), "%s/fixtures/kasa/iot/HS100(UK)_4.1_1.1.0.json",
		 dir ? dir : "../shared");
	{
		const char *extra[] = { "--listen", xor_at, "--device-id",
					"8006AB0000000000000000000000000000000042", NULL };

		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&sim, fx_old, "Hall light", extra), 0);
	}
	{
		const char *args[] = { "--kasa", spec, "--poll", "1", "--timeout", "500", NULL };

		CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	}
	expect_value(tu_path(m.mnt, PDUS "/Hall/Status/State"), "Enabled");
	expect_value(tu_path(m.mnt, PDUS "/Hall/Model"), "HS100(US)");
	expect_value(tu_path(m.mnt, PDUS "/Hall/Outlets/1/UserLabel"), "Hall light");
	tu_sim_stop(&sim);
	{
		const char *extra[] = { "--listen", addr, "--device-id",
					"8006AB0000000000000000000000000000000042", "--discovery-port", "0",
					NULL };

		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&sim, fx_new, "Hall light", extra), 0);
	}
	/* the next polls: refused on 9999, the transport searched again: KLAP on 80 */
	CU_ASSERT(wait_value(tu_path(m.mnt, PDUS "/Hall/Model"), "HS100(UK)"));
	expect_value(tu_path(m.mnt, PDUS "/Hall/Status/State"), "Enabled");
	expect_value(tu_path(m.mnt, PDUS "/Hall/Outlets/1/UserLabel"), "Hall light");
	snprintf(path, sizeof(path), "%s", tu_path(m.mnt, PDUS "/Hall/Outlets/1/PowerState"));
	CU_ASSERT_EQUAL(write_value(path, "On"), 0);
	tu_sim_expect(&sim, "state 1", "ok on");
	CU_ASSERT(tu_sim_count(&sim, "handshake1") >= 1);
	tu_mount_stop(&m);
	tu_sim_stop(&sim);
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse())
		return 77;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_klap_mount", suite_init, suite_clean);
	CU_add_test(s, "strips from SMART and KLAP devices", test_shape);
	CU_add_test(s, "switching and a press at the device", test_switch_and_press);
	CU_add_test(s, "meters", test_meters);
	CU_add_test(s, "renaming writes the nickname", test_rename);
	CU_add_test(s, "sessions ended mid-use", test_session_expiry);
	CU_add_test(s, "wrong credentials", test_wrong_credentials);
	CU_add_test(s, "a firmware update from XOR to KLAP", test_firmware_update);
	return tu_run_cunit();
}
