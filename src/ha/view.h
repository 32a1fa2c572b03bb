/*
 * view.h - what a keeper shows of itself to its HTTP API (api.h): one
 * snapshot of its state, published by the keeper loop at the end of every
 * tick and whenever its role changes, read by the API's thread for each
 * request. The view is the only thing the two threads share: a mutex guards
 * it, a publish copies the snapshot (strings too) in, a read copies it out
 * whole, so a reader never sees half of one tick and half of the next, and
 * nothing a reader holds points into the keeper's memory.
 *
 * Fencing publishes first: after fencing, holds_leader=false and
 * pg_running=false are published BEFORE anything else, so the API answers
 * 503 on /primary from then on. The keeper's lease thread also moves the
 * leader's deadline in the view at each renewal (pd_keeper_view_renewed):
 * past it the API answers 503 on /primary without waiting for a publish.
 */
#ifndef PRODATA_HA_VIEW_H
#define PRODATA_HA_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/cluster_config.h"
#include "ha/member.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_KEEPER_VIEW_MEMBER_MAX = 64 * 1024,    /* bytes of member_json */
    PD_KEEPER_VIEW_CLUSTER_MAX = 1024 * 1024, /* bytes of cluster_json */
};

typedef struct PdKeeperView PdKeeperView; /* mutex inside; one per keeper process */

typedef struct PdKeeperSnapshot
{
    bool holds_leader; /* this keeper holds the leader key with a lease not past its fence deadline */
    bool pg_running;   /* the postmaster is up and accepts connections */
    bool in_recovery;  /* pg_is_in_recovery() */
    bool is_streaming; /* WAL receiver streaming */
    bool is_paused;    /* the cluster configuration's "paused" */
    int timeline;
    uint64_t write_lsn, replay_lsn;
    int64_t lag_bytes;         /* -1 unknown */
    int64_t maximum_lag_bytes; /* the cluster config's maximum_lag_on_failover_bytes */
    bool is_sync_standby;      /* listed in the leader's synchronous_standby_names */
    int64_t tick_mono_ms;      /* CLOCK_MONOTONIC ms of the last finished tick (/liveness); 0: none yet */
    const char *member_json;   /* this member's state JSON (pd_member_json), copied in; may be NULL */
    const char
        *cluster_json; /* {"members": [...], "leader": "n1", "paused": false, ...} copied in; may be NULL */
    /* Additions to KEEPER-IFACE.md section 2; 0 means unknown and is never wrong to publish. */
    int server_version; /* PostgreSQL's server_version_num (150004); /patroni leaves it out while 0 */
    int ttl_s;          /* the cluster config's ttl_s: /liveness allows 3 x ttl_s (0: the default, 3) */
    /* holds_leader counts only before leader_until_mono_ms (CLOCK_MONOTONIC ms): the fence deadline of the
       lease it was decided under (lease_id), moved with the guard's while that lease lasts (a renewal, a
       failsafe round granted: pd_keeper_view_renewed) and ended by its loss, so a tick that outlasts the
       deadline (etcd timeouts) never leaves a fenced node answering as the writable leader, nor a slow tick
       under a renewed lease a leader answering 503 */
    int64_t lease_id;
    int64_t leader_until_mono_ms;
} PdKeeperSnapshot;

/*
 * A view holding no snapshot yet: reads give the empty one (every flag false,
 * lag_bytes -1, strings NULL, tick_mono_ms 0), on which the API answers 503.
 * *view is freed with pd_keeper_view_free. Errors: PD_ERR_NO_MEMORY.
 */
bool pd_keeper_view_new(PdKeeperView **view, PdError *err);

/* Frees the view and the strings it holds. NULL is a no-op. No thread may use it any more. */
void pd_keeper_view_free(PdKeeperView *view);

/*
 * Copies *snapshot (strings too) under the mutex; the caller keeps its own.
 * A string longer than its bound (PD_KEEPER_VIEW_MEMBER_MAX,
 * PD_KEEPER_VIEW_CLUSTER_MAX) is refused: PD_ERR_TOO_LARGE and the view keeps
 * the snapshot it had. Errors: PD_ERR_TOO_LARGE, PD_ERR_NO_MEMORY (the view
 * unchanged). Thread-safe.
 */
bool pd_keeper_view_publish(PdKeeperView *view, const PdKeeperSnapshot *snapshot, PdError *err);

/*
 * The last snapshot published (or the empty one), strings copied into arena:
 * consistent, as one publish left it. Errors: PD_ERR_NO_MEMORY,
 * PD_ERR_TOO_LARGE (the arena's budget). Thread-safe.
 */
bool pd_keeper_view_read(PdArena *arena, PdKeeperView *view, PdKeeperSnapshot *snapshot, PdError *err);

/* Whether anything was published yet. Thread-safe. */
bool pd_keeper_view_has_snapshot(PdKeeperView *view);

/*
 * The lease lease_id was renewed up to the fence deadline fence_at_mono_ms (0: it is gone): the snapshot's
 * leader_until_mono_ms becomes that when the snapshot was decided under this lease; nothing otherwise.
 * Thread-safe (the keeper's lease thread calls it).
 */
void pd_keeper_view_renewed(PdKeeperView *view, int64_t lease_id, int64_t fence_at_mono_ms);

/*
 * The snapshot's cluster document (what /cluster answers) from what a tick
 * read: {"leader": "n1" or null, "paused": false, "synchronous_mode": "off",
 * "synchronous_quorum": 1, "maximum_lag_on_failover_bytes": 1048576,
 * "ttl_s": 3, "members": [member documents (member.h), as published]}. *json
 * in arena. Errors: PD_ERR_INVALID_INPUT (a member pd_member_json refuses),
 * PD_ERR_NO_MEMORY.
 */
bool pd_keeper_view_cluster_json(PdArena *arena, const char *leader, const PdMemberState *members,
                                 size_t count, const PdClusterConfig *config, char **json, PdError *err);

#endif
