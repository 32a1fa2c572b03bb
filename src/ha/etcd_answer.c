/*
 * etcd_answer.c - what each call's answer says, from the JSON etcd_wire.c
 * read. Every answer must carry etcd's header; a field of the wrong type, a
 * missing header or a lease id that is not the one asked about makes the
 * answer UNKNOWN, never a guess: the keeper would act on a guess. Refusals
 * are read only from their own shapes (a keepalive TTL of 0, a timetolive TTL
 * of -1, a transaction not succeeded, a gRPC error in the keepalive stream).
 */
#include <stdio.h>
#include <string.h>

#include "ha/etcd_wire.h"

/* One kv object of etcd (key required, every other field may be absent). */
static bool
read_kv(PdArena *arena, const json_t *object, PdEtcdKv *kv)
{
    *kv = (PdEtcdKv){.exists = true};
    const json_t *key = json_object_get(object, "key");
    return json_is_object(object) && key != NULL && pd_etcd_wire_decode(arena, key, &kv->key) &&
           pd_etcd_wire_decode(arena, json_object_get(object, "value"), &kv->value) &&
           pd_etcd_wire_int64(object, "create_revision", &kv->create_revision) &&
           pd_etcd_wire_int64(object, "mod_revision", &kv->mod_revision) &&
           pd_etcd_wire_int64(object, "version", &kv->version) &&
           pd_etcd_wire_int64(object, "lease", &kv->lease_id);
}

/* The "kvs" array of a range answer (absent: none). */
static bool
read_kvs(PdArena *arena, const json_t *range, PdEtcdKv **kvs, size_t *count)
{
    const json_t *array = json_object_get(range, "kvs");
    *kvs = NULL;
    *count = 0;
    if (array == NULL)
        return true;
    if (!json_is_array(array))
        return false;
    size_t n = json_array_size(array);
    PdEtcdKv *read = pd_arena_calloc(arena, n ? n : 1, sizeof *read);
    if (read == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!read_kv(arena, json_array_get(array, i), &read[i]))
            return false;
    *kvs = read;
    *count = n;
    return true;
}

PdEtcdStatus
pd_etcd_answer_range(PdArena *arena, const json_t *answer, PdEtcdKv **kvs, size_t *count, PdError *err)
{
    int64_t revision;
    if (!pd_etcd_wire_header(answer, &revision))
        return pd_etcd_wire_unknown(err, "etcd's range answer has no header");
    if (!read_kvs(arena, answer, kvs, count))
        return pd_etcd_wire_unknown(err, pd_arena_failed(arena) ? "out of memory for etcd's range answer"
                                                                : "etcd's range answer has a malformed key");
    return PD_ETCD_DONE;
}

PdEtcdStatus
pd_etcd_answer_put(const json_t *answer, int64_t *mod_revision, PdError *err)
{
    int64_t revision;
    if (!pd_etcd_wire_header(answer, &revision) || revision <= 0)
        return pd_etcd_wire_unknown(err, "etcd's put answer has no header revision");
    *mod_revision = revision; /* a put makes a revision of its own: the key's new mod_revision */
    return PD_ETCD_DONE;
}

PdEtcdStatus
pd_etcd_answer_delete(const json_t *answer, int64_t *deleted, PdError *err)
{
    int64_t revision;
    if (!pd_etcd_wire_header(answer, &revision) || !pd_etcd_wire_int64(answer, "deleted", deleted) ||
        *deleted < 0)
        return pd_etcd_wire_unknown(err, "etcd's delete answer is malformed");
    return PD_ETCD_DONE;
}

/* The key as the range at responses[index] of a transaction shows it (exists false when absent). */
static bool
read_txn_range(PdArena *arena, const json_t *answer, size_t index, PdEtcdBytes key, PdEtcdKv *current)
{
    const json_t *range =
        json_object_get(json_array_get(json_object_get(answer, "responses"), index), "response_range");
    PdEtcdKv *kvs;
    size_t count;
    if (!json_is_object(range) || !read_kvs(arena, range, &kvs, &count) || count > 1)
        return false;
    if (count == 1 && (kvs[0].key.length != key.length || memcmp(kvs[0].key.data, key.data, key.length) != 0))
        return false; /* another key than the one asked about */
    *current = count == 1 ? kvs[0] : (PdEtcdKv){.exists = false, .key = key};
    return true;
}

PdEtcdStatus
pd_etcd_answer_txn(PdArena *arena, const json_t *answer, PdEtcdAction action, PdEtcdBytes key,
                   PdEtcdKv *current, PdError *err)
{
    int64_t revision;
    const json_t *succeeded = json_object_get(answer, "succeeded");
    if (!pd_etcd_wire_header(answer, &revision) || (succeeded != NULL && !json_is_boolean(succeeded)))
        return pd_etcd_wire_unknown(err, "etcd's transaction answer is malformed");
    bool has_succeeded = json_is_true(succeeded);
    /* success: [put, range] or [delete]; failure: [range] (etcd_kv.c asks for exactly these) */
    if (has_succeeded && action == PD_ETCD_DELETE)
    {
        if (!json_is_object(json_object_get(json_array_get(json_object_get(answer, "responses"), 0),
                                            "response_delete_range")))
            return pd_etcd_wire_unknown(err, "etcd's transaction answer has no delete response");
        *current = (PdEtcdKv){.exists = false, .key = key};
        return PD_ETCD_DONE;
    }
    if (!read_txn_range(arena, answer, has_succeeded ? 1 : 0, key, current) ||
        (has_succeeded && !current->exists))
        return pd_etcd_wire_unknown(err, "etcd's transaction answer has a malformed range response");
    if (has_succeeded)
        return PD_ETCD_DONE;
    pd_error_set(err, PD_ERR_REFUSED, "the key's compare failed: %s",
                 current->exists ? "it holds another value" : "it does not exist");
    return PD_ETCD_COMPARE_FAILED;
}

