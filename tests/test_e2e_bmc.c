/* test_e2e_bmc.c — remote BMCs with the real programs: the redfishfs daemon
 * serving ../shared/mockups/public-rackmount1 over HTTP with login required
 * (--no-mount --mockup DIR --http) is the fake BMC, and a second redfishfs
 * mounts it with --bmc rack1=URL. What a shell user sees: cat, echo > into
 * properties and actions (the fake shows the change), EINVAL before any
 * request, grep across systems, every mockup resource at its rewritten path
 * with an equal body, one GET per resource for a tar walk, a cp -a backup of
 * a mockup mount served again by --mockup, and a BMC that dies and comes
 * back on the same port.
 *
 * Requests are counted by a small HTTP proxy in this process (one thread
 * per connection) between the mount and the fake: the daemon's own server
 * does not count. The offline test mounts the fake directly (connection
 * refused is what a dead BMC gives). Everything on loopback; every process
 * started here is ended by its PID; skips (77) without /dev/fuse. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define ROOT "/redfish/v1"
#define SYS_REMOTE ROOT "/Systems/437XR1138R2"
#define SYS "Systems/rack1_437XR1138R2"       /* in the mount */
#define MAX_AGE_LONG "60000"                  /* the counted mount: no refresh */
#define OFF_TIMEOUT_MS 1000                   /* the offline mount's --timeout */
#define OFF_MAX_AGE_MS 500

static const char *const aggregated[] = { ROOT "/Systems", ROOT "/Chassis", ROOT "/Managers",
					  ROOT "/ComponentIntegrity" };

static char mockup[1024];
static char work[256];          /* temporary directory: passwords, state, logs */
static char fake_pw[300], mount_pw[300];

/* ---- a daemon without a mount ------------------------------------------------ */

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* tu_daemon_start logging to WORK/NAME.log. */
static int daemon_start(struct tu_daemon *d, const char *name, uint16_t port,
			const char *const *args)
{
	char log[300];

	snprintf(log, sizeof(log), "%s/%s.log", work, name);
	return tu_daemon_start(d, log, port, args);
}

/* The fake BMC: the mockup, login required (admin). */
static int fake_start(struct tu_daemon *d, uint16_t port)
{
	char state[300];
	const char *args[] = { "--mockup", mockup, "--http-user", "admin", "--http-password-file",
			       fake_pw, "--state-dir", state, NULL };

	snprintf(state, sizeof(state), "%s/fake-state", work);
	return daemon_start(d, "fake", port, args);
}

/* ---- HTTP GET with libcurl -------------------------------------------------- */

/* GET uri from 127.0.0.1:port (Basic admin when auth); the parsed body (new
 * reference) or NULL; *ret_status the HTTP status (0: none). */
static struct json_object *http_get(uint16_t port, const char *uri, bool auth, long *ret_status)
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
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (auth) {
		curl_easy_setopt(c, CURLOPT_USERNAME, "admin");
		curl_easy_setopt(c, CURLOPT_PASSWORD, "fake-secret");
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status == 200 && b.data)
		o = json_tokener_parse(b.data);
	free(b.data);
	if (ret_status)
		*ret_status = status;
	return o;
}

/* A string property of the fake's resource (malloc'd; "null"), or NULL. */
static char *fake_prop(uint16_t port, const char *uri, const char *key)
{
	struct json_object *o = http_get(port, uri, true, NULL), *v;
	char *s = NULL;

	if (o && json_object_object_get_ex(o, key, &v))
		s = strdup(v ? json_object_get_string(v) : "null");
	json_object_put(o);
	return s;
}

/* ---- a counting proxy ----------------------------------------------------------- */

struct count {
	char *key;                  /* "GET /redfish/v1/..." */
	int n;
};

static struct {
	int fd;
	uint16_t port, upstream;
	pthread_t accept_thread;
	pthread_t conns[256];
	size_t n_conns;
	pthread_mutex_t lock;
	struct count *counts;
	size_t n_counts;
	int total;
	atomic_bool stop;          /* read by the proxy threads */
	bool drop_expand;       /* close a connection that asks for $expand */
} px = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void px_count(const char *method, const char *path)
{
	char key[1200];

	snprintf(key, sizeof(key), "%s %s", method, path);
	pthread_mutex_lock(&px.lock);
	px.total++;
	for (size_t i = 0; i < px.n_counts; i++)
		if (strcmp(px.counts[i].key, key) == 0) {
			px.counts[i].n++;
			pthread_mutex_unlock(&px.lock);
			return;
		}
	struct count *nc = realloc(px.counts, (px.n_counts + 1) * sizeof(*nc));

	if (nc) {
		px.counts = nc;
		px.counts[px.n_counts].key = strdup(key);
		px.counts[px.n_counts].n = 1;
		if (px.counts[px.n_counts].key)
			px.n_counts++;
	}
	pthread_mutex_unlock(&px.lock);
}

/* Requests seen with method (NULL: any) and path (NULL: any). */
static int px_requests(const char *method, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&px.lock);
	for (size_t i = 0; i < px.n_counts; i++) {
		const char *k = px.counts[i].key, *sp = strchr(k, ' ');

		if ((!method || (strncmp(k, method, sp - k) == 0 && strlen(method) == (size_t)(sp - k))) &&
		    (!path || strcmp(sp + 1, path) == 0))
			n += px.counts[i].n;
	}
	pthread_mutex_unlock(&px.lock);
	return n;
}

