/*
 * token.c - bearer tokens made by us, for `prodata token` (the demo and the tests call the API as a role
 * without an identity provider). The claims follow the serve settings so the server accepts what this
 * makes: the role under jwt_role_claim (nested objects for a dotted path), iss and aud from jwt_issuer and
 * jwt_audience unless the request names others, iat now and exp after the lifetime. The secret is the one
 * the server would use (pd_http_auth_options); it is never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "http.h"

/* The role at a dotted claim path: {"app": {"role": ...}} for "app.role". */
static bool
set_role(json_t *claims, const char *path, const char *role)
{
    json_t *at = claims;
    const char *dot;
    while ((dot = strchr(path, '.')) != NULL)
    {
        char segment[201];
        snprintf(segment, sizeof(segment), "%.*s", (int)(dot - path), path);
        json_t *inner = json_object_get(at, segment);
        if (inner == NULL && json_object_set_new(at, segment, inner = json_object()) != 0)
            return false;
        at = inner;
        path = dot + 1;
    }
    return json_object_set_new(at, path, json_string(role)) == 0;
}

static bool
set_text(json_t *claims, const char *name, const char *value)
{
    return value == NULL || value[0] == '\0' || json_object_set_new(claims, name, json_string(value)) == 0;
}

static bool
build_claims(PdArena *arena, const PdJwtOptions *jwt, const PdHttpTokenRequest *request, int64_t now_s,
             char **text, PdError *err)
{
    const char *role_claim = jwt->role_claim != NULL && jwt->role_claim[0] != '\0' ? jwt->role_claim : "role";
    json_t *claims =
        json_pack("{s:I, s:I}", "iat", (json_int_t)now_s, "exp", (json_int_t)(now_s + request->lifetime_s));
    bool ok = claims != NULL && set_role(claims, role_claim, request->role) &&
              set_text(claims, "sub", request->subject) &&
              set_text(claims, "aud", request->audience != NULL ? request->audience : jwt->audience) &&
              set_text(claims, "iss", request->issuer != NULL ? request->issuer : jwt->issuer);
    char *dumped = ok ? json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(claims);
    *text = dumped != NULL ? pd_arena_strdup(arena, dumped) : NULL;
    free(dumped);
    if (*text == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the token's claims cannot be written as JSON"),
               pd_error_hint(err, "role, subject, audience and issuer must be valid UTF-8");
    return true;
}

bool
pd_http_token(PdArena *arena, const PdServeSettings *settings, const PdHttpTokenRequest *request,
              int64_t now_s, char **token, PdError *err)
{
    if (request->role == NULL || request->role[0] == '\0' || strlen(request->role) > 63)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a token needs a role of 1 to 63 bytes");
    PdHttpAuthOptions options;
    char *claims = NULL;
    if (!pd_http_auth_options(arena, settings, &options, err) ||
        !build_claims(arena, &options.jwt, request, now_s, &claims, err))
        return false;
    if (options.jwt.secret == NULL || options.jwt.secret[0] == '\0')
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no JWT secret to sign with"),
               pd_error_hint(err, "set jwt_secret (prodata.conf or PRODATA_JWT_SECRET) or jwt_secret_file");
    PdJwtKeys *keys = NULL;
    if (!pd_http_jwt_load(&(PdJwtOptions){.secret = options.jwt.secret}, &keys, err))
        return pd_error_context(err, "while reading the serve settings' JWT secret");
    bool ok = pd_http_jwt_sign_hs256(arena, keys, claims, token, err);
    pd_http_jwt_free(keys);
    return ok;
}
