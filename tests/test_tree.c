/* test_tree.c — the resource tree: rendering into documents and property
 * files for every JSON kind of DESIGN.md's mapping table, ETags and
 * generation checks, collections, aliases, freshness with coalesced
 * refreshes, and the write paths (mount writes, PATCH, actions) against a
 * recording fake provider. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "redfish.h"
#include "testutil.h"

/* ---- a fake provider that records what reaches it ---------------------------- */

struct fake {
	struct rf_provider p;
	struct rf_tree *t;
	atomic_int refreshes;
	int refresh_delay_ms;
	int patches, actions;
	char last_action[64];
	char last_json[512];
	void *last_cookie;
	int fail_with;
};

static int fake_refresh(struct rf_provider *p, const char *uri, int64_t max_age)
{
	struct fake *f = p->userdata;

	atomic_fetch_add(&f->refreshes, 1);
	if (f->refresh_delay_ms)
		usleep((useconds_t)f->refresh_delay_ms * 1000);
	rf_tree_touch(f->t, uri);
	return 0;
}

static int fake_patch(struct rf_provider *p, const char *uri, void *cookie, struct json_object *delta)
{
	struct fake *f = p->userdata;

	f->patches++;
	f->last_cookie = cookie;
	snprintf(f->last_json, sizeof(f->last_json), "%s", json_object_to_json_string_ext(delta, JSON_C_TO_STRING_PLAIN));
	return f->fail_with;
}

static int fake_action(struct rf_provider *p, const char *uri, void *cookie, const char *action,
		       struct json_object *params)
{
	struct fake *f = p->userdata;

	f->actions++;
	f->last_cookie = cookie;
	snprintf(f->last_action, sizeof(f->last_action), "%s", action);
	snprintf(f->last_json, sizeof(f->last_json), "%s", json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN));
	return f->fail_with;
}

static const struct rf_provider_ops fake_ops = {
	.refresh = fake_refresh, .patch = fake_patch, .action = fake_action,
};

static void fake_init(struct fake *f, struct rf_tree *t)
{
	memset(f, 0, sizeof(*f));
	f->p.name = "fake";
	f->p.ops = &fake_ops;
	f->p.userdata = f;
	f->t = t;
}

#define OUTLET "/redfish/v1/PowerEquipment/RackPDUs/S/Outlets/2"

static struct json_object *outlet_body(const char *state, double watts)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"@odata.id\":\"" OUTLET "\",\"@odata.type\":\"#Outlet.v1_4_4.Outlet\","
		 "\"Id\":\"2\",\"Name\":\"Lamp\",\"UserLabel\":\"Lamp\",\"PowerState\":\"%s\","
		 "\"PowerWatts\":{\"Reading\":%g},\"Count\":3,\"Enabled\":true,\"Nothing\":null,"
		 "\"Tags\":[\"a\",\"b\"],\"Empty\":[],"
		 "\"Status\":{\"State\":\"Enabled\",\"Health\":\"OK\"},"
		 "\"Items\":[{\"X\":1},{\"@odata.id\":\"/redfish/v1/Chassis\"}],"
		 "\"Links\":{\"Chassis\":{\"@odata.id\":\"/redfish/v1/Chassis/S\"}},"
		 "\"Sub\":{\"@odata.id\":\"" OUTLET "/Sub\"},"
		 "\"Name@Redfish.AllowableValues\":[\"x\"],"
		 "\"Actions\":{\"#Outlet.PowerControl\":{\"target\":\"" OUTLET "/Actions/Outlet.PowerControl\","
		 "\"PowerState@Redfish.AllowableValues\":[\"On\",\"Off\",\"PowerCycle\"]},"
		 "\"#Outlet.ResetMetrics\":{\"target\":\"" OUTLET "/Actions/Outlet.ResetMetrics\"}}}",
		 state, watts);
	return json_tokener_parse(buf);
}

static const struct rf_writable outlet_writable[] = {
	{ "UserLabel", NULL, 31 },
	{ NULL, NULL, 0 },
};

