/*
 * throttle.h - rate limits as token buckets (DRF's throttling, 429 with Retry-After). Each key (a role and
 * user, a client address) has a bucket of `requests` tokens refilled evenly over `period_s`; a request
 * takes one. Memory is bounded: past max_keys the least recently used bucket is dropped (it would have
 * refilled anyway, at worst its key gets a fresh full bucket). Thread-safe. Private to src/http.
 */
#ifndef PRODATA_HTTP_THROTTLE_H
#define PRODATA_HTTP_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/error.h"

typedef struct PdRate
{
    int requests; /* per period; 0: unlimited */
    int period_s;
} PdRate;

/*
 * "100/min", "10/s", "1000/hour", "5000/day"; units s, sec, second, m, min, minute, h, hour, d, day (DRF's
 * "100/minute" included); requests 1 .. 1000000000. Errors: PD_ERR_INVALID_INPUT naming the text.
 */
bool pd_http_rate_parse(const char *text, PdRate *rate, PdError *err);

typedef struct PdThrottle PdThrottle;

/* A throttle keeping at most max_keys buckets (at least one per lock stripe); NULL when memory is short. */
PdThrottle *pd_http_throttle_new(size_t max_keys);
void pd_http_throttle_free(PdThrottle *throttle);

/*
 * Takes one token from key's bucket at now_ms (a monotonic clock the caller passes, so tests choose time).
 * True when the request may go on; false with *retry_after_s (>= 1) the seconds until a token is back. A
 * rate of 0 requests always allows. A bucket whose rate changed (a reload) keeps its tokens, capped at the
 * new size. Keys longer than 200 bytes are cut and tagged with a hash of the whole. Thread-safe.
 */
bool pd_http_throttle_take(PdThrottle *throttle, const char *key, PdRate rate, int64_t now_ms,
                           int *retry_after_s);

/* Buckets held now (for tests and metrics). */
size_t pd_http_throttle_size(PdThrottle *throttle);

#endif
