/*
 * test_node.c - the node module on real PostgreSQL 15 (Debian's binaries, run
 * as postgres when root): bad configurations refused, a primary initialised,
 * a slot made, a standby cloned and streaming through it, the quorum setting
 * reloaded, a start that cannot finish bounded, a crashed postmaster seen,
 * the standby promoted, the old primary rewound (WAL from the archive when
 * prodata-wal is built) to follow it, an interrupted rewind refused until a
 * clone, a frozen postmaster's stop bounded. The tests run in order and share three nodes: a (first primary),
 * b (standby, then primary), c (the node that cannot start).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nodetest.h"
#include "testing.h"

enum
{
    STEP_MS = 60000, /* the bound of init, clone, rewind */
    CTL_MS = 20000,  /* start, stop, promote */
};

static NodeTestPaths paths_a, paths_b, paths_c;
static PdNode *node_a, *node_b, *node_c;
static int port_a, port_b, port_c;

static void
expect_ok(bool ok, const PdError *err)
{
    if (!ok)
        fail_msg("%s\n  detail: %s\n  context: %s", err->message, err->detail, err->context);
}

static void
test_bad_configurations(void **state)
{
    (void)state;
    NodeTestPaths paths;
    PdNodeConfig config = nodetest_config(&paths, "bad", 5432);
    PdNode *node = NULL;
    PdError err = {0};
    config.member_name = "Node 1";
    config.state_dir = paths.data; /* inside data_dir: pg_basebackup would copy it */
    config.replication_password = "short";
    config.port = 0;
    assert_false(pd_node_new(&config, &node, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(err.problem_count, 4);
    assert_contains(err.problems[0].message, "member name \"Node 1\"");
    assert_contains(err.problems[1].message, "state_dir must not be inside data_dir");
    assert_string_equal(err.problems[2].field, "port");
    assert_string_equal(err.problems[3].field, "replication_password");
    assert_lacks(err.message, "short"); /* the password is never quoted */
    config = nodetest_config(&paths, "bad", 5432);
    config.data_dir = "relative/data";
    config.archive_dir = "/srv/it's";
    err = (PdError){0};
    assert_false(pd_node_new(&config, &node, &err));
    assert_int_equal(err.problem_count, 2);
    assert_string_equal(err.problems[1].field, "archive_dir");
    config = nodetest_config(&paths, "bad", 5432);
    config.bin_dir = "/nonexistent/bin";
    err = (PdError){0};
    assert_false(pd_node_new(&config, &node, &err));
    assert_int_equal(err.code, PD_ERR_NOT_FOUND);
    assert_string_equal(err.message, "PostgreSQL program /nonexistent/bin/initdb not found");
    assert_null(node);
}

/* path: bytes zero bytes (a 1 MB "segment" or a history's text). */
static void
write_bytes(const char *path, const char *text, size_t bytes)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    if (text != NULL)
        fputs(text, file);
    else if (bytes > 0 && fseek(file, (long)bytes - 1, SEEK_SET) == 0)
        fputc(0, file);
    fclose(file);
}

/* Before a start: timeline 1's segment holding the switch to timeline 2 is set aside when timeline 2's
 * segment for that place is not there (PostgreSQL would replay 1's WAL past the switch from it). */
static void
test_fork_set_aside(void **state)
{
    (void)state;
    NodeTestPaths paths;
    PdNode *node = nodetest_node(&paths, "forked", nodetest_free_port());
    char path[600], command[1000];
    snprintf(command, sizeof command, "mkdir -p %s/pg_wal %s", paths.data, paths.state);
    assert_int_equal(system(command), 0);
    PdError err = {0};
    int moved = -1;
    expect_ok(pd_node_set_fork_aside(node, 2, NULL, &moved, &err), &err);
    assert_int_equal(moved, 0); /* no segment, no history: nothing to do */
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007", paths.data);
    write_bytes(path, NULL, 1 << 20);
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000006", paths.data);
    write_bytes(path, NULL, 1 << 20);
    expect_ok(pd_node_set_fork_aside(node, 2, NULL, &moved, &err), &err);
    assert_int_equal(moved, 0); /* no history of timeline 2 */
    /* A standby stopped before the failover has no history file yet: the leader's published switch. */
    expect_ok(pd_node_set_fork_aside(node, 2, &(PdWalSwitch){1, 0x750000}, &moved, &err), &err);
    assert_int_equal(moved, 1);
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007.forked", paths.data);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007", paths.data);
    write_bytes(path, NULL, 1 << 20);
    snprintf(path, sizeof path, "%s/pg_wal/00000002.history", paths.data);
    write_bytes(path, "1\t0/750000\tno recovery target specified\n", 0);
    expect_ok(pd_node_set_fork_aside(node, 2, NULL, &moved, &err), &err);
    assert_int_equal(moved, 1);
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007.forked", paths.data);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000006", paths.data);
    assert_int_equal(access(path, F_OK), 0); /* before the switch: kept */
    /* With timeline 2's segment beside it, PostgreSQL reads that one: nothing to set aside. */
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007", paths.data);
    write_bytes(path, NULL, 1 << 20);
    snprintf(path, sizeof path, "%s/pg_wal/000000020000000000000007", paths.data);
    write_bytes(path, NULL, 1 << 20);
    expect_ok(pd_node_set_fork_aside(node, 2, NULL, &moved, &err), &err);
    assert_int_equal(moved, 0);
    snprintf(path, sizeof path, "%s/pg_wal/000000020000000000000007", paths.data);
    assert_int_equal(unlink(path), 0);
    expect_ok(pd_node_set_fork_aside(node, 2, NULL, &moved, &err), &err);
    assert_int_equal(moved, 1); /* a second fork of that place: kept beside the first, never over it */
    snprintf(path, sizeof path, "%s/pg_wal/000000010000000000000007.forked.1", paths.data);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/pg_wal/00000002.history", paths.data);
    write_bytes(path, "not a history\n", 0);
    assert_false(pd_node_set_fork_aside(node, 2, NULL, &moved, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    pd_node_free(node);
}

static void
test_names_and_lsns(void **state)
{
    (void)state;
    char slot[64];
    PdError err = {0};
    assert_true(pd_node_slot_name("node-b", slot, sizeof slot, &err));
    assert_string_equal(slot, "prodata_node_b");
    const char *bad[] = {"", "-a", "A", "a b", "a/b", "a'b", "12345678901234567890123456789012345678901"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        err = (PdError){0};
        assert_false(pd_node_slot_name(bad[i], slot, sizeof slot, &err));
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    }
    uint64_t lsn = 0;
    assert_true(pd_node_lsn_parse("16/B374D848", &lsn));
    assert_true(lsn == ((uint64_t)0x16 << 32 | 0xB374D848));
    assert_false(pd_node_lsn_parse("16/B374D848x", &lsn));
    assert_false(pd_node_lsn_parse("", &lsn));
}

static void
test_init_primary(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    node_a = nodetest_node(&paths_a, "node-a", port_a);
    expect_ok(pd_node_init_primary(node_a, STEP_MS, &err), &err);
    PdNodeStatus status = nodetest_status(arena, node_a);
    assert_int_equal(status.run, PD_NODE_READY);
    assert_true(status.is_connected && !status.is_in_recovery);
    assert_int_equal(status.timeline, 1);
    assert_true(status.current_lsn > 0 && status.flush_lsn > 0 && status.flush_lsn <= status.current_lsn);
    assert_int_equal(status.standby_count, 0);
    char value[256];
    expect_ok(nodetest_sql(node_a, "SHOW data_checksums", value, sizeof value, &err), &err);
    assert_string_equal(value, "on");
    expect_ok(nodetest_sql(node_a,
                           "SELECT current_setting('wal_level') || current_setting('wal_log_hints') || "
                           "current_setting('archive_mode') || current_setting('port')",
                           value, sizeof value, &err),
              &err);
    char expected[64];
    snprintf(expected, sizeof expected, "replicaon%s%d", nodetest_wal[0] ? "on" : "off", port_a);
    assert_string_equal(value, expected);
    expect_ok(nodetest_sql(node_a,
                           "SELECT rolreplication AND rolcanlogin AND rolpassword LIKE 'SCRAM-SHA-256$%' "
                           "FROM pg_authid WHERE rolname = 'replicator'",
                           value, sizeof value, &err),
              &err);
    assert_string_equal(value, "t");
    struct stat info;
    assert_int_equal(stat(pd_node_passfile(node_a), &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    assert_false(nodetest_file_has(pd_node_log_path(node_a), "s3cret"));
    char conf[512];
    snprintf(conf, sizeof conf, "%s/postgresql.prodata.conf", paths_a.data);
    assert_false(nodetest_file_has(conf, "s3cret"));
    assert_true(nodetest_file_has(conf, "wal_level = replica"));
    err = (PdError){0};
    assert_false(pd_node_init_primary(node_a, STEP_MS, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    pd_arena_free(arena);
}

static void
test_slot(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    expect_ok(pd_node_slot_create(node_a, "node-b", &err), &err);
    expect_ok(pd_node_slot_create(node_a, "node-b", &err), &err); /* again: nothing to do */
    PdNodeStatus status = nodetest_status(arena, node_a);
    assert_int_equal(status.slot_count, 1);
    assert_string_equal(status.slots[0].name, "prodata_node_b");
    assert_false(status.slots[0].is_active);
    assert_true(status.slots[0].restart_lsn > 0); /* WAL reserved at once */
    assert_false(pd_node_slot_create(node_a, "Robert'); DROP", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    pd_arena_free(arena);
}

static void
test_clone_and_stream(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    node_b = nodetest_node(&paths_b, "node-b", port_b);
    pd_node_set_joining(node_b, false); /* a clone's WAL is its primary's: it may count at once */
    expect_ok(pd_node_clone(node_b, "127.0.0.1", port_a, STEP_MS, &err), &err);
    assert_int_equal(pd_node_run_state(node_b, &(int){0}), PD_NODE_STOPPED);
    char path[512], value[256];
    snprintf(path, sizeof path, "%s/standby.signal", paths_b.data);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/postgresql.prodata.conf", paths_b.data);
    assert_true(nodetest_file_has(path, "primary_slot_name = 'prodata_node_b'"));
    assert_true(nodetest_file_has(path, "application_name=node-b "));
    assert_false(nodetest_file_has(path, "s3cret"));
    expect_ok(pd_node_start(node_b, CTL_MS, &err), &err);
    nodetest_exec(node_a,
                  "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)");
    assert_true(nodetest_poll(node_b, "SELECT count(*) FROM t", "100", 20, value, sizeof value));
    PdNodeStatus primary = nodetest_status(arena, node_a);
    assert_int_equal(primary.standby_count, 1);
    assert_string_equal(primary.standbys[0].name, "node-b");
    assert_string_equal(primary.standbys[0].state, "streaming");
    assert_string_equal(primary.standbys[0].sync_state, "async");
    assert_true(primary.standbys[0].flush_lsn > 0 && primary.standbys[0].flush_lsn <= primary.flush_lsn);
    assert_true(primary.slots[0].is_active);
    PdNodeStatus standby = nodetest_status(arena, node_b);
    assert_true(standby.is_in_recovery);
    assert_int_equal(standby.timeline, 1);
    assert_string_equal(standby.receiver_status, "streaming");
    assert_string_equal(standby.receiver_host, "127.0.0.1");
    assert_true(standby.received_lsn > 0 && standby.replayed_lsn > 0);
    assert_int_equal(standby.current_lsn, 0);
    pd_arena_free(arena);
}

static void
test_quorum_reload(void **state)
{
    (void)state;
    PdError err = {0};
    char value[256];
    expect_ok(pd_node_configure(node_a, NULL, 0, "ANY 1 (\"node-b\")", &err), &err);
    expect_ok(pd_node_reload(node_a, CTL_MS, &err), &err);
    assert_true(nodetest_poll(node_a, "SELECT sync_state FROM pg_stat_replication", "quorum", 10, value,
                              sizeof value));
    nodetest_exec(node_a, "INSERT INTO t VALUES (101)"); /* waits for node-b: it answers */
    expect_ok(pd_node_configure(node_a, NULL, 0, NULL, &err), &err);
    expect_ok(pd_node_reload(node_a, CTL_MS, &err), &err);
    assert_true(nodetest_poll(node_a, "SELECT sync_state FROM pg_stat_replication", "async", 10, value,
                              sizeof value));
}

/* A clone whose WAL is gone and whose primary does not exist never becomes consistent. */
static void
test_start_timeout(void **state)
{
    (void)state;
    PdError err = {0};
    NodeTestPaths paths;
    PdNodeConfig config = nodetest_config(&paths, "node-c", port_c);
    config.archive_dir = NULL; /* no restore_command either */
    paths_c = paths;
    expect_ok(pd_node_new(&config, &node_c, &err), &err);
    expect_ok(pd_node_clone(node_c, "127.0.0.1", port_a, STEP_MS, &err), &err);
    expect_ok(pd_node_configure(node_c, "127.0.0.1", nodetest_free_port(), NULL, &err), &err);
    char command[600];
    snprintf(command, sizeof command, "rm -f %s/pg_wal/0*", paths_c.data);
    assert_int_equal(system(command), 0);
    long long started = nodetest_now_ms();
    assert_false(pd_node_start(node_c, 2000, &err));
    long long elapsed = nodetest_now_ms() - started;
    assert_int_equal(err.code, PD_ERR_LOCK_TIMEOUT);
    assert_true(err.is_retryable);
    assert_contains(err.message, "start did not finish within 2000 ms");
    assert_true(elapsed >= 1900 && elapsed < 4500);
    int pid = 0;
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_STARTING);
    assert_true(pid > 0);
    PdArena *arena = pd_arena_new(0);
    PdNodeStatus status = nodetest_status(arena, node_c);
    assert_int_equal(status.run, PD_NODE_STARTING);
    assert_false(status.is_connected);
    bool was_immediate = true;
    expect_ok(pd_node_stop(node_c, CTL_MS, &was_immediate, &err), &err);
    assert_false(was_immediate);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_STOPPED);
    pd_arena_free(arena);
}

static void
test_promote_and_crash(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    expect_ok(pd_node_promote(node_b, CTL_MS, &err), &err);
    PdNodeStatus status = nodetest_status(arena, node_b);
    assert_false(status.is_in_recovery);
    assert_int_equal(status.timeline, 2);
    assert_true(status.current_lsn > 0);
    /* The old primary goes on alone on timeline 1 (diverging), then its postmaster dies. */
    nodetest_exec(node_a, "INSERT INTO t SELECT generate_series(1001, 1100); CHECKPOINT");
    int pid = 0;
    assert_int_equal(pd_node_run_state(node_a, &pid), PD_NODE_READY);
    assert_int_equal(kill(pid, SIGKILL), 0);
    long long deadline = nodetest_now_ms() + 5000;
    while (pd_node_run_state(node_a, &(int){0}) != PD_NODE_CRASHED && nodetest_now_ms() < deadline)
        usleep(20 * 1000);
    status = nodetest_status(arena, node_a);
    assert_int_equal(status.run, PD_NODE_CRASHED);
    assert_int_equal(status.pid, 0);
    nodetest_exec(node_b, "INSERT INTO t SELECT generate_series(2001, 2050)");
    if (nodetest_wal[0] != '\0') /* the new timeline's first segment reaches the archive */
        nodetest_exec(node_b, "SELECT pg_switch_wal()");
    pd_arena_free(arena);
}

static void
test_rewind_refusals(void **state)
{
    (void)state;
    PdError err = {0};
    assert_false(pd_node_rewind(node_b, "127.0.0.1", port_a, STEP_MS, &err)); /* b runs */
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "its server runs");
    err = (PdError){0};
    assert_false(pd_node_rewind(node_a, "127.0.0.1", nodetest_free_port(), STEP_MS, &err));
    assert_int_equal(err.code, PD_ERR_DB_CONNECT); /* no new primary there: nothing changed */
    assert_true(err.is_retryable);
    char marker[512];
    snprintf(marker, sizeof marker, "%s/rewind-in-progress", paths_a.state);
    assert_int_not_equal(access(marker, F_OK), 0);
}

static void
test_rewind_follows(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    char value[256];
    expect_ok(pd_node_slot_create(node_b, "node-a", &err), &err);
    expect_ok(pd_node_rewind(node_a, "127.0.0.1", port_b, STEP_MS, &err), &err);
    expect_ok(pd_node_start(node_a, CTL_MS, &err), &err);
    assert_true(nodetest_poll(node_a, "SELECT count(*) FROM t", "151", 20, value, sizeof value));
    expect_ok(nodetest_sql(node_a, "SELECT count(*) FROM t WHERE id > 1000 AND id < 2000", value,
                           sizeof value, &err),
              &err);
    assert_string_equal(value, "0"); /* the old primary's lone writes are gone */
    PdNodeStatus status = nodetest_status(arena, node_a);
    assert_true(status.is_in_recovery);
    assert_int_equal(status.timeline, 2);
    assert_string_equal(status.receiver_status, "streaming");
    assert_int_equal(status.receiver_timeline, 2);
    /* A new node streams as joining: its replies release no synchronous commit until the keeper ends it. */
    assert_true(nodetest_poll(node_b, "SELECT application_name || ' ' || state FROM pg_stat_replication",
                              "node-a-joining streaming", 10, value, sizeof value));
    assert_true(pd_node_is_joining(node_a));
    expect_ok(pd_node_configure(node_b, NULL, 0, "ANY 1 (\"node-a\")", &err), &err);
    expect_ok(pd_node_reload(node_b, CTL_MS, &err), &err);
    assert_true(nodetest_poll(node_b, "SELECT application_name || ' ' || sync_state FROM pg_stat_replication",
                              "node-a-joining async", 10, value, sizeof value));
    pd_node_set_joining(node_a, false);
    expect_ok(pd_node_configure(node_a, "127.0.0.1", port_b, NULL, &err), &err);
    expect_ok(pd_node_reload(node_a, CTL_MS, &err), &err);
    assert_true(nodetest_poll(node_b, "SELECT application_name || ' ' || sync_state FROM pg_stat_replication",
                              "node-a quorum", 10, value, sizeof value));
    expect_ok(pd_node_configure(node_b, NULL, 0, "", &err), &err);
    expect_ok(pd_node_reload(node_b, CTL_MS, &err), &err);
    /* Where timeline 1 ended in timeline 2's lineage: the history file the rewind brought. */
    uint64_t end = 0;
    bool has_history = false, is_found = false;
    expect_ok(pd_node_timeline_end(node_a, 2, 1, &end, &has_history, &is_found, &err), &err);
    assert_true(has_history && is_found);
    assert_true(end > 0);
    assert_true(end <= status.replayed_lsn || end <= status.received_lsn);
    expect_ok(pd_node_timeline_end(node_a, 2, 2, &end, &has_history, &is_found, &err), &err);
    assert_true(has_history && !is_found); /* a timeline's own history does not name it */
    expect_ok(pd_node_timeline_end(node_a, 7, 1, &end, &has_history, &is_found, &err), &err);
    assert_false(has_history || is_found); /* no such file */
    status = nodetest_status(arena, node_b);
    assert_int_equal(status.slot_count, 1);
    assert_string_equal(status.slots[0].name, "prodata_node_a");
    assert_true(status.slots[0].is_active);
    err = (PdError){0};
    assert_false(pd_node_slot_drop(node_b, "node-a", &err)); /* in use */
    assert_int_equal(err.code, PD_ERR_DB_QUERY);
    assert_string_equal(err.sqlstate, "55006");
    pd_arena_free(arena);
}

static void
test_interrupted_rewind(void **state)
{
    (void)state;
    PdError err = {0};
    char marker[512];
    snprintf(marker, sizeof marker, "%s/rewind-in-progress", paths_c.state);
    FILE *file = fopen(marker, "w");
    assert_non_null(file);
    fclose(file);
    assert_false(pd_node_start(node_c, CTL_MS, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "a rewind was interrupted");
    err = (PdError){0};
    assert_false(pd_node_rewind(node_c, "127.0.0.1", port_b, STEP_MS, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.hint, "Clone");
    expect_ok(pd_node_slot_create(node_b, "node-c", &err), &err);
    expect_ok(pd_node_clone(node_c, "127.0.0.1", port_b, STEP_MS, &err), &err);
    assert_int_not_equal(access(marker, F_OK), 0);
    char old[512];
    snprintf(old, sizeof old, "%s.old", paths_c.data);
    assert_int_not_equal(access(old, F_OK), 0);
    expect_ok(pd_node_start(node_c, CTL_MS, &err), &err);
    char value[64];
    assert_true(nodetest_poll(node_c, "SELECT count(*) FROM t", "151", 20, value, sizeof value));
    assert_true(nodetest_poll(node_c, "SELECT status FROM pg_stat_wal_receiver", "streaming", 10, value,
                              sizeof value));
}

static void
test_stop_and_drop(void **state)
{
    (void)state;
    PdError err = {0};
    bool was_immediate = true;
    expect_ok(pd_node_stop(node_a, CTL_MS, &was_immediate, &err), &err);
    assert_false(was_immediate);
    expect_ok(pd_node_stop(node_a, CTL_MS, NULL, &err), &err); /* stopped already */
    char value[64];
    assert_true(nodetest_poll(
        node_b, "SELECT active::text FROM pg_replication_slots WHERE slot_name = 'prodata_node_a'", "false",
        10, value, sizeof value));
    expect_ok(pd_node_slot_drop(node_b, "node-a", &err), &err);
    expect_ok(pd_node_slot_drop(node_b, "node-a", &err), &err); /* gone already */
    expect_ok(pd_node_restart(node_b, CTL_MS, &err), &err);
    int pid;
    assert_int_equal(pd_node_run_state(node_b, &pid), PD_NODE_READY);
    if (nodetest_wal[0] != '\0') /* archive_command worked on the new primary, history file included */
        assert_true(nodetest_poll(node_b,
                                  "SELECT failed_count = 0 AND last_archived_wal IS NOT NULL "
                                  "FROM pg_stat_archiver",
                                  "t", 10, value, sizeof value));
}

/* A crashed standby's postmaster is started again in place, over its stale pid and socket lock files. */
static void
test_restart_after_crash(void **state)
{
    (void)state;
    PdError err = {0};
    int pid = 0;
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_READY);
    assert_int_equal(kill(pid, SIGKILL), 0);
    long long deadline = nodetest_now_ms() + 5000;
    while (pd_node_run_state(node_c, &pid) != PD_NODE_CRASHED && nodetest_now_ms() < deadline)
        usleep(20 * 1000);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_CRASHED);
    expect_ok(pd_node_start(node_c, CTL_MS, &err), &err);
    nodetest_exec(node_b, "INSERT INTO t VALUES (3001)");
    char value[64];
    assert_true(nodetest_poll(node_c, "SELECT count(*) FROM t", "152", 20, value, sizeof value));
}

/* A switchover's stop: over once the shutdown checkpoint is written, its location the last record; the
 * standby streaming from it receives that record. */
static void
test_stop_clean(void **state)
{
    (void)state;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    nodetest_exec(node_b, "INSERT INTO t VALUES (3002)");
    PdNodeControl control;
    expect_ok(pd_node_stop_clean(node_b, CTL_MS, &control, &err), &err);
    assert_true(control.is_shut_down);
    assert_int_equal(control.timeline, 2);
    assert_true(control.checkpoint_lsn > 0);
    long long deadline = nodetest_now_ms() + 10000;
    while (pd_node_run_state(node_b, &(int){0}) != PD_NODE_STOPPED && nodetest_now_ms() < deadline)
        usleep(10 * 1000);
    assert_int_equal(pd_node_run_state(node_b, &(int){0}), PD_NODE_STOPPED);
    uint64_t end = 0;
    expect_ok(pd_node_record_end(node_b, &control, &end, &err), &err);
    assert_true(end > control.checkpoint_lsn && end - control.checkpoint_lsn <= 200); /* one checkpoint */
    PdNodeStatus standby = nodetest_status(arena, node_c);
    assert_int_equal(standby.received_lsn, end); /* the whole WAL of the stopped primary, nothing more */
    control.timeline = 9;
    assert_false(pd_node_record_end(node_b, &control, &end, &err));
    assert_int_equal(err.code, PD_ERR_NOT_FOUND);
    expect_ok(pd_node_stop_clean(node_b, CTL_MS, &control, &err), &err); /* stopped already: its reading */
    assert_true(control.is_shut_down);
    expect_ok(pd_node_start(node_b, CTL_MS, &err), &err);
    pd_arena_free(arena);
}

/* A postmaster that answers no signal (frozen with SIGSTOP): stop gives up at its bound, having tried both.
 */
static void
test_stop_bounded(void **state)
{
    (void)state;
    PdError err = {0};
    int pid = 0;
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_READY);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    bool was_immediate = false;
    long long started = nodetest_now_ms();
    bool is_stopped = pd_node_stop(node_c, 3000, &was_immediate, &err);
    long long elapsed = nodetest_now_ms() - started;
    kill(pid, SIGCONT); /* the queued signals now stop it */
    assert_false(is_stopped);
    assert_int_equal(err.code, PD_ERR_LOCK_TIMEOUT);
    assert_contains(err.message, "stop did not finish within 3000 ms");
    assert_true(was_immediate);
    assert_true(elapsed >= 2500 && elapsed < 5000);
    expect_ok(pd_node_stop(node_c, CTL_MS, NULL, &err), &err);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_STOPPED);
}

/* A stale postmaster.pid whose pid now belongs to another cluster's postmaster on the host (a pid reused
 * after a crash, several PostgreSQL servers on one machine): not this node's server, which must start. */
static void
test_pid_of_another_postgres(void **state)
{
    (void)state;
    PdError err = {0};
    int pid_b = 0, pid = 0;
    assert_int_equal(pd_node_run_state(node_b, &pid_b), PD_NODE_READY);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_STOPPED);
    char from[600], to[600], text[2048] = "";
    snprintf(from, sizeof from, "%s/postmaster.pid", pd_node_data_dir(node_b));
    snprintf(to, sizeof to, "%s/postmaster.pid", pd_node_data_dir(node_c));
    FILE *file = fopen(from, "r");
    assert_non_null(file);
    size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    file = fopen(to, "w");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, length, file), length);
    fclose(file);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_CRASHED);
    expect_ok(pd_node_start(node_c, CTL_MS, &err), &err);
    assert_int_equal(pd_node_run_state(node_c, &pid), PD_NODE_READY);
    assert_int_not_equal(pid, pid_b);
    char value[64];
    assert_true(nodetest_poll(node_c, "SELECT 1", "1", 20, value, sizeof value));
    expect_ok(pd_node_stop(node_c, CTL_MS, NULL, &err), &err);
}

