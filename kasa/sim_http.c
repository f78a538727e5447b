/* sim_http.c — kasa-sim's newer device: KLAP (v1 or v2) or AES "secure
 * passthrough" over HTTP, the SMART personality, and UDP 20002 discovery.
 *
 * HTTP is libmicrohttpd in external epoll mode: its epoll fd sits in the
 * simulator's one ppoll() loop (sim.c) and MHD_run() does the work, so the
 * whole simulator stays one thread. Each request's body is gathered, then
 * answered as the device would:
 *   KLAP  /app/handshake1 (our remote seed + the hash over both seeds and
 *         our credentials, TP_SESSIONID cookie with TIMEOUT),
 *         /app/handshake2 (403 unless the client proved the same
 *         credentials), /app/request?seq=N (403 without a live session;
 *         the payload decrypted, answered, encrypted with the same seq).
 *   AES   /app {"method":"handshake"} (the session key and IV encrypted to
 *         the client's RSA key), then securePassthrough: login_device
 *         (-1501 for a wrong account) and requests with ?token= (9999 for
 *         a session we no longer know).
 * The inner requests are the IOT JSON of sim.c or, with a SMART fixture
 * (get_device_info, get_child_device_list, control_child, multipleRequest,
 * get_current_power, get_energy_usage, set_device_info ...), answered here
 * from the fixture with live state: device_on per outlet, nicknames (base64),
 * meters. Misbehaviour modes apply: silent (the connection is suspended
 * and never answered), close, garbage, slow (suspended until due),
 * oversize. "expire" on the control port drops every session.
 *
 * Discovery: a 16-byte probe on the discovery port gets a 16-byte header
 * and the fixture's discovery_result with our address, port, device id. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "sim.h"

#define SIM_SESSIONS 32
#define SIM_MAX_BODY (1024 * 1024)
#define SIM_MAX_SUSPENDED 64

struct sim_session {
	bool used;
	bool ready;            /* KLAP: handshake2 done; AES: logged in */
	char id[33];
	int64_t expires_ms;
	int64_t made_ms;
	uint8_t local[16], remote[16];
	struct kasa_klap klap;
	struct kasa_aes aes;
	char token[33];
};

struct sim_req {
	char *body;
	size_t len;
	bool failed;
	struct MHD_Response *pending;   /* slow mode: queued when due */
	int pending_status;
	int64_t due;
	bool suspended;
	struct MHD_Connection *conn;
};

struct sim_http {
	struct MHD_Daemon *mhd;
	uint8_t auth[32];
	size_t auth_len;
	struct sim_session sessions[SIM_SESSIONS];
	struct sim_req *suspended[SIM_MAX_SUSPENDED];
	size_t n_suspended;
};

/* ---- the SMART personality ------------------------------------------------------ */

static char *sim_b64(const char *s)
{
	return kasa_base64_encode((const uint8_t *)s, strlen(s));
}

/* A decoded nickname, or dflt when it is the fixtures' mask or unreadable. */
static char *sim_nickname(json_object *o, const char *dflt)
{
	json_object *n = sim_get(o, "nickname", json_type_string);
	uint8_t *dec = NULL;
	size_t len;

	if (n && kasa_base64_decode(json_object_get_string(n), (size_t)json_object_get_string_len(n),
				    &dec, &len) == 0 && len > 0 && strlen((char *)dec) == len &&
	    strcmp((char *)dec, "#MASKED_NAME#") != 0)
		return (char *)dec;
	free(dec);
	return strdup(dflt);
}

static int sim_pos_cmp(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
	double px = sim_num(x, "position", 0), py = sim_num(y, "position", 0);

	return px < py ? -1 : px > py;
}

static bool sim_smart_has(struct sim *s, const char *component)
{
	json_object *nego = sim_get(s->smart, "component_nego", json_type_object);
	json_object *list = sim_get(nego, "component_list", json_type_array);

	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *id = sim_get(json_object_array_get_idx(list, i), "id", json_type_string);

		if (id && strcmp(json_object_get_string(id), component) == 0)
			return true;
	}
	return false;
}

