/* messages.c — every error the server answers goes through here, and
 * every Base registry message it sends is written here once.
 *
 * Two vocabularies, kept apart:
 *   - httpd's own conditions (a missing header, a bad password length, no
 *     session) name the Base message they send: enum httpd_msg, one row of
 *     base_msgs each, holding the id, the usual HTTP status, the texts of
 *     the DMTF Base registry (Base.1.22.1) and where each %N argument comes
 *     from. Grepping HTTPD_MSG_X finds every place that sends X.
 *   - errors of the tree and of the back ends (-errno from a provider, a
 *     device or a BMC) go through kind_table (the tree's struct rf_error
 *     kinds) and errno_table: a back end that timed out is 504, one that
 *     cannot be reached is 503 (with Retry-After), one that answered
 *     garbage or failed is 502 — never a client error, never 500.
 * Arguments are filled from the fault; no password or token ever reaches
 * a fault. Pure functions; thread-safe. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BASE_REGISTRY "Base.1.22.1"

/* Where a message argument comes from. */
enum msg_arg {
	A_NONE,
	A_VALUE,       /* f->e.value */
	A_PROP,        /* f->e.property */
	A_WHAT,        /* f->what */
	A_RETRY,       /* HTTPD_RETRY_AFTER_S */
};

struct msg_def {
	const char *id;
	unsigned status;               /* the usual HTTP status (a fault may say another) */
	enum msg_arg args[3];          /* in the registry's order; A_NONE ends */
	const char *severity;
	const char *text;
	const char *resolution;
};

