/* sim.c — kasa-sim, a simulated Kasa plug or power strip for tests and demos.
 *
 *   kasa-sim [--model hs300|plug|FIXTURE.json] [--listen ADDR[:PORT]]
 *            [--control ADDR:PORT] [--alias NAME] [--device-id HEX] [--log FILE]
 *
 * Serves the Kasa local protocol on TCP (length-prefixed) and UDP (bare) on
 * one port number, and a line-based control protocol on a loopback TCP port
 * through which tests press buttons, fix meter readings, count requests and
 * make the device misbehave or refuse one method with an err_code ("fail
 * METHOD CODE MESSAGE"; see the command table in sim_control()). Prints
 * "ready port=P control=C" once bound.
 *
 * Design: one thread, one ppoll() loop over the listening sockets, the UDP
 * socket(s) and every client connection. Nothing blocks: each connection has
 * its own frame reader (requests may arrive in pieces), its own output buffer,
 * and, in "slow MS" mode, its own send deadline, so a delayed answer never
 * holds up another client. SIGTERM/SIGINT are blocked except inside ppoll(),
 * so a signal ends the loop cleanly.
 *
 * Personalities: "hs300" (6 outlets, per-outlet meters in the new units
 * voltage_mv/current_ma/power_mw/total_wh), "plug" (an HS110: one relay,
 * meter in the old units voltage/current/power/total), or a fixture dump
 * ({"system":{"get_sysinfo":...},"emeter":{"get_realtime":...}}) whose
 * sysinfo is served with our own deviceId, MAC, child ids and live state;
 * its meter units and first reading come from its emeter dump, and a fixture
 * without ENE in its feature answers emeter with "module not support".
 * deviceId and MAC are derived from --device-id, else from the port, so a
 * restarted simulator on the same port is the same device. Child ids are
 * deviceId + "00", "01", ... as on a real HS300.
 *
 * Meters: while an outlet is on, power wanders a few percent around a
 * per-outlet base and the energy total grows with it; while off, power and
 * current are 0 (also for a meter fixed through the control port, whose
 * voltage and total stay as set). */
#include "kasa.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "sim.h"

static const char *const sim_mode_names[SIM_MODE_COUNT] = {
	[SIM_MODE_NORMAL] = "normal",
	[SIM_MODE_SILENT] = "silent",
	[SIM_MODE_CLOSE] = "close",
	[SIM_MODE_GARBAGE] = "garbage",
	[SIM_MODE_SLOW] = "slow",
	[SIM_MODE_OVERSIZE] = "oversize",
};

static enum sim_mode sim_mode_from_string(const char *s)
{
	for (int m = 0; s && m < SIM_MODE_COUNT; m++)
		if (strcmp(s, sim_mode_names[m]) == 0)
			return (enum sim_mode)m;
	return SIM_MODE_INVALID;
}

static volatile sig_atomic_t sim_signalled;

static void sim_on_signal(int sig)
{
	(void)sig;
	sim_signalled = 1;
}

void sim_logf(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->logf)
		return;
	va_start(ap, fmt);
	fprintf(s->logf, "%lld ", (long long)now_ms());
	vfprintf(s->logf, fmt, ap);
	fputc('\n', s->logf);
	fflush(s->logf);
	va_end(ap);
}

/* ---- personality ------------------------------------------------------------- */

static const char sim_hs300_json[] =
	"{\"sw_ver\":\"1.0.12 Build 220121 Rel.175814\",\"hw_ver\":\"2.0\","
	"\"model\":\"HS300(US)\",\"deviceId\":\"\",\"oemId\":\"5C9E6254BEBAED63B2B6102966D24C17\","
	"\"hwId\":\"34C41AA028022D0CCEA5E678E8547C54\",\"rssi\":-44,\"latitude_i\":0,"
	"\"longitude_i\":0,\"alias\":\"\",\"status\":\"new\",\"obd_src\":\"tplink\","
	"\"mic_type\":\"IOT.SMARTPLUGSWITCH\",\"feature\":\"TIM:ENE\",\"mac\":\"\","
	"\"updating\":0,\"led_off\":0,\"children\":[],\"child_num\":6,\"ntc_state\":0,"
	"\"err_code\":0}";

static const char sim_plug_json[] =
	"{\"sw_ver\":\"1.2.6 Build 200727 Rel.121701\",\"hw_ver\":\"1.0\","
	"\"type\":\"IOT.SMARTPLUGSWITCH\",\"model\":\"HS110(US)\",\"mac\":\"\","
	"\"dev_name\":\"Wi-Fi Smart Plug With Energy Monitoring\",\"alias\":\"\","
	"\"relay_state\":1,\"on_time\":0,\"active_mode\":\"none\",\"feature\":\"TIM:ENE\","
	"\"updating\":0,\"icon_hash\":\"\",\"rssi\":-40,\"led_off\":0,\"longitude_i\":0,"
	"\"latitude_i\":0,\"hwId\":\"60FF6B258734EA6880E186F8C96DDC61\","
	"\"fwId\":\"00000000000000000000000000000000\",\"deviceId\":\"\","
	"\"oemId\":\"FFF22CFF774A0B89F7624BFC6F50D5DE\",\"next_action\":{\"type\":-1},"
	"\"err_code\":0}";

void sim_outlet_init(struct sim_outlet *o, size_t i, bool on, int64_t now)
{
	static const double base[SIM_MAX_OUTLETS] = { 7300, 42100, 3900, 118600, 15200, 66400,
						      9100, 23500, 5100, 31000, 2700, 54000,
						      12000, 8800, 4400, 77000 };

	o->on = on;
	o->on_since_ms = now;
	o->base_mw = base[i];
	o->voltage_mv = 120400;
	o->total_wh = 1000.0 + 137.0 * (double)i;
	o->total_at_ms = now;
}

