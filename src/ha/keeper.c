/*
 * keeper.c - the keeper's life (keeper.h): made from its settings, one loop
 * of ticks, and its shutdown. The lease is the lease thread's
 * (keeper_lease.c): the loop declares the bound of each step before it
 * starts it (an ordinary step: its etcd and node calls; a long one: its
 * program's timeout), reads fence_at for its decisions, and says whether the
 * guard should be armed. A tick's memory is one arena, reset at the next
 * tick.
 */
#include "ha/keeper_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ha/keeper_settings.h"
#include "prodata/log.h"

int64_t
pd_keeper_now_ms(void)
{
    return pd_fence_now_ms();
}

int64_t
pd_keeper_wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
pd_keeper_wait(PdKeeper *keeper, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = pd_arena_vsprintf(keeper->tick, fmt, args);
    va_end(args);
    keeper->waiting_for = text != NULL ? text : "";
    pd_logf(PD_LOG_DEBUG, "keeper %s: waiting for %s", keeper->name, keeper->waiting_for);
}

int
pd_keeper_ordinary_ms(const PdKeeper *keeper)
{
    return keeper->config.loop_interval_ms * 2 + keeper->settings->etcd_request_timeout_ms * 2 +
           PD_KEEPER_NODE_CALL_MS;
}

/* ---- one tick ---------------------------------------------------------------------------------------- */

static void
read_node(PdKeeper *keeper, PdNodeStatus *status)
{
    PdError err = {0};
    memset(status, 0, sizeof *status);
    if (!pd_node_status(keeper->tick, keeper->node, status, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: no status from PostgreSQL: %s", keeper->name, err.message);
    if (status->is_connected)
    {
        keeper->was_primary = !status->is_in_recovery;
        uint64_t lsn = status->is_in_recovery ? status->received_lsn : status->flush_lsn;
        if (lsn > 0)
        {
            keeper->last_write_lsn = lsn;
            keeper->last_timeline = (int)status->timeline;
        }
        keeper->is_fenced = false;
    }
}

/* Whether the node may accept writes: a primary running, or one whose state is not known (not one whose
 * shutdown checkpoint is written: a switchover's old primary while its postmaster finishes). */
static bool
may_write(const PdKeeper *keeper, const PdNodeStatus *status)
{
    if (status->run == PD_NODE_STOPPED || status->run == PD_NODE_CRASHED)
        return false;
    if (status->is_connected)
        return !status->is_in_recovery;
    return (keeper->was_primary || !pd_keeper_is_standby_dir(keeper)) &&
           !pd_node_control_says_shut_down(keeper->node);
}

static void
poll_guard(PdKeeper *keeper, bool *is_guard_gone)
{
    int pid = 0;
    pd_fence_poll(keeper->fence, &pid, is_guard_gone);
    if (pid != 0)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: the fence guard killed PostgreSQL (postmaster %d)", keeper->name,
                pid);
        keeper->is_fenced = true;
        pd_keeper_guard_fenced(keeper);   /* the guard disarmed itself */
        pd_keeper_publish_fenced(keeper); /* the API first */
        pd_keeper_publish_phase(keeper, "fenced");
    }
}

static void
tick(PdKeeper *keeper, bool *is_guard_gone)
{
    pd_arena_reset(keeper->tick);
    keeper->waiting_for = "";
    keeper->phase = NULL;
    int ordinary = pd_keeper_ordinary_ms(keeper);
    pd_keeper_step(keeper, "a tick", ordinary);
    pd_keeper_renew(keeper); /* what etcd says of the lease now, before any decision (a keeper back from a
                                stop learns its lease is gone here) */
    pd_keeper_lease_poll(keeper);
    PdNodeStatus status;
    memset(&status, 0, sizeof status);
    status.run = pd_node_run_state(keeper->node, &status.pid);
    pd_keeper_guard(keeper, may_write(keeper, &status));
    poll_guard(keeper, is_guard_gone);
    PdKeeperRead read;
    pd_keeper_read(keeper, &read);
    if (read.is_known)
        pd_keeper_apply_config(keeper, &read);
    keeper->saw_other_leader = read.is_known && read.leader != NULL && !keeper->is_leader;
    pd_keeper_switchover_note(keeper, &read);
    pd_keeper_failsafe_learn(keeper, &read);
    read_node(keeper, &status);
    pd_keeper_step(keeper, "acting", ordinary);
    pd_keeper_act(keeper, &read, &status);
    pd_keeper_step(keeper, "a tick's end", ordinary);
    read_node(keeper, &status); /* what the act made of the node is what gets published */
    pd_keeper_step(keeper, "scheduled backups", ordinary);
    pd_keeper_backup(keeper, &read, &status); /* never waits for a backup */
    pd_keeper_step(keeper, "publishing", ordinary);
    pd_keeper_live_apply(keeper, &status);
    pd_keeper_guard(keeper, may_write(keeper, &status));
    pd_keeper_publish(keeper, &read, &status);
    pd_keeper_step(keeper, "the pause between ticks", keeper->config.loop_interval_ms * 2);
}