/* The fixture's child with position pos (1-based), or NULL. Borrowed. */
static json_object *sim_smart_child_tmpl(struct sim *s, size_t pos)
{
	json_object *cl = sim_get(s->smart, "get_child_device_list", json_type_object);
	json_object *list = sim_get(cl, "child_device_list", json_type_array);
	json_object *sorted[SIM_MAX_OUTLETS];
	size_t n = list ? json_object_array_length(list) : 0;

	if (n > SIM_MAX_OUTLETS || pos == 0 || pos > n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_object_array_get_idx(list, i);
	qsort(sorted, n, sizeof(*sorted), sim_pos_cmp);
	return sorted[pos - 1];
}

int sim_smart_load(struct sim *s, json_object *root, const char *path, int64_t now)
{
	json_object *info = sim_get(root, "get_device_info", json_type_object);
	json_object *cl = sim_get(root, "get_child_device_list", json_type_object);
	json_object *list = sim_get(cl, "child_device_list", json_type_array);
	json_object *led = sim_get(root, "get_led_info", json_type_object);
	json_object *rule = sim_get(led, "led_rule", json_type_string);
	json_object *kids = sim_get(root, "child_devices", json_type_object);
	size_t n = list ? json_object_array_length(list) : 0;

	if (!info || !sim_get(info, "model", json_type_string)) {
		fprintf(stderr, "kasa-sim: %s: no get_device_info with a model\n", path);
		return -EINVAL;
	}
	if (n > SIM_MAX_OUTLETS) {
		fprintf(stderr, "kasa-sim: %s: more than %d children\n", path, SIM_MAX_OUTLETS);
		return -EINVAL;
	}
	s->smart = json_object_get(root);
	s->units = sim_smart_has(s, "energy_monitoring") ? SIM_UNITS_NEW : SIM_UNITS_NONE;
	s->led_off = rule && strcmp(json_object_get_string(rule), "never") == 0;
	if (!s->alias)
		s->alias = sim_nickname(info, "Kasa device");
	if (n > 0) {
		s->strip = true;
		s->n_outlets = n;
		for (size_t i = 0; i < n; i++) {
			json_object *c = sim_smart_child_tmpl(s, i + 1), *on, *id, *kid, *pw;
			char dflt[32];

			snprintf(dflt, sizeof(dflt), "Plug %zu", i + 1);
			on = sim_get(c, "device_on", json_type_boolean);
			sim_outlet_init(&s->outlets[i], i, on && json_object_get_boolean(on), now);
			s->outlets[i].alias = sim_nickname(c, dflt);
			id = sim_get(c, "device_id", json_type_string);
			kid = id ? sim_get(kids, json_object_get_string(id), json_type_object) : NULL;
			pw = sim_get(kid, "get_current_power", json_type_object);
			if (sim_num(pw, "current_power", 0) > 0)
				s->outlets[i].base_mw = sim_num(pw, "current_power", 0) * 1000;
		}
	} else {
		json_object *on = sim_get(info, "device_on", json_type_boolean);
		json_object *pw = sim_get(root, "get_current_power", json_type_object);

		s->strip = false;
		s->n_outlets = 1;
		sim_outlet_init(&s->outlets[0], 0, on && json_object_get_boolean(on), now);
		if (sim_num(pw, "current_power", 0) > 0)
			s->outlets[0].base_mw = sim_num(pw, "current_power", 0) * 1000;
	}
	return 0;
}

static json_object *sim_smart_err(int64_t code)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error_code", json_object_new_int64(code));
	return o;
}

static json_object *sim_smart_ok(json_object *result)
{
	json_object *o = sim_smart_err(0);

	json_object_object_add(o, "result", result ? result : json_object_new_object());
	return o;
}

static json_object *sim_copy(json_object *o)
{
	json_object *c = NULL;

	if (o)
		json_object_deep_copy(o, &c, NULL);
	return c ? c : json_object_new_object();
}

static void sim_put_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static void sim_put_nickname(json_object *o, const char *name)
{
	char *b = sim_b64(name ? name : "");

	sim_put_str(o, "nickname", b ? b : "");
	free(b);
}

static void sim_dash_mac(const struct sim *s, char out[18])
{
	snprintf(out, 18, "%s", s->mac);
	for (char *p = out; *p; p++)
		if (*p == ':')
			*p = '-';
}

static json_object *sim_smart_child_info(struct sim *s, size_t i)
{
	json_object *c = sim_copy(sim_smart_child_tmpl(s, i + 1));

	sim_put_str(c, "device_id", s->outlets[i].id);
	sim_put_nickname(c, s->outlets[i].alias);
	json_object_object_add(c, "device_on", json_object_new_boolean(s->outlets[i].on));
	json_object_object_add(c, "position", json_object_new_int((int)i + 1));
	return c;
}

static json_object *sim_smart_device_info(struct sim *s)
{
	json_object *o = sim_copy(sim_get(s->smart, "get_device_info", json_type_object));
	char mac[18];

	sim_dash_mac(s, mac);
	sim_put_str(o, "device_id", s->device_id);
	sim_put_str(o, "mac", mac);
	sim_put_nickname(o, s->alias);
	if (!s->strip)
		json_object_object_add(o, "device_on", json_object_new_boolean(s->outlets[0].on));
	return o;
}

