/* test_faults.c — sources that break the rules: a fault fixture (a mockup
 * generated here, one fault per resource) served three ways and walked on
 * a real mount and over HTTP.
 *
 * The fixture: copy-pasted and missing @odata.id (Chassis/1/Sensors/Fan,
 * Chassis/1/Thermal), a link with a trailing '/', an orphan sub-resource
 * (Chassis/1/Drives/Disk0 below no Drives resource), a wrong
 * Members@odata.count and a member that is not there (Ghost), a body that
 * is no JSON (Bad), a body nested 1,000 deep (Deep), a 500 (Err, only where
 * a server serves the fixture as written), a 10 MiB body (Chassis/2), link
 * loops (Chassis/1 ContainedBy itself, a sensor back to its chassis).
 *
 * Served as: --mockup F=DIR; --bmc F= against a raw file server of this
 * test (bodies as written, "status" files for the 500, every GET counted);
 * --bmc F= against redfishfs serving the fixture (--mockup DIR --http).
 * Each time: every good resource present with its body, the bad ones give
 * their documented errno, the source's mistakes logged once each, `tar` of
 * the mount exits 0 without a word, and (raw server) no URI asked twice.
 * Last, the backup round trip: a copy of a mount that ran with --http
 * serves again through --mockup. Loopback only; every process by PID. */
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define ROOT "/redfish/v1"
#define BIG (10u << 20)
#define DEEP 1000

static char work[256];
static char fixture[300];
static char pdu[300];          /* a PDU service of DMTF's public-pdu shape */

/* ---- the fixture ------------------------------------------------------------ */

