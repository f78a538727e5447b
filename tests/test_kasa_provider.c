/* test_kasa_provider.c — the Kasa provider against kasa-sim, in-process.
 *
 * Each test starts its own simulator (loopback, port 0), a fresh rf_tree and
 * a kasa_provider, and reads what a client would read: documents from
 * rf_tree_get_doc(), parsed. Writes go through the tree (rf_tree_write,
 * rf_tree_post_action) exactly as the mount and HTTP do, and the device side
 * is checked through the simulator's control port. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kasa.h"
#include "provider.h"
#include "redfish.h"
#include "testutil.h"

#define PDU RF_ROOT "/PowerEquipment/RackPDUs/PowerStrip"
#define OUTLET(n) PDU "/Outlets/" #n

struct fx {
	struct tu_sim sim;
	bool sim_up;
	struct rf_tree *t;
	struct kasa_provider *kp;
	int add_r;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Simulator (model, alias, extra args), tree, provider with one strip added
 * under name (NULL: from the alias). start: start the pollers. */
static int fx_start(struct fx *f, const char *model, const char *alias, const char *name,
		    int poll_s, int timeout_ms, int64_t max_age_ms, bool start)
{
	int r;

	memset(f, 0, sizeof(*f));
	r = tu_sim_start(&f->sim, model, alias, NULL);
	if (r < 0)
		return r;
	f->sim_up = true;
	f->t = rf_tree_new(NULL);
	if (!f->t)
		return -ENOMEM;
	rf_tree_set_max_age(f->t, max_age_ms);
	f->kp = kasa_provider_new(f->t, timeout_ms, poll_s);
	if (!f->kp)
		return -ENOMEM;
	f->add_r = kasa_provider_add(f->kp, name, "127.0.0.1", f->sim.port);
	if (start) {
		r = kasa_provider_start(f->kp);
		if (r < 0)
			return r;
	}
	return 0;
}

static void fx_stop(struct fx *f)
{
	f->kp = kasa_provider_free(f->kp);
	f->t = rf_tree_free(f->t);
	if (f->sim_up)
		tu_sim_stop(&f->sim);
	f->sim_up = false;
}

/* The document at uri, parsed (new reference), or NULL. */
static struct json_object *doc(struct rf_tree *t, const char *uri)
{
	struct rf_doc *d;
	struct json_object *o;
	int err = 0;

	d = rf_tree_get_doc(t, uri, &err);
	if (!d)
		return NULL;
	o = json_tokener_parse(d->json);
	rf_doc_unref(d);
	return o;
}

/* The value at a '/'-separated path; array elements by index. Borrowed;
 * NULL when absent or JSON null (see has()). */
static struct json_object *jget(struct json_object *o, const char *path)
{
	char buf[256], *save = NULL, *part;

	if (!o || strlen(path) >= sizeof(buf))
		return NULL;
	strcpy(buf, path);
	for (part = strtok_r(buf, "/", &save); part && o; part = strtok_r(NULL, "/", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			long i = strtol(part, &end, 10);

			if (*end || i < 0 || (size_t)i >= json_object_array_length(o))
				return NULL;
			o = json_object_array_get_idx(o, (size_t)i);
		} else if (!json_object_object_get_ex(o, part, &o)) {
			return NULL;
		}
	}
	return o;
}

/* Whether the key at path exists (its value may be null). */
static bool has(struct json_object *o, const char *path)
{
	char buf[256];
	char *slash;
	struct json_object *parent;

	if (strlen(path) >= sizeof(buf))
		return false;
	strcpy(buf, path);
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		parent = jget(o, buf);
		return json_object_is_type(parent, json_type_object) &&
		       json_object_object_get_ex(parent, slash + 1, NULL);
	}
	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, path, NULL);
}

static bool is_null(struct json_object *o, const char *path)
{
	return has(o, path) && jget(o, path) == NULL;
}

static const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool jnum(struct json_object *o, const char *path, double *ret)
{
	struct json_object *v = jget(o, path);

	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_double(v);
	return true;
}

static bool str_is(struct json_object *o, const char *path, const char *want)
{
	const char *s = jstr(o, path);

	return s && !strcmp(s, want);
}

static size_t jlen(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);

	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

/* Wait up to ms until the string at path of uri's document equals want
 * (NULL: is JSON null). Returns the elapsed ms, or -1 on timeout. */
static int64_t wait_for(struct rf_tree *t, const char *uri, const char *path, const char *want,
			int ms)
{
	int64_t start = tu_now_ms();

	for (;;) {
		struct json_object *o = doc(t, uri);
		bool ok = want ? str_is(o, path, want) : is_null(o, path);

		json_object_put(o);
		if (ok)
			return tu_now_ms() - start;
		if (tu_now_ms() - start > ms)
			return -1;
		sleep_ms(20);
	}
}

/* Whether the simulator answers cmd with exactly want. */
static bool sim_says(struct tu_sim *sim, const char *want, const char *cmd)
{
	char *r = tu_sim_cmd(sim, "%s", cmd);
	bool ok = r && !strcmp(r, want);

	free(r);
	return ok;
}

