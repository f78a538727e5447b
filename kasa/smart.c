/* smart.c — the SMART protocol (Tapo, and Kasa devices since about 2023):
 * requests {"method":M,"params":P}, replies {"error_code":N,"result":R}.
 *
 * The commands of kasa.h in SMART terms, over whatever transport the
 * device uses (KLAP v2 or AES; dev.c picks this file when the device
 * speaks SMART). The result is the same normalized device model the IOT
 * protocol gives (struct kasa_sysinfo, struct kasa_emeter), so the provider
 * maps a SMART strip exactly as an IOT strip:
 *   - get_device_info + component_nego + get_led_info in one multipleRequest;
 *     nickname base64, mac "AA-BB-..." given as "AA:BB:..."; a device whose
 *     components list child_device has its outlets from
 *     get_child_device_list, paged by start_index, sorted by position;
 *   - one outlet of a strip through control_child {device_id, requestData};
 *   - meters: get_current_power (W) and get_energy_usage (current_power in
 *     mW when present), plus get_emeter_data (voltage_mv, current_ma,
 *     energy_wh) where the device has it; what it lacks is NAN.
 * Every field of a reply is type-checked (untrusted input); error codes go
 * through one table (kasa_smart_errno) into errno. No state, no locks
 * beyond the device's own. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KASA_SMART_MAX_CHILDREN 64
#define KASA_SMART_MAX_STR 1024

/* THE SMART error table (python-kasa's SmartErrorCode): device error_code
 * -> errno. */
int kasa_smart_errno(int64_t code)
{
	switch (code) {
	case 0:
		return 0;
	case -1501:     /* LOGIN_ERROR */
	case 1111:      /* LOGIN_FAILED_ERROR */
	case 1003:      /* TRANSPORT_UNKNOWN_CREDENTIALS_ERROR */
	case 1100:      /* HAND_SHAKE_FAILED_ERROR */
	case -1005:     /* AES_DECODE_FAIL_ERROR: our key is not the session's */
		return -EACCES;
	case 9999:      /* SESSION_TIMEOUT_ERROR */
	case -1101:     /* SESSION_PARAM_ERROR */
		return -EKEYEXPIRED;
	case -1002:     /* UNKNOWN_METHOD_ERROR */
		return -EOPNOTSUPP;
	case -1008:     /* PARAMS_ERROR */
	case -1003:     /* JSON_DECODE_FAIL_ERROR */
		return -EINVAL;
	default:
		return -EIO;
	}
}

json_object *kasa_smart_request(const char *method, json_object *params)
{
	json_object *o = json_object_new_object();

	if (!o || json_object_object_add(o, "method", json_object_new_string(method)) < 0) {
		json_object_put(o);
		json_object_put(params);
		return NULL;
	}
	if (params && json_object_object_add(o, "params", params) < 0) {
		json_object_put(o);
		json_object_put(params);
		return NULL;
	}
	return o;
}

int kasa_smart_result(json_object *reply, json_object **ret_result, int64_t *ret_code)
{
	json_object *v, *res;

	*ret_code = 0;
	if (!json_object_is_type(reply, json_type_object) ||
	    !json_object_object_get_ex(reply, "error_code", &v) || !json_object_is_type(v, json_type_int))
		return -EIO;
	*ret_code = json_object_get_int64(v);
	if (*ret_code != 0) {
		int r = kasa_smart_errno(*ret_code);

		return r == -EKEYEXPIRED ? -EIO : r;
	}
	if (!json_object_object_get_ex(reply, "result", &res))
		res = NULL;
	if (res && !json_object_is_type(res, json_type_object))
		return -EIO;
	*ret_result = res;
	return 0;
}

/* ---- parsing ------------------------------------------------------------------ */

