/*
 * schedule.h - backups scheduled by the keepers, as values: the job the
 * leader writes at pd_keys_backup_job (keys.h) for one member to run, the
 * record of a kind's last run at pd_keys_backup_last, and the two decisions
 * the leader takes each tick: which kind is due, and on which member. Nothing
 * here talks to etcd or runs a program (keeper_backup.c does); the cluster
 * configuration's backup_* fields say what is wanted (docs/ha.md, "Scheduled
 * backups").
 *
 *   job:  {"id": "n1-1764489600123", "kind": "full", "member": "n2", "from_standby": true,
 *          "created_ms": 1764489600123, "leader": "n1"}
 *   last: {"time_ms": 1764489660456, "member": "n2", "ok": true, "exit_code": 0, "message": "",
 *          "last_ok_ms": 1764489660456, "label": "20251130-080000F"}
 *
 * Both are read strictly (every field required, unknown ones refused), so a
 * keeper never acts on a job it half understands.
 */
#ifndef PRODATA_HA_SCHEDULE_H
#define PRODATA_HA_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/cluster_config.h"
#include "ha/member.h"
#include "prodata/arena.h"
#include "prodata/error.h"

typedef enum PdScheduleKind
{
    PD_SCHEDULE_FULL = 0, /* prodata backup --type full */
    PD_SCHEDULE_INCR,     /* prodata backup --type incr */
    PD_SCHEDULE_VERIFY,   /* prodata backup verify --restore */
    PD_SCHEDULE_NONE,     /* nothing due */
} PdScheduleKind;

enum
{
    PD_SCHEDULE_KINDS = 3,
    PD_SCHEDULE_RETRY_MS_MAX = 10 * 60 * 1000, /* after a failure: min(interval, this) */
    PD_SCHEDULE_JOB_START_MS = 5 * 60 * 1000,  /* a job its member does not run by then is replaced */
    PD_SCHEDULE_MESSAGE_MAX = 256,             /* bytes of a record's message */
    PD_SCHEDULE_DOCUMENT_MAX = 4096,           /* bytes of a job or a record */
    PD_SCHEDULE_STANDBY_FRESH_MS = 30 * 1000,  /* a standby chosen published its state this recently */
};

typedef struct PdScheduleJob
{
    const char *id; /* "<leader>-<created_ms>": which run a record or a delete is about */
    PdScheduleKind kind;
    const char *member; /* the member that runs it */
    bool is_from_standby;
    int64_t created_ms; /* the leader's wall clock */
    const char *leader;
} PdScheduleJob;

typedef struct PdScheduleLast
{
    bool exists; /* false: no run of the kind recorded (the other fields zero) */
    int64_t time_ms;
    const char *member;
    bool is_ok;
    int exit_code;       /* -1: killed by a signal */
    const char *message; /* "" on success; else the run's last error line (or last line) */
    int64_t last_ok_ms;  /* the last successful run's time (this one when ok); 0: none */
    const char *label;   /* the backup taken ("" unknown, and for verify) */
} PdScheduleLast;

/* "full", "incr", "verify" ("none" for PD_SCHEDULE_NONE). Never NULL. */
const char *pd_schedule_kind_name(PdScheduleKind kind);

/* The configuration's interval for kind, in seconds (0: off). */
int pd_schedule_every_s(const PdClusterConfig *config, PdScheduleKind kind);

/*
 * Parses a job or a record (length bytes), strictly. *job / *last (strings in
 * arena) written only on success. Errors: PD_ERR_INVALID_INPUT (field set),
 * PD_ERR_NO_MEMORY.
 */
bool pd_schedule_job_parse(PdArena *arena, const char *text, size_t length, PdScheduleJob *job, PdError *err);
bool pd_schedule_last_parse(PdArena *arena, const char *text, size_t length, PdScheduleLast *last,
                            PdError *err);

/* One compact JSON line, fields in the order above, in arena. Errors: PD_ERR_NO_MEMORY. */
char *pd_schedule_job_json(PdArena *arena, const PdScheduleJob *job, PdError *err);
char *pd_schedule_last_json(PdArena *arena, const PdScheduleLast *last, PdError *err);

/*
 * The kind due at now_ms (wall clock), full before incr before verify, or
 * PD_SCHEDULE_NONE. A kind is due when its interval is on and: nothing is
 * recorded; or the last run failed min(interval, 10 min) ago; or the last
 * success is an interval old. An incr counts from the last successful full
 * or incr (a full is a newer base); a verify needs a successful backup first.
 */
PdScheduleKind pd_schedule_due(const PdClusterConfig *config, const PdScheduleLast last[PD_SCHEDULE_KINDS],
                               int64_t now_ms);

/*
 * The member to run a job: with backup_on "standby", the first by name of
 * the streaming standbys in members (live keys) whose state is "running",
 * lag known and within maximum_lag_on_failover_bytes, published within
 * PD_SCHEDULE_STANDBY_FRESH_MS (*is_from_standby true); else leader (the
 * primary). Owned by members or leader.
 */
const char *pd_schedule_choose(const PdClusterConfig *config, const PdMemberState *members, size_t count,
                               const char *leader, int64_t now_ms, bool *is_from_standby);

/*
 * Whether a job is to be replaced: its member has no live key in members, or the member does not publish
 * it as the job it runs (backup_job) and it was written more than PD_SCHEDULE_JOB_START_MS ago. A job
 * its member runs is never stale, however long it takes.
 */
bool pd_schedule_job_is_stale(const PdScheduleJob *job, const PdMemberState *members, size_t count,
                              int64_t now_ms);

/* Whether a member that has not started job may still start it (written PD_SCHEDULE_JOB_START_MS ago at
 * most, by the member's clock): an older one is the leader's to replace. */
bool pd_schedule_job_may_start(const PdScheduleJob *job, int64_t now_ms);

#endif
