/*
 * retry.h - trying again, bounded: a policy caps the number of attempts and
 * the total time, the waits between attempts follow "decorrelated jitter"
 * (each wait drawn between the base delay and three times the previous one,
 * capped), so many clients that failed together do not retry together, and
 * no wait runs past the deadline. Sleeping is interruptible: a signal handler
 * that sets a volatile sig_atomic_t flag stops the wait within 50 ms. Time
 * comes from a PdClock that tests replace with a fake one, so every path is
 * tested without sleeping. The keeper, the pool and migrate's lock waits use
 * it. A PdRetry belongs to one thread; pd_clock_system is shared and stateless.
 */
#ifndef PRODATA_RETRY_H
#define PRODATA_RETRY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdClock
{
    int64_t (*now_ms)(void *data); /* monotonic milliseconds, from any origin */
    /* Sleeps ms (> 0); returns false, early, once *is_interrupted (may be NULL) becomes non-zero. */
    bool (*sleep_ms)(void *data, int64_t ms, volatile sig_atomic_t *is_interrupted);
    void *data;
} PdClock;

/* CLOCK_MONOTONIC and nanosleep in slices of at most 50 ms, checking the flag between slices. */
const PdClock *pd_clock_system(void);

typedef struct PdRetryPolicy
{
    int max_attempts;      /* attempts in all, the first included; <= 0: no count bound */
    int64_t max_total_ms;  /* no attempt starts later than this after pd_retry_begin; <= 0: no time bound */
    int64_t base_delay_ms; /* the shortest wait (at least 1) */
    int64_t max_delay_ms;  /* the longest wait (raised to base_delay_ms when below it) */
} PdRetryPolicy;

typedef struct PdRetry
{
    PdRetryPolicy policy;
    const PdClock *clock;
    int64_t started_ms;
    int64_t last_delay_ms; /* the last wait drawn (before cutting it to the deadline); base at first */
    int attempts;          /* attempts started so far: 1 after pd_retry_begin */
    uint64_t rng_state;
} PdRetry;

/*
 * Starts counting for one operation whose first attempt is about to run.
 * clock NULL means pd_clock_system(). The same seed gives the same waits
 * (tests); pd_retry_seed() gives a fresh one, so that processes started
 * together draw different waits.
 */
void pd_retry_begin(PdRetry *retry, const PdRetryPolicy *policy, const PdClock *clock, uint64_t seed);

/*
 * Called after a failed attempt. Returns false, without sleeping, when the
 * budget is spent (max_attempts attempts made, or the deadline reached) or
 * when *is_interrupted (may be NULL) is already set. Otherwise it sleeps
 * min(max_delay, random between base_delay and 3 * the last wait), cut so it
 * ends no later than the deadline, and returns true: make the next attempt.
 * Interrupted while sleeping: returns false at once, *is_interrupted set.
 */
bool pd_retry_next(PdRetry *retry, volatile sig_atomic_t *is_interrupted);

/* Milliseconds left before the deadline (0 when past it; INT64_MAX without a time bound). */
int64_t pd_retry_remaining_ms(const PdRetry *retry);

/* A seed that differs between processes and calls (time, process id, a counter). */
uint64_t pd_retry_seed(void);

PD_API_END

#endif
