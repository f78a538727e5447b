/* kasa.h — the TP-Link Kasa local protocol: codec, framing, the device
 * model (sysinfo, meters), a device connection, and discovery.
 *
 * It knows nothing of Redfish; kasa/provider.h maps strips onto the tree.
 *
 * Conventions: 0 or -errno. Device errors map to errno in one table
 * (kasa/dev.c): no answer in time -ETIMEDOUT; refused, reset before any reply,
 * no route -EHOSTUNREACH; malformed reply, err_code != 0 -EIO.
 */
#ifndef REDFISHFS_KASA_H
#define REDFISHFS_KASA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KASA_PORT 9999
#define KASA_MAX_FRAME (256 * 1024)   /* a larger length prefix is rejected unallocated */

/* ---- codec: XOR autokey, key starts at 171 -------------------------------- */

void kasa_encrypt(const uint8_t *in, size_t len, uint8_t *out); /* in == out allowed */
void kasa_decrypt(const uint8_t *in, size_t len, uint8_t *out);

/* TCP frame: 4-byte big-endian length + encrypted payload. *ret is malloc'd. */
int kasa_frame_encode(const char *json, size_t len, uint8_t **ret, size_t *ret_len);

/* Incremental frame reader for partial reads. feed() consumes bytes and
 * returns 1 when a whole frame is decrypted in r->payload (NUL-terminated,
 * r->payload_len bytes, owned by r until reset), 0 when more is needed,
 * -EMSGSIZE for a length over KASA_MAX_FRAME, -EBADMSG for length 0. */
struct kasa_frame_reader {
	uint8_t hdr[4];
	size_t hdr_got;
	uint32_t len;
	size_t got;
	char *payload;
	size_t payload_len;
};
int kasa_frame_feed(struct kasa_frame_reader *r, const uint8_t *data, size_t n,
		    size_t *ret_consumed);
void kasa_frame_reset(struct kasa_frame_reader *r);  /* frees payload, ready again */

/* ---- device model ---------------------------------------------------------- */

/* How a device's requests and replies are spoken: the IOT JSON of the XOR
 * protocol ({"system":{"get_sysinfo":{}}}, also inside KLAP v1 and on some
 * IOT devices on KLAP v2) or SMART methods ({"method":"get_device_info"}). */
enum kasa_protocol {
	KASA_PROTOCOL_UNKNOWN,
	KASA_PROTOCOL_IOT,
	KASA_PROTOCOL_SMART,
};

/* What moves the bytes of one device session: XOR over TCP 9999, KLAP
 * (v1 or v2, HTTP on 80) or AES "secure passthrough" (HTTP on 80). AUTO
 * finds it: XOR first, then KLAP, then AES. */
enum kasa_transport {
	KASA_TRANSPORT_AUTO,
	KASA_TRANSPORT_XOR,
	KASA_TRANSPORT_KLAP,
	KASA_TRANSPORT_AES,
	KASA_TRANSPORT_COUNT,
	KASA_TRANSPORT_INVALID = -EINVAL,
};
const char *kasa_transport_to_string(enum kasa_transport t);   /* "auto", "xor", "klap", "aes" */
enum kasa_transport kasa_transport_from_string(const char *s); /* case-insensitive; KLAP too */
#define KASA_HTTP_PORT 80

struct kasa_child {
	char *id;        /* as in sysinfo "children[].id" */
	char *alias;
	bool on;
};

/* Strings are never NULL after a successful parse: model and device_id are
 * non-empty; the others are "" when the device does not report them. */
struct kasa_sysinfo {
	char *model;     /* "HS300(US)" */
	char *device_id;
	char *mac;       /* "50:C7:BF:..." as the device reports (mac or mic_mac) */
	char *alias;
	char *sw_ver;
	char *hw_ver;
	char *dev_name;
	bool has_emeter; /* feature has "ENE" or an emeter module answered */
	bool on;         /* relay_state of a single-outlet plug */
	bool led_off;
	size_t n_children;            /* 0 for a single-outlet plug */
	struct kasa_child *children;  /* SMART: sorted by position, ids are full ids */
	enum kasa_protocol protocol;  /* which protocol the reply came in */
};

/* Parse a whole reply {"system":{"get_sysinfo":{...}}} (or the get_sysinfo
 * object itself). Checks types and required fields (deviceId, model,
 * children when child_num > 0); -EIO with nothing allocated on bad input. */
int kasa_parse_sysinfo(const char *json, struct kasa_sysinfo *ret);
void kasa_sysinfo_clear(struct kasa_sysinfo *s);

/* The full child id to put in context.child_ids: the id itself when it is
 * already deviceId-prefixed (and always for SMART, whose children carry
 * their own device_id), else deviceId + id. malloc'd. */
char *kasa_child_full_id(const struct kasa_sysinfo *s, size_t i);

