/* fuzz_kasa.c — libFuzzer target for everything that reads bytes a device
 * (or any host on the LAN) sends: the TCP frame reader, the get_sysinfo and
 * emeter parsers, and the discovery reply classifier.
 *
 * One input is used four ways:
 *  1. as a raw TCP byte stream, fed to kasa_frame_feed() in pieces whose sizes
 *     come from a PRNG seeded by the input (so split points vary with it);
 *     every whole frame is parsed as sysinfo and emeter;
 *  2. as a payload: framed with kasa_frame_encode() and read back in random
 *     pieces, which must give back exactly the input (a round-trip check);
 *  3. as reply text for kasa_parse_sysinfo() / kasa_parse_emeter(), checking
 *     the header's promises on success (strings never NULL, model and
 *     deviceId non-empty, child ids usable);
 *  4. as a discovery datagram, legacy (encrypted first, so the classifier
 *     sees the input after decryption) and new-style (as is);
 *  5. as an HTTP reply (kasa_http_parse, complete or cut at the close);
 *  6. as a KLAP reply and an AES passthrough response, opened with a fixed
 *     session (a bad signature or padding must be refused cleanly), and
 *     sealed and opened again (which must give back the input);
 *  7. as a SMART reply: kasa_smart_result, then get_device_info with its
 *     child list and components, and the meter parser, on what it holds.
 * A broken promise aborts, which libFuzzer reports as a crash.
 *
 * Build: scripts/fuzz (clang -fsanitize=fuzzer,address,undefined), or meson
 * with CC=clang. Seeds: the fixtures under shared/fixtures/kasa. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kasa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                              \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_kasa: broken promise: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                  \
			abort();                                                    \
		}                                                                   \
	} while (0)

static uint64_t fz_seed(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < size && i < 64; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h | 1;
}

/* xorshift64: piece sizes 1..max, mostly small, sometimes large. */
static size_t fz_piece(uint64_t *s, size_t max)
{
	size_t n;

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	n = (*s & 3) == 0 ? (size_t)(*s >> 8) % 4096 + 1 : (size_t)(*s >> 8) % 7 + 1;
	return n > max ? max : n;
}

static void fz_sysinfo(const char *text)
{
	struct kasa_sysinfo si;

	if (kasa_parse_sysinfo(text, &si) != 0)
		return;
	FZ_CHECK(si.model && *si.model && si.device_id && *si.device_id);
	FZ_CHECK(si.mac && si.alias && si.sw_ver && si.hw_ver && si.dev_name);
	FZ_CHECK(si.n_children == 0 || si.children);
	for (size_t i = 0; i < si.n_children; i++) {
		char *full = kasa_child_full_id(&si, i);

		FZ_CHECK(si.children[i].id && *si.children[i].id && si.children[i].alias);
		FZ_CHECK(full && strlen(full) >= strlen(si.children[i].id));
		free(full);
	}
	FZ_CHECK(kasa_child_full_id(&si, si.n_children) == NULL);
	kasa_sysinfo_clear(&si);
}

static void fz_emeter(const char *text)
{
	struct kasa_emeter e;

	if (kasa_parse_emeter(text, &e) != 0)
		return;
	/* finite in, finite out (scaling by 1e-3 cannot overflow) */
	FZ_CHECK(e.voltage_v == e.voltage_v && e.current_a == e.current_a);
	FZ_CHECK(e.power_w == e.power_w && e.total_kwh == e.total_kwh);
}

/* 1: the input as a stream of frames. */
static void fz_stream(const uint8_t *data, size_t size, uint64_t seed)
{
	struct kasa_frame_reader rd = { 0 };
	size_t off = 0;

	while (off < size) {
		size_t piece = fz_piece(&seed, size - off), used = 0;
		int r = kasa_frame_feed(&rd, data + off, piece, &used);

		FZ_CHECK(used <= piece);
		if (r < 0) {
			FZ_CHECK(r == -EMSGSIZE || r == -EBADMSG || r == -ENOMEM);
			break;
		}
		off += used;
		if (r == 1) {
			FZ_CHECK(rd.payload && rd.payload_len == rd.len && rd.payload_len > 0);
			FZ_CHECK(rd.payload_len <= KASA_MAX_FRAME && rd.payload[rd.payload_len] == '\0');
			fz_sysinfo(rd.payload);
			fz_emeter(rd.payload);
			kasa_frame_reset(&rd);
		} else {
			FZ_CHECK(used == piece);   /* 0: it wanted everything it was given */
		}
	}
	kasa_frame_reset(&rd);
}

/* 2: the input as a payload, framed and read back. */
static void fz_roundtrip(const uint8_t *data, size_t size, uint64_t seed)
{
	struct kasa_frame_reader rd = { 0 };
	uint8_t *frame = NULL;
	size_t frame_len = 0, off = 0;
	int r = 0;

	if (size == 0)
		return;
	FZ_CHECK(kasa_frame_encode((const char *)data, size, &frame, &frame_len) == 0);
	FZ_CHECK(frame_len == size + 4);
	while (off < frame_len) {
		size_t piece = fz_piece(&seed, frame_len - off), used = 0;

		r = kasa_frame_feed(&rd, frame + off, piece, &used);
		FZ_CHECK(r >= 0);
		off += used;
		if (r == 1)
			break;
	}
	FZ_CHECK(r == 1 && off == frame_len);
	FZ_CHECK(rd.payload_len == size && memcmp(rd.payload, data, size) == 0);
	kasa_frame_reset(&rd);
	free(frame);
}

