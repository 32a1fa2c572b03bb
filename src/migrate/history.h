/*
 * history.h - the migration history kept in the database: which files were
 * applied, with their checksums, and the advisory lock that serialises
 * deployers. Private to src/migrate.
 */
#ifndef PRODATA_MIGRATE_HISTORY_H
#define PRODATA_MIGRATE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"

#define PD_HISTORY_TABLE "prodata_migrations"
/* The stored schema snapshot, one row per line; the row with key '' marks that a snapshot was taken. */
#define PD_SNAPSHOT_LINES_TABLE "prodata_schema_snapshot_lines"
/* Earlier versions kept the snapshot as one text in this table; migrate moves it into the lines table. */
#define PD_SNAPSHOT_OLD_TABLE "prodata_schema_snapshot"

typedef struct PdHistoryRow
{
    int number;
    const char *name;
    const char *checksum;
    bool is_complete; /* false while a concurrent part is unfinished */
    const char *applied_at;
    int concurrent_done; /* concurrent statements known to have succeeded, in file order (never more than did)
                          */
} PdHistoryRow;

/*
 * Tries once, without waiting, to take the session advisory lock that only
 * one migrate holds at a time; *is_locked says whether it did. Call outside a
 * transaction, so that nothing of this session stays open between tries.
 */
bool pd_history_try_lock(PdArena *arena, PdDb *db, bool *is_locked, PdError *err);
/*
 * Who holds the deployers' lock, for the error of a deployer that gave up
 * waiting: "pid N (application, from address, state since time)", or NULL
 * when nobody does now. Never the holder's query text: it may hold a secret.
 */
bool pd_history_lock_holder(PdArena *arena, PdDb *db, const char **holder, PdError *err);
/* Releases the lock and puts lock_timeout back to the session's default. */
void pd_history_unlock(PdDb *db);

/* Creates the history and snapshot lines tables when absent (call under the lock). */
bool pd_history_ensure(PdDb *db, PdError *err);

/* Reads every row, ordered by number. A database without the table gives zero rows. */
bool pd_history_read(PdArena *arena, PdDb *db, PdHistoryRow **rows, size_t *count, PdError *err);

/*
 * Inside the caller's transaction: records an applied file. A file whose
 * concurrent part is still to run is recorded incomplete, with the schema as
 * its transaction left it (schema_before_concurrent), so whoever completes
 * it, even another process after a crash, knows what the concurrent part
 * changed.
 */
bool pd_history_record(PdArena *arena, PdDb *db, int number, const char *name, const char *checksum,
                       const char *schema_before_concurrent, long duration_ms, PdError *err);
/* Replaces the checksum recorded for file `number` (an earlier version's, of the whole file). */
bool pd_history_set_checksum(PdArena *arena, PdDb *db, int number, const char *checksum, PdError *err);

/* The schema recorded when the concurrent part of file `number` was left to run ("" when none). */
bool pd_history_schema_before_concurrent(PdArena *arena, PdDb *db, int number, const char **schema,
                                         PdError *err);
/* Autocommit: records that the first `done` concurrent statements of file `number` succeeded. */
bool pd_history_set_concurrent_done(PdArena *arena, PdDb *db, int number, int done, PdError *err);
bool pd_history_mark_complete(PdArena *arena, PdDb *db, int number, PdError *err);
bool pd_history_forget(PdArena *arena, PdDb *db, int number, PdError *err);

/* Sets the session's lock_timeout. */
bool pd_history_set_lock_timeout(PdArena *arena, PdDb *db, int timeout_ms, bool is_local, PdError *err);

#endif
