/*
 * fake.c - recording migrations as applied without running them, for a
 * schema that exists already: a database adopted with inspectdb, a change
 * made by hand and then written into the models, tables a Django project
 * made. `migrate --fake` records the pending files up to the target;
 * `--fake-initial` records a file whose every new table exists already and
 * runs the others. Neither takes the files' word for it: the schema they
 * would make is made in a scratch schema (expect.c) and compared, table by
 * table, with the live one inside the transaction that writes the history;
 * any difference refuses the whole run with the lines that differ, before
 * anything is recorded. The stored snapshot takes the live lines of those
 * tables, so `check` starts from the schema as it was adopted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apply.h"
#include "expect.h"
#include "history.h"

/* One name of SQL text at *at: "quoted" (with "" inside) or a plain word folded to lower case. */
static char *
read_name(PdArena *arena, const char **at)
{
    const char *c = *at;
    PdStrbuf name;
    pd_strbuf_init(&name, arena);
    if (*c == '"')
    {
        for (c++; *c != '\0' && !(c[0] == '"' && c[1] != '"'); c++)
        {
            pd_strbuf_append_char(&name, *c);
            c += c[0] == '"'; /* "" is one quote */
        }
        c += *c == '"';
    }
    else
        for (; (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
               *c == '_' || *c == '$' || (unsigned char)*c >= 0x80;
             c++)
            pd_strbuf_append_char(&name, (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c);
    *at = c;
    return pd_strbuf_failed(&name) ? NULL : name.data != NULL ? name.data : pd_arena_strdup(arena, "");
}

/* The table a CREATE TABLE statement makes (the last part of a qualified name); NULL for other statements. */
static bool
created_table(PdArena *arena, const char *statement, const char **table)
{
    *table = NULL;
    if (strncasecmp(statement, "create table ", 13) != 0)
        return true;
    const char *at = statement + 13;
    at += strspn(at, " \t\r\n");
    if (strncasecmp(at, "if not exists ", 14) == 0)
        at += 14 + strspn(at + 14, " \t\r\n");
    char *name = read_name(arena, &at);
    while (name != NULL && *at == '.')
    {
        at++;
        name = read_name(arena, &at);
    }
    *table = name;
    return name != NULL;
}

/* The tables file's +up creates, as a PostgreSQL text[] literal's elements in *names (arena). */
static bool
created_tables(PdArena *arena, const PdMigrationFile *file, const char ***names, size_t *count, PdError *err)
{
    const char **statements;
    size_t statement_count;
    const char *where = file->path != NULL ? file->path : file->name;
    if (!pd_migration_split_statements(arena, file->up_sql, where, file->up_line, &statements,
                                       &statement_count, err))
        return false;
    const char **found = pd_arena_calloc(arena, statement_count + 1, sizeof(*found));
    if (found == NULL)
        return pd_arena_error(arena, err);
    *count = 0;
    for (size_t i = 0; i < statement_count; i++)
    {
        const char *table;
        if (!created_table(arena, statements[i], &table))
            return pd_arena_error(arena, err);
        if (table != NULL)
            found[(*count)++] = table;
    }
    *names = found;
    return true;
}

/* Which of names are tables of the current schema: *existing gets them, comma-separated ("" for none). */
static bool
read_existing(PdArena *arena, PdDb *db, const char **names, size_t count, const char **existing, int *found,
              PdError *err)
{
    PdStrbuf list;
    pd_strbuf_init(&list, arena);
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append(&list, i ? "\n" : "");
        pd_strbuf_append(&list, names[i]);
    }
    if (pd_strbuf_failed(&list))
        return pd_arena_error(arena, err);
    const char *params[] = {pd_strbuf_text(&list)};
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT count(*), coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), '')\n"
                     "FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = "
                     "current_schema())\n"
                     "  AND c.relkind IN ('r', 'p') AND c.relname = ANY (string_to_array($1, E'\\n'))",
                     1, params, &result, err))
        return false;
    *found = atoi(pd_db_result_value(result, 0, 0));
    *existing = pd_db_result_value(result, 0, 1);
    return true;
}

/*
 * For --fake-initial: whether file is to be recorded (*is_fake) or run. A
 * file that creates tables of which some exist and some do not is refused:
 * neither running nor recording it would be right.
 */
bool
pd_fake_is_initial_done(PdArena *arena, PdDb *db, const PdMigrationFile *file, bool *is_fake, PdError *err)
{
    const char **names = NULL, *existing = NULL;
    size_t count = 0;
    int found = 0;
    *is_fake = false;
    if (!created_tables(arena, file, &names, &count, err))
        return false;
    if (count == 0)
        return true;
    if (!read_existing(arena, db, names, count, &existing, &found, err))
        return false;
    if (found == 0)
        return true;
    if ((size_t)found < count)
    {
        pd_error_set(err, PD_ERR_REFUSED, "%s creates %zu tables, of which %d exist already", file->name,
                     count, found);
        pd_error_detail(err,
                        "Existing: %s. --fake-initial records a migration only when all of its tables "
                        "exist, and runs it only when none does.",
                        existing);
        return pd_error_hint(err,
                             "Make the missing tables by hand as the migration would (prodata sqlmigrate "
                             "%d shows its SQL) and run again, or drop the existing ones.",
                             file->number);
    }
    *is_fake = true;
    return true;
}

