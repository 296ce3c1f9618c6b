/* The flaky test stage (flaky.h) as a locate plugin. */
#define FLAKY_NAME "test-flaky-locate"
#define FLAKY_KIND VM_STAGE_LOCATE
#include "flaky.h"
