/*
 * path.c - names from callers resolved against the catalog. A lookup's path
 * ("author__name", "books__reviews__rating", "tags__name") is a list of hops
 * from model to model, each along a relation field or a reverse relation
 * named by its related name, ending on a field. Only what the catalog holds
 * can be named; a name it does not hold is an input error that lists what
 * exists, so a typo is found at once and never reaches SQL.
 */
#include <string.h>

#include "query/build.h"

char **
pd_query_split_path(PdArena *arena, const char *text, size_t *count)
{
    size_t parts = 1;
    for (const char *p = strstr(text, "__"); p != NULL; p = strstr(p + 2, "__"))
        parts++;
    char **names = pd_arena_calloc(arena, parts, sizeof(*names));
    if (names == NULL)
        return NULL;
    const char *start = text;
    for (size_t i = 0; i < parts; i++)
    {
        const char *end = strstr(start, "__");
        size_t length = end != NULL ? (size_t)(end - start) : strlen(start);
        names[i] = pd_arena_strndup(arena, start, length);
        if (names[i] == NULL)
            return NULL;
        start = end != NULL ? end + 2 : start + length;
    }
    *count = parts;
    return names;
}

static bool
through_hop(PdArena *arena, const PdModel *owner, const PdField *field, bool is_reverse, PdHop *hop)
{
    char *source = NULL;
    char *target = NULL;
    if (!pd_model_through_columns(arena, owner, field, &source, &target))
        return false;
    hop->kind = is_reverse ? PD_HOP_M2M_REVERSE : PD_HOP_M2M;
    hop->field = field;
    hop->through_from = is_reverse ? target : source;
    hop->through_to = is_reverse ? source : target;
    hop->is_to_many = true;
    return true;
}

/* A reverse relation of model named `name`: some model's relation field targeting model with that related
 * name. */
static bool
find_reverse(PdArena *arena, const PdCatalog *catalog, const PdModel *model, const char *name, PdHop *hop)
{
    for (size_t m = 0; m < catalog->model_count; m++)
    {
        const PdModel *other = &catalog->models[m];
        for (size_t f = 0; f < other->field_count; f++)
        {
            const PdField *field = &other->fields[f];
            if (field->target != model || field->related_name == NULL ||
                strcmp(field->related_name, name) != 0)
                continue;
            hop->from = model;
            hop->to = other;
            if (field->kind == PD_FIELD_MANY_TO_MANY)
                return through_hop(arena, other, field, true, hop);
            hop->kind = PD_HOP_REVERSE;
            hop->field = field;
            hop->is_to_many = field->kind != PD_FIELD_ONE_TO_ONE;
            return true;
        }
    }
    return false;
}

bool
pd_query_find_hop(PdArena *arena, const PdCatalog *catalog, const PdModel *model, const char *name,
                  PdHop *hop)
{
    memset(hop, 0, sizeof(*hop));
    const PdField *field = pd_model_find_field(model, name);
    if (field == NULL)
        return find_reverse(arena, catalog, model, name, hop);
    if (field->target == NULL)
        return false;
    hop->from = model;
    hop->to = field->target;
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return through_hop(arena, model, field, false, hop);
    hop->kind = PD_HOP_FORWARD;
    hop->field = field;
    return true;
}

const char *
pd_query_field_list(PdArena *arena, const PdCatalog *catalog, const PdModel *model)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    for (size_t i = 0; i < model->field_count; i++)
        pd_strbuf_appendf(&text, "%s%s", i > 0 ? ", " : "", model->fields[i].name);
    bool has_related = false;
    for (size_t m = 0; m < catalog->model_count; m++)
    {
        const PdModel *other = &catalog->models[m];
        for (size_t f = 0; f < other->field_count; f++)
        {
            if (other->fields[f].target != model || other->fields[f].related_name == NULL)
                continue;
            pd_strbuf_appendf(&text, "%s%s",
                              has_related ? ", " : "; related: ", other->fields[f].related_name);
            has_related = true;
        }
    }
    const char *result = pd_strbuf_text(&text);
    return result != NULL ? result : "";
}