/* Meter results of outlet i (or of the whole device, summed, for -1). */
static json_object *sim_smart_power(struct sim *s, long i, int64_t now, bool energy)
{
	json_object *tmpl = sim_get(s->smart, energy ? "get_energy_usage" : "get_current_power",
				    json_type_object);
	json_object *o = sim_copy(tmpl);
	double mw_sum = 0, mv, ma, mw;

	for (size_t k = 0; k < s->n_outlets; k++) {
		if (i >= 0 && (size_t)i != k)
			continue;
		sim_meter(&s->outlets[k], now, k, &mw, &mv, &ma);
		mw_sum += mw;
	}
	if (energy) {
		json_object_object_add(o, "current_power", json_object_new_int64(sim_round(mw_sum)));
	} else {
		json_object_object_add(o, "current_power", json_object_new_int64(sim_round(mw_sum / 1000)));
	}
	return o;
}

static json_object *sim_smart_method(struct sim *s, const char *method, json_object *params,
				     long child, int64_t now, int depth);

static json_object *sim_smart_multi(struct sim *s, json_object *params, long child, int64_t now,
				    int depth)
{
	json_object *list = sim_get(params, "requests", json_type_array), *out, *res;

	if (!list || depth > 2)
		return sim_smart_err(-1008);
	out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(list) && i < 32; i++) {
		json_object *rq = json_object_array_get_idx(list, i);
		json_object *m = sim_get(rq, "method", json_type_string), *p = NULL, *one, *v;

		json_object_object_get_ex(rq, "params", &p);
		one = m ? sim_smart_method(s, json_object_get_string(m), p, child, now, depth + 1) :
			  sim_smart_err(-1008);
		json_object_object_add(one, "method", json_object_new_string(m ? json_object_get_string(m) : ""));
		/* responses carry error_code and result like any reply */
		if (!json_object_object_get_ex(one, "result", &v) && json_object_object_get_ex(one, "error_code", &v) &&
		    json_object_get_int64(v) == 0)
			json_object_object_add(one, "result", json_object_new_object());
		json_object_array_add(out, one);
	}
	res = json_object_new_object();
	json_object_object_add(res, "responses", out);
	return sim_smart_ok(res);
}