static int put_file(const char *rel, const char *name, const char *text, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixture, rel);
	if (tu_sh("mkdir -p '%s'", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", fixture, rel, name);
	if (!(f = fopen(path, "w")))
		return -1;
	fwrite(text, 1, len, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int put(const char *rel, const char *json)
{
	return put_file(rel, "index.json", json, strlen(json));
}

/* The PDU service (written to pdu, as the Redfish schemas describe it):
 * PowerEquipment with RackPDUs, FloorPDUs and TransferSwitches, one
 * PowerDistribution each with one Outlet that has Outlet.PowerControl. */
static int make_pdu(void)
{
	static const char *const colls[][2] = {
		{ "RackPDUs", "RackPDU" }, { "FloorPDUs", "FloorPDU" },
		{ "TransferSwitches", "TransferSwitch" },
	};
	char saved[300], rel[256], body[1024];
	int r = 0;

	snprintf(saved, sizeof(saved), "%s", fixture);
	snprintf(fixture, sizeof(fixture), "%s", pdu);
	r |= put(".", "{\"@odata.id\":\"/redfish/v1\",\"@odata.type\":\"#ServiceRoot.v1_15_0.ServiceRoot\","
		 "\"Id\":\"RootService\",\"Name\":\"PDU\","
		 "\"PowerEquipment\":{\"@odata.id\":\"/redfish/v1/PowerEquipment\"}}");
	r |= put("PowerEquipment", "{\"@odata.id\":\"/redfish/v1/PowerEquipment\","
		 "\"@odata.type\":\"#PowerEquipment.v1_2_0.PowerEquipment\",\"Id\":\"PowerEquipment\","
		 "\"Name\":\"Power Equipment\","
		 "\"RackPDUs\":{\"@odata.id\":\"/redfish/v1/PowerEquipment/RackPDUs\"},"
		 "\"FloorPDUs\":{\"@odata.id\":\"/redfish/v1/PowerEquipment/FloorPDUs\"},"
		 "\"TransferSwitches\":{\"@odata.id\":\"/redfish/v1/PowerEquipment/TransferSwitches\"}}");
	for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
		const char *c = colls[i][0];

		snprintf(rel, sizeof(rel), "PowerEquipment/%s", c);
		snprintf(body, sizeof(body), "{\"@odata.id\":\"/redfish/v1/%s\","
			 "\"@odata.type\":\"#PowerDistributionCollection.PowerDistributionCollection\","
			 "\"Name\":\"%s\",\"Members@odata.count\":1,"
			 "\"Members\":[{\"@odata.id\":\"/redfish/v1/%s/1\"}]}", rel, c, rel);
		r |= put(rel, body);
		snprintf(rel, sizeof(rel), "PowerEquipment/%s/1", c);
		snprintf(body, sizeof(body), "{\"@odata.id\":\"/redfish/v1/%s\","
			 "\"@odata.type\":\"#PowerDistribution.v1_3_0.PowerDistribution\",\"Id\":\"1\","
			 "\"Name\":\"%s 1\",\"EquipmentType\":\"%s\","
			 "\"Outlets\":{\"@odata.id\":\"/redfish/v1/%s/Outlets\"}}", rel, colls[i][1],
			 colls[i][1], rel);
		r |= put(rel, body);
		snprintf(rel, sizeof(rel), "PowerEquipment/%s/1/Outlets", c);
		snprintf(body, sizeof(body), "{\"@odata.id\":\"/redfish/v1/%s\","
			 "\"@odata.type\":\"#OutletCollection.OutletCollection\",\"Name\":\"Outlets\","
			 "\"Members@odata.count\":1,\"Members\":[{\"@odata.id\":\"/redfish/v1/%s/A1\"}]}",
			 rel, rel);
		r |= put(rel, body);
		snprintf(rel, sizeof(rel), "PowerEquipment/%s/1/Outlets/A1", c);
		snprintf(body, sizeof(body), "{\"@odata.id\":\"/redfish/v1/%s\","
			 "\"@odata.type\":\"#Outlet.v1_4_0.Outlet\",\"Id\":\"A1\",\"Name\":\"Outlet A1\","
			 "\"PowerState\":\"On\",\"Actions\":{\"#Outlet.PowerControl\":{"
			 "\"target\":\"/redfish/v1/%s/Actions/Outlet.PowerControl\","
			 "\"PowerState@Redfish.AllowableValues\":[\"On\",\"Off\"]}}}", rel, rel);
		r |= put(rel, body);
	}
	snprintf(fixture, sizeof(fixture), "%s", saved);
	return r ? -1 : 0;
}

static int make_fixture(void)
{
	char *big, *deep, *p;
	int r = 0;

	r |= put(".", "{\"@odata.id\":\"/redfish/v1\",\"@odata.type\":\"#ServiceRoot.v1_5_0.ServiceRoot\","
		 "\"Id\":\"RootService\",\"Name\":\"Faults\",\"Chassis\":{\"@odata.id\":\"/redfish/v1/Chassis\"},"
		 "\"Systems\":{\"@odata.id\":\"/redfish/v1/Systems\"}}");
	r |= put("Chassis", "{\"@odata.id\":\"/redfish/v1/Chassis\",\"@odata.type\":\"#ChassisCollection.ChassisCollection\","
		 "\"Name\":\"Chassis\",\"Members@odata.count\":9,\"Members\":["
		 "{\"@odata.id\":\"/redfish/v1/Chassis/1\"},{\"@odata.id\":\"/redfish/v1/Chassis/2\"},"
		 "{\"@odata.id\":\"/redfish/v1/Chassis/Ghost\"},{\"@odata.id\":\"/redfish/v1/Chassis/Bad\"},"
		 "{\"@odata.id\":\"/redfish/v1/Chassis/Deep\"},{\"@odata.id\":\"/redfish/v1/Chassis/Err\"}]}");
	r |= put("Chassis/1", "{\"@odata.id\":\"/redfish/v1/Chassis/1\",\"@odata.type\":\"#Chassis.v1_14_0.Chassis\","
		 "\"Id\":\"1\",\"Name\":\"One\",\"ChassisType\":\"RackMount\",\"PowerState\":\"On\","
		 "\"Sensors\":{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors/\"},"
		 "\"Thermal\":{\"@odata.id\":\"/redfish/v1/Chassis/1/Thermal\"},"
		 "\"Links\":{\"Drives\":[{\"@odata.id\":\"/redfish/v1/Chassis/1/Drives/Disk0\"}],"
		 "\"ContainedBy\":{\"@odata.id\":\"/redfish/v1/Chassis/1\"}}}");
	r |= put("Chassis/1/Sensors", "{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors\","
		 "\"@odata.type\":\"#SensorCollection.SensorCollection\",\"Name\":\"Sensors\",\"Members@odata.count\":2,"
		 "\"Members\":[{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors/Temp\"},"
		 "{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors/Fan\"}]}");
	r |= put("Chassis/1/Sensors/Temp", "{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors/Temp\","
		 "\"@odata.type\":\"#Sensor.v1_2_0.Sensor\",\"Id\":\"Temp\",\"Name\":\"Temperature\",\"Reading\":21.5,"
		 "\"RelatedItem\":[{\"@odata.id\":\"/redfish/v1/Chassis/1\"}]}");
	/* Copy-pasted: claims its sibling's @odata.id. */
	r |= put("Chassis/1/Sensors/Fan", "{\"@odata.id\":\"/redfish/v1/Chassis/1/Sensors/Temp\","
		 "\"@odata.type\":\"#Sensor.v1_2_0.Sensor\",\"Id\":\"Fan\",\"Name\":\"Fan\",\"Reading\":3000}");
	r |= put("Chassis/1/Thermal", "{\"@odata.type\":\"#Thermal.v1_7_0.Thermal\",\"Id\":\"Thermal\","
		 "\"Name\":\"Thermal\"}");
	r |= put("Chassis/1/Drives/Disk0", "{\"@odata.id\":\"/redfish/v1/Chassis/1/Drives/Disk0\","
		 "\"@odata.type\":\"#Drive.v1_9_0.Drive\",\"Id\":\"Disk0\",\"Name\":\"Disk 0\"}");
	r |= put("Chassis/Err", "{\"@odata.id\":\"/redfish/v1/Chassis/Err\",\"@odata.type\":\"#Chassis.v1_14_0.Chassis\","
		 "\"Id\":\"Err\",\"Name\":\"Error\",\"ChassisType\":\"Other\"}");
	r |= put_file("Chassis/Err", "status", "500", 3);
	r |= put("Chassis/Bad", "this is { not JSON");
	/* Below a member, linked from nowhere: found only by looking. */
	r |= put("Chassis/1/Hidden", "[\"a JSON array, no object\"]");
	r |= put("Chassis/1/Hidden500", "{\"@odata.id\":\"/redfish/v1/Chassis/1/Hidden500\","
		 "\"@odata.type\":\"#Sensor.v1_2_0.Sensor\",\"Id\":\"Hidden500\",\"Name\":\"Hidden\"}");
	r |= put_file("Chassis/1/Hidden500", "status", "500", 3);
	r |= put("Systems", "{\"@odata.id\":\"/redfish/v1/Systems\",\"@odata.type\":\"#ComputerSystemCollection.ComputerSystemCollection\","
		 "\"Name\":\"Systems\",\"Members@odata.count\":1,\"Members\":[{\"@odata.id\":\"/redfish/v1/Systems/1\"}]}");
	r |= put("Systems/1", "{\"@odata.id\":\"/redfish/v1/Systems/1\",\"@odata.type\":\"#ComputerSystem.v1_20_0.ComputerSystem\","
		 "\"Id\":\"1\",\"Name\":\"System\",\"PowerState\":\"On\","
		 "\"Links\":{\"Chassis\":[{\"@odata.id\":\"/redfish/v1/Chassis/1\"}]}}");

	big = malloc(BIG + 256);
	deep = malloc(DEEP * 8 + 256);
	if (!big || !deep) {
		free(big);
		free(deep);
		return -1;
	}
	p = big + sprintf(big, "{\"@odata.id\":\"/redfish/v1/Chassis/2\",\"@odata.type\":\"#Chassis.v1_14_0.Chassis\","
			  "\"Id\":\"2\",\"Name\":\"Two\",\"Oem\":{\"Blob\":\"");
	memset(p, 'x', BIG);
	p += BIG;
	p += sprintf(p, "\"}}");
	r |= put_file("Chassis/2", "index.json", big, (size_t)(p - big));
	p = deep + sprintf(deep, "{\"@odata.id\":\"/redfish/v1/Chassis/Deep\",\"Id\":\"Deep\",\"N\":");
	for (int i = 0; i < DEEP; i++)
		p += sprintf(p, "{\"N\":");
	p += sprintf(p, "0");
	for (int i = 0; i < DEEP; i++)
		*p++ = '}';
	p += sprintf(p, "}");
	r |= put_file("Chassis/Deep", "index.json", deep, (size_t)(p - deep));
	free(big);
	free(deep);
	return r ? -1 : 0;
}

/* ---- a raw file server: the fixture as written, every GET counted ------ */

#define MAX_COUNTED 64

static struct {
	int fd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	char paths[MAX_COUNTED][1024];
	int counts[MAX_COUNTED];
	int n;
} raw = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void raw_count(const char *path)
{
	pthread_mutex_lock(&raw.lock);
	for (int i = 0; i < raw.n; i++)
		if (strcmp(raw.paths[i], path) == 0) {
			raw.counts[i]++;
			pthread_mutex_unlock(&raw.lock);
			return;
		}
	if (raw.n < MAX_COUNTED) {
		snprintf(raw.paths[raw.n], sizeof(raw.paths[0]), "%s", path);
		raw.counts[raw.n++] = 1;
	}
	pthread_mutex_unlock(&raw.lock);
}

/* The most requests any one path got, and which. */
static int raw_max(char *which, size_t size)
{
	int max = 0;

	pthread_mutex_lock(&raw.lock);
	for (int i = 0; i < raw.n; i++)
		if (raw.counts[i] > max) {
			max = raw.counts[i];
			snprintf(which, size, "%s", raw.paths[i]);
		}
	pthread_mutex_unlock(&raw.lock);
	return max;
}

static void raw_reply(int fd, const char *target)
{
	char path[512], rel[512], hdr[256], *body = NULL, *st = NULL;
	size_t len = 0;
	int status = 200;

	snprintf(path, sizeof(path), "%.*s", (int)strcspn(target, "?"), target);
	raw_count(target);
	if (strncmp(path, ROOT, strlen(ROOT)) != 0 || strstr(path, "..")) {
		status = 404;
	} else {
		snprintf(rel, sizeof(rel), "%s", path + strlen(ROOT));
		while (*rel && rel[strlen(rel) - 1] == '/')
			rel[strlen(rel) - 1] = '\0';
		body = tu_read_file(tu_path(fixture, ".%s/index.json", rel), &len);
		st = tu_read_file(tu_path(fixture, ".%s/status", rel), NULL);
		if (!body)
			status = 404;
		else if (st)
			status = atoi(st);
	}
	if (status != 200) {
		free(body);
		body = strdup("{\"error\":{\"code\":\"Base.1.0.GeneralError\",\"message\":\"fault\"}}");
		len = strlen(body);
	}
	snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", status, len);
	if (write(fd, hdr, strlen(hdr)) < 0 || (len && write(fd, body, len) < 0))
		status = 0;
	free(body);
	free(st);
}

static void *raw_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];
	size_t have = 0;

	for (;;) {
		char *end = memmem(buf, have, "\r\n\r\n", 4), target[1024];
		ssize_t r;

		if (end) {
			size_t used = (size_t)(end + 4 - buf);

			if (sscanf(buf, "%*s %1023s", target) == 1)
				raw_reply(fd, target);
			memmove(buf, buf + used, have - used);
			have -= used;
			continue;
		}
		if (have == sizeof(buf) || (r = read(fd, buf + have, sizeof(buf) - have)) <= 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	return NULL;
}

static void *raw_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(raw.fd, NULL, NULL);
		pthread_t t;

		if (c < 0)
			break;
		if (pthread_create(&t, NULL, raw_conn, (void *)(intptr_t)c) != 0)
			close(c);
		else
			pthread_detach(t);
	}
	return NULL;
}