static json_object *kasa_smart_get(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* A string member copied, "" when absent;
 * -EIO when present with another type or too long, or absent and required. */
static int kasa_smart_str(json_object *o, const char *key, bool required, char **ret)
{
	json_object *v;
	const char *s = "";
	char *c;

	if (json_object_object_get_ex(o, key, &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > KASA_SMART_MAX_STR)
			return -EIO;
		s = json_object_get_string(v);
	} else if (required) {
		return -EIO;
	}
	/* Not UTF-8 text (common.h text_check): an optional string is dropped
	 * whole, a required one fails. */
	if (text_check(s, strlen(s), false) < 0) {
		if (required)
			return -EIO;
		s = "";
	}
	if (required && !*s)
		return -EIO;
	c = strdup(s);
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

/* A nickname: base64 of UTF-8 text; a value that is not base64 is kept as
 * it is; one that does not decode to text is "". */
static int kasa_smart_nickname(json_object *o, char **ret)
{
	_cleanup_free_ char *raw = NULL;
	uint8_t *dec = NULL;
	size_t n;
	int r;

	r = kasa_smart_str(o, "nickname", false, &raw);
	if (r < 0)
		return r;
	if (kasa_base64_decode(raw, strlen(raw), &dec, &n) == 0) {
		if (text_check((char *)dec, n, false) < 0)
			dec[0] = '\0';   /* not text: dropped whole */
		*ret = (char *)dec;
		return 0;
	}
	*ret = raw;
	raw = NULL;
	return 0;
}

static bool kasa_smart_has_component(json_object *components, const char *id)
{
	json_object *list = kasa_smart_get(components, "component_list", json_type_array);
	size_t n = list ? json_object_array_length(list) : 0;

	for (size_t i = 0; i < n && i < 256; i++) {
		json_object *c = json_object_array_get_idx(list, i), *v;

		v = kasa_smart_get(c, "id", json_type_string);
		if (v && strcmp(json_object_get_string(v), id) == 0)
			return true;
	}
	return false;
}

struct kasa_smart_child {
	int64_t position;
	struct kasa_child c;
};

static int kasa_smart_child_cmp(const void *a, const void *b)
{
	const struct kasa_smart_child *x = a, *y = b;

	return x->position < y->position ? -1 : x->position > y->position;
}

static int kasa_smart_parse_children(json_object *list, struct kasa_sysinfo *s)
{
	size_t n = json_object_array_length(list);
	struct kasa_smart_child *tmp;
	int r = 0;

	if (n > KASA_SMART_MAX_CHILDREN)
		return -EIO;
	if (n == 0)
		return 0;
	tmp = calloc(n, sizeof(*tmp));
	s->children = calloc(n, sizeof(*s->children));
	if (!tmp || !s->children) {
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(list, i), *on, *pos;

		if (!json_object_is_type(c, json_type_object)) {
			r = -EIO;
			break;
		}
		on = kasa_smart_get(c, "device_on", json_type_boolean);
		pos = kasa_smart_get(c, "position", json_type_int);
		r = kasa_smart_str(c, "device_id", true, &tmp[i].c.id);
		if (r == 0)
			r = kasa_smart_nickname(c, &tmp[i].c.alias);
		if (r == 0 && !on)
			r = -EIO;
		if (r < 0)
			break;
		tmp[i].c.on = json_object_get_boolean(on);
		tmp[i].position = pos ? json_object_get_int64(pos) : (int64_t)i + 1;
	}
	if (r == 0) {
		qsort(tmp, n, sizeof(*tmp), kasa_smart_child_cmp);
		for (size_t i = 0; i < n; i++) {
			/* Two children in one position would leave a gap. */
			if (i > 0 && tmp[i].position == tmp[i - 1].position)
				r = -EIO;
			s->children[i] = tmp[i].c;
		}
		s->n_children = n;
	} else {
		for (size_t i = 0; i < n; i++) {
			free(tmp[i].c.id);
			free(tmp[i].c.alias);
		}
	}
	free(tmp);
	return r;
}

int kasa_smart_parse_info(json_object *info, json_object *children, json_object *components,
			  struct kasa_sysinfo *ret)
{
	struct kasa_sysinfo s = { .protocol = KASA_PROTOCOL_SMART };
	json_object *on;
	int r;

	if (!json_object_is_type(info, json_type_object) ||
	    (children && !json_object_is_type(children, json_type_array)))
		return -EIO;
	r = kasa_smart_str(info, "device_id", true, &s.device_id);
	if (r == 0)
		r = kasa_smart_str(info, "model", true, &s.model);
	if (r == 0)
		r = kasa_smart_str(info, "mac", false, &s.mac);
	if (r == 0)
		r = kasa_smart_nickname(info, &s.alias);
	if (r == 0)
		r = kasa_smart_str(info, "fw_ver", false, &s.sw_ver);
	if (r == 0)
		r = kasa_smart_str(info, "hw_ver", false, &s.hw_ver);
	if (r == 0)
		r = kasa_smart_str(info, "type", false, &s.dev_name);
	if (r == 0 && children)
		r = kasa_smart_parse_children(children, &s);
	if (r < 0) {
		kasa_sysinfo_clear(&s);
		return r;
	}
	for (char *p = s.mac; *p; p++)
		if (*p == '-')
			*p = ':';
	on = kasa_smart_get(info, "device_on", json_type_boolean);
	s.on = on && json_object_get_boolean(on);
	s.has_emeter = kasa_smart_has_component(components, "energy_monitoring");
	*ret = s;
	return 0;
}

/* A finite number under key, scaled, or NAN. */
static double kasa_smart_num(json_object *o, const char *key, double scale)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return NAN;
	d = json_object_get_double(v);
	return isfinite(d) && d >= 0 && d < 1e12 ? d * scale : NAN;
}

int kasa_smart_parse_meter(json_object *power, json_object *energy, json_object *emeter,
			   struct kasa_emeter *ret)
{
	struct kasa_emeter e = { NAN, NAN, NAN, NAN };

	e.power_w = kasa_smart_num(energy, "current_power", 1e-3);
	if (isnan(e.power_w))
		e.power_w = kasa_smart_num(power, "current_power", 1);
	if (isnan(e.power_w))
		e.power_w = kasa_smart_num(emeter, "power_mw", 1e-3);
	e.voltage_v = kasa_smart_num(emeter, "voltage_mv", 1e-3);
	e.current_a = kasa_smart_num(emeter, "current_ma", 1e-3);
	e.total_kwh = kasa_smart_num(emeter, "energy_wh", 1e-3);
	if (isnan(e.power_w))
		return -EIO;
	*ret = e;
	return 0;
}

/* ---- requests ------------------------------------------------------------------- */

/* Send one SMART request (stolen) and hand back its result object: a new
 * reference to the whole reply in *ret_root, the result borrowed in
 * *ret_result (may be NULL: {} results are often left out). The device's
 * refusal is noted for kasa_dev_last_error(). kasa.h errno. */
static int kasa_smart_call(struct kasa_dev *d, json_object *req, json_object **ret_root,
			   json_object **ret_result)
{
	_cleanup_json_ json_object *owned = req;
	json_object *root = NULL, *res = NULL, *m;
	int64_t code;
	int r;

	if (!req)
		return -ENOMEM;
	/* as python-kasa sends them: the time, and a terminal id */
	json_object_object_add(req, "request_time_milis", json_object_new_int64(now_ms()));
	{
		uint8_t id[16];
		_cleanup_free_ char *b64 = NULL;

		if (kasa_random(id, sizeof(id)) == 0 && (b64 = kasa_base64_encode(id, sizeof(id))))
			json_object_object_add(req, "terminal_uuid", json_object_new_string(b64));
	}
	r = kasa_dev_call(d, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			  KASA_PROTOCOL_SMART, &root);
	if (r < 0)
		return r;
	r = kasa_smart_result(root, &res, &code);
	if (r < 0) {
		char msg[96];

		m = kasa_smart_get(req, "method", json_type_string);
		snprintf(msg, sizeof(msg), "%s refused", m ? json_object_get_string(m) : "request");
		if (code != 0)
			kasa_dev_note(d, code, msg);
		json_object_put(root);
		return r;
	}
	*ret_root = root;
	*ret_result = res;
	return 0;
}

/* The result of one response in a multipleRequest reply, by method, or
 * NULL (absent, or refused). Borrowed. */
static json_object *kasa_smart_response(json_object *multi, const char *method)
{
	json_object *list = kasa_smart_get(multi, "responses", json_type_array);
	size_t n = list ? json_object_array_length(list) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(list, i), *m, *res;
		int64_t code;

		m = kasa_smart_get(r, "method", json_type_string);
		if (!m || strcmp(json_object_get_string(m), method) != 0)
			continue;
		if (kasa_smart_result(r, &res, &code) < 0)
			return NULL;
		return res ? res : kasa_smart_get(r, "result", json_type_object);
	}
	return NULL;
}

