/* A plugin built for another ABI version: the loader must refuse it. */
#include <vmpipe/plugin.h>

static vm_status run(const void *state, vm_job *job)
{
	(void)state;
	(void)job;
	return VM_DONE;
}

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION + 98, /* 99 */
	.kind = VM_STAGE_NOTIFY,
	.name = "test-badabi",
	.summary = "test: wrong ABI version",
	.run = run,
};
