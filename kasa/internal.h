/* internal.h — what the kasa/ sources share beyond kasa.h (which never
 * exposes json-c, sockets or crypto): json-c helpers (model.c), bounded
 * socket steps (net.c), the crypto wrappers (crypto.c), the KLAP and AES
 * session math (klap.c), the small HTTP client (http.c), one device
 * session over a transport (transport.c) and the SMART protocol (smart.c).
 *
 * Ownership: kasa_json_parse_object returns a new reference; _cleanup_json_
 * drops the reference a local holds when it goes out of scope. Buffers
 * returned through ret_* are malloc'd and the caller's. Raw step results
 * are -errno values that kasa_error() (dev.c) maps for kasa.h callers. */
#ifndef REDFISHFS_KASA_INTERNAL_H
#define REDFISHFS_KASA_INTERNAL_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "kasa.h"

static inline void kasa_json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(kasa_json_putp)

/* Exactly len bytes of text (need not be NUL-terminated) as one JSON
 * object: a new reference, or NULL when they are anything else (empty, a
 * NUL byte inside, trailing bytes, another JSON type). Untrusted input:
 * callers bound len before (json-c takes an int). */
json_object *kasa_json_parse_object(const char *text, size_t len);
bool kasa_json_parse_object_ok(const char *text, size_t len);  /* the same, as a test */
/* kasa_parse_sysinfo / kasa_parse_emeter on a reply parsed once (root
 * borrowed; NULL gives -EIO). */
int kasa_sysinfo_from_json(json_object *root, struct kasa_sysinfo *ret);
int kasa_emeter_from_json(json_object *root, struct kasa_emeter *ret);

/* ---- net.c: bounded socket steps (every wait against a deadline, ms) ---- */

int kasa_left(int64_t deadline);                    /* ms left, 0 when past */
int kasa_resolve(const char *host, uint16_t port, int socktype, int64_t deadline,
		 struct sockaddr_in *ret);          /* 0, -ETIMEDOUT, -ENOMEM, -ENXIO */
int kasa_wait(int fd, short events, int64_t deadline); /* 1 ready, -ETIMEDOUT, -errno */
int kasa_connect(const char *host, uint16_t port, int64_t deadline); /* fd or -errno */
bool kasa_idle_ok(int fd);      /* open, and nothing unasked to read */
int kasa_send_all(int fd, const void *buf, size_t len, int64_t deadline);

/* ---- crypto.c: OpenSSL libcrypto ---------------------------------------- */

struct kasa_iov {
	const void *data;
	size_t len;
};
void kasa_md5v(const struct kasa_iov *parts, size_t n, uint8_t out[16]);
void kasa_sha1v(const struct kasa_iov *parts, size_t n, uint8_t out[20]);
void kasa_sha256v(const struct kasa_iov *parts, size_t n, uint8_t out[32]);
void kasa_hex(const uint8_t *d, size_t n, char *out);   /* out: 2n + 1 bytes */
int kasa_random(uint8_t *buf, size_t n);
/* AES-128-CBC with PKCS#7 padding; *ret NUL-terminated (one spare byte).
 * Decrypting: -EBADMSG for a length not a multiple of 16 or bad padding. */
int kasa_aes_cbc(bool encrypt, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
		 size_t len, uint8_t **ret, size_t *ret_len);
char *kasa_base64_encode(const uint8_t *d, size_t n);   /* NULL: no memory */
/* Strict: whole quads of the standard alphabet, '=' only at the end. */
int kasa_base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
struct kasa_rsa;                                        /* an RSA key pair */
struct kasa_rsa *kasa_rsa_new(void);                    /* 1024 bits; NULL on failure */
struct kasa_rsa *kasa_rsa_free(struct kasa_rsa *k);     /* NULL-safe */
/* "-----BEGIN PUBLIC KEY-----\n" + the DER SubjectPublicKeyInfo in base64
 * on one line + "\n-----END PUBLIC KEY-----\n", as AES devices are sent it. */
char *kasa_rsa_public_pem(const struct kasa_rsa *k);
int kasa_rsa_decrypt(const struct kasa_rsa *k, const uint8_t *in, size_t len, uint8_t **ret,
		     size_t *ret_len);                  /* PKCS#1 v1.5 */
