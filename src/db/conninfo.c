/*
 * conninfo.c - what prodata says about a connection string without connecting:
 * whether it parses, why not, whether it holds a secret, and a copy fit to
 * print. The parsing is libpq's own (PQconninfoParse), so the keyword form and
 * URIs are read exactly as a connection would read them. Which options are
 * secret is libpq's own marking too (dispchar "*"), so password, sslpassword
 * and any secret keyword a later libpq adds are covered without a list of
 * ours. libpq's parse errors quote the text they stumbled on, which may be a
 * password, so they are never passed on: when libpq refuses a string, it is
 * scanned again here, by libpq's rules, to name what is wrong by its keyword
 * alone.
 */
#include <ctype.h>
#include <string.h>

#include <libpq-fe.h>

#include "prodata/db.h"
#include "prodata/settings.h"
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

/* ---- why a connection string does not parse --------------------------------------------------------- */

/* libpq's keywords (PQconninfoParse of "" lists every option, none set), for lookups and suggestions. */
typedef struct Keywords
{
    PQconninfoOption *options;
    const char *names[128]; /* NULL-terminated */
} Keywords;

static bool
keywords_load(Keywords *keywords)
{
    char *message = NULL;
    keywords->options = PQconninfoParse("", &message);
    PQfreemem(message);
    size_t count = 0;
    for (PQconninfoOption *option = keywords->options; option != NULL && option->keyword != NULL; option++)
        if (count + 1 < sizeof(keywords->names) / sizeof(keywords->names[0]))
            keywords->names[count++] = option->keyword;
    keywords->names[count] = NULL;
    return keywords->options != NULL;
}

static const PQconninfoOption *
keywords_find(const Keywords *keywords, const char *name, size_t length)
{
    for (const PQconninfoOption *option = keywords->options; option->keyword != NULL; option++)
        if (strlen(option->keyword) == length && strncmp(option->keyword, name, length) == 0)
            return option;
    return NULL;
}

/* Whether a word may be shown as a keyword: letters, digits and '_' only, as every libpq keyword. */
static bool
is_keyword_like(const char *name, size_t length)
{
    if (length == 0 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

/* The common keywords, for hints (the rest are in libpq's "Parameter Key Words"). */
#define COMMON_KEYWORDS                                                                                      \
    "host, hostaddr, port, dbname, user, password, sslmode, connect_timeout, application_name"

/*
 * An unknown keyword (name, length bytes): named when it looks like one, with the closest known keyword.
 * after_secret is the secret option whose unquoted value came just before it: then a word close to no
 * keyword is likely the rest of that value (a space in a password), and is not shown; one close to a
 * keyword is a typo.
 */
static bool
unknown_keyword(const Keywords *keywords, const char *name, size_t length,
                const PQconninfoOption *after_secret, PdError *err)
{
    char word[64];
    snprintf(word, sizeof(word), "%.*s", (int)(length < sizeof(word) ? length : 0), name);
    const char *suggestion =
        is_keyword_like(name, length) ? pd_settings_suggest_among(word, keywords->names) : NULL;
    if (after_secret != NULL && suggestion == NULL)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "unknown connection keyword after the value of \"%s\"",
                     after_secret->keyword);
        return pd_error_hint(err,
                             "A value holding a space needs single quotes (%s='...'); the word after it is "
                             "not shown, as it may be part of the %s.",
                             after_secret->keyword, after_secret->keyword);
    }
    if (!is_keyword_like(name, length))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "unknown connection keyword (not shown: it holds characters no keyword has)");
        return pd_error_hint(err, "Connection keywords are libpq's: " COMMON_KEYWORDS ", ...");
    }
    pd_error_set(err, PD_ERR_INVALID_INPUT, "unknown connection keyword \"%s\"", word);
    pd_error_field(err, "%s", word);
    if (suggestion != NULL)
        return pd_error_hint(err,
                             "Did you mean \"%s\"? Connection keywords are libpq's: " COMMON_KEYWORDS ", ...",
                             suggestion);
    return pd_error_hint(err, "Connection keywords are libpq's: " COMMON_KEYWORDS ", ...");
}

/* A word not followed by "=": named only when it is a keyword that follows no unquoted secret (else it may
 * be a value, or part of one). */
static bool
missing_equals(const Keywords *keywords, const char *name, size_t length, const PQconninfoOption *previous,
               const PQconninfoOption *after_secret, PdError *err)
{
    if (keywords_find(keywords, name, length) != NULL && after_secret == NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "missing \"=\" after connection keyword \"%.*s\"",
                     (int)length, name);
    else if (previous != NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "a word without \"=\" after the value of \"%s\" (not shown: it may be a value)",
                     previous->keyword);
    else
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "a word without \"=\" at the start (not shown: it may be a value)");
    return pd_error_hint(err, "Each part is keyword=value, and a value holding a space needs single quotes "
                              "(host=db dbname='my db'); or use a URI (postgresql://user@host/dbname).");
}

