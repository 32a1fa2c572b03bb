/*
 * openapi.c - the OpenAPI 3.1 document of the REST API, generated from the
 * catalog on each call (a few milliseconds; the server keeps the text with the
 * catalog it serves). It owns the document's shape: paths with DRF's trailing
 * slashes, one operation per handler with a stable operationId, the query
 * parameters the server reads (pagination with its ?pagination= switch,
 * ordering, search, fields, expand and one filter per field and lookup that
 * applies to its kind, the lookups being the query library's; a create's
 * ?on_conflict= and Prefer for an upsert), the shared
 * error answers (the 414 included: every request has a target) and the bearer
 * scheme. Schemas of values and objects come from openapi_schema.c. Built as
 * a jansson tree (this is a document, not row data), written once as compact
 * JSON into the caller's arena and freed.
 */
#include "http/openapi.h"

#include <stdlib.h>
#include <string.h>

#include "http/openapi_build.h"
#include "prodata/query.h"
#include "prodata/strbuf.h"
#include "prodata/strmap.h"

#define DEFAULT_BASE_PATH "/api"

/* Query parameters of the server itself; a field of the same name is not offered as a filter. */
static const char *const reserved_parameters[] = {"page",   "page_size",  "limit",  "offset",
                                                  "cursor", "ordering",   "search", "fields",
                                                  "expand", "pagination", "format"};

/* One filter lookup: its suffix after "__" ("" for exact) and what its value is. */
typedef enum LookupValue
{
    LOOKUP_FIELD, /* a value of the field */
    LOOKUP_TEXT,  /* any text (contains, startswith ...) */
    LOOKUP_REGEX, /* a regular expression */
    LOOKUP_LIST,  /* a comma list of values of the field */
    LOOKUP_PAIR,  /* two values of the field, comma separated */
    LOOKUP_BOOL,  /* true or false */
    LOOKUP_YEAR,  /* a part of a date: an integer */
    LOOKUP_MONTH,
    LOOKUP_DAY,
    LOOKUP_DATE, /* the date of a timestamp */
    LOOKUP_LEN   /* an array's length: an integer from 0 */
} LookupValue;

typedef struct Lookup
{
    const char *name;
    LookupValue value;
    const char *meaning;
} Lookup;

static const Lookup exact = {"", LOOKUP_FIELD, "equal to the value"};
static const Lookup text_lookups[] = {
    {"iexact", LOOKUP_TEXT, "equal to the value, ignoring case"},
    {"contains", LOOKUP_TEXT, "contains the text"},
    {"icontains", LOOKUP_TEXT, "contains the text, ignoring case"},
    {"startswith", LOOKUP_TEXT, "starts with the text"},
    {"istartswith", LOOKUP_TEXT, "starts with the text, ignoring case"},
    {"endswith", LOOKUP_TEXT, "ends with the text"},
    {"iendswith", LOOKUP_TEXT, "ends with the text, ignoring case"},
    {"regex", LOOKUP_REGEX, "matches the regular expression (PostgreSQL's ~)"},
    {"iregex", LOOKUP_REGEX, "matches the regular expression, ignoring case (~*)"},
};
static const Lookup in_lookup = {"in", LOOKUP_LIST, "one of the comma-separated values"};
static const Lookup order_lookups[] = {
    {"gt", LOOKUP_FIELD, "greater than the value"},
    {"gte", LOOKUP_FIELD, "greater than or equal to the value"},
    {"lt", LOOKUP_FIELD, "less than the value"},
    {"lte", LOOKUP_FIELD, "less than or equal to the value"},
    {"range", LOOKUP_PAIR, "between the two comma-separated values, both included"},
};
static const Lookup isnull_lookup = {"isnull", LOOKUP_BOOL, "null (true) or not null (false)"};
static const Lookup array_lookups[] = {
    {"", LOOKUP_LIST, "equal to the array of the comma-separated values, in that order"},
    {"contains", LOOKUP_LIST, "holds every one of the comma-separated values (@>)"},
    {"contained_by", LOOKUP_LIST, "holds only the comma-separated values (<@)"},
    {"overlap", LOOKUP_LIST, "holds at least one of the comma-separated values (&&)"},
};

/* ---- small builders ------------------------------------------------------------------------------------ */

static json_t *
text(PdOaBuild *build, const char *value)
{
    return pd_http_oa_string(build, value);
}

static bool
is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_parameters) / sizeof(reserved_parameters[0]); i++)
        if (strcmp(name, reserved_parameters[i]) == 0)
            return true;
    return false;
}

/* A query parameter; schema stolen. A comma list (array schema) is written form style, unexploded. */
static json_t *
query_parameter(PdOaBuild *build, const char *name, const char *description, json_t *schema)
{
    json_t *parameter = json_object();
    pd_http_oa_set(build, parameter, "name", text(build, name));
    pd_http_oa_set(build, parameter, "in", json_string("query"));
    pd_http_oa_set(build, parameter, "required", json_false());
    pd_http_oa_set(build, parameter, "description", text(build, description));
    if (json_is_string(json_object_get(schema, "type")) &&
        strcmp(json_string_value(json_object_get(schema, "type")), "array") == 0)
    {
        pd_http_oa_set(build, parameter, "style", json_string("form"));
        pd_http_oa_set(build, parameter, "explode", json_false());
    }
    return pd_http_oa_set(build, parameter, "schema", schema);
}

static json_t *
array_of(PdOaBuild *build, json_t *items, int min_items, int max_items)
{
    json_t *schema = json_object();
    pd_http_oa_set(build, schema, "type", json_string("array"));
    pd_http_oa_set(build, schema, "items", items);
    if (min_items > 0)
        pd_http_oa_set(build, schema, "minItems", json_integer(min_items));
    if (max_items > 0)
        pd_http_oa_set(build, schema, "maxItems", json_integer(max_items));
    return schema;
}

