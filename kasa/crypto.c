/* crypto.c — the few primitives the KLAP and AES transports need, on
 * OpenSSL's libcrypto: digests (MD5, SHA-1, SHA-256), AES-128-CBC with
 * PKCS#7 padding, base64, random bytes, and RSA (a 1024-bit key pair, its
 * public half as PEM, PKCS#1 v1.5 encryption and decryption).
 *
 * Nothing here is a cipher of our own: each function is a thin, checked
 * wrapper around EVP. Callers: kasa/klap.c, kasa/aes.c (client sessions),
 * kasa/sim.c (the simulated device) and the tests. Stateless apart from the
 * key objects the caller owns; libcrypto 3 is thread-safe without setup.
 * Every buffer handed back is malloc'd and belongs to the caller. */
#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void kasa_digest(const EVP_MD *md, const struct kasa_iov *parts, size_t n, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;

	/* Allocation of a digest context is the only way this fails; a zeroed
	 * digest then can never match anything a peer sent. */
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		memset(out, 0, (size_t)EVP_MD_get_size(md));
		EVP_MD_CTX_free(ctx);
		return;
	}
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
	EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
}

void kasa_md5v(const struct kasa_iov *parts, size_t n, uint8_t out[16])
{
	kasa_digest(EVP_md5(), parts, n, out);
}

void kasa_sha1v(const struct kasa_iov *parts, size_t n, uint8_t out[20])
{
	kasa_digest(EVP_sha1(), parts, n, out);
}

void kasa_sha256v(const struct kasa_iov *parts, size_t n, uint8_t out[32])
{
	kasa_digest(EVP_sha256(), parts, n, out);
}

void kasa_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

int kasa_random(uint8_t *buf, size_t n)
{
	if (n > INT_MAX)
		return -EINVAL;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int kasa_aes_cbc(bool encrypt, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
		 size_t len, uint8_t **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t *out;
	int n1 = 0, n2 = 0, r = -EBADMSG;

	if (len > KASA_MAX_FRAME * 2 || (!encrypt && (len == 0 || len % 16)))
		return -EBADMSG;
	out = malloc(len + 32);
	ctx = EVP_CIPHER_CTX_new();
	if (!out || !ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv, encrypt ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n1, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1)
		goto out;   /* decrypting: bad padding, i.e. wrong key or damage */
	out[n1 + n2] = '\0';
	*ret = out;
	*ret_len = (size_t)(n1 + n2);
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(out);
	return r;
}

char *kasa_base64_encode(const uint8_t *d, size_t n)
{
	char *out;

	if (n > KASA_MAX_FRAME * 2)
		return NULL;
	out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, d, (int)n);
	return out;
}

int kasa_base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	uint8_t *out;
	size_t pad = 0;
	int n;

	/* EVP_DecodeBlock takes whole quads without whitespace and counts the
	 * '=' padding as zero bytes; we check the shape and trim them. */
	if (!s || len % 4 || len > KASA_MAX_FRAME * 2)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			if (i + 2 < len)
				return -EBADMSG;
			pad++;
		} else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				    (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return -EBADMSG;
		}
	}
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	n = len ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : 0;
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return -EBADMSG;
	}
	n -= (int)pad;
	out[n] = '\0';
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}

struct kasa_rsa *kasa_rsa_new(void)
{
	return (struct kasa_rsa *)EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
}

struct kasa_rsa *kasa_rsa_free(struct kasa_rsa *k)
{
	EVP_PKEY_free((EVP_PKEY *)k);
	return NULL;
}

char *kasa_rsa_public_pem(const struct kasa_rsa *k)
{
	unsigned char *der = NULL;
	char *b64, *out = NULL;
	int n = i2d_PUBKEY((EVP_PKEY *)k, &der);

	if (n <= 0)
		return NULL;
	b64 = kasa_base64_encode(der, (size_t)n);
	OPENSSL_free(der);
	if (b64 && asprintf(&out, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64) < 0)
		out = NULL;
	free(b64);
	return out;
}

/* encrypt (with the PEM public key) or decrypt (with k), PKCS#1 v1.5. */
static int kasa_rsa_op(EVP_PKEY *key, bool encrypt, const uint8_t *in, size_t len,
		       uint8_t **ret, size_t *ret_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	uint8_t *out = NULL;
	size_t n = 0;
	int r = -EBADMSG;

	if (!ctx)
		return -ENOMEM;
	if ((encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if ((encrypt ? EVP_PKEY_encrypt(ctx, NULL, &n, in, len) :
		       EVP_PKEY_decrypt(ctx, NULL, &n, in, len)) != 1)
		goto out;
	out = malloc(n + 1);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	if ((encrypt ? EVP_PKEY_encrypt(ctx, out, &n, in, len) :
		       EVP_PKEY_decrypt(ctx, out, &n, in, len)) != 1)
		goto out;
	*ret = out;
	*ret_len = n;
	out = NULL;
	r = 0;
out:
	free(out);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int kasa_rsa_decrypt(const struct kasa_rsa *k, const uint8_t *in, size_t len, uint8_t **ret,
		     size_t *ret_len)
{
	return kasa_rsa_op((EVP_PKEY *)k, false, in, len, ret, ret_len);
}

int kasa_rsa_encrypt_pem(const char *pem, const uint8_t *in, size_t len, uint8_t **ret,
			 size_t *ret_len)
{
	BIO *bio;
	EVP_PKEY *key;
	int r;

	if (!pem || strlen(pem) > 8192)
		return -EBADMSG;
	bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		return -ENOMEM;
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		return -EBADMSG;
	}
	r = kasa_rsa_op(key, true, in, len, ret, ret_len);
	EVP_PKEY_free(key);
	return r;
}
