/*
 * test_openapi.c - the OpenAPI document of the bookstore and of a model file
 * with every kind (data/every_kind.pdm), read back with jansson: paths with
 * trailing slashes, operationIds unique and as named, the query parameters of
 * a list (pagination, ordering with the allowed fields, search only with
 * searchable fields, fields, expand only with relations, the filters each
 * kind takes and none it does not), schemas per kind (decimal as a string
 * with its digits pattern, nullable as a type array, maxLength, enum for
 * choices, bounds from the column type and from checks, readOnly id),
 * request bodies (required fields, defaults, no unknown names), the three
 * envelopes, the error answers, the bearer scheme only when asked, the same
 * bytes on every call, and a budget that runs out. With --dump it prints a
 * document instead, for the validators of tests/integration/openapi.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/openapi.h"
#include "testing.h"

static const PdOpenApiOptions plain = {.base_path = "/api", .default_page_size = 50, .max_page_size = 1000};

static const char *
data_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "tests/unit/http/data/%s", name);
    return path;
}

static json_t *
describe(PdArena *arena, const char *models_text, const PdOpenApiOptions *options)
{
    PdCatalog *catalog = testing_parse(arena, models_text);
    char *text = NULL;
    size_t length = 0;
    PdError err;
    if (!pd_http_openapi(arena, catalog, options, &text, &length, &err))
        fail_msg("pd_http_openapi: %s", err.message);
    assert_int_equal(strlen(text), length);
    json_error_t error;
    json_t *doc = json_loads(text, 0, &error);
    if (doc == NULL)
        fail_msg("not JSON: %s at %d:%d", error.text, error.line, error.column);
    return doc;
}

static json_t *
describe_file(PdArena *arena, const char *path, const PdOpenApiOptions *options)
{
    char *text = testing_read_text(arena, path);
    if (text == NULL)
        fail_msg("cannot read %s (run from the repository root)", path);
    return describe(arena, text, options);
}

/* doc[k1][k2]...; NULL-terminated keys; fails the test when a key is missing. */
static json_t *
at(json_t *node, ...)
{
    va_list keys;
    va_start(keys, node);
    const char *path = "";
    for (const char *key = va_arg(keys, const char *); key != NULL; key = va_arg(keys, const char *))
    {
        json_t *next = json_object_get(node, key);
        if (next == NULL)
        {
            va_end(keys);
            fail_msg("no \"%s\" after \"%s\"", key, path);
        }
        path = key;
        node = next;
    }
    va_end(keys);
    return node;
}

static json_t *
parameter(json_t *operation, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(operation, "parameters"), i, p)
    {
        if (json_is_string(json_object_get(p, "name")) &&
            strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return p;
    }
    return NULL;
}

static bool
array_has(json_t *array, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return true;
    }
    return false;
}

static const char *
string_at(json_t *node, const char *key)
{
    json_t *value = json_object_get(node, key);
    if (!json_is_string(value))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(value);
}

static void
test_openapi_paths_and_operations(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    json_t *doc = describe_file(arena, "examples/bookstore/models.pdm", &plain);
    assert_string_equal(string_at(doc, "openapi"), "3.1.0");
    json_t *paths = at(doc, "paths", NULL);
    const char *expected[] = {"/api/",
                              "/api/authors/",
                              "/api/authors/{id}/",
                              "/api/tags/",
                              "/api/tags/{id}/",
                              "/api/books/",
                              "/api/books/{id}/",
                              "/api/book_reviews/",
                              "/api/book_reviews/{id}/"};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        at(paths, expected[i], NULL);
    assert_int_equal(json_object_size(paths), sizeof(expected) / sizeof(expected[0]));
    assert_string_equal(string_at(at(paths, "/api/books/", "get", NULL), "operationId"), "books_list");
    assert_string_equal(string_at(at(paths, "/api/books/", "post", NULL), "operationId"), "books_create");
    const char *item_ops[][2] = {{"get", "books_retrieve"},
                                 {"put", "books_update"},
                                 {"patch", "books_partial_update"},
                                 {"delete", "books_destroy"}};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(string_at(at(paths, "/api/books/{id}/", item_ops[i][0], NULL), "operationId"),
                            item_ops[i][1]);
    json_t *id = json_array_get(at(paths, "/api/books/{id}/", "parameters", NULL), 0);
    assert_string_equal(string_at(id, "in"), "path");
    assert_true(json_is_true(at(id, "required", NULL)));
    assert_string_equal(string_at(at(id, "schema", NULL), "type"), "integer");
    /* every operationId once */
    json_t *seen = json_object();
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            if (strcmp(method, "parameters") == 0)
                continue;
            const char *operation_id = string_at(op, "operationId");
            if (json_object_get(seen, operation_id) != NULL)
                fail_msg("operationId %s twice", operation_id);
            json_object_set_new(seen, operation_id, json_true());
        }
    }
    assert_int_equal(json_object_size(seen), 1 + 4 * 6);
    json_decref(seen);
    json_decref(doc);
    pd_arena_free(arena);
}

