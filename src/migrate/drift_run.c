/*
 * drift_run.c - following the schema through one migrate run, so that each
 * migration deparses only the tables it touched. The run keeps every
 * migrated table's snapshot lines and its census (drift.c: its count of
 * constraints and indexes), and two transaction ids: the horizon when the
 * lines were last brought up to date and the previous migration's own.
 * Per migration, inside its transaction:
 *
 *   begin   the first migration of a run reads the whole schema; later ones
 *           re-read only the tables someone else changed since the previous
 *           begin (catalog rows written by a newer transaction than the
 *           horizon, other than the previous migration's, or a census that
 *           changed: a hand-made change or a concurrent part in between), so
 *           "before" is the live schema;
 *   record  after the SQL: the tables the transaction changed (it holds a
 *           lock on each) and those whose definitions name them are re-read;
 *           "after" is "before" with their lines replaced, and the lines
 *           that differ are written into the stored snapshot
 *           (drift_store.c).
 *
 * So the stored snapshot changes by exactly what the migration changed, as
 * when the whole schema was read before and after it; a change someone else
 * commits meanwhile to another table is not taken for the migration's (the
 * next begin sees it). A migration costs a few scans of the catalogs (no
 * deparsing), index lookups per table for the census, and the deparsing of
 * the tables it touched.
 *
 * The state lives in a child arena of the run's; lines replaced leave
 * garbage there, so when the garbage outgrows the live lines the state is
 * copied into a fresh arena: memory stays the size of the schema, however
 * long the history.
 */
#include <stdio.h>
#include <string.h>

#include "drift.h"
#include "prodata/strbuf.h"

/* Bytes of garbage tolerated in the state arena beyond the live lines, before it is compacted. */
#define COMPACT_SLACK_BYTES (256 * 1024)
#define XID_SIZE 16

typedef struct RunTable
{
    const char *oid;
    const char *digest; /* its census when its lines were read ("constraints:indexes"); "" when unknown */
    PdDriftLine *lines; /* sorted by key */
    size_t line_count;
    size_t bytes;
} RunTable;

/* Lines of one table read in this migration (scratch). */
typedef struct Group
{
    PdDriftLine *lines;
    size_t count;
} Group;

struct PdDriftRun
{
    PdArena *owner;       /* the run's arena: the state arenas are its children */
    PdArena *arena;       /* the state */
    PdStrmap *tables;     /* oid -> RunTable*, NULL once the table vanished */
    bool is_known;        /* the state matches the schema as the previous migration left it */
    char since[XID_SIZE]; /* the horizon when the state was last brought up to date */
    char own[XID_SIZE];   /* the xid of the previous migration's transaction */
    size_t live_bytes;    /* bytes of the tables' lines, for compaction */
};

PdDriftRun *
pd_drift_run_new(PdArena *arena)
{
    PdDriftRun *run = pd_arena_calloc(arena, 1, sizeof(*run));
    if (run != NULL)
        run->owner = arena;
    return run;
}

void
pd_drift_run_forget(PdDriftRun *run)
{
    run->is_known = false;
}

/* An empty state in a fresh arena, the old one freed. */
static bool
reset_state(PdDriftRun *run, PdError *err)
{
    pd_arena_free(run->arena);
    run->arena = pd_arena_new_child(run->owner, 0);
    run->tables = run->arena != NULL ? pd_strmap_new(run->arena, 64) : NULL;
    run->live_bytes = 0;
    return run->tables != NULL || pd_arena_error(run->arena ? run->arena : run->owner, err);
}

static bool
copy_lines(PdArena *arena, const PdDriftLine *from, size_t count, RunTable *table)
{
    table->lines = pd_arena_calloc(arena, count ? count : 1, sizeof(*table->lines));
    table->line_count = count;
    table->bytes = count * sizeof(*table->lines);
    for (size_t i = 0; table->lines != NULL && i < count; i++)
    {
        char *text = pd_arena_alloc(arena, from[i].key_length + from[i].definition_length + 2);
        if (text == NULL)
            return false;
        memcpy(text, from[i].key, from[i].key_length);
        text[from[i].key_length] = '\0';
        memcpy(text + from[i].key_length + 1, from[i].definition, from[i].definition_length);
        text[from[i].key_length + 1 + from[i].definition_length] = '\0';
        table->lines[i] =
            (PdDriftLine){text, from[i].key_length, text + from[i].key_length + 1, from[i].definition_length};
        table->bytes += from[i].key_length + from[i].definition_length + 2;
    }
    return table->lines != NULL;
}

