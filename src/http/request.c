/*
 * request.c - one HTTP request from libmicrohttpd's point of view: the URI
 * callback makes the request's state and judges the raw target (args.c) before
 * libmicrohttpd splits its arguments; the access
 * handler gathers the body (bounded by body_limit), refuses early what can be
 * refused from the headers alone (413 from Content-Length, 415), then
 * answers the whole request as a task on its event loop (loop.h): the task's
 * arena is reset, the request routed (pd_http_dispatch), and when the task
 * had to wait for the database the connection stays suspended until it has
 * finished. Then the response is copied into a libmicrohttpd response with
 * its headers (CORS, Connection: close while draining), one access-log line
 * written and the metrics observed. Nothing of a request lives in an arena
 * across calls of a slow upload (the body is kept in malloc'd memory owned by
 * the request's state until its completion); the header-only refusals use
 * the thread's own arena, which no task touches.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server.h"

/*
 * What a request keeps between the calls of the access handler (malloc'd by pd_http_on_uri, or by the first
 * call; freed on completion).
 */
typedef struct Pending
{
    struct timespec started;
    char *body;
    size_t body_length;
    size_t body_capacity;
    char *query_string;  /* the target's query string as received (NULL when none) */
    char *raw_path;      /* the target's path as received, still percent-encoded (NULL when none) */
    const char *refusal; /* pd_http_target_refusal's words, or NULL */
    int refusal_status;  /* its status */
    bool has_begun;      /* the access handler has seen the request (and counted it in flight) */
    bool is_too_large;
    bool is_answered;
    /* the answer, computed in a task (loop.h) that may outlive one call of the handler */
    PdHttpTask *task;
    PdHttpContext ctx;
    PdHttpServer *server;
    const char *url;
    const char *method;
    bool is_first_call;
    bool has_failed; /* no context could be made: the connection is closed */
} Pending;

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void
free_thread_arena(void *arena)
{
    pd_arena_free(arena);
}

static void
make_arena_key(void)
{
    pthread_key_create(&arena_key, free_thread_arena);
}

/* The calling worker thread's arena (made on first use, freed when the thread ends). */
static PdArena *
thread_arena(void)
{
    pthread_once(&arena_once, make_arena_key);
    PdArena *arena = pthread_getspecific(arena_key);
    if (arena == NULL)
    {
        arena = pd_arena_new(PD_HTTP_REQUEST_ARENA_BUDGET);
        if (arena != NULL)
            pthread_setspecific(arena_key, arena);
    }
    return arena;
}

static PdHttpMethod
method_of(const char *name)
{
    static const struct
    {
        const char *name;
        PdHttpMethod method;
    } methods[] = {{"GET", PD_HTTP_GET},        {"HEAD", PD_HTTP_HEAD},   {"POST", PD_HTTP_POST},
                   {"PUT", PD_HTTP_PUT},        {"PATCH", PD_HTTP_PATCH}, {"DELETE", PD_HTTP_DELETE},
                   {"OPTIONS", PD_HTTP_OPTIONS}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(name, methods[i].name) == 0)
            return methods[i].method;
    return PD_HTTP_OTHER;
}

static bool
has_body(PdHttpMethod method)
{
    return method == PD_HTTP_POST || method == PD_HTTP_PUT || method == PD_HTTP_PATCH;
}

const char *
pd_http_header(PdHttpContext *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx->connection, MHD_HEADER_KIND, name);
}

void
pd_http_add_header(PdHttpContext *ctx, const char *name, const char *value)
{
    if (ctx->header_count < PD_HTTP_MAX_HEADERS && value != NULL)
    {
        ctx->header_names[ctx->header_count] = name;
        ctx->header_values[ctx->header_count++] = value;
    }
}

/* ---- content negotiation ---- */

