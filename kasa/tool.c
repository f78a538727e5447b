/* tool.c — `kasa`, a small command line tool for Kasa devices: find them,
 * talk to one, time one.
 *
 *   kasa list  [--broadcast ADDR] [--port P] [--new-port P] [--timeout MS]
 *   kasa query [--timeout MS] [--udp] [--pretty] [ACCOUNT] HOST[:PORT] JSON
 *   kasa info  [--timeout MS] [ACCOUNT] HOST[:PORT]
 *   kasa set   [--timeout MS] [ACCOUNT] HOST[:PORT] OUTLET on|off
 *   kasa bench [--timeout MS] [ACCOUNT] HOST[:PORT] N
 *   ACCOUNT:   [--user USER --password-file FILE] [--transport auto|xor|klap|aes]
 *
 * list: one discovery round (kasa_discover) and a table of what answered;
 * KLAP/AES devices are rows that name their transport ("KLAP (ask the
 * device)": info shows the rest), devices we cannot drive (TPAP, unreadable
 * replies) rows marked "not supported"; each of both gets one explanatory
 * line on stderr, followed by a summary line on stderr ("N devices (M not
 * supported) ... last reply after X ms").
 * query: one raw request (TCP, or UDP with --udp) and the reply on stdout,
 * in the protocol the device speaks (IOT JSON or SMART methods).
 * info: the device as redfishfs sees it (model, transport, account,
 * outlets by position with name and state, meters); set: switch one outlet
 * (1-based, 1 for a plug). Devices on KLAP or AES need the TP-Link account
 * (--user, --password-file, a private file) unless they are unbound.
 * bench: N set_relay_state round trips on one connection, p50/p99 in µs.
 * It sets an outlet to the state it already has (the first outlet of a
 * strip, the relay of a plug), so a real device does not switch anything.
 *
 * Exit status: 0 success, 1 a device or network error, 2 a usage error.
 * Single-threaded; everything it uses comes from kasa.h (and the password
 * file reader of common.h, shared with the daemon). */
#include "kasa.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common.h"

#define TOOL_DEFAULT_TIMEOUT_MS 2000
#define TOOL_MAX_BENCH 10000000L

static const char tool_usage_text[] =
	"usage: kasa list  [--broadcast ADDR] [--port P] [--new-port P] [--timeout MS]\n"
	"       kasa query [--timeout MS] [--udp] [--pretty] [ACCOUNT] HOST[:PORT] JSON\n"
	"       kasa info  [--timeout MS] [ACCOUNT] HOST[:PORT]\n"
	"       kasa set   [--timeout MS] [ACCOUNT] HOST[:PORT] OUTLET on|off\n"
	"       kasa bench [--timeout MS] [ACCOUNT] HOST[:PORT] N\n"
	"  ACCOUNT: [--user USER --password-file FILE] [--transport auto|xor|klap|aes]\n"
	"\n"
	"  list   broadcast get_sysinfo (default 255.255.255.255, UDP 9999) and the\n"
	"         newer discovery probe (UDP 20002; --new-port 0 skips it); print the\n"
	"         devices that answered within the timeout (default 2000 ms)\n"
	"  query  send one JSON request (IOT or SMART, as the device speaks), print the reply\n"
	"  info   the device: model, transport, account, outlets, meters\n"
	"  set    switch outlet OUTLET (1-based) on or off\n"
	"  bench  time N set_relay_state round trips on one connection (p50/p99 in us);\n"
	"         the outlet is set to the state it already has\n";

static int tool_usage(FILE *f, int status)
{
	fputs(tool_usage_text, f);
	return status;
}

