/*
 * conninfo_origins.c - where a connection takes its host, port, dbname, user
 * and password from, said when it fails: the connection string (a setting,
 * named by the caller), a PG* variable, a service, or libpq's default. libpq
 * itself resolves them in that order (the conninfo, then the service file,
 * then the variables, then its defaults), and its table names each option's
 * variable and compiled default, so no list of ours goes stale. The caller
 * passes the environment in (the library reads none), and a password is
 * never shown: only where it would come from.
 */
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "prodata/db.h"
#include "prodata/settings.h"
#include "prodata/strbuf.h"

static const PQconninfoOption *
find(const PQconninfoOption *options, const char *keyword)
{
    for (; options->keyword != NULL; options++)
        if (strcmp(options->keyword, keyword) == 0)
            return options;
    return NULL;
}

/* One value and where it comes from. */
typedef struct Origin
{
    const char *value; /* NULL: none anywhere (libpq's default applies) */
    const char *from;  /* "database (prodata.conf:3)", "PGPORT", or NULL for libpq's default */
} Origin;

/* keyword's value as a connection to parsed would take it: the conninfo, else its variable, else none. */
static Origin
origin_of(const PQconninfoOption *parsed, const char *keyword, const char *source,
          const char *const *environ_list)
{
    const PQconninfoOption *option = find(parsed, keyword);
    if (option == NULL)
        return (Origin){NULL, NULL};
    if (option->val != NULL)
        return (Origin){option->val, source};
    const char *value =
        option->envvar != NULL ? pd_settings_environ_value(environ_list, option->envvar) : NULL;
    if (value != NULL)
        return (Origin){value, option->envvar};
    return (Origin){option->compiled, NULL};
}

/* One part of the sentence: what (`host "db"`, `the password`) and where from (NULL: libpq's default, why).
 */
typedef struct Part
{
    const char *what;
    const char *from;
    const char *why_default; /* "the operating system user", or NULL */
    bool is_shown;
} Part;

static Part
part(PdArena *arena, const char *label, const Origin *origin, bool is_quoted, const char *why_default)
{
    const char *what = label;
    if (origin->value != NULL)
        what = pd_arena_sprintf(arena, is_quoted ? "%s \"%s\"" : "%s %s", label, origin->value);
    return (Part){what != NULL ? what : label, origin->from, why_default, false};
}

/* Parts with one source in one phrase, in the order they first appear: `host "db", port 5499 and dbname
 * "shop" from database (prodata.conf:3); user "alice" by libpq's default (the operating system user)`. Only
 * the parts not shown yet, from the conninfo or not as is_from_source says; *is_first: no "; " before. */
static void
append_parts(PdStrbuf *buf, Part *parts, size_t count, const char *source, bool is_from_source,
             bool *is_first)
{
    for (size_t i = 0; i < count; i++)
    {
        if (parts[i].is_shown || (parts[i].from == source) != is_from_source)
            continue;
        if (!*is_first)
            pd_strbuf_append(buf, "; ");
        *is_first = false;
        size_t last = i;
        for (size_t j = i + 1; j < count; j++)
            if (parts[i].from != NULL && parts[j].from != NULL && strcmp(parts[i].from, parts[j].from) == 0)
                last = j;
        for (size_t j = i; j <= last; j++)
        {
            if (j > i && (parts[j].from == NULL || strcmp(parts[i].from, parts[j].from) != 0))
                continue;
            pd_strbuf_appendf(buf, "%s%s", j == i ? "" : j == last ? " and " : ", ", parts[j].what);
            parts[j].is_shown = true;
        }
        if (parts[i].from != NULL)
            pd_strbuf_appendf(buf, " from %s", parts[i].from);
        else
            pd_strbuf_appendf(buf, " by libpq's default%s%s%s", parts[i].why_default != NULL ? " (" : "",
                              parts[i].why_default != NULL ? parts[i].why_default : "",
                              parts[i].why_default != NULL ? ")" : "");
    }
}

/* What the user default is: the operating system user the process runs as (libpq asks the same). */
static const char *
system_user(PdArena *arena)
{
    struct passwd entry, *found = NULL;
    char buffer[1024];
    if (getpwuid_r(geteuid(), &entry, buffer, sizeof(buffer), &found) != 0 || found == NULL)
        return NULL;
    return pd_arena_strdup(arena, found->pw_name);
}

/* Where the password would come from (never what it is): the conninfo, PGPASSWORD, or a password file. */
static Part
password_part(PdArena *arena, const PQconninfoOption *parsed, const char *source,
              const char *const *environ_list)
{
    Origin password = origin_of(parsed, "password", source, environ_list);
    Origin passfile = origin_of(parsed, "passfile", source, environ_list);
    if (password.from != NULL)
        return (Part){"the password", password.from, NULL, false};
    if (passfile.from != NULL)
        return (Part){pd_arena_sprintf(arena, "the password file \"%s\"", passfile.value), passfile.from,
                      NULL, false};
    return (Part){"the password file ~/.pgpass", NULL, "no password given", false};
}

char *
pd_db_conninfo_origins(PdArena *arena, const char *conninfo, const char *source,
                       const char *const *environ_list)
{
    char *message = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo != NULL ? conninfo : "", &message);
    PQfreemem(message); /* it may quote a password */
    if (parsed == NULL)
        return NULL;
    if (source == NULL)
        source = "the connection string";
    Origin service = origin_of(parsed, "service", source, environ_list);
    Origin host = origin_of(parsed, "host", source, environ_list);
    Origin hostaddr = origin_of(parsed, "hostaddr", source, environ_list);
    Origin port = origin_of(parsed, "port", source, environ_list);
    Origin user = origin_of(parsed, "user", source, environ_list);
    Origin dbname = origin_of(parsed, "dbname", source, environ_list);
    if (user.value == NULL)
        user.value = system_user(arena);
    if (dbname.value == NULL && dbname.from == NULL)
        dbname.value = user.value;
    Part parts[6];
    size_t count = 0;
    parts[count++] = part(arena, "host", &host, true, "a Unix socket");
    if (hostaddr.value != NULL)
        parts[count++] = part(arena, "hostaddr", &hostaddr, true, NULL);
    parts[count++] = part(arena, "port", &port, false, NULL);
    parts[count++] = part(arena, "dbname", &dbname, true, "the user name");
    parts[count++] = part(arena, "user", &user, true, "the operating system user");
    parts[count++] = password_part(arena, parsed, source, environ_list);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    /* libpq reads a service (the conninfo's, or PGSERVICE) after the conninfo, before the variables */
    bool is_first = true;
    append_parts(&buf, parts, count, source, true, &is_first);
    if (service.value != NULL && service.value[0] != '\0')
    {
        pd_strbuf_appendf(&buf,
                          "%sservice \"%s\" from %s for what else it sets, then: ", is_first ? "" : "; ",
                          service.value, service.from);
        is_first = true;
    }
    append_parts(&buf, parts, count, source, false, &is_first);
    PQconninfoFree(parsed);
    return pd_strbuf_failed(&buf) ? NULL : (char *)pd_strbuf_text(&buf);
}
