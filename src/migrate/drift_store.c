/*
 * drift_store.c - the stored schema snapshot and `check`. The snapshot is
 * one row per line in prodata_schema_snapshot_lines (key, definition), plus
 * a row with key '' that says a snapshot was taken (an empty schema has no
 * other line). A migration writes only the lines its own SQL changed: the
 * live schema's lines before and after it are compared by key and the keys
 * that differ are deleted or written, so the cost follows the change, not
 * the schema, and a hand-made change made before or between migrations
 * stays visible to `check` instead of being absorbed as if the migrations
 * had made it.
 *
 * Databases migrated by earlier versions hold the snapshot as one text in
 * prodata_schema_snapshot; the first migration that writes moves its lines
 * into the lines table and drops it, in its own transaction, so their drift
 * baseline is kept. `check` reads either form.
 */
#include <string.h>

#include "drift.h"
#include "expect.h"
#include "history.h"
#include "prodata/migrate.h"
#include "prodata/strbuf.h"

static const char *upgrade_sql =
    "DELETE FROM " PD_SNAPSHOT_LINES_TABLE ";\n"
    "INSERT INTO " PD_SNAPSHOT_LINES_TABLE " (key, definition)\n"
    "  SELECT split_part(l, E'\\t', 1),\n"
    "         CASE WHEN strpos(l, E'\\t') > 0 THEN substr(l, strpos(l, E'\\t') + 1) ELSE '' END\n"
    "  FROM " PD_SNAPSHOT_OLD_TABLE " s, unnest(string_to_array(s.snapshot, E'\\n')) AS l;\n"
    "INSERT INTO " PD_SNAPSHOT_LINES_TABLE " (key, definition) SELECT '', '' FROM " PD_SNAPSHOT_OLD_TABLE
    ";\n"
    "DROP TABLE " PD_SNAPSHOT_OLD_TABLE ";";

