/*
 * aggregate.c - count, sum, avg, min and max over a query's rows, grouped by
 * fields or to-one paths: one statement "SELECT <groups>, <aggregates> FROM
 * ... WHERE <conditions> GROUP BY <groups> ORDER BY <groups>". Paths go
 * through to-one relations only (LEFT JOINs), so every row is counted once;
 * a to-many path would multiply rows and is refused. Result names come from
 * the caller (checked to be plain words) or are Django's "<field>__<function>".
 */
#include <ctype.h>
#include <string.h>

#include "query/build.h"

static const char *function_names[] = {"count", "sum", "avg", "min", "max"};

/* A to-one path to a column (for a group or an aggregate); field errors name the path. */
static bool
resolve_column(PdQuery *query, const char *text, PdPath *path, PdError *err)
{
    size_t count = 0;
    size_t used = 0;
    char **names = pd_query_split_path(query->arena, text, &count);
    if (names == NULL)
        return pd_arena_error(query->arena, err);
    memset(path, 0, sizeof(*path));
    if (!pd_query_resolve_path(query->arena, query->catalog, query->model, names, count, false, &used, path,
                               err))
        return pd_error_field(err, "%s", text);
    if (used < count || path->is_to_many || path->field->kind == PD_FIELD_MANY_TO_MANY)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "cannot aggregate or group by \"%.60s\": use a field of %s or of a to-one relation",
                     text, query->model->name);
        return pd_error_field(err, "%s", text);
    }
    path->text = text;
    return true;
}

static bool
check_function(const PdAggregate *aggregate, const PdField *field, PdError *err)
{
    PdKindFamily family = pd_kind_info(pd_query_key_kind(field))->family;
    bool is_number = family == PD_FAMILY_INTEGER || family == PD_FAMILY_NUMERIC;
    bool ok = aggregate->function == PD_AGG_COUNT ||
              ((aggregate->function == PD_AGG_SUM || aggregate->function == PD_AGG_AVG)
                   ? is_number || field->kind == PD_FIELD_DURATION
                   : family != PD_FAMILY_BOOLEAN && family != PD_FAMILY_JSON && family != PD_FAMILY_BINARY &&
                         family != PD_FAMILY_UUID);
    ok = ok && (aggregate->function == PD_AGG_COUNT || !field->is_array); /* an array field is counted only */
    if (ok)
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "%s does not apply to %s field \"%s\"",
                 function_names[aggregate->function], pd_model_kind_name(field->kind), field->name);
    return pd_error_field(err, "%s", aggregate->field);
}

static bool
is_plain_word(const char *text)
{
    if (text[0] == '\0' || strlen(text) > 63 || isdigit((unsigned char)text[0]))
        return false;
    for (const char *p = text; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

static const char *
aggregate_name(PdQuery *query, const PdAggregate *aggregate, PdError *err)
{
    const char *name = aggregate->alias;
    if (name == NULL)
        name = aggregate->field == NULL ? "count"
                                        : pd_arena_sprintf(query->arena, "%s__%s", aggregate->field,
                                                           function_names[aggregate->function]);
    if (name == NULL)
        return pd_arena_error(query->arena, err), NULL;
    if (!is_plain_word(name))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "result name \"%.60s\" is not a plain word ([A-Za-z_][A-Za-z0-9_]*)", name);
        pd_error_field(err, "%s", name);
        return NULL;
    }
    return name;
}

/* Appends alias.column of a resolved path (its joins go to joins). */
static void
append_path_column(PdSqlBuild *build, const PdPath *path, PdStrbuf *out, PdStrbuf *joins)
{
    const char *at = pd_query_join_path(build, path, "pd_m", joins);
    pd_query_column(out, at, path->field->column);
}