static char *read_all(struct rf_tree *t, const char *path)
{
	static char buf[8192];
	ssize_t n = rf_tree_read(t, path, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static struct rf_tree *tree_with_outlet(struct fake *f)
{
	struct rf_tree *t = rf_tree_new("00000000-0000-4000-8000-000000000001");

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	fake_init(f, t);
	rf_tree_set_max_age(t, 100000);
	CU_ASSERT_EQUAL(rf_tree_add_collection(t, &f->p, "/redfish/v1/PowerEquipment/RackPDUs/S/Outlets",
					       "#OutletCollection.OutletCollection", "Outlets"), 0);
	CU_ASSERT_EQUAL(rf_tree_install(t, &f->p, OUTLET, outlet_body("On", 12.5), outlet_writable,
					rf_tree_generation(t)), 1);
	return t;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_service_root(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct rf_dirent *d;
	size_t n;
	int err;
	struct rf_doc *doc;
	struct json_object *o, *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	doc = rf_tree_get_doc(t, "/redfish/v1/", &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	o = json_tokener_parse(doc->json);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "Links", &v) && json_object_object_get_ex(v, "Sessions", &v));
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "PowerEquipment", NULL));
	CU_ASSERT_STRING_EQUAL(doc->odata_type, "#ServiceRoot.v1_20_0.ServiceRoot");
	json_object_put(o);
	rf_doc_unref(doc);
	CU_ASSERT_EQUAL(rf_tree_list(t, "/", &d, &n), 0);
	{
		bool chassis = false, index = false, links = false;

		for (size_t i = 0; i < n; i++) {
			chassis |= strcmp(d[i].name, "Chassis") == 0 && d[i].st.kind == RF_KIND_DIR;
			index |= strcmp(d[i].name, "index.json") == 0 && d[i].st.kind == RF_KIND_FILE;
			links |= strcmp(d[i].name, "Links") == 0;
		}
		CU_ASSERT_TRUE(chassis && index && links);
	}
	rf_dirents_free(d, n);
	/* The RackPDUs collection exists, empty. */
	doc = rf_tree_get_doc(t, "/redfish/v1/PowerEquipment/RackPDUs", &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_PTR_NOT_NULL(strstr(doc->json, "\"Members@odata.count\": 0"));
	rf_doc_unref(doc);
	CU_ASSERT_PTR_NULL(rf_tree_get_doc(t, "/redfish/v1/Nope", &err));
	CU_ASSERT_EQUAL(err, -ENOENT);
	rf_tree_free(t);
}

static void test_mapping_kinds(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	struct rf_stat st;
	char link[512];
	const char *base = "PowerEquipment/RackPDUs/S/Outlets/2/";
	char p[256];

#define P(x) (snprintf(p, sizeof(p), "%s%s", base, x), p)
	/* string, number, boolean: value and \n; strings unquoted */
	CU_ASSERT_STRING_EQUAL(read_all(t, P("PowerState")), "On\n");
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Count")), "3\n");
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Enabled")), "true\n");
	CU_ASSERT_STRING_EQUAL(read_all(t, P("PowerWatts/Reading")), "12.5\n");
	/* null: empty file */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Nothing"), &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_FILE);
	CU_ASSERT_EQUAL(st.size, 0);
	/* array of scalars: one a line; empty array: empty file */
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Tags")), "a\nb\n");
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Empty"), &st), 0);
	CU_ASSERT_EQUAL(st.size, 0);
	/* object: directory */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Status"), &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_DIR);
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Status/Health")), "OK\n");
	/* array of objects/links: directory 0, 1 */
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Items/0/X")), "1\n");
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Items/1"), &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_LINK);
	CU_ASSERT_EQUAL(rf_tree_readlink(t, P("Items/1"), link, sizeof(link)), 0);
	CU_ASSERT_STRING_EQUAL(link, "../../../../../../Chassis");
	/* link: relative symlink */
	CU_ASSERT_EQUAL(rf_tree_readlink(t, P("Links/Chassis"), link, sizeof(link)), 0);
	CU_ASSERT_STRING_EQUAL(link, "../../../../../../Chassis/S");
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Links/Chassis"), &st), 0);
	CU_ASSERT_EQUAL(st.size, strlen(link));
	/* a link to a sub-resource at its own position: a directory */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Sub"), &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_DIR);
	/* annotations only in index.json */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Name@Redfish.AllowableValues"), &st), -ENOENT);
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("@odata.id"), &st), -ENOENT);
	/* actions: file listing allowable values, writable */
	CU_ASSERT_STRING_EQUAL(read_all(t, P("Actions/Outlet.PowerControl")), "On\nOff\nPowerCycle\n");
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Actions/Outlet.PowerControl"), &st), 0);
	CU_ASSERT_TRUE(st.writable);
	/* permissions: UserLabel and PowerState writable, Name not */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("UserLabel"), &st), 0);
	CU_ASSERT_TRUE(st.writable);
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("PowerState"), &st), 0);
	CU_ASSERT_TRUE(st.writable);
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("Name"), &st), 0);
	CU_ASSERT_FALSE(st.writable);
	/* exact sizes, stable inodes */
	CU_ASSERT_EQUAL(rf_tree_stat(t, P("UserLabel"), &st), 0);
	CU_ASSERT_EQUAL(st.size, strlen("Lamp\n"));
	{
		struct rf_stat st2;
		struct rf_tree *t2 = rf_tree_new(NULL);

		CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis", &st), 0);
		CU_ASSERT_EQUAL(rf_tree_stat(t2, "Chassis", &st2), 0);
		CU_ASSERT_EQUAL(st.ino, st2.ino);
		rf_tree_free(t2);
	}
	/* index.json is the document, byte for byte */
	{
		int err;
		struct rf_doc *doc = rf_tree_get_doc(t, OUTLET, &err);
		char *idx = read_all(t, P("index.json"));

		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
		CU_ASSERT_STRING_EQUAL(idx, doc->json);
		CU_ASSERT_PTR_NULL(strstr(doc->json, "\\/"));
		CU_ASSERT_TRUE(doc->patchable);
		rf_doc_unref(doc);
		doc = rf_tree_get_doc(t, "/redfish/v1", &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_FALSE(doc->patchable);
		rf_doc_unref(doc);
	}
	/* the outlet is a member of its collection, and a subdirectory */
	CU_ASSERT_EQUAL(rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2", &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_DIR);
	{
		struct rf_dirent *d;
		size_t n;
		bool has2 = false, members = false;

		CU_ASSERT_EQUAL(rf_tree_list(t, "PowerEquipment/RackPDUs/S/Outlets", &d, &n), 0);
		for (size_t i = 0; i < n; i++) {
			has2 |= strcmp(d[i].name, "2") == 0 && d[i].st.kind == RF_KIND_DIR;
			members |= strcmp(d[i].name, "Members") == 0;
		}
		CU_ASSERT_TRUE(has2);
		CU_ASSERT_FALSE(members);
		rf_dirents_free(d, n);
	}
	/* an intermediate directory nobody installed exists ("S") */
	CU_ASSERT_EQUAL(rf_tree_stat(t, "PowerEquipment/RackPDUs/S", &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_DIR);
#undef P
	rf_tree_free(t);
}

static void test_etag_generation_mtime(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	struct rf_doc *d1, *d2;
	struct rf_stat s1, s2, l1, l2;
	uint64_t g;
	int err;

	d1 = rf_tree_get_doc(t, OUTLET, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d1);
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/UserLabel", &l1);
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerWatts/Reading", &s1);
	/* Identical body: same ETag, install reports no change. */
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, OUTLET, outlet_body("On", 12.5), outlet_writable,
					rf_tree_generation(t)), 0);
	d2 = rf_tree_get_doc(t, OUTLET, &err);
	CU_ASSERT_EQUAL(d1->etag, d2->etag);
	rf_doc_unref(d2);
	usleep(10000);
	/* A new value: new ETag; the changed file's mtime moves, others keep theirs. */
	g = rf_tree_generation(t);
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, OUTLET, outlet_body("On", 20), outlet_writable, g), 1);
	d2 = rf_tree_get_doc(t, OUTLET, &err);
	CU_ASSERT_NOT_EQUAL(d1->etag, d2->etag);
	CU_ASSERT_STRING_EQUAL(read_all(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerWatts/Reading"), "20\n");
	/* The old reference still holds the old bytes. */
	CU_ASSERT_PTR_NOT_NULL(strstr(d1->json, "12.5"));
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/UserLabel", &l2);
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerWatts/Reading", &s2);
	CU_ASSERT_TRUE(l1.mtime.tv_sec == l2.mtime.tv_sec && l1.mtime.tv_nsec == l2.mtime.tv_nsec);
	CU_ASSERT_FALSE(s1.mtime.tv_sec == s2.mtime.tv_sec && s1.mtime.tv_nsec == s2.mtime.tv_nsec);
	/* A fetch based on a generation older than the last write is dropped. */
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, OUTLET, outlet_body("Off", 1), outlet_writable, g), -ESTALE);
	CU_ASSERT_STRING_EQUAL(read_all(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerState"), "On\n");
	/* A body whose @odata.id is not its URI is refused. */
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, "/redfish/v1/Chassis/X", outlet_body("On", 1), NULL,
					rf_tree_generation(t)), -EINVAL);
	rf_doc_unref(d1);
	rf_doc_unref(d2);
	rf_tree_free(t);
}

