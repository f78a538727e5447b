/* provider_docs.c — the Redfish documents of a strip, built from its
 * cached state (last sysinfo, meter readings, online or not).
 *
 * Pure functions of a struct kasa_strip, called with s->lock held by
 * provider_install.c; no I/O, no tree calls. Each returns a whole new body
 * (or NULL when memory ran out) that the installer hands to the tree,
 * which keeps identical renderings unchanged.
 *
 * Shapes: PowerDistribution.v1_6_0 (EquipmentType RackPDU), Outlet.v1_4_4,
 * PowerDistributionMetrics.v1_4_0, Circuit.v1_9_0 (Mains, Branch),
 * Chassis.v1_28_0 (PowerStrip) with Sensor.v1_12_0, PowerSubsystem.v1_1_3
 * and the deprecated Power.v1_7_3, Manager.v1_24_0; live values are null
 * while the device does not answer, and Status shows UnavailableOffline.
 * Properties come only from what the device reports, what follows from it
 * (the Mains readings from the outlets' meters, identifiers from the
 * deviceId), or what its model tells truthfully (receptacles, wiring). */
#include "provider_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- JSON building ------------------------------------------------------------
 * json-c returns NULL on allocation failure and json_object_object_add(o, k,
 * NULL) would store a JSON null: so every add goes through put(), which
 * records the failure, and intentional nulls use put_null(). */

struct jb {
	bool oom;
};

static void put(struct jb *b, struct json_object *o, const char *key, struct json_object *v)
{
	if (!o || !v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		b->oom = true;
	}
}

static void put_null(struct jb *b, struct json_object *o, const char *key)
{
	if (!o || json_object_object_add(o, key, NULL) < 0)
		b->oom = true;
}

static void put_str(struct jb *b, struct json_object *o, const char *key, const char *v)
{
	put(b, o, key, json_object_new_string(v ? v : ""));
}

static struct json_object *new_link(const char *uri)
{
	struct json_object *o = json_object_new_object();
	struct json_object *s = json_object_new_string(uri);

	if (!o || !s || json_object_object_add(o, "@odata.id", s) < 0) {
		json_object_put(o);
		json_object_put(s);
		return NULL;
	}
	return o;
}

static void put_link(struct jb *b, struct json_object *o, const char *key, const char *uri)
{
	put(b, o, key, new_link(uri));
}

/* key: [ {"@odata.id": uri} ] */
static void put_links1(struct jb *b, struct json_object *o, const char *key, const char *uri)
{
	struct json_object *a = json_object_new_array();
	struct json_object *l = new_link(uri);

	if (!a || !l || json_object_array_add(a, l) < 0) {
		json_object_put(a);
		json_object_put(l);
		b->oom = true;
		return;
	}
	put(b, o, key, a);
}

/* A reading rounded to 0.001, serialised as written ("120.11", not
 * "120.11000000000001"). */
static struct json_object *new_reading(double v)
{
	char buf[64];
	size_t n;

