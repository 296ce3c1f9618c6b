#include "clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

/* Scaled: virtual time = origin + factor * real time elapsed since then. */
static double scale_factor = 1;
static int64_t scale_origin;

static int64_t scaled_now_fn(void *ctx)
{
	(void)ctx;
	int64_t real = sys_now(NULL);
	return scale_origin + (int64_t)((double)(real - scale_origin) * scale_factor);
}

static void scaled_sleep_fn(void *ctx, int64_t ms)
{
	(void)ctx;
	sys_sleep(NULL, (int64_t)((double)ms / scale_factor + 0.5));
}

static const struct clock_ops scaled_clock = {scaled_now_fn, scaled_sleep_fn, NULL};

void clock_use_scaled(double factor)
{
	scale_factor = factor > 0 ? factor : 1;
	scale_origin = sys_now(NULL);
	cur = &scaled_clock;
}

int clock_from_env(void)
{
	const char *v = getenv("VMPIPE_CLOCK");
	if (!v || !*v || strcmp(v, "system") == 0)
		return 0;
	if (strcmp(v, "fake") == 0) {
		clock_use_fake(sys_now(NULL));
		return 0;
	}
	if (strncmp(v, "scaled:", 7) == 0) {
		char *end;
		double f = strtod(v + 7, &end);
		if (f > 0 && *end == '\0') {
			clock_use_scaled(f);
			return 0;
		}
		/* "scaled:N@ORIGIN": virtual time counted from ORIGIN (epoch ms), so
		 * that several processes (Lambda containers in a simulation) and
		 * the fakes around them agree on the time. */
		if (f > 0 && *end == '@') {
			char *oend;
			long long origin = strtoll(end + 1, &oend, 10);
			if (oend != end + 1 && *oend == '\0' && origin > 0) {
				clock_use_scaled(f);
				scale_origin = (int64_t)origin;
				return 0;
			}
		}
	}
	return -1;
}

bool clock_is_fake(void) { return cur == &fake_clock; }

int64_t clock_real_ms(int64_t ms)
{
	if (cur == &scaled_clock)
		return (int64_t)((double)ms / scale_factor + 0.5);
	return ms;
}

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
