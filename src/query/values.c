/*
 * values.c - what a client gave for one object: a PdValues filled from C
 * (pd_values_set*) or from a JSON body (pd_values_from_json, with jansson).
 * Input keeps the shape JSON gave it (string, number, boolean, list, ...)
 * because DRF's reading rules and messages depend on it ("received str");
 * nothing is judged here but the names: unknown names are refused and
 * read-only ones ignored. validate.c reads and judges the values. A string
 * keeps its length, so that a NUL in it (JSON's \u0000, which jansson is told
 * to allow) reaches validate.c, which refuses it under the field in DRF's
 * words, rather than a parse error or a text silently cut there. Numbers keep
 * the digits the client wrote where jansson allows (integers exactly, reals
 * as their shortest round-trip form), so 0.1 stays "0.1": also inside a json
 * field's value, which is written here rather than by json_dumps, whose 17
 * digits would store 0.10000000000000001 (jsonb keeps a number's digits).
 */
#include <jansson.h>
#include <math.h>
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
    return pd_model_is_read_only(field);
}

bool
pd_query_field_is_optional(const PdField *field)
{
    return field->is_nullable || field->default_value.kind != PD_DEFAULT_NONE ||
           pd_model_is_read_only(field) || field->kind == PD_FIELD_MANY_TO_MANY; /* an auto key, generated */
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

/*
 * The field called name, when a value may be given for it: not a generated one (PostgreSQL computes it) nor
 * a many-to-many through a model (its links are that model's rows, written through it). The library's
 * other read-only fields (the key, auto_now) stay writable, as Django lets a program set them.
 */
static const PdField *
find_writable(const PdValues *values, const char *name, PdError *err)
{
    const PdField *field = pd_model_find_field(values->model, name);
    if (field != NULL && (field->generated != NULL || field->through_model_name != NULL))
    {
        if (field->generated != NULL)
            pd_error_add_problem(err, NULL, 0, 0, name,
                                 "Field \"%.60s\" is generated: PostgreSQL computes its value.", name);
        else
            pd_error_add_problem(err, NULL, 0, 0, name, "Field \"%.60s\" is written through its model %s.",
                                 name, field->through_model_name);
        return NULL;
    }
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
        case PD_LITERAL_ARRAY:
            return "list";
        case PD_LITERAL_NUMBER:
            break;
    }
    return strpbrk(literal->text, ".eE") != NULL ? "float" : "int";
}

static bool
input_from_literal(PdArena *arena, const PdLiteral *literal, PdValueInput *input)
{
    static const PdValueShape shapes[] = {
        [PD_LITERAL_NUMBER] = PD_VALUE_NUMBER, [PD_LITERAL_STRING] = PD_VALUE_STRING,
        [PD_LITERAL_BOOL] = PD_VALUE_BOOL,     [PD_LITERAL_NULL] = PD_VALUE_NULL,
        [PD_LITERAL_ARRAY] = PD_VALUE_KEYS,
    };
    if (literal->kind == PD_LITERAL_ARRAY) /* an array field's value: its elements, read one by one */
    {
        PdValueInput *items = pd_arena_calloc(arena, literal->item_count + 1, sizeof(*items));
        if (items == NULL)
            return false;
        for (size_t i = 0; i < literal->item_count; i++)
            if (!input_from_literal(arena, &literal->items[i], &items[i]))
                return false;
        *input = (PdValueInput){PD_VALUE_KEYS, NULL, 0, "list", items, literal->item_count};
        return true;
    }
    input->shape = shapes[literal->kind];
    input->type_name = literal_type_name(literal);
    input->text = literal->kind == PD_LITERAL_NULL ? NULL : pd_arena_strdup(arena, literal->text);
    input->length = input->text != NULL ? strlen(input->text) : 0;
    input->items = NULL;
    input->item_count = 0;
    return literal->kind == PD_LITERAL_NULL || input->text != NULL;
}

/* A literal a caller built: a known kind, text where the kind has one, array items one level deep. */
static bool
is_well_formed(const PdLiteral *literal, int depth)
{
    if (literal->kind == PD_LITERAL_ARRAY)
    {
        for (size_t i = 0; i < literal->item_count && depth == 0; i++)
            if (literal->items == NULL || !is_well_formed(&literal->items[i], depth + 1))
                return false;
        return depth == 0;
    }
    return (literal->kind == PD_LITERAL_NULL || literal->kind == PD_LITERAL_NUMBER ||
            literal->kind == PD_LITERAL_STRING || literal->kind == PD_LITERAL_BOOL) &&
           (literal->kind == PD_LITERAL_NULL || literal->text != NULL);
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
    if (!is_well_formed(&value, 0))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "value of field \"%s\" is no literal", name);
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
    if (field->kind != PD_FIELD_MANY_TO_MANY && !field->is_array)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "field \"%s\" is neither many-to-many nor an array: it takes one value", name);
    PdValueInput *items = pd_arena_calloc(values->arena, count > 0 ? count : 1, sizeof(*items));
    if (items == NULL)
        return exhausted(values, err);
    for (size_t i = 0; i < count; i++)
        if (!is_well_formed(&keys[i], 1))
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "item %zu of field \"%s\" is no literal", i, name);
        else if (!input_from_literal(values->arena, &keys[i], &items[i]))
            return exhausted(values, err);
    PdValueInput *input = &values->inputs[pd_query_field_index(values->model, field)];
    *input = (PdValueInput){PD_VALUE_KEYS, NULL, 0, "list", items, count};
    return true;
}

