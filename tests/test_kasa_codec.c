/* test_kasa_codec.c — XOR autokey cipher and TCP framing (kasa/codec.c).
 *
 * Known ciphertext is checked against an independent reference
 * implementation written here and against the well-known bytes of an
 * encrypted get_sysinfo request; frames are fed split at every byte
 * boundary; zero and oversize lengths are rejected right after the header. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kasa.h"
#include "testutil.h"

static const char sysinfo_req[] = "{\"system\":{\"get_sysinfo\":{}}}";

/* The well-known encrypted form of the request above. */
static const uint8_t sysinfo_enc[] = {
	0xd0, 0xf2, 0x81, 0xf8, 0x8b, 0xff, 0x9a, 0xf7, 0xd5, 0xef, 0x94, 0xb6, 0xd1, 0xb4, 0xc0,
	0x9f, 0xec, 0x95, 0xe6, 0x8f, 0xe1, 0x87, 0xe8, 0xca, 0xf0, 0x8b, 0xf6, 0x8b, 0xf6,
};

/* Reference: c[i] = p[i] ^ c[i-1], c[-1] = 171. */
static void ref_encrypt(const char *p, size_t n, uint8_t *c)
{
	unsigned prev = 171;

	for (size_t i = 0; i < n; i++) {
		c[i] = (uint8_t)((unsigned char)p[i] ^ prev);
		prev = c[i];
	}
}

static void test_known_bytes(void)
{
	size_t n = strlen(sysinfo_req);
	uint8_t out[64], back[64];

	CU_ASSERT_EQUAL_FATAL(n, sizeof(sysinfo_enc));
	kasa_encrypt((const uint8_t *)sysinfo_req, n, out);
	CU_ASSERT(memcmp(out, sysinfo_enc, n) == 0);
	kasa_decrypt(sysinfo_enc, n, back);
	CU_ASSERT(memcmp(back, sysinfo_req, n) == 0);
}

static void test_reference_and_inplace(void)
{
	const char *samples[] = {
		"{\"system\":{\"set_relay_state\":{\"state\":1}}}",
		"{\"context\":{\"child_ids\":[\"800600000000000000000000000000000000000001\"]},"
		"\"emeter\":{\"get_realtime\":{}}}",
		"\xff\x00\x01\xab binary \xab\xab",
		"a",
	};

	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		size_t n = k == 2 ? 14 : strlen(samples[k]);
		uint8_t ref[256], buf[256];

		ref_encrypt(samples[k], n, ref);
		kasa_encrypt((const uint8_t *)samples[k], n, buf);
		CU_ASSERT(memcmp(buf, ref, n) == 0);
		/* in place, both ways */
		memcpy(buf, samples[k], n);
		kasa_encrypt(buf, n, buf);
		CU_ASSERT(memcmp(buf, ref, n) == 0);
		kasa_decrypt(buf, n, buf);
		CU_ASSERT(memcmp(buf, samples[k], n) == 0);
	}
	/* A zero-length call touches nothing. */
	kasa_encrypt(NULL, 0, NULL);
	kasa_decrypt(NULL, 0, NULL);
}

static void test_encode(void)
{
	uint8_t *frame = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kasa_frame_encode(sysinfo_req, strlen(sysinfo_req), &frame, &len), 0);
	CU_ASSERT_EQUAL(len, 4 + sizeof(sysinfo_enc));
	CU_ASSERT(frame[0] == 0 && frame[1] == 0 && frame[2] == 0 && frame[3] == sizeof(sysinfo_enc));
	CU_ASSERT(memcmp(frame + 4, sysinfo_enc, sizeof(sysinfo_enc)) == 0);
	free(frame);

	frame = NULL;
	CU_ASSERT_EQUAL(kasa_frame_encode(sysinfo_req, KASA_MAX_FRAME + 1, &frame, &len), -EMSGSIZE);
	CU_ASSERT_PTR_NULL(frame);
	CU_ASSERT_EQUAL(kasa_frame_encode(NULL, 1, &frame, &len), -EINVAL);
}

/* A big frame: the length needs all four header bytes. */
static char *big_payload(size_t n)
{
	char *p = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7) % 26);
	p[0] = '{';
	p[n - 1] = '}';
	p[n] = '\0';
	return p;
}

static void feed_split(const uint8_t *frame, size_t len, size_t split, const char *expect,
		       size_t expect_len)
{
	struct kasa_frame_reader rd = { 0 };
	size_t used = 0;
	int r;

	r = kasa_frame_feed(&rd, frame, split, &used);
	CU_ASSERT_EQUAL(used, split);
	if (split < len) {
		CU_ASSERT_EQUAL(r, 0);
		r = kasa_frame_feed(&rd, frame + split, len - split, &used);
		CU_ASSERT_EQUAL(used, len - split);
	}
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT_EQUAL(rd.payload_len, expect_len);
	CU_ASSERT(rd.payload && memcmp(rd.payload, expect, expect_len) == 0 &&
		  rd.payload[expect_len] == '\0');
	/* A complete reader consumes nothing more until reset. */
	r = kasa_frame_feed(&rd, frame, 4, &used);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT_EQUAL(used, 0);
	kasa_frame_reset(&rd);
	CU_ASSERT_PTR_NULL(rd.payload);
	CU_ASSERT_EQUAL(rd.hdr_got, 0);
}