static json_t *
integer_range(int minimum, int maximum)
{
    return json_pack("{sssisi}", "type", "integer", "minimum", minimum, "maximum", maximum);
}

/* ---- filters ---------------------------------------------------------------------------------------------
 */

/* A value the filter compares with: the field's own, or the date part a transform takes out of it. */
static json_t *
element_schema(PdOaBuild *build, const PdField *field, LookupValue part)
{
    switch (part)
    {
        case LOOKUP_YEAR:
            return integer_range(1, 9999);
        case LOOKUP_MONTH:
            return integer_range(1, 12);
        case LOOKUP_DAY:
            return integer_range(1, 31);
        case LOOKUP_DATE:
            return json_pack("{ssss}", "type", "string", "format", "date");
        case LOOKUP_LEN:
            return json_pack("{sssi}", "type", "integer", "minimum", 0);
        default:
            break;
    }
    if (!field->is_array)
        return pd_http_oa_value_schema(build, field, PD_OA_VALUE);
    PdField element = *field; /* an array lookup's values are elements */
    element.is_array = false;
    return pd_http_oa_value_schema(build, &element, PD_OA_VALUE);
}

static json_t *
lookup_schema(PdOaBuild *build, const PdField *field, LookupValue part, LookupValue value)
{
    switch (value)
    {
        case LOOKUP_TEXT:
            return json_pack("{ss}", "type", "string");
        case LOOKUP_REGEX:
            return json_pack("{ssss}", "type", "string", "format", "regex");
        case LOOKUP_BOOL:
            return json_pack("{ss}", "type", "boolean");
        case LOOKUP_LIST:
            return array_of(build, element_schema(build, field, part), 0, 0);
        case LOOKUP_PAIR:
            return array_of(build, element_schema(build, field, part), 2, 2);
        default:
            return element_schema(build, field, part);
    }
}

/* "<field>[__<transform>][__<lookup>]"; part is LOOKUP_FIELD without a transform. */
static void
add_filter(PdOaBuild *build, json_t *parameters, const PdField *field, const char *transform,
           LookupValue part, const Lookup *lookup)
{
    const char *name = field->name;
    if (transform != NULL)
        name = pd_http_oa_printf(build, "%s__%s", name, transform);
    if (lookup->name[0] != '\0')
        name = pd_http_oa_printf(build, "%s__%s", name, lookup->name);
    const char *description =
        pd_http_oa_printf(build, "Filter: %s%s%s %s", field->name, transform != NULL ? "'s " : "",
                          transform != NULL ? transform : "", lookup->meaning);
    pd_http_oa_push(
        build, parameters,
        query_parameter(build, name, description, lookup_schema(build, field, part, lookup->value)));
}

/* year, month, day (and date on a timestamp): each alone, as a list and with the comparisons. */
static void
add_date_parts(PdOaBuild *build, json_t *parameters, const PdField *field)
{
    static const struct
    {
        const char *name;
        LookupValue part;
    } parts[] = {{"year", LOOKUP_YEAR}, {"month", LOOKUP_MONTH}, {"day", LOOKUP_DAY}, {"date", LOOKUP_DATE}};
    for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++)
    {
        if (parts[p].part == LOOKUP_DATE && field->kind != PD_FIELD_TIMESTAMPTZ)
            continue;
        add_filter(build, parameters, field, parts[p].name, parts[p].part, &exact);
        add_filter(build, parameters, field, parts[p].name, parts[p].part, &in_lookup);
        for (size_t o = 0; o < sizeof(order_lookups) / sizeof(order_lookups[0]); o++)
            add_filter(build, parameters, field, parts[p].name, parts[p].part, &order_lookups[o]);
    }
}

/* Every filter the query library takes on field: exact, the lookups of its kind, isnull. Text takes them all;
 * a bool exact and in; json and binary exact alone; the others (numbers, dates and times, uuids, relations by
 * their key) exact, in and the comparisons. */
static void
add_field_filters(PdOaBuild *build, json_t *parameters, const PdField *field)
{
    if (is_reserved(field->name))
        return;
    if (field->is_array) /* Django's ArrayField lookups, len with the comparisons, isnull */
    {
        for (size_t i = 0; i < sizeof(array_lookups) / sizeof(array_lookups[0]); i++)
            add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &array_lookups[i]);
        add_filter(build, parameters, field, "len", LOOKUP_LEN, &exact);
        add_filter(build, parameters, field, "len", LOOKUP_LEN, &in_lookup);
        for (size_t o = 0; o < sizeof(order_lookups) / sizeof(order_lookups[0]); o++)
            add_filter(build, parameters, field, "len", LOOKUP_LEN, &order_lookups[o]);
        add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &isnull_lookup);
        return;
    }
    PdKindFamily family = pd_kind_info(field->kind)->family;
    bool is_exact_only = family == PD_FAMILY_JSON || family == PD_FAMILY_BINARY;
    add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &exact);
    if (family == PD_FAMILY_TEXT)
        for (size_t i = 0; i < sizeof(text_lookups) / sizeof(text_lookups[0]); i++)
            add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &text_lookups[i]);
    if (!is_exact_only)
        add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &in_lookup);
    if (!is_exact_only && family != PD_FAMILY_BOOLEAN)
        for (size_t i = 0; i < sizeof(order_lookups) / sizeof(order_lookups[0]); i++)
            add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &order_lookups[i]);
    add_filter(build, parameters, field, NULL, LOOKUP_FIELD, &isnull_lookup);
    if (field->kind == PD_FIELD_DATE || field->kind == PD_FIELD_TIMESTAMPTZ)
        add_date_parts(build, parameters, field);
}

/* ---- the other query parameters --------------------------------------------------------------------------
 */

