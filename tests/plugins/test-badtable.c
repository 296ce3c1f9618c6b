/*
 * A plugin whose option table is wrong: an option declared twice, one
 * stored beyond the declared state, an enum without choices.  The engine
 * must refuse it before writing into the state.
 */
#include <vmpipe/plugin.h>

struct small {
	int64_t a;
};

static vm_status run(const void *state, vm_job *job)
{
	(void)state;
	(void)job;
	return VM_DONE;
}

static const vm_option options[] = {
	{"a", VM_OPT_INT, "1", false, offsetof(struct small, a), "fits", NULL},
	{"a", VM_OPT_INT, "2", false, offsetof(struct small, a), "declared twice", NULL},
	{"far", VM_OPT_INT, "3", false, sizeof(struct small) + 64, "beyond the state", NULL},
	{"pick", VM_OPT_ENUM, NULL, false, VM_OPT_NOSTORE, "no choices", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "test-badtable",
	.summary = "test: broken option table",
	.options = options,
	.state_size = sizeof(struct small),
	.run = run,
};
