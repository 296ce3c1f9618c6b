/*
 * vm_text_*: the template renderer and the job's template variables for
 * notifiers that are not e-mail (a task's name and description, an SMS):
 * the same {{caller}}, {{duration}}, {{transcript}}, … as docs/templates.md,
 * so one vocabulary serves every notifier.
 */
#include <stdlib.h>
#include <string.h>

#include <vmpipe/vmpipe.h>

#include "template.h"
#include "vars.h"

struct vm_text {
	tpl *t;
};

vm_text *vm_text_parse(const char *src, bool one_line, char *err, size_t errsz)
{
	if (errsz)
		err[0] = '\0';
	vm_text *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->t = tpl_parse(src ? src : "", src ? strlen(src) : 0, one_line ? TPL_HEADER : TPL_TEXT,
			 mail_var_names, VAR_COUNT, err, errsz);
	if (!x->t) {
		free(x);
		return NULL;
	}
	return x;
}

char *vm_text_render(const vm_text *x, const vm_job *job)
{
	mail_vars vars;
	const char *rcpt = vm_job_get_str(job, "recipient.email");
	if (!x || mail_vars_build(job, rcpt, NULL, &vars) != 0)
		return NULL;
	char *out = tpl_render(x->t, (const char *const *)vars.v, NULL);
	mail_vars_free(&vars);
	return out;
}

void vm_text_free(vm_text *x)
{
	if (!x)
		return;
	tpl_free(x->t);
	free(x);
}
