/*
 * notify-connect-task: text limits and identifiers of Amazon Connect, as
 * botocore's connect 2017-08-08 model states them (Name 0-512, Description
 * 0-4096, ReferenceValue 0-4096 characters; InstanceId 1-100; ClientToken up
 * to 500) and the Amazon Connect quotas page (32,768 UTF-8 bytes across all
 * attributes of a contact).
 */
#ifndef NOTIFY_CONNECT_TASK_TEXT_H
#define NOTIFY_CONNECT_TASK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define CT_NAME_MAX 512
#define CT_DESCRIPTION_MAX 4096
#define CT_REFERENCE_MAX 4096
#define CT_ATTRIBUTES_BYTES 32768
#define CT_ID_MAX 100

/* Code points of UTF-8 `s` (bytes that do not start a sequence are not counted). */
size_t ct_chars(const char *s);

/*
 * `s` made to hold at most `max` code points: unchanged when it does; else cut
 * at a word boundary (or, without one near, between two characters, never
 * inside one) and `note` appended, the whole within `max`.  malloc()ed; NULL
 * when out of memory.
 */
char *ct_fit(const char *s, size_t max, const char *note);

/* "arn:aws:connect:REGION:ACCOUNT:instance/ID[/…]" -> ID (or REGION) into
 * buf; 0, or -1 when `arn` is not a Connect instance ARN. */
int ct_arn_instance(const char *arn, char *buf, size_t size);
int ct_arn_region(const char *arn, char *buf, size_t size);

/* The last path element of an ARN ("…/contact-flow/ID" -> ID), or `s` itself
 * when it is no ARN, into buf.  0, or -1 when empty or too long. */
int ct_resource_id(const char *s, char *buf, size_t size);

/* An Amazon Connect user id: a UUID (8-4-4-4-12 hex digits). */
bool ct_is_uuid(const char *s);

/* An id fit for a JSON field and a log line: 1-100 of [A-Za-z0-9_:/.-]. */
bool ct_id_ok(const char *s);

#endif
