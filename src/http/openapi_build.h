/*
 * openapi_build.h - private to openapi.c and openapi_schema.c: the builder
 * state they share and the JSON Schema of fields and models. Every helper
 * takes NULL values and failed sets in its stride: the first failure marks
 * the builder failed, the JSON tree is still freed whole by its owner, and the
 * caller checks once at the end.
 */
#ifndef PRODATA_HTTP_OPENAPI_BUILD_H
#define PRODATA_HTTP_OPENAPI_BUILD_H

#include <jansson.h>
#include <stdbool.h>

#include "http/openapi.h"
#include "prodata/arena.h"
#include "prodata/model.h"

typedef struct PdOaBuild
{
    PdArena *arena; /* scratch text (names, patterns) for the build */
    const PdCatalog *catalog;
    const PdOpenApiOptions *options;
    bool failed; /* an allocation failed somewhere */
} PdOaBuild;

/* Where a field's schema is used: what it is read as, and which annotations apply. */
typedef enum PdOaUse
{
    PD_OA_RESPONSE, /* in an object the server sends: readOnly, expandable relations */
    PD_OA_REQUEST,  /* in a body the client sends: defaults, decimals as a string or a number */
    PD_OA_VALUE     /* a bare value (path or query parameter, a relation's key): never null, no annotations */
} PdOaUse;

/* object[key] = value (stolen); returns object. NULL value or object: marks the builder failed. */
json_t *pd_http_oa_set(PdOaBuild *build, json_t *object, const char *key, json_t *value);
/* Appends value (stolen) to array; returns array. */
json_t *pd_http_oa_push(PdOaBuild *build, json_t *array, json_t *value);
/* A new string, or NULL (the builder failed) for NULL text or text that is not UTF-8. */
json_t *pd_http_oa_string(PdOaBuild *build, const char *text);
/* {"$ref": "#/components/<section>/<name>"}. */
json_t *pd_http_oa_ref(PdOaBuild *build, const char *section, const char *name);
/* printf into the builder's arena; marks the builder failed and returns "" on exhaustion. */
const char *pd_http_oa_printf(PdOaBuild *build, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The JSON Schema of one value of field (a foreign key: the target's key), for use. New reference. */
json_t *pd_http_oa_value_schema(PdOaBuild *build, const PdField *field, PdOaUse use);

/* Schema names: a model's response object is its name ("Book"); the others add a suffix after a dot, which
 * no model name has, so no model can collide with them. */
#define PD_OA_REQUEST_SUFFIX ".Request"
#define PD_OA_PATCH_SUFFIX ".PatchedRequest"
#define PD_OA_PAGE_SUFFIX ".Page"
#define PD_OA_LIMIT_OFFSET_SUFFIX ".LimitOffsetPage"
#define PD_OA_CURSOR_SUFFIX ".CursorPage"
#define PD_OA_FIELD_ERRORS "error.FieldErrors"
#define PD_OA_DETAIL "error.Detail"

/* Adds model's schemas to components.schemas: the object, its create/replace and partial-update bodies,
 * and its three list envelopes. */
void pd_http_oa_model_schemas(PdOaBuild *build, const PdModel *model, json_t *schemas);
/* Adds the error bodies (field map and detail) to components.schemas. */
void pd_http_oa_error_schemas(PdOaBuild *build, json_t *schemas);

/* Whether the field is written in request bodies (not the implicit id). */
bool pd_http_oa_is_writable(const PdField *field);
/* Whether the field can be expanded (?expand=): foreign key, one-to-one, many-to-many. */
bool pd_http_oa_is_relation(const PdField *field);

#endif