static void
test_openapi_list_parameters(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    json_t *doc = describe_file(arena, "examples/bookstore/models.pdm", &plain);
    json_t *list = at(doc, "paths", "/api/books/", "get", NULL);
    json_t *refs = json_object_get(list, "parameters");
    const char *pagination[] = {"page", "page_size", "limit", "offset", "cursor", "pagination"};
    for (size_t i = 0; i < 6; i++)
    {
        char ref[64];
        snprintf(ref, sizeof(ref), "#/components/parameters/%s", pagination[i]);
        assert_string_equal(string_at(json_array_get(refs, i), "$ref"), ref);
        at(doc, "components", "parameters", pagination[i], NULL);
    }
    json_t *page_size = at(doc, "components", "parameters", "page_size", NULL);
    assert_int_equal(json_integer_value(at(page_size, "schema", "default", NULL)), 50);
    assert_contains(string_at(page_size, "description"), "taken as 1000");
    json_t *ordering = parameter(list, "ordering");
    assert_non_null(ordering);
    assert_string_equal(string_at(ordering, "style"), "form");
    assert_true(json_is_false(at(ordering, "explode", NULL)));
    json_t *names = at(ordering, "schema", "items", "anyOf", NULL);
    json_t *fields = at(json_array_get(names, 0), "enum", NULL);
    assert_true(array_has(fields, "-published"));
    assert_true(array_has(fields, "title"));
    assert_true(array_has(fields, "author"));
    assert_false(array_has(fields, "tags")); /* many-to-many: nothing to sort by */
    assert_string_equal(string_at(json_array_get(names, 1), "pattern"),
                        "^-?(?:author)(?:__[a-z_][a-z0-9_]*)+$");
    assert_contains(string_at(ordering, "description"), "Default: -published,title");
    assert_contains(string_at(parameter(list, "search"), "description"), "in one of title");
    assert_contains(string_at(parameter(list, "search"), "description"), "At most 10 words");
    json_t *expand = at(parameter(list, "expand"), "schema", "items", "enum", NULL);
    assert_true(array_has(expand, "author") && array_has(expand, "tags"));
    assert_int_equal(json_array_size(expand), 2);
    assert_true(array_has(at(parameter(list, "fields"), "schema", "items", "enum", NULL), "status"));
    /* filters by kind */
    const char *present[] = {
        "title",      "title__icontains", "title__in",       "title__regex",        "price",
        "price__gte", "price__range",     "published__year", "published__date__lt", "published__month",
        "in_stock",   "in_stock__isnull", "author",          "author__in",          "author__isnull",
        "tags",       "tags__in",         "status__in",      "meta__isnull",        "id__in",
        "meta",       "author__gte",      "in_stock__in",    "published__year__in", "published__date__range",
        "tags__lt"};
    for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++)
        if (parameter(list, present[i]) == NULL)
            fail_msg("no filter %s", present[i]);
    const char *absent[] = {
        "in_stock__gte",        "in_stock__icontains", "price__icontains",           "meta__gt",   "meta__in",
        "published__icontains", "author__contains",    "published__year__icontains", "title__year"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (parameter(list, absent[i]) != NULL)
            fail_msg("filter %s should not be offered", absent[i]);
    json_t *in = at(parameter(list, "status__in"), "schema", NULL);
    assert_string_equal(string_at(in, "type"), "array");
    assert_true(array_has(at(in, "items", "enum", NULL), "published"));
    assert_true(json_is_false(at(parameter(list, "status__in"), "explode", NULL)));
    json_t *range = at(parameter(list, "price__range"), "schema", NULL);
    assert_int_equal(json_integer_value(at(range, "minItems", NULL)), 2);
    assert_int_equal(json_integer_value(at(range, "maxItems", NULL)), 2);
    assert_string_equal(string_at(at(parameter(list, "price__gte"), "schema", NULL), "type"), "string");
    assert_string_equal(string_at(at(parameter(list, "author__isnull"), "schema", NULL), "type"), "boolean");
    json_t *months = at(parameter(list, "published__month__range"), "schema", NULL);
    assert_int_equal(json_integer_value(at(months, "items", "maximum", NULL)), 12);
    assert_int_equal(json_integer_value(at(months, "maxItems", NULL)), 2);
    assert_string_equal(string_at(at(parameter(list, "published__date__gte"), "schema", NULL), "format"),
                        "date");
    json_t *tag_list = at(doc, "paths", "/api/tags/", "get", NULL);
    assert_null(parameter(tag_list, "search"));
    assert_null(parameter(tag_list, "expand"));
    json_decref(doc);
    pd_arena_free(arena);
}

