/*
 * write.c - create and bulk create: each ONE INSERT whose values are
 * parameters ($n with an explicit cast, names from the catalog, quoted), the
 * many-to-many join rows written in the same statement by data-modifying
 * CTEs, and the representation of what was inserted built by PostgreSQL from
 * the RETURNING rows (so the JSON is the database's text, never re-encoded).
 * No SELECT precedes an INSERT: the foreign key constraint finds a missing
 * author, the unique constraint a taken title, and refusal.c words it as DRF
 * would. A bulk insert of objects giving different fields writes DEFAULT
 * where an object gave nothing; with many-to-many keys the new rows' keys are
 * drawn first (nextval, the keys given, or the key's default) so that each
 * object's join rows find their row. Also the statement builder the other
 * writers share.
 */
#include <stdio.h>
#include <string.h>

#include "represent.h"
#include "write.h"

/* At most this many objects in one bulk insert (PostgreSQL takes at most 65,535 parameters). */
#define MAX_BULK 1000

void
pd_query_write_init(PdWriteSql *stmt, PdArena *arena)
{
    memset(stmt, 0, sizeof(*stmt));
    stmt->arena = arena;
    pd_strbuf_init(&stmt->sql, arena);
}

int
pd_query_write_param(PdWriteSql *stmt, const char *text)
{
    if (stmt->param_count == stmt->param_capacity)
    {
        size_t capacity = stmt->param_capacity > 0 ? stmt->param_capacity * 2 : 16;
        const char **grown =
            pd_arena_grow(stmt->arena, stmt->params, stmt->param_count, capacity, sizeof(*stmt->params));
        if (grown == NULL)
            return 0;
        stmt->params = grown;
        stmt->param_capacity = capacity;
    }
    stmt->params[stmt->param_count++] = text;
    return (int)stmt->param_count;
}

const char *
pd_query_write_type(const PdField *field)
{
    PdColumnType type;
    if (!pd_model_column_type_of(field, &type))
        return "text";
    /* the base type, without length or precision: a cast to varchar(3) would cut a value silently */
    return pd_kind_info(type.kind)->sql_type;
}

void
pd_query_write_value(PdWriteSql *stmt, const PdField *field, const char *text)
{
    int number = pd_query_write_param(stmt, text);
    if (field->kind == PD_FIELD_BINARY)
        pd_strbuf_appendf(&stmt->sql, "decode($%d::text, 'base64')", number);
    else
        pd_strbuf_appendf(&stmt->sql, "$%d::%s%s", number, pd_query_write_type(field),
                          field->is_array ? "[]" : "");
}

void
pd_query_write_keys(PdWriteSql *stmt, const PdField *field, const char *array)
{
    const PdField *key = pd_model_primary_key(field->target);
    pd_strbuf_appendf(&stmt->sql, "$%d::%s[]", pd_query_write_param(stmt, array), pd_query_write_type(key));
}

/* ---- many-to-many ---- */

static void
append_through(PdWriteSql *stmt, const PdModel *model, const PdField *field, const char **source,
               const char **target)
{
    char *from = NULL, *to = NULL;
    if (!pd_model_through_columns(stmt->arena, model, field, &from, &to))
        stmt->sql.failed = true;
    *source = from != NULL ? from : "";
    *target = to != NULL ? to : "";
}

/* alias."column", both quoted */
static void
append_column(PdStrbuf *sql, const char *alias, const char *column)
{
    pd_strbuf_append_identifier(sql, alias);
    pd_strbuf_append_char(sql, '.');
    pd_strbuf_append_identifier(sql, column);
}

/* The representation of the keys in CTE "k_<i>" (only the row whose key is ins.<row_key>, when given). */
static const char *
key_list(PdArena *arena, const PdField *field, size_t i, const char *row_key)
{
    PdStrbuf sql;
    pd_strbuf_init(&sql, arena);
    pd_strbuf_append(&sql, "(SELECT coalesce(json_agg(");
    pd_query_represent_value(&sql, pd_model_primary_key(field->target), "p", "k");
    pd_strbuf_appendf(&sql, " ORDER BY p.k), '[]'::json) FROM \"k_%zu\" AS p", i);
    if (row_key != NULL)
    {
        pd_strbuf_append(&sql, " WHERE p.id = ");
        append_column(&sql, "ins", row_key);
    }
    pd_strbuf_append_char(&sql, ')');
    return pd_strbuf_text(&sql);
}

