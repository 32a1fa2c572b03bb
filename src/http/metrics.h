/*
 * metrics.h - the server's counters for GET /metrics: requests by resource,
 * method and status, their latency as a histogram, and the connection pool's
 * gauges, written in Prometheus' text exposition format (version 0.0.4).
 */
#ifndef PRODATA_HTTP_METRICS_H
#define PRODATA_HTTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/pool.h"

typedef struct PdMetrics PdMetrics;

/* New, empty counters for the life of a server. NULL when memory is exhausted. */
PdMetrics *pd_http_metrics_new(void);

/* Frees the counters; NULL is a no-op. No observe or render may run at the same time. */
void pd_http_metrics_free(PdMetrics *metrics);

/*
 * Counts one answered request. resource is the catalog's resource ("books"), or whatever short name the
 * caller gives requests outside the resources ("" for /, "openapi", "metrics"): NULL counts as "", names are
 * cut to 63 bytes. method is kept when it is one of HTTP's (GET HEAD POST PUT PATCH DELETE OPTIONS TRACE
 * CONNECT), else counted as "other"; a status outside 100..599 as 0; seconds below 0 (or NaN) as 0. The
 * number of distinct series is bounded: once PD_HTTP_METRICS_MAX_SERIES exist, a new resource is counted as
 * "_other", so no input can grow the memory without bound. Thread-safe (striped locks); never fails.
 */
void pd_http_metrics_observe(PdMetrics *metrics, const char *resource, const char *method, int status,
                             double seconds);

#define PD_HTTP_METRICS_MAX_SERIES 4096

/*
 * The text exposition (Content-Type "text/plain; version=0.0.4; charset=utf-8"): # HELP and # TYPE for each
 * family, then its samples in a stable order (by resource, method, status):
 *   prodata_http_requests_total{resource,method,status}            counter
 *   prodata_http_request_duration_seconds{resource,method}         histogram, le 0.0005 .. 5, +Inf
 *   prodata_db_pool_size, _open, _in_use, _waiting                  gauges (when pool is not NULL)
 *   prodata_db_pool_acquired_total, _timeouts_total, _connects_total, _connect_failures_total,
 *   _waits_total, _wait_seconds_total                                counters
 * Label values are escaped (\\, \", \n). *text is allocated in arena (NUL-terminated, *length bytes).
 * Errors: PD_ERR_NO_MEMORY / PD_ERR_TOO_LARGE from the arena. Thread-safe with concurrent observes: each
 * series is read under its stripe's lock.
 */
bool pd_http_metrics_render(PdArena *arena, PdMetrics *metrics, const PdPoolStats *pool, char **text,
                            size_t *length, PdError *err);

#endif
