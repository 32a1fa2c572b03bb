/*
 * server.h - what the files of src/http share: the server, a catalog
 * generation, and one request being answered (PdHttpContext). A request is
 * answered as a task on one event loop (loop.h), so everything it allocates
 * lives in its task's arena, reset per request; only the response body is
 * copied out to libmicrohttpd.
 */
#ifndef PRODATA_HTTP_SERVER_H
#define PRODATA_HTTP_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "loop.h"
#include "http.h"
#include "metrics.h"
#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/log.h"
#include "prodata/model.h"
#include "prodata/object.h"
#include "prodata/pool.h"
#include "prodata/settings.h"
#include "prodata/strbuf.h"

/* One generation of the models: freed after the last request that holds it lets it go. */
typedef struct PdHttpCatalog
{
    PdArena *arena; /* the catalog and the cached OpenAPI document */
    PdCatalog *catalog;
    uint64_t generation;
    int references; /* under the server's catalog_lock */
    pthread_mutex_t openapi_lock;
    char *openapi; /* built on first use */
    size_t openapi_length;
    bool *has_counter; /* per model (catalog order): an unfiltered count may read the row counters */
    /* per model: its table's oid when its creates add their own rows to the row counters
     * (pd_query_counter_client_table), else NULL; group_begin: what each shared create transaction runs
     * first, listing those tables in prodata.client_counts (catalog.c) */
    const char **counted_oid;
    const char *group_begin;
} PdHttpCatalog;

struct PdHttpServer
{
    const PdServeSettings *settings;
    PdPool *pool;
    PdHttpAuth *auth;
    PdMetrics *metrics;
    struct PdHttpLoop **loops; /* loop.c: the event loops, each with its libmicrohttpd daemon */
    int loop_count;
    int thread_count;      /* loops to run: worker_threads, or one per core */
    atomic_uint next_loop; /* round robin of accepted connections */
    char *tls_key;         /* PEM text, NULL without TLS */
    char *tls_cert;
    int listen_fd;
    int port;
    bool is_tls;
    pthread_t accept_thread;
    bool has_accept_thread;
    pthread_t listener_thread; /* LISTEN for prodata migrate's notification */
    bool has_listener_thread;
    atomic_bool is_stopping;
    atomic_bool wants_reload; /* the models (and what the database says of them) are out of date: reload */
    atomic_bool is_draining;
    atomic_int in_flight;
    pthread_mutex_t catalog_lock;
    PdHttpCatalog *catalog;
    uint64_t generation;
    unsigned char cursor_key[32];
    const char *login_role; /* the pool's own role: requests as it need no role switch */
    PdArena *arena;         /* the server's lifetime: settings derived at start */
    const char *const *cors_origins;
    size_t cors_origin_count;
    bool is_cors_any;
};

/* Every request's arena has this budget: past it, PD_ERR_TOO_LARGE (413), never an abort. */
#define PD_HTTP_REQUEST_ARENA_BUDGET ((size_t)256 * 1024 * 1024)

/* The channel `prodata migrate` notifies after it applied something. */
#define PD_HTTP_RELOAD_CHANNEL "prodata_catalog"

typedef enum PdHttpMethod
{
    PD_HTTP_GET,
    PD_HTTP_HEAD,
    PD_HTTP_POST,
    PD_HTTP_PUT,
    PD_HTTP_PATCH,
    PD_HTTP_DELETE,
    PD_HTTP_OPTIONS,
    PD_HTTP_OTHER,
} PdHttpMethod;

/* One query-string argument, decoded; value "" when the argument has no '='. */
typedef struct PdHttpArg
{
    const char *key;
    const char *value;
} PdHttpArg;

#define PD_HTTP_MAX_HEADERS 8

/* A request being answered and the response being built. */
typedef struct PdHttpContext
{
    PdHttpServer *server;
    struct MHD_Connection *connection;
    PdArena *arena; /* the request's task's, reset for this request */
    PdHttpMethod method;
    const char *method_name;
    const char *path;         /* decoded, without the query string */
    const char *query_string; /* as received, after '?' (NULL when none) */
    const char *raw_path;     /* as received, percent-encoded, without the query string (NULL when unknown):
                               * a composite key's parts are split before they are decoded (keys.c) */
    PdHttpArg *args;
    size_t arg_count;
    const char *body;
    size_t body_length;
    const char *address;    /* the client's (X-Forwarded-For's first when trust_proxy) */
    const char *base_url;   /* "http://host:port", from the Host header */
    PdHttpCatalog *catalog; /* held while the request runs; NULL outside /api */
    const char *resource;   /* for metrics and the log; "-" when none */
    PdHttpIdentity identity;
    bool has_identity;
    bool is_item; /* a read of one object by its key (routing): may share a multiplexed connection */
    /* the response */
    int status;
    PdStrbuf out;
    const char *content_type; /* NULL: application/json */
    const char *header_names[PD_HTTP_MAX_HEADERS];
    const char *header_values[PD_HTTP_MAX_HEADERS];
    size_t header_count;
} PdHttpContext;

