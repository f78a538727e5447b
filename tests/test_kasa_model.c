/* test_kasa_model.c — sysinfo and emeter parsing (kasa/model.c).
 *
 * Every dump in $SHARED_DIR/fixtures/kasa/iot is parsed and compared with
 * what this test reads out of the same file on its own (json-c); then a
 * collection of hostile replies must give -EIO and leave the output alone. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kasa.h"
#include "testutil.h"

static const char *shared_dir(void)
{
	const char *d = getenv("SHARED_DIR");

	return d && *d ? d : "../shared";
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-12;
}

static void check_fixture(const char *path, int *ret_children_total, int *ret_meters)
{
	char *text = tu_read_file(path, NULL);
	json_object *root, *info, *em, *rt, *children, *feature, *mac;
	struct kasa_sysinfo si;
	struct kasa_emeter e;
	size_t n_children = 0;
	int r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	root = json_tokener_parse(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	info = jget(jget(root, "system"), "get_sysinfo");
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);

	r = kasa_parse_sysinfo(text, &si);
	if (r != 0)
		fprintf(stderr, "%s: kasa_parse_sysinfo: %d\n", path, r);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_STRING_EQUAL(si.model, json_object_get_string(jget(info, "model")));
	CU_ASSERT_STRING_EQUAL(si.device_id, json_object_get_string(jget(info, "deviceId")));
	CU_ASSERT_STRING_EQUAL(si.alias, json_object_get_string(jget(info, "alias")));
	CU_ASSERT_STRING_EQUAL(si.sw_ver, json_object_get_string(jget(info, "sw_ver")));
	CU_ASSERT_STRING_EQUAL(si.hw_ver, json_object_get_string(jget(info, "hw_ver")));
	mac = jget(info, "mac");
	CU_ASSERT_PTR_NOT_NULL(mac);
	if (mac)
		CU_ASSERT_STRING_EQUAL(si.mac, json_object_get_string(mac));
	if (jget(info, "dev_name"))
		CU_ASSERT_STRING_EQUAL(si.dev_name, json_object_get_string(jget(info, "dev_name")));
	CU_ASSERT_EQUAL(si.led_off, json_object_get_int(jget(info, "led_off")) != 0);
	feature = jget(info, "feature");
	CU_ASSERT_EQUAL(si.has_emeter, strstr(json_object_get_string(feature), "ENE") != NULL);

	children = jget(info, "children");
	if (children)
		n_children = json_object_array_length(children);
	if (jget(info, "child_num"))
		CU_ASSERT_EQUAL((size_t)json_object_get_int(jget(info, "child_num")), n_children);
	CU_ASSERT_EQUAL(si.n_children, n_children);
	for (size_t i = 0; i < si.n_children && i < n_children; i++) {
		json_object *c = json_object_array_get_idx(children, i);
		char *full = kasa_child_full_id(&si, i);
		char expect[256];

		CU_ASSERT_STRING_EQUAL(si.children[i].id, json_object_get_string(jget(c, "id")));
		CU_ASSERT_STRING_EQUAL(si.children[i].alias, json_object_get_string(jget(c, "alias")));
		CU_ASSERT_EQUAL(si.children[i].on, json_object_get_int(jget(c, "state")) == 1);
		/* Fixture child ids are scrubbed (not deviceId-prefixed): prefixed. */
		snprintf(expect, sizeof(expect), "%s%s", si.device_id, si.children[i].id);
		CU_ASSERT_PTR_NOT_NULL(full);
		if (full)
			CU_ASSERT_STRING_EQUAL(full, expect);
		free(full);
	}
	CU_ASSERT_PTR_NULL(kasa_child_full_id(&si, si.n_children));
	if (n_children == 0)
		CU_ASSERT_EQUAL(si.on, json_object_get_int(jget(info, "relay_state")) == 1);
	*ret_children_total += (int)n_children;

	em = jget(root, "emeter");
	rt = jget(em, "get_realtime");
	r = kasa_parse_emeter(text, &e);
	if (rt && json_object_get_int(jget(rt, "err_code")) == 0) {
		CU_ASSERT_EQUAL(r, 0);
		if (jget(rt, "voltage_mv")) {
			CU_ASSERT(close_to(e.voltage_v, json_object_get_double(jget(rt, "voltage_mv")) / 1000));
			CU_ASSERT(close_to(e.current_a, json_object_get_double(jget(rt, "current_ma")) / 1000));
			CU_ASSERT(close_to(e.power_w, json_object_get_double(jget(rt, "power_mw")) / 1000));
			CU_ASSERT(close_to(e.total_kwh, json_object_get_double(jget(rt, "total_wh")) / 1000));
		} else {
			CU_ASSERT(close_to(e.voltage_v, json_object_get_double(jget(rt, "voltage"))));
			CU_ASSERT(close_to(e.current_a, json_object_get_double(jget(rt, "current"))));
			CU_ASSERT(close_to(e.power_w, json_object_get_double(jget(rt, "power"))));
			CU_ASSERT(close_to(e.total_kwh, json_object_get_double(jget(rt, "total"))));
		}
		CU_ASSERT(si.has_emeter);
		(*ret_meters)++;
	} else {
		/* No meter, or "module not support": an error, not zeros. */
		CU_ASSERT_EQUAL(r, -EIO);
	}
	kasa_sysinfo_clear(&si);
	CU_ASSERT_PTR_NULL(si.model);
	CU_ASSERT_EQUAL(si.n_children, 0);
	json_object_put(root);
	free(text);
}

