/*
 * test_member.c - a member's published state and the roster: the member
 * document written and read back field for field, every field required, an
 * unknown field or version refused, bad values named by their field (and
 * refused on writing too, so no keeper publishes what its peers refuse);
 * the roster's document read strictly and written sorted; and the roster
 * changed in a real etcd (tests/lib/etcd.sh): added to, idempotent, removed
 * from, several keepers adding themselves at once with none lost, a broken
 * stored roster left alone, an unreachable etcd reported as unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "etcdtest.h"
#include "ha/member.h"
#include "ha/roster.h"
#include "testing.h"

static PdMemberState
sample(void)
{
    return (PdMemberState){.name = "n1",
                           .role = PD_MEMBER_ROLE_STANDBY,
                           .state = "running",
                           .pg_host = "127.0.0.1",
                           .pg_port = 5432,
                           .api_url = "http://127.0.0.1:8008",
                           .timeline = 3,
                           .write_lsn = ((uint64_t)0x1 << 32) | 0x3000148,
                           .replay_lsn = 0x3000060,
                           .is_streaming = true,
                           .lag_bytes = 232,
                           .updated_ms = 1764489600123,
                           .waiting_for = ""};
}

static void
test_member_round_trip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdMemberState written = sample(), read;
    char *json = NULL;
    if (!pd_member_json(arena, &written, &json, &err))
        fail_msg("pd_member_json: %s", err.message);
    assert_string_equal(
        json,
        "{\"version\":1,\"name\":\"n1\",\"role\":\"standby\",\"state\":\"running\","
        "\"pg_host\":\"127.0.0.1\",\"pg_port\":5432,\"api_url\":\"http://127.0.0.1:8008\","
        "\"timeline\":3,\"write_lsn\":\"1/3000148\",\"replay_lsn\":\"0/3000060\","
        "\"is_streaming\":true,\"lag_bytes\":232,\"updated_ms\":1764489600123,"
        "\"waiting_for\":\"\",\"replay_lag_s\":0.0,\"pending_restart\":[],\"archive\":null,"
        "\"failsafe_grant\":null,\"failsafe_writable\":null,\"timeline_switch\":null,\"backup_job\":null}");
    if (!pd_member_parse(arena, json, strlen(json), &read, &err))
        fail_msg("pd_member_parse: %s", err.message);
    assert_string_equal(read.name, "n1");
    assert_int_equal(read.role, PD_MEMBER_ROLE_STANDBY);
    assert_string_equal(read.state, "running");
    assert_string_equal(read.pg_host, "127.0.0.1");
    assert_int_equal(read.pg_port, 5432);
    assert_string_equal(read.api_url, "http://127.0.0.1:8008");
    assert_int_equal(read.timeline, 3);
    assert_true(read.write_lsn == written.write_lsn);
    assert_true(read.replay_lsn == written.replay_lsn);
    assert_true(read.is_streaming);
    assert_int_equal(read.lag_bytes, 232);
    assert_int_equal(read.updated_ms, 1764489600123);
    assert_string_equal(read.waiting_for, "");
    written.role = PD_MEMBER_ROLE_PRIMARY;
    written.state = "fenced";
    written.waiting_for = "a leader";
    written.lag_bytes = -1;
    assert_true(pd_member_json(arena, &written, &json, &err));
    assert_true(pd_member_parse(arena, json, strlen(json), &read, &err));
    assert_int_equal(read.role, PD_MEMBER_ROLE_PRIMARY);
    assert_string_equal(read.state, "fenced");
    assert_string_equal(read.waiting_for, "a leader");
    assert_int_equal(read.lag_bytes, -1);
    pd_arena_free(arena);
}

/* replay_lag_s and pending_restart: written, read back, optional on reading (a keeper before them). */
static void
test_member_later_fields(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    const char *pending[] = {"max_connections", "shared_buffers"};
    PdMemberState written = sample(), read;
    written.replay_lag_ms = 1250;
    written.pending_restart = pending;
    written.pending_restart_count = 2;
    char *json = NULL;
    if (!pd_member_json(arena, &written, &json, &err))
        fail_msg("pd_member_json: %s", err.message);
    assert_contains(json, ",\"waiting_for\":\"\",\"replay_lag_s\":1.25,"
                          "\"pending_restart\":[\"max_connections\",\"shared_buffers\"],\"archive\":null,");
    if (!pd_member_parse(arena, json, strlen(json), &read, &err))
        fail_msg("pd_member_parse: %s", err.message);
    assert_int_equal(read.replay_lag_ms, 1250);
    assert_int_equal(read.pending_restart_count, 2);
    assert_string_equal(read.pending_restart[0], "max_connections");
    assert_string_equal(read.pending_restart[1], "shared_buffers");
    written.replay_lag_ms = -1; /* unknown: null */
    written.pending_restart_count = 0;
    assert_true(pd_member_json(arena, &written, &json, &err));
    assert_contains(json, "\"replay_lag_s\":null,\"pending_restart\":[],\"archive\":null,");
    assert_true(pd_member_parse(arena, json, strlen(json), &read, &err));
    assert_int_equal(read.replay_lag_ms, -1);
    assert_int_equal(read.pending_restart_count, 0);
    const char *old = "{\"version\":1,\"name\":\"n1\",\"role\":\"standby\",\"state\":\"running\",\"pg_host\":"
                      "\"h\",\"pg_port\":1,\"api_url\":\"u\",\"timeline\":1,\"write_lsn\":\"0/1\","
                      "\"replay_lsn\":\"0/1\",\"is_streaming\":false,\"lag_bytes\":0,\"updated_ms\":1,"
                      "\"waiting_for\":\"\"}";
    if (!pd_member_parse(arena, old, strlen(old), &read, &err))
        fail_msg("a state without the later fields: %s", err.message);
    assert_int_equal(read.replay_lag_ms, -1);
    assert_int_equal(read.pending_restart_count, 0);
    assert_int_equal(read.switch_parent, 0); /* absent: none */
    written.switch_parent = 2;               /* a primary on timeline 3 says where it branched off 2 */
    written.switch_lsn = 0x2A000A0;
    assert_true(pd_member_json(arena, &written, &json, &err));
    assert_contains(json, ",\"timeline_switch\":{\"parent\":2,\"lsn\":\"0/2A000A0\"},\"backup_job\":null}");
    assert_true(pd_member_parse(arena, json, strlen(json), &read, &err));
    assert_int_equal(read.switch_parent, 2);
    assert_int_equal(read.switch_lsn, 0x2A000A0);
    const char *bad_switch[] = {"{\"parent\":0,\"lsn\":\"0/1\"}", "{\"parent\":2}",
                                "{\"parent\":2,\"lsn\":\"x\"}", "[2]",
                                "{\"parent\":2,\"lsn\":\"0/1\",\"at\":1}"};
    for (size_t i = 0; i < sizeof bad_switch / sizeof bad_switch[0]; i++)
    {
        char *text =
            pd_arena_sprintf(arena, "%.*s,\"timeline_switch\":%s}", (int)strlen(old) - 1, old, bad_switch[i]);
        err = (PdError){0};
        if (pd_member_parse(arena, text, strlen(text), &read, &err))
            fail_msg("timeline_switch %s accepted", bad_switch[i]);
        assert_string_equal(err.problems[0].field, "timeline_switch");
    }
    written.switch_parent = 0;
    pending[1] = "Shared Buffers";
    written.pending_restart_count = 2;
    assert_false(pd_member_json(arena, &written, &json, &err));
    pd_arena_free(arena);
}

