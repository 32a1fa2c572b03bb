/*
 * alter.c - one field of a table that already exists: added, dropped or
 * changed, in the forms that keep long locks off a live table. Constraints
 * are added NOT VALID in the transaction and validated in the concurrent
 * section; unique constraints and indexes are built CONCURRENTLY; a NOT NULL
 * column needs a default; type changes say whether they rewrite the table and
 * whether they can lose data, as the kind table's casts (kind.c) tell. Every statement here runs after the
 * renames, so old objects are addressed by their new names. Each change also writes its inverse to ctx->down,
 * in the order it must run.
 */
#include <stdio.h>
#include <string.h>

#include "plan.h"

static bool
same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether check i of objects stands unchanged in other (NULL: nothing stands). */
static bool
is_check_kept(const FieldObjects *objects, size_t i, const FieldObjects *other, bool is_type)
{
    if (other == NULL || is_type)
        return false; /* a check compares the column with literals typed for it: a new type re-makes it */
    for (size_t j = 0; j < other->check_count; j++)
        if (strcmp(other->check_names[j], objects->check_names[i]) == 0 &&
            strcmp(other->check_sqls[j], objects->check_sqls[i]) == 0)
            return true;
    return false;
}

static void
drop_checks(PdStrbuf *out, const FieldObjects *objects, const FieldObjects *other, bool is_type)
{
    for (size_t i = 0; i < objects->check_count; i++)
        if (!is_check_kept(objects, i, other, is_type))
            pd_plan_ddl_drop_constraint(out, objects->table, objects->check_names[i]);
}

static void
alter_column(PdStrbuf *out, const FieldObjects *objects, const char *action)
{
    pd_plan_ddl_alter_column(out, objects->table, objects->column, action);
}

static void
set_type(PlanContext *ctx, PdStrbuf *out, const FieldObjects *objects, const char *type)
{
    PdStrbuf action;
    pd_strbuf_init(&action, ctx->arena);
    pd_strbuf_appendf(&action, "TYPE %s", type);
    if (objects->generated_sql == NULL) /* PostgreSQL refuses USING on a generated column: it recomputes it */
    {
        pd_strbuf_append(&action, " USING ");
        pd_strbuf_append_identifier(&action, objects->column);
        pd_strbuf_appendf(&action, "::%s", type);
    }
    alter_column(out, objects, pd_strbuf_text(&action) != NULL ? pd_strbuf_text(&action) : "");
}

static void
set_default(PlanContext *ctx, PdStrbuf *out, const FieldObjects *objects, const char *default_sql)
{
    if (default_sql == NULL)
        alter_column(out, objects, "DROP DEFAULT");
    else
        alter_column(out, objects, pd_arena_sprintf(ctx->arena, "SET DEFAULT %s", default_sql));
}

/*
 * The constraints and index of a column added to or kept on a live table, in
 * their safe forms; checks that stand unchanged in `kept` (NULL: none) stay.
 */
static void
add_objects_safely(PlanContext *ctx, const FieldObjects *objects, bool has_fk, const FieldObjects *kept,
                   bool is_type, bool has_unique, bool has_index, bool has_search)
{
    if (has_fk && objects->fk_name != NULL)
    {
        pd_plan_ddl_add_constraint(&ctx->up, objects->table, objects->fk_name, objects->fk_sql, true);
        pd_plan_ddl_validate_constraint(&ctx->concurrently, objects->table, objects->fk_name);
    }
    for (size_t i = 0; i < objects->check_count; i++)
        if (!is_check_kept(objects, i, kept, is_type))
        {
            pd_plan_ddl_add_constraint(&ctx->up, objects->table, objects->check_names[i],
                                       pd_arena_sprintf(ctx->arena, "CHECK (%s)", objects->check_sqls[i]),
                                       true);
            pd_plan_ddl_validate_constraint(&ctx->concurrently, objects->table, objects->check_names[i]);
        }
    if (has_unique && objects->unique_name != NULL)
    {
        pd_plan_ddl_create_index(&ctx->concurrently, objects->table, objects->unique_name,
                                 pd_plan_ddl_columns(ctx->arena, objects->column), true, true);
        pd_plan_ddl_unique_using_index(&ctx->concurrently, objects->table, objects->unique_name);
    }
    if (has_index && objects->index_name != NULL)
        pd_plan_ddl_create_index(&ctx->concurrently, objects->table, objects->index_name,
                                 objects->index_columns_sql, false, true);
    if (has_search && objects->search_index_name != NULL)
        pd_plan_ddl_create_index(&ctx->concurrently, objects->table, objects->search_index_name,
                                 objects->search_index_sql, false, true);
}

