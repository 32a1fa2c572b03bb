/*
 * restore_space.c - a restore's tablespaces. A backup lists each tablespace
 * as a link pg_tblspc/OID with its target and the tablespace's contents as
 * pg_tblspc/OID/...; a restore puts each tablespace in a directory of its
 * own: the target it had, or where --tablespace-map OID=DIR or
 * --tablespace-root DIR (ROOT/OID) sends it. Every such directory must be
 * absent or empty, and outside the data directory, before anything is
 * written; the entries under pg_tblspc/OID are placed in it directly (no
 * write goes through a link), the link is made, and tablespace_map (which
 * PostgreSQL reads at the start of recovery, re-making the links from it)
 * names the directories chosen.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/strbuf.h"
#include "restore_plan.h"
#include "store.h"

/* OID=DIR of list ("OID=DIR,OID=DIR"), or NULL. */
static const char *
mapped(PdArena *arena, const char *list, const char *oid)
{
    size_t length = strlen(oid);
    for (const char *at = list; at != NULL && *at != '\0';)
    {
        const char *end = strchr(at, ',');
        size_t item = end != NULL ? (size_t)(end - at) : strlen(at);
        if (item > length && strncmp(at, oid, length) == 0 && at[length] == '=')
            return pd_arena_strndup(arena, at + length + 1, item - length - 1);
        at = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

/* Each OID of --tablespace-map is a tablespace of the backup (a typo must not restore into the old place). */
static bool
check_map(const PdRestoreOptions *options, const PdBackupManifest *backup, PdError *err)
{
    for (const char *at = options->tablespace_map; at != NULL && *at != '\0';)
    {
        const char *end = strchr(at, ',');
        size_t digits = strspn(at, "0123456789");
        bool is_known = false;
        for (size_t i = 0; !is_known && digits > 0 && at[digits] == '=' && i < backup->entry_count; i++)
            is_known = backup->entries[i].kind == PD_BACKUP_ENTRY_LINK &&
                       strlen(backup->entries[i].path) == 10 + digits &&
                       strncmp(backup->entries[i].path + 10, at, digits) == 0;
        if (!is_known)
        {
            pd_error_set(err, PD_ERR_USAGE,
                         "--tablespace-map '%.*s' names no tablespace of backup %s (OID=DIR)",
                         (int)(end != NULL ? (size_t)(end - at) : strlen(at)), at, backup->label);
            return pd_error_field(err, "--tablespace-map");
        }
        at = end != NULL ? end + 1 : NULL;
    }
    return true;
}

/* One tablespace: where it goes, checked to be absolute and outside the data directory. */
static bool
place_one(PdArena *arena, const PdRestoreOptions *options, const PdBackupEntry *link, PdRestoreSpace *space,
          PdError *err)
{
    space->oid = link->path + 10;
    const char *chosen = mapped(arena, options->tablespace_map, space->oid);
    if (chosen == NULL && options->tablespace_root != NULL)
        chosen = pd_archive_join(arena, options->tablespace_root, space->oid);
    char *dir = pd_arena_strdup(arena, chosen != NULL ? chosen : link->target);
    for (size_t length = dir != NULL ? strlen(dir) : 0; length > 1 && dir[length - 1] == '/';)
        dir[--length] = '\0'; /* "/d/" and "/d" are one directory */
    space->dir = dir;
    space->link = pd_archive_join(arena, options->data_dir, link->path);
    if (space->dir == NULL || space->link == NULL)
        return pd_arena_error(arena, err);
    size_t data = strlen(options->data_dir);
    if (space->dir[0] != '/' || strstr(space->dir, "/../") != NULL ||
        (strncmp(space->dir, options->data_dir, data) == 0 &&
         (space->dir[data] == '/' || space->dir[data] == '\0')))
    {
        pd_error_set(err, PD_ERR_USAGE,
                     "tablespace %s would go to %s: not an absolute path outside the data "
                     "directory",
                     space->oid, space->dir);
        return pd_error_field(err, "--tablespace-map");
    }
    return true;
}

bool
pd_restore_spaces_plan(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                       PdRestoreSpaces *spaces, PdError *err)
{
    *spaces = (PdRestoreSpaces){.data_dir = options->data_dir};
    size_t count = 0;
    for (size_t i = 0; i < backup->entry_count; i++)
        count += backup->entries[i].kind == PD_BACKUP_ENTRY_LINK;
    if (!check_map(options, backup, err))
        return false;
    if (count == 0)
        return true;
    if ((spaces->spaces = pd_arena_calloc(arena, count, sizeof(*spaces->spaces))) == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < backup->entry_count; i++)
        if (backup->entries[i].kind == PD_BACKUP_ENTRY_LINK &&
            !place_one(arena, options, &backup->entries[i], &spaces->spaces[spaces->count++], err))
            return false;
    for (size_t i = 0; i < spaces->count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(spaces->spaces[i].dir, spaces->spaces[j].dir) == 0)
            {
                pd_error_set(err, PD_ERR_USAGE, "tablespaces %s and %s would both go to %s",
                             spaces->spaces[j].oid, spaces->spaces[i].oid, spaces->spaces[i].dir);
                return pd_error_field(err, "--tablespace-map");
            }
    return true;
}

/* The first name dir holds ("" when empty). */
static bool
first_name(const char *dir, char *found, size_t size, PdError *err)
{
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return pd_archive_io_error(err, "open the directory", dir);
    struct dirent *item;
    found[0] = '\0';
    while (found[0] == '\0' && (item = readdir(handle)) != NULL)
        if (strcmp(item->d_name, ".") != 0 && strcmp(item->d_name, "..") != 0)
            snprintf(found, size, "%s", item->d_name);
    closedir(handle);
    return true;
}

bool
pd_restore_spaces_check(const PdRestoreSpaces *spaces, PdError *err)
{
    for (size_t i = 0; i < spaces->count; i++)
    {
        const PdRestoreSpace *space = &spaces->spaces[i];
        struct stat st;
        char found[256];
        if (space->is_kept || stat(space->dir, &st) != 0)
            continue; /* absent: pd_restore_spaces_prepare makes it */
        if (!S_ISDIR(st.st_mode) || !first_name(space->dir, found, sizeof(found), err))
            return S_ISDIR(st.st_mode)
                       ? false
                       : pd_error_set(err, PD_ERR_REFUSED, "%s is not a directory", space->dir);
        if (found[0] == '\0')
            continue;
        pd_error_set(err, PD_ERR_REFUSED, "tablespace %s's directory %s is not empty (it holds %s)",
                     space->oid, space->dir, found);
        return pd_error_hint(err,
                             "Send it elsewhere with --tablespace-map %s=DIR (or every tablespace with "
                             "--tablespace-root DIR); nothing was written.",
                             space->oid);
    }
    return true;
}

bool
pd_restore_spaces_prepare(PdArena *arena, PdRestoreSpaces *spaces, PdError *err)
{
    if (!pd_restore_spaces_check(spaces, err))
        return false;
    for (size_t i = 0; i < spaces->count; i++)
    {
        PdRestoreSpace *space = &spaces->spaces[i];
        if (space->is_kept)
            continue; /* the cluster's own, swept by the delta restore */
        if (!pd_restore_make_path(arena, space->dir, &space->is_made, err))
            return false;
        space->is_ours = true; /* empty or made: a failure later may empty it again */
        if (chmod(space->dir, 0700) != 0)
            return pd_archive_io_error(err, "chmod", space->dir);
    }
    return true;
}

char *
pd_restore_spaces_place(PdArena *arena, const PdRestoreSpaces *spaces, const char *path)
{
    for (size_t i = 0; i < spaces->count; i++)
    {
        const PdRestoreSpace *space = &spaces->spaces[i];
        size_t link = 10 + strlen(space->oid); /* "pg_tblspc/OID" */
        if (strncmp(path, "pg_tblspc/", 10) == 0 && strncmp(path + 10, space->oid, link - 10) == 0 &&
            path[link] == '/')
            return pd_archive_join(arena, space->dir, path + link + 1);
    }
    return pd_archive_join(arena, spaces->data_dir, path);
}

bool
pd_restore_spaces_link(const PdRestoreSpaces *spaces, PdError *err)
{
    for (size_t i = 0; i < spaces->count; i++)
        if (!spaces->spaces[i].is_kept && symlink(spaces->spaces[i].dir, spaces->spaces[i].link) != 0)
            return pd_archive_io_error(err, "create the link", spaces->spaces[i].link);
    return true;
}

bool
pd_restore_spaces_sync(const PdRestoreSpaces *spaces, PdError *err)
{
    for (size_t i = 0; i < spaces->count; i++) /* a tablespace on another file system: its own syncfs */
        if (!pd_archive_sync_filesystem(spaces->spaces[i].dir, err) ||
            !pd_archive_fsync_dir(spaces->spaces[i].dir, err))
            return false;
    return true;
}

char *
pd_restore_spaces_map(PdArena *arena, const PdRestoreSpaces *spaces, const char *map)
{
    if (map == NULL || spaces->count == 0)
        return (char *)map;
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; i < spaces->count; i++) /* "OID PATH", one a line, \ \n \r escaped by a backslash */
    {
        pd_strbuf_appendf(&out, "%s ", spaces->spaces[i].oid);
        for (const char *c = spaces->spaces[i].dir; *c != '\0'; c++)
        {
            if (*c == '\\' || *c == '\n' || *c == '\r')
                pd_strbuf_append(&out, "\\");
            pd_strbuf_append_length(&out, c, 1);
        }
        pd_strbuf_append(&out, "\n");
    }
    pd_strbuf_append(&out, "");
    return pd_strbuf_failed(&out) ? NULL : (char *)pd_strbuf_text(&out);
}

void
pd_restore_spaces_undo(const PdRestoreSpaces *spaces)
{
    PdError ignored;
    pd_error_init(&ignored);
    for (size_t i = 0; i < spaces->count; i++)
        if (spaces->spaces[i].is_ours)
            (void)pd_backup_remove_tree(spaces->spaces[i].dir, !spaces->spaces[i].is_made, &ignored);
}
