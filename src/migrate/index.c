/*
 * index.c - model-level unique(...) and index(...) entries of models that
 * continue: which old entry a new one continues (same kind, same fields after
 * renames, same operator classes), those that are gone dropped before
 * anything may reuse a name, and new ones built concurrently after the
 * transactional part. A kept entry whose name changes is renamed by rename.c;
 * an entry whose operator classes change continues none, so it is dropped and
 * built again.
 */
#include <stdint.h>
#include <string.h>

#include "plan.h"

/*
 * Which old entry each new model-level entry continues: one of the same kind on the same fields after
 * renames, with the same operator classes, each old entry continuing at most one new entry. Entries are keyed
 * by kind and old field names; among old entries with one key (two indexes on the same fields, named apart) a
 * new entry first takes the one of its own name, then the first left in file order. A lookup per entry, not a
 * scan.
 */
typedef struct IndexMatch
{
    PdStrmap *by_key;  /* key -> first old entry of that key, number + 1 */
    size_t *next;      /* per old entry: the next of its key, number + 1; 0 ends */
    const char **keys; /* per new entry: its key, NULL when a field continues none */
    bool *is_claimed;  /* per old entry */
} IndexMatch;

/* "u:" or "i:" and the fields as the old model names them, each with its operator class, comma-separated
 * ("i:title varchar_pattern_ops,author"); NULL on exhaustion or when a field of a new entry (is_old false)
 * continues no old field (*is_none set). */
static const char *
index_key(const PlanContext *ctx, const PdModel *model, const PdIndex *index, bool is_old, bool *is_none)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, index->is_unique ? "u:" : "i:");
    for (size_t k = 0; k < index->field_count; k++)
    {
        const char *name = index->fields[k];
        if (!is_old)
        {
            const PdField *field = pd_plan_find_new_field(ctx, model, name);
            const PdField *old_field = field != NULL ? pd_plan_old_field_of(ctx, model, field) : NULL;
            if (old_field == NULL)
            {
                *is_none = true;
                return NULL;
            }
            name = old_field->name;
        }
        pd_strbuf_append(&buf, k > 0 ? "," : "");
        if (index->functions != NULL && index->functions[k] != NULL)
            pd_strbuf_appendf(&buf, "%s:", index->functions[k]);
        pd_strbuf_append(&buf, name);
        /* Another operator class is another index: the old one is dropped, the new one built. */
        if (index->opclasses != NULL && index->opclasses[k] != NULL)
            pd_strbuf_appendf(&buf, " %s", index->opclasses[k]);
    }
    if (index->where != NULL) /* another condition is another index; compared in the new columns */
    {
        const PdModel *new_model = is_old ? pd_plan_new_model_of(ctx, model) : NULL;
        const char *where = pd_plan_expr_sql((PlanContext *)ctx, model, new_model, index->where);
        if (where == NULL)
            return NULL;
        pd_strbuf_appendf(&buf, " where %s", where);
    }
    return pd_strbuf_text(&buf);
}

