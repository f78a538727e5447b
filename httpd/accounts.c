/* accounts.c — accounts, roles and sessions of the HTTP server, and the
 * service's own resources in the tree.
 *
 * This file is a provider like any back end: it installs SessionService,
 * Sessions/<id>, AccountService, Accounts/<id>, Roles/<role> and
 * Managers/redfishfs (+ NetworkProtocol) into the tree, so the mount shows
 * them and GET serves them from the tree's rendered bytes. Changes over
 * HTTP (login, logout, account create/patch/delete, SessionTimeout) come
 * here directly from server.c; writes in the mount (Accounts/N/Password,
 * UserName, RoleId) come through the provider's patch op. Neither a password
 * nor a token is ever put into a resource body or a fault.
 *
 * Persistence: <state_dir>/accounts.json, mode 0600, written to a temporary
 * file, fsync'd and renamed over the old one after every change; passwords
 * only as crypt(3) hashes (yescrypt via libxcrypt's default prefix).
 *
 * Threads: one mutex (a->lock) guards accounts, sessions and the file. The
 * tree is called with it held (installs must be ordered); the tree never
 * calls us back while holding its own lock, so this cannot deadlock. The slow
 * part of a login, crypt(3), runs without the lock; a verified password is
 * remembered as a salted SHA-256 so Basic auth on every request stays cheap. */
#include "internal.h"
#include "common.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ACCOUNTS 64
#define MAX_SESSIONS 64
#define MAX_SESSIONS_PER_ACCOUNT 16
#define ADMIN_RESERVED_SESSIONS 8   /* of MAX_SESSIONS, only Administrators take these */
#define DEFAULT_LOCKOUT_THRESHOLD 10
#define DEFAULT_LOCKOUT_DURATION 60
#define DEFAULT_LOCKOUT_RESET 60
#define MAX_LOCKOUT_S 86400
#define MIN_PASSWORD 8
#define MAX_PASSWORD 127
#define MIN_SESSION_TIMEOUT 30
#define MAX_SESSION_TIMEOUT 86400
#define SWEEP_INTERVAL_MS 1000

struct role_def {
	const char *id;
	unsigned privs;
	const char *const *names;
};

static const char *const admin_privs[] = { "Login", "ConfigureManager", "ConfigureUsers",
					   "ConfigureSelf", "ConfigureComponents", NULL };
static const char *const operator_privs[] = { "Login", "ConfigureSelf", "ConfigureComponents",
					      NULL };
static const char *const readonly_privs[] = { "Login", "ConfigureSelf", NULL };

#define PRIVS_ALL (HTTPD_PRIV_LOGIN | HTTPD_PRIV_CONFIGURE_SELF | HTTPD_PRIV_CONFIGURE_COMPONENTS | \
		   HTTPD_PRIV_CONFIGURE_MANAGER | HTTPD_PRIV_CONFIGURE_USERS)

static const struct role_def roles[] = {
	{ "Administrator", PRIVS_ALL, admin_privs },
	{ "Operator", HTTPD_PRIV_LOGIN | HTTPD_PRIV_CONFIGURE_SELF | HTTPD_PRIV_CONFIGURE_COMPONENTS,
	  operator_privs },
	{ "ReadOnly", HTTPD_PRIV_LOGIN | HTTPD_PRIV_CONFIGURE_SELF, readonly_privs },
};
static const char *const role_values[] = { "Administrator", "Operator", "ReadOnly", NULL };

struct account {
	char id[16];
	char user[64];
	const struct role_def *role;
	bool enabled;
	char hash[CRYPT_OUTPUT_SIZE];
	uint8_t verified[32];    /* SHA-256(salt, user, password) of the last good login */
	bool verified_ok;
	/* AccountLockout*: failed logins since first_failure_ms; locked until
	 * locked_until_ms (INT64_MAX: until an administrator unlocks). */
	unsigned failures;
	int64_t first_failure_ms;
	bool locked;
	int64_t locked_until_ms;
};

struct session {
	char id[40];
	char token[65];
	char account_id[16];
	char created[32];
	int64_t last_used_ms;
};

struct httpd_auth {
	struct rf_tree *tree;
	struct rf_provider prov;
	pthread_mutex_t lock;
	char *state_dir;
	char *state_path;
	bool no_auth;
	unsigned session_timeout_s;
	unsigned lockout_threshold, lockout_duration_s, lockout_reset_s;
	struct account *accounts[MAX_ACCOUNTS];
	size_t n_accounts;
	unsigned next_id;
	struct strmap *sessions;    /* token -> struct session */
	int64_t last_sweep_ms;
	uint8_t salt[32];
	char dummy_hash[CRYPT_OUTPUT_SIZE];   /* checked for unknown users */
	char *url;
	uint16_t port;
	bool tls;
	bool installed;             /* our resources are in the tree */
};

static const struct role_def *role_find(const char *id)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (strcmp(roles[i].id, id) == 0)
			return &roles[i];
	return NULL;
}

static const struct role_def *role_find_ci(const char *id)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (strcasecmp(roles[i].id, id) == 0)
			return &roles[i];
	return NULL;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int random_hex(char *out, size_t nbytes)
{
	uint8_t buf[32];

	if (nbytes > sizeof(buf) || getrandom(buf, nbytes, 0) != (ssize_t)nbytes)
		return -EIO;
	hex(buf, nbytes, out);
	return 0;
}

