/* main.c — the redfishfs daemon: options, configuration, wiring, the loop.
 *
 *   redfishfs [options] MOUNTPOINT
 *   redfishfs [options] CONFIG MOUNTPOINT      (mount -t fuse.redfishfs, fstab)
 *
 * Start order (STYLE.md): parse options and the config file and validate
 * everything -> check the mount point (a live redfishfs mount there or a
 * non-empty directory is refused; a dead one a killed daemon left is
 * detached) -> curl_global_init -> build the tree -> fuse_session_new (which
 * checks the -o options, before any slow probe) -> add every back end (each
 * probed while we are still on the terminal, so an unreachable one is
 * reported there) -> fuse_session_mount (auto_unmount unless -o
 * noauto_unmount) -> daemonize -> start threads (invalidation, Kasa pollers
 * and discovery, BMCs, HTTP, reload) -> loop (READY=1 at the kernel's INIT). Any bad
 * input ends the process with a message and exit status 1 before anything
 * is mounted; threads are started only after the fork. SIGTERM, SIGINT and
 * an unmount end the loop (STOPPING=1); teardown runs in reverse.
 *
 * Options: fs_options (options.c) is the one table; fuse_opt's templates are
 * built from it and opt_proc dispatches on the entry's id, the libfuse ones
 * (-f -d -s -o) pass to fuse_parse_cmdline and fuse_session_new. The file's
 * keys (config.c) come through the same table.
 *
 * SIGHUP is blocked in every thread and taken by the reload thread (or the
 * signal wait without a mount): the command line and the file are read again
 * into a fresh configuration, and only if both are good the back ends that
 * changed are added or removed (service_apply); otherwise the running
 * configuration stays and the error (FILE:LINE) is logged.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdatomic.h>
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

static void bmc_opt_clear(struct bmc_opt *b)
{
	free(b->name);
	free(b->url);
	free(b->user);
	free(b->password_file);
	free(b->ca_file);
	memset(b, 0, sizeof(*b));
}

static void mockup_opt_clear(struct mockup_opt *m)
{
	free(m->name);
	free(m->dir);
	memset(m, 0, sizeof(*m));
}

static void remotes_clear(struct remotes *r)
{
	for (size_t i = 0; i < r->n_bmc; i++)
		bmc_opt_clear(&r->bmc[i]);
	for (size_t i = 0; i < r->n_mockup; i++)
		mockup_opt_clear(&r->mockup[i]);
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

/* Append m (its strings are stolen) to r; -EEXIST: a mockup of that name
 * (or a second unnamed one) is there. */
static int mockup_add(struct remotes *r, struct mockup_opt *m)
{
	struct mockup_opt *nm;

	for (size_t i = 0; i < r->n_mockup; i++) {
		const char *a = r->mockup[i].name, *b = m->name;

		if ((!a && !b) || (a && b && strcmp(a, b) == 0)) {
			free(m->name);
			free(m->dir);
			return -EEXIST;
		}
	}
	nm = realloc(r->mockup, (r->n_mockup + 1) * sizeof(*nm));
	if (!nm) {
		free(m->name);
		free(m->dir);
		return -ENOMEM;
	}
	r->mockup = nm;
	nm[r->n_mockup++] = *m;
	*m = (struct mockup_opt){ 0 };
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
	const char *config;       /* -c FILE, or the source of mount -t fuse.redfishfs (malloc'd) */
	char *mountpoint;         /* malloc'd */
	int timeout_ms, max_age_ms, poll_s, discover_interval_s;
	bool set_timeout, set_max_age, set_poll, set_discover_interval;
	struct fs_config strips;  /* only the --kasa and --kasa-discover lists are used */
	struct httpd_config http; /* --http... (the file's [http] fills it too) */
	struct remotes remotes;   /* --bmc..., --mockup (the file's [bmc NAME] too) */
	bool no_mount;
	int log_level;            /* -1: not given */
	bool show_help, show_version;
	bool nonempty, noauto_unmount;   /* -o nonempty, -o noauto_unmount */
	bool failed;
};

static void cmdline_clear(struct cmdline *cl)
{
	fs_config_clear(&cl->strips);
	httpd_config_clear(&cl->http);
	remotes_clear(&cl->remotes);
	free((char *)cl->config);
	free(cl->mountpoint);
	cl->config = cl->mountpoint = NULL;
}

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warning", [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

static int parse_log_level(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_level_names); i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

/* fuse_opt templates built from fs_options; each template's key is its
 * option's id. fuse_opt hands an argument to EVERY template it matches
 * ("--http " matches "--http-cert" too), so opt_proc takes an argument only
 * under the longest name it starts with, and check_args() refuses
 * "--nameVALUE" before fuse_opt sees it. */
struct opt_spec {
	struct fuse_opt opts[2 * FS_OPT_COUNT + 1];
	char *templ[2 * FS_OPT_COUNT];
	size_t n;
};

static int spec_add(struct opt_spec *s, int id, const char *fmt, ...) _printf_(3, 4);
static int spec_add(struct opt_spec *s, int id, const char *fmt, ...)
{
	va_list ap;
	char *t;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	s->templ[s->n] = t;
	s->opts[s->n++] = (struct fuse_opt)FUSE_OPT_KEY(t, id);
	return 0;
}

static void opt_spec_free(struct opt_spec *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->templ[i]);
	s->n = 0;
}

static int opt_spec_init(struct opt_spec *s)
{
	int r = 0;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < FS_OPT_COUNT && r == 0; i++) {
		const struct fs_option *o = &fs_options[i];
		bool value = o->kind == FS_OPT_VALUE;

		if (o->kind == FS_OPT_FUSE)
			continue;   /* kept for fuse_parse_cmdline / fuse_session_new */
		if (o->kind == FS_OPT_MOUNT) {
			r = spec_add(s, i, "%s", o->name);
			continue;
		}
		if (o->name)
			r = spec_add(s, i, "--%s%s", o->name, value ? " " : "");
		if (r == 0 && o->kind == FS_OPT_OPTIONAL)
			r = spec_add(s, i, "--%s=", o->name);
		if (r == 0 && o->short_name)
			r = spec_add(s, i, "-%c%s", o->short_name, value ? " " : "");
	}
	s->opts[s->n] = (struct fuse_opt)FUSE_OPT_END;
	if (r < 0)
		opt_spec_free(s);
	return r;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       %s [options] CONFIG MOUNTPOINT     (as mount -t fuse.redfishfs CONFIG MOUNTPOINT)\n"
	       "       %s [options] --no-mount --http [ADDR:]PORT\n"
	       "\n"
	       "Shows Kasa power strips and Redfish BMCs as one Redfish tree at MOUNTPOINT\n"
	       "and, with --http, as a Redfish service. See redfishfs(1), redfishfs.conf(5).\n"
	       "\n", prog, prog, prog);
	fs_options_help(stdout);
	printf("\nlibfuse's mount options (-o):\n");
	fflush(stdout);
	fuse_lowlevel_help();
}

