/* fuzz_bmc.c — libFuzzer target for what a BMC sends: the body of a
 * resource (json-c, strictly, as redfish/bmc.c parses it), the text check
 * every string must pass (rf_json_text_check), the URI rewriting both ways
 * (redfish/rewrite.c: rf_rewrite_body, rf_rewrite_uri_in/out), the writable
 * list derived from a body (rf_writables_for) and the error message of an
 * error body (rf_error_message).
 *
 * Input: a first line, taken as one URI for rf_rewrite_uri_in/out, then
 * the body. Promises checked beyond crashes: a URI rewritten in and out
 * again is the source's URI (normalised); rewriting never fails but for
 * memory. Built by scripts/fuzz. */
#include "client.h"
#include "redfish.h"
#include "common.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rf_rewrite rw;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (rf_rewrite_init(&rw, "rack1") < 0 || rf_rewrite_set_origin(&rw, "https://10.0.0.21") < 0 ||
	    rf_rewrite_add_collection(&rw, "/redfish/v1/Systems") < 0 ||
	    rf_rewrite_add_collection(&rw, "/redfish/v1/Chassis") < 0 ||
	    rf_rewrite_add_collection(&rw, "/redfish/v1/Managers") < 0)
		abort();
	return 0;
}

static void check_uri(const char *uri)
{
	char *in = rf_rewrite_uri_in(&rw, uri), *out;

	if (!in)
		return;
	out = rf_rewrite_uri_out(&rw, in);
	/* Ours: local -> remote gives back the source's path. */
	if (out && strncmp(in, "/redfish/v1/", 12) == 0 && strcmp(in, uri) != 0) {
		char *again = rf_rewrite_uri_in(&rw, out);

		if (again && strcmp(again, in) != 0) {
			fprintf(stderr, "fuzz_bmc: \"%s\" -> \"%s\" -> \"%s\" -> \"%s\"\n", uri, in, out,
				again);
			abort();
		}
		free(again);
	}
	free(out);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t ulen = nl ? (size_t)(nl - (const char *)data) : size;
	char *uri = strndup((const char *)data, ulen);
	const char *body = nl ? nl + 1 : "";
	size_t blen = nl ? size - ulen - 1 : 0;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	char path[256], value[128];

	if (!uri || !tok) {
		free(uri);
		json_tokener_free(tok);
		return 0;
	}
	check_uri(uri);
	o = json_tokener_parse_ex(tok, body, (int)blen);
	if (o && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object)) {
		struct rf_writable *w;

		rf_json_text_check(o, true, path, sizeof(path), value, sizeof(value));
		if (rf_rewrite_body(&rw, o, true) < 0 || rf_rewrite_body(&rw, o, false) < 0)
			abort();
		w = rf_writables_for(o);
		rf_writables_free(w);
	}
	json_object_put(o);
	json_tokener_free(tok);
	free(rf_error_message(body, blen));
	free(uri);
	return 0;
}