static json_t *
enum_of_fields(PdOaBuild *build, const PdModel *model, bool (*keep)(const PdField *), bool both_directions)
{
    json_t *values = json_array();
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (keep != NULL && !keep(field))
            continue;
        pd_http_oa_push(build, values, text(build, field->name));
        if (both_directions)
            pd_http_oa_push(build, values, text(build, pd_http_oa_printf(build, "-%s", field->name)));
    }
    return values;
}

static bool
has_column(const PdField *field)
{
    return field->kind != PD_FIELD_MANY_TO_MANY;
}

static bool
is_key_relation(const PdField *field)
{
    return field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE;
}

/* ?ordering=-published,title: the model's fields either way, or a path through a foreign key. */
static json_t *
ordering_parameter(PdOaBuild *build, const PdModel *model)
{
    json_t *names = json_object();
    pd_http_oa_set(build, names, "enum", enum_of_fields(build, model, has_column, true));
    json_t *item = names;
    const char *relations = "";
    for (size_t i = 0; i < model->field_count; i++)
        if (is_key_relation(&model->fields[i]))
            relations = pd_http_oa_printf(build, "%s%s%s", relations, relations[0] != '\0' ? "|" : "",
                                          model->fields[i].name);
    if (relations[0] != '\0')
    {
        json_t *path = json_object();
        pd_http_oa_set(build, path, "type", json_string("string"));
        pd_http_oa_set(build, path, "pattern",
                       text(build, pd_http_oa_printf(build, "^-?(?:%s)(?:__[a-z_][a-z0-9_]*)+$", relations)));
        item = json_pack("{s[oo]}", "anyOf", names, path);
    }
    const char *current = "";
    for (size_t i = 0; i < model->ordering_count; i++)
        current = pd_http_oa_printf(build, "%s%s%s%s", current, i > 0 ? "," : "",
                                    model->ordering[i].is_descending ? "-" : "", model->ordering[i].field);
    const char *description = pd_http_oa_printf(
        build,
        "Comma-separated fields to sort by, - for descending; a foreign key's fields as author__name. "
        "Default: %s; the primary key always ends the order, so pages are stable. An unknown field is a 400",
        current[0] != '\0' ? current : "the primary key");
    return query_parameter(build, "ordering", description, array_of(build, item, 1, 0));
}

/* The names of the fields that say search (is_fulltext false: plain and trigram; true: search=fulltext). */
static const char *
searchable_fields(PdOaBuild *build, const PdModel *model, bool is_fulltext)
{
    const char *names = "";
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].is_searchable && (model->fields[i].search == PD_SEARCH_FULLTEXT) == is_fulltext)
            names = pd_http_oa_printf(build, "%s%s%s", names, names[0] != '\0' ? ", " : "",
                                      model->fields[i].name);
    return names;
}

/* What ?search= does on this model: DRF's words over the plain fields, a web search over full-text ones. */
static const char *
search_description(PdOaBuild *build, const char *words, const char *fulltext)
{
    const char *plain = pd_http_oa_printf(build,
                                          "Words separated by spaces or commas; an object matches when "
                                          "each word is in one of %s (ignoring case). At most %d words: "
                                          "more is a 400",
                                          words, PD_QUERY_MAX_SEARCH_TERMS);
    if (fulltext[0] == '\0')
        return plain;
    const char *web = pd_http_oa_printf(build,
                                        "The whole text as a web search (\"a phrase\", or, -word; "
                                        "websearch_to_tsquery) matched against the full-text fields %s",
                                        fulltext);
    return words[0] == '\0' ? web : pd_http_oa_printf(build, "%s; or, for the other fields: %s", web, plain);
}

/* fields and expand, taken by the list and by the item. */
static void
add_shape_parameters(PdOaBuild *build, json_t *parameters, const PdModel *model)
{
    json_t *names = json_object();
    pd_http_oa_set(build, names, "enum", enum_of_fields(build, model, NULL, false));
    pd_http_oa_push(
        build, parameters,
        query_parameter(build, "fields",
                        "Comma-separated fields: the objects hold only these keys (default: every "
                        "field). An unknown field is a 400",
                        array_of(build, names, 1, 0)));
    bool has_relation = false;
    for (size_t i = 0; i < model->field_count; i++)
        has_relation = has_relation || pd_http_oa_is_relation(&model->fields[i]);
    if (!has_relation)
        return;
    json_t *relations = json_object();
    pd_http_oa_set(build, relations, "enum", enum_of_fields(build, model, pd_http_oa_is_relation, false));
    pd_http_oa_push(
        build, parameters,
        query_parameter(build, "expand",
                        "Comma-separated relations to embed: the related object (many-to-many: the "
                        "array of objects) in place of its key, in the same query",
                        array_of(build, relations, 1, 0)));
}

