/* test_bmc_fake.c — the fake BMC of test_bmc_fake.h.
 *
 * One libmicrohttpd daemon, thread per connection (so slow answers overlap),
 * bound to 127.0.0.1. All state (bodies, ETags, sessions, counters, mode)
 * sits behind one mutex. Bodies are loaded once from the mockup directory
 * (DIR/<rel>/index.json with @odata.id /redfish/v1/<rel>). */
#include "test_bmc_fake.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USER "admin"
#define PASS "secret"

struct req_log {
	char *method, *path;
};

struct fake_bmc {
	struct MHD_Daemon *d;
	uint16_t port;
	bool sessions;
	pthread_mutex_t lock;
	char **uris;
	struct json_object **bodies;
	unsigned *etags;
	size_t n, cap;
	char *tokens[64];
	char *session_uris[64];
	unsigned next_session;
	enum fake_mode mode;
	int mode_arg, mode_count;
	struct req_log *log;
	size_t n_log, cap_log;
	int logins;
	int slow_inflight, slow_max;    /* FAKE_SLOW answers under way, and the most at once */
};

struct conn {
	char *data;
	size_t len;
};

static void add_body(struct fake_bmc *f, const char *uri, struct json_object *body)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->uris = realloc(f->uris, f->cap * sizeof(*f->uris));
		f->bodies = realloc(f->bodies, f->cap * sizeof(*f->bodies));
		f->etags = realloc(f->etags, f->cap * sizeof(*f->etags));
	}
	f->uris[f->n] = strdup(uri);
	f->bodies[f->n] = body;
	f->etags[f->n] = 1;
	f->n++;
}

static void load_dir(struct fake_bmc *f, const char *dir, const char *uri)
{
	char path[2048];
	struct json_object *o, *id;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/index.json", dir);
	o = json_object_from_file(path);
	if (o && json_object_object_get_ex(o, "@odata.id", &id)) {
		char norm[1024];
		size_t l;

		snprintf(norm, sizeof(norm), "%s", json_object_get_string(id));
		l = strlen(norm);
		if (l > 1 && norm[l - 1] == '/')
			norm[l - 1] = '\0';
		if (strcmp(norm, uri) == 0)
			add_body(f, uri, o);
		else
			json_object_put(o);
	} else {
		json_object_put(o);
	}
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		struct stat st;
		char sub[2048], suburi[1024];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (lstat(sub, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(suburi, sizeof(suburi), "%s/%s", uri, de->d_name);
		load_dir(f, sub, suburi);
	}
	closedir(d);
}

static ssize_t find(struct fake_bmc *f, const char *uri)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->uris[i], uri) == 0)
			return (ssize_t)i;
	return -1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
			     const char *etag, const char *extra_name, const char *extra_value)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body ? strlen(body) : 0, (void *)(body ? body : ""),
					    MHD_RESPMEM_MUST_COPY);
	if (body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "OData-Version", "4.0");
	if (etag)
		MHD_add_response_header(r, "ETag", etag);
	if (extra_name)
		MHD_add_response_header(r, extra_name, extra_value);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *id,
			     const char *msg)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "{\"error\":{\"code\":\"Base.1.15.%s\",\"message\":\"%s\","
		 "\"@Message.ExtendedInfo\":[{\"MessageId\":\"Base.1.15.%s\",\"Message\":\"%s\"}]}}",
		 id, msg, id, msg);
	return reply(c, status, body, NULL, NULL, NULL);
}

