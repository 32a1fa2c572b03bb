/*
 * openapi_schema.c - JSON Schema (2020-12, as OpenAPI 3.1 uses it) for the
 * values, objects, request bodies and list envelopes of the models, read off
 * the kind table and each field's options so that the schema says what the
 * server sends and takes: integers with their column's range, decimals as
 * strings with a digits pattern (PostgreSQL's text, never a rounded number),
 * ISO dates and times, Django's duration text, uuids, base64 bytes, choices
 * as an enum, checks as bounds, null as a type array. A foreign key is its
 * target's key, or the target object where ?expand= asks for it. openapi.c
 * assembles the document around these.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/openapi_build.h"

json_t *
pd_http_oa_set(PdOaBuild *build, json_t *object, const char *key, json_t *value)
{
    if (object == NULL || value == NULL || json_object_set_new(object, key, value) != 0)
    {
        build->failed = true;
        if (object == NULL)
            json_decref(value);
    }
    return object;
}

json_t *
pd_http_oa_push(PdOaBuild *build, json_t *array, json_t *value)
{
    if (array == NULL || value == NULL || json_array_append_new(array, value) != 0)
    {
        build->failed = true;
        if (array == NULL)
            json_decref(value);
    }
    return array;
}

json_t *
pd_http_oa_string(PdOaBuild *build, const char *text)
{
    json_t *string = text != NULL ? json_string(text) : NULL;
    if (string == NULL)
        build->failed = true;
    return string;
}

json_t *
pd_http_oa_ref(PdOaBuild *build, const char *section, const char *name)
{
    json_t *ref = json_object();
    return pd_http_oa_set(
        build, ref, "$ref",
        pd_http_oa_string(build, pd_http_oa_printf(build, "#/components/%s/%s", section, name)));
}

const char *
pd_http_oa_printf(PdOaBuild *build, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = pd_arena_vsprintf(build->arena, fmt, args);
    va_end(args);
    if (text == NULL)
        build->failed = true;
    return text != NULL ? text : "";
}

bool
pd_http_oa_is_writable(const PdField *field)
{
    return !pd_model_is_read_only(field);
}

bool
pd_http_oa_is_relation(const PdField *field)
{
    return pd_kind_info(field->kind)->family == PD_FAMILY_RELATION;
}

/* A number literal as JSON: an integer when it is one, else a real. */
static json_t *
number_json(const char *text)
{
    char *end = NULL;
    long long whole = strtoll(text, &end, 10);
    if (end != text && *end == '\0')
        return json_integer(whole);
    return json_real(strtod(text, NULL));
}

/* A decimal literal as the server writes it: every digit of the scale ("2.5" in decimal(8,2): "2.50"). */
static const char *
decimal_text(PdOaBuild *build, const char *text, int scale)
{
    const char *point = strchr(text, '.');
    int places = point != NULL ? (int)strlen(point + 1) : 0;
    if (places >= scale)
        return text;
    return pd_http_oa_printf(build, "%s%s%.*s", text, point == NULL ? "." : "", scale - places,
                             "000000000000000000000000000000000000000000000000000000000000000000000000");
}

/* A literal of the field's kind as JSON (choices and defaults). */
static json_t *
literal_json(PdOaBuild *build, const PdField *field, const PdLiteral *literal)
{
    switch (literal->kind)
    {
        case PD_LITERAL_NULL:
            return json_null();
        case PD_LITERAL_BOOL:
            return json_boolean(strcmp(literal->text, "true") == 0);
        case PD_LITERAL_NUMBER:
            if (field->kind == PD_FIELD_DECIMAL)
                return pd_http_oa_string(build, decimal_text(build, literal->text, field->scale));
            if (pd_kind_info(field->kind)->family == PD_FAMILY_TEXT)
                return pd_http_oa_string(build, literal->text);
            return number_json(literal->text);
        case PD_LITERAL_STRING:
            if (field->kind == PD_FIELD_JSON) /* the string holds JSON text */
                return json_loads(literal->text, JSON_DECODE_ANY, NULL);
            return pd_http_oa_string(build, literal->text);
        case PD_LITERAL_ARRAY:
        {
            json_t *items = json_array();
            for (size_t i = 0; i < literal->item_count; i++)
                pd_http_oa_push(build, items, literal_json(build, field, &literal->items[i]));
            return items;
        }
    }
    return NULL;
}

