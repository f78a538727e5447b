/* codec.c — the Kasa cipher and TCP framing.
 *
 * XOR autokey: the key starts at 171; each ciphertext byte is the key for the
 * next one (encrypt: key = output byte; decrypt: key = input byte). TCP
 * frames carry a 4-byte big-endian length before the encrypted payload.
 *
 * The frame reader is an incremental state machine for non-blocking sockets:
 * callers feed whatever arrived; the header may be split anywhere. A length
 * of 0 or above KASA_MAX_FRAME is rejected as soon as the header is complete,
 * before anything is allocated. Used by kasa/dev.c (replies) and the
 * simulator (requests). Pure functions, no locks; a reader belongs to one
 * connection and is used by one thread at a time. */
#include "kasa.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KASA_KEY_INIT 171

void kasa_encrypt(const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t key = KASA_KEY_INIT;

	for (size_t i = 0; i < len; i++) {
		key = out[i] = (uint8_t)(in[i] ^ key);
	}
}

void kasa_decrypt(const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t key = KASA_KEY_INIT;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];  /* read first: in == out is allowed */

		out[i] = (uint8_t)(c ^ key);
		key = c;
	}
}

int kasa_frame_encode(const char *json, size_t len, uint8_t **ret, size_t *ret_len)
{
	uint8_t *buf;

	if (!json || !ret || !ret_len)
		return -EINVAL;
	if (len > KASA_MAX_FRAME)
		return -EMSGSIZE;
	buf = malloc(len + 4);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	kasa_encrypt((const uint8_t *)json, len, buf + 4);
	*ret = buf;
	*ret_len = len + 4;
	return 0;
}

void kasa_frame_reset(struct kasa_frame_reader *r)
{
	if (!r)
		return;
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

int kasa_frame_feed(struct kasa_frame_reader *r, const uint8_t *data, size_t n,
		    size_t *ret_consumed)
{
	size_t used = 0;

	if (!r || (!data && n > 0))
		return -EINVAL;
	/* A whole frame is waiting to be taken: consume nothing more. */
	if (r->hdr_got == 4 && r->payload && r->got == r->len) {
		if (ret_consumed)
			*ret_consumed = 0;
		return 1;
	}
	while (r->hdr_got < 4 && used < n)
		r->hdr[r->hdr_got++] = data[used++];
	if (r->hdr_got < 4) {
		if (ret_consumed)
			*ret_consumed = used;
		return 0;
	}
	if (!r->payload) {
		uint32_t len = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
			       (uint32_t)r->hdr[2] << 8 | r->hdr[3];

		if (len == 0)
			return -EBADMSG;
		if (len > KASA_MAX_FRAME)
			return -EMSGSIZE;
		r->payload = malloc((size_t)len + 1);
		if (!r->payload)
			return -ENOMEM;
		r->len = len;
		r->got = 0;
		r->payload_len = 0;
	}
	if (used < n && r->got < r->len) {
		size_t take = n - used;

		if (take > r->len - r->got)
			take = r->len - r->got;
		memcpy(r->payload + r->got, data + used, take);
		r->got += take;
		used += take;
	}
	if (ret_consumed)
		*ret_consumed = used;
	if (r->got < r->len)
		return 0;
	kasa_decrypt((const uint8_t *)r->payload, r->len, (uint8_t *)r->payload);
	r->payload[r->len] = '\0';
	r->payload_len = r->len;
	return 1;
}
