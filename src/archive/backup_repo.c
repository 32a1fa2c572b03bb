/*
 * backup_repo.c - the backups of a repository: the folder backup/ beside
 * the archived WAL, one folder per backup named by its label, complete when
 * its manifest.json exists (written last, atomically). Lists them in label
 * order (the labels sort by time), reads one, writes a manifest durably,
 * takes the repository's backup lock, and removes an incomplete backup's
 * folder. Removal walks no symbolic link and never leaves backup/.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

/* The largest manifest read: 100 bytes of JSON or more per file, and a cluster of a million files. */
#define MANIFEST_MAX_BYTES (512u << 20)

char *
pd_backup_dir(PdArena *arena, const char *repo, const char *label)
{
    return label != NULL ? pd_arena_sprintf(arena, "%s/%s/%s", repo, PD_BACKUP_FOLDER, label)
                         : pd_arena_sprintf(arena, "%s/%s", repo, PD_BACKUP_FOLDER);
}

/* Whether name is a label: YYYYMMDD-HHMMSS then F, D or I. */
bool
pd_backup_is_label(const char *name)
{
    if (strlen(name) != 16 || name[8] != '-' || strchr("FDI", name[15]) == NULL)
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (name[i] < '0' || name[i] > '9'))
            return false;
    return true;
}

bool
pd_backup_read_text(PdArena *arena, const PdArchiveKey *key, const char *path, char **text, size_t *length,
                    PdError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? pd_error_set(err, PD_ERR_NOT_FOUND, "%s does not exist", path)
                               : pd_archive_io_error(err, "open", path);
    struct stat st;
    char *bytes = NULL;
    size_t got = 0;
    bool ok = fstat(fd, &st) == 0 || pd_archive_io_error(err, "stat", path);
    if (ok && (uint64_t)st.st_size > MANIFEST_MAX_BYTES)
        ok = pd_error_set(err, PD_ERR_REFUSED, "%s is larger than a manifest can be (%lld bytes)", path,
                          (long long)st.st_size);
    if (ok && (bytes = pd_arena_alloc(arena, (size_t)st.st_size + 1)) == NULL)
        ok = pd_arena_error(arena, err);
    if (ok)
        ok = pd_archive_read_full(fd, bytes, (size_t)st.st_size, &got, path, err);
    close(fd);
    if (ok && key == NULL && !pd_seal_is_sealed(bytes, got)) /* plain: the bytes as read */
    {
        bytes[got] = '\0';
        *text = bytes;
        *length = got;
        return true;
    }
    return ok && pd_unseal_text(arena, key, bytes, got, path, text, length, err);
}

bool
pd_backup_write_text(PdArena *arena, const PdArchiveKey *key, const char *dir, const char *name,
                     const char *text, PdError *err)
{
    void *sealed;
    size_t length;
    char *final = pd_archive_join(arena, dir, name);
    if (final == NULL)
        return pd_arena_error(arena, err);
    return pd_seal_text(arena, key, final, text, strlen(text), &sealed, &length, err) &&
           pd_archive_write_durably(arena, dir, name, sealed, length, err);
}

bool
pd_backup_read(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label,
               PdBackupManifest *manifest, PdError *err)
{
    char *text = NULL;
    size_t length = 0;
    char *path =
        pd_arena_sprintf(arena, "%s/%s/%s/%s", repo, PD_BACKUP_FOLDER, label, PD_BACKUP_MANIFEST_NAME);
    if (path == NULL)
        return pd_arena_error(arena, err);
    if (!pd_backup_read_text(arena, key, path, &text, &length, err) ||
        !pd_backup_manifest_decode(arena, text, length, path, manifest, err))
        return false;
    if (strcmp(manifest->label, label) != 0)
        return pd_error_set(err, PD_ERR_REFUSED, "manifest %s names another backup: %s", path,
                            manifest->label);
    return true;
}

