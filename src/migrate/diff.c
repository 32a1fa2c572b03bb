/*
 * diff.c - the phases of planning at the model level: which model continues
 * which (by name, or by a renamed_from hint: never guessed), renames of
 * tables, columns and every derived name they change, model-level indexes
 * dropped and added, tables created in dependency order (a foreign key's
 * target first; only true cycles get their key added afterwards), fields
 * compared model by model (alter.c does one field), tables dropped. Each
 * phase appends to the PlanContext in the order the statements must run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

static bool
is_relation(const PdField *field)
{
    return field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE;
}

/* The model a relation of `catalog` points at, found by pointer or by name. */
static const PdModel *
field_target(const PdCatalog *catalog, const PdField *field)
{
    if (field->target != NULL)
        return field->target;
    return field->target_name != NULL ? pd_model_find(catalog, field->target_name) : NULL;
}

/* An old field's target as it is named after the renames: what +down and ALTERs must reference. */
static ModelRef
old_target_ref(PlanContext *ctx, const PdField *field)
{
    const PdModel *old_target = field_target(ctx->from, field);
    if (old_target == NULL)
        return (ModelRef){field->target_name, "", "id", "bigint"};
    const PdModel *new_target = plan_new_model_of(ctx, old_target);
    ModelRef ref = schema_model_ref(ctx, old_target);
    if (new_target != NULL)
    {
        ModelRef renamed = schema_model_ref(ctx, new_target);
        ref.table = renamed.table;
        ref.pk_column = renamed.pk_column;
    }
    return ref;
}

static ModelRef
new_target_ref(PlanContext *ctx, const PdField *field)
{
    const PdModel *target = field_target(ctx->to, field);
    if (target == NULL)
        return (ModelRef){field->target_name, "", "id", "bigint"};
    return schema_model_ref(ctx, target);
}

static bool input_error(PlanContext *ctx, PdSourcePos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* PD_ERR_INVALID_INPUT whose message starts with where the model file says it: "models.pdm:12:3: ". */
static bool
input_error(PlanContext *ctx, PdSourcePos pos, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    pd_model_error_at_va(ctx->err, pos, fmt, args);
    va_end(args);
    return false;
}

bool
diff_match_models(PlanContext *ctx)
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
                return input_error(ctx, model->pos,
                                   "model %s: renamed_from %s names no model of the last migration",
                                   model->name, model->renamed_from) ||
                       pd_error_hint(ctx->err,
                                     "Remove the hint, or name the model as the last migration's state "
                                     "has it.");
            if (pd_model_find(ctx->to, model->renamed_from) != NULL)
                return input_error(ctx, model->pos, "model %s: renamed_from %s, but model %s still exists",
                                   model->name, model->renamed_from, model->renamed_from) ||
                       pd_error_hint(ctx->err,
                                     "A renamed model's old name must be gone from the model file.");
        }
        if (old == NULL)
            continue;
        ctx->old_of_new[i] = old;
        size_t j = (size_t)(old - ctx->from->models);
        if (j >= ctx->from->model_count || ctx->new_of_old[j] != NULL)
            return input_error(ctx, model->pos,
                               "model %s continues %s, which another model already continues", model->name,
                               old->name);
        ctx->new_of_old[j] = model;
    }
    return true;
}

/* ---- renames ----------------------------------------------------------- */

/*
 * Renames are collected first and written once they can be ordered: renaming
 * t_a to t_b while t_b becomes t_c must wait until t_b is gone. Tables,
 * indexes and constraints count as one namespace (tables and indexes share
 * pg_class, a unique constraint names its index, and derived constraint names
 * carry their table's name, so sharing costs nothing); columns are per table.
 * A statement that names a table by its new name waits for that table's
 * rename. Renames that go round in a circle (a swap) cannot be ordered.
 */
typedef enum RenameKind
{
    RENAME_TABLE,
    RENAME_COLUMN,
    RENAME_CONSTRAINT,
    RENAME_INDEX
} RenameKind;

typedef struct PlanRename
{
    RenameKind kind;
    const char *table; /* the table the statement names, by its new name; NULL for tables and indexes */
    const char *from;
    const char *to;
    const char *up_sql;
    const char *down_sql;
} PlanRename;

