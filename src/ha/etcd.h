/*
 * etcd.h - the control plane's client for etcd v3, through its JSON gateway
 * (POST /v3/...) over libcurl. The keeper keeps the leader key and the member
 * keys here; this client gives it keys, leases and compare-and-swap.
 *
 * The three-outcome rule. Every call returns a PdEtcdOutcome, a struct so that
 * it cannot be tested as a boolean (`if (pd_etcd_put(...))` does not compile):
 * read its `status` with a switch, which -Wswitch makes cover every value.
 *   PD_ETCD_DONE      etcd answered and did what was asked.
 *   a refusal         etcd answered no, and nothing was written:
 *                     PD_ETCD_COMPARE_FAILED, PD_ETCD_LEASE_NOT_FOUND, PD_ETCD_REJECTED.
 *   PD_ETCD_UNKNOWN   no answer we can trust: a timeout, a connection failure,
 *                     a 5xx, an answer that is not etcd's JSON. A write may or
 *                     may not have taken effect; a lease may or may not live.
 * DONE and the refusals are evidence about etcd; UNKNOWN is none. It is 0, so a
 * zeroed outcome never reads as an answer. err is filled for every status but
 * PD_ETCD_DONE (PD_ERR_DCS_UNKNOWN for PD_ETCD_UNKNOWN); outputs are written
 * only when the header says so.
 *
 * Endpoints: a call starts at the endpoint that answered last and moves to the
 * next on a connection failure; reads (and lease keepalive, which only renews)
 * move on after a timeout or a 5xx too, writes do not (the write may have been
 * applied: a second try could answer "compare failed" for our own write), but
 * the next call starts at the next endpoint. Every call is bounded by
 * request_timeout_ms in all, each endpoint by attempt_timeout_ms. Each
 * endpoint's cluster id is learnt before its first call (a status request);
 * one of another cluster than the first to answer gives UNKNOWN.
 *
 * A PdEtcd belongs to one thread at a time.
 */
#ifndef PRODATA_HA_ETCD_H
#define PRODATA_HA_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"

typedef struct PdEtcd PdEtcd;

typedef struct PdEtcdConfig
{
    const char *const *endpoints; /* "http://127.0.0.1:2379" (a bare host:port means http://) */
    size_t endpoint_count;
    int connect_timeout_ms;  /* one TCP connect; 0: 500 */
    int attempt_timeout_ms;  /* one endpoint's whole exchange; 0: 1,000 */
    int request_timeout_ms;  /* one call, every endpoint it tries; 0: 2,000 */
    size_t max_answer_bytes; /* a longer answer is PD_ETCD_UNKNOWN; 0: 64 MiB */
    /* https endpoints: NULL for each means the system's CA certificates and no client certificate. */
    const char *ca_file;   /* PEM CA certificates etcd's certificate is checked against */
    const char *cert_file; /* PEM client certificate (etcd's --client-cert-auth) */
    const char *key_file;  /* its PEM private key (needs cert_file) */
} PdEtcdConfig;

typedef enum PdEtcdStatus
{
    PD_ETCD_UNKNOWN = 0,     /* no trustworthy answer: learn nothing from it */
    PD_ETCD_DONE,            /* etcd did it */
    PD_ETCD_COMPARE_FAILED,  /* pd_etcd_cas: the condition was false; nothing written */
    PD_ETCD_LEASE_NOT_FOUND, /* the lease does not exist (expired or revoked); nothing written */
    PD_ETCD_REJECTED,        /* etcd refused the request itself (bad argument, permission); nothing written */
} PdEtcdStatus;

typedef struct PdEtcdOutcome
{
    PdEtcdStatus status;
} PdEtcdOutcome;

/* Bytes: keys and values may hold any byte, NUL included. */
typedef struct PdEtcdBytes
{
    const char *data;
    size_t length;
} PdEtcdBytes;

/* One key as etcd holds it. Read from etcd, data is in the caller's arena and NUL-terminated too. */
typedef struct PdEtcdKv
{
    bool exists;
    PdEtcdBytes key;
    PdEtcdBytes value;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease_id; /* 0: none */
} PdEtcdKv;

/* The condition of a compare-and-swap. */
typedef enum PdEtcdCompare
{
    PD_ETCD_IF_ABSENT,       /* the key does not exist (create_revision == 0) */
    PD_ETCD_IF_MOD_REVISION, /* the key's mod_revision is cas.mod_revision */
    PD_ETCD_IF_VALUE,        /* the key exists and holds cas.expected */
} PdEtcdCompare;

typedef enum PdEtcdAction
{
    PD_ETCD_PUT,    /* set key to cas.value, under cas.lease_id when not 0 */
    PD_ETCD_DELETE, /* delete key */
} PdEtcdAction;

typedef struct PdEtcdCas
{
    PdEtcdBytes key;
    PdEtcdCompare compare;
    int64_t mod_revision; /* PD_ETCD_IF_MOD_REVISION */
    PdEtcdBytes expected; /* PD_ETCD_IF_VALUE */
    PdEtcdAction action;
    PdEtcdBytes value; /* PD_ETCD_PUT */
    int64_t lease_id;  /* PD_ETCD_PUT; 0: none */
    /* when also_key is not empty: a put of also_value there (no lease), or its delete, in the same
       transaction, done only if the compare held (the switchover's handover: the leader key deleted and the
       request completed at once; a release writing the released key, a take deleting it) */
    PdEtcdBytes also_key;
    PdEtcdBytes also_value;
    bool also_delete;          /* the second key deleted instead (no key: nothing deleted, not a failure) */
    int64_t also_mod_revision; /* > 0: the transaction also compares the second key's mod_revision to it */
    bool also_compare_only;    /* with also_mod_revision: the second key is compared only, neither put nor
                                  deleted (a scheduled backup's job written only while the leader key is the
                                  writer's) */
} PdEtcdCas;

