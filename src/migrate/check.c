/*
 * check.c - `check`'s reading of the live schema, two ways. The tables of
 * the models are compared with the model file itself: the plan from an
 * empty database to the models is made in a scratch schema (expect.c) and
 * read line by line beside the live tables, so a database adopted with
 * inspectdb, built by hand or by another tool is checked as strictly as one
 * prodata migrated, and each difference says which side has what. What the
 * model file does not describe but the migrations made (a hand-written
 * migration's partial index) is no difference. Every other table is
 * compared with the snapshot of what the migrations made (drift_store.c),
 * so a table added or dropped by hand still shows.
 */
#include <string.h>

#include "drift.h"
#include "expect.h"
#include "prodata/migrate.h"

/* The live schema's lines, sorted by key. */
static bool
read_live(PdArena *arena, PdDb *db, PdDriftLine **lines, size_t *count, PdError *err)
{
    PdDriftRow *rows;
    if (!pd_drift_read_rows(arena, db, NULL, &rows, count, err))
        return false;
    PdDriftLine *live = pd_arena_calloc(arena, *count ? *count : 1, sizeof(*live));
    if (live == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < *count; i++)
        live[i] = rows[i].line;
    *lines = live;
    return true;
}

/* The lines of `lines` whose table is not among the tables of `of`. */
static bool
drop_tables_of(PdArena *arena, const PdDriftLine *of, size_t of_count, const PdDriftLine *lines, size_t count,
               PdDriftLine **kept, size_t *kept_count)
{
    PdDriftLine *inside;
    size_t inside_count;
    if (!pd_expect_filter(arena, of, of_count, lines, count, &inside, &inside_count))
        return false;
    PdDriftLine *out = pd_arena_calloc(arena, count ? count : 1, sizeof(*out));
    if (out == NULL)
        return false;
    size_t used = 0;
    for (size_t i = 0, j = 0; i < count; i++)
    {
        if (j < inside_count && inside[j].key == lines[i].key)
            j++;
        else
            out[used++] = lines[i];
    }
    *kept = out;
    *kept_count = used;
    return true;
}

/*
 * Leaves out of live (sorted) the lines that expected (sorted) has no key for
 * and that the snapshot (sorted) holds as they are: what a migration made
 * that the model file does not describe (a hand-written migration's partial
 * index), or what was there when prodata first migrated the database.
 */
static void
drop_made_by_migrations(const PdDriftLine *expected, size_t expected_count, const PdDriftLine *stored,
                        size_t stored_count, PdDriftLine *live, size_t *live_count)
{
    size_t used = 0, e = 0, s = 0;
    for (size_t l = 0; l < *live_count; l++)
    {
        while (e < expected_count && pd_drift_compare_keys(&expected[e], &live[l]) < 0)
            e++;
        while (s < stored_count && pd_drift_compare_keys(&stored[s], &live[l]) < 0)
            s++;
        bool is_expected = e < expected_count && pd_drift_compare_keys(&expected[e], &live[l]) == 0;
        bool is_stored = s < stored_count && pd_drift_compare_keys(&stored[s], &live[l]) == 0 &&
                         stored[s].definition_length == live[l].definition_length &&
                         memcmp(stored[s].definition, live[l].definition, live[l].definition_length) == 0;
        if (is_expected || !is_stored)
            live[used++] = live[l];
    }
    *live_count = used;
}

/* Other tables against the stored snapshot (nothing when no snapshot was taken). */
static bool
check_other_tables(PdArena *arena, const PdDriftLine *stored, size_t stored_count,
                   const PdDriftLine *expected, size_t expected_count, const PdDriftLine *live,
                   size_t live_count, PdSchemaCheck *check, PdError *err)
{
    PdDriftLine *stored_other = NULL, *live_other = NULL;
    size_t stored_other_count = 0, live_other_count = 0;
    if (!check->has_snapshot)
        return true;
    if (!drop_tables_of(arena, expected, expected_count, stored, stored_count, &stored_other,
                        &stored_other_count) ||
        !drop_tables_of(arena, expected, expected_count, live, live_count, &live_other, &live_other_count))
        return pd_arena_error(arena, err);
    static const PdExpectWords words = {"missing (the migrations created it)",
                                        "not created by the migrations", "expected"};
    PdStrbuf diff;
    pd_strbuf_init(&diff, arena);
    pd_expect_diff(&diff, stored_other, stored_other_count, live_other, live_other_count, &words, "  ", NULL);
    if (pd_strbuf_failed(&diff))
        return pd_arena_error(arena, err);
    check->other_diff = diff.length > 0 ? diff.data : NULL;
    return true;
}

