/* fs.h — the FUSE front end: configuration (options and INI file) and the
 * file system that shows a struct rf_tree through libfuse's low-level API.
 *
 * The one public header of fs/. fs/main.c wires it to the tree and the back
 * ends; tests/test_config.c tests the configuration part.
 *
 * Conventions: int returns are >= 0 on success, -errno on failure. Functions
 * that can fail on user input also write a one-line message into a caller
 * buffer (err, errlen), naming FILE:LINE for configuration files; they never
 * log. Destructors are NULL-safe and return NULL.
 */
#ifndef REDFISHFS_FS_H
#define REDFISHFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FS_DEFAULT_TIMEOUT_MS 2000
#define FS_DEFAULT_MAX_AGE_MS 1000
#define FS_DEFAULT_POLL_S 5
#define FS_NAME_MAX 64          /* a strip name: 1..64 of [A-Za-z0-9_.-] */
#define FS_HOST_MAX 253

/* Accepted ranges (inclusive). */
#define FS_TIMEOUT_MIN_MS 1
#define FS_TIMEOUT_MAX_MS 600000
#define FS_MAX_AGE_MAX_MS 86400000  /* min 0: always refresh */
#define FS_POLL_MIN_S 1
#define FS_POLL_MAX_S 86400
#define FS_DEFAULT_DISCOVER_INTERVAL_S 60
#define FS_DISCOVER_INTERVAL_MIN_S 1
#define FS_DISCOVER_INTERVAL_MAX_S 86400
#define FS_DISCOVER_DEFAULT_ADDR "255.255.255.255"  /* --kasa-discover without =ADDR */

/* ---- the option table (options.c) -------------------------------------------- */

/* Every option, once. The id indexes fs_options[]. */
enum fs_opt_id {
	FS_OPT_KASA,
	FS_OPT_KASA_DISCOVER,
	FS_OPT_DISCOVER_INTERVAL,
	FS_OPT_KASA_USER,
	FS_OPT_KASA_PASSWORD_FILE,
	FS_OPT_BMC,
	FS_OPT_BMC_USER,
	FS_OPT_BMC_PASSWORD_FILE,
	FS_OPT_BMC_CA,
	FS_OPT_BMC_INSECURE,
	FS_OPT_BMC_NO_EXPAND,
	FS_OPT_MOCKUP,
	FS_OPT_TIMEOUT,
	FS_OPT_MAX_AGE,
	FS_OPT_POLL,
	FS_OPT_HTTP,
	FS_OPT_HTTP_CERT,
	FS_OPT_HTTP_KEY,
	FS_OPT_HTTP_USER,
	FS_OPT_HTTP_PASSWORD_FILE,
	FS_OPT_STATE_DIR,
	FS_OPT_HTTP_NO_AUTH,
	FS_OPT_HTTP_FORCE_PLAIN,
	FS_OPT_HTTP_METRICS,
	FS_OPT_NO_MOUNT,
	FS_OPT_CONFIG,
	FS_OPT_LOG_LEVEL,
	FS_OPT_FOREGROUND,
	FS_OPT_DEBUG,
	FS_OPT_SINGLE,
	FS_OPT_MOUNT_OPTS,
	FS_OPT_HELP,
	FS_OPT_VERSION,
	FS_OPT_NONEMPTY,
	FS_OPT_NOAUTO_UNMOUNT,
	FS_OPT_COUNT,
};

enum fs_opt_kind {
	FS_OPT_FLAG,      /* --name */
	FS_OPT_VALUE,     /* --name VALUE, --name=VALUE */
	FS_OPT_OPTIONAL,  /* --name, --name=VALUE (never the next argument) */
	FS_OPT_FUSE,      /* a libfuse option (-f -d -s -o), passed through */
	FS_OPT_MOUNT,     /* one of our own -o options: -o name */
};

/* Where a key lives in the configuration file. */
enum fs_section {
	FS_SECTION_NONE,       /* command line only */
	FS_SECTION_REDFISHFS,  /* [redfishfs] */
	FS_SECTION_KASA,       /* [kasa NAME] */
	FS_SECTION_BMC,        /* [bmc NAME] */
	FS_SECTION_MOCKUP,     /* [mockup NAME], or [mockup] for the service's own tree */
	FS_SECTION_HTTP,       /* [http] */
	FS_SECTION_COUNT,
};

