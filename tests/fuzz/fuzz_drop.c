/*
 * libFuzzer: what `vmpipe serve` makes of a file dropped into its spool
 * (engine/runtime/serve/drop.c): a retry request, an event, a voicemail
 * mail, or refused.  Anyone in the spool's group writes these bytes.
 * Properties: a refusal has a reason; a retry names a plain id; an event's
 * job has a plain id and starts from the beginning (no stage, no
 * notification, no located-file identity taken from outside); a mail's job
 * has a name for its audio that stays one file name in recordings/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "fuzz.h"
#include "runtime/serve/drop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
	char err[1024] = "";
	struct drop d;
	enum drop_kind k = drop_parse((const char *)data, size, &d, err, sizeof err);
	switch (k) {
	case DROP_BAD:
		CHECK(*err, "a refusal without a reason");
		CHECK(!d.job, "a refusal with a job");
		break;
	case DROP_RETRY:
		CHECK(is_plain_name(d.retry_id, 128), "a retry of an id that is not plain");
		break;
	case DROP_EVENT: {
		const char *id = vm_job_id(d.job);
		CHECK(id && is_plain_name(id, 128), "an event whose job has no plain id");
		CHECK(!vm_job_get_str(d.job, "recording.file_id") && !vm_job_get_str(d.job, "stages.locate"),
		      "an event that brought its own located recording");
		json_t *n = job_get(d.job, "notifications");
		CHECK(!n || json_array_size(n) == 0, "an event that brought notifications");
		break;
	}
	case DROP_MAIL:
		/* The name becomes part of a file name in recordings/. */
		CHECK(d.mail.job && (!d.mail.audio || (d.mail.audio_name[0] && d.mail.audio_name[0] != '.' &&
							!strchr(d.mail.audio_name, '/'))),
		      "a mail without a usable name for its audio (%s)", d.mail.audio_name);
		break;
	}
	drop_free(&d);
	return 0;
}
