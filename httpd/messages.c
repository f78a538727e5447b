/* messages.c — every error the server answers goes through here: one
 * function maps (errno, struct rf_error kind) to an HTTP status and a Base
 * registry message, and renders the Redfish error body (bmcweb's messages
 * module, as a table).
 *
 * The message texts are those of the DMTF Base registry (Base.1.22.1) for
 * the MessageIds this server uses. Arguments are filled from the fault; no
 * password or token ever reaches a fault. Pure functions; thread-safe. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BASE_REGISTRY "Base.1.22.1"

struct msg_def {
	const char *id;
	unsigned nargs;
	const char *severity;
	const char *text;
	const char *resolution;
};

static const struct msg_def base_msgs[] = {
	{ "Success", 0, "OK", "The request completed successfully.", "None." },
	{ "Created", 0, "OK", "The resource was created successfully.", "None." },
	{ "NoOperation", 0, "Warning",
	  "The request body submitted contain no data to act upon and no changes to the resource took place.",
	  "Add properties in the JSON object and resubmit the request." },
	{ "MalformedJSON", 0, "Critical",
	  "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
	  "Ensure that the request body is valid JSON and resubmit the request." },
	{ "PropertyValueNotInList", 2, "Warning",
	  "The value '%1' for the property %2 is not in the list of acceptable values.",
	  "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed." },
	{ "PropertyValueTypeError", 2, "Warning",
	  "The value '%1' for the property %2 is not a type that the property can accept.",
	  "Correct the value for the property in the request body and resubmit the request if the operation failed." },
	{ "PropertyNotWritable", 1, "Warning",
	  "The property %1 is a read-only property and cannot be assigned a value.",
	  "Remove the property from the request body and resubmit the request if the operation failed." },
	{ "PropertyUnknown", 1, "Warning",
	  "The property %1 is not in the list of valid properties for the resource.",
	  "Remove the unknown property from the request body and resubmit the request if the operation failed." },
	{ "PropertyMissing", 1, "Warning",
	  "The property %1 is a required property and must be included in the request.",
	  "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed." },
	{ "ActionParameterMissing", 2, "Critical",
	  "The action %1 requires the parameter %2 to be present in the request body.",
	  "Supply the action with the required parameter in the request body when the request is resubmitted." },
	{ "ActionParameterValueNotInList", 3, "Warning",
	  "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable values.",
	  "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed." },
	{ "ActionParameterValueTypeError", 3, "Warning",
	  "The value '%1' for the parameter %2 in the action %3 is not a type that the parameter can accept.",
	  "Correct the value for the parameter in the request body and resubmit the request if the operation failed." },
	{ "ActionParameterUnknown", 2, "Warning",
	  "The action %1 was submitted with the invalid parameter %2.",
	  "Correct the invalid action parameter and resubmit the request if the operation failed." },
	{ "ResourceNotFound", 2, "Critical",
	  "The requested resource of type %1 named '%2' was not found.",
	  "Provide a valid resource identifier and resubmit the request." },
	{ "OperationNotAllowed", 0, "Critical",
	  "The HTTP method is not allowed on this resource.", "None." },
	{ "NoValidSession", 0, "Critical",
	  "There is no valid session established with the implementation.",
	  "Establish a session before attempting any operations." },
	{ "InsufficientPrivilege", 0, "Critical",
	  "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.",
	  "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed." },
	{ "PreconditionFailed", 0, "Critical",
	  "The ETag supplied did not match the ETag required to change this resource.",
	  "Try the operation again using the appropriate ETag." },
	{ "HeaderInvalid", 1, "Critical", "Header '%1' is invalid.",
	  "Resubmit the request with a valid request header." },
	{ "PayloadTooLarge", 0, "Critical",
	  "The supplied payload exceeds the maximum size supported by the service.",
	  "Check that the supplied payload is correct and supported by this service." },
	{ "QueryParameterUnsupported", 1, "Warning", "Query parameter '%1' is not supported.",
	  "Correct or remove the query parameter and resubmit the request." },
	{ "QueryParameterValueFormatError", 2, "Warning",
	  "The value '%1' for the parameter %2 is not a format that the parameter can accept.",
	  "Correct the value for the query parameter in the request and resubmit the request if "
	  "the operation failed." },
	{ "QueryParameterOutOfRange", 3, "Warning",
	  "The value '%1' for the query parameter %2 is out of range %3.",
	  "Reduce the value for the query parameter to a value that is within range, such as a "
	  "start or count value that is within bounds of the number of resources in a collection "
	  "or a page number that is within the range of valid pages." },
	{ "ServiceTemporarilyUnavailable", 1, "Critical",
	  "The service is temporarily unavailable.  Retry in %1 seconds.",
	  "Wait for the indicated retry duration and retry the operation." },
	{ "OperationFailed", 0, "Warning",
	  "An error occurred internal to the service as part of the overall request.  Partial results may have been returned.",
	  "Resubmit the request.  If the problem persists, consider resetting the service or provider." },
	{ "InternalError", 0, "Critical",
	  "The request failed due to an internal service error.  The service is still operational.",
	  "Resubmit the request.  If the problem persists, consider resetting the service." },
	{ "GeneralError", 0, "Critical",
	  "A general error has occurred.  See Resolution for information on how to resolve the error, or @Message.ExtendedInfo if Resolution is not provided.",
	  "None." },
	{ "ResourceAlreadyExists", 3, "Critical",
	  "The requested resource of type %1 with the property %2 with the value '%3' already exists.",
	  "Do not repeat the create operation as the resource was already created." },
	{ "ResourceInUse", 0, "Warning",
	  "The change to the requested resource failed because the resource is in use or in transition.",
	  "Remove the condition and resubmit the request if the operation failed." },
	{ "PasswordIncorrectLength", 0, "Critical",
	  "The password provided for this account does not meet the password length requirements of the service.",
	  "Choose a password that meets the length requirements and resubmit the request." },
	{ "SessionLimitExceeded", 0, "Critical",
	  "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.",
	  "Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions, if supported." },
	{ "SessionTerminated", 0, "OK", "The session was successfully terminated.", "None." },
};

static const struct msg_def *msg_find(const char *id)
{
	for (size_t i = 0; i < ARRAY_SIZE(base_msgs); i++)
		if (strcmp(base_msgs[i].id, id) == 0)
			return &base_msgs[i];
	return NULL;
}

/* Substitute %1..%9 in text with args. */
static char *msg_format(const char *text, const char *const *args, size_t n)
{
	size_t cap = strlen(text) + 1, len = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		cap += strlen(args[i] ? args[i] : "");
	out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = text; *p; p++) {
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && (size_t)(p[1] - '1') < n) {
			const char *a = args[p[1] - '1'] ? args[p[1] - '1'] : "";
			size_t al = strlen(a);

			memcpy(out + len, a, al);
			len += al;
			p++;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	return out;
}

