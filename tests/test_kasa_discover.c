/* test_kasa_discover.c — kasa_discover() and the `kasa` tool against real
 * kasa-sim processes.
 *
 * Loopback suite: simulators listen on 127.0.0.2..6 with one port number P
 * (probed free at start) and are found by ONE datagram to 127.255.255.255:P
 * (each simulator binds 127.255.255.255:P for that; see sim.c). A fake
 * device thread plays what the simulator cannot: a KLAP-only device
 * (127.0.0.8, answers the newer probe on port P2 with the HS100(UK)
 * fixture's discovery_result) and a device answering every query twice
 * (127.0.0.9). Every misbehaviour mode of the simulator is run through a
 * discovery round, and `kasa list/query/bench` are run and their output
 * parsed.
 *
 * Namespace suite: a client namespace holding a bridge (10.77.1.1/24) and
 * one namespace per simulated device, each a veth port of that bridge,
 * simulators on 0.0.0.0:9999 as real devices are. `ip netns exec CLIENT kasa
 * list --broadcast 10.77.1.255` must list all of them after one round; a
 * device restarted on a new address is found there with the same deviceId.
 * Run with the argument "netns" (a test of its own in tests/meson.build);
 * the program exits 77 (a meson SKIP) where namespaces or
 * bridges cannot be created. Namespaces are named rfkd<pid>*, removed on
 * every exit path the process controls (suite cleanup and atexit). */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kasa.h"
#include "testutil.h"

#define TMO 400
#define N_SIMS 5

struct sim_spec {
	const char *model;    /* "hs300", "plug" or a fixture file name */
	const char *alias;
	const char *id;
	size_t outlets;
	bool meter;
	const char *model_name;
};

static const struct sim_spec specs[N_SIMS] = {
	{ "hs300", "Rack A", "8006AA0000000000000000000000000000000002", 6, true, "HS300(US)" },
	{ "plug", "Kettle", "8006AA0000000000000000000000000000000003", 1, true, "HS110(US)" },
	{ "KP303(US)_2.0_1.0.9.json", "Desk", "8006AA0000000000000000000000000000000004", 3, false,
	  "KP303(US)" },
	{ "HS110(US)_1.0_1.2.6.json", "Fridge", "8006AA0000000000000000000000000000000005", 1, true,
	  "HS110(US)" },
	{ "KP400(US)_3.0_1.0.4.json", "Porch", "8006AA0000000000000000000000000000000006", 2, false,
	  "KP400(US)" },
};

#define DUP_ID "8006DD00000000000000000000000000000000DD"

static struct tu_sim sims[N_SIMS];
static uint16_t port_legacy, port_new;
static char tool[1024];

/* ---- helpers --------------------------------------------------------------- */

static const char *shared_dir(void)
{
	const char *s = getenv("SHARED_DIR");

	return s && *s ? s : "../shared";
}

static void model_arg(const struct sim_spec *sp, char *buf, size_t size)
{
	if (strchr(sp->model, '.'))
		snprintf(buf, size, "%s/fixtures/kasa/iot/%s", shared_dir(), sp->model);
	else
		snprintf(buf, size, "%s", sp->model);
}

static int start_sim(struct tu_sim *sim, const struct sim_spec *sp, const char *addr)
{
	char model[512], listen[64];
	const char *extra[] = { "--listen", listen, "--device-id", sp->id, NULL };

	model_arg(sp, model, sizeof(model));
	snprintf(listen, sizeof(listen), "%s:%u", addr, (unsigned)port_legacy);
	return tu_sim_start(sim, model, sp->alias, extra);
}

static const struct kasa_found *find_addr(const struct kasa_found *f, size_t n, const char *addr)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].addr, addr) == 0)
			return &f[i];
	return NULL;
}

static size_t count_id(const struct kasa_found *f, size_t n, const char *id)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].device_id, id) == 0)
			c++;
	return c;
}

/* ---- the fake devices ------------------------------------------------------ */

struct fake {
	int bcast_new, reply_new;   /* KLAP-only device, 127.0.0.8:port_new */
	int bcast_leg, reply_leg;   /* answers twice, 127.0.0.9:port_legacy */
	uint8_t klap[4096];
	size_t klap_len;
	uint8_t dup[2048];
	size_t dup_len;
	int pipe[2];                /* a byte on it stops the thread */
	pthread_t thread;
	bool running;
	atomic_int probes, queries; /* requests seen */
};

static struct fake fake = { .bcast_new = -1, .reply_new = -1, .bcast_leg = -1, .reply_leg = -1,
			    .pipe = { -1, -1 } };

