/*
 * Language names and codes.  Servers speaking OpenAI's transcription API
 * report the language differently: OpenAI and whisper.cpp's server as
 * Whisper's English name ("english"), faster-whisper servers and vLLM as a
 * code ("en"); the request wants an ISO 639-1 code.  The job record keeps a
 * code, as the other transcribers do.
 */
#ifndef TRANSCRIBE_WHISPER_LANG_H
#define TRANSCRIBE_WHISPER_LANG_H

#include <stdbool.h>
#include <stddef.h>

/* "en", "en-US", "pt_BR", "yue": two or three letters, then optional
 * subtags of 2-8 letters or digits after '-' or '_'. */
bool wh_lang_ok(const char *tag);

/* The code a server is asked for: the primary subtag in lower case
 * ("en-US" -> "en").  buf >= 4 bytes. */
void wh_lang_request(const char *tag, char *buf, size_t size);

/*
 * A reported language as a code: Whisper's name of one of its languages
 * ("English", "haitian creole") -> its code ("en", "ht"); a code stays as it
 * is (lower-cased); anything else is returned unchanged.  Into buf.
 */
void wh_lang_code(const char *reported, char *buf, size_t size);

#endif
