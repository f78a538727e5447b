/* test_bmc.c — the BMC provider (redfish/bmc.c) against the fake BMC of
 * test_bmc_fake.c serving the DMTF public-rackmount1 mockup with login
 * required: aggregation, lazy loading with one GET per resource, bodies
 * equal after rewriting, writes (PATCH, actions, the PowerState extension,
 * enum checks before sending), malformed replies, session expiry, offline
 * and back, the background prefetch of a started BMC (bounded, racing a
 * walk without a second GET); plus the option helpers (NAME=URL, password
 * files). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "test_bmc_fake.h"
#include "common.h"
#include "testutil.h"

#define SYS RF_ROOT "/Systems/rack1_437XR1138R2"

static char mockup[1024];
static struct fake_bmc *fake;
static struct rf_tree *tree;
static struct rf_bmc *bmc;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[512];
static int n_errors;

static void on_error(void *ud, const char *name, int err, const char *msg)
{
	(void)ud;
	pthread_mutex_lock(&err_lock);
	snprintf(last_error, sizeof(last_error), "%s: %s", name, msg);
	n_errors++;
	pthread_mutex_unlock(&err_lock);
	(void)err;
}

static struct json_object *doc_json(const char *uri, int *ret_err)
{
	int err = 0;
	struct rf_doc *d = rf_tree_get_doc(tree, uri, &err);
	struct json_object *o;

	if (ret_err)
		*ret_err = d ? 0 : err;
	if (!d)
		return NULL;
	o = json_tokener_parse(d->json);
	rf_doc_unref(d);
	return o;
}

static char *prop(const char *uri, const char *key)
{
	struct json_object *o = doc_json(uri, NULL), *v = NULL, *cur = o;
	char buf[256], *save = NULL;
	char *out = NULL;

	snprintf(buf, sizeof(buf), "%s", key);
	for (char *t = strtok_r(buf, "/", &save); t && cur; t = strtok_r(NULL, "/", &save))
		cur = json_object_object_get_ex(cur, t, &v) ? v : NULL;
	if (o && json_object_object_get_ex(o, strchr(key, '/') ? "@odata.id" : key, &v))
		out = strdup(cur ? json_object_get_string(cur) : "null");
	json_object_put(o);
	return out;
}

static void test_options(void)
{
	char *name, *url, *pw = NULL;
	char tmp[] = "/tmp/rf-pw-XXXXXX";
	int fd;

	CU_ASSERT_EQUAL(rf_bmc_parse_arg("rack1=https://10.0.0.21", &name, &url), 0);
	CU_ASSERT_STRING_EQUAL(name, "rack1");
	CU_ASSERT_STRING_EQUAL(url, "https://10.0.0.21");
	free(name);
	free(url);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r-2=http://127.0.0.1:8000/redfish/v1/", &name, &url), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://127.0.0.1:8000");
	free(name);
	free(url);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=https://[::1]:443", &name, &url), 0);
	free(name);
	free(url);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("a_b=https://x", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("=https://x", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=ftp://x", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=https://user:pw@x", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=https://x/other", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=https://x:99999", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("r=https://", &name, &url), -EINVAL);
	CU_ASSERT_EQUAL(rf_bmc_parse_arg("rack1", &name, &url), -EINVAL);
	CU_ASSERT_TRUE(rf_bmc_url_plain_remote("http://10.0.0.21"));
	CU_ASSERT_FALSE(rf_bmc_url_plain_remote("http://127.0.0.1:8000"));
	CU_ASSERT_FALSE(rf_bmc_url_plain_remote("http://localhost"));
	CU_ASSERT_FALSE(rf_bmc_url_plain_remote("http://[::1]:80"));
	CU_ASSERT_FALSE(rf_bmc_url_plain_remote("https://10.0.0.21"));

	fd = mkstemp(tmp);
	CU_ASSERT_TRUE_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "s3cret\n", 7), 7);
	close(fd);
	CU_ASSERT_EQUAL(chmod(tmp, 0600), 0);
	CU_ASSERT_EQUAL(password_file_read(tmp, &pw), 0);
	CU_ASSERT_STRING_EQUAL(pw, "s3cret");
	free(pw);
	CU_ASSERT_EQUAL(chmod(tmp, 0640), 0);
	CU_ASSERT_EQUAL(password_file_read(tmp, &pw), -EPERM);
	CU_ASSERT_EQUAL(chmod(tmp, 0604), 0);
	CU_ASSERT_EQUAL(password_file_read(tmp, &pw), -EPERM);
	CU_ASSERT_EQUAL(chmod(tmp, 0600), 0);
	fd = open(tmp, O_WRONLY | O_TRUNC);
	close(fd);
	CU_ASSERT_EQUAL(password_file_read(tmp, &pw), -EINVAL);     /* empty */
	fd = open(tmp, O_WRONLY | O_TRUNC);
	CU_ASSERT_EQUAL(write(fd, "two\nlines\n", 10), 10);
	close(fd);
	CU_ASSERT_EQUAL(password_file_read(tmp, &pw), -EINVAL);     /* one line only */
	CU_ASSERT_EQUAL(password_file_read("/tmp", &pw), -EINVAL);  /* not a file */
	CU_ASSERT_EQUAL(password_file_read("/nonexistent/pw", &pw), -ENOENT);
	unlink(tmp);
}

