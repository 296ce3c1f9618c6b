/* libFuzzer: any pipeline file gets a clean list of problems, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pipeline.h"

static char path[4096];

static void remove_input(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		log_setup(VM_LOG_ERROR + 0, LOG_FORMAT_JSON);
		/* tests/fuzz/run.sh points this into build/fuzz: never /tmp. */
		const char *t = getenv("VMPIPE_FUZZ_TMP");
		snprintf(path, sizeof path, "%s/vmpipe-fuzz-%ld.ini", t && *t ? t : ".", (long)getpid());
		atexit(remove_input);
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
