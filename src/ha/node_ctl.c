/*
 * node_ctl.c - the postmaster's life through pg_ctl: start, stop (fast, then
 * immediate; a switchover's clean stop by SIGINT alone), reload, restart,
 * promote (pg_promote(), its end looked for every 10 ms), each within the
 * caller's bound, and
 * the postmaster's state read without a connection: postmaster.pid names the
 * pid and, on its eighth line, what the postmaster is doing (starting, ready,
 * standby, stopping); a pid file whose process is gone, or is no postgres
 * working in this data directory (a pid reused by another server on the
 * host), was left by a crash. pg_ctl's own -t is set to the bound, and the run is
 * ended a second after it in case pg_ctl itself hangs.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ha/fence.h"
#include "ha/node_run.h"

/* pid runs postgres, and not in another data directory than this node's: the postmaster chdir()s to its
 * own, so a pid reused by another cluster's postmaster on the host is not ours (a working directory we may
 * not read proves nothing either way: then the command alone decides). */
static bool
is_postgres_process(const PdNode *node, int pid)
{
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    return pd_fence_postgres_of(pid, node->config.data_dir) != 0;
}

PdNodeRun
pd_node_run_state(PdNode *node, int *pid)
{
    char path[PD_NODE_PATH_MAX + 32], lines[8][256] = {{0}};
    snprintf(path, sizeof path, "%s/postmaster.pid", node->config.data_dir);
    *pid = 0;
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return PD_NODE_STOPPED;
    int count = 0;
    while (count < 8 && fgets(lines[count], sizeof lines[count], file) != NULL)
        count++;
    fclose(file);
    int found = atoi(lines[0]);
    if (found <= 0)
        return PD_NODE_STARTING; /* being written: the postmaster has only just begun */
    if (!is_postgres_process(node, found))
        return PD_NODE_CRASHED;
    *pid = found;
    if (strncmp(lines[7], "ready", 5) == 0 || strncmp(lines[7], "standby", 7) == 0)
        return PD_NODE_READY;
    return strncmp(lines[7], "stopping", 8) == 0 ? PD_NODE_STOPPING : PD_NODE_STARTING;
}

/* Removes path when the pid on its first line is no live postgres. */
static bool
remove_stale_lock(const PdNode *node, const char *path, PdError *err)
{
    char line[32] = "";
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return true;
    bool is_read = fgets(line, sizeof line, file) != NULL;
    fclose(file);
    if (is_read && is_postgres_process(node, atoi(line)))
        return true;
    if (unlink(path) != 0 && errno != ENOENT)
        return pd_error_set(err, PD_ERR_IO, "cannot remove the stale %s: %s", path, strerror(errno));
    return true;
}

bool
pd_node_clear_stale_pid(PdNode *node, PdError *err)
{
    int pid;
    if (pd_node_run_state(node, &pid) != PD_NODE_CRASHED)
        return true;
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postmaster.pid", node->config.data_dir);
    if (!remove_stale_lock(node, path, err))
        return false;
    snprintf(path, sizeof path, "%s/.s.PGSQL.%d.lock", node->config.state_dir, node->config.port);
    return remove_stale_lock(node, path, err);
}

/* Runs pg_ctl ACTION [extra...] with -t set from timeout_ms; *result filled. */
static bool
run_pg_ctl(PdNode *node, const char *action, const char *mode, int timeout_ms, PdNodeRunResult *result,
           PdError *err)
{
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", timeout_ms > 1000 ? (timeout_ms + 999) / 1000 : 1);
    const char *argv[16] = {"pg_ctl", action, "-D", node->config.data_dir, "-w", "-t", seconds, "-s"};
    int argc = 8;
    if (strcmp(action, "start") == 0)
    {
        argv[argc++] = "-l";
        argv[argc++] = node->log_path;
    }
    if (mode != NULL)
    {
        argv[argc++] = "-m";
        argv[argc++] = mode;
    }
    argv[argc] = NULL;
    return pd_node_exec(node, argv, timeout_ms + 1000, result, err);
}

static bool
timed_out(const char *what, int timeout_ms, PdError *err)
{
    pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "%s did not finish within %d ms", what, timeout_ms);
    if (err != NULL)
        err->is_retryable = true;
    return false;
}

bool
pd_node_start(PdNode *node, int timeout_ms, PdError *err)
{
    if (access(node->rewind_marker, F_OK) == 0)
    {
        pd_error_set(err, PD_ERR_REFUSED, "not starting %s: a rewind was interrupted", node->member);
        pd_error_detail(err, "%s exists: the data directory may hold a mix of two timelines.",
                        node->rewind_marker);
        return pd_error_hint(err, "Clone the node again from the primary.");
    }
    int pid;
    if (pd_node_run_state(node, &pid) == PD_NODE_READY)
        return true;
    if (!pd_node_make_dir(node, node->config.state_dir, err) || !pd_node_clear_stale_pid(node, err))
        return false;
    PdNodeRunResult result;
    if (!run_pg_ctl(node, "start", NULL, timeout_ms, &result, err))
        return false;
    PdNodeRun run = pd_node_run_state(node, &pid);
    if (run == PD_NODE_READY)
        return true;
    if (run == PD_NODE_STARTING || result.is_timed_out)
    {
        timed_out("start", timeout_ms, err);
        return pd_error_detail(err,
                               "The postmaster (pid %d) runs but does not accept connections yet; "
                               "see %s.",
                               pid, node->log_path);
    }
    pd_node_exec_error("pg_ctl start", timeout_ms, &result, err);
    return pd_error_hint(err, "See the server log, %s.", node->log_path);
}

