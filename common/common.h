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

/* Clocks. Monotonic for timeouts and ages, realtime for mtimes. */
int64_t now_ms(void);
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

uint64_t hash_fnv1a64(const void *data, size_t len);

#endif