static bool ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static bool valid_username(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 63 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int hash_password(const char *password, char *ret_hash)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	int r = 0;

	if (!crypt_gensalt_rn(NULL, 0, NULL, 0, setting, sizeof(setting)))
		return -errno ? -errno : -EINVAL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	if (!crypt_rn(password, setting, cd, sizeof(*cd)) || cd->output[0] == '*')
		r = -EINVAL;
	else
		snprintf(ret_hash, CRYPT_OUTPUT_SIZE, "%s", cd->output);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

static bool check_password(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	bool ok = false;

	if (!cd)
		return false;
	if (crypt_rn(password, hash, cd, sizeof(*cd)) && cd->output[0] != '*') {
		size_t n = strlen(hash);

		ok = strlen(cd->output) == n && ct_equal(cd->output, hash, n);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

static void verify_digest(const struct httpd_auth *a, const char *user, const char *password,
			  uint8_t out[32])
{
	size_t ul = strlen(user), pl = strlen(password);
	size_t n = sizeof(a->salt) + ul + 1 + pl;
	uint8_t *buf = malloc(n);

	if (!buf) {
		memset(out, 0, 32);
		return;
	}
	memcpy(buf, a->salt, sizeof(a->salt));
	memcpy(buf + sizeof(a->salt), user, ul + 1);
	memcpy(buf + sizeof(a->salt) + ul + 1, password, pl);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, n, out);
	explicit_bzero(buf, n);
	free(buf);
}

static struct account *account_by_id(struct httpd_auth *a, const char *id)
{
	for (size_t i = 0; i < a->n_accounts; i++)
		if (strcmp(a->accounts[i]->id, id) == 0)
			return a->accounts[i];
	return NULL;
}

/* account_by_id for a request naming the account: when there is none, f
 * says so (ResourceNotFound: ManagerAccount id). a->lock held. */
static struct account *account_find(struct httpd_auth *a, const char *id, struct httpd_fault *f)
{
	struct account *acc = account_by_id(a, id);

	if (!acc) {
		f->what = "ManagerAccount";
		snprintf(f->e.property, sizeof(f->e.property), "%s", id);
		httpd_fault_set(f, HTTPD_MSG_RESOURCE_NOT_FOUND, -ENOENT);
	}
	return acc;
}

static struct account *account_by_user(struct httpd_auth *a, const char *user)
{
	for (size_t i = 0; i < a->n_accounts; i++)
		if (strcmp(a->accounts[i]->user, user) == 0)
			return a->accounts[i];
	return NULL;
}

static size_t enabled_admins(struct httpd_auth *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_accounts; i++)
		if (a->accounts[i]->enabled && a->accounts[i]->role == &roles[0])
			n++;
	return n;
}

/* ---- the state file ------------------------------------------------------ */

static int state_save(struct httpd_auth *a)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	_cleanup_free_ char *tmp = NULL;
	const char *s;
	size_t len;
	int fd, r = 0;

	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "Version", json_object_new_int(1));
	json_object_object_add(root, "SessionTimeout", json_object_new_int((int)a->session_timeout_s));
	json_object_object_add(root, "NextId", json_object_new_int((int)a->next_id));
	json_object_object_add(root, "AccountLockoutThreshold",
			       json_object_new_int((int)a->lockout_threshold));
	json_object_object_add(root, "AccountLockoutDuration",
			       json_object_new_int((int)a->lockout_duration_s));
	json_object_object_add(root, "AccountLockoutCounterResetAfter",
			       json_object_new_int((int)a->lockout_reset_s));
	for (size_t i = 0; i < a->n_accounts; i++) {
		struct account *acc = a->accounts[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "Id", json_object_new_string(acc->id));
		json_object_object_add(o, "UserName", json_object_new_string(acc->user));
		json_object_object_add(o, "RoleId", json_object_new_string(acc->role->id));
		json_object_object_add(o, "Enabled", json_object_new_boolean(acc->enabled));
		json_object_object_add(o, "PasswordHash", json_object_new_string(acc->hash));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "Accounts", arr);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);

	if (asprintf(&tmp, "%s.tmp", a->state_path) < 0) {
		json_object_put(root);
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t n = write(fd, s + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (r == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) < 0))
		r = -errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, a->state_path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
	} else {
		int dfd = open(a->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	json_object_put(root);
	if (r < 0)
		log_error("httpd: saving %s: %s", a->state_path, strerror(-r));
	return r;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int state_load(struct httpd_auth *a)
{
	struct json_object *root, *arr, *v;
	struct stat st;
	int r = 0;

	if (stat(a->state_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_warn("httpd: %s was accessible by group or others; made it 0600", a->state_path);
		if (chmod(a->state_path, 0600) < 0)
			return -errno;
	}
	root = json_object_from_file(a->state_path);
	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "Accounts", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		log_error("httpd: %s: not a redfishfs accounts file", a->state_path);
		json_object_put(root);
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "SessionTimeout", &v)) {
		int t = json_object_get_int(v);

		if (t >= MIN_SESSION_TIMEOUT && t <= MAX_SESSION_TIMEOUT)
			a->session_timeout_s = (unsigned)t;
	}
	if (json_object_object_get_ex(root, "NextId", &v))
		a->next_id = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(root, "AccountLockoutThreshold", &v) &&
	    json_object_get_int(v) >= 0 && json_object_get_int(v) <= 1000)
		a->lockout_threshold = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(root, "AccountLockoutDuration", &v) &&
	    json_object_get_int(v) >= 0 && json_object_get_int(v) <= MAX_LOCKOUT_S)
		a->lockout_duration_s = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(root, "AccountLockoutCounterResetAfter", &v) &&
	    json_object_get_int(v) >= 1 && json_object_get_int(v) <= MAX_LOCKOUT_S)
		a->lockout_reset_s = (unsigned)json_object_get_int(v);
	for (size_t i = 0; i < json_object_array_length(arr) && r == 0; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *en;
		const char *id = jstr(o, "Id"), *user = jstr(o, "UserName");
		const char *role = jstr(o, "RoleId"), *hash = jstr(o, "PasswordHash");
		struct account *acc;

		if (!id || !user || !role || !hash || !role_find(role) || !valid_username(user) ||
		    strlen(id) >= sizeof(acc->id) || strlen(hash) >= sizeof(acc->hash) ||
		    account_by_user(a, user) || account_by_id(a, id) || a->n_accounts == MAX_ACCOUNTS) {
			log_error("httpd: %s: bad account entry %zu", a->state_path, i);
			r = -EINVAL;
			break;
		}
		acc = calloc(1, sizeof(*acc));
		if (!acc) {
			r = -ENOMEM;
			break;
		}
		snprintf(acc->id, sizeof(acc->id), "%s", id);
		snprintf(acc->user, sizeof(acc->user), "%s", user);
		snprintf(acc->hash, sizeof(acc->hash), "%s", hash);
		acc->role = role_find(role);
		acc->enabled = !json_object_object_get_ex(o, "Enabled", &en) || json_object_get_boolean(en);
		a->accounts[a->n_accounts++] = acc;
		if ((unsigned)atoi(id) >= a->next_id)
			a->next_id = (unsigned)atoi(id) + 1;
	}
	json_object_put(root);
	return r;
}

/* ---- resources in the tree ----------------------------------------------- */

struct json_object *httpd_link(const char *uri)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	return o;
}

static struct json_object *status_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "State", json_object_new_string("Enabled"));
	json_object_object_add(o, "Health", json_object_new_string("OK"));
	return o;
}

struct json_object *httpd_resource(const char *uri, const char *type, const char *id,
				   const char *name)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "@odata.id", json_object_new_string(uri));
	json_object_object_add(o, "@odata.type", json_object_new_string(type));
	if (id)
		json_object_object_add(o, "Id", json_object_new_string(id));
	json_object_object_add(o, "Name", json_object_new_string(name));
	return o;
}

static int install(struct httpd_auth *a, const char *uri, struct json_object *body,
		   const struct rf_writable *w)
{
	int r = rf_tree_install(a->tree, &a->prov, uri, body, w, rf_tree_generation(a->tree));

	if (r < 0)
		log_error("httpd: installing %s: %s", uri, strerror(-r));
	return r < 0 ? r : 0;
}

static const char *const unlock_values[] = { "false", NULL };
static const struct rf_writable account_writable[] = {
	{ "UserName", NULL, 63 },
	{ "Locked", unlock_values, 0 },
	{ "Password", NULL, MAX_PASSWORD },
	{ "RoleId", role_values, 0 },
	{ NULL, NULL, 0 },
};