static int raw_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	raw.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (raw.fd < 0 || bind(raw.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(raw.fd, 64) < 0 || getsockname(raw.fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	raw.port = ntohs(a.sin_port);
	return pthread_create(&raw.thread, NULL, raw_accept, NULL) == 0 ? 0 : -1;
}

static void raw_stop(void)
{
	if (raw.fd < 0)
		return;
	shutdown(raw.fd, SHUT_RDWR);
	close(raw.fd);
	pthread_join(raw.thread, NULL);
	raw.fd = -1;
}

/* ---- checks --------------------------------------------------------------- */

static struct json_object *http_json(uint16_t port, const char *uri, long *ret_status)
{
	CURL *c = curl_easy_init();
	struct tu_buf b = { 0 };
	char url[1200];
	struct json_object *o = NULL;
	long status = 0;

	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, uri);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status == 200 && b.data)
		o = json_tokener_parse(b.data);
	free(b.data);
	*ret_status = status;
	return o;
}

static void expect_id(const char *mnt, const char *rel, const char *want_id)
{
	char *v = tu_value(tu_path(mnt, "%s/Id", rel));
	char *doc = tu_read_file(tu_path(mnt, "%s/index.json", rel), NULL);
	char want[512];
	struct json_object *o = doc ? json_tokener_parse(doc) : NULL, *id = NULL;

	snprintf(want, sizeof(want), ROOT "/%s", rel);
	CU_ASSERT_STRING_EQUAL(v ? v : "(none)", want_id);
	CU_ASSERT_TRUE(o && json_object_object_get_ex(o, "@odata.id", &id) &&
		       strcmp(json_object_get_string(id), want) == 0);
	if (!v || strcmp(v, want_id) != 0)
		fprintf(stderr, "  %s/Id: %s\n", rel, v ? v : "(none)");
	json_object_put(o);
	free(doc);
	free(v);
}