void
pd_keeper_release_leader(PdKeeper *keeper)
{
    PdError err = {0};
    PdEtcdKv current;
    /* a member name needs no JSON escaping (keys.h); the marker has no lease: it outlives this keeper */
    const char *marker = pd_arena_sprintf(keeper->tick, "{\"from\": \"%s\", \"at_ms\": %" PRId64 "}",
                                          keeper->name, pd_keeper_wall_ms());
    PdEtcdCas cas = {.key = pd_keys_leader(&keeper->keys),
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = keeper->leader_revision,
                     .action = PD_ETCD_DELETE,
                     .also_key = marker != NULL ? pd_keys_released(&keeper->keys) : pd_etcd_text(NULL),
                     .also_value = pd_etcd_text(marker)};
    PdEtcdOutcome outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    pd_logf(outcome.status == PD_ETCD_DONE ? PD_LOG_INFO : PD_LOG_WARNING,
            "keeper %s: leader key released: %s%s%s", keeper->name, pd_etcd_status_name(outcome.status),
            outcome.status == PD_ETCD_DONE ? "" : ": ", outcome.status == PD_ETCD_DONE ? "" : err.message);
    keeper->is_leader = false;
}

static void
shut_down(PdKeeper *keeper)
{
    pd_arena_reset(keeper->tick);
    PdError err = {0};
    bool was_immediate = false;
    int64_t started = pd_keeper_now_ms();
    /* the lease held meanwhile */
    pd_keeper_step(keeper, "the shutdown", PD_KEEPER_BACKUP_END_MS + 10000 + PD_KEEPER_NODE_CALL_MS);
    pd_keeper_backup_stop(keeper); /* a backup of a stopping server fails anyway */
    if (!pd_node_stop(keeper->node, 10000, &was_immediate, &err))
    {
        pd_logf(PD_LOG_ERROR, "keeper %s: PostgreSQL did not stop: %s; killing it", keeper->name,
                err.message);
        int pid = 0;
        if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
            pd_logf(PD_LOG_ERROR, "keeper %s: %s", keeper->name, err.message);
    }
    pd_logf(PD_LOG_INFO, "keeper %s: PostgreSQL stopped%s in %" PRId64 " ms", keeper->name,
            was_immediate ? " (immediate)" : "", pd_keeper_now_ms() - started);
    if (keeper->is_leader && keeper->leader_revision > 0)
        pd_keeper_release_leader(keeper); /* only now: PostgreSQL takes no more writes */
    pd_keeper_lease_end(keeper);
}

/* Whether the leader key that the last tick saw held by another member is gone now (one get, limit_ms). */
static bool
is_leader_key_gone(PdKeeper *keeper, int limit_ms)
{
    PdEtcdKv kv;
    PdError err = {0};
    pd_etcd_limit_next_call(keeper->etcd, limit_ms);
    return pd_etcd_get(keeper->tick, keeper->etcd, pd_keys_leader(&keeper->keys), &kv, &err).status ==
               PD_ETCD_DONE &&
           !kv.exists;
}

/*
 * The pause between ticks, cut short by what calls for a tick at once: the postmaster gone or another one in
 * its place (looked at every 50 ms, from its pid file and /proc: a crash is restarted in place without
 * waiting out the interval); the switchover request (pd_keeper_switchover_calls, at its own pace); on a
 * member that saw another's leader key, that key gone (its lease expired or it was released: looked at
 * with the request, so a failover starts within 100 ms of the expiry rather than at the next tick).
 */
