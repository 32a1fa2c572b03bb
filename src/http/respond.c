/*
 * respond.c - response bodies in Django REST Framework's shapes. Errors:
 * 400 {"field": ["message", ...]} (problems grouped by field, non-field ones
 * under "non_field_errors"), {"detail": "..."} for everything else, with the
 * headers DRF sends (WWW-Authenticate on 401, Retry-After on 429 and 503,
 * Allow on 405). The map from an error code (and a PostgreSQL SQLSTATE) to a
 * status is here and only here; a 500 is logged with what caused it, and its
 * body says nothing of it. Also the small JSON and URL writers the handlers
 * share: JSON text is only ever written through pd_http_json_string (valid
 * UTF-8 out whatever came in), URLs only through pd_http_url_encode.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

/* ---- JSON text ---- */

/* The length of the valid UTF-8 sequence at text (at most left bytes), or 0 when it is not one. */
static size_t
utf8_sequence(const unsigned char *text, size_t left)
{
    size_t length = text[0] < 0x80             ? 1
                    : (text[0] & 0xE0) == 0xC0 ? 2
                    : (text[0] & 0xF0) == 0xE0 ? 3
                    : (text[0] & 0xF8) == 0xF0 ? 4
                                               : 0;
    if (length == 0 || length > left || (length == 2 && text[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xC0) != 0x80)
            return 0;
    if (length == 3 && ((text[0] == 0xE0 && text[1] < 0xA0) || (text[0] == 0xED && text[1] >= 0xA0)))
        return 0; /* overlong, or a surrogate */
    if (length == 4 &&
        ((text[0] == 0xF0 && text[1] < 0x90) || text[0] > 0xF4 || (text[0] == 0xF4 && text[1] >= 0x90)))
        return 0;
    return length;
}

bool
pd_http_is_utf8(const char *text, size_t length)
{
    const unsigned char *at = (const unsigned char *)text;
    const unsigned char *end = at + length;
    while (at < end)
    {
        size_t sequence = utf8_sequence(at, (size_t)(end - at));
        if (sequence == 0)
            return false;
        at += sequence;
    }
    return true;
}

void
pd_http_json_string_length(PdStrbuf *out, const char *text, size_t length)
{
    const unsigned char *at = (const unsigned char *)text;
    const unsigned char *end = at + length;
    pd_strbuf_append_char(out, '"');
    while (at < end)
    {
        const unsigned char *run = at;
        while (at < end && *at >= 0x20 && *at < 0x80 && *at != '"' && *at != '\\')
            at++;
        pd_strbuf_append_length(out, (const char *)run, (size_t)(at - run));
        if (at >= end)
            break;
        if (*at == '"' || *at == '\\')
        {
            pd_strbuf_append_char(out, '\\');
            pd_strbuf_append_char(out, (char)*at++);
        }
        else if (*at < 0x20)
            pd_strbuf_appendf(out, "\\u%04x", *at++);
        else
        {
            size_t sequence = utf8_sequence(at, (size_t)(end - at));
            if (sequence == 0)
            {
                pd_strbuf_append(out, "\\ufffd");
                at++;
            }
            else
            {
                pd_strbuf_append_length(out, (const char *)at, sequence);
                at += sequence;
            }
        }
    }
    pd_strbuf_append_char(out, '"');
}

void
pd_http_json_string(PdStrbuf *out, const char *text)
{
    pd_http_json_string_length(out, text, strlen(text));
}

/* The end of the JSON value starting at at (a string, or anything up to the next , } ] at its depth). */
static const char *
skip_value(const char *at, const char *end)
{
    int depth = 0;
    for (; at < end; at++)
    {
        if (*at == '"')
        {
            for (at++; at < end && *at != '"'; at++)
                if (*at == '\\')
                    at++;
            if (depth == 0)
                return at < end ? at + 1 : end;
        }
        else if (*at == '{' || *at == '[')
            depth++;
        else if (*at == '}' || *at == ']')
        {
            if (depth == 0)
                return at;
            if (--depth == 0)
                return at + 1;
        }
        else if (*at == ',' && depth == 0)
            return at;
    }
    return end;
}

static const char *
skip_space(const char *at, const char *end)
{
    while (at < end && (*at == ' ' || *at == '\n' || *at == '\t' || *at == '\r'))
        at++;
    return at;
}

bool
pd_http_json_member(const char *json, size_t length, const char *key, const char **value,
                    size_t *value_length)
{
    const char *end = json + length;
    const char *at = skip_space(json, end);
    if (at >= end || *at != '{')
        return false;
    size_t key_length = strlen(key);
    at++;
    while (at < end)
    {
        at = skip_space(at, end);
        if (at >= end || *at != '"')
            return false;
        const char *name = at + 1;
        const char *name_end = skip_value(at, end) - 1;
        at = skip_space(name_end + 1, end);
        if (at >= end || *at != ':')
            return false;
        at = skip_space(at + 1, end);
        const char *value_end = skip_value(at, end);
        if ((size_t)(name_end - name) == key_length && memcmp(name, key, key_length) == 0)
        {
            *value = at;
            *value_length = (size_t)(value_end - at);
            while (*value_length > 0 && strchr(" \n\t\r", at[*value_length - 1]) != NULL)
                (*value_length)--;
            return true;
        }
        at = skip_space(value_end, end);
        if (at >= end || *at != ',')
            return false;
        at++;
    }
    return false;
}

/* ---- URLs ---- */

void
pd_http_url_encode(PdStrbuf *out, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
    {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c) != NULL)
            pd_strbuf_append_char(out, (char)*c);
        else
        {
            pd_strbuf_append_char(out, '%');
            pd_strbuf_append_char(out, hex[*c >> 4]);
            pd_strbuf_append_char(out, hex[*c & 15]);
        }
    }
}