/* tar of the whole mount: exit 0, not a word on stderr. */
static void expect_clean_tar(const char *mnt)
{
	char *out = NULL;
	int rc = tu_sh_out(&out, "set -o pipefail; tar cf - -C '%s' . 2>&1 >/dev/null | cat", mnt);

	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(out ? out : "", "");
	if (rc != 0 || (out && *out))
		fprintf(stderr, "  tar: %d %s\n", rc, out ? out : "");
	free(out);
}

static int stat_errno(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? 0 : errno;
}

static int count_in(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* A mount of source F (local names F_<id>): every good resource, the
 * documented errno for the bad ones (bad_errno for Bad and Deep, err_errno
 * for Err: 0 when it is served), tar clean, the mistakes logged once each
 * (logs_ids: this mount's own log tells of the wrong and missing ids). */
static void check_mount(struct tu_mount *m, int bad_errno, int err_errno, int hidden_errno,
			int hidden500_errno, uint16_t http, bool logs_ids)
{
	char *log, *doc;
	struct stat st;
	long status = 0;
	struct json_object *o;
	int rc;

	/* First, on a cold mount: no resource at Drives, a plain directory,
	 * and the drive its chassis links there. */
	CU_ASSERT_EQUAL(stat(tu_path(m->mnt, "Chassis/F_1/Drives"), &st), 0);
	CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(stat_errno(tu_path(m->mnt, "Chassis/F_1/Drives/index.json")), ENOENT);
	expect_id(m->mnt, "Chassis/F_1/Drives/Disk0", "Disk0");       /* orphan */
	expect_id(m->mnt, "Chassis/F_1", "1");
	expect_id(m->mnt, "Chassis/F_1/Sensors/Temp", "Temp");
	expect_id(m->mnt, "Chassis/F_1/Sensors/Fan", "Fan");          /* copy-pasted id */
	expect_id(m->mnt, "Chassis/F_1/Thermal", "Thermal");          /* no id */
	expect_id(m->mnt, "Systems/F_1", "1");
	/* The link with a trailing '/' names the collection without it. */
	doc = tu_read_file(tu_path(m->mnt, "Chassis/F_1/index.json"), NULL);
	CU_ASSERT_PTR_NOT_NULL(doc ? strstr(doc, "\"" ROOT "/Chassis/F_1/Sensors\"") : NULL);
	free(doc);
	CU_ASSERT_EQUAL(stat(tu_path(m->mnt, "Chassis/F_2/Oem/Blob"), &st), 0);
	CU_ASSERT_EQUAL((size_t)st.st_size, (size_t)BIG + 1);    /* and a newline */
	CU_ASSERT_EQUAL(stat_errno(tu_path(m->mnt, "Chassis/F_Ghost/index.json")), ENOENT);
	rc = stat_errno(tu_path(m->mnt, "Chassis/F_Bad/index.json"));
	CU_ASSERT_EQUAL(rc, bad_errno);
	if (rc != bad_errno)
		fprintf(stderr, "  Bad: %s\n", strerror(rc));
	rc = stat_errno(tu_path(m->mnt, "Chassis/F_Deep/index.json"));
	CU_ASSERT_EQUAL(rc, bad_errno);
	rc = stat_errno(tu_path(m->mnt, "Chassis/F_Err/index.json"));
	CU_ASSERT_EQUAL(rc, err_errno);
	if (rc != err_errno)
		fprintf(stderr, "  Err: %s\n", strerror(rc));
	rc = stat_errno(tu_path(m->mnt, "Chassis/F_1/Hidden/index.json"));
	CU_ASSERT_EQUAL(rc, hidden_errno);
	if (rc != hidden_errno)
		fprintf(stderr, "  Hidden: %s\n", strerror(rc));
	rc = stat_errno(tu_path(m->mnt, "Chassis/F_1/Hidden500/index.json"));
	CU_ASSERT_EQUAL(rc, hidden500_errno);
	if (rc != hidden500_errno)
		fprintf(stderr, "  Hidden500: %s\n", strerror(rc));

	expect_clean_tar(m->mnt);

	if (http) {
		o = http_json(http, ROOT "/Chassis/F_1/Sensors/Fan", &status);
		CU_ASSERT_EQUAL(status, 200);
		CU_ASSERT_STRING_EQUAL(o ? json_object_get_string(json_object_object_get(o, "Id")) : "", "Fan");
		json_object_put(o);
		o = http_json(http, ROOT "/Chassis/F_1/Drives/Disk0", &status);
		CU_ASSERT_EQUAL(status, 200);
		json_object_put(o);
		o = http_json(http, ROOT "/Chassis/F_1/Drives", &status);
		CU_ASSERT_EQUAL(status, 404);
		json_object_put(o);
	}

	log = tu_read_file(m->log, NULL);
	if (logs_ids) {
		CU_ASSERT_EQUAL(count_in(log, "Sensors/Fan: "), 1);
		CU_ASSERT_EQUAL(count_in(log, "Thermal: "), 1);
	}
	if (logs_ids)
		CU_ASSERT_EQUAL(count_in(log, "/Bad: "), 1);
	if (!log || count_in(log, "Sensors/Fan: ") != (logs_ids ? 1 : 0))
		fprintf(stderr, "  log:\n%s\n", log ? log : "");
	free(log);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_mockup(void)
{
	struct tu_mount m;
	char arg[400], state[300], port[32];
	uint16_t p = tu_free_port(0);
	const char *args[] = { "--mockup", arg, "--http", port, "--http-no-auth", "--state-dir", state,
			       NULL };

	snprintf(arg, sizeof(arg), "F=%s", fixture);
	snprintf(state, sizeof(state), "%s/state-mockup", work);
	snprintf(port, sizeof(port), "127.0.0.1:%u", (unsigned)p);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	check_mount(&m, ENOENT, 0, ENOENT, 0, p, true);
	tu_mount_stop(&m);
}

/* The BMC runs below get --timeout 10000: the fixture's 10 MiB body takes
 * longer than the default 2 s to arrive and parse in a sanitizer build. */
static void test_raw_bmc(void)
{
	struct tu_mount m;
	char arg[400], which[1024] = "";
	const char *args[] = { "--bmc", arg, "--max-age", "600000", "--timeout", "10000", NULL };
	int max;

	CU_ASSERT_EQUAL_FATAL(raw_start(), 0);
	snprintf(arg, sizeof(arg), "F=http://127.0.0.1:%u", (unsigned)raw.port);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	/* Members whose GET fails (404, 500, no JSON) are not shown. */
	check_mount(&m, ENOENT, ENOENT, EBADMSG, EIO, 0, true);
	max = raw_max(which, sizeof(which));
	CU_ASSERT_EQUAL(max, 1);
	fprintf(stderr, "\n  raw BMC: %d paths asked, at most %d times each (%s)\n", raw.n, max, which);
	tu_mount_stop(&m);
	raw_stop();
}

static void test_daemon_bmc(void)
{
	struct tu_daemon d;
	struct tu_mount m;
	char arg[400], log[300], state[300];
	const char *dargs[] = { "--mockup", fixture, "--http-no-auth", "--state-dir", state, NULL };
	const char *args[] = { "--bmc", arg, "--max-age", "600000", "--timeout", "10000", NULL };

	snprintf(log, sizeof(log), "%s/fake.log", work);
	snprintf(state, sizeof(state), "%s/state-fake", work);
	CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, dargs), 0);
	snprintf(arg, sizeof(arg), "F=http://127.0.0.1:%u", (unsigned)d.port);
	if (tu_mount_start(&m, args) == 0) {
		/* The fake corrected the ids and logged it; the mount sees
		 * good bodies. Bad and Deep were left out there: 404. */
		check_mount(&m, ENOENT, 0, ENOENT, 0, 0, false);
		tu_mount_stop(&m);
	} else {
		CU_FAIL("mount against the fake BMC");
	}
	tu_daemon_stop(&d, SIGTERM);
}

/* A tar copy of a mount that ran with --http (so it holds the HTTP
 * server's SessionService and AccountService) serves again. */
static void test_backup_round_trip(void)
{
	struct tu_mount m;
	struct tu_daemon d;
	char arg[400], state[300], port[32], backup[300], log[300], state2[300];
	uint16_t p = tu_free_port(0);
	const char *args[] = { "--mockup", arg, "--http", port, "--http-no-auth", "--state-dir", state,
			       NULL };
	const char *dargs[] = { "--mockup", backup, "--http-no-auth", "--state-dir", state2, NULL };
	struct json_object *o;
	long status = 0;

	snprintf(arg, sizeof(arg), "F=%s", fixture);
	snprintf(state, sizeof(state), "%s/state-b", work);
	snprintf(state2, sizeof(state2), "%s/state-b2", work);
	snprintf(port, sizeof(port), "127.0.0.1:%u", (unsigned)p);
	snprintf(backup, sizeof(backup), "%s/backup", work);
	snprintf(log, sizeof(log), "%s/backup.log", work);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	CU_ASSERT_EQUAL(tu_sh("mkdir -p '%s' && tar cf - -C '%s' . 2>/dev/null | tar xf - -C '%s'",
			      backup, m.mnt, backup), 0);
	tu_mount_stop(&m);
	CU_ASSERT_EQUAL(tu_sh("test -d '%s/SessionService' && test -d '%s/AccountService'", backup,
			      backup), 0);
	CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, dargs), 0);
	o = http_json(d.port, ROOT "/Chassis/F_1/Sensors/Fan", &status);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_STRING_EQUAL(o ? json_object_get_string(json_object_object_get(o, "Id")) : "", "Fan");
	json_object_put(o);
	o = http_json(d.port, ROOT "/SessionService", &status);
	CU_ASSERT_EQUAL(status, 200);
	json_object_put(o);
	tu_daemon_stop(&d, SIGTERM);
}

