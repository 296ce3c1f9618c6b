/*
 * vmpipe plugin ABI, version 1.
 *
 * A plugin is a shared object in a directory of the pipeline's plugin search
 * path (plugin_dir) that exports exactly one symbol, `vmpipe_plugin`, a
 * `const vm_plugin`:
 *
 *     const vm_plugin vmpipe_plugin = { .abi_version = VMPIPE_ABI_VERSION, … };
 *
 * The engine dlopen()s it, checks abi_version and kind, allocates `state_size`
 * zeroed bytes, validates every option of the section against `options` and
 * stores the parsed values at their offsets in that state, then calls init().
 * After init() the state is read-only: run() may be called for different jobs
 * from several threads at once.  Everything a stage needs to resume a job
 * (a Transcribe job name, a located key) lives in the job record, never in
 * plugin memory, so a job can be checkpointed and resumed by another process.
 *
 * A plugin never sleeps and never loops waiting for something: it returns
 * VM_RETRY ("call me again in N ms") and the engine owns time.
 *
 * Plugins leave the vm_* host functions (vmpipe.h) undefined; the engine
 * exports them.  Build with `pkg-config --cflags vmpipe` and `-shared -fPIC`.
 */
#ifndef VMPIPE_PLUGIN_H
#define VMPIPE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMPIPE_ABI_VERSION 1u

/* The symbol every plugin exports. */
#define VMPIPE_PLUGIN_SYMBOL "vmpipe_plugin"

typedef struct vm_job vm_job;     /* one voicemail's record; see vmpipe.h */
typedef struct vm_stage vm_stage; /* one configured [section]; see vmpipe.h */

/* Which pipeline section a plugin may be named in. */
typedef enum vm_stage_kind {
	VM_STAGE_LOCATE = 1,     /* [locate]: find the recording, fill recording.* */
	VM_STAGE_TRANSCRIBE = 2, /* [transcribe]: fill transcript.* */
	VM_STAGE_NOTIFY = 3,     /* [notify], [notify.NAME]: tell the owner */
} vm_stage_kind;

/*
 * What run() reports.  Return these through the vm_done()/vm_retry()/vm_fail()
 * helpers of vmpipe.h, which also record the delay or the message.
 *
 *  VM_DONE       the stage finished for this job.
 *  VM_RETRY      not ready yet (recording still being written, transcription
 *                still running): call again after the delay given to vm_retry().
 *                Not an error; bounded by the pipeline timeout.
 *  VM_TRANSIENT  a fault worth retrying (5xx, throttling, timeout, connection
 *                reset): the engine backs off exponentially with jitter.
 *  VM_PERMANENT  retrying cannot help (bad input, access denied): the message
 *                is appended to the job's errors.
 */
typedef enum vm_status {
	VM_DONE = 0,
	VM_RETRY = 1,
	VM_TRANSIENT = 2,
	VM_PERMANENT = 3,
} vm_status;

/*
 * Option types and the C type stored at `offset` in the plugin state:
 *
 *  VM_OPT_STRING    const char *  (owned by the engine, valid until fini);
 *                                 NULL when not set and without a default;
 *                                 never NULL for a required option (the
 *                                 section set it; it may be "")
 *  VM_OPT_INT       int64_t       decimal, may be negative
 *  VM_OPT_BOOL      bool          yes/no, true/false, on/off, 1/0
 *  VM_OPT_DURATION  int64_t       milliseconds; "250ms", "70s", "5m", "2h", "7d";
 *                                 a bare number is seconds
 *  VM_OPT_SIZE      int64_t       bytes; "512", "64k", "10M", "1G" (powers of 1024)
 *  VM_OPT_ENUM      int           index into `choices`, a '|'-separated list
 */
typedef enum vm_opt_type {
	VM_OPT_STRING = 1,
	VM_OPT_INT,
	VM_OPT_BOOL,
	VM_OPT_DURATION,
	VM_OPT_SIZE,
	VM_OPT_ENUM,
} vm_opt_type;

/* Marks an option the engine validates and lists but does not store. */
#define VM_OPT_NOSTORE ((size_t)-1)

/*
 * One entry of a plugin's option table; the table ends with an entry whose
 * name is NULL.  The table is the single source of truth: the engine uses it
 * to validate the section (unknown options are errors), to fill the state,
 * and to print `vmpipe plugins`.
 */
typedef struct vm_option {
	const char *name;    /* lower_snake_case, unique in the table */
	vm_opt_type type;
	const char *def;     /* default as text, or NULL: no default (left zero) */
	bool required;       /* the section must set it (a default is then moot) */
	size_t offset;       /* offsetof(your_state, field), or VM_OPT_NOSTORE */
	const char *help;    /* one sentence for `vmpipe plugins` */
	const char *choices; /* VM_OPT_ENUM only: "no|yes|smaller-than" */
} vm_option;

typedef struct vm_plugin {
	uint32_t abi_version;      /* VMPIPE_ABI_VERSION */
	vm_stage_kind kind;
	const char *name;          /* must equal the file name without ".so" */
	const char *summary;       /* one line for `vmpipe plugins` */
	const vm_option *options;  /* NULL-name terminated; may be NULL */
	size_t state_size;         /* bytes the engine allocates (zeroed) and fills */

	/*
	 * Called once per stage after the options were stored.  Return 0, or -1
	 * after vm_stage_error() explaining what is wrong; the engine then refuses
	 * the pipeline (exit 78) naming the file and section.  May be NULL.
	 */
	int (*init)(vm_stage *stage, void *state);

	/*
	 * Process one job.  `state` is read-only here (shared between threads);
	 * per-job data goes in the record (vm_job_set_*).  Required.
	 */
	vm_status (*run)(const void *state, vm_job *job);

	/* Release what init() acquired (not the state itself).  May be NULL. */
	void (*fini)(void *state);
} vm_plugin;

#ifdef __cplusplus
}
#endif
#endif /* VMPIPE_PLUGIN_H */