/* ", "n_<i>" AS (INSERT INTO through (source, target) SELECT <select>" */
static void
append_join_insert(PdWriteSql *stmt, const PdModel *model, const PdField *field, size_t i, const char *select)
{
    const char *source, *target;
    append_through(stmt, model, field, &source, &target);
    pd_strbuf_appendf(&stmt->sql, ", \"n_%zu\" AS (INSERT INTO ", i);
    pd_strbuf_append_identifier(&stmt->sql, field->through_table);
    pd_strbuf_append(&stmt->sql, " (");
    pd_strbuf_append_identifier(&stmt->sql, source);
    pd_strbuf_append(&stmt->sql, ", ");
    pd_strbuf_append_identifier(&stmt->sql, target);
    pd_strbuf_appendf(&stmt->sql, ") %s)", select);
}

/* ", "d_<i>" AS (DELETE FROM through AS j USING rows WHERE j.source = rows.pk AND j.target NOT IN keys)" */
static void
append_join_delete(PdWriteSql *stmt, const PdModel *model, const PdField *field, size_t i, const char *rows)
{
    const char *source, *target;
    append_through(stmt, model, field, &source, &target);
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_appendf(sql, ", \"d_%zu\" AS (DELETE FROM ", i);
    pd_strbuf_append_identifier(sql, field->through_table);
    pd_strbuf_append(sql, " AS j USING ");
    pd_strbuf_append_identifier(sql, rows);
    pd_strbuf_append(sql, " WHERE ");
    append_column(sql, "j", source);
    pd_strbuf_append(sql, " = ");
    append_column(sql, rows, pd_model_primary_key(model)->column);
    pd_strbuf_append(sql, " AND ");
    append_column(sql, "j", target);
    pd_strbuf_appendf(sql, " NOT IN (SELECT k FROM \"k_%zu\"))", i);
}

void
pd_query_write_m2m(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params, const char *rows,
                   bool is_replacing, PdWriteKeys *keys)
{
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (field->kind != PD_FIELD_MANY_TO_MANY || !params[i].is_set)
            continue;
        pd_strbuf_appendf(&stmt->sql, ", \"k_%zu\"(k) AS (SELECT DISTINCT unnest(", i);
        pd_query_write_keys(stmt, field, params[i].text);
        pd_strbuf_append(&stmt->sql, "))");
        if (is_replacing)
            append_join_delete(stmt, model, field, i, rows);
        PdStrbuf select;
        pd_strbuf_init(&select, stmt->arena);
        pd_strbuf_append(&select, "SELECT ");
        append_column(&select, "r", pd_model_primary_key(model)->column);
        pd_strbuf_append(&select, ", k.k FROM ");
        pd_strbuf_append_identifier(&select, rows);
        pd_strbuf_appendf(&select, " AS r, \"k_%zu\" AS k ON CONFLICT DO NOTHING", i);
        append_join_insert(stmt, model, field, i, pd_strbuf_text(&select));
        keys->expressions[i] = key_list(stmt->arena, field, i, NULL);
    }
}

/* ---- representation (the JSON of one row) ---- */

/* pd_query_represent's object, but a many-to-many field whose keys this statement writes is represented from
 * those keys: the join rows its CTEs insert are not visible to the statement's own reads. */
bool
pd_query_write_represent(PdWriteSql *stmt, const PdModel *model, const char *alias, const PdWriteKeys *keys,
                         PdError *err)
{
    (void)err;
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_append(sql, "(SELECT row_to_json(o) FROM (SELECT ");
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (i > 0)
            pd_strbuf_append(sql, ", ");
        if (keys != NULL && keys->expressions[i] != NULL)
            pd_strbuf_append(sql, keys->expressions[i]);
        else
            pd_query_represent_field(sql, model, field, alias);
        pd_strbuf_append(sql, " AS ");
        pd_strbuf_append_identifier(sql, field->name);
    }
    pd_strbuf_append(sql, ") AS o)");
    return true;
}

/* ---- running ---- */