struct seen {
	char paths[64][256];
	int n;
};

static void listener(void *ud, const char *path)
{
	struct seen *s = ud;

	if (s->n < 64)
		snprintf(s->paths[s->n++], 256, "%s", path);
}

static bool seen_has(const struct seen *s, const char *path)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->paths[i], path) == 0)
			return true;
	return false;
}

static void test_listener_alias_collection(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	struct seen s = { .n = 0 };
	struct rf_stat st;
	char link[256];
	char *target;

	rf_tree_add_listener(t, listener, &s);
	rf_tree_install(t, &f.p, OUTLET, outlet_body("Off", 12.5), outlet_writable, rf_tree_generation(t));
	CU_ASSERT_TRUE(seen_has(&s, "PowerEquipment/RackPDUs/S/Outlets/2/PowerState"));
	CU_ASSERT_TRUE(seen_has(&s, "PowerEquipment/RackPDUs/S/Outlets/2/index.json"));
	CU_ASSERT_FALSE(seen_has(&s, "PowerEquipment/RackPDUs/S/Outlets/2/UserLabel"));
	/* alias: a symlink in the mount, a canonical URI for HTTP */
	CU_ASSERT_EQUAL(rf_tree_add_alias(t, "/redfish/v1/Chassis/S/Outlets",
					  "/redfish/v1/PowerEquipment/RackPDUs/S/Outlets"), 0);
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/S/Outlets", &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_LINK);
	CU_ASSERT_EQUAL(rf_tree_readlink(t, "Chassis/S/Outlets", link, sizeof(link)), 0);
	CU_ASSERT_STRING_EQUAL(link, "../../PowerEquipment/RackPDUs/S/Outlets");
	target = rf_tree_alias_target(t, "/redfish/v1/Chassis/S/Outlets/2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(target);
	CU_ASSERT_STRING_EQUAL(target, OUTLET);
	free(target);
	CU_ASSERT_PTR_NULL(rf_tree_alias_target(t, OUTLET));
	/* a new Chassis member appears in the collection document and listing */
	{
		struct json_object *c = json_tokener_parse(
			"{\"@odata.id\":\"/redfish/v1/Chassis/S\",\"@odata.type\":\"#Chassis.v1_28_0.Chassis\","
			"\"Id\":\"S\",\"Name\":\"S\",\"ChassisType\":\"PowerStrip\"}");
		int err;
		struct rf_doc *doc;

		CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, "/redfish/v1/Chassis/S", c, NULL, rf_tree_generation(t)), 1);
		doc = rf_tree_get_doc(t, "/redfish/v1/Chassis", &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_PTR_NOT_NULL(strstr(doc->json, "\"@odata.id\": \"/redfish/v1/Chassis/S\""));
		CU_ASSERT_PTR_NOT_NULL(strstr(doc->json, "\"Members@odata.count\": 1"));
		rf_doc_unref(doc);
		CU_ASSERT_TRUE(seen_has(&s, "Chassis"));
		CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/S/Outlets", &st), 0);
		CU_ASSERT_EQUAL(st.kind, RF_KIND_LINK);
		CU_ASSERT_EQUAL(rf_tree_remove(t, "/redfish/v1/Chassis/S"), 0);
		doc = rf_tree_get_doc(t, "/redfish/v1/Chassis", &err);
		CU_ASSERT_PTR_NOT_NULL(strstr(doc->json, "\"Members@odata.count\": 0"));
		rf_doc_unref(doc);
		CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/S", &st), -ENOENT);
	}
	rf_tree_remove_listener(t, listener, &s);
	rf_tree_free(t);
}