static void *fake_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[3] = { { .fd = fake.pipe[0], .events = POLLIN },
				       { .fd = fake.bcast_new, .events = POLLIN },
				       { .fd = fake.bcast_leg, .events = POLLIN } };
		uint8_t buf[2048];

		if (poll(p, 3, 5000) < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents)
			return NULL;
		for (int i = 1; i <= 2; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n;

			if (!(p[i].revents & POLLIN))
				continue;
			n = recvfrom(p[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n <= 0)
				continue;
			if (i == 1 && n == 16 && buf[0] == 0x02) {
				fake.probes++;
				sendto(fake.reply_new, fake.klap, fake.klap_len, 0,
				       (struct sockaddr *)&from, fl);
			} else if (i == 2) {
				fake.queries++;
				for (int k = 0; k < 2; k++)
					sendto(fake.reply_leg, fake.dup, fake.dup_len, 0,
					       (struct sockaddr *)&from, fl);
			}
		}
	}
}

/* The KLAP reply: 16-byte header + the fixture's discovery_result. */
static int fake_build_klap(void)
{
	char path[512];
	json_object *root, *dr;
	const char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/fixtures/kasa/iot/HS100(UK)_4.1_1.1.0.json", shared_dir());
	root = json_object_from_file(path);
	if (!root || !json_object_object_get_ex(root, "discovery_result", &dr)) {
		json_object_put(root);
		return -ENOENT;
	}
	text = json_object_to_json_string_ext(dr, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	if (len + 16 > sizeof(fake.klap)) {
		json_object_put(root);
		return -E2BIG;
	}
	memset(fake.klap, 0, 16);
	fake.klap[0] = 0x02;
	fake.klap[3] = 0x01;
	fake.klap[4] = (uint8_t)(len >> 8);
	fake.klap[5] = (uint8_t)len;
	fake.klap[6] = 0x11;
	memcpy(fake.klap + 16, text, len);
	fake.klap_len = len + 16;
	json_object_put(root);
	return 0;
}

static int fake_start(void)
{
	static const char dup_json[] =
		"{\"system\":{\"get_sysinfo\":{\"model\":\"HS105(US)\",\"deviceId\":\"" DUP_ID "\","
		"\"alias\":\"Twice\",\"sw_ver\":\"1.5.8\",\"relay_state\":0,\"feature\":\"TIM\","
		"\"mac\":\"50:C7:BF:00:00:DD\",\"err_code\":0}}}";

	if (fake_build_klap() < 0)
		return -1;
	fake.dup_len = strlen(dup_json);
	kasa_encrypt((const uint8_t *)dup_json, fake.dup_len, fake.dup);
	fake.bcast_new = tu_udp_bound("127.255.255.255", port_new);
	fake.reply_new = tu_udp_bound("127.0.0.8", port_new);
	fake.bcast_leg = tu_udp_bound("127.255.255.255", port_legacy);
	fake.reply_leg = tu_udp_bound("127.0.0.9", port_legacy);
	if (fake.bcast_new < 0 || fake.reply_new < 0 || fake.bcast_leg < 0 || fake.reply_leg < 0 ||
	    pipe2(fake.pipe, O_CLOEXEC) < 0)
		return -1;
	if (pthread_create(&fake.thread, NULL, fake_main, NULL) != 0)
		return -1;
	fake.running = true;
	return 0;
}

static void fake_stop(void)
{
	int *fds[] = { &fake.bcast_new, &fake.reply_new, &fake.bcast_leg, &fake.reply_leg,
		       &fake.pipe[0], &fake.pipe[1] };

	if (fake.running) {
		if (write(fake.pipe[1], "x", 1) < 0)
			pthread_cancel(fake.thread);
		pthread_join(fake.thread, NULL);
		fake.running = false;
	}
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* ---- loopback suite -------------------------------------------------------- */

/* The kasa tool: $KASA_TOOL, else redfishfs-kasa beside $KASA_SIM (both in build/kasa). */
static int find_tool(void)
{
	const char *sim = getenv("KASA_SIM");
	const char *t = getenv("KASA_TOOL");

	if (t && *t) {
		snprintf(tool, sizeof(tool), "%s", t);
	} else if (sim && strrchr(sim, '/')) {
		int dl = (int)(strrchr(sim, '/') - sim);

		snprintf(tool, sizeof(tool), "%.*s/redfishfs-kasa", dl, sim);
	}
	if (access(tool, X_OK) != 0) {
		fprintf(stderr, "the kasa tool is not at '%s' (set KASA_TOOL)\n", tool);
		return -1;
	}
	return 0;
}

static int suite_init(void)
{
	if (find_tool() < 0)
		return -1;
	port_legacy = tu_free_port(0);
	port_new = tu_free_port(port_legacy);
	if (!port_legacy || !port_new)
		return -1;
	fprintf(stderr, "ports: legacy %u, new %u\n", (unsigned)port_legacy, (unsigned)port_new);
	for (size_t i = 0; i < N_SIMS; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.%zu", i + 2);
		if (start_sim(&sims[i], &specs[i], addr) < 0) {
			fprintf(stderr, "cannot start kasa-sim %zu on %s:%u\n", i, addr,
				(unsigned)port_legacy);
			return -1;
		}
	}
	return 0;
}

static int suite_clean(void)
{
	fake_stop();
	for (size_t i = 0; i < N_SIMS; i++)
		if (sims[i].pid > 0)
			tu_sim_stop(&sims[i]);
	return 0;
}

/* Every simulator found by one datagram, with the right shape. */
static void test_one_broadcast(void)
{
	struct kasa_found *f = NULL;
	size_t n = 0;
	int64_t t0;
	int r;

	for (size_t i = 0; i < N_SIMS; i++)
		tu_sim_expect(&sims[i], "clear", "ok");
	t0 = tu_now_ms();
	r = kasa_discover("127.255.255.255", port_legacy, 0, TMO, &f, &n);
	CU_ASSERT(tu_now_ms() - t0 >= TMO - 5 && tu_now_ms() - t0 < TMO + 300);
	CU_ASSERT_EQUAL_FATAL(r, N_SIMS);
	CU_ASSERT_EQUAL_FATAL(n, N_SIMS);
	for (size_t i = 0; i < N_SIMS; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.%zu", i + 2);
		CU_ASSERT_STRING_EQUAL(f[i].addr, addr);     /* sorted by address */
		CU_ASSERT_EQUAL(f[i].port, port_legacy);
		CU_ASSERT(f[i].supported);
		CU_ASSERT_STRING_EQUAL(f[i].protocol, "legacy");
		CU_ASSERT_STRING_EQUAL(f[i].reason, "");
		CU_ASSERT_STRING_EQUAL(f[i].device_id, specs[i].id);
		CU_ASSERT_STRING_EQUAL(f[i].info.device_id, specs[i].id);
		CU_ASSERT_STRING_EQUAL(f[i].model, specs[i].model_name);
		CU_ASSERT_STRING_EQUAL(f[i].info.alias, specs[i].alias);
		CU_ASSERT_EQUAL(f[i].info.n_children ? f[i].info.n_children : 1, specs[i].outlets);
		CU_ASSERT_EQUAL(f[i].info.has_emeter, specs[i].meter);
		CU_ASSERT(f[i].reply_us < TMO * 1000);
		/* exactly one request reached each device */
		CU_ASSERT_EQUAL(tu_sim_count(&sims[i], "get_sysinfo"), 1);
		CU_ASSERT_EQUAL(tu_sim_count(&sims[i], NULL), 1);
	}
	kasa_found_free(f, n);
	CU_ASSERT_PTR_NULL(kasa_found_free(NULL, 3));
}

/* Two simulators with one deviceId, and a device that answers twice. */
static void test_duplicates(void)
{
	struct sim_spec twin = specs[0];
	struct tu_sim s2;
	struct kasa_found *f = NULL;
	size_t n = 0;
	const struct kasa_found *e;

	twin.alias = "Rack A twin";
	CU_ASSERT_EQUAL_FATAL(fake_start(), 0);
	CU_ASSERT_EQUAL_FATAL(start_sim(&s2, &twin, "127.0.0.7"), 0);
	CU_ASSERT_EQUAL(kasa_discover("127.255.255.255", port_legacy, 0, TMO, &f, &n), N_SIMS + 1);
	CU_ASSERT_EQUAL(fake.queries, 1);
	CU_ASSERT_EQUAL(count_id(f, n, specs[0].id), 1);
	CU_ASSERT_EQUAL(count_id(f, n, DUP_ID), 1);
	e = find_addr(f, n, "127.0.0.9");
	CU_ASSERT(e && e->supported && strcmp(e->model, "HS105(US)") == 0 &&
		  e->info.n_children == 0 && !e->info.has_emeter);
	/* the twin is listed at one of its two addresses, whichever came first */
	CU_ASSERT((find_addr(f, n, "127.0.0.2") != NULL) != (find_addr(f, n, "127.0.0.7") != NULL));
	kasa_found_free(f, n);
	tu_sim_stop(&s2);
}

/* A device that speaks only KLAP is an entry that says how to reach it. */
static void test_unsupported(void)
{
	struct kasa_found *f = NULL;
	size_t n = 0;
	const struct kasa_found *e;
	int probes = fake.probes;

	CU_ASSERT_FATAL(fake.running);
	CU_ASSERT_EQUAL(kasa_discover("127.255.255.255", port_legacy, port_new, TMO, &f, &n),
			N_SIMS + 2);
	CU_ASSERT_EQUAL(fake.probes, probes + 1);
	e = find_addr(f, n, "127.0.0.8");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT(!e->supported);
	CU_ASSERT_EQUAL(e->port, port_new);
	CU_ASSERT_STRING_EQUAL(e->model, "HS100(UK)");
	CU_ASSERT_STRING_EQUAL(e->protocol, "KLAP");
	CU_ASSERT_STRING_EQUAL(e->mac, "CC-32-E5-00-00-00");
	CU_ASSERT(strstr(e->reason, "KLAP") && !strstr(e->reason, "not supported"));
	CU_ASSERT(strstr(e->reason, "TCP 80") != NULL);
	CU_ASSERT_EQUAL(e->transport, KASA_TRANSPORT_KLAP);
	CU_ASSERT_EQUAL(e->http_port, 80);
	CU_ASSERT_EQUAL(e->hint, KASA_PROTOCOL_IOT);
	CU_ASSERT_PTR_NULL(e->info.model);
	/* the simulators (legacy only) are still all there */
	for (size_t i = 0; i < N_SIMS; i++)
		CU_ASSERT_EQUAL(count_id(f, n, specs[i].id), 1);
	kasa_found_free(f, n);

	/* without the newer probe the KLAP device stays unseen */
	CU_ASSERT_EQUAL(kasa_discover("127.255.255.255", port_legacy, 0, TMO, &f, &n), N_SIMS + 1);
	CU_ASSERT_PTR_NULL(find_addr(f, n, "127.0.0.8"));
	kasa_found_free(f, n);
}

/* Classification of single replies, without the network. */
static void test_parse_reply(void)
{
	static const char ok[] = "{\"system\":{\"get_sysinfo\":{\"model\":\"HS103(US)\","
				 "\"deviceId\":\"AB\",\"relay_state\":1,\"err_code\":0}}}";
	static const char err[] = "{\"system\":{\"get_sysinfo\":{\"err_code\":-1,"
				  "\"err_msg\":\"bad\\nthing\",\"model\":\"X\"}}}";
	uint8_t enc[512];
	struct kasa_found f;

	kasa_encrypt((const uint8_t *)ok, strlen(ok), enc);
	CU_ASSERT_EQUAL_FATAL(kasa_found_parse("10.0.0.1", 9999, true, enc, strlen(ok), &f), 0);
	CU_ASSERT(f.supported && f.info.on && strcmp(f.model, "HS103(US)") == 0);
	kasa_found_clear(&f);
	kasa_found_clear(&f);   /* twice is harmless */
	kasa_found_clear(NULL);

	/* not encrypted: not Kasa JSON */
	CU_ASSERT_EQUAL_FATAL(kasa_found_parse("10.0.0.1", 9999, true, (const uint8_t *)ok,
					       strlen(ok), &f), 0);
	CU_ASSERT(!f.supported && strstr(f.reason, "not Kasa JSON"));
	kasa_found_clear(&f);

	/* an error answer: its code and message, control characters cleaned */
	kasa_encrypt((const uint8_t *)err, strlen(err), enc);
	CU_ASSERT_EQUAL_FATAL(kasa_found_parse("10.0.0.1", 9999, true, enc, strlen(err), &f), 0);
	CU_ASSERT(!f.supported && strcmp(f.model, "X") == 0);
	CU_ASSERT(strstr(f.reason, "err_code -1 bad?thing") != NULL);
	kasa_found_clear(&f);

	/* the newer port: too short, wrong version, no result */
	CU_ASSERT_EQUAL(kasa_found_parse("10.0.0.1", 20002, false, enc, 10, &f), 0);
	CU_ASSERT(!f.supported && strstr(f.reason, "unreadable"));
	kasa_found_clear(&f);
	CU_ASSERT_EQUAL(kasa_found_parse("10.0.0.1", 20002, false, NULL, 0, &f), 0);
	CU_ASSERT(!f.supported && *f.reason && f.model && f.device_id && f.mac && f.protocol);
	kasa_found_clear(&f);
	CU_ASSERT_EQUAL(kasa_found_parse(NULL, 1, false, enc, 1, &f), -EINVAL);

	/* every fixture with a discovery_result (iot and smart): a clear entry */
	{
		static const char *const files[][3] = {
			{ "iot/HS100(UK)_4.1_1.1.0.json", "HS100(UK)", "IOT.SMARTPLUGSWITCH" },
			{ "smart/EP40M(US)_1.0_1.1.0.json", "EP40M(US)", "SMART.KASAPLUG" },
		};

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			char path[512];
			json_object *root, *dr = NULL;
			uint8_t pkt[8192] = { 0x02, 0, 0, 0x01 };
			const char *text;

			snprintf(path, sizeof(path), "%s/fixtures/kasa/%s", shared_dir(), files[i][0]);
			root = json_object_from_file(path);
			CU_ASSERT_FATAL(root && json_object_object_get_ex(root, "discovery_result", &dr));
			text = json_object_to_json_string_ext(dr, JSON_C_TO_STRING_PLAIN);
			CU_ASSERT_FATAL(strlen(text) + 16 <= sizeof(pkt));
			memcpy(pkt + 16, text, strlen(text));
			CU_ASSERT_EQUAL_FATAL(kasa_found_parse("10.0.0.2", 20002, false, pkt,
							       strlen(text) + 16, &f), 0);
			CU_ASSERT(!f.supported);
			CU_ASSERT_STRING_EQUAL(f.model, files[i][1]);
			CU_ASSERT_STRING_EQUAL(f.protocol, "KLAP");
			CU_ASSERT(strncmp(f.reason, files[i][2], strlen(files[i][2])) == 0);
			CU_ASSERT(strstr(f.reason, "speaks the newer KLAP protocol (HTTP on TCP 80)") != NULL);
			CU_ASSERT_EQUAL(f.transport, KASA_TRANSPORT_KLAP);
			CU_ASSERT_EQUAL(f.hint, i == 0 ? KASA_PROTOCOL_IOT : KASA_PROTOCOL_SMART);
			kasa_found_clear(&f);
			/* the same device on a transport we do not speak (TPAP) */
			{
				char *tp = strstr((char *)pkt + 16, "\"KLAP\"");

				CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
				memcpy(tp, "\"TPAP\"", 6);
				CU_ASSERT_EQUAL_FATAL(kasa_found_parse("10.0.0.2", 20002, false, pkt,
								       strlen(text) + 16, &f), 0);
				CU_ASSERT(!f.supported);
				CU_ASSERT_EQUAL(f.transport, KASA_TRANSPORT_AUTO);
				CU_ASSERT_STRING_EQUAL(f.protocol, "TPAP");
				CU_ASSERT(strstr(f.reason, "TPAP") && strstr(f.reason, "not supported"));
				CU_ASSERT(strstr(f.reason, "Third-Party Compatibility") != NULL);
				kasa_found_clear(&f);
			}
			json_object_put(root);
		}
	}

	/* bad arguments */
	{
		struct kasa_found *l = NULL;
		size_t ln = 0;

		CU_ASSERT_EQUAL(kasa_discover("not-an-address", 9999, 0, TMO, &l, &ln), -EINVAL);
		CU_ASSERT_EQUAL(kasa_discover("127.0.0.1", 9999, 9999, TMO, &l, &ln), -EINVAL);
		CU_ASSERT_EQUAL(kasa_discover("127.0.0.1", 9999, 0, 0, &l, &ln), -EINVAL);
		CU_ASSERT_EQUAL(kasa_discover("127.0.0.1", 9999, 0, TMO, NULL, &ln), -EINVAL);
	}
}

/* Every misbehaviour the simulator can produce, in a discovery round: the
 * round still ends on time, the others are still found. */
static void test_modes(void)
{
	static const struct {
		const char *mode;
		int present;          /* 1 supported, 0 absent, -1 unsupported */
	} cases[] = {
		{ "mode garbage", -1 },
		{ "mode silent", 0 },
		{ "mode close", 0 },
		{ "mode oversize", 0 },
		{ "mode slow 150", 1 },
		{ "mode slow 2000", 0 },
	};
	struct tu_sim *victim = &sims[1];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct kasa_found *f = NULL;
		const struct kasa_found *e;
		size_t n = 0;
		int64_t t0 = tu_now_ms();
		int r;

		tu_sim_expect(victim, cases[c].mode, "ok");
		r = kasa_discover("127.255.255.255", port_legacy, 0, TMO, &f, &n);
		CU_ASSERT(tu_now_ms() - t0 < TMO + 300);
		CU_ASSERT_EQUAL(r, N_SIMS + (cases[c].present ? 0 : -1) + (fake.running ? 1 : 0));
		e = find_addr(f, n, "127.0.0.3");
		if (cases[c].present == 0) {
			CU_ASSERT_PTR_NULL(e);
		} else {
			CU_ASSERT_PTR_NOT_NULL(e);
			CU_ASSERT(e && e->supported == (cases[c].present > 0));
		}
		if (e && cases[c].present < 0)
			CU_ASSERT(strstr(e->reason, "not Kasa JSON") != NULL);
		if (e && strstr(cases[c].mode, "slow 150"))
			CU_ASSERT(e->reply_us >= 140000);
		for (size_t i = 0; i < N_SIMS; i++)
			if (&sims[i] != victim)
				CU_ASSERT_EQUAL(count_id(f, n, specs[i].id), 1);
		if (r != (int)n)
			fprintf(stderr, "%s: %d\n", cases[c].mode, r);
		kasa_found_free(f, n);
		tu_sim_expect(victim, "mode normal", "ok");
	}
	/* and the device is found normally again */
	{
		struct kasa_found *f = NULL;
		size_t n = 0;

		kasa_discover("127.255.255.255", port_legacy, 0, TMO, &f, &n);
		CU_ASSERT(find_addr(f, n, "127.0.0.3") && find_addr(f, n, "127.0.0.3")->supported);
		kasa_found_free(f, n);
	}
}