/* The aggregated PDU at mnt (source P): every PowerEquipment collection
 * linked, the outlet's PowerState and its action file reach the source;
 * fake_port: the source's HTTP port (0: none to ask). */
static void check_pdu(const char *mnt, uint16_t fake_port)
{
	const char *outlet = "PowerEquipment/FloorPDUs/P_1/Outlets/A1";
	char *doc = tu_read_file(tu_path(mnt, "PowerEquipment/index.json"), NULL), *v;
	struct json_object *o;
	long status = 0;

	CU_ASSERT_PTR_NOT_NULL(doc ? strstr(doc, ROOT "/PowerEquipment/FloorPDUs\"") : NULL);
	CU_ASSERT_PTR_NOT_NULL(doc ? strstr(doc, ROOT "/PowerEquipment/TransferSwitches\"") : NULL);
	free(doc);
	v = tu_value(tu_path(mnt, "PowerEquipment/TransferSwitches/P_1/EquipmentType"));
	CU_ASSERT_STRING_EQUAL(v ? v : "", "TransferSwitch");
	free(v);
	CU_ASSERT_EQUAL(tu_sh("echo Off > '%s/%s/PowerState' || { echo '  echo Off failed' >&2; "
			      "tail -5 '%s/../log' >&2; false; }", mnt, outlet, mnt), 0);
	v = tu_value(tu_path(mnt, "%s/PowerState", outlet));
	CU_ASSERT_STRING_EQUAL(v ? v : "", "Off");
	free(v);
	if (fake_port) {
		o = http_json(fake_port, ROOT "/PowerEquipment/FloorPDUs/1/Outlets/A1", &status);
		CU_ASSERT_STRING_EQUAL(o ? json_object_get_string(json_object_object_get(o, "PowerState")) : "",
				       "Off");
		json_object_put(o);
	}
	CU_ASSERT_EQUAL(tu_sh("echo On > '%s/%s/Actions/Outlet.PowerControl'", mnt, outlet), 0);
	/* Another file than the one written: the kernel's cached page of it
	 * goes with the mount's asynchronous notice (fs/ops.c), at the latest
	 * when its attributes expire (max-age, 1 s). */
	for (int64_t end = tu_now_ms() + 3000;;) {
		v = tu_value(tu_path(mnt, "%s/PowerState", outlet));
		if ((v && strcmp(v, "On") == 0) || tu_now_ms() > end)
			break;
		free(v);
		usleep(50000);
	}
	CU_ASSERT_STRING_EQUAL(v ? v : "", "On");
	free(v);
	CU_ASSERT_NOT_EQUAL(tu_sh("echo Dim > '%s/%s/PowerState' 2>/dev/null", mnt, outlet), 0);
	expect_clean_tar(mnt);
}

