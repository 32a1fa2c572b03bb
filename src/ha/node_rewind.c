/*
 * node_rewind.c - a failed old primary turned into a standby of the new one
 * with pg_rewind, without a full copy. A dry run first: when rewind cannot
 * work (another system, no common history, the new primary unreachable)
 * nothing has been touched and the answer says why. The real run is
 * bracketed by a marker file in state_dir, written and fsynced before
 * pg_rewind starts and removed only once the node is configured as a
 * standby: pg_rewind interrupted half-way leaves a data directory that may
 * hold blocks of two timelines, which must never start, so while the marker
 * exists start and rewind refuse and only a clone (which replaces the whole
 * data directory) clears it. The standby's settings are written before the
 * run too (without standby.signal, which pg_rewind's single-user recovery of
 * a crashed target refuses), so --restore-target-wal finds restore_command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ha/node_run.h"

static bool
run_rewind(PdNode *node, const char *host, int port, bool is_dry, int timeout_ms, PdNodeRunResult *result,
           PdError *err)
{
    char source[PD_NODE_PATH_MAX];
    snprintf(source, sizeof source,
             "--source-server=host=%s port=%d user=%s dbname=postgres connect_timeout=5 application_name=%s",
             host, port, node->config.replication_user, node->member);
    const char *argv[8] = {"pg_rewind", "-D", node->config.data_dir, source};
    int argc = 4;
    if (node->config.archive_dir != NULL)
        argv[argc++] = "--restore-target-wal";
    if (is_dry)
        argv[argc++] = "--dry-run";
    argv[argc] = NULL;
    return pd_node_exec(node, argv, timeout_ms, result, err);
}

/* Why the dry run failed: the new primary out of reach (retry), or rewind impossible (clone). */
static bool
dry_run_error(PdNode *node, int timeout_ms, const PdNodeRunResult *result, PdError *err)
{
    pd_node_exec_error("pg_rewind --dry-run", timeout_ms, result, err);
    if (result->is_timed_out)
        return false;
    if (strstr(result->output, "connection to server") != NULL ||
        strstr(result->output, "could not connect") != NULL)
    {
        err->code = PD_ERR_DB_CONNECT;
        err->is_retryable = true;
        return pd_error_hint(err, "The new primary could not be reached; try again.");
    }
    err->code = PD_ERR_REFUSED;
    snprintf(err->message, sizeof err->message, "%s cannot be rewound; nothing was changed", node->member);
    return pd_error_hint(err, "Clone the node again from the new primary (pd_node_clone).");
}

/* Whether pg_controldata says the cluster was shut down cleanly (a crashed primary's was not). */
static bool
is_shut_down(PdNode *node, bool *is_clean, int timeout_ms, PdError *err)
{
    const char *argv[] = {"pg_controldata", "-D", node->config.data_dir, NULL};
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    if (result.exit_code != 0)
        return pd_node_exec_error("pg_controldata", timeout_ms, &result, err);
    *is_clean = strstr(result.output, "Database cluster state:               shut down") != NULL;
    return true;
}

/*
 * A crashed primary recovers in single-user mode first, as pg_rewind itself
 * would (it skips that in a dry run, which then refuses the unclean target).
 */
static bool
finish_crash_recovery(PdNode *node, int timeout_ms, PdError *err)
{
    bool is_clean = false;
    if (!pd_node_clear_stale_pid(node, err) || !is_shut_down(node, &is_clean, timeout_ms, err))
        return false;
    if (is_clean)
        return true;
    const char *argv[] = {"postgres", "--single", "-F", "-D", node->config.data_dir, "template1", NULL};
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    return result.exit_code == 0 ||
           pd_node_exec_error("crash recovery (postgres --single)", timeout_ms, &result, err);
}

/*
 * A primary promoted moments ago still has its old timeline in its control
 * file until its first checkpoint, and pg_rewind reads it from there and
 * would answer "no rewind required": ask the new primary for a checkpoint
 * first (the replication role is in pg_checkpoint).
 */