/* Column text of one table row, by the header's column starts. */
static void table_cell(const char *row, const char *header, const char *col, const char *next,
		       char *buf, size_t size)
{
	const char *h = strstr(header, col), *hn = next ? strstr(header, next) : NULL;
	size_t start = h ? (size_t)(h - header) : 0, end = hn ? (size_t)(hn - header) : strlen(row);
	size_t len;

	buf[0] = '\0';
	if (!h || start >= strlen(row))
		return;
	if (end > strlen(row))
		end = strlen(row);
	len = end - start;
	if (len >= size)
		len = size - 1;
	memcpy(buf, row + start, len);
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == ' ')
		buf[--len] = '\0';
}

/* `kasa list`: the table, parsed, and the stderr lines. */
static void test_tool_list(void)
{
	char *out = NULL, *save = NULL, *line, *header = NULL, path[64];
	size_t rows = 0;
	bool saw_klap = false;
	int st;

	snprintf(path, sizeof(path), "/tmp/kasa-list-%d.err", (int)getpid());
	st = tu_sh_out(&out, "'%s' list --broadcast 127.255.255.255 --port %u --new-port %u "
			     "--timeout %d 2>%s", tool, (unsigned)port_legacy, (unsigned)port_new, TMO,
		       path);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char addr[64], model[64], id[64], alias[64], outlets[16], meter[16], fw[64];

		if (!header) {
			header = line;
			CU_ASSERT(strncmp(line, "ADDRESS", 7) == 0 && strstr(line, "FIRMWARE"));
			continue;
		}
		rows++;
		table_cell(line, header, "ADDRESS", "MODEL", addr, sizeof(addr));
		table_cell(line, header, "MODEL", "DEVICE ID", model, sizeof(model));
		table_cell(line, header, "DEVICE ID", "ALIAS", id, sizeof(id));
		table_cell(line, header, "ALIAS", "OUTLETS", alias, sizeof(alias));
		table_cell(line, header, "OUTLETS", "METER", outlets, sizeof(outlets));
		table_cell(line, header, "METER", "FIRMWARE", meter, sizeof(meter));
		table_cell(line, header, "FIRMWARE", NULL, fw, sizeof(fw));
		if (strncmp(addr, "127.0.0.8", 9) == 0) {
			saw_klap = true;
			CU_ASSERT_STRING_EQUAL(model, "HS100(UK)");
			CU_ASSERT_STRING_EQUAL(fw, "KLAP (ask the device)");
			continue;
		}
		for (size_t i = 0; i < N_SIMS; i++) {
			char want[64], n_out[16];

			if (strcmp(id, specs[i].id) != 0)
				continue;
			snprintf(want, sizeof(want), "127.0.0.%zu:%u", i + 2, (unsigned)port_legacy);
			snprintf(n_out, sizeof(n_out), "%zu", specs[i].outlets);
			CU_ASSERT_STRING_EQUAL(addr, want);
			CU_ASSERT_STRING_EQUAL(model, specs[i].model_name);
			CU_ASSERT_STRING_EQUAL(alias, specs[i].alias);
			CU_ASSERT_STRING_EQUAL(outlets, n_out);
			CU_ASSERT_STRING_EQUAL(meter, specs[i].meter ? "yes" : "no");
			CU_ASSERT(strlen(fw) > 0 && strcmp(fw, "-") != 0);
		}
	}
	CU_ASSERT_EQUAL(rows, N_SIMS + (fake.running ? 2 : 0));
	CU_ASSERT(saw_klap == fake.running);
	free(out);
	out = tu_read_file(path, NULL);
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out && fake.running) {
		CU_ASSERT(strstr(out, "127.0.0.8:") && strstr(out, "HS100(UK) (MAC CC-32-E5-00-00-00)"));
		CU_ASSERT(strstr(out, "speaks the newer KLAP protocol") != NULL);
		CU_ASSERT(strstr(out, "7 devices (0 not supported)") != NULL);
	}
	free(out);
	unlink(path);
}

