/* main.c — the redfishfs daemon: options, configuration, wiring, the loop.
 *
 *   redfishfs [options] MOUNTPOINT
 *
 * Start order (STYLE.md): parse options and the config file and validate
 * everything -> curl_global_init -> build the tree -> fuse_session_new (which checks
 * the -o options, before any slow probe) -> add every strip (each is probed
 * while we are still on the terminal, so an unreachable strip is reported
 * there) -> fuse_session_mount -> daemonize -> start
 * threads (invalidation, Kasa pollers and discovery) -> loop. Discovery
 * runs its first round when the threads start, so discovered strips join
 * the tree right after mounting. --kasa-list runs one round and exits. Any bad input ends the
 * process with a message and exit status 1 before anything is mounted;
 * threads are started only after the fork. SIGTERM, SIGINT, SIGHUP and an
 * unmount end the loop; teardown runs in reverse.
 *
 * Options are parsed with fuse_opt from one table; our own go first and are
 * removed, then fuse_parse_cmdline takes the standard ones (-f -d -s -h -V,
 * -o clone_fd, the mount point), and fuse_session_new the remaining -o
 * options.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fs.h"
#include "httpd.h"
#include "kasa.h"
#include "provider.h"
#include "redfish.h"

#ifndef REDFISHFS_VERSION
#define REDFISHFS_VERSION "unknown"
#endif

/* A remote BMC or a mockup directory, from the command line or [bmc NAME]. */
struct bmc_opt {
	char *name, *url, *user, *password_file, *ca_file;
	bool insecure, no_expand;
};

struct mockup_opt {
	char *name;   /* NULL: the service's own tree */
	char *dir;
};

struct remotes {
	struct bmc_opt *bmc;
	size_t n_bmc;
	struct mockup_opt *mockup;
	size_t n_mockup;
	/* --bmc-user, --bmc-password-file, --bmc-ca: for every --bmc */
	char *user, *password_file, *ca_file;
	char **insecure;          /* --bmc-insecure NAME */
	size_t n_insecure;
	char **no_expand;         /* --bmc-no-expand NAME */
	size_t n_no_expand;
};

static void remotes_clear(struct remotes *r)
{
	for (size_t i = 0; i < r->n_bmc; i++) {
		free(r->bmc[i].name);
		free(r->bmc[i].url);
		free(r->bmc[i].user);
		free(r->bmc[i].password_file);
		free(r->bmc[i].ca_file);
	}
	for (size_t i = 0; i < r->n_mockup; i++) {
		free(r->mockup[i].name);
		free(r->mockup[i].dir);
	}
	for (size_t i = 0; i < r->n_insecure; i++)
		free(r->insecure[i]);
	for (size_t i = 0; i < r->n_no_expand; i++)
		free(r->no_expand[i]);
	free(r->bmc);
	free(r->mockup);
	free(r->insecure);
	free(r->no_expand);
	free(r->user);
	free(r->password_file);
	free(r->ca_file);
	memset(r, 0, sizeof(*r));
}

static struct bmc_opt *bmc_find(struct remotes *r, const char *name)
{
	for (size_t i = 0; i < r->n_bmc; i++)
		if (strcmp(r->bmc[i].name, name) == 0)
			return &r->bmc[i];
	return NULL;
}

/* A new BMC entry called name (stolen) with url (stolen); -EEXIST. */
static int bmc_add(struct remotes *r, char *name, char *url)
{
	struct bmc_opt *nb;

	if (bmc_find(r, name)) {
		free(name);
		free(url);
		return -EEXIST;
	}
	nb = realloc(r->bmc, (r->n_bmc + 1) * sizeof(*nb));
	if (!nb) {
		free(name);
		free(url);
		return -ENOMEM;
	}
	r->bmc = nb;
	r->bmc[r->n_bmc++] = (struct bmc_opt){ .name = name, .url = url };
	return 0;
}

/* Append a copy of s to *v (*n entries). 0 or -ENOMEM. */
static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int set_string(char **dst, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	free(*dst);
	*dst = v;
	return 0;
}

/* What the command line says; a setting given there wins over the file. */
struct cmdline {
	const char *config;       /* -c FILE (malloc'd) */
	int timeout_ms, max_age_ms, poll_s, discover_interval_s;
	bool set_timeout, set_max_age, set_poll, set_discover_interval;
	struct fs_config strips;  /* only the --kasa and --kasa-discover lists are used */
	struct fs_config list;    /* --kasa-list targets (its discover list) */
	bool kasa_list;
	struct httpd_config http; /* --http... (the file's [http] fills it too) */
	struct remotes remotes;   /* --bmc..., --mockup (the file's [bmc NAME] too) */
	bool no_mount;
	bool failed;
};

enum {
	KEY_KASA,
	KEY_TIMEOUT,
	KEY_MAX_AGE,
	KEY_POLL,
	KEY_CONFIG,
	KEY_HTTP,          /* httpd's options, by name */
	KEY_HTTP_FLAG,
	KEY_BMC,
	KEY_BMC_USER,
	KEY_BMC_PASSWORD_FILE,
	KEY_BMC_CA,
	KEY_BMC_INSECURE,
	KEY_MOCKUP,
	KEY_NO_MOUNT,
	KEY_KASA_DISCOVER,
	KEY_DISCOVER_INTERVAL,
	KEY_KASA_LIST,
	KEY_BMC_NO_EXPAND,
	KEY_KASA_USER,
	KEY_KASA_PASSWORD_FILE,
};

/* Our long options. fuse_opt hands an argument to EVERY template it matches
 * ("--http " matches "--http-cert" too), so opt_proc takes an argument only
 * under the longest name it starts with, and check_glued() refuses
 * "--nameVALUE" before fuse_opt sees it. */
