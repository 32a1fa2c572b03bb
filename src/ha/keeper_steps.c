/*
 * keeper_steps.c - the keeper's long steps, each bounded and logged:
 * bootstrap (the initialize key raced for by compare-and-swap, the winner
 * runs initdb and takes the leader key, the others clone from the leader),
 * a standby started only once its slot exists on the leader (checked over
 * one bounded connection as the replication role, so streaming can start at
 * once), rejoin by pg_rewind (a fresh clone only when rewind cannot work),
 * taking the leader key, promotion with the guard armed first, the leader's
 * slots kept to the roster, and a restart in place bounded by
 * primary_start_timeout_ms (the lease thread keeps the lease meanwhile),
 * after which the leader key is given up. Each declares its bound to the
 * lease thread before it starts (pd_keeper_step).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ha/keeper_run.h"
#include "prodata/db.h"
#include "prodata/log.h"

static bool
data_file_exists(const PdKeeper *keeper, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", pd_node_data_dir(keeper->node), name);
    return access(path, F_OK) == 0;
}

bool
pd_keeper_has_data(const PdKeeper *keeper)
{
    return data_file_exists(keeper, "PG_VERSION");
}

bool
pd_keeper_is_standby_dir(const PdKeeper *keeper)
{
    return data_file_exists(keeper, "standby.signal");
}

static void
log_failure(const PdKeeper *keeper, const char *step, const PdError *err)
{
    pd_logf(PD_LOG_ERROR, "keeper %s: %s failed: %s%s%s", keeper->name, step, err->message,
            err->detail[0] != '\0' ? " - " : "", err->detail);
}

/* The leader's timeline when it is published running as a primary (a promoting one shows its old), else 0. */
static int
primary_timeline(const PdMemberState *leader)
{
    return leader->role == PD_MEMBER_ROLE_PRIMARY && strcmp(leader->state, "running") == 0 ? leader->timeline
                                                                                           : 0;
}

bool
pd_keeper_is_following(PdKeeper *keeper, const PdMemberState *leader)
{
    char target[PD_KEEPER_TARGET_MAX];
    snprintf(target, sizeof target, "%s:%d", leader->pg_host, leader->pg_port);
    if (strcmp(keeper->following, target) != 0)
        return false;
    int timeline = primary_timeline(leader);
    if (timeline == 0 || keeper->following_timeline == 0 || timeline == keeper->following_timeline)
    {
        if (keeper->following_timeline == 0)
            keeper->following_timeline = timeline;
        return true;
    }
    pd_logf(PD_LOG_NOTICE, "keeper %s: %s runs timeline %d now (%d before): pointing the standby again",
            keeper->name, leader->name, timeline, keeper->following_timeline);
    return false;
}

void
pd_keeper_set_following(PdKeeper *keeper, const PdMemberState *leader)
{
    snprintf(keeper->following, sizeof keeper->following, "%s:%d", leader->pg_host, leader->pg_port);
    keeper->following_timeline = primary_timeline(leader);
}

/* ---- the leader key ---------------------------------------------------------------------------------- */

/* released_revision > 0: only while the released key is the one read then (no take since that release). */
static bool
take(PdKeeper *keeper, int64_t released_revision)
{
    int64_t lease_id = pd_keeper_lease_id(keeper);
    if (lease_id == 0)
        return false;
    PdError err = {0};
    PdEtcdKv current;
    PdEtcdCas cas = {.key = pd_keys_leader(&keeper->keys),
                     .compare = PD_ETCD_IF_ABSENT,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(keeper->name),
                     .lease_id = lease_id,
                     .also_key = pd_keys_released(&keeper->keys),
                     .also_delete = true,
                     .also_mod_revision = released_revision};
    PdEtcdOutcome outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    if (outcome.status != PD_ETCD_DONE)
    {
        pd_logf(PD_LOG_NOTICE, "keeper %s: the leader key was not taken (%s)", keeper->name,
                pd_etcd_status_name(outcome.status));
        if (outcome.status == PD_ETCD_COMPARE_FAILED && keeper->failsafe != NULL)
            pd_failsafe_release(keeper->failsafe); /* surely not ours: its own grant back (an unknown outcome
                                                      keeps it until it ends or a read says) */
        return false;
    }
    pd_keeper_failsafe_taken(keeper);
    if (released_revision > 0)
        keeper->is_failsafe_covered = true; /* released after its PostgreSQL stopped: no one writes */
    pd_keeper_failsafe_counted(keeper, "it took the leader key");
    keeper->is_leader = true;
    keeper->leader_revision = current.mod_revision;
    pd_keeper_guard(keeper, true);
    pd_logf(PD_LOG_INFO, "keeper %s: took the leader key (revision %" PRId64 ")%s", keeper->name,
            current.mod_revision, released_revision > 0 ? ", released by its last holder" : "");
    return true;
}

