/* transport.c — one device session over one transport: XOR (length-
 * prefixed frames on TCP 9999), KLAP v1/v2 or AES "secure passthrough"
 * (both HTTP POSTs, http.c). A struct kasa_link moves the bytes of plain
 * request text to the device and hands back the plain reply text; it knows
 * nothing of what the text says (the protocol layer, dev.c and smart.c,
 * does).
 *
 * Sessions: KLAP and AES set one up lazily (KLAP: handshake1 with our
 * random seed, every candidate credential checked against the device's
 * hash in both KLAP versions locally, then handshake2; AES: an RSA key
 * exchange, then login_device with each candidate until one is taken) and
 * keep it until a little before the cookie's TIMEOUT, then make a new one
 * before the next request. A session the device ended (HTTP 403, or an AES
 * session error) gives -EKEYEXPIRED: the caller (dev.c) tries once more and
 * that attempt makes a new session, so callers never notice.
 *
 * Credentials: the configured account first (if any), then the defaults
 * python-kasa tries for unbound devices, then the blank account;
 * cred_index says which one the session was made with (never logged with
 * its password). All refused: -EACCES.
 *
 * Threads: none; the device's mutex (dev.c) serialises every call on a
 * link. Every step waits against the attempt's deadline. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define KASA_SESSION_DEFAULT_S 86400
#define KASA_SMART_SESSION_ERR 9999

void kasa_link_init(struct kasa_link *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->renew_margin_ms = 20 * 60 * 1000;   /* device clocks drift (python-kasa: 20 min) */
	kasa_link_set_creds(l, NULL, NULL);
}

void kasa_link_close(struct kasa_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->established = false;
	l->cookie[0] = '\0';
	l->token[0] = '\0';
}

