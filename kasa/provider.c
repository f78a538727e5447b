/* provider.c — Kasa strips as Redfish resources: the provider part of kasa.h.
 *
 * The one place that maps a strip onto the tree. A strip named NAME is
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME              PowerDistribution
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Outlets      OutletCollection (tree-kept)
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Outlets/N    Outlet, N = label 1..n
 *   /redfish/v1/PowerEquipment/RackPDUs/NAME/Metrics      PowerDistributionMetrics (metered)
 *   /redfish/v1/Chassis/NAME                              Chassis, PowerStrip
 *   /redfish/v1/Chassis/NAME/Outlets                      alias of .../NAME/Outlets
 *   /redfish/v1/Managers/NAME                             Manager (the strip's controller)
 * A single-outlet plug is a strip with one outlet (child id NULL in commands).
 * Every body is rebuilt from the cached state (last sysinfo + meter readings)
 * and installed whole after each poll or command; the tree keeps identical
 * renderings unchanged, so this is cheap.
 *
 * Threads. One poller thread per strip (a dead device never delays another):
 * it polls every poll_s seconds (get_sysinfo, then emeter.get_realtime per
 * outlet on metered devices), on request of a reader (refresh), and runs the
 * delayed "On" of a PowerCycle. Commands run in the caller's thread (FUSE,
 * HTTP). Per strip:
 *   io    serialises every conversation with the device together with the
 *         installs made from it, so a poll never installs between a command
 *         and its read-back. Taken before lock, never while holding it.
 *   lock  guards the cached state below and the poll bookkeeping; held only
 *         for memory work, never across I/O or tree calls. Conditions: wake
 *         (the poller: poll requested, PowerCycle due, stop) and done (a poll
 *         finished; readers sharing one poll wait on it).
 * kp->lock guards the strip array; strips live until kasa_provider_free(), so
 * a strip found under kp->lock stays valid without it.
 *
 * Commands: a switch returns once the device acknowledged it (err_code 0);
 * the cache and the tree show the commanded state at once, and the poller
 * reads the state and the switched outlets' meters back within
 * KASA_READBACK_SETTLE_MS (one read-back for a burst). Renames, the LED and
 * meter resets are read back before they return. Before the poller runs,
 * switches are read back inline too.
 *
 * Freshness: installs carry the tree generation taken just before the request
 * whose reply they show; with io held nothing else talks to the device or
 * installs in between, so a command's result always wins. A device that fails a
 * poll is marked offline: every body shows Status.State UnavailableOffline
 * and null live values; writes then fail at once with -EHOSTUNREACH and
 * refresh returns at once, until a poll succeeds again. A reader waits for a
 * requested poll at most one timeout, then sees the tree as it is.
 *
 * PowerCycle: Off now (confirmed by read-back), On after
 * PowerCycleDelaySeconds, run by the poller. A later power command to that
 * outlet cancels the pending On (renames and meter resets do not: they do not
 * contradict it). If the device is offline when the On is due, it runs once
 * the device answers again. Before kasa_provider_start() no poller runs:
 * reads poll inline (shared the same way) and PowerCycle fails with -EAGAIN.
 *
 * Discovery: one thread per broadcast target (kasa_provider_add_discovery)
 * runs a round at start and every interval, taking replies as they arrive
 * (kasa_discover_stream). A new deviceId becomes a strip at once, shown from
 * its reply and marked for an immediate poll (meters); a known one that
 * answers from a new address gets a new kasa_dev, swapped with io held (a
 * strip's host/port live under lock). A poll whose reply carries another
 * deviceId counts as "not there", so a reused address never shows another
 * device's state. The cancel pipe ends rounds and waits on free.
 * Events (kasa_event) go to the owner for the log, never under our locks
 * other than a command's io.
 *
 * Names: one strip per device (deviceId) and per name; kasa_provider_add()
 * refuses either clash of a given name or a device already shown (-EEXIST);
 * names made from aliases or hosts get _2, _3 instead.
 *
 * Ownership: kasa_provider_free() stops the threads, then removes every
 * resource it installed, so it must run before rf_tree_free() and after the
 * front ends stopped calling the tree. Library code: no logging. */
#include "kasa.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "redfish.h"

#define KASA_MANUFACTURER "TP-Link"
#define KASA_CYCLE_DELAY_S 5      /* PowerCycleDelaySeconds */
/* After a command the device acknowledged, the poller reads state and
 * meters back within this time (one read-back for a burst of commands). */
#define KASA_READBACK_SETTLE_MS 100
#define KASA_LABEL_MAX 31         /* UserLabel bytes: conservative; firmware limits are undocumented */
#define KASA_NAME_MAX 64          /* a strip's Id */
#define KASA_REBOOT_DELAY_S 1

#define URI_RACKPDUS RF_ROOT "/PowerEquipment/RackPDUs/"
#define URI_CHASSIS RF_ROOT "/Chassis/"
#define URI_MANAGERS RF_ROOT "/Managers/"

struct kasa_outlet {
	bool have_em;              /* em is from the last successful poll */
	struct kasa_emeter em;
	int64_t pending_on_ms;     /* PowerCycle: when to switch on again; 0 none */
};

struct kasa_strip {
	struct kasa_provider *kp;
	char *name;
	char *pdu_uri, *outlets_uri, *metrics_uri, *chassis_uri, *manager_uri;
	struct kasa_dev *dev;      /* replaced (with io held) when the device moves */
	bool discovered;           /* found by discovery, not configured */

	pthread_mutex_t io;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done;

	/* under lock */
	char *host;                /* where dev talks to */
	uint16_t port;
	char *last_err;            /* the device error last reported, NULL none */
	bool online;
	bool have_si;
	struct kasa_sysinfo si;
	struct kasa_outlet *outlets;
	size_t n_outlets;
	size_t installed_outlets;  /* Outlet resources present in the tree */
	bool metrics_installed;
	int64_t last_ok_ms;        /* end of the last successful poll, 0 never */
	int64_t next_poll_ms;
	uint64_t poll_seq;         /* finished polls */
	bool polling;              /* a poll is in flight */
	bool poll_requested;
	int64_t readback_ms;       /* read back after commands at this time, 0 none */
	uint64_t readback_mask;    /* the outlets switched since (their meters) */

	pthread_t thread;
	bool thread_running;       /* written under kp->lock before the thread runs */
	bool removed;              /* kasa_provider_remove: the poller ends (under lock) */
};

struct kasa_provider {
	struct rf_provider rp;
	struct rf_tree *t;
	int timeout_ms;
	int poll_s;
	atomic_bool stopping;
	pthread_mutex_t lock;
	struct kasa_strip **strips;
	size_t n_strips;
	struct kasa_strip **gone;  /* removed: freed with the provider (a caller may hold one) */
	size_t n_gone;
	bool started;
	kasa_event_fn on_event;    /* set before start; called without our locks */
	void *event_userdata;
	struct kasa_disc **disc;   /* discovery targets, fixed after start */
	size_t n_disc;
	int cancel[2];             /* a byte in cancel[1] ends discovery rounds and waits */
	struct strmap *reported;   /* unsupported devices reported (under lock) */
};

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