static void
pause_between_ticks(PdKeeper *keeper, int64_t started_ms, volatile sig_atomic_t *is_stopping)
{
    enum
    {
        POSTMASTER_POLL_MS = 50,
        ETCD_POLL_MS = 300,    /* the most one get of the pause may take */
        ETCD_POLL_MIN_MS = 60, /* no get with less of the pause left (two of 30 ms at least) */
    };
    int pid = 0, now_pid = 0;
    PdNodeRun run = pd_node_run_state(keeper->node, &pid);
    int64_t until = started_ms + pd_keeper_switchover_pause_ms(keeper);
    int64_t every = pd_keeper_switchover_poll_ms(keeper);
    int64_t next_request_poll = pd_keeper_now_ms() + every;
    for (int64_t left = until - pd_keeper_now_ms(); left > 0 && !*is_stopping;
         left = until - pd_keeper_now_ms())
    {
        int64_t nap = next_request_poll - pd_keeper_now_ms();
        nap = nap > POSTMASTER_POLL_MS ? POSTMASTER_POLL_MS : nap;
        nap = nap > left ? left : nap < 1 ? 1 : nap;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = nap * 1000000L}, NULL);
        if (pd_node_run_state(keeper->node, &now_pid) != run || now_pid != pid)
            return;
        left = until - pd_keeper_now_ms();
        if (pd_keeper_now_ms() < next_request_poll || left < ETCD_POLL_MIN_MS)
            continue;
        /* the two gets within what is left of the pause: it keeps its bound however slow etcd is */
        int limit = (int)(left / 2 > ETCD_POLL_MS ? ETCD_POLL_MS : left / 2);
        if (pd_keeper_switchover_calls(keeper, limit) ||
            (keeper->saw_other_leader && is_leader_key_gone(keeper, limit)))
            return;
        next_request_poll = pd_keeper_now_ms() + every;
    }
}

bool
pd_keeper_run(PdKeeper *keeper, volatile sig_atomic_t *is_stopping, PdError *err)
{
    pd_logf(PD_LOG_INFO, "keeper %s: running (fence guard pid %d, cluster %s)", keeper->name,
            pd_fence_pid(keeper->fence), keeper->keys.root);
    bool is_guard_gone = false;
    pd_keeper_step(keeper, "the first tick", pd_keeper_ordinary_ms(keeper));
    if (!pd_keeper_lease_start(keeper, err))
        return false;
    while (!*is_stopping && !is_guard_gone)
    {
        int64_t started = pd_keeper_now_ms();
        tick(keeper, &is_guard_gone);
        pause_between_ticks(keeper, started, is_stopping);
    }
    pd_logf(PD_LOG_INFO, "keeper %s: stopping", keeper->name);
    shut_down(keeper);
    if (is_guard_gone)
        return pd_error_set(err, PD_ERR_INTERNAL, "the fence guard of %s exited; PostgreSQL was stopped",
                            keeper->name);
    return true;
}

/* ---- made and freed ---------------------------------------------------------------------------------- */

