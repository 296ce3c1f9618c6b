/* libFuzzer: a PBX's mail on stdin (vmpipe sendmail) must be taken or refused
 * with a reason, never crash, whatever its headers and MIME structure. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "mail/pbxmail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
	static char *const rcpt[] = {"owner@example.com", NULL};
	char err[700];
	struct pbxmail m;
	if (pbxmail_parse((const char *)data, size, rcpt, "1000@pbx.example.org", &m, err, sizeof err) ==
	    PBXMAIL_VOICEMAIL) {
		char *s = vm_job_to_json(m.job);
		free(s);
		pbxmail_free(&m);
	}
	return 0;
}