/* GETs whose path (query included) contains what; *distinct: how many
 * different paths (may be NULL). */
static int px_gets_containing(const char *what, int *distinct)
{
	int n = 0, d = 0;

	pthread_mutex_lock(&px.lock);
	for (size_t i = 0; i < px.n_counts; i++)
		if (strncmp(px.counts[i].key, "GET ", 4) == 0 && strstr(px.counts[i].key, what)) {
			n += px.counts[i].n;
			d++;
		}
	pthread_mutex_unlock(&px.lock);
	if (distinct)
		*distinct = d;
	return n;
}

/* The paths GET more than once (printed), and how many; paths containing
 * except (if not NULL) are left out. */
static int px_repeated_gets_except(const char *except)
{
	int n = 0;

	pthread_mutex_lock(&px.lock);
	for (size_t i = 0; i < px.n_counts; i++)
		if (strncmp(px.counts[i].key, "GET ", 4) == 0 && px.counts[i].n > 1 &&
		    !(except && strstr(px.counts[i].key, except))) {
			fprintf(stderr, "\n  %dx %s", px.counts[i].n, px.counts[i].key);
			n++;
		}
	pthread_mutex_unlock(&px.lock);
	return n;
}

static int px_repeated_gets(void)
{
	return px_repeated_gets_except(NULL);
}

