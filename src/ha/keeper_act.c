/*
 * keeper_act.c - what a keeper does in one tick, decided from one read of
 * etcd and one status of its PostgreSQL: lead (keep slots, restart a crashed
 * postmaster in place while the lease holds), follow (point the standby at
 * the leader, joining until it streams on the leader's timeline, stop a
 * primary that is no longer the leader at once, rejoin by rewind), or, with no leader, take the leader key
 * when this node is the most advanced fresh member within the lag bound, then promote. etcd unknown decides
 * nothing, except a restart in place under a lease still held. Long steps are keeper_steps.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

static void
ensure_roster(PdKeeper *keeper)
{
    if (keeper->is_in_roster)
        return;
    PdError err = {0};
    bool is_changed = false;
    PdEtcdOutcome outcome =
        pd_roster_change(keeper->tick, keeper->etcd, &keeper->keys, keeper->name, true, &is_changed, &err);
    if (outcome.status == PD_ETCD_DONE)
    {
        keeper->is_in_roster = true;
        if (is_changed)
            pd_logf(PD_LOG_INFO, "keeper %s: added to the roster", keeper->name);
    }
    else
        pd_logf(PD_LOG_WARNING, "keeper %s: not added to the roster yet (%s): %s", keeper->name,
                pd_etcd_status_name(outcome.status), err.message);
}

/* The leader key names this member under a lease that is not the current one: a former process's. Its
 * guard fences only at that lease's deadline, so the revoke, which frees the key at once, comes after this
 * node's PostgreSQL is dead if it may take writes: a standby could otherwise promote while it still does. */
static void
revoke_former_lease(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    PdError err = {0};
    int pid = 0;
    bool is_down = status->run == PD_NODE_STOPPED || status->run == PD_NODE_CRASHED;
    bool may_write = status->is_connected ? !status->is_in_recovery : !pd_keeper_is_standby_dir(keeper);
    if (!is_down && may_write)
    {
        pd_keeper_step(keeper, "killing the former process's primary", pd_keeper_ordinary_ms(keeper));
        if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
        {
            pd_logf(PD_LOG_ERROR, "keeper %s: %s; the former lease is left to expire", keeper->name,
                    err.message);
            return;
        }
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the primary (postmaster %d) of the former lease killed before "
                "its revoke",
                keeper->name, pid);
        keeper->was_primary = true;
    }
    PdEtcdOutcome outcome = pd_etcd_lease_revoke(keeper->etcd, read->leader_lease, &err);
    pd_logf(PD_LOG_NOTICE,
            "keeper %s: the leader key holds this member's former lease %" PRIx64 ": revoked (%s)",
            keeper->name, (uint64_t)read->leader_lease, pd_etcd_status_name(outcome.status));
    keeper->is_leader = false;
}

static void
act_leader(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    if (status->is_connected)
        keeper->down_since = 0;
    if (status->is_connected && !status->is_in_recovery)
    {
        pd_keeper_ensure_slots(keeper, read, status);
        pd_keeper_sync_lead(keeper, read);
    }
    else if (status->is_connected)
        pd_keeper_promote(keeper, read, status->received_lsn);
    else if (status->run == PD_NODE_STOPPED || status->run == PD_NODE_CRASHED)
        pd_keeper_restart_in_place(keeper, read);
    else if (!pd_keeper_start_given_up(keeper, read))
        pd_keeper_wait(keeper, "PostgreSQL to accept connections (%s)", pd_node_run_name(status->run));
}