static void
add_pagination_parameters(PdOaBuild *build, json_t *parameters)
{
    static const char *const names[] = {"page", "page_size", "limit", "offset", "cursor", "pagination"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        pd_http_oa_push(build, parameters, pd_http_oa_ref(build, "parameters", names[i]));
}

static json_t *
list_parameters(PdOaBuild *build, const PdModel *model)
{
    json_t *parameters = json_array();
    add_pagination_parameters(build, parameters);
    pd_http_oa_push(build, parameters, ordering_parameter(build, model));
    const char *words = searchable_fields(build, model, false),
               *fulltext = searchable_fields(build, model, true);
    if (words[0] != '\0' || fulltext[0] != '\0')
        pd_http_oa_push(build, parameters,
                        query_parameter(build, "search", search_description(build, words, fulltext),
                                        json_pack("{ss}", "type", "string")));
    add_shape_parameters(build, parameters, model);
    for (size_t i = 0; i < model->field_count; i++)
        add_field_filters(build, parameters, &model->fields[i]);
    return parameters;
}

/* The shared pagination parameters, in components.parameters. */
static json_t *
pagination_components(PdOaBuild *build)
{
    const PdOpenApiOptions *options = build->options;
    json_t *size = json_pack("{sssi}", "type", "integer", "minimum", 1);
    if (options->default_page_size > 0)
        pd_http_oa_set(build, size, "default", json_integer(options->default_page_size));
    const char *cap = options->max_page_size > 0 ? pd_http_oa_printf(build, "; larger values are taken as %d",
                                                                     options->max_page_size)
                                                 : "";
    json_t *parameters = json_object();
    pd_http_oa_set(build, parameters, "page",
                   query_parameter(build, "page",
                                   "Page number pagination: the page, from 1. A page past the last is a 404 "
                                   "{\"detail\": \"Invalid page.\"}",
                                   json_pack("{sssisi}", "type", "integer", "minimum", 1, "default", 1)));
    pd_http_oa_set(
        build, parameters, "page_size",
        query_parameter(build, "page_size", pd_http_oa_printf(build, "Objects per page%s", cap), size));
    pd_http_oa_set(
        build, parameters, "limit",
        query_parameter(build, "limit",
                        pd_http_oa_printf(build, "Limit/offset pagination: objects per page%s", cap),
                        json_pack("{sssi}", "type", "integer", "minimum", 1)));
    pd_http_oa_set(build, parameters, "offset",
                   query_parameter(build, "offset", "Limit/offset pagination: objects to skip",
                                   json_pack("{sssisi}", "type", "integer", "minimum", 0, "default", 0)));
    pd_http_oa_set(
        build, parameters, "cursor",
        query_parameter(build, "cursor",
                        "Cursor pagination: the opaque value of a next or previous link; empty for "
                        "the first page. A cursor that was altered, or made for another ordering, "
                        "is a 404 {\"detail\": \"Invalid cursor\"}. Not with page, limit or "
                        "offset (a 400 naming them)",
                        json_pack("{ss}", "type", "string")));
    pd_http_oa_set(build, parameters, "pagination",
                   query_parameter(build, "pagination",
                                   "The pagination style of this request: cursor gives the first page of "
                                   "cursor pagination (as an empty ?cursor=), whose links carry the cursor. "
                                   "Not with page, limit or offset (a 400 naming them); another value is a "
                                   "400",
                                   json_pack("{ss s[s]}", "type", "string", "enum", "cursor")));
    return parameters;
}

/* ---- answers ------------------------------------------------------------------------------------------- */

static json_t *
json_content(PdOaBuild *build, json_t *schema)
{
    json_t *content = json_object();
    json_t *media = json_object();
    pd_http_oa_set(build, media, "schema", schema);
    return pd_http_oa_set(build, content, "application/json", media);
}

static json_t *
answer(PdOaBuild *build, const char *description, json_t *schema, json_t *headers)
{
    json_t *response = json_object();
    pd_http_oa_set(build, response, "description", text(build, description));
    if (headers != NULL)
        pd_http_oa_set(build, response, "headers", headers);
    if (schema != NULL)
        pd_http_oa_set(build, response, "content", json_content(build, schema));
    return response;
}

static json_t *
header(PdOaBuild *build, const char *name, const char *description, const char *type)
{
    json_t *headers = json_object();
    json_t *one = json_pack("{s{ss}}", "schema", "type", type);
    pd_http_oa_set(build, one, "description", text(build, description));
    return pd_http_oa_set(build, headers, name, one);
}

/* The error answers every operation refers to, in components.responses. */
static json_t *
error_components(PdOaBuild *build)
{
    json_t *responses = json_object();
    struct
    {
        const char *name;
        const char *description;
        json_t *headers;
    } rows[] = {
        {"Unauthorized",
         "No token where one is needed ({\"detail\": \"Authentication credentials were not provided.\"}), or "
         "a "
         "token that does not verify (the detail says why)",
         header(build, "WWW-Authenticate",
                "Bearer realm=\"api\", with error=\"invalid_token\" for a bad token", "string")},
        {"Forbidden",
         "The token's role may not do this ({\"detail\": \"You do not have permission to perform "
         "this action.\"})",
         NULL},
        {"NotFound",
         "No such object, or one the role cannot see ({\"detail\": \"Not found.\"}), also when the body "
         "is invalid; on a list, a page past the last ({\"detail\": \"Invalid page.\"}) or a cursor that "
         "does not verify ({\"detail\": \"Invalid cursor\"})",
         NULL},
        {"MethodNotAllowed",
         "The resource does not take this method ({\"detail\": \"Method \\\"PATCH\\\" not "
         "allowed.\"}); Allow lists those it takes",
         header(build, "Allow", "the methods the path takes", "string")},
        {"NotAcceptable",
         "The Accept header allows no application/json ({\"detail\": \"Could not satisfy the request Accept "
         "header.\"})",
         NULL},
        {"PayloadTooLarge",
         "The body is over the server's limit ({\"detail\": \"Request body is too large "
         "(limit N bytes).\"})",
         NULL},
        {"UriTooLong",
         "The request target (path and query string) is over 16,384 bytes ({\"detail\": \"Request-URI too "
         "long (at most 16384 bytes).\"})",
         NULL},
        {"UnsupportedMediaType",
         "The body is not application/json ({\"detail\": \"Unsupported media type "
         "\\\"text/plain\\\" in request.\"})",
         NULL},
        {"TooManyRequests",
         "Over the rate limit of the role or address ({\"detail\": \"Request was throttled. "
         "Expected available in N seconds.\"})",
         header(build, "Retry-After", "seconds to wait", "integer")},
        {"ServiceUnavailable",
         "The database cannot be reached now ({\"detail\": \"Database unavailable, try "
         "again shortly.\"})",
         header(build, "Retry-After", "seconds to wait", "integer")},
    };
    /* a bulk create's problems: one object per element, {} for a valid one (DRF's ListSerializer) */
    json_t *elements = json_pack("{ss s{ss s{ss s{ss}}}}", "type", "array", "items", "type", "object",
                                 "additionalProperties", "type", "array", "items", "type", "string");
    json_t *shapes = json_array();
    pd_http_oa_push(build, shapes, pd_http_oa_ref(build, "schemas", PD_OA_FIELD_ERRORS));
    pd_http_oa_push(build, shapes, pd_http_oa_ref(build, "schemas", PD_OA_DETAIL));
    pd_http_oa_push(build, shapes, elements);
    pd_http_oa_set(build, responses, "BadRequest",
                   answer(build,
                          "Invalid input: each field or query parameter with its messages; malformed JSON, "
                          "too many query parameters, a bad Host header or an exception a trigger raised as "
                          "{\"detail\": \"...\"}; a bulk create's problems as an array, one object per "
                          "element",
                          json_pack("{so}", "anyOf", shapes), NULL));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        pd_http_oa_set(build, responses, rows[i].name,
                       answer(build, rows[i].description, pd_http_oa_ref(build, "schemas", PD_OA_DETAIL),
                              rows[i].headers));
    return responses;
}

/* Adds the shared answers named by code ("400", "404" ...) to an operation's responses. */
static void
add_errors(PdOaBuild *build, json_t *responses, const char *const *codes)
{
    static const struct
    {
        const char *code;
        const char *name;
        bool needs_auth;
    } table[] = {{"400", "BadRequest", false},
                 {"401", "Unauthorized", true},
                 {"403", "Forbidden", true},
                 {"404", "NotFound", false},
                 {"405", "MethodNotAllowed", false},
                 {"406", "NotAcceptable", false},
                 {"413", "PayloadTooLarge", false},
                 {"414", "UriTooLong", false},
                 {"415", "UnsupportedMediaType", false},
                 {"429", "TooManyRequests", false},
                 {"503", "ServiceUnavailable", false}};
    for (const char *const *code = codes; *code != NULL; code++)
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            if (strcmp(*code, table[i].code) == 0 &&
                (!table[i].needs_auth || build->options->has_bearer_auth))
                pd_http_oa_set(build, responses, *code, pd_http_oa_ref(build, "responses", table[i].name));
}

/* ---- operations ------------------------------------------------------------------------------------------
 */

/* Whether the model's access directive lets anyone do it (false: none may). */
static bool
is_allowed(const PdModel *model, bool is_write)
{
    return (is_write ? model->write_access : model->read_access).kind != PD_ACCESS_NONE;
}

/* An operation's own security when its access needs a token (the document's default serves anyone). */
static void
add_access(PdOaBuild *build, json_t *op, const PdModel *model, bool is_write)
{
    const PdAccess *access = is_write ? &model->write_access : &model->read_access;
    if (!build->options->has_bearer_auth ||
        (access->kind != PD_ACCESS_AUTHENTICATED && access->kind != PD_ACCESS_ROLES))
        return;
    json_t *security = json_array();
    pd_http_oa_push(build, security, json_pack("{s[]}", "bearerAuth"));
    pd_http_oa_set(build, op, "security", security);
    const char *who = "Needs a token (access: authenticated)";
    for (size_t i = 0; access->kind == PD_ACCESS_ROLES && i < access->role_count; i++)
        who = pd_http_oa_printf(build, "%s%s%s", i == 0 ? "Needs a token whose role is one of: " : who,
                                i == 0 ? "" : ", ", access->roles[i]);
    pd_http_oa_set(build, op, "description", text(build, who));
}

static json_t *
operation(PdOaBuild *build, const PdModel *model, const char *action, const char *summary, bool is_write)
{
    json_t *op = json_object();
    pd_http_oa_set(build, op, "operationId",
                   text(build, pd_http_oa_printf(build, "%s_%s", model->resource, action)));
    pd_http_oa_set(build, op, "summary", text(build, summary));
    json_t *tags = json_array();
    pd_http_oa_push(build, tags, text(build, model->resource));
    pd_http_oa_set(build, op, "tags", tags);
    add_access(build, op, model, is_write);
    return op;
}

static json_t *
body(PdOaBuild *build, const char *schema_name)
{
    json_t *request = json_object();
    pd_http_oa_set(build, request, "required", json_true());
    return pd_http_oa_set(build, request, "content",
                          json_content(build, pd_http_oa_ref(build, "schemas", schema_name)));
}

static json_t *
list_operation(PdOaBuild *build, const PdModel *model)
{
    json_t *op = operation(
        build, model, "list",
        pd_http_oa_printf(build, "List %s: filtered, searched, ordered, one page", model->resource), false);
    pd_http_oa_set(build, op, "parameters", list_parameters(build, model));
    json_t *styles = json_array();
    static const char *const suffixes[] = {PD_OA_PAGE_SUFFIX, PD_OA_LIMIT_OFFSET_SUFFIX, PD_OA_CURSOR_SUFFIX};
    for (size_t i = 0; i < 3; i++)
        pd_http_oa_push(
            build, styles,
            pd_http_oa_ref(build, "schemas", pd_http_oa_printf(build, "%s%s", model->name, suffixes[i])));
    json_t *responses = json_object();
    pd_http_oa_set(build, responses, "200",
                   answer(build,
                          "One page: page number style by default, limit/offset when ?limit= or ?offset= is "
                          "given, cursor style when ?cursor= or ?pagination=cursor is",
                          json_pack("{so}", "anyOf", styles), NULL));
    add_errors(build, responses,
               (const char *const[]){"400", "401", "403", "404", "406", "414", "429", "503", NULL});
    return pd_http_oa_set(build, op, "responses", responses);
}

/* ---- upsert: ?on_conflict= and Prefer on a create (upsert.c) ---- */

/* The unique sets ?on_conflict= takes, as upsert.c finds them: unique fields (the key among them), then the
 * unique(...)s, each as its comma list ("id", "email", "title,author"). */
static json_t *
conflict_targets(PdOaBuild *build, const PdModel *model)
{
    json_t *targets = json_array();
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (field->kind != PD_FIELD_MANY_TO_MANY &&
            (field->is_unique || field->is_primary_key || field->kind == PD_FIELD_AUTO ||
             field->kind == PD_FIELD_ONE_TO_ONE))
            pd_http_oa_push(build, targets, text(build, field->name));
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        if (!index->is_unique || index->where != NULL || index->functions != NULL) /* not conflict targets */
            continue;
        PdStrbuf names;
        pd_strbuf_init(&names, build->arena);
        for (size_t f = 0; f < index->field_count; f++)
            pd_strbuf_appendf(&names, "%s%s", f > 0 ? "," : "", index->fields[f]);
        pd_http_oa_push(build, targets,
                        text(build, pd_strbuf_failed(&names) ? NULL : pd_strbuf_text(&names)));
    }
    if (model->key_field_count > 0) /* primary_key(a, b): "a,b" */
    {
        const char *names = "";
        for (size_t k = 0; k < model->key_field_count; k++)
            names = pd_http_oa_printf(build, "%s%s%s", names, k > 0 ? "," : "", model->key_fields[k]);
        pd_http_oa_push(build, targets, text(build, names));
    }
    return targets;
}

