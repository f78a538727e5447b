/* testutil.c — process helpers for the CUnit tests (see testutil.h).
 *
 * Called from the test executables' main threads only; nothing here is
 * thread-safe or meant to be. Every child process is started with fork+exec
 * (or fork and a function, in a network namespace), asks the kernel to SIGTERM it if the test dies (PR_SET_PDEATHSIG), and is
 * ended by its PID with a bounded wait (SIGTERM, then SIGKILL after 5 s).
 * Every wait on a pipe or socket is bounded by poll(). Depends only on libc
 * and CUnit so any test can link it (tu_buf_append fits libcurl's write
 * callback without including curl). The network-namespace helpers run `ip`
 * and setns(2); a namespace's name carries our PID so parallel runs do not
 * meet. PR_SET_PDEATHSIG fires when the forking *thread* ends: start
 * simulators and mounts from the main thread. */
#include "testutil.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_READY_TIMEOUT_MS 10000
#define TU_CONTROL_TIMEOUT_MS 5000
#define TU_MOUNT_TIMEOUT_MS 10000
#define TU_KILL_GRACE_MS 5000
#define ARRAY_SIZE_TU(a) (sizeof(a) / sizeof((a)[0]))

int64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tu_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait for pid up to grace_ms, then SIGKILL it and reap it. */
static void tu_reap(pid_t pid, int grace_ms)
{
	int64_t deadline = tu_now_ms() + grace_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (tu_now_ms() >= deadline)
			break;
		tu_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

void tu_end_pid(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	tu_reap(pid, TU_KILL_GRACE_MS);
}

/* In a forked child: die with the parent, so a crashed test leaves nothing. */
static void tu_child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_DFL);
}

/* ---- kasa-sim -------------------------------------------------------------- */

/* Wait until fd is ready for events, at most until deadline (tu_now_ms()).
 * 0, -ETIMEDOUT or -errno. */
static int tu_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - tu_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		return r == 0 ? -ETIMEDOUT : 0;
	}
}

/* Read one line from fd within timeout_ms into buf (NUL-terminated, no
 * newline). 0 or -errno. */
static int tu_read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	int64_t deadline = tu_now_ms() + timeout_ms;
	size_t got = 0;

	for (;;) {
		int r = tu_wait(fd, POLLIN, deadline);
		ssize_t n;

		if (r < 0)
			return r;
		/* One byte at a time: never consume past the line. */
		n = read(fd, buf + got, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		if (buf[got] == '\n') {
			buf[got] = '\0';
			return 0;
		}
		if (++got >= size - 1)
			return -EMSGSIZE;
	}
}

