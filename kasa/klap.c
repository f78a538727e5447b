/* klap.c — the cryptographic sessions of the two HTTP transports, as pure
 * functions shared by the client (kasa/transport.c) and the simulated
 * device (kasa/sim.c).
 *
 * KLAP (python-kasa's klaptransport.py): the client's 16-byte local seed
 * goes to /app/handshake1; the device answers its remote seed and a server
 * hash over the seeds and its credentials' hash (the "auth hash"):
 *   v1 (IOT devices): auth = md5(md5(user) + md5(password)),
 *        hs1 = sha256(local + auth), hs2 = sha256(remote + auth)
 *   v2 (SMART, and IOT with new_klap): auth = sha256(sha1(user) + sha1(password)),
 *        hs1 = sha256(local + remote + auth), hs2 = sha256(remote + local + auth)
 * Because hs1 depends only on the seeds and the auth hash, the client checks
 * every candidate credential in both versions against one handshake1 answer
 * (kasa_klap_match): no extra round trip, no guessing of the version.
 * The session: key = sha256("lsk" + local + remote + auth)[:16], iv + seq from
 * sha256("iv" + ...) (12 bytes, then the last 4 as a signed big-endian
 * sequence), signature key sha256("ldk" + ...)[:28]. Each request takes the
 * next sequence number; its payload is AES-128-CBC(key, iv + seq) and is
 * preceded by sha256(sig + seq + ciphertext). Replies use the request's
 * sequence number with the same layout. The simulated device checks the
 * signature of every request; the client does not check a reply's (what
 * devices put there is not documented, and python-kasa ignores it too): a
 * reply under another key fails its padding or its JSON instead.
 *
 * AES "secure passthrough" (aestransport.py): after the RSA handshake the
 * session is a key and an IV (the 32 bytes the device encrypted to our
 * public key); every request and reply is AES-128-CBC with them, base64.
 *
 * No state beyond the structs the caller owns; no locks. */
#include <errno.h>
#include <string.h>

#include "internal.h"

size_t kasa_klap_auth_hash(int version, const char *user, const char *password, uint8_t out[32])
{
	const char *u = user ? user : "", *p = password ? password : "";

	if (version == 1) {
		uint8_t h[32];

		kasa_md5v(&(struct kasa_iov){ u, strlen(u) }, 1, h);
		kasa_md5v(&(struct kasa_iov){ p, strlen(p) }, 1, h + 16);
		kasa_md5v(&(struct kasa_iov){ h, 32 }, 1, out);
		return 16;
	} else {
		uint8_t h[40];

		kasa_sha1v(&(struct kasa_iov){ u, strlen(u) }, 1, h);
		kasa_sha1v(&(struct kasa_iov){ p, strlen(p) }, 1, h + 20);
		kasa_sha256v(&(struct kasa_iov){ h, 40 }, 1, out);
		return 32;
	}
}

void kasa_klap_hs1(int version, const uint8_t local[16], const uint8_t remote[16],
		   const uint8_t *auth, size_t auth_len, uint8_t out[32])
{
	if (version == 1) {
		struct kasa_iov v[] = { { local, 16 }, { auth, auth_len } };

		kasa_sha256v(v, 2, out);
	} else {
		struct kasa_iov v[] = { { local, 16 }, { remote, 16 }, { auth, auth_len } };

		kasa_sha256v(v, 3, out);
	}
}

void kasa_klap_hs2(int version, const uint8_t local[16], const uint8_t remote[16],
		   const uint8_t *auth, size_t auth_len, uint8_t out[32])
{
	if (version == 1) {
		struct kasa_iov v[] = { { remote, 16 }, { auth, auth_len } };

		kasa_sha256v(v, 2, out);
	} else {
		struct kasa_iov v[] = { { remote, 16 }, { local, 16 }, { auth, auth_len } };

		kasa_sha256v(v, 3, out);
	}
}

int kasa_klap_match(const uint8_t local[16], const uint8_t remote[16], const uint8_t server_hash[32],
		    const struct kasa_cred *cands, size_t n, size_t *ret_index, int *ret_version)
{
	for (size_t i = 0; i < n; i++) {
		for (int v = 1; v <= 2; v++) {
			uint8_t auth[32], h[32];
			size_t alen = kasa_klap_auth_hash(v, cands[i].user, cands[i].password, auth);

			kasa_klap_hs1(v, local, remote, auth, alen, h);
			if (memcmp(h, server_hash, 32) == 0) {
				*ret_index = i;
				*ret_version = v;
				return 0;
			}
		}
	}
	return -EACCES;
}

static void kasa_klap_derive(const char *label, const uint8_t local[16], const uint8_t remote[16],
			     const uint8_t *auth, size_t auth_len, uint8_t out[32])
{
	struct kasa_iov v[] = { { label, strlen(label) }, { local, 16 }, { remote, 16 },
				{ auth, auth_len } };

	kasa_sha256v(v, 4, out);
}