static json_t *
upsert_parameters(PdOaBuild *build, const PdModel *model)
{
    json_t *parameters = json_array();
    pd_http_oa_push(
        build, parameters,
        query_parameter(build, "on_conflict",
                        "Upsert (PostgREST's): the fields of one unique constraint of the model, comma "
                        "separated; an object whose values of them are taken updates that row with the "
                        "fields the body gives (or is left alone with Prefer: resolution=ignore-duplicates), "
                        "any other is inserted, all in one statement. Every object gives them a value, and "
                        "the objects of an array give the same fields. Any other value is a 400 under "
                        "on_conflict",
                        json_pack("{ss so}", "type", "string", "enum", conflict_targets(build, model))));
    json_t *prefer = json_object();
    pd_http_oa_set(build, prefer, "name", json_string("Prefer"));
    pd_http_oa_set(build, prefer, "in", json_string("header"));
    pd_http_oa_set(build, prefer, "required", json_false());
    pd_http_oa_set(build, prefer, "description",
                   text(build,
                        "resolution=merge-duplicates (the default with on_conflict) or "
                        "resolution=ignore-duplicates (ON CONFLICT DO NOTHING: the answer holds only the "
                        "rows written); either without on_conflict upserts on the primary key, which the "
                        "body then gives. Echoed in Preference-Applied. Other preferences are ignored"));
    pd_http_oa_set(build, prefer, "schema",
                   json_pack("{ss s[ss]}", "type", "string", "enum", "resolution=merge-duplicates",
                             "resolution=ignore-duplicates"));
    return pd_http_oa_push(build, parameters, prefer);
}