static json_object *sim_smart_method(struct sim *s, const char *method, json_object *params,
				     long child, int64_t now, int depth)
{
	json_object *v;

	if (s->fail_method[0] && strcmp(method, s->fail_method) == 0)
		return sim_smart_err(s->fail_code);
	if (strcmp(method, "multipleRequest") == 0)
		return sim_smart_multi(s, params, child, now, depth);
	if (strcmp(method, "control_child") == 0) {
		json_object *id = sim_get(params, "device_id", json_type_string);
		json_object *rd = sim_get(params, "requestData", json_type_object);
		json_object *m = sim_get(rd, "method", json_type_string), *p = NULL, *res;
		long k = -1;

		for (size_t i = 0; id && i < s->n_outlets && s->strip; i++)
			if (strcmp(s->outlets[i].id, json_object_get_string(id)) == 0)
				k = (long)i;
		if (k < 0 || !m || child >= 0 || depth > 1)
			return sim_smart_err(-1008);
		json_object_object_get_ex(rd, "params", &p);
		res = json_object_new_object();
		json_object_object_add(res, "responseData",
				       sim_smart_method(s, json_object_get_string(m), p, k, now, depth + 1));
		return sim_smart_ok(res);
	}
	if (strcmp(method, "get_device_info") == 0)
		return sim_smart_ok(child >= 0 ? sim_smart_child_info(s, (size_t)child) :
					       sim_smart_device_info(s));
	if (strcmp(method, "component_nego") == 0)
		return sim_smart_ok(sim_copy(sim_get(s->smart, "component_nego", json_type_object)));
	if (strcmp(method, "get_child_device_list") == 0 && child < 0 && s->strip) {
		json_object *res = json_object_new_object(), *list = json_object_new_array();
		double start = sim_num(params, "start_index", 0);

		if (start < 0 || start > SIM_MAX_OUTLETS)
			start = SIM_MAX_OUTLETS;
		for (size_t i = (size_t)start; i < s->n_outlets && i < (size_t)start + s->page_size; i++)
			json_object_array_add(list, sim_smart_child_info(s, i));
		json_object_object_add(res, "child_device_list", list);
		json_object_object_add(res, "start_index", json_object_new_int((int)start));
		json_object_object_add(res, "sum", json_object_new_int((int)s->n_outlets));
		return sim_smart_ok(res);
	}
	if ((strcmp(method, "get_current_power") == 0 || strcmp(method, "get_energy_usage") == 0) &&
	    s->units != SIM_UNITS_NONE)
		return sim_smart_ok(sim_smart_power(s, child >= 0 ? child : s->strip ? -1 : 0, now,
						    method[4] == 'e'));
	if (strcmp(method, "get_led_info") == 0 && child < 0 && sim_get(s->smart, "get_led_info", json_type_object)) {
		json_object *o = sim_copy(sim_get(s->smart, "get_led_info", json_type_object));

		sim_put_str(o, "led_rule", s->led_off ? "never" : "always");
		return sim_smart_ok(o);
	}
	if (strcmp(method, "set_led_info") == 0 && child < 0) {
		json_object *r = sim_get(params, "led_rule", json_type_string);

		if (!r)
			return sim_smart_err(-1008);
		s->led_off = strcmp(json_object_get_string(r), "never") == 0;
		return sim_smart_ok(NULL);
	}
	if (strcmp(method, "set_device_info") == 0) {
		json_object *on = sim_get(params, "device_on", json_type_boolean);
		json_object *nick = sim_get(params, "nickname", json_type_string);
		size_t k = child >= 0 ? (size_t)child : 0;

		if (!on && !nick)
			return sim_smart_err(-1008);
		if (on && (child >= 0 || !s->strip))
			sim_set_on(&s->outlets[k], json_object_get_boolean(on), now);
		else if (on)
			return sim_smart_err(-1008);   /* a strip switches through its children */
		if (nick) {
			uint8_t *dec = NULL;
			size_t len;

			if (kasa_base64_decode(json_object_get_string(nick),
					       (size_t)json_object_get_string_len(nick), &dec, &len) < 0 ||
			    len == 0 || len > 64 || strlen((char *)dec) != len) {
				free(dec);
				return sim_smart_err(-1008);
			}
			if (child >= 0) {
				free(s->outlets[k].alias);
				s->outlets[k].alias = (char *)dec;
			} else {
				free(s->alias);
				s->alias = (char *)dec;
			}
		}
		return sim_smart_ok(NULL);
	}
	if (strcmp(method, "device_reboot") == 0 && child < 0) {
		double d = sim_num(params, "delay", -1);

		return d < 0 ? sim_smart_err(-1008) : sim_smart_ok(NULL);
	}
	/* Anything else the fixture recorded, as it is. */
	if (child < 0 && (v = sim_get(s->smart, method, json_type_object)) && strncmp(method, "get_", 4) == 0)
		return sim_smart_ok(sim_copy(v));
	return sim_smart_err(-1002);
}

/* One SMART request text -> reply text (malloc'd). */
static char *sim_smart_answer(struct sim *s, const char *text, int64_t now)
{
	_cleanup_json_ json_object *req = kasa_json_parse_object(text, strlen(text));
	_cleanup_json_ json_object *rep = NULL;
	json_object *m = sim_get(req, "method", json_type_string), *p = NULL;

	json_object_object_get_ex(req, "params", &p);
	rep = m ? sim_smart_method(s, json_object_get_string(m), p, -1, now, 0) : sim_smart_err(-1003);
	return strdup(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN));
}

/* The inner request, answered in the device's protocol. */
static char *sim_inner_answer(struct sim *s, const char *text, int64_t now)
{
	sim_record(s, text);
	if (s->smart)
		return sim_smart_answer(s, text, now);
	return sim_answer(s, text, now);
}

/* ---- sessions ---------------------------------------------------------------------- */

static struct sim_session *sim_session_new(struct sim *s)
{
	struct sim_http *h = s->http;
	struct sim_session *best = &h->sessions[0];
	uint8_t id[16];

	for (size_t i = 0; i < SIM_SESSIONS; i++) {
		if (!h->sessions[i].used) {
			best = &h->sessions[i];
			break;
		}
		if (h->sessions[i].made_ms < best->made_ms)
			best = &h->sessions[i];
	}
	memset(best, 0, sizeof(*best));
	kasa_random(id, sizeof(id));
	kasa_hex(id, sizeof(id), best->id);
	best->used = true;
	best->made_ms = now_ms();
	best->expires_ms = best->made_ms + (int64_t)s->session_timeout_s * 1000;
	return best;
}

