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
    ModelRef ref = pd_plan_schema_model_ref(ctx, old_target);
    if (new_target != NULL)
    {
        ModelRef renamed = pd_plan_schema_model_ref(ctx, new_target);
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
    return pd_plan_schema_model_ref(ctx, target);
}

bool
pd_plan_same_target(PlanContext *ctx, const PdField *old_field, const PdField *field)
{
    const PdModel *old_target = pd_plan_field_target(ctx->from, old_field);
    const PdModel *target = pd_plan_field_target(ctx->to, field);
    return old_target != NULL && target != NULL && pd_plan_new_model_of(ctx, old_target) == target;
}

/* Models of a catalog by name; the first of a name wins, as pd_model_find's scan would find it. */
static PdStrmap *
model_map(PlanContext *ctx, const PdCatalog *catalog)
{
    PdStrmap *map = pd_strmap_new(ctx->arena, catalog->model_count);
    for (size_t i = 0; map != NULL && i < catalog->model_count; i++)
        if (!pd_strmap_contains(map, catalog->models[i].name) &&
            !pd_strmap_put(map, catalog->models[i].name, &catalog->models[i]))
            map = NULL;
    return map;
}

/* The model of `from` that model continues: by name, or by its renamed_from hint. */
static bool
match_model(PlanContext *ctx, const PdStrmap *from_models, const PdStrmap *to_models, const PdModel *model,
            const PdModel **old)
{
    *old = pd_strmap_get(from_models, model->name);
    if (*old != NULL || model->renamed_from == NULL || ctx->from->model_count == 0)
        return true;
    *old = pd_strmap_get(from_models, model->renamed_from);
    if (*old == NULL)
        return pd_plan_input_error(ctx, model->pos,
                                   "model %s: renamed_from %s names no model of the last migration",
                                   model->name, model->renamed_from) ||
               pd_error_hint(ctx->err, "Remove the hint, or name the model as the last migration's state "
                                       "has it.");
    if (pd_strmap_contains(to_models, model->renamed_from))
        return pd_plan_input_error(ctx, model->pos, "model %s: renamed_from %s, but model %s still exists",
                                   model->name, model->renamed_from, model->renamed_from) ||
               pd_error_hint(ctx->err, "A renamed model's old name must be gone from the model file.");
    return true;
}

/* Fields by name for a model large enough that scanning it per question would cost; NULL for a small one. */
enum
{
    FIELD_MAP_MIN = 16
};

static bool
field_map(PlanContext *ctx, const PdModel *model, PdStrmap **map)
{
    *map = NULL;
    if (model->field_count < FIELD_MAP_MIN)
        return true;
    if ((*map = pd_strmap_new(ctx->arena, model->field_count)) == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t f = 0; f < model->field_count; f++)
        if (!pd_strmap_contains(*map, model->fields[f].name) &&
            !pd_strmap_put(*map, model->fields[f].name, &model->fields[f]))
            return pd_arena_error(ctx->arena, ctx->err);
    return true;
}

static const PdField *
find_field(const PdStrmap *map, const PdModel *model, const char *name)
{
    return map != NULL ? pd_strmap_get(map, name) : pd_model_find_field(model, name);
}

/* Which field continues which, in both directions; then the model-level indexes (index.c). */
static bool
pair_models(PlanContext *ctx, const PdModel *old, const PdModel *model, PlanPair *pair)
{
    pair->old_of_new = pd_arena_calloc(ctx->arena, model->field_count + 1, sizeof(*pair->old_of_new));
    pair->new_of_old = pd_arena_calloc(ctx->arena, old->field_count + 1, sizeof(*pair->new_of_old));
    if (pair->old_of_new == NULL || pair->new_of_old == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (!field_map(ctx, old, &pair->old_fields) || !field_map(ctx, model, &pair->new_fields))
        return false;
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = find_field(pair->old_fields, old, field->name);
        /* A hint counts only while the old name is gone from the new model: renames are never guessed. */
        if (old_field == NULL && field->renamed_from != NULL &&
            find_field(pair->new_fields, model, field->renamed_from) == NULL)
            old_field = find_field(pair->old_fields, old, field->renamed_from);
        pair->old_of_new[f] = old_field;
        /* The first new field wins, as a scan in field order would find it. */
        if (old_field != NULL && pair->new_of_old[old_field - old->fields] == NULL)
            pair->new_of_old[old_field - old->fields] = field;
    }
    return pd_plan_pair_indexes(ctx, old, model, pair);
}

