/*
 * keys.c - the primary key of a model that continues another, when it is or
 * becomes composite (primary_key(a, b)): implicit id to composite, composite
 * to other fields, composite to the implicit id. The constraint <table>_pkey
 * is dropped before the fields change (so an added id, or a dropped column,
 * meets no key in the way) and added again after them, each with its inverse
 * in +down. Adding it is a statement existing rows can break: the applier's
 * pre-check (precheck.c) reads `ADD CONSTRAINT ... PRIMARY KEY (...)` as a
 * unique and counts the repeated keys before anything is kept. A change
 * between two one-field keys stays refused by diff.c, as before. Columns of
 * the old key are named as they are once this migration's renames ran.
 */
#include <string.h>

#include "plan.h"

/* The old model's key as the new model's columns (a renamed column under its new name; a dropped one as it
 * was): what +down adds again once the fields are back. */
static bool
old_key_columns(PlanContext *ctx, const PdModel *old, const PdModel *model, const char ***out, size_t *count)
{
    *count = pd_model_key_count(old);
    *out = pd_arena_calloc(ctx->arena, *count + 1, sizeof(char *));
    if (*out == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < *count; i++)
    {
        const PdField *field = pd_model_key_field(old, i);
        const PdField *now = field != NULL ? pd_plan_new_field_of(ctx, model, field) : NULL;
        (*out)[i] = now != NULL ? now->column : field != NULL ? field->column : "id";
    }
    return true;
}

static bool
new_key_columns(PlanContext *ctx, const PdModel *model, const char ***out, size_t *count)
{
    *count = pd_model_key_count(model);
    *out = pd_arena_calloc(ctx->arena, *count + 1, sizeof(char *));
    if (*out == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < *count; i++)
    {
        const PdField *field = pd_model_key_field(model, i);
        (*out)[i] = field != NULL ? field->column : "id";
    }
    return true;
}

static bool
same_columns(const char **a, size_t a_count, const char **b, size_t b_count)
{
    if (a_count != b_count)
        return false;
    for (size_t i = 0; i < a_count; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* PRIMARY KEY ("a", "b") */
static const char *
key_sql(PlanContext *ctx, const char **columns, size_t count)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "PRIMARY KEY (");
    for (size_t i = 0; i < count; i++)
    {
        if (i > 0)
            pd_strbuf_append(&buf, ", ");
        pd_strbuf_append_identifier(&buf, columns[i]);
    }
    pd_strbuf_append_char(&buf, ')');
    return pd_strbuf_text(&buf);
}

/* "order, product" or "id": the key as people name it. */
static const char *
key_names(PlanContext *ctx, const PdModel *model)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    for (size_t i = 0; i < pd_model_key_count(model); i++)
    {
        const PdField *field = pd_model_key_field(model, i);
        pd_strbuf_appendf(&buf, "%s%s", i > 0 ? ", " : "", field != NULL ? field->name : "id");
    }
    return pd_strbuf_text(&buf);
}

const char *
pd_plan_keys_batch_column(const PdModel *model)
{
    const PdField *key = pd_model_primary_key(model);
    return key != NULL ? key->column : "ctid"; /* locked by FOR UPDATE, so it stays put in the statement */
}

const char *
pd_plan_keys_sql(PlanContext *ctx, const PdModel *model)
{
    const char **columns;
    size_t count;
    if (!new_key_columns(ctx, model, &columns, &count))
        return NULL;
    return key_sql(ctx, columns, count);
}

/* Whether the key changes and one side of it is composite: the change this file plans. */
static bool
is_key_change(PlanContext *ctx, const PdModel *old, const PdModel *model, bool *is_change)
{
    const char **before, **after;
    size_t before_count, after_count;
    if (!old_key_columns(ctx, old, model, &before, &before_count) ||
        !new_key_columns(ctx, model, &after, &after_count))
        return false;
    *is_change = (old->key_field_count > 0 || model->key_field_count > 0) &&
                 !same_columns(before, before_count, after, after_count);
    return true;
}

