/* dev.c — one Kasa device over TCP (requests) and UDP (discovery queries).
 *
 * A struct kasa_dev holds one TCP connection, opened lazily and reused; its
 * mutex serialises requests, so each device has one request in flight and
 * replies cannot be mixed up. Callers: the kasa provider's pollers and the
 * writers coming from FUSE/HTTP threads. No I/O ever blocks: sockets are
 * non-blocking and every connect, send and receive waits in poll() against
 * the deadline of its attempt (timeout_ms).
 *
 * Retry rule: a request makes at most two attempts. Before reusing an idle
 * connection we look at it; if the device closed it (or sent something
 * unasked) it is replaced before the first attempt. If the connection is
 * reset or closed after the request went out but before any reply byte, we
 * reconnect once and repeat the attempt. Timeouts are not retried (a call
 * ends within one timeout then), and after a timeout or any malformed reply
 * the connection is closed, so a late reply can never be read as the answer
 * to the next request.
 *
 * Errors: internal steps return raw -errno values (socket errors, -ETIMEDOUT,
 * -ECONNRESET for "closed before reply", -EBADMSG/-EMSGSIZE for framing,
 * -EPROTO for a reply that is not JSON or carries err_code != 0) and
 * kasa_error() — the one table — turns them into the errno of kasa.h.
 *
 * Name resolution: Kasa devices speak IPv4 only. Numeric addresses are used
 * directly; a host name is looked up with getaddrinfo_a() and the wait counts
 * against the attempt's deadline like any other step. */
#include "kasa.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

#define KASA_MAX_ALIAS 255
#define KASA_UDP_MAX 65536

struct kasa_dev {
	char *host;
	uint16_t port;
	int timeout_ms;
	pthread_mutex_t lock;
	int fd;               /* -1 when not connected; under lock */
	bool connected_once;  /* a later connect is a reconnect (metrics) */
	int err_code;         /* the device's own error in the last reply; under lock */
	char err_msg[128];
};

/* THE Kasa error table: raw outcome (-errno of a socket call, or one of the
 * internal codes above) -> the errno the rest of redfishfs sees. */
static int kasa_error(int raw)
{
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
	case ECONNABORTED:
	case EPIPE:
	case ENOTCONN:
	case EADDRNOTAVAIL:
	case ENXIO:            /* host name did not resolve */
		return -EHOSTUNREACH;
	case ENOMEM:
	case EINVAL:
	case EMFILE:
	case ENFILE:
		return raw;
	default:               /* EBADMSG, EMSGSIZE, EPROTO, anything odd */
		return -EIO;
	}
}

static int kasa_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left <= 0 ? 0 : left > 600000 ? 600000 : (int)left;
}

/* An asynchronous name lookup. Shared by the caller and glibc's completion
 * notification (two references): a caller that gives up at its deadline
 * drops its reference and the notification frees the lookup later. */
struct kasa_lookup {
	struct gaicb cb;
	struct addrinfo hints;
	atomic_int refs;
	char service[8];
	char host[];
};

static void kasa_lookup_unref(struct kasa_lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->cb.ar_result)
		freeaddrinfo(l->cb.ar_result);
	free(l);
}

static void kasa_lookup_done(union sigval sv)
{
	kasa_lookup_unref(sv.sival_ptr);
}

static void kasa_copy_addr(const struct addrinfo *ai, struct sockaddr_in *ret)
{
	memcpy(ret, ai->ai_addr, sizeof(*ret));
}

/* Resolve host:port to an IPv4 address (Kasa devices speak IPv4 only).
 * Numeric addresses need no I/O; names are looked up asynchronously and the
 * wait is bounded by deadline. 0, -ETIMEDOUT, -ENOMEM or -ENXIO (unknown). */
