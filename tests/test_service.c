/* test_service.c — redfishfs as a service: the option table (--help, the
 * unknown-option error, the man pages), mount safety (a second mount, a
 * non-empty directory, a killed daemon's mount), systemd (READY=1 and
 * STOPPING=1 on a NOTIFY_SOCKET of the test's own, journal priority
 * prefixes, the units under systemd-analyze verify), meson install into a
 * DESTDIR, mount -t fuse.redfishfs, SIGHUP reload, and the log lines that
 * say what happens.
 *
 * Each case starts its own daemons over the DMTF mockup or kasa-sim on
 * loopback and ends them by PID. Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

static const char *exe;
static char mockup[512];

/* How often s occurs in text. */
static int count(const char *text, const char *s)
{
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

/* Wait up to ms for path's content to contain s. */
static bool wait_for_text(const char *path, const char *s, int ms)
{
	for (int64_t end = tu_now_ms() + ms; tu_now_ms() < end; usleep(20 * 1000)) {
		char *t = tu_read_file(path, NULL);
		bool found = t && strstr(t, s);

		free(t);
		if (found)
			return true;
	}
	return false;
}

/* ---- the option table ------------------------------------------------------------ */

static void test_unknown_option(void)
{
	static const struct {
		const char *args, *says;
	} cases[] = {
		{ "--bogus", "unknown option '--bogus'" },
		{ "--kasaX=1.2.3.4 /tmp", "unknown option '--kasaX=1.2.3.4'" },
		{ "-x /tmp", "unknown option '-x'" },
		{ "--no-mount=yes", "'--no-mount' takes no value" },
		{ "a b c", "unexpected argument 'c'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int st = tu_sh_out(&out, "'%s' %s 2>&1", exe, cases[i].args);

		CU_ASSERT_EQUAL(st, 1);
		CU_ASSERT(out && strstr(out, cases[i].says) && !strstr(out, "mount point"));
		if (!out || !strstr(out, cases[i].says))
			fprintf(stderr, "\n  redfishfs %s: '%s'\n", cases[i].args, out ? out : "");
		free(out);
	}
}

/* --help lists every option of the table exactly once, libfuse's -h/-V
 * are not repeated. */
static void test_help(void)
{
	char *out = NULL;
	int st = tu_sh_out(&out, "'%s' --help 2>&1", exe);

	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (int i = 0; i < FS_OPT_COUNT; i++) {
		const struct fs_option *o = &fs_options[i];
		char use[80];

		if (o->kind == FS_OPT_MOUNT)
			snprintf(use, sizeof(use), "\n    -o %s ", o->name);
		else if (o->name && o->short_name)
			snprintf(use, sizeof(use), "\n    -%c, --%s", o->short_name, o->name);
		else if (o->name)
			snprintf(use, sizeof(use), "\n    --%s%s", o->name,
				 o->kind == FS_OPT_OPTIONAL ? "[" : o->kind == FS_OPT_VALUE ? " " : "");
		else
			snprintf(use, sizeof(use), "\n    -%c %s", o->short_name, o->arg ? o->arg : "");
		if (count(out, use) != 1)
			fprintf(stderr, "\n  '%s' %d times in --help\n", use + 1, count(out, use));
		CU_ASSERT_EQUAL(count(out, use), 1);
	}
	CU_ASSERT_EQUAL(count(out, "--help"), 1);
	CU_ASSERT_EQUAL(count(out, "--version"), 1);
	free(out);
}

/* Each of the table's options in redfishfs(1) and keys in redfishfs.conf(5),
 * and nothing there that the table lacks. */
static void test_man_pages(void)
{
	const char *src = getenv("SOURCE_DIR");
	char path[512];
	char *man1, *man5;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	snprintf(path, sizeof(path), "%s/fs/redfishfs.1", src);
	man1 = tu_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/fs/redfishfs.conf.5", src);
	man5 = tu_read_file(path, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(man1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(man5);
	for (int i = 0; i < FS_OPT_COUNT; i++) {
		const struct fs_option *o = &fs_options[i];
		char it[128];

		char esc[64];
		size_t e = 0;
		int n;

		/* mdoc writes each '-' of an option as "\-" */
		for (const char *c = o->name ? o->name : ""; *c && e + 3 < sizeof(esc); c++) {
			if (*c == '-' && o->kind != FS_OPT_MOUNT)
				esc[e++] = '\\';
			esc[e++] = *c;
		}
		esc[e] = '\0';
		if (o->kind == FS_OPT_MOUNT)
			snprintf(it, sizeof(it), ".It Fl o Cm %s", esc);
		else if (o->name && o->short_name)
			snprintf(it, sizeof(it), ".It Fl %c , Fl \\-%s", o->short_name, esc);
		else if (o->name)
			snprintf(it, sizeof(it), ".It Fl \\-%s", esc);
		else
			snprintf(it, sizeof(it), ".It Fl %c%s", o->short_name, o->arg ? " Ar" : "");
		/* the name ends there */
		n = 0;
		for (const char *p = man1; (p = strstr(p, it)); p += strlen(it))
			n += p[strlen(it)] == ' ' || p[strlen(it)] == '\n';
		if (n != 1)
			fprintf(stderr, "\n  redfishfs.1: '%s' %d times\n", it, n);
		CU_ASSERT_EQUAL(n, 1);
		if (!o->key)
			continue;
		/* keys are listed per section: ".It Cm key Ns = Ar value" under ".Ss [section]" */
		snprintf(it, sizeof(it), ".It Cm %s Ns = ", o->key);
		if (count(man5, it) < 1)
			fprintf(stderr, "\n  redfishfs.conf.5: no '%s'\n", it);
		CU_ASSERT(count(man5, it) >= 1);
	}
	/* the other way: every option the man page lists is in the table */
	for (const char *p = man1; (p = strstr(p, ".It Fl \\-")); p++) {
		char name[64];
		int id;

		size_t w = 0;

		for (p += strlen(".It Fl \\-"); w + 1 < sizeof(name) && (isalnum((unsigned char)*p) ||
		     (p[0] == '\\' && p[1] == '-')); p++)
			name[w++] = *p == '\\' ? *++p : *p;
		name[w] = '\0';
		id = -1;
		for (int i = 0; i < FS_OPT_COUNT; i++)
			if (fs_options[i].name && fs_options[i].kind != FS_OPT_MOUNT &&
			    strcmp(fs_options[i].name, name) == 0)
				id = i;
		if (id < 0)
			fprintf(stderr, "\n  redfishfs.1 lists --%s, the table does not\n", name);
		CU_ASSERT(id >= 0);
	}
	for (const char *p = man5; (p = strstr(p, ".It Cm ")); p++) {
		char key[64];
		bool found = false;

		if (sscanf(p, ".It Cm %63[a-z-] Ns =", key) != 1)
			continue;
		for (int i = 0; i < FS_OPT_COUNT; i++)
			found |= fs_options[i].key && strcmp(fs_options[i].key, key) == 0;
		if (!found)
			fprintf(stderr, "\n  redfishfs.conf.5 lists %s =, the table does not\n", key);
		CU_ASSERT(found);
	}
	free(man1);
	free(man5);
}

/* ---- mount safety ------------------------------------------------------------------ */

static void test_mount_twice_and_nonempty(void)
{
	const char *args[] = { "--mockup", mockup, NULL };
	struct tu_mount m;
	char *out = NULL;
	int st;

	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	st = tu_sh_out(&out, "'%s' -f --mockup '%s' '%s' 2>&1", exe, mockup, m.mnt);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "is already a redfishfs mount"));
	free(out);
	/* -o nonempty does not make a second mount on a mount acceptable */
	st = tu_sh_out(&out, "'%s' -f --mockup '%s' -o nonempty '%s' 2>&1", exe, mockup, m.mnt);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "is already a redfishfs mount"));
	free(out);
	tu_mount_stop(&m);

	/* a directory that holds something */
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p /tmp/redfishfs-svc-ne/mnt && touch /tmp/redfishfs-svc-ne/mnt/f"), 0);
	st = tu_sh_out(&out, "'%s' -f --mockup '%s' /tmp/redfishfs-svc-ne/mnt 2>&1", exe, mockup);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "is not empty (give -o nonempty"));
	CU_ASSERT(!tu_is_mounted("/tmp/redfishfs-svc-ne/mnt"));
	free(out);
	/* ... and with -o nonempty it mounts over it */
	st = tu_sh("'%s' --mockup '%s' -o nonempty /tmp/redfishfs-svc-ne/mnt 2>/dev/null", exe, mockup);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(tu_is_mounted("/tmp/redfishfs-svc-ne/mnt"));
	CU_ASSERT_EQUAL(tu_sh("test -f /tmp/redfishfs-svc-ne/mnt/index.json"), 0);
	/* umount ends the daemon (it went to the background: find it by the mount) */
	CU_ASSERT_EQUAL(tu_sh("fusermount3 -u /tmp/redfishfs-svc-ne/mnt"), 0);
	CU_ASSERT_EQUAL(tu_sh("for i in $(seq 50); do pgrep -f '[r]edfishfs-svc-ne/mnt' >/dev/null || exit 0; "
			      "sleep 0.1; done; exit 1"), 0);
	tu_rm_rf("/tmp/redfishfs-svc-ne");
}