static void test_every_fixture(void)
{
	char dir[512];
	DIR *d;
	struct dirent *de;
	int files = 0, children = 0, meters = 0;

	snprintf(dir, sizeof(dir), "%s/fixtures/kasa/iot", shared_dir());
	d = opendir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d))) {
		char path[1024];
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		check_fixture(path, &children, &meters);
		files++;
	}
	closedir(d);
	/* HS300 x2 (6 each), KP303 (3), KP400 (2), EP40 (2); meters in HS110,
	 * two HS300, KP115 — both unit styles. */
	CU_ASSERT(files >= 9);
	CU_ASSERT(children >= 19);
	CU_ASSERT(meters >= 4);
}

static void test_variants(void)
{
	struct kasa_sysinfo si;
	char *full;

	/* The bare get_sysinfo object, mic_mac, booleans, no feature: model list. */
	CU_ASSERT_EQUAL_FATAL(kasa_parse_sysinfo("{\"deviceId\":\"80AB\",\"model\":\"HS110(EU)\","
						 "\"mic_mac\":\"50C7BF000001\",\"relay_state\":true}", &si), 0);
	CU_ASSERT_STRING_EQUAL(si.mac, "50C7BF000001");
	CU_ASSERT(si.on);
	CU_ASSERT(si.has_emeter);
	CU_ASSERT_STRING_EQUAL(si.alias, "");
	CU_ASSERT_STRING_EQUAL(si.sw_ver, "");
	CU_ASSERT_EQUAL(si.n_children, 0);
	kasa_sysinfo_clear(&si);

	CU_ASSERT_EQUAL_FATAL(kasa_parse_sysinfo("{\"system\":{\"get_sysinfo\":{\"deviceId\":\"80AB\","
						 "\"model\":\"HS100(US)\",\"ethernet_mac\":\"aa:bb\"}}}", &si), 0);
	CU_ASSERT_STRING_EQUAL(si.mac, "aa:bb");
	CU_ASSERT(!si.has_emeter);
	kasa_sysinfo_clear(&si);

	/* feature decides over the model name. */
	CU_ASSERT_EQUAL_FATAL(kasa_parse_sysinfo("{\"deviceId\":\"80AB\",\"model\":\"HS110(US)\","
						 "\"feature\":\"TIM\"}", &si), 0);
	CU_ASSERT(!si.has_emeter);
	kasa_sysinfo_clear(&si);

	/* Children already deviceId-prefixed keep their id; child_num optional. */
	CU_ASSERT_EQUAL_FATAL(kasa_parse_sysinfo("{\"deviceId\":\"80AB\",\"model\":\"HS300(US)\","
						 "\"feature\":\"TIM:ENE\",\"children\":["
						 "{\"id\":\"80AB00\",\"state\":1,\"alias\":\"a\"},"
						 "{\"id\":\"01\",\"state\":0}]}", &si), 0);
	CU_ASSERT_EQUAL(si.n_children, 2);
	CU_ASSERT(si.has_emeter);
	full = kasa_child_full_id(&si, 0);
	CU_ASSERT_STRING_EQUAL(full, "80AB00");
	free(full);
	full = kasa_child_full_id(&si, 1);
	CU_ASSERT_STRING_EQUAL(full, "80AB01");
	free(full);
	CU_ASSERT_STRING_EQUAL(si.children[1].alias, "");
	CU_ASSERT(si.children[0].on && !si.children[1].on);
	kasa_sysinfo_clear(&si);
	kasa_sysinfo_clear(NULL);
	CU_ASSERT_PTR_NULL(kasa_child_full_id(NULL, 0));

	/* Names that are not UTF-8 text (invalid bytes, a terminal escape,
	 * BEL, an embedded NUL) are dropped whole, never served or cut. */
	CU_ASSERT_EQUAL_FATAL(kasa_parse_sysinfo("{\"deviceId\":\"80AB\",\"model\":\"HS300(US)\","
						 "\"alias\":\"Rack\xff\xfe\xc0\xaf\",\"children\":["
						 "{\"id\":\"00\",\"state\":1,\"alias\":\"\\u001b[31mred\"},"
						 "{\"id\":\"01\",\"state\":0,\"alias\":\"a\\u0000b\"},"
						 "{\"id\":\"02\",\"state\":0,\"alias\":\"bell\\u0007\"},"
						 "{\"id\":\"03\",\"state\":0,\"alias\":\"K\u00fcche \\u00e9\"}]}",
						 &si), 0);
	CU_ASSERT_STRING_EQUAL(si.alias, "");
	CU_ASSERT_STRING_EQUAL(si.children[0].alias, "");
	CU_ASSERT_STRING_EQUAL(si.children[1].alias, "");
	CU_ASSERT_STRING_EQUAL(si.children[2].alias, "");
	CU_ASSERT_STRING_EQUAL(si.children[3].alias, "K\u00fcche \u00e9");
	kasa_sysinfo_clear(&si);
}