/* archive: a primary's archiver written and read back; null or absent is none; every field required. */
static void
test_member_archive(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdMemberState written = sample(), read;
    written.archive = (PdMemberArchive){.is_known = true,
                                        .archived_count = 12,
                                        .last_archived_wal = "000000030000000000000011",
                                        .last_archived_ms = 1764489599800,
                                        .failed_count = 2,
                                        .last_failed_wal = "00000003.history",
                                        .last_failed_ms = 1764489500000,
                                        .ready_count = 3};
    char *json = NULL;
    if (!pd_member_json(arena, &written, &json, &err))
        fail_msg("pd_member_json: %s", err.message);
    assert_contains(json,
                    ",\"archive\":{\"archived_count\":12,\"last_archived_wal\":"
                    "\"000000030000000000000011\",\"last_archived_ms\":1764489599800,\"failed_count\":2,"
                    "\"last_failed_wal\":\"00000003.history\",\"last_failed_ms\":1764489500000,"
                    "\"ready_count\":3},");
    if (!pd_member_parse(arena, json, strlen(json), &read, &err))
        fail_msg("pd_member_parse: %s", err.message);
    assert_true(read.archive.is_known);
    assert_int_equal(read.archive.archived_count, 12);
    assert_string_equal(read.archive.last_archived_wal, "000000030000000000000011");
    assert_int_equal(read.archive.last_archived_ms, 1764489599800);
    assert_int_equal(read.archive.failed_count, 2);
    assert_string_equal(read.archive.last_failed_wal, "00000003.history");
    assert_int_equal(read.archive.last_failed_ms, 1764489500000);
    assert_int_equal(read.archive.ready_count, 3);
    written.archive.ready_count = -1;
    assert_false(pd_member_json(arena, &written, &json, &err)); /* never published: peers would refuse it */
    written.archive.ready_count = 0;
    written.archive.last_failed_wal = "0000/../x";
    assert_false(pd_member_json(arena, &written, &json, &err));
    pd_arena_free(arena);
}

