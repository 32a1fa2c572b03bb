/*
 * resource.c - routing: which URL is what, and which methods each answers.
 * /healthz, /openapi.json and /metrics need no credentials; under /api/ every
 * request is identified first (pd_http_auth_identify: a token, the anonymous
 * role or 401/429), holds one catalog generation for its whole life, and is
 * checked against the model's access directive. URLs end with a slash as
 * DRF's routers make them: GET or HEAD without it is a 301 to the slash form
 * (query string kept, as Django's APPEND_SLASH), any other method a 404.
 * Also the one way a handler gets a database connection: from the pool, with
 * the request's role and claims as its session, or none when the request
 * runs as the pool's own role with no claims (a plain prepared statement).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "openapi.h"
#include "server.h"

#define LIST_ALLOW "GET, POST, HEAD, OPTIONS"
#define ITEM_ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
#define READ_ALLOW "GET, HEAD, OPTIONS"

static bool
is_read(PdHttpMethod method)
{
    return method == PD_HTTP_GET || method == PD_HTTP_HEAD;
}

/* ---- database connections with the request's identity ---- */

/*
 * A pooled connection that waits through the request's task: in a task nothing may block the thread (the
 * connections in use belong to tasks of this same thread too), so a wait for a free connection parks the
 * task in the pool's queue, up to pool_timeout_ms, and a connect is made without blocking (loop.c).
 */
static bool
take_connection(PdHttpServer *server, PdDb **db, PdError *err)
{
    return pd_http_task_acquire(server->pool, true, db, err);
}

/* Whether the request runs as the pool's own role with no claims: plain statements, no session. */
static bool
runs_as_login(const PdHttpContext *ctx)
{
    const PdHttpIdentity *identity = &ctx->identity;
    const char *login = ctx->server->login_role;
    bool is_login_role = identity->role == NULL || (login != NULL && strcmp(identity->role, login) == 0);
    return !ctx->has_identity ||
           (is_login_role && identity->claims_json == NULL && identity->subject == NULL);
}

bool
pd_http_db_may_gather(const PdHttpContext *ctx)
{
    return runs_as_login(ctx) && ctx->is_item && is_read(ctx->method) && pd_http_in_task() &&
           pd_http_loop_mux() != NULL;
}

/*
 * Reads of one object by its key that run as the login role share their loop's multiplexed connection
 * (pd_db_mux_share): many in flight on one connection, answered in one wake-up of its backend. Lists,
 * writes and requests with a role or claims take a connection of their own: a list's statement may scan a
 * table, and statements on a multiplexed connection are answered in turn (a slow one would hold up all
 * behind it); and a list's statement is long enough that its backend's share of the cores, not the
 * wake-up, sets its rate (32 backends get more of them than one).
 */
bool
pd_http_db_acquire(PdHttpContext *ctx, PdDb **db, PdError *err)
{
    bool is_plain = runs_as_login(ctx);
    if (is_plain && ctx->is_item && is_read(ctx->method) && pd_http_in_task())
    {
        PdDbMux *mux = pd_http_loop_mux();
        if (mux != NULL)
            return pd_db_mux_share(mux, ctx->arena, pd_http_task_wait, pd_http_task_wake, pd_http_task_self(),
                                   db, err);
    }
    if (!take_connection(ctx->server, db, err))
        return false;
    if (is_plain)
        return true;
    const PdHttpIdentity *identity = &ctx->identity;
    PdDbSetting *settings = pd_arena_calloc(ctx->arena, 2, sizeof(*settings));
    PdDbSession *session = pd_arena_calloc(ctx->arena, 1, sizeof(*session));
    if (settings == NULL || session == NULL)
    {
        pd_pool_release(ctx->server->pool, *db);
        return pd_arena_error(ctx->arena, err);
    }
    size_t count = 0;
    if (identity->claims_json != NULL)
        settings[count++] = (PdDbSetting){"request.jwt.claims", identity->claims_json};
    if (identity->subject != NULL)
        settings[count++] = (PdDbSetting){"request.jwt.sub", identity->subject};
    *session = (PdDbSession){.role = identity->role, .settings = settings, .setting_count = count};
    pd_db_set_session(*db, session);
    return true;
}