static bool authed(struct fake_bmc *f, struct MHD_Connection *c)
{
	const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token");
	char *pass = NULL, *user;
	bool ok = false;

	if (tok) {
		for (size_t i = 0; i < 64; i++)
			if (f->tokens[i] && strcmp(f->tokens[i], tok) == 0)
				return true;
		return false;
	}
	user = MHD_basic_auth_get_username_password(c, &pass);
	ok = user && pass && strcmp(user, USER) == 0 && strcmp(pass, PASS) == 0;
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

static void merge(struct json_object *dst, struct json_object *delta)
{
	json_object_object_foreach(delta, key, val) {
		struct json_object *cur;

		if (json_object_is_type(val, json_type_object) &&
		    json_object_object_get_ex(dst, key, &cur) && json_object_is_type(cur, json_type_object))
			merge(cur, val);
		else
			json_object_object_add(dst, key, json_object_get(val));
	}
}

static enum MHD_Result login(struct fake_bmc *f, struct MHD_Connection *c, const char *data)
{
	struct json_object *o = json_tokener_parse(data ? data : "");
	struct json_object *u, *p;
	char tok[64], loc[128], body[256];
	bool ok;

	ok = f->mode != FAKE_401 && o && json_object_object_get_ex(o, "UserName", &u) &&
	     json_object_object_get_ex(o, "Password", &p) &&
	     strcmp(json_object_get_string(u), USER) == 0 && strcmp(json_object_get_string(p), PASS) == 0;
	json_object_put(o);
	if (!ok)
		return error(c, 401, "NoValidSession", "There is no valid session established");
	f->logins++;
	unsigned id = ++f->next_session;

	snprintf(tok, sizeof(tok), "tok-%u-%d", id, rand());
	snprintf(loc, sizeof(loc), "/redfish/v1/SessionService/Sessions/%u", id);
	for (size_t i = 0; i < 64; i++)
		if (!f->tokens[i]) {
			f->tokens[i] = strdup(tok);
			f->session_uris[i] = strdup(loc);
			break;
		}
	snprintf(body, sizeof(body), "{\"@odata.id\":\"%s\",\"Id\":\"%u\",\"UserName\":\"%s\"}", loc, id,
		 USER);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);

	MHD_add_response_header(r, "X-Auth-Token", tok);
	MHD_add_response_header(r, "Location", loc);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, 201, r);

	MHD_destroy_response(r);
	return ret;
}

/* The resource and action whose target is url. */
static ssize_t find_action(struct fake_bmc *f, const char *url, char *name, size_t size)
{
	for (size_t i = 0; i < f->n; i++) {
		struct json_object *acts, *t;

		if (!json_object_object_get_ex(f->bodies[i], "Actions", &acts))
			continue;
		json_object_object_foreach(acts, k, v) {
			if (k[0] == '#' && json_object_object_get_ex(v, "target", &t) &&
			    strcmp(json_object_get_string(t), url) == 0) {
				snprintf(name, size, "%s", k + 1);
				return (ssize_t)i;
			}
		}
	}
	return -1;
}

static enum MHD_Result action(struct fake_bmc *f, struct MHD_Connection *c, const char *url,
			      const char *data)
{
	char name[128];
	ssize_t i = find_action(f, url, name, sizeof(name));
	struct json_object *o, *rt, *acts, *a, *allow;
	const char *type;
	bool ok = false;

	if (i < 0)
		return error(c, 404, "ResourceNotFound", "No such action");
	if (strcmp(name, "ComputerSystem.Reset") != 0)
		return reply(c, 204, NULL, NULL, NULL, NULL);
	o = json_tokener_parse(data && *data ? data : "{}");
	if (!o || !json_object_object_get_ex(o, "ResetType", &rt)) {
		json_object_put(o);
		return error(c, 400, "ActionParameterMissing", "ResetType missing");
	}
	type = json_object_get_string(rt);
	json_object_object_get_ex(f->bodies[i], "Actions", &acts);
	json_object_object_get_ex(acts, "#ComputerSystem.Reset", &a);
	if (json_object_object_get_ex(a, "ResetType@Redfish.AllowableValues", &allow))
		for (size_t k = 0; k < json_object_array_length(allow); k++)
			ok |= strcmp(json_object_get_string(json_object_array_get_idx(allow, k)), type) == 0;
	else
		ok = true;   /* described by an ActionInfo: the client checked it */
	if (!ok) {
		json_object_put(o);
		return error(c, 400, "ActionParameterValueNotInList", "ResetType not allowed");
	}
	const char *state = strstr(type, "Off") || strstr(type, "Shutdown") ? "Off" : "On";

	json_object_object_add(f->bodies[i], "PowerState", json_object_new_string(state));
	f->etags[i]++;
	json_object_put(o);
	return reply(c, 204, NULL, NULL, NULL, NULL);
}