bool
pd_keeper_take_leader(PdKeeper *keeper)
{
    return take(keeper, 0);
}

bool
pd_keeper_take_released(PdKeeper *keeper, int64_t released_revision)
{
    return released_revision > 0 && take(keeper, released_revision);
}

/* Whether member may take over from this leader by the failover rules: in the synchronous set when there is
 * one, else within maximum_lag_on_failover_bytes of this leader's last position. */
static bool
may_succeed(const PdKeeper *keeper, const PdKeeperRead *read, const PdMemberState *member)
{
    if (read->sync.exists && read->sync.members.count > 0)
        return pd_roster_contains(&read->sync.members, member->name);
    uint64_t max_lag = (uint64_t)keeper->config.maximum_lag_on_failover_bytes;
    return member->write_lsn >= keeper->last_write_lsn ||
           keeper->last_write_lsn - member->write_lsn <= max_lag;
}

/* A fresh running standby that could take over once the leader key is free (read known). One that the
 * failover rules keep from taking over would leave the key unused: the recovery killed for nothing, and
 * started over at each round, never to finish. */
static bool
has_successor(const PdKeeper *keeper, const PdKeeperRead *read)
{
    int64_t now = pd_keeper_wall_ms();
    for (size_t i = 0; read != NULL && read->is_known && i < read->member_count; i++)
    {
        const PdMemberState *member = &read->members[i];
        if (strcmp(member->name, keeper->name) != 0 && member->role != PD_MEMBER_ROLE_PRIMARY &&
            strcmp(member->state, "running") == 0 &&
            now - member->updated_ms <= (int64_t)keeper->config.ttl_s * 2000 &&
            may_succeed(keeper, read, member))
            return true;
    }
    return false;
}

/* A leader whose PostgreSQL has not run again within primary_start_timeout_ms gives the leader key up
   (its postmaster, still recovering, killed first) so that a standby takes over; true when it did. With
   no standby to take over (or etcd not read) it keeps the key: a recovery started again helps no one. */
bool
pd_keeper_start_given_up(PdKeeper *keeper, const PdKeeperRead *read)
{
    int64_t now = pd_keeper_now_ms();
    if (keeper->down_since == 0)
        keeper->down_since = now;
    int64_t spent = now - keeper->down_since;
    if (spent < keeper->settings->primary_start_timeout_ms || !has_successor(keeper, read))
        return false;
    pd_logf(PD_LOG_WARNING,
            "keeper %s: PostgreSQL has not run again in %" PRId64 " ms (primary_start_timeout_ms %d): "
            "giving up the leader key so that a standby takes over",
            keeper->name, spent, keeper->settings->primary_start_timeout_ms);
    pd_keeper_step(keeper, "giving up the leader key", pd_keeper_ordinary_ms(keeper));
    int pid = 0;
    PdError err = {0};
    if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
    {
        log_failure(keeper, "stopping the postmaster", &err);
        return true;
    }
    keeper->was_primary = true;
    pd_keeper_release_leader(keeper); /* not released (unknown): tried again at the next tick */
    return true;
}

void
pd_keeper_restart_in_place(PdKeeper *keeper, const PdKeeperRead *read)
{
    if (pd_keeper_start_given_up(keeper, read))
        return;
    int64_t now = pd_keeper_now_ms();
    if (pd_keeper_lease_id(keeper) == 0 || pd_keeper_fence_at(keeper) <= now + 200)
    {
        pd_keeper_wait(keeper, "a renewed lease before PostgreSQL is started again");
        return;
    }
    /* the lease thread keeps the lease while PostgreSQL replays its WAL; the start's own bound is what is
       left of primary_start_timeout_ms */
    int64_t left = keeper->settings->primary_start_timeout_ms - (now - keeper->down_since);
    if (left < 1000) /* spent, and no standby to take over: another whole round */
        left = keeper->settings->primary_start_timeout_ms;
    pd_logf(PD_LOG_WARNING,
            "keeper %s: PostgreSQL is down while the lease is held: starting it in place (within %" PRId64
            " ms)",
            keeper->name, left);
    pd_keeper_guard(keeper, true);
    pd_keeper_step(keeper, "a restart in place", left + PD_KEEPER_STEP_SLACK_MS);
    PdError err = {0};
    int64_t started = pd_keeper_now_ms();
    if (!pd_node_start(keeper->node, (int)left, &err))
        log_failure(keeper, "the restart in place", &err);
    else
        pd_logf(PD_LOG_INFO, "keeper %s: PostgreSQL started in place in %" PRId64 " ms", keeper->name,
                pd_keeper_now_ms() - started);
}

