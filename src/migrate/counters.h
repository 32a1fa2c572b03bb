/*
 * counters.h - the row counters migrate keeps on model tables (counters.c):
 * the names drift.c leaves out of the schema it compares, and the sync that
 * apply.c runs inside each migration's transaction and once at the end of a
 * run. Private to src/migrate.
 */
#ifndef PRODATA_MIGRATE_COUNTERS_H
#define PRODATA_MIGRATE_COUNTERS_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/model.h"

/* The counter table: one row per (table oid, slot); a table's count is the sum of its slots. */
#define PD_COUNTERS_TABLE "prodata_row_counts"
/* Slots per table: a writer adds to the first from pg_backend_pid() % PD_COUNTERS_SLOTS on that no open
 * transaction of another holds. */
#define PD_COUNTERS_SLOTS 64

/*
 * Inside the caller's open READ COMMITTED transaction (apply.c begins it so):
 * makes the counters match `state` (the models after the migration; NULL: no
 * models). is_on: every model table gets the three triggers and its slots,
 * seeded with count(*) after the table is locked against writers (a table
 * counted by an earlier version's triggers gets this version's and keeps
 * its slots); counters of tables that are no longer model tables (dropped,
 * or no longer a model's) go. Off: every trigger, the functions and the table go. A table whose
 * triggers and slots are already right is not locked. is_run_end: also
 * deletes the slots of tables that are gone or carry no trigger (dropped by
 * a migration; left for the end, so a migration does not scan the counter
 * table). *changed (may be NULL) counts the tables installed, upgraded or
 * removed.
 * Errors: the server's (PD_ERR_LOCK_TIMEOUT when a table stays locked past
 * lock_timeout).
 */
bool pd_counters_sync(PdArena *arena, PdDb *db, const PdCatalog *state, bool is_on, bool is_run_end,
                      int *changed, PdError *err);

#endif
