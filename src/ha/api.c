/*
 * api.c - the keeper's HTTP API on libmicrohttpd: the daemon (one internal
 * thread, bounded connections, an idle timeout, a small memory limit per
 * connection, so a slow or hostile client costs little and never reaches the
 * keeper loop), and per request: the query collected, one snapshot read from
 * the view into a request arena, the answer decided by api_route.c, sent,
 * the arena freed. The answer is given at the first call of the handler: a
 * request body (none is expected) is never read, except POST /failsafe's
 * (failsafe.h), collected up to PD_FAILSAFE_BODY_MAX bytes (the rest read
 * and dropped, then a 413) and answered from the grant table once whole. A
 * request that cannot be answered for want of memory gets a fixed 503,
 * never a 500 and never a hang. HEAD is libmicrohttpd's: the GET's headers
 * without the body.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "ha/api.h"
#include "ha/api_route.h"

enum
{
    API_ARGS_MAX = 32,                  /* query parameters read; more are a 400 */
    API_MEMORY_PER_CONNECTION = 16384,  /* request line and headers; a longer one is refused by MHD */
    API_ARENA_BUDGET = 4 * 1024 * 1024, /* a request's copies: the cluster document and its answer */
};

struct PdHaApi
{
    struct MHD_Daemon *daemon;
    PdKeeperView *view;
    PdFailsafe *failsafe; /* NULL: /failsafe is not served */
    int port;
};

/* POST /failsafe's body as it arrives (the connection's state, freed when the request ends). */
typedef struct Upload
{
    char data[PD_FAILSAFE_BODY_MAX];
    size_t used;
    bool is_too_large;
} Upload;

typedef struct Collected
{
    PdHaApiArg args[API_ARGS_MAX];
    size_t count;
    bool is_truncated;
} Collected;

static enum MHD_Result
collect_arg(void *data, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    Collected *collected = data;
    if (collected->count == API_ARGS_MAX)
    {
        collected->is_truncated = true;
        return MHD_NO;
    }
    collected->args[collected->count++] = (PdHaApiArg){key != NULL ? key : "", value != NULL ? value : ""};
    return MHD_YES;
}

static int64_t
now_mono_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static enum MHD_Result
send_answer(struct MHD_Connection *connection, const PdHaApiAnswer *answer)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(answer->body), (void *)answer->body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    if (answer->body[0] != '\0')
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (answer->allow != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, answer->allow);
    enum MHD_Result queued = MHD_queue_response(connection, (unsigned int)answer->status, response);
    MHD_destroy_response(response);
    return queued;
}

/* Decides the answer in arena; false only when out of memory. */
static bool
decide(PdArena *arena, PdHaApi *api, struct MHD_Connection *connection, const char *url, const char *method,
       PdHaApiAnswer *answer, PdError *err)
{
    Collected collected = {0};
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_arg, &collected);
    if (collected.is_truncated)
    {
        *answer = (PdHaApiAnswer){.status = 400, .body = "{\"detail\":\"more than 32 query parameters\"}"};
        return true;
    }
    PdHaApiRequest request = {
        .method = method, .path = url, .args = collected.args, .arg_count = collected.count};
    request.has_snapshot = pd_keeper_view_has_snapshot(api->view);
    if (!pd_keeper_view_read(arena, api->view, &request.snapshot, err))
        return false;
    request.now_mono_ms = now_mono_ms();
    return pd_ha_api_route(arena, &request, answer, err);
}

/* The grant table's answer to the whole body. */
static enum MHD_Result
answer_failsafe(PdHaApi *api, struct MHD_Connection *connection, const Upload *upload)
{
    PdArena *arena = pd_arena_new(API_ARENA_BUDGET);
    PdError err = {0};
    PdHaApiAnswer answer = {.status = 503, .body = "{\"detail\":\"the keeper's API is out of memory\"}"};
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    PdFailsafeIncoming incoming = {
        .body = upload->data,
        .length = upload->used,
        .is_too_large = upload->is_too_large,
        .signature = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, PD_FAILSAFE_HEADER),
        .now_ms = now_mono_ms(),
        .wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000,
    };
    if (arena != NULL &&
        !pd_failsafe_serve(arena, api->failsafe, &incoming, &answer.status, &answer.body, &err))
        answer = (PdHaApiAnswer){.status = 503, .body = "{\"detail\":\"the keeper's API is out of memory\"}"};
    enum MHD_Result result = send_answer(connection, &answer);
    pd_arena_free(arena);
    return result;
}

