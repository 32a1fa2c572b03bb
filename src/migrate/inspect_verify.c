/*
 * inspect_verify.c - keeps inspectdb's candidates only where they are exact.
 * Model-level checks, partial indexes and lower()/upper() indexes are read
 * back by inspect_expr.c without knowing every cast and parenthesis the
 * deparser prints, so instead of spelling that out, the written model file is
 * parsed, the migration from an empty database planned from it is made in a
 * scratch schema (expect.c, always rolled back), and each candidate is kept
 * only when the object it makes deparses exactly as the live one does; any
 * other becomes the comment it was before. When the file does not parse or
 * the scratch schema cannot be made (no CREATE on the database), every
 * candidate becomes a comment that says it was not verified: the output is
 * then what it would be without this step, never a near miss.
 */
#include <string.h>

#include "drift.h"
#include "expect.h"
#include "inspect.h"
#include "prodata/strbuf.h"

static bool
add_tail_note(PdArena *arena, InspectModel *model, const char *line)
{
    model->tail_notes =
        pd_arena_reserve_next(arena, model->tail_notes, model->tail_note_count, sizeof(char *));
    if (model->tail_notes == NULL || line == NULL)
        return false;
    model->tail_notes[model->tail_note_count++] = line;
    return true;
}

/* The definition of key in sorted lines, or NULL. */
static const PdDriftLine *
line_of(const PdDriftLine *lines, size_t count, const char *key)
{
    PdDriftLine wanted = {.key = key, .key_length = strlen(key)};
    for (size_t low = 0, high = count; low < high;)
    {
        size_t middle = low + (high - low) / 2;
        int order = pd_drift_compare_keys(&lines[middle], &wanted);
        if (order == 0)
            return &lines[middle];
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

typedef struct Sides
{
    const PdDriftLine *expected, *live; /* NULL expected: every candidate goes */
    size_t expected_count, live_count;
    const PdError *unparsed; /* a parse's problems: only the candidates on their lines go */
    const char *reason;      /* why a candidate that goes is not kept */
} Sides;

static bool
is_on_problem_line(const PdError *unparsed, int line)
{
    for (size_t i = 0; i < unparsed->problem_count; i++)
        if (unparsed->problems[i].pos.line == line)
            return true;
    return unparsed->pos.line == line;
}

static bool
is_kept(PdArena *arena, const Sides *sides, const char *kind, const char *table, const char *name, int line)
{
    if (sides->unparsed != NULL)
        return !is_on_problem_line(sides->unparsed, line);
    if (sides->expected == NULL)
        return false;
    const char *key = pd_arena_sprintf(arena, "%s %s.%s", kind, table, name);
    const PdDriftLine *expected = key != NULL ? line_of(sides->expected, sides->expected_count, key) : NULL;
    const PdDriftLine *live = key != NULL ? line_of(sides->live, sides->live_count, key) : NULL;
    return expected != NULL && live != NULL && expected->definition_length == live->definition_length &&
           memcmp(expected->definition, live->definition, live->definition_length) == 0;
}

/* Keeps the model's candidates the sides agree on; the others become comments. */
static bool
sort_model(PdArena *arena, const Sides *sides, InspectModel *model, bool *is_changed)
{
    const char *table = model->table->name;
    size_t kept = 0;
    for (size_t i = 0; i < model->index_count; i++)
    {
        InspectModelIndex *index = &model->indexes[i];
        if (index->definition == NULL || is_kept(arena, sides, "index", table, index->name, index->line))
            model->indexes[kept++] = *index;
        else if (!add_tail_note(arena, model,
                                pd_arena_sprintf(arena, "index %s: %s: not expressed (%s)", index->name,
                                                 index->definition, sides->reason)))
            return false;
    }
    *is_changed = *is_changed || kept != model->index_count;
    model->index_count = kept;
    kept = 0;
    for (size_t i = 0; i < model->check_count; i++)
    {
        InspectModelCheck *check = &model->checks[i];
        if (is_kept(arena, sides, "constraint", table, check->name, check->line))
            model->checks[kept++] = *check;
        else if (!add_tail_note(arena, model,
                                pd_arena_sprintf(arena, "check %s: %s: not expressed (%s)", check->name,
                                                 check->definition, sides->reason)))
            return false;
    }
    *is_changed = *is_changed || kept != model->check_count;
    model->check_count = kept;
    return true;
}

static bool
sort_models(PdArena *arena, const Sides *sides, const InspectSchema *schema, InspectModel *models,
            bool *is_changed)
{
    for (size_t m = 0; m < schema->table_count; m++)
        if (models[m].not_a_model == NULL && !sort_model(arena, sides, &models[m], is_changed))
            return false;
    return true;
}

/* The live lines of the inspected tables. */
static bool
read_live(PdArena *arena, PdDb *db, const InspectSchema *schema, Sides *sides, PdError *err)
{
    PdStrbuf oids;
    pd_strbuf_init(&oids, arena);
    pd_strbuf_append_char(&oids, '{');
    for (size_t i = 0; i < schema->table_count; i++)
        pd_strbuf_appendf(&oids, "%s%s", i > 0 ? "," : "", schema->tables[i].oid);
    pd_strbuf_append_char(&oids, '}');
    const char *text = pd_strbuf_text(&oids);
    PdDriftRow *rows;
    size_t count;
    if (text == NULL)
        return pd_arena_error(arena, err);
    if (!pd_drift_read_rows(arena, db, text, &rows, &count, err))
        return false;
    PdDriftLine *live = pd_arena_calloc(arena, count + 1, sizeof(PdDriftLine));
    if (live == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
        live[i] = rows[i].line;
    sides->live = live;
    sides->live_count = count;
    return true;
}

/*
 * Parses the text, each time it does not parse leaving out the candidates on the lines of its problems
 * and writing it again (the checker reports one step's problems at a time, so this may take a round per
 * candidate); all of them once a problem is on no candidate's line.
 */
static bool
parse_text(PdArena *arena, const InspectSchema *schema, InspectModel *models, size_t candidates,
           InspectRewrite rewrite, void *context, const char **text, PdCatalog **catalog, PdError *err)
{
    for (size_t round = 0;; round++)
    {
        PdError tried;
        pd_error_init(&tried);
        if (pd_model_parse(arena, "inspectdb", *text, catalog, &tried))
            return true;
        if (tried.code == PD_ERR_NO_MEMORY)
            return pd_arena_error(arena, err);
        Sides sides = {.unparsed = &tried, .reason = "the model language does not read it so"};
        bool is_changed = false;
        if (!sort_models(arena, &sides, schema, models, &is_changed))
            return pd_arena_error(arena, err);
        if (!is_changed || round == candidates)
        {
            Sides none = {.reason = "the written model did not parse with it"};
            if (!sort_models(arena, &none, schema, models, &is_changed))
                return pd_arena_error(arena, err);
        }
        if (!rewrite(context, text, err))
            return false;
        if (!is_changed || round == candidates)
            return *catalog = NULL, true;
    }
}

bool
pd_inspect_verify(PdArena *arena, PdDb *db, const InspectSchema *schema, InspectModel *models,
                  InspectRewrite rewrite, void *context, const char **text, PdError *err)
{
    size_t candidates = 0;
    for (size_t m = 0; m < schema->table_count; m++)
        for (size_t i = 0; i < models[m].index_count && models[m].not_a_model == NULL; i++)
            candidates += models[m].indexes[i].definition != NULL;
    for (size_t m = 0; m < schema->table_count; m++)
        candidates += models[m].not_a_model == NULL ? models[m].check_count : 0;
    PdCatalog *catalog = NULL;
    if (candidates == 0 ||
        !parse_text(arena, schema, models, candidates, rewrite, context, text, &catalog, err))
        return candidates == 0;
    if (catalog == NULL)
        return true;
    Sides sides = {.reason = "not verified: the migration made from it could not be planned"};
    PdMigrationPlan *plan;
    PdError tried;
    pd_error_init(&tried);
    if (pd_migrate_plan(arena, NULL, catalog, &plan, &tried))
    {
        PdMigrationFile file = {.name = "inspectdb",
                                .path = "inspectdb",
                                .up_sql = plan->up_sql,
                                .up_concurrently_sql = plan->up_concurrently_sql};
        if (pd_expect_read(arena, db, &file, 1, (PdDriftLine **)&sides.expected, &sides.expected_count,
                           &tried))
        {
            sides.reason = "the language's nearest form makes another definition";
            if (!read_live(arena, db, schema, &sides, err))
                return false;
        }
        else
            sides.reason = tried.code == PD_ERR_REFUSED
                               ? "not verified: trying it needs CREATE on the database, for a scratch schema"
                               : "not verified: the migration made from it failed in a scratch schema";
    }
    bool is_changed = false;
    if (!sort_models(arena, &sides, schema, models, &is_changed))
        return pd_arena_error(arena, err);
    return !is_changed || rewrite(context, text, err);
}
