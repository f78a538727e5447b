/* redfish.h — the in-memory Redfish resource tree and the provider interface.
 *
 * The one public header of redfish/. fs/ and httpd/ see only this; back ends
 * (kasa/provider*.c, redfish/bmc.c, redfish/mockup.c) plug in through
 * struct rf_provider. Nothing here knows FUSE, HTTP or any device.
 *
 * Conventions: int returns are >= 0 on success, -errno on failure. Paths of
 * the mount are relative to the ServiceRoot: "" (or "/") is /redfish/v1,
 * "Chassis/PowerStrip/Status/Health" is a property file; a leading '/' is
 * accepted. URIs are absolute ("/redfish/v1/Chassis/PowerStrip"), without a
 * trailing slash.
 *
 * Threads: every function is thread-safe. The tree has one rwlock; it is
 * never held across provider calls or I/O. Providers must not call the tree
 * from inside a tree callback (on_change listeners get only path strings).
 */
#ifndef REDFISHFS_REDFISH_H
#define REDFISHFS_REDFISH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define RF_ROOT "/redfish/v1"

struct rf_tree;
struct rf_provider;

/* ---- errors with detail, for HTTP's Redfish messages -------------------- */

enum rf_err_kind {
	RF_ERR_NONE,
	RF_ERR_NOT_FOUND,          /* resource / action unknown        (-ENOENT) */
	RF_ERR_PROP_UNKNOWN,       /* PropertyUnknown                  (-EINVAL) */
	RF_ERR_PROP_NOT_WRITABLE,  /* PropertyNotWritable              (-EACCES) */
	RF_ERR_PROP_VALUE,         /* PropertyValueNotInList           (-EINVAL) */
	RF_ERR_PROP_TYPE,          /* PropertyValueTypeError           (-EINVAL) */
	RF_ERR_PARAM_MISSING,      /* ActionParameterMissing           (-EINVAL) */
	RF_ERR_PARAM_VALUE,        /* ActionParameterValueNotInList    (-EINVAL) */
	RF_ERR_PARAM_TYPE,         /* ActionParameterValueTypeError    (-EINVAL) */
	RF_ERR_PARAM_UNKNOWN,      /* ActionParameterUnknown           (-EINVAL) */
	RF_ERR_MALFORMED,          /* MalformedJSON / not an object    (-EINVAL) */
	RF_ERR_STALE,              /* If-Match failed                  (-ESTALE) */
	RF_ERR_BACKEND,            /* the device/BMC failed: see errno          */
};

struct rf_error {
	enum rf_err_kind kind;
	char property[128];        /* property or parameter name, if any */
	char value[128];           /* offending value (truncated), if any */
};

/* ---- providers ----------------------------------------------------------- */

/* A property a provider accepts writes to. path is relative to the resource
 * ("UserLabel", "Oem/TPLink/LedOn"). values: NULL-terminated list of allowed
 * string values (matched case-insensitively, canonicalised to the listed
 * spelling), or NULL for any string of at most max_len bytes (0 = 255).
 * An entry whose path starts with "Actions/" ("Actions/ComputerSystem.Reset")
 * instead lists the values of that action file when the action carries no
 * annotations of its own (they come from an ActionInfo); PATCH never
 * changes it. */
struct rf_writable {
	const char *path;
	const char *const *values;
	size_t max_len;
};

/* Called without the tree lock, from any thread. May block on I/O, bounded
 * by the provider's own timeout. Each returns 0 or -errno. */
struct rf_provider_ops {
	/* Bring uri (a resource this provider owns, or a URI under a prefix it
	 * claimed) up to date if older than max_age_ms; installs through
	 * rf_tree_install(). Concurrent calls for one device share one request.
	 * May be NULL: the provider pushes updates itself. */
	int (*refresh)(struct rf_provider *p, const char *uri, int64_t max_age_ms);
	/* Apply an already validated delta (an object of writable properties
	 * with canonical values; borrowed) to uri. cookie: the one uri was
	 * last installed with (rf_tree_install_cookie), NULL if none. Returns
	 * once the back end confirmed it; the provider installs the new state
	 * before returning. */
	int (*patch)(struct rf_provider *p, const char *uri, void *cookie,
		     struct json_object *delta);
	/* Invoke action ("Outlet.PowerControl", no '#') on the resource uri
	 * (cookie as for patch) with validated params (borrowed object). Same
	 * completion rule as patch. */
	int (*action)(struct rf_provider *p, const char *uri, void *cookie, const char *action,
		      struct json_object *params);
	/* A reader listed a directory of uri (a resource this provider owns):
	 * a hint for read-ahead (a walk lists directory after directory).
	 * Must not block. May be NULL. */
	void (*listed)(struct rf_provider *p, const char *uri);
};