/* {"method":"multipleRequest","params":{"requests":[{"method":m},...]}} */
static json_object *kasa_smart_multi(const char *const *methods, size_t n)
{
	json_object *list = json_object_new_array(), *params = json_object_new_object();

	if (!list || !params) {
		json_object_put(list);
		json_object_put(params);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, kasa_smart_request(methods[i], NULL));
	json_object_object_add(params, "requests", list);
	return kasa_smart_request("multipleRequest", params);
}

/* Wrap req for one child: control_child {device_id, requestData: req}. */
static json_object *kasa_smart_for_child(const char *child_id, json_object *req)
{
	json_object *params;

	if (!child_id)
		return req;
	params = json_object_new_object();
	if (!req || !params) {
		json_object_put(req);
		json_object_put(params);
		return NULL;
	}
	json_object_object_add(params, "device_id", json_object_new_string(child_id));
	json_object_object_add(params, "requestData", req);
	return kasa_smart_request("control_child", params);
}

/* Send req (to child_id when not NULL) and hand back the inner result:
 * for a child the responseData's result, its own error_code checked. */
static int kasa_smart_exchange(struct kasa_dev *d, const char *child_id, json_object *req,
			       json_object **ret_root, json_object **ret_result)
{
	json_object *root, *res, *inner;
	int64_t code;
	int r;

	r = kasa_smart_call(d, kasa_smart_for_child(child_id, req), &root, &res);
	if (r < 0 || !child_id) {
		if (r == 0) {
			*ret_root = root;
			*ret_result = res;
		}
		return r;
	}
	inner = kasa_smart_get(res, "responseData", json_type_object);
	r = inner ? kasa_smart_result(inner, &res, &code) : -EIO;
	if (r < 0) {
		if (code != 0)
			kasa_dev_note(d, code, "control_child refused");
		json_object_put(root);
		return r;
	}
	*ret_root = root;
	*ret_result = res;
	return 0;
}

