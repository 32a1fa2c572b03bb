/*
 * expand.c - a type change that would rewrite the table under an ACCESS
 * EXCLUSIVE lock, planned instead as expand, backfill and swap
 * (makemigrations --expand), in one migration:
 *   +up           a new column of the new type, "<column>_NEW", and a trigger
 *                 that sets it from the old column on every insert and update;
 *   +up batched   the rows already there filled, $1 at a time;
 *   concurrently  the new column's NOT NULL check validated and its indexes
 *                 built (under temporary names), then the swap in one DO block:
 *                 trigger and function dropped, the old column dropped, the new
 *                 one renamed, NOT NULL set (the valid check proves it), the
 *                 default set, the indexes renamed or attached as constraints,
 *                 the checks added NOT VALID; then the checks validated.
 * The swap changes only the catalog, so its lock is held for a moment; the
 * application sees one column of one name throughout, as with ALTER COLUMN
 * TYPE. Every step can run again (IF NOT EXISTS, a guard on the new column),
 * and +down is right however far the concurrent part got: what the expansion
 * made is dropped IF EXISTS, then the type is changed back as before. Names
 * made here hold capitals ("_NEW", "_EXPAND"), which no name of the model
 * language can, so they never meet a model's own.
 */
#include <stdio.h>
#include <string.h>

#include "plan.h"

typedef struct ExpandNames
{
    const char *column;   /* the new column while it fills: <column>_NEW */
    const char *function; /* the trigger and its function: <table>_<column>_EXPAND */
    const char *not_null; /* the check that stands for NOT NULL on the new column */
} ExpandNames;

/* A temporary name for an index that becomes `name` at the swap: <name>_NEW, cut by the long-name rule. */
static const char *
temporary_name(PlanContext *ctx, const char *name)
{
    return pd_model_constraint_name(ctx->arena, name, NULL, "NEW");
}

static const char *
quoted(PlanContext *ctx, const char *name)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append_identifier(&buf, name);
    return pd_strbuf_text(&buf);
}

/* "column"::type, the conversion ALTER COLUMN TYPE would make. */
static const char *
converted(PlanContext *ctx, const char *column, const char *type_sql)
{
    return pd_arena_sprintf(ctx->arena, "%s::%s", quoted(ctx, column), type_sql);
}

/* text with indent before each line. */
static void
append_indented(PdStrbuf *out, const char *text, const char *indent)
{
    for (const char *line = text; *line != '\0';)
    {
        size_t length = strcspn(line, "\n");
        pd_strbuf_append(out, indent);
        pd_strbuf_append_length(out, line, length);
        pd_strbuf_append_char(out, '\n');
        line += length + (line[length] == '\n');
    }
}

/* +up: the new column, and the trigger that keeps it in step with every write from the commit on. */
static void
write_expand(PlanContext *ctx, const FieldObjects *b, const ExpandNames *names)
{
    PdStrbuf *up = &ctx->up;
    pd_strbuf_append(up, "ALTER TABLE ");
    pd_strbuf_append_identifier(up, b->table);
    pd_strbuf_append(up, " ADD COLUMN ");
    pd_strbuf_append_identifier(up, names->column);
    pd_strbuf_appendf(up, " %s;\n", b->type_sql);
    PdStrbuf body;
    pd_strbuf_init(&body, ctx->arena);
    pd_strbuf_appendf(&body, "BEGIN\n    NEW.%s := NEW.%s;\n    RETURN NEW;\nEND\n",
                      quoted(ctx, names->column), converted(ctx, b->column, b->type_sql));
    const char *text = pd_strbuf_text(&body) != NULL ? pd_strbuf_text(&body) : "";
    char tag[32] = "$prodata$";
    for (int n = 1; strstr(text, tag) != NULL; n++)
        snprintf(tag, sizeof(tag), "$prodata%d$", n);
    pd_strbuf_append(up, "CREATE FUNCTION ");
    pd_strbuf_append_identifier(up, names->function);
    pd_strbuf_appendf(up, "() RETURNS trigger LANGUAGE plpgsql AS %s\n%s%s;\n", tag, text, tag);
    pd_strbuf_append(up, "CREATE TRIGGER ");
    pd_strbuf_append_identifier(up, names->function);
    pd_strbuf_append(up, " BEFORE INSERT OR UPDATE ON ");
    pd_strbuf_append_identifier(up, b->table);
    pd_strbuf_append(up, " FOR EACH ROW EXECUTE FUNCTION ");
    pd_strbuf_append_identifier(up, names->function);
    pd_strbuf_append(up, "();\n");
}

