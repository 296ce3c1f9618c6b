/*
 * Reading Amazon Transcribe's transcript JSON: the full text, the preview
 * the original system put in its e-mail, and how long the caller spoke.
 */
#ifndef TRANSCRIBE_AWS_TRANSCRIPT_H
#define TRANSCRIBE_AWS_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

struct tx_transcript {
	char *text;            /* results.transcripts[0].transcript (malloc()ed) */
	char *preview;         /* see tx_transcript_parse (malloc()ed) */
	double speech_seconds; /* end_time of the last spoken item; -1 when none */
};

/*
 * Parse `json` (len bytes).  The preview is built as the original did it:
 * the words of every channel (channel identification) or of results.items,
 * ordered by start time, each punctuation mark attached to the word before
 * it in its channel, joined by spaces, cut to `preview_chars` characters
 * (UTF-8 code points).  0, or -1 with err when the document is not a
 * transcript.  Release with tx_transcript_clear().
 */
int tx_transcript_parse(const char *json, size_t len, size_t preview_chars,
			struct tx_transcript *out, char *err, size_t errsz);
void tx_transcript_clear(struct tx_transcript *t);

#endif