/* The standby stopped so that the next tick rewinds it onto the leader's timeline. */
static void
stop_to_rewind(PdKeeper *keeper)
{
    PdError err = {0};
    keeper->stuck_since = 0;
    keeper->needs_rewind = true;
    pd_keeper_step(keeper, "stopping to rewind", 20000 + PD_KEEPER_NODE_CALL_MS);
    if (!pd_node_stop(keeper->node, 10000, NULL, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: %s", keeper->name, err.message);
}

/* Whether the joining standby holds WAL of its timeline past where that timeline ends in the leader's
 * lineage, or its timeline is not in that lineage at all (the history file its WAL receiver fetched from the
 * leader says): PostgreSQL will never switch it over. */
static bool
is_forked(PdKeeper *keeper, const PdMemberState *leader, const PdNodeStatus *status)
{
    if (status->timeline == 0 || leader->timeline <= (int)status->timeline)
        return false;
    uint64_t end = 0;
    bool has_history = false, is_found = false;
    PdError err = {0};
    if (!pd_node_timeline_end(keeper->node, (uint32_t)leader->timeline, status->timeline, &end, &has_history,
                              &is_found, &err))
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: %s", keeper->name, err.message);
        return false;
    }
    uint64_t held = status->received_lsn > status->replayed_lsn ? status->received_lsn : status->replayed_lsn;
    if (has_history && !is_found)
    {
        pd_logf(PD_LOG_WARNING,
                "keeper %s: timeline %u is not in %s's lineage (timeline %d): stopping to rewind",
                keeper->name, status->timeline, leader->name, leader->timeline);
        return true;
    }
    if (!is_found || held <= end)
        return false;
    pd_logf(PD_LOG_WARNING,
            "keeper %s: holds WAL of timeline %u to %X/%X, past its end at %X/%X on %s's timeline %d: "
            "stopping to rewind",
            keeper->name, status->timeline, (unsigned)(held >> 32), (unsigned)held, (unsigned)(end >> 32),
            (unsigned)end, leader->name, leader->timeline);
    return true;
}

/* A joining standby streaming on the leader's timeline is joined: pointed again under its own name, which
 * the leader's synchronous_standby_names lists (tried again next tick when that could not be done). */
static void
end_joining(PdKeeper *keeper, const PdMemberState *leader)
{
    PdError err = {0};
    pd_node_set_joining(keeper->node, false);
    pd_keeper_step(keeper, "joining", 10000 + PD_KEEPER_NODE_CALL_MS);
    if (!pd_node_configure(keeper->node, leader->pg_host, leader->pg_port, NULL, &err) ||
        !pd_node_reload(keeper->node, 10000, &err))
    {
        pd_node_set_joining(keeper->node, true);
        pd_logf(PD_LOG_WARNING, "keeper %s: cannot stream from %s under its own name: %s", keeper->name,
                leader->name, err.message);
        return;
    }
    pd_logf(PD_LOG_INFO, "keeper %s: streaming on %s's timeline %d: joined under its own name", keeper->name,
            leader->name, leader->timeline);
}

/* Whether the joining standby streams on the leader's timeline: the timeline its WAL receiver asks for is
 * the one the leader runs on, as published by the leader running as a primary (a promoting leader still
 * shows its old timeline). */
static bool
streams_on_leader_timeline(const PdMemberState *leader, const PdNodeStatus *status)
{
    return strcmp(status->receiver_status, "streaming") == 0 && leader->role == PD_MEMBER_ROLE_PRIMARY &&
           strcmp(leader->state, "running") == 0 && leader->timeline > 0 &&
           (int)status->receiver_timeline == leader->timeline;
}

/* Points the running standby at leader, joining (pd_node_set_joining): the timeline a leader publishes may
 * be its old one while it promotes. False when that could not be done. */
static bool
point_at(PdKeeper *keeper, const PdMemberState *leader, const char *target)
{
    PdError err = {0};
    pd_keeper_step(keeper, "pointing the standby", 10000 + PD_KEEPER_NODE_CALL_MS);
    bool was_joining = pd_node_is_joining(keeper->node);
    pd_node_set_joining(keeper->node, true);
    if (!pd_node_configure(keeper->node, leader->pg_host, leader->pg_port, NULL, &err) ||
        !pd_node_reload(keeper->node, 10000, &err))
    {
        pd_node_set_joining(keeper->node, was_joining);
        pd_logf(PD_LOG_WARNING, "keeper %s: cannot point the standby at %s: %s", keeper->name, target,
                err.message);
        return false;
    }
    pd_keeper_set_following(keeper, leader);
    keeper->stuck_since = 0;
    pd_logf(PD_LOG_INFO, "keeper %s: following %s at %s (joining until it streams on its timeline)",
            keeper->name, leader->name, target);
    return true;
}

/* Whether pid is still a WAL receiver (its process title): a pid read from PostgreSQL a moment ago. */
static bool
is_receiver(int pid)
{
    char title[256];
    return pd_fence_cmdline(pid, title, sizeof title) && strncmp(title, "postgres: ", 10) == 0 &&
           strstr(title, "walreceiver") != NULL;
}

/* PostgreSQL's WAL receiver ignores connect_timeout (it waits on its socket with no bound), so a primary
 * behind a black hole holds it for the kernel's SYN retries, about two minutes, and the startup process
 * reads nothing from the archive meanwhile. One still connecting after PD_KEEPER_RECEIVER_CONNECT_MS is
 * stopped: PostgreSQL restores what the archive holds, then starts another (docs/ha.md, "Log shipping"). */
static void
stop_stalled_receiver(PdKeeper *keeper, const PdMemberState *leader, const PdNodeStatus *status)
{
    if (status->connecting_pid <= 0 || status->connecting_ms < PD_KEEPER_RECEIVER_CONNECT_MS ||
        !is_receiver(status->connecting_pid))
        return;
    if (kill(status->connecting_pid, SIGTERM) != 0)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: the WAL receiver (pid %d) could not be stopped: %s", keeper->name,
                status->connecting_pid, strerror(errno));
        return;
    }
    pd_logf(keeper->receiver_stops++ == 0 ? PD_LOG_WARNING : PD_LOG_DEBUG,
            "keeper %s: the WAL receiver (pid %d) has been connecting to %s for %" PRId64
            " ms: stopped, so that PostgreSQL reads the archive meanwhile, then connects again",
            keeper->name, status->connecting_pid, leader->name, status->connecting_ms);
}

