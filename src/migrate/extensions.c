/*
 * extensions.c - the PostgreSQL extensions a catalog's fields need (citext
 * for citext fields, pg_trgm for search=trigram), made by the migration that
 * first needs them: CREATE EXTENSION IF NOT EXISTS at the head of +up, so an
 * extension already there (made by a superuser, another application or an
 * older migration) is used as it is. Nothing drops an extension: +down of the
 * migration that made it leaves it, since the planner cannot know whether it
 * was there before or what else in the database uses it (Django's
 * CreateExtension drops it on reverse, which breaks both cases); an unused
 * extension holds no data. A migration whose +down brings back a field that
 * needs an extension the new state no longer needs makes it again first, so
 * a +down never depends on what another migration left.
 */
#include <string.h>

#include "plan.h"

static bool
has_extension(const char **list, const char *name)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void
create_extension(PdStrbuf *out, const char *name)
{
    pd_strbuf_appendf(
        out,
        "-- %s: a trusted extension (PostgreSQL 13+): the role needs CREATE on the database, or a "
        "superuser runs CREATE EXTENSION %s first\n",
        name, name);
    pd_strbuf_append(out, "CREATE EXTENSION IF NOT EXISTS ");
    pd_strbuf_append_identifier(out, name);
    pd_strbuf_append(out, ";\n");
}

/* Writes to out a CREATE EXTENSION for each extension `needing` needs and `having` does not. */
static bool
create_missing(PlanContext *ctx, PdStrbuf *out, const PdCatalog *needing, const PdCatalog *having)
{
    const char **needed = pd_plan_schema_extensions(ctx->arena, needing);
    const char **had = pd_plan_schema_extensions(ctx->arena, having);
    if (needed == NULL || had == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; needed[i] != NULL; i++)
        if (!has_extension(had, needed[i]))
            create_extension(out, needed[i]);
    return true;
}

bool
pd_plan_create_extensions(PlanContext *ctx)
{
    return create_missing(ctx, &ctx->up, ctx->to, ctx->from);
}

bool
pd_plan_restore_extensions(PlanContext *ctx)
{
    return create_missing(ctx, &ctx->down, ctx->from, ctx->to);
}
