/* test_rewrite.c — URI rewriting for aggregation (redfish/rewrite.c) and the
 * CSDL-derived writable table (redfish/writable.c via rf_writables_for).
 * Pure functions: no I/O except reading one mockup body from SHARED_DIR. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "testutil.h"

static struct rf_rewrite rw;

static void setup_rw(void)
{
	rf_rewrite_done(&rw);
	CU_ASSERT_EQUAL(rf_rewrite_init(&rw, "rack1"), 0);
	CU_ASSERT_EQUAL(rf_rewrite_set_origin(&rw, "https://10.0.0.21"), 0);
	CU_ASSERT_EQUAL(rf_rewrite_set_origin(&rw, "https://10.0.0.21/redfish"), -EINVAL);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, RF_ROOT "/Systems"), 0);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, RF_ROOT "/Chassis"), 0);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, RF_ROOT "/PowerEquipment/RackPDUs"), 0);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, RF_ROOT "/Systems"), 0);   /* no-op */
	CU_ASSERT_EQUAL(rw.n_colls, 3);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, "/other/Systems"), -EINVAL);
	CU_ASSERT_EQUAL(rf_rewrite_add_collection(&rw, RF_ROOT "/Systems/"), -EINVAL);
}

static void check_in(const char *remote, const char *local)
{
	char *s = rf_rewrite_uri_in(&rw, remote);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	if (strcmp(s, local) != 0)
		fprintf(stderr, "\nin(%s) = %s, want %s\n", remote, s, local);
	CU_ASSERT_STRING_EQUAL(s, local);
	free(s);
}

static void check_out(const char *local, const char *remote)
{
	char *s = rf_rewrite_uri_out(&rw, local);

	if (!remote) {
		if (s)
			fprintf(stderr, "\nout(%s) = %s, want NULL\n", local, s);
		CU_ASSERT_PTR_NULL(s);
	} else {
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_STRING_EQUAL(s, remote);
	}
	free(s);
}

static void test_uri_in(void)
{
	setup_rw();
	check_in(RF_ROOT "/Systems/437XR1138R2", RF_ROOT "/Systems/rack1_437XR1138R2");
	check_in(RF_ROOT "/Systems/437XR1138R2/Bios", RF_ROOT "/Systems/rack1_437XR1138R2/Bios");
	check_in(RF_ROOT "/Systems/437XR1138R2/", RF_ROOT "/Systems/rack1_437XR1138R2");
	/* Found by fuzz_bmc: every trailing '/' goes, so in(out(in(x))) == in(x). */
	check_in(RF_ROOT "/Systems/437XR1138R2//", RF_ROOT "/Systems/rack1_437XR1138R2");
	check_in(RF_ROOT "/Systems/1/Qc://", RF_ROOT "/Systems/rack1_1/Qc:");
	check_in(RF_ROOT "/Chassis/1U/Thermal#/Fans/0", RF_ROOT "/Chassis/rack1_1U/Thermal#/Fans/0");
	check_in(RF_ROOT "/Chassis/1U?$expand=.", RF_ROOT "/Chassis/rack1_1U?$expand=.");
	check_in("https://10.0.0.21:443/redfish/v1/Systems/1", RF_ROOT "/Systems/rack1_1");
	check_in("HTTPS://10.0.0.21/redfish/v1/Systems/1/", RF_ROOT "/Systems/rack1_1");
	/* Another service's URL (a PDU the BMC links to) is not ours. */
	check_in("https://pdu.example/redfish/v1/Systems/1", "https://pdu.example/redfish/v1/Systems/1");
	check_in("https://10.0.0.21:8443/redfish/v1/Systems/1",
		 "https://10.0.0.21:8443/redfish/v1/Systems/1");
	check_in(RF_ROOT "/PowerEquipment/RackPDUs/1/Outlets/A1",
		 RF_ROOT "/PowerEquipment/RackPDUs/rack1_1/Outlets/A1");
	/* Not below a member: unchanged (normalised). */
	check_in(RF_ROOT "/Systems", RF_ROOT "/Systems");
	check_in(RF_ROOT "/Systems/", RF_ROOT "/Systems");
	check_in(RF_ROOT "/", RF_ROOT);
	check_in(RF_ROOT "/SessionService/Sessions/1", RF_ROOT "/SessionService/Sessions/1");
	check_in(RF_ROOT "/PowerEquipment", RF_ROOT "/PowerEquipment");
	check_in(RF_ROOT "/SystemsX/1", RF_ROOT "/SystemsX/1");
}

