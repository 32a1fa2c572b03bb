/*
 * db.h - a PostgreSQL connection and the few calls the rest of prodata needs
 * on it. Connection settings are libpq's own: a conninfo string or URI, the
 * PG* environment variables and ~/.pgpass. Every server error becomes a
 * PdError with the sqlstate, PostgreSQL's message, detail and hint, and a code
 * from the sqlstate (see pd_db_query). Values travel only as parameters and
 * come back as text. No libpq type appears here: users of libprodata need no
 * libpq header. The server's notices and warnings go to the log module
 * (pd_log at PD_LOG_NOTICE, PD_LOG_WARNING, ... with fields sqlstate, detail,
 * hint), silent unless the program installs a handler. One PdDb per thread.
 */
#ifndef PRODATA_DB_H
#define PRODATA_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdDb PdDb;

/* The rows of one query: text values, owned by the arena pd_db_query was given. */
typedef struct PdDbResult PdDbResult;

/* A handle with which a signal handler may cancel the statement running on a connection. */
typedef struct PdDbCancel PdDbCancel;

/* Where the connection stands with respect to transactions (libpq's PQtransactionStatus). */
typedef enum PdDbTxState
{
    PD_DB_TX_IDLE,           /* no transaction open */
    PD_DB_TX_ACTIVE,         /* a statement is running */
    PD_DB_TX_IN_TRANSACTION, /* inside a transaction block, no error */
    PD_DB_TX_FAILED,         /* inside a failed transaction block: only ROLLBACK will do */
    PD_DB_TX_UNKNOWN,        /* the connection is bad */
} PdDbTxState;

/*
 * Connects; conninfo "" uses the PG* variables. The attempt is bounded to 10 s
 * unless conninfo or PGCONNECT_TIMEOUT sets connect_timeout. The PdDb is the
 * caller's, closed with pd_db_close.
 * Errors: PD_ERR_INVALID_INPUT for a conninfo that does not parse (as
 * pd_db_conninfo_check: a value is never quoted, it may be a password),
 * PD_ERR_DB_CONNECT.
 */
bool pd_db_connect(const char *conninfo, PdDb **db, PdError *err);

/* Closes the connection and frees db and its cancel handle. NULL is a no-op. */
void pd_db_close(PdDb *db);

/*
 * Runs one or more statements with the simple protocol, no parameters, no rows
 * wanted. Errors as pd_db_query.
 */
bool pd_db_exec(PdDb *db, const char *sql, PdError *err);

/*
 * Runs one statement with text parameters (NULL for SQL NULL). *result lives
 * as long as the arena: libpq's copy is freed with it and its size is charged
 * against the arena's budget. Errors, from the sqlstate:
 *   PD_ERR_INVALID_INPUT: a constraint refused a value (23502 not null, 23503
 *     foreign key, 23505 unique, 23514 check); err->constraint and err->field
 *     (the column) are set when the server names them;
 *   PD_ERR_LOCK_TIMEOUT (55P03), retryable;
 *   PD_ERR_DB_GONE: the connection was lost, the server is shutting down or
 *     cannot accept connections now (57P01-57P03, class 08 but 08P01), or the transaction
 *     is read-only (25006: a demoted primary), retryable on another connection;
 *   PD_ERR_DB_CONNECT, retryable, for 53300 (too many connections);
 *   PD_ERR_DB_QUERY for the rest, 08P01 (protocol violation: a parameter count that does not match)
 *     included; retryable for 40001 (serialization) and 40P01 (deadlock);
 *   PD_ERR_TOO_LARGE when the result does not fit the arena's budget.
 * err->sqlstate, detail and hint are the server's.
 */
bool pd_db_query(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
                 PdDbResult **result, PdError *err);

size_t pd_db_result_row_count(const PdDbResult *result);
/* Rows the statement inserted, updated, deleted or selected (its command tag's count); -1 when it has none. */
long long pd_db_result_affected(const PdDbResult *result);
size_t pd_db_result_column_count(const PdDbResult *result);

/* The column's name; NULL when column is out of range. Lives as long as the result. */
const char *pd_db_result_column_name(const PdDbResult *result, size_t column);

/*
 * The value's text ("" for SQL NULL: ask pd_db_result_is_null), NUL-terminated,
 * living as long as the result. NULL when row or column is out of range.
 */