static const struct msg_def base_msgs[] = {
	[HTTPD_MSG_SUCCESS] = { "Success", 200, { A_NONE },
	  "OK", "The request completed successfully.", "None." },
	[HTTPD_MSG_CREATED] = { "Created", 201, { A_NONE },
	  "OK", "The resource was created successfully.", "None." },
	[HTTPD_MSG_NO_OPERATION] = { "NoOperation", 200, { A_NONE }, "Warning",
	  "The request body submitted contain no data to act upon and no changes to the resource took place.",
	  "Add properties in the JSON object and resubmit the request." },
	[HTTPD_MSG_MALFORMED_JSON] = { "MalformedJSON", 400, { A_NONE }, "Critical",
	  "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
	  "Ensure that the request body is valid JSON and resubmit the request." },
	[HTTPD_MSG_PROPERTY_VALUE_NOT_IN_LIST] = { "PropertyValueNotInList", 400, { A_VALUE, A_PROP },
	  "Warning",
	  "The value '%1' for the property %2 is not in the list of acceptable values.",
	  "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed." },
	[HTTPD_MSG_PROPERTY_VALUE_TYPE_ERROR] = { "PropertyValueTypeError", 400, { A_VALUE, A_PROP },
	  "Warning",
	  "The value '%1' for the property %2 is not a type that the property can accept.",
	  "Correct the value for the property in the request body and resubmit the request if the operation failed." },
	[HTTPD_MSG_PROPERTY_VALUE_FORMAT_ERROR] = { "PropertyValueFormatError", 400, { A_VALUE, A_PROP },
	  "Warning",
	  "The value '%1' for the property %2 is not a format that the property can accept.",
	  "Correct the value for the property in the request body and resubmit the request if the operation failed." },
	[HTTPD_MSG_PROPERTY_NOT_WRITABLE] = { "PropertyNotWritable", 400, { A_PROP }, "Warning",
	  "The property %1 is a read-only property and cannot be assigned a value.",
	  "Remove the property from the request body and resubmit the request if the operation failed." },
	[HTTPD_MSG_PROPERTY_UNKNOWN] = { "PropertyUnknown", 400, { A_PROP }, "Warning",
	  "The property %1 is not in the list of valid properties for the resource.",
	  "Remove the unknown property from the request body and resubmit the request if the operation failed." },
	[HTTPD_MSG_PROPERTY_MISSING] = { "PropertyMissing", 400, { A_PROP }, "Warning",
	  "The property %1 is a required property and must be included in the request.",
	  "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed." },
	[HTTPD_MSG_ACTION_PARAMETER_MISSING] = { "ActionParameterMissing", 400, { A_WHAT, A_PROP },
	  "Critical",
	  "The action %1 requires the parameter %2 to be present in the request body.",
	  "Supply the action with the required parameter in the request body when the request is resubmitted." },
	[HTTPD_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST] = { "ActionParameterValueNotInList", 400, { A_VALUE, A_PROP, A_WHAT },
	  "Warning",
	  "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable values.",
	  "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed." },
	[HTTPD_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR] = { "ActionParameterValueTypeError", 400, { A_VALUE, A_PROP, A_WHAT },
	  "Warning",
	  "The value '%1' for the parameter %2 in the action %3 is not a type that the parameter can accept.",
	  "Correct the value for the parameter in the request body and resubmit the request if the operation failed." },
	[HTTPD_MSG_ACTION_PARAMETER_UNKNOWN] = { "ActionParameterUnknown", 400, { A_WHAT, A_PROP },
	  "Warning",
	  "The action %1 was submitted with the invalid parameter %2.",
	  "Correct the invalid action parameter and resubmit the request if the operation failed." },
	[HTTPD_MSG_RESOURCE_NOT_FOUND] = { "ResourceNotFound", 404, { A_WHAT, A_PROP }, "Critical",
	  "The requested resource of type %1 named '%2' was not found.",
	  "Provide a valid resource identifier and resubmit the request." },
	[HTTPD_MSG_OPERATION_NOT_ALLOWED] = { "OperationNotAllowed", 405, { A_NONE }, "Critical",
	  "The HTTP method is not allowed on this resource.", "None." },
	[HTTPD_MSG_NO_VALID_SESSION] = { "NoValidSession", 401, { A_NONE }, "Critical",
	  "There is no valid session established with the implementation.",
	  "Establish a session before attempting any operations." },
	[HTTPD_MSG_INSUFFICIENT_PRIVILEGE] = { "InsufficientPrivilege", 403, { A_NONE }, "Critical",
	  "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.",
	  "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed." },
	[HTTPD_MSG_PRECONDITION_FAILED] = { "PreconditionFailed", 412, { A_NONE }, "Critical",
	  "The ETag supplied did not match the ETag required to change this resource.",
	  "Try the operation again using the appropriate ETag." },
	[HTTPD_MSG_HEADER_INVALID] = { "HeaderInvalid", 400, { A_WHAT },
	  "Critical", "Header '%1' is invalid.",
	  "Resubmit the request with a valid request header." },
	[HTTPD_MSG_PAYLOAD_TOO_LARGE] = { "PayloadTooLarge", 413, { A_NONE }, "Critical",
	  "The supplied payload exceeds the maximum size supported by the service.",
	  "Check that the supplied payload is correct and supported by this service." },
	[HTTPD_MSG_QUERY_PARAMETER_UNSUPPORTED] = { "QueryParameterUnsupported", 501, { A_WHAT },
	  "Warning", "Query parameter '%1' is not supported.",
	  "Correct or remove the query parameter and resubmit the request." },
	[HTTPD_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR] = { "QueryParameterValueFormatError", 400, { A_VALUE, A_WHAT },
	  "Warning",
	  "The value '%1' for the parameter %2 is not a format that the parameter can accept.",
	  "Correct the value for the query parameter in the request and resubmit the request if "
	  "the operation failed." },
	[HTTPD_MSG_QUERY_PARAMETER_OUT_OF_RANGE] = { "QueryParameterOutOfRange", 400, { A_VALUE, A_WHAT, A_PROP },
	  "Warning",
	  "The value '%1' for the query parameter %2 is out of range %3.",
	  "Reduce the value for the query parameter to a value that is within range, such as a "
	  "start or count value that is within bounds of the number of resources in a collection "
	  "or a page number that is within the range of valid pages." },
	[HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE] = { "ServiceTemporarilyUnavailable", 503, { A_RETRY },
	  "Critical",
	  "The service is temporarily unavailable.  Retry in %1 seconds.",
	  "Wait for the indicated retry duration and retry the operation." },
	[HTTPD_MSG_OPERATION_TIMEOUT] = { "OperationTimeout", 504, { A_NONE }, "Warning",
	  "A timeout internal to the service occurred as part of the request.  Partial results may have been returned.",
	  "Resubmit the request.  If the problem persists, consider resetting the service or provider." },
	[HTTPD_MSG_OPERATION_FAILED] = { "OperationFailed", 502, { A_NONE }, "Warning",
	  "An error occurred internal to the service as part of the overall request.  Partial results may have been returned.",
	  "Resubmit the request.  If the problem persists, consider resetting the service or provider." },
	[HTTPD_MSG_INTERNAL_ERROR] = { "InternalError", 500, { A_NONE }, "Critical",
	  "The request failed due to an internal service error.  The service is still operational.",
	  "Resubmit the request.  If the problem persists, consider resetting the service." },
	[HTTPD_MSG_GENERAL_ERROR] = { "GeneralError", 400, { A_NONE }, "Critical",
	  "A general error has occurred.  See Resolution for information on how to resolve the error, or @Message.ExtendedInfo if Resolution is not provided.",
	  "None." },
	[HTTPD_MSG_RESOURCE_ALREADY_EXISTS] = { "ResourceAlreadyExists", 409, { A_WHAT, A_PROP, A_VALUE },
	  "Critical",
	  "The requested resource of type %1 with the property %2 with the value '%3' already exists.",
	  "Do not repeat the create operation as the resource was already created." },
	[HTTPD_MSG_RESOURCE_IN_USE] = { "ResourceInUse", 409, { A_NONE }, "Warning",
	  "The change to the requested resource failed because the resource is in use or in transition.",
	  "Remove the condition and resubmit the request if the operation failed." },
	[HTTPD_MSG_PASSWORD_INCORRECT_LENGTH] = { "PasswordIncorrectLength", 400, { A_NONE },
	  "Critical",
	  "The password provided for this account does not meet the password length requirements of the service.",
	  "Resubmit the request with a password that meets the password length requirements as "
	  "specified by the `MinPasswordLength` and `MaxPasswordLength` properties in the "
	  "`AccountService` resource." },
	[HTTPD_MSG_SESSION_LIMIT_EXCEEDED] = { "SessionLimitExceeded", 503, { A_NONE }, "Critical",
	  "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.",
	  "Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions, if supported." },
	[HTTPD_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE] = { "CreateLimitReachedForResource", 503,
	  { A_NONE }, "Critical",
	  "The create operation failed because the resource has reached the limit of possible resources.",
	  "Either delete resources and resubmit the request if the operation failed or do not resubmit the request." },
	[HTTPD_MSG_SESSION_TERMINATED] = { "SessionTerminated", 200, { A_NONE },
	  "OK", "The session was successfully terminated.", "None." },
};

