/* write.c — every change to the tree goes through here: sysfs-style writes
 * from the mount (rf_tree_write), PATCH and action POSTs from HTTP.
 *
 * Each call takes what it needs of the resource under the tree lock (a
 * reference to its render and a copy of its writable list, tree.c), parses
 * the immutable document into a private json-c object, validates the whole
 * request (unknown, read-only, type, value not allowed) and only then makes
 * one provider call, without any lock. Nothing is sent for a bad value.
 *
 * The mount's PowerState extension lives here too: PowerState of an Outlet
 * maps to #Outlet.PowerControl, of a ComputerSystem to #ComputerSystem.Reset
 * with the nearest ResetType the system allows. */
#include "internal.h"
#include "client.h"     /* ActionInfo (source.c) */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RF_MAX_WRITE 65536

static int fail(struct rf_error *err, enum rf_err_kind kind, const char *prop, const char *value, int r)
{
	if (err) {
		err->kind = kind;
		snprintf(err->property, sizeof(err->property), "%s", prop ? prop : "");
		snprintf(err->value, sizeof(err->value), "%s", value ? value : "");
	}
	return r;
}

int rf_parse_scalar(const char *text, json_type like, struct json_object **ret)
{
	char *end;

	switch (like) {
	case json_type_boolean:
		if (strcasecmp(text, "true") == 0)
			*ret = json_object_new_boolean(1);
		else if (strcasecmp(text, "false") == 0)
			*ret = json_object_new_boolean(0);
		else
			return -EINVAL;
		return 0;
	case json_type_int: {
		long long v;

		errno = 0;
		v = strtoll(text, &end, 10);
		if (!*text || *end || errno)
			return -EINVAL;
		*ret = json_object_new_int64(v);
		return 0;
	}
	case json_type_double: {
		double v;

		errno = 0;
		v = strtod(text, &end);
		if (!*text || *end || errno || v != v)
			return -EINVAL;
		*ret = json_object_new_double(v);
		return 0;
	}
	default:
		*ret = json_object_new_string(text);
		return *ret ? 0 : -ENOMEM;
	}
}

/* The value at a '/'-separated rel inside body (borrowed), or NULL. */
static struct json_object *value_at(struct json_object *body, const char *rel)
{
	_cleanup_free_ char *copy = strdup(rel);
	struct json_object *cur = body;
	char *save = NULL;

	if (!copy)
		return NULL;
	for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (json_object_is_type(cur, json_type_object)) {
			if (!json_object_object_get_ex(cur, tok, &cur))
				return NULL;
		} else if (json_object_is_type(cur, json_type_array)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);

			if (*end || i >= json_object_array_length(cur))
				return NULL;
			cur = json_object_array_get_idx(cur, i);
		} else {
			return NULL;
		}
	}
	return cur;
}

/* Check one value against a writable entry; *ret_canon is a new value
 * (canonical spelling of an enum). like: the current value (type). */
static int check_value(const struct rf_writable *w, struct json_object *like, struct json_object *v,
		       const char *prop, struct json_object **ret_canon, struct rf_error *err)
{
	json_type want = like ? json_object_get_type(like) : json_type_string;
	const char *s;

	if (want == json_type_null)
		want = json_type_string;
	if (want == json_type_double && json_object_is_type(v, json_type_int))
		want = json_type_int;
	if (json_object_get_type(v) != want)
		return fail(err, RF_ERR_PROP_TYPE, prop, json_object_to_json_string(v), -EINVAL);
	if (want != json_type_string) {
		*ret_canon = json_object_get(v);
		return 0;
	}
	s = json_object_get_string(v);
	if (w->values) {
		for (size_t i = 0; w->values[i]; i++) {
			if (strcasecmp(w->values[i], s) == 0) {
				*ret_canon = json_object_new_string(w->values[i]);
				return 0;
			}
		}
		return fail(err, RF_ERR_PROP_VALUE, prop, s, -EINVAL);
	}
	if (strlen(s) > w->max_len || strchr(s, '\n'))
		return fail(err, RF_ERR_PROP_VALUE, prop, s, -EINVAL);
	*ret_canon = json_object_new_string(s);
	return 0;
}