/* Integers: the column's range as minimum and maximum, and the OpenAPI format of its size. */
static json_t *
integer_schema(PdOaBuild *build, const PdField *field)
{
    const PdKindInfo *info = pd_kind_info(field->kind);
    json_t *schema = json_object();
    pd_http_oa_set(build, schema, "type", json_string("integer"));
    if (field->kind == PD_FIELD_INT)
        pd_http_oa_set(build, schema, "format", json_string("int32"));
    else if (field->kind == PD_FIELD_BIGINT || field->kind == PD_FIELD_AUTO)
        pd_http_oa_set(build, schema, "format", json_string("int64"));
    pd_http_oa_set(build, schema, "minimum", json_integer(pd_model_is_auto_key(field) ? 1 : info->min_value));
    pd_http_oa_set(build, schema, "maximum", json_integer(info->max_value));
    return schema;
}

/* Digits before and after the point, the sign only when a check keeps values from going below zero. */
static json_t *
decimal_schema(PdOaBuild *build, const PdField *field, PdOaUse use, bool is_signed)
{
    json_t *schema = json_object();
    if (use == PD_OA_REQUEST) /* DRF's DecimalField takes "12.50" or 12.5 */
    {
        json_t *types = json_array();
        pd_http_oa_push(build, types, json_string("string"));
        pd_http_oa_push(build, types, json_string("number"));
        pd_http_oa_set(build, schema, "type", types);
    }
    else
        pd_http_oa_set(build, schema, "type", json_string("string"));
    pd_http_oa_set(build, schema, "format", json_string("decimal"));
    int whole = field->precision - field->scale;
    const char *pattern = field->scale > 0
                              ? pd_http_oa_printf(build, "^%s\\d{0,%d}(?:\\.\\d{1,%d})?$",
                                                  is_signed ? "-?" : "", whole > 0 ? whole : 1, field->scale)
                              : pd_http_oa_printf(build, "^%s\\d{1,%d}$", is_signed ? "-?" : "", whole);
    pd_http_oa_set(build, schema, "pattern", pd_http_oa_string(build, pattern));
    return schema;
}

static json_t *
string_schema(PdOaBuild *build, const char *format, const char *pattern, int max_length)
{
    json_t *schema = json_object();
    pd_http_oa_set(build, schema, "type", json_string("string"));
    if (format != NULL)
        pd_http_oa_set(build, schema, "format", json_string(format));
    if (pattern != NULL)
        pd_http_oa_set(build, schema, "pattern", json_string(pattern));
    if (max_length > 0)
        pd_http_oa_set(build, schema, "maxLength", json_integer(max_length));
    return schema;
}

/* Whether a check keeps the field's values at zero or above (a decimal's pattern then has no sign). */
static bool
is_non_negative(const PdField *field)
{
    for (size_t i = 0; i < field->check_count; i++)
    {
        const PdCheck *check = &field->checks[i];
        if (check->value.kind == PD_LITERAL_NUMBER &&
            (check->op == PD_CHECK_GE || check->op == PD_CHECK_GT) && strtod(check->value.text, NULL) >= 0)
            return true;
    }
    return false;
}