/* +up batched: the rows already there, converted $1 at a time (the trigger would do the same). */
static void
write_backfill(PlanContext *ctx, const char *key, const FieldObjects *b, const ExpandNames *names)
{
    const char *pending = pd_arena_sprintf(ctx->arena, "%s IS NULL AND %s IS NOT NULL",
                                           quoted(ctx, names->column), quoted(ctx, b->column));
    pd_plan_ddl_batched_update(&ctx->batched, b->table, key, names->column,
                               converted(ctx, b->column, b->type_sql), pending);
}

/* Whether a model-level index names the field. */
static bool
has_field(const PdIndex *index, const char *field)
{
    for (size_t k = 0; k < index->field_count; k++)
        if (strcmp(index->fields[k], field) == 0)
            return true;
    return false;
}

/*
 * The next model-level index from *cursor on that holds the expanded field
 * and was there before (it is rebuilt under a temporary name and takes its
 * own at the swap): *index and its objects, *index NULL at the end. False
 * when its objects cannot be made (the error in ctx).
 */
static bool
next_expanded_index(PlanContext *ctx, const PdModel *model, const FieldObjects *b, size_t *cursor,
                    const PdIndex **index, IndexObjects *objects)
{
    for (*index = NULL; *cursor < model->index_count; (*cursor)++)
    {
        const PdIndex *candidate = &model->indexes[*cursor];
        if (!has_field(candidate, b->field->name) || pd_plan_old_index_of(ctx, model, candidate) == NULL)
            continue;
        (*cursor)++;
        *index = candidate;
        return pd_plan_schema_index(ctx, model, candidate, objects);
    }
    return true;
}

/* The columns of a model-level index with the new column in place of the old one: ("a", "x_NEW"). */
static const char *
expanded_columns(PlanContext *ctx, const PdModel *model, const PdIndex *index, const FieldObjects *b,
                 const ExpandNames *names)
{
    const char **columns = pd_arena_calloc(ctx->arena, index->field_count + 1, sizeof(*columns));
    if (columns == NULL)
        return NULL;
    for (size_t k = 0; k < index->field_count; k++)
    {
        const PdField *field = pd_model_find_field(model, index->fields[k]);
        columns[k] = strcmp(index->fields[k], b->field->name) == 0 ? names->column
                     : field != NULL && field->column != NULL      ? field->column
                                                                   : index->fields[k];
    }
    return pd_plan_schema_index_columns(ctx, index, columns);
}

/*
 * Concurrently, before the swap: the new column's NOT NULL check validated and its indexes built under
 * temporary names, those of the field and those of the model-level entries that name it and stay (new
 * entries are built after the swap by index.c, dropped ones are gone before).
 */
static bool
write_builds(PlanContext *ctx, const PdModel *model, const FieldObjects *b, const ExpandNames *names)
{
    if (b->is_not_null)
    {
        pd_plan_ddl_add_constraint_guarded(
            &ctx->concurrently, b->table, names->not_null,
            pd_arena_sprintf(ctx->arena, "CHECK (%s IS NOT NULL)", quoted(ctx, names->column)));
        pd_plan_ddl_validate_constraint(&ctx->concurrently, b->table, names->not_null);
    }
    const char *columns = pd_plan_ddl_columns(ctx->arena, names->column);
    if (b->unique_name != NULL)
        pd_plan_ddl_create_index(&ctx->concurrently, b->table, temporary_name(ctx, b->unique_name), columns,
                                 true, true);
    if (b->index_name != NULL)
        pd_plan_ddl_create_index(&ctx->concurrently, b->table, temporary_name(ctx, b->index_name),
                                 pd_plan_schema_field_index_columns(ctx->arena, b->field, names->column),
                                 false, true);
    const PdIndex *index;
    IndexObjects objects;
    bool is_read = true;
    for (size_t cursor = 0;
         (is_read = next_expanded_index(ctx, model, b, &cursor, &index, &objects)) && index;)
        pd_plan_ddl_create_index(&ctx->concurrently, b->table, temporary_name(ctx, objects.name),
                                 expanded_columns(ctx, model, index, b, names), index->is_unique, true);
    if (!is_read)
        return false;
    return !pd_arena_failed(ctx->arena) || pd_arena_error(ctx->arena, ctx->err);
}