bool
pd_query_write_run(PdArena *arena, PdDb *db, PdWriteSql *stmt, const PdModel *model,
                   const PdValueParam *params, PdDbResult **result, PdError *err)
{
    if (pd_strbuf_failed(&stmt->sql) || pd_arena_failed(stmt->arena))
        return pd_arena_error(stmt->arena, err) || pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (pd_db_query_prepared(arena, db, pd_strbuf_text(&stmt->sql), (int)stmt->param_count, stmt->params,
                             result, err))
        return true;
    return pd_query_refusal(arena, model, params, err);
}

/* ---- create ---- */

static PdWriteKeys
no_keys(PdArena *arena, const PdModel *model)
{
    PdWriteKeys keys = {pd_arena_calloc(arena, model->field_count + 1, sizeof(char *))};
    return keys;
}

/* Whether any of the objects gives field i. */
static bool
any_sets(PdValueParam *const *rows, size_t count, size_t i)
{
    for (size_t r = 0; r < count; r++)
        if (rows[r][i].is_set)
            return true;
    return false;
}

static bool
has_column(const PdField *field)
{
    return field->kind != PD_FIELD_MANY_TO_MANY;
}

/* INSERT INTO t (columns) VALUES (...), (...): DEFAULT where an object gave nothing; the pk from "ids" when
 * drawn. */
static void
append_insert(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count, bool has_ids)
{
    PdStrbuf *sql = &stmt->sql;
    const PdField *pk = pd_model_primary_key(model);
    size_t columns = 0;
    pd_strbuf_append(sql, "\"ins\" AS (INSERT INTO ");
    pd_strbuf_append_identifier(sql, model->table);
    for (size_t i = 0; i < model->field_count; i++)
        if (has_column(&model->fields[i]) &&
            (any_sets(rows, count, i) || (has_ids && &model->fields[i] == pk)))
        {
            pd_strbuf_append(sql, columns++ == 0 ? " (" : ", ");
            pd_strbuf_append_identifier(sql, model->fields[i].column);
        }
    if (columns == 0 && count == 1)
    {
        pd_strbuf_append(sql, " DEFAULT VALUES RETURNING *)");
        return;
    }
    if (columns == 0) /* DEFAULT VALUES is one row: several name the key, each (DEFAULT) */
    {
        pd_strbuf_append(sql, " (");
        pd_strbuf_append_identifier(sql, pk->column);
        pd_strbuf_append(sql, ") VALUES (DEFAULT)");
        for (size_t r = 1; r < count; r++)
            pd_strbuf_append(sql, ", (DEFAULT)");
        pd_strbuf_append(sql, " RETURNING *)");
        return;
    }
    pd_strbuf_append(sql, ") VALUES ");
    for (size_t r = 0; r < count; r++)
    {
        pd_strbuf_append(sql, r > 0 ? ", (" : "(");
        size_t written = 0;
        for (size_t i = 0; i < model->field_count; i++)
        {
            const PdField *field = &model->fields[i];
            bool is_id = has_ids && field == pk;
            if (!has_column(field) || !(any_sets(rows, count, i) || is_id))
                continue;
            pd_strbuf_append(sql, written++ > 0 ? ", " : "");
            if (is_id)
                pd_strbuf_appendf(sql, "(SELECT id FROM \"ids\" WHERE n = %zu)", r + 1);
            else if (rows[r][i].is_set)
                pd_query_write_value(stmt, field, rows[r][i].text);
            else
                pd_strbuf_append(sql, "DEFAULT");
        }
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_append(sql, " RETURNING *)");
}

static bool
gives_keys(const PdModel *model, PdValueParam *const *rows, size_t count)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].kind == PD_FIELD_MANY_TO_MANY && any_sets(rows, count, i))
            return true;
    return false;
}

/* nextval of an auto key's sequence for each of count rows: the identity or serial column's own sequence. */
static void
append_serial_ids(PdWriteSql *stmt, const PdModel *model, const PdField *pk, size_t count)
{
    /* the table's name as regclass text wants it: quoted (the parameter's text, never SQL text) */
    PdStrbuf table;
    pd_strbuf_init(&table, stmt->arena);
    pd_strbuf_append_identifier(&table, model->table);
    int table_param = pd_query_write_param(stmt, pd_strbuf_text(&table));
    int column_param = pd_query_write_param(stmt, pk->column);
    pd_strbuf_appendf(&stmt->sql,
                      "SELECT n, nextval(pg_get_serial_sequence($%d::text, $%d::text)) FROM "
                      "generate_series(1, %zu) AS n)",
                      table_param, column_param, count);
}

