/*
 * upsert.c - Django's get_or_create and update_or_create, each ONE
 * statement. update_or_create is INSERT ... ON CONFLICT (the identifying
 * fields) DO UPDATE ... RETURNING, the insert told from the update by
 * (xmax = 0). get_or_create reads the lookup and inserts only when it found
 * nothing, with ON CONFLICT DO NOTHING: a concurrent creator of the same row
 * makes the insert do nothing while the read (an older snapshot) saw nothing
 * either, so the statement is run again and then finds the winner's row. The
 * last attempt drops ON CONFLICT so that a conflict on another unique key
 * reaches the caller as the refusal it is. pd_object_upsert_bulk is
 * PostgREST's upsert: ONE INSERT ... VALUES (...), (...) ON CONFLICT
 * (fields) DO UPDATE SET col = EXCLUDED.col (or DO NOTHING) for any number
 * of objects giving the same fields; the rows written come back in input
 * order by joining RETURNING to the input's keys (the first object of a key
 * owns its place), never by trusting the order of RETURNING; many-to-many
 * keys are written by CTEs joined to the written rows the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "represent.h"
#include "write.h"

/* Attempts of get_or_create before a conflict is reported as it is. */
#define GET_OR_CREATE_ATTEMPTS 3

/* Whether the names are exactly one unique field, or the fields of a unique(...) of the model. */
static bool
is_unique_set(const PdModel *model, const char *const *names, size_t count)
{
    for (size_t n = 0; n < count; n++) /* a name twice would pass for two fields of a unique(...) */
        for (size_t m = n + 1; m < count; m++)
            if (strcmp(names[n], names[m]) == 0)
                return false;
    if (count == 1)
    {
        const PdField *field = pd_model_find_field(model, names[0]);
        if (field != NULL && (field->is_unique || field->is_primary_key || field->kind == PD_FIELD_AUTO ||
                              field->kind == PD_FIELD_ONE_TO_ONE))
            return true;
    }
    size_t key_found = 0; /* primary_key(a, b): its fields, in any order, are a whole key too */
    for (size_t n = 0; n < count; n++)
        for (size_t k = 0; k < model->key_field_count; k++)
            key_found += strcmp(model->key_fields[k], names[n]) == 0;
    if (model->key_field_count > 0 && key_found == count && count == model->key_field_count)
        return true;
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        if (!index->is_unique || index->where != NULL || index->functions != NULL ||
            index->field_count != count) /* ON CONFLICT needs a whole key */
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

/* ") DO UPDATE SET col = EXCLUDED.col, ..." for every given column but the conflict fields. */
static void
append_merge(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params, const char *const *names,
             size_t count)
{
    PdStrbuf *sql = &stmt->sql;
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
}

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
    append_merge(stmt, model, params, names, count);
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

/* ---- upsert of several objects (PostgREST's on_conflict) ---- */

/* At most this many objects in one upsert, as in one bulk create (PostgreSQL takes 65,535 parameters). */
#define MAX_UPSERT 1000

/* The conflict fields of an upsert: each a field with a column, together a unique set of the model. */
static bool
find_conflict_fields(const PdModel *model, const char *const *names, size_t count, const PdField **fields,
                     PdError *err)
{
    for (size_t n = 0; n < count; n++)
    {
        fields[n] = pd_model_find_field(model, names[n]);
        if (fields[n] == NULL || fields[n]->kind == PD_FIELD_MANY_TO_MANY)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "upsert: \"%s\" is not a field of %s with a column", names[n], model->name);
    }
    if (count == 0 || !is_unique_set(model, names, count))
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "upsert: the conflict fields must be a unique field or a unique(...) of %s",
                            model->name);
    return true;
}

/* " (object N)" for an object of several, "" for the only one: which element a problem is about. */
static const char *
which_object(PdArena *arena, size_t r, size_t count)
{
    return count > 1 ? pd_arena_sprintf(arena, " (object %zu)", r + 1) : "";
}

/* Object r against the first: the same fields given (PostgREST's rule for a bulk body). */
static bool
check_same_fields(const PdModel *model, PdValueParam *const *rows, size_t r, PdError *err)
{
    bool is_ok = true;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (rows[r][i].is_set != rows[0][i].is_set)
        {
            is_ok = pd_error_add_problem(err, NULL, 0, 0, "non_field_errors",
                                         "All objects of an upsert must give the same fields: \"%s\" is "
                                         "given by object 1 or object %zu, not both.",
                                         field->name, r + 1);
            break; /* one message per object */
        }
    }
    return is_ok;
}

