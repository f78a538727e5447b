/* main.c — the redfishfs daemon: options, configuration, wiring, the loop.
 *
 *   redfishfs [options] MOUNTPOINT
 *
 * Start order (STYLE.md): parse options and the config file and validate
 * everything -> curl_global_init -> build the tree -> fuse_new (which checks
 * the -o options, before any slow probe) -> add every strip (each is probed
 * while we are still on the terminal, so an unreachable strip is reported
 * there) -> fuse_mount -> daemonize -> start
 * threads (invalidation, Kasa pollers) -> loop. Any bad input ends the
 * process with a message and exit status 1 before anything is mounted;
 * threads are started only after the fork. SIGTERM, SIGINT, SIGHUP and an
 * unmount end the loop; teardown runs in reverse.
 *
 * Options are parsed with fuse_opt from one table; our own go first and are
 * removed, then fuse_parse_cmdline takes the standard ones (-f -d -s -h -V,
 * -o clone_fd, the mount point), and fuse_new the remaining -o options.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fs.h"
#include "kasa.h"
#include "redfish.h"

#ifndef REDFISHFS_VERSION
#define REDFISHFS_VERSION "unknown"
#endif

/* What the command line says; a setting given there wins over the file. */
struct cmdline {
	const char *config;       /* -c FILE (points into argv) */
	int timeout_ms, max_age_ms, poll_s;
	bool set_timeout, set_max_age, set_poll;
	struct fs_config strips;  /* only the --kasa list is used */
	bool failed;
};

enum {
	KEY_KASA,
	KEY_TIMEOUT,
	KEY_MAX_AGE,
	KEY_POLL,
	KEY_CONFIG,
};

/* "--name " matches "--name VALUE", "--name=VALUE" (and "--nameVALUE",
 * which check_glued() refuses); the value is what follows the name, after an
 * optional '='. */
static const struct fuse_opt opt_spec[] = {
	FUSE_OPT_KEY("--kasa ", KEY_KASA),
	FUSE_OPT_KEY("--timeout ", KEY_TIMEOUT),
	FUSE_OPT_KEY("--max-age ", KEY_MAX_AGE),
	FUSE_OPT_KEY("--poll ", KEY_POLL),
	FUSE_OPT_KEY("--config ", KEY_CONFIG),
	FUSE_OPT_KEY("-c ", KEY_CONFIG),
	FUSE_OPT_END
};

/* Indexed by KEY_*. */
static const char *const long_names[] = {
	[KEY_KASA] = "--kasa",
	[KEY_TIMEOUT] = "--timeout",
	[KEY_MAX_AGE] = "--max-age",
	[KEY_POLL] = "--poll",
	[KEY_CONFIG] = "--config",
};

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "\n"
	       "Shows TP-Link Kasa power strips as a Redfish tree at MOUNTPOINT.\n"
	       "\n"
	       "redfishfs options:\n"
	       "    --kasa [NAME=]HOST[:PORT]  a Kasa strip (repeatable; port 9999;\n"
	       "                               NAME from the device alias if not given)\n"
	       "    --timeout MS               device I/O timeout per attempt (default %d)\n"
	       "    --max-age MS               values are at most this old (default %d)\n"
	       "    --poll SECONDS             Kasa poll period (default %d)\n"
	       "    -c, --config FILE          INI configuration: [redfishfs] timeout=,\n"
	       "                               max_age=, poll=; [kasa NAME] host=HOST[:PORT]\n"
	       "    -h, --help                 this help\n"
	       "    -V, --version              versions\n"
	       "\n",
	       prog, FS_DEFAULT_TIMEOUT_MS, FS_DEFAULT_MAX_AGE_MS, FS_DEFAULT_POLL_S);
}

/* fuse_opt accepts "--kasaVALUE" for the "--kasa " template; refuse it, and
 * unknown long options that merely start like ours. */
