/*
 * args.c - the query string as the handlers see it, and the refusals it calls for before anything is
 * routed. Two steps. First the raw request target, as received (libmicrohttpd hands it to
 * pd_http_on_uri before it splits the arguments): more than PD_HTTP_MAX_ARGS arguments (Django's
 * DATA_UPLOAD_MAX_NUMBER_FIELDS), a target over PD_HTTP_MAX_TARGET bytes or an escaped NUL in the path
 * is refused there, because libmicrohttpd keeps one record per argument in the connection's fixed memory
 * and, out of it, closes the connection without an answer. Then each decoded argument (with its length,
 * so an escaped NUL shows): a NUL or invalid UTF-8 in a name or a value is a 400 under the argument's name
 * (nothing reaches the database that PostgreSQL would refuse in its own words), a value without a name is
 * a 400 under non_field_errors, an empty segment (`&&`) is no argument at all (as Python's parse_qsl),
 * and a repeated name keeps its last value (Django's QueryDict). Every problem of the query string is
 * reported at once.
 */
#include <string.h>

#include "server.h"

/* ---- the raw target ---- */

static bool
has_escaped_nul(const char *text, size_t length)
{
    for (size_t i = 0; i + 2 < length; i++)
        if (text[i] == '%' && text[i + 1] == '0' && text[i + 2] == '0')
            return true;
    return false;
}

int
pd_http_target_refusal(const char *target, const char **detail)
{
    size_t length = strlen(target);
    const char *query = strchr(target, '?');
    size_t path_length = query != NULL ? (size_t)(query - target) : length;
    if (has_escaped_nul(target, path_length) || memchr(target, '\0', path_length) != NULL)
    {
        *detail = "Null characters are not allowed in the path.";
        return 400;
    }
    if (length > PD_HTTP_MAX_TARGET)
    {
        *detail = "Request-URI too long (at most " PD_HTTP_STRINGIFY(PD_HTTP_MAX_TARGET) " bytes).";
        return 414;
    }
    size_t count = query != NULL && query[1] != '\0' ? 1 : 0;
    for (const char *at = query != NULL ? strchr(query, '&') : NULL; at != NULL; at = strchr(at + 1, '&'))
        count++;
    if (count > PD_HTTP_MAX_ARGS)
    {
        *detail = "Too many query parameters (at most " PD_HTTP_STRINGIFY(PD_HTTP_MAX_ARGS) ").";
        return 400;
    }
    return 0;
}

/* ---- decoded arguments ---- */

const char *
pd_http_arg(const PdHttpContext *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->arg_count; i++)
        if (strcmp(ctx->args[i].key, key) == 0)
            return ctx->args[i].value;
    return NULL;
}

/* The argument's name for an error body: the text before any NUL (the JSON writer replaces invalid bytes). */
static const char *
name_of(PdArena *arena, const char *key, size_t key_size)
{
    const char *name = pd_arena_strndup(arena, key, strnlen(key, key_size));
    return name != NULL ? name : "non_field_errors";
}

/* A problem of the argument: its name is the field of the 400 (non_field_errors when it has none). */
static bool
refuse(PdHttpContext *ctx, const char *key, size_t key_size, const char *message, PdError *err)
{
    const char *field = key_size > 0 ? name_of(ctx->arena, key, key_size) : NULL;
    pd_error_add_problem(err, NULL, 0, 0, field, "%s", message);
    return true;
}

bool
pd_http_args_add(PdHttpContext *ctx, const char *key, size_t key_size, const char *value, size_t value_size,
                 PdError *err)
{
    if (key_size == 0 && value == NULL)
        return true; /* an empty segment: `&&`, a trailing `&` */
    if (key_size == 0)
        return refuse(ctx, key, key_size, "A query parameter has no name.", err);
    if (memchr(key, '\0', key_size) != NULL || (value != NULL && memchr(value, '\0', value_size) != NULL))
        return refuse(ctx, key, key_size, "Null characters are not allowed.", err);
    if (!pd_http_is_utf8(key, key_size))
        return refuse(ctx, key, key_size, "The parameter's name is not valid UTF-8.", err);
    if (value != NULL && !pd_http_is_utf8(value, value_size))
        return refuse(ctx, key, key_size, "The value is not valid UTF-8.", err);
    const char *text = value != NULL ? value : "";
    for (size_t i = 0; i < ctx->arg_count; i++)
    {
        if (strcmp(ctx->args[i].key, key) == 0)
        {
            ctx->args[i].value = text; /* the last value wins, as request.GET[key] */
            return true;
        }
    }
    PdHttpArg *args = pd_arena_reserve_next(ctx->arena, ctx->args, ctx->arg_count, sizeof(*args));
    if (args == NULL)
        return pd_arena_error(ctx->arena, err);
    ctx->args = args;
    args[ctx->arg_count++] = (PdHttpArg){key, text};
    return true;
}