/* In the swap: the index built as `temporary` becomes `name`, a unique one as the constraint of that name. */
static void
take_index(PdStrbuf *out, const char *table, const char *temporary, const char *name, bool is_unique)
{
    if (is_unique)
    {
        pd_strbuf_append(out, "ALTER TABLE ");
        pd_strbuf_append_identifier(out, table);
        pd_strbuf_append(out, " ADD CONSTRAINT ");
        pd_strbuf_append_identifier(out, name);
        pd_strbuf_append(out, " UNIQUE USING INDEX ");
        pd_strbuf_append_identifier(out, temporary);
        pd_strbuf_append(out, ";\n");
        return;
    }
    pd_plan_ddl_rename_index(out, temporary, name);
}

/* The statements of the swap, in the order they run inside its one transaction. */
static bool
swap_statements(PlanContext *ctx, PdStrbuf *out, const PdModel *model, const FieldObjects *b,
                const ExpandNames *names)
{
    pd_strbuf_append(out, "DROP TRIGGER ");
    pd_strbuf_append_identifier(out, names->function);
    pd_strbuf_append(out, " ON ");
    pd_strbuf_append_identifier(out, b->table);
    pd_strbuf_append(out, ";\nDROP FUNCTION ");
    pd_strbuf_append_identifier(out, names->function);
    pd_strbuf_append(out, "();\nALTER TABLE ");
    pd_strbuf_append_identifier(out, b->table);
    pd_strbuf_append(out, " DROP COLUMN ");
    pd_strbuf_append_identifier(out, b->column);
    pd_strbuf_append(out, ";\n");
    pd_plan_ddl_rename_column(out, b->table, names->column, b->column);
    if (b->is_not_null)
    {
        pd_plan_ddl_alter_column(out, b->table, b->column, "SET NOT NULL");
        pd_plan_ddl_drop_constraint(out, b->table, names->not_null);
    }
    if (b->default_sql != NULL)
        pd_plan_ddl_alter_column(out, b->table, b->column,
                                 pd_arena_sprintf(ctx->arena, "SET DEFAULT %s", b->default_sql));
    if (b->unique_name != NULL)
        take_index(out, b->table, temporary_name(ctx, b->unique_name), b->unique_name, true);
    if (b->index_name != NULL)
        take_index(out, b->table, temporary_name(ctx, b->index_name), b->index_name, false);
    const PdIndex *index;
    IndexObjects objects;
    bool is_read = true;
    for (size_t cursor = 0;
         (is_read = next_expanded_index(ctx, model, b, &cursor, &index, &objects)) && index;)
        take_index(out, b->table, temporary_name(ctx, objects.name), objects.name, index->is_unique);
    if (!is_read)
        return false;
    for (size_t i = 0; i < b->check_count; i++)
        pd_plan_ddl_add_constraint(out, b->table, b->check_names[i],
                                   pd_arena_sprintf(ctx->arena, "CHECK (%s)", b->check_sqls[i]), true);
    return true;
}

/*
 * Concurrently: the swap, one DO block (one transaction) that runs only while the new column is there, so a
 * second run does nothing; then the checks, added NOT VALID in it, validated.
 */
static bool
write_swap(PlanContext *ctx, const PdModel *model, const FieldObjects *b, const ExpandNames *names)
{
    PdStrbuf statements, body;
    pd_strbuf_init(&statements, ctx->arena);
    pd_strbuf_init(&body, ctx->arena);
    if (!swap_statements(ctx, &statements, model, b, names))
        return false;
    pd_strbuf_append(&body, "BEGIN\n    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = ");
    pd_strbuf_append_literal(&body, quoted(ctx, b->table));
    pd_strbuf_append(&body, "::regclass AND attname = ");
    pd_strbuf_append_literal(&body, names->column);
    pd_strbuf_append(&body, " AND NOT attisdropped) THEN\n");
    append_indented(&body, pd_strbuf_text(&statements) != NULL ? pd_strbuf_text(&statements) : "",
                    "        ");
    pd_strbuf_append(&body, "    END IF;\nEND\n");
    pd_plan_ddl_do_block(&ctx->concurrently, pd_strbuf_text(&body) != NULL ? pd_strbuf_text(&body) : "");
    for (size_t i = 0; i < b->check_count; i++)
        pd_plan_ddl_validate_constraint(&ctx->concurrently, b->table, b->check_names[i]);
    return !pd_arena_failed(ctx->arena) || pd_arena_error(ctx->arena, ctx->err);
}

/*
 * +down: what the expansion made, dropped if it is still there (a concurrent part that stopped before the
 * swap), then, only once the swap is done (the column has the new type), the column as it was: the checks
 * and default dropped, the type changed back, the old default and checks put back. A column never swapped is
 * not touched: its type, checks and default are the old ones, and even an ALTER COLUMN TYPE to the type it
 * has is refused while a view reads it.
 */
