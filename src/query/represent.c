/*
 * represent.c - the JSON form of a model object, built by PostgreSQL: one
 * expression of type json per row, row_to_json over a sub-select whose
 * columns are the fields in model order, each named after its field. Most
 * kinds pass as they are (PostgreSQL's JSON for numbers, text, booleans,
 * dates, uuid and jsonb is DRF's); decimals become text so no digit is lost
 * ("12.50"), times and UTC time stamps Python's isoformat with "Z" for UTC
 * ("2024-01-02T08:00:00.250000Z", as DRF), intervals Django's duration
 * string, bytea one-line base64, a foreign key the target's key under the
 * field's name, a many-to-many field the ordered array of keys read from its
 * join table. Identifiers come from the catalog and are quoted; nothing here
 * takes a value. The query builder and the writers both call this, so a list,
 * a retrieve and a create answer with the same bytes for the same row.
 */
#include <string.h>

#include "query/represent.h"

/* Aliases used inside the expressions; a caller's alias equal to one of them would be shadowed. */
#define ROW_ALIAS "pd_row"
#define JOIN_ALIAS "pd_m2m"
#define ELEMENT_ALIAS "pd_e"

static void
append_column(PdStrbuf *sql, const char *alias, const char *column)
{
    pd_strbuf_append_identifier(sql, alias);
    pd_strbuf_append_char(sql, '.');
    pd_strbuf_append_identifier(sql, column);
}

/* Django's duration_string: days (floored, so the rest is never negative) then HH:MM:SS[.uuuuuu]. */
static void
append_duration(PdStrbuf *sql, const char *alias, const char *column)
{
    pd_strbuf_append(sql, "(SELECT CASE WHEN pd_d.d <> 0 THEN pd_d.d::text || ' ' ELSE '' END"
                          " || lpad((pd_d.r / 3600000000)::text, 2, '0') || ':'"
                          " || lpad((pd_d.r / 60000000 % 60)::text, 2, '0') || ':'"
                          " || lpad((pd_d.r / 1000000 % 60)::text, 2, '0')"
                          " || CASE WHEN pd_d.r % 1000000 <> 0"
                          " THEN '.' || lpad((pd_d.r % 1000000)::text, 6, '0') ELSE '' END"
                          " FROM (SELECT pd_u.u / 86400000000 - (CASE WHEN pd_u.u % 86400000000 < 0 THEN 1"
                          " ELSE 0 END) AS d, ((pd_u.u % 86400000000) + 86400000000) % 86400000000 AS r"
                          " FROM (SELECT (extract(epoch FROM ");
    append_column(sql, alias, column);
    pd_strbuf_append(sql, ") * 1000000)::bigint AS u) AS pd_u) AS pd_d)");
}

/*
 * DRF's DateTimeField: Python's isoformat (six digits of fraction, none when it is zero) with "Z" for a zero
 * offset, which every value has when the session's time zone is UTC. Another offset, a year before 1 (Python
 * has none) and infinity keep PostgreSQL's own JSON text ("...05.5+02:00", "infinity"). Measured on a page of
 * 50 rows: about 0.16 us per value, 1 to 3% of the page statement. The colons of the formats are quoted
 * (HH24":"MI) so that no ":name" appears in the text: pgbench reads one as a variable, and the benchmark
 * runs these statements under pgbench.
 */
static void
append_timestamp(PdStrbuf *sql, const char *alias, const char *column)
{
    pd_strbuf_append(sql, "CASE WHEN date_part('timezone', ");
    append_column(sql, alias, column);
    pd_strbuf_append(sql, ") = 0 AND ");
    append_column(sql, alias, column);
    pd_strbuf_append(sql, " >= '0001-01-01T00:00:00Z' THEN replace(to_char(");
    append_column(sql, alias, column);
    pd_strbuf_append(sql, ", 'YYYY-MM-DD\"T\"HH24\":\"MI\":\"SS.US\"Z\"'), '.000000Z', 'Z') ELSE to_json(");
    append_column(sql, alias, column);
    pd_strbuf_append(sql, ") #>> '{}' END");
}

void
pd_query_represent_value(PdStrbuf *sql, const PdField *key, const char *alias, const char *column)
{
    switch (pd_kind_info(key->kind)->json)
    {
        case PD_JSON_DECIMAL_STRING:
            append_column(sql, alias, column);
            pd_strbuf_append(sql, "::text");
            return;
        case PD_JSON_DURATION:
            append_duration(sql, alias, column);
            return;
        case PD_JSON_TIME:
            /* Python's isoformat: six digits of fraction when there is one ("10:30:00.500000") */
            pd_strbuf_append(sql, "replace(to_char(date '2000-01-01' + ");
            append_column(sql, alias, column);
            pd_strbuf_append(sql, ", 'HH24\":\"MI\":\"SS.US'), '.000000', '')");
            return;
        case PD_JSON_TIMESTAMP:
            append_timestamp(sql, alias, column);
            return;
        case PD_JSON_BASE64:
            pd_strbuf_append(sql, "translate(encode(");
            append_column(sql, alias, column);
            pd_strbuf_append(sql, ", 'base64'), E'\\n', '')");
            return;
        case PD_JSON_KEY:
        {
            const PdField *target_key = key->target != NULL ? pd_model_primary_key(key->target) : NULL;
            if (target_key != NULL)
            {
                pd_query_represent_value(sql, target_key, alias, column);
                return;
            }
            break;
        }
        default:
            break;
    }
    append_column(sql, alias, column);
}

