/* discover.c — find Kasa devices on a subnet by UDP broadcast.
 *
 * One socket sends two datagrams: the legacy get_sysinfo (XOR, no length
 * prefix) to port 9999, and — so that devices we cannot drive are seen
 * rather than silently missing — the newer discovery probe to UDP 20002
 * (the fixed 16-byte header python-kasa sends; devices that speak only
 * KLAP/AES answer it with a 16-byte header and plain JSON describing
 * themselves, see the fixtures' "discovery_result"). Each reply is
 * classified (kasa_found_parse) as it arrives and de-duplicated within the
 * round: supported devices by deviceId (the first answer wins, so a device
 * that answers twice, or through two paths, is reported once), the others
 * by address. kasa_discover_stream() hands each new entry to its caller at
 * once (the daemon adds a strip while the round still runs);
 * kasa_discover() collects them, lets a supported answer replace an
 * unsupported one from the same address, and sorts.
 *
 * We do not use kasa_udp_query(): it drops replies that are not legacy JSON
 * (exactly the ones we must report) and sends to one port per call, which
 * would make one discovery round take two timeouts.
 *
 * Input is untrusted: any host on the subnet may answer anything. Strings
 * taken from unsupported replies are cut to a sane length and control
 * characters replaced, so callers can log them as they are. A round keeps
 * at most KASA_DISC_MAX_REPLIES datagrams. No locks, no global state: each
 * call owns its socket and buffers; callers may run several at once (one per
 * broadcast address). Library code: nothing is logged. */
#include "kasa.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

#define KASA_DISC_MAX_REPLIES 4096
#define KASA_DISC_MAX_DATAGRAM 65536
#define KASA_DISC_MAX_STR 128
#define KASA_DISC_HDR 16
#define KASA_DISC_RCVBUF (4 * 1024 * 1024)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char kasa_disc_query[] = "{\"system\":{\"get_sysinfo\":{}}}";

/* python-kasa's DISCOVERY_QUERY_2: version 2, type 0, op 1, no payload. */
static const uint8_t kasa_disc_probe_new[KASA_DISC_HDR] = {
	0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x46, 0x3c, 0xb5, 0xd3,
};

static int64_t kasa_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- classifying one reply ------------------------------------------------- */

/* A copy of s fit for a log line: at most KASA_DISC_MAX_STR bytes, control
 * characters replaced by '?'. NULL s gives "". */
static char *kasa_clean_strdup(const char *s)
{
	size_t n = s ? strnlen(s, KASA_DISC_MAX_STR) : 0;
	char *c = malloc(n + 1);

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	c[n] = '\0';
	return c;
}

static char *kasa_vfmt(const char *fmt, ...) _printf_(1, 2);
static char *kasa_vfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

