/* provider.c — Kasa strips as Redfish resources (kasa/provider.h): the
 * provider's lifetime, strip names, and discovery. The other jobs live in
 * their own files (provider_internal.h lists them).
 *
 * The one place that maps a strip onto the tree. A strip named NAME is
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME              PowerDistribution
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Outlets      OutletCollection (tree-kept)
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Outlets/N    Outlet, N = label 1..n
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Metrics      PowerDistributionMetrics (metered)
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Mains/1      Circuit: the inlet (collection tree-kept)
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Branches/1   Circuit: the one branch (likewise)
 *   /redfish/v1/Chassis/NAME                              Chassis, PowerStrip
 *   /redfish/v1/Chassis/NAME/Sensors/...                  a Sensor per reading (metered)
 *   /redfish/v1/Chassis/NAME/Power                        deprecated Power (metered)
 *   /redfish/v1/Chassis/NAME/PowerSubsystem               PowerSubsystem
 *   /redfish/v1/Chassis/NAME/Outlets                      alias of .../NAME/Outlets
 *   /redfish/v1/Managers/NAME                             Manager (the strip's controller)
 * A single-outlet plug is a strip with one outlet (child id NULL in commands).
 * Every body is rebuilt from the cached state (last sysinfo + meter readings)
 * and installed whole after each poll or command (provider_install.c); the
 * tree keeps identical renderings unchanged, so this is cheap.
 *
 * Threads: one poller per strip (provider_strip.c, which also documents the
 * per-strip locks io and lock), one discovery thread per broadcast target,
 * and the callers' threads for commands. kp->lock guards the strip array;
 * strips live until kasa_provider_free(), so a strip found under kp->lock
 * stays valid without it (and so do the cookies the tree hands back).
 *
 * Discovery: one thread per broadcast target (kasa_provider_add_discovery)
 * runs a round at start and every interval, taking replies as they arrive
 * (kasa_discover_stream). A new deviceId becomes a strip at once, shown from
 * its reply and marked for an immediate poll (meters); a known one that
 * answers from a new address gets a new kasa_dev, swapped with io held (a
 * strip's host/port live under lock). The cancel pipe ends rounds and waits
 * on free. Events (kasa_event) go to the owner for the log, never under our
 * locks other than a command's io.
 *
 * Names: one strip per device (deviceId) and per name; kasa_provider_add()
 * refuses either clash of a given name or a device already shown (-EEXIST);
 * names made from aliases or hosts get _2, _3 instead.
 *
 * Ownership: kasa_provider_free() stops the threads, then removes every
 * resource it installed, so it must run before rf_tree_free() and after the
 * front ends stopped calling the tree. Library code: no logging. */
#include "provider_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* One discovery target and its thread. */
struct kasa_disc {
	struct kasa_provider *kp;
	char addr[46];
	uint16_t port, new_port;
	int interval_s;
	pthread_t thread;
	bool running;
	bool failing;              /* a failed round was reported; thread-local */
};

static int cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	r = pthread_condattr_init(&a);
	if (r)
		return -r;
	r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return -r;
}


static bool name_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > KASA_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(name[i]))
			return false;
	return true;
}

/* text with every character outside [A-Za-z0-9_.-] made '_', truncated to
 * KASA_NAME_MAX; NULL when nothing usable is left (or -ENOMEM). */
static char *name_sanitise(const char *text)
{
	size_t n = strnlen(text, KASA_NAME_MAX);
	char *s;

	if (n == 0)
		return NULL;
	s = strndup(text, n);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(s[i]))
			s[i] = '_';
	if (!name_valid(s)) {
		free(s);
		return NULL;
	}
	return s;
}


/* ---- lifetime ------------------------------------------------------------------- */

