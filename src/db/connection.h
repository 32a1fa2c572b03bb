/*
 * connection.h - what the files of src/db share about one connection (private
 * to src/db): the PdDb struct around libpq's PGconn and the translation of a
 * failed result into a PdError. Nothing outside src/db includes it.
 */
#ifndef PRODATA_DB_CONNECTION_H
#define PRODATA_DB_CONNECTION_H

#include <libpq-fe.h>

#include "prodata/db.h"

struct PdDbCancel
{
    PGcancel *handle;
};

struct PdDb
{
    PGconn *connection;
    PdDbCancel cancel;  /* handle NULL when libpq could not make one */
    int error_position; /* of the last failed statement, -1 when unknown */
};

/* Fills err from a failed result (NULL: from the connection) and sets db's error position. Returns false. */
bool pd_db_set_query_error(PdDb *db, const PGresult *result, PdError *err);

#endif