static void
write_down(PlanContext *ctx, const FieldObjects *a, const FieldObjects *b, const ExpandNames *names)
{
    PdStrbuf *down = &ctx->down;
    pd_strbuf_append(down, "DROP TRIGGER IF EXISTS ");
    pd_strbuf_append_identifier(down, names->function);
    pd_strbuf_append(down, " ON ");
    pd_strbuf_append_identifier(down, a->table);
    pd_strbuf_append(down, ";\nDROP FUNCTION IF EXISTS ");
    pd_strbuf_append_identifier(down, names->function);
    pd_strbuf_append(down, "();\nALTER TABLE ");
    pd_strbuf_append_identifier(down, a->table);
    pd_strbuf_append(down, " DROP COLUMN IF EXISTS ");
    pd_strbuf_append_identifier(down, names->column);
    pd_strbuf_append(down, ";\n");
    PdStrbuf back, body;
    pd_strbuf_init(&back, ctx->arena);
    pd_strbuf_init(&body, ctx->arena);
    for (size_t i = 0; i < b->check_count; i++)
        pd_plan_ddl_drop_constraint(&back, b->table, b->check_names[i]);
    if (b->default_sql != NULL)
        pd_plan_ddl_alter_column(&back, a->table, a->column, "DROP DEFAULT");
    pd_plan_ddl_alter_column(&back, a->table, a->column,
                             pd_arena_sprintf(ctx->arena, "TYPE %s USING %s", a->type_sql,
                                              converted(ctx, a->column, a->type_sql)));
    if (a->default_sql != NULL)
        pd_plan_ddl_alter_column(&back, a->table, a->column,
                                 pd_arena_sprintf(ctx->arena, "SET DEFAULT %s", a->default_sql));
    for (size_t i = 0; i < a->check_count; i++)
        pd_plan_ddl_add_constraint(&back, a->table, a->check_names[i],
                                   pd_arena_sprintf(ctx->arena, "CHECK (%s)", a->check_sqls[i]), false);
    pd_strbuf_append(
        &body, "BEGIN\n    IF (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = ");
    pd_strbuf_append_literal(&body, quoted(ctx, a->table));
    pd_strbuf_append(&body, "::regclass AND attname = ");
    pd_strbuf_append_literal(&body, a->column);
    pd_strbuf_append(&body, " AND NOT attisdropped) = ");
    pd_strbuf_append_literal(&body, b->type_sql);
    pd_strbuf_append(&body, " THEN\n");
    append_indented(&body, pd_strbuf_text(&back) != NULL ? pd_strbuf_text(&back) : "", "        ");
    pd_strbuf_append(&body, "    END IF;\nEND\n");
    pd_plan_ddl_do_block(down, pd_strbuf_text(&body) != NULL ? pd_strbuf_text(&body) : "");
}

bool
pd_plan_expand_type(PlanContext *ctx, const PdModel *model, const FieldObjects *a, const FieldObjects *b)
{
    ExpandNames names;
    names.column = pd_arena_sprintf(ctx->arena, "%s_NEW", b->column);
    names.function = pd_model_constraint_name(ctx->arena, b->table, b->column, "EXPAND");
    names.not_null = names.column != NULL ? pd_plan_notnull_check_name(ctx, b->table, names.column) : NULL;
    if (names.column == NULL || names.function == NULL || names.not_null == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (!pd_plan_warning(
            ctx,
            "%s.%s: type %s -> %s by expand, backfill and swap: until the swap, every write to "
            "table \"%s\" also converts the value into column \"%s\" (trigger \"%s\"), and a "
            "value the new type refuses fails that write and stops the backfill; the swap takes "
            "an ACCESS EXCLUSIVE lock for a moment (no rewrite, no scan); the old column's space "
            "comes back only as rows are written again; +down, once the swap is done, is ALTER COLUMN TYPE "
            "back, a rewrite",
            model->name, b->field->name, a->type_sql, b->type_sql, b->table, names.column, names.function))
        return false;
    write_expand(ctx, b, &names);
    write_backfill(ctx, pd_plan_keys_batch_column(model), b, &names);
    if (!write_builds(ctx, model, b, &names) || !write_swap(ctx, model, b, &names))
        return false;
    write_down(ctx, a, b, &names);
    return !pd_arena_failed(ctx->arena) || pd_arena_error(ctx->arena, ctx->err);
}
