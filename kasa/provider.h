/* provider.h — Kasa strips in the Redfish tree: the provider API.
 *
 * A strip (a multi-outlet device, or a single plug as a one-outlet strip)
 * becomes a PowerDistribution with its Outlets, a Chassis and a Manager
 * (kasa/provider.c describes the shape, threads and locks). The provider
 * talks to devices through kasa.h and installs into the tree through
 * redfish/redfish.h; its users need neither.
 *
 * Conventions: 0 or -errno, as in kasa.h. */
#ifndef REDFISHFS_KASA_PROVIDER_H
#define REDFISHFS_KASA_PROVIDER_H

#include <stdint.h>

struct rf_tree;
struct kasa_provider;

struct kasa_provider *kasa_provider_new(struct rf_tree *t, int timeout_ms, int poll_s);
struct kasa_provider *kasa_provider_free(struct kasa_provider *kp); /* stops threads */

/* Add a strip at host:port named name (NULL: from the device alias). Probes
 * the device once (so errors show on the terminal): returns 0, or -errno if it
 * did not answer — the strip is still added, shown UnavailableOffline, and
 * named from host when it has no name. -EINVAL for a bad name. */
int kasa_provider_add(struct kasa_provider *kp, const char *name, const char *host, uint16_t port);

/* The TP-Link account for devices on KLAP/AES (kasa.h kasa_creds): the
 * provider's default, and a strip's own for kasa_provider_add_as. Taken
 * over (freed with the provider or strip; NULL: none, and the defaults of
 * unbound devices are tried). The provider hands them to the transport and
 * never looks inside. set_creds before adding strips. */
struct kasa_creds;
void kasa_provider_set_creds(struct kasa_provider *kp, struct kasa_creds *c);
int kasa_provider_add_as(struct kasa_provider *kp, const char *name, const char *host,
			 uint16_t port, struct kasa_creds *c);
/* Remove the configured strip at host:port (as given to kasa_provider_add):
 * its poller ends and its resources leave the tree; a command in flight on
 * it still completes. 0, -ENOENT (no such strip), -ENOMEM. */
int kasa_provider_remove(struct kasa_provider *kp, const char *host, uint16_t port);

/* What the provider tells its owner for the log (a library, it logs
 * nothing itself). strip: the strip's name or NULL; addr: the device's
 * address; message: one line, never NULL. Called from the provider's
 * threads (discovery, pollers, or a command's caller) without any lock of
 * the provider held, but it must not call back into the provider.
 *   FOUND        discovery added strip at addr; message: its model
 *   MOVED        the strip's device now answers at addr; message: the old address
 *   UNSUPPORTED  a device discovery cannot drive (a transport we do not
 *                speak such as TPAP, an unreadable reply, or a KLAP/AES
 *                device that did not answer on HTTP); message says which
 *                and why. Once per
 *                device (deviceId, else MAC, else address) for the provider's life.
 *   DEVICE_ERROR the strip's device refused a request with err_code != 0
 *                (the request failed with -EIO); message "METHOD: the device
 *                answered err_code N: ITS MESSAGE". Once per run of the same
 *                refusal, until that method succeeds again.
 *                A device that refused every credential: err -EACCES and a
 *                message naming the accounts tried (never a password);
 *                once until it takes one.
 *   DISCOVERY_FAILED a round could not be sent (err); once until a round works.
 *   ACCOUNT      the strip's KLAP/AES session was made with message ("the
 *                default Kasa account", ...): once, and again when it changes.
 *   OFFLINE      the strip stopped answering (err: why, e.g. -ETIMEDOUT,
 *                -ECONNREFUSED, -EHOSTUNREACH, -EACCES); once per change.
 *   ONLINE       it answers again; once per change. */
enum kasa_event {
	KASA_EVENT_FOUND,
	KASA_EVENT_MOVED,
	KASA_EVENT_UNSUPPORTED,
	KASA_EVENT_DEVICE_ERROR,
	KASA_EVENT_DISCOVERY_FAILED,
	KASA_EVENT_ACCOUNT,
	KASA_EVENT_OFFLINE,
	KASA_EVENT_ONLINE,
};
typedef void (*kasa_event_fn)(void *userdata, enum kasa_event ev, const char *strip,
			      const char *addr, int err, const char *message);
void kasa_provider_set_events(struct kasa_provider *kp, kasa_event_fn fn, void *userdata);

/* Discover devices by broadcast (kasa_discover_stream) to broadcast_addr
 * (numeric IPv4): port (0: KASA_PORT), and the newer probe to new_port (0:
 * none), one round when kasa_provider_start() runs and then every
 * interval_s (1..86400) seconds; each round listens one timeout (at most the
 * interval) and takes each reply as it comes. A new device (deviceId)
 * becomes a strip at once, named from its alias (sanitised, _2, _3 on a
 * clash), shown from its discovery reply, its meters read by its poller
 * right after. A known device is not added twice (also one configured with
 * kasa_provider_add); one that answers from a new address is followed (its
 * strip keeps its name and resources and talks to the new address; a
 * configured strip given by host name is moved only while it is offline);
 * an offline one that answers is polled at once. Before start only:
 * -EBUSY after; -EINVAL bad address or interval, -EEXIST the same target twice. */
int kasa_provider_add_discovery(struct kasa_provider *kp, const char *broadcast_addr,
				uint16_t port, uint16_t new_port, int interval_s);

/* Start the pollers and discovery (after daemonizing). */
int kasa_provider_start(struct kasa_provider *kp);

#endif
