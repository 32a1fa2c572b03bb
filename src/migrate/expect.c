/*
 * expect.c - the schema that migration files would make, found by making it
 * where nobody sees it. Comparing a live schema with the SQL of a migration
 * by reading the SQL would mean a second, hand-written imitation of
 * PostgreSQL's DDL; instead the sections run, in order, in a schema of their
 * own (prodata_expect_<backend pid>, first in the search_path, the live
 * path after it for extensions' types and operator classes)
 * inside one transaction, the drift reader deparses what they made with the
 * same query that reads the live schema, and the transaction rolls back:
 * nothing is left behind, not even the schema's name. The only difference
 * between the two readings is the schema that pg_get_indexdef writes before
 * a table, which is put back to the live one.
 *
 * Concurrent statements cannot run in a transaction; on empty tables in a
 * schema nobody else sees, the plain form builds the same object, so the
 * word CONCURRENTLY is left out.
 */
#define _GNU_SOURCE /* memmem */
#include "expect.h"

#include <string.h>
#include <strings.h>

#include "apply.h"

/* The live schema's name, quoted as pg_get_indexdef writes it, and the scratch schema's. */
static bool
read_schema_names(PdArena *arena, PdDb *db, const char **live, const char **scratch, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT quote_ident(current_schema()), 'prodata_expect_' || pg_backend_pid(), "
                     "has_database_privilege(current_database(), 'CREATE')",
                     0, NULL, &result, err))
        return false;
    if (pd_db_result_is_null(result, 0, 0))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "the connection has no current schema");
        return pd_error_hint(err, "Set search_path so that its first schema exists (the migrated schema).");
    }
    if (strcmp(pd_db_result_value(result, 0, 2), "t") != 0)
    {
        pd_error_set(err, PD_ERR_REFUSED, "this role may not create a schema in the database");
        pd_error_detail(err,
                        "Comparing the live schema with what the migrations make builds that schema in a "
                        "scratch schema that is rolled back.");
        return pd_error_hint(err, "GRANT CREATE ON DATABASE to the role that migrates.");
    }
    *live = pd_db_result_value(result, 0, 0);
    *scratch = pd_db_result_value(result, 0, 1);
    return true;
}

/* Whether statement is CREATE [UNIQUE] INDEX / DROP INDEX / REINDEX with CONCURRENTLY: where that word is. */
static const char *
find_concurrently(const char *statement)
{
    static const char *const starts[] = {"create index ", "create unique index ", "drop index ", "reindex "};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
    {
        size_t length = strlen(starts[i]);
        if (strncasecmp(statement, starts[i], length) != 0)
            continue;
        const char *word = statement + length;
        while (strncasecmp(word, "table ", 6) == 0 || strncasecmp(word, "index ", 6) == 0)
            word += 6; /* REINDEX TABLE CONCURRENTLY */
        return strncasecmp(word, "concurrently ", 13) == 0 ? word : NULL;
    }
    return NULL;
}

