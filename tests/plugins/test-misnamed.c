/* A plugin whose declared name differs from its file name: refused. */
#include <vmpipe/plugin.h>

static vm_status run(const void *state, vm_job *job)
{
	(void)state;
	(void)job;
	return VM_DONE;
}

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "someone-else",
	.summary = "test: name does not match the file",
	.run = run,
};
