/*
 * restore_reach.c - whether recovery from the chosen backup reaches the
 * target in the archived WAL, judged as PostgreSQL 15's recovery judges it
 * (xlogrecovery.c, recoveryStopsBefore/After) on the records pg_waldump reads
 * (restore_wal.c): an LSN is reached when a record starts at or after it; a
 * time when a commit or abort is later than it (at or later with
 * --target-exclusive); an xid at its commit or abort; a name at its restore
 * point. A stop before the backup is consistent fails recovery too, so an xid
 * or a name found there is refused as well. The work is bounded: a time or an
 * LSN reads the newest segments backwards until one holds what is looked for;
 * an xid or a name reads forward from the backup's start, stopping when
 * found. A refusal names the target, what the archive reaches, and in its
 * hint the nearest targets that work; nothing has been written then.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prodata/strbuf.h"
#include "restore_wal.h"

enum
{
    WINDOW_BYTES = 256 << 20, /* WAL restored into the scratch directory at a time, reading forward */
    NAMES_SHOWN = 16          /* restore point names listed in a refusal */
};

/* What the records read so far hold. */
typedef struct Seen
{
    const PdRestoreWal *wal;
    PdArena *arena;
    size_t records;         /* any record read from the backup's start on */
    uint64_t last_lsn;      /* the newest record's start */
    size_t ends;            /* commits and aborts from the backup's start on */
    PdWalRecord newest_end; /* the one with the latest time */
    uint64_t xid;           /* --target-xid */
    const char *name;       /* --target-name */
    bool is_found;          /* its commit, abort or restore point was read ... */
    PdWalRecord found;      /* ... here (the first of a name: recovery stops there) */
    size_t consistent_ends; /* commits and aborts once the backup is consistent, and their xids */
    uint64_t least_xid, most_xid;
    const char *names[NAMES_SHOWN]; /* restore points once it is consistent */
    size_t name_count;
} Seen;

static void
note_name(Seen *seen, const char *name)
{
    for (size_t i = 0; i < seen->name_count; i++)
        if (strcmp(seen->names[i], name) == 0)
            return;
    if (seen->name_count < NAMES_SHOWN &&
        (seen->names[seen->name_count] = pd_arena_strdup(seen->arena, name)))
        seen->name_count++;
}

static void
note_record(void *context, const PdWalRecord *record)
{
    Seen *seen = context;
    if (record->lsn < seen->wal->start_lsn) /* before the backup's redo point: never replayed */
        return;
    seen->records++;
    seen->last_lsn = record->lsn > seen->last_lsn ? record->lsn : seen->last_lsn;
    bool is_end = record->kind == PD_WAL_RECORD_COMMIT || record->kind == PD_WAL_RECORD_ABORT;
    if (is_end && (seen->ends++ == 0 || record->time_us >= seen->newest_end.time_us))
        seen->newest_end = *record;
    bool is_target = is_end ? seen->name == NULL && record->xid == seen->xid
                            : record->kind == PD_WAL_RECORD_RESTORE_POINT && seen->name != NULL &&
                                  strcmp(record->name, seen->name) == 0;
    if (is_target && !seen->is_found)
        seen->is_found = true, seen->found = *record, seen->found.name = NULL;
    if (record->lsn < seen->wal->consistent_lsn)
        return;
    if (is_end)
    {
        seen->least_xid =
            seen->consistent_ends == 0 || record->xid < seen->least_xid ? record->xid : seen->least_xid;
        seen->most_xid = record->xid > seen->most_xid ? record->xid : seen->most_xid;
        seen->consistent_ends++;
    }
    else if (record->kind == PD_WAL_RECORD_RESTORE_POINT)
        note_name(seen, record->name);
}

/* The newest segments first, one at a time, until one holds a record (any, or a commit or abort). */
static bool
read_backward(PdArena *arena, const PdRestoreWal *wal, bool wants_end, Seen *seen, PdError *err)
{
    for (uint64_t segno = wal->last_segno + 1; segno-- > wal->first_segno;)
    {
        if (!pd_restore_wal_read(arena, wal, segno, segno, wants_end, note_record, seen, err))
        {
            /* a segment (and the next) all inside one record larger than them: no record starts there */
            if (strstr(err->message, "could not find a valid record") == NULL)
                return false;
            pd_error_init(err);
            continue;
        }
        if (wants_end ? seen->ends > 0 : seen->records > 0)
            return true;
    }
    return true;
}

