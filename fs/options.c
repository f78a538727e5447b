/* options.c — the one table of redfishfs's options and configuration keys.
 *
 * Every option is declared here once: its long (and short) name, whether it
 * takes a value, the configuration section and key that say the same, the
 * default and the help line. main.c builds its fuse_opt templates from this
 * table and dispatches on the entry's id; config.c finds keys here (so a key
 * is spelled one way, with '-' and '_' taken as the same); --help is
 * printed from it; tests/test_config.c checks the man pages against it.
 *
 * Read-only data and pure functions: any thread may call them.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const struct fs_option fs_options[FS_OPT_COUNT] = {
	[FS_OPT_KASA] = { "kasa", 0, FS_OPT_VALUE, "[NAME=]HOST[:PORT]", FS_SECTION_KASA, "host",
		"HOST[:PORT]", NULL, FS_GROUP_BACKENDS,
		"a Kasa strip or plug (repeatable; port 9999; NAME from the device alias)" },
	[FS_OPT_KASA_DISCOVER] = { "kasa-discover", 0, FS_OPT_OPTIONAL, "ADDR[:PORT]",
		FS_SECTION_REDFISHFS, "discover", "ADDR[:PORT][,ADDR[:PORT]...]",
		FS_DISCOVER_DEFAULT_ADDR, FS_GROUP_BACKENDS,
		"find Kasa devices by broadcast to ADDR (repeatable, one per subnet)" },
	[FS_OPT_DISCOVER_INTERVAL] = { "discover-interval", 0, FS_OPT_VALUE, "SECONDS",
		FS_SECTION_REDFISHFS, "discover-interval", "SECONDS",
		STR(FS_DEFAULT_DISCOVER_INTERVAL_S), FS_GROUP_BACKENDS, "broadcast again this often" },
	[FS_OPT_KASA_USER] = { "kasa-user", 0, FS_OPT_VALUE, "ACCOUNT", FS_SECTION_KASA, "user",
		"ACCOUNT", NULL, FS_GROUP_BACKENDS,
		"TP-Link account of KLAP/AES devices (with --kasa-password-file; [kasa] for all)" },
	[FS_OPT_KASA_PASSWORD_FILE] = { "kasa-password-file", 0, FS_OPT_VALUE, "FILE",
		FS_SECTION_KASA, "password-file", "FILE", NULL, FS_GROUP_BACKENDS,
		"its password (the file must be private: chmod 600)" },
	[FS_OPT_BMC] = { "bmc", 0, FS_OPT_VALUE, "NAME=URL", FS_SECTION_BMC, "url",
		"http[s]://HOST[:PORT]", NULL, FS_GROUP_BACKENDS,
		"a Redfish BMC (repeatable); its members appear as Systems/NAME_<Id>, ..." },
	[FS_OPT_BMC_USER] = { "bmc-user", 0, FS_OPT_VALUE, "USER", FS_SECTION_BMC, "user", "USER",
		NULL, FS_GROUP_BACKENDS, "BMC login (with --bmc-password-file)" },
	[FS_OPT_BMC_PASSWORD_FILE] = { "bmc-password-file", 0, FS_OPT_VALUE, "FILE", FS_SECTION_BMC,
		"password-file", "FILE", NULL, FS_GROUP_BACKENDS,
		"BMC password (the file must be private: chmod 600)" },
	[FS_OPT_BMC_CA] = { "bmc-ca", 0, FS_OPT_VALUE, "FILE", FS_SECTION_BMC, "ca", "FILE", NULL,
		FS_GROUP_BACKENDS, "CA certificates to verify BMCs with" },
	[FS_OPT_BMC_INSECURE] = { "bmc-insecure", 0, FS_OPT_VALUE, "NAME", FS_SECTION_BMC,
		"insecure", "BOOL", NULL, FS_GROUP_BACKENDS,
		"do not verify BMC NAME's certificate" },
	[FS_OPT_BMC_NO_EXPAND] = { "bmc-no-expand", 0, FS_OPT_VALUE, "NAME", FS_SECTION_BMC,
		"expand", "BOOL", NULL, FS_GROUP_BACKENDS,
		"never ask BMC NAME for $expand (one GET per resource)" },
	[FS_OPT_MOCKUP] = { "mockup", 0, FS_OPT_VALUE, "[NAME=]DIR", FS_SECTION_MOCKUP, "dir", "DIR",
		NULL, FS_GROUP_BACKENDS,
		"a directory of index.json files (a DMTF mockup or a copy of the mount)" },
	[FS_OPT_TIMEOUT] = { "timeout", 0, FS_OPT_VALUE, "MS", FS_SECTION_REDFISHFS, "timeout", "MS",
		STR(FS_DEFAULT_TIMEOUT_MS), FS_GROUP_TIMING, "device/BMC I/O timeout per attempt" },
	[FS_OPT_MAX_AGE] = { "max-age", 0, FS_OPT_VALUE, "MS", FS_SECTION_REDFISHFS, "max-age", "MS",
		STR(FS_DEFAULT_MAX_AGE_MS), FS_GROUP_TIMING, "values shown are at most this old" },
	[FS_OPT_POLL] = { "poll", 0, FS_OPT_VALUE, "SECONDS", FS_SECTION_REDFISHFS, "poll",
		"SECONDS", STR(FS_DEFAULT_POLL_S), FS_GROUP_TIMING, "Kasa poll period" },
	[FS_OPT_HTTP] = { "http", 0, FS_OPT_VALUE, "[ADDR:]PORT", FS_SECTION_HTTP, "http",
		"[ADDR:]PORT", NULL, FS_GROUP_HTTP, "serve the tree as Redfish (ADDR default 127.0.0.1)" },
	[FS_OPT_HTTP_CERT] = { "http-cert", 0, FS_OPT_VALUE, "FILE", FS_SECTION_HTTP, "http-cert",
		"FILE", NULL, FS_GROUP_HTTP, "HTTPS certificate (PEM), with --http-key" },
	[FS_OPT_HTTP_KEY] = { "http-key", 0, FS_OPT_VALUE, "FILE", FS_SECTION_HTTP, "http-key",
		"FILE", NULL, FS_GROUP_HTTP, "HTTPS private key (PEM, unencrypted)" },
	[FS_OPT_HTTP_USER] = { "http-user", 0, FS_OPT_VALUE, "NAME", FS_SECTION_HTTP, "http-user",
		"NAME", NULL, FS_GROUP_HTTP, "an Administrator account (with --http-password-file)" },
	[FS_OPT_HTTP_PASSWORD_FILE] = { "http-password-file", 0, FS_OPT_VALUE, "FILE",
		FS_SECTION_HTTP, "http-password-file", "FILE", NULL, FS_GROUP_HTTP,
		"that account's password (the file must be private)" },
	[FS_OPT_STATE_DIR] = { "state-dir", 0, FS_OPT_VALUE, "DIR", FS_SECTION_HTTP, "state-dir",
		"DIR", NULL, FS_GROUP_HTTP, "where accounts are kept" },
	[FS_OPT_HTTP_NO_AUTH] = { "http-no-auth", 0, FS_OPT_FLAG, NULL, FS_SECTION_HTTP,
		"http-no-auth", "BOOL", NULL, FS_GROUP_HTTP, "no login (loopback only; for demos)" },
	[FS_OPT_HTTP_FORCE_PLAIN] = { "http-force-plain", 0, FS_OPT_FLAG, NULL, FS_SECTION_HTTP,
		"http-force-plain", "BOOL", NULL, FS_GROUP_HTTP,
		"allow plain HTTP on a non-loopback address" },
	[FS_OPT_HTTP_METRICS] = { "http-metrics", 0, FS_OPT_VALUE, "MODE", FS_SECTION_HTTP,
		"http-metrics", "MODE", NULL, FS_GROUP_HTTP,
		"/metrics: open (the default on loopback), login or off" },
	[FS_OPT_NO_MOUNT] = { "no-mount", 0, FS_OPT_FLAG, NULL, FS_SECTION_REDFISHFS, "no-mount",
		"BOOL", NULL, FS_GROUP_HTTP, "HTTP only, no file system" },
	[FS_OPT_CONFIG] = { "config", 'c', FS_OPT_VALUE, "FILE", FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "the configuration file (redfishfs.conf(5))" },
	[FS_OPT_LOG_LEVEL] = { "log-level", 0, FS_OPT_VALUE, "LEVEL", FS_SECTION_REDFISHFS,
		"log-level", "LEVEL", "info", FS_GROUP_OTHER,
		"error, warning, notice, info or debug" },
	[FS_OPT_FOREGROUND] = { NULL, 'f', FS_OPT_FUSE, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "stay in the foreground" },
	[FS_OPT_DEBUG] = { NULL, 'd', FS_OPT_FUSE, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "debug output (FUSE requests too); implies -f" },
	[FS_OPT_SINGLE] = { NULL, 's', FS_OPT_FUSE, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "single-threaded FUSE loop" },
	[FS_OPT_MOUNT_OPTS] = { NULL, 'o', FS_OPT_FUSE, "OPT[,OPT...]", FS_SECTION_NONE, NULL, NULL,
		NULL, FS_GROUP_OTHER, "mount options (below)" },
	[FS_OPT_HELP] = { "help", 'h', FS_OPT_FLAG, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "this help" },
	[FS_OPT_VERSION] = { "version", 'V', FS_OPT_FLAG, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_OTHER, "versions of redfishfs and libfuse" },
	[FS_OPT_NONEMPTY] = { "nonempty", 0, FS_OPT_MOUNT, NULL, FS_SECTION_NONE, NULL, NULL, NULL,
		FS_GROUP_MOUNT, "mount on a directory that is not empty" },
	[FS_OPT_NOAUTO_UNMOUNT] = { "noauto_unmount", 0, FS_OPT_MOUNT, NULL, FS_SECTION_NONE, NULL,
		NULL, NULL, FS_GROUP_MOUNT,
		"leave the mount in place if the daemon is killed (default: auto_unmount)" },
};

const char *const fs_section_names[FS_SECTION_COUNT] = {
	[FS_SECTION_NONE] = NULL,
	[FS_SECTION_REDFISHFS] = "redfishfs",
	[FS_SECTION_KASA] = "kasa",
	[FS_SECTION_BMC] = "bmc",
	[FS_SECTION_MOCKUP] = "mockup",
	[FS_SECTION_HTTP] = "http",
};

static const char *const group_titles[FS_GROUP_COUNT] = {
	[FS_GROUP_BACKENDS] = "Back ends",
	[FS_GROUP_TIMING] = "Timing",
	[FS_GROUP_HTTP] = "HTTP server",
	[FS_GROUP_OTHER] = "Other",
	[FS_GROUP_MOUNT] = "Mount options (-o), besides libfuse's below",
};

int fs_option_by_arg(const char *arg, size_t *ret_len)
{
	int best = -ENOENT;
	size_t best_n = 0;

	if (!arg || strncmp(arg, "--", 2) != 0)
		return -ENOENT;
	for (int i = 0; i < FS_OPT_COUNT; i++) {
		const char *name = fs_options[i].name;
		size_t n = name ? strlen(name) : 0;

		if (!name || fs_options[i].kind == FS_OPT_MOUNT)
			continue;
		if (strncmp(arg + 2, name, n) == 0 && n > best_n) {
			best = i;
			best_n = n;
		}
	}
	if (best >= 0 && ret_len)
		*ret_len = best_n + 2;
	return best;
}

/* a and b equal, '-' and '_' the same. */
static bool key_equal(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
			return false;
	return *a == *b;
}