static enum MHD_Result handle(struct fake_bmc *f, struct MHD_Connection *c, const char *url,
			      const char *method, const char *data)
{
	char etag[32];
	ssize_t i;
	bool get = strcmp(method, "GET") == 0;

	if (strcmp(method, "POST") == 0 && strcmp(url, "/redfish/v1/SessionService/Sessions") == 0 &&
	    f->sessions)
		return login(f, c, data);
	if (f->mode_count != 0 && f->mode != FAKE_OK && f->mode != FAKE_401) {
		enum fake_mode m = f->mode;
		int arg = f->mode_arg;

		if (f->mode_count > 0)
			f->mode_count--;
		switch (m) {
		case FAKE_503: {
			char ra[16];

			snprintf(ra, sizeof(ra), "%d", arg);
			if (arg < 0)
				return error(c, 503, "ServiceTemporarilyUnavailable", "busy");
			struct MHD_Response *r = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);

			MHD_add_response_header(r, "Retry-After", ra);
			enum MHD_Result ret = MHD_queue_response(c, 503, r);

			MHD_destroy_response(r);
			return ret;
		}
		case FAKE_SLOW:
			if (++f->slow_inflight > f->slow_max)
				f->slow_max = f->slow_inflight;
			pthread_mutex_unlock(&f->lock);
			usleep((useconds_t)arg * 1000);
			pthread_mutex_lock(&f->lock);
			f->slow_inflight--;
			break;
		case FAKE_MALFORMED:
			return reply(c, 200, "{\"@odata.id\": \"/redfish/v1\", \"Name\": [1, 2", NULL, NULL, NULL);
		case FAKE_HUGE: {
			size_t n = (size_t)arg << 20;
			char *big = malloc(n + 64);

			memset(big, ' ', n + 64);
			memcpy(big, "{\"x\":\"", 6);
			memcpy(big + n + 60, "\"}", 3);
			struct MHD_Response *r = MHD_create_response_from_buffer(n + 62, big, MHD_RESPMEM_MUST_FREE);
			enum MHD_Result ret = MHD_queue_response(c, 200, r);

			MHD_destroy_response(r);
			return ret;
		}
		case FAKE_WRONG_ID:
			return reply(c, 200, "{\"@odata.id\": \"/redfish/v1/Elsewhere\"}", NULL, NULL, NULL);
		default:
			break;
		}
	}
	if (!(get && strcmp(url, "/redfish/v1") == 0)) {
		if (f->mode == FAKE_401 && f->mode_count != 0) {
			if (f->mode_count > 0)
				f->mode_count--;
			return error(c, 401, "NoValidSession", "There is no valid session established");
		}
		if (!authed(f, c))
			return error(c, 401, "NoValidSession", "There is no valid session established");
	}
	if (strcmp(method, "DELETE") == 0) {
		for (size_t k = 0; k < 64; k++)
			if (f->session_uris[k] && strcmp(f->session_uris[k], url) == 0) {
				free(f->tokens[k]);
				free(f->session_uris[k]);
				f->tokens[k] = f->session_uris[k] = NULL;
				return reply(c, 204, NULL, NULL, NULL, NULL);
			}
		return error(c, 404, "ResourceNotFound", "No such session");
	}
	if (strcmp(method, "POST") == 0)
		return action(f, c, url, data);
	i = find(f, url);
	if (i < 0)
		return error(c, 404, "ResourceNotFound", "The requested resource was not found");
	snprintf(etag, sizeof(etag), "\"%u\"", f->etags[i]);
	if (get) {
		const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
		struct json_object *body = f->bodies[i];

		if (inm && strcmp(inm, etag) == 0)
			return reply(c, 304, NULL, etag, NULL, NULL);
		if (strcmp(url, "/redfish/v1") == 0 && !f->sessions) {
			struct json_object *copy = NULL, *links;

			json_object_deep_copy(body, &copy, NULL);
			if (json_object_object_get_ex(copy, "Links", &links))
				json_object_object_del(links, "Sessions");
			enum MHD_Result ret = reply(c, 200, json_object_to_json_string(copy), etag, NULL, NULL);

			json_object_put(copy);
			return ret;
		}
		return reply(c, 200, json_object_to_json_string(body), etag, NULL, NULL);
	}
	if (strcmp(method, "PATCH") == 0) {
		const char *im = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
		struct json_object *delta;

		if (im && strcmp(im, "*") != 0 && strcmp(im, etag) != 0)
			return error(c, 412, "PreconditionFailed", "ETag does not match");
		delta = json_tokener_parse(data ? data : "");
		if (!json_object_is_type(delta, json_type_object)) {
			json_object_put(delta);
			return error(c, 400, "MalformedJSON", "Malformed JSON");
		}
		merge(f->bodies[i], delta);
		json_object_put(delta);
		f->etags[i]++;
		snprintf(etag, sizeof(etag), "\"%u\"", f->etags[i]);
		return reply(c, 200, json_object_to_json_string(f->bodies[i]), etag, NULL, NULL);
	}
	return error(c, 405, "OperationNotAllowed", "Method not allowed");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct fake_bmc *f = cls;
	struct conn *cn = *con_cls;
	char path[1024];
	size_t l;
	enum MHD_Result ret;

	(void)version;
	if (!cn) {
		*con_cls = calloc(1, sizeof(struct conn));
		return MHD_YES;
	}
	if (*upload_size) {
		cn->data = realloc(cn->data, cn->len + *upload_size + 1);
		memcpy(cn->data + cn->len, upload, *upload_size);
		cn->len += *upload_size;
		cn->data[cn->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	snprintf(path, sizeof(path), "%s", url);
	l = strlen(path);
	if (l > 1 && path[l - 1] == '/')
		path[l - 1] = '\0';
	pthread_mutex_lock(&f->lock);
	if (f->n_log == f->cap_log) {
		f->cap_log = f->cap_log ? f->cap_log * 2 : 1024;
		f->log = realloc(f->log, f->cap_log * sizeof(*f->log));
	}
	{
		/* $expand is logged (it is not served: this BMC ignores it) */
		const char *x = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "$expand");
		char logged[1100];

		snprintf(logged, sizeof(logged), "%s%s%s", path, x ? "?$expand=" : "", x ? x : "");
		f->log[f->n_log++] = (struct req_log){ strdup(method), strdup(logged) };
	}
	ret = handle(f, c, path, method, cn->data);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn) {
		free(cn->data);
		free(cn);
	}
	*con_cls = NULL;
}