PdFieldKind
pd_query_key_kind(const PdField *field)
{
    if (field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE)
    {
        const PdField *key = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
        return key != NULL ? pd_query_key_kind(key) : field->kind;
    }
    return field->kind;
}

const char *
pd_query_value_type(const PdField *field)
{
    if (field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE ||
        field->kind == PD_FIELD_MANY_TO_MANY)
    {
        const PdField *key = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
        return key != NULL ? pd_query_value_type(key) : "text";
    }
    const char *type = pd_kind_info(field->kind)->sql_type;
    return type != NULL ? type : "text";
}

static bool
append_hop(PdArena *arena, PdPath *path, const PdHop *hop)
{
    PdHop *hops = pd_arena_reserve_next(arena, path->hops, path->hop_count, sizeof(*hops));
    if (hops == NULL)
        return false;
    hops[path->hop_count++] = *hop;
    path->hops = hops;
    path->is_to_many = path->is_to_many || hop->is_to_many;
    return true;
}

static bool
unknown_name(PdArena *arena, const PdCatalog *catalog, const PdModel *model, const char *name, PdError *err)
{
    return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no field \"%.60s\"; fields: %s", model->name, name,
                        pd_query_field_list(arena, catalog, model));
}

/* Ends the path on the relation itself: a to-one compares its key column; a to-many hops and compares the
 * target's key. */
static bool
end_on_relation(PdArena *arena, PdPath *path, const PdModel *model, const PdField *field, const PdHop *hop)
{
    if (field != NULL && hop->kind == PD_HOP_FORWARD)
    {
        path->model = model;
        path->field = field;
        return true;
    }
    if (!append_hop(arena, path, hop))
        return false;
    path->model = hop->to;
    /* a model with a composite key is reached only backwards: its first key part, never NULL, stands for
     * the row in isnull and the like */
    path->field = pd_model_key_field(hop->to, 0);
    return true;
}

bool
pd_query_resolve_path(PdArena *arena, const PdCatalog *catalog, const PdModel *model, char **names,
                      size_t count, bool stop_at_unknown, size_t *used, PdPath *path, PdError *err)
{
    const PdModel *at = model;
    size_t i = 0;
    while (i < count)
    {
        const char *name = names[i];
        const PdField *field =
            strcmp(name, "pk") == 0 ? pd_model_primary_key(at) : pd_model_find_field(at, name);
        PdHop hop;
        bool is_relation = pd_query_find_hop(arena, catalog, at, field != NULL ? field->name : name, &hop);
        if (field == NULL && !is_relation)
        {
            if (i > 0 && stop_at_unknown)
                break;
            return unknown_name(arena, catalog, at, name, err);
        }
        bool is_last = i + 1 == count;
        const PdField *next = NULL;
        PdHop next_hop;
        if (is_relation && !is_last)
            next = pd_model_find_field(hop.to, names[i + 1]);
        bool goes_on = is_relation && !is_last &&
                       (next != NULL || strcmp(names[i + 1], "pk") == 0 ||
                        pd_query_find_hop(arena, catalog, hop.to, names[i + 1], &next_hop));
        if (is_relation && !is_last && !goes_on && stop_at_unknown && !pd_query_is_lookup_word(names[i + 1]))
            return unknown_name(arena, catalog, hop.to, names[i + 1], err);
        if (goes_on)
        {
            if (!append_hop(arena, path, &hop))
                return pd_arena_error(arena, err);
            at = hop.to;
            i++;
            continue;
        }
        bool ok = is_relation ? end_on_relation(arena, path, at, field, &hop) : true;
        if (!ok)
            return pd_arena_error(arena, err);
        if (!is_relation)
        {
            path->model = at;
            path->field = field;
        }
        i++;
        break;
    }
    if (path->field == NULL)
        return unknown_name(arena, catalog, at, names[i < count ? i : count - 1], err);
    *used = i;
    return true;
}
