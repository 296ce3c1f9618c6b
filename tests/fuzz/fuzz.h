/*
 * What the fuzz targets share.  CHECK(cond, fmt, ...) states a property: when
 * it does not hold, the target prints which one and why, and aborts, so
 * libFuzzer keeps the input in build/fuzz/NAME.crashes/ (see README.md).
 */
#ifndef VMPIPE_FUZZ_H
#define VMPIPE_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: property violated: %s: ", __FILE__, __LINE__, \
				#cond);                                                    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			abort();                                                           \
		}                                                                          \
	} while (0)

#endif