enum fs_opt_group { FS_GROUP_BACKENDS, FS_GROUP_TIMING, FS_GROUP_HTTP, FS_GROUP_OTHER,
		    FS_GROUP_MOUNT, FS_GROUP_COUNT };

struct fs_option {
	const char *name;         /* long name without "--" (or the -o name); NULL: none */
	char short_name;          /* 'c' for -c, 0: none */
	enum fs_opt_kind kind;
	const char *arg;          /* the value on the command line, for help */
	enum fs_section section;  /* the same setting in the file */
	const char *key;          /* its key there (canonical spelling, '-'), NULL: none */
	const char *key_arg;      /* the key's value, for the man page */
	const char *def;          /* default, for help; NULL: none shown */
	enum fs_opt_group group;
	const char *help;         /* one line */
};

extern const struct fs_option fs_options[FS_OPT_COUNT];
extern const char *const fs_section_names[FS_SECTION_COUNT];   /* "redfishfs", "kasa", ... */

/* The long option arg ("--name...") starts with, the longest that fits, and
 * the length of "--name" in *ret_len; -ENOENT. Mount options are not found. */
int fs_option_by_arg(const char *arg, size_t *ret_len);
/* The option whose key in section sec is key ('-' and '_' the same); -ENOENT. */
int fs_option_by_key(enum fs_section sec, const char *key);
/* The option list of --help, grouped. */
void fs_options_help(FILE *out);

/* ---- configuration ----------------------------------------------------------- */

/* One Kasa strip: --kasa [NAME=]HOST[:PORT] or a [kasa NAME] section. */
struct fs_kasa {
	char *name;       /* malloc'd; NULL: named from the device alias */
	char *host;       /* malloc'd; IPv6 without the brackets */
	uint16_t port;    /* default 9999 */
	char *user;       /* its TP-Link account (KLAP/AES), or NULL: the global one */
	char *password_file;
};

/* One Kasa discovery target: --kasa-discover[=ADDR[:PORT]] or the
 * [redfishfs] key discover. */
struct fs_discover {
	char addr[16];    /* numeric IPv4, e.g. a subnet's broadcast address */
	uint16_t port;    /* default 9999 */
};

/* Sections owned by other modules ([http], [bmc NAME], ...), which main
 * routes to them. Called with key == NULL when the section starts (return
 * 0 if the section is known, -ENOENT if not), then once per key: 0, -ENOENT
 * (unknown key) or -errno with a message in err. */
typedef int (*fs_config_ext_fn)(void *userdata, const char *section, const char *key,
				const char *value, char *err, size_t errlen);

/* Everything the daemon serves and how. Sections of other modules go
 * through ext. */
struct fs_config {
	fs_config_ext_fn ext;
	void *ext_userdata;
	int timeout_ms;   /* per device attempt */
	int max_age_ms;   /* freshness bound and the kernel's cache timeouts */
	int poll_s;       /* Kasa poll period */
	int discover_interval_s;  /* Kasa discovery period */
	struct fs_kasa *kasa;
	size_t n_kasa;
	struct fs_discover *discover;   /* none: no discovery */
	size_t n_discover;
	char *kasa_user;           /* [kasa] user= / --kasa-user: every strip's default */
	char *kasa_password_file;  /* [kasa] password_file= / --kasa-password-file */
};

/* Defaults, no strips. */
void fs_config_init(struct fs_config *c);
/* Free what c holds; c is left as after fs_config_init. */
void fs_config_clear(struct fs_config *c);

/* Read an INI file into c (values it sets override c's; strips are
 * appended). Keys are those of fs_options (written with '-', '_' taken
 * as the same):
 *   [redfishfs]   timeout = MS   max-age = MS   poll = SECONDS
 *                 discover = ADDR[:PORT][, ADDR[:PORT]...]   (repeatable)
 *                 discover-interval = SECONDS
 *                 (log-level, no-mount go to ext with section "redfishfs")
 *   [kasa NAME]   host = HOST[:PORT]          (one section per strip)
 *                 user = ACCOUNT   password-file = FILE   (KLAP/AES devices)
 *   [kasa]        user = ACCOUNT   password-file = FILE   (every strip's default)
 * Other sections' keys go to ext in their canonical spelling.
 * Unknown sections or keys, bad or out-of-range numbers, a key given twice,
 * a repeated [kasa NAME], a [kasa NAME] without host, overlong lines and
 * syntax errors are errors: -EINVAL and "FILE:LINE: what" in err. A file
 * that cannot be read: -errno and "FILE: strerror". On error c may hold part
 * of the file; the caller clears it. */
