/*
 * schedule.c - scheduled backups as values (schedule.h): the job and the
 * record of a last run read strictly with jansson and written in one fixed
 * order, which kind is due, which member runs it. The rule that matters: a
 * kind is due only from what etcd records of its runs, so a new leader
 * after a failover goes on with the schedule where the old one left it.
 */
#include "ha/schedule.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/keys.h"

static const char *const kind_names[] = {"full", "incr", "verify", "none"};

const char *
pd_schedule_kind_name(PdScheduleKind kind)
{
    return kind <= PD_SCHEDULE_NONE ? kind_names[kind] : "none";
}

static bool
kind_of(const char *name, PdScheduleKind *kind)
{
    for (PdScheduleKind k = PD_SCHEDULE_FULL; k < PD_SCHEDULE_NONE; k++)
        if (strcmp(kind_names[k], name) == 0)
        {
            *kind = k;
            return true;
        }
    return false;
}

int
pd_schedule_every_s(const PdClusterConfig *config, PdScheduleKind kind)
{
    switch (kind)
    {
        case PD_SCHEDULE_FULL:
            return config->backup_full_every_s;
        case PD_SCHEDULE_INCR:
            return config->backup_incr_every_s;
        case PD_SCHEDULE_VERIFY:
            return config->backup_verify_every_s;
        case PD_SCHEDULE_NONE:
            break;
    }
    return 0;
}

/* ---- the documents ---------------------------------------------------------------------------------- */

/* The object's fields are exactly names (count of them): none missing, none unknown. */
static bool
has_exactly(json_t *root, const char *const *names, size_t count, const char *what, PdError *err)
{
    if (!json_is_object(root))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not a JSON object", what);
    for (size_t i = 0; i < count; i++)
        if (json_object_get(root, names[i]) == NULL)
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has no field \"%s\"", what, names[i]);
    if (json_object_size(root) != count)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has an unknown field", what);
    return true;
}

static json_t *
load(const char *text, size_t length, const char *what, PdError *err)
{
    if (length > PD_SCHEDULE_DOCUMENT_MAX)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is %zu bytes, at most %d", what, length,
                     PD_SCHEDULE_DOCUMENT_MAX);
        return NULL;
    }
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not JSON: %s", what, json_err.text);
    return root;
}

/* A wall-clock time in ms that arithmetic on it cannot overflow: 0 (none) to the year 2200. */
static bool
is_time(json_int_t ms)
{
    return ms >= 0 && ms <= 7258118400000LL;
}

bool
pd_schedule_job_parse(PdArena *arena, const char *text, size_t length, PdScheduleJob *job, PdError *err)
{
    static const char *const names[] = {"id", "kind", "member", "from_standby", "created_ms", "leader"};
    json_t *root = load(text, length, "the backup job", err);
    if (root == NULL || !has_exactly(root, names, 6, "the backup job", err))
    {
        json_decref(root);
        return false;
    }
    const char *id = NULL, *kind = NULL, *member = NULL, *leader = NULL;
    int from_standby = 0;
    json_int_t created = 0;
    PdScheduleJob parsed = {0};
    bool ok = json_unpack(root, "{s:s, s:s, s:s, s:b, s:I, s:s}", "id", &id, "kind", &kind, "member", &member,
                          "from_standby", &from_standby, "created_ms", &created, "leader", &leader) == 0 &&
              kind_of(kind, &parsed.kind) && pd_keys_check_member(member, NULL) &&
              pd_keys_check_member(leader, NULL) && strlen(id) < 128 && is_time(created);
    if (ok)
    {
        parsed.id = pd_arena_strdup(arena, id);
        parsed.member = pd_arena_strdup(arena, member);
        parsed.leader = pd_arena_strdup(arena, leader);
        parsed.is_from_standby = from_standby != 0;
        parsed.created_ms = (int64_t)created;
    }
    json_decref(root);
    if (!ok)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "the backup job has a field of the wrong type or value");
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    *job = parsed;
    return true;
}

bool
pd_schedule_last_parse(PdArena *arena, const char *text, size_t length, PdScheduleLast *last, PdError *err)
{
    static const char *const names[] = {"time_ms", "member",     "ok",   "exit_code",
                                        "message", "last_ok_ms", "label"};
    json_t *root = load(text, length, "the last backup record", err);
    if (root == NULL || !has_exactly(root, names, 7, "the last backup record", err))
    {
        json_decref(root);
        return false;
    }
    const char *member = NULL, *message = NULL, *label = NULL;
    int ok_flag = 0, exit_code = 0;
    json_int_t time_ms = 0, last_ok_ms = 0;
    bool ok = json_unpack(root, "{s:I, s:s, s:b, s:i, s:s, s:I, s:s}", "time_ms", &time_ms, "member", &member,
                          "ok", &ok_flag, "exit_code", &exit_code, "message", &message, "last_ok_ms",
                          &last_ok_ms, "label", &label) == 0 &&
              pd_keys_check_member(member, NULL) && is_time(time_ms) && is_time(last_ok_ms);
    PdScheduleLast parsed = {.exists = true,
                             .time_ms = (int64_t)time_ms,
                             .is_ok = ok_flag != 0,
                             .exit_code = exit_code,
                             .last_ok_ms = (int64_t)last_ok_ms};
    if (ok)
    {
        parsed.member = pd_arena_strdup(arena, member);
        parsed.message = pd_arena_strdup(arena, message);
        parsed.label = pd_arena_strdup(arena, label);
    }
    json_decref(root);
    if (!ok)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "the last backup record has a field of the wrong type or value");
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    *last = parsed;
    return true;
}

