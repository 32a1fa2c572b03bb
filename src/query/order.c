/*
 * order.c - ordering and keysets. An ordering is a list of paths through
 * to-one relations, each ascending or descending, and always ends with the
 * primary key so that no two rows tie: pages are stable and a keyset (the
 * ordering values of one row) names a single place in the order. The keyset
 * condition is written so that PostgreSQL can walk the index of the
 * ordering: a row comparison when every term goes one way and none can be
 * null, else the expanded OR form with the first term's bound repeated as a
 * plain range. NULLs sort as PostgreSQL sorts them by default (last when
 * ascending, first when descending) and the keyset follows that.
 */
#include <string.h>

#include "query/build.h"

static bool
add_term(PdQuery *query, const char *item, PdError *err)
{
    bool is_descending = item[0] == '-';
    const char *name = is_descending ? item + 1 : item;
    size_t count = 0;
    char **names = pd_query_split_path(query->arena, name, &count);
    if (names == NULL)
        return pd_arena_error(query->arena, err);
    PdOrderTerm term = {.is_descending = is_descending};
    size_t used = 0;
    if (!pd_query_resolve_path(query->arena, query->catalog, query->model, names, count, false, &used,
                               &term.path, err))
        return pd_error_field(err, "%s", item);
    if (used < count || term.path.is_to_many || term.path.field->kind == PD_FIELD_MANY_TO_MANY)
    {
        pd_error_set(
            err, PD_ERR_INVALID_INPUT,
            "cannot order by \"%.60s\": order by a field of %s or of a to-one relation (\"author__name\")",
            item, query->model->name);
        return pd_error_field(err, "%s", item);
    }
    term.path.text = pd_arena_strdup(query->arena, item);
    PdOrderTerm *terms =
        pd_arena_reserve_next(query->arena, query->order, query->order_count, sizeof(*terms));
    if (terms == NULL)
        return pd_arena_error(query->arena, err);
    terms[query->order_count++] = term;
    query->order = terms;
    return true;
}

bool
pd_query_order_by(PdQuery *query, const char *terms, PdError *err)
{
    query->order = NULL;
    query->order_count = 0;
    query->is_ordered = true;
    char *text = pd_arena_strdup(query->arena, terms != NULL ? terms : "");
    if (text == NULL)
        return pd_arena_error(query->arena, err);
    for (char *item = text; *item != '\0';)
    {
        size_t length = strcspn(item, ",");
        char *next = item[length] == ',' ? item + length + 1 : item + length;
        item[length] = '\0';
        while (*item == ' ')
            item++;
        for (size_t end = strlen(item); end > 0 && item[end - 1] == ' '; end--)
            item[end - 1] = '\0';
        if (*item == '\0' || strcmp(item, "-") == 0)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "empty term in ordering \"%.60s\"", terms);
            return pd_error_field(err, "ordering");
        }
        if (query->order_count >= PD_QUERY_MAX_ORDER_TERMS)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "ordering \"%.60s...\" has more than %d terms", terms,
                         PD_QUERY_MAX_ORDER_TERMS);
            return pd_error_field(err, "ordering");
        }
        if (!add_term(query, item, err))
            return false;
        item = next;
    }
    return true;
}

/* Whether the order names key field (a field of its own model) already. */
static bool
has_key_term(const PdQuery *query, const PdField *key)
{
    for (size_t i = 0; i < query->order_count; i++)
        if (query->order[i].path.hop_count == 0 && query->order[i].path.field == key)
            return true;
    return false;
}

/* The fields of the primary key the order does not name yet, appended (ascending, in the key's order): the
 * one field of a one-field key, every missing part of a composite one, so that rows are totally ordered. */
static bool
append_key_terms(PdQuery *query, PdError *err)
{
    for (size_t k = 0; k < pd_model_key_count(query->model); k++)
    {
        const PdField *key = pd_model_key_field(query->model, k);
        if (key == NULL || has_key_term(query, key))
            continue;
        PdOrderTerm *all =
            pd_arena_reserve_next(query->arena, query->order, query->order_count, sizeof(*all));
        if (all == NULL)
            return pd_arena_error(query->arena, err);
        all[query->order_count] =
            (PdOrderTerm){.path = {.text = key->name, .model = query->model, .field = key}};
        query->order = all;
        query->order_count++;
    }
    return true;
}

