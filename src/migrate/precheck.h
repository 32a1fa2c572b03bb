/*
 * precheck.h - what existing rows would break, said before anything
 * changes (precheck.c): statements that SET NOT NULL, add a unique, check or
 * foreign key constraint, a required column, or change a type run behind a
 * savepoint, and a failure on the data is explained with the rows counted,
 * some of their keys and the way out; the concurrent part's checks are
 * counted before the transaction commits. Private to src/migrate.
 */
#ifndef PRODATA_MIGRATE_PRECHECK_H
#define PRODATA_MIGRATE_PRECHECK_H

#include <stdbool.h>

#include "apply.h"

/*
 * Runs section->section inside the open transaction: in one round trip when
 * no statement of it is one existing rows can break, else statement by
 * statement, those behind a savepoint. Errors: PD_ERR_REFUSED with the count,
 * examples and the way out when rows break a statement (the caller rolls the
 * transaction back); the server's error with the file's line otherwise.
 */
bool pd_precheck_run(PdArena *arena, PdDb *db, const PdApplySql *section, PdError *err);

/*
 * Inside the transaction, after its section ran: counts the rows that would
 * break the file's concurrent VALIDATE CONSTRAINT and CREATE UNIQUE INDEX
 * statements, and refuses (PD_ERR_REFUSED) when there are any, so that the
 * transaction is not committed ahead of a concurrent part doomed to fail.
 */
bool pd_precheck_concurrent(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err);

/*
 * Whether file holds a statement existing rows can break (in +up or the
 * concurrent part): a file that only creates tables, say, needs no try.
 */
bool pd_precheck_is_needed(PdArena *arena, const PdMigrationFile *file, bool *is_needed, PdError *err);

#endif
