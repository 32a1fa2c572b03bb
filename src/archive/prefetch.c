/*
 * prefetch.c - wal-fetch reads ahead while recovery replays. PostgreSQL
 * asks restore_command for one segment at a time and replays it before it
 * asks for the next, so every fetch (a process start, a read, zstd, SHA-256,
 * a write) adds to the replay's time. After recovery's request for a segment
 * (into pg_wal/RECOVERYXLOG), a detached process restores the next
 * wal_fetch_prefetch segments of the same timeline into a spool beside it,
 * pg_wal/prodata-prefetch: each verified as any fetch is, written under a
 * temporary name of its own and renamed into place whole. Nothing is
 * flushed (a flush per segment costs the disk what the replay's own writes
 * need): the spool is trusted only within the boot that wrote it, named by a
 * marker file, since after a crash of the machine a file renamed into place
 * may hold zeros where its pages never reached the disk. The
 * next request takes its segment from there (pd_archive_prefetch_take) only
 * when the archive still holds the name, the file is a regular file whose
 * first page is the segment its name says and whose size is the segment
 * size that page gives, and the fork check passes as it would for the
 * archived file: the spool changes where the bytes come from, never which.
 * One prefetcher works on a spool: it locks the spool's folder and writes
 * only through that folder's descriptor, so a spool removed and made again
 * is never written by the prefetcher of the old one. It stops at the first
 * segment not archived, when the server stops (no postmaster.pid), and when
 * recovery is over (no recovery.signal or standby.signal), emptying the
 * spool then. Each request removes spooled segments older than itself.
 * docs/archive.md, "Read-ahead".
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
#include <time.h>
#include <unistd.h>

#include "store.h"

#define SPOOL_NAME "prodata-prefetch"

enum
{
    TEMP_STALE_S = 600, /* a temporary file this old is a killed prefetcher's */
};

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