static bool
queue_rename(PlanContext *ctx, RenameKind kind, const char *table, const char *from, const char *to)
{
    if (from == NULL || to == NULL || strcmp(from, to) == 0)
        return true;
    PdStrbuf up, down;
    pd_strbuf_init(&up, ctx->arena);
    pd_strbuf_init(&down, ctx->arena);
    switch (kind)
    {
        case RENAME_TABLE:
            ddl_rename_table(&up, from, to);
            ddl_rename_table(&down, to, from);
            break;
        case RENAME_COLUMN:
            ddl_rename_column(&up, table, from, to);
            ddl_rename_column(&down, table, to, from);
            break;
        case RENAME_CONSTRAINT:
            ddl_rename_constraint(&up, table, from, to);
            ddl_rename_constraint(&down, table, to, from);
            break;
        case RENAME_INDEX:
            ddl_rename_index(&up, from, to);
            ddl_rename_index(&down, to, from);
            break;
    }
    size_t count = ctx->rename_count;
    PlanRename *grown = pd_arena_reserve_next(ctx->arena, ctx->renames, count, sizeof(*grown));
    const char *up_sql = pd_strbuf_text(&up), *down_sql = pd_strbuf_text(&down);
    if (grown == NULL || up_sql == NULL || down_sql == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    bool is_named_table = kind == RENAME_COLUMN || kind == RENAME_CONSTRAINT;
    grown[count] = (PlanRename){kind, is_named_table ? table : NULL, from, to, up_sql, down_sql};
    ctx->renames = grown;
    ctx->rename_count = count + 1;
    return true;
}

static bool
rename_object(PlanContext *ctx, const char *table, const char *from, const char *to, bool is_index)
{
    return queue_rename(ctx, is_index ? RENAME_INDEX : RENAME_CONSTRAINT, table, from, to);
}

/* Whether two renames take names from the same namespace: columns of one table, or everything else. */
static bool
is_same_namespace(const PlanRename *a, const PlanRename *b)
{
    if ((a->kind == RENAME_COLUMN) != (b->kind == RENAME_COLUMN))
        return false;
    return a->kind != RENAME_COLUMN || strcmp(a->table, b->table) == 0;
}

/* The pending rename that rename i waits for, or NULL when it can run now. */
static const PlanRename *
rename_blocker(const PlanContext *ctx, const bool *is_done, size_t i)
{
    const PlanRename *rename = &ctx->renames[i];
    for (size_t j = 0; j < ctx->rename_count; j++)
    {
        const PlanRename *other = &ctx->renames[j];
        if (j == i || is_done[j])
            continue;
        if (is_same_namespace(rename, other) && strcmp(other->from, rename->to) == 0)
            return other; /* its new name is still taken */
        if (rename->table != NULL && other->kind == RENAME_TABLE && strcmp(other->to, rename->table) == 0)
            return other; /* the table it names does not have that name yet */
    }
    return NULL;
}

/* Writes the queued renames, each as its own step (so +down renames back in reverse order). */
static bool
write_renames(PlanContext *ctx)
{
    bool *is_done = pd_arena_calloc(ctx->arena, ctx->rename_count + 1, sizeof(bool));
    if (is_done == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t written = 0; written < ctx->rename_count; written++)
    {
        size_t i = 0;
        while (i < ctx->rename_count && (is_done[i] || rename_blocker(ctx, is_done, i) != NULL))
            i++;
        if (i == ctx->rename_count)
        {
            for (i = 0; is_done[i]; i++)
                ;
            const PlanRename *stuck = &ctx->renames[i], *blocker = rename_blocker(ctx, is_done, i);
            pd_error_set(ctx->err, PD_ERR_INVALID_INPUT,
                         "renames go round in a circle: \"%s\" -> \"%s\" waits for \"%s\" -> \"%s\", which "
                         "waits in turn",
                         stuck->from, stuck->to, blocker->from, blocker->to);
            pd_error_detail(ctx->err, "Each name is still taken when the other rename would need it, as in a "
                                      "swap of two table names.");
            return pd_error_hint(ctx->err, "Rename through a temporary name: one migration renames the first "
                                           "to a name nobody uses, the next finishes the swap.");
        }
        is_done[i] = true;
        pd_strbuf_append(&ctx->up, ctx->renames[i].up_sql);
        pd_strbuf_append(&ctx->down, ctx->renames[i].down_sql);
        if (!plan_step_end(ctx))
            return false;
    }
    return true;
}

static bool
rename_tables(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i];
        const PdModel *old = ctx->old_of_new[i];
        if (old == NULL)
            continue;
        if (strcmp(old->table, model->table) == 0)
        {
            /* No table to rename, but the state must learn the name (and derived names may follow it). */
            if (strcmp(old->name, model->name) != 0 &&
                !plan_operation(ctx, PD_OP_RENAME_MODEL, model->name, NULL,
                                pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", plan_snake(ctx, old->name),
                                                 plan_snake(ctx, model->name)),
                                "rename model %s to %s (table %s kept)", old->name, model->name,
                                model->table))
                return false;
            continue;
        }
        char *hint = pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", plan_snake(ctx, old->name),
                                      plan_snake(ctx, model->name));
        if (strcmp(old->name, model->name) == 0)
            hint = pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", old->table, model->table);
        bool is_table_only = strcmp(old->name, model->name) == 0;
        char *description = is_table_only
                                ? pd_arena_sprintf(ctx->arena, "rename table of %s: %s -> %s", model->name,
                                                   old->table, model->table)
                                : pd_arena_sprintf(ctx->arena, "rename model %s to %s (table %s -> %s)",
                                                   old->name, model->name, old->table, model->table);
        if (!plan_operation(ctx, PD_OP_RENAME_MODEL, model->name, NULL, hint, "%s", description) ||
            !plan_warning(
                ctx,
                "renaming table \"%s\" to \"%s\" breaks application instances still running with the "
                "old name; deploy the code that uses the new name together with this migration",
                old->table, model->table))
            return false;
        if (!queue_rename(ctx, RENAME_TABLE, NULL, old->table, model->table))
            return false;
    }
    return true;
}

