/* logs.c — the daemon's LogService: the audit trail over HTTP.
 *
 * What goes in: every line the daemon logs with log_event (common.h) at
 * info level or above — a strip or BMC going offline (with the cause) or
 * coming back (fs/main.c, from the Kasa provider's and the BMC health
 * thread's events), every write through the mount and every change over
 * HTTP with who asked and how it ended, configuration reloads. The journal gets the same
 * text, since log_event writes both.
 *
 * Served here, not from the tree: an entry is made on whatever thread
 * logged (a poller, an MHD thread, the event thread, some with their own
 * locks held), and installing into the tree from there could wait on the
 * tree or feed the change listener back into itself. So the sink takes only
 * lg->lock, and front.c hands GET/HEAD of
 *     /redfish/v1/Managers/redfishfs/LogServices
 *     /redfish/v1/Managers/redfishfs/LogServices/Log
 *     /redfish/v1/Managers/redfishfs/LogServices/Log/Entries[/ID]
 * and POST .../Log/Actions/LogService.ClearLog to httpd_logs_route. The
 * Manager links LogServices (accounts.c). The mount does not show them.
 *
 * Storage: a ring of LOG_MAX entries (oldest dropped: WrapsWhenFull), and
 * STATE_DIR/log.jsonl (0600), one JSON object a line, appended as entries
 * come; when the file holds more than 2 * LOG_MAX lines it is rewritten
 * with the ring (to a temporary, renamed over). ClearLog empties both. Ids
 * go on counting after a clear while the daemon runs (a client that saw
 * entry 7 never sees another 7 then); the file keeps the next id in its
 * first line so a restart does too.
 *
 * Locks: lg->lock guards the ring and the file; the sink never logs. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOGS_URI     HTTPD_MANAGER "/LogServices"
#define LOG_URI      LOGS_URI "/Log"
#define ENTRIES_URI  LOG_URI "/Entries"
#define CLEAR_URI    LOG_URI "/Actions/LogService.ClearLog"

struct log_entry {
	uint64_t id;
	int64_t created;        /* seconds since the epoch */
	enum log_level level;
	char *origin;           /* URI or NULL */
	char *text;
};

struct httpd_logs {
	pthread_mutex_t lock;
	struct log_entry ring[LOG_MAX];
	size_t head, n;         /* oldest at ring[head] */
	uint64_t next_id;
	char *path, *tmp_path;  /* NULL: kept in memory only */
	int fd;                 /* appending to path, or -1 */
	size_t file_lines;
	int save_err;           /* the last failure to save, for Status */
};

static void entry_clear(struct log_entry *e)
{
	free(e->origin);
	free(e->text);
	*e = (struct log_entry){ 0 };
}

static struct log_entry *nth(struct httpd_logs *lg, size_t i)
{
	return &lg->ring[(lg->head + i) % LOG_MAX];
}

static void push_locked(struct httpd_logs *lg, struct log_entry *e)
{
	if (lg->n == LOG_MAX) {
		entry_clear(nth(lg, 0));
		lg->head = (lg->head + 1) % LOG_MAX;
		lg->n--;
	}
	*nth(lg, lg->n) = *e;
	lg->n++;
	if (e->id >= lg->next_id)
		lg->next_id = e->id + 1;
}

static const char *severity(enum log_level l)
{
	return l == LOG_LEVEL_ERROR ? "Critical" : l == LOG_LEVEL_WARN ? "Warning" : "OK";
}

static void iso_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the file ------------------------------------------------------------------- */

