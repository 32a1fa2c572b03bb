/*
 * statement.c - a PdQuery as one SQL statement per execution shape. The
 * shapes share one core, "FROM <table> AS pd_m <joins> WHERE <conditions>
 * [keyset] ORDER BY <ordering, key last> LIMIT/OFFSET", and differ in what
 * they select: a page (the objects as one JSON array with json_agg, the
 * exact count as a sub-select of the same statement, limit + 1 rows to know
 * whether more follow, the ordering values of the first and last row), one
 * object (get), a count, an existence test, text rows. Limits are parameters
 * too, so one statement text serves every page of a list and PostgreSQL's
 * prepared plan is reused; the ORDER BY is the plain columns of the ordering
 * so the index that matches it serves the LIMIT and the keyset.
 */
#include <stdio.h>
#include <string.h>

#include "prodata/count.h"
#include "query/build.h"

#define MAIN_ALIAS "pd_m"

static void
append_from(PdSqlBuild *build, const char *joins)
{
    pd_strbuf_append(&build->sql, " FROM ");
    pd_strbuf_append_identifier(&build->sql, build->query->model->table);
    pd_strbuf_append(&build->sql, " AS " MAIN_ALIAS);
    if (joins != NULL)
        pd_strbuf_append(&build->sql, joins);
}

/* " WHERE <conditions> [AND keyset]" (nothing when neither). */
static void
append_where(PdSqlBuild *build, const PdOrderTerm *terms, const char *const *exprs, size_t count,
             bool with_keyset)
{
    PdQuery *query = build->query;
    bool has_keyset = with_keyset && query->after != NULL;
    if (query->where == NULL && !has_keyset)
        return;
    pd_strbuf_append(&build->sql, " WHERE ");
    if (query->where != NULL)
        pd_query_render_condition(build, query->where, MAIN_ALIAS);
    if (query->where != NULL && has_keyset)
        pd_strbuf_append(&build->sql, " AND ");
    if (has_keyset)
        pd_query_render_keyset(build, terms, exprs, count);
}

static const char *
number_text(PdSqlBuild *build, int64_t number)
{
    char *text = pd_arena_sprintf(build->query->arena, "%lld", (long long)number);
    if (text == NULL)
        build->sql.failed = true;
    return text;
}

/*
 * A LIMIT or OFFSET number. In a statement with no condition it is written as "(SELECT $n::bigint)", which
 * the planner cannot see through: PostgreSQL plans a prepared statement anew for each execution (a custom
 * plan) while its generic plan, costed without the numbers, looks dearer than plans that know them, and a
 * LIMIT with an OFFSET always does (a fifth of the server's time on a list page went into planning). Hidden,
 * both cost the same and the generic plan is kept after five executions (a cursor's keyset values are hidden
 * alike, order.c). With a condition the custom plan stays, as the condition's values can change the best
 * plan.
 */
static void
append_bound(PdSqlBuild *build, int64_t number)
{
    bool hides = build->query->where == NULL;
    if (hides)
        pd_strbuf_append(&build->sql, "(SELECT ");
    pd_query_param(build, number_text(build, number), "bigint");
    if (hides)
        pd_strbuf_append(&build->sql, ")");
}

/* SELECT count(*) ..., or the row counter's sum when the caller allowed it and nothing filters the rows. */
static void
append_count(PdSqlBuild *build)
{
    if (build->query->use_counter && build->query->where == NULL)
    {
        pd_strbuf_append(&build->sql, "SELECT ");
        pd_query_count_expression(&build->sql, build->query->model, build->err);
        return;
    }
    pd_strbuf_append(&build->sql, "SELECT count(*)");
    append_from(build, NULL);
    append_where(build, NULL, NULL, 0, false);
}

/* Whether an ordering term is a column of the query's model itself (no relation to cross). */
static bool
is_own_column(const PdOrderTerm *term)
{
    return term->path.hop_count == 0;
}