/* The same objects added plainly, inside +down's transaction (re-creating what +up dropped). */
static void
add_objects_plainly(PlanContext *ctx, PdStrbuf *out, const FieldObjects *objects, bool has_fk,
                    const FieldObjects *kept, bool is_type, bool has_unique, bool has_index, bool has_search)
{
    if (has_fk && objects->fk_name != NULL)
        pd_plan_ddl_add_constraint(out, objects->table, objects->fk_name, objects->fk_sql, false);
    for (size_t i = 0; i < objects->check_count; i++)
        if (!is_check_kept(objects, i, kept, is_type))
            pd_plan_ddl_add_constraint(out, objects->table, objects->check_names[i],
                                       pd_arena_sprintf(ctx->arena, "CHECK (%s)", objects->check_sqls[i]),
                                       false);
    if (has_unique && objects->unique_name != NULL)
        pd_plan_ddl_add_constraint(
            out, objects->table, objects->unique_name,
            pd_arena_sprintf(ctx->arena, "UNIQUE %s", pd_plan_ddl_columns(ctx->arena, objects->column)),
            false);
    if (has_index && objects->index_name != NULL)
        pd_plan_ddl_create_index(out, objects->table, objects->index_name, objects->index_columns_sql, false,
                                 false);
    if (has_search && objects->search_index_name != NULL)
        pd_plan_ddl_create_index(out, objects->table, objects->search_index_name, objects->search_index_sql,
                                 false, false);
}

static char *
field_hint(PlanContext *ctx, const PdModel *model, const char *verb, const char *field)
{
    return pd_arena_sprintf(ctx->arena, "%s_%s_%s", pd_plan_snake(ctx, model->name), verb, field);
}

/* A many-to-many field through a model: nothing in the database (the through model's table is a model's),
 * only the operation, so the state records it. */
static bool
through_field(PlanContext *ctx, PdOperationKind kind, const char *verb, const PdModel *model,
              const PdField *field)
{
    return pd_plan_operation(ctx, kind, model->name, field->name, field_hint(ctx, model, verb, field->name),
                             "%s field %s.%s (%s[] through model %s: no table of its own)", verb, model->name,
                             field->name, field->target_name, field->through_model_name) &&
           pd_plan_step_end(ctx);
}

static bool
add_join_field(PlanContext *ctx, const PdModel *model, const PdField *field)
{
    ModelRef owner = pd_plan_schema_model_ref(ctx, model), target = pd_plan_new_target_ref(ctx, field);
    JoinObjects join;
    if (!pd_plan_schema_join(ctx, field->through_table, &owner, &target, &join) ||
        !pd_plan_operation(ctx, PD_OP_ADD_FIELD, model->name, field->name,
                           field_hint(ctx, model, "add", field->name), "add field %s.%s (%s, join table %s)",
                           model->name, field->name, pd_plan_schema_field_summary(ctx, field), join.table))
        return false;
    pd_plan_ddl_create_join_table(&ctx->up, &join);
    pd_plan_ddl_drop_table(&ctx->down, join.table);
    return pd_plan_step_end(ctx);
}

/* Warnings for a default that existing rows receive when the column is added. */
static bool
warn_added_default(PlanContext *ctx, const PdModel *model, const PdField *field)
{
    if (field->default_value.kind == PD_DEFAULT_UUID)
        return pd_plan_warning(
            ctx,
            "%s.%s: adding a column with default=uuid rewrites table \"%s\" under an ACCESS "
            "EXCLUSIVE lock (gen_random_uuid() is volatile); on a big table add it null without a "
            "default, SET DEFAULT for new rows, backfill old rows in batches, then make it not null",
            model->name, field->name, model->table);
    if (field->default_value.kind == PD_DEFAULT_SERIAL)
        return pd_plan_warning(
            ctx,
            "%s.%s: adding a serial column rewrites table \"%s\" under an ACCESS EXCLUSIVE lock, numbering "
            "every existing row from its new sequence (nextval() is volatile); on a big table plan for the "
            "time the rewrite takes",
            model->name, field->name, model->table);
    if (field->default_value.kind == PD_DEFAULT_NOW)
        return pd_plan_warning(
            ctx,
            "%s.%s: default=now on existing table \"%s\" gives every existing row the time of the "
            "migration (evaluated once, no rewrite); if old rows need their own values, add the "
            "column null, backfill in batches, then add the default",
            model->name, field->name, model->table);
    return true;
}

/*
 * A column whose rows already there get backfill=: added with the value as its default and dropped from it
 * (or given the field's own default) in the same transaction. A constant default is PostgreSQL's "missing
 * value" (11 and later): the rows read it without being written, NOT NULL needs no scan, so the whole change
 * is metadata under a short lock, on any size of table; and no row is ever without a value.
 */
static void
add_backfilled_column(PlanContext *ctx, const FieldObjects *objects)
{
    FieldObjects added = *objects;
    added.default_sql = objects->backfill_sql;
    pd_plan_ddl_column(&ctx->up, &added);
    pd_strbuf_append(&ctx->up, ";\n");
    set_default(ctx, &ctx->up, objects, objects->default_sql);
}