/*
 * A read of the system catalogs needs no identity: the loop's multiplexed connection takes no pool slot,
 * which matters as the request may hold one already (an update answering its refusal); without it, a pooled
 * connection only when one is free at once, never a wait behind the request's own.
 */
bool
pd_http_db_acquire_catalog(PdHttpContext *ctx, PdDb **db, PdError *err)
{
    PdDbMux *mux = pd_http_in_task() ? pd_http_loop_mux() : NULL;
    if (mux != NULL)
        return pd_db_mux_share(mux, ctx->arena, pd_http_task_wait, pd_http_task_wake, pd_http_task_self(), db,
                               err);
    return pd_http_task_acquire(ctx->server->pool, false, db, err);
}

/*
 * A create that runs as the login role shares its loop's group-commit connection (pd_db_mux_new_group):
 * creates that arrive while one COMMIT is being made durable share the next one, so a burst of creates
 * costs one transaction (its id, commit record and WAL flush) and one backend's turn on the cores, not one
 * each: what caps single-row transactions (pgbench's insert ceiling). A create of a model whose table the
 * transactions list (ctx->catalog->counted_oid) adds its rows to the row counters in its own INSERT
 * (pd_http_db_counted_oid). Anything else acquires as pd_http_db_acquire does.
 */
bool
pd_http_db_may_share_create(const PdHttpContext *ctx)
{
    return runs_as_login(ctx) && pd_http_in_task() && ctx->catalog->group_begin != NULL;
}

bool
pd_http_db_acquire_create(PdHttpContext *ctx, PdDb **db, PdError *err)
{
    const PdHttpCatalog *catalog = ctx->catalog;
    if (pd_http_db_may_share_create(ctx))
    {
        PdDbMux *group = pd_http_loop_group(catalog->group_begin);
        /* (one of another catalog, while this request's waited to retire it, lists other tables) */
        if (group != NULL && strcmp(pd_db_mux_begin_sql(group), catalog->group_begin) == 0)
            return pd_db_mux_share(group, ctx->arena, pd_http_task_wait, pd_http_task_wake,
                                   pd_http_task_self(), db, err);
    }
    return pd_http_db_acquire(ctx, db, err);
}

bool
pd_http_db_counted_failed(const PdHttpContext *ctx, PdError *err)
{
    if (strcmp(err->sqlstate, "42501") != 0 && strcmp(err->sqlstate, "42P01") != 0)
        return false;
    char state[sizeof(err->sqlstate)];
    memcpy(state, err->sqlstate, sizeof(state));
    atomic_store(&ctx->server->wants_reload, true);
    pd_error_set(err, PD_ERR_ROLLED_BACK,
                 "the create's row count was refused (%s); nothing was written: run it again alone", state);
    return true;
}

const char *
pd_http_db_counted_oid(const PdHttpContext *ctx, const PdModel *model, PdDb *db)
{
    const PdHttpCatalog *catalog = ctx->catalog;
    if (catalog->counted_oid == NULL || !pd_db_is_share(db))
        return NULL;
    return catalog->counted_oid[model - catalog->catalog->models];
}

void
pd_http_db_release(PdHttpContext *ctx, PdDb *db)
{
    if (db != NULL && pd_db_is_share(db))
        return; /* the share lives in the request's arena; the connection stays with the loop */
    pd_pool_release(ctx->server->pool, db);
}

/* ---- endpoints outside /api ---- */

static void
healthz(PdHttpContext *ctx)
{
    if (!is_read(ctx->method))
    {
        pd_http_respond_not_allowed(ctx, "GET, HEAD");
        return;
    }
    PdError err;
    pd_error_init(&err);
    PdDb *db;
    PdDbResult *result;
    bool is_up = take_connection(ctx->server, &db, &err);
    if (is_up)
    {
        is_up = pd_db_query_prepared(ctx->arena, db, "SELECT 1", 0, NULL, &result, &err);
        pd_pool_release(ctx->server->pool, db);
    }
    if (!is_up)
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    PdHttpCatalog *catalog = pd_http_catalog_acquire(ctx->server);
    ctx->status = 200;
    pd_strbuf_appendf(&ctx->out, "{\"status\":\"ok\",\"models\":%zu,\"generation\":%llu}",
                      catalog->catalog->model_count, (unsigned long long)catalog->generation);
    pd_http_catalog_release(ctx->server, catalog);
}