/* deviceId and MAC from --device-id or the port. */
static int sim_make_ids(struct sim *s, const char *device_id)
{
	uint64_t h;

	if (device_id) {
		size_t n = strlen(device_id);

		if (n == 0 || n > 64)
			return -EINVAL;
		for (size_t i = 0; i < n; i++) {
			if (!isxdigit((unsigned char)device_id[i]))
				return -EINVAL;
			s->device_id[i] = (char)toupper((unsigned char)device_id[i]);
		}
		s->device_id[n] = '\0';
	} else {
		char seed[32];
		uint64_t a, b, c;

		snprintf(seed, sizeof(seed), "kasa-sim:%u", (unsigned)s->port);
		a = hash_fnv1a64(seed, strlen(seed));
		b = hash_fnv1a64(&a, sizeof(a));
		c = hash_fnv1a64(&b, sizeof(b));
		snprintf(s->device_id, sizeof(s->device_id), "8006%016llX%016llX%04X",
			 (unsigned long long)a, (unsigned long long)b, (unsigned)(c & 0xffff));
	}
	h = hash_fnv1a64(s->device_id, strlen(s->device_id));
	snprintf(s->mac, sizeof(s->mac), "50:C7:BF:%02X:%02X:%02X", (unsigned)(h >> 16) & 0xff,
		 (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
	return 0;
}

json_object *sim_get(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

double sim_num(json_object *o, const char *key, double dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return dflt;
	return json_object_get_double(v);
}

/* Load a fixture as personality. Errors are printed: this is main's helper. */
static int sim_load_fixture(struct sim *s, const char *path, int64_t now)
{
	json_object *root, *sys, *info, *children, *feature, *em, *rt;
	bool ene = false;

	root = json_object_from_file(path);
	if (!root) {
		fprintf(stderr, "kasa-sim: %s: %s\n", path, json_util_get_last_err());
		return -EINVAL;
	}
	s->discovery = json_object_get(sim_get(root, "discovery_result", json_type_object));
	if (sim_get(root, "get_device_info", json_type_object)) {
		int r = sim_smart_load(s, root, path, now);

		json_object_put(root);
		return r;
	}
	sys = sim_get(root, "system", json_type_object);
	info = sys ? sim_get(sys, "get_sysinfo", json_type_object) : NULL;
	if (!info || !sim_get(info, "model", json_type_string)) {
		fprintf(stderr, "kasa-sim: %s: no system.get_sysinfo with a model\n", path);
		json_object_put(root);
		return -EINVAL;
	}
	json_object_deep_copy(info, &s->base, NULL);
	if (!s->base) {
		json_object_put(root);
		return -ENOMEM;
	}
	feature = sim_get(info, "feature", json_type_string);
	if (feature && strstr(json_object_get_string(feature), "ENE"))
		ene = true;
	children = sim_get(info, "children", json_type_array);
	if (children && json_object_array_length(children) > 0) {
		size_t n = json_object_array_length(children);

		if (n > SIM_MAX_OUTLETS) {
			fprintf(stderr, "kasa-sim: %s: more than %d children\n", path, SIM_MAX_OUTLETS);
			json_object_put(root);
			return -EINVAL;
		}
		s->strip = true;
		s->n_outlets = n;
		for (size_t i = 0; i < n; i++) {
			json_object *c = json_object_array_get_idx(children, i);
			json_object *a = sim_get(c, "alias", json_type_string);
			char dflt[32];

			snprintf(dflt, sizeof(dflt), "Plug %zu", i + 1);
			sim_outlet_init(&s->outlets[i], i, sim_num(c, "state", 0) != 0, now);
			s->outlets[i].alias = strdup(a ? json_object_get_string(a) : dflt);
		}
	} else {
		s->strip = false;
		s->n_outlets = 1;
		sim_outlet_init(&s->outlets[0], 0, sim_num(info, "relay_state", 0) != 0, now);
	}
	if (!s->alias) {
		json_object *a = sim_get(info, "alias", json_type_string);

		s->alias = strdup(a ? json_object_get_string(a) : "Kasa device");
	}
	s->led_off = sim_num(info, "led_off", 0) != 0;
	s->units = SIM_UNITS_NONE;
	em = sim_get(root, "emeter", json_type_object);
	rt = em ? sim_get(em, "get_realtime", json_type_object) : NULL;
	if (rt && sim_num(rt, "err_code", 0) == 0 &&
	    (json_object_object_get_ex(rt, "voltage_mv", NULL) ||
	     json_object_object_get_ex(rt, "voltage", NULL))) {
		bool isnew = json_object_object_get_ex(rt, "voltage_mv", NULL);
		double k = isnew ? 1 : 1000;

		s->units = isnew ? SIM_UNITS_NEW : SIM_UNITS_OLD;
		for (size_t i = 0; i < s->n_outlets; i++) {
			struct sim_outlet *o = &s->outlets[i];

			o->voltage_mv = sim_num(rt, isnew ? "voltage_mv" : "voltage", 120.4 * 1000 / k) * k;
			o->total_wh = sim_num(rt, isnew ? "total_wh" : "total", 0) * k;
			double mw = sim_num(rt, isnew ? "power_mw" : "power", 0) * k;

			if (mw > 0)   /* a dump taken while off keeps our default load */
				o->base_mw = mw;
		}
	} else if (ene) {
		s->units = SIM_UNITS_NEW;
	}
	json_object_object_del(s->base, "children");
	json_object_put(root);
	return 0;
}

static int sim_personality(struct sim *s, const char *model, const char *alias, int64_t now)
{
	const char *tmpl;
	char dflt[64];

	if (alias) {
		s->alias = strdup(alias);
		if (!s->alias)
			return -ENOMEM;
	}
	if (strcmp(model, "hs300") == 0) {
		tmpl = sim_hs300_json;
		s->strip = true;
		s->n_outlets = 6;
		s->units = SIM_UNITS_NEW;
		snprintf(dflt, sizeof(dflt), "TP-LINK_Power Strip_%c%c%c%c", s->mac[12], s->mac[13],
			 s->mac[15], s->mac[16]);
	} else if (strcmp(model, "plug") == 0) {
		tmpl = sim_plug_json;
		s->strip = false;
		s->n_outlets = 1;
		s->units = SIM_UNITS_OLD;
		snprintf(dflt, sizeof(dflt), "TP-LINK_Smart Plug_%c%c%c%c", s->mac[12], s->mac[13],
			 s->mac[15], s->mac[16]);
	} else {
		return sim_load_fixture(s, model, now);
	}
	s->base = json_tokener_parse(tmpl);
	if (!s->base)
		return -ENOMEM;
	json_object_object_del(s->base, "children");
	if (!s->alias)
		s->alias = strdup(dflt);
	for (size_t i = 0; i < s->n_outlets; i++) {
		char name[32];

		snprintf(name, sizeof(name), "Plug %zu", i + 1);
		sim_outlet_init(&s->outlets[i], i, true, now);
		s->outlets[i].alias = strdup(name);
	}
	return 0;
}

static int sim_finish_outlets(struct sim *s)
{
	if (!s->alias)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_outlets; i++) {
		if (!s->outlets[i].alias && s->strip)
			return -ENOMEM;
		snprintf(s->outlets[i].id, sizeof(s->outlets[i].id), "%s%02u", s->device_id, (unsigned)(i & 0xff));
	}
	return 0;
}

/* ---- state ------------------------------------------------------------------- */

void sim_set_on(struct sim_outlet *o, bool on, int64_t now)
{
	if (o->on == on)
		return;
	o->on = on;
	o->on_since_ms = now;
}

/* A triangle wave in [-1, 1] with the given period, shifted by phase_ms
 * (cheap, smooth enough for a meter, and needs no libm). */
static double sim_wave(int64_t now, int64_t period_ms, int64_t phase_ms)
{
	double t = (double)((now + phase_ms) % period_ms) / (double)period_ms;

	return 4.0 * (t < 0.5 ? 0.5 - t : t - 0.5) - 1.0;
}

long long sim_round(double d)
{
	return (long long)(d >= 0 ? d + 0.5 : d - 0.5);
}

/* The meter of outlet o now; total brought up to date. */
void sim_meter(struct sim_outlet *o, int64_t now, size_t idx, double *ret_mw,
		      double *ret_mv, double *ret_ma)
{
	double mv, mw, ma;

	if (o->fixed) {
		mv = o->fix_mv;
		mw = o->on ? o->fix_mw : 0;
		ma = o->on ? o->fix_ma : 0;
	} else {
		mv = o->voltage_mv + 250.0 * sim_wave(now, 41000, 7000 * (int64_t)idx);
		mw = o->on ? o->base_mw * (1.0 + 0.03 * sim_wave(now, 17000, 2900 * (int64_t)idx)) : 0;
		ma = mv > 0 ? mw * 1000.0 / mv : 0;
		if (now > o->total_at_ms)
			o->total_wh += mw / 1000.0 * (double)(now - o->total_at_ms) / 3600000.0;
	}
	o->total_at_ms = now;
	*ret_mw = mw;
	*ret_mv = mv;
	*ret_ma = ma;
}

/* ---- device requests ------------------------------------------------------------ */

static json_object *sim_err(int code, const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "err_code", json_object_new_int(code));
	json_object_object_add(o, "err_msg", json_object_new_string(msg));
	return o;
}

static json_object *sim_ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "err_code", json_object_new_int(0));
	return o;
}

