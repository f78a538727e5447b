/* model.c — parse a device's get_sysinfo and emeter replies into plain C.
 *
 * Input is untrusted (any host on the LAN may answer): every field is type
 * checked and a reply that does not fit gives -EIO with nothing allocated.
 * Required: deviceId and model (non-empty strings), children[] when child_num
 * > 0 (child_num must equal the array length), and id + state for each child.
 * Optional strings (alias, sw_ver, hw_ver, dev_name, mac) are "" when the
 * device omits them, never NULL; present with a wrong type is an error;
 * one that is not UTF-8 text (common.h text_check) is "" too.
 * MAC: "mac", else "mic_mac" (bulbs), else "ethernet_mac".
 *
 * has_emeter: the "feature" string is a ':'-separated list of capabilities
 * ("TIM:ENE"); every fixture with a working meter (HS110, HS300, KP115)
 * lists ENE and every one without (HS100, KP303, KP400, EP40; HS100 answers
 * emeter with "module not support") does not. So ENE in feature decides.
 * Only when a device does not report feature at all do we fall back to the
 * model name of known meter models.
 *
 * json-c objects never reach kasa.h; kasa_json_parse_object is shared with
 * discover.c through internal.h. Pure functions, no locks. */
#include "kasa.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"

#define KASA_MAX_CHILDREN 64
#define KASA_MAX_STR 1024