/* A number in [min, max] from text, whole string. 0 or -EINVAL. */
static int tool_parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "HOST[:PORT]" into host (copied into buf) and port (default KASA_PORT). */
static int tool_parse_target(const char *arg, char *buf, size_t size, uint16_t *ret_port)
{
	const char *colon = strrchr(arg, ':');
	size_t hl = colon ? (size_t)(colon - arg) : strlen(arg);
	long port = KASA_PORT;

	if (hl == 0 || hl >= size)
		return -EINVAL;
	if (colon && tool_parse_long(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	memcpy(buf, arg, hl);
	buf[hl] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}

/* --timeout MS of command cmd into *ret; -EINVAL after a usage message. */
static int tool_opt_timeout(const char *cmd, const char *arg, long *ret)
{
	if (tool_parse_long(arg, 1, 600000, ret) < 0) {
		fprintf(stderr, "kasa %s: --timeout wants 1..600000 ms, not '%s'\n", cmd, arg);
		return -EINVAL;
	}
	return 0;
}

/* The operands HOST[:PORT] and one more (named what) left after the options
 * of command cmd: the host into buf, the port into *ret_port. -EINVAL after
 * a usage message. */
static int tool_operands(const char *cmd, const char *what, int argc, char **argv, char *buf,
			 size_t size, uint16_t *ret_port)
{
	if (argc - optind != 2) {
		fprintf(stderr, "kasa %s: wants HOST[:PORT] and %s\n", cmd, what);
		return -EINVAL;
	}
	if (tool_parse_target(argv[optind], buf, size, ret_port) < 0) {
		fprintf(stderr, "kasa %s: bad HOST[:PORT] '%s'\n", cmd, argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* ---- the account and transport options of query, info, set, bench -------- */

struct tool_dev_opts {
	const char *user, *password_file;
	enum kasa_transport transport;
};

#define TOOL_DEV_LONGOPTS \
	{ "user", required_argument, NULL, 'U' }, \
	{ "password-file", required_argument, NULL, 'W' }, \
	{ "transport", required_argument, NULL, 'X' }

/* One of the options above; false when opt is none of them. *ret_err:
 * a usage error (message printed). */
static bool tool_dev_opt(const char *cmd, int opt, const char *arg, struct tool_dev_opts *o,
			 bool *ret_err)
{
	switch (opt) {
	case 'U':
		o->user = arg;
		return true;
	case 'W':
		o->password_file = arg;
		return true;
	case 'X':
		o->transport = kasa_transport_from_string(arg);
		if (o->transport == KASA_TRANSPORT_INVALID) {
			fprintf(stderr, "kasa %s: --transport wants auto, xor, klap or aes, not '%s'\n",
				cmd, arg);
			*ret_err = true;
		}
		return true;
	default:
		return false;
	}
}

/* A device connection as the options say, or NULL (message printed). */
static struct kasa_dev *tool_dev_open(const char *cmd, const char *host, uint16_t port,
				      long timeout, const struct tool_dev_opts *o)
{
	_cleanup_free_ char *password = NULL;
	struct kasa_dev *d;
	int r;

	if (!o->user != !o->password_file) {
		fprintf(stderr, "kasa %s: --user and --password-file go together\n", cmd);
		return NULL;
	}
	if (o->password_file) {
		r = password_file_read(o->password_file, &password);
		if (r < 0) {
			fprintf(stderr, "kasa %s: %s: %s\n", cmd, o->password_file,
				r == -EPERM ? "readable or writable by group or others (chmod 600 it)" :
				r == -EINVAL ? "empty, too long or not text" : strerror(-r));
			return NULL;
		}
	}
	d = kasa_dev_new(host, port, (int)timeout);
	if (!d) {
		fprintf(stderr, "kasa %s: %s\n", cmd, strerror(errno));
		return NULL;
	}
	r = kasa_dev_set_credentials(d, o->user, password);
	if (r == 0 && o->transport != KASA_TRANSPORT_AUTO)
		r = kasa_dev_set_transport(d, o->transport, port, KASA_PROTOCOL_UNKNOWN);
	if (password)
		explicit_bzero(password, strlen(password));
	if (r < 0) {
		fprintf(stderr, "kasa %s: %s\n", cmd, strerror(-r));
		return kasa_dev_free(d);
	}
	return d;
}

/* The error line of a failed device call. */
static int tool_dev_failed(const char *cmd, const char *host, uint16_t port, int r)
{
	fprintf(stderr, "kasa %s: %s:%u: %s\n", cmd, host, (unsigned)port,
		r == -EACCES ? "the device refused the credentials (give --user and --password-file)" :
		strerror(-r));
	return 1;
}

/* ---- list ------------------------------------------------------------------ */

static int tool_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "broadcast", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "new-port", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *bcast = "255.255.255.255";
	long port = KASA_PORT, new_port = KASA_DISCOVERY_PORT_NEW, timeout = TOOL_DEFAULT_TIMEOUT_MS;
	struct kasa_found *found = NULL;
	size_t n = 0, unsupported = 0;
	uint32_t last_us = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "b:p:n:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bcast = optarg;
			break;
		case 'p':
			if (tool_parse_long(optarg, 1, 65535, &port) < 0) {
				fprintf(stderr, "kasa list: --port wants 1..65535, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n':
			if (tool_parse_long(optarg, 0, 65535, &new_port) < 0) {
				fprintf(stderr, "kasa list: --new-port wants 0..65535, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (tool_opt_timeout("list", optarg, &timeout) < 0)
				return 2;
			break;
		case 'h':
			return tool_usage(stdout, 0);
		default:
			return tool_usage(stderr, 2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kasa list: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (new_port == port) {
		fprintf(stderr, "kasa list: --new-port must differ from --port\n");
		return 2;
	}
	r = kasa_discover(bcast, (uint16_t)port, (uint16_t)new_port, (int)timeout, &found, &n);
	if (r == -EINVAL) {
		fprintf(stderr, "kasa list: --broadcast wants a numeric IPv4 address, not '%s'\n", bcast);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "kasa list: discovery on %s:%ld failed: %s\n", bcast, port, strerror(-r));
		return 1;
	}
	kasa_found_print_table(stdout, found, n);
	for (size_t i = 0; i < n; i++) {
		const struct kasa_found *f = &found[i];

		if (f->reply_us > last_us)
			last_us = f->reply_us;
		if (f->supported)
			continue;
		/* KLAP/AES devices are driven over HTTP: a line says how */
		if (f->transport != KASA_TRANSPORT_KLAP && f->transport != KASA_TRANSPORT_AES)
			unsupported++;
		/* strings of unsupported entries are already cleaned by discover.c */
		fprintf(stderr, "kasa: %s:%u%s%s%s%s%s: %s\n", f->addr, (unsigned)f->port,
			*f->model ? " " : "", f->model, *f->mac ? " (MAC " : "", f->mac,
			*f->mac ? ")" : "", f->reason);
	}
	fprintf(stderr, "kasa: %zu device%s (%zu not supported) answered %s:%ld within %ld ms; "
		"last reply after %.1f ms\n", n, n == 1 ? "" : "s", unsupported, bcast, port, timeout,
		(double)last_us / 1000.0);
	kasa_found_free(found, n);
	return 0;
}

/* ---- query ----------------------------------------------------------------- */

struct tool_udp {
	bool pretty;
	int printed;
};

static void tool_print_reply(const char *reply, bool pretty)
{
	json_object *o = pretty ? json_tokener_parse(reply) : NULL;

	if (o)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		printf("%s\n", reply);
	json_object_put(o);
}

static void tool_udp_cb(void *userdata, const char *addr, uint16_t port, const char *reply)
{
	struct tool_udp *u = userdata;

	(void)addr;
	(void)port;
	tool_print_reply(reply, u->pretty);
	u->printed++;
}

static int tool_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "udp", no_argument, NULL, 'u' },
		{ "pretty", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		TOOL_DEV_LONGOPTS,
		{ 0 },
	};
	struct tool_dev_opts dopts = { 0 };
	long timeout = TOOL_DEFAULT_TIMEOUT_MS;
	bool udp = false, pretty = false, bad = false;
	char host[256];
	uint16_t port;
	json_object *req;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "t:uPh", opts, NULL)) != -1) {
		if (tool_dev_opt("query", opt, optarg, &dopts, &bad)) {
			if (bad)
				return 2;
			continue;
		}
		switch (opt) {
		case 't':
			if (tool_opt_timeout("query", optarg, &timeout) < 0)
				return 2;
			break;
		case 'u':
			udp = true;
			break;
		case 'P':
			pretty = true;
			break;
		case 'h':
			return tool_usage(stdout, 0);
		default:
			return tool_usage(stderr, 2);
		}
	}
	if (tool_operands("query", "JSON", argc, argv, host, sizeof(host), &port) < 0)
		return 2;
	req = json_tokener_parse(argv[optind + 1]);
	if (!json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		fprintf(stderr, "kasa query: the request must be a JSON object, e.g. "
				"'{\"system\":{\"get_sysinfo\":{}}}'\n");
		return 2;
	}
	json_object_put(req);
	if (udp) {
		struct tool_udp u = { .pretty = pretty };

		r = kasa_udp_query(host, port, argv[optind + 1], (int)timeout, tool_udp_cb, &u);
		if (r == 0)
			r = -ETIMEDOUT;
	} else {
		struct kasa_dev *d = tool_dev_open("query", host, port, timeout, &dopts);
		char *reply = NULL;

		if (!d)
			return 1;
		r = kasa_dev_request(d, argv[optind + 1], &reply);
		if (r == 0)
			tool_print_reply(reply, pretty);
		free(reply);
		kasa_dev_free(d);
	}
	if (r < 0)
		return tool_dev_failed("query", host, port, r);
	return 0;
}

/* ---- info and set ------------------------------------------------------------ */

static const char *tool_protocol_name(enum kasa_protocol p)
{
	return p == KASA_PROTOCOL_SMART ? "SMART" : p == KASA_PROTOCOL_IOT ? "IOT" : "?";
}

static int tool_info_print(struct kasa_dev *d)
{
	struct kasa_sysinfo si;
	char acct[64];
	size_t n;
	int r;

	r = kasa_get_sysinfo(d, &si);
	if (r < 0)
		return r;
	kasa_dev_account(d, acct, sizeof(acct));
	printf("model      %s\ndevice id  %s\nmac        %s\nalias      %s\nfirmware   %s%s%s\n",
	       si.model, si.device_id, si.mac, si.alias, si.sw_ver, *si.hw_ver ? " hw " : "",
	       si.hw_ver);
	printf("transport  %s, %s protocol%s%s\n", kasa_transport_to_string(kasa_dev_transport(d)),
	       tool_protocol_name(kasa_dev_protocol(d)), *acct ? ", " : "", acct);
	n = si.n_children ? si.n_children : 1;
	printf("%-6s %-8s %-6s %s\n", "OUTLET", "STATE", "POWER", "NAME");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *child = si.n_children ? kasa_child_full_id(&si, i) : NULL;
		struct kasa_emeter em;
		char power[24] = "-";

		if (si.has_emeter && (!si.n_children || child) &&
		    kasa_get_emeter(d, child, &em) == 0 && em.power_w == em.power_w)
			snprintf(power, sizeof(power), "%.1fW", em.power_w);
		printf("%-6zu %-8s %-6s %s\n", i + 1,
		       (si.n_children ? si.children[i].on : si.on) ? "on" : "off", power,
		       si.n_children ? si.children[i].alias : si.alias);
	}
	kasa_sysinfo_clear(&si);
	return 0;
}

/* set: switch outlet (1-based) of d. -ENOENT for an outlet it lacks. */
static int tool_set_outlet(struct kasa_dev *d, long outlet, bool on)
{
	_cleanup_free_ char *child = NULL;
	struct kasa_sysinfo si;
	size_t n;
	int r;

	r = kasa_get_sysinfo(d, &si);
	if (r < 0)
		return r;
	n = si.n_children ? si.n_children : 1;
	if (outlet < 1 || (size_t)outlet > n) {
		kasa_sysinfo_clear(&si);
		return -ENOENT;
	}
	child = si.n_children ? kasa_child_full_id(&si, (size_t)outlet - 1) : NULL;
	r = si.n_children && !child ? -ENOMEM : 0;
	kasa_sysinfo_clear(&si);
	return r < 0 ? r : kasa_set_relay(d, child, on);
}

/* info HOST[:PORT] / set HOST[:PORT] OUTLET on|off */
static int tool_info_set(int argc, char **argv, bool set)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		TOOL_DEV_LONGOPTS,
		{ 0 },
	};
	const char *cmd = set ? "set" : "info";
	struct tool_dev_opts dopts = { 0 };
	long timeout = TOOL_DEFAULT_TIMEOUT_MS, outlet = 0;
	struct kasa_dev *d;
	bool bad = false, on = false;
	char host[256];
	uint16_t port;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (tool_dev_opt(cmd, opt, optarg, &dopts, &bad)) {
			if (bad)
				return 2;
			continue;
		}
		switch (opt) {
		case 't':
			if (tool_opt_timeout(cmd, optarg, &timeout) < 0)
				return 2;
			break;
		case 'h':
			return tool_usage(stdout, 0);
		default:
			return tool_usage(stderr, 2);
		}
	}
	if (argc - optind != (set ? 3 : 1) ||
	    tool_parse_target(argv[optind], host, sizeof(host), &port) < 0) {
		fprintf(stderr, "kasa %s: wants HOST[:PORT]%s\n", cmd, set ? " OUTLET on|off" : "");
		return 2;
	}
	if (set) {
		const char *state = argv[optind + 2];

		if (tool_parse_long(argv[optind + 1], 1, 64, &outlet) < 0 ||
		    (strcasecmp(state, "on") != 0 && strcasecmp(state, "off") != 0)) {
			fprintf(stderr, "kasa set: wants OUTLET (1..64) and on or off\n");
			return 2;
		}
		on = strcasecmp(state, "on") == 0;
	}
	d = tool_dev_open(cmd, host, port, timeout, &dopts);
	if (!d)
		return 1;
	r = set ? tool_set_outlet(d, outlet, on) : tool_info_print(d);
	kasa_dev_free(d);
	if (r == -ENOENT) {
		fprintf(stderr, "kasa set: %s:%u has no outlet %ld\n", host, (unsigned)port, outlet);
		return 1;
	}
	return r < 0 ? tool_dev_failed(cmd, host, port, r) : 0;
}