/* Whether dir is a mount whose daemon is gone (statfs is never cached). */
static bool dead_mount(const char *dir)
{
	struct statfs st;

	return statfs(dir, &st) < 0 && errno == ENOTCONN;
}

/* kill -9: by default (auto_unmount) the mount goes with the daemon. */
static void test_kill9_auto_unmount(void)
{
	const char *args[] = { "--mockup", mockup, NULL };
	struct tu_mount m;
	bool gone = false;

	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	kill(m.pid, SIGKILL);
	waitpid(m.pid, NULL, 0);
	m.pid = 0;
	for (int i = 0; i < 100 && !gone; i++, usleep(20 * 1000))
		gone = !tu_is_mounted(m.mnt);
	CU_ASSERT(gone);
	CU_ASSERT(!dead_mount(m.mnt));
	tu_mount_stop(&m);
}

/* With -o noauto_unmount, kill -9 leaves a dead mount; the next start
 * detaches it and mounts. */
static void test_kill9_stale_recovered(void)
{
	const char *args[] = { "--mockup", mockup, "-o", "noauto_unmount", NULL };
	struct tu_mount m;
	char *out = NULL;
	int st;

	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	kill(m.pid, SIGKILL);
	waitpid(m.pid, NULL, 0);
	m.pid = 0;
	usleep(200 * 1000);
	CU_ASSERT_FATAL(dead_mount(m.mnt));
	st = tu_sh_out(&out, "'%s' --mockup '%s' '%s' 2>&1", exe, mockup, m.mnt);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(out && strstr(out, "was left mounted by a redfishfs that was killed"));
	free(out);
	CU_ASSERT(!dead_mount(m.mnt));
	CU_ASSERT_EQUAL(tu_sh("test -f '%s/index.json'", m.mnt), 0);
	CU_ASSERT_EQUAL(tu_sh("fusermount3 -u '%s'", m.mnt), 0);
	tu_mount_stop(&m);
}


