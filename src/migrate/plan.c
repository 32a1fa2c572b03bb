/*
 * plan.c - makemigrations' planner: the entry point that runs the phases
 * (diff.c, rename.c, index.c, tables.c) in an order where every statement
 * finds what it needs (renames first, so everything after speaks the new
 * names; drops of indexes before creates; new tables before the fields that
 * point at them; dropped fields before dropped tables), and the collectors
 * every phase appends to: operations, warnings, destructive reasons, input
 * errors and the steps of +down. It also picks the suggested file name.
 * Planning is pure: no database, no files.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "plan.h"

static bool
append_string(PlanContext *ctx, const char ***array, size_t *count, char *text)
{
    const char **grown =
        text != NULL ? pd_arena_reserve_next(ctx->arena, (void *)*array, *count, sizeof(*grown)) : NULL;
    if (grown == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    grown[(*count)++] = text;
    *array = grown;
    return true;
}

bool
pd_plan_operation(PlanContext *ctx, PdOperationKind kind, const char *model, const char *field,
                  const char *name_hint, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *description = pd_arena_vsprintf(ctx->arena, fmt, args);
    va_end(args);
    size_t count = ctx->operation_count;
    PdOperation *operations = pd_arena_reserve_next(ctx->arena, ctx->operations, count, sizeof(*operations));
    const char **hints = pd_arena_reserve_next(ctx->arena, (void *)ctx->name_hints, count, sizeof(*hints));
    if (description == NULL || operations == NULL || hints == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    operations[count] = (PdOperation){kind, model, field, description, false};
    hints[count] = name_hint;
    ctx->operations = operations;
    ctx->name_hints = hints;
    ctx->operation_count = count + 1;
    return true;
}

bool
pd_plan_destructive(PlanContext *ctx, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *reason = pd_arena_vsprintf(ctx->arena, fmt, args);
    va_end(args);
    if (ctx->operation_count > 0)
        ctx->operations[ctx->operation_count - 1].is_destructive = true;
    return append_string(ctx, &ctx->destructive_reasons, &ctx->destructive_count, reason);
}

bool
pd_plan_warning(PlanContext *ctx, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *warning = pd_arena_vsprintf(ctx->arena, fmt, args);
    va_end(args);
    return append_string(ctx, &ctx->warnings, &ctx->warning_count, warning);
}

void
pd_plan_irreversible(PlanContext *ctx, const char *fmt, ...)
{
    if (ctx->irreversible_reason != NULL)
        return;
    va_list args;
    va_start(args, fmt);
    ctx->irreversible_reason = pd_arena_vsprintf(ctx->arena, fmt, args);
    va_end(args);
}

bool
pd_plan_input_error(PlanContext *ctx, PdSourcePos pos, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    pd_model_error_at_va(ctx->err, pos, fmt, args);
    va_end(args);
    return false;
}

bool
pd_plan_step_end(PlanContext *ctx)
{
    if (ctx->down.length == 0)
        return true;
    const char *text = pd_strbuf_text(&ctx->down);
    if (text == NULL || !append_string(ctx, &ctx->down_steps, &ctx->down_step_count, (char *)text))
        return pd_arena_error(ctx->arena, ctx->err);
    pd_strbuf_init(&ctx->down, ctx->arena);
    return true;
}

static size_t
model_index(const PdCatalog *catalog, const PdModel *model)
{
    if (model >= catalog->models && model < catalog->models + catalog->model_count)
        return (size_t)(model - catalog->models);
    for (size_t i = 0; i < catalog->model_count; i++)
        if (strcmp(catalog->models[i].name, model->name) == 0)
            return i;
    return catalog->model_count;
}

const PdModel *
pd_plan_new_model_of(const PlanContext *ctx, const PdModel *old_model)
{
    size_t i = model_index(ctx->from, old_model);
    return i < ctx->from->model_count ? ctx->new_of_old[i] : NULL;
}

const PdModel *
pd_plan_old_model_of(const PlanContext *ctx, const PdModel *new_model)
{
    size_t i = model_index(ctx->to, new_model);
    return i < ctx->to->model_count ? ctx->old_of_new[i] : NULL;
}

char *
pd_plan_snake(PlanContext *ctx, const char *name)
{
    char *snake = pd_model_snake_case(ctx->arena, name);
    return snake != NULL ? snake : pd_arena_strdup(ctx->arena, name);
}

/* [a-z0-9_] only, no doubled or trailing '_', at most max_length bytes. */
static char *
clean_name(PdArena *arena, const char *text, size_t max_length)
{
    char *name = pd_arena_alloc(arena, strlen(text) + 1);
    if (name == NULL)
        return NULL;
    size_t length = 0;
    for (const char *c = text; *c != '\0' && length < max_length; c++)
    {
        char lower = (char)tolower((unsigned char)*c);
        bool is_kept = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9');
        if (is_kept)
            name[length++] = lower;
        else if (length > 0 && name[length - 1] != '_')
            name[length++] = '_';
    }
    while (length > 0 && name[length - 1] == '_')
        length--;
    name[length] = '\0';
    return name;
}