static struct sim_session *sim_session_find(struct sim *s, struct MHD_Connection *conn)
{
	const char *id = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "TP_SESSIONID");
	int64_t now = now_ms();

	for (size_t i = 0; id && i < SIM_SESSIONS; i++) {
		struct sim_session *ss = &s->http->sessions[i];

		if (ss->used && strcmp(ss->id, id) == 0) {
			if (now >= ss->expires_ms) {
				ss->used = false;
				return NULL;
			}
			return ss;
		}
	}
	return NULL;
}

int sim_http_account(struct sim *s, const char *user, const char *password)
{
	char *u, *p;

	if (!s->http)
		return -EINVAL;
	u = strdup(user);
	p = strdup(password);
	if (!u || !p) {
		free(u);
		free(p);
		return -ENOMEM;
	}
	free(s->account_user);
	free(s->account_password);
	s->username = s->account_user = u;
	s->password = s->account_password = p;
	s->http->auth_len = kasa_klap_auth_hash(s->klap_version, u, p, s->http->auth);
	sim_http_expire(s);
	return 0;
}

void sim_http_expire(struct sim *s)
{
	if (!s->http)
		return;
	for (size_t i = 0; i < SIM_SESSIONS; i++)
		s->http->sessions[i].used = false;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

static struct MHD_Response *sim_resp(const void *data, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
}

static void sim_cookie(struct sim *s, struct MHD_Response *r, const struct sim_session *ss)
{
	char c[96];

	snprintf(c, sizeof(c), "TP_SESSIONID=%s;TIMEOUT=%d", ss->id, s->session_timeout_s);
	MHD_add_response_header(r, "Set-Cookie", c);
}

static struct MHD_Response *sim_klap(struct sim *s, struct MHD_Connection *conn, const char *url,
				     const struct sim_req *rq, int *status, int64_t now)
{
	struct sim_http *h = s->http;
	struct sim_session *ss;

	*status = 200;
	if (strcmp(url, "/app/handshake1") == 0) {
		uint8_t out[48];
		struct MHD_Response *r;

		sim_record(s, "{\"klap\":\"handshake1\"}");
		if (rq->len != 16) {
			*status = 400;
			return sim_resp("", 0);
		}
		ss = sim_session_new(s);
		memcpy(ss->local, rq->body, 16);
		kasa_random(ss->remote, 16);
		memcpy(out, ss->remote, 16);
		kasa_klap_hs1(s->klap_version, ss->local, ss->remote, h->auth, h->auth_len, out + 16);
		r = sim_resp(out, sizeof(out));
		sim_cookie(s, r, ss);
		return r;
	}
	ss = sim_session_find(s, conn);
	if (strcmp(url, "/app/handshake2") == 0) {
		uint8_t want[32];

		sim_record(s, "{\"klap\":\"handshake2\"}");
		if (!ss || rq->len != 32) {
			*status = 403;
			return sim_resp("", 0);
		}
		kasa_klap_hs2(s->klap_version, ss->local, ss->remote, h->auth, h->auth_len, want);
		if (memcmp(want, rq->body, 32) != 0) {
			ss->used = false;
			*status = 403;
			sim_logf(s, "klap: handshake2 with other credentials refused");
			return sim_resp("", 0);
		}
		kasa_klap_init(&ss->klap, ss->local, ss->remote, h->auth, h->auth_len);
		ss->ready = true;
		return sim_resp("", 0);
	}
	if (strcmp(url, "/app/request") == 0) {
		const char *seq_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seq");
		_cleanup_free_ char *plain = NULL, *reply = NULL;
		_cleanup_free_ uint8_t *sealed = NULL;
		size_t plain_len, sealed_len;
		char *end;
		long seq;

		if (!ss || !ss->ready || !seq_s) {
			*status = 403;
			return sim_resp("", 0);
		}
		errno = 0;
		seq = strtol(seq_s, &end, 10);
		if (errno || *end || seq < INT32_MIN || seq > INT32_MAX ||
		    kasa_klap_open(&ss->klap, (int32_t)seq, true, (const uint8_t *)rq->body, rq->len,
				   &plain, &plain_len) < 0) {
			*status = 400;
			return sim_resp("", 0);
		}
		reply = sim_inner_answer(s, plain, now);
		if (!reply || kasa_klap_seal(&ss->klap, (int32_t)seq, reply, strlen(reply), &sealed,
					     &sealed_len) < 0) {
			*status = 500;
			return sim_resp("", 0);
		}
		return sim_resp(sealed, sealed_len);
	}
	*status = 404;
	return sim_resp("", 0);
}

/* AES: the JSON envelope's answer. */
static json_object *sim_aes_envelope(struct sim *s, struct MHD_Connection *conn,
				     const struct sim_req *rq, struct sim_session **ret_new, int64_t now)
{
	_cleanup_json_ json_object *req = kasa_json_parse_object(rq->body, rq->len);
	json_object *m = sim_get(req, "method", json_type_string);
	json_object *params = sim_get(req, "params", json_type_object);
	struct sim_session *ss;

	if (!m || !params)
		return sim_smart_err(-1003);
	if (strcmp(json_object_get_string(m), "handshake") == 0) {
		json_object *key = sim_get(params, "key", json_type_string), *res;
		uint8_t keyiv[32];
		_cleanup_free_ uint8_t *enc = NULL;
		_cleanup_free_ char *b64 = NULL;
		size_t enc_len;

		sim_record(s, "{\"aes\":\"handshake\"}");
		kasa_random(keyiv, sizeof(keyiv));
		if (!key || kasa_rsa_encrypt_pem(json_object_get_string(key), keyiv, 32, &enc, &enc_len) < 0)
			return sim_smart_err(-1010);
		b64 = kasa_base64_encode(enc, enc_len);
		ss = sim_session_new(s);
		memcpy(ss->aes.key, keyiv, 16);
		memcpy(ss->aes.iv, keyiv + 16, 16);
		*ret_new = ss;
		res = json_object_new_object();
		sim_put_str(res, "key", b64 ? b64 : "");
		return sim_smart_ok(res);
	}
	if (strcmp(json_object_get_string(m), "securePassthrough") == 0) {
		json_object *enc = sim_get(params, "request", json_type_string), *res;
		_cleanup_json_ json_object *inner = NULL;
		_cleanup_free_ char *plain = NULL, *reply = NULL, *sealed = NULL;
		const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
		json_object *im;

		ss = sim_session_find(s, conn);
		if (!ss)
			return sim_smart_err(9999);
		if (!enc || kasa_aes_open_b64(&ss->aes, json_object_get_string(enc), &plain) < 0)
			return sim_smart_err(-1005);
		inner = kasa_json_parse_object(plain, strlen(plain));
		im = sim_get(inner, "method", json_type_string);
		if (im && strcmp(json_object_get_string(im), "login_device") == 0) {
			json_object *ip = sim_get(inner, "params", json_type_object), *out;
			json_object *u = sim_get(ip, "username", json_type_string);
			json_object *p1 = sim_get(ip, "password", json_type_string);
			json_object *p2 = sim_get(ip, "password2", json_type_string);
			char uhex[41], phex[41];
			uint8_t hh[20], tok[16];
			_cleanup_free_ char *u64 = NULL, *p64 = NULL, *p264 = NULL;

			sim_record(s, "{\"aes\":\"login_device\"}");
			kasa_sha1v(&(struct kasa_iov){ s->username, strlen(s->username) }, 1, hh);
			kasa_hex(hh, 20, uhex);
			kasa_sha1v(&(struct kasa_iov){ s->password, strlen(s->password) }, 1, hh);
			kasa_hex(hh, 20, phex);
			u64 = kasa_base64_encode((const uint8_t *)uhex, 40);
			p64 = sim_b64(s->password);
			p264 = kasa_base64_encode((const uint8_t *)phex, 40);
			if (!u || strcmp(json_object_get_string(u), u64 ? u64 : "") != 0 ||
			    !((p1 && strcmp(json_object_get_string(p1), p64 ? p64 : "") == 0) ||
			      (p2 && strcmp(json_object_get_string(p2), p264 ? p264 : "") == 0))) {
				sim_logf(s, "aes: login_device with other credentials refused");
				out = sim_smart_err(-1501);
				ss->used = false;   /* as devices do: the next try needs a new handshake */
			} else {
				kasa_random(tok, sizeof(tok));
				kasa_hex(tok, sizeof(tok), ss->token);
				ss->ready = true;
				res = json_object_new_object();
				sim_put_str(res, "token", ss->token);
				out = sim_smart_ok(res);
			}
			reply = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
			json_object_put(out);
		} else {
			if (!ss->ready || !token || strcmp(token, ss->token) != 0)
				return sim_smart_err(9999);
			reply = sim_inner_answer(s, plain, now);
		}
		if (!reply || kasa_aes_seal_b64(&ss->aes, reply, &sealed) < 0)
			return sim_smart_err(-1001);
		res = json_object_new_object();
		sim_put_str(res, "response", sealed);
		return sim_smart_ok(res);
	}
	return sim_smart_err(-1002);
}

static struct MHD_Response *sim_aes(struct sim *s, struct MHD_Connection *conn, const char *url,
				    const struct sim_req *rq, int *status, int64_t now)
{
	struct sim_session *fresh = NULL;
	json_object *env;
	struct MHD_Response *r;
	const char *text;

	*status = 200;
	if (strcmp(url, "/app") != 0) {
		*status = 404;
		return sim_resp("", 0);
	}
	env = sim_aes_envelope(s, conn, rq, &fresh, now);
	text = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN);
	r = sim_resp(text, strlen(text));
	json_object_put(env);
	if (fresh && r)
		sim_cookie(s, r, fresh);
	return r;
}