static json_object *sim_sysinfo(struct sim *s, int64_t now)
{
	json_object *info = NULL;

	json_object_deep_copy(s->base, &info, NULL);
	if (!info)
		return sim_err(-1, "out of memory");
	json_object_object_add(info, "deviceId", json_object_new_string(s->device_id));
	json_object_object_add(info, "mac", json_object_new_string(s->mac));
	json_object_object_add(info, "alias", json_object_new_string(s->alias));
	json_object_object_add(info, "led_off", json_object_new_int(s->led_off));
	json_object_object_add(info, "err_code", json_object_new_int(0));
	if (s->strip) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < s->n_outlets; i++) {
			struct sim_outlet *o = &s->outlets[i];
			json_object *c = json_object_new_object();
			json_object *na = json_object_new_object();

			json_object_object_add(c, "id", json_object_new_string(o->id));
			json_object_object_add(c, "state", json_object_new_int(o->on));
			json_object_object_add(c, "alias", json_object_new_string(o->alias));
			json_object_object_add(c, "on_time",
					       json_object_new_int64(o->on ? (now - o->on_since_ms) / 1000 : 0));
			json_object_object_add(na, "type", json_object_new_int(-1));
			json_object_object_add(c, "next_action", na);
			json_object_array_add(arr, c);
		}
		json_object_object_add(info, "children", arr);
		json_object_object_add(info, "child_num", json_object_new_int((int)s->n_outlets));
	} else {
		struct sim_outlet *o = &s->outlets[0];

		json_object_object_add(info, "relay_state", json_object_new_int(o->on));
		json_object_object_add(info, "on_time",
				       json_object_new_int64(o->on ? (now - o->on_since_ms) / 1000 : 0));
	}
	return info;
}

/* Outlets addressed by a request: ret[i] set for each. 0, or -1 when a child
 * id is unknown or the context is malformed. No context: all outlets. */
static int sim_targets(struct sim *s, json_object *ctx, bool ret[SIM_MAX_OUTLETS], size_t *ret_first)
{
	json_object *ids;
	size_t n, first = SIZE_MAX;

	memset(ret, 0, sizeof(bool) * SIM_MAX_OUTLETS);
	if (!ctx) {
		for (size_t i = 0; i < s->n_outlets; i++)
			ret[i] = true;
		*ret_first = SIZE_MAX;
		return 0;
	}
	if (!json_object_is_type(ctx, json_type_object) ||
	    !(ids = sim_get(ctx, "child_ids", json_type_array)) || !s->strip)
		return -1;
	n = json_object_array_length(ids);
	if (n == 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		json_object *id = json_object_array_get_idx(ids, k);
		const char *str;
		bool found = false;

		if (!json_object_is_type(id, json_type_string))
			return -1;
		str = json_object_get_string(id);
		for (size_t i = 0; i < s->n_outlets; i++) {
			const char *short_id = s->outlets[i].id + strlen(s->device_id);

			if (strcmp(str, s->outlets[i].id) == 0 || strcmp(str, short_id) == 0) {
				ret[i] = true;
				found = true;
				if (first == SIZE_MAX)
					first = i;
			}
		}
		if (!found)
			return -1;
	}
	*ret_first = first;
	return 0;
}

static bool sim_arg_flag(json_object *args, const char *key, bool *ret)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(args, key, &v))
		return false;
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	if (i != 0 && i != 1)
		return false;
	*ret = i;
	return true;
}

static json_object *sim_emeter_reading(struct sim *s, bool targets[], size_t first, int64_t now)
{
	double mw = 0, mv = 0, ma = 0, wh = 0;
	json_object *o = json_object_new_object();
	bool got_v = false;

	for (size_t i = 0; i < s->n_outlets; i++) {
		double w, v, a;

		if (first != SIZE_MAX ? i != first : !targets[i])
			continue;
		sim_meter(&s->outlets[i], now, i, &w, &v, &a);
		mw += w;
		ma += a;
		wh += s->outlets[i].total_wh;
		if (!got_v) {
			mv = v;
			got_v = true;
		}
	}
	if (s->units == SIM_UNITS_NEW) {
		if (first != SIZE_MAX)
			json_object_object_add(o, "slot_id", json_object_new_int((int)first));
		json_object_object_add(o, "voltage_mv", json_object_new_int64(sim_round(mv)));
		json_object_object_add(o, "current_ma", json_object_new_int64(sim_round(ma)));
		json_object_object_add(o, "power_mw", json_object_new_int64(sim_round(mw)));
		json_object_object_add(o, "total_wh", json_object_new_int64(sim_round(wh)));
	} else {
		json_object_object_add(o, "voltage", json_object_new_double(mv / 1000.0));
		json_object_object_add(o, "current", json_object_new_double(ma / 1000.0));
		json_object_object_add(o, "power", json_object_new_double(mw / 1000.0));
		json_object_object_add(o, "total", json_object_new_double(wh / 1000.0));
	}
	json_object_object_add(o, "err_code", json_object_new_int(0));
	return o;
}