static int install_account(struct httpd_auth *a, const struct account *acc)
{
	char uri[128], role_uri[128];
	struct json_object *o, *links, *types;

	snprintf(uri, sizeof(uri), HTTPD_ACCOUNTS "/%s", acc->id);
	snprintf(role_uri, sizeof(role_uri), HTTPD_ROLES "/%s", acc->role->id);
	o = httpd_resource(uri, "#ManagerAccount.v1_14_1.ManagerAccount", acc->id, "User Account");
	json_object_object_add(o, "Description", json_object_new_string("User Account"));
	json_object_object_add(o, "UserName", json_object_new_string(acc->user));
	json_object_object_add(o, "RoleId", json_object_new_string(acc->role->id));
	json_object_object_add(o, "Enabled", json_object_new_boolean(acc->enabled));
	json_object_object_add(o, "Locked", json_object_new_boolean(acc->locked));
	json_object_object_add(o, "Password", NULL);
	types = json_object_new_array();
	json_object_array_add(types, json_object_new_string("Redfish"));
	json_object_object_add(o, "AccountTypes", types);
	links = json_object_new_object();
	json_object_object_add(links, "Role", httpd_link(role_uri));
	json_object_object_add(o, "Links", links);
	return install(a, uri, o, account_writable);
}

static int install_session(struct httpd_auth *a, const struct session *s)
{
	struct account *acc = account_by_id(a, s->account_id);
	char uri[128];
	struct json_object *o;

	snprintf(uri, sizeof(uri), HTTPD_SESSIONS "/%s", s->id);
	o = httpd_resource(uri, "#Session.v1_8_0.Session", s->id, "User Session");
	json_object_object_add(o, "Description", json_object_new_string("User Session"));
	json_object_object_add(o, "UserName", json_object_new_string(acc ? acc->user : ""));
	json_object_object_add(o, "SessionType", json_object_new_string("Redfish"));
	json_object_object_add(o, "CreatedTime", json_object_new_string(s->created));
	json_object_object_add(o, "Password", NULL);
	json_object_object_add(o, "Token", NULL);
	return install(a, uri, o, NULL);
}

static int install_session_service(struct httpd_auth *a)
{
	struct json_object *o = httpd_resource(HTTPD_SESSION_SVC, "#SessionService.v1_2_0.SessionService",
					 "SessionService", "Session Service");

	json_object_object_add(o, "Description", json_object_new_string("Session Service"));
	json_object_object_add(o, "Status", status_ok());
	json_object_object_add(o, "ServiceEnabled", json_object_new_boolean(true));
	json_object_object_add(o, "SessionTimeout", json_object_new_int((int)a->session_timeout_s));
	json_object_object_add(o, "Sessions", httpd_link(HTTPD_SESSIONS));
	return install(a, HTTPD_SESSION_SVC, o, NULL);
}

static int install_account_service(struct httpd_auth *a)
{
	struct json_object *o = httpd_resource(HTTPD_ACCOUNT_SVC, "#AccountService.v1_18_1.AccountService",
					 "AccountService", "Account Service");

	json_object_object_add(o, "Description", json_object_new_string("Account Service"));
	json_object_object_add(o, "Status", status_ok());
	json_object_object_add(o, "ServiceEnabled", json_object_new_boolean(true));
	json_object_object_add(o, "LocalAccountAuth",
			       json_object_new_string(a->no_auth ? "Disabled" : "Enabled"));
	json_object_object_add(o, "MinPasswordLength", json_object_new_int(MIN_PASSWORD));
	json_object_object_add(o, "MaxPasswordLength", json_object_new_int(MAX_PASSWORD));
	json_object_object_add(o, "AccountLockoutThreshold",
			       json_object_new_int((int)a->lockout_threshold));
	json_object_object_add(o, "AccountLockoutDuration",
			       json_object_new_int((int)a->lockout_duration_s));
	json_object_object_add(o, "AccountLockoutCounterResetAfter",
			       json_object_new_int((int)a->lockout_reset_s));
	json_object_object_add(o, "Accounts", httpd_link(HTTPD_ACCOUNTS));
	json_object_object_add(o, "Roles", httpd_link(HTTPD_ROLES));
	return install(a, HTTPD_ACCOUNT_SVC, o, NULL);
}

/* What the server does with query parameters: none is supported (each
 * answers 501), so none is advertised (Redfish clients read this to decide
 * whether to send $expand, $select, ...). */
static struct json_object *protocol_features(void)
{
	struct json_object *o = json_object_new_object(), *expand = json_object_new_object();

	json_object_object_add(expand, "ExpandAll", json_object_new_boolean(1));
	json_object_object_add(expand, "Levels", json_object_new_boolean(1));
	json_object_object_add(expand, "Links", json_object_new_boolean(1));
	json_object_object_add(expand, "NoLinks", json_object_new_boolean(1));
	json_object_object_add(expand, "MaxLevels", json_object_new_int(HTTPD_EXPAND_MAX_LEVELS));
	json_object_object_add(o, "ExpandQuery", expand);
	json_object_object_add(o, "FilterQuery", json_object_new_boolean(0));
	json_object_object_add(o, "SelectQuery", json_object_new_boolean(0));
	json_object_object_add(o, "OnlyMemberQuery", json_object_new_boolean(0));
	json_object_object_add(o, "ExcerptQuery", json_object_new_boolean(0));
	return o;
}

