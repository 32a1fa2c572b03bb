/*
 * index.c - model-level unique(...) and index(...) entries of models that
 * continue: which old entry a new one continues (same kind, same fields after
 * renames), those that are gone dropped before anything may reuse a name, and
 * new ones built concurrently after the transactional part. A kept entry whose
 * name changes is renamed by rename.c.
 */
#include <string.h>

#include "plan.h"

/* The old index that a new model-level index continues: same kind, same fields after renames. */
static const PdIndex *
find_old_index(const PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index)
{
    for (size_t i = 0; i < old->index_count; i++)
    {
        const PdIndex *candidate = &old->indexes[i];
        if (candidate->is_unique != index->is_unique || candidate->field_count != index->field_count)
            continue;
        bool is_same = true;
        for (size_t k = 0; k < index->field_count && is_same; k++)
        {
            const PdField *field = pd_plan_find_new_field(ctx, model, index->fields[k]);
            const PdField *old_field = field != NULL ? pd_plan_old_field_of(ctx, model, field) : NULL;
            is_same = old_field != NULL && strcmp(old_field->name, candidate->fields[k]) == 0;
        }
        if (is_same)
            return candidate;
    }
    return NULL;
}

bool
pd_plan_pair_indexes(PlanContext *ctx, const PdModel *old, const PdModel *model, PlanPair *pair)
{
    pair->old_index_of_new =
        pd_arena_calloc(ctx->arena, model->index_count + 1, sizeof(*pair->old_index_of_new));
    pair->is_old_index_kept = pd_arena_calloc(ctx->arena, old->index_count + 1, sizeof(bool));
    if (pair->old_index_of_new == NULL || pair->is_old_index_kept == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *old_index = find_old_index(ctx, old, model, &model->indexes[i]);
        pair->old_index_of_new[i] = old_index;
        if (old_index != NULL)
            pair->is_old_index_kept[old_index - old->indexes] = true;
    }
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
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "(");
    for (size_t k = 0; k < index->field_count; k++)
    {
        const PdField *old_field = pd_plan_find_old_field(ctx, model, index->fields[k]);
        const PdField *field = old_field != NULL ? pd_plan_new_field_of(ctx, model, old_field) : NULL;
        const char *column = old_field != NULL ? old_field->column : index->fields[k];
        if (field != NULL && field->column != NULL)
            column = field->column;
        pd_strbuf_append(&buf, k > 0 ? ", " : "");
        pd_strbuf_append_identifier(&buf, column);
    }
    pd_strbuf_append(&buf, ")");
    out->columns_sql = pd_strbuf_text(&buf);
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
    if (index->is_unique)
    {
        pd_plan_ddl_drop_constraint(&ctx->up, objects.table, objects.name);
        pd_plan_ddl_add_constraint(&ctx->down, objects.table, objects.name,
                                   pd_arena_sprintf(ctx->arena, "UNIQUE %s", objects.columns_sql), false);
    }
    else
    {
        pd_plan_ddl_drop_index(&ctx->concurrently, objects.name, true);
        pd_plan_ddl_create_index(&ctx->down, objects.table, objects.name, objects.columns_sql, false, false);
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
    if (index->is_unique)
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