	snprintf(buf, sizeof(buf), "%.3f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	if (!strcmp(buf, "-0"))
		strcpy(buf, "0");
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static void put_reading(struct jb *b, struct json_object *o, const char *key, bool valid, double v)
{
	if (valid)
		put(b, o, key, new_reading(v));
	else
		put_null(b, o, key);
}

/* key: {"DataSourceUri": the Sensor, "Reading": v or null} (an excerpt). */
static void put_excerpt(struct jb *b, struct json_object *o, const char *key, const char *sensor_uri,
			bool valid, double v)
{
	struct json_object *s = json_object_new_object();

	if (!sensor_uri)
		b->oom = true;
	put_str(b, s, "DataSourceUri", sensor_uri);
	put_reading(b, s, "Reading", valid, v);
	put(b, o, key, s);
}

static void put_status(struct jb *b, struct json_object *o, bool online)
{
	struct json_object *s = json_object_new_object();

	put_str(b, s, "State", online ? "Enabled" : "UnavailableOffline");
	if (online)
		put_str(b, s, "Health", "OK");
	else
		put_null(b, s, "Health");   /* unknown while it does not answer */
	put(b, o, "Status", s);
}

static struct json_object *new_body(struct jb *b, const char *uri, const char *type,
				    const char *id, const char *name)
{
	struct json_object *o = json_object_new_object();

	put_str(b, o, "@odata.id", uri);
	put_str(b, o, "@odata.type", type);
	put_str(b, o, "Id", id);
	put_str(b, o, "Name", name);
	return o;
}

static struct json_object *finish(struct jb *b, struct json_object *o)
{
	if (b->oom) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- bodies (called under s->lock) ------------------------------------------- */

char *kasa_outlet_uri(const struct kasa_strip *s, size_t i)
{
	char *u = NULL;

	if (asprintf(&u, "%s/%zu", s->outlets_uri, i + 1) < 0)
		return NULL;
	return u;
}

/* key: [ a link to each outlet ] */
static void put_outlet_links(struct jb *b, const struct kasa_strip *s, struct json_object *o,
			     const char *key)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < s->n_outlets; i++) {
		_cleanup_free_ char *u = kasa_outlet_uri(s, i);
		struct json_object *l = u ? new_link(u) : NULL;

		if (!l || json_object_array_add(a, l) < 0) {
			json_object_put(l);
			b->oom = true;
		}
	}
	put(b, o, key, a);
}

bool kasa_strip_metered(const struct kasa_strip *s)
{
	return s->have_si && s->si.has_emeter;
}

/* The wiring a model's region tells truthfully: its receptacle, and the
 * single-phase line-and-neutral supply every circuit of it has. receptacle:
 * also OutletType (an Outlet). Nothing for a region it does not know. */
static void put_wiring(struct jb *b, struct json_object *o, const char *model, bool receptacle)
{
	const char *type = NULL, *volt = NULL;

	if (!model)
		return;
	if (strstr(model, "(US)")) {
		type = "NEMA_5_15R";
		volt = "AC120V";
	} else if (strstr(model, "(UK)")) {
		type = "BS_1363_Type_G";
		volt = "AC230V";
	}
	if (!type)
		return;
	if (receptacle)
		put_str(b, o, "OutletType", type);
	put_str(b, o, "NominalVoltage", volt);
	put_str(b, o, "PhaseWiringType", "OnePhase3Wire");
	put_str(b, o, "VoltageType", "AC");
	put_str(b, o, "ElectricalContext", "LineToNeutral");
}

/* ---- sensors: one per reading of an outlet and of the strip's Mains --------- */

static const struct {
	const char *id;            /* the Id's suffix: Outlet1Power, MainsPower */
	const char *reading_type;  /* Sensor.ReadingType */
	const char *units;         /* the UCUM units the ReadingType prescribes */
	const char *what;          /* for Name */
} sensor_kinds[KASA_SENSOR_COUNT] = {
	[KASA_SENSOR_POWER] = { "Power", "Power", "W", "power" },
	[KASA_SENSOR_CURRENT] = { "Current", "Current", "A", "current" },
	[KASA_SENSOR_VOLTAGE] = { "Voltage", "Voltage", "V", "voltage" },
	[KASA_SENSOR_ENERGY] = { "Energy", "EnergykWh", "kW.h", "energy" },
};

char *kasa_sensor_uri(const struct kasa_strip *s, size_t outlet, enum kasa_sensor kind)
{
	char *u = NULL;
	int r;

	if (outlet == SIZE_MAX)
		r = asprintf(&u, "%s/Mains%s", s->sensors_uri, sensor_kinds[kind].id);
	else
		r = asprintf(&u, "%s/Outlet%zu%s", s->sensors_uri, outlet + 1, sensor_kinds[kind].id);
	return r < 0 ? NULL : u;
}

/* The reading of one sensor. outlet SIZE_MAX: the strip's inlet (its
 * Mains), which has no meter of its own: the sum over the outlets' meters
 * (every outlet draws through the inlet; the strip's own small draw is not
 * in it), and for the voltage their mean (the outlets are in parallel on
 * the inlet, each meter measures its voltage); known only when every
 * outlet has a reading. False when there is none: the device is offline
 * or did not report it. */
static bool sensor_value(const struct kasa_strip *s, size_t outlet, enum kasa_sensor kind,
			 double *ret)
{
	size_t from = outlet == SIZE_MAX ? 0 : outlet;
	size_t to = outlet == SIZE_MAX ? s->n_outlets : outlet + 1;
	double sum = 0;

	*ret = 0;
	if (!s->online || from >= to || to > s->n_outlets)
		return false;
	for (size_t i = from; i < to; i++) {
		const struct kasa_emeter *em = &s->outlets[i].em;

		if (!s->outlets[i].have_em)
			return false;
		switch (kind) {
		case KASA_SENSOR_POWER: sum += em->power_w; break;
		case KASA_SENSOR_CURRENT: sum += em->current_a; break;
		case KASA_SENSOR_VOLTAGE: sum += em->voltage_v; break;
		case KASA_SENSOR_ENERGY: sum += em->total_kwh; break;
		default: return false;
		}
	}
	if (isnan(sum))
		return false;   /* a SMART device does not measure it */
	if (kind == KASA_SENSOR_VOLTAGE)
		sum /= (double)(to - from);
	*ret = sum;
	return true;
}

/* The four readings of outlet i (SIZE_MAX: the Mains), each as an
 * excerpt of its Sensor. */
static void put_readings(struct jb *b, struct json_object *o, const struct kasa_strip *s,
			 size_t outlet)
{
	static const char *const keys[KASA_SENSOR_COUNT] = {
		[KASA_SENSOR_POWER] = "PowerWatts",
		[KASA_SENSOR_CURRENT] = "CurrentAmps",
		[KASA_SENSOR_VOLTAGE] = "Voltage",
		[KASA_SENSOR_ENERGY] = "EnergykWh",
	};
	double v;

	for (int k = 0; k < KASA_SENSOR_COUNT; k++) {
		_cleanup_free_ char *su = kasa_sensor_uri(s, outlet, k);
		bool valid = sensor_value(s, outlet, k, &v);

		put_excerpt(b, o, keys[k], su, valid, v);
	}
}

struct json_object *kasa_doc_sensor(const struct kasa_strip *s, size_t outlet, enum kasa_sensor kind,
				    const char *uri)
{
	const char *id = strrchr(uri, '/') + 1;
	char name[96];
	double v;
	bool valid = sensor_value(s, outlet, kind, &v);
	struct jb b = { 0 };
	struct json_object *o, *related;

	if (outlet == SIZE_MAX)
		snprintf(name, sizeof(name), "Mains %s", sensor_kinds[kind].what);
	else
		snprintf(name, sizeof(name), "Outlet %zu %s", outlet + 1, sensor_kinds[kind].what);
	o = new_body(&b, uri, "#Sensor.v1_12_0.Sensor", id, name);
	put_str(&b, o, "ReadingType", sensor_kinds[kind].reading_type);
	put_str(&b, o, "ReadingUnits", sensor_kinds[kind].units);
	put_reading(&b, o, "Reading", valid, v);
	/* Kasa devices are single-phase: a line and the neutral. */
	put_str(&b, o, "ElectricalContext", kind == KASA_SENSOR_VOLTAGE ? "LineToNeutral" : "Total");
	if (outlet == SIZE_MAX) {
		/* Not a meter of its own: from the outlets' meters. */
		put_str(&b, o, "Implementation", "Synthesized");
		put_str(&b, o, "PhysicalContext", "ACInput");
	} else {
		put_str(&b, o, "Implementation", "PhysicalSensor");
		put_str(&b, o, "PhysicalContext", "PowerOutlet");
	}
	put_status(&b, o, s->online);
	related = json_object_new_array();
	if (related) {
		_cleanup_free_ char *ou = outlet == SIZE_MAX ? NULL : kasa_outlet_uri(s, outlet);
		const char *target = outlet == SIZE_MAX ? s->mains_circuit_uri : ou;
		struct json_object *l = target ? new_link(target) : NULL;

		if (!l || json_object_array_add(related, l) < 0) {
			json_object_put(l);
			b.oom = true;
		}
	}
	put(&b, o, "RelatedItem", related);
	return finish(&b, o);
}

/* ---- the strip's circuits: its inlet (Mains) and the one branch ------------ */

struct json_object *kasa_doc_circuit(const struct kasa_strip *s, bool mains)
{
	const char *uri = mains ? s->mains_circuit_uri : s->branch_circuit_uri;
	struct jb b = { 0 };
	struct json_object *o, *links;

