/*
 * conninfo.c - what prodata says about a connection string without connecting:
 * whether it parses, whether it holds a secret, and a copy fit to print. The
 * parsing is libpq's own (PQconninfoParse), so the keyword form and URIs are
 * read exactly as a connection would read them. Which options are secret is
 * libpq's own marking too (dispchar "*"), so password, sslpassword and any
 * secret keyword a later libpq adds are covered without a list of ours.
 */
#include <string.h>

#include <libpq-fe.h>

#include "prodata/db.h"
#include "prodata/strbuf.h"

/* libpq marks an option whose value must never be shown ("password", "sslpassword", ...) with a '*' in its
 * dispchar; the keyword names are not ours to list. */
static bool
is_secret(const PQconninfoOption *option)
{
    return option->dispchar != NULL && strchr(option->dispchar, '*') != NULL;
}

static bool
has_value(const PQconninfoOption *option)
{
    return option->val != NULL && option->val[0] != '\0';
}

/* Appends keyword=value, quoting the value as libpq reads it back when it is empty or holds a space, a quote
 * or a backslash. */
static void
append_option(PdStrbuf *buf, const char *keyword, const char *value)
{
    if (buf->length > 0)
        pd_strbuf_append_char(buf, ' ');
    pd_strbuf_appendf(buf, "%s=", keyword);
    if (value[0] != '\0' && strpbrk(value, " \t\n\r\f\v'\\") == NULL)
    {
        pd_strbuf_append(buf, value);
        return;
    }
    pd_strbuf_append_char(buf, '\'');
    for (const char *c = value; *c != '\0'; c++)
    {
        if (*c == '\'' || *c == '\\')
            pd_strbuf_append_char(buf, '\\');
        pd_strbuf_append_char(buf, *c);
    }
    pd_strbuf_append_char(buf, '\'');
}

bool
pd_db_conninfo_has_password(const char *conninfo)
{
    if (conninfo == NULL || *conninfo == '\0')
        return false;
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    if (options == NULL)
    {
        /* Unparseable: it may hold a secret we cannot find, so treat it as one. */
        PQfreemem(error_message);
        return true;
    }
    bool has_password = false;
    for (PQconninfoOption *option = options; option->keyword != NULL; option++)
        if (is_secret(option) && has_value(option))
            has_password = true;
    PQconninfoFree(options);
    return has_password;
}

char *
pd_db_mask_conninfo(PdArena *arena, const char *conninfo)
{
    if (conninfo == NULL)
        return pd_arena_strdup(arena, "");
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    if (options == NULL)
    {
        PQfreemem(error_message);
        return pd_arena_strdup(arena, "(not a valid connection string; hidden)");
    }
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (PQconninfoOption *option = options; option->keyword != NULL; option++)
    {
        if (has_value(option))
            append_option(&buf, option->keyword, is_secret(option) ? "********" : option->val);
    }
    PQconninfoFree(options);
    return (char *)pd_strbuf_text(&buf);
}

bool
pd_db_is_valid_conninfo(const char *conninfo)
{
    if (conninfo == NULL || conninfo[0] == '\0')
        return true;
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    PQfreemem(error_message);
    if (options == NULL)
        return false;
    PQconninfoFree(options);
    return true;
}