struct rf_provider {
	const char *name;                 /* for logs: "kasa", "bmc rack1" */
	const struct rf_provider_ops *ops;
	void *userdata;
};

/* ---- the tree: lifetime and configuration -------------------------------- */

/* A new tree holding the ServiceRoot, the Chassis, Managers and
 * PowerEquipment collections (PowerEquipment with its RackPDUs collection).
 * uuid: the service's UUID string (NULL: generated). */
struct rf_tree *rf_tree_new(const char *uuid);
struct rf_tree *rf_tree_free(struct rf_tree *t);   /* NULL-safe, returns NULL */

void rf_tree_set_max_age(struct rf_tree *t, int64_t max_age_ms);
int64_t rf_tree_max_age(struct rf_tree *t);

/* Listeners told of every mount path whose content, attributes or directory
 * listing changed (files, directories, links; a removed path too; a
 * resource whose document changed names its "DIR/index.json"). Called
 * without the tree lock from the installing thread; must not block long and
 * must not call back into the tree. This is the one change feed: the
 * mount's invalidations, events and metrics all hang off it. Up to
 * RF_TREE_MAX_LISTENERS; add returns 0 or -ENOSPC. Once remove returns,
 * fn is not running and is not called again. */
#define RF_TREE_MAX_LISTENERS 8
typedef void (*rf_change_fn)(void *userdata, const char *path);
int rf_tree_add_listener(struct rf_tree *t, rf_change_fn fn, void *userdata);
void rf_tree_remove_listener(struct rf_tree *t, rf_change_fn fn, void *userdata);

/* Reporter told of a source's mistake (a body filed under another
 * @odata.id, or none; an unreadable or non-JSON body; a link that leads
 * nowhere): source is the provider's name, uri the resource's local URI,
 * message one line. Told once per source and URI for the tree's lifetime, from any
 * thread, under a mutex of its own: it must only log. NULL to clear.
 * Providers (libraries, which do not log) call rf_tree_report_source. */
typedef void (*rf_source_report_fn)(void *userdata, const char *source, const char *uri,
				    const char *message);