static void test_probe(void)
{
	char url[64];
	struct rf_bmc_config cfg = { .name = "rack1", .url = url, .user = "admin",
				     .password = "secret", .timeout_ms = 2000, .parallel = 8,
				     .on_error = on_error };
	struct json_object *o, *m, *v;
	int err = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_bmc_port(fake));
	/* A wrong password: EACCES from the probe, with a message. */
	cfg.password = "wrong";
	bmc = rf_bmc_new(tree, &cfg, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bmc);
	CU_ASSERT_EQUAL(rf_bmc_probe(bmc), -EACCES);
	CU_ASSERT_TRUE(n_errors > 0);
	CU_ASSERT_PTR_NULL(strstr(last_error, "wrong"));       /* never the password */
	bmc = rf_bmc_free(bmc);

	cfg.password = "secret";
	bmc = rf_bmc_new(tree, &cfg, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bmc);
	fake_bmc_reset_counts(fake);
	CU_ASSERT_EQUAL(rf_bmc_probe(bmc), 0);
	CU_ASSERT_TRUE(rf_bmc_online(bmc));

	o = doc_json(RF_ROOT "/Systems", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "Members", &m));
	CU_ASSERT_EQUAL(json_object_array_length(m), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(o), "rack1_437XR1138R2"));
	json_object_put(o);
	o = doc_json(RF_ROOT "/Managers", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(o), "rack1_BMC"));
	json_object_put(o);
	o = doc_json(RF_ROOT "/Chassis", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(o), "rack1_1U"));
	json_object_put(o);
	o = doc_json(RF_ROOT "/AggregationService/AggregationSources/rack1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "HostName")), url);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_object_get(o, "UserName")), "admin");
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "Password", &v) && v == NULL);
	CU_ASSERT_PTR_NULL(strstr(json_object_to_json_string(o), "secret"));
	json_object_put(o);
	/* Nothing of the tree carries the password. */
	size_t n;
	char **uris = rf_tree_list_uris(tree, &n);

	for (size_t i = 0; i < n; i++) {
		struct rf_doc *d = rf_tree_get_doc(tree, uris[i], &err);

		CU_ASSERT_PTR_NULL(d ? strstr(d->json, "secret") : NULL);
		rf_doc_unref(d);
	}
	rf_strv_free(uris);
	/* One GET each: no resource fetched twice. */
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
}

