/*
 * cmd_serve.c - `prodata serve`: loads the serve settings, starts the server
 * (src/http) and waits for signals in the main thread. SIGHUP, SIGTERM and
 * SIGINT are blocked in every thread before any is started and taken here
 * with sigtimedwait, so no signal handler ever runs inside the server:
 * SIGHUP reloads the models (and log_level), SIGTERM or SIGINT stops after
 * the requests under way (at most shutdown_timeout_ms). The settings live in the command's arena,
 * which outlives the server.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "cli.h"
#include "http/http.h"

/* SIGHUP: the settings that apply on reload (log_level) are read again, then the models. */
static void
reload(PdHttpServer *server, const CliArgs *args)
{
    PdArena *arena = pd_arena_new(0);
    PdServeSettings settings;
    PdSettings loaded;
    PdError err = {0};
    if (arena != NULL && cli_load_settings(arena, args, &pd_settings_serve, &settings, &loaded, &err))
        cli_log_to_stderr((PdLogLevel)settings.log_level);
    else
        pd_logf(PD_LOG_ERROR, "settings not reloaded: %s", arena != NULL ? err.message : "out of memory");
    pd_arena_free(arena);
    pd_error_clear(&err);
    if (!pd_http_server_reload(server, &err))
        pd_logf(PD_LOG_ERROR, "%s (%s)", err.message, err.context);
}

static void
wait_for_stop(PdHttpServer *server, const CliArgs *args, const sigset_t *signals)
{
    for (;;)
    {
        int signal_number = sigwaitinfo(signals, NULL);
        if (signal_number == SIGHUP)
            reload(server, args);
        else if (signal_number == SIGTERM || signal_number == SIGINT)
        {
            pd_logf(PD_LOG_INFO, "%s: stopping after the requests under way",
                    signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
    }
}

bool
cmd_serve(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdServeSettings *settings = pd_arena_calloc(arena, 1, sizeof(*settings));
    PdSettings loaded;
    if (settings == NULL)
        return pd_arena_error(arena, err);
    if (!cli_load_settings(arena, args, &pd_settings_serve, settings, &loaded, err) ||
        !cli_read_jwt_secret(arena, settings, err))
        return false;
    cli_log_to_stderr((PdLogLevel)settings->log_level);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* before any thread starts: they inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    PdHttpServer *server;
    if (!pd_http_server_start(settings, &server, err))
        return false;
    wait_for_stop(server, args, &signals);
    int cut = pd_http_server_stop(server, settings->shutdown_timeout_ms);
    pd_logf(PD_LOG_INFO, "stopped%s", cut > 0 ? " (some requests were cut at the shutdown timeout)" : "");
    return true;
}