/* The schema of the kind itself, before choices, checks and null. */
static json_t *
kind_schema(PdOaBuild *build, const PdField *field, PdOaUse use)
{
    switch (field->kind)
    {
        case PD_FIELD_AUTO:
        case PD_FIELD_SMALLINT:
        case PD_FIELD_INT:
        case PD_FIELD_BIGINT:
            return integer_schema(build, field);
        case PD_FIELD_STRING:
        case PD_FIELD_TEXT:
        case PD_FIELD_CITEXT:
            return string_schema(build, NULL, NULL, field->max_length);
        case PD_FIELD_EMAIL:
            return string_schema(build, "email", NULL, field->max_length);
        case PD_FIELD_URL:
            return string_schema(build, "uri", NULL, field->max_length);
        case PD_FIELD_SLUG:
            return string_schema(build, NULL, "^[-a-zA-Z0-9_]+$", field->max_length);
        case PD_FIELD_BOOL:
            return json_pack("{ss}", "type", "boolean");
        case PD_FIELD_FLOAT:
            return json_pack("{ssss}", "type", "number", "format", "double");
        case PD_FIELD_DECIMAL:
            return decimal_schema(build, field, use, !is_non_negative(field));
        case PD_FIELD_DATE:
            return string_schema(build, "date", NULL, 0);
        case PD_FIELD_TIME: /* ISO 8601 local time: no offset, so JSON Schema's "time" format would refuse it
                             */
            return string_schema(build, NULL, "^\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,6})?)?$", 0);
        case PD_FIELD_TIMESTAMPTZ:
            return string_schema(build, "date-time", NULL, 0);
        case PD_FIELD_DURATION: /* Django's text, not ISO 8601 (JSON Schema's "duration") */
            return use == PD_OA_RESPONSE
                       ? string_schema(build, NULL, "^-?(?:\\d+ )?\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{6})?$", 0)
                       : string_schema(build, NULL, NULL, 0);
        case PD_FIELD_UUID:
            return string_schema(build, "uuid", NULL, 0);
        case PD_FIELD_JSON:
            return json_object(); /* any JSON value */
        case PD_FIELD_BINARY:
        {
            json_t *schema = string_schema(build, "byte", NULL, 0);
            return pd_http_oa_set(build, schema, "contentEncoding", json_string("base64"));
        }
        case PD_FIELD_INET: /* an address, IPv4 or IPv6, with an optional /prefix: no JSON Schema format */
            return string_schema(build, "inet", NULL, 0);
        case PD_FIELD_CIDR:
            return string_schema(build, "cidr", NULL, 0);
        case PD_FIELD_FOREIGN_KEY:
        case PD_FIELD_ONE_TO_ONE:
        case PD_FIELD_MANY_TO_MANY:
            break; /* relation_schema */
    }
    return NULL;
}

/* Bounds from checks on numbers: >= minimum, > exclusiveMinimum, <= maximum, < exclusiveMaximum. A decimal is
 * a number only in request bodies; elsewhere it is a string, whose pattern loses its sign when a check keeps
 * it at zero or above. */
static void
apply_checks(PdOaBuild *build, json_t *schema, const PdField *field, PdOaUse use)
{
    PdKindFamily family = pd_kind_info(field->kind)->family;
    if (family != PD_FAMILY_INTEGER && family != PD_FAMILY_NUMERIC)
        return;
    if (field->kind == PD_FIELD_DECIMAL && use != PD_OA_REQUEST) /* a string there: the pattern says it */
        return;
    for (size_t i = 0; i < field->check_count; i++)
    {
        const PdCheck *check = &field->checks[i];
        if (check->value.kind != PD_LITERAL_NUMBER)
            continue;
        const char *key = check->op == PD_CHECK_GE   ? "minimum"
                          : check->op == PD_CHECK_GT ? "exclusiveMinimum"
                          : check->op == PD_CHECK_LE ? "maximum"
                          : check->op == PD_CHECK_LT ? "exclusiveMaximum"
                                                     : NULL;
        if (key == NULL)
            continue;
        double value = strtod(check->value.text, NULL);
        json_t *old = json_object_get(schema, key);
        bool is_lower = check->op == PD_CHECK_GE || check->op == PD_CHECK_GT;
        if (old == NULL || (is_lower ? value > json_number_value(old) : value < json_number_value(old)))
            pd_http_oa_set(build, schema, key, number_json(check->value.text));
    }
}

