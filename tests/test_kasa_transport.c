/* test_kasa_transport.c — kasa_dev over KLAP v1/v2 and AES against real
 * kasa-sim processes on loopback, serving the SMART fixtures of
 * ../shared/fixtures/kasa/smart/ and the KLAP IOT HS100.
 *
 * For each device: the normalized model (outlets by position, names from
 * base64 nicknames, meters), switching and renaming seen at the device
 * (control port), a press at the device seen by the next read, wrong
 * credentials (-EACCES, nothing but the handshake reached the device),
 * default and blank accounts, the transport search, sessions the device
 * ended (control "expire") or that reached their TIMEOUT renewed without
 * the caller noticing, the misbehaviour modes over HTTP, and paging of the
 * child list. Timeouts are kept at TMO ms. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kasa.h"
#include "testutil.h"

#define TMO 1000
#define USER "owner@example.com"
#define PASS "s3cret-Pa55"

static struct tu_sim p304m, ep40m, kp125m, hs100, hs300v2;
static char fx[5][512];

static const char *fixture(size_t i, const char *rel)
{
	const char *dir = getenv("SHARED_DIR");

	snprintf(fx[i], sizeof(fx[i]), "%s/fixtures/kasa/%s", dir ? dir : "../shared", rel);
	return fx[i];
}

static int suite_init(void)
{
	const char *const creds[] = { "--username", USER, "--password", PASS, "--discovery-port", "0",
				      "--page-size", "3", NULL };
	const char *const blank[] = { "--discovery-port", "0", NULL };
	const char *const v2[] = { "--transport", "klap", "--klap-version", "2", "--username", USER,
				   "--password", PASS, "--discovery-port", "0", NULL };

	if (tu_sim_start(&p304m, fixture(0, "smart/P304M(UK)_1.0_1.0.3.json"), "Rack A", creds) < 0 ||
	    tu_sim_start(&ep40m, fixture(1, "smart/EP40M(US)_1.0_1.1.0.json"), NULL, creds) < 0 ||
	    tu_sim_start(&kp125m, fixture(2, "smart/KP125M(US)_1.0_1.1.3.json"), "Coffee", creds) < 0 ||
	    tu_sim_start(&hs100, fixture(3, "iot/HS100(UK)_4.1_1.1.0.json"), "Lamp", blank) < 0 ||
	    tu_sim_start(&hs300v2, "hs300", "New Klap", v2) < 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	tu_sim_stop(&p304m);
	tu_sim_stop(&ep40m);
	tu_sim_stop(&kp125m);
	tu_sim_stop(&hs100);
	tu_sim_stop(&hs300v2);
	return 0;
}

static struct kasa_dev *dev(struct tu_sim *sim, bool creds)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", sim->port, TMO);

	if (d && creds)
		CU_ASSERT_EQUAL(kasa_dev_set_credentials(d, USER, PASS), 0);
	return d;
}

static void test_strip_p304m(void)
{
	struct kasa_dev *d = dev(&p304m, true);
	struct kasa_sysinfo si;
	char acct[64];

	tu_sim_expect(&p304m, "clear", "ok");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_EQUAL(kasa_dev_transport(d), KASA_TRANSPORT_KLAP);
	CU_ASSERT_EQUAL(kasa_dev_protocol(d), KASA_PROTOCOL_SMART);
	kasa_dev_account(d, acct, sizeof(acct));
	CU_ASSERT_STRING_EQUAL(acct, "the configured account");
	CU_ASSERT_STRING_EQUAL(si.model, "P304M");
	CU_ASSERT_STRING_EQUAL(si.alias, "Rack A");
	CU_ASSERT_EQUAL(si.protocol, KASA_PROTOCOL_SMART);
	CU_ASSERT(si.has_emeter);
	CU_ASSERT_EQUAL(strlen(si.mac), 17);
	CU_ASSERT_PTR_NULL(strchr(si.mac, '-'));
	/* four outlets over two pages of three */
	CU_ASSERT_EQUAL_FATAL(si.n_children, 4);
	for (size_t i = 0; i < 4; i++) {
		char want[16], *full = kasa_child_full_id(&si, i);

		snprintf(want, sizeof(want), "Plug %zu", i + 1);
		CU_ASSERT_STRING_EQUAL(si.children[i].alias, want);
		CU_ASSERT_STRING_EQUAL(full, si.children[i].id);   /* SMART ids are whole */
		free(full);
	}
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "get_child_device_list"), 2);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "handshake1"), 1);
	kasa_sysinfo_clear(&si);
	kasa_dev_free(d);
}

