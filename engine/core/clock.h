/*
 * The one clock.  Everything that reads time or waits goes through here, so
 * tests (and the time-scaled benchmark) can replace it: a fake clock makes
 * clock_sleep_ms() advance virtual time instantly.
 */
#ifndef VMPIPE_CLOCK_H
#define VMPIPE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct clock_ops {
	int64_t (*now_ms)(void *ctx);
	void (*sleep_ms)(void *ctx, int64_t ms);
	void *ctx;
};

int64_t clock_now_ms(void);
/* Wait `ms` (real or virtual).  Only the engine waits: plugins never do. */
void clock_sleep_ms(int64_t ms);
/* Replace the clock (NULL: back to the system clock).  Not thread-safe:
 * call before jobs run. */
void clock_set(const struct clock_ops *ops);

/* A virtual clock starting at `start_ms` whose sleeps return at once. */
void clock_use_fake(int64_t start_ms);
/* A clock running `factor` times faster than real time from now on (the
 * time-scaled benchmark): sleeps take 1/factor of their length. */
void clock_use_scaled(double factor);
/* Apply VMPIPE_CLOCK: "fake" (virtual, sleeps return at once), "scaled:N"
 * (N times faster from now), "scaled:N@ORIGIN" (N times faster from ORIGIN,
 * epoch ms: processes started apart share one virtual time), or
 * unset/"system".  -1 when the value is not understood. */
int clock_from_env(void);
/* Is the fake clock in use?  Its sleeps are instant: waiting for another
 * thread must not be done by sleeping on it. */
bool clock_is_fake(void);
/* Real milliseconds that `ms` of this clock's time take (scaled: fewer). */
int64_t clock_real_ms(int64_t ms);
/* Uniform random integer in [0, n) for backoff jitter (n > 0). */
int64_t clock_jitter(int64_t n);

#endif
