/* test_system.c — the whole daemon as users meet it: two simulated Kasa
 * devices (an HS300 strip and a single plug), a real mount and the HTTP
 * server of the same process.
 *
 * - every resource's GET body is byte-equal to its index.json in the mount,
 *   and its ETag moves when the value does;
 * - every document validates against the DMTF JSON schemas in
 *   ../shared/redfish-schemas and sits at a URI its schema allows
 *   (tests/redfish_validate.py), while the devices answer and again once the
 *   strip stopped answering (UnavailableOffline, null values);
 * - a POST of an outlet action over HTTP shows in the simulator and in the
 *   mount at once.
 * Meters are fixed in the simulators so documents do not change between the
 * two reads being compared. Skips (exit 77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static struct tu_sim strip, plug;
static struct tu_mount mnt;
static char base_url[128];
static char state_dir[] = "/tmp/rfs-system-XXXXXX";

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	char *etag = ud;
	size_t len = size * n;

	if (len > 6 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;

		while (*v == ' ')
			v++;
		snprintf(etag, 64, "%.*s", (int)strcspn(v, "\r\n"), v);
	}
	return len;
}

/* One HTTP request; returns the status, body in *ret (malloc'd). */
static long http(const char *method, const char *uri, const char *body, struct tu_buf *ret, char *etag)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[1024];
	long status = -1;

	memset(ret, 0, sizeof(*ret));
	if (etag)
		etag[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", base_url, uri);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_buf_append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (etag) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, etag);
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

#define P(...) tu_path(mnt.mnt, __VA_ARGS__)

static bool fix_meters(struct tu_sim *s, int outlets)
{
	for (int i = 1; i <= outlets; i++) {
		char *r = tu_sim_cmd(s, "meter %d %d 121000 %d %d", i, 5000 * i, 40 * i, 100 * i);
		bool ok = r && strcmp(r, "ok") == 0;

		free(r);
		if (!ok)
			return false;
	}
	return true;
}

static int system_init(void)
{
	char strip_arg[64], plug_arg[64];

	if (!mkdtemp(state_dir))
		return -1;
	if (tu_sim_start(&strip, "hs300", "PowerStrip", NULL) < 0 ||
	    tu_sim_start(&plug, "plug", "Kettle", NULL) < 0 ||
	    !fix_meters(&strip, 6) || !fix_meters(&plug, 1))
		return -1;
	snprintf(strip_arg, sizeof(strip_arg), "PowerStrip=127.0.0.1:%u", (unsigned)strip.port);
	snprintf(plug_arg, sizeof(plug_arg), "127.0.0.1:%u", (unsigned)plug.port);
	{
		const char *args[] = { "--kasa", strip_arg, "--kasa", plug_arg, "--poll", "1",
				       "--timeout", "300", "--max-age", "500",
				       "--http", "127.0.0.1:0", "--http-no-auth",
				       "--state-dir", state_dir, NULL };

		if (tu_mount_start(&mnt, args) < 0)
			return -1;
	}
	/* The daemon says where it listens. */
	if (tu_mount_http_base(&mnt, base_url, sizeof(base_url)) < 0)
		return -1;
	return 0;
}

static int system_clean(void)
{
	tu_mount_stop(&mnt);
	tu_sim_stop(&strip);
	tu_sim_stop(&plug);
	tu_sh("rm -rf '%s'", state_dir);
	return 0;
}

/* ---- every resource: HTTP body == index.json ----------------------------------- */

static int n_docs, n_equal;

static int compare_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t len;
	char *file;
	struct json_object *o, *id;
	struct tu_buf b;

	if (type != FTW_F || strcmp(path + ftw->base, "index.json") != 0)
		return 0;
	file = tu_read_file(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(file);
	CU_ASSERT_EQUAL((size_t)st->st_size, len);
	o = json_tokener_parse(file);
	CU_ASSERT_TRUE_FATAL(o && json_object_object_get_ex(o, "@odata.id", &id));
	n_docs++;
	if (http("GET", json_object_get_string(id), NULL, &b, NULL) == 200 && b.len == len &&
	    memcmp(b.data, file, len) == 0)
		n_equal++;
	else
		fprintf(stderr, "\n  %s: the HTTP body differs from %s\n", json_object_get_string(id), path);
	free(b.data);
	json_object_put(o);
	free(file);
	return 0;
}

static void test_http_equals_mount(void)
{
	n_docs = n_equal = 0;
	CU_ASSERT_EQUAL(nftw(mnt.mnt, compare_one, 16, FTW_PHYS), 0);
	/* ServiceRoot, 3 collections + PowerEquipment, per device 6 or 1 outlets,
	 * Outlets, PowerDistribution, Metrics, Chassis, Manager, and the HTTP
	 * server's own resources. */
	CU_ASSERT_TRUE(n_docs >= 25);
	CU_ASSERT_EQUAL(n_docs, n_equal);
}

/* The mount's file at path holds want (and a newline). */
static void check_file(const char *path, const char *want)
{
	char *r = tu_read_file(path, NULL);
	char expect[256];

	snprintf(expect, sizeof(expect), "%s\n", want);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	if (strcmp(r, expect) != 0)
		fprintf(stderr, "\n  %s: \"%s\", not \"%s\"\n", path, r, want);
	CU_ASSERT_STRING_EQUAL(r, expect);
	free(r);
}

/* The strips' watts where clients look for them: a Sensor per reading (the
 * outlets' DataSourceUri), the strip's totals, and the deprecated Power,
 * in the mount and over HTTP (meters as fix_meters set them). */
static void test_sensors_and_power(void)
{
	struct json_object *o, *v;
	struct tu_buf b;
	char path[256], want[64];

	for (int i = 1; i <= 6; i++) {
		snprintf(path, sizeof(path), "PowerEquipment/RackPDUs/PowerStrip/Outlets/%d/PowerWatts/DataSourceUri", i);
		snprintf(want, sizeof(want), "/redfish/v1/Chassis/PowerStrip/Sensors/Outlet%dPower", i);
		check_file(P("%s", path), want);
		snprintf(path, sizeof(path), "Chassis/PowerStrip/Sensors/Outlet%dPower/Reading", i);
		snprintf(want, sizeof(want), "%d", 5 * i);
		check_file(P("%s", path), want);
		snprintf(path, sizeof(path), "Chassis/PowerStrip/Sensors/Outlet%dCurrent/Reading", i);
		snprintf(want, sizeof(want), "%g", 0.04 * i);
		check_file(P("%s", path), want);
		snprintf(path, sizeof(path), "Chassis/PowerStrip/Sensors/Outlet%dVoltage/ReadingUnits", i);
		check_file(P("%s", path), "V");
		snprintf(path, sizeof(path), "Chassis/PowerStrip/Power/PowerControl/%d/PowerConsumedWatts", i - 1);
		snprintf(want, sizeof(want), "%d", 5 * i);
		check_file(P("%s", path), want);
	}
	check_file(P("Chassis/PowerStrip/Sensors/MainsPower/Reading"), "105");
	check_file(P("Chassis/PowerStrip/Sensors/MainsEnergy/Reading"), "2.1");
	check_file(P("PowerEquipment/RackPDUs/PowerStrip/Mains/1/CurrentAmps/Reading"), "0.84");
	check_file(P("PowerEquipment/RackPDUs/PowerStrip/Mains/1/Voltage/Reading"), "121");
	check_file(P("Chassis/PowerStrip/PowerSubsystem/Status/State"), "Enabled");
	check_file(P("Chassis/Kettle/Sensors/Outlet1Power/Reading"), "5");
	check_file(P("Chassis/Kettle/Power/PowerControl/0/PowerConsumedWatts"), "5");
	/* over HTTP: the Chassis links them, Power has a PowerControl per outlet */
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Chassis/PowerStrip", NULL, &b, NULL), 200);
	o = json_tokener_parse(b.data);
	free(b.data);
	CU_ASSERT(json_object_object_get_ex(o, "Power", &v) &&
		  json_object_object_get_ex(v, "@odata.id", &v) &&
		  !strcmp(json_object_get_string(v), "/redfish/v1/Chassis/PowerStrip/Power"));
	CU_ASSERT(json_object_object_get_ex(o, "Sensors", NULL));
	CU_ASSERT(json_object_object_get_ex(o, "PowerSubsystem", NULL));
	json_object_put(o);
	CU_ASSERT_EQUAL(http("GET", "/redfish/v1/Chassis/PowerStrip/Power", NULL, &b, NULL), 200);
	o = json_tokener_parse(b.data);
	free(b.data);
	CU_ASSERT_TRUE_FATAL(json_object_object_get_ex(o, "PowerControl", &v));
	CU_ASSERT_EQUAL(json_object_array_length(v), 6);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *w;

		CU_ASSERT(json_object_object_get_ex(json_object_array_get_idx(v, i), "PowerConsumedWatts", &w) &&
			  json_object_get_double(w) == 5.0 * (double)(i + 1));
	}
	json_object_put(o);
}