/* failsafe_grant and failsafe_writable: null or their two fields, read back; optional; wrong shapes refused.
 */
static void
test_member_failsafe(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdMemberState written = sample(), read;
    written.failsafe_holder = "n2";
    written.failsafe_holder_ms = 1800;
    written.is_failsafe_writable = true;
    written.failsafe_granted_by = "n2, n3";
    written.failsafe_writable_ms = 2100;
    char *json = NULL;
    if (!pd_member_json(arena, &written, &json, &err))
        fail_msg("pd_member_json: %s", err.message);
    assert_contains(json, "\"failsafe_grant\":{\"holder\":\"n2\",\"remaining_ms\":1800},"
                          "\"failsafe_writable\":{\"granted_by\":\"n2, n3\",\"remaining_ms\":2100},");
    if (!pd_member_parse(arena, json, strlen(json), &read, &err))
        fail_msg("pd_member_parse: %s", err.message);
    assert_string_equal(read.failsafe_holder, "n2");
    assert_int_equal(read.failsafe_holder_ms, 1800);
    assert_null(read.backup_job);
    written.backup_job = "n1-1764489600123"; /* the scheduled backup it runs */
    assert_true(pd_member_json(arena, &written, &json, &err));
    assert_contains(json, ",\"backup_job\":\"n1-1764489600123\"}");
    assert_true(pd_member_parse(arena, json, strlen(json), &read, &err));
    assert_string_equal(read.backup_job, "n1-1764489600123");
    written.backup_job = NULL;
    assert_true(read.is_failsafe_writable);
    assert_string_equal(read.failsafe_granted_by, "n2, n3");
    assert_int_equal(read.failsafe_writable_ms, 2100);
    written.failsafe_holder = NULL;
    written.is_failsafe_writable = false;
    assert_true(pd_member_json(arena, &written, &json, &err));
    assert_true(pd_member_parse(arena, json, strlen(json), &read, &err));
    assert_null(read.failsafe_holder);
    assert_false(read.is_failsafe_writable);
    written.failsafe_holder = "Not A Name"; /* the writer checks with the reader's rules */
    assert_false(pd_member_json(arena, &written, &json, &err));
    const char *bad = "{\"version\":1,\"name\":\"n1\",\"role\":\"standby\",\"state\":\"running\",\"pg_host\":"
                      "\"h\",\"pg_port\":1,\"api_url\":\"u\",\"timeline\":1,\"write_lsn\":\"0/1\","
                      "\"replay_lsn\":\"0/1\",\"is_streaming\":false,\"lag_bytes\":0,\"updated_ms\":1,"
                      "\"waiting_for\":\"\",\"failsafe_grant\":{\"holder\":\"n2\"}}";
    assert_false(pd_member_parse(arena, bad, strlen(bad), &read, &err));
    assert_contains(err.message, "failsafe_grant");
    pd_arena_free(arena);
}

/* True when one of err's problems names field. */
static bool
has_field(const PdError *err, const char *field)
{
    for (size_t i = 0; i < err->problem_count; i++)
        if (strcmp(err->problems[i].field, field) == 0)
            return true;
    return false;
}