static int
compare_args(const void *a, const void *b)
{
    const PdHttpArg *left = a, *right = b;
    int order = strcmp(left->key, right->key);
    return order != 0 ? order : (left < right ? -1 : left > right);
}

char *
pd_http_url_with(PdHttpContext *ctx, const char *key, const char *value)
{
    PdHttpArg *args = pd_arena_calloc(ctx->arena, ctx->arg_count + 1, sizeof(*args));
    if (args == NULL)
        return NULL;
    size_t count = 0;
    for (size_t i = 0; i < ctx->arg_count; i++)
        if (strcmp(ctx->args[i].key, key) != 0)
            args[count++] = ctx->args[i];
    if (value != NULL)
        args[count++] = (PdHttpArg){key, value};
    qsort(args, count, sizeof(*args), compare_args);
    PdStrbuf url;
    pd_strbuf_init(&url, ctx->arena);
    pd_strbuf_append(&url, ctx->base_url);
    pd_strbuf_append(&url, ctx->path);
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append_char(&url, i == 0 ? '?' : '&');
        pd_http_url_encode(&url, args[i].key);
        pd_strbuf_append_char(&url, '=');
        pd_http_url_encode(&url, args[i].value);
    }
    return (char *)pd_strbuf_text(&url);
}

/* ---- responses ---- */

void
pd_http_respond_json(PdHttpContext *ctx, int status, const char *json, size_t length)
{
    ctx->status = status;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_strbuf_append_length(&ctx->out, json, length);
}

void
pd_http_respond_detail(PdHttpContext *ctx, int status, const char *detail)
{
    ctx->status = status;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_strbuf_append(&ctx->out, "{\"detail\":");
    pd_http_json_string(&ctx->out, detail != NULL ? detail : "A server error occurred.");
    pd_strbuf_append_char(&ctx->out, '}');
}

void
pd_http_respond_not_allowed(PdHttpContext *ctx, const char *allow)
{
    pd_http_add_header(ctx, "Allow", allow);
    pd_http_respond_detail(ctx, 405,
                           pd_arena_sprintf(ctx->arena, "Method \"%s\" not allowed.", ctx->method_name));
}

/* {"field": ["message", ...], ...}: problems grouped by field in the order first seen. */
static void
respond_problems(PdHttpContext *ctx, const PdError *err)
{
    ctx->status = 400;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_http_append_problems(&ctx->out, err);
}

/*
 * The problems of an array field's elements, named "<field>.<index>" by the query library, nested as DRF's
 * ListField nests them: "scores":{"1":["A valid integer is required."]}.
 */