struct long_opt {
	const char *name;
	int key;
	bool value;       /* takes "--name VALUE" or "--name=VALUE" */
	bool optional;    /* takes "--name" or "--name=VALUE" only (never the next argument) */
};

static const struct long_opt long_opts[] = {
	{ "--kasa", KEY_KASA, true, false },
	{ "--timeout", KEY_TIMEOUT, true, false },
	{ "--max-age", KEY_MAX_AGE, true, false },
	{ "--poll", KEY_POLL, true, false },
	{ "--config", KEY_CONFIG, true, false },
	{ "--http", KEY_HTTP, true, false },
	{ "--http-cert", KEY_HTTP, true, false },
	{ "--http-key", KEY_HTTP, true, false },
	{ "--http-user", KEY_HTTP, true, false },
	{ "--http-password-file", KEY_HTTP, true, false },
	{ "--state-dir", KEY_HTTP, true, false },
	{ "--http-no-auth", KEY_HTTP_FLAG, false, false },
	{ "--http-force-plain", KEY_HTTP_FLAG, false, false },
	{ "--bmc", KEY_BMC, true, false },
	{ "--bmc-user", KEY_BMC_USER, true, false },
	{ "--bmc-password-file", KEY_BMC_PASSWORD_FILE, true, false },
	{ "--bmc-ca", KEY_BMC_CA, true, false },
	{ "--bmc-insecure", KEY_BMC_INSECURE, true, false },
	{ "--mockup", KEY_MOCKUP, true, false },
	{ "--no-mount", KEY_NO_MOUNT, false, false },
	{ "--kasa-discover", KEY_KASA_DISCOVER, false, true },
	{ "--discover-interval", KEY_DISCOVER_INTERVAL, true, false },
	{ "--kasa-list", KEY_KASA_LIST, false, true },
	{ "--bmc-no-expand", KEY_BMC_NO_EXPAND, true, false },
	{ "--http-metrics", KEY_HTTP, true, false },
	{ "--kasa-user", KEY_KASA_USER, true, false },
	{ "--kasa-password-file", KEY_KASA_PASSWORD_FILE, true, false },
};

/* fuse_opt keys are indices into long_opts; -c is KEY_SHORT_CONFIG. */
#define KEY_SHORT_CONFIG 1000

static const struct fuse_opt opt_spec[] = {
	FUSE_OPT_KEY("--kasa ", 0),
	FUSE_OPT_KEY("--timeout ", 1),
	FUSE_OPT_KEY("--max-age ", 2),
	FUSE_OPT_KEY("--poll ", 3),
	FUSE_OPT_KEY("--config ", 4),
	FUSE_OPT_KEY("--http ", 5),
	FUSE_OPT_KEY("--http-cert ", 6),
	FUSE_OPT_KEY("--http-key ", 7),
	FUSE_OPT_KEY("--http-user ", 8),
	FUSE_OPT_KEY("--http-password-file ", 9),
	FUSE_OPT_KEY("--state-dir ", 10),
	FUSE_OPT_KEY("--http-no-auth", 11),
	FUSE_OPT_KEY("--http-force-plain", 12),
	FUSE_OPT_KEY("--bmc ", 13),
	FUSE_OPT_KEY("--bmc-user ", 14),
	FUSE_OPT_KEY("--bmc-password-file ", 15),
	FUSE_OPT_KEY("--bmc-ca ", 16),
	FUSE_OPT_KEY("--bmc-insecure ", 17),
	FUSE_OPT_KEY("--mockup ", 18),
	FUSE_OPT_KEY("--no-mount", 19),
	FUSE_OPT_KEY("--kasa-discover", 20),
	FUSE_OPT_KEY("--kasa-discover=", 20),
	FUSE_OPT_KEY("--discover-interval ", 21),
	FUSE_OPT_KEY("--kasa-list", 22),
	FUSE_OPT_KEY("--kasa-list=", 22),
	FUSE_OPT_KEY("--bmc-no-expand ", 23),
	FUSE_OPT_KEY("--http-metrics ", 24),
	FUSE_OPT_KEY("--kasa-user ", 25),
	FUSE_OPT_KEY("--kasa-password-file ", 26),
	FUSE_OPT_KEY("-c ", KEY_SHORT_CONFIG),
	FUSE_OPT_END
};

