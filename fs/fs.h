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
 * appended):
 *   [redfishfs]   timeout = MS   max_age = MS   poll = SECONDS
 *                 discover = ADDR[:PORT][, ADDR[:PORT]...]   (repeatable)
 *                 discover_interval = SECONDS
 *   [kasa NAME]   host = HOST[:PORT]          (one section per strip)
 *                 user = ACCOUNT   password_file = FILE   (KLAP/AES devices)
 *   [kasa]        user = ACCOUNT   password_file = FILE   (every strip's default)
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
