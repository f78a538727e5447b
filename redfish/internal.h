/* internal.h — private to redfish/: the rendering of a resource and the
 * tree's internals shared by tree.c (index, locking, installs), render.c
 * (JSON body -> immutable bytes and property files) and write.c (validation
 * of writes, PATCH and actions). Not installed, not seen by fs/ or httpd/. */
#ifndef REDFISHFS_REDFISH_INTERNAL_H
#define REDFISHFS_REDFISH_INTERNAL_H

#include "redfish.h"

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

/* One entry of the mount inside a resource. rel is the path relative to the
 * resource's directory ("" = the directory itself, "Status/Health"). */
struct rf_node {
	char *rel;
	const char *name;        /* last component of rel (points into rel) */
	enum rf_kind kind;
	char *data;              /* FILE: content; LINK: relative target */
	size_t size;
	struct timespec mtime;
	bool writable;
	char *child_uri;         /* DIR standing for a sub-resource (may be unloaded) */
	size_t *children;        /* DIR: indices of direct children, sorted by name */
	size_t n_children;
};

/* Immutable once built; shared by readers through its refcount. The rf_doc
 * handed to HTTP is embedded, so rf_doc_unref() finds the render. */
struct rf_render {
	atomic_int refs;
	struct rf_doc doc;
	char *json;
	char *uri;
	char *odata_type;
	struct rf_node *nodes;   /* nodes[0] is the resource directory ("") */
	size_t n_nodes;
	struct strmap *index;    /* rel -> node index + 1 (read-only after build) */
};

struct rf_writable_set {
	struct rf_writable *v;   /* deep copies; v[n].path == NULL */
	size_t n;
};

/* The document text of body, without the trailing newline the document
 * gets: borrowed from body, valid until body changes or is freed. */
const char *rf_render_json(struct json_object *body);

/* Whether prev's document is exactly json (from rf_render_json). */
bool rf_render_same_json(const struct rf_render *prev, const char *json);

/* Render body (borrowed) for uri; json is rf_render_json(body). prev (may
 * be NULL) supplies the mtimes of values that did not change. NULL on
 * -ENOMEM / a body that is not an object (*ret_err set). */
struct rf_render *rf_render_new(const char *uri, struct json_object *body, const char *json,
				const struct rf_writable_set *writable,
				const struct rf_render *prev, int *ret_err);
struct rf_render *rf_render_ref(struct rf_render *r);
struct rf_render *rf_render_unref(struct rf_render *r);
const struct rf_node *rf_render_find(const struct rf_render *r, const char *rel);

/* Call fn(ud, rel) for every rel of a and b whose node differs or exists in
 * only one of them (b may be NULL: everything in a). */
void rf_render_diff(const struct rf_render *a, const struct rf_render *b,
		    void (*fn)(void *ud, const char *rel), void *ud);

/* The mount path of uri ("/redfish/v1/Chassis/X" -> "Chassis/X",
 * "/redfish/v1" -> ""), or NULL when uri is not under /redfish/v1. Borrowed
 * pointer into uri. */
const char *rf_uri_to_path(const char *uri);

/* The relative symlink target from the directory holding the link at
 * link_path (a mount path) to the mount path target_path. malloc'd. */
char *rf_relative_link(const char *link_path, const char *target_path);

struct rf_writable_set *rf_writable_set_new(const struct rf_writable *w);
struct rf_writable_set *rf_writable_set_free(struct rf_writable_set *s);
const struct rf_writable *rf_writable_find(const struct rf_writable_set *s, const char *rel);
/* An entry under "Actions/" gives the values of an action file (from an
 * ActionInfo); it is never a property PATCH may change. */
bool rf_writable_is_action(const struct rf_writable *w);

/* Whether a file at rel of a resource whose body is body is the mount's
 * writable PowerState extension (an Outlet or ComputerSystem power action). */
bool rf_power_state_writable(struct json_object *body, const char *rel);

/* What write.c needs of a resource: taken under the lock, used without it. */
struct rf_target {
	char *uri;
	struct rf_provider *owner;
	void *cookie;                      /* the install's, for owner's patch/action */
	struct rf_render *render;          /* reference */
	struct rf_writable_set *writable;  /* copy */
};
void rf_target_clear(struct rf_target *tg);

/* tree.c: find the resource owning mount path / uri and take what writes
 * need. ret_rel: malloc'd path inside the resource. */
int rf_tree_target_for_path(struct rf_tree *t, const char *path, struct rf_target *ret,
			    char **ret_rel);
int rf_tree_target_for_uri(struct rf_tree *t, const char *uri, struct rf_target *ret);

/* Strict parse of text into the JSON type that like has (string, int,
 * double, boolean); -EINVAL if it does not parse. New reference. */
int rf_parse_scalar(const char *text, json_type like, struct json_object **ret);

#endif