static bool
index_match_init(PlanContext *ctx, const PdModel *old, const PdModel *model, IndexMatch *match)
{
    match->by_key = pd_strmap_new(ctx->arena, old->index_count);
    match->next = pd_arena_calloc(ctx->arena, old->index_count + 1, sizeof(size_t));
    match->keys = pd_arena_calloc(ctx->arena, model->index_count + 1, sizeof(char *));
    match->is_claimed = pd_arena_calloc(ctx->arena, old->index_count + 1, sizeof(bool));
    if (match->by_key == NULL || match->next == NULL || match->keys == NULL || match->is_claimed == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = old->index_count; i > 0; i--) /* backwards, so each chain runs in file order */
    {
        bool is_none = false;
        const char *key = index_key(ctx, old, &old->indexes[i - 1], true, &is_none);
        if (key == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
        match->next[i - 1] = (size_t)(uintptr_t)pd_strmap_get(match->by_key, key);
        if (!pd_strmap_put(match->by_key, key, (void *)(uintptr_t)i))
            return pd_arena_error(ctx->arena, ctx->err);
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        bool is_none = false;
        match->keys[i] = index_key(ctx, model, &model->indexes[i], false, &is_none);
        if (match->keys[i] == NULL && !is_none)
            return pd_arena_error(ctx->arena, ctx->err);
    }
    return true;
}

/* The first unclaimed old entry of the new entry's key, of its name when is_named; claimed. */
static const PdIndex *
claim_old_index(IndexMatch *match, const PdModel *old, const char *key, const PdIndex *index, bool is_named)
{
    for (size_t j = (size_t)(uintptr_t)pd_strmap_get(match->by_key, key); j != 0; j = match->next[j - 1])
    {
        const PdIndex *candidate = &old->indexes[j - 1];
        bool is_same_name =
            candidate->name != NULL && index->name != NULL && strcmp(candidate->name, index->name) == 0;
        if (match->is_claimed[j - 1] || (is_named && !is_same_name))
            continue;
        match->is_claimed[j - 1] = true;
        return candidate;
    }
    return NULL;
}

bool
pd_plan_pair_indexes(PlanContext *ctx, const PdModel *old, const PdModel *model, PlanPair *pair)
{
    IndexMatch match;
    pair->old_index_of_new =
        pd_arena_calloc(ctx->arena, model->index_count + 1, sizeof(*pair->old_index_of_new));
    if (pair->old_index_of_new == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (!index_match_init(ctx, old, model, &match))
        return false;
    for (int is_named = 1; is_named >= 0; is_named--)
        for (size_t i = 0; i < model->index_count; i++)
            if (match.keys[i] != NULL && pair->old_index_of_new[i] == NULL)
                pair->old_index_of_new[i] =
                    claim_old_index(&match, old, match.keys[i], &model->indexes[i], is_named);
    pair->is_old_index_kept = match.is_claimed;
    return true;
}

const PdIndex *
pd_plan_old_index_of(const PlanContext *ctx, const PdModel *model, const PdIndex *index)
{
    return ctx->pairs[model - ctx->to->models].old_index_of_new[index - model->indexes];
}

bool
pd_plan_is_index_kept(const PlanContext *ctx, const PdModel *model, const PdIndex *old_index)
{
    const PdModel *old = ctx->old_of_new[model - ctx->to->models];
    return ctx->pairs[model - ctx->to->models].is_old_index_kept[old_index - old->indexes];
}

/* ---- model-level indexes ------------------------------------------------ */

/* An old index under the new names: its table and columns as they are after the renames. */
static bool
old_index_objects(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index,
                  IndexObjects *out)
{
    if (!pd_plan_schema_index(ctx, old, index, out))
        return false;
    out->table = model->table;
    const char **columns = pd_arena_calloc(ctx->arena, index->field_count + 1, sizeof(char *));
    if (columns == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t k = 0; k < index->field_count; k++)
    {
        const PdField *old_field = pd_plan_find_old_field(ctx, model, index->fields[k]);
        const PdField *field = old_field != NULL ? pd_plan_new_field_of(ctx, model, old_field) : NULL;
        columns[k] = old_field != NULL ? old_field->column : index->fields[k];
        if (field != NULL && field->column != NULL)
            columns[k] = field->column;
    }
    out->columns_sql = pd_plan_schema_index_columns(ctx, index, columns);
    if (out->columns_sql != NULL && index->where != NULL)
        out->columns_sql = pd_plan_schema_index_where(ctx, out->columns_sql,
                                                      pd_plan_expr_sql(ctx, old, model, index->where));
    return out->columns_sql != NULL || pd_arena_error(ctx->arena, ctx->err);
}

static bool
drop_model_index(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index)
{
    IndexObjects objects;
    if (!old_index_objects(ctx, old, model, index, &objects))
        return false;
    const char *kind = index->is_unique ? "unique" : "index";
    char *fields = pd_plan_schema_index_fields(ctx, index);
    char *hint = pd_arena_sprintf(ctx->arena, "%s_drop_%s_%s", pd_plan_snake(ctx, model->name), kind, fields);
    if (!pd_plan_operation(ctx, PD_OP_DROP_INDEX, model->name, objects.name, hint, "drop %s(%s) on %s (%s)",
                           kind, fields, model->name, objects.name))
        return false;
    if (objects.is_constraint)
    {
        pd_plan_ddl_drop_constraint(&ctx->up, objects.table, objects.name);
        pd_plan_ddl_add_constraint(&ctx->down, objects.table, objects.name,
                                   pd_arena_sprintf(ctx->arena, "UNIQUE %s", objects.columns_sql), false);
    }
    else
    {
        pd_plan_ddl_drop_index(&ctx->concurrently, objects.name, true);
        pd_plan_ddl_create_index(&ctx->down, objects.table, objects.name, objects.columns_sql,
                                 index->is_unique, false);
    }
    return pd_plan_step_end(ctx);
}

bool
pd_plan_drop_indexes(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i], *old = ctx->old_of_new[i];
        for (size_t k = 0; old != NULL && k < old->index_count; k++)
            if (!pd_plan_is_index_kept(ctx, model, &old->indexes[k]) &&
                !drop_model_index(ctx, old, model, &old->indexes[k]))
                return false;
    }
    return true;
}

static bool
add_model_index(PlanContext *ctx, const PdModel *model, const PdIndex *index)
{
    IndexObjects objects;
    if (!pd_plan_schema_index(ctx, model, index, &objects))
        return false;
    const char *kind = index->is_unique ? "unique" : "index";
    char *fields = pd_plan_schema_index_fields(ctx, index);
    char *hint = pd_arena_sprintf(ctx->arena, "%s_add_%s_%s", pd_plan_snake(ctx, model->name), kind, fields);
    if (!pd_plan_operation(ctx, PD_OP_ADD_INDEX, model->name, objects.name, hint, "add %s(%s) on %s (%s)",
                           kind, fields, model->name, objects.name))
        return false;
    pd_plan_ddl_create_index(&ctx->concurrently, objects.table, objects.name, objects.columns_sql,
                             index->is_unique, true);
    if (objects.is_constraint)
    {
        pd_plan_ddl_unique_using_index(&ctx->concurrently, objects.table, objects.name);
        pd_plan_ddl_drop_constraint(&ctx->down, objects.table, objects.name);
    }
    else
        pd_plan_ddl_drop_index(&ctx->down, objects.name, false);
    return pd_plan_step_end(ctx);
}

bool
pd_plan_add_indexes(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i], *old = ctx->old_of_new[i];
        for (size_t k = 0; old != NULL && k < model->index_count; k++)
            if (pd_plan_old_index_of(ctx, model, &model->indexes[k]) == NULL &&
                !add_model_index(ctx, model, &model->indexes[k]))
                return false;
    }
    return true;
}