/* One line of the file for e (malloc'd, with its newline), or NULL. */
static char *entry_line(const struct log_entry *e)
{
	struct json_object *o = json_object_new_object();
	char *line = NULL;

	json_object_object_add(o, "id", json_object_new_int64((int64_t)e->id));
	json_object_object_add(o, "created", json_object_new_int64(e->created));
	json_object_object_add(o, "level", json_object_new_int(e->level));
	json_object_object_add(o, "text", json_object_new_string(e->text));
	if (e->origin)
		json_object_object_add(o, "origin", json_object_new_string(e->origin));
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
		line = NULL;
	json_object_put(o);
	return line;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Rewrite the file as the ring is now, reopening lg->fd on it. */
static int rewrite_locked(struct httpd_logs *lg)
{
	char head[64];
	int fd, r;

	if (!lg->path)
		return 0;
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
	fd = open(lg->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	snprintf(head, sizeof(head), "{\"next_id\":%llu}\n", (unsigned long long)lg->next_id);
	r = write_all(fd, head, strlen(head));
	for (size_t i = 0; r == 0 && i < lg->n; i++) {
		_cleanup_free_ char *line = entry_line(nth(lg, i));

		r = line ? write_all(fd, line, strlen(line)) : -ENOMEM;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(lg->tmp_path, lg->path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(lg->tmp_path);
		return r;
	}
	lg->file_lines = lg->n;
	lg->fd = open(lg->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	return lg->fd < 0 ? -errno : 0;
}

static int append_locked(struct httpd_logs *lg, const struct log_entry *e)
{
	_cleanup_free_ char *line = NULL;
	int r;

	if (!lg->path)
		return 0;
	if (lg->fd < 0 || lg->file_lines >= 2 * LOG_MAX)
		return rewrite_locked(lg);
	if (!(line = entry_line(e)))
		return -ENOMEM;
	if ((r = write_all(lg->fd, line, strlen(line))) < 0)
		return r;
	lg->file_lines++;
	return 0;
}

/* Read the file into the ring; a line that is not an entry is skipped (a
 * torn last line after a crash). Then rewrite it compact. */
static int load(struct httpd_logs *lg)
{
	FILE *f = fopen(lg->path, "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return errno == ENOENT ? rewrite_locked(lg) : -errno;
	while (getline(&line, &cap, f) > 0) {
		struct json_object *o = json_tokener_parse(line), *v;
		struct log_entry e = { 0 };

		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			continue;
		}
		if (json_object_object_get_ex(o, "next_id", &v) && json_object_is_type(v, json_type_int)) {
			int64_t n = json_object_get_int64(v);

			if (n > 0 && (uint64_t)n > lg->next_id)
				lg->next_id = (uint64_t)n;
		} else if (json_object_object_get_ex(o, "id", &v) && json_object_get_int64(v) > 0 &&
			   json_object_object_get_ex(o, "text", &v) &&
			   json_object_is_type(v, json_type_string)) {
			e.id = (uint64_t)json_object_get_int64(json_object_object_get(o, "id"));
			e.text = strdup(json_object_get_string(v));
			e.created = json_object_get_int64(json_object_object_get(o, "created"));
			e.level = json_object_get_int(json_object_object_get(o, "level"));
			if (e.level < LOG_LEVEL_ERROR || e.level > LOG_LEVEL_INFO)
				e.level = LOG_LEVEL_INFO;
			if (json_object_object_get_ex(o, "origin", &v) &&
			    json_object_is_type(v, json_type_string))
				e.origin = strdup(json_object_get_string(v));
			if (e.text)
				push_locked(lg, &e);
			else
				entry_clear(&e);
		}
		json_object_put(o);
	}
	free(line);
	fclose(f);
	return rewrite_locked(lg);
}

static void sink(void *userdata, enum log_level level, const char *origin, const char *text)
{
	struct httpd_logs *lg = userdata;
	struct log_entry e = { .level = level, .created = now_realtime().tv_sec };

	if (!(e.text = strdup(text)) || (origin && !(e.origin = strdup(origin)))) {
		entry_clear(&e);
		return;
	}
	pthread_mutex_lock(&lg->lock);
	e.id = lg->next_id;
	push_locked(lg, &e);
	lg->save_err = append_locked(lg, nth(lg, lg->n - 1));
	pthread_mutex_unlock(&lg->lock);
}

struct httpd_logs *httpd_logs_new(const char *state_dir, int *ret_err)
{
	struct httpd_logs *lg = calloc(1, sizeof(*lg));
	int r;

	if (!lg) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&lg->lock, NULL);
	lg->fd = -1;
	lg->next_id = 1;
	if (state_dir && (asprintf(&lg->path, "%s/log.jsonl", state_dir) < 0 ||
			  asprintf(&lg->tmp_path, "%s/log.jsonl.tmp", state_dir) < 0)) {
		lg->path = lg->tmp_path = NULL;
		*ret_err = -ENOMEM;
		return httpd_logs_free(lg);
	}
	if (lg->path && (r = load(lg)) < 0) {
		log_error("httpd: log %s: %s", lg->path, strerror(-r));
		*ret_err = r;
		return httpd_logs_free(lg);
	}
	log_set_event_sink(sink, lg);
	return lg;
}

struct httpd_logs *httpd_logs_free(struct httpd_logs *lg)
{
	if (!lg)
		return NULL;
	log_set_event_sink(NULL, NULL);
	for (size_t i = 0; i < lg->n; i++)
		entry_clear(nth(lg, i));
	if (lg->fd >= 0)
		close(lg->fd);
	free(lg->path);
	free(lg->tmp_path);
	pthread_mutex_destroy(&lg->lock);
	free(lg);
	return NULL;
}

/* ---- the resources ------------------------------------------------------------------ */

static struct json_object *entry_doc(const struct log_entry *e)
{
	char uri[128], id[24], when[40];
	struct json_object *o;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)e->id);
	snprintf(uri, sizeof(uri), ENTRIES_URI "/%s", id);
	iso_time(e->created, when, sizeof(when));
	o = httpd_resource(uri, "#LogEntry.v1_21_0.LogEntry", id, "Log Entry");
	json_object_object_add(o, "EntryType", json_object_new_string("Oem"));
	json_object_object_add(o, "OemRecordFormat", json_object_new_string("redfishfs"));
	json_object_object_add(o, "Severity", json_object_new_string(severity(e->level)));
	json_object_object_add(o, "Created", json_object_new_string(when));
	json_object_object_add(o, "Message", json_object_new_string(e->text));
	if (e->origin) {
		struct json_object *l = json_object_new_object();

		json_object_object_add(l, "OriginOfCondition", httpd_link(e->origin));
		json_object_object_add(o, "Links", l);
	}
	return o;
}

/* The document at uri (new reference), or NULL: not one of ours. */
static struct json_object *doc_locked(struct httpd_logs *lg, const char *uri)
{
	struct json_object *o, *a;
	char when[40];

	if (strcmp(uri, LOGS_URI) == 0) {
		o = httpd_resource(LOGS_URI, "#LogServiceCollection.LogServiceCollection", NULL,
			     "Log Service Collection");
		a = json_object_new_array();
		json_object_array_add(a, httpd_link(LOG_URI));
		json_object_object_add(o, "Members", a);
		json_object_object_add(o, "Members@odata.count", json_object_new_int(1));
		return o;
	}
	if (strcmp(uri, LOG_URI) == 0) {
		struct json_object *st = json_object_new_object(), *act = json_object_new_object(),
				   *clr = json_object_new_object();

		o = httpd_resource(LOG_URI, "#LogService.v1_9_0.LogService", "Log", "redfishfs event log");
		json_object_object_add(o, "Description",
				       json_object_new_string("Device state changes, writes and "
							      "actions with who and result, reloads"));
		json_object_object_add(o, "ServiceEnabled", json_object_new_boolean(true));
		json_object_object_add(o, "MaxNumberOfRecords", json_object_new_int64(LOG_MAX));
		json_object_object_add(o, "OverWritePolicy", json_object_new_string("WrapsWhenFull"));
		json_object_object_add(o, "LogEntryType", json_object_new_string("OEM"));
		iso_time(now_realtime().tv_sec, when, sizeof(when));
		json_object_object_add(o, "DateTime", json_object_new_string(when));
		json_object_object_add(st, "State", json_object_new_string("Enabled"));
		json_object_object_add(st, "Health",
				       json_object_new_string(lg->save_err ? "Warning" : "OK"));
		json_object_object_add(o, "Status", st);
		json_object_object_add(o, "Entries", httpd_link(ENTRIES_URI));
		json_object_object_add(clr, "target", json_object_new_string(CLEAR_URI));
		json_object_object_add(act, "#LogService.ClearLog", clr);
		json_object_object_add(o, "Actions", act);
		return o;
	}
	if (strcmp(uri, ENTRIES_URI) == 0) {
		o = httpd_resource(ENTRIES_URI, "#LogEntryCollection.LogEntryCollection", NULL,
			     "Log Entry Collection");
		a = json_object_new_array();
		for (size_t i = 0; i < lg->n; i++) {
			char m[128];

			snprintf(m, sizeof(m), ENTRIES_URI "/%llu", (unsigned long long)nth(lg, i)->id);
			json_object_array_add(a, httpd_link(m));
		}
		json_object_object_add(o, "Members", a);
		json_object_object_add(o, "Members@odata.count", json_object_new_int64((int64_t)lg->n));
		return o;
	}
	if (strncmp(uri, ENTRIES_URI "/", strlen(ENTRIES_URI "/")) == 0) {
		const char *s = uri + strlen(ENTRIES_URI "/");
		char *end;
		unsigned long long id;

		if (*s < '1' || *s > '9')
			return NULL;
		errno = 0;
		id = strtoull(s, &end, 10);
		if (errno || *end)
			return NULL;
		for (size_t i = 0; i < lg->n; i++)
			if (nth(lg, i)->id == id)
				return entry_doc(nth(lg, i));
	}
	return NULL;
}

static enum MHD_Result fault(struct MHD_Connection *c, const char *uri, enum httpd_msg msg,
			     const char *allow)
{
	struct httpd_fault f = { .msg = msg };

	return httpd_queue_fault(c, uri, &f, allow);
}

static enum MHD_Result need(struct httpd *h, struct MHD_Connection *c, const char *uri,
			    unsigned priv, struct httpd_ident *who, bool *ok)
{
	*ok = false;
	if (httpd_authenticate(h, c, who) < 0)
		return fault(c, uri, HTTPD_MSG_NO_VALID_SESSION, NULL);
	if (!(who->privs & priv))
		return fault(c, uri, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, NULL);
	*ok = true;
	return MHD_YES;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, const char *uri, unsigned status,
				  struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = strdup(s);
	struct MHD_Response *r;

	json_object_put(o);
	if (!copy)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(copy);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return httpd_queue(c, uri, status, r);
}

/* POST ClearLog: the body may be empty or an object (LogEntriesETag is not
 * supported: the collection has no ETag). */
static enum MHD_Result clear_log(struct httpd_logs *lg, struct MHD_Connection *c,
				 const char *uri, const struct httpd_ident *who,
				 const char *body, size_t len)
{
	struct json_object *o = NULL;
	size_t n;
	int r;

	if (len) {
		enum json_tokener_error jerr;

		o = json_tokener_parse_verbose(body, &jerr);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return fault(c, uri, HTTPD_MSG_MALFORMED_JSON, NULL);
		}
		if (json_object_object_length(o) > 0) {
			struct httpd_fault f = { .msg = HTTPD_MSG_ACTION_PARAMETER_UNKNOWN,
						 .what = "ClearLog" };
			struct json_object_iterator it = json_object_iter_begin(o);

			snprintf(f.e.property, sizeof(f.e.property), "%s",
				 json_object_iter_peek_name(&it));
			r = httpd_queue_fault(c, uri, &f, NULL);
			json_object_put(o);
			return r;
		}
		json_object_put(o);
	}
	pthread_mutex_lock(&lg->lock);
	n = lg->n;
	for (size_t i = 0; i < lg->n; i++)
		entry_clear(nth(lg, i));
	lg->head = lg->n = 0;
	lg->save_err = r = rewrite_locked(lg);
	pthread_mutex_unlock(&lg->lock);
	/* The journal keeps what the log no longer does; the log starts empty. */
	log_notice("log cleared by %s (%zu entries)%s%s", who->user[0] ? who->user : "(no login)", n,
		   r < 0 ? ": saving failed: " : "", r < 0 ? strerror(-r) : "");
	if (r < 0)
		return fault(c, uri, HTTPD_MSG_INTERNAL_ERROR, NULL);
	{
		struct json_object *reply = json_object_new_object(), *ext = json_object_new_array();

		json_object_array_add(ext, httpd_message_object(HTTPD_MSG_SUCCESS, NULL, 0));
		json_object_object_add(reply, "@Message.ExtendedInfo", ext);
		return reply_json(c, uri, MHD_HTTP_OK, reply);
	}
}

