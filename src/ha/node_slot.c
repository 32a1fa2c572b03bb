/*
 * node_slot.c - the node's SQL side: the local superuser connection (over the
 * socket in state_dir, peer authentication, bounded: 2 s to connect, 5 s a
 * statement), the replication role's SCRAM verifier, and one physical
 * replication slot per member on the primary. A slot is made with its WAL
 * reserved at once, so a standby cloned just after finds its WAL kept; making
 * and dropping are idempotent, so the keeper may repeat either after an
 * unknown outcome.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ha/node_run.h"

bool
pd_node_connect(PdNode *node, PdDb **db, PdError *err)
{
    char conninfo[sizeof node->local_conninfo + 64];
    snprintf(conninfo, sizeof conninfo, "%s options='-c statement_timeout=5000'", node->local_conninfo);
    return pd_db_connect(conninfo, db, err);
}

bool
pd_node_scram_verifier(PdArena *arena, const char *password, char **verifier, PdError *err)
{
    enum
    {
        ITERATIONS = 4096
    };
    unsigned char salt[16], salted[32], client_key[32], stored_key[32], server_key[32];
    unsigned int length = 0;
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt, ITERATIONS, EVP_sha256(),
                          sizeof salted, salted) != 1 ||
        HMAC(EVP_sha256(), salted, sizeof salted, (const unsigned char *)"Client Key", 10, client_key,
             &length) == NULL ||
        HMAC(EVP_sha256(), salted, sizeof salted, (const unsigned char *)"Server Key", 10, server_key,
             &length) == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "cannot compute the SCRAM verifier");
    SHA256(client_key, sizeof client_key, stored_key);
    char salt64[32], stored64[48], server64[48];
    EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)stored64, stored_key, sizeof stored_key);
    EVP_EncodeBlock((unsigned char *)server64, server_key, sizeof server_key);
    *verifier = pd_arena_sprintf(arena, "SCRAM-SHA-256$%d:%s$%s:%s", ITERATIONS, salt64, stored64, server64);
    return *verifier != NULL || pd_arena_error(arena, err);
}

/* Runs sql with the slot's name as $1 on the local server. */
static bool
run_slot_sql(PdNode *node, const char *member, const char *sql, const char *what, PdError *err)
{
    char slot[64];
    if (!pd_node_slot_name(member, slot, sizeof slot, err))
        return false;
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    PdDb *db = NULL;
    PdDbResult *result;
    const char *params[] = {slot};
    bool ok = pd_node_connect(node, &db, err) && pd_db_query(arena, db, sql, 1, params, &result, err);
    pd_db_close(db);
    pd_arena_free(arena);
    return ok || pd_error_context(err, "while %s the replication slot %s", what, slot);
}

bool
pd_node_slot_create(PdNode *node, const char *member, PdError *err)
{
    return run_slot_sql(node, member,
                        "SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS "
                        "(SELECT FROM pg_replication_slots WHERE slot_name = $1)",
                        "making", err);
}

bool
pd_node_slot_drop(PdNode *node, const char *member, PdError *err)
{
    return run_slot_sql(node, member,
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE slot_name = $1",
                        "dropping", err);
}