int fake_bmc_up(struct fake_bmc *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(f->port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
				NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, on_done, f,
				MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
	if (!f->d)
		return -1;
	f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
	return 0;
}

void fake_bmc_down(struct fake_bmc *f)
{
	if (f->d)
		MHD_stop_daemon(f->d);
	f->d = NULL;
}

struct fake_bmc *fake_bmc_start(const char *mockup_dir, bool sessions)
{
	struct fake_bmc *f = calloc(1, sizeof(*f));

	pthread_mutex_init(&f->lock, NULL);
	f->sessions = sessions;
	load_dir(f, mockup_dir, "/redfish/v1");
	if (!f->n || fake_bmc_up(f) < 0) {
		fake_bmc_stop(f);
		return NULL;
	}
	return f;
}

void fake_bmc_stop(struct fake_bmc *f)
{
	if (!f)
		return;
	fake_bmc_down(f);
	for (size_t i = 0; i < f->n; i++) {
		free(f->uris[i]);
		json_object_put(f->bodies[i]);
	}
	free(f->uris);
	free(f->bodies);
	free(f->etags);
	for (size_t i = 0; i < 64; i++) {
		free(f->tokens[i]);
		free(f->session_uris[i]);
	}
	fake_bmc_reset_counts(f);
	free(f->log);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

uint16_t fake_bmc_port(struct fake_bmc *f)
{
	return f->port;
}

void fake_bmc_set_mode(struct fake_bmc *f, enum fake_mode mode, int arg, int count)
{
	pthread_mutex_lock(&f->lock);
	f->mode = mode;
	f->mode_arg = arg;
	f->mode_count = count;
	pthread_mutex_unlock(&f->lock);
}

void fake_bmc_expire_sessions(struct fake_bmc *f)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < 64; i++) {
		free(f->tokens[i]);
		free(f->session_uris[i]);
		f->tokens[i] = f->session_uris[i] = NULL;
	}
	pthread_mutex_unlock(&f->lock);
}