/* ---- systemd ----------------------------------------------------------------------- */

/* A NOTIFY_SOCKET of the test's own, bound to path. */
static int notify_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(a.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The next datagram within ms, NUL-terminated into buf; false on timeout. */
static bool notify_recv(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(fd, buf, len - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* READY=1 only once the mount answers and HTTP listens; STOPPING=1 on TERM. */
static void test_sd_notify(void)
{
	char dir[] = "/tmp/redfishfs-notify-XXXXXX", sock[128], mnt[128], log[128], msg[512];
	char index[160], *body;
	pid_t pid;
	int fd, st;
	uint16_t port = tu_free_port(0);
	char listen[32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/notify", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(index, sizeof(index), "%s/index.json", mnt);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
	CU_ASSERT_EQUAL_FATAL(mkdir(mnt, 0755), 0);
	fd = notify_socket(sock);
	CU_ASSERT_FATAL(fd >= 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(lfd, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", sock, 1);
		execl(exe, exe, "-f", "--mockup", mockup, "--http", listen, "--http-no-auth", mnt,
		      (char *)NULL);
		_exit(127);
	}
	CU_ASSERT(notify_recv(fd, msg, sizeof(msg), 10000));
	CU_ASSERT_STRING_EQUAL(msg, "READY=1");
	/* at READY both front ends answer */
	body = tu_read_file(index, NULL);
	CU_ASSERT(body && strstr(body, "ServiceRoot"));
	free(body);
	CU_ASSERT_EQUAL(tu_sh("curl -sf http://%s/redfish/v1/ >/dev/null", listen), 0);
	/* SIGHUP: RELOADING=1, then READY=1 */
	kill(pid, SIGHUP);
	CU_ASSERT(notify_recv(fd, msg, sizeof(msg), 10000));
	CU_ASSERT(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	CU_ASSERT(notify_recv(fd, msg, sizeof(msg), 10000));
	CU_ASSERT_STRING_EQUAL(msg, "READY=1");
	kill(pid, SIGTERM);
	CU_ASSERT(notify_recv(fd, msg, sizeof(msg), 10000));
	CU_ASSERT_STRING_EQUAL(msg, "STOPPING=1");
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT(!tu_is_mounted(mnt));
	close(fd);
	tu_rm_rf(dir);
}

/* With JOURNAL_STREAM naming stderr every line starts with its priority;
 * without it, plain lines. */
static void test_journal_prefix(void)
{
	char *out = NULL;
	int st;

	st = tu_sh_out(&out, "exec 2>/tmp/redfishfs-jrn.log; export JOURNAL_STREAM=$(stat -c %%d:%%i "
		       "/tmp/redfishfs-jrn.log); '%s' --bogus; '%s' --no-mount --log-level bogus; "
		       "'%s' -f --no-mount --http 127.0.0.1:%u --http-no-auth --mockup '%s' "
		       "--log-level debug & p=$!; sleep 1; kill $p; wait $p; cat /tmp/redfishfs-jrn.log",
		       exe, exe, exe, (unsigned)tu_free_port(0), mockup);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT(strstr(out, "<3>unknown option '--bogus'") != NULL);
	CU_ASSERT(strstr(out, "<3>--log-level bogus") != NULL);
	CU_ASSERT(strstr(out, "\n<6>Redfish service at http://127.0.0.1:") != NULL);
	CU_ASSERT(strstr(out, "redfishfs: ") == NULL);
	for (char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		CU_ASSERT(l[0] == '<' && l[1] >= '3' && l[1] <= '7' && l[2] == '>');
	free(out);
	/* a JOURNAL_STREAM of another file: plain lines */
	st = tu_sh_out(&out, "JOURNAL_STREAM=1:2 '%s' --bogus 2>&1", exe);
	CU_ASSERT(out && strstr(out, "redfishfs: error: unknown option '--bogus'"));
	free(out);
	unlink("/tmp/redfishfs-jrn.log");
}

/* ---- meson install ------------------------------------------------------------------ */

static void test_install(void)
{
	const char *build = getenv("BUILD_DIR");
	const char *dest = "/tmp/redfishfs-destdir";
	static const char *const want[] = {
		"/bin/redfishfs", "/bin/redfishfs-kasa",
		"/lib/systemd/system/redfishfs.service", "/lib/systemd/system/redfishfs@.service",
		"/share/doc/redfishfs/examples/redfishfs.conf.example",
		"/share/man/man1/redfishfs.1", "/share/man/man5/redfishfs.conf.5",
	};
	char *prefix = NULL, *list = NULL, *out = NULL, expect[1024] = "";
	int st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(build);
	tu_rm_rf(dest);
	CU_ASSERT_EQUAL_FATAL(tu_sh("meson install -C '%s' --no-rebuild --quiet --destdir %s "
				    ">/dev/null", build, dest), 0);
	/* where bin/redfishfs went is the prefix; nothing else is installed */
	CU_ASSERT_EQUAL_FATAL(tu_sh_out(&prefix, "cd %s && find . -path '*/bin/redfishfs' | "
					"sed 's|^\\.||; s|/bin/redfishfs$||'", dest), 0);
	CU_ASSERT_FATAL(prefix && *prefix);
	prefix[strcspn(prefix, "\n")] = '\0';
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t n = strlen(expect);

		snprintf(expect + n, sizeof(expect) - n, "%s%s\n", prefix, want[i]);
	}
	CU_ASSERT_EQUAL(tu_sh_out(&list, "cd %s && find . -type f -o -type l | sed 's|^\\.||' | "
				  "LC_ALL=C sort", dest), 0);
	if (!list || strcmp(list, expect) != 0)
		fprintf(stderr, "\n  installed:\n%s  expected:\n%s", list ? list : "", expect);
	CU_ASSERT(list && strcmp(list, expect) == 0);
	/* lint-clean man pages */
	st = tu_sh_out(&out, "mandoc -T lint -W warning %s%s/share/man/man1/redfishfs.1 "
		       "%s%s/share/man/man5/redfishfs.conf.5 2>&1", dest, prefix, dest, prefix);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(out && !*out);
	if (out && *out)
		fprintf(stderr, "\n%s", out);
	free(out);
	/* the units verify with the installed program; the root holds what
	 * they need besides it: the targets they name, mkdir and kill */
	CU_ASSERT_EQUAL(tu_sh("cd %s && mkdir -p bin usr/lib/systemd/system && cp /bin/mkdir /bin/kill bin/ && "
			      "for u in sysinit.target basic.target shutdown.target network-online.target "
			      "multi-user.target system.slice; do printf '[Unit]\\nDescription=%%s\\n' $u "
			      "> usr/lib/systemd/system/$u; done", dest), 0);
	st = tu_sh_out(&out, "systemd-analyze verify --man=no --root=%s %s/lib/systemd/system/redfishfs.service "
		       "%s/lib/systemd/system/redfishfs@example.service 2>&1", dest, prefix, prefix);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(out && !*out);
	if (out && *out)
		fprintf(stderr, "\n%s", out);
	free(out);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^ExecStart=%s/bin/redfishfs -f -c /etc/redfishfs/redfishfs.conf ' "
			      "%s%s/lib/systemd/system/redfishfs.service", prefix, dest, prefix), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^Type=notify$' %s%s/lib/systemd/system/redfishfs@.service", dest,
			      prefix), 0);
	/* the example configuration is one the daemon reads */
	st = tu_sh_out(&out, "'%s' -c %s%s/share/doc/redfishfs/examples/redfishfs.conf.example "
		       "--no-mount 2>&1", exe, dest, prefix);
	CU_ASSERT(out && strstr(out, "--no-mount needs --http"));
	free(out);
	free(list);
	free(prefix);
	tu_rm_rf(dest);
}

/* ---- fstab: mount -t fuse.redfishfs CONFIG MNT ------------------------------------- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

/* The mount at mnt is ours from conf; unmount it with umount(8) and the
 * daemon is gone. */
static void check_fstab_mount(const char *mnt, const char *conf)
{
	char *out = NULL;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "awk '$5 == \"%s\" { print $(NF-2), $(NF-1) }' "
				  "/proc/self/mountinfo", mnt), 0);
	if (out)
		out[strcspn(out, "\n")] = '\0';
	CU_ASSERT(out && strncmp(out, "fuse.redfishfs ", 15) == 0 && strcmp(out + 15, conf) == 0);
	free(out);
	CU_ASSERT_EQUAL(tu_sh("test -f '%s/index.json'", mnt), 0);
	CU_ASSERT_EQUAL(tu_sh("umount '%s'", mnt), 0);
	CU_ASSERT(!tu_is_mounted(mnt));
	CU_ASSERT_EQUAL(tu_sh("for i in $(seq 50); do pgrep -f '[r]edfishfs %s ' >/dev/null || exit 0; "
			      "sleep 0.1; done; exit 1", conf), 0);
}

static void test_fstab(void)
{
	const char *dir = "/tmp/redfishfs-fstab";
	char conf[128], mnt[128], text[700], bindir[512];

	tu_rm_rf(dir);
	snprintf(conf, sizeof(conf), "%s/redfishfs.conf", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p %s", mnt), 0);
	snprintf(text, sizeof(text), "[mockup]\ndir = %s\n", mockup);
	write_text(conf, text);
	snprintf(bindir, sizeof(bindir), "%s", exe);
	*strrchr(bindir, '/') = '\0';

	/* What mount(8) runs for -t fuse.redfishfs: mount.fuse3 finds the
	 * program by name (mount(8) gives it /usr/bin and /usr/local/bin). */
	CU_ASSERT_EQUAL(tu_sh("PATH='%s':$PATH mount.fuse3 %s %s -o rw,nosuid,nodev,_netdev "
			      "-t fuse.redfishfs", bindir, conf, mnt), 0);
	check_fstab_mount(mnt, conf);
	/* mount(8) itself, from an fstab line, with the program given by path */
	snprintf(text, sizeof(text), "%s#%s %s fuse defaults,_netdev 0 0\n", exe, conf, mnt);
	snprintf(bindir, sizeof(bindir), "%s/fstab", dir);
	write_text(bindir, text);
	CU_ASSERT_EQUAL(tu_sh("mount --fstab %s %s", bindir, mnt), 0);
	check_fstab_mount(mnt, conf);
	/* the line of the README, when the program is installed where mount(8) looks */
	if (tu_sh("test -x /usr/bin/redfishfs || test -x /usr/local/bin/redfishfs") == 0) {
		snprintf(text, sizeof(text), "%s %s fuse.redfishfs defaults,_netdev 0 0\n", conf, mnt);
		write_text(bindir, text);
		CU_ASSERT_EQUAL(tu_sh("mount --fstab %s %s", bindir, mnt), 0);
		check_fstab_mount(mnt, conf);
	}
	tu_rm_rf(dir);
}

/* ---- SIGHUP reload -------------------------------------------------------------------- */

static void strips_conf(const char *path, struct tu_sim **sims, const char *const *names, size_t n,
			const char *mockup_name, const char *tail)
{
	char text[2048];
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"[kasa %s]\nhost = 127.0.0.1:%u\n", names[i],
					(unsigned)sims[i]->port);
	if (mockup_name)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "[mockup %s]\ndir = %s\n",
					mockup_name, mockup);
	snprintf(text + len, sizeof(text) - len, "%s", tail ? tail : "");
	write_text(path, text);
}

