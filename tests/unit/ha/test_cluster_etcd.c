/*
 * test_cluster_etcd.c - the cluster configuration in a real etcd (started by
 * tests/lib/etcd.sh): the defaults while the key is absent, a change and its
 * read back, invalid changes that write nothing, a document broken by hand,
 * --if-revision's refusal, concurrent changers on their own clients that
 * all get applied (no lost update), and the unknown outcomes: an etcd that
 * refuses connections, and a write whose answer is garbage (a canned
 * server), reported as unknown, never as done or refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "etcdtest.h"
#include "ha/cluster_config.h"
#include "testing.h"

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

static PdEtcd *
single_client(void)
{
    if (!etcdtest_single.is_running)
        skip();
    return client_of(etcdtest_single.endpoints[0]);
}

/* A layout of its own per test: /t/<cluster>. */
static PdKeys
keys_of(const char *cluster)
{
    PdKeys keys;
    PdError err = {0};
    if (!pd_keys_init(&keys, "/t", cluster, &err))
        fail_msg("pd_keys_init: %s", err.message);
    return keys;
}

#define assert_outcome(call, expected)                                                                       \
    do                                                                                                       \
    {                                                                                                        \
        PdClusterConfigStatus got_ = (call).status;                                                          \
        if (got_ != (expected))                                                                              \
            fail_msg("%s: %s, expected %s (%s; %s)", #call, pd_cluster_config_status_name(got_),             \
                     pd_cluster_config_status_name(expected), err.message, err.context);                     \
    } while (0)

static void
test_absent_is_defaults(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("absent");
    PdClusterConfig config;
    int64_t revision = -1;
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &revision, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(revision, 0);
    assert_int_equal(config.ttl_s, PD_CLUSTER_TTL_S_DEFAULT);
    assert_int_equal(config.loop_interval_ms, 1000);
    assert_false(config.is_synchronous);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_set_and_show(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("roundtrip");
    PdClusterConfig written, read;
    int64_t revision = 0, read_revision = 0;
    int attempts = -1;
    const char *change[] = {"synchronous_mode=on", "synchronous_quorum=2",
                            "postgresql_parameters.work_mem=16MB"};
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, change, 3, -1, 0, &written, &revision, &attempts, &err),
        PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(attempts, 1);
    assert_true(revision > 0);
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &read, &read_revision, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(read_revision, revision);
    assert_string_equal(pd_cluster_config_json(arena, &read, false, &err),
                        pd_cluster_config_json(arena, &written, false, &err));
    assert_true(read.is_synchronous);
    assert_int_equal(read.synchronous_quorum, 2);
    assert_string_equal(read.parameters[0].value, "16MB");
    /* the stored bytes are the compact document */
    PdEtcdKv kv;
    assert_int_equal(pd_etcd_get(arena, etcd, pd_keys_config(&keys), &kv, &err).status, PD_ETCD_DONE);
    assert_string_equal(kv.value.data, pd_cluster_config_json(arena, &read, false, &err));
    /* the same change again writes nothing */
    int64_t again = 0;
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, change, 3, -1, 0, &written, &again, &attempts, &err),
        PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(attempts, 0);
    assert_int_equal(again, revision);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_invalid_writes_nothing(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("invalid");
    PdClusterConfig config;
    int64_t revision = 0, after = 0;
    const char *first[] = {"ttl_s=6"};
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, first, 1, -1, 0, &config, &revision, NULL, &err),
        PD_CLUSTER_CONFIG_DONE);
    const char *bad[] = {"ttl_s=-1", "synchronous_quorum=9", "postgresql_parameters.port=5433", "bogus=1"};
    assert_outcome(pd_cluster_config_change(arena, etcd, &keys, bad, 4, -1, 0, &config, &after, NULL, &err),
                   PD_CLUSTER_CONFIG_INVALID);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(err.problem_count, 4);
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &after, &err), PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(after, revision);
    assert_int_equal(config.ttl_s, 6);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_broken_document(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("broken");
    assert_int_equal(
        pd_etcd_put(etcd, pd_keys_config(&keys), pd_etcd_text("{\"ttl_s\": \"soon\"}"), 0, NULL, &err).status,
        PD_ETCD_DONE);
    PdClusterConfig config;
    int64_t revision = 0;
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &revision, &err),
                   PD_CLUSTER_CONFIG_INVALID);
    assert_string_equal(err.field, "ttl_s");
    assert_contains(err.context, "/t/broken/config");
    const char *change[] = {"ttl_s=4"};
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, change, 1, -1, 0, &config, &revision, NULL, &err),
        PD_CLUSTER_CONFIG_INVALID);
    assert_contains(err.hint, "etcdctl del /t/broken/config");
    PdEtcdKv kv;
    assert_int_equal(pd_etcd_get(arena, etcd, pd_keys_config(&keys), &kv, &err).status, PD_ETCD_DONE);
    assert_string_equal(kv.value.data, "{\"ttl_s\": \"soon\"}"); /* nothing written */
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_if_revision(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("ifrevision");
    PdClusterConfig config;
    int64_t first = 0, second = 0, third = 0;
    const char *a[] = {"ttl_s=5"}, *b[] = {"ttl_s=7"}, *c[] = {"ttl_s=9"};
    assert_outcome(pd_cluster_config_change(arena, etcd, &keys, a, 1, 1, 0, &config, &first, NULL, &err),
                   PD_CLUSTER_CONFIG_CONFLICT); /* absent is revision 0, not 1 */
    assert_outcome(pd_cluster_config_change(arena, etcd, &keys, a, 1, 0, 0, &config, &first, NULL, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_outcome(pd_cluster_config_change(arena, etcd, &keys, b, 1, first, 0, &config, &second, NULL, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_true(second > first);
    /* a change decided on the first document is refused: someone else wrote since */
    assert_outcome(pd_cluster_config_change(arena, etcd, &keys, c, 1, first, 0, &config, &third, NULL, &err),
                   PD_CLUSTER_CONFIG_CONFLICT);
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "nothing was written");
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &third, &err), PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(config.ttl_s, 7);
    assert_int_equal(third, second);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

enum
{
    CHANGERS = 3,
    CHANGES = 15,
};

typedef struct Changer
{
    int index;
    int done;
    int attempts;
    int conflicts;
    char failure[320];
} Changer;

/* Sets postgresql_parameters.app_<index>_<n> for n in 0..CHANGES-1, each a change of its own. */
static void *
run_changer(void *data)
{
    Changer *changer = data;
    PdEtcd *etcd = client_of(etcdtest_single.endpoints[0]);
    PdKeys keys = keys_of("concurrent");
    PdArena *arena = pd_arena_new(0);
    for (int n = 0; n < CHANGES; n++)
    {
        char assignment[96];
        snprintf(assignment, sizeof assignment, "postgresql_parameters.app_%d_%d=v%d", changer->index, n, n);
        const char *assignments[] = {assignment};
        PdClusterConfig config;
        int64_t revision;
        int attempts = 0;
        PdError err = {0};
        PdClusterConfigStatus status = pd_cluster_config_change(arena, etcd, &keys, assignments, 1, -1, 50,
                                                                &config, &revision, &attempts, &err)
                                           .status;
        changer->attempts += attempts;
        if (status == PD_CLUSTER_CONFIG_DONE)
            changer->done++;
        else if (status == PD_CLUSTER_CONFIG_CONFLICT)
            changer->conflicts++;
        else
            snprintf(changer->failure, sizeof changer->failure, "%s: %s",
                     pd_cluster_config_status_name(status), err.message);
        pd_arena_reset(arena);
    }
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    return NULL;
}

static void
test_concurrent_changes_all_applied(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    pthread_t threads[CHANGERS];
    Changer changers[CHANGERS];
    for (int i = 0; i < CHANGERS; i++)
    {
        changers[i] = (Changer){.index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, run_changer, &changers[i]), 0);
    }
    int attempts = 0;
    for (int i = 0; i < CHANGERS; i++)
    {
        pthread_join(threads[i], NULL);
        if (changers[i].failure[0] != '\0')
            fail_msg("changer %d: %s", i, changers[i].failure);
        assert_int_equal(changers[i].conflicts, 0);
        assert_int_equal(changers[i].done, CHANGES);
        attempts += changers[i].attempts;
    }
    printf("# %d changes took %d compare-and-swaps\n", CHANGERS * CHANGES, attempts);
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("concurrent");
    PdClusterConfig config;
    int64_t revision;
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &revision, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(config.parameter_count, CHANGERS * CHANGES); /* no change lost */
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_unreachable_is_unknown(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", etcdtest_refusing_port());
    PdEtcd *etcd = client_of(url);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("unknown");
    PdClusterConfig config;
    int64_t revision = 0;
    int attempts = -1;
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &revision, &err),
                   PD_CLUSTER_CONFIG_UNKNOWN);
    assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
    const char *change[] = {"ttl_s=4"};
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, change, 1, -1, 0, &config, &revision, &attempts, &err),
        PD_CLUSTER_CONFIG_UNKNOWN);
    assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
    assert_int_equal(attempts, 0); /* the read failed: nothing was sent */
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* Reads answer as etcd would (a header, no key: absent); the transaction's answer has no responses, which
 * the client cannot trust: the write's outcome is unknown. */