static void test_tool_query_bench(void)
{
	char *out = NULL;
	double p50 = 0, p99 = 0;
	const char *p;

	CU_ASSERT_EQUAL(tu_sh_out(&out, "'%s' query 127.0.0.2:%u '{\"system\":{\"get_sysinfo\":{}}}'",
				  tool, (unsigned)port_legacy), 0);
	CU_ASSERT(out && strstr(out, specs[0].id) && strstr(out, "\"child_num\":6"));
	free(out);
	CU_ASSERT_EQUAL(tu_sh_out(&out, "'%s' query --udp --pretty 127.0.0.4:%u "
				  "'{\"system\":{\"get_sysinfo\":{}}}'", tool, (unsigned)port_legacy), 0);
	CU_ASSERT(out && strstr(out, "\"model\": \"KP303(US)\""));
	free(out);

	tu_sim_expect(&sims[0], "clear", "ok");
	CU_ASSERT_EQUAL(tu_sh_out(&out, "'%s' bench 127.0.0.2:%u 200", tool, (unsigned)port_legacy), 0);
	p = out ? strstr(out, "p50=") : NULL;
	CU_ASSERT(p && sscanf(p, "p50=%lf us p99=%lf us", &p50, &p99) == 2);
	CU_ASSERT(p50 > 0 && p99 >= p50);
	fprintf(stderr, "%s", out ? out : "");
	free(out);
	CU_ASSERT_EQUAL(tu_sim_count(&sims[0], "set_relay_state"), 200);
	tu_sim_expect(&sims[0], "state 1", "ok on");   /* unchanged: it set what was there */

	/* errors: usage 2, device 1 */
	CU_ASSERT_EQUAL(tu_sh("'%s' query 127.0.0.2:%u 'not json' 2>/dev/null", tool,
			      (unsigned)port_legacy), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' query 127.0.0.2:99999 '{}' 2>/dev/null", tool), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' list --timeout abc 2>/dev/null", tool), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' list --broadcast nowhere 2>/dev/null", tool), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' frobnicate 2>/dev/null", tool), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' bench 127.0.0.2:%u 0 2>/dev/null", tool, (unsigned)port_legacy), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' query --timeout 300 127.0.0.1:%u '{}' 2>/dev/null", tool,
			      (unsigned)port_new), 1);   /* nobody listens on TCP there */
	CU_ASSERT_EQUAL(tu_sh("'%s' --help >/dev/null", tool), 0);
}

