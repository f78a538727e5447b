/* test_mockup.c — the mockup provider (redfish/mockup.c): loading the DMTF
 * public-rackmount1 mockup as the service's own tree and as a named
 * (aggregated) source, PATCH / actions / the PowerState extension changing
 * it in memory, and the round trip: a backup of the mount view (index.json
 * per directory, as cp -a writes it) loads back into the same tree. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "testutil.h"

static char mockup[1024];

static struct json_object *doc_json(struct rf_tree *t, const char *uri)
{
	int err = 0;
	struct rf_doc *d = rf_tree_get_doc(t, uri, &err);
	struct json_object *o;

	if (!d)
		return NULL;
	o = json_tokener_parse(d->json);
	rf_doc_unref(d);
	return o;
}

static const char *str_at(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* Every index.json of the mockup, as (uri, body). */
static size_t mockup_uris(char ***ret)
{
	char *out = NULL;
	size_t n = 0;
	char **v = NULL;

	tu_sh_out(&out, "cd '%s' && find . -name index.json | sed 's|^\\./||; s|/\\?index.json$||' | sort",
		  mockup);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(line);
	}
	if (out && !n) {
		/* The ServiceRoot's line is empty and strtok skips it. */
	}
	free(out);
	*ret = v;
	return n;
}

static struct json_object *mockup_body(const char *rel)
{
	char path[2048];

	snprintf(path, sizeof(path), "%s/%s%sindex.json", mockup, rel, *rel ? "/" : "");
	return json_object_from_file(path);
}