static void *get_doc_thread(void *arg)
{
	struct rf_tree *t = arg;
	int err;

	rf_doc_unref(rf_tree_get_doc(t, OUTLET, &err));
	return NULL;
}

static void test_freshness_coalesced(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	pthread_t th[6];
	struct rf_stat st;

	rf_tree_set_max_age(t, 50);
	f.refresh_delay_ms = 200;
	usleep(80000);
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, get_doc_thread, t);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	CU_ASSERT_EQUAL(atomic_load(&f.refreshes), 1);
	/* Fresh now: no further refresh. */
	f.refresh_delay_ms = 0;
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerState", &st);
	CU_ASSERT_EQUAL(atomic_load(&f.refreshes), 1);
	/* Stale again: the mount's stat refreshes too. */
	usleep(80000);
	rf_tree_stat(t, "PowerEquipment/RackPDUs/S/Outlets/2/PowerState", &st);
	CU_ASSERT_EQUAL(atomic_load(&f.refreshes), 2);
	rf_tree_free(t);
}

/* rf_tree_peek: what the tree holds, never a refresh; -ESTALE once older
 * than max-age (a read would refresh first). */
static void test_peek(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	const char *ps = "PowerEquipment/RackPDUs/S/Outlets/2/PowerState";
	struct rf_stat st, want;
	char buf[64], read_buf[64];
	ssize_t n;

	rf_tree_set_max_age(t, 100);
	CU_ASSERT_EQUAL(rf_tree_stat(t, ps, &want), 0);
	n = rf_tree_peek(t, ps, buf, sizeof(buf), &st);
	CU_ASSERT_EQUAL(n, (ssize_t)want.size);
	CU_ASSERT_EQUAL(rf_tree_read(t, ps, read_buf, sizeof(read_buf), 0), n);
	CU_ASSERT_TRUE(n > 0 && memcmp(buf, read_buf, (size_t)n) == 0 && strncmp(buf, "On", 2) == 0);
	CU_ASSERT_EQUAL(st.size, want.size);
	CU_ASSERT_EQUAL(st.mtime.tv_sec, want.mtime.tv_sec);
	CU_ASSERT_EQUAL(st.mtime.tv_nsec, want.mtime.tv_nsec);
	CU_ASSERT_EQUAL(rf_tree_peek(t, ps, buf, 1, &st), 1);          /* truncated to size */
	CU_ASSERT_EQUAL(rf_tree_peek(t, "PowerEquipment/RackPDUs/S/Outlets/2", buf, sizeof(buf), &st),
			-EISDIR);
	CU_ASSERT_EQUAL(rf_tree_peek(t, "PowerEquipment/RackPDUs/S/Outlets/2/Nope", buf,
				     sizeof(buf), &st), -ENOENT);
	usleep(150000);
	CU_ASSERT_EQUAL(rf_tree_peek(t, ps, buf, sizeof(buf), &st), -ESTALE);
	CU_ASSERT_EQUAL(atomic_load(&f.refreshes), 0);
	rf_tree_free(t);
}