/* ---- namespace suite ------------------------------------------------------- */

#define NS_DEVS 4
#define NS_NET "10.77.1"

static struct tu_netns ns;
static char ns_ids[NS_DEVS][48];

static void ns_teardown(void)
{
	tu_netns_teardown(&ns);
}

/* Start kasa-sim inside device namespace i as a real device: 0 and 1 an
 * HS300 on XOR 0.0.0.0:9999, 2 a P304M on KLAP and 3 a KP125M on AES, both
 * HTTP on 0.0.0.0:80 answering discovery on UDP 20002. */
static int ns_start_sim(int i)
{
	static const char *const model[NS_DEVS] = { "hs300", "hs300", "smart/P304M(UK)_1.0_1.0.3.json",
						    "smart/KP125M(US)_1.0_1.1.3.json" };
	const char *sim = getenv("KASA_SIM");
	char alias[32], path[512];
	bool http = i >= 2;
	const char *argv[] = { sim, "--model", path, "--listen", http ? "0.0.0.0" : "0.0.0.0:9999",
			       "--device-id", ns_ids[i], "--alias", alias, NULL };

	if (!sim)
		return -ENOENT;
	if (http)
		snprintf(path, sizeof(path), "%s/fixtures/kasa/%s", shared_dir(), model[i]);
	else
		snprintf(path, sizeof(path), "%s", model[i]);
	snprintf(alias, sizeof(alias), "NS device %d", i);
	return tu_netns_exec(&ns, (size_t)i, argv, http ? "ready port=80" : "ready port=9999");
}

