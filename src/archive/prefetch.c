/*
 * prefetch.c - wal-fetch reads ahead while recovery replays. PostgreSQL
 * asks restore_command for one segment at a time and replays it before it
 * asks for the next, so every fetch (a process start, a read, zstd, SHA-256,
 * a write) adds to the replay's time. After recovery's request for a segment
 * (into pg_wal/RECOVERYXLOG), a detached process restores the next
 * wal_fetch_prefetch segments of the same timeline into a spool beside it,
 * pg_wal/prodata-prefetch, each verified as any fetch is and renamed into
 * place whole; the next request finds its segment there and only renames it.
 * A spooled segment is judged as an archived one would be (fork.c): the
 * spool changes where the bytes come from, never which. One prefetcher runs
 * per spool (a lock on a file in it); it stops at the first segment not
 * archived, and empties the spool once the data directory is no longer in
 * recovery (no recovery.signal or standby.signal beside pg_wal). Each request
 * removes spooled segments older than itself. docs/archive.md, "Read-ahead".
 */
#define _GNU_SOURCE /* close_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

#define SPOOL_NAME "prodata-prefetch"

/* dest's folder (pg_wal) and the data directory above it, as text: "pg_wal/RECOVERYXLOG" gives "pg_wal", ".".
 */
static bool
split_dest(PdArena *arena, const char *dest, char **wal_dir, char **data_dir)
{
    const char *slash = strrchr(dest, '/');
    *wal_dir =
        slash != NULL ? pd_arena_strndup(arena, dest, (size_t)(slash - dest)) : pd_arena_strdup(arena, ".");
    if (*wal_dir == NULL)
        return false;
    const char *up = strrchr(*wal_dir, '/');
    *data_dir = up != NULL ? pd_arena_strndup(arena, *wal_dir, (size_t)(up - *wal_dir))
                           : pd_arena_strdup(arena, slash != NULL ? "." : "..");
    return *data_dir != NULL;
}

char *
pd_archive_prefetch_spool(PdArena *arena, const char *dest)
{
    char *wal_dir, *data_dir;
    return split_dest(arena, dest, &wal_dir, &data_dir) ? pd_archive_join(arena, wal_dir, SPOOL_NAME) : NULL;
}

static bool
is_in_recovery(PdArena *arena, const char *data_dir)
{
    const char *signals[] = {"recovery.signal", "standby.signal"};
    for (size_t i = 0; i < 2; i++)
    {
        char *path = pd_archive_join(arena, data_dir, signals[i]);
        if (path == NULL || access(path, F_OK) == 0)
            return true; /* out of memory: assume recovery, remove nothing */
    }
    return false;
}

/* Removes the spool's segments: those before segno (every one when segno is UINT64_MAX); temporary files
 * only with them all (a prefetcher may be writing one). */
static void
sweep(PdArena *arena, const char *spool, uint64_t segno, uint32_t segment_bytes)
{
    DIR *dir = opendir(spool);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
    {
        PdWalName name;
        PdError ignored;
        uint64_t number = 0;
        bool is_segment = pd_archive_parse_name(entry->d_name, &name, &ignored) &&
                          name.kind == PD_WAL_SEGMENT && pd_archive_segno(&name, segment_bytes, &number);
        bool is_gone = segno == UINT64_MAX
                           ? strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0
                           : is_segment && number < segno;
        char *path = is_gone ? pd_archive_join(arena, spool, entry->d_name) : NULL;
        if (path != NULL)
            unlink(path);
    }
    closedir(dir);
    if (segno == UINT64_MAX)
        rmdir(spool);
}

void
pd_archive_prefetch_sweep(PdArena *arena, const char *spool, const PdWalName *name, uint32_t segment_bytes)
{
    uint64_t segno;
    if (pd_archive_segno(name, segment_bytes, &segno))
        sweep(arena, spool, segno, segment_bytes);
}

void
pd_archive_prefetch_remove(PdArena *arena, const char *wal_dir)
{
    char *spool = pd_archive_join(arena, wal_dir, SPOOL_NAME);
    if (spool != NULL)
        sweep(arena, spool, UINT64_MAX, PD_WAL_DEFAULT_SEGMENT_BYTES);
}

/* The prefetcher's work: the segments after segno, in order, until one is not archived or count are
 * spooled. Alone on the spool (the lock), and only while the data directory is in recovery. */
static void
prefetch(PdArena *arena, const PdArchiveOptions *options, uint32_t timeline, uint64_t segno,
         uint32_t segment_bytes, const char *spool, const char *data_dir)
{
    char *lock_path = pd_archive_join(arena, spool, ".lock");
    int lock = lock_path != NULL ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0)
    {
        if (lock >= 0)
            close(lock);
        return;
    }
    for (int i = 1; i <= options->prefetch; i++)
    {
        if (!is_in_recovery(arena, data_dir))
        {
            sweep(arena, spool, UINT64_MAX, segment_bytes);
            break;
        }
        char name[25];
        pd_archive_segment_name(timeline, segno + (uint64_t)i, segment_bytes, name);
        char *path = pd_archive_join(arena, spool, name);
        char *temp = pd_arena_sprintf(arena, "%s/.%s.tmp", spool, name);
        PdError err = {0};
        if (path == NULL || temp == NULL)
            break;
        if (access(path, F_OK) == 0)
            continue;
        if (!pd_archive_fetch_file(arena, options, name, temp, path, NULL, &err))
            break; /* not archived yet, or unreadable: recovery's own request will say so */
    }
    close(lock);
}

/* In a process of its own, detached from recovery's (its own session, no terminal, stdio on /dev/null, no
 * other file inherited):
 * restore_command's caller waits for the command, not for this. */
static void
run_detached(PdArena *arena, const PdArchiveOptions *options, uint32_t timeline, uint64_t segno,
             uint32_t segment_bytes, const char *spool, const char *data_dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return;
    if (pid > 0)
    {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    if (setsid() < 0 || fork() != 0)
        _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0)
    {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    close_range(STDERR_FILENO + 1, ~0U, 0); /* no pipe of PostgreSQL's (its logger's) held open */
    prefetch(arena, options, timeline, segno, segment_bytes, spool, data_dir);
    _exit(0);
}

void
pd_archive_prefetch_start(PdArena *arena, const PdArchiveOptions *options, const PdWalName *name,
                          uint32_t segment_bytes, const char *dest)
{
    char *wal_dir, *data_dir;
    uint64_t segno;
    if (options->prefetch <= 0 || !pd_archive_is_segment_size(segment_bytes) ||
        !pd_archive_segno(name, segment_bytes, &segno) || !split_dest(arena, dest, &wal_dir, &data_dir))
        return;
    char *spool = pd_archive_join(arena, wal_dir, SPOOL_NAME);
    if (spool == NULL || (mkdir(spool, 0700) != 0 && errno != EEXIST))
        return;
    run_detached(arena, options, name->timeline, segno, segment_bytes, spool, data_dir);
}
