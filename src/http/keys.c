/*
 * keys.c - the detail URL of a model with a composite primary key
 * (primary_key(a, b)): /api/<resource>/<a>,<b>/, each value percent-encoded
 * in the key's declared order, so a client builds it as it builds a DRF
 * detail URL, joining the encoded values with ','. libmicrohttpd hands the
 * handler a decoded path, where an encoded ',' or '/' inside a value could no
 * longer be told from a separator, so the segment is read from the raw path
 * (as received) and split before each part is decoded. Anything that cannot
 * be such a key (a wrong number of parts, an empty part, an escaped NUL, bytes
 * that are not UTF-8) is refused here, and the caller answers 404 as DRF
 * does for a pk that cannot be one; a value of the wrong type is refused by
 * the query library's look-up, also a 404.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <string.h>

#include "server.h"

/*
 * text[0, length) percent-decoded by libmicrohttpd's own decoder; NULL when the result holds NUL or is not
 * UTF-8. A malformed escape stays as written (as MHD leaves it), so it names no stored value: a 404 too.
 */
static char *
decode_part(PdArena *arena, const char *text, size_t length)
{
    char *out = pd_arena_strndup(arena, text, length);
    if (out == NULL)
        return NULL;
    size_t n = MHD_http_unescape(out);
    if (strlen(out) != n)
        return NULL; /* an escaped NUL */
    return pd_http_is_utf8(out, n) ? out : NULL;
}

bool
pd_http_key_parts(PdHttpContext *ctx, const PdModel *model, const char *segment, const char ***parts)
{
    size_t count = pd_model_key_count(model);
    const char **found = pd_arena_calloc(ctx->arena, count + 1, sizeof(char *));
    if (found == NULL || segment == NULL)
        return false;
    const char *at = segment;
    for (size_t i = 0; i < count; i++)
    {
        size_t length = strcspn(at, ",");
        bool is_last = i + 1 == count;
        if (length == 0 || (is_last != (at[length] == '\0')))
            return false;
        if ((found[i] = decode_part(ctx->arena, at, length)) == NULL)
            return false;
        at += length + (is_last ? 0 : 1);
    }
    *parts = found;
    return true;
}

const char *
pd_http_key_names(PdArena *arena, const PdModel *model, const char *sep)
{
    PdStrbuf names;
    pd_strbuf_init(&names, arena);
    for (size_t i = 0; i < pd_model_key_count(model); i++)
    {
        const PdField *field = pd_model_key_field(model, i);
        pd_strbuf_appendf(&names, "%s%s", i > 0 ? sep : "", field != NULL ? field->name : "");
    }
    return names.failed ? NULL : pd_strbuf_text(&names);
}

/* The text of a JSON scalar (a string's value, a number as written); NULL for anything else. */
static char *
scalar_text(PdArena *arena, const char *value, size_t length)
{
    json_error_t error;
    json_t *parsed = json_loadb(value, length, JSON_DECODE_ANY, &error);
    char *text = NULL;
    if (json_is_string(parsed))
        text = pd_arena_strndup(arena, json_string_value(parsed), json_string_length(parsed));
    else if (json_is_number(parsed) || json_is_boolean(parsed))
        text = pd_arena_strndup(arena, value, length);
    json_decref(parsed);
    return text;
}

bool
pd_http_key_append(PdStrbuf *url, PdArena *arena, const PdModel *model, const char *json, size_t length)
{
    for (size_t i = 0; i < pd_model_key_count(model); i++)
    {
        const PdField *field = pd_model_key_field(model, i);
        const char *value;
        size_t value_length;
        if (field == NULL || !pd_http_json_member(json, length, field->name, &value, &value_length))
            return false;
        char *text = scalar_text(arena, value, value_length);
        if (text == NULL)
            return false;
        if (i > 0)
            pd_strbuf_append_char(url, ',');
        pd_http_url_encode(url, text);
    }
    return true;
}