/* The long option arg starts with, the longest name that fits. */
static const struct long_opt *long_opt_of(const char *arg)
{
	const struct long_opt *best = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(long_opts); i++) {
		size_t n = strlen(long_opts[i].name);

		if (strncmp(arg, long_opts[i].name, n) == 0 && (!best || n > strlen(best->name)))
			best = &long_opts[i];
	}
	return best;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       %s [options] --no-mount --http [ADDR:]PORT\n"
	       "\n"
	       "Shows Kasa power strips and Redfish BMCs as one Redfish tree at MOUNTPOINT\n"
	       "and, with --http, as a Redfish service.\n"
	       "\n"
	       "Back ends:\n"
	       "    --kasa [NAME=]HOST[:PORT]  a Kasa strip or plug (repeatable; port 9999;\n"
	       "                               NAME from the device alias if not given)\n"
	       "    --kasa-discover[=ADDR[:PORT]]  find Kasa devices by broadcast to ADDR (default\n"
	       "                               255.255.255.255; repeatable, one per subnet)\n"
	       "    --discover-interval SECONDS  broadcast again this often (default %d)\n"
	       "    --kasa-list[=ADDR[:PORT]]  print the Kasa devices that answer, then exit\n"
	       "    --kasa-user ACCOUNT        TP-Link account of KLAP/AES devices (with\n"
	       "    --kasa-password-file FILE  its password; file must be private: chmod 600)\n"
	       "    --bmc NAME=URL             a Redfish BMC, URL http[s]://HOST[:PORT] (repeatable);\n"
	       "                               its members appear as Systems/NAME_<Id>, ...\n"
	       "    --bmc-user USER            BMC login (with --bmc-password-file)\n"
	       "    --bmc-password-file FILE   BMC password (file must be private: chmod 600)\n"
	       "    --bmc-ca FILE              CA certificates to verify BMCs with\n"
	       "    --bmc-insecure NAME        do not verify BMC NAME's certificate\n"
	       "    --bmc-no-expand NAME       never ask BMC NAME for $expand (one GET per resource)\n"
	       "    --mockup [NAME=]DIR        a directory of index.json files (a DMTF mockup or\n"
	       "                               a copy of the mount); with NAME, aggregated like a BMC\n"
	       "Timing:\n"
	       "    --timeout MS               device/BMC I/O timeout per attempt (default %d)\n"
	       "    --max-age MS               values are at most this old (default %d)\n"
	       "    --poll SECONDS             Kasa poll period (default %d)\n"
	       "HTTP server:\n"
	       "    --http [ADDR:]PORT         serve the tree as Redfish (ADDR default 127.0.0.1)\n"
	       "    --http-cert FILE --http-key FILE   HTTPS (PEM)\n"
	       "    --http-user NAME --http-password-file FILE   an Administrator account\n"
	       "    --state-dir DIR            where accounts are kept\n"
	       "    --http-no-auth             no login (loopback only; for demos)\n"
	       "    --http-force-plain         allow plain HTTP on a non-loopback address\n"
	       "    --http-metrics MODE        /metrics: open (default on loopback), login, off\n"
	       "    --no-mount                 HTTP only, no file system\n"
	       "Other:\n"
	       "    -c, --config FILE          INI configuration: [redfishfs] timeout=, max_age=,\n"
	       "                               poll=, discover=ADDR[,ADDR...], discover_interval=;\n"
	       "                               [kasa NAME] host=; [bmc NAME] url=, user=,\n"
	       "                               password_file=, ca=, insecure=, expand=;\n"
	       "                               [http] http=,\n"
	       "                               http-cert=, http-key=, http-user=,\n"
	       "                               http-password-file=, state-dir=, http-no-auth=,\n"
	       "                               http-metrics=\n"
	       "    -h, --help                 this help\n"
	       "    -V, --version              versions\n"
	       "\n",
	       prog, prog, FS_DEFAULT_DISCOVER_INTERVAL_S, FS_DEFAULT_TIMEOUT_MS,
	       FS_DEFAULT_MAX_AGE_MS, FS_DEFAULT_POLL_S);
}

/* fuse_opt accepts "--kasaVALUE" for the "--kasa " template; refuse it, and
 * unknown long options that merely start like ours. */
