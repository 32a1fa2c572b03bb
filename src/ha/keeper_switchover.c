/*
 * keeper_switchover.c - a planned change of leader (switchover.h), the
 * keeper's side. The leader, on a request from itself, checks the candidate
 * again on its own read, then hands over: a CHECKPOINT while it still takes
 * writes, a fast shutdown, over once the shutdown checkpoint is written (the
 * control file says so: the node writes nothing more, while its walsenders
 * send the WAL up to that checkpoint and its archiver runs a last cycle; the
 * guard stays armed until the key is released), pg_controldata for that
 * checkpoint's location, the end of that record read from its WAL, the
 * candidate's position up to that end (asked of its PostgreSQL, every
 * 10 ms), then ONE etcd
 * transaction: if the leader key is still the one it
 * wrote, delete it and complete the request (to, lsn, released_ms). Any
 * failure before that transaction leaves the key held: the request is
 * marked aborted and the ordinary leader path starts PostgreSQL again in
 * place. The candidate, while a request names it, ticks every 50 ms; once
 * the key is released it waits (bounded) until it has received past lsn,
 * takes the key and promotes as a failover does; every other member waits
 * for it, bounded by ttl_s * 2 plus the promotion's bound, after which the
 * ordinary failover rules apply. The old primary, stopped cleanly at a
 * record its successor holds, rejoins as a plain standby: its WAL is a
 * prefix of the new timeline's, so there is nothing for pg_rewind to undo.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ha/keeper_run.h"
#include "prodata/db.h"
#include "prodata/log.h"

static bool
is_me(const PdKeeper *keeper, const char *name)
{
    return name != NULL && strcmp(name, keeper->name) == 0;
}

/* The read as the rules of switchover.h see it (in the tick arena). */
static PdSwitchoverCluster
cluster_of(PdKeeper *keeper, const PdKeeperRead *read)
{
    return (PdSwitchoverCluster){.leader = read->leader,
                                 .members = read->members,
                                 .member_count = read->member_count,
                                 .config = &keeper->config,
                                 .sync_set = read->sync.exists ? &read->sync.members : NULL,
                                 .sync_quorum = read->sync.quorum,
                                 .now_ms = pd_keeper_wall_ms()};
}

/* Writes changed over the request as read (compare-and-swap on its mod_revision); NULL changed: deletes it.
 */
static bool
write_request(PdKeeper *keeper, const PdKeeperRead *read, const PdSwitchover *changed, const char *what)
{
    PdError err = {0};
    char *json = NULL;
    if (changed != NULL && !pd_switchover_json(keeper->tick, changed, &json, &err))
    {
        pd_logf(PD_LOG_ERROR, "keeper %s: the switchover request not %s: %s", keeper->name, what,
                err.message);
        return false;
    }
    PdEtcdKv current;
    PdEtcdCas cas = {.key = pd_keys_switchover(&keeper->keys),
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = read->switchover_revision,
                     .action = changed != NULL ? PD_ETCD_PUT : PD_ETCD_DELETE,
                     .value = pd_etcd_text(json)};
    PdEtcdOutcome outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    if (outcome.status != PD_ETCD_DONE)
        pd_logf(PD_LOG_NOTICE, "keeper %s: the switchover request not %s (%s)", keeper->name, what,
                pd_etcd_status_name(outcome.status));
    return outcome.status == PD_ETCD_DONE;
}

