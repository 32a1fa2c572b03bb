/*
 * backup_walk.c - what of a data directory goes into a base backup: every
 * directory, and every file except those PostgreSQL itself leaves out of a
 * base backup (its "Backing Up the Data Directory" list): the postmaster's
 * pid and options, an old backup_label or tablespace_map, the contents of
 * pg_wal (the archive holds the WAL), pg_replslot, pg_dynshmem, pg_notify,
 * pg_serial, pg_snapshots, pg_stat_tmp and pg_subtrans, temporary files,
 * relcache init files, and the main fork of unlogged relations (restored
 * empty from their init fork). A tablespace (a link pg_tblspc/OID) is a
 * link entry with its target, and its contents are walked through the link
 * as pg_tblspc/OID/...; a linked pg_wal is a directory (its contents are
 * left out anyway); any other link is refused. The walk lists entries in an
 * order a restore can create them in (a directory before what it holds);
 * copying is backup_copy.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

/* Directories whose contents are left out (the directory itself is kept, empty). */
static const char *const skipped_contents[] = {
    "pg_dynshmem", "pg_notify", "pg_replslot", "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans",
};

/* Files of the top directory left out. */
static const char *const skipped_top_files[] = {
    "postmaster.pid",   "postmaster.opts", "backup_label",    "tablespace_map",   "backup_manifest",
    "backup_label.old", "standby.signal",  "recovery.signal", "current_logfiles", "prodata-restore.log",
};

typedef struct Walk
{
    PdArena *arena;
    const char *root;
    PdBackupEntry *entries;
    size_t count;
    size_t capacity;
    uint64_t bytes;
} Walk;