static void test_switch_and_press(void)
{
	struct kasa_dev *d = dev(&p304m, true);
	struct kasa_sysinfo si;
	char *id3;

	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	id3 = kasa_child_full_id(&si, 2);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_relay(d, id3, true), 0);
	tu_sim_expect(&p304m, "state 3", "ok on");
	CU_ASSERT_EQUAL(kasa_set_relay(d, id3, false), 0);
	tu_sim_expect(&p304m, "state 3", "ok off");
	/* a press at the device shows in the next read */
	tu_sim_expect(&p304m, "press 3", "ok on");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT(si.children[2].on);
	CU_ASSERT(!si.children[1].on);
	kasa_sysinfo_clear(&si);
	/* rename an outlet and the device (set_device_info nickname, base64) */
	CU_ASSERT_EQUAL(kasa_set_alias(d, id3, "Röntgen 3"), 0);
	tu_sim_expect(&p304m, "alias 3", "ok Röntgen 3");
	CU_ASSERT_EQUAL(kasa_set_alias(d, NULL, "Rack A"), 0);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.children[2].alias, "Röntgen 3");
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_alias(d, id3, "Plug 3"), 0);
	/* a strip has no resettable meter over SMART */
	CU_ASSERT_EQUAL(kasa_erase_emeter(d, id3), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(kasa_set_led(d, true), 0);
	CU_ASSERT_EQUAL(kasa_reboot(d, 1), 0);
	free(id3);
	kasa_dev_free(d);
}

static void test_meters(void)
{
	struct kasa_dev *d = dev(&p304m, true), *k = dev(&kp125m, true);
	struct kasa_emeter em;
	struct kasa_sysinfo si;
	char *id2;

	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	id2 = kasa_child_full_id(&si, 1);
	kasa_sysinfo_clear(&si);
	tu_sim_expect(&p304m, "set 2 on", "ok");
	tu_sim_expect(&p304m, "meter 2 45678 230100 198 1200", "ok");
	CU_ASSERT_EQUAL(kasa_get_emeter(d, id2, &em), 0);
	CU_ASSERT(fabs(em.power_w - 45.678) < 1e-9);
	CU_ASSERT(isnan(em.voltage_v));   /* SMART reports power and energy only */
	CU_ASSERT(isnan(em.total_kwh));
	tu_sim_expect(&p304m, "set 2 off", "ok");
	CU_ASSERT_EQUAL(kasa_get_emeter(d, id2, &em), 0);
	CU_ASSERT_EQUAL(em.power_w, 0);
	free(id2);

	/* a plug on AES */
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(k, &si), 0);
	CU_ASSERT_EQUAL(kasa_dev_transport(k), KASA_TRANSPORT_AES);
	CU_ASSERT_STRING_EQUAL(si.model, "KP125M");
	CU_ASSERT_STRING_EQUAL(si.alias, "Coffee");
	CU_ASSERT_EQUAL(si.n_children, 0);
	CU_ASSERT(si.has_emeter);
	CU_ASSERT(si.on);
	kasa_sysinfo_clear(&si);
	tu_sim_expect(&kp125m, "meter 1 17654 120000 150 5", "ok");
	CU_ASSERT_EQUAL(kasa_get_emeter(k, NULL, &em), 0);
	CU_ASSERT(fabs(em.power_w - 17.654) < 1e-9);
	CU_ASSERT_EQUAL(kasa_set_relay(k, NULL, false), 0);
	tu_sim_expect(&kp125m, "state 1", "ok off");
	CU_ASSERT_EQUAL(kasa_set_relay(k, NULL, true), 0);
	tu_sim_expect(&kp125m, "state 1", "ok on");
	kasa_dev_free(d);
	kasa_dev_free(k);
}

static void test_positions(void)
{
	struct kasa_dev *d = dev(&ep40m, true);
	struct kasa_sysinfo si;
	struct kasa_emeter em;
	char *id1;

	/* The fixture lists position 2 first; outlets come by position. */
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_STRING_EQUAL(si.model, "EP40M");
	CU_ASSERT(!si.has_emeter);
	CU_ASSERT(si.led_off);
	CU_ASSERT_EQUAL_FATAL(si.n_children, 2);
	CU_ASSERT_STRING_EQUAL(si.children[0].alias, "Plug 1");
	CU_ASSERT_STRING_EQUAL(si.children[1].alias, "Plug 2");
	id1 = kasa_child_full_id(&si, 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_relay(d, id1, true), 0);
	tu_sim_expect(&ep40m, "state 1", "ok on");
	tu_sim_expect(&ep40m, "state 2", "ok off");
	/* no meter: the device refuses the method, the call says so */
	CU_ASSERT_EQUAL(kasa_get_emeter(d, id1, &em), -EIO);
	free(id1);
	kasa_dev_free(d);
}