static void test_pdu(void)
{
	struct tu_daemon d;
	struct tu_mount m;
	char arg[400], log[300], state[300];
	const char *margs[] = { "--mockup", arg, NULL };
	const char *dargs[] = { "--mockup", pdu, "--http-no-auth", "--state-dir", state, NULL };
	const char *bargs[] = { "--bmc", arg, NULL };

	snprintf(arg, sizeof(arg), "P=%s", pdu);
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, margs), 0);
	check_pdu(m.mnt, 0);
	tu_mount_stop(&m);

	snprintf(log, sizeof(log), "%s/pdu.log", work);
	snprintf(state, sizeof(state), "%s/state-pdu", work);
	CU_ASSERT_EQUAL_FATAL(tu_daemon_start(&d, log, 0, dargs), 0);
	snprintf(arg, sizeof(arg), "P=http://127.0.0.1:%u", (unsigned)d.port);
	if (tu_mount_start(&m, bargs) == 0) {
		check_pdu(m.mnt, d.port);
		tu_mount_stop(&m);
	} else {
		CU_FAIL("mount against the PDU");
	}
	tu_daemon_stop(&d, SIGTERM);
}

static void test_rackmount_tar(void)
{
	const char *shared = getenv("SHARED_DIR");
	char arg[400];
	struct tu_mount m;
	const char *args[] = { "--mockup", arg, NULL };

	snprintf(arg, sizeof(arg), "R1=%s/mockups/public-rackmount1", shared ? shared : "../shared");
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	expect_clean_tar(m.mnt);
	tu_mount_stop(&m);
}

static int suite_init(void)
{
	snprintf(work, sizeof(work), "/tmp/redfishfs-faults-XXXXXX");
	if (!mkdtemp(work))
		return -1;
	snprintf(fixture, sizeof(fixture), "%s/fixture", work);
	snprintf(pdu, sizeof(pdu), "%s/pdu", work);
	return make_fixture() < 0 || make_pdu() < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	raw_stop();
	tu_rm_rf(work);
	return 0;
}

int main(void)
{
	CU_pSuite s;

	if (!tu_have_fuse())
		return 77;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("faults", suite_init, suite_clean);
	CU_add_test(s, "fault fixture as --mockup F=: mount and HTTP", test_mockup);
	CU_add_test(s, "fault fixture behind a raw server as --bmc: one GET each", test_raw_bmc);
	CU_add_test(s, "fault fixture behind redfishfs as --bmc", test_daemon_bmc);
	CU_add_test(s, "backup of a mount with --http serves again", test_backup_round_trip);
	CU_add_test(s, "a PDU's PowerEquipment, as --mockup P= and as --bmc", test_pdu);
	CU_add_test(s, "tar of public-rackmount1 is clean", test_rackmount_tar);
	return tu_run_cunit();
}