/*
 * How one media range of an Accept header names application/json, as DRF's _MediaType.match and precedence:
 * -1 not at all, 0 by a star for the type, 1 by a star for the subtype of application, 2 by name
 * (parameters other than q do not count: the renderer has none). *q is its q, 1 when absent or not a
 * number in [0, 1]. range is cut up in place.
 */
static int
range_specificity(char *range, double *q)
{
    char *params = strchr(range, ';');
    if (params != NULL)
        *params++ = '\0';
    *q = 1.0;
    for (char *param = params; param != NULL;)
    {
        char *next = strchr(param, ';');
        if (next != NULL)
            *next++ = '\0';
        param += strspn(param, " \t");
        if (strncasecmp(param, "q=", 2) == 0)
        {
            char *end;
            double value = strtod(param + 2, &end);
            if (end != param + 2 && value >= 0.0 && value <= 1.0)
                *q = value;
        }
        param = next;
    }
    range += strspn(range, " \t");
    size_t main_length = strcspn(range, "/ \t");
    if (range[main_length] != '/')
        return -1; /* DRF matches no range without a subtype ("*" alone) */
    char *sub = range + main_length + 1;
    size_t sub_length = strcspn(sub, " \t");
    bool is_any_main = main_length == 1 && range[0] == '*';
    bool is_any_sub = sub_length == 1 && sub[0] == '*';
    if (!is_any_main && !(main_length == 11 && strncasecmp(range, "application", 11) == 0))
        return -1;
    if (!is_any_sub && !(sub_length == 4 && strncasecmp(sub, "json", 4) == 0))
        return -1;
    return is_any_main ? 0 : is_any_sub ? 1 : 2;
}

bool
pd_http_accepts_json(PdHttpContext *ctx)
{
    const char *header = pd_http_header(ctx, MHD_HTTP_HEADER_ACCEPT);
    if (header == NULL)
        return true; /* no Accept: anything */
    char *ranges = pd_arena_strdup(ctx->arena, header);
    if (ranges == NULL)
        return true; /* exhausted: the answer will say so */
    int best = -1;
    double best_q = 0.0;
    char *saved;
    for (char *range = strtok_r(ranges, ",", &saved); range != NULL; range = strtok_r(NULL, ",", &saved))
    {
        double q;
        int specificity = range_specificity(range, &q);
        if (specificity > best)
        {
            best = specificity;
            best_q = q;
        }
        else if (specificity == best && q > best_q)
            best_q = q;
    }
    return best >= 0 && best_q > 0.0;
}

/* ---- the query string ---- */

typedef struct Collect
{
    PdHttpContext *ctx;
    PdError *err;
    bool is_exhausted;
} Collect;

static enum MHD_Result
collect_arg(void *data, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
            size_t value_size)
{
    (void)kind;
    Collect *collect = data;
    if (!pd_http_args_add(collect->ctx, key, key_size, value, value_size, collect->err))
    {
        collect->is_exhausted = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* The query arguments into ctx->args; false with err (400 per argument, or exhaustion) when refused. */
static bool
read_args(PdHttpContext *ctx, PdError *err)
{
    Collect collect = {ctx, err, false};
    MHD_get_connection_values_n(ctx->connection, MHD_GET_ARGUMENT_KIND, collect_arg, &collect);
    return !collect.is_exhausted && err->code == PD_OK;
}

void *
pd_http_on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)cls;
    (void)connection;
    Pending *pending = calloc(1, sizeof(*pending));
    if (pending == NULL)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &pending->started);
    pending->refusal_status = pd_http_target_refusal(uri, &pending->refusal);
    pending->raw_path = strndup(uri, strcspn(uri, "?")); /* NULL when out of memory: composite keys 404 */
    char *query = strchr(uri, '?');
    if (query != NULL && pending->refusal_status != 0)
        /* libmicrohttpd splits the query string after this call, one record per argument in the connection's
         * fixed memory; out of it, it closes the connection without an answer. Its documentation lets this
         * callback process the URI before it is parsed: a refused target keeps no argument to split. */
        query[1] = '\0';
    else if (query != NULL)
        pending->query_string = strdup(query + 1); /* NULL when out of memory: the 301 then has none */
    return pending;
}

