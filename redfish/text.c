/* text.c — rf_json_text_check: common.h's text_check over every string of a
 * parsed JSON document (keys and values, at any depth), so that HTTP bodies
 * and documents from BMCs are judged by the same rule as mount writes.
 *
 * json-c keeps strings with their length, so "a\u0000b" is seen whole (3
 * bytes with a NUL) and refused rather than cut to "a". Pure; thread-safe
 * for objects the caller owns. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct walk {
	bool multiline;
	char *path, *value;
	size_t path_cap, value_cap;
};

static int walk_fail(struct walk *w, const char *prefix, const char *key, const char *v, size_t n,
		     int r)
{
	if (w->path && w->path_cap)
		snprintf(w->path, w->path_cap, "%s%s%s", prefix, *prefix && *key ? "/" : "", key);
	if (w->value && w->value_cap)
		text_escape(v, n, w->value, w->value_cap);
	return r;
}

static int walk(struct walk *w, struct json_object *o, const char *prefix)
{
	char sub[256];
	int r;

	switch (json_object_get_type(o)) {
	case json_type_string:
		r = text_check(json_object_get_string(o), (size_t)json_object_get_string_len(o),
			       w->multiline);
		return r < 0 ? walk_fail(w, prefix, "", json_object_get_string(o),
					 (size_t)json_object_get_string_len(o), r) : 0;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			if ((r = text_check(key, strlen(key), false)) < 0)
				return walk_fail(w, prefix, "", key, strlen(key), r);
			snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "/" : "", key);
			if ((r = walk(w, val, sub)) < 0)
				return r;
		}
		return 0;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			snprintf(sub, sizeof(sub), "%s%s%zu", prefix, *prefix ? "/" : "", i);
			if ((r = walk(w, json_object_array_get_idx(o, i), sub)) < 0)
				return r;
		}
		return 0;
	default:
		return 0;
	}
}

int rf_json_text_check(struct json_object *o, bool multiline, char *ret_path, size_t path_cap,
		       char *ret_value, size_t value_cap)
{
	struct walk w = { multiline, ret_path, ret_value, path_cap, value_cap };

	return walk(&w, o, "");
}