json_object *kasa_json_parse_object(const char *text, size_t len)
{
	json_tokener *tok;
	json_object *o;

	if (!text || len == 0 || len > INT_MAX || memchr(text, '\0', len))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

bool kasa_json_parse_object_ok(const char *text, size_t len)
{
	json_object *o = kasa_json_parse_object(text, len);

	json_object_put(o);
	return o != NULL;
}

/* Parse a reply (a C string of at most KASA_MAX_FRAME bytes) into a JSON
 * object (new reference) or NULL. */
static json_object *kasa_json_parse(const char *json)
{
	size_t len;

	if (!json)
		return NULL;
	len = strlen(json);
	if (len > KASA_MAX_FRAME)
		return NULL;
	return kasa_json_parse_object(json, len);
}

/* The object under key, of type t, or NULL. Borrowed. */
static json_object *kasa_get(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

static bool kasa_has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

/* A string field: required -> must be present; absent optional -> "". A
 * present field of another type or an absurd length is an error. */
static int kasa_get_str(json_object *o, const char *key, bool required, char **ret)
{
	json_object *v;
	const char *s;
	char *copy;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return -EIO;
		s = "";
	} else {
		if (!json_object_is_type(v, json_type_string))
			return -EIO;
		if (json_object_get_string_len(v) > KASA_MAX_STR)
			return -EIO;
		s = json_object_get_string(v);
		/* Not UTF-8 text (invalid bytes, NUL, terminal escapes): an
		 * optional name is dropped whole, a required field fails. */
		if (text_check(s, (size_t)json_object_get_string_len(v), false) < 0) {
			if (required)
				return -EIO;
			s = "";
		}
		if (required && !*s)
			return -EIO;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

/* A 0/1 flag as int or boolean. Absent optional -> false. */
static int kasa_get_flag(json_object *o, const char *key, bool required, bool *ret)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (required)
			return -EIO;
		*ret = false;
		return 0;
	}
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return -EIO;
	i = json_object_get_int64(v);
	if (i != 0 && i != 1)
		return -EIO;
	*ret = i == 1;
	return 0;
}

/* err_code, when present, must be the integer 0. */
static int kasa_check_err(json_object *o)
{
	json_object *v;

	if (!json_object_object_get_ex(o, "err_code", &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 0)
		return -EIO;
	return 0;
}

/* The result object of a parsed reply: module.method when the reply has
 * the module (whose err_code must be 0), else the whole reply (a bare
 * result is taken as it is). Borrowed from root; NULL when malformed. */
static json_object *kasa_reply_result(json_object *root, const char *module, const char *method)
{
	json_object *mod, *res = root;

	if (root && kasa_has(root, module)) {
		mod = kasa_get(root, module, json_type_object);
		res = mod && kasa_check_err(mod) == 0 ?
		      kasa_get(mod, method, json_type_object) : NULL;
	}
	return res;
}

static bool kasa_feature_has(const char *feature, const char *cap)
{
	size_t n = strlen(cap);

	for (const char *p = feature; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, cap, n) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static bool kasa_model_has_meter(const char *model)
{
	static const char *const meters[] = { "HS110", "HS300", "KP115", "KP125", "EP25", "HP300" };

	for (size_t i = 0; i < ARRAY_SIZE(meters); i++)
		if (strncmp(model, meters[i], strlen(meters[i])) == 0)
			return true;
	return false;
}

void kasa_sysinfo_clear(struct kasa_sysinfo *s)
{
	if (!s)
		return;
	free(s->model);
	free(s->device_id);
	free(s->mac);
	free(s->alias);
	free(s->sw_ver);
	free(s->hw_ver);
	free(s->dev_name);
	for (size_t i = 0; s->children && i < s->n_children; i++) {
		free(s->children[i].id);
		free(s->children[i].alias);
	}
	free(s->children);
	memset(s, 0, sizeof(*s));
}

static int kasa_parse_children(json_object *info, struct kasa_sysinfo *s)
{
	json_object *arr = NULL, *num;
	size_t n;
	int r;

	if (json_object_object_get_ex(info, "children", &arr) &&
	    !json_object_is_type(arr, json_type_array))
		return -EIO;
	if (json_object_object_get_ex(info, "child_num", &num)) {
		int64_t cn;

		if (!json_object_is_type(num, json_type_int))
			return -EIO;
		cn = json_object_get_int64(num);
		if (cn < 0 || cn > KASA_MAX_CHILDREN)
			return -EIO;
		if (cn > 0 && !arr)
			return -EIO;
		if (arr && json_object_array_length(arr) != (size_t)cn)
			return -EIO;
	}
	if (!arr)
		return 0;
	n = json_object_array_length(arr);
	if (n > KASA_MAX_CHILDREN)
		return -EIO;
	if (n == 0)
		return 0;
	s->children = calloc(n, sizeof(*s->children));
	if (!s->children)
		return -ENOMEM;
	s->n_children = n;
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(arr, i);
		struct kasa_child *ch = &s->children[i];

		if (!json_object_is_type(c, json_type_object))
			return -EIO;
		r = kasa_get_str(c, "id", true, &ch->id);
		if (r < 0)
			return r;
		r = kasa_get_str(c, "alias", false, &ch->alias);
		if (r < 0)
			return r;
		r = kasa_get_flag(c, "state", true, &ch->on);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->children[j].id, ch->id) == 0)
				return -EIO;  /* two outlets with one id cannot be addressed */
	}
	return 0;
}

