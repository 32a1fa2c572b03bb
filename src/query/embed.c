/*
 * embed.c - related objects inside an object, in the same statement. A
 * to-one relation chosen with select_related is LEFT JOINed and its object
 * (with its own embeds) takes the place of the key; a to-many relation
 * chosen with prefetch (a many-to-many field, or a reverse relation by its
 * related name) is a correlated sub-query aggregating the related objects
 * into a JSON array ordered by their key. Plain fields are represent.c's, so
 * an embedded author reads exactly like a retrieved one. A field subset
 * (pd_query_only) chooses among embeds as among fields: an embed it does not
 * name is not rendered at all (drf-flex-fields: fields wins over expand, and
 * the unlisted relation costs no sub-query).
 */
#include <string.h>

#include "query/build.h"
#include "query/represent.h"

static PdEmbed *
find_child(PdEmbed **list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i]->name, name) == 0)
            return list[i];
    return NULL;
}

static bool
embed_error(PdQuery *query, const char *path, const char *name, const PdModel *model, const char *why,
            PdError *err)
{
    if (why == NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no relation \"%.60s\"; fields: %s", model->name, name,
                     pd_query_field_list(query->arena, query->catalog, model));
    else
        pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.60s\" of %s %s", name, model->name, why);
    return pd_error_field(err, "%s", path);
}

static bool
add_embed(PdQuery *query, const char *path, bool is_prefetch, PdError *err)
{
    size_t count = 0;
    char **names = pd_query_split_path(query->arena, path, &count);
    if (names == NULL)
        return pd_arena_error(query->arena, err);
    if (count > PD_QUERY_MAX_EMBED_DEPTH)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.60s\" follows %zu relations; at most %d", path, count,
                     PD_QUERY_MAX_EMBED_DEPTH);
        return pd_error_field(err, "%s", path);
    }
    PdEmbed ***list = &query->embeds;
    size_t *list_count = &query->embed_count;
    const PdModel *model = query->model;
    for (size_t i = 0; i < count; i++)
    {
        PdEmbed *embed = find_child(*list, *list_count, names[i]);
        if (embed == NULL)
        {
            PdHop hop;
            if (!pd_query_find_hop(query->arena, query->catalog, model, names[i], &hop))
                return embed_error(query, path, names[i], model, NULL, err);
            bool is_to_one = hop.kind == PD_HOP_FORWARD;
            if (!is_to_one && !hop.is_to_many)
                return embed_error(query, path, names[i], model,
                                   "is a reverse one-to-one relation: not embedded", err);
            if (!is_prefetch && !is_to_one)
                return embed_error(
                    query, path, names[i], model,
                    "is a to-many relation: select_related follows foreign keys and one-to-one "
                    "fields; use prefetch",
                    err);
            if (is_prefetch && i + 1 == count && is_to_one)
                return embed_error(query, path, names[i], model,
                                   "is a to-one relation: prefetch takes many-to-many fields and reverse "
                                   "relations; use select_related",
                                   err);
            if (query->embed_total >= PD_QUERY_MAX_EMBEDS)
            {
                pd_error_set(err, PD_ERR_INVALID_INPUT, "more than %d related objects embedded",
                             PD_QUERY_MAX_EMBEDS);
                return pd_error_field(err, "%s", path);
            }
            query->embed_total++;
            embed = pd_arena_calloc(query->arena, 1, sizeof(*embed));
            PdEmbed **grown = pd_arena_reserve_next(query->arena, *list, *list_count, sizeof(*grown));
            if (embed == NULL || grown == NULL)
                return pd_arena_error(query->arena, err);
            embed->name = names[i];
            embed->hop = hop;
            embed->is_many = !is_to_one;
            grown[(*list_count)++] = embed;
            *list = grown;
        }
        model = embed->hop.to;
        list = &embed->children;
        list_count = &embed->child_count;
    }
    return true;
}

bool
pd_query_select_related(PdQuery *query, const char *path, PdError *err)
{
    return add_embed(query, path, false, err);
}

bool
pd_query_prefetch(PdQuery *query, const char *path, PdError *err)
{
    return add_embed(query, path, true, err);
}

typedef struct Scope
{
    PdSqlBuild *build;
    PdStrbuf *joins; /* LEFT JOINs of the FROM the object is evaluated in */
    bool is_columns; /* pd_query_fetch's text columns instead of an object */
    const char *prefix;
} Scope;

static void render_fields(Scope *scope, const PdModel *model, const char *alias, const char *const *only,
                          size_t only_count, PdEmbed *const *embeds, size_t embed_count, PdStrbuf *out);

/* A to-one embed: the LEFT JOIN, then the object or null. */
static void
render_one(Scope *scope, const PdEmbed *embed, const char *alias, PdStrbuf *out)
{
    const char *to = pd_query_alias(scope->build);
    pd_strbuf_append(scope->joins, " LEFT JOIN ");
    pd_query_render_hop_from(scope->joins, &embed->hop, to, NULL);
    pd_strbuf_append(scope->joins, " ON ");
    pd_query_render_hop_link(scope->joins, &embed->hop, alias, to, NULL);
    if (scope->is_columns)
    {
        Scope inner = *scope;
        inner.prefix = pd_arena_sprintf(scope->build->query->arena, "%s%s__", scope->prefix, embed->name);
        if (inner.prefix == NULL)
        {
            out->failed = true;
            return;
        }
        render_fields(&inner, embed->hop.to, to, NULL, 0, embed->children, embed->child_count, out);
        return;
    }
    pd_strbuf_append(out, "CASE WHEN ");
    pd_query_column(out, to, pd_model_key_field(embed->hop.to, 0)->column); /* a key part is never NULL */
    pd_strbuf_append(out, " IS NULL THEN NULL ELSE ");
    render_fields(scope, embed->hop.to, to, NULL, 0, embed->children, embed->child_count, out);
    pd_strbuf_append(out, " END");
}