static void test_own_tree(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct rf_mockup *m;
	char **rels;
	size_t n = mockup_uris(&rels), checked = 0;
	int err = 0;

	m = rf_mockup_load(t, NULL, mockup, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_TRUE(rf_mockup_count(m) > 150);   /* collections are the tree's */

	/* The ServiceRoot links the mockup's services. */
	struct json_object *root = doc_json(t, RF_ROOT), *l;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_TRUE(json_object_object_get_ex(root, "Systems", &l));
	CU_ASSERT_TRUE(json_object_object_get_ex(root, "SessionService", &l));
	CU_ASSERT_TRUE(json_object_object_get_ex(root, "Chassis", &l));
	json_object_put(root);

	for (size_t i = 0; i < n; i++) {
		char uri[1024];
		struct json_object *want = mockup_body(rels[i]), *got, *id;

		snprintf(uri, sizeof(uri), RF_ROOT "/%s", rels[i]);
		if (!want || !json_object_object_get_ex(want, "@odata.id", &id) ||
		    strcmp(json_object_get_string(id), uri) != 0) {
			json_object_put(want);    /* odata/, $metadata: not resources */
			free(rels[i]);
			continue;
		}
		got = doc_json(t, uri);
		if (!got)
			fprintf(stderr, "\nmissing %s\n", uri);
		CU_ASSERT_PTR_NOT_NULL(got);
		if (got && !json_object_object_get_ex(want, "Members", NULL)) {
			json_object_object_del(want, "@Redfish.Copyright");
			CU_ASSERT_FALSE(json_object_object_get_ex(got, "@Redfish.Copyright", NULL));
			if (!json_object_equal(want, got))
				fprintf(stderr, "\ndiffers: %s\n", uri);
			CU_ASSERT_TRUE(json_object_equal(want, got));
			checked++;
		} else if (got) {
			/* A collection: the same members. */
			struct json_object *wm, *gm;

			json_object_object_get_ex(want, "Members", &wm);
			json_object_object_get_ex(got, "Members", &gm);
			if (json_object_array_length(wm) != json_object_array_length(gm))
				fprintf(stderr, "\nmembers differ: %s\n", uri);
			CU_ASSERT_EQUAL(json_object_array_length(wm), json_object_array_length(gm));
		}
		json_object_put(want);
		json_object_put(got);
		free(rels[i]);
	}
	free(rels);
	CU_ASSERT_TRUE(checked > 150);
	rf_mockup_free(m);
	rf_tree_free(t);
}

static void test_writes(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct rf_mockup *m;
	struct rf_error e;
	struct json_object *delta, *sys;
	const char *sysuri = RF_ROOT "/Systems/437XR1138R2";
	int err = 0;

	m = rf_mockup_load(t, NULL, mockup, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);

	delta = json_tokener_parse("{\"Boot\":{\"BootSourceOverrideTarget\":\"cd\"}}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, sysuri, delta, NULL, &e), 0);
	json_object_put(delta);
	sys = doc_json(t, sysuri);
	struct json_object *boot;

	json_object_object_get_ex(sys, "Boot", &boot);
	CU_ASSERT_STRING_EQUAL(str_at(boot, "BootSourceOverrideTarget"), "Cd");
	json_object_put(sys);

	/* In the schema's enum, but not in this system's AllowableValues. */
	delta = json_tokener_parse("{\"Boot\":{\"BootSourceOverrideTarget\":\"UefiHttp\"}}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, sysuri, delta, NULL, &e), -EINVAL);
	json_object_put(delta);
	delta = json_tokener_parse("{\"PowerState\":\"Off\"}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, sysuri, delta, NULL, &e), -EACCES);
	json_object_put(delta);

	/* The mount: a writable file, and the PowerState extension. */
	struct rf_stat st;

	CU_ASSERT_EQUAL(rf_tree_stat(t, "Systems/437XR1138R2/AssetTag", &st), 0);
	CU_ASSERT_TRUE(st.writable);
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/437XR1138R2/AssetTag", "Rack-7\n", 7), 0);
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/437XR1138R2/IndicatorLED", "Sparkle\n", 8), -EINVAL);
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/437XR1138R2/PowerState", "Off\n", 4), 0);
	sys = doc_json(t, sysuri);
	CU_ASSERT_STRING_EQUAL(str_at(sys, "PowerState"), "Off");
	CU_ASSERT_STRING_EQUAL(str_at(sys, "AssetTag"), "Rack-7");
	json_object_put(sys);

	struct json_object *params = json_tokener_parse("{\"ResetType\":\"GracefulRestart\"}");

	CU_ASSERT_EQUAL(rf_tree_post_action(t, RF_ROOT "/Systems/437XR1138R2/Actions/ComputerSystem.Reset",
					    params, NULL, &e), 0);
	json_object_put(params);
	sys = doc_json(t, sysuri);
	CU_ASSERT_STRING_EQUAL(str_at(sys, "PowerState"), "On");
	json_object_put(sys);
	rf_mockup_free(m);
	rf_tree_free(t);
}

static void test_named(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct rf_mockup *m;
	struct json_object *o, *links, *v;
	int err = 0;

	CU_ASSERT_PTR_NULL(rf_mockup_load(t, "bad_name", mockup, &err));
	CU_ASSERT_EQUAL(err, -EINVAL);
	m = rf_mockup_load(t, "m1", mockup, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	o = doc_json(t, RF_ROOT "/Systems/m1_437XR1138R2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(str_at(o, "@odata.id"), RF_ROOT "/Systems/m1_437XR1138R2");
	CU_ASSERT_STRING_EQUAL(str_at(o, "Id"), "437XR1138R2");   /* the body keeps its Id */
	json_object_object_get_ex(o, "Links", &links);
	json_object_object_get_ex(links, "Chassis", &v);
	CU_ASSERT_STRING_EQUAL(str_at(json_object_array_get_idx(v, 0), "@odata.id"),
			       RF_ROOT "/Chassis/m1_1U");
	json_object_put(o);
	o = doc_json(t, RF_ROOT "/Chassis/m1_1U/Sensors/CPU1Temp");
	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);
	o = doc_json(t, RF_ROOT "/Managers");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(o), "m1_BMC"));
	json_object_put(o);
	/* Not aggregated: the BMC's own services. */
	CU_ASSERT_PTR_NULL(doc_json(t, RF_ROOT "/SessionService"));
	CU_ASSERT_PTR_NULL(doc_json(t, RF_ROOT "/Systems/437XR1138R2"));
	o = doc_json(t, RF_ROOT "/AggregationService/AggregationSources/m1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(str_at(o, "HostName"), mockup);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "Password", &v) && v == NULL);
	json_object_put(o);
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/m1_437XR1138R2/PowerState", "off", 3), 0);
	o = doc_json(t, RF_ROOT "/Systems/m1_437XR1138R2");
	CU_ASSERT_STRING_EQUAL(str_at(o, "PowerState"), "Off");
	json_object_put(o);
	rf_mockup_free(m);
	rf_tree_free(t);
}

/* Copy the mount view of t below path into dir, as cp -a would: directories,
 * index.json files (the other property files too); symlinks skipped. */
static int backup(struct rf_tree *t, const char *path, const char *dir)
{
	struct rf_dirent *ents;
	size_t n;
	int r;

	if (mkdir(dir, 0755) < 0)
		return -1;
	if ((r = rf_tree_list(t, path, &ents, &n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char p[2048], d[2048];

		snprintf(p, sizeof(p), "%s%s%s", path, *path ? "/" : "", ents[i].name);
		snprintf(d, sizeof(d), "%s/%s", dir, ents[i].name);
		if (ents[i].st.kind == RF_KIND_DIR) {
			if ((r = backup(t, p, d)) < 0)
				break;
		} else if (ents[i].st.kind == RF_KIND_FILE) {
			char *buf = malloc(ents[i].st.size + 1);
			ssize_t k = rf_tree_read(t, p, buf, ents[i].st.size, 0);
			FILE *f = fopen(d, "w");

			if (k >= 0 && f)
				fwrite(buf, 1, k, f);
			if (f)
				fclose(f);
			free(buf);
		}
	}
	rf_dirents_free(ents, n);
	return r < 0 ? r : 0;
}

static void test_round_trip(void)
{
	struct rf_tree *t1 = rf_tree_new("11111111-2222-3333-4444-555555555555");
	struct rf_tree *t2 = rf_tree_new("11111111-2222-3333-4444-555555555555");
	struct rf_mockup *m1, *m2;
	char tmp[] = "/tmp/rf-mockup-XXXXXX", dir[600];
	char **u1, **u2;
	size_t n1, n2;
	int err = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/backup", tmp);
	m1 = rf_mockup_load(t1, NULL, mockup, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m1);
	CU_ASSERT_EQUAL(backup(t1, "", dir), 0);
	m2 = rf_mockup_load(t2, NULL, dir, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
	u1 = rf_tree_list_uris(t1, &n1);
	u2 = rf_tree_list_uris(t2, &n2);
	CU_ASSERT_EQUAL(n1, n2);
	for (size_t i = 0, j = 0; i < n1; i++) {
		while (j < n2 && strcmp(u2[j], u1[i]) < 0)
			j++;
		if (j >= n2 || strcmp(u2[j], u1[i]) != 0)
			fprintf(stderr, "\nlost in the backup: %s\n", u1[i]);
	}
	for (size_t i = 0; i < n1 && i < n2 && n1 == n2; i++) {
		CU_ASSERT_STRING_EQUAL(u1[i], u2[i]);
		struct json_object *a = doc_json(t1, u1[i]), *b = doc_json(t2, u2[i]);

		if (!json_object_equal(a, b))
			fprintf(stderr, "\nround trip differs: %s\n", u1[i]);
		CU_ASSERT_TRUE(json_object_equal(a, b));
		json_object_put(a);
		json_object_put(b);
	}
	rf_strv_free(u1);
	rf_strv_free(u2);
	rf_mockup_free(m2);
	rf_mockup_free(m1);
	rf_tree_free(t2);
	rf_tree_free(t1);
	tu_sh("rm -rf '%s'", tmp);
}

static void test_parse_arg(void)
{
	char *name = NULL, *dir = NULL;

	CU_ASSERT_EQUAL(rf_mockup_parse_arg("/srv/mock", &name, &dir), 0);
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_STRING_EQUAL(dir, "/srv/mock");
	free(dir);
	CU_ASSERT_EQUAL(rf_mockup_parse_arg("rack2=/srv/mock", &name, &dir), 0);
	CU_ASSERT_STRING_EQUAL(name, "rack2");
	CU_ASSERT_STRING_EQUAL(dir, "/srv/mock");
	free(name);
	free(dir);
	CU_ASSERT_EQUAL(rf_mockup_parse_arg("a_b=/x", &name, &dir), -EINVAL);
	CU_ASSERT_EQUAL(rf_mockup_parse_arg("rack2=", &name, &dir), -EINVAL);
	CU_ASSERT_EQUAL(rf_mockup_parse_arg("", &name, &dir), -EINVAL);
	struct rf_tree *t = rf_tree_new(NULL);
	int err = 0;

	CU_ASSERT_PTR_NULL(rf_mockup_load(t, NULL, "/nonexistent/dir", &err));
	CU_ASSERT_EQUAL(err, -ENOENT);
	/* A directory without a ServiceRoot: a fresh one (not /tmp, where other
	 * programs' files come and go while the walk reads it). */
	char empty[] = "/tmp/test_mockup_empty.XXXXXX";

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(empty));
	CU_ASSERT_PTR_NULL(rf_mockup_load(t, NULL, empty, &err));
	CU_ASSERT_EQUAL(err, -ENOENT);
	rmdir(empty);
	rf_tree_free(t);
}

int main(void)
{
	const char *shared = getenv("SHARED_DIR");
	CU_pSuite s;

	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("mockup", NULL, NULL);
	CU_add_test(s, "parse_arg", test_parse_arg);
	CU_add_test(s, "own_tree", test_own_tree);
	CU_add_test(s, "writes", test_writes);
	CU_add_test(s, "named", test_named);
	CU_add_test(s, "round_trip", test_round_trip);
	return tu_run_cunit();
}