/* The 200 and 204 only an upsert answers. */
static void
add_upsert_answers(PdOaBuild *build, json_t *responses, const PdModel *model)
{
    json_t *shapes = json_array();
    pd_http_oa_push(build, shapes, pd_http_oa_ref(build, "schemas", model->name));
    pd_http_oa_push(build, shapes, array_of(build, pd_http_oa_ref(build, "schemas", model->name), 0, 0));
    pd_http_oa_set(
        build, responses, "200",
        answer(build,
               "Upsert (?on_conflict=): the object given existed and was updated (the object), or an "
               "array of which at least one existed (the rows written, in input order)",
               json_pack("{so}", "anyOf", shapes), NULL));
    pd_http_oa_set(
        build, responses, "204",
        answer(build,
               "Upsert with Prefer: resolution=ignore-duplicates: the one object given existed and "
               "was left alone; nothing written",
               NULL, NULL));
}

static json_t *
create_operation(PdOaBuild *build, const PdModel *model)
{
    json_t *op =
        operation(build, model, "create", pd_http_oa_printf(build, "Create a %s", model->name), true);
    pd_http_oa_set(build, op, "requestBody",
                   body(build, pd_http_oa_printf(build, "%s" PD_OA_REQUEST_SUFFIX, model->name)));
    json_t *responses = json_object();
    pd_http_oa_set(build, op, "parameters", upsert_parameters(build, model));
    json_t *created = json_array();
    pd_http_oa_push(build, created, pd_http_oa_ref(build, "schemas", model->name));
    pd_http_oa_push(build, created, array_of(build, pd_http_oa_ref(build, "schemas", model->name), 0, 0));
    pd_http_oa_set(build, responses, "201",
                   answer(build,
                          "Created: the object as stored (an array body: the objects, in input order; an "
                          "upsert's array: the rows written, none of which existed)",
                          json_pack("{so}", "anyOf", created),
                          header(build, "Location", "the new object's URL (one object)", "string")));
    add_upsert_answers(build, responses, model);
    add_errors(build, responses,
               (const char *const[]){"400", "401", "403", "406", "413", "414", "415", "429", "503", NULL});
    return pd_http_oa_set(build, op, "responses", responses);
}

