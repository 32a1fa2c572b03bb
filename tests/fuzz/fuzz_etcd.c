/*
 * fuzz_etcd.c - the etcd client's answer readers on any bytes: the first byte
 * picks the HTTP status the gateway is said to have answered (200, 400, 404,
 * 500, 503), the rest is the body. pd_etcd_wire_read and then every call's
 * reader run on it. The invariants: a status is one of the five; an answer
 * not DONE fills err with the code its status implies (UNKNOWN:
 * PD_ERR_DCS_UNKNOWN); a refusal never comes from a 5xx; DONE keepalives have
 * a TTL > 0; keys and values read are NUL-terminated at their length. The
 * body also goes through base64 both ways: decoding what encoding made gives
 * the bytes back, and whatever the decoder accepts encodes to the same text.
 */
#include "fuzz.h"
#include "ha/etcd_wire.h"

static const long statuses[] = {200, 400, 404, 500, 503};

static void
check_status(PdEtcdStatus status, long http_status, const PdError *err)
{
    FUZZ_ASSERT(status >= PD_ETCD_UNKNOWN && status <= PD_ETCD_REJECTED, "status %d out of range",
                (int)status);
    if (status == PD_ETCD_UNKNOWN)
        FUZZ_ASSERT(err->code == PD_ERR_DCS_UNKNOWN, "UNKNOWN with error code %d", (int)err->code);
    if (status == PD_ETCD_LEASE_NOT_FOUND)
        FUZZ_ASSERT(err->code == PD_ERR_NOT_FOUND, "LEASE_NOT_FOUND with error code %d", (int)err->code);
    if (status != PD_ETCD_UNKNOWN && status != PD_ETCD_DONE)
        FUZZ_ASSERT(http_status < 500, "a refusal from HTTP %ld", http_status);
}

static void
check_kvs(const PdEtcdKv *kvs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        FUZZ_ASSERT(kvs[i].exists && kvs[i].key.data[kvs[i].key.length] == '\0' &&
                        kvs[i].value.data[kvs[i].value.length] == '\0',
                    "kv %zu not NUL-terminated", i);
}

/* Every call's reader on one answer that pd_etcd_wire_read accepted. */
static void
read_answers(PdArena *arena, const json_t *answer, long http_status)
{
    PdError err = {0};
    PdEtcdKv *kvs, current;
    size_t count;
    int64_t number, other;
    PdEtcdServer server;
    if (pd_etcd_answer_range(arena, answer, &kvs, &count, &err) == PD_ETCD_DONE)
        check_kvs(kvs, count);
    check_status(pd_etcd_answer_put(answer, &number, &err), http_status, &err);
    check_status(pd_etcd_answer_delete(answer, &number, &err), http_status, &err);
    for (int action = PD_ETCD_PUT; action <= PD_ETCD_DELETE; action++)
    {
        PdEtcdStatus status = pd_etcd_answer_txn(arena, answer, action, pd_etcd_text("k"), &current, &err);
        check_status(status, http_status, &err);
        if (status == PD_ETCD_DONE || status == PD_ETCD_COMPARE_FAILED)
            check_kvs(current.exists ? &current : NULL, current.exists ? 1 : 0);
    }
    check_status(pd_etcd_answer_grant(answer, &number, &other, &err), http_status, &err);
    number = 0;
    PdEtcdStatus status = pd_etcd_answer_keepalive(answer, 7, &number, &err);
    check_status(status, http_status, &err);
    FUZZ_ASSERT(status != PD_ETCD_DONE || number > 0, "keepalive DONE with TTL %lld", (long long)number);
    check_status(pd_etcd_answer_ttl(answer, 7, &number, &other, &err), http_status, &err);
    check_status(pd_etcd_answer_status(answer, &server, &err), http_status, &err);
    (void)pd_etcd_wire_cluster(answer);
}

static void
check_base64(PdArena *arena, const uint8_t *data, size_t size)
{
    json_t *text = pd_etcd_wire_bytes((PdEtcdBytes){(const char *)data, size});
    PdEtcdBytes back;
    FUZZ_ASSERT(text != NULL && pd_etcd_wire_decode(arena, text, &back),
                "base64 of the input does not decode");
    FUZZ_ASSERT(back.length == size && memcmp(back.data, data, size) == 0,
                "base64 round trip changed the bytes");
    json_decref(text);
    json_t *as_text = json_stringn((const char *)data, size); /* NULL unless valid UTF-8 */
    if (as_text != NULL && pd_etcd_wire_decode(arena, as_text, &back))
    {
        json_t *again = pd_etcd_wire_bytes(back);
        FUZZ_ASSERT(again != NULL && json_equal(again, as_text), "base64 text accepted is not canonical");
        json_decref(again);
    }
    json_decref(as_text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    PdArena *arena = pd_arena_new(0);
    long http_status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    json_t *answer = NULL;
    PdError err = {0};
    PdEtcdStatus status = pd_etcd_wire_read(http_status, (const char *)data + 1, size - 1, &answer, &err);
    check_status(status, http_status, &err);
    FUZZ_ASSERT((status == PD_ETCD_DONE) == (answer != NULL), "an answer without DONE, or DONE without one");
    if (answer != NULL)
        read_answers(arena, answer, http_status);
    json_decref(answer);
    check_base64(arena, data + 1, size - 1);
    pd_arena_free(arena);
    return 0;
}
