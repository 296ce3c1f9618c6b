/*
 * The AWS Lambda custom-runtime loop (`vmpipe lambda`, or the program started
 * as `bootstrap`).  Owner: lambda.
 *
 * Once per container: load the pipeline (and its tenants; plugins are loaded
 * and initialised here, not per event), or report /init/error and exit 78.
 * Then for every invocation:
 *   - a Lambda Function URL request is a click on a recording link
 *     (link_click.h): answered with a 302/403/404 page, never an error;
 *   - anything else is an event for the pipeline (event.h).  The job runs
 *     with Lambda-Runtime-Deadline-Ms minus VMPIPE_LAMBDA_MARGIN (1s) as a
 *     hard deadline; a stage that overruns it anyway is caught by a watchdog
 *     that reports the error just before Lambda would kill us, then exits.
 *     The final job record is the response when every notifier told the
 *     owner (exit 0); otherwise an /error whose errorType names the outcome,
 *     so Lambda's asynchronous retries and the on-failure destination engage:
 *       vmpipe.BadEvent (65)   vmpipe.NoRecording (66)   vmpipe.NotifyFailed (69)
 *       vmpipe.TempFail (75)   vmpipe.ConfigError (78)   vmpipe.Timeout (watchdog)
 *       vmpipe.DeadlineTooShort (less time left than the margin)
 *
 * With VMPIPE_WAKEUP_QUEUE set (suspend mode, lambda_suspend.h) no invocation
 * waits: a job that would is checkpointed and woken later by an event or
 * by a wake-up from that queue; a bad suspend-mode setting, or a pipeline
 * without [pipeline] state = s3://…, is an init error.
 *
 * Environment: AWS_LAMBDA_RUNTIME_API (required), LAMBDA_TASK_ROOT,
 * VMPIPE_PIPELINE (default $LAMBDA_TASK_ROOT/etc/pipeline.ini),
 * AWS_LAMBDA_LOG_FORMAT (JSON|Text), AWS_LAMBDA_LOG_LEVEL, VMPIPE_LAMBDA_MARGIN,
 * the link-mode variables of link.h and suspend mode's of wake.h.  Sets
 * _X_AMZN_TRACE_ID per invocation.
 */
#ifndef VMPIPE_LAMBDA_H
#define VMPIPE_LAMBDA_H

#include <stdbool.h>

/* Default safety margin before Lambda's deadline. */
#define LAMBDA_MARGIN_MS 1000

/*
 * Run the loop until the Runtime API goes away.  `config`: -c, or NULL for
 * the environment's choice.  `default_plugin_dir`: used when the pipeline sets
 * none and $LAMBDA_TASK_ROOT/plugins does not exist.  Returns an exit status
 * (78 after /init/error, 70 when the Runtime API cannot be reached).
 */
int lambda_main(const char *config, const char *default_plugin_dir);

/* True when no command was given and the program should run the loop anyway:
 * it was started as `bootstrap`, or AWS_LAMBDA_RUNTIME_API is set. */
bool lambda_autodetect(const char *argv0, bool have_command);

#endif
