/*
 * values.c - what a client gave for one object: a PdValues filled from C
 * (pd_values_set*) or from a JSON body (pd_values_from_json, with jansson).
 * Input keeps the shape JSON gave it (string, number, boolean, list, ...)
 * because DRF's reading rules and messages depend on it ("received str");
 * nothing is judged here but the names: unknown names are refused and
 * read-only ones ignored. validate.c reads and judges the values. Numbers keep
 * the digits the client wrote where jansson allows (integers exactly, reals
 * as their shortest round-trip form), so 0.1 stays "0.1".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

PdValues *
pd_values_new(PdArena *arena, const PdModel *model)
{
    PdValues *values = pd_arena_calloc(arena, 1, sizeof(*values));
    if (values == NULL)
        return NULL;
    values->arena = arena;
    values->model = model;
    values->inputs =
        pd_arena_calloc(arena, model->field_count > 0 ? model->field_count : 1, sizeof(*values->inputs));
    return values->inputs != NULL ? values : NULL;
}

const PdModel *
pd_values_model(const PdValues *values)
{
    return values->model;
}

size_t
pd_query_field_index(const PdModel *model, const PdField *field)
{
    return (size_t)(field - model->fields);
}

bool
pd_query_field_is_read_only(const PdField *field)
{
    return field->kind == PD_FIELD_AUTO;
}

bool
pd_query_field_is_optional(const PdField *field)
{
    return field->is_nullable || field->default_value.kind != PD_DEFAULT_NONE ||
           field->kind == PD_FIELD_AUTO || field->kind == PD_FIELD_MANY_TO_MANY;
}

bool
pd_values_has(const PdValues *values, const char *name)
{
    const PdField *field = pd_model_find_field(values->model, name);
    return field != NULL &&
           values->inputs[pd_query_field_index(values->model, field)].shape != PD_VALUE_UNSET;
}

/* The names a client may write, for the unknown-name message: "title, author, price". */
static void
list_fields(PdStrbuf *out, const PdModel *model)
{
    bool is_first = true;
    for (size_t i = 0; i < model->field_count; i++)
    {
        if (pd_query_field_is_read_only(&model->fields[i]))
            continue;
        pd_strbuf_appendf(out, "%s%s", is_first ? "" : ", ", model->fields[i].name);
        is_first = false;
    }
}

static const PdField *
find_writable(const PdValues *values, const char *name, PdError *err)
{
    const PdField *field = pd_model_find_field(values->model, name);
    if (field != NULL)
        return field;
    PdStrbuf names;
    pd_strbuf_init(&names, values->arena);
    list_fields(&names, values->model);
    pd_error_add_problem(err, NULL, 0, 0, name, "Unknown field \"%.60s\". Fields: %s.", name,
                         pd_strbuf_failed(&names) ? "?" : pd_strbuf_text(&names));
    return NULL;
}

static const char *
literal_type_name(const PdLiteral *literal)
{
    switch (literal->kind)
    {
        case PD_LITERAL_STRING:
            return "str";
        case PD_LITERAL_BOOL:
            return "bool";
        case PD_LITERAL_NULL:
            return "NoneType";
        case PD_LITERAL_NUMBER:
            break;
    }
    return strpbrk(literal->text, ".eE") != NULL ? "float" : "int";
}

static bool
input_from_literal(PdArena *arena, const PdLiteral *literal, PdValueInput *input)
{
    static const PdValueShape shapes[] = {
        [PD_LITERAL_NUMBER] = PD_VALUE_NUMBER,
        [PD_LITERAL_STRING] = PD_VALUE_STRING,
        [PD_LITERAL_BOOL] = PD_VALUE_BOOL,
        [PD_LITERAL_NULL] = PD_VALUE_NULL,
    };
    input->shape = shapes[literal->kind];
    input->type_name = literal_type_name(literal);
    input->text = literal->kind == PD_LITERAL_NULL ? NULL : pd_arena_strdup(arena, literal->text);
    input->items = NULL;
    input->item_count = 0;
    return literal->kind == PD_LITERAL_NULL || input->text != NULL;
}

static bool
exhausted(PdValues *values, PdError *err)
{
    if (!pd_arena_error(values->arena, err))
        return false;
    return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while reading values");
}

bool
pd_values_set(PdValues *values, const char *name, PdLiteral value, PdError *err)
{
    const PdField *field = find_writable(values, name, err);
    if (field == NULL)
        return false;
    PdValueInput *input = &values->inputs[pd_query_field_index(values->model, field)];
    if (value.kind != PD_LITERAL_NULL && value.text == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "value of field \"%s\" has no text", name);
    return input_from_literal(values->arena, &value, input) || exhausted(values, err);
}

bool
pd_values_set_text(PdValues *values, const char *name, const char *text, PdError *err)
{
    PdLiteral literal = {text != NULL ? PD_LITERAL_STRING : PD_LITERAL_NULL, text};
    return pd_values_set(values, name, literal, err);
}

