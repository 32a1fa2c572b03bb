/*
 * restore_wal.c - the archived WAL a restore would replay, found before
 * anything is written: from the backup's start segment, along the timelines
 * recovery follows (the backup's, then each child up to the target timeline:
 * for latest, the newest whose history file is archived, probed upward as
 * PostgreSQL does), each segment under the newest of those timelines that
 * begins at or before it (the one wal-fetch gives recovery for that place),
 * up to the first segment missing. Segments are read a window at a time:
 * restored from the repository (decompressed and checked, the repository
 * never touched) into a scratch directory of mode 0700, all named on the
 * target timeline so that one pg_waldump run reads across a switch, read,
 * and removed; the directory goes when the check ends, whatever happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/wal.h"
#include "restore_wal.h"
#include "store.h"

enum
{
    PROBE_MAX = 1024 /* timelines probed past the backup's: far more promotions than any archive saw */
};

/* The segment size, from the header of the backup's first segment (its original size). */
static bool
read_segment_bytes(PdArena *arena, const PdRestoreWal *wal, const PdBackupManifest *backup, uint32_t *bytes,
                   PdError *err)
{
    unsigned char raw[PD_ARCHIVE_HEADER_BYTES];
    PdArchiveHeader header;
    size_t got = 0;
    char *path = pd_archive_join(arena, wal->repo, backup->start_wal);
    PdSealIn in;
    if (path == NULL)
        return pd_arena_error(arena, err);
    if (!pd_seal_in_open_path(arena, wal->key, path, NULL, &in, err))
        return false;
    bool ok = pd_seal_in_read_at(&in, raw, sizeof(raw), 0, &got, err) &&
              pd_archive_header_decode(raw, got, path, &header, err);
    close(in.fd);
    if (ok && !pd_archive_is_segment_size(header.original_bytes))
        ok = pd_error_set(err, PD_ERR_REFUSED, "archived segment %s holds %llu bytes, no segment size", path,
                          (unsigned long long)header.original_bytes);
    if (ok)
        *bytes = (uint32_t)header.original_bytes;
    return ok;
}

static bool
is_archived(PdArena *arena, const char *repo, const char *name)
{
    char *path = pd_archive_join(arena, repo, name);
    return path != NULL && access(path, F_OK) == 0;
}

/* The timeline recovery ends on: --target-timeline's, or for latest the newest with an archived history. */
static uint32_t
target_timeline(PdArena *arena, const char *repo, const char *setting, uint32_t timeline)
{
    if (setting != NULL && strcmp(setting, "current") == 0)
        return timeline;
    if (setting != NULL && strcmp(setting, "latest") != 0)
        return (uint32_t)strtoul(setting, NULL, 10);
    uint32_t newest = timeline;
    for (uint32_t next = timeline + 1; next != 0 && next - timeline <= PROBE_MAX; next++)
    {
        char name[32];
        snprintf(name, sizeof(name), "%08X.history", next);
        if (!is_archived(arena, repo, name))
            break;
        newest = next;
    }
    return newest;
}

/* The archived history file of timeline, decompressed and checked, into *text (arena, NUL-terminated). */
static bool
read_history(PdArena *arena, const PdRestoreWal *wal, uint32_t timeline, char **text, size_t *length,
             PdError *err)
{
    char *path = pd_archive_join(arena, wal->repo, pd_arena_sprintf(arena, "%08X.history", timeline));
    if (path == NULL)
        return pd_arena_error(arena, err);
    return pd_archive_read_small(arena, wal->key, path, PD_WAL_HISTORY_MAX, text, length, err);
}

static bool
not_a_child(PdError *err, uint32_t target, const PdBackupManifest *backup, const char *why)
{
    pd_error_set(err, PD_ERR_REFUSED, "recovery along timeline %u cannot start from backup %s: %s", target,
                 backup->label, why);
    return pd_error_hint(err,
                         "Give --target-timeline current, or a timeline that branched off timeline %u "
                         "after the backup; nothing was written.",
                         backup->timeline);
}

/* The timelines from the backup's to target, from its history: each ancestor begins where the one before
 * ended. */