static int kasa_parse_sysinfo_obj(json_object *info, struct kasa_sysinfo *s)
{
	static const char *const mac_keys[] = { "mac", "mic_mac", "ethernet_mac" };
	json_object *feature;
	int r;

	r = kasa_check_err(info);
	if (r < 0)
		return r;
	if ((r = kasa_get_str(info, "deviceId", true, &s->device_id)) < 0 ||
	    (r = kasa_get_str(info, "model", true, &s->model)) < 0 ||
	    (r = kasa_get_str(info, "alias", false, &s->alias)) < 0 ||
	    (r = kasa_get_str(info, "sw_ver", false, &s->sw_ver)) < 0 ||
	    (r = kasa_get_str(info, "hw_ver", false, &s->hw_ver)) < 0 ||
	    (r = kasa_get_str(info, "dev_name", false, &s->dev_name)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(mac_keys) && !s->mac; i++)
		if (kasa_has(info, mac_keys[i])) {
			r = kasa_get_str(info, mac_keys[i], false, &s->mac);
			if (r < 0)
				return r;
		}
	if (!s->mac) {
		s->mac = strdup("");
		if (!s->mac)
			return -ENOMEM;
	}
	if ((r = kasa_get_flag(info, "relay_state", false, &s->on)) < 0 ||
	    (r = kasa_get_flag(info, "led_off", false, &s->led_off)) < 0)
		return r;
	if (json_object_object_get_ex(info, "feature", &feature)) {
		if (!json_object_is_type(feature, json_type_string))
			return -EIO;
		s->has_emeter = kasa_feature_has(json_object_get_string(feature), "ENE");
	} else {
		s->has_emeter = kasa_model_has_meter(s->model);
	}
	return kasa_parse_children(info, s);
}

int kasa_sysinfo_from_json(json_object *root, struct kasa_sysinfo *ret)
{
	struct kasa_sysinfo s = { .protocol = KASA_PROTOCOL_IOT };
	json_object *info;
	int r;

	if (!ret)
		return -EINVAL;
	info = kasa_reply_result(root, "system", "get_sysinfo");
	if (!info)
		return -EIO;
	r = kasa_parse_sysinfo_obj(info, &s);
	if (r < 0) {
		kasa_sysinfo_clear(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int kasa_parse_sysinfo(const char *json, struct kasa_sysinfo *ret)
{
	_cleanup_json_ json_object *root = kasa_json_parse(json);

	return kasa_sysinfo_from_json(root, ret);
}

char *kasa_child_full_id(const struct kasa_sysinfo *s, size_t i)
{
	const char *id, *dev;
	char *full;
	size_t dl;

	if (!s || i >= s->n_children || !s->children || !s->children[i].id || !s->device_id)
		return NULL;
	id = s->children[i].id;
	dev = s->device_id;
	dl = strlen(dev);
	if (s->protocol == KASA_PROTOCOL_SMART || (strncmp(id, dev, dl) == 0 && strlen(id) > dl))
		return strdup(id);
	full = malloc(dl + strlen(id) + 1);
	if (!full)
		return NULL;
	memcpy(full, dev, dl);
	strcpy(full + dl, id);
	return full;
}

/* A finite number (int or double) under key; -ENOENT when absent. */
static int kasa_get_num(json_object *o, const char *key, double *ret)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return -EIO;
	d = json_object_get_double(v);
	if (!isfinite(d))
		return -EIO;
	*ret = d;
	return 0;
}

/* All four keys present and numeric: 1 and *ret filled (scaled); none or
 * some missing: 0; a present key of a wrong type: -EIO. */
static int kasa_emeter_style(json_object *rt, const char *const keys[4], double scale_v,
			     double scale_a, double scale_w, double scale_kwh,
			     struct kasa_emeter *ret)
{
	double v[4];
	int found = 0;

	for (size_t i = 0; i < 4; i++) {
		int r = kasa_get_num(rt, keys[i], &v[i]);

		if (r == -EIO)
			return r;
		if (r == 0)
			found++;
	}
	if (found < 4)
		return 0;
	ret->voltage_v = v[0] * scale_v;
	ret->current_a = v[1] * scale_a;
	ret->power_w = v[2] * scale_w;
	ret->total_kwh = v[3] * scale_kwh;
	return 1;
}

int kasa_emeter_from_json(json_object *root, struct kasa_emeter *ret)
{
	static const char *const new_keys[4] = { "voltage_mv", "current_ma", "power_mw", "total_wh" };
	static const char *const old_keys[4] = { "voltage", "current", "power", "total" };
	struct kasa_emeter e;
	json_object *rt;
	int r;

	if (!ret)
		return -EINVAL;
	rt = kasa_reply_result(root, "emeter", "get_realtime");
	if (!rt)
		return -EIO;
	if (kasa_check_err(rt) < 0)
		return -EIO;
	r = kasa_emeter_style(rt, new_keys, 1e-3, 1e-3, 1e-3, 1e-3, &e);
	if (r == 0)
		r = kasa_emeter_style(rt, old_keys, 1, 1, 1, 1, &e);
	if (r <= 0)
		return -EIO;
	*ret = e;
	return 0;
}

int kasa_parse_emeter(const char *json, struct kasa_emeter *ret)
{
	_cleanup_json_ json_object *root = kasa_json_parse(json);

	return kasa_emeter_from_json(root, ret);
}