/* The request marked aborted with reason (made printable, cut to its bound), logged. */
static void
abort_request(PdKeeper *keeper, const PdKeeperRead *read, const char *reason)
{
    char text[PD_SWITCHOVER_REASON_MAX + 1];
    snprintf(text, sizeof text, "%s", reason != NULL && reason[0] != '\0' ? reason : "refused");
    for (char *c = text; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    pd_logf(PD_LOG_WARNING, "keeper %s: switchover refused: %s", keeper->name, text);
    PdSwitchover aborted = read->switchover;
    aborted.aborted = text;
    write_request(keeper, read, &aborted, "marked aborted");
}

void
pd_keeper_switchover_note(PdKeeper *keeper, const PdKeeperRead *read)
{
    const PdSwitchover *request = &read->switchover;
    int64_t now = pd_keeper_wall_ms();
    bool is_live =
        read->is_known && read->has_switchover && request->aborted == NULL &&
        (request->released_ms != 0
             ? now - request->released_ms <= (int64_t)keeper->config.ttl_s * 2000 + PD_KEEPER_PROMOTE_MS
             : pd_switchover_is_live(request, now));
    bool names_me = is_me(keeper, request->to) || (request->to == NULL && !is_me(keeper, request->from));
    bool was_fast = keeper->is_switchover_fast;
    keeper->is_switchover_fast = is_live && names_me && !keeper->is_leader;
    keeper->saw_switchover_pending = is_live && request->released_ms == 0;
    if (keeper->is_switchover_fast != was_fast)
        pd_logf(PD_LOG_INFO, "keeper %s: %s", keeper->name,
                keeper->is_switchover_fast ? "a switchover names this member: a tick every 50 ms"
                                           : "back to a tick every loop_interval_ms");
}

/* ---- the leader hands over ---------------------------------------------------------------------------- */

/* PostgreSQL did not stop, or the key was not released: the request aborted; a stopped node started again
 * while the key is ours (the ordinary leader path does it otherwise, at the next tick). */
static void
give_up(PdKeeper *keeper, const PdKeeperRead *read, const char *reason, bool may_start)
{
    abort_request(keeper, read, reason);
    keeper->phase = NULL;
    int pid = 0;
    if (may_start && pd_node_run_state(keeper->node, &pid) == PD_NODE_STOPPED)
        pd_keeper_restart_in_place(keeper, read);
}

/* The clean stop and the end of WAL; false (err) when PostgreSQL still runs or did not stop cleanly. */
static bool
stop_cleanly(PdKeeper *keeper, PdNodeControl *control, PdError *err)
{
    pd_keeper_step(keeper, "the switchover's checkpoint", PD_KEEPER_NODE_CALL_MS);
    PdError checkpoint_err = {0};
    bool is_done = false;
    if (!pd_node_checkpoint(keeper->node, PD_KEEPER_SWITCHOVER_CHECKPOINT_BYTES, &is_done,
                            &checkpoint_err)) /* it only shortens the stop */
        pd_logf(PD_LOG_NOTICE, "keeper %s: no checkpoint before the switchover's stop: %s", keeper->name,
                checkpoint_err.message);
    else if (is_done)
        pd_logf(PD_LOG_INFO, "keeper %s: a checkpoint before the switchover's stop (much WAL since the last)",
                keeper->name);
    pd_keeper_step(keeper, "the switchover's stop", PD_KEEPER_SWITCHOVER_STOP_MS + PD_KEEPER_NODE_CALL_MS);
    return pd_node_stop_clean(keeper->node, PD_KEEPER_SWITCHOVER_STOP_MS, control, err);
}

/* ONE transaction: the leader key, if still ours, deleted, and the request completed. */
static PdEtcdStatus
release(PdKeeper *keeper, const PdKeeperRead *read, const char *to, uint64_t lsn, PdError *err)
{
    PdSwitchover done = read->switchover;
    done.to = to;
    done.lsn = lsn;
    done.released_ms = pd_keeper_wall_ms();
    char *json = NULL;
    if (!pd_switchover_json(keeper->tick, &done, &json, err))
        return PD_ETCD_REJECTED;
    PdEtcdKv current;
    PdEtcdCas cas = {.key = pd_keys_leader(&keeper->keys),
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = keeper->leader_revision,
                     .action = PD_ETCD_DELETE,
                     .also_key = pd_keys_switchover(&keeper->keys),
                     .also_value = pd_etcd_text(json)};
    return pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, err).status;
}

/* The candidate's member state (one bounded get); false when it has none or it does not parse. */
static bool
candidate_state(PdKeeper *keeper, const char *to, PdMemberState *state)
{
    PdEtcdBytes key;
    PdEtcdKv kv;
    PdError err = {0};
    if (!pd_keys_member(keeper->tick, &keeper->keys, to, &key, &err))
        return false;
    pd_etcd_limit_next_call(keeper->etcd, 500);
    return pd_etcd_get(keeper->tick, keeper->etcd, key, &kv, &err).status == PD_ETCD_DONE && kv.exists &&
           pd_member_parse(keeper->tick, kv.value.data, kv.value.length, state, &err);
}