static int install_static(struct httpd_auth *a)
{
	struct json_object *o, *http, *https;
	int r;

	if ((r = install_session_service(a)) < 0 ||
	    (r = rf_tree_add_collection(a->tree, &a->prov, HTTPD_SESSIONS,
					"#SessionCollection.SessionCollection",
					"Session Collection")) < 0)
		return r;

	if ((r = install_account_service(a)) < 0 ||
	    (r = rf_tree_add_collection(a->tree, &a->prov, HTTPD_ACCOUNTS,
					"#ManagerAccountCollection.ManagerAccountCollection",
					"Accounts Collection")) < 0 ||
	    (r = rf_tree_add_collection(a->tree, &a->prov, HTTPD_ROLES,
					"#RoleCollection.RoleCollection", "Roles Collection")) < 0)
		return r;

	for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
		char uri[128];
		struct json_object *privs = json_object_new_array();

		snprintf(uri, sizeof(uri), HTTPD_ROLES "/%s", roles[i].id);
		o = httpd_resource(uri, "#Role.v1_3_3.Role", roles[i].id, roles[i].id);
		json_object_object_add(o, "Description", json_object_new_string("Predefined role"));
		json_object_object_add(o, "RoleId", json_object_new_string(roles[i].id));
		json_object_object_add(o, "IsPredefined", json_object_new_boolean(true));
		for (const char *const *p = roles[i].names; *p; p++)
			json_object_array_add(privs, json_object_new_string(*p));
		json_object_object_add(o, "AssignedPrivileges", privs);
		json_object_object_add(o, "OemPrivileges", json_object_new_array());
		if ((r = install(a, uri, o, NULL)) < 0)
			return r;
	}

	o = httpd_resource(HTTPD_MANAGER, "#Manager.v1_24_0.Manager", "redfishfs",
		     "redfishfs Redfish service");
	json_object_object_add(o, "Description",
			       json_object_new_string("The service that serves this tree"));
	json_object_object_add(o, "ManagerType", json_object_new_string("Service"));
	json_object_object_add(o, "Status", status_ok());
	json_object_object_add(o, "NetworkProtocol", httpd_link(HTTPD_NETPROTO));
	json_object_object_add(o, "LogServices", httpd_link(HTTPD_MANAGER "/LogServices"));   /* logs.c */
	if ((r = install(a, HTTPD_MANAGER, o, NULL)) < 0)
		return r;

	o = httpd_resource(HTTPD_NETPROTO, "#ManagerNetworkProtocol.v1_12_0.ManagerNetworkProtocol",
		     "NetworkProtocol", "Manager Network Protocol");
	json_object_object_add(o, "Description", json_object_new_string(a->url));
	json_object_object_add(o, "Status", status_ok());
	http = json_object_new_object();
	json_object_object_add(http, "ProtocolEnabled", json_object_new_boolean(!a->tls));
	json_object_object_add(http, "Port", a->tls ? NULL : json_object_new_int(a->port));
	https = json_object_new_object();
	json_object_object_add(https, "ProtocolEnabled", json_object_new_boolean(a->tls));
	json_object_object_add(https, "Port", a->tls ? json_object_new_int(a->port) : NULL);
	if (a->tls)   /* certs.c */
		json_object_object_add(https, "Certificates",
				       httpd_link(HTTPD_NETPROTO "/HTTPS/Certificates"));
	json_object_object_add(o, "HTTP", http);
	json_object_object_add(o, "HTTPS", https);
	if ((r = install(a, HTTPD_NETPROTO, o, NULL)) < 0)
		return r;

	for (size_t i = 0; i < a->n_accounts; i++)
		if ((r = install_account(a, a->accounts[i])) < 0)
			return r;
	if ((r = rf_tree_add_root_link(a->tree, "SessionService", HTTPD_SESSION_SVC)) < 0 ||
	    (r = rf_tree_add_root_link(a->tree, "AccountService", HTTPD_ACCOUNT_SVC)) < 0)
		return r;
	return rf_tree_set_root_property(a->tree, "ProtocolFeaturesSupported", protocol_features());
}

/* ---- sessions ------------------------------------------------------------- */

static void session_drop(struct httpd_auth *a, struct session *s)
{
	char uri[128];

	snprintf(uri, sizeof(uri), HTTPD_SESSIONS "/%s", s->id);
	strmap_remove(a->sessions, s->token);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
	rf_tree_remove(a->tree, uri);
}

/* Drop expired sessions and those whose account is gone or disabled. */
static void sessions_sweep(struct httpd_auth *a, bool force)
{
	int64_t now = now_ms();
	struct session *dead[MAX_SESSIONS];
	size_t n = 0, it = 0;
	void *v;

	if (!force && now - a->last_sweep_ms < SWEEP_INTERVAL_MS)
		return;
	a->last_sweep_ms = now;
	while (n < ARRAY_SIZE(dead) && strmap_next(a->sessions, &it, NULL, &v)) {
		struct session *s = v;
		struct account *acc = account_by_id(a, s->account_id);

		if (!acc || !acc->enabled ||
		    now - s->last_used_ms > (int64_t)a->session_timeout_s * 1000)
			dead[n++] = s;
	}
	for (size_t i = 0; i < n; i++)
		session_drop(a, dead[i]);
}

/* End every session of account id (its password changed) but keep (the
 * session that made the change; NULL or ""). */
static void sessions_drop_account(struct httpd_auth *a, const char *id, const char *keep)
{
	struct session *dead[MAX_SESSIONS];
	size_t n = 0, it = 0;
	void *v;

	while (n < ARRAY_SIZE(dead) && strmap_next(a->sessions, &it, NULL, &v))
		if (strcmp(((struct session *)v)->account_id, id) == 0 &&
		    (!keep || strcmp(((struct session *)v)->id, keep) != 0))
			dead[n++] = v;
	for (size_t i = 0; i < n; i++)
		session_drop(a, dead[i]);
}

static size_t sessions_of(struct httpd_auth *a, const char *id)
{
	size_t n = 0, it = 0;
	void *v;

	while (strmap_next(a->sessions, &it, NULL, &v))
		n += strcmp(((struct session *)v)->account_id, id) == 0;
	return n;
}

static struct session *session_by_id(struct httpd_auth *a, const char *id)
{
	size_t it = 0;
	void *v;

	while (strmap_next(a->sessions, &it, NULL, &v))
		if (strcmp(((struct session *)v)->id, id) == 0)
			return v;
	return NULL;
}

static void ident_fill(struct httpd_ident *ret, const struct account *acc, const char *sid)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->user, sizeof(ret->user), "%s", acc->user);
	ret->privs = acc->role->privs;
	snprintf(ret->session_id, sizeof(ret->session_id), "%s", sid ? sid : "");
}

bool httpd_auth_disabled(const struct httpd_auth *a)
{
	return a->no_auth;
}