/*
 * Appends the value field's column DEFAULT would give, as migrate defines that default (default=uuid,
 * default=now, a literal; the literal as a parameter, as a client's value would be): the model is the
 * column's definition, so the key drawn here is the one an INSERT writing DEFAULT would draw. False, with
 * nothing appended, when the field has no default.
 */
static bool
append_default(PdWriteSql *stmt, const PdField *field)
{
    const PdDefault *value = &field->default_value;
    const char *now_sql = pd_kind_info(field->kind)->now_sql;
    if (value->kind == PD_DEFAULT_UUID)
        pd_strbuf_append(&stmt->sql, "gen_random_uuid()");
    else if (value->kind == PD_DEFAULT_NOW && now_sql != NULL)
        pd_strbuf_append(&stmt->sql, now_sql);
    else if (value->kind == PD_DEFAULT_LITERAL)
        pd_query_write_value(stmt, field, value->literal.text);
    else
        return false;
    return true;
}

/*
 * "ids"(n, id): the keys of the new rows, drawn before the insert so that join rows can name them. An auto
 * key comes from its sequence; any other is the object's own or, where it gave none, the key's default
 * (the validation let it leave out only a key that has one). MATERIALIZED: a volatile default runs once per
 * row, so the row and its join rows get the same key.
 */
static bool
append_ids(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count, PdError *err)
{
    const PdField *pk = pd_model_primary_key(model);
    size_t pk_index = pd_query_field_index(model, pk);
    PdStrbuf *sql = &stmt->sql;
    pd_strbuf_append(sql, "\"ids\"(n, id) AS MATERIALIZED (");
    if (pd_model_is_auto_key(pk))
    {
        append_serial_ids(stmt, model, pk, count);
        return true;
    }
    pd_strbuf_append(sql, "VALUES ");
    for (size_t r = 0; r < count; r++)
    {
        pd_strbuf_appendf(sql, "%s(%zu, ", r > 0 ? ", " : "", r + 1);
        if (rows[r][pk_index].is_set)
            pd_query_write_value(stmt, pk, rows[r][pk_index].text);
        else if (!append_default(stmt, pk))
            return pd_error_add_problem(err, NULL, 0, 0, pk->name, "This field is required.");
        pd_strbuf_append_char(sql, ')');
    }
    pd_strbuf_append_char(sql, ')');
    return true;
}

/* For each many-to-many field any object sets: "k_<i>"(id, k) the (row, key) pairs, and their join rows. */
static void
append_bulk_m2m(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
                PdWriteKeys *keys)
{
    PdStrbuf *sql = &stmt->sql;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (field->kind != PD_FIELD_MANY_TO_MANY || !any_sets(rows, count, i))
            continue;
        pd_strbuf_appendf(sql, ", \"k_%zu\"(id, k) AS (SELECT DISTINCT ids.id, k FROM \"ids\" JOIN (VALUES ",
                          i);
        for (size_t r = 0; r < count; r++)
        {
            pd_strbuf_appendf(sql, "%s(%zu, ", r > 0 ? ", " : "", r + 1);
            pd_query_write_keys(stmt, field, rows[r][i].is_set ? rows[r][i].text : NULL);
            pd_strbuf_append_char(sql, ')');
        }
        pd_strbuf_append(sql, ") AS v(n, keys) ON v.n = ids.n, unnest(v.keys) AS k)");
        append_join_insert(stmt, model, field, i,
                           pd_arena_sprintf(stmt->arena, "SELECT id, k FROM \"k_%zu\"", i));
        keys->expressions[i] = key_list(stmt->arena, field, i, pd_model_primary_key(model)->column);
    }
}

/* What an INSERT returns: one object, the array of them, or a row per object (in input order). */
typedef enum InsertShape
{
    INSERT_ONE,
    INSERT_ARRAY,
    INSERT_EACH,
} InsertShape;