struct kasa_emeter {
	double voltage_v;
	double current_a;
	double power_w;
	double total_kwh;
};

/* Parse {"emeter":{"get_realtime":{...}}} in both unit styles (voltage_mv,
 * current_ma, power_mw, total_wh / voltage, current, power, total). */
int kasa_parse_emeter(const char *json, struct kasa_emeter *ret);

/* ---- a device connection --------------------------------------------------- */

/* One TCP connection per device, opened lazily, reused, reopened once when
 * the device dropped it. Each attempt is bounded by timeout_ms; a request
 * makes at most two attempts. One request at a time per device (internal
 * mutex); thread-safe. */
struct kasa_dev;
struct kasa_dev *kasa_dev_new(const char *host, uint16_t port, int timeout_ms);
struct kasa_dev *kasa_dev_free(struct kasa_dev *d);   /* NULL-safe */
const char *kasa_dev_host(const struct kasa_dev *d);
uint16_t kasa_dev_port(const struct kasa_dev *d);

/* The device's own refusal in the reply to the last command on d: the
 * err_code (!= 0) a reply carried at module or method level, with its
 * err_msg copied into buf ("" when it sent none; control characters made
 * '?'), or 0 when the last reply carried none (or the request failed before
 * a reply). The commands below return -EIO in that case; this says why.
 * Meaningful while the caller serialises commands on d. */
int kasa_dev_last_error(struct kasa_dev *d, char *buf, size_t size);

/* The transport to use, and its port (0: the default for it, or for AUTO
 * the port given to kasa_dev_new for XOR and 80 for HTTP unless that port
 * is not 9999, then that port for both). protocol: a hint (from a discovery
 * answer) or KASA_PROTOCOL_UNKNOWN. Drops any session. 0 or -EINVAL. */
int kasa_dev_set_transport(struct kasa_dev *d, enum kasa_transport t, uint16_t port,
			   enum kasa_protocol protocol);
/* The TP-Link account for KLAP/AES (copied; NULL user: none configured).
 * The defaults python-kasa tries for unbound devices and the blank
 * account are tried after it. Drops any session. 0, -EINVAL, -ENOMEM. */
int kasa_dev_set_credentials(struct kasa_dev *d, const char *user, const char *password);
/* The same account held opaquely, for callers that pass it on without
 * looking (the provider): kasa_creds_new copies (NULL with errno set:
 * EINVAL for a user or password over 256 bytes), free wipes and is
 * NULL-safe; kasa_dev_use_creds(d, NULL) means none configured. */
struct kasa_creds;
struct kasa_creds *kasa_creds_new(const char *user, const char *password);
struct kasa_creds *kasa_creds_dup(const struct kasa_creds *c);   /* NULL c: NULL */
struct kasa_creds *kasa_creds_free(struct kasa_creds *c);
int kasa_dev_use_creds(struct kasa_dev *d, const struct kasa_creds *c);
/* The transport and protocol in use (AUTO/UNKNOWN until a request found
 * them); which account the session was made with ("the configured
 * account", "the default Kasa account", "the blank account"; "" for XOR or
 * before any session). Never the password. */
enum kasa_transport kasa_dev_transport(struct kasa_dev *d);
enum kasa_protocol kasa_dev_protocol(struct kasa_dev *d);
void kasa_dev_account(struct kasa_dev *d, char *buf, size_t size);
/* The raw -errno behind this thread's last failed device call, before the
 * error table (-ECONNREFUSED where the call said -EHOSTUNREACH), for the
 * log; 0 if none failed yet. */
int kasa_last_cause(void);
/* The deadline (now_ms() clock, CLOCK_MONOTONIC) of the operation this
 * thread runs: until reset with 0, every step of this thread's device calls
 * (each attempt, reconnects and searches included) ends by it. */
void kasa_op_deadline(int64_t deadline_ms);
/* KLAP/AES: renew a session that many ms before its cookie TIMEOUT
 * (default 20 minutes, at most half the session; tests set their own). */
void kasa_dev_set_renew_margin(struct kasa_dev *d, int64_t ms);

/* Send one request (IOT JSON or SMART, as the device speaks), return the
 * decrypted reply (malloc'd). -EACCES when the device refused every
 * credential. */
int kasa_dev_request(struct kasa_dev *d, const char *json, char **ret_reply);

/* Commands, in whichever protocol the device speaks (SMART: get_device_info
 * with the child list, control_child for one outlet, get_current_power /
 * get_energy_usage for meters, values it lacks NAN; erase_emeter is
 * -EOPNOTSUPP there). child_id: a full id (kasa_child_full_id) or NULL for
 * the whole device. Each checks the reply's err_code (-EIO if != 0). */
