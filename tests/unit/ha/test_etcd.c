/*
 * test_etcd.c - the etcd client against a real etcd (Debian's etcd-server,
 * started on free loopback ports by tests/lib/etcd.sh): every call, the
 * compare-and-swap forms the keeper uses, lease expiry, bytes and unicode,
 * endpoint failover in a 3-member cluster, and the rule that matters most:
 * a refused port, a blackhole, a 5xx or garbage is PD_ETCD_UNKNOWN within the
 * timeout, never a refusal the keeper would read as "lease lost". Without an
 * etcd the tests that need one skip, saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ha/etcd.h"
#include "etcdtest.h"

/* A client of the given endpoints with short timeouts; fails the test when the config is refused. */
static PdEtcd *
client_of(const char *const *endpoints, size_t count, int attempt_ms, int request_ms)
{
    PdEtcdConfig config = {.endpoints = endpoints,
                           .endpoint_count = count,
                           .connect_timeout_ms = 200,
                           .attempt_timeout_ms = attempt_ms,
                           .request_timeout_ms = request_ms};
    PdEtcd *etcd = NULL;
    PdError err = {0};
    if (!pd_etcd_open(&config, &etcd, &err))
        fail_msg("pd_etcd_open: %s", err.message);
    return etcd;
}

/* A client of the single member, or the test skips. */
static PdEtcd *
single_client(void)
{
    if (!etcdtest_single.is_running)
        skip();
    return client_of(etcdtest_single.endpoints, 1, 1000, 2000);
}

#define assert_status(call, expected)                                                                        \
    do                                                                                                       \
    {                                                                                                        \
        PdEtcdStatus got_ = (call).status;                                                                   \
        if (got_ != (expected))                                                                              \
            fail_msg("%s: %s, expected %s (%s; %s)", #call, pd_etcd_status_name(got_),                       \
                     pd_etcd_status_name(expected), err.message, err.detail);                                \
    } while (0)

static void
assert_bytes(PdEtcdBytes got, const char *expected, size_t length)
{
    assert_int_equal(got.length, length);
    assert_memory_equal(got.data, expected, length);
    assert_int_equal(got.data[length], '\0');
}