/*
 * Whether a page's rows are found by a seek, not by OFFSET: an unfiltered list ordered by the primary key
 * alone, past its first page. OFFSET makes PostgreSQL fetch every skipped row from the table; the seek
 * skips them in the primary key's index, reading no row (an index-only scan, where the visibility map
 * allows), then fetches the page's rows only.
 */
static bool
seeks_page(const PdQuery *query, const PdOrderTerm *terms, size_t count)
{
    return query->offset > 0 && query->where == NULL && query->after == NULL && count == 1 &&
           is_own_column(&terms[0]) && terms[0].path.field->is_primary_key;
}

/*
 * " WHERE pd_m.pk >= (SELECT pd_s.pk FROM t AS pd_s ORDER BY pd_s.pk OFFSET $n LIMIT 1)" (<= when
 * descending): the rows from the one OFFSET would start at, in the same snapshot, so the same page; none
 * when OFFSET is past the end (the subquery is NULL).
 */
static void
append_seek(PdSqlBuild *build, const PdOrderTerm *term)
{
    PdStrbuf *sql = &build->sql;
    const char *column = term->path.field->column;
    pd_strbuf_append(sql, " WHERE ");
    pd_query_column(sql, MAIN_ALIAS, column);
    pd_strbuf_append(sql, term->is_descending ? " <= (SELECT " : " >= (SELECT ");
    pd_query_column(sql, "pd_s", column);
    pd_strbuf_append(sql, " FROM ");
    pd_strbuf_append_identifier(sql, build->query->model->table);
    pd_strbuf_append(sql, " AS pd_s ORDER BY ");
    pd_query_column(sql, "pd_s", column);
    pd_strbuf_append(sql, term->is_descending ? " DESC OFFSET " : " OFFSET ");
    append_bound(build, build->query->offset);
    pd_strbuf_append(sql, " LIMIT 1)");
}

/*
 * The ordered, limited rows with the object as o, the ordering values as k1..kn (text) and their place as n.
 * The innermost select orders and limits the bare rows (so OFFSET skips rows without building their
 * objects), the middle numbers them in that order, the outer builds each object on the same alias pd_m
 * (its columns keep their names) with the LEFT JOINs of select_related. The innermost select is the table's
 * own row (pd_m.*) and adds a column only for a term across a relation: then PostgreSQL hands the scanned
 * rows to the sort as they are, where a computed list would be formed for every row the filter keeps (90,000
 * for one page of 50: a third of the statement's time). The outer select reads own terms by their names.
 */
static void
append_page_rows(PdSqlBuild *build, const PdOrderTerm *terms, size_t count, size_t key_count,
                 int64_t fetch_limit)
{
    PdQuery *query = build->query;
    PdArena *arena = query->arena;
    PdStrbuf order_joins;
    PdStrbuf embed_joins;
    PdStrbuf object;
    pd_strbuf_init(&order_joins, arena);
    pd_strbuf_init(&embed_joins, arena);
    pd_strbuf_init(&object, arena);
    pd_strbuf_append(&order_joins, "");
    pd_strbuf_append(&embed_joins, "");
    const char **exprs = NULL;
    if (!pd_query_order_exprs(build, terms, count, MAIN_ALIAS, &order_joins, &exprs))
    {
        build->sql.failed = true;
        return;
    }
    pd_query_render_object(build, MAIN_ALIAS, &object, &embed_joins);
    PdStrbuf *sql = &build->sql;
    pd_strbuf_append(sql, "SELECT " MAIN_ALIAS ".pd_n AS n, ");
    pd_strbuf_append(sql, pd_strbuf_text(&object));
    pd_strbuf_append(sql, " AS o");
    for (size_t i = 0; i < key_count; i++)
    {
        pd_strbuf_append(sql, ", to_json(");
        if (is_own_column(&terms[i]))
            pd_query_column(sql, MAIN_ALIAS, terms[i].path.field->column);
        else
            pd_strbuf_appendf(sql, MAIN_ALIAS ".pd_k%zu", i + 1);
        pd_strbuf_appendf(sql, ") #>> '{}' AS k%zu", i + 1);
    }
    pd_strbuf_append(sql, " FROM (SELECT row_number() OVER () AS pd_n, pd_i.* FROM (SELECT " MAIN_ALIAS ".*");
    for (size_t i = 0; i < count; i++)
        if (!is_own_column(&terms[i]))
            pd_strbuf_appendf(sql, ", %s AS pd_k%zu", exprs[i], i + 1);
    append_from(build, pd_strbuf_text(&order_joins));
    bool seeks = seeks_page(query, terms, count);
    if (seeks)
        append_seek(build, &terms[0]);
    else
        append_where(build, terms, exprs, count, true);
    pd_query_render_order(build, terms, exprs, count, query->after != NULL && query->is_before);
    if (fetch_limit >= 0)
    {
        pd_strbuf_append(sql, " LIMIT ");
        append_bound(build, fetch_limit);
    }
    if (query->offset > 0 && !seeks)
    {
        pd_strbuf_append(sql, " OFFSET ");
        append_bound(build, query->offset);
    }
    pd_strbuf_append(sql, ") AS pd_i) AS " MAIN_ALIAS);
    pd_strbuf_append(sql, pd_strbuf_text(&embed_joins));
    if (object.failed || order_joins.failed || embed_joins.failed)
        build->sql.failed = true;
}