/* Choices: an enum of the values, written as the server writes them. */
static void
apply_choices(PdOaBuild *build, json_t *schema, const PdField *field)
{
    if (field->choice_count == 0)
        return;
    json_t *values = json_array();
    for (size_t i = 0; i < field->choice_count; i++)
        pd_http_oa_push(build, values, literal_json(build, field, &field->choices[i].value));
    pd_http_oa_set(build, schema, "enum", values);
}

/* null allowed: "null" added to the type (and to an enum), or anyOf with {"type": "null"}. */
static json_t *
make_nullable(PdOaBuild *build, json_t *schema)
{
    json_t *type = json_object_get(schema, "type");
    json_t *values = json_object_get(schema, "enum");
    if (values != NULL)
        pd_http_oa_push(build, values, json_null());
    if (json_is_string(type))
    {
        json_t *types = json_array();
        pd_http_oa_push(build, types, json_incref(type));
        pd_http_oa_push(build, types, json_string("null"));
        return pd_http_oa_set(build, schema, "type", types);
    }
    if (json_is_array(type))
    {
        pd_http_oa_push(build, type, json_string("null"));
        return schema;
    }
    if (json_object_size(schema) == 0) /* any JSON value: null is one already */
        return schema;
    json_t *any_of_already = json_object_get(schema, "anyOf");
    if (any_of_already != NULL && json_object_size(schema) == 1) /* a relation: one more alternative */
    {
        pd_http_oa_push(build, any_of_already, json_pack("{ss}", "type", "null"));
        return schema;
    }
    json_t *wrapper = json_object();
    json_t *any_of = json_array();
    pd_http_oa_push(build, any_of, schema);
    pd_http_oa_push(build, any_of, json_pack("{ss}", "type", "null"));
    return pd_http_oa_set(build, wrapper, "anyOf", any_of);
}

/* A relation: the target's key (many-to-many: an array of them); in a response also the target's object,
 * which ?expand= puts in place of the key. */
static json_t *
relation_schema(PdOaBuild *build, const PdField *field, PdOaUse use)
{
    const PdField *key_field = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
    if (key_field == NULL)
    {
        build->failed = true;
        return NULL;
    }
    json_t *one = pd_http_oa_value_schema(build, key_field, PD_OA_VALUE);
    if (use == PD_OA_RESPONSE)
    {
        json_t *any_of = json_array();
        pd_http_oa_push(build, any_of, one);
        pd_http_oa_push(build, any_of, pd_http_oa_ref(build, "schemas", field->target->name));
        one = pd_http_oa_set(build, json_object(), "anyOf", any_of);
    }
    if (field->kind != PD_FIELD_MANY_TO_MANY || use == PD_OA_VALUE)
        return one;
    json_t *array = json_object();
    pd_http_oa_set(build, array, "type", json_string("array"));
    pd_http_oa_set(build, array, "items", one);
    if (use == PD_OA_REQUEST)
        pd_http_oa_set(build, array, "uniqueItems", json_true());
    return array;
}

json_t *
pd_http_oa_value_schema(PdOaBuild *build, const PdField *field, PdOaUse use)
{
    json_t *schema =
        pd_http_oa_is_relation(field) ? relation_schema(build, field, use) : kind_schema(build, field, use);
    if (schema == NULL)
    {
        build->failed = true;
        return NULL;
    }
    apply_checks(build, schema, field, use);
    apply_choices(build, schema, field);
    if (field->is_array) /* an array field: a JSON array of its element kind's values */
    {
        json_t *array = json_object();
        pd_http_oa_set(build, array, "type", json_string("array"));
        schema = pd_http_oa_set(build, array, "items", schema);
    }
    if (use == PD_OA_VALUE)
        return schema;
    if (field->is_nullable)
        schema = make_nullable(build, schema);
    return schema;
}