void kasa_link_clear(struct kasa_link *l)
{
	kasa_link_close(l);
	kasa_rsa_free(l->rsa);
	free(l->host);
	free(l->user);
	if (l->password)
		explicit_bzero(l->password, strlen(l->password));
	free(l->password);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

int kasa_link_set_creds(struct kasa_link *l, const char *user, const char *password)
{
	char *u = NULL, *p = NULL;

	if (user) {
		u = strdup(user);
		p = strdup(password ? password : "");
		if (!u || !p) {
			free(u);
			free(p);
			return -ENOMEM;
		}
	}
	free(l->user);
	if (l->password)
		explicit_bzero(l->password, strlen(l->password));
	free(l->password);
	l->user = u;
	l->password = p;
	l->n_creds = 0;
	if (u)
		l->creds[l->n_creds++] = (struct kasa_cred){ u, p, "the configured account" };
	for (size_t i = 0; i < KASA_N_DEFAULT_CREDS; i++) {
		/* The configured account may be one of the defaults: once only. */
		if (u && strcmp(u, kasa_default_creds[i].user) == 0 &&
		    strcmp(p, kasa_default_creds[i].password) == 0)
			continue;
		l->creds[l->n_creds++] = kasa_default_creds[i];
	}
	kasa_link_close(l);
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

struct kasa_creds {
	char *user;
	char *password;
};

struct kasa_creds *kasa_creds_new(const char *user, const char *password)
{
	struct kasa_creds *c;

	if (!user || strlen(user) > 256 || (password && strlen(password) > 256)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->user = strdup(user);
	c->password = strdup(password ? password : "");
	if (!c->user || !c->password)
		return kasa_creds_free(c);
	return c;
}

struct kasa_creds *kasa_creds_dup(const struct kasa_creds *c)
{
	return c ? kasa_creds_new(c->user, c->password) : NULL;
}

struct kasa_creds *kasa_creds_free(struct kasa_creds *c)
{
	if (!c)
		return NULL;
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->user);
	free(c->password);
	free(c);
	return NULL;
}

int kasa_link_use_creds(struct kasa_link *l, const struct kasa_creds *c)
{
	return kasa_link_set_creds(l, c ? c->user : NULL, c ? c->password : NULL);
}

/* ---- XOR ---------------------------------------------------------------- */

static int kasa_xor_attempt(struct kasa_link *l, const char *json, size_t len, int64_t deadline,
			    char **ret_reply, size_t *ret_len)
{
	_cleanup_free_ uint8_t *frame = NULL;
	size_t frame_len;
	char *reply = NULL;
	bool extra = false;
	int r;

	r = kasa_frame_encode(json, len, &frame, &frame_len);
	if (r < 0)
		return r == -EMSGSIZE ? -EINVAL : r;
	if (l->fd >= 0 && !kasa_idle_ok(l->fd))
		kasa_link_close(l);
	if (l->fd < 0) {
		r = kasa_connect(l->host, l->port, deadline);
		if (r < 0)
			return r;
		l->fd = r;
	}
	r = kasa_send_all(l->fd, frame, frame_len, deadline);
	if (r == -EPIPE)
		r = -ECONNRESET;   /* a send that failed: nothing reached the device */
	if (r >= 0) {
		r = kasa_recv_frame(l->fd, deadline, &reply, &extra);
		if (r == -ECONNRESET)
			r = -ECONNABORTED;   /* sent whole, closed unanswered: unknown */
	}
	if (r < 0 || extra)
		kasa_link_close(l);
	if (r < 0)
		return r;
	*ret_reply = reply;
	*ret_len = strlen(reply);
	return 0;
}

/* ---- KLAP --------------------------------------------------------------- */

static void kasa_session_expiry(struct kasa_link *l, int timeout_s)
{
	int64_t life = (int64_t)(timeout_s > 0 ? timeout_s : KASA_SESSION_DEFAULT_S) * 1000;
	int64_t margin = l->renew_margin_ms < life / 2 ? l->renew_margin_ms : life / 2;

	l->expires_ms = now_ms() + life - margin;
}

static int kasa_post(struct kasa_link *l, const char *path, const char *ctype, const void *body,
		     size_t len, int64_t deadline, struct kasa_http_reply *ret)
{
	/* AES devices want to see that an app asks (as python-kasa sends) */
	return kasa_http_post(&l->fd, l->host, l->port, path, l->cookie[0] ? l->cookie : NULL,
			      ctype, l->transport == KASA_TRANSPORT_AES ? "requestByApp: true\r\n" : "",
			      body, len, deadline, ret);
}

static int kasa_klap_handshake(struct kasa_link *l, int64_t deadline)
{
	struct kasa_http_reply rep = { 0 };
	uint8_t local[16], remote[16], hash[32], auth[32], hs2[32];
	size_t idx, alen;
	int version, r;

	kasa_link_close(l);
	r = kasa_random(local, sizeof(local));
	if (r < 0)
		return r;
	r = kasa_post(l, "/app/handshake1", "application/octet-stream", local, 16, deadline, &rep);
	if (r < 0)
		return r;
	if (rep.status != 200 || rep.len != 48) {
		r = rep.status == 404 ? -EPROTONOSUPPORT : -EPROTO;
		goto out;
	}
	memcpy(remote, rep.body, 16);
	memcpy(hash, rep.body + 16, 32);
	snprintf(l->cookie, sizeof(l->cookie), "%s", rep.cookie);
	r = kasa_klap_match(local, remote, hash, l->creds, l->n_creds, &idx, &version);
	if (r < 0)
		goto out;
	alen = kasa_klap_auth_hash(version, l->creds[idx].user, l->creds[idx].password, auth);
	kasa_klap_hs2(version, local, remote, auth, alen, hs2);
	kasa_session_expiry(l, rep.cookie_timeout_s);
	kasa_http_reply_clear(&rep);
	r = kasa_post(l, "/app/handshake2", "application/octet-stream", hs2, 32, deadline, &rep);
	if (r < 0)
		return r;
	if (rep.status != 200) {
		r = rep.status == 403 || rep.status == 401 ? -EACCES : -EPROTO;
		goto out;
	}
	kasa_klap_init(&l->klap, local, remote, auth, alen);
	l->klap_version = version;
	l->cred_index = idx;
	l->established = true;
out:
	kasa_http_reply_clear(&rep);
	return r;
}

static int kasa_klap_attempt(struct kasa_link *l, const char *json, size_t len, int64_t deadline,
			     char **ret_reply, size_t *ret_len)
{
	struct kasa_http_reply rep = { 0 };
	_cleanup_free_ uint8_t *msg = NULL;
	size_t msg_len;
	char path[48];
	int32_t seq;
	int r;

	if (!l->established || now_ms() >= l->expires_ms) {
		r = kasa_klap_handshake(l, deadline);
		if (r < 0)
			return r;
	}
	seq = (int32_t)((uint32_t)l->klap.seq + 1);
	l->klap.seq = seq;
	r = kasa_klap_seal(&l->klap, seq, json, len, &msg, &msg_len);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/app/request?seq=%d", (int)seq);
	r = kasa_post(l, path, "application/octet-stream", msg, msg_len, deadline, &rep);
	if (r == -EPROTO) {
		/* Some IOT firmware takes one request per session and answers
		 * the next with something that is not HTTP: a new session. */
		l->established = false;
		return -EKEYEXPIRED;
	}
	if (r < 0)
		return r;
	if (rep.status == 403 || rep.status == 401) {
		l->established = false;   /* the device ended the session */
		r = -EKEYEXPIRED;
	} else if (rep.status != 200) {
		r = -EPROTO;
	} else {
		r = kasa_klap_open(&l->klap, seq, false, rep.body, rep.len, ret_reply, ret_len);
		if (r < 0) {
			/* not under our key: a session the device dropped */
			l->established = false;
			r = -EKEYEXPIRED;
		}
	}
	if (r < 0 && r != -EKEYEXPIRED)
		kasa_link_close(l);
	kasa_http_reply_clear(&rep);
	return r;
}

/* ---- AES ---------------------------------------------------------------- */

/* POST one SMART JSON envelope to /app[?token=]; the reply's error_code and
 * result (new reference on *ret_root; *ret_result borrowed from it). */
static int kasa_aes_post(struct kasa_link *l, json_object *req, int64_t deadline,
			 json_object **ret_root, json_object **ret_result, int64_t *ret_code)
{
	struct kasa_http_reply rep = { 0 };
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char path[200];
	json_object *root, *v;
	int r;

	if (l->token[0])
		snprintf(path, sizeof(path), "/app?token=%s", l->token);
	else
		snprintf(path, sizeof(path), "/app");
	r = kasa_post(l, path, "application/json", text, strlen(text), deadline, &rep);
	if (r < 0)
		return r;
	if (rep.status == 403 || rep.status == 401) {
		kasa_http_reply_clear(&rep);
		l->established = false;
		return -EKEYEXPIRED;
	}
	if (rep.status != 200) {
		kasa_http_reply_clear(&rep);
		kasa_link_close(l);
		return rep.status == 404 ? -EPROTONOSUPPORT : -EPROTO;
	}
	if (!l->established && rep.cookie[0]) {   /* the handshake's cookie */
		snprintf(l->cookie, sizeof(l->cookie), "%s", rep.cookie);
		kasa_session_expiry(l, rep.cookie_timeout_s);
	}
	root = kasa_json_parse_object((const char *)rep.body, rep.len);
	kasa_http_reply_clear(&rep);
	if (!root || !json_object_object_get_ex(root, "error_code", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		json_object_put(root);
		kasa_link_close(l);
		return -EPROTO;
	}
	*ret_code = json_object_get_int64(v);
	*ret_result = NULL;
	if (json_object_object_get_ex(root, "result", &v) && json_object_is_type(v, json_type_object))
		*ret_result = v;
	*ret_root = root;
	return 0;
}

/* securePassthrough of plain text; 0 with the plain reply, or -errno (the
 * device's own error_code through *ret_code). */
static int kasa_aes_pass(struct kasa_link *l, const char *plain, int64_t deadline,
			 char **ret_reply, int64_t *ret_code)
{
	_cleanup_json_ json_object *req = json_object_new_object();
	_cleanup_json_ json_object *root = NULL;
	json_object *params = json_object_new_object(), *res, *v;
	_cleanup_free_ char *enc = NULL;
	int r;

	*ret_code = 0;
	if (!req || !params) {
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(req, "method", json_object_new_string("securePassthrough"));
	json_object_object_add(req, "params", params);
	r = kasa_aes_seal_b64(&l->aes, plain, &enc);
	if (r < 0)
		return r;
	json_object_object_add(params, "request", json_object_new_string(enc));
	r = kasa_aes_post(l, req, deadline, &root, &res, ret_code);
	if (r < 0)
		return r;
	if (*ret_code != 0)
		return *ret_code == KASA_SMART_SESSION_ERR ? -EKEYEXPIRED : kasa_smart_errno(*ret_code);
	if (!res || !json_object_object_get_ex(res, "response", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		kasa_link_close(l);
		return -EPROTO;
	}
	if (kasa_aes_open_b64(&l->aes, json_object_get_string(v), ret_reply) == 0)
		return 0;
	/* Some firmware answers unencrypted inside the passthrough. */
	if (kasa_json_parse_object_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
		*ret_reply = strdup(json_object_get_string(v));
		return *ret_reply ? 0 : -ENOMEM;
	}
	kasa_link_close(l);
	return -EPROTO;
}

/* login_device with one credential in one login version: 0 with the
 * token stored, -EACCES when refused, or another -errno. */
static int kasa_aes_login(struct kasa_link *l, const struct kasa_cred *c, int version,
			  int64_t deadline)
{
	_cleanup_json_ json_object *req = json_object_new_object();
	_cleanup_json_ json_object *reply = NULL;
	_cleanup_free_ char *u64 = NULL, *p64 = NULL, *text = NULL;
	json_object *params = json_object_new_object(), *res, *tok;
	char uhex[41], phex[41];
	uint8_t h[20];
	int64_t code;
	int r;

	if (!req || !params) {
		json_object_put(params);
		return -ENOMEM;
	}
	kasa_sha1v(&(struct kasa_iov){ c->user, strlen(c->user) }, 1, h);
	kasa_hex(h, 20, uhex);
	u64 = kasa_base64_encode((const uint8_t *)uhex, 40);
	if (version == 2) {
		kasa_sha1v(&(struct kasa_iov){ c->password, strlen(c->password) }, 1, h);
		kasa_hex(h, 20, phex);
		p64 = kasa_base64_encode((const uint8_t *)phex, 40);
	} else {
		p64 = kasa_base64_encode((const uint8_t *)c->password, strlen(c->password));
	}
	if (!u64 || !p64) {
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(params, "username", json_object_new_string(u64));
	json_object_object_add(params, version == 2 ? "password2" : "password",
			       json_object_new_string(p64));
	json_object_object_add(req, "method", json_object_new_string("login_device"));
	json_object_object_add(req, "params", params);
	json_object_object_add(req, "request_time_milis", json_object_new_int64(now_ms()));
	r = kasa_aes_pass(l, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), deadline,
			  &text, &code);
	if (r < 0)
		return r;
	reply = kasa_json_parse_object(text, strlen(text));
	r = kasa_smart_result(reply, &res, &code);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(res, "token", &tok) || !json_object_is_type(tok, json_type_string) ||
	    json_object_get_string_len(tok) == 0 ||
	    (size_t)json_object_get_string_len(tok) >= sizeof(l->token))
		return -EPROTO;
	for (const char *p = json_object_get_string(tok); *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return -EPROTO;   /* it goes into our request line */
	snprintf(l->token, sizeof(l->token), "%s", json_object_get_string(tok));
	return 0;
}

/* The RSA key exchange: a fresh cookie and session key and IV. */
static int kasa_aes_exchange(struct kasa_link *l, int64_t deadline)
{
	_cleanup_json_ json_object *req = json_object_new_object();
	_cleanup_json_ json_object *root = NULL;
	_cleanup_free_ char *pem = NULL;
	_cleanup_free_ uint8_t *enc = NULL, *keyiv = NULL;
	json_object *params = json_object_new_object(), *res, *key;
	size_t enc_len, kl;
	int64_t code;
	int r;

	kasa_link_close(l);
	if (!req || !params) {
		json_object_put(params);
		return -ENOMEM;
	}
	if (!l->rsa)
		l->rsa = kasa_rsa_new();
	pem = l->rsa ? kasa_rsa_public_pem(l->rsa) : NULL;
	if (!pem) {
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(params, "key", json_object_new_string(pem));
	json_object_object_add(req, "method", json_object_new_string("handshake"));
	json_object_object_add(req, "params", params);
	r = kasa_aes_post(l, req, deadline, &root, &res, &code);
	if (r < 0)
		return r;
	if (code != 0)
		return kasa_smart_errno(code) == -EACCES ? -EACCES : -EPROTO;
	if (!res || !json_object_object_get_ex(res, "key", &key) || !json_object_is_type(key, json_type_string) ||
	    kasa_base64_decode(json_object_get_string(key), (size_t)json_object_get_string_len(key),
			       &enc, &enc_len) < 0 ||
	    kasa_rsa_decrypt(l->rsa, enc, enc_len, &keyiv, &kl) < 0 || kl != 32) {
		kasa_link_close(l);
		return -EPROTO;
	}
	memcpy(l->aes.key, keyiv, 16);
	memcpy(l->aes.iv, keyiv + 16, 16);
	return 0;
}

/* Key exchange and login: each candidate in both login versions until one
 * is taken, each try on a fresh exchange (after a refused login a device
 * answers the next one on that session with 9999). */
static int kasa_aes_handshake(struct kasa_link *l, int64_t deadline)
{
	for (size_t i = 0; i < l->n_creds; i++) {
		for (int v = 2; v >= 1; v--) {
			int r = kasa_aes_exchange(l, deadline);

			if (r < 0)
				return r;
			r = kasa_aes_login(l, &l->creds[i], v, deadline);
			if (r == 0) {
				l->cred_index = i;
				l->established = true;
				return 0;
			}
			if (r != -EACCES)
				return r;
		}
	}
	kasa_link_close(l);
	return -EACCES;
}

static int kasa_aes_attempt(struct kasa_link *l, const char *json, size_t len, int64_t deadline,
			    char **ret_reply, size_t *ret_len)
{
	int64_t code;
	int r;

	(void)len;
	if (!l->established || now_ms() >= l->expires_ms) {
		r = kasa_aes_handshake(l, deadline);
		if (r < 0)
			return r;
	}
	r = kasa_aes_pass(l, json, deadline, ret_reply, &code);
	if (r == -EKEYEXPIRED)
		l->established = false;
	if (r < 0)
		return r;
	*ret_len = strlen(*ret_reply);
	return 0;
}

int kasa_link_establish(struct kasa_link *l, int64_t deadline)
{
	if (l->established && now_ms() < l->expires_ms)
		return 0;
	switch (l->transport) {
	case KASA_TRANSPORT_XOR:
		return 0;
	case KASA_TRANSPORT_KLAP:
		return kasa_klap_handshake(l, deadline);
	case KASA_TRANSPORT_AES:
		return kasa_aes_handshake(l, deadline);
	default:
		return -EINVAL;
	}
}

int kasa_link_attempt(struct kasa_link *l, const char *json, size_t len, int64_t deadline,
		      char **ret_reply, size_t *ret_len)
{
	bool was_open = l->fd >= 0;
	int r;

	switch (l->transport) {
	case KASA_TRANSPORT_XOR:
		r = kasa_xor_attempt(l, json, len, deadline, ret_reply, ret_len);
		break;
	case KASA_TRANSPORT_KLAP:
		r = kasa_klap_attempt(l, json, len, deadline, ret_reply, ret_len);
		break;
	case KASA_TRANSPORT_AES:
		r = kasa_aes_attempt(l, json, len, deadline, ret_reply, ret_len);
		break;
	default:
		return -EINVAL;
	}
	/* A connection made for this attempt replaces an earlier one (metrics). */
	if (!was_open && l->fd >= 0) {
		if (l->connected_once)
			stats_reconnect(STATS_KASA);
		l->connected_once = true;
	}
	return r;
}