/* One method of one module. Returns its reply object (new reference). */
static json_object *sim_method(struct sim *s, const char *module, const char *method,
			       json_object *args, json_object *ctx, int64_t now)
{
	bool targets[SIM_MAX_OUTLETS];
	size_t first;
	bool flag;

	if (ctx && sim_targets(s, ctx, targets, &first) < 0)
		return sim_err(-14, "entry not exist");
	if (!ctx)
		sim_targets(s, NULL, targets, &first);
	if (!json_object_is_type(args, json_type_object))
		return sim_err(-3, "invalid argument");
	if (s->fail_method[0] && strcmp(method, s->fail_method) == 0)
		return sim_err(s->fail_code, s->fail_msg);

	if (strcmp(module, "system") == 0) {
		if (strcmp(method, "get_sysinfo") == 0)
			return sim_sysinfo(s, now);
		if (strcmp(method, "set_relay_state") == 0) {
			if (!sim_arg_flag(args, "state", &flag))
				return sim_err(-3, "invalid argument");
			for (size_t i = 0; i < s->n_outlets; i++)
				if (targets[i])
					sim_set_on(&s->outlets[i], flag, now);
			return sim_ok();
		}
		if (strcmp(method, "set_dev_alias") == 0) {
			json_object *a = sim_get(args, "alias", json_type_string);
			char *copy;

			if (!a || json_object_get_string_len(a) > 64)
				return sim_err(-3, "invalid argument");
			if (ctx) {
				for (size_t i = 0; i < s->n_outlets; i++) {
					if (!targets[i])
						continue;
					copy = strdup(json_object_get_string(a));
					if (!copy)
						return sim_err(-1, "out of memory");
					free(s->outlets[i].alias);
					s->outlets[i].alias = copy;
				}
			} else {
				copy = strdup(json_object_get_string(a));
				if (!copy)
					return sim_err(-1, "out of memory");
				free(s->alias);
				s->alias = copy;
			}
			return sim_ok();
		}
		if (strcmp(method, "set_led_off") == 0) {
			if (!sim_arg_flag(args, "off", &flag))
				return sim_err(-3, "invalid argument");
			s->led_off = flag;
			return sim_ok();
		}
		if (strcmp(method, "reboot") == 0) {
			json_object *d = sim_get(args, "delay", json_type_int);

			if (!d || json_object_get_int64(d) < 0)
				return sim_err(-3, "invalid argument");
			return sim_ok();
		}
		return sim_err(-2, "member not support");
	}
	if (strcmp(module, "emeter") == 0) {
		if (strcmp(method, "get_realtime") == 0)
			return sim_emeter_reading(s, targets, first, now);
		if (strcmp(method, "erase_emeter_stat") == 0) {
			for (size_t i = 0; i < s->n_outlets; i++) {
				if (!targets[i])
					continue;
				s->outlets[i].total_wh = 0;
				s->outlets[i].total_at_ms = now;
			}
			return sim_ok();
		}
		return sim_err(-2, "member not support");
	}
	return sim_err(-2, "member not support");
}

/* Answer a whole request (text). Returns the reply JSON text (malloc'd). */
char *sim_answer(struct sim *s, const char *text, int64_t now)
{
	json_object *req = json_tokener_parse(text);
	json_object *reply = json_object_new_object();
	json_object *ctx = NULL;
	char *out;

	if (!json_object_is_type(req, json_type_object)) {
		json_object_put(reply);
		json_object_put(req);
		reply = sim_err(-1, "invalid request");
		out = strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
		json_object_put(reply);
		return out;
	}
	json_object_object_get_ex(req, "context", &ctx);
	json_object_object_foreach(req, module, methods) {
		json_object *mreply;

		if (strcmp(module, "context") == 0)
			continue;
		if ((strcmp(module, "system") != 0 &&
		     !(strcmp(module, "emeter") == 0 && s->units != SIM_UNITS_NONE)) ||
		    !json_object_is_type(methods, json_type_object)) {
			json_object_object_add(reply, module, sim_err(-1, "module not support"));
			continue;
		}
		mreply = json_object_new_object();
		json_object_object_foreach(methods, method, args)
			json_object_object_add(mreply, method,
					       sim_method(s, module, method, args, ctx, now));
		json_object_object_add(reply, module, mreply);
	}
	out = strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	json_object_put(reply);
	json_object_put(req);
	return out;
}

void sim_record(struct sim *s, const char *text)
{
	json_object *o = json_tokener_parse(text);
	char *copy;

	copy = strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : text);
	json_object_put(o);
	if (!copy)
		return;
	sim_logf(s, "<- %s", copy);
	if (s->n_log >= SIM_MAX_LOG) {
		free(s->log[0]);
		memmove(s->log, s->log + 1, (s->n_log - 1) * sizeof(*s->log));
		s->n_log--;
	}
	if (s->n_log % 256 == 0) {
		char **nl = realloc(s->log, (s->n_log + 256) * sizeof(*s->log));

		if (!nl) {
			free(copy);
			return;
		}
		s->log = nl;
	}
	s->log[s->n_log++] = copy;
}

/* ---- connections ------------------------------------------------------------- */

static int sim_out_append(struct sim_conn *c, const void *data, size_t len)
{
	uint8_t *n;

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	n = realloc(c->out, c->out_len + len);
	if (!n)
		return -ENOMEM;
	c->out = n;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

/* Send what we can; -1 when the connection is dead. */
static int sim_flush(struct sim_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		c->out_off += (size_t)n;
	}
	return 0;
}

static struct sim_conn *sim_conn_free(struct sim_conn *c)
{
	if (!c)
		return NULL;
	close(c->fd);
	kasa_frame_reset(&c->rd);
	free(c->out);
	free(c->slow);
	free(c);
	return NULL;
}

static void sim_accept(struct sim *s, int lfd, bool control)
{
	struct sim_conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->n_conns >= SIM_MAX_CONNS) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->control = control;
	s->conns[s->n_conns++] = c;
}

static const char sim_garbage[] = "<html>this is not JSON {{{";