PdEtcdStatus
pd_etcd_answer_grant(const json_t *answer, int64_t *lease_id, int64_t *granted_ttl_s, PdError *err)
{
    int64_t revision, id, ttl;
    const char *error = json_string_value(json_object_get(answer, "error"));
    if (!pd_etcd_wire_header(answer, &revision) || !pd_etcd_wire_int64(answer, "ID", &id) ||
        !pd_etcd_wire_int64(answer, "TTL", &ttl))
        return pd_etcd_wire_unknown(err, "etcd's lease grant answer is malformed");
    if (error != NULL && error[0] != '\0')
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "etcd refused the lease: %s", error);
        return PD_ETCD_REJECTED;
    }
    if (id <= 0 || ttl <= 0)
        return pd_etcd_wire_unknown(err, "etcd's lease grant answer has no lease id or TTL");
    *lease_id = id;
    *granted_ttl_s = ttl;
    return PD_ETCD_DONE;
}

/* A gRPC error inside a stream's answer: {"error": {"grpc_code": 5, "http_code": 404, "message": "..."}}. */
static PdEtcdStatus
read_stream_error(const json_t *error, PdError *err)
{
    int64_t grpc_code, http_code;
    const char *message = json_string_value(json_object_get(error, "message"));
    if (!json_is_object(error) || !json_is_integer(json_object_get(error, "grpc_code")) ||
        !pd_etcd_wire_int64(error, "grpc_code", &grpc_code) ||
        !pd_etcd_wire_int64(error, "http_code", &http_code))
        return pd_etcd_wire_unknown(err, "etcd's keepalive answer has a malformed error");
    return pd_etcd_wire_error((long)http_code, grpc_code, message != NULL ? message : "", err);
}

PdEtcdStatus
pd_etcd_answer_keepalive(const json_t *answer, int64_t lease_id, int64_t *ttl_s, PdError *err)
{
    if (json_object_get(answer, "error") != NULL)
        return read_stream_error(json_object_get(answer, "error"), err);
    const json_t *result = json_object_get(answer, "result");
    int64_t revision, id, ttl;
    if (!json_is_object(result) || !pd_etcd_wire_header(result, &revision) ||
        !pd_etcd_wire_int64(result, "ID", &id) || !pd_etcd_wire_int64(result, "TTL", &ttl) ||
        id != lease_id || ttl < 0)
        return pd_etcd_wire_unknown(err, "etcd's keepalive answer is malformed or names another lease");
    if (ttl == 0)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "etcd: lease %lld not found (expired or revoked)",
                     (long long)lease_id);
        return PD_ETCD_LEASE_NOT_FOUND;
    }
    *ttl_s = ttl;
    return PD_ETCD_DONE;
}

PdEtcdStatus
pd_etcd_answer_ttl(const json_t *answer, int64_t lease_id, int64_t *ttl_s, int64_t *granted_ttl_s,
                   PdError *err)
{
    int64_t revision, id, ttl, granted;
    if (!pd_etcd_wire_header(answer, &revision) || !pd_etcd_wire_int64(answer, "ID", &id) ||
        !pd_etcd_wire_int64(answer, "TTL", &ttl) || !pd_etcd_wire_int64(answer, "grantedTTL", &granted) ||
        id != lease_id || ttl < -1)
        return pd_etcd_wire_unknown(err,
                                    "etcd's lease timetolive answer is malformed or names another lease");
    if (ttl == -1)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "etcd: lease %lld not found (expired or revoked)",
                     (long long)lease_id);
        return PD_ETCD_LEASE_NOT_FOUND;
    }
    *ttl_s = ttl;
    *granted_ttl_s = granted;
    return PD_ETCD_DONE;
}

PdEtcdStatus
pd_etcd_answer_status(const json_t *answer, PdEtcdServer *server, PdError *err)
{
    int64_t revision;
    PdEtcdServer read = {0};
    const json_t *header = json_object_get(answer, "header");
    const char *version = json_string_value(json_object_get(answer, "version"));
    if (!pd_etcd_wire_header(answer, &revision) || version == NULL ||
        !pd_etcd_wire_uint64(header, "member_id", &read.member_id) ||
        !pd_etcd_wire_uint64(answer, "leader", &read.leader_id) ||
        !pd_etcd_wire_int64(answer, "raftTerm", &read.raft_term))
        return pd_etcd_wire_unknown(err, "etcd's status answer is malformed");
    snprintf(read.version, sizeof read.version, "%s", version);
    read.cluster_id = pd_etcd_wire_cluster(answer);
    read.revision = revision;
    *server = read;
    return PD_ETCD_DONE;
}
