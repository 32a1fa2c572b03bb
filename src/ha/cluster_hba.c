/*
 * cluster_hba.c - the cluster configuration's pg_hba field: client
 * authentication rules (pg_hba.conf lines) that every node's keeper writes
 * after prodata's own rules, so they can add access but never shadow the
 * superuser's and the replication role's (PostgreSQL takes the first line
 * that matches). Each line is checked as PostgreSQL 15 will tokenize it:
 * fields split at blanks, a comma joining list items into one field, double
 * quotes grouping, '#' starting a comment; the first field a connection type
 * and enough fields for it, the method one PostgreSQL knows. Every problem
 * names "pg_hba[i]". Nothing here talks to etcd or writes a file.
 */
#include "ha/cluster_hba.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

enum
{
    FIELDS_MAX = 8, /* the fields looked at: type, database, user, address, mask, method */
};

static const char *const methods[] = {"trust", "reject", "scram-sha-256", "md5",    "password", "gss", "sspi",
                                      "ident", "peer",   "ldap",          "radius", "cert",     "pam", "bsd"};

/* The start and length of each field (up to FIELDS_MAX) and their number; false on an unterminated quote. */
typedef struct Fields
{
    const char *start[FIELDS_MAX];
    size_t length[FIELDS_MAX];
    size_t count;
} Fields;

static bool
split_fields(const char *line, Fields *fields)
{
    memset(fields, 0, sizeof *fields);
    const char *c = line;
    bool is_quoted = false;
    while (*c != '\0')
    {
        while (*c == ' ')
            c++;
        if (*c == '\0' || *c == '#')
            break;
        const char *start = c;
        bool is_continued = false; /* a field ends at a blank not after a comma, outside quotes */
        for (; *c != '\0' && (is_quoted || is_continued || (*c != ' ' && *c != '#')); c++)
        {
            if (*c == '"')
                is_quoted = !is_quoted;
            is_continued = !is_quoted && (*c == ',' || (is_continued && *c == ' '));
        }
        if (fields->count < FIELDS_MAX)
        {
            fields->start[fields->count] = start;
            fields->length[fields->count] = (size_t)(c - start);
        }
        fields->count++;
    }
    return !is_quoted;
}

static bool
field_is(const Fields *fields, size_t i, const char *word)
{
    return i < fields->count && i < FIELDS_MAX && fields->length[i] == strlen(word) &&
           strncmp(fields->start[i], word, fields->length[i]) == 0;
}

/* An IP address without a "/len": the next field is its mask (host ... 10.0.0.1 255.255.255.0 md5). */
static bool
is_bare_ip(const Fields *fields, size_t i)
{
    if (i >= fields->count || i >= FIELDS_MAX)
        return false;
    bool has_colon = false;
    for (size_t k = 0; k < fields->length[i]; k++)
    {
        char ch = fields->start[i][k];
        if (ch == '/' || !(isxdigit((unsigned char)ch) || ch == '.' || ch == ':'))
            return false;
        has_colon |= ch == ':';
    }
    /* digits and dots only, or hex with a colon: "cafe" alone is a host name */
    for (size_t k = 0; !has_colon && k < fields->length[i]; k++)
        if (!isdigit((unsigned char)fields->start[i][k]) && fields->start[i][k] != '.')
            return false;
    return fields->length[i] > 0;
}

static bool
is_method(const Fields *fields, size_t i)
{
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
        if (field_is(fields, i, methods[m]))
            return true;
    return false;
}

/* The fields of one line: its type, their number, its method. */
static void
check_fields(const char *line, const char *field, PdError *problems)
{
    Fields fields;
    if (!split_fields(line, &fields))
    {
        pd_error_add_problem(problems, NULL, 0, 0, field, "%s: a double quote is not closed", field);
        return;
    }
    bool is_local = field_is(&fields, 0, "local");
    if (!is_local && !field_is(&fields, 0, "host") && !field_is(&fields, 0, "hostssl") &&
        !field_is(&fields, 0, "hostnossl") && !field_is(&fields, 0, "hostgssenc") &&
        !field_is(&fields, 0, "hostnogssenc"))
    {
        pd_error_add_problem(problems, NULL, 0, 0, field,
                             "%s: \"%.40s\" does not start with local, host, hostssl, hostnossl, hostgssenc "
                             "or hostnogssenc",
                             field, line);
        return;
    }
    size_t method = is_local ? 3 : is_bare_ip(&fields, 3) ? 5 : 4;
    const char *shape = is_local      ? "local DATABASE USER METHOD [OPTIONS]"
                        : method == 5 ? "host DATABASE USER IP-ADDRESS IP-MASK METHOD [OPTIONS]"
                                      : "host DATABASE USER ADDRESS METHOD [OPTIONS]";
    if (fields.count < method + 1)
        pd_error_add_problem(problems, NULL, 0, 0, field, "%s: %zu fields, a %.*s line needs %zu: %s", field,
                             fields.count, (int)fields.length[0], fields.start[0], method + 1, shape);
    else if (!is_method(&fields, method))
        pd_error_add_problem(problems, NULL, 0, 0, field,
                             "%s: \"%.*s\" is not an authentication method (scram-sha-256, md5, peer, cert, "
                             "reject, ...); the line is %s",
                             field, (int)(fields.length[method] > 40 ? 40 : fields.length[method]),
                             fields.start[method], shape);
}