/* A device request arrived on a TCP connection: answer as the mode says. */
static void sim_device_request(struct sim *s, struct sim_conn *c, const char *text, int64_t now)
{
	uint8_t *frame = NULL;
	size_t flen;
	char *reply;

	sim_record(s, text);
	switch (s->mode) {
	case SIM_MODE_SILENT:
		return;
	case SIM_MODE_CLOSE:
		c->closing = true;
		c->out_off = c->out_len = 0;
		return;
	case SIM_MODE_OVERSIZE: {
		uint32_t big = KASA_MAX_FRAME + 1;
		uint8_t hdr[20] = { (uint8_t)(big >> 24), (uint8_t)(big >> 16), (uint8_t)(big >> 8),
				    (uint8_t)big, 0xd0, 0xf2, 0x81, 0xf8 };

		sim_out_append(c, hdr, sizeof(hdr));
		return;
	}
	case SIM_MODE_GARBAGE:
		if (kasa_frame_encode(sim_garbage, strlen(sim_garbage), &frame, &flen) == 0)
			sim_out_append(c, frame, flen);
		free(frame);
		return;
	default:
		break;
	}
	reply = sim_answer(s, text, now);
	if (!reply)
		return;
	sim_logf(s, "-> %s", reply);
	if (kasa_frame_encode(reply, strlen(reply), &frame, &flen) < 0) {
		free(reply);
		return;
	}
	free(reply);
	if (s->mode == SIM_MODE_SLOW) {
		free(c->slow);
		c->slow = frame;
		c->slow_len = flen;
		c->slow_at = now + s->slow_ms;
		return;
	}
	sim_out_append(c, frame, flen);
	free(frame);
}

/* Parse outlet number N (1-based; 0 allowed when zero_ok). */
static int sim_outlet_arg(struct sim *s, const char *arg, bool zero_ok, size_t *ret)
{
	char *end;
	long n;

	if (!arg)
		return -1;
	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || *end || end == arg || n < (zero_ok ? 0 : 1) || (size_t)n > s->n_outlets)
		return -1;
	*ret = (size_t)n;
	return 0;
}

static bool sim_parse_num(const char *arg, double *ret)
{
	char *end;
	double d;

	if (!arg)
		return false;
	errno = 0;
	d = strtod(arg, &end);
	if (errno || *end || end == arg || d != d || d > 1e15 || d < 0)
		return false;
	*ret = d;
	return true;
}

static int sim_reply(struct sim_conn *c, const char *fmt, ...) _printf_(2, 3);
static int sim_reply(struct sim_conn *c, const char *fmt, ...)
{
	char buf[SIM_MAX_LINE + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	sim_out_append(c, buf, (size_t)n);
	return 0;
}

/* One control line; the reply is queued on c. Always 0. */
static int sim_control(struct sim *s, struct sim_conn *c, char *line, int64_t now)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = strtok_r(NULL, " \t\r", &save);
	size_t n;

	sim_logf(s, "control: %s%s%s", cmd ? cmd : "", a1 ? " " : "", a1 ? a1 : "");
	if (!cmd) {
		sim_reply(c, "error empty command");
	} else if (strcmp(cmd, "press") == 0) {
		if (sim_outlet_arg(s, a1, false, &n) < 0)
			return sim_reply(c, "error bad outlet");
		sim_set_on(&s->outlets[n - 1], !s->outlets[n - 1].on, now);
		sim_reply(c, "ok %s", s->outlets[n - 1].on ? "on" : "off");
	} else if (strcmp(cmd, "set") == 0) {
		char *a2 = strtok_r(NULL, " \t\r", &save);

		if (sim_outlet_arg(s, a1, false, &n) < 0)
			return sim_reply(c, "error bad outlet");
		if (!a2 || (strcmp(a2, "on") != 0 && strcmp(a2, "off") != 0))
			return sim_reply(c, "error expected on or off");
		sim_set_on(&s->outlets[n - 1], strcmp(a2, "on") == 0, now);
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "state") == 0) {
		if (sim_outlet_arg(s, a1, false, &n) < 0)
			return sim_reply(c, "error bad outlet");
		sim_reply(c, "ok %s", s->outlets[n - 1].on ? "on" : "off");
	} else if (strcmp(cmd, "alias") == 0) {
		if (sim_outlet_arg(s, a1, true, &n) < 0)
			return sim_reply(c, "error bad outlet");
		sim_reply(c, "ok %s", n == 0 ? s->alias :
				       s->outlets[n - 1].alias ? s->outlets[n - 1].alias : s->alias);
	} else if (strcmp(cmd, "meter") == 0) {
		double v[4];
		bool ok = sim_outlet_arg(s, a1, false, &n) == 0;

		for (size_t i = 0; i < 4; i++)
			ok = sim_parse_num(strtok_r(NULL, " \t\r", &save), &v[i]) && ok;
		if (!ok)
			return sim_reply(c, "error usage: meter N POWER_MW VOLTAGE_MV CURRENT_MA TOTAL_WH");
		s->outlets[n - 1].fixed = true;
		s->outlets[n - 1].fix_mw = v[0];
		s->outlets[n - 1].fix_mv = v[1];
		s->outlets[n - 1].fix_ma = v[2];
		s->outlets[n - 1].total_wh = v[3];
		s->outlets[n - 1].total_at_ms = now;
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "mode") == 0) {
		enum sim_mode m = sim_mode_from_string(a1);

		if (m == SIM_MODE_INVALID)
			return sim_reply(c, "error unknown mode");
		if (m == SIM_MODE_SLOW) {
			char *a2 = strtok_r(NULL, " \t\r", &save);
			char *end;
			long ms;

			errno = 0;
			ms = a2 ? strtol(a2, &end, 10) : -1;
			if (!a2 || errno || *end || ms < 0 || ms > 3600000)
				return sim_reply(c, "error usage: mode slow MS");
			s->slow_ms = (int)ms;
		}
		s->mode = m;
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "fail") == 0) {
		/* fail METHOD CODE MESSAGE... | fail off */
		char *code = strtok_r(NULL, " \t\r", &save);
		char *msg = save && *save ? save : NULL;
		char *end;
		long v;

		if (a1 && strcmp(a1, "off") == 0 && !code) {
			s->fail_method[0] = '\0';
			return sim_reply(c, "ok");
		}
		errno = 0;
		v = code ? strtol(code, &end, 10) : 0;
		if (!a1 || strlen(a1) >= sizeof(s->fail_method) || !code || errno || *end || v == 0 ||
		    v < -100000 || v > 100000)
			return sim_reply(c, "error usage: fail METHOD CODE [MESSAGE] | fail off");
		snprintf(s->fail_method, sizeof(s->fail_method), "%s", a1);
		s->fail_code = (int)v;
		snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", msg ? msg : "");
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "count") == 0) {
		/* TEXT is the rest of the line after "count ". */
		const char *text = a1;
		size_t cnt = 0;

		if (a1 && save && *save)
			a1[strlen(a1)] = ' ';   /* undo strtok's cut: TEXT may hold spaces */
		for (size_t i = 0; i < s->n_log; i++)
			if (!text || strstr(s->log[i], text))
				cnt++;
		sim_reply(c, "ok %zu", cnt);
	} else if (strcmp(cmd, "log") == 0) {
		sim_reply(c, "ok %zu", s->n_log);
		for (size_t i = 0; i < s->n_log; i++) {
			sim_out_append(c, s->log[i], strlen(s->log[i]));
			sim_out_append(c, "\n", 1);
		}
	} else if (strcmp(cmd, "clear") == 0) {
		for (size_t i = 0; i < s->n_log; i++)
			free(s->log[i]);
		free(s->log);
		s->log = NULL;
		s->n_log = 0;
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "account") == 0) {
		/* account USER PASS: the owner changed the account (sessions end) */
		char *a2 = strtok_r(NULL, " \t\r", &save);

		if (!a1 || !a2 || sim_http_account(s, a1, a2) < 0)
			return sim_reply(c, "error usage: account USER PASSWORD (KLAP/AES only)");
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "expire") == 0) {
		sim_http_expire(s);   /* every KLAP/AES session ends at the device */
		sim_reply(c, "ok");
	} else if (strcmp(cmd, "quit") == 0) {
		sim_reply(c, "ok");
		s->quit = true;
	} else {
		sim_reply(c, "error unknown command");
	}
	return 0;
}