static int check_glued(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		const struct long_opt *o;
		size_t n;

		if (strcmp(argv[i], "--") == 0)
			return 0;
		o = long_opt_of(argv[i]);
		if (!o)
			continue;
		n = strlen(o->name);
		if (argv[i][n] == '\0') {
			if (o->value)
				i++;   /* the next argument is the value */
			continue;
		}
		if (argv[i][n] != '=' || !(o->value || o->optional)) {
			log_error("unknown option '%s'", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int opt_int(const char *name, const char *value, long min, long max, int *ret, bool *set)
{
	int r = fs_parse_int(value, min, max, ret);

	if (r == -ERANGE)
		log_error("%s %s: must be from %ld to %ld", name, value, min, max);
	else if (r < 0)
		log_error("%s '%s': not a number", name, value);
	else
		*set = true;
	return r;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *cl = data;
	const struct long_opt *o;
	const char *v;
	char err[256];
	int r = 0;

	if (key == FUSE_OPT_KEY_OPT || key == FUSE_OPT_KEY_NONOPT)
		return 1;   /* for fuse_parse_cmdline / fuse_new */
	if (key == KEY_SHORT_CONFIG) {
		o = &long_opts[KEY_CONFIG];
		v = arg + 2;
	} else {
		if (key < 0 || (size_t)key >= ARRAY_SIZE(long_opts))
			return 1;
		o = &long_opts[key];
		if (long_opt_of(arg) != o)
			return 0;   /* a longer option's argument: its own template takes it */
		v = arg + strlen(o->name);
		if (*v == '=')
			v++;
	}
	switch (o->key) {
	case KEY_KASA: {
		struct fs_kasa k;

		r = fs_parse_kasa(v, &k, err, sizeof(err));
		if (r >= 0) {
			r = fs_config_add_kasa(&cl->strips, &k, err, sizeof(err));
			fs_kasa_clear(&k);
		}
		if (r < 0)
			log_error("--kasa: %s", err);
		break;
	}
	case KEY_TIMEOUT:
		r = opt_int("--timeout", v, FS_TIMEOUT_MIN_MS, FS_TIMEOUT_MAX_MS, &cl->timeout_ms,
			    &cl->set_timeout);
		break;
	case KEY_MAX_AGE:
		r = opt_int("--max-age", v, 0, FS_MAX_AGE_MAX_MS, &cl->max_age_ms, &cl->set_max_age);
		break;
	case KEY_POLL:
		r = opt_int("--poll", v, FS_POLL_MIN_S, FS_POLL_MAX_S, &cl->poll_s, &cl->set_poll);
		break;
	case KEY_CONFIG:
		if (!*v) {
			log_error("--config: no file given");
			r = -EINVAL;
		} else if (cl->config) {
			log_error("--config given twice");
			r = -EINVAL;
		} else {
			/* v may point into fuse_opt's temporary copy: keep our own */
			cl->config = strdup(v);
			if (!cl->config)
				r = -ENOMEM;
		}
		break;
	case KEY_BMC: {
		char *name, *url;

		r = rf_bmc_parse_arg(v, &name, &url);
		if (r < 0) {
			log_error("--bmc %s: expected NAME=http[s]://HOST[:PORT] (NAME of A-Z a-z 0-9 . -)", v);
			break;
		}
		r = bmc_add(&cl->remotes, name, url);
		if (r == -EEXIST)
			log_error("--bmc %s: that name is given twice", v);
		break;
	}
	case KEY_BMC_USER:
		r = set_string(&cl->remotes.user, v);
		break;
	case KEY_KASA_USER:
		r = set_string(&cl->strips.kasa_user, v);
		break;
	case KEY_KASA_PASSWORD_FILE:
		r = set_string(&cl->strips.kasa_password_file, v);
		break;
	case KEY_BMC_PASSWORD_FILE:
		r = set_string(&cl->remotes.password_file, v);
		break;
	case KEY_BMC_CA:
		r = set_string(&cl->remotes.ca_file, v);
		break;
	case KEY_BMC_INSECURE:
		r = strv_push(&cl->remotes.insecure, &cl->remotes.n_insecure, v);
		break;
	case KEY_BMC_NO_EXPAND:
		r = strv_push(&cl->remotes.no_expand, &cl->remotes.n_no_expand, v);
		break;
	case KEY_MOCKUP: {
		struct mockup_opt m = { 0 };
		struct mockup_opt *nm;

		r = rf_mockup_parse_arg(v, &m.name, &m.dir);
		if (r < 0) {
			log_error("--mockup %s: expected [NAME=]DIR", v);
			break;
		}
		nm = realloc(cl->remotes.mockup, (cl->remotes.n_mockup + 1) * sizeof(*nm));
		if (!nm) {
			free(m.name);
			free(m.dir);
			r = -ENOMEM;
			break;
		}
		cl->remotes.mockup = nm;
		nm[cl->remotes.n_mockup++] = m;
		break;
	}
	case KEY_NO_MOUNT:
		cl->no_mount = true;
		break;
	case KEY_KASA_DISCOVER:
	case KEY_KASA_LIST:
		/* "--kasa-discover" alone: the default broadcast address. */
		r = fs_config_add_discover(o->key == KEY_KASA_LIST ? &cl->list : &cl->strips,
					   strchr(arg, '=') ? v : FS_DISCOVER_DEFAULT_ADDR, err, sizeof(err));
		if (r < 0)
			log_error("%s: %s", o->name, err);
		if (o->key == KEY_KASA_LIST)
			cl->kasa_list = true;
		break;
	case KEY_DISCOVER_INTERVAL:
		r = opt_int("--discover-interval", v, FS_DISCOVER_INTERVAL_MIN_S,
			    FS_DISCOVER_INTERVAL_MAX_S, &cl->discover_interval_s,
			    &cl->set_discover_interval);
		break;
	case KEY_HTTP:
	case KEY_HTTP_FLAG:
		r = httpd_config_set(&cl->http, o->name + 2, o->key == KEY_HTTP_FLAG ? "true" : v);
		if (r < 0)
			log_error("%s %s: %s", o->name, o->key == KEY_HTTP_FLAG ? "" : v,
				  r == -EINVAL ? "invalid value" : strerror(-r));
		break;
	default:
		return 1;
	}
	if (r < 0) {
		cl->failed = true;
		return -1;
	}
	return 0;   /* consumed */
}

/* The [http] and [bmc NAME] sections of the configuration file, read into
 * their own structs so the command line can win over them. */
struct file_ext {
	struct httpd_config http;
	struct remotes remotes;
	struct bmc_opt *cur;      /* the [bmc NAME] being read */
};

static bool bmc_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

static int config_ext(void *userdata, const char *section, const char *key, const char *value,
		      char *err, size_t errlen)
{
	struct file_ext *fx = userdata;
	int r;

	if (strcmp(section, "http") == 0) {
		if (!key)
			return 0;
		r = httpd_config_set(&fx->http, key, value);
		if (r == -EINVAL)
			snprintf(err, errlen, "%s = %s: invalid value", key, value);
		return r;
	}
	if (strncmp(section, "bmc ", 4) == 0) {
		const char *name = section + 4;

		while (*name == ' ')
			name++;
		if (!key) {
			char *n;

			if (!bmc_name_valid(name)) {
				snprintf(err, errlen, "invalid BMC name '%s' (1 to 32 of A-Z a-z 0-9 . -)", name);
				return -EINVAL;
			}
			n = strdup(name);
			if (!n)
				return -ENOMEM;
			r = bmc_add(&fx->remotes, n, NULL);
			if (r == -EEXIST)
				snprintf(err, errlen, "BMC '%s' defined twice", name);
			fx->cur = r == 0 ? bmc_find(&fx->remotes, name) : NULL;
			return r;
		}
		if (!fx->cur)
			return -EINVAL;
		if (strcmp(key, "url") == 0) {
			_cleanup_free_ char *arg = NULL;
			char *n = NULL, *url = NULL;

			if (fx->cur->url || asprintf(&arg, "%s=%s", name, value) < 0) {
				snprintf(err, errlen, "'url' given twice");
				return -EINVAL;
			}
			r = rf_bmc_parse_arg(arg, &n, &url);
			free(n);
			if (r < 0) {
				snprintf(err, errlen, "url = %s: expected http[s]://HOST[:PORT]", value);
				return -EINVAL;
			}
			fx->cur->url = url;
			return 0;
		}
		if (strcmp(key, "user") == 0)
			return set_string(&fx->cur->user, value);
		if (strcmp(key, "password_file") == 0)
			return set_string(&fx->cur->password_file, value);
		if (strcmp(key, "ca") == 0)
			return set_string(&fx->cur->ca_file, value);
		if (strcmp(key, "insecure") == 0) {
			r = parse_bool(value, &fx->cur->insecure);
			if (r < 0)
				snprintf(err, errlen, "insecure = %s: expected true or false", value);
			return r;
		}
		if (strcmp(key, "expand") == 0) {
			bool expand;

			r = parse_bool(value, &expand);
			if (r < 0)
				snprintf(err, errlen, "expand = %s: expected true or false", value);
			fx->cur->no_expand = !expand;
			return r;
		}
		return -ENOENT;
	}
	return -ENOENT;
}

/* Set the bool at offset in each BMC named in names (opt: for the error). */
static int mark_bmcs(struct remotes *r, char **names, size_t n, const char *opt, size_t offset)
{
	for (size_t i = 0; i < n; i++) {
		struct bmc_opt *b = bmc_find(r, names[i]);

		if (!b) {
			log_error("%s %s: no BMC of that name", opt, names[i]);
			return -EINVAL;
		}
		*(bool *)((char *)b + offset) = true;
	}
	return 0;
}

/* Take *from if *to is unset (the command line wins). */
static void take_string(char **to, char **from)
{
	if (!*to) {
		*to = *from;
		*from = NULL;
	}
}

/* The file first, then the command line over it; the strips, BMCs and
 * mockups of both. */
static int build_config(struct cmdline *cl, struct fs_config *cfg)
{
	struct file_ext fx = { 0 };
	char err[512];
	int r = 0;

	fs_config_init(cfg);
	cfg->ext = config_ext;
	cfg->ext_userdata = &fx;
	if (cl->config) {
		r = fs_config_load(cfg, cl->config, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			goto out;
		}
		for (size_t i = 0; i < fx.remotes.n_bmc; i++) {
			if (!fx.remotes.bmc[i].url) {
				log_error("%s: [bmc %s] has no url", cl->config, fx.remotes.bmc[i].name);
				r = -EINVAL;
				goto out;
			}
		}
	}
	if (cl->set_timeout)
		cfg->timeout_ms = cl->timeout_ms;
	if (cl->set_max_age)
		cfg->max_age_ms = cl->max_age_ms;
	if (cl->set_poll)
		cfg->poll_s = cl->poll_s;
	if (cl->set_discover_interval)
		cfg->discover_interval_s = cl->discover_interval_s;
	for (size_t i = 0; i < cl->strips.n_discover; i++) {
		char spec[32];

		snprintf(spec, sizeof(spec), "%s:%u", cl->strips.discover[i].addr,
			 (unsigned)cl->strips.discover[i].port);
		r = fs_config_add_discover(cfg, spec, err, sizeof(err));
		if (r < 0) {
			log_error("--kasa-discover: %s", err);
			goto out;
		}
	}
	if ((cl->strips.kasa_user && set_string(&cfg->kasa_user, cl->strips.kasa_user) < 0) ||
	    (cl->strips.kasa_password_file &&
	     set_string(&cfg->kasa_password_file, cl->strips.kasa_password_file) < 0)) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cl->strips.n_kasa; i++) {
		r = fs_config_add_kasa(cfg, &cl->strips.kasa[i], err, sizeof(err));
		if (r < 0) {
			log_error("--kasa: %s", err);
			goto out;
		}
	}
	/* [http] under --http...; strings and flags. */
	take_string(&cl->http.listen, &fx.http.listen);
	take_string(&cl->http.cert_file, &fx.http.cert_file);
	take_string(&cl->http.key_file, &fx.http.key_file);
	take_string(&cl->http.user, &fx.http.user);
	take_string(&cl->http.password_file, &fx.http.password_file);
	take_string(&cl->http.state_dir, &fx.http.state_dir);
	cl->http.no_auth |= fx.http.no_auth;
	cl->http.force_plain |= fx.http.force_plain;
	/* Command-line BMCs take --bmc-user/-password-file/-ca/-insecure. */
	for (size_t i = 0; i < cl->remotes.n_bmc; i++) {
		struct bmc_opt *b = &cl->remotes.bmc[i];

		if ((cl->remotes.user && set_string(&b->user, cl->remotes.user) < 0) ||
		    (cl->remotes.password_file && set_string(&b->password_file, cl->remotes.password_file) < 0) ||
		    (cl->remotes.ca_file && set_string(&b->ca_file, cl->remotes.ca_file) < 0)) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < fx.remotes.n_bmc; i++) {
		struct bmc_opt *b = &fx.remotes.bmc[i];

		char name[64];

		snprintf(name, sizeof(name), "%s", b->name);
		r = bmc_add(&cl->remotes, b->name, b->url);
		b->name = b->url = NULL;
		if (r < 0) {
			log_error("BMC %s is both in %s and on the command line", name, cl->config);
			goto out;
		}
		struct bmc_opt *nb = &cl->remotes.bmc[cl->remotes.n_bmc - 1];

		nb->user = b->user;
		nb->password_file = b->password_file;
		nb->ca_file = b->ca_file;
		nb->insecure = b->insecure;
		nb->no_expand = b->no_expand;
		b->user = b->password_file = b->ca_file = NULL;
	}
	if ((r = mark_bmcs(&cl->remotes, cl->remotes.insecure, cl->remotes.n_insecure,
			   "--bmc-insecure", offsetof(struct bmc_opt, insecure))) < 0 ||
	    (r = mark_bmcs(&cl->remotes, cl->remotes.no_expand, cl->remotes.n_no_expand,
			   "--bmc-no-expand", offsetof(struct bmc_opt, no_expand))) < 0)
		goto out;
	if (cfg->n_kasa == 0 && cfg->n_discover == 0 && cl->remotes.n_bmc == 0 &&
	    cl->remotes.n_mockup == 0) {
		log_error("nothing to serve: give --kasa [NAME=]HOST[:PORT], --kasa-discover[=ADDR], "
			  "--bmc NAME=URL, --mockup [NAME=]DIR or a config file with a [kasa NAME] or "
			  "[bmc NAME] section or a discover key");
		r = -EINVAL;
	}
out:
	httpd_config_clear(&fx.http);
	remotes_clear(&fx.remotes);
	cfg->ext = NULL;
	cfg->ext_userdata = NULL;
	return r;
}

static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *fo)
{
	struct fuse_loop_config *lc;
	int r;

	if (fo->singlethread)
		return fuse_session_loop(se);
	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo->clone_fd);
	/* UINT_MAX: not given (libfuse's defaults stay) */
	if (fo->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, fo->max_idle_threads);
	if (fo->max_threads != UINT_MAX && fo->max_threads > 0)
		fuse_loop_cfg_set_max_threads(lc, fo->max_threads);
	r = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return r;
}