static void test_writes(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	const char *ps = "PowerEquipment/RackPDUs/S/Outlets/2/PowerState";

	/* PowerState maps to the action, case-insensitively, newline dropped */
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "off\n", 4), 0);
	CU_ASSERT_EQUAL(f.actions, 1);
	CU_ASSERT_STRING_EQUAL(f.last_action, "Outlet.PowerControl");
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"PowerState\":\"Off\"}");
	/* a value not allowed: EINVAL, nothing sent */
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "Foo\n", 4), -EINVAL);
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "On\nOff\n", 7), -EINVAL);
	CU_ASSERT_EQUAL(f.actions, 1);
	/* read-only */
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Name", "x\n", 2), -EACCES);
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Status", "x", 1), -EISDIR);
	/* writable property: a PATCH delta */
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/UserLabel", "Kettle\n", 7), 0);
	CU_ASSERT_EQUAL(f.patches, 1);
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"UserLabel\":\"Kettle\"}");
	/* too long for the device */
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/UserLabel",
				      "0123456789012345678901234567890123456789", 40), -EINVAL);
	CU_ASSERT_EQUAL(f.patches, 1);
	/* action files: one value, or a JSON object; no-parameter actions */
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Actions/Outlet.PowerControl",
				      "PowerCycle\n", 11), 0);
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"PowerState\":\"PowerCycle\"}");
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Actions/Outlet.PowerControl",
				      "{\"PowerState\":\"on\"}", 19), 0);
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"PowerState\":\"On\"}");
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Actions/Outlet.PowerControl",
				      "{\"Bogus\":\"on\"}", 14), -EINVAL);
	CU_ASSERT_EQUAL(rf_tree_write(t, "PowerEquipment/RackPDUs/S/Outlets/2/Actions/Outlet.ResetMetrics",
				      "1\n", 2), 0);
	CU_ASSERT_STRING_EQUAL(f.last_action, "Outlet.ResetMetrics");
	/* the provider's error comes back */
	f.fail_with = -EHOSTUNREACH;
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "On", 2), -EHOSTUNREACH);
	rf_tree_free(t);
}

