/*
 * Matroska reader bench harness: a GetMedia answer (FILE) through
 * locate-kvs's reader (plugins/locate-kvs/mkv.c, kvs_audio.c) in pieces of
 * CHUNK bytes, as the network hands them over; prints {"frames":N,
 * "channels":C,"stopped":S}.  CPU and peak RSS are measured by the caller
 * (tests/bench/mkv_bench.py, wait4).
 *
 *   mkv_bench FILE CONTACT_ID CHUNK [both]   (prints its peak RSS too: hwm_kb)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/locate-kvs/kvs_audio.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: mkv_bench FILE CONTACT_ID CHUNK [both]\n");
		return 64;
	}
	size_t chunk = (size_t)atol(argv[3]);
	int fd = open(argv[1], O_RDONLY);
	unsigned char *buf = malloc(chunk);
	if (fd < 0 || !buf || chunk == 0) {
		perror(argv[1]);
		return 66;
	}
	struct kvs_audio_opts o = {argv[2], NULL, argc > 4 && strcmp(argv[4], "both") == 0, 1ull << 34,
				   8000ull * 3600};
	struct kvs_audio *a = kvs_audio_new(&o);
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = read(fd, buf, chunk)) > 0)
		rc = kvs_audio_feed(a, buf, (size_t)n);
	if (rc == 0)
		rc = kvs_audio_finish(a);
	uint64_t frames;
	int ch;
	kvs_audio_pcm(a, &frames, &ch);
	/* Peak RSS of this program (VmHWM: a new image's own; getrusage's
	 * ru_maxrss would carry the parent's from before exec). */
	long hwm = -1;
	char line[256];
	FILE *st = fopen("/proc/self/status", "r");
	while (st && fgets(line, sizeof line, st))
		if (strncmp(line, "VmHWM:", 6) == 0)
			hwm = atol(line + 6);
	if (st)
		fclose(st);
	printf("{\"frames\":%llu,\"channels\":%d,\"rc\":%d,\"hwm_kb\":%ld,\"error\":\"%s\"}\n",
	       (unsigned long long)frames, ch, rc, hwm, rc < 0 ? kvs_audio_error(a) : "");
	kvs_audio_free(a);
	free(buf);
	close(fd);
	return rc < 0 ? 1 : 0;
}
