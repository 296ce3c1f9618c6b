/* libFuzzer: event intake must refuse or accept any bytes without crashing. */
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
	char err[1024];
	vm_job *job = event_to_job((const char *)data, size, err, sizeof err);
	if (job) {
		char *s = vm_job_to_json(job);
		free(s);
		job_free(job);
	}
	return 0;
}