/* Validate delta against the resource: builds the canonical delta into out.
 * prefix: rel of delta's level. */
static int check_delta(const struct rf_target *tg, struct json_object *body, struct json_object *delta,
		       const char *prefix, struct json_object *out, struct rf_error *err)
{
	json_object_object_foreach(delta, key, val) {
		_cleanup_free_ char *rel = NULL;
		const struct rf_writable *w;
		struct json_object *cur, *canon = NULL;
		int r;

		if (strncmp(key, "@odata.", 7) == 0)
			continue;
		if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", key) < 0)
			return -ENOMEM;
		cur = value_at(body, rel);
		w = rf_writable_find(tg->writable, rel);
		if (w && rf_writable_is_action(w))
			w = NULL;
		if (w) {
			r = check_value(w, cur, val, rel, &canon, err);
			if (r < 0)
				return r;
			json_object_object_add(out, key, canon);
			continue;
		}
		if (!cur && !strchr(key, '@'))
			return fail(err, RF_ERR_PROP_UNKNOWN, rel, NULL, -EINVAL);
		if (cur && json_object_is_type(cur, json_type_object) && json_object_is_type(val, json_type_object)) {
			struct json_object *sub = json_object_new_object();

			r = check_delta(tg, body, val, rel, sub, err);
			if (r < 0) {
				json_object_put(sub);
				return r;
			}
			json_object_object_add(out, key, sub);
			continue;
		}
		return fail(err, RF_ERR_PROP_NOT_WRITABLE, rel, NULL, -EACCES);
	}
	return 0;
}

/* Whether name is in the parameter list of merge_action_info (NULL: no
 * list); *ret_required tells whether it must be given. */
static bool known_param(struct json_object *known, const char *name)
{
	for (size_t i = 0; known && i < json_object_array_length(known); i++) {
		struct json_object *e = json_object_array_get_idx(known, i), *n;

		if (json_object_object_get_ex(e, "Name", &n) && strcmp(json_object_get_string(n), name) == 0)
			return true;
	}
	return false;
}

/* Validate params against an action object's @Redfish.AllowableValues (and
 * the parameter list an ActionInfo gave, see merge_action_info): builds
 * canonical params. */
static int check_params(struct json_object *action, struct json_object *params,
			struct json_object **ret, struct rf_error *err)
{
	struct json_object *out = json_object_new_object(), *known = NULL;
	bool has_info = json_object_object_get_ex(action, "@Redfish.ActionInfo", NULL);

	if (!json_object_object_get_ex(action, "@redfishfs.Parameters", &known) ||
	    !json_object_is_type(known, json_type_array))
		known = NULL;
	json_object_object_foreach(params, key, val) {
		_cleanup_free_ char *ann = NULL;
		struct json_object *allowed;
		bool found = false;

		if (asprintf(&ann, "%s@Redfish.AllowableValues", key) < 0)
			goto nomem;
		if (!json_object_object_get_ex(action, ann, &allowed) ||
		    !json_object_is_type(allowed, json_type_array)) {
			/* Free-form: allowed when the ActionInfo names it, or
			 * when an ActionInfo exists that could not be read. */
			if (known ? !known_param(known, key) : !has_info) {
				json_object_put(out);
				return fail(err, RF_ERR_PARAM_UNKNOWN, key, NULL, -EINVAL);
			}
			json_object_object_add(out, key, json_object_get(val));
			continue;
		}
		if (!json_object_is_type(val, json_type_string)) {
			json_object_put(out);
			return fail(err, RF_ERR_PARAM_TYPE, key, json_object_to_json_string(val), -EINVAL);
		}
		for (size_t i = 0; i < json_object_array_length(allowed); i++) {
			struct json_object *a = json_object_array_get_idx(allowed, i);

			if (json_object_is_type(a, json_type_string) &&
			    strcasecmp(json_object_get_string(a), json_object_get_string(val)) == 0) {
				json_object_object_add(out, key, json_object_new_string(json_object_get_string(a)));
				found = true;
				break;
			}
		}
		if (!found) {
			json_object_put(out);
			return fail(err, RF_ERR_PARAM_VALUE, key, json_object_get_string(val), -EINVAL);
		}
	}
	/* Required: what the ActionInfo says, else every parameter with
	 * allowable values (one must say what the action is to do). */
	for (size_t i = 0; known && i < json_object_array_length(known); i++) {
		struct json_object *e = json_object_array_get_idx(known, i), *n, *req;

		if (json_object_object_get_ex(e, "Name", &n) && json_object_object_get_ex(e, "Required", &req) &&
		    json_object_get_boolean(req) && !json_object_object_get_ex(out, json_object_get_string(n), NULL)) {
			json_object_put(out);
			return fail(err, RF_ERR_PARAM_MISSING, json_object_get_string(n), NULL, -EINVAL);
		}
	}
	json_object_object_foreach(action, akey, aval) {
		const char *at = strstr(akey, "@Redfish.AllowableValues");
		char name[128];

		(void)aval;
		if (known || !at || at == akey || (size_t)(at - akey) >= sizeof(name))
			continue;
		memcpy(name, akey, (size_t)(at - akey));
		name[at - akey] = '\0';
		if (!json_object_object_get_ex(out, name, NULL)) {
			json_object_put(out);
			return fail(err, RF_ERR_PARAM_MISSING, name, NULL, -EINVAL);
		}
	}
	*ret = out;
	return 0;
nomem:
	json_object_put(out);
	return -ENOMEM;
}

