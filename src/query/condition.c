/*
 * condition.c - a condition tree as SQL: each leaf a comparison of a column
 * (or its transform) with parameters cast to the field's type, each path
 * across relations one EXISTS sub-query over the joined hops, AND/OR/NOT as
 * themselves. Parameters are numbered as they are appended, so the same tree
 * renders into any statement. Identifiers come from the resolved path (the
 * catalog) and are quoted; values are only ever $n.
 */
#include <stdio.h>
#include <string.h>

#include "query/build.h"

void
pd_query_param(PdSqlBuild *build, const char *value, const char *type)
{
    const char **params = pd_arena_reserve_next(build->query->arena, (void *)build->params,
                                                (size_t)build->param_count, sizeof(*params));
    if (params == NULL)
    {
        build->sql.failed = true;
        return;
    }
    params[build->param_count++] = value;
    build->params = params;
    pd_strbuf_appendf(&build->sql, "$%d", build->param_count);
    if (type != NULL)
        pd_strbuf_appendf(&build->sql, "::%s", type);
}

const char *
pd_query_alias(PdSqlBuild *build)
{
    char *alias = pd_arena_sprintf(build->query->arena, "pd_a%d", ++build->alias_count);
    if (alias == NULL)
        build->sql.failed = true;
    return alias != NULL ? alias : "pd_a";
}

void
pd_query_column(PdStrbuf *sql, const char *alias, const char *column)
{
    pd_strbuf_append_identifier(sql, alias);
    pd_strbuf_append_char(sql, '.');
    pd_strbuf_append_identifier(sql, column);
}

/* A PostgreSQL array literal of the values ("{\"a\",NULL}"), sent as one parameter. */
static const char *
array_literal(PdArena *arena, const char *const *values, size_t count)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    pd_strbuf_append_char(&text, '{');
    for (size_t i = 0; i < count; i++)
    {
        if (i > 0)
            pd_strbuf_append_char(&text, ',');
        if (values[i] == NULL)
        {
            pd_strbuf_append(&text, "NULL");
            continue;
        }
        pd_strbuf_append_char(&text, '"');
        for (const char *p = values[i]; *p != '\0'; p++)
        {
            if (*p == '"' || *p == '\\')
                pd_strbuf_append_char(&text, '\\');
            pd_strbuf_append_char(&text, *p);
        }
        pd_strbuf_append_char(&text, '"');
    }
    pd_strbuf_append_char(&text, '}');
    return pd_strbuf_text(&text);
}

static void
append_operand(PdSqlBuild *build, const PdQ *q, const char *alias)
{
    static const char *parts[] = {"", "year", "month", "day"};
    const char *column = q->path.field->column;
    if (column == NULL) /* a many-to-many field is reached through its hop: never compared itself */
        column = pd_model_primary_key(q->path.model)->column;
    if (q->transform ==
        PD_TRANSFORM_LEN) /* Django's ArrayLenTransform: 0 for an empty array, null for null */
    {
        pd_strbuf_append(&build->sql, "CASE WHEN ");
        pd_query_column(&build->sql, alias, column);
        pd_strbuf_append(&build->sql, " IS NULL THEN NULL ELSE coalesce(array_length(");
        pd_query_column(&build->sql, alias, column);
        pd_strbuf_append(&build->sql, ", 1), 0) END");
    }
    else if (q->transform == PD_TRANSFORM_DATE)
    {
        pd_strbuf_append_char(&build->sql, '(');
        pd_query_column(&build->sql, alias, column);
        pd_strbuf_append(&build->sql, ")::date");
    }
    else if (q->transform != PD_TRANSFORM_NONE)
    {
        pd_strbuf_appendf(&build->sql, "extract(%s FROM ", parts[q->transform]);
        pd_query_column(&build->sql, alias, column);
        pd_strbuf_append_char(&build->sql, ')');
    }
    else
        pd_query_column(&build->sql, alias, column);
}

