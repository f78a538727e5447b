/* internal.h — json-c helpers shared by the kasa/ sources; not part of the
 * kasa.h API (which never exposes json-c). model.c defines the functions.
 *
 * Ownership: kasa_json_parse_object returns a new reference; _cleanup_json_
 * drops the reference a local holds when it goes out of scope. */
#ifndef REDFISHFS_KASA_INTERNAL_H
#define REDFISHFS_KASA_INTERNAL_H

#include <json-c/json.h>
#include <stddef.h>

#include "common.h"

static inline void kasa_json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(kasa_json_putp)

/* Exactly len bytes of text (need not be NUL-terminated) as one JSON
 * object: a new reference, or NULL when they are anything else (empty, a
 * NUL byte inside, trailing bytes, another JSON type). Untrusted input:
 * callers bound len before (json-c takes an int). */
json_object *kasa_json_parse_object(const char *text, size_t len);

#endif