static bool
rename_columns(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = plan_old_field_of(old, model, field);
        if (old_field == NULL)
            continue;
        if (strcmp(old_field->name, field->name) != 0 && (old_field->column == NULL || field->column == NULL))
        {
            /* A many-to-many field has no column: its join table follows the name (rename_join_table). */
            if (!plan_operation(ctx, PD_OP_RENAME_FIELD, model->name, field->name,
                                pd_arena_sprintf(ctx->arena, "%s_rename_%s_to_%s",
                                                 plan_snake(ctx, model->name), old_field->name, field->name),
                                "rename field %s.%s to %s", model->name, old_field->name, field->name))
                return false;
            continue;
        }
        if (old_field->column == NULL || field->column == NULL)
            continue;
        if (strcmp(old_field->name, field->name) != 0)
        {
            char *hint = pd_arena_sprintf(ctx->arena, "%s_rename_%s_to_%s", plan_snake(ctx, model->name),
                                          old_field->name, field->name);
            if (!plan_operation(ctx, PD_OP_RENAME_FIELD, model->name, field->name, hint,
                                "rename field %s.%s to %s", model->name, old_field->name, field->name) ||
                !plan_warning(
                    ctx,
                    "renaming column \"%s\".\"%s\" to \"%s\" breaks application instances still "
                    "running with the old name; deploy the code that uses the new name together with "
                    "this migration",
                    model->table, old_field->column, field->column))
                return false;
        }
        if (strcmp(old_field->column, field->column) == 0)
            continue;
        if (!queue_rename(ctx, RENAME_COLUMN, model->table, old_field->column, field->column))
            return false;
    }
    return true;
}

/* The derived names of a field's objects follow the table and column: rename each one that changed. */
static bool
rename_field_objects(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *old_field,
                     const PdField *field)
{
    ModelRef target = old_target_ref(ctx, old_field);
    FieldObjects before, after;
    if (!schema_field(ctx, old->table, old_field->column, old_field, &target, &before) ||
        !schema_field(ctx, model->table, field->column, old_field, &target, &after))
        return false;
    for (size_t i = 0; i < before.check_count && i < after.check_count; i++)
        if (!rename_object(ctx, model->table, before.check_names[i], after.check_names[i], false))
            return false;
    return rename_object(ctx, model->table, before.pkey_name, after.pkey_name, false) &&
           rename_object(ctx, model->table, before.unique_name, after.unique_name, false) &&
           rename_object(ctx, model->table, before.fk_name, after.fk_name, false) &&
           rename_object(ctx, model->table, before.index_name, after.index_name, true);
}

static bool
same_target(PlanContext *ctx, const PdField *old_field, const PdField *field)
{
    const PdModel *old_target = field_target(ctx->from, old_field);
    const PdModel *target = field_target(ctx->to, field);
    return old_target != NULL && target != NULL && plan_new_model_of(ctx, old_target) == target;
}

