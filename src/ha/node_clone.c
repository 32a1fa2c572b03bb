/*
 * node_clone.c - a standby made from the primary with pg_basebackup. The
 * copy goes to a sibling directory (data_dir.clone), is configured there as a
 * standby (standby.signal, primary_conninfo, its slot, restore_command), and
 * only then takes data_dir's place by two renames (data_dir to
 * data_dir.old, the clone to data_dir; the parent fsynced). An interrupted
 * clone thus leaves the old data directory or the new, configured one, never
 * a copy that would start as a second primary; leftovers (.clone, .old) are
 * removed by the next clone. A clone also clears an interrupted rewind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ha/node_run.h"

static bool
run_basebackup(PdNode *node, const char *dir, const char *host, int port, int timeout_ms, PdError *err)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *argv[] = {"pg_basebackup",
                          "-D",
                          dir,
                          "-h",
                          host,
                          "-p",
                          port_text,
                          "-U",
                          node->config.replication_user,
                          "-w",
                          "-X",
                          "stream",
                          "-c",
                          "fast",
                          "--no-sync",
                          NULL};
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    return result.exit_code == 0 || pd_node_exec_error("pg_basebackup", timeout_ms, &result, err);
}

/*
 * The repository's newest backup restored into dir by `prodata restore --as-standby`, run as the server's
 * account: refused (err says why) when there is none that ended within clone_backup_max_age_s, or another
 * cluster's, or the restore fails. The copy then replays the archived WAL and streams from the primary, which
 * sends only what the archive does not hold yet.
 */
static bool
restore_backup(PdNode *node, const char *dir, int timeout_ms, PdError *err)
{
    char age[24];
    snprintf(age, sizeof age, "%d", node->config.clone_backup_max_age_s);
    const char *argv[16] = {node->config.restore_program,
                            "restore",
                            "--archive-dir",
                            node->config.archive_dir,
                            "--pgdata",
                            dir,
                            "--as-standby",
                            "--max-age",
                            age};
    int argc = 9;
    if (node->config.archive_key_file != NULL)
    {
        argv[argc++] = "--archive-key-file";
        argv[argc++] = node->config.archive_key_file;
    }
    argv[argc] = NULL;
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    return result.exit_code == 0 || pd_node_exec_error("prodata restore", timeout_ms, &result, err);
}

/* Whether a clone tries the repository first: archiving on, prodata's path known, a backup age allowed. */
static bool
uses_repository(const PdNode *node)
{
    return node->config.archive_dir != NULL && node->config.restore_program != NULL &&
           node->config.clone_backup_max_age_s > 0;
}

static bool
sync_dir(const char *dir, PdError *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0)
    {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return pd_error_set(err, PD_ERR_IO, "cannot sync %s: %s", dir, strerror(saved));
    }
    close(fd);
    return true;
}

/* data_dir -> data_dir.old, clone -> data_dir, data_dir.old removed. */
static bool
swap_in(PdNode *node, const char *clone, const char *old, PdError *err)
{
    const char *data = node->config.data_dir;
    if (access(data, F_OK) == 0 && rename(data, old) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot move %s to %s: %s", data, old, strerror(errno));
    if (rename(clone, data) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot move %s to %s: %s", clone, data, strerror(errno));
    char parent[PD_NODE_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", data);
    char *slash = strrchr(parent, '/');
    *(slash == parent ? slash + 1 : slash) = '\0';
    return sync_dir(parent, err) && pd_node_remove_tree(old, err);
}

static bool
clear_rewind_marker(PdNode *node, PdError *err)
{
    if (unlink(node->rewind_marker) != 0 && errno != ENOENT)
        return pd_error_set(err, PD_ERR_IO, "cannot remove %s: %s", node->rewind_marker, strerror(errno));
    return sync_dir(node->config.state_dir, err);
}

/*
 * The copy into clone: from the repository when it can (node->cloned_from says which), else, or when that
 * fails (logged), pg_basebackup from the primary into a clone emptied again.
 */
static bool
copy_primary(PdNode *node, const char *clone, const char *host, int port, int timeout_ms, PdError *err)
{
    PdError why;
    pd_error_init(&why);
    snprintf(node->cloned_from, sizeof node->cloned_from, "pg_basebackup");
    long long started = pd_node_now_ms();
    if (uses_repository(node))
    {
        if (restore_backup(node, clone, timeout_ms / 2,
                           &why)) /* half: pg_basebackup may still need the rest */
        {
            snprintf(node->cloned_from, sizeof node->cloned_from, "the repository's newest backup");
            return true;
        }
        const char *why_not = strstr(why.detail, "prodata: error: "); /* restore's own words, not its hint */
        why_not = why_not != NULL ? why_not + 16 : why.detail[0] != '\0' ? why.detail : why.message;
        snprintf(node->cloned_from, sizeof node->cloned_from, "pg_basebackup (not the repository: %.*s)",
                 (int)(strcspn(why_not, "\n") < 500 ? strcspn(why_not, "\n") : 500), why_not);
        if (!pd_node_remove_tree(clone, err) || !pd_node_make_dir(node, clone, err))
            return false;
    }
    long long left = timeout_ms - (pd_node_now_ms() - started); /* the clone's bound covers both tries */
    return run_basebackup(node, clone, host, port, left > 1000 ? (int)left : 1000, err);
}

const char *
pd_node_cloned_from(const PdNode *node)
{
    return node->cloned_from;
}

bool
pd_node_clone(PdNode *node, const char *host, int port, int timeout_ms, PdError *err)
{
    int pid;
    PdNodeRun run = pd_node_run_state(node, &pid);
    if (run != PD_NODE_STOPPED && run != PD_NODE_CRASHED)
        return pd_error_set(err, PD_ERR_REFUSED, "not cloning %s: its server runs (pid %d); stop it first",
                            node->member, pid);
    if (!pd_node_check_host(host, port, err))
        return pd_error_context(err, "while cloning %s", node->member);
    char clone[PD_NODE_PATH_MAX + 16], old[PD_NODE_PATH_MAX + 16];
    snprintf(clone, sizeof clone, "%s.clone", node->config.data_dir);
    snprintf(old, sizeof old, "%s.old", node->config.data_dir);
    bool ok = pd_node_remove_tree(clone, err) && pd_node_remove_tree(old, err) &&
              pd_node_make_dir(node, node->config.state_dir, err) && pd_node_write_passfile(node, err) &&
              pd_node_make_dir(node, clone, err) && copy_primary(node, clone, host, port, timeout_ms, err) &&
              pd_node_configure_at(node, clone, host, port, NULL, true, err) && sync_dir(clone, err) &&
              swap_in(node, clone, old, err) && clear_rewind_marker(node, err);
    return ok || pd_error_context(err, "while cloning %s from %s:%d", node->member, host, port);
}