static bool
follow_history(PdArena *arena, PdRestoreWal *wal, const PdBackupManifest *backup, uint32_t target,
               PdError *err)
{
    char *text = NULL, *name = pd_arena_sprintf(arena, "%08X.history", target);
    size_t length = 0, count = 0;
    PdWalSwitch *switches = NULL;
    if (name == NULL)
        return pd_arena_error(arena, err);
    if (!is_archived(arena, wal->repo, name))
        return not_a_child(err, target, backup, pd_arena_sprintf(arena, "%s is not archived", name));
    if (!read_history(arena, wal, target, &text, &length, err) ||
        !pd_wal_history_parse(arena, text, length, name, target, &switches, &count, err))
        return false;
    size_t from = count;
    for (size_t i = 0; i < count; i++)
        if (switches[i].parent == backup->timeline)
            from = i;
    if (from == count)
        return not_a_child(err, target, backup, "its history does not hold the backup's timeline");
    if (switches[from].switch_lsn < backup->stop_lsn)
    {
        char at[20];
        pd_backup_format_lsn(switches[from].switch_lsn, at);
        return not_a_child(err, target, backup,
                           pd_arena_sprintf(arena, "it branched off at %s, before the backup's end", at));
    }
    wal->step_count = count - from + 1;
    if ((wal->steps = pd_arena_calloc(arena, wal->step_count, sizeof(PdRestoreStep))) == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = from; i < count; i++)
        wal->steps[i - from] = (PdRestoreStep){switches[i].parent, i > from ? switches[i - 1].switch_lsn : 0};
    wal->steps[wal->step_count - 1] = (PdRestoreStep){target, switches[count - 1].switch_lsn};
    return true;
}

/* The name of segno on the newest timeline followed that begins at or before it. */
static void
segment_name(const PdRestoreWal *wal, uint64_t segno, char out[25])
{
    size_t step = wal->step_count - 1;
    while (step > 0 && wal->steps[step].begin_lsn / wal->segment_bytes > segno)
        step--;
    pd_archive_segment_name(wal->steps[step].timeline, segno, wal->segment_bytes, out);
}

/* The last segment archived without a gap from the backup's first. */
static void
find_end(PdArena *arena, PdRestoreWal *wal)
{
    char name[25];
    wal->last_segno = wal->first_segno;
    for (uint64_t segno = wal->first_segno + 1;; segno++)
    {
        segment_name(wal, segno, name);
        if (!is_archived(arena, wal->repo, name))
            break;
        wal->last_segno = segno;
    }
    segment_name(wal, wal->last_segno, wal->last_name);
}

static bool
find_waldump(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
             PdRestoreWal *wal, PdError *err)
{
    const char *pg_bin = options->pg_bin != NULL ? options->pg_bin
                                                 : pd_arena_sprintf(arena, "/usr/lib/postgresql/%d/bin",
                                                                    backup->pg_version / 10000);
    if (pg_bin == NULL || (wal->waldump = pd_archive_join(arena, pg_bin, "pg_waldump")) == NULL)
        return pd_arena_error(arena, err);
    if (access(wal->waldump, X_OK) == 0)
        return true;
    pd_error_set(err, PD_ERR_REFUSED,
                 "the recovery target cannot be checked against the archived WAL: no pg_waldump at %s",
                 wal->waldump);
    return pd_error_hint(
        err,
        "Point --pg-bin at PostgreSQL %d's programs, or skip the check with "
        "--no-target-check (a target past the archived WAL then fails recovery); nothing was "
        "written.",
        backup->pg_version / 10000);
}

bool
pd_restore_wal_begin(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                     PdRestoreWal *wal, PdError *err)
{
    *wal = (PdRestoreWal){.repo = options->repo,
                          .key = options->key,
                          .jobs = options->jobs > 0 ? options->jobs : 1,
                          .start_lsn = backup->start_lsn,
                          .consistent_lsn = backup->stop_lsn};
    if (!find_waldump(arena, options, backup, wal, err) ||
        !read_segment_bytes(arena, wal, backup, &wal->segment_bytes, err))
        return false;
    wal->first_segno = backup->start_lsn / wal->segment_bytes;
    uint32_t target = target_timeline(arena, options->repo, options->target_timeline, backup->timeline);
    if (target == backup->timeline)
    {
        wal->step_count = 1;
        if ((wal->steps = pd_arena_calloc(arena, 1, sizeof(PdRestoreStep))) == NULL)
            return pd_arena_error(arena, err);
        wal->steps[0] = (PdRestoreStep){backup->timeline, 0};
    }
    else if (!follow_history(arena, wal, backup, target, err))
        return false;
    find_end(arena, wal);
    const char *parent = options->scratch_parent != NULL ? options->scratch_parent : "/tmp";
    char *scratch = pd_arena_sprintf(arena, "%s/prodata-restore-XXXXXX", parent);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    if (mkdtemp(scratch) == NULL)
        return pd_archive_io_error(err, "create a scratch directory in", parent);
    wal->scratch = scratch;
    return true;
}