void
pd_keeper_promote(PdKeeper *keeper, const PdKeeperRead *read, uint64_t lsn)
{
    pd_keeper_promote_for(keeper, read, lsn, "failover");
}

bool
pd_keeper_promote_for(PdKeeper *keeper, const PdKeeperRead *read, uint64_t lsn, const char *reason)
{
    if (!pd_keeper_failsafe_covered(keeper))
        return false;              /* waiting_for says which grants */
    pd_keeper_guard(keeper, true); /* armed before the node can take a write */
    if (!pd_keeper_sync_prepare(keeper, read))
    {
        pd_keeper_wait(keeper, "the sync key written before promoting");
        return false;
    }
    pd_keeper_renew(keeper); /* a fresh lease first; the lease thread keeps it during the promotion */
    pd_keeper_guard(keeper, true);
    pd_keeper_publish_phase(keeper, "promoting");
    PdError err = {0};
    int64_t started = pd_keeper_now_ms();
    pd_keeper_step(keeper, "the promotion", PD_KEEPER_PROMOTE_MS + PD_KEEPER_NODE_CALL_MS);
    if (!pd_node_promote(keeper->node, PD_KEEPER_PROMOTE_MS, &err))
    {
        log_failure(keeper, "promote", &err);
        return false;
    }
    if (!pd_keeper_sync_configure_primary(keeper, &err)) /* the standby's settings gone, the quorum kept */
        log_failure(keeper, "configuring the new primary", &err);
    keeper->was_primary = true;
    keeper->following[0] = '\0';
    keeper->following_timeline = 0;
    PdNodeStatus status;
    int timeline = pd_node_status(keeper->tick, keeper->node, &status, &err) ? (int)status.timeline : 0;
    pd_logf(PD_LOG_INFO, "keeper %s: promoted in %" PRId64 " ms (timeline %d, from %s)", keeper->name,
            pd_keeper_now_ms() - started, timeline,
            keeper->last_leader[0] != '\0' ? keeper->last_leader : "-");
    pd_keeper_append_history(keeper, keeper->last_leader, reason, timeline, lsn);
    return true;
}

/* ---- slots ------------------------------------------------------------------------------------------- */

static bool
has_slot(const PdNodeStatus *status, const char *slot)
{
    for (size_t i = 0; i < status->slot_count; i++)
        if (strcmp(status->slots[i].name, slot) == 0)
            return true;
    return false;
}

/* The roster name whose slot is slot, or NULL. */
static const char *
roster_name_of(const PdKeeper *keeper, const PdKeeperRead *read, const char *slot)
{
    for (size_t i = 0; i < read->roster.count; i++)
    {
        char name[64];
        if (strcmp(read->roster.names[i], keeper->name) != 0 &&
            pd_node_slot_name(read->roster.names[i], name, sizeof name, NULL) && strcmp(name, slot) == 0)
            return read->roster.names[i];
    }
    return NULL;
}

void
pd_keeper_ensure_slots(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    if (!read->has_roster)
        return;
    PdError err = {0};
    for (size_t i = 0; i < read->roster.count; i++)
    {
        const char *member = read->roster.names[i];
        char slot[64];
        if (strcmp(member, keeper->name) == 0 || !pd_node_slot_name(member, slot, sizeof slot, NULL) ||
            has_slot(status, slot))
            continue;
        if (pd_node_slot_create(keeper->node, member, &err))
            pd_logf(PD_LOG_INFO, "keeper %s: slot %s created for %s", keeper->name, slot, member);
        else
            log_failure(keeper, "creating a slot", &err);
    }
    for (size_t i = 0; i < status->slot_count; i++)
    {
        const PdNodeSlot *slot = &status->slots[i];
        if (strncmp(slot->name, "prodata_", 8) != 0 || slot->is_active ||
            roster_name_of(keeper, read, slot->name))
            continue;
        const char *member = slot->name + 8;
        if (pd_node_slot_drop(keeper->node, member, &err))
            pd_logf(PD_LOG_INFO, "keeper %s: slot %s dropped: %s is not in the roster", keeper->name,
                    slot->name, member);
        else
            log_failure(keeper, "dropping a slot", &err);
    }
}