static const struct rf_writable label_writable[] = {
	{ "UserLabel", NULL, KASA_LABEL_MAX },
	{ NULL, NULL, 0 },
};

static const char *const bool_values[] = { "true", "false", NULL };
static const struct rf_writable manager_writable[] = {
	{ "Oem/TPLink/LedOn", bool_values, 0 },
	{ NULL, NULL, 0 },
};

/* ---- small helpers ---------------------------------------------------------- */

static bool kasa_stopping(const struct kasa_provider *kp)
{
	return atomic_load(&kp->stopping);
}

static void kasa_event(struct kasa_provider *kp, enum kasa_event ev, const char *strip,
		       const char *addr, int err, const char *message)
{
	if (kp->on_event)
		kp->on_event(kp->event_userdata, ev, strip, addr, err, message ? message : "");
}

static struct timespec deadline_ts(int64_t mono_ms)
{
	struct timespec ts = { .tv_sec = mono_ms / 1000, .tv_nsec = (long)(mono_ms % 1000) * 1000000L };

	return ts;
}

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

/* A device error that means "it does not answer" (not "it refused"). */
static bool kasa_err_unreachable(int r)
{
	return r == -ETIMEDOUT || r == -EHOSTUNREACH;
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

/* The number of outlets a sysinfo describes. */
/* Outlet i as a bit of a read-back mask (outlets past 64: none). */
static uint64_t outlet_bit(size_t i)
{
	return i < 64 ? UINT64_C(1) << i : 0;
}

static size_t si_outlets(const struct kasa_sysinfo *si)
{
	return si->n_children > 0 ? si->n_children : 1;
}

static bool si_outlet_on(const struct kasa_sysinfo *si, size_t i)
{
	return si->n_children > 0 ? si->children[i].on : si->on;
}

static const char *si_outlet_alias(const struct kasa_sysinfo *si, size_t i)
{
	const char *a = si->n_children > 0 ? si->children[i].alias : si->alias;

	return a ? a : "";
}

/* The child id to address outlet i with (malloc'd), or NULL in *ret for a
 * single-outlet plug. 0 or -ENOMEM / -ENOENT. */
static int si_child_id(const struct kasa_sysinfo *si, size_t i, char **ret)
{
	if (si->n_children == 0) {
		if (i != 0)
			return -ENOENT;
		*ret = NULL;
		return 0;
	}
	if (i >= si->n_children)
		return -ENOENT;
	*ret = kasa_child_full_id(si, i);
	return *ret ? 0 : -ENOMEM;
}

/* ---- JSON building ------------------------------------------------------------
 * json-c returns NULL on allocation failure and json_object_object_add(o, k,
 * NULL) would store a JSON null: so every add goes through put(), which
 * records the failure, and intentional nulls use put_null(). */

struct jb {
	bool oom;
};

static void put(struct jb *b, struct json_object *o, const char *key, struct json_object *v)
{
	if (!o || !v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		b->oom = true;
	}
}

static void put_null(struct jb *b, struct json_object *o, const char *key)
{
	if (!o || json_object_object_add(o, key, NULL) < 0)
		b->oom = true;
}

static void put_str(struct jb *b, struct json_object *o, const char *key, const char *v)
{
	put(b, o, key, json_object_new_string(v ? v : ""));
}

static struct json_object *new_link(const char *uri)
{
	struct json_object *o = json_object_new_object();
	struct json_object *s = json_object_new_string(uri);

	if (!o || !s || json_object_object_add(o, "@odata.id", s) < 0) {
		json_object_put(o);
		json_object_put(s);
		return NULL;
	}
	return o;
}

static void put_link(struct jb *b, struct json_object *o, const char *key, const char *uri)
{
	put(b, o, key, new_link(uri));
}

/* key: [ {"@odata.id": uri} ] */
static void put_links1(struct jb *b, struct json_object *o, const char *key, const char *uri)
{
	struct json_object *a = json_object_new_array();
	struct json_object *l = new_link(uri);

	if (!a || !l || json_object_array_add(a, l) < 0) {
		json_object_put(a);
		json_object_put(l);
		b->oom = true;
		return;
	}
	put(b, o, key, a);
}

/* A reading rounded to 0.001, serialised as written ("120.11", not
 * "120.11000000000001"). */
static struct json_object *new_reading(double v)
{
	char buf[64];
	size_t n;

	snprintf(buf, sizeof(buf), "%.3f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	if (!strcmp(buf, "-0"))
		strcpy(buf, "0");
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

/* key: {"Reading": v} or {"Reading": null} */
static void put_sensor(struct jb *b, struct json_object *o, const char *key, bool valid, double v)
{
	struct json_object *s = json_object_new_object();

	if (valid)
		put(b, s, "Reading", new_reading(v));
	else
		put_null(b, s, "Reading");
	put(b, o, key, s);
}

static void put_status(struct jb *b, struct json_object *o, bool online)
{
	struct json_object *s = json_object_new_object();

	put_str(b, s, "State", online ? "Enabled" : "UnavailableOffline");
	if (online)
		put_str(b, s, "Health", "OK");
	else
		put_null(b, s, "Health");   /* unknown while it does not answer */
	put(b, o, "Status", s);
}

static struct json_object *new_body(struct jb *b, const char *uri, const char *type,
				    const char *id, const char *name)
{
	struct json_object *o = json_object_new_object();

	put_str(b, o, "@odata.id", uri);
	put_str(b, o, "@odata.type", type);
	put_str(b, o, "Id", id);
	put_str(b, o, "Name", name);
	return o;
}

static struct json_object *finish(struct jb *b, struct json_object *o)
{
	if (b->oom) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- bodies (called under s->lock) ------------------------------------------- */

static char *outlet_uri(const struct kasa_strip *s, size_t i)
{
	char *u = NULL;

	if (asprintf(&u, "%s/%zu", s->outlets_uri, i + 1) < 0)
		return NULL;
	return u;
}

static bool strip_metered(const struct kasa_strip *s)
{
	return s->have_si && s->si.has_emeter;
}

static const char *strip_title(const struct kasa_strip *s)
{
	return s->have_si && s->si.alias && *s->si.alias ? s->si.alias : s->name;
}

static struct json_object *pdu_body(struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links;

	o = new_body(&b, s->pdu_uri, "#PowerDistribution.v1_6_0.PowerDistribution", s->name,
		     strip_title(s));
	put_str(&b, o, "EquipmentType", "RackPDU");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si) {
		put_str(&b, o, "Model", s->si.model);
		put_str(&b, o, "FirmwareVersion", s->si.sw_ver);
		if (s->si.hw_ver && *s->si.hw_ver)
			put_str(&b, o, "Version", s->si.hw_ver);
		put_str(&b, o, "UserLabel", s->si.alias);
	} else {
		put_null(&b, o, "Model");
	}
	/* No SerialNumber: deviceId is an identifier, not a serial. */
	put_status(&b, o, s->online);
	put_link(&b, o, "Outlets", s->outlets_uri);
	if (strip_metered(s))
		put_link(&b, o, "Metrics", s->metrics_uri);
	links = json_object_new_object();
	put_links1(&b, links, "Chassis", s->chassis_uri);
	put_links1(&b, links, "ManagedBy", s->manager_uri);
	put(&b, o, "Links", links);
	return finish(&b, o);
}

/* Receptacle facts only where the model's region tells them truthfully. */
static void put_receptacle(struct jb *b, struct json_object *o, const char *model)
{
	const char *type = NULL, *volt = NULL;

	if (!model)
		return;
	if (strstr(model, "(US)")) {
		type = "NEMA_5_15R";
		volt = "AC120V";
	} else if (strstr(model, "(UK)")) {
		type = "BS_1363_Type_G";
		volt = "AC230V";
	}
	if (!type)
		return;
	put_str(b, o, "OutletType", type);
	put_str(b, o, "NominalVoltage", volt);
	put_str(b, o, "PhaseWiringType", "OnePhase3Wire");
	put_str(b, o, "VoltageType", "AC");
}

static struct json_object *outlet_body(struct kasa_strip *s, size_t i, const char *uri)
{
	const struct kasa_outlet *ol = &s->outlets[i];
	bool live = s->online;
	bool metered = strip_metered(s);
	char id[24], name[40], target[512];
	const char *alias = si_outlet_alias(&s->si, i);
	struct jb b = { 0 };
	struct json_object *o, *links, *actions, *act, *vals;

	snprintf(id, sizeof(id), "%zu", i + 1);
	snprintf(name, sizeof(name), "Outlet %zu", i + 1);
	o = new_body(&b, uri, "#Outlet.v1_4_4.Outlet", id, *alias ? alias : name);
	put_str(&b, o, "UserLabel", alias);
	put_status(&b, o, live);
	if (live)
		put_str(&b, o, "PowerState", si_outlet_on(&s->si, i) ? "On" : "Off");
	else
		put_null(&b, o, "PowerState");
	put(&b, o, "PowerStateInTransition", json_object_new_boolean(ol->pending_on_ms != 0));
	put(&b, o, "PowerCycleDelaySeconds", json_object_new_int(KASA_CYCLE_DELAY_S));
	put_receptacle(&b, o, s->si.model);
	if (metered) {
		bool v = live && ol->have_em;

		put_sensor(&b, o, "PowerWatts", v, ol->em.power_w);
		put_sensor(&b, o, "CurrentAmps", v, ol->em.current_a);
		put_sensor(&b, o, "Voltage", v, ol->em.voltage_v);
		put_sensor(&b, o, "EnergykWh", v, ol->em.total_kwh);
	}
	links = json_object_new_object();
	put_links1(&b, links, "Chassis", s->chassis_uri);
	put(&b, o, "Links", links);

	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/Outlet.PowerControl", uri);
	put_str(&b, act, "target", target);
	vals = json_object_new_array();
	if (vals) {
		static const char *const ps[] = { "On", "Off", "PowerCycle" };

		for (size_t k = 0; k < ARRAY_SIZE(ps); k++) {
			struct json_object *v = json_object_new_string(ps[k]);

			if (!v || json_object_array_add(vals, v) < 0) {
				json_object_put(v);
				b.oom = true;
			}
		}
	}
	put(&b, act, "PowerState@Redfish.AllowableValues", vals);
	put(&b, actions, "#Outlet.PowerControl", act);
	if (metered) {
		act = json_object_new_object();
		snprintf(target, sizeof(target), "%s/Actions/Outlet.ResetMetrics", uri);
		put_str(&b, act, "target", target);
		put(&b, actions, "#Outlet.ResetMetrics", act);
	}
	put(&b, o, "Actions", actions);
	return finish(&b, o);
}

static struct json_object *metrics_body(struct kasa_strip *s)
{
	bool all = s->online && s->n_outlets > 0;
	double watts = 0, kwh = 0;
	char target[512];
	struct jb b = { 0 };
	struct json_object *o, *actions, *act;

	for (size_t i = 0; i < s->n_outlets; i++) {
		if (!s->outlets[i].have_em) {
			all = false;
			break;
		}
		watts += s->outlets[i].em.power_w;
		kwh += s->outlets[i].em.total_kwh;
	}
	o = new_body(&b, s->metrics_uri, "#PowerDistributionMetrics.v1_4_0.PowerDistributionMetrics",
		     "Metrics", "Power distribution metrics");
	put_sensor(&b, o, "PowerWatts", all, watts);
	put_sensor(&b, o, "EnergykWh", all, kwh);
	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/PowerDistributionMetrics.ResetMetrics",
		 s->metrics_uri);
	put_str(&b, act, "target", target);
	put(&b, actions, "#PowerDistributionMetrics.ResetMetrics", act);
	put(&b, o, "Actions", actions);
	return finish(&b, o);
}

static struct json_object *chassis_body(struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links, *outlets;

	o = new_body(&b, s->chassis_uri, "#Chassis.v1_28_0.Chassis", s->name, strip_title(s));
	put_str(&b, o, "ChassisType", "PowerStrip");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si)
		put_str(&b, o, "Model", s->si.model);
	else
		put_null(&b, o, "Model");
	put_status(&b, o, s->online);
	if (s->online)
		put_str(&b, o, "PowerState", "On");   /* it answers, so it has power */
	else
		put_null(&b, o, "PowerState");
	links = json_object_new_object();
	outlets = json_object_new_array();
	for (size_t i = 0; outlets && i < s->n_outlets; i++) {
		_cleanup_free_ char *u = outlet_uri(s, i);
		struct json_object *l = u ? new_link(u) : NULL;

		if (!l || json_object_array_add(outlets, l) < 0) {
			json_object_put(l);
			b.oom = true;
		}
	}
	put(&b, links, "PowerOutlets", outlets);
	put_links1(&b, links, "ManagedBy", s->manager_uri);
	put_link(&b, links, "PowerDistribution", s->pdu_uri);
	put(&b, o, "Links", links);
	return finish(&b, o);
}

static struct json_object *manager_body(struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links, *actions, *act, *vals, *oem, *tp;
	char target[512];

	o = new_body(&b, s->manager_uri, "#Manager.v1_24_0.Manager", s->name, strip_title(s));
	/* ManagementController: "a controller that primarily monitors or manages
	 * the operation of a device or system" — the strip's own controller.
	 * (EnclosureManager aggregates other BMCs; Service is software.) */
	put_str(&b, o, "ManagerType", "ManagementController");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si) {
		put_str(&b, o, "Model", s->si.model);
		put_str(&b, o, "FirmwareVersion", s->si.sw_ver);
	} else {
		put_null(&b, o, "Model");
		put_null(&b, o, "FirmwareVersion");
	}
	put_status(&b, o, s->online);
	if (s->online)
		put_str(&b, o, "PowerState", "On");
	else
		put_null(&b, o, "PowerState");

	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/Manager.Reset", s->manager_uri);
	put_str(&b, act, "target", target);
	vals = json_object_new_array();
	if (vals) {
		struct json_object *v = json_object_new_string("GracefulRestart");

		if (!v || json_object_array_add(vals, v) < 0) {
			json_object_put(v);
			b.oom = true;
		}
	}
	put(&b, act, "ResetType@Redfish.AllowableValues", vals);
	put(&b, actions, "#Manager.Reset", act);
	put(&b, o, "Actions", actions);

	links = json_object_new_object();
	put_links1(&b, links, "ManagerForChassis", s->chassis_uri);
	put_link(&b, links, "ManagerInChassis", s->chassis_uri);
	put(&b, o, "Links", links);

	/* The Manager schema has no place for a MAC outside EthernetInterfaces,
	 * which a Kasa device cannot describe (no addressing, no link state). */
	if (s->have_si) {
		oem = json_object_new_object();
		tp = json_object_new_object();
		put_str(&b, tp, "MACAddress", s->si.mac);
		put_str(&b, tp, "DeviceId", s->si.device_id);
		if (s->online)
			put(&b, tp, "LedOn", json_object_new_boolean(!s->si.led_off));
		else
			put_null(&b, tp, "LedOn");
		put(&b, oem, "TPLink", tp);
		put(&b, o, "Oem", oem);
	}
	return finish(&b, o);
}