bool
pd_values_set_keys(PdValues *values, const char *name, const PdLiteral *keys, size_t count, PdError *err)
{
    const PdField *field = find_writable(values, name, err);
    if (field == NULL)
        return false;
    if (field->kind != PD_FIELD_MANY_TO_MANY)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "field \"%s\" is not many-to-many: it takes one value",
                            name);
    PdValueInput *items = pd_arena_calloc(values->arena, count > 0 ? count : 1, sizeof(*items));
    if (items == NULL)
        return exhausted(values, err);
    for (size_t i = 0; i < count; i++)
        if (!input_from_literal(values->arena, &keys[i], &items[i]))
            return exhausted(values, err);
    PdValueInput *input = &values->inputs[pd_query_field_index(values->model, field)];
    *input = (PdValueInput){PD_VALUE_KEYS, NULL, "list", items, count};
    return true;
}

/* ---- JSON ---- */

/* A real as the shortest text that reads back as the same double (Python's repr does the same). */
static const char *
real_text(PdArena *arena, double number)
{
    char text[40];
    for (int digits = 1; digits <= 17; digits++)
    {
        snprintf(text, sizeof(text), "%.*g", digits, number);
        if (strtod(text, NULL) == number)
            break;
    }
    if (strpbrk(text, ".eEn") == NULL) /* 1.0 reads as "1.0", not "1", as Python writes it */
        strcat(text, ".0");
    return pd_arena_strdup(arena, text);
}

static const char *
json_type_name(const json_t *value)
{
    switch (json_typeof(value))
    {
        case JSON_OBJECT:
            return "dict";
        case JSON_ARRAY:
            return "list";
        case JSON_STRING:
            return "str";
        case JSON_INTEGER:
            return "int";
        case JSON_REAL:
            return "float";
        case JSON_TRUE:
        case JSON_FALSE:
            return "bool";
        case JSON_NULL:
            break;
    }
    return "NoneType";
}

/* A json field keeps any value as its JSON text (a string included: "abc" is stored as the JSON "abc"). */
static bool
dump_json(PdArena *arena, const json_t *value, PdValueInput *input)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return false;
    input->shape = PD_VALUE_JSON;
    input->text = pd_arena_strdup(arena, text);
    free(text);
    return input->text != NULL;
}

static bool input_from_json(PdArena *arena, const json_t *value, bool is_list_of_keys, PdValueInput *input);

static bool
keys_from_json(PdArena *arena, const json_t *array, PdValueInput *input)
{
    size_t count = json_array_size(array);
    input->shape = PD_VALUE_KEYS;
    input->item_count = count;
    input->items = pd_arena_calloc(arena, count > 0 ? count : 1, sizeof(*input->items));
    if (input->items == NULL)
        return false;
    for (size_t i = 0; i < count; i++)
        if (!input_from_json(arena, json_array_get(array, i), false, &input->items[i]))
            return false;
    return true;
}

static bool
input_from_json(PdArena *arena, const json_t *value, bool is_list_of_keys, PdValueInput *input)
{
    input->type_name = json_type_name(value);
    input->text = NULL;
    switch (json_typeof(value))
    {
        case JSON_STRING:
            input->shape = PD_VALUE_STRING;
            input->text = pd_arena_strndup(arena, json_string_value(value), json_string_length(value));
            break;
        case JSON_INTEGER:
            input->shape = PD_VALUE_NUMBER;
            input->text = pd_arena_sprintf(arena, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            break;
        case JSON_REAL:
            input->shape = PD_VALUE_NUMBER;
            input->text = real_text(arena, json_real_value(value));
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            input->shape = PD_VALUE_BOOL;
            input->text = json_is_true(value) ? "true" : "false";
            break;
        case JSON_NULL:
            input->shape = PD_VALUE_NULL;
            return true;
        case JSON_ARRAY:
            /* a list given to another field is kept as JSON (a json field takes it) */
            return is_list_of_keys ? keys_from_json(arena, value, input) : dump_json(arena, value, input);
        case JSON_OBJECT:
            return dump_json(arena, value, input);
    }
    return input->text != NULL;
}

static bool
parse_error(const json_error_t *error, PdError *err)
{
    return pd_error_add_problem(err, NULL, 0, 0, "", "JSON parse error - %s at line %d column %d",
                                error->text, error->line, error->column);
}

/* Every member of a parsed object into values; unknown names collected, read-only ones skipped. */
static bool
read_members(PdValues *values, json_t *object, PdError *err)
{
    bool is_ok = true;
    const char *name;
    json_t *member;
    json_object_foreach(object, name, member)
    {
        const PdField *field = pd_model_find_field(values->model, name);
        if (field == NULL)
        {
            is_ok = find_writable(values, name, err) != NULL && is_ok;
            continue;
        }
        if (pd_query_field_is_read_only(field))
            continue;
        PdValueInput *input = &values->inputs[pd_query_field_index(values->model, field)];
        if (!input_from_json(values->arena, member, field->kind == PD_FIELD_MANY_TO_MANY, input))
            return exhausted(values, err);
        if (field->kind == PD_FIELD_JSON && !json_is_null(member) && !dump_json(values->arena, member, input))
            return exhausted(values, err);
    }
    return is_ok;
}

bool
pd_values_from_json(PdValues *values, const char *json, size_t length, PdError *err)
{
    json_error_t error;
    json_t *root = json_loadb(json, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
    if (root == NULL)
        return parse_error(&error, err);
    bool is_ok;
    if (!json_is_object(root))
        is_ok =
            pd_error_add_problem(err, NULL, 0, 0, "non_field_errors",
                                 "Invalid data. Expected a dictionary, but got %s.", json_type_name(root));
    else
        is_ok = read_members(values, root, err);
    json_decref(root);
    return is_ok;
}