/* Whether this member's slot exists on the leader, asked as the replication role in one bounded connection.
 */
static bool
slot_on_leader(PdKeeper *keeper, const PdMemberState *leader)
{
    char slot[64], conninfo[1024];
    if (!pd_node_slot_name(keeper->name, slot, sizeof slot, NULL))
        return false;
    snprintf(conninfo, sizeof conninfo,
             "host=%s port=%d user=%s passfile=%s dbname=postgres connect_timeout=2 "
             "application_name=prodata_keeper options='-c statement_timeout=2000'",
             leader->pg_host, leader->pg_port, keeper->settings->replication_user,
             pd_node_passfile(keeper->node));
    PdDb *db = NULL;
    PdDbResult *result = NULL;
    PdError err = {0};
    const char *params[] = {slot};
    bool is_there =
        pd_db_connect(conninfo, &db, &err) &&
        pd_db_query(keeper->tick, db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", 1,
                    params, &result, &err) &&
        strcmp(pd_db_result_value(result, 0, 0), "1") == 0;
    pd_db_close(db);
    if (err.code != PD_OK)
        pd_logf(PD_LOG_NOTICE, "keeper %s: cannot ask %s for slot %s: %s", keeper->name, leader->name, slot,
                err.message);
    return is_there;
}

void
pd_keeper_start_standby(PdKeeper *keeper, const PdMemberState *leader, bool is_joining)
{
    PdError err = {0};
    if (!pd_keeper_is_following(keeper, leader))
    {
        pd_node_set_joining(keeper->node, is_joining);
        if (!pd_node_configure(keeper->node, leader->pg_host, leader->pg_port, NULL, &err))
        {
            log_failure(keeper, "configuring the standby", &err);
            return;
        }
        pd_keeper_set_following(keeper, leader);
    }
    if (!slot_on_leader(keeper, leader))
    {
        pd_keeper_wait(keeper, "slot prodata_%s on the leader %s", keeper->name, leader->name);
        return;
    }
    int moved = 0;
    PdWalSwitch published = {(uint32_t)leader->switch_parent, leader->switch_lsn};
    if (leader->timeline > 0 &&
        !pd_node_set_fork_aside(keeper->node, (uint32_t)leader->timeline, &published, &moved, &err))
    {
        log_failure(keeper, "setting a forked WAL segment aside", &err);
        return;
    }
    if (moved > 0)
        pd_logf(
            PD_LOG_WARNING,
            "keeper %s: %d segment(s) of an older timeline holding a switch point of %s's timeline %d set "
            "aside in forked-wal/ (WAL past the switch would be replayed at start)",
            keeper->name, moved, leader->name, leader->timeline);
    pd_logf(PD_LOG_INFO, "keeper %s: starting as a standby of %s", keeper->name, leader->name);
    pd_keeper_step(keeper, "starting the standby", 60000 + PD_KEEPER_STEP_SLACK_MS);
    if (!pd_node_start(keeper->node, 60000, &err))
        log_failure(keeper, "starting the standby", &err);
}

/* ---- clone, rewind, initialise ----------------------------------------------------------------------- */

static void
clone_from(PdKeeper *keeper, const PdMemberState *leader)
{
    pd_keeper_publish_phase(keeper, "cloning");
    pd_logf(PD_LOG_INFO, "keeper %s: cloning from %s at %s:%d", keeper->name, leader->name, leader->pg_host,
            leader->pg_port);
    PdError err = {0};
    int64_t started = pd_keeper_now_ms();
    pd_keeper_step(keeper, "the clone", 600000 + PD_KEEPER_STEP_SLACK_MS);
    pd_node_set_joining(keeper->node, false); /* every byte of it, WAL included, is the leader's */
    if (!pd_node_clone(keeper->node, leader->pg_host, leader->pg_port, 600000, &err))
    {
        log_failure(keeper, "the clone", &err);
        return;
    }
    pd_logf(PD_LOG_INFO, "keeper %s: cloned from %s in %" PRId64 " ms", keeper->name,
            pd_node_cloned_from(keeper->node), pd_keeper_now_ms() - started);
    pd_keeper_set_following(keeper, leader);
    keeper->was_primary = false;
    keeper->needs_rewind = false;
    pd_keeper_renew(keeper);
    pd_keeper_start_standby(keeper, leader, true);
}

