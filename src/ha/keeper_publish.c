/*
 * keeper_publish.c - what the keeper tells others: its member state
 * (member.h) put under its lease at the end of every tick and before each
 * long step (with the step's name as the state, so `prodata cluster status`
 * shows "cloning" while it lasts), and the failover history, appended by a
 * new leader with a compare-and-swap on the key's mod_revision (the last 100
 * entries kept).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

enum
{
    HISTORY_MAX = 100,
    HISTORY_ATTEMPTS = 5,
};

static const char *
state_of(const PdKeeper *keeper, const PdNodeStatus *status)
{
    if (keeper->phase != NULL)
        return keeper->phase;
    switch (status->run)
    {
        case PD_NODE_READY:
            return status->is_connected ? "running" : "starting";
        case PD_NODE_STARTING:
            return "starting";
        case PD_NODE_STOPPING:
        case PD_NODE_STOPPED:
            return keeper->is_fenced ? "fenced" : "stopped";
        case PD_NODE_CRASHED:
            return keeper->is_fenced ? "fenced" : "crashed";
    }
    return "stopped";
}

static PdMemberRole
role_of(const PdKeeper *keeper, const PdNodeStatus *status)
{
    if (status->is_connected)
        return status->is_in_recovery ? PD_MEMBER_ROLE_STANDBY : PD_MEMBER_ROLE_PRIMARY;
    if (keeper->is_leader || keeper->was_primary)
        return PD_MEMBER_ROLE_PRIMARY;
    return pd_keeper_has_data(keeper) && pd_keeper_is_standby_dir(keeper) ? PD_MEMBER_ROLE_STANDBY
                                                                          : PD_MEMBER_ROLE_UNKNOWN;
}

/* A primary's timeline_switch: the last line of its timeline's history file, read once per timeline. */
static void
own_switch(PdKeeper *keeper, uint32_t timeline, PdMemberState *state)
{
    if (timeline > 1 && keeper->switch_timeline != timeline)
    {
        PdError err = {0};
        if (!pd_node_timeline_switch(keeper->node, timeline, &keeper->own_switch, &err))
        {
            pd_logf(PD_LOG_WARNING, "keeper %s: %s", keeper->name, err.message);
            return;
        }
        keeper->switch_timeline = timeline;
    }
    if (timeline > 1 && keeper->switch_timeline == timeline)
    {
        state->switch_parent = (int)keeper->own_switch.parent;
        state->switch_lsn = keeper->own_switch.switch_lsn;
    }
}

static PdMemberState
member_state(PdKeeper *keeper, const PdNodeStatus *status)
{
    const PdKeeperSettings *settings = keeper->settings;
    PdMemberState state = {.name = keeper->name,
                           .role = role_of(keeper, status),
                           .state = state_of(keeper, status),
                           .pg_host = settings->pg_listen_address,
                           .pg_port = settings->pg_port,
                           .api_url = keeper->api_url,
                           .timeline = (int)status->timeline,
                           .lag_bytes = -1,
                           .updated_ms = pd_keeper_wall_ms(),
                           .waiting_for = keeper->waiting_for != NULL ? keeper->waiting_for : ""};
    if (status->is_connected && !status->is_in_recovery)
    {
        state.write_lsn = state.replay_lsn = status->flush_lsn;
        state.lag_bytes = 0;
        own_switch(keeper, status->timeline, &state);
    }
    else if (status->is_connected)
    {
        state.write_lsn = status->received_lsn > 0 ? status->received_lsn : status->replayed_lsn;
        state.replay_lsn = status->replayed_lsn;
        state.is_streaming = strcmp(status->receiver_status, "streaming") == 0;
        if (keeper->leader_write_lsn > 0)
            state.lag_bytes = keeper->leader_write_lsn > state.write_lsn
                                  ? (int64_t)(keeper->leader_write_lsn - state.write_lsn)
                                  : 0;
    }
    else
    {
        /* stopped: the last position seen, on the timeline its WAL ends on */
        state.write_lsn = state.replay_lsn = keeper->last_write_lsn;
        state.timeline = keeper->last_timeline;
    }
    if (keeper->backup.pid != 0 || keeper->backup.has_result)
        state.backup_job = keeper->backup.job_id;
    pd_keeper_live_fill(keeper, status, &state);
    return state;
}

static void
put_member(PdKeeper *keeper, const PdMemberState *state)
{
    int64_t lease_id = pd_keeper_lease_id(keeper);
    if (lease_id == 0)
        return;
    PdError err = {0};
    char *json = NULL;
    PdEtcdBytes key;
    if (!pd_member_json(keeper->tick, state, &json, &err) ||
        !pd_keys_member(keeper->tick, &keeper->keys, keeper->name, &key, &err))
    {
        pd_logf(PD_LOG_ERROR, "keeper %s: member state not written: %s", keeper->name, err.message);
        return;
    }
    PdEtcdOutcome outcome = pd_etcd_put(keeper->etcd, key, pd_etcd_text(json), lease_id, NULL, &err);
    if (outcome.status != PD_ETCD_DONE)
        pd_logf(PD_LOG_WARNING, "keeper %s: member state not published (%s): %s", keeper->name,
                pd_etcd_status_name(outcome.status), err.message);
}

static void publish_snapshot(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status,
                             const PdMemberState *state);

void
pd_keeper_publish(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    PdMemberState state = member_state(keeper, status);
    pd_keeper_failsafe_fill(keeper, &state);
    put_member(keeper, &state);
    publish_snapshot(keeper, read, status, &state);
}