bool httpd_logs_route(struct httpd_logs *lg, struct httpd *h, struct MHD_Connection *c,
		      const char *method, const char *uri, const char *body, size_t len,
		      enum MHD_Result *ret)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct httpd_ident who;
	struct json_object *o;
	bool ok;

	if (strncmp(uri, LOGS_URI, strlen(LOGS_URI)) != 0 ||
	    (uri[strlen(LOGS_URI)] != '/' && uri[strlen(LOGS_URI)] != '\0'))
		return false;
	if (strcmp(uri, CLEAR_URI) == 0) {
		if (strcmp(method, "POST") != 0) {
			*ret = fault(c, uri, HTTPD_MSG_OPERATION_NOT_ALLOWED, "POST");
			return true;
		}
		*ret = need(h, c, uri, HTTPD_PRIV_CONFIGURE_MANAGER, &who, &ok);
		if (ok)
			*ret = clear_log(lg, c, uri, &who, body, len);
		return true;
	}
	*ret = need(h, c, uri, HTTPD_PRIV_LOGIN, &who, &ok);
	if (!ok)
		return true;
	pthread_mutex_lock(&lg->lock);
	o = doc_locked(lg, uri);
	pthread_mutex_unlock(&lg->lock);
	if (!o)
		*ret = fault(c, uri, HTTPD_MSG_RESOURCE_NOT_FOUND, NULL);
	else if (!get) {
		json_object_put(o);
		*ret = fault(c, uri, HTTPD_MSG_OPERATION_NOT_ALLOWED, "GET, HEAD");
	} else {
		*ret = reply_json(c, uri, MHD_HTTP_OK, o);
	}
	return true;
}