struct json_object *httpd_message_object(const char *id, const char *const *args, size_t n)
{
	const struct msg_def *m = msg_find(id);
	struct json_object *o, *a;
	char full[96];
	char *text;

	if (!m)
		m = msg_find("GeneralError");
	if (n > m->nargs)
		n = m->nargs;
	text = msg_format(m->text, args, n);
	o = json_object_new_object();
	a = json_object_new_array();
	if (!text || !o || !a) {
		free(text);
		json_object_put(o);
		json_object_put(a);
		return NULL;
	}
	snprintf(full, sizeof(full), BASE_REGISTRY ".%s", m->id);
	json_object_object_add(o, "@odata.type", json_object_new_string("#Message.v1_3_0.Message"));
	json_object_object_add(o, "MessageId", json_object_new_string(full));
	json_object_object_add(o, "Message", json_object_new_string(text));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(args[i] ? args[i] : ""));
	json_object_object_add(o, "MessageArgs", a);
	json_object_object_add(o, "MessageSeverity", json_object_new_string(m->severity));
	json_object_object_add(o, "Resolution", json_object_new_string(m->resolution));
	free(text);
	return o;
}

/* errno -> status + message, for faults the tree's kind does not decide. */
static const struct {
	int err;
	unsigned status;
	const char *id;
} errno_table[] = {
	{ ENOENT, 404, "ResourceNotFound" },
	{ ENOKEY, 401, "NoValidSession" },
	{ EPERM, 403, "InsufficientPrivilege" },
	{ EOPNOTSUPP, 405, "OperationNotAllowed" },
	{ EMSGSIZE, 413, "PayloadTooLarge" },
	{ E2BIG, 413, "PayloadTooLarge" },
	{ EMEDIUMTYPE, 415, "HeaderInvalid" },
	{ EPROTO, 412, "HeaderInvalid" },
	{ EPROTONOSUPPORT, 406, "HeaderInvalid" },
	{ ENOSYS, 501, "QueryParameterUnsupported" },
	{ EILSEQ, 400, "QueryParameterValueFormatError" },
	{ ERANGE, 400, "QueryParameterOutOfRange" },
	{ EBADMSG, 400, "MalformedJSON" },
	{ EEXIST, 409, "ResourceAlreadyExists" },
	{ EDOM, 400, "PropertyMissing" },
	{ EKEYREJECTED, 400, "PasswordIncorrectLength" },
	{ EBUSY, 409, "ResourceInUse" },
	{ EUSERS, 503, "SessionLimitExceeded" },
	{ ESTALE, 412, "PreconditionFailed" },
	{ ETIMEDOUT, 503, "ServiceTemporarilyUnavailable" },
	{ EHOSTUNREACH, 503, "ServiceTemporarilyUnavailable" },
	{ EHOSTDOWN, 503, "ServiceTemporarilyUnavailable" },
	{ ENETUNREACH, 503, "ServiceTemporarilyUnavailable" },
	{ ECONNREFUSED, 503, "ServiceTemporarilyUnavailable" },
	{ ECONNRESET, 503, "ServiceTemporarilyUnavailable" },
	{ EAGAIN, 503, "ServiceTemporarilyUnavailable" },
	{ EIO, 500, "OperationFailed" },
	{ EINVAL, 400, "GeneralError" },
	{ EACCES, 405, "OperationNotAllowed" },
};