/* How many of dir's entries start with prefix; -1 if dir cannot be listed. */
static int entries(const char *dir, const char *prefix)
{
	char *out = NULL;
	int n = -1;

	if (tu_sh_out(&out, "ls '%s'", dir) == 0) {
		n = 0;
		for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
			n += strncmp(l, prefix, strlen(prefix)) == 0;
	}
	free(out);
	return n;
}

static void test_reload(void)
{
	struct tu_sim a, b, c;
	struct tu_mount m;
	char conf[128], errs[128], reads[128], *t;
	const char *args[] = { "-c", conf, "--poll", "1", NULL };
	pid_t reader;
	int st;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&a, "hs300", "Alpha", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&b, "hs300", "Bravo", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&c, "plug", "Charlie", NULL), 0);
	snprintf(conf, sizeof(conf), "/tmp/redfishfs-reload-%d.conf", (int)getpid());
	snprintf(errs, sizeof(errs), "/tmp/redfishfs-reload-%d.errs", (int)getpid());
	snprintf(reads, sizeof(reads), "/tmp/redfishfs-reload-%d.reads", (int)getpid());
	strips_conf(conf, (struct tu_sim *[]){ &a, &b }, (const char *[]){ "A", "B" }, 2, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	CU_ASSERT(entries(tu_path(m.mnt, "Chassis"), "B") == 1);

	/* a reader on strip A's file all along */
	reader = fork();
	CU_ASSERT_FATAL(reader >= 0);
	if (reader == 0) {
		execl("/bin/bash", "bash", "-c",
		      "while :; do cat \"$1\" >/dev/null 2>>\"$2\" || echo fail >>\"$2\"; "
		      "printf . >>\"$3\"; done", "reader",
		      tu_path(m.mnt, "Chassis/A/Outlets/1/PowerState"), errs, reads, (char *)NULL);
		_exit(127);
	}
	usleep(300 * 1000);

	/* B leaves, C and the mockup "lab" join */
	strips_conf(conf, (struct tu_sim *[]){ &a, &c }, (const char *[]){ "A", "C" }, 2, "lab", NULL);
	kill(m.pid, SIGHUP);
	CU_ASSERT(wait_for_text(m.log, "configuration reloaded: 2 added, 1 removed", 10000));
	CU_ASSERT_EQUAL(entries(tu_path(m.mnt, "Chassis"), "B"), 0);
	CU_ASSERT_EQUAL(entries(tu_path(m.mnt, "PowerEquipment/RackPDUs"), "B"), 0);
	CU_ASSERT_EQUAL(entries(tu_path(m.mnt, "Chassis"), "C"), 1);
	CU_ASSERT_EQUAL(tu_sh("test -f '%s'", tu_path(m.mnt, "PowerEquipment/RackPDUs/C/Outlets/1/PowerState")), 0);
	CU_ASSERT(entries(tu_path(m.mnt, "Systems"), "lab_") >= 1);

	/* a broken file: reported with file and line, the running tree stays */
	strips_conf(conf, (struct tu_sim *[]){ &a }, (const char *[]){ "A" }, 1, NULL, "[kasa D\n");
	kill(m.pid, SIGHUP);
	{
		char want[160];

		snprintf(want, sizeof(want), "%s:3: syntax error", conf);
		CU_ASSERT(wait_for_text(m.log, want, 10000));
	}
	CU_ASSERT(wait_for_text(m.log, "reload failed: the configuration that runs is kept", 10000));
	CU_ASSERT_EQUAL(entries(tu_path(m.mnt, "Chassis"), "C"), 1);
	CU_ASSERT(entries(tu_path(m.mnt, "Systems"), "lab_") >= 1);

	/* the mockup leaves: its systems go, the collection it made stays readable */
	strips_conf(conf, (struct tu_sim *[]){ &a, &c }, (const char *[]){ "A", "C" }, 2, NULL, NULL);
	kill(m.pid, SIGHUP);
	CU_ASSERT(wait_for_text(m.log, "configuration reloaded: 0 added, 1 removed", 10000));
	CU_ASSERT_EQUAL(entries(tu_path(m.mnt, "Systems"), "lab_"), 0);
	CU_ASSERT_EQUAL(tu_sh("cat '%s' >/dev/null", tu_path(m.mnt, "Systems/index.json")), 0);

	kill(reader, SIGKILL);
	waitpid(reader, &st, 0);
	t = tu_read_file(errs, NULL);
	CU_ASSERT(!t || !*t);
	if (t && *t)
		fprintf(stderr, "\n  the reader saw: %.300s\n", t);
	free(t);
	{
		size_t n = 0;

		t = tu_read_file(reads, &n);
		CU_ASSERT(t && n > 10);   /* one byte per read */
		free(t);
	}
	CU_ASSERT(kill(m.pid, 0) == 0);   /* still the same daemon, never remounted */
	tu_mount_stop(&m);
	tu_sim_stop(&a);
	tu_sim_stop(&b);
	tu_sim_stop(&c);
	unlink(conf);
	unlink(errs);
	unlink(reads);
}