static void test_uri_out(void)
{
	setup_rw();
	check_out(RF_ROOT "/Systems/rack1_437XR1138R2", RF_ROOT "/Systems/437XR1138R2");
	check_out(RF_ROOT "/Systems/rack1_a_b/Bios", RF_ROOT "/Systems/a_b/Bios");
	check_out(RF_ROOT "/Chassis/rack1_1U/Thermal#/Fans/0", RF_ROOT "/Chassis/1U/Thermal#/Fans/0");
	check_out(RF_ROOT "/PowerEquipment/RackPDUs/rack1_1/Outlets/A1",
		  RF_ROOT "/PowerEquipment/RackPDUs/1/Outlets/A1");
	check_out(RF_ROOT "/Systems/rack2_1", NULL);          /* another source's */
	check_out(RF_ROOT "/Systems/rack1_", NULL);           /* empty remote id */
	check_out(RF_ROOT "/Systems/rack1", NULL);
	check_out(RF_ROOT "/Systems", NULL);                  /* the local collection */
	check_out(RF_ROOT "/Managers/rack1_BMC", NULL);       /* not aggregated */
	check_out(RF_ROOT "/SessionService", NULL);
}

static struct json_object *load_mockup(const char *rel)
{
	const char *shared = getenv("SHARED_DIR");
	char path[1024];

	snprintf(path, sizeof(path), "%s/mockups/public-rackmount1/%s/index.json",
		 shared ? shared : "../shared", rel);
	return json_object_from_file(path);
}

static const char *get_str(struct json_object *o, const char *path)
{
	char buf[256];
	char *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, "/", &save); tok && o; tok = strtok_r(NULL, "/", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(tok));
		else if (!json_object_object_get_ex(o, tok, &o))
			return NULL;
	}
	return o ? json_object_get_string(o) : NULL;
}