static int kasa_resolve(const char *host, uint16_t port, int socktype, int64_t deadline,
			struct sockaddr_in *ret)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = socktype,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
	struct kasa_lookup *l;
	char service[8];
	int r;

	snprintf(service, sizeof(service), "%u", (unsigned)port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r == 0) {
		kasa_copy_addr(res, ret);
		freeaddrinfo(res);
		return 0;
	}
	if (r == EAI_MEMORY)
		return -ENOMEM;

	l = calloc(1, sizeof(*l) + strlen(host) + 1);
	if (!l)
		return -ENOMEM;
	strcpy(l->host, host);
	memcpy(l->service, service, sizeof(service));
	l->hints = (struct addrinfo){ .ai_family = AF_INET, .ai_socktype = socktype,
				      .ai_flags = AI_NUMERICSERV };
	l->cb.ar_name = l->host;
	l->cb.ar_service = l->service;
	l->cb.ar_request = &l->hints;
	atomic_init(&l->refs, 2);
	sev.sigev_notify_function = kasa_lookup_done;
	sev.sigev_value.sival_ptr = l;
	list[0] = &l->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
		free(l);
		return -ENOMEM;
	}
	for (;;) {
		int left = kasa_left(deadline);
		struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L };

		r = gai_suspend((const struct gaicb *const *)list, 1, &ts);
		if (r == EAI_INTR)
			continue;
		if (r == 0 || r == EAI_ALLDONE || gai_error(&l->cb) != EAI_INPROGRESS)
			break;
		if (kasa_left(deadline) == 0) {
			/* Canceled before it ran: no notification will come. */
			if (gai_cancel(&l->cb) == EAI_CANCELED)
				kasa_lookup_unref(l);
			kasa_lookup_unref(l);
			return -ETIMEDOUT;
		}
	}
	r = gai_error(&l->cb);
	if (r == 0 && l->cb.ar_result)
		kasa_copy_addr(l->cb.ar_result, ret);
	kasa_lookup_unref(l);
	if (r == EAI_MEMORY)
		return -ENOMEM;
	return r == 0 ? 0 : -ENXIO;
}

/* poll one fd for events until deadline: 1 ready, -ETIMEDOUT, -errno. */
static int kasa_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int left = kasa_left(deadline);
		int r;

		if (left == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 1;
	}
}