/* The common checks of every resource body. */
static void check_resource(struct json_object *o, const char *uri, const char *type, const char *id)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(str_is(o, "@odata.id", uri));
	CU_ASSERT(str_is(o, "@odata.type", type));
	CU_ASSERT(str_is(o, "Id", id));
	CU_ASSERT(jstr(o, "Name") && *jstr(o, "Name"));
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_strip_resources(void)
{
	struct fx f;
	struct json_object *o;
	char uri[256], id[8], target[300];
	double sum_w = 0, sum_kwh = 0, v;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 1000, 60000, true), 0);
	CU_ASSERT_EQUAL(f.add_r, 0);

	o = doc(f.t, PDU);
	check_resource(o, PDU, "#PowerDistribution.v1_6_0.PowerDistribution", "PowerStrip");
	CU_ASSERT(str_is(o, "EquipmentType", "RackPDU"));
	CU_ASSERT(str_is(o, "Manufacturer", "TP-Link"));
	CU_ASSERT(str_is(o, "Model", "HS300(US)"));
	CU_ASSERT(str_is(o, "FirmwareVersion", "1.0.12 Build 220121 Rel.175814"));
	CU_ASSERT(str_is(o, "Version", "2.0"));
	CU_ASSERT(str_is(o, "UserLabel", "PowerStrip"));
	/* no serial number on a Kasa device: its deviceId, and a UUID from it */
	{
		struct json_object *m = doc(f.t, RF_ROOT "/Managers/PowerStrip");
		const char *dev_id = jstr(m, "Oem/TPLink/DeviceId");
		const char *uuid = jstr(o, "UUID");

		CU_ASSERT(dev_id && str_is(o, "SerialNumber", dev_id));
		CU_ASSERT(uuid && strlen(uuid) == 36 && uuid[14] == '8' && uuid[8] == '-');
		json_object_put(m);
	}
	CU_ASSERT(str_is(o, "Status/State", "Enabled"));
	CU_ASSERT(str_is(o, "Status/Health", "OK"));
	CU_ASSERT(str_is(o, "Outlets/@odata.id", PDU "/Outlets"));
	CU_ASSERT(str_is(o, "Metrics/@odata.id", PDU "/Metrics"));
	CU_ASSERT(str_is(o, "Links/Chassis/0/@odata.id", RF_ROOT "/Chassis/PowerStrip"));
	CU_ASSERT(str_is(o, "Links/ManagedBy/0/@odata.id", RF_ROOT "/Managers/PowerStrip"));
	json_object_put(o);

	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs");
	CU_ASSERT_EQUAL(jlen(o, "Members"), 1);
	CU_ASSERT(str_is(o, "Members/0/@odata.id", PDU));
	json_object_put(o);

	o = doc(f.t, PDU "/Outlets");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(str_is(o, "@odata.type", "#OutletCollection.OutletCollection"));
	CU_ASSERT_EQUAL(jlen(o, "Members"), 6);
	CU_ASSERT(str_is(o, "Members/5/@odata.id", PDU "/Outlets/6"));
	json_object_put(o);

	for (int i = 1; i <= 6; i++) {
		char want[16];

		snprintf(uri, sizeof(uri), PDU "/Outlets/%d", i);
		snprintf(id, sizeof(id), "%d", i);
		snprintf(want, sizeof(want), "Plug %d", i);
		o = doc(f.t, uri);
		check_resource(o, uri, "#Outlet.v1_4_4.Outlet", id);
		CU_ASSERT(str_is(o, "Name", want));
		CU_ASSERT(str_is(o, "UserLabel", want));
		CU_ASSERT(str_is(o, "PowerState", "On"));
		CU_ASSERT(str_is(o, "Status/State", "Enabled"));
		CU_ASSERT(str_is(o, "OutletType", "NEMA_5_15R"));
		CU_ASSERT(str_is(o, "NominalVoltage", "AC120V"));
		CU_ASSERT(str_is(o, "ElectricalContext", "LineToNeutral"));
		CU_ASSERT(jnum(o, "PowerCycleDelaySeconds", &v) && v == 5);
		CU_ASSERT(jnum(o, "PowerWatts/Reading", &v) && v > 0);
		sum_w += v;
		CU_ASSERT(jnum(o, "CurrentAmps/Reading", &v) && v > 0);
		CU_ASSERT(jnum(o, "Voltage/Reading", &v) && fabs(v - 120.4) <= 0.3);
		CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v >= 1.0);
		sum_kwh += v;
		CU_ASSERT(str_is(o, "Links/Chassis/0/@odata.id", RF_ROOT "/Chassis/PowerStrip"));
		snprintf(target, sizeof(target), "%s/Actions/Outlet.PowerControl", uri);
		CU_ASSERT(str_is(o, "Actions/#Outlet.PowerControl/target", target));
		CU_ASSERT_EQUAL(jlen(o, "Actions/#Outlet.PowerControl/PowerState@Redfish.AllowableValues"), 3);
		CU_ASSERT(str_is(o, "Actions/#Outlet.PowerControl/PowerState@Redfish.AllowableValues/2",
				 "PowerCycle"));
		snprintf(target, sizeof(target), "%s/Actions/Outlet.ResetMetrics", uri);
		CU_ASSERT(str_is(o, "Actions/#Outlet.ResetMetrics/target", target));
		json_object_put(o);
	}
	o = doc(f.t, PDU "/Outlets/7");
	CU_ASSERT_PTR_NULL(o);
	json_object_put(o);

	o = doc(f.t, PDU "/Metrics");
	check_resource(o, PDU "/Metrics",
		       "#PowerDistributionMetrics.v1_4_0.PowerDistributionMetrics", "Metrics");
	CU_ASSERT(jnum(o, "PowerWatts/Reading", &v) && fabs(v - sum_w) < 0.01);
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && fabs(v - sum_kwh) < 0.01);
	json_object_put(o);

	o = doc(f.t, RF_ROOT "/Chassis/PowerStrip");
	check_resource(o, RF_ROOT "/Chassis/PowerStrip", "#Chassis.v1_28_0.Chassis", "PowerStrip");
	CU_ASSERT(str_is(o, "ChassisType", "PowerStrip"));
	CU_ASSERT(str_is(o, "Manufacturer", "TP-Link"));
	CU_ASSERT(str_is(o, "Model", "HS300(US)"));
	CU_ASSERT(str_is(o, "PowerState", "On"));
	CU_ASSERT(str_is(o, "Status/State", "Enabled"));
	CU_ASSERT_EQUAL(jlen(o, "Links/PowerOutlets"), 6);
	CU_ASSERT(str_is(o, "Links/PowerOutlets/1/@odata.id", OUTLET(2)));
	CU_ASSERT(str_is(o, "Links/ManagedBy/0/@odata.id", RF_ROOT "/Managers/PowerStrip"));
	CU_ASSERT(str_is(o, "Links/PowerDistribution/@odata.id", PDU));
	json_object_put(o);

	o = doc(f.t, RF_ROOT "/Managers/PowerStrip");
	check_resource(o, RF_ROOT "/Managers/PowerStrip", "#Manager.v1_24_0.Manager", "PowerStrip");
	CU_ASSERT(str_is(o, "ManagerType", "ManagementController"));
	CU_ASSERT(str_is(o, "FirmwareVersion", "1.0.12 Build 220121 Rel.175814"));
	CU_ASSERT(str_is(o, "Model", "HS300(US)"));
	CU_ASSERT(str_is(o, "Status/State", "Enabled"));
	CU_ASSERT(str_is(o, "Actions/#Manager.Reset/target",
			 RF_ROOT "/Managers/PowerStrip/Actions/Manager.Reset"));
	CU_ASSERT_EQUAL(jlen(o, "Actions/#Manager.Reset/ResetType@Redfish.AllowableValues"), 1);
	CU_ASSERT(str_is(o, "Actions/#Manager.Reset/ResetType@Redfish.AllowableValues/0",
			 "GracefulRestart"));
	CU_ASSERT(str_is(o, "Links/ManagerForChassis/0/@odata.id", RF_ROOT "/Chassis/PowerStrip"));
	CU_ASSERT(jget(o, "Oem/TPLink/LedOn") && json_object_get_boolean(jget(o, "Oem/TPLink/LedOn")));
	CU_ASSERT(jstr(o, "Oem/TPLink/DeviceId") && strlen(jstr(o, "Oem/TPLink/DeviceId")) >= 16);
	CU_ASSERT(jstr(o, "Oem/TPLink/MACAddress") &&
		  !strncmp(jstr(o, "Oem/TPLink/MACAddress"), "50:C7:BF:", 9));
	CU_ASSERT(!has(o, "EthernetInterfaces"));
	json_object_put(o);

	/* The Chassis/NAME/Outlets alias, and the types the tree lists. */
	{
		char *target_uri = rf_tree_alias_target(f.t, RF_ROOT "/Chassis/PowerStrip/Outlets/2");

		CU_ASSERT(target_uri && !strcmp(target_uri, OUTLET(2)));
		free(target_uri);
	}
	fx_stop(&f);
}

