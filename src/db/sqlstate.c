/*
 * sqlstate.c - the table from PostgreSQL's SQLSTATE to a PdError code and
 * whether trying again may succeed. Callers act on the code without reading
 * text: a constraint that refused a value is the client's input error (HTTP
 * 400), a serialization failure or deadlock is retried, and "the server went
 * away" (shutdown, crash, lost connection, or a read-only transaction on a
 * demoted primary) is told apart from a query error, because a pool or a
 * keeper reconnects, possibly elsewhere, instead of giving up. Exact codes are
 * looked up first, then two-character classes.
 */
#include "db/sqlstate.h"

#include <stdio.h>
#include <string.h>

typedef struct SqlstateRow
{
    const char *sqlstate; /* five characters, or two for a whole class */
    PdDbSqlstateClass class;
} SqlstateRow;

static const SqlstateRow sqlstate_table[] = {
    {"23502", {PD_ERR_INVALID_INPUT, false, true}}, /* not_null_violation */
    {"23503", {PD_ERR_INVALID_INPUT, false, true}}, /* foreign_key_violation */
    {"23505", {PD_ERR_INVALID_INPUT, false, true}}, /* unique_violation */
    {"23514", {PD_ERR_INVALID_INPUT, false, true}}, /* check_violation */
    {"42501", {PD_ERR_FORBIDDEN, false, false}},    /* insufficient_privilege: a GRANT the role lacks */
    {"40001", {PD_ERR_DB_QUERY, true, false}},      /* serialization_failure */
    {"40P01", {PD_ERR_DB_QUERY, true, false}},      /* deadlock_detected */
    {"55P03", {PD_ERR_LOCK_TIMEOUT, true, false}},  /* lock_not_available (lock_timeout) */
    {"25006", {PD_ERR_DB_GONE, true, false}},       /* read_only_sql_transaction: a demoted primary */
    {"57P01", {PD_ERR_DB_GONE, true, false}},       /* admin_shutdown */
    {"57P02", {PD_ERR_DB_GONE, true, false}},       /* crash_shutdown */
    {"57P03", {PD_ERR_DB_GONE, true, false}},       /* cannot_connect_now */
    {"53300", {PD_ERR_DB_CONNECT, true, false}}, /* too_many_connections: up but full, may let us in later */
    /* protocol_violation from a server still there is the client's bug (a parameter count that does not
     * match): retrying sends it again. A connection lost mid-statement is told by libpq's state instead. */
    {"08P01", {PD_ERR_DB_QUERY, false, false}},
    {"08", {PD_ERR_DB_GONE, true, false}}, /* connection_exception, the whole class */
};

PdDbSqlstateClass
pd_db_sqlstate_classify(const char *sqlstate)
{
    PdDbSqlstateClass plain = {PD_ERR_DB_QUERY, false, false};
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return plain;
    size_t count = sizeof(sqlstate_table) / sizeof(sqlstate_table[0]);
    for (size_t i = 0; i < count; i++)
        if (strcmp(sqlstate_table[i].sqlstate, sqlstate) == 0)
            return sqlstate_table[i].class;
    for (size_t i = 0; i < count; i++)
        if (strlen(sqlstate_table[i].sqlstate) == 2 && strncmp(sqlstate_table[i].sqlstate, sqlstate, 2) == 0)
            return sqlstate_table[i].class;
    return plain;
}

bool
pd_db_key_columns(const char *detail, char *buf, size_t size)
{
    if (size > 0)
        buf[0] = '\0';
    const char *start = detail != NULL ? strstr(detail, "Key (") : NULL;
    if (start == NULL)
        return false;
    start += strlen("Key (");
    /* The values follow ")=(": a column list never holds that, an expression index's text hardly. */
    const char *end = strstr(start, ")=(");
    if (end == NULL || end == start)
        return false;
    snprintf(buf, size, "%.*s", (int)(end - start), start);
    return true;
}