/* Join table names follow the through table and both models' names. */
static bool
rename_join_table(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *old_field,
                  const PdField *field)
{
    if (!same_target(ctx, old_field, field))
        return true; /* a new target is a new join table: alter.c drops and creates */
    ModelRef old_owner = schema_model_ref(ctx, old), owner = schema_model_ref(ctx, model);
    ModelRef old_target = schema_model_ref(ctx, field_target(ctx->from, old_field));
    ModelRef target = schema_model_ref(ctx, field_target(ctx->to, field));
    JoinObjects before, after;
    if (!schema_join(ctx, old_field->through_table, &old_owner, &old_target, &before) ||
        !schema_join(ctx, field->through_table, &owner, &target, &after))
        return false;
    if (strcmp(before.table, after.table) != 0)
    {
        if (strcmp(old->name, model->name) == 0 && strcmp(old_field->name, field->name) == 0 &&
            !plan_operation(
                ctx, PD_OP_ALTER_FIELD, model->name, field->name,
                pd_arena_sprintf(ctx->arena, "%s_alter_%s", plan_snake(ctx, model->name), field->name),
                "alter field %s.%s: join table %s -> %s", model->name, field->name, before.table,
                after.table))
            return false;
        if (!queue_rename(ctx, RENAME_TABLE, NULL, before.table, after.table))
            return false;
    }
    for (int i = 0; i < 2; i++)
        if (!queue_rename(ctx, RENAME_COLUMN, after.table, before.columns[i], after.columns[i]))
            return false;
    return rename_object(ctx, after.table, before.pkey_name, after.pkey_name, false) &&
           rename_object(ctx, after.table, before.fk_names[0], after.fk_names[0], false) &&
           rename_object(ctx, after.table, before.fk_names[1], after.fk_names[1], false) &&
           rename_object(ctx, after.table, before.unique_name, after.unique_name, false) &&
           rename_object(ctx, after.table, before.index_name, after.index_name, true);
}

static bool
same_name(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The old index that a new model-level index continues: same kind, same fields after renames. */
static const PdIndex *
old_index_of(const PdModel *old, const PdModel *model, const PdIndex *index)
{
    for (size_t i = 0; i < old->index_count; i++)
    {
        const PdIndex *candidate = &old->indexes[i];
        if (candidate->is_unique != index->is_unique || candidate->field_count != index->field_count)
            continue;
        bool is_same = true;
        for (size_t k = 0; k < index->field_count && is_same; k++)
        {
            const PdField *field = pd_model_find_field(model, index->fields[k]);
            const PdField *old_field = field != NULL ? plan_old_field_of(old, model, field) : NULL;
            is_same = old_field != NULL && strcmp(old_field->name, candidate->fields[k]) == 0;
        }
        if (is_same)
            return candidate;
    }
    return NULL;
}

static bool
is_index_kept(const PdModel *old, const PdModel *model, const PdIndex *old_index)
{
    for (size_t i = 0; i < model->index_count; i++)
        if (old_index_of(old, model, &model->indexes[i]) == old_index)
            return true;
    return false;
}

/*
 * A plain model-level index that goes away is dropped CONCURRENTLY, after the
 * transactional part, where renames run: a rename cannot take its name in the
 * same migration. Refused with the position instead of failing on apply.
 */
static bool
check_name_free_in_time(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index,
                        const char *name)
{
    for (size_t i = 0; i < old->index_count; i++)
    {
        const PdIndex *dropped = &old->indexes[i];
        IndexObjects objects;
        if (dropped->is_unique || is_index_kept(old, model, dropped))
            continue;
        if (!schema_index(ctx, old, dropped, &objects))
            return false;
        if (strcmp(objects.name, name) != 0)
            continue;
        input_error(ctx, index->pos,
                    "index \"%s\" is dropped only after this migration's renames, but an index "
                    "of %s is renamed to it",
                    name, model->name);
        return pd_error_hint(ctx->err,
                             "Make two migrations: one that drops index \"%s\", then one that gives "
                             "its name away.",
                             name);
    }
    return true;
}

static bool
rename_model_objects(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = plan_old_field_of(old, model, field);
        if (old_field == NULL)
            continue;
        bool is_join = field->kind == PD_FIELD_MANY_TO_MANY && old_field->kind == PD_FIELD_MANY_TO_MANY;
        if (is_join && !rename_join_table(ctx, old, model, old_field, field))
            return false;
        if (!is_join && old_field->column != NULL && field->column != NULL &&
            !rename_field_objects(ctx, old, model, old_field, field))
            return false;
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *old_index = old_index_of(old, model, &model->indexes[i]);
        IndexObjects before, after;
        if (old_index == NULL)
            continue;
        if (!schema_index(ctx, old, old_index, &before) ||
            !schema_index(ctx, model, &model->indexes[i], &after))
            return false;
        /* A name given with name="..." (on either side) changes only here: say so. A derived name that
         * changes with renamed fields or tables is covered by the rename that caused it. */
        bool is_derived_before = same_name(old_index->name, pd_model_index_name(ctx->arena, old, old_index));
        bool is_derived_after =
            same_name(model->indexes[i].name, pd_model_index_name(ctx->arena, model, &model->indexes[i]));
        bool is_named_anew = strcmp(before.name, after.name) != 0 && !(is_derived_before && is_derived_after);
        if (is_named_anew &&
            !plan_operation(
                ctx, PD_OP_RENAME_INDEX, model->name, after.name,
                pd_arena_sprintf(ctx->arena, "%s_rename_%s", plan_snake(ctx, model->name), after.name),
                "rename %s on %s: %s -> %s", after.is_unique ? "unique" : "index", model->name, before.name,
                after.name))
            return false;
        if (strcmp(before.name, after.name) != 0 &&
            !check_name_free_in_time(ctx, old, model, &model->indexes[i], after.name))
            return false;
        if (!rename_object(ctx, model->table, before.name, after.name, !after.is_unique))
            return false;
    }
    return true;
}

