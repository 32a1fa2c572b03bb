/*
 * db.h - a PostgreSQL connection and the few calls the rest of prodata needs
 * on it, over libpq. Connection settings are libpq's own: a conninfo string or
 * URI, the PG* environment variables and ~/.pgpass. Every server error
 * becomes a PdError with the sqlstate, PostgreSQL's message, detail and hint;
 * a lock timeout (55P03) gets its own code. Values travel only as parameters.
 * One PdDb per thread.
 */
#ifndef PRODATA_DB_H
#define PRODATA_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "prodata/arena.h"
#include "prodata/error.h"

typedef struct PdDb PdDb;

/*
 * Connects; conninfo "" uses the PG* variables. The attempt is bounded to 10 s
 * unless conninfo or PGCONNECT_TIMEOUT sets connect_timeout.
 * Errors: PD_ERR_INVALID_INPUT for a conninfo that does not parse (its text is
 * never quoted: it may hold a password), PD_ERR_DB_CONNECT.
 */
bool pd_db_connect(const char *conninfo, PdDb **db, PdError *err);
void pd_db_close(PdDb *db);

/* Runs one or more statements with the simple protocol, no parameters, no rows wanted. */
bool pd_db_exec(PdDb *db, const char *sql, PdError *err);

/*
 * Runs one statement with text parameters (NULL for SQL NULL). The result is
 * freed with the arena. Errors: PD_ERR_DB_QUERY (sqlstate set), PD_ERR_LOCK_TIMEOUT.
 */
bool pd_db_query(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
                 PGresult **result, PdError *err);

/* The byte offset (from 0) in the last statement sent where the server placed its error, or -1. */
int pd_db_error_position(const PdDb *db);

PGconn *pd_db_connection(PdDb *db);

/* A handle with which a signal handler may cancel the running statement (PQcancel is async-signal-safe).
 * Owned by db; valid until pd_db_close. NULL when libpq could not make one. */
PGcancel *pd_db_cancel_handle(PdDb *db);

/* conninfo with any password replaced by "********", for logs and messages. Arena-allocated. */
char *pd_db_mask_conninfo(PdArena *arena, const char *conninfo);

/* True when conninfo parses as libpq's keyword form or URI ("" does). */
bool pd_db_is_valid_conninfo(const char *conninfo);

/* True when conninfo (keyword form or URI) carries a password, or does not parse (it might). */
bool pd_db_conninfo_has_password(const char *conninfo);

#endif
