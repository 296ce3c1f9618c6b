/* `vmpipe plugins`: the plugins of a search path, from their option tables. */
#ifndef VMPIPE_PLUGIN_LIST_H
#define VMPIPE_PLUGIN_LIST_H

#include <stdio.h>

/*
 * Print to `out` every directory of the search path `search` (plugin_path.h)
 * in order, then each directory's plugins with their options.  A plugin
 * whose name an earlier directory already holds is not loaded: its line says
 * which file is used instead, and a warning is logged.  A file that is not a
 * valid plugin is logged, and the listing goes on.  Returns 0, or 78 (bad
 * configuration) when no directory of the path could be read.
 */
int plugins_list(FILE *out, const char *search);

#endif