static void test_write_power_state(void)
{
	struct fx f;
	struct json_object *o;
	int64_t t0;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 1000, 60000, true), 0);

	/* A value not allowed: nothing is sent. */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState",
				      "Foo\n", 4), -EINVAL);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_relay_state"), 0);

	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState",
				      "Off\n", 4), 0);
	CU_ASSERT(tu_now_ms() - t0 < 1000);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 2"));
	CU_ASSERT(sim_says(&f.sim, "ok on", "state 1"));
	o = doc(f.t, OUTLET(2));
	CU_ASSERT(str_is(o, "PowerState", "Off"));
	CU_ASSERT(jget(o, "PowerStateInTransition") &&
		  !json_object_get_boolean(jget(o, "PowerStateInTransition")));
	json_object_put(o);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_relay_state"), 1);

	/* Case-insensitive. (The Chassis/NAME/Outlets alias is a symlink the
	 * kernel resolves: writes arrive with the canonical path.) */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState",
				      "on", 2), 0);
	CU_ASSERT(sim_says(&f.sim, "ok on", "state 2"));
	o = doc(f.t, OUTLET(2));
	CU_ASSERT(str_is(o, "PowerState", "On"));
	json_object_put(o);

	/* The action file, and the HTTP path. */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/6/Actions/"
					   "Outlet.PowerControl", "Off\n", 4), 0);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 6"));
	{
		struct json_object *params = json_tokener_parse("{\"PowerState\":\"On\"}");
		struct rf_error err;

		memset(&err, 0, sizeof(err));
		CU_ASSERT_EQUAL(rf_tree_post_action(f.t, OUTLET(6) "/Actions/Outlet.PowerControl",
						    params, NULL, &err), 0);
		json_object_put(params);
		CU_ASSERT(sim_says(&f.sim, "ok on", "state 6"));
	}
	fx_stop(&f);
}

static void test_labels_and_manager(void)
{
	struct fx f;
	struct json_object *o, *params;
	struct rf_error err;
	char *r;
	double v;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 1000, 60000, true), 0);

	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/UserLabel",
				      "Printer\n", 8), 0);
	r = tu_sim_cmd(&f.sim, "alias 3");
	CU_ASSERT(r && !strcmp(r, "ok Printer"));
	free(r);
	o = doc(f.t, OUTLET(3));
	CU_ASSERT(str_is(o, "UserLabel", "Printer"));
	CU_ASSERT(str_is(o, "Name", "Printer"));
	json_object_put(o);

	/* Too long for a Kasa alias: refused before anything is sent. */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/UserLabel",
				      "0123456789012345678901234567890123456789", 40), -EINVAL);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_dev_alias"), 1);

	/* The strip's own label is the device alias; the Id stays. */
	params = json_tokener_parse("{\"UserLabel\":\"Rack A\"}");
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_patch(f.t, PDU, params, NULL, &err), 0);
	json_object_put(params);
	r = tu_sim_cmd(&f.sim, "alias 0");
	CU_ASSERT(r && !strcmp(r, "ok Rack A"));
	free(r);
	o = doc(f.t, PDU);
	CU_ASSERT(str_is(o, "UserLabel", "Rack A"));
	CU_ASSERT(str_is(o, "Id", "PowerStrip"));
	json_object_put(o);

	/* PowerState is not PATCHable over HTTP. */
	params = json_tokener_parse("{\"PowerState\":\"Off\"}");
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_patch(f.t, OUTLET(1), params, NULL, &err), -EACCES);
	json_object_put(params);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_relay_state"), 0);

	/* Outlet.ResetMetrics erases that outlet's meter only. */
	o = doc(f.t, OUTLET(1));
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v >= 1.0);
	json_object_put(o);
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_post_action(f.t, OUTLET(1) "/Actions/Outlet.ResetMetrics", NULL,
					    NULL, &err), 0);
	o = doc(f.t, OUTLET(1));
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v < 0.001);
	json_object_put(o);
	o = doc(f.t, OUTLET(2));
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v >= 1.0);
	json_object_put(o);

	/* The strip's ResetMetrics erases every outlet's meter. */
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_post_action(f.t, PDU "/Metrics/Actions/"
					    "PowerDistributionMetrics.ResetMetrics", NULL, NULL, &err), 0);
	for (int i = 1; i <= 6; i++) {
		char uri[128];

		snprintf(uri, sizeof(uri), PDU "/Outlets/%d", i);
		o = doc(f.t, uri);
		CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v < 0.001);
		json_object_put(o);
	}
	o = doc(f.t, PDU "/Metrics");
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && v < 0.006);
	json_object_put(o);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "erase_emeter_stat"), 7);

	/* The LED, in the Manager's Oem. */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "Managers/PowerStrip/Oem/TPLink/LedOn", "false\n", 6), 0);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_led_off"), 1);
	o = doc(f.t, RF_ROOT "/Managers/PowerStrip");
	CU_ASSERT(jget(o, "Oem/TPLink/LedOn") && !json_object_get_boolean(jget(o, "Oem/TPLink/LedOn")));
	json_object_put(o);

	/* Manager.Reset reboots the device. */
	params = json_tokener_parse("{\"ResetType\":\"GracefulRestart\"}");
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_post_action(f.t, RF_ROOT "/Managers/PowerStrip/Actions/Manager.Reset",
					    params, NULL, &err), 0);
	json_object_put(params);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "reboot"), 1);
	params = json_tokener_parse("{\"ResetType\":\"ForceRestart\"}");
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(rf_tree_post_action(f.t, RF_ROOT "/Managers/PowerStrip/Actions/Manager.Reset",
					    params, NULL, &err), -EINVAL);
	json_object_put(params);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "reboot"), 1);
	fx_stop(&f);
}

