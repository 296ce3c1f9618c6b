/*
 * Amazon Transcribe's batch API (JSON 1.1, X-Amz-Target Transcribe.*) as
 * transcribe-aws uses it: start a job, read its state, delete it.
 */
#ifndef TRANSCRIBE_AWS_API_H
#define TRANSCRIBE_AWS_API_H

#include <vmpipe/vmpipe.h>

/* What a TranscriptionJob object says; strings malloc()ed (tx_job_clear). */
struct tx_job {
	char *status;          /* QUEUED, IN_PROGRESS, FAILED, COMPLETED */
	char *transcript_uri;  /* Transcript.TranscriptFileUri when COMPLETED */
	char *failure_reason;  /* when FAILED */
	char *language;        /* LanguageCode: the identified one with IdentifyLanguage */
	double language_score; /* IdentifiedLanguageScore, or -1 */
};

void tx_job_clear(struct tx_job *j);

enum tx_result {
	TX_OK,        /* out filled */
	TX_CONFLICT,  /* start: a job of that name exists already */
	TX_NOT_FOUND, /* get: no such job (deleted, or expired after 90 days) */
	TX_ERROR,     /* *st holds the vm_fail() status to return */
};

/* StartTranscriptionJob with the request body `body` (JSON text). */
enum tx_result tx_start(vm_job *job, const char *region, const char *body, struct tx_job *out,
			vm_status *st);
/* GetTranscriptionJob. */
enum tx_result tx_get(vm_job *job, const char *region, const char *name, struct tx_job *out,
		      vm_status *st);
/* DeleteTranscriptionJob; failures are logged, not returned (the transcript
 * is already in the record). */
void tx_delete(vm_job *job, const char *region, const char *name);

#endif
