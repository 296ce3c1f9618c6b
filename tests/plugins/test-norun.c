/* A plugin without a run callback: refused at load. */
#include <vmpipe/plugin.h>

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "test-norun",
	.summary = "test: no run callback",
};
