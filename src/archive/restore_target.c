/*
 * restore_target.c - a restore's recovery target read strictly, and the
 * backup it starts from: the one named, checked to end before the target,
 * or the newest that does. A target before every backup's end is refused
 * before anything is written, naming the earliest target that would work
 * (a target past the archived WAL is refused before anything is written
 * too, once the backup is chosen: restore_reach.c). Times need an offset
 * (UTC "Z" or "+01:00"): a bare time would be read in the restored server's
 * time zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"

const char *
pd_restore_target_setting(PdRestoreTargetKind kind)
{
    switch (kind)
    {
        case PD_RESTORE_IMMEDIATE:
            return "recovery_target";
        case PD_RESTORE_TIME:
            return "recovery_target_time";
        case PD_RESTORE_LSN:
            return "recovery_target_lsn";
        case PD_RESTORE_XID:
            return "recovery_target_xid";
        case PD_RESTORE_NAME:
            return "recovery_target_name";
        case PD_RESTORE_END:
            break;
    }
    return NULL;
}

static bool
digits(const char *text, int count)
{
    for (int i = 0; i < count; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

/* "+HH", "+HH:MM", "+HHMM" or "Z" into seconds east of UTC. */
static bool
parse_offset(const char *text, long *seconds)
{
    if (strcmp(text, "Z") == 0 || strcmp(text, "z") == 0)
        return (*seconds = 0), true;
    if ((text[0] != '+' && text[0] != '-') || !digits(text + 1, 2))
        return false;
    long hours = (text[1] - '0') * 10 + (text[2] - '0'), minutes = 0;
    const char *rest = text + 3;
    if (*rest == ':')
        rest++;
    if (*rest != '\0')
    {
        if (!digits(rest, 2) || rest[2] != '\0')
            return false;
        minutes = (rest[0] - '0') * 10 + (rest[1] - '0');
    }
    if (hours > 15 || minutes > 59)
        return false;
    *seconds = (text[0] == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
    return true;
}

bool
pd_restore_parse_time(const char *text, int64_t *epoch)
{
    int year, month, day, hour, minute, second, used = 0;
    if (strlen(text) < 20 || !digits(text, 4) || text[4] != '-' || !digits(text + 5, 2) || text[7] != '-' ||
        !digits(text + 8, 2) || (text[10] != ' ' && text[10] != 'T') || !digits(text + 11, 2) ||
        text[13] != ':' || !digits(text + 14, 2) || text[16] != ':' || !digits(text + 17, 2) ||
        sscanf(text, "%4d-%2d-%2d%*c%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &used) != 6)
        return false;
    const char *rest = text + used;
    if (*rest == '.')
        rest += 1 + strspn(rest + 1, "0123456789");
    long offset;
    if (!parse_offset(rest, &offset) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60)
        return false;
    struct tm utc = {.tm_year = year - 1900,
                     .tm_mon = month - 1,
                     .tm_mday = day,
                     .tm_hour = hour,
                     .tm_min = minute,
                     .tm_sec = second};
    time_t seconds = timegm(&utc);
    if (utc.tm_mday != day) /* 31 February and the like, normalised away by timegm */
        return false;
    *epoch = (int64_t)seconds - offset;
    return true;
}

static bool
check_target(const PdRestoreOptions *options, int64_t *time_target, uint64_t *lsn_target, PdError *err)
{
    const char *text = options->target;
    bool ok = true;
    for (const char *c = text != NULL ? text : ""; *c != '\0'; c++)
    {
        if ((unsigned char)*c >= 0x20 && *c != 0x7f)
            continue; /* it goes into postgresql.auto.conf, quoted: a newline or a tab would change it */
        pd_error_set(err, PD_ERR_USAGE,
                     "the recovery target holds a control character (a tab, a newline, ...)");
        return pd_error_field(err, "%s", pd_restore_target_setting(options->target_kind));
    }
    switch (options->target_kind)
    {
        case PD_RESTORE_TIME:
            ok = pd_restore_parse_time(text, time_target);
            break;
        case PD_RESTORE_LSN:
            ok = pd_backup_parse_lsn(text, lsn_target);
            break;
        case PD_RESTORE_XID:
            ok = text[0] != '\0' && strspn(text, "0123456789") == strlen(text) && strlen(text) <= 20;
            break;
        case PD_RESTORE_NAME:
            ok = text[0] != '\0' && strlen(text) < 64;
            break;
        case PD_RESTORE_END:
        case PD_RESTORE_IMMEDIATE:
            break;
    }
    if (ok)
        return true;
    static const char *const shapes[] = {"",
                                         "",
                                         "a time with its offset: 2026-12-01 10:30:00+00",
                                         "an LSN: 0/5000028",
                                         "a transaction id: digits",
                                         "a restore point's name, 1 to 63 bytes"};
    pd_error_set(err, PD_ERR_USAGE, "the recovery target '%s' is not %s", text, shapes[options->target_kind]);
    return pd_error_field(err, "%s", pd_restore_target_setting(options->target_kind));
}

void
pd_backup_format_time(int64_t epoch, char out[32])
{
    time_t seconds = (time_t)epoch;
    struct tm utc;
    gmtime_r(&seconds, &utc);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S+00", &utc);
}

/* Whether backup ends at or before the target (no target, or a name or xid: any backup may do). */
static bool
ends_before(const PdBackupManifest *backup, PdRestoreTargetKind kind, int64_t time_target,
            uint64_t lsn_target)
{
    if (kind == PD_RESTORE_TIME)
        return backup->stop_time <= time_target;
    if (kind == PD_RESTORE_LSN)
        return backup->stop_lsn <= lsn_target;
    return true;
}

static bool
too_early(const PdBackupManifest *backup, PdRestoreTargetKind kind, PdError *err)
{
    char end[32];
    if (kind == PD_RESTORE_TIME)
        pd_backup_format_time(backup->stop_time, end);
    else
        pd_backup_format_lsn(backup->stop_lsn, end);
    pd_error_set(err, PD_ERR_REFUSED,
                 "the recovery target is before the end of backup %s, which is consistent only from %s",
                 backup->label, end);
    pd_error_hint(err,
                  "Give a target at or after %s, or a backup that ends before the target "
                  "(prodata backup list); nothing was written.",
                  end);
    return false;
}

/* --max-age: a backup that ended longer ago is refused (a standby would rather copy its primary). */
static bool
check_age(const PdRestoreOptions *options, const PdBackupManifest *chosen, PdError *err)
{
    int64_t age = (int64_t)time(NULL) - chosen->stop_time;
    if (options->max_age_s <= 0 || age <= options->max_age_s)
        return true;
    pd_error_set(err, PD_ERR_NOT_FOUND, "backup %s ended %lld s ago, longer than --max-age %d s",
                 chosen->label, (long long)age, options->max_age_s);
    return pd_error_hint(err, "Take a newer backup, or give a larger --max-age; nothing was written.");
}

bool
pd_restore_choose(PdArena *arena, const PdRestoreOptions *options, PdBackupManifest *chosen, PdError *err)
{
    int64_t time_target = 0;
    uint64_t lsn_target = 0;
    PdBackupList list;
    PdBackupPoint point;
    bool is_point = false;
    if (!check_target(options, &time_target, &lsn_target, err) ||
        !pd_backup_list(arena, options->repo, options->key, &list, err) ||
        (options->target_kind == PD_RESTORE_NAME &&
         !pd_backup_point_read(arena, options->repo, options->target, &point, &is_point, err)))
        return false;
    PdRestoreTargetKind kind =
        is_point ? PD_RESTORE_LSN : options->target_kind; /* a recorded point: its LSN */
    if (is_point)
        lsn_target = point.lsn;
    if (list.count == 0)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "the repository %s holds no complete backup",
                            options->repo);
    for (size_t i = list.count; i-- > 0;)
    {
        const PdBackupManifest *backup = &list.backups[i];
        if (options->label != NULL && strcmp(backup->label, options->label) != 0)
            continue;
        if (!ends_before(backup, kind, time_target, lsn_target))
        {
            if (options->label != NULL || i == 0)
                return too_early(backup, kind, err);
            continue;
        }
        *chosen = *backup;
        return check_age(options, chosen, err);
    }
    pd_error_set(err, PD_ERR_NOT_FOUND, "the repository %s holds no complete backup %s", options->repo,
                 options->label);
    return pd_error_hint(err, "prodata backup list names them.");
}
