/*
 * comments.c - COMMENT ON for a table's comment "..." directive and its
 * fields' comment="..." (Django's db_table_comment and db_comment). The text
 * is a string literal, quoted as one; names are quoted identifiers. A table
 * made in this migration gets its comments after its CREATE TABLE; a model
 * that continues another gets COMMENT ON ... IS '...' for each comment that
 * changed and IS NULL for one removed, and +down writes the old ones back.
 * Comments follow renames by themselves (they belong to the table and the
 * column, not to a name). A dropped column takes its comment along, so the
 * +down of a drop is followed (in +down order) by a step that writes it
 * back: that step comes before the drops in +up.
 */
#include <string.h>

#include "plan.h"

static void
comment_on(PdStrbuf *out, const char *table, const char *column, const char *text)
{
    pd_strbuf_append(out, column != NULL ? "COMMENT ON COLUMN " : "COMMENT ON TABLE ");
    pd_strbuf_append_identifier(out, table);
    if (column != NULL)
    {
        pd_strbuf_append_char(out, '.');
        pd_strbuf_append_identifier(out, column);
    }
    pd_strbuf_append(out, " IS ");
    if (text != NULL)
        pd_strbuf_append_literal(out, text);
    else
        pd_strbuf_append(out, "NULL");
    pd_strbuf_append(out, ";\n");
}

static bool
same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool
pd_plan_comments_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model)
{
    (void)ctx;
    if (model->comment != NULL)
        comment_on(out, model->table, NULL, model->comment);
    for (size_t f = 0; f < model->field_count; f++)
        if (model->fields[f].comment != NULL && model->fields[f].column != NULL)
            comment_on(out, model->table, model->fields[f].column, model->fields[f].comment);
    return true;
}

bool
pd_plan_comments_restore_dropped(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    bool has_step = false;
    for (size_t f = 0; f < old->field_count; f++)
    {
        const PdField *field = &old->fields[f];
        const PdField *now = pd_plan_new_field_of(ctx, model, field);
        bool is_gone =
            now == NULL || (now->kind == PD_FIELD_MANY_TO_MANY) != (field->kind == PD_FIELD_MANY_TO_MANY);
        if (field->comment == NULL || field->column == NULL || !is_gone)
            continue;
        comment_on(&ctx->down, model->table, field->column, field->comment);
        has_step = true;
    }
    return !has_step || pd_plan_step_end(ctx);
}

bool
pd_plan_comments_diff(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    if (!same_text(old->comment, model->comment))
    {
        if (!pd_plan_operation(ctx, PD_OP_ALTER_COMMENT, model->name, NULL,
                               pd_arena_sprintf(ctx->arena, "%s_comment", pd_plan_snake(ctx, model->name)),
                               "%s the comment of %s", model->comment == NULL ? "remove" : "set",
                               model->name))
            return false;
        comment_on(&ctx->up, model->table, NULL, model->comment);
        comment_on(&ctx->down, model->table, NULL, old->comment);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
        if (field->column == NULL)
            continue;
        bool is_continued = old_field != NULL && old_field->column != NULL;
        const char *old_comment = is_continued ? old_field->comment : NULL;
        if (same_text(old_comment, field->comment))
            continue;
        if (!pd_plan_operation(
                ctx, PD_OP_ALTER_COMMENT, model->name, field->name,
                pd_arena_sprintf(ctx->arena, "%s_%s_comment", pd_plan_snake(ctx, model->name), field->name),
                "%s the comment of %s.%s", field->comment == NULL ? "remove" : "set", model->name,
                field->name))
            return false;
        comment_on(&ctx->up, model->table, field->column, field->comment);
        if (is_continued)
            comment_on(&ctx->down, model->table, field->column, old_comment);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}