static struct kasa_strip *strip_free(struct kasa_strip *s)
{
	if (!s)
		return NULL;
	kasa_dev_free(s->dev);
	kasa_creds_free(s->creds);
	free(s->host);
	free(s->last_err);
	kasa_sysinfo_clear(&s->si);
	free(s->outlets);
	for (size_t i = 0; i < s->n_res_outlets; i++)
		free(s->res_outlets[i]);
	free(s->res_outlets);
	free(s->name);
	free(s->pdu_uri);
	free(s->outlets_uri);
	free(s->metrics_uri);
	free(s->chassis_uri);
	free(s->manager_uri);
	free(s->fw_inventory_uri);
	free(s->hw_inventory_uri);
	free(s->sensors_uri);
	free(s->power_uri);
	free(s->power_subsystem_uri);
	free(s->mains_uri);
	free(s->branches_uri);
	free(s->mains_circuit_uri);
	free(s->branch_circuit_uri);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->io);
	free(s);
	return NULL;
}

/* A device connection for s at host:port: its account and, when discovery
 * told it, its transport. */
static struct kasa_dev *strip_dev(struct kasa_strip *s, const char *host, uint16_t port)
{
	struct kasa_dev *d = kasa_dev_new(host, port, s->kp->timeout_ms);

	if (d && (kasa_dev_use_creds(d, s->creds ? s->creds : s->kp->creds) < 0 ||
		  (s->transport != KASA_TRANSPORT_AUTO &&
		   kasa_dev_set_transport(d, s->transport, s->http_port, s->hint) < 0)))
		d = kasa_dev_free(d);
	return d;
}

static struct kasa_strip *strip_new(struct kasa_provider *kp, const char *host, uint16_t port,
				    struct kasa_creds *creds, const struct kasa_found *via)
{
	struct kasa_strip *s = calloc(1, sizeof(*s));

	if (!s) {
		kasa_creds_free(creds);
		return NULL;
	}
	s->creds = creds;
	if (via) {
		s->transport = via->transport;
		s->http_port = via->http_port;
		s->hint = via->hint;
	}
	s->kp = kp;
	s->res_pdu = (struct kasa_res){ s, KASA_RES_PDU, 0 };
	s->res_metrics = (struct kasa_res){ s, KASA_RES_METRICS, 0 };
	s->res_chassis = (struct kasa_res){ s, KASA_RES_CHASSIS, 0 };
	s->res_manager = (struct kasa_res){ s, KASA_RES_MANAGER, 0 };
	pthread_mutex_init(&s->io, NULL);
	pthread_mutex_init(&s->lock, NULL);
	if (cond_init_mono(&s->wake) < 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->io);
		free(s);
		return NULL;
	}
	if (cond_init_mono(&s->done) < 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->io);
		free(s);
		return NULL;
	}
	s->dev = strip_dev(s, host, port);
	s->host = strdup(host);
	s->port = port;
	if (!s->dev || !s->host)
		return strip_free(s);
	return s;
}

static int strip_set_name(struct kasa_strip *s, const char *name)
{
	s->name = strdup(name);
	if (!s->name ||
	    asprintf(&s->pdu_uri, "%s%s", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->outlets_uri, "%s%s/Outlets", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->metrics_uri, "%s%s/Metrics", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->chassis_uri, "%s%s", URI_CHASSIS, name) < 0 ||
	    asprintf(&s->manager_uri, "%s%s", URI_MANAGERS, name) < 0 ||
	    asprintf(&s->sensors_uri, "%s%s/Sensors", URI_CHASSIS, name) < 0 ||
	    asprintf(&s->power_uri, "%s%s/Power", URI_CHASSIS, name) < 0 ||
	    asprintf(&s->power_subsystem_uri, "%s%s/PowerSubsystem", URI_CHASSIS, name) < 0 ||
	    asprintf(&s->mains_uri, "%s%s/Mains", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->branches_uri, "%s%s/Branches", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->mains_circuit_uri, "%s%s/Mains/1", URI_RACKPDUS, name) < 0 ||
	    asprintf(&s->branch_circuit_uri, "%s%s/Branches/1", URI_RACKPDUS, name) < 0 ||
	    kasa_inventory_uris(name, &s->fw_inventory_uri, &s->hw_inventory_uri) < 0)
		return -ENOMEM;
	return 0;
}

/* Whether name is taken (under kp->lock). */
static bool name_taken(const struct kasa_provider *kp, const char *name)
{
	for (size_t i = 0; i < kp->n_strips; i++)
		if (!strcmp(kp->strips[i]->name, name))
			return true;
	return false;
}