/*
 * The extensions the models need (citext, pg_trgm) that the database lacks, as lines of the diff: a migration
 * makes them, so a missing one was dropped by hand (with CASCADE, its columns and indexes are gone too and
 * show as lines of their own). Counted among what only the model file has.
 */
static bool
missing_extensions(PdArena *arena, PdDb *db, const PdCatalog *models, const char *models_name, PdStrbuf *diff,
                   size_t *count, PdError *err)
{
    PdStrbuf names;
    pd_strbuf_init(&names, arena);
    pd_strbuf_append_char(&names, '{');
    for (size_t m = 0; m < models->model_count; m++)
        for (size_t f = 0; f < models->models[m].field_count; f++)
            for (int e = 0; pd_model_field_extension(&models->models[m].fields[f], e) != NULL; e++)
                pd_strbuf_appendf(&names, "%s%s", names.length > 1 ? "," : "",
                                  pd_model_field_extension(&models->models[m].fields[f], e));
    pd_strbuf_append_char(&names, '}');
    const char *text = pd_strbuf_text(&names);
    if (text == NULL)
        return pd_arena_error(arena, err);
    if (strcmp(text, "{}") == 0)
        return true;
    const char *params[] = {text};
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT DISTINCT e FROM unnest($1::text[]) e WHERE NOT EXISTS "
                     "(SELECT FROM pg_catalog.pg_extension x WHERE x.extname = e) ORDER BY e",
                     1, params, &result, err))
        return pd_error_context(err, "while reading the extensions");
    for (size_t i = 0; i < pd_db_result_row_count(result); i++)
        pd_strbuf_appendf(diff, "  - extension %s: in %s, not in the database\n",
                          pd_db_result_value(result, i, 0), models_name);
    *count += pd_db_result_row_count(result);
    return true;
}

bool
pd_migrate_check_schema(PdArena *arena, PdDb *db, const PdCatalog *models, const char *models_name,
                        PdSchemaCheck *check, PdError *err)
{
    memset(check, 0, sizeof(*check));
    PdMigrationPlan *plan;
    if (!pd_migrate_plan(arena, NULL, models, &plan, err))
        return false;
    PdMigrationFile file = {.name = models_name,
                            .path = models_name,
                            .up_sql = plan->up_sql,
                            .up_concurrently_sql = plan->up_concurrently_sql};
    PdDriftLine *expected = NULL, *live = NULL, *live_models = NULL, *stored = NULL;
    size_t expected_count = 0, live_count = 0, live_models_count = 0, stored_count = 0;
    if (!pd_expect_read(arena, db, &file, 1, &expected, &expected_count, err) ||
        !read_live(arena, db, &live, &live_count, err))
        return false;
    if (!pd_drift_read_stored(arena, db, &stored, &stored_count, &check->has_snapshot, err))
        return pd_error_context(err, "while reading the schema snapshot");
    if (!pd_expect_filter(arena, expected, expected_count, live, live_count, &live_models,
                          &live_models_count))
        return pd_arena_error(arena, err);
    drop_made_by_migrations(expected, expected_count, stored, stored_count, live_models, &live_models_count);
    PdExpectWords words = {pd_arena_sprintf(arena, "in %s, not in the database", models_name),
                           pd_arena_sprintf(arena, "in the database, not in %s", models_name),
                           pd_arena_sprintf(arena, "%s makes", models_name)};
    if (words.only_expected == NULL || words.only_live == NULL || words.expected_name == NULL)
        return pd_arena_error(arena, err);
    PdStrbuf diff;
    pd_strbuf_init(&diff, arena);
    size_t counts[3] = {0, 0, 0};
    if (!missing_extensions(arena, db, models, models_name, &diff, &counts[0], err))
        return false;
    pd_expect_diff(&diff, expected, expected_count, live_models, live_models_count, &words, "  ", counts);
    if (pd_strbuf_failed(&diff))
        return pd_arena_error(arena, err);
    check->model_diff = diff.length > 0 ? diff.data : NULL;
    check->only_in_models = counts[0];
    check->only_in_database = counts[1];
    check->changed = counts[2];
    return check_other_tables(arena, stored, stored_count, expected, expected_count, live, live_count, check,
                              err);
}