static void test_bad_replies(void)
{
	int err = 0;
	int64_t t0;

	/* Not loaded yet (lazy): each misbehaving reply fails the load. */
	fake_bmc_set_mode(fake, FAKE_MALFORMED, 0, 1);
	CU_ASSERT_PTR_NULL(doc_json(RF_ROOT "/Managers/rack1_BMC/NetworkProtocol", &err));
	CU_ASSERT_EQUAL(err, -EBADMSG);
	fake_bmc_set_mode(fake, FAKE_HUGE, 20, 1);
	CU_ASSERT_PTR_NULL(doc_json(RF_ROOT "/Managers/rack1_BMC/NetworkProtocol", &err));
	CU_ASSERT_EQUAL(err, -EFBIG);
	fake_bmc_set_mode(fake, FAKE_503, 30, 1);
	t0 = tu_now_ms();
	CU_ASSERT_PTR_NULL(doc_json(RF_ROOT "/Managers/rack1_BMC/NetworkProtocol", &err));
	CU_ASSERT_EQUAL(err, -EAGAIN);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 2000);
	/* A body that names another @odata.id is what its URI returned: kept
	 * there, its @odata.id set to the URI (and reported). Fetched again
	 * (max-age 0), the right one replaces it. */
	fake_bmc_set_mode(fake, FAKE_WRONG_ID, 0, 1);
	struct json_object *o = doc_json(RF_ROOT "/Managers/rack1_BMC/NetworkProtocol", &err), *id;

	CU_ASSERT_TRUE(o && json_object_object_get_ex(o, "@odata.id", &id) &&
		       strcmp(json_object_get_string(id), RF_ROOT "/Managers/rack1_BMC/NetworkProtocol") == 0);
	CU_ASSERT_PTR_NULL(o ? json_object_object_get(o, "Name") : NULL);
	json_object_put(o);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	int64_t age = rf_tree_max_age(tree);

	rf_tree_set_max_age(tree, 0);
	usleep(20000);                   /* older than max-age 0 */
	o = doc_json(RF_ROOT "/Managers/rack1_BMC/NetworkProtocol", &err);
	rf_tree_set_max_age(tree, age);
	CU_ASSERT_PTR_NOT_NULL(o ? json_object_object_get(o, "Name") : NULL);
	json_object_put(o);
	CU_ASSERT_PTR_NULL(doc_json(RF_ROOT "/Systems/rack1_437XR1138R2/NoSuchThing", &err));
	CU_ASSERT_EQUAL(err, -ENOENT);
	CU_ASSERT_TRUE(rf_bmc_online(bmc));
}