static void test_patch_and_post(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	struct rf_error e;
	struct json_object *d;
	int err;
	struct rf_doc *doc = rf_tree_get_doc(t, OUTLET, &err);
	char etag[32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)doc->etag);
	rf_doc_unref(doc);

	d = json_tokener_parse("{\"UserLabel\":\"Desk\"}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, etag, &e), 0);
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"UserLabel\":\"Desk\"}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, "\"999999\"", &e), -ESTALE);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_STALE);
	json_object_put(d);
	/* all or nothing: one bad property, nothing sent */
	d = json_tokener_parse("{\"UserLabel\":\"Desk\",\"PowerState\":\"Off\"}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, NULL, &e), -EACCES);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PROP_NOT_WRITABLE);
	CU_ASSERT_STRING_EQUAL(e.property, "PowerState");
	json_object_put(d);
	d = json_tokener_parse("{\"Bogus\":1}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PROP_UNKNOWN);
	json_object_put(d);
	d = json_tokener_parse("{\"UserLabel\":5}");
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PROP_TYPE);
	json_object_put(d);
	CU_ASSERT_EQUAL(f.patches, 1);

	d = json_tokener_parse("{\"PowerState\":\"Off\"}");
	CU_ASSERT_EQUAL(rf_tree_post_action(t, OUTLET "/Actions/Outlet.PowerControl", d, NULL, &e), 0);
	CU_ASSERT_STRING_EQUAL(f.last_action, "Outlet.PowerControl");
	json_object_put(d);
	d = json_tokener_parse("{\"PowerState\":\"Sideways\"}");
	CU_ASSERT_EQUAL(rf_tree_post_action(t, OUTLET "/Actions/Outlet.PowerControl", d, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PARAM_VALUE);
	json_object_put(d);
	CU_ASSERT_EQUAL(rf_tree_post_action(t, OUTLET "/Actions/Outlet.PowerControl", NULL, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PARAM_MISSING);
	CU_ASSERT_EQUAL(rf_tree_post_action(t, OUTLET "/Actions/Outlet.Nope", NULL, NULL, &e), -ENOENT);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(f.actions, 1);
	rf_tree_free(t);
}

/* An install's cookie comes back with every write to that resource, from
 * both front ends; a later install replaces it without a new rendering. */
static void test_cookies(void)
{
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);
	struct rf_error e;
	struct json_object *d = json_tokener_parse("{\"UserLabel\":\"Desk\"}");
	const char *ps = "PowerEquipment/RackPDUs/S/Outlets/2/PowerState";
	int one = 1, two = 2, err;
	struct rf_doc *doc;
	uint64_t etag;

	/* installed without one: NULL */
	f.last_cookie = &two;
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "Off", 3), 0);
	CU_ASSERT_PTR_NULL(f.last_cookie);
	CU_ASSERT_EQUAL(rf_tree_install_cookie(t, &f.p, OUTLET, outlet_body("On", 1), outlet_writable,
					       &one, rf_tree_generation(t)), 1);
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "Off", 3), 0);
	CU_ASSERT_PTR_EQUAL(f.last_cookie, &one);
	f.last_cookie = NULL;
	CU_ASSERT_EQUAL(rf_tree_patch(t, OUTLET, d, NULL, &e), 0);
	CU_ASSERT_PTR_EQUAL(f.last_cookie, &one);
	f.last_cookie = NULL;
	CU_ASSERT_EQUAL(rf_tree_post_action(t, OUTLET "/Actions/Outlet.ResetMetrics", NULL, NULL, &e), 0);
	CU_ASSERT_PTR_EQUAL(f.last_cookie, &one);
	/* the same body with another cookie: unchanged document, new cookie */
	doc = rf_tree_get_doc(t, OUTLET, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	etag = doc->etag;
	rf_doc_unref(doc);
	CU_ASSERT_EQUAL(rf_tree_install_cookie(t, &f.p, OUTLET, outlet_body("On", 1), outlet_writable,
					       &two, rf_tree_generation(t)), 0);
	doc = rf_tree_get_doc(t, OUTLET, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(doc->etag, etag);
	rf_doc_unref(doc);
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "On", 2), 0);
	CU_ASSERT_PTR_EQUAL(f.last_cookie, &two);
	/* a stale install changes nothing, the cookie neither */
	CU_ASSERT_EQUAL(rf_tree_install_cookie(t, &f.p, OUTLET, outlet_body("Off", 1), outlet_writable,
					       &one, 0), -ESTALE);
	CU_ASSERT_EQUAL(rf_tree_write(t, ps, "On", 2), 0);
	CU_ASSERT_PTR_EQUAL(f.last_cookie, &two);
	json_object_put(d);
	rf_tree_free(t);
}

/* A system whose Reset is described by an ActionInfo resource (as
 * OpenBMC's is), not by annotations. */