int tu_sim_start(struct tu_sim *sim, const char *model, const char *alias,
		 const char *const *extra)
{
	const char *exe = getenv("KASA_SIM");
	const char *argv[64];
	size_t argc = 0;
	char line[256];
	unsigned port, control;
	int pfd[2];
	pid_t pid;
	int r;

	if (!sim)
		return -EINVAL;
	if (!exe || !*exe)
		return -ENOENT;
	argv[argc++] = exe;
	if (model) {
		argv[argc++] = "--model";
		argv[argc++] = model;
	}
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--control";
	argv[argc++] = "127.0.0.1:0";
	if (alias) {
		argv[argc++] = "--alias";
		argv[argc++] = alias;
	}
	for (size_t i = 0; extra && extra[i]; i++) {
		if (argc >= ARRAY_SIZE_TU(argv) - 1)
			return -E2BIG;
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	if (pid == 0) {
		tu_child_setup();
		if (dup2(pfd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	r = tu_read_line(pfd[0], line, sizeof(line), TU_READY_TIMEOUT_MS);
	close(pfd[0]);
	if (r >= 0 && (sscanf(line, "ready port=%u control=%u", &port, &control) != 2 ||
		       port == 0 || port > 65535 || control == 0 || control > 65535))
		r = -EPROTO;
	if (r < 0) {
		tu_end_pid(pid);
		return r;
	}
	sim->pid = pid;
	sim->port = (uint16_t)port;
	sim->control = (uint16_t)control;
	return 0;
}

/* Connect to 127.0.0.1:port within timeout_ms. fd or -errno. */
static int tu_connect_loopback(uint16_t port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, r, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		r = r == 0 ? -ETIMEDOUT : -errno;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		r = err ? -err : -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static int tu_send_all(int fd, const char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = tu_now_ms() + timeout_ms;

	while (len > 0) {
		int r = tu_wait(fd, POLLOUT, deadline);
		ssize_t n;

		if (r < 0)
			return r;
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

char *tu_sim_cmd(struct tu_sim *sim, const char *fmt, ...)
{
	char *cmd = NULL, *line = NULL, *reply = NULL;
	va_list ap;
	int fd, r;

	if (!sim || sim->control == 0)
		return NULL;
	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	if (asprintf(&line, "%s\n", cmd) < 0) {
		free(cmd);
		return NULL;
	}
	free(cmd);
	fd = tu_connect_loopback(sim->control, TU_CONTROL_TIMEOUT_MS);
	if (fd < 0)
		goto out;
	if (tu_send_all(fd, line, strlen(line), TU_CONTROL_TIMEOUT_MS) < 0)
		goto out_close;
	reply = malloc(4096);
	if (!reply)
		goto out_close;
	if (tu_read_line(fd, reply, 4096, TU_CONTROL_TIMEOUT_MS) < 0) {
		free(reply);
		reply = NULL;
	}
out_close:
	close(fd);
out:
	free(line);
	return reply;
}

void tu_sim_expect(struct tu_sim *sim, const char *cmd, const char *want)
{
	char *r = tu_sim_cmd(sim, "%s", cmd);

	if (!r || strcmp(r, want) != 0)
		fprintf(stderr, "\n  control '%s': got '%s', want '%s'\n", cmd, r ? r : "(null)", want);
	CU_ASSERT(r && strcmp(r, want) == 0);
	free(r);
}

int tu_sim_count(struct tu_sim *sim, const char *method)
{
	char *reply = method ? tu_sim_cmd(sim, "count %s", method) : tu_sim_cmd(sim, "count");
	int n = -1;

	if (reply && sscanf(reply, "ok %d", &n) != 1)
		n = -1;
	free(reply);
	return n;
}

void tu_sim_stop(struct tu_sim *sim)
{
	if (!sim || sim->pid <= 0)
		return;
	tu_end_pid(sim->pid);
	sim->pid = 0;
	sim->port = 0;
	sim->control = 0;
}

/* ---- shell ----------------------------------------------------------------- */

/* Fork and exec argv; if out_fd is not NULL, the child's stdout is a pipe
 * whose read end is returned there. pid or -errno. */
static pid_t tu_spawn(const char *const *argv, int *out_fd)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (out_fd && pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		if (out_fd) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return r;
	}
	if (pid == 0) {
		tu_child_setup();
		if (out_fd && dup2(pfd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out_fd) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	return pid;
}

static int tu_wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int tu_vsh(char **ret_out, const char *fmt, va_list ap)
{
	char *cmd = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = -1, status;
	pid_t pid;

	if (vasprintf(&cmd, fmt, ap) < 0)
		return -1;
	{
		const char *argv[] = { "bash", "-c", cmd, NULL };

		pid = tu_spawn(argv, ret_out ? &fd : NULL);
	}
	free(cmd);
	if (pid < 0)
		return -1;
	if (ret_out) {
		for (;;) {
			ssize_t n;

			if (cap - len < 4096) {
				char *nb = realloc(buf, cap + 65536);

				if (!nb)
					break;
				buf = nb;
				cap += 65536;
			}
			n = read(fd, buf + len, cap - len - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		close(fd);
	}
	status = tu_wait_status(pid);
	if (ret_out) {
		if (!buf) {
			buf = strdup("");
			if (!buf)
				return -1;
		}
		buf[len] = '\0';
		*ret_out = buf;
	}
	return status;
}

int tu_sh(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tu_vsh(NULL, fmt, ap);
	va_end(ap);
	return r;
}

int tu_sh_out(char **ret_out, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!ret_out)
		return -1;
	va_start(ap, fmt);
	r = tu_vsh(ret_out, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- files ----------------------------------------------------------------- */

char *tu_read_file(const char *path, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);

			if (!nb)
				goto fail;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

static int tu_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void tu_rm_rf(const char *dir)
{
	nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- mounts ---------------------------------------------------------------- */

static bool tu_mount_ready(const struct tu_mount *m)
{
	char path[400];
	char *body;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/index.json", m->mnt);
	body = tu_read_file(path, &len);
	free(body);
	return body && len > 0;
}

static int tu_unmount(const char *mnt)
{
	const char *argv[] = { "fusermount3", "-u", "-q", mnt, NULL };
	const char *lazy[] = { "fusermount3", "-u", "-z", "-q", mnt, NULL };
	pid_t pid = tu_spawn(argv, NULL);

	if (pid > 0 && tu_wait_status(pid) == 0)
		return 0;
	pid = tu_spawn(lazy, NULL);
	if (pid > 0 && tu_wait_status(pid) == 0)
		return 0;
	return -EBUSY;
}

static void tu_dump_log(const struct tu_mount *m)
{
	char *log = tu_read_file(m->log, NULL);

	fprintf(stderr, "redfishfs did not come up; its log (%s):\n%s\n", m->log,
		log ? log : "(unreadable)");
	free(log);
}

int tu_mount_start(struct tu_mount *m, const char *const *args)
{
	const char *exe = getenv("REDFISHFS");
	const char *argv[64];
	size_t argc = 0;
	int64_t deadline;
	pid_t pid;
	int r;

	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	if (!exe || !*exe)
		return -ENOENT;
	argv[argc++] = exe;
	for (size_t i = 0; args && args[i]; i++) {
		if (argc >= ARRAY_SIZE_TU(argv) - 3)
			return -E2BIG;
		argv[argc++] = args[i];
	}
	snprintf(m->dir, sizeof(m->dir), "/tmp/redfishfs-test-XXXXXX");
	if (!mkdtemp(m->dir))
		return -errno;
	snprintf(m->mnt, sizeof(m->mnt), "%s/mnt", m->dir);
	snprintf(m->log, sizeof(m->log), "%s/log", m->dir);
	if (mkdir(m->mnt, 0755) < 0) {
		r = -errno;
		tu_rm_rf(m->dir);
		return r;
	}
	argv[argc++] = "-f";
	argv[argc++] = m->mnt;
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		tu_rm_rf(m->dir);
		return r;
	}
	if (pid == 0) {
		int fd;

		tu_child_setup();
		fd = open(m->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	m->pid = pid;

	deadline = tu_now_ms() + TU_MOUNT_TIMEOUT_MS;
	for (;;) {
		int status;

		if (tu_mount_ready(m))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			m->pid = 0;
			r = -ECHILD;
			break;
		}
		if (tu_now_ms() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		tu_sleep_ms(20);
	}
	tu_dump_log(m);
	tu_mount_stop(m);
	return r;
}

int tu_mount_http_base(const struct tu_mount *m, char *buf, size_t cap)
{
	char *log = tu_read_file(m->log, NULL);
	const char *at = log ? strstr(log, "Redfish service at ") : NULL;
	const char *end = at ? strstr(at, "/redfish/v1") : NULL;

	if (!end) {
		free(log);
		return -1;
	}
	at += strlen("Redfish service at ");
	snprintf(buf, cap, "%.*s", (int)(end - at), at);
	free(log);
	return 0;
}

void tu_mount_stop(struct tu_mount *m)
{
	if (!m || !m->dir[0])
		return;
	tu_unmount(m->mnt);
	if (m->pid > 0)
		tu_end_pid(m->pid);
	m->pid = 0;
	tu_rm_rf(m->dir);
	m->dir[0] = '\0';
}

/* ---- misc ------------------------------------------------------------------ */

bool tu_have_fuse(void)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int tu_cunit_begin_mount(void)
{
	if (!tu_have_fuse()) {
		fprintf(stderr, "no usable /dev/fuse: skipped\n");
		return 77;
	}
	return CU_initialize_registry() == CUE_SUCCESS ? 0 : 1;
}

int tu_run_cunit(void)
{
	unsigned failures;

	if (CU_get_error() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit registry error: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit run error: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 1;
	}
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}

/* ---- small helpers shared by the mount tests ----------------------------------- */

char *tu_path(const char *base, const char *fmt, ...)
{
	/* Per thread: fake servers' threads use it too (ThreadSanitizer). */
	static __thread char bufs[4][1024];
	static __thread int next;
	char rel[768];
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, sizeof(bufs[0]), "%s/%s", base, rel);
	return b;
}

char *tu_value(const char *path)
{
	size_t len = 0;
	char *s = tu_read_file(path, &len);

	if (s && len > 0 && s[len - 1] == '\n')
		s[len - 1] = '\0';
	return s;
}

bool tu_is_mounted(const char *dir)
{
	char *mi = tu_read_file("/proc/self/mountinfo", NULL);
	char needle[400];
	bool found;

	snprintf(needle, sizeof(needle), " %s ", dir);
	found = mi && strstr(mi, needle);
	free(mi);
	return found;
}

int tu_ip(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return tu_sh("ip %s >/dev/null 2>&1", cmd);
}

/* ---- a daemon without a mount ------------------------------------------------------ */

int tu_daemon_start(struct tu_daemon *d, const char *log_path, uint16_t port,
		    const char *const *args)
{
	const char *exe = getenv("REDFISHFS");
	const char *argv[40];
	char listen[32];
	size_t argc = 0;
	int64_t deadline;

	memset(d, 0, sizeof(*d));
	if (!exe)
		return -ENOENT;
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
	snprintf(d->log, sizeof(d->log), "%s", log_path);
	argv[argc++] = exe;
	argv[argc++] = "-f";
	argv[argc++] = "--no-mount";
	argv[argc++] = "--http";
	argv[argc++] = listen;
	for (size_t i = 0; args && args[i] && argc < ARRAY_SIZE_TU(argv) - 1; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		tu_child_setup();
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	deadline = tu_now_ms() + TU_READY_TIMEOUT_MS;
	while (tu_now_ms() < deadline) {
		char *log = tu_read_file(d->log, NULL);
		const char *at = log ? strstr(log, "Redfish service at http") : NULL;
		unsigned p = 0;
		int status;

		if (at && (sscanf(at, "Redfish service at http://127.0.0.1:%u/", &p) == 1 ||
			   sscanf(at, "Redfish service at https://127.0.0.1:%u/", &p) == 1) && p) {
			d->port = (uint16_t)p;
			free(log);
			return 0;
		}
		free(log);
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		tu_sleep_ms(20);
	}
	{
		char *log = tu_read_file(d->log, NULL);

		fprintf(stderr, "\n  %s did not come up:\n%s\n", exe, log ? log : "");
		free(log);
	}
	tu_daemon_stop(d, SIGKILL);
	return -ETIMEDOUT;
}

void tu_daemon_stop(struct tu_daemon *d, int sig)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, sig);
	tu_reap(d->pid, TU_KILL_GRACE_MS);
	d->pid = 0;
}

/* ---- sockets ---------------------------------------------------------------------- */

uint16_t tu_free_port(uint16_t avoid)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		uint16_t p = 0;

		if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(u, (struct sockaddr *)&sa, &len) == 0 &&
		    bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			p = ntohs(sa.sin_port);
		if (u >= 0)
			close(u);
		if (t >= 0)
			close(t);
		if (p && p != avoid)
			return p;
	}
	return 0;
}

int tu_udp_bound(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- a body buffer for libcurl ------------------------------------------------------ */

size_t tu_buf_append(char *p, size_t size, size_t n, void *userdata)
{
	struct tu_buf *b = userdata;
	char *nd = realloc(b->data, b->len + size * n + 1);

	if (!nd)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* ---- network namespaces ------------------------------------------------------------- */

int tu_netns_setup(struct tu_netns *ns, const char *prefix, const char *net, size_t n)
{
	int pid = (int)getpid();

	memset(ns, 0, sizeof(*ns));
	if (n > TU_NETNS_MAX) {
		snprintf(ns->skip_reason, sizeof(ns->skip_reason), "too many namespaces asked for");
		return -1;
	}
	ns->n = n;
	snprintf(ns->client, sizeof(ns->client), "%s%dc", prefix, pid);
	if (tu_ip("netns add %s", ns->client) != 0) {
		snprintf(ns->skip_reason, sizeof(ns->skip_reason), "cannot create a network namespace");
		return -1;
	}
	ns->made[0] = true;
	if (tu_ip("-n %s link add br0 type bridge", ns->client) != 0 ||
	    tu_ip("-n %s addr add %s.1/24 brd + dev br0", ns->client, net) != 0 ||
	    tu_ip("-n %s link set br0 up", ns->client) != 0 ||
	    tu_ip("-n %s link set lo up", ns->client) != 0) {
		snprintf(ns->skip_reason, sizeof(ns->skip_reason), "cannot create a bridge in a namespace");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(ns->dev[i], sizeof(ns->dev[i]), "%s%dd%zu", prefix, pid, i);
		if (tu_ip("netns add %s", ns->dev[i]) != 0)
			goto fail;
		ns->made[i + 1] = true;
		if (tu_ip("-n %s link add v%zu type veth peer name eth0 netns %s", ns->client, i,
			  ns->dev[i]) != 0 ||
		    tu_ip("-n %s link set v%zu master br0 up", ns->client, i) != 0 ||
		    tu_ip("-n %s addr add %s.%zu/24 brd + dev eth0", ns->dev[i], net, 10 + i) != 0 ||
		    tu_ip("-n %s link set eth0 up", ns->dev[i]) != 0 ||
		    tu_ip("-n %s link set lo up", ns->dev[i]) != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(ns->skip_reason, sizeof(ns->skip_reason), "cannot create veth pairs in namespaces");
	return -1;
}

bool tu_netns_wanted(int argc, char **argv)
{
	return argc > 1 && strcmp(argv[1], "netns") == 0;
}

int tu_netns_or_skip(const struct tu_netns *ns, int (*setup)(void), void (*teardown)(void))
{
	atexit(teardown);
	if (setup() == 0)
		return 0;
	fprintf(stderr, "network namespaces unavailable: %s\n", ns->skip_reason);
	return -1;
}

int tu_netns_run(struct tu_netns *ns, size_t i, int (*child)(void *arg), void *arg,
		 const char *ready)
{
	char path[128], line[128];
	int pfd[2], fd, r;
	pid_t pid;

	if (i >= ns->n || !ns->made[i + 1])
		return -EINVAL;
	snprintf(path, sizeof(path), "/run/netns/%s", ns->dev[i]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	pid = fork();
	if (pid == 0) {
		tu_child_setup();
		if (setns(fd, CLONE_NEWNET) < 0 || dup2(pfd[1], STDOUT_FILENO) < 0)
			_exit(127);
		_exit(child(arg));
	}
	r = pid < 0 ? -errno : 0;
	close(fd);
	close(pfd[1]);
	if (r < 0) {
		close(pfd[0]);
		return r;
	}
	ns->pid[i] = pid;
	r = tu_read_line(pfd[0], line, sizeof(line), TU_READY_TIMEOUT_MS);
	close(pfd[0]);
	if (r < 0 || strncmp(line, ready, strlen(ready)) != 0) {
		tu_netns_stop(ns, i);
		return -EPROTO;
	}
	return 0;
}

static int tu_netns_execv(void *arg)
{
	char *const *argv = arg;

	execv(argv[0], argv);
	return 127;
}

int tu_netns_exec(struct tu_netns *ns, size_t i, const char *const *argv, const char *ready)
{
	return tu_netns_run(ns, i, tu_netns_execv, (void *)argv, ready);
}

void tu_netns_stop(struct tu_netns *ns, size_t i)
{
	if (i >= TU_NETNS_MAX)
		return;
	tu_end_pid(ns->pid[i]);
	ns->pid[i] = 0;
}

void tu_netns_teardown(struct tu_netns *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		tu_netns_stop(ns, i);
	for (size_t i = 0; i < ns->n; i++)
		if (ns->made[i + 1])
			tu_ip("netns del %s", ns->dev[i]);
	if (ns->made[0])
		tu_ip("netns del %s", ns->client);
	memset(ns->made, 0, sizeof(ns->made));
}
