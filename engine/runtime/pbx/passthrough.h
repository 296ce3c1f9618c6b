/*
 * Mail that is not a voicemail goes on unchanged: a PBX sends everything
 * through its mail command (Asterisk's pager mail, FreeSWITCH's notify mail,
 * a voicemail mailed without its recording) and looks at no exit status, so
 * what `vmpipe sendmail` does not take must still reach someone.
 */
#ifndef VMPIPE_PBX_PASSTHROUGH_H
#define VMPIPE_PBX_PASSTHROUGH_H

#include <stddef.h>

/*
 * Run `cmd` (words split at blanks, no shell: "/usr/sbin/sendmail -oi")
 * followed by `args` (NULL-terminated: the PBX's own arguments) with `mail`
 * on its standard input.  Its exit status (a sendmail's is a sysexits code);
 * 69 when it cannot be started, 75 when it died of a signal or did not take
 * the whole mail.  `why` receives a line for the log.
 */
int passthrough_run(const char *cmd, char *const *args, const char *mail, size_t len, char *why,
		    size_t whysize);

#endif