/* Whether a strip already shows the device device_id (under kp->lock). */
static bool device_taken(const struct kasa_provider *kp, const char *device_id)
{
	bool taken = false;

	for (size_t i = 0; i < kp->n_strips && !taken; i++) {
		struct kasa_strip *o = kp->strips[i];

		pthread_mutex_lock(&o->lock);
		taken = o->have_si && o->si.device_id && !strcmp(o->si.device_id, device_id);
		pthread_mutex_unlock(&o->lock);
	}
	return taken;
}

/* base, or base_2, base_3, ... whichever is free (under kp->lock). */
static char *name_unique(const struct kasa_provider *kp, const char *base)
{
	char *n = strdup(base);

	for (unsigned k = 2; n && name_taken(kp, n); k++) {
		free(n);
		if (asprintf(&n, "%s_%u", base, k) < 0)
			n = NULL;
	}
	return n;
}

struct kasa_provider *kasa_provider_new(struct rf_tree *t, int timeout_ms, int poll_s)
{
	struct kasa_provider *kp;

	if (!t || timeout_ms <= 0 || poll_s <= 0)
		return NULL;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return NULL;
	kp->rp.name = "kasa";
	kp->rp.ops = &kasa_provider_ops;
	kp->rp.userdata = kp;
	kp->t = t;
	kp->timeout_ms = timeout_ms;
	kp->poll_s = poll_s;
	atomic_init(&kp->stopping, false);
	kp->reported = strmap_new();
	if (!kp->reported || pipe2(kp->cancel, O_CLOEXEC | O_NONBLOCK) < 0) {
		strmap_free(kp->reported);
		free(kp);
		return NULL;
	}
	pthread_mutex_init(&kp->lock, NULL);
	return kp;
}

struct kasa_provider *kasa_provider_free(struct kasa_provider *kp)
{
	if (!kp)
		return NULL;
	atomic_store(&kp->stopping, true);
	/* Discovery first: it adds strips. The byte stays unread, so every
	 * later round and wait ends at once too. */
	if (write(kp->cancel[1], "x", 1) < 0) {
		/* a full pipe is readable already */
	}
	for (size_t i = 0; i < kp->n_disc; i++) {
		if (kp->disc[i]->running)
			pthread_join(kp->disc[i]->thread, NULL);
		free(kp->disc[i]);
	}
	free(kp->disc);
	for (size_t i = 0; i < kp->n_strips; i++) {
		struct kasa_strip *s = kp->strips[i];

		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->wake);
		pthread_cond_broadcast(&s->done);
		pthread_mutex_unlock(&s->lock);
	}
	for (size_t i = 0; i < kp->n_strips; i++)
		if (kp->strips[i]->thread_running)
			pthread_join(kp->strips[i]->thread, NULL);
	for (size_t i = 0; i < kp->n_strips; i++) {
		struct kasa_strip *s = kp->strips[i];

		/* The tree must not keep resources that point at us. */
		rf_tree_remove(kp->t, s->pdu_uri);
		rf_tree_remove(kp->t, s->chassis_uri);
		rf_tree_remove(kp->t, s->manager_uri);
		rf_tree_remove(kp->t, s->fw_inventory_uri);
		rf_tree_remove(kp->t, s->hw_inventory_uri);
		strip_free(s);
	}
	free(kp->strips);
	for (size_t i = 0; i < kp->n_gone; i++)
		strip_free(kp->gone[i]);
	free(kp->gone);
	close(kp->cancel[0]);
	close(kp->cancel[1]);
	strmap_free(kp->reported);
	kasa_creds_free(kp->creds);
	pthread_mutex_destroy(&kp->lock);
	free(kp);
	return NULL;
}

/* Add a strip for the device at host:port. known: its sysinfo when the
 * caller has it (moved in: a discovery reply, so the device is online and
 * no probe is made), else NULL (probed here). name: NULL for one from the
 * alias (else host), made unique. On success *ret_s (may be NULL) is the
 * strip. Returns 0, the probe's -errno (the strip is added anyway), or an
 * error with nothing added (-EEXIST: the name or the device is shown). */