static int kasa_connect(const struct kasa_dev *d, int64_t deadline)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(int);
	int fd, r, err = 0, one = 1;

	r = kasa_resolve(d->host, d->port, SOCK_STREAM, deadline, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	r = kasa_wait(fd, POLLOUT, deadline);
	if (r < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		r = -errno;
		goto fail;
	}
	if (err) {
		r = -err;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static void kasa_dev_close(struct kasa_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* Is the idle connection still usable: open, and nothing unasked to read? */
static bool kasa_idle_ok(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0;
}

static int kasa_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = kasa_wait(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one frame. 0 with *ret_reply (malloc'd) and *ret_extra (bytes seen
 * after the frame), or -errno: -ECONNRESET when the peer closed or reset
 * before the first reply byte, -EPROTO when it closed mid-frame. */
static int kasa_recv_frame(int fd, int64_t deadline, char **ret_reply, bool *ret_extra)
{
	struct kasa_frame_reader rd = { 0 };
	uint8_t buf[16384];
	size_t total = 0;
	int r;

	for (;;) {
		size_t off = 0;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			r = kasa_wait(fd, POLLIN, deadline);
			if (r < 0)
				goto out;
			continue;
		}
		if (n < 0) {
			r = total == 0 && errno == ECONNRESET ? -ECONNRESET :
			    total == 0 ? -errno : -EPROTO;
			goto out;
		}
		if (n == 0) {
			r = total == 0 ? -ECONNRESET : -EPROTO;
			goto out;
		}
		total += (size_t)n;
		while (off < (size_t)n) {
			size_t used = 0;

			r = kasa_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			if (r < 0)
				goto out;
			off += used;
			if (r == 1) {
				*ret_extra = off < (size_t)n;
				*ret_reply = rd.payload;
				rd.payload = NULL;
				r = 0;
				goto out;
			}
		}
	}
out:
	kasa_frame_reset(&rd);
	return r;
}

/* Is text one JSON object? */
static bool kasa_is_json_object(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	bool ok;

	if (!tok)
		return false;
	o = json_tokener_parse_ex(tok, text, (int)len);
	ok = json_tokener_get_error(tok) == json_tokener_success &&
	     json_tokener_get_parse_end(tok) == len && json_object_is_type(o, json_type_object);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* One attempt on d->fd (connecting if needed). Raw -errno on failure; the
 * connection is closed on every failure. */
static int kasa_attempt(struct kasa_dev *d, const uint8_t *frame, size_t frame_len,
			char **ret_reply)
{
	int64_t deadline = now_ms() + d->timeout_ms;
	char *reply = NULL;
	bool extra = false;
	int r;

	if (d->fd >= 0 && !kasa_idle_ok(d->fd))
		kasa_dev_close(d);
	if (d->fd < 0) {
		r = kasa_connect(d, deadline);
		if (r < 0)
			return r;
		d->fd = r;
		if (d->connected_once)
			stats_reconnect(STATS_KASA);
		d->connected_once = true;
	}
	r = kasa_send_all(d->fd, frame, frame_len, deadline);
	if (r == -EPIPE)
		r = -ECONNRESET;
	if (r >= 0)
		r = kasa_recv_frame(d->fd, deadline, &reply, &extra);
	if (r >= 0 && !kasa_is_json_object(reply, strlen(reply)))
		r = -EPROTO;
	if (r < 0 || extra)
		kasa_dev_close(d);
	if (r < 0) {
		free(reply);
		return r;
	}
	*ret_reply = reply;
	return 0;
}

int kasa_dev_request(struct kasa_dev *d, const char *json, char **ret_reply)
{
	_cleanup_free_ uint8_t *frame = NULL;
	size_t frame_len;
	int64_t t0;
	int r;

	if (!d || !json || !ret_reply)
		return -EINVAL;
	r = kasa_frame_encode(json, strlen(json), &frame, &frame_len);
	if (r < 0)
		return r == -EMSGSIZE ? -EINVAL : r;
	pthread_mutex_lock(&d->lock);
	d->err_code = 0;
	d->err_msg[0] = '\0';
	t0 = now_us();
	r = kasa_attempt(d, frame, frame_len, ret_reply);
	if (r == -ECONNRESET)   /* dropped before replying: reconnect once */
		r = kasa_attempt(d, frame, frame_len, ret_reply);
	stats_round_trip(STATS_KASA, now_us() - t0, r >= 0);
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
	d->host = strdup(host);
	if (!d->host) {
		free(d);
		return NULL;
	}
	d->port = port;
	d->timeout_ms = timeout_ms;
	d->fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

struct kasa_dev *kasa_dev_free(struct kasa_dev *d)
{
	if (!d)
		return NULL;
	kasa_dev_close(d);
	pthread_mutex_destroy(&d->lock);
	free(d->host);
	free(d);
	return NULL;
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

/* ---- commands -------------------------------------------------------------- */

/* Build {[context,] module:{method:args}} (args stolen) and send it. */
static int kasa_command(struct kasa_dev *d, const char *child_id, const char *module,
			const char *method, json_object *args, char **ret_reply)
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
	return kasa_dev_request(d, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
				ret_reply);
}

/* Remember the device's own error in reply (err_code != 0 at module or
 * method level, with its err_msg) for kasa_dev_last_error(). Control
 * characters in the message become '?': it is meant for a log line. */
static void kasa_note_error(struct kasa_dev *d, const char *reply, const char *module,
			    const char *method)
{
	_cleanup_json_ json_object *root = json_tokener_parse(reply);
	json_object *mod = NULL, *m = NULL, *at = NULL, *err, *msg;

	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, module, &mod) || !json_object_is_type(mod, json_type_object))
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
	pthread_mutex_lock(&d->lock);
	d->err_code = (int)json_object_get_int64(err);
	if (d->err_code == 0)
		d->err_code = -1;   /* an err_code beyond int: still an error */
	d->err_msg[0] = '\0';
	if (json_object_object_get_ex(at, "err_msg", &msg) && json_object_is_type(msg, json_type_string)) {
		snprintf(d->err_msg, sizeof(d->err_msg), "%s", json_object_get_string(msg));
		for (char *p = d->err_msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	pthread_mutex_unlock(&d->lock);
}

/* The reply must hold module.method with err_code 0 (module-level err_code
 * also checked). 0 or -EIO. */
static int kasa_reply_ok(const char *reply, const char *module, const char *method)
{
	_cleanup_json_ json_object *root = json_tokener_parse(reply);
	json_object *mod, *m, *err;

	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, module, &mod) ||
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
	_cleanup_free_ char *reply = NULL;
	int r;

	r = kasa_command(d, child_id, module, method, args, &reply);
	if (r < 0)
		return r;
	r = kasa_reply_ok(reply, module, method);
	if (r < 0)
		kasa_note_error(d, reply, module, method);
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

int kasa_get_sysinfo(struct kasa_dev *d, struct kasa_sysinfo *ret)
{
	_cleanup_free_ char *reply = NULL;
	int r;

	if (!d || !ret)
		return -EINVAL;
	r = kasa_command(d, NULL, "system", "get_sysinfo", json_object_new_object(), &reply);
	if (r < 0)
		return r;
	r = kasa_parse_sysinfo(reply, ret);
	if (r < 0)
		kasa_note_error(d, reply, "system", "get_sysinfo");
	return r;
}

int kasa_set_relay(struct kasa_dev *d, const char *child_id, bool on)
{
	if (!d)
		return -EINVAL;
	return kasa_simple(d, child_id, "system", "set_relay_state", kasa_args_int("state", on));
}

int kasa_get_emeter(struct kasa_dev *d, const char *child_id, struct kasa_emeter *ret)
{
	_cleanup_free_ char *reply = NULL;
	int r;

	if (!d || !ret)
		return -EINVAL;
	r = kasa_command(d, child_id, "emeter", "get_realtime", json_object_new_object(), &reply);
	if (r < 0)
		return r;
	r = kasa_parse_emeter(reply, ret);
	if (r < 0)
		kasa_note_error(d, reply, "emeter", "get_realtime");
	return r;
}

int kasa_erase_emeter(struct kasa_dev *d, const char *child_id)
{
	if (!d)
		return -EINVAL;
	return kasa_simple(d, child_id, "emeter", "erase_emeter_stat", json_object_new_object());
}

int kasa_set_alias(struct kasa_dev *d, const char *child_id, const char *alias)
{
	json_object *args, *s;

	if (!d || !alias || strlen(alias) > KASA_MAX_ALIAS)
		return -EINVAL;
	args = json_object_new_object();
	s = json_object_new_string(alias);
	if (!args || !s || json_object_object_add(args, "alias", s) < 0) {
		json_object_put(args);
		json_object_put(s);
		return -ENOMEM;
	}
	return kasa_simple(d, child_id, "system", "set_dev_alias", args);
}

int kasa_set_led(struct kasa_dev *d, bool off)
{
	if (!d)
		return -EINVAL;
	return kasa_simple(d, NULL, "system", "set_led_off", kasa_args_int("off", off));
}

int kasa_reboot(struct kasa_dev *d, int delay_s)
{
	if (!d || delay_s < 0 || delay_s > 3600)
		return -EINVAL;
	return kasa_simple(d, NULL, "system", "reboot", kasa_args_int("delay", delay_s));
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
		if (strlen((char *)in) != (size_t)n || !kasa_is_json_object((char *)in, (size_t)n))
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