static void
assert_refused(PdArena *arena, const char *text, const char *field)
{
    PdError err = {0};
    PdMemberState read = {.name = "untouched"};
    if (pd_member_parse(arena, text, strlen(text), &read, &err))
        fail_msg("accepted: %s", text);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(read.name, "untouched");
    if (field != NULL && !has_field(&err, field))
        fail_msg("no problem names %s in %s (first: %s)", field, text, err.message);
}

static void
test_member_refusals(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *good = "\"name\":\"n1\",\"role\":\"standby\",\"state\":\"running\",\"pg_host\":\"h\","
                       "\"pg_port\":1,\"api_url\":\"u\",\"timeline\":1,\"write_lsn\":\"0/1\",\"replay_lsn\":"
                       "\"0/1\",\"is_streaming\":false,\"lag_bytes\":0,\"updated_ms\":1,\"waiting_for\":\"\"";
    assert_refused(arena, pd_arena_sprintf(arena, "{\"version\":2,%s}", good), "version");
    assert_refused(arena, pd_arena_sprintf(arena, "{\"version\":1,%s,\"extra\":1}", good), "extra");
    assert_refused(arena, pd_arena_sprintf(arena, "{%s}", good), "version");
    assert_refused(arena, "{\"version\":1}", "waiting_for");
    assert_refused(arena, "[1]", NULL);
    const char *later[][2] = {
        {"\"replay_lag_s\":-1", "replay_lag_s"},
        {"\"replay_lag_s\":\"1\"", "replay_lag_s"},
        {"\"pending_restart\":\"work_mem\"", "pending_restart"},
        {"\"pending_restart\":[1]", "pending_restart"},
        {"\"pending_restart\":[\"a b\"]", "pending_restart"},
        {"\"archive\":\"on\"", "archive"},
        {"\"archive\":{\"archived_count\":1}", "archive"},
        {"\"archive\":{\"archived_count\":1,\"last_archived_wal\":\"\",\"last_archived_ms\":0,"
         "\"failed_count\":0,\"last_failed_wal\":\"\",\"last_failed_ms\":0,\"ready_count\":-1}",
         "archive"},
        {"\"archive\":{\"archived_count\":1,\"last_archived_wal\":\"a/b\",\"last_archived_ms\":0,"
         "\"failed_count\":0,\"last_failed_wal\":\"\",\"last_failed_ms\":0,\"ready_count\":0}",
         "archive"},
        {"\"archive\":{\"archived_count\":1,\"last_archived_wal\":\"\",\"last_archived_ms\":0,"
         "\"failed_count\":0,\"last_failed_wal\":\"\",\"last_failed_ms\":0,\"ready_count\":0,"
         "\"x\":1}",
         "archive"}};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        assert_refused(arena, pd_arena_sprintf(arena, "{\"version\":1,%s,%s}", good, later[i][0]),
                       later[i][1]);
    assert_refused(arena, "{\"version\":1,", NULL);
    const char *bad[][2] = {{"\"name\":\"n1\"", "\"name\":\"N-1\""},
                            {"\"role\":\"standby\"", "\"role\":\"leader\""},
                            {"\"state\":\"running\"", "\"state\":\"dancing\""},
                            {"\"pg_port\":1", "\"pg_port\":70000"},
                            {"\"write_lsn\":\"0/1\"", "\"write_lsn\":\"01\""},
                            {"\"is_streaming\":false", "\"is_streaming\":0"},
                            {"\"lag_bytes\":0", "\"lag_bytes\":-2"},
                            {"\"timeline\":1", "\"timeline\":\"1\""}};
    const char *fields[] = {"name",      "role",         "state",     "pg_port",
                            "write_lsn", "is_streaming", "lag_bytes", "timeline"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    {
        char *text = pd_arena_sprintf(arena, "{\"version\":1,%s}", good);
        char *at = strstr(text, bad[i][0]);
        assert_non_null(at);
        char *changed =
            pd_arena_sprintf(arena, "%.*s%s%s", (int)(at - text), text, bad[i][1], at + strlen(bad[i][0]));
        assert_refused(arena, changed, fields[i]);
    }
    pd_arena_free(arena);
}

static void
test_member_json_refuses_what_parse_would(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    char *json = NULL;
    PdMemberState bad = sample();
    bad.state = "dancing";
    bad.waiting_for = "line\nbreak";
    bad.name = "N1";
    assert_false(pd_member_json(arena, &bad, &json, &err));
    assert_null(json);
    assert_true(has_field(&err, "state"));
    assert_true(has_field(&err, "waiting_for"));
    assert_true(has_field(&err, "name"));
    pd_arena_free(arena);
}

static void
test_roster_document(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdRoster roster = {0};
    const char *text = "{\"members\":[\"n3\",\"n1\",\"n2\"]}";
    if (!pd_roster_parse(arena, text, strlen(text), &roster, &err))
        fail_msg("pd_roster_parse: %s", err.message);
    assert_int_equal(roster.count, 3);
    assert_string_equal(roster.names[0], "n1");
    assert_string_equal(roster.names[2], "n3");
    assert_true(pd_roster_contains(&roster, "n2"));
    assert_false(pd_roster_contains(&roster, "n4"));
    char *json = NULL;
    assert_true(pd_roster_json(arena, &roster, &json, &err));
    assert_string_equal(json, "{\"members\":[\"n1\",\"n2\",\"n3\"]}");
    const char *bad[] = {"{\"members\":[\"n1\",\"n1\"]}",
                         "{\"members\":[\"N1\"]}",
                         "{\"members\":[1]}",
                         "{\"members\":\"n1\"}",
                         "{\"members\":[],\"x\":1}",
                         "[]",
                         "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        PdRoster untouched = {.count = 99};
        if (pd_roster_parse(arena, bad[i], strlen(bad[i]), &untouched, &err))
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_int_equal(untouched.count, 99);
    }
    const char *empty = "{\"members\":[]}";
    assert_true(pd_roster_parse(arena, empty, strlen(empty), &roster, &err));
    assert_int_equal(roster.count, 0);
    pd_arena_free(arena);
}

static PdEtcd *
client_of(const char *endpoint)
{
    PdEtcdConfig config = {.endpoints = &endpoint,
                           .endpoint_count = 1,
                           .connect_timeout_ms = 200,
                           .attempt_timeout_ms = 1000,
                           .request_timeout_ms = 1500};
    PdEtcd *etcd = NULL;
    PdError err = {0};
    if (!pd_etcd_open(&config, &etcd, &err))
        fail_msg("pd_etcd_open: %s", err.message);
    return etcd;
}

static PdKeys
keys_of(const char *cluster)
{
    PdKeys keys;
    PdError err = {0};
    if (!pd_keys_init(&keys, "/t", cluster, &err))
        fail_msg("pd_keys_init: %s", err.message);
    return keys;
}

/* The roster in etcd as its document, "" when absent. */
static const char *
stored_roster(PdArena *arena, PdEtcd *etcd, const PdKeys *keys)
{
    PdEtcdKv kv;
    PdError err = {0};
    assert_int_equal(pd_etcd_get(arena, etcd, pd_keys_roster(keys), &kv, &err).status, PD_ETCD_DONE);
    return kv.exists ? kv.value.data : "";
}

static void
test_roster_change(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    PdEtcd *etcd = client_of(etcdtest_single.endpoints[0]);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("roster");
    assert_string_equal(pd_keys_roster(&keys).data, "/t/roster/roster");
    bool is_changed = false;
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n2", true, &is_changed, &err).status,
                     PD_ETCD_DONE);
    assert_true(is_changed);
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n1", true, &is_changed, &err).status,
                     PD_ETCD_DONE);
    assert_string_equal(stored_roster(arena, etcd, &keys), "{\"members\":[\"n1\",\"n2\"]}");
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n1", true, &is_changed, &err).status,
                     PD_ETCD_DONE);
    assert_false(is_changed);
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n2", false, &is_changed, &err).status,
                     PD_ETCD_DONE);
    assert_true(is_changed);
    assert_string_equal(stored_roster(arena, etcd, &keys), "{\"members\":[\"n1\"]}");
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n9", false, &is_changed, &err).status,
                     PD_ETCD_DONE);
    assert_false(is_changed);
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "Bad", true, &is_changed, &err).status,
                     PD_ETCD_REJECTED);
    /* a broken stored roster is left as it is */
    assert_int_equal(
        pd_etcd_put(etcd, pd_keys_roster(&keys), pd_etcd_text("{\"members\":7}"), 0, NULL, &err).status,
        PD_ETCD_DONE);
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n3", true, &is_changed, &err).status,
                     PD_ETCD_REJECTED);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(stored_roster(arena, etcd, &keys), "{\"members\":7}");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

