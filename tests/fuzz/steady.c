/*
 * Linked into every fuzz target: what the engine builds does not depend on
 * when or in which process a target runs, so neither does the code it
 * covers.  Coverage steers libFuzzer; with the wall clock (a mail's Date, a
 * page's times) and jansson's random hash seed (the order an object's keys
 * come in) the `make check` smoke (fixed seed, fixed number of runs)
 * explored differently each time and passed or failed by chance.
 */
#include <jansson.h>

#include "core/clock.h"

#define FUZZ_NOW_MS 1733590000000LL /* 2024-12-07T16:46:40Z */

__attribute__((constructor)) static void steady(void)
{
	clock_use_fake(FUZZ_NOW_MS);
	json_object_seed(1); /* before any object is made */
}
