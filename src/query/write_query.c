/*
 * write_query.c - update and delete of the rows a PdQuery selects, each ONE
 * statement: UPDATE/DELETE ... WHERE <the query's conditions>, rendered by
 * the read side (build.h) on the same alias so that filters across
 * relations work as they do for reads. Like Django, a sliced query cannot be
 * updated or deleted (LIMIT has no meaning in UPDATE). An update returns the
 * representation of every changed row (RETURNING, many-to-many replaced in
 * CTEs of the same statement); a delete refused because other rows protect
 * the row (on_delete=protect or restrict) says which, in Django's words.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "write.h"

#define ROW_ALIAS "pd_m"

/* " WHERE <conditions>" of the query on ROW_ALIAS, its parameters first in stmt (numbered $1..). */
static bool
append_condition(PdWriteSql *stmt, PdQuery *which, PdStrbuf *where, const char *verb, PdError *err)
{
    if (which->limit >= 0 || which->offset > 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "Cannot %s a query once a slice has been taken.",
                            verb);
    PdSqlBuild build;
    memset(&build, 0, sizeof(build));
    build.query = which;
    build.err = err;
    pd_strbuf_init(&build.sql, stmt->arena);
    pd_strbuf_append(&build.sql, "");
    if (which->where != NULL)
    {
        pd_strbuf_append(&build.sql, " WHERE ");
        pd_query_render_condition(&build, which->where, ROW_ALIAS);
    }
    if (build.failed || pd_strbuf_failed(&build.sql))
        return err->code != PD_OK ? false : pd_arena_error(stmt->arena, err);
    for (int i = 0; i < build.param_count; i++)
        if (pd_query_write_param(stmt, build.params[i]) == 0)
            return pd_arena_error(stmt->arena, err);
    pd_strbuf_init(where, stmt->arena);
    pd_strbuf_append(where, pd_strbuf_text(&build.sql));
    return true;
}

static void
append_set(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params)
{
    PdStrbuf *sql = &stmt->sql;
    size_t written = 0;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (!params[i].is_set || field->kind == PD_FIELD_MANY_TO_MANY)
            continue;
        pd_strbuf_append(sql, written++ > 0 ? ", " : "");
        pd_strbuf_append_identifier(sql, field->column);
        pd_strbuf_append(sql, " = ");
        pd_query_write_value(stmt, field, params[i].text);
    }
    if (written == 0) /* only many-to-many, or nothing: the rows are still locked and returned */
    {
        const char *pk = pd_model_key_field(model, 0)->column; /* a composite key's first part serves */
        pd_strbuf_append_identifier(sql, pk);
        pd_strbuf_append(sql, " = " ROW_ALIAS ".");
        pd_strbuf_append_identifier(sql, pk);
    }
}

bool
pd_object_update(PdArena *arena, PdDb *db, PdQuery *which, const PdValues *values, PdValidateMode mode,
                 const char **json, int64_t *updated, PdError *err)
{
    const PdModel *model = pd_values_model(values);
    if (model != which->model)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "update of %s rows with values of %s",
                            which->model->name, model->name);
    PdValueParam *params = NULL;
    PdWriteSql stmt;
    PdStrbuf where;
    pd_query_write_init(&stmt, arena);
    PdWriteKeys keys = {pd_arena_calloc(arena, model->field_count + 1, sizeof(char *))};
    if (keys.expressions == NULL)
        return pd_arena_error(arena, err);
    if (!pd_query_values_params(arena, values, mode, &params, err) ||
        !append_condition(&stmt, which, &where, "update", err))
        return false;
    pd_strbuf_append(&stmt.sql, "WITH \"upd\" AS (UPDATE ");
    pd_strbuf_append_identifier(&stmt.sql, model->table);
    pd_strbuf_append(&stmt.sql, " AS " ROW_ALIAS " SET ");
    append_set(&stmt, model, params);
    pd_strbuf_append(&stmt.sql, pd_strbuf_text(&where));
    pd_strbuf_append(&stmt.sql, " RETURNING " ROW_ALIAS ".*)");
    pd_query_write_m2m(&stmt, model, params, "upd", true, &keys);
    pd_strbuf_append(&stmt.sql, " SELECT coalesce(json_agg(");
    if (!pd_query_write_represent(&stmt, model, "upd", &keys, err))
        return false;
    for (size_t k = 0; k < pd_model_key_count(model); k++) /* every part of a composite key */
    {
        pd_strbuf_append(&stmt.sql, k > 0 ? ", \"upd\"." : " ORDER BY \"upd\".");
        pd_strbuf_append_identifier(&stmt.sql, pd_model_key_field(model, k)->column);
    }
    pd_strbuf_append(&stmt.sql, "), '[]'::json), count(*) FROM \"upd\"");
    PdDbResult *result = NULL;
    if (!pd_query_write_run(arena, db, &stmt, model, params, &result, err))
        return false;
    if (json != NULL)
        *json = pd_db_result_value(result, 0, 0);
    if (updated != NULL)
        *updated = strtoll(pd_db_result_value(result, 0, 1), NULL, 10);
    return true;
}

/* Django's ProtectedError/RestrictedError words for the foreign key (of any model) named constraint. */
static bool
protected_problem(PdArena *arena, const PdCatalog *catalog, const PdModel *model, const PdError *server,
                  PdError *err)
{
    for (size_t m = 0; m < catalog->model_count; m++)
    {
        const PdModel *other = &catalog->models[m];
        for (size_t i = 0; i < other->field_count; i++)
        {
            const PdField *field = &other->fields[i];
            if ((field->kind != PD_FIELD_FOREIGN_KEY && field->kind != PD_FIELD_ONE_TO_ONE) ||
                strcmp(pd_model_foreign_key_name(arena, other, field), server->constraint) != 0)
                continue;
            PdError mapped = {0};
            pd_error_add_problem(
                &mapped, NULL, 0, 0, "non_field_errors",
                "Cannot delete some instances of model '%s' because they are referenced through "
                "protected foreign keys: '%s.%s'.",
                model->name, other->name, field->name);
            memcpy(mapped.sqlstate, server->sqlstate, sizeof(mapped.sqlstate));
            memcpy(mapped.constraint, server->constraint, sizeof(mapped.constraint));
            memcpy(mapped.detail, server->detail, sizeof(mapped.detail));
            *err = mapped;
            return false;
        }
    }
    return false;
}

bool
pd_object_delete(PdArena *arena, PdDb *db, PdQuery *which, int64_t *deleted, PdError *err)
{
    const PdModel *model = which->model;
    PdWriteSql stmt;
    PdStrbuf where;
    pd_query_write_init(&stmt, arena);
    if (!append_condition(&stmt, which, &where, "delete", err))
        return false;
    pd_strbuf_append(&stmt.sql, "WITH \"del\" AS (DELETE FROM ");
    pd_strbuf_append_identifier(&stmt.sql, model->table);
    pd_strbuf_append(&stmt.sql, " AS " ROW_ALIAS);
    pd_strbuf_append(&stmt.sql, pd_strbuf_text(&where));
    pd_strbuf_append(&stmt.sql, " RETURNING 1) SELECT count(*) FROM \"del\"");
    PdDbResult *result = NULL;
    if (!pd_query_write_run(arena, db, &stmt, model, NULL, &result, err))
    {
        if (strcmp(err->sqlstate, "23503") == 0)
        {
            PdError server = *err;
            return protected_problem(arena, which->catalog, model, &server, err);
        }
        return false;
    }
    if (deleted != NULL)
        *deleted = strtoll(pd_db_result_value(result, 0, 0), NULL, 10);
    return true;
}
