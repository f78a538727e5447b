/* test_mount.c — redfishfs on real mounts against kasa-sim: what a shell
 * user sees (cat, echo >, glob, find, tar, ls -l, touch/rm/mkdir), freshness
 * bounds, a silent strip not slowing the others, and a daemon that refuses
 * bad options before mounting.
 *
 * Suite "mount": one HS300 simulator (alias PowerStrip) with fixed meters,
 * one daemon with --poll 1 --max-age 500, shared by the tests in order.
 * Suite "isolation": two strips, one goes silent. Suite "daemon": option
 * errors, signals. Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_AGE_MS 500
#define POLL_S 1

static struct tu_sim sim;
static struct tu_mount mnt;
static char sim_addr[64];

/* A path under the mount. */
#define P(...) tu_path(mnt.mnt, __VA_ARGS__)

static void sim_expect(struct tu_sim *s, const char *cmd, const char *want)
{
	char *r = tu_sim_cmd(s, "%s", cmd);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	if (strcmp(r, want) != 0)
		fprintf(stderr, "\n  sim '%s': '%s', expected '%s'\n", cmd, r, want);
	CU_ASSERT_STRING_EQUAL(r, want);
	free(r);
}

/* ---- suite "mount" ------------------------------------------------------------ */

static int mount_init(void)
{
	static const char *const states[] = { "on", "on", "off", "on", "off", "on" };
	char age[16], poll[16];

	if (tu_sim_start(&sim, "hs300", "PowerStrip", NULL) < 0)
		return -1;
	for (int i = 0; i < 6; i++) {
		char *r = tu_sim_cmd(&sim, "set %d %s", i + 1, states[i]);
		char *m = tu_sim_cmd(&sim, "meter %d %d 120000 %d 500", i + 1, 10000 * (i + 1),
				     83 * (i + 1));

		if (!r || !m || strcmp(r, "ok") || strcmp(m, "ok")) {
			free(r);
			free(m);
			return -1;
		}
		free(r);
		free(m);
	}
	snprintf(sim_addr, sizeof(sim_addr), "127.0.0.1:%u", (unsigned)sim.port);
	snprintf(age, sizeof(age), "%d", MAX_AGE_MS);
	snprintf(poll, sizeof(poll), "%d", POLL_S);
	{
		const char *args[] = { "--kasa", sim_addr, "--max-age", age, "--poll", poll, NULL };

		if (tu_mount_start(&mnt, args) < 0)
			return -1;
	}
	return 0;
}

static int mount_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&sim);
	return 0;
}

static void test_read_through_alias(void)
{
	char *v = tu_value(P("Chassis/PowerStrip/Outlets/2/PowerState"));

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, "On");
	free(v);
	v = tu_value(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerState"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, "Off");
	free(v);
}

static void test_write_power_state(void)
{
	const char *f = P("Chassis/PowerStrip/Outlets/2/PowerState");
	char *v;

	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s'", f), 0);
	sim_expect(&sim, "state 2", "ok off");
	v = tu_value(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, "Off");
	free(v);
	/* an outlet switched off draws nothing, at once, not after a poll */
	v = tu_value(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerWatts/Reading"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, "0");
	free(v);
	/* and back, lower case: the shorter value must not keep old bytes */
	CU_ASSERT_EQUAL(tu_sh("echo on > '%s'", f), 0);
	sim_expect(&sim, "state 2", "ok on");
	v = tu_value(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v, "On");
	free(v);
	/* the size the kernel reports follows */
	CU_ASSERT_EQUAL(tu_sh("test $(stat -c %%s '%s') -eq 3", f), 0);
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s' && test \"$(cat '%s')\" = Off", f, f), 0);
	CU_ASSERT_EQUAL(tu_sh("echo On > '%s' && test \"$(cat '%s')\" = On", f, f), 0);
}

static void test_write_invalid(void)
{
	const char *f = P("Chassis/PowerStrip/Outlets/2/PowerState");
	int before = tu_sim_count(&sim, "set_relay_state");
	char *out = NULL;
	int st;

	CU_ASSERT(before >= 0);
	st = tu_sh_out(&out, "{ echo Foo > '%s'; } 2>&1", f);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	if (!strstr(out, "Invalid argument"))
		fprintf(stderr, "\n  bash said: %s\n", out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Invalid argument"));
	free(out);
	CU_ASSERT_EQUAL(tu_sim_count(&sim, "set_relay_state"), before);
	out = tu_value(f);
	CU_ASSERT_STRING_EQUAL(out ? out : "", "On");
	free(out);

	/* A write past offset 0 (>> appends) is refused, nothing sent. */
	st = tu_sh_out(&out, "{ echo Off >> '%s'; } 2>&1", f);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "Invalid argument"));
	free(out);
	CU_ASSERT_EQUAL(tu_sim_count(&sim, "set_relay_state"), before);

	/* A read-only property: Permission denied, from the shell's redirect. */
	st = tu_sh_out(&out, "{ echo OK > '%s'; } 2>&1", P("Chassis/PowerStrip/Status/Health"));
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "Permission denied"));
	free(out);
}

