/* internal.h — what the files of httpd/ share; not a public header.
 *
 *   config.c    option strings -> validated settings
 *   messages.c  the one errno/kind -> HTTP status + Base message function
 *   accounts.c  accounts, roles, sessions, the state file, and the service's
 *               own resources in the tree (a provider of its own)
 *   server.c    libmicrohttpd: requests, routing, headers, responses
 *   expand.c    the $expand query
 *   front.c     what is not a tree document: the web page at /, /metrics
 *               (metrics.c), the EventService's streams and deliveries
 *               (events.c), the LogService (logs.c)
 */
#ifndef REDFISHFS_HTTPD_INTERNAL_H
#define REDFISHFS_HTTPD_INTERNAL_H

#include "httpd.h"
#include "redfish.h"
#include "common.h"

#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#define HTTPD_ROOT_URI       RF_ROOT
#define HTTPD_SESSION_SVC    RF_ROOT "/SessionService"
#define HTTPD_SESSIONS       RF_ROOT "/SessionService/Sessions"
#define HTTPD_ACCOUNT_SVC    RF_ROOT "/AccountService"
#define HTTPD_ACCOUNTS       RF_ROOT "/AccountService/Accounts"
#define HTTPD_ROLES          RF_ROOT "/AccountService/Roles"
#define HTTPD_MANAGER        RF_ROOT "/Managers/redfishfs"
#define HTTPD_SUBSCRIPTIONS  RF_ROOT "/EventService/Subscriptions"   /* events.c serves POST/DELETE */
#define HTTPD_NETPROTO       RF_ROOT "/Managers/redfishfs/NetworkProtocol"

#define HTTPD_DEFAULT_THREADS 2
#define HTTPD_DEFAULT_MAX_CONN 256
#define HTTPD_DEFAULT_CONN_TIMEOUT 30
#define HTTPD_DEFAULT_PER_IP 64
#define HTTPD_DEFAULT_HEADER_TIMEOUT 10
#define HTTPD_DEFAULT_MAX_BODY (64 * 1024)
#define HTTPD_DEFAULT_SESSION_TIMEOUT 1800
#define HTTPD_RETRY_AFTER_S 5

/* ---- config.c ------------------------------------------------------------ */

struct httpd_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool loopback;
	char host[80];          /* for the URL: "127.0.0.1", "[::1]" */
	uint16_t port;
};

int httpd_parse_listen(const char *s, struct httpd_listen *ret);
/* Read a password file (private: no group/other bits), one trailing newline
 * dropped. malloc'd; -errno and a message. */
int httpd_read_password_file(const char *path, char **ret, char *msg, size_t msg_size);
/* The state directory to use (malloc'd). */

/* ---- messages.c ---------------------------------------------------------- */

/* The Base registry messages httpd sends (messages.c: id, usual status,
 * texts, argument order). */
enum httpd_msg {
	HTTPD_MSG_NONE,         /* not httpd's own: the tree's kind or the errno decides */
	HTTPD_MSG_SUCCESS,
	HTTPD_MSG_CREATED,
	HTTPD_MSG_NO_OPERATION,
	HTTPD_MSG_MALFORMED_JSON,
	HTTPD_MSG_PROPERTY_VALUE_NOT_IN_LIST,
	HTTPD_MSG_PROPERTY_VALUE_TYPE_ERROR,
	HTTPD_MSG_PROPERTY_VALUE_FORMAT_ERROR,   /* a string that is not UTF-8 text */
	HTTPD_MSG_PROPERTY_NOT_WRITABLE,
	HTTPD_MSG_PROPERTY_UNKNOWN,
	HTTPD_MSG_PROPERTY_MISSING,
	HTTPD_MSG_ACTION_PARAMETER_MISSING,
	HTTPD_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST,
	HTTPD_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR,
	HTTPD_MSG_ACTION_PARAMETER_UNKNOWN,
	HTTPD_MSG_RESOURCE_NOT_FOUND,
	HTTPD_MSG_OPERATION_NOT_ALLOWED,
	HTTPD_MSG_NO_VALID_SESSION,
	HTTPD_MSG_INSUFFICIENT_PRIVILEGE,
	HTTPD_MSG_PRECONDITION_FAILED,
	HTTPD_MSG_HEADER_INVALID,
	HTTPD_MSG_PAYLOAD_TOO_LARGE,
	HTTPD_MSG_QUERY_PARAMETER_UNSUPPORTED,
	HTTPD_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR,
	HTTPD_MSG_QUERY_PARAMETER_OUT_OF_RANGE,
	HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE,
	HTTPD_MSG_OPERATION_TIMEOUT,
	HTTPD_MSG_OPERATION_FAILED,
	HTTPD_MSG_INTERNAL_ERROR,
	HTTPD_MSG_GENERAL_ERROR,
	HTTPD_MSG_RESOURCE_ALREADY_EXISTS,
	HTTPD_MSG_RESOURCE_IN_USE,
	HTTPD_MSG_PASSWORD_INCORRECT_LENGTH,
	HTTPD_MSG_SESSION_LIMIT_EXCEEDED,
	HTTPD_MSG_SESSION_TERMINATED,
	HTTPD_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE,
	HTTPD_MSG_COUNT,
};

