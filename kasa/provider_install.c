/* provider_install.c — a strip's state into the tree: every body rebuilt
 * from the cache and installed whole, each with its writable properties
 * and its cookie (struct kasa_res), so a later write reaches the strip and
 * outlet without parsing its URI.
 *
 * Called with s->io held (installs keep the order of the device's
 * answers, and a poll never installs between a command and its
 * read-back); takes s->lock only to build the bodies, and installs
 * without it. Outlets first, the PowerDistribution last: a reader who sees
 * the strip's new state (say, UnavailableOffline) sees it everywhere.
 *
 * Metered strips also get a Sensor per reading (an outlet's four, the
 * Mains circuit's four) under Chassis/NAME/Sensors, which the readings
 * link as their DataSourceUri, and the deprecated Power resource.
 *
 * Outlet cookies are allocated once per outlet index and kept until the
 * strip is freed, so a write that took one just before its outlet went
 * away still reads valid memory (and gets -ENOENT from the command). */
#include "provider_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static const struct rf_writable label_writable[] = {
	{ "UserLabel", NULL, KASA_LABEL_MAX },
	{ NULL, NULL, 0 },
};

static const char *const bool_values[] = { "true", "false", NULL };
static const struct rf_writable manager_writable[] = {
	{ "Oem/TPLink/LedOn", bool_values, 0 },
	{ NULL, NULL, 0 },
};

/* The cookie of outlet i, made on first use (under s->lock). */
static struct kasa_res *outlet_res(struct kasa_strip *s, size_t i)
{
	if (i >= s->n_res_outlets) {
		struct kasa_res **v = realloc(s->res_outlets, (i + 1) * sizeof(*v));

		if (!v)
			return NULL;
		for (size_t k = s->n_res_outlets; k <= i; k++)
			v[k] = NULL;
		s->res_outlets = v;
		s->n_res_outlets = i + 1;
	}
	if (!s->res_outlets[i]) {
		s->res_outlets[i] = calloc(1, sizeof(struct kasa_res));
		if (s->res_outlets[i])
			*s->res_outlets[i] = (struct kasa_res){ s, KASA_RES_OUTLET, i };
	}
	return s->res_outlets[i];
}

struct inst {
	char *uri;                          /* malloc'd, or borrowed when !own */
	bool own;
	struct json_object *body;           /* NULL: out of memory */
	const struct rf_writable *writable;
	struct kasa_res *cookie;            /* NULL: nothing writable there */
};

struct insts {
	struct inst *v;
	size_t n, cap;
	bool oom;                  /* an entry was dropped */
};

/* Append one install (uri and body taken even on failure). */
static void add(struct insts *l, char *uri, bool own, struct json_object *body,
		const struct rf_writable *writable, struct kasa_res *cookie)
{
	if (!uri) {
		json_object_put(body);
		l->oom = true;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct inst *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			json_object_put(body);
			if (own)
				free(uri);
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct inst){ uri, own, body, writable, cookie };
}

/* The sensors of outlet i (SIZE_MAX: the strip's totals). s->lock held. */
static void add_sensors(struct insts *l, struct kasa_strip *s, size_t i)
{
	for (int k = 0; k < KASA_SENSOR_COUNT; k++) {
		char *u;

		u = kasa_sensor_uri(s, i, k);
		add(l, u, true, u ? kasa_doc_sensor(s, i, k, u) : NULL, NULL, NULL);
	}
}

/* Remove the resources of outlet i that the tree holds (its sensors too). */
static void remove_outlet(struct kasa_strip *s, size_t i, bool sensors)
{
	_cleanup_free_ char *u = kasa_outlet_uri(s, i);

	if (u)
		rf_tree_remove(s->kp->t, u);
	for (int k = 0; sensors && k < KASA_SENSOR_COUNT; k++) {
		_cleanup_free_ char *su = kasa_sensor_uri(s, i, k);

		if (su)
			rf_tree_remove(s->kp->t, su);
	}
}