static void test_button_press_shows(void)
{
	const char *f = P("Chassis/PowerStrip/Outlets/3/PowerState");
	int64_t t0, bound = MAX_AGE_MS + POLL_S * 1000 + 500;
	char *v = tu_value(f);
	bool seen = false;

	CU_ASSERT_STRING_EQUAL(v ? v : "", "Off");   /* and now in the kernel's cache */
	free(v);
	sim_expect(&sim, "press 3", "ok on");
	t0 = tu_now_ms();
	while (tu_now_ms() - t0 <= bound) {
		v = tu_value(f);
		seen = v && strcmp(v, "On") == 0;
		free(v);
		if (seen)
			break;
		usleep(20000);
	}
	fprintf(stderr, "\n  press seen after %lld ms (bound %lld) ",
		(long long)(tu_now_ms() - t0), (long long)bound);
	CU_ASSERT_TRUE(seen);
}

static void test_watch_glob(void)
{
	char *out = NULL;
	int n = 0;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "cat %s/PowerEquipment/RackPDUs/PowerStrip/Outlets/*/PowerWatts/Reading",
				  mnt.mnt), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *end;

		strtod(l, &end);
		CU_ASSERT(end != l && *end == '\0');
		n++;
	}
	CU_ASSERT_EQUAL(n, 6);
	free(out);
}

static void test_find(void)
{
	static const char *const expect[] = {
		"./index.json",
		"./Chassis/PowerStrip",
		"./Chassis/PowerStrip/index.json",
		"./Chassis/PowerStrip/Outlets",
		"./Managers/PowerStrip",
		"./Managers/PowerStrip/index.json",
		"./PowerEquipment/RackPDUs/PowerStrip",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/1/PowerState",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/2",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/3",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/4",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/5",
		"./PowerEquipment/RackPDUs/PowerStrip/Outlets/6/index.json",
	};
	char *out = NULL;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "cd '%s' && find . | sort", mnt.mnt), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		char line[300];

		snprintf(line, sizeof(line), "\n%s\n", expect[i]);
		if (!strstr(out, line))
			fprintf(stderr, "\n  find lacks %s\n", expect[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, line));
	}
	/* Outlets are 1..6, nothing more (a Links/Outlets array of a circuit
	 * has entries 0, 1, ...: not the collection). */
	CU_ASSERT_PTR_NULL(strstr(out, "RackPDUs/PowerStrip/Outlets/7\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "RackPDUs/PowerStrip/Outlets/0\n"));
	free(out);
	/* find -type l: the alias is a symlink */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && test -L Chassis/PowerStrip/Outlets && "
			      "find . -type l | grep -qx ./Chassis/PowerStrip/Outlets", mnt.mnt), 0);
}