static void
test_open_checks_config(void **state)
{
    (void)state;
    PdEtcd *etcd = NULL;
    PdError err = {0};
    PdEtcdConfig none = {0};
    assert_false(pd_etcd_open(&none, &etcd, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "no etcd endpoint given");
    const char *bad[] = {"ftp://127.0.0.1:2379", "http://127.0.0.1:2379/v3", "http://", "http://user@h:1",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        PdEtcdConfig config = {.endpoints = &bad[i], .endpoint_count = 1};
        assert_false(pd_etcd_open(&config, &etcd, &err));
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_non_null(strstr(err.message, "bad etcd endpoint"));
    }
    const char *good[] = {"127.0.0.1:2379", "https://10.0.0.1:2379/"};
    PdEtcdConfig slow = {.endpoints = good, .endpoint_count = 2, .attempt_timeout_ms = 3000};
    assert_false(pd_etcd_open(&slow, &etcd, &err));
    assert_string_equal(err.field, "attempt_timeout_ms");
    PdEtcdConfig config = {.endpoints = good, .endpoint_count = 2};
    assert_true(pd_etcd_open(&config, &etcd, &err));
    assert_string_equal(pd_etcd_endpoint(etcd), "http://127.0.0.1:2379");
    pd_etcd_close(etcd);
}

static void
test_put_get_delete(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t first = 0, second = 0, deleted = -1;
    PdEtcdKv kv;
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/t/a"), pd_etcd_text("one"), 0, &first, &err),
                  PD_ETCD_DONE);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/t/a"), &kv, &err), PD_ETCD_DONE);
    assert_true(kv.exists);
    assert_bytes(kv.key, "/t/a", 4);
    assert_bytes(kv.value, "one", 3);
    assert_int_equal(kv.mod_revision, first);
    assert_int_equal(kv.create_revision, first);
    assert_int_equal(kv.version, 1);
    assert_int_equal(kv.lease_id, 0);
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/t/a"), pd_etcd_text("two"), 0, &second, &err),
                  PD_ETCD_DONE);
    assert_true(second > first);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/t/a"), &kv, &err), PD_ETCD_DONE);
    assert_bytes(kv.value, "two", 3);
    assert_int_equal(kv.version, 2);
    assert_int_equal(kv.create_revision, first);
    assert_status(pd_etcd_delete(etcd, pd_etcd_text("/t/a"), &deleted, &err), PD_ETCD_DONE);
    assert_int_equal(deleted, 1);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/t/a"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    assert_status(pd_etcd_delete(etcd, pd_etcd_text("/t/a"), &deleted, &err), PD_ETCD_DONE);
    assert_int_equal(deleted, 0);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_range_prefix(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    const char *keys[] = {"/r/b", "/r/a", "/r/c/d", "/r", "/s/x", "/q"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_status(pd_etcd_put(etcd, pd_etcd_text(keys[i]), pd_etcd_text(keys[i]), 0, NULL, &err),
                      PD_ETCD_DONE);
    PdEtcdKv *kvs;
    size_t count;
    assert_status(pd_etcd_range(arena, etcd, pd_etcd_text("/r/"), &kvs, &count, &err), PD_ETCD_DONE);
    assert_int_equal(count, 3);
    assert_string_equal(kvs[0].key.data, "/r/a");
    assert_string_equal(kvs[1].key.data, "/r/b");
    assert_string_equal(kvs[2].key.data, "/r/c/d");
    assert_string_equal(kvs[2].value.data, "/r/c/d");
    assert_status(pd_etcd_range(arena, etcd, pd_etcd_text("/nothing/"), &kvs, &count, &err), PD_ETCD_DONE);
    assert_int_equal(count, 0);
    /* a prefix ending in 0xff bytes: the range end carries into the byte before them */
    assert_status(pd_etcd_put(etcd, (PdEtcdBytes){"\x7f\xff\xff\x01", 4}, pd_etcd_text("x"), 0, NULL, &err),
                  PD_ETCD_DONE);
    assert_status(pd_etcd_put(etcd, (PdEtcdBytes){"\x80", 1}, pd_etcd_text("y"), 0, NULL, &err),
                  PD_ETCD_DONE);
    assert_status(pd_etcd_range(arena, etcd, (PdEtcdBytes){"\x7f\xff\xff", 3}, &kvs, &count, &err),
                  PD_ETCD_DONE);
    assert_int_equal(count, 1);
    assert_bytes(kvs[0].key, "\x7f\xff\xff\x01", 4);
    assert_status(pd_etcd_range(arena, etcd, pd_etcd_text(""), &kvs, &count, &err), PD_ETCD_DONE);
    assert_true(count >= 8);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_binary_and_unicode(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    static const char binary_key[] = "/b/\0\x01\xff\xfe=+/";
    static const char binary_value[] = "\0\0\x80\x81\xc3\x28\xff\n\r\"\\";
    PdEtcdBytes key = {binary_key, sizeof binary_key - 1};
    PdEtcdBytes value = {binary_value, sizeof binary_value - 1};
    PdEtcdKv kv;
    assert_status(pd_etcd_put(etcd, key, value, 0, NULL, &err), PD_ETCD_DONE);
    assert_status(pd_etcd_get(arena, etcd, key, &kv, &err), PD_ETCD_DONE);
    assert_true(kv.exists);
    assert_bytes(kv.key, binary_key, sizeof binary_key - 1);
    assert_bytes(kv.value, binary_value, sizeof binary_value - 1);
    /* "/b/" alone is another key: the NUL inside the key is part of it */
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/b/"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    const char *unicode_key = "/u/ключ/✓/\xf0\x9f\x94\x91";
    const char *unicode_value = "значение ✓ \xf0\x9f\x94\x91 ü";
    assert_status(pd_etcd_put(etcd, pd_etcd_text(unicode_key), pd_etcd_text(unicode_value), 0, NULL, &err),
                  PD_ETCD_DONE);
    PdEtcdKv *kvs;
    size_t count;
    assert_status(pd_etcd_range(arena, etcd, pd_etcd_text("/u/ключ/"), &kvs, &count, &err), PD_ETCD_DONE);
    assert_int_equal(count, 1);
    assert_string_equal(kvs[0].key.data, unicode_key);
    assert_string_equal(kvs[0].value.data, unicode_value);
    for (size_t length = 0; length < 5; length++) /* every padding of base64 */
    {
        PdEtcdBytes short_value = {"\xff\x00\xfe\x01", length};
        assert_status(pd_etcd_put(etcd, pd_etcd_text("/b/short"), short_value, 0, NULL, &err), PD_ETCD_DONE);
        assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/b/short"), &kv, &err), PD_ETCD_DONE);
        assert_bytes(kv.value, "\xff\x00\xfe\x01", length);
    }
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_cas_create_if_absent(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t lease = 0;
    assert_status(pd_etcd_lease_grant(etcd, 30, &lease, NULL, &err), PD_ETCD_DONE);
    PdEtcdCas take = {.key = pd_etcd_text("/c/leader"),
                      .compare = PD_ETCD_IF_ABSENT,
                      .action = PD_ETCD_PUT,
                      .value = pd_etcd_text("node1"),
                      .lease_id = lease};
    PdEtcdKv current;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_DONE);
    assert_true(current.exists);
    assert_string_equal(current.value.data, "node1");
    assert_int_equal(current.lease_id, lease);
    assert_int_equal(current.create_revision, current.mod_revision);
    int64_t taken_at = current.mod_revision;
    take.value = pd_etcd_text("node2");
    take.lease_id = 0;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_true(current.exists);
    assert_string_equal(current.value.data, "node1");
    assert_int_equal(current.mod_revision, taken_at);
    assert_int_equal(current.lease_id, lease);
    assert_status(pd_etcd_lease_revoke(etcd, lease, &err), PD_ETCD_DONE);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_cas_replace_if_mod_revision(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t revision = 0;
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/c/config"), pd_etcd_text("v1"), 0, &revision, &err),
                  PD_ETCD_DONE);
    PdEtcdCas replace = {.key = pd_etcd_text("/c/config"),
                         .compare = PD_ETCD_IF_MOD_REVISION,
                         .mod_revision = revision,
                         .action = PD_ETCD_PUT,
                         .value = pd_etcd_text("v2")};
    PdEtcdKv current;
    assert_status(pd_etcd_cas(arena, etcd, &replace, &current, &err), PD_ETCD_DONE);
    assert_string_equal(current.value.data, "v2");
    assert_true(current.mod_revision > revision);
    int64_t replaced_at = current.mod_revision;
    replace.value = pd_etcd_text("v3"); /* the same, stale, revision */
    assert_status(pd_etcd_cas(arena, etcd, &replace, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_string_equal(current.value.data, "v2");
    assert_int_equal(current.mod_revision, replaced_at);
    replace.mod_revision = replaced_at;
    assert_status(pd_etcd_cas(arena, etcd, &replace, &current, &err), PD_ETCD_DONE);
    assert_string_equal(current.value.data, "v3");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_cas_delete_if_value(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/c/owner"), pd_etcd_text("me"), 0, NULL, &err),
                  PD_ETCD_DONE);
    PdEtcdCas release = {.key = pd_etcd_text("/c/owner"),
                         .compare = PD_ETCD_IF_VALUE,
                         .expected = pd_etcd_text("someone else"),
                         .action = PD_ETCD_DELETE};
    PdEtcdKv current;
    assert_status(pd_etcd_cas(arena, etcd, &release, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_true(current.exists);
    assert_string_equal(current.value.data, "me");
    release.expected = pd_etcd_text("me");
    assert_status(pd_etcd_cas(arena, etcd, &release, &current, &err), PD_ETCD_DONE);
    assert_false(current.exists);
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/c/owner"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    /* on a key that does not exist, the value compare fails and says so */
    assert_status(pd_etcd_cas(arena, etcd, &release, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_false(current.exists);
    assert_string_equal(err.message, "the key's compare failed: it does not exist");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* A second key put in the same transaction (the switchover's handover): done with the action, or not at all.
 */
static void
test_cas_also_key(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t revision = 0;
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/c/lead"), pd_etcd_text("n1"), 0, &revision, &err),
                  PD_ETCD_DONE);
    PdEtcdCas release = {.key = pd_etcd_text("/c/lead"),
                         .compare = PD_ETCD_IF_MOD_REVISION,
                         .mod_revision = revision + 1, /* stale: nothing happens */
                         .action = PD_ETCD_DELETE,
                         .also_key = pd_etcd_text("/c/request"),
                         .also_value = pd_etcd_text("released")};
    PdEtcdKv current, kv;
    assert_status(pd_etcd_cas(arena, etcd, &release, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/c/request"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    release.mod_revision = revision;
    assert_status(pd_etcd_cas(arena, etcd, &release, &current, &err), PD_ETCD_DONE);
    assert_false(current.exists);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/c/lead"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/c/request"), &kv, &err), PD_ETCD_DONE);
    assert_string_equal(kv.value.data, "released");
    /* with a put: the first key's answer is still the one read back */
    PdEtcdCas take = {.key = pd_etcd_text("/c/lead"),
                      .compare = PD_ETCD_IF_ABSENT,
                      .action = PD_ETCD_PUT,
                      .value = pd_etcd_text("n2"),
                      .also_key = pd_etcd_text("/c/request"),
                      .also_value = pd_etcd_text("taken")};
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_DONE);
    assert_string_equal(current.value.data, "n2");
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/c/request"), &kv, &err), PD_ETCD_DONE);
    assert_string_equal(kv.value.data, "taken");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* The second key deleted with the action (a take deleting the released key), and compared on its
 * mod_revision when asked: a stale second revision fails the whole transaction, nothing written. */
static void
test_cas_also_delete(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t marked = 0;
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/d/released"), pd_etcd_text("{}"), 0, &marked, &err),
                  PD_ETCD_DONE);
    PdEtcdCas take = {.key = pd_etcd_text("/d/lead"),
                      .compare = PD_ETCD_IF_ABSENT,
                      .action = PD_ETCD_PUT,
                      .value = pd_etcd_text("n2"),
                      .also_key = pd_etcd_text("/d/released"),
                      .also_delete = true,
                      .also_mod_revision = marked + 1}; /* stale: nothing happens */
    PdEtcdKv current, kv;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_COMPARE_FAILED);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/d/lead"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/d/released"), &kv, &err), PD_ETCD_DONE);
    assert_true(kv.exists);
    take.also_mod_revision = marked;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_DONE);
    assert_string_equal(current.value.data, "n2");
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/d/released"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    /* no second key to delete and no compare on it: the take is done all the same */
    assert_status(pd_etcd_delete(etcd, pd_etcd_text("/d/lead"), NULL, &err), PD_ETCD_DONE);
    take.also_mod_revision = 0;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_DONE);
    assert_string_equal(current.value.data, "n2");
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_lease_cycle(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t lease = 0, ttl = 0, granted = 0;
    assert_status(pd_etcd_lease_grant(etcd, 10, &lease, &granted, &err), PD_ETCD_DONE);
    assert_true(lease > 0);
    assert_int_equal(granted, 10);
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/l/member"), pd_etcd_text("up"), lease, NULL, &err),
                  PD_ETCD_DONE);
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/l/member"), &kv, &err), PD_ETCD_DONE);
    assert_int_equal(kv.lease_id, lease);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_DONE);
    assert_true(ttl >= 9 && ttl <= 10);
    assert_status(pd_etcd_lease_ttl(etcd, lease, &ttl, &granted, &err), PD_ETCD_DONE);
    assert_int_equal(granted, 10);
    assert_true(ttl >= 0 && ttl <= 10);
    assert_status(pd_etcd_lease_revoke(etcd, lease, &err), PD_ETCD_DONE);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/l/member"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    /* the lease is gone: every lease call says so, definitely */
    assert_status(pd_etcd_lease_revoke(etcd, lease, &err), PD_ETCD_LEASE_NOT_FOUND);
    assert_int_equal(err.code, PD_ERR_NOT_FOUND);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_LEASE_NOT_FOUND);
    assert_status(pd_etcd_lease_ttl(etcd, lease, &ttl, &granted, &err), PD_ETCD_LEASE_NOT_FOUND);
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/l/member"), pd_etcd_text("up"), lease, NULL, &err),
                  PD_ETCD_LEASE_NOT_FOUND);
    PdEtcdCas take = {.key = pd_etcd_text("/l/leader"),
                      .compare = PD_ETCD_IF_ABSENT,
                      .action = PD_ETCD_PUT,
                      .value = pd_etcd_text("me"),
                      .lease_id = lease};
    PdEtcdKv current;
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_LEASE_NOT_FOUND);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/l/leader"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_lease_expires(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t lease = 0, ttl = 0, granted = 0;
    assert_status(pd_etcd_lease_grant(etcd, 2, &lease, &granted, &err), PD_ETCD_DONE);
    assert_int_equal(granted, 2); /* the test member's election timeout is 500 ms: no raise */
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/e/leader"), pd_etcd_text("me"), lease, NULL, &err),
                  PD_ETCD_DONE);
    int64_t started = etcdtest_now_ms();
    PdEtcdStatus status = PD_ETCD_DONE;
    while (status == PD_ETCD_DONE && etcdtest_now_ms() - started < 10000) /* never renewed: it must end */
    {
        status = pd_etcd_lease_ttl(etcd, lease, &ttl, &granted, &err).status;
        usleep(100 * 1000);
    }
    assert_int_equal(status, PD_ETCD_LEASE_NOT_FOUND);
    assert_true(etcdtest_now_ms() - started >= 1000);
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/e/leader"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_LEASE_NOT_FOUND);
    assert_non_null(strstr(err.message, "not found"));
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