static int
compare_labels(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool
add_name(PdArena *arena, const char ***names, size_t *count, size_t *capacity, const char *name, PdError *err)
{
    if (*count == *capacity)
    {
        size_t grown = *capacity ? *capacity * 2 : 16;
        const char **bigger = pd_arena_grow(arena, (void *)*names, *capacity, grown, sizeof(*bigger));
        if (bigger == NULL)
            return pd_arena_error(arena, err);
        *names = bigger;
        *capacity = grown;
    }
    if (((*names)[(*count)++] = pd_arena_strdup(arena, name)) == NULL)
        return pd_arena_error(arena, err);
    return true;
}

bool
pd_backup_list(PdArena *arena, const char *repo, const PdArchiveKey *key, PdBackupList *list, PdError *err)
{
    *list = (PdBackupList){0};
    char *dir = pd_backup_dir(arena, repo, NULL);
    if (dir == NULL)
        return pd_arena_error(arena, err);
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return errno == ENOENT || pd_archive_io_error(err, "open the directory", dir); /* no backup yet */
    const char **labels = NULL;
    size_t label_count = 0, capacity = 0, incomplete_capacity = 0;
    struct dirent *item;
    bool ok = true;
    while (ok && (errno = 0, item = readdir(handle)) != NULL)
    {
        if (!pd_backup_is_label(item->d_name))
            continue;
        char *manifest = pd_arena_sprintf(arena, "%s/%s/%s", dir, item->d_name, PD_BACKUP_MANIFEST_NAME);
        if (manifest == NULL)
            ok = pd_arena_error(arena, err);
        else if (access(manifest, F_OK) == 0)
            ok = add_name(arena, &labels, &label_count, &capacity, item->d_name, err);
        else
            ok = add_name(arena, &list->incomplete, &list->incomplete_count, &incomplete_capacity,
                          item->d_name, err);
    }
    if (ok && errno != 0)
        ok = pd_archive_io_error(err, "read the directory", dir);
    closedir(handle);
    if (!ok)
        return false;
    qsort(labels, label_count, sizeof(*labels), compare_labels);
    list->backups = pd_arena_calloc(arena, label_count ? label_count : 1, sizeof(*list->backups));
    if (list->backups == NULL)
        return pd_arena_error(arena, err);
    size_t damaged_capacity = 0;
    for (size_t i = 0; i < label_count; i++)
    {
        PdError why;
        pd_error_init(&why);
        if (pd_backup_read(arena, repo, key, labels[i], &list->backups[list->count], &why))
            list->count++;
        else if (why.code == PD_ERR_REFUSED) /* one damaged manifest does not hide the other backups */
        {
            char *text = pd_arena_sprintf(arena, "%s: %s", labels[i], why.message);
            if (text == NULL ||
                !add_name(arena, &list->damaged, &list->damaged_count, &damaged_capacity, text, err))
                return pd_arena_error(arena, err);
        }
        else
            return *err = why, false;
    }
    return true;
}

bool
pd_backup_write_manifest(PdArena *arena, const char *backup_dir, const PdArchiveKey *key,
                         const PdBackupManifest *manifest, PdError *err)
{
    char *json;
    return pd_backup_manifest_encode(arena, manifest, &json, err) &&
           pd_backup_write_text(arena, key, backup_dir, PD_BACKUP_MANIFEST_NAME, json, err);
}

bool
pd_backup_lock(PdArena *arena, const char *repo, int *fd, PdError *err)
{
    char *dir = pd_backup_dir(arena, repo, NULL);
    char *path = dir != NULL ? pd_archive_join(arena, dir, ".lock") : NULL;
    if (path == NULL)
        return pd_arena_error(arena, err);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pd_archive_io_error(err, "create", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return pd_archive_io_error(err, "open", path);
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    int saved = errno;
    close(*fd);
    *fd = -1;
    if (saved == EWOULDBLOCK)
        return pd_error_set(err, PD_ERR_REFUSED, "another backup or expire is running on the repository %s",
                            repo);
    errno = saved;
    return pd_archive_io_error(err, "lock", path);
}

static const char
    *removal_root; /* nftw's callback has no context: the folder kept (remove_tree's keep_root) */

static int
remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0 && removal_root != NULL)
        return 0;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

bool
pd_backup_remove_tree(const char *path, bool keep_root, PdError *err)
{
    removal_root = keep_root ? path : NULL;
    int failed = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    removal_root = NULL;
    if (failed != 0 && errno != ENOENT)
        return pd_archive_io_error(err, "remove", path);
    return true;
}

bool
pd_backup_remove(PdArena *arena, const char *repo, const char *label, PdError *err)
{
    if (!pd_backup_is_label(label))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not a backup label", label);
    char *dir = pd_backup_dir(arena, repo, label);
    char *parent = pd_backup_dir(arena, repo, NULL);
    if (dir == NULL || parent == NULL)
        return pd_arena_error(arena, err);
    return pd_backup_remove_tree(dir, false, err) && pd_archive_fsync_dir(parent, err);
}

bool
pd_backup_wal_range(PdArena *arena, const char *repo, const PdBackupManifest *backup, uint32_t segment_bytes,
                    PdBackupWalRange *range, PdError *err)
{
    PdWalName start, stop;
    *range = (PdBackupWalRange){0};
    if (!pd_archive_parse_name(backup->start_wal, &start, err) ||
        !pd_archive_parse_name(backup->stop_wal, &stop, err))
        return false;
    if (!pd_archive_segno(&start, segment_bytes, &range->first_segno) ||
        !pd_archive_segno(&stop, segment_bytes, &range->last_segno) ||
        range->last_segno < range->first_segno || range->last_segno - range->first_segno >= 1u << 20)
        return pd_error_set(err, PD_ERR_REFUSED,
                            "backup %s names WAL %s .. %s, which segments of %u bytes cannot be",
                            backup->label, backup->start_wal, backup->stop_wal, segment_bytes);
    range->timeline = start.timeline;
    range->count = (size_t)(range->last_segno - range->first_segno + 1);
    range->names = pd_arena_calloc(arena, range->count, sizeof(*range->names));
    range->paths = pd_arena_calloc(arena, range->count, sizeof(*range->paths));
    if (range->names == NULL || range->paths == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < range->count; i++)
    {
        pd_archive_segment_name(stop.timeline, range->first_segno + i, segment_bytes, range->names[i]);
        if ((range->paths[i] = pd_archive_join(arena, repo, range->names[i])) == NULL)
            return pd_arena_error(arena, err);
    }
    return true;
}