bool
pd_plan_match_models(PlanContext *ctx)
{
    ctx->old_of_new = pd_arena_calloc(ctx->arena, ctx->to->model_count + 1, sizeof(*ctx->old_of_new));
    ctx->new_of_old = pd_arena_calloc(ctx->arena, ctx->from->model_count + 1, sizeof(*ctx->new_of_old));
    ctx->pairs = pd_arena_calloc(ctx->arena, ctx->to->model_count + 1, sizeof(*ctx->pairs));
    PdStrmap *from_models = model_map(ctx, ctx->from), *to_models = model_map(ctx, ctx->to);
    if (ctx->old_of_new == NULL || ctx->new_of_old == NULL || ctx->pairs == NULL || from_models == NULL ||
        to_models == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i], *old;
        if (!match_model(ctx, from_models, to_models, model, &old))
            return false;
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
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL &&
            !pair_models(ctx, ctx->old_of_new[i], &ctx->to->models[i], &ctx->pairs[i]))
            return false;
    return true;
}

static const PlanPair *
pair_of(const PlanContext *ctx, const PdModel *model)
{
    return &ctx->pairs[model - ctx->to->models];
}

const PdField *
pd_plan_old_field_of(const PlanContext *ctx, const PdModel *model, const PdField *field)
{
    return pair_of(ctx, model)->old_of_new[field - model->fields];
}

const PdField *
pd_plan_new_field_of(const PlanContext *ctx, const PdModel *model, const PdField *old_field)
{
    const PdModel *old = ctx->old_of_new[model - ctx->to->models];
    return pair_of(ctx, model)->new_of_old[old_field - old->fields];
}

const PdField *
pd_plan_find_new_field(const PlanContext *ctx, const PdModel *model, const char *name)
{
    return find_field(pair_of(ctx, model)->new_fields, model, name);
}

const PdField *
pd_plan_find_old_field(const PlanContext *ctx, const PdModel *model, const char *name)
{
    return find_field(pair_of(ctx, model)->old_fields, ctx->old_of_new[model - ctx->to->models], name);
}

/* ---- fields ------------------------------------------------------------ */

static bool
check_rename_hint(PlanContext *ctx, const PdModel *model, const PdField *field)
{
    if (field->renamed_from == NULL)
        return true;
    if (pd_plan_find_new_field(ctx, model, field->renamed_from) != NULL)
        return pd_plan_input_error(ctx, field->pos, "field %s: renamed_from=%s, but that field still exists",
                                   field->name, field->renamed_from) ||
               pd_error_hint(ctx->err, "A renamed field's old name must be gone from the model.");
    if (pd_plan_find_old_field(ctx, model, field->renamed_from) == NULL)
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
    PdColumnType old_type, type;
    bool is_same = pd_plan_old_field_of(ctx, model, pk) == old_pk && old_pk->kind == pk->kind &&
                   pd_model_column_type_of(old_pk, &old_type) && pd_model_column_type_of(pk, &type) &&
                   pd_kind_column_equal(&old_type, &type);
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
    if (!check_primary_key(ctx, old, model) || !pd_plan_comments_restore_dropped(ctx, old, model) ||
        !pd_plan_checks_drop(ctx, old, model) || !pd_plan_keys_drop(ctx, old, model))
        return false;
    if (!pd_plan_alter_drop_generated(ctx, old, model))
        return false;
    for (size_t f = 0; f < old->field_count; f++)
        if (pd_plan_new_field_of(ctx, model, &old->fields[f]) == NULL && old->fields[f].generated == NULL &&
            !pd_plan_alter_drop_field(ctx, model, old, &old->fields[f]))
            return false;
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
        bool is_ok;
        if (old_field == NULL)
            is_ok = check_rename_hint(ctx, model, field) && pd_plan_alter_add_field(ctx, model, field);
        else if ((old_field->kind == PD_FIELD_MANY_TO_MANY) != (field->kind == PD_FIELD_MANY_TO_MANY))
            is_ok = pd_plan_alter_drop_field(ctx, model, old, old_field) &&
                    pd_plan_alter_add_field(ctx, model, field);
        else
            is_ok = pd_plan_alter_field(ctx, model, old_field, field);
        if (!is_ok)
            return false;
    }
    return pd_plan_keys_add(ctx, old, model) && pd_plan_checks_add(ctx, old, model) &&
           pd_plan_timestamps_diff(ctx, old, model) && pd_plan_comments_diff(ctx, old, model);
}

bool
pd_plan_diff_fields(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !diff_model_fields(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    return true;
}
