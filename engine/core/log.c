/*
 * Logging.  One line per call, written with a single write() so lines from
 * several threads never interleave.  Text on a terminal (or when asked), JSON
 * lines otherwise: Lambda, journald and log shippers parse those.
 */
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "job.h"

/* Set once by log_setup() before threads start; read-only afterwards. */
static vm_log_level cur_level = VM_LOG_INFO;
static enum log_format cur_format = LOG_FORMAT_AUTO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_setup(vm_log_level level, enum log_format format)
{
	cur_level = level;
	if (format == LOG_FORMAT_AUTO)
		format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	cur_format = format;
}

vm_log_level log_level(void) { return cur_level; }

int log_level_parse(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(name, "warning") == 0)
		return VM_LOG_WARN;
	return -1;
}

int log_format_parse(const char *name)
{
	if (!name || !*name || strcasecmp(name, "auto") == 0)
		return LOG_FORMAT_AUTO;
	if (strcasecmp(name, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcasecmp(name, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

bool vm_log_enabled(vm_log_level level) { return level <= cur_level; }

void log_vmsg(const vm_job *job, const char *stage, vm_log_level level, const char *fmt,
	      va_list ap)
{
	if (level > cur_level)
		return;
	char msg[4096];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* A log line is one line: fold any newline a message carries. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	const char *id = job ? vm_job_id(job) : NULL;
	if (!stage && job)
		stage = job->stage;
	char ts[32];
	vm_format_time(clock_now_ms(), ts, sizeof ts);

	char *line = NULL;
	if (cur_format == LOG_FORMAT_JSON) {
		json_t *o = json_object();
		json_object_set_new(o, "time", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[level]));
		if (id)
			json_object_set_new(o, "job", json_string(id));
		if (stage)
			json_object_set_new(o, "stage", json_string(stage));
		/* A message with invalid UTF-8 still gets logged, escaped. */
		json_t *m = json_string(msg);
		json_object_set_new(o, "msg", m ? m : json_stringn_nocheck(msg, strlen(msg)));
		char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		if (s && asprintf(&line, "%s\n", s) < 0)
			line = NULL;
		free(s);
	} else {
		char ctx[200] = "";
		if (id && stage)
			snprintf(ctx, sizeof ctx, " [%s %s]", id, stage);
		else if (id || stage)
			snprintf(ctx, sizeof ctx, " [%s]", id ? id : stage);
		if (asprintf(&line, "vmpipe: %s%s: %s\n", level_names[level], ctx, msg) < 0)
			line = NULL;
	}
	if (line) {
		ssize_t r = write(STDERR_FILENO, line, strlen(line));
		(void)r;
		free(line);
	}
}

void log_msg(const vm_job *job, const char *stage, vm_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(job, stage, level, fmt, ap);
	va_end(ap);
}

void vm_log(const vm_job *job, vm_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(job, NULL, level, fmt, ap);
	va_end(ap);
}