static int check_glued(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		for (size_t j = 0; j < ARRAY_SIZE(long_names); j++) {
			size_t n = strlen(long_names[j]);

			if (strncmp(argv[i], long_names[j], n) != 0)
				continue;
			if (argv[i][n] == '\0') {
				i++;   /* the next argument is the value */
				break;
			}
			if (argv[i][n] != '=') {
				log_error("unknown option '%s'", argv[i]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* arg is the option name glued to its value, e.g. "--kasa" "X" arrives as
 * "--kasaX" and "--kasa=X" as is; key says which name it is. */
static const char *opt_value(int key, const char *arg)
{
	const char *v;

	if (key == KEY_CONFIG && arg[1] != '-')
		v = arg + 2;   /* -c */
	else
		v = arg + strlen(long_names[key]);
	return *v == '=' ? v + 1 : v;
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
	const char *v;
	char err[256];
	int r = 0;

	if (key == FUSE_OPT_KEY_OPT || key == FUSE_OPT_KEY_NONOPT)
		return 1;   /* for fuse_parse_cmdline / fuse_new */
	v = opt_value(key, arg);
	switch (key) {
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
	default:
		return 1;
	}
	if (r < 0) {
		cl->failed = true;
		return -1;
	}
	return 0;   /* consumed */
}

/* The file first, then the command line over it; the strips of both. */
static int build_config(struct cmdline *cl, struct fs_config *cfg)
{
	char err[512];
	int r;

	fs_config_init(cfg);
	if (cl->config) {
		r = fs_config_load(cfg, cl->config, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			return r;
		}
	}
	if (cl->set_timeout)
		cfg->timeout_ms = cl->timeout_ms;
	if (cl->set_max_age)
		cfg->max_age_ms = cl->max_age_ms;
	if (cl->set_poll)
		cfg->poll_s = cl->poll_s;
	for (size_t i = 0; i < cl->strips.n_kasa; i++) {
		r = fs_config_add_kasa(cfg, &cl->strips.kasa[i], err, sizeof(err));
		if (r < 0) {
			log_error("--kasa: %s", err);
			return r;
		}
	}
	if (cfg->n_kasa == 0) {
		log_error("nothing to serve: give --kasa [NAME=]HOST[:PORT] or a config file "
			  "with a [kasa NAME] section");
		return -EINVAL;
	}
	return 0;
}

static int run_loop(struct fuse *fuse, const struct fuse_cmdline_opts *fo)
{
	struct fuse_loop_config *lc;
	int r;

	if (fo->singlethread)
		return fuse_loop(fuse);
	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo->clone_fd);
	/* UINT_MAX: not given (libfuse's defaults stay) */
	if (fo->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, fo->max_idle_threads);
	if (fo->max_threads != UINT_MAX && fo->max_threads > 0)
		fuse_loop_cfg_set_max_threads(lc, fo->max_threads);
	r = fuse_loop_mt(fuse, lc);
	fuse_loop_cfg_destroy(lc);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cmdline cl = { 0 };
	struct fuse_cmdline_opts fo = { 0 };
	struct fs_config cfg;
	struct rf_tree *tree = NULL;
	struct kasa_provider *kp = NULL;
	struct fs *fs = NULL;
	struct fuse *fuse = NULL;
	struct fuse_session *se = NULL;
	bool curl_up = false, mounted = false, signals = false;
	int ret = 1, r;

	fs_config_init(&cfg);
	fs_config_init(&cl.strips);
	if (check_glued(argc, argv) < 0)
		goto out;
	if (fuse_opt_parse(&args, &cl, opt_spec, opt_proc) < 0)
		goto out;   /* opt_proc or fuse_opt printed why */
	if (fuse_parse_cmdline(&args, &fo) < 0)
		goto out;
	if (fo.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lib_help(&args);
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
	if (!fo.mountpoint) {
		log_error("no mount point given (see %s --help)", argv[0]);
		goto out;
	}
	if (build_config(&cl, &cfg) < 0)
		goto out;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		goto out;
	}
	curl_up = true;
	tree = rf_tree_new(NULL);
	if (!tree) {
		log_error("cannot create the resource tree: %s", strerror(ENOMEM));
		goto out;
	}
	rf_tree_set_max_age(tree, cfg.max_age_ms);
	fs = fs_new(tree, cfg.max_age_ms);
	if (!fs) {
		log_error("%s", strerror(ENOMEM));
		goto out;
	}
	fuse = fuse_new(&args, fs_operations(), sizeof(struct fuse_operations), fs);
	if (!fuse)
		goto out;   /* libfuse printed why (an unknown -o option) */
	kp = kasa_provider_new(tree, cfg.timeout_ms, cfg.poll_s);
	if (!kp) {
		log_error("cannot create the Kasa provider: %s", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < cfg.n_kasa; i++) {
		const struct fs_kasa *k = &cfg.kasa[i];

		r = kasa_provider_add(kp, k->name, k->host, k->port);
		if (r == -EINVAL || r == -ENOMEM || r == -EEXIST) {
			log_error("strip %s%s%s:%u: %s", k->name ? k->name : "",
				  k->name ? " at " : "", k->host, (unsigned)k->port, strerror(-r));
			goto out;
		}
		if (r < 0)
			log_warn("strip %s%s%s:%u does not answer (%s); shown as offline until it does",
				 k->name ? k->name : "", k->name ? " at " : "", k->host,
				 (unsigned)k->port, strerror(-r));
	}

	if (fuse_mount(fuse, fo.mountpoint) != 0)
		goto out;
	mounted = true;
	if (fuse_daemonize(fo.foreground) != 0)
		goto out;
	if (!fo.foreground)
		log_to_syslog("redfishfs");
	se = fuse_get_session(fuse);
	if (fuse_set_signal_handlers(se) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	signals = true;
	r = fs_start(fs, fuse);
	if (r < 0) {
		log_error("cannot start the invalidation thread: %s", strerror(-r));
		goto out;
	}
	r = kasa_provider_start(kp);
	if (r < 0) {
		log_error("cannot start the Kasa pollers: %s", strerror(-r));
		goto out;
	}
	log_info("serving %zu strip%s on %s", cfg.n_kasa, cfg.n_kasa == 1 ? "" : "s",
		 fo.mountpoint);

	r = run_loop(fuse, &fo);
	/* A signal ends the loop with its number: a clean exit. */
	if (r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP) {
		ret = 0;
	} else {
		log_error("the FUSE loop failed: %s", r < 0 ? strerror(-r) : "unknown error");
	}
out:
	fs_stop(fs);
	kp = kasa_provider_free(kp);
	if (signals)
		fuse_remove_signal_handlers(se);
	if (mounted)
		fuse_unmount(fuse);
	if (fuse)
		fuse_destroy(fuse);
	fs = fs_free(fs);
	tree = rf_tree_free(tree);
	if (curl_up)
		curl_global_cleanup();
	fs_config_clear(&cfg);
	fs_config_clear(&cl.strips);
	free((char *)cl.config);
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