	/* A Kasa strip has one inlet feeding all its outlets, without a
	 * breaker or meter of its own: the Mains circuit is that inlet, and
	 * one Branch (the whole strip) hangs off it. */
	o = new_body(&b, uri, "#Circuit.v1_9_0.Circuit", "1", mains ? "Mains" : "Branch");
	put_str(&b, o, "CircuitType", mains ? "Mains" : "Branch");
	put_status(&b, o, s->online);
	if (s->online)
		put_str(&b, o, "PowerState", "On");   /* the device answers through it */
	else
		put_null(&b, o, "PowerState");
	if (s->have_si)
		put_wiring(&b, o, s->si.model, false);
	/* The one branch carries what the inlet does: the same readings. */
	if (kasa_strip_metered(s))
		put_readings(&b, o, s, SIZE_MAX);
	links = json_object_new_object();
	if (mains) {
		put_links1(&b, links, "DistributionCircuits", s->branch_circuit_uri);
	} else {
		put_link(&b, links, "SourceCircuit", s->mains_circuit_uri);
		put_outlet_links(&b, s, links, "Outlets");
	}
	put(&b, o, "Links", links);
	return finish(&b, o);
}

/* ---- the chassis's power: PowerSubsystem and the deprecated Power --------- */

struct json_object *kasa_doc_power_subsystem(const struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o;

	/* No CapacityWatts, Allocation or PowerSupplies: the device reports
	 * none of them, and a strip feeds its outlets from the mains directly. */
	o = new_body(&b, s->power_subsystem_uri, "#PowerSubsystem.v1_1_3.PowerSubsystem",
		     "PowerSubsystem", "Power subsystem");
	put_status(&b, o, s->online);
	return finish(&b, o);
}

/* One member of a Power array: {"@odata.id": power#/array/i, "MemberId":
 * "i", "Name", "Status", "PhysicalContext", "RelatedItem": [outlet i]}. */
static struct json_object *power_member(struct jb *b, const struct kasa_strip *s, size_t i,
					const char *array, const char *outlet_uri)
{
	const char *alias = kasa_si_outlet_alias(&s->si, i);
	char id[512], member[24], name[40];
	struct json_object *m = json_object_new_object();
	struct json_object *related = json_object_new_array();
	struct json_object *l = outlet_uri ? new_link(outlet_uri) : NULL;

	snprintf(id, sizeof(id), "%s#/%s/%zu", s->power_uri, array, i);
	snprintf(member, sizeof(member), "%zu", i);
	snprintf(name, sizeof(name), "Outlet %zu", i + 1);
	put_str(b, m, "@odata.id", id);
	put_str(b, m, "MemberId", member);
	put_str(b, m, "Name", *alias ? alias : name);
	put_str(b, m, "PhysicalContext", "PowerOutlet");
	put_status(b, m, s->online);
	if (!related || !l || json_object_array_add(related, l) < 0) {
		json_object_put(l);
		b->oom = true;
	}
	put(b, m, "RelatedItem", related);
	return m;
}

struct json_object *kasa_doc_power(const struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *control, *volts;

	o = new_body(&b, s->power_uri, "#Power.v1_7_3.Power", "Power", "Power");
	control = json_object_new_array();
	volts = json_object_new_array();
	for (size_t i = 0; control && volts && i < s->n_outlets; i++) {
		_cleanup_free_ char *ou = kasa_outlet_uri(s, i);
		struct json_object *c = power_member(&b, s, i, "PowerControl", ou);
		struct json_object *v = power_member(&b, s, i, "Voltages", ou);
		double w, u;
		bool wv = sensor_value(s, i, KASA_SENSOR_POWER, &w);
		bool uv = sensor_value(s, i, KASA_SENSOR_VOLTAGE, &u);

		put_reading(&b, c, "PowerConsumedWatts", wv, w);
		put_reading(&b, v, "ReadingVolts", uv, u);
		if (!c || json_object_array_add(control, c) < 0) {
			json_object_put(c);
			b.oom = true;
		}
		if (!v || json_object_array_add(volts, v) < 0) {
			json_object_put(v);
			b.oom = true;
		}
	}
	put(&b, o, "PowerControl", control);
	put(&b, o, "PowerControl@odata.count", json_object_new_int64((int64_t)s->n_outlets));
	put(&b, o, "Voltages", volts);
	put(&b, o, "Voltages@odata.count", json_object_new_int64((int64_t)s->n_outlets));
	return finish(&b, o);
}

static const char *strip_title(const struct kasa_strip *s)
{
	return s->have_si && s->si.alias && *s->si.alias ? s->si.alias : s->name;
}

struct json_object *kasa_doc_pdu(const struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links;

	o = new_body(&b, s->pdu_uri, "#PowerDistribution.v1_6_0.PowerDistribution", s->name,
		     strip_title(s));
	put_str(&b, o, "EquipmentType", "RackPDU");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si) {
		put_str(&b, o, "Model", s->si.model);
		put_str(&b, o, "FirmwareVersion", s->si.sw_ver);
		if (s->si.hw_ver && *s->si.hw_ver)
			put_str(&b, o, "Version", s->si.hw_ver);
		put_str(&b, o, "UserLabel", s->si.alias);
		/* Kasa devices have no serial number; the deviceId is the
		 * identifier TP-Link allocates to each unit, so it serves as
		 * one, and the equipment's UUID is derived from it (the same
		 * device keeps both wherever it is served from). */
		if (*s->si.device_id) {
			char uuid[37], *name = NULL;

			put_str(&b, o, "SerialNumber", s->si.device_id);
			if (asprintf(&name, "kasa deviceId %s", s->si.device_id) < 0) {
				b.oom = true;
			} else {
				uuid_from_name(name, uuid);
				put_str(&b, o, "UUID", uuid);
				free(name);
			}
		}
	} else {
		put_null(&b, o, "Model");
	}
	put_status(&b, o, s->online);
	put_link(&b, o, "Outlets", s->outlets_uri);
	put_link(&b, o, "Mains", s->mains_uri);
	put_link(&b, o, "Branches", s->branches_uri);
	if (kasa_strip_metered(s)) {
		put_link(&b, o, "Metrics", s->metrics_uri);
		put_link(&b, o, "Sensors", s->sensors_uri);
	}
	links = json_object_new_object();
	put_links1(&b, links, "Chassis", s->chassis_uri);
	put_links1(&b, links, "ManagedBy", s->manager_uri);
	put(&b, o, "Links", links);
	return finish(&b, o);
}

