/*
 * query.c - the PdQuery object: what a caller adds to a query (conditions,
 * search, ordering, slice, field subset, embeds, keyset position), each
 * checked against the catalog when added, so a query that was built without
 * error can always be rendered. The field subset is also checked against the
 * embeds: a reverse relation is a key of the object only once it is expanded,
 * so embeds are added before the subset. Turning it into SQL is statement.c's
 * job, running it execute.c's.
 */
#include <string.h>

#include "query/build.h"

PdQuery *
pd_query_new(PdArena *arena, const PdCatalog *catalog, const PdModel *model)
{
    if (arena == NULL || catalog == NULL || model == NULL)
        return NULL;
    PdQuery *query = pd_arena_calloc(arena, 1, sizeof(*query));
    if (query == NULL)
        return NULL;
    query->arena = arena;
    query->catalog = catalog;
    query->model = model;
    query->limit = -1;
    return query;
}

const PdModel *
pd_query_model(const PdQuery *query)
{
    return query->model;
}

static bool
add_condition(PdQuery *query, PdQ *condition, bool is_exclude, PdError *err)
{
    if (condition == NULL)
    {
        if (err != NULL && err->code == PD_OK)
            pd_error_set(err, PD_ERR_INVALID_INPUT, "no condition (a lookup before failed)");
        return false;
    }
    if (is_exclude && (condition = pd_q_not(query, condition)) == NULL)
        return pd_arena_error(query->arena, err);
    if (query->where == NULL)
    {
        query->where = condition;
        return true;
    }
    PdQ *both = pd_q_and(query, query->where, condition);
    if (both == NULL)
        return pd_arena_error(query->arena, err);
    query->where = both;
    return true;
}

bool
pd_query_filter(PdQuery *query, PdQ *condition, PdError *err)
{
    return add_condition(query, condition, false, err);
}

bool
pd_query_exclude(PdQuery *query, PdQ *condition, PdError *err)
{
    return add_condition(query, condition, true, err);
}

bool
pd_query_where(PdQuery *query, const char *lookup, const char *value, PdError *err)
{
    PdQ *q = pd_q(query, lookup, value, err);
    return q != NULL && add_condition(query, q, false, err);
}

/* One term of a search: icontains in some searchable field that is not search=fulltext (an OR over them);
 * NULL when every searchable field is full-text (*is_none set) or on exhaustion. */
static PdQ *
search_term(PdQuery *query, const char *term, bool *is_none)
{
    PdQ *any = NULL;
    for (size_t i = 0; i < query->model->field_count; i++)
    {
        const PdField *field = &query->model->fields[i];
        if (!field->is_searchable || field->search == PD_SEARCH_FULLTEXT)
            continue;
        PdQ *leaf = pd_query_leaf_search(query, field, term);
        any = any == NULL ? leaf : pd_q_or(query, any, leaf);
        if (any == NULL)
            return NULL;
    }
    *is_none = any == NULL;
    return any;
}

/* The full-text match of the whole text in some search=fulltext field; NULL when none (*is_none set). */
static PdQ *
search_fulltext(PdQuery *query, const char *text, bool *is_none)
{
    PdQ *any = NULL;
    for (size_t i = 0; i < query->model->field_count; i++)
    {
        const PdField *field = &query->model->fields[i];
        if (field->search != PD_SEARCH_FULLTEXT)
            continue;
        PdQ *leaf = pd_query_leaf_fulltext(query, field, text);
        any = any == NULL ? leaf : pd_q_or(query, any, leaf);
        if (any == NULL)
            return NULL;
    }
    *is_none = any == NULL;
    return any;
}

/* DRF's terms: null characters dropped, commas are spaces, then split at white space; each term found in some
 * field (icontains), every term in the row. *words NULL when there are no terms or no such fields. */
static bool
search_words(PdQuery *query, char *text, PdQ **words, PdError *err)
{
    *words = NULL;
    char *term = text;
    for (int count = 0;; count++)
    {
        term += strspn(term, " \t\r\n\f\v,");
        if (*term == '\0')
            return true;
        if (count == PD_QUERY_MAX_SEARCH_TERMS)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "Ensure this value has no more than %d words.",
                         PD_QUERY_MAX_SEARCH_TERMS);
            return pd_error_field(err, "search");
        }
        size_t length = strcspn(term, " \t\r\n\f\v,");
        char *end = term + length;
        bool is_last = *end == '\0';
        *end = '\0';
        bool is_none = false;
        PdQ *q = search_term(query, term, &is_none);
        if (q == NULL && !is_none)
            return pd_arena_error(query->arena, err);
        if (q != NULL && (*words = *words == NULL ? q : pd_q_and(query, *words, q)) == NULL)
            return pd_arena_error(query->arena, err);
        if (is_last)
            return true;
        term = end + 1;
    }
}