static void
test_openapi_book_schemas(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    json_t *doc = describe_file(arena, "examples/bookstore/models.pdm", &plain);
    json_t *schemas = at(doc, "components", "schemas", NULL);
    json_t *book = at(schemas, "Book", "properties", NULL);
    assert_true(json_is_true(at(book, "id", "readOnly", NULL)));
    json_t *price = at(book, "price", NULL);
    assert_string_equal(string_at(price, "type"), "string");
    assert_string_equal(string_at(price, "pattern"), "^\\d{0,6}(?:\\.\\d{1,2})?$"); /* check(>= 0): no sign */
    assert_null(json_object_get(price, "minimum"));
    assert_int_equal(json_integer_value(at(book, "title", "maxLength", NULL)), 300);
    assert_string_equal(string_at(at(book, "published", NULL), "format"), "date-time");
    json_t *status = at(book, "status", "enum", NULL);
    assert_int_equal(json_array_size(status), 2);
    assert_true(array_has(status, "draft"));
    assert_contains(string_at(at(book, "status", NULL), "description"), "draft (Draft)");
    json_t *author = at(book, "author", "anyOf", NULL);
    assert_string_equal(string_at(json_array_get(author, 0), "type"), "integer");
    assert_string_equal(string_at(json_array_get(author, 1), "$ref"), "#/components/schemas/Author");
    json_t *born = at(schemas, "Author", "properties", "born", NULL);
    assert_string_equal(string_at(born, "format"), "date");
    assert_true(array_has(at(born, "type", NULL), "string") && array_has(at(born, "type", NULL), "null"));
    json_t *rating = at(schemas, "BookReview", "properties", "rating", NULL);
    assert_int_equal(json_integer_value(at(rating, "minimum", NULL)), 1);
    assert_int_equal(json_integer_value(at(rating, "maximum", NULL)), 5);
    assert_string_equal(string_at(at(schemas, "Author", "properties", "email", NULL), "format"), "email");
    assert_string_equal(string_at(at(schemas, "Author", "properties", "website", NULL), "format"), "uri");
    /* bodies */
    json_t *request = at(schemas, "Book.Request", NULL);
    json_t *required = at(request, "required", NULL);
    assert_true(array_has(required, "title") && array_has(required, "author"));
    assert_false(array_has(required, "price") || array_has(required, "id") || array_has(required, "meta") ||
                 array_has(required, "tags"));
    assert_true(json_is_false(at(request, "additionalProperties", NULL)));
    json_t *request_price = at(request, "properties", "price", NULL);
    assert_true(array_has(at(request_price, "type", NULL), "number"));
    assert_int_equal(json_integer_value(at(request_price, "minimum", NULL)), 0);
    assert_string_equal(json_string_value(at(request_price, "default", NULL)), "0.00");
    assert_null(json_object_get(at(schemas, "Book.PatchedRequest", NULL), "required"));
    /* envelopes */
    json_t *page = at(schemas, "Book.Page", NULL);
    assert_true(array_has(at(page, "required", NULL), "count"));
    assert_string_equal(string_at(at(page, "properties", "results", "items", NULL), "$ref"),
                        "#/components/schemas/Book");
    at(schemas, "Book.LimitOffsetPage", "properties", "count", NULL);
    json_t *cursor = at(schemas, "Book.CursorPage", NULL);
    assert_null(json_object_get(at(cursor, "properties", NULL), "count"));
    json_t *styles = at(doc, "paths", "/api/books/", "get", "responses", "200", "content", "application/json",
                        "schema", "anyOf", NULL);
    assert_int_equal(json_array_size(styles), 3);
    json_decref(doc);
    pd_arena_free(arena);
}