/* What went wrong, as the one mapping function takes it. Either httpd's own
 * condition (msg, with status when not the message's usual one, e.g.
 * HeaderInvalid as 406, 412 or 415), or an error of the tree or a back end:
 * -errno, plus the tree's struct rf_error (kind, property, value) when
 * there is one. what: the context a message names (resource type, action,
 * header, query parameter). Message arguments come from e.value,
 * e.property and what, in the order messages.c's table gives. */
struct httpd_fault {
	enum httpd_msg msg;
	unsigned status;
	int err;
	struct rf_error e;
	const char *what;
};

/* f says msg (its usual status); returns err, the -errno the caller returns. */
static inline int httpd_fault_set(struct httpd_fault *f, enum httpd_msg msg, int err)
{
	f->msg = msg;
	f->err = err;
	return err;
}

struct httpd_status {
	unsigned status;        /* HTTP status */
	bool retry_after;       /* add Retry-After */
	const char *id;         /* the MessageId (static), for the log */
	char *body;             /* malloc'd Redfish error body */
	size_t len;
};

/* The fault -> status + Base message function. 0 or -ENOMEM. */
int httpd_fault_render(const struct httpd_fault *f, struct httpd_status *ret);

/* A Base message object (for 200 bodies: Success, Created), new reference.
 * args in the registry's order (extra ones are dropped). */
struct json_object *httpd_message_object(enum httpd_msg id, const char *const *args, size_t n);
/* "PropertyMissing" for HTTPD_MSG_PROPERTY_MISSING; NULL outside the enum. */
const char *httpd_msg_id(enum httpd_msg m);

/* ---- expand.c ------------------------------------------------------------ */

#define HTTPD_EXPAND_MAX_LEVELS 6         /* ProtocolFeaturesSupported MaxLevels */
#define HTTPD_EXPAND_MAX_RESOURCES 4096   /* documents in one expanded response */
#define HTTPD_EXPAND_MAX_BYTES (2u << 20) /* their bytes: past this, an error */
#define HTTPD_EXPAND_CONCURRENT 2         /* expanded GETs at once; more: 503 */

struct httpd_expand {
	char kind;              /* '*' all links, '.' outside Links, '~' inside Links */
	int levels;
};

/* Parse the value of $expand. 0, -EILSEQ (not the syntax), or -ERANGE
 * (levels outside 1..HTTPD_EXPAND_MAX_LEVELS). */
int httpd_expand_parse(const char *v, struct httpd_expand *ret);
/* d's document with its links expanded as e says (malloc'd, *ret_len set),
 * or NULL with *ret_err: -E2BIG (the documents would exceed
 * HTTPD_EXPAND_MAX_BYTES), -ENOMEM. */
char *httpd_expand_doc(struct rf_tree *t, const struct rf_doc *d, const struct httpd_expand *e,
		       size_t *ret_len, int *ret_err);

/* ---- accounts.c ---------------------------------------------------------- */

enum httpd_priv {
	HTTPD_PRIV_LOGIN = 1 << 0,
	HTTPD_PRIV_CONFIGURE_SELF = 1 << 1,
	HTTPD_PRIV_CONFIGURE_COMPONENTS = 1 << 2,
	HTTPD_PRIV_CONFIGURE_MANAGER = 1 << 3,
	HTTPD_PRIV_CONFIGURE_USERS = 1 << 4,
};