int kasa_rsa_encrypt_pem(const char *pem, const uint8_t *in, size_t len, uint8_t **ret,
			 size_t *ret_len);

/* ---- klap.c: KLAP v1/v2 and AES session math ---------------------------- */

struct kasa_cred {
	const char *user;
	const char *password;
	const char *what;      /* for the log: "the configured account", ... */
};
#define KASA_N_DEFAULT_CREDS 3
extern const struct kasa_cred kasa_default_creds[KASA_N_DEFAULT_CREDS];

/* version 1 or 2; returns the hash length (16 or 32). */
size_t kasa_klap_auth_hash(int version, const char *user, const char *password, uint8_t out[32]);
void kasa_klap_hs1(int version, const uint8_t local[16], const uint8_t remote[16],
		   const uint8_t *auth, size_t auth_len, uint8_t out[32]);
void kasa_klap_hs2(int version, const uint8_t local[16], const uint8_t remote[16],
		   const uint8_t *auth, size_t auth_len, uint8_t out[32]);
/* Which candidate (and which version) the device's handshake1 hash was
 * made with, all checked locally: 0, or -EACCES when none. */
int kasa_klap_match(const uint8_t local[16], const uint8_t remote[16], const uint8_t server_hash[32],
		    const struct kasa_cred *cands, size_t n, size_t *ret_index, int *ret_version);

struct kasa_klap {
	uint8_t key[16];
	uint8_t iv[12];
	uint8_t sig[28];
	int32_t seq;           /* the last sequence number used */
};
void kasa_klap_init(struct kasa_klap *k, const uint8_t local[16], const uint8_t remote[16],
		    const uint8_t *auth, size_t auth_len);
/* signature (32) + AES-CBC(key, iv + seq) of plain. */
int kasa_klap_seal(const struct kasa_klap *k, int32_t seq, const void *plain, size_t len,
		   uint8_t **ret, size_t *ret_len);
/* Decrypt (checking the signature when check_sig: requests at the device);
 * -EBADMSG when either fails. *ret is NUL-terminated. */
int kasa_klap_open(const struct kasa_klap *k, int32_t seq, bool check_sig, const uint8_t *msg,
		   size_t len, char **ret, size_t *ret_len);

struct kasa_aes {
	uint8_t key[16];
	uint8_t iv[16];
};
int kasa_aes_seal_b64(const struct kasa_aes *s, const char *plain, char **ret_b64);
int kasa_aes_open_b64(const struct kasa_aes *s, const char *b64, char **ret_plain);

/* ---- http.c: one HTTP/1.1 POST on a kept-alive connection --------------- */

#define KASA_HTTP_MAX_HEADER 8192

struct kasa_http_reply {
	int status;
	uint8_t *body;          /* NUL-terminated; len bytes */
	size_t len;
	char cookie[160];       /* "TP_SESSIONID=..." from Set-Cookie, or "" */
	int cookie_timeout_s;   /* its TIMEOUT attribute, 0 when none */
};
/* POST body to http://host:port/path on *fd (connecting when -1; an idle
 * connection the peer closed is replaced). cookie: a "name=value" to send,
 * or NULL; extra_headers: whole "Name: value\r\n" lines, or NULL. Raw
 * -errno: -ECONNRESET when the request could not be sent (nothing reached
 * the device: the caller may try again), -ECONNABORTED when it was sent
 * whole and the connection closed before any reply byte (the device may
 * have acted: only a read is sent again), -EPROTO for a malformed or
 * oversized reply; *fd is closed on every failure and when the peer asked
 * to close. */
int kasa_http_post(int *fd, const char *host, uint16_t port, const char *path,
		   const char *cookie, const char *content_type, const char *extra_headers,
		   const void *body, size_t len, int64_t deadline, struct kasa_http_reply *ret);
void kasa_http_reply_clear(struct kasa_http_reply *r);
/* Parse one whole response held in buf (the reply parser, also fuzzed):
 * 0 with *ret (body copied), 1 when more bytes are needed, -EPROTO. */
int kasa_http_parse(const uint8_t *buf, size_t len, bool eof, struct kasa_http_reply *ret);

/* ---- transport.c: one device session over XOR, KLAP or AES -------------- */