/* The whole child list, page by page (start_index), at most
 * KASA_SMART_MAX_CHILDREN. New reference to an array. */
static int kasa_smart_children(struct kasa_dev *d, json_object **ret)
{
	_cleanup_json_ json_object *all = json_object_new_array();
	int64_t sum = -1;

	if (!all)
		return -ENOMEM;
	while (json_object_array_length(all) < KASA_SMART_MAX_CHILDREN &&
	       (sum < 0 || (int64_t)json_object_array_length(all) < sum)) {
		_cleanup_json_ json_object *root = NULL;
		json_object *params = json_object_new_object(), *res, *list, *s;
		size_t n;
		int r;

		if (!params)
			return -ENOMEM;
		json_object_object_add(params, "start_index",
				       json_object_new_int64((int64_t)json_object_array_length(all)));
		r = kasa_smart_call(d, kasa_smart_request("get_child_device_list", params), &root, &res);
		if (r < 0)
			return r;
		list = kasa_smart_get(res, "child_device_list", json_type_array);
		s = kasa_smart_get(res, "sum", json_type_int);
		if (!list || !s || json_object_get_int64(s) < 0 ||
		    json_object_get_int64(s) > KASA_SMART_MAX_CHILDREN)
			return -EIO;
		sum = json_object_get_int64(s);
		n = json_object_array_length(list);
		if (n == 0)
			break;   /* fewer than it said: take what there is */
		for (size_t i = 0; i < n && json_object_array_length(all) < KASA_SMART_MAX_CHILDREN; i++)
			json_object_array_add(all, json_object_get(json_object_array_get_idx(list, i)));
	}
	*ret = all;
	all = NULL;
	return 0;
}

