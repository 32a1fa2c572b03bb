/*
 * connect.c - a connection attempt with a bound the caller chooses, for the
 * pool: libpq's non-blocking connect (PQconnectStartParams, PQconnectPoll)
 * driven against a deadline, by poll() or, for a coroutine on an event loop,
 * through its wait function (only that coroutine waits, its thread serves
 * others), so a host that never answers costs at most connect_timeout_ms for
 * each host the conninfo names, never the kernel's TCP timeout. libpq keeps its part: the multi-host list,
 * tried in order, and target_session_attrs (read-write finds the primary). This file adds application_name, a
 * per-host connect_timeout for libpq (whole seconds, its own minimum 2) and the statement timeout as a
 * startup option, so a new connection costs no extra round trip. A password in the conninfo never reaches an
 * error message.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/connection.h"

static int64_t
monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Hosts in a comma list ("a,b,c" is 3); an unset or empty list is one (the default host). */
static int
count_list(const char *list)
{
    int count = 1;
    for (const char *c = list; c != NULL && *c != '\0'; c++)
        count += *c == ',';
    return count;
}

/* The conninfo's own options with ours added: keywords/values arrays and the storage they point into. */
typedef struct ConnectParams
{
    const char *keywords[64];
    const char *values[64];
    size_t count;
    int host_count;
    char timeout_text[16];
    char options_text[512];
} ConnectParams;

static void
add_param(ConnectParams *params, const char *keyword, const char *value)
{
    if (params->count + 1 < sizeof(params->keywords) / sizeof(params->keywords[0]))
    {
        params->keywords[params->count] = keyword;
        params->values[params->count++] = value;
    }
    params->keywords[params->count] = NULL;
    params->values[params->count] = NULL;
}

/* Our settings: application_name, connect_timeout unless the conninfo has one, the statement timeout. */
static void
add_ours(const PdDbConnectOptions *options, const char *their_options, bool has_timeout,
         ConnectParams *params)
{
    if (options->application_name != NULL)
        add_param(params, "application_name", options->application_name);
    add_param(params, "fallback_application_name", "prodata");
    if (!has_timeout)
    {
        int seconds = (options->connect_timeout_ms + 999) / 1000;
        snprintf(params->timeout_text, sizeof(params->timeout_text), "%d", seconds < 2 ? 2 : seconds);
        add_param(params, "connect_timeout", params->timeout_text);
    }
    if (options->statement_timeout_ms > 0)
    {
        snprintf(params->options_text, sizeof(params->options_text), "%s%s-c statement_timeout=%d",
                 their_options != NULL ? their_options : "", their_options != NULL ? " " : "",
                 options->statement_timeout_ms);
        add_param(params, "options", params->options_text);
    }
    else if (their_options != NULL)
        add_param(params, "options", their_options);
}

static bool
build_params(const PdDbConnectOptions *options, PQconninfoOption **parsed, ConnectParams *params,
             PdError *err)
{
    char *message = NULL;
    *parsed = PQconninfoParse(options->conninfo != NULL ? options->conninfo : "", &message);
    if (*parsed == NULL)
    {
        PQfreemem(message); /* it quotes the text, which may hold a password: the check names keywords only */
        return pd_db_conninfo_check(options->conninfo != NULL ? options->conninfo : "", err) &&
               pd_error_set(err, PD_ERR_INVALID_INPUT, "not a valid connection string");
    }
    const char *their_options = NULL;
    bool has_timeout = false;
    params->host_count = 1;
    for (PQconninfoOption *option = *parsed; option->keyword != NULL; option++)
    {
        if (option->val == NULL)
            continue;
        if (strcmp(option->keyword, "host") == 0 || strcmp(option->keyword, "hostaddr") == 0)
            params->host_count =
                count_list(option->val) > params->host_count ? count_list(option->val) : params->host_count;
        if (strcmp(option->keyword, "options") == 0)
            their_options = option->val;
        else if (strcmp(option->keyword, "application_name") == 0 && options->application_name != NULL)
            continue;
        else
        {
            has_timeout |= strcmp(option->keyword, "connect_timeout") == 0;
            add_param(params, option->keyword, option->val);
        }
    }
    add_ours(options, their_options, has_timeout, params);
    return true;
}