/* ---- the log says what happens ---------------------------------------------------- */

/* How many lines of path contain s. */
static int log_lines(const char *path, const char *s)
{
	char *t = tu_read_file(path, NULL);
	int n = count(t, s);

	free(t);
	return n;
}

static void test_logs(void)
{
	struct tu_sim a, b;
	struct tu_mount m;
	struct tu_daemon bmc;
	char kasa_a[64], kasa_b[64], bmc_down[64], listen[32], want[200], pass[64], wrong[64];
	char bmc_url[64], *out = NULL;
	uint16_t port = tu_free_port(0), closed = tu_free_port(port);
	const char *args[] = { "--kasa", kasa_a, "--kasa", kasa_b, "--bmc", bmc_down, "--poll", "1",
			       "--timeout", "300", "--http", listen, "--http-no-auth", NULL };
	int st;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&a, "hs300", "Alpha", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&b, "plug", "Bravo", NULL), 0);
	snprintf(kasa_a, sizeof(kasa_a), "A=127.0.0.1:%u", (unsigned)a.port);
	snprintf(kasa_b, sizeof(kasa_b), "B=127.0.0.1:%u", (unsigned)b.port);
	snprintf(bmc_down, sizeof(bmc_down), "down=http://127.0.0.1:%u", (unsigned)closed);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	/* a BMC that refuses connections, without credentials */
	CU_ASSERT(wait_for_text(m.log, "BMC down is offline: connection refused", 5000));
	CU_ASSERT_EQUAL(log_lines(m.log, "BMC down is offline"), 1);
	CU_ASSERT_EQUAL(log_lines(m.log, "No route to host"), 0);
	CU_ASSERT_EQUAL(log_lines(m.log, "BMC down: no user given"), 1);

	/* a strip that hangs: timeout, once; back: once */
	free(tu_sim_cmd(&a, "mode silent"));
	CU_ASSERT(wait_for_text(m.log, "strip A at 127.0.0.1 is offline: timeout", 8000));
	free(tu_sim_cmd(&a, "mode normal"));
	CU_ASSERT(wait_for_text(m.log, "strip A at 127.0.0.1 is back online", 8000));
	usleep(1500 * 1000);
	CU_ASSERT_EQUAL(log_lines(m.log, "strip A at 127.0.0.1 is offline"), 1);
	CU_ASSERT_EQUAL(log_lines(m.log, "strip A at 127.0.0.1 is back online"), 1);
	/* a strip whose device is gone: the connection is refused */
	tu_sim_stop(&b);
	CU_ASSERT(wait_for_text(m.log, "strip B at 127.0.0.1 is offline: connection refused", 8000));

	/* every write and action: who, what, result */
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s'", tu_path(m.mnt, "Chassis/A/Outlets/2/PowerState")), 0);
	snprintf(want, sizeof(want), "mount uid %u: write /PowerEquipment/RackPDUs/A/Outlets/2/"
		 "PowerState = 'Off': ok", (unsigned)getuid());
	CU_ASSERT(wait_for_text(m.log, want, 3000));
	CU_ASSERT_NOT_EQUAL(tu_sh("echo Foo > '%s' 2>/dev/null",
				  tu_path(m.mnt, "Chassis/A/Outlets/2/PowerState")), 0);
	CU_ASSERT(wait_for_text(m.log, "PowerState = 'Foo': Invalid argument", 3000));
	CU_ASSERT_EQUAL(tu_sh("curl -sf -X POST -H 'Content-Type: application/json' -d "
			      "'{\"PowerState\":\"On\"}' http://%s/redfish/v1/PowerEquipment/RackPDUs/A/"
			      "Outlets/2/Actions/Outlet.PowerControl >/dev/null", listen), 0);
	CU_ASSERT(wait_for_text(m.log, "HTTP user anonymous: POST /redfish/v1/PowerEquipment/"
				"RackPDUs/A/Outlets/2/Actions/Outlet.PowerControl: 200", 3000));
	tu_mount_stop(&m);
	tu_sim_stop(&a);

	/* a BMC that refuses the password: said, and the daemon does not start */
	snprintf(pass, sizeof(pass), "/tmp/redfishfs-logs-%d.pass", (int)getpid());
	snprintf(wrong, sizeof(wrong), "/tmp/redfishfs-logs-%d.wrong", (int)getpid());
	CU_ASSERT_EQUAL(tu_sh("umask 077; echo right-password-1 > %s; echo wrong-password-1 > %s",
			      pass, wrong), 0);
	{
		const char *bargs[] = { "--mockup", mockup, "--http-user", "admin",
					"--http-password-file", pass, "--state-dir", "/tmp/redfishfs-logs-state",
					NULL };

		tu_rm_rf("/tmp/redfishfs-logs-state");
		CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&bmc, "/tmp/redfishfs-logs-bmc.log", 0, bargs), 0);
	}
	snprintf(bmc_url, sizeof(bmc_url), "rack=http://127.0.0.1:%u", (unsigned)bmc.port);
	st = tu_sh_out(&out, "'%s' -f --no-mount --http 127.0.0.1:%u --http-no-auth --bmc %s "
		       "--bmc-user admin --bmc-password-file %s 2>&1", exe, (unsigned)tu_free_port(0),
		       bmc_url, wrong);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "BMC rack is offline: credentials refused"));
	CU_ASSERT(out && strstr(out, "login refused"));
	free(out);
	/* TLS to a plain HTTP port: the cause is TLS */
	st = tu_sh_out(&out, "'%s' -f --no-mount --http 127.0.0.1:%u --http-no-auth --bmc "
		       "tls=https://127.0.0.1:%u 2>&1", exe, (unsigned)tu_free_port(0),
		       (unsigned)bmc.port);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT(out && strstr(out, "BMC tls is offline: TLS failed"));
	free(out);
	tu_daemon_stop(&bmc, SIGTERM);
	tu_rm_rf("/tmp/redfishfs-logs-state");
	unlink(pass);
	unlink(wrong);
	unlink("/tmp/redfishfs-logs-bmc.log");
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no /dev/fuse: skipped\n");
		return 77;
	}
	exe = getenv("REDFISHFS");
	if (!exe || !getenv("SHARED_DIR"))
		return 1;
	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", getenv("SHARED_DIR"));
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("options", NULL, NULL);
	CU_add_test(s, "an unknown option is named", test_unknown_option);
	CU_add_test(s, "--help shows each option once", test_help);
	CU_add_test(s, "the man pages list the table", test_man_pages);
	s = CU_add_suite("mount safety", NULL, NULL);
	CU_add_test(s, "a second mount, a non-empty directory", test_mount_twice_and_nonempty);
	CU_add_test(s, "kill -9: auto_unmount", test_kill9_auto_unmount);
	CU_add_test(s, "kill -9 -o noauto_unmount: recovered on start", test_kill9_stale_recovered);
	s = CU_add_suite("systemd", NULL, NULL);
	CU_add_test(s, "READY=1, RELOADING=1, STOPPING=1", test_sd_notify);
	CU_add_test(s, "journal priority prefixes", test_journal_prefix);
	s = CU_add_suite("fstab", NULL, NULL);
	CU_add_test(s, "mount -t fuse.redfishfs CONFIG MNT, umount", test_fstab);
	s = CU_add_suite("reload", NULL, NULL);
	CU_add_test(s, "SIGHUP adds and removes strips and a mockup", test_reload);
	s = CU_add_suite("logs", NULL, NULL);
	CU_add_test(s, "offline and back with the cause, writes with who", test_logs);
	s = CU_add_suite("install", NULL, NULL);
	CU_add_test(s, "meson install DESTDIR: files, mandoc, systemd-analyze", test_install);
	return tu_run_cunit();
}