/*
 * "pd_tally": the rows of "ins" added to the row counter of the table (oid $N) by this statement, when and
 * only when the counters' insert trigger skipped them (src/migrate/counters.c, CLIENT_CONDITION): the
 * transaction lists the table in prodata.client_counts, the statement is not a trigger's, both the login
 * and the current role may UPDATE the counters, and the table's insert trigger is the version that knows
 * the list. The condition is this statement's, as the trigger's is (the table's lock keeps its triggers as
 * they are until the transaction ends), so every row is counted once: by the trigger or here. A table with
 * an INSERT rule adds nothing here: the only one PostgreSQL lets rewrite a data-modifying WITH is an
 * unconditional INSTEAD rule, which put the rows elsewhere (pg_rewrite itself is asked: pg_class's
 * relhasrules stays true after a DROP RULE until a VACUUM). The slot is the first from
 * pg_backend_pid() % 64 on whose advisory lock the transaction holds or gets without waiting, as the
 * triggers choose theirs (CHOOSE_SLOT), so that no UPDATE of it waits for another writer's COMMIT (with all
 * 64 taken, pg_backend_pid() % 64, waiting as a trigger would). One UPDATE beside the INSERT costs less than
 * a statement of its own before the COMMIT (bench/rest: the counters' cost on creates).
 */
#define TALLY_SQL                                                                                            \
    ", \"pd_tally\" AS (UPDATE prodata_row_counts AS pd_slot SET n = pd_slot.n + (SELECT count(*) FROM "     \
    "\"ins\") WHERE pd_slot.relid = $%1$d::text::oid AND pd_slot.slot = coalesce((SELECT pd_free.s FROM "    \
    "(SELECT (pg_catalog.pg_backend_pid() + pd_try) %% 64 AS s FROM pg_catalog.generate_series(0, 63) AS "   \
    "pd_try) AS pd_free WHERE pg_catalog.pg_try_advisory_xact_lock(CAST($%1$d::text::oid AS "                \
    "pg_catalog.int4), pd_free.s) LIMIT 1), pg_catalog.pg_backend_pid() %% 64)"                              \
    " AND pg_catalog.strpos(coalesce(pg_catalog.current_setting('prodata.client_counts', true), ''), ',' "   \
    "|| "                                                                                                    \
    "$%1$d::text || ',') > 0 AND pg_catalog.pg_trigger_depth() = 0"                                          \
    " AND pg_catalog.has_table_privilege(SESSION_USER, 'prodata_row_counts'::regclass, 'UPDATE')"            \
    " AND pg_catalog.has_table_privilege(CURRENT_USER, 'prodata_row_counts'::regclass, 'UPDATE')"            \
    " AND EXISTS (SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid = $%1$d::text::oid"                    \
    " AND g.tgname = 'prodata_count_insert' AND g.tgenabled <> 'D' AND g.tgnargs = 1)"                       \
    " AND NOT EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class = $%1$d::text::oid"               \
    " AND r.ev_type = '3'))"

static void
append_tally(PdWriteSql *stmt, const char *counted_oid)
{
    pd_strbuf_appendf(&stmt->sql, TALLY_SQL, pd_query_write_param(stmt, counted_oid));
}

/* The whole statement: [ids,] ins[, join rows][, tally] then the objects' JSON in the shape asked for. */
static bool
build_insert(PdWriteSql *stmt, const PdModel *model, PdValueParam *const *rows, size_t count,
             InsertShape shape, const char *counted_oid, PdError *err)
{
    bool is_array = shape == INSERT_ARRAY;
    PdWriteKeys keys = no_keys(stmt->arena, model);
    if (keys.expressions == NULL)
        return pd_arena_error(stmt->arena, err);
    bool has_ids = gives_keys(model, rows, count);
    pd_strbuf_append(&stmt->sql, "WITH ");
    if (has_ids)
    {
        if (!append_ids(stmt, model, rows, count, err))
            return false;
        pd_strbuf_append(&stmt->sql, ", ");
    }
    append_insert(stmt, model, rows, count, has_ids);
    if (has_ids)
        append_bulk_m2m(stmt, model, rows, count, &keys);
    if (counted_oid != NULL)
        append_tally(stmt, counted_oid);
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].kind == PD_FIELD_MANY_TO_MANY && keys.expressions[i] == NULL)
            keys.expressions[i] = "'[]'::json"; /* a new row has no join rows but those written here */
    pd_strbuf_append(&stmt->sql, is_array ? " SELECT coalesce(json_agg(" : " SELECT ");
    if (!pd_query_write_represent(stmt, model, "ins", &keys, err))
        return false;
    if (is_array && has_ids)
    {
        pd_strbuf_append(&stmt->sql, " ORDER BY ids.n), '[]'::json) FROM \"ins\" JOIN \"ids\" ON ids.id = ");
        append_column(&stmt->sql, "ins", pd_model_primary_key(model)->column);
    }
    else if (is_array)
        pd_strbuf_append(&stmt->sql, "), '[]'::json) FROM \"ins\"");
    else if (shape == INSERT_EACH && has_ids)
    {
        pd_strbuf_append(&stmt->sql, " FROM \"ins\" JOIN \"ids\" ON ids.id = ");
        append_column(&stmt->sql, "ins", pd_model_primary_key(model)->column);
        pd_strbuf_append(&stmt->sql, " ORDER BY ids.n");
    }
    else /* one row per row inserted, in the order of VALUES (the executor inserts and returns in order) */
        pd_strbuf_append(&stmt->sql, " FROM \"ins\"");
    return true;
}

