/*
 * notify.c - LISTEN and waiting for NOTIFY on one connection (the server's
 * catalog reload after a migration). The wait is bounded: poll() on the
 * connection's socket against a deadline, then libpq reads what arrived; a
 * notification already read by an earlier statement is returned at once.
 * What comes back is copied into the caller's arena, libpq's copy freed at
 * once. A connection that listened is marked so that a pool unlistens it
 * before handing it to someone else.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/connection.h"

bool
pd_db_listen(PdDb *db, const char *channel, PdError *err)
{
    if (channel == NULL || channel[0] == '\0' || strlen(channel) > 63)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a channel name has 1 to 63 bytes");
    char *quoted = PQescapeIdentifier(db->connection, channel, strlen(channel));
    if (quoted == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "invalid channel name");
    char sql[160];
    snprintf(sql, sizeof(sql), "LISTEN %s", quoted);
    PQfreemem(quoted);
    if (!pd_db_exec(db, sql, err))
        return false;
    db->is_listening = true;
    return true;
}

static int64_t
monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Copies a notification into the arena and frees libpq's. */
static bool
take_notification(PdArena *arena, PGnotify *notify, char **channel, char **payload, PdError *err)
{
    char *channel_copy = pd_arena_strdup(arena, notify->relname);
    char *payload_copy = pd_arena_strdup(arena, notify->extra != NULL ? notify->extra : "");
    PQfreemem(notify);
    if (channel_copy == NULL || payload_copy == NULL)
        return pd_arena_error(arena, err);
    if (channel != NULL)
        *channel = channel_copy;
    if (payload != NULL)
        *payload = payload_copy;
    return true;
}

bool
pd_db_wait_notification(PdArena *arena, PdDb *db, int timeout_ms, bool *received, char **channel,
                        char **payload, PdError *err)
{
    int64_t deadline_ms = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    *received = false;
    for (;;)
    {
        if (PQconsumeInput(db->connection) != 1)
            return pd_db_set_query_error(db, NULL, err);
        PGnotify *notify = PQnotifies(db->connection);
        if (notify != NULL)
        {
            *received = true;
            return take_notification(arena, notify, channel, payload, err);
        }
        int64_t remaining = deadline_ms - monotonic_ms();
        if (remaining <= 0)
            return true;
        struct pollfd wait = {PQsocket(db->connection), POLLIN, 0};
        if (poll(&wait, 1, (int)remaining) < 0 && errno != EINTR)
            return pd_error_set(err, PD_ERR_IO, "waiting for a notification failed: %s", strerror(errno));
    }
}
