/*
 * diff.c - the model level of a plan: which model continues which (by name,
 * or by a renamed_from hint: never guessed), what a relation points at under
 * the new names, and the fields compared model by model (alter.c does one
 * field). The other phases have their own files: rename.c (every name that
 * changes), index.c (model-level indexes), tables.c (tables created and
 * dropped in dependency order). Each phase appends to the PlanContext in the
 * order the statements must run.
 */
#include <string.h>

#include "plan.h"

/* The model a relation of `catalog` points at, found by pointer or by name. */
const PdModel *
pd_plan_field_target(const PdCatalog *catalog, const PdField *field)
{
    if (field->target != NULL)
        return field->target;
    return field->target_name != NULL ? pd_model_find(catalog, field->target_name) : NULL;
}

/* An old field's target as it is named after the renames: what +down and ALTERs must reference. */
ModelRef
pd_plan_old_target_ref(PlanContext *ctx, const PdField *field)
{
    const PdModel *old_target = pd_plan_field_target(ctx->from, field);
    if (old_target == NULL)
        return (ModelRef){field->target_name, "", "id", "bigint"};
    const PdModel *new_target = pd_plan_new_model_of(ctx, old_target);
    ModelRef ref = schema_model_ref(ctx, old_target);
    if (new_target != NULL)
    {
        ModelRef renamed = schema_model_ref(ctx, new_target);
        ref.table = renamed.table;
        ref.pk_column = renamed.pk_column;
    }
    return ref;
}

ModelRef
pd_plan_new_target_ref(PlanContext *ctx, const PdField *field)
{
    const PdModel *target = pd_plan_field_target(ctx->to, field);
    if (target == NULL)
        return (ModelRef){field->target_name, "", "id", "bigint"};
    return schema_model_ref(ctx, target);
}

bool
pd_plan_same_target(PlanContext *ctx, const PdField *old_field, const PdField *field)
{
    const PdModel *old_target = pd_plan_field_target(ctx->from, old_field);
    const PdModel *target = pd_plan_field_target(ctx->to, field);
    return old_target != NULL && target != NULL && pd_plan_new_model_of(ctx, old_target) == target;
}

bool
pd_plan_match_models(PlanContext *ctx)
{
    ctx->old_of_new = pd_arena_calloc(ctx->arena, ctx->to->model_count + 1, sizeof(*ctx->old_of_new));
    ctx->new_of_old = pd_arena_calloc(ctx->arena, ctx->from->model_count + 1, sizeof(*ctx->new_of_old));
    if (ctx->old_of_new == NULL || ctx->new_of_old == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i];
        const PdModel *old = pd_model_find(ctx->from, model->name);
        if (old == NULL && model->renamed_from != NULL && ctx->from->model_count > 0)
        {
            old = pd_model_find(ctx->from, model->renamed_from);
            if (old == NULL)
                return pd_plan_input_error(ctx, model->pos,
                                           "model %s: renamed_from %s names no model of the last migration",
                                           model->name, model->renamed_from) ||
                       pd_error_hint(ctx->err,
                                     "Remove the hint, or name the model as the last migration's state "
                                     "has it.");
            if (pd_model_find(ctx->to, model->renamed_from) != NULL)
                return pd_plan_input_error(ctx, model->pos,
                                           "model %s: renamed_from %s, but model %s still exists",
                                           model->name, model->renamed_from, model->renamed_from) ||
                       pd_error_hint(ctx->err,
                                     "A renamed model's old name must be gone from the model file.");
        }
        if (old == NULL)
            continue;
        ctx->old_of_new[i] = old;
        size_t j = (size_t)(old - ctx->from->models);
        if (j >= ctx->from->model_count || ctx->new_of_old[j] != NULL)
            return pd_plan_input_error(ctx, model->pos,
                                       "model %s continues %s, which another model already continues",
                                       model->name, old->name);
        ctx->new_of_old[j] = model;
    }
    return true;
}

/* ---- fields ------------------------------------------------------------ */

/* The new field that continues old_field, or NULL when it is dropped. */
static const PdField *
new_field_of(const PdModel *old, const PdModel *model, const PdField *old_field)
{
    for (size_t f = 0; f < model->field_count; f++)
        if (pd_plan_old_field_of(old, model, &model->fields[f]) == old_field)
            return &model->fields[f];
    return NULL;
}

static bool
check_rename_hint(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *field)
{
    if (field->renamed_from == NULL)
        return true;
    if (pd_model_find_field(model, field->renamed_from) != NULL)
        return pd_plan_input_error(ctx, field->pos, "field %s: renamed_from=%s, but that field still exists",
                                   field->name, field->renamed_from) ||
               pd_error_hint(ctx->err, "A renamed field's old name must be gone from the model.");
    if (pd_model_find_field(old, field->renamed_from) == NULL)
        return pd_plan_input_error(ctx, field->pos,
                                   "field %s: renamed_from=%s names no field of the last migration's %s",
                                   field->name, field->renamed_from, model->name) ||
               pd_error_hint(ctx->err,
                             "Remove the hint, or name the field as the last migration's state has it.");
    return true;
}

/* The primary key stays: changing it rewrites every referencing table, which deserves a hand migration. */
static bool
check_primary_key(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    const PdField *old_pk = pd_model_primary_key(old), *pk = pd_model_primary_key(model);
    if (old_pk == NULL || pk == NULL)
        return true;
    const char *old_type = pd_model_column_type(ctx->arena, old_pk),
               *type = pd_model_column_type(ctx->arena, pk);
    bool is_same = pd_plan_old_field_of(old, model, pk) == old_pk && old_pk->kind == pk->kind &&
                   old_type != NULL && type != NULL && strcmp(old_type, type) == 0;
    if (is_same)
        return true;
    pd_plan_input_error(ctx, pk->pos, "model %s: changing the primary key (%s) is not supported", model->name,
                        pk->name);
    return pd_error_hint(ctx->err,
                         "Keep the primary key as it was, and write a hand migration for this change.");
}

static bool
diff_model_fields(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    if (!check_primary_key(ctx, old, model))
        return false;
    for (size_t f = 0; f < old->field_count; f++)
        if (new_field_of(old, model, &old->fields[f]) == NULL &&
            !alter_drop_field(ctx, model, old, &old->fields[f]))
            return false;
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(old, model, field);
        bool is_ok;
        if (old_field == NULL)
            is_ok = check_rename_hint(ctx, old, model, field) && alter_add_field(ctx, model, field);
        else if ((old_field->kind == PD_FIELD_MANY_TO_MANY) != (field->kind == PD_FIELD_MANY_TO_MANY))
            is_ok = alter_drop_field(ctx, model, old, old_field) && alter_add_field(ctx, model, field);
        else
            is_ok = alter_field(ctx, model, old_field, field);
        if (!is_ok)
            return false;
    }
    return true;
}

bool
pd_plan_diff_fields(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !diff_model_fields(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    return true;
}
