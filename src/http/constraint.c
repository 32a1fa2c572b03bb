/*
 * constraint.c - where a 400 goes when a database constraint the model file
 * does not declare refused a write (a CHECK, an exclusion, a unique index or
 * a foreign key added in SQL): the query library maps the constraints the
 * model derives to DRF's words and fields (src/query/refusal.c), and leaves
 * these with PostgreSQL's message. Their key is the API field of the one
 * column the constraint is about, else "non_field_errors", DRF's key for a
 * problem of no field or of several. The columns are the server's when its
 * error names them (a not-null's column, a key's "Key (a, b)=..."), else
 * pg_constraint's for the constraint on the request's model's table: one
 * catalog read, only after such a refusal. Nothing else of the server's
 * error (its detail holds the failing row) reaches the client.
 */
#include <string.h>

#include "prodata/strbuf.h"
#include "server.h"

#define NON_FIELD "non_field_errors"

/* The model of the request's resource, or NULL (outside /api, or none). */
static const PdModel *
request_model(const PdHttpContext *ctx)
{
    if (ctx->catalog == NULL)
        return NULL;
    const PdCatalog *catalog = ctx->catalog->catalog;
    for (size_t i = 0; i < catalog->model_count; i++)
        if (strcmp(catalog->models[i].resource, ctx->resource) == 0)
            return &catalog->models[i];
    return NULL;
}

/* The API field stored in column of model ("author" for "author_id"), else NON_FIELD. */
static const char *
field_of_column(const PdModel *model, const char *column)
{
    for (size_t i = 0; model != NULL && i < model->field_count; i++)
        if (model->fields[i].column != NULL && strcmp(model->fields[i].column, column) == 0)
            return model->fields[i].name;
    return NON_FIELD;
}

/*
 * The one column of constraint on model's table as pg_constraint lists it (conkey), or NULL: not found
 * (a constraint of another table, an index that is no constraint), none or several columns (a check over
 * two), or no connection free for the read.
 */
static const char *
constraint_column(PdHttpContext *ctx, const PdModel *model, const char *constraint)
{
    static const char sql[] =
        "SELECT a.attname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
        "WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.conname = $2";
    PdStrbuf table;
    pd_strbuf_init(&table, ctx->arena);
    pd_strbuf_append_identifier(&table, model->table);
    const char *params[] = {pd_strbuf_text(&table), constraint};
    if (params[0] == NULL)
        return NULL;
    PdError err;
    pd_error_init(&err);
    PdDb *db;
    PdDbResult *result;
    if (!pd_http_db_acquire_catalog(ctx, &db, &err))
        return NULL;
    bool is_read = pd_db_query_prepared(ctx->arena, db, sql, 2, params, &result, &err);
    pd_http_db_release(ctx, db);
    return is_read && pd_db_result_row_count(result) == 1 ? pd_db_result_value(result, 0, 0) : NULL;
}

const char *
pd_http_constraint_field(PdHttpContext *ctx, const PdError *err)
{
    const PdModel *model = request_model(ctx);
    if (model == NULL)
        return NON_FIELD;
    if (err->field[0] != '\0') /* the server's column, or a key's columns "a, b" */
        return strchr(err->field, ',') != NULL ? NON_FIELD : field_of_column(model, err->field);
    if (err->constraint[0] == '\0' || !pd_http_in_task())
        return NON_FIELD;
    const char *column = constraint_column(ctx, model, err->constraint);
    return column != NULL ? field_of_column(model, column) : NON_FIELD;
}