const char *pd_db_result_value(const PdDbResult *result, size_t row, size_t column);
bool pd_db_result_is_null(const PdDbResult *result, size_t row, size_t column);

/* The value's length in bytes (0 for NULL or out of range). */
size_t pd_db_result_length(const PdDbResult *result, size_t row, size_t column);

/* The byte offset (from 0) in the last statement sent where the server placed its error, or -1. */
int pd_db_error_position(const PdDb *db);

PdDbTxState pd_db_transaction_state(const PdDb *db);

/*
 * The cancel handle of db: owned by db, valid until pd_db_close. NULL when
 * libpq could not make one.
 */
PdDbCancel *pd_db_cancel_handle(PdDb *db);

/*
 * Asks the server to cancel the statement running on the handle's connection.
 * Async-signal-safe (a signal handler may call it); NULL is a no-op. False when
 * the request could not be sent; a statement that already ended is not an error.
 */
bool pd_db_cancel_send(PdDbCancel *cancel);

/*
 * conninfo with every secret option (password, sslpassword, any keyword libpq
 * marks as secret) replaced by "********", for logs and messages.
 * Arena-allocated; NULL on exhaustion.
 */
char *pd_db_mask_conninfo(PdArena *arena, const char *conninfo);

/* True when conninfo parses as libpq's keyword form or URI ("" does). */
bool pd_db_is_valid_conninfo(const char *conninfo);

/*
 * True when conninfo parses as libpq's keyword form or URI ("" does); else
 * false with PD_ERR_INVALID_INPUT saying what is wrong without quoting any
 * value (a value may be a password; libpq's own message may quote one): an
 * unknown keyword is named (`unknown connection keyword "hots"`, err->field
 * set to it, the hint naming the closest known keyword), unless it follows
 * an unquoted secret and is close to no keyword (then it may be the rest of
 * that secret: a password with a space); a word without "=" is
 * named only when it is a keyword; an unterminated quote by the keyword
 * whose value it opens; anything else is "not a valid connection string".
 * Errors: PD_ERR_INVALID_INPUT, PD_ERR_NO_MEMORY.
 */
bool pd_db_conninfo_check(const char *conninfo, PdError *err);

/*
 * Where a connection to conninfo takes its host, port, dbname, user and
 * password from, for a failed connect's error: conninfo itself (named by
 * source, e.g. "database (prodata.conf:3)"; NULL: "the connection string"),
 * a PG* variable of environ_list ("NAME=value" strings, NULL-terminated: the
 * caller's environment, as the library reads none), a service (the
 * conninfo's or PGSERVICE: then "unless service "x" sets it"), or libpq's
 * default (the user: the operating system user; dbname: the user name). One
 * line, values quoted, a password never shown, only where it comes from:
 *   host "db" from database (prodata.conf:3), port 5499 from PGPORT,
 *   dbname "shop" from database (prodata.conf:3), user "alice" by libpq's
 *   default (the operating system user), password looked up in ~/.pgpass
 *   (none given)
 * Arena-allocated; NULL when conninfo does not parse or the arena is
 * exhausted.
 */
char *pd_db_conninfo_origins(PdArena *arena, const char *conninfo, const char *source,
                             const char *const *environ_list);

/* True when conninfo (keyword form or URI) carries a secret (a password,
 * sslpassword, ...), or does not parse (it might). */
bool pd_db_conninfo_has_password(const char *conninfo);

/*
 * As pd_db_query, but the statement is prepared once per connection and
 * reused: a cache keyed by the SQL text, bounded (the pool's
 * prepared_cache_size, else 256 statements), the least recently used dropped
 * with DEALLOCATE. A hit costs a hash of the text and one round trip. A cached
 * statement the server lost (26000) or whose plan a schema change made stale
 * (0A000 "cached plan must not change result type") is prepared again and the
 * statement retried once, when no transaction was open. With a session set
 * and no transaction open, it runs inside the session's one-round-trip
 * transaction (pd_db_set_session). Errors as pd_db_query, plus
 * PD_ERR_FORBIDDEN (42501, or a session role that cannot be assumed).
 */
bool pd_db_query_prepared(PdArena *arena, PdDb *db, const char *sql, int param_count,
                          const char *const *params, PdDbResult **result, PdError *err);

