/*
 * execute.c - running a query: the statement from statement.c sent in one
 * round trip through the one call site below, and its single result read
 * into the caller's shapes (a page, one object, a count, rows). A value
 * PostgreSQL refuses as data (SQLSTATE class 22: a regular expression that
 * does not compile, a date out of range) was the caller's input: it becomes
 * PD_ERR_INVALID_INPUT, never a server error.
 */
#include <stdlib.h>
#include <string.h>

#include "query/build.h"

/* The one place a query reaches the database: prepared once per connection, then reused. */
bool
pd_query_run(PdQuery *query, PdDb *db, const char *sql, const char *const *params, int param_count,
             PdDbResult **result, PdError *err)
{
    if (pd_db_query_prepared(query->arena, db, sql, param_count, params, result, err))
        return true;
    if (err != NULL && err->code == PD_ERR_DB_QUERY && strncmp(err->sqlstate, "22", 2) == 0)
    {
        err->code = PD_ERR_INVALID_INPUT;
        err->is_retryable = false;
    }
    return false;
}

static bool
run_shape(PdQuery *query, PdDb *db, PdQueryShape shape, PdCountMode count, PdDbResult **result, PdError *err)
{
    PdSqlBuild build;
    if (!pd_query_build(query, shape, count, &build, err))
        return false;
    return pd_query_run(query, db, pd_strbuf_text(&build.sql), build.params, build.param_count, result, err);
}

static const char *
value_or_null(const PdDbResult *result, size_t row, size_t column)
{
    return pd_db_result_is_null(result, row, column) ? NULL : pd_db_result_value(result, row, column);
}

/* Row 0's keys a<i> (walk order first) or b<i> (last), from column 3 on in pairs. */
static const char **
read_keys(PdQuery *query, const PdDbResult *result, size_t key_count, bool is_last)
{
    const char **keys = pd_arena_calloc(query->arena, key_count > 0 ? key_count : 1, sizeof(*keys));
    if (keys == NULL)
        return NULL;
    for (size_t i = 0; i < key_count; i++)
        keys[i] = value_or_null(result, 0, 3 + 2 * i + (is_last ? 1 : 0));
    return keys;
}

bool
pd_query_page(PdQuery *query, PdDb *db, PdCountMode count, PdPage *page, PdError *err)
{
    PdDbResult *result = NULL;
    if (!run_shape(query, db, PD_SHAPE_PAGE, count, &result, err))
        return false;
    size_t key_count = (pd_db_result_column_count(result) - 3) / 2;
    int64_t fetched = strtoll(pd_db_result_value(result, 0, 2), NULL, 10);
    PdPage out = {0};
    out.json = pd_db_result_value(result, 0, 1);
    out.json_length = pd_db_result_length(result, 0, 1);
    out.count = pd_db_result_is_null(result, 0, 0) ? -1 : strtoll(pd_db_result_value(result, 0, 0), NULL, 10);
    out.has_more = query->limit >= 0 && fetched > query->limit;
    out.row_count = (size_t)(out.has_more ? query->limit : fetched);
    out.key_count = key_count;
    if (out.row_count > 0 && key_count > 0)
    {
        bool is_backwards = query->after != NULL && query->is_before;
        const char **walked_first = read_keys(query, result, key_count, false);
        const char **walked_last = read_keys(query, result, key_count, true);
        if (walked_first == NULL || walked_last == NULL)
            return pd_arena_error(query->arena, err);
        out.first_key = is_backwards ? walked_last : walked_first;
        out.last_key = is_backwards ? walked_first : walked_last;
    }
    *page = out;
    return true;
}

bool
pd_query_get_json(PdQuery *query, PdDb *db, const char **json, size_t *length, PdError *err)
{
    PdDbResult *result = NULL;
    if (!run_shape(query, db, PD_SHAPE_GET, PD_COUNT_NONE, &result, err))
        return false;
    size_t rows = pd_db_result_row_count(result);
    if (rows == 0)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "%s matching query does not exist.", query->model->name);
    if (rows > 1)
        return pd_error_set(err, PD_ERR_MULTIPLE, "get() returned more than one %s", query->model->name);
    *json = pd_db_result_value(result, 0, 0);
    if (length != NULL)
        *length = pd_db_result_length(result, 0, 0);
    return true;
}

bool
pd_query_get_many_json(PdQuery *query, PdDb *db, const char *const *keys, size_t count, PdDbResult **rows,
                       PdError *err)
{
    const PdField *key = pd_model_primary_key(query->model);
    if (key == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no primary key to get objects by",
                            query->model->name);
    if (count == 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no keys to get %s objects by", query->model->name);
    if (!pd_query_filter(query, pd_q_list(query, "pk__in", keys, count, err), err))
        return false;
    return run_shape(query, db, PD_SHAPE_GET_KEYED, PD_COUNT_NONE, rows, err);
}

bool
pd_query_count(PdQuery *query, PdDb *db, int64_t *count, PdError *err)
{
    PdDbResult *result = NULL;
    if (!run_shape(query, db, PD_SHAPE_COUNT, PD_COUNT_NONE, &result, err))
        return false;
    *count = strtoll(pd_db_result_value(result, 0, 0), NULL, 10);
    return true;
}

bool
pd_query_exists(PdQuery *query, PdDb *db, bool *exists, PdError *err)
{
    PdDbResult *result = NULL;
    if (!run_shape(query, db, PD_SHAPE_EXISTS, PD_COUNT_NONE, &result, err))
        return false;
    *exists = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

bool
pd_query_fetch(PdQuery *query, PdDb *db, PdDbResult **rows, PdError *err)
{
    return run_shape(query, db, PD_SHAPE_ROWS, PD_COUNT_NONE, rows, err);
}