/* The service's UUID: the same service keeps it across restarts, as Redfish
 * clients and aggregators expect. Name-based (RFC 9562 version 8, from two
 * FNV-1a hashes) on this machine's /etc/machine-id and what makes the
 * service itself: its state directory when it serves HTTP (where its
 * accounts live), else its mount point. */
static void service_uuid(const struct httpd_config *http, const char *mountpoint, char ret[37])
{
	_cleanup_free_ char *machine = NULL, *state = NULL, *key = NULL;
	const char *self = mountpoint;
	unsigned char b[16];
	uint64_t h1, h2;
	FILE *f = fopen("/etc/machine-id", "re");
	char host[256] = "";

	if (f) {
		size_t n = 0;

		if (getline(&machine, &n, f) < 0) {
			free(machine);
			machine = NULL;
		}
		fclose(f);
	}
	if (!machine) {
		gethostname(host, sizeof(host) - 1);
		machine = strdup(host);
	}
	if (http->listen && (state = httpd_state_dir(http)))
		self = state;
	if (asprintf(&key, "redfishfs\n%s\n%s", machine ? machine : "", self ? self : "") < 0) {
		snprintf(ret, 37, "00000000-0000-8000-8000-000000000000");
		return;
	}
	h1 = hash_fnv1a64(key, strlen(key));
	key[0] = 'R';   /* a second, independent hash of the same name */
	h2 = hash_fnv1a64(key, strlen(key));
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(h1 >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(h2 >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x80);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(ret, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void log_bmc_error(void *userdata, const char *bmc, int err, const char *message)
{
	log_warn("BMC %s: %s%s%s", bmc, strerror(-err), message && *message ? ": " : "",
		 message ? message : "");
}

static void log_kasa_event(void *userdata, enum kasa_event ev, const char *strip,
			   const char *addr, int err, const char *message)
{
	(void)userdata;
	switch (ev) {
	case KASA_EVENT_FOUND:
		log_info("Kasa %s found at %s: strip %s", message, addr, strip);
		break;
	case KASA_EVENT_MOVED:
		log_info("strip %s moved from %s to %s", strip, message, addr);
		break;
	case KASA_EVENT_UNSUPPORTED:
		log_warn("Kasa device at %s not supported: %s", addr, message);
		break;
	case KASA_EVENT_DEVICE_ERROR:
		log_warn("strip %s at %s: %s", strip, addr, message);
		break;
	case KASA_EVENT_DISCOVERY_FAILED:
		log_warn("Kasa %s: %s", message, strerror(-err));
		break;
	case KASA_EVENT_ACCOUNT:
		log_info("strip %s at %s: %s", strip, addr, message);
		break;
	}
}

/* A TP-Link account (user and password file; both or neither) for strip
 * (NULL: every strip's default). 0 with *ret (NULL: none), or -1 logged. */
static int kasa_account(const char *strip, const char *user, const char *password_file,
			struct kasa_creds **ret)
{
	_cleanup_free_ char *password = NULL;
	int r;

	*ret = NULL;
	if (!user && !password_file)
		return 0;
	if (!user || !password_file) {
		log_error("Kasa%s%s: a TP-Link account needs both user and password file",
			  strip ? " strip " : "", strip ? strip : "");
		return -1;
	}
	r = rf_read_password_file(password_file, &password);
	if (r < 0) {
		log_error("Kasa%s%s: password file %s: %s", strip ? " strip " : "", strip ? strip : "",
			  password_file,
			  r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
			  r == -EINVAL ? "empty, too long or not text" : strerror(-r));
		return -1;
	}
	*ret = kasa_creds_new(user, password);
	explicit_bzero(password, strlen(password));
	if (!*ret) {
		log_error("Kasa%s%s: account: %s", strip ? " strip " : "", strip ? strip : "",
			  strerror(errno));
		return -1;
	}
	return 0;
}

/* The discovery probe for devices we cannot drive goes to the usual port,
 * unless the legacy port is set to it. */
static uint16_t new_probe_port(uint16_t port)
{
	return port == KASA_DISCOVERY_PORT_NEW ? 0 : KASA_DISCOVERY_PORT_NEW;
}

/* --kasa-list: one discovery round per target, one table, then exit. */
static int run_kasa_list(const struct fs_config *targets, int timeout_ms)
{
	struct kasa_found *all = NULL;
	size_t n_all = 0, unsupported = 0;
	int ret = 0;

	for (size_t i = 0; i < targets->n_discover; i++) {
		const struct fs_discover *d = &targets->discover[i];
		struct kasa_found *found = NULL, *na;
		size_t n = 0;
		int r;

		r = kasa_discover(d->addr, d->port, new_probe_port(d->port), timeout_ms, &found, &n);
		if (r < 0) {
			log_error("--kasa-list: discovery on %s:%u failed: %s", d->addr,
				  (unsigned)d->port, strerror(-r));
			ret = 1;
			continue;
		}
		na = n ? realloc(all, (n_all + n) * sizeof(*na)) : all;
		if (n && !na) {
			kasa_found_free(found, n);
			ret = 1;
			continue;
		}
		all = na;
		for (size_t k = 0; k < n; k++)
			all[n_all++] = found[k];
		free(found);   /* the entries moved into all */
	}
	kasa_found_print_table(stdout, all, n_all);
	fflush(stdout);
	for (size_t i = 0; i < n_all; i++) {
		const struct kasa_found *f = &all[i];

		if (f->supported)
			continue;
		unsupported++;
		log_warn("Kasa device at %s not supported: %s%s%s%s: %s", f->addr,
			 *f->model ? f->model : "a device", *f->mac ? " (MAC " : "", f->mac,
			 *f->mac ? ")" : "", f->reason);
	}
	log_info("%zu Kasa device%s found (%zu not supported)", n_all, n_all == 1 ? "" : "s",
		 unsupported);
	kasa_found_free(all, n_all);
	return ret;
}

/* Without a mount: wait for SIGTERM, SIGINT or SIGHUP (blocked in every
 * thread, so only this wait takes them). */
static int wait_for_signal(const sigset_t *set)
{
	int sig = 0;

	return sigwait(set, &sig) == 0 ? sig : -1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cmdline cl = { 0 };
	struct fuse_cmdline_opts fo = { 0 };
	struct fs_config cfg;
	struct rf_tree *tree = NULL;
	struct kasa_provider *kp = NULL;
	struct kasa_creds *creds = NULL;
	struct rf_bmc **bmcs = NULL;
	struct rf_mockup **mockups = NULL;
	size_t n_bmcs = 0, n_mockups = 0;
	struct httpd *http = NULL;
	struct fs *fs = NULL;
	struct fuse_session *se = NULL;
	bool curl_up = false, mounted = false, signals = false;
	sigset_t stop_signals;
	char msg[512], uuid[37];
	int ret = 1, r;

	fs_config_init(&cfg);
	fs_config_init(&cl.strips);
	fs_config_init(&cl.list);
	if (check_glued(argc, argv) < 0)
		goto out;
	if (fuse_opt_parse(&args, &cl, opt_spec, opt_proc) < 0)
		goto out;   /* opt_proc or fuse_opt printed why */
	if (fuse_parse_cmdline(&args, &fo) < 0)
		goto out;
	if (fo.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (fo.show_version) {
		printf("redfishfs version %s\n", REDFISHFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (fo.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (cl.kasa_list) {
		if (fo.mountpoint) {
			log_error("--kasa-list prints what it finds and exits: no mount point wanted");
			goto out;
		}
		ret = run_kasa_list(&cl.list, cl.set_timeout ? cl.timeout_ms : FS_DEFAULT_TIMEOUT_MS);
		goto out;
	}
	if (!fo.mountpoint && !cl.no_mount) {
		log_error("no mount point given (see %s --help)", argv[0]);
		goto out;
	}
	if (fo.mountpoint && cl.no_mount) {
		log_error("--no-mount and a mount point %s: choose one", fo.mountpoint);
		goto out;
	}
	if (build_config(&cl, &cfg) < 0)
		goto out;
	if (cl.no_mount && !cl.http.listen) {
		log_error("--no-mount needs --http: there would be nothing to see");
		goto out;
	}
	if (cl.http.listen && httpd_config_check(&cl.http, msg, sizeof(msg)) < 0) {
		log_error("%s", msg);
		goto out;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		goto out;
	}
	curl_up = true;
	service_uuid(&cl.http, fo.mountpoint, uuid);
	tree = rf_tree_new(uuid);
	if (!tree) {
		log_error("cannot create the resource tree: %s", strerror(ENOMEM));
		goto out;
	}
	rf_tree_set_max_age(tree, cfg.max_age_ms);
	if (!cl.no_mount) {
		fs = fs_new(tree, cfg.max_age_ms);
		if (!fs) {
			log_error("%s", strerror(ENOMEM));
			goto out;
		}
		se = fuse_session_new(&args, fs_operations(), sizeof(struct fuse_lowlevel_ops), fs);
		if (!se)
			goto out;   /* libfuse printed why (an unknown -o option) */
	}

	/* The back ends, probed while still on the terminal. */
	kp = kasa_provider_new(tree, cfg.timeout_ms, cfg.poll_s);
	if (!kp) {
		log_error("cannot create the Kasa provider: %s", strerror(ENOMEM));
		goto out;
	}
	kasa_provider_set_events(kp, log_kasa_event, NULL);
	if (kasa_account(NULL, cfg.kasa_user, cfg.kasa_password_file, &creds) < 0)
		goto out;
	kasa_provider_set_creds(kp, creds);
	for (size_t i = 0; i < cfg.n_kasa; i++) {
		const struct fs_kasa *k = &cfg.kasa[i];

		creds = NULL;
		if (k->user || k->password_file) {
			if (kasa_account(k->name ? k->name : k->host, k->user, k->password_file, &creds) < 0)
				goto out;
		}
		r = kasa_provider_add_as(kp, k->name, k->host, k->port, creds);
		if (r == -EINVAL || r == -ENOMEM || r == -EEXIST) {
			log_error("strip %s%s%s:%u: %s", k->name ? k->name : "",
				  k->name ? " at " : "", k->host, (unsigned)k->port,
				  r == -EEXIST ? "the same strip is given twice" : strerror(-r));
			goto out;
		}
		if (r < 0)
			log_warn("strip %s%s%s:%u does not answer (%s); shown as offline until it does",
				 k->name ? k->name : "", k->name ? " at " : "", k->host,
				 (unsigned)k->port, strerror(-r));
	}
	for (size_t i = 0; i < cfg.n_discover; i++) {
		const struct fs_discover *d = &cfg.discover[i];

		r = kasa_provider_add_discovery(kp, d->addr, d->port, new_probe_port(d->port),
						cfg.discover_interval_s);
		if (r < 0 && r != -EEXIST) {
			log_error("Kasa discovery on %s:%u: %s", d->addr, (unsigned)d->port, strerror(-r));
			goto out;
		}
	}
	bmcs = calloc(cl.remotes.n_bmc + 1, sizeof(*bmcs));
	mockups = calloc(cl.remotes.n_mockup + 1, sizeof(*mockups));
	if (!bmcs || !mockups) {
		log_error("%s", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < cl.remotes.n_bmc; i++) {
		const struct bmc_opt *b = &cl.remotes.bmc[i];
		_cleanup_free_ char *password = NULL;
		struct rf_bmc_config bc = {
			.name = b->name, .url = b->url, .user = b->user, .ca_file = b->ca_file,
			.insecure = b->insecure, .no_expand = b->no_expand, .timeout_ms = cfg.timeout_ms,
			.on_error = log_bmc_error,
		};

		if (b->password_file) {
			r = rf_read_password_file(b->password_file, &password);
			if (r < 0) {
				log_error("BMC %s: password file %s: %s", b->name, b->password_file,
					  r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
					  r == -EINVAL ? "empty, too long or not text" : strerror(-r));
				goto out;
			}
		}
		if (b->user && !password) {
			log_error("BMC %s: --bmc-user without --bmc-password-file", b->name);
			goto out;
		}
		bc.password = password;
		if (rf_bmc_url_plain_remote(b->url))
			log_warn("BMC %s: %s is plain HTTP to a remote host; credentials cross the network unencrypted",
				 b->name, b->url);
		bmcs[n_bmcs] = rf_bmc_new(tree, &bc, &r);
		if (!bmcs[n_bmcs]) {
			log_error("BMC %s: %s", b->name, strerror(-r));
			goto out;
		}
		r = rf_bmc_probe(bmcs[n_bmcs++]);
		if (r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -EAGAIN) {
			log_warn("BMC %s at %s does not answer (%s); shown as offline until it does",
				 b->name, b->url, strerror(-r));
		} else if (r < 0) {
			if (r == -EPROTO)
				log_error("BMC %s at %s: TLS failed (is its certificate trusted? give --bmc-ca FILE, "
					  "or --bmc-insecure %s for a self-signed BMC)", b->name, b->url, b->name);
			else
				log_error("BMC %s at %s: %s", b->name, b->url,
					  r == -EACCES ? "login refused (check the user and password)" : strerror(-r));
			goto out;
		}
	}
	for (size_t i = 0; i < cl.remotes.n_mockup; i++) {
		const struct mockup_opt *m = &cl.remotes.mockup[i];

		mockups[n_mockups] = rf_mockup_load(tree, m->name, m->dir, &r);
		if (!mockups[n_mockups]) {
			log_error("mockup %s: %s", m->dir,
				  r == -ENOENT ? "no index.json of a ServiceRoot there" : strerror(-r));
			goto out;
		}
		n_mockups++;
	}
	if (cl.http.listen) {
		http = httpd_new(tree, &cl.http, &r);
		if (!http)
			goto out;   /* logged */
	}

	if (se && fuse_session_mount(se, fo.mountpoint) != 0)
		goto out;
	mounted = se != NULL;
	if (http)
		log_info("Redfish service at %s/redfish/v1", httpd_url(http));
	if (fuse_daemonize(fo.foreground) != 0)
		goto out;
	if (!fo.foreground)
		log_to_syslog("redfishfs");
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	if (se) {
		if (fuse_set_signal_handlers(se) != 0) {
			log_error("cannot install signal handlers");
			goto out;
		}
		signals = true;
		r = fs_start(fs, se);
		if (r < 0) {
			log_error("cannot start the invalidation thread: %s", strerror(-r));
			goto out;
		}
	} else {
		/* Threads started from here on inherit the blocked set. */
		pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	}
	r = kasa_provider_start(kp);
	if (r < 0) {
		log_error("cannot start the Kasa pollers: %s", strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < n_bmcs; i++) {
		r = rf_bmc_start(bmcs[i]);
		if (r < 0) {
			log_error("cannot start the BMC health thread: %s", strerror(-r));
			goto out;
		}
	}
	if (http) {
		r = httpd_start(http);
		if (r < 0)
			goto out;   /* logged */
	}
	log_info("serving %zu strip%s%s, %zu BMC%s, %zu mockup%s%s%s", cfg.n_kasa,
		 cfg.n_kasa == 1 ? "" : "s", cfg.n_discover ? " and those discovered" : "", n_bmcs, n_bmcs == 1 ? "" : "s", n_mockups,
		 n_mockups == 1 ? "" : "s", fo.mountpoint ? " on " : "", fo.mountpoint ? fo.mountpoint : "");

	r = se ? run_loop(se, &fo) : wait_for_signal(&stop_signals);
	/* A signal ends the loop with its number: a clean exit. */
	if (r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP) {
		ret = 0;
	} else {
		log_error("the %s failed: %s", se ? "FUSE loop" : "signal wait",
			  r < 0 ? strerror(-r) : "unknown error");
	}
out:
	/* Front ends first (nothing new reaches the tree), then the back ends,
	 * then the tree. */
	fs_stop(fs);
	http = httpd_free(http);
	kp = kasa_provider_free(kp);
	for (size_t i = 0; i < n_bmcs; i++)
		rf_bmc_free(bmcs[i]);
	for (size_t i = 0; i < n_mockups; i++)
		rf_mockup_free(mockups[i]);
	free(bmcs);
	free(mockups);
	if (signals)
		fuse_remove_signal_handlers(se);
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	fs = fs_free(fs);
	tree = rf_tree_free(tree);
	if (curl_up)
		curl_global_cleanup();
	fs_config_clear(&cfg);
	fs_config_clear(&cl.strips);
	fs_config_clear(&cl.list);
	httpd_config_clear(&cl.http);
	remotes_clear(&cl.remotes);
	free((char *)cl.config);
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
