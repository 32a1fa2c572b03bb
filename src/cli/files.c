/*
 * files.c - what the commands that write files and open the database share:
 * a file written whole or not at all (a temporary file, fsync, then link,
 * which never replaces, or rename when replacing is asked for, then an
 * fsync of the folder so that the new name survives a crash), and the
 * command's connection, closed with its arena.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "prodata/db.h"

static bool
write_all(int fd, const char *text)
{
    size_t length = strlen(text), written = 0;
    while (written < length)
    {
        ssize_t n = write(fd, text + written, length - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        written += (size_t)n;
    }
    return true;
}

bool
cli_write_file_atomically(PdArena *arena, const char *directory, const char *path, const char *text,
                          bool is_replacing, PdError *err)
{
    if (mkdir(directory, 0777) != 0 && errno != EEXIST)
    {
        pd_error_set(err, PD_ERR_IO, "could not create the folder %s", directory);
        return pd_error_detail(err, "%s.", strerror(errno));
    }
    char *temporary = pd_arena_sprintf(arena, "%s.tmp.%d", path, (int)getpid());
    if (temporary == NULL)
        return pd_arena_error(arena, err);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
    {
        pd_error_set(err, PD_ERR_IO, "could not write %s", temporary);
        return pd_error_detail(err, "%s.", strerror(errno));
    }
    bool is_written = write_all(fd, text) && fsync(fd) == 0;
    int saved_errno = errno;
    close(fd);
    /* link() never replaces: a file of that name written meanwhile (another makemigrations) is kept. */
    bool is_placed = is_written && (is_replacing ? rename(temporary, path) : link(temporary, path)) == 0;
    if (is_written && !is_placed)
        saved_errno = errno;
    unlink(temporary); /* after link: the file keeps its new name; after rename: already gone */
    if (!is_placed)
    {
        if (saved_errno == EEXIST)
            return pd_error_set(err, PD_ERR_REFUSED, "%s exists already", path);
        pd_error_set(err, PD_ERR_IO, "could not write %s", path);
        return pd_error_detail(err, "%s.", strerror(saved_errno));
    }
    int directory_fd = open(directory, O_RDONLY | O_DIRECTORY);
    if (directory_fd >= 0)
    {
        fsync(directory_fd);
        close(directory_fd);
    }
    return true;
}

bool
cli_connect_database(PdArena *arena, const PdMigrateSettings *config, PdDb **db, PdError *err)
{
    if (!pd_db_connect(config->database, db, err))
        return pd_cli_explain_connect(arena, config->database, err); /* where host, port, ... came from */
    /* The connection belongs to the command: closed with its arena, also on error paths. */
    if (!pd_arena_on_free(arena, (void (*)(void *))pd_db_close, *db))
    {
        pd_db_close(*db);
        return pd_arena_error(arena, err);
    }
    return true;
}
