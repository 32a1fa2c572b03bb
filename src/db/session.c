/*
 * session.c - the request's identity on a connection, and transactions. With
 * a session set (a role and set_config settings, the REST layer's JWT role
 * and claims), a statement outside a transaction runs as
 *     BEGIN; SELECT set_config('role', $1, true), set_config($2, $3, true)...;
 *     <statement>; COMMIT
 * sent in one round trip with libpq's pipeline mode: the settings are local to
 * that transaction, so nothing of one request's identity outlives its
 * statement or leaks to the next user of a pooled connection. The values are
 * parameters; the set_config statement is prepared once per setting count.
 * A step that fails aborts the rest of the pipeline (libpq reports them
 * PGRES_PIPELINE_ABORTED); the transaction it leaves open is rolled back. A
 * role that does not exist or cannot be assumed is PD_ERR_FORBIDDEN. With no
 * session (or inside a transaction, where pd_db_begin already applied it)
 * statements go out as they are: no extra round trip.
 */
#include <stdio.h>
#include <string.h>

#include "db/connection.h"

/* One statement of a pipeline: a prepared statement's name, or SQL text sent unnamed. */
typedef struct PipelineStep
{
    const char *name;
    const char *sql;
    int param_count;
    const char *const *params;
} PipelineStep;

/* The steps of one session pipeline and what they refer to. */
typedef struct SessionPipeline
{
    PipelineStep steps[4];
    size_t step_count;
    size_t statement_step; /* index of the caller's statement, or step_count when none */
    const char *params[1 + 2 * PD_DB_SESSION_MAX_SETTINGS];
    char sql[64 + 40 * PD_DB_SESSION_MAX_SETTINGS];
} SessionPipeline;

enum
{
    STEP_BEGIN = 0,
    STEP_SESSION = 1,
};

void
pd_db_set_session(PdDb *db, const PdDbSession *session)
{
    db->session = session;
}

bool
pd_db_session_wraps(const PdDb *db)
{
    const PdDbSession *session = db->session;
    if (session == NULL || (session->role == NULL && session->setting_count == 0))
        return false;
    return PQtransactionStatus(db->connection) == PQTRANS_IDLE;
}

/* The set_config statement for the session and its parameters. */
static bool
build_session_step(const PdDbSession *session, SessionPipeline *pipeline, PdError *err)
{
    if (session->setting_count > PD_DB_SESSION_MAX_SETTINGS)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a session holds at most %d settings, not %zu",
                            PD_DB_SESSION_MAX_SETTINGS, session->setting_count);
    int count = 0;
    size_t length = (size_t)snprintf(pipeline->sql, sizeof(pipeline->sql), "SELECT ");
    if (session->role != NULL)
    {
        pipeline->params[count++] = session->role;
        length += (size_t)snprintf(pipeline->sql + length, sizeof(pipeline->sql) - length,
                                   "set_config('role', $1, true)");
    }
    for (size_t i = 0; i < session->setting_count; i++)
    {
        pipeline->params[count] = session->settings[i].name;
        pipeline->params[count + 1] = session->settings[i].value;
        length +=
            (size_t)snprintf(pipeline->sql + length, sizeof(pipeline->sql) - length,
                             "%sset_config($%d, $%d, true)", count > 0 ? ", " : "", count + 1, count + 2);
        count += 2;
    }
    pipeline->steps[STEP_SESSION] = (PipelineStep){NULL, pipeline->sql, count, pipeline->params};
    return true;
}

/* BEGIN, the session's set_config, then (when sql is not NULL) the statement and COMMIT. */
static bool
build_pipeline(PdDb *db, const char *sql, bool is_prepared, int param_count, const char *const *params,
               SessionPipeline *pipeline, PdDbStatement **statement, PdError *err)
{
    pipeline->steps[STEP_BEGIN] = (PipelineStep){NULL, "BEGIN", 0, NULL};
    if (!build_session_step(db->session, pipeline, err))
        return false;
    PdDbStatement *session_statement = NULL;
    if (!pd_db_statement_get(db, pipeline->sql, pipeline->steps[STEP_SESSION].param_count, &session_statement,
                             err))
        return false;
    pipeline->steps[STEP_SESSION].name = session_statement->name;
    pipeline->step_count = 2;
    pipeline->statement_step = 2;
    if (sql == NULL)
        return true;
    PipelineStep *step = &pipeline->steps[pipeline->step_count++];
    *step = (PipelineStep){NULL, sql, param_count, params};
    if (is_prepared)
    {
        if (!pd_db_statement_get(db, sql, param_count, statement, err))
            return false;
        step->name = (*statement)->name;
    }
    pipeline->steps[pipeline->step_count++] = (PipelineStep){NULL, "COMMIT", 0, NULL};
    return true;
}