bool
pd_plan_alter_add_field(PlanContext *ctx, const PdModel *model, const PdField *field)
{
    if (field->kind == PD_FIELD_MANY_TO_MANY && !pd_model_has_join_table(field))
        return through_field(ctx, PD_OP_ADD_FIELD, "add", model, field);
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return add_join_field(ctx, model, field);
    ModelRef target = pd_plan_new_target_ref(ctx, field);
    FieldObjects objects;
    if (!pd_plan_schema_field(ctx, model->table, field->column, field, &target, &objects))
        return false;
    if (objects.is_not_null && objects.default_sql == NULL && objects.backfill_sql == NULL &&
        !objects.is_identity && objects.serial_type == NULL && objects.generated_sql == NULL)
    {
        pd_error_set(ctx->err, PD_ERR_INVALID_INPUT,
                     "%s:%d:%d: new field %s.%s is not null and has no default, but table \"%s\" exists",
                     field->pos.file != NULL ? field->pos.file : "models", field->pos.line, field->pos.column,
                     model->name, field->name, model->table);
        pd_error_detail(ctx->err, "Rows already in the table would have no value for the new column.");
        return pd_error_hint(
            ctx->err,
            "add backfill=... (a value for the rows already there only), default=... or null "
            "to the field, or run makemigrations --backfill %s.%s=VALUE",
            model->name, field->name);
    }
    bool is_backfilled = objects.backfill_sql != NULL && objects.serial_type == NULL && !objects.is_identity;
    if (!pd_plan_operation(
            ctx, PD_OP_ADD_FIELD, model->name, field->name, field_hint(ctx, model, "add", field->name),
            "add field %s.%s (%s)%s%s", model->name, field->name, pd_plan_schema_field_summary(ctx, field),
            is_backfilled ? ", rows already there get " : "", is_backfilled ? objects.backfill_sql : "") ||
        (!is_backfilled && !warn_added_default(ctx, model, field)))
        return false;
    if (objects.generated_sql != NULL &&
        !pd_plan_warning(ctx,
                         "%s.%s: adding a generated column rewrites table \"%s\" under an ACCESS EXCLUSIVE "
                         "lock (every row's value is computed and stored); on a big table plan for the time "
                         "the rewrite takes",
                         model->name, field->name, model->table))
        return false;
    pd_strbuf_append(&ctx->up, "ALTER TABLE ");
    pd_strbuf_append_identifier(&ctx->up, model->table);
    pd_strbuf_append(&ctx->up, " ADD COLUMN ");
    if (is_backfilled)
        add_backfilled_column(ctx, &objects);
    else
    {
        pd_plan_ddl_column(&ctx->up, &objects);
        pd_strbuf_append(&ctx->up, ";\n");
    }
    add_objects_safely(ctx, &objects, true, NULL, false, true, true, true);
    pd_strbuf_append(&ctx->down, "ALTER TABLE ");
    pd_strbuf_append_identifier(&ctx->down, model->table);
    pd_strbuf_append(&ctx->down, " DROP COLUMN ");
    pd_strbuf_append_identifier(&ctx->down, field->column);
    pd_strbuf_append(&ctx->down, ";\n");
    return pd_plan_step_end(ctx);
}