static int provider_attach(struct kasa_provider *kp, const char *name, const char *host,
			   uint16_t port, struct kasa_sysinfo *known, struct kasa_creds *creds,
			   const struct kasa_found *via, struct kasa_strip **ret_s)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_strip *s, **v;
	_cleanup_free_ char *base = NULL;
	char *unique = NULL;
	uint64_t g;
	int probe, r;

	s = strip_new(kp, host, port, creds, via);
	if (!s)
		return -ENOMEM;
	s->discovered = via != NULL;

	g = rf_tree_generation(kp->t);
	if (known) {
		si = *known;
		*known = (struct kasa_sysinfo){ 0 };
		probe = 0;
		s->discovered = true;
	} else {
		/* Probe once, for the name and so errors show on the terminal. */
		probe = kasa_get_sysinfo(s->dev, &si);
	}
	if (!name) {
		if (probe == 0 && si.alias)
			base = name_sanitise(si.alias);
		if (!base)
			base = name_sanitise(host);
		if (!base) {
			r = -EINVAL;
			goto fail;
		}
	}
	/* A device discovery found on KLAP/AES is shown once it answered there
	 * (or refused our credentials: then offline, writes -EACCES). */
	if (via && probe < 0 && probe != -EACCES) {
		r = probe;
		goto fail;
	}
	/* The device's identity before the strip is visible, so a concurrent
	 * discovery of the same device sees it (device_taken). */
	if (probe == 0) {
		pthread_mutex_lock(&s->lock);
		r = kasa_strip_take_si(s, &si);
		s->online = r == 0;
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			goto fail;
	}
	s->refused = probe == -EACCES;   /* offline: writes say why */

	pthread_mutex_lock(&kp->lock);
	/* One strip per device (deviceId), one device per name. */
	if ((name && name_taken(kp, name)) || (probe == 0 && device_taken(kp, s->si.device_id))) {
		pthread_mutex_unlock(&kp->lock);
		r = -EEXIST;
		goto fail;
	}
	unique = name ? strdup(name) : name_unique(kp, base);
	r = unique ? strip_set_name(s, unique) : -ENOMEM;
	free(unique);
	v = r == 0 ? realloc(kp->strips, (kp->n_strips + 1) * sizeof(*v)) : NULL;
	if (!v) {
		pthread_mutex_unlock(&kp->lock);
		r = -ENOMEM;
		goto fail;
	}
	kp->strips = v;
	kp->strips[kp->n_strips++] = s;
	pthread_mutex_unlock(&kp->lock);

	/* From here the strip belongs to kp (freed by kasa_provider_free). */
	pthread_mutex_lock(&s->io);
	r = kasa_inventory_setup(kp);
	if (r >= 0)
		r = rf_tree_add_collection(kp->t, &kp->rp, s->outlets_uri,
				   "#OutletCollection.OutletCollection", "Outlets");
	if (r >= 0)
		r = rf_tree_add_collection(kp->t, &kp->rp, s->mains_uri,
					   "#CircuitCollection.CircuitCollection", "Mains");
	if (r >= 0)
		r = rf_tree_add_collection(kp->t, &kp->rp, s->branches_uri,
					   "#CircuitCollection.CircuitCollection", "Branches");
	/* The first install. A configured strip: a full poll (meters too)
	 * while still on the terminal. A discovered one shows at once from its
	 * discovery reply; its poller reads the meters right away. */
	if (r >= 0)
		r = probe == 0 && !known ? kasa_strip_poll_io(s) : kasa_strip_install(s, g);
	pthread_mutex_unlock(&s->io);
	if (r >= 0) {
		_cleanup_free_ char *alias = NULL;

		if (asprintf(&alias, "%s/Outlets", s->chassis_uri) < 0)
			r = -ENOMEM;
		else
			r = rf_tree_add_alias(kp->t, alias, s->outlets_uri);
	}
	pthread_mutex_lock(&s->lock);
	s->next_poll_ms = known ? now_ms() : now_ms() + (int64_t)kp->poll_s * 1000;
	pthread_mutex_unlock(&s->lock);
	if (r >= 0) {
		pthread_mutex_lock(&kp->lock);
		if (kp->started && !s->thread_running)
			r = kasa_strip_start_thread(s);
		pthread_mutex_unlock(&kp->lock);
	}
	kasa_sysinfo_clear(&si);
	if (r < 0)
		return r;
	if (ret_s)
		*ret_s = s;
	return probe < 0 ? probe : 0;