/* Receptacle facts only where the model's region tells them truthfully. */

struct json_object *kasa_doc_outlet(const struct kasa_strip *s, size_t i, const char *uri)
{
	const struct kasa_outlet *ol = &s->outlets[i];
	bool live = s->online;
	bool metered = kasa_strip_metered(s);
	char id[24], name[40], target[512];
	const char *alias = kasa_si_outlet_alias(&s->si, i);
	struct jb b = { 0 };
	struct json_object *o, *links, *actions, *act, *vals;

	snprintf(id, sizeof(id), "%zu", i + 1);
	snprintf(name, sizeof(name), "Outlet %zu", i + 1);
	o = new_body(&b, uri, "#Outlet.v1_4_4.Outlet", id, *alias ? alias : name);
	put_str(&b, o, "UserLabel", alias);
	put_status(&b, o, live);
	if (live)
		put_str(&b, o, "PowerState", kasa_si_outlet_on(&s->si, i) ? "On" : "Off");
	else
		put_null(&b, o, "PowerState");
	put(&b, o, "PowerStateInTransition", json_object_new_boolean(ol->pending_on_ms != 0));
	put(&b, o, "PowerCycleDelaySeconds", json_object_new_int(KASA_CYCLE_DELAY_S));
	put_wiring(&b, o, s->si.model, true);
	if (metered)
		put_readings(&b, o, s, i);
	links = json_object_new_object();
	put_links1(&b, links, "Chassis", s->chassis_uri);
	put_link(&b, links, "BranchCircuit", s->branch_circuit_uri);
	put(&b, o, "Links", links);

	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/Outlet.PowerControl", uri);
	put_str(&b, act, "target", target);
	vals = json_object_new_array();
	if (vals) {
		static const char *const ps[] = { "On", "Off", "PowerCycle" };

		for (size_t k = 0; k < ARRAY_SIZE(ps); k++) {
			struct json_object *v = json_object_new_string(ps[k]);

			if (!v || json_object_array_add(vals, v) < 0) {
				json_object_put(v);
				b.oom = true;
			}
		}
	}
	put(&b, act, "PowerState@Redfish.AllowableValues", vals);
	put(&b, actions, "#Outlet.PowerControl", act);
	if (metered) {
		act = json_object_new_object();
		snprintf(target, sizeof(target), "%s/Actions/Outlet.ResetMetrics", uri);
		put_str(&b, act, "target", target);
		put(&b, actions, "#Outlet.ResetMetrics", act);
	}
	put(&b, o, "Actions", actions);
	return finish(&b, o);
}