/* 4: discovery replies. */
static void fz_found(const uint8_t *data, size_t size)
{
	uint8_t *enc = malloc(size ? size : 1);

	FZ_CHECK(enc);
	kasa_encrypt(data, size, enc);
	for (int legacy = 0; legacy <= 1; legacy++) {
		struct kasa_found f;
		int r = kasa_found_parse("192.0.2.1", legacy ? KASA_PORT : KASA_DISCOVERY_PORT_NEW,
					 legacy, legacy ? enc : data, size, &f);

		if (size > 65536) {
			FZ_CHECK(r == -EINVAL);
			continue;
		}
		FZ_CHECK(r == 0);
		FZ_CHECK(f.model && f.device_id && f.mac && f.protocol && f.reason);
		FZ_CHECK(f.supported ? (legacy && *f.model && *f.device_id && !*f.reason) : *f.reason != 0);
		for (const char *p = f.reason; !f.supported && *p; p++)
			FZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		kasa_found_clear(&f);
	}
	free(enc);
}

/* 5: HTTP replies, whole or cut short by the close. */
static void fz_http(const uint8_t *data, size_t size)
{
	for (int eof = 0; eof <= 1; eof++) {
		struct kasa_http_reply r = { 0 };
		int k = kasa_http_parse(data, size, eof, &r);

		FZ_CHECK(k == 0 || k == -EPROTO || k == -ENOMEM || (k == 1 && !eof));
		if (k != 0)
			continue;
		FZ_CHECK(r.status >= 100 && r.status <= 999);
		FZ_CHECK(r.body && r.len <= KASA_MAX_FRAME && r.body[r.len] == '\0');
		FZ_CHECK(strlen(r.cookie) < sizeof(r.cookie) && r.cookie_timeout_s >= 0);
		kasa_http_reply_clear(&r);
	}
}

/* 6: the encrypted bodies of KLAP and AES, with a fixed session. */
static void fz_sessions(const uint8_t *data, size_t size)
{
	static const uint8_t l[16] = { 1, 2, 3 }, rm[16] = { 4, 5, 6 };
	struct kasa_klap k;
	struct kasa_aes a = { { 7 }, { 8 } };
	uint8_t auth[32], *sealed = NULL;
	size_t alen = kasa_klap_auth_hash(2, "fuzz@example.com", "fuzz", auth), n, m;
	char *plain = NULL, *text, *b64 = NULL;
	int r;

	kasa_klap_init(&k, l, rm, auth, alen);
	r = kasa_klap_open(&k, k.seq + 1, size % 2 == 0, data, size, &plain, &m);
	FZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0)
		FZ_CHECK(plain[m] == '\0');
	free(plain);
	plain = NULL;
	if (size <= 65536 && kasa_klap_seal(&k, k.seq + 1, data, size, &sealed, &n) == 0) {
		FZ_CHECK(kasa_klap_open(&k, k.seq + 1, true, sealed, n, &plain, &m) == 0);
		FZ_CHECK(m == size && memcmp(plain, data, size) == 0);
		free(plain);
		plain = NULL;
		free(sealed);
	}
	text = malloc(size + 1);
	FZ_CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	r = kasa_aes_open_b64(&a, text, &plain);
	FZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0)
		FZ_CHECK(strlen(plain) < size);
	free(plain);
	plain = NULL;
	if (size <= 65536 && strlen(text) == size && kasa_aes_seal_b64(&a, text, &b64) == 0) {
		FZ_CHECK(kasa_aes_open_b64(&a, b64, &plain) == 0 && strcmp(plain, text) == 0);
		free(plain);
		free(b64);
	}
	free(text);
}

/* 7: SMART replies through their parsers. */
static void fz_smart(const uint8_t *data, size_t size)
{
	json_object *root = kasa_json_parse_object((const char *)data, size), *res = NULL, *list;
	struct kasa_sysinfo si;
	struct kasa_emeter em;
	int64_t code;

	if (!root)
		return;
	if (kasa_smart_result(root, &res, &code) < 0 || !res)
		res = root;   /* parse what it holds anyway */
	list = NULL;
	json_object_object_get_ex(res, "child_device_list", &list);
	if (kasa_smart_parse_info(res, json_object_is_type(list, json_type_array) ? list : NULL, res,
				  &si) == 0) {
		FZ_CHECK(si.model && *si.model && si.device_id && *si.device_id && si.mac && si.alias &&
			 si.sw_ver && si.hw_ver && si.dev_name);
		FZ_CHECK(si.n_children <= 64 && (si.n_children == 0 || si.children));
		for (size_t i = 0; i < si.n_children; i++) {
			char *full = kasa_child_full_id(&si, i);

			FZ_CHECK(si.children[i].id && *si.children[i].id && si.children[i].alias && full);
			free(full);
		}
		kasa_sysinfo_clear(&si);
	}
	if (kasa_smart_parse_meter(res, res, res, &em) == 0)
		FZ_CHECK(em.power_w >= 0);
	json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = fz_seed(data, size);
	char *text;

	fz_stream(data, size, seed);
	if (size <= KASA_MAX_FRAME)
		fz_roundtrip(data, size, seed);
	text = malloc(size + 1);
	FZ_CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	fz_sysinfo(text);
	fz_emeter(text);
	free(text);
	fz_found(data, size);
	fz_http(data, size);
	fz_sessions(data, size);
	if (size <= KASA_MAX_FRAME)
		fz_smart(data, size);
	return 0;
}