fail:
	kasa_sysinfo_clear(&si);
	strip_free(s);
	return r;
}

int kasa_provider_add(struct kasa_provider *kp, const char *name, const char *host, uint16_t port)
{
	if (!kp || !host || !*host || port == 0)
		return -EINVAL;
	if (name && !name_valid(name))
		return -EINVAL;
	return provider_attach(kp, name, host, port, NULL, NULL, NULL, NULL);
}

int kasa_provider_add_as(struct kasa_provider *kp, const char *name, const char *host,
			 uint16_t port, struct kasa_creds *c)
{
	if (!kp || !host || !*host || port == 0 || (name && !name_valid(name))) {
		kasa_creds_free(c);
		return -EINVAL;
	}
	return provider_attach(kp, name, host, port, NULL, c, NULL, NULL);
}

void kasa_provider_set_creds(struct kasa_provider *kp, struct kasa_creds *c)
{
	if (!kp) {
		kasa_creds_free(c);
		return;
	}
	kasa_creds_free(kp->creds);
	kp->creds = c;
}

/* ---- discovery ------------------------------------------------------------------ */

/* Whether two MACs are the same, whatever separators and case they are
 * written with (a newer discovery answer writes "AA-BB-..."; it may not
 * carry the deviceId get_device_info gives). Never for an all-zero MAC. */
static bool same_mac(const char *a, const char *b)
{
	size_t n = 0;
	bool nonzero = false;

	for (;; a++, b++) {
		while (*a == ':' || *a == '-')
			a++;
		while (*b == ':' || *b == '-')
			b++;
		if (!*a || !*b)
			return !*a && !*b && n == 12 && nonzero;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		nonzero |= *a != '0';
		n++;
	}
}

/* The strip showing device_id, or else the strip at host:port that has
 * never answered (a configured strip the device may be), or NULL. Under
 * kp->lock. */
static struct kasa_strip *strip_for_found(struct kasa_provider *kp, const struct kasa_found *f,
					  bool *ret_by_id)
{
	struct kasa_strip *by_addr = NULL;

	for (size_t i = 0; i < kp->n_strips; i++) {
		struct kasa_strip *o = kp->strips[i];
		bool id, addr;

		pthread_mutex_lock(&o->lock);
		id = o->have_si && (!strcmp(o->si.device_id, f->device_id) ||
				    (!f->supported && same_mac(o->si.mac, f->mac)));
		addr = !o->have_si && o->port == (f->supported ? f->port : f->http_port) &&
		       !strcmp(o->host, f->addr);
		pthread_mutex_unlock(&o->lock);
		if (id) {
			*ret_by_id = true;
			return o;
		}
		if (addr && !by_addr)
			by_addr = o;
	}
	*ret_by_id = false;
	return by_addr;
}

/* Whether host is a numeric IPv4 address (a name is kept: it resolves). */
static bool host_numeric(const char *host)
{
	struct in_addr a;

	return inet_pton(AF_INET, host, &a) == 1;
}

/* s's device answered from addr:port: talk to it there from now on. The
 * connection is swapped with io held, so no request is in flight. */
static void strip_move(struct kasa_strip *s, const char *addr, uint16_t port)
{
	struct kasa_dev *nd = strip_dev(s, addr, port), *old;
	char *nh = strdup(addr);
	_cleanup_free_ char *from = NULL;

	if (!nd || !nh) {
		kasa_dev_free(nd);
		free(nh);
		return;   /* the next round tries again */
	}
	pthread_mutex_lock(&s->io);
	old = s->dev;
	s->dev = nd;
	pthread_mutex_lock(&s->lock);
	from = s->host;
	s->host = nh;
	s->port = port;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->io);
	kasa_dev_free(old);
	kasa_strip_request_poll(s);
	kasa_emit(s->kp, KASA_EVENT_MOVED, s->name, addr, 0, from);
}

/* A device we cannot drive: reported once per device (deviceId, else MAC,
 * else address) for the provider's life. */
