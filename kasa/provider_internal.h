/* provider_internal.h — what the kasa/provider*.c files share: the strip,
 * the provider, the per-resource cookie, and each file's functions for the
 * others. Only provider*.c include it (and with it redfish.h); the
 * protocol files never do. kasa/provider.c documents threads and locks.
 *
 *   provider.c          lifetime, names, discovery
 *   provider_strip.c    the per-strip poll/command state machine
 *   provider_install.c  building every body from the cache and installing it
 *   provider_docs.c     the Redfish documents of a strip
 *   provider_ops.c      the rf_provider_ops: cookie to strip command */
#ifndef REDFISHFS_KASA_PROVIDER_INTERNAL_H
#define REDFISHFS_KASA_PROVIDER_INTERNAL_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kasa.h"
#include "provider.h"
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

struct kasa_strip;

/* The cookie a resource is installed with (rf_tree_install_cookie): which
 * strip and which of its resources a patch or action is for. Lives as
 * long as the strip (so a write racing a removal still finds valid
 * memory); an outlet index past the strip's current outlets is -ENOENT at
 * use. */
enum kasa_res_kind {
	KASA_RES_PDU,
	KASA_RES_OUTLET,
	KASA_RES_METRICS,
	KASA_RES_CHASSIS,
	KASA_RES_MANAGER,
};

struct kasa_res {
	struct kasa_strip *s;
	enum kasa_res_kind kind;
	size_t outlet;             /* KASA_RES_OUTLET: 0-based index */
};

struct kasa_outlet {
	bool have_em;              /* em is from the last successful poll */
	struct kasa_emeter em;
	int64_t pending_on_ms;     /* PowerCycle: when to switch on again; 0 none */
};

struct kasa_strip {
	struct kasa_provider *kp;
	char *name;
	char *pdu_uri, *outlets_uri, *metrics_uri, *chassis_uri, *manager_uri;
	char *sensors_uri, *power_uri, *power_subsystem_uri;   /* under chassis_uri */
	char *mains_uri, *branches_uri;                         /* circuit collections */
	char *mains_circuit_uri, *branch_circuit_uri;           /* their one member each */
	char *fw_inventory_uri, *hw_inventory_uri;              /* provider_inventory.c */
	struct kasa_dev *dev;      /* replaced (with io held) when the device moves */
	bool discovered;           /* found by discovery, not configured */
	struct kasa_creds *creds;  /* its own account, or NULL: the provider's */
	enum kasa_transport transport; /* as discovery said (AUTO: the device finds it) */
	uint16_t http_port;
	enum kasa_protocol hint;

	pthread_mutex_t io;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done;

	/* cookies, fixed for the strip's life */
	struct kasa_res res_pdu, res_metrics, res_chassis, res_manager;

	/* under lock */
	char *host;                /* where dev talks to */
	uint16_t port;
	char *last_err;            /* the device error last reported, NULL none */
	bool online;
	bool refused;              /* offline because every credential was refused */
	char account[48];          /* the account last reported (ACCOUNT), "" none */
	bool have_si;
	struct kasa_sysinfo si;
	struct kasa_outlet *outlets;
	size_t n_outlets;
	struct kasa_res **res_outlets; /* outlet cookies: grows, freed with the strip */
	size_t n_res_outlets;
	size_t installed_outlets;  /* Outlet resources present in the tree */
	bool metrics_installed;    /* and the Sensors and Power below the Chassis */
	int64_t last_ok_ms;        /* end of the last successful poll, 0 never */
	int64_t last_probe_ms;     /* start of the last poll, ok or not, 0 never */
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
	struct kasa_creds *creds;  /* the default account, or NULL */
};

static inline bool kasa_stopping(const struct kasa_provider *kp)
{
	return atomic_load(&kp->stopping);
}

static inline void kasa_emit(struct kasa_provider *kp, enum kasa_event ev, const char *strip,
			     const char *addr, int err, const char *message)
{
	if (kp->on_event)
		kp->on_event(kp->event_userdata, ev, strip, addr, err, message ? message : "");
}

/* ---- a sysinfo's outlets -------------------------------------------------- */

static inline size_t kasa_si_outlets(const struct kasa_sysinfo *si)
{
	return si->n_children > 0 ? si->n_children : 1;
}

static inline bool kasa_si_outlet_on(const struct kasa_sysinfo *si, size_t i)
{
	return si->n_children > 0 ? si->children[i].on : si->on;
}

static inline const char *kasa_si_outlet_alias(const struct kasa_sysinfo *si, size_t i)
{
	const char *a = si->n_children > 0 ? si->children[i].alias : si->alias;

	return a ? a : "";
}