static void test_split_every_boundary(void)
{
	uint8_t *frame;
	size_t len;
	char *big = big_payload(70000);

	CU_ASSERT_EQUAL_FATAL(kasa_frame_encode(sysinfo_req, strlen(sysinfo_req), &frame, &len), 0);
	for (size_t split = 0; split <= len; split++)
		feed_split(frame, len, split, sysinfo_req, strlen(sysinfo_req));
	free(frame);

	CU_ASSERT_EQUAL_FATAL(kasa_frame_encode(big, strlen(big), &frame, &len), 0);
	CU_ASSERT(frame[1] == 0x01);   /* 70000 = 0x011170: a three-byte length */
	for (size_t split = 0; split <= 8; split++)
		feed_split(frame, len, split, big, strlen(big));
	feed_split(frame, len, len / 2, big, strlen(big));
	feed_split(frame, len, len - 1, big, strlen(big));
	free(frame);
	free(big);
}

static void test_byte_by_byte_and_back_to_back(void)
{
	uint8_t *f1, *f2, *both;
	size_t l1, l2, off = 0;
	struct kasa_frame_reader rd = { 0 };
	const char *second = "{\"emeter\":{\"get_realtime\":{}}}";
	int frames = 0;

	CU_ASSERT_EQUAL_FATAL(kasa_frame_encode(sysinfo_req, strlen(sysinfo_req), &f1, &l1), 0);
	CU_ASSERT_EQUAL_FATAL(kasa_frame_encode(second, strlen(second), &f2, &l2), 0);
	both = malloc(l1 + l2);
	memcpy(both, f1, l1);
	memcpy(both + l1, f2, l2);

	/* One byte at a time. */
	for (size_t i = 0; i < l1; i++) {
		size_t used = 0;
		int r = kasa_frame_feed(&rd, f1 + i, 1, &used);

		CU_ASSERT_EQUAL(used, 1);
		CU_ASSERT_EQUAL(r, i + 1 == l1 ? 1 : 0);
	}
	CU_ASSERT_STRING_EQUAL(rd.payload, sysinfo_req);
	kasa_frame_reset(&rd);

	/* Two frames in one buffer: the reader stops after the first. */
	while (off < l1 + l2) {
		size_t used = 0;
		int r = kasa_frame_feed(&rd, both + off, l1 + l2 - off, &used);

		CU_ASSERT_FATAL(r >= 0);
		off += used;
		if (r == 1) {
			CU_ASSERT_STRING_EQUAL(rd.payload, frames == 0 ? sysinfo_req : second);
			CU_ASSERT_EQUAL(off, frames == 0 ? l1 : l1 + l2);
			frames++;
			kasa_frame_reset(&rd);
		}
	}
	CU_ASSERT_EQUAL(frames, 2);
	free(f1);
	free(f2);
	free(both);
}

static void test_bad_lengths(void)
{
	struct kasa_frame_reader rd = { 0 };
	const uint8_t zero[] = { 0, 0, 0, 0, 0xd0 };
	const uint8_t over[] = { 0x00, 0x04, 0x00, 0x01, 0xd0, 0xf2 };  /* 256 KiB + 1 */
	const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t max[] = { 0x00, 0x04, 0x00, 0x00 };                /* exactly the max */
	size_t used = 0;

	CU_ASSERT_EQUAL(kasa_frame_feed(&rd, zero, sizeof(zero), &used), -EBADMSG);
	CU_ASSERT_PTR_NULL(rd.payload);
	kasa_frame_reset(&rd);

	/* Header byte by byte: no verdict before the fourth, -EMSGSIZE right at
	 * it, and nothing allocated. */
	for (size_t i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(kasa_frame_feed(&rd, over + i, 1, &used), 0);
	CU_ASSERT_EQUAL(kasa_frame_feed(&rd, over + 3, 1, &used), -EMSGSIZE);
	CU_ASSERT_PTR_NULL(rd.payload);
	kasa_frame_reset(&rd);

	CU_ASSERT_EQUAL(kasa_frame_feed(&rd, huge, sizeof(huge), &used), -EMSGSIZE);
	CU_ASSERT_PTR_NULL(rd.payload);
	kasa_frame_reset(&rd);

	CU_ASSERT_EQUAL(KASA_MAX_FRAME, 0x40000);
	CU_ASSERT_EQUAL(kasa_frame_feed(&rd, max, sizeof(max), &used), 0);
	CU_ASSERT_EQUAL(used, 4);
	kasa_frame_reset(&rd);

	CU_ASSERT_EQUAL(kasa_frame_feed(NULL, max, 4, &used), -EINVAL);
	CU_ASSERT_EQUAL(kasa_frame_feed(&rd, NULL, 4, &used), -EINVAL);
	kasa_frame_reset(NULL);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_codec", NULL, NULL);
	CU_add_test(s, "known bytes", test_known_bytes);
	CU_add_test(s, "reference and in place", test_reference_and_inplace);
	CU_add_test(s, "encode", test_encode);
	CU_add_test(s, "split at every boundary", test_split_every_boundary);
	CU_add_test(s, "byte by byte, back to back", test_byte_by_byte_and_back_to_back);
	CU_add_test(s, "zero and oversize lengths", test_bad_lengths);
	return tu_run_cunit();
}
