/*
 * Which pipeline file `vmpipe run` and `vmpipe check` use when no -c is
 * given (vmpipe(1), FILES): $VMPIPE_PIPELINE, then the system file, then the
 * installed default, then (for a binary in a source tree's build directory)
 * the tree's etc/local.ini.
 */
#ifndef VMPIPE_PIPELINE_PATH_H
#define VMPIPE_PIPELINE_PATH_H

#include <stddef.h>

/* The system-wide pipeline. */
#define PIPELINE_SYSTEM_PATH "/etc/vmpipe/pipeline.ini"

/*
 * The pipeline to use without -c.  $VMPIPE_PIPELINE, when set and not empty,
 * is the answer whether or not the file exists (loading it then names it);
 * otherwise the first regular file of: PIPELINE_SYSTEM_PATH,
 * <directory of the vmpipe binary>/../share/vmpipe/local.ini (what `make
 * install` puts there), and <that directory>/../etc/local.ini when that
 * parent is a vmpipe source tree (it has include/vmpipe/plugin.h).
 * Returns a path in static storage (valid until the next call), or NULL with
 * every place it looked, and why each did not do, in `err`.
 */
const char *pipeline_path_find(char *err, size_t errsize);

/*
 * The same search with its inputs given: `env` as $VMPIPE_PIPELINE (NULL:
 * unset), `system_path` for PIPELINE_SYSTEM_PATH, `exe_dir` the directory of
 * the binary (NULL: unknown).  For tests.
 */
const char *pipeline_path_search(const char *env, const char *system_path, const char *exe_dir,
				 char *err, size_t errsize);

#endif