/* A running standby pointed at leader, joining until it streams on the leader's timeline; one that cannot
   follow that timeline is stopped to rewind (at once when it holds a fork, else when stuck). Streaming from
   it (already pointed at it before this tick, the roster read naming this member), it is in the leader's
   roster count: the leader made its slot from a roster naming it. */
static void
follow(PdKeeper *keeper, const PdKeeperRead *read, const PdMemberState *leader, const PdNodeStatus *status)
{
    char target[PD_KEEPER_TARGET_MAX];
    snprintf(target, sizeof target, "%s:%d", leader->pg_host, leader->pg_port);
    bool was_following = pd_keeper_is_following(keeper, leader);
    if (!was_following && !point_at(keeper, leader, target))
        return;
    bool is_streaming = strcmp(status->receiver_status, "streaming") == 0;
    if (is_streaming)
    {
        keeper->stuck_since = 0;
        keeper->receiver_stops = 0;
        if (was_following && read->has_roster && pd_roster_contains(&read->roster, keeper->name))
            pd_keeper_failsafe_counted(keeper, leader->name); /* joining or not: the leader made its slot */
    }
    if (was_following && pd_node_is_joining(keeper->node))
    {
        if (streams_on_leader_timeline(leader, status))
        {
            end_joining(keeper, leader);
            return;
        }
        if (is_forked(keeper, leader, status))
        {
            stop_to_rewind(keeper);
            return;
        }
    }
    if (is_streaming)
        return;
    pd_keeper_wait(keeper, "streaming from %s", leader->name);
    stop_stalled_receiver(keeper, leader, status);
    int64_t now = pd_keeper_now_ms();
    if (keeper->stuck_since == 0)
        keeper->stuck_since = now;
    if (now - keeper->stuck_since < PD_KEEPER_STUCK_MS || leader->timeline <= (int)status->timeline)
        return;
    pd_logf(PD_LOG_WARNING, "keeper %s: not streaming from %s (timeline %d, mine %u): stopping to rewind",
            keeper->name, leader->name, leader->timeline, status->timeline);
    stop_to_rewind(keeper);
}

