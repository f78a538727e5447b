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
	struct json_object *body;
	const struct rf_writable *writable;
	struct kasa_res *cookie;
};

/* only: every resource (SIZE_MAX), or just outlet only and the Metrics,
 * which are all that an outlet switching changes. */
static int install_only(struct kasa_strip *s, uint64_t g, size_t only)
{
	struct rf_tree *t = s->kp->t;
	struct inst *v = NULL;
	size_t n = 0, cap, old_outlets, new_outlets;
	bool old_metrics, new_metrics;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	cap = 4 + s->n_outlets;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_outlets; i++) {
		char *u;

		if (only != SIZE_MAX && i != only)
			continue;
		u = kasa_outlet_uri(s, i);
		v[n++] = (struct inst){ u, true, u ? kasa_doc_outlet(s, i, u) : NULL, label_writable,
					outlet_res(s, i) };
	}
	new_metrics = kasa_strip_metered(s);
	if (new_metrics)
		v[n++] = (struct inst){ s->metrics_uri, false, kasa_doc_metrics(s), NULL,
					&s->res_metrics };
	if (only == SIZE_MAX) {
		v[n++] = (struct inst){ s->chassis_uri, false, kasa_doc_chassis(s), NULL,
					&s->res_chassis };
		v[n++] = (struct inst){ s->manager_uri, false, kasa_doc_manager(s), manager_writable,
					&s->res_manager };
		v[n++] = (struct inst){ s->pdu_uri, false, kasa_doc_pdu(s), label_writable,
					&s->res_pdu };
	}
	old_outlets = s->installed_outlets;
	new_outlets = s->n_outlets;
	old_metrics = s->metrics_installed;
	s->installed_outlets = new_outlets;
	s->metrics_installed = new_metrics;
	pthread_mutex_unlock(&s->lock);

	for (size_t i = 0; i < n; i++) {
		int k;

		if (!v[i].uri || !v[i].body || !v[i].cookie) {
			json_object_put(v[i].body);
			k = -ENOMEM;
		} else {
			k = rf_tree_install_cookie(t, &s->kp->rp, v[i].uri, v[i].body, v[i].writable,
						   v[i].cookie, g);
		}
		if (k < 0 && k != -ESTALE && r == 0)
			r = k;
		if (v[i].own)
			free(v[i].uri);
	}
	free(v);
	for (size_t i = new_outlets; i < old_outlets; i++) {
		_cleanup_free_ char *u = kasa_outlet_uri(s, i);

		if (u)
			rf_tree_remove(t, u);
	}
	if (old_metrics && !new_metrics)
		rf_tree_remove(t, s->metrics_uri);
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