/* ---- JSON ---- */

/* The shortest text that reads back as the same double, as Python's repr writes it; "null" for NaN and the
 * infinities, which JSON cannot hold (jansson never reads them: "real number overflow"). */
static void
format_real(char *text, size_t size, double number)
{
    if (!isfinite(number))
    {
        snprintf(text, size, "null");
        return;
    }
    for (int digits = 1; digits <= 17; digits++)
    {
        snprintf(text, size, "%.*g", digits, number);
        if (strtod(text, NULL) == number)
            break;
    }
    if (strpbrk(text, ".eE") == NULL) /* 1.0 reads as "1.0", not "1", as Python writes it */
        strncat(text, ".0", size - strlen(text) - 1);
}

const char *
pd_query_real_text(PdArena *arena, double number)
{
    char text[40];
    format_real(text, sizeof(text), number);
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

/* A JSON string: quote, backslash and control characters escaped as Python's json.dumps escapes them; the
 * rest is the UTF-8 jansson checked. */
static void
append_json_string(PdStrbuf *out, const char *text, size_t length)
{
    static const char *const shorts[0x20] = {
        ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"};
    size_t run = 0; /* bytes copied as they are, written at once */
    pd_strbuf_append_char(out, '"');
    for (size_t i = 0; i < length; i++)
    {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        pd_strbuf_append_length(out, text + run, i - run);
        run = i + 1;
        if (c >= 0x20)
            pd_strbuf_appendf(out, "\\%c", c);
        else if (shorts[c] != NULL)
            pd_strbuf_append(out, shorts[c]);
        else
            pd_strbuf_appendf(out, "\\u%04x", c);
    }
    pd_strbuf_append_length(out, text + run, length - run);
    pd_strbuf_append_char(out, '"');
}

/* value as compact JSON text, reals in their shortest round-trip form; members in the order given. */
static void
append_json(PdStrbuf *out, const json_t *value)
{
    char real[40];
    const char *key;
    json_t *member;
    size_t index;
    bool is_first = true;
    switch (json_typeof(value))
    {
        case JSON_OBJECT:
            pd_strbuf_append_char(out, '{');
            json_object_foreach((json_t *)value, key, member)
            {
                pd_strbuf_append(out, is_first ? "" : ",");
                append_json_string(out, key, strlen(key));
                pd_strbuf_append_char(out, ':');
                append_json(out, member);
                is_first = false;
            }
            pd_strbuf_append_char(out, '}');
            break;
        case JSON_ARRAY:
            pd_strbuf_append_char(out, '[');
            json_array_foreach(value, index, member)
            {
                pd_strbuf_append(out, index > 0 ? "," : "");
                append_json(out, member);
            }
            pd_strbuf_append_char(out, ']');
            break;
        case JSON_STRING:
            append_json_string(out, json_string_value(value), json_string_length(value));
            break;
        case JSON_INTEGER:
            pd_strbuf_appendf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            break;
        case JSON_REAL:
            format_real(real, sizeof(real), json_real_value(value));
            pd_strbuf_append(out, real);
            break;
        case JSON_TRUE:
            pd_strbuf_append(out, "true");
            break;
        case JSON_FALSE:
            pd_strbuf_append(out, "false");
            break;
        case JSON_NULL:
            pd_strbuf_append(out, "null");
            break;
    }
}

/* A json field keeps any value as its JSON text (a string included: "abc" is stored as the JSON "abc"). */
static bool
dump_json(PdArena *arena, const json_t *value, PdValueInput *input)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    append_json(&text, value);
    input->shape = PD_VALUE_JSON;
    input->text = pd_strbuf_text(&text);
    input->length = input->text != NULL ? strlen(input->text) : 0; /* a NUL in it is written \u0000 */
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
    input->length = 0;
    switch (json_typeof(value))
    {
        case JSON_STRING: /* the whole string, a NUL in it included: validate.c refuses it */
            input->shape = PD_VALUE_STRING;
            input->text = pd_arena_strndup(arena, json_string_value(value), json_string_length(value));
            input->length = json_string_length(value);
            return input->text != NULL;
        case JSON_INTEGER:
            input->shape = PD_VALUE_NUMBER;
            input->text = pd_arena_sprintf(arena, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            break;
        case JSON_REAL:
            input->shape = PD_VALUE_NUMBER;
            input->text = pd_query_real_text(arena, json_real_value(value));
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
    input->length = input->text != NULL ? strlen(input->text) : 0;
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
        if (!input_from_json(values->arena, member, field->kind == PD_FIELD_MANY_TO_MANY || field->is_array,
                             input))
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
    json_t *root =
        json_loadb(json, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
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
