/*
 * test_switchover.c - the switchover request (switchover.h): a document as
 * the command writes it and as the leader completes it, read back whole and
 * written again identically; every way a field can be wrong refused, naming
 * it; the writer refusing what the reader would; and the rules of who may
 * take over (qualifies, choose, the failover's possible loss) on member
 * states made here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ha/switchover.h"
#include "testing.h"

static const char *const pending =
    "{\"kind\":\"switchover\",\"from\":\"n1\",\"to\":null,\"requested_ms\":1764489600123,\"timeout_ms\":"
    "60000,"
    "\"allow_data_loss\":false,\"lsn\":null,\"released_ms\":null,\"aborted\":null}";
static const char *const released =
    "{\"kind\":\"switchover\",\"from\":\"n1\",\"to\":\"n2\",\"requested_ms\":1764489600123,\"timeout_ms\":"
    "60000,"
    "\"allow_data_loss\":false,\"lsn\":\"1/5000060\",\"released_ms\":1764489600500,\"aborted\":null}";

static bool
parse(PdArena *arena, const char *text, PdSwitchover *request, PdError *err)
{
    return pd_switchover_parse(arena, text, strlen(text), request, err);
}

static void
test_read_and_write(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdSwitchover request;
    assert_true(parse(arena, pending, &request, &err));
    assert_int_equal(request.kind, PD_SWITCHOVER_KIND_SWITCHOVER);
    assert_string_equal(request.from, "n1");
    assert_null(request.to);
    assert_int_equal(request.requested_ms, 1764489600123);
    assert_int_equal(request.lsn, 0);
    assert_null(request.aborted);
    assert_true(pd_switchover_is_live(&request, 1764489600123 + 60000));
    assert_false(pd_switchover_is_live(&request, 1764489600123 + 60001));
    char *json = NULL;
    assert_true(pd_switchover_json(arena, &request, &json, &err));
    assert_string_equal(json, pending);
    assert_true(parse(arena, released, &request, &err));
    assert_string_equal(request.to, "n2");
    assert_int_equal(request.lsn, ((uint64_t)1 << 32) | 0x5000060);
    assert_int_equal(request.released_ms, 1764489600500);
    assert_true(pd_switchover_json(arena, &request, &json, &err));
    assert_string_equal(json, released);
    request.aborted = "the cluster is paused";
    assert_false(pd_switchover_is_live(&request, request.requested_ms));
    assert_true(pd_switchover_json(arena, &request, &json, &err));
    assert_contains(json, "\"aborted\":\"the cluster is paused\"");
    const char *failover =
        "{\"kind\":\"failover\",\"from\":null,\"to\":\"n3\",\"requested_ms\":1,\"timeout_ms\":5,"
        "\"allow_data_loss\":true,\"lsn\":null,\"released_ms\":null,\"aborted\":null}";
    assert_true(parse(arena, failover, &request, &err));
    assert_int_equal(request.kind, PD_SWITCHOVER_KIND_FAILOVER);
    assert_null(request.from);
    assert_true(request.allow_data_loss);
    pd_arena_free(arena);
}

/* pending with one field's text replaced. */
static char *
replaced(PdArena *arena, const char *field_text, const char *with)
{
    const char *at = strstr(pending, field_text);
    assert_non_null(at);
    return pd_arena_sprintf(arena, "%.*s%s%s", (int)(at - pending), pending, with, at + strlen(field_text));
}