/* The candidate's published position: a running standby's write_lsn, else 0. */
static uint64_t
candidate_position(PdKeeper *keeper, const char *to)
{
    PdMemberState state;
    if (!candidate_state(keeper, to, &state))
        return 0;
    return strcmp(state.state, "running") == 0 && state.role == PD_MEMBER_ROLE_STANDBY ? state.write_lsn : 0;
}

/* One connection to the candidate's PostgreSQL as the replication role (bounded), or NULL. */
static PdDb *
candidate_connect(PdKeeper *keeper, const char *to)
{
    PdMemberState state;
    PdError err = {0};
    if (!candidate_state(keeper, to, &state) || state.pg_host == NULL ||
        !pd_node_check_host(state.pg_host, state.pg_port, &err))
        return NULL;
    /* each query bounded on both sides: the server's statement_timeout, and on ours a peer that stops
       answering is given up within about 2 s (tcp_user_timeout for unacknowledged sends, keepalives while
       waiting for the answer) */
    char conninfo[1024];
    snprintf(conninfo, sizeof conninfo,
             "host=%s port=%d user=%s passfile=%s dbname=postgres connect_timeout=2 "
             "application_name=prodata_keeper options='-c statement_timeout=1000' tcp_user_timeout=1000 "
             "keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=1",
             state.pg_host, state.pg_port, keeper->settings->replication_user,
             pd_node_passfile(keeper->node));
    PdDb *db = NULL;
    if (pd_db_connect(conninfo, &db, &err))
        return db;
    pd_logf(PD_LOG_NOTICE,
            "keeper %s: cannot ask %s for its position directly (%s): waiting for it to publish",
            keeper->name, to, err.message);
    return NULL;
}

/*
 * The position the candidate holds, asked of its PostgreSQL: the WAL its receiver flushed or, if more, what
 * it replayed (a receiver that starts again reports the start of its segment); 0 when it is not in
 * recovery; false when the query failed.
 */
static bool
candidate_asked(PdKeeper *keeper, PdDb *db, uint64_t *lsn)
{
    PdDbResult *result = NULL;
    PdError err = {0};
    *lsn = 0;
    if (!pd_db_query(keeper->tick, db,
                     "SELECT CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), "
                     "pg_last_wal_replay_lsn())::text END",
                     0, NULL, &result, &err))
        return false;
    const char *text = pd_db_result_value(result, 0, 0);
    if (text != NULL && text[0] != '\0' && !pd_node_lsn_parse(text, lsn))
        *lsn = 0;
    return true;
}

/* The postmaster's exit after a stop that returned at the shutdown checkpoint, within the stop's bound. */
static bool
wait_exit(PdKeeper *keeper)
{
    int pid = 0;
    int64_t until = pd_keeper_now_ms() + PD_KEEPER_SWITCHOVER_STOP_MS;
    PdNodeRun run;
    while ((run = pd_node_run_state(keeper->node, &pid)) != PD_NODE_STOPPED && run != PD_NODE_CRASHED &&
           pd_keeper_now_ms() < until)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    return run == PD_NODE_STOPPED || run == PD_NODE_CRASHED;
}

/*
 * The end of the stopped leader's WAL (its shutdown checkpoint record's end) into *end. Where that record
 * cannot be read, the postmaster's exit is waited for (its walsenders then sent everything and their
 * standbys flushed it) and the end is taken as just past the record's start; false when it does not exit.
 */
static bool
wal_end(PdKeeper *keeper, const PdNodeControl *control, uint64_t *end)
{
    PdError err = {0};
    if (pd_node_record_end(keeper->node, control, end, &err))
        return true;
    pd_logf(PD_LOG_NOTICE, "keeper %s: %s: waiting for the postmaster's exit", keeper->name, err.message);
    *end = control->checkpoint_lsn + 1;
    return wait_exit(keeper);
}

/*
 * WAL up to end, the end of the last record, within the bound: the key goes only to a member holding every
 * acked write (and the whole shutdown checkpoint record: the old primary's WAL is then a prefix of the new
 * timeline's, and it rejoins without pg_rewind).
 * The candidate's PostgreSQL is asked directly every 10 ms (its published position moves only with its
 * tick and its write to etcd, hundreds of ms on a switchover's critical path); where it cannot be asked,
 * its published position every 50 ms.
 */
