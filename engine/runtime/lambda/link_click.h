/*
 * A click on a recording link (link.h), as a Lambda Function URL delivers it
 * (payload format 2.0: version, rawPath, rawQueryString, requestContext.http).
 * Owner: lambda.
 *
 *   valid link, object there  200 the listen page (mail/listen_page.h): the job's
 *                             record from the state store when the link names
 *                             the job, the player and download button on a
 *                             presigned GET URL valid for minutes
 *   valid link, object gone   404 "no longer available" page
 *   expired                   403 "expired" page
 *   forged / malformed        403 "not valid" page
 *   old format (v1)           403 "no longer valid" page
 *   another path or method    404 / 405
 *   S3 could not be asked     503 (the click can be retried)
 */
#ifndef VMPIPE_LINK_CLICK_H
#define VMPIPE_LINK_CLICK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/link.h"
#include "core/pipeline.h"
#include "core/tenant.h"

/* Is `ev` a Function URL (or HTTP API v2) request? */
bool link_is_http_event(const json_t *ev);

/*
 * Answer it: the Function URL response object ({statusCode, headers, body})
 * as malloc()ed JSON text; NULL when out of memory.  `cfg` NULL or disabled:
 * every link is refused.  `ts` (may be NULL) are the pipelines whose state
 * stores hold the job records (the base's, then its tenants': tenant.h);
 * the page tells times in the zone of the job's own pipeline.  `status`
 * (may be NULL) gets the HTTP status.
 */
char *link_click(const struct link_cfg *cfg, struct tenants *ts, const json_t *ev, int64_t now_ms,
		 int *status);

#endif