/* Puts a table into the state (in arena), replacing what it held under that oid. */
static bool
put_table(PdDriftRun *run, PdArena *arena, PdStrmap *tables, const char *oid, const char *digest,
          const PdDriftLine *lines, size_t count)
{
    RunTable *table = pd_arena_calloc(arena, 1, sizeof(*table));
    if (table == NULL || (table->oid = pd_arena_strdup(arena, oid)) == NULL ||
        (table->digest = pd_arena_strdup(arena, digest)) == NULL || !copy_lines(arena, lines, count, table))
        return false;
    RunTable *old = pd_strmap_get(tables, oid);
    if (old != NULL && tables == run->tables)
        run->live_bytes -= old->bytes;
    run->live_bytes += table->bytes;
    return pd_strmap_put(tables, table->oid, table);
}

/* When the replaced lines outweigh the live ones, copies the state into a fresh arena. */
static bool
compact(PdDriftRun *run, PdError *err)
{
    if (pd_arena_used(run->arena) <= 2 * run->live_bytes + COMPACT_SLACK_BYTES)
        return true;
    PdArena *arena = pd_arena_new_child(run->owner, 0);
    PdStrmap *tables = arena != NULL ? pd_strmap_new(arena, pd_strmap_count(run->tables)) : NULL;
    if (tables == NULL)
        return pd_arena_error(arena != NULL ? arena : run->owner, err);
    size_t cursor = 0;
    void *value;
    run->live_bytes = 0;
    while (pd_strmap_next(run->tables, &cursor, NULL, NULL, &value))
    {
        const RunTable *table = value;
        if (table != NULL &&
            !put_table(run, arena, tables, table->oid, table->digest, table->lines, table->line_count))
            return pd_arena_error(arena, err);
    }
    pd_arena_free(run->arena);
    run->arena = arena;
    run->tables = tables;
    return true;
}

/* Adds oid to the touched set and to the array literal "{1,2}" being built. False on exhaustion. */
static bool
touch(PdStrmap *touched, PdStrbuf *array, const char *oid)
{
    if (pd_strmap_contains(touched, oid))
        return true;
    pd_strbuf_append_char(array, array->length == 0 ? '{' : ',');
    pd_strbuf_append(array, oid);
    return pd_strmap_put(touched, oid, NULL);
}

/* The oids of an array literal "{1,2}" as a set, in scratch. NULL on exhaustion. */
static PdStrmap *
oid_set(PdArena *scratch, const char *array)
{
    PdStrmap *set = pd_strmap_new(scratch, 16);
    for (const char *c = array + 1; set != NULL && *c != '\0' && *c != '}';)
    {
        size_t length = strcspn(c, ",}");
        char *oid = pd_arena_strndup(scratch, c, length);
        if (oid == NULL || !pd_strmap_put(set, oid, NULL))
            return NULL;
        c += length + (c[length] == ',');
    }
    return set;
}

/*
 * The tables to read again: those in `changed` (an array literal, NULL for
 * none) that are or were migrated tables, and those whose census differs
 * between the state and `now` (counts changed, the table appeared or
 * vanished). *array is the PostgreSQL array of their oids, NULL when none.
 */
