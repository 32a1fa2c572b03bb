/*
 * jwt.h - bearer tokens (RFC 7519 JSON Web Tokens in the compact form) verified with OpenSSL: HS256 with a
 * shared secret, RS256 and ES256 with a PEM public key. Which algorithms a token may use is decided by the
 * configured keys alone, never by the token: "none" is never accepted and an HS256 token is never checked
 * against a public key (the algorithm-confusion attack). Private to src/http.
 */
#ifndef PRODATA_HTTP_JWT_H
#define PRODATA_HTTP_JWT_H

#include <stdbool.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"

/* The longest token accepted (the whole Authorization value after "Bearer "). */
#define PD_JWT_MAX_TOKEN_BYTES 8192
/* The shortest HS256 secret: the hash's own size (RFC 7518 section 3.2). */
#define PD_JWT_MIN_SECRET_BYTES 32

typedef struct PdJwtOptions
{
    const char *secret; /* HS256 shared secret; NULL or "": none */
    const char
        *public_key_file;   /* PEM public key (RSA >= 2048 bits: RS256; EC P-256: ES256); NULL or "": none */
    const char *issuer;     /* required "iss" value; NULL or "": not checked */
    const char *audience;   /* required "aud" (a string or an array holding it); NULL or "": not checked */
    const char *role_claim; /* name of the role claim, dotted for nested ("app.role"); NULL or "": "role" */
    int leeway_s;           /* tolerance on exp and nbf for clock skew (0..3600) */
} PdJwtOptions;

typedef struct PdJwtKeys PdJwtKeys;

/*
 * Reads the keys: at least one of secret and public_key_file. *keys is malloc'd (pd_http_jwt_free), read-only
 * afterwards, so any number of threads may verify with it at once. Errors: PD_ERR_INVALID_INPUT (no key, a
 * secret shorter than PD_JWT_MIN_SECRET_BYTES, a key file that is not a PEM public key of an accepted type,
 * a bad role claim path or leeway), PD_ERR_IO (the file cannot be read), PD_ERR_NO_MEMORY.
 */
bool pd_http_jwt_load(const PdJwtOptions *options, PdJwtKeys **keys, PdError *err);
void pd_http_jwt_free(PdJwtKeys *keys);

typedef struct PdJwtClaims
{
    const char *role;        /* the role claim's string; NULL when the token has none */
    const char *subject;     /* "sub" when a string; NULL otherwise */
    const char *claims_json; /* the payload as sent (a JSON object), for request.jwt.claims */
    int64_t expires;         /* "exp" in seconds since the epoch; 0 when the token has none */
} PdJwtClaims;

/*
 * Verifies token (the compact form, without "Bearer ") at now_s: form, algorithm, signature, then exp and
 * nbf (with the leeway), iss and aud as configured. The claims' texts live in arena. Errors:
 * PD_ERR_UNAUTHORIZED with a short message safe to show a client ("malformed token", "token too large",
 * "unsupported token algorithm", "signature does not verify", "token expired", "token not yet valid",
 * "wrong token issuer", "wrong token audience", "malformed role claim"); PD_ERR_NO_MEMORY / PD_ERR_TOO_LARGE
 * when arena is exhausted. Thread-safe.
 */
bool pd_http_jwt_verify(PdArena *arena, const PdJwtKeys *keys, const char *token, int64_t now_s,
                        PdJwtClaims *claims, PdError *err);

/*
 * A signed HS256 token for claims_json (a JSON object's text), for `prodata token` and tests. *token in
 * arena. Errors: PD_ERR_INVALID_INPUT (no secret loaded, claims not a JSON object), arena exhaustion.
 */
bool pd_http_jwt_sign_hs256(PdArena *arena, const PdJwtKeys *keys, const char *claims_json, char **token,
                            PdError *err);

#endif
