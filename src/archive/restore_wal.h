/*
 * restore_wal.h - what the archived WAL holds for a restore's target, so
 * that a target recovery cannot reach is refused before anything is
 * written: the segments recovery would read, along the timelines it would
 * follow, from the backup's start (restore_wal.c), restored a few at a time
 * into a scratch directory and read by PostgreSQL's own pg_waldump
 * (restore_waldump.c), and the target judged against the records found
 * (restore_reach.c). Private to src/archive.
 */
#ifndef PRODATA_ARCHIVE_RESTORE_WAL_H
#define PRODATA_ARCHIVE_RESTORE_WAL_H

#include "backup.h"

/* ---- pg_waldump's lines (restore_waldump.c) ---- */

typedef enum PdWalRecordKind
{
    PD_WAL_RECORD_OTHER,         /* any record a target does not stop at by its content */
    PD_WAL_RECORD_COMMIT,        /* COMMIT or COMMIT_PREPARED */
    PD_WAL_RECORD_ABORT,         /* ABORT or ABORT_PREPARED */
    PD_WAL_RECORD_RESTORE_POINT, /* pg_create_restore_point's */
    PD_WAL_RECORD_TABLESPACE,    /* CREATE TABLESPACE: xid holds its OID, name its location */
} PdWalRecordKind;

/* One record as pg_waldump prints it. */
typedef struct PdWalRecord
{
    PdWalRecordKind kind;
    uint64_t lsn;     /* where it starts: what recovery_target_lsn compares */
    uint64_t xid;     /* COMMIT, ABORT: the transaction that ends (a prepared one's own xid) */
    int64_t time_us;  /* COMMIT, ABORT: its time, microseconds since the epoch (UTC) */
    const char *name; /* RESTORE_POINT: its name; TABLESPACE: its location; valid during the callback only */
    size_t name_length; /* of name */
} PdWalRecord;

/*
 * Reads one line of PostgreSQL 15's pg_waldump output (without its newline; run with TZ=UTC):
 * "rmgr: Transaction len (rec/tot): ..., tx: 727, lsn: 0/01516868, prev 0/01516800, desc: COMMIT
 * 2026-12-01 10:50:52.202931 UTC". False for a line that is no record, or a commit or abort whose time
 * does not read. No allocation: record->name points into line.
 */
bool pd_restore_waldump_parse(const char *line, PdWalRecord *record);

typedef void (*PdWalRecordFn)(void *context, const PdWalRecord *record);

/* One pg_waldump run over segments in a directory. */
typedef struct PdWalDump
{
    const char *program; /* PG_BIN/pg_waldump */
    const char *dir;     /* the segments, all named on timeline; its stderr is written there too */
    uint32_t timeline;
    uint64_t start_lsn; /* the first segment's start */
    uint64_t end_lsn;   /* the last segment's end: reading up to it is a clean end */
    bool is_filtered;   /* only Transaction, XLOG and Tablespace records (ends, restore points, new spaces) */
    PdWalRecordFn each; /* called on every record read, in order */
    void *context;
} PdWalDump;

/*
 * Runs dump->program without a shell (TZ=UTC, LC_ALL=C, stdin from /dev/null) and calls dump->each on each
 * record it prints. Errors: PD_ERR_IO (it could not run, or was stopped by a signal), PD_ERR_REFUSED (it
 * could not read the WAL: the message quotes its last error line), PD_ERR_NO_MEMORY.
 */
bool pd_restore_waldump(PdArena *arena, const PdWalDump *dump, PdError *err);

/* ---- the archived WAL a restore would read (restore_wal.c) ---- */

/* A timeline recovery follows, from where it begins (0 for the backup's own). */
typedef struct PdRestoreStep
{
    uint32_t timeline;
    uint64_t begin_lsn;
} PdRestoreStep;

typedef struct PdRestoreWal
{
    const char *repo;
    const PdArchiveKey *key; /* the repository's; NULL: plain */
    int jobs;                /* threads restoring a window's segments (the restore's --jobs) */
    const char *waldump;     /* PG_BIN/pg_waldump */
    const char *scratch;     /* mode 0700: segments restored to be read, one window at a time */
    uint32_t segment_bytes;  /* from the backup's first segment's header */
    PdRestoreStep *steps;    /* the backup's timeline first, recovery's target timeline last */
    size_t step_count;
    uint64_t start_lsn;      /* the backup's: recovery replays from here ... */
    uint64_t consistent_lsn; /* ... and is consistent from here (its stop_lsn) */
    uint64_t first_segno;    /* the segment of start_lsn */
    uint64_t last_segno;     /* the last of the run archived without a gap from first_segno */
    char last_name[25];      /* its name */
} PdRestoreWal;

/*
 * Finds the WAL a restore of backup with options would replay: pg_waldump in options->pg_bin (or
 * /usr/lib/postgresql/MAJOR/bin), the timelines (options->target_timeline: current, a number, or latest:
 * the newest whose history file is archived, probed upward from the backup's as PostgreSQL does), the
 * segments archived from the backup's start on, and makes the scratch directory in options->scratch_parent
 * (or /tmp). Call pd_restore_wal_end after it, whatever it returned. Errors: PD_ERR_REFUSED (no pg_waldump;
 * a target timeline that does not continue the backup's after its end), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_wal_begin(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                          PdRestoreWal *wal, PdError *err);

/* Removes the scratch directory and what it holds, if it was made. */
void pd_restore_wal_end(PdRestoreWal *wal);

/*
 * Restores segments first_segno .. last_segno (and the next, when archived, so that a record crossing into
 * it is read whole) into the scratch directory, runs pg_waldump over them and calls each on the records that
 * start in those segments, then removes them. Errors: PD_ERR_REFUSED (an archived segment that does not
 * verify, WAL pg_waldump cannot read, a signal pending: SIGINT, SIGTERM or SIGHUP), PD_ERR_IO,
 * PD_ERR_NO_MEMORY.
 */
bool pd_restore_wal_read(PdArena *arena, const PdRestoreWal *wal, uint64_t first_segno, uint64_t last_segno,
                         bool is_filtered, PdWalRecordFn each, void *context, PdError *err);

/* ---- the target judged (restore_reach.c) ---- */

/*
 * Tablespaces the WAL that recovery from backup replays creates (restore_newspace.c): refused unless each
 * location is an existing, empty directory. Errors: PD_ERR_REFUSED (naming the tablespace, its location and
 * where the WAL makes it), as pd_restore_wal_read.
 */
bool pd_restore_check_new_spaces(PdArena *arena, const PdRestoreOptions *options, const PdRestoreWal *wal,
                                 const PdBackupManifest *backup, PdError *err);

/* --target-time T as microseconds since the epoch (its fraction kept). False when it is no such time. */
bool pd_restore_target_time_us(const char *text, int64_t *time_us);

/*
 * Whether recovery from backup reaches options' target in the archived WAL, and creates no tablespace where
 * it would write into a directory in use (pd_restore_check_new_spaces; without a target too; nothing is
 * checked with options->skips_target_check or as_standby). LSN: a record starts at or after it; time: a
 * commit or abort later than it (at or later, exclusive); xid: its commit or abort; name: its restore point;
 * the last two after the backup is consistent. SIGINT, SIGTERM and SIGHUP wait until the scratch directory is
 * removed. Errors: PD_ERR_REFUSED (not reached: the message names the target and what the archive
 * reaches, the hint the nearest targets that work; or as pd_restore_wal_begin and pd_restore_wal_read),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_check_reach(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                            PdError *err);

#endif
