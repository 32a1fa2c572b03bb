/*
 * auth.c - the request's identity and its limits. Order matters: the address bucket first (before any
 * signature work, so a flood of forged tokens costs a bucket lookup), then the token or the anonymous
 * role, then the role's bucket. Rates are parsed once at creation; the per-role overrides are a short
 * list scanned per request (a handful of roles, not worth a map). The PdHttpAuth is immutable after
 * creation except for its throttle, which locks itself.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

#define MAX_ROLE_RATES 64

typedef struct RoleRate
{
    char *role;
    PdRate rate; /* requests 0: unlimited */
} RoleRate;

struct PdHttpAuth
{
    PdJwtKeys *keys; /* NULL: no key configured, every token refused */
    char *anonymous_role;
    PdRate address_rate;
    PdRate role_rate; /* for roles without an override */
    RoleRate role_rates[MAX_ROLE_RATES];
    size_t role_rate_count;
    PdThrottle *throttle;
};

void
pd_http_auth_free(PdHttpAuth *auth)
{
    if (auth == NULL)
        return;
    pd_http_jwt_free(auth->keys);
    free(auth->anonymous_role);
    for (size_t i = 0; i < auth->role_rate_count; i++)
        free(auth->role_rates[i].role);
    pd_http_throttle_free(auth->throttle);
    free(auth);
}

static bool
is_set(const char *text)
{
    return text != NULL && text[0] != '\0';
}

/* One entry of rate_per_role: "100/min" (every role) or "role=100/min" / "role=" (unlimited). */
static bool
parse_role_entry(PdHttpAuth *auth, char *entry, PdError *err)
{
    char *equals = strchr(entry, '=');
    if (equals == NULL)
        return pd_http_rate_parse(entry, &auth->role_rate, err);
    *equals = '\0';
    if (entry[0] == '\0' || auth->role_rate_count == MAX_ROLE_RATES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            entry[0] == '\0' ? "a role rate without a role, expected role=100/min"
                                             : "more than 64 role rates");
    RoleRate *rate = &auth->role_rates[auth->role_rate_count];
    if (equals[1] != '\0' && !pd_http_rate_parse(equals + 1, &rate->rate, err))
        return false;
    if ((rate->role = strdup(entry)) == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while reading the role rates");
    auth->role_rate_count++;
    return true;
}

static bool
parse_role_rates(PdHttpAuth *auth, const char *text, PdError *err)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while reading the role rates");
    bool ok = true;
    char *rest = copy;
    for (char *entry = strsep(&rest, ","); entry != NULL && ok; entry = strsep(&rest, ","))
    {
        while (isspace((unsigned char)*entry))
            entry++;
        size_t length = strlen(entry);
        while (length > 0 && isspace((unsigned char)entry[length - 1]))
            entry[--length] = '\0';
        ok = length == 0 || parse_role_entry(auth, entry, err);
    }
    free(copy);
    return ok;
}

static bool
configure(PdHttpAuth *auth, const PdHttpAuthOptions *options, PdError *err)
{
    const PdJwtOptions *jwt = &options->jwt;
    if ((is_set(jwt->secret) || is_set(jwt->public_key_file)) && !pd_http_jwt_load(jwt, &auth->keys, err))
        return false;
    if (is_set(options->rate_per_address) &&
        !pd_http_rate_parse(options->rate_per_address, &auth->address_rate, err))
        return pd_error_field(err, "rate_per_address");
    if (is_set(options->rate_per_role) && !parse_role_rates(auth, options->rate_per_role, err))
        return pd_error_field(err, "rate_per_role");
    if (is_set(options->anonymous_role) && (auth->anonymous_role = strdup(options->anonymous_role)) == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while reading the auth settings");
    auth->throttle =
        pd_http_throttle_new(options->max_throttle_keys > 0 ? options->max_throttle_keys : 100000);
    if (auth->throttle == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while making the throttle");
    return true;
}

bool
pd_http_auth_new(const PdHttpAuthOptions *options, PdHttpAuth **auth, PdError *err)
{
    PdHttpAuth *made = calloc(1, sizeof(*made));
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while making the authenticator");
    if (!configure(made, options, err))
    {
        pd_http_auth_free(made);
        return false;
    }
    *auth = made;
    return true;
}

/* jwt_secret_file's contents; a longer file is refused rather than cut (a cut key would sign, wrongly). */
static bool
read_secret_file(PdArena *arena, const char *path, const char **secret, PdError *err)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return pd_error_set(err, PD_ERR_IO, "cannot read jwt_secret_file \"%s\"", path);
    char *text = pd_arena_alloc(arena, 4098);
    size_t length = text != NULL ? fread(text, 1, 4097, file) : 0;
    fclose(file);
    if (text == NULL)
        return pd_arena_error(arena, err);
    if (length > 4096)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "jwt_secret_file \"%s\" is longer than 4096 bytes",
                            path);
    text[length] = '\0';
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
        text[--length] = '\0';
    *secret = text;
    return true;
}

bool
pd_http_auth_options(PdArena *arena, const PdServeSettings *settings, PdHttpAuthOptions *options,
                     PdError *err)
{
    const char *secret = settings->jwt_secret;
    if (is_set(settings->jwt_secret_file) &&
        !read_secret_file(arena, settings->jwt_secret_file, &secret, err))
        return false;
    *options = (PdHttpAuthOptions){
        .jwt = {.secret = secret,
                .public_key_file = settings->jwt_public_key,
                .issuer = settings->jwt_issuer,
                .audience = settings->jwt_audience,
                .role_claim = settings->jwt_role_claim},
        .anonymous_role = settings->anonymous_role,
        .rate_per_address = settings->rate_per_address,
        .rate_per_role = settings->rate_per_role,
    };
    return true;
}