static void sim_suspend(struct sim *s, struct sim_req *rq)
{
	struct sim_http *h = s->http;

	if (h->n_suspended >= SIM_MAX_SUSPENDED)
		return;
	MHD_suspend_connection(rq->conn);
	rq->suspended = true;
	h->suspended[h->n_suspended++] = rq;
}

static enum MHD_Result sim_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
					const char *method, const char *version,
					const char *upload, size_t *upload_size, void **con_cls)
{
	struct sim *s = cls;
	struct sim_req *rq = *con_cls;
	struct MHD_Response *resp;
	int64_t now = now_ms();
	int status;
	enum MHD_Result ret;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->conn = conn;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->failed && rq->len + *upload_size <= SIM_MAX_BODY) {
			char *n = realloc(rq->body, rq->len + *upload_size + 1);

			if (n) {
				rq->body = n;
				memcpy(rq->body + rq->len, upload, *upload_size);
				rq->len += *upload_size;
				rq->body[rq->len] = '\0';
			} else {
				rq->failed = true;
			}
		} else {
			rq->failed = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->pending) {   /* slow mode: resumed, and due */
		ret = MHD_queue_response(conn, (unsigned)rq->pending_status, rq->pending);
		MHD_destroy_response(rq->pending);
		rq->pending = NULL;
		return ret;
	}
	if (rq->suspended)
		return MHD_YES;   /* silent: never answered */
	if (strcmp(method, "POST") != 0 || rq->failed || !rq->body) {
		status = rq->failed ? 413 : strcmp(method, "POST") != 0 ? 405 : 400;
		resp = sim_resp("", 0);
	} else if (s->mode == SIM_MODE_CLOSE) {
		sim_record(s, "{\"http\":\"closed\"}");
		return MHD_NO;
	} else if (s->mode == SIM_MODE_SILENT) {
		sim_record(s, "{\"http\":\"silent\"}");
		sim_suspend(s, rq);
		return MHD_YES;
	} else if (s->mode == SIM_MODE_GARBAGE) {
		static const char g[] = "<html>this is not a Kasa reply {{{";

		status = 200;
		resp = sim_resp(g, sizeof(g) - 1);
	} else if (s->mode == SIM_MODE_OVERSIZE) {
		size_t n = KASA_MAX_FRAME + 64;
		char *big = malloc(n);

		if (!big)
			return MHD_NO;
		memset(big, 'x', n);
		status = 200;
		resp = MHD_create_response_from_buffer(n, big, MHD_RESPMEM_MUST_FREE);
	} else if (s->transport == KASA_TRANSPORT_KLAP) {
		resp = sim_klap(s, conn, url, rq, &status, now);
	} else {
		resp = sim_aes(s, conn, url, rq, &status, now);
	}
	if (!resp)
		return MHD_NO;
	if (s->mode == SIM_MODE_SLOW) {
		rq->pending = resp;
		rq->pending_status = status;
		rq->due = now + s->slow_ms;
		sim_suspend(s, rq);
		return MHD_YES;
	}
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void sim_http_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct sim *s = cls;
	struct sim_req *rq = *con_cls;

	(void)conn;
	(void)toe;
	if (!rq)
		return;
	for (size_t i = 0; s->http && i < s->http->n_suspended; i++)
		if (s->http->suspended[i] == rq) {
			s->http->suspended[i] = s->http->suspended[--s->http->n_suspended];
			break;
		}
	if (rq->pending)
		MHD_destroy_response(rq->pending);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