bool
diff_renames(PlanContext *ctx)
{
    if (!rename_tables(ctx))
        return false;
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !rename_columns(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !rename_model_objects(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    return write_renames(ctx);
}

/* ---- model-level indexes ------------------------------------------------ */

/* An old index under the new names: its table and columns as they are after the renames. */
static bool
old_index_objects(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index,
                  IndexObjects *out)
{
    if (!schema_index(ctx, old, index, out))
        return false;
    out->table = model->table;
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "(");
    for (size_t k = 0; k < index->field_count; k++)
    {
        const PdField *old_field = pd_model_find_field(old, index->fields[k]);
        const char *column = old_field != NULL ? old_field->column : index->fields[k];
        for (size_t f = 0; f < model->field_count && old_field != NULL; f++)
            if (plan_old_field_of(old, model, &model->fields[f]) == old_field &&
                model->fields[f].column != NULL)
                column = model->fields[f].column;
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
    char *fields = schema_index_fields(ctx, index);
    char *hint = pd_arena_sprintf(ctx->arena, "%s_drop_%s_%s", plan_snake(ctx, model->name), kind, fields);
    if (!plan_operation(ctx, PD_OP_DROP_INDEX, model->name, objects.name, hint, "drop %s(%s) on %s (%s)",
                        kind, fields, model->name, objects.name))
        return false;
    if (index->is_unique)
    {
        ddl_drop_constraint(&ctx->up, objects.table, objects.name);
        ddl_add_constraint(&ctx->down, objects.table, objects.name,
                           pd_arena_sprintf(ctx->arena, "UNIQUE %s", objects.columns_sql), false);
    }
    else
    {
        ddl_drop_index(&ctx->concurrently, objects.name, true);
        ddl_create_index(&ctx->down, objects.table, objects.name, objects.columns_sql, false, false);
    }
    return plan_step_end(ctx);
}

bool
diff_drop_indexes(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i], *old = ctx->old_of_new[i];
        for (size_t k = 0; old != NULL && k < old->index_count; k++)
            if (!is_index_kept(old, model, &old->indexes[k]) &&
                !drop_model_index(ctx, old, model, &old->indexes[k]))
                return false;
    }
    return true;
}

static bool
add_model_index(PlanContext *ctx, const PdModel *model, const PdIndex *index)
{
    IndexObjects objects;
    if (!schema_index(ctx, model, index, &objects))
        return false;
    const char *kind = index->is_unique ? "unique" : "index";
    char *fields = schema_index_fields(ctx, index);
    char *hint = pd_arena_sprintf(ctx->arena, "%s_add_%s_%s", plan_snake(ctx, model->name), kind, fields);
    if (!plan_operation(ctx, PD_OP_ADD_INDEX, model->name, objects.name, hint, "add %s(%s) on %s (%s)", kind,
                        fields, model->name, objects.name))
        return false;
    ddl_create_index(&ctx->concurrently, objects.table, objects.name, objects.columns_sql, index->is_unique,
                     true);
    if (index->is_unique)
    {
        ddl_unique_using_index(&ctx->concurrently, objects.table, objects.name);
        ddl_drop_constraint(&ctx->down, objects.table, objects.name);
    }
    else
        ddl_drop_index(&ctx->down, objects.name, false);
    return plan_step_end(ctx);
}

bool
diff_add_indexes(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i], *old = ctx->old_of_new[i];
        for (size_t k = 0; old != NULL && k < model->index_count; k++)
            if (old_index_of(old, model, &model->indexes[k]) == NULL &&
                !add_model_index(ctx, model, &model->indexes[k]))
                return false;
    }
    return true;
}

/* ---- tables in dependency order ---------------------------------------- */

/*
 * Depth-first over the foreign keys, with an explicit stack in the arena: a
 * chain of links as long as the file is deep (hundreds of thousands of
 * models) must not exhaust the thread's stack. A model is appended once every
 * member it references is; a key to a model still on the path closes a cycle
 * and is deferred. Keys are followed in field order, so the order is the one
 * a recursive walk gives.
 */
typedef struct TopoFrame
{
    size_t model; /* index in the catalog */
    size_t field; /* the next field of it to follow */
} TopoFrame;