int httpd_auth_token(struct httpd_auth *a, const char *token, struct httpd_ident *ret)
{
	struct session *s;
	struct account *acc;
	int r = -ENOKEY;

	if (strlen(token) != 64)
		return -ENOKEY;
	pthread_mutex_lock(&a->lock);
	sessions_sweep(a, false);
	s = strmap_get(a->sessions, token);
	if (s) {
		acc = account_by_id(a, s->account_id);
		if (!acc || !acc->enabled ||
		    now_ms() - s->last_used_ms > (int64_t)a->session_timeout_s * 1000) {
			session_drop(a, s);
		} else {
			s->last_used_ms = now_ms();
			ident_fill(ret, acc, s->id);
			r = 0;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* Whether acc is locked out now (under the lock); an expired lockout ends. */
static bool account_locked(struct httpd_auth *a, struct account *acc, int64_t now)
{
	if (!acc->locked)
		return false;
	if (now < acc->locked_until_ms)
		return true;
	acc->locked = false;
	acc->failures = 0;
	install_account(a, acc);
	return false;
}

/* A failed login of acc (under the lock): AccountLockoutThreshold failures
 * within AccountLockoutCounterResetAfter lock it for AccountLockoutDuration
 * (0: until an administrator PATCHes Locked to false). */
static void account_failed(struct httpd_auth *a, struct account *acc, int64_t now)
{
	if (!a->lockout_threshold)
		return;
	if (!acc->failures || now - acc->first_failure_ms > (int64_t)a->lockout_reset_s * 1000) {
		acc->failures = 0;
		acc->first_failure_ms = now;
	}
	if (++acc->failures < a->lockout_threshold || acc->locked)
		return;
	acc->locked = true;
	acc->locked_until_ms = a->lockout_duration_s ? now + (int64_t)a->lockout_duration_s * 1000
						     : INT64_MAX;
	log_warn("httpd: account %s locked after %u failed logins", acc->user, acc->failures);
	install_account(a, acc);
}

/* Check user/password: the cached digest first, crypt(3) without the lock.
 * cached_only: -EAGAIN instead of running crypt(3) (the caller is an MHD
 * thread and hands the check to a worker). A locked account fails at once. */
static int login_check(struct httpd_auth *a, const char *user, const char *password,
		       bool cached_only, struct account *ret_copy)
{
	uint8_t digest[32];
	struct account copy;
	struct account *acc;
	bool ok;

	verify_digest(a, user, password, digest);
	pthread_mutex_lock(&a->lock);
	acc = account_by_user(a, user);
	if (acc && acc->enabled && account_locked(a, acc, now_ms())) {
		pthread_mutex_unlock(&a->lock);
		return -ENOKEY;
	}
	if (!acc || !acc->enabled) {
		pthread_mutex_unlock(&a->lock);
		if (cached_only)
			return -EAGAIN;
		/* Spend the same time as a real check: no user enumeration. */
		check_password(password, a->dummy_hash);
		return -ENOKEY;
	}
	if (acc->verified_ok && ct_equal(acc->verified, digest, sizeof(digest))) {
		acc->failures = 0;
		*ret_copy = *acc;
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	pthread_mutex_unlock(&a->lock);
	if (cached_only)
		return -EAGAIN;
	pthread_mutex_lock(&a->lock);
	acc = account_by_user(a, user);
	copy = acc ? *acc : (struct account){ 0 };
	pthread_mutex_unlock(&a->lock);

	ok = acc && check_password(password, copy.hash);

	pthread_mutex_lock(&a->lock);
	acc = account_by_user(a, user);
	if (ok && acc && acc->enabled && !acc->locked && strcmp(acc->hash, copy.hash) == 0) {
		memcpy(acc->verified, digest, sizeof(digest));
		acc->verified_ok = true;
		acc->failures = 0;
		*ret_copy = *acc;
	} else {
		ok = false;
		if (acc && acc->enabled)
			account_failed(a, acc, now_ms());
	}
	pthread_mutex_unlock(&a->lock);
	explicit_bzero(&copy, sizeof(copy));
	return ok ? 0 : -ENOKEY;
}

int httpd_auth_basic(struct httpd_auth *a, const char *user, const char *password,
		     bool cached_only, struct httpd_ident *ret)
{
	struct account acc;
	int r = login_check(a, user, password, cached_only, &acc);

	if (r == 0)
		ident_fill(ret, &acc, NULL);
	explicit_bzero(&acc, sizeof(acc));
	return r;
}

int httpd_session_create(struct httpd_auth *a, struct json_object *body, char *ret_token,
			 char **ret_uri, struct httpd_fault *f)
{
	const char *user = jstr(body, "UserName"), *password = jstr(body, "Password");
	struct account acc;
	struct session *s;
	struct timespec ts = now_realtime();
	struct tm tm;
	bool admin;
	int r;

	if (!user || !password) {
		snprintf(f->e.property, sizeof(f->e.property), "%s", user ? "Password" : "UserName");
		return httpd_fault_set(f, HTTPD_MSG_PROPERTY_MISSING, -EINVAL);
	}
	if ((r = login_check(a, user, password, false, &acc)) == -ENOKEY)
		return httpd_fault_set(f, HTTPD_MSG_NO_VALID_SESSION, r);
	if (r < 0)
		return f->err = r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return f->err = -ENOMEM;
	if (random_hex(s->token, 32) < 0 || random_hex(s->id, 8) < 0) {
		free(s);
		return httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
	}
	snprintf(s->account_id, sizeof(s->account_id), "%s", acc.id);
	admin = acc.role == &roles[0];
	explicit_bzero(&acc, sizeof(acc));
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s->created, sizeof(s->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	s->last_used_ms = now_ms();

	pthread_mutex_lock(&a->lock);
	sessions_sweep(a, true);
	/* One account cannot take them all, and the last few are kept for
	 * Administrators so they can always get in. */
	if (strmap_size(a->sessions) >= MAX_SESSIONS ||
	    sessions_of(a, s->account_id) >= MAX_SESSIONS_PER_ACCOUNT ||
	    (!admin && strmap_size(a->sessions) >= MAX_SESSIONS - ADMIN_RESERVED_SESSIONS)) {
		r = httpd_fault_set(f, HTTPD_MSG_SESSION_LIMIT_EXCEEDED, -EUSERS);
	} else if ((r = strmap_put(a->sessions, s->token, s)) == 0) {
		r = install_session(a, s);
		if (r < 0)
			strmap_remove(a->sessions, s->token);
	}
	if (r == 0 && asprintf(ret_uri, HTTPD_SESSIONS "/%s", s->id) < 0) {
		session_drop(a, s);
		s = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		memcpy(ret_token, s->token, 65);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		free(s);
		return f->err = r;
	}
	return 0;
}

int httpd_session_delete(struct httpd_auth *a, const char *id, const struct httpd_ident *who,
			 struct httpd_fault *f)
{
	struct session *s;
	int r = 0;

	pthread_mutex_lock(&a->lock);
	s = session_by_id(a, id);
	if (!s) {
		f->what = "Session";
		snprintf(f->e.property, sizeof(f->e.property), "%s", id);
		r = httpd_fault_set(f, HTTPD_MSG_RESOURCE_NOT_FOUND, -ENOENT);
	} else if (strcmp(who->session_id, id) != 0 &&
		   !(who->privs & HTTPD_PRIV_CONFIGURE_MANAGER)) {
		r = httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
	} else {
		session_drop(a, s);
	}
	pthread_mutex_unlock(&a->lock);
	return r < 0 ? (f->err = r) : 0;
}

/* ---- changes ------------------------------------------------------------- */

/* If-Match against the tree's current ETag of uri. NULL and "*" match. */
static int check_if_match(struct httpd_auth *a, const char *uri, const char *if_match)
{
	struct rf_doc *d;
	int err = 0;
	bool ok;

	if (!if_match)
		return 0;
	d = rf_tree_get_doc(a->tree, uri, &err);
	if (!d)
		return err ? err : -ENOENT;
	ok = rf_etag_matches(if_match, d->etag);
	rf_doc_unref(d);
	return ok ? 0 : -ESTALE;
}

static int fault_prop(struct httpd_fault *f, int err, enum rf_err_kind kind, const char *prop,
		      struct json_object *value)
{
	f->err = err;
	f->e.kind = kind;
	snprintf(f->e.property, sizeof(f->e.property), "%s", prop);
	if (value && !json_object_is_type(value, json_type_null))
		snprintf(f->e.value, sizeof(f->e.value), "%s",
			 json_object_is_type(value, json_type_string) ? json_object_get_string(value)
			 : json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));
	return err;
}

/* The changes an account PATCH/POST asks for, validated as a whole. */
struct account_change {
	const char *user;
	const char *password;
	const struct role_def *role;
	int enabled;             /* -1 unchanged */
	bool unlock;             /* Locked: false */
};

static const char *const account_readonly[] = {
	"Id", "Name", "Description", "AccountTypes", "Links", "Oem", "Actions",
	"@odata.id", "@odata.type", "@odata.context", "@odata.etag", NULL
};

static int account_validate(struct httpd_auth *a, const struct account *self,
			    struct json_object *body, struct account_change *c,
			    struct httpd_fault *f)
{
	*c = (struct account_change){ .enabled = -1 };
	json_object_object_foreach(body, key, val) {
		bool ro = false;

		if (strcmp(key, "UserName") == 0) {
			if (!json_object_is_type(val, json_type_string))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
			c->user = json_object_get_string(val);
			if (!valid_username(c->user))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_VALUE, key, val);
			struct account *other = account_by_user(a, c->user);

			if (other && other != self) {
				f->what = "ManagerAccount";
				f->msg = HTTPD_MSG_RESOURCE_ALREADY_EXISTS;
				return fault_prop(f, -EEXIST, RF_ERR_NONE, key, val);
			}
		} else if (strcmp(key, "Password") == 0) {
			if (!json_object_is_type(val, json_type_string))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, NULL);
			c->password = json_object_get_string(val);
			if (strlen(c->password) < MIN_PASSWORD || strlen(c->password) > MAX_PASSWORD)
				return httpd_fault_set(f, HTTPD_MSG_PASSWORD_INCORRECT_LENGTH,
						       -EINVAL);
		} else if (strcmp(key, "RoleId") == 0) {
			if (!json_object_is_type(val, json_type_string))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
			c->role = role_find_ci(json_object_get_string(val));
			if (!c->role)
				return fault_prop(f, -EINVAL, RF_ERR_PROP_VALUE, key, val);
		} else if (strcmp(key, "Locked") == 0) {
			/* The schema: only a service locks; a client may unlock. */
			if (!json_object_is_type(val, json_type_boolean))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
			if (json_object_get_boolean(val))
				return fault_prop(f, -EACCES, RF_ERR_PROP_NOT_WRITABLE, key, NULL);
			c->unlock = true;
		} else if (strcmp(key, "Enabled") == 0) {
			if (json_object_is_type(val, json_type_boolean))
				c->enabled = json_object_get_boolean(val);
			else if (json_object_is_type(val, json_type_string) &&
				 (!strcasecmp(json_object_get_string(val), "true") ||
				  !strcasecmp(json_object_get_string(val), "false")))
				c->enabled = !strcasecmp(json_object_get_string(val), "true");
			else
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
		} else {
			for (const char *const *p = account_readonly; *p; p++)
				ro |= strcmp(*p, key) == 0;
			return fault_prop(f, ro ? -EACCES : -EINVAL,
					  ro ? RF_ERR_PROP_NOT_WRITABLE : RF_ERR_PROP_UNKNOWN, key, NULL);
		}
	}
	return 0;
}

/* Apply a validated change to acc (under the lock); saves and reinstalls. */
static int account_apply(struct httpd_auth *a, struct account *acc, const struct account_change *c,
			 const char *keep_session, struct httpd_fault *f)
{
	struct account old = *acc;
	int r;

	/* Never leave the service without an enabled Administrator. */
	if (acc->role == &roles[0] && acc->enabled &&
	    ((c->role && c->role != &roles[0]) || c->enabled == 0) && enabled_admins(a) <= 1)
		return httpd_fault_set(f, HTTPD_MSG_RESOURCE_IN_USE, -EBUSY);
	if (c->password) {
		r = hash_password(c->password, acc->hash);
		if (r < 0)
			return httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, r);
		acc->verified_ok = false;
	}
	if (c->user)
		snprintf(acc->user, sizeof(acc->user), "%s", c->user);
	if (c->role)
		acc->role = c->role;
	if (c->enabled >= 0)
		acc->enabled = c->enabled;
	if (c->unlock) {
		acc->locked = false;
		acc->failures = 0;
	}
	r = state_save(a);
	if (r < 0) {
		*acc = old;
		explicit_bzero(&old, sizeof(old));
		return httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
	}
	explicit_bzero(&old, sizeof(old));
	/* A new password ends the account's sessions (a stolen token with it). */
	if (c->password)
		sessions_drop_account(a, acc->id, keep_session);
	if (c->user || c->enabled == 0)
		sessions_sweep(a, true);
	return install_account(a, acc);
}

int httpd_account_patch(struct httpd_auth *a, const char *id, struct json_object *body,
			const char *if_match, const struct httpd_ident *who, struct httpd_fault *f)
{
	struct account_change c;
	struct account *acc;
	char uri[128];
	int r;

	snprintf(uri, sizeof(uri), HTTPD_ACCOUNTS "/%s", id);
	pthread_mutex_lock(&a->lock);
	acc = account_find(a, id, f);
	if (!acc) {
		r = f->err;
		goto out;
	}
	if ((r = account_validate(a, acc, body, &c, f)) < 0)
		goto out;
	/* ConfigureSelf: one's own password; everything else needs ConfigureUsers. */
	if (!(who->privs & HTTPD_PRIV_CONFIGURE_USERS) &&
	    (strcmp(who->user, acc->user) != 0 || !(who->privs & HTTPD_PRIV_CONFIGURE_SELF) ||
	     c.user || c.role || c.enabled >= 0 || c.unlock)) {
		r = httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
		goto out;
	}
	if ((r = check_if_match(a, uri, if_match)) < 0) {
		httpd_fault_set(f, HTTPD_MSG_PRECONDITION_FAILED, r);
		goto out;
	}
	r = account_apply(a, acc, &c, who->session_id, f);
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int httpd_account_create(struct httpd_auth *a, struct json_object *body,
			 const struct httpd_ident *who, char **ret_uri, struct httpd_fault *f)
{
	struct account_change c;
	struct account *acc = NULL;
	int r;

	if (!(who->privs & HTTPD_PRIV_CONFIGURE_USERS))
		return httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
	pthread_mutex_lock(&a->lock);
	if ((r = account_validate(a, NULL, body, &c, f)) < 0)
		goto out;
	if (!c.user || !c.password || !c.role) {
		r = httpd_fault_set(f, HTTPD_MSG_PROPERTY_MISSING, -EINVAL);
		snprintf(f->e.property, sizeof(f->e.property), "%s",
			 !c.user ? "UserName" : !c.password ? "Password" : "RoleId");
		goto out;
	}
	if (a->n_accounts == MAX_ACCOUNTS) {
		r = httpd_fault_set(f, HTTPD_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE, -ENOSPC);
		goto out;
	}
	acc = calloc(1, sizeof(*acc));
	if (!acc) {
		r = f->err = -ENOMEM;
		goto out;
	}
	snprintf(acc->id, sizeof(acc->id), "%u", a->next_id);
	snprintf(acc->user, sizeof(acc->user), "%s", c.user);
	acc->role = c.role;
	acc->enabled = c.enabled != 0;
	if ((r = hash_password(c.password, acc->hash)) < 0) {
		httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, r);
		goto out;
	}
	a->accounts[a->n_accounts++] = acc;
	a->next_id++;
	if ((r = state_save(a)) < 0) {
		a->accounts[--a->n_accounts] = NULL;
		a->next_id--;
		r = httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
		goto out;
	}
	if ((r = install_account(a, acc)) < 0) {
		f->err = r;
		acc = NULL;   /* saved and listed: stays */
		goto out;
	}
	if (asprintf(ret_uri, HTTPD_ACCOUNTS "/%s", acc->id) < 0) {
		*ret_uri = NULL;
		r = f->err = -ENOMEM;
	}
	acc = NULL;
out:
	pthread_mutex_unlock(&a->lock);
	free(acc);
	return r;
}

int httpd_account_delete(struct httpd_auth *a, const char *id, const char *if_match,
			 const struct httpd_ident *who, struct httpd_fault *f)
{
	struct account *acc;
	char uri[128];
	size_t i;
	int r;

	if (!(who->privs & HTTPD_PRIV_CONFIGURE_USERS))
		return httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
	snprintf(uri, sizeof(uri), HTTPD_ACCOUNTS "/%s", id);
	pthread_mutex_lock(&a->lock);
	acc = account_find(a, id, f);
	if (!acc) {
		r = f->err;
		goto out;
	}
	if ((r = check_if_match(a, uri, if_match)) < 0) {
		httpd_fault_set(f, HTTPD_MSG_PRECONDITION_FAILED, r);
		goto out;
	}
	if (acc->role == &roles[0] && acc->enabled && enabled_admins(a) <= 1) {
		r = httpd_fault_set(f, HTTPD_MSG_RESOURCE_IN_USE, -EBUSY);
		goto out;
	}
	for (i = 0; a->accounts[i] != acc; i++)
		;
	a->accounts[i] = a->accounts[--a->n_accounts];
	a->accounts[a->n_accounts] = NULL;
	if ((r = state_save(a)) < 0) {
		a->accounts[a->n_accounts++] = acc;
		r = httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
		goto out;
	}
	explicit_bzero(acc, sizeof(*acc));
	free(acc);
	sessions_sweep(a, true);
	rf_tree_remove(a->tree, uri);
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int httpd_session_service_patch(struct httpd_auth *a, struct json_object *body,
				const char *if_match, const struct httpd_ident *who,
				struct httpd_fault *f)
{
	static const char *const readonly[] = { "Id", "Name", "Description", "Status",
						"ServiceEnabled", "Sessions", "@odata.id",
						"@odata.type", NULL };
	unsigned old, timeout = 0;
	int r = 0;

	if (!(who->privs & HTTPD_PRIV_CONFIGURE_MANAGER))
		return httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
	json_object_object_foreach(body, key, val) {
		bool ro = false;

		if (strcmp(key, "SessionTimeout") == 0) {
			int64_t v;

			if (!json_object_is_type(val, json_type_int))
				return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
			v = json_object_get_int64(val);
			if (v < MIN_SESSION_TIMEOUT || v > MAX_SESSION_TIMEOUT)
				return fault_prop(f, -EINVAL, RF_ERR_PROP_VALUE, key, val);
			timeout = (unsigned)v;
			continue;
		}
		for (const char *const *p = readonly; *p; p++)
			ro |= strcmp(*p, key) == 0;
		return fault_prop(f, ro ? -EACCES : -EINVAL,
				  ro ? RF_ERR_PROP_NOT_WRITABLE : RF_ERR_PROP_UNKNOWN, key, NULL);
	}
	pthread_mutex_lock(&a->lock);
	if ((r = check_if_match(a, HTTPD_SESSION_SVC, if_match)) < 0) {
		httpd_fault_set(f, HTTPD_MSG_PRECONDITION_FAILED, r);
	} else if (timeout) {
		old = a->session_timeout_s;
		a->session_timeout_s = timeout;
		if ((r = state_save(a)) < 0) {
			a->session_timeout_s = old;
			r = httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
		} else {
			r = install_session_service(a);
		}
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int httpd_account_service_patch(struct httpd_auth *a, struct json_object *body,
				const char *if_match, const struct httpd_ident *who,
				struct httpd_fault *f)
{
	static const struct {
		const char *name;
		int64_t min, max;
	} knobs[] = {
		{ "AccountLockoutThreshold", 0, 1000 },
		{ "AccountLockoutDuration", 0, MAX_LOCKOUT_S },
		{ "AccountLockoutCounterResetAfter", 1, MAX_LOCKOUT_S },
	};
	int64_t v[3] = { -1, -1, -1 };
	unsigned old[3];
	int r = 0;

	if (!(who->privs & HTTPD_PRIV_CONFIGURE_USERS))
		return httpd_fault_set(f, HTTPD_MSG_INSUFFICIENT_PRIVILEGE, -EPERM);
	json_object_object_foreach(body, key, val) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(knobs) && strcmp(knobs[i].name, key) != 0; i++)
			;
		if (i == ARRAY_SIZE(knobs)) {
			struct json_object *doc_val = NULL;
			struct rf_doc *d = rf_tree_get_doc(a->tree, HTTPD_ACCOUNT_SVC, &r);
			struct json_object *doc = d ? json_tokener_parse(d->json) : NULL;
			bool known = doc && json_object_object_get_ex(doc, key, &doc_val);

			json_object_put(doc);
			rf_doc_unref(d);
			return fault_prop(f, known ? -EACCES : -EINVAL,
					  known ? RF_ERR_PROP_NOT_WRITABLE : RF_ERR_PROP_UNKNOWN, key, NULL);
		}
		if (!json_object_is_type(val, json_type_int))
			return fault_prop(f, -EINVAL, RF_ERR_PROP_TYPE, key, val);
		v[i] = json_object_get_int64(val);
		if (v[i] < knobs[i].min || v[i] > knobs[i].max)
			return fault_prop(f, -EINVAL, RF_ERR_PROP_VALUE, key, val);
	}
	pthread_mutex_lock(&a->lock);
	old[0] = a->lockout_threshold, old[1] = a->lockout_duration_s, old[2] = a->lockout_reset_s;
	if ((r = check_if_match(a, HTTPD_ACCOUNT_SVC, if_match)) < 0) {
		httpd_fault_set(f, HTTPD_MSG_PRECONDITION_FAILED, r);
		goto out;
	}
	if (v[0] >= 0)
		a->lockout_threshold = (unsigned)v[0];
	if (v[1] >= 0)
		a->lockout_duration_s = (unsigned)v[1];
	if (v[2] >= 0)
		a->lockout_reset_s = (unsigned)v[2];
	/* The schema: the duration is at least the counter's reset time. */
	if (a->lockout_duration_s && a->lockout_duration_s < a->lockout_reset_s) {
		a->lockout_threshold = old[0], a->lockout_duration_s = old[1], a->lockout_reset_s = old[2];
		snprintf(f->e.property, sizeof(f->e.property), "AccountLockoutDuration");
		snprintf(f->e.value, sizeof(f->e.value), "%u", v[1] >= 0 ? (unsigned)v[1] : old[1]);
		r = f->err = -EINVAL;
		f->e.kind = RF_ERR_PROP_VALUE;
		goto out;
	}
	if ((r = state_save(a)) < 0) {
		a->lockout_threshold = old[0], a->lockout_duration_s = old[1], a->lockout_reset_s = old[2];
		r = httpd_fault_set(f, HTTPD_MSG_INTERNAL_ERROR, -EIO);
	} else {
		r = install_account_service(a);
	}
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* ---- the provider (writes in the mount) ------------------------------------ */

static int prov_patch(struct rf_provider *p, const char *uri, void *cookie,
		      struct json_object *delta)
{
	struct httpd_auth *a = p->userdata;
	static const struct httpd_ident root = { .user = "", .privs = PRIVS_ALL };
	struct httpd_fault f = { 0 };
	const char *id;
	int r;

	if (strncmp(uri, HTTPD_ACCOUNTS "/", strlen(HTTPD_ACCOUNTS "/")) != 0)
		return -EACCES;
	id = uri + strlen(HTTPD_ACCOUNTS "/");
	r = httpd_account_patch(a, id, delta, NULL, &root, &f);
	if (r < 0 && f.e.kind == RF_ERR_PROP_VALUE)
		r = -EINVAL;
	if (r == -EEXIST || r == -EBUSY)
		r = -EINVAL;
	return r;
}

static const struct rf_provider_ops prov_ops = {
	.refresh = NULL,
	.patch = prov_patch,
	.action = NULL,
};

/* ---- lifetime -------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
	_cleanup_free_ char *d = strdup(dir);

	if (!d)
		return -ENOMEM;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

struct httpd_auth *httpd_auth_new(struct rf_tree *t, const struct httpd_auth_opts *o, int *ret_err)
{
	struct httpd_auth *a = calloc(1, sizeof(*a));
	int r = -ENOMEM;

	if (!a)
		goto fail;
	pthread_mutex_init(&a->lock, NULL);
	a->tree = t;
	a->prov = (struct rf_provider){ .name = "httpd", .ops = &prov_ops, .userdata = a };
	a->no_auth = o->no_auth;
	a->session_timeout_s = o->session_timeout_s ? o->session_timeout_s
						    : HTTPD_DEFAULT_SESSION_TIMEOUT;
	a->lockout_threshold = DEFAULT_LOCKOUT_THRESHOLD;
	a->lockout_duration_s = DEFAULT_LOCKOUT_DURATION;
	a->lockout_reset_s = DEFAULT_LOCKOUT_RESET;
	a->next_id = 1;
	a->port = o->port;
	a->tls = o->tls;
	a->url = strdup(o->url ? o->url : "");
	a->sessions = strmap_new();
	a->state_dir = o->state_dir ? strdup(o->state_dir) : NULL;
	if (!a->url || !a->sessions || !a->state_dir ||
	    asprintf(&a->state_path, "%s/accounts.json", o->state_dir) < 0) {
		a->state_path = NULL;
		goto fail;
	}
	if (getrandom(a->salt, sizeof(a->salt), 0) != sizeof(a->salt)) {
		r = -EIO;
		goto fail;
	}
	if ((r = random_hex(a->dummy_hash, 16)) < 0 ||
	    (r = hash_password(a->dummy_hash, a->dummy_hash)) < 0)
		goto fail;
	if ((r = mkdir_p(a->state_dir)) < 0) {
		log_error("httpd: state directory %s: %s", a->state_dir, strerror(-r));
		goto fail;
	}
	if ((r = state_load(a)) < 0) {
		if (r != -EINVAL)
			log_error("httpd: %s: %s", a->state_path, strerror(-r));
		goto fail;
	}
	if (o->user) {
		struct account *acc = account_by_user(a, o->user);
		bool fresh = !acc;

		if (!o->password || strlen(o->password) < MIN_PASSWORD ||
		    strlen(o->password) > MAX_PASSWORD) {
			log_error("httpd: the password of %s must have %d to %d characters "
				  "(AccountService MinPasswordLength, MaxPasswordLength)",
				  o->user, MIN_PASSWORD, MAX_PASSWORD);
			r = -EINVAL;
			goto fail;
		}

		if (fresh) {
			r = -ENOMEM;
			if (a->n_accounts == MAX_ACCOUNTS || !(acc = calloc(1, sizeof(*acc))))
				goto fail;
			snprintf(acc->id, sizeof(acc->id), "%u", a->next_id++);
			snprintf(acc->user, sizeof(acc->user), "%s", o->user);
			a->accounts[a->n_accounts++] = acc;
		}
		/* The configured account is the way back in: Administrator, enabled,
		 * with the file's password. */
		if (fresh || !acc->enabled || acc->role != &roles[0] ||
		    !check_password(o->password, acc->hash)) {
			acc->role = &roles[0];
			acc->enabled = true;
			if ((r = hash_password(o->password, acc->hash)) < 0) {
				log_error("httpd: crypt(3) failed: %s", strerror(-r));
				goto fail;
			}
			if ((r = state_save(a)) < 0)
				goto fail;
		}
	}
	if (!a->no_auth && a->n_accounts == 0) {
		log_error("httpd: no accounts: give --http-user and --http-password-file "
			  "(or --http-no-auth on loopback)");
		r = -EINVAL;
		goto fail;
	}
	a->installed = true;
	if ((r = install_static(a)) < 0) {
		log_error("httpd: cannot install SessionService and AccountService: %s",
			  r == -EPERM ? "another source provides them" : strerror(-r));
		goto fail;
	}
	return a;
fail:
	httpd_auth_free(a);
	*ret_err = r;
	return NULL;
}

struct httpd_auth *httpd_auth_free(struct httpd_auth *a)
{
	size_t it = 0;
	void *v;

	if (!a)
		return NULL;
	/* The tree keeps a pointer to a->prov: take our resources out first.
	 * (The ServiceRoot's links to them stay; the tree has no call to drop
	 * a root link, and httpd_free comes right before rf_tree_free.) */
	if (a->installed) {
		rf_tree_remove(a->tree, HTTPD_SESSION_SVC);
		rf_tree_remove(a->tree, HTTPD_ACCOUNT_SVC);
		rf_tree_remove(a->tree, HTTPD_MANAGER);
	}
	if (a->sessions) {
		while (strmap_next(a->sessions, &it, NULL, &v)) {
			explicit_bzero(v, sizeof(struct session));
			free(v);
		}
		strmap_free(a->sessions);
	}
	for (size_t i = 0; i < a->n_accounts; i++) {
		explicit_bzero(a->accounts[i], sizeof(struct account));
		free(a->accounts[i]);
	}
	free(a->state_dir);
	free(a->state_path);
	free(a->url);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return NULL;
}
