/*
 * retry.c - bounded retries with decorrelated jitter, and the system clock.
 * The policy is checked before every wait, so no attempt starts after the
 * deadline and no wait outlasts it. Randomness is a small seeded generator
 * (splitmix64) owned by each PdRetry: no global state, reproducible in tests,
 * safe in threads. The system clock's sleep is cut into slices of at most
 * 50 ms and checks the interruption flag between them, so a signal handler
 * that only sets a flag stops a long wait promptly even when the signal
 * arrived just before nanosleep began.
 */
#include "prodata/retry.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_SLICE_MS 50

static int64_t
system_now_ms(void *data)
{
    (void)data;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool
system_sleep_ms(void *data, int64_t ms, volatile sig_atomic_t *is_interrupted)
{
    int64_t now = system_now_ms(data);
    int64_t deadline = ms > INT64_MAX - now ? INT64_MAX : now + ms; /* INT64_MAX: until interrupted */
    for (;;)
    {
        if (is_interrupted != NULL && *is_interrupted)
            return false;
        int64_t left = deadline - system_now_ms(data);
        if (left <= 0)
            return true;
        int64_t slice = left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS;
        struct timespec pause = {(time_t)(slice / 1000), (long)(slice % 1000) * 1000000L};
        nanosleep(&pause, NULL); /* EINTR included: the loop looks at the flag and the time again */
    }
}

const PdClock *
pd_clock_system(void)
{
    static const PdClock system_clock = {system_now_ms, system_sleep_ms, NULL};
    return &system_clock;
}

static uint64_t
next_random(PdRetry *retry)
{
    uint64_t mixed = (retry->rng_state += 0x9e3779b97f4a7c15ULL);
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    return mixed ^ (mixed >> 31);
}

/* Uniform enough in [low, high] (the modulo bias is below 2^-40 for any wait we use). */
static int64_t
random_between(PdRetry *retry, int64_t low, int64_t high)
{
    uint64_t span = (uint64_t)high - (uint64_t)low + 1;
    uint64_t draw = next_random(retry);
    return span == 0 ? (int64_t)draw : low + (int64_t)(draw % span);
}

void
pd_retry_begin(PdRetry *retry, const PdRetryPolicy *policy, const PdClock *clock, uint64_t seed)
{
    retry->policy = *policy;
    if (retry->policy.base_delay_ms < 1)
        retry->policy.base_delay_ms = 1;
    if (retry->policy.max_delay_ms < retry->policy.base_delay_ms)
        retry->policy.max_delay_ms = retry->policy.base_delay_ms;
    retry->clock = clock != NULL ? clock : pd_clock_system();
    retry->started_ms = retry->clock->now_ms(retry->clock->data);
    retry->last_delay_ms = retry->policy.base_delay_ms;
    retry->attempts = 1;
    retry->rng_state = seed;
}

/* Decorrelated jitter: min(cap, random between base and three times the last wait). */
static int64_t
next_delay(PdRetry *retry)
{
    int64_t base = retry->policy.base_delay_ms;
    int64_t last = retry->last_delay_ms;
    int64_t high = last > INT64_MAX / 3 ? INT64_MAX : last * 3;
    if (high < base)
        high = base;
    int64_t delay = random_between(retry, base, high);
    return delay < retry->policy.max_delay_ms ? delay : retry->policy.max_delay_ms;
}

int64_t
pd_retry_remaining_ms(const PdRetry *retry)
{
    if (retry->policy.max_total_ms <= 0)
        return INT64_MAX;
    int64_t elapsed = retry->clock->now_ms(retry->clock->data) - retry->started_ms;
    return elapsed >= retry->policy.max_total_ms ? 0 : retry->policy.max_total_ms - elapsed;
}

bool
pd_retry_next(PdRetry *retry, volatile sig_atomic_t *is_interrupted)
{
    if (is_interrupted != NULL && *is_interrupted)
        return false;
    if (retry->policy.max_attempts > 0 && retry->attempts >= retry->policy.max_attempts)
        return false;
    int64_t remaining = pd_retry_remaining_ms(retry);
    if (remaining <= 0)
        return false;
    int64_t delay = next_delay(retry);
    retry->last_delay_ms = delay;
    if (delay > remaining)
        delay = remaining; /* the last attempt starts at the deadline, not after it */
    if (!retry->clock->sleep_ms(retry->clock->data, delay, is_interrupted))
        return false;
    retry->attempts++;
    return true;
}

uint64_t
pd_retry_seed(void)
{
    static atomic_uint_fast64_t calls;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    PdRetry mixer = {.rng_state = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec};
    mixer.rng_state ^= (uint64_t)getpid() << 32;
    mixer.rng_state += atomic_fetch_add(&calls, 1) * 0x2545f4914f6cdd1dULL;
    return next_random(&mixer);
}