/* "Book's title. Choices: draft (Draft), published (Published). Check: >= 0." */
static const char *
field_description(PdOaBuild *build, const PdModel *model, const PdField *field, PdOaUse use)
{
    const char *text =
        pd_http_oa_printf(build, "%s (%s)", field->name, pd_model_type_text(build->arena, field));
    if (pd_http_oa_is_relation(field) && use == PD_OA_RESPONSE)
        text = pd_http_oa_printf(
            build, "%s: the %s's key%s, or %s itself when the request says ?expand=%s", text,
            field->target_name, field->kind == PD_FIELD_MANY_TO_MANY ? " for each" : "",
            field->kind == PD_FIELD_MANY_TO_MANY ? "the objects" : "the object", field->name);
    for (size_t i = 0; i < field->choice_count; i++)
        text = pd_http_oa_printf(build, "%s%s%s (%s)", text, i == 0 ? ". Choices: " : ", ",
                                 field->choices[i].value.text, field->choices[i].label);
    static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};
    for (size_t i = 0; i < field->check_count; i++)
        text = pd_http_oa_printf(build, "%s%s%s %s", text, i == 0 ? ". Check: " : ", ",
                                 ops[field->checks[i].op], field->checks[i].value.text);
    if (field->is_unique)
        text = pd_http_oa_printf(build, "%s. Unique among %s", text, model->resource);
    return text;
}

/* A field's schema in an object, with its description and, by use, readOnly or its default. */
static json_t *
property_schema(PdOaBuild *build, const PdModel *model, const PdField *field, PdOaUse use)
{
    json_t *schema = pd_http_oa_value_schema(build, field, use);
    if (schema == NULL)
        return NULL;
    pd_http_oa_set(build, schema, "description",
                   pd_http_oa_string(build, field_description(build, model, field, use)));
    if (!pd_http_oa_is_writable(field))
        pd_http_oa_set(build, schema, "readOnly", json_true());
    if (use == PD_OA_REQUEST && field->default_value.kind == PD_DEFAULT_LITERAL)
    {
        json_t *value = literal_json(build, field, &field->default_value.literal);
        if (value != NULL) /* a JSON default that does not parse is left out, not a failure */
            pd_http_oa_set(build, schema, "default", value);
    }
    return schema;
}

/* Whether a create must send the field: written, not null, no default. Many-to-many may be left out. */
static bool
is_required_on_create(const PdField *field)
{
    return pd_http_oa_is_writable(field) && !field->is_nullable &&
           field->default_value.kind == PD_DEFAULT_NONE && field->kind != PD_FIELD_MANY_TO_MANY;
}

/* The object (use RESPONSE) or a body (REQUEST; is_partial: PATCH, nothing required). */
static json_t *
object_schema(PdOaBuild *build, const PdModel *model, PdOaUse use, bool is_partial)
{
    json_t *schema = json_object();
    json_t *properties = json_object();
    json_t *required = json_array();
    pd_http_oa_set(build, schema, "type", json_string("object"));
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        pd_http_oa_set(build, properties, field->name, property_schema(build, model, field, use));
        if (use == PD_OA_RESPONSE || (!is_partial && is_required_on_create(field)))
            pd_http_oa_push(build, required, pd_http_oa_string(build, field->name));
    }
    pd_http_oa_set(build, schema, "properties", properties);
    if (json_array_size(required) > 0)
        pd_http_oa_set(build, schema, "required", required);
    else
        json_decref(required);
    if (use == PD_OA_REQUEST) /* unknown names are refused with 400, not dropped as DRF does */
        pd_http_oa_set(build, schema, "additionalProperties", json_false());
    return schema;
}

/* {"type": ["string", "null"], "format": "uri"}: a next or previous page link. */
static json_t *
link_schema(PdOaBuild *build, const char *what)
{
    json_t *schema = json_pack("{s[ss]ss}", "type", "string", "null", "format", "uri");
    return pd_http_oa_set(build, schema, "description",
                          pd_http_oa_string(build, pd_http_oa_printf(build,
                                                                     "absolute URL of the %s page, null "
                                                                     "when there is none",
                                                                     what)));
}