static bool
candidate_holds(PdKeeper *keeper, const char *to, uint64_t end)
{
    pd_keeper_step(keeper, "the candidate's position", PD_KEEPER_SWITCHOVER_CATCH_UP_MS + 5000);
    int64_t until = pd_keeper_now_ms() + PD_KEEPER_SWITCHOVER_CATCH_UP_MS;
    PdDb *db = candidate_connect(keeper, to);
    bool holds = false;
    while (!holds && pd_keeper_now_ms() < until)
    {
        uint64_t position = 0;
        if (db != NULL && !candidate_asked(keeper, db, &position))
        {
            pd_db_close(db);
            db = NULL;
        }
        if (db == NULL)
            position = candidate_position(keeper, to);
        holds = position >= end;
        long pause_ms = db != NULL ? PD_KEEPER_SWITCHOVER_ASK_MS : PD_KEEPER_SWITCHOVER_TICK_MS;
        if (!holds)
            nanosleep(&(struct timespec){.tv_nsec = pause_ms * 1000000L}, NULL);
    }
    pd_db_close(db);
    return holds;
}

static void
hand_over(PdKeeper *keeper, const PdKeeperRead *read, const char *to)
{
    pd_logf(PD_LOG_INFO, "keeper %s: switching over to %s", keeper->name, to);
    pd_keeper_publish_phase(keeper, "switching over");
    int64_t started = pd_keeper_now_ms();
    PdNodeControl control;
    PdError err = {0};
    if (!stop_cleanly(keeper, &control, &err))
    {
        give_up(keeper, read, pd_arena_sprintf(keeper->tick, "the leader's PostgreSQL: %s", err.message),
                true);
        return;
    }
    int64_t stopped = pd_keeper_now_ms();
    char last[24];
    pd_keeper_step(keeper, "the end of the leader's WAL",
                   PD_KEEPER_SWITCHOVER_STOP_MS + PD_KEEPER_NODE_CALL_MS);
    uint64_t end = 0;
    if (!wal_end(keeper, &control, &end))
    {
        give_up(keeper, read, "the leader's postmaster did not exit after its shutdown checkpoint", true);
        return;
    }
    if (!candidate_holds(keeper, to, end))
    {
        wait_exit(keeper); /* so that the ordinary leader path starts it again at once */
        give_up(keeper, read,
                pd_arena_sprintf(keeper->tick, "%s has not received the WAL up to %s within %d ms", to,
                                 pd_member_lsn_text(end, last, sizeof last),
                                 PD_KEEPER_SWITCHOVER_CATCH_UP_MS),
                true);
        return;
    }
    PdEtcdStatus status = release(keeper, read, to, control.checkpoint_lsn, &err);
    if (status != PD_ETCD_DONE)
    {
        /* compare failed: the key is no longer ours; unknown: it may be gone (n2 promoting), so no restart
           in place on a read that gives no answer: only a read that finds the key ours makes it lead again */
        keeper->is_leader = false;
        pd_keeper_guard(keeper, false); /* it writes nothing since its shutdown checkpoint */
        give_up(keeper, read,
                pd_arena_sprintf(keeper->tick, "the leader key was not released (%s)",
                                 pd_etcd_status_name(status)),
                false);
        return;
    }
    keeper->is_leader = false;
    keeper->was_primary = true;
    keeper->phase = NULL;
    pd_keeper_guard(keeper, false); /* only now: it writes nothing since its shutdown checkpoint */
    snprintf(keeper->handed_over_to, sizeof keeper->handed_over_to, "%s", to);
    char lsn[24];
    pd_logf(PD_LOG_INFO,
            "keeper %s: handed over to %s: PostgreSQL stopped cleanly in %" PRId64 " ms (last record %s, "
            "timeline %u), leader key released %" PRId64 " ms later",
            keeper->name, to, stopped - started, pd_member_lsn_text(control.checkpoint_lsn, lsn, sizeof lsn),
            control.timeline, pd_keeper_now_ms() - stopped);
}

/* A request no one will act on: done (released), expired, or a switchover from another leader. A leaderless
 * failover's, still live, is left to expire: it is void while a leader leads, and the command that wrote it
 * waits for it. */
