/* How a job (and the vmpipe command) ends: sysexits.h values, named for
 * what they mean here. */
#ifndef VMPIPE_EXITS_H
#define VMPIPE_EXITS_H

/* sysexits.h values, named for what they mean here. */
enum {
	EXIT_DONE = 0,
	EXIT_USAGE = 64,
	EXIT_BAD_EVENT = 65,     /* EX_DATAERR */
	EXIT_NO_RECORDING = 66,  /* EX_NOINPUT */
	EXIT_UNAVAILABLE = 69,   /* EX_UNAVAILABLE: a notifier failed for good */
	EXIT_SOFTWARE = 70,
	EXIT_TEMPFAIL = 75,      /* EX_TEMPFAIL: still failing when time ran out */
	EXIT_CONFIG = 78,        /* EX_CONFIG */
};

#endif
