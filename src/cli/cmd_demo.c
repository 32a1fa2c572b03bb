/*
 * cmd_demo.c - `prodata demo [foreground | stop]`: the highly available bookstore of
 * `make demo` (issue 10, section 6) from the binary itself. The demo is a
 * script (scripts/demo.sh) with the bookstore example beside it; this
 * command finds the two (PRODATA_DEMO_HOME, the source tree the binary was
 * built in, or where `make install` put them), then replaces itself with the
 * script, PRODATA naming this very binary, so the script's output and exit
 * status are the command's. Nothing is started here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Where the demo's files may be, relative to the binary's folder: a source tree (build/prodata), an
 * installation (PREFIX/bin/prodata with PREFIX/share/prodata). */
static const char *const demo_homes[] = {"..", "../share/prodata"};

/* Whether home holds the script and the example it uses. */
static bool
is_demo_home(PdArena *arena, const char *home)
{
    return access(pd_arena_sprintf(arena, "%s/scripts/demo.sh", home), R_OK) == 0 &&
           access(pd_arena_sprintf(arena, "%s/examples/bookstore/models.pdm", home), R_OK) == 0;
}

/* The demo's home (the command's arena), or NULL with the places looked in, for the error, in *tried. */
static const char *
find_demo_home(PdArena *arena, const char *exe_dir, const char **tried)
{
    const char *given = getenv("PRODATA_DEMO_HOME");
    if (given != NULL && given[0] != '\0')
    {
        *tried = pd_arena_sprintf(arena, "%s (PRODATA_DEMO_HOME)", given);
        return is_demo_home(arena, given) ? given : NULL;
    }
    *tried = "";
    for (size_t i = 0; i < sizeof demo_homes / sizeof demo_homes[0]; i++)
    {
        const char *candidate = pd_arena_sprintf(arena, "%s/%s", exe_dir, demo_homes[i]);
        char home[PATH_MAX];
        if (realpath(candidate, home) != NULL && is_demo_home(arena, home))
            return pd_arena_strdup(arena, home);
        *tried = pd_arena_sprintf(arena, "%s%s%s", *tried, i ? ", " : "", candidate);
    }
    return NULL;
}

bool
cmd_demo(PdArena *arena, const CliArgs *args, PdError *err)
{
    const char *action = args->positional_count > 0 ? args->positional[0] : NULL;
    if (action != NULL && strcmp(action, "stop") != 0 && strcmp(action, "foreground") != 0)
        return pd_error_set(err, PD_ERR_USAGE,
                            "demo: unknown action \"%s\" (want nothing, foreground or stop)", action);
    char exe[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0)
        return pd_error_set(err, PD_ERR_IO, "demo: cannot read /proc/self/exe: %s", strerror(errno));
    exe[length] = '\0';
    char *exe_dir = pd_arena_strdup(arena, exe);
    char *slash = strrchr(exe_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    const char *tried = NULL;
    const char *home = find_demo_home(arena, exe_dir, &tried);
    if (home == NULL)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "demo: no scripts/demo.sh with examples/bookstore in %s", tried);
        pd_error_hint(err, "Run it from a source tree (make demo), install with make install, or set "
                           "PRODATA_DEMO_HOME to a prodata source tree.");
        return false;
    }
    char *script = pd_arena_sprintf(arena, "%s/scripts/demo.sh", home);
    if (getenv("PRODATA") == NULL && setenv("PRODATA", exe, 1) != 0)
        return pd_error_set(err, PD_ERR_IO, "demo: cannot set PRODATA: %s", strerror(errno));
    fflush(stdout);
    char *const argv[] = {"bash", script, (char *)action, NULL};
    execv("/bin/bash", argv);
    return pd_error_set(err, PD_ERR_IO, "demo: cannot run /bin/bash %s: %s", script, strerror(errno));
}