/* A to-many embed: the array of related objects, ordered by their key. */
static void
render_many(Scope *scope, const PdEmbed *embed, const char *alias, PdStrbuf *out)
{
    PdArena *arena = scope->build->query->arena;
    const char *to = pd_query_alias(scope->build);
    const char *join = pd_query_alias(scope->build);
    PdStrbuf joins;
    PdStrbuf object;
    pd_strbuf_init(&joins, arena);
    pd_strbuf_init(&object, arena);
    pd_strbuf_append(&joins, "");
    Scope inner = {scope->build, &joins, false, ""};
    render_fields(&inner, embed->hop.to, to, NULL, 0, embed->children, embed->child_count, &object);
    pd_strbuf_append(out, "(SELECT coalesce(json_agg(");
    pd_strbuf_append(out, pd_strbuf_text(&object));
    pd_strbuf_append(out, " ORDER BY ");
    for (size_t k = 0; k < pd_model_key_count(embed->hop.to); k++) /* every part of a composite key */
    {
        if (k > 0)
            pd_strbuf_append(out, ", ");
        pd_query_column(out, to, pd_model_key_field(embed->hop.to, k)->column);
    }
    pd_strbuf_append(out, "), '[]'::json) FROM ");
    pd_query_render_hop_from(out, &embed->hop, to, join);
    pd_strbuf_append(out, pd_strbuf_text(&joins));
    pd_strbuf_append(out, " WHERE ");
    pd_query_render_hop_link(out, &embed->hop, alias, to, join);
    pd_strbuf_append_char(out, ')');
    if (object.failed || joins.failed)
        out->failed = true;
}

static void
render_named(Scope *scope, const PdModel *model, const PdField *field, const PdEmbed *embed,
             const char *alias, bool *is_first, PdStrbuf *out)
{
    if (embed != NULL && !embed->is_many && scope->is_columns)
    {
        if (!*is_first)
            pd_strbuf_append(out, ", ");
        render_one(scope, embed, alias, out);
        *is_first = false;
        return;
    }
    if (!*is_first)
        pd_strbuf_append(out, ", ");
    *is_first = false;
    if (embed == NULL)
        pd_query_represent_field(out, model, field, alias);
    else if (embed->is_many)
        render_many(scope, embed, alias, out);
    else
        render_one(scope, embed, alias, out);
    pd_strbuf_append(out, " AS ");
    if (scope->is_columns)
    {
        char *name = pd_arena_sprintf(scope->build->query->arena, "%s%s", scope->prefix,
                                      embed != NULL ? embed->name : field->name);
        pd_strbuf_append_identifier(out, name != NULL ? name : "?");
    }
    else
        pd_strbuf_append_identifier(out, embed != NULL ? embed->name : field->name);
}

/* A text column of pd_query_fetch: the stored value as PostgreSQL prints it, keys as they are. */
static void
render_column(Scope *scope, const PdField *field, const char *alias, bool *is_first, PdStrbuf *out)
{
    if (!*is_first)
        pd_strbuf_append(out, ", ");
    *is_first = false;
    pd_query_column(out, alias, field->column);
    pd_strbuf_append(out, " AS ");
    char *name = pd_arena_sprintf(scope->build->query->arena, "%s%s", scope->prefix, field->name);
    pd_strbuf_append_identifier(out, name != NULL ? name : "?");
}

/*
 * The object's keys: the names of only in their order (each a field of model or an embed that is none, as
 * pd_query_only checked), or with only NULL every field, then the embeds that are no field (reverse
 * relations).
 */
static void
render_fields(Scope *scope, const PdModel *model, const char *alias, const char *const *only,
              size_t only_count, PdEmbed *const *embeds, size_t embed_count, PdStrbuf *out)
{
    bool is_first = true;
    if (!scope->is_columns)
        pd_strbuf_append(out, "(SELECT row_to_json(pd_row) FROM (SELECT ");
    size_t count = only != NULL ? only_count : model->field_count;
    for (size_t i = 0; i < count; i++)
    {
        const PdField *field = only != NULL ? pd_model_find_field(model, only[i]) : &model->fields[i];
        const PdEmbed *embed =
            find_child((PdEmbed **)embeds, embed_count, field != NULL ? field->name : only[i]);
        if (field != NULL && scope->is_columns && embed == NULL && field->kind != PD_FIELD_MANY_TO_MANY)
            render_column(scope, field, alias, &is_first, out);
        else
            render_named(scope, model, field, embed, alias, &is_first, out);
    }
    for (size_t i = 0; only == NULL && i < embed_count; i++)
        if (pd_model_find_field(model, embeds[i]->name) == NULL)
            render_named(scope, model, NULL, embeds[i], alias, &is_first, out);
    if (!scope->is_columns)
        pd_strbuf_append(out, ") AS pd_row)");
}

void
pd_query_render_object(PdSqlBuild *build, const char *alias, PdStrbuf *out, PdStrbuf *joins)
{
    PdQuery *query = build->query;
    Scope scope = {build, joins, false, ""};
    render_fields(&scope, query->model, alias, query->only, query->only_count, query->embeds,
                  query->embed_count, out);
}

void
pd_query_render_columns(PdSqlBuild *build, const char *alias, PdStrbuf *out, PdStrbuf *joins)
{
    PdQuery *query = build->query;
    Scope scope = {build, joins, true, ""};
    render_fields(&scope, query->model, alias, query->only, query->only_count, query->embeds,
                  query->embed_count, out);
}
