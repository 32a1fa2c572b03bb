/*
 * node_files.c - the node's files on disk: written whole or not at all
 * (temporary file, fsync, rename, directory fsync), owned by the server's
 * account so PostgreSQL can read them, directories made with mode 0700 as
 * initdb and pg_basebackup expect, and trees removed without following
 * symbolic links (a data directory's pg_wal may be one).
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ha/node_run.h"

static bool
sync_parent(const char *path, PdError *err)
{
    char copy[PD_NODE_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0)
    {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return pd_error_set(err, PD_ERR_IO, "cannot sync the directory of %s: %s", path, strerror(saved));
    }
    close(fd);
    return true;
}

static bool
write_all(int fd, const char *text, size_t length)
{
    while (length > 0)
    {
        ssize_t done = write(fd, text, length);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return false;
        text += done;
        length -= (size_t)done;
    }
    return true;
}

bool
pd_node_write_file(PdNode *node, const char *path, const char *text, PdError *err)
{
    char temporary[PD_NODE_PATH_MAX + 8];
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return pd_error_set(err, PD_ERR_IO, "cannot write %s: %s", temporary, strerror(errno));
    bool is_written = write_all(fd, text, strlen(text)) && fsync(fd) == 0 &&
                      (!node->is_root || fchown(fd, node->os_uid, node->os_gid) == 0);
    int saved = errno;
    if (close(fd) != 0 && is_written)
        is_written = false, saved = errno;
    if (!is_written || rename(temporary, path) != 0)
    {
        saved = is_written ? errno : saved;
        unlink(temporary);
        return pd_error_set(err, PD_ERR_IO, "cannot write %s: %s", path, strerror(saved));
    }
    return sync_parent(path, err);
}

bool
pd_node_make_dir(PdNode *node, const char *dir, PdError *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pd_error_set(err, PD_ERR_IO, "cannot make %s: %s", dir, strerror(errno));
    struct stat info;
    if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode))
        return pd_error_set(err, PD_ERR_IO, "%s is not a directory", dir);
    if (node->is_root && info.st_uid != node->os_uid && chown(dir, node->os_uid, node->os_gid) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot give %s to %s: %s", dir, node->config.os_user,
                            strerror(errno));
    return true;
}

static int
remove_entry(const char *path, const struct stat *info, int type, struct FTW *walk)
{
    (void)info;
    (void)walk;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

bool
pd_node_remove_tree(const char *dir, PdError *err)
{
    if (access(dir, F_OK) != 0)
        return true;
    if (nftw(dir, remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot remove %s: %s", dir, strerror(errno));
    return true;
}