void kasa_klap_init(struct kasa_klap *k, const uint8_t local[16], const uint8_t remote[16],
		    const uint8_t *auth, size_t auth_len)
{
	uint8_t h[32];

	kasa_klap_derive("lsk", local, remote, auth, auth_len, h);
	memcpy(k->key, h, 16);
	kasa_klap_derive("iv", local, remote, auth, auth_len, h);
	memcpy(k->iv, h, 12);
	k->seq = (int32_t)(((uint32_t)h[28] << 24) | ((uint32_t)h[29] << 16) |
			   ((uint32_t)h[30] << 8) | h[31]);
	kasa_klap_derive("ldk", local, remote, auth, auth_len, h);
	memcpy(k->sig, h, 28);
}

static void kasa_klap_iv(const struct kasa_klap *k, int32_t seq, uint8_t iv[16])
{
	uint32_t s = (uint32_t)seq;

	memcpy(iv, k->iv, 12);
	iv[12] = (uint8_t)(s >> 24);
	iv[13] = (uint8_t)(s >> 16);
	iv[14] = (uint8_t)(s >> 8);
	iv[15] = (uint8_t)s;
}

static void kasa_klap_sign(const struct kasa_klap *k, const uint8_t iv[16], const uint8_t *ct,
			   size_t len, uint8_t out[32])
{
	struct kasa_iov v[] = { { k->sig, 28 }, { iv + 12, 4 }, { ct, len } };

	kasa_sha256v(v, 3, out);
}

int kasa_klap_seal(const struct kasa_klap *k, int32_t seq, const void *plain, size_t len,
		   uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *ct = NULL;
	uint8_t iv[16], *out;
	size_t ct_len;
	int r;

	kasa_klap_iv(k, seq, iv);
	r = kasa_aes_cbc(true, k->key, iv, plain, len, &ct, &ct_len);
	if (r < 0)
		return r;
	out = malloc(32 + ct_len);
	if (!out)
		return -ENOMEM;
	kasa_klap_sign(k, iv, ct, ct_len, out);
	memcpy(out + 32, ct, ct_len);
	*ret = out;
	*ret_len = 32 + ct_len;
	return 0;
}

int kasa_klap_open(const struct kasa_klap *k, int32_t seq, bool check_sig, const uint8_t *msg,
		   size_t len, char **ret, size_t *ret_len)
{
	uint8_t iv[16], sig[32], *plain;
	size_t plain_len;
	int r;

	if (!msg || len < 32 + 16)
		return -EBADMSG;
	kasa_klap_iv(k, seq, iv);
	kasa_klap_sign(k, iv, msg + 32, len - 32, sig);
	if (check_sig && memcmp(sig, msg, 32) != 0)
		return -EBADMSG;
	r = kasa_aes_cbc(false, k->key, iv, msg + 32, len - 32, &plain, &plain_len);
	if (r < 0)
		return r;
	*ret = (char *)plain;
	*ret_len = plain_len;
	return 0;
}

int kasa_aes_seal_b64(const struct kasa_aes *s, const char *plain, char **ret_b64)
{
	_cleanup_free_ uint8_t *ct = NULL;
	size_t ct_len;
	int r;

	r = kasa_aes_cbc(true, s->key, s->iv, (const uint8_t *)plain, strlen(plain), &ct, &ct_len);
	if (r < 0)
		return r;
	*ret_b64 = kasa_base64_encode(ct, ct_len);
	return *ret_b64 ? 0 : -ENOMEM;
}

int kasa_aes_open_b64(const struct kasa_aes *s, const char *b64, char **ret_plain)
{
	_cleanup_free_ uint8_t *ct = NULL;
	uint8_t *plain;
	size_t ct_len, plain_len;
	int r;

	r = kasa_base64_decode(b64, strlen(b64), &ct, &ct_len);
	if (r < 0)
		return r;
	r = kasa_aes_cbc(false, s->key, s->iv, ct, ct_len, &plain, &plain_len);
	if (r < 0)
		return r;
	if (strlen((char *)plain) != plain_len) {   /* a NUL inside: not text */
		free(plain);
		return -EBADMSG;
	}
	*ret_plain = (char *)plain;
	return 0;
}

/* The accounts python-kasa tries on devices never bound to a TP-Link
 * account (its DEFAULT_CREDENTIALS, public constants), then the blank one. */
const struct kasa_cred kasa_default_creds[KASA_N_DEFAULT_CREDS] = {
	{ "kasa@tp-link.net", "kasaSetup", "the default Kasa account" },
	{ "test@tp-link.net", "test", "the default Tapo account" },
	{ "", "", "the blank account" },
};