/* ---- provider_strip.c: the state machine (see its top comment) ------------ */

/* Take a new sysinfo into the cache (moved: *si is cleared), resizing the
 * outlet array; meter readings of outlets that stay are kept. s->lock held. */
int kasa_strip_take_si(struct kasa_strip *s, struct kasa_sysinfo *si);
/* One full poll (sysinfo, every meter), installed; offline on failure.
 * s->io held. 0 or -errno. */
int kasa_strip_poll_io(struct kasa_strip *s);
int kasa_strip_start_thread(struct kasa_strip *s);
/* Ask s's poller for a poll now (without waiting). */
void kasa_strip_request_poll(struct kasa_strip *s);
/* A reader wants s no older than max_age_ms: poll (shared with a poll in
 * flight), waiting at most one timeout. Always 0: the tree shows what is. */
int kasa_strip_refresh(struct kasa_strip *s, int64_t max_age_ms);
/* Commands; each returns once the device confirmed (-errno otherwise).
 * outlet: 0-based; SIZE_MAX means the device itself (alias) or every
 * outlet (meters). */
int kasa_strip_set_alias(struct kasa_strip *s, size_t outlet, const char *label);
int kasa_strip_set_led(struct kasa_strip *s, bool on);
int kasa_strip_power(struct kasa_strip *s, size_t outlet, const char *state);
int kasa_strip_reset_metrics(struct kasa_strip *s, size_t outlet);
int kasa_strip_reboot(struct kasa_strip *s);

/* ---- provider_install.c --------------------------------------------------- */

/* Build every body from the cache and install it based on generation g;
 * remove outlets (and Metrics) that no longer exist. s->io held, s->lock
 * not. 0 or the first error other than -ESTALE (a newer install won). */
int kasa_strip_install(struct kasa_strip *s, uint64_t g);
/* Only outlet i and what its switching changes (the Metrics). */
int kasa_strip_install_outlet(struct kasa_strip *s, uint64_t g, size_t i);

/* ---- provider_docs.c: the bodies, built under s->lock --------------------- */

/* The readings a Sensor exists for, of each outlet and of the Mains. */
enum kasa_sensor {
	KASA_SENSOR_POWER,
	KASA_SENSOR_CURRENT,
	KASA_SENSOR_VOLTAGE,
	KASA_SENSOR_ENERGY,
	KASA_SENSOR_COUNT,
};

/* Each a new object, or NULL on -ENOMEM. */
struct json_object *kasa_doc_pdu(const struct kasa_strip *s);
struct json_object *kasa_doc_outlet(const struct kasa_strip *s, size_t i, const char *uri);
struct json_object *kasa_doc_metrics(const struct kasa_strip *s);
struct json_object *kasa_doc_chassis(const struct kasa_strip *s);
struct json_object *kasa_doc_manager(const struct kasa_strip *s);
/* outlet: 0-based, or SIZE_MAX for the strip's Mains (from the outlets'
 * meters); uri from kasa_sensor_uri. */
struct json_object *kasa_doc_sensor(const struct kasa_strip *s, size_t outlet, enum kasa_sensor kind,
				    const char *uri);
struct json_object *kasa_doc_power_subsystem(const struct kasa_strip *s);
struct json_object *kasa_doc_power(const struct kasa_strip *s);
/* mains: the strip's inlet, else its one Branch circuit. */
struct json_object *kasa_doc_circuit(const struct kasa_strip *s, bool mains);
/* .../Chassis/NAME/Sensors/Outlet<N><Kind> or .../MainsPower; malloc'd. */
char *kasa_sensor_uri(const struct kasa_strip *s, size_t outlet, enum kasa_sensor kind);
/* The URI of outlet i (0-based), malloc'd. */
char *kasa_outlet_uri(const struct kasa_strip *s, size_t i);
/* Whether the strip has meters (its Metrics and readings are shown). */
bool kasa_strip_metered(const struct kasa_strip *s);

/* ---- provider_inventory.c: UpdateService/FirmwareInventory ---------------- */

/* The strip's two item URIs (malloc'd). 0 or -ENOMEM. */
int kasa_inventory_uris(const char *name, char **ret_fw, char **ret_hw);
/* The UpdateService and its FirmwareInventory, unless there is one. 0 or -errno. */
int kasa_inventory_setup(struct kasa_provider *kp);
/* SoftwareInventory bodies (under s->lock); NULL on -ENOMEM. */
struct json_object *kasa_doc_firmware(const struct kasa_strip *s);
struct json_object *kasa_doc_hardware(const struct kasa_strip *s);

/* ---- provider_ops.c -------------------------------------------------------- */

extern const struct rf_provider_ops kasa_provider_ops;

#endif
