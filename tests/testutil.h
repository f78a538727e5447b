/* testutil.h — helpers for tests that run real processes: the kasa-sim
 * simulator, the redfishfs daemon on a real mount, shell commands.
 *
 * Programs are found through the environment meson test sets: KASA_SIM,
 * REDFISHFS, SHARED_DIR, BUILD_DIR. Everything runs on loopback; every process
 * started here is ended by its PID, every mount made here is unmounted. */
#ifndef REDFISHFS_TESTUTIL_H
#define REDFISHFS_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A running kasa-sim: `kasa-sim --model MODEL --listen 127.0.0.1:0
 * --control 127.0.0.1:0 [--alias ALIAS] [extra...]`, ready once it printed
 * "ready port=P control=C". */
struct tu_sim {
	pid_t pid;
	uint16_t port;      /* device port (TCP and UDP) */
	uint16_t control;   /* control port (text lines) */
};

/* extra: NULL-terminated extra arguments, or NULL. 0 or -errno. */
int tu_sim_start(struct tu_sim *sim, const char *model, const char *alias,
		 const char *const *extra);
/* Send one control line, return the reply's first line (malloc'd, no
 * newline), e.g. tu_sim_cmd(sim, "state %d", 2) -> "ok on". NULL on error. */
char *tu_sim_cmd(struct tu_sim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send one control line and assert (CUnit) that the reply's first line is
 * want; a mismatch is printed with both. */
void tu_sim_expect(struct tu_sim *sim, const char *cmd, const char *want);
/* The count of device requests received whose text contains method (NULL:
 * all), through the "count" control command; -1 on error. */
int tu_sim_count(struct tu_sim *sim, const char *method);
void tu_sim_stop(struct tu_sim *sim);

/* A redfishfs daemon in the foreground (-f) on a fresh mount point under
 * a temporary directory. args: NULL-terminated arguments placed before the
 * mount point (e.g. "--kasa", "PowerStrip=127.0.0.1:1234"). Waits until the
 * mount answers (ServiceRoot index.json readable) or 10 s pass. */
struct tu_mount {
	pid_t pid;
	char dir[256];      /* temporary directory */
	char mnt[300];      /* dir/mnt: the mount point */
	char log[300];      /* dir/log: the daemon's stderr */
};
int tu_mount_start(struct tu_mount *m, const char *const *args);
/* Unmount (fusermount3 -u) and end the daemon by its PID; removes dir. */
void tu_mount_stop(struct tu_mount *m);
/* The base URL ("http://127.0.0.1:P") its HTTP server logged ("Redfish
 * service at URL/redfish/v1"), into buf. 0, or -1 if it logged none. */
int tu_mount_http_base(const struct tu_mount *m, char *buf, size_t cap);

/* Run `bash -c CMD` (printf-style); returns the exit status (0..255) or -1.
 * tu_sh_out also captures stdout (malloc'd, NUL-terminated) into *ret_out. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tu_sh_out(char **ret_out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read a whole file (malloc'd, NUL-terminated); NULL on error. */
char *tu_read_file(const char *path, size_t *ret_len);

/* Remove dir and everything below it, staying on its file system (a mount
 * point below is not entered); errors are ignored. */
void tu_rm_rf(const char *dir);

/* Monotonic milliseconds. */
int64_t tu_now_ms(void);

/* Whether /dev/fuse is usable; mount suites exit 77 (skip) when not. */
bool tu_have_fuse(void);

/* Run the registered CUnit suites, return the process exit code
 * (0 = all passed, 1 = failures), reading the failure count before
 * CU_cleanup_registry(). */
int tu_run_cunit(void);
/* The start of a mount suite's main(): 77 (meson's skip, with the reason on
 * stderr) without a usable /dev/fuse, 1 if CUnit's registry cannot start,
 * else 0 with the registry ready. */
int tu_cunit_begin_mount(void);

/* base/REL with REL printf-style, in one of 4 rotating buffers of the thread (so
 * up to 4 may be used at once): tu_path(m.mnt, "Chassis/%s", name). */
char *tu_path(const char *base, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A file's content without its one trailing newline (malloc'd); NULL if
 * unreadable. */
char *tu_value(const char *path);

/* Whether dir is a mount point now (/proc/self/mountinfo). */
bool tu_is_mounted(const char *dir);

/* End a process this test started: SIGTERM, then SIGKILL after 5 s; reaped. */
void tu_end_pid(pid_t pid);

/* Run `ip ARGS` quietly (printf-style); 0 on success. */
int tu_ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A redfishfs daemon without a mount: `REDFISHFS -f --no-mount --http
 * 127.0.0.1:PORT ARGS...` (PORT 0: any), stdout and stderr to log_path,
 * ready once it logged "Redfish service at http[s]://127.0.0.1:P" (10 s at
 * most; the log is printed if it does not come up). */
struct tu_daemon {
	pid_t pid;
	uint16_t port;
	char log[300];
};
int tu_daemon_start(struct tu_daemon *d, const char *log_path, uint16_t port,
		    const char *const *args);
/* Send sig (SIGTERM, or SIGKILL for a crash), wait up to 5 s, then SIGKILL. */
void tu_daemon_stop(struct tu_daemon *d, int sig);

/* A port number free for TCP and UDP on every 127.x address: the kernel's
 * pick for a wildcard UDP socket, confirmed for a wildcard TCP one, and not
 * avoid. 0 when none was found. */
uint16_t tu_free_port(uint16_t avoid);
/* A UDP socket (SO_REUSEADDR, close-on-exec) bound to the numeric IPv4
 * addr and port; -1 on error. */
int tu_udp_bound(const char *addr, uint16_t port);

/* A growing buffer of received bytes, always NUL-terminated once written
 * to; data is malloc'd (free it). tu_buf_append has the fwrite-style
 * signature of libcurl's CURLOPT_WRITEFUNCTION (CURLOPT_WRITEDATA: the
 * struct tu_buf), so tests can collect a body without testutil linking
 * libcurl. Returns size * n, or 0 when out of memory. */
struct tu_buf {
	char *data;
	size_t len;
};
size_t tu_buf_append(char *p, size_t size, size_t n, void *userdata);

/* Network namespaces for tests of broadcast discovery: a client namespace
 * PREFIX<pid>c holding bridge br0 (NET.1/24, up) and n device namespaces
 * PREFIX<pid>d<i>, each joined to br0 by a veth pair (v<i> in the client,
 * eth0 = NET.<10+i>/24 in the device). Needs the rights of `ip netns`; the
 * tests skip where tu_netns_setup fails. Processes started in a device
 * namespace are ended by their PID, every namespace made is deleted. */
#define TU_NETNS_MAX 8
struct tu_netns {
	char client[32];
	char dev[TU_NETNS_MAX][32];
	pid_t pid[TU_NETNS_MAX];         /* the process running in dev[i], or 0 */
	bool made[TU_NETNS_MAX + 1];     /* [0] client, [1 + i] dev[i] */
	size_t n;
	char skip_reason[128];           /* why setup failed */
};
/* net: the first three octets ("10.77.1"), n <= TU_NETNS_MAX. 0, or -1
 * with skip_reason set; whatever was made is left to tu_netns_teardown. */
int tu_netns_setup(struct tu_netns *ns, const char *prefix, const char *net, size_t n);
/* A program's cases that need namespaces run as a test of their own
 * (tests/meson.build passes "netns"). tu_netns_wanted: whether this is that
 * run. tu_netns_or_skip: setup() them (teardown() at exit); 0, or -1 with
 * the reason on stderr, and main then exits 77 (a meson SKIP). */
bool tu_netns_wanted(int argc, char **argv);
int tu_netns_or_skip(const struct tu_netns *ns, int (*setup)(void), void (*teardown)(void));
/* Start a process in dev[i]'s network namespace, its stdout a pipe, and
 * wait (10 s at most) for its first line, which must begin with ready.
 * tu_netns_exec runs argv (argv[0] a path); tu_netns_run runs child(arg) in
 * the forked child, whose return value is the exit status. 0 or -errno
 * (-EPROTO: no ready line; the process is ended then). */
int tu_netns_exec(struct tu_netns *ns, size_t i, const char *const *argv, const char *ready);
int tu_netns_run(struct tu_netns *ns, size_t i, int (*child)(void *arg), void *arg,
		 const char *ready);
/* End the process in dev[i], if any. */
void tu_netns_stop(struct tu_netns *ns, size_t i);
/* End every process, delete every namespace made; a second call does nothing. */
void tu_netns_teardown(struct tu_netns *ns);

#endif