void
pd_keeper_rejoin(PdKeeper *keeper, const PdMemberState *leader)
{
    if (strcmp(leader->state, "running") != 0 || leader->role != PD_MEMBER_ROLE_PRIMARY)
    {
        pd_keeper_wait(keeper, "the leader %s to run as a primary before rejoining", leader->name);
        return;
    }
    pd_keeper_publish_phase(keeper, "rewinding");
    pd_logf(PD_LOG_INFO, "keeper %s: rejoining %s by pg_rewind", keeper->name, leader->name);
    PdError err = {0};
    int64_t started = pd_keeper_now_ms();
    pd_keeper_step(keeper, "the rewind", 300000 + PD_KEEPER_NODE_CALL_MS);
    pd_node_set_joining(keeper->node, true);
    if (!pd_node_rewind(keeper->node, leader->pg_host, leader->pg_port, 300000, &err))
    {
        if (err.code != PD_ERR_REFUSED)
        {
            log_failure(keeper, "the rewind", &err);
            return;
        }
        pd_logf(PD_LOG_WARNING, "keeper %s: rewind cannot work (%s): cloning afresh", keeper->name,
                err.message);
        clone_from(keeper, leader);
        return;
    }
    pd_logf(PD_LOG_INFO, "keeper %s: rewound in %" PRId64 " ms", keeper->name, pd_keeper_now_ms() - started);
    pd_keeper_set_following(keeper, leader);
    keeper->was_primary = false;
    keeper->needs_rewind = false;
    pd_keeper_renew(keeper);
    pd_keeper_start_standby(keeper, leader, true);
}

static void
initialize(PdKeeper *keeper)
{
    pd_keeper_publish_phase(keeper, "initializing");
    pd_logf(PD_LOG_INFO, "keeper %s: initialising the cluster's first primary", keeper->name);
    PdError err = {0};
    pd_keeper_step(keeper, "initdb", 120000 + PD_KEEPER_NODE_CALL_MS);
    if (!pd_node_init_primary(keeper->node, 120000, &err))
    {
        log_failure(keeper, "initdb of the first primary", &err);
        return;
    }
    keeper->was_primary = true;
    pd_keeper_renew(keeper);
    pd_keeper_guard(keeper, true);
    if (!pd_keeper_take_leader(keeper))
        pd_logf(PD_LOG_WARNING, "keeper %s: initialised, but the leader key was not taken", keeper->name);
}

/* The initialize key created (absent -> this member's name, no lease: it stays once the cluster exists).
 * Done or unknown (it may have been written), this process may initialise while the key names it. */
static bool
won_initialize(PdKeeper *keeper)
{
    PdError err = {0};
    PdEtcdKv current;
    PdEtcdCas cas = {.key = pd_keys_initialize(&keeper->keys),
                     .compare = PD_ETCD_IF_ABSENT,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(keeper->name)};
    PdEtcdOutcome outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    pd_logf(PD_LOG_INFO, "keeper %s: the race to initialise the cluster: %s", keeper->name,
            outcome.status == PD_ETCD_DONE ? "won" : pd_etcd_status_name(outcome.status));
    keeper->may_initialize = outcome.status == PD_ETCD_DONE || outcome.status == PD_ETCD_UNKNOWN;
    return outcome.status == PD_ETCD_DONE;
}

/* The initialize key names this member, but not from this process: the cluster was initialised before and
 * this node's data directory is gone. A second cluster would take the leader key and a rejoin would clone
 * it over the members holding the data: wait for a leader to clone instead. */
static void
wait_initialized(PdKeeper *keeper)
{
    pd_keeper_wait(keeper,
                   "a leader to clone: the cluster was initialised by this member before and its data "
                   "directory is empty (to make a new cluster, delete the initialize key)");
}

void
pd_keeper_bootstrap(PdKeeper *keeper, const PdKeeperRead *read)
{
    if (read->leader != NULL)
    {
        const PdMemberState *leader = pd_keeper_member(read, read->leader);
        if (leader == NULL || strcmp(leader->state, "running") != 0 || leader->role != PD_MEMBER_ROLE_PRIMARY)
            pd_keeper_wait(keeper, "the leader %s to run before cloning it", read->leader);
        else
            clone_from(keeper, leader);
        return;
    }
    bool is_mine = read->initializer != NULL && strcmp(read->initializer, keeper->name) == 0;
    if (is_mine && !keeper->may_initialize)
        wait_initialized(keeper);
    else if (read->initializer == NULL ? won_initialize(keeper) : is_mine)
        initialize(keeper);
    else
        pd_keeper_wait(keeper, "%s to initialise the cluster",
                       read->initializer != NULL ? read->initializer : "another member");
}
