/*
 * restore_start.c - `prodata restore --start`: PostgreSQL started on the
 * restored directory, and the restore waits until recovery has done what the
 * target asked (promoted, paused at the target, or shut down there), then
 * says where it stopped, in PostgreSQL's own words: its "recovery stopping
 * before commit of transaction 1234, time ..." and "last completed
 * transaction was at log time ..." lines. The server log (pg_ctl -l) is
 * read as it grows, which works before any connection is possible and
 * whatever the copy's authentication rules; logging_collector is turned off
 * for that start so the lines reach that file. A FATAL line (a target past
 * the archived WAL, given with --no-target-check: "recovery ended before
 * configured recovery target was reached") fails the command with that line.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "prodata/strbuf.h"
#include "store.h"

/* The text after "LOG:  " (or the whole line), arena-allocated; NULL when out of memory. */
static const char *
message_of(PdArena *arena, const char *line, size_t length)
{
    const char *log = memmem(line, length, "LOG:  ", 6);
    if (log != NULL)
        length -= (size_t)(log + 6 - line), line = log + 6;
    return pd_arena_strndup(arena, line, length);
}

typedef struct Watch
{
    PdRestoreReached *reached;
    const char *done_line; /* the line that ends the wait for this target action */
    const char *fatal;     /* a FATAL or PANIC line seen */
    bool is_done;
} Watch;

static void
judge_line(PdArena *arena, Watch *watch, const char *line, size_t length)
{
    if (memmem(line, length, "recovery stopping ", 18) != NULL)
        watch->reached->stopped_at = message_of(arena, line, length);
    else if (memmem(line, length, "last completed transaction was at log time", 43) != NULL)
        watch->reached->last_transaction = message_of(arena, line, length);
    else if (memmem(line, length, "FATAL:  ", 8) != NULL || memmem(line, length, "PANIC:  ", 8) != NULL)
        watch->fatal = pd_arena_strndup(arena, line, length);
    if (memmem(line, length, watch->done_line, strlen(watch->done_line)) != NULL)
        watch->is_done = true;
}

/* Reads what the log gained since *offset, line by line (a line not ended yet waits for the next round). */
static void
read_new_lines(PdArena *arena, const char *log, long *offset, Watch *watch)
{
    FILE *in = fopen(log, "r");
    if (in == NULL || fseek(in, *offset, SEEK_SET) != 0)
    {
        if (in != NULL)
            fclose(in);
        return;
    }
    char line[4096];
    while (fgets(line, sizeof(line), in) != NULL)
    {
        size_t length = strlen(line);
        if (length == 0 || line[length - 1] != '\n')
            break; /* written halfway: read again next round */
        *offset += (long)length;
        judge_line(arena, watch, line, length - 1);
    }
    fclose(in);
}

/* Whether the server whose postmaster.pid is in data_dir still runs. */
static bool
is_running(PdArena *arena, const char *data_dir)
{
    char *path = pd_archive_join(arena, data_dir, "postmaster.pid");
    FILE *in = path != NULL ? fopen(path, "r") : NULL;
    long pid = 0;
    if (in == NULL)
        return false;
    bool is_read = fscanf(in, "%ld", &pid) == 1;
    fclose(in);
    return is_read && pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static const char *
done_line_for(const char *action, bool has_target)
{
    if (has_target && strcmp(action, "pause") == 0)
        return "pausing at the end of recovery"; /* PostgreSQL 15's line at a target with action pause */
    if (has_target && strcmp(action, "shutdown") == 0)
        return "database system is shut down";
    return "database system is ready to accept connections";
}

/* Polls the log every 100 ms until the done line, a FATAL line, the server gone, or the deadline. */
static bool
watch_log(PdArena *arena, const char *data_dir, const char *log, int wait_seconds, Watch *watch, PdError *err)
{
    long offset = 0;
    bool is_shutdown = strcmp(watch->done_line, "database system is shut down") == 0;
    for (long waited_ms = 0; waited_ms <= wait_seconds * 1000L; waited_ms += 100)
    {
        read_new_lines(arena, log, &offset, watch);
        if (watch->is_done)
            return true;
        if (watch->fatal != NULL || (waited_ms > 2000 && !is_shutdown && !is_running(arena, data_dir)))
        {
            pd_error_set(err, PD_ERR_REFUSED, "PostgreSQL stopped before reaching the target: %s",
                         watch->fatal != NULL ? watch->fatal : "(no FATAL line in its log)");
            return pd_error_hint(err, "Its log: %s. A target past the archived WAL is reached by no restore.",
                                 log);
        }
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    pd_error_set(err, PD_ERR_REFUSED,
                 "recovery did not reach its target within %d s; PostgreSQL still runs on %s", wait_seconds,
                 data_dir);
    return pd_error_hint(err, "Follow its log: %s (--wait S waits longer).", log);
}

bool
pd_restore_start(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *chosen,
                 const PdRestoreStartOptions *start, PdRestoreReached *reached, PdError *err)
{
    *reached = (PdRestoreReached){0};
    const char *pg_bin = start->pg_bin != NULL ? start->pg_bin
                                               : pd_arena_sprintf(arena, "/usr/lib/postgresql/%d/bin",
                                                                  chosen->pg_version / 10000);
    reached->log = pd_archive_join(arena, options->data_dir, PD_RESTORE_LOG_NAME);
    if (pg_bin == NULL || reached->log == NULL)
        return pd_arena_error(arena, err);
    const char *args[] = {"start",
                          "-D",
                          options->data_dir,
                          "-l",
                          reached->log,
                          "-W",
                          "-o",
                          "-c logging_collector=off -c log_min_messages=warning -c lc_messages=C",
                          NULL};
    if (access(pg_bin, F_OK) != 0)
        return pd_archive_io_error(err, "find PostgreSQL's programs in", pg_bin);
    if (unlink(reached->log) != 0 && errno != ENOENT) /* a log from before is never read as this one's */
        return pd_archive_io_error(err, "remove", reached->log);
    bool has_target = pd_restore_target_setting(options->target_kind) != NULL;
    Watch watch = {.reached = reached, .done_line = done_line_for(options->target_action, has_target)};
    if (!pd_archive_pg_ctl(arena, pg_bin, args, reached->log, err) ||
        !watch_log(arena, options->data_dir, reached->log, start->wait_seconds, &watch, err))
        return false;
    reached->state = strstr(watch.done_line, "pausing") != NULL     ? "paused at the target"
                     : strstr(watch.done_line, "shut down") != NULL ? "shut down at the target"
                                                                    : "promoted, accepting connections";
    char *wal_dir = pd_archive_join(arena, options->data_dir, "pg_wal");
    if (strstr(watch.done_line, "pausing") == NULL && wal_dir != NULL) /* recovery is over */
        pd_archive_prefetch_remove(arena, wal_dir);
    return true;
}