static bool
find_touched(PdArena *scratch, const PdDriftRun *run, const PdStrmap *now, const char *changed,
             PdStrmap **touched, const char **array, PdError *err)
{
    PdStrmap *changed_set = changed != NULL ? oid_set(scratch, changed) : NULL;
    if (changed != NULL && changed_set == NULL)
        return pd_arena_error(scratch, err);
    PdStrbuf oids;
    pd_strbuf_init(&oids, scratch);
    bool is_ok = (*touched = pd_strmap_new(scratch, 16)) != NULL;
    size_t cursor = 0;
    const char *oid;
    void *value;
    while (is_ok && pd_strmap_next(run->tables, &cursor, &oid, NULL, &value))
    {
        const RunTable *table = value;
        const char *digest = pd_strmap_get(now, oid);
        if (table != NULL && (digest == NULL || strcmp(digest, table->digest) != 0))
            is_ok = touch(*touched, &oids, oid);
    }
    for (cursor = 0; is_ok && pd_strmap_next(now, &cursor, &oid, NULL, NULL);)
        if (pd_strmap_get(run->tables, oid) == NULL)
            is_ok = touch(*touched, &oids, oid);
    for (cursor = 0; is_ok && changed_set != NULL && pd_strmap_next(changed_set, &cursor, &oid, NULL, NULL);)
        if (pd_strmap_contains(now, oid) || pd_strmap_get(run->tables, oid) != NULL)
            is_ok = touch(*touched, &oids, oid);
    if (oids.length > 0)
        pd_strbuf_append_char(&oids, '}');
    if (!is_ok || pd_strbuf_failed(&oids))
        return pd_arena_error(scratch, err);
    *array = oids.length > 0 ? pd_strbuf_text(&oids) : NULL;
    return true;
}

/* The rows grouped by table: oid -> Group*, each group's lines in key order (the rows' order). */
static PdStrmap *
group_rows(PdArena *scratch, const PdDriftRow *rows, size_t count)
{
    PdStrmap *groups = pd_strmap_new(scratch, 16);
    for (size_t i = 0; groups != NULL && i < count; i++)
    {
        Group *group = pd_strmap_get(groups, rows[i].table_oid);
        if (group == NULL && ((group = pd_arena_calloc(scratch, 1, sizeof(*group))) == NULL ||
                              !pd_strmap_put(groups, rows[i].table_oid, group)))
            return NULL;
        PdDriftLine *lines = pd_arena_reserve_next(scratch, group->lines, group->count, sizeof(*lines));
        if (lines == NULL)
            return NULL;
        lines[group->count++] = rows[i].line;
        group->lines = lines;
    }
    return groups;
}

/* Replaces one table's lines by those read now (none: the table is gone) and its digest by now's. */
static bool
replace_table(PdDriftRun *run, const PdStrmap *now, const PdStrmap *groups, const char *oid)
{
    const Group *group = pd_strmap_get(groups, oid);
    const char *digest = pd_strmap_get(now, oid);
    if (digest == NULL && group == NULL)
    {
        const RunTable *old = pd_strmap_get(run->tables, oid);
        run->live_bytes -= old != NULL ? old->bytes : 0;
        return !pd_strmap_contains(run->tables, oid) || pd_strmap_put(run->tables, oid, NULL);
    }
    return put_table(run, run->arena, run->tables, oid, digest ? digest : "", group ? group->lines : NULL,
                     group ? group->count : 0);
}

/*
 * Re-reads the tables in `touched` (oid array `array`; NULL with touched NULL:
 * every table) into the state, with now's digests.
 */
static bool
refresh(PdDriftRun *run, PdArena *scratch, PdDb *db, const PdStrmap *now, const PdStrmap *touched,
        const char *array, PdError *err)
{
    PdDriftRow *rows;
    size_t count;
    if (!pd_drift_read_rows(scratch, db, array, &rows, &count, err))
        return false;
    PdStrmap *groups = group_rows(scratch, rows, count);
    if (groups == NULL)
        return pd_arena_error(scratch, err);
    const PdStrmap *oids[] = {touched != NULL ? touched : now, groups};
    for (size_t i = 0; i < 2; i++)
    {
        size_t cursor = 0;
        const char *oid;
        while (pd_strmap_next(oids[i], &cursor, &oid, NULL, NULL))
            if (!replace_table(run, now, groups, oid))
                return pd_arena_error(run->arena, err);
    }
    return true;
}

/* Keeps an xid's text (at most 10 digits) in the run. */
static void
keep_xid(char *to, const char *xid)
{
    snprintf(to, XID_SIZE, "%s", xid);
}

