/*
 * notnull.c - a column of a live table made NOT NULL without scanning the
 * table under an ACCESS EXCLUSIVE lock. A CHECK (column IS NOT NULL) goes in
 * NOT VALID (from then on every write is checked), is validated in the
 * concurrent part under SHARE UPDATE EXCLUSIVE (writers go on), then SET NOT
 * NULL finds the valid check and skips its scan (PostgreSQL 12 and later), and
 * the check is dropped. Rows holding NULL that have a value to take
 * (backfill=, else the default) get it in a "-- +up batched" section after the
 * commit, so that no transaction holds them all; the check then goes in only
 * after that fill (the rows not yet filled would fail every update the
 * application makes to them), followed by one UPDATE of the rows written NULL
 * since. Every statement of the concurrent part can run again (a guard, IF
 * EXISTS, WHERE ... IS NULL), as the executor resumes at the first statement
 * it did not record, and +down is right however far the concurrent part got.
 */
#include "plan.h"

char *
pd_plan_notnull_check_name(PlanContext *ctx, const char *table, const char *column)
{
    /* Not "_not_null": PostgreSQL 18 names its own NOT NULL constraints so, and would take "_not_null1". */
    return pd_model_constraint_name(ctx->arena, table, column, "notnull");
}

const char *
pd_plan_notnull_fill(const FieldObjects *objects)
{
    return objects->backfill_sql != NULL ? objects->backfill_sql : objects->default_sql;
}

/* "column" IS NULL / "column" IS NOT NULL (CHECK (...)'s inside). */
static const char *
is_null_sql(PlanContext *ctx, const char *column, bool is_not)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append_identifier(&buf, column);
    pd_strbuf_append(&buf, is_not ? " IS NOT NULL" : " IS NULL");
    return pd_strbuf_text(&buf);
}

/* UPDATE "t" SET "c" = fill WHERE "c" IS NULL: the rows written NULL while the batches ran. */
static void
fill_the_rest(PlanContext *ctx, PdStrbuf *out, const char *table, const char *column, const char *fill_sql)
{
    pd_strbuf_append(out, "UPDATE ");
    pd_strbuf_append_identifier(out, table);
    pd_strbuf_append(out, " SET ");
    pd_strbuf_append_identifier(out, column);
    pd_strbuf_appendf(out, " = %s WHERE %s;\n", fill_sql, is_null_sql(ctx, column, false));
}

bool
pd_plan_notnull_set(PlanContext *ctx, const char *table, const char *key, const char *column,
                    const char *fill_sql)
{
    const char *name = pd_plan_notnull_check_name(ctx, table, column);
    const char *check = pd_arena_sprintf(ctx->arena, "CHECK (%s)", is_null_sql(ctx, column, true));
    if (name == NULL || check == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (fill_sql == NULL)
        pd_plan_ddl_add_constraint(&ctx->up, table, name, check, true);
    else
    {
        pd_plan_ddl_batched_update(&ctx->batched, table, key, column, fill_sql,
                                   is_null_sql(ctx, column, false));
        pd_plan_ddl_add_constraint_guarded(&ctx->concurrently, table, name, check);
        fill_the_rest(ctx, &ctx->concurrently, table, column, fill_sql);
    }
    pd_plan_ddl_validate_constraint(&ctx->concurrently, table, name);
    pd_plan_ddl_alter_column(&ctx->concurrently, table, column, "SET NOT NULL");
    pd_plan_ddl_drop_constraint_if_exists(&ctx->concurrently, table, name);
    return !pd_arena_failed(ctx->arena) || pd_arena_error(ctx->arena, ctx->err);
}

void
pd_plan_notnull_undo(PlanContext *ctx, PdStrbuf *down, const char *table, const char *column)
{
    /* Both right whether or not the concurrent part ran: DROP NOT NULL of a column that takes NULL does
     * nothing, and the check is gone once it finished. */
    pd_plan_ddl_alter_column(down, table, column, "DROP NOT NULL");
    pd_plan_ddl_drop_constraint_if_exists(down, table, pd_plan_notnull_check_name(ctx, table, column));
}
