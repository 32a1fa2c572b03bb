/*
 * cmd_openapi.c - `prodata openapi`: prints the OpenAPI 3.1 document of the
 * REST API for the configured model file and serve settings, the same text
 * `prodata serve` answers at GET /openapi.json (both take their options from
 * pd_http_openapi_options), so it can be read, diffed and validated without a
 * server or a database. The document itself is src/http/openapi.c.
 */
#include <stdio.h>

#include "cli.h"
#include "http/http.h"

bool
cmd_openapi(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdServeSettings config;
    PdSettings settings;
    if (!cli_load_settings(arena, args, &pd_settings_serve, &config, &settings, err))
        return false;
    PdCatalog *catalog = NULL;
    if (!pd_model_load_file(arena, config.models, &catalog, err))
        return false;
    PdOpenApiOptions options;
    pd_http_openapi_options(&config, &options);
    char *json = NULL;
    size_t length = 0;
    if (!pd_http_openapi(arena, catalog, &options, &json, &length, err))
        return pd_error_context(err, "while describing %s", config.models);
    fwrite(json, 1, length, stdout);
    fputc('\n', stdout);
    return true;
}