/*
 * Bounds of a request target (path and query string as received): past them libmicrohttpd would run out of
 * the connection's memory (MHD_OPTION_CONNECTION_MEMORY_LIMIT) while splitting the arguments.
 */
#define PD_HTTP_MAX_ARGS 1000    /* Django's DATA_UPLOAD_MAX_NUMBER_FIELDS */
#define PD_HTTP_MAX_TARGET 16384 /* bytes; nginx answers 414 past 8 KB by default */
#define PD_HTTP_STRINGIFY_TEXT(x) #x
#define PD_HTTP_STRINGIFY(x) PD_HTTP_STRINGIFY_TEXT(x)

/* ---- args.c: the query string ---- */
/*
 * The refusal the raw request target calls for, before libmicrohttpd splits it: 0 when none, else the
 * status (400: an escaped NUL in the path or more than PD_HTTP_MAX_ARGS arguments, 414: longer than
 * PD_HTTP_MAX_TARGET) with *detail its words (static).
 */
int pd_http_target_refusal(const char *target, const char **detail);
/*
 * Adds one decoded argument (key_size and value_size bytes; value NULL when the argument has no '=') to
 * ctx->args: an empty segment is skipped, a repeated name takes the new value. A name or value with a NUL
 * or invalid UTF-8, or a value without a name, adds a problem to err (the argument's name as its field)
 * and is left out; the caller answers 400 when err holds problems. False only on arena exhaustion.
 */
bool pd_http_args_add(PdHttpContext *ctx, const char *key, size_t key_size, const char *value,
                      size_t value_size, PdError *err);
/* The value of the query argument named key (the last given), or NULL. */
const char *pd_http_arg(const PdHttpContext *ctx, const char *key);

/* ---- request.c: the access handler ---- */
/* Answers a request: routes it and fills ctx's response. */
void pd_http_dispatch(PdHttpContext *ctx);
/* A request header, or NULL. */
const char *pd_http_header(PdHttpContext *ctx, const char *name);
/* Adds a response header (name and value must live as long as the request). */
void pd_http_add_header(PdHttpContext *ctx, const char *name, const char *value);
/*
 * Whether the request's Accept header allows application/json, the one type the API renders: no header
 * does; else the most specific of its media ranges that match (application/json, then application with any
 * subtype, then any type) decides, and a q of 0 there refuses (RFC 9110; DRF ignores q). An empty header,
 * or ranges of other types only, does not (DRF's 406).
 */
bool pd_http_accepts_json(PdHttpContext *ctx);

/* ---- respond.c: response bodies and the error shapes of Django REST Framework ---- */
/* Whether text (length bytes) is valid UTF-8 (no overlong forms, no surrogates). */
bool pd_http_is_utf8(const char *text, size_t length);
/* A JSON string literal of text (quotes included; invalid UTF-8 becomes U+FFFD). */
void pd_http_json_string(PdStrbuf *out, const char *text);
void pd_http_json_string_length(PdStrbuf *out, const char *text, size_t length);
/* {"detail": "text"} with status. */
void pd_http_respond_detail(PdHttpContext *ctx, int status, const char *detail);
/* The error as DRF shapes it (400 per field, 404, 401 + WWW-Authenticate, 429/503 + Retry-After, ...). */
void pd_http_respond_error(PdHttpContext *ctx, const PdError *err);
/* An input error as DRF's field errors: {"field": ["message", ...], ...} (non_field_errors without a field).
 */
void pd_http_append_problems(PdStrbuf *out, const PdError *err);
/* 405 {"detail": "Method \"X\" not allowed."} with Allow. */
void pd_http_respond_not_allowed(PdHttpContext *ctx, const char *allow);
/* status with a JSON body taken as it is (PostgreSQL's text). */
void pd_http_respond_json(PdHttpContext *ctx, int status, const char *json, size_t length);
/* Percent-encodes text for a URL's query (RFC 3986 unreserved characters kept). */
void pd_http_url_encode(PdStrbuf *out, const char *text);
/*
 * ctx's URL (base, path) with its query arguments sorted by name (as DRF's replace_query_param), key set to
 * value, or removed when value is NULL. Arena-allocated; NULL on exhaustion.
 */
