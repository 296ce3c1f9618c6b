/* E.164 numbers; see phone.h. */
#include "phone.h"

#include <stdio.h>
#include <string.h>

bool sms_e164(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	size_t n = 0;
	for (const char *p = s + 1; *p; p++, n++)
		if (*p < '0' || *p > '9' || n >= 15)
			return false;
	return n >= 2;
}

void sms_mask(const char *number, char *buf, size_t size)
{
	size_t n = number ? strlen(number) : 0;
	if (n <= 6 || !sms_e164(number))
		snprintf(buf, size, "(%zu characters)", n);
	else
		snprintf(buf, size, "%.3s\xE2\x80\xA6%s", number, number + n - 2);
}

int sms_recipients(const char *list, char out[][17], char *why, size_t size)
{
	int count = 0;
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		size_t n = strcspn(p, ",");
		size_t t = n;
		while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
			t--;
		if (t) {
			char num[64], shown[40];
			snprintf(num, sizeof num, "%.*s", (int)(t < 63 ? t : 63), p);
			if (t > 16 || !sms_e164(num)) {
				sms_mask(num, shown, sizeof shown);
				snprintf(why, size, "'%s' is not an E.164 phone number (+ and 2-15 digits, "
					 "no spaces)", t > 16 ? "(too long)" : shown);
				return -1;
			}
			bool dup = false;
			for (int i = 0; i < count; i++)
				dup |= strcmp(out[i], num) == 0;
			if (!dup) {
				if (count == SMS_RECIPIENTS_MAX) {
					snprintf(why, size, "more than %d SMS recipients", SMS_RECIPIENTS_MAX);
					return -1;
				}
				memcpy(out[count], num, t + 1);
				count++;
			}
		}
		p += n;
	}
	return count;
}

/* The next item of a comma list: [*b, *e), trimmed; false at the end. */
static bool next_item(const char **p, const char **b, const char **e)
{
	while (**p == ' ' || **p == ',' || **p == '\t')
		(*p)++;
	if (!**p)
		return false;
	*b = *p;
	*p += strcspn(*p, ",");
	*e = *p;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
	return true;
}

bool sms_prefix_allowed(const char *number, const char *prefixes)
{
	const char *p = prefixes ? prefixes : "", *b, *e;
	bool any = false;
	while (next_item(&p, &b, &e)) {
		any = true;
		if (strncmp(number, b, (size_t)(e - b)) == 0)
			return true;
	}
	return !any;
}

int sms_prefixes_check(const char *prefixes, char *why, size_t size)
{
	const char *p = prefixes ? prefixes : "", *b, *e;
	while (next_item(&p, &b, &e)) {
		size_t n = (size_t)(e - b);
		bool ok = n >= 2 && n <= 16 && b[0] == '+' && b[1] >= '1' && b[1] <= '9';
		for (size_t i = 1; ok && i < n; i++)
			ok = b[i] >= '0' && b[i] <= '9';
		if (!ok) {
			snprintf(why, size, "'%.*s' is not an E.164 prefix (+ and 1-15 digits)",
				 (int)(n < 40 ? n : 40), b);
			return -1;
		}
	}
	return 0;
}