static void
test_status_and_rejected(void **state)
{
    (void)state;
    PdEtcd *etcd = single_client();
    PdError err = {0};
    PdEtcdServer server;
    assert_status(pd_etcd_status(etcd, &server, &err), PD_ETCD_DONE);
    assert_memory_equal(server.version, "3.", 2);
    assert_true(server.member_id != 0);
    assert_true(server.leader_id == server.member_id); /* one member leads itself */
    assert_true(server.revision > 0);
    int64_t lease = 0;
    assert_status(pd_etcd_lease_grant(etcd, INT64_C(99999999999), &lease, NULL, &err), PD_ETCD_REJECTED);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_non_null(strstr(err.message, "lease TTL"));
    assert_status(pd_etcd_put(etcd, pd_etcd_text(""), pd_etcd_text("x"), 0, NULL, &err), PD_ETCD_REJECTED);
    assert_non_null(strstr(err.message, "key is not provided"));
    pd_etcd_close(etcd);
}

/* An answer longer than max_answer_bytes is UNKNOWN, not a partial list. */
static void
test_answer_too_long(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    PdEtcdConfig config = {
        .endpoints = etcdtest_single.endpoints, .endpoint_count = 1, .max_answer_bytes = 300};
    PdEtcd *etcd = NULL;
    PdError err = {0};
    assert_true(pd_etcd_open(&config, &etcd, &err));
    PdArena *arena = pd_arena_new(0);
    char value[400];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/long/k"), pd_etcd_text(value), 0, NULL, &err),
                  PD_ETCD_DONE);
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/long/k"), &kv, &err), PD_ETCD_UNKNOWN);
    assert_non_null(strstr(err.detail, "answer longer than 300 bytes"));
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* https with a client certificate (etcd's --client-cert-auth): the calls work; without the certificate, or
 * against another CA, every call is UNKNOWN and says why; a TLS file that cannot be read is refused at open.
 */
static void
test_tls(void **state)
{
    (void)state;
    EtcdTestCluster cluster;
    if (!etcdtest_start_mode(&cluster, 1, true))
        skip();
    char ca[300], cert[300], key[300];
    snprintf(ca, sizeof ca, "%s/c/tls/ca.crt", cluster.dir);
    snprintf(cert, sizeof cert, "%s/c/tls/client.crt", cluster.dir);
    snprintf(key, sizeof key, "%s/c/tls/client.key", cluster.dir);
    PdEtcdConfig config = {.endpoints = cluster.endpoints,
                           .endpoint_count = 1,
                           .ca_file = ca,
                           .cert_file = cert,
                           .key_file = key};
    PdEtcd *etcd = NULL;
    PdError err = {0};
    PdArena *arena = pd_arena_new(0);
    PdEtcdKv kv;
    int64_t lease = 0, ttl = 0;
    assert_true(pd_etcd_open(&config, &etcd, &err));
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/tls/k"), pd_etcd_text("v"), 0, NULL, &err), PD_ETCD_DONE);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/tls/k"), &kv, &err), PD_ETCD_DONE);
    assert_string_equal(kv.value.data, "v");
    assert_status(pd_etcd_lease_grant(etcd, 10, &lease, NULL, &err), PD_ETCD_DONE);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_DONE);
    pd_etcd_close(etcd);
    config.cert_file = config.key_file = NULL;
    assert_true(pd_etcd_open(&config, &etcd, &err));
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_UNKNOWN);
    pd_etcd_close(etcd);
    config = (PdEtcdConfig){.endpoints = cluster.endpoints,
                            .endpoint_count = 1,
                            .ca_file = cert,
                            .cert_file = cert,
                            .key_file = key}; /* a CA that did not sign etcd's certificate */
    assert_true(pd_etcd_open(&config, &etcd, &err));
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/tls/k"), &kv, &err), PD_ETCD_UNKNOWN);
    assert_non_null(strstr(err.detail, "certificate"));
    pd_etcd_close(etcd);
    config.ca_file = "/nonexistent/ca.crt";
    assert_false(pd_etcd_open(&config, &etcd, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.field, "ca_file");
    pd_arena_free(arena);
    etcdtest_stop(&cluster);
}

