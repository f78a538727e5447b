/* metrics.c — GET /metrics: the tree and the daemon's own counters in
 * Prometheus' text exposition format (version 0.0.4).
 *
 * Who calls: front.c, on an MHD thread, once per scrape. A scrape reads the
 * tree as any GET does (rf_tree_get_doc: at most max-age old) — it never
 * keeps a copy of device state — and common/stats.c's counters.
 *
 * Names follow Prometheus' conventions: the redfishfs_ prefix, base units
 * (watts, amperes, volts, joules, seconds), _total on counters, labels
 * strip/outlet/bmc/system. Energy is exposed as joules
 * (redfishfs_outlet_energy_joules_total = EnergykWh.Reading × 3.6e6)
 * rather than kWh: joules are Prometheus' base unit of energy, so rate()
 * of it is watts, directly comparable with redfishfs_outlet_power_watts,
 * and Grafana's unit picker converts it back to kWh for display. A value
 * the tree holds as null (a strip that stopped answering) is left out
 * rather than written as 0: an absent sample is what Prometheus reads as
 * "unknown".
 *
 * last_seen: the tree knows how long ago a source last confirmed a
 * resource (rf_tree_age). While a strip or BMC is online that is when it
 * last answered — for a strip its PowerDistribution, for a BMC the
 * youngest of its aggregated resources (members named NAME_...), since
 * every GET that found a resource unchanged renews it; once it is offline
 * the tree's age counts its offline copies, so the last value seen online
 * is kept here (m->lock) and shown instead. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define RACKPDUS RF_ROOT "/PowerEquipment/RackPDUs/"
#define AGG_SOURCES RF_ROOT "/AggregationService/AggregationSources/"
#define SYSTEMS RF_ROOT "/Systems/"

struct httpd_metrics {
	struct rf_tree *tree;
	pthread_mutex_t lock;
	struct strmap *last_seen;   /* uri -> malloc'd double (unix seconds) */
};

struct httpd_metrics *httpd_metrics_new(struct rf_tree *t)
{
	struct httpd_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (!(m->last_seen = strmap_new())) {
		free(m);
		return NULL;
	}
	m->tree = t;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

struct httpd_metrics *httpd_metrics_free(struct httpd_metrics *m)
{
	size_t it = 0;
	void *v;

	if (!m)
		return NULL;
	while (strmap_next(m->last_seen, &it, NULL, &v))
		free(v);
	strmap_free(m->last_seen);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

/* ---- reading documents -------------------------------------------------------- */

/* uri's document parsed (new reference), or NULL. */
static struct json_object *doc_json(struct rf_tree *t, const char *uri)
{
	struct rf_doc *d;
	struct json_object *o;
	int err;