/* The spool's folder itself (never a link to one), as a descriptor; -1 when there is none. */
static int
open_spool(const char *spool)
{
    return open(spool, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool
has_file(PdArena *arena, const char *dir, const char *name)
{
    char *path = pd_archive_join(arena, dir, name);
    return path == NULL || access(path, F_OK) == 0; /* out of memory: assume it, change nothing */
}

static bool
is_in_recovery(PdArena *arena, const char *data_dir)
{
    return has_file(arena, data_dir, "recovery.signal") || has_file(arena, data_dir, "standby.signal");
}

/* Whether an entry of the spool goes: every one (segno UINT64_MAX), or segments before segno and
 * temporary files a killed prefetcher left. */
static bool
is_swept(int dir, const char *entry, uint64_t segno, uint32_t segment_bytes, time_t now)
{
    if (strcmp(entry, ".") == 0 || strcmp(entry, "..") == 0)
        return false;
    if (segno == UINT64_MAX)
        return true;
    if (strncmp(entry, ".boot-", 6) == 0)
        return false;
    PdWalName name;
    PdError ignored;
    uint64_t number = 0;
    struct stat info;
    if (entry[0] == '.')
        return fstatat(dir, entry, &info, AT_SYMLINK_NOFOLLOW) == 0 && now - info.st_mtime > TEMP_STALE_S;
    return pd_archive_parse_name(entry, &name, &ignored) && name.kind == PD_WAL_SEGMENT &&
           pd_archive_segno(&name, segment_bytes, &number) && number < segno;
}

/* Removes the spool's entries is_swept names; with segno UINT64_MAX, the spool too. */
static void
sweep(const char *spool, uint64_t segno, uint32_t segment_bytes)
{
    int dir = open_spool(spool);
    int listed = dir >= 0 ? dup(dir) : -1;
    DIR *entries = listed >= 0 ? fdopendir(listed) : NULL;
    if (entries == NULL)
    {
        if (listed >= 0)
            close(listed);
        if (dir >= 0)
            close(dir);
        return;
    }
    time_t now = time(NULL);
    struct dirent *entry;
    while ((entry = readdir(entries)) != NULL)
        if (is_swept(dir, entry->d_name, segno, segment_bytes, now))
            (void)unlinkat(dir, entry->d_name, 0);
    closedir(entries);
    close(dir);
    if (segno == UINT64_MAX)
        (void)rmdir(spool);
}

void
pd_archive_prefetch_sweep(const char *spool, const PdWalName *name, uint32_t segment_bytes)
{
    uint64_t segno;
    if (pd_archive_is_segment_size(segment_bytes) && pd_archive_segno(name, segment_bytes, &segno))
        sweep(spool, segno, segment_bytes);
}

void
pd_archive_prefetch_remove(PdArena *arena, const char *wal_dir)
{
    char *spool = pd_archive_join(arena, wal_dir, SPOOL_NAME);
    if (spool != NULL)
        sweep(spool, UINT64_MAX, PD_WAL_DEFAULT_SEGMENT_BYTES);
}

/* The marker of this boot's spool: ".boot-" and the kernel's boot id; false where there is none. */
static bool
boot_marker(char *out, size_t size)
{
    char id[64] = "";
    FILE *in = fopen("/proc/sys/kernel/random/boot_id", "re");
    bool ok = in != NULL && fgets(id, sizeof id, in) != NULL;
    if (in != NULL)
        fclose(in);
    id[strcspn(id, "\n")] = '\0';
    return ok && id[0] != '\0' && strspn(id, "0123456789abcdef-") == strlen(id) &&
           snprintf(out, size, ".boot-%s", id) < (int)size;
}

/* Whether the spool was written in this boot (its marker is there). */
static bool
is_this_boot(PdArena *arena, const char *spool)
{
    char marker[96];
    return boot_marker(marker, sizeof marker) && has_file(arena, spool, marker);
}

/* The spool made ready for this boot's prefetcher: one from another boot (or without a marker) emptied,
 * the folder made, the marker written. False where the boot cannot be told: no read-ahead then. */
static bool
ready_spool(PdArena *arena, const char *spool)
{
    char marker[96];
    struct stat info;
    if (!boot_marker(marker, sizeof marker))
        return false;
    if (lstat(spool, &info) == 0 && S_ISDIR(info.st_mode) && has_file(arena, spool, marker))
        return true;
    sweep(spool, UINT64_MAX, PD_WAL_DEFAULT_SEGMENT_BYTES);
    char *path = pd_archive_join(arena, spool, marker);
    int fd = path != NULL && (mkdir(spool, 0700) == 0 || errno == EEXIST) && lstat(spool, &info) == 0 &&
                     S_ISDIR(info.st_mode)
                 ? open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)
                 : -1;
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

/* ---- taking a spooled segment ---------------------------------------------------------------------- */

/* The spooled file at path is the segment name, whole: a regular file whose first page says so and whose
 * size is the segment size that page gives; *segment_bytes that size. */
static bool
is_whole_segment(const char *path, const PdWalName *name, uint32_t *segment_bytes)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat info;
    unsigned char bytes[PD_WAL_LONG_HEADER_BYTES];
    size_t got = 0;
    PdError ignored;
    PdWalSegmentHeader header;
    bool is_whole =
        fd >= 0 && fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
        pd_archive_is_segment_size((uint64_t)info.st_size) &&
        pd_archive_read_full(fd, bytes, sizeof bytes, &got, path, &ignored) &&
        pd_archive_read_segment_header(bytes, got, name, (uint64_t)info.st_size, path, &header, &ignored);
    if (fd >= 0)
        close(fd);
    if (is_whole)
        *segment_bytes = (uint32_t)info.st_size;
    return is_whole;
}

int
pd_archive_prefetch_take(PdArena *arena, const PdArchiveOptions *options, const PdWalName *parsed,
                         const char *name, const char *dest_path, uint32_t *segment_bytes, PdError *err)
{
    char *spool = pd_archive_prefetch_spool(arena, dest_path);
    char *path = spool != NULL ? pd_archive_join(arena, spool, name) : NULL;
    if (path == NULL || access(path, F_OK) != 0)
        return 0;
    if (!is_this_boot(arena, spool))
    {
        sweep(spool, UINT64_MAX, PD_WAL_DEFAULT_SEGMENT_BYTES); /* written before a crash of the machine */
        return 0;
    }
    if (!has_file(arena, options->dir, name) || !is_whole_segment(path, parsed, segment_bytes))
    {
        (void)unlink(path); /* not to be trusted: the archive's copy is fetched instead */
        return 0;
    }
    if (!pd_archive_check_fork(arena, options, parsed, *segment_bytes, err))
        return err->code == PD_ERR_NOT_FOUND ? -1 : 0;
    return rename(path, dest_path) == 0 ? 1 : 0;
}

/* ---- the prefetcher -------------------------------------------------------------------------------- */

/* The archived segment name restored into the spool (dir) under a temporary name of this process's,
 * verified, and renamed to name. */
static bool
spool_one(PdArena *arena, const PdArchiveOptions *options, int dir, const char *name, PdError *err)
{
    char *path = pd_archive_join(arena, options->dir, name);
    char *temp = pd_arena_sprintf(arena, ".%s.%ld.tmp", name, (long)getpid());
    if (path == NULL || temp == NULL)
        return pd_arena_error(arena, err);
    PdSealIn in;
    if (!pd_seal_in_open_path(arena, options->key, path, NULL, &in, err))
        return false;
    int out = openat(dir, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    PdArchiveHeader header;
    bool ok = out >= 0 ? pd_archive_stream_out(arena, &in, out, temp, &header, err)
                       : pd_archive_io_error(err, "create", temp);
    close(in.fd);
    if (out >= 0 && close(out) != 0 && ok)
        ok = pd_archive_io_error(err, "close", temp);
    if (ok && renameat(dir, temp, dir, name) != 0)
        ok = pd_archive_io_error(err, "rename", temp);
    if (!ok && out >= 0)
        (void)unlinkat(dir, temp, 0);
    return ok;
}

/* The segments after segno, in order, until one is not archived or options->prefetch are spooled; alone
 * on the spool (its folder locked), while the server runs and is in recovery. */
static void
prefetch(PdArena *arena, const PdArchiveOptions *options, uint32_t timeline, uint64_t segno,
         uint32_t segment_bytes, const char *spool, const char *data_dir)
{
    int dir = open_spool(spool);
    if (dir < 0 || flock(dir, LOCK_EX | LOCK_NB) != 0)
    {
        if (dir >= 0)
            close(dir);
        return;
    }
    for (int i = 1; i <= options->prefetch; i++)
    {
        if (!is_in_recovery(arena, data_dir))
        {
            sweep(spool, UINT64_MAX, segment_bytes);
            break;
        }
        char name[25];
        PdError err = {0};
        pd_archive_segment_name(timeline, segno + (uint64_t)i, segment_bytes, name);
        if (!has_file(arena, data_dir, "postmaster.pid"))
            break; /* the server stopped: a rewind or a clone may come next */
        if (faccessat(dir, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (!spool_one(arena, options, dir, name, &err))
            break; /* not archived yet, or unreadable: recovery's own request says so */
    }
    close(dir); /* the lock with it */
}

/* Every descriptor above stderr closed (close_range, or one by one where the kernel lacks it). */
static void
close_inherited(void)
{
    if (close_range(STDERR_FILENO + 1, ~0U, 0) == 0)
        return;
    long most = sysconf(_SC_OPEN_MAX);
    for (long fd = STDERR_FILENO + 1; fd < (most > 0 && most < 65536 ? most : 65536); fd++)
        close((int)fd);
}

/* In a process of its own, detached from recovery's (its own session, no terminal, stdio on /dev/null, no
 * other file inherited, no pipe of PostgreSQL's logger held open): restore_command's caller waits for the
 * command, not for this. */
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
    close_inherited();
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
    if (spool == NULL || !ready_spool(arena, spool))
        return;
    run_detached(arena, options, name->timeline, segno, segment_bytes, spool, data_dir);
}