static void
test_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    struct
    {
        const char *field_text, *with, *field;
    } bad[] = {
        {"\"kind\":\"switchover\"", "\"kind\":\"takeover\"", "kind"},
        {"\"from\":\"n1\"", "\"from\":\"N1\"", "from"},
        {"\"from\":\"n1\"", "\"from\":null", "from"}, /* a switchover names its leader */
        {"\"to\":null", "\"to\":\"a-b\"", "to"},
        {"\"to\":null", "\"to\":7", "to"},
        {"\"requested_ms\":1764489600123", "\"requested_ms\":-1", "requested_ms"},
        {"\"requested_ms\":1764489600123", "\"requested_ms\":\"1\"", "requested_ms"},
        {"\"timeout_ms\":60000", "\"timeout_ms\":0", "timeout_ms"},
        {"\"allow_data_loss\":false", "\"allow_data_loss\":0", "allow_data_loss"},
        {"\"lsn\":null", "\"lsn\":\"0/1\"", "released_ms"}, /* lsn without released_ms */
        {"\"lsn\":null", "\"lsn\":\"0/0\"", "lsn"},
        {"\"lsn\":null", "\"lsn\":\"x\"", "lsn"},
        {"\"released_ms\":null", "\"released_ms\":5", "released_ms"},
        {"\"aborted\":null", "\"aborted\":\"\"", "aborted"},
        {"\"aborted\":null", "\"aborted\":\"a\\nb\"", "aborted"},
        {"\"aborted\":null", "\"aborted\":null,\"x\":1", "x"},
        {",\"aborted\":null", "", "aborted"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        PdError err = {0};
        PdSwitchover request = {.requested_ms = 42};
        char *text = replaced(arena, bad[i].field_text, bad[i].with);
        if (parse(arena, text, &request, &err))
            fail_msg("accepted: %s", text);
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        if (strcmp(err.field, bad[i].field) != 0)
            fail_msg("%s: field \"%s\", expected \"%s\" (%s)", text, err.field, bad[i].field, err.message);
        assert_contains(err.message, "the switchover request's");
        assert_int_equal(request.requested_ms, 42); /* untouched */
    }
    const char *not_objects[] = {"", "[]", "{", "null", "{\"kind\":\"switchover\"} x"};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++)
    {
        PdError err = {0};
        PdSwitchover request;
        assert_false(parse(arena, not_objects[i], &request, &err));
        assert_contains(err.message, "not a JSON object");
    }
    PdError err = {0};
    char *json = NULL;
    PdSwitchover failover = {.kind = PD_SWITCHOVER_KIND_FAILOVER, .requested_ms = 1, .timeout_ms = 1};
    assert_false(pd_switchover_json(arena, &failover, &json, &err)); /* a failover names its member */
    assert_string_equal(err.field, "to");
    assert_null(json);
    pd_arena_free(arena);
}

/* ---- who may take over -------------------------------------------------------------------------------- */

enum
{
    NOW = 1000000,
};

static PdMemberState
standby(const char *name, uint64_t lsn, int64_t lag)
{
    return (PdMemberState){.name = name,
                           .role = PD_MEMBER_ROLE_STANDBY,
                           .state = "running",
                           .write_lsn = lsn,
                           .is_streaming = true,
                           .lag_bytes = lag,
                           .updated_ms = NOW - 100};
}

static void
test_qualifies(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    PdMemberState members[] = {
        {.name = "n1",
         .role = PD_MEMBER_ROLE_PRIMARY,
         .state = "running",
         .write_lsn = 900,
         .updated_ms = NOW},
        standby("n2", 800, 100),
        standby("n3", 850, 50),
        standby("n4", 890, 10),
    };
    members[3].is_streaming = false;
    PdSwitchoverCluster cluster = {
        .leader = "n1", .members = members, .member_count = 4, .config = &config, .now_ms = NOW};
    const char *why = NULL;
    assert_true(pd_switchover_qualifies(arena, &cluster, "n2", &why));
    assert_false(pd_switchover_qualifies(arena, &cluster, "n1", &why));
    assert_string_equal(why, "n1 is the leader");
    assert_false(pd_switchover_qualifies(arena, &cluster, "n5", &why));
    assert_contains(why, "n5 has no member state");
    assert_false(pd_switchover_qualifies(arena, &cluster, "n4", &why));
    assert_string_equal(why, "n4 is not streaming from the leader");
    assert_string_equal(pd_switchover_choose(arena, &cluster, &why),
                        "n3"); /* the most advanced that qualifies */
    members[2].state = "stopped";
    assert_false(pd_switchover_qualifies(arena, &cluster, "n3", &why));
    assert_string_equal(why, "n3 is stopped, not running");
    members[1].updated_ms = NOW - config.ttl_s * 2000 - 1;
    assert_false(pd_switchover_qualifies(arena, &cluster, "n2", &why));
    assert_contains(why, "ms old (more than ttl_s * 2)");
    assert_null(pd_switchover_choose(arena, &cluster, &why));
    assert_contains(why, "n3 is stopped, not running; n4 is not streaming");
    members[1].updated_ms = NOW;
    config.maximum_lag_on_failover_bytes = 99;
    assert_false(pd_switchover_qualifies(arena, &cluster, "n2", &why));
    assert_contains(why, "n2's lag (100 bytes) is above maximum_lag_on_failover_bytes (99)");
    config.maximum_lag_on_failover_bytes = 100;
    const char *set_names[] = {"n3", "n4"};
    PdRoster set = {set_names, 2};
    cluster.sync_set = &set;
    assert_false(pd_switchover_qualifies(arena, &cluster, "n2", &why));
    assert_string_equal(why, "n2 is not in the synchronous set (the sync key)");
    pd_arena_free(arena);
}

