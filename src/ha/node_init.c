/*
 * node_init.c - a new primary: initdb with data checksums (pg_rewind needs
 * them, or wal_log_hints), the managed files, a start, and the replication
 * role. The role's password reaches the server only as a SCRAM verifier
 * computed here (as psql's \password does), so neither the server log
 * (log_statement = all) nor pg_stat_activity ever shows it; the role also
 * gets the four file functions pg_rewind needs, so a rewind needs no
 * superuser over the network.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ha/node_run.h"
#include "prodata/strbuf.h"

static int
time_left(long long deadline_ms)
{
    long long left = deadline_ms - pd_node_now_ms();
    return left > 1000 ? (int)left : 1000;
}

static bool
run_initdb(PdNode *node, int timeout_ms, PdError *err)
{
    const char *argv[] = {"initdb",
                          "-D",
                          node->config.data_dir,
                          "-U",
                          "postgres",
                          "--data-checksums",
                          "--auth-local=peer",
                          "--auth-host=scram-sha-256",
                          "--encoding=UTF8",
                          "--locale=C.UTF-8",
                          NULL};
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    return result.exit_code == 0 || pd_node_exec_error("initdb", timeout_ms, &result, err);
}

/* The SQL that makes (or updates) the replication role; the verifier is a literal, never the password. */
static const char *
role_sql(PdArena *arena, PdNode *node, const char *verifier)
{
    PdStrbuf buf;
    const char *user = node->config.replication_user;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "SET log_statement = 'none';\n");
    pd_strbuf_append(&buf, "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ");
    pd_strbuf_append_literal(&buf, user);
    pd_strbuf_append(&buf, ") THEN CREATE ROLE ");
    pd_strbuf_append_identifier(&buf, user);
    pd_strbuf_append(&buf, "; END IF; END$$;\nALTER ROLE ");
    pd_strbuf_append_identifier(&buf, user);
    pd_strbuf_append(&buf, " LOGIN REPLICATION PASSWORD ");
    pd_strbuf_append_literal(&buf, verifier);
    pd_strbuf_append(&buf, ";\n");
    const char *functions[] = {"pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)",
                               "pg_read_binary_file(text)",
                               "pg_read_binary_file(text, bigint, bigint, boolean)",
                               /* a backup from a standby ends its last segment on the primary */
                               "pg_switch_wal()", "pg_logical_emit_message(boolean, text, text)"};
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
    {
        pd_strbuf_appendf(&buf, "GRANT EXECUTE ON FUNCTION pg_catalog.%s TO ", functions[i]);
        pd_strbuf_append_identifier(&buf, user);
        pd_strbuf_append(&buf, ";\n");
    }
    pd_strbuf_append(&buf, "GRANT pg_checkpoint TO "); /* pg_rewind's source must checkpoint: node_rewind.c */
    pd_strbuf_append_identifier(&buf, user);
    pd_strbuf_append(&buf, ";\n");
    return pd_strbuf_failed(&buf) ? NULL : pd_strbuf_text(&buf);
}

static bool
make_role(PdNode *node, PdError *err)
{
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    char *verifier = NULL;
    const char *sql = NULL;
    PdDb *db = NULL;
    bool ok = pd_node_scram_verifier(arena, node->config.replication_password, &verifier, err) &&
              ((sql = role_sql(arena, node, verifier)) != NULL || pd_arena_error(arena, err)) &&
              pd_node_connect(node, &db, err) && pd_db_exec(db, sql, err);
    pd_db_close(db);
    pd_arena_free(arena);
    return ok || pd_error_context(err, "while making the replication role %s", node->config.replication_user);
}

bool
pd_node_init_primary(PdNode *node, int timeout_ms, PdError *err)
{
    long long deadline = pd_node_now_ms() + timeout_ms;
    char version[PD_NODE_PATH_MAX + 32];
    snprintf(version, sizeof version, "%s/PG_VERSION", node->config.data_dir);
    if (access(version, F_OK) == 0)
    {
        pd_error_set(err, PD_ERR_REFUSED, "%s already holds a database cluster", node->config.data_dir);
        return pd_error_hint(err, "Start it, or remove it to make a new primary.");
    }
    bool ok = pd_node_make_dir(node, node->config.state_dir, err) &&
              pd_node_make_dir(node, node->config.data_dir, err) && run_initdb(node, timeout_ms, err) &&
              pd_node_configure(node, NULL, 0, NULL, err) && pd_node_start(node, time_left(deadline), err) &&
              make_role(node, err);
    return ok || pd_error_context(err, "while initialising %s as a primary", node->member);
}