static bool
is_stale(const PdKeeper *keeper, const PdSwitchover *request, int64_t now_ms)
{
    return request->aborted == NULL &&
           (request->released_ms != 0 || !pd_switchover_is_live(request, now_ms) ||
            (request->kind == PD_SWITCHOVER_KIND_SWITCHOVER && !is_me(keeper, request->from)));
}

bool
pd_keeper_switchover_lead(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    keeper->handed_over_to[0] = '\0'; /* it leads: a rejoin later needs the ordinary checks */
    if (!read->has_switchover)
        return false;
    const PdSwitchover *request = &read->switchover;
    if (is_stale(keeper, request, pd_keeper_wall_ms()))
    {
        write_request(keeper, read, NULL, "deleted");
        return false;
    }
    if (request->aborted != NULL || !is_me(keeper, request->from))
        return false;
    if (keeper->config.is_paused)
    {
        abort_request(keeper, read, "the cluster is paused");
        return true;
    }
    if (!status->is_connected || status->is_in_recovery)
    {
        abort_request(keeper, read, "the leader's PostgreSQL does not run as a primary");
        return true;
    }
    PdSwitchoverCluster cluster = cluster_of(keeper, read);
    const char *why = NULL, *to = request->to;
    if (to == NULL)
        to = pd_switchover_choose(keeper->tick, &cluster, &why);
    else if (!pd_switchover_qualifies(keeper->tick, &cluster, to, &why))
        to = NULL;
    if (to == NULL)
        abort_request(keeper, read, why);
    else
        hand_over(keeper, read, to);
    return true;
}

/* ---- no leader: the candidate takes over, the others wait --------------------------------------------- */

/* The candidate's position is past the old primary's last record (or the wait is over: false, logged). */
static bool
has_caught_up(PdKeeper *keeper, const PdSwitchover *request, const PdNodeStatus *status, bool *is_waiting)
{
    char lsn[24];
    *is_waiting = false;
    if (status->received_lsn > request->lsn)
        return true;
    if (pd_keeper_wall_ms() - request->released_ms <= PD_KEEPER_SWITCHOVER_CATCH_UP_MS)
    {
        *is_waiting = true;
        pd_keeper_wait(keeper, "WAL past %s (the old primary's last record) before taking over",
                       pd_member_lsn_text(request->lsn, lsn, sizeof lsn));
        return false;
    }
    pd_logf(PD_LOG_WARNING,
            "keeper %s: WAL past %s not received within %d ms of the release: the ordinary failover rules "
            "apply",
            keeper->name, pd_member_lsn_text(request->lsn, lsn, sizeof lsn),
            PD_KEEPER_SWITCHOVER_CATCH_UP_MS);
    return false;
}

/* This member takes the key and promotes; true when the ordinary rules are not to run this tick. */
static bool
take_over(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    const PdSwitchover *request = &read->switchover;
    bool is_switchover = request->kind == PD_SWITCHOVER_KIND_SWITCHOVER, is_waiting = false;
    if (!status->is_connected || !status->is_in_recovery)
        return false; /* not a running standby: the ordinary rules start it or wait */
    if (is_switchover && !has_caught_up(keeper, request, status, &is_waiting))
        return is_waiting;
    if (!is_switchover && !request->allow_data_loss)
        return false; /* the ordinary rules, synchronous mode's included, decide; the others wait for it */
    uint64_t lsn = status->received_lsn > 0 ? status->received_lsn : status->replayed_lsn;
    if (!is_switchover)
        pd_logf(PD_LOG_WARNING,
                "keeper %s: a manual failover with --allow-data-loss: taking over at %" PRIX64
                ", whatever the others hold",
                keeper->name, lsn);
    if (is_switchover)
        pd_logf(PD_LOG_INFO, "keeper %s: taking over %" PRId64 " ms after the release", keeper->name,
                pd_keeper_wall_ms() - request->released_ms);
    if (!pd_keeper_failsafe_may_take(keeper) || !pd_keeper_take_leader(keeper))
        return true; /* the failsafe grants too (docs/ha.md): a primary may be writing without etcd */
    if (pd_keeper_promote_for(keeper, read, lsn, is_switchover ? "switchover" : "manual"))
        write_request(keeper, read, NULL, "deleted");
    return true;
}