static const char *
value_type(const PdQ *q)
{
    switch (q->transform)
    {
        case PD_TRANSFORM_YEAR:
        case PD_TRANSFORM_MONTH:
        case PD_TRANSFORM_DAY:
            return "integer";
        case PD_TRANSFORM_DATE:
            return "date";
        case PD_TRANSFORM_LEN:
            return "integer";
        default:
            return pd_query_value_type(q->path.field);
    }
}

/*
 * A search=fulltext field matched by the search text: the same expression as the field's index (the
 * planner's schema.c writes it), to_tsvector('config'::regconfig, COALESCE(col::text, ''::text)), so the
 * index serves it; websearch_to_tsquery reads the text as a search box does ("quoted phrase", or, -word).
 * The configuration comes from the catalog (a checked lower-case name), the text is a parameter.
 */
static void
render_fulltext(PdSqlBuild *build, const PdQ *q, const char *alias)
{
    const char *config = q->path.field->search_config != NULL ? q->path.field->search_config : "simple";
    pd_strbuf_append(&build->sql, "to_tsvector(");
    pd_strbuf_append_literal(&build->sql, config);
    pd_strbuf_append(&build->sql, "::regconfig, COALESCE(");
    pd_query_column(&build->sql, alias, q->path.field->column);
    pd_strbuf_append(&build->sql, "::text, ''::text)) @@ websearch_to_tsquery(");
    pd_strbuf_append_literal(&build->sql, config);
    pd_strbuf_append(&build->sql, "::regconfig, ");
    pd_query_param(build, q->values[0], "text");
    pd_strbuf_append_char(&build->sql, ')');
}

/*
 * LIKE, ILIKE, ~ and ~* on the column as text; a citext column stays citext, whose own operators ignore case
 * for every one of them (as Django's lookups on a CI field).
 */
static void
render_pattern(PdSqlBuild *build, const PdQ *q, const char *alias, const char *type, const char *op)
{
    const char *as = type != NULL && strcmp(type, "citext") == 0 ? "citext" : "text";
    append_operand(build, q, alias);
    pd_strbuf_appendf(&build->sql, "::%s%s", as, op);
    pd_query_param(build, q->values[0], as);
}

static void
render_comparison(PdSqlBuild *build, const PdQ *q, const char *alias)
{
    static const char *operators[PD_LOOKUP_COUNT_] = {
        [PD_LOOKUP_GT] = " > ",
        [PD_LOOKUP_GTE] = " >= ",
        [PD_LOOKUP_LT] = " < ",
        [PD_LOOKUP_LTE] = " <= ",
        [PD_LOOKUP_CONTAINS] = " LIKE ",
        [PD_LOOKUP_STARTSWITH] = " LIKE ",
        [PD_LOOKUP_ENDSWITH] = " LIKE ",
        [PD_LOOKUP_ICONTAINS] = " ILIKE ",
        [PD_LOOKUP_ISTARTSWITH] = " ILIKE ",
        [PD_LOOKUP_IENDSWITH] = " ILIKE ",
        [PD_LOOKUP_REGEX] = " ~ ",
        [PD_LOOKUP_IREGEX] = " ~* ",
    };
    PdStrbuf *sql = &build->sql;
    const char *type = value_type(q);
    if (q->is_array_value) /* column = / @> / <@ / && an array of the values, one parameter */
    {
        append_operand(build, q, alias);
        pd_strbuf_append(sql, q->lookup == PD_LOOKUP_CONTAINS       ? " @> "
                              : q->lookup == PD_LOOKUP_CONTAINED_BY ? " <@ "
                              : q->lookup == PD_LOOKUP_OVERLAP      ? " && "
                                                                    : " = ");
        pd_query_param(build, array_literal(build->query->arena, q->values, q->value_count), NULL);
        pd_strbuf_appendf(sql, "::%s[]", type);
        return;
    }
    switch (q->lookup)
    {
        case PD_LOOKUP_FULLTEXT:
            render_fulltext(build, q, alias);
            return;
        case PD_LOOKUP_EXACT:
            append_operand(build, q, alias);
            if (q->values[0] == NULL)
            {
                pd_strbuf_append(sql, " IS NULL");
                return;
            }
            pd_strbuf_append(sql, " = ");
            pd_query_param(build, q->values[0], type);
            return;
        case PD_LOOKUP_IEXACT:
            pd_strbuf_append(sql, "upper(");
            append_operand(build, q, alias);
            pd_strbuf_append(sql, "::text) = upper(");
            pd_query_param(build, q->values[0], "text");
            pd_strbuf_append_char(sql, ')');
            return;
        case PD_LOOKUP_IN:
            if (q->value_count == 0)
            {
                pd_strbuf_append(sql, "false");
                return;
            }
            append_operand(build, q, alias);
            pd_strbuf_append(sql, " = ANY (");
            pd_query_param(build, array_literal(build->query->arena, q->values, q->value_count), NULL);
            pd_strbuf_appendf(sql, "::%s[])", type);
            return;
        case PD_LOOKUP_RANGE:
            append_operand(build, q, alias);
            pd_strbuf_append(sql, " BETWEEN ");
            pd_query_param(build, q->values[0], type);
            pd_strbuf_append(sql, " AND ");
            pd_query_param(build, q->values[1], type);
            return;
        case PD_LOOKUP_ISNULL:
            append_operand(build, q, alias);
            pd_strbuf_append(sql, q->is_true ? " IS NULL" : " IS NOT NULL");
            return;
        case PD_LOOKUP_CONTAINS:
        case PD_LOOKUP_ICONTAINS:
        case PD_LOOKUP_STARTSWITH:
        case PD_LOOKUP_ISTARTSWITH:
        case PD_LOOKUP_ENDSWITH:
        case PD_LOOKUP_IENDSWITH:
        case PD_LOOKUP_REGEX:
        case PD_LOOKUP_IREGEX:
            render_pattern(build, q, alias, type, operators[q->lookup]);
            return;
        default:
            append_operand(build, q, alias);
            pd_strbuf_append(sql, operators[q->lookup]);
            pd_query_param(build, q->values[0], type);
            return;
    }
}