void rf_tree_set_source_reporter(struct rf_tree *t, rf_source_report_fn fn, void *userdata);
void rf_tree_report_source(struct rf_tree *t, const char *source, const char *uri,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- writing the tree (providers) ----------------------------------------- */

/* The tree-wide generation: take it before a fetch, pass it to install. */
uint64_t rf_tree_generation(struct rf_tree *t);

/* Install body (stolen, even on error) as uri, owned by p. The body must be
 * an object whose "@odata.id" equals uri. writable: array ended by an entry
 * with path == NULL (copied), or NULL. based_on: a generation taken before
 * the data was fetched; if uri was installed or written after it, nothing
 * changes and -ESTALE is returned. A resource another provider installed
 * is never replaced (-EPERM), except that anyone may install a collection
 * over a tree-maintained one (joining it). Returns 1 if the rendered document
 * changed (new ETag, listeners told), 0 if identical (only its freshness
 * time is renewed). If uri's parent is a collection (rf_tree_add_collection)
 * the resource becomes one of its Members. */
int rf_tree_install(struct rf_tree *t, struct rf_provider *p, const char *uri,
		    struct json_object *body, const struct rf_writable *writable,
		    uint64_t based_on);
/* rf_tree_install with a cookie: the provider's handle for this resource
 * (borrowed; NULL for none), handed back to p's patch and action for uri,
 * so a write reaches its object without parsing the URI. It replaces the
 * cookie of an earlier install (rf_tree_install sets none). A write may
 * use it after the resource was removed or installed again: it must stay
 * valid as long as p serves the tree. */
int rf_tree_install_cookie(struct rf_tree *t, struct rf_provider *p, const char *uri,
			   struct json_object *body, const struct rf_writable *writable,
			   void *cookie, uint64_t based_on);

/* Mark uri fresh without changing it (a poll found nothing new). */
void rf_tree_touch(struct rf_tree *t, const char *uri);
/* How long ago uri's provider last installed or touched it (its source
 * last confirmed it), in *ret_ms. 0, or -ENOENT (unknown or a collection). */
int rf_tree_age(struct rf_tree *t, const char *uri, int64_t *ret_ms);

/* Remove uri and everything below it (resources, aliases). 0 or -ENOENT. */
int rf_tree_remove(struct rf_tree *t, const char *uri);

/* A collection resource maintained by the tree: its Members are the
 * installed resources directly below uri, in natural order (2 < 10).
 * odata_type like "#ChassisCollection.ChassisCollection". */
int rf_tree_add_collection(struct rf_tree *t, struct rf_provider *p, const char *uri,
			   const char *odata_type, const char *name);

/* Link a top-level service from the ServiceRoot: name "Systems",
 * uri "/redfish/v1/Systems". */
int rf_tree_add_root_link(struct rf_tree *t, const char *name, const char *uri);
/* Set any other ServiceRoot property (value stolen), e.g.
 * "ProtocolFeaturesSupported". "Links" and annotations are refused. */
int rf_tree_set_root_property(struct rf_tree *t, const char *name, struct json_object *value);

/* p is going away: resources it still owns (collections it created) stay,
 * owned by none (served as they are), and its claims end. The BMC and
 * mockup providers call it when freed, so they can leave a running tree. */
void rf_tree_forget_provider(struct rf_tree *t, struct rf_provider *p);

/* Link a collection from the tree's PowerEquipment: name "FloorPDUs",
 * uri "/redfish/v1/PowerEquipment/FloorPDUs" (RackPDUs is there from the
 * start). 0, -EINVAL or -ENOMEM. */
int rf_tree_add_power_equipment_link(struct rf_tree *t, const char *name, const char *uri);

/* Claim every URI under prefix for p, so lookups of not yet installed
 * resources below it call p->ops->refresh (lazy loading). */
int rf_tree_claim_prefix(struct rf_tree *t, struct rf_provider *p, const char *prefix);

/* alias_uri stands for target_uri: a symlink in the mount, 308 over HTTP. */
int rf_tree_add_alias(struct rf_tree *t, const char *alias_uri, const char *target_uri);

/* ---- reading: documents (HTTP) ------------------------------------------- */

/* An immutable, refcounted rendering of one resource. */
struct rf_doc {
	const char *json;        /* the document, NUL-terminated, == index.json */
	size_t len;
	uint64_t etag;           /* generation; the HTTP ETag is "\"<etag>\"" */
	struct timespec mtime;   /* when the document last changed */
	const char *uri;
	const char *odata_type;  /* "#Outlet.v1_4_4.Outlet" or "" */
	bool patchable;          /* has a property its provider accepts PATCH of */
};

/* Look up uri (refreshing it first when older than max-age). Returns a new
 * reference, or NULL with *ret_err = -ENOENT (unknown; aliases too: ask
 * rf_tree_alias_target() first), or the provider's error when it could not be
 * loaded at all. */
struct rf_doc *rf_tree_get_doc(struct rf_tree *t, const char *uri, int *ret_err);
struct rf_doc *rf_doc_ref(struct rf_doc *d);
struct rf_doc *rf_doc_unref(struct rf_doc *d);    /* NULL-safe, returns NULL */

/* Whether an If-Match / If-None-Match value names etag (a document's): a
 * list of entity tags separated by commas or blanks, weak ("W/") or strong,
 * or "*". The one parser of both headers (write.c). */
bool rf_etag_matches(const char *list, uint64_t etag);

/* If uri is an alias or lies below one, a malloc'd canonical URI; else NULL. */
char *rf_tree_alias_target(struct rf_tree *t, const char *uri);

/* Every resource URI in the tree (sorted, malloc'd array of malloc'd
 * strings; free with rf_strv_free). For $metadata, tests and walks. */
char **rf_tree_list_uris(struct rf_tree *t, size_t *ret_n);
/* Every distinct schema namespace used ("Outlet.v1_4_4", ...), sorted. */
char **rf_tree_list_types(struct rf_tree *t, size_t *ret_n);
char **rf_strv_free(char **v);

/* ---- reading: the mount --------------------------------------------------- */

enum rf_kind { RF_KIND_DIR, RF_KIND_FILE, RF_KIND_LINK };

struct rf_stat {
	enum rf_kind kind;
	bool writable;
	size_t size;             /* file bytes, or link target length */
	struct timespec mtime;
	uint64_t ino;            /* stable per path */
};

int rf_tree_stat(struct rf_tree *t, const char *path, struct rf_stat *ret);
/* Copy up to size bytes of the file at path from offset; returns bytes. */
ssize_t rf_tree_read(struct rf_tree *t, const char *path, char *buf, size_t size, off_t off);
/* The file at path as the tree holds it, without refreshing anything:
 * up to size bytes of it and its stat. -ESTALE when its resource is older
 * than max-age (a read would refresh it first), -ENOENT or -EISDIR. Never
 * waits for a device: for filling caches ahead of readers. */
ssize_t rf_tree_peek(struct rf_tree *t, const char *path, char *buf, size_t size,
		     struct rf_stat *ret);
/* The relative target of a link, NUL-terminated, truncated to size. */
int rf_tree_readlink(struct rf_tree *t, const char *path, char *buf, size_t size);

struct rf_dirent {
	char *name;
	struct rf_stat st;
};
/* The entries of directory path (no "." / ".."), sorted. */
int rf_tree_list(struct rf_tree *t, const char *path, struct rf_dirent **ret, size_t *ret_n);
void rf_dirents_free(struct rf_dirent *d, size_t n);

/* A sysfs-style write of one whole value to the file at path (a trailing
 * newline is dropped). Property files PATCH, PowerState of an Outlet or a
 * ComputerSystem maps to its power action, Actions/T.Name files invoke the
 * action (one value for its single parameter, or a JSON object). Returns 0
 * once the back end confirmed, -EINVAL (value not allowed; nothing sent),
 * -EACCES (read-only), -ENOENT, or the provider's -errno. */
int rf_tree_write(struct rf_tree *t, const char *path, const char *data, size_t len);

/* ---- changing (HTTP) ------------------------------------------------------ */

/* PATCH uri with delta (borrowed object): every property is checked first
 * (unknown, read-only, value not allowed: nothing is sent); then one provider
 * call. if_match: an ETag string to compare ("\"12\"", "*"), or NULL. */
int rf_tree_patch(struct rf_tree *t, const char *uri, struct json_object *delta,
		  const char *if_match, struct rf_error *ret_err);

/* POST to an action target URI (".../Actions/Outlet.PowerControl"), params
 * (borrowed object, may be NULL) checked against @Redfish.AllowableValues. */
int rf_tree_post_action(struct rf_tree *t, const char *target_uri, struct json_object *params,
			const char *if_match, struct rf_error *ret_err);

/* Every string of o (keys and values, any depth) passes text_check
 * (common.h): 0, or its -EILSEQ/-EINVAL with the first offender's path
 * ("Oem/TPLink/Alias", "Members/2") and its escaped value written into
 * ret_path/ret_value (either may be NULL). redfish/text.c */
int rf_json_text_check(struct json_object *o, bool multiline, char *ret_path, size_t path_cap,
		       char *ret_value, size_t value_cap);

/* ---- remote BMCs and mockups (redfish/bmc.c, redfish/mockup.c; their
 * options: redfish/args.c) ---------------------------------------------------
 *
 * A BMC named NAME is aggregated: the members of its top-level collections
 * appear locally as <collection>/NAME_<remoteId>, every URI in bodies
 * rewritten both ways; resources load lazily (rf_tree_claim_prefix) and
 * refresh at max-age; /redfish/v1/AggregationService/AggregationSources/NAME
 * describes it. Daemon order: rf_bmc_new (no I/O) -> rf_bmc_probe (on the
 * terminal: login + initial crawl) -> mount, daemonize -> rf_bmc_start (the
 * health thread and the prefetch workers) -> ... -> rf_bmc_free (logs out)
 * before rf_tree_free. */

struct rf_bmc;

struct rf_bmc_config {
	const char *name;          /* "rack1": [A-Za-z0-9.-], 1..32 bytes, no '_' */
	const char *url;           /* "http[s]://host[:port]"; "/redfish/v1" accepted */
	const char *user;          /* NULL: no authentication */
	const char *password;      /* copied; never logged, shown or put in argv */
	const char *ca_file;       /* NULL: the system's CAs */
	bool insecure;             /* do not verify this BMC's certificate */
	bool no_expand;            /* never use $expand, whatever the BMC advertises */
	int timeout_ms;            /* per request, retries included; 0: 2000 */
	int parallel;              /* concurrent requests to this BMC; 0: 8 */
	/* Told the BMC's Redfish error message (or the transport error) of a
	 * failed request, once per failure, from any thread, without locks;
	 * the caller logs it. Never contains credentials. May be NULL. */
	void (*on_error)(void *userdata, const char *bmc, int err, const char *message);
	/* Told once per change that the BMC went offline (cause: the socket's
	 * -errno, e.g. -ECONNREFUSED, or -ETIMEDOUT, -EPROTO for TLS, -EACCES
	 * for refused credentials) or came back (online, cause 0); also when
	 * the first probe finds it offline. Same rules as on_error. May be NULL. */
	void (*on_state)(void *userdata, const char *bmc, bool online, int cause);
	void *userdata;
};

/* "NAME=URL" -> malloc'd name and URL (normalised: no trailing "/",
 * "/redfish/v1" dropped). -EINVAL on a bad name or URL (scheme other than
 * http/https, missing host, a path other than /redfish/v1, userinfo). */
int rf_bmc_parse_arg(const char *arg, char **ret_name, char **ret_url);
/* Whether url is plain http to a host other than loopback (main warns). */
bool rf_bmc_url_plain_remote(const char *url);

/* Validates cfg and copies it; no I/O, no threads. NULL with *ret_err. */
struct rf_bmc *rf_bmc_new(struct rf_tree *t, const struct rf_bmc_config *cfg, int *ret_err);
/* Log in and crawl ServiceRoot, the aggregated collections and their
 * members; install them and the AggregationSource. Bounded by a few
 * timeouts. 0, or -errno (-EACCES: credentials refused; -EHOSTUNREACH /
 * -ETIMEDOUT: unreachable — the BMC then shows as offline and
 * rf_bmc_start() keeps trying). */
int rf_bmc_probe(struct rf_bmc *b);
/* Start the threads (after daemonizing): the health thread, which re-probes
 * an offline BMC every few seconds and brings it back, and the prefetch
 * workers, which load the subtree of a member once a reader went below it.
 * 0 or -errno. */
int rf_bmc_start(struct rf_bmc *b);
bool rf_bmc_online(struct rf_bmc *b);
/* Stops the thread, logs out, removes its members; collections it created
 * stay, owned by none (rf_tree_forget_provider), so the tree runs on (a
 * reload removes a BMC this way). NULL-safe, returns NULL. */
struct rf_bmc *rf_bmc_free(struct rf_bmc *b);

struct rf_mockup;

/* "[NAME=]DIR" -> malloc'd name (NULL without one) and dir. -EINVAL. */
int rf_mockup_parse_arg(const char *arg, char **ret_name, char **ret_dir);
/* Load a directory of index.json files (a DMTF mockup, or a cp -a / tar
 * backup of the mount) into t. name NULL: it is the service's own tree
 * (ServiceRoot links and collections merged into the tree's own, its UUID
 * taken); else it
 * is aggregated like a BMC called name. @Redfish.Copyright is dropped.
 * PATCH and actions change it in memory (a Reset changes PowerState).
 * -ENOENT (no ServiceRoot index.json), -EINVAL (malformed), -errno. */
struct rf_mockup *rf_mockup_load(struct rf_tree *t, const char *name, const char *dir,
				 int *ret_err);
size_t rf_mockup_count(struct rf_mockup *m);    /* resources installed */
/* Removes its resources; collections it created stay, owned by none, as
 * with rf_bmc_free. NULL-safe, returns NULL. */
struct rf_mockup *rf_mockup_free(struct rf_mockup *m);

#endif
