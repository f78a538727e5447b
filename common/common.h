/* common.h — small helpers shared by every module: logging, cleanup
 * attributes, clocks, a string-keyed hash map.
 *
 * Library modules (kasa/, redfish/) do not log; fs/ and httpd/ do, once per
 * failure. The hash map is not thread-safe: its owner locks around it. */
#ifndef REDFISHFS_COMMON_H
#define REDFISHFS_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

/* A configuration boolean: 1/true/yes/on or 0/false/no/off, any case.
 * 0 or -EINVAL (*ret untouched). */
int parse_bool(const char *s, bool *ret);

/* The one text check for outside input (HTTP bodies, mount writes, names
 * from devices and BMCs): valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF, by libunistring) and no control character (C0 with
 * NUL, DEL, C1), except TAB, LF and CR when multiline. Never truncates: the
 * whole of s[0..n) is judged. 0, -EILSEQ (not UTF-8) or -EINVAL (a control). */
int text_check(const char *s, size_t n, bool multiline);
/* s[0..n) for a message or a log line: printable ASCII kept, every other
 * byte as \xNN, cut to fit cap (NUL-terminated). Returns out. */
char *text_escape(const char *s, size_t n, char *out, size_t cap);

/* Clocks. Monotonic for timeouts and ages, realtime for mtimes. */
/* Read a password file (a BMC's, a Kasa account's, the HTTP server's): one
 * line, its trailing newline dropped. -EPERM when the file is readable or
 * writable by group or others, -EINVAL if not a regular file, empty, over
 * 4 KiB, or holding a NUL or a second line, else the open/read -errno.
 * malloc'd on success. */
int password_file_read(const char *path, char **ret_password);

int64_t now_ms(void);
int64_t now_us(void);
struct timespec now_realtime(void);

/* Logging: to stderr until log_to_syslog() is called (after daemonizing),
 * one line per message. When stderr is the journal (JOURNAL_STREAM names
 * its device and inode), each line starts with its priority "<3>".."<7>"
 * instead of "redfishfs: LEVEL: ". */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_NOTICE, LOG_LEVEL_INFO,
		 LOG_LEVEL_DEBUG };
void log_set_level(enum log_level level);
/* Look at JOURNAL_STREAM and stderr again (main calls it first thing). */
void log_detect_journal(void);
void log_to_syslog(const char *ident);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
/* An event for the audit trail: logged like log_msg (the journal line) and
 * handed, as the same text, to the event sink if one is set (httpd's
 * LogService). origin: the URI the event is about, or NULL. */
void log_event(enum log_level level, const char *origin, const char *fmt, ...) _printf_(3, 4);
/* Set (fn) or clear (NULL) the sink; fn is called from any thread, without
 * locks of the caller's, and must not log. Thread-safe. */
typedef void (*log_sink_fn)(void *userdata, enum log_level level, const char *origin,
			    const char *text);
void log_set_event_sink(log_sink_fn fn, void *userdata);
/* Whether the state of key ("write Chassis/X", a URI; state an -errno, 0
 * fine) differs from the last one recorded for it, recording it: a caller
 * logs a failure as a warning only when this says so, and at debug level
 * otherwise, so a device that stays down is reported once per change, not
 * once per request. Thread-safe; remembers up to 4096 keys. */
bool log_state_changed(const char *key, int state);

/* strmap: open hashing from NUL-terminated keys to pointers. Keys are copied;
 * values are borrowed (the owner frees them). */
struct strmap;
struct strmap *strmap_new(void);
struct strmap *strmap_free(struct strmap *m);       /* NULL-safe, returns NULL */
void *strmap_get(const struct strmap *m, const char *key);
int strmap_put(struct strmap *m, const char *key, void *value); /* 0 or -ENOMEM; replaces */
void *strmap_remove(struct strmap *m, const char *key);         /* returns the old value */
size_t strmap_size(const struct strmap *m);
/* Iterate: *iter starts at 0; returns false at the end. */
bool strmap_next(const struct strmap *m, size_t *iter, const char **ret_key, void **ret_value);

/* Daemon counters for /metrics (common/stats.c): lock-free, process-wide,
 * bumped by whoever does the thing (httpd, fs, kasa, the BMC client). */
enum stats_fuse_op {
	STATS_FUSE_LOOKUP, STATS_FUSE_GETATTR, STATS_FUSE_SETATTR, STATS_FUSE_READLINK,
	STATS_FUSE_OPEN, STATS_FUSE_READ, STATS_FUSE_WRITE, STATS_FUSE_READDIR,
	STATS_FUSE_READDIRPLUS, STATS_FUSE_ACCESS, STATS_FUSE_POLL, STATS_FUSE_OP_COUNT,
};
enum stats_backend { STATS_KASA, STATS_BMC, STATS_BACKEND_COUNT };
#define STATS_RTT_BUCKETS 12        /* upper bounds in stats_rtt_bounds_s, then +Inf */
extern const double stats_rtt_bounds_s[STATS_RTT_BUCKETS];

void stats_http(unsigned status);                       /* one response sent */
void stats_fuse(enum stats_fuse_op op);                 /* one request served */
void stats_round_trip(enum stats_backend b, int64_t usec, bool ok);
void stats_reconnect(enum stats_backend b);             /* a connection replaced */

struct stats_snapshot {
	uint64_t http[600];                     /* by status 0..599 */
	uint64_t fuse[STATS_FUSE_OP_COUNT];
	struct {
		uint64_t ok, failed, reconnects;
		uint64_t bucket[STATS_RTT_BUCKETS + 1];  /* not cumulative; last: +Inf */
		uint64_t sum_usec;
	} dev[STATS_BACKEND_COUNT];
};
void stats_read(struct stats_snapshot *ret);
const char *stats_fuse_op_name(enum stats_fuse_op op);  /* "lookup", ... */
const char *stats_backend_name(enum stats_backend b);   /* "kasa", "bmc" */

uint64_t hash_fnv1a64(const void *data, size_t len);

/* A name-based UUID (RFC 9562 version 8) of name: the same name always
 * gives the same UUID, from two independent FNV-1a hashes of it (not a
 * cryptographic hash: for stable identifiers, not secrets). ret: 36
 * characters and a NUL, lowercase. */
void uuid_from_name(const char *name, char ret[37]);

#endif