static bool
drop_join_field(PlanContext *ctx, const PdModel *model, const PdModel *old, const PdField *field)
{
    /* Not renamed with the rest (the field is gone), so the join table keeps its old names. */
    ModelRef owner = pd_plan_schema_model_ref(ctx, old), target = pd_plan_old_target_ref(ctx, field);
    owner.table = model->table;
    JoinObjects join;
    /*
     * Models are diffed in file order, drops before adds within each: a new
     * model, or a join table added by a model earlier in the file, would take
     * the name before this drop frees it (and the down section would meet the
     * same order reversed). A model from this one on may take it.
     */
    char *what = pd_arena_sprintf(ctx->arena, "field %s.%s", model->name, field->name);
    if (what == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    size_t model_number = (size_t)(model - ctx->to->models);
    if (!pd_plan_check_table_freed_late(ctx, field->through_table, what, model_number))
        return false;
    if (!pd_plan_schema_join(ctx, field->through_table, &owner, &target, &join) ||
        !pd_plan_operation(ctx, PD_OP_DROP_FIELD, model->name, field->name,
                           field_hint(ctx, model, "drop", field->name), "drop field %s.%s (join table %s)",
                           model->name, field->name, join.table) ||
        !pd_plan_destructive(ctx, "drop field %s.%s: join table \"%s\" and all its links are deleted",
                             model->name, field->name, join.table))
        return false;
    pd_plan_ddl_drop_table(&ctx->up, join.table);
    pd_plan_ddl_create_join_table(&ctx->down, &join);
    return pd_plan_step_end(ctx);
}

bool
pd_plan_alter_drop_field(PlanContext *ctx, const PdModel *model, const PdModel *old, const PdField *field)
{
    if (field->kind == PD_FIELD_MANY_TO_MANY && !pd_model_has_join_table(field))
        return through_field(ctx, PD_OP_DROP_FIELD, "drop", model, field);
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return drop_join_field(ctx, model, old, field);
    ModelRef target = pd_plan_old_target_ref(ctx, field);
    FieldObjects objects;
    if (!pd_plan_schema_field(ctx, model->table, field->column, field, &target, &objects) ||
        !pd_plan_operation(ctx, PD_OP_DROP_FIELD, model->name, field->name,
                           field_hint(ctx, model, "drop", field->name), "drop field %s.%s", model->name,
                           field->name) ||
        (objects.generated_sql == NULL && /* a generated column's values come back with it */
         !pd_plan_destructive(ctx, "drop field %s.%s: column \"%s\".\"%s\" and all its values are deleted",
                              model->name, field->name, model->table, field->column)))
        return false;
    pd_strbuf_append(&ctx->up, "ALTER TABLE ");
    pd_strbuf_append_identifier(&ctx->up, model->table);
    pd_strbuf_append(&ctx->up, " DROP COLUMN ");
    pd_strbuf_append_identifier(&ctx->up, field->column);
    pd_strbuf_append(&ctx->up, ";\n");
    if (objects.is_not_null && objects.default_sql == NULL && !objects.is_identity &&
        objects.serial_type == NULL && objects.generated_sql == NULL)
        pd_plan_irreversible(
            ctx,
            "dropped field %s.%s was not null without a default: re-adding column \"%s\".\"%s\" "
            "fails on a table with rows",
            model->name, field->name, model->table, field->column);
    pd_strbuf_append(&ctx->down, "ALTER TABLE ");
    pd_strbuf_append_identifier(&ctx->down, model->table);
    pd_strbuf_append(&ctx->down, " ADD COLUMN ");
    pd_plan_ddl_column(&ctx->down, &objects);
    pd_strbuf_append(&ctx->down, ";\n");
    add_objects_plainly(ctx, &ctx->down, &objects, true, NULL, false, true, true, true);
    return pd_plan_step_end(ctx);
}

/*
 * A many-to-many field between its own join table and a through model: the join table made or dropped.
 * Its table becoming the through model's (Django's SeparateDatabaseAndState) is refused, with the steps
 * that keep the rows.
 */
static bool
switch_join_field(PlanContext *ctx, const PdModel *model, const PdField *old_field, const PdField *field)
{
    if (pd_model_has_join_table(field))
        return add_join_field(ctx, model, field);
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (strcmp(ctx->to->models[i].table, old_field->through_table) == 0)
        {
            pd_error_set(ctx->err, PD_ERR_INVALID_INPUT,
                         "field %s.%s: its join table \"%s\" would become the table of through model %s, "
                         "which makemigrations does not plan",
                         model->name, field->name, old_field->through_table, ctx->to->models[i].name);
            return pd_error_hint(
                ctx->err,
                "Keep the rows in three migrations (docs/models.md, \"Through models\"): the "
                "through model with a table of its own, a --empty migration copying the links "
                "from %s into it, then the switch.",
                old_field->through_table);
        }
    const PdModel *old = pd_plan_old_model_of(ctx, model);
    return drop_join_field(ctx, model, old, old_field) &&
           through_field(ctx, PD_OP_ALTER_FIELD, "alter", model, field);
}

/* A many-to-many field pointing elsewhere gets a new join table; the old links cannot follow. */
static bool
alter_join_field(PlanContext *ctx, const PdModel *model, const PdField *old_field, const PdField *field)
{
    if (pd_model_has_join_table(old_field) != pd_model_has_join_table(field))
        return switch_join_field(ctx, model, old_field, field);
    if (!pd_model_has_join_table(field))
        return (pd_plan_same_target(ctx, old_field, field) &&
                strcmp(old_field->through_model_name, field->through_model_name) == 0) ||
               through_field(ctx, PD_OP_ALTER_FIELD, "alter", model, field);
    if (pd_plan_same_target(ctx, old_field, field))
        return true; /* names were brought along by the renames */
    const PdModel *old = pd_plan_old_model_of(ctx, model);
    ModelRef old_owner = pd_plan_schema_model_ref(ctx, old),
             old_target = pd_plan_old_target_ref(ctx, old_field);
    old_owner.table = model->table;
    ModelRef owner = pd_plan_schema_model_ref(ctx, model), target = pd_plan_new_target_ref(ctx, field);
    JoinObjects before, after;
    if (!pd_plan_schema_join(ctx, old_field->through_table, &old_owner, &old_target, &before) ||
        !pd_plan_schema_join(ctx, field->through_table, &owner, &target, &after) ||
        !pd_plan_operation(ctx, PD_OP_ALTER_FIELD, model->name, field->name,
                           field_hint(ctx, model, "alter", field->name), "alter field %s.%s: %s[] -> %s[]",
                           model->name, field->name, old_field->target_name, field->target_name) ||
        !pd_plan_destructive(ctx, "alter field %s.%s: join table \"%s\" and all its links are deleted",
                             model->name, field->name, before.table))
        return false;
    pd_plan_ddl_drop_table(&ctx->up, before.table);
    pd_plan_ddl_create_join_table(&ctx->up, &after);
    pd_plan_ddl_drop_table(&ctx->down, after.table);
    pd_plan_ddl_create_join_table(&ctx->down, &before);
    return pd_plan_step_end(ctx);
}

/* What differs between a column's old and new objects (both under the new names). */
typedef struct FieldChange
{
    bool is_type;
    bool is_default;
    bool is_null;
    bool is_fk;
    bool is_deferrable; /* the key stays, only its deferrability changes: ALTER CONSTRAINT */
    bool is_check;
    bool is_unique_added, is_unique_removed;
    bool is_index_added, is_index_removed;
    bool is_search;  /* the search index is another (added, dropped, trigram <-> fulltext, configuration) */
    PdKindCast type; /* from the kind table's casts */
    const FieldObjects
        *was_generated; /* generated(...) removed: the column as it was (+down makes it again) */
} FieldChange;

static FieldChange
compare_objects(const FieldObjects *a, const FieldObjects *b)
{
    FieldChange change = {0};
    change.is_type = !pd_kind_column_equal(&a->type, &b->type);
    change.is_default =
        !same_text(a->default_sql, b->default_sql) || (a->serial_type == NULL) != (b->serial_type == NULL);
    change.is_null = a->is_not_null != b->is_not_null;
    change.is_fk = !same_text(a->fk_reference_sql, b->fk_reference_sql);
    change.is_deferrable = !change.is_fk && a->fk_name != NULL && b->fk_name != NULL &&
                           a->is_fk_deferrable != b->is_fk_deferrable;
    /* A check compares the column with literals typed for it: a new type needs it re-made. */
    for (size_t i = 0; i < a->check_count; i++)
        change.is_check |= !is_check_kept(a, i, b, change.is_type);
    for (size_t i = 0; i < b->check_count; i++)
        change.is_check |= !is_check_kept(b, i, a, change.is_type);
    change.is_unique_added = a->unique_name == NULL && b->unique_name != NULL;
    change.is_unique_removed = a->unique_name != NULL && b->unique_name == NULL;
    change.is_index_added = a->index_name == NULL && b->index_name != NULL;
    change.is_index_removed = a->index_name != NULL && b->index_name == NULL;
    change.is_search = !same_text(a->search_index_name, b->search_index_name) ||
                       !same_text(a->search_index_sql, b->search_index_sql);
    if (change.is_type)
        change.type = pd_kind_cast(&a->type, &b->type);
    return change;
}

static bool
has_change(const FieldChange *c)
{
    return c->is_type || c->is_default || c->is_null || c->is_fk || c->is_deferrable || c->is_check ||
           c->is_unique_added || c->is_unique_removed || c->is_index_added || c->is_index_removed ||
           c->is_search || c->was_generated != NULL;
}

static const char *
describe_change(PlanContext *ctx, const FieldObjects *a, const FieldObjects *b, const FieldChange *c)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    if (c->was_generated != NULL)
        pd_strbuf_appendf(&buf, ", generated(%s) -> stored (values kept)", c->was_generated->generated_sql);
    if (c->is_type)
        pd_strbuf_appendf(&buf, ", type %s -> %s", a->type_sql, b->type_sql);
    if (c->is_null && b->is_not_null && pd_plan_notnull_fill(b) != NULL)
        pd_strbuf_appendf(&buf, ", null -> not null (rows holding NULL get %s)", pd_plan_notnull_fill(b));
    else if (c->is_null)
        pd_strbuf_append(&buf, b->is_not_null ? ", null -> not null" : ", not null -> null");
    if (c->is_default)
        pd_strbuf_appendf(&buf, ", default %s -> %s", a->default_sql ? a->default_sql : "none",
                          b->default_sql ? b->default_sql : "none");
    if (c->is_fk && a->fk_sql != NULL && b->fk_sql != NULL && a->field->target_name != NULL &&
        strcmp(a->field->target_name, b->field->target_name) == 0)
        pd_strbuf_appendf(&buf, ", on_delete %s -> %s", pd_model_on_delete_name(a->field->on_delete),
                          pd_model_on_delete_name(b->field->on_delete));
    else if (c->is_fk)
        pd_strbuf_appendf(&buf, ", references %s -> %s", a->fk_sql ? a->field->target_name : "nothing",
                          b->fk_sql ? b->field->target_name : "nothing");
    if (c->is_deferrable)
        pd_strbuf_append(&buf, b->is_fk_deferrable ? ", deferrable" : ", not deferrable");
    if (c->is_check)
        pd_strbuf_append(&buf, b->check_count > 0 ? ", checks changed" : ", checks dropped");
    if (c->is_unique_added || c->is_unique_removed)
        pd_strbuf_append(&buf, c->is_unique_added ? ", unique added" : ", unique removed");
    if (c->is_index_added || c->is_index_removed)
        pd_strbuf_append(&buf, c->is_index_added ? ", index added" : ", index removed");
    if (c->is_search)
        pd_strbuf_appendf(&buf, ", search index %s -> %s",
                          a->search_index_name ? a->search_index_name : "none",
                          b->search_index_name ? b->search_index_name : "none");
    const char *text = pd_strbuf_text(&buf);
    return text != NULL && text[0] != '\0' ? text + 2 : "";
}