static void test_klap_iot(void)
{
	struct kasa_dev *d = dev(&hs100, false), *v2 = dev(&hs300v2, true);
	struct kasa_sysinfo si;
	char acct[64];

	/* KLAP v1 with IOT JSON inside; an unbound device takes the blank account */
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	CU_ASSERT_EQUAL(kasa_dev_transport(d), KASA_TRANSPORT_KLAP);
	CU_ASSERT_EQUAL(kasa_dev_protocol(d), KASA_PROTOCOL_IOT);
	kasa_dev_account(d, acct, sizeof(acct));
	CU_ASSERT_STRING_EQUAL(acct, "the blank account");
	CU_ASSERT_STRING_EQUAL(si.model, "HS100(UK)");
	CU_ASSERT_STRING_EQUAL(si.alias, "Lamp");
	CU_ASSERT_EQUAL(si.protocol, KASA_PROTOCOL_IOT);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_set_relay(d, NULL, true), 0);
	tu_sim_expect(&hs100, "state 1", "ok on");

	/* IOT JSON over KLAP v2 (new_klap HS300): found from one handshake */
	tu_sim_expect(&hs300v2, "clear", "ok");
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(v2, &si), 0);
	CU_ASSERT_EQUAL(kasa_dev_protocol(v2), KASA_PROTOCOL_IOT);
	CU_ASSERT_EQUAL(si.n_children, 6);
	CU_ASSERT_STRING_EQUAL(si.alias, "New Klap");
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&hs300v2, "handshake1"), 1);
	CU_ASSERT_EQUAL(tu_sim_count(&hs300v2, "handshake2"), 1);
	kasa_dev_free(d);
	kasa_dev_free(v2);
}

static void test_wrong_credentials(void)
{
	struct kasa_dev *d = kasa_dev_new("127.0.0.1", p304m.port, TMO);
	struct kasa_dev *a = kasa_dev_new("127.0.0.1", kp125m.port, TMO);
	struct kasa_sysinfo si;
	char acct[64];

	CU_ASSERT_EQUAL(kasa_dev_set_credentials(d, USER, "wrong"), 0);
	tu_sim_expect(&p304m, "clear", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), -EACCES);
	CU_ASSERT_EQUAL(kasa_set_relay(d, "x", true), -EACCES);
	/* KLAP: checked locally after handshake1; nothing else reached the device */
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "handshake2"), 0);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "get_device_info"), 0);
	kasa_dev_account(d, acct, sizeof(acct));
	CU_ASSERT_STRING_EQUAL(acct, "");
	/* the right account later works at once */
	CU_ASSERT_EQUAL(kasa_dev_set_credentials(d, USER, PASS), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);

	/* AES: login_device refused for every candidate */
	tu_sim_expect(&kp125m, "clear", "ok");
	CU_ASSERT_EQUAL(kasa_dev_set_credentials(a, "someone@else", PASS), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(a, &si), -EACCES);
	CU_ASSERT_EQUAL(tu_sim_count(&kp125m, "get_device_info"), 0);
	kasa_dev_free(d);
	kasa_dev_free(a);
}

static void test_default_account(void)
{
	const char *const def[] = { "--username", "kasa@tp-link.net", "--password", "kasaSetup",
				    "--discovery-port", "0", NULL };
	struct tu_sim sim;
	struct kasa_dev *d;
	struct kasa_sysinfo si;
	char acct[64];

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&sim, fixture(4, "smart/EP40M(US)_1.0_1.1.0.json"), NULL,
					   def), 0);
	d = kasa_dev_new("127.0.0.1", sim.port, TMO);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	kasa_dev_account(d, acct, sizeof(acct));
	CU_ASSERT_STRING_EQUAL(acct, "the default Kasa account");
	kasa_dev_free(d);
	tu_sim_stop(&sim);

	/* AES: the configured account refused, the default taken; a refused
	 * login ends the device's session, so each try makes its own */
	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&sim, fixture(4, "smart/KP125M(US)_1.0_1.1.3.json"), NULL,
					   def), 0);
	d = kasa_dev_new("127.0.0.1", sim.port, TMO);
	CU_ASSERT_EQUAL(kasa_dev_set_credentials(d, USER, PASS), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	kasa_dev_account(d, acct, sizeof(acct));
	CU_ASSERT_STRING_EQUAL(acct, "the default Kasa account");
	CU_ASSERT_EQUAL(tu_sim_count(&sim, "login_device"), 3);   /* ours v2, v1, then Kasa's */
	CU_ASSERT_EQUAL(tu_sim_count(&sim, "\"handshake\""), 3);
	kasa_dev_free(d);
	tu_sim_stop(&sim);
}