/* retrieve, update, partial_update, destroy: body_suffix NULL for none; ok_code "204" has no content. */
static json_t *
item_operation(PdOaBuild *build, const PdModel *model, const char *action, const char *summary,
               const char *body_suffix, const char *ok_code)
{
    bool is_write = strcmp(action, "retrieve") != 0;
    json_t *op =
        operation(build, model, action, pd_http_oa_printf(build, "%s a %s", summary, model->name), is_write);
    if (body_suffix == NULL && strcmp(ok_code, "200") == 0)
    {
        json_t *parameters = json_array();
        add_shape_parameters(build, parameters, model);
        pd_http_oa_set(build, op, "parameters", parameters);
    }
    if (body_suffix != NULL)
        pd_http_oa_set(build, op, "requestBody",
                       body(build, pd_http_oa_printf(build, "%s%s", model->name, body_suffix)));
    json_t *responses = json_object();
    bool has_content = strcmp(ok_code, "204") != 0;
    pd_http_oa_set(build, responses, ok_code,
                   answer(build, has_content ? "The object" : "Deleted",
                          has_content ? pd_http_oa_ref(build, "schemas", model->name) : NULL, NULL));
    if (body_suffix != NULL)
        add_errors(build, responses,
                   (const char *const[]){"400", "401", "403", "404", "406", "413", "414", "415", "429", "503",
                                         NULL});
    else /* the query string's filters, ?fields= and ?expand= can be wrong */
        add_errors(build, responses,
                   (const char *const[]){"400", "401", "403", "404", "406", "414", "429", "503", NULL});
    return pd_http_oa_set(build, op, "responses", responses);
}

/* The path parameters of the item URL: the key, or each field of a composite key in declared order
 * ({order},{product}: the values percent-encoded, joined by ','). */
static json_t *
key_parameters(PdOaBuild *build, const PdModel *model)
{
    json_t *parameters = json_array();
    for (size_t i = 0; i < pd_model_key_count(model); i++)
    {
        const PdField *key = pd_model_key_field(model, i);
        json_t *parameter = json_object();
        pd_http_oa_set(build, parameter, "name", text(build, key->name));
        pd_http_oa_set(build, parameter, "in", json_string("path"));
        pd_http_oa_set(build, parameter, "required", json_true());
        pd_http_oa_set(
            build, parameter, "description",
            text(build, model->key_field_count > 0
                            ? pd_http_oa_printf(build, "the %s's %s: part %zu of its key, percent-encoded",
                                                model->name, key->name, i + 1)
                            : pd_http_oa_printf(build, "the %s's %s", model->name, key->name)));
        pd_http_oa_set(build, parameter, "schema", pd_http_oa_value_schema(build, key, PD_OA_VALUE));
        pd_http_oa_push(build, parameters, parameter);
    }
    return parameters;
}

/* "{id}" or "{order},{product}": the item URL's key segment as an OpenAPI path template. */
static const char *
key_template(PdOaBuild *build, const PdModel *model)
{
    const char *out = "";
    for (size_t i = 0; i < pd_model_key_count(model); i++)
        out = pd_http_oa_printf(build, "%s%s{%s}", out, i > 0 ? "," : "", pd_model_key_field(model, i)->name);
    return out;
}

static json_t *
item_path(PdOaBuild *build, const PdModel *model)
{
    json_t *path = json_object();
    pd_http_oa_set(build, path, "parameters", key_parameters(build, model));
    if (is_allowed(model, false))
        pd_http_oa_set(build, path, "get", item_operation(build, model, "retrieve", "Read", NULL, "200"));
    if (!is_allowed(model, true)) /* write=none: the server answers 405 */
        return path;
    pd_http_oa_set(build, path, "put",
                   item_operation(build, model, "update", "Replace", PD_OA_REQUEST_SUFFIX, "200"));
    pd_http_oa_set(
        build, path, "patch",
        item_operation(build, model, "partial_update", "Change some fields of", PD_OA_PATCH_SUFFIX, "200"));
    pd_http_oa_set(build, path, "delete", item_operation(build, model, "destroy", "Delete", NULL, "204"));
    return path;
}

/* GET <base>/: every resource's list URL. */
static json_t *
root_path(PdOaBuild *build)
{
    json_t *op = json_object();
    pd_http_oa_set(build, op, "operationId", json_string("api_root"));
    pd_http_oa_set(build, op, "summary", json_string("The resources and their list URLs"));
    json_t *properties = json_object();
    for (size_t i = 0; i < build->catalog->model_count; i++)
        pd_http_oa_set(build, properties, build->catalog->models[i].resource,
                       json_pack("{ssss}", "type", "string", "format", "uri"));
    json_t *schema = json_object();
    pd_http_oa_set(build, schema, "type", json_string("object"));
    pd_http_oa_set(build, schema, "properties", properties);
    json_t *responses = json_object();
    pd_http_oa_set(build, responses, "200",
                   answer(build, "{\"books\": \"http://host/api/books/\", ...}", schema, NULL));
    add_errors(build, responses, (const char *const[]){"400", "401", "406", "414", "429", NULL});
    pd_http_oa_set(build, op, "responses", responses);
    return pd_http_oa_set(build, json_object(), "get", op);
}

/* ---- the document ----------------------------------------------------------------------------------------
 */

static const char *
base_path(const PdOpenApiOptions *options)
{
    return options->base_path != NULL && options->base_path[0] != '\0' ? options->base_path
                                                                       : DEFAULT_BASE_PATH;
}

static json_t *
info_object(PdOaBuild *build)
{
    const PdOpenApiOptions *options = build->options;
    json_t *info = json_object();
    pd_http_oa_set(build, info, "title",
                   text(build, options->title != NULL ? options->title : "prodata API"));
    pd_http_oa_set(build, info, "version",
                   text(build, options->version != NULL ? options->version : PD_VERSION));
    pd_http_oa_set(build, info, "description",
                   text(build,
                        "Every model of the catalog as a resource, on Django REST Framework's wire "
                        "conventions: trailing slashes, page envelopes {count, next, previous, results}, "
                        "decimals as strings, errors as {\"field\": [messages]} or {\"detail\": text}. "
                        "Filters are ?field=value and ?field__lookup=value (lists comma-separated); "
                        "lookups through relations (author__name__icontains) are accepted as well. "
                        "Unknown query parameters are a 400, not ignored. Generated by prodata."));
    return info;
}

