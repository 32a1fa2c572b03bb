/*
 * statements.c - statements prepared once per connection and reused: the
 * cache behind pd_db_query_prepared. Keyed by the SQL text (FNV-1a hash,
 * chained buckets), bounded (capacity entries; the least recently used is
 * dropped with DEALLOCATE, so the server's memory stays bounded too), names
 * of our own ("pd_s<n>", never reused on a connection). A hit costs a hash of
 * the text and one comparison: no allocation, no round trip besides the
 * statement's own. A statement the server lost (26000: DEALLOCATE ALL,
 * DISCARD ALL) or whose plan a schema change made stale (0A000) is prepared
 * again and the statement retried once, when no transaction was open (inside
 * one, the error has already aborted it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"

/* The fewest statements a connection keeps: a session's pipeline needs four at once. */
#define MIN_CAPACITY 4

static uint64_t
hash_text(const char *text, size_t length)
{
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)text[i]) * 1099511628211ULL;
    return hash;
}

static PdDbStatement *
find(const PdDbStatementCache *cache, const char *sql, size_t length, uint64_t hash)
{
    if (cache->buckets == NULL)
        return NULL;
    for (PdDbStatement *entry = cache->buckets[hash & (cache->bucket_count - 1)]; entry != NULL;
         entry = entry->chain)
        if (entry->hash == hash && entry->sql_length == length && memcmp(entry->sql, sql, length) == 0)
            return entry;
    return NULL;
}

static void
lru_unlink(PdDbStatementCache *cache, PdDbStatement *entry)
{
    if (entry->newer != NULL)
        entry->newer->older = entry->older;
    else
        cache->newest = entry->older;
    if (entry->older != NULL)
        entry->older->newer = entry->newer;
    else
        cache->oldest = entry->newer;
    entry->newer = entry->older = NULL;
}

static void
lru_push(PdDbStatementCache *cache, PdDbStatement *entry)
{
    entry->older = cache->newest;
    entry->newer = NULL;
    if (cache->newest != NULL)
        cache->newest->newer = entry;
    cache->newest = entry;
    if (cache->oldest == NULL)
        cache->oldest = entry;
}

/* Takes entry out of its bucket and the LRU list and frees it. */
static void
remove_entry(PdDbStatementCache *cache, PdDbStatement *entry)
{
    PdDbStatement **link = &cache->buckets[entry->hash & (cache->bucket_count - 1)];
    while (*link != entry)
        link = &(*link)->chain;
    *link = entry->chain;
    lru_unlink(cache, entry);
    cache->count--;
    free(entry);
}

static bool
ensure_buckets(PdDbStatementCache *cache, PdError *err)
{
    if (cache->buckets != NULL)
        return true;
    if (cache->capacity < MIN_CAPACITY)
        cache->capacity = MIN_CAPACITY;
    size_t count = 16;
    while (count < cache->capacity * 2)
        count *= 2;
    cache->buckets = calloc(count, sizeof(*cache->buckets));
    if (cache->buckets == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the prepared statement cache");
    cache->bucket_count = count;
    return true;
}

static bool
run_command(PdDb *db, const char *sql, PdError *err)
{
    PGresult *result = pd_db_collect(db, PQsendQuery(db->connection, sql));
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ok)
        pd_db_set_query_error(db, result, err);
    PQclear(result);
    return ok;
}

/* Makes room for one more: the least recently used is deallocated on the server, then forgotten. */
static bool
evict_if_full(PdDb *db, PdError *err)
{
    PdDbStatementCache *cache = &db->statements;
    if (cache->count < cache->capacity || cache->oldest == NULL)
        return true;
    char sql[64];
    snprintf(sql, sizeof(sql), "DEALLOCATE %s", cache->oldest->name);
    /* 26000: the server lost it already (DEALLOCATE ALL), which is what was wanted. */
    if (!run_command(db, sql, err) && strcmp(err->sqlstate, "26000") != 0)
        return false;
    remove_entry(cache, cache->oldest);
    return true;
}

/* A new entry for sql (not yet prepared, not yet in the cache). */
static PdDbStatement *
entry_new(PdDbStatementCache *cache, const char *sql, size_t length, uint64_t hash)
{
    PdDbStatement *entry = malloc(sizeof(*entry) + length + 1);
    if (entry == NULL)
        return NULL;
    memset(entry, 0, sizeof(*entry));
    snprintf(entry->name, sizeof(entry->name), "pd_s%llu", (unsigned long long)++cache->next_id);
    memcpy(entry->sql, sql, length + 1);
    entry->sql_length = length;
    entry->hash = hash;
    return entry;
}

static void
entry_insert(PdDbStatementCache *cache, PdDbStatement *entry)
{
    size_t bucket = entry->hash & (cache->bucket_count - 1);
    entry->chain = cache->buckets[bucket];
    cache->buckets[bucket] = entry;
    lru_push(cache, entry);
    cache->count++;
}