/* A setting for set_config(name, value, true): "request.jwt.claims", "request.jwt.sub", ... */
typedef struct PdDbSetting
{
    const char *name;
    const char *value;
} PdDbSetting;

/* At most this many settings in one session. */
#define PD_DB_SESSION_MAX_SETTINGS 16

/* The request's identity: the role to act as (NULL: the login role) and settings local to its transaction. */
typedef struct PdDbSession
{
    const char *role;
    const PdDbSetting *settings;
    size_t setting_count;
} PdDbSession;

/*
 * Sets the request's identity on db. While set, every statement outside an
 * explicit transaction (pd_db_query, pd_db_query_prepared, pd_db_exec) runs as
 *     BEGIN; SELECT set_config('role', $1, true), set_config($2, $3, true)...;
 *     <statement>; COMMIT
 * sent in ONE round trip (libpq's pipeline mode; pd_db_exec, whose text may
 * hold several statements, takes three); pd_db_begin sends BEGIN and the
 * set_config the same way. The values are parameters, never SQL text, and
 * are gone when the transaction ends. A role that does not exist or cannot
 * be assumed (42704, 22023, 42501) is PD_ERR_FORBIDDEN with the server's
 * message; more than PD_DB_SESSION_MAX_SETTINGS is PD_ERR_INVALID_INPUT.
 * NULL (or a session with no role and no settings): plain statements. The
 * session and what it points to must stay valid until cleared
 * (pd_db_set_session(db, NULL), or pd_pool_release).
 */
void pd_db_set_session(PdDb *db, const PdDbSession *session);

/*
 * Transactions: BEGIN (with the session's identity when one is set), COMMIT,
 * ROLLBACK. pd_db_begin with a transaction already open is PD_ERR_INTERNAL.
 * pd_db_commit of a transaction a failed statement aborted rolls it back and
 * says so: PD_ERR_DB_QUERY "the transaction was rolled back: ...".
 */
bool pd_db_begin(PdDb *db, PdError *err);
bool pd_db_commit(PdDb *db, PdError *err);
bool pd_db_rollback(PdDb *db, PdError *err);

/*
 * Savepoints inside a transaction: name is [a-z_][a-z0-9_]{0,62} (else
 * PD_ERR_INVALID_INPUT), sent quoted. Rolling back to a savepoint undoes what
 * followed it, a failed statement included, and keeps the transaction.
 */
bool pd_db_savepoint(PdDb *db, const char *name, PdError *err);
bool pd_db_release_savepoint(PdDb *db, const char *name, PdError *err);
bool pd_db_rollback_to_savepoint(PdDb *db, const char *name, PdError *err);

/* LISTEN "channel" (1 to 63 bytes, quoted as an identifier). A pool unlistens it on release. */
bool pd_db_listen(PdDb *db, const char *channel, PdError *err);

/*
 * Waits up to timeout_ms (0: only what has already arrived) for a
 * notification on a channel db listens to. *received false on timeout (not an
 * error); else *channel and *payload ("" when none; either pointer may be
 * NULL) are copied into arena. Errors: PD_ERR_DB_GONE (connection lost),
 * PD_ERR_IO, PD_ERR_TOO_LARGE/PD_ERR_NO_MEMORY from the arena.
 */
bool pd_db_wait_notification(PdArena *arena, PdDb *db, int timeout_ms, bool *received, char **channel,
                             char **payload, PdError *err);

/* Whether db can still be used: libpq's state is good and no statement found the server gone. */
bool pd_db_is_usable(const PdDb *db);

/*
 * How a statement waits for the server. By default libpq blocks the calling
 * thread. With a wait function set, the connection is in libpq's nonblocking
 * mode: every statement is sent, its bytes flushed and its answer read through
 * wait(context, socket, what, timeout_ms), which must return true once socket
 * (the connection's) is ready for what (PD_DB_WAIT_READ, _WRITE, or either),
 * or false once timeout_ms passed (PD_DB_WAIT_FOREVER: no bound); it may
 * return true early (callers look again). With PD_DB_WAIT_WAKE it waits for
 * no socket but for wake(context) (a multiplexed connection's caller behind
 * others, a pool's queued acquirer). An event loop that runs requests as
 * coroutines answers others meanwhile. NULL restores the default (blocking
 * mode). A pool clears it on release.
 */