/* Internal raw codes a transport returns besides socket errors:
 * -EKEYEXPIRED the session ended at the device (HTTP 403, AES session
 * error): renew it and try again; -EACCES every credential refused. */
struct kasa_link {
	enum kasa_transport transport;
	char *host;
	uint16_t port;
	int fd;
	bool connected_once;     /* a later connect is a reconnect (metrics) */
	struct kasa_cred creds[1 + KASA_N_DEFAULT_CREDS];
	size_t n_creds;
	char *user, *password;   /* the configured account (owned), or NULL */
	bool established;        /* KLAP/AES: a session is up */
	size_t cred_index;       /* which creds[] the session was made with */
	int klap_version;
	struct kasa_klap klap;
	struct kasa_aes aes;
	struct kasa_rsa *rsa;    /* AES: made once per link */
	char cookie[160];
	char token[160];
	int64_t expires_ms;      /* renew the session before this */
	int64_t renew_margin_ms;
};
void kasa_link_init(struct kasa_link *l);
void kasa_link_clear(struct kasa_link *l);   /* closes, frees */
void kasa_link_close(struct kasa_link *l);   /* drops connection and session */
int kasa_link_set_creds(struct kasa_link *l, const char *user, const char *password);
int kasa_link_use_creds(struct kasa_link *l, const struct kasa_creds *c);
/* KLAP/AES: make a session unless one is up (XOR: nothing). Raw -errno. */
int kasa_link_establish(struct kasa_link *l, int64_t deadline);
/* One attempt: plain request text in, plain reply text out (malloc'd). */
int kasa_link_attempt(struct kasa_link *l, const char *json, size_t len, int64_t deadline,
		      char **ret_reply, size_t *ret_len);

/* ---- dev.c: the device under its lock, for the protocol layer ---------- */

/* Send request text in protocol proto (-EPROTONOSUPPORT when the device
 * speaks the other) and hand back the reply parsed once (new reference).
 * kasa.h errno. */
int kasa_dev_call(struct kasa_dev *d, const char *json, enum kasa_protocol proto,
		  json_object **ret_root);
/* The protocol d speaks, found with one request when unknown;
 * KASA_PROTOCOL_UNKNOWN with *ret_err (kasa.h errno) when it did not answer. */
enum kasa_protocol kasa_dev_speaks(struct kasa_dev *d, int *ret_err);
/* Record the device's own refusal for kasa_dev_last_error(). */
void kasa_dev_note(struct kasa_dev *d, int64_t code, const char *msg);

/* ---- smart.c: the SMART protocol ---------------------------------------- */

int kasa_smart_get_sysinfo(struct kasa_dev *d, struct kasa_sysinfo *ret);
int kasa_smart_set_on(struct kasa_dev *d, const char *child_id, bool on);
int kasa_smart_get_meter(struct kasa_dev *d, const char *child_id, struct kasa_emeter *ret);
int kasa_smart_set_nickname(struct kasa_dev *d, const char *child_id, const char *name);
int kasa_smart_set_led(struct kasa_dev *d, bool off);
int kasa_smart_reboot(struct kasa_dev *d, int delay_s);

/* The SMART error table: a device's error_code -> -errno (0 for 0). */
int kasa_smart_errno(int64_t code);
/* {"method":M,"params":P} (P stolen, may be NULL). New reference or NULL. */
json_object *kasa_smart_request(const char *method, json_object *params);
/* The result object of a SMART reply (borrowed from reply), or -errno from
 * its error_code / shape; *ret_code gets the device's code. */
int kasa_smart_result(json_object *reply, json_object **ret_result, int64_t *ret_code);
/* Parse get_device_info (+ child list array and component_nego result,
 * each may be NULL) into the common device model; nicknames base64-decoded,
 * children sorted by position; has_emeter from energy_monitoring. */
int kasa_smart_parse_info(json_object *info, json_object *children, json_object *components,
			  struct kasa_sysinfo *ret);
/* get_current_power / get_energy_usage / get_emeter_data results (each may
 * be NULL) into a reading; missing values NAN. -EIO when none gives power. */
int kasa_smart_parse_meter(json_object *power, json_object *energy, json_object *emeter,
			   struct kasa_emeter *ret);

#endif