bool
pd_keeper_switchover_leaderless(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    const PdSwitchover *request = &read->switchover;
    if (!read->has_switchover || request->aborted != NULL || request->to == NULL)
        return false;
    int64_t since =
        request->kind == PD_SWITCHOVER_KIND_FAILOVER ? request->requested_ms : request->released_ms;
    if (since == 0)
        return false; /* a leader that went away without handing over: an ordinary failover */
    int64_t age = pd_keeper_wall_ms() - since;
    if (age > (int64_t)keeper->config.ttl_s * 2000 + PD_KEEPER_PROMOTE_MS)
        return false;
    if (is_me(keeper, request->to))
        return take_over(keeper, read, status);
    pd_keeper_wait(keeper, "the %s to %s", pd_switchover_kind_name(request->kind), request->to);
    return true;
}

/* ---- the old primary rejoins -------------------------------------------------------------------------- */

bool
pd_keeper_switchover_rejoin(PdKeeper *keeper, const PdMemberState *leader)
{
    if (keeper->handed_over_to[0] == '\0')
        return false;
    if (strcmp(keeper->handed_over_to, leader->name) != 0)
    {
        pd_logf(PD_LOG_NOTICE, "keeper %s: handed over to %s, but %s leads: rejoining by the ordinary path",
                keeper->name, keeper->handed_over_to, leader->name);
        keeper->handed_over_to[0] = '\0';
        return false;
    }
    pd_logf(PD_LOG_INFO,
            "keeper %s: rejoining %s as a standby without pg_rewind: rewind not needed (stopped cleanly at a "
            "record %s holds)",
            keeper->name, leader->name, leader->name);
    pd_keeper_start_standby(keeper, leader, false); /* its WAL: a prefix of the leader's */
    int pid = 0;
    PdNodeRun run = pd_node_run_state(keeper->node, &pid);
    if (run == PD_NODE_READY || run == PD_NODE_STARTING)
    {
        keeper->was_primary = false;
        keeper->handed_over_to[0] = '\0';
    }
    else if (keeper->waiting_for[0] == '\0') /* it did not wait for its slot: the start failed */
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: the standby did not start: rejoining by rewind", keeper->name);
        keeper->handed_over_to[0] = '\0';
        keeper->needs_rewind = true;
    }
    return true;
}

/* ---- the pause between ticks -------------------------------------------------------------------------- */

/*
 * Whether the request key calls for a tick now (one get, bounded by limit_ms): the leader, a request that
 * asks it to hand over; the candidate, ticking fast, the request released (or gone, or aborted); any other
 * member, a live request that names it (or names no one: every standby), so it ticks fast before the leader's
 * stop ends.
 */
bool
pd_keeper_switchover_calls(PdKeeper *keeper, int limit_ms)
{
    PdEtcdKv kv;
    PdError err = {0};
    PdSwitchover request;
    pd_etcd_limit_next_call(keeper->etcd, limit_ms);
    if (pd_etcd_get(keeper->tick, keeper->etcd, pd_keys_switchover(&keeper->keys), &kv, &err).status !=
        PD_ETCD_DONE)
        return false;
    if (!kv.exists || !pd_switchover_parse(keeper->tick, kv.value.data, kv.value.length, &request, &err))
        return keeper->is_switchover_fast && keeper->saw_switchover_pending;
    bool is_pending = request.released_ms == 0 && request.aborted == NULL &&
                      pd_switchover_is_live(&request, pd_keeper_wall_ms());
    if (keeper->is_leader)
        return is_pending && is_me(keeper, request.from);
    if (keeper->is_switchover_fast)
        return keeper->saw_switchover_pending && !is_pending; /* the change only: released, gone, aborted */
    return is_pending && (is_me(keeper, request.to) || (request.to == NULL && !is_me(keeper, request.from)));
}

int64_t
pd_keeper_switchover_poll_ms(const PdKeeper *keeper)
{
    return keeper->is_leader            ? PD_KEEPER_SWITCHOVER_TICK_MS
           : keeper->is_switchover_fast ? PD_KEEPER_SWITCHOVER_ASK_MS
                                        : PD_KEEPER_SWITCHOVER_WATCH_MS;
}

int64_t
pd_keeper_switchover_pause_ms(const PdKeeper *keeper)
{
    return keeper->is_switchover_fast ? PD_KEEPER_SWITCHOVER_TICK_MS : keeper->config.loop_interval_ms;
}