static void test_malformed_sysinfo(void)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"42",
		"{}",
		"{\"system\":5}",
		"{\"system\":{}}",
		"{\"system\":{\"get_sysinfo\":[]}}",
		"{\"system\":{\"err_code\":-1,\"err_msg\":\"module not support\"}}",
		"{\"system\":{\"get_sysinfo\":{\"err_code\":-3,\"deviceId\":\"A\",\"model\":\"M\"}}}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"err_code\":\"0\"}",
		"{\"deviceId\":5,\"model\":\"M\"}",
		"{\"deviceId\":\"\",\"model\":\"M\"}",
		"{\"deviceId\":\"A\"}",
		"{\"deviceId\":\"A\",\"model\":null}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"alias\":7}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"mac\":[]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"sw_ver\":{}}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"feature\":1}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"relay_state\":\"1\"}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"relay_state\":2}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"led_off\":1.5}",
		"{\"deviceId\":\"a\\u0000b\",\"model\":\"M\"}",
		"{\"deviceId\":\"A\",\"model\":\"M\"} trailing",
		"{\"deviceId\":\"A\",\"model\":\"M\"",
		/* children vs child_num */
		"{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":3,\"children\":[{\"id\":\"1\",\"state\":0}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":2}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":2147483647,\"children\":[]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":-1,\"children\":[]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":\"2\",\"children\":[]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":{}}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[5]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"state\":0}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"id\":1,\"state\":0}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"id\":\"1\"}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"id\":\"1\",\"state\":\"on\"}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"id\":\"1\",\"state\":0,\"alias\":[]}]}",
		"{\"deviceId\":\"A\",\"model\":\"M\",\"children\":[{\"id\":\"1\",\"state\":0},{\"id\":\"1\",\"state\":1}]}",
	};
	struct kasa_sysinfo si;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		memset(&si, 0x5a, sizeof(si));
		r = kasa_parse_sysinfo(bad[i], &si);
		if (r != -EIO)
			fprintf(stderr, "accepted or wrong error %d: %s\n", r, bad[i]);
		CU_ASSERT_EQUAL(r, -EIO);
		/* ret written only on success */
		CU_ASSERT_EQUAL(((unsigned char *)&si)[0], 0x5a);
		CU_ASSERT_EQUAL(((unsigned char *)&si)[sizeof(si) - 1], 0x5a);
	}
	CU_ASSERT_EQUAL(kasa_parse_sysinfo(NULL, &si), -EIO);
	CU_ASSERT_EQUAL(kasa_parse_sysinfo("{}", NULL), -EINVAL);
}