static void test_action_info(void)
{
	struct fake f;
	struct rf_tree *t = rf_tree_new(NULL);
	struct rf_error e;
	struct json_object *d;
	struct rf_stat st;
	const char *sys = "/redfish/v1/Systems/s1";

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	fake_init(&f, t);
	rf_tree_set_max_age(t, 100000);
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, sys, json_tokener_parse(
		"{\"@odata.id\":\"/redfish/v1/Systems/s1\",\"@odata.type\":\"#ComputerSystem.v1_22_0.ComputerSystem\","
		"\"Id\":\"s1\",\"Name\":\"s1\",\"PowerState\":\"On\",\"Actions\":{\"#ComputerSystem.Reset\":{"
		"\"target\":\"/redfish/v1/Systems/s1/Actions/ComputerSystem.Reset\","
		"\"@Redfish.ActionInfo\":\"/redfish/v1/Systems/s1/ResetActionInfo\"}}}"), NULL, rf_tree_generation(t)), 1);
	CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, "/redfish/v1/Systems/s1/ResetActionInfo", json_tokener_parse(
		"{\"@odata.id\":\"/redfish/v1/Systems/s1/ResetActionInfo\",\"@odata.type\":\"#ActionInfo.v1_4_2.ActionInfo\","
		"\"Id\":\"ResetActionInfo\",\"Name\":\"Reset\",\"Parameters\":[{\"Name\":\"ResetType\",\"Required\":true,"
		"\"DataType\":\"String\",\"AllowableValues\":[\"On\",\"ForceOff\",\"GracefulShutdown\",\"GracefulRestart\"]}]}"),
		NULL, rf_tree_generation(t)), 1);
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Systems/s1/PowerState", &st), 0);
	CU_ASSERT_TRUE(st.writable);
	/* one value to the action file goes to its one parameter, checked */
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/s1/Actions/ComputerSystem.Reset", "gracefulrestart\n", 16), 0);
	CU_ASSERT_STRING_EQUAL(f.last_action, "ComputerSystem.Reset");
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"ResetType\":\"GracefulRestart\"}");
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/s1/Actions/ComputerSystem.Reset", "Nmi\n", 4), -EINVAL);
	/* PowerState Off: the nearest ResetType the system allows */
	CU_ASSERT_EQUAL(rf_tree_write(t, "Systems/s1/PowerState", "Off\n", 4), 0);
	CU_ASSERT_STRING_EQUAL(f.last_json, "{\"ResetType\":\"ForceOff\"}");
	CU_ASSERT_EQUAL(f.actions, 2);
	/* over HTTP: a value not allowed, an unknown and a missing parameter */
	d = json_tokener_parse("{\"ResetType\":\"PushPowerButton\"}");
	CU_ASSERT_EQUAL(rf_tree_post_action(t, "/redfish/v1/Systems/s1/Actions/ComputerSystem.Reset", d, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PARAM_VALUE);
	json_object_put(d);
	d = json_tokener_parse("{\"ResetType\":\"On\",\"Bogus\":1}");
	CU_ASSERT_EQUAL(rf_tree_post_action(t, "/redfish/v1/Systems/s1/Actions/ComputerSystem.Reset", d, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PARAM_UNKNOWN);
	json_object_put(d);
	CU_ASSERT_EQUAL(rf_tree_post_action(t, "/redfish/v1/Systems/s1/Actions/ComputerSystem.Reset", NULL, NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.kind, RF_ERR_PARAM_MISSING);
	CU_ASSERT_EQUAL(f.actions, 2);

	/* A provider may give an action file's values in the writable list
	 * ("Actions/..."): the file lists them, but it is no property PATCH
	 * may change, and it does not make the resource PATCHable. */
	{
		static const char *const vals[] = { "On", "ForceOff", NULL };
		static const struct rf_writable hint[] = {
			{ "Actions/ComputerSystem.Reset", vals, 0 },
			{ NULL, NULL, 0 },
		};
		struct rf_doc *doc;
		char buf[128];
		ssize_t n;
		int err;

		CU_ASSERT_EQUAL(rf_tree_install(t, &f.p, sys, json_tokener_parse(
			"{\"@odata.id\":\"/redfish/v1/Systems/s1\",\"@odata.type\":\"#ComputerSystem.v1_22_0.ComputerSystem\","
			"\"Id\":\"s1\",\"Name\":\"s1\",\"PowerState\":\"On\",\"Actions\":{\"#ComputerSystem.Reset\":{"
			"\"target\":\"/redfish/v1/Systems/s1/Actions/ComputerSystem.Reset\","
			"\"@Redfish.ActionInfo\":\"/redfish/v1/Systems/s1/ResetActionInfo\"}}}"), hint,
			rf_tree_generation(t)), 1);
		n = rf_tree_read(t, "Systems/s1/Actions/ComputerSystem.Reset", buf, sizeof(buf) - 1, 0);
		CU_ASSERT_TRUE_FATAL(n > 0);
		buf[n] = '\0';
		CU_ASSERT_STRING_EQUAL(buf, "On\nForceOff\n");
		doc = rf_tree_get_doc(t, sys, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_FALSE(doc->patchable);
		rf_doc_unref(doc);
		d = json_tokener_parse("{\"Actions\":{\"ComputerSystem.Reset\":\"On\"}}");
		CU_ASSERT_NOT_EQUAL(rf_tree_patch(t, sys, d, NULL, &e), 0);
		json_object_put(d);
		CU_ASSERT_EQUAL(f.patches, 0);
	}
	rf_tree_free(t);
}

static void test_relative_links(void)
{
	size_t n;
	char **uris;
	struct fake f;
	struct rf_tree *t = tree_with_outlet(&f);

	uris = rf_tree_list_uris(t, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(uris);
	CU_ASSERT_TRUE(n >= 6);
	CU_ASSERT_STRING_EQUAL(uris[0], "/redfish/v1");
	rf_strv_free(uris);
	uris = rf_tree_list_types(t, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(uris);
	{
		bool outlet = false;

		for (size_t i = 0; i < n; i++)
			outlet |= strcmp(uris[i], "Outlet.v1_4_4") == 0;
		CU_ASSERT_TRUE(outlet);
	}
	rf_strv_free(uris);
	rf_tree_free(t);
}

/* The one If-Match / If-None-Match parser. */
static void test_etag_lists(void)
{
	static const struct {
		const char *list;
		uint64_t etag;
		bool match;
	} rows[] = {
		{ "\"12\"", 12, true },
		{ "\"12\"", 13, false },
		{ "\"1\"", 12, false },
		{ "\"123\"", 12, false },
		{ "*", 7, true },
		{ "W/\"12\"", 12, true },
		{ "\"3\", \"12\"", 12, true },
		{ "\"3\",W/\"12\"", 12, true },
		{ " \t\"12\" ", 12, true },
		{ "\"3\", \"4\"", 12, false },
		{ "12", 12, false },
		{ "", 12, false },
		{ ", ,", 12, false },
		{ "W/", 12, false },
		{ "**", 12, false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rf_etag_matches(rows[i].list, rows[i].etag) != rows[i].match)
			fprintf(stderr, "\netag list [%s] vs %llu\n", rows[i].list,
				(unsigned long long)rows[i].etag);
		CU_ASSERT_EQUAL(rf_etag_matches(rows[i].list, rows[i].etag), rows[i].match);
	}
}

/* Another provider's resource is never replaced; tree collections are
 * joined; a source mistake is told once; a link below a resource at no
 * position of it loads on lookup and shows under a plain directory whose
 * mtime stays put. */
static int n_reports;

static void on_report(void *ud, const char *source, const char *uri, const char *msg)
{
	(void)ud;
	(void)msg;
	if (strcmp(source, "fake") == 0 && strcmp(uri, "/redfish/v1/Chassis/X") == 0)
		n_reports++;
}

static int orphan_refresh(struct rf_provider *p, const char *uri, int64_t max_age)
{
	struct fake *f = p->userdata;

	(void)max_age;
	atomic_fetch_add(&f->refreshes, 1);
	if (strcmp(uri, "/redfish/v1/Chassis/X/Drives/D1") != 0)
		return -ENOENT;
	return rf_tree_install(f->t, p, uri, json_tokener_parse(
		"{\"@odata.id\":\"/redfish/v1/Chassis/X/Drives/D1\",\"Id\":\"D1\"}"), NULL,
		rf_tree_generation(f->t));
}

static const struct rf_provider_ops orphan_ops = { .refresh = orphan_refresh };

static void test_owners_and_orphans(void)
{
	struct rf_tree *t = rf_tree_new(NULL);
	struct fake a, b;
	struct rf_stat st, st2;
	char *v;

	fake_init(&a, t);
	fake_init(&b, t);
	a.p.ops = &orphan_ops;
	CU_ASSERT_EQUAL(rf_tree_install(t, &a.p, "/redfish/v1/Chassis/X", json_tokener_parse(
		"{\"@odata.id\":\"/redfish/v1/Chassis/X\",\"Id\":\"X\","
		"\"Links\":{\"Drives\":[{\"@odata.id\":\"/redfish/v1/Chassis/X/Drives/D1\"}]}}"),
		NULL, rf_tree_generation(t)), 1);
	CU_ASSERT_EQUAL(rf_tree_claim_prefix(t, &a.p, "/redfish/v1/Chassis/X"), 0);
	CU_ASSERT_EQUAL(rf_tree_install(t, &b.p, "/redfish/v1/Chassis/X", json_tokener_parse(
		"{\"@odata.id\":\"/redfish/v1/Chassis/X\",\"Id\":\"other\"}"), NULL,
		rf_tree_generation(t)), -EPERM);
	v = read_all(t, "Chassis/X/Id");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "X\n");
	CU_ASSERT_EQUAL(rf_tree_add_collection(t, &b.p, "/redfish/v1/Chassis",
					       "#ChassisCollection.ChassisCollection", "C"), 0);

	/* Drives is no resource: a plain directory, D1 loaded by the lookup. */
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/X/Drives/D1/Id", &st), 0);
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/X/Drives", &st), 0);
	CU_ASSERT_EQUAL(st.kind, RF_KIND_DIR);
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/X/Drives/index.json", &st2), -ENOENT);
	usleep(20000);
	CU_ASSERT_EQUAL(rf_tree_stat(t, "Chassis/X/Drives", &st2), 0);
	CU_ASSERT_TRUE(st.mtime.tv_sec == st2.mtime.tv_sec && st.mtime.tv_nsec == st2.mtime.tv_nsec);

	rf_tree_set_source_reporter(t, on_report, NULL);
	rf_tree_report_source(t, "fake", "/redfish/v1/Chassis/X", "claims %s", "Y");
	rf_tree_report_source(t, "fake", "/redfish/v1/Chassis/X", "claims %s", "Y");
	CU_ASSERT_EQUAL(n_reports, 1);
	rf_tree_free(t);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("tree", NULL, NULL);
	CU_add_test(s, "service root and collections", test_service_root);
	CU_add_test(s, "mapping of every JSON kind", test_mapping_kinds);
	CU_add_test(s, "etag, generations, mtimes", test_etag_generation_mtime);
	CU_add_test(s, "listener, aliases, members", test_listener_alias_collection);
	CU_add_test(s, "freshness, coalesced refresh", test_freshness_coalesced);
	CU_add_test(s, "peek: no refresh", test_peek);
	CU_add_test(s, "mount writes", test_writes);
	CU_add_test(s, "patch and actions", test_patch_and_post);
	CU_add_test(s, "install cookies reach patch and actions", test_cookies);
	CU_add_test(s, "uris and types", test_relative_links);
	CU_add_test(s, "actions described by an ActionInfo", test_action_info);
	CU_add_test(s, "If-Match lists", test_etag_lists);
	CU_add_test(s, "owners, orphan links, source reports", test_owners_and_orphans);
	return tu_run_cunit();
}