/* Walk the mount view like tar: list every directory, read every file. */
static size_t walk(const char *path)
{
	struct rf_dirent *ents;
	size_t n, files = 0;

	if (rf_tree_list(tree, path, &ents, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char p[2048], buf[65536];

		snprintf(p, sizeof(p), "%s/%s", path, ents[i].name);
		if (ents[i].st.kind == RF_KIND_DIR)
			files += walk(p);
		else if (ents[i].st.kind == RF_KIND_FILE && rf_tree_read(tree, p, buf, sizeof(buf), 0) >= 0)
			files++;
	}
	rf_dirents_free(ents, n);
	return files;
}

static void test_walk_and_bodies(void)
{
	struct rf_rewrite rw;
	char **uris = fake_bmc_uris(fake);
	size_t compared = 0, files;
	int64_t t0;

	fake_bmc_reset_counts(fake);
	t0 = tu_now_ms();
	files = walk("Systems");
	files += walk("Chassis");
	files += walk("Managers");
	fprintf(stderr, "\n  cold walk: %zu files, %d GETs, %lld ms\n", files,
		fake_bmc_count(fake, "GET", NULL), (long long)(tu_now_ms() - t0));
	CU_ASSERT_TRUE(files > 1000);
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
	int cold = fake_bmc_count(fake, "GET", NULL);

	fake_bmc_reset_counts(fake);
	t0 = tu_now_ms();
	walk("Systems");
	walk("Chassis");
	walk("Managers");
	fprintf(stderr, "  warm walk: %d GETs, %lld ms\n", fake_bmc_count(fake, NULL, NULL),
		(long long)(tu_now_ms() - t0));
	CU_ASSERT_EQUAL(fake_bmc_count(fake, NULL, NULL), 0);
	CU_ASSERT_TRUE(cold > 100);

	/* Every resource below an aggregated member: present, body equal to
	 * the BMC's after rewriting (and without the copyright). */
	rf_rewrite_init(&rw, "rack1");
	rf_rewrite_add_collection(&rw, RF_ROOT "/Systems");
	rf_rewrite_add_collection(&rw, RF_ROOT "/Chassis");
	rf_rewrite_add_collection(&rw, RF_ROOT "/Managers");
	/* Every top-level collection of the BMC is aggregated, this one too. */
	rf_rewrite_add_collection(&rw, RF_ROOT "/ComponentIntegrity");
	for (size_t i = 0; uris[i]; i++) {
		char *local = rf_rewrite_uri_in(&rw, uris[i]);
		char *back = rf_rewrite_uri_out(&rw, local);

		if (back) {
			struct json_object *want = fake_bmc_body(fake, uris[i]), *got;
			int err = 0;

			json_object_object_del(want, "@Redfish.Copyright");
			json_object_object_add(want, "@odata.id", json_object_new_string(uris[i]));
			rf_rewrite_body(&rw, want, true);
			got = doc_json(local, &err);
			if (!json_object_equal(want, got))
				fprintf(stderr, "  differs: %s (%d)\n", local, err);
			CU_ASSERT_TRUE(json_object_equal(want, got));
			json_object_put(want);
			json_object_put(got);
			compared++;
		}
		free(local);
		free(back);
		free(uris[i]);
	}
	free(uris);
	rf_rewrite_done(&rw);
	CU_ASSERT_TRUE(compared > 150);
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
}

static void test_writes(void)
{
	char *v;
	int posts, patches;
	struct rf_stat st;

	/* Enum check before anything is sent. */
	patches = fake_bmc_count(fake, "PATCH", NULL);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/IndicatorLED", "Blue\n", 5), -EINVAL);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/Boot/BootSourceOverrideTarget",
				      "UefiHttp", 8), -EINVAL);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "PATCH", NULL), patches);
	CU_ASSERT_EQUAL(rf_tree_stat(tree, "Systems/rack1_437XR1138R2/SerialNumber", &st), 0);
	CU_ASSERT_FALSE(st.writable);
	CU_ASSERT_EQUAL(rf_tree_stat(tree, "Systems/rack1_437XR1138R2/AssetTag", &st), 0);
	CU_ASSERT_TRUE(st.writable);

	/* PATCH round trip. */
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/Boot/BootSourceOverrideTarget",
				      "hdd\n", 4), 0);
	v = fake_bmc_get(fake, RF_ROOT "/Systems/437XR1138R2", "Boot/BootSourceOverrideTarget");
	CU_ASSERT_STRING_EQUAL(v, "Hdd");
	free(v);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "PATCH", NULL), patches + 1);
	v = prop(SYS, "Boot/BootSourceOverrideTarget");
	CU_ASSERT_STRING_EQUAL(v, "Hdd");
	free(v);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/AssetTag", "Row-9", 5), 0);
	v = fake_bmc_get(fake, RF_ROOT "/Systems/437XR1138R2", "AssetTag");
	CU_ASSERT_STRING_EQUAL(v, "Row-9");
	free(v);

	/* PowerState -> ComputerSystem.Reset, then the BMC shows it. */
	posts = fake_bmc_count(fake, "POST", NULL);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/PowerState", "Off\n", 4), 0);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "POST",
				       RF_ROOT "/Systems/437XR1138R2/Actions/ComputerSystem.Reset"), posts + 1);
	v = fake_bmc_get(fake, RF_ROOT "/Systems/437XR1138R2", "PowerState");
	CU_ASSERT_STRING_EQUAL(v, "Off");
	free(v);
	v = prop(SYS, "PowerState");
	CU_ASSERT_STRING_EQUAL(v, "Off");
	free(v);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/Actions/ComputerSystem.Reset",
				      "GracefulRestart\n", 16), 0);
	v = fake_bmc_get(fake, RF_ROOT "/Systems/437XR1138R2", "PowerState");
	CU_ASSERT_STRING_EQUAL(v, "On");
	free(v);
	posts = fake_bmc_count(fake, "POST", NULL);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/Actions/ComputerSystem.Reset",
				      "Bogus", 5), -EINVAL);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "POST", NULL), posts);

	/* The BMC refuses: its errno, and its message told once. */
	int before = n_errors;

	fake_bmc_set_mode(fake, FAKE_401, 0, -1);
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/AssetTag", "X", 1), -EACCES);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
	CU_ASSERT_EQUAL(n_errors, before + 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(last_error, "no valid session"));
}