static int tool_info(int argc, char **argv)
{
	return tool_info_set(argc, argv, false);
}

static int tool_set(int argc, char **argv)
{
	return tool_info_set(argc, argv, true);
}

/* ---- bench ----------------------------------------------------------------- */

static int64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int tool_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static int64_t tool_pct(const int64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static int tool_bench_run(struct kasa_dev *d, long n)
{
	_cleanup_free_ int64_t *lat = calloc((size_t)n, sizeof(int64_t));
	_cleanup_free_ char *child = NULL;
	struct kasa_sysinfo si;
	double sum = 0;
	bool state;
	int r;

	if (!lat)
		return -ENOMEM;
	r = kasa_get_sysinfo(d, &si);   /* also opens the connection */
	if (r < 0)
		return r;
	if (si.n_children > 0) {
		child = kasa_child_full_id(&si, 0);
		state = si.children[0].on;
	} else {
		state = si.on;
	}
	r = si.n_children > 0 && !child ? -ENOMEM : 0;
	kasa_sysinfo_clear(&si);
	if (r < 0)
		return r;
	for (long i = 0; i < n; i++) {
		int64_t t0 = tool_now_ns();

		r = kasa_set_relay(d, child, state);
		if (r < 0) {
			fprintf(stderr, "kasa bench: request %ld of %ld failed: %s\n", i + 1, n,
				strerror(-r));
			return r;
		}
		lat[i] = tool_now_ns() - t0;
		sum += (double)lat[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), tool_cmp_i64);
	printf("set_relay_state round trips: n=%ld p50=%.1f us p99=%.1f us min=%.1f us "
	       "max=%.1f us mean=%.1f us\n", n, (double)tool_pct(lat, (size_t)n, 50) / 1000.0,
	       (double)tool_pct(lat, (size_t)n, 99) / 1000.0, (double)lat[0] / 1000.0,
	       (double)lat[n - 1] / 1000.0, sum / (double)n / 1000.0);
	return 0;
}

static int tool_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		TOOL_DEV_LONGOPTS,
		{ 0 },
	};
	struct tool_dev_opts dopts = { 0 };
	long timeout = TOOL_DEFAULT_TIMEOUT_MS, n;
	struct kasa_dev *d;
	bool bad = false;
	char host[256];
	uint16_t port;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (tool_dev_opt("bench", opt, optarg, &dopts, &bad)) {
			if (bad)
				return 2;
			continue;
		}
		switch (opt) {
		case 't':
			if (tool_opt_timeout("bench", optarg, &timeout) < 0)
				return 2;
			break;
		case 'h':
			return tool_usage(stdout, 0);
		default:
			return tool_usage(stderr, 2);
		}
	}
	if (tool_operands("bench", "N", argc, argv, host, sizeof(host), &port) < 0)
		return 2;
	if (tool_parse_long(argv[optind + 1], 1, TOOL_MAX_BENCH, &n) < 0) {
		fprintf(stderr, "kasa bench: N wants 1..%ld, not '%s'\n", TOOL_MAX_BENCH,
			argv[optind + 1]);
		return 2;
	}
	d = tool_dev_open("bench", host, port, timeout, &dopts);
	if (!d)
		return 1;
	r = tool_bench_run(d, n);
	kasa_dev_free(d);
	if (r < 0)
		return tool_dev_failed("bench", host, port, r);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{ "list", tool_list },
		{ "query", tool_query },
		{ "info", tool_info },
		{ "set", tool_set },
		{ "bench", tool_bench },
	};

	if (argc < 2)
		return tool_usage(stderr, 2);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "kasa: unknown command '%s'\n", argv[1]);
	return tool_usage(stderr, 2);
}