/* An action described by an ActionInfo resource (as OpenBMC's Reset is),
 * not by annotations: copy its parameters into the action object (a private
 * copy of the document) as Name@Redfish.AllowableValues, and list every
 * parameter with whether it is required under "@redfishfs.Parameters", so
 * writes are checked as for annotated actions. The ActionInfo comes through
 * the tree (its provider loads it when needed); when it cannot be had the
 * action stays as it is. */
static void merge_action_info(struct rf_tree *t, struct json_object *action)
{
	_cleanup_free_ struct rf_action_param *params = NULL;
	struct json_object *uri, *info, *known;
	struct rf_doc *d;
	size_t n = 0;
	int err;

	if (!json_object_object_get_ex(action, "@Redfish.ActionInfo", &uri) ||
	    !json_object_is_type(uri, json_type_string) ||
	    json_object_object_get_ex(action, "@redfishfs.Parameters", NULL))
		return;
	d = rf_tree_get_doc(t, json_object_get_string(uri), &err);
	if (!d)
		return;
	info = json_tokener_parse(d->json);
	rf_doc_unref(d);
	if (rf_action_info_params(info, &params, &n) < 0) {
		json_object_put(info);
		return;
	}
	known = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		_cleanup_free_ char *ann = NULL;

		json_object_object_add(e, "Name", json_object_new_string(params[i].name));
		json_object_object_add(e, "Required", json_object_new_boolean(params[i].required));
		json_object_array_add(known, e);
		if (params[i].allowable &&
		    asprintf(&ann, "%s@Redfish.AllowableValues", params[i].name) >= 0 &&
		    !json_object_object_get_ex(action, ann, NULL))
			json_object_object_add(action, ann, json_object_get(params[i].allowable));
	}
	json_object_object_add(action, "@redfishfs.Parameters", known);
	json_object_put(info);
}

bool rf_etag_matches(const char *list, uint64_t etag)
{
	char want[32];
	size_t wl;

	wl = (size_t)snprintf(want, sizeof(want), "\"%llu\"", (unsigned long long)etag);
	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t,");
		if (!*p)
			break;
		n = strcspn(p, " \t,");
		if ((n == 1 && *p == '*') || (n == wl && !memcmp(p, want, n)) ||
		    (n == wl + 2 && !memcmp(p, "W/", 2) && !memcmp(p + 2, want, wl)))
			return true;
		p += n;
	}
	return false;
}

static struct json_object *parse_body(const struct rf_target *tg)
{
	return json_tokener_parse(tg->render->json);
}

/* Find the action object whose target is target_uri, or named name
 * ("Outlet.PowerControl"), in body's Actions (and Actions/Oem). */
