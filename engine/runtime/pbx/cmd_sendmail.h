/*
 * `vmpipe sendmail`: a PBX's mail command (Asterisk's mailcmd, FreeSWITCH's
 * mailer-app).  The voicemail mail comes in on standard input and is dropped
 * whole into the spool for `vmpipe serve` (when it listens on
 * SPOOL/serve.sock), or its job runs through the pipeline right here
 * (handover.h: where the recording lives then).  Exit status
 * follows sendmail's (sysexits): 0 taken, 64 usage, 65 not a voicemail (kept
 * in rejected/), 75 could not be stored, 78 no pipeline/spool; an inline run
 * that fails returns what `vmpipe run` would.
 */
#ifndef VMPIPE_CMD_SENDMAIL_H
#define VMPIPE_CMD_SENDMAIL_H

#include <stdbool.h>

/* Was the binary started as vmpipe-sendmail (the symlink `make install` makes)? */
bool sendmail_invoked(const char *argv0);

/*
 * argv[0] is the command ("sendmail", or the program name when invoked by that
 * name); the rest are sendmail's options.  `verbosity`: -1 quiet, 0, 1.. more
 * (the global -v/-q); `log_format` may be NULL.
 */
int cmd_sendmail(int argc, char **argv, int verbosity, const char *log_format);

#endif
