/*
 * The pipeline file as read from disk: sections of name = value entries, each
 * with its line number, values already ${VAR}-expanded.  Parsed with inih.
 */
#ifndef VMPIPE_CONFIG_H
#define VMPIPE_CONFIG_H

#include <stddef.h>

struct cfg_entry {
	char *key;
	char *value; /* expanded */
	int line;
	char *raw;   /* as written, before expansion (vmpipe config); may be NULL */
};

struct cfg_section {
	char *name;
	int line;
	struct cfg_entry *entries;
	size_t n;
};

struct cfg {
	char *path;
	struct cfg_section *sections;
	size_t n;
};

/* Diagnostics: every problem found, printed together. */
struct diag {
	char **msgs;
	size_t n;
};
void diag_add(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_print(const struct diag *d);
void diag_free(struct diag *d);

/* Read `path` into `c`.  Returns 0, or -1 with messages in `d` (all of them
 * prefixed "PATH:LINE:"). */
int cfg_load(const char *path, struct cfg *c, struct diag *d);
void cfg_free(struct cfg *c);
const struct cfg_section *cfg_section(const struct cfg *c, const char *name);
const struct cfg_entry *cfg_entry(const struct cfg_section *s, const char *key);

/* Expand ${VAR} and ${VAR:-default} ($$ is a literal $).  malloc()ed result,
 * or NULL with a message in err. */
char *cfg_expand(const char *in, char *err, size_t errsize);

#endif