static void px_reset(void)
{
	pthread_mutex_lock(&px.lock);
	for (size_t i = 0; i < px.n_counts; i++)
		free(px.counts[i].key);
	free(px.counts);
	px.counts = NULL;
	px.n_counts = 0;
	px.total = 0;
	pthread_mutex_unlock(&px.lock);
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The request parser of one connection (client -> upstream): libcurl sends
 * no chunked bodies, so a head and Content-Length bytes make a request. */
struct reqparse {
	char head[16384];
	size_t hlen;
	size_t body_left;
};

/* Counts the requests in p; true when one asks for $expand and those are
 * dropped (px.drop_expand): the connection is then closed unanswered. */
static bool parse_requests(struct reqparse *rp, const char *p, size_t n)
{
	bool drop = false;

	while (n) {
		if (rp->body_left) {
			size_t k = n < rp->body_left ? n : rp->body_left;

			rp->body_left -= k;
			p += k;
			n -= k;
			continue;
		}
		if (rp->hlen < sizeof(rp->head) - 1)
			rp->head[rp->hlen++] = *p;
		p++;
		n--;
		rp->head[rp->hlen] = '\0';
		if (rp->hlen >= 4 && strcmp(rp->head + rp->hlen - 4, "\r\n\r\n") == 0) {
			char method[16], path[1100];
			const char *cl = strcasestr(rp->head, "\r\nContent-Length:");

			if (sscanf(rp->head, "%15s %1099s", method, path) == 2) {
				px_count(method, path);
				pthread_mutex_lock(&px.lock);
				drop |= px.drop_expand && strstr(path, "$expand");
				pthread_mutex_unlock(&px.lock);
			}
			rp->body_left = cl ? strtoul(cl + 17, NULL, 10) : 0;
			rp->hlen = 0;
		}
	}
	return drop;
}

static void *px_conn(void *arg)
{
	int cfd = (int)(intptr_t)arg, ufd;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(px.upstream),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct reqparse *rp = calloc(1, sizeof(*rp));
	char buf[65536];

	ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!rp || ufd < 0 || connect(ufd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	while (!px.stop) {
		struct pollfd pf[2] = { { .fd = cfd, .events = POLLIN }, { .fd = ufd, .events = POLLIN } };
		int r = poll(pf, 2, 100);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (pf[0].revents) {
			ssize_t k = recv(cfd, buf, sizeof(buf), 0);

			if (k <= 0)
				break;
			if (parse_requests(rp, buf, (size_t)k) || send_all(ufd, buf, (size_t)k) < 0)
				break;
		}
		if (pf[1].revents) {
			ssize_t k = recv(ufd, buf, sizeof(buf), 0);

			if (k <= 0 || send_all(cfd, buf, (size_t)k) < 0)
				break;
		}
	}
out:
	free(rp);
	if (ufd >= 0)
		close(ufd);
	close(cfd);
	return NULL;
}

static void *px_accept(void *arg)
{
	(void)arg;
	while (!px.stop) {
		struct pollfd pf = { .fd = px.fd, .events = POLLIN };
		int c;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		c = accept4(px.fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (px.n_conns == sizeof(px.conns) / sizeof(px.conns[0]) ||
		    pthread_create(&px.conns[px.n_conns], NULL, px_conn, (void *)(intptr_t)c) != 0) {
			close(c);
			continue;
		}
		px.n_conns++;
	}
	return NULL;
}

static int px_start(uint16_t upstream)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	px.upstream = upstream;
	px.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (px.fd < 0 || bind(px.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(px.fd, 64) < 0 ||
	    getsockname(px.fd, (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	px.port = ntohs(sa.sin_port);
	return -pthread_create(&px.accept_thread, NULL, px_accept, NULL);
}

static void px_stop(void)
{
	if (px.fd < 0)
		return;
	px.stop = true;
	pthread_join(px.accept_thread, NULL);
	for (size_t i = 0; i < px.n_conns; i++)
		pthread_join(px.conns[i], NULL);
	close(px.fd);
	px.fd = -1;
	px_reset();
}

/* ---- the suite's fixtures ----------------------------------------------------- */

static struct tu_daemon fake;
static struct tu_mount mnt;           /* through the proxy, long max-age */

/* A path under the mount (tu_path: up to 4 at once). */
#define P(...) tu_path(mnt.mnt, __VA_ARGS__)

/* The file's content without one trailing newline; NULL if unreadable. */
static char *value(const char *path)
{
	size_t len = 0;
	char *s = tu_read_file(path, &len);

	if (s && len > 0 && s[len - 1] == '\n')
		s[len - 1] = '\0';
	return s;
}

static void expect_value(const char *path, const char *want)
{
	char *v = value(path);

	if (!v || strcmp(v, want) != 0)
		fprintf(stderr, "\n  %s: '%s', expected '%s'\n", path, v ? v : "(unreadable)", want);
	CU_ASSERT_PTR_NOT_NULL(v);
	if (v)
		CU_ASSERT_STRING_EQUAL(v, want);
	free(v);
}

static void expect_fake(const char *uri, const char *key, const char *want)
{
	char *v = fake_prop(fake.port, uri, key);

	if (!v || strcmp(v, want) != 0)
		fprintf(stderr, "\n  fake %s %s: '%s', expected '%s'\n", uri, key, v ? v : "(none)", want);
	CU_ASSERT_PTR_NOT_NULL(v);
	if (v)
		CU_ASSERT_STRING_EQUAL(v, want);
	free(v);
}

static int write_private(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int suite_init(void)
{
	const char *shared = getenv("SHARED_DIR");
	char url[64];

	snprintf(mockup, sizeof(mockup), "%s/mockups/public-rackmount1", shared ? shared : "../shared");
	snprintf(work, sizeof(work), "/tmp/redfishfs-e2e-XXXXXX");
	if (!mkdtemp(work))
		return -1;
	snprintf(fake_pw, sizeof(fake_pw), "%s/fake.pw", work);
	snprintf(mount_pw, sizeof(mount_pw), "%s/mount.pw", work);
	if (write_private(fake_pw, "fake-secret\n") < 0 || write_private(mount_pw, "fake-secret\n") < 0)
		return -1;
	if (fake_start(&fake, 0) < 0 || px_start(fake.port) < 0)
		return -1;
	snprintf(url, sizeof(url), "rack1=http://127.0.0.1:%u", (unsigned)px.port);
	{
		const char *args[] = { "--bmc", url, "--bmc-user", "admin", "--bmc-password-file",
				       mount_pw, "--max-age", MAX_AGE_LONG, NULL };

		if (tu_mount_start(&mnt, args) < 0)
			return -1;
	}
	return 0;
}

static int suite_clean(void)
{
	tu_mount_stop(&mnt);
	px_stop();
	tu_daemon_stop(&fake, SIGTERM);
	if (work[0])
		tu_rm_rf(work);
	return 0;
}

/* ---- the mockup's resources, and the aggregation rule (independent of
 * redfish/rewrite.c: members of the top-level collections get "rack1_") ---- */

static char *local_uri(const char *uri)
{
	for (size_t i = 0; i < sizeof(aggregated) / sizeof(aggregated[0]); i++) {
		size_t l = strlen(aggregated[i]);
		char *out;

		if (strncmp(uri, aggregated[i], l) == 0 && uri[l] == '/' && uri[l + 1]) {
			if (asprintf(&out, "%.*s/rack1_%s", (int)l, uri, uri + l + 1) < 0)
				return NULL;
			return out;
		}
	}
	return NULL;
}

static bool uri_key(const char *k)
{
	size_t n = strlen(k);

	return strcmp(k, "@odata.id") == 0 || strcmp(k, "target") == 0 ||
	       strcmp(k, "@Redfish.ActionInfo") == 0 || strcmp(k, "Members@odata.nextLink") == 0 ||
	       (n > 3 && (strcmp(k + n - 3, "Uri") == 0 || strcmp(k + n - 3, "URI") == 0));
}

static void rewrite_in(struct json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			rewrite_in(json_object_array_get_idx(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, v) {
		if (json_object_is_type(v, json_type_string) && uri_key(k)) {
			char *l = local_uri(json_object_get_string(v));

			if (l)
				json_object_object_add(o, k, json_object_new_string(l));
			free(l);
		} else {
			rewrite_in(v);
		}
	}
}

/* Every resource URI of a directory of index.json files (NULL-terminated). */
static char **dir_uris;
static size_t n_dir_uris;
static size_t dir_root_len;

static int collect_uri(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t n = strlen(path);
	char **nv;

	(void)st;
	(void)ftw;
	if (type != FTW_F || n < 11 || strcmp(path + n - 11, "/index.json") != 0)
		return 0;
	nv = realloc(dir_uris, (n_dir_uris + 2) * sizeof(*nv));
	if (!nv)
		return -1;
	dir_uris = nv;
	if (asprintf(&dir_uris[n_dir_uris], ROOT "%.*s", (int)(n - 11 - dir_root_len),
		     path + dir_root_len) < 0)
		return -1;
	dir_uris[++n_dir_uris] = NULL;
	return 0;
}

static char **list_uris(const char *dir, size_t *ret_n)
{
	char **v;

	dir_uris = NULL;
	n_dir_uris = 0;
	dir_root_len = strlen(dir);
	nftw(dir, collect_uri, 16, FTW_PHYS);
	v = dir_uris;
	*ret_n = n_dir_uris;
	dir_uris = NULL;
	return v;
}

static void free_uris(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static struct json_object *mockup_body(const char *dir, const char *uri)
{
	char path[1400];
	struct json_object *o;

	snprintf(path, sizeof(path), "%s%s/index.json", dir, uri + strlen(ROOT));
	o = json_object_from_file(path);
	if (o) {
		json_object_object_del(o, "@Redfish.Copyright");
		json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	}
	return o;
}

/* ---- tests ----------------------------------------------------------------------- */

/* First, right after mounting: a tar walk makes at most one GET per
 * resource (the probe's crawl included), a second walk none. The fake
 * (redfishfs) serves $expand, so the prefetch loads the children of a
 * resource with one GET of it: far fewer GETs than resources (that each
 * arrives exactly as a GET of it reads, test_every_resource checks). */
static void test_walk_counts(void)
{
	char *out = NULL;
	int64_t t0;
	int cold, warm, r;

	t0 = tu_now_ms();
	r = tu_sh_out(&out, "set -o pipefail; cd '%s' && { tar cf - Systems Chassis Managers | cat > /dev/null; } 2>&1",
		      mnt.mnt);
	/* No "file changed as we read it": lazy loading keeps the mtimes. */
	if (r != 0 || !out || *out)
		fprintf(stderr, "\n  tar: %d\n%.2000s", r, out ? out : "");
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_TRUE(out && !*out);
	free(out);
	cold = px_requests("GET", NULL);
	fprintf(stderr, "\n  cold walk: %lld ms, %d GETs (probe included), %d requests",
		(long long)(tu_now_ms() - t0), cold, px_requests(NULL, NULL));
	CU_ASSERT_EQUAL(px_repeated_gets(), 0);
	CU_ASSERT_TRUE(px_gets_containing("?$expand=.", NULL) > 20);
	CU_ASSERT_TRUE(cold > 40 && cold < 150);   /* of the mockup's 201 resources */
	CU_ASSERT_EQUAL(px_requests("POST", ROOT "/SessionService/Sessions"), 1);   /* one login */

	t0 = tu_now_ms();
	r = tu_sh("cd '%s' && tar cf - Systems Chassis Managers | cat > /dev/null", mnt.mnt);
	CU_ASSERT_EQUAL(r, 0);
	warm = px_requests(NULL, NULL) - px_requests("POST", NULL) - cold;
	fprintf(stderr, "\n  warm walk: %lld ms, %d requests", (long long)(tu_now_ms() - t0), warm);
	CU_ASSERT_EQUAL(warm, 0);
}

/* Every resource of the mockup below a member of a top-level collection is
 * in the mount at its rewritten path, index.json equal to the mockup's
 * body after rewriting (without the copyright). */
static void test_every_resource(void)
{
	size_t n = 0, compared = 0, bad = 0;
	char **uris = list_uris(mockup, &n);

	CU_ASSERT_TRUE_FATAL(n > 200);
	for (size_t i = 0; i < n; i++) {
		char *local = local_uri(uris[i]);
		struct json_object *want, *got;
		char path[1400];

		if (!local)
			continue;
		want = mockup_body(mockup, uris[i]);
		rewrite_in(want);
		snprintf(path, sizeof(path), "%s%s/index.json", mnt.mnt, local + strlen(ROOT));
		got = json_object_from_file(path);
		if (!got || !json_object_equal(want, got)) {
			if (bad++ < 10)
				fprintf(stderr, "\n  %s: %s", local, got ? "differs" : "missing");
		}
		compared++;
		json_object_put(want);
		json_object_put(got);
		free(local);
	}
	free_uris(uris);
	fprintf(stderr, "\n  %zu resources compared, %zu wrong", compared, bad);
	CU_ASSERT_TRUE(compared > 190);
	CU_ASSERT_EQUAL(bad, 0);
	/* The source: HostName as configured, no password shown. */
	expect_value(P("AggregationService/AggregationSources/rack1/UserName"), "admin");
	expect_value(P("AggregationService/AggregationSources/rack1/Status/State"), "Enabled");
	expect_value(P("AggregationService/AggregationSources/rack1/Password"), "");
}

static void test_cat_and_grep(void)
{
	char *out = NULL;
	int r;

	expect_value(P(SYS "/PowerState"), "On");
	expect_fake(SYS_REMOTE, "PowerState", "On");
	r = tu_sh_out(&out, "cd '%s' && grep -l OK Systems/*/Status/Health", mnt.mnt);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, SYS "/Status/Health\n");
	free(out);
	/* The reset's allowed values, one a line. */
	r = tu_sh("grep -qx GracefulRestart '%s'", P(SYS "/Actions/ComputerSystem.Reset"));
	CU_ASSERT_EQUAL(r, 0);
}

static void test_power_off(void)
{
	int before = px_requests("POST", NULL), r;
	char *err = NULL;

	r = tu_sh_out(&err, "echo Off > '%s' 2>&1", P(SYS "/PowerState"));
	if (r != 0)
		fprintf(stderr, "\n  echo Off: %d %s", r, err ? err : "");
	CU_ASSERT_EQUAL(r, 0);
	free(err);
	CU_ASSERT_EQUAL(px_requests("POST", SYS_REMOTE "/Actions/ComputerSystem.Reset"), 1);
	CU_ASSERT_EQUAL(px_requests("POST", NULL), before + 1);
	expect_fake(SYS_REMOTE, "PowerState", "Off");
	expect_value(P(SYS "/PowerState"), "Off");
}

static void test_reset_action(void)
{
	int r = tu_sh("echo GracefulRestart > '%s'", P(SYS "/Actions/ComputerSystem.Reset"));

	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(px_requests("POST", SYS_REMOTE "/Actions/ComputerSystem.Reset"), 2);
	expect_fake(SYS_REMOTE, "PowerState", "On");
	expect_value(P(SYS "/PowerState"), "On");
}

/* A value that is not allowed: EINVAL in write(2), so bash says so, and no
 * request leaves the mount. */
static void test_invalid_values(void)
{
	static const char *const files[] = { SYS "/PowerState", SYS "/Actions/ComputerSystem.Reset",
					     SYS "/Boot/BootSourceOverrideTarget", SYS "/IndicatorLED" };
	int before = px_requests(NULL, NULL);

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *out = NULL;
		int r = tu_sh_out(&out, "echo Sideways 2>&1 > '%s'", P("%s", files[i]));

		if (r == 0 || !out || !strstr(out, "Invalid argument"))
			fprintf(stderr, "\n  %s: %d '%s'", files[i], r, out ? out : "");
		CU_ASSERT_NOT_EQUAL(r, 0);
		CU_ASSERT_PTR_NOT_NULL(out);
		CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "Invalid argument") : NULL);
		free(out);
	}
	CU_ASSERT_EQUAL(px_requests(NULL, NULL), before);
	expect_fake(SYS_REMOTE, "PowerState", "On");
	/* Read-only properties refuse too, also without a request. */
	CU_ASSERT_NOT_EQUAL(tu_sh("echo x > '%s' 2>/dev/null", P(SYS "/Model")), 0);
	CU_ASSERT_EQUAL(px_requests(NULL, NULL), before);
}

/* A writable property PATCHes and reads back, in the mount and at the BMC. */
static void test_patch_round_trip(void)
{
	int r = tu_sh("echo rack-7-slot-12 > '%s'", P(SYS "/AssetTag"));

	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(px_requests("PATCH", SYS_REMOTE), 1);
	expect_value(P(SYS "/AssetTag"), "rack-7-slot-12");
	expect_fake(SYS_REMOTE, "AssetTag", "rack-7-slot-12");
	r = tu_sh("echo Pxe > '%s'", P(SYS "/Boot/BootSourceOverrideTarget"));
	CU_ASSERT_EQUAL(r, 0);
	expect_value(P(SYS "/Boot/BootSourceOverrideTarget"), "Pxe");
	{
		struct json_object *o = http_get(fake.port, SYS_REMOTE, true, NULL), *boot, *v;

		CU_ASSERT_TRUE(o && json_object_object_get_ex(o, "Boot", &boot) &&
			       json_object_object_get_ex(boot, "BootSourceOverrideTarget", &v) &&
			       strcmp(json_object_get_string(v), "Pxe") == 0);
		json_object_put(o);
	}
}

/* cp -a of a mount of the mockup, then --mockup COPY serves what the
 * mockup itself serves. */
static void test_backup_round_trip(void)
{
	struct tu_mount m;
	struct tu_daemon orig = { 0 }, copy = { 0 };
	char copydir[400], state[300];
	char **uris = NULL, **more = NULL;
	size_t n = 0, n_more = 0, bad = 0, compared = 0;
	int r;

	{
		const char *args[] = { "--mockup", mockup, NULL };

		r = tu_mount_start(&m, args);
		CU_ASSERT_EQUAL_FATAL(r, 0);
	}
	snprintf(copydir, sizeof(copydir), "%s/backup", work);
	r = tu_sh("cp -a '%s' '%s'", m.mnt, copydir);
	CU_ASSERT_EQUAL(r, 0);
	tu_mount_stop(&m);

	snprintf(state, sizeof(state), "%s/rt-state", work);
	{
		const char *a1[] = { "--mockup", mockup, "--http-no-auth", "--state-dir", state, NULL };
		const char *a2[] = { "--mockup", copydir, "--http-no-auth", "--state-dir", state, NULL };

		CU_ASSERT_EQUAL_FATAL(daemon_start(&orig, "orig", 0, a1), 0);
		r = daemon_start(&copy, "copy", 0, a2);
		CU_ASSERT_EQUAL(r, 0);
	}
	if (r == 0) {
		uris = list_uris(mockup, &n);
		more = list_uris(copydir, &n_more);
		for (int pass = 0; pass < 2; pass++) {
			char **v = pass ? more : uris;

			for (size_t i = 0; v && v[i]; i++) {
				long s1 = 0, s2 = 0;
				struct json_object *a = http_get(orig.port, v[i], false, &s1);
				struct json_object *b = http_get(copy.port, v[i], false, &s2);

				/* The mockup's odata/ service document is no resource. */
				if (s1 != s2 || (a && !json_object_equal(a, b))) {
					if (bad++ < 10)
						fprintf(stderr, "\n  %s: %ld vs %ld%s", v[i], s1, s2,
							s1 == s2 ? ", bodies differ" : "");
				}
				compared += a != NULL;
				json_object_put(a);
				json_object_put(b);
			}
		}
		fprintf(stderr, "\n  %zu + %zu URIs, %zu served, %zu differ", n, n_more, compared, bad);
		CU_ASSERT_TRUE(compared > 2 * 250);
		CU_ASSERT_EQUAL(bad, 0);
	}
	free_uris(uris);
	free_uris(more);
	tu_daemon_stop(&copy, SIGTERM);
	tu_daemon_stop(&orig, SIGTERM);
	tu_sh("rm -rf '%s'", copydir);
}

/* Readers in any order: a walk of the whole mount (tar), another of
 * Chassis from the other end (find | sort -r | cat) and one of the
 * systems' files (grep -r), all at once on a cold mount. Still no
 * request repeated, plain or $expand. */
static void test_concurrent_walks(void)
{
	struct tu_mount m;
	char url[64];
	const char *args[] = { "--bmc", url, "--bmc-user", "admin", "--bmc-password-file",
			       mount_pw, "--max-age", MAX_AGE_LONG, NULL };
	int r;

	snprintf(url, sizeof(url), "rack1=http://127.0.0.1:%u", (unsigned)px.port);
	px_reset();
	CU_ASSERT_EQUAL_FATAL(tu_mount_start(&m, args), 0);
	r = tu_sh("cd '%s' && { tar cf - . | cat > /dev/null & "
		  "find Chassis -type f | sort -r | xargs -d '\\n' cat > /dev/null & "
		  "grep -r -q NoSuchText Systems; wait; }", m.mnt);
	CU_ASSERT_TRUE(r == 0 || r == 1);          /* grep finds nothing: 1 */
	fprintf(stderr, "\n  three readers at once: %d GETs, %d with $expand",
		px_requests("GET", NULL), px_gets_containing("$expand", NULL));
	r = px_repeated_gets();
	CU_ASSERT_EQUAL(r, 0);
	tu_mount_stop(&m);
}

/* Mount the BMC with args, walk Systems: one plain GET per resource, none
 * asking for $expand, and the bodies are the same as with it. */
static void walk_without_expand(const char *const *args, const char *how)
{
	struct tu_mount m;
	char a[600], b[600];
	int r, gets;

	px_reset();
	r = tu_mount_start(&m, args);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	r = tu_sh("cd '%s' && tar cf - Systems | cat > /dev/null", m.mnt);
	CU_ASSERT_EQUAL(r, 0);
	gets = px_requests("GET", NULL);
	fprintf(stderr, "\n  walk of Systems with %s: %d GETs", how, gets);
	CU_ASSERT_EQUAL(px_gets_containing("$expand", NULL), 0);
	r = px_repeated_gets();
	CU_ASSERT_EQUAL(r, 0);
	if (r)
		tu_sh("cat '%s' >&2", m.log);
	CU_ASSERT_TRUE(gets > 90);       /* the system's 89 resources, the probe's */
	snprintf(a, sizeof(a), "%s/%s/Memory/DIMM1/index.json", m.mnt, SYS);
	snprintf(b, sizeof(b), "%s/%s/Memory/DIMM1/index.json", mnt.mnt, SYS);
	CU_ASSERT_EQUAL(tu_sh("cmp -s '%s' '%s'", a, b), 0);
	tu_mount_stop(&m);
}

/* --bmc-no-expand NAME, and "expand = false" in a [bmc NAME] section (a
 * value that is not a boolean stops the daemon, naming file and line). */
static void test_no_expand(void)
{
	char url[64], conf[400], out_dir[400], *out = NULL;
	FILE *f;
	int r;

	snprintf(url, sizeof(url), "rack1=http://127.0.0.1:%u", (unsigned)px.port);
	{
		const char *args[] = { "--bmc", url, "--bmc-user", "admin", "--bmc-password-file",
				       mount_pw, "--max-age", MAX_AGE_LONG, "--bmc-no-expand", "rack1", NULL };

		walk_without_expand(args, "--bmc-no-expand");
	}
	snprintf(conf, sizeof(conf), "%s/no-expand.conf", work);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(conf, "w"));
	fprintf(f, "[bmc rack1]\nurl = http://127.0.0.1:%u\nuser = admin\npassword_file = %s\n"
		"expand = false\n", (unsigned)px.port, mount_pw);
	fclose(f);
	{
		const char *args[] = { "-c", conf, "--max-age", MAX_AGE_LONG, NULL };

		walk_without_expand(args, "expand = false");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(conf, "a"));
	fprintf(f, "expand = maybe\n");
	fclose(f);
	snprintf(out_dir, sizeof(out_dir), "%s/never-mounted", work);
	CU_ASSERT_EQUAL(mkdir(out_dir, 0700), 0);
	r = tu_sh_out(&out, "timeout 20 \"$REDFISHFS\" -f -c '%s' '%s' 2>&1", conf, out_dir);
	CU_ASSERT_TRUE(r != 0 && r != 124);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "no-expand.conf:6") && strstr(out, "expand = maybe"));
	if (!out || !strstr(out, "no-expand.conf:6"))
		fprintf(stderr, "\n  said: %s", out ? out : "");
	CU_ASSERT_FALSE(tu_is_mounted(out_dir));
	free(out);
}

/* A BMC that takes $expand but never answers it (the connection closes):
 * one try, then plain GETs; the BMC is not taken offline for it, and every
 * body is still the BMC's. */
static void test_expand_lost(void)
{
	struct tu_mount m;
	char url[64], a[600], b[600], *v;
	int r, d = 0;

	snprintf(url, sizeof(url), "rack1=http://127.0.0.1:%u", (unsigned)px.port);
	px_reset();
	pthread_mutex_lock(&px.lock);
	px.drop_expand = true;
	pthread_mutex_unlock(&px.lock);
	{
		const char *args[] = { "--bmc", url, "--bmc-user", "admin", "--bmc-password-file",
				       mount_pw, "--max-age", MAX_AGE_LONG, NULL };

		r = tu_mount_start(&m, args);
		CU_ASSERT_EQUAL_FATAL(r, 0);
	}
	r = tu_sh("cd '%s' && tar cf - Systems | cat > /dev/null", m.mnt);
	CU_ASSERT_EQUAL(r, 0);
	pthread_mutex_lock(&px.lock);
	px.drop_expand = false;
	pthread_mutex_unlock(&px.lock);
	/* One request (libcurl resends it once per kept-alive connection
	 * that the proxy's close leaves it), none after it. */
	r = px_gets_containing("$expand", &d);
	fprintf(stderr, "\n  $expand lost: %d sent (%d paths), %d GETs", r, d,
		px_requests("GET", NULL));
	CU_ASSERT_TRUE(r >= 1 && r <= 9);
	CU_ASSERT_EQUAL(d, 1);
	CU_ASSERT_EQUAL(px_repeated_gets_except("$expand"), 0);
	if (d != 1)
		tu_sh("cat '%s' >&2", m.log);
	snprintf(a, sizeof(a), "%s/%s/Status/State", m.mnt, SYS);
	v = value(a);
	CU_ASSERT_STRING_EQUAL(v ? v : "", "Enabled");
	free(v);
	snprintf(a, sizeof(a), "%s/%s/Memory/DIMM1/index.json", m.mnt, SYS);
	snprintf(b, sizeof(b), "%s/%s/Memory/DIMM1/index.json", mnt.mnt, SYS);
	CU_ASSERT_EQUAL(tu_sh("cmp -s '%s' '%s'", a, b), 0);
	tu_mount_stop(&m);
}

static int64_t time_read(const char *path, char **ret)
{
	int64_t t0 = tu_now_ms();

	*ret = value(path);
	return tu_now_ms() - t0;
}

/* The BMC dies (killed by PID): within the timeout its resources show
 * UnavailableOffline and live values null, writes fail, the rest of the
 * mount stays fast. It comes back on the same port: so does the mount,
 * without a restart. */
static void test_offline_and_back(void)
{
	struct tu_mount m;
	char url[64], age[16], tmo[16], *v = NULL;
	uint16_t port = fake.port;
	int64_t t0, worst = 0;
	pid_t mount_pid;
	bool off = false;
	int r;

	snprintf(url, sizeof(url), "rack1=http://127.0.0.1:%u", (unsigned)port);
	snprintf(age, sizeof(age), "%d", OFF_MAX_AGE_MS);
	snprintf(tmo, sizeof(tmo), "%d", OFF_TIMEOUT_MS);
	{
		const char *args[] = { "--bmc", url, "--bmc-user", "admin", "--bmc-password-file",
				       mount_pw, "--max-age", age, "--timeout", tmo, NULL };

		r = tu_mount_start(&m, args);
		CU_ASSERT_EQUAL_FATAL(r, 0);
	}
	mount_pid = m.pid;
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/%s/Status/State", m.mnt, SYS);
		v = value(p);
		CU_ASSERT_PTR_NOT_NULL(v);
		if (v)
			CU_ASSERT_STRING_EQUAL(v, "Enabled");
		free(v);
	}

	tu_daemon_stop(&fake, SIGKILL);
	t0 = tu_now_ms();
	/* Offline is when the system, the chassis, the manager and the source
	 * all say so: the prefetch may find the BMC gone in the background
	 * while we read, and the switch is one install per resource. */
	while (!off && tu_now_ms() - t0 < 2 * OFF_TIMEOUT_MS + OFF_MAX_AGE_MS + 500) {
		static const char *const st[] = { SYS "/Status/State", "Chassis/rack1_1U/Status/State",
						  "Managers/rack1_BMC/Status/State",
						  "AggregationService/AggregationSources/rack1/Status/State" };

		off = true;
		for (size_t i = 0; i < sizeof(st) / sizeof(st[0]) && off; i++) {
			char p[600];
			int64_t dt;

			snprintf(p, sizeof(p), "%s/%s", m.mnt, st[i]);
			dt = time_read(p, &v);
			worst = dt > worst ? dt : worst;
			off = v && strcmp(v, "UnavailableOffline") == 0;
			free(v);
		}
		if (!off)
			sleep_ms(50);
	}
	fprintf(stderr, "\n  offline after %lld ms (slowest read %lld ms)",
		(long long)(tu_now_ms() - t0), (long long)worst);
	CU_ASSERT_TRUE(off);
	CU_ASSERT_TRUE(worst <= 2 * OFF_TIMEOUT_MS);
	{
		static const char *const rel[] = { "Chassis/rack1_1U/Status/State",
						   "Managers/rack1_BMC/Status/State",
						   "AggregationService/AggregationSources/rack1/Status/State" };
		char p[600];

		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", m.mnt, rel[i]);
			v = value(p);
			if (!v || strcmp(v, "UnavailableOffline") != 0)
				fprintf(stderr, "\n  %s: '%s'", rel[i], v ? v : "(unreadable)");
			CU_ASSERT_TRUE(v && strcmp(v, "UnavailableOffline") == 0);
			free(v);
		}
		/* Live values: null (an empty file) or an error, never the old value. */
		snprintf(p, sizeof(p), "%s/%s/PowerState", m.mnt, SYS);
		v = value(p);
		CU_ASSERT_TRUE(!v || !*v);
		free(v);
		snprintf(p, sizeof(p), "%s/%s/Status/Health", m.mnt, SYS);
		v = value(p);
		CU_ASSERT_TRUE(!v || !*v);
		free(v);
		/* The rest of the mount answers at once. */
		snprintf(p, sizeof(p), "%s/index.json", m.mnt);
		CU_ASSERT_TRUE(time_read(p, &v) < 200);
		CU_ASSERT_PTR_NOT_NULL(v);
		free(v);
		snprintf(p, sizeof(p), "%s/Systems/index.json", m.mnt);
		CU_ASSERT_TRUE(time_read(p, &v) < 200);
		free(v);
		/* A write fails (fast) with the reason. */
		{
			char *out = NULL;

			t0 = tu_now_ms();
			r = tu_sh_out(&out, "echo Off 2>&1 > '%s/%s/PowerState'", m.mnt, SYS);
			CU_ASSERT_NOT_EQUAL(r, 0);
			CU_ASSERT_TRUE(tu_now_ms() - t0 < 2 * OFF_TIMEOUT_MS);
			CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "No route to host") : NULL);
			free(out);
		}
	}

	/* Back on the same port: the mount follows, same process. */
	r = fake_start(&fake, port);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL(fake.port, port);
	t0 = tu_now_ms();
	off = true;
	while (off && tu_now_ms() - t0 < 10000) {
		char p[600];

		snprintf(p, sizeof(p), "%s/%s/Status/State", m.mnt, SYS);
		v = value(p);
		off = !v || strcmp(v, "Enabled") != 0;
		free(v);
		if (off)
			sleep_ms(100);
	}
	fprintf(stderr, "\n  back after %lld ms", (long long)(tu_now_ms() - t0));
	CU_ASSERT_FALSE(off);
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/%s/PowerState", m.mnt, SYS);
		v = value(p);
		CU_ASSERT_TRUE(v && strcmp(v, "On") == 0);
		free(v);
		snprintf(p, sizeof(p), "%s/AggregationService/AggregationSources/rack1/Status/State",
			 m.mnt);
		v = value(p);
		CU_ASSERT_TRUE(v && strcmp(v, "Enabled") == 0);
		free(v);
		r = tu_sh("echo Off > '%s/%s/PowerState'", m.mnt, SYS);
		CU_ASSERT_EQUAL(r, 0);
	}
	expect_fake(SYS_REMOTE, "PowerState", "Off");
	CU_ASSERT_EQUAL(kill(mount_pid, 0), 0);
	CU_ASSERT_EQUAL(m.pid, mount_pid);
	tu_mount_stop(&m);
}