static int ns_setup(void)
{
	for (int i = 0; i < NS_DEVS; i++)
		snprintf(ns_ids[i], sizeof(ns_ids[i]), "8006EE%034d", i);
	return tu_netns_setup(&ns, "rfkd", NS_NET, NS_DEVS);
}

static int ns_suite_init(void)
{
	if (find_tool() < 0)
		return -1;
	for (int i = 0; i < NS_DEVS; i++)
		if (ns_start_sim(i) < 0) {
			fprintf(stderr, "cannot start kasa-sim %d in namespace %s\n", i, ns.dev[i]);
			return -1;
		}
	return 0;
}

static int ns_suite_clean(void)
{
	ns_teardown();
	return 0;
}

/* `kasa list` run in the client namespace; rows parsed into addr/id pairs
 * (and the FIRMWARE column's transport, when fws is not NULL). */
static int ns_list_fw(char addrs[][32], char ids[][48], char fws[][32], int max,
		      double *ret_last_ms);

static int ns_list(char addrs[][32], char ids[][48], int max, double *ret_last_ms)
{
	return ns_list_fw(addrs, ids, NULL, max, ret_last_ms);
}

static int ns_list_fw(char addrs[][32], char ids[][48], char fws[][32], int max,
		      double *ret_last_ms)
{
	char *out = NULL, *save = NULL, *line, path[64], *err;
	int n = 0, st;

	snprintf(path, sizeof(path), "/tmp/kasa-ns-%d.err", (int)getpid());
	st = tu_sh_out(&out, "ip netns exec %s '%s' list --broadcast " NS_NET ".255 --timeout 1000 2>%s",
		       ns.client, tool, path);
	err = tu_read_file(path, NULL);
	unlink(path);
	if (err) {
		const char *p = strstr(err, "last reply after ");

		if (p && ret_last_ms)
			*ret_last_ms = strtod(p + 17, NULL);
		fprintf(stderr, "%s", err);
		free(err);
	}
	if (st != 0 || !out) {
		free(out);
		return -1;
	}
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "ADDRESS", 7) == 0 || n >= max)
			continue;
		if (sscanf(line, "%31s %*s %47s", addrs[n], ids[n]) == 2) {
			const char *fw = strstr(line, "(ask the device)");

			if (fws) {
				/* "KLAP (ask the device)": the word before */
				snprintf(fws[n], sizeof(fws[n]), "%s", "");
				if (fw && fw - line >= 5)
					sscanf(fw - 5, "%31s", fws[n]);
			}
			n++;
		}
	}
	free(out);
	return n;
}

