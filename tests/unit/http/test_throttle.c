/*
 * test_throttle.c - rates as written (ours and DRF's spellings, and what is refused), token buckets on a
 * clock the test moves: a burst up to the rate then a refusal with the exact Retry-After, refill over
 * time (also under takes more frequent than one token's worth), keys kept apart, a rate change, the
 * memory bound (least recently used dropped), long keys, and many threads on few keys losing no count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
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

static void
test_burst_and_refill(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(100);
    PdRate three_per_minute = rate("3/min");
    int64_t now = 1000000;
    int retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(pd_http_throttle_take(throttle, "a", three_per_minute, now, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", three_per_minute, now, &retry));
    assert_int_equal(retry, 20); /* one token every 20 s */
    /* another key has its own bucket */
    assert_true(pd_http_throttle_take(throttle, "b", three_per_minute, now, &retry));
    /* 15 s later: still 5 s to go */
    assert_false(pd_http_throttle_take(throttle, "a", three_per_minute, now + 15000, &retry));
    assert_int_equal(retry, 5);
    /* polled every 100 ms, the token still comes back at 20 s */
    int64_t t = now + 15000;
    while (!pd_http_throttle_take(throttle, "a", three_per_minute, t, &retry))
        t += 100;
    assert_in_range(t - now, 19900, 20100);
    /* a long pause refills to the size, not beyond */
    now = t + 10 * 60000;
    for (int i = 0; i < 3; i++)
        assert_true(pd_http_throttle_take(throttle, "a", three_per_minute, now, &retry));
    assert_false(pd_http_throttle_take(throttle, "a", three_per_minute, now, &retry));
    /* a larger rate (a reload) refills toward the new size */
    assert_true(pd_http_throttle_take(throttle, "a", rate("10/s"), now + 100, &retry));
    /* rate 0: unlimited */
    for (int i = 0; i < 1000; i++)
        assert_true(pd_http_throttle_take(throttle, "c", (PdRate){0, 0}, now, &retry));
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
    assert_int_equal(retry, 1); /* 100 ms, never 0 */
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
    /* the most recent key is still held (refused); the first was dropped (a fresh bucket) */
    assert_false(pd_http_throttle_take(throttle, "client-9999", one, 10000, &retry));
    assert_true(pd_http_throttle_take(throttle, "client-0", one, 10000, &retry));
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
        if (pd_http_throttle_take(worker->throttle, key, (PdRate){1000, 3600}, 0, &retry))
            worker->allowed++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    PdThrottle *throttle = pd_http_throttle_new(1000);
    pthread_t threads[8];
    Worker workers[8];
    for (int i = 0; i < 8; i++)
    {
        workers[i] = (Worker){throttle, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
    }
    int allowed = 0;
    for (int i = 0; i < 8; i++)
    {
        pthread_join(threads[i], NULL);
        allowed += workers[i].allowed;
    }
    assert_int_equal(allowed, 8 * 1000); /* exactly the 8 buckets' tokens, no more, no fewer */
    pd_http_throttle_free(throttle);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_parse),
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
