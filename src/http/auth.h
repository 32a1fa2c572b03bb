/*
 * auth.h - who a request is and whether it may go on: the seam the server calls once per request. It
 * verifies the bearer token (jwt.h), falls back to the anonymous role, applies the rate limits per client
 * address and per role (throttle.h), and judges the model file's access directive. The server maps the
 * errors to DRF's 401/403/429 shapes. Private to src/http.
 */
#ifndef PRODATA_HTTP_AUTH_H
#define PRODATA_HTTP_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "jwt.h"
#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/settings.h"
#include "throttle.h"

/* The message of a 401 without credentials and of a 403, as DRF words them (the server's "detail"). */
#define PD_AUTH_NOT_PROVIDED "Authentication credentials were not provided."
#define PD_AUTH_DENIED "You do not have permission to perform this action."

typedef struct PdHttpAuthOptions
{
    PdJwtOptions jwt;             /* no key at all (no secret, no public key file): every token is refused */
    const char *anonymous_role;   /* the role of a request without a token; NULL or "": 401 without a token */
    const char *rate_per_address; /* "100/min", or NULL/"": none; keyed by client address */
    /* "100/min" for every role, and/or per-role overrides "editor=1000/min,admin=" (empty: unlimited),
     * comma-separated; NULL/"": none. Keyed by role and subject (by role and address for a request
     * without a subject), as DRF keys UserRateThrottle by user and AnonRateThrottle by address. */
    const char *rate_per_role;
    size_t max_throttle_keys; /* buckets kept (0: 100000) */
} PdHttpAuthOptions;

typedef struct PdHttpAuth PdHttpAuth;

/*
 * The options as the serve settings give them. The HS256 secret is the contents of jwt_secret_file when
 * that is set (at most 4096 bytes, its final line end dropped), else jwt_secret; texts live in arena or in
 * settings. Errors: PD_ERR_IO naming the file (never its contents), arena exhaustion.
 */
bool pd_http_auth_options(PdArena *arena, const PdServeSettings *settings, PdHttpAuthOptions *options,
                          PdError *err);

/*
 * Loads keys and parses rates. *auth is malloc'd (pd_http_auth_free); read-only afterwards except for the
 * throttle's own locked state, so any number of threads may call identify at once. A reload makes a new
 * one. Errors: pd_http_jwt_load's; PD_ERR_INVALID_INPUT (a rate, a role override), with err->field naming
 * the setting (rate_per_address, rate_per_role).
 */
bool pd_http_auth_new(const PdHttpAuthOptions *options, PdHttpAuth **auth, PdError *err);
void pd_http_auth_free(PdHttpAuth *auth);

typedef struct PdHttpIdentity
{
    bool is_anonymous;       /* no token: the anonymous role */
    const char *role;        /* the PostgreSQL role for the request's transaction; never NULL on success */
    const char *subject;     /* the token's "sub", or NULL: request.jwt.sub */
    const char *claims_json; /* the token's claims, or NULL: request.jwt.claims */
} PdHttpIdentity;

/*
 * From the Authorization header's value (NULL when absent) and the client's address (NULL: no address
 * limit) at now_ms (milliseconds since the epoch, the wall clock: a token's exp and nbf are read against
 * it; the buckets take a clock stepping back in their stride): the identity, its texts in arena. Errors:
 *   PD_ERR_UNAUTHORIZED: err->message is the "detail" to send; err->detail is "" when no credentials were
 *     given (message PD_AUTH_NOT_PROVIDED) and the WWW-Authenticate error code otherwise ("invalid_token",
 *     "invalid_request" for a header that is not "Bearer <token>");
 *   PD_ERR_RATE_LIMITED: err->message is DRF's "Request was throttled. Expected available in N seconds."
 *     and err->detail holds N alone (for Retry-After). The address limit is taken before the token is
 *     verified, so guessing tokens is throttled too.
 * Thread-safe.
 */
bool pd_http_auth_identify(PdHttpAuth *auth, PdArena *arena, const char *authorization, const char *address,
                           int64_t now_ms, PdHttpIdentity *identity, PdError *err);

/*
 * Whether the model's access directive lets identity read (is_write false) or write: true, or
 * (roles listed: the identity's role is one of them, the anonymous role too when it is listed)
 * PD_ERR_UNAUTHORIZED (PD_AUTH_NOT_PROVIDED: an anonymous request where a token is needed) or
 * PD_ERR_FORBIDDEN (PD_AUTH_DENIED: a role not listed; also write=none, which the server answers with 405
 * before asking).
 */
bool pd_http_auth_allows(const PdModel *model, const PdHttpIdentity *identity, bool is_write, PdError *err);

#endif