static bool
record_alter(PlanContext *ctx, const PdModel *model, const PdField *field, const FieldObjects *a,
             const FieldObjects *b, const FieldChange *c, bool is_expanded)
{
    if (!pd_plan_operation(ctx, PD_OP_ALTER_FIELD, model->name, field->name,
                           field_hint(ctx, model, "alter", field->name), "alter field %s.%s: %s%s",
                           model->name, field->name, describe_change(ctx, a, b, c),
                           is_expanded ? " (expand, backfill, swap)" : ""))
        return false;
    if (c->is_type && c->type.loss != NULL &&
        !pd_plan_destructive(ctx, "alter field %s.%s: type %s -> %s: %s", model->name, field->name,
                             a->type_sql, b->type_sql, c->type.loss))
        return false;
    /* +down casts back, and PostgreSQL may have no cast that way (time to timestamptz). */
    if (c->is_type && !pd_kind_cast(&b->type, &a->type).is_castable)
        pd_plan_irreversible(
            ctx,
            "altered field %s.%s: type %s cannot change back to %s (PostgreSQL has no cast that "
            "way)",
            model->name, field->name, b->type_sql, a->type_sql);
    if (c->is_type && c->type.is_rewrite && !is_expanded &&
        !pd_plan_warning(
            ctx,
            "%s.%s: changing the type from %s to %s rewrites table \"%s\" and its indexes under an "
            "ACCESS EXCLUSIVE lock; on a big table run makemigrations --expand: a new column, filled in "
            "batches, swapped in under a short lock",
            model->name, field->name, a->type_sql, b->type_sql, model->table))
        return false;
    return true;
}

