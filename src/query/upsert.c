/*
 * upsert.c - Django's get_or_create and update_or_create, each ONE
 * statement. update_or_create is INSERT ... ON CONFLICT (the identifying
 * fields) DO UPDATE ... RETURNING, the insert told from the update by
 * (xmax = 0). get_or_create reads the lookup and inserts only when it found
 * nothing, with ON CONFLICT DO NOTHING: a concurrent creator of the same row
 * makes the insert do nothing while the read (an older snapshot) saw nothing
 * either, so the statement is run again and then finds the winner's row. The
 * last attempt drops ON CONFLICT so that a conflict on another unique key
 * reaches the caller as the refusal it is.
 */
#include <string.h>

#include "write.h"

/* Attempts of get_or_create before a conflict is reported as it is. */
#define GET_OR_CREATE_ATTEMPTS 3

/* Whether the names are exactly one unique field, or the fields of a unique(...) of the model. */
static bool
is_unique_set(const PdModel *model, const char *const *names, size_t count)
{
    if (count == 1)
    {
        const PdField *field = pd_model_find_field(model, names[0]);
        if (field != NULL && (field->is_unique || field->is_primary_key || field->kind == PD_FIELD_AUTO ||
                              field->kind == PD_FIELD_ONE_TO_ONE))
            return true;
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        if (!index->is_unique || index->field_count != count)
            continue;
        size_t found = 0;
        for (size_t f = 0; f < index->field_count; f++)
            for (size_t n = 0; n < count; n++)
                found += strcmp(index->fields[f], names[n]) == 0;
        if (found == count)
            return true;
    }
    return false;
}

static void
append_column_list(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params)
{
    size_t written = 0;
    for (size_t i = 0; i < model->field_count; i++)
        if (params[i].is_set && model->fields[i].kind != PD_FIELD_MANY_TO_MANY)
        {
            pd_strbuf_append(&stmt->sql, written++ > 0 ? ", " : "");
            pd_strbuf_append_identifier(&stmt->sql, model->fields[i].column);
        }
}

static size_t
append_value_list(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params)
{
    size_t written = 0;
    for (size_t i = 0; i < model->field_count; i++)
        if (params[i].is_set && model->fields[i].kind != PD_FIELD_MANY_TO_MANY)
        {
            pd_strbuf_append(&stmt->sql, written++ > 0 ? ", " : "");
            pd_query_write_value(stmt, &model->fields[i], params[i].text);
        }
    return written;
}

static bool
is_conflict_field(const PdField *field, const char *const *names, size_t count)
{
    for (size_t n = 0; n < count; n++)
        if (strcmp(field->name, names[n]) == 0)
            return true;
    return false;
}

/* ---- update_or_create ---- */

static void
append_upsert(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params, const char *const *names,
              size_t count)
{
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_append(sql, "WITH \"ins\" AS (INSERT INTO ");
    pd_strbuf_append_identifier(sql, model->table);
    pd_strbuf_append(sql, " (");
    append_column_list(stmt, model, params);
    pd_strbuf_append(sql, ") VALUES (");
    append_value_list(stmt, model, params);
    pd_strbuf_append(sql, ") ON CONFLICT (");
    for (size_t n = 0; n < count; n++)
    {
        pd_strbuf_append(sql, n > 0 ? ", " : "");
        pd_strbuf_append_identifier(sql, pd_model_find_field(model, names[n])->column);
    }
    pd_strbuf_append(sql, ") DO UPDATE SET ");
    size_t written = 0;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (!params[i].is_set || field->kind == PD_FIELD_MANY_TO_MANY ||
            is_conflict_field(field, names, count))
            continue;
        pd_strbuf_append(sql, written++ > 0 ? ", " : "");
        pd_strbuf_append_identifier(sql, field->column);
        pd_strbuf_append(sql, " = EXCLUDED.");
        pd_strbuf_append_identifier(sql, field->column);
    }
    if (written == 0) /* nothing to change: still an update, so that the row is returned (and locked) */
    {
        const char *column = pd_model_find_field(model, names[0])->column;
        pd_strbuf_append_identifier(sql, column);
        pd_strbuf_append(sql, " = EXCLUDED.");
        pd_strbuf_append_identifier(sql, column);
    }
    pd_strbuf_append(sql, " RETURNING *, (xmax = 0) AS \"pd_created\")");
}

