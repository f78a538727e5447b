/* provider_ops.c — the provider's face to the tree (struct rf_provider_ops):
 * what a read, a PATCH or an action on a strip's resource turns into.
 *
 * Writes arrive with the cookie the resource was installed with (struct
 * kasa_res, provider_install.c): it names the strip, the resource kind and
 * the outlet, so nothing here parses a URI. Refreshes come for installed
 * resources and for the tree-kept Outlets collection; they only need the
 * strip, found as the one whose URIs the requested URI lies under.
 *
 * Called from the front ends' threads without the tree lock; each call may
 * block on the device, bounded by the strip's timeout. */
#include "provider_internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* Whether uri is prefix or below it. */
static bool uri_under(const char *uri, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(uri, prefix, n) == 0 && (uri[n] == '\0' || uri[n] == '/');
}

/* The strip whose resources uri lies under, or NULL. */
static struct kasa_strip *strip_for_uri(struct kasa_provider *kp, const char *uri)
{
	struct kasa_strip *s = NULL;

	pthread_mutex_lock(&kp->lock);
	for (size_t i = 0; i < kp->n_strips && !s; i++) {
		struct kasa_strip *c = kp->strips[i];

		if (uri_under(uri, c->pdu_uri) || uri_under(uri, c->chassis_uri) ||
		    uri_under(uri, c->manager_uri) || !strcmp(uri, c->fw_inventory_uri) ||
		    !strcmp(uri, c->hw_inventory_uri))
			s = c;
	}
	pthread_mutex_unlock(&kp->lock);
	return s;
}

static int kasa_op_refresh(struct rf_provider *p, const char *uri, int64_t max_age_ms)
{
	struct kasa_strip *s = uri ? strip_for_uri(p->userdata, uri) : NULL;

	return s ? kasa_strip_refresh(s, max_age_ms) : -ENOENT;
}

/* A boolean given as JSON true/false or as the string "true"/"false". */
static int json_bool_value(struct json_object *v, bool *ret)
{
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
			*ret = !strcasecmp(s, "true");
			return 0;
		}
	}
	return -EINVAL;
}

static int kasa_op_patch(struct rf_provider *p, const char *uri, void *cookie,
			 struct json_object *delta)
{
	const struct kasa_res *res = cookie;
	int r;

	if (!res)
		return -ENOENT;
	if (!json_object_is_type(delta, json_type_object))
		return -EINVAL;
	json_object_object_foreach(delta, key, val) {
		if (!strcmp(key, "UserLabel") &&
		    (res->kind == KASA_RES_OUTLET || res->kind == KASA_RES_PDU)) {
			if (!json_object_is_type(val, json_type_string))
				return -EINVAL;
			r = kasa_strip_set_alias(res->s,
						 res->kind == KASA_RES_OUTLET ? res->outlet : SIZE_MAX,
						 json_object_get_string(val));
		} else if (!strcmp(key, "Oem") && res->kind == KASA_RES_MANAGER) {
			struct json_object *tp, *led;
			bool on;

			if (!json_object_object_get_ex(val, "TPLink", &tp) ||
			    !json_object_object_get_ex(tp, "LedOn", &led) ||
			    json_object_object_length(val) != 1 || json_object_object_length(tp) != 1 ||
			    json_bool_value(led, &on) < 0)
				return -EINVAL;
			r = kasa_strip_set_led(res->s, on);
		} else {
			return -EACCES;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *param_str(struct json_object *params, const char *name)
{
	struct json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int kasa_op_action(struct rf_provider *p, const char *uri, void *cookie, const char *action,
			  struct json_object *params)
{
	const struct kasa_res *res = cookie;
	const char *v;

	if (!action)
		return -EINVAL;
	if (!res)
		return -ENOENT;
	if (res->kind == KASA_RES_OUTLET && !strcmp(action, "Outlet.PowerControl")) {
		v = param_str(params, "PowerState");
		return v ? kasa_strip_power(res->s, res->outlet, v) : -EINVAL;
	}
	if (res->kind == KASA_RES_OUTLET && !strcmp(action, "Outlet.ResetMetrics"))
		return kasa_strip_reset_metrics(res->s, res->outlet);
	if (res->kind == KASA_RES_METRICS && !strcmp(action, "PowerDistributionMetrics.ResetMetrics"))
		return kasa_strip_reset_metrics(res->s, SIZE_MAX);
	if (res->kind == KASA_RES_MANAGER && !strcmp(action, "Manager.Reset")) {
		v = param_str(params, "ResetType");
		if (!v || strcmp(v, "GracefulRestart"))
			return -EINVAL;
		return kasa_strip_reboot(res->s);
	}
	return -ENOENT;
}

const struct rf_provider_ops kasa_provider_ops = {
	.refresh = kasa_op_refresh,
	.patch = kasa_op_patch,
	.action = kasa_op_action,
};