/* Before fuse_opt: an unknown option, "--kasaVALUE" (which fuse_opt's
 * "--kasa " template would take), or a value on a flag. The libfuse
 * options -f -d -s -o pass. */
static int check_args(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n = 0;
		int id;

		if (strcmp(a, "--") == 0)
			return 0;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			/* short options, one per argument */
			if (strchr("fdshV", a[1]) && a[2] == '\0')
				continue;
			if (a[1] == 'o' || a[1] == 'c') {
				if (a[2] == '\0')
					i++;
				continue;
			}
			log_error("unknown option '%s' (see redfishfs --help)", a);
			return -EINVAL;
		}
		id = fs_option_by_arg(a, &n);
		if (id >= 0 && a[n] == '\0') {
			if (fs_options[id].kind == FS_OPT_VALUE)
				i++;   /* the next argument is the value */
			continue;
		}
		if (id >= 0 && a[n] == '=' && fs_options[id].kind != FS_OPT_FLAG)
			continue;
		if (id >= 0 && a[n] == '=')
			log_error("option '--%s' takes no value", fs_options[id].name);
		else
			log_error("unknown option '%s' (see redfishfs --help)", a);
		return -EINVAL;
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

/* Apply option id with value v (NULL for a flag) from the command line. */
static int cmdline_apply(struct cmdline *cl, int id, const char *v)
{
	const struct fs_option *o = &fs_options[id];
	char err[256];
	int r = 0;

	switch ((enum fs_opt_id)id) {
	case FS_OPT_KASA: {
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
	case FS_OPT_TIMEOUT:
		r = opt_int("--timeout", v, FS_TIMEOUT_MIN_MS, FS_TIMEOUT_MAX_MS, &cl->timeout_ms,
			    &cl->set_timeout);
		break;
	case FS_OPT_MAX_AGE:
		r = opt_int("--max-age", v, 0, FS_MAX_AGE_MAX_MS, &cl->max_age_ms, &cl->set_max_age);
		break;
	case FS_OPT_POLL:
		r = opt_int("--poll", v, FS_POLL_MIN_S, FS_POLL_MAX_S, &cl->poll_s, &cl->set_poll);
		break;
	case FS_OPT_DISCOVER_INTERVAL:
		r = opt_int("--discover-interval", v, FS_DISCOVER_INTERVAL_MIN_S,
			    FS_DISCOVER_INTERVAL_MAX_S, &cl->discover_interval_s,
			    &cl->set_discover_interval);
		break;
	case FS_OPT_KASA_DISCOVER:
		/* "--kasa-discover" alone: the default broadcast address. */
		r = fs_config_add_discover(&cl->strips, v ? v : FS_DISCOVER_DEFAULT_ADDR, err,
					   sizeof(err));
		if (r < 0)
			log_error("--kasa-discover: %s", err);
		break;
	case FS_OPT_CONFIG:
		if (!*v) {
			log_error("--config: no file given");
			r = -EINVAL;
		} else if (cl->config) {
			log_error("--config given twice");
			r = -EINVAL;
		} else if (!(cl->config = strdup(v))) {
			r = -ENOMEM;   /* v may be fuse_opt's temporary copy: keep our own */
		}
		break;
	case FS_OPT_BMC: {
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
	case FS_OPT_BMC_USER:
		r = set_string(&cl->remotes.user, v);
		break;
	case FS_OPT_KASA_USER:
		r = set_string(&cl->strips.kasa_user, v);
		break;
	case FS_OPT_KASA_PASSWORD_FILE:
		r = set_string(&cl->strips.kasa_password_file, v);
		break;
	case FS_OPT_BMC_PASSWORD_FILE:
		r = set_string(&cl->remotes.password_file, v);
		break;
	case FS_OPT_BMC_CA:
		r = set_string(&cl->remotes.ca_file, v);
		break;
	case FS_OPT_BMC_INSECURE:
		r = strv_push(&cl->remotes.insecure, &cl->remotes.n_insecure, v);
		break;
	case FS_OPT_BMC_NO_EXPAND:
		r = strv_push(&cl->remotes.no_expand, &cl->remotes.n_no_expand, v);
		break;
	case FS_OPT_MOCKUP: {
		struct mockup_opt m = { 0 };

		r = rf_mockup_parse_arg(v, &m.name, &m.dir);
		if (r < 0) {
			log_error("--mockup %s: expected [NAME=]DIR", v);
			break;
		}
		r = mockup_add(&cl->remotes, &m);
		if (r == -EEXIST)
			log_error("--mockup %s: that name is given twice", v);
		break;
	}
	case FS_OPT_NO_MOUNT:
		cl->no_mount = true;
		break;
	case FS_OPT_LOG_LEVEL:
		r = cl->log_level = parse_log_level(v);
		if (r < 0)
			log_error("--log-level %s: expected error, warning, notice, info or debug", v);
		break;
	case FS_OPT_HTTP:
	case FS_OPT_HTTP_CERT:
	case FS_OPT_HTTP_KEY:
	case FS_OPT_HTTP_USER:
	case FS_OPT_HTTP_PASSWORD_FILE:
	case FS_OPT_STATE_DIR:
	case FS_OPT_HTTP_NO_AUTH:
	case FS_OPT_HTTP_FORCE_PLAIN:
	case FS_OPT_HTTP_METRICS:
		r = httpd_config_set(&cl->http, o->key, v ? v : "true");
		if (r < 0)
			log_error("--%s %s: %s", o->name, v ? v : "",
				  r == -EINVAL ? "invalid value" : strerror(-r));
		break;
	case FS_OPT_HELP:
		cl->show_help = true;
		break;
	case FS_OPT_VERSION:
		cl->show_version = true;
		break;
	case FS_OPT_NONEMPTY:
		cl->nonempty = true;
		break;
	case FS_OPT_NOAUTO_UNMOUNT:
		cl->noauto_unmount = true;
		break;
	case FS_OPT_FOREGROUND:
	case FS_OPT_DEBUG:
	case FS_OPT_SINGLE:
	case FS_OPT_MOUNT_OPTS:
	case FS_OPT_COUNT:
		return 1;   /* libfuse's */
	}
	return r;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *cl = data;
	const struct fs_option *o;
	const char *v = NULL;
	size_t n = 0;
	int r;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* MOUNTPOINT, or CONFIG MOUNTPOINT as mount.fuse3 runs us */
		if (cl->mountpoint && !cl->config) {
			cl->config = cl->mountpoint;
			cl->mountpoint = NULL;
		}
		if (cl->mountpoint) {
			log_error("unexpected argument '%s' (one CONFIG and one MOUNTPOINT at most)", arg);
			cl->failed = true;
			return -1;
		}
		if (!(cl->mountpoint = strdup(arg)))
			return -1;
		return 0;
	}
	if (key < 0 || key >= FS_OPT_COUNT)
		return 1;   /* libfuse's (-f, -d, -s, -o ...) */
	o = &fs_options[key];
	if (o->kind == FS_OPT_MOUNT) {
		v = NULL;
	} else if (arg[0] == '-' && arg[1] != '-') {
		if (o->kind == FS_OPT_VALUE)
			v = arg + 2;   /* -cFILE */
	} else {
		if (fs_option_by_arg(arg, &n) != key)
			return 0;   /* a longer option's argument: its own template takes it */
		if (arg[n] == '=')
			v = arg + n + 1;
		else if (o->kind == FS_OPT_VALUE)
			v = arg + n;
	}
	r = cmdline_apply(cl, key, v);
	if (r == 1)
		return 1;
	if (r < 0) {
		cl->failed = true;
		return -1;
	}
	return 0;   /* consumed */
}

/* The [http], [bmc NAME] and [mockup NAME] sections and main's keys of
 * [redfishfs], read into their own structs so the command line can win over
 * them. config.c hands over keys in their canonical spelling. */
struct file_ext {
	struct httpd_config http;
	struct remotes remotes;
	struct bmc_opt *cur;        /* the [bmc NAME] being read */
	struct mockup_opt *cur_m;   /* the [mockup NAME] being read */
	int log_level;              /* -1: not given */
	bool no_mount;
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

static int ext_bool(const char *key, const char *value, bool *ret, char *err, size_t errlen)
{
	int r = parse_bool(value, ret);

	if (r < 0)
		snprintf(err, errlen, "%s = %s: expected true or false", key, value);
	return r;
}

/* [bmc NAME] starts (key NULL) or one of its keys. */
static int ext_bmc(struct file_ext *fx, const char *name, const char *key, const char *value,
		   char *err, size_t errlen)
{
	int r;

	if (!key) {
		char *n;

		if (!bmc_name_valid(name)) {
			snprintf(err, errlen, "invalid BMC name '%s' (1 to 32 of A-Z a-z 0-9 . -)", name);
			return -EINVAL;
		}
		if (!(n = strdup(name)))
			return -ENOMEM;
		r = bmc_add(&fx->remotes, n, NULL);
		if (r == -EEXIST)
			snprintf(err, errlen, "BMC '%s' defined twice", name);
		fx->cur = r == 0 ? bmc_find(&fx->remotes, name) : NULL;
		return r;
	}
	if (!fx->cur)
		return -EINVAL;
	switch (fs_option_by_key(FS_SECTION_BMC, key)) {
	case FS_OPT_BMC: {
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
	case FS_OPT_BMC_USER:
		return set_string(&fx->cur->user, value);
	case FS_OPT_BMC_PASSWORD_FILE:
		return set_string(&fx->cur->password_file, value);
	case FS_OPT_BMC_CA:
		return set_string(&fx->cur->ca_file, value);
	case FS_OPT_BMC_INSECURE:
		return ext_bool(key, value, &fx->cur->insecure, err, errlen);
	case FS_OPT_BMC_NO_EXPAND: {
		bool expand;

		r = ext_bool(key, value, &expand, err, errlen);
		fx->cur->no_expand = !expand;
		return r;
	}
	default:
		return -ENOENT;
	}
}

/* [mockup NAME] or [mockup] (the service's own tree) starts, or its dir. */
static int ext_mockup(struct file_ext *fx, const char *name, const char *key, const char *value,
		      char *err, size_t errlen)
{
	if (!key) {
		struct mockup_opt m = { 0 };
		int r;

		if (*name && !bmc_name_valid(name)) {
			snprintf(err, errlen, "invalid mockup name '%s' (1 to 32 of A-Z a-z 0-9 . -)", name);
			return -EINVAL;
		}
		if (*name && !(m.name = strdup(name)))
			return -ENOMEM;
		r = mockup_add(&fx->remotes, &m);
		if (r == -EEXIST)
			snprintf(err, errlen, "[mockup%s%s] defined twice", *name ? " " : "", name);
		fx->cur_m = r == 0 ? &fx->remotes.mockup[fx->remotes.n_mockup - 1] : NULL;
		return r;
	}
	if (!fx->cur_m || fs_option_by_key(FS_SECTION_MOCKUP, key) != FS_OPT_MOCKUP)
		return -ENOENT;
	if (fx->cur_m->dir) {
		snprintf(err, errlen, "'dir' given twice");
		return -EINVAL;
	}
	if (!*value) {
		snprintf(err, errlen, "dir: empty");
		return -EINVAL;
	}
	return set_string(&fx->cur_m->dir, value);
}

static int config_ext(void *userdata, const char *section, const char *key, const char *value,
		      char *err, size_t errlen)
{
	struct file_ext *fx = userdata;
	const char *name;
	int r;

	if (strcmp(section, "redfishfs") == 0) {
		switch (fs_option_by_key(FS_SECTION_REDFISHFS, key)) {
		case FS_OPT_LOG_LEVEL:
			fx->log_level = r = parse_log_level(value);
			if (r < 0)
				snprintf(err, errlen, "log-level = %s: expected error, warning, notice, "
					 "info or debug", value);
			return r;
		case FS_OPT_NO_MOUNT:
			return ext_bool(key, value, &fx->no_mount, err, errlen);
		default:
			return -ENOENT;
		}
	}
	if (strcmp(section, "http") == 0) {
		if (!key)
			return 0;
		r = httpd_config_set(&fx->http, key, value);
		if (r == -EINVAL)
			snprintf(err, errlen, "%s = %s: invalid value", key, value);
		return r;
	}
	if (strncmp(section, "bmc ", 4) == 0) {
		for (name = section + 4; *name == ' ';)
			name++;
		return ext_bmc(fx, name, key, value, err, errlen);
	}
	if (strncmp(section, "mockup", 6) == 0 && (section[6] == '\0' || section[6] == ' ')) {
		for (name = section + 6; *name == ' ';)
			name++;
		return ext_mockup(fx, name, key, value, err, errlen);
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
	struct file_ext fx = { .log_level = -1 };
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
		for (size_t i = 0; i < fx.remotes.n_mockup; i++) {
			if (!fx.remotes.mockup[i].dir) {
				log_error("%s: [mockup%s%s] has no dir", cl->config,
					  fx.remotes.mockup[i].name ? " " : "",
					  fx.remotes.mockup[i].name ? fx.remotes.mockup[i].name : "");
				r = -EINVAL;
				goto out;
			}
		}
	}
	if (cl->log_level < 0)
		cl->log_level = fx.log_level;
	cl->no_mount |= fx.no_mount;
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
	take_string(&cl->http.metrics, &fx.http.metrics);
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
	for (size_t i = 0; i < fx.remotes.n_mockup; i++) {
		struct mockup_opt *m = &fx.remotes.mockup[i];
		char name[64];

		snprintf(name, sizeof(name), "%s", m->name ? m->name : "");
		r = mockup_add(&cl->remotes, m);
		if (r < 0) {
			log_error("mockup %s is both in %s and on the command line",
				  *name ? name : "(the service's own)", cl->config);
			goto out;
		}
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
 * accounts live), else its mount point (uuid_from_name). */
static void service_uuid(const struct httpd_config *http, const char *mountpoint, char ret[37])
{
	_cleanup_free_ char *machine = NULL, *state = NULL, *key = NULL;
	const char *self = mountpoint;
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
	uuid_from_name(key, ret);
}

static int parse_cmdline(int argc, char *argv[], struct cmdline *cl, struct fuse_args *args);

/* What runs: the tree, its back ends and the settings they came from (so a
 * reload can tell what changed). Owned by main; service_reload runs in the
 * reload thread (or main's signal wait), one at a time. */
struct service {
	int argc;
	char **argv;
	const char *mountpoint;   /* absolute; borrowed from main's cmdline */
	struct rf_tree *tree;
	struct httpd *http;
	struct kasa_provider *kp;
	struct fs_config cfg;     /* the strips and discovery targets running */
	struct remotes remotes;   /* the BMCs and mockups running (bmcs[i] is remotes.bmc[i]) */
	void **bmcs;              /* struct rf_bmc * each (void *: see remote_kind) */
	void **mockups;           /* struct rf_mockup * each */
	bool started;             /* threads run: added back ends start at once */
	atomic_bool stopping;     /* read by the ready and reload threads */
};

/* Why a device or BMC does not answer, in the log's words. */
static const char *cause_text(int err)
{
	switch (-err) {
	case ETIMEDOUT:
	case EAGAIN:
		return "timeout";
	case ECONNREFUSED:
		return "connection refused";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "no route to host";
	case EPROTO:
		return "TLS failed";
	case EACCES:
		return "credentials refused";
	case ECONNRESET:
		return "connection reset";
	default:
		return strerror(-err);
	}
}

static void log_bmc_state(void *userdata, const char *bmc, bool online, int cause)
{
	(void)userdata;
	if (online)
		log_event(LOG_LEVEL_NOTICE, NULL, "BMC %s is back online", bmc);
	else
		log_event(LOG_LEVEL_WARN, NULL, "BMC %s is offline: %s", bmc, cause_text(cause));
}

static void log_bmc_error(void *userdata, const char *bmc, int err, const char *message)
{
	if (message && *message)
		log_warn("BMC %s: %s", bmc, message);
	else
		log_warn("BMC %s: %s", bmc, cause_text(err));
}

/* A source (BMC, mockup) broke a Redfish rule; the tree tells each once. */
static void log_source_mistake(void *userdata, const char *source, const char *uri,
			       const char *message)
{
	(void)userdata;
	log_warn("%s: %s: %s", source, uri, message);
}

static void log_kasa_event(void *userdata, enum kasa_event ev, const char *strip,
			   const char *addr, int err, const char *message)
{
	(void)userdata;
	switch (ev) {
	case KASA_EVENT_FOUND:
		log_event(LOG_LEVEL_INFO, NULL, "Kasa %s found at %s: strip %s", message, addr, strip);
		break;
	case KASA_EVENT_MOVED:
		log_event(LOG_LEVEL_INFO, NULL, "strip %s moved from %s to %s", strip, message, addr);
		break;
	case KASA_EVENT_UNSUPPORTED:
		log_warn("Kasa device at %s not supported: %s", addr, message);
		break;
	case KASA_EVENT_DEVICE_ERROR:
		log_event(LOG_LEVEL_WARN, NULL, "strip %s at %s: %s", strip, addr, message);
		break;
	case KASA_EVENT_DISCOVERY_FAILED:
		log_warn("Kasa %s: %s", message, strerror(-err));
		break;
	case KASA_EVENT_OFFLINE:
		log_event(LOG_LEVEL_WARN, NULL, "strip %s at %s is offline: %s", strip, addr,
			  cause_text(err));
		break;
	case KASA_EVENT_ONLINE:
		log_event(LOG_LEVEL_NOTICE, NULL, "strip %s at %s is back online", strip, addr);
		break;
	case KASA_EVENT_ACCOUNT:
		log_event(LOG_LEVEL_INFO, NULL, "strip %s at %s: %s", strip, addr, message);
		break;
	}
}

/* The discovery probe for devices we cannot drive goes to the usual port,
 * unless the legacy port is set to it. */
static uint16_t new_probe_port(uint16_t port)
{
	return port == KASA_DISCOVERY_PORT_NEW ? 0 : KASA_DISCOVERY_PORT_NEW;
}

/* A TP-Link account (user and password file; both or neither) for strip
 * (NULL: every strip's default). 0 with *ret (NULL: none), or -EINVAL
 * logged (the password is never). */
static int kasa_account(const char *strip, const char *user, const char *password_file,
			struct kasa_creds **ret)
{
	_cleanup_free_ char *password = NULL;
	const char *w = strip ? " strip " : "", *name = strip ? strip : "";
	int r;

	*ret = NULL;
	if (!user && !password_file)
		return 0;
	if (!user || !password_file) {
		log_error("Kasa%s%s: a TP-Link account needs both user and password file", w, name);
		return -EINVAL;
	}
	r = password_file_read(password_file, &password);
	if (r < 0) {
		log_error("Kasa%s%s: password file %s: %s", w, name, password_file,
			  r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
			  r == -EINVAL ? "empty, too long or not text" : strerror(-r));
		return -EINVAL;
	}
	*ret = kasa_creds_new(user, password);
	explicit_bzero(password, strlen(password));
	if (!*ret) {
		log_error("Kasa%s%s: account: %s", w, name, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/* Add strip k to the provider: 0, or -errno for a strip that cannot be
 * added at all (a strip that does not answer is added, shown offline). */
static int service_add_strip(struct service *sv, const struct fs_kasa *k)
{
	struct kasa_creds *creds;
	int r = kasa_account(k->name ? k->name : k->host, k->user, k->password_file, &creds);

	if (r < 0)
		return r;
	r = kasa_provider_add_as(sv->kp, k->name, k->host, k->port, creds);

	if (r == -EINVAL || r == -ENOMEM || r == -EEXIST) {
		log_error("strip %s%s%s:%u: %s", k->name ? k->name : "", k->name ? " at " : "",
			  k->host, (unsigned)k->port,
			  r == -EEXIST ? "the same strip is given twice" : strerror(-r));
		return r;
	}
	if (r == -EACCES)   /* the provider's event said which credentials were refused */
		log_info("strip %s%s%s:%u: shown as offline until it takes a login",
			 k->name ? k->name : "", k->name ? " at " : "", k->host, (unsigned)k->port);
	else if (r < 0)
		log_warn("strip %s%s%s:%u does not answer (%s); shown as offline until it does",
			 k->name ? k->name : "", k->name ? " at " : "", k->host, (unsigned)k->port,
			 cause_text(r == -EHOSTUNREACH && kasa_last_cause() ? kasa_last_cause() : r));
	return 0;
}

/* A BMC: created, probed (login and crawl), started if the service runs.
 * NULL when it cannot serve at all (logged). */
static struct rf_bmc *service_new_bmc(struct service *sv, const struct bmc_opt *b)
{
	_cleanup_free_ char *password = NULL;
	struct rf_bmc_config bc = {
		.name = b->name, .url = b->url, .user = b->user, .ca_file = b->ca_file,
		.insecure = b->insecure, .no_expand = b->no_expand, .timeout_ms = sv->cfg.timeout_ms,
		.on_error = log_bmc_error, .on_state = log_bmc_state,
	};
	struct rf_bmc *bmc;
	int r;

	if (b->password_file) {
		r = password_file_read(b->password_file, &password);
		if (r < 0) {
			log_error("BMC %s: password file %s: %s", b->name, b->password_file,
				  r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
				  r == -EINVAL ? "empty, too long or not text" : strerror(-r));
			return NULL;
		}
	}
	if (b->user && !password) {
		log_error("BMC %s: --bmc-user without --bmc-password-file", b->name);
		return NULL;
	}
	if (!b->user)
		log_warn("BMC %s: no user given (--bmc-user, or user = in [bmc %s]): only what it "
			 "shows without a login can be seen", b->name, b->name);
	bc.password = password;
	if (rf_bmc_url_plain_remote(b->url))
		log_warn("BMC %s: %s is plain HTTP to a remote host; credentials cross the network unencrypted",
			 b->name, b->url);
	bmc = rf_bmc_new(sv->tree, &bc, &r);
	if (!bmc) {
		log_error("BMC %s: %s", b->name, strerror(-r));
		return NULL;
	}
	r = rf_bmc_probe(bmc);
	if (r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -EAGAIN || r == -ECONNREFUSED) {
		/* log_bmc_state said why */
		log_info("BMC %s at %s: shown as offline until it answers", b->name, b->url);
	} else if (r < 0) {
		if (r == -EPROTO)
			log_error("BMC %s at %s: TLS failed (is its certificate trusted? give --bmc-ca FILE, "
				  "or --bmc-insecure %s for a self-signed BMC)", b->name, b->url, b->name);
		else
			log_error("BMC %s at %s: %s", b->name, b->url,
				  r == -EACCES ? "login refused (check the user and password)" : strerror(-r));
		return rf_bmc_free(bmc);
	}
	if (sv->started && (r = rf_bmc_start(bmc)) < 0) {
		log_error("BMC %s: cannot start its threads: %s", b->name, strerror(-r));
		return rf_bmc_free(bmc);
	}
	return bmc;
}

static struct rf_mockup *service_new_mockup(struct service *sv, const struct mockup_opt *m)
{
	int r;
	struct rf_mockup *mk = rf_mockup_load(sv->tree, m->name, m->dir, &r);

	if (!mk)
		log_error("mockup %s: %s", m->dir,
			  r == -ENOENT ? "no index.json of a ServiceRoot there" : strerror(-r));
	return mk;
}

/* Everything in sv->cfg and remotes (stolen into sv->remotes), probed while
 * still on the terminal. */
static int service_start_backends(struct service *sv, struct remotes *remotes)
{
	const struct fs_config *cfg = &sv->cfg;
	int r;

	sv->remotes = *remotes;
	memset(remotes, 0, sizeof(*remotes));
	sv->kp = kasa_provider_new(sv->tree, cfg->timeout_ms, cfg->poll_s);
	if (!sv->kp) {
		log_error("cannot create the Kasa provider: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	kasa_provider_set_events(sv->kp, log_kasa_event, NULL);
	{
		struct kasa_creds *creds;

		r = kasa_account(NULL, cfg->kasa_user, cfg->kasa_password_file, &creds);
		if (r < 0)
			return r;
		kasa_provider_set_creds(sv->kp, creds);
	}
	for (size_t i = 0; i < cfg->n_kasa; i++)
		if ((r = service_add_strip(sv, &cfg->kasa[i])) < 0)
			return r;
	for (size_t i = 0; i < cfg->n_discover; i++) {
		const struct fs_discover *d = &cfg->discover[i];

		r = kasa_provider_add_discovery(sv->kp, d->addr, d->port, new_probe_port(d->port),
						cfg->discover_interval_s);
		if (r < 0 && r != -EEXIST) {
			log_error("Kasa discovery on %s:%u: %s", d->addr, (unsigned)d->port, strerror(-r));
			return r;
		}
	}
	sv->bmcs = calloc(sv->remotes.n_bmc + 1, sizeof(*sv->bmcs));
	sv->mockups = calloc(sv->remotes.n_mockup + 1, sizeof(*sv->mockups));
	if (!sv->bmcs || !sv->mockups) {
		log_error("%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (size_t i = 0; i < sv->remotes.n_bmc; i++)
		if (!(sv->bmcs[i] = service_new_bmc(sv, &sv->remotes.bmc[i])))
			return -EINVAL;
	for (size_t i = 0; i < sv->remotes.n_mockup; i++)
		if (!(sv->mockups[i] = service_new_mockup(sv, &sv->remotes.mockup[i])))
			return -EINVAL;
	return 0;
}

/* After daemonizing: the pollers, discovery and the BMCs' threads. */
static int service_start_threads(struct service *sv)
{
	int r = kasa_provider_start(sv->kp);

	if (r < 0) {
		log_error("cannot start the Kasa pollers: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < sv->remotes.n_bmc; i++) {
		r = rf_bmc_start((struct rf_bmc *)sv->bmcs[i]);
		if (r < 0) {
			log_error("cannot start the BMC health thread: %s", strerror(-r));
			return r;
		}
	}
	sv->started = true;
	return 0;
}

static void service_log_serving(const struct service *sv)
{
	size_t nk = sv->cfg.n_kasa, nb = sv->remotes.n_bmc, nm = sv->remotes.n_mockup;

	log_info("serving %zu strip%s%s, %zu BMC%s, %zu mockup%s%s%s", nk, nk == 1 ? "" : "s",
		 sv->cfg.n_discover ? " and those discovered" : "", nb, nb == 1 ? "" : "s", nm,
		 nm == 1 ? "" : "s", sv->mountpoint ? " on " : "", sv->mountpoint ? sv->mountpoint : "");
}

static void service_free_backends(struct service *sv)
{
	sv->kp = kasa_provider_free(sv->kp);
	for (size_t i = 0; sv->bmcs && i < sv->remotes.n_bmc; i++)
		rf_bmc_free((struct rf_bmc *)sv->bmcs[i]);
	for (size_t i = 0; sv->mockups && i < sv->remotes.n_mockup; i++)
		rf_mockup_free((struct rf_mockup *)sv->mockups[i]);
	free(sv->bmcs);
	free(sv->mockups);
	sv->bmcs = NULL;
	sv->mockups = NULL;
	remotes_clear(&sv->remotes);
}

static bool strip_same(const struct fs_kasa *a, const struct fs_kasa *b)
{
	return !strcmp(a->host, b->host) && a->port == b->port &&
	       ((!a->name && !b->name) || (a->name && b->name && !strcmp(a->name, b->name)));
}

static bool bmc_same(const struct bmc_opt *a, const struct bmc_opt *b)
{
	const char *sa[] = { a->name, a->url, a->user, a->password_file, a->ca_file };
	const char *sb[] = { b->name, b->url, b->user, b->password_file, b->ca_file };

	for (size_t i = 0; i < ARRAY_SIZE(sa); i++)
		if ((!sa[i]) != (!sb[i]) || (sa[i] && strcmp(sa[i], sb[i]) != 0))
			return false;
	return a->insecure == b->insecure && a->no_expand == b->no_expand;
}

static bool mockup_same(const struct mockup_opt *a, const struct mockup_opt *b)
{
	return ((!a->name && !b->name) || (a->name && b->name && !strcmp(a->name, b->name))) &&
	       !strcmp(a->dir, b->dir);
}

/* The two kinds of remote source a reload matches up, BMCs and mockups:
 * their option structs (size bytes each) and the objects made from them. */
struct remote_kind {
	const char *what;         /* "BMC", "mockup" */
	size_t size;
	bool (*same)(const void *a, const void *b);
	const char *(*label)(const void *opt);
	void *(*create)(struct service *sv, const void *opt);   /* NULL: logged */
	void (*destroy)(void *obj);
	void (*clear)(void *opt);
};

static bool bmc_same_v(const void *a, const void *b) { return bmc_same(a, b); }
static const char *bmc_label(const void *o) { return ((const struct bmc_opt *)o)->name; }
static void *bmc_create(struct service *sv, const void *o) { return service_new_bmc(sv, o); }
static void bmc_destroy(void *b) { rf_bmc_free(b); }
static void bmc_clear_v(void *o) { bmc_opt_clear(o); }
static const struct remote_kind bmc_kind = {
	"BMC", sizeof(struct bmc_opt), bmc_same_v, bmc_label, bmc_create, bmc_destroy, bmc_clear_v,
};

static bool mockup_same_v(const void *a, const void *b) { return mockup_same(a, b); }
static const char *mockup_label(const void *o) { return ((const struct mockup_opt *)o)->dir; }
static void *mockup_create(struct service *sv, const void *o) { return service_new_mockup(sv, o); }
static void mockup_destroy(void *m) { rf_mockup_free(m); }
static void mockup_clear_v(void *o) { mockup_opt_clear(o); }
static const struct remote_kind mockup_kind = {
	"mockup", sizeof(struct mockup_opt), mockup_same_v, mockup_label, mockup_create,
	mockup_destroy, mockup_clear_v,
};

/* The running objs[n_old] (made from old[n_old]) against the options
 * nw[*n_new]: one that stays moves to ret[j] untouched, the others are
 * destroyed, new ones made; an option whose object cannot be made leaves
 * nw (its failure is logged), so nw[i] and ret[i] pair up after. */
static void apply_remotes(struct service *sv, const struct remote_kind *k, char *old, void **objs,
			  size_t n_old, char *nw, size_t *n_new, void **ret, size_t *added,
			  size_t *removed)
{
	size_t w = 0;

	for (size_t i = 0; i < n_old; i++) {
		bool kept = false;

		for (size_t j = 0; j < *n_new && !kept; j++)
			if (!ret[j] && k->same(old + i * k->size, nw + j * k->size)) {
				ret[j] = objs[i];
				kept = true;
			}
		if (!kept) {
			log_event(LOG_LEVEL_NOTICE, NULL, "%s %s removed", k->what, k->label(old + i * k->size));
			k->destroy(objs[i]);
			(*removed)++;
		}
	}
	for (size_t j = 0; j < *n_new; j++) {
		char *opt = nw + j * k->size;
		void *o = ret[j] ? ret[j] : k->create(sv, opt);

		if (!o) {
			k->clear(opt);
			continue;
		}
		if (!ret[j]) {
			log_event(LOG_LEVEL_NOTICE, NULL, "%s %s added", k->what, k->label(opt));
			(*added)++;
		}
		ret[j] = NULL;
		ret[w] = o;
		if (w != j) {
			memcpy(nw + w * k->size, opt, k->size);
			memset(opt, 0, k->size);
		}
		w++;
	}
	*n_new = w;
}

/* Make what runs what cfg and remotes say: back ends that are gone leave
 * the tree, new ones join it, unchanged ones are not touched (their readers
 * never notice). A BMC or mockup whose settings changed is replaced. */
static void service_apply(struct service *sv, struct fs_config *cfg, struct remotes *rm)
{
	void **nb = calloc(rm->n_bmc + 1, sizeof(*nb));
	void **nm = calloc(rm->n_mockup + 1, sizeof(*nm));
	size_t added = 0, removed = 0;

	if (!nb || !nm) {
		log_event(LOG_LEVEL_ERROR, NULL, "reload failed: %s", strerror(ENOMEM));
		free(nb);
		free(nm);
		return;
	}
	/* strips */
	for (size_t i = 0; i < sv->cfg.n_kasa; i++) {
		const struct fs_kasa *k = &sv->cfg.kasa[i];
		bool keep = false;

		for (size_t j = 0; j < cfg->n_kasa && !keep; j++)
			keep = strip_same(k, &cfg->kasa[j]);
		if (keep)
			continue;
		if (kasa_provider_remove(sv->kp, k->host, k->port) == 0) {
			log_event(LOG_LEVEL_NOTICE, NULL, "strip %s%s%s:%u removed", k->name ? k->name : "",
				   k->name ? " at " : "", k->host, (unsigned)k->port);
			removed++;
		}
	}
	for (size_t j = 0; j < cfg->n_kasa; j++) {
		bool have = false;

		for (size_t i = 0; i < sv->cfg.n_kasa && !have; i++)
			have = strip_same(&sv->cfg.kasa[i], &cfg->kasa[j]);
		if (!have && service_add_strip(sv, &cfg->kasa[j]) == 0) {
			log_event(LOG_LEVEL_NOTICE, NULL, "strip %s%s%s:%u added", cfg->kasa[j].name ? cfg->kasa[j].name : "",
				   cfg->kasa[j].name ? " at " : "", cfg->kasa[j].host,
				   (unsigned)cfg->kasa[j].port);
			added++;
		}
	}
	apply_remotes(sv, &bmc_kind, (char *)sv->remotes.bmc, sv->bmcs, sv->remotes.n_bmc,
		      (char *)rm->bmc, &rm->n_bmc, nb, &added, &removed);
	apply_remotes(sv, &mockup_kind, (char *)sv->remotes.mockup, sv->mockups,
		      sv->remotes.n_mockup, (char *)rm->mockup, &rm->n_mockup, nm, &added, &removed);
	free(sv->bmcs);
	free(sv->mockups);
	remotes_clear(&sv->remotes);
	sv->bmcs = nb;
	sv->mockups = nm;
	sv->remotes = *rm;
	memset(rm, 0, sizeof(*rm));
	/* the strips list: what the file says now */
	for (size_t i = 0; i < sv->cfg.n_kasa; i++)
		fs_kasa_clear(&sv->cfg.kasa[i]);
	free(sv->cfg.kasa);
	sv->cfg.kasa = cfg->kasa;
	sv->cfg.n_kasa = cfg->n_kasa;
	cfg->kasa = NULL;
	cfg->n_kasa = 0;
	log_event(LOG_LEVEL_NOTICE, NULL, "configuration reloaded: %zu added, %zu removed", added, removed);
	if (sv->cfg.timeout_ms != cfg->timeout_ms || sv->cfg.poll_s != cfg->poll_s ||
	    sv->cfg.max_age_ms != cfg->max_age_ms || sv->cfg.n_discover != cfg->n_discover)
		log_event(LOG_LEVEL_WARN, NULL, "timeout, poll, max-age and discovery take effect at the next start");
}

/* SIGHUP: read the command line and the file again; on any error keep what
 * runs. */
static void service_reload(struct service *sv)
{
	struct fuse_args args = FUSE_ARGS_INIT(sv->argc, sv->argv);
	struct cmdline cl;
	struct fs_config cfg;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, (uint64_t)now_ms() * 1000);
	log_event(LOG_LEVEL_NOTICE, NULL, "reloading the configuration");
	fs_config_init(&cfg);
	if (parse_cmdline(sv->argc, sv->argv, &cl, &args) < 0 || build_config(&cl, &cfg) < 0) {
		log_event(LOG_LEVEL_ERROR, NULL, "reload failed: the configuration that runs is kept");
		goto out;
	}
	service_apply(sv, &cfg, &cl.remotes);
out:
	fs_config_clear(&cfg);
	cmdline_clear(&cl);
	fuse_opt_free_args(&args);
	sd_notify(0, "READY=1");
}

/* Without a mount: wait for SIGTERM or SIGINT (blocked in every thread, so
 * only this wait takes them); SIGHUP reloads. */
static int wait_for_signal(const sigset_t *set, struct service *sv)
{
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return -1;
		if (sig != SIGHUP)
			return sig;
		service_reload(sv);
	}
}

/* The mount answers once the kernel's INIT is answered: the FUSE
 * operations are fs/'s with init wrapped to send READY=1 then (HTTP already
 * listens: httpd_start runs before the loop). libfuse replies to INIT as
 * the wrapped init returns, and the kernel holds every other request until
 * that reply, so whoever READY=1 lets go finds the mount answering. (The
 * daemon never stats its own mount for this: a thread of ours waiting on
 * our own mount is what a kill -9 cannot end.) */
static const struct fuse_lowlevel_ops *fs_ops;

static void init_ready(void *userdata, struct fuse_conn_info *conn)
{
	if (fs_ops->init)
		fs_ops->init(userdata, conn);
	sd_notify(0, "READY=1");
}

static const struct fuse_lowlevel_ops *service_operations(void)
{
	static struct fuse_lowlevel_ops ops;

	fs_ops = fs_operations();
	ops = *fs_ops;
	ops.init = init_ready;
	return &ops;
}

/* SIGHUP, blocked everywhere, is taken here (the FUSE loop has the main
 * thread); a SIGHUP sent to this thread with sv->stopping set ends it. */
static void *reload_thread(void *arg)
{
	struct service *sv = arg;
	sigset_t hup;
	int sig;

	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	while (sigwait(&hup, &sig) == 0 && !sv->stopping)
		service_reload(sv);
	return NULL;
}

/* -o options that make us a proper mount: subtype (fuse.redfishfs in the
 * mount table, which fs_mountpoint_check looks for), fsname (the config
 * file, as mount(8) shows a source) and auto_unmount (a killed daemon's
 * mount goes away) unless -o noauto_unmount. */
static int add_mount_opts(struct fuse_args *args, const struct cmdline *cl)
{
	bool subtype = false, fsname = false;
	_cleanup_free_ char *o = NULL;

	for (int i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];

		if (strcmp(a, "-o") == 0 && i + 1 < args->argc)
			a = args->argv[++i];
		else if (strncmp(a, "-o", 2) == 0)
			a += 2;
		else
			continue;
		subtype |= strstr(a, "subtype=") != NULL;
		fsname |= strstr(a, "fsname=") != NULL;
	}
	if (asprintf(&o, "-o%s%s%s%s%s", subtype ? "" : "subtype=redfishfs,",
		     fsname ? "" : "fsname=", fsname ? "" : (cl->config ? cl->config : "redfishfs"),
		     fsname ? "" : ",", cl->noauto_unmount ? "" : "auto_unmount") < 0)
		return -ENOMEM;
	/* fsname may not hold ',' unescaped: keep it simple and plain */
	if (!fsname && cl->config && strchr(cl->config, ',')) {
		free(o);
		o = NULL;
		if (asprintf(&o, "-o%sfsname=redfishfs%s", subtype ? "" : "subtype=redfishfs,",
			     cl->noauto_unmount ? "" : ",auto_unmount") < 0)
			return -ENOMEM;
	}
	for (size_t n = strlen(o); n > 2 && o[n - 1] == ','; n--)
		o[n - 1] = '\0';
	return strlen(o) > 2 ? fuse_opt_add_arg(args, o) : 0;
}

/* argv -> cl (and args, what is left for libfuse). */
static int parse_cmdline(int argc, char *argv[], struct cmdline *cl, struct fuse_args *args)
{
	struct opt_spec spec;
	int r;

	*cl = (struct cmdline){ .log_level = -1 };
	fs_config_init(&cl->strips);
	if (check_args(argc, argv) < 0)
		return -EINVAL;
	if (opt_spec_init(&spec) < 0)
		return -ENOMEM;
	r = fuse_opt_parse(args, cl, spec.opts, opt_proc);
	opt_spec_free(&spec);
	return r < 0 || cl->failed ? -EINVAL : 0;   /* opt_proc or fuse_opt said why */
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cmdline cl = { 0 };
	struct fuse_cmdline_opts fo = { 0 };
	struct service sv = { .argc = argc, .argv = argv };
	struct fs *fs = NULL;
	struct fuse_session *se = NULL;
	pthread_t reload_t;
	bool curl_up = false, mounted = false, signals = false;
	bool reload_started = false, recovered = false;
	sigset_t stop_signals;
	char msg[512], uuid[37];
	int ret = 1, r;

	log_detect_journal();
	fs_config_init(&sv.cfg);
	if (parse_cmdline(argc, argv, &cl, &args) < 0)
		goto out;
	if (cl.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (cl.show_version) {
		printf("redfishfs version %s\n", REDFISHFS_VERSION);
		fflush(stdout);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &fo) < 0)
		goto out;
	if (fo.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	else if (cl.log_level >= 0)
		log_set_level((enum log_level)cl.log_level);
	if (!cl.mountpoint && !cl.no_mount) {
		log_error("no mount point given (see %s --help)", argv[0]);
		goto out;
	}
	if (build_config(&cl, &sv.cfg) < 0)
		goto out;
	if (!fo.debug && cl.log_level >= 0)
		log_set_level((enum log_level)cl.log_level);   /* the file's log-level */
	if (cl.mountpoint && cl.no_mount) {
		log_error("no-mount and a mount point %s: choose one", cl.mountpoint);
		goto out;
	}
	if (cl.no_mount && !cl.http.listen) {
		log_error("--no-mount needs --http: there would be nothing to see");
		goto out;
	}
	if (cl.http.listen && httpd_config_check(&cl.http, msg, sizeof(msg)) < 0) {
		log_error("%s", msg);
		goto out;
	}
	if (cl.mountpoint) {
		char *abs = NULL;

		if (fs_mountpoint_check(cl.mountpoint, cl.nonempty, &recovered, msg, sizeof(msg)) < 0) {
			log_error("%s", msg);
			goto out;
		}
		if (recovered)
			log_notice("%s was left mounted by a redfishfs that was killed; unmounted it",
				   cl.mountpoint);
		if (fs_mountpoint_canonical(cl.mountpoint, &abs) < 0) {
			log_error("mount point %s: %s", cl.mountpoint, strerror(ENOMEM));
			goto out;
		}
		free(cl.mountpoint);
		cl.mountpoint = abs;   /* the daemon leaves the working directory */
		if (add_mount_opts(&args, &cl) < 0)
			goto out;
	}
	sv.mountpoint = cl.mountpoint;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		goto out;
	}
	curl_up = true;
	service_uuid(&cl.http, cl.mountpoint, uuid);
	sv.tree = rf_tree_new(uuid);
	if (!sv.tree) {
		log_error("cannot create the resource tree: %s", strerror(ENOMEM));
		goto out;
	}
	rf_tree_set_max_age(sv.tree, sv.cfg.max_age_ms);
	rf_tree_set_source_reporter(sv.tree, log_source_mistake, NULL);
	if (!cl.no_mount) {
		fs = fs_new(sv.tree, sv.cfg.max_age_ms);
		if (!fs) {
			log_error("%s", strerror(ENOMEM));
			goto out;
		}
		se = fuse_session_new(&args, service_operations(), sizeof(struct fuse_lowlevel_ops), fs);
		if (!se)
			goto out;   /* libfuse printed why (an unknown -o option) */
	}

	/* The HTTP server's SessionService and AccountService before the
	 * back ends: a backup of a mount holds copies of them, which must not
	 * stand in for the live ones (the mockup leaves them out). */
	if (cl.http.listen) {
		sv.http = httpd_new(sv.tree, &cl.http, &r);
		if (!sv.http)
			goto out;   /* logged */
	}
	/* The back ends, probed while still on the terminal. */
	if (service_start_backends(&sv, &cl.remotes) < 0)
		goto out;

	if (se && fuse_session_mount(se, cl.mountpoint) != 0)
		goto out;
	mounted = se != NULL;
	if (sv.http)
		log_info("Redfish service at %s/redfish/v1", httpd_url(sv.http));
	if (fuse_daemonize(fo.foreground) != 0)
		goto out;
	if (!fo.foreground)
		log_to_syslog("redfishfs");
	/* Threads started from here on inherit the blocked set: SIGHUP is
	 * taken by sigwait only. TERM and INT: by sigwait without a mount; with
	 * one, by libfuse's handler in the main thread (or the FUSE workers it
	 * starts), which wakes the loop; a thread of ours taking it would not. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGHUP);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
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
	}
	if (service_start_threads(&sv) < 0)
		goto out;
	if (sv.http) {
		r = httpd_start(sv.http);
		if (r < 0)
			goto out;   /* logged */
	}
	/* Before the reload thread runs: a SIGHUP rewrites what this reads. */
	service_log_serving(&sv);
	if (se) {
		reload_started = pthread_create(&reload_t, NULL, reload_thread, &sv) == 0;
		if (!reload_started) {
			log_error("cannot start a thread: %s", strerror(EAGAIN));
			goto out;
		}
	} else {
		sd_notify(0, "READY=1");
	}
	if (se) {
		sigset_t term;

		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		sigaddset(&term, SIGINT);
		pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	}

	r = se ? run_loop(se, &fo) : wait_for_signal(&stop_signals, &sv);
	sd_notify(0, "STOPPING=1");
	/* A signal ends the loop with its number: a clean exit. */
	if (r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP) {
		ret = 0;
	} else {
		log_error("the %s failed: %s", se ? "FUSE loop" : "signal wait",
			  r < 0 ? strerror(-r) : "unknown error");
	}
out:
	sv.stopping = true;
	if (reload_started) {
		pthread_kill(reload_t, SIGHUP);
		pthread_join(reload_t, NULL);
	}
	/* Front ends first (nothing new reaches the tree), then the back ends,
	 * then the tree. */
	fs_stop(fs);
	sv.http = httpd_free(sv.http);
	service_free_backends(&sv);
	if (signals)
		fuse_remove_signal_handlers(se);
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	fs = fs_free(fs);
	sv.tree = rf_tree_free(sv.tree);
	if (curl_up)
		curl_global_cleanup();
	fs_config_clear(&sv.cfg);
	cmdline_clear(&cl);
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