int kasa_get_sysinfo(struct kasa_dev *d, struct kasa_sysinfo *ret);
int kasa_set_relay(struct kasa_dev *d, const char *child_id, bool on);
int kasa_get_emeter(struct kasa_dev *d, const char *child_id, struct kasa_emeter *ret);
int kasa_erase_emeter(struct kasa_dev *d, const char *child_id);
int kasa_set_alias(struct kasa_dev *d, const char *child_id, const char *alias);
int kasa_set_led(struct kasa_dev *d, bool off);
int kasa_reboot(struct kasa_dev *d, int delay_s);

/* One UDP datagram (no length prefix) to host:port (a broadcast address is
 * allowed), collecting replies until timeout_ms: cb is called for each reply
 * with the sender's address and port. Returns the number of replies. */
typedef void (*kasa_udp_cb)(void *userdata, const char *addr, uint16_t port, const char *reply);
int kasa_udp_query(const char *host, uint16_t port, const char *json, int timeout_ms,
		   kasa_udp_cb cb, void *userdata);

/* ---- discovery (kasa/discover.c) ------------------------------------------- */

/* Newer devices (KLAP/AES over HTTP) answer discovery on this UDP port only:
 * a fixed 16-byte probe, a reply of a 16-byte header and plain JSON. */
#define KASA_DISCOVERY_PORT_NEW 20002

/* One device that answered discovery. supported: it answered the legacy
 * get_sysinfo with a valid reply and info holds it. Otherwise it is a device
 * we cannot drive (it speaks only KLAP/AES, or its reply was not understood):
 * model, device_id, mac and protocol say what it told about itself ("" when
 * unknown) and reason is one line for the log. All strings are non-NULL. */
struct kasa_found {
	char addr[46];            /* the address the reply came from */
	uint16_t port;            /* its source port */
	bool supported;
	struct kasa_sysinfo info; /* supported only; zeroed otherwise */
	char *model;              /* supported: info.model; else "HS100(UK)" or "" */
	char *device_id;          /* supported: info.device_id; else as reported or "" */
	char *mac;
	char *protocol;           /* "legacy", "KLAP", "AES", or "" when unknown */
	/* How to drive it: XOR for a legacy answer; KLAP or AES when a newer
	 * answer names one (then !supported, info empty, and the device is
	 * asked over HTTP at http_port, hint its protocol from device_type);
	 * AUTO when neither (a transport we do not speak, e.g. TPAP). */
	enum kasa_transport transport;
	uint16_t http_port;
	enum kasa_protocol hint;
	char *reason;             /* "" when supported */
	uint32_t reply_us;        /* when the reply arrived, after the broadcast */
};

/* Broadcast one get_sysinfo (UDP, XOR, to broadcast_addr:port) and, when
 * new_port != 0, the newer discovery probe to broadcast_addr:new_port, from
 * one socket; collect replies until timeout_ms. broadcast_addr: a numeric
 * IPv4 address (a unicast address queries one device), NULL for
 * 255.255.255.255; port 0 means KASA_PORT. Results are de-duplicated: a
 * device (deviceId) answering more than once is listed once, at its first
 * answer's address; an address that gave a supported answer is not listed
 * again as unsupported. Sorted by address. Returns the count (>= 0) with
 * *ret (malloc'd array, NULL when 0) or -errno (-EINVAL for a bad argument). */
int kasa_discover(const char *broadcast_addr, uint16_t port, uint16_t new_port, int timeout_ms,
		  struct kasa_found **ret, size_t *ret_n);
struct kasa_found *kasa_found_free(struct kasa_found *f, size_t n);  /* NULL-safe */

/* The same round, streamed: cb is called for each device as its reply
 * arrives (de-duplicated within the round as above, in arrival order; the
 * entry is cb's to move out of, cleared afterwards). cancel_fd (-1: none)
 * ends the round early with -ECANCELED once it is readable. Returns the
 * number of entries delivered or -errno. */
typedef void (*kasa_found_cb)(void *userdata, struct kasa_found *f);
int kasa_discover_stream(const char *broadcast_addr, uint16_t port, uint16_t new_port,
			 int timeout_ms, int cancel_fd, kasa_found_cb cb, void *userdata);

/* Print found[n] as a table (ADDRESS MODEL DEVICE-ID ALIAS OUTLETS METER
 * FIRMWARE; unsupported devices as rows marked "not supported") to out. */
void kasa_found_print_table(FILE *out, const struct kasa_found *found, size_t n);

/* Classify one reply datagram as received (still encrypted when legacy):
 * legacy = it came from the legacy port, else from the newer discovery
 * port. Any content gives an entry (unreadable ones unsupported); 0 or
 * -ENOMEM. kasa_found_clear frees the strings (NULL-safe). */
int kasa_found_parse(const char *addr, uint16_t port, bool legacy, const uint8_t *data,
		     size_t len, struct kasa_found *ret);
void kasa_found_clear(struct kasa_found *f);

#endif