/* A string member of o (borrowed), or NULL. */
static const char *kasa_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *kasa_obj(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* Parse len bytes (not NUL-terminated, maybe binary) as one JSON object. */
static json_object *kasa_parse_object(const uint8_t *data, size_t len)
{
	if (len > KASA_DISC_MAX_DATAGRAM)
		return NULL;
	return kasa_json_parse_object((const char *)data, len);
}

/* Fill the descriptive strings of an unsupported entry. */
static int kasa_found_set(struct kasa_found *f, const char *model, const char *device_id,
			  const char *mac, const char *protocol, char *reason /* stolen */)
{
	f->supported = false;
	f->model = kasa_clean_strdup(model);
	f->device_id = kasa_clean_strdup(device_id);
	f->mac = kasa_clean_strdup(mac);
	f->protocol = kasa_clean_strdup(protocol);
	f->reason = reason;
	if (!f->model || !f->device_id || !f->mac || !f->protocol || !f->reason)
		return -ENOMEM;
	return 0;
}

/* A reply to the newer probe: header, then {"error_code":0,"result":{...}}. */
static int kasa_found_new(struct kasa_found *f, const uint8_t *data, size_t len)
{
	_cleanup_json_ json_object *root = NULL;
	json_object *res, *schm, *v;
	const char *enc, *type;
	char port_text[24] = "";

	if (len > KASA_DISC_HDR && data[0] == 0x02)
		root = kasa_parse_object(data + KASA_DISC_HDR, len - KASA_DISC_HDR);
	res = kasa_obj(root, "result");
	if (!res)
		return kasa_found_set(f, "", "", "", "",
				      kasa_vfmt("answered only the newer discovery (UDP %u) with an "
						"unreadable reply (%zu bytes); not supported",
						(unsigned)f->port, len));
	schm = kasa_obj(res, "mgt_encrypt_schm");
	enc = kasa_str(schm, "encrypt_type");
	type = kasa_str(res, "device_type");
	f->http_port = KASA_HTTP_PORT;
	if (schm && json_object_object_get_ex(schm, "http_port", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0 &&
	    json_object_get_int64(v) <= 65535)
		f->http_port = (uint16_t)json_object_get_int64(v);
	snprintf(port_text, sizeof(port_text), " on TCP %u", (unsigned)f->http_port);
	if (enc && strcasecmp(enc, "KLAP") == 0)
		f->transport = KASA_TRANSPORT_KLAP;
	else if (enc && strcasecmp(enc, "AES") == 0)
		f->transport = KASA_TRANSPORT_AES;
	if (type && strncmp(type, "SMART.", 6) == 0)
		f->hint = KASA_PROTOCOL_SMART;
	else if (type && strncmp(type, "IOT.", 4) == 0)
		f->hint = KASA_PROTOCOL_IOT;
	{
		_cleanup_free_ char *enc_c = kasa_clean_strdup(enc ? enc : "an unnamed encryption");
		_cleanup_free_ char *type_c = kasa_clean_strdup(type ? type : "device");
		const char *proto = f->transport == KASA_TRANSPORT_KLAP ? "KLAP" :
				    f->transport == KASA_TRANSPORT_AES ? "AES" : enc ? enc : "";

		if (!enc_c || !type_c)
			return -ENOMEM;
		if (f->transport != KASA_TRANSPORT_AUTO)
			return kasa_found_set(f, kasa_str(res, "device_model"), kasa_str(res, "device_id"),
					      kasa_str(res, "mac"), proto,
					      kasa_vfmt("%s speaks the newer %s protocol (HTTP%s)", type_c,
							proto, port_text));
		return kasa_found_set(f, kasa_str(res, "device_model"), kasa_str(res, "device_id"),
				      kasa_str(res, "mac"), proto,
				      kasa_vfmt("%s speaks only %s (HTTP%s), which redfishfs does not "
						"speak (e.g. TPAP, the newest firmware's SPAKE2+); the Kasa "
						"app's \"Third-Party Compatibility\" setting re-opens the "
						"local protocol on many devices; not supported",
						type_c, enc_c, port_text));
	}
}

/* A legacy reply that kasa_parse_sysinfo() rejected: say what we can. */
static int kasa_found_bad_sysinfo(struct kasa_found *f, const char *text, size_t len)
{
	_cleanup_json_ json_object *root = kasa_parse_object((const uint8_t *)text, len);
	json_object *info, *err;
	char detail[200] = "";

	if (!root)
		return kasa_found_set(f, "", "", "", "",
				      kasa_vfmt("reply on UDP %u is not Kasa JSON (%zu bytes): a device "
						"with a newer protocol, or not a Kasa device; not supported",
						(unsigned)f->port, len));
	info = kasa_obj(kasa_obj(root, "system"), "get_sysinfo");
	if (!info)
		info = root;
	if (json_object_object_get_ex(info, "err_code", &err) &&
	    !(json_object_is_type(err, json_type_int) && json_object_get_int64(err) == 0)) {
		_cleanup_free_ char *msg = kasa_clean_strdup(kasa_str(info, "err_msg"));
		_cleanup_free_ char *code = kasa_clean_strdup(json_object_get_string(err));

		if (!msg || !code)
			return -ENOMEM;
		snprintf(detail, sizeof(detail), ": err_code %s%s%s", code, *msg ? " " : "", msg);
	}
	return kasa_found_set(f, kasa_str(info, "model"), kasa_str(info, "deviceId"),
			      kasa_str(info, "mac"), "legacy",
			      kasa_vfmt("get_sysinfo reply not understood%s; not supported", detail));
}

int kasa_found_parse(const char *addr, uint16_t port, bool legacy, const uint8_t *data,
		     size_t len, struct kasa_found *ret)
{
	struct kasa_found f = { .port = port };
	_cleanup_free_ char *text = NULL;
	int r;

	if (!addr || !ret || (!data && len > 0) || len > KASA_DISC_MAX_DATAGRAM)
		return -EINVAL;
	snprintf(f.addr, sizeof(f.addr), "%s", addr);
	if (!legacy) {
		r = kasa_found_new(&f, data, len);
		goto out;
	}
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	kasa_decrypt(data, len, (uint8_t *)text);
	text[len] = '\0';
	if (len > 0 && strlen(text) == len && kasa_parse_sysinfo(text, &f.info) == 0) {
		f.supported = true;
		f.model = strdup(f.info.model);
		f.device_id = strdup(f.info.device_id);
		f.mac = strdup(f.info.mac);
		f.protocol = strdup("legacy");
		f.transport = KASA_TRANSPORT_XOR;
		f.reason = strdup("");
		r = f.model && f.device_id && f.mac && f.protocol && f.reason ? 0 : -ENOMEM;
	} else {
		r = kasa_found_bad_sysinfo(&f, text, len);
	}
out:
	if (r < 0) {
		kasa_found_clear(&f);
		return r;
	}
	*ret = f;
	return 0;
}

void kasa_found_clear(struct kasa_found *f)
{
	if (!f)
		return;
	kasa_sysinfo_clear(&f->info);
	free(f->model);
	free(f->device_id);
	free(f->mac);
	free(f->protocol);
	free(f->reason);
	memset(f, 0, sizeof(*f));
}

struct kasa_found *kasa_found_free(struct kasa_found *f, size_t n)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		kasa_found_clear(&f[i]);
	free(f);
	return NULL;
}

/* ---- one round ------------------------------------------------------------- */

/* What one streamed round delivered so far, for de-duplication. */
struct kasa_seen {
	char addr[INET_ADDRSTRLEN];
	char *device_id;          /* supported entries only */
};

struct kasa_stream {
	uint16_t port, new_port;
	kasa_found_cb cb;
	void *userdata;
	struct kasa_seen *seen;
	size_t n_seen;
	size_t n_dgrams;          /* datagrams taken, at most KASA_DISC_MAX_REPLIES */
	int delivered;
	int64_t t0;
};

static void kasa_stream_clear(struct kasa_stream *st)
{
	for (size_t i = 0; i < st->n_seen; i++)
		free(st->seen[i].device_id);
	free(st->seen);
	st->seen = NULL;
	st->n_seen = 0;
}

/* Whether f repeats what the round delivered already (kasa_discover's
 * rules: a deviceId once; an unsupported answer not from an address that
 * answered before). */
static bool kasa_stream_dup(const struct kasa_stream *st, const struct kasa_found *f)
{
	for (size_t i = 0; i < st->n_seen; i++) {
		const struct kasa_seen *g = &st->seen[i];

		if (f->supported && g->device_id && strcmp(g->device_id, f->device_id) == 0)
			return true;
		if (!f->supported && strcmp(g->addr, f->addr) == 0)
			return true;
	}
	return false;
}

/* One datagram from `from`: classify, de-duplicate, deliver. 0 or -ENOMEM. */
static int kasa_stream_take(struct kasa_stream *st, const struct sockaddr_in *from,
			    const uint8_t *data, size_t len)
{
	uint16_t from_port = ntohs(from->sin_port);
	char addr[INET_ADDRSTRLEN];
	struct kasa_found f;
	struct kasa_seen *ns;
	int r;

	if (from_port != st->port && (st->new_port == 0 || from_port != st->new_port))
		return 0;   /* not an answer to either probe */
	inet_ntop(AF_INET, &from->sin_addr, addr, sizeof(addr));
	r = kasa_found_parse(addr, from_port, from_port == st->port, data, len, &f);
	if (r < 0)
		return r;
	f.reply_us = (uint32_t)MIN(kasa_now_us() - st->t0, (int64_t)UINT32_MAX);
	if (kasa_stream_dup(st, &f)) {
		kasa_found_clear(&f);
		return 0;
	}
	ns = realloc(st->seen, (st->n_seen + 1) * sizeof(*ns));
	if (!ns) {
		kasa_found_clear(&f);
		return -ENOMEM;
	}
	st->seen = ns;
	ns = &st->seen[st->n_seen];
	snprintf(ns->addr, sizeof(ns->addr), "%s", addr);
	ns->device_id = NULL;
	if (f.supported && !(ns->device_id = strdup(f.device_id))) {
		kasa_found_clear(&f);
		return -ENOMEM;
	}
	st->n_seen++;
	st->delivered++;
	st->cb(st->userdata, &f);
	kasa_found_clear(&f);
	return 0;
}

/* Network-side failures of a send: the errno of kasa.h. */
static int kasa_disc_error(int err)
{
	switch (err) {
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
		return -EHOSTUNREACH;
	default:
		return -err;
	}
}

/* Receive everything that is queued on fd now. 0 or -errno. */
static int kasa_drain(int fd, struct kasa_stream *st, uint8_t *buf)
{
	for (;;) {
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, KASA_DISC_MAX_DATAGRAM, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &from_len);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == ECONNREFUSED)
			continue;   /* ICMP port unreachable from a unicast target */
		if (n < 0)
			return -errno;
		if (from.sin_family != AF_INET || st->n_dgrams >= KASA_DISC_MAX_REPLIES)
			continue;
		st->n_dgrams++;
		r = kasa_stream_take(st, &from, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

/* Send both probes and take replies until timeout_ms passed or cancel_fd
 * is readable. */
static int kasa_round_run(const struct sockaddr_in *dst, int timeout_ms, int cancel_fd,
			  struct kasa_stream *st)
{
	_cleanup_free_ uint8_t *buf = malloc(KASA_DISC_MAX_DATAGRAM);
	uint8_t query[sizeof(kasa_disc_query) - 1];
	struct sockaddr_in to = *dst;
	int64_t deadline;
	int fd, r, one = 1, rcvbuf = KASA_DISC_RCVBUF;

	if (!buf)
		return -ENOMEM;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Many devices answer at once: a small buffer would drop some. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0) {
		r = -errno;
		goto out;
	}
	kasa_encrypt((const uint8_t *)kasa_disc_query, sizeof(query), query);
	st->t0 = kasa_now_us();
	deadline = st->t0 + (int64_t)timeout_ms * 1000;
	to.sin_port = htons(st->port);
	if (sendto(fd, query, sizeof(query), MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof(to)) < 0) {
		r = kasa_disc_error(errno);
		goto out;
	}
	if (st->new_port) {
		/* Best effort: a failure here must not hide the legacy devices. */
		to.sin_port = htons(st->new_port);
		sendto(fd, kasa_disc_probe_new, sizeof(kasa_disc_probe_new), MSG_NOSIGNAL,
		       (struct sockaddr *)&to, sizeof(to));
	}
	for (;;) {
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
					 { .fd = cancel_fd, .events = POLLIN } };
		int64_t left = deadline - kasa_now_us();

		if (left <= 0)
			break;
		r = poll(pfd, cancel_fd >= 0 ? 2 : 1, (int)((left + 999) / 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			goto out;
		}
		if (cancel_fd >= 0 && pfd[1].revents) {
			r = -ECANCELED;
			goto out;
		}
		if (r == 0)
			continue;
		r = kasa_drain(fd, st, buf);
		if (r < 0)
			goto out;
	}
	r = kasa_drain(fd, st, buf);   /* what arrived with the deadline */
out:
	close(fd);
	return r;
}

/* Check the arguments; the destination address in ret. */
static int kasa_disc_args(const char *broadcast_addr, uint16_t *port, uint16_t new_port,
			  int timeout_ms, struct sockaddr_in *ret)
{
	*ret = (struct sockaddr_in){ .sin_family = AF_INET };
	if (timeout_ms <= 0)
		return -EINVAL;
	if (*port == 0)
		*port = KASA_PORT;
	if (new_port == *port)
		return -EINVAL;
	if (inet_pton(AF_INET, broadcast_addr ? broadcast_addr : "255.255.255.255",
		      &ret->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int kasa_discover_stream(const char *broadcast_addr, uint16_t port, uint16_t new_port,
			 int timeout_ms, int cancel_fd, kasa_found_cb cb, void *userdata)
{
	struct kasa_stream st = { .new_port = new_port, .cb = cb, .userdata = userdata };
	struct sockaddr_in dst;
	int r;

	if (!cb)
		return -EINVAL;
	r = kasa_disc_args(broadcast_addr, &port, new_port, timeout_ms, &dst);
	if (r < 0)
		return r;
	st.port = port;
	r = kasa_round_run(&dst, timeout_ms, cancel_fd, &st);
	kasa_stream_clear(&st);
	return r < 0 ? r : st.delivered;
}

/* ---- the table of `kasa list` and `redfishfs --kasa-list` ------------------- */

enum { KASA_COL_ADDR, KASA_COL_MODEL, KASA_COL_ID, KASA_COL_ALIAS, KASA_COL_OUTLETS,
       KASA_COL_METER, KASA_COL_FW, KASA_COL_COUNT };

struct kasa_row {
	char col[KASA_COL_COUNT][160];
};

/* Device-supplied text, printable: control characters become '?'. */
static void kasa_cell(char *dst, size_t size, const char *s)
{
	size_t i = 0;

	for (; s && s[i] && i < size - 1; i++)
		dst[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	dst[i] = '\0';
}

static void kasa_row_fill(struct kasa_row *row, const struct kasa_found *f)
{
	const size_t w = sizeof(row->col[0]);
	char tmp[64];

	if (f->port == KASA_PORT || !f->supported)
		snprintf(row->col[KASA_COL_ADDR], w, "%s", f->addr);
	else
		snprintf(row->col[KASA_COL_ADDR], w, "%s:%u", f->addr, (unsigned)f->port);
	kasa_cell(row->col[KASA_COL_MODEL], w, *f->model ? f->model : "-");
	kasa_cell(row->col[KASA_COL_ID], w, *f->device_id ? f->device_id : "-");
	if (!f->supported) {
		bool http = f->transport == KASA_TRANSPORT_KLAP || f->transport == KASA_TRANSPORT_AES;

		if (http && f->http_port != KASA_HTTP_PORT)
			snprintf(row->col[KASA_COL_ADDR], w, "%s:%u", f->addr, (unsigned)f->http_port);
		snprintf(row->col[KASA_COL_ALIAS], w, "-");
		snprintf(row->col[KASA_COL_OUTLETS], w, "-");
		snprintf(row->col[KASA_COL_METER], w, "-");
		kasa_cell(tmp, sizeof(tmp), *f->protocol ? f->protocol : "unknown protocol");
		snprintf(row->col[KASA_COL_FW], w, http ? "%s (ask the device)" : "not supported (%s)", tmp);
		return;
	}
	kasa_cell(row->col[KASA_COL_ALIAS], w, *f->info.alias ? f->info.alias : "-");
	snprintf(row->col[KASA_COL_OUTLETS], w, "%zu", f->info.n_children ? f->info.n_children : 1);
	snprintf(row->col[KASA_COL_METER], w, "%s", f->info.has_emeter ? "yes" : "no");
	kasa_cell(row->col[KASA_COL_FW], w, *f->info.sw_ver ? f->info.sw_ver : "-");
}

void kasa_found_print_table(FILE *out, const struct kasa_found *found, size_t n)
{
	static const char *const head[KASA_COL_COUNT] = {
		"ADDRESS", "MODEL", "DEVICE ID", "ALIAS", "OUTLETS", "METER", "FIRMWARE",
	};
	struct kasa_row *rows = calloc(n + 1, sizeof(*rows));
	size_t width[KASA_COL_COUNT];

	if (!rows)
		return;
	for (size_t c = 0; c < KASA_COL_COUNT; c++)
		snprintf(rows[0].col[c], sizeof(rows[0].col[c]), "%s", head[c]);
	for (size_t i = 0; i < n; i++)
		kasa_row_fill(&rows[i + 1], &found[i]);
	for (size_t c = 0; c < KASA_COL_COUNT; c++) {
		width[c] = 0;
		for (size_t i = 0; i <= n; i++)
			if (strlen(rows[i].col[c]) > width[c])
				width[c] = strlen(rows[i].col[c]);
	}
	for (size_t i = 0; i <= n; i++) {
		for (size_t c = 0; c < KASA_COL_COUNT; c++) {
			if (c + 1 == KASA_COL_COUNT)
				fprintf(out, "%s\n", rows[i].col[c]);
			else
				fprintf(out, "%-*s  ", (int)width[c], rows[i].col[c]);
		}
	}
	free(rows);
}

/* ---- kasa_discover ------------------------------------------------------------ */

static int kasa_found_cmp(const void *a, const void *b)
{
	const struct kasa_found *x = a, *y = b;
	struct in_addr ia = { 0 }, ib = { 0 };
	uint32_t ha, hb;

	inet_pton(AF_INET, x->addr, &ia);
	inet_pton(AF_INET, y->addr, &ib);
	ha = ntohl(ia.s_addr);
	hb = ntohl(ib.s_addr);
	if (ha != hb)
		return ha < hb ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/* Add f to the list (moved in, or cleared when it is a duplicate). */
static void kasa_found_merge(struct kasa_found *list, size_t *n, struct kasa_found *f)
{
	struct kasa_found *same_addr = NULL;

	for (size_t i = 0; i < *n; i++) {
		struct kasa_found *g = &list[i];

		if (f->supported && g->supported && strcmp(f->device_id, g->device_id) == 0) {
			kasa_found_clear(f);    /* this device answered already */
			return;
		}
		if (!same_addr && strcmp(f->addr, g->addr) == 0)
			same_addr = g;
	}
	if (same_addr && !f->supported) {
		kasa_found_clear(f);            /* this address answered already */
		return;
	}
	if (same_addr && !same_addr->supported) {
		/* a supported answer replaces an unsupported one */
		kasa_found_clear(same_addr);
		*same_addr = *f;
	} else {
		list[(*n)++] = *f;
	}
	memset(f, 0, sizeof(*f));
}

/* kasa_discover's collector: every streamed entry merged into one list. */
struct kasa_collect {
	struct kasa_found *list;
	size_t n, cap;
	int error;
};

static void kasa_collect_cb(void *userdata, struct kasa_found *f)
{
	struct kasa_collect *c = userdata;

	if (c->error)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct kasa_found *nl = realloc(c->list, cap * sizeof(*nl));

		if (!nl) {
			c->error = -ENOMEM;
			return;
		}
		c->list = nl;
		c->cap = cap;
	}
	kasa_found_merge(c->list, &c->n, f);
}

int kasa_discover(const char *broadcast_addr, uint16_t port, uint16_t new_port, int timeout_ms,
		  struct kasa_found **ret, size_t *ret_n)
{
	struct kasa_collect c = { 0 };
	int r;

	if (!ret || !ret_n)
		return -EINVAL;
	r = kasa_discover_stream(broadcast_addr, port, new_port, timeout_ms, -1, kasa_collect_cb, &c);
	if (r >= 0 && c.error)
		r = c.error;
	if (r < 0) {
		kasa_found_free(c.list, c.n);
		return r;
	}
	if (c.n > 1)
		qsort(c.list, c.n, sizeof(*c.list), kasa_found_cmp);
	if (c.n == 0) {
		free(c.list);
		c.list = NULL;
	}
	*ret = c.list;
	*ret_n = c.n;
	return (int)c.n;
}
