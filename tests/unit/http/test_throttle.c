/*
 * test_throttle.c - rates as written (ours and DRF's spellings, and what is refused), and DRF's
 * SimpleRateThrottle on a clock the test moves: at most N requests in any window of the period, a refusal's
 * Retry-After the time until the oldest request leaves the window (rounded up, at least 1), refused requests
 * not counted; decisions and waits equal to a plain history of every request (DRF's list) up to 64 requests
 * per period, and past that never over the limit and never more than a 64th of the period late; a rate
 * change, a clock stepping back, a key busy for weeks, keys kept apart, the memory bound (least recently
 * used forgotten), long keys, and many threads on few keys losing no count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/throttle.h"
#include "testing.h"

static PdRate
rate(const char *text)
{
    PdRate parsed = {0, 0};
    PdError err;
    if (!pd_http_rate_parse(text, &parsed, &err))
        fail_msg("rate \"%s\" refused: %s", text, err.message);
    return parsed;
}

static void
test_rate_parse(void **state)
{
    (void)state;
    PdRate r = rate("100/min");
    assert_int_equal(r.requests, 100);
    assert_int_equal(r.period_s, 60);
    assert_int_equal(rate("10/s").period_s, 1);
    assert_int_equal(rate("10/second").period_s, 1);
    assert_int_equal(rate("1000/hour").period_s, 3600);
    assert_int_equal(rate("5/h").period_s, 3600);
    assert_int_equal(rate("5000/day").period_s, 86400);
    assert_int_equal(rate("100/minute").period_s, 60);
    assert_int_equal(rate("100/m").period_s, 60);
    const char *bad[] = {"",        "100",     "/min",  "0/min",         "-1/min", "10/fortnight", "10/ min",
                         " 10/min", "10/min ", "1.5/s", "99999999999/s", "10/",    "abc/min"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    {
        PdError err;
        PdRate untouched = {7, 7};
        assert_false(pd_http_rate_parse(bad[i], &untouched, &err));
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_contains(err.message, bad[i]);
        assert_int_equal(untouched.requests, 7);
    }
}

/* The audit's case: 5/min, five requests, the sixth refused until the first is a minute old. */
static void
test_window(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(100);
    PdRate five = rate("5/min");
    int retry = 0;
    for (int i = 0; i < 5; i++)
        assert_true(pd_http_throttle_take(throttle, "a", five, i * 1000, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", five, 5000, &retry));
    assert_int_equal(retry, 55); /* the request at 0 leaves the window at 60 s */
    /* 13 s later (a token bucket's refill): still refused, and the refusals did not count */
    assert_false(pd_http_throttle_take(throttle, "a", five, 18000, &retry));
    assert_int_equal(retry, 42);
    assert_false(pd_http_throttle_take(throttle, "a", five, 59999, &retry));
    assert_int_equal(retry, 1);
    /* another key has its own history */
    assert_true(pd_http_throttle_take(throttle, "b", five, 5000, &retry));
    /* DRF drops a time once it is <= now - period: the first request is gone at exactly 60 s */
    assert_true(pd_http_throttle_take(throttle, "a", five, 60000, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", five, 60001, &retry));
    assert_int_equal(retry, 1); /* the request at 1 s leaves at 61 s */
    assert_true(pd_http_throttle_take(throttle, "a", five, 61000, &retry));
    /* rate 0: unlimited */
    for (int i = 0; i < 1000; i++)
        assert_true(pd_http_throttle_take(throttle, "c", (PdRate){0, 0}, 0, &retry));
    pd_http_throttle_free(throttle);
}

/* A client polling every 100 ms for ten minutes gets exactly five requests a minute, never ten. */
static void
test_polling(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(100);
    PdRate five = rate("5/min");
    int retry = 0;
    int allowed = 0;
    for (int64_t t = 0; t < 600000; t += 100)
        if (pd_http_throttle_take(throttle, "poller", five, t, &retry))
        {
            /* at 0, 100, 200, 300, 400 ms of each minute */
            assert_true(t % 60000 < 500);
            allowed++;
        }
        else
            assert_int_equal(retry, (int)((60000 - t % 60000 + 999) / 1000));
    assert_int_equal(allowed, 50);
    pd_http_throttle_free(throttle);
}

static void
test_retry_after_rounds_up(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(10);
    int retry = 0;
    PdRate per_day = rate("1/day");
    assert_true(pd_http_throttle_take(throttle, "x", per_day, 0, &retry));
    assert_false(pd_http_throttle_take(throttle, "x", per_day, 1, &retry));
    assert_int_equal(retry, 86400);
    PdRate fast = rate("10/s");
    for (int i = 0; i < 10; i++)
        assert_true(pd_http_throttle_take(throttle, "y", fast, 0, &retry));
    assert_false(pd_http_throttle_take(throttle, "y", fast, 0, &retry));
    assert_int_equal(retry, 1);
    assert_false(pd_http_throttle_take(throttle, "y", fast, 999, &retry));
    assert_int_equal(retry, 1); /* 1 ms, never 0 */
    assert_true(pd_http_throttle_take(throttle, "y", fast, 1000, &retry));
    pd_http_throttle_free(throttle);
}

/* DRF's history, in full: every allowed time, oldest first. */
typedef struct Reference
{
    int64_t *times;
    size_t count;
    size_t oldest; /* times before it have left the window */
} Reference;

static bool
reference_take(Reference *reference, PdRate rate, int64_t now_ms, int *retry_after_s)
{
    int64_t period_ms = (int64_t)rate.period_s * 1000;
    while (reference->oldest < reference->count && reference->times[reference->oldest] <= now_ms - period_ms)
        reference->oldest++;
    if (reference->count - reference->oldest >= (size_t)rate.requests)
    {
        int64_t wait_ms = reference->times[reference->oldest] + period_ms - now_ms;
        *retry_after_s = wait_ms <= 1000 ? 1 : (int)((wait_ms + 999) / 1000);
        return false;
    }
    reference->times[reference->count++] = now_ms;
    return true;
}

/* Arrival times: bursts and pauses, about `requests` per period on average, 4x that at times. */
static int64_t
next_arrival(int64_t now_ms, PdRate rate, unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    unsigned r = (*seed >> 8) % 1000;
    int64_t mean_ms = (int64_t)rate.period_s * 1000 / rate.requests;
    if (r < 300)
        return now_ms; /* same millisecond */
    if (r < 600)
        return now_ms + (int64_t)(r % 7);
    return now_ms + (int64_t)(r % 100) * mean_ms / 25;
}

/* Up to 64 requests per period the throttle is DRF's history: the same answers, the same waits. */
static void
test_exact_as_drf(void **state)
{
    (void)state;
    const char *rates[] = {"1/s", "7/s", "5/min", "64/min", "30/hour"};
    for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++)
    {
        PdThrottle *throttle = pd_http_throttle_new(10);
        PdRate r = rate(rates[k]);
        Reference reference = {calloc(20000, sizeof(int64_t)), 0, 0};
        unsigned seed = 7 + (unsigned)k;
        int64_t t = 1700000000000;
        for (int i = 0; i < 20000; i++, t = next_arrival(t, r, &seed))
        {
            int got_retry = 0, want_retry = 0;
            bool got = pd_http_throttle_take(throttle, "k", r, t, &got_retry);
            bool want = reference_take(&reference, r, t, &want_retry);
            if (got != want || (!got && got_retry != want_retry))
                fail_msg("%s, request %d at %lld: %s (retry %d), DRF: %s (retry %d)", rates[k], i,
                         (long long)t, got ? "allowed" : "refused", got_retry, want ? "allowed" : "refused",
                         want_retry);
        }
        free(reference.times);
        pd_http_throttle_free(throttle);
    }
}

/*
 * Past 64 a period: never more than N allowed in any window, and a refusal only when N were allowed within
 * the period and a 64th before it (the latest a request is let back); a burst still exact.
 */
static void
test_large_rates(void **state)
{
    (void)state;
    const char *rates[] = {"65/s", "200/min", "10000/hour", "1000/day"};
    for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++)
    {
        PdThrottle *throttle = pd_http_throttle_new(10);
        PdRate r = rate(rates[k]);
        int64_t period_ms = (int64_t)r.period_s * 1000;
        int64_t slice_ms = (period_ms + 63) / 64;
        int64_t *allowed = calloc(60000, sizeof(int64_t));
        size_t allowed_count = 0, in_window = 0, in_late_window = 0, refused = 0;
        unsigned seed = 11 + (unsigned)k;
        int64_t t = 1700000000000;
        for (int i = 0; i < 60000; i++, t = next_arrival(t, r, &seed))
        {
            int retry = 0;
            /* the allowed requests in (t - period, t] and in (t - period - slice, t] */
            while (in_window < allowed_count && allowed[in_window] <= t - period_ms)
                in_window++;
            while (in_late_window < allowed_count && allowed[in_late_window] <= t - period_ms - slice_ms)
                in_late_window++;
            if (pd_http_throttle_take(throttle, "k", r, t, &retry))
            {
                if (allowed_count - in_window >= (size_t)r.requests)
                    fail_msg("%s: request %d at %lld allowed over the limit", rates[k], i, (long long)t);
                allowed[allowed_count++] = t;
                continue;
            }
            refused++;
            if (allowed_count - in_late_window < (size_t)r.requests)
                fail_msg("%s: request %d at %lld refused more than a 64th of the period late", rates[k], i,
                         (long long)t);
            assert_in_range(retry, 1, r.period_s);
        }
        assert_true(refused > 0 && allowed_count > (size_t)r.requests); /* the test did test something */
        free(allowed);
        /* a burst: exactly N, then the whole period to wait */
        int retry = 0;
        for (int i = 0; i < r.requests; i++)
            assert_true(pd_http_throttle_take(throttle, "burst", r, 0, &retry));
        assert_false(pd_http_throttle_take(throttle, "burst", r, 0, &retry));
        assert_int_equal(retry, r.period_s);
        assert_true(pd_http_throttle_take(throttle, "burst", r, period_ms, &retry));
        pd_http_throttle_free(throttle);
    }
}

/* A reload's new rate judges the history kept: more allowed at once when raised, fewer when lowered. */
static void
test_rate_change(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(10);
    int retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(pd_http_throttle_take(throttle, "a", rate("3/min"), i, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", rate("3/min"), 10, &retry));
    assert_true(pd_http_throttle_take(throttle, "a", rate("10/s"), 100, &retry)); /* 3 of 10 in the last s */
    /* lowered: 10 in 10 ms under 10/s, then 2/s waits for 9 of them to leave (the 9th, at 8 ms, at 1008) */
    for (int i = 0; i < 10; i++)
        assert_true(pd_http_throttle_take(throttle, "b", rate("10/s"), i, &retry));
    assert_false(pd_http_throttle_take(throttle, "b", rate("2/s"), 100, &retry));
    assert_int_equal(retry, 1);
    assert_false(pd_http_throttle_take(throttle, "b", rate("2/s"), 1007, &retry));
    assert_true(pd_http_throttle_take(throttle, "b", rate("2/s"), 1008, &retry));
    /* and a large rate lowered below 64 keeps the limit */
    for (int i = 0; i < 100; i++)
        assert_true(pd_http_throttle_take(throttle, "c", rate("100/min"), i * 100, &retry));
    assert_false(pd_http_throttle_take(throttle, "c", rate("50/min"), 10000, &retry));
    assert_in_range(retry, 55,
                    56); /* DRF: 55 (the 51st oldest, at 5 s, leaves at 65 s), then up to a slice */
    pd_http_throttle_free(throttle);
}

/* The wall clock stepping back an hour: no time passed, rather than the key held for an hour. */
static void
test_clock_back(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(10);
    PdRate two = rate("2/min");
    int retry = 0;
    int64_t t = 1700000000000;
    assert_true(pd_http_throttle_take(throttle, "a", two, t, &retry));
    assert_true(pd_http_throttle_take(throttle, "a", two, t + 30000, &retry));
    t -= 3600000;
    assert_false(pd_http_throttle_take(throttle, "a", two, t, &retry));
    assert_int_equal(retry, 30); /* the first request, 30 s old, leaves in 30 s */
    assert_true(pd_http_throttle_take(throttle, "a", two, t + 30000, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", two, t + 30001, &retry));
    pd_http_throttle_free(throttle);
}

/* A key never idle for a month (its history never empty): times stay right past 2^32 ms. */
static void
test_busy_for_weeks(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(10);
    PdRate two = rate("2/min");
    PdRate many = rate("6000/hour");
    int retry = 0;
    int64_t t = 1700000000000;
    for (int i = 0; i < 30 * 24 * 120; i++, t += 30000)
    {
        assert_true(pd_http_throttle_take(throttle, "exact", two, t, &retry));
        assert_true(pd_http_throttle_take(throttle, "sliced", many, t, &retry));
    }
    t -= 30000;
    assert_false(pd_http_throttle_take(throttle, "exact", two, t, &retry));
    assert_int_equal(retry, 30);
    /* 120 in the last hour (a slice's worth more may still count): the rest of 6000 allowed at once */
    int more = 0;
    while (more <= 6000 && pd_http_throttle_take(throttle, "sliced", many, t, &retry))
        more++;
    assert_in_range(more, 6000 - 120 - 2, 6000 - 120);
    assert_in_range(retry, 30, 30 + 57);
    pd_http_throttle_free(throttle);
}

static void
test_bounded(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(32);
    PdRate one = rate("1/hour");
    int retry = 0;
    char key[32];
    for (int i = 0; i < 10000; i++)
    {
        snprintf(key, sizeof(key), "client-%d", i);
        assert_true(pd_http_throttle_take(throttle, key, one, i, &retry));
    }
    assert_true(pd_http_throttle_size(throttle) <= 32);
    /* the most recent key is still held (refused); the first was forgotten (a fresh history) */
    assert_false(pd_http_throttle_take(throttle, "client-9999", one, 10000, &retry));
    assert_true(pd_http_throttle_take(throttle, "client-0", one, 10000, &retry));
    /* a forgotten key's place, ring and all, serves a key of a large rate */
    for (int i = 0; i < 1000; i++)
    {
        snprintf(key, sizeof(key), "big-%d", i);
        for (int j = 0; j < 3; j++)
            assert_true(
                pd_http_throttle_take(throttle, key, rate("1000/min"), 20000 + i * 100 + j * 10, &retry));
    }
    assert_true(pd_http_throttle_size(throttle) <= 32);
    /* keys past 200 bytes: distinct when they differ after the cut */
    char long_a[400], long_b[400];
    memset(long_a, 'k', sizeof(long_a) - 1);
    long_a[sizeof(long_a) - 1] = '\0';
    memcpy(long_b, long_a, sizeof(long_b));
    long_b[390] = 'z';
    assert_true(pd_http_throttle_take(throttle, long_a, one, 10000, &retry));
    assert_true(pd_http_throttle_take(throttle, long_b, one, 10000, &retry));
    assert_false(pd_http_throttle_take(throttle, long_a, one, 10000, &retry));
    pd_http_throttle_free(throttle);
}

typedef struct Worker
{
    PdThrottle *throttle;
    PdRate rate;
    int allowed;
} Worker;

static void *
hammer(void *data)
{
    Worker *worker = data;
    int retry;
    char key[16];
    for (int i = 0; i < 20000; i++)
    {
        snprintf(key, sizeof(key), "k%d", i % 8);
        if (pd_http_throttle_take(worker->throttle, key, worker->rate, i / 100, &retry))
            worker->allowed++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    const PdRate rates[] = {{1000, 3600}, {50, 3600}};
    for (size_t k = 0; k < 2; k++)
    {
        PdThrottle *throttle = pd_http_throttle_new(1000);
        pthread_t threads[8];
        Worker workers[8];
        for (int i = 0; i < 8; i++)
        {
            workers[i] = (Worker){throttle, rates[k], 0};
            assert_int_equal(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
        }
        int allowed = 0;
        for (int i = 0; i < 8; i++)
        {
            pthread_join(threads[i], NULL);
            allowed += workers[i].allowed;
        }
        assert_int_equal(allowed, 8 * rates[k].requests); /* exactly the 8 keys' limits, no more, no fewer */
        pd_http_throttle_free(throttle);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_parse),     cmocka_unit_test(test_window),
        cmocka_unit_test(test_polling),        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_exact_as_drf),   cmocka_unit_test(test_large_rates),
        cmocka_unit_test(test_rate_change),    cmocka_unit_test(test_clock_back),
        cmocka_unit_test(test_busy_for_weeks), cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