typedef struct TopoSort
{
    PlanContext *ctx;
    const PdCatalog *catalog;
    const bool *is_member; /* the models being ordered */
    char *state;           /* 0 unseen, 1 on the path, 2 done */
    size_t *order;
    size_t count;
    const PdField **deferred; /* keys that close a cycle: added after the tables */
    size_t deferred_count;
    TopoFrame *path; /* the models on the path: at most every model once */
    size_t depth;
} TopoSort;

/* The catalog index of a model a relation points at; model_count when it is not in the catalog. */
static size_t
catalog_index(const PdCatalog *catalog, const PdModel *model)
{
    if (model >= catalog->models && model < catalog->models + catalog->model_count)
        return (size_t)(model - catalog->models);
    const PdModel *found = pd_model_find(catalog, model->name);
    return found != NULL ? (size_t)(found - catalog->models) : catalog->model_count;
}

static bool
topo_defer(TopoSort *sort, const PdField *field)
{
    const PdField **grown =
        pd_arena_reserve_next(sort->ctx->arena, (void *)sort->deferred, sort->deferred_count, sizeof(*grown));
    if (grown == NULL)
        return pd_arena_error(sort->ctx->arena, sort->ctx->err);
    grown[sort->deferred_count++] = field;
    sort->deferred = grown;
    return true;
}

static void
topo_push(TopoSort *sort, size_t i)
{
    sort->state[i] = 1;
    sort->path[sort->depth++] = (TopoFrame){i, 0};
}

/* Follows the next key of the model on top of the path, or finishes that model. */
static bool
topo_step(TopoSort *sort)
{
    TopoFrame *top = &sort->path[sort->depth - 1];
    const PdModel *model = &sort->catalog->models[top->model];
    if (top->field == model->field_count)
    {
        sort->state[top->model] = 2;
        sort->order[sort->count++] = top->model;
        sort->depth--;
        return true;
    }
    const PdField *field = &model->fields[top->field++];
    const PdModel *target = is_relation(field) ? field_target(sort->catalog, field) : NULL;
    if (target == NULL)
        return true;
    size_t j = catalog_index(sort->catalog, target);
    if (j == top->model || j >= sort->catalog->model_count || !sort->is_member[j] || sort->state[j] == 2)
        return true;
    if (sort->state[j] == 1)
        return topo_defer(sort, field);
    topo_push(sort, j);
    return true;
}

static bool
topo_sort(PlanContext *ctx, const PdCatalog *catalog, const bool *is_member, TopoSort *sort)
{
    size_t count = catalog->model_count;
    *sort = (TopoSort){.ctx = ctx, .catalog = catalog, .is_member = is_member};
    sort->state = pd_arena_calloc(ctx->arena, count + 1, 1);
    sort->order = pd_arena_calloc(ctx->arena, count + 1, sizeof(size_t));
    sort->path = pd_arena_calloc(ctx->arena, count + 1, sizeof(TopoFrame));
    if (sort->state == NULL || sort->order == NULL || sort->path == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < count; i++)
    {
        if (!is_member[i] || sort->state[i] != 0)
            continue;
        topo_push(sort, i);
        while (sort->depth > 0)
            if (!topo_step(sort))
                return false;
    }
    return true;
}

static bool
is_deferred(const TopoSort *sort, const PdField *field)
{
    for (size_t i = 0; i < sort->deferred_count; i++)
        if (sort->deferred[i] == field)
            return true;
    return false;
}

/* Column objects of every field with a column, plus which keys wait for a cycle. */
static bool
table_objects(PlanContext *ctx, const PdModel *model, const char *table, bool is_old, const TopoSort *sort,
              FieldObjects **fields, bool **deferred, size_t *count)
{
    *fields = pd_arena_calloc(ctx->arena, model->field_count + 1, sizeof(**fields));
    *deferred = pd_arena_calloc(ctx->arena, model->field_count + 1, sizeof(**deferred));
    if (*fields == NULL || *deferred == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    *count = 0;
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (field->column == NULL)
            continue;
        ModelRef target = is_old ? old_target_ref(ctx, field) : new_target_ref(ctx, field);
        (*deferred)[*count] = is_deferred(sort, field);
        if (!schema_field(ctx, table, field->column, field, &target, &(*fields)[(*count)++]))
            return false;
    }
    return true;
}

static bool
model_indexes(PlanContext *ctx, const PdModel *model, const PdModel *named_as, IndexObjects **indexes)
{
    *indexes = pd_arena_calloc(ctx->arena, model->index_count + 1, sizeof(**indexes));
    if (*indexes == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < model->index_count; i++)
        if (!schema_index(ctx, model, &model->indexes[i], &(*indexes)[i]))
            return false;
    for (size_t i = 0; i < model->index_count; i++)
        (*indexes)[i].table = named_as->table;
    return true;
}