/* A button pressed on the device shows up after max-age (refresh on read),
 * and without any read through the poller. */
static void test_press_shows_up(void)
{
	struct fx f;
	struct json_object *o;

	/* No polls (60 s); reads refresh after 200 ms. */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 1000, 200, true), 0);
	CU_ASSERT(sim_says(&f.sim, "ok off", "press 3"));
	sleep_ms(300);
	o = doc(f.t, OUTLET(3));
	CU_ASSERT(str_is(o, "PowerState", "Off"));
	json_object_put(o);
	fx_stop(&f);

	/* Poll every second; reads never refresh (max-age 60 s). */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 1, 1000, 60000, true), 0);
	o = doc(f.t, OUTLET(4));
	CU_ASSERT(str_is(o, "PowerState", "On"));
	json_object_put(o);
	CU_ASSERT(sim_says(&f.sim, "ok off", "press 4"));
	CU_ASSERT(wait_for(f.t, OUTLET(4), "PowerState", "Off", 2500) >= 0);
	fx_stop(&f);

	/* Before the pollers start, reads poll inline. */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 1000, 100, false), 0);
	CU_ASSERT(sim_says(&f.sim, "ok off", "press 5"));
	sleep_ms(150);
	o = doc(f.t, OUTLET(5));
	CU_ASSERT(str_is(o, "PowerState", "Off"));
	json_object_put(o);
	fx_stop(&f);
}

static void test_offline_and_back(void)
{
	const int timeout = 300;
	struct fx f;
	struct json_object *o;
	int64_t t0, dt;
	int r;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 1, timeout, 60000, true), 0);
	{
		char *x = tu_sim_cmd(&f.sim, "mode silent");

		CU_ASSERT(x && !strcmp(x, "ok"));
		free(x);
	}
	dt = wait_for(f.t, PDU, "Status/State", "UnavailableOffline", 1000 + 2 * timeout + 700);
	CU_ASSERT(dt >= 0);

	o = doc(f.t, OUTLET(2));
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	CU_ASSERT(is_null(o, "PowerState"));
	CU_ASSERT(is_null(o, "PowerWatts/Reading"));
	CU_ASSERT(is_null(o, "EnergykWh/Reading"));
	CU_ASSERT(str_is(o, "UserLabel", "Plug 2"));
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/Chassis/PowerStrip");
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	CU_ASSERT(is_null(o, "PowerState"));
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/Managers/PowerStrip");
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	json_object_put(o);
	o = doc(f.t, PDU "/Metrics");
	CU_ASSERT(is_null(o, "PowerWatts/Reading"));
	json_object_put(o);

	/* Writes fail fast. */
	t0 = tu_now_ms();
	r = rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState", "Off", 3);
	CU_ASSERT(r == -EHOSTUNREACH || r == -ETIMEDOUT);
	CU_ASSERT(tu_now_ms() - t0 <= 2 * timeout + 100);
	/* Reads do not wait. */
	t0 = tu_now_ms();
	o = doc(f.t, OUTLET(2));
	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);
	CU_ASSERT(tu_now_ms() - t0 <= timeout);

	{
		char *x = tu_sim_cmd(&f.sim, "mode normal");

		CU_ASSERT(x && !strcmp(x, "ok"));
		free(x);
	}
	CU_ASSERT(wait_for(f.t, PDU, "Status/State", "Enabled", 1000 + 2 * timeout + 700) >= 0);
	CU_ASSERT(wait_for(f.t, OUTLET(2), "PowerState", "On", 500) >= 0);
	CU_ASSERT(sim_says(&f.sim, "ok on", "state 2"));
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState",
				      "Off", 3), 0);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 2"));
	fx_stop(&f);

	/* A device that stops answering between polls: the write times out
	 * within one timeout per attempt and the strip shows offline at once. */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, timeout, 60000, true), 0);
	{
		char *x = tu_sim_cmd(&f.sim, "mode silent");

		CU_ASSERT(x && !strcmp(x, "ok"));
		free(x);
	}
	t0 = tu_now_ms();
	r = rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerState", "Off", 3);
	CU_ASSERT(r == -ETIMEDOUT || r == -EHOSTUNREACH);
	CU_ASSERT(tu_now_ms() - t0 <= 2 * timeout + 100);
	o = doc(f.t, OUTLET(3));
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	CU_ASSERT(is_null(o, "PowerState"));
	json_object_put(o);
	t0 = tu_now_ms();
	r = rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerState", "Off", 3);
	CU_ASSERT_EQUAL(r, -EHOSTUNREACH);
	CU_ASSERT(tu_now_ms() - t0 < 50);
	fx_stop(&f);
}