/* /failsafe: POST only; the body collected over the handler's calls, answered at the last. */
static enum MHD_Result
on_failsafe(PdHaApi *api, struct MHD_Connection *connection, const char *method, const char *upload_data,
            size_t *upload_data_size, void **state)
{
    if (strcmp(method, "POST") != 0 || api->failsafe == NULL)
    {
        PdHaApiAnswer answer = {.status = 405,
                                .allow = "POST",
                                .body = "{\"detail\":\"/failsafe takes POST only (docs/ha.md)\"}"};
        if (api->failsafe == NULL)
            answer =
                (PdHaApiAnswer){.status = 404, .body = "{\"detail\":\"no endpoint \\\"/failsafe\\\" here\"}"};
        return send_answer(connection, &answer);
    }
    Upload *upload = *state;
    if (upload == NULL)
    {
        *state = calloc(1, sizeof(Upload));
        return *state != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0)
    {
        size_t room = sizeof upload->data - upload->used;
        size_t taken = *upload_data_size < room ? *upload_data_size : room;
        memcpy(upload->data + upload->used, upload_data, taken);
        upload->used += taken;
        upload->is_too_large = upload->is_too_large || taken < *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer_failsafe(api, connection, upload);
}

static void
on_completed(void *data, struct MHD_Connection *connection, void **state,
             enum MHD_RequestTerminationCode code)
{
    (void)data;
    (void)connection;
    (void)code;
    free(*state);
    *state = NULL;
}

static enum MHD_Result
on_request(void *data, struct MHD_Connection *connection, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void)version;
    PdHaApi *api = data;
    if (strcmp(url, "/failsafe") == 0)
        return on_failsafe(api, connection, method, upload_data, upload_data_size, state);
    PdArena *arena = pd_arena_new(API_ARENA_BUDGET);
    PdError err = {0};
    PdHaApiAnswer answer;
    if (arena == NULL || !decide(arena, api, connection, url, method, &answer, &err))
        answer = (PdHaApiAnswer){.status = 503, .body = "{\"detail\":\"the keeper's API is out of memory\"}"};
    enum MHD_Result result = send_answer(connection, &answer);
    pd_arena_free(arena);
    return result;
}

static struct MHD_Daemon *
start_daemon(PdHaApi *api, const struct addrinfo *address)
{
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (address->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_SOCK_ADDR, 0, address->ai_addr},
        {MHD_OPTION_CONNECTION_LIMIT, PD_HA_API_CONNECTIONS_MAX, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, PD_HA_API_CONNECTIONS_PER_IP_MAX, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, PD_HA_API_IDLE_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, API_MEMORY_PER_CONNECTION, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, api, MHD_OPTION_ARRAY, options,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
}

bool
pd_ha_api_start(const char *listen_address, int port, PdKeeperView *view, PdHaApi **api, PdError *err)
{
    return pd_ha_api_start_failsafe(listen_address, port, view, NULL, api, err);
}

bool
pd_ha_api_start_failsafe(const char *listen_address, int port, PdKeeperView *view, PdFailsafe *failsafe,
                         PdHaApi **api, PdError *err)
{
    if (port < 0 || port > 65535)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the API's port %d is not a port", port);
    bool is_any = listen_address == NULL || listen_address[0] == '\0' || strcmp(listen_address, "*") == 0;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    int status = getaddrinfo(is_any ? NULL : listen_address, service, &hints, &found);
    if (status != 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the API's listen address \"%s\": %s",
                            is_any ? "*" : listen_address, gai_strerror(status));
    PdHaApi *made = calloc(1, sizeof *made);
    if (made == NULL)
    {
        freeaddrinfo(found);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the keeper's API");
    }
    made->view = view;
    made->failsafe = failsafe;
    /* "*": IPv4's any address first (getaddrinfo lists it first here too), the others in the resolver's order
     */
    for (struct addrinfo *at = found; at != NULL && made->daemon == NULL; at = at->ai_next)
        made->daemon = start_daemon(made, at);
    freeaddrinfo(found);
    if (made->daemon == NULL)
    {
        free(made);
        return pd_error_set(err, PD_ERR_IO, "the keeper's API could not listen on %s port %d",
                            is_any ? "*" : listen_address, port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(made->daemon, MHD_DAEMON_INFO_BIND_PORT);
    made->port = info != NULL ? (int)info->port : port;
    *api = made;
    return true;
}

int
pd_ha_api_port(const PdHaApi *api)
{
    return api->port;
}

void
pd_ha_api_stop(PdHaApi *api)
{
    if (api == NULL)
        return;
    MHD_stop_daemon(api->daemon);
    free(api);
}
