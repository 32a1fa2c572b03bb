/*
 * sqlstate.h - which PdError code a PostgreSQL SQLSTATE becomes, and whether
 * trying again may succeed (private to src/db; query_error.c applies it).
 */
#ifndef PRODATA_DB_SQLSTATE_H
#define PRODATA_DB_SQLSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/error.h"

typedef struct PdDbSqlstateClass
{
    PdErrorCode code;
    bool is_retryable;
    bool is_constraint; /* a constraint refused a value: the error names the constraint and the column */
} PdDbSqlstateClass;

/* The class of a five-character SQLSTATE; NULL, "" or an unlisted one is a plain, final PD_ERR_DB_QUERY. */
PdDbSqlstateClass pd_db_sqlstate_classify(const char *sqlstate);

/*
 * The column list of a unique or foreign-key violation's detail ("Key (a, b)=(1, 2) already exists." gives
 * "a, b") into buf, truncated to fit. False (buf "") when the detail names no key.
 */
bool pd_db_key_columns(const char *detail, char *buf, size_t size);

#endif
