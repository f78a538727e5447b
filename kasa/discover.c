/* discover.c — find Kasa devices on a subnet by UDP broadcast.
 *
 * One socket sends two datagrams: the legacy get_sysinfo (XOR, no length
 * prefix) to port 9999, and — so that devices we cannot drive are seen
 * rather than silently missing — the newer discovery probe to UDP 20002
 * (the fixed 16-byte header python-kasa sends; devices that speak only
 * KLAP/AES answer it with a 16-byte header and plain JSON describing
 * themselves, see the fixtures' "discovery_result"). Replies are gathered
 * raw until the deadline, then classified (kasa_found_parse) and
 * de-duplicated: supported devices by deviceId (the first answer wins, so a
 * device that answers twice, or through two paths, is listed once), the
 * others by address, and an address with a supported answer is never also
 * listed as unsupported.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

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

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

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
	json_tokener *tok;
	json_object *o;

	if (len == 0 || len > KASA_DISC_MAX_DATAGRAM || memchr(data, '\0', len))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
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
	if (schm && json_object_object_get_ex(schm, "http_port", &v) &&
	    json_object_is_type(v, json_type_int))
		snprintf(port_text, sizeof(port_text), " on TCP %lld",
			 (long long)json_object_get_int64(v));
	{
		_cleanup_free_ char *enc_c = kasa_clean_strdup(enc ? enc : "encrypted");
		_cleanup_free_ char *type_c = kasa_clean_strdup(type ? type : "device");

		if (!enc_c || !type_c)
			return -ENOMEM;
		return kasa_found_set(f, kasa_str(res, "device_model"), kasa_str(res, "device_id"),
				      kasa_str(res, "mac"), enc ? enc : "",
				      kasa_vfmt("%s speaks only the newer %s protocol (HTTP%s), "
						"not supported yet", type_c, enc_c, port_text));
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

struct kasa_datagram {
	uint8_t *data;
	size_t len;
	struct sockaddr_in from;
	uint32_t at_us;
};

struct kasa_round {
	struct kasa_datagram *dg;
	size_t n;
};

static void kasa_round_clear(struct kasa_round *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->dg[i].data);
	free(r->dg);
	r->dg = NULL;
	r->n = 0;
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
static int kasa_drain(int fd, struct kasa_round *round, uint8_t *buf, int64_t t0)
{
	for (;;) {
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		struct kasa_datagram *dg;
		ssize_t n = recvfrom(fd, buf, KASA_DISC_MAX_DATAGRAM, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &from_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == ECONNREFUSED)
			continue;   /* ICMP port unreachable from a unicast target */
		if (n < 0)
			return -errno;
		if (from.sin_family != AF_INET || round->n >= KASA_DISC_MAX_REPLIES)
			continue;
		if (round->n % 64 == 0) {
			struct kasa_datagram *nd = realloc(round->dg, (round->n + 64) * sizeof(*nd));

			if (!nd)
				return -ENOMEM;
			round->dg = nd;
		}
		dg = &round->dg[round->n];
		dg->data = malloc(n > 0 ? (size_t)n : 1);
		if (!dg->data)
			return -ENOMEM;
		memcpy(dg->data, buf, (size_t)n);
		dg->len = (size_t)n;
		dg->from = from;
		dg->at_us = (uint32_t)MIN(kasa_now_us() - t0, (int64_t)UINT32_MAX);
		round->n++;
	}
}

/* Send both probes and gather replies until timeout_ms passed. */
static int kasa_round_run(const struct sockaddr_in *dst, uint16_t port, uint16_t new_port,
			  int timeout_ms, struct kasa_round *round)
{
	_cleanup_free_ uint8_t *buf = malloc(KASA_DISC_MAX_DATAGRAM);
	uint8_t query[sizeof(kasa_disc_query) - 1];
	struct sockaddr_in to = *dst;
	int64_t t0, deadline;
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
	t0 = kasa_now_us();
	deadline = t0 + (int64_t)timeout_ms * 1000;
	to.sin_port = htons(port);
	if (sendto(fd, query, sizeof(query), MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof(to)) < 0) {
		r = kasa_disc_error(errno);
		goto out;
	}
	if (new_port) {
		/* Best effort: a failure here must not hide the legacy devices. */
		to.sin_port = htons(new_port);
		sendto(fd, kasa_disc_probe_new, sizeof(kasa_disc_probe_new), MSG_NOSIGNAL,
		       (struct sockaddr *)&to, sizeof(to));
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - kasa_now_us();

		if (left <= 0)
			break;
		r = poll(&pfd, 1, (int)((left + 999) / 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			goto out;
		}
		if (r == 0)
			continue;
		r = kasa_drain(fd, round, buf, t0);
		if (r < 0)
			goto out;
	}
	r = kasa_drain(fd, round, buf, t0);   /* what arrived with the deadline */
out:
	close(fd);
	return r;
}

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

int kasa_discover(const char *broadcast_addr, uint16_t port, uint16_t new_port, int timeout_ms,
		  struct kasa_found **ret, size_t *ret_n)
{
	struct kasa_round round = { 0 };
	struct kasa_found *list = NULL;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	size_t n = 0;
	int r;

	if (!ret || !ret_n || timeout_ms <= 0)
		return -EINVAL;
	if (port == 0)
		port = KASA_PORT;
	if (new_port == port)
		return -EINVAL;
	if (inet_pton(AF_INET, broadcast_addr ? broadcast_addr : "255.255.255.255",
		      &dst.sin_addr) != 1)
		return -EINVAL;
	r = kasa_round_run(&dst, port, new_port, timeout_ms, &round);
	if (r < 0)
		goto out;
	if (round.n > 0) {
		list = calloc(round.n, sizeof(*list));
		if (!list) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < round.n; i++) {
		struct kasa_datagram *dg = &round.dg[i];
		uint16_t from_port = ntohs(dg->from.sin_port);
		char addr[INET_ADDRSTRLEN];
		struct kasa_found f;

		if (from_port != port && (new_port == 0 || from_port != new_port))
			continue;   /* not an answer to either probe */
		inet_ntop(AF_INET, &dg->from.sin_addr, addr, sizeof(addr));
		r = kasa_found_parse(addr, from_port, from_port == port, dg->data, dg->len, &f);
		if (r < 0)
			goto out;
		f.reply_us = dg->at_us;
		kasa_found_merge(list, &n, &f);
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), kasa_found_cmp);
	if (n == 0) {
		free(list);
		list = NULL;
	}
	*ret = list;
	*ret_n = n;
	list = NULL;
	r = (int)n;
out:
	kasa_found_free(list, n);
	kasa_round_clear(&round);
	return r;
}