/* ---- installing --------------------------------------------------------------- */

struct inst {
	char *uri;                          /* malloc'd, or borrowed when !own */
	bool own;
	struct json_object *body;
	const struct rf_writable *writable;
};

/* Build the bodies from the cached state and install them based on g;
 * remove outlets (and Metrics) that no longer exist. only: every resource
 * (SIZE_MAX), or just outlet only and the Metrics, which are all that an
 * outlet switching changes. Called with s->io held (so installs keep the
 * order of the device's answers), without s->lock. 0 or the first error
 * other than -ESTALE (a newer install won: fine). */
static int strip_install_only(struct kasa_strip *s, uint64_t g, size_t only)
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
	/* Outlets first, the PowerDistribution last: a reader who sees the
	 * strip's new state (say, UnavailableOffline) sees it everywhere. */
	for (size_t i = 0; i < s->n_outlets; i++) {
		char *u;

		if (only != SIZE_MAX && i != only)
			continue;
		u = outlet_uri(s, i);
		v[n++] = (struct inst){ u, true, u ? outlet_body(s, i, u) : NULL, label_writable };
	}
	new_metrics = strip_metered(s);
	if (new_metrics)
		v[n++] = (struct inst){ s->metrics_uri, false, metrics_body(s), NULL };
	if (only == SIZE_MAX) {
		v[n++] = (struct inst){ s->chassis_uri, false, chassis_body(s), NULL };
		v[n++] = (struct inst){ s->manager_uri, false, manager_body(s), manager_writable };
		v[n++] = (struct inst){ s->pdu_uri, false, pdu_body(s), label_writable };
	}
	old_outlets = s->installed_outlets;
	new_outlets = s->n_outlets;
	old_metrics = s->metrics_installed;
	s->installed_outlets = new_outlets;
	s->metrics_installed = new_metrics;
	pthread_mutex_unlock(&s->lock);

	for (size_t i = 0; i < n; i++) {
		int k;

		if (!v[i].uri || !v[i].body) {
			json_object_put(v[i].body);
			k = -ENOMEM;
		} else {
			k = rf_tree_install(t, &s->kp->rp, v[i].uri, v[i].body, v[i].writable, g);
		}
		if (k < 0 && k != -ESTALE && r == 0)
			r = k;
		if (v[i].own)
			free(v[i].uri);
	}
	free(v);
	for (size_t i = new_outlets; i < old_outlets; i++) {
		_cleanup_free_ char *u = NULL;

		if (asprintf(&u, "%s/%zu", s->outlets_uri, i + 1) >= 0)
			rf_tree_remove(t, u);
	}
	if (old_metrics && !new_metrics)
		rf_tree_remove(t, s->metrics_uri);
	return r;
}

