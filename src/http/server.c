/*
 * server.c - the life of `prodata serve`'s server: start (models, pool,
 * authentication, metrics, the listening socket, the event loops with their
 * libmicrohttpd daemons, the LISTEN thread) and the graceful stop. Thread
 * model, chosen for throughput on few cores: worker_threads event loops (one
 * per core by default, loop.c), each running its requests as fibers that
 * switch out while their statements are at the database; so N concurrent
 * clients have N statements in flight (what create's group commit needs)
 * with no thread per connection and no hand-off between threads. Our own
 * thread accepts connections and deals them to the loops in turn (racing
 * accepts would pile a burst of connections onto whichever loop woke
 * first). Stopping closes the listening socket first and lets the loops run
 * until the requests under way have finished.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cursor.h"
#include "server.h"

/* ---- the listening socket and the accept thread ---- */

static bool
bind_socket(PdHttpServer *server, PdError *err)
{
    const PdServeSettings *settings = server->settings;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", settings->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    int status = getaddrinfo(settings->listen_address, port_text, &hints, &found);
    if (status != 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "listen_address \"%s\": %s", settings->listen_address,
                            gai_strerror(status));
    int saved = 0;
    for (struct addrinfo *at = found; at != NULL && server->listen_fd < 0; at = at->ai_next)
    {
        int fd = socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC, at->ai_protocol);
        int on = 1;
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
            bind(fd, at->ai_addr, at->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            server->listen_fd = fd;
        else
        {
            saved = errno;
            if (fd >= 0)
                close(fd);
        }
    }
    freeaddrinfo(found);
    if (server->listen_fd < 0)
        return pd_error_set(err, PD_ERR_IO, "could not listen on %s port %d: %s", settings->listen_address,
                            settings->port, strerror(saved));
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(server->listen_fd, (struct sockaddr *)&address, &length) == 0)
        server->port = ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&address)->sin6_port
                                                           : ((struct sockaddr_in *)&address)->sin_port);
    return true;
}

/* Accepts until the listening socket is shut down; libmicrohttpd owns each connection from then on. */
static void *
accept_loop(void *data)
{
    PdHttpServer *server = data;
    while (!atomic_load(&server->is_stopping))
    {
        struct sockaddr_storage address;
        socklen_t length = sizeof(address);
        int fd = accept(server->listen_fd, (struct sockaddr *)&address, &length);
        if (fd < 0)
        {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (atomic_load(&server->is_stopping) || errno == EINVAL || errno == EBADF)
                break;
            /* EMFILE and the like: wait a little rather than spin; the backlog holds the clients. */
            pd_logf(PD_LOG_WARNING, "accept failed: %s", strerror(errno));
            struct timespec pause = {0, 50 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        pd_http_loops_add(server, fd, (struct sockaddr *)&address, length);
    }
    return NULL;
}

/* ---- TLS files ---- */

static bool
read_pem(PdArena *arena, const char *path, char **text, PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    if (!pd_strbuf_append_file(&buf, path, err))
        return false;
    *text = (char *)pd_strbuf_text(&buf);
    return true;
}

/* ---- libmicrohttpd ---- */

/* Reads the TLS certificate and key once, for every loop's daemon. */
static bool
prepare_tls(PdHttpServer *server, PdError *err)
{
    const PdServeSettings *settings = server->settings;
    if (settings->tls_cert[0] == '\0' && settings->tls_key[0] == '\0')
        return true;
    if (settings->tls_cert[0] == '\0' || settings->tls_key[0] == '\0')
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "tls_cert and tls_key go together: set both");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "this libmicrohttpd was built without TLS");
    if (!read_pem(server->arena, settings->tls_cert, &server->tls_cert, err) ||
        !read_pem(server->arena, settings->tls_key, &server->tls_key, err))
        return false;
    server->is_tls = true;
    return true;
}

/* One loop's daemon: external epoll mode (the loop runs it), connections handed in by the accept thread,
 * suspend and resume for requests that wait on the database. */