static bool
throttled(PdError *err, int retry_after_s)
{
    pd_error_set(err, PD_ERR_RATE_LIMITED, "Request was throttled. Expected available in %d second%s.",
                 retry_after_s, retry_after_s == 1 ? "" : "s");
    return pd_error_detail(err, "%d", retry_after_s);
}

static bool
unauthorized(PdError *err, const char *code, const char *message)
{
    pd_error_set(err, PD_ERR_UNAUTHORIZED, "%s", message);
    return code != NULL ? pd_error_detail(err, "%s", code) : false;
}

static PdRate
rate_of(const PdHttpAuth *auth, const char *role)
{
    for (size_t i = 0; i < auth->role_rate_count; i++)
        if (strcmp(auth->role_rates[i].role, role) == 0)
            return auth->role_rates[i].rate;
    return auth->role_rate;
}

/* The token of "Bearer <token>" (scheme case-insensitive, as RFC 7235 says); NULL when not that form. */
static const char *
bearer_token(const char *authorization)
{
    if (strncasecmp(authorization, "Bearer", 6) != 0 || authorization[6] != ' ')
        return NULL;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    size_t length = strlen(token);
    while (length > 0 && token[length - 1] == ' ')
        length--;
    return length > 0 && memchr(token, ' ', length) == NULL ? token : NULL;
}

static bool
identify_token(PdHttpAuth *auth, PdArena *arena, const char *authorization, int64_t now_ms,
               PdHttpIdentity *identity, PdError *err)
{
    const char *token = bearer_token(authorization);
    if (token == NULL)
        return unauthorized(err, "invalid_request",
                            "Invalid Authorization header, expected \"Bearer <token>\".");
    char *trimmed = pd_arena_strndup(arena, token, strcspn(token, " "));
    if (trimmed == NULL)
        return pd_arena_error(arena, err);
    if (auth->keys == NULL)
        return unauthorized(err, "invalid_token", "token not accepted: no key configured");
    PdJwtClaims claims;
    if (!pd_http_jwt_verify(arena, auth->keys, trimmed, now_ms / 1000, &claims, err))
        return err->code == PD_ERR_UNAUTHORIZED ? pd_error_detail(err, "invalid_token") : false;
    if (claims.role == NULL && auth->anonymous_role == NULL)
        return unauthorized(err, "invalid_token", "token has no role claim");
    identity->is_anonymous = false;
    identity->role = claims.role != NULL ? claims.role : auth->anonymous_role;
    identity->subject = claims.subject;
    identity->claims_json = claims.claims_json;
    return true;
}

bool
pd_http_auth_identify(PdHttpAuth *auth, PdArena *arena, const char *authorization, const char *address,
                      int64_t now_ms, PdHttpIdentity *identity, PdError *err)
{
    int retry_after_s = 1;
    char key[80];
    snprintf(key, sizeof(key), "a:%.64s", address != NULL ? address : "");
    if (address != NULL &&
        !pd_http_throttle_take(auth->throttle, key, auth->address_rate, now_ms, &retry_after_s))
        return throttled(err, retry_after_s);
    PdHttpIdentity found = {.is_anonymous = true, .role = auth->anonymous_role};
    bool has_credentials = authorization != NULL && authorization[0] != '\0';
    if (has_credentials && !identify_token(auth, arena, authorization, now_ms, &found, err))
        return false;
    if (!has_credentials && auth->anonymous_role == NULL)
        return unauthorized(err, "", PD_AUTH_NOT_PROVIDED);
    PdRate rate = rate_of(auth, found.role);
    const char *who = found.subject != NULL ? found.subject : address != NULL ? address : "";
    char *role_key = rate.requests > 0 ? pd_arena_sprintf(arena, "r:%s:%c:%s", found.role,
                                                          found.subject != NULL ? 's' : 'a', who)
                                       : NULL;
    if (rate.requests > 0 && role_key == NULL)
        return pd_arena_error(arena, err);
    if (rate.requests > 0 && !pd_http_throttle_take(auth->throttle, role_key, rate, now_ms, &retry_after_s))
        return throttled(err, retry_after_s);
    *identity = found;
    return true;
}

static bool
is_listed(const PdAccess *access, const char *role)
{
    for (size_t i = 0; i < access->role_count; i++)
        if (strcmp(access->roles[i], role) == 0)
            return true;
    return false;
}

bool
pd_http_auth_allows(const PdModel *model, const PdHttpIdentity *identity, bool is_write, PdError *err)
{
    const PdAccess *access = is_write ? &model->write_access : &model->read_access;
    switch (access->kind)
    {
        case PD_ACCESS_ANYONE:
            return true;
        case PD_ACCESS_AUTHENTICATED:
            if (!identity->is_anonymous)
                return true;
            break;
        case PD_ACCESS_ROLES:
            if (is_listed(access, identity->role))
                return true;
            break;
        case PD_ACCESS_NONE:
            return pd_error_set(err, PD_ERR_FORBIDDEN, PD_AUTH_DENIED);
    }
    if (identity->is_anonymous)
        return unauthorized(err, "", PD_AUTH_NOT_PROVIDED);
    return pd_error_set(err, PD_ERR_FORBIDDEN, PD_AUTH_DENIED);
}