/* From the backup's start a window at a time, until the target is found or the archive ends. */
static bool
read_forward(PdArena *arena, const PdRestoreWal *wal, Seen *seen, PdError *err)
{
    uint64_t per_window = WINDOW_BYTES / wal->segment_bytes > 0 ? WINDOW_BYTES / wal->segment_bytes : 1;
    for (uint64_t first = wal->first_segno; first <= wal->last_segno && !seen->is_found; first += per_window)
    {
        uint64_t last = first + per_window - 1 < wal->last_segno ? first + per_window - 1 : wal->last_segno;
        if (!pd_restore_wal_read(arena, wal, first, last, true, note_record, seen, err))
            return false;
    }
    return true;
}

/* "from 0/5000100 (backup B consistent) to the end of segment NAME", for messages. */
static const char *
range_text(PdArena *arena, const PdRestoreWal *wal, const PdBackupManifest *backup)
{
    char from[20];
    pd_backup_format_lsn(wal->consistent_lsn, from);
    return pd_arena_sprintf(arena, "after backup %s is consistent (from %s to the end of segment %s)",
                            backup->label, from, wal->last_name);
}

static void
format_time_us(int64_t time_us, char out[40])
{
    time_t seconds = (time_t)(time_us / 1000000);
    struct tm utc;
    gmtime_r(&seconds, &utc);
    size_t length = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &utc);
    snprintf(out + length, 40 - length, ".%06d+00", (int)(time_us % 1000000));
}

static bool
check_lsn(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal, PdError *err)
{
    uint64_t target;
    Seen seen = {.wal = wal, .arena = arena};
    if (!pd_backup_parse_lsn(options->target, &target) || !read_backward(arena, wal, false, &seen, err))
        return false;
    if (seen.records > 0 && target <= seen.last_lsn)
        return true;
    char last[20];
    pd_backup_format_lsn(seen.last_lsn, last);
    pd_error_set(
        err, PD_ERR_REFUSED,
        "the recovery target LSN %s is past the archived WAL, whose last record starts at %s (segment "
        "%s)",
        options->target, last, wal->last_name);
    return pd_error_hint(err,
                         "Give --target-lsn %s or an earlier one (no target replays all the archived WAL); "
                         "nothing was written.",
                         last);
}

bool
pd_restore_target_time_us(const char *text, int64_t *time_us)
{
    int64_t seconds;
    if (!pd_restore_parse_time(text, &seconds))
        return false;
    int64_t fraction = 0, scale = 100000;
    for (const char *c = text[19] == '.' ? text + 20 : ""; *c >= '0' && *c <= '9' && scale > 0; c++)
        fraction += (*c - '0') * scale, scale /= 10;
    *time_us = seconds * 1000000 + fraction;
    return true;
}

static bool
check_time(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal,
           const PdBackupManifest *backup, PdError *err)
{
    int64_t target;
    Seen seen = {.wal = wal, .arena = arena};
    if (!pd_restore_target_time_us(options->target, &target) || !read_backward(arena, wal, true, &seen, err))
        return false;
    bool is_after = seen.ends > 0 && seen.newest_end.lsn >= wal->consistent_lsn;
    if (is_after &&
        (options->exclusive ? target <= seen.newest_end.time_us : target < seen.newest_end.time_us))
        return true;
    if (!is_after)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "the recovery target time %s is never reached: no transaction commits or aborts in the "
                     "archived WAL %s",
                     options->target, range_text(arena, wal, backup));
        return pd_error_hint(err, "Restore with --target-immediate, --target-lsn or no target; nothing was "
                                  "written.");
    }
    char newest[40];
    const char *what = seen.newest_end.kind == PD_WAL_RECORD_COMMIT ? "commit" : "abort";
    format_time_us(seen.newest_end.time_us, newest);
    pd_error_set(err, PD_ERR_REFUSED,
                 "the recovery target time %s is %s the last %s in the archived WAL, at %s (segment %s)",
                 options->target, options->exclusive ? "after" : "not before", what, newest, wal->last_name);
    return pd_error_hint(err,
                         "The archived WAL ends with a%s %s at %s: give --target-time %s it; nothing was "
                         "written.",
                         what[0] == 'a' ? "n" : "", what, newest,
                         options->exclusive ? "at or before" : "before");
}