/* ---- where the request comes from ---- */

static const char *
client_address(PdHttpContext *ctx)
{
    if (ctx->server->settings->trust_proxy)
    {
        const char *forwarded = pd_http_header(ctx, "X-Forwarded-For");
        if (forwarded != NULL && forwarded[0] != '\0')
            return pd_arena_strndup(ctx->arena, forwarded, strcspn(forwarded, ", "));
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(ctx->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "-";
    const struct sockaddr *address = info != NULL ? info->client_addr : NULL;
    if (address != NULL && address->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, host, sizeof(host));
    else if (address != NULL && address->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, host, sizeof(host));
    return pd_arena_strdup(ctx->arena, host);
}

/* ":port" at text: 1 to 5 digits, at most 65535 (an empty port is no port: Django refuses "host:"). */
static bool
is_valid_port(const char *text)
{
    size_t digits = strspn(text, "0123456789");
    return digits >= 1 && digits <= 5 && text[digits] == '\0' && atoi(text) <= 65535;
}

/*
 * A Host header is a host name (letters, digits, '.', '-', '_') or a bracketed IPv6 address, then an
 * optional port (Django's split_domain_port and host_validation_re, with the port's range checked too);
 * anything else is refused, so no URL we build from it can carry what a client slipped into it.
 */
static bool
is_valid_host(const char *host)
{
    if (host == NULL || host[0] == '\0' || strlen(host) > 255)
        return false;
    size_t length;
    if (host[0] == '[')
    {
        length = 1 + strspn(host + 1, "0123456789abcdefABCDEF:.");
        if (host[length] != ']' || memchr(host, ':', length) == NULL)
            return false;
        length++;
    }
    else
    {
        length = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
        if (length == 0)
            return false;
    }
    if (host[length] == '\0')
        return true;
    return host[length] == ':' && is_valid_port(host + length + 1);
}

static bool
find_base_url(PdHttpContext *ctx)
{
    const char *scheme = ctx->server->is_tls ? "https" : "http";
    const char *host = pd_http_header(ctx, "Host");
    if (ctx->server->settings->trust_proxy)
    {
        const char *proto = pd_http_header(ctx, "X-Forwarded-Proto");
        const char *forwarded_host = pd_http_header(ctx, "X-Forwarded-Host");
        if (proto != NULL && (strcmp(proto, "https") == 0 || strcmp(proto, "http") == 0))
            scheme = proto;
        if (forwarded_host != NULL)
            host = forwarded_host;
    }
    if (host == NULL) /* HTTP/1.0 without Host: the address we listen on (an IPv6 one in brackets) */
    {
        const char *address = ctx->server->settings->listen_address;
        host = pd_arena_sprintf(ctx->arena, strchr(address, ':') != NULL ? "[%s]:%d" : "%s:%d", address,
                                ctx->server->port);
    }
    if (!is_valid_host(host))
        return false;
    ctx->base_url = pd_arena_sprintf(ctx->arena, "%s://%s", scheme, host);
    return true;
}

/* ---- CORS ---- */

static bool
is_allowed_origin(const PdHttpServer *server, const char *origin)
{
    if (server->is_cors_any)
        return true;
    for (size_t i = 0; i < server->cors_origin_count; i++)
        if (strcmp(server->cors_origins[i], origin) == 0)
            return true;
    return false;
}

/* A preflight (OPTIONS with Access-Control-Request-Method) is answered here; others get the headers added. */
static bool
answer_cors(PdHttpContext *ctx, bool *is_preflight)
{
    *is_preflight = false;
    const char *origin = pd_http_header(ctx, "Origin");
    if (origin == NULL || !is_allowed_origin(ctx->server, origin))
        return false;
    pd_http_add_header(ctx, "Access-Control-Allow-Origin", ctx->server->is_cors_any ? "*" : origin);
    pd_http_add_header(ctx, "Vary", "Origin");
    if (ctx->method == PD_HTTP_OPTIONS && pd_http_header(ctx, "Access-Control-Request-Method") != NULL)
    {
        pd_http_add_header(ctx, "Access-Control-Allow-Methods",
                           "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
        pd_http_add_header(ctx, "Access-Control-Allow-Headers", "Authorization, Content-Type, Prefer");
        pd_http_add_header(ctx, "Access-Control-Max-Age", "600");
        ctx->status = 204;
        *is_preflight = true;
        return true;
    }
    pd_http_add_header(ctx, "Access-Control-Expose-Headers",
                       "Location, Retry-After, WWW-Authenticate, Preference-Applied");
    return true;
}

/* ---- answering ---- */

static double
seconds_since(const struct timespec *started)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started->tv_sec) + (double)(now.tv_nsec - started->tv_nsec) / 1e9;
}

static void
log_access(PdHttpContext *ctx, size_t bytes, double seconds)
{
    if (!pd_log_enabled(PD_LOG_INFO))
        return;
    char status[8], size[24], duration[32];
    snprintf(status, sizeof(status), "%d", ctx->status);
    snprintf(size, sizeof(size), "%zu", bytes);
    snprintf(duration, sizeof(duration), "%.3f", seconds * 1000.0);
    const char *role = ctx->has_identity && ctx->identity.role != NULL ? ctx->identity.role : "-";
    PdLogField fields[] = {{"method", ctx->method_name},
                           {"path", ctx->path},
                           {"status", status},
                           {"bytes", size},
                           {"ms", duration},
                           {"role", role},
                           {"address", ctx->address}};
    pd_log(PD_LOG_INFO, "request", fields, sizeof(fields) / sizeof(fields[0]));
}

/* Copies the response to libmicrohttpd and queues it. */
static enum MHD_Result
queue(PdHttpContext *ctx, Pending *pending)
{
    const char *body = pd_strbuf_text(&ctx->out);
    size_t length = body != NULL ? ctx->out.length : 0;
    if (body == NULL) /* the arena's budget ran out while building the body */
    {
        ctx->status = 500;
        body = "{\"detail\":\"A server error occurred.\"}";
        length = strlen(body);
    }
    struct MHD_Response *response =
        MHD_create_response_from_buffer(length, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    if (ctx->status != 204 && ctx->status != 304)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                ctx->content_type != NULL ? ctx->content_type : "application/json");
    for (size_t i = 0; i < ctx->header_count; i++)
        MHD_add_response_header(response, ctx->header_names[i], ctx->header_values[i]);
    if (atomic_load(&ctx->server->is_draining))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result queued = MHD_queue_response(ctx->connection, (unsigned int)ctx->status, response);
    MHD_destroy_response(response);
    pending->is_answered = true;
    double seconds = seconds_since(&pending->started);
    log_access(ctx, length, seconds);
    pd_http_metrics_observe(ctx->server->metrics, ctx->resource, ctx->method_name, ctx->status, seconds);
    return queued;
}

/* The refusals the headers alone decide, before a body is read: 415 and 413. */
static bool
refuse_early(PdHttpContext *ctx)
{
    const char *length = pd_http_header(ctx, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long limit = ctx->server->settings->body_limit;
    if (length != NULL && strtoll(length, NULL, 10) > limit)
    {
        pd_http_respond_detail(
            ctx, 413, pd_arena_sprintf(ctx->arena, "Request body is too large (limit %lld bytes).", limit));
        return true;
    }
    const char *type = pd_http_header(ctx, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool has_content = (length != NULL && strtoll(length, NULL, 10) > 0) ||
                       pd_http_header(ctx, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    if (type == NULL && !has_content)
        return false;
    size_t type_length = type != NULL ? strcspn(type, "; ") : 0;
    bool is_json = type != NULL && ((type_length == 16 && strncasecmp(type, "application/json", 16) == 0) ||
                                    (type_length > 17 && strncasecmp(type, "application/", 12) == 0 &&
                                     strncasecmp(type + type_length - 5, "+json", 5) == 0));
    if (is_json)
        return false;
    PdStrbuf detail;
    pd_strbuf_init(&detail, ctx->arena);
    pd_strbuf_appendf(&detail, "Unsupported media type \"%s\" in request.", type != NULL ? type : "");
    pd_http_respond_detail(ctx, 415, pd_strbuf_text(&detail));
    return true;
}

/* Builds the context of a request being answered now. */
static bool
begin(PdHttpContext *ctx, PdHttpServer *server, struct MHD_Connection *connection, const char *url,
      const char *method, PdArena *arena)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->server = server;
    ctx->connection = connection;
    ctx->arena = arena;
    if (ctx->arena == NULL)
        return false;
    pd_arena_reset(ctx->arena);
    ctx->method_name = method;
    ctx->method = method_of(method);
    ctx->path = url;
    ctx->resource = "-";
    ctx->status = 200;
    pd_strbuf_init(&ctx->out, ctx->arena);
    ctx->address = client_address(ctx);
    return true;
}

/* Computes the response into pending->ctx: run as a task, so it may wait for the database. */
static void
compute(void *argument)
{
    Pending *pending = argument;
    PdHttpContext *ctx = &pending->ctx;
    PdHttpServer *server = pending->server;
    PdArena *arena = pd_http_task_arena();
    if (!begin(ctx, server, ctx->connection, pending->url, pending->method, arena ? arena : thread_arena()))
    {
        pending->has_failed = true;
        return;
    }
    ctx->query_string = pending->query_string;
    ctx->raw_path = pending->raw_path;
    bool is_preflight = false;
    answer_cors(ctx, &is_preflight);
    if (is_preflight)
        return;
    PdError err;
    pd_error_init(&err);
    if (pending->refusal_status != 0)
        pd_http_respond_detail(ctx, pending->refusal_status, pending->refusal);
    else if (!find_base_url(ctx))
        pd_http_respond_detail(ctx, 400, "Invalid Host header.");
    else if (!read_args(ctx, &err))
        pd_http_respond_error(ctx, &err);
    else if (pending->is_first_call && has_body(ctx->method) && refuse_early(ctx))
        ;
    else if (pending->is_too_large)
        pd_http_respond_detail(ctx, 413,
                               pd_arena_sprintf(ctx->arena, "Request body is too large (limit %d bytes).",
                                                server->settings->body_limit));
    else
    {
        /* DRF's parser reads an empty body as no data, {}: a create's required fields are then refused
         * each, a PATCH changes nothing (not a JSON parse error) */
        bool is_empty = pending->body_length == 0 && has_body(ctx->method);
        ctx->body = is_empty ? "{}" : pending->body != NULL ? pending->body : "";
        ctx->body_length = is_empty ? 2 : pending->body_length;
        pd_http_dispatch(ctx);
    }
}

/* No task could be made for the request (memory, or address space for its stack, is exhausted): 503 in
 * DRF's shape, built in the thread's own arena within this call, the request not run. */
static void
refuse_without_task(Pending *pending)
{
    PdHttpContext *ctx = &pending->ctx;
    if (!begin(ctx, pending->server, ctx->connection, pending->url, pending->method, thread_arena()))
    {
        pending->has_failed = true;
        return;
    }
    pd_logf(PD_LOG_WARNING, "no memory for a request's task: answered 503");
    pd_http_add_header(ctx, "Retry-After", "1");
    pd_http_respond_detail(ctx, 503, "Service temporarily unavailable, try again later.");
}

/* Queues what the task computed and lets the task go. */
static enum MHD_Result
finish(Pending *pending)
{
    PdHttpTask *task = pending->task;
    pending->task = NULL;
    enum MHD_Result result = pending->has_failed ? MHD_NO : queue(&pending->ctx, pending);
    pd_http_task_release(task);
    return result;
}

/* Answers the request: at once when nothing waits, else once its task has finished (the connection is
 * suspended meanwhile and the handler called again). */
static enum MHD_Result
answer(PdHttpServer *server, struct MHD_Connection *connection, const char *url, const char *method,
       Pending *pending, bool is_first_call)
{
    pending->server = server;
    pending->url = url;
    pending->method = method;
    pending->is_first_call = is_first_call;
    pending->ctx.connection = connection;
    PdHttpTaskStart start = pd_http_task_run(connection, compute, pending, &pending->task);
    if (start == PD_HTTP_TASK_WAITING)
        return MHD_YES;
    if (start == PD_HTTP_TASK_NO_MEMORY)
        refuse_without_task(pending);
    return finish(pending);
}

/* Keeps up to body_limit bytes of the body; past it only notes that the body was too large. */
static void
take_body(PdHttpServer *server, Pending *pending, const char *data, size_t size)
{
    size_t limit = (size_t)server->settings->body_limit;
    if (pending->is_too_large || pending->body_length + size > limit)
    {
        pending->is_too_large = true;
        return;
    }
    if (pending->body_length + size + 1 > pending->body_capacity)
    {
        size_t capacity = pending->body_capacity ? pending->body_capacity * 2 : 4096;
        while (capacity < pending->body_length + size + 1)
            capacity *= 2;
        char *grown = realloc(pending->body, capacity);
        if (grown == NULL)
        {
            pending->is_too_large = true;
            return;
        }
        pending->body = grown;
        pending->body_capacity = capacity;
    }
    memcpy(pending->body + pending->body_length, data, size);
    pending->body_length += size;
    pending->body[pending->body_length] = '\0';
}

enum MHD_Result
pd_http_on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                   const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void)version;
    PdHttpServer *server = cls;
    Pending *pending = *state;
    if (pending == NULL)
    {
        pending = calloc(1, sizeof(*pending)); /* no URI callback ran (out of memory then) */
        if (pending == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &pending->started);
        *state = pending;
    }
    if (!pending->has_begun)
    {
        pending->has_begun = true;
        atomic_fetch_add(&server->in_flight, 1);
        /* Answered on the next call, once libmicrohttpd has the whole request: a response queued now
         * would cost the connection its keep-alive. Only a refusal from the headers (413, 415) is sent
         * at once, before a body nobody will read. */
        if (!has_body(method_of(method)))
            return MHD_YES;
        PdHttpContext probe;
        if (!begin(&probe, server, connection, url, method, thread_arena()))
            return MHD_NO;
        if (refuse_early(&probe))
            return answer(server, connection, url, method, pending, true);
        return MHD_YES;
    }
    if (pending->task != NULL)
        return pd_http_task_is_done(pending->task) ? finish(pending) : MHD_YES;
    if (pending->is_answered)
    {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0)
    {
        take_body(server, pending, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(server, connection, url, method, pending, false);
}

void
pd_http_on_completed(void *cls, struct MHD_Connection *connection, void **state,
                     enum MHD_RequestTerminationCode reason)
{
    (void)connection;
    (void)reason;
    PdHttpServer *server = cls;
    Pending *pending = *state;
    if (pending == NULL)
        return;
    if (!pd_http_task_is_done(pending->task))
    {
        /* Only a daemon stopped with a request under way gets here (the drain timed out): its task still
         * points at pending, which is left to the process's end. */
        pd_logf(PD_LOG_WARNING, "a connection closed while its request was still being answered");
        *state = NULL;
        return;
    }
    pd_http_task_release(pending->task);
    if (pending->has_begun)
        atomic_fetch_sub(&server->in_flight, 1);
    free(pending->body);
    free(pending->query_string);
    free(pending->raw_path);
    free(pending);
    *state = NULL;
}