/* The live lines of the tables in expected (the whole live schema in *all, for a first snapshot). */
static bool
read_live(PdArena *arena, PdDb *db, const PdDriftLine *expected, size_t expected_count, PdDriftLine **all,
          size_t *all_count, PdDriftLine **lines, size_t *count, PdError *err)
{
    PdDriftRow *rows;
    size_t row_count;
    if (!pd_drift_read_rows(arena, db, NULL, &rows, &row_count, err))
        return false;
    PdDriftLine *live = pd_arena_calloc(arena, row_count ? row_count : 1, sizeof(*live));
    if (live == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < row_count; i++)
        live[i] = rows[i].line;
    *all = live;
    *all_count = row_count;
    return pd_expect_filter(arena, expected, expected_count, live, row_count, lines, count) ||
           pd_arena_error(arena, err);
}

/*
 * Refuses when the live tables lack what the migrations make or define it
 * otherwise, listing the differences; what they hold beyond it (*kept: an
 * index or column the model file cannot describe) stays, as the snapshot
 * takes it.
 */
static bool
check_same(PdArena *arena, const PdMigrationFile *last, const PdDriftLine *expected, size_t expected_count,
           const PdDriftLine *live, size_t live_count, size_t *kept, PdError *err)
{
    static const PdExpectWords words = {"missing from the database (the migrations make it)",
                                        "in the database, not made by the migrations", "the migrations make"};
    PdStrbuf diff;
    pd_strbuf_init(&diff, arena);
    size_t counts[3] = {0, 0, 0};
    size_t found = pd_expect_diff(&diff, expected, expected_count, live, live_count, &words, "  ", counts);
    if (pd_strbuf_failed(&diff))
        return pd_arena_error(arena, err);
    *kept = counts[1];
    if (counts[0] + counts[2] == 0)
        return true; /* objects the migrations do not make stay as they are (an adopted partial index) */
    pd_error_set(err, PD_ERR_REFUSED,
                 "the live schema is not what the migrations up to %s make; nothing was recorded",
                 last->name);
    pd_error_detail(err, "%zu difference%s:\n%s", found, found == 1 ? "" : "s", pd_strbuf_text(&diff));
    return pd_error_hint(err, "Change the model file until makemigrations writes what the database holds, or "
                              "change the database; then run migrate --fake again. prodata check lists the "
                              "same differences.");
}

/*
 * Refuses when the live schema still holds what the migrations before the
 * range make and the range removes (a column, an index, a table it drops):
 * recording the range would claim a drop that never ran, and the snapshot
 * would then hide it from check. All three lists are sorted by key.
 */
static bool
check_removed(PdArena *arena, const PdMigrationFile *last, const PdDriftLine *before, size_t before_count,
              const PdDriftLine *expected, size_t expected_count, const PdDriftLine *all, size_t all_count,
              PdError *err)
{
    PdStrbuf diff;
    pd_strbuf_init(&diff, arena);
    size_t found = 0;
    for (size_t l = 0, b = 0, e = 0; l < all_count; l++)
    {
        while (b < before_count && pd_drift_compare_keys(&before[b], &all[l]) < 0)
            b++;
        while (e < expected_count && pd_drift_compare_keys(&expected[e], &all[l]) < 0)
            e++;
        bool was_made = b < before_count && pd_drift_compare_keys(&before[b], &all[l]) == 0;
        bool is_made = e < expected_count && pd_drift_compare_keys(&expected[e], &all[l]) == 0;
        if (!was_made || is_made)
            continue;
        pd_strbuf_appendf(&diff, "  + %.*s: in the database, removed by the migrations\n",
                          (int)all[l].key_length, all[l].key);
        found++;
    }
    if (pd_strbuf_failed(&diff))
        return pd_arena_error(arena, err);
    if (found == 0)
        return true;
    pd_error_set(err, PD_ERR_REFUSED,
                 "the live schema is not what the migrations up to %s make; nothing was recorded",
                 last->name);
    pd_error_detail(err, "%zu difference%s:\n%s", found, found == 1 ? "" : "s", pd_strbuf_text(&diff));
    return pd_error_hint(err,
                         "Drop them by hand as the migrations would (prodata sqlmigrate N shows the SQL), or "
                         "run the migrations instead of recording them.");
}

