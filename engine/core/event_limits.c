/* Bounds on the fields of an event; see event_limits.h. */
#include "event_limits.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mail/address.h"
#include "mail/vars.h" /* parse_iso8601() */
#include "util.h"

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int too_long(const char *field, size_t len, size_t max, const char *what, char *err,
		    size_t errsize)
{
	snprintf(err, errsize, "%s is %zu bytes; at most %zu (%s)", field, len, max, what);
	return -1;
}

/* An address list: parsed as the mail module will parse it, then counted. */
static int check_recipients(const char *field, const char *list, char *err, size_t errsize)
{
	mail_addrs to = {0};
	char why[300];
	if (addr_parse_list(list, &to, "recipient", why, sizeof why) != 0) {
		addr_list_free(&to); /* the array it grew stays allocated */
		snprintf(err, errsize, "%s: %s", field, why);
		return -1;
	}
	/* The parser has checked each address: one '@', printable ASCII, at most
	 * 254 bytes with a local part of at most 64 (RFC 5321). */
	int rc = 0;
	if (to.n > EV_RECIPIENTS_MAX) {
		snprintf(err, errsize, "%s names %zu addresses; at most %d", field, to.n,
			 EV_RECIPIENTS_MAX);
		rc = -1;
	}
	addr_list_free(&to);
	size_t len = strlen(list); /* 50 sane addresses with long display names */
	if (rc == 0 && len > EV_RECIPIENT_TEXT_MAX)
		return too_long(field, len, EV_RECIPIENT_TEXT_MAX, "a recipient list", err, errsize);
	return rc;
}

/* Contact attributes: string values are kept for plugins (others are not
 * kept, and not checked); keys and values bounded. */
static int check_attributes(const json_t *attrs, const char *field, char *err, size_t errsize)
{
	if (!json_is_object(attrs)) {
		snprintf(err, errsize, "%s must be an object (got %s)", field, type_name(attrs));
		return -1;
	}
	size_t n = 0, bytes = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)attrs, k, v)
	{
		if (!json_is_string(v))
			continue;
		size_t kl = strlen(k);
		if (kl == 0 || kl > EV_ATTR_KEY_MAX) {
			snprintf(err, errsize, "%s: an attribute name is %zu bytes; 1 to %d", field, kl,
				 EV_ATTR_KEY_MAX);
			return -1;
		}
		bytes += kl + json_string_length(v);
		if (++n > EV_ATTRS_MAX) {
			snprintf(err, errsize, "%s holds more than %d attributes", field, EV_ATTRS_MAX);
			return -1;
		}
	}
	if (bytes > EV_ATTRS_BYTES_MAX)
		return too_long(field, bytes, EV_ATTRS_BYTES_MAX, "names and values",
				err, errsize);
	return 0;
}

int ev_check(enum ev_kind kind, const json_t *v, const char *field, char *err, size_t errsize)
{
	if (!v || json_is_null(v))
		return 0;
	if (kind == EV_ATTRIBUTES)
		return check_attributes(v, field, err, errsize);
	if (!json_is_string(v)) {
		snprintf(err, errsize, "%s must be a string (got %s)", field, type_name(v));
		return -1;
	}
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (strlen(s) != len) {
		snprintf(err, errsize, "%s holds a NUL character", field);
		return -1;
	}
	if (len == 0)
		return 0; /* empty is absent, as Connect writes an unset attribute */
	switch (kind) {
	case EV_CALLER:
		return len > EV_CALLER_MAX ? too_long(field, len, EV_CALLER_MAX, "a caller id", err, errsize) : 0;
	case EV_NAME:
		return len > EV_NAME_MAX ? too_long(field, len, EV_NAME_MAX, "a name", err, errsize) : 0;
	case EV_ARN:
		return len > EV_ARN_MAX ? too_long(field, len, EV_ARN_MAX, "an ARN", err, errsize) : 0;
	case EV_URI:
		return len > EV_URI_MAX ? too_long(field, len, EV_URI_MAX, "a recording URI", err, errsize) : 0;
	case EV_ID:
	case EV_TENANT:
	case EV_REGION: {
		size_t max = kind == EV_ID ? 128 : kind == EV_TENANT ? 64 : 32;
		if (is_plain_name(s, max))
			return 0;
		snprintf(err, errsize, "%s is not a plain %s (letters, digits, '-', '_', '.'; at most %zu)",
			 field, kind == EV_ID ? "id" : "name", max);
		return -1;
	}
	case EV_TIME: {
		int64_t ms;
		if (len <= 40 && parse_iso8601(s, &ms))
			return 0;
		snprintf(err, errsize, "%s is not an ISO 8601 time such as 2024-12-11T15:30:05Z", field);
		return -1;
	}
	case EV_RECIPIENTS:
		return check_recipients(field, s, err, errsize);
	case EV_ATTRIBUTES:
		break;
	}
	return 0;
}