/* A write to a strip that does not answer in time: it fails as a device
 * that is away, within max_ms. */
static void write_fails_within(struct fx *f, const char *path, int64_t max_ms)
{
	int64_t t0 = tu_now_ms();
	int r = rf_tree_write(f->t, path, "Off", 3);

	CU_ASSERT(r == -ETIMEDOUT || r == -EHOSTUNREACH);
	CU_ASSERT(tu_now_ms() - t0 <= max_ms);
}

/* One deadline per command: the wait for the strip, the probe of an offline
 * strip and the command's requests all end within twice the timeout. */
static void test_command_deadline(void)
{
	const int timeout = 1200;   /* past the probe age: an offline strip is probed */
	const char *w = "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState";
	struct fx f;
	int r;

	/* A silent strip its poller keeps polling (each poll holds the strip
	 * for a timeout): writes while a poll runs, then probe. */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 1, timeout, 60000, true), 0);
	CU_ASSERT(sim_says(&f.sim, "ok", "mode silent"));
	for (int i = 0; i < 3; i++) {
		sleep_ms(150 + 400 * i);
		write_fails_within(&f, w, 2 * timeout + 150);
	}
	fx_stop(&f);

	/* An offline strip that answers again, slowly (each reply 0.7 timeout):
	 * the probe (state, then six meters) and the command share the one
	 * deadline, instead of a timeout per request (8 replies: 6.7 s). */
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, timeout, 60000, true), 0);
	CU_ASSERT(sim_says(&f.sim, "ok", "mode silent"));
	r = rf_tree_write(f.t, w, "Off", 3);
	CU_ASSERT(r == -ETIMEDOUT || r == -EHOSTUNREACH);
	sleep_ms(1100);
	CU_ASSERT(sim_says(&f.sim, "ok", "mode slow 840"));
	write_fails_within(&f, w, 2 * timeout + 150);
	fx_stop(&f);
}

/* A strip that closes the connection after the whole request arrived, with
 * no reply: the outcome is unknown (-EIO, not -EHOSTUNREACH), and a switch
 * is never sent a second time. */
static void test_closed_unanswered(void)
{
	struct fx f;
	int before, r;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 60, 500, 60000, true), 0);
	CU_ASSERT_EQUAL_FATAL(f.add_r, 0);
	before = tu_sim_count(&f.sim, "set_relay_state");
	CU_ASSERT(sim_says(&f.sim, "ok", "mode close"));
	r = rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/2/PowerState", "Off", 3);
	CU_ASSERT_EQUAL(r, -EIO);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "set_relay_state") - before, 1);
	fx_stop(&f);
}

/* A plug is a one-outlet strip; its meter speaks the old units. */
static void test_plug(void)
{
	struct fx f;
	struct json_object *o;
	double v;
	char *x;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "plug", "Desk Lamp", NULL, 60, 1000, 100, true), 0);
	CU_ASSERT_EQUAL(f.add_r, 0);
	x = tu_sim_cmd(&f.sim, "meter 1 12345 230100 56 789");
	CU_ASSERT(x && !strcmp(x, "ok"));
	free(x);
	sleep_ms(150);

	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp");
	CU_ASSERT(str_is(o, "Id", "Desk_Lamp"));
	CU_ASSERT(str_is(o, "UserLabel", "Desk Lamp"));
	CU_ASSERT(str_is(o, "Model", "HS110(US)"));
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp/Outlets");
	CU_ASSERT_EQUAL(jlen(o, "Members"), 1);
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp/Outlets/1");
	CU_ASSERT(str_is(o, "Id", "1"));
	CU_ASSERT(str_is(o, "PowerState", "On"));
	CU_ASSERT(jnum(o, "PowerWatts/Reading", &v) && fabs(v - 12.345) < 1e-9);
	CU_ASSERT(jnum(o, "Voltage/Reading", &v) && fabs(v - 230.1) < 1e-9);
	CU_ASSERT(jnum(o, "CurrentAmps/Reading", &v) && fabs(v - 0.056) < 1e-9);
	CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && fabs(v - 0.789) < 1e-9);
	json_object_put(o);

	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/Desk_Lamp/Outlets/1/PowerState",
				      "Off\n", 4), 0);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 1"));
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp/Outlets/1");
	CU_ASSERT(str_is(o, "PowerState", "Off"));
	json_object_put(o);

	/* Another device with the same alias: _2. The same device again, a
	 * taken or a bad explicit name: refused. */
	{
		struct tu_sim b;

		CU_ASSERT_EQUAL_FATAL(tu_sim_start(&b, "plug", "Desk Lamp", NULL), 0);
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, NULL, "127.0.0.1", b.port), 0);
		o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp_2");
		CU_ASSERT(str_is(o, "Id", "Desk_Lamp_2"));
		CU_ASSERT(str_is(o, "Status/State", "Enabled"));
		json_object_put(o);
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, NULL, "127.0.0.1", b.port), -EEXIST);
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, "Other", "127.0.0.1", f.sim.port), -EEXIST);
		CU_ASSERT_PTR_NULL(doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Desk_Lamp_3"));
		CU_ASSERT_PTR_NULL(doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Other"));
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, "Desk_Lamp", "127.0.0.1", 9), -EEXIST);
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, "a/b", "127.0.0.1", 9), -EINVAL);
		CU_ASSERT_EQUAL(kasa_provider_add(f.kp, "..", "127.0.0.1", 9), -EINVAL);
		fx_stop(&f);
		tu_sim_stop(&b);
	}
}

