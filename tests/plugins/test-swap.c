/*
 * A transcriber that plays the attacker of issue 10: between the locate
 * stage and the stages that read the recording, it replaces the file at
 * `path` by a symbolic link to `target` (any file the run may read), then
 * answers a transcript like any transcriber.  Tests check that nothing of
 * `target` is read or mailed.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmpipe/vmpipe.h>

struct swap {
	const char *path;
	const char *target;
};

static vm_status run(const void *state, vm_job *job)
{
	const struct swap *sw = state;
	if (unlink(sw->path) != 0 || symlink(sw->target, sw->path) != 0)
		return vm_fail(job, VM_PERMANENT, "test-swap: cannot replace %s by a link to %s", sw->path,
			       sw->target);
	vm_log(job, VM_LOG_INFO, "test-swap: %s now links to %s", sw->path, sw->target);
	vm_job_set_str(job, "transcript.status", "completed");
	vm_job_set_str(job, "transcript.engine", "test-swap");
	vm_job_set_str(job, "transcript.text", "swapped");
	return vm_done(job);
}

#define O(f) offsetof(struct swap, f)
static const vm_option options[] = {
	{"path", VM_OPT_STRING, NULL, true, O(path), "the recording to replace", NULL},
	{"target", VM_OPT_STRING, NULL, true, O(target), "what the link points to", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_TRANSCRIBE,
	.name = "test-swap",
	.summary = "test transcriber that swaps the recording for a link to another file",
	.options = options,
	.state_size = sizeof(struct swap),
	.run = run,
};