/* A port nobody listens on answers nothing: UNKNOWN at once, for reads, writes and keepalives alike. */
static void
test_refused_is_unknown(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", etcdtest_refusing_port());
    const char *endpoints[] = {url};
    PdEtcd *etcd = client_of(endpoints, 1, 1000, 2000);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t started = etcdtest_now_ms(), ttl = 0;
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/k"), &kv, &err), PD_ETCD_UNKNOWN);
    assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
    assert_true(pd_error_is_retryable(&err));
    assert_non_null(strstr(err.detail, url));
    assert_status(pd_etcd_lease_keepalive(etcd, 42, &ttl, &err), PD_ETCD_UNKNOWN);
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/k"), pd_etcd_text("v"), 0, NULL, &err), PD_ETCD_UNKNOWN);
    assert_true(etcdtest_now_ms() - started < 1500); /* at once: no call waited for its 1 s attempt timeout */
    pd_arena_free(arena);
    pd_etcd_close(etcd);
}

/* Something listening that never answers: UNKNOWN once the attempt's timeout is spent, not a hang. */
static void
test_blackhole_is_unknown_within_timeout(void **state)
{
    (void)state;
    int port = 0;
    int blackhole = etcdtest_listen(&port);
    assert_true(blackhole >= 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    const char *endpoints[] = {url};
    PdEtcd *etcd = client_of(endpoints, 1, 300, 600);
    PdError err = {0};
    int64_t ttl = 0, started = etcdtest_now_ms();
    assert_status(pd_etcd_lease_keepalive(etcd, 42, &ttl, &err), PD_ETCD_UNKNOWN);
    int64_t elapsed = etcdtest_now_ms() - started;
    assert_true(elapsed >= 250 && elapsed < 2000); /* the attempt timeout, not a hang (bounds are loose for a
                                                      busy machine) */
    assert_non_null(strstr(err.detail, "no answer within 300 ms"));
    started = etcdtest_now_ms();
    PdEtcdCas take = {.key = pd_etcd_text("/leader"),
                      .compare = PD_ETCD_IF_ABSENT,
                      .action = PD_ETCD_PUT,
                      .value = pd_etcd_text("me")};
    PdEtcdKv current;
    PdArena *arena = pd_arena_new(0);
    assert_status(pd_etcd_cas(arena, etcd, &take, &current, &err), PD_ETCD_UNKNOWN);
    assert_true(etcdtest_now_ms() - started < 2000);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    close(blackhole);
}

/* pd_etcd_limit_next_call: the next call ends at its bound, below the request timeout; the one after it does
 * not. */
static void
test_limit_next_call(void **state)
{
    (void)state;
    int port = 0;
    int blackhole = etcdtest_listen(&port);
    assert_true(blackhole >= 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    const char *endpoints[] = {url};
    PdEtcd *etcd = client_of(endpoints, 1, 1500, 1500);
    PdError err = {0};
    int64_t ttl = 0, started = etcdtest_now_ms();
    pd_etcd_limit_next_call(etcd, 300);
    assert_status(pd_etcd_lease_keepalive(etcd, 42, &ttl, &err), PD_ETCD_UNKNOWN);
    int64_t limited = etcdtest_now_ms() - started;
    started = etcdtest_now_ms();
    assert_status(pd_etcd_lease_keepalive(etcd, 42, &ttl, &err), PD_ETCD_UNKNOWN);
    int64_t unlimited = etcdtest_now_ms() - started;
    printf("# limited call %lld ms, the next %lld ms\n", (long long)limited, (long long)unlimited);
    assert_true(limited >= 250 && limited < 1200);
    assert_true(unlimited >= 1400);
    pd_etcd_close(etcd);
    close(blackhole);
}

/* One canned HTTP answer and what the call that gets it must say. */
typedef struct CannedCase
{
    const char *reply;
    bool is_keepalive; /* keepalive of lease 7, else a get of "k" */
    PdEtcdStatus expected;
} CannedCase;

#define HTTP(status, body)                                                                                   \
    "HTTP/1.1 " status "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" body
#define HEADER "\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"5\",\"raft_term\":\"2\"}"

static const CannedCase canned_cases[] = {
    {HTTP("200 OK", "not json at all"), false, PD_ETCD_UNKNOWN},
    {HTTP("200 OK", "[1,2,3]"), false, PD_ETCD_UNKNOWN},
    {HTTP("200 OK", "{\"kvs\":[]}"), false, PD_ETCD_UNKNOWN},                              /* no header */
    {HTTP("200 OK", "{" HEADER ",\"kvs\":[{\"key\":\"!!!!\"}]}"), false, PD_ETCD_UNKNOWN}, /* not base64 */
    {HTTP("200 OK", "{" HEADER ",\"kvs\":[{\"key\":\"aw==\",\"mod_revision\":\"5x\"}]}"), false,
     PD_ETCD_UNKNOWN},
    {HTTP("200 OK", "{" HEADER ",\"kvs\":[{\"key\":\"eA==\"}]}"), false, PD_ETCD_UNKNOWN}, /* another key */
    {HTTP("200 OK", "{" HEADER ",\"kvs\":[{\"key\":\"aw==\",\"value\":\"dg==\"}]}"), false, PD_ETCD_DONE},
    /* a header of another cluster than the endpoint's status named */
    {HTTP("200 OK", "{\"header\":{\"cluster_id\":\"9\",\"member_id\":\"2\",\"revision\":\"5\"},\"kvs\":[]}"),
     false, PD_ETCD_UNKNOWN},
    {HTTP("500 Internal Server Error", "oops"), false, PD_ETCD_UNKNOWN},
    {HTTP("503 Service Unavailable", "{\"error\":\"etcdserver: no leader\",\"code\":14}"), false,
     PD_ETCD_UNKNOWN},
    {HTTP("504 Gateway Timeout", "{\"error\":\"etcdserver: request timed out\",\"code\":4}"), true,
     PD_ETCD_UNKNOWN},
    /* a NotFound that does not come as a 4xx is no refusal */
    {HTTP("503 Service Unavailable", "{\"error\":\"requested lease not found\",\"code\":5}"), true,
     PD_ETCD_UNKNOWN},
    {HTTP("404 Not Found", "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}"), true,
     PD_ETCD_LEASE_NOT_FOUND},
    {HTTP("400 Bad Request", "{\"error\":\"etcdserver: key is not provided\",\"code\":3}"), false,
     PD_ETCD_REJECTED},
    {"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"result\":{" HEADER, true,
     PD_ETCD_UNKNOWN}, /* cut short */
    {"garbage that is not HTTP\r\n\r\n", true, PD_ETCD_UNKNOWN},
    {HTTP("200 OK", "{\"result\":{" HEADER ",\"ID\":\"8\",\"TTL\":\"5\"}}"), true,
     PD_ETCD_UNKNOWN}, /* lease 8 */
    {HTTP("200 OK", "{\"result\":{" HEADER ",\"ID\":\"7\",\"TTL\":\"-3\"}}"), true, PD_ETCD_UNKNOWN},
    {HTTP("200 OK", "{\"result\":{\"ID\":\"7\"}}"), true, PD_ETCD_UNKNOWN}, /* TTL 0 but no header */
    {HTTP("200 OK", "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}"), true,
     PD_ETCD_UNKNOWN},
    {HTTP("200 OK",
          "{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":\"etcdserver: requested lease not "
          "found\"}}"),
     true, PD_ETCD_LEASE_NOT_FOUND},
    {HTTP("200 OK", "{\"result\":{" HEADER ",\"ID\":\"7\"}}"), true,
     PD_ETCD_LEASE_NOT_FOUND}, /* etcd's own shape */
    {HTTP("200 OK", "{\"result\":{" HEADER ",\"ID\":\"7\",\"TTL\":\"4\"}}"), true, PD_ETCD_DONE},
};

static void
test_garbage_answers(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    for (size_t i = 0; i < sizeof canned_cases / sizeof canned_cases[0]; i++)
    {
        const CannedCase *c = &canned_cases[i];
        EtcdTestFake fake;
        assert_true(etcdtest_fake_start(&fake, c->reply, 1)); /* the cluster HEADER names */
        const char *endpoints[] = {fake.url};
        PdEtcd *etcd = client_of(endpoints, 1, 500, 1000);
        PdError err = {0};
        PdEtcdKv kv;
        int64_t ttl = 0;
        PdEtcdStatus got = c->is_keepalive ? pd_etcd_lease_keepalive(etcd, 7, &ttl, &err).status
                                           : pd_etcd_get(arena, etcd, pd_etcd_text("k"), &kv, &err).status;
        if (got != c->expected)
            fail_msg("case %zu: %s, expected %s (%s) for:\n%s", i, pd_etcd_status_name(got),
                     pd_etcd_status_name(c->expected), err.message, c->reply);
        if (got == PD_ETCD_UNKNOWN)
            assert_int_equal(err.code, PD_ERR_DCS_UNKNOWN);
        pd_etcd_close(etcd);
        etcdtest_fake_stop(&fake);
    }
    pd_arena_free(arena);
}

/* The cluster id of the member at url (its status), for fakes that stand beside it. */
static uint64_t
cluster_of(const char *url)
{
    PdEtcd *one = client_of(&url, 1, 1000, 1000);
    PdEtcdServer server = {0};
    PdError err = {0};
    assert_status(pd_etcd_status(one, &server, &err), PD_ETCD_DONE);
    pd_etcd_close(one);
    assert_true(server.cluster_id != 0);
    return server.cluster_id;
}

/*
 * Dead endpoints before a live one: every call passes those that cannot be
 * reached (a blackhole is met by the status request that learns an endpoint's
 * cluster, before the call itself leaves); a write that reached a member
 * which never answered is UNKNOWN and not sent again, and the next call moves on.
 */
static void
test_failover_past_dead_endpoints(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    EtcdTestFake hole; /* accepts connections and answers nothing, its status included */
    assert_true(etcdtest_fake_start(&hole, NULL, 0));
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d", etcdtest_refusing_port());
    const char *endpoints[] = {refused, hole.url, etcdtest_single.urls[0]};
    PdEtcd *etcd = client_of(endpoints, 3, 300, 1500);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdEtcdKv kv;
    int64_t started = etcdtest_now_ms();
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/f/k"), pd_etcd_text("v"), 0, NULL, &err), PD_ETCD_DONE);
    /* the hole's status request waited its attempt timeout; the failures on the way leave no error */
    assert_true(etcdtest_now_ms() - started >= 250);
    assert_int_equal(err.code, PD_OK);
    assert_string_equal(pd_etcd_endpoint(etcd), etcdtest_single.urls[0]);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/f/k"), &kv, &err), PD_ETCD_DONE);
    assert_int_equal(hole.connections, 1); /* the second call went straight to the one that answered */
    pd_etcd_close(etcd);
    etcdtest_fake_stop(&hole);

    EtcdTestFake silent; /* knows its cluster, then never answers a call */
    assert_true(etcdtest_fake_start(&silent, NULL, cluster_of(etcdtest_single.urls[0])));
    const char *silent_first[] = {silent.url, etcdtest_single.urls[0]};
    etcd = client_of(silent_first, 2, 300, 1500);
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/f/k"), pd_etcd_text("w"), 0, NULL, &err), PD_ETCD_UNKNOWN);
    assert_non_null(strstr(err.detail, "no answer within 300 ms"));
    assert_string_equal(pd_etcd_endpoint(etcd), etcdtest_single.urls[0]); /* the next call starts past it */
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/f/k"), &kv, &err), PD_ETCD_DONE);
    assert_string_equal(kv.value.data, "v"); /* the write that timed out was not sent again */
    pd_etcd_close(etcd);
    etcd = client_of(silent_first, 2, 300, 1500);
    int before = silent.connections;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/f/k"), &kv, &err),
                  PD_ETCD_DONE);                      /* a read moves on */
    assert_int_equal(silent.connections, before + 2); /* after its status and its own request there */
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    etcdtest_fake_stop(&silent);
}

/* Endpoints of two etcd clusters in one list: the one that is not the first to answer's cluster gives
 * UNKNOWN, never its own "lease not found" for our lease. */
static void
test_other_cluster_is_unknown(void **state)
{
    (void)state;
    EtcdTestCluster ours, theirs;
    if (!etcdtest_start(&ours, 1))
        skip();
    if (!etcdtest_start(&theirs, 1))
    {
        etcdtest_stop(&ours);
        skip();
    }
    const char *endpoints[] = {ours.urls[0], theirs.urls[0]};
    PdEtcd *etcd = client_of(endpoints, 2, 500, 1500);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t lease = 0, ttl = 0;
    assert_status(pd_etcd_lease_grant(etcd, 30, &lease, NULL, &err), PD_ETCD_DONE);
    etcdtest_kill_member(&ours, 0);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_UNKNOWN);
    assert_non_null(strstr(err.detail, "another etcd cluster"));
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/x"), &kv, &err), PD_ETCD_UNKNOWN);
    pd_etcd_close(etcd);
    const char *theirs_only[] = {theirs.urls[0]}; /* alone, it is a cluster like any other */
    etcd = client_of(theirs_only, 1, 500, 1500);
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_LEASE_NOT_FOUND);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    etcdtest_stop(&theirs);
    etcdtest_stop(&ours);
}