static bool
build_select(PdSqlBuild *build, char **groups, size_t group_count, const PdAggregate *aggregates,
             size_t count, PdStrbuf *select, PdStrbuf *group_list, PdStrbuf *joins, PdError *err)
{
    PdQuery *query = build->query;
    for (size_t i = 0; i < group_count; i++)
    {
        PdPath path;
        if (!resolve_column(query, groups[i], &path, err))
            return false;
        PdStrbuf column;
        pd_strbuf_init(&column, query->arena);
        append_path_column(build, &path, &column, joins);
        pd_strbuf_append(select, i > 0 ? ", " : "");
        pd_strbuf_append(group_list, i > 0 ? ", " : "");
        pd_strbuf_append(select, pd_strbuf_text(&column));
        pd_strbuf_append(group_list, pd_strbuf_text(&column));
        pd_strbuf_append(select, " AS ");
        pd_strbuf_append_identifier(select, path.text);
    }
    for (size_t i = 0; i < count; i++)
    {
        const char *name = aggregate_name(query, &aggregates[i], err);
        if (name == NULL)
            return false;
        pd_strbuf_append(select, group_count + i > 0 ? ", " : "");
        pd_strbuf_appendf(select, "%s(", function_names[aggregates[i].function]);
        if (aggregates[i].field == NULL)
        {
            if (aggregates[i].function != PD_AGG_COUNT)
                return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s needs a field",
                                    function_names[aggregates[i].function]);
            pd_strbuf_append(select, "*");
        }
        else
        {
            PdPath path;
            if (!resolve_column(query, aggregates[i].field, &path, err) ||
                !check_function(&aggregates[i], path.field, err))
                return false;
            append_path_column(build, &path, select, joins);
        }
        pd_strbuf_append(select, ") AS ");
        pd_strbuf_append_identifier(select, name);
    }
    return true;
}

static char **
split_groups(PdArena *arena, const char *text, size_t *count)
{
    *count = 0;
    char *copy = pd_arena_strdup(arena, text);
    char **groups = pd_arena_calloc(arena, strlen(text) + 1, sizeof(*groups));
    if (copy == NULL || groups == NULL)
        return NULL;
    for (char *item = strtok(copy, ","); item != NULL; item = strtok(NULL, ","))
    {
        while (*item == ' ')
            item++;
        for (size_t end = strlen(item); end > 0 && item[end - 1] == ' '; end--)
            item[end - 1] = '\0';
        groups[(*count)++] = item;
    }
    return groups;
}

bool
pd_query_aggregate(PdQuery *query, PdDb *db, const char *group_by, const PdAggregate *aggregates,
                   size_t count, PdDbResult **rows, PdError *err)
{
    size_t group_count = 0;
    char **groups = split_groups(query->arena, group_by != NULL ? group_by : "", &group_count);
    if (groups == NULL)
        return pd_arena_error(query->arena, err);
    if (group_count + count == 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "aggregate needs a group or an aggregate");
    PdSqlBuild build = {.query = query, .err = err};
    PdStrbuf select, group_list, joins;
    pd_strbuf_init(&build.sql, query->arena);
    pd_strbuf_init(&select, query->arena);
    pd_strbuf_init(&group_list, query->arena);
    pd_strbuf_init(&joins, query->arena);
    pd_strbuf_append(&joins, "");
    if (!build_select(&build, groups, group_count, aggregates, count, &select, &group_list, &joins, err))
        return false;
    pd_strbuf_append(&build.sql, "SELECT ");
    pd_strbuf_append(&build.sql, pd_strbuf_text(&select));
    pd_strbuf_append(&build.sql, " FROM ");
    pd_strbuf_append_identifier(&build.sql, query->model->table);
    pd_strbuf_append(&build.sql, " AS pd_m");
    pd_strbuf_append(&build.sql, pd_strbuf_text(&joins));
    if (query->where != NULL)
    {
        pd_strbuf_append(&build.sql, " WHERE ");
        pd_query_render_condition(&build, query->where, "pd_m");
    }
    if (group_count > 0)
        pd_strbuf_appendf(&build.sql, " GROUP BY %s ORDER BY %s", pd_strbuf_text(&group_list),
                          pd_strbuf_text(&group_list));
    if (pd_strbuf_failed(&build.sql) || pd_strbuf_failed(&select) || pd_strbuf_failed(&joins))
        return pd_arena_error(query->arena, err);
    return pd_query_run(query, db, pd_strbuf_text(&build.sql), build.params, build.param_count, rows, err);
}
