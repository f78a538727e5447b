/* dev.c — one Kasa device: its session (a transport, kasa/transport.c),
 * the protocol it speaks (IOT JSON here, SMART methods in kasa/smart.c),
 * the commands of kasa.h in either, and UDP queries.
 *
 * A struct kasa_dev holds one kasa_link; its mutex serialises requests, so
 * each device has one request in flight and replies cannot be mixed up.
 * Callers: the kasa provider's pollers, the writers coming from FUSE/HTTP
 * threads, the kasa tool. No I/O ever blocks: every step waits in poll()
 * against the deadline of its attempt: timeout_ms from its start, and never
 * past the deadline of the operation the calling thread runs
 * (kasa_op_deadline(): the provider's commands set one that covers their
 * wait for the strip and every request, reconnects included).
 *
 * Retry rule: a request makes at most two attempts. If sending failed on a
 * kept-alive connection (-ECONNRESET), or the device ended a KLAP/AES
 * session (-EKEYEXPIRED), the second attempt reconnects (and makes a new
 * session). A connection closed after the request was fully sent and
 * before a reply (-ECONNABORTED) leaves the outcome unknown: reads are sent
 * again, commands (kasa_set_relay and the other writes) are not, and fail
 * with -EIO (the device may have applied them). Timeouts are not retried,
 * and after a timeout or any malformed reply the connection is closed, so
 * a late reply can never be read as the answer to the next.
 *
 * Finding the transport (KASA_TRANSPORT_AUTO): the first request tries XOR
 * on the device port; a refusal or an answer that is not a Kasa frame moves
 * on to KLAP handshake1 on the HTTP port, and a device without KLAP there
 * to the AES handshake. A timeout ends the search (the device is away, not
 * different). Found once, kept; a device found by the search that later
 * refuses connections is searched again (firmware updates move devices from
 * XOR to KLAP). The protocol follows: XOR and KLAP v1 carry IOT JSON, AES
 * carries SMART; behind KLAP v2 either may be (new_klap IOT devices), and
 * one SMART component_nego tells which, unless a discovery answer said.
 *
 * Replies are parsed once (kasa_dev_call hands the parsed object to the
 * command). Errors: raw -errno values inside, kasa_error() — the one table
 * — turns them into the errno of kasa.h. */
#include "kasa.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

#define KASA_MAX_ALIAS 255
#define KASA_UDP_MAX 65536

struct kasa_dev {
	char *host;
	uint16_t port;          /* as given: the XOR port */
	int timeout_ms;
	pthread_mutex_t lock;
	enum kasa_transport want;   /* as configured; AUTO searches */
	uint16_t want_port;         /* HTTP port as configured, 0: default */
	struct kasa_link link;      /* under lock; link.transport AUTO until found */
	enum kasa_protocol hint;    /* from a discovery answer */
	enum kasa_protocol protocol;
	char *search_reply;   /* the XOR search's get_sysinfo answer, once; under lock */
	size_t search_len;
	int err_code;         /* the device's own error in the last reply; under lock */
	char err_msg[128];
};

static const char *const kasa_transport_names[KASA_TRANSPORT_COUNT] = {
	[KASA_TRANSPORT_AUTO] = "auto",
	[KASA_TRANSPORT_XOR] = "xor",
	[KASA_TRANSPORT_KLAP] = "klap",
	[KASA_TRANSPORT_AES] = "aes",
};

const char *kasa_transport_to_string(enum kasa_transport t)
{
	return t >= 0 && t < KASA_TRANSPORT_COUNT ? kasa_transport_names[t] : NULL;
}

enum kasa_transport kasa_transport_from_string(const char *s)
{
	for (int t = 0; s && t < KASA_TRANSPORT_COUNT; t++)
		if (strcasecmp(s, kasa_transport_names[t]) == 0)
			return (enum kasa_transport)t;
	return KASA_TRANSPORT_INVALID;
}

/* The raw outcome behind the last mapped failure on this thread. */
static __thread int last_cause;

/* The deadline (now_ms() clock) of the operation this thread runs, 0 none;
 * and whether its requests may be sent twice (false while a command runs). */
static __thread int64_t op_deadline;
static __thread bool op_no_resend;