/* An endpoint answering 503: a read moves on to the next endpoint, a write does not (it may have been
 * applied). */
static void
test_5xx_moves_reads_not_writes(void **state)
{
    (void)state;
    if (!etcdtest_single.is_running)
        skip();
    EtcdTestFake fake;
    assert_true(etcdtest_fake_start(
        &fake, HTTP("503 Service Unavailable", "{\"error\":\"etcdserver: leader changed\",\"code\":14}"),
        cluster_of(etcdtest_single.urls[0])));
    const char *endpoints[] = {fake.url, etcdtest_single.urls[0]};
    PdEtcd *etcd = client_of(endpoints, 2, 500, 1500);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    assert_status(pd_etcd_put(etcd, pd_etcd_text("/5/k"), pd_etcd_text("first"), 0, NULL, &err),
                  PD_ETCD_UNKNOWN);
    assert_non_null(strstr(err.detail, "leader changed"));
    assert_string_equal(pd_etcd_endpoint(etcd), etcdtest_single.urls[0]); /* the next call starts past it */
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/5/k"), &kv, &err), PD_ETCD_DONE);
    assert_false(kv.exists); /* the write was not sent to the live member */
    pd_etcd_close(etcd);
    etcd = client_of(endpoints, 2, 500, 1500);
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/5/k"), &kv, &err), PD_ETCD_DONE);
    assert_string_equal(pd_etcd_endpoint(etcd), etcdtest_single.urls[0]);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    etcdtest_fake_stop(&fake);
}