static char *
dump(PdArena *arena, json_t *root, const char *what, PdError *err)
{
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *copy = text != NULL ? pd_arena_strdup(arena, text) : NULL;
    free(text);
    if (copy == NULL)
        pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for %s", what);
    return copy;
}

char *
pd_schedule_job_json(PdArena *arena, const PdScheduleJob *job, PdError *err)
{
    return dump(arena,
                json_pack("{s:s, s:s, s:s, s:b, s:I, s:s}", "id", job->id, "kind",
                          pd_schedule_kind_name(job->kind), "member", job->member, "from_standby",
                          job->is_from_standby, "created_ms", (json_int_t)job->created_ms, "leader",
                          job->leader),
                "the backup job", err);
}

char *
pd_schedule_last_json(PdArena *arena, const PdScheduleLast *last, PdError *err)
{
    return dump(arena,
                json_pack("{s:I, s:s, s:b, s:i, s:s, s:I, s:s}", "time_ms", (json_int_t)last->time_ms,
                          "member", last->member, "ok", last->is_ok, "exit_code", last->exit_code, "message",
                          last->message != NULL ? last->message : "", "last_ok_ms",
                          (json_int_t)last->last_ok_ms, "label", last->label != NULL ? last->label : ""),
                "the last backup record", err);
}

/* ---- the decisions ---------------------------------------------------------------------------------- */

/* Whether a kind with this record and base (the last success it counts from, 0: none) is due. */
static bool
is_due(int64_t every_ms, const PdScheduleLast *last, int64_t base_ms, int64_t now_ms)
{
    if (every_ms <= 0)
        return false;
    if (last->exists && !last->is_ok && last->label != NULL && last->label[0] != '\0')
        return now_ms - last->time_ms >= every_ms; /* stored, then failed (corrupt pages): no quick retry */
    if (last->exists && !last->is_ok)
    {
        int64_t retry = every_ms < PD_SCHEDULE_RETRY_MS_MAX ? every_ms : PD_SCHEDULE_RETRY_MS_MAX;
        return now_ms - last->time_ms >= retry;
    }
    return base_ms == 0 || now_ms - base_ms >= every_ms;
}

PdScheduleKind
pd_schedule_due(const PdClusterConfig *config, const PdScheduleLast last[PD_SCHEDULE_KINDS], int64_t now_ms)
{
    int64_t full_ok = last[PD_SCHEDULE_FULL].last_ok_ms, incr_ok = last[PD_SCHEDULE_INCR].last_ok_ms;
    int64_t newest_ok = full_ok > incr_ok ? full_ok : incr_ok;
    if (is_due((int64_t)config->backup_full_every_s * 1000, &last[PD_SCHEDULE_FULL], full_ok, now_ms))
        return PD_SCHEDULE_FULL;
    /* an incr builds on a full: with fulls scheduled, none before the first succeeded */
    if ((config->backup_full_every_s == 0 || full_ok > 0) &&
        is_due((int64_t)config->backup_incr_every_s * 1000, &last[PD_SCHEDULE_INCR], newest_ok, now_ms))
        return PD_SCHEDULE_INCR;
    if (newest_ok > 0 && is_due((int64_t)config->backup_verify_every_s * 1000, &last[PD_SCHEDULE_VERIFY],
                                last[PD_SCHEDULE_VERIFY].last_ok_ms, now_ms))
        return PD_SCHEDULE_VERIFY;
    return PD_SCHEDULE_NONE;
}

static bool
is_healthy_standby(const PdClusterConfig *config, const PdMemberState *member, int64_t now_ms)
{
    return member->role == PD_MEMBER_ROLE_STANDBY && member->is_streaming &&
           strcmp(member->state, "running") == 0 && member->lag_bytes >= 0 &&
           member->lag_bytes <= config->maximum_lag_on_failover_bytes &&
           now_ms - member->updated_ms <= PD_SCHEDULE_STANDBY_FRESH_MS;
}

const char *
pd_schedule_choose(const PdClusterConfig *config, const PdMemberState *members, size_t count,
                   const char *leader, int64_t now_ms, bool *is_from_standby)
{
    const char *chosen = NULL;
    for (size_t i = 0; !config->is_backup_on_primary && i < count; i++)
        if (strcmp(members[i].name, leader) != 0 && is_healthy_standby(config, &members[i], now_ms) &&
            (chosen == NULL || strcmp(members[i].name, chosen) < 0))
            chosen = members[i].name;
    *is_from_standby = chosen != NULL;
    return chosen != NULL ? chosen : leader;
}

bool
pd_schedule_job_is_stale(const PdScheduleJob *job, const PdMemberState *members, size_t count, int64_t now_ms)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(members[i].name, job->member) == 0)
            return !(members[i].backup_job != NULL && strcmp(members[i].backup_job, job->id) == 0) &&
                   !pd_schedule_job_may_start(job, now_ms);
    return true;
}

bool
pd_schedule_job_may_start(const PdScheduleJob *job, int64_t now_ms)
{
    return now_ms - job->created_ms <= PD_SCHEDULE_JOB_START_MS;
}