static void
test_failover_loss(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    config.maximum_lag_on_failover_bytes = 1000;
    PdMemberState members[] = {standby("n2", 5000, 0), standby("n3", 4000, 1000)};
    PdSwitchoverCluster cluster = {.members = members, .member_count = 2, .config = &config, .now_ms = NOW};
    uint64_t lost = 9;
    bool is_safe = false;
    const char *why = NULL;
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n2", &lost, &is_safe, &why));
    assert_true(is_safe);
    assert_int_equal(lost, 0);
    assert_string_equal(why, "");
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_false(is_safe);
    assert_int_equal(lost, 1000);
    assert_string_equal(why, "n2 is 1000 bytes ahead of n3");
    members[0].state = "stopped"; /* n2 gone: n3 within the lag bound is safe */
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_true(is_safe);
    assert_int_equal(lost, 1000);
    config.maximum_lag_on_failover_bytes = 999;
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_false(is_safe);
    assert_contains(why, "n3 was 1000 bytes behind the last leader's position");
    assert_false(pd_switchover_failover_loss(arena, &cluster, "n2", &lost, &is_safe, &why));
    assert_string_equal(why, "n2 is stopped");
    /* synchronous mode: ANY 1 of (n2, n3) needs both positions read, n3 the most advanced */
    config.maximum_lag_on_failover_bytes = 1000;
    members[0].state = "running";
    members[0].write_lsn = 3000;
    const char *set_names[] = {"n2", "n3"};
    PdRoster set = {set_names, 2};
    cluster.sync_set = &set;
    cluster.sync_quorum = 1;
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_true(is_safe);
    members[0].updated_ms = 0; /* only one position read: not provable */
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_false(is_safe);
    assert_int_equal(lost, 1000);
    assert_contains(why, "only 1 of the 2 synchronous standbys report a position (2 needed");
    pd_arena_free(arena);
}

/* Positions across timelines: a member on a newer timeline is ahead whatever the LSNs. */
static void
test_timelines(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    PdMemberState members[] = {standby("n2", 9000, 0), standby("n3", 4000, 0)};
    members[0].timeline = 1; /* a fork: further, on the older timeline */
    members[1].timeline = 2;
    PdSwitchoverCluster cluster = {.members = members, .member_count = 2, .config = &config, .now_ms = NOW};
    const char *why = NULL;
    assert_string_equal(pd_switchover_choose(arena, &cluster, &why), "n3");
    uint64_t lost = 0;
    bool is_safe = true;
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_true(is_safe);
    assert_int_equal(lost, 0);
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n2", &lost, &is_safe, &why));
    assert_false(is_safe);
    assert_string_equal(why, "n3 is on a newer timeline than n2 (timeline 1)");
    const char *set_names[] = {"n2", "n3"};
    PdRoster set = {set_names, 2};
    cluster.sync_set = &set;
    cluster.sync_quorum = 1;
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n3", &lost, &is_safe, &why));
    assert_true(is_safe);
    assert_true(pd_switchover_failover_loss(arena, &cluster, "n2", &lost, &is_safe, &why));
    assert_false(is_safe);
    assert_contains(why, "n3 of the synchronous set is ahead of n2");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_read_and_write), cmocka_unit_test(test_refused),
                                       cmocka_unit_test(test_qualifies), cmocka_unit_test(test_failover_loss),
                                       cmocka_unit_test(test_timelines)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