static void test_session_expiry(void)
{
	int logins = fake_bmc_logins(fake), err = 0;

	fake_bmc_expire_sessions(fake);
	rf_tree_set_max_age(tree, 0);
	for (int i = 0; i < 3; i++) {
		usleep(5000);     /* older than max-age 0: every read refreshes */
		struct json_object *o = doc_json(SYS, &err);

		CU_ASSERT_PTR_NOT_NULL(o);
		json_object_put(o);
		o = doc_json(RF_ROOT "/Chassis/rack1_1U/Power", &err);
		CU_ASSERT_PTR_NOT_NULL(o);
		json_object_put(o);
	}
	CU_ASSERT_EQUAL(fake_bmc_logins(fake), logins + 1);
	/* Conditional: an unchanged resource costs a 304, not a body. */
	rf_tree_set_max_age(tree, 60000);
}

static void test_offline_and_back(void)
{
	char *v;
	int64_t t0;
	int err = 0;

	CU_ASSERT_EQUAL(rf_bmc_start(bmc), 0);
	fake_bmc_down(fake);
	rf_tree_set_max_age(tree, 0);
	usleep(10000);            /* older than max-age 0 */
	t0 = tu_now_ms();
	struct json_object *o = doc_json(SYS, &err);

	json_object_put(o);
	fprintf(stderr, "\n  offline read: %d in %lld ms; %s\n", err, (long long)(tu_now_ms() - t0), last_error);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 2000);
	rf_tree_set_max_age(tree, 60000);
	CU_ASSERT_FALSE(rf_bmc_online(bmc));
	v = prop(SYS, "Status/State");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "UnavailableOffline");
	free(v);
	v = prop(SYS, "PowerState");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "null");
	free(v);
	v = prop(RF_ROOT "/AggregationService/AggregationSources/rack1", "Status/State");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "UnavailableOffline");
	free(v);
	/* Writes fail at once. */
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(rf_tree_write(tree, "Systems/rack1_437XR1138R2/AssetTag", "Y", 1), -EHOSTUNREACH);
	CU_ASSERT_TRUE(tu_now_ms() - t0 < 100);
	/* The rest of the tree is unaffected. */
	o = doc_json(RF_ROOT "/Systems", &err);
	CU_ASSERT_PTR_NOT_NULL(o);
	json_object_put(o);

	CU_ASSERT_EQUAL_FATAL(fake_bmc_up(fake), 0);
	for (t0 = tu_now_ms(); !rf_bmc_online(bmc) && tu_now_ms() - t0 < 10000;)
		usleep(50000);
	CU_ASSERT_TRUE(rf_bmc_online(bmc));
	v = prop(SYS, "Status/State");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "Enabled");
	free(v);
	v = prop(RF_ROOT "/AggregationService/AggregationSources/rack1", "Status/State");
	CU_ASSERT_STRING_EQUAL(v ? v : "", "Enabled");
	free(v);
}

/* A new tree and a BMC probed into it, at most 4 requests at once. */
static void restart_bmc(void)
{
	char url[64];
	struct rf_bmc_config cfg = { .name = "rack1", .url = url, .user = "admin",
				     .password = "secret", .timeout_ms = 2000, .parallel = 4,
				     .on_error = on_error };
	int err = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_bmc_port(fake));
	bmc = rf_bmc_free(bmc);
	rf_tree_free(tree);
	tree = rf_tree_new(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tree);
	rf_tree_set_max_age(tree, 60000);
	bmc = rf_bmc_new(tree, &cfg, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bmc);
	CU_ASSERT_EQUAL_FATAL(rf_bmc_probe(bmc), 0);
}