static bool
is_listed(const char *name, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* Files of any directory left out: temporary files and the relation cache's init file. */
static bool
is_skipped_file(const char *relative, const char *name)
{
    if (strncmp(name, "pgsql_tmp", 9) == 0 || strcmp(name, "pg_internal.init") == 0)
        return true;
    if (strchr(relative, '/') == NULL)
        return is_listed(name, skipped_top_files, sizeof(skipped_top_files) / sizeof(skipped_top_files[0]));
    return strncmp(relative, "pg_wal/", 7) == 0 && strcmp(relative, "pg_wal/archive_status") != 0;
}

static PdBackupEntry *
add_entry(Walk *walk, PdBackupEntryKind kind, const char *relative, const struct stat *st, PdError *err)
{
    if (walk->count == walk->capacity)
    {
        size_t capacity = walk->capacity ? walk->capacity * 2 : 256;
        PdBackupEntry *grown =
            pd_arena_grow(walk->arena, walk->entries, walk->capacity, capacity, sizeof(*grown));
        if (grown == NULL)
            return pd_arena_error(walk->arena, err), NULL;
        walk->entries = grown;
        walk->capacity = capacity;
    }
    PdBackupEntry *entry = &walk->entries[walk->count];
    *entry = (PdBackupEntry){.kind = kind, .mode = st->st_mode & 07777, .mtime = st->st_mtime};
    entry->path = pd_arena_strdup(walk->arena, relative);
    if (entry->path == NULL)
        return pd_arena_error(walk->arena, err), NULL;
    if (kind == PD_BACKUP_ENTRY_FILE)
    {
        entry->bytes = (uint64_t)st->st_size;
        walk->bytes += entry->bytes;
    }
    walk->count++;
    return entry;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in dir (without . and ..), sorted, arena-allocated. A directory that vanished reads empty. */
static bool
list_names(Walk *walk, const char *dir, char ***names, size_t *count, PdError *err)
{
    *names = NULL;
    *count = 0;
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return errno == ENOENT || pd_archive_io_error(err, "open the directory", dir);
    size_t capacity = 0;
    struct dirent *item;
    bool ok = true;
    while (ok && (errno = 0, item = readdir(handle)) != NULL)
    {
        if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
            continue;
        if (*count == capacity)
        {
            size_t grown = capacity ? capacity * 2 : 64;
            char **bigger = pd_arena_grow(walk->arena, *names, capacity, grown, sizeof(*bigger));
            ok = bigger != NULL || pd_arena_error(walk->arena, err);
            *names = bigger;
            capacity = grown;
        }
        if (ok && ((*names)[(*count)++] = pd_arena_strdup(walk->arena, item->d_name)) == NULL)
            ok = pd_arena_error(walk->arena, err);
    }
    if (ok && errno != 0)
        ok = pd_archive_io_error(err, "read the directory", dir);
    closedir(handle);
    if (ok && *count > 1)
        qsort(*names, *count, sizeof(**names), compare_names);
    return ok;
}

/*
 * An unlogged relation's files other than its init fork: base/DB/NODE, NODE.1, NODE_fsm, ... when
 * NODE_init is among the names (PostgreSQL resets them from the init fork when it starts after a crash
 * or a restore, so their contents are never needed).
 */
static bool
is_unlogged_data(char *const *names, size_t count, const char *name)
{
    size_t digits = strspn(name, "0123456789");
    if (digits == 0 || strcmp(name + digits, "_init") == 0 ||
        (name[digits] != '\0' && name[digits] != '.' && name[digits] != '_'))
        return false;
    char init[64];
    if (digits + 6 > sizeof(init))
        return false;
    memcpy(init, name, digits);
    memcpy(init + digits, "_init", 6);
    return bsearch(&(const char *){init}, names, count, sizeof(*names), compare_names) != NULL;
}

static bool walk_dir(Walk *walk, const char *relative, PdError *err);

/* Whether relative is a database's folder: base/DB, or pg_tblspc/OID/PG_VERSION_CATALOG/DB in a tablespace.
 */
static bool
is_database_dir(const char *relative)
{
    if (strncmp(relative, "base/", 5) == 0)
        return true;
    int slashes = 0;
    for (const char *c = relative; *c != '\0'; c++)
        slashes += *c == '/';
    return strncmp(relative, "pg_tblspc/", 10) == 0 && slashes == 3;
}

/*
 * A link: pg_tblspc/OID (a tablespace) becomes a link entry, its target's contents walked as
 * pg_tblspc/OID/...; pg_wal linked elsewhere (initdb -X) a directory, left empty as ever; anything else is
 * refused.
 */
static bool
walk_link(Walk *walk, const char *relative, const char *name, const char *child, const char *path,
          const struct stat *link, PdError *err)
{
    struct stat st;
    bool is_space = strcmp(relative, "pg_tblspc") == 0 && strspn(name, "0123456789") == strlen(name);
    bool is_wal = relative[0] == '\0' && strcmp(name, "pg_wal") == 0;
    if ((is_space || is_wal) && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        return pd_error_set(err, PD_ERR_REFUSED, "%s links to a directory that is missing or is no directory",
                            path);
    if (!is_space && !is_wal)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "%s is a symbolic link, and not a tablespace's (pg_tblspc/OID) or pg_wal", path);
        return pd_error_hint(err,
                             "Backups follow only tablespace links and a linked pg_wal; move the data back "
                             "into the data directory.");
    }
    if (is_wal)
        return add_entry(walk, PD_BACKUP_ENTRY_DIR, child, &st, err) != NULL;
    char target[4096];
    ssize_t length = readlink(path, target, sizeof(target) - 1);
    if (length <= 0)
        return pd_archive_io_error(err, "read the link", path);
    target[length] = '\0';
    if (target[0] != '/')
        return pd_error_set(err, PD_ERR_REFUSED, "tablespace link %s points to a relative path (%s)", path,
                            target);
    PdBackupEntry *entry = add_entry(walk, PD_BACKUP_ENTRY_LINK, child, link, err);
    if (entry == NULL || (entry->target = pd_arena_strdup(walk->arena, target)) == NULL)
        return entry == NULL ? false : pd_arena_error(walk->arena, err);
    return walk_dir(walk, child, err);
}

static bool
walk_item(Walk *walk, const char *relative, const char *name, char *const *names, size_t count, PdError *err)
{
    char *child = relative[0] ? pd_arena_sprintf(walk->arena, "%s/%s", relative, name)
                              : pd_arena_strdup(walk->arena, name);
    char *path = child != NULL ? pd_archive_join(walk->arena, walk->root, child) : NULL;
    if (path == NULL)
        return pd_arena_error(walk->arena, err);
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT || pd_archive_io_error(err, "stat", path); /* dropped meanwhile */
    if (S_ISLNK(st.st_mode))
        return walk_link(walk, relative, name, child, path, &st, err);
    if (S_ISDIR(st.st_mode))
        return add_entry(walk, PD_BACKUP_ENTRY_DIR, child, &st, err) != NULL &&
               ((relative[0] == '\0' &&
                 is_listed(name, skipped_contents, sizeof(skipped_contents) / sizeof(skipped_contents[0]))) ||
                strncmp(name, "pgsql_tmp", 9) == 0 || walk_dir(walk, child, err));
    if (!S_ISREG(st.st_mode) || is_skipped_file(child, name) ||
        (is_database_dir(relative) && is_unlogged_data(names, count, name)))
        return true;
    return add_entry(walk, PD_BACKUP_ENTRY_FILE, child, &st, err) != NULL;
}

static bool
walk_dir(Walk *walk, const char *relative, PdError *err)
{
    char **names;
    size_t count;
    const char *dir = relative[0] ? pd_archive_join(walk->arena, walk->root, relative) : walk->root;
    if (dir == NULL)
        return pd_arena_error(walk->arena, err);
    if (!list_names(walk, dir, &names, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
        if (!walk_item(walk, relative, names[i], names, count, err))
            return false;
    return true;
}

bool
pd_backup_walk(PdArena *arena, const char *data_dir, PdBackupEntry **entries, size_t *count, uint64_t *bytes,
               PdError *err)
{
    Walk walk = {.arena = arena, .root = data_dir};
    struct stat st;
    if (stat(data_dir, &st) != 0)
        return pd_archive_io_error(err, "stat the data directory", data_dir);
    if (!S_ISDIR(st.st_mode))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not a directory", data_dir);
    if (!walk_dir(&walk, "", err))
        return false;
    *entries = walk.entries;
    *count = walk.count;
    *bytes = walk.bytes;
    return true;
}