static struct json_object *find_action(struct json_object *body, const char *target_uri, const char *name,
				       const char **ret_name)
{
	struct json_object *actions, *oem;
	struct json_object *levels[2] = { NULL, NULL };

	if (!json_object_object_get_ex(body, "Actions", &actions) || !json_object_is_type(actions, json_type_object))
		return NULL;
	levels[0] = actions;
	if (json_object_object_get_ex(actions, "Oem", &oem) && json_object_is_type(oem, json_type_object))
		levels[1] = oem;
	for (size_t l = 0; l < 2 && levels[l]; l++) {
		json_object_object_foreach(levels[l], key, val) {
			struct json_object *tgt;

			if (key[0] != '#' || !json_object_is_type(val, json_type_object))
				continue;
			if (name && strcmp(key + 1, name) == 0) {
				*ret_name = key + 1;
				return val;
			}
			if (target_uri && json_object_object_get_ex(val, "target", &tgt) &&
			    json_object_is_type(tgt, json_type_string) &&
			    strcmp(json_object_get_string(tgt), target_uri) == 0) {
				*ret_name = key + 1;
				return val;
			}
		}
	}
	return NULL;
}

static int invoke(const struct rf_target *tg, const char *name, struct json_object *params)
{
	if (!tg->owner || !tg->owner->ops || !tg->owner->ops->action)
		return -EACCES;
	return tg->owner->ops->action(tg->owner, tg->uri, tg->cookie, name, params);
}

/* The params of the mount's PowerState extension. */
static int power_state_params(struct json_object *body, const char *text, const char **ret_action,
			      struct json_object **ret_params)
{
	struct json_object *actions, *reset, *allowed = NULL, *params;
	static const char *const on[] = { "On", "ForceOn", NULL };
	static const char *const off[] = { "ForceOff", "GracefulShutdown", NULL };
	const char *const *cand;

	json_object_object_get_ex(body, "Actions", &actions);
	if (json_object_object_get_ex(actions, "#Outlet.PowerControl", NULL)) {
		params = json_object_new_object();
		json_object_object_add(params, "PowerState", json_object_new_string(text));
		*ret_action = "Outlet.PowerControl";
		*ret_params = params;
		return 0;
	}
	if (!json_object_object_get_ex(actions, "#ComputerSystem.Reset", &reset))
		return -EACCES;
	if (strcasecmp(text, "On") == 0)
		cand = on;
	else if (strcasecmp(text, "Off") == 0)
		cand = off;
	else
		return -EINVAL;
	json_object_object_get_ex(reset, "ResetType@Redfish.AllowableValues", &allowed);
	for (size_t i = 0; cand[i]; i++) {
		bool ok = !json_object_is_type(allowed, json_type_array);

		for (size_t j = 0; !ok && j < json_object_array_length(allowed); j++)
			ok = strcmp(json_object_get_string(json_object_array_get_idx(allowed, j)), cand[i]) == 0;
		if (ok) {
			params = json_object_new_object();
			json_object_object_add(params, "ResetType", json_object_new_string(cand[i]));
			*ret_action = "ComputerSystem.Reset";
			*ret_params = params;
			return 0;
		}
	}
	return -EINVAL;
}

/* One value written to an action file: a JSON object, or the value of its
 * single parameter that has allowable values (nothing for an action with
 * no parameters). */
static int action_file_params(struct json_object *action, const char *text, struct json_object **ret)
{
	const char *param = NULL;
	size_t n = 0;

	if (text[0] == '{') {
		struct json_object *o = json_tokener_parse(text);

		if (!json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return -EINVAL;
		}
		*ret = o;
		return 0;
	}
	json_object_object_foreach(action, key, val) {
		(void)val;
		if (strstr(key, "@Redfish.AllowableValues") && key[0] != '@') {
			param = key;
			n++;
		}
	}
	if (n > 1)
		return -EINVAL;   /* several parameters: write a JSON object */
	if (n == 0) {
		/* One free-form parameter an ActionInfo names takes the value. */
		struct json_object *known, *e, *name;

		if (json_object_object_get_ex(action, "@redfishfs.Parameters", &known) &&
		    json_object_is_type(known, json_type_array) && json_object_array_length(known) == 1 &&
		    (e = json_object_array_get_idx(known, 0)) && json_object_object_get_ex(e, "Name", &name)) {
			*ret = json_object_new_object();
			json_object_object_add(*ret, json_object_get_string(name), json_object_new_string(text));
			return 0;
		}
	}
	*ret = json_object_new_object();
	if (n == 1) {
		_cleanup_free_ char *pname = strndup(param, (size_t)(strstr(param, "@Redfish") - param));

		if (!pname)
			return -ENOMEM;
		json_object_object_add(*ret, pname, json_object_new_string(text));
	}
	return 0;
}