/* A strip without a meter: no readings at all (absent, not null). */
static void test_no_meter(void)
{
	const char *shared = getenv("SHARED_DIR");
	char path[512];
	struct fx f;
	struct json_object *o;

	snprintf(path, sizeof(path), "%s/fixtures/kasa/iot/KP303(US)_2.0_1.0.9.json",
		 shared ? shared : "../shared");
	CU_ASSERT_EQUAL_FATAL(fx_start(&f, path, "Shelf", "Shelf", 60, 1000, 60000, true), 0);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf/Outlets");
	CU_ASSERT_EQUAL(jlen(o, "Members"), 3);
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf/Outlets/3");
	CU_ASSERT(str_is(o, "Id", "3"));
	CU_ASSERT(jstr(o, "PowerState") != NULL);
	CU_ASSERT(!has(o, "PowerWatts"));
	CU_ASSERT(!has(o, "EnergykWh"));
	CU_ASSERT(!has(o, "Actions/#Outlet.ResetMetrics"));
	CU_ASSERT(has(o, "Actions/#Outlet.PowerControl"));
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf");
	CU_ASSERT(!has(o, "Metrics"));
	CU_ASSERT(str_is(o, "Model", "KP303(US)"));
	json_object_put(o);
	CU_ASSERT_PTR_NULL(doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf/Metrics"));
	/* no meters: no Sensors, no Power; a PowerSubsystem with its Status */
	o = doc(f.t, RF_ROOT "/Chassis/Shelf");
	CU_ASSERT(!has(o, "Sensors"));
	CU_ASSERT(!has(o, "Power"));
	CU_ASSERT(str_is(o, "PowerSubsystem/@odata.id", RF_ROOT "/Chassis/Shelf/PowerSubsystem"));
	json_object_put(o);
	CU_ASSERT_PTR_NULL(doc(f.t, RF_ROOT "/Chassis/Shelf/Sensors"));
	CU_ASSERT_PTR_NULL(doc(f.t, RF_ROOT "/Chassis/Shelf/Power"));
	o = doc(f.t, RF_ROOT "/Chassis/Shelf/PowerSubsystem");
	CU_ASSERT(str_is(o, "Status/State", "Enabled"));
	json_object_put(o);
	/* its circuits, without readings */
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf/Mains/1");
	CU_ASSERT(str_is(o, "CircuitType", "Mains"));
	CU_ASSERT(!has(o, "PowerWatts"));
	json_object_put(o);
	o = doc(f.t, RF_ROOT "/PowerEquipment/RackPDUs/Shelf/Branches/1");
	CU_ASSERT_EQUAL(jlen(o, "Links/Outlets"), 3);
	json_object_put(o);
	CU_ASSERT_EQUAL(tu_sim_count(&f.sim, "get_realtime"), 0);
	fx_stop(&f);
}

#define CHASSIS RF_ROOT "/Chassis/PowerStrip"
#define MAINS PDU "/Mains/1"

/* Sensor uri has ReadingType type, units and the reading want (NAN: null). */
static void check_sensor(struct rf_tree *t, const char *uri, const char *type, const char *units,
			 double want, const char *related)
{
	struct json_object *o = doc(t, uri);
	double v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(str_is(o, "@odata.id", uri));
	CU_ASSERT(str_is(o, "@odata.type", "#Sensor.v1_12_0.Sensor"));
	CU_ASSERT(str_is(o, "Id", strrchr(uri, '/') + 1));
	CU_ASSERT(str_is(o, "ReadingType", type));
	CU_ASSERT(str_is(o, "ReadingUnits", units));
	if (isnan(want)) {
		CU_ASSERT(is_null(o, "Reading"));
	} else {
		CU_ASSERT(jnum(o, "Reading", &v) && fabs(v - want) <= 0.001);
	}
	CU_ASSERT(str_is(o, "RelatedItem/0/@odata.id", related));
	json_object_put(o);
}

/* Sensors (one per reading, linked as DataSourceUri), PowerSubsystem and
 * the deprecated Power, from meters fixed in the simulator. */
static void test_sensors_and_power(void)
{
	static const char *const keys[] = { "PowerWatts", "CurrentAmps", "Voltage", "EnergykWh" };
	static const char *const kinds[] = { "Power", "Current", "Voltage", "Energy" };
	static const char *const types[] = { "Power", "Current", "Voltage", "EnergykWh" };
	static const char *const units[] = { "W", "A", "V", "kW.h" };
	struct fx f;
	struct json_object *o;
	char uri[256], path[64];
	double want[7][4], v, total_w = 0, total_kwh = 0;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 1, 300, 100, true), 0);
	for (int i = 1; i <= 6; i++) {
		char *r = tu_sim_cmd(&f.sim, "meter %d %d %d %d %d", i, 10000 * i, 120000 + i,
				     90 * i, 250 * i);

		CU_ASSERT(r && !strcmp(r, "ok"));
		free(r);
		want[i][0] = 10.0 * i;
		want[i][1] = 0.09 * i;
		want[i][2] = 120 + 0.001 * i;
		want[i][3] = 0.25 * i;
		total_w += want[i][0];
		total_kwh += want[i][3];
	}
	/* the next poll shows them (the PowerDistribution is installed last) */
	sleep_ms(1100);
	CU_ASSERT(wait_for(f.t, PDU, "Status/State", "Enabled", 3000) >= 0);

	o = doc(f.t, CHASSIS);
	CU_ASSERT(str_is(o, "Sensors/@odata.id", CHASSIS "/Sensors"));
	CU_ASSERT(str_is(o, "PowerSubsystem/@odata.id", CHASSIS "/PowerSubsystem"));
	CU_ASSERT(str_is(o, "Power/@odata.id", CHASSIS "/Power"));
	json_object_put(o);

	o = doc(f.t, CHASSIS "/Sensors");
	CU_ASSERT(str_is(o, "@odata.type", "#SensorCollection.SensorCollection"));
	CU_ASSERT_EQUAL(jlen(o, "Members"), 6 * 4 + 4);
	json_object_put(o);

	for (int i = 1; i <= 6; i++) {
		char outlet[128];

		snprintf(outlet, sizeof(outlet), PDU "/Outlets/%d", i);
		o = doc(f.t, outlet);
		for (int k = 0; k < 4; k++) {
			snprintf(uri, sizeof(uri), CHASSIS "/Sensors/Outlet%d%s", i, kinds[k]);
			snprintf(path, sizeof(path), "%s/DataSourceUri", keys[k]);
			CU_ASSERT(str_is(o, path, uri));
			snprintf(path, sizeof(path), "%s/Reading", keys[k]);
			CU_ASSERT(jnum(o, path, &v) && fabs(v - want[i][k]) < 0.0005);
			check_sensor(f.t, uri, types[k], units[k], want[i][k], outlet);
		}
		json_object_put(o);
	}
	o = doc(f.t, PDU "/Metrics");
	CU_ASSERT(str_is(o, "PowerWatts/DataSourceUri", CHASSIS "/Sensors/MainsPower"));
	CU_ASSERT(str_is(o, "EnergykWh/DataSourceUri", CHASSIS "/Sensors/MainsEnergy"));
	json_object_put(o);
	check_sensor(f.t, CHASSIS "/Sensors/MainsPower", "Power", "W", total_w, MAINS);
	check_sensor(f.t, CHASSIS "/Sensors/MainsEnergy", "EnergykWh", "kW.h", total_kwh,
		     MAINS);

	/* the Mains: the outlets' sums, the mean of their voltages */
	{
		double mean_v = 0, sum_a = 0;

		for (int i = 1; i <= 6; i++) {
			mean_v += want[i][2] / 6;
			sum_a += want[i][1];
		}
		check_sensor(f.t, CHASSIS "/Sensors/MainsCurrent", "Current", "A", sum_a, MAINS);
		check_sensor(f.t, CHASSIS "/Sensors/MainsVoltage", "Voltage", "V", mean_v, MAINS);
		o = doc(f.t, MAINS);
		check_resource(o, MAINS, "#Circuit.v1_9_0.Circuit", "1");
		CU_ASSERT(str_is(o, "CircuitType", "Mains"));
		CU_ASSERT(str_is(o, "PowerState", "On"));
		CU_ASSERT(str_is(o, "NominalVoltage", "AC120V"));
		CU_ASSERT(str_is(o, "PhaseWiringType", "OnePhase3Wire"));
		CU_ASSERT(str_is(o, "PowerWatts/DataSourceUri", CHASSIS "/Sensors/MainsPower"));
		CU_ASSERT(jnum(o, "PowerWatts/Reading", &v) && fabs(v - total_w) < 0.0005);
		CU_ASSERT(jnum(o, "CurrentAmps/Reading", &v) && fabs(v - sum_a) < 0.0005);
		CU_ASSERT(jnum(o, "Voltage/Reading", &v) && fabs(v - mean_v) <= 0.001);
		CU_ASSERT(jnum(o, "EnergykWh/Reading", &v) && fabs(v - total_kwh) < 0.0005);
		CU_ASSERT(str_is(o, "Links/DistributionCircuits/0/@odata.id", PDU "/Branches/1"));
		json_object_put(o);
		o = doc(f.t, PDU "/Branches/1");
		check_resource(o, PDU "/Branches/1", "#Circuit.v1_9_0.Circuit", "1");
		CU_ASSERT(str_is(o, "CircuitType", "Branch"));
		CU_ASSERT(str_is(o, "Links/SourceCircuit/@odata.id", MAINS));
		CU_ASSERT_EQUAL(jlen(o, "Links/Outlets"), 6);
		CU_ASSERT(jnum(o, "CurrentAmps/Reading", &v) && fabs(v - sum_a) < 0.0005);
		json_object_put(o);
		o = doc(f.t, PDU);
		CU_ASSERT(str_is(o, "Mains/@odata.id", PDU "/Mains"));
		CU_ASSERT(str_is(o, "Branches/@odata.id", PDU "/Branches"));
		CU_ASSERT(str_is(o, "Sensors/@odata.id", CHASSIS "/Sensors"));
		json_object_put(o);
		o = doc(f.t, PDU "/Mains");
		CU_ASSERT_EQUAL(jlen(o, "Members"), 1);
		json_object_put(o);
		o = doc(f.t, OUTLET(2));
		CU_ASSERT(str_is(o, "Links/BranchCircuit/@odata.id", PDU "/Branches/1"));
		json_object_put(o);
	}

	o = doc(f.t, CHASSIS "/PowerSubsystem");
	check_resource(o, CHASSIS "/PowerSubsystem", "#PowerSubsystem.v1_1_3.PowerSubsystem",
		       "PowerSubsystem");
	CU_ASSERT(str_is(o, "Status/State", "Enabled"));
	json_object_put(o);

	o = doc(f.t, CHASSIS "/Power");
	check_resource(o, CHASSIS "/Power", "#Power.v1_7_3.Power", "Power");
	CU_ASSERT_EQUAL(jlen(o, "PowerControl"), 6);
	CU_ASSERT_EQUAL(jlen(o, "Voltages"), 6);
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "PowerControl/%d/@odata.id", i);
		snprintf(uri, sizeof(uri), CHASSIS "/Power#/PowerControl/%d", i);
		CU_ASSERT(str_is(o, path, uri));
		snprintf(path, sizeof(path), "PowerControl/%d/PowerConsumedWatts", i);
		CU_ASSERT(jnum(o, path, &v) && fabs(v - want[i + 1][0]) < 0.0005);
		snprintf(path, sizeof(path), "PowerControl/%d/RelatedItem/0/@odata.id", i);
		snprintf(uri, sizeof(uri), PDU "/Outlets/%d", i + 1);
		CU_ASSERT(str_is(o, path, uri));
		snprintf(path, sizeof(path), "Voltages/%d/ReadingVolts", i);
		CU_ASSERT(jnum(o, path, &v) && fabs(v - want[i + 1][2]) < 0.0005);
	}
	json_object_put(o);

	/* switched off: no power, at once, in the outlet, its sensor and Power */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/3/PowerState",
				      "Off", 3), 0);
	check_sensor(f.t, CHASSIS "/Sensors/Outlet3Power", "Power", "W", 0, OUTLET(3));
	o = doc(f.t, CHASSIS "/Power");
	CU_ASSERT(jnum(o, "PowerControl/2/PowerConsumedWatts", &v) && v == 0);
	json_object_put(o);
	check_sensor(f.t, CHASSIS "/Sensors/MainsPower", "Power", "W", total_w - want[3][0],
		     MAINS);

	/* offline: null readings, UnavailableOffline */
	CU_ASSERT(sim_says(&f.sim, "ok", "mode silent"));
	CU_ASSERT(wait_for(f.t, PDU, "Status/State", "UnavailableOffline", 4000) >= 0);
	check_sensor(f.t, CHASSIS "/Sensors/Outlet1Voltage", "Voltage", "V", NAN, OUTLET(1));
	check_sensor(f.t, CHASSIS "/Sensors/MainsEnergy", "EnergykWh", "kW.h", NAN, MAINS);
	o = doc(f.t, CHASSIS "/Power");
	CU_ASSERT(is_null(o, "PowerControl/0/PowerConsumedWatts"));
	CU_ASSERT(str_is(o, "PowerControl/0/Status/State", "UnavailableOffline"));
	json_object_put(o);
	o = doc(f.t, CHASSIS "/PowerSubsystem");
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	json_object_put(o);
	fx_stop(&f);
}

