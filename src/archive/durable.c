/*
 * durable.c - the file calls of the archive with their errors as values: a
 * write that is whole or an error, a read that fills its buffer unless the
 * file ends, and the fsync of a directory that makes a new name survive a
 * crash (the file's own fsync is not enough: the entry lives in the
 * directory), and the sync of a whole file system after a backup or a
 * restore wrote thousands of files (one call instead of one wait per file).
 * Each error names the file and what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store.h"

bool
pd_archive_io_error(PdError *err, const char *verb, const char *path)
{
    return pd_error_set(err, PD_ERR_IO, "could not %s %s: %s", verb, path, strerror(errno));
}

bool
pd_archive_write_all(int fd, const void *data, size_t length, const char *path, PdError *err)
{
    const char *bytes = data;
    while (length > 0)
    {
        ssize_t written = write(fd, bytes, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return pd_archive_io_error(err, "write", path);
        bytes += written;
        length -= (size_t)written;
    }
    return true;
}

bool
pd_archive_read_full(int fd, void *data, size_t length, size_t *got, const char *path, PdError *err)
{
    return pd_archive_read_full_at(fd, data, length, -1, got, path, err);
}

bool
pd_archive_read_full_at(int fd, void *data, size_t length, int64_t offset, size_t *got, const char *path,
                        PdError *err)
{
    char *bytes = data;
    *got = 0;
    while (*got < length)
    {
        ssize_t n = offset < 0 ? read(fd, bytes + *got, length - *got)
                               : pread(fd, bytes + *got, length - *got, (off_t)offset + (off_t)*got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pd_archive_io_error(err, "read", path);
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return true;
}

bool
pd_archive_fsync_dir(const char *dir, PdError *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pd_archive_io_error(err, "open directory", dir);
    bool is_synced = fsync(fd) == 0 || pd_archive_io_error(err, "fsync directory", dir);
    close(fd);
    return is_synced;
}

bool
pd_archive_sync_filesystem(const char *dir, PdError *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pd_archive_io_error(err, "open directory", dir);
    /* syncfs(2) by its number: its declaration needs _GNU_SOURCE. Since Linux 5.8 it reports writeback
     * errors of the file system, as fsync does for a file. */
    bool is_synced = syscall(SYS_syncfs, fd) == 0 || pd_archive_io_error(err, "sync the file system of", dir);
    close(fd);
    return is_synced;
}

char *
pd_archive_join(PdArena *arena, const char *dir, const char *name)
{
    size_t length = strlen(dir);
    bool has_slash = length > 0 && dir[length - 1] == '/';
    return pd_arena_sprintf(arena, "%s%s%s", dir, has_slash ? "" : "/", name);
}

bool
pd_archive_write_durably(PdArena *arena, const char *dir, const char *name, const char *text, size_t length,
                         PdError *err)
{
    char *temp = pd_arena_sprintf(arena, "%s/.%s.tmp", dir, name);
    char *final = pd_archive_join(arena, dir, name);
    if (temp == NULL || final == NULL)
        return pd_arena_error(arena, err);
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return pd_archive_io_error(err, "create", temp);
    bool ok = pd_archive_write_all(fd, text, length, temp, err) &&
              (fsync(fd) == 0 || pd_archive_io_error(err, "fsync", temp));
    if (close(fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", temp);
    if (ok && rename(temp, final) != 0)
        ok = pd_archive_io_error(err, "rename into place", final);
    if (!ok)
        unlink(temp);
    return ok && pd_archive_fsync_dir(dir, err);
}
