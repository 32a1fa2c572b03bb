/*
 * restore_delta.c - the directory a delta restore (--delta) writes into:
 * the cluster's own data directory, stopped, holding an older or damaged
 * state of the same cluster. It must be a data directory (PG_VERSION), of
 * the backup's system (global/pg_control's first field), and not in use
 * (postmaster.pid naming a live process). Before anything else pg_control
 * goes, so that a restore that fails midway never leaves a directory
 * PostgreSQL would start; then everything the backup does not hold is
 * removed (old WAL in pg_wal above all: PostgreSQL reads pg_wal before
 * restore_command). A tablespace whose link points where the restore
 * writes it is the cluster's own, swept the same way; its link stays. What
 * stays is compared with the backup as it is written (restore_write.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/strmap.h"
#include "restore_plan.h"
#include "store.h"

static bool
refuse(PdError *err, const char *hint, const char *fmt, const char *a, const char *b)
{
    pd_error_set(err, PD_ERR_REFUSED, fmt, a, b);
    return pd_error_hint(err, "%s", hint);
}

/* PostgreSQL is not running on data_dir: postmaster.pid absent, or naming a process that is gone. */
static bool
check_stopped(PdArena *arena, const char *data_dir, PdError *err)
{
    char *path = pd_archive_join(arena, data_dir, "postmaster.pid");
    if (path == NULL)
        return pd_arena_error(arena, err);
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return true;
    long pid = 0;
    int read = fscanf(in, "%ld", &pid);
    fclose(in);
    if (read != 1 || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return true;
    char text[24];
    snprintf(text, sizeof(text), "%ld", pid);
    return refuse(err, "Stop it first (pg_ctl stop -D DIR); nothing was changed.",
                  "PostgreSQL runs on %s (postmaster.pid names process %s)", data_dir, text);
}

/* data_dir is a data directory (PG_VERSION) of the backup's system (global/pg_control, when there). */
static bool
check_cluster(PdArena *arena, const char *data_dir, const PdBackupManifest *backup, PdError *err)
{
    char *version = pd_archive_join(arena, data_dir, "PG_VERSION");
    char *control = pd_archive_join(arena, data_dir, "global/pg_control");
    if (version == NULL || control == NULL)
        return pd_arena_error(arena, err);
    if (access(version, F_OK) != 0)
        return refuse(
            err,
            "Give the cluster's data directory, or restore without --delta into an empty one; "
            "nothing was changed.",
            "%s is not a PostgreSQL data directory (no PG_VERSION%s): --delta removes what the backup "
            "does not hold, so it only writes into one",
            data_dir, "");
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || pd_archive_io_error(err, "open", control); /* an earlier delta stopped */
    uint64_t system = 0;
    size_t got = 0;
    bool ok = pd_archive_read_full(fd, &system, sizeof(system), &got, control, err);
    close(fd);
    if (!ok)
        return false;
    if (got == sizeof(system) && system == backup->system_identifier)
        return true;
    char found[24], wanted[24];
    snprintf(found, sizeof(found), "%llu", (unsigned long long)system);
    snprintf(wanted, sizeof(wanted), "%llu", (unsigned long long)backup->system_identifier);
    pd_error_set(
        err, PD_ERR_REFUSED,
        "%s holds database system %s, not %s of backup %s: --delta writes over the same cluster only",
        data_dir, found, wanted, backup->label);
    return pd_error_hint(err, "Restore into an empty or new directory instead; nothing was changed.");
}

typedef struct Sweep
{
    PdArena *arena;
    const char *root;
    PdStrmap *kept; /* path -> the backup's entry */
    size_t removed;
} Sweep;

/* Removes what under dir (relative path rel, "" for the root) the backup does not hold, depth first. */
static bool
sweep(Sweep *sweep_state, const char *dir, const char *rel, PdError *err)
{
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return pd_archive_io_error(err, "open the directory", dir);
    struct dirent *item;
    bool ok = true;
    while (ok && (item = readdir(handle)) != NULL)
    {
        if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
            continue;
        char *path = pd_archive_join(sweep_state->arena, dir, item->d_name);
        char *name = rel[0] != '\0' ? pd_archive_join(sweep_state->arena, rel, item->d_name)
                                    : pd_arena_strdup(sweep_state->arena, item->d_name);
        struct stat st;
        if (path == NULL || name == NULL)
            ok = pd_arena_error(sweep_state->arena, err);
        else if (lstat(path, &st) != 0)
            ok = pd_archive_io_error(err, "stat", path);
        else
        {
            const PdBackupEntry *entry = pd_strmap_get(sweep_state->kept, name);
            bool is_dir = S_ISDIR(st.st_mode);
            if (entry != NULL && entry->kind == PD_BACKUP_ENTRY_LINK && S_ISLNK(st.st_mode))
                continue; /* a tablespace's link: sweep_space judges it and its directory */
            bool keeps = entry != NULL && ((entry->kind == PD_BACKUP_ENTRY_DIR && is_dir) ||
                                           (entry->kind == PD_BACKUP_ENTRY_FILE && S_ISREG(st.st_mode)));
            if (keeps && is_dir)
                ok = sweep(sweep_state, path, name, err);
            else if (!keeps)
            {
                ok = is_dir ? pd_backup_remove_tree(path, false, err)
                            : (unlink(path) == 0 || pd_archive_io_error(err, "remove", path));
                sweep_state->removed++;
            }
        }
    }
    closedir(handle);
    return ok;
}

/* Whether a tablespace's link in the data directory points where the restore writes the tablespace (then
 * the directory is the cluster's own, is_kept); nothing is changed. */
static bool
judge_space(PdRestoreSpace *space, PdError *err)
{
    char target[PATH_MAX];
    ssize_t length = readlink(space->link, target, sizeof target - 1);
    if (length < 0)
        return errno == ENOENT || errno == EINVAL || pd_archive_io_error(err, "read the link", space->link);
    target[length] = '\0';
    while (length > 1 && target[length - 1] == '/')
        target[--length] = '\0';
    struct stat st;
    space->is_kept = strcmp(target, space->dir) == 0 && stat(space->dir, &st) == 0 && S_ISDIR(st.st_mode);
    return true;
}

/* A kept tablespace's directory swept as the data directory is; another's old link removed (the
 * tablespace is written to its chosen directory, checked empty). */
static bool
sweep_space(Sweep *state, const PdRestoreSpace *space, PdError *err)
{
    struct stat st;
    if (!space->is_kept)
    {
        if (lstat(space->link, &st) != 0 || !S_ISLNK(st.st_mode))
            return true;
        state->removed++;
        return unlink(space->link) == 0 || pd_archive_io_error(err, "remove", space->link);
    }
    char *rel = pd_arena_sprintf(state->arena, "pg_tblspc/%s", space->oid);
    return rel != NULL ? sweep(state, space->dir, rel, err) : pd_arena_error(state->arena, err);
}

bool
pd_restore_delta_prepare(PdArena *arena, const char *data_dir, const PdBackupManifest *backup,
                         PdRestoreSpaces *spaces, size_t *removed, PdError *err)
{
    *removed = 0;
    if (!check_stopped(arena, data_dir, err) || !check_cluster(arena, data_dir, backup, err))
        return false;
    for (size_t i = 0; i < spaces->count; i++)
        if (!judge_space(&spaces->spaces[i], err))
            return false;
    if (!pd_restore_spaces_check(spaces, err)) /* before anything is removed */
        return false;
    char *control = pd_archive_join(arena, data_dir, "global/pg_control");
    Sweep state = {arena, data_dir, pd_strmap_new(arena, backup->entry_count), 0};
    if (control == NULL || state.kept == NULL)
        return pd_arena_error(arena, err);
    if (unlink(control) != 0 && errno != ENOENT)
        return pd_archive_io_error(err, "remove", control);
    for (size_t i = 0; i < backup->entry_count; i++)
        if (!pd_strmap_put(state.kept, backup->entries[i].path, &backup->entries[i]))
            return pd_arena_error(arena, err);
    bool ok = sweep(&state, data_dir, "", err);
    for (size_t i = 0; ok && i < spaces->count; i++)
        ok = sweep_space(&state, &spaces->spaces[i], err);
    *removed = state.removed;
    return ok && (chmod(data_dir, 0700) == 0 || pd_archive_io_error(err, "chmod", data_dir));
}
