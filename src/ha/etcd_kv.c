/*
 * etcd_kv.c - keys: get, range by prefix, put, delete, and the
 * compare-and-swap transaction the keeper takes and keeps its keys with.
 * Each call builds its JSON body, sends it through pd_etcd_call (reads may be
 * sent to another endpoint again, writes only when they never left) and
 * reads the answer with etcd_answer.c. A transaction asks for exactly the
 * responses pd_etcd_answer_txn expects: on success the write and then a range
 * of the key (so the caller gets the key's new revisions from the same
 * revision), on failure the range alone.
 */
#include <stdlib.h>
#include <string.h>

#include "ha/etcd_wire.h"

static PdEtcdOutcome
outcome(PdEtcdStatus status)
{
    return (PdEtcdOutcome){.status = status};
}

/* Sends body (taking its reference), reads the answer with read_answer's status. */
static PdEtcdStatus
call(PdEtcd *etcd, const char *path, json_t *body, PdEtcdRepeat repeat, json_t **answer, PdError *err)
{
    if (body == NULL)
        return pd_etcd_wire_unknown(err, "out of memory for an etcd request");
    PdEtcdStatus status = pd_etcd_call(etcd, path, body, repeat, answer, err);
    json_decref(body);
    return status;
}

/* The key just after every key starting with prefix, base64: etcd's range_end for a prefix. */
static json_t *
prefix_end(PdEtcdBytes prefix)
{
    size_t length = prefix.length;
    while (length > 0 && (unsigned char)prefix.data[length - 1] == 0xff)
        length--;
    if (length == 0)
        return pd_etcd_wire_bytes((PdEtcdBytes){.data = "", .length = 1}); /* "\0": to the end of the keys */
    char *end = malloc(length);
    if (end == NULL)
        return NULL;
    memcpy(end, prefix.data, length);
    end[length - 1] = (char)((unsigned char)end[length - 1] + 1);
    json_t *text = pd_etcd_wire_bytes((PdEtcdBytes){.data = end, .length = length});
    free(end);
    return text;
}

