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

/*
 * Writes into the stored snapshot exactly the lines that differ between the
 * live schema before and after a migrate (both from pd_drift_read_schema),
 * so drift made by hand stays visible. With no stored snapshot yet, `before`
 * is the starting point. Call under the migrate lock.
 */
bool pd_drift_record_change(PdArena *arena, PdDb *db, const char *before_text, const char *after_text,
                            PdError *err);

#endif