static int strip_install(struct kasa_strip *s, uint64_t g)
{
	return strip_install_only(s, g, SIZE_MAX);
}

/* ---- talking to the device (s->io held) -------------------------------------- */

/* Take a new sysinfo into the cache (moved: *si is cleared), resizing the
 * outlet array; meter readings of outlets that stay are kept. s->lock held. */
static int strip_take_si(struct kasa_strip *s, struct kasa_sysinfo *si)
{
	size_t n = si_outlets(si);

	if (n != s->n_outlets) {
		struct kasa_outlet *o = realloc(s->outlets, n * sizeof(*o));

		if (!o)
			return -ENOMEM;
		for (size_t i = s->n_outlets; i < n; i++)
			o[i] = (struct kasa_outlet){ 0 };
		s->outlets = o;
		s->n_outlets = n;
	}
	kasa_sysinfo_clear(&s->si);
	s->si = *si;
	*si = (struct kasa_sysinfo){ 0 };
	s->have_si = true;
	return 0;
}

/* The device did not answer (or answered nonsense to a poll): show it
 * offline. */
static void strip_mark_offline(struct kasa_strip *s, uint64_t g)
{
	pthread_mutex_lock(&s->lock);
	s->online = false;
	pthread_mutex_unlock(&s->lock);
	strip_install(s, g);
}

/* After a device request (io held): the device refused it with an
 * err_code (r == -EIO and the reply said why): tell the owner, once for a
 * run of the same refusal; a success of the same method (r == 0) ends the
 * run, so a meter that fails every poll is reported once, and a command
 * that fails again after working is reported again. */
static void strip_note(struct kasa_strip *s, const char *method, int r)
{
	_cleanup_free_ char *msg = NULL, *host = NULL;
	char text[160];
	int code;
	bool report = false;

	if (r == 0) {
		size_t n = strlen(method);

		pthread_mutex_lock(&s->lock);
		if (s->last_err && !strncmp(s->last_err, method, n) && s->last_err[n] == ':') {
			free(s->last_err);
			s->last_err = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (r != -EIO)
		return;
	code = kasa_dev_last_error(s->dev, text, sizeof(text));
	if (code == 0)
		return;
	if (asprintf(&msg, "%s: the device answered err_code %d%s%s", method, code,
		     *text ? ": " : "", text) < 0) {
		msg = NULL;
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->last_err || strcmp(s->last_err, msg) != 0) {
		char *copy = strdup(msg);

		if (copy) {
			free(s->last_err);
			s->last_err = copy;
			report = true;
			host = strdup(s->host);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (report)
		kasa_event(s->kp, KASA_EVENT_DEVICE_ERROR, s->name, host ? host : "", -EIO, msg);
}

/* Whether si comes from the device s shows (a device keeps its deviceId;
 * another device at the address means ours is not there). */
static bool strip_same_device(struct kasa_strip *s, const struct kasa_sysinfo *si)
{
	bool same;

	pthread_mutex_lock(&s->lock);
	same = !s->have_si || !strcmp(s->si.device_id, si->device_id);
	pthread_mutex_unlock(&s->lock);
	return same;
}

/* One full poll: sysinfo, then the meter of every outlet. Installs the new
 * state, or the offline state when the device failed. 0 or -errno. */
static int strip_poll_io(struct kasa_strip *s)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_emeter *em = NULL;
	bool *have = NULL;
	size_t n = 0;
	uint64_t g;
	int r;

	g = rf_tree_generation(s->kp->t);
	r = kasa_get_sysinfo(s->dev, &si);
	strip_note(s, "get_sysinfo", r);
	if (r == 0 && !strip_same_device(s, &si))
		r = -EHOSTUNREACH;   /* another device took the address */
	if (r < 0)
		goto fail;
	n = si_outlets(&si);
	em = calloc(n, sizeof(*em));
	have = calloc(n, sizeof(*have));
	if (!em || !have) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; si.has_emeter && i < n; i++) {
		_cleanup_free_ char *child = NULL;

		if (kasa_stopping(s->kp)) {
			r = -ECANCELED;
			goto out;
		}
		r = si_child_id(&si, i, &child);
		if (r < 0)
			goto out;
		r = kasa_get_emeter(s->dev, child, &em[i]);
		strip_note(s, "emeter.get_realtime", r);
		if (r == -EIO)          /* it answered, but no reading: null */
			continue;
		if (r < 0)
			goto fail;
		have[i] = true;
	}
	pthread_mutex_lock(&s->lock);
	r = strip_take_si(s, &si);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			s->outlets[i].have_em = have[i];
			s->outlets[i].em = em[i];
		}
		s->online = true;
		s->last_ok_ms = now_ms();
	}
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		r = strip_install(s, g);
	goto out;
fail:
	strip_mark_offline(s, g);
out:
	kasa_sysinfo_clear(&si);
	free(em);
	free(have);
	return r;
}