/* Data is readable on c. Returns -1 when c is to be closed. */
static int sim_conn_read(struct sim *s, struct sim_conn *c, int64_t now)
{
	uint8_t buf[16384];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	size_t off = 0;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	if (c->control) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				c->line[c->line_len] = '\0';
				sim_control(s, c, c->line, now);
				c->line_len = 0;
			} else if (c->line_len < sizeof(c->line) - 1) {
				c->line[c->line_len++] = (char)buf[i];
			}
		}
		return 0;
	}
	while (off < (size_t)n && !c->closing && !c->slow) {
		size_t used = 0;
		int r = kasa_frame_feed(&c->rd, buf + off, (size_t)n - off, &used);

		if (r < 0) {
			sim_logf(s, "bad frame: %s", strerror(-r));
			return -1;
		}
		off += used;
		if (r == 1) {
			sim_device_request(s, c, c->rd.payload, now);
			kasa_frame_reset(&c->rd);
		}
	}
	return 0;
}

static void sim_udp_read(struct sim *s, int fd, int64_t now)
{
	static uint8_t buf[SIM_UDP_MAX + 1];
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	struct sim_udp_pending *p;
	ssize_t n = recvfrom(fd, buf, SIM_UDP_MAX, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	const char *reply_text;
	char *reply = NULL;

	if (n <= 0)
		return;
	kasa_decrypt(buf, (size_t)n, buf);
	buf[n] = '\0';
	sim_record(s, (const char *)buf);
	switch (s->mode) {
	case SIM_MODE_SILENT:
	case SIM_MODE_CLOSE:
	case SIM_MODE_OVERSIZE:
		return;
	case SIM_MODE_GARBAGE:
		reply_text = sim_garbage;
		break;
	default:
		reply = sim_answer(s, (const char *)buf, now);
		if (!reply)
			return;
		reply_text = reply;
		break;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		free(reply);
		return;
	}
	p->len = strlen(reply_text);
	p->data = malloc(p->len ? p->len : 1);
	if (!p->data) {
		free(p);
		free(reply);
		return;
	}
	kasa_encrypt((const uint8_t *)reply_text, p->len, p->data);
	free(reply);
	p->to = from;
	p->to_len = from_len;
	p->at = s->mode == SIM_MODE_SLOW ? now + s->slow_ms : now;
	p->next = s->udp_pending;
	s->udp_pending = p;
}

static void sim_udp_send_due(struct sim *s, int64_t now)
{
	struct sim_udp_pending **pp = &s->udp_pending;

	while (*pp) {
		struct sim_udp_pending *p = *pp;

		if (p->at > now) {
			pp = &p->next;
			continue;
		}
		sendto(s->udp_fd, p->data, p->len, MSG_DONTWAIT | MSG_NOSIGNAL,
		       (struct sockaddr *)&p->to, p->to_len);
		*pp = p->next;
		free(p->data);
		free(p);
	}
}

/* ---- sockets and main loop ----------------------------------------------------- */

/* Split "ADDR[:PORT]" into an IPv4 address and port. */
static int sim_parse_addr(const char *arg, uint16_t dflt_port, struct sockaddr_in *ret)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	size_t hl = colon ? (size_t)(colon - arg) : strlen(arg);
	unsigned long port = dflt_port;

	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, arg, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port > 65535)
			return -EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &ret->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int sim_socket(int type, const struct sockaddr_in *sa, bool reuse)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0)) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static uint16_t sim_local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return 0;
	return ntohs(sa.sin_port);
}

/* TCP and UDP on one port number; port 0 picks a free one. */
static int sim_bind_device(struct sim *s, const struct sockaddr_in *addr)
{
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in sa = *addr;
		int tfd, ufd;

		tfd = sim_socket(SOCK_STREAM, &sa, true);
		if (tfd < 0)
			return tfd;
		sa.sin_port = htons(sim_local_port(tfd));
		ufd = sim_socket(SOCK_DGRAM, &sa, true);
		if (ufd < 0) {
			close(tfd);
			if (ufd == -EADDRINUSE && addr->sin_port == 0)
				continue;
			return ufd;
		}
		s->tcp_fd = tfd;
		s->udp_fd = ufd;
		s->port = ntohs(sa.sin_port);
		/* On loopback a socket bound to 127.x does not see datagrams to
		 * 127.255.255.255; a second one bound there receives broadcast
		 * discovery (answers go out through udp_fd). Best effort. */
		if ((ntohl(addr->sin_addr.s_addr) >> 24) == 127) {
			struct sockaddr_in b = sa;

			b.sin_addr.s_addr = htonl(0x7fffffff);
			s->bcast_fd = sim_socket(SOCK_DGRAM, &b, true);
		}
		return 0;
	}
	return -EADDRINUSE;
}