static bool
check_conflict_fields(const PdModel *model, const PdValueParam *params, const char *const *names,
                      size_t count, PdError *err)
{
    for (size_t n = 0; n < count; n++)
    {
        const PdField *field = pd_model_find_field(model, names[n]);
        if (field == NULL || field->kind == PD_FIELD_MANY_TO_MANY)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "update_or_create: \"%s\" is not a field of %s with a "
                                "column",
                                names[n], model->name);
        if (!params[pd_query_field_index(model, field)].is_set)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "update_or_create: the identifying field \"%s\" has "
                                "no value",
                                names[n]);
    }
    if (count == 0 || !is_unique_set(model, names, count))
        return pd_error_set(
            err, PD_ERR_INVALID_INPUT,
            "update_or_create: the identifying fields must be a unique field or a unique(...) of "
            "%s",
            model->name);
    return true;
}

bool
pd_object_update_or_create(PdArena *arena, PdDb *db, const PdValues *values,
                           const char *const *conflict_fields, size_t conflict_count, const char **json,
                           bool *created, PdError *err)
{
    const PdModel *model = pd_values_model(values);
    PdValueParam *params = NULL;
    if (!pd_query_values_params(arena, values, PD_VALIDATE_CREATE, &params, err) ||
        !check_conflict_fields(model, params, conflict_fields, conflict_count, err))
        return false;
    PdWriteSql stmt;
    pd_query_write_init(&stmt, arena);
    PdWriteKeys keys = {pd_arena_calloc(arena, model->field_count + 1, sizeof(char *))};
    if (keys.expressions == NULL)
        return pd_arena_error(arena, err);
    append_upsert(&stmt, model, params, conflict_fields, conflict_count);
    pd_query_write_m2m(&stmt, model, params, "ins", true, &keys);
    pd_strbuf_append(&stmt.sql, " SELECT ");
    if (!pd_query_write_represent(&stmt, model, "ins", &keys, err))
        return false;
    pd_strbuf_append(&stmt.sql, ", \"ins\".\"pd_created\" FROM \"ins\"");
    PdDbResult *result = NULL;
    if (!pd_query_write_run(arena, db, &stmt, model, params, &result, err))
        return false;
    if (pd_db_result_row_count(result) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "upsert into \"%s\" returned %zu rows", model->table,
                            pd_db_result_row_count(result));
    *json = pd_db_result_value(result, 0, 0);
    if (created != NULL)
        *created = strcmp(pd_db_result_value(result, 0, 1), "t") == 0;
    return true;
}

/* ---- get_or_create ---- */

/* lookup's given fields, then defaults' over them (Django: defaults win). */
static PdValues *
merge(PdArena *arena, const PdValues *lookup, const PdValues *defaults)
{
    const PdModel *model = pd_values_model(lookup);
    PdValues *merged = pd_values_new(arena, model);
    if (merged == NULL)
        return NULL;
    for (size_t i = 0; i < model->field_count; i++)
    {
        merged->inputs[i] = lookup->inputs[i];
        if (defaults != NULL && defaults->inputs[i].shape != PD_VALUE_UNSET)
            merged->inputs[i] = defaults->inputs[i];
    }
    return merged;
}

/* WHERE of the lookup: column = $n, or IS NULL. */
static void
append_lookup(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params)
{
    size_t written = 0;
    for (size_t i = 0; i < model->field_count; i++)
    {
        if (!params[i].is_set)
            continue;
        pd_strbuf_append(&stmt->sql, written++ > 0 ? " AND " : " WHERE ");
        pd_strbuf_append_identifier(&stmt->sql, model->fields[i].column);
        if (params[i].text == NULL)
            pd_strbuf_append(&stmt->sql, " IS NULL");
        else
        {
            pd_strbuf_append(&stmt->sql, " = ");
            pd_query_write_value(stmt, &model->fields[i], params[i].text);
        }
    }
}