/* The objects' rows of parameters, every one validated for create (every problem at once). */
static bool
insert_params(PdArena *arena, const PdValues *const *objects, size_t count, PdValueParam ***rows,
              PdError *err)
{
    if (count > MAX_BULK)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%zu objects in one bulk create, at most %d", count,
                            MAX_BULK);
    const PdModel *model = pd_values_model(objects[0]);
    *rows = pd_arena_calloc(arena, count, sizeof(**rows));
    if (*rows == NULL)
        return pd_arena_error(arena, err);
    bool is_valid = true;
    for (size_t r = 0; r < count; r++)
    {
        if (pd_values_model(objects[r]) != model)
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "bulk create of objects of different models");
        is_valid =
            pd_query_values_params(arena, objects[r], PD_VALIDATE_CREATE, &(*rows)[r], err) && is_valid;
    }
    return is_valid;
}

static bool
insert(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count, bool is_array,
       const char **json, PdError *err)
{
    if (count == 0 && is_array)
        return (*json = "[]"), true;
    PdValueParam **rows;
    if (!insert_params(arena, objects, count, &rows, err))
        return false;
    const PdModel *model = pd_values_model(objects[0]);
    PdWriteSql stmt;
    pd_query_write_init(&stmt, arena);
    PdDbResult *result = NULL;
    if (!build_insert(&stmt, model, rows, count, is_array ? INSERT_ARRAY : INSERT_ONE, NULL, err) ||
        !pd_query_write_run(arena, db, &stmt, model, count == 1 ? rows[0] : NULL, &result, err))
        return false;
    if (pd_db_result_row_count(result) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "insert into \"%s\" returned %zu rows", model->table,
                            pd_db_result_row_count(result));
    *json = pd_db_result_value(result, 0, 0);
    return true;
}

bool
pd_object_create(PdArena *arena, PdDb *db, const PdValues *values, const char **json, PdError *err)
{
    return insert(arena, db, &values, 1, false, json, err);
}

bool
pd_object_create_bulk(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                      const char **json, PdError *err)
{
    return insert(arena, db, objects, count, true, json, err);
}

bool
pd_object_create_each(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                      const char *counted_oid, const char **jsons, PdError *err)
{
    if (count == 0)
        return true;
    PdValueParam **rows;
    if (!insert_params(arena, objects, count, &rows, err))
        return false;
    const PdModel *model = pd_values_model(objects[0]);
    PdWriteSql stmt;
    pd_query_write_init(&stmt, arena);
    PdDbResult *result = NULL;
    if (!build_insert(&stmt, model, rows, count, INSERT_EACH, counted_oid, err) ||
        !pd_query_write_run(arena, db, &stmt, model, count == 1 ? rows[0] : NULL, &result, err))
        return false;
    if (pd_db_result_row_count(result) != count)
        return pd_error_set(err, PD_ERR_INTERNAL, "insert into \"%s\" returned %zu rows for %zu objects",
                            model->table, pd_db_result_row_count(result), count);
    for (size_t r = 0; r < count; r++)
        jsons[r] = pd_db_result_value(result, r, 0);
    return true;
}
