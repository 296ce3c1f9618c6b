/* The flaky test stage (flaky.h) as a transcribe plugin. */
#define FLAKY_NAME "test-flaky-transcribe"
#define FLAKY_KIND VM_STAGE_TRANSCRIBE
#include "flaky.h"
