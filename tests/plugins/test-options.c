/*
 * A notifier with one option of every type, for the loader tests: run()
 * copies what the engine stored in the state into the job record (opts.*),
 * so a test sees exactly what the option table produced.
 */
#include <vmpipe/vmpipe.h>

struct opts {
	const char *name;
	int64_t count;
	bool flag;
	int64_t wait_ms;
	int64_t max;
	int color;
	const char *note;
	const char *raw; /* vm_stage_option() of the NOSTORE option, kept by init */
};

static int init(vm_stage *stage, void *state)
{
	struct opts *o = state;
	/* vmpipe-plugin(7): a required string option is never NULL in init(). */
	if (!o->name) {
		vm_stage_error(stage, "required option 'name' is NULL in init()");
		return -1;
	}
	o->raw = vm_stage_option(stage, "raw");
	return 0;
}

static vm_status run(const void *state, vm_job *job)
{
	const struct opts *o = state;
	vm_job_set_str(job, "opts.name", o->name);
	vm_job_set_int(job, "opts.count", o->count);
	vm_job_set_bool(job, "opts.flag", o->flag);
	vm_job_set_int(job, "opts.wait_ms", o->wait_ms);
	vm_job_set_int(job, "opts.max", o->max);
	vm_job_set_int(job, "opts.color", o->color);
	vm_job_set_bool(job, "opts.note_set", o->note != NULL);
	vm_job_set_str(job, "opts.raw", o->raw);
	return vm_done(job);
}

#define O(f) offsetof(struct opts, f)
static const vm_option options[] = {
	{"name", VM_OPT_STRING, NULL, true, O(name), "a required string", NULL},
	{"count", VM_OPT_INT, "3", false, O(count), "an integer", NULL},
	{"flag", VM_OPT_BOOL, "no", false, O(flag), "a boolean", NULL},
	{"wait", VM_OPT_DURATION, "70s", false, O(wait_ms), "a duration", NULL},
	{"max", VM_OPT_SIZE, "64k", false, O(max), "a size", NULL},
	{"color", VM_OPT_ENUM, "green", false, O(color), "an enum", "red|green|blue"},
	{"note", VM_OPT_STRING, NULL, false, O(note), "a string without default", NULL},
	{"raw", VM_OPT_STRING, NULL, false, VM_OPT_NOSTORE, "validated, not stored", NULL},
	{NULL, 0, NULL, false, 0, NULL, NULL},
};

const vm_plugin vmpipe_plugin = {
	.abi_version = VMPIPE_ABI_VERSION,
	.kind = VM_STAGE_NOTIFY,
	.name = "test-options",
	.summary = "test notifier with one option of every type",
	.options = options,
	.state_size = sizeof(struct opts),
	.init = init,
	.run = run,
};
