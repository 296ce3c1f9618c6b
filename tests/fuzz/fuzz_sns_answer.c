/*
 * libFuzzer: notify-sms's reader of SNS Publish answers
 * (plugins/notify-sms/sns_xml.c), on any body an endpoint could send back.
 *
 * Input: the answer's body.
 * Properties, besides no crash, leak or UB:
 *  - an id only from a body that names a MessageId element at all (the
 *    bytes "MessageId" occur in it);
 *  - an id is 1-199 bytes with no NUL, and the same body gives the same id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/notify-sms/sns_xml.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *id = sms_sns_message_id(data, size);
	if (!id)
		return 0;
	size_t n = strlen(id);
	CHECK(n >= 1 && n <= 199, "an id of %zu bytes", n);
	CHECK(memmem(data, size, "MessageId", 9) != NULL, "an id from a body without MessageId");
	char *again = sms_sns_message_id(data, size);
	CHECK(again && strcmp(again, id) == 0, "a second read gave another id");
	free(again);
	free(id);
	return 0;
}
