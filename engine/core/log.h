/* The one logger: stderr, text on a terminal, JSON lines otherwise. */
#ifndef VMPIPE_LOG_H
#define VMPIPE_LOG_H

#include <vmpipe/vmpipe.h>

enum log_format { LOG_FORMAT_AUTO = 0, LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set the level and format.  Called by main before anything logs. */
void log_setup(vm_log_level level, enum log_format format);
vm_log_level log_level(void);
/* "error", "warn", "info", "debug", "trace" -> level; -1 when unknown. */
int log_level_parse(const char *name);
int log_format_parse(const char *name);
/* Like vm_log() with an explicit stage name (NULL: the job's current stage). */
void log_msg(const vm_job *job, const char *stage, vm_log_level level, const char *fmt, ...)
	VM_PRINTF(4, 5);
void log_vmsg(const vm_job *job, const char *stage, vm_log_level level, const char *fmt,
	      va_list ap) VM_PRINTF(4, 0);

#endif