void
pd_query_render_hop_from(PdStrbuf *sql, const PdHop *hop, const char *to_alias, const char *join_alias)
{
    if (hop->kind == PD_HOP_M2M || hop->kind == PD_HOP_M2M_REVERSE)
    {
        pd_strbuf_append_identifier(sql, hop->field->through_table);
        pd_strbuf_append(sql, " AS ");
        pd_strbuf_append_identifier(sql, join_alias);
        pd_strbuf_append(sql, " JOIN ");
        pd_strbuf_append_identifier(sql, hop->to->table);
        pd_strbuf_append(sql, " AS ");
        pd_strbuf_append_identifier(sql, to_alias);
        pd_strbuf_append(sql, " ON ");
        pd_query_column(sql, to_alias, pd_model_primary_key(hop->to)->column);
        pd_strbuf_append(sql, " = ");
        pd_query_column(sql, join_alias, hop->through_to);
        return;
    }
    pd_strbuf_append_identifier(sql, hop->to->table);
    pd_strbuf_append(sql, " AS ");
    pd_strbuf_append_identifier(sql, to_alias);
}

void
pd_query_render_hop_link(PdStrbuf *sql, const PdHop *hop, const char *from_alias, const char *to_alias,
                         const char *join_alias)
{
    switch (hop->kind)
    {
        case PD_HOP_FORWARD:
            pd_query_column(sql, to_alias, pd_model_primary_key(hop->to)->column);
            pd_strbuf_append(sql, " = ");
            pd_query_column(sql, from_alias, hop->field->column);
            return;
        case PD_HOP_REVERSE:
            pd_query_column(sql, to_alias, hop->field->column);
            break;
        case PD_HOP_M2M:
        case PD_HOP_M2M_REVERSE:
            pd_query_column(sql, join_alias, hop->through_from);
            break;
    }
    pd_strbuf_append(sql, " = ");
    pd_query_column(sql, from_alias, pd_model_primary_key(hop->from)->column);
}

