/*
 * Kinesis Data Streams records carrying Amazon Connect's contact trace
 * records (core/ctr.h): Connect's data streaming writes one CTR, as JSON, per
 * record.  Two places take them (docs/lambda.md, "The contact record as the
 * trigger"; docs/serve.md):
 *  - Lambda's Kinesis event source mapping: {"Records": [{"eventSource":
 *    "aws:kinesis", "kinesis": {"sequenceNumber", "data": BASE64}}, …}],
 *    several per batch; the answer names the records that must come again in
 *    {"batchItemFailures": [{"itemIdentifier": SEQUENCE_NUMBER}]}
 *    (ReportBatchItemFailures; Lambda resumes the shard from the lowest);
 *  - an SQS message holding one record, as EventBridge Pipes forwards it
 *    ({"eventSource": "aws:kinesis", "data": BASE64 or the JSON itself}) or
 *    as a Lambda forwarder copies it ({"kinesis": {"data"}}).
 * Owner: lambda.
 */
#ifndef VMPIPE_KINESIS_EVENT_H
#define VMPIPE_KINESIS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/job.h"

/* A Kinesis record's data is at most 1 MiB. */
#define KINESIS_DATA_MAX (1024 * 1024)

/* Is `ev` a Lambda Kinesis batch (Records[0].eventSource "aws:kinesis")? */
bool kinesis_is_batch(const json_t *ev);

/* Is `ev` one Kinesis record (Pipes' or Lambda's form of one)? */
bool kinesis_is_record(const json_t *ev);

/*
 * The data of one record (`rec`: Lambda's entry or Pipes' form), decoded
 * from base64 (or written out, when Pipes gave it as JSON): *text (malloc()ed,
 * NUL-terminated; the caller frees) and *len.  0, or -1 with why.
 */
int kinesis_record_data(const json_t *rec, char **text, size_t *len, char *why, size_t whysize);

/* What became of one voicemail of the batch. */
enum kinesis_item { KINESIS_OK, KINESIS_AGAIN };

/* Run the job made of one record (taken: the callee frees it); `owner`
 * ("kinesis:<sequence number>") names who holds it while it runs. */
typedef enum kinesis_item (*kinesis_run_fn)(void *ctx, vm_job *job, const char *owner);

/*
 * Take a batch: each record's CTR becomes a job (core/event.c, with the
 * filter) that `run` runs; a record that is not a voicemail is
 * acknowledged, one that cannot be read or whose job must run again, and
 * every record once `hard_ms` (clock ms; 0: none) has passed, is listed.
 * Returns {"batchItemFailures": [...]} (new reference; NULL: out of memory).
 */
json_t *kinesis_batch(const json_t *ev, int64_t hard_ms, kinesis_run_fn run, void *ctx);

#endif