/* The end of a value starting at c (after "=" and its blanks), as libpq reads it; NULL when a quote is not
 * closed. */
static const char *
skip_value(const char *c)
{
    if (*c != '\'')
    {
        while (*c != '\0' && !isspace((unsigned char)*c))
            c += c[0] == '\\' && c[1] != '\0' ? 2 : 1;
        return c;
    }
    for (c++; *c != '\''; c += c[0] == '\\' && c[1] != '\0' ? 2 : 1)
        if (*c == '\0')
            return NULL;
    return c + 1;
}

/* The keyword form, scanned as libpq's conninfo_parse does: the first thing wrong, by keyword only. */
static bool
check_keywords(const Keywords *keywords, const char *c, PdError *err)
{
    const PQconninfoOption *previous = NULL, *after_secret = NULL;
    while (*c != '\0')
    {
        if (isspace((unsigned char)*c))
        {
            c++;
            continue;
        }
        const char *name = c;
        while (*c != '\0' && *c != '=' && !isspace((unsigned char)*c))
            c++;
        size_t length = (size_t)(c - name);
        while (isspace((unsigned char)*c))
            c++;
        if (*c != '=')
            return missing_equals(keywords, name, length, previous, after_secret, err);
        for (c++; isspace((unsigned char)*c);)
            c++;
        bool is_quoted = *c == '\'';
        const char *end = skip_value(c);
        const PQconninfoOption *option = keywords_find(keywords, name, length);
        if (option == NULL)
            return unknown_keyword(keywords, name, length, after_secret, err);
        if (end == NULL)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "unterminated quoted value of connection keyword \"%s\"",
                         option->keyword);
            return pd_error_hint(err,
                                 "Close the value with a single quote; a quote inside it is written \\'.");
        }
        previous = option;
        after_secret = !is_quoted && is_secret(option) ? option : NULL;
        c = end;
    }
    return true;
}

/* "ssl" is libpq's alias in URIs (ssl=true: sslmode=require). */
static const PQconninfoOption *
uri_keyword_find(const Keywords *keywords, const char *name, size_t length)
{
    static const PQconninfoOption ssl_alias = {.keyword = "ssl", .dispchar = ""};
    if (length == 3 && strncmp(name, "ssl", 3) == 0)
        return &ssl_alias;
    return keywords_find(keywords, name, length);
}

/* A URI's query parameters (after the user information, which may hold a password, and the hosts): an
 * unknown one named as in the keyword form. Percent-encoded names are left to the generic message. */
static bool
check_uri_query(const Keywords *keywords, const char *uri, PdError *err)
{
    const char *rest = strrchr(uri, '@'); /* the last: a password may hold an unencoded '@', '/' or '?' */
    rest = rest != NULL ? rest + 1 : strstr(uri, "://") + 3;
    const char *c = strchr(rest, '?');
    const PQconninfoOption *after_secret = NULL;
    while (c != NULL && *c != '\0')
    {
        const char *name = c + 1;
        size_t length = strcspn(name, "=&");
        const char *value_end = name + strcspn(name, "&");
        const PQconninfoOption *option = uri_keyword_find(keywords, name, length);
        if (option == NULL && memchr(name, '%', length) == NULL && length > 0)
            return unknown_keyword(keywords, name, length, after_secret, err);
        after_secret = option != NULL && is_secret(option) ? option : NULL;
        c = *value_end == '&' ? value_end : NULL;
    }
    return true;
}

bool
pd_db_conninfo_check(const char *conninfo, PdError *err)
{
    if (pd_db_is_valid_conninfo(conninfo))
        return true;
    Keywords keywords;
    if (!keywords_load(&keywords))
    {
        PQconninfoFree(keywords.options);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while reading a connection string");
    }
    bool is_uri = strncmp(conninfo, "postgresql://", 13) == 0 || strncmp(conninfo, "postgres://", 11) == 0;
    bool is_explained =
        !(is_uri ? check_uri_query(&keywords, conninfo, err) : check_keywords(&keywords, conninfo, err));
    PQconninfoFree(keywords.options);
    if (is_explained)
        return false;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "not a valid connection %s", is_uri ? "URI" : "string");
    return pd_error_hint(err, "Use keyword=value pairs (host=... dbname=...) or a URI "
                              "(postgresql://user@host/dbname); libpq's own message is not shown, as it may "
                              "quote a password.");
}
