/*
 * throttle.h - rate limits as DRF's SimpleRateThrottle (429 with Retry-After): a key (a role and user, a
 * client address) may make `requests` requests in any `period_s` seconds; a request is allowed when fewer
 * than that were allowed in the last period_s, and a refused one does not count. Exact up to 64 requests per
 * period; past that a request may count up to 1/64 of the period longer than DRF would count it (never
 * shorter: the limit always holds). Memory is bounded: under 900 bytes a key (at most 65 groups of 8 bytes),
 * and past max_keys the least recently used key is forgotten (at worst it starts afresh). Thread-safe.
 * Private to src/http.
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

/* A throttle keeping the history of at most max_keys keys (at least one per lock stripe); NULL when memory
 * is short. */
PdThrottle *pd_http_throttle_new(size_t max_keys);
void pd_http_throttle_free(PdThrottle *throttle);

/*
 * Counts a request of key at now_ms (milliseconds; the caller passes the clock, so tests choose time; a
 * clock stepping back is taken as no time passing). True when it may go on: fewer than rate.requests were
 * allowed in the rate.period_s before now_ms. False, not counted, with *retry_after_s (>= 1, whole seconds
 * rounded up) the time until one would be: for a full window, until its oldest request leaves it. A rate of
 * 0 requests always allows. A key whose rate changed (a reload) keeps its history, judged by the new rate.
 * Keys longer than 200 bytes are cut and tagged with a hash of the whole. Thread-safe.
 */
bool pd_http_throttle_take(PdThrottle *throttle, const char *key, PdRate rate, int64_t now_ms,
                           int *retry_after_s);

/* Keys held now (for tests and metrics). */
size_t pd_http_throttle_size(PdThrottle *throttle);

#endif