void
pd_restore_wal_end(PdRestoreWal *wal)
{
    PdError ignored;
    pd_error_init(&ignored);
    if (wal->scratch != NULL)
        (void)pd_backup_remove_tree(wal->scratch, false, &ignored);
    wal->scratch = NULL;
}

/* The archived segment segno restored into the scratch directory under its name on the target timeline. */
static bool
stage(PdArena *arena, const PdRestoreWal *wal, uint64_t segno, unsigned char *seal_scratch, PdError *err)
{
    char name[25], staged[25];
    segment_name(wal, segno, name);
    pd_archive_segment_name(wal->steps[wal->step_count - 1].timeline, segno, wal->segment_bytes, staged);
    char *from = pd_archive_join(arena, wal->repo, name), *to = pd_archive_join(arena, wal->scratch, staged);
    PdArchiveHeader header;
    if (from == NULL || to == NULL)
        return pd_arena_error(arena, err);
    PdSealIn in;
    if (!pd_seal_in_open_path(arena, wal->key, from, seal_scratch, &in, err))
        return false;
    int out_fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0)
    {
        close(in.fd);
        return pd_archive_io_error(err, "create", to);
    }
    bool ok = pd_archive_stream_out(arena, &in, out_fd, to, &header, err);
    close(in.fd);
    if (close(out_fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", to);
    return ok;
}

/* A SIGINT, SIGTERM or SIGHUP held (the caller holds them) stops the check before the next window. */
static bool
is_interrupted(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 ||
            sigismember(&pending, SIGHUP) == 1);
}

/* A window's segments restored by the pool's threads, each its own. */
typedef struct Staging
{
    const PdRestoreWal *wal;
    uint64_t first_segno;
} Staging;

static bool
stage_task(void *context, PdBackupWorker *worker, size_t index, PdError *err)
{
    const Staging *staging = context;
    if (staging->wal->key != NULL && worker->state == NULL &&
        (worker->state = pd_arena_alloc(worker->lasting, PD_SEAL_SCRATCH_BYTES)) == NULL)
        return pd_arena_error(worker->lasting, err);
    return stage(worker->arena, staging->wal, staging->first_segno + index, worker->state, err);
}

typedef struct Window
{
    uint64_t end_lsn; /* records that start from here on belong to the next window */
    PdWalRecordFn each;
    void *context;
} Window;

static void
pass_record(void *context, const PdWalRecord *record)
{
    const Window *window = context;
    if (record->lsn < window->end_lsn)
        window->each(window->context, record);
}

bool
pd_restore_wal_read(PdArena *arena, const PdRestoreWal *wal, uint64_t first_segno, uint64_t last_segno,
                    bool is_filtered, PdWalRecordFn each, void *context, PdError *err)
{
    if (is_interrupted())
        return pd_error_set(err, PD_ERR_REFUSED, "interrupted while reading the archived WAL");
    uint64_t staged_last = last_segno < wal->last_segno ? last_segno + 1 : last_segno;
    PdArena *window_arena = pd_arena_new_child(arena, 0);
    if (window_arena == NULL)
        return pd_arena_error(arena, err);
    Window window = {(last_segno + 1) * wal->segment_bytes, each, context};
    PdWalDump dump = {.program = wal->waldump,
                      .dir = wal->scratch,
                      .timeline = wal->steps[wal->step_count - 1].timeline,
                      .start_lsn = first_segno * wal->segment_bytes,
                      .end_lsn = (staged_last + 1) * wal->segment_bytes,
                      .is_filtered = is_filtered,
                      .each = pass_record,
                      .context = &window};
    Staging staging = {wal, first_segno};
    bool ok = pd_backup_parallel((size_t)(staged_last - first_segno + 1), wal->jobs, stage_task, &staging,
                                 NULL, NULL, err) &&
              pd_restore_waldump(window_arena, &dump, err);
    for (uint64_t segno = first_segno; segno <= staged_last; segno++)
    {
        char staged[25];
        pd_archive_segment_name(dump.timeline, segno, wal->segment_bytes, staged);
        char *path = pd_archive_join(window_arena, wal->scratch, staged);
        if (path != NULL)
            unlink(path);
    }
    pd_arena_free(window_arena);
    return ok;
}