static void sim_usage(FILE *f)
{
	fprintf(f, "usage: kasa-sim [--model hs300|plug|FIXTURE.json] [--listen ADDR[:PORT]]\n"
		   "                [--control ADDR:PORT] [--alias NAME] [--device-id HEX] [--log FILE]\n"
		   "                [--transport xor|klap|aes] [--klap-version 1|2]\n"
		   "                [--username USER] [--password PASS] [--session-timeout S]\n"
		   "                [--discovery-port P] [--page-size N]\n");
}

static void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->n_conns; i++)
		sim_conn_free(s->conns[i]);
	while (s->udp_pending) {
		struct sim_udp_pending *p = s->udp_pending;

		s->udp_pending = p->next;
		free(p->data);
		free(p);
	}
	for (size_t i = 0; i < s->n_log; i++)
		free(s->log[i]);
	free(s->log);
	for (size_t i = 0; i < s->n_outlets; i++)
		free(s->outlets[i].alias);
	free(s->alias);
	json_object_put(s->base);
	sim_http_stop(s);
	json_object_put(s->smart);
	json_object_put(s->discovery);
	if (s->disc_fd >= 0)
		close(s->disc_fd);
	if (s->disc_bcast_fd >= 0)
		close(s->disc_bcast_fd);
	if (s->tcp_fd >= 0)
		close(s->tcp_fd);
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	if (s->bcast_fd >= 0)
		close(s->bcast_fd);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	if (s->logf)
		fclose(s->logf);
}

/* The transport: --transport, else the fixture's discovery_result says
 * (KLAP or AES), else XOR. The KLAP version: --klap-version, else 2 for
 * SMART devices and IOT ones with new_klap or lv 2, else 1. */
static void sim_pick_transport(struct sim *s, const char *model)
{
	json_object *root = NULL, *res, *schm, *enc;

	if (strcmp(model, "hs300") != 0 && strcmp(model, "plug") != 0)
		root = json_object_from_file(model);
	res = sim_get(sim_get(root, "discovery_result", json_type_object), "result", json_type_object);
	schm = sim_get(res, "mgt_encrypt_schm", json_type_object);
	enc = sim_get(schm, "encrypt_type", json_type_string);
	if (s->transport == KASA_TRANSPORT_AUTO)
		s->transport = enc && strcasecmp(json_object_get_string(enc), "AES") == 0 ? KASA_TRANSPORT_AES :
			       enc && strcasecmp(json_object_get_string(enc), "KLAP") == 0 ? KASA_TRANSPORT_KLAP :
			       KASA_TRANSPORT_XOR;
	if (s->klap_version == 0)
		s->klap_version = sim_get(root, "get_device_info", json_type_object) ||
				  sim_num(schm, "lv", 1) == 2 || sim_num(res, "new_klap", 0) == 1 ? 2 : 1;
	json_object_put(root);
}

/* HTTP on the device socket; the UDP of the XOR protocol closed, the
 * discovery port opened (on loopback also at 127.255.255.255). */
static int sim_http_serve(struct sim *s)
{
	struct sockaddr_in d = s->listen_sa;
	int r;

	if (!s->username)
		s->username = "";   /* an unbound device: the blank account */
	if (!s->password)
		s->password = "";
	close(s->udp_fd);
	s->udp_fd = -1;
	if (s->bcast_fd >= 0)
		close(s->bcast_fd);
	s->bcast_fd = -1;
	r = sim_http_start(s);
	if (r < 0)
		return r;
	if (s->disc_port == 0)
		return 0;
	d.sin_port = htons(s->disc_port);
	s->disc_fd = sim_socket(SOCK_DGRAM, &d, true);
	if (s->disc_fd < 0)
		return s->disc_fd;
	if ((ntohl(d.sin_addr.s_addr) >> 24) == 127) {
		d.sin_addr.s_addr = htonl(0x7fffffff);
		s->disc_bcast_fd = sim_socket(SOCK_DGRAM, &d, true);
	}
	return 0;
}