/* +up: drop what changes, alter the column, add back in safe forms. */
static bool
write_alter_up(PlanContext *ctx, const PdModel *model, const FieldObjects *a, const FieldObjects *b,
               const FieldChange *c)
{
    if (c->was_generated != NULL)
        alter_column(&ctx->up, b, "DROP EXPRESSION");
    if (c->is_fk && a->fk_name != NULL)
        pd_plan_ddl_drop_constraint(&ctx->up, a->table, a->fk_name);
    drop_checks(&ctx->up, a, b, c->is_type);
    if (c->is_unique_removed)
        pd_plan_ddl_drop_constraint(&ctx->up, a->table, a->unique_name);
    if (c->is_index_removed)
        pd_plan_ddl_drop_index(&ctx->concurrently, a->index_name, true);
    if (c->is_search && a->search_index_name != NULL)
        pd_plan_ddl_drop_index(&ctx->concurrently, a->search_index_name, true);
    if (c->is_type)
    {
        if (a->default_sql != NULL) /* an old default may not cast to the new type */
            set_default(ctx, &ctx->up, a, NULL);
        set_type(ctx, &ctx->up, b, b->type_sql);
        if (b->default_sql != NULL)
            set_default(ctx, &ctx->up, b, b->default_sql);
    }
    else if (c->is_default)
        set_default(ctx, &ctx->up, b, b->default_sql);
    if (c->is_null && !b->is_not_null)
        alter_column(&ctx->up, b, "DROP NOT NULL");
    /* Rows that hold NULL get backfill= or the default first (in batches), or the check fails on them. */
    if (c->is_null && b->is_not_null &&
        !pd_plan_notnull_set(ctx, b->table, pd_plan_keys_batch_column(model), b->column,
                             pd_plan_notnull_fill(b)))
        return false;
    if (c->is_deferrable)
        pd_plan_ddl_alter_constraint_deferrable(&ctx->up, b->table, b->fk_name, b->is_fk_deferrable);
    add_objects_safely(ctx, b, c->is_fk, a, c->is_type, c->is_unique_added, c->is_index_added, c->is_search);
    return true;
}

/* +down: the same, backwards. */
static void
write_alter_down(PlanContext *ctx, const FieldObjects *a, const FieldObjects *b, const FieldChange *c)
{
    PdStrbuf *down = &ctx->down;
    if (c->is_search && b->search_index_name != NULL)
        pd_plan_ddl_drop_index(down, b->search_index_name, false);
    if (c->is_index_added)
        pd_plan_ddl_drop_index(down, b->index_name, false);
    if (c->is_unique_added)
        pd_plan_ddl_drop_constraint(down, b->table, b->unique_name);
    drop_checks(down, b, a, c->is_type);
    if (c->is_fk && b->fk_name != NULL)
        pd_plan_ddl_drop_constraint(down, b->table, b->fk_name);
    if (c->is_deferrable)
        pd_plan_ddl_alter_constraint_deferrable(down, a->table, a->fk_name, a->is_fk_deferrable);
    if (c->is_null && a->is_not_null)
        alter_column(down, a, "SET NOT NULL");
    else if (c->is_null)
        pd_plan_notnull_undo(ctx, down, a->table, a->column);
    if (c->is_type)
    {
        if (b->default_sql != NULL)
            set_default(ctx, down, b, NULL);
        set_type(ctx, down, a, a->type_sql);
        if (a->default_sql != NULL)
            set_default(ctx, down, a, a->default_sql);
    }
    else if (c->is_default)
        set_default(ctx, down, a, a->default_sql);
    add_objects_plainly(ctx, down, a, c->is_fk, b, c->is_type, c->is_unique_removed, c->is_index_removed,
                        c->is_search);
    if (c->was_generated == NULL)
        return;
    /* PostgreSQL 15 cannot make a column generated again: it is dropped and added back, values recomputed. */
    pd_strbuf_append(down, "ALTER TABLE ");
    pd_strbuf_append_identifier(down, a->table);
    pd_strbuf_append(down, " DROP COLUMN ");
    pd_strbuf_append_identifier(down, a->column);
    pd_strbuf_append(down, ";\nALTER TABLE ");
    pd_strbuf_append_identifier(down, a->table);
    pd_strbuf_append(down, " ADD COLUMN ");
    pd_plan_ddl_column(down, c->was_generated);
    pd_strbuf_append(down, ";\n");
    add_objects_plainly(ctx, down, c->was_generated, true, NULL, false, true, true, true);
}