static json_t *
security_components(PdOaBuild *build)
{
    json_t *schemes = json_object();
    json_t *bearer = json_pack("{ssssss}", "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
    pd_http_oa_set(
        build, bearer, "description",
        json_string("A JWT (HS256, RS256 or ES256) in Authorization: Bearer <token>. Its role claim "
                    "becomes the PostgreSQL role of the request, so GRANTs and row-level security "
                    "decide what it may see and do."));
    return pd_http_oa_set(build, schemes, "bearerAuth", bearer);
}

static json_t *
paths_object(PdOaBuild *build, PdError *err)
{
    const char *base = base_path(build->options);
    PdStrmap *seen = pd_strmap_new(build->arena, build->catalog->model_count);
    json_t *paths = json_object();
    pd_http_oa_set(build, paths, pd_http_oa_printf(build, "%s/", base), root_path(build));
    for (size_t i = 0; i < build->catalog->model_count; i++)
    {
        const PdModel *model = &build->catalog->models[i];
        if (seen != NULL && pd_strmap_contains(seen, model->resource))
        {
            json_decref(paths);
            pd_error_set(err, PD_ERR_INVALID_INPUT, "models %s and %s have the same resource \"%s\"",
                         ((const PdModel *)pd_strmap_get(seen, model->resource))->name, model->name,
                         model->resource);
            return NULL;
        }
        if (seen == NULL || !pd_strmap_put(seen, model->resource, (void *)model))
            build->failed = true;
        json_t *list = json_object();
        if (is_allowed(model, false))
            pd_http_oa_set(build, list, "get", list_operation(build, model));
        if (is_allowed(model, true))
            pd_http_oa_set(build, list, "post", create_operation(build, model));
        pd_http_oa_set(build, paths, pd_http_oa_printf(build, "%s/%s/", base, model->resource), list);
        pd_http_oa_set(
            build, paths,
            pd_http_oa_printf(build, "%s/%s/%s/", base, model->resource, key_template(build, model)),
            item_path(build, model));
    }
    return paths;
}

static json_t *
components_object(PdOaBuild *build)
{
    json_t *components = json_object();
    json_t *schemas = json_object();
    for (size_t i = 0; i < build->catalog->model_count; i++)
        pd_http_oa_model_schemas(build, &build->catalog->models[i], schemas);
    pd_http_oa_error_schemas(build, schemas);
    pd_http_oa_set(build, components, "schemas", schemas);
    pd_http_oa_set(build, components, "parameters", pagination_components(build));
    pd_http_oa_set(build, components, "responses", error_components(build));
    if (build->options->has_bearer_auth)
        pd_http_oa_set(build, components, "securitySchemes", security_components(build));
    return components;
}

void
pd_http_openapi_options(const PdServeSettings *settings, PdOpenApiOptions *options)
{
    bool has_keys = (settings->jwt_secret != NULL && settings->jwt_secret[0] != '\0') ||
                    (settings->jwt_public_key != NULL && settings->jwt_public_key[0] != '\0');
    *options = (PdOpenApiOptions){
        .base_path = DEFAULT_BASE_PATH,
        .default_page_size = settings->default_page_size,
        .max_page_size = settings->max_page_size,
        .has_bearer_auth = has_keys,
        .has_anonymous = has_keys && settings->anonymous_role != NULL && settings->anonymous_role[0] != '\0',
    };
}

/* The whole tree in *doc; false with err set when the catalog cannot be described (two models, one path). */
static bool
document(PdOaBuild *build, json_t **doc, PdError *err)
{
    json_t *paths = paths_object(build, err);
    if (paths == NULL)
        return build->failed
                   ? pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory building the OpenAPI document")
                   : false;
    json_t *root = json_object();
    pd_http_oa_set(build, root, "openapi", json_string("3.1.0"));
    pd_http_oa_set(build, root, "info", info_object(build));
    pd_http_oa_set(build, root, "jsonSchemaDialect",
                   json_string("https://spec.openapis.org/oas/3.1/dialect/base"));
    pd_http_oa_set(build, root, "paths", paths);
    pd_http_oa_set(build, root, "components", components_object(build));
    if (build->options->has_bearer_auth)
    {
        json_t *security = json_array();
        pd_http_oa_push(build, security, json_pack("{s[]}", "bearerAuth"));
        if (build->options->has_anonymous) /* {}: no token is also accepted */
            pd_http_oa_push(build, security, json_object());
        pd_http_oa_set(build, root, "security", security);
    }
    json_t *tags = json_array();
    for (size_t i = 0; i < build->catalog->model_count; i++)
    {
        const PdModel *model = &build->catalog->models[i];
        json_t *tag = json_object();
        pd_http_oa_set(build, tag, "name", text(build, model->resource));
        pd_http_oa_set(build, tag, "description",
                       text(build, pd_http_oa_printf(build, "%s objects", model->name)));
        pd_http_oa_push(build, tags, tag);
    }
    pd_http_oa_set(build, root, "tags", tags);
    *doc = root;
    return true;
}

bool
pd_http_openapi(PdArena *arena, const PdCatalog *catalog, const PdOpenApiOptions *options, char **json,
                size_t *length, PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    PdOaBuild build = {scratch, catalog, options, false};
    json_t *doc = NULL;
    bool ok = document(&build, &doc, err);
    char *written = ok && !build.failed ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (ok && written == NULL)
        ok = pd_arena_failed(scratch)
                 ? pd_arena_error(scratch, err)
                 : pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory writing the OpenAPI document");
    pd_arena_free(scratch);
    if (!ok)
        return false;
    size_t size = strlen(written);
    char *copy = pd_arena_strndup(arena, written, size);
    free(written);
    if (copy == NULL)
        return pd_arena_error(arena, err);
    *json = copy;
    *length = size;
    return true;
}