static bool
build_get_or_create(PdWriteSql *stmt, const PdModel *model, const PdValueParam *lookup,
                    const PdValueParam *row, bool is_last, PdError *err)
{
    PdStrbuf *sql = &stmt->sql;
    PdWriteKeys keys = {pd_arena_calloc(stmt->arena, model->field_count + 1, sizeof(char *))};
    if (keys.expressions == NULL)
        return pd_arena_error(stmt->arena, err);
    pd_strbuf_append(sql, "WITH \"found\" AS (SELECT * FROM ");
    pd_strbuf_append_identifier(sql, model->table);
    append_lookup(stmt, model, lookup);
    pd_strbuf_append(sql, " LIMIT 2), \"ins\" AS (INSERT INTO ");
    pd_strbuf_append_identifier(sql, model->table);
    pd_strbuf_append(sql, " (");
    append_column_list(stmt, model, row);
    pd_strbuf_append(sql, ") SELECT ");
    append_value_list(stmt, model, row);
    pd_strbuf_appendf(sql, " WHERE NOT EXISTS (SELECT 1 FROM \"found\")%s RETURNING *)",
                      is_last ? "" : " ON CONFLICT DO NOTHING");
    pd_query_write_m2m(stmt, model, row, "ins", false, &keys);
    pd_strbuf_append(sql, " SELECT ");
    if (!pd_query_write_represent(stmt, model, "ins", &keys, err))
        return false;
    pd_strbuf_append(sql, ", true FROM \"ins\" UNION ALL SELECT ");
    if (!pd_query_write_represent(stmt, model, "found", NULL, err))
        return false;
    pd_strbuf_append(sql, ", false FROM \"found\"");
    return true;
}

static bool
check_lookup(const PdModel *model, const PdValueParam *lookup, const PdValueParam *row, PdError *err)
{
    size_t given = 0;
    for (size_t i = 0; i < model->field_count; i++)
    {
        if (lookup[i].is_set && model->fields[i].kind == PD_FIELD_MANY_TO_MANY)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "get_or_create: many-to-many field \"%s\" cannot be "
                                "looked up; give it in defaults",
                                model->fields[i].name);
        given += lookup[i].is_set;
    }
    (void)row;
    return given > 0 || pd_error_set(err, PD_ERR_INVALID_INPUT, "get_or_create: the lookup gives no field");
}

bool
pd_object_get_or_create(PdArena *arena, PdDb *db, const PdValues *lookup, const PdValues *defaults,
                        const char **json, bool *created, PdError *err)
{
    const PdModel *model = pd_values_model(lookup);
    PdValues *merged = merge(arena, lookup, defaults);
    PdValueParam *lookup_params = NULL, *row = NULL;
    if (merged == NULL)
        return pd_arena_error(arena, err);
    if (defaults != NULL && pd_values_model(defaults) != model)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "get_or_create: defaults of another model");
    if (!pd_query_values_params(arena, lookup, PD_VALIDATE_PARTIAL, &lookup_params, err) ||
        !pd_query_values_params(arena, merged, PD_VALIDATE_CREATE, &row, err) ||
        !check_lookup(model, lookup_params, row, err))
        return false;
    for (int attempt = 1; attempt <= GET_OR_CREATE_ATTEMPTS; attempt++)
    {
        PdWriteSql stmt;
        pd_query_write_init(&stmt, arena);
        PdDbResult *result = NULL;
        if (!build_get_or_create(&stmt, model, lookup_params, row, attempt == GET_OR_CREATE_ATTEMPTS, err) ||
            !pd_query_write_run(arena, db, &stmt, model, row, &result, err))
            return false;
        size_t rows = pd_db_result_row_count(result);
        if (rows > 1)
            return pd_error_set(err, PD_ERR_MULTIPLE,
                                "get() returned more than one %s -- it returned 2 or more!", model->name);
        if (rows == 1)
        {
            *json = pd_db_result_value(result, 0, 0);
            if (created != NULL)
                *created = strcmp(pd_db_result_value(result, 0, 1), "t") == 0;
            return true;
        }
    }
    return pd_error_set(err, PD_ERR_INTERNAL, "get_or_create on %s neither found nor created a row",
                        model->name);
}