bool
pd_drift_run_begin(PdDriftRun *run, PdArena *scratch, PdDb *db, PdError *err)
{
    const char *horizon, *changed = NULL, *array = NULL;
    PdStrmap *now, *touched = NULL;
    if (!pd_drift_read_horizon(scratch, db, &horizon, err))
        return false;
    if (run->is_known && !pd_drift_read_changed_since(scratch, db, run->since, run->own, &changed, err))
        return false;
    if (!pd_drift_read_census(scratch, db, NULL, &now, err))
        return false;
    if (!run->is_known)
    {
        if (!reset_state(run, err) || !refresh(run, scratch, db, now, NULL, NULL, err))
            return false;
    }
    else if (!find_touched(scratch, run, now, changed, &touched, &array, err) ||
             (array != NULL && !refresh(run, scratch, db, now, touched, array, err)))
        return false;
    keep_xid(run->since, horizon); /* what commits from now on is newer */
    run->is_known = true;
    return true;
}

/* The state's lines of the tables in `only` (all with NULL), sorted by key, in scratch. */
static PdDriftLine *
collect_lines(PdArena *scratch, const PdDriftRun *run, const PdStrmap *only, size_t *count)
{
    size_t total = 0, cursor = 0;
    const char *oid;
    void *value;
    while (pd_strmap_next(run->tables, &cursor, &oid, NULL, &value))
        if (value != NULL && (only == NULL || pd_strmap_contains(only, oid)))
            total += ((const RunTable *)value)->line_count;
    PdDriftLine *lines = pd_arena_calloc(scratch, total ? total : 1, sizeof(*lines));
    size_t used = 0;
    for (cursor = 0; lines != NULL && pd_strmap_next(run->tables, &cursor, &oid, NULL, &value);)
    {
        const RunTable *table = value;
        if (table == NULL || (only != NULL && !pd_strmap_contains(only, oid)))
            continue;
        memcpy(lines + used, table->lines, table->line_count * sizeof(*lines));
        used += table->line_count;
    }
    pd_drift_sort_lines(lines, used);
    *count = used;
    return lines;
}

bool
pd_drift_run_record(PdDriftRun *run, PdArena *scratch, PdDb *db, const char **schema_after, PdError *err)
{
    const char *array, *own;
    PdStrmap *touched, *after;
    bool is_taken;
    if (!pd_drift_read_changed(scratch, db, &array, &own, err) ||
        !pd_drift_prepare_store(scratch, db, &is_taken, err))
        return false;
    keep_xid(run->own, own); /* its writes are in the state: the next begin skips them */
    if ((touched = oid_set(scratch, array)) == NULL)
        return pd_arena_error(scratch, err);
    const PdStrmap *only = is_taken ? touched : NULL; /* the first snapshot writes everything */
    size_t before_count, after_count;
    PdDriftLine *before = collect_lines(scratch, run, only, &before_count);
    if (before == NULL)
        return pd_arena_error(scratch, err);
    if (pd_strmap_count(touched) > 0 && (!pd_drift_read_census(scratch, db, array, &after, err) ||
                                         !refresh(run, scratch, db, after, touched, array, err)))
        return false;
    PdDriftLine *after_lines = collect_lines(scratch, run, only, &after_count);
    if (after_lines == NULL)
        return pd_arena_error(scratch, err);
    if (!pd_drift_store_change(scratch, db, before, before_count, after_lines, after_count, !is_taken, err))
        return false;
    if (schema_after != NULL)
    {
        PdDriftLine *all = collect_lines(scratch, run, NULL, &after_count);
        *schema_after = all != NULL ? pd_drift_join_lines(scratch, all, after_count) : NULL;
        if (*schema_after == NULL)
            return pd_arena_error(scratch, err);
    }
    return compact(run, err);
}

void
pd_drift_run_free(PdDriftRun *run)
{
    if (run == NULL)
        return;
    pd_arena_free(run->arena);
    run->arena = NULL;
    run->tables = NULL;
    run->is_known = false;
}