/* What names a column besides its field's own options (rebuilt with it): lost when the column is made again.
 */
static const char *
column_dependent(const PdModel *model, const PdField *field)
{
    if (field->comment != NULL)
        return "its comment=";
    for (size_t i = 0; i < model->key_field_count; i++)
        if (strcmp(model->key_fields[i], field->name) == 0)
            return "primary_key(...)";
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        bool is_named = pd_plan_generated_uses(index->where, field->name);
        for (size_t k = 0; k < index->field_count && !is_named; k++)
            is_named = strcmp(index->fields[k], field->name) == 0;
        if (is_named)
            return index->is_unique ? "a unique(...)" : "an index(...)";
    }
    for (size_t i = 0; i < model->check_count; i++)
        if (pd_plan_generated_uses(model->checks[i].expr, field->name))
            return "a check(...)";
    return NULL;
}

bool
pd_plan_alter_check_remade(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *field)
{
    const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
    const char *what = column_dependent(model, field);
    if (what == NULL && old_field != NULL)
        what = column_dependent(old, old_field);
    if (what == NULL)
        return true;
    pd_plan_input_error(
        ctx, field->pos,
        "field %s.%s: its column is dropped and added again for generated(...) (PostgreSQL 15 "
        "cannot change a column's generation), which would drop %s naming it, expected "
        "nothing but the field's own options to name it in this migration",
        model->name, field->name, what);
    return pd_error_hint(ctx->err,
                         "Take %s out (and run makemigrations), change generated(...) (and run "
                         "makemigrations), then put it back (and run makemigrations).",
                         what);
}

/*
 * PostgreSQL 15 can neither change a generation expression nor make a plain column generated: the column is
 * dropped and added again (its objects with it), the values computed anew. A generated column's values come
 * back, so only a plain column's loss is destructive (pd_plan_alter_drop_field says so).
 */
static bool
replace_generated(PlanContext *ctx, const PdModel *model, const PdField *old_field, const PdField *field,
                  const FieldObjects *a)
{
    if (a->generated_sql != NULL) /* dropped already, before the other drops (pd_plan_alter_drop_generated) */
        return pd_plan_alter_add_field(ctx, model, field);
    if (!pd_plan_alter_check_remade(ctx, pd_plan_old_model_of(ctx, model), model, field))
        return false;
    return pd_plan_alter_drop_field(ctx, model, pd_plan_old_model_of(ctx, model), old_field) &&
           pd_plan_alter_add_field(ctx, model, field);
}

bool
pd_plan_alter_drop_generated(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    for (size_t f = 0; f < old->field_count; f++)
    {
        const PdField *old_field = &old->fields[f];
        const PdField *field = pd_plan_new_field_of(ctx, model, old_field);
        if (old_field->generated == NULL || (field != NULL && field->generated == NULL) ||
            (field != NULL &&
             same_text(pd_plan_generated_sql(ctx, old_field), pd_plan_generated_sql(ctx, field))))
            continue;
        if (field != NULL && !pd_plan_alter_check_remade(ctx, old, model, field))
            return false;
        if (field != NULL &&
            !pd_plan_warning(
                ctx,
                "%s.%s: PostgreSQL 15 cannot change a generation expression: column \"%s\" is "
                "dropped and added again with the new one, every row's value recomputed (no data "
                "lost; the table is rewritten under an ACCESS EXCLUSIVE lock)",
                model->name, field->name, field->column))
            return false;
        if (!pd_plan_alter_drop_field(ctx, model, old, old_field))
            return false;
    }
    return true;
}

/*
 * A serial column's sequence belongs to it: PostgreSQL makes one only when the column is made, and neither
 * a default that becomes or stops being serial nor a type change under it (the sequence keeps its own type)
 * has one statement that does it right. Refused with the position: a hand migration says what is meant.
 */
static bool
check_serial_kept(PlanContext *ctx, const PdModel *model, const PdField *field, const FieldObjects *a,
                  const FieldObjects *b, const FieldChange *change)
{
    bool is_serial_changed = (a->serial_type == NULL) != (b->serial_type == NULL);
    if (!is_serial_changed && !(change->is_type && b->serial_type != NULL))
        return true;
    if (is_serial_changed)
        pd_plan_input_error(ctx, field->pos, "field %s.%s cannot change its default %s serial", model->name,
                            field->name, b->serial_type != NULL ? "to" : "from");
    else
        pd_plan_input_error(ctx, field->pos,
                            "field %s.%s cannot change type from %s to %s while it is serial", model->name,
                            field->name, a->type_sql, b->type_sql);
    pd_error_detail(
        ctx->err, "PostgreSQL makes a serial column's sequence with the column, and the sequence keeps its "
                  "own type: no statement turns a column into a serial one or back, or changes both types.");
    return pd_error_hint(ctx->err,
                         "Keep the field's default and type as they were, and write a hand migration "
                         "for this change.");
}

