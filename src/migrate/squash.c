/*
 * squash.c - many migrations made one. A long history costs every fresh
 * database (a test run, a new developer) the whole replay; a squash makes
 * the same schema in one migration, planned straight from the state before
 * its first file to the state after its last, and names the files it
 * replaces on its "-- replaces:" line. It lives beside them until every
 * database has applied them or it (apply.c tells which a database ran), and
 * then they can be deleted.
 *
 * Only migrations the planner wrote can be squashed: a file is taken as what
 * its recorded state change plans, so a hand-written one (no state, or SQL
 * that is not that plan: a backfill, a data fix, an edit) would be lost and
 * is refused, naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "prodata/migrate.h"
#include "split.h"

/* The state recorded by the newest of files[0..end) that records one (NULL: none, an empty database). */
static bool
state_before(PdArena *arena, const PdMigrationFile *files, size_t end, PdCatalog **state, PdError *err)
{
    return pd_migration_latest_state(arena, files, end, state, err);
}

/* Whether two sections hold the same statements in normal form. */
static bool
is_same_sql(PdArena *arena, const char *a, const char *b, bool *is_same, PdError *err)
{
    PdStrbuf x, y;
    pd_strbuf_init(&x, arena);
    pd_strbuf_init(&y, arena);
    if (!pd_split_normalize_section(arena, a, &x, err) || !pd_split_normalize_section(arena, b, &y, err))
        return false;
    if (pd_strbuf_failed(&x) || pd_strbuf_failed(&y))
        return pd_arena_error(arena, err);
    *is_same = x.length == y.length && (x.length == 0 || memcmp(x.data, y.data, x.length) == 0);
    return true;
}

bool
pd_migration_is_planned(PdArena *arena, const PdMigrationFile *files, size_t index, bool *is_planned,
                        PdError *err)
{
    const PdMigrationFile *file = &files[index];
    PdCatalog *before, *after;
    PdMigrationPlan *plan;
    bool is_same_up = true, is_same_concurrent = true;
    *is_planned = false;
    /* no state, or a batched section (the planner never writes one: a backfill added by hand) */
    if (file->state_text == NULL || file->parent_name == NULL ||
        (file->up_batched_sql != NULL && file->up_batched_sql[0] != '\0'))
        return true;
    if (!state_before(arena, files, index, &before, err) ||
        !pd_migration_latest_state(arena, files, index + 1, &after, err) ||
        !pd_migrate_plan(arena, before, after, &plan, err) ||
        !is_same_sql(arena, file->up_sql, plan->up_sql, &is_same_up, err) ||
        !is_same_sql(arena, file->up_concurrently_sql, plan->up_concurrently_sql, &is_same_concurrent, err))
        return pd_error_context(err, "while checking %s", file->name);
    *is_planned = is_same_up && is_same_concurrent;
    return true;
}

/* Refuses a file of the range that is not exactly what the planner makes of its state change. */
static bool
check_planned(PdArena *arena, const PdMigrationFile *files, size_t index, PdError *err)
{
    const PdMigrationFile *file = &files[index];
    const char *why = NULL;
    if (file->is_replaced)
        why = "a squash beside it replaces it already (delete the files that squash replaces first)";
    else if (file->replace_count > 0 && index > 0 && files[index - 1].number == file->number)
        why = "it stands beside the files it replaces (delete them first)";
    else if (file->replace_count > 0)
        /* Its replaces: line names the deleted files, not it: the folder would then hold some of the new
         * squash's files and not others (refused on reading), and a database that recorded this squash
         * would count as having applied part of the new one. */
        why = "it is a squash itself (a squash of a squash is not supported yet)";
    else if (file->state_text == NULL || file->parent_name == NULL)
        why = "it was written by hand (it records no model state)";
    bool is_planned = true;
    if (why == NULL && !pd_migration_is_planned(arena, files, index, &is_planned, err))
        return false;
    if (why == NULL && !is_planned)
        why =
            "its SQL is not what its model change plans (written or edited by hand: a data fix, a backfill)";
    if (why == NULL)
        return true;
    pd_error_set(err, PD_ERR_REFUSED, "cannot squash %s: %s", file->name, why);
    pd_error_detail(err,
                    "A squash is planned from the model states alone; the statements of %s would be lost.",
                    file->name);
    return pd_error_hint(
        err, "Squash a range that leaves %s out: the migrations before it, or those after it.", file->name);
}

/* The rendered file with its "-- replaces:" line after the "-- after:" line. */
static char *
add_replaces(PdArena *arena, const char *text, const PdMigrationFile *files, size_t from, size_t to)
{
    const char *after = strstr(text, "\n-- after: ");
    const char *line_end = after != NULL ? strchr(after + 1, '\n') : NULL;
    if (line_end == NULL)
        return NULL;
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    pd_strbuf_append_length(&out, text, (size_t)(line_end + 1 - text));
    pd_strbuf_append(&out, "-- replaces:");
    for (size_t i = from; i <= to; i++)
    {
        for (size_t r = 0; r < files[i].replace_count; r++) /* a squash standing alone: what it replaced */
            pd_strbuf_appendf(&out, " %s", files[i].replaces[r]);
        if (files[i].replace_count == 0)
            pd_strbuf_appendf(&out, " %s", files[i].name);
    }
    pd_strbuf_append_char(&out, '\n');
    pd_strbuf_append(&out, line_end + 1);
    return pd_strbuf_failed(&out) ? NULL : out.data;
}

bool
pd_migration_squash(PdArena *arena, const PdMigrationFile *files, size_t count, size_t from, size_t to,
                    const char *source_name, const char **name, char **text, PdError *err)
{
    if (from > to || to >= count)
        return pd_error_set(err, PD_ERR_USAGE, "squash: the range is empty or outside the migrations");
    if (from == to)
        return pd_error_set(err, PD_ERR_USAGE, "squash: one migration (%s) is squashed already",
                            files[from].name);
    for (size_t i = from; i <= to; i++)
        if (!check_planned(arena, files, i, err))
            return false;
    if (to + 1 < count && files[to + 1].number == files[to].number)
        return pd_error_set(err, PD_ERR_REFUSED, "cannot squash up to %s: squash %s already replaces it",
                            files[to].name, files[to + 1].name);
    PdCatalog *before, *after;
    PdMigrationPlan *plan;
    if (!state_before(arena, files, from, &before, err) ||
        !pd_migration_latest_state(arena, files, to + 1, &after, err) ||
        !pd_migrate_plan(arena, before, after, &plan, err))
        return false;
    int first = files[from].replace_count > 0 ? atoi(files[from].replaces[0]) : files[from].number;
    const char *made =
        pd_arena_sprintf(arena, "%04d_squashed_%04d_to_%04d", files[to].number, first, files[to].number);
    char *rendered;
    if (made == NULL)
        return pd_arena_error(arena, err);
    if (!pd_migration_render(arena, plan, made, from > 0 ? files[from - 1].name : NULL, source_name, after,
                             &rendered, err))
        return false;
    *text = add_replaces(arena, rendered, files, from, to);
    *name = made;
    return *text != NULL || pd_arena_error(arena, err);
}