static bool
prepare_new(PdDb *db, const char *sql, size_t length, uint64_t hash, int param_count,
            PdDbStatement **statement, PdError *err)
{
    PdDbStatementCache *cache = &db->statements;
    if (!ensure_buckets(cache, err) || !evict_if_full(db, err))
        return false;
    PdDbStatement *entry = entry_new(cache, sql, length, hash);
    if (entry == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the prepared statement cache");
    PGresult *result = pd_db_collect(db, PQsendPrepare(db->connection, entry->name, sql, param_count, NULL));
    if (PQresultStatus(result) != PGRES_COMMAND_OK)
    {
        pd_db_set_query_error(db, result, err);
        PQclear(result);
        free(entry);
        return false;
    }
    PQclear(result);
    entry_insert(cache, entry);
    *statement = entry;
    return true;
}

PdDbStatement *
pd_db_statement_find(PdDb *db, const char *sql)
{
    size_t length = strlen(sql);
    return find(&db->statements, sql, length, hash_text(sql, length));
}

bool
pd_db_statement_send_deallocate(PdDb *db, const char *name, PdError *err)
{
    char deallocate[64];
    snprintf(deallocate, sizeof(deallocate), "DEALLOCATE %s", name);
    if (PQsendQueryParams(db->connection, deallocate, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQpipelineSync(db->connection) != 1)
        return pd_db_set_query_error(db, NULL, err);
    return true;
}

bool
pd_db_statement_send(PdDb *db, const char *sql, int param_count, PdDbStatement **statement, int *steps,
                     int *prefix_syncs, PdError *err)
{
    PdDbStatementCache *cache = &db->statements;
    size_t length = strlen(sql);
    uint64_t hash = hash_text(sql, length);
    *steps = 0;
    PdDbStatement *entry = find(cache, sql, length, hash);
    if (entry != NULL)
    {
        lru_unlink(cache, entry);
        lru_push(cache, entry);
        *statement = entry;
        return true;
    }
    if (!ensure_buckets(cache, err))
        return false;
    if (cache->count >= cache->capacity && cache->oldest != NULL)
    {
        if (!pd_db_statement_send_deallocate(db, cache->oldest->name, err))
            return false;
        ++*prefix_syncs;
        remove_entry(cache, cache->oldest);
    }
    entry = entry_new(cache, sql, length, hash);
    if (entry == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the prepared statement cache");
    if (PQsendPrepare(db->connection, entry->name, sql, param_count, NULL) != 1)
    {
        free(entry);
        return pd_db_set_query_error(db, NULL, err);
    }
    ++*steps;
    entry_insert(cache, entry);
    *statement = entry;
    return true;
}

bool
pd_db_statement_get(PdDb *db, const char *sql, int param_count, PdDbStatement **statement, PdError *err)
{
    size_t length = strlen(sql);
    uint64_t hash = hash_text(sql, length);
    PdDbStatement *entry = find(&db->statements, sql, length, hash);
    if (entry == NULL)
        return prepare_new(db, sql, length, hash, param_count, statement, err);
    if (db->statements.newest != entry)
    {
        lru_unlink(&db->statements, entry);
        lru_push(&db->statements, entry);
    }
    *statement = entry;
    return true;
}

void
pd_db_statement_forget(PdDb *db, PdDbStatement *statement, bool deallocate)
{
    if (deallocate)
    {
        char sql[64];
        PdError ignored = {0};
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", statement->name);
        run_command(db, sql, &ignored);
    }
    remove_entry(&db->statements, statement);
}

void
pd_db_statements_free(PdDb *db)
{
    PdDbStatementCache *cache = &db->statements;
    while (cache->oldest != NULL)
        remove_entry(cache, cache->oldest);
    free(cache->buckets);
    cache->buckets = NULL;
    cache->bucket_count = 0;
}

bool
pd_db_statement_is_stale(const PdError *err)
{
    return strcmp(err->sqlstate, "26000") == 0 || strcmp(err->sqlstate, "0A000") == 0;
}

/* One attempt: the cached statement (prepared on a miss), executed. *statement says which was used. */
static bool
query_once(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
           PdDbStatement **statement, PdDbResult **result, PdError *err)
{
    if (!pd_db_statement_get(db, sql, param_count, statement, err))
        return false;
    PGresult *answer = pd_db_collect(
        db, PQsendQueryPrepared(db->connection, (*statement)->name, param_count, params, NULL, NULL, 0));
    ExecStatusType status = PQresultStatus(answer);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    {
        pd_db_set_query_error(db, answer, err);
        PQclear(answer);
        return false;
    }
    return pd_db_adopt_result(arena, answer, result, err);
}

bool
pd_db_query_prepared(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
                     PdDbResult **result, PdError *err)
{
    if (db->mux != NULL)
        return pd_db_mux_query(arena, db, sql, true, param_count, params, result, err);
    if (pd_db_session_wraps(db))
        return pd_db_session_query(arena, db, sql, true, param_count, params, result, err);
    PdDbStatement *statement = NULL;
    if (query_once(arena, db, sql, param_count, params, &statement, result, err))
        return true;
    /* Only the execution's own staleness is retried, and only outside a transaction it aborted. */
    if (statement == NULL || !pd_db_statement_is_stale(err) ||
        PQtransactionStatus(db->connection) != PQTRANS_IDLE)
        return false;
    pd_db_statement_forget(db, statement, strcmp(err->sqlstate, "0A000") == 0);
    statement = NULL;
    return query_once(arena, db, sql, param_count, params, &statement, result, err);
}
