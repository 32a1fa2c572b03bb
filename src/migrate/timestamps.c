/*
 * timestamps.c - the trigger behind auto_now: a table with auto_now fields
 * gets one BEFORE UPDATE trigger, always named "prodata_auto_now" (trigger
 * names are per table, so it follows a table rename), that runs one shared
 * function, also "prodata_auto_now", with the columns to set as its
 * arguments. Every writer gets it (psql, the REST server, another program),
 * as Django's auto_now only gets its own ORM saves. The insert side is the
 * column's default of now, planned with the field like any default.
 *
 * The function sets the columns named in TG_ARGV to the statement's now()
 * through jsonb_populate_record, as text the column's input function reads
 * in any DateStyle: a timestamptz keeps the instant, a date and a time take
 * the session's local date and time (what CURRENT_DATE and LOCALTIME give on
 * insert). It is made with CREATE OR REPLACE before each trigger that needs
 * it, so a migration never depends on an older one having made it, and is
 * never dropped (like the row counters' functions): a trigger of another
 * table may still use it.
 *
 * The trigger's arguments name columns, so any change of the list (a field
 * given or losing auto_now, added, dropped or renamed) replaces the trigger:
 * CREATE OR REPLACE TRIGGER (PostgreSQL 14) or DROP TRIGGER when none is
 * left; +down writes back the old list. Every name is quoted, every column a
 * literal.
 */
#include <string.h>

#include "plan.h"

#define AUTO_NOW_NAME "prodata_auto_now"

static const char *function_sql =
    "CREATE OR REPLACE FUNCTION \"" AUTO_NOW_NAME "\"() RETURNS trigger LANGUAGE plpgsql AS $prodata$\n"
    "BEGIN\n"
    "    NEW := jsonb_populate_record(NEW, (SELECT jsonb_object_agg(c, to_char(now(), "
    "'YYYY-MM-DD HH24:MI:SS.USOF'))\n"
    "                                       FROM unnest(TG_ARGV) AS c));\n"
    "    RETURN NEW;\n"
    "END\n"
    "$prodata$;\n";

/* The trigger's arguments for model's auto_now fields: "'updated', 'seen_on'"; "" when it has none. */
static const char *
trigger_args(PlanContext *ctx, const PdModel *model)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "");
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (!field->is_auto_now || field->column == NULL)
            continue;
        pd_strbuf_append(&buf, buf.length > 0 ? ", '" : "'");
        for (const char *c = field->column; *c != '\0'; c++) /* a column is [a-z_0-9]; quoted all the same */
            if (*c == '\'')
                pd_strbuf_append(&buf, "''");
            else
                pd_strbuf_append_char(&buf, *c);
        pd_strbuf_append_char(&buf, '\'');
    }
    return pd_strbuf_failed(&buf) ? NULL : pd_strbuf_text(&buf);
}

/* The function and the trigger on table with args, or the trigger dropped when args is "". */
static void
write_trigger(PdStrbuf *out, const char *table, const char *args)
{
    if (args[0] == '\0')
    {
        pd_strbuf_appendf(out, "DROP TRIGGER IF EXISTS \"" AUTO_NOW_NAME "\" ON \"%s\";\n", table);
        return;
    }
    pd_strbuf_append(out, function_sql);
    pd_strbuf_appendf(out,
                      "CREATE OR REPLACE TRIGGER \"" AUTO_NOW_NAME "\" BEFORE UPDATE ON \"%s\" FOR EACH ROW "
                      "EXECUTE FUNCTION \"" AUTO_NOW_NAME "\"(%s);\n",
                      table, args);
}

bool
pd_plan_timestamps_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model)
{
    const char *args = trigger_args(ctx, model);
    if (args == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (args[0] != '\0')
        write_trigger(out, model->table, args);
    return true;
}

/* An operation for each field that gains or loses auto_now, so the trigger's change is listed. */
static bool
record_changes(PlanContext *ctx, const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
        if (old_field == NULL || old_field->is_auto_now == field->is_auto_now)
            continue;
        char *hint =
            pd_arena_sprintf(ctx->arena, "alter_%s_%s", pd_plan_snake(ctx, model->name), field->name);
        if (!pd_plan_operation(ctx, PD_OP_ALTER_FIELD, model->name, field->name, hint,
                               "alter field %s.%s: auto_now %s", model->name, field->name,
                               field->is_auto_now ? "added (a BEFORE UPDATE trigger)" : "removed"))
            return false;
        if (field->is_auto_now &&
            !pd_plan_warning(
                ctx,
                "%s.%s: auto_now sets the column on every UPDATE of \"%s\" from now on; rows keep "
                "their values until they are next updated",
                model->name, field->name, model->table))
            return false;
    }
    return true;
}

bool
pd_plan_timestamps_diff(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    const char *old_args = trigger_args(ctx, old), *args = trigger_args(ctx, model);
    if (old_args == NULL || args == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (strcmp(old_args, args) == 0)
        return true;
    if (!record_changes(ctx, model))
        return false;
    write_trigger(&ctx->up, model->table, args);
    write_trigger(&ctx->down, model->table, old_args); /* the table has its new name until renames revert */
    return pd_plan_step_end(ctx);
}