/* The ordered array of the target keys in the join table, '[]' when there is none. */
static void
append_key_list(PdStrbuf *sql, const PdModel *model, const PdField *field, const char *alias)
{
    char *source = NULL;
    char *target = NULL;
    const PdField *target_key = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
    if (target_key == NULL || !pd_model_through_columns(sql->arena, model, field, &source, &target))
    {
        sql->failed = true;
        return;
    }
    pd_strbuf_append(sql, "(SELECT coalesce(json_agg(");
    pd_query_represent_value(sql, target_key, JOIN_ALIAS, target);
    pd_strbuf_append(sql, " ORDER BY ");
    append_column(sql, JOIN_ALIAS, target);
    pd_strbuf_append(sql, "), '[]'::json) FROM ");
    pd_strbuf_append_identifier(sql, field->through_table);
    pd_strbuf_append(sql, " AS " JOIN_ALIAS " WHERE ");
    append_column(sql, JOIN_ALIAS, source);
    pd_strbuf_append(sql, " = ");
    append_column(sql, alias, pd_model_primary_key(model)->column);
    pd_strbuf_append_char(sql, ')');
}

/*
 * An array field: PostgreSQL's own JSON array where its elements' JSON is DRF's already (numbers, text,
 * booleans, dates, uuids, addresses); else each element written as a scalar of its kind would be, in the
 * array's order ("1.50" for a decimal(6,2)[], as DRF's ListField of DecimalField), [] for an empty array and
 * null for a null one.
 */
static void
append_array(PdStrbuf *sql, const PdField *field, const char *alias)
{
    PdJsonEncoding json = pd_kind_info(field->kind)->json;
    if (json == PD_JSON_NUMBER || json == PD_JSON_STRING || json == PD_JSON_BOOLEAN || json == PD_JSON_DATE ||
        json == PD_JSON_UUID)
    {
        append_column(sql, alias, field->column);
        return;
    }
    PdField element = *field;
    element.is_array = false;
    pd_strbuf_append(sql, "CASE WHEN ");
    append_column(sql, alias, field->column);
    pd_strbuf_append(sql, " IS NULL THEN NULL ELSE (SELECT coalesce(json_agg(");
    pd_query_represent_value(sql, &element, ELEMENT_ALIAS, "v");
    pd_strbuf_append(sql, " ORDER BY " ELEMENT_ALIAS ".n), '[]'::json) FROM unnest(");
    append_column(sql, alias, field->column);
    pd_strbuf_append(sql, ") WITH ORDINALITY AS " ELEMENT_ALIAS "(v, n)) END");
}

void
pd_query_represent_field(PdStrbuf *sql, const PdModel *model, const PdField *field, const char *alias)
{
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        append_key_list(sql, model, field, alias);
    else if (field->is_array)
        append_array(sql, field, alias);
    else
        pd_query_represent_value(sql, field, alias, field->column);
}

static bool
append_named(PdStrbuf *sql, const PdModel *model, const PdField *field, const char *alias, bool is_first)
{
    if (!is_first)
        pd_strbuf_append(sql, ", ");
    pd_query_represent_field(sql, model, field, alias);
    pd_strbuf_append(sql, " AS ");
    pd_strbuf_append_identifier(sql, field->name);
    return true;
}

bool
pd_query_represent(PdStrbuf *sql, const PdModel *model, const char *alias, const char *const *fields,
                   size_t field_count, PdError *err)
{
    if (strcmp(alias, ROW_ALIAS) == 0 || strcmp(alias, JOIN_ALIAS) == 0 || strcmp(alias, ELEMENT_ALIAS) == 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "row alias \"%s\" is reserved for the representation",
                            alias);
    for (size_t i = 0; fields != NULL && i < field_count; i++)
    {
        if (pd_model_find_field(model, fields[i]) == NULL)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no field \"%s\"", model->name, fields[i]);
            return pd_error_field(err, "%s", fields[i]);
        }
    }
    if (fields != NULL && field_count == 0)
    {
        pd_strbuf_append(sql, "'{}'::json");
        return true;
    }
    pd_strbuf_append(sql, "(SELECT row_to_json(" ROW_ALIAS ") FROM (SELECT ");
    if (fields == NULL)
    {
        for (size_t i = 0; i < model->field_count; i++)
            append_named(sql, model, &model->fields[i], alias, i == 0);
    }
    else
    {
        for (size_t i = 0; i < field_count; i++)
            append_named(sql, model, pd_model_find_field(model, fields[i]), alias, i == 0);
    }
    pd_strbuf_append(sql, ") AS " ROW_ALIAS ")");
    return true;
}
