/*
 * checks.c - model-level check(...) constraints. Their SQL is rendered from
 * the expression tree (expr.c): identifiers quoted, literals typed by the
 * field they are compared with, every operand in parentheses, so nothing of
 * the model file is pasted into SQL.
 *
 * A check of a model that continues another is matched by its SQL in the new
 * names (an old check is rendered with the columns its fields have now, so a
 * field rename alone changes nothing): the same SQL under another name is a
 * RENAME CONSTRAINT (a table rename renames a derived name), SQL that is
 * gone is dropped before the model's fields change (a dropped column would
 * take its checks along), new SQL is added NOT VALID once the fields are
 * there and validated in the concurrent part, as field checks are. +down
 * adds an old check back with the SQL in the new names: it runs before the
 * renames are undone, and PostgreSQL keeps the expression on the columns
 * through them.
 */
#include <stdint.h>
#include <string.h>

#include "plan.h"

/* The column of field `name` of owner; when owner is an old model, the column of the field continuing it in
 * model (its own when dropped: +down adds it back first). */
static const char *
column_of(PlanContext *ctx, const PdModel *owner, const PdModel *model, const char *name)
{
    const PdField *field = pd_model_find_field(owner, name);
    if (field == NULL)
        return name; /* a checked catalog names only its fields */
    const PdField *now = model != NULL ? pd_plan_new_field_of(ctx, model, field) : NULL;
    return now != NULL ? now->column : field->column;
}

static void render(PlanContext *ctx, PdStrbuf *buf, const PdModel *owner, const PdModel *model,
                   const PdExpr *expr);

/* field op literal, literal op field, field op field: a literal takes the type of the field it meets. */
static void
render_compare(PlanContext *ctx, PdStrbuf *buf, const PdModel *owner, const PdModel *model,
               const PdExpr *expr)
{
    const PdExpr *field_side = expr->left->kind == PD_EXPR_FIELD ? expr->left : expr->right;
    const PdExpr *sides[2] = {expr->left, expr->right};
    for (int i = 0; i < 2; i++)
    {
        if (i == 1)
            pd_strbuf_appendf(buf, " %s ", pd_plan_schema_operator(expr->op));
        if (sides[i]->kind == PD_EXPR_FIELD)
        {
            render(ctx, buf, owner, model, sides[i]);
            continue;
        }
        PdColumnType type = {.kind = PD_FIELD_TEXT};
        const PdField *field = pd_model_find_field(owner, field_side->field);
        if (field != NULL)
            pd_model_column_type_of(field, &type);
        const char *type_sql = pd_kind_column_sql(ctx->arena, &type);
        pd_plan_schema_value(buf, &sides[i]->literal, &type, type_sql != NULL ? type_sql : "text", false);
    }
}

static void
render(PlanContext *ctx, PdStrbuf *buf, const PdModel *owner, const PdModel *model, const PdExpr *expr)
{
    switch (expr->kind)
    {
        case PD_EXPR_FIELD:
            pd_strbuf_append_identifier(buf, column_of(ctx, owner, model, expr->field));
            break;
        case PD_EXPR_LITERAL: /* only inside a comparison, which types it */
            break;
        case PD_EXPR_COMPARE:
            render_compare(ctx, buf, owner, model, expr);
            break;
        case PD_EXPR_IS_NULL:
        case PD_EXPR_IS_NOT_NULL:
            render(ctx, buf, owner, model, expr->left);
            pd_strbuf_append(buf, expr->kind == PD_EXPR_IS_NULL ? " IS NULL" : " IS NOT NULL");
            break;
        case PD_EXPR_NOT:
            pd_strbuf_append(buf, "NOT (");
            render(ctx, buf, owner, model, expr->left);
            pd_strbuf_append_char(buf, ')');
            break;
        case PD_EXPR_AND:
        case PD_EXPR_OR:
            pd_strbuf_append_char(buf, '(');
            render(ctx, buf, owner, model, expr->left);
            pd_strbuf_append(buf, expr->kind == PD_EXPR_AND ? ") AND (" : ") OR (");
            render(ctx, buf, owner, model, expr->right);
            pd_strbuf_append_char(buf, ')');
            break;
        case PD_EXPR_ARITH: /* values of generated(...) only (generated.c); never in a condition */
        case PD_EXPR_NEGATE:
        case PD_EXPR_CALL:
            break;
    }
}

/* "CHECK (...)" of a check of owner, in the columns of model (NULL: owner's own). NULL on exhaustion. */
static const char *
check_definition(PlanContext *ctx, const PdModel *owner, const PdModel *model, const PdModelCheck *check)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "CHECK (");
    render(ctx, &buf, owner, model, check->expr);
    pd_strbuf_append_char(&buf, ')');
    return pd_strbuf_failed(&buf) ? NULL : pd_strbuf_text(&buf);
}

const char *
pd_plan_expr_sql(PlanContext *ctx, const PdModel *owner, const PdModel *model, const PdExpr *expr)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "");
    render(ctx, &buf, owner, model, expr);
    return pd_strbuf_failed(&buf) ? NULL : pd_strbuf_text(&buf);
}

