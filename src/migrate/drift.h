/*
 * drift.h - the schema snapshot recorded after each migrate and compared by
 * `check`. Private to src/migrate; the public entry is pd_migrate_check_drift.
 */
#ifndef PRODATA_MIGRATE_DRIFT_H
#define PRODATA_MIGRATE_DRIFT_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"

/* The live schema as sorted "key\tdefinition" lines; *snapshot lives in arena. */
bool pd_drift_read_schema(PdArena *arena, PdDb *db, const char **snapshot, PdError *err);

/* Reads the live schema and stores it as the expected one (call inside a transaction, under the lock). */
bool pd_drift_store_snapshot(PdArena *arena, PdDb *db, PdError *err);

#endif
