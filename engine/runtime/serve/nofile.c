/*
 * The soft limit on open files raised to the hard one (see nofile.h).
 */
#include "nofile.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "core/log.h"

long nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_msg(NULL, "serve", VM_LOG_WARN, "cannot read the limit on open files: %s", strerror(errno));
		return -1;
	}
	rlim_t was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_msg(NULL, "serve", VM_LOG_WARN, "cannot raise the limit on open files from %llu to %llu: "
				"%s (each job in flight holds one)", (unsigned long long)was,
				(unsigned long long)rl.rlim_max, strerror(errno));
			return was == RLIM_INFINITY ? -1 : (long)was;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return -1;
	log_msg(NULL, "serve", VM_LOG_INFO, "open files: up to %llu%s (each job in flight holds one)",
		(unsigned long long)rl.rlim_cur, was != rl.rlim_cur ? ", raised from the soft limit" : "");
	return (long)rl.rlim_cur;
}