static int ns_find(char ids[][48], int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return i;
	return -1;
}

/* XOR, KLAP and AES devices in one round, each at its address. */
static void test_ns_one_round(void)
{
	static const char *const fw[NS_DEVS] = { "", "", "KLAP", "AES" };
	char addrs[16][32], ids[16][48], fws[16][32], *out = NULL;
	double last = -1;
	int n = ns_list_fw(addrs, ids, fws, 16, &last);

	CU_ASSERT_EQUAL_FATAL(n, NS_DEVS);
	for (int i = 0; i < NS_DEVS; i++) {
		char want[32];
		int k = ns_find(ids, n, ns_ids[i]);

		snprintf(want, sizeof(want), NS_NET ".%d", 10 + i);
		CU_ASSERT(k >= 0);
		if (k >= 0) {
			CU_ASSERT_STRING_EQUAL(addrs[k], want);
			CU_ASSERT_STRING_EQUAL(fws[k], fw[i]);
		}
	}
	CU_ASSERT(last >= 0 && last < 1000);
	/* and the KLAP one is driven where discovery said (unbound: blank account) */
	CU_ASSERT_EQUAL(tu_sh_out(&out, "ip netns exec %s '%s' info " NS_NET ".12", ns.client, tool), 0);
	CU_ASSERT(out && strstr(out, "klap, SMART protocol, the blank account") && strstr(out, "NS device 2"));
	free(out);
}