typedef struct Adder
{
    const char *name;
    PdEtcdStatus status;
} Adder;

static void *
add_one(void *data)
{
    Adder *adder = data;
    PdEtcd *etcd = client_of(etcdtest_single.endpoints[0]);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("concurrent");
    adder->status = pd_roster_change(arena, etcd, &keys, adder->name, true, NULL, &err).status;
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    return NULL;
}

static void
test_roster_concurrent_adds(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    Adder adders[4] = {{"a1"}, {"a2"}, {"a3"}, {"a4"}};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, add_one, &adders[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(adders[i].status, PD_ETCD_DONE);
    PdEtcd *etcd = client_of(etcdtest_single.endpoints[0]);
    PdArena *arena = pd_arena_new(0);
    PdKeys keys = keys_of("concurrent");
    assert_string_equal(stored_roster(arena, etcd, &keys), "{\"members\":[\"a1\",\"a2\",\"a3\",\"a4\"]}");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_roster_unreachable_is_unknown(void **state)
{
    (void)state;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", etcdtest_refusing_port());
    PdEtcd *etcd = client_of(endpoint);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("unreachable");
    bool is_changed = true;
    assert_int_equal(pd_roster_change(arena, etcd, &keys, "n1", true, &is_changed, &err).status,
                     PD_ETCD_UNKNOWN);
    assert_false(is_changed);
    assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
    assert_contains(err.context, "the roster");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* Positions compare as (timeline, LSN): a newer timeline is ahead whatever the LSNs (the double fault of
 * tests/integration/keeper_sync_timeline.sh: a fenced primary's timeline-1 tail past the survivors'). */
static void
test_member_positions(void **state)
{
    (void)state;
    const uint64_t far = (uint64_t)0x5 << 32, near = 0x3000148;
    assert_true(pd_member_position_compare(2, near, 1, far) > 0);
    assert_true(pd_member_position_compare(1, far, 2, near) < 0);
    assert_true(pd_member_position_compare(3, 0, 2, UINT64_MAX) > 0);
    assert_true(pd_member_position_compare(2, far, 2, near) > 0);
    assert_true(pd_member_position_compare(2, near, 2, far) < 0);
    assert_int_equal(pd_member_position_compare(2, near, 2, near), 0);
    /* a timeline not known: the LSNs alone */
    assert_true(pd_member_position_compare(0, far, 2, near) > 0);
    assert_true(pd_member_position_compare(2, near, 0, far) < 0);
    assert_int_equal(pd_member_position_compare(0, near, 0, near), 0);
    /* lag: bytes on one timeline, none when ahead, unknown (UINT64_MAX) from an older timeline */
    assert_true(pd_member_position_lag(2, near, 2, near + 1000) == 1000);
    assert_true(pd_member_position_lag(2, far, 2, near) == 0);
    assert_true(pd_member_position_lag(3, near, 2, far) == 0);
    assert_true(pd_member_position_lag(1, far, 2, near) == UINT64_MAX);
    assert_true(pd_member_position_lag(1, near, 2, far) == UINT64_MAX);
    assert_true(pd_member_position_lag(0, near, 2, near + 7) == 7);
    assert_true(pd_member_position_lag(2, near + 7, 0, near) == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_round_trip),
        cmocka_unit_test(test_member_positions),
        cmocka_unit_test(test_member_refusals),
        cmocka_unit_test(test_member_failsafe),
        cmocka_unit_test(test_member_later_fields),
        cmocka_unit_test(test_member_archive),
        cmocka_unit_test(test_member_json_refuses_what_parse_would),
        cmocka_unit_test(test_roster_document),
        cmocka_unit_test(test_roster_change),
        cmocka_unit_test(test_roster_concurrent_adds),
        cmocka_unit_test(test_roster_unreachable_is_unknown),
    };
    return cmocka_run_group_tests(tests, etcdtest_start_single, etcdtest_stop_single);
}
