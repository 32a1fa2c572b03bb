/*
 * test_retry.c - every path of the retry policy, on a fake clock that
 * records each sleep and moves time only when told: success at once, the
 * count spent, the time spent, a wait cut to the deadline, the jitter's
 * bounds, interruption before and during a wait, reproducible seeds. Then
 * the system clock itself: it sleeps, and an interruption ends a long sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "prodata/retry.h"

typedef struct FakeClock
{
    int64_t now_ms;
    int64_t sleeps[256];
    int sleep_count;
    int interrupt_at_sleep; /* 1-based sleep that gets interrupted halfway; 0: never */
    volatile sig_atomic_t *flag;
} FakeClock;

static int64_t
fake_now(void *data)
{
    return ((FakeClock *)data)->now_ms;
}

static bool
fake_sleep(void *data, int64_t ms, volatile sig_atomic_t *is_interrupted)
{
    FakeClock *fake = data;
    assert_true(ms > 0);
    assert_true(fake->sleep_count < 256);
    fake->sleeps[fake->sleep_count++] = ms;
    if (fake->sleep_count == fake->interrupt_at_sleep)
    {
        fake->now_ms += ms / 2;
        *fake->flag = 1;
        return false;
    }
    if (is_interrupted != NULL && *is_interrupted)
        return false;
    fake->now_ms += ms;
    return true;
}

static PdClock
fake_clock(FakeClock *fake)
{
    PdClock clock = {fake_now, fake_sleep, fake};
    return clock;
}

/* Runs an operation that fails `failures` times (each attempt taking attempt_ms); returns the attempts made.
 */
static int
run(PdRetry *retry, FakeClock *fake, int failures, int64_t attempt_ms, bool *succeeded)
{
    int attempts = 0;
    for (;;)
    {
        attempts++;
        fake->now_ms += attempt_ms;
        if (attempts > failures)
        {
            *succeeded = true;
            return attempts;
        }
        if (!pd_retry_next(retry, NULL))
        {
            *succeeded = false;
            return attempts;
        }
    }
}

static const PdRetryPolicy policy = {5, 10000, 100, 1000};

static void
test_retry_success_first_try_never_sleeps(void **state)
{
    (void)state;
    FakeClock fake = {.now_ms = 5000};
    PdClock clock = fake_clock(&fake);
    PdRetry retry;
    pd_retry_begin(&retry, &policy, &clock, 1);
    bool ok;
    assert_int_equal(run(&retry, &fake, 0, 10, &ok), 1);
    assert_true(ok);
    assert_int_equal(fake.sleep_count, 0);
    assert_int_equal(retry.attempts, 1);
    assert_int_equal(pd_retry_remaining_ms(&retry), 10000 - 10);
}

static void
test_retry_count_exhausted(void **state)
{
    (void)state;
    FakeClock fake = {0};
    PdClock clock = fake_clock(&fake);
    PdRetry retry;
    pd_retry_begin(&retry, &policy, &clock, 2);
    bool ok;
    assert_int_equal(run(&retry, &fake, 1000, 1, &ok), 5);
    assert_false(ok);
    assert_int_equal(fake.sleep_count, 4); /* between 5 attempts; none after the last */
    assert_int_equal(retry.attempts, 5);
    /* Succeeding on the last allowed attempt works. */
    FakeClock again = {0};
    PdClock clock_again = fake_clock(&again);
    pd_retry_begin(&retry, &policy, &clock_again, 2);
    assert_int_equal(run(&retry, &again, 4, 1, &ok), 5);
    assert_true(ok);
}

static void
test_retry_time_exhausted(void **state)
{
    (void)state;
    FakeClock fake = {0};
    PdClock clock = fake_clock(&fake);
    PdRetryPolicy by_time = {0, 1000, 100, 400}; /* no count bound */
    PdRetry retry;
    pd_retry_begin(&retry, &by_time, &clock, 3);
    bool ok;
    int attempts = run(&retry, &fake, 1000, 0, &ok);
    assert_false(ok);
    assert_true(attempts > 2);
    /* The waits add up to the total exactly: the last one was cut to end at the deadline. */
    assert_int_equal(fake.now_ms, 1000);
    assert_int_equal(pd_retry_remaining_ms(&retry), 0);
    int64_t slept = 0;
    for (int i = 0; i < fake.sleep_count; i++)
        slept += fake.sleeps[i];
    assert_int_equal(slept, 1000);
    /* Attempts that take time themselves: none starts after the deadline. */
    for (uint64_t seed = 0; seed < 20; seed++)
    {
        FakeClock slow = {0};
        PdClock slow_clock = fake_clock(&slow);
        pd_retry_begin(&retry, &by_time, &slow_clock, seed);
        run(&retry, &slow, 1000, 30, &ok);
        assert_false(ok);
        assert_true(slow.now_ms - 30 <= 1000);
        assert_true(slow.now_ms >= 1000);
    }
}

static void
test_retry_delay_clamped_to_deadline(void **state)
{
    (void)state;
    FakeClock fake = {0};
    PdClock clock = fake_clock(&fake);
    PdRetryPolicy tight = {10, 1000, 300, 300}; /* every wait is 300 */
    PdRetry retry;
    pd_retry_begin(&retry, &tight, &clock, 4);
    fake.now_ms = 950;
    assert_int_equal(pd_retry_remaining_ms(&retry), 50);
    assert_true(pd_retry_next(&retry, NULL));
    assert_int_equal(fake.sleep_count, 1);
    assert_int_equal(fake.sleeps[0], 50);
    assert_int_equal(retry.last_delay_ms, 300);
    assert_int_equal(fake.now_ms, 1000);
    assert_false(pd_retry_next(&retry, NULL));
    assert_int_equal(fake.sleep_count, 1);
}