static void test_permissions(void)
{
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(lstat(P("index.json"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFREG | 0444);
	CU_ASSERT_EQUAL(st.st_uid, getuid());
	CU_ASSERT_EQUAL(st.st_gid, getgid());
	CU_ASSERT_EQUAL_FATAL(lstat(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1/PowerState"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL_FATAL(lstat(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1/UserLabel"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL_FATAL(lstat(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1/Name"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFREG | 0444);
	CU_ASSERT_EQUAL_FATAL(lstat(P("Chassis/PowerStrip"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFDIR | 0555);
	CU_ASSERT_EQUAL_FATAL(lstat(mnt.mnt, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFDIR | 0555);
	CU_ASSERT_EQUAL_FATAL(lstat(P("Chassis/PowerStrip/Outlets"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode, S_IFLNK | 0777);
	/* ls -l agrees (readdir's attributes) */
	CU_ASSERT_EQUAL(tu_sh("ls -l '%s' | grep -q '^-rw-r--r-- .* PowerState$'",
			      P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1")), 0);
	CU_ASSERT_EQUAL(tu_sh("ls -l '%s' | grep -q '^-r--r--r-- .* index.json$'",
			      P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1")), 0);
	/* inode numbers are stable and the same through readdir and stat */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && a=$(ls -i index.json) && b=$(stat -c '%%i index.json' index.json) "
			      "&& test \"$a\" = \"$b\" && test \"${a%% *}\" != 0", mnt.mnt), 0);
}

static void test_exact_sizes(void)
{
	char *out = NULL;

	/* every file: st_size == bytes read */
	CU_ASSERT_EQUAL(tu_sh_out(&out, "cd '%s' && find . -type f | while read -r f; do "
				  "s=$(stat -c %%s \"$f\"); n=$(wc -c < \"$f\"); "
				  "[ \"$s\" = \"$n\" ] || echo \"$f $s $n\"; done; "
				  "find . -type f | wc -l", mnt.mnt), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	/* only the count line: no mismatches, and many files */
	CU_ASSERT(strchr(out, ' ') == NULL);
	if (strchr(out, ' '))
		fprintf(stderr, "\n  size mismatches:\n%s", out);
	CU_ASSERT(atoi(out) > 100);
	free(out);
}

static void test_symlinks(void)
{
	char real[PATH_MAX], *out = NULL, want[PATH_MAX + 100];

	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mnt.mnt, real));
	CU_ASSERT_EQUAL(tu_sh_out(&out, "readlink -f '%s'", P("Chassis/PowerStrip/Outlets")), 0);
	snprintf(want, sizeof(want), "%s/PowerEquipment/RackPDUs/PowerStrip/Outlets\n", real);
	CU_ASSERT_STRING_EQUAL(out ? out : "", want);
	free(out);
	/* the link itself is relative */
	CU_ASSERT_EQUAL(tu_sh_out(&out, "readlink '%s'", P("Chassis/PowerStrip/Outlets")), 0);
	CU_ASSERT(out && out[0] != '/' && out[0] != '\0');
	free(out);
	/* every link lands inside the mount; those of the strip's resources
	 * (Chassis, Managers, PowerEquipment) on existing paths */
	CU_ASSERT_EQUAL(tu_sh_out(&out, "cd '%s' && n=0; for l in $(find . -type l); do n=$((n+1)); "
				  "t=$(readlink -m \"$l\"); case \"$t\" in '%s'/*) ;; *) echo \"outside $l -> $t\";; esac; "
				  "case \"$l\" in ./Chassis/*|./Managers/*|./PowerEquipment/*) "
				  "test -e \"$t\" || echo \"dangling $l\";; esac; done; echo links $n", mnt.mnt, real), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	if (strncmp(out, "links ", 6) != 0)
		fprintf(stderr, "\n  %s", out);
	CU_ASSERT_EQUAL(strncmp(out, "links ", 6), 0);
	CU_ASSERT(atoi(out + 6) >= 2);
	free(out);
}

static void test_tar(void)
{
	char *out = NULL;
	int checked = 0;

	CU_ASSERT_EQUAL_FATAL(tu_sh("cd '%s' && tar czf '%s/t.tgz' -C '%s' . && mkdir x && "
				    "tar xzf t.tgz -C x", mnt.dir, mnt.dir, mnt.mnt), 0);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "cd '%s/x' && find . -name index.json", mnt.dir), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char a[1024], b[1024];
		size_t la = 0, lb = 0;
		char *x, *y;
		struct json_object *j;

		snprintf(a, sizeof(a), "%s/x/%s", mnt.dir, l + 2);
		snprintf(b, sizeof(b), "%s/%s", mnt.mnt, l + 2);
		x = tu_read_file(a, &la);
		y = tu_read_file(b, &lb);
		CU_ASSERT_PTR_NOT_NULL(x);
		CU_ASSERT_PTR_NOT_NULL(y);
		if (!x || !y) {
			free(x);
			free(y);
			continue;
		}
		j = json_tokener_parse(x);
		CU_ASSERT_PTR_NOT_NULL(j);
		CU_ASSERT(j && json_object_is_type(j, json_type_object));
		json_object_put(j);
		if (la != lb || memcmp(x, y, la) != 0)
			fprintf(stderr, "\n  %s differs from the live file\n", l);
		CU_ASSERT_EQUAL(la, lb);
		CU_ASSERT(la == lb && memcmp(x, y, la) == 0);
		checked++;
		free(x);
		free(y);
	}
	free(out);
	CU_ASSERT(checked >= 12);   /* root, collections, strip, 6 outlets, ... */
	tu_sh("rm -rf '%s/x' '%s/t.tgz'", mnt.dir, mnt.dir);
}

static void test_tar_reads_data(void)
{
	/* tar cf - | cat reads every byte; sizes must hold ("file shrank"). */
	char *out = NULL;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "tar cf - -C '%s' . 2>&1 >/dev/null | head -5; "
				  "exit ${PIPESTATUS[0]}", mnt.mnt), 0);
	CU_ASSERT_STRING_EQUAL(out ? out : "x", "");
	free(out);
}

static void test_read_only_ops(void)
{
	char *out = NULL;

	CU_ASSERT_NOT_EQUAL(tu_sh("touch '%s' 2>/dev/null", P("newfile")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("touch '%s' 2>/dev/null", P("index.json")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("rm -f '%s' 2>/dev/null", P("index.json")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("rm -rf '%s' 2>/dev/null", P("Chassis/PowerStrip")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("mkdir '%s' 2>/dev/null", P("Chassis/New")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("mv '%s' '%s' 2>/dev/null", P("Chassis/PowerStrip/index.json"),
				  P("Chassis/PowerStrip/x.json")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("ln -s x '%s' 2>/dev/null", P("Chassis/link")), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("chmod 777 '%s' 2>/dev/null", P("index.json")), 0);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "mkdir '%s' 2>&1", P("Chassis/New")), 1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "Permission denied"));
	free(out);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "touch '%s' 2>&1", P("newfile")), 1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "Permission denied"));
	free(out);
	/* nothing appeared, nothing went */
	CU_ASSERT_EQUAL(access(P("newfile"), F_OK), -1);
	CU_ASSERT_EQUAL(access(P("Chassis/New"), F_OK), -1);
	CU_ASSERT_EQUAL(access(P("index.json"), F_OK), 0);
	CU_ASSERT_EQUAL(access(P("Chassis/PowerStrip/index.json"), F_OK), 0);
	/* access(2) tells writable from read-only */
	CU_ASSERT_EQUAL(access(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1/PowerState"), W_OK), 0);
	CU_ASSERT_EQUAL(access(P("index.json"), W_OK), -1);
	/* touching a writable property file is a harmless no-op (O_TRUNC needs it) */
	CU_ASSERT_EQUAL(tu_sh("touch '%s'", P("PowerEquipment/RackPDUs/PowerStrip/Outlets/1/PowerState")), 0);
}

/* ---- suite "isolation": a silent strip must not slow the others ---------------- */

static void test_silent_strip(void)
{
	struct tu_sim a = { 0 }, b = { 0 };
	struct tu_mount m;
	char sa[64], sb[64], res[400], err[400];
	int64_t t0, worst = 0;
	int reads = 0, slow = 0, st = -1, ms = -1;
	char *out;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&a, "hs300", "PowerStrip", NULL), 0);
	if (tu_sim_start(&b, "hs300", "Other", NULL) < 0) {
		tu_sim_stop(&a);
		CU_FAIL_FATAL("second simulator");
	}
	snprintf(sa, sizeof(sa), "PowerStrip=127.0.0.1:%u", (unsigned)a.port);
	snprintf(sb, sizeof(sb), "Other=127.0.0.1:%u", (unsigned)b.port);
	{
		const char *args[] = { "--kasa", sa, "--kasa", sb, "--timeout", "300",
				       "--max-age", "200", "--poll", "1", NULL };

		if (tu_mount_start(&m, args) < 0) {
			tu_sim_stop(&a);
			tu_sim_stop(&b);
			CU_FAIL_FATAL("mount with two strips");
		}
	}
	snprintf(res, sizeof(res), "%s/res", m.dir);
	snprintf(err, sizeof(err), "%s/err", m.dir);
	sim_expect(&b, "mode silent", "ok");
	/* The write, in the background, timing itself. */
	CU_ASSERT_EQUAL(tu_sh("( s=$(date +%%s%%N); echo Off > '%s/Chassis/Other/Outlets/1/PowerState' 2>'%s'; "
			      "r=$?; echo $r $(( ($(date +%%s%%N) - s) / 1000000 )) > '%s.tmp'; mv '%s.tmp' '%s' ) "
			      ">/dev/null 2>&1 &", m.mnt, err, res, res, res), 0);
	/* Meanwhile: reads of the other strip, caches expiring (max-age 200). */
	t0 = tu_now_ms();
	while (tu_now_ms() - t0 < 1500) {
		static const char *const files[] = { "PowerState", "index.json", "Status/State",
						     "PowerWatts/Reading" };
		for (int o = 1; o <= 6; o++) {
			for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
				char path[600];
				int64_t s = tu_now_ms(), d;
				char *v;

				snprintf(path, sizeof(path),
					 "%s/PowerEquipment/RackPDUs/PowerStrip/Outlets/%d/%s", m.mnt, o,
					 files[i]);
				v = tu_read_file(path, NULL);
				d = tu_now_ms() - s;
				CU_ASSERT_PTR_NOT_NULL(v);
				free(v);
				if (d > worst)
					worst = d;
				if (d >= 100)
					slow++;
				reads++;
			}
		}
		usleep(10000);
	}
	/* Each read well under 100 ms. Other tests share these 2 CPUs, so a
	 * rare scheduling hiccup is tolerated (1%), but a read that waited for
	 * the silent strip would take about its timeout (300 ms): none may. */
	fprintf(stderr, "\n  other strip: %d reads, %d >= 100 ms, slowest %lld ms ", reads, slow,
		(long long)worst);
	CU_ASSERT(reads > 100);
	CU_ASSERT(slow * 100 <= reads);
	CU_ASSERT(worst < 250);
	/* the write's outcome */
	t0 = tu_now_ms();
	while (access(res, F_OK) != 0 && tu_now_ms() - t0 < 5000)
		usleep(20000);
	out = tu_read_file(res, NULL);
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out && sscanf(out, "%d %d", &st, &ms) != 2)
		st = ms = -1;
	free(out);
	out = tu_read_file(err, NULL);
	fprintf(stderr, "\n  write to the silent strip: status %d after %d ms: %s", st, ms,
		out ? out : "");
	CU_ASSERT(st != 0 && st != -1);
	CU_ASSERT(ms >= 0 && ms <= 2 * 300 + 200);
	CU_ASSERT_PTR_NOT_NULL(out && (strstr(out, "timed out") || strstr(out, "No route")));
	free(out);
	/* and it shows offline */
	t0 = tu_now_ms();
	do {
		snprintf(res, sizeof(res), "%s/Chassis/Other/Status/State", m.mnt);
		out = tu_value(res);
		if (out && strcmp(out, "UnavailableOffline") == 0)
			break;
		free(out);
		out = NULL;
		usleep(50000);
	} while (tu_now_ms() - t0 < 3000);
	CU_ASSERT_STRING_EQUAL(out ? out : "", "UnavailableOffline");
	free(out);

	tu_mount_stop(&m);
	tu_sim_stop(&a);
	tu_sim_stop(&b);
}

/* With a long max-age the kernel would keep a value for a minute: only the
 * tree's change notices (fuse_invalidate_path) can make a press show. */
/* A write returns once the device acknowledged; the state is read back
 * within 100 ms (not at the next poll): a button pressed right after the
 * command shows although polls are a minute apart and nothing is stale. */
static void test_readback_after_write(void)
{
	struct tu_sim a = { 0 };
	struct tu_mount m;
	char sa[64], f[600];
	int64_t t0, took;
	bool seen = false;
	char *v;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&a, "hs300", "PowerStrip", NULL), 0);
	snprintf(sa, sizeof(sa), "127.0.0.1:%u", (unsigned)a.port);
	{
		const char *args[] = { "--kasa", sa, "--max-age", "60000", "--poll", "60", NULL };

		if (tu_mount_start(&m, args) < 0) {
			tu_sim_stop(&a);
			CU_FAIL_FATAL("mount");
		}
	}
	snprintf(f, sizeof(f), "%s/PowerEquipment/RackPDUs/PowerStrip/Outlets/5/PowerState", m.mnt);
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s' && test \"$(cat '%s')\" = Off", f, f), 0);
	sim_expect(&a, "press 5", "ok on");
	t0 = tu_now_ms();
	while (!seen && tu_now_ms() - t0 < 2000) {
		v = tu_value(f);
		seen = v && strcmp(v, "On") == 0;
		free(v);
		if (!seen)
			usleep(10000);
	}
	took = tu_now_ms() - t0;
	fprintf(stderr, "\n  read back after %lld ms (poll 60 s) ", (long long)took);
	CU_ASSERT_TRUE(seen);
	CU_ASSERT_TRUE(took < 1000);
	tu_mount_stop(&m);
	tu_sim_stop(&a);
}

static void test_invalidation(void)
{
	struct tu_sim a = { 0 };
	struct tu_mount m;
	char sa[64], f[600];
	int64_t t0;
	bool seen = false;
	char *v;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&a, "hs300", "PowerStrip", NULL), 0);
	snprintf(sa, sizeof(sa), "127.0.0.1:%u", (unsigned)a.port);
	{
		/* -s: the single-threaded loop works too */
		const char *args[] = { "--kasa", sa, "--max-age", "60000", "--poll", "1", "-s", NULL };

		if (tu_mount_start(&m, args) < 0) {
			tu_sim_stop(&a);
			CU_FAIL_FATAL("mount");
		}
	}
	snprintf(f, sizeof(f), "%s/PowerEquipment/RackPDUs/PowerStrip/Outlets/4/PowerState", m.mnt);
	sim_expect(&a, "set 4 off", "ok");
	/* wait until the tree has the poll's "Off", then it is cached */
	t0 = tu_now_ms();
	do {
		v = tu_value(f);
		seen = v && strcmp(v, "Off") == 0;
		free(v);
	} while (!seen && tu_now_ms() - t0 < 3000 && usleep(20000) == 0);
	CU_ASSERT_TRUE_FATAL(seen);
	for (int round = 0; round < 3; round++) {
		const char *want = round % 2 ? "Off" : "On";

		sim_expect(&a, "press 4", round % 2 ? "ok off" : "ok on");
		t0 = tu_now_ms();
		seen = false;
		while (!seen && tu_now_ms() - t0 <= 1000 + 700) {
			/* A listing stores the outlet's files into the page
			 * cache (prefill): the change must still come through. */
			CU_ASSERT_EQUAL(tu_sh("ls -l \"$(dirname '%s')\" > /dev/null", f), 0);
			v = tu_value(f);
			seen = v && strcmp(v, want) == 0;
			free(v);
			if (!seen)
				usleep(20000);
		}
		fprintf(stderr, "\n  press %d seen after %lld ms (max-age 60 s, poll 1 s) ", round + 1,
			(long long)(tu_now_ms() - t0));
		CU_ASSERT_TRUE(seen);
	}
	/* a write through the mount, read back at once (after a listing too) */
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s' && test \"$(cat '%s')\" = Off", f, f), 0);
	CU_ASSERT_EQUAL(tu_sh("ls \"$(dirname '%s')\" > /dev/null && echo On > '%s' && "
			      "ls \"$(dirname '%s')\" > /dev/null && test \"$(cat '%s')\" = On && "
			      "echo Off > '%s' && test \"$(cat '%s')\" = Off", f, f, f, f, f, f), 0);
	CU_ASSERT_EQUAL(tu_sh("echo On > '%s' && test \"$(cat '%s')\" = On && test $(stat -c %%s '%s') = 3",
			      f, f, f), 0);
	tu_mount_stop(&m);
	tu_sim_stop(&a);
}

/* ---- suite "daemon": options, errors, signals ------------------------------------ */

static void expect_refused(const char *args, const char *message)
{
	char dir[] = "/tmp/redfishfs-opt-XXXXXX";
	char *out = NULL;
	int st;

	/* -f first too: should an option eat the last -f, a daemon that wrongly
	 * mounted stays in the foreground, and timeout ends it. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	st = tu_sh_out(&out, "cd '%s' && timeout 20 \"$REDFISHFS\" -f %s -f '%s' 2>&1", dir, args, dir);
	if (st == 0 || st == 124 || !out || !strstr(out, message))
		fprintf(stderr, "\n  redfishfs %s: status %d, said: %s\n", args, st, out ? out : "");
	CU_ASSERT(st != 0 && st != 124 && st != -1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, message));
	CU_ASSERT_FALSE(tu_is_mounted(dir));
	free(out);
	rmdir(dir);
}

static void test_bad_options(void)
{
	char a[600], cfg[400];
	FILE *f;

	snprintf(a, sizeof(a), "--kasa 127.0.0.1:%u", (unsigned)sim.port);
	expect_refused("", "nothing to serve");
	expect_refused("--kasa", "cannot start with '-'");   /* took -f as its value */
	expect_refused("--kasa ''", "empty");
	expect_refused("--kasa 'Rack A=127.0.0.1'", "strip name");
	expect_refused("--kasa 127.0.0.1:0", "port");
	expect_refused("--kasa 127.0.0.1:70000", "port");
	expect_refused("--kasa A=127.0.0.1:1 --kasa A=127.0.0.1:2", "used twice");
	expect_refused("--kasa127.0.0.1", "unknown option");
	{
		char args[1200];

		snprintf(args, sizeof(args), "%s --timeout abc", a);
		expect_refused(args, "--timeout 'abc': not a number");
		snprintf(args, sizeof(args), "%s --timeout=0", a);
		expect_refused(args, "--timeout 0: must be from");
		snprintf(args, sizeof(args), "%s --poll 0", a);
		expect_refused(args, "--poll 0");
		snprintf(args, sizeof(args), "%s --max-age -5", a);
		expect_refused(args, "--max-age");
		snprintf(args, sizeof(args), "%s -c /nonexistent/redfishfs.conf", a);
		expect_refused(args, "/nonexistent/redfishfs.conf: No such file");
		snprintf(args, sizeof(args), "%s -o no_such_fuse_option", a);
		expect_refused(args, "no_such_fuse_option");
		snprintf(args, sizeof(args), "%s --bogus", a);
		expect_refused(args, "bogus");
		/* a bad config file names FILE:LINE */
		snprintf(cfg, sizeof(cfg), "%s/bad.conf", mnt.dir);
		f = fopen(cfg, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fputs("[redfishfs]\npoll = 1\n[kasa X]\nhost = 127.0.0.1:99999\n", f);
		fclose(f);
		snprintf(args, sizeof(args), "%s -c '%s'", a, cfg);
		snprintf(a, sizeof(a), "%s:4: host:", cfg);
		expect_refused(args, a);
		unlink(cfg);
	}
	/* a mount point that is not a directory */
	expect_refused("--kasa 127.0.0.1:9 /dev/null/x", "Not a directory");
}

static void test_help_version(void)
{
	char *out = NULL;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "\"$REDFISHFS\" --help 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "--kasa [NAME=]HOST[:PORT]"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "-o "));   /* FUSE's own options too */
	free(out);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "\"$REDFISHFS\" -V 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "redfishfs version"));
	free(out);
}

static void test_config_file_mount(void)
{
	struct tu_mount m;
	char cfg[400], arg[600];
	FILE *f;
	char *v;

	snprintf(cfg, sizeof(cfg), "%s/good.conf", mnt.dir);
	f = fopen(cfg, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "[redfishfs]\ntimeout = 1000\n[kasa Configured]\nhost = 127.0.0.1:%u\n",
		(unsigned)sim.port);
	fclose(f);
	snprintf(arg, sizeof(arg), "%s", cfg);
	{
		const char *args[] = { "-c", arg, NULL };

		CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	}
	snprintf(arg, sizeof(arg), "%s/Chassis/Configured/index.json", m.mnt);
	v = tu_read_file(arg, NULL);
	CU_ASSERT_PTR_NOT_NULL(v);
	free(v);
	tu_mount_stop(&m);
	unlink(cfg);
}

/* The ServiceRoot UUID of a daemon with state directory dir. */
static char *uuid_of(const char *dir)
{
	struct tu_mount m;
	const char *args[] = { "--kasa", sim_addr, "--http", "127.0.0.1:0", "--http-no-auth",
			       "--state-dir", dir, NULL };
	char *uuid;

	if (tu_mount_start(&m, args) < 0)
		return NULL;
	uuid = tu_value(tu_path(m.mnt, "UUID"));
	tu_mount_stop(&m);
	return uuid;
}

static void test_uuid_stable(void)
{
	char a[] = "/tmp/rfs-uuid-a-XXXXXX", b[] = "/tmp/rfs-uuid-b-XXXXXX";
	char *u1, *u2, *u3;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(a));
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(b));
	u1 = uuid_of(a);
	u2 = uuid_of(a);
	u3 = uuid_of(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u3);
	CU_ASSERT_EQUAL(strlen(u1), 36);
	CU_ASSERT_STRING_EQUAL(u1, u2);       /* the same service after a restart */
	CU_ASSERT_STRING_NOT_EQUAL(u1, u3);   /* another service */
	free(u1);
	free(u2);
	free(u3);
	tu_sh("rm -rf '%s' '%s'", a, b);
}

static void test_sigterm_unmounts(void)
{
	struct tu_mount m;
	const char *args[] = { "--kasa", sim_addr, NULL };
	int status = -1;
	pid_t pid;
	int64_t t0;

	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	CU_ASSERT_TRUE(tu_is_mounted(m.mnt));
	pid = m.pid;
	CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
	t0 = tu_now_ms();
	while (waitpid(pid, &status, WNOHANG) != pid && tu_now_ms() - t0 < 5000)
		usleep(20000);
	m.pid = 0;
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_FALSE(tu_is_mounted(m.mnt));
	tu_mount_stop(&m);
}

/* A strip that stopped answering: writes fail at once while it is down, and
 * the failures are logged once, not per write; once it answers again, the
 * next write (a second after the last probe) probes it and works, long
 * before the next poll (30 s here). */
static void test_offline_recovery(void)
{
	struct tu_sim dev = { 0 };
	struct tu_mount m;
	char spec[64], path[400];
	int64_t t0;
	int fails = 0, warnings = 0;
	char *log, *line;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&dev, "hs300", "PowerStrip", NULL), 0);
	snprintf(spec, sizeof(spec), "PowerStrip=127.0.0.1:%u", (unsigned)dev.port);
	{
		const char *args[] = { "--kasa", spec, "--timeout", "300", "--poll", "30", NULL };

		if (tu_mount_start(&m, args) < 0) {
			tu_sim_stop(&dev);
			CU_FAIL_FATAL("mount");
		}
	}
	snprintf(path, sizeof(path), "%s/Chassis/PowerStrip/Outlets/2/PowerState", m.mnt);
	sim_expect(&dev, "mode silent", "ok");
	for (int i = 0; i < 10; i++)
		fails += tu_sh("echo Off > '%s' 2>/dev/null", path) != 0;
	CU_ASSERT_EQUAL(fails, 10);
	sim_expect(&dev, "mode normal", "ok");
	usleep(1100 * 1000);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s'", path), 0);
	CU_ASSERT(tu_now_ms() - t0 < 1000);
	sim_expect(&dev, "state 2", "ok off");
	log = tu_read_file(m.log, NULL);
	CU_ASSERT_PTR_NOT_NULL(log);
	for (line = log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, "redfishfs: warning: write ", 26))
			warnings++;
	CU_ASSERT_EQUAL(warnings, 1);
	if (warnings != 1)
		fprintf(stderr, "\n%s\n", log ? log : "");
	free(log);
	tu_mount_stop(&m);
	tu_sim_stop(&dev);
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no usable /dev/fuse: skipping\n");
		return 77;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("mount", mount_init, mount_clean);
	CU_add_test(s, "cat through the alias", test_read_through_alias);
	CU_add_test(s, "echo Off > PowerState", test_write_power_state);
	CU_add_test(s, "echo Foo fails in write(2)", test_write_invalid);
	CU_add_test(s, "a button press shows within max-age + poll", test_button_press_shows);
	CU_add_test(s, "glob over six readings", test_watch_glob);
	CU_add_test(s, "find lists the tree", test_find);
	CU_add_test(s, "permissions and owner", test_permissions);
	CU_add_test(s, "st_size is exact", test_exact_sizes);
	CU_add_test(s, "symlinks resolve inside", test_symlinks);
	CU_add_test(s, "tar czf round trip", test_tar);
	CU_add_test(s, "tar cf - reads every byte", test_tar_reads_data);
	CU_add_test(s, "touch rm mkdir fail", test_read_only_ops);
	CU_add_test(s, "bad options refused before mounting", test_bad_options);
	CU_add_test(s, "--help and -V", test_help_version);
	CU_add_test(s, "a config file", test_config_file_mount);
	CU_add_test(s, "SIGTERM ends cleanly", test_sigterm_unmounts);
	CU_add_test(s, "the service UUID survives a restart", test_uuid_stable);
	s = CU_add_suite("isolation", NULL, NULL);
	CU_add_test(s, "a silent strip does not slow the others", test_silent_strip);
	CU_add_test(s, "offline recovery", test_offline_recovery);
	CU_add_test(s, "changes invalidate the kernel cache", test_invalidation);
	CU_add_test(s, "a write is read back within 100 ms", test_readback_after_write);
	return tu_run_cunit();
}