/* Runs one file's concurrent part in the open transaction, each statement without CONCURRENTLY. */
static bool
run_concurrent_part(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err)
{
    const char *where = file->path != NULL ? file->path : file->name;
    const char **statements;
    size_t count;
    if (!pd_migration_split_statements(arena, file->up_concurrently_sql, where, file->up_concurrently_line,
                                       &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        const char *word = find_concurrently(statements[i]);
        const char *sql = word == NULL ? statements[i]
                                       : pd_arena_sprintf(arena, "%.*s%s", (int)(word - statements[i]),
                                                          statements[i], word + strlen("concurrently "));
        if (sql == NULL)
            return pd_arena_error(arena, err);
        if (pd_db_exec(db, sql, err))
            continue;
        PdApplySql sent = {file, file->up_concurrently_sql, file->up_concurrently_line, statements[i]};
        pd_apply_add_position_context(db, &sent, err);
        return false;
    }
    return true;
}

/* Runs the files' sections in the scratch schema (the open transaction's search_path). */
static bool
run_files(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, PdError *err)
{
    for (size_t i = 0; i < count; i++)
    {
        const PdMigrationFile *file = &files[i];
        bool is_done = true;
        if (file->up_sql != NULL && file->up_sql[0] != '\0' && !pd_db_exec(db, file->up_sql, err))
        {
            PdApplySql sent = {file, file->up_sql, file->up_line, file->up_sql};
            pd_apply_add_position_context(db, &sent, err);
            is_done = false;
        }
        if (is_done && file->up_concurrently_sql != NULL && file->up_concurrently_sql[0] != '\0')
            is_done = run_concurrent_part(arena, db, file, err);
        if (!is_done)
            return pd_error_context(err, "while making, in a scratch schema, the schema that %s makes",
                                    file->name);
    }
    return true;
}

/* text with every "<from>." replaced by "<to>.", in arena; text itself when it holds none. */
static const char *
replace_schema(PdArena *arena, const char *text, size_t length, const char *from, const char *to,
               size_t *new_length)
{
    size_t from_length = strlen(from);
    *new_length = length;
    if (memmem(text, length, from, from_length) == NULL)
        return text;
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    const char *end = text + length;
    for (const char *at = text; at < end;)
    {
        const char *found = memmem(at, (size_t)(end - at), from, from_length);
        bool is_qualifier = found != NULL && found + from_length < end && found[from_length] == '.' &&
                            (found == text || found[-1] == ' ' || found[-1] == '(');
        const char *stop = found != NULL ? found : end;
        pd_strbuf_append_length(&out, at, (size_t)(stop - at));
        if (found == NULL)
            break;
        pd_strbuf_append(&out, is_qualifier ? to : from);
        at = found + from_length;
    }
    if (pd_strbuf_failed(&out))
        return NULL;
    *new_length = out.length;
    return out.data;
}

/* The scratch schema's lines, its name replaced by the live schema's. */
static bool
read_made(PdArena *arena, PdDb *db, const char *live, const char *scratch, PdDriftLine **lines,
          size_t *line_count, PdError *err)
{
    PdDriftRow *rows;
    size_t count;
    if (!pd_drift_read_rows(arena, db, NULL, &rows, &count, err))
        return false;
    PdDriftLine *made = pd_arena_calloc(arena, count ? count : 1, sizeof(*made));
    if (made == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        made[i] = rows[i].line;
        made[i].definition = replace_schema(arena, made[i].definition, made[i].definition_length, scratch,
                                            live, &made[i].definition_length);
        if (made[i].definition == NULL)
            return pd_arena_error(arena, err);
    }
    *lines = made;
    *line_count = count;
    return true;
}

bool
pd_expect_read(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, PdDriftLine **lines,
               size_t *line_count, PdError *err)
{
    const char *live = NULL, *scratch = NULL;
    if (!read_schema_names(arena, db, &live, &scratch, err))
        return false;
    const char *params[] = {scratch};
    PdDbResult *result;
    /* The name is this backend's own (digits after a fixed prefix), so quoting it is all it needs. */
    const char *create = pd_arena_sprintf(arena, "CREATE SCHEMA \"%s\"", scratch);
    if (create == NULL)
        return pd_arena_error(arena, err);
    bool is_read = pd_db_exec(db, "BEGIN", err) && pd_db_exec(db, create, err) &&
                   pd_db_query(arena, db,
                               /* the live path after it: an extension's types, operator classes
                                * and functions (pg_trgm, citext, usually in public) */
                               "SELECT set_config('search_path', quote_ident($1) || coalesce((SELECT "
                               "string_agg(', ' || quote_ident(s), '' ORDER BY n) FROM "
                               "unnest(current_schemas(false)) WITH ORDINALITY AS u(s, n)), ''), true), "
                               "set_config('lock_timeout', '5s', true)",
                               1, params, &result, err) &&
                   run_files(arena, db, files, count, err) &&
                   read_made(arena, db, live, scratch, lines, line_count, err);
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return is_read;
}

char *
pd_expect_line_table(PdArena *arena, const PdDriftLine *line)
{
    const char *space = memchr(line->key, ' ', line->key_length);
    if (space == NULL)
        return pd_arena_strndup(arena, line->key, line->key_length);
    const char *name = space + 1, *end = line->key + line->key_length;
    bool is_table = (size_t)(space - line->key) == 5 && memcmp(line->key, "table", 5) == 0;
    const char *dot = is_table ? NULL : memchr(name, '.', (size_t)(end - name));
    return pd_arena_strndup(arena, name, (size_t)((dot != NULL ? dot : end) - name));
}

bool
pd_expect_filter(PdArena *arena, const PdDriftLine *of, size_t of_count, const PdDriftLine *lines,
                 size_t count, PdDriftLine **kept, size_t *kept_count)
{
    PdStrmap *tables = pd_strmap_new(arena, of_count);
    PdDriftLine *out = pd_arena_calloc(arena, count ? count : 1, sizeof(*out));
    if (tables == NULL || out == NULL)
        return false;
    for (size_t i = 0; i < of_count; i++)
    {
        char *table = pd_expect_line_table(arena, &of[i]);
        if (table == NULL || !pd_strmap_put(tables, table, table))
            return false;
    }
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
    {
        char *table = pd_expect_line_table(arena, &lines[i]);
        if (table == NULL)
            return false;
        if (pd_strmap_get(tables, table) != NULL)
            out[used++] = lines[i];
    }
    *kept = out;
    *kept_count = used;
    return true;
}

static bool
is_same_definition(const PdDriftLine *a, const PdDriftLine *b)
{
    return a->definition_length == b->definition_length &&
           memcmp(a->definition, b->definition, a->definition_length) == 0;
}

static void
append_diff_line(PdStrbuf *diff, const char *indent, const char *what, const PdDriftLine *line,
                 const char *verb, const char *other_name, const PdDriftLine *other)
{
    pd_strbuf_appendf(diff, "%s%s %.*s: %s", indent, what, (int)line->key_length, line->key, verb);
    if (line->definition_length > 0)
        pd_strbuf_appendf(diff, ": %.*s", (int)line->definition_length, line->definition);
    if (other != NULL)
        pd_strbuf_appendf(diff, "\n%s    %s: %.*s", indent, other_name, (int)other->definition_length,
                          other->definition);
    pd_strbuf_append_char(diff, '\n');
}

size_t
pd_expect_diff(PdStrbuf *diff, const PdDriftLine *expected, size_t expected_count, const PdDriftLine *live,
               size_t live_count, const PdExpectWords *words, const char *indent, size_t counts[3])
{
    size_t e = 0, l = 0, found = 0, ignored[3] = {0, 0, 0};
    counts = counts != NULL ? counts : ignored;
    while (e < expected_count || l < live_count)
    {
        int order = e == expected_count ? 1
                    : l == live_count   ? -1
                                        : pd_drift_compare_keys(&expected[e], &live[l]);
        if (order < 0)
            append_diff_line(diff, indent, "-", &expected[e++], words->only_expected, NULL, NULL);
        else if (order > 0)
            append_diff_line(diff, indent, "+", &live[l++], words->only_live, NULL, NULL);
        else
        {
            bool is_same = is_same_definition(&expected[e], &live[l]);
            if (!is_same)
                append_diff_line(diff, indent, "~", &live[l], "changed", words->expected_name, &expected[e]);
            found += !is_same;
            counts[2] += !is_same;
            e++;
            l++;
            continue;
        }
        counts[order < 0 ? 0 : 1]++;
        found++;
    }
    return found;
}