/* The fake's GET count once it stops growing (the background is done). */
static int gets_when_quiet(void)
{
	int gets = -1, before = -1;

	for (int64_t t0 = tu_now_ms(); tu_now_ms() - t0 < 10000;) {
		usleep(200000);
		gets = fake_bmc_count(fake, "GET", NULL);
		if (gets == before)
			break;
		before = gets;
	}
	return gets;
}

/* Started, the BMC prefetches in the background the subtree of a member a
 * reader went below, at most parallel requests at once. A walk racing with
 * it waits for a resource under way rather than asking again (one GET per
 * resource still) and takes a fraction of the round trip per resource a
 * level-by-level walk pays; with no reader below a member nothing more is
 * fetched. */
static void test_prefetch(void)
{
	size_t files;
	int64_t t0, elapsed;
	int gets;

	restart_bmc();
	fake_bmc_reset_counts(fake);
	fake_bmc_set_mode(fake, FAKE_SLOW, 10, -1);
	fake_bmc_slow_max(fake);
	CU_ASSERT_EQUAL(rf_bmc_start(bmc), 0);
	t0 = tu_now_ms();
	files = walk("Systems");
	files += walk("Chassis");
	files += walk("Managers");
	elapsed = tu_now_ms() - t0;
	gets = fake_bmc_count(fake, "GET", NULL);
	int most = fake_bmc_slow_max(fake);

	fprintf(stderr, "\n  walk racing the prefetch: %zu files, %d GETs, %lld ms, %d at once\n",
		files, gets, (long long)elapsed, most);
	CU_ASSERT_TRUE(files > 1000);
	CU_ASSERT_TRUE(gets > 150);
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
	/* It advertises $expand but ignores it: asked once, then plain GETs. */
	CU_ASSERT_EQUAL(fake_bmc_count_expand(fake), 1);
	CU_ASSERT_TRUE(most >= 2 && most <= 4);
	CU_ASSERT_TRUE(elapsed < gets * 10 / 2);   /* lazily: >= gets * 10 ms */

	/* Lazy: with no reader below a member nothing more is fetched. */
	restart_bmc();
	fake_bmc_reset_counts(fake);
	CU_ASSERT_EQUAL(rf_bmc_start(bmc), 0);
	usleep(500000);
	CU_ASSERT_EQUAL(fake_bmc_count(fake, "GET", NULL), 0);
	/* One read below a member loads that member's subtree in the background. */
	{
		struct rf_dirent *ents;
		size_t n;

		CU_ASSERT_EQUAL(rf_tree_list(tree, "Systems/rack1_437XR1138R2/Bios", &ents, &n), 0);
		rf_dirents_free(ents, n);
	}
	gets = gets_when_quiet();
	fprintf(stderr, "  prefetch of one system's subtree: %d GETs\n", gets);
	CU_ASSERT_TRUE(gets > 20);
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
	/* and only that system's: the chassis and managers stay unloaded */
	CU_ASSERT_TRUE(fake_bmc_count_below(fake, "/redfish/v1/Systems/437XR1138R2/") > 20);
	CU_ASSERT_EQUAL(fake_bmc_count_below(fake, "/redfish/v1/Chassis/"), 0);
	CU_ASSERT_EQUAL(fake_bmc_count_below(fake, "/redfish/v1/Managers/"), 0);
	fake_bmc_reset_counts(fake);
	files = walk("Systems");
	CU_ASSERT_TRUE(files > 300);
	CU_ASSERT_EQUAL(fake_bmc_count_below(fake, "/redfish/v1/Systems/"), 0);
	/* Walking what the prefetch brought in reads ahead into the member
	 * after this one in name order (wrapping round): the chassis. */
	gets = gets_when_quiet();
	fprintf(stderr, "  read-ahead after walking that system: %d GETs\n", gets);
	CU_ASSERT_TRUE(fake_bmc_count_below(fake, "/redfish/v1/Chassis/1U/") > 20);
	CU_ASSERT_EQUAL(fake_bmc_repeated_gets(fake), 0);
	fake_bmc_set_mode(fake, FAKE_OK, 0, 0);
}

