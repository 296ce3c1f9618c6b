/*
 * The template renderer: text with {{name}} variables and two kinds of
 * section, {{#name}}…{{/name}} (kept when the value is non-empty) and
 * {{^name}}…{{/name}} (kept when it is empty); {{! comment }} is dropped.
 * A section tag alone on its line takes the whole line with it, so plain-text
 * templates stay readable.  Templates are parsed once (at pipeline load) and
 * an unknown variable is an error then, not an empty string at send time.
 */
#ifndef VMPIPE_MAIL_TEMPLATE_H
#define VMPIPE_MAIL_TEMPLATE_H

#include <stddef.h>

enum tpl_mode {
	TPL_TEXT,   /* values inserted as they are */
	TPL_HTML,   /* values HTML-escaped: & < > " ' */
	TPL_HEADER, /* the result loses every control character (CR, LF, …) */
};

typedef struct tpl tpl;

/*
 * Parse `len` bytes of `src` (invalid UTF-8 becomes U+FFFD).  `names` lists
 * the `nnames` variables a template may use; the values given to tpl_render()
 * are in the same order.  Returns a template (free with tpl_free()) or NULL
 * with a message in `err`: "line 3: unknown variable 'calller'".
 */
tpl *tpl_parse(const char *src, size_t len, enum tpl_mode mode, const char *const *names,
	       size_t nnames, char *err, size_t errsize);

/*
 * Render with `values` (nnames entries, NULL counts as empty).  Returns a
 * malloc()ed NUL-terminated string (caller frees), NULL when out of memory.
 */
char *tpl_render(const tpl *t, const char *const *values, size_t *len);

void tpl_free(tpl *t);

#endif
