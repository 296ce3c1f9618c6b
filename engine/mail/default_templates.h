/*
 * The built-in body templates, used when a notifier names no template file.
 * They are copies of etc/templates/voicemail.txt and voicemail.html (a unit
 * test keeps them equal; tests/tools/gen_default_templates.py regenerates).
 */
#ifndef VMPIPE_MAIL_DEFAULT_TEMPLATES_H
#define VMPIPE_MAIL_DEFAULT_TEMPLATES_H

extern const char default_template_text[];
extern const char default_template_html[];

#endif