PdEtcdOutcome
pd_etcd_get(PdArena *arena, PdEtcd *etcd, PdEtcdBytes key, PdEtcdKv *kv, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status = call(etcd, "/v3/kv/range", json_pack("{s:o}", "key", pd_etcd_wire_bytes(key)),
                               PD_ETCD_REPEATABLE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    PdEtcdKv *kvs;
    size_t count;
    status = pd_etcd_answer_range(arena, answer, &kvs, &count, err);
    json_decref(answer);
    if (status == PD_ETCD_DONE &&
        (count > 1 ||
         (count == 1 && (kvs[0].key.length != key.length || memcmp(kvs[0].key.data, key.data, key.length)))))
        status = pd_etcd_wire_unknown(err, "etcd's answer to a get names another key");
    if (status == PD_ETCD_DONE)
        *kv = count == 1 ? kvs[0] : (PdEtcdKv){.exists = false, .key = key};
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_range(PdArena *arena, PdEtcd *etcd, PdEtcdBytes prefix, PdEtcdKv **kvs, size_t *count, PdError *err)
{
    PdEtcdBytes start = prefix.length > 0 ? prefix : (PdEtcdBytes){.data = "", .length = 1};
    json_t *answer;
    PdEtcdStatus status =
        call(etcd, "/v3/kv/range",
             json_pack("{s:o, s:o}", "key", pd_etcd_wire_bytes(start), "range_end", prefix_end(prefix)),
             PD_ETCD_REPEATABLE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    status = pd_etcd_answer_range(arena, answer, kvs, count, err);
    json_decref(answer);
    return outcome(status);
}

/* A put's body: {"key", "value", "lease"} (no lease field for lease 0). */
static json_t *
put_body(PdEtcdBytes key, PdEtcdBytes value, int64_t lease_id)
{
    json_t *body =
        json_pack("{s:o, s:o}", "key", pd_etcd_wire_bytes(key), "value", pd_etcd_wire_bytes(value));
    if (body != NULL && lease_id != 0 &&
        json_object_set_new(body, "lease", json_sprintf("%lld", (long long)lease_id)) != 0)
    {
        json_decref(body);
        return NULL;
    }
    return body;
}

PdEtcdOutcome
pd_etcd_put(PdEtcd *etcd, PdEtcdBytes key, PdEtcdBytes value, int64_t lease_id, int64_t *mod_revision,
            PdError *err)
{
    json_t *answer;
    PdEtcdStatus status =
        call(etcd, "/v3/kv/put", put_body(key, value, lease_id), PD_ETCD_ONCE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    int64_t revision = 0;
    status = pd_etcd_answer_put(answer, &revision, err);
    json_decref(answer);
    if (status == PD_ETCD_DONE && mod_revision != NULL)
        *mod_revision = revision;
    return outcome(status);
}

PdEtcdOutcome
pd_etcd_delete(PdEtcd *etcd, PdEtcdBytes key, int64_t *deleted, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status = call(etcd, "/v3/kv/deleterange", json_pack("{s:o}", "key", pd_etcd_wire_bytes(key)),
                               PD_ETCD_ONCE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    int64_t count = 0;
    status = pd_etcd_answer_delete(answer, &count, err);
    json_decref(answer);
    if (status == PD_ETCD_DONE && deleted != NULL)
        *deleted = count;
    return outcome(status);
}

/* The compare of a CAS: {"target", "key", "result": "EQUAL", and the field compared}. */
static json_t *
compare_body(const PdEtcdCas *cas)
{
    json_t *key = pd_etcd_wire_bytes(cas->key);
    switch (cas->compare)
    {
        case PD_ETCD_IF_ABSENT:
            return json_pack("{s:s, s:o, s:s, s:s}", "target", "CREATE", "key", key, "result", "EQUAL",
                             "create_revision", "0");
        case PD_ETCD_IF_MOD_REVISION:
            return json_pack("{s:s, s:o, s:s, s:o}", "target", "MOD", "key", key, "result", "EQUAL",
                             "mod_revision", json_sprintf("%lld", (long long)cas->mod_revision));
        case PD_ETCD_IF_VALUE:
            return json_pack("{s:s, s:o, s:s, s:o}", "target", "VALUE", "key", key, "result", "EQUAL",
                             "value", pd_etcd_wire_bytes(cas->expected));
    }
    json_decref(key);
    return NULL;
}

/* The second key's operation: a put (no lease) or a delete. */
static json_t *
also_body(const PdEtcdCas *cas)
{
    if (cas->also_delete)
        return json_pack("{s:{s:o}}", "request_delete_range", "key", pd_etcd_wire_bytes(cas->also_key));
    return json_pack("{s:o}", "request_put", put_body(cas->also_key, cas->also_value, 0));
}

static json_t *
txn_body(const PdEtcdCas *cas)
{
    json_t *range = json_pack("{s:{s:o}}", "request_range", "key", pd_etcd_wire_bytes(cas->key));
    json_t *success;
    if (cas->action == PD_ETCD_PUT)
        success =
            json_pack("[{s:o}, O]", "request_put", put_body(cas->key, cas->value, cas->lease_id), range);
    else
        success = json_pack("[{s:{s:o}}]", "request_delete_range", "key", pd_etcd_wire_bytes(cas->key));
    /* the second key's put goes last: the answer reader finds the first key's responses where it expects */
    if (success != NULL && cas->also_key.length > 0 && !cas->also_compare_only &&
        json_array_append_new(success, also_body(cas)) != 0)
    {
        json_decref(success);
        success = NULL;
    }
    json_t *compare = json_pack("[o]", compare_body(cas));
    if (compare != NULL && cas->also_key.length > 0 && cas->also_mod_revision > 0 &&
        json_array_append_new(compare,
                              json_pack("{s:s, s:o, s:s, s:o}", "target", "MOD", "key",
                                        pd_etcd_wire_bytes(cas->also_key), "result", "EQUAL", "mod_revision",
                                        json_sprintf("%lld", (long long)cas->also_mod_revision))) != 0)
    {
        json_decref(compare);
        compare = NULL;
    }
    return json_pack("{s:o, s:o, s:[o]}", "compare", compare, "success", success, "failure", range);
}

PdEtcdOutcome
pd_etcd_cas(PdArena *arena, PdEtcd *etcd, const PdEtcdCas *cas, PdEtcdKv *current, PdError *err)
{
    json_t *answer;
    PdEtcdStatus status = call(etcd, "/v3/kv/txn", txn_body(cas), PD_ETCD_ONCE, &answer, err);
    if (status != PD_ETCD_DONE)
        return outcome(status);
    status = pd_etcd_answer_txn(arena, answer, cas->action, cas->key, current, err);
    json_decref(answer);
    return outcome(status);
}