/*
 * --expand carries a type change alone: the new column is made as the field will be, and the old one dropped
 * whole, so what else changes with it (nullability, unique, index, a relation's target) is refused with the
 * way out rather than half carried. Checks and the default may change: they are made again at the swap.
 */
static bool
check_expandable(PlanContext *ctx, const PdModel *model, const PdField *field, const FieldChange *c)
{
    const char *why = pd_kind_info(field->kind)->family == PD_FAMILY_RELATION
                          ? "a relation's type follows the key of its target"
                      : field->generated != NULL
                          ? "a generated column is computed by PostgreSQL, not copied by a trigger"
                      : c->is_null ? "it also changes between null and not null"
                      : c->is_unique_added || c->is_unique_removed ? "its unique constraint also changes"
                      : c->is_index_added || c->is_index_removed   ? "its index also changes"
                                                                   : NULL;
    if (why == NULL &&
        (c->is_search || field->search == PD_SEARCH_TRIGRAM || field->search == PD_SEARCH_FULLTEXT))
        why = "its search index is not built again on the new column";
    if (why == NULL)
        return true;
    pd_plan_input_error(ctx, field->pos, "field %s.%s cannot change type by --expand: %s", model->name,
                        field->name, why);
    return pd_error_hint(
        ctx->err, "Make the other change in a migration of its own, before or after this one, or leave "
                  "out --expand (ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock).");
}

/* PostgreSQL cannot change the type of a column a generated column is computed from. */
static bool
check_no_generated_user(PlanContext *ctx, const PdModel *model, const PdField *field)
{
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *user = &model->fields[i];
        if (user->generated == NULL || !pd_plan_generated_uses(user->generated, field->name))
            continue;
        pd_plan_input_error(ctx, field->pos,
                            "field %s.%s changes type while generated field %s is computed from it, expected "
                            "the generated field out of the way (PostgreSQL cannot change the type of a "
                            "column a generated column uses)",
                            model->name, field->name, user->name);
        return pd_error_hint(ctx->err,
                             "Drop %s (or take generated(...) off it) and change %s's type in one migration, "
                             "then add the generated field back in the next.",
                             user->name, field->name);
    }
    return true;
}

bool
pd_plan_alter_field(PlanContext *ctx, const PdModel *model, const PdField *old_field, const PdField *field)
{
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return alter_join_field(ctx, model, old_field, field);
    ModelRef old_target = pd_plan_old_target_ref(ctx, old_field), target = pd_plan_new_target_ref(ctx, field);
    FieldObjects a, b;
    if (!pd_plan_schema_field(ctx, model->table, field->column, old_field, &old_target, &a) ||
        !pd_plan_schema_field(ctx, model->table, field->column, field, &target, &b))
        return false;
    if (a.fk_name != NULL && b.fk_name != NULL)
        a.fk_name = b.fk_name; /* the renames (rename.c) gave the key its new name already */
    FieldObjects generated = a;
    if (b.generated_sql != NULL && !same_text(a.generated_sql, b.generated_sql))
        return replace_generated(ctx, model, old_field, field, &a);
    if (b.generated_sql == NULL)
        a.generated_sql = NULL; /* generated -> stored: DROP EXPRESSION, then the other changes */
    FieldChange change = compare_objects(&a, &b);
    change.was_generated = generated.generated_sql != NULL && b.generated_sql == NULL ? &generated : NULL;
    if (!has_change(&change))
        return true;
    if (!check_serial_kept(ctx, model, field, &a, &b, &change))
        return false;
    if (change.is_type && !change.type.is_castable)
    {
        pd_error_set(ctx->err, PD_ERR_INVALID_INPUT, "%s:%d:%d: field %s.%s cannot change type from %s to %s",
                     field->pos.file != NULL ? field->pos.file : "models", field->pos.line, field->pos.column,
                     model->name, field->name, a.type_sql, b.type_sql);
        pd_error_detail(ctx->err, "PostgreSQL has no cast between these types.");
        return pd_error_hint(ctx->err, "add a new field and drop the old one, or write a hand migration");
    }
    if (change.is_type && !check_no_generated_user(ctx, model, field))
        return false;
    bool is_expanded = ctx->is_expand && change.is_type && change.type.is_rewrite;
    if (is_expanded && !check_expandable(ctx, model, field, &change))
        return false;
    if (!record_alter(ctx, model, field, &a, &b, &change, is_expanded))
        return false;
    if (is_expanded)
        return pd_plan_expand_type(ctx, model, &a, &b) && pd_plan_step_end(ctx);
    if (!write_alter_up(ctx, model, &a, &b, &change))
        return false;
    write_alter_down(ctx, &a, &b, &change);
    return pd_plan_step_end(ctx);
}