static void test_session_expiry(void)
{
	struct kasa_dev *d = dev(&p304m, true), *a = dev(&kp125m, true);
	struct kasa_sysinfo si;

	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(a, &si), 0);
	kasa_sysinfo_clear(&si);
	tu_sim_expect(&p304m, "clear", "ok");
	tu_sim_expect(&kp125m, "clear", "ok");
	/* the devices forget every session: the next request renews it unseen */
	tu_sim_expect(&p304m, "expire", "ok");
	tu_sim_expect(&kp125m, "expire", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(a, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "handshake1"), 1);
	CU_ASSERT_EQUAL(tu_sim_count(&kp125m, "\"handshake\""), 1);
	/* and then it lasts */
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "handshake1"), 1);
	kasa_dev_free(d);
	kasa_dev_free(a);
}

static void test_session_timeout(void)
{
	const char *const shortlife[] = { "--username", USER, "--password", PASS, "--session-timeout",
					  "2", "--discovery-port", "0", NULL };
	struct tu_sim sim;
	struct kasa_dev *d;
	struct kasa_sysinfo si;

	CU_ASSERT_EQUAL_FATAL(tu_sim_start(&sim, fixture(4, "smart/P304M(UK)_1.0_1.0.3.json"), NULL,
					   shortlife), 0);
	d = dev(&sim, true);
	kasa_dev_set_renew_margin(d, 700);   /* renew 0.7 s before the 2 s TIMEOUT */
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	usleep(1500 * 1000);
	/* past TIMEOUT - margin: a new session before the request, no 403 */
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(tu_sim_count(&sim, "handshake1"), 2);
	kasa_dev_free(d);
	tu_sim_stop(&sim);
}

static void test_modes(void)
{
	static const struct {
		const char *mode;
		int want;
	} cases[] = {
		{ "mode silent", -ETIMEDOUT },
		{ "mode close", -EIO },   /* sent whole, closed unanswered: unknown */
		{ "mode garbage", -EIO },
		{ "mode oversize", -EIO },
		{ "mode slow 100", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kasa_dev *d = dev(&p304m, true);
		struct kasa_sysinfo si;
		int64_t t0;
		int r;

		CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
		kasa_sysinfo_clear(&si);
		tu_sim_expect(&p304m, cases[i].mode, "ok");
		t0 = tu_now_ms();
		r = kasa_get_sysinfo(d, &si);
		if (r == 0)
			kasa_sysinfo_clear(&si);
		if (r != cases[i].want)
			fprintf(stderr, "%s: got %d, want %d\n", cases[i].mode, r, cases[i].want);
		CU_ASSERT_EQUAL(r, cases[i].want);
		CU_ASSERT(tu_now_ms() - t0 <= 2 * TMO + 300);
		tu_sim_expect(&p304m, "mode normal", "ok");
		CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);   /* and back */
		kasa_sysinfo_clear(&si);
		kasa_dev_free(d);
	}
}

/* The device reads a request whole and closes unanswered: a read is sent
 * once more, a command never (it may have switched the outlet). */
static void test_close_after_send(void)
{
	struct kasa_dev *d = dev(&p304m, true);
	struct kasa_sysinfo si;
	char *id1;
	int closed;

	CU_ASSERT_EQUAL_FATAL(kasa_get_sysinfo(d, &si), 0);
	id1 = kasa_child_full_id(&si, 0);
	kasa_sysinfo_clear(&si);
	tu_sim_expect(&p304m, "mode close", "ok");
	closed = tu_sim_count(&p304m, "closed");
	CU_ASSERT_EQUAL(kasa_set_relay(d, id1, false), -EIO);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "closed"), closed + 1);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), -EIO);
	CU_ASSERT_EQUAL(tu_sim_count(&p304m, "closed"), closed + 3);
	tu_sim_expect(&p304m, "mode normal", "ok");
	CU_ASSERT_EQUAL(kasa_get_sysinfo(d, &si), 0);   /* and back */
	kasa_sysinfo_clear(&si);
	free(id1);
	kasa_dev_free(d);
}