struct json_object *kasa_doc_metrics(const struct kasa_strip *s)
{
	_cleanup_free_ char *pu = kasa_sensor_uri(s, SIZE_MAX, KASA_SENSOR_POWER);
	_cleanup_free_ char *eu = kasa_sensor_uri(s, SIZE_MAX, KASA_SENSOR_ENERGY);
	double watts, kwh;
	bool pv = sensor_value(s, SIZE_MAX, KASA_SENSOR_POWER, &watts);
	bool ev = sensor_value(s, SIZE_MAX, KASA_SENSOR_ENERGY, &kwh);
	char target[512];
	struct jb b = { 0 };
	struct json_object *o, *actions, *act;

	o = new_body(&b, s->metrics_uri, "#PowerDistributionMetrics.v1_4_0.PowerDistributionMetrics",
		     "Metrics", "Power distribution metrics");
	put_excerpt(&b, o, "PowerWatts", pu, pv, watts);
	put_excerpt(&b, o, "EnergykWh", eu, ev, kwh);
	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/PowerDistributionMetrics.ResetMetrics",
		 s->metrics_uri);
	put_str(&b, act, "target", target);
	put(&b, actions, "#PowerDistributionMetrics.ResetMetrics", act);
	put(&b, o, "Actions", actions);
	return finish(&b, o);
}

