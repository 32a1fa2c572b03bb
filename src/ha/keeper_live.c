/*
 * keeper_live.c - the cluster configuration applied while the node runs:
 * when its postgresql_parameters or pg_hba differ from what the node holds,
 * the node's settings and client rules are replaced and its files written
 * again (pd_node_update), then PostgreSQL reloads them. A parameter that
 * needs a restart is not restarted here (a restart is an outage the
 * operator chooses): PostgreSQL marks it pending_restart, the keeper
 * publishes the names in its member state and logs them once. A
 * configuration refused by its checks never reaches this file: the keeper
 * keeps the last good one (keeper_read.c). Also what the member state says
 * of lag in seconds (replay_lag_s), and a primary's archiver state.
 */
#include <stdio.h>
#include <string.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

/* The configuration's parameters as the node's settings (in the tick arena), NULL when out of memory. */
static PdNodeSetting *
settings_of(PdKeeper *keeper)
{
    const PdClusterConfig *config = &keeper->config;
    PdNodeSetting *settings = pd_arena_calloc(keeper->tick, config->parameter_count + 1, sizeof *settings);
    for (size_t i = 0; settings != NULL && i < config->parameter_count; i++)
        settings[i] = (PdNodeSetting){config->parameters[i].name, config->parameters[i].value};
    return settings;
}

static void
apply(PdKeeper *keeper, const PdNodeStatus *status)
{
    const PdClusterConfig *config = &keeper->config;
    PdNodeSetting *settings = settings_of(keeper);
    if (settings == NULL ||
        pd_node_holds(keeper->node, settings, config->parameter_count, config->pg_hba, config->pg_hba_count))
        return;
    PdError err = {0};
    bool is_written = false;
    if (!pd_node_update(keeper->node, settings, config->parameter_count, config->pg_hba, config->pg_hba_count,
                        &is_written, &err))
    {
        pd_logf(PD_LOG_ERROR, "keeper %s: the new settings were not applied: %s", keeper->name, err.message);
        return;
    }
    if (!is_written || status->run != PD_NODE_READY)
    {
        pd_logf(PD_LOG_INFO,
                "keeper %s: new settings: PostgreSQL takes them when it is next configured or started",
                keeper->name);
        return;
    }
    if (!pd_node_reload(keeper->node, 10000, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: settings written, but the reload failed: %s", keeper->name,
                err.message);
    else
        pd_logf(PD_LOG_INFO,
                "keeper %s: new settings written and reloaded (%zu parameters, %zu pg_hba lines)",
                keeper->name, config->parameter_count, config->pg_hba_count);
}

/* The pending_restart names logged when they change (once, not every tick). */
static void
log_pending(PdKeeper *keeper, const PdNodeStatus *status)
{
    if (!status->is_connected)
        return;
    char names[sizeof keeper->live_pending] = "";
    for (size_t i = 0; i < status->pending_restart_count; i++)
        if (!pd_node_owns_parameter(status->pending_restart[i]))
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] != '\0' ? ", " : "", status->pending_restart[i]);
    if (strcmp(names, keeper->live_pending) == 0)
        return;
    if (names[0] != '\0')
        pd_logf(
            PD_LOG_NOTICE,
            "keeper %s: PostgreSQL must be restarted to apply %s (prodata does not restart it on its own)",
            keeper->name, names);
    snprintf(keeper->live_pending, sizeof keeper->live_pending, "%s", names);
}

void
pd_keeper_live_apply(PdKeeper *keeper, const PdNodeStatus *status)
{
    apply(keeper, status);
    log_pending(keeper, status);
}

/*
 * The pending restarts an operator can act on: the node module's own parameters are left out (a standby
 * of PostgreSQL 15 reports recovery_target_timeline pending after every reload, though its value, 'latest',
 * never changes).
 */
static void
fill_pending(const PdKeeper *keeper, const PdNodeStatus *status, PdMemberState *state)
{
    const char **names = pd_arena_calloc(keeper->tick, status->pending_restart_count + 1, sizeof *names);
    size_t count = 0;
    for (size_t i = 0; names != NULL && i < status->pending_restart_count && count < PD_MEMBER_PENDING_MAX;
         i++)
        if (!pd_node_owns_parameter(status->pending_restart[i]))
            names[count++] = status->pending_restart[i];
    state->pending_restart = names;
    state->pending_restart_count = names != NULL ? count : 0;
}

/* The archiver's state with its ages made wall-clock times, so a reader ages them by its own clock. */
static void
fill_archive(const PdNodeArchive *archive, PdMemberState *state)
{
    if (!archive->is_known)
        return;
    int64_t now = pd_keeper_wall_ms();
    state->archive = (PdMemberArchive){
        .is_known = true,
        .archived_count = archive->archived_count,
        .last_archived_wal = archive->last_archived_wal,
        .last_archived_ms = archive->last_archived_age_ms >= 0 ? now - archive->last_archived_age_ms : 0,
        .failed_count = archive->failed_count,
        .last_failed_wal = archive->last_failed_wal,
        .last_failed_ms = archive->last_failed_age_ms >= 0 ? now - archive->last_failed_age_ms : 0,
        .ready_count = archive->ready_count,
    };
}

void
pd_keeper_live_fill(const PdKeeper *keeper, const PdNodeStatus *status, PdMemberState *state)
{
    state->replay_lag_ms = -1;
    if (!status->is_connected)
        return;
    fill_pending(keeper, status, state);
    bool is_caught_up =
        !status->is_in_recovery ||
        (keeper->leader_write_lsn > 0 ? status->replayed_lsn >= keeper->leader_write_lsn
                                      : status->replayed_lsn >= status->received_lsn &&
                                            strcmp(status->receiver_status, "streaming") == 0);
    state->replay_lag_ms = is_caught_up ? 0 : status->replay_age_ms;
    fill_archive(&status->archive, state);
}