/* A port nothing listens on. */
static uint16_t dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_unreachable_at_add(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct kasa_provider *kp = kasa_provider_new(t, 300, 60);
	uint16_t port = dead_port();
	struct json_object *o;
	int64_t t0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_EQUAL(kasa_provider_add(kp, NULL, "127.0.0.1", port), -EHOSTUNREACH);
	CU_ASSERT_EQUAL(kasa_provider_start(kp), 0);
	o = doc(t, RF_ROOT "/PowerEquipment/RackPDUs/127.0.0.1");
	CU_ASSERT(str_is(o, "Id", "127.0.0.1"));
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	CU_ASSERT(is_null(o, "Model"));
	CU_ASSERT(!has(o, "UserLabel"));
	json_object_put(o);
	o = doc(t, RF_ROOT "/PowerEquipment/RackPDUs/127.0.0.1/Outlets");
	CU_ASSERT_PTR_NOT_NULL(o);
	CU_ASSERT_EQUAL(jlen(o, "Members"), 0);
	json_object_put(o);
	o = doc(t, RF_ROOT "/Chassis/127.0.0.1");
	CU_ASSERT(str_is(o, "Status/State", "UnavailableOffline"));
	json_object_put(o);

	/* Stopping is prompt even with the pollers waiting. */
	t0 = tu_now_ms();
	kp = kasa_provider_free(kp);
	CU_ASSERT(tu_now_ms() - t0 < 700);
	o = doc(t, RF_ROOT "/Chassis/127.0.0.1");
	CU_ASSERT_PTR_NULL(o);
	json_object_put(o);
	rf_tree_free(t);
}

