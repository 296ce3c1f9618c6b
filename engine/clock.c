#include "clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include <vmpipe/vmpipe.h>

static int64_t sys_now(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sys_sleep(void *ctx, int64_t ms)
{
	(void)ctx;
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static const struct clock_ops sys_clock = {sys_now, sys_sleep, NULL};
static const struct clock_ops *cur = &sys_clock;

/* The fake clock is shared by all threads of a test: guard it. */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t fake_now;

static int64_t fake_now_fn(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&fake_mu);
	int64_t t = fake_now;
	pthread_mutex_unlock(&fake_mu);
	return t;
}

static void fake_sleep_fn(void *ctx, int64_t ms)
{
	(void)ctx;
	if (ms <= 0)
		return;
	pthread_mutex_lock(&fake_mu);
	fake_now += ms;
	pthread_mutex_unlock(&fake_mu);
}

static const struct clock_ops fake_clock = {fake_now_fn, fake_sleep_fn, NULL};

int64_t clock_now_ms(void) { return cur->now_ms(cur->ctx); }
void clock_sleep_ms(int64_t ms) { cur->sleep_ms(cur->ctx, ms); }
void clock_set(const struct clock_ops *ops) { cur = ops ? ops : &sys_clock; }

void clock_use_fake(int64_t start_ms)
{
	fake_now = start_ms;
	cur = &fake_clock;
}

int64_t clock_jitter(int64_t n)
{
	uint64_t r;
	if (n <= 1)
		return 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint64_t)rand();
	return (int64_t)(r % (uint64_t)n);
}

int64_t vm_now_ms(void) { return clock_now_ms(); }

void vm_format_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