/* A target found before the backup is consistent: recovery would stop there and fail. */
static bool
found_too_early(const Seen *seen, const char *what, const PdBackupManifest *backup, PdError *err)
{
    char at[20], from[20];
    pd_backup_format_lsn(seen->found.lsn, at);
    pd_backup_format_lsn(backup->stop_lsn, from);
    pd_error_set(err, PD_ERR_REFUSED, "%s is at %s, before backup %s is consistent (from %s)", what, at,
                 backup->label, from);
    return pd_error_hint(err,
                         "Restore an older backup (--set LABEL, prodata backup list); nothing was written.");
}

static bool
check_xid(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal,
          const PdBackupManifest *backup, PdError *err)
{
    /* as PostgreSQL reads recovery_target_xid: strtou64 with base 0, cast to a 32-bit TransactionId */
    Seen seen = {.wal = wal, .arena = arena, .xid = (uint32_t)strtoull(options->target, NULL, 0)};
    if (!read_forward(arena, wal, &seen, err))
        return false;
    const char *what = pd_arena_sprintf(arena, "the end of transaction %s", options->target);
    if (seen.is_found)
        return seen.found.lsn >= wal->consistent_lsn || found_too_early(&seen, what, backup, err);
    pd_error_set(err, PD_ERR_REFUSED, "transaction %s neither commits nor aborts in the archived WAL %s",
                 options->target, range_text(arena, wal, backup));
    if (seen.consistent_ends == 0)
        return pd_error_hint(err,
                             "No transaction ends there: restore with --target-lsn or no target; nothing "
                             "was written.");
    return pd_error_hint(err,
                         "The transactions that commit or abort there are %llu to %llu: give one of them; "
                         "nothing was written.",
                         (unsigned long long)seen.least_xid, (unsigned long long)seen.most_xid);
}

static bool
check_name(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal,
           const PdBackupManifest *backup, PdError *err)
{
    Seen seen = {.wal = wal, .arena = arena, .name = options->target};
    if (!read_forward(arena, wal, &seen, err))
        return false;
    const char *what = pd_arena_sprintf(arena, "restore point '%s'", options->target);
    if (seen.is_found)
        return seen.found.lsn >= wal->consistent_lsn || found_too_early(&seen, what, backup, err);
    pd_error_set(err, PD_ERR_REFUSED, "restore point '%s' is not in the archived WAL %s", options->target,
                 range_text(arena, wal, backup));
    if (seen.name_count == 0)
        return pd_error_hint(err, "It holds no restore point (prodata backup restore-point NAME makes one); "
                                  "nothing was written.");
    PdStrbuf names;
    pd_strbuf_init(&names, arena);
    for (size_t i = 0; i < seen.name_count; i++)
        pd_strbuf_appendf(&names, "%s'%s'", i > 0 ? ", " : "", seen.names[i]);
    return pd_error_hint(err, "The restore points there: %.180s%s; nothing was written.",
                         pd_strbuf_failed(&names) ? "?" : pd_strbuf_text(&names),
                         seen.name_count == NAMES_SHOWN ? ", ..." : "");
}

static bool
check(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup, PdError *err)
{
    PdRestoreWal wal;
    bool ok = pd_restore_wal_begin(arena, options, backup, &wal, err);
    if (ok && options->target_kind == PD_RESTORE_LSN)
        ok = check_lsn(arena, options, &wal, err);
    else if (ok && options->target_kind == PD_RESTORE_TIME)
        ok = check_time(arena, options, &wal, backup, err);
    else if (ok && options->target_kind == PD_RESTORE_XID)
        ok = check_xid(arena, options, &wal, backup, err);
    else if (ok && options->target_kind == PD_RESTORE_NAME)
        ok = check_name(arena, options, &wal, backup, err);
    ok = ok && pd_restore_check_new_spaces(arena, options, &wal, backup, err);
    pd_restore_wal_end(&wal);
    return ok;
}

bool
pd_restore_check_reach(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                       PdError *err)
{
    if (options->skips_target_check ||
        options->as_standby) /* a standby replays all, as one pg_basebackup made */
        return true;
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    /* Ctrl-C or a TERM waits until the scratch directory is removed; the reading stops at the next window */
    sigset_t held, before;
    sigemptyset(&held);
    sigaddset(&held, SIGINT), sigaddset(&held, SIGTERM), sigaddset(&held, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &held, &before);
    bool ok = check(scratch, options, backup, err);
    pd_arena_free(scratch);
    pthread_sigmask(SIG_SETMASK, &before, NULL); /* a signal that came meanwhile acts now */
    return ok || pd_error_context(err, "while checking the recovery target against the archived WAL");
}
