/*
 * pgctl.c - PostgreSQL's pg_ctl run for the archive's commands that start a
 * server on a restored copy (backup verify --restore, restore --start):
 * forked and executed directly, never through a shell, so no path or value
 * is ever parsed as a command; its chatter goes to /dev/null and the server's
 * own log (pg_ctl -l) is what errors point to.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

/* The longest pg_ctl command line built here. */
#define MAX_ARGS 24

bool
pd_archive_pg_ctl(PdArena *arena, const char *pg_bin, const char *const *args, const char *log_path,
                  PdError *err)
{
    char *argv[MAX_ARGS + 2];
    size_t count = 0;
    argv[count++] = pd_archive_join(arena, pg_bin, "pg_ctl");
    if (argv[0] == NULL)
        return pd_arena_error(arena, err);
    while (args[count - 1] != NULL && count <= MAX_ARGS)
        argv[count] = (char *)args[count - 1], count++;
    argv[count] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return pd_error_set(err, PD_ERR_IO, "could not start %s: %s", argv[0], strerror(errno));
    if (pid == 0)
    {
        sigset_t none; /* the server starts with no signal held, whatever the caller holds */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        FILE *quiet = freopen("/dev/null", "w", stdout);
        (void)quiet;
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return pd_error_set(err, PD_ERR_IO, "could not wait for %s: %s", argv[0], strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    pd_error_set(err, PD_ERR_IO, "%s %s failed (exit %d)", argv[0], argv[1] != NULL ? argv[1] : "",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return pd_error_hint(err, "The server log: %s.", log_path);
}
