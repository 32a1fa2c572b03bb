/*
 * key.c - the repository's key: derived from its material (a key file or
 * the archive_key setting) with HKDF-SHA256, and checked against the
 * repository before anything is read or written, through a small sealed
 * file of known text (prodata.keycheck). Its presence is what makes a
 * repository encrypted: a command without a key is refused there at once,
 * as is a wrong key (its tag fails), and a key given for a repository that
 * already holds plain files (encryption is chosen when a repository starts,
 * as pgBackRest's repo-cipher-type is). The first command that writes into
 * an empty repository with a key writes the check file, linked under its
 * name so that two such commands agree on one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"
#include "store.h"

static const char check_text[] = "prodata repository key check, version 1\n";

bool
pd_archive_key_derive(const void *material, size_t length, const char *what, PdArchiveKey *key, PdError *err)
{
    if (length < PD_ARCHIVE_KEY_MIN_BYTES)
    {
        pd_error_set(err, PD_ERR_USAGE, "%s holds %zu bytes; a repository key needs at least %d", what,
                     length, PD_ARCHIVE_KEY_MIN_BYTES);
        pd_error_field(err, "archive_key_file");
        return pd_error_hint(err, "Make one with: openssl rand -base64 32 > FILE; chmod 600 FILE.");
    }
    return pd_seal_hkdf(material, length, NULL, 0, "prodata repository key v1", key->bytes, err);
}

/* Whether dir holds anything of a repository (names not starting with a dot; lost+found and the check file
 * aside). */
static bool
holds_files(const char *dir, bool *is_used, PdError *err)
{
    DIR *listing = opendir(dir);
    if (listing == NULL)
        return pd_archive_io_error(err, "open the directory", dir);
    struct dirent *entry;
    *is_used = false;
    while (!*is_used && (entry = readdir(listing)) != NULL)
        *is_used = entry->d_name[0] != '.' && strcmp(entry->d_name, "lost+found") != 0 &&
                   strcmp(entry->d_name, PD_ARCHIVE_KEY_CHECK_FILE) != 0;
    closedir(listing);
    return true;
}

/* Writes the check file: sealed to a temporary name, fsynced, linked (another's link wins), dir fsynced. */
static bool
mark(PdArena *arena, const char *dir, const char *path, const PdArchiveKey *key, PdError *err)
{
    void *sealed;
    size_t length;
    char *temp = pd_arena_sprintf(arena, "%s/.%s.%ld.tmp", dir, PD_ARCHIVE_KEY_CHECK_FILE, (long)getpid());
    if (temp == NULL)
        return pd_arena_error(arena, err);
    if (!pd_seal_text(arena, key, path, check_text, sizeof(check_text) - 1, &sealed, &length, err))
        return false;
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return pd_archive_io_error(err, "create", temp);
    bool ok = pd_archive_write_all(fd, sealed, length, temp, err) &&
              (fdatasync(fd) == 0 || pd_archive_io_error(err, "fsync", temp));
    close(fd);
    if (ok && link(temp, path) != 0 && errno != EEXIST)
        ok = pd_archive_io_error(err, "link", path);
    unlink(temp);
    return ok && pd_archive_fsync_dir(dir, err);
}

static bool
wrong_key(PdError *err, const char *dir)
{
    pd_error_set(err, PD_ERR_REFUSED, "the key given does not open the repository %s", dir);
    pd_error_field(err, "archive_key_file");
    return pd_error_hint(err, "Give the key the repository was made with (archive_key_file or archive_key); "
                              "nothing was read or written.");
}

/* Reads the check file (is_found false when there is none) and opens it with key. */
static bool
read_check(PdArena *arena, const char *dir, const char *path, const PdArchiveKey *key, bool *is_found,
           PdError *err)
{
    unsigned char bytes[512];
    size_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *is_found = fd >= 0;
    if (fd < 0)
        return errno == ENOENT || pd_archive_io_error(err, "open", path);
    bool ok = pd_archive_read_full(fd, bytes, sizeof(bytes), &got, path, err);
    close(fd);
    if (!ok)
        return false;
    if (key == NULL)
    {
        pd_error_set(err, PD_ERR_REFUSED, "the repository %s is encrypted, and no key is set", dir);
        pd_error_field(err, "archive_key_file");
        return pd_error_hint(err,
                             "Name its key: archive_key_file = FILE (or archive_key) in prodata.conf, or "
                             "PRODATA_ARCHIVE_KEY_FILE.");
    }
    char *text;
    size_t length;
    PdError why;
    pd_error_init(&why);
    if (!pd_unseal_text(arena, key, bytes, got, path, &text, &length, &why))
        return why.code == PD_ERR_REFUSED ? wrong_key(err, dir) : (*err = why, false);
    return (length == sizeof(check_text) - 1 && memcmp(text, check_text, length) == 0) || wrong_key(err, dir);
}

bool
pd_archive_key_check(PdArena *arena, const char *dir, const PdArchiveKey *key, bool may_mark, PdError *err)
{
    struct stat info;
    bool is_found, is_used = false;
    char *path = pd_archive_join(arena, dir, PD_ARCHIVE_KEY_CHECK_FILE);
    if (path == NULL)
        return pd_arena_error(arena, err);
    if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode))
        return true;
    if (!read_check(arena, dir, path, key, &is_found, err))
        return false;
    if (is_found || key == NULL)
        return true;
    if (!holds_files(dir, &is_used, err))
        return false;
    if (is_used &&
        !read_check(arena, dir, path, key, &is_found, err)) /* marked meanwhile by another writer? */
        return false;
    if (is_used && !is_found)
    {
        pd_error_set(err, PD_ERR_REFUSED, "the repository %s is not encrypted, and a key is set", dir);
        pd_error_field(err, "archive_key_file");
        return pd_error_hint(err,
                             "Encryption is chosen when a repository starts: give an empty archive_dir "
                             "for an encrypted one, or unset archive_key_file and archive_key for this one.");
    }
    if (is_used || !may_mark)
        return true;
    return mark(arena, dir, path, key, err) && read_check(arena, dir, path, key, &is_found, err);
}