static void test_search(void)
{
	struct kasa_dev *x = kasa_dev_new("127.0.0.1", kp125m.port, TMO);
	struct kasa_sysinfo si;
	char *reply = NULL;

	/* a raw SMART request over a transport found by the search */
	CU_ASSERT_EQUAL(kasa_dev_set_credentials(x, USER, PASS), 0);
	CU_ASSERT_EQUAL(kasa_dev_request(x, "{\"method\":\"get_device_info\"}", &reply), 0);
	CU_ASSERT_PTR_NOT_NULL(reply ? strstr(reply, "\"error_code\":0") : NULL);
	free(reply);
	CU_ASSERT_EQUAL(kasa_dev_transport(x), KASA_TRANSPORT_AES);
	/* told the transport, it goes there directly */
	CU_ASSERT_EQUAL(kasa_dev_set_transport(x, KASA_TRANSPORT_AES, kp125m.port, KASA_PROTOCOL_SMART), 0);
	CU_ASSERT_EQUAL(kasa_get_sysinfo(x, &si), 0);
	kasa_sysinfo_clear(&si);
	CU_ASSERT_EQUAL(kasa_dev_set_transport(x, KASA_TRANSPORT_COUNT, 0, KASA_PROTOCOL_SMART), -EINVAL);
	kasa_dev_free(x);
	CU_ASSERT_EQUAL(kasa_transport_from_string("KLAP"), KASA_TRANSPORT_KLAP);
	CU_ASSERT_EQUAL(kasa_transport_from_string("tpap"), KASA_TRANSPORT_INVALID);
	CU_ASSERT_STRING_EQUAL(kasa_transport_to_string(KASA_TRANSPORT_AES), "aes");
}

/* The kasa tool on the same devices: info, set, query with an account. */
static void test_tool(void)
{
	const char *sim = getenv("KASA_SIM");
	char tool[600], pw[64], *out = NULL;
	int r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sim);
	snprintf(tool, sizeof(tool), "%.*s/redfishfs-kasa", (int)(strrchr(sim, '/') - sim), sim);
	snprintf(pw, sizeof(pw), "/tmp/rffs-tool-pw.%d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(tu_sh("umask 077; printf '%%s\\n' '%s' > %s", PASS, pw), 0);
	r = tu_sh_out(&out, "%s info --user %s --password-file %s 127.0.0.1:%u", tool, USER, pw,
		      (unsigned)p304m.port);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT(out && strstr(out, "model      P304M") && strstr(out, "klap, SMART protocol, the configured account"));
	CU_ASSERT(out && strstr(out, "4      ") && strstr(out, "Plug 4"));
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(tu_sh("%s set --user %s --password-file %s 127.0.0.1:%u 4 on", tool, USER, pw,
			      (unsigned)p304m.port), 0);
	tu_sim_expect(&p304m, "state 4", "ok on");
	CU_ASSERT_EQUAL(tu_sh("%s set --user %s --password-file %s 127.0.0.1:%u 4 off", tool, USER, pw,
			      (unsigned)p304m.port), 0);
	tu_sim_expect(&p304m, "state 4", "ok off");
	CU_ASSERT_EQUAL(tu_sh("%s set --user %s --password-file %s 127.0.0.1:%u 9 on 2>/dev/null", tool,
			      USER, pw, (unsigned)p304m.port), 1);
	/* an AES plug answers a raw SMART request */
	r = tu_sh_out(&out, "%s query --user %s --password-file %s 127.0.0.1:%u '{\"method\":\"get_device_info\"}'",
		      tool, USER, pw, (unsigned)kp125m.port);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT(out && strstr(out, "\"model\":\"KP125M\""));
	free(out);
	out = NULL;
	/* without the account: refused, said so, exit 1 */
	r = tu_sh_out(&out, "%s info 127.0.0.1:%u 2>&1", tool, (unsigned)p304m.port);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT(out && strstr(out, "refused the credentials"));
	free(out);
	unlink(pw);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_transport", suite_init, suite_clean);
	CU_add_test(s, "SMART strip over KLAP v2, paged", test_strip_p304m);
	CU_add_test(s, "switch, press, rename", test_switch_and_press);
	CU_add_test(s, "meters (KLAP strip, AES plug)", test_meters);
	CU_add_test(s, "outlets by position, no meter", test_positions);
	CU_add_test(s, "IOT over KLAP v1 and v2", test_klap_iot);
	CU_add_test(s, "wrong credentials", test_wrong_credentials);
	CU_add_test(s, "default account", test_default_account);
	CU_add_test(s, "sessions ended at the device", test_session_expiry);
	CU_add_test(s, "session TIMEOUT renewal", test_session_timeout);
	CU_add_test(s, "misbehaviour over HTTP", test_modes);
	CU_add_test(s, "closed after the request", test_close_after_send);
	CU_add_test(s, "transport search", test_search);
	CU_add_test(s, "the kasa tool", test_tool);
	return tu_run_cunit();
}