static void
openapi(PdHttpContext *ctx)
{
    if (!is_read(ctx->method))
    {
        pd_http_respond_not_allowed(ctx, "GET, HEAD");
        return;
    }
    PdHttpCatalog *catalog = pd_http_catalog_acquire(ctx->server);
    PdError err;
    pd_error_init(&err);
    bool is_built = true;
    pthread_mutex_lock(&catalog->openapi_lock);
    if (catalog->openapi == NULL)
    {
        PdOpenApiOptions options;
        pd_http_openapi_options(ctx->server->settings, &options);
        is_built = pd_http_openapi(catalog->arena, catalog->catalog, &options, &catalog->openapi,
                                   &catalog->openapi_length, &err);
    }
    pthread_mutex_unlock(&catalog->openapi_lock);
    if (is_built)
        pd_http_respond_json(ctx, 200, catalog->openapi, catalog->openapi_length);
    else
        pd_http_respond_error(ctx, &err);
    pd_http_catalog_release(ctx->server, catalog);
}

static void
metrics(PdHttpContext *ctx)
{
    if (!is_read(ctx->method))
    {
        pd_http_respond_not_allowed(ctx, "GET, HEAD");
        return;
    }
    PdPoolStats stats;
    pd_pool_stats(ctx->server->pool, &stats);
    char *text;
    size_t length;
    PdError err;
    pd_error_init(&err);
    if (!pd_http_metrics_render(ctx->arena, ctx->server->metrics, &stats, &text, &length, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    pd_http_respond_json(ctx, 200, text, length);
    ctx->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- /api ---- */

/* "?query" as received (Django's APPEND_SLASH keeps it), bytes outside a URL's characters escaped. */
static void
append_query_string(PdStrbuf *out, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    if (query == NULL || query[0] == '\0')
        return;
    pd_strbuf_append_char(out, '?');
    for (const unsigned char *c = (const unsigned char *)query; *c != '\0'; c++)
    {
        if (*c > 0x20 && *c < 0x7F && strchr("\"<>\\^`{|}", *c) == NULL)
            pd_strbuf_append_char(out, (char)*c);
        else
        {
            pd_strbuf_append_char(out, '%');
            pd_strbuf_append_char(out, hex[*c >> 4]);
            pd_strbuf_append_char(out, hex[*c & 15]);
        }
    }
}

/* 301 to the same URL with a slash at the end of the path (GET and HEAD only; others 404). */
static void
append_slash(PdHttpContext *ctx)
{
    if (!is_read(ctx->method))
    {
        pd_http_respond_detail(ctx, 404, "Not found.");
        return;
    }
    PdStrbuf location;
    pd_strbuf_init(&location, ctx->arena);
    for (const char *segment = ctx->path; *segment != '\0';)
    {
        size_t length = strcspn(segment, "/");
        char *part = pd_arena_strndup(ctx->arena, segment, length);
        if (part != NULL)
            pd_http_url_encode(&location, part);
        segment += length;
        if (*segment == '/')
        {
            pd_strbuf_append_char(&location, '/');
            segment++;
        }
    }
    pd_strbuf_append_char(&location, '/');
    append_query_string(&location, ctx->query_string);
    pd_http_add_header(ctx, "Location", pd_strbuf_text(&location));
    ctx->status = 301;
    pd_strbuf_init(&ctx->out, ctx->arena);
}

/* append_slash for a composite key's item URL: the raw path (already encoded, its ',' and escapes kept) and a
 * slash. */
static void
append_slash_raw(PdHttpContext *ctx)
{
    if (!is_read(ctx->method))
    {
        pd_http_respond_detail(ctx, 404, "Not found.");
        return;
    }
    PdStrbuf location;
    pd_strbuf_init(&location, ctx->arena);
    pd_strbuf_appendf(&location, "%s/", ctx->raw_path);
    append_query_string(&location, ctx->query_string);
    pd_http_add_header(ctx, "Location", pd_strbuf_text(&location));
    ctx->status = 301;
    pd_strbuf_init(&ctx->out, ctx->arena);
}

/* GET /api/: {"authors": "http://host/api/authors/", ...}. */
static void
api_root(PdHttpContext *ctx)
{
    if (ctx->method == PD_HTTP_OPTIONS)
    {
        pd_http_add_header(ctx, "Allow", READ_ALLOW);
        pd_strbuf_append(&ctx->out, "{\"name\":\"Api Root\",\"description\":\"The default basic root view "
                                    "for DefaultRouter\",\"renders\":[\"application/json\"],\"parses\":"
                                    "[\"application/json\"]}");
        return;
    }
    if (!is_read(ctx->method))
    {
        pd_http_respond_not_allowed(ctx, READ_ALLOW);
        return;
    }
    const PdCatalog *catalog = ctx->catalog->catalog;
    pd_strbuf_append_char(&ctx->out, '{');
    for (size_t i = 0; i < catalog->model_count; i++)
    {
        const char *resource = catalog->models[i].resource;
        pd_strbuf_append(&ctx->out, i == 0 ? "" : ",");
        pd_http_json_string(&ctx->out, resource);
        pd_strbuf_append(&ctx->out, ":");
        pd_http_json_string(&ctx->out, pd_arena_sprintf(ctx->arena, "%s/api/%s/", ctx->base_url, resource));
    }
    pd_strbuf_append_char(&ctx->out, '}');
}

static const PdModel *
find_resource(const PdCatalog *catalog, const char *name, size_t length)
{
    for (size_t i = 0; i < catalog->model_count; i++)
    {
        const char *resource = catalog->models[i].resource;
        if (strlen(resource) == length && strncmp(resource, name, length) == 0)
            return &catalog->models[i];
    }
    return NULL;
}

/* `access write=none`: a read-only resource, whose writes are 405 (not 403: no role may). */
static bool
is_read_only(const PdModel *model)
{
    return model->write_access.kind == PD_ACCESS_NONE;
}

static void
list_endpoint(PdHttpContext *ctx, const PdModel *model)
{
    switch (ctx->method)
    {
        case PD_HTTP_GET:
        case PD_HTTP_HEAD:
            pd_http_list(ctx, model);
            return;
        case PD_HTTP_POST:
            pd_http_create(ctx, model);
            return;
        case PD_HTTP_OPTIONS:
            pd_http_add_header(ctx, "Allow", is_read_only(model) ? READ_ALLOW : LIST_ALLOW);
            pd_http_options(ctx, model, false, !is_read_only(model));
            return;
        default:
            pd_http_respond_not_allowed(ctx, LIST_ALLOW);
    }
}

static void
item_endpoint(PdHttpContext *ctx, const PdModel *model, const char *pk)
{
    switch (ctx->method)
    {
        case PD_HTTP_GET:
        case PD_HTTP_HEAD:
            ctx->is_item = true;
            pd_http_retrieve(ctx, model, pk);
            return;
        case PD_HTTP_PUT:
        case PD_HTTP_PATCH:
            pd_http_update(ctx, model, pk, ctx->method == PD_HTTP_PATCH);
            return;
        case PD_HTTP_DELETE:
            pd_http_delete(ctx, model, pk);
            return;
        case PD_HTTP_OPTIONS:
            pd_http_add_header(ctx, "Allow", is_read_only(model) ? READ_ALLOW : ITEM_ALLOW);
            pd_http_options(ctx, model, true, !is_read_only(model));
            return;
        default:
            pd_http_respond_not_allowed(ctx, ITEM_ALLOW);
    }
}

/* Identity first (401/429 before anything else), then the model's access directive. */
static bool
identify(PdHttpContext *ctx, PdError *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (!pd_http_auth_identify(ctx->server->auth, ctx->arena, pd_http_header(ctx, "Authorization"),
                               ctx->address, now_ms, &ctx->identity, err))
        return false;
    ctx->has_identity = true;
    return true;
}

/* The model's endpoint for the request, once identified and allowed (OPTIONS needs neither). */
static void
answer_endpoint(PdHttpContext *ctx, const PdModel *model, const char *pk)
{
    PdError err;
    pd_error_init(&err);
    bool is_write = !is_read(ctx->method) && ctx->method != PD_HTTP_OPTIONS;
    if (is_read_only(model) && is_write)
        pd_http_respond_not_allowed(ctx, READ_ALLOW);
    else if (ctx->method == PD_HTTP_OPTIONS)
        pk == NULL ? list_endpoint(ctx, model) : item_endpoint(ctx, model, pk);
    else if (!identify(ctx, &err) || !pd_http_auth_allows(model, &ctx->identity, is_write, &err))
        pd_http_respond_error(ctx, &err);
    else
        pk == NULL ? list_endpoint(ctx, model) : item_endpoint(ctx, model, pk);
}

/* 406: the Accept header allows no JSON. DRF's view negotiates first, before credentials, the method or
 * the body; its body is JSON all the same. */
static void
respond_not_acceptable(PdHttpContext *ctx)
{
    pd_http_respond_detail(ctx, 406, "Could not satisfy the request Accept header.");
}

/*
 * rest: the path after "/api/", e.g. "books/12/". The URL's shape is judged before credentials (404 and 301
 * first, as Django resolves URLs and appends slashes before a view authenticates), then the Accept header
 * (406, DRF's content negotiation).
 */
static void
api_route(PdHttpContext *ctx, const char *rest)
{
    PdError err;
    pd_error_init(&err);
    if (rest[0] == '\0')
    {
        if (!pd_http_accepts_json(ctx))
            respond_not_acceptable(ctx);
        else if (ctx->method != PD_HTTP_OPTIONS && !identify(ctx, &err))
            pd_http_respond_error(ctx, &err);
        else
            api_root(ctx);
        return;
    }
    size_t name_length = strcspn(rest, "/");
    const PdModel *model = find_resource(ctx->catalog->catalog, rest, name_length);
    const char *after = rest + name_length;
    size_t pk_length = *after == '/' ? strcspn(after + 1, "/") : 0;
    if (model != NULL && model->key_field_count > 0 && ctx->raw_path != NULL && *after == '/')
    {
        /* primary_key(a, b): routed on the raw path, whose segment keeps an encoded ',' or '/' of a value
         * (keys.c splits it, then decodes) */
        const char *raw_after = strchr(ctx->raw_path + 5, '/');
        if (raw_after == NULL)
        {
            pd_http_respond_detail(ctx, 404, "Not found.");
            return;
        }
        after = raw_after;
        pk_length = strcspn(after + 1, "/");
    }
    bool is_too_deep =
        *after == '/' &&
        (pk_length == 0 ? after[1] != '\0' : after[1 + pk_length] == '/' && after[2 + pk_length] != '\0');
    if (model == NULL || is_too_deep)
    {
        pd_http_respond_detail(ctx, 404, "Not found.");
        return;
    }
    /* a copy: the catalog may be released (and freed by a reload) before the answer is queued and counted */
    ctx->resource = pd_arena_strdup(ctx->arena, model->resource);
    if (pk_length > 0 && after[1 + pk_length] == '\0' && model->key_field_count > 0 && ctx->raw_path != NULL)
        append_slash_raw(ctx);
    else if (*after == '\0' || (pk_length > 0 && after[1 + pk_length] == '\0'))
        append_slash(ctx);
    else if (!pd_http_accepts_json(ctx))
        respond_not_acceptable(ctx);
    else if (pk_length == 0)
        answer_endpoint(ctx, model, NULL);
    else
        answer_endpoint(ctx, model, pd_arena_strndup(ctx->arena, after + 1, pk_length));
}

void
pd_http_api(PdHttpContext *ctx, const char *rest)
{
    ctx->catalog = pd_http_catalog_acquire(ctx->server);
    api_route(ctx, rest);
    pd_http_catalog_release(ctx->server, ctx->catalog);
    ctx->catalog = NULL;
}

void
pd_http_dispatch(PdHttpContext *ctx)
{
    const char *path = ctx->path;
    if (!pd_http_is_utf8(path, strlen(path))) /* no resource or key is named so: no such URL */
        pd_http_respond_detail(ctx, 404, "Not found.");
    else if (strcmp(path, "/healthz") == 0)
        healthz(ctx);
    else if (strcmp(path, "/openapi.json") == 0)
        openapi(ctx);
    else if (strcmp(path, "/metrics") == 0)
        metrics(ctx);
    else if (strcmp(path, "/api") == 0)
        append_slash(ctx);
    else if (strncmp(path, "/api/", 5) == 0)
        pd_http_api(ctx, path + 5);
    else
        pd_http_respond_detail(ctx, 404, "Not found.");
}