static void test_power_cycle(void)
{
	struct fx f;
	struct json_object *o;
	int64_t t0;
	double v;

	CU_ASSERT_EQUAL_FATAL(fx_start(&f, "hs300", "PowerStrip", NULL, 1, 1000, 60000, true), 0);

	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/4/PowerState",
				      "PowerCycle\n", 11), 0);
	CU_ASSERT(tu_now_ms() - t0 < 1000);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 4"));
	o = doc(f.t, OUTLET(4));
	CU_ASSERT(str_is(o, "PowerState", "Off"));
	CU_ASSERT(jget(o, "PowerStateInTransition") &&
		  json_object_get_boolean(jget(o, "PowerStateInTransition")));
	CU_ASSERT(jnum(o, "PowerCycleDelaySeconds", &v) && v == 5);
	json_object_put(o);

	/* Outlet 5: cycled, then switched Off again: the pending On is gone. */
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/5/PowerState",
				      "PowerCycle", 10), 0);
	CU_ASSERT_EQUAL(rf_tree_write(f.t, "PowerEquipment/RackPDUs/PowerStrip/Outlets/5/PowerState",
				      "Off", 3), 0);
	o = doc(f.t, OUTLET(5));
	CU_ASSERT(jget(o, "PowerStateInTransition") &&
		  !json_object_get_boolean(jget(o, "PowerStateInTransition")));
	json_object_put(o);

	/* Not before the delay... */
	sleep_ms(4000);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 4"));
	/* ...but soon after it. */
	CU_ASSERT(wait_for(f.t, OUTLET(4), "PowerState", "On", 2500) >= 0);
	CU_ASSERT(tu_now_ms() - t0 >= 5000);
	CU_ASSERT(sim_says(&f.sim, "ok on", "state 4"));
	o = doc(f.t, OUTLET(4));
	CU_ASSERT(jget(o, "PowerStateInTransition") &&
		  !json_object_get_boolean(jget(o, "PowerStateInTransition")));
	json_object_put(o);
	CU_ASSERT(sim_says(&f.sim, "ok off", "state 5"));
	fx_stop(&f);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_provider", NULL, NULL);
	CU_add_test(s, "strip resources", test_strip_resources);
	CU_add_test(s, "write PowerState", test_write_power_state);
	CU_add_test(s, "labels, meters, LED, reset", test_labels_and_manager);
	CU_add_test(s, "button press shows up", test_press_shows_up);
	CU_add_test(s, "offline and back", test_offline_and_back);
	CU_add_test(s, "plug as a one-outlet strip", test_plug);
	CU_add_test(s, "strip without meter", test_no_meter);
	CU_add_test(s, "Sensors, PowerSubsystem, Power", test_sensors_and_power);
	CU_add_test(s, "unreachable at add", test_unreachable_at_add);
	CU_add_test(s, "PowerCycle", test_power_cycle);
	CU_add_test(s, "one deadline per command", test_command_deadline);
	CU_add_test(s, "closed after the request: unknown, not resent", test_closed_unanswered);
	return tu_run_cunit();
}