static void disc_unsupported(struct kasa_provider *kp, const struct kasa_found *f, int err)
{
	const char *key = *f->device_id ? f->device_id : *f->mac ? f->mac : f->addr;
	_cleanup_free_ char *msg = NULL;
	bool fresh;

	pthread_mutex_lock(&kp->lock);
	fresh = !strmap_get(kp->reported, key) && strmap_put(kp->reported, key, kp) == 0;
	pthread_mutex_unlock(&kp->lock);
	if (!fresh)
		return;
	if (asprintf(&msg, "%s%s%s%s%s%s%s%s", *f->model ? f->model : "a device",
		     *f->mac ? " (MAC " : "", f->mac, *f->mac ? ")" : "", ": ", f->reason,
		     err ? ", but did not answer there: " : "", err ? strerror(-err) : "") < 0)
		msg = NULL;
	kasa_emit(kp, KASA_EVENT_UNSUPPORTED, NULL, f->addr, -EPROTONOSUPPORT,
		   msg ? msg : f->reason);
}

static void disc_found(void *userdata, struct kasa_found *f)
{
	struct kasa_disc *d = userdata;
	struct kasa_provider *kp = d->kp;
	struct kasa_strip *s;
	bool by_id, online, same, numeric;
	int r;

	if (kasa_stopping(kp))
		return;
	if (!f->supported && f->transport != KASA_TRANSPORT_KLAP && f->transport != KASA_TRANSPORT_AES) {
		disc_unsupported(kp, f, 0);
		return;
	}
	pthread_mutex_lock(&kp->lock);
	s = strip_for_found(kp, f, &by_id);
	pthread_mutex_unlock(&kp->lock);
	if (s) {
		/* Known: follow it if it moved; wake it if it was offline. */
		pthread_mutex_lock(&s->lock);
		online = s->online;
		same = s->port == (f->supported ? f->port : f->http_port) && !strcmp(s->host, f->addr);
		numeric = host_numeric(s->host);
		pthread_mutex_unlock(&s->lock);
		if (by_id && !same && (!online || numeric || s->discovered))
			strip_move(s, f->addr, f->supported ? f->port : f->http_port);
		else if (!online)
			kasa_strip_request_poll(s);
		return;
	}
	r = f->supported ? provider_attach(kp, NULL, f->addr, f->port, &f->info, NULL, NULL, &s) :
			   /* KLAP or AES: the strip asks the device itself */
			   provider_attach(kp, NULL, f->addr, f->http_port, NULL, NULL, f, &s);
	if (r < 0 && r != -EEXIST && r != -EACCES && !f->supported)
		disc_unsupported(kp, f, r);   /* not there on HTTP: once, like a device we cannot drive */
	if (r == 0)
		kasa_emit(kp, KASA_EVENT_FOUND, s->name, f->addr, 0, f->model);
	/* -EEXIST: another round found it first. */
}

/* Wait until when_ms (monotonic) or the provider stops; false if it does. */
static bool disc_sleep_until(struct kasa_provider *kp, int64_t when_ms)
{
	for (;;) {
		struct pollfd p = { .fd = kp->cancel[0], .events = POLLIN };
		int64_t left = when_ms - now_ms();

		if (kasa_stopping(kp))
			return false;
		if (left <= 0)
			return true;
		if (poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left)) > 0)
			return false;
	}
}

/* A round at start and every interval_s: the broadcast, then replies as
 * they come for one timeout (at most the interval). */
static void *disc_thread(void *arg)
{
	struct kasa_disc *d = arg;
	struct kasa_provider *kp = d->kp;
	int64_t period = (int64_t)d->interval_s * 1000;
	int window = kp->timeout_ms < period ? kp->timeout_ms : (int)period;
	int64_t next = now_ms();

	while (disc_sleep_until(kp, next)) {
		int r;

		next += period;
		r = kasa_discover_stream(d->addr, d->port, d->new_port, window, kp->cancel[0],
					 disc_found, d);
		if (r == -ECANCELED)
			break;
		if (r < 0 && !d->failing) {
			char text[80];

			snprintf(text, sizeof(text), "discovery on %s:%u failed", d->addr,
				 (unsigned)d->port);
			kasa_emit(kp, KASA_EVENT_DISCOVERY_FAILED, NULL, d->addr, r, text);
		}
		d->failing = r < 0;
		if (next <= now_ms())
			next = now_ms() + period;   /* a round that overran: a full rest */
	}
	return NULL;
}