/* After a confirmed command: read the state back, cache it, install it.
 * check (may be NULL) verifies the read-back shows what was asked; -EIO if
 * not (the read-back is installed anyway: it is the truth). meters: the
 * outlets (bit i: outlet i) that were switched, whose meters changed too
 * and are read back with the state; if such a read fails, the next poll
 * corrects the reading. */
static int strip_readback(struct kasa_strip *s,
			  bool (*check)(const struct kasa_sysinfo *si, const void *arg),
			  const void *arg, uint64_t meters)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_emeter em[64];
	uint64_t have_em = 0;
	uint64_t g;
	int r, k;

	g = rf_tree_generation(s->kp->t);
	r = kasa_get_sysinfo(s->dev, &si);
	strip_note(s, "get_sysinfo", r);
	if (r == 0 && !strip_same_device(s, &si)) {
		kasa_sysinfo_clear(&si);
		r = -EHOSTUNREACH;
	}
	if (r < 0) {
		if (kasa_err_unreachable(r))
			strip_mark_offline(s, g);
		return r;
	}
	if (check && !check(&si, arg))
		r = -EIO;
	for (size_t i = 0; si.has_emeter && i < si_outlets(&si) && i < 64; i++) {
		_cleanup_free_ char *child = NULL;

		if ((meters & (UINT64_C(1) << i)) && si_child_id(&si, i, &child) == 0 &&
		    kasa_get_emeter(s->dev, child, &em[i]) == 0)
			have_em |= UINT64_C(1) << i;
	}
	pthread_mutex_lock(&s->lock);
	k = strip_take_si(s, &si);
	for (size_t i = 0; k == 0 && i < s->n_outlets && i < 64; i++) {
		if (have_em & (UINT64_C(1) << i)) {
			s->outlets[i].em = em[i];
			s->outlets[i].have_em = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	kasa_sysinfo_clear(&si);
	if (k == 0)
		k = strip_install(s, g);
	return r < 0 ? r : k;
}

/* A command failed: an unreachable device goes offline; a device's
 * refusal goes to the owner. */
static int strip_cmd_failed(struct kasa_strip *s, uint64_t g, int r)
{
	if (kasa_err_unreachable(r))
		strip_mark_offline(s, g);
	return r;
}

/* A command's reply r (method, sent after generation g): noted; a failure
 * takes an unreachable device offline, a success is read back (check, arg);
 * then the command ends (io released). Returns r or the read-back's. */
static int strip_cmd_end(struct kasa_strip *s, uint64_t g, int r, const char *method,
			 bool (*check)(const struct kasa_sysinfo *si, const void *arg), const void *arg)
{
	strip_note(s, method, r);
	if (r < 0)
		strip_cmd_failed(s, g, r);
	else
		r = strip_readback(s, check, arg, 0);
	pthread_mutex_unlock(&s->io);
	return r;
}

/* Begin a command: take io and check the device is online (an offline
 * device fails at once, before and after waiting for io). 0 with io held. */
static int strip_cmd_begin(struct kasa_strip *s)
{
	bool online;

	pthread_mutex_lock(&s->lock);
	online = s->online;
	pthread_mutex_unlock(&s->lock);
	if (!online)
		return -EHOSTUNREACH;
	pthread_mutex_lock(&s->io);
	pthread_mutex_lock(&s->lock);
	online = s->online;
	pthread_mutex_unlock(&s->lock);
	if (!online) {
		pthread_mutex_unlock(&s->io);
		return -EHOSTUNREACH;
	}
	return 0;
}

/* The child id of outlet i from the cache (under s->lock). */
static int strip_child_id(struct kasa_strip *s, size_t i, char **ret)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->have_si && i < s->n_outlets ? si_child_id(&s->si, i, ret) : -ENOENT;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- polling and the poller thread ------------------------------------------- */

/* Poll now, or if a poll is already in flight, wait for it (shared). */
static void strip_poll_shared(struct kasa_strip *s)
{
	int64_t start, period, next;

	pthread_mutex_lock(&s->lock);
	if (s->polling) {
		uint64_t seq = s->poll_seq;

		while (s->poll_seq == seq)
			pthread_cond_wait(&s->done, &s->lock);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->polling = true;
	s->poll_requested = false;
	s->readback_ms = 0;
	s->readback_mask = 0;
	pthread_mutex_unlock(&s->lock);

	start = now_ms();
	pthread_mutex_lock(&s->io);
	strip_poll_io(s);
	pthread_mutex_unlock(&s->io);

	/* A steady cadence from the poll's start; a poll that overran its
	 * period (a silent device) is followed by a full period of rest. */
	period = (int64_t)s->kp->poll_s * 1000;
	next = start + period;
	if (next <= now_ms())
		next = now_ms() + period;
	pthread_mutex_lock(&s->lock);
	s->polling = false;
	s->poll_seq++;
	s->next_poll_ms = next;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
}

/* Earliest due PowerCycle On (under s->lock), 0 none. */
static int64_t strip_next_pending(const struct kasa_strip *s)
{
	int64_t best = 0;

	for (size_t i = 0; i < s->n_outlets; i++) {
		int64_t p = s->outlets[i].pending_on_ms;

		if (p && (!best || p < best))
			best = p;
	}
	return best;
}

static bool check_outlet_on(const struct kasa_sysinfo *si, const void *arg)
{
	size_t i = *(const size_t *)arg;

	return i < si_outlets(si) && si_outlet_on(si, i);
}

/* Run the due PowerCycle "On"s (poller thread). */
static void strip_run_pending(struct kasa_strip *s)
{
	pthread_mutex_lock(&s->io);
	for (;;) {
		_cleanup_free_ char *child = NULL;
		int64_t now = now_ms();
		size_t i, idx = SIZE_MAX;
		uint64_t g;
		int r;

		pthread_mutex_lock(&s->lock);
		for (i = 0; s->online && i < s->n_outlets; i++)
			if (s->outlets[i].pending_on_ms && s->outlets[i].pending_on_ms <= now) {
				idx = i;
				break;
			}
		r = idx != SIZE_MAX ? si_child_id(&s->si, idx, &child) : -ENOENT;
		pthread_mutex_unlock(&s->lock);
		if (idx == SIZE_MAX || kasa_stopping(s->kp))
			break;
		g = rf_tree_generation(s->kp->t);
		if (r < 0)
			goto drop;
		r = kasa_set_relay(s->dev, child, true);
		strip_note(s, "set_relay_state", r);
		if (kasa_err_unreachable(r)) {
			/* stays pending: runs when the device answers again */
			strip_mark_offline(s, g);
			break;
		}
drop:
		pthread_mutex_lock(&s->lock);
		s->outlets[idx].pending_on_ms = 0;
		pthread_mutex_unlock(&s->lock);
		if (r < 0) {
			strip_install(s, g);   /* PowerStateInTransition is over */
			continue;
		}
		strip_readback(s, check_outlet_on, &idx, outlet_bit(idx));
	}
	pthread_mutex_unlock(&s->io);
}

static void *strip_thread(void *arg)
{
	struct kasa_strip *s = arg;
	struct kasa_provider *kp = s->kp;

	pthread_mutex_lock(&s->lock);
	while (!kasa_stopping(kp) && !s->removed) {
		int64_t now = now_ms();
		int64_t due = s->next_poll_ms;
		int64_t pend = s->online ? strip_next_pending(s) : 0;
		struct timespec ts;

		if (s->readback_ms && now >= s->readback_ms && !s->poll_requested && now < due) {
			/* The read-back after commands: the state and the
			 * switched outlets' meters, not a whole poll. */
			uint64_t mask = s->readback_mask;

			s->readback_ms = 0;
			s->readback_mask = 0;
			pthread_mutex_unlock(&s->lock);
			pthread_mutex_lock(&s->io);
			strip_readback(s, NULL, NULL, mask);
			pthread_mutex_unlock(&s->io);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->readback_ms && s->readback_ms < due)
			due = s->readback_ms;
		if (s->poll_requested || now >= due) {
			pthread_mutex_unlock(&s->lock);
			strip_poll_shared(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (pend && now >= pend) {
			pthread_mutex_unlock(&s->lock);
			strip_run_pending(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		ts = deadline_ts(pend && pend < due ? pend : due);
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int strip_start_thread(struct kasa_strip *s)
{
	int r = pthread_create(&s->thread, NULL, strip_thread, s);

	if (r)
		return -r;
	s->thread_running = true;
	return 0;
}

/* ---- finding a strip from a URI ----------------------------------------------- */

enum kasa_res {
	KASA_RES_PDU,
	KASA_RES_OUTLETS,
	KASA_RES_OUTLET,
	KASA_RES_METRICS,
	KASA_RES_CHASSIS,
	KASA_RES_MANAGER,
};

/* rest of uri after prefix ("" or "/..."), or NULL if uri is not below it. */
static const char *under(const char *uri, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(uri, prefix, n) != 0 || (uri[n] != '\0' && uri[n] != '/'))
		return NULL;
	return uri + n;
}

/* Which strip and resource uri (an action target is reduced to its
 * resource) names. 0 or -ENOENT. */
static int kasa_lookup(struct kasa_provider *kp, const char *uri, struct kasa_strip **ret_s,
		       enum kasa_res *ret_res, size_t *ret_outlet)
{
	_cleanup_free_ char *u = strdup(uri ? uri : "");
	struct kasa_strip *s = NULL;
	const char *rest = NULL;
	enum kasa_res res = KASA_RES_PDU;
	size_t outlet = 0;
	char *a;

	if (!u)
		return -ENOMEM;
	a = strstr(u, "/Actions/");
	if (a)
		*a = '\0';
	pthread_mutex_lock(&kp->lock);
	for (size_t i = 0; i < kp->n_strips && !s; i++) {
		struct kasa_strip *c = kp->strips[i];

		if ((rest = under(u, c->pdu_uri))) {
			s = c;
		} else if ((rest = under(u, c->chassis_uri))) {
			s = c;
			res = KASA_RES_CHASSIS;
		} else if ((rest = under(u, c->manager_uri))) {
			s = c;
			res = KASA_RES_MANAGER;
		}
	}
	pthread_mutex_unlock(&kp->lock);
	if (!s)
		return -ENOENT;
	if (res == KASA_RES_MANAGER && *rest)
		return -ENOENT;
	if (res == KASA_RES_CHASSIS && *rest) {
		/* the Outlets alias */
		if (strncmp(rest, "/Outlets", 8) != 0)
			return -ENOENT;
		res = KASA_RES_PDU;
	}
	if (res == KASA_RES_PDU && *rest) {
		if (!strcmp(rest, "/Metrics")) {
			res = KASA_RES_METRICS;
		} else if (!strcmp(rest, "/Outlets")) {
			res = KASA_RES_OUTLETS;
		} else if (!strncmp(rest, "/Outlets/", 9)) {
			const char *num = rest + 9;
			char *end;
			unsigned long v;

			if (*num < '1' || *num > '9')
				return -ENOENT;
			errno = 0;
			v = strtoul(num, &end, 10);
			if (errno || *end || v == 0)
				return -ENOENT;
			res = KASA_RES_OUTLET;
			outlet = v - 1;
		} else {
			return -ENOENT;
		}
	}
	*ret_s = s;
	*ret_res = res;
	*ret_outlet = outlet;
	return 0;
}

/* ---- provider ops --------------------------------------------------------------- */

static int kasa_op_refresh(struct rf_provider *p, const char *uri, int64_t max_age_ms)
{
	struct kasa_provider *kp = p->userdata;
	struct kasa_strip *s;
	enum kasa_res res;
	size_t outlet;
	bool threaded;
	uint64_t seq;
	int64_t deadline;
	int r;

	r = kasa_lookup(kp, uri, &s, &res, &outlet);
	if (r < 0)
		return r;
	pthread_mutex_lock(&kp->lock);
	threaded = s->thread_running;
	pthread_mutex_unlock(&kp->lock);

	pthread_mutex_lock(&s->lock);
	if (!s->online || (s->last_ok_ms && now_ms() - s->last_ok_ms <= max_age_ms) ||
	    kasa_stopping(kp)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (!threaded) {
		pthread_mutex_unlock(&s->lock);
		strip_poll_shared(s);
		return 0;
	}
	/* Ask the poller and wait for it at most one timeout: a read never
	 * waits longer, and then shows the tree as it is. */
	seq = s->poll_seq;
	s->poll_requested = true;
	pthread_cond_signal(&s->wake);
	deadline = now_ms() + kp->timeout_ms;
	while (s->poll_seq == seq && !kasa_stopping(kp)) {
		struct timespec ts = deadline_ts(deadline);

		if (pthread_cond_timedwait(&s->done, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct check_alias {
	size_t outlet;          /* SIZE_MAX: the device alias */
	const char *alias;
};

static bool check_alias(const struct kasa_sysinfo *si, const void *arg)
{
	const struct check_alias *c = arg;
	const char *a;

	if (c->outlet == SIZE_MAX)
		a = si->alias;
	else if (c->outlet < si_outlets(si))
		a = si_outlet_alias(si, c->outlet);
	else
		return false;
	return a && !strcmp(a, c->alias);
}

static bool check_led(const struct kasa_sysinfo *si, const void *arg)
{
	return si->led_off == *(const bool *)arg;
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

static int strip_set_alias(struct kasa_strip *s, size_t outlet, const char *label)
{
	_cleanup_free_ char *child = NULL;
	struct check_alias c = { outlet, label };
	uint64_t g;
	int r;

	if (strlen(label) > KASA_LABEL_MAX)
		return -EINVAL;
	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	if (outlet != SIZE_MAX && (r = strip_child_id(s, outlet, &child)) < 0) {
		pthread_mutex_unlock(&s->io);
		return r;
	}
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_alias(s->dev, child, label);
	return strip_cmd_end(s, g, r, "set_dev_alias", check_alias, &c);
}

static int strip_set_led(struct kasa_strip *s, bool on)
{
	bool off = !on;
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_led(s->dev, off);
	return strip_cmd_end(s, g, r, "set_led_off", check_led, &off);
}

static int kasa_op_patch(struct rf_provider *p, const char *uri, struct json_object *delta)
{
	struct kasa_provider *kp = p->userdata;
	struct kasa_strip *s;
	enum kasa_res res;
	size_t outlet;
	int r;

	r = kasa_lookup(kp, uri, &s, &res, &outlet);
	if (r < 0)
		return r;
	if (!json_object_is_type(delta, json_type_object))
		return -EINVAL;
	json_object_object_foreach(delta, key, val) {
		if (!strcmp(key, "UserLabel") && (res == KASA_RES_OUTLET || res == KASA_RES_PDU)) {
			if (!json_object_is_type(val, json_type_string))
				return -EINVAL;
			r = strip_set_alias(s, res == KASA_RES_OUTLET ? outlet : SIZE_MAX,
					    json_object_get_string(val));
		} else if (!strcmp(key, "Oem") && res == KASA_RES_MANAGER) {
			struct json_object *tp, *led;
			bool on;

			if (!json_object_object_get_ex(val, "TPLink", &tp) ||
			    !json_object_object_get_ex(tp, "LedOn", &led) ||
			    json_object_object_length(val) != 1 || json_object_object_length(tp) != 1 ||
			    json_bool_value(led, &on) < 0)
				return -EINVAL;
			r = strip_set_led(s, on);
		} else {
			return -EACCES;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Outlet.PowerControl: On, Off, PowerCycle. */
/* The device acknowledged switching outlet idx: the cache shows it, and an
 * outlet switched off draws no power or current. s->lock held. */
static void strip_assume_relay(struct kasa_strip *s, size_t idx, bool on)
{
	if (!s->have_si || idx >= s->n_outlets)
		return;
	if (s->si.n_children > 0)
		s->si.children[idx].on = on;
	else
		s->si.on = on;
	if (!on && s->outlets[idx].have_em) {
		s->outlets[idx].em.power_w = 0;
		s->outlets[idx].em.current_a = 0;
	}
}

static int outlet_power(struct kasa_strip *s, size_t idx, const char *state)
{
	_cleanup_free_ char *child = NULL;
	bool cycle = !strcmp(state, "PowerCycle");
	bool on = !strcmp(state, "On");
	bool threaded;
	uint64_t g;
	int r;

	if (!cycle && !on && strcmp(state, "Off"))
		return -EINVAL;
	pthread_mutex_lock(&s->kp->lock);
	threaded = s->thread_running;
	pthread_mutex_unlock(&s->kp->lock);
	if (cycle && !threaded)
		return -EAGAIN;   /* the On is run by the poller: start it first */
	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = s->have_si && idx < s->n_outlets ? si_child_id(&s->si, idx, &child) : -ENOENT;
	if (r == 0)
		s->outlets[idx].pending_on_ms = 0;   /* a later command cancels the On */
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		goto out;
	g = rf_tree_generation(s->kp->t);
	r = kasa_set_relay(s->dev, child, on);
	strip_note(s, "set_relay_state", r);
	if (r < 0) {
		strip_cmd_failed(s, g, r);
		/* the cancelled On no longer shows as a transition */
		if (!kasa_err_unreachable(r))
			strip_install(s, g);
		goto out;
	}
	if (cycle) {
		/* Pending before the read-back, so the installed body shows the
		 * transition; withdrawn if Off is not confirmed. */
		pthread_mutex_lock(&s->lock);
		s->outlets[idx].pending_on_ms = now_ms() + KASA_CYCLE_DELAY_S * 1000;
		pthread_mutex_unlock(&s->lock);
	}
	if (threaded) {
		/* The device acknowledged the command (err_code 0): the
		 * confirmation this write returns on. The tree shows the
		 * commanded state at once (an outlet switched off draws
		 * nothing), and the poller reads state and meters back within
		 * KASA_READBACK_SETTLE_MS, correcting anything the device did
		 * otherwise. So a command costs one round trip, and a burst
		 * of commands shares one read-back. */
		pthread_mutex_lock(&s->lock);
		strip_assume_relay(s, idx, on);
		if (!s->readback_ms)
			s->readback_ms = now_ms() + KASA_READBACK_SETTLE_MS;
		s->readback_mask |= outlet_bit(idx);
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		r = strip_install_only(s, g, idx);
		goto out;
	}
	/* No poller yet (before kasa_provider_start): read back here. */
	if (on)
		r = strip_readback(s, check_outlet_on, &idx, outlet_bit(idx));
	else
		r = strip_readback(s, NULL, NULL, outlet_bit(idx));
	pthread_mutex_lock(&s->lock);
	if (!on && r == 0 && idx < s->n_outlets && si_outlet_on(&s->si, idx))
		r = -EIO;
	if (cycle) {
		if (r < 0 && idx < s->n_outlets)
			s->outlets[idx].pending_on_ms = 0;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	if (cycle && r < 0)
		strip_install(s, rf_tree_generation(s->kp->t));
out:
	pthread_mutex_unlock(&s->io);
	return r;
}

/* Erase the meter of outlet idx (SIZE_MAX: every outlet), then read the
 * state and the meters back. */
static int strip_reset_metrics(struct kasa_strip *s, size_t idx)
{
	size_t from = idx == SIZE_MAX ? 0 : idx, to, n;
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	n = s->n_outlets;
	r = strip_metered(s) && (idx == SIZE_MAX || idx < n) ? 0 : -ENOENT;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		goto out;
	to = idx == SIZE_MAX ? n : idx + 1;
	g = rf_tree_generation(s->kp->t);
	for (size_t i = from; i < to; i++) {
		_cleanup_free_ char *child = NULL;

		r = strip_child_id(s, i, &child);
		if (r < 0)
			goto out;
		r = kasa_erase_emeter(s->dev, child);
		strip_note(s, "erase_emeter_stat", r);
		if (r < 0) {
			strip_cmd_failed(s, g, r);
			goto out;
		}
	}
	/* The meters are part of the state the caller must see: a full poll. */
	r = strip_poll_io(s);
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		for (size_t i = from; i < to && i < s->n_outlets; i++)
			if (s->outlets[i].have_em && s->outlets[i].em.total_kwh > 0.0005)
				r = -EIO;   /* not erased */
		pthread_mutex_unlock(&s->lock);
	}
out:
	pthread_mutex_unlock(&s->io);
	return r;
}

static int strip_reboot(struct kasa_strip *s)
{
	uint64_t g;
	int r;

	r = strip_cmd_begin(s);
	if (r < 0)
		return r;
	g = rf_tree_generation(s->kp->t);
	r = kasa_reboot(s->dev, KASA_REBOOT_DELAY_S);
	return strip_cmd_end(s, g, r, "reboot", NULL, NULL);   /* it answers until the delay ends */
}

static const char *param_str(struct json_object *params, const char *name)
{
	struct json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int kasa_op_action(struct rf_provider *p, const char *uri, const char *action,
			  struct json_object *params)
{
	struct kasa_provider *kp = p->userdata;
	struct kasa_strip *s;
	enum kasa_res res;
	size_t outlet;
	const char *v;
	int r;

	if (!action)
		return -EINVAL;
	r = kasa_lookup(kp, uri, &s, &res, &outlet);
	if (r < 0)
		return r;
	if (res == KASA_RES_OUTLET && !strcmp(action, "Outlet.PowerControl")) {
		v = param_str(params, "PowerState");
		return v ? outlet_power(s, outlet, v) : -EINVAL;
	}
	if (res == KASA_RES_OUTLET && !strcmp(action, "Outlet.ResetMetrics"))
		return strip_reset_metrics(s, outlet);
	if (res == KASA_RES_METRICS && !strcmp(action, "PowerDistributionMetrics.ResetMetrics"))
		return strip_reset_metrics(s, SIZE_MAX);
	if (res == KASA_RES_MANAGER && !strcmp(action, "Manager.Reset")) {
		v = param_str(params, "ResetType");
		if (!v || strcmp(v, "GracefulRestart"))
			return -EINVAL;
		return strip_reboot(s);
	}
	return -ENOENT;
}

static const struct rf_provider_ops kasa_ops = {
	.refresh = kasa_op_refresh,
	.patch = kasa_op_patch,
	.action = kasa_op_action,
};

/* ---- lifetime ------------------------------------------------------------------- */

static struct kasa_strip *strip_free(struct kasa_strip *s)
{
	if (!s)
		return NULL;
	kasa_dev_free(s->dev);
	free(s->host);
	free(s->last_err);
	kasa_sysinfo_clear(&s->si);
	free(s->outlets);
	free(s->name);
	free(s->pdu_uri);
	free(s->outlets_uri);
	free(s->metrics_uri);
	free(s->chassis_uri);
	free(s->manager_uri);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->io);
	free(s);
	return NULL;
}

static struct kasa_strip *strip_new(struct kasa_provider *kp, const char *host, uint16_t port)
{
	struct kasa_strip *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->kp = kp;
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
	s->dev = kasa_dev_new(host, port, kp->timeout_ms);
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
	    asprintf(&s->manager_uri, "%s%s", URI_MANAGERS, name) < 0)
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
	kp->rp.ops = &kasa_ops;
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
		strip_free(s);
	}
	free(kp->strips);
	for (size_t i = 0; i < kp->n_gone; i++)
		strip_free(kp->gone[i]);
	free(kp->gone);
	close(kp->cancel[0]);
	close(kp->cancel[1]);
	strmap_free(kp->reported);
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
			   uint16_t port, struct kasa_sysinfo *known, struct kasa_strip **ret_s)
{
	struct kasa_sysinfo si = { 0 };
	struct kasa_strip *s, **v;
	_cleanup_free_ char *base = NULL;
	char *unique = NULL;
	uint64_t g;
	int probe, r;

	s = strip_new(kp, host, port);
	if (!s)
		return -ENOMEM;

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
	/* The device's identity before the strip is visible, so a concurrent
	 * discovery of the same device sees it (device_taken). */
	if (probe == 0) {
		pthread_mutex_lock(&s->lock);
		r = strip_take_si(s, &si);
		s->online = r == 0;
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			goto fail;
	}

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
	r = rf_tree_add_collection(kp->t, &kp->rp, s->outlets_uri,
				   "#OutletCollection.OutletCollection", "Outlets");
	/* The first install. A configured strip: a full poll (meters too)
	 * while still on the terminal. A discovered one shows at once from its
	 * discovery reply; its poller reads the meters right away. */
	if (r >= 0)
		r = probe == 0 && !known ? strip_poll_io(s) : strip_install(s, g);
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
			r = strip_start_thread(s);
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
	return provider_attach(kp, name, host, port, NULL, NULL);
}

/* ---- discovery ------------------------------------------------------------------ */

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
		id = o->have_si && !strcmp(o->si.device_id, f->device_id);
		addr = !o->have_si && o->port == f->port && !strcmp(o->host, f->addr);
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

/* Ask s's poller for a poll now (the device answered discovery: an
 * offline strip comes back without waiting for its next poll). */
static void strip_request_poll(struct kasa_strip *s)
{
	pthread_mutex_lock(&s->lock);
	s->poll_requested = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
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
	struct kasa_dev *nd = kasa_dev_new(addr, port, s->kp->timeout_ms), *old;
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
	strip_request_poll(s);
	kasa_event(s->kp, KASA_EVENT_MOVED, s->name, addr, 0, from);
}

/* A device we cannot drive: reported once per device (deviceId, else MAC,
 * else address) for the provider's life. */
static void disc_unsupported(struct kasa_provider *kp, const struct kasa_found *f)
{
	const char *key = *f->device_id ? f->device_id : *f->mac ? f->mac : f->addr;
	_cleanup_free_ char *msg = NULL;
	bool fresh;

	pthread_mutex_lock(&kp->lock);
	fresh = !strmap_get(kp->reported, key) && strmap_put(kp->reported, key, kp) == 0;
	pthread_mutex_unlock(&kp->lock);
	if (!fresh)
		return;
	if (asprintf(&msg, "%s%s%s%s%s%s", *f->model ? f->model : "a device",
		     *f->mac ? " (MAC " : "", f->mac, *f->mac ? ")" : "", ": ", f->reason) < 0)
		msg = NULL;
	kasa_event(kp, KASA_EVENT_UNSUPPORTED, NULL, f->addr, -EPROTONOSUPPORT,
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
	if (!f->supported) {
		disc_unsupported(kp, f);
		return;
	}
	pthread_mutex_lock(&kp->lock);
	s = strip_for_found(kp, f, &by_id);
	pthread_mutex_unlock(&kp->lock);
	if (s) {
		/* Known: follow it if it moved; wake it if it was offline. */
		pthread_mutex_lock(&s->lock);
		online = s->online;
		same = s->port == f->port && !strcmp(s->host, f->addr);
		numeric = host_numeric(s->host);
		pthread_mutex_unlock(&s->lock);
		if (by_id && !same && (!online || numeric || s->discovered))
			strip_move(s, f->addr, f->port);
		else if (!online)
			strip_request_poll(s);
		return;
	}
	r = provider_attach(kp, NULL, f->addr, f->port, &f->info, &s);
	if (r == 0)
		kasa_event(kp, KASA_EVENT_FOUND, s->name, f->addr, 0, f->model);
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
			kasa_event(kp, KASA_EVENT_DISCOVERY_FAILED, NULL, d->addr, r, text);
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
			r = strip_start_thread(kp->strips[i]);
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
	return 0;
}