static void
test_openapi_errors_and_security(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    json_t *doc = describe_file(arena, "examples/bookstore/models.pdm", &plain);
    json_t *responses = at(doc, "components", "responses", NULL);
    const char *names[] = {"NotFound",          "MethodNotAllowed",     "PayloadTooLarge",
                           "UriTooLong",        "UnsupportedMediaType", "TooManyRequests",
                           "ServiceUnavailable"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        at(responses, names[i], "content", "application/json", "schema", "$ref", NULL);
    /* a 400 is a map of fields, a {detail} (malformed JSON, too many query parameters) or a bulk's array */
    assert_int_equal(
        json_array_size(at(responses, "BadRequest", "content", "application/json", "schema", "anyOf", NULL)),
        3);
    at(responses, "TooManyRequests", "headers", "Retry-After", NULL);
    at(responses, "MethodNotAllowed", "headers", "Allow", NULL);
    json_t *field_errors = at(doc, "components", "schemas", "error.FieldErrors", NULL);
    assert_string_equal(string_at(at(field_errors, "additionalProperties", NULL), "type"), "array");
    assert_true(array_has(at(doc, "components", "schemas", "error.Detail", "required", NULL), "detail"));
    json_t *create = at(doc, "paths", "/api/books/", "post", "responses", NULL);
    const char *codes[] = {"201", "400", "413", "414", "415", "429", "503"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        at(create, codes[i], NULL);
    at(create, "201", "headers", "Location", NULL);
    assert_null(json_object_get(create, "401"));
    assert_null(json_object_get(doc, "security"));
    assert_null(json_object_get(at(doc, "components", NULL), "securitySchemes"));
    at(doc, "paths", "/api/books/{id}/", "delete", "responses", "400", NULL); /* an unknown filter */
    at(doc, "paths", "/api/books/", "get", "parameters", NULL);
    at(doc, "components", "parameters", "pagination", "schema", "enum", NULL);
    at(doc, "paths", "/api/books/{id}/", "delete", "responses", "204", NULL);
    json_decref(doc);

    PdOpenApiOptions auth = plain;
    auth.has_bearer_auth = true;
    doc = describe_file(arena, "examples/bookstore/models.pdm", &auth);
    json_t *scheme = at(doc, "components", "securitySchemes", "bearerAuth", NULL);
    assert_string_equal(string_at(scheme, "scheme"), "bearer");
    assert_string_equal(string_at(scheme, "bearerFormat"), "JWT");
    assert_int_equal(json_array_size(at(doc, "security", NULL)), 1);
    at(doc, "paths", "/api/books/", "post", "responses", "401", NULL);
    at(doc, "paths", "/api/books/", "post", "responses", "403", NULL);
    at(doc, "components", "responses", "Unauthorized", "headers", "WWW-Authenticate", NULL);
    json_decref(doc);
    auth.has_anonymous = true;
    doc = describe_file(arena, "examples/bookstore/models.pdm", &auth);
    json_t *security = at(doc, "security", NULL);
    assert_int_equal(json_array_size(security), 2);
    assert_int_equal(json_object_size(json_array_get(security, 1)), 0); /* {}: no token accepted */
    json_decref(doc);
    pd_arena_free(arena);
}

static void
test_openapi_every_kind(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    json_t *doc = describe_file(arena, data_path("every_kind.pdm"), &plain);
    json_t *item = at(doc, "components", "schemas", "Item", "properties", NULL);
    const struct
    {
        const char *field;
        const char *key;
        const char *value;
    } strings[] = {
        {"code", "format", "uuid"},
        {"token", "format", "uuid"},
        {"day", "format", "date"},
        {"stamp", "format", "date-time"},
        {"blob", "format", "byte"},
        {"blob", "contentEncoding", "base64"},
        {"handle", "pattern", "^[-a-zA-Z0-9_]+$"},
        {"price", "pattern", "^-?\\d{0,7}(?:\\.\\d{1,3})?$"},
        {"rate", "pattern", "^-?\\d{0,1}(?:\\.\\d{1,3})?$"},
        {"flag", "type", "boolean"},
        {"ratio", "format", "double"},
        {"medium", "format", "int32"},
        {"large", "format", "int64"},
        {"at_time", "pattern", "^\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,6})?)?$"},
        {"wait", "pattern", "^-?(?:\\d+ )?\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{6})?$"},
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
    {
        const char *got = string_at(at(item, strings[i].field, NULL), strings[i].key);
        if (strcmp(got, strings[i].value) != 0)
            fail_msg("%s.%s is %s, expected %s", strings[i].field, strings[i].key, got, strings[i].value);
    }
    assert_null(json_object_get(at(item, "code", NULL), "readOnly")); /* a primary key of its own: written */
    assert_int_equal(json_integer_value(at(item, "small", "minimum", NULL)), -32768);
    assert_int_equal(json_integer_value(at(item, "small", "maximum", NULL)), 32767);
    assert_int_equal(json_integer_value(at(item, "medium", "minimum", NULL)), -10);
    assert_int_equal(json_integer_value(at(item, "medium", "exclusiveMaximum", NULL)), 100);
    assert_int_equal(json_integer_value(at(item, "large", "maximum", NULL)), INT64_MAX);
    assert_int_equal(json_integer_value(at(item, "ratio", "exclusiveMinimum", NULL)), 0);
    json_t *levels = at(item, "level", "enum", NULL);
    assert_int_equal(json_integer_value(json_array_get(levels, 1)), 2);
    json_t *rates = at(item, "rate", "enum", NULL);
    assert_string_equal(json_string_value(json_array_get(rates, 0)), "0.500"); /* as the server writes it */
    assert_string_equal(json_string_value(json_array_get(rates, 1)), "0.250");
    assert_int_equal(json_object_size(at(item, "data", NULL)), 1); /* any JSON value: only its description */
    assert_true(array_has(at(item, "balance", "type", NULL), "null"));
    json_t *publisher = at(item, "publisher", "anyOf", NULL);
    assert_int_equal(json_array_size(publisher), 3);
    assert_string_equal(string_at(json_array_get(publisher, 2), "type"), "null");
    json_t *request = at(doc, "components", "schemas", "Item.Request", "properties", NULL);
    json_t *settings_default = at(request, "settings", "default", "a", NULL);
    assert_int_equal(json_array_size(settings_default), 2);
    assert_string_equal(json_string_value(at(request, "rate", "default", NULL)), "0.500");
    json_t *list = at(doc, "paths", "/api/items/", "get", NULL);
    assert_null(parameter(list, "page__in")); /* a field named like a query parameter is not a filter */
    assert_non_null(parameter(list, "data"));
    assert_null(parameter(list, "blob__in"));
    assert_non_null(parameter(list, "data__isnull"));
    assert_non_null(parameter(list, "day__year__gte"));
    assert_null(parameter(list, "day__date")); /* a date has no date part to take */
    assert_non_null(parameter(list, "stamp__date__gte"));
    assert_non_null(parameter(list, "wait__lt"));
    assert_null(parameter(list, "token__icontains"));
    assert_non_null(parameter(list, "token__gt"));
    assert_non_null(parameter(list, "token__in"));
    assert_string_equal(string_at(at(parameter(list, "code"), "schema", NULL), "format"), "uuid");
    assert_string_equal(
        string_at(json_array_get(at(doc, "paths", "/api/items/{code}/", "parameters", NULL), 0), "name"),
        "code");
    /* a serial key is the database's, as the implicit id: read-only, never required; a serial field that is
     * no key is written, but not required either */
    json_t *legacy = at(doc, "components", "schemas", "Legacy.Request", NULL);
    assert_true(json_is_true(at(legacy, "properties", "id", "readOnly", NULL)));
    assert_int_equal(json_integer_value(at(legacy, "properties", "id", "minimum", NULL)), 1);
    assert_string_equal(string_at(at(legacy, "properties", "id", NULL), "format"), "int32");
    assert_null(json_object_get(at(legacy, "properties", "number", NULL), "readOnly"));
    assert_false(array_has(at(legacy, "required", NULL), "id"));
    assert_false(array_has(at(legacy, "required", NULL), "number"));
    assert_true(array_has(at(legacy, "required", NULL), "title"));
    assert_non_null(at(doc, "paths", "/api/legacies/{id}/", NULL));
    at(doc, "paths", "/api/flags/", NULL);
    at(doc, "components", "schemas", "Profile", "properties", "item", NULL);
    json_decref(doc);
    pd_arena_free(arena);
}

static void
test_openapi_stable_and_bounded(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *text = testing_read_text(arena, "examples/bookstore/models.pdm");
    PdCatalog *catalog = testing_parse(arena, text);
    char *first = NULL;
    char *second = NULL;
    size_t first_length = 0;
    size_t second_length = 0;
    PdError err;
    assert_true(pd_http_openapi(arena, catalog, &plain, &first, &first_length, &err));
    assert_true(pd_http_openapi(arena, catalog, &plain, &second, &second_length, &err));
    assert_int_equal(first_length, second_length);
    assert_memory_equal(first, second, first_length);
    PdOpenApiOptions defaults = {0};
    assert_true(pd_http_openapi(arena, catalog, &defaults, &second, &second_length, &err));
    assert_contains(second, "\"/api/books/\"");
    assert_contains(second, "\"title\":\"prodata API\"");
    PdArena *small = pd_arena_new(16 * 1024);
    char *out = NULL;
    size_t length = 0;
    assert_false(pd_http_openapi(small, catalog, &plain, &out, &length, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_null(out);
    pd_arena_free(small);
    pd_arena_free(arena);
}

static void
test_openapi_access(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *models = "model Note {\n  body text\n  access read=authenticated write=editor|admin\n}\n"
                         "model Country {\n  name string(60)\n  access write=none\n}\n";
    PdOpenApiOptions auth = plain;
    auth.has_bearer_auth = true;
    auth.has_anonymous = true;
    json_t *doc = describe(arena, models, &auth);
    json_t *list = at(doc, "paths", "/api/notes/", "get", NULL);
    assert_int_equal(json_array_size(at(list, "security", NULL)), 1); /* no {}: a token is needed */
    json_t *create = at(doc, "paths", "/api/notes/", "post", NULL);
    assert_contains(string_at(create, "description"), "one of: editor, admin");
    at(doc, "paths", "/api/notes/{id}/", "delete", "security", NULL);
    json_t *countries = at(doc, "paths", "/api/countries/", NULL);
    assert_null(json_object_get(countries, "post")); /* write=none: read-only, the server answers 405 */
    assert_null(json_object_get(at(countries, "get", NULL), "security")); /* read=anyone */
    json_t *country = at(doc, "paths", "/api/countries/{id}/", NULL);
    at(country, "get", NULL);
    assert_null(json_object_get(country, "put"));
    assert_null(json_object_get(country, "patch"));
    assert_null(json_object_get(country, "delete"));
    json_decref(doc);
    doc = describe(arena, models, &plain); /* no tokens checked: no security anywhere */
    assert_null(json_object_get(at(doc, "paths", "/api/notes/", "get", NULL), "security"));
    json_decref(doc);
    pd_arena_free(arena);
}

/* test_openapi --dump MODELS.pdm [--bearer-auth] [--anonymous]: prints the document (page sizes 50 and 1000)
 * for tests/integration/openapi.sh, which validates it with the npm validators. */
static int
dump(int argc, char **argv)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err;
    PdOpenApiOptions options = plain;
    for (int i = 3; i < argc; i++)
    {
        options.has_bearer_auth = options.has_bearer_auth || strcmp(argv[i], "--bearer-auth") == 0;
        options.has_anonymous = options.has_anonymous || strcmp(argv[i], "--anonymous") == 0;
    }
    char *text = NULL;
    size_t length = 0;
    bool ok = pd_model_load_file(arena, argv[2], &catalog, &err) &&
              pd_http_openapi(arena, catalog, &options, &text, &length, &err);
    if (ok)
        printf("%s\n", text);
    else
        fprintf(stderr, "test_openapi: %s\n", err.message);
    pd_arena_free(arena);
    return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--dump") == 0)
        return dump(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_paths_and_operations),
        cmocka_unit_test(test_openapi_list_parameters),
        cmocka_unit_test(test_openapi_book_schemas),
        cmocka_unit_test(test_openapi_errors_and_security),
        cmocka_unit_test(test_openapi_every_kind),
        cmocka_unit_test(test_openapi_access),
        cmocka_unit_test(test_openapi_stable_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