static const char *
suggested_name(PlanContext *ctx)
{
    if (ctx->from->model_count == 0)
        return "initial";
    if (ctx->operation_count == 0)
        return "empty";
    const char *first = ctx->name_hints[0] != NULL ? ctx->name_hints[0] : "change";
    if (ctx->operation_count == 1)
        return clean_name(ctx->arena, first, 60);
    static const char more[] = "_and_more";
    char *name = clean_name(ctx->arena, first, 60 - (sizeof(more) - 1));
    return name != NULL ? pd_arena_sprintf(ctx->arena, "%s%s", name, more) : NULL;
}

static const char *
join_down_steps(PlanContext *ctx)
{
    PdStrbuf down;
    pd_strbuf_init(&down, ctx->arena);
    for (size_t i = ctx->down_step_count; i > 0; i--)
        pd_strbuf_append(&down, ctx->down_steps[i - 1]);
    return pd_strbuf_text(&down);
}

static bool
build_result(PlanContext *ctx, PdMigrationPlan **plan)
{
    PdMigrationPlan *result = pd_arena_calloc(ctx->arena, 1, sizeof(*result));
    if (result == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    result->operations = ctx->operations;
    result->operation_count = ctx->operation_count;
    result->up_sql = pd_strbuf_text(&ctx->up);
    result->up_concurrently_sql = pd_strbuf_text(&ctx->concurrently);
    result->up_batched_sql = pd_strbuf_text(&ctx->batched);
    result->down_sql = ctx->irreversible_reason == NULL ? join_down_steps(ctx) : NULL;
    result->irreversible_reason = ctx->irreversible_reason;
    result->warnings = ctx->warnings;
    result->warning_count = ctx->warning_count;
    result->destructive_reasons = ctx->destructive_reasons;
    result->destructive_count = ctx->destructive_count;
    result->suggested_name = suggested_name(ctx);
    bool is_complete = result->up_sql != NULL && result->up_concurrently_sql != NULL &&
                       result->up_batched_sql != NULL && result->suggested_name != NULL &&
                       (result->down_sql != NULL || result->irreversible_reason != NULL);
    if (!is_complete || pd_arena_failed(ctx->arena))
        return pd_arena_error(ctx->arena, ctx->err);
    *plan = result;
    return true;
}

bool
pd_migrate_plan(PdArena *arena, const PdCatalog *from, const PdCatalog *to, PdMigrationPlan **plan,
                PdError *err)
{
    return pd_migrate_plan_with_options(arena, from, to, NULL, plan, err);
}

bool
pd_migrate_plan_with_options(PdArena *arena, const PdCatalog *from, const PdCatalog *to,
                             const PdPlanOptions *options, PdMigrationPlan **plan, PdError *err)
{
    static const PdCatalog empty = {NULL, 0};
    PlanContext ctx = {.arena = arena, .from = from != NULL ? from : &empty, .to = to != NULL ? to : &empty};
    ctx.err = err;
    ctx.is_expand = options != NULL && options->is_expand;
    pd_strbuf_init(&ctx.up, arena);
    pd_strbuf_init(&ctx.batched, arena);
    pd_strbuf_init(&ctx.concurrently, arena);
    pd_strbuf_init(&ctx.down, arena);
    bool (*const phases[])(PlanContext *) = {
        pd_plan_create_extensions, /* citext, pg_trgm: before anything uses them */
        pd_plan_match_models,      /* who continues whom, checking every renamed_from */
        pd_plan_renames,           /* tables, columns, and every derived name they change */
        pd_plan_drop_indexes,      /* model-level indexes that are gone, before anything reuses a name */
        pd_plan_create_models,     pd_plan_diff_fields,        pd_plan_add_indexes,
        pd_plan_drop_models,       pd_plan_restore_extensions, /* the last step of +down is the first to run
                                                                */
    };
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
        if (!phases[i](&ctx) || !pd_plan_step_end(&ctx))
            return pd_error_context(err, "while planning the migration");
    /* Every statement must be accounted for by an operation, or makemigrations would call it no change. */
    if (ctx.operation_count == 0 &&
        (ctx.up.length > 0 || ctx.batched.length > 0 || ctx.concurrently.length > 0))
    {
        pd_error_set(err, PD_ERR_INTERNAL, "the plan has statements but no operation");
        return pd_error_hint(err, "This is a bug in prodata; please report it with the two model states.");
    }
    return build_result(&ctx, plan);
}
