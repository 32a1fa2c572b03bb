/*
 * switchover.h - a planned change of leader asked of the keepers: the value
 * at pd_keys_switchover (keys.h), written by `prodata cluster switchover` or
 * `cluster failover`, completed by the leader's keeper when it hands over,
 * deleted by the member that took over (or by the command that read it
 * aborted). The document:
 *
 *   {"kind": "switchover", "from": "n1", "to": "n2", "requested_ms": 1764489600123,
 *    "timeout_ms": 60000, "allow_data_loss": false, "lsn": null, "released_ms": null,
 *    "aborted": null}
 *
 * kind: "switchover" (the leader `from` hands over) or "failover" (no
 * leader: `to` takes the leader key, from null). to: null while the leader
 * is to choose (it writes its choice when it hands over). requested_ms: the
 * command's wall clock; the request is live until requested_ms + timeout_ms.
 * lsn ("X/Y") and released_ms: written by the leader in the transaction that
 * deletes its leader key: the old primary's shutdown checkpoint (the last
 * record it wrote; its walsenders waited for the standbys to flush it) and
 * when. aborted: why the leader refused or gave up. Every field is required
 * (null where the text says so), no other is read: a keeper never acts on a
 * half-understood request. The rules of who may take over are here too,
 * shared by the command (which refuses early) and the leader's keeper (which
 * checks again on what it reads).
 */
#ifndef PRODATA_HA_SWITCHOVER_H
#define PRODATA_HA_SWITCHOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/cluster_config.h"
#include "ha/member.h"
#include "ha/roster.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_SWITCHOVER_DOCUMENT_MAX = 4096, /* bytes of the document */
    PD_SWITCHOVER_REASON_MAX = 256,    /* bytes of aborted */
};

typedef enum PdSwitchoverKind
{
    PD_SWITCHOVER_KIND_SWITCHOVER = 0,
    PD_SWITCHOVER_KIND_FAILOVER,
} PdSwitchoverKind;

typedef struct PdSwitchover
{
    PdSwitchoverKind kind;
    const char *from; /* NULL: none (a leaderless failover) */
    const char *to;   /* NULL: the leader chooses */
    int64_t requested_ms;
    int64_t timeout_ms; /* > 0 */
    bool allow_data_loss;
    uint64_t lsn;        /* 0: not released */
    int64_t released_ms; /* 0: not released */
    const char *aborted; /* NULL: not aborted */
} PdSwitchover;

/* "switchover", "failover". Never NULL. */
const char *pd_switchover_kind_name(PdSwitchoverKind kind);

/*
 * Reads a document (length bytes, not NUL-terminated) strictly: exactly the
 * nine fields, each of its type (from/to member names or null, lsn "X/Y" or
 * null, released_ms and lsn both null or both set, aborted a printable text
 * or null). *request (strings in arena) written only on success. Errors:
 * PD_ERR_INVALID_INPUT naming the field (err->field), PD_ERR_NO_MEMORY.
 */
bool pd_switchover_parse(PdArena *arena, const char *text, size_t length, PdSwitchover *request,
                         PdError *err);

/* The document, compact, fields in the order above; checked with the reader's rules first (a keeper
 * never writes what another refuses). *json in arena. Errors: PD_ERR_INVALID_INPUT, PD_ERR_NO_MEMORY. */
bool pd_switchover_json(PdArena *arena, const PdSwitchover *request, char **json, PdError *err);

/* Whether the request still asks for something at now_ms (wall): not aborted, within its timeout. */
bool pd_switchover_is_live(const PdSwitchover *request, int64_t now_ms);

/* What a candidate is judged on: one read of the cluster. */
typedef struct PdSwitchoverCluster
{
    const char *leader; /* NULL: no leader key */
    const PdMemberState *members;
    size_t member_count;
    const PdClusterConfig *config;
    const PdRoster *sync_set; /* the sync key's standbys; NULL or empty: not synchronous */
    int sync_quorum;          /* the sync key's k */
    int64_t now_ms;           /* wall clock: a member is fresh when it wrote within ttl_s * 2 */
} PdSwitchoverCluster;

/* The member's published state in cluster, or NULL. */
const PdMemberState *pd_switchover_member(const PdSwitchoverCluster *cluster, const char *name);

/*
 * Whether name may take over from a running leader: not the leader, its
 * member state fresh, running, a streaming standby, lag_bytes known and
 * within maximum_lag_on_failover_bytes, and in the sync set when there is
 * one. False with *why (in arena) saying what is wrong ("n3 is not
 * streaming").
 */
bool pd_switchover_qualifies(PdArena *arena, const PdSwitchoverCluster *cluster, const char *name,
                             const char **why);

/* The most advanced (write_lsn; ties: the smaller name) member that qualifies, or NULL with *why naming
 * each member and its reason. */
const char *pd_switchover_choose(PdArena *arena, const PdSwitchoverCluster *cluster, const char **why);

/*
 * A failover to name with no leader: true when name is fresh and running
 * (else false with *why). *lost_bytes: what promoting it may lose: its lag
 * behind the last leader's position as it published it, or how far a fresh
 * running member is ahead of it, whichever is more. *is_safe when no member
 * is ahead, its lag is within maximum_lag_on_failover_bytes and, in
 * synchronous mode, it provably holds every acknowledged commit (keeper_sync.c's
 * rule: n-k+1 fresh positions of the set read, it the most advanced of them;
 * when not, *lost_bytes is at least 1). *why names each problem ("" when safe).
 */
bool pd_switchover_failover_loss(PdArena *arena, const PdSwitchoverCluster *cluster, const char *name,
                                 uint64_t *lost_bytes, bool *is_safe, const char **why);

/* The sync key's set and quorum (for a command outside the keeper). Errors: PD_ERR_INVALID_INPUT. */
bool pd_switchover_sync_parse(PdArena *arena, const char *text, size_t length, PdRoster *set, int *quorum,
                              PdError *err);

#endif