/* CREATE TABLE and its indexes into out; used for new models and for re-creating dropped ones in +down. */
static bool
create_table(PlanContext *ctx, PdStrbuf *out, const PdModel *model, bool is_old, const TopoSort *sort)
{
    FieldObjects *fields;
    bool *deferred;
    size_t count = 0;
    IndexObjects *indexes;
    if (!table_objects(ctx, model, model->table, is_old, sort, &fields, &deferred, &count) ||
        !model_indexes(ctx, model, model, &indexes))
        return false;
    ddl_create_table(out, model->table, fields, count, deferred, indexes, model->index_count);
    ddl_create_indexes(out, model->table, fields, count, indexes, model->index_count);
    return true;
}

/* The foreign keys left out of CREATE TABLE because they close a cycle. */
static bool
deferred_keys(PlanContext *ctx, const PdCatalog *catalog, const TopoSort *sort, bool is_drop)
{
    for (size_t i = 0; i < sort->deferred_count; i++)
    {
        const PdField *field = sort->deferred[i];
        const PdModel *owner = NULL;
        for (size_t m = 0; m < catalog->model_count && owner == NULL; m++)
            if (field >= catalog->models[m].fields &&
                field < catalog->models[m].fields + catalog->models[m].field_count)
                owner = &catalog->models[m];
        if (owner == NULL)
            continue;
        ModelRef target = is_drop ? old_target_ref(ctx, field) : new_target_ref(ctx, field);
        FieldObjects objects;
        if (!schema_field(ctx, owner->table, field->column, field, &target, &objects))
            return false;
        ddl_add_constraint(is_drop ? &ctx->down : &ctx->up, owner->table, objects.fk_name, objects.fk_sql,
                           false);
        ddl_drop_constraint(is_drop ? &ctx->up : &ctx->down, owner->table, objects.fk_name);
        if (!plan_step_end(ctx))
            return false;
    }
    return true;
}

static bool
join_tables(PlanContext *ctx, const PdModel *model, bool is_drop)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (field->kind != PD_FIELD_MANY_TO_MANY)
            continue;
        ModelRef owner = schema_model_ref(ctx, model);
        ModelRef target = is_drop ? old_target_ref(ctx, field) : new_target_ref(ctx, field);
        JoinObjects join;
        if (!schema_join(ctx, field->through_table, &owner, &target, &join))
            return false;
        ddl_create_join_table(is_drop ? &ctx->down : &ctx->up, &join);
        ddl_drop_table(is_drop ? &ctx->up : &ctx->down, join.table);
        if (!plan_step_end(ctx))
            return false;
    }
    return true;
}

bool
diff_create_models(PlanContext *ctx)
{
    bool *is_new = pd_arena_calloc(ctx->arena, ctx->to->model_count + 1, sizeof(bool));
    if (is_new == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->to->model_count; i++)
        is_new[i] = ctx->old_of_new[i] == NULL;
    TopoSort sort;
    if (!topo_sort(ctx, ctx->to, is_new, &sort))
        return false;
    for (size_t k = 0; k < sort.count; k++)
    {
        const PdModel *model = &ctx->to->models[sort.order[k]];
        char *hint = pd_arena_sprintf(ctx->arena, "create_%s", plan_snake(ctx, model->name));
        if (!plan_operation(ctx, PD_OP_CREATE_MODEL, model->name, NULL, hint, "create model %s (table %s)",
                            model->name, model->table) ||
            !create_table(ctx, &ctx->up, model, false, &sort))
            return false;
        ddl_drop_table(&ctx->down, model->table);
        if (!plan_step_end(ctx))
            return false;
    }
    if (!deferred_keys(ctx, ctx->to, &sort, false))
        return false;
    for (size_t k = 0; k < sort.count; k++)
        if (!join_tables(ctx, &ctx->to->models[sort.order[k]], false))
            return false;
    return true;
}

static bool
has_join_tables(const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
        if (model->fields[f].kind == PD_FIELD_MANY_TO_MANY)
            return true;
    return false;
}

bool
plan_check_table_freed_late(PlanContext *ctx, const char *table, const char *what, size_t joins_from)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i];
        const PdField *taker = NULL;
        for (size_t f = 0; i < joins_from && f < model->field_count && taker == NULL; f++)
            if (model->fields[f].kind == PD_FIELD_MANY_TO_MANY && model->fields[f].through_table != NULL &&
                strcmp(model->fields[f].through_table, table) == 0)
                taker = &model->fields[f];
        if (taker == NULL && strcmp(model->table, table) != 0)
            continue;
        if (taker != NULL)
            input_error(
                ctx, taker->pos,
                "table \"%s\" of %s is dropped only at the end of this migration, but %s.%s takes its name",
                table, what, model->name, taker->name);
        else
            input_error(ctx, model->pos,
                        "table \"%s\" of %s is dropped only at the end of this migration, but model %s takes "
                        "its name",
                        table, what, model->name);
        pd_error_detail(ctx->err,
                        "Tables are dropped after the renames and new tables of the same migration, so "
                        "the name is still taken when it is needed.");
        return pd_error_hint(ctx->err,
                             "Make two migrations: one that drops the old table, then one that gives "
                             "its name away.");
    }
    return true;
}