static void test_etag_moves(void)
{
	const char *uri = "/redfish/v1/PowerEquipment/RackPDUs/PowerStrip/Outlets/3";
	char e1[64], e2[64];
	struct tu_buf b;
	char *r;

	CU_ASSERT_EQUAL(http("GET", uri, NULL, &b, e1), 200);
	free(b.data);
	r = tu_sim_cmd(&strip, "meter 3 77000 121000 600 300");
	CU_ASSERT_STRING_EQUAL(r, "ok");
	free(r);
	/* within max-age + poll the value, and so the ETag, has changed */
	for (int i = 0; i < 40; i++) {
		usleep(100000);
		CU_ASSERT_EQUAL(http("GET", uri, NULL, &b, e2), 200);
		free(b.data);
		if (strcmp(e1, e2) != 0)
			break;
	}
	CU_ASSERT_STRING_NOT_EQUAL(e1, e2);
	r = tu_read_file(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerWatts/Reading"), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r, "77\n");
	free(r);
}

static void test_post_action_shows_everywhere(void)
{
	struct tu_buf b;
	char *r;

	CU_ASSERT_EQUAL(http("POST", "/redfish/v1/PowerEquipment/RackPDUs/Kettle/Outlets/1/Actions/Outlet.PowerControl",
			     "{\"PowerState\":\"Off\"}", &b, NULL) / 100, 2);
	free(b.data);
	r = tu_sim_cmd(&plug, "state 1");
	CU_ASSERT_STRING_EQUAL(r, "ok off");
	free(r);
	r = tu_read_file(P("Chassis/Kettle/Outlets/1/PowerState"), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r, "Off\n");
	free(r);
}

/* ---- the DMTF schemas --------------------------------------------------------- */

static int validate(void)
{
	const char *shared = getenv("SHARED_DIR");
	const char *src = getenv("SOURCE_DIR");

	return tu_sh("/usr/bin/python3 '%s/tests/redfish_validate.py' '%s' '%s/redfish-schemas' >&2",
		     src ? src : ".", mnt.mnt, shared ? shared : "../shared");
}

static void test_schemas_online(void)
{
	CU_ASSERT_EQUAL(validate(), 0);
}

/* OCP's Rack PDU profile: every Mandatory item of the PowerDistribution, its
 * Metrics, its Outlets and its Mains and Branch circuits
 * (tests/ocp_profile.py), except the gaps the README names (no honest
 * value: they need the vendor's ratings, the device's power-restore
 * behaviour, a part number, or site data). */
static void test_ocp_profile(void)
{
	const char *shared = getenv("SHARED_DIR");
	const char *src = getenv("SOURCE_DIR");

	CU_ASSERT_EQUAL(tu_sh("/usr/bin/python3 '%s/tests/ocp_profile.py' '%s' "
			      "'%s/redfish-profiles/OCPRackPDU.v1_0_0.json' "
			      "PowerDistribution PowerDistributionMetrics Outlet Circuit "
			      "--gap Circuit:RatedCurrentAmps --gap Circuit:UserLabel "
			      "--gap Circuit:PowerRestorePolicy "
			      "--gap PowerDistribution:Location --gap PowerDistribution:PartNumber "
			      "--gap PowerDistributionMetrics:PowerLoadPercent "
			      "--gap Outlet:PowerRestorePolicy --gap Outlet:RatedCurrentAmps >&2",
			      src ? src : ".", mnt.mnt, shared ? shared : "../shared"), 0);
}

static void test_schemas_offline(void)
{
	char *r = tu_sim_cmd(&strip, "mode silent");
	char *state = NULL;

	CU_ASSERT_STRING_EQUAL(r, "ok");
	free(r);
	/* poll 1 s + two attempts of 300 ms, with a margin */
	for (int i = 0; i < 50; i++) {
		free(state);
		state = tu_read_file(P("PowerEquipment/RackPDUs/PowerStrip/Status/State"), NULL);
		if (state && strcmp(state, "UnavailableOffline\n") == 0)
			break;
		usleep(100000);
	}
	CU_ASSERT_STRING_EQUAL(state, "UnavailableOffline\n");
	free(state);
	/* live values are null: empty files */
	state = tu_read_file(P("PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState"), NULL);
	CU_ASSERT_STRING_EQUAL(state, "");
	free(state);
	CU_ASSERT_EQUAL(validate(), 0);
	/* and HTTP still serves the same bytes */
	test_http_equals_mount();
	r = tu_sim_cmd(&strip, "mode normal");
	free(r);
}

int main(void)
{
	CU_pSuite s;
	int r = tu_cunit_begin_mount();

	if (r)
		return r;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = CU_add_suite("system", system_init, system_clean);
	CU_add_test(s, "GET body == index.json for every resource", test_http_equals_mount);
	CU_add_test(s, "every document validates against the DMTF schemas", test_schemas_online);
	CU_add_test(s, "Sensors and Power: the watts in the mount and over HTTP", test_sensors_and_power);
	CU_add_test(s, "OCP Rack PDU profile: PowerDistribution, Metrics, Outlets", test_ocp_profile);
	CU_add_test(s, "ETag and the mount follow a changed value", test_etag_moves);
	CU_add_test(s, "POST an action: the device and the mount show it", test_post_action_shows_everywhere);
	CU_add_test(s, "offline: UnavailableOffline, null values, still valid", test_schemas_offline);
	return tu_run_cunit();
}