bool
pd_drift_prepare_store(PdArena *arena, PdDb *db, bool *is_taken, PdError *err)
{
    const char *params[] = {PD_SNAPSHOT_OLD_TABLE};
    PdDbResult *result;
    if (!pd_db_query(arena, db, "SELECT to_regclass($1) IS NOT NULL", 1, params, &result, err))
        return pd_error_context(err, "while reading the schema snapshot");
    if (strcmp(pd_db_result_value(result, 0, 0), "t") == 0 && !pd_db_exec(db, upgrade_sql, err))
        return pd_error_context(err, "while moving the schema snapshot into " PD_SNAPSHOT_LINES_TABLE);
    if (!pd_db_query(arena, db, "SELECT EXISTS (SELECT FROM " PD_SNAPSHOT_LINES_TABLE " WHERE key = '')", 0,
                     NULL, &result, err))
        return pd_error_context(err, "while reading the schema snapshot");
    *is_taken = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

static void
append_key(PdStrbuf *out, const PdDriftLine *line)
{
    if (out->length > 0)
        pd_strbuf_append_char(out, '\n');
    pd_strbuf_append_length(out, line->key, line->key_length);
}

static void
append_line(PdStrbuf *out, const PdDriftLine *line)
{
    append_key(out, line);
    pd_strbuf_append_char(out, '\t');
    pd_strbuf_append_length(out, line->definition, line->definition_length);
}

static bool
is_same_definition(const PdDriftLine *a, const PdDriftLine *b)
{
    return a->definition_length == b->definition_length &&
           memcmp(a->definition, b->definition, a->definition_length) == 0;
}

/* The keys that vanished into *deleted, the lines new or changed into *written, both newline-separated. */
static void
collect_changes(const PdDriftLine *before, size_t before_count, const PdDriftLine *after, size_t after_count,
                PdStrbuf *deleted, PdStrbuf *written)
{
    size_t b = 0, a = 0;
    while (b < before_count || a < after_count)
    {
        int order = b == before_count  ? 1
                    : a == after_count ? -1
                                       : pd_drift_compare_keys(&before[b], &after[a]);
        if (order < 0)
            append_key(deleted, &before[b++]);
        else if (order > 0)
            append_line(written, &after[a++]);
        else
        {
            if (!is_same_definition(&before[b], &after[a]))
                append_line(written, &after[a]);
            b++;
            a++;
        }
    }
}

/* Deletes the keys in `deleted` and writes the lines in `written` (texts as collect_changes makes them). */
static bool
write_changes(PdArena *arena, PdDb *db, const char *deleted, const char *written, PdError *err)
{
    PdDbResult *result;
    const char *delete_params[] = {deleted};
    const char *write_params[] = {written};
    return (deleted[0] == '\0' || pd_db_query(arena, db,
                                              "DELETE FROM " PD_SNAPSHOT_LINES_TABLE
                                              " WHERE key = ANY (string_to_array($1, E'\\n'))",
                                              1, delete_params, &result, err)) &&
           (written[0] == '\0' ||
            pd_db_query(arena, db,
                        "INSERT INTO " PD_SNAPSHOT_LINES_TABLE " (key, definition)\n"
                        "SELECT split_part(l, E'\\t', 1), substr(l, strpos(l, E'\\t') + 1)\n"
                        "FROM unnest(string_to_array($1, E'\\n')) AS l\n"
                        "ON CONFLICT (key) DO UPDATE SET definition = excluded.definition",
                        1, write_params, &result, err));
}

/* The first snapshot: the schema as found (before), and the mark that a snapshot was taken. */
static bool
write_first(PdArena *arena, PdDb *db, const PdDriftLine *before, size_t before_count, PdError *err)
{
    PdStrbuf written;
    pd_strbuf_init(&written, arena);
    for (size_t i = 0; i < before_count; i++)
        append_line(&written, &before[i]);
    if (pd_strbuf_failed(&written))
        return pd_arena_error(arena, err);
    return write_changes(arena, db, "", pd_strbuf_text(&written), err) &&
           pd_db_exec(db,
                      "INSERT INTO " PD_SNAPSHOT_LINES_TABLE " (key, definition) VALUES ('', '') "
                      "ON CONFLICT (key) DO NOTHING",
                      err);
}

bool
pd_drift_store_change(PdArena *arena, PdDb *db, const PdDriftLine *before, size_t before_count,
                      const PdDriftLine *after, size_t after_count, bool is_first, PdError *err)
{
    if (is_first && !write_first(arena, db, before, before_count, err))
        return pd_error_context(err, "while recording the schema snapshot");
    PdStrbuf deleted, written;
    pd_strbuf_init(&deleted, arena);
    pd_strbuf_init(&written, arena);
    collect_changes(before, before_count, after, after_count, &deleted, &written);
    if (pd_strbuf_failed(&deleted) || pd_strbuf_failed(&written))
        return pd_arena_error(arena, err);
    if (!write_changes(arena, db, pd_strbuf_text(&deleted), pd_strbuf_text(&written), err))
        return pd_error_context(err, "while recording the schema snapshot");
    return true;
}

bool
pd_drift_record_change(PdArena *arena, PdDb *db, const char *before_text, const char *after_text,
                       PdError *err)
{
    PdDriftLine *before, *after;
    size_t before_count, after_count;
    bool is_taken;
    if (!pd_drift_split_text(arena, before_text, &before, &before_count) ||
        !pd_drift_split_text(arena, after_text, &after, &after_count))
        return pd_arena_error(arena, err);
    return pd_drift_prepare_store(arena, db, &is_taken, err) &&
           pd_drift_store_change(arena, db, before, before_count, after, after_count, !is_taken, err);
}

bool
pd_drift_read_stored(PdArena *arena, PdDb *db, PdDriftLine **lines, size_t *count, bool *is_found,
                     PdError *err)
{
    const char *params[] = {PD_SNAPSHOT_LINES_TABLE, PD_SNAPSHOT_OLD_TABLE};
    PdDbResult *result;
    *is_found = false;
    if (!pd_db_query(arena, db, "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL", 2, params,
                     &result, err))
        return false;
    bool has_lines = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    bool has_old = strcmp(pd_db_result_value(result, 0, 1), "t") == 0;
    if (has_lines &&
        !pd_db_query(arena, db,
                     "SELECT key, definition FROM " PD_SNAPSHOT_LINES_TABLE " ORDER BY key COLLATE \"C\"", 0,
                     NULL, &result, err))
        return false;
    size_t row_count = has_lines ? pd_db_result_row_count(result) : 0;
    if (row_count > 0 && pd_db_result_length(result, 0, 0) == 0)
    {
        PdDriftLine *read = pd_arena_calloc(arena, row_count, sizeof(*read));
        if (read == NULL)
            return pd_arena_error(arena, err);
        for (size_t row = 1; row < row_count; row++)
            read[row - 1] =
                (PdDriftLine){pd_db_result_value(result, row, 0), pd_db_result_length(result, row, 0),
                              pd_db_result_value(result, row, 1), pd_db_result_length(result, row, 1)};
        *lines = read;
        *count = row_count - 1;
        *is_found = true;
        return true;
    }
    if (!has_old ||
        !pd_db_query(arena, db, "SELECT snapshot FROM " PD_SNAPSHOT_OLD_TABLE, 0, NULL, &result, err))
        return !has_old;
    if (pd_db_result_row_count(result) != 1)
        return true;
    *is_found = true;
    return pd_drift_split_text(arena, pd_db_result_value(result, 0, 0), lines, count) ||
           pd_arena_error(arena, err);
}

bool
pd_migrate_check_drift(PdArena *arena, PdDb *db, char **diff, PdError *err)
{
    PdDriftLine *expected;
    size_t expected_count;
    bool is_found;
    if (!pd_drift_read_stored(arena, db, &expected, &expected_count, &is_found, err))
        return pd_error_context(err, "while reading the schema snapshot");
    if (!is_found)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "the database has not been migrated by prodata");
        return pd_error_hint(err, "Run prodata migrate first.");
    }
    PdDriftRow *rows;
    size_t live_count;
    if (!pd_drift_read_rows(arena, db, NULL, &rows, &live_count, err))
        return false;
    PdDriftLine *live = pd_arena_calloc(arena, live_count ? live_count : 1, sizeof(*live));
    if (live == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < live_count; i++)
        live[i] = rows[i].line;
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    static const PdExpectWords words = {"missing (the migrations created it)",
                                        "not created by the migrations", "expected"};
    pd_expect_diff(&text, expected, expected_count, live, live_count, &words, "", NULL);
    if (pd_strbuf_failed(&text))
        return pd_arena_error(arena, err);
    *diff = text.length > 0 ? text.data : NULL;
    return true;
}