bool
pd_query_effective_order(PdQuery *query, PdOrderTerm **terms, size_t *count, PdError *err)
{
    if (!query->is_ordered && query->model->ordering_count > 0 && query->order_count == 0)
    {
        for (size_t i = 0; i < query->model->ordering_count; i++)
        {
            const PdOrdering *ordering = &query->model->ordering[i];
            char *item =
                pd_arena_sprintf(query->arena, "%s%s", ordering->is_descending ? "-" : "", ordering->field);
            if (item == NULL)
                return pd_arena_error(query->arena, err);
            if (!add_term(query, item, err))
                return false;
        }
    }
    query->is_ordered = true;
    if (!append_key_terms(query, err))
        return false;
    *terms = query->order;
    *count = query->order_count;
    return true;
}

const char *
pd_query_join_path(PdSqlBuild *build, const PdPath *path, const char *alias, PdStrbuf *joins)
{
    const char *from = alias;
    for (size_t i = 0; i < path->hop_count; i++)
    {
        const PdHop *hop = &path->hops[i];
        const char *to = pd_query_alias(build);
        pd_strbuf_append(joins, " LEFT JOIN ");
        pd_query_render_hop_from(joins, hop, to, NULL);
        pd_strbuf_append(joins, " ON ");
        pd_query_render_hop_link(joins, hop, from, to, NULL);
        from = to;
    }
    return from;
}

bool
pd_query_order_exprs(PdSqlBuild *build, const PdOrderTerm *terms, size_t count, const char *alias,
                     PdStrbuf *joins, const char ***exprs)
{
    const char **texts = pd_arena_calloc(build->query->arena, count > 0 ? count : 1, sizeof(*texts));
    if (texts == NULL)
        return false;
    for (size_t i = 0; i < count; i++)
    {
        const char *at = pd_query_join_path(build, &terms[i].path, alias, joins);
        PdStrbuf expr;
        pd_strbuf_init(&expr, build->query->arena);
        pd_strbuf_append_identifier(&expr, at);
        pd_strbuf_append_char(&expr, '.');
        pd_strbuf_append_identifier(&expr, terms[i].path.field->column);
        if ((texts[i] = pd_strbuf_text(&expr)) == NULL)
            return false;
    }
    *exprs = texts;
    return true;
}

void
pd_query_render_order(PdSqlBuild *build, const PdOrderTerm *terms, const char *const *exprs, size_t count,
                      bool is_reversed)
{
    pd_strbuf_append(&build->sql, " ORDER BY ");
    for (size_t i = 0; i < count; i++)
    {
        bool is_descending = terms[i].is_descending != is_reversed;
        pd_strbuf_appendf(&build->sql, "%s%s%s", i > 0 ? ", " : "", exprs[i], is_descending ? " DESC" : "");
    }
}

/* Whether the term's value can be null: a nullable field, or one reached through a nullable key. */
static bool
is_nullable(const PdOrderTerm *term)
{
    if (term->path.field->is_nullable)
        return true;
    for (size_t i = 0; i < term->path.hop_count; i++)
        if (term->path.hops[i].kind != PD_HOP_FORWARD || term->path.hops[i].field->is_nullable)
            return true;
    return false;
}

/*
 * A keyset value: "(SELECT $n::type)" in a statement with no condition, so that PostgreSQL keeps its generic
 * plan (the value hidden from the planner like the page's LIMIT, statement.c: append_bound; the initplan's
 * result still bounds the index scan), else "$n::type", for a custom plan that sees it.
 */
static void
render_value(PdSqlBuild *build, const PdOrderTerm *term, const char *value)
{
    bool hides = build->query->where == NULL;
    if (hides)
        pd_strbuf_append(&build->sql, "(SELECT ");
    const PdField *field = term->path.field;
    pd_query_param(build, value,
                   field->is_array ? pd_arena_sprintf(build->query->arena, "%s[]", pd_query_value_type(field))
                                   : pd_query_value_type(field));
    if (hides)
        pd_strbuf_append_char(&build->sql, ')');
}