/* A device that moves to a new address is found there, same deviceId. */
static void test_ns_moved(void)
{
	char addrs[16][32], ids[16][48];
	int n, k;

	tu_netns_stop(&ns, 2);
	CU_ASSERT_EQUAL_FATAL(tu_ip("-n %s addr flush dev eth0", ns.dev[2]), 0);
	CU_ASSERT_EQUAL_FATAL(tu_ip("-n %s addr add " NS_NET ".42/24 brd + dev eth0", ns.dev[2]), 0);
	CU_ASSERT_EQUAL_FATAL(ns_start_sim(2), 0);
	n = ns_list(addrs, ids, 16, NULL);
	CU_ASSERT_EQUAL(n, NS_DEVS);
	k = ns_find(ids, n, ns_ids[2]);
	CU_ASSERT_FATAL(k >= 0);
	CU_ASSERT_STRING_EQUAL(addrs[k], NS_NET ".42");
	for (int i = 0; i < n; i++)
		CU_ASSERT(strcmp(addrs[i], NS_NET ".12") != 0);
}

int main(int argc, char **argv)
{
	bool netns = tu_netns_wanted(argc, argv);
	CU_pSuite s;

	if (netns && tu_netns_or_skip(&ns, ns_setup, ns_teardown) != 0)
		return 77;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if (netns) {
		s = CU_add_suite("kasa_discover_netns", ns_suite_init, ns_suite_clean);
		CU_add_test(s, "all devices in one broadcast round (netns)", test_ns_one_round);
		CU_add_test(s, "device moved to a new address (netns)", test_ns_moved);
		return tu_run_cunit();
	}
	s = CU_add_suite("kasa_discover", suite_init, suite_clean);
	CU_add_test(s, "one broadcast finds every simulator", test_one_broadcast);
	CU_add_test(s, "duplicate answers listed once", test_duplicates);
	CU_add_test(s, "KLAP-only device reported as not supported", test_unsupported);
	CU_add_test(s, "reply classification", test_parse_reply);
	CU_add_test(s, "every simulator misbehaviour in a round", test_modes);
	CU_add_test(s, "kasa list table", test_tool_list);
	CU_add_test(s, "kasa query and bench", test_tool_query_bench);
	return tu_run_cunit();
}