typedef struct PdEtcdServer
{
    char version[32];    /* "3.4.23" */
    uint64_t cluster_id; /* the cluster the member belongs to */
    uint64_t member_id;  /* the member that answered */
    uint64_t leader_id;  /* 0: it knows no leader */
    int64_t revision;
    int64_t raft_term;
} PdEtcdServer;

/* Bytes of a NUL-terminated text (NULL gives the empty bytes). */
PdEtcdBytes pd_etcd_text(const char *text);

/*
 * Checks config (at least one endpoint, http:// or https://, timeouts >= 0,
 * attempt <= request, TLS files readable) and makes the client, copying what
 * it keeps of config; it opens no connection yet.
 * *etcd is freed with pd_etcd_close. Errors: PD_ERR_INVALID_INPUT (field
 * set), PD_ERR_NO_MEMORY.
 */
bool pd_etcd_open(const PdEtcdConfig *config, PdEtcd **etcd, PdError *err);

/* Closes connections and frees. NULL is a no-op. */
void pd_etcd_close(PdEtcd *etcd);

/* The endpoint the next call starts at: the one that answered last, or the one after an endpoint that gave
 * no answer to trust. Owned by etcd. */
const char *pd_etcd_endpoint(const PdEtcd *etcd);

/*
 * Bounds the next call (only it) by timeout_ms when that is below
 * request_timeout_ms: the keeper's renewal bounded by the time left before its
 * fence deadline, so a hung one leaves room for the next. Past it the call is
 * UNKNOWN as any timeout. timeout_ms <= 0: no bound beyond the usual.
 */
void pd_etcd_limit_next_call(PdEtcd *etcd, int timeout_ms);

/* One key. DONE: *kv filled (kv->exists false when there is no such key), in arena. */
PdEtcdOutcome pd_etcd_get(PdArena *arena, PdEtcd *etcd, PdEtcdBytes key, PdEtcdKv *kv, PdError *err);

/* Every key starting with prefix (the empty prefix: every key), in key order. DONE: *kvs, *count in arena. */
PdEtcdOutcome pd_etcd_range(PdArena *arena, PdEtcd *etcd, PdEtcdBytes prefix, PdEtcdKv **kvs, size_t *count,
                            PdError *err);

/* Sets key to value, under lease_id when not 0. LEASE_NOT_FOUND: no such lease. DONE: *mod_revision (may be
 * NULL) is the key's new mod_revision. */
PdEtcdOutcome pd_etcd_put(PdEtcd *etcd, PdEtcdBytes key, PdEtcdBytes value, int64_t lease_id,
                          int64_t *mod_revision, PdError *err);

/* Deletes key. DONE: *deleted (may be NULL) is 1, or 0 when there was no such key. */
PdEtcdOutcome pd_etcd_delete(PdEtcd *etcd, PdEtcdBytes key, int64_t *deleted, PdError *err);

/*
 * Compare-and-swap in one etcd transaction: cas->action on cas->key only if
 * cas->compare holds. DONE: it held and the action was done; *current (in
 * arena) is the key after it (exists false after a delete). COMPARE_FAILED:
 * nothing changed; *current is the key as it is. LEASE_NOT_FOUND: the lease of
 * a put does not exist. With also_key, the second put is done with the action
 * or not at all. A write: not retried on another endpoint after a
 * timeout (UNKNOWN), since a retry could find our own write and say COMPARE_FAILED.
 */
PdEtcdOutcome pd_etcd_cas(PdArena *arena, PdEtcd *etcd, const PdEtcdCas *cas, PdEtcdKv *current,
                          PdError *err);

/* A new lease of ttl_s seconds. DONE: *lease_id, and *granted_ttl_s (may be NULL) the TTL etcd gave it: etcd
 * raises one below its minimum (1.5 times its election timeout). */
PdEtcdOutcome pd_etcd_lease_grant(PdEtcd *etcd, int64_t ttl_s, int64_t *lease_id, int64_t *granted_ttl_s,
                                  PdError *err);

/*
 * Renews a lease once. DONE: it lives at least *ttl_s (> 0) seconds from the
 * moment this call began (read the clock before calling): etcd counts them
 * from its renewal, which came later. LEASE_NOT_FOUND: it expired or was
 * revoked (the only status that says the lease is gone). UNKNOWN: it may live
 * or not; the caller's clock from the last DONE decides.
 */
PdEtcdOutcome pd_etcd_lease_keepalive(PdEtcd *etcd, int64_t lease_id, int64_t *ttl_s, PdError *err);

/* Revokes a lease and deletes its keys. LEASE_NOT_FOUND: it was gone already. */
PdEtcdOutcome pd_etcd_lease_revoke(PdEtcd *etcd, int64_t lease_id, PdError *err);

/* A lease's remaining and granted seconds, without renewing it. LEASE_NOT_FOUND: gone. */
PdEtcdOutcome pd_etcd_lease_ttl(PdEtcd *etcd, int64_t lease_id, int64_t *ttl_s, int64_t *granted_ttl_s,
                                PdError *err);

/* The answering member's version, ids and revision (maintenance status). */
PdEtcdOutcome pd_etcd_status(PdEtcd *etcd, PdEtcdServer *server, PdError *err);

/* Stable lower-case name of a status ("lease not found"). Never NULL. */
const char *pd_etcd_status_name(PdEtcdStatus status);

#endif
