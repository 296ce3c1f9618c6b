/*
 * Reading a transcription server's answer: the transcript of a verbose_json
 * or json answer, and the message of an error.
 *
 * verbose_json (OpenAI, whisper.cpp's server, faster-whisper servers, vLLM,
 * LocalAI): {"text": …, "language": …, "duration": …, "segments": [{"start":
 * …, "end": …, "text": …}, …]}.  Servers differ in the details, all of which
 * are accepted: "language" is Whisper's name ("english") or a code ("en");
 * "duration" a number or a numeric string (vLLM); segment times seconds, or
 * nanoseconds (LocalAI writes Go durations); "text" may be missing when the
 * segments carry it.  json: {"text": …}.  A text/plain answer is the text.
 */
#ifndef TRANSCRIBE_WHISPER_ANSWER_H
#define TRANSCRIBE_WHISPER_ANSWER_H

#include <stddef.h>
#include <stdint.h>

struct wh_answer {
	char *text;            /* surrounding white space removed (malloc()ed) */
	char *language;        /* as the server reported it, or NULL (malloc()ed) */
	char *model;           /* a "model" the answer names, or NULL (malloc()ed) */
	double duration;       /* seconds of audio the server heard; -1 when not said */
	double speech_seconds; /* end of the last segment; -1 without segments */
	size_t segments;
};

/* Parse `len` bytes of answer.  0, or -1 with err when it is no transcript. */
int wh_answer_parse(const char *body, size_t len, const char *content_type,
                    struct wh_answer *out, char *err, size_t errsz);
void wh_answer_clear(struct wh_answer *a);

/*
 * The message of an error answer into msg: {"error": {"message": …}}
 * (OpenAI and most servers), {"error": "…"} (whisper.cpp), {"detail": "…"}
 * (FastAPI), {"message": "…"}, else a short text body's first line; "" when
 * there is none.  The error's "code" ("insufficient_quota",
 * "invalid_api_key") into code, "" when none.
 */
void wh_error_message(const char *body, size_t len, char *msg, size_t msgsz, char *code,
                      size_t codesz);

/* The preview of a transcript: its words joined by single spaces, cut to
 * `chars` UTF-8 characters (malloc()ed). */
char *wh_preview(const char *text, size_t chars);

/*
 * The wait a Retry-After header asks for, in ms from `now_ms`: delta-seconds
 * ("120") or an HTTP-date (IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT", the
 * form RFC 9110 has senders write); OpenAI's retry-after-ms wins when set.
 * -1 when neither is there or readable.
 */
int64_t wh_retry_after(const char *retry_after, const char *retry_after_ms, int64_t now_ms);

#endif