static void test_too_many_children(void)
{
	/* A well-formed but absurd strip: 1000 children. */
	size_t cap = 64 + 1000 * 32;
	char *j = malloc(cap);
	size_t len;
	struct kasa_sysinfo si;

	len = (size_t)snprintf(j, cap, "{\"deviceId\":\"A\",\"model\":\"M\",\"child_num\":1000,\"children\":[");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(j + len, cap - len, "%s{\"id\":\"%d\",\"state\":0}", i ? "," : "", i);
	snprintf(j + len, cap - len, "]}");
	CU_ASSERT_EQUAL(kasa_parse_sysinfo(j, &si), -EIO);
	free(j);
}

static void test_emeter(void)
{
	struct kasa_emeter e;
	static const char *const bad[] = {
		"",
		"{}",
		"{\"emeter\":{}}",
		"{\"emeter\":{\"err_code\":-1,\"err_msg\":\"module not support\"}}",
		"{\"emeter\":{\"get_realtime\":{\"err_code\":-2}}}",
		"{\"emeter\":{\"get_realtime\":{\"voltage_mv\":1,\"current_ma\":1,\"power_mw\":1}}}",
		"{\"emeter\":{\"get_realtime\":{\"voltage_mv\":\"1\",\"current_ma\":1,\"power_mw\":1,\"total_wh\":1}}}",
		"{\"emeter\":{\"get_realtime\":{\"voltage\":1,\"current\":1,\"power\":null,\"total\":1}}}",
		"{\"emeter\":{\"get_realtime\":{\"voltage\":NaN,\"current\":1,\"power\":1,\"total\":1}}}",
		"{\"emeter\":{\"get_realtime\":[1,2,3]}}",
		"{\"emeter\":5}",
	};

	CU_ASSERT_EQUAL_FATAL(kasa_parse_emeter("{\"emeter\":{\"get_realtime\":{\"voltage_mv\":120500,"
						"\"current_ma\":250,\"power_mw\":30125,\"total_wh\":1234,"
						"\"err_code\":0}}}", &e), 0);
	CU_ASSERT(close_to(e.voltage_v, 120.5));
	CU_ASSERT(close_to(e.current_a, 0.25));
	CU_ASSERT(close_to(e.power_w, 30.125));
	CU_ASSERT(close_to(e.total_kwh, 1.234));

	CU_ASSERT_EQUAL_FATAL(kasa_parse_emeter("{\"voltage\":230.1,\"current\":0.5,\"power\":115,"
						"\"total\":2.5}", &e), 0);
	CU_ASSERT(close_to(e.voltage_v, 230.1));
	CU_ASSERT(close_to(e.current_a, 0.5));
	CU_ASSERT(close_to(e.power_w, 115));
	CU_ASSERT(close_to(e.total_kwh, 2.5));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0x5a, sizeof(e));
		CU_ASSERT_EQUAL(kasa_parse_emeter(bad[i], &e), -EIO);
		CU_ASSERT_EQUAL(((unsigned char *)&e)[0], 0x5a);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("kasa_model", NULL, NULL);
	CU_add_test(s, "every fixture", test_every_fixture);
	CU_add_test(s, "variants", test_variants);
	CU_add_test(s, "malformed sysinfo", test_malformed_sysinfo);
	CU_add_test(s, "too many children", test_too_many_children);
	CU_add_test(s, "emeter", test_emeter);
	return tu_run_cunit();
}