/* EXISTS (SELECT 1 FROM hops WHERE link AND <the leaf on the last alias, or `is_not_null_of_any`>). */
static void
render_exists(PdSqlBuild *build, const PdQ *q, const char *outer, int mode)
{
    PdStrbuf *sql = &build->sql;
    const char *from = outer;
    const char *first_alias = NULL;
    const char *first_join = NULL;
    pd_strbuf_append(sql, "EXISTS (SELECT 1 FROM ");
    for (size_t i = 0; i < q->path.hop_count; i++)
    {
        const PdHop *hop = &q->path.hops[i];
        const char *to = pd_query_alias(build);
        const char *join = pd_query_alias(build);
        if (i == 0)
        {
            pd_query_render_hop_from(sql, hop, to, join);
            first_alias = to;
            first_join = join;
        }
        else
        {
            pd_strbuf_append(sql, " JOIN ");
            bool is_m2m = hop->kind == PD_HOP_M2M || hop->kind == PD_HOP_M2M_REVERSE;
            if (is_m2m)
            {
                /* the join table first, linked to the previous alias, then the target */
                pd_strbuf_append_identifier(sql, hop->field->through_table);
                pd_strbuf_append(sql, " AS ");
                pd_strbuf_append_identifier(sql, join);
                pd_strbuf_append(sql, " ON ");
                pd_query_render_hop_link(sql, hop, from, to, join);
                pd_strbuf_append(sql, " JOIN ");
                pd_strbuf_append_identifier(sql, hop->to->table);
                pd_strbuf_append(sql, " AS ");
                pd_strbuf_append_identifier(sql, to);
                pd_strbuf_append(sql, " ON ");
                pd_query_column(&build->sql, to, pd_model_primary_key(hop->to)->column);
                pd_strbuf_append(sql, " = ");
                pd_query_column(&build->sql, join, hop->through_to);
            }
            else
            {
                pd_query_render_hop_from(sql, hop, to, join);
                pd_strbuf_append(sql, " ON ");
                pd_query_render_hop_link(sql, hop, from, to, join);
            }
        }
        from = to;
    }
    pd_strbuf_append(sql, " WHERE ");
    pd_query_render_hop_link(sql, &q->path.hops[0], outer, first_alias, first_join);
    if (mode == 0)
    {
        pd_strbuf_append(sql, " AND ");
        render_comparison(build, q, from);
    }
    else if (mode == 1)
    {
        pd_strbuf_append(sql, " AND ");
        append_operand(build, q, from);
        pd_strbuf_append(sql, " IS NULL");
    }
    pd_strbuf_append_char(sql, ')');
}

static void
render_leaf(PdSqlBuild *build, const PdQ *q, const char *alias)
{
    if (q->path.hop_count == 0)
    {
        render_comparison(build, q, alias);
        return;
    }
    if (q->lookup == PD_LOOKUP_ISNULL && q->is_true)
    {
        /* Django's LEFT JOIN meaning: no related row at all, or one whose value is null */
        pd_strbuf_append(&build->sql, "(NOT ");
        render_exists(build, q, alias, 2);
        pd_strbuf_append(&build->sql, " OR ");
        render_exists(build, q, alias, 1);
        pd_strbuf_append_char(&build->sql, ')');
        return;
    }
    render_exists(build, q, alias, 0);
}

void
pd_query_render_condition(PdSqlBuild *build, const PdQ *q, const char *alias)
{
    switch (q->kind)
    {
        case PD_Q_LEAF:
            render_leaf(build, q, alias);
            return;
        case PD_Q_NOT:
            /* Django's exclude keeps the rows where the condition is unknown (a null column) */
            pd_strbuf_append(&build->sql, "NOT coalesce(");
            pd_query_render_condition(build, q->left, alias);
            pd_strbuf_append(&build->sql, ", false)");
            return;
        case PD_Q_AND:
        case PD_Q_OR:
            pd_strbuf_append_char(&build->sql, '(');
            pd_query_render_condition(build, q->left, alias);
            pd_strbuf_append(&build->sql, q->kind == PD_Q_AND ? " AND " : " OR ");
            pd_query_render_condition(build, q->right, alias);
            pd_strbuf_append_char(&build->sql, ')');
            return;
    }
}
