/*
 * api_route.h - private to the API's files: the answer to one request
 * decided from a snapshot, without HTTP (api_route.c), so that every
 * endpoint's rule is one function the unit tests can also call directly;
 * api.c only carries requests and answers between libmicrohttpd and it.
 */
#ifndef PRODATA_HA_API_ROUTE_H
#define PRODATA_HA_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/view.h"
#include "prodata/arena.h"
#include "prodata/error.h"

/* One query parameter as the client sent it (decoded). */
typedef struct PdHaApiArg
{
    const char *name;
    const char *value; /* "" for a bare "?name" */
} PdHaApiArg;

typedef struct PdHaApiRequest
{
    const char *method; /* "GET", "HEAD", "OPTIONS", anything else is 405 */
    const char *path;   /* "/replica", without the query */
    const PdHaApiArg *args;
    size_t arg_count;
    bool has_snapshot;         /* the keeper published at least once */
    PdKeeperSnapshot snapshot; /* what it published last */
    int64_t now_mono_ms;       /* CLOCK_MONOTONIC now, in ms (/liveness, the leader's fence deadline) */
} PdHaApiRequest;

typedef struct PdHaApiAnswer
{
    int status;        /* 200, 503, 400, 404, 405 */
    const char *allow; /* the Allow header's value, or NULL */
    const char *body;  /* JSON, in arena; "" for OPTIONS (status only, as Patroni) */
} PdHaApiAnswer;

/* "GET, HEAD, OPTIONS": every endpoint's methods. */
#define PD_HA_API_ALLOW "GET, HEAD, OPTIONS"

/*
 * The answer to one request. Never fails for anything the client sent (bad
 * method, unknown path, malformed query: 405, 404, 400 with a JSON body);
 * false only when arena is out of memory. Errors: PD_ERR_NO_MEMORY,
 * PD_ERR_TOO_LARGE.
 */
bool pd_ha_api_route(PdArena *arena, const PdHaApiRequest *request, PdHaApiAnswer *answer, PdError *err);

/*
 * Patroni's ?lag= value: a whole number of bytes ("1048576") or one with
 * PostgreSQL's memory units, case as PostgreSQL writes them: B, kB, MB, GB,
 * TB (1024 based: "10MB" = 10485760). No sign, no fraction, no spaces, at
 * most INT64_MAX bytes. false for anything else.
 */
bool pd_ha_api_parse_lag(const char *text, int64_t *bytes);

#endif