static void
act_follower(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    const PdMemberState *leader = pd_keeper_member(read, read->leader);
    if (leader == NULL || leader->pg_port == 0)
    {
        pd_keeper_wait(keeper, "the member state of the leader %s", read->leader);
        return;
    }
    if (status->is_connected && !status->is_in_recovery)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: %s holds the leader key: killing this primary at once",
                keeper->name, read->leader);
        int pid = 0;
        PdError err = {0};
        if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
            pd_logf(PD_LOG_ERROR, "keeper %s: %s", keeper->name, err.message);
        keeper->was_primary = true;
        return;
    }
    if (status->run == PD_NODE_STOPPED || status->run == PD_NODE_CRASHED)
    {
        if (pd_keeper_switchover_rejoin(keeper, leader))
            return;
        if (keeper->was_primary || keeper->needs_rewind || !pd_keeper_is_standby_dir(keeper))
            pd_keeper_rejoin(keeper, leader);
        else
            pd_keeper_start_standby(keeper, leader, true);
        return;
    }
    if (!status->is_connected)
        pd_keeper_wait(keeper, "PostgreSQL to accept connections (%s)", pd_node_run_name(status->run));
    else
        follow(keeper, read, leader, status);
}

/* A fresh, running member ahead of the position (timeline, lsn) (ties: the smaller name wins), or NULL. */
static const char *
member_ahead(const PdKeeper *keeper, const PdKeeperRead *read, int timeline, uint64_t lsn)
{
    int64_t now = pd_keeper_wall_ms();
    for (size_t i = 0; i < read->member_count; i++)
    {
        const PdMemberState *member = &read->members[i];
        bool is_fresh = now - member->updated_ms <= (int64_t)keeper->config.ttl_s * 2000;
        if (strcmp(member->name, keeper->name) == 0 || !is_fresh || strcmp(member->state, "running") != 0)
            continue;
        int order = pd_member_position_compare(member->timeline, member->write_lsn, timeline, lsn);
        if (order > 0 || (order == 0 && strcmp(member->name, keeper->name) < 0))
            return member->name;
    }
    return NULL;
}

/* This node's position for a failover: (*timeline, *lsn); false when it cannot be a candidate this tick. */
static bool
candidate_position(PdKeeper *keeper, const PdNodeStatus *status, int *timeline, uint64_t *lsn)
{
    if (status->is_connected)
    {
        *timeline = (int)status->timeline;
        *lsn = !status->is_in_recovery    ? status->flush_lsn
               : status->received_lsn > 0 ? status->received_lsn
                                          : status->replayed_lsn;
        return true;
    }
    if (status->run != PD_NODE_STOPPED && status->run != PD_NODE_CRASHED)
    {
        pd_keeper_wait(keeper, "PostgreSQL to accept connections (%s)", pd_node_run_name(status->run));
        return false;
    }
    if (pd_keeper_is_standby_dir(keeper) && !keeper->needs_rewind)
    {
        PdError err = {0};
        pd_logf(PD_LOG_INFO, "keeper %s: no leader: starting the standby to learn its position",
                keeper->name);
        pd_keeper_step(keeper, "starting the standby", 30000 + PD_KEEPER_STEP_SLACK_MS);
        if (!pd_node_start(keeper->node, 30000, &err))
            pd_logf(PD_LOG_WARNING, "keeper %s: %s", keeper->name, err.message);
        return false;
    }
    *lsn = keeper->was_primary ? keeper->last_write_lsn : 0; /* a stopped former primary */
    *timeline = keeper->was_primary ? keeper->last_timeline : 0;
    return true;
}

static void
act_leaderless(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    uint64_t lsn = 0;
    int timeline = 0;
    if (!candidate_position(keeper, status, &timeline, &lsn))
        return;
    bool is_synchronous = false;
    if (!pd_keeper_sync_may_take(keeper, read, timeline, lsn, &is_synchronous))
        return;
    const char *ahead = is_synchronous ? NULL : member_ahead(keeper, read, timeline, lsn);
    if (ahead != NULL)
    {
        pd_keeper_wait(keeper, "%s, further ahead, to take the leader key", ahead);
        return;
    }
    if (is_synchronous && timeline > 0 && keeper->leader_timeline > timeline)
    {
        /* Every commit the last leader acknowledged is on its timeline: a member on an older one holds
         * none of those after the fork, whatever the positions read say (a peer's timeline unknown). */
        pd_keeper_wait(keeper,
                       "a member on %s's timeline %d (this one is on timeline %d: it holds none of the "
                       "commits acknowledged there)",
                       keeper->last_leader, keeper->leader_timeline, timeline);
        return;
    }
    uint64_t lag = pd_member_position_lag(timeline, lsn, keeper->leader_timeline, keeper->leader_write_lsn);
    if (!is_synchronous && lag > (uint64_t)keeper->config.maximum_lag_on_failover_bytes)
    {
        if (lag == UINT64_MAX)
            pd_keeper_wait(keeper,
                           "a member within maximum_lag_on_failover_bytes (this one is on timeline %d, "
                           "older than %s's last position on timeline %d)",
                           timeline, keeper->last_leader, keeper->leader_timeline);
        else
            pd_keeper_wait(keeper,
                           "a member within maximum_lag_on_failover_bytes (this one is %" PRIu64
                           " bytes behind %s's last position)",
                           lag, keeper->last_leader);
        return;
    }
    bool is_released = read->released_revision > 0 && read->leader == NULL; /* no grants needed */
    if (is_released ? !pd_keeper_take_released(keeper, read->released_revision)
                    : !pd_keeper_failsafe_may_take(keeper) || !pd_keeper_take_leader(keeper))
        return;
    if (status->is_connected && status->is_in_recovery)
        pd_keeper_promote(keeper, read, lsn);
    else if (!status->is_connected)
        pd_keeper_restart_in_place(keeper, read);
}