static void
append_element_problems(PdStrbuf *out, const PdError *err, size_t first, size_t name_length, bool *is_done)
{
    const char *field = err->problems[first].field;
    pd_strbuf_append(out, first == 0 ? "" : ",");
    pd_http_json_string(out, pd_arena_sprintf(out->arena, "%.*s", (int)name_length, field));
    pd_strbuf_append(out, ":{");
    for (size_t j = first; j < err->problem_count; j++)
    {
        const char *other = err->problems[j].field;
        if (is_done[j] || strncmp(other, field, name_length + 1) != 0)
            continue;
        pd_strbuf_append(out, j == first ? "" : ",");
        pd_http_json_string(out, other + name_length + 1);
        pd_strbuf_append(out, ":[");
        for (size_t k = j; k < err->problem_count; k++)
            if (!is_done[k] && strcmp(err->problems[k].field, other) == 0)
            {
                pd_strbuf_append(out, k == j ? "" : ",");
                pd_http_json_string(out, err->problems[k].message);
                is_done[k] = true;
            }
        pd_strbuf_append_char(out, ']');
    }
    pd_strbuf_append_char(out, '}');
}

void
pd_http_append_problems(PdStrbuf *out, const PdError *err)
{
    if (err->problem_count == 0) /* one problem: under its field, or non_field_errors */
    {
        pd_strbuf_append_char(out, '{');
        pd_http_json_string(out, err->field[0] != '\0' ? err->field : "non_field_errors");
        pd_strbuf_append(out, ":[");
        pd_http_json_string(out, err->message);
        pd_strbuf_append(out, "]}");
        return;
    }
    pd_strbuf_append_char(out, '{');
    bool is_done[PD_ERROR_MAX_PROBLEMS] = {false};
    for (size_t i = 0; i < err->problem_count; i++)
    {
        if (is_done[i])
            continue;
        const char *field = err->problems[i].field[0] != '\0' ? err->problems[i].field : "non_field_errors";
        const char *dot = strchr(field, '.');
        if (dot != NULL)
        {
            append_element_problems(out, err, i, (size_t)(dot - field), is_done);
            continue;
        }
        pd_strbuf_append(out, i == 0 ? "" : ",");
        pd_http_json_string(out, field);
        pd_strbuf_append(out, ":[");
        for (size_t j = i; j < err->problem_count; j++)
        {
            if (strcmp(err->problems[j].field, err->problems[i].field) != 0)
                continue;
            is_done[j] = true;
            pd_strbuf_append(out, j == i ? "" : ",");
            pd_http_json_string(out, err->problems[j].message);
        }
        pd_strbuf_append_char(out, ']');
    }
    pd_strbuf_append_char(out, '}');
}

/* 400 {"field": ["message"]}. */
static void
respond_field(PdHttpContext *ctx, const char *field, const char *message)
{
    ctx->status = 400;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_strbuf_append_char(&ctx->out, '{');
    pd_http_json_string(&ctx->out, field);
    pd_strbuf_append(&ctx->out, ":[");
    pd_http_json_string(&ctx->out, message);
    pd_strbuf_append(&ctx->out, "]}");
}

/* 400 {"field": ["message"]} for one input error. */
static void
respond_invalid(PdHttpContext *ctx, const PdError *err)
{
    const char *first = err->problem_count > 0 ? err->problems[0].message : err->message;
    if (strncmp(first, "JSON parse error", 16) == 0) /* DRF's ParseError: a detail, not a field */
    {
        pd_http_respond_detail(ctx, 400, first);
        return;
    }
    if (err->problem_count > 0)
    {
        respond_problems(ctx, err);
        return;
    }
    if (err->field[0] == '\0')
    {
        pd_http_respond_detail(ctx, 400, err->message);
        return;
    }
    respond_field(ctx, err->field, err->message);
}

/* The classes of SQLSTATE PostgreSQL defines (its errcodes.txt): a code of any other only a RAISE makes. */
static const char *const postgres_classes[] = {
    "00", "01", "02", "03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z", "20", "21", "22",
    "23", "24", "25", "26", "27", "28", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F",
    "40", "42", "44", "53", "54", "55", "57", "58", "72", "F0", "HV", "P0", "XX"};

static bool
is_user_class(const char *state)
{
    for (size_t i = 0; i < sizeof(postgres_classes) / sizeof(postgres_classes[0]); i++)
        if (strncmp(state, postgres_classes[i], 2) == 0)
            return false;
    return state[0] != '\0';
}

/*
 * The status of an error PostgreSQL raised. The client's (400): what refused its values, class 22 (data
 * exception) and 23 (integrity), and what a trigger or function of the user's raised to refuse the request,
 * P0001 (RAISE EXCEPTION's default, as PostgREST) or a code of a class PostgreSQL does not define (RAISE
 * ... USING ERRCODE). Any other code a RAISE may borrow (42601, P0004 of an ASSERT) cannot be told from our
 * own bug: 500, logged. 42501 privilege 403; cancelled, serialization, deadlock, connection, resources 503.
 */
