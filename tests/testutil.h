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

/* Run `bash -c CMD` (printf-style); returns the exit status (0..255) or -1.
 * tu_sh_out also captures stdout (malloc'd, NUL-terminated) into *ret_out. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tu_sh_out(char **ret_out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read a whole file (malloc'd, NUL-terminated); NULL on error. */
char *tu_read_file(const char *path, size_t *ret_len);

/* Monotonic milliseconds. */
int64_t tu_now_ms(void);

/* Whether /dev/fuse is usable; mount suites exit 77 (skip) when not. */
bool tu_have_fuse(void);

/* Run the registered CUnit suites, return the process exit code
 * (0 = all passed, 1 = failures), reading the failure count before
 * CU_cleanup_registry(). */
int tu_run_cunit(void);

/* base/REL with REL printf-style, in one of 4 rotating static buffers (so
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

#endif
