/*
 * `vmpipe plugins` (plugin_list.h): what a pipeline with this search path
 * would load, directory by directory, so a drop-in plugin shadowed by
 * another of the same name is seen before it surprises anyone.
 */
#include "plugin_list.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "plugin.h"
#include "plugin_path.h"
#include "sched.h" /* EXIT_CONFIG */

struct seen {
	char **name, **path; /* plugin name -> the file that wins */
	size_t n;
};

static const char *winner(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->name[i], name) == 0)
			return s->path[i];
	return NULL;
}

static void remember(struct seen *s, const char *name, const char *path)
{
	char **nn = realloc(s->name, (s->n + 1) * sizeof *nn);
	if (nn)
		s->name = nn;
	char **np = realloc(s->path, (s->n + 1) * sizeof *np);
	if (np)
		s->path = np;
	if (!nn || !np)
		return;
	s->name[s->n] = strdup(name);
	s->path[s->n] = strdup(path);
	if (s->name[s->n] && s->path[s->n])
		s->n++;
	else {
		free(s->name[s->n]);
		free(s->path[s->n]);
	}
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* One directory's plugins; -1 when it cannot be read. */
static int list_dir(FILE *out, const char *dir, struct seen *seen)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name);
	if (n < 0)
		return -1;
	fprintf(out, "plugins in %s:\n\n", dir);
	for (int k = 0; k < n; k++) {
		char name[256], path[PATH_MAX + 300];
		size_t len = strlen(ents[k]->d_name);
		if (len > 3 && len < sizeof name && strcmp(ents[k]->d_name + len - 3, ".so") == 0) {
			snprintf(name, sizeof name, "%.*s", (int)(len - 3), ents[k]->d_name);
			snprintf(path, sizeof path, "%s/%s", dir, ents[k]->d_name);
			const char *first = winner(seen, name);
			if (first) {
				/* Found twice: the loader takes the first, as PATH does. */
				fprintf(out, "%s: not used: %s comes first in the search path\n\n", name, first);
				log_msg(NULL, NULL, VM_LOG_WARN,
					"plugin '%s' found twice: %s is used, %s is not", name, first, path);
			} else {
				remember(seen, name, path);
				char err[600];
				struct plugin_mod *m = plugin_open(dir, name, err, sizeof err);
				if (m) {
					plugin_describe(out, m->p);
					fputc('\n', out);
					plugin_close(m);
				} else {
					log_msg(NULL, NULL, VM_LOG_WARN, "%s", err);
				}
			}
		}
		free(ents[k]);
	}
	free(ents);
	return 0;
}

int plugins_list(FILE *out, const char *search)
{
	char dir[PATH_MAX];
	fprintf(out, "plugin search path (the first directory holding NAME.so wins):\n");
	for (const char *c = search; plugin_path_next(&c, dir, sizeof dir);) {
		struct stat st;
		fprintf(out, "  %s%s\n", dir,
			stat(dir, &st) != 0 ? " (no such directory)"
			: !S_ISDIR(st.st_mode) ? " (not a directory)" : "");
	}
	fputc('\n', out);
	struct seen seen = {0};
	int listed = 0;
	int bad_errno = 0;
	char first_bad[PATH_MAX] = "";
	for (const char *c = search; plugin_path_next(&c, dir, sizeof dir);) {
		if (list_dir(out, dir, &seen) == 0) {
			listed++;
		} else if (!*first_bad) {
			bad_errno = errno;
			snprintf(first_bad, sizeof first_bad, "%s", dir);
		}
	}
	for (size_t i = 0; i < seen.n; i++) {
		free(seen.name[i]);
		free(seen.path[i]);
	}
	free(seen.name);
	free(seen.path);
	if (!listed) {
		if (*first_bad)
			log_msg(NULL, NULL, VM_LOG_ERROR, "cannot list plugin directory %s: %s", first_bad,
				strerror(bad_errno));
		else
			log_msg(NULL, NULL, VM_LOG_ERROR, "the plugin search path is empty");
		return EXIT_CONFIG;
	}
	return 0;
}