static int
query_status(const PdError *err)
{
    const char *state = err->sqlstate;
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 || strcmp(state, "P0001") == 0 ||
        is_user_class(state))
        return 400;
    if (strcmp(state, "42501") == 0)
        return 403;
    if (strcmp(state, "57014") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0)
        return 503;
    return 500;
}

static void
respond_server_error(PdHttpContext *ctx, const PdError *err)
{
    PdLogField fields[] = {{"path", ctx->path},
                           {"code", pd_error_code_name(err->code)},
                           {"sqlstate", err->sqlstate},
                           {"detail", err->detail},
                           {"where", err->raise_function}};
    pd_log(PD_LOG_ERROR, err->message, fields, sizeof(fields) / sizeof(fields[0]));
    pd_http_respond_detail(ctx, 500, "A server error occurred.");
}

static bool
is_pattern_argument(const char *key)
{
    size_t length = strlen(key);
    return (length > 7 && strcmp(key + length - 7, "__regex") == 0) ||
           (length > 8 && strcmp(key + length - 8, "__iregex") == 0);
}

/*
 * PostgreSQL refused a regex or iregex lookup's pattern (2201B, invalid_regular_expression): its words under
 * the regex arguments of the query string, as any other value the field refuses. It does not say which
 * pattern, so with several each carries the message. False when the request has no such argument.
 */
static bool
respond_pattern(PdHttpContext *ctx, const PdError *err)
{
    PdError problems;
    pd_error_init(&problems);
    for (size_t i = 0; i < ctx->arg_count; i++)
        if (is_pattern_argument(ctx->args[i].key))
            pd_error_add_problem(&problems, NULL, 0, 0, ctx->args[i].key, "%s", err->message);
    if (problems.problem_count == 0)
        return false;
    respond_problems(ctx, &problems);
    return true;
}

/*
 * A constraint the query library did not map to DRF's words (one added in SQL): PostgreSQL's message, under
 * the field the constraint is about or non_field_errors (constraint.c), never its detail (the failing row).
 */
static void
respond_constraint(PdHttpContext *ctx, const PdError *err)
{
    respond_field(ctx, pd_http_constraint_field(ctx, err), err->message);
}

void
pd_http_respond_error(PdHttpContext *ctx, const PdError *err)
{
    int status = err->code == PD_ERR_DB_QUERY ? query_status(err) : pd_error_http_status(err->code);
    switch (status)
    {
        case 400:
            if (strcmp(err->sqlstate, "2201B") == 0 && respond_pattern(ctx, err))
                return;
            if (strncmp(err->sqlstate, "23", 2) == 0 && err->problem_count == 0)
                respond_constraint(ctx, err);
            else if (err->code == PD_ERR_DB_QUERY)
                pd_http_respond_detail(ctx, 400, err->message);
            else
                respond_invalid(ctx, err);
            return;
        case 401:
            /* err->detail: the WWW-Authenticate error code, "" when no credentials were given */
            pd_http_add_header(
                ctx, "WWW-Authenticate",
                err->detail[0] == '\0'
                    ? "Bearer realm=\"api\""
                    : pd_arena_sprintf(ctx->arena, "Bearer realm=\"api\", error=\"%s\"", err->detail));
            pd_http_respond_detail(ctx, 401, err->message);
            return;
        case 403:
            pd_http_respond_detail(ctx, 403, "You do not have permission to perform this action.");
            return;
        case 404:
            pd_http_respond_detail(ctx, 404, "Not found.");
            return;
        case 409:
            pd_http_respond_detail(ctx, 409, err->message);
            return;
        case 413:
            pd_http_respond_detail(ctx, 413, "Request is too large.");
            return;
        case 429:
        {
            int seconds = atoi(err->detail) > 0 ? atoi(err->detail) : 1;
            pd_http_add_header(ctx, "Retry-After", pd_arena_sprintf(ctx->arena, "%d", seconds));
            pd_http_respond_detail(ctx, 429, err->message);
            return;
        }
        case 503:
        {
            PdLogField fields[] = {
                {"path", ctx->path}, {"code", pd_error_code_name(err->code)}, {"sqlstate", err->sqlstate}};
            pd_log(PD_LOG_WARNING, err->message, fields, sizeof(fields) / sizeof(fields[0]));
            pd_http_add_header(ctx, "Retry-After", "1");
            pd_http_respond_detail(ctx, 503, "Database unavailable, try again shortly.");
            return;
        }
        default:
            respond_server_error(ctx, err);
    }
}