int fs_option_by_key(enum fs_section sec, const char *key)
{
	if (sec <= FS_SECTION_NONE || sec >= FS_SECTION_COUNT || !key)
		return -ENOENT;
	for (int i = 0; i < FS_OPT_COUNT; i++)
		if (fs_options[i].section == sec && fs_options[i].key &&
		    key_equal(fs_options[i].key, key))
			return i;
	return -ENOENT;
}

/* "--name ARG", "-c, --config FILE", "-o nonempty". */
static void option_usage(const struct fs_option *o, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (o->kind == FS_OPT_MOUNT) {
		snprintf(buf, len, "-o %s", o->name);
		return;
	}
	if (o->short_name)
		n += (size_t)snprintf(buf + n, len - n, "-%c%s", o->short_name, o->name ? ", " : "");
	if (n < len && o->name)
		n += (size_t)snprintf(buf + n, len - n, "--%s", o->name);
	if (n < len && o->arg)
		snprintf(buf + n, len - n, o->kind == FS_OPT_OPTIONAL ? "[=%s]" : " %s", o->arg);
}

void fs_options_help(FILE *out)
{
	for (int g = 0; g < FS_GROUP_COUNT; g++) {
		fprintf(out, "%s:\n", group_titles[g]);
		for (int i = 0; i < FS_OPT_COUNT; i++) {
			const struct fs_option *o = &fs_options[i];
			char use[64];

			if ((int)o->group != g)
				continue;
			option_usage(o, use, sizeof(use));
			if (strlen(use) > 26)
				fprintf(out, "    %s\n    %-26s  ", use, "");
			else
				fprintf(out, "    %-26s  ", use);
			fprintf(out, "%s", o->help);
			if (o->def)
				fprintf(out, " (default %s)", o->def);
			fputc('\n', out);
		}
	}
}