int main(void)
{
	CU_pSuite s;
	int r;

	if (!tu_have_fuse()) {
		fprintf(stderr, "no usable /dev/fuse: skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("e2e_bmc", suite_init, suite_clean);
	/* In order: the walk counts need a fresh mount, writes come after
	 * the comparison with the mockup, the fake dies last. */
	CU_add_test(s, "tar walk: one GET per resource, warm none", test_walk_counts);
	CU_add_test(s, "every mockup resource, bodies equal", test_every_resource);
	CU_add_test(s, "cat PowerState, grep -l OK", test_cat_and_grep);
	CU_add_test(s, "echo Off > PowerState resets at the BMC", test_power_off);
	CU_add_test(s, "echo GracefulRestart > Actions/ComputerSystem.Reset", test_reset_action);
	CU_add_test(s, "values not allowed: EINVAL, no request", test_invalid_values);
	CU_add_test(s, "PATCH round trip", test_patch_round_trip);
	CU_add_test(s, "cp -a backup served by --mockup", test_backup_round_trip);
	CU_add_test(s, "three readers at once: no request repeated", test_concurrent_walks);
	CU_add_test(s, "--bmc-no-expand", test_no_expand);
	CU_add_test(s, "$expand never answered", test_expand_lost);
	CU_add_test(s, "BMC killed and back on its port", test_offline_and_back);
	r = tu_run_cunit();
	curl_global_cleanup();
	return r;
}
