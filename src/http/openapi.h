/*
 * openapi.h - the OpenAPI 3.1 description of the REST API that `prodata serve`
 * offers for a catalog: GET /openapi.json, and `prodata openapi` without a
 * server. Written from the catalog alone, so the document and the server that
 * reads the same catalog agree by construction (docs/serve.md, "OpenAPI").
 */
#ifndef PRODATA_HTTP_OPENAPI_H
#define PRODATA_HTTP_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/settings.h"

typedef struct PdOpenApiOptions
{
    const char *title;     /* info.title; NULL: "prodata API" */
    const char *version;   /* info.version, the API's own version; NULL: prodata's version */
    const char *base_path; /* where the resources are: "/api" (no trailing slash; NULL or "": "/api") */
    int default_page_size; /* page_size's default; 0: none documented */
    int max_page_size;     /* page_size's and limit's maximum (larger values are capped); 0: none */
    bool has_bearer_auth;  /* JWT bearer tokens are checked: the security scheme, 401 and 403 answers */
    bool has_anonymous;    /* with has_bearer_auth: requests without a token are served (an anonymous role) */
} PdOpenApiOptions;

/*
 * The options `prodata serve` documents itself with, from its settings: base path "/api", the page sizes,
 * the bearer scheme when a JWT secret or public key is set, anonymous requests when an anonymous role is.
 * GET /openapi.json and `prodata openapi` both take theirs from here, so they print the same document.
 */
void pd_http_openapi_options(const PdServeSettings *settings, PdOpenApiOptions *options);

/*
 * The document as compact JSON text (UTF-8, NUL-terminated, *length bytes) in arena. For each model: the
 * list and create path "<base>/<resource>/" and the item path "<base>/<resource>/{<pk>}/" (trailing slashes,
 * as DRF's router), with every query parameter the server takes (page, page_size, limit, offset, cursor,
 * ordering, search when a field is searchable, fields, expand, and a filter per field and lookup that applies
 * to its kind); request and response schemas per field (JSON Schema 2020-12); the three pagination
 * envelopes; the error answers (400 field map, 401/403/404/405/413/415/429/503 {"detail"}); the bearer JWT
 * scheme when options say so. operationIds are "<resource>_<action>" (list, create, retrieve, update,
 * partial_update, destroy) and schema names the model's name, so both are stable across runs and catalogs.
 * Errors: PD_ERR_INVALID_INPUT when two models would give the same path (same resource); PD_ERR_NO_MEMORY /
 * PD_ERR_TOO_LARGE. Thread-safe: reads the catalog only.
 */
bool pd_http_openapi(PdArena *arena, const PdCatalog *catalog, const PdOpenApiOptions *options, char **json,
                     size_t *length, PdError *err);

#endif