void
pd_keeper_publish_phase(PdKeeper *keeper, const char *phase)
{
    PdNodeStatus status;
    memset(&status, 0, sizeof status);
    status.run = pd_node_run_state(keeper->node, &status.pid);
    status.receiver_status = "";
    keeper->phase = phase;
    PdMemberState state = member_state(keeper, &status);
    pd_keeper_failsafe_fill(keeper, &state);
    put_member(keeper, &state);
}

/* ---- the history ------------------------------------------------------------------------------------- */

/* The history document with one entry appended (the oldest dropped past HISTORY_MAX), in the tick arena. */
static char *
appended(PdKeeper *keeper, const PdEtcdKv *kv, json_t *entry)
{
    json_t *history = kv->exists ? json_loadb(kv->value.data, kv->value.length, 0, NULL) : NULL;
    if (!json_is_array(history))
    {
        if (kv->exists)
            pd_logf(PD_LOG_WARNING, "keeper %s: the history is not a JSON array: started afresh",
                    keeper->name);
        json_decref(history);
        history = json_array();
    }
    json_array_append(history, entry);
    while (json_array_size(history) > HISTORY_MAX)
        json_array_remove(history, 0);
    char *text = json_dumps(history, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(history);
    char *copy = text != NULL ? pd_arena_strdup(keeper->tick, text) : NULL;
    free(text);
    return copy;
}

void
pd_keeper_append_history(PdKeeper *keeper, const char *from, const char *reason, int timeline, uint64_t lsn)
{
    char lsn_text[24];
    json_t *entry =
        json_pack("{s:I, s:s, s:s, s:s, s:i, s:s}", "at_ms", (json_int_t)pd_keeper_wall_ms(), "from",
                  from != NULL ? from : "", "to", keeper->name, "reason", reason, "timeline", timeline, "lsn",
                  pd_member_lsn_text(lsn, lsn_text, sizeof lsn_text));
    PdError err = {0};
    PdEtcdStatus status = PD_ETCD_UNKNOWN;
    for (int attempt = 0; entry != NULL && attempt < HISTORY_ATTEMPTS; attempt++)
    {
        PdEtcdKv kv, current;
        status = pd_etcd_get(keeper->tick, keeper->etcd, pd_keys_history(&keeper->keys), &kv, &err).status;
        char *text = status == PD_ETCD_DONE ? appended(keeper, &kv, entry) : NULL;
        if (text == NULL)
            break;
        PdEtcdCas cas = {.key = pd_keys_history(&keeper->keys),
                         .compare = kv.exists ? PD_ETCD_IF_MOD_REVISION : PD_ETCD_IF_ABSENT,
                         .mod_revision = kv.mod_revision,
                         .action = PD_ETCD_PUT,
                         .value = pd_etcd_text(text)};
        status = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err).status;
        if (status != PD_ETCD_COMPARE_FAILED)
            break;
    }
    json_decref(entry);
    if (status != PD_ETCD_DONE)
        pd_logf(PD_LOG_WARNING, "keeper %s: the history entry was not written (%s): %s", keeper->name,
                pd_etcd_status_name(status), err.message);
}

/* ---- the view of the HTTP API ------------------------------------------------------------------------ */

static void
publish_view(PdKeeper *keeper, const PdKeeperSnapshot *snapshot)
{
    PdError err = {0};
    if (keeper->view != NULL && !pd_keeper_view_publish(keeper->view, snapshot, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: the API's view not updated: %s", keeper->name, err.message);
}

void
pd_keeper_publish_fenced(PdKeeper *keeper)
{
    PdKeeperSnapshot snapshot = {.holds_leader = false,
                                 .pg_running = false,
                                 .lag_bytes = -1,
                                 .is_paused = keeper->config.is_paused,
                                 .maximum_lag_bytes = keeper->config.maximum_lag_on_failover_bytes,
                                 .ttl_s = keeper->config.ttl_s,
                                 .tick_mono_ms = pd_keeper_now_ms()};
    publish_view(keeper, &snapshot);
}

static void
publish_snapshot(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status,
                 const PdMemberState *state)
{
    if (keeper->view == NULL)
        return;
    PdError err = {0};
    char *member_json = NULL, *cluster_json = NULL;
    if (!pd_member_json(keeper->tick, state, &member_json, &err) ||
        (read->is_known &&
         !pd_keeper_view_cluster_json(keeper->tick, read->leader, read->members, read->member_count,
                                      &keeper->config, &cluster_json, &err)))
        pd_logf(PD_LOG_WARNING, "keeper %s: the API's documents not made: %s", keeper->name, err.message);
    int64_t now = pd_keeper_now_ms(), fence_at = pd_keeper_fence_at(keeper);
    PdKeeperSnapshot snapshot = {.holds_leader = keeper->is_leader && fence_at > now,
                                 .lease_id = pd_keeper_lease_id(keeper),
                                 .leader_until_mono_ms = fence_at,
                                 .pg_running = status->is_connected,
                                 .in_recovery = status->is_connected && status->is_in_recovery,
                                 .is_streaming = state->is_streaming,
                                 .is_paused = keeper->config.is_paused,
                                 .timeline = state->timeline,
                                 .write_lsn = state->write_lsn,
                                 .replay_lsn = state->replay_lsn,
                                 .lag_bytes = state->lag_bytes,
                                 .maximum_lag_bytes = keeper->config.maximum_lag_on_failover_bytes,
                                 .is_sync_standby = read->is_known && pd_keeper_sync_is_member(keeper, read),
                                 .tick_mono_ms = now,
                                 .member_json = member_json,
                                 .cluster_json = cluster_json,
                                 .ttl_s = keeper->config.ttl_s};
    publish_view(keeper, &snapshot);
}