int rf_tree_write(struct rf_tree *t, const char *path, const char *data, size_t len)
{
	struct rf_target tg = { 0 };
	_cleanup_free_ char *rel = NULL, *text = NULL;
	struct json_object *body = NULL, *params = NULL, *canon = NULL, *delta = NULL;
	const struct rf_node *nd;
	const struct rf_writable *w;
	const char *name = NULL;
	int r;

	if (len > RF_MAX_WRITE || memchr(data, '\0', len))
		return -EINVAL;
	text = strndup(data, len);
	if (!text)
		return -ENOMEM;
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	if (len && text[len - 1] == '\r')
		text[--len] = '\0';
	if (text_check(text, len, false) < 0)
		return -EINVAL;   /* not UTF-8, or a control character */
	r = rf_tree_target_for_path(t, path, &tg, &rel);
	if (r < 0)
		return r;
	nd = rf_render_find(tg.render, rel);
	if (!nd || nd->kind != RF_KIND_FILE || !nd->writable) {
		r = nd && nd->kind == RF_KIND_DIR ? -EISDIR : -EACCES;
		goto out;
	}
	body = parse_body(&tg);
	if (!body) {
		r = -EIO;
		goto out;
	}
	if (text[0] != '{' && strchr(text, '\n')) {
		r = -EINVAL;   /* one value, one line */
		goto out;
	}
	if (strncmp(rel, "Actions/", 8) == 0) {
		struct json_object *action = find_action(body, NULL, nd->name, &name);

		if (!action) {
			r = -EACCES;
			goto out;
		}
		merge_action_info(t, action);
		r = action_file_params(action, text, &params);
		if (r == 0)
			r = check_params(action, params, &canon, NULL);
		if (r == 0)
			r = invoke(&tg, name, canon);
	} else if (rf_power_state_writable(body, rel)) {
		struct json_object *action;
		const char *reset_name;

		if ((action = find_action(body, NULL, "ComputerSystem.Reset", &reset_name)))
			merge_action_info(t, action);
		r = power_state_params(body, text, &name, &params);
		if (r == 0 && (action = find_action(body, NULL, name, &name)))
			r = check_params(action, params, &canon, NULL);
		if (r == 0)
			r = invoke(&tg, name, canon);
	} else if ((w = rf_writable_find(tg.writable, rel))) {
		struct json_object *cur = value_at(body, rel), *v = NULL, *level;
		json_type like = cur ? json_object_get_type(cur) : json_type_string;
		_cleanup_free_ char *copy = strdup(rel);
		char *save = NULL, *tok, *next;

		if (like == json_type_null)
			like = json_type_string;
		r = copy ? rf_parse_scalar(text, like, &v) : -ENOMEM;
		if (r == 0)
			r = check_value(w, cur, v, rel, &canon, NULL);
		json_object_put(v);
		if (r < 0)
			goto out;
		/* "Oem/TPLink/LedOn" -> {"Oem":{"TPLink":{"LedOn":v}}} */
		delta = json_object_new_object();
		level = delta;
		for (tok = strtok_r(copy, "/", &save); tok; tok = next) {
			next = strtok_r(NULL, "/", &save);
			if (!next) {
				json_object_object_add(level, tok, canon);
				canon = NULL;
			} else {
				struct json_object *sub = json_object_new_object();

				json_object_object_add(level, tok, sub);
				level = sub;
			}
		}
		r = tg.owner && tg.owner->ops && tg.owner->ops->patch ?
			tg.owner->ops->patch(tg.owner, tg.uri, tg.cookie, delta) : -EACCES;
	} else {
		r = -EACCES;
	}
out:
	json_object_put(body);
	json_object_put(params);
	json_object_put(canon);
	json_object_put(delta);
	rf_target_clear(&tg);
	return r;
}