/* Who is asking: filled by a successful login check. */
struct httpd_ident {
	char user[64];
	unsigned privs;
	char session_id[40];    /* "" for Basic auth */
};

struct httpd_auth;

struct httpd_auth_opts {
	const char *state_dir;
	const char *user;            /* configured Administrator, or NULL */
	const char *password;        /* its password */
	bool no_auth;
	unsigned session_timeout_s;
	const char *url;             /* for NetworkProtocol */
	uint16_t port;
	bool tls;
};

struct httpd_auth *httpd_auth_new(struct rf_tree *t, const struct httpd_auth_opts *o, int *ret_err);
struct httpd_auth *httpd_auth_free(struct httpd_auth *a);

bool httpd_auth_disabled(const struct httpd_auth *a);
/* 0, or -ENOKEY (unknown user, wrong password, disabled, locked out,
 * expired token). cached_only: -EAGAIN where crypt(3) would have to run
 * (the password is not the one last verified, or the user is unknown), so
 * an MHD thread can hand the check to a worker. */
int httpd_auth_basic(struct httpd_auth *a, const char *user, const char *password,
		     bool cached_only, struct httpd_ident *ret);
int httpd_auth_token(struct httpd_auth *a, const char *token, struct httpd_ident *ret);

/* POST SessionService/Sessions: body (borrowed) with UserName/Password.
 * On success *ret_token (65 bytes) and *ret_uri (malloc'd). */
int httpd_session_create(struct httpd_auth *a, struct json_object *body, char *ret_token,
			 char **ret_uri, struct httpd_fault *f);
int httpd_session_delete(struct httpd_auth *a, const char *id, const struct httpd_ident *who,
			 struct httpd_fault *f);
int httpd_session_service_patch(struct httpd_auth *a, struct json_object *body,
				const char *if_match, const struct httpd_ident *who,
				struct httpd_fault *f);
/* PATCH AccountService: AccountLockoutThreshold, AccountLockoutDuration,
 * AccountLockoutCounterResetAfter (ConfigureUsers). */
int httpd_account_service_patch(struct httpd_auth *a, struct json_object *body,
				const char *if_match, const struct httpd_ident *who,
				struct httpd_fault *f);
int httpd_account_create(struct httpd_auth *a, struct json_object *body,
			 const struct httpd_ident *who, char **ret_uri, struct httpd_fault *f);
int httpd_account_patch(struct httpd_auth *a, const char *id, struct json_object *body,
			const char *if_match, const struct httpd_ident *who, struct httpd_fault *f);
int httpd_account_delete(struct httpd_auth *a, const char *id, const char *if_match,
			 const struct httpd_ident *who, struct httpd_fault *f);

/* Pieces of the service's own documents (new references): {"@odata.id":
 * uri}, and a body with @odata.id, @odata.type, Id (left out when NULL)
 * and Name. */
struct json_object *httpd_link(const char *uri);
struct json_object *httpd_resource(const char *uri, const char *type, const char *id,
				   const char *name);

/* ---- server.c, for front.c ---------------------------------------------- */

/* Who is asking (X-Auth-Token or Basic), as checked on a worker before
 * the request reached front.c; never runs crypt(3). 0 or -ENOKEY. */
int httpd_authenticate(struct httpd *h, struct MHD_Connection *c, struct httpd_ident *ret);
/* Queue r (taken; NULL gives MHD_NO) with OData-Version, counted for
 * /metrics and logged at debug level; uri only names it in the log. */
enum MHD_Result httpd_queue(struct MHD_Connection *c, const char *uri, unsigned status,
			    struct MHD_Response *r);
/* The Redfish error reply for f (through httpd_fault_render). */
enum MHD_Result httpd_queue_fault(struct MHD_Connection *c, const char *uri,
				  const struct httpd_fault *f, const char *allow);

/* ---- front.c, metrics.c, events.c ------------------------------------------ */

enum httpd_metrics_mode {
	HTTPD_METRICS_OPEN,     /* no login */
	HTTPD_METRICS_LOGIN,    /* Login privilege, as any Redfish GET */
	HTTPD_METRICS_OFF,      /* 404 */
};
/* "open", "login", "off"; NULL: open on loopback, login elsewhere. -EINVAL. */
int httpd_metrics_mode(const char *s, bool loopback);