int sim_http_start(struct sim *s)
{
	struct sim_http *h = calloc(1, sizeof(*h));
	const char *user = s->username ? s->username : "";
	const char *pass = s->password ? s->password : "";

	if (!h)
		return -ENOMEM;
	s->http = h;
	h->auth_len = kasa_klap_auth_hash(s->klap_version, user, pass, h->auth);
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
				  sim_http_handler, s,
				  MHD_OPTION_LISTEN_SOCKET, s->tcp_fd,
				  MHD_OPTION_NOTIFY_COMPLETED, sim_http_done, s,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				  MHD_OPTION_END);
	if (!h->mhd)
		return -EIO;
	s->tcp_fd = -1;   /* MHD's now */
	return 0;
}

void sim_http_stop(struct sim *s)
{
	struct sim_http *h = s->http;

	if (!h)
		return;
	if (h->mhd) {
		/* Suspended connections must be resumed before MHD stops. */
		while (h->n_suspended > 0) {
			struct sim_req *rq = h->suspended[--h->n_suspended];

			rq->suspended = false;
			MHD_resume_connection(rq->conn);
		}
		MHD_stop_daemon(h->mhd);
	}
	free(h);
	s->http = NULL;
	free(s->account_user);
	free(s->account_password);
	s->account_user = s->account_password = NULL;
}