int rf_tree_patch(struct rf_tree *t, const char *uri, struct json_object *delta,
		  const char *if_match, struct rf_error *ret_err)
{
	struct rf_target tg = { 0 };
	struct json_object *body = NULL, *canon = NULL;
	int r;

	if (ret_err)
		memset(ret_err, 0, sizeof(*ret_err));
	if (!json_object_is_type(delta, json_type_object))
		return fail(ret_err, RF_ERR_MALFORMED, NULL, NULL, -EINVAL);
	r = rf_tree_target_for_uri(t, uri, &tg);
	if (r < 0)
		return fail(ret_err, RF_ERR_NOT_FOUND, NULL, uri, r);
	if (if_match && !rf_etag_matches(if_match, tg.render->doc.etag)) {
		r = fail(ret_err, RF_ERR_STALE, NULL, NULL, -ESTALE);
		goto out;
	}
	body = parse_body(&tg);
	canon = json_object_new_object();
	if (!body || !canon) {
		r = -ENOMEM;
		goto out;
	}
	r = check_delta(&tg, body, delta, "", canon, ret_err);
	if (r < 0)
		goto out;
	if (json_object_object_length(canon) == 0) {
		r = fail(ret_err, RF_ERR_MALFORMED, NULL, NULL, -EINVAL);
		goto out;
	}
	r = tg.owner && tg.owner->ops && tg.owner->ops->patch ?
		tg.owner->ops->patch(tg.owner, tg.uri, tg.cookie, canon) : -EACCES;
	if (r < 0)
		fail(ret_err, RF_ERR_BACKEND, NULL, NULL, r);
out:
	json_object_put(body);
	json_object_put(canon);
	rf_target_clear(&tg);
	return r;
}

int rf_tree_post_action(struct rf_tree *t, const char *target_uri, struct json_object *params,
			const char *if_match, struct rf_error *ret_err)
{
	struct rf_target tg = { 0 };
	struct json_object *body = NULL, *action, *canon = NULL, *empty = NULL;
	_cleanup_free_ char *uri = strdup(target_uri);
	const char *name = NULL;
	char *cut;
	int r;

	if (ret_err)
		memset(ret_err, 0, sizeof(*ret_err));
	if (!uri)
		return -ENOMEM;
	cut = strstr(uri, "/Actions/");
	if (!cut)
		return fail(ret_err, RF_ERR_NOT_FOUND, NULL, target_uri, -ENOENT);
	/* The last "/Actions/" separates the resource from the action. */
	for (char *next; (next = strstr(cut + 1, "/Actions/"));)
		cut = next;
	*cut = '\0';
	if (params && !json_object_is_type(params, json_type_object))
		return fail(ret_err, RF_ERR_MALFORMED, NULL, NULL, -EINVAL);
	if (!params)
		params = empty = json_object_new_object();
	r = rf_tree_target_for_uri(t, uri, &tg);
	if (r < 0) {
		r = fail(ret_err, RF_ERR_NOT_FOUND, NULL, target_uri, r);
		goto out;
	}
	body = parse_body(&tg);
	action = body ? find_action(body, target_uri, NULL, &name) : NULL;
	if (!action) {
		r = fail(ret_err, RF_ERR_NOT_FOUND, NULL, target_uri, -ENOENT);
		goto out;
	}
	if (if_match && !rf_etag_matches(if_match, tg.render->doc.etag)) {
		r = fail(ret_err, RF_ERR_STALE, NULL, NULL, -ESTALE);
		goto out;
	}
	merge_action_info(t, action);
	r = check_params(action, params, &canon, ret_err);
	if (r < 0)
		goto out;
	r = invoke(&tg, name, canon);
	if (r < 0)
		fail(ret_err, RF_ERR_BACKEND, NULL, NULL, r);
out:
	json_object_put(body);
	json_object_put(canon);
	json_object_put(empty);
	rf_target_clear(&tg);
	return r;
}