struct json_object *kasa_doc_chassis(const struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links;

	o = new_body(&b, s->chassis_uri, "#Chassis.v1_28_0.Chassis", s->name, strip_title(s));
	put_str(&b, o, "ChassisType", "PowerStrip");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si)
		put_str(&b, o, "Model", s->si.model);
	else
		put_null(&b, o, "Model");
	put_status(&b, o, s->online);
	if (s->online)
		put_str(&b, o, "PowerState", "On");   /* it answers, so it has power */
	else
		put_null(&b, o, "PowerState");
	put_link(&b, o, "PowerSubsystem", s->power_subsystem_uri);
	if (kasa_strip_metered(s)) {
		put_link(&b, o, "Sensors", s->sensors_uri);
		/* Deprecated for PowerSubsystem, but where older clients
		 * (sushy's chassis.power, redfishtool) look for watts. */
		put_link(&b, o, "Power", s->power_uri);
	}
	links = json_object_new_object();
	put_outlet_links(&b, s, links, "PowerOutlets");
	put_links1(&b, links, "ManagedBy", s->manager_uri);
	put_link(&b, links, "PowerDistribution", s->pdu_uri);
	put(&b, o, "Links", links);
	return finish(&b, o);
}

struct json_object *kasa_doc_manager(const struct kasa_strip *s)
{
	struct jb b = { 0 };
	struct json_object *o, *links, *actions, *act, *vals, *oem, *tp;
	char target[512];