/* A BMC that advertises $expand and ignores it is asked once; once it has
 * been offline and is back, once more (it may have been updated). */
static void test_expand_after_outage(void)
{
	struct rf_dirent *ents;
	struct json_object *o;
	int64_t t0;
	size_t n;
	int err = 0;

	restart_bmc();
	fake_bmc_reset_counts(fake);
	CU_ASSERT_EQUAL(rf_bmc_start(bmc), 0);
	CU_ASSERT_EQUAL(rf_tree_list(tree, "Systems/rack1_437XR1138R2/Bios", &ents, &n), 0);
	rf_dirents_free(ents, n);
	gets_when_quiet();
	CU_ASSERT_EQUAL(fake_bmc_count_expand(fake), 1);

	fake_bmc_down(fake);
	rf_tree_set_max_age(tree, 0);
	usleep(10000);
	o = doc_json(SYS, &err);
	json_object_put(o);
	rf_tree_set_max_age(tree, 60000);
	CU_ASSERT_FALSE(rf_bmc_online(bmc));
	CU_ASSERT_EQUAL_FATAL(fake_bmc_up(fake), 0);
	for (t0 = tu_now_ms(); !rf_bmc_online(bmc) && tu_now_ms() - t0 < 10000;)
		usleep(50000);
	CU_ASSERT_TRUE_FATAL(rf_bmc_online(bmc));

	/* Below another member: its subtree loads, $expand tried again. */
	CU_ASSERT_EQUAL(rf_tree_list(tree, "Chassis/rack1_1U/Sensors", &ents, &n), 0);
	rf_dirents_free(ents, n);
	gets_when_quiet();
	CU_ASSERT_EQUAL(fake_bmc_count_expand(fake), 2);
	CU_ASSERT_TRUE(fake_bmc_count_below(fake, "/redfish/v1/Chassis/1U/") > 20);
}

/* A BMC whose Reset is described by an ActionInfo resource, as OpenBMC's
 * is: the mockup copied with the system's annotations moved into
 * Systems/437XR1138R2/ResetActionInfo. Writes are checked against it, and
 * once it is loaded the action file lists its values. */
