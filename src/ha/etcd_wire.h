/*
 * etcd_wire.h - what the etcd client's files share, private to them: the
 * client's state, the one HTTP call with its endpoint failover (etcd_http.c),
 * reading the gateway's JSON (etcd_wire.c: base64, int64 fields sent as
 * strings, error bodies classified into the three outcomes) and reading each
 * call's answer (etcd_answer.c, which the fuzz target drives too).
 */
#ifndef PRODATA_HA_ETCD_WIRE_H
#define PRODATA_HA_ETCD_WIRE_H

#include <curl/curl.h>
#include <jansson.h>

#include "ha/etcd.h"

typedef struct PdEtcdEndpoint
{
    char *url;           /* "http://host:port", no final slash */
    void *curl;          /* CURL *, made on first use, kept for keep-alive */
    uint64_t cluster_id; /* the etcd cluster it answered for; 0 until its first call asks */
} PdEtcdEndpoint;

struct PdEtcd
{
    PdEtcdEndpoint *endpoints;
    size_t endpoint_count;
    size_t current;      /* where the next call starts: the endpoint that answered last */
    uint64_t cluster_id; /* the cluster the first endpoint to answer belongs to; 0 before */
    int connect_timeout_ms;
    int attempt_timeout_ms;
    int request_timeout_ms;
    int next_call_limit_ms; /* pd_etcd_limit_next_call's bound for the next call only; 0: none */
    size_t max_answer_bytes;
    char *ca_file; /* copies of the config's TLS files, or NULL */
    char *cert_file;
    char *key_file;
    struct curl_slist *headers; /* the request headers every handle sends */
    char *answer;               /* the answer being received; grows, kept between calls */
    size_t answer_length;
    size_t answer_capacity;
    bool is_answer_too_long;
};

/* Whether a call may be sent again to another endpoint after it may have reached one. */
typedef enum PdEtcdRepeat
{
    PD_ETCD_ONCE,       /* a write: only after a connection failure (nothing was sent) */
    PD_ETCD_REPEATABLE, /* a read or a keepalive: also after a timeout, a broken answer or a 5xx */
} PdEtcdRepeat;

/*
 * POSTs body to path ("/v3/kv/range") on the endpoints in turn as the header
 * etcd.h describes. DONE: *answer is the answer's root object (the caller
 * decrefs it). Any other status: err says why, *answer is NULL.
 */
PdEtcdStatus pd_etcd_call(PdEtcd *etcd, const char *path, json_t *body, PdEtcdRepeat repeat, json_t **answer,
                          PdError *err);

/*
 * What an HTTP status and body from the gateway mean. 200 with a JSON object:
 * DONE with *answer (the caller decrefs it). A gRPC error body: a refusal for
 * the codes that say nothing was done (NotFound of a lease, InvalidArgument,
 * OutOfRange, AlreadyExists, PermissionDenied, Unauthenticated), UNKNOWN for
 * every other code and status. Anything else: UNKNOWN.
 */
PdEtcdStatus pd_etcd_wire_read(long http_status, const char *body, size_t length, json_t **answer,
                               PdError *err);

/* Fills err as PD_ERR_DCS_UNKNOWN with `what` as its message; returns PD_ETCD_UNKNOWN. */
PdEtcdStatus pd_etcd_wire_unknown(PdError *err, const char *what);

/*
 * What a gRPC error (code, message) in an answer of HTTP status http_status
 * means: the refusals pd_etcd_wire_read names (a 4xx only), else UNKNOWN. err filled.
 */
PdEtcdStatus pd_etcd_wire_error(long http_status, int64_t grpc_code, const char *message, PdError *err);

/* An int64 field sent as a decimal string (or a JSON integer); absent is 0. False when it is neither. */
bool pd_etcd_wire_int64(const json_t *object, const char *name, int64_t *value);
bool pd_etcd_wire_uint64(const json_t *object, const char *name, uint64_t *value);

/* The cluster id in an answer's header (or, for a keepalive, its result's header); 0 when none. */
uint64_t pd_etcd_wire_cluster(const json_t *answer);

/* The answer's "header" object, with its revision; false when missing or malformed. */
bool pd_etcd_wire_header(const json_t *answer, int64_t *revision);

/* Bytes as a base64 JSON string (a new reference; NULL on exhaustion). */
json_t *pd_etcd_wire_bytes(PdEtcdBytes bytes);

/* A base64 JSON string (or NULL: absent, the empty bytes) decoded into arena, NUL-terminated. */
bool pd_etcd_wire_decode(PdArena *arena, const json_t *string, PdEtcdBytes *bytes);

/* Answers of each call: DONE with the outputs filled, or UNKNOWN (err filled) for a malformed answer. */
PdEtcdStatus pd_etcd_answer_range(PdArena *arena, const json_t *answer, PdEtcdKv **kvs, size_t *count,
                                  PdError *err);
PdEtcdStatus pd_etcd_answer_put(const json_t *answer, int64_t *mod_revision, PdError *err);
PdEtcdStatus pd_etcd_answer_delete(const json_t *answer, int64_t *deleted, PdError *err);
/* DONE or COMPARE_FAILED, *current as pd_etcd_cas says. */
PdEtcdStatus pd_etcd_answer_txn(PdArena *arena, const json_t *answer, PdEtcdAction action, PdEtcdBytes key,
                                PdEtcdKv *current, PdError *err);
PdEtcdStatus pd_etcd_answer_grant(const json_t *answer, int64_t *lease_id, int64_t *granted_ttl_s,
                                  PdError *err);
/* DONE with *ttl_s > 0, LEASE_NOT_FOUND (TTL 0 or a NotFound error in the stream), or UNKNOWN. */
PdEtcdStatus pd_etcd_answer_keepalive(const json_t *answer, int64_t lease_id, int64_t *ttl_s, PdError *err);
PdEtcdStatus pd_etcd_answer_ttl(const json_t *answer, int64_t lease_id, int64_t *ttl_s,
                                int64_t *granted_ttl_s, PdError *err);
PdEtcdStatus pd_etcd_answer_status(const json_t *answer, PdEtcdServer *server, PdError *err);

#endif