/*
 * SELECT count, results, fetched, k1 first, k1 last, ...: the page's objects in order, how many rows came
 * (limit + 1 means more follow) and the keys of the first and last object of the page, unless the caller
 * does not need them (page numbers): the keys' text and their two ordered aggregates cost about as much as
 * building the 50 objects of a page.
 */
static void
append_page(PdSqlBuild *build, PdCountMode count_mode, const PdOrderTerm *terms, size_t count)
{
    PdQuery *query = build->query;
    PdStrbuf *sql = &build->sql;
    bool is_backwards = query->after != NULL && query->is_before;
    pd_strbuf_append(sql, "SELECT ");
    if (count_mode == PD_COUNT_EXACT)
    {
        pd_strbuf_append(sql, "(");
        append_count(build);
        pd_strbuf_append(sql, ") AS count, ");
    }
    else
        pd_strbuf_append(sql, "NULL::bigint AS count, ");
    const char *limit = NULL;
    if (query->limit >= 0)
        limit = number_text(build, query->limit);
    pd_strbuf_appendf(sql, "coalesce(json_agg(p.o ORDER BY p.n%s)", is_backwards ? " DESC" : "");
    if (limit != NULL)
    {
        pd_strbuf_append(sql, " FILTER (WHERE p.n <= ");
        pd_query_param(build, limit, "bigint");
        pd_strbuf_append(sql, ")");
    }
    pd_strbuf_append(sql, ", '[]'::json) AS results, count(*) AS fetched");
    size_t key_count = query->without_keys ? 0 : count;
    for (size_t i = 0; i < key_count; i++)
    {
        /* the page's first and last rows in the order the statement walked (reversed for a before-keyset) */
        pd_strbuf_appendf(sql, ", (array_agg(p.k%zu ORDER BY p.n))[1] AS a%zu", i + 1, i + 1);
        pd_strbuf_appendf(sql, ", (array_agg(p.k%zu ORDER BY p.n))[", i + 1);
        if (limit != NULL)
        {
            pd_strbuf_append(sql, "least(count(*), ");
            pd_query_param(build, limit, "bigint");
            pd_strbuf_append(sql, ")");
        }
        else
            pd_strbuf_append(sql, "count(*)");
        pd_strbuf_appendf(sql, "] AS b%zu", i + 1);
    }
    pd_strbuf_append(sql, " FROM (");
    append_page_rows(build, terms, count, key_count, query->limit >= 0 ? query->limit + 1 : -1);
    pd_strbuf_append(sql, ") AS p");
}