struct httpd_front;
/* No threads yet (httpd_new runs before the fork). NULL with *ret_err. */
struct httpd_front *httpd_front_new(struct rf_tree *t, const char *state_dir,
				    int metrics_mode, int *ret_err);
int httpd_front_start(struct httpd_front *f);
/* End every event stream (resumed, so none stays suspended) and the
 * deliveries: before MHD_stop_daemon. */
void httpd_front_stop(struct httpd_front *f);
struct httpd_front *httpd_front_free(struct httpd_front *f);   /* NULL-safe */
/* Whether GET /metrics asks for a login (--metrics login). */
bool httpd_front_metrics_login(const struct httpd_front *f);
/* Serve the request if it is the front's (*ret set, true); else false and
 * server.c routes it. body/len: the request body collected so far. */
bool httpd_front_route(struct httpd_front *f, struct httpd *h, struct MHD_Connection *c,
		       const char *method, const char *uri, const char *body, size_t len,
		       enum MHD_Result *ret);

/* events.c: the EventService (SSE streams, subscriptions, Registries). */
struct httpd_events;
/* Installs EventService, its Subscriptions (loaded from state_dir) and
 * Registries into the tree; no threads. NULL with *ret_err. */
struct httpd_events *httpd_events_new(struct rf_tree *t, const char *state_dir, int *ret_err);
int httpd_events_start(struct httpd_events *ev);     /* the listener and threads */
void httpd_events_stop(struct httpd_events *ev);     /* ends streams and deliveries */
struct httpd_events *httpd_events_free(struct httpd_events *ev);   /* NULL-safe */
/* The SSE stream, POST/DELETE of subscriptions, the registry file. */
bool httpd_events_route(struct httpd_events *ev, struct httpd *h, struct MHD_Connection *c,
			const char *method, const char *uri, const char *body, size_t len,
			enum MHD_Result *ret);

/* logs.c: the LogService under Managers/redfishfs, fed by log_event
 * (common.h) as the sink; entries in STATE_DIR/log.jsonl (state_dir NULL:
 * memory only). No threads. NULL with *ret_err. */
#define LOG_MAX 1000            /* entries kept; the oldest is dropped */
struct httpd_logs;
struct httpd_logs *httpd_logs_new(const char *state_dir, int *ret_err);
struct httpd_logs *httpd_logs_free(struct httpd_logs *lg);   /* NULL-safe; unsets the sink */
/* GET/HEAD of the LogService resources, POST of ClearLog. */
bool httpd_logs_route(struct httpd_logs *lg, struct httpd *h, struct MHD_Connection *c,
		      const char *method, const char *uri, const char *body, size_t len,
		      enum MHD_Result *ret);

/* certs.c: the CertificateService of the HTTPS certificate pem (the file
 * --http-cert names), installed into the tree. NULL with *ret_err (-EINVAL:
 * not a PEM certificate). Free removes it. */
struct httpd_certs;
struct httpd_certs *httpd_certs_new(struct rf_tree *t, const char *pem, int *ret_err);
struct httpd_certs *httpd_certs_free(struct httpd_certs *c);   /* NULL-safe */

/* web.c: the page's files (the table is generated by scripts/embed-files). */
struct httpd_web_file {
	const char *path;               /* "/index.html" */
	const char *type;               /* Content-Type */
	const unsigned char *data;
	size_t len;
};
extern const struct httpd_web_file httpd_web_files[];   /* ends with path NULL */
/* GET/HEAD of "/" or one of the files: served (*ret set), true. */
bool httpd_web_route(struct MHD_Connection *c, const char *method, const char *uri,
		     enum MHD_Result *ret);

/* metrics.c: the Prometheus text of the tree and the daemon's counters. */
struct httpd_metrics;
struct httpd_metrics *httpd_metrics_new(struct rf_tree *t);
struct httpd_metrics *httpd_metrics_free(struct httpd_metrics *m);
/* malloc'd text, *ret_len set; NULL when out of memory. */
char *httpd_metrics_render(struct httpd_metrics *m, size_t *ret_len);

#endif