/* struct rf_error kinds -> status + message (kinds decide before errno). */
static const struct {
	enum rf_err_kind kind;
	unsigned status;
	const char *id;
} kind_table[] = {
	{ RF_ERR_NOT_FOUND, 404, "ResourceNotFound" },
	{ RF_ERR_PROP_UNKNOWN, 400, "PropertyUnknown" },
	{ RF_ERR_PROP_NOT_WRITABLE, 400, "PropertyNotWritable" },
	{ RF_ERR_PROP_VALUE, 400, "PropertyValueNotInList" },
	{ RF_ERR_PROP_TYPE, 400, "PropertyValueTypeError" },
	{ RF_ERR_PARAM_MISSING, 400, "ActionParameterMissing" },
	{ RF_ERR_PARAM_VALUE, 400, "ActionParameterValueNotInList" },
	{ RF_ERR_PARAM_TYPE, 400, "ActionParameterValueTypeError" },
	{ RF_ERR_PARAM_UNKNOWN, 400, "ActionParameterUnknown" },
	{ RF_ERR_MALFORMED, 400, "MalformedJSON" },
	{ RF_ERR_STALE, 412, "PreconditionFailed" },
};

int httpd_fault_render(const struct httpd_fault *f, struct httpd_status *ret)
{
	const char *what = f->what ? f->what : "";
	const char *prop = f->e.property, *val = f->e.value;
	const char *id = NULL;
	unsigned status = 0;
	const char *args[3] = { NULL, NULL, NULL };
	char retry[16];
	size_t n = 0;

	ret->retry_after = false;
	for (size_t i = 0; i < ARRAY_SIZE(kind_table) && f->e.kind != RF_ERR_NONE; i++)
		if (kind_table[i].kind == f->e.kind) {
			status = kind_table[i].status;
			id = kind_table[i].id;
		}
	if (!id)
		for (size_t i = 0; i < ARRAY_SIZE(errno_table); i++)
			if (-errno_table[i].err == f->err) {
				status = errno_table[i].status;
				id = errno_table[i].id;
				break;
			}
	if (!id) {
		status = 500;
		id = "InternalError";
	}
	/* A read-only property named by the tree without its kind. */
	if (f->err == -EACCES && f->e.kind == RF_ERR_NONE && *prop) {
		status = 400;
		id = "PropertyNotWritable";
	}

	/* Arguments, in the registry's order. */
	if (!strcmp(id, "PropertyValueNotInList") || !strcmp(id, "PropertyValueTypeError")) {
		args[0] = val, args[1] = prop, n = 2;
	} else if (!strcmp(id, "PropertyNotWritable") || !strcmp(id, "PropertyUnknown") ||
		   !strcmp(id, "PropertyMissing")) {
		args[0] = prop, n = 1;
	} else if (!strcmp(id, "ActionParameterMissing") || !strcmp(id, "ActionParameterUnknown")) {
		args[0] = what, args[1] = prop, n = 2;
	} else if (!strcmp(id, "ActionParameterValueNotInList") ||
		   !strcmp(id, "ActionParameterValueTypeError")) {
		args[0] = val, args[1] = prop, args[2] = what, n = 3;
	} else if (!strcmp(id, "ResourceNotFound")) {
		args[0] = what, args[1] = *prop ? prop : "", n = 2;
	} else if (!strcmp(id, "HeaderInvalid") || !strcmp(id, "QueryParameterUnsupported")) {
		args[0] = what, n = 1;
	} else if (!strcmp(id, "QueryParameterValueFormatError")) {
		args[0] = val, args[1] = what, n = 2;
	} else if (!strcmp(id, "QueryParameterOutOfRange")) {
		args[0] = val, args[1] = what, args[2] = prop, n = 3;
	} else if (!strcmp(id, "ResourceAlreadyExists")) {
		args[0] = what, args[1] = prop, args[2] = val, n = 3;
	} else if (!strcmp(id, "ServiceTemporarilyUnavailable")) {
		snprintf(retry, sizeof(retry), "%d", HTTPD_RETRY_AFTER_S);
		args[0] = retry, n = 1;
		ret->retry_after = true;
	}

	struct json_object *msg = httpd_message_object(id, args, n);
	struct json_object *root = json_object_new_object();
	struct json_object *err = json_object_new_object();
	struct json_object *info = json_object_new_array();

	if (!msg || !root || !err || !info) {
		json_object_put(msg);
		json_object_put(root);
		json_object_put(err);
		json_object_put(info);
		return -ENOMEM;
	}
	json_object_object_add(err, "code", json_object_get(json_object_object_get(msg, "MessageId")));
	json_object_object_add(err, "message", json_object_get(json_object_object_get(msg, "Message")));
	json_object_array_add(info, msg);
	json_object_object_add(err, "@Message.ExtendedInfo", info);
	json_object_object_add(root, "error", err);

	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	ret->status = status;
	ret->len = strlen(s);
	ret->body = strdup(s);
	json_object_put(root);
	return ret->body ? 0 : -ENOMEM;
}