/* A single line of UTF-8 without control characters, 1 to PD_CLUSTER_HBA_LINE_MAX bytes. */
static bool
is_line_text(const char *line)
{
    size_t length = strlen(line);
    if (length == 0 || length > PD_CLUSTER_HBA_LINE_MAX)
        return false;
    for (const unsigned char *c = (const unsigned char *)line; *c != '\0'; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

void
pd_cluster_hba_check(const char *const *lines, size_t count, PdError *problems)
{
    if (count > PD_CLUSTER_HBA_LINES_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "pg_hba", "pg_hba: %zu lines, at most %d", count,
                             PD_CLUSTER_HBA_LINES_MAX);
    for (size_t i = 0; i < count && i < PD_CLUSTER_HBA_LINES_MAX; i++)
    {
        char field[32];
        snprintf(field, sizeof field, "pg_hba[%zu]", i);
        if (!is_line_text(lines[i]))
        {
            pd_error_add_problem(
                problems, NULL, 0, 0, field,
                "%s: a line must be 1 to %d bytes without a line break, tab or other control "
                "character",
                field, PD_CLUSTER_HBA_LINE_MAX);
            continue;
        }
        check_fields(lines[i], field, problems);
        for (size_t k = 0; k < i; k++)
            if (strcmp(lines[k], lines[i]) == 0)
            {
                pd_error_add_problem(problems, NULL, 0, 0, field, "%s: the same line as pg_hba[%zu]", field,
                                     k);
                break;
            }
    }
}

void
pd_cluster_hba_read(PdArena *arena, json_t *array, const char *const **lines, size_t *count,
                    PdError *problems)
{
    if (!json_is_array(array))
    {
        pd_error_add_problem(problems, NULL, 0, 0, "pg_hba",
                             "pg_hba must be an array of pg_hba.conf lines (strings)");
        return;
    }
    size_t size = json_array_size(array);
    const char **read = pd_arena_calloc(arena, size + 1, sizeof *read);
    if (read == NULL)
        return;
    bool is_good = true;
    for (size_t i = 0; i < size; i++)
    {
        json_t *line = json_array_get(array, i);
        if (json_is_string(line) && strlen(json_string_value(line)) == json_string_length(line))
            read[i] = pd_arena_strdup(arena, json_string_value(line));
        else
        {
            char field[32];
            snprintf(field, sizeof field, "pg_hba[%zu]", i);
            pd_error_add_problem(problems, NULL, 0, 0, field, "%s must be a string (one pg_hba.conf line)",
                                 field);
            is_good = false;
        }
    }
    if (is_good && !pd_arena_failed(arena))
    {
        *lines = read;
        *count = size;
    }
}

json_t *
pd_cluster_hba_json(const char *const *lines, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++)
        if (json_array_append_new(array, json_string(lines[i])) != 0)
        {
            json_decref(array);
            return NULL;
        }
    return array;
}

static void
replace(PdArena *arena, const char *value, const char *const **lines, size_t *count, PdError *problems)
{
    json_error_t json_err;
    json_t *array = json_loads(value, JSON_REJECT_DUPLICATES, &json_err);
    if (!json_is_array(array))
        pd_error_add_problem(problems, NULL, 0, 0, "pg_hba",
                             "pg_hba=%.40s: give a JSON array of lines ('pg_hba=[]' removes every line), or "
                             "add one with 'pg_hba+=LINE', remove one with 'pg_hba-=LINE'",
                             value);
    else
        pd_cluster_hba_read(arena, array, lines, count, problems);
    json_decref(array);
}

void
pd_cluster_hba_assign(PdArena *arena, char op, const char *value, const char *const **lines, size_t *count,
                      PdError *problems)
{
    if (op == '=')
    {
        replace(arena, value, lines, count, problems);
        return;
    }
    const char **made = pd_arena_calloc(arena, *count + 2, sizeof *made);
    if (made == NULL)
        return;
    size_t used = 0;
    bool is_found = false;
    for (size_t i = 0; i < *count; i++)
    {
        bool is_it = strcmp((*lines)[i], value) == 0;
        is_found |= is_it;
        if (!is_it || op == '+')
            made[used++] = (*lines)[i];
    }
    if (op == '+' && !is_found) /* appending a line already there changes nothing: a change may run twice */
        made[used++] = value;
    if (op == '-' && !is_found)
        pd_error_add_problem(problems, NULL, 0, 0, "pg_hba",
                             "pg_hba-=%.80s: no such line (pg_hba-= takes the line exactly as `prodata "
                             "cluster config` shows it)",
                             value);
    *lines = made;
    *count = used;
}