static void test_body_both_ways(void)
{
	struct json_object *orig, *body = NULL;
	const char *s;

	setup_rw();
	orig = load_mockup("Systems/437XR1138R2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
	CU_ASSERT_EQUAL(json_object_deep_copy(orig, &body, NULL), 0);
	CU_ASSERT_EQUAL(rf_rewrite_body(&rw, body, true), 0);
	CU_ASSERT_STRING_EQUAL(get_str(body, "@odata.id"), RF_ROOT "/Systems/rack1_437XR1138R2");
	CU_ASSERT_STRING_EQUAL(get_str(body, "Bios/@odata.id"), RF_ROOT "/Systems/rack1_437XR1138R2/Bios");
	CU_ASSERT_STRING_EQUAL(get_str(body, "Links/Chassis/0/@odata.id"), RF_ROOT "/Chassis/rack1_1U");
	/* Managers are not aggregated in this rule set: unchanged. */
	CU_ASSERT_STRING_EQUAL(get_str(body, "Links/ManagedBy/0/@odata.id"), RF_ROOT "/Managers/BMC");
	s = get_str(body, "Actions/#ComputerSystem.Reset/target");
	CU_ASSERT_STRING_EQUAL(s, RF_ROOT "/Systems/rack1_437XR1138R2/Actions/ComputerSystem.Reset");
	CU_ASSERT_STRING_EQUAL(get_str(body, "Actions/Oem/#Contoso.Reset/target"),
			       RF_ROOT "/Systems/rack1_437XR1138R2/Oem/Contoso/Actions/Contoso.Reset");
	CU_ASSERT_STRING_EQUAL(get_str(body, "Status/Conditions/0/OriginOfCondition/@odata.id"),
			       RF_ROOT "/Chassis/rack1_1U/Sensors/CPU1Temp");
	/* A string that only looks like a path but is no URI property stays. */
	CU_ASSERT_STRING_EQUAL(get_str(body, "Boot/UefiTargetBootSourceOverride"), "/0x31/0x33/0x01/0x01");
	CU_ASSERT_FALSE(json_object_equal(orig, body));
	CU_ASSERT_EQUAL(rf_rewrite_body(&rw, body, false), 0);
	CU_ASSERT_TRUE(json_object_equal(orig, body));
	json_object_put(orig);
	json_object_put(body);
}

static void test_uri_properties(void)
{
	struct json_object *o = json_tokener_parse(
		"{\"DataSourceUri\":\"/redfish/v1/Chassis/1U/Sensors/PS1\","
		"\"HttpBootURI\":\"/redfish/v1/Systems/1/x\","
		"\"PublicationUri\":\"https://redfish.contoso.org/registries/Base.1.5.0.json\","
		"\"Members@odata.nextLink\":\"/redfish/v1/Systems/1/Memory?$skip=2\","
		"\"Foo\":\"/redfish/v1/Systems/1\","
		"\"X\":{\"@Redfish.ActionInfo\":\"/redfish/v1/Systems/1/ResetActionInfo\"}}");

	setup_rw();
	CU_ASSERT_EQUAL(rf_rewrite_body(&rw, o, true), 0);
	CU_ASSERT_STRING_EQUAL(get_str(o, "DataSourceUri"), RF_ROOT "/Chassis/rack1_1U/Sensors/PS1");
	CU_ASSERT_STRING_EQUAL(get_str(o, "HttpBootURI"), RF_ROOT "/Systems/rack1_1/x");
	CU_ASSERT_STRING_EQUAL(get_str(o, "PublicationUri"),
			       "https://redfish.contoso.org/registries/Base.1.5.0.json");
	CU_ASSERT_STRING_EQUAL(get_str(o, "Members@odata.nextLink"),
			       RF_ROOT "/Systems/rack1_1/Memory?$skip=2");
	CU_ASSERT_STRING_EQUAL(get_str(o, "Foo"), RF_ROOT "/Systems/1");
	CU_ASSERT_STRING_EQUAL(get_str(o, "X/@Redfish.ActionInfo"),
			       RF_ROOT "/Systems/rack1_1/ResetActionInfo");
	json_object_put(o);
}

static const struct rf_writable *find_w(const struct rf_writable *w, const char *path)
{
	for (; w && w->path; w++)
		if (strcmp(w->path, path) == 0)
			return w;
	return NULL;
}

static bool has_value(const struct rf_writable *w, const char *v)
{
	for (const char *const *p = w->values; p && *p; p++)
		if (strcmp(*p, v) == 0)
			return true;
	return false;
}

static void test_writables(void)
{
	struct json_object *sys = load_mockup("Systems/437XR1138R2");
	struct rf_writable *w;
	const struct rf_writable *e;
	size_t n = 0;
	char type[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(sys);
	CU_ASSERT_TRUE(rf_body_type(sys, type, sizeof(type)));
	CU_ASSERT_STRING_EQUAL(type, "ComputerSystem");
	w = rf_writables_for(sys);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	/* Schema enum narrowed to the body's AllowableValues. */
	e = find_w(w, "Boot/BootSourceOverrideTarget");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_TRUE(has_value(e, "Pxe"));
	CU_ASSERT_TRUE(has_value(e, "UefiTarget"));
	CU_ASSERT_FALSE(has_value(e, "UefiHttp"));      /* in the schema, not allowed here */
	for (const char *const *p = e->values; *p; p++)
		n++;
	CU_ASSERT_EQUAL(n, 10);
	e = find_w(w, "Boot/BootSourceOverrideEnabled");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_TRUE(has_value(e, "Continuous"));
	e = find_w(w, "IndicatorLED");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_TRUE(has_value(e, "Lit"));
	CU_ASSERT_FALSE(has_value(e, "On"));
	e = find_w(w, "AssetTag");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL(e->values);
	/* Read-only by the schema, or absent from the body: not listed. */
	CU_ASSERT_PTR_NULL(find_w(w, "PowerState"));
	CU_ASSERT_PTR_NULL(find_w(w, "Name"));
	CU_ASSERT_PTR_NULL(find_w(w, "SerialNumber"));
	CU_ASSERT_PTR_NULL(find_w(w, "PowerRestorePolicy"));
	rf_writables_free(w);
	json_object_put(sys);

	/* The table is sorted (binary search relies on it). */
	for (size_t i = 1; i < rf_schema_writables_count; i++) {
		int c = strcmp(rf_schema_writables[i - 1].type, rf_schema_writables[i].type);

		CU_ASSERT_TRUE(c < 0 || (c == 0 && strcmp(rf_schema_writables[i - 1].path,
							  rf_schema_writables[i].path) < 0));
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("rewrite", NULL, NULL);
	CU_add_test(s, "uri_in", test_uri_in);
	CU_add_test(s, "uri_out", test_uri_out);
	CU_add_test(s, "body_both_ways", test_body_both_ways);
	CU_add_test(s, "uri_properties", test_uri_properties);
	CU_add_test(s, "writables", test_writables);
	int r = tu_run_cunit();

	rf_rewrite_done(&rw);
	return r;
}