/* A list envelope: {"count", "next", "previous", "results"}, without count for the cursor style. */
static json_t *
envelope_schema(PdOaBuild *build, const PdModel *model, bool has_count, const char *description)
{
    json_t *schema = json_object();
    json_t *properties = json_object();
    pd_http_oa_set(build, schema, "type", json_string("object"));
    pd_http_oa_set(build, schema, "description", pd_http_oa_string(build, description));
    if (has_count)
        pd_http_oa_set(build, properties, "count",
                       json_pack("{sssiss}", "type", "integer", "minimum", 0, "description",
                                 "objects matching the filters, on every page"));
    pd_http_oa_set(build, properties, "next", link_schema(build, "next"));
    pd_http_oa_set(build, properties, "previous", link_schema(build, "previous"));
    json_t *results = json_object();
    pd_http_oa_set(build, results, "type", json_string("array"));
    pd_http_oa_set(build, results, "items", pd_http_oa_ref(build, "schemas", model->name));
    pd_http_oa_set(build, properties, "results", results);
    pd_http_oa_set(build, schema, "properties", properties);
    json_t *required = has_count ? json_pack("[ssss]", "count", "next", "previous", "results")
                                 : json_pack("[sss]", "next", "previous", "results");
    pd_http_oa_set(build, schema, "required", required);
    return pd_http_oa_set(build, schema, "additionalProperties", json_false());
}

void
pd_http_oa_model_schemas(PdOaBuild *build, const PdModel *model, json_t *schemas)
{
    const char *name = model->name;
    json_t *object = object_schema(build, model, PD_OA_RESPONSE, false);
    pd_http_oa_set(build, object, "description",
                   pd_http_oa_string(build, pd_http_oa_printf(build,
                                                              "A %s, as GET /%s/ and its item path "
                                                              "write it.",
                                                              name, model->resource)));
    pd_http_oa_set(build, schemas, name, object);
    pd_http_oa_set(build, schemas, pd_http_oa_printf(build, "%s" PD_OA_REQUEST_SUFFIX, name),
                   object_schema(build, model, PD_OA_REQUEST, false));
    pd_http_oa_set(build, schemas, pd_http_oa_printf(build, "%s" PD_OA_PATCH_SUFFIX, name),
                   object_schema(build, model, PD_OA_REQUEST, true));
    pd_http_oa_set(
        build, schemas, pd_http_oa_printf(build, "%s" PD_OA_PAGE_SUFFIX, name),
        envelope_schema(build, model, true, "Page number pagination (?page=, ?page_size=): the default"));
    pd_http_oa_set(
        build, schemas, pd_http_oa_printf(build, "%s" PD_OA_LIMIT_OFFSET_SUFFIX, name),
        envelope_schema(build, model, true, "Limit/offset pagination: when ?limit= or ?offset= is given"));
    pd_http_oa_set(
        build, schemas, pd_http_oa_printf(build, "%s" PD_OA_CURSOR_SUFFIX, name),
        envelope_schema(build, model, false,
                        "Cursor pagination (?cursor=): opaque, tamper-evident links that stay stable "
                        "under inserts; no count"));
}

void
pd_http_oa_error_schemas(PdOaBuild *build, json_t *schemas)
{
    json_t *messages = json_pack("{sss{ss}s i}", "type", "array", "items", "type", "string", "minItems", 1);
    json_t *field_errors = json_object();
    pd_http_oa_set(build, field_errors, "type", json_string("object"));
    pd_http_oa_set(
        build, field_errors, "description",
        json_string("A 400 answer: each field, query parameter or \"non_field_errors\" with its "
                    "messages, as DRF writes them ({\"price\": [\"A valid number is required.\"]})."));
    pd_http_oa_set(build, field_errors, "additionalProperties", messages);
    pd_http_oa_set(build, field_errors, "minProperties", json_integer(1));
    pd_http_oa_set(build, schemas, PD_OA_FIELD_ERRORS, field_errors);
    json_t *detail = json_pack("{sss{s{ss}}s[s]sb}", "type", "object", "properties", "detail", "type",
                               "string", "required", "detail", "additionalProperties", 0);
    pd_http_oa_set(
        build, detail, "description",
        json_string("Every other error answer: {\"detail\": \"Not found.\"}, as DRF writes them."));
    pd_http_oa_set(build, schemas, PD_OA_DETAIL, detail);
}