/* Every object gives each conflict field a value (null never conflicts: it would identify no row). */
static bool
check_keys(PdArena *arena, const PdModel *model, PdValueParam *const *rows, size_t count,
           const PdField *const *keys, size_t key_count, PdError *err)
{
    bool is_ok = true;
    for (size_t r = 0; r < count; r++)
    {
        is_ok = check_same_fields(model, rows, r, err) && is_ok;
        for (size_t k = 0; k < key_count; k++)
        {
            const PdValueParam *key = &rows[r][pd_query_field_index(model, keys[k])];
            if (!key->is_set || key->text == NULL)
                is_ok = pd_error_add_problem(err, NULL, 0, 0, keys[k]->name,
                                             "This field is required to identify the row (on_conflict)%s.",
                                             which_object(arena, r, count));
        }
    }
    return is_ok;
}

/* "ins": INSERT ... VALUES (...), (...) ON CONFLICT (keys) DO UPDATE SET col = EXCLUDED.col | DO NOTHING */
static void
append_bulk_upsert(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                   const char *const *names, size_t key_count, bool is_ignoring)
{
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_append(sql, "WITH \"ins\" AS (INSERT INTO ");
    pd_strbuf_append_identifier(sql, model->table);
    pd_strbuf_append(sql, " (");
    append_column_list(stmt, model, rows[0]);
    pd_strbuf_append(sql, ") VALUES ");
    for (size_t r = 0; r < count; r++)
    {
        pd_strbuf_append(sql, r > 0 ? ", (" : "(");
        append_value_list(stmt, model, rows[r]);
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_append(sql, " ON CONFLICT (");
    for (size_t n = 0; n < key_count; n++)
    {
        pd_strbuf_append(sql, n > 0 ? ", " : "");
        pd_strbuf_append_identifier(sql, pd_model_find_field(model, names[n])->column);
    }
    if (is_ignoring)
        pd_strbuf_append(sql, ") DO NOTHING");
    else
        append_merge(stmt, model, rows[0], names, key_count);
    pd_strbuf_append(sql, " RETURNING *, (xmax = 0) AS \"pd_created\")");
}

/* "pd_keys"(n, k1, ...): each key of the input once, with the place of the first object giving it. */
static void
append_input_keys(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                  const PdField *const *keys, size_t key_count)
{
    PdStrbuf *sql = &stmt->sql;
    PdStrbuf columns;
    pd_strbuf_init(&columns, stmt->arena);
    for (size_t k = 0; k < key_count; k++)
        pd_strbuf_appendf(&columns, "%s\"k%zu\"", k > 0 ? ", " : "", k + 1);
    const char *names = pd_strbuf_failed(&columns) ? "" : pd_strbuf_text(&columns);
    pd_strbuf_appendf(sql, ", \"pd_keys\" AS (SELECT min(\"n\") AS \"n\", %s FROM (VALUES ", names);
    for (size_t r = 0; r < count; r++)
    {
        pd_strbuf_appendf(sql, "%s(%zu", r > 0 ? ", " : "", r + 1);
        for (size_t k = 0; k < key_count; k++)
        {
            pd_strbuf_append(sql, ", ");
            pd_query_write_value(stmt, keys[k], rows[r][pd_query_field_index(model, keys[k])].text);
        }
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_appendf(sql, ") AS \"v\"(\"n\", %s) GROUP BY %s)", names, names);
}

/* "ins"."col1" = "pd_keys"."k1" AND ...: a written row and its place in the input. */
static void
append_key_match(PdStrbuf *sql, const PdField *const *keys, size_t key_count)
{
    for (size_t k = 0; k < key_count; k++)
    {
        pd_strbuf_append(sql, k > 0 ? " AND " : "");
        pd_strbuf_append(sql, "\"ins\".");
        pd_strbuf_append_identifier(sql, keys[k]->column);
        pd_strbuf_appendf(sql, " = \"pd_keys\".\"k%zu\"", k + 1);
    }
}

/* "m<i>"(id, k): the keys each written row is given for many-to-many field i, by its place in the input. */
static void
append_given_keys(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                  const PdField *const *keys, size_t key_count, size_t i)
{
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_appendf(sql, ", \"m%zu\"(\"id\", \"k\") AS (SELECT DISTINCT \"ins\".", i);
    pd_strbuf_append_identifier(sql, pd_model_primary_key(model)->column);
    pd_strbuf_append(sql, ", \"k\" FROM \"ins\" JOIN \"pd_keys\" ON ");
    append_key_match(sql, keys, key_count);
    pd_strbuf_append(sql, " JOIN (VALUES ");
    for (size_t r = 0; r < count; r++)
    {
        pd_strbuf_appendf(sql, "%s(%zu, ", r > 0 ? ", " : "", r + 1);
        pd_query_write_keys(stmt, &model->fields[i], rows[r][i].text);
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_append(sql, ") AS \"w\"(\"n\", \"keys\") ON \"w\".\"n\" = \"pd_keys\".\"n\", "
                          "unnest(\"w\".\"keys\") AS \"k\")");
}

/* ", "md<i>" AS (DELETE FROM through AS j USING ins WHERE j.source = ins.pk AND (source, target) not in
 * m<i>)" */
static void
append_join_delete(PdStrbuf *sql, const PdField *field, size_t i, const char *pk, const char *source,
                   const char *target)
{
    pd_strbuf_appendf(sql, ", \"md%zu\" AS (DELETE FROM ", i);
    pd_strbuf_append_identifier(sql, field->through_table);
    pd_strbuf_append(sql, " AS \"j\" USING \"ins\" WHERE \"j\".");
    pd_strbuf_append_identifier(sql, source);
    pd_strbuf_append(sql, " = \"ins\".");
    pd_strbuf_append_identifier(sql, pk);
    pd_strbuf_appendf(sql, " AND NOT EXISTS (SELECT 1 FROM \"m%zu\" AS \"m\" WHERE \"m\".\"id\" = \"j\".", i);
    pd_strbuf_append_identifier(sql, source);
    pd_strbuf_append(sql, " AND \"m\".\"k\" = \"j\".");
    pd_strbuf_append_identifier(sql, target);
    pd_strbuf_append(sql, "))");
}

/* ", "mn<i>" AS (INSERT INTO through (source, target) SELECT id, k FROM m<i> ON CONFLICT DO NOTHING)" */
static void
append_join_insert(PdStrbuf *sql, const PdField *field, size_t i, const char *source, const char *target)
{
    pd_strbuf_appendf(sql, ", \"mn%zu\" AS (INSERT INTO ", i);
    pd_strbuf_append_identifier(sql, field->through_table);
    pd_strbuf_append(sql, " (");
    pd_strbuf_append_identifier(sql, source);
    pd_strbuf_append(sql, ", ");
    pd_strbuf_append_identifier(sql, target);
    pd_strbuf_appendf(sql, ") SELECT \"id\", \"k\" FROM \"m%zu\" ON CONFLICT DO NOTHING)", i);
}

/*
 * For each many-to-many field the objects give, the join rows of the rows written made equal to the keys
 * given ("m<i>" the keys, "md<i>" deletes the others, "mn<i>" inserts the missing), and in
 * out->expressions[i] their representation: the statement's own reads do not see the join rows it writes.
 */
static void
append_upsert_m2m(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                  const PdField *const *keys, size_t key_count, PdWriteKeys *out)
{
    const PdField *key = pd_model_primary_key(model);
    if (key == NULL) /* primary_key(a, b): no many-to-many field (the checker refuses them) */
        return;
    const char *pk = key->column;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        char *source = NULL, *target = NULL;
        if (field->kind != PD_FIELD_MANY_TO_MANY || !rows[0][i].is_set)
            continue;
        if (!pd_model_through_columns(stmt->arena, model, field, &source, &target))
        {
            stmt->sql.failed = true;
            return;
        }
        append_given_keys(stmt, model, rows, count, keys, key_count, i);
        append_join_delete(&stmt->sql, field, i, pk, source, target);
        append_join_insert(&stmt->sql, field, i, source, target);
        PdStrbuf list;
        pd_strbuf_init(&list, stmt->arena);
        pd_strbuf_append(&list, "(SELECT coalesce(json_agg(");
        pd_query_represent_value(&list, pd_model_primary_key(field->target), "p", "k");
        pd_strbuf_appendf(
            &list, " ORDER BY \"p\".\"k\"), '[]'::json) FROM \"m%zu\" AS \"p\" WHERE \"p\".\"id\" = \"ins\".",
            i);
        pd_strbuf_append_identifier(&list, pk);
        pd_strbuf_append_char(&list, ')');
        out->expressions[i] = pd_strbuf_failed(&list) ? "" : pd_strbuf_text(&list);
    }
}

/* The statement: ins, pd_keys, then the written rows' array in input order, their number, the updated. */
static bool
build_bulk_upsert(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                  const char *const *names, const PdField *const *keys, size_t key_count, bool is_ignoring,
                  PdError *err)
{
    PdStrbuf *sql = &stmt->sql;
    PdWriteKeys given = {pd_arena_calloc(stmt->arena, model->field_count + 1, sizeof(char *))};
    if (given.expressions == NULL)
        return pd_arena_error(stmt->arena, err);
    append_bulk_upsert(stmt, model, rows, count, names, key_count, is_ignoring);
    append_input_keys(stmt, model, rows, count, keys, key_count);
    append_upsert_m2m(stmt, model, rows, count, keys, key_count, &given);
    pd_strbuf_append(sql, " SELECT coalesce(json_agg(");
    if (!pd_query_write_represent(stmt, model, "ins", &given, err))
        return false;
    pd_strbuf_append(sql,
                     " ORDER BY \"pd_keys\".\"n\"), '[]'::json), count(*), "
                     "count(*) FILTER (WHERE NOT \"ins\".\"pd_created\") FROM \"ins\" JOIN \"pd_keys\" ON ");
    append_key_match(sql, keys, key_count);
    return true;
}

/* PostgreSQL's 21000 (ON CONFLICT DO UPDATE cannot affect a row a second time) in DRF's words. */
static bool
two_objects_one_key(const char *const *names, size_t key_count, PdError *err)
{
    char fields[256] = "";
    for (size_t n = 0; n < key_count; n++)
        snprintf(fields + strlen(fields), sizeof(fields) - strlen(fields), "%s%s", n > 0 ? ", " : "",
                 names[n]);
    PdError mapped = {0};
    pd_error_add_problem(&mapped, NULL, 0, 0, "non_field_errors",
                         "Two objects of the body have the same %s: an upsert changes a row once.", fields);
    memcpy(mapped.sqlstate, err->sqlstate, sizeof(mapped.sqlstate));
    snprintf(mapped.detail, sizeof(mapped.detail), "%s", err->message);
    *err = mapped;
    return false;
}

static bool
read_upsert_rows(PdArena *arena, const PdValues *const *objects, size_t count, PdValueParam **rows,
                 PdError *err)
{
    const PdModel *model = pd_values_model(objects[0]);
    bool is_valid = true;
    for (size_t r = 0; r < count; r++)
    {
        if (pd_values_model(objects[r]) != model)
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "upsert of objects of different models");
        is_valid = pd_query_values_params(arena, objects[r], PD_VALIDATE_CREATE, &rows[r], err) && is_valid;
    }
    return is_valid;
}

bool
pd_object_upsert_bulk(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                      const char *const *conflict_fields, size_t conflict_count, bool is_ignoring,
                      PdUpsertResult *result, PdError *err)
{
    *result = (PdUpsertResult){"[]", 0, 0};
    if (count == 0)
        return true;
    if (count > MAX_UPSERT)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%zu objects in one upsert, at most %d", count,
                            MAX_UPSERT);
    const PdModel *model = pd_values_model(objects[0]);
    PdValueParam **rows = pd_arena_calloc(arena, count, sizeof(*rows));
    const PdField **keys = pd_arena_calloc(arena, conflict_count + 1, sizeof(*keys));
    if (rows == NULL || keys == NULL)
        return pd_arena_error(arena, err);
    if (!find_conflict_fields(model, conflict_fields, conflict_count, keys, err) ||
        !read_upsert_rows(arena, objects, count, rows, err) ||
        !check_keys(arena, model, rows, count, keys, conflict_count, err))
        return false;
    PdWriteSql stmt;
    pd_query_write_init(&stmt, arena);
    PdDbResult *answer = NULL;
    if (!build_bulk_upsert(&stmt, model, rows, count, conflict_fields, keys, conflict_count, is_ignoring,
                           err))
        return false;
    if (!pd_query_write_run(arena, db, &stmt, model, count == 1 ? rows[0] : NULL, &answer, err))
        return strcmp(err->sqlstate, "21000") == 0 ? two_objects_one_key(conflict_fields, conflict_count, err)
                                                   : false;
    if (pd_db_result_row_count(answer) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "upsert into \"%s\" returned %zu rows", model->table,
                            pd_db_result_row_count(answer));
    result->json = pd_db_result_value(answer, 0, 0);
    result->written = (size_t)strtoull(pd_db_result_value(answer, 0, 1), NULL, 10);
    result->updated = (size_t)strtoull(pd_db_result_value(answer, 0, 2), NULL, 10);
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