static void test_action_info(void)
{
	char dir[] = "/tmp/rfs-actioninfo-XXXXXX", path[1200], url[64];
	struct fake_bmc *f2;
	struct rf_tree *t2;
	struct rf_bmc *b2;
	struct json_object *sys, *actions, *reset, *info;
	struct rf_bmc_config c = { .name = "oem", .user = "admin", .password = "secret",
				   .timeout_ms = 2000 };
	char buf[512];
	ssize_t n;
	int err = 0, posts;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp -r '%s/.' '%s'", mockup, dir), 0);
	snprintf(path, sizeof(path), "%s/Systems/437XR1138R2/index.json", dir);
	sys = json_object_from_file(path);
	CU_ASSERT_TRUE_FATAL(sys && json_object_object_get_ex(sys, "Actions", &actions) &&
			     json_object_object_get_ex(actions, "#ComputerSystem.Reset", &reset));
	json_object_object_del(reset, "ResetType@Redfish.AllowableValues");
	json_object_object_add(reset, "@Redfish.ActionInfo",
			       json_object_new_string("/redfish/v1/Systems/437XR1138R2/ResetActionInfo"));
	CU_ASSERT_EQUAL_FATAL(json_object_to_file(path, sys), 0);
	json_object_put(sys);
	snprintf(path, sizeof(path), "%s/Systems/437XR1138R2/ResetActionInfo", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	info = json_tokener_parse("{\"@odata.id\":\"/redfish/v1/Systems/437XR1138R2/ResetActionInfo\","
				  "\"@odata.type\":\"#ActionInfo.v1_4_2.ActionInfo\",\"Id\":\"ResetActionInfo\","
				  "\"Name\":\"Reset Action Info\",\"Parameters\":[{\"Name\":\"ResetType\","
				  "\"Required\":true,\"DataType\":\"String\",\"AllowableValues\":[\"On\","
				  "\"ForceOff\",\"GracefulShutdown\",\"GracefulRestart\"]}]}");
	strcat(path, "/index.json");
	CU_ASSERT_EQUAL_FATAL(json_object_to_file(path, info), 0);
	json_object_put(info);

	f2 = fake_bmc_start(dir, true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_bmc_port(f2));
	c.url = url;
	t2 = rf_tree_new(NULL);
	rf_tree_set_max_age(t2, 60000);
	b2 = rf_bmc_new(t2, &c, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
	CU_ASSERT_EQUAL_FATAL(rf_bmc_probe(b2), 0);

	/* one value to the action file: checked against the ActionInfo */
	posts = fake_bmc_count(f2, "POST", RF_ROOT "/Systems/437XR1138R2/Actions/ComputerSystem.Reset");
	CU_ASSERT_EQUAL(rf_tree_write(t2, "Systems/oem_437XR1138R2/Actions/ComputerSystem.Reset", "Nmi\n", 4),
			-EINVAL);
	CU_ASSERT_EQUAL(fake_bmc_count(f2, "POST", RF_ROOT "/Systems/437XR1138R2/Actions/ComputerSystem.Reset"),
			posts);
	CU_ASSERT_EQUAL(rf_tree_write(t2, "Systems/oem_437XR1138R2/Actions/ComputerSystem.Reset",
				      "gracefulrestart\n", 16), 0);
	CU_ASSERT_EQUAL(fake_bmc_count(f2, "POST", RF_ROOT "/Systems/437XR1138R2/Actions/ComputerSystem.Reset"),
			posts + 1);
	/* PowerState Off picks ForceOff from the ActionInfo's values */
	CU_ASSERT_EQUAL(rf_tree_write(t2, "Systems/oem_437XR1138R2/PowerState", "Off\n", 4), 0);
	{
		char *v = fake_bmc_get(f2, RF_ROOT "/Systems/437XR1138R2", "PowerState");

		CU_ASSERT_STRING_EQUAL(v, "Off");
		free(v);
	}
	/* the ActionInfo is loaded now: the action file lists its values */
	n = rf_tree_read(t2, "Systems/oem_437XR1138R2/Actions/ComputerSystem.Reset", buf, sizeof(buf) - 1, 0);
	CU_ASSERT_TRUE_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "On\nForceOff\nGracefulShutdown\nGracefulRestart\n");

	rf_bmc_free(b2);
	rf_tree_free(t2);
	fake_bmc_stop(f2);
	tu_sh("rm -rf '%s'", dir);
}

static int init(void)
{
	const char *shared = getenv("SHARED_DIR");

	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fake = fake_bmc_start(mockup, true);
	tree = rf_tree_new(NULL);
	rf_tree_set_max_age(tree, 60000);
	return fake && tree ? 0 : 1;
}

static int fini(void)
{
	int sessions;

	bmc = rf_bmc_free(bmc);
	sessions = fake_bmc_sessions(fake);
	rf_tree_free(tree);
	fake_bmc_stop(fake);
	curl_global_cleanup();
	return sessions == 0 ? 0 : 1;   /* logged out on free */
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("bmc", init, fini);
	CU_add_test(s, "options", test_options);
	CU_add_test(s, "probe", test_probe);
	CU_add_test(s, "bad_replies", test_bad_replies);
	CU_add_test(s, "walk_and_bodies", test_walk_and_bodies);
	CU_add_test(s, "writes", test_writes);
	CU_add_test(s, "session_expiry", test_session_expiry);
	CU_add_test(s, "offline_and_back", test_offline_and_back);
	CU_add_test(s, "prefetch", test_prefetch);
	CU_add_test(s, "$expand tried again after an outage", test_expand_after_outage);
	CU_add_test(s, "an action described by an ActionInfo", test_action_info);
	return tu_run_cunit();
}