/* A relation field of catalog aimed at target (a foreign key, a one-to-one, a join table's key), or NULL. */
static const PdField *
relation_to(const PdCatalog *catalog, const PdModel *target, const PdModel **source)
{
    for (size_t m = 0; m < catalog->model_count; m++)
        for (size_t f = 0; f < catalog->models[m].field_count; f++)
        {
            const PdField *field = &catalog->models[m].fields[f];
            if (pd_kind_info(field->kind)->family == PD_FAMILY_RELATION &&
                pd_plan_field_target(catalog, field) == target)
                return *source = &catalog->models[m], field;
        }
    return NULL;
}

/*
 * A key change meets no relation: the keys aimed at the old key are dropped, and those aimed at the new
 * one added, by other models' steps that may come before or after this one, so the change is refused
 * while one is there (the checker refuses relations to a composite key, so one is always being dropped
 * or added), with the two migrations that do it.
 */
static bool
check_no_relation(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    const PdModel *source = NULL;
    const PdField *field = relation_to(ctx->from, old, &source);
    bool is_old = field != NULL;
    if (field == NULL && (field = relation_to(ctx->to, model, &source)) == NULL)
        return true;
    pd_plan_input_error(ctx, field->pos,
                        "model %s: its primary key changes while %s.%s %s it, expected the key change in a "
                        "migration of its own",
                        model->name, source->name, field->name, is_old ? "relates to" : "starts relating to");
    return pd_error_hint(ctx->err,
                         is_old ? "Remove the relations to %s and run makemigrations, then change "
                                  "its primary key and run makemigrations again."
                                : "Change the primary key of %s and run makemigrations, then add "
                                  "the relations to it and run makemigrations again.",
                         model->name);
}

bool
pd_plan_keys_drop(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    bool is_change = false;
    if (!is_key_change(ctx, old, model, &is_change))
        return false;
    if (!is_change)
        return true;
    if (!check_no_relation(ctx, old, model))
        return false;
    const char **before;
    size_t count;
    char *name = pd_model_constraint_name(ctx->arena, model->table, NULL, "pkey");
    const char *old_names = key_names(ctx, old), *new_names = key_names(ctx, model);
    if (name == NULL || old_names == NULL || new_names == NULL ||
        !old_key_columns(ctx, old, model, &before, &count))
        return pd_arena_error(ctx->arena, ctx->err);
    char *hint = pd_arena_sprintf(ctx->arena, "%s_primary_key", pd_plan_snake(ctx, model->name));
    if (hint == NULL ||
        !pd_plan_operation(ctx, PD_OP_ALTER_FIELD, model->name, "pk", hint,
                           "alter primary key of %s: (%s) -> (%s)", model->name, old_names, new_names) ||
        !pd_plan_warning(
            ctx,
            "primary key of %s changes from (%s) to (%s): the migration fails, changing nothing, "
            "when rows repeat the new key",
            model->name, old_names, new_names))
        return false;
    pd_plan_ddl_drop_constraint(&ctx->up, model->table, name);
    pd_plan_ddl_add_constraint(&ctx->down, model->table, name, key_sql(ctx, before, count), false);
    return pd_plan_step_end(ctx);
}

bool
pd_plan_keys_add(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    bool is_change = false;
    if (!is_key_change(ctx, old, model, &is_change))
        return false;
    if (!is_change)
        return true;
    char *name = pd_model_constraint_name(ctx->arena, model->table, NULL, "pkey");
    const char *sql = pd_plan_keys_sql(ctx, model);
    if (name == NULL || sql == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    pd_plan_ddl_add_constraint(&ctx->up, model->table, name, sql, false);
    pd_plan_ddl_drop_constraint(&ctx->down, model->table, name);
    return pd_plan_step_end(ctx);
}
