/*
 * backup_points.c - named restore points: `prodata backup restore-point
 * NAME` makes one on the server (pg_create_restore_point), switches to a new
 * WAL segment so that the point is archived at once, and records its LSN in
 * the repository (backup/points/NAME.json, written atomically), so that a
 * restore to that name starts from the newest backup that ends before it
 * and refuses one that ends after it. A name is 1 to 63 bytes (PostgreSQL's
 * limit), printable, and made once.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "prodata/db.h"
#include "store.h"

bool
pd_backup_point_name_ok(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '/' || name[i] == 0x7f)
            return false;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static char *
point_path(PdArena *arena, const char *repo, const char *name)
{
    return pd_arena_sprintf(arena, "%s/%s/points/%s.json", repo, PD_BACKUP_FOLDER, name);
}

bool
pd_backup_point_read(PdArena *arena, const char *repo, const char *name, PdBackupPoint *point, bool *is_found,
                     PdError *err)
{
    *is_found = false;
    if (!pd_backup_point_name_ok(name))
        return true; /* never recorded: no path is made of it */
    char *path = point_path(arena, repo, name);
    if (path == NULL)
        return pd_arena_error(arena, err);
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (root == NULL)
        return access(path, F_OK) != 0 ||
               pd_error_set(err, PD_ERR_REFUSED, "restore point file %s does not read: %s", path, error.text);
    const char *lsn = json_string_value(json_object_get(root, "lsn"));
    json_t *time_value = json_object_get(root, "time");
    bool ok = lsn != NULL && pd_backup_parse_lsn(lsn, &point->lsn) && json_is_integer(time_value);
    if (ok)
    {
        point->name = pd_arena_strdup(arena, name);
        point->time = json_integer_value(time_value);
        *is_found = point->name != NULL;
    }
    json_decref(root);
    if (!ok)
        return pd_error_set(err, PD_ERR_REFUSED, "restore point file %s is not valid: it needs lsn and time",
                            path);
    return *is_found || pd_arena_error(arena, err);
}

static bool
write_point(PdArena *arena, const char *repo, const PdBackupPoint *point, PdError *err)
{
    char *dir = pd_arena_sprintf(arena, "%s/%s/points", repo, PD_BACKUP_FOLDER);
    char *path = point_path(arena, repo, point->name);
    char *temp = pd_arena_sprintf(arena, "%s/.%s.tmp", dir != NULL ? dir : "", point->name);
    char lsn[20];
    pd_backup_format_lsn(point->lsn, lsn);
    json_t *root =
        json_pack("{s:s, s:s, s:I}", "name", point->name, "lsn", lsn, "time", (json_int_t)point->time);
    char *text = root != NULL ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (dir == NULL || path == NULL || temp == NULL || text == NULL)
    {
        free(text);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a restore point");
    }
    int fd = (mkdir(dir, 0700) == 0 || errno == EEXIST)
                 ? open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                 : -1;
    bool ok = fd >= 0 || pd_archive_io_error(err, "create", temp);
    ok = ok && pd_archive_write_all(fd, text, strlen(text), temp, err) &&
         (fsync(fd) == 0 || pd_archive_io_error(err, "fsync", temp));
    free(text);
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", temp);
    if (ok && link(temp, path) != 0) /* never replaces a point made meanwhile */
        ok = pd_archive_io_error(err, "record", path);
    unlink(temp);
    return ok && pd_archive_fsync_dir(dir, err);
}

bool
pd_backup_point_create(PdArena *arena, const char *repo, const char *conninfo, const char *name,
                       PdBackupPoint *point, PdError *err)
{
    bool is_found;
    if (!pd_backup_point_name_ok(name))
    {
        pd_error_set(err, PD_ERR_USAGE,
                     "a restore point's name is 1 to 63 printable bytes without '/', not '%s'", name);
        return pd_error_field(err, "name");
    }
    if (!pd_backup_point_read(arena, repo, name, point, &is_found, err))
        return false;
    if (is_found)
    {
        char lsn[20];
        pd_backup_format_lsn(point->lsn, lsn);
        pd_error_set(err, PD_ERR_REFUSED, "the restore point %s exists already (at %s)", name, lsn);
        return pd_error_hint(err, "Give the new one another name: a restore stops at the first of a name.");
    }
    PdDb *db = NULL;
    PdDbResult *result;
    const char *params[] = {name};
    bool ok = pd_db_connect(conninfo, &db, err) &&
              pd_db_query(arena, db, "SELECT pg_create_restore_point($1)::text", 1, params, &result, err) &&
              pd_backup_parse_lsn(pd_db_result_value(result, 0, 0), &point->lsn) &&
              pd_db_query(arena, db, "SELECT pg_switch_wal()", 0, NULL, &result, err);
    pd_db_close(db);
    if (!ok) /* every step but the LSN's parse sets err */
        return err->code == PD_OK && pd_error_set(err, PD_ERR_DB_QUERY, "the server returned no LSN");
    point->name = name;
    point->time = (int64_t)time(NULL);
    return write_point(arena, repo, point, err);
}