static bool
send_steps(PdDb *db, const SessionPipeline *pipeline, PdError *err)
{
    PGconn *connection = db->connection;
    for (size_t i = 0; i < pipeline->step_count; i++)
    {
        const PipelineStep *step = &pipeline->steps[i];
        int sent = step->name != NULL ? PQsendQueryPrepared(connection, step->name, step->param_count,
                                                            step->params, NULL, NULL, 0)
                                      : PQsendQueryParams(connection, step->sql, step->param_count, NULL,
                                                          step->params, NULL, NULL, 0);
        if (sent != 1)
            return pd_db_set_query_error(db, NULL, err);
    }
    return PQpipelineSync(connection) == 1 || pd_db_set_query_error(db, NULL, err);
}

/*
 * Reads every step's results, then the sync. The statement step's result goes to *kept; the first error
 * fills err and *failed_step. A connection lost on the way ends the reading (libpq then has no more).
 */
static bool
read_steps(PdDb *db, const SessionPipeline *pipeline, PGresult **kept, size_t *failed_step, PdError *err)
{
    bool ok = true;
    for (size_t i = 0; i < pipeline->step_count && PQstatus(db->connection) == CONNECTION_OK; i++)
    {
        PGresult *result;
        while (pd_db_await(db), (result = PQgetResult(db->connection)) != NULL)
        {
            ExecStatusType status = PQresultStatus(result);
            if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            {
                if (i == pipeline->statement_step && *kept == NULL)
                {
                    *kept = result;
                    continue;
                }
            }
            else if (status != PGRES_PIPELINE_ABORTED && ok)
            {
                ok = false;
                *failed_step = i;
                pd_db_set_query_error(db, result, err);
            }
            PQclear(result);
        }
    }
    pd_db_await(db);
    PGresult *sync = PQgetResult(db->connection);
    bool is_synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (ok && !is_synced)
    {
        ok = false;
        *failed_step = pipeline->step_count;
        pd_db_set_query_error(db, NULL, err);
    }
    return ok;
}

/* Leaves pipeline mode, draining what is left; a connection that cannot leave it is broken. */
static void
leave_pipeline(PdDb *db)
{
    for (int tries = 0; tries < 8 && PQexitPipelineMode(db->connection) != 1; tries++)
    {
        PGresult *result;
        while (pd_db_await(db), (result = PQgetResult(db->connection)) != NULL)
            PQclear(result);
        if (PQstatus(db->connection) != CONNECTION_OK)
            break;
    }
    if (PQpipelineStatus(db->connection) != PQ_PIPELINE_OFF)
        db->is_broken = true;
}

/* A role the login cannot become: 42704/22023 (no such role) or 42501 (not a member). */
static void
map_session_error(PdError *err)
{
    if (strcmp(err->sqlstate, "42501") == 0 || strcmp(err->sqlstate, "22023") == 0 ||
        strcmp(err->sqlstate, "42704") == 0)
    {
        err->code = PD_ERR_FORBIDDEN;
        err->is_retryable = false;
    }
}

/* Runs the pipeline; on failure rolls back what it opened. *kept: the statement's result (caller clears). */
static bool
run_pipeline(PdDb *db, const SessionPipeline *pipeline, PGresult **kept, size_t *failed_step, PdError *err)
{
    *kept = NULL;
    *failed_step = pipeline->step_count;
    if (PQenterPipelineMode(db->connection) != 1)
        return pd_db_set_query_error(db, NULL, err);
    bool ok = send_steps(db, pipeline, err) && read_steps(db, pipeline, kept, failed_step, err);
    leave_pipeline(db);
    if (ok)
        return true;
    PQclear(*kept);
    *kept = NULL;
    if (*failed_step == STEP_SESSION)
        map_session_error(err);
    if (PQstatus(db->connection) == CONNECTION_OK && PQtransactionStatus(db->connection) != PQTRANS_IDLE)
        PQclear(pd_db_collect(db, PQsendQuery(db->connection, "ROLLBACK")));
    return false;
}