/* A get (one object: LIMIT 2 tells one from several) or, keyed, many: each object after its key as text. */
static void
append_get(PdSqlBuild *build, bool is_keyed)
{
    PdStrbuf joins;
    PdStrbuf object;
    pd_strbuf_init(&joins, build->query->arena);
    pd_strbuf_init(&object, build->query->arena);
    pd_strbuf_append(&joins, "");
    pd_query_render_object(build, MAIN_ALIAS, &object, &joins);
    pd_strbuf_append(&build->sql, "SELECT ");
    const PdField *key = pd_model_primary_key(build->query->model);
    if (is_keyed && key != NULL)
    {
        pd_strbuf_append(&build->sql, MAIN_ALIAS ".");
        pd_strbuf_append_identifier(&build->sql, key->column);
        pd_strbuf_append(&build->sql, "::text, ");
    }
    else if (is_keyed)
        build->sql.failed = true; /* the caller checked: a model without a key has no keyed get */
    pd_strbuf_append(&build->sql, pd_strbuf_text(&object));
    append_from(build, pd_strbuf_text(&joins));
    append_where(build, NULL, NULL, 0, false);
    if (!is_keyed)
        pd_strbuf_append(&build->sql, " LIMIT 2");
    if (object.failed || joins.failed)
        build->sql.failed = true;
}

static void
append_rows(PdSqlBuild *build, const PdOrderTerm *terms, size_t count)
{
    PdQuery *query = build->query;
    PdStrbuf joins;
    PdStrbuf columns;
    pd_strbuf_init(&joins, query->arena);
    pd_strbuf_init(&columns, query->arena);
    pd_strbuf_append(&joins, "");
    const char **exprs = NULL;
    pd_query_render_columns(build, MAIN_ALIAS, &columns, &joins);
    if (!pd_query_order_exprs(build, terms, count, MAIN_ALIAS, &joins, &exprs))
    {
        build->sql.failed = true;
        return;
    }
    pd_strbuf_append(&build->sql, "SELECT ");
    pd_strbuf_append(&build->sql, pd_strbuf_text(&columns));
    append_from(build, pd_strbuf_text(&joins));
    append_where(build, terms, exprs, count, true);
    pd_query_render_order(build, terms, exprs, count, query->after != NULL && query->is_before);
    if (query->limit >= 0)
    {
        pd_strbuf_append(&build->sql, " LIMIT ");
        append_bound(build, query->limit);
    }
    if (query->offset > 0)
    {
        pd_strbuf_append(&build->sql, " OFFSET ");
        append_bound(build, query->offset);
    }
    if (columns.failed || joins.failed)
        build->sql.failed = true;
}

bool
pd_query_build(PdQuery *query, PdQueryShape shape, PdCountMode count, PdSqlBuild *build, PdError *err)
{
    memset(build, 0, sizeof(*build));
    build->query = query;
    build->err = err;
    pd_strbuf_init(&build->sql, query->arena);
    PdOrderTerm *terms = NULL;
    size_t term_count = 0;
    if ((shape == PD_SHAPE_PAGE || shape == PD_SHAPE_ROWS) &&
        !pd_query_effective_order(query, &terms, &term_count, err))
        return false;
    switch (shape)
    {
        case PD_SHAPE_PAGE:
            append_page(build, count, terms, term_count);
            break;
        case PD_SHAPE_GET:
        case PD_SHAPE_GET_KEYED:
            append_get(build, shape == PD_SHAPE_GET_KEYED);
            break;
        case PD_SHAPE_COUNT:
            append_count(build);
            break;
        case PD_SHAPE_EXISTS:
            pd_strbuf_append(&build->sql, "SELECT EXISTS (SELECT 1");
            append_from(build, NULL);
            append_where(build, NULL, NULL, 0, false);
            pd_strbuf_append(&build->sql, ")");
            break;
        case PD_SHAPE_ROWS:
            append_rows(build, terms, term_count);
            break;
    }
    if (pd_strbuf_failed(&build->sql) || pd_arena_failed(query->arena))
        return pd_arena_error(query->arena, err);
    return true;
}

bool
pd_query_sql(PdQuery *query, PdQueryShape shape, PdCountMode count, PdSqlText *out, PdError *err)
{
    PdSqlBuild build;
    if (!pd_query_build(query, shape, count, &build, err))
        return false;
    out->sql = pd_strbuf_text(&build.sql);
    out->params = build.params;
    out->param_count = build.param_count;
    return true;
}