char *pd_http_url_with(PdHttpContext *ctx, const char *key, const char *value);
/* The value text of member key of the top-level JSON object json, or false when absent. */
bool pd_http_json_member(const char *json, size_t length, const char *key, const char **value,
                         size_t *value_length);

/* ---- constraint.c: a refusal by a constraint the model does not declare ---- */
/*
 * The key of err's 400 (a class 23 error the query library left with PostgreSQL's words): the API field of
 * the one column the constraint is about (the server's, else pg_constraint's, read on the loop's
 * multiplexed connection), else "non_field_errors". Static or arena-allocated; never NULL.
 */
const char *pd_http_constraint_field(PdHttpContext *ctx, const PdError *err);

/* ---- resource.c: /api/ and the models' endpoints ---- */
void pd_http_api(PdHttpContext *ctx, const char *rest);
/* Acquires a pooled connection with the request's identity set as its session. */
bool pd_http_db_acquire(PdHttpContext *ctx, PdDb **db, PdError *err);
/* A connection as the login role, no session, for a read of the system catalogs: the loop's multiplexed
 * connection, else a pooled one only if one is free now (PD_ERR_LOCK_TIMEOUT otherwise). Release it with
 * pd_http_db_release. */
bool pd_http_db_acquire_catalog(PdHttpContext *ctx, PdDb **db, PdError *err);
/* Whether a create of ctx may use its loop's group-commit connection: it runs as the login role, in a
 * task, and its catalog lets creates count themselves. */
bool pd_http_db_may_share_create(const PdHttpContext *ctx);
/* Whether a read of ctx's would go on its loop's multiplexed connection (a read of one object by its key,
 * as the login role, in a task, with the connection there): so it may be gathered with others (gather.c). */
bool pd_http_db_may_gather(const PdHttpContext *ctx);
/* For a create: the loop's group-commit share when pd_http_db_may_share_create, else as above. A
 * statement on it may fail with PD_ERR_ROLLED_BACK: run it again on pd_http_db_acquire's connection. */
bool pd_http_db_acquire_create(PdHttpContext *ctx, PdDb **db, PdError *err);
/* On a group-commit share, model's table's oid when the creates of model there add their own rows to its
 * counter (pd_object_create_each's counted_oid); NULL otherwise. */
const char *pd_http_db_counted_oid(const PdHttpContext *ctx, const PdModel *model, PdDb *db);
/* After a counted statement failed with err: when the failure may be the counting's own (the counters'
 * table gone, or no longer writable by the login role: 42P01, 42501), err becomes PD_ERR_ROLLED_BACK, so
 * that the create runs again alone and uncounted, and the models are reloaded (what may count is asked
 * again; at most one reload per listener wake, catalog.c). */
bool pd_http_db_counted_failed(const PdHttpContext *ctx, PdError *err);

/* ---- batch.c: single creates gathered into one INSERT ---- */
/* Creates values (of model) as pd_object_create would, in one INSERT with the other single creates of the
 * model that the loop gathers meanwhile (batch.c). May fail with PD_ERR_ROLLED_BACK: run it again alone,
 * on pd_http_db_acquire's connection. */
bool pd_http_create_batched(PdHttpContext *ctx, const PdModel *model, const PdValues *values,
                            const char **json, PdError *err);
/* ---- gather.c: single gets by key gathered into one statement ---- */
/* Whether a get of model's object pk may be gathered: no query string, pd_http_db_may_gather, and pk written
 * as PostgreSQL writes its key (an integer in plain decimal, a lower-case uuid). */
bool pd_http_get_may_gather(const PdHttpContext *ctx, const PdModel *model, const char *pk);
/* The object pk of model as pd_query_get_json gives it, read in one statement with the other gets of the
 * model that the loop gathers in this pass (gather.c). err must be clear (PD_OK) on entry. False with
 * *must_read_alone when that statement failed: read the object alone (pd_query_get_json). */
bool pd_http_get_gathered(PdHttpContext *ctx, const PdModel *model, const char *pk, const char **json,
                          size_t *length, bool *must_read_alone, PdError *err);

/* The Location header of a created object: its URL from the primary key in its JSON (json_length bytes). */
void pd_http_add_location(PdHttpContext *ctx, const PdModel *model, const char *json, size_t json_length);
/* A bulk body's problems as DRF's ListSerializer gives them: a 400 with one object per element, {} for a
 * valid one ([{}, {"name": ["This field is required."]}]); failed[i] is element i's error or NULL. */