bool
pd_db_session_query(PdArena *arena, PdDb *db, const char *sql, bool is_prepared, int param_count,
                    const char *const *params, PdDbResult **result, PdError *err)
{
    for (int attempt = 0;; attempt++)
    {
        SessionPipeline pipeline;
        PdDbStatement *statement = NULL;
        PGresult *answer = NULL;
        size_t failed_step = 0;
        if (!build_pipeline(db, sql, is_prepared, param_count, params, &pipeline, &statement, err))
            return false;
        if (run_pipeline(db, &pipeline, &answer, &failed_step, err))
            return pd_db_adopt_result(arena, answer, result, err);
        /* A cached statement the server lost or whose plan went stale: prepared again, tried once more. */
        if (attempt > 0 || statement == NULL || failed_step != pipeline.statement_step ||
            !pd_db_statement_is_stale(err) || PQstatus(db->connection) != CONNECTION_OK)
            return false;
        pd_db_statement_forget(db, statement, strcmp(err->sqlstate, "0A000") == 0);
    }
}

static bool
run_simple(PdDb *db, const char *sql, PdError *err)
{
    PGresult *result = pd_db_collect(db, PQsendQuery(db->connection, sql));
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ok)
        pd_db_set_query_error(db, result, err);
    PQclear(result);
    return ok;
}

bool
pd_db_begin(PdDb *db, PdError *err)
{
    if (db->mux != NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "a shared connection runs no transaction");
    if (PQtransactionStatus(db->connection) != PQTRANS_IDLE)
        return pd_error_set(err, PD_ERR_INTERNAL, "a transaction is already open on this connection");
    if (!pd_db_session_wraps(db))
        return run_simple(db, "BEGIN", err);
    SessionPipeline pipeline;
    PGresult *answer = NULL;
    size_t failed_step = 0;
    return build_pipeline(db, NULL, false, 0, NULL, &pipeline, NULL, err) &&
           run_pipeline(db, &pipeline, &answer, &failed_step, err);
}

bool
pd_db_commit(PdDb *db, PdError *err)
{
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: the caller must hear that nothing was kept. */
    bool was_failed = PQtransactionStatus(db->connection) == PQTRANS_INERROR;
    if (!run_simple(db, "COMMIT", err))
        return false;
    if (was_failed)
        return pd_error_set(err, PD_ERR_DB_QUERY,
                            "the transaction was rolled back: a statement in it failed");
    return true;
}

bool
pd_db_rollback(PdDb *db, PdError *err)
{
    return run_simple(db, "ROLLBACK", err);
}

/* [a-z_][a-z0-9_]{0,62}: a name that needs no escaping and fits PostgreSQL's 63 bytes. */
static bool
is_savepoint_name(const char *name)
{
    if (name == NULL || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    size_t length = 1;
    for (; name[length] != '\0'; length++)
        if (!((name[length] >= 'a' && name[length] <= 'z') || (name[length] >= '0' && name[length] <= '9') ||
              name[length] == '_'))
            return false;
    return length <= 63;
}

static bool
run_savepoint(PdDb *db, const char *verb, const char *name, PdError *err)
{
    if (!is_savepoint_name(name))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "invalid savepoint name");
        return pd_error_hint(
            err, "Use lower-case letters, digits and underscores (at most 63), not first a digit.");
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "%s \"%s\"", verb, name);
    return run_simple(db, sql, err);
}

bool
pd_db_savepoint(PdDb *db, const char *name, PdError *err)
{
    return run_savepoint(db, "SAVEPOINT", name, err);
}

bool
pd_db_release_savepoint(PdDb *db, const char *name, PdError *err)
{
    return run_savepoint(db, "RELEASE SAVEPOINT", name, err);
}

bool
pd_db_rollback_to_savepoint(PdDb *db, const char *name, PdError *err)
{
    return run_savepoint(db, "ROLLBACK TO SAVEPOINT", name, err);
}
