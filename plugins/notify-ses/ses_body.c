/* SES v2 SendEmail JSON (jansson) with a base64 Raw message; see ses_body.h. */
#include "ses_body.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

size_t ses_b64_len(size_t len) { return (len + 2) / 3 * 4; }

static bool tag_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int ses_tag_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!tag_char((unsigned char)s[n]) || n >= SES_TAG_MAX)
			return 0;
	return n > 0;
}

size_t ses_tag_clean(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; in && in[n] && n < SES_TAG_MAX && n + 1 < size; n++)
		out[n] = tag_char((unsigned char)in[n]) ? in[n] : '_';
	if (size)
		out[n] = '\0';
	return n;
}

/* Base64 without line breaks, as the JSON blob wants it. */
static char *b64(const char *data, size_t len)
{
	size_t out_len = ses_b64_len(len);
	if (len > (size_t)INT32_MAX)
		return NULL;
	char *out = malloc(out_len + 1);
	if (!out)
		return NULL;
	/* EVP_EncodeBlock takes an int length: feed it in chunks of 3n bytes. */
	size_t in_off = 0, out_off = 0;
	const size_t chunk = 3u * 1024 * 1024;
	while (in_off < len) {
		size_t n = len - in_off < chunk ? len - in_off : chunk;
		out_off += (size_t)EVP_EncodeBlock((unsigned char *)out + out_off,
						   (const unsigned char *)data + in_off, (int)n);
		in_off += n;
	}
	out[out_off] = '\0';
	return out;
}

static int add_list(json_t *dest, const char *key, char *const *v)
{
	json_t *a = json_array();
	if (!a)
		return -1;
	for (size_t i = 0; v && v[i]; i++)
		if (*v[i] && json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return -1;
		}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return 0;
	}
	return json_object_set_new(dest, key, a);
}

char *ses_body_build(const struct ses_send *s, size_t *len)
{
	char *out = NULL;
	char *data = b64(s->data, s->len);
	json_t *body = json_object(), *dest = json_object(), *tags = json_array();
	if (!data || !body || !dest || !tags)
		goto out;
	if (json_object_set_new(body, "FromEmailAddress", json_string(s->from)) != 0 ||
	    (s->from_arn && *s->from_arn &&
	     json_object_set_new(body, "FromEmailAddressIdentityArn", json_string(s->from_arn)) != 0) ||
	    add_list(dest, "ToAddresses", s->to) != 0 || add_list(dest, "CcAddresses", s->cc) != 0 ||
	    add_list(dest, "BccAddresses", s->bcc) != 0)
		goto out;
	if (json_object_set(body, "Destination", dest) != 0)
		goto out;
	json_t *content = json_pack("{s:{s:s}}", "Raw", "Data", data);
	if (!content || json_object_set_new(body, "Content", content) != 0)
		goto out;
	if (s->config_set && *s->config_set &&
	    json_object_set_new(body, "ConfigurationSetName", json_string(s->config_set)) != 0)
		goto out;
	for (size_t i = 0; i < s->ntags; i++) {
		json_t *t = json_pack("{s:s, s:s}", "Name", s->tags[i].name, "Value", s->tags[i].value);
		if (!t || json_array_append_new(tags, t) != 0)
			goto out;
	}
	if (json_array_size(tags) && json_object_set(body, "EmailTags", tags) != 0)
		goto out;
	out = json_dumps(body, JSON_COMPACT);
	if (out)
		*len = strlen(out);
out:
	free(data);
	json_decref(body);
	json_decref(dest);
	json_decref(tags);
	return out;
}

char *ses_message_id(const unsigned char *body, size_t len)
{
	if (!body)
		return NULL;
	json_t *j = json_loadb((const char *)body, len, 0, NULL);
	const char *id = json_string_value(json_object_get(j, "MessageId"));
	char *r = id && *id ? strdup(id) : NULL;
	json_decref(j);
	return r;
}