bool
pd_node_stop(PdNode *node, int timeout_ms, bool *was_immediate, PdError *err)
{
    if (was_immediate != NULL)
        *was_immediate = false;
    int pid;
    PdNodeRun run = pd_node_run_state(node, &pid);
    if (run == PD_NODE_STOPPED || run == PD_NODE_CRASHED)
        return true;
    long long deadline = pd_node_now_ms() + timeout_ms;
    PdNodeRunResult result;
    if (!run_pg_ctl(node, "stop", "fast", timeout_ms / 2, &result, err))
        return false;
    if (pd_node_run_state(node, &pid) == PD_NODE_STOPPED)
        return true;
    if (was_immediate != NULL)
        *was_immediate = true;
    int left = (int)(deadline - pd_node_now_ms());
    if (!run_pg_ctl(node, "stop", "immediate", left > 1000 ? left : 1000, &result, err))
        return false;
    PdNodeRun after = pd_node_run_state(node, &pid);
    if (after == PD_NODE_STOPPED || after == PD_NODE_CRASHED)
        return true;
    /* pg_ctl gave up at its -t ("server does not shut down") or was ended at ours: a timeout either way */
    timed_out("stop", timeout_ms, err);
    return pd_error_detail(err, "The postmaster (pid %d) did not stop on a fast nor an immediate shutdown.",
                           pid);
}

static void
pause_10_ms(void)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
    nanosleep(&pause, NULL);
}

bool
pd_node_stop_clean(PdNode *node, int timeout_ms, PdNodeControl *control, PdError *err)
{
    int pid;
    PdNodeRun run = pd_node_run_state(node, &pid);
    if (run == PD_NODE_CRASHED || (run != PD_NODE_STOPPED && pid <= 0))
        return pd_error_set(err, PD_ERR_REFUSED, "%s is not running: nothing to stop cleanly", node->member);
    /* SIGINT is PostgreSQL's fast shutdown (what pg_ctl -m fast sends); the pid is a postgres process of
       this data directory (pd_node_run_state checked it). Polled every 10 ms rather than pg_ctl's 100:
       the pid file gone, or the control file saying "shut down" (the shutdown checkpoint written, its
       walsenders and archiver still finishing) */
    if (run != PD_NODE_STOPPED && kill(pid, SIGINT) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot signal the postmaster %d: %s", pid, strerror(errno));
    long long deadline = pd_node_now_ms() + timeout_ms;
    while (run != PD_NODE_STOPPED && run != PD_NODE_CRASHED && !pd_node_control_says_shut_down(node))
    {
        if (pd_node_now_ms() >= deadline)
        {
            timed_out("a fast shutdown", timeout_ms, err);
            return pd_error_detail(err, "The postmaster (pid %d) is still shutting down; see %s.", pid,
                                   node->log_path);
        }
        pause_10_ms();
        run = pd_node_run_state(node, &pid);
    }
    if (!pd_node_control(node, 10000, control, err))
        return false;
    return control->is_shut_down ||
           pd_error_set(err, PD_ERR_INTERNAL, "pg_controldata does not say \"shut down\" after the stop");
}

bool
pd_node_reload(PdNode *node, int timeout_ms, PdError *err)
{
    PdNodeRunResult result;
    const char *argv[] = {"pg_ctl", "reload", "-D", node->config.data_dir, "-s", NULL};
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    return result.exit_code == 0 || pd_node_exec_error("pg_ctl reload", timeout_ms, &result, err);
}

bool
pd_node_restart(PdNode *node, int timeout_ms, PdError *err)
{
    long long deadline = pd_node_now_ms() + timeout_ms;
    if (!pd_node_stop(node, timeout_ms / 2, NULL, err))
        return pd_error_context(err, "while restarting %s", node->member);
    int left = (int)(deadline - pd_node_now_ms());
    return pd_node_start(node, left > 1000 ? left : 1000, err) ||
           pd_error_context(err, "while restarting %s", node->member);
}

/* The local server's answer to sql, one value, into value ("" on none). */
static bool
query_value(PdArena *arena, PdDb *db, const char *sql, const char **value, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, sql, 0, NULL, &result, err))
        return false;
    *value = pd_db_result_value(result, 0, 0);
    return true;
}

/* The segments wal-fetch read ahead for recovery that recovery did not ask for (docs/archive.md,
 * "Read-ahead"): a primary has no use for them. Best effort: a prefetcher that sees recovery over
 * empties the spool itself. */
static void
remove_read_ahead(const PdNode *node)
{
    char spool[PATH_MAX];
    PdError ignored;
    if (snprintf(spool, sizeof spool, "%s/pg_wal/prodata-prefetch", node->config.data_dir) <
            (int)sizeof spool &&
        access(spool, F_OK) == 0)
        pd_node_remove_tree(spool, &ignored);
}

bool
pd_node_promote(PdNode *node, int timeout_ms, PdError *err)
{
    /* pg_promote() without its wait, then the end of recovery looked for every 10 ms on the same
       connection (pg_ctl promote -w and pg_promote's wait look every 100 ms) */
    long long deadline = pd_node_now_ms() + timeout_ms;
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    PdDb *db = NULL;
    const char *value = "";
    bool is_ok =
        pd_node_connect(node, &db, err) && query_value(arena, db, "SELECT pg_promote(false)", &value, err);
    while (is_ok && (is_ok = query_value(arena, db, "SELECT pg_is_in_recovery()", &value, err)) &&
           strcmp(value, "f") != 0)
    {
        if (pd_node_now_ms() >= deadline)
        {
            is_ok = timed_out("promote", timeout_ms, err);
            break;
        }
        pause_10_ms();
    }
    pd_db_close(db);
    pd_arena_free(arena);
    if (is_ok)
        remove_read_ahead(node);
    return is_ok || pd_error_context(err, "while promoting %s", node->member);
}