bool
pd_plan_checks_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model)
{
    for (size_t i = 0; i < model->check_count; i++)
    {
        const char *definition = check_definition(ctx, model, NULL, &model->checks[i]);
        if (definition == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
        pd_plan_ddl_add_constraint(out, model->table, model->checks[i].name, definition, false);
    }
    return true;
}

/* Both sides' definitions in the new columns, and which old check each new one continues. */
typedef struct CheckMatch
{
    const char **old_sql;
    const char **new_sql;
    size_t *old_of_new; /* index into old->checks, or SIZE_MAX when new */
    bool *is_old_kept;
} CheckMatch;

static bool
match_checks(PlanContext *ctx, const PdModel *old, const PdModel *model, CheckMatch *match)
{
    match->old_sql = pd_arena_calloc(ctx->arena, old->check_count + 1, sizeof(char *));
    match->new_sql = pd_arena_calloc(ctx->arena, model->check_count + 1, sizeof(char *));
    match->old_of_new = pd_arena_calloc(ctx->arena, model->check_count + 1, sizeof(size_t));
    match->is_old_kept = pd_arena_calloc(ctx->arena, old->check_count + 1, sizeof(bool));
    if (match->old_sql == NULL || match->new_sql == NULL || match->old_of_new == NULL ||
        match->is_old_kept == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < old->check_count; i++)
        if ((match->old_sql[i] = check_definition(ctx, old, model, &old->checks[i])) == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
    for (size_t n = 0; n < model->check_count; n++)
    {
        if ((match->new_sql[n] = check_definition(ctx, model, NULL, &model->checks[n])) == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
        match->old_of_new[n] = SIZE_MAX;
        for (int pass = 0; pass < 2 && match->old_of_new[n] == SIZE_MAX; pass++) /* its own name first */
            for (size_t o = 0; o < old->check_count && match->old_of_new[n] == SIZE_MAX; o++)
                if (!match->is_old_kept[o] && strcmp(match->old_sql[o], match->new_sql[n]) == 0 &&
                    (pass == 1 || strcmp(old->checks[o].name, model->checks[n].name) == 0))
                {
                    match->old_of_new[n] = o;
                    match->is_old_kept[o] = true;
                }
    }
    return true;
}

/* The new check named as old check o, if any (its expression changed). */
static const PdModelCheck *
same_name(const PdModel *model, const char *name)
{
    for (size_t n = 0; n < model->check_count; n++)
        if (strcmp(model->checks[n].name, name) == 0)
            return &model->checks[n];
    return NULL;
}

bool
pd_plan_checks_drop(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    if (old->check_count == 0)
        return true;
    CheckMatch match;
    if (!match_checks(ctx, old, model, &match))
        return false;
    for (size_t o = 0; o < old->check_count; o++)
    {
        const PdModelCheck *check = &old->checks[o];
        if (match.is_old_kept[o])
            continue;
        if (same_name(model, check->name) == NULL &&
            !pd_plan_operation(ctx, PD_OP_DROP_CHECK, model->name, NULL,
                               pd_arena_sprintf(ctx->arena, "drop_%s", check->name), "drop check %s of %s",
                               check->name, model->name))
            return false;
        pd_plan_ddl_drop_constraint(&ctx->up, model->table, check->name);
        pd_plan_ddl_add_constraint(&ctx->down, model->table, check->name, match.old_sql[o], false);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}

static bool
add_check(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdModelCheck *check,
          const char *definition)
{
    bool is_change = same_name(old, check->name) != NULL;
    char *hint = pd_arena_sprintf(ctx->arena, "%s_%s", is_change ? "alter" : "add", check->name);
    if (!pd_plan_operation(ctx, is_change ? PD_OP_ALTER_CHECK : PD_OP_ADD_CHECK, model->name, NULL, hint,
                           "%s check %s of %s: %s", is_change ? "alter" : "add", check->name, model->name,
                           definition))
        return false;
    pd_plan_ddl_add_constraint(&ctx->up, model->table, check->name, definition, true);
    pd_plan_ddl_validate_constraint(&ctx->concurrently, model->table, check->name);
    pd_plan_ddl_drop_constraint(&ctx->down, model->table, check->name);
    return pd_plan_step_end(ctx);
}

bool
pd_plan_checks_add(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    if (model->check_count == 0)
        return true;
    CheckMatch match;
    if (!match_checks(ctx, old, model, &match))
        return false;
    for (size_t n = 0; n < model->check_count; n++)
    {
        const PdModelCheck *check = &model->checks[n];
        size_t o = match.old_of_new[n];
        if (o == SIZE_MAX)
        {
            if (!add_check(ctx, old, model, check, match.new_sql[n]))
                return false;
            continue;
        }
        const char *old_name = old->checks[o].name;
        if (strcmp(old_name, check->name) == 0)
            continue;
        if (!pd_plan_operation(ctx, PD_OP_ALTER_CHECK, model->name, NULL,
                               pd_arena_sprintf(ctx->arena, "rename_%s", check->name),
                               "rename check %s of %s to %s", old_name, model->name, check->name))
            return false;
        pd_plan_ddl_rename_constraint(&ctx->up, model->table, old_name, check->name);
        pd_plan_ddl_rename_constraint(&ctx->down, model->table, check->name, old_name);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}