/* The member's index that leads a 3-member cluster, asking each member on its own; -1 if none knows. */
static int
leader_of(EtcdTestCluster *cluster)
{
    for (int attempt = 0; attempt < 50; attempt++)
    {
        for (int i = 0; i < cluster->members; i++)
        {
            PdEtcd *one = client_of(&cluster->endpoints[i], 1, 500, 500);
            PdEtcdServer server;
            PdError err = {0};
            bool is_leader = pd_etcd_status(one, &server, &err).status == PD_ETCD_DONE &&
                             server.leader_id != 0 && server.leader_id == server.member_id;
            pd_etcd_close(one);
            if (is_leader)
                return i;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* Waits (at most 10 s) until the member at url knows no leader. */
static bool
wait_leaderless(const char *url)
{
    PdEtcd *one = client_of(&url, 1, 500, 500);
    PdEtcdServer server = {.leader_id = 1};
    PdError err = {0};
    for (int attempt = 0; attempt < 100; attempt++)
    {
        if (pd_etcd_status(one, &server, &err).status == PD_ETCD_DONE && server.leader_id == 0)
            break;
        usleep(100 * 1000);
    }
    pd_etcd_close(one);
    return server.leader_id == 0;
}

static void
test_cluster_member_loss(void **state)
{
    (void)state;
    EtcdTestCluster cluster;
    if (!etcdtest_start(&cluster, 3))
        skip();
    int leader = leader_of(&cluster);
    assert_true(leader >= 0);
    int follower = (leader + 1) % 3, other = (leader + 2) % 3;
    const char *endpoints[] = {cluster.urls[follower], cluster.urls[other], cluster.urls[leader]};
    PdEtcd *etcd = client_of(endpoints, 3, 1000, 3000);
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    int64_t lease = 0, ttl = 0;
    assert_status(pd_etcd_lease_grant(etcd, 30, &lease, NULL, &err), PD_ETCD_DONE);
    assert_string_equal(pd_etcd_endpoint(etcd), cluster.urls[follower]);
    etcdtest_kill_member(&cluster, follower);
    for (int round = 0; round < 10; round++)
    {
        char value[16];
        snprintf(value, sizeof value, "%d", round);
        PdEtcdKv kv, current;
        assert_status(pd_etcd_put(etcd, pd_etcd_text("/m/k"), pd_etcd_text(value), lease, NULL, &err),
                      PD_ETCD_DONE);
        assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/m/k"), &kv, &err), PD_ETCD_DONE);
        assert_string_equal(kv.value.data, value);
        assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_DONE);
        PdEtcdCas swap = {.key = pd_etcd_text("/m/k"),
                          .compare = PD_ETCD_IF_MOD_REVISION,
                          .mod_revision = kv.mod_revision,
                          .action = PD_ETCD_PUT,
                          .value = pd_etcd_text("swapped")};
        assert_status(pd_etcd_cas(arena, etcd, &swap, &current, &err), PD_ETCD_DONE);
    }
    assert_string_not_equal(pd_etcd_endpoint(etcd), cluster.urls[follower]);
    /* two of three gone: once the last member knows it has no quorum (it steps down), every answer is UNKNOWN
     * within the request timeout, never "lease lost" */
    etcdtest_kill_member(&cluster, other);
    assert_true(wait_leaderless(cluster.urls[leader]));
    int64_t started = etcdtest_now_ms();
    assert_status(pd_etcd_lease_keepalive(etcd, lease, &ttl, &err), PD_ETCD_UNKNOWN);
    PdEtcdKv kv;
    assert_status(pd_etcd_get(arena, etcd, pd_etcd_text("/m/k"), &kv, &err), PD_ETCD_UNKNOWN);
    assert_true(etcdtest_now_ms() - started < 2 * 3000 + 500);
    pd_arena_free(arena);
    pd_etcd_close(etcd);
    etcdtest_stop(&cluster);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_checks_config),
        cmocka_unit_test(test_put_get_delete),
        cmocka_unit_test(test_range_prefix),
        cmocka_unit_test(test_binary_and_unicode),
        cmocka_unit_test(test_cas_create_if_absent),
        cmocka_unit_test(test_cas_replace_if_mod_revision),
        cmocka_unit_test(test_cas_delete_if_value),
        cmocka_unit_test(test_cas_also_key),
        cmocka_unit_test(test_cas_also_delete),
        cmocka_unit_test(test_lease_cycle),
        cmocka_unit_test(test_lease_expires),
        cmocka_unit_test(test_status_and_rejected),
        cmocka_unit_test(test_answer_too_long),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_refused_is_unknown),
        cmocka_unit_test(test_blackhole_is_unknown_within_timeout),
        cmocka_unit_test(test_limit_next_call),
        cmocka_unit_test(test_garbage_answers),
        cmocka_unit_test(test_failover_past_dead_endpoints),
        cmocka_unit_test(test_5xx_moves_reads_not_writes),
        cmocka_unit_test(test_other_cluster_is_unknown),
        cmocka_unit_test(test_cluster_member_loss),
    };
    return cmocka_run_group_tests(tests, etcdtest_start_single, etcdtest_stop_single);
}