int fake_bmc_sessions(struct fake_bmc *f)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < 64; i++)
		n += f->tokens[i] != NULL;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_slow_max(struct fake_bmc *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->slow_max;
	f->slow_max = 0;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_logins(struct fake_bmc *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->logins;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_count(struct fake_bmc *f, const char *method, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_log; i++)
		if ((!method || strcmp(f->log[i].method, method) == 0) &&
		    (!path || strcmp(f->log[i].path, path) == 0))
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_count_below(struct fake_bmc *f, const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_log; i++)
		if (strncmp(f->log[i].path, prefix, strlen(prefix)) == 0)
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_count_expand(struct fake_bmc *f)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_log; i++)
		if (strstr(f->log[i].path, "?$expand="))
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_bmc_repeated_gets(struct fake_bmc *f)
{
	int rep = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_log; i++) {
		bool first = true, again = false;

		if (strcmp(f->log[i].method, "GET") != 0)
			continue;
		for (size_t j = 0; j < i && first; j++)
			if (strcmp(f->log[j].method, "GET") == 0 && strcmp(f->log[j].path, f->log[i].path) == 0)
				first = false;
		if (!first)
			continue;
		for (size_t j = i + 1; j < f->n_log && !again; j++)
			if (strcmp(f->log[j].method, "GET") == 0 && strcmp(f->log[j].path, f->log[i].path) == 0)
				again = true;
		if (again) {
			fprintf(stderr, "  GET twice: %s\n", f->log[i].path);
			rep++;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rep;
}

void fake_bmc_reset_counts(struct fake_bmc *f)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n_log; i++) {
		free(f->log[i].method);
		free(f->log[i].path);
	}
	f->n_log = 0;
	pthread_mutex_unlock(&f->lock);
}

char *fake_bmc_get(struct fake_bmc *f, const char *uri, const char *path)
{
	char buf[256], *save = NULL, *tok, *out = NULL;
	struct json_object *o;
	ssize_t i;

	pthread_mutex_lock(&f->lock);
	i = find(f, uri);
	o = i >= 0 ? f->bodies[i] : NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, "/", &save); tok && o; tok = strtok_r(NULL, "/", &save))
		if (!json_object_object_get_ex(o, tok, &o))
			o = NULL, i = -1;
	if (i >= 0)
		out = strdup(o ? json_object_get_string(o) : "");
	pthread_mutex_unlock(&f->lock);
	return out;
}

char **fake_bmc_uris(struct fake_bmc *f)
{
	char **v;

	pthread_mutex_lock(&f->lock);
	v = calloc(f->n + 1, sizeof(*v));
	for (size_t i = 0; i < f->n; i++)
		v[i] = strdup(f->uris[i]);
	pthread_mutex_unlock(&f->lock);
	return v;
}

struct json_object *fake_bmc_body(struct fake_bmc *f, const char *uri)
{
	struct json_object *copy = NULL;
	ssize_t i;

	pthread_mutex_lock(&f->lock);
	i = find(f, uri);
	if (i >= 0)
		json_object_deep_copy(f->bodies[i], &copy, NULL);
	pthread_mutex_unlock(&f->lock);
	return copy;
}