/* Every table a dropped model frees: its own and its join tables. */
static bool
check_dropped_model_names(PlanContext *ctx, const PdModel *model)
{
    char *what = pd_arena_sprintf(ctx->arena, "model %s", model->name);
    if (what == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (!plan_check_table_freed_late(ctx, model->table, what, ctx->to->model_count))
        return false;
    for (size_t f = 0; f < model->field_count; f++)
        if (model->fields[f].kind == PD_FIELD_MANY_TO_MANY && model->fields[f].through_table != NULL &&
            !plan_check_table_freed_late(ctx, model->fields[f].through_table, what, ctx->to->model_count))
            return false;
    return true;
}

bool
diff_drop_models(PlanContext *ctx)
{
    bool *is_dropped = pd_arena_calloc(ctx->arena, ctx->from->model_count + 1, sizeof(bool));
    if (is_dropped == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->from->model_count; i++)
    {
        is_dropped[i] = ctx->new_of_old[i] == NULL;
        if (is_dropped[i] && !check_dropped_model_names(ctx, &ctx->from->models[i]))
            return false;
    }
    TopoSort sort;
    if (!topo_sort(ctx, ctx->from, is_dropped, &sort))
        return false;
    /* Join tables first (they may point at any dropped table), then keys closing cycles, then tables
     * referencing others before the tables they reference. */
    for (size_t k = sort.count; k > 0; k--)
        if (!join_tables(ctx, &ctx->from->models[sort.order[k - 1]], true))
            return false;
    if (!deferred_keys(ctx, ctx->from, &sort, true))
        return false;
    for (size_t k = sort.count; k > 0; k--)
    {
        const PdModel *model = &ctx->from->models[sort.order[k - 1]];
        char *hint = pd_arena_sprintf(ctx->arena, "drop_%s", plan_snake(ctx, model->name));
        if (!plan_operation(ctx, PD_OP_DROP_MODEL, model->name, NULL, hint, "drop model %s (table %s)",
                            model->name, model->table) ||
            !plan_destructive(ctx, "drop model %s: table \"%s\" and all its rows are deleted%s", model->name,
                              model->table, has_join_tables(model) ? ", with its many-to-many links" : "") ||
            !create_table(ctx, &ctx->down, model, true, &sort))
            return false;
        ddl_drop_table(&ctx->up, model->table);
        if (!plan_step_end(ctx))
            return false;
    }
    return true;
}

/* ---- fields ------------------------------------------------------------ */

/* The new field that continues old_field, or NULL when it is dropped. */
static const PdField *
new_field_of(const PdModel *old, const PdModel *model, const PdField *old_field)
{
    for (size_t f = 0; f < model->field_count; f++)
        if (plan_old_field_of(old, model, &model->fields[f]) == old_field)
            return &model->fields[f];
    return NULL;
}

static bool
check_rename_hint(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *field)
{
    if (field->renamed_from == NULL)
        return true;
    if (pd_model_find_field(model, field->renamed_from) != NULL)
        return input_error(ctx, field->pos, "field %s: renamed_from=%s, but that field still exists",
                           field->name, field->renamed_from) ||
               pd_error_hint(ctx->err, "A renamed field's old name must be gone from the model.");
    if (pd_model_find_field(old, field->renamed_from) == NULL)
        return input_error(ctx, field->pos,
                           "field %s: renamed_from=%s names no field of the last migration's %s", field->name,
                           field->renamed_from, model->name) ||
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
    bool is_same = plan_old_field_of(old, model, pk) == old_pk && old_pk->kind == pk->kind &&
                   old_type != NULL && type != NULL && strcmp(old_type, type) == 0;
    if (is_same)
        return true;
    input_error(ctx, pk->pos, "model %s: changing the primary key (%s) is not supported", model->name,
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
        const PdField *old_field = plan_old_field_of(old, model, field);
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
diff_fields(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !diff_model_fields(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    return true;
}

ModelRef
plan_old_target_ref(PlanContext *ctx, const PdField *field)
{
    return old_target_ref(ctx, field);
}

ModelRef
plan_new_target_ref(PlanContext *ctx, const PdField *field)
{
    return new_target_ref(ctx, field);
}

bool
plan_same_target(PlanContext *ctx, const PdField *old_field, const PdField *field)
{
    return same_target(ctx, old_field, field);
}
