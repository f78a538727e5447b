/* httpd.h — the companion Redfish HTTP server over the tree (libmicrohttpd).
 *
 * The one public header of httpd/. It sees only redfish/redfish.h. fs/main.c
 * wires it in: its option table (fs/options.c) hands every --http* option
 * and the configuration file's [http] keys to httpd_config_set(), then
 *
 *     if (hc.listen && httpd_config_check(&hc, msg, sizeof msg) < 0)
 *             -> log msg, exit 1
 *     h = httpd_new(tree, &hc, &r);     // binds, loads accounts; logged
 *     ...mount, print httpd_url(h), daemonize...
 *     httpd_start(h);                   // threads: after the fork
 *     ...fuse loop or sigwait...
 *     h = httpd_free(h);                // before rf_tree_free
 *     httpd_config_clear(&hc);
 *
 * Conventions: 0 or -errno. httpd logs its own failures once (common.h).
 */
#ifndef REDFISHFS_HTTPD_H
#define REDFISHFS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rf_tree;
struct httpd;

/* Options. The strings are malloc'd and owned by the struct (set them with
 * httpd_config_set, free them with httpd_config_clear). Numbers 0 mean the
 * default. */
struct httpd_config {
	char *listen;          /* --http [ADDR:]PORT; NULL: no server. ADDR defaults
				* to 127.0.0.1; "[::1]:8000", "*:8000" (all) */
	char *cert_file;       /* --http-cert FILE (PEM), with key_file: HTTPS */
	char *key_file;        /* --http-key FILE (PEM, unencrypted) */
	char *user;            /* --http-user NAME: an Administrator account ... */
	char *password_file;   /* --http-password-file FILE: ... with this password
				* (one trailing newline dropped; the file must not be
				* readable by group or others) */
	char *state_dir;       /* --state-dir DIR: accounts.json lives here (default
				* $XDG_STATE_HOME/redfishfs, /var/lib/redfishfs for
				* root, ~/.local/state/redfishfs) */
	int no_auth;           /* --http-no-auth: no login at all (loopback only) */
	int force_plain;       /* --http-force-plain: allow plain HTTP on a
				* non-loopback address */
	char *metrics;         /* --http-metrics MODE: "open" (no login), "login",
				* "off" (404); NULL: open on loopback, else login */
	/* Tuning; not options (tests and benchmarks set them). */
	unsigned threads;          /* epoll threads (default 2) */
	unsigned max_connections;  /* default 256 */
	unsigned conn_timeout_s;   /* idle connection timeout (default 30) */
	unsigned max_per_ip;       /* connections from one client address (64) */
	unsigned header_timeout_s; /* a request's headers must be in by then (10) */
	unsigned login_delay_ms;   /* a failed password is answered this late (1000) */
	size_t max_body;           /* request body cap, bytes (default 64 KiB) */
	unsigned session_timeout_s; /* SessionTimeout when the state has none (1800) */
};

#define HTTPD_CONFIG_INIT { 0 }

/* Set one option by its long name without the dashes, as a config file says
 * it: "http", "http-cert", "http-key", "http-user", "http-password-file",
 * "state-dir", "http-metrics", "http-no-auth" and "http-force-plain" (value "true"/"false",
 * "yes"/"no", "1"/"0"). Returns 0, -ENOENT for a key that is not httpd's (so
 * main can try its own), -EINVAL for a bad value, -ENOMEM. */
int httpd_config_set(struct httpd_config *c, const char *key, const char *value);

/* Validate the whole configuration (syntax of listen, TLS files given in
 * pairs and readable, no plain HTTP or --http-no-auth off loopback unless
 * forced, password file present and private, an account source or no-auth).
 * On failure returns -EINVAL (or -errno of a file) and writes a one-line
 * message into msg. Does not log. */
int httpd_config_check(const struct httpd_config *c, char *msg, size_t msg_size);

/* The state directory c names, or the default ($XDG_STATE_HOME/redfishfs,
 * /var/lib/redfishfs for root, ~/.local/state/redfishfs). malloc'd; NULL
 * when there is none (no HOME). */
char *httpd_state_dir(const struct httpd_config *c);

/* Free the strings; the struct is HTTPD_CONFIG_INIT again. */
void httpd_config_clear(struct httpd_config *c);

/* One server per tree. Create it: check the config, load the accounts state (creating
 * state_dir 0700 if needed), ensure the configured user exists as an
 * Administrator with the file's password, read the TLS files, bind and
 * listen (so "address in use" shows before daemonizing), and install the
 * service's own resources into the tree (SessionService, AccountService with
 * Accounts and Roles, Managers/redfishfs with its NetworkProtocol). Starts no
 * thread, so it may run before fork(). NULL with *ret_err = -errno (logged). */
struct httpd *httpd_new(struct rf_tree *t, const struct httpd_config *c, int *ret_err);

/* Start serving (the MHD threads). Call after daemonizing. 0 or -errno. */
int httpd_start(struct httpd *h);

/* Serve fd, a connected stream socket (one end of a socketpair in the
 * fuzzer), as if accepted from addr (a struct sockaddr of addr_len bytes).
 * After httpd_start; the server owns fd from then on. 0 or -EIO. */
int httpd_add_connection(struct httpd *h, int fd, const void *addr, size_t addr_len);

/* The bound port (useful with port 0) and the base URL ("https://127.0.0.1:8443"). */
uint16_t httpd_port(const struct httpd *h);
const char *httpd_url(const struct httpd *h);

/* Stop the threads (waiting for requests in flight), close the socket, and
 * free. The tree must still exist. NULL-safe, returns NULL. */
struct httpd *httpd_free(struct httpd *h);

#endif