static struct MHD_Daemon *
start_daemon(PdHttpServer *server, unsigned int connection_limit)
{
    const PdServeSettings *settings = server->settings;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    if (server->is_tls)
        flags |= MHD_USE_TLS;
    unsigned int idle_s = (unsigned int)((settings->idle_timeout_ms + 999) / 1000);
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_CONNECTION_LIMIT, connection_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, idle_s, NULL},
        /* a request line of PD_HTTP_MAX_TARGET bytes with PD_HTTP_MAX_ARGS arguments (a 64-byte record
         * each) and the headers fit; pd_http_on_uri refuses a larger one before it is split. libmicrohttpd
         * clears it after every request (about a sixth of a get's cost here): 32 KB, its default, was
         * measured faster, but left requests with large headers or a long Location without an answer. */
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)pd_http_on_completed, server},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)pd_http_on_uri, server},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!server->is_tls)
        options[5] = options[7]; /* the list ends before the TLS options */
    return MHD_start_daemon(flags, 0, NULL, NULL, pd_http_on_request, server, MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

/* pool_size, or 0: 32, or 8 per loop when that is more (each loop keeps many statements in flight). */
static int
pool_size(const PdHttpServer *server)
{
    int size = server->settings->pool_size;
    if (size > 0)
        return size;
    return server->thread_count * 8 > 32 ? server->thread_count * 8 : 32;
}

/*
 * worker_threads, or 0: half the cores, at least one. A loop never blocks, so one keeps a core busy (about
 * 20,000 reads by key a second here); PostgreSQL's backends, usually on the same machine, need the other
 * cores, and fewer loops make bigger commit groups (measured on 2 cores: 1 loop against 2, creates 1.2-1.6x,
 * reads by key and lists the same, p99 lower).
 */
static int
thread_count(const PdServeSettings *settings)
{
    if (settings->worker_threads > 0)
        return settings->worker_threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 1 ? (int)(cores / 2) : 1;
}

static bool
start_loops(PdHttpServer *server, PdError *err)
{
    if (!pd_http_loops_start(server, server->thread_count, pool_size(server), PD_HTTP_REQUEST_ARENA_BUDGET,
                             start_daemon, err))
    {
        if (err->code == PD_OK)
            pd_error_set(err, PD_ERR_INTERNAL, "libmicrohttpd did not start%s",
                         server->is_tls ? " (TLS: check the certificate and key)" : "");
        return false;
    }
    return true;
}

/* ---- settings derived at start ---- */

/* cors_origins: "*" or a comma list, split once. */
static bool
parse_cors(PdHttpServer *server, PdError *err)
{
    const char *text = server->settings->cors_origins;
    const char **origins = NULL;
    size_t count = 0;
    while (*text != '\0')
    {
        while (*text == ' ' || *text == ',')
            text++;
        size_t length = strcspn(text, ", ");
        if (length == 0)
            break;
        if (length == 1 && text[0] == '*')
            server->is_cors_any = true;
        else
        {
            origins = pd_arena_reserve_next(server->arena, origins, count, sizeof(*origins));
            if (origins == NULL)
                return pd_arena_error(server->arena, err);
            origins[count++] = pd_arena_strndup(server->arena, text, length);
        }
        text += length;
    }
    server->cors_origins = origins;
    server->cors_origin_count = count;
    return true;
}

static bool
open_pool(PdHttpServer *server, PdError *err)
{
    const PdServeSettings *settings = server->settings;
    PdPoolOptions options = {
        .conninfo = settings->database,
        .size = pool_size(server),
        .acquire_timeout_ms = settings->pool_timeout_ms,
        .connect_timeout_ms = settings->connect_timeout_ms,
        .statement_timeout_ms = settings->statement_timeout_ms,
        .application_name = "prodata serve",
    };
    return pd_pool_new(&options, &server->pool, err);
}

static bool
open_auth(PdHttpServer *server, PdError *err)
{
    PdHttpAuthOptions options;
    return pd_http_auth_options(server->arena, server->settings, &options, err) &&
           pd_http_auth_new(&options, &server->auth, err);
}

/*
 * Opens the pool's connections one after the other before the first client comes (a burst of clients
 * on a cold pool would open them all at once, each slower for the others, some past connect_timeout_ms),
 * and learns the pool's own login role, so that requests as that role with no claims run as plain
 * statements. When the database cannot be reached now, the pool connects on demand later and every
 * anonymous request switches role explicitly (still correct).
 */
static void
warm_pool(PdHttpServer *server, int size)
{
    PdDb **held = calloc((size_t)size, sizeof(*held));
    PdError err;
    pd_error_init(&err);
    int count = 0;
    while (held != NULL && count < size && pd_pool_acquire(server->pool, &held[count], &err))
        count++;
    if (count == 0)
        pd_logf(PD_LOG_WARNING, "database not reachable at start: %s", err.message);
    PdDbResult *result;
    if (count > 0 && pd_db_query(server->arena, held[0], "SELECT current_user", 0, NULL, &result, &err) &&
        pd_db_result_row_count(result) == 1)
        server->login_role = pd_arena_strdup(server->arena, pd_db_result_value(result, 0, 0));
    for (int i = 0; i < count; i++)
        pd_pool_release(server->pool, held[i]);
    free(held);
}

static void
server_free(PdHttpServer *server)
{
    if (server->loops != NULL)
        pd_http_loops_stop(server);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->catalog != NULL)
        pd_http_catalog_free(server->catalog);
    if (server->pool != NULL)
        pd_pool_free(server->pool);
    if (server->auth != NULL)
        pd_http_auth_free(server->auth);
    if (server->metrics != NULL)
        pd_http_metrics_free(server->metrics);
    pthread_mutex_destroy(&server->catalog_lock);
    pd_arena_free(server->arena);
    free(server);
}

