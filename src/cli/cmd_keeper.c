/*
 * cmd_keeper.c - `prodata keeper`: one node's keeper in the foreground
 * (src/ha/keeper.h). The keeper settings loaded and checked, the
 * replication password read, then, before any thread exists, the fence
 * guard forked (src/ha/fence.h), then the keeper's HTTP API started on its
 * view and its failsafe grant table (src/ha/api.h, failsafe.h; its own
 * thread); SIGTERM and SIGINT only set a flag
 * the loop reads, so the shutdown (a primary stopped before its leader key
 * is released) runs in the loop's thread, never in a handler.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ha/ha.h"

static volatile sig_atomic_t is_stopping;

static void
on_stop_signal(int signal_number)
{
    (void)signal_number;
    is_stopping = 1;
}

static void
handle_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* This binary's path (for a clone from the repository: prodata restore), or NULL. */
static const char *
self_path(PdArena *arena)
{
    char self[1024];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0)
        return NULL;
    self[length] = '\0';
    return pd_arena_strdup(arena, self);
}

/* prodata-wal beside this binary, for archive_command; NULL (found in PATH) when it is not there. */
static const char *
wal_command(PdArena *arena)
{
    char self[1024];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0)
        return NULL;
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    char *path = pd_arena_sprintf(arena, "%s/prodata-wal", self);
    return path != NULL && access(path, X_OK) == 0 ? path : NULL;
}

bool
cmd_keeper(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdKeeperSettings *settings = pd_arena_calloc(arena, 1, sizeof *settings);
    PdSettings loaded;
    char *password = NULL;
    if (settings == NULL)
        return pd_arena_error(arena, err);
    if (!cli_load_settings(arena, args, &pd_settings_keeper, settings, &loaded, err))
        return false;
    cli_log_to_stderr((PdLogLevel)settings->log_level);
    if (!pd_keeper_settings_check(arena, settings, err) ||
        !pd_keeper_settings_password(arena, settings, getenv(settings->replication_password_env), &password,
                                     err))
        return false;
    if (settings->replication_password_env[0] != '\0') /* read: not passed on to pg_ctl or backups */
        unsetenv(settings->replication_password_env);
    PdKeeperOptions options = {.settings = settings,
                               .replication_password = password,
                               .wal_command = wal_command(arena),
                               .restore_program = self_path(arena),
                               .fence_margin_ms = settings->fence_margin_ms};
    if (!pd_fence_start(settings->data_dir, &options.fence, err)) /* before any thread */
        return false;
    handle_signals();
    PdHaApi *api = NULL;
    PdKeeper *keeper = NULL;
    bool ok =
        pd_keeper_view_new(&options.view, err) &&
        pd_failsafe_new(settings->member_name, settings->cluster_name, password, &options.failsafe, err) &&
        pd_ha_api_start_failsafe(settings->api_listen_address, settings->api_port, options.view,
                                 options.failsafe, &api, err);
    if (!ok)
        pd_fence_stop(options.fence);
    else if ((ok = pd_keeper_new(&options, &keeper, err)))
    {
        ok = pd_keeper_run(keeper, &is_stopping, err);
        pd_keeper_free(keeper);
    }
    pd_ha_api_stop(api);
    pd_failsafe_free(options.failsafe);
    pd_keeper_view_free(options.view);
    return ok;
}