int kasa_smart_get_sysinfo(struct kasa_dev *d, struct kasa_sysinfo *ret)
{
	static const char *const methods[] = { "get_device_info", "component_nego", "get_led_info" };
	_cleanup_json_ json_object *root = NULL, *children = NULL;
	json_object *res, *info, *comps, *led, *rule;
	int r;

	r = kasa_smart_call(d, kasa_smart_multi(methods, ARRAY_SIZE(methods)), &root, &res);
	if (r < 0)
		return r;
	info = kasa_smart_response(res, "get_device_info");
	comps = kasa_smart_response(res, "component_nego");
	led = kasa_smart_response(res, "get_led_info");
	if (!info)
		return -EIO;
	if (kasa_smart_has_component(comps, "child_device")) {
		r = kasa_smart_children(d, &children);
		if (r < 0)
			return r;
	}
	r = kasa_smart_parse_info(info, children, comps, ret);
	if (r < 0)
		return r;
	rule = kasa_smart_get(led, "led_rule", json_type_string);
	ret->led_off = rule && strcmp(json_object_get_string(rule), "never") == 0;
	return 0;
}

/* One method with params (stolen) to the device or a child; the result
 * does not matter beyond error_code 0. */
static int kasa_smart_simple(struct kasa_dev *d, const char *child_id, const char *method,
			     json_object *params)
{
	_cleanup_json_ json_object *root = NULL;
	json_object *res;

	if (!params)
		return -ENOMEM;
	return kasa_smart_exchange(d, child_id, kasa_smart_request(method, params), &root, &res);
}

int kasa_smart_set_on(struct kasa_dev *d, const char *child_id, bool on)
{
	json_object *p = json_object_new_object();

	if (p)
		json_object_object_add(p, "device_on", json_object_new_boolean(on));
	return kasa_smart_simple(d, child_id, "set_device_info", p);
}

int kasa_smart_set_nickname(struct kasa_dev *d, const char *child_id, const char *name)
{
	_cleanup_free_ char *b64 = kasa_base64_encode((const uint8_t *)name, strlen(name));
	json_object *p = b64 ? json_object_new_object() : NULL;

	if (p)
		json_object_object_add(p, "nickname", json_object_new_string(b64));
	return kasa_smart_simple(d, child_id, "set_device_info", p);
}

int kasa_smart_set_led(struct kasa_dev *d, bool off)
{
	json_object *p = json_object_new_object();

	if (p)
		json_object_object_add(p, "led_rule", json_object_new_string(off ? "never" : "always"));
	return kasa_smart_simple(d, NULL, "set_led_info", p);
}

int kasa_smart_reboot(struct kasa_dev *d, int delay_s)
{
	json_object *p = json_object_new_object();

	if (p)
		json_object_object_add(p, "delay", json_object_new_int(delay_s));
	return kasa_smart_simple(d, NULL, "device_reboot", p);
}

int kasa_smart_get_meter(struct kasa_dev *d, const char *child_id, struct kasa_emeter *ret)
{
	static const char *const methods[] = { "get_current_power", "get_energy_usage",
					       "get_emeter_data" };
	_cleanup_json_ json_object *root = NULL;
	json_object *res;
	int r;

	r = kasa_smart_exchange(d, child_id, kasa_smart_multi(methods, ARRAY_SIZE(methods)), &root,
				&res);
	if (r < 0)
		return r;
	return kasa_smart_parse_meter(kasa_smart_response(res, "get_current_power"),
				      kasa_smart_response(res, "get_energy_usage"),
				      kasa_smart_response(res, "get_emeter_data"), ret);
}