int sim_http_fd(struct sim *s)
{
	const union MHD_DaemonInfo *i;

	if (!s->http || !s->http->mhd)
		return -1;
	i = MHD_get_daemon_info(s->http->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

int64_t sim_http_timeout(struct sim *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	int64_t next = -1, now = now_ms();

	if (!s->http)
		return -1;
	if (MHD_get_timeout(s->http->mhd, &t) == MHD_YES)
		next = (int64_t)t;
	for (size_t i = 0; i < s->http->n_suspended; i++) {
		struct sim_req *rq = s->http->suspended[i];

		if (rq->pending) {
			int64_t left = rq->due > now ? rq->due - now : 0;

			if (next < 0 || left < next)
				next = left;
		}
	}
	return next;
}

void sim_http_run(struct sim *s)
{
	struct sim_http *h = s->http;
	int64_t now = now_ms();

	if (!h)
		return;
	for (size_t i = 0; i < h->n_suspended; ) {
		struct sim_req *rq = h->suspended[i];

		if (rq->pending && rq->due <= now) {
			h->suspended[i] = h->suspended[--h->n_suspended];
			rq->suspended = false;
			MHD_resume_connection(rq->conn);
			continue;
		}
		i++;
	}
	MHD_run(h->mhd);
}

/* ---- discovery (UDP 20002) ---------------------------------------------------------------- */

void sim_disc_read(struct sim *s, int fd)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	json_object *root, *res, *schm;
	char ip[INET_ADDRSTRLEN], mac[18];
	const char *text;
	uint8_t *out;
	size_t len;

	if (n < 16 || buf[0] != 0x02)
		return;
	sim_record(s, "{\"discovery\":\"20002\"}");
	if (s->mode == SIM_MODE_SILENT || s->mode == SIM_MODE_CLOSE)
		return;
	root = sim_copy(s->discovery);
	if (!sim_get(root, "result", json_type_object)) {
		json_object_object_add(root, "error_code", json_object_new_int(0));
		json_object_object_add(root, "result", json_object_new_object());
	}
	res = sim_get(root, "result", json_type_object);
	inet_ntop(AF_INET, &s->listen_sa.sin_addr, ip, sizeof(ip));
	sim_dash_mac(s, mac);
	sim_put_str(res, "ip", ip);
	sim_put_str(res, "device_id", s->device_id);
	sim_put_str(res, "mac", mac);
	if (!sim_get(res, "device_model", json_type_string))
		sim_put_str(res, "device_model", "KASA-SIM");
	if (!sim_get(res, "device_type", json_type_string))
		sim_put_str(res, "device_type", s->smart ? "SMART.KASAPLUG" : "IOT.SMARTPLUGSWITCH");
	schm = json_object_new_object();
	sim_put_str(schm, "encrypt_type", s->transport == KASA_TRANSPORT_AES ? "AES" : "KLAP");
	json_object_object_add(schm, "http_port", json_object_new_int(s->port));
	json_object_object_add(schm, "is_support_https", json_object_new_boolean(false));
	if (s->transport == KASA_TRANSPORT_KLAP && s->klap_version == 2)
		json_object_object_add(schm, "lv", json_object_new_int(2));
	json_object_object_add(res, "mgt_encrypt_schm", schm);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	out = malloc(16 + len);
	if (out) {
		/* version 2, type 0, op 1, payload length, flags, serial; no CRC */
		uint8_t hdr[16] = { 0x02, 0x00, 0x00, 0x01, (uint8_t)(len >> 8), (uint8_t)len, 0x11, 0x00 };

		memcpy(out, hdr, 16);
		memcpy(out + 16, text, len);
		sendto(s->disc_fd, out, 16 + len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&from,
		       from_len);
		free(out);
	}
	json_object_put(root);
}
