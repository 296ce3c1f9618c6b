/* Handing a mail on to the MTA; see passthrough.h. */
#include "passthrough.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/exits.h"

extern char **environ;

int passthrough_run(const char *cmd, char *const *args, const char *mail, size_t len, char *why,
		    size_t whysize)
{
	char *words = strdup(cmd ? cmd : "");
	size_t nargs = 0;
	while (args && args[nargs])
		nargs++;
	char **argv = calloc(strlen(cmd ? cmd : "") / 2 + nargs + 2, sizeof *argv);
	int rc = EXIT_UNAVAILABLE;
	int fd[2] = {-1, -1};
	if (!words || !argv) {
		snprintf(why, whysize, "out of memory");
		goto done;
	}
	size_t n = 0;
	for (char *save = NULL, *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	if (n == 0) {
		snprintf(why, whysize, "passthrough is empty");
		goto done;
	}
	for (size_t i = 0; i < nargs; i++)
		argv[n++] = args[i];
	if (pipe(fd) != 0) {
		snprintf(why, whysize, "pipe: %s", strerror(errno));
		goto done;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[0], 0);
	posix_spawn_file_actions_addclose(&fa, fd[0]);
	posix_spawn_file_actions_addclose(&fa, fd[1]);
	pid_t pid;
	int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[0]);
	if (e != 0) {
		close(fd[1]);
		snprintf(why, whysize, "cannot run %s: %s", argv[0], strerror(e));
		goto done;
	}
	/* A command that exits before reading everything must not kill us. */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd[1], mail + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd[1]);
	signal(SIGPIPE, old);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && off < len) {
		rc = EXIT_TEMPFAIL;
		snprintf(why, whysize, "%s took %zu of %zu bytes and exited 0", argv[0], off, len);
	} else if (WIFEXITED(st)) {
		rc = WEXITSTATUS(st);
		snprintf(why, whysize, "%s exited %d", argv[0], rc);
	} else {
		rc = EXIT_TEMPFAIL;
		snprintf(why, whysize, "%s died of signal %d", argv[0], WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
done:
	free(words);
	free(argv);
	return rc;
}