void pd_http_respond_elements(PdHttpContext *ctx, PdError **failed, size_t count);
/* Keeps err (or "Invalid data." when it holds none) as a bulk element's error in *failed; returns false. */
bool pd_http_element_failed(PdHttpContext *ctx, PdError *err, PdError **failed);
void pd_http_db_release(PdHttpContext *ctx, PdDb *db);

/* ---- list.c: GET on a list, with filters, ordering, search, fields, expand and pagination ---- */
void pd_http_list(PdHttpContext *ctx, const PdModel *model);

/* The largest ?offset= taken as given; a larger one is taken as this (an empty page past any table). */
#define PD_HTTP_MAX_OFFSET (INT64_MAX / 2)

typedef enum PdHttpPagination
{
    PD_HTTP_PAGE_NUMBER,
    PD_HTTP_PAGE_LIMIT_OFFSET,
    PD_HTTP_PAGE_CURSOR,
} PdHttpPagination;

/*
 * The pagination style the query string asks for: cursor (?cursor= or ?pagination=cursor), limit/offset
 * (?limit= or ?offset=), else page number. Errors (PD_ERR_INVALID_INPUT, a problem per argument): a
 * ?pagination= other than cursor, or arguments of two styles at once (?cursor= with ?page=, ...).
 */
bool pd_http_pagination(PdHttpContext *ctx, PdHttpPagination *style, PdError *err);
/* Applies the filters, search, fields and expand of the query string (not pagination) to query. */
struct PdQuery;
bool pd_http_apply_args(PdHttpContext *ctx, struct PdQuery *query, bool is_list, PdError *err);

/* ---- write.c: POST, PUT, PATCH, DELETE ---- */
void pd_http_create(PdHttpContext *ctx, const PdModel *model);
void pd_http_retrieve(PdHttpContext *ctx, const PdModel *model, const char *pk);
void pd_http_update(PdHttpContext *ctx, const PdModel *model, const char *pk, bool is_partial);
void pd_http_delete(PdHttpContext *ctx, const PdModel *model, const char *pk);
/* ---- upsert.c: POST with ?on_conflict= or a Prefer resolution (PostgREST's upsert) ---- */
/* Answers the POST as an upsert when it asks for one (on_conflict or Prefer: resolution=...); false when it
 * does not, with nothing answered (a create). */
bool pd_http_upsert(PdHttpContext *ctx, const PdModel *model);
/* OPTIONS: DRF's SimpleMetadata for a list (POST) or an item (PUT); no actions for a read-only model. */
void pd_http_options(PdHttpContext *ctx, const PdModel *model, bool is_item, bool has_actions);

/* ---- keys.c: composite primary keys in URLs ---- */
/*
 * The item segment of a model with a composite key (primary_key(a, b)): its parts, split on ',' and each
 * percent-decoded, one per key field in declared order. False (nothing written) when the count differs or a
 * part is empty, badly escaped, or not UTF-8: the caller answers 404, as for a pk that cannot be a key.
 */
bool pd_http_key_parts(PdHttpContext *ctx, const PdModel *model, const char *segment, const char ***parts);
/* "order,product": the key's field names joined by sep (on_conflict's default, OpenAPI). NULL on exhaustion.
 */
const char *pd_http_key_names(PdArena *arena, const PdModel *model, const char *sep);
/* Appends the item URL's key segment of the object in json (each key value percent-encoded, ',' between
 * parts). False when json lacks a key value. */
bool pd_http_key_append(PdStrbuf *url, PdArena *arena, const PdModel *model, const char *json, size_t length);

/* ---- catalog.c: generations and reload ---- */
bool pd_http_catalog_load(PdHttpServer *server, PdHttpCatalog **catalog, PdError *err);
PdHttpCatalog *pd_http_catalog_acquire(PdHttpServer *server);
void pd_http_catalog_release(PdHttpServer *server, PdHttpCatalog *catalog);
void pd_http_catalog_free(PdHttpCatalog *catalog);
bool pd_http_listener_start(PdHttpServer *server, PdError *err);
void pd_http_listener_stop(PdHttpServer *server);

/* ---- request.c: the access handler and completion callback libmicrohttpd calls ---- */
/* MHD_OPTION_URI_LOG_CALLBACK: the request's state, made before libmicrohttpd splits the query string; a
 * target pd_http_target_refusal refuses loses its query string here, so that it is never split. */
void *pd_http_on_uri(void *cls, const char *uri, struct MHD_Connection *connection);
enum MHD_Result pd_http_on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **state);
void pd_http_on_completed(void *cls, struct MHD_Connection *connection, void **state,
                          enum MHD_RequestTerminationCode reason);

#endif