void kasa_op_deadline(int64_t deadline_ms)
{
	op_deadline = deadline_ms > 0 ? deadline_ms : 0;
}

/* The deadline of one step (an attempt, a search) starting now. */
static int64_t kasa_step_deadline(const struct kasa_dev *d)
{
	int64_t end = now_ms() + d->timeout_ms;

	return op_deadline && op_deadline < end ? op_deadline : end;
}

int kasa_last_cause(void)
{
	return last_cause;
}

/* THE Kasa error table: raw outcome (-errno of a socket call, or one of the
 * internal codes above) -> the errno the rest of redfishfs sees. */
static int kasa_error(int raw)
{
	if (raw < 0)
		last_cause = raw;
	switch (-raw) {
	case 0:
		return 0;
	case ETIMEDOUT:
	case EAGAIN:
		return -ETIMEDOUT;
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case ECONNRESET:
	case EPIPE:
	case ENOTCONN:
	case EADDRNOTAVAIL:
	case ENXIO:            /* host name did not resolve */
		return -EHOSTUNREACH;
	case EACCES:           /* every credential refused */
		return -EACCES;
	case EOPNOTSUPP:
		return -EOPNOTSUPP;
	case ENOMEM:
	case EINVAL:
	case EMFILE:
	case ENFILE:
		return raw;
	case ECONNABORTED:     /* closed after the request went out: unknown */
	default:               /* EBADMSG, EMSGSIZE, EPROTO, anything odd */
		return -EIO;
	}
}

/* The HTTP port of the transport search or of a configured transport. */
static uint16_t kasa_http_port(const struct kasa_dev *d)
{
	if (d->want_port)
		return d->want_port;
	return d->port == KASA_PORT ? KASA_HTTP_PORT : d->port;
}

static void kasa_link_use(struct kasa_dev *d, enum kasa_transport t)
{
	kasa_link_close(&d->link);
	d->link.transport = t;
	d->link.port = t == KASA_TRANSPORT_XOR ? (d->want == KASA_TRANSPORT_XOR && d->want_port ?
						  d->want_port : d->port) : kasa_http_port(d);
}

/* Is r an answer from something that is not this transport (as opposed to
 * a device that is away)? */
static bool kasa_search_on(int r)
{
	return r == -ECONNREFUSED || r == -ECONNRESET || r == -ECONNABORTED || r == -EPROTO ||
	       r == -EBADMSG ||
	       r == -EMSGSIZE || r == -EPROTONOSUPPORT || r == -EPIPE;
}

/* Find the transport (under lock): on the default port XOR first, then
 * KLAP and AES on the HTTP port; on another port (one server for both)
 * the HTTP ones first, since an HTTP server waits for a request line an
 * XOR frame never ends, while an XOR device drops an HTTP request at once.
 * XOR is tried with a get_sysinfo, the others by their handshakes. One
 * timeout for the search. The XOR answer is kept for the get_sysinfo that
 * usually follows at once (so finding XOR costs no request). Raw -errno. */
static const char kasa_iot_sysinfo[] = "{\"system\":{\"get_sysinfo\":{}}}";

static int kasa_dev_search(struct kasa_dev *d)
{
	const char *iot = kasa_iot_sysinfo;
	static const enum kasa_transport xor_first[] = { KASA_TRANSPORT_XOR, KASA_TRANSPORT_KLAP,
							  KASA_TRANSPORT_AES };
	static const enum kasa_transport http_first[] = { KASA_TRANSPORT_KLAP, KASA_TRANSPORT_AES,
							   KASA_TRANSPORT_XOR };
	const enum kasa_transport *order = d->port == KASA_PORT ? xor_first : http_first;
	int64_t deadline = kasa_step_deadline(d);
	int r = -EPROTONOSUPPORT;

	for (size_t i = 0; i < 3; i++) {
		kasa_link_use(d, order[i]);
		if (order[i] == KASA_TRANSPORT_XOR) {
			char *reply = NULL;
			size_t len;

			r = kasa_link_attempt(&d->link, iot, strlen(iot), deadline, &reply, &len);
			if (r == -ECONNRESET || r == -ECONNABORTED)   /* a read: sent again */
				r = kasa_link_attempt(&d->link, iot, strlen(iot), deadline, &reply, &len);
			if (r == 0 && !kasa_json_parse_object_ok(reply, len))
				r = -EPROTO;
			free(d->search_reply);
			d->search_reply = r == 0 ? reply : NULL;
			d->search_len = len;
			if (r < 0)
				free(reply);
		} else {
			r = kasa_link_establish(&d->link, deadline);
		}
		if (r == 0 || r == -EACCES || !kasa_search_on(r) || kasa_left(deadline) == 0)
			return r;
	}
	kasa_link_use(d, KASA_TRANSPORT_AUTO);
	return r;
}