static void
note_leader(PdKeeper *keeper, const PdKeeperRead *read)
{
    snprintf(keeper->last_leader, sizeof keeper->last_leader, "%s", read->leader);
    const PdMemberState *leader = pd_keeper_member(read, read->leader);
    if (leader != NULL && leader->write_lsn > 0)
    {
        keeper->leader_write_lsn = leader->write_lsn;
        keeper->leader_timeline = leader->timeline;
    }
}

/* Paused: no automatic action (no failover, restart, rejoin or clone) but the leader's slots, and a primary
 * that is not the leader is still killed: two writable primaries are never maintenance. */
static void
act_paused(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    if (keeper->is_leader && status->is_connected && !status->is_in_recovery)
        pd_keeper_ensure_slots(keeper, read, status);
    else if (read->leader != NULL && !keeper->is_leader && status->is_connected && !status->is_in_recovery)
        act_follower(keeper, read, status);
    pd_keeper_wait(keeper, "the cluster to be resumed (paused: no automatic action)");
}

static void
act_unknown(PdKeeper *keeper, const PdNodeStatus *status)
{
    if (keeper->is_leader && (status->run == PD_NODE_STOPPED || status->run == PD_NODE_CRASHED))
        pd_keeper_restart_in_place(keeper, NULL);
}

void
pd_keeper_act(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    if (!read->is_known)
    {
        act_unknown(keeper, status);
        return;
    }
    ensure_roster(keeper);
    if (pd_keeper_failsafe_reclaim(keeper, read))
        return;
    bool is_mine = read->leader != NULL && strcmp(read->leader, keeper->name) == 0;
    if (is_mine && read->leader_lease != pd_keeper_lease_id(keeper))
    {
        revoke_former_lease(keeper, read, status);
        return;
    }
    if (keeper->is_leader && !is_mine) /* read before the lease thread found the lease gone (a keeper back
                                          from a stop): the kill must not wait for that */
        pd_keeper_leadership_lost(keeper, read->leader == NULL ? "the leader key is gone"
                                                               : "the leader key is another member's");
    keeper->is_leader = is_mine;
    if (!is_mine)
    {
        keeper->down_since = 0;
        keeper->is_failsafe_covered = false;
    }
    if (read->leader == NULL && keeper->leaderless_since_ms == 0)
        keeper->leaderless_since_ms = pd_keeper_wall_ms();
    else if (read->leader != NULL)
        keeper->leaderless_since_ms = 0;
    if (is_mine)
        keeper->leader_revision = read->leader_revision;
    else if (read->leader != NULL)
        note_leader(keeper, read);
    if (keeper->is_leader && pd_keeper_switchover_lead(keeper, read, status))
        return;
    if (keeper->config.is_paused)
        act_paused(keeper, read, status);
    else if (!pd_keeper_has_data(keeper))
        pd_keeper_bootstrap(keeper, read);
    else if (keeper->is_leader)
        act_leader(keeper, read, status);
    else if (read->leader != NULL)
        act_follower(keeper, read, status);
    else if (!pd_keeper_switchover_leaderless(keeper, read, status))
        act_leaderless(keeper, read, status);
}
