/*
 * restore_newspace.c - tablespaces the archived WAL creates after the
 * backup. Recovery replays CREATE TABLESPACE at the location the WAL
 * records: no --tablespace-map reaches it, so on the machine where the
 * cluster still runs, a copy would write into the live tablespace (and on
 * another machine, recovery stops where the location is missing). So the
 * WAL recovery will replay is read first (from the backup's start to where
 * it stops: its consistency point for --target-immediate, the target LSN,
 * the first commit or abort past the target time, the target xid's end or
 * the restore point; all of it without a target) for such records, and a
 * restore is refused unless each location exists and is empty.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "restore_wal.h"

enum
{
    WINDOW_BYTES = 256 << 20 /* WAL restored into the scratch directory at a time */
};

typedef struct NewSpaces
{
    PdArena *arena;
    const PdRestoreOptions *options;
    const PdRestoreWal *wal;
    int64_t target_us;    /* --target-time, microseconds */
    uint64_t target_xid;  /* --target-xid */
    uint64_t target_lsn;  /* --target-lsn */
    bool is_stopped;      /* recovery stops at a record read: what follows is never replayed */
    PdWalRecord created;  /* the first CREATE TABLESPACE whose location is not an empty directory */
    const char *location; /* its location, copied */
    bool is_found;
} NewSpaces;

/* Whether recovery stops at record (it is the last one replayed, or the first one not replayed). */
static bool
stops_at(const NewSpaces *spaces, const PdWalRecord *record)
{
    const PdRestoreOptions *options = spaces->options;
    bool is_end = record->kind == PD_WAL_RECORD_COMMIT || record->kind == PD_WAL_RECORD_ABORT;
    switch (options->target_kind)
    {
        case PD_RESTORE_IMMEDIATE:
            return record->lsn >= spaces->wal->consistent_lsn;
        case PD_RESTORE_LSN:
            return record->lsn > spaces->target_lsn;
        case PD_RESTORE_TIME:
            return is_end && record->time_us >= spaces->target_us;
        case PD_RESTORE_XID:
            return is_end && (uint32_t)record->xid == (uint32_t)spaces->target_xid;
        case PD_RESTORE_NAME:
            return record->kind == PD_WAL_RECORD_RESTORE_POINT &&
                   record->name_length == strlen(options->target) &&
                   strncmp(record->name, options->target, record->name_length) == 0;
        case PD_RESTORE_END:
            break;
    }
    return false;
}

/* Whether dir is an existing, empty directory. */
static bool
is_empty_dir(const char *dir)
{
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return false;
    struct dirent *item;
    bool is_empty = true;
    while (is_empty && (item = readdir(handle)) != NULL)
        is_empty = strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0;
    closedir(handle);
    return is_empty;
}

static void
note_space(void *context, const PdWalRecord *record)
{
    NewSpaces *spaces = context;
    if (spaces->is_stopped || spaces->is_found || record->lsn < spaces->wal->start_lsn)
        return;
    if (record->kind == PD_WAL_RECORD_TABLESPACE)
    {
        char *location = pd_arena_strndup(spaces->arena, record->name, record->name_length);
        if (location != NULL && !is_empty_dir(location))
            spaces->is_found = true, spaces->created = *record, spaces->location = location;
        return;
    }
    spaces->is_stopped = stops_at(spaces, record);
}

static bool
refuse(const NewSpaces *spaces, const PdBackupManifest *backup, PdError *err)
{
    char at[20];
    struct stat st;
    pd_backup_format_lsn(spaces->created.lsn, at);
    bool is_there = stat(spaces->location, &st) == 0;
    pd_error_set(err, PD_ERR_REFUSED,
                 "the archived WAL after backup %s creates tablespace %llu at %s (at %s), which %s: recovery "
                 "would %s",
                 backup->label, (unsigned long long)spaces->created.xid, spaces->location, at,
                 is_there ? "is not an empty directory" : "does not exist",
                 is_there ? "write into it (the live cluster's tablespace?)" : "stop there");
    return pd_error_hint(
        err,
        "Restore on a machine where %s is an empty directory (create it), to a target before %s "
        "(--target-lsn), or from a backup taken after the tablespace was made; nothing was "
        "written.",
        spaces->location, at);
}

bool
pd_restore_check_new_spaces(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal,
                            const PdBackupManifest *backup, PdError *err)
{
    NewSpaces spaces = {.arena = arena, .options = options, .wal = wal};
    if (options->target_kind == PD_RESTORE_TIME &&
        !pd_restore_target_time_us(options->target, &spaces.target_us))
        return pd_error_set(err, PD_ERR_USAGE, "the recovery target '%s' is not a time", options->target);
    if (options->target_kind == PD_RESTORE_LSN && !pd_backup_parse_lsn(options->target, &spaces.target_lsn))
        return pd_error_set(err, PD_ERR_USAGE, "the recovery target '%s' is not an LSN", options->target);
    if (options->target_kind == PD_RESTORE_XID)
        spaces.target_xid = strtoull(options->target, NULL, 0);
    uint64_t per_window = WINDOW_BYTES / wal->segment_bytes > 0 ? WINDOW_BYTES / wal->segment_bytes : 1;
    for (uint64_t first = wal->first_segno;
         first <= wal->last_segno && !spaces.is_stopped && !spaces.is_found; first += per_window)
    {
        uint64_t last = first + per_window - 1 < wal->last_segno ? first + per_window - 1 : wal->last_segno;
        if (!pd_restore_wal_read(arena, wal, first, last, true, note_space, &spaces, err))
            return false;
    }
    return !spaces.is_found || refuse(&spaces, backup, err);
}