bool
pd_query_search(PdQuery *query, const char *terms, PdError *err)
{
    bool has_searchable = false;
    for (size_t i = 0; i < query->model->field_count; i++)
        has_searchable = has_searchable || query->model->fields[i].is_searchable;
    if (!has_searchable)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no searchable field (the \"search\" option)",
                     query->model->name);
        return pd_error_field(err, "search");
    }
    const char *whole = terms != NULL ? terms : "";
    if (whole[strspn(whole, " \t\r\n\f\v,")] == '\0')
        return true; /* nothing to look for: every row, as DRF */
    char *text = pd_arena_strdup(query->arena, whole);
    if (text == NULL)
        return pd_arena_error(query->arena, err);
    PdQ *words;
    if (!search_words(query, text, &words, err))
        return false;
    /* search=fulltext fields read the whole text as a search box does; the other fields take DRF's terms; a
     * row matches either way */
    bool is_none = false;
    PdQ *fulltext = search_fulltext(query, whole, &is_none);
    if (fulltext == NULL && !is_none)
        return pd_arena_error(query->arena, err);
    PdQ *q = fulltext == NULL ? words : words == NULL ? fulltext : pd_q_or(query, fulltext, words);
    if (q == NULL)
        return pd_arena_error(query->arena, err);
    return add_condition(query, q, false, err);
}

void
pd_query_slice(PdQuery *query, int64_t offset, int64_t limit)
{
    query->offset = offset > 0 ? offset : 0;
    query->limit = limit;
}

void
pd_query_use_counter(PdQuery *query, bool use)
{
    query->use_counter = use;
}

void
pd_query_page_keys(PdQuery *query, bool with_keys)
{
    query->without_keys = !with_keys;
}

/* Calls fn on each comma-separated item of list (spaces around items ignored; empty items refused). */
static bool
each_item(PdQuery *query, const char *list, const char *what, bool (*fn)(PdQuery *, const char *, PdError *),
          PdError *err)
{
    char *text = pd_arena_strdup(query->arena, list != NULL ? list : "");
    if (text == NULL)
        return pd_arena_error(query->arena, err);
    for (char *item = text;;)
    {
        item += strspn(item, " ");
        size_t length = strcspn(item, ",");
        char *end = item + length;
        bool is_last = *end == '\0';
        *end = '\0';
        while (length > 0 && item[length - 1] == ' ')
            item[--length] = '\0';
        if (length == 0)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "empty name in %s list \"%.60s\"", what, list);
            return pd_error_field(err, "%s", what);
        }
        if (!fn(query, item, err))
            return false;
        if (is_last)
            return true;
        item = end + 1;
    }
}

/*
 * The name an entry of the subset stands for: a field of the model, or a reverse relation already embedded
 * (prefetch), which has no field on this side but is as much a key of the object as one.
 */
static const char *
only_name(const PdQuery *query, const char *name)
{
    const PdField *field = pd_model_find_field(query->model, name);
    if (field != NULL)
        return field->name;
    for (size_t i = 0; i < query->embed_count; i++)
        if (strcmp(query->embeds[i]->name, name) == 0)
            return query->embeds[i]->name;
    return NULL;
}

static bool
add_only(PdQuery *query, const char *name, PdError *err)
{
    const char *known = only_name(query, name);
    if (known == NULL)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no field \"%.60s\"; fields: %s", query->model->name,
                     name, pd_query_field_list(query->arena, query->catalog, query->model));
        PdHop hop;
        if (pd_query_find_hop(query->arena, query->catalog, query->model, name, &hop) && hop.is_to_many)
            pd_error_hint(err,
                          "A reverse relation is a key of the object once it is prefetched: prefetch "
                          "\"%.60s\" before the field subset.",
                          name);
        return pd_error_field(err, "%s", name);
    }
    for (size_t i = 0; i < query->only_count; i++)
        if (query->only[i] == known)
            return true;
    const char **only = pd_arena_reserve_next(query->arena, query->only, query->only_count, sizeof(*only));
    if (only == NULL)
        return pd_arena_error(query->arena, err);
    only[query->only_count++] = known;
    query->only = only;
    return true;
}

bool
pd_query_only(PdQuery *query, const char *fields, PdError *err)
{
    query->only_count = 0;
    query->only = NULL;
    return each_item(query, fields, "fields", add_only, err);
}
