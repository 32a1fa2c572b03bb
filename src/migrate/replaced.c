/*
 * replaced.c - which of a squash and the files it replaces a database runs.
 * A squash (squash.c) stands beside its files for a while, then alone; each
 * database has run either the files, some of them, or the squash, and the
 * rest of apply.c works on one list per database, chosen here from its
 * history:
 *
 *   - the squash applied, or none of its files: the squash, not the files;
 *   - all of its files applied: their history rows become the squash's one
 *     row (in one transaction, under the deployers' lock), so that from then
 *     on the database is one that applied the squash, whether the files are
 *     still there or deleted;
 *   - some of its files applied: the files, to finish them; refused once
 *     they are deleted, as the squash cannot run on top of half of them.
 */
#include <string.h>

#include "apply.h"
#include "history.h"
#include "prodata/strbuf.h"

/* How many of squash's replaced names have a history row, and whether the squash itself has one. */
static void
count_applied(const PdMigrationFile *squash, const PdHistoryRow *rows, size_t row_count, size_t *applied,
              bool *is_squash_applied)
{
    *applied = 0;
    *is_squash_applied = false;
    for (size_t r = 0; r < row_count; r++)
    {
        *is_squash_applied |= strcmp(rows[r].name, squash->name) == 0;
        for (size_t i = 0; i < squash->replace_count; i++)
            *applied += strcmp(rows[r].name, squash->replaces[i]) == 0;
    }
}

bool
pd_replaced_is_covered(const PdMigrationFile *files, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        for (size_t r = 0; r < files[i].replace_count; r++)
            if (strcmp(files[i].replaces[r], name) == 0)
                return true;
    return false;
}

/* The rows of the files squash replaces become its one row, in one transaction. */
static bool
adopt_one(PdArena *arena, PdDb *db, const PdMigrationFile *squash, PdError *err)
{
    const char *checksum;
    PdStrbuf names;
    pd_strbuf_init(&names, arena);
    for (size_t i = 0; i < squash->replace_count; i++)
        pd_strbuf_appendf(&names, "%s%s", i ? "\n" : "", squash->replaces[i]);
    if (pd_strbuf_failed(&names))
        return pd_arena_error(arena, err);
    const char *params[] = {pd_strbuf_text(&names)};
    PdDbResult *result;
    if (pd_apply_checksum(arena, squash, &checksum, err) && pd_db_exec(db, "BEGIN", err) &&
        pd_db_query(arena, db,
                    "DELETE FROM " PD_HISTORY_TABLE " WHERE name = ANY (string_to_array($1, E'\\n'))", 1,
                    params, &result, err) &&
        pd_history_record(arena, db, squash->number, squash->name, checksum, NULL, 0, err) &&
        pd_db_exec(db, "COMMIT", err))
        return true;
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return pd_error_context(err, "while recording that the database applied %s as the files it replaces",
                            squash->name);
}

bool
pd_replaced_adopt(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                  const PdHistoryRow *rows, size_t row_count, const PdMigrateOptions *options,
                  PdMigrateReport *report, bool *is_changed, PdError *err)
{
    *is_changed = false;
    for (size_t i = 0; i < count; i++)
    {
        size_t applied;
        bool is_squash_applied;
        if (files[i].replace_count == 0)
            continue;
        count_applied(&files[i], rows, row_count, &applied, &is_squash_applied);
        if (is_squash_applied || applied < files[i].replace_count)
            continue;
        for (size_t r = 0; r < row_count; r++)
            if (!rows[r].is_complete && pd_replaced_is_covered(&files[i], 1, rows[r].name))
                return true; /* a concurrent part to finish first, through the files */
        if (!options->is_dry_run && !adopt_one(arena, db, &files[i], err))
            return false;
        pd_apply_report_line(
            arena, report, "%s %s as applied: the database applied the %zu files it replaces",
            options->is_dry_run ? "would record" : "recorded", files[i].name, files[i].replace_count);
        if (options->is_dry_run)
            continue;
        *is_changed = true;
    }
    return true;
}

/* What the database runs of squash: *use_squash (else the files); refused when it cannot be either. */
static bool
choose_one(const PdMigrationFile *squash, bool is_beside, const PdHistoryRow *rows, size_t row_count,
           bool *use_squash, PdError *err)
{
    size_t applied;
    bool is_squash_applied;
    count_applied(squash, rows, row_count, &applied, &is_squash_applied);
    *use_squash = is_squash_applied || applied == 0 || (applied == squash->replace_count && !is_beside);
    if (*use_squash || is_beside)
        return true;
    pd_error_set(err, PD_ERR_REFUSED, "the database applied %zu of the %zu migrations %s replaces", applied,
                 squash->replace_count, squash->name);
    pd_error_detail(err, "Their files are deleted, and the squash cannot run on top of part of them.");
    return pd_error_hint(err,
                         "Restore the files %s replaces (from version control) and run migrate: it "
                         "finishes them, then records the squash.",
                         squash->name);
}

bool
pd_replaced_choose(PdArena *arena, const PdHistoryRow *rows, size_t row_count, const PdMigrationFile *files,
                   size_t count, PdMigrationFile **chosen, size_t *chosen_count, PdError *err)
{
    bool *is_left_out = pd_arena_calloc(arena, count + 1, sizeof(*is_left_out));
    PdMigrationFile *out = pd_arena_calloc(arena, count + 1, sizeof(*out));
    if (is_left_out == NULL || out == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        if (files[i].replace_count == 0)
            continue;
        bool is_beside = i > 0 && files[i - 1].number == files[i].number, use_squash;
        if (!choose_one(&files[i], is_beside, rows, row_count, &use_squash, err))
            return false;
        is_left_out[i] = !use_squash;
        for (size_t j = 0; j < count && use_squash; j++)
            is_left_out[j] |= files[j].is_replaced && pd_replaced_is_covered(&files[i], 1, files[j].name);
    }
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (!is_left_out[i])
            out[used++] = files[i];
    *chosen = out;
    *chosen_count = used;
    return true;
}
