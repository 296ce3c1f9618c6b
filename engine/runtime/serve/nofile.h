/*
 * Open files for `vmpipe serve`.  Every job in flight holds its claim open
 * (state.c: the flock()ed ID.lock of a state directory), so a serve holding
 * 10,000 voicemails needs 10,000 descriptors, and more for its sockets and
 * checkpoints.  Services start with a soft limit of 1024 (systemd's default,
 * kept low for programs that use select(); the hard limit is far higher):
 * reached, every claim, checkpoint and connection fails with EMFILE.  vmpipe
 * waits with poll() only, so it may take what the hard limit allows.
 */
#ifndef VMPIPE_NOFILE_H
#define VMPIPE_NOFILE_H

/* Raise the soft RLIMIT_NOFILE to the hard one (logged at info, a failure
 * at warn).  The soft limit in effect afterwards, or -1 when unknown. */
long nofile_raise(void);

#endif
