/* Text limits and Connect identifiers; see task_text.h. */
#include "task_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t ct_chars(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += !cont((unsigned char)*s);
	return n;
}

/* Byte offset of the `k`-th code point of s (or its end). */
static size_t offset_of(const char *s, size_t k)
{
	size_t i = 0;
	while (s[i] && k) {
		i++;
		while (s[i] && cont((unsigned char)s[i]))
			i++;
		k--;
	}
	return i;
}

char *ct_fit(const char *s, size_t max, const char *note)
{
	if (!s)
		s = "";
	if (ct_chars(s) <= max)
		return strdup(s);
	size_t nchars = ct_chars(note);
	size_t keep = nchars < max ? max - nchars : 0;
	size_t cut = offset_of(s, keep);
	/* Back to a word boundary when one is near (at most 40 bytes back). */
	for (size_t back = 0; back < 40 && back < cut; back++)
		if (s[cut - back] == ' ' || s[cut - back] == '\n') {
			cut -= back;
			break;
		}
	while (cut && (s[cut - 1] == ' ' || s[cut - 1] == '\n'))
		cut--;
	size_t nl = strlen(note);
	char *out = malloc(cut + nl + 1);
	if (!out)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, note, nl + 1);
	if (ct_chars(out) > max) /* a note longer than max: the note cut */
		out[offset_of(out, max)] = '\0';
	return out;
}

/* The n-th ':'-field of an ARN (0: "arn") as [*b, *e). */
static int arn_field(const char *arn, int n, const char **b, const char **e)
{
	const char *p = arn;
	for (int i = 0; i < n; i++) {
		p = strchr(p, ':');
		if (!p)
			return -1;
		p++;
	}
	const char *q = strchr(p, ':');
	*b = p;
	*e = q && n < 5 ? q : p + strlen(p);
	return 0;
}

static int copy(const char *b, const char *e, char *buf, size_t size)
{
	size_t n = (size_t)(e - b);
	if (n == 0 || n >= size)
		return -1;
	memcpy(buf, b, n);
	buf[n] = '\0';
	return 0;
}

static bool connect_arn(const char *arn)
{
	return arn && strncmp(arn, "arn:", 4) == 0 && strstr(arn, ":connect:") != NULL;
}

int ct_arn_region(const char *arn, char *buf, size_t size)
{
	const char *b, *e;
	if (!connect_arn(arn) || arn_field(arn, 3, &b, &e) != 0)
		return -1;
	return copy(b, e, buf, size);
}

int ct_arn_instance(const char *arn, char *buf, size_t size)
{
	const char *b, *e;
	if (!connect_arn(arn) || arn_field(arn, 5, &b, &e) != 0 || strncmp(b, "instance/", 9) != 0)
		return -1;
	b += 9;
	const char *slash = memchr(b, '/', (size_t)(e - b));
	if (copy(b, slash ? slash : e, buf, size) != 0)
		return -1;
	return ct_id_ok(buf) ? 0 : -1;
}

int ct_resource_id(const char *s, char *buf, size_t size)
{
	if (!s || !*s)
		return -1;
	const char *b = s;
	if (strncmp(s, "arn:", 4) == 0) {
		const char *slash = strrchr(s, '/');
		if (!slash)
			return -1;
		b = slash + 1;
	}
	if (copy(b, b + strlen(b), buf, size) != 0)
		return -1;
	return ct_id_ok(buf) ? 0 : -1;
}

bool ct_is_uuid(const char *s)
{
	static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (!s || strlen(s) != sizeof form - 1)
		return false;
	for (size_t i = 0; form[i]; i++)
		if (form[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

bool ct_id_ok(const char *s)
{
	size_t n = 0;
	for (; s && s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!isalnum(c) && !strchr("_:/.-", c))
			return false;
	}
	return n > 0 && n <= CT_ID_MAX;
}