/* The request, at most two attempts (the retry rule above). Under lock.
 * Raw -errno. */
static int kasa_dev_send(struct kasa_dev *d, const char *json, char **ret_reply, size_t *ret_len)
{
	size_t len = strlen(json);
	int64_t t0;
	int r;

	if (d->link.transport == KASA_TRANSPORT_AUTO) {
		r = kasa_dev_search(d);
		if (r < 0)
			return r;
	}
	if (d->search_reply && strcmp(json, kasa_iot_sysinfo) == 0) {
		*ret_reply = d->search_reply;
		*ret_len = d->search_len;
		d->search_reply = NULL;
		return 0;
	}
	free(d->search_reply);
	d->search_reply = NULL;
	t0 = now_us();
	r = kasa_link_attempt(&d->link, json, len, kasa_step_deadline(d), ret_reply, ret_len);
	if (r == -ECONNRESET || r == -EKEYEXPIRED || (r == -ECONNABORTED && !op_no_resend))
		r = kasa_link_attempt(&d->link, json, len, kasa_step_deadline(d), ret_reply, ret_len);
	stats_round_trip(STATS_KASA, now_us() - t0, r >= 0);
	if (r == -EKEYEXPIRED)
		r = -EPROTO;   /* a new session ended at once: the device is confused */
	if (r < 0 && d->want == KASA_TRANSPORT_AUTO && r != -ETIMEDOUT && r != -EACCES &&
	    d->link.transport != KASA_TRANSPORT_AUTO && kasa_error(r) == -EHOSTUNREACH)
		kasa_link_use(d, KASA_TRANSPORT_AUTO);   /* search again next time */
	return r;
}

/* The protocol the device speaks, finding it when unknown (under lock):
 * XOR and KLAP v1 IOT, AES SMART, KLAP v2 either (a SMART component_nego
 * tells). Raw -errno when the device did not answer. */
static int kasa_dev_find_protocol(struct kasa_dev *d)
{
	static const char probe[] = "{\"method\":\"component_nego\"}";
	_cleanup_free_ char *reply = NULL;
	_cleanup_json_ json_object *root = NULL;
	size_t len;
	int r;

	if (d->protocol != KASA_PROTOCOL_UNKNOWN && d->link.transport != KASA_TRANSPORT_AUTO)
		return 0;
	if (d->link.transport == KASA_TRANSPORT_AUTO) {
		d->protocol = KASA_PROTOCOL_UNKNOWN;
		r = kasa_dev_search(d);
		if (r < 0)
			return r;
	}
	switch (d->link.transport) {
	case KASA_TRANSPORT_XOR:
		d->protocol = KASA_PROTOCOL_IOT;
		return 0;
	case KASA_TRANSPORT_AES:
		d->protocol = KASA_PROTOCOL_SMART;
		return 0;
	case KASA_TRANSPORT_KLAP:
		if (d->link.klap_version == 1) {
			d->protocol = KASA_PROTOCOL_IOT;
			return 0;
		}
		if (d->hint != KASA_PROTOCOL_UNKNOWN) {
			d->protocol = d->hint;
			return 0;
		}
		r = kasa_dev_send(d, probe, &reply, &len);
		if (r < 0)
			return r;
		root = kasa_json_parse_object(reply, len);
		if (!root)
			return -EPROTO;
		d->protocol = json_object_object_get_ex(root, "error_code", NULL) ?
			      KASA_PROTOCOL_SMART : KASA_PROTOCOL_IOT;
		return 0;
	default:
		return -EPROTONOSUPPORT;
	}
}

