/*
 * connection.h - what the files of src/db share about one connection (private
 * to src/db): the PdDb struct around libpq's PGconn, its cache of prepared
 * statements, the request session it carries, and the translation of a
 * failed result into a PdError. Nothing outside src/db includes it.
 */
#ifndef PRODATA_DB_CONNECTION_H
#define PRODATA_DB_CONNECTION_H

#include <stdint.h>

#include <libpq-fe.h>

#include "prodata/db.h"

struct PdDbCancel
{
    PGcancel *handle;
};

/* One statement prepared on the connection, keyed by its SQL text. */
typedef struct PdDbStatement PdDbStatement;
struct PdDbStatement
{
    PdDbStatement *chain; /* next in the same hash bucket */
    PdDbStatement *newer; /* least-recently-used list: towards the most recent */
    PdDbStatement *older;
    uint64_t hash;
    size_t sql_length;
    char name[24]; /* "pd_s<n>": ours only, so it never needs quoting */
    char sql[];    /* the text, NUL-terminated */
};

/* The prepared statements of one connection: a hash table by SQL text plus a LRU list, at most capacity. */
typedef struct PdDbStatementCache
{
    PdDbStatement **buckets; /* bucket_count heads, allocated on the first insert */
    size_t bucket_count;     /* a power of two, at least twice capacity */
    size_t count;
    size_t capacity;
    PdDbStatement *newest;
    PdDbStatement *oldest;
    uint64_t next_id;
} PdDbStatementCache;

struct PdDb
{
    PGconn *connection;
    PdDbCancel cancel;          /* handle NULL when libpq could not make one */
    int error_position;         /* of the last failed statement, -1 when unknown */
    bool is_broken;             /* a statement found the server gone (PD_ERR_DB_GONE): a pool closes it */
    bool is_listening;          /* LISTEN was run: a pool runs UNLISTEN * on release */
    const PdDbSession *session; /* the caller's, NULL for none */
    PdDbWaitFn wait;            /* NULL: libpq blocks for answers */
    void *wait_context;
    PdDbMux *mux;    /* on a share: the multiplexed connection its statements go through */
    PdDbWakeFn wake; /* on a share: how the caller ahead wakes this one */
    PdDbStatementCache statements;
};

/* Statements kept prepared per connection when nobody says otherwise. */
#define PD_DB_STATEMENT_CACHE_DEFAULT 256

/* Fills err from a failed result (NULL: from the connection) and sets db's error position. Returns false.
 * A PD_ERR_DB_GONE marks db broken. */
bool pd_db_set_query_error(PdDb *db, const PGresult *result, PdError *err);

/* How the pool connects: every bound explicit. */
typedef struct PdDbConnectOptions
{
    const char *conninfo;
    int connect_timeout_ms;       /* the whole attempt, per host named; > 0 */
    const char *application_name; /* NULL: the conninfo's, else "prodata" */
    int statement_timeout_ms;     /* 0: the server's */
    int prepared_cache_size;      /* 0: PD_DB_STATEMENT_CACHE_DEFAULT */
} PdDbConnectOptions;

/* Connects without blocking past options->connect_timeout_ms per host (libpq's multi-host list and
 * target_session_attrs are followed), waiting for the socket with poll() or, when wait is not NULL, through
 * wait(context, ...) (a coroutine's: the thread serves others meanwhile); the PdDb then has that wait set.
 * libpq resolves a host name itself, blocking (hostaddr avoids it). Errors: PD_ERR_INVALID_INPUT (conninfo),
 * PD_ERR_DB_CONNECT. */
bool pd_db_connect_bounded(const PdDbConnectOptions *options, PdDbWaitFn wait, void *context, PdDb **db,
                           PdError *err);

/* Wraps a connected PGconn (taken over, finished on failure) into a new PdDb. */
bool pd_db_wrap(PGconn *connection, PdDb **db, PdError *err);

/* Ties a successful result to the arena (charged against its budget, cleared with it). */
bool pd_db_adopt_result(PdArena *arena, PGresult *answer, PdDbResult **result, PdError *err);

/* The statement for sql, prepared now on a miss (evicting the least recently used with DEALLOCATE when
 * full). Not in pipeline mode. The entry lives until evicted or forgotten. */
bool pd_db_statement_get(PdDb *db, const char *sql, int param_count, PdDbStatement **statement, PdError *err);

/* For a connection in pipeline mode (mux.c): the cached statement for sql, or a new entry whose Prepare is
 * sent now and left unanswered (*steps 1: the reader takes its result before the statement's own). The
 * entry it evicts is deallocated in a segment of its own, before (*prefix_syncs counts such segments:
 * their results, errors included, are only read past). */
bool pd_db_statement_send(PdDb *db, const char *sql, int param_count, PdDbStatement **statement, int *steps,
                          int *prefix_syncs, PdError *err);
/* The cached statement for sql, or NULL: a lookup that prepares nothing. */
PdDbStatement *pd_db_statement_find(PdDb *db, const char *sql);

/* Sends DEALLOCATE name and a Sync: a segment of its own (pipeline mode). */
bool pd_db_statement_send_deallocate(PdDb *db, const char *name, PdError *err);

/* Drops statement from the cache; with deallocate, also from the server (errors ignored: the server may
 * already have lost it). */
void pd_db_statement_forget(PdDb *db, PdDbStatement *statement, bool deallocate);

/* Frees the cache's memory (the server side goes with the connection). */
void pd_db_statements_free(PdDb *db);

/* Whether err says a cached statement must be prepared again: 26000 (it no longer exists: DEALLOCATE ALL,
 * DISCARD ALL) or 0A000 (cached plan must not change result type, after a schema change). */
bool pd_db_statement_is_stale(const PdError *err);

/* Runs sql (prepared when is_prepared) as the session's statement: BEGIN; set_config(...); sql; COMMIT in one
 * round trip. Precondition: a session is set and no transaction is open. */
bool pd_db_session_query(PdArena *arena, PdDb *db, const char *sql, bool is_prepared, int param_count,
                         const char *const *params, PdDbResult **result, PdError *err);

/* Returns once PQgetResult can answer without blocking: at once without a wait function, else after
 * flushing what is unsent and reading as long as libpq is busy, waiting through it for the socket (or
 * until the connection fails). */
void pd_db_await(PdDb *db);
/* The same for a connection and a wait function (mux.c's shares); false when the connection failed. */
bool pd_db_await_connection(PGconn *connection, PdDbWaitFn wait, void *context);

/* What PQexec would return for the statement just sent (sent: the PQsend* call's return): every result
 * read, the first error kept, else the last. NULL when nothing was sent or nothing came back. */
PGresult *pd_db_collect(PdDb *db, int sent);

/* A statement on a share (mux.c): sent in the multiplexed connection's pipeline, its answer awaited in turn.
 */
bool pd_db_mux_query(PdArena *arena, PdDb *share, const char *sql, bool is_prepared, int param_count,
                     const char *const *params, PdDbResult **result, PdError *err);

/* Whether a session must wrap the next statement: one is set and no transaction is open. */
bool pd_db_session_wraps(const PdDb *db);

#endif