void kasa_provider_set_events(struct kasa_provider *kp, kasa_event_fn fn, void *userdata)
{
	if (!kp)
		return;
	pthread_mutex_lock(&kp->lock);
	kp->on_event = fn;
	kp->event_userdata = userdata;
	pthread_mutex_unlock(&kp->lock);
}

int kasa_provider_add_discovery(struct kasa_provider *kp, const char *broadcast_addr,
				uint16_t port, uint16_t new_port, int interval_s)
{
	struct kasa_disc *d, **v;
	struct in_addr a;
	int r = 0;

	if (!kp || !broadcast_addr || inet_pton(AF_INET, broadcast_addr, &a) != 1 ||
	    interval_s <= 0 || interval_s > 86400)
		return -EINVAL;
	if (port == 0)
		port = KASA_PORT;
	if (new_port == port)
		return -EINVAL;
	pthread_mutex_lock(&kp->lock);
	if (kp->started) {
		r = -EBUSY;
		goto out;
	}
	for (size_t i = 0; i < kp->n_disc; i++)
		if (!strcmp(kp->disc[i]->addr, broadcast_addr) && kp->disc[i]->port == port) {
			r = -EEXIST;
			goto out;
		}
	d = calloc(1, sizeof(*d));
	v = d ? realloc(kp->disc, (kp->n_disc + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(d);
		r = -ENOMEM;
		goto out;
	}
	*d = (struct kasa_disc){ .kp = kp, .port = port, .new_port = new_port,
				 .interval_s = interval_s };
	snprintf(d->addr, sizeof(d->addr), "%s", broadcast_addr);
	kp->disc = v;
	kp->disc[kp->n_disc++] = d;
out:
	pthread_mutex_unlock(&kp->lock);
	return r;
}

int kasa_provider_start(struct kasa_provider *kp)
{
	int r = 0;

	if (!kp)
		return -EINVAL;
	pthread_mutex_lock(&kp->lock);
	kp->started = true;
	for (size_t i = 0; i < kp->n_strips && r == 0; i++)
		if (!kp->strips[i]->thread_running)
			r = kasa_strip_start_thread(kp->strips[i]);
	for (size_t i = 0; i < kp->n_disc && r == 0; i++) {
		struct kasa_disc *d = kp->disc[i];

		if (d->running)
			continue;
		r = -pthread_create(&d->thread, NULL, disc_thread, d);
		d->running = r == 0;
	}
	pthread_mutex_unlock(&kp->lock);
	return r;
}

int kasa_provider_remove(struct kasa_provider *kp, const char *host, uint16_t port)
{
	struct kasa_strip *s = NULL, **ng;
	bool running;

	pthread_mutex_lock(&kp->lock);
	ng = realloc(kp->gone, (kp->n_gone + 1) * sizeof(*ng));
	if (!ng) {
		pthread_mutex_unlock(&kp->lock);
		return -ENOMEM;
	}
	kp->gone = ng;
	for (size_t i = 0; i < kp->n_strips && !s; i++) {
		struct kasa_strip *c = kp->strips[i];

		pthread_mutex_lock(&c->lock);
		if (!c->discovered && c->port == port && strcmp(c->host, host) == 0) {
			s = c;
			memmove(&kp->strips[i], &kp->strips[i + 1],
				(kp->n_strips - i - 1) * sizeof(*kp->strips));
			kp->n_strips--;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (s)
		kp->gone[kp->n_gone++] = s;
	running = s && s->thread_running;
	pthread_mutex_unlock(&kp->lock);
	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&s->lock);
	s->removed = true;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
	if (running)
		pthread_join(s->thread, NULL);
	/* A command in flight finds the strip still allocated; its resources go. */
	rf_tree_remove(kp->t, s->pdu_uri);
	rf_tree_remove(kp->t, s->chassis_uri);
	rf_tree_remove(kp->t, s->manager_uri);
	rf_tree_remove(kp->t, s->fw_inventory_uri);
	rf_tree_remove(kp->t, s->hw_inventory_uri);
	return 0;
}