static void
test_retry_jitter_bounds(void **state)
{
    (void)state;
    PdRetryPolicy wide = {0, 0, 10, 5000}; /* no bounds but the cap */
    for (uint64_t seed = 0; seed < 50; seed++)
    {
        FakeClock fake = {0};
        PdClock clock = fake_clock(&fake);
        PdRetry retry;
        pd_retry_begin(&retry, &wide, &clock, seed);
        int64_t last = 10;
        for (int i = 0; i < 40; i++)
        {
            assert_true(pd_retry_next(&retry, NULL));
            int64_t delay = fake.sleeps[fake.sleep_count - 1];
            int64_t high = last * 3 < 5000 ? last * 3 : 5000;
            assert_true(delay >= 10);
            assert_true(delay <= high);
            last = delay;
        }
    }
    /* A base above the cap is raised to it; a base of 0 becomes 1. */
    FakeClock fake = {0};
    PdClock clock = fake_clock(&fake);
    PdRetryPolicy odd = {3, 0, 0, -5};
    PdRetry retry;
    pd_retry_begin(&retry, &odd, &clock, 9);
    assert_true(pd_retry_next(&retry, NULL));
    assert_int_equal(fake.sleeps[0], 1);
}

static void
test_retry_interruption_stops_at_once(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    FakeClock fake = {.interrupt_at_sleep = 2, .flag = &stop};
    PdClock clock = fake_clock(&fake);
    PdRetry retry;
    pd_retry_begin(&retry, &policy, &clock, 5);
    assert_true(pd_retry_next(&retry, &stop));
    assert_false(pd_retry_next(&retry, &stop)); /* interrupted halfway through the second wait */
    assert_int_equal(stop, 1);
    assert_int_equal(retry.attempts, 2);
    assert_int_equal(fake.sleep_count, 2);
    /* Already interrupted: no wait at all. */
    assert_false(pd_retry_next(&retry, &stop));
    assert_int_equal(fake.sleep_count, 2);
}

static void
test_retry_seed_reproduces_the_sequence(void **state)
{
    (void)state;
    PdRetryPolicy wide = {0, 0, 10, 100000};
    FakeClock first = {0}, second = {0}, other = {0};
    PdClock clocks[3] = {fake_clock(&first), fake_clock(&second), fake_clock(&other)};
    PdRetry retries[3];
    uint64_t seeds[3] = {42, 42, 43};
    for (int r = 0; r < 3; r++)
    {
        pd_retry_begin(&retries[r], &wide, &clocks[r], seeds[r]);
        for (int i = 0; i < 20; i++)
            assert_true(pd_retry_next(&retries[r], NULL));
    }
    int differ = 0;
    for (int i = 0; i < 20; i++)
    {
        assert_int_equal(first.sleeps[i], second.sleeps[i]);
        differ += first.sleeps[i] != other.sleeps[i];
    }
    assert_true(differ > 0);
    assert_true(pd_retry_seed() != pd_retry_seed());
}

static void
test_system_clock_sleeps(void **state)
{
    (void)state;
    const PdClock *clock = pd_clock_system();
    int64_t before = clock->now_ms(clock->data);
    assert_true(clock->sleep_ms(clock->data, 120, NULL)); /* three slices */
    assert_true(clock->now_ms(clock->data) - before >= 120);
}

static volatile sig_atomic_t stop_flag;

static void *
interrupt_soon(void *arg)
{
    (void)arg;
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
    stop_flag = 1;
    return NULL;
}

static void
test_system_clock_sleep_is_interruptible(void **state)
{
    (void)state;
    const PdClock *clock = pd_clock_system();
    stop_flag = 0;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, interrupt_soon, NULL), 0);
    int64_t before = clock->now_ms(clock->data);
    assert_false(clock->sleep_ms(clock->data, 60000, &stop_flag));
    int64_t waited = clock->now_ms(clock->data) - before;
    pthread_join(thread, NULL);
    assert_true(waited <
                10000); /* a minute was asked: the flag ended it (within 50 ms, on an idle machine) */
    PdRetry retry;
    PdRetryPolicy slow = {3, 60000, 30000, 30000};
    pd_retry_begin(&retry, &slow, NULL, 1);
    assert_false(pd_retry_next(&retry, &stop_flag)); /* still set: returns before sleeping */
}

/* An endless wait (a policy without a cap: max_delay_ms INT64_MAX) sleeps until interrupted; now + ms
 * overflowed and the sleep returned at once, so the retries spun. */
static void
test_system_clock_sleep_without_end(void **state)
{
    (void)state;
    const PdClock *clock = pd_clock_system();
    stop_flag = 0;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, interrupt_soon, NULL), 0);
    int64_t before = clock->now_ms(clock->data);
    assert_false(clock->sleep_ms(clock->data, INT64_MAX, &stop_flag));
    assert_true(clock->now_ms(clock->data) - before >= 25);
    pthread_join(thread, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_success_first_try_never_sleeps),
        cmocka_unit_test(test_retry_count_exhausted),
        cmocka_unit_test(test_retry_time_exhausted),
        cmocka_unit_test(test_retry_delay_clamped_to_deadline),
        cmocka_unit_test(test_retry_jitter_bounds),
        cmocka_unit_test(test_retry_interruption_stops_at_once),
        cmocka_unit_test(test_retry_seed_reproduces_the_sequence),
        cmocka_unit_test(test_system_clock_sleeps),
        cmocka_unit_test(test_system_clock_sleep_is_interruptible),
        cmocka_unit_test(test_system_clock_sleep_without_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