/* The stored snapshot takes the live lines of the adopted tables (the whole schema, for a first snapshot). */
static bool
store_adopted(PdArena *arena, PdDb *db, const PdDriftLine *all, size_t all_count, const PdDriftLine *live,
              size_t live_count, const PdDriftLine *before, size_t before_count, const PdDriftLine *expected,
              size_t expected_count, PdError *err)
{
    bool is_taken, is_found;
    PdDriftLine *stored, *stored_kept;
    size_t stored_count, kept_count;
    if (!pd_drift_prepare_store(arena, db, &is_taken, err))
        return false;
    if (!is_taken)
        return pd_drift_store_change(arena, db, all, all_count, all, all_count, true, err);
    if (!pd_drift_read_stored(arena, db, &stored, &stored_count, &is_found, err))
        return false;
    /* The stored lines of the tables the range makes or keeps, and of those it drops (gone, as checked). */
    PdDriftLine *tables = pd_arena_calloc(arena, before_count + expected_count + 1, sizeof(*tables));
    if (tables == NULL)
        return pd_arena_error(arena, err);
    if (before_count > 0)
        memcpy(tables, before, before_count * sizeof(*tables));
    if (expected_count > 0)
        memcpy(tables + before_count, expected, expected_count * sizeof(*tables));
    if (!pd_expect_filter(arena, tables, before_count + expected_count, stored, stored_count, &stored_kept,
                          &kept_count))
        return pd_arena_error(arena, err);
    return pd_drift_store_change(arena, db, stored_kept, kept_count, live, live_count, false, err);
}

/* The transaction that compares and records files[first..last]; rolled back on any failure. */
static bool
record_in_transaction(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t first, size_t last,
                      const PdDriftLine *before, size_t before_count, const PdDriftLine *expected,
                      size_t expected_count, const PdMigrateOptions *options, size_t *kept, PdError *err)
{
    PdDriftLine *all = NULL, *live = NULL;
    size_t all_count = 0, live_count = 0;
    bool is_done =
        pd_db_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED", err) &&
        pd_history_set_lock_timeout(arena, db, options->lock_timeout_ms, true, err) &&
        read_live(arena, db, expected, expected_count, &all, &all_count, &live, &live_count, err) &&
        check_same(arena, &files[last], expected, expected_count, live, live_count, kept, err) &&
        check_removed(arena, &files[last], before, before_count, expected, expected_count, all, all_count,
                      err);
    if (is_done && !options->is_dry_run)
    {
        is_done = store_adopted(arena, db, all, all_count, live, live_count, before, before_count, expected,
                                expected_count, err);
        for (size_t i = first; is_done && i <= last; i++)
        {
            const char *checksum;
            is_done = pd_apply_checksum(arena, &files[i], &checksum, err) &&
                      pd_history_record(arena, db, files[i].number, files[i].name, checksum, NULL, 0, err);
        }
    }
    if (is_done && pd_db_exec(db, options->is_dry_run ? "ROLLBACK" : "COMMIT", err))
        return true;
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return false;
}

bool
pd_fake_record(PdArena *arena, PdArena *scratch, PdDb *db, const PdMigrationFile *files, size_t first,
               size_t last, const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    PdDriftLine *expected;
    size_t expected_count;
    PdDriftLine *before = NULL; /* what the applied migrations make: what the range drops must be gone */
    size_t before_count = 0, kept = 0;
    if (!pd_expect_read(scratch, db, files, last + 1, &expected, &expected_count, err) ||
        (first > 0 && !pd_expect_read(scratch, db, files, first, &before, &before_count, err)) ||
        !record_in_transaction(scratch, db, files, first, last, before, before_count, expected,
                               expected_count, options, &kept, err))
        return pd_error_context(err, "while recording %s%s%s without running %s", files[first].name,
                                last > first ? " to " : "", last > first ? files[last].name : "",
                                last > first ? "them" : "it");
    size_t tables = 0;
    for (size_t i = 0; i < expected_count; i++)
        tables += expected[i].key_length > 6 && memcmp(expected[i].key, "table ", 6) == 0;
    for (size_t i = first; i <= last; i++)
        pd_apply_report_line(arena, report,
                             "%s %s (recorded without running it; the schema of its %zu "
                             "table%s matches)",
                             options->is_dry_run ? "would fake" : "faked", files[i].name, tables,
                             tables == 1 ? "" : "s");
    if (kept > 0)
        pd_apply_report_line(
            arena, report,
            "%zu object%s of those tables that the migrations do not make (an index, a column "
            "or a constraint the model file cannot describe) stay%s as %s",
            kept, kept == 1 ? "" : "s", kept == 1 ? "s" : "", kept == 1 ? "it is" : "they are");
    report->applied_count += options->is_dry_run ? 0 : (int)(last - first + 1);
    return true;
}

bool
pd_fake_forget(PdArena *arena, PdDb *db, const PdMigrationFile *file, const PdMigrateOptions *options,
               PdMigrateReport *report, PdError *err)
{
    if (!options->is_dry_run &&
        !(pd_db_exec(db, "BEGIN", err) && pd_history_forget(arena, db, file->number, err) &&
          pd_db_exec(db, "COMMIT", err)))
    {
        PdError ignored;
        pd_db_exec(db, "ROLLBACK", &ignored);
        return pd_error_context(err, "while unrecording %s", file->name);
    }
    pd_apply_report_line(arena, report, "%s %s (its +down was not run: its changes stay in the database)",
                         options->is_dry_run ? "would unrecord" : "unrecorded", file->name);
    report->reverted_count += options->is_dry_run ? 0 : 1;
    return true;
}