static int
setup(void **state)
{
    (void)state;
    if (!nodetest_setup())
        return -1;
    port_a = nodetest_free_port();
    port_b = nodetest_free_port();
    port_c = nodetest_free_port();
    if (nodetest_wal[0] == '\0')
        printf("# prodata-wal is not built: the archive is not tested\n");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    PdNode *nodes[] = {node_a, node_b, node_c};
    for (size_t i = 0; i < 3; i++)
    {
        if (nodes[i] != NULL)
            pd_node_stop(nodes[i], 10000, NULL, NULL);
        pd_node_free(nodes[i]);
    }
    if (getenv("PRODATA_TEST_KEEP") != NULL) /* to read the servers' logs */
        return printf("# kept %s\n", nodetest_dir), 0;
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s'", nodetest_dir);
    return system(command) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configurations),
        cmocka_unit_test(test_fork_set_aside),
        cmocka_unit_test(test_names_and_lsns),
        cmocka_unit_test(test_init_primary),
        cmocka_unit_test(test_slot),
        cmocka_unit_test(test_clone_and_stream),
        cmocka_unit_test(test_quorum_reload),
        cmocka_unit_test(test_start_timeout),
        cmocka_unit_test(test_promote_and_crash),
        cmocka_unit_test(test_rewind_refusals),
        cmocka_unit_test(test_rewind_follows),
        cmocka_unit_test(test_interrupted_rewind),
        cmocka_unit_test(test_stop_and_drop),
        cmocka_unit_test(test_restart_after_crash),
        cmocka_unit_test(test_stop_clean),
        cmocka_unit_test(test_stop_bounded),
        cmocka_unit_test(test_pid_of_another_postgres),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