int fs_config_load(struct fs_config *c, const char *file, char *err, size_t errlen);

/* Parse "[NAME=]HOST[:PORT]" (IPv6 as "[addr]:port"). NAME: 1..FS_NAME_MAX of
 * [A-Za-z0-9_.-], not "." or ".."; HOST non-empty; PORT 1..65535. On success
 * *ret owns new strings; on error nothing is allocated and err says why. */
int fs_parse_kasa(const char *spec, struct fs_kasa *ret, char *err, size_t errlen);
/* Validate only a strip name (as in [kasa NAME]). */
bool fs_name_valid(const char *name);
/* Validate "HOST[:PORT]" into ret (malloc'd host) and ret_port. */
int fs_parse_host_port(const char *s, char **ret_host, uint16_t *ret_port, char *err, size_t errlen);
void fs_kasa_clear(struct fs_kasa *k);

/* Append k (its strings are stolen, k is zeroed) to c. -EEXIST when a strip
 * of the same name (case-sensitive) or the same host:port is already there. */
int fs_config_add_kasa(struct fs_config *c, struct fs_kasa *k, char *err, size_t errlen);

/* Parse a discovery target "ADDR[:PORT]": ADDR a numeric IPv4 address,
 * PORT 1..65535 (default 9999). 0 or -EINVAL with err saying why. */
int fs_parse_discover(const char *s, struct fs_discover *ret, char *err, size_t errlen);

/* Add the targets of a comma-separated list (spaces around items allowed)
 * to c; a target already there is not added again. 0, -EINVAL (an item is
 * bad or empty; nothing added) or -ENOMEM. */
int fs_config_add_discover(struct fs_config *c, const char *list, char *err, size_t errlen);

/* A decimal integer in [min, max], the whole string: 0, -EINVAL (not a
 * number) or -ERANGE. */
int fs_parse_int(const char *s, long min, long max, int *ret);

/* ---- the mount point (mountpoint.c) ---------------------------------------- */

/* dir as /proc/self/mountinfo names it: the parent resolved, the name kept
 * (a dead mount cannot be resolved itself). malloc'd into *ret; -errno. */
int fs_mountpoint_canonical(const char *dir, char **ret);

/* Whether dir may be mounted on: -EBUSY if it is a live redfishfs mount,
 * -ENOTEMPTY if it holds anything and !nonempty, -ENOTCONN for a dead mount
 * of another file system, -errno if it is not a usable directory; msg says
 * which. A dead redfishfs mount (its daemon killed) is detached first and
 * *ret_recovered set. */
int fs_mountpoint_check(const char *dir, bool nonempty, bool *ret_recovered, char *msg,
			size_t msglen);

/* ---- the file system ----------------------------------------------------------- */

struct rf_tree;
struct fuse_session;
struct fuse_lowlevel_ops;

/* The operations table; fuse_session_new(..., fs_operations(), sizeof(struct
 * fuse_lowlevel_ops), fs) with fs from fs_new() as userdata. */
const struct fuse_lowlevel_ops *fs_operations(void);

/* The mount's state over tree (borrowed; outlives fs). The kernel caches
 * entries and attributes for max_age_ms; the owner is the calling user.
 * NULL on -ENOMEM. */
struct fs *fs_new(struct rf_tree *tree, int64_t max_age_ms);

/* After mounting and daemonizing: install the tree listener and start the
 * thread that turns changed paths into cache invalidations and stores
 * listed files into the page cache. */
int fs_start(struct fs *fs, struct fuse_session *se);

/* Clear the listener and join the notice thread (idempotent). Call after
 * the loop ended, before fuse_session_destroy(). */
void fs_stop(struct fs *fs);

struct fs *fs_free(struct fs *fs);  /* stops first */

#endif