const char *httpd_msg_id(enum httpd_msg m)
{
	return m > HTTPD_MSG_NONE && m < HTTPD_MSG_COUNT ? base_msgs[m].id : NULL;
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

struct json_object *httpd_message_object(enum httpd_msg id, const char *const *args, size_t n)
{
	const struct msg_def *m = &base_msgs[httpd_msg_id(id) ? id : HTTPD_MSG_GENERAL_ERROR];
	struct json_object *o, *a;
	size_t nargs = 0;
	char full[96];
	char *text;

	while (nargs < ARRAY_SIZE(m->args) && m->args[nargs] != A_NONE)
		nargs++;
	if (n > nargs)
		n = nargs;
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

/* Errors of the tree and of the back ends: -errno -> status + message,
 * where the tree's kind does not decide. The tree's own answers first, then
 * what a device or a BMC did: unreachable or busy 503 (retry later), timed
 * out 504, anything else it did wrong 502. An errno not here is a fault of
 * this service: 500 InternalError. */
static const struct {
	int err;
	unsigned status;
	enum httpd_msg msg;
} errno_table[] = {
	/* the tree and the providers' checks */
	{ ENOENT, 404, HTTPD_MSG_RESOURCE_NOT_FOUND },
	{ EACCES, 405, HTTPD_MSG_OPERATION_NOT_ALLOWED },
	{ EOPNOTSUPP, 405, HTTPD_MSG_OPERATION_NOT_ALLOWED },
	{ EPERM, 403, HTTPD_MSG_INSUFFICIENT_PRIVILEGE },
	{ EINVAL, 400, HTTPD_MSG_GENERAL_ERROR },
	{ ESTALE, 412, HTTPD_MSG_PRECONDITION_FAILED },
	{ EBUSY, 409, HTTPD_MSG_RESOURCE_IN_USE },
	/* a device or a BMC that cannot be reached, or is busy: retry later */
	{ EHOSTUNREACH, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	{ EHOSTDOWN, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	{ ENETUNREACH, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	{ ECONNREFUSED, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	{ EAGAIN, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	{ ECANCELED, 503, HTTPD_MSG_SERVICE_TEMPORARILY_UNAVAILABLE },
	/* one that did not answer in time */
	{ ETIMEDOUT, 504, HTTPD_MSG_OPERATION_TIMEOUT },
	/* one that answered wrong: garbage, TLS, a failure of its own */
	{ EIO, 502, HTTPD_MSG_OPERATION_FAILED },
	{ EBADMSG, 502, HTTPD_MSG_OPERATION_FAILED },
	{ EPROTO, 502, HTTPD_MSG_OPERATION_FAILED },
	{ EPROTONOSUPPORT, 502, HTTPD_MSG_OPERATION_FAILED },
	{ ECONNRESET, 502, HTTPD_MSG_OPERATION_FAILED },
	{ EPIPE, 502, HTTPD_MSG_OPERATION_FAILED },
	{ EFBIG, 502, HTTPD_MSG_OPERATION_FAILED },
	{ ENAMETOOLONG, 502, HTTPD_MSG_OPERATION_FAILED },
	{ ENOSPC, 502, HTTPD_MSG_OPERATION_FAILED },
};

/* struct rf_error kinds -> message (kinds decide before errno). */
static const enum httpd_msg kind_table[] = {
	[RF_ERR_NOT_FOUND] = HTTPD_MSG_RESOURCE_NOT_FOUND,
	[RF_ERR_PROP_UNKNOWN] = HTTPD_MSG_PROPERTY_UNKNOWN,
	[RF_ERR_PROP_NOT_WRITABLE] = HTTPD_MSG_PROPERTY_NOT_WRITABLE,
	[RF_ERR_PROP_VALUE] = HTTPD_MSG_PROPERTY_VALUE_NOT_IN_LIST,
	[RF_ERR_PROP_TYPE] = HTTPD_MSG_PROPERTY_VALUE_TYPE_ERROR,
	[RF_ERR_PARAM_MISSING] = HTTPD_MSG_ACTION_PARAMETER_MISSING,
	[RF_ERR_PARAM_VALUE] = HTTPD_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST,
	[RF_ERR_PARAM_TYPE] = HTTPD_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR,
	[RF_ERR_PARAM_UNKNOWN] = HTTPD_MSG_ACTION_PARAMETER_UNKNOWN,
	[RF_ERR_MALFORMED] = HTTPD_MSG_MALFORMED_JSON,
	[RF_ERR_STALE] = HTTPD_MSG_PRECONDITION_FAILED,
};

/* The message and status a fault is answered with. */
static enum httpd_msg fault_decide(const struct httpd_fault *f, unsigned *ret_status)
{
	if (f->msg > HTTPD_MSG_NONE && f->msg < HTTPD_MSG_COUNT) {
		*ret_status = f->status ? f->status : base_msgs[f->msg].status;
		return f->msg;
	}
	if (f->e.kind > RF_ERR_NONE && (size_t)f->e.kind < ARRAY_SIZE(kind_table) &&
	    kind_table[f->e.kind]) {
		*ret_status = base_msgs[kind_table[f->e.kind]].status;
		return kind_table[f->e.kind];
	}
	/* A read-only property named by the tree without its kind. */
	if (f->err == -EACCES && f->e.property[0]) {
		*ret_status = 400;
		return HTTPD_MSG_PROPERTY_NOT_WRITABLE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(errno_table); i++)
		if (-errno_table[i].err == f->err) {
			*ret_status = errno_table[i].status;
			return errno_table[i].msg;
		}
	*ret_status = 500;
	return HTTPD_MSG_INTERNAL_ERROR;
}

int httpd_fault_render(const struct httpd_fault *f, struct httpd_status *ret)
{
	const char *args[3] = { NULL, NULL, NULL };
	char retry[16];
	unsigned status;
	enum httpd_msg id = fault_decide(f, &status);
	const struct msg_def *m = &base_msgs[id];
	size_t n;

	snprintf(retry, sizeof(retry), "%d", HTTPD_RETRY_AFTER_S);
	ret->retry_after = false;
	for (n = 0; n < ARRAY_SIZE(m->args) && m->args[n] != A_NONE; n++) {
		switch (m->args[n]) {
		case A_VALUE:
			args[n] = f->e.value;
			break;
		case A_PROP:
			args[n] = f->e.property;
			break;
		case A_WHAT:
			args[n] = f->what ? f->what : "";
			break;
		case A_RETRY:
			args[n] = retry;
			ret->retry_after = true;
			break;
		case A_NONE:
			break;
		}
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
	ret->id = m->id;
	ret->len = strlen(s);
	ret->body = strdup(s);
	json_object_put(root);
	return ret->body ? 0 : -ENOMEM;
}