bool
pd_http_server_start(const PdServeSettings *settings, PdHttpServer **out, PdError *err)
{
    PdHttpServer *server = calloc(1, sizeof(*server));
    if (server == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    server->settings = settings;
    server->listen_fd = -1;
    pthread_mutex_init(&server->catalog_lock, NULL);
    server->arena = pd_arena_new(0);
    server->metrics = pd_http_metrics_new();
    if (server->arena == NULL || server->metrics == NULL)
    {
        server_free(server);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    }
    server->thread_count = thread_count(settings);
    bool is_started = parse_cors(server, err) && prepare_tls(server, err) &&
                      pd_http_cursor_key(settings->cursor_secret, server->cursor_key, err) &&
                      open_auth(server, err) && open_pool(server, err) &&
                      pd_http_catalog_load(server, &server->catalog, err);
    if (is_started)
    {
        warm_pool(server, pool_size(server));
        is_started = bind_socket(server, err) && start_loops(server, err);
    }
    if (is_started && pthread_create(&server->accept_thread, NULL, accept_loop, server) != 0)
        is_started = pd_error_set(err, PD_ERR_INTERNAL, "could not start the accept thread");
    server->has_accept_thread = is_started;
    if (is_started && !pd_http_listener_start(server, err))
        is_started = false;
    if (!is_started)
    {
        pd_http_server_stop(server, 0);
        return false;
    }
    pd_logf(PD_LOG_INFO,
            "serving %zu models on %s://%s:%d/api/ with %d event loops and %d database connections",
            server->catalog->catalog->model_count, server->is_tls ? "https" : "http",
            settings->listen_address, server->port, server->thread_count, pool_size(server));
    *out = server;
    return true;
}

int
pd_http_server_port(const PdHttpServer *server)
{
    return server->port;
}

int
pd_http_server_stop(PdHttpServer *server, int timeout_ms)
{
    atomic_store(&server->is_draining, true);
    atomic_store(&server->is_stopping, true);
    if (server->listen_fd >= 0)
        shutdown(server->listen_fd, SHUT_RDWR); /* wakes the blocked accept */
    if (server->has_accept_thread)
        pthread_join(server->accept_thread, NULL);
    pd_http_listener_stop(server);
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int waited_ms = 0; atomic_load(&server->in_flight) > 0 && waited_ms < timeout_ms; waited_ms += 10)
        nanosleep(&step, NULL);
    /* The loops end first: a keep-alive connection may have begun a request after the count was read, and
     * once the loops are halted none can. */
    pd_http_loops_halt(server);
    int left = atomic_load(&server->in_flight);
    if (left > 0)
    {
        /* Requests still suspended at the database: libmicrohttpd refuses to stop a daemon holding one, and
         * the process is ending, so the server is left as it is and its connections close with it. */
        pd_logf(PD_LOG_WARNING, "%d requests still under way after %d ms: they are cut", left, timeout_ms);
        return left;
    }
    server_free(server);
    return 0;
}
