/* libFuzzer: any pipeline file gets a clean list of problems, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0]) {
		log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
		snprintf(path, sizeof path, "/tmp/vmpipe-fuzz-%ld.ini", (long)getpid());
	}
	FILE *f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct diag d = {0};
	/* A plugin dir that does not exist: loading stops at plugin lookup. */
	struct pipeline *p = pipeline_load(path, "/nonexistent", false, &d);
	pipeline_free(p);
	diag_free(&d);
	return 0;
}