/* only: every resource (SIZE_MAX), or just outlet only and what its
 * switching changes: its sensors, the Metrics, the totals and Power. */
static int install_only(struct kasa_strip *s, uint64_t g, size_t only)
{
	struct rf_tree *t = s->kp->t;
	struct insts l = { 0 };
	size_t old_outlets, new_outlets;
	bool old_metrics, new_metrics;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	new_metrics = kasa_strip_metered(s);
	for (size_t i = 0; i < s->n_outlets; i++) {
		struct kasa_res *c;
		char *u;

		if (only != SIZE_MAX && i != only)
			continue;
		u = kasa_outlet_uri(s, i);
		c = outlet_res(s, i);
		add(&l, u, true, u && c ? kasa_doc_outlet(s, i, u) : NULL, label_writable, c);
		if (new_metrics)
			add_sensors(&l, s, i);
	}
	if (new_metrics) {
		add_sensors(&l, s, SIZE_MAX);
		add(&l, s->power_uri, false, kasa_doc_power(s), NULL, NULL);
		add(&l, s->metrics_uri, false, kasa_doc_metrics(s), NULL, &s->res_metrics);
	}
	if (new_metrics || only == SIZE_MAX) {
		add(&l, s->mains_circuit_uri, false, kasa_doc_circuit(s, true), NULL, NULL);
		add(&l, s->branch_circuit_uri, false, kasa_doc_circuit(s, false), NULL, NULL);
	}
	if (only == SIZE_MAX) {
		add(&l, s->power_subsystem_uri, false, kasa_doc_power_subsystem(s), NULL, NULL);
		add(&l, s->chassis_uri, false, kasa_doc_chassis(s), NULL, &s->res_chassis);
		add(&l, s->manager_uri, false, kasa_doc_manager(s), manager_writable,
		    &s->res_manager);
		add(&l, s->fw_inventory_uri, false, kasa_doc_firmware(s), NULL, NULL);
		add(&l, s->hw_inventory_uri, false, kasa_doc_hardware(s), NULL, NULL);
		add(&l, s->pdu_uri, false, kasa_doc_pdu(s), label_writable, &s->res_pdu);
	}
	old_outlets = s->installed_outlets;
	new_outlets = s->n_outlets;
	old_metrics = s->metrics_installed;
	s->installed_outlets = new_outlets;
	s->metrics_installed = new_metrics;
	pthread_mutex_unlock(&s->lock);

	if (l.oom)
		r = -ENOMEM;
	/* The Sensors collection first, so the sensors become its Members. */
	if (new_metrics && !old_metrics) {
		int k = rf_tree_add_collection(t, &s->kp->rp, s->sensors_uri,
					       "#SensorCollection.SensorCollection", "Sensors");

		if (k < 0 && r == 0)
			r = k;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct inst *v = &l.v[i];
		int k;

		if (!v->body) {
			k = -ENOMEM;
		} else {
			k = rf_tree_install_cookie(t, &s->kp->rp, v->uri, v->body, v->writable,
						   v->cookie, g);
		}
		if (k < 0 && k != -ESTALE && r == 0)
			r = k;
		if (v->own)
			free(v->uri);
	}
	free(l.v);
	for (size_t i = new_outlets; i < old_outlets; i++)
		remove_outlet(s, i, new_metrics);
	if (old_metrics && !new_metrics) {
		rf_tree_remove(t, s->metrics_uri);
		rf_tree_remove(t, s->sensors_uri);
		rf_tree_remove(t, s->power_uri);
	}
	return r;
}

int kasa_strip_install(struct kasa_strip *s, uint64_t g)
{
	return install_only(s, g, SIZE_MAX);
}

int kasa_strip_install_outlet(struct kasa_strip *s, uint64_t g, size_t i)
{
	return install_only(s, g, i);
}

