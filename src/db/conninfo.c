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

bool
pd_db_conninfo_has_password(const char *conninfo)
{
    if (conninfo == NULL || *conninfo == '\0')
        return false;
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    if (options == NULL)
    {
        /* Unparseable: it may hold a password we cannot find, so treat it as one. */
        PQfreemem(error_message);
        return true;
    }
    bool has_password = false;
    for (PQconninfoOption *option = options; option->keyword != NULL; option++)
        if (strcmp(option->keyword, "password") == 0 && option->val != NULL && option->val[0] != '\0')
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
        if (option->val == NULL || option->val[0] == '\0')
            continue;
        if (buf.length > 0)
            pd_strbuf_append_char(&buf, ' ');
        bool is_secret = strcmp(option->keyword, "password") == 0;
        pd_strbuf_appendf(&buf, "%s=%s", option->keyword, is_secret ? "********" : option->val);
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