/* peer_addresses split at commas, or pg_listen_address's /24 (IPv4) or itself. */
static bool
peers_of(PdArena *arena, const PdKeeperSettings *settings, const char ***peers, size_t *count)
{
    const char *list = settings->peer_addresses != NULL ? settings->peer_addresses : "";
    unsigned a, b, c, d;
    char tail;
    if (list[0] == '\0')
        list = sscanf(settings->pg_listen_address, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4
                   ? pd_arena_sprintf(arena, "%u.%u.%u.0/24", a, b, c)
                   : settings->pg_listen_address;
    char *copy = list != NULL ? pd_arena_strdup(arena, list) : NULL;
    const char **made = pd_arena_calloc(arena, 33, sizeof *made);
    if (copy == NULL || made == NULL)
        return false;
    size_t used = 0;
    for (char *save = NULL, *part = strtok_r(copy, ", ", &save); part != NULL && used < 32;
         part = strtok_r(NULL, ", ", &save))
        made[used++] = part;
    *peers = made;
    *count = used;
    return true;
}

static bool
make_node(PdKeeper *keeper, const PdKeeperOptions *options, PdError *err)
{
    const PdKeeperSettings *settings = options->settings;
    const char **peers = NULL;
    size_t peer_count = 0;
    PdNodeSetting *parameters =
        pd_arena_calloc(keeper->arena, keeper->config.parameter_count + 1, sizeof *parameters);
    if (parameters == NULL || !peers_of(keeper->arena, settings, &peers, &peer_count))
        return pd_arena_error(keeper->arena, err);
    for (size_t i = 0; i < keeper->config.parameter_count; i++)
        parameters[i] =
            (PdNodeSetting){keeper->config.parameters[i].name, keeper->config.parameters[i].value};
    PdNodeConfig config = {.member_name = settings->member_name,
                           .data_dir = settings->data_dir,
                           .state_dir = settings->state_dir,
                           .bin_dir = settings->bin_dir,
                           .listen_address = settings->pg_listen_address,
                           .port = settings->pg_port,
                           .replication_user = settings->replication_user,
                           .replication_password = options->replication_password,
                           .peer_addresses = peers,
                           .peer_count = peer_count,
                           .archive_dir = settings->archive_dir[0] != '\0' ? settings->archive_dir : NULL,
                           .archive_key_file =
                               settings->archive_key_file[0] != '\0' ? settings->archive_key_file : NULL,
                           .wal_command = options->wal_command,
                           .restore_program = options->restore_program,
                           .clone_backup_max_age_s = (settings->clone_backup_max_age_ms + 999) / 1000,
                           .settings = parameters,
                           .setting_count = keeper->config.parameter_count,
                           .hba_lines = keeper->config.pg_hba,
                           .hba_line_count = keeper->config.pg_hba_count};
    return pd_node_new(&config, &keeper->node, err);
}

/* The cluster configuration at start (its parameters go to the node); the defaults when etcd is silent. */
static void
load_config(PdKeeper *keeper)
{
    PdError err = {0};
    PdClusterConfigOutcome outcome =
        pd_cluster_config_load(keeper->config_arena[0], keeper->etcd, &keeper->keys, &keeper->config,
                               &keeper->config_revision, &err);
    if (outcome.status == PD_CLUSTER_CONFIG_DONE)
    {
        keeper->is_config_read = true;
        return;
    }
    pd_logf(PD_LOG_WARNING, "keeper %s: the cluster configuration is %s (%s); starting on the defaults",
            keeper->name, pd_cluster_config_status_name(outcome.status), err.message);
    pd_cluster_config_defaults(&keeper->config);
    keeper->config_revision = -1;
}

static bool
make_keeper(PdKeeper *keeper, const PdKeeperOptions *options, PdError *err)
{
    const PdKeeperSettings *settings = options->settings;
    keeper->arena = pd_arena_new(0);
    keeper->tick = pd_arena_new(0);
    keeper->config_arena[0] = pd_arena_new(0);
    keeper->config_arena[1] = pd_arena_new(0);
    if (keeper->arena == NULL || keeper->tick == NULL || keeper->config_arena[0] == NULL ||
        keeper->config_arena[1] == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the keeper");
    keeper->settings = settings;
    keeper->name = settings->member_name;
    keeper->lease.fence_margin_ms =
        options->fence_margin_ms > 0 ? options->fence_margin_ms : PD_KEEPER_FENCE_MARGIN_MS_DEFAULT;
    keeper->view = options->view;
    keeper->failsafe = options->failsafe;
    keeper->backup_program = options->restore_program;
    keeper->waiting_for = "";
    snprintf(keeper->api_url, sizeof keeper->api_url, "http://%s:%d", settings->api_listen_address,
             settings->api_port);
    PdEtcdConfig etcd_config;
    if (!pd_keeper_settings_etcd(keeper->arena, settings, &etcd_config, &keeper->keys, err) ||
        !pd_etcd_open(&etcd_config, &keeper->etcd, err))
        return false;
    load_config(keeper);
    if (keeper->failsafe != NULL)
        pd_failsafe_set_enabled(keeper->failsafe, keeper->config.is_failsafe);
    pd_keeper_failsafe_start(keeper);
    return pd_keeper_lease_init(keeper, &etcd_config, err) && make_node(keeper, options, err);
}

bool
pd_keeper_new(const PdKeeperOptions *options, PdKeeper **keeper, PdError *err)
{
    PdKeeper *made = calloc(1, sizeof *made);
    if (made == NULL)
    {
        pd_fence_stop(options->fence);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the keeper");
    }
    made->fence = options->fence;
    if (!make_keeper(made, options, err))
    {
        pd_keeper_free(made);
        return pd_error_context(err, "while starting the keeper");
    }
    *keeper = made;
    return true;
}

void
pd_keeper_free(PdKeeper *keeper)
{
    if (keeper == NULL)
        return;
    pd_fence_stop(keeper->fence);
    pd_keeper_lease_free(keeper);
    pd_node_free(keeper->node);
    pd_etcd_close(keeper->etcd);
    pd_arena_free(keeper->config_arena[0]);
    pd_arena_free(keeper->config_arena[1]);
    pd_arena_free(keeper->tick);
    pd_arena_free(keeper->arena);
    free(keeper);
}
