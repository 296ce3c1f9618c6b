/*
 * Plugin search paths: "DIR:DIR:…" like PATH, searched in order, the first
 * DIR holding NAME.so wins.  [pipeline] plugin_dir is one; the default is
 * the install's own plugin directory, then the places an integrator drops
 * plugins of their own (vmpipe-pipeline(5)).
 */
#ifndef VMPIPE_PLUGIN_PATH_H
#define VMPIPE_PLUGIN_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* After the install's plugin directory, in this order. */
#define PLUGIN_PATH_SYSTEM "/usr/local/lib/vmpipe/plugins:/etc/vmpipe/plugins.d"

/*
 * The default search path: plugins/ next to the vmpipe binary when it exists
 * (a build tree: build/plugins), else <bin>/../lib/vmpipe/plugins, then
 * PLUGIN_PATH_SYSTEM; a directory that is the same as an earlier one is left
 * out.  malloc()ed; NULL when out of memory.
 */
char *plugin_path_default(void);

/*
 * A plugin_dir value as a search path of absolute directories: a relative
 * entry is relative to `base_dir` (the pipeline file's directory), an empty
 * entry (a leading, trailing or doubled ':') stands for `fallback`, and so
 * does a NULL or empty value.  Repeated directories are kept once.
 * malloc()ed; NULL when out of memory.
 */
char *plugin_path_resolve(const char *value, const char *base_dir, const char *fallback);

/*
 * The next directory of a search path: copies it into buf, moves *cursor on,
 * and returns true; false at the end.  Empty entries are skipped; an entry
 * that does not fit in buf is skipped too (no such directory can exist).
 */
bool plugin_path_next(const char **cursor, char *buf, size_t size);

#endif
