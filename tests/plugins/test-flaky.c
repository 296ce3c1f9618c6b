/* The flaky test stage (flaky.h) as a notify plugin. */
#define FLAKY_NAME "test-flaky"
#define FLAKY_KIND VM_STAGE_NOTIFY
#include "flaky.h"