	o = new_body(&b, s->manager_uri, "#Manager.v1_24_0.Manager", s->name, strip_title(s));
	/* ManagementController: "a controller that primarily monitors or manages
	 * the operation of a device or system" — the strip's own controller.
	 * (EnclosureManager aggregates other BMCs; Service is software.) */
	put_str(&b, o, "ManagerType", "ManagementController");
	put_str(&b, o, "Manufacturer", KASA_MANUFACTURER);
	if (s->have_si) {
		put_str(&b, o, "Model", s->si.model);
		put_str(&b, o, "FirmwareVersion", s->si.sw_ver);
	} else {
		put_null(&b, o, "Model");
		put_null(&b, o, "FirmwareVersion");
	}
	put_status(&b, o, s->online);
	if (s->online)
		put_str(&b, o, "PowerState", "On");
	else
		put_null(&b, o, "PowerState");

	actions = json_object_new_object();
	act = json_object_new_object();
	snprintf(target, sizeof(target), "%s/Actions/Manager.Reset", s->manager_uri);
	put_str(&b, act, "target", target);
	vals = json_object_new_array();
	if (vals) {
		struct json_object *v = json_object_new_string("GracefulRestart");

		if (!v || json_object_array_add(vals, v) < 0) {
			json_object_put(v);
			b.oom = true;
		}
	}
	put(&b, act, "ResetType@Redfish.AllowableValues", vals);
	put(&b, actions, "#Manager.Reset", act);
	put(&b, o, "Actions", actions);

	links = json_object_new_object();
	put_links1(&b, links, "ManagerForChassis", s->chassis_uri);
	put_link(&b, links, "ManagerInChassis", s->chassis_uri);
	put(&b, o, "Links", links);

	/* The Manager schema has no place for a MAC outside EthernetInterfaces,
	 * which a Kasa device cannot describe (no addressing, no link state). */
	if (s->have_si) {
		oem = json_object_new_object();
		tp = json_object_new_object();
		/* OEM objects name their type (the Service Validator warns otherwise). */
		put_str(&b, tp, "@odata.type", "#TPLinkManager.v1_0_0.TPLinkManager");
		put_str(&b, tp, "MACAddress", s->si.mac);
		put_str(&b, tp, "DeviceId", s->si.device_id);
		if (s->online)
			put(&b, tp, "LedOn", json_object_new_boolean(!s->si.led_off));
		else
			put_null(&b, tp, "LedOn");
		put(&b, oem, "TPLink", tp);
		put(&b, o, "Oem", oem);
	}
	return finish(&b, o);
}