static void
test_unknown_write(void **state)
{
    (void)state;
    EtcdTestFake fake;
    const char *reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                        "{\"header\":{\"cluster_id\":\"77\",\"member_id\":\"2\",\"revision\":\"5\","
                        "\"raft_term\":\"2\"}}";
    assert_true(etcdtest_fake_start(&fake, reply, 77));
    PdEtcd *etcd = client_of(fake.url);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys = keys_of("unknownwrite");
    PdClusterConfig config;
    int64_t revision = -1;
    int attempts = 0;
    assert_outcome(pd_cluster_config_load(arena, etcd, &keys, &config, &revision, &err),
                   PD_CLUSTER_CONFIG_DONE);
    assert_int_equal(revision, 0);
    const char *change[] = {"ttl_s=4"};
    assert_outcome(
        pd_cluster_config_change(arena, etcd, &keys, change, 1, -1, 0, &config, &revision, &attempts, &err),
        PD_CLUSTER_CONFIG_UNKNOWN);
    assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
    assert_int_equal(attempts, 1);
    assert_contains(err.context, "the change may or may not have been applied");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    etcdtest_fake_stop(&fake);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent_is_defaults),
        cmocka_unit_test(test_set_and_show),
        cmocka_unit_test(test_invalid_writes_nothing),
        cmocka_unit_test(test_broken_document),
        cmocka_unit_test(test_if_revision),
        cmocka_unit_test(test_concurrent_changes_all_applied),
        cmocka_unit_test(test_unreachable_is_unknown),
        cmocka_unit_test(test_unknown_write),
    };
    return cmocka_run_group_tests(tests, etcdtest_start_single, etcdtest_stop_single);
}