static int sim_loop(struct sim *s, const sigset_t *waitmask)
{
	struct pollfd pfds[SIM_MAX_CONNS + 7];

	while (!s->quit && !sim_signalled) {
		int64_t now = now_ms(), next = now + 60000;
		struct timespec ts;
		size_t base = 0;
		int r;

		pfds[base++] = (struct pollfd){ .fd = s->tcp_fd, .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = s->udp_fd, .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = s->bcast_fd, .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = s->ctl_fd, .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = sim_http_fd(s), .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = s->disc_fd, .events = POLLIN };
		pfds[base++] = (struct pollfd){ .fd = s->disc_bcast_fd, .events = POLLIN };
		if (s->http) {
			int64_t t = sim_http_timeout(s);

			if (t >= 0 && now + t < next)
				next = now + t;
		}
		for (size_t i = 0; i < s->n_conns; i++) {
			struct sim_conn *c = s->conns[i];
			short ev = 0;

			if (!c->slow && !c->closing)
				ev |= POLLIN;
			if (c->out_off < c->out_len)
				ev |= POLLOUT;
			if (c->slow && c->slow_at < next)
				next = c->slow_at;
			pfds[base + i] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		for (struct sim_udp_pending *p = s->udp_pending; p; p = p->next)
			if (p->at < next)
				next = p->at;
		if (next < now)
			next = now;
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000L;
		r = ppoll(pfds, base + s->n_conns, &ts, waitmask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "kasa-sim: poll: %s\n", strerror(errno));
			return 1;
		}
		now = now_ms();

		/* Existing connections first: accepting shifts the array. */
		for (size_t i = 0; i < s->n_conns; i++) {
			struct sim_conn *c = s->conns[i];
			short rev = pfds[base + i].revents;
			bool dead = false;

			if (rev & (POLLIN | POLLHUP | POLLERR))
				dead = sim_conn_read(s, c, now) < 0;
			if (!dead && c->slow && c->slow_at <= now) {
				sim_out_append(c, c->slow, c->slow_len);
				free(c->slow);
				c->slow = NULL;
			}
			if (!dead)
				dead = sim_flush(c) < 0;
			if (!dead && c->closing && c->out_off >= c->out_len)
				dead = true;
			pfds[base + i].fd = dead ? -1 : c->fd;
		}
		{
			size_t j = 0;

			for (size_t i = 0; i < s->n_conns; i++) {
				if (pfds[base + i].fd < 0)
					sim_conn_free(s->conns[i]);
				else
					s->conns[j++] = s->conns[i];
			}
			s->n_conns = j;
		}
		if (pfds[0].revents & POLLIN)
			sim_accept(s, s->tcp_fd, false);
		if (pfds[3].revents & POLLIN)
			sim_accept(s, s->ctl_fd, true);
		if (pfds[1].revents & POLLIN)
			sim_udp_read(s, s->udp_fd, now);
		if (s->bcast_fd >= 0 && (pfds[2].revents & POLLIN))
			sim_udp_read(s, s->bcast_fd, now);
		sim_http_run(s);
		if (s->disc_fd >= 0 && (pfds[5].revents & POLLIN))
			sim_disc_read(s, s->disc_fd);
		if (s->disc_bcast_fd >= 0 && (pfds[6].revents & POLLIN))
			sim_disc_read(s, s->disc_bcast_fd);
		sim_udp_send_due(s, now);
	}
	/* Let the "ok" of quit reach the client. */
	for (size_t i = 0; i < s->n_conns; i++)
		sim_flush(s->conns[i]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "alias", required_argument, NULL, 'a' },
		{ "device-id", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'L' },
		{ "transport", required_argument, NULL, 'T' },
		{ "klap-version", required_argument, NULL, 'K' },
		{ "username", required_argument, NULL, 'U' },
		{ "password", required_argument, NULL, 'P' },
		{ "session-timeout", required_argument, NULL, 'S' },
		{ "discovery-port", required_argument, NULL, 'D' },
		{ "page-size", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sim s = { .tcp_fd = -1, .udp_fd = -1, .bcast_fd = -1, .ctl_fd = -1, .disc_fd = -1,
			 .disc_bcast_fd = -1, .transport = KASA_TRANSPORT_AUTO, .session_timeout_s = 86400,
			 .page_size = 10, .disc_port = KASA_DISCOVERY_PORT_NEW };
	long num;
	char *end;
	const char *model = "hs300", *listen_arg = "0.0.0.0", *control_arg = NULL;
	const char *alias = NULL, *device_id = NULL, *log_path = NULL;
	struct sockaddr_in dev_sa, ctl_sa;
	struct sigaction sa = { .sa_handler = sim_on_signal };
	sigset_t block, waitmask;
	int opt, r, ret = 1;

	while ((opt = getopt_long(argc, argv, "m:l:c:a:d:L:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': model = optarg; break;
		case 'l': listen_arg = optarg; break;
		case 'c': control_arg = optarg; break;
		case 'a': alias = optarg; break;
		case 'd': device_id = optarg; break;
		case 'L': log_path = optarg; break;
		case 'T':
			s.transport = kasa_transport_from_string(optarg);
			if (s.transport == KASA_TRANSPORT_INVALID || s.transport == KASA_TRANSPORT_AUTO) {
				fprintf(stderr, "kasa-sim: --transport: xor, klap or aes\n");
				return 2;
			}
			break;
		case 'U': s.username = optarg; break;
		case 'P': s.password = optarg; break;
		case 'K': case 'S': case 'D': case 'G':
			errno = 0;
			num = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || num < 0 || num > 65535 ||
			    (opt == 'K' && num != 1 && num != 2) || (opt == 'S' && num == 0) ||
			    (opt == 'G' && num == 0)) {
				fprintf(stderr, "kasa-sim: bad number: %s\n", optarg);
				return 2;
			}
			if (opt == 'K')
				s.klap_version = (int)num;
			else if (opt == 'S')
				s.session_timeout_s = (int)num;
			else if (opt == 'D')
				s.disc_port = (uint16_t)num;
			else
				s.page_size = (size_t)num;
			break;
		case 'h': sim_usage(stdout); return 0;
		default: sim_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		sim_usage(stderr);
		return 2;
	}
	sim_pick_transport(&s, model);
	if (sim_parse_addr(listen_arg, s.transport == KASA_TRANSPORT_XOR ? KASA_PORT : KASA_HTTP_PORT,
			   &dev_sa) < 0) {
		fprintf(stderr, "kasa-sim: bad --listen address: %s\n", listen_arg);
		return 2;
	}
	if (control_arg) {
		if (sim_parse_addr(control_arg, 0, &ctl_sa) < 0 || !strchr(control_arg, ':')) {
			fprintf(stderr, "kasa-sim: bad --control address (ADDR:PORT): %s\n", control_arg);
			return 2;
		}
		if ((ntohl(ctl_sa.sin_addr.s_addr) >> 24) != 127) {
			fprintf(stderr, "kasa-sim: --control must be a loopback address\n");
			return 2;
		}
	}
	if (alias && strlen(alias) > 64) {
		fprintf(stderr, "kasa-sim: --alias too long (64 characters at most)\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (log_path) {
		s.logf = fopen(log_path, "a");
		if (!s.logf) {
			fprintf(stderr, "kasa-sim: %s: %s\n", log_path, strerror(errno));
			goto out;
		}
	}
	r = sim_bind_device(&s, &dev_sa);
	if (r < 0) {
		fprintf(stderr, "kasa-sim: cannot listen on %s: %s\n", listen_arg, strerror(-r));
		goto out;
	}
	if (control_arg) {
		s.ctl_fd = sim_socket(SOCK_STREAM, &ctl_sa, true);
		if (s.ctl_fd < 0) {
			fprintf(stderr, "kasa-sim: cannot listen on %s: %s\n", control_arg,
				strerror(-s.ctl_fd));
			goto out;
		}
		s.ctl_port = sim_local_port(s.ctl_fd);
	}
	if (sim_make_ids(&s, device_id) < 0) {
		fprintf(stderr, "kasa-sim: --device-id must be 1 to 64 hex digits\n");
		goto out;
	}
	r = sim_personality(&s, model, alias, now_ms());
	if (r == 0)
		r = sim_finish_outlets(&s);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "kasa-sim: %s: %s\n", model, strerror(-r));
		goto out;
	}
	if (s.smart && s.transport == KASA_TRANSPORT_XOR) {
		fprintf(stderr, "kasa-sim: %s: a SMART device speaks KLAP or AES, not XOR\n", model);
		goto out;
	}
	if (s.transport != KASA_TRANSPORT_XOR) {
		s.listen_sa = dev_sa;
		r = sim_http_serve(&s);
		if (r < 0) {
			fprintf(stderr, "kasa-sim: cannot serve %s: %s\n",
				kasa_transport_to_string(s.transport), strerror(-r));
			goto out;
		}
	}
	sim_logf(&s, "ready port=%u control=%u model=%s deviceId=%s", (unsigned)s.port,
		 (unsigned)s.ctl_port, model, s.device_id);
	printf("ready port=%u control=%u\n", (unsigned)s.port, (unsigned)s.ctl_port);
	fflush(stdout);
	ret = sim_loop(&s, &waitmask);
out:
	sim_free(&s);
	return ret;
}