	if (!(d = rf_tree_get_doc(t, uri, &err)))
		return NULL;
	o = json_tokener_parse(d->json);
	rf_doc_unref(d);
	return o;
}

/* The value at "A.B" in o (borrowed), or NULL (absent or null). */
static struct json_object *at(struct json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key) || !json_object_is_type(o, json_type_object))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

static bool number_at(struct json_object *o, const char *path, double *ret)
{
	struct json_object *v = at(o, path);

	if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return false;
	*ret = json_object_get_double(v);
	return true;
}

static const char *string_at(struct json_object *o, const char *path)
{
	struct json_object *v = at(o, path);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* uri = prefix + one segment (+ "/" + suffix-tail when tail given): the
 * segment into seg. */
static bool match1(const char *uri, const char *prefix, char *seg, size_t cap)
{
	size_t n = strlen(prefix), l;

	if (strncmp(uri, prefix, n) != 0)
		return false;
	l = strlen(uri + n);
	if (!l || l >= cap || strchr(uri + n, '/'))
		return false;
	memcpy(seg, uri + n, l + 1);
	return true;
}

/* RackPDUs/<strip>/Outlets/<outlet> */
static bool match_outlet(const char *uri, char *strip, char *outlet, size_t cap)
{
	const char *s = uri + strlen(RACKPDUS), *o;
	size_t n;

	if (strncmp(uri, RACKPDUS, strlen(RACKPDUS)) != 0 || !(o = strchr(s, '/')))
		return false;
	n = (size_t)(o - s);
	if (!n || n >= cap || strncmp(o, "/Outlets/", 9) != 0)
		return false;
	memcpy(strip, s, n);
	strip[n] = '\0';
	o += 9;
	n = strlen(o);
	if (!n || n >= cap || strchr(o, '/'))
		return false;
	memcpy(outlet, o, n + 1);
	return true;
}

/* ---- writing the text ---------------------------------------------------------- */

/* A label value escaped as the format wants (\\, \", \n). */
static void put_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family of samples gathered while walking the documents: kept as text
 * until the walk is over, since a family's samples must be contiguous. */
struct family {
	const char *name, *type, *help;
	char *buf;
	size_t len;
	FILE *f;
};

static void family_open(struct family *fa, const char *name, const char *type, const char *help)
{
	*fa = (struct family){ .name = name, .type = type, .help = help };
	fa->f = open_memstream(&fa->buf, &fa->len);
}

/* name{l1="v1",l2="v2"} value: labels as NULL-terminated pairs. */
static void sample(struct family *fa, double v, ...)
{
	va_list ap;
	const char *k;
	bool first = true;

	if (!fa->f)
		return;
	fputs(fa->name, fa->f);
	va_start(ap, v);
	while ((k = va_arg(ap, const char *))) {
		const char *val = va_arg(ap, const char *);

		fputc(first ? '{' : ',', fa->f);
		put_label(fa->f, k, val);
		first = false;
	}
	va_end(ap);
	if (!first)
		fputc('}', fa->f);
	fprintf(fa->f, " %.15g\n", v);
}

static void family_flush(FILE *out, struct family *fa)
{
	if (fa->f && fclose(fa->f) == 0 && fa->len) {
		head(out, fa->name, fa->type, fa->help);
		fwrite(fa->buf, 1, fa->len, out);
	}
	free(fa->buf);
	fa->f = NULL;
	fa->buf = NULL;
}

/* The last-seen time of a source uri: now - age_ms while online
 * (remembered), the remembered value once offline (or age_ms < 0: not
 * known). false when never seen online. */
static bool last_seen(struct httpd_metrics *m, const char *uri, bool online, int64_t age,
		      double *ret)
{
	struct timespec now = now_realtime();
	double *v;
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	v = strmap_get(m->last_seen, uri);
	if (online && age >= 0) {
		if (!v && (v = malloc(sizeof(*v))) && strmap_put(m->last_seen, uri, v) < 0) {
			free(v);
			v = NULL;
		}
		if (v)
			*v = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - (double)age / 1e3;
	}
	if (v) {
		*ret = *v;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static bool online_of(struct json_object *o)
{
	const char *st = string_at(o, "Status.State");

	return st && strcmp(st, "UnavailableOffline") != 0 && strcmp(st, "Absent") != 0;
}

enum {
	F_OUT_W, F_OUT_A, F_OUT_V, F_OUT_J, F_OUT_ON,
	F_STRIP_UP, F_STRIP_SEEN, F_STRIP_W,
	F_BMC_UP, F_BMC_SEEN,
	F_SYS_ON, F_SYS_HEALTH,
	F_COUNT,
};

/* An aggregated BMC (or mockup) seen in this scrape. */
struct source {
	char name[64];
	char uri[200];
	bool up;
	int64_t age;     /* the youngest of its resources, ms; -1 none */
};

/* uri is RF_ROOT/<collection>/<NAME>_...: the source of that name, or NULL. */
static struct source *source_of(struct source *v, size_t n, const char *uri)
{
	const char *seg = uri + strlen(RF_ROOT "/"), *us;

	if (strncmp(uri, RF_ROOT "/", strlen(RF_ROOT "/")) != 0 || !(seg = strchr(seg, '/')))
		return NULL;
	seg++;
	if (!(us = strchr(seg, '_')) || memchr(seg, '/', (size_t)(us - seg)))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].name) == (size_t)(us - seg) && strncmp(v[i].name, seg, (size_t)(us - seg)) == 0)
			return &v[i];
	return NULL;
}

static void tree_metrics(struct httpd_metrics *m, FILE *out)
{
	static const char *const healths[] = { "OK", "Warning", "Critical" };
	struct source *src = NULL;
	size_t n_src = 0;
	struct family fa[F_COUNT];
	size_t n = 0;
	char **uris = rf_tree_list_uris(m->tree, &n);
	char a[128], b[128], mu[300];

	family_open(&fa[F_OUT_W], "redfishfs_outlet_power_watts", "gauge",
		    "Power drawn through the outlet (PowerWatts.Reading).");
	family_open(&fa[F_OUT_A], "redfishfs_outlet_current_amperes", "gauge",
		    "Current through the outlet (CurrentAmps.Reading).");
	family_open(&fa[F_OUT_V], "redfishfs_outlet_voltage_volts", "gauge",
		    "Voltage at the outlet (Voltage.Reading).");
	family_open(&fa[F_OUT_J], "redfishfs_outlet_energy_joules_total", "counter",
		    "Energy through the outlet since its meter was reset (EnergykWh.Reading in joules).");
	family_open(&fa[F_OUT_ON], "redfishfs_outlet_on", "gauge",
		    "1 if the outlet is switched on, 0 if off.");
	family_open(&fa[F_STRIP_UP], "redfishfs_strip_up", "gauge",
		    "1 if the power strip answers, 0 if it is offline.");
	family_open(&fa[F_STRIP_SEEN], "redfishfs_strip_last_seen_timestamp_seconds", "gauge",
		    "When the power strip last answered (Unix time).");
	family_open(&fa[F_STRIP_W], "redfishfs_strip_power_watts", "gauge",
		    "Power drawn through the whole strip (its Metrics PowerWatts.Reading).");
	family_open(&fa[F_BMC_UP], "redfishfs_bmc_up", "gauge",
		    "1 if the aggregated BMC answers, 0 if it is offline.");
	family_open(&fa[F_BMC_SEEN], "redfishfs_bmc_last_seen_timestamp_seconds", "gauge",
		    "When the aggregated BMC last answered (Unix time).");
	family_open(&fa[F_SYS_ON], "redfishfs_system_power_on", "gauge",
		    "1 if the computer system's PowerState is On, 0 otherwise.");
	family_open(&fa[F_SYS_HEALTH], "redfishfs_system_health", "gauge",
		    "1 for the computer system's current Status.Health, 0 for the others.");

	for (size_t i = 0; i < n; i++) {
		const char *u = uris[i];
		struct json_object *o = NULL;
		struct source *sr;
		int64_t age;
		double v;

		/* Sources sort before the collections their members are in. */
		if (n_src && (sr = source_of(src, n_src, u)) && rf_tree_age(m->tree, u, &age) == 0 &&
		    (sr->age < 0 || age < sr->age))
			sr->age = age;
		if (match_outlet(u, a, b, sizeof(a))) {
			const char *ps;

			if (!(o = doc_json(m->tree, u)))
				continue;
			if (number_at(o, "PowerWatts.Reading", &v))
				sample(&fa[F_OUT_W], v, "strip", a, "outlet", b, NULL);
			if (number_at(o, "CurrentAmps.Reading", &v))
				sample(&fa[F_OUT_A], v, "strip", a, "outlet", b, NULL);
			if (number_at(o, "Voltage.Reading", &v))
				sample(&fa[F_OUT_V], v, "strip", a, "outlet", b, NULL);
			if (number_at(o, "EnergykWh.Reading", &v))
				sample(&fa[F_OUT_J], v * 3.6e6, "strip", a, "outlet", b, NULL);
			if ((ps = string_at(o, "PowerState")))
				sample(&fa[F_OUT_ON], strcmp(ps, "On") == 0, "strip", a, "outlet", b, NULL);
		} else if (match1(u, RACKPDUS, a, sizeof(a))) {
			bool up;

			if (!(o = doc_json(m->tree, u)))
				continue;
			up = online_of(o);
			sample(&fa[F_STRIP_UP], up, "strip", a, NULL);
			if (last_seen(m, u, up, rf_tree_age(m->tree, u, &age) == 0 ? age : -1, &v))
				sample(&fa[F_STRIP_SEEN], v, "strip", a, NULL);
			json_object_put(o);
			snprintf(mu, sizeof(mu), "%s/Metrics", u);
			if ((o = doc_json(m->tree, mu)) && number_at(o, "PowerWatts.Reading", &v))
				sample(&fa[F_STRIP_W], v, "strip", a, NULL);
		} else if (match1(u, AGG_SOURCES, a, sizeof(a)) && strlen(a) < sizeof(src->name) &&
			   strlen(u) < sizeof(src->uri)) {
			struct source *nv;

			if (!(o = doc_json(m->tree, u)) || !(nv = realloc(src, (n_src + 1) * sizeof(*src)))) {
				json_object_put(o);
				continue;
			}
			src = nv;
			sr = &src[n_src++];
			memcpy(sr->name, a, strlen(a) + 1);   /* lengths checked above */
			memcpy(sr->uri, u, strlen(u) + 1);
			sr->up = online_of(o);
			sr->age = -1;
		} else if (match1(u, SYSTEMS, a, sizeof(a))) {
			const char *ps, *h;

			if (!(o = doc_json(m->tree, u)))
				continue;
			if ((ps = string_at(o, "PowerState")))
				sample(&fa[F_SYS_ON], strcmp(ps, "On") == 0, "system", a, NULL);
			h = string_at(o, "Status.Health");
			for (size_t k = 0; h && k < ARRAY_SIZE(healths); k++)
				sample(&fa[F_SYS_HEALTH], strcmp(h, healths[k]) == 0, "system", a,
				       "health", healths[k], NULL);
		}
		json_object_put(o);
	}
	rf_strv_free(uris);
	for (size_t i = 0; i < n_src; i++) {
		double v;

		sample(&fa[F_BMC_UP], src[i].up, "bmc", src[i].name, NULL);
		if (last_seen(m, src[i].uri, src[i].up, src[i].age, &v))
			sample(&fa[F_BMC_SEEN], v, "bmc", src[i].name, NULL);
	}
	free(src);
	for (size_t k = 0; k < F_COUNT; k++)
		family_flush(out, &fa[k]);
}

static void daemon_metrics(FILE *out)
{
	static struct stats_snapshot s;   /* 5 KiB: not on an MHD thread's stack */
	static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
	char code[8];

	pthread_mutex_lock(&s_lock);
	stats_read(&s);
	head(out, "redfishfs_http_requests_total", "counter",
	     "HTTP responses sent, by status code.");
	for (unsigned i = 100; i < ARRAY_SIZE(s.http); i++)
		if (s.http[i]) {
			snprintf(code, sizeof(code), "%u", i);
			fprintf(out, "redfishfs_http_requests_total{code=\"%s\"} %llu\n", code,
				(unsigned long long)s.http[i]);
		}
	head(out, "redfishfs_fuse_operations_total", "counter",
	     "Requests the kernel sent to the mount, by operation.");
	for (int i = 0; i < STATS_FUSE_OP_COUNT; i++)
		fprintf(out, "redfishfs_fuse_operations_total{operation=\"%s\"} %llu\n",
			stats_fuse_op_name(i), (unsigned long long)s.fuse[i]);
	head(out, "redfishfs_device_requests_total", "counter",
	     "Requests to devices and BMCs (a Kasa command with its one reconnect, an HTTP request to a BMC), by result.");
	for (int b = 0; b < STATS_BACKEND_COUNT; b++) {
		fprintf(out, "redfishfs_device_requests_total{backend=\"%s\",result=\"ok\"} %llu\n",
			stats_backend_name(b), (unsigned long long)s.dev[b].ok);
		fprintf(out, "redfishfs_device_requests_total{backend=\"%s\",result=\"error\"} %llu\n",
			stats_backend_name(b), (unsigned long long)s.dev[b].failed);
	}
	head(out, "redfishfs_device_reconnects_total", "counter",
	     "Connections to a device or BMC opened again after the first.");
	for (int b = 0; b < STATS_BACKEND_COUNT; b++)
		fprintf(out, "redfishfs_device_reconnects_total{backend=\"%s\"} %llu\n",
			stats_backend_name(b), (unsigned long long)s.dev[b].reconnects);
	head(out, "redfishfs_device_round_trip_seconds", "histogram",
	     "Time from sending a request to a device or BMC to its answer (or failure).");
	for (int b = 0; b < STATS_BACKEND_COUNT; b++) {
		uint64_t cum = 0;

		for (int i = 0; i <= STATS_RTT_BUCKETS; i++) {
			cum += s.dev[b].bucket[i];
			if (i < STATS_RTT_BUCKETS)
				fprintf(out, "redfishfs_device_round_trip_seconds_bucket{backend=\"%s\",le=\"%g\"} %llu\n",
					stats_backend_name(b), stats_rtt_bounds_s[i], (unsigned long long)cum);
			else
				fprintf(out, "redfishfs_device_round_trip_seconds_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n",
					stats_backend_name(b), (unsigned long long)cum);
		}
		fprintf(out, "redfishfs_device_round_trip_seconds_sum{backend=\"%s\"} %.6f\n",
			stats_backend_name(b), (double)s.dev[b].sum_usec / 1e6);
		fprintf(out, "redfishfs_device_round_trip_seconds_count{backend=\"%s\"} %llu\n",
			stats_backend_name(b), (unsigned long long)cum);
	}
	pthread_mutex_unlock(&s_lock);
}

char *httpd_metrics_render(struct httpd_metrics *m, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	tree_metrics(m, f);
	daemon_metrics(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}