/* "x comes after v" in the term's direction (is_descending already flipped for a before-keyset). */
static void
render_after_one(PdSqlBuild *build, const PdOrderTerm *term, const char *expr, const char *value,
                 bool is_descending)
{
    PdStrbuf *sql = &build->sql;
    if (value == NULL)
    {
        /* nulls are last ascending (nothing after them), first descending (every value after them) */
        pd_strbuf_appendf(sql, is_descending ? "%s IS NOT NULL" : "false", expr);
        return;
    }
    bool or_null = !is_descending && is_nullable(term);
    pd_strbuf_appendf(sql, "%s%s %s ", or_null ? "(" : "", expr, is_descending ? "<" : ">");
    render_value(build, term, value);
    if (or_null)
        pd_strbuf_appendf(sql, " OR %s IS NULL)", expr);
}

static void
render_equal(PdSqlBuild *build, const PdOrderTerm *term, const char *expr, const char *value)
{
    if (value == NULL)
    {
        pd_strbuf_appendf(&build->sql, "%s IS NULL", expr);
        return;
    }
    pd_strbuf_appendf(&build->sql, "%s = ", expr);
    render_value(build, term, value);
}

/* The row comparison (x1, x2) > ($1, $2) when it means the same as the expansion. */
static bool
is_row_comparable(const PdOrderTerm *terms, const char *const *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (values[i] == NULL || is_nullable(&terms[i]) || terms[i].is_descending != terms[0].is_descending)
            return false;
    return true;
}

void
pd_query_render_keyset(PdSqlBuild *build, const PdOrderTerm *terms, const char *const *exprs, size_t count)
{
    PdQuery *query = build->query;
    const char *const *values = query->after;
    PdStrbuf *sql = &build->sql;
    if (is_row_comparable(terms, values, count))
    {
        bool is_descending = terms[0].is_descending != query->is_before;
        pd_strbuf_append_char(sql, '(');
        for (size_t i = 0; i < count; i++)
            pd_strbuf_appendf(sql, "%s%s", i > 0 ? ", " : "", exprs[i]);
        pd_strbuf_appendf(sql, ") %s (", is_descending ? "<" : ">");
        for (size_t i = 0; i < count; i++)
        {
            if (i > 0)
                pd_strbuf_append(sql, ", ");
            render_value(build, &terms[i], values[i]);
        }
        pd_strbuf_append_char(sql, ')');
        return;
    }
    pd_strbuf_append_char(sql, '(');
    bool first_descending = terms[0].is_descending != query->is_before;
    if (values[0] != NULL && !is_nullable(&terms[0]))
    {
        /* the first term's bound alone, so the index of the ordering bounds the scan */
        pd_strbuf_appendf(sql, "%s %s ", exprs[0], first_descending ? "<=" : ">=");
        render_value(build, &terms[0], values[0]);
        pd_strbuf_append(sql, " AND ");
    }
    pd_strbuf_append_char(sql, '(');
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append(sql, i > 0 ? " OR (" : "(");
        for (size_t j = 0; j < i; j++)
        {
            render_equal(build, &terms[j], exprs[j], values[j]);
            pd_strbuf_append(sql, " AND ");
        }
        render_after_one(build, &terms[i], exprs[i], values[i], terms[i].is_descending != query->is_before);
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_append(sql, "))");
}

bool
pd_query_after(PdQuery *query, const char *const *values, size_t count, bool is_before, PdError *err)
{
    PdOrderTerm *terms = NULL;
    size_t term_count = 0;
    if (!pd_query_effective_order(query, &terms, &term_count, err))
        return false;
    if (count != term_count)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "a position takes %zu values (the ordering and the key), not %zu", term_count, count);
        return pd_error_field(err, "cursor");
    }
    const char **copies = pd_arena_calloc(query->arena, count, sizeof(*copies));
    if (copies == NULL)
        return pd_arena_error(query->arena, err);
    for (size_t i = 0; i < count; i++)
    {
        if (values[i] == NULL)
        {
            if (!is_nullable(&terms[i]))
            {
                pd_error_set(err, PD_ERR_INVALID_INPUT, "a position's value for \"%s\" cannot be null",
                             terms[i].path.text);
                return pd_error_field(err, "cursor");
            }
            continue;
        }
        if (!pd_query_check_value(query->arena, terms[i].path.field, values[i], &copies[i], err))
            return pd_error_field(err, "cursor");
    }
    query->after = copies;
    query->after_count = count;
    query->is_before = is_before;
    return true;
}
