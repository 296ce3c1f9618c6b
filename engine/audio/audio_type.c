/*
 * vm_audio_type: the audio MIME type of a file name or key.  On its own so
 * the AWS layer (presigned links ask S3 for this type) and the recording
 * fetch (which reads through the AWS layer) do not depend on each other.
 */
#include <string.h>
#include <strings.h>

#include <vmpipe/vmpipe.h>

const char *vm_audio_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{".wav", "audio/wav"}, {".mp3", "audio/mpeg"}, {".ogg", "audio/ogg"},
		{".opus", "audio/ogg"}, {".flac", "audio/flac"}, {".m4a", "audio/mp4"},
		{".mp4", "audio/mp4"}, {".webm", "audio/webm"}, {".amr", "audio/amr"},
		{".gsm", "audio/x-gsm"}, /* raw GSM 6.10 (Asterisk format=gsm), as Asterisk types it */
	};
	const char *dot = name ? strrchr(name, '.') : NULL;
	for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}