/* Whether the socket is ready for what PQconnectPoll asked, at once: a wait function may return early, and
 * libpq must not be polled for a connect still under way (it would take it as made). */
static bool
is_ready(int socket, short events)
{
    struct pollfd check = {socket, events, 0};
    return poll(&check, 1, 0) > 0;
}

/* Waits up to remaining_ms for the socket, with poll() or through wait: 1 when it is ready, 0 when not (yet),
 * -1 when poll() failed. */
static int
wait_socket(PGconn *connection, PostgresPollingStatusType state, int remaining_ms, PdDbWaitFn wait,
            void *context)
{
    int socket = PQsocket(connection);
    bool is_read = state == PGRES_POLLING_READING;
    if (wait != NULL)
        return wait(context, socket, is_read ? PD_DB_WAIT_READ : PD_DB_WAIT_WRITE, remaining_ms) &&
               is_ready(socket, is_read ? POLLIN : POLLOUT);
    struct pollfd ready = {socket, is_read ? POLLIN : POLLOUT, 0};
    int count = poll(&ready, 1, remaining_ms);
    return count > 0 ? 1 : count == 0 || errno == EINTR ? 0 : -1;
}

/* Drives PQconnectPoll until connected, failed, or the deadline passed (false, *is_timeout true). libpq
 * moves on to the next host of the list, and checks target_session_attrs, inside PQconnectPoll. */
static bool
poll_connect(PGconn *connection, int64_t deadline_ms, PdDbWaitFn wait, void *context, bool *is_timeout)
{
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    *is_timeout = false;
    while (state != PGRES_POLLING_OK)
    {
        if (state == PGRES_POLLING_FAILED)
            return false;
        int64_t remaining = deadline_ms - monotonic_ms();
        if (remaining <= 0)
            return !(*is_timeout = true);
        int ready = wait_socket(connection, state, (int)remaining, wait, context);
        if (ready < 0)
            return false;
        if (ready > 0)
            state = PQconnectPoll(connection);
    }
    return true;
}

static bool
connect_failed(PGconn *connection, bool is_timeout, int timeout_ms, PdError *err)
{
    char message[512];
    snprintf(message, sizeof(message), "%s",
             connection != NULL ? PQerrorMessage(connection) : "out of memory");
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' '))
        message[--length] = '\0';
    PQfinish(connection);
    if (is_timeout)
        pd_error_set(err, PD_ERR_DB_CONNECT, "could not connect to PostgreSQL within %d ms", timeout_ms);
    else
        pd_error_set(err, PD_ERR_DB_CONNECT, "could not connect to PostgreSQL");
    err->is_retryable = true;
    if (length > 0)
        pd_error_detail(err, "%s", message);
    return false;
}

bool
pd_db_connect_bounded(const PdDbConnectOptions *options, PdDbWaitFn wait, void *context, PdDb **db,
                      PdError *err)
{
    PQconninfoOption *parsed = NULL;
    ConnectParams params = {0};
    if (!build_params(options, &parsed, &params, err))
        return false;
    int timeout_ms = options->connect_timeout_ms > 0 ? options->connect_timeout_ms : 2000;
    int64_t deadline_ms = monotonic_ms() + (int64_t)timeout_ms * params.host_count;
    PGconn *connection = PQconnectStartParams(params.keywords, params.values, 0);
    PQconninfoFree(parsed);
    bool is_timeout = false;
    if (connection == NULL || PQstatus(connection) == CONNECTION_BAD ||
        !poll_connect(connection, deadline_ms, wait, context, &is_timeout))
        return connect_failed(connection, is_timeout, timeout_ms * params.host_count, err);
    if (!pd_db_wrap(connection, db, err))
        return false;
    pd_db_set_wait(*db, wait, context);
    if (options->prepared_cache_size > 0)
        (*db)->statements.capacity = (size_t)options->prepared_cache_size;
    return true;
}