static bool
checkpoint_source(PdNode *node, const char *host, int port, PdError *err)
{
    char conninfo[PD_NODE_PATH_MAX * 2];
    snprintf(conninfo, sizeof conninfo,
             "host=%s port=%d user=%s passfile=%s dbname=postgres connect_timeout=2 application_name=%s "
             "options='-c statement_timeout=30000'",
             host, port, node->config.replication_user, node->passfile, node->member);
    PdDb *db = NULL;
    bool ok = pd_db_connect(conninfo, &db, err) && pd_db_exec(db, "CHECKPOINT", err);
    pd_db_close(db);
    if (!ok && err != NULL && err->code == PD_ERR_DB_CONNECT)
    {
        err->is_retryable = true;
        pd_error_hint(err, "The new primary could not be reached; try again. Nothing was changed.");
    }
    return ok || pd_error_context(err, "while asking the new primary %s:%d for a checkpoint", host, port);
}

static bool
write_marker(PdNode *node, PdError *err)
{
    return pd_node_write_file(node, node->rewind_marker, "pg_rewind running or interrupted\n", err);
}

static bool
remove_marker(PdNode *node, PdError *err)
{
    if (unlink(node->rewind_marker) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot remove %s: %s", node->rewind_marker, strerror(errno));
    int fd = open(node->config.state_dir, O_RDONLY | O_DIRECTORY);
    bool is_synced = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return is_synced || pd_error_set(err, PD_ERR_IO, "cannot sync %s", node->config.state_dir);
}

static bool
check_rewindable(PdNode *node, const char *host, int port, PdError *err)
{
    if (access(node->rewind_marker, F_OK) == 0)
    {
        pd_error_set(err, PD_ERR_REFUSED, "a rewind of %s was interrupted; it cannot be resumed",
                     node->member);
        return pd_error_hint(err, "Clone the node again from the new primary (pd_node_clone).");
    }
    int pid;
    PdNodeRun run = pd_node_run_state(node, &pid);
    if (run != PD_NODE_STOPPED && run != PD_NODE_CRASHED)
        return pd_error_set(err, PD_ERR_REFUSED, "not rewinding %s: its server runs (pid %d); stop it first",
                            node->member, pid);
    return pd_node_check_host(host, port, err);
}

bool
pd_node_rewind(PdNode *node, const char *host, int port, int timeout_ms, PdError *err)
{
    long long deadline = pd_node_now_ms() + timeout_ms;
    if (!check_rewindable(node, host, port, err) ||
        !pd_node_configure_at(node, node->config.data_dir, host, port, NULL, false, err) ||
        !finish_crash_recovery(node, timeout_ms, err) || !checkpoint_source(node, host, port, err))
        return pd_error_context(err, "while rewinding %s", node->member);
    PdNodeRunResult result;
    if (!run_rewind(node, host, port, true, timeout_ms, &result, err))
        return false;
    if (result.exit_code != 0)
        return dry_run_error(node, timeout_ms, &result, err) ||
               pd_error_context(err, "while rewinding %s", node->member);
    long long left = deadline - pd_node_now_ms();
    if (!write_marker(node, err) ||
        !run_rewind(node, host, port, false, left > 1000 ? (int)left : 1000, &result, err))
        return pd_error_context(err, "while rewinding %s", node->member);
    if (result.exit_code != 0)
    {
        pd_node_exec_error("pg_rewind", timeout_ms, &result, err);
        pd_error_hint(err, "The data directory may be damaged: clone the node again (pd_node_clone).");
        return pd_error_context(err, "while rewinding %s", node->member);
    }
    bool ok = pd_node_configure_at(node, node->config.data_dir, host, port, NULL, true, err) &&
              remove_marker(node, err);
    return ok || pd_error_context(err, "while rewinding %s", node->member);
}
