/*
 * http.h - what the commands (src/cli) use of src/http; everything else of the module is private to it.
 */
#ifndef PRODATA_HTTP_H
#define PRODATA_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/settings.h"

/* What `prodata token` asks for. */
typedef struct PdHttpTokenRequest
{
    const char *role;     /* required, 1..63 bytes */
    const char *subject;  /* "sub", or NULL */
    int64_t lifetime_s;   /* exp = now_s + lifetime_s */
    const char *audience; /* NULL: jwt_audience (none when empty) */
    const char *issuer;   /* NULL: jwt_issuer (none when empty) */
} PdHttpTokenRequest;

/*
 * An HS256 bearer token the server configured by settings accepts: signed with its secret (jwt_secret_file
 * or jwt_secret), the role under jwt_role_claim. *token in arena. Errors: PD_ERR_INVALID_INPUT (no secret,
 * one shorter than 32 bytes, no role), PD_ERR_IO (jwt_secret_file unreadable), arena exhaustion.
 */
bool pd_http_token(PdArena *arena, const PdServeSettings *settings, const PdHttpTokenRequest *request,
                   int64_t now_s, char **token, PdError *err);

#endif