typedef enum PdDbWaitFor
{
    PD_DB_WAIT_READ = 1,       /* the socket is readable */
    PD_DB_WAIT_WRITE = 2,      /* the socket is writable */
    PD_DB_WAIT_READ_WRITE = 3, /* either (a flush that may need the server's answer read first) */
    PD_DB_WAIT_WAKE = 4,       /* no socket (pass PD_DB_NO_SOCKET): until wake(context) */
} PdDbWaitFor;
#define PD_DB_NO_SOCKET (-1)
#define PD_DB_WAIT_FOREVER (-1)
typedef bool (*PdDbWaitFn)(void *context, int socket, PdDbWaitFor what, int timeout_ms);
/* Ends a PD_DB_WAIT_WAKE wait of context's (for a pool: from any thread). */
typedef void (*PdDbWakeFn)(void *context);
void pd_db_set_wait(PdDb *db, PdDbWaitFn wait, void *context);

/*
 * A multiplexed connection: one connection in libpq's pipeline mode carrying
 * the single statements of many callers of one thread at once, each in its
 * own implicit transaction (a Sync after each), answered in the order sent.
 * The server reads a burst of statements in one wake-up, so reads go past
 * what one statement per connection allows. Each caller gets a share
 * (pd_db_mux_share): a PdDb on which pd_db_query and pd_db_query_prepared
 * work as usual; anything else (transactions, sessions, pd_db_exec, LISTEN)
 * is PD_ERR_INTERNAL. A caller waits for the socket through wait while it
 * is the oldest statement in flight, and, behind others, with
 * PD_DB_WAIT_WAKE until wake(context) (called by the caller ahead once
 * done, on the same thread). Writes belong on connections of their own:
 * statements of one connection commit one after the other.
 */
typedef struct PdDbMux PdDbMux;
/* Takes db (connected, no transaction) over for the multiplexer's life. */
bool pd_db_mux_new(PdDb *db, PdDbMux **mux, PdError *err);
/*
 * A group-commit multiplexer, for single-statement writes: the statements of
 * its shares run in shared transactions. The first statement while no
 * COMMIT is in flight commits at once (BEGIN, statement, COMMIT in one
 * round trip); statements that come while a COMMIT is being made durable
 * join the next transaction, committed as soon as that COMMIT is answered,
 * so one WAL flush serves all of them. A caller's answer comes only once its
 * transaction committed. A statement that fails gets its own error; the
 * others of its transaction get PD_ERR_ROLLED_BACK (nothing of them was
 * written) and must be run again on a connection of their own. begin_sql
 * (NULL: none) is a statement without parameters run after each BEGIN,
 * e.g. a SET LOCAL; the multiplexer keeps a copy.
 */
bool pd_db_mux_new_group(PdDb *db, const char *begin_sql, PdDbMux **mux, PdError *err);
/* The begin_sql the group multiplexer was made with (NULL: none). */
const char *pd_db_mux_begin_sql(const PdDbMux *mux);
/*
 * On a share of a group multiplexer whose COMMIT is in flight: parks the caller (its wait function, as for
 * a turn) until that COMMIT is answered or the connection breaks; returns at once when none is in flight
 * or share is not of a group. So a caller can gather work to send as one statement of the next transaction
 * (serve's creates of one model go as one multi-row INSERT).
 */
void pd_db_share_await_commit(PdDb *share);
/* Whether statements can still be sent: false once the connection broke (make a new one); checked with one
 * poll() while none is in flight. */
bool pd_db_mux_is_usable(PdDbMux *mux);
/* Statements sent and not yet answered, and callers still using the connection (members of a group until
 * they leave it, callers in pd_db_share_await_commit until they run again): free it only at 0. */
size_t pd_db_mux_in_flight(const PdDbMux *mux);
/* A share for one caller, allocated in arena (nothing to release). */
bool pd_db_mux_share(PdDbMux *mux, PdArena *arena, PdDbWaitFn wait, PdDbWakeFn wake, void *context,
                     PdDb **share, PdError *err);
/* Whether db is a share of a multiplexed connection. */
bool pd_db_is_share(const PdDb *db);
/* Gives the connection back (returned, for a pool to take it back or close it). In flight must be 0. */
PdDb *pd_db_mux_free(PdDbMux *mux);

PD_API_END

#endif