int kasa_dev_call(struct kasa_dev *d, const char *json, enum kasa_protocol proto,
		  json_object **ret_root)
{
	_cleanup_free_ char *reply = NULL;
	json_object *root;
	size_t len;
	int r;

	pthread_mutex_lock(&d->lock);
	d->err_code = 0;
	d->err_msg[0] = '\0';
	r = kasa_dev_find_protocol(d);
	if (r == 0 && d->protocol != proto)
		r = -EPROTONOSUPPORT;   /* the caller must ask in the other protocol */
	if (r == 0)
		r = kasa_dev_send(d, json, &reply, &len);
	if (r == 0) {
		root = kasa_json_parse_object(reply, len);
		if (!root) {
			kasa_link_close(&d->link);
			r = -EPROTO;
		} else {
			*ret_root = root;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return kasa_error(r);
}

enum kasa_protocol kasa_dev_speaks(struct kasa_dev *d, int *ret_err)
{
	enum kasa_protocol p;
	int r;

	pthread_mutex_lock(&d->lock);
	r = kasa_dev_find_protocol(d);
	p = r < 0 ? KASA_PROTOCOL_UNKNOWN : d->protocol;
	pthread_mutex_unlock(&d->lock);
	*ret_err = kasa_error(r);
	return p;
}

int kasa_dev_request(struct kasa_dev *d, const char *json, char **ret_reply)
{
	size_t len;
	int r;

	if (!d || !json || !ret_reply || strlen(json) > KASA_MAX_FRAME)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->err_code = 0;
	d->err_msg[0] = '\0';
	r = kasa_dev_send(d, json, ret_reply, &len);
	pthread_mutex_unlock(&d->lock);
	return kasa_error(r);
}

struct kasa_dev *kasa_dev_new(const char *host, uint16_t port, int timeout_ms)
{
	struct kasa_dev *d;

	if (!host || !*host || port == 0 || timeout_ms <= 0) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	kasa_link_init(&d->link);
	d->host = strdup(host);
	d->link.host = strdup(host);
	if (!d->host || !d->link.host) {
		kasa_link_clear(&d->link);
		free(d->host);
		free(d);
		return NULL;
	}
	d->port = port;
	d->link.port = port;
	d->timeout_ms = timeout_ms;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

struct kasa_dev *kasa_dev_free(struct kasa_dev *d)
{
	if (!d)
		return NULL;
	kasa_link_clear(&d->link);
	free(d->search_reply);
	pthread_mutex_destroy(&d->lock);
	free(d->host);
	free(d);
	return NULL;
}

int kasa_dev_set_transport(struct kasa_dev *d, enum kasa_transport t, uint16_t port,
			   enum kasa_protocol protocol)
{
	if (!d || t < 0 || t >= KASA_TRANSPORT_COUNT || protocol < KASA_PROTOCOL_UNKNOWN ||
	    protocol > KASA_PROTOCOL_SMART)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->want = t;
	d->want_port = port;
	d->hint = protocol;
	d->protocol = KASA_PROTOCOL_UNKNOWN;
	kasa_link_use(d, t);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int kasa_dev_set_credentials(struct kasa_dev *d, const char *user, const char *password)
{
	int r;

	if (!d || (user && strlen(user) > 256) || (password && strlen(password) > 256))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	r = kasa_link_set_creds(&d->link, user, password);
	pthread_mutex_unlock(&d->lock);
	return r;
}

int kasa_dev_use_creds(struct kasa_dev *d, const struct kasa_creds *c)
{
	int r;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	r = kasa_link_use_creds(&d->link, c);
	pthread_mutex_unlock(&d->lock);
	return r;
}

void kasa_dev_set_renew_margin(struct kasa_dev *d, int64_t ms)
{
	if (!d || ms < 0)
		return;
	pthread_mutex_lock(&d->lock);
	d->link.renew_margin_ms = ms;
	pthread_mutex_unlock(&d->lock);
}

enum kasa_transport kasa_dev_transport(struct kasa_dev *d)
{
	enum kasa_transport t;

	if (!d)
		return KASA_TRANSPORT_AUTO;
	pthread_mutex_lock(&d->lock);
	t = d->link.transport;
	pthread_mutex_unlock(&d->lock);
	return t;
}

enum kasa_protocol kasa_dev_protocol(struct kasa_dev *d)
{
	enum kasa_protocol p;

	if (!d)
		return KASA_PROTOCOL_UNKNOWN;
	pthread_mutex_lock(&d->lock);
	p = d->link.transport == KASA_TRANSPORT_AUTO ? KASA_PROTOCOL_UNKNOWN : d->protocol;
	pthread_mutex_unlock(&d->lock);
	return p;
}

void kasa_dev_account(struct kasa_dev *d, char *buf, size_t size)
{
	if (!buf || size == 0)
		return;
	buf[0] = '\0';
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->link.established && d->link.cred_index < d->link.n_creds)
		snprintf(buf, size, "%s", d->link.creds[d->link.cred_index].what);
	pthread_mutex_unlock(&d->lock);
}

const char *kasa_dev_host(const struct kasa_dev *d)
{
	return d ? d->host : NULL;
}

uint16_t kasa_dev_port(const struct kasa_dev *d)
{
	return d ? d->port : 0;
}

int kasa_dev_last_error(struct kasa_dev *d, char *buf, size_t size)
{
	int code;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	code = d->err_code;
	if (buf && size > 0)
		snprintf(buf, size, "%s", code ? d->err_msg : "");
	pthread_mutex_unlock(&d->lock);
	return code;
}

void kasa_dev_note(struct kasa_dev *d, int64_t code, const char *msg)
{
	pthread_mutex_lock(&d->lock);
	d->err_code = code == 0 || code > INT32_MAX || code < INT32_MIN ? -1 : (int)code;
	snprintf(d->err_msg, sizeof(d->err_msg), "%s", msg ? msg : "");
	for (char *p = d->err_msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	pthread_mutex_unlock(&d->lock);
}

/* ---- IOT commands ------------------------------------------------------------ */

/* Build {[context,] module:{method:args}} (args stolen), send it, and hand
 * back the reply parsed (new reference). */
static int kasa_command(struct kasa_dev *d, const char *child_id, const char *module,
			const char *method, json_object *args, json_object **ret_root)
{
	_cleanup_json_ json_object *req = json_object_new_object();
	json_object *mod = json_object_new_object();

	if (!req || !mod || !args) {
		json_object_put(mod);
		json_object_put(args);
		return -ENOMEM;
	}
	if (json_object_object_add(mod, method, args) < 0) {
		json_object_put(mod);
		json_object_put(args);
		return -ENOMEM;
	}
	if (child_id) {
		json_object *ctx = json_object_new_object();
		json_object *ids = json_object_new_array();
		json_object *id = json_object_new_string(child_id);

		if (!ctx || !ids || !id || json_object_array_add(ids, id) < 0) {
			json_object_put(ctx);
			json_object_put(ids);
			json_object_put(id);
			json_object_put(mod);
			return -ENOMEM;
		}
		json_object_object_add(ctx, "child_ids", ids);
		json_object_object_add(req, "context", ctx);
	}
	json_object_object_add(req, module, mod);
	return kasa_dev_call(d, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			     KASA_PROTOCOL_IOT, ret_root);
}

/* Remember the device's own error in reply (err_code != 0 at module or
 * method level, with its err_msg) for kasa_dev_last_error(). */
static void kasa_note_error(struct kasa_dev *d, json_object *root, const char *module,
			    const char *method)
{
	json_object *mod = NULL, *m = NULL, *at = NULL, *err, *msg;

	if (!json_object_object_get_ex(root, module, &mod) || !json_object_is_type(mod, json_type_object))
		return;
	if (json_object_object_get_ex(mod, "err_code", &err) && json_object_is_type(err, json_type_int) &&
	    json_object_get_int64(err) != 0)
		at = mod;
	else if (json_object_object_get_ex(mod, method, &m) && json_object_is_type(m, json_type_object) &&
		 json_object_object_get_ex(m, "err_code", &err) &&
		 json_object_is_type(err, json_type_int) && json_object_get_int64(err) != 0)
		at = m;
	if (!at)
		return;
	msg = NULL;
	json_object_object_get_ex(at, "err_msg", &msg);
	kasa_dev_note(d, json_object_get_int64(err),
		      json_object_is_type(msg, json_type_string) ? json_object_get_string(msg) : "");
}

/* The reply must hold module.method with err_code 0 (module-level err_code
 * also checked). 0 or -EIO. */
static int kasa_reply_ok(json_object *root, const char *module, const char *method)
{
	json_object *mod, *m, *err;

	if (!json_object_object_get_ex(root, module, &mod) ||
	    !json_object_is_type(mod, json_type_object))
		return -EIO;
	if (json_object_object_get_ex(mod, "err_code", &err) &&
	    (!json_object_is_type(err, json_type_int) || json_object_get_int64(err) != 0))
		return -EIO;
	if (!json_object_object_get_ex(mod, method, &m) || !json_object_is_type(m, json_type_object))
		return -EIO;
	if (!json_object_object_get_ex(m, "err_code", &err) ||
	    !json_object_is_type(err, json_type_int) || json_object_get_int64(err) != 0)
		return -EIO;
	return 0;
}

static int kasa_simple(struct kasa_dev *d, const char *child_id, const char *module,
		       const char *method, json_object *args)
{
	_cleanup_json_ json_object *root = NULL;
	int r;

	r = kasa_command(d, child_id, module, method, args, &root);
	if (r < 0)
		return r;
	r = kasa_reply_ok(root, module, method);
	if (r < 0)
		kasa_note_error(d, root, module, method);
	return r;
}

/* An object with one integer member, or NULL. New reference. */
static json_object *kasa_args_int(const char *key, int64_t v)
{
	json_object *o = json_object_new_object();
	json_object *i = json_object_new_int64(v);

	if (!o || !i || json_object_object_add(o, key, i) < 0) {
		json_object_put(o);
		json_object_put(i);
		return NULL;
	}
	return o;
}

/* Which protocol to ask d in: IOT or SMART, or -errno (kasa.h's). */
static int kasa_which(struct kasa_dev *d)
{
	int err;
	enum kasa_protocol p = kasa_dev_speaks(d, &err);

	return p == KASA_PROTOCOL_UNKNOWN ? (err < 0 ? err : -EIO) : (int)p;
}

int kasa_get_sysinfo(struct kasa_dev *d, struct kasa_sysinfo *ret)
{
	_cleanup_json_ json_object *root = NULL;
	int r;

	if (!d || !ret)
		return -EINVAL;
	r = kasa_which(d);
	if (r < 0)
		return r;
	if (r == KASA_PROTOCOL_SMART)
		return kasa_smart_get_sysinfo(d, ret);
	r = kasa_command(d, NULL, "system", "get_sysinfo", json_object_new_object(), &root);
	if (r < 0)
		return r;
	r = kasa_sysinfo_from_json(root, ret);
	if (r < 0)
		kasa_note_error(d, root, "system", "get_sysinfo");
	return r;
}

int kasa_set_relay(struct kasa_dev *d, const char *child_id, bool on)
{
	int r;

	if (!d)
		return -EINVAL;
	r = kasa_which(d);
	op_no_resend = true;
	if (r == KASA_PROTOCOL_SMART)
		r = kasa_smart_set_on(d, child_id, on);
	else if (r >= 0)
		r = kasa_simple(d, child_id, "system", "set_relay_state", kasa_args_int("state", on));
	op_no_resend = false;
	return r;
}

int kasa_get_emeter(struct kasa_dev *d, const char *child_id, struct kasa_emeter *ret)
{
	_cleanup_json_ json_object *root = NULL;
	int r;

	if (!d || !ret)
		return -EINVAL;
	r = kasa_which(d);
	if (r < 0)
		return r;
	if (r == KASA_PROTOCOL_SMART)
		return kasa_smart_get_meter(d, child_id, ret);
	r = kasa_command(d, child_id, "emeter", "get_realtime", json_object_new_object(), &root);
	if (r < 0)
		return r;
	r = kasa_emeter_from_json(root, ret);
	if (r < 0)
		kasa_note_error(d, root, "emeter", "get_realtime");
	return r;
}

int kasa_erase_emeter(struct kasa_dev *d, const char *child_id)
{
	int r;

	if (!d)
		return -EINVAL;
	r = kasa_which(d);
	if (r == KASA_PROTOCOL_SMART)
		return -EOPNOTSUPP;   /* SMART devices keep no resettable total */
	if (r < 0)
		return r;
	op_no_resend = true;
	r = kasa_simple(d, child_id, "emeter", "erase_emeter_stat", json_object_new_object());
	op_no_resend = false;
	return r;
}

int kasa_set_alias(struct kasa_dev *d, const char *child_id, const char *alias)
{
	json_object *args, *s;
	int r;

	if (!d || !alias || strlen(alias) > KASA_MAX_ALIAS)
		return -EINVAL;
	r = kasa_which(d);
	if (r < 0)
		return r;
	op_no_resend = true;
	if (r == KASA_PROTOCOL_SMART) {
		r = kasa_smart_set_nickname(d, child_id, alias);
		goto out;
	}
	args = json_object_new_object();
	s = json_object_new_string(alias);
	if (!args || !s || json_object_object_add(args, "alias", s) < 0) {
		json_object_put(args);
		json_object_put(s);
		r = -ENOMEM;
		goto out;
	}
	r = kasa_simple(d, child_id, "system", "set_dev_alias", args);
out:
	op_no_resend = false;
	return r;
}

int kasa_set_led(struct kasa_dev *d, bool off)
{
	int r;

	if (!d)
		return -EINVAL;
	r = kasa_which(d);
	op_no_resend = true;
	if (r == KASA_PROTOCOL_SMART)
		r = kasa_smart_set_led(d, off);
	else if (r >= 0)
		r = kasa_simple(d, NULL, "system", "set_led_off", kasa_args_int("off", off));
	op_no_resend = false;
	return r;
}

int kasa_reboot(struct kasa_dev *d, int delay_s)
{
	int r;

	if (!d || delay_s < 0 || delay_s > 3600)
		return -EINVAL;
	r = kasa_which(d);
	op_no_resend = true;
	if (r == KASA_PROTOCOL_SMART)
		r = kasa_smart_reboot(d, delay_s);
	else if (r >= 0)
		r = kasa_simple(d, NULL, "system", "reboot", kasa_args_int("delay", delay_s));
	op_no_resend = false;
	return r;
}

/* ---- UDP ------------------------------------------------------------------- */

int kasa_udp_query(const char *host, uint16_t port, const char *json, int timeout_ms,
		   kasa_udp_cb cb, void *userdata)
{
	_cleanup_free_ uint8_t *out = NULL;
	_cleanup_free_ uint8_t *in = NULL;
	struct sockaddr_in sa;
	int64_t deadline;
	size_t len;
	int fd, r, one = 1, count = 0;

	if (!host || !json || port == 0 || timeout_ms <= 0)
		return -EINVAL;
	len = strlen(json);
	if (len == 0 || len > KASA_UDP_MAX - 64)
		return -EINVAL;
	deadline = now_ms() + timeout_ms;
	r = kasa_resolve(host, port, SOCK_DGRAM, deadline, &sa);
	if (r < 0)
		return kasa_error(r);
	out = malloc(len);
	in = malloc(KASA_UDP_MAX + 1);
	if (!out || !in)
		return -ENOMEM;
	kasa_encrypt((const uint8_t *)json, len, out);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kasa_error(-errno);
	if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0) {
		r = -errno;
		goto out;
	}
	if (sendto(fd, out, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		char addr[INET6_ADDRSTRLEN];
		uint16_t from_port;
		ssize_t n;

		r = kasa_wait(fd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			goto out;
		n = recvfrom(fd, in, KASA_UDP_MAX, 0, (struct sockaddr *)&from, &from_len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0 && errno == ECONNREFUSED)
			continue;   /* ICMP port unreachable from a unicast target */
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			continue;
		kasa_decrypt(in, (size_t)n, in);
		in[n] = '\0';
		if (strlen((char *)in) != (size_t)n || !kasa_json_parse_object_ok((char *)in, (size_t)n))
			continue;   /* not a Kasa reply: ignore it */
		if (from.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&from;

			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
			from_port = ntohs(s4->sin_port);
		} else if (from.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&from;

			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
			from_port = ntohs(s6->sin6_port);
		} else {
			continue;
		}
		count++;
		if (cb)
			cb(userdata, addr, from_port, (const char *)in);
	}
	r = count;
out:
	close(fd);
	return r < 0 ? kasa_error(r) : r;
}
